#!/bin/bash
# tests/corpus/tools/capture.sh: run the Debian SCEP clients against the server behind the
# recorder (recorder.py: plain CGI, keeps every request) and rewrite the client corpus:
#   tests/corpus/<client>/<scenario>-<n>.der     pkiMessage as the client sent it
#   tests/corpus/<client>/<scenario>-<n>.query   the raw QUERY_STRING when it came by GET
#   tests/corpus/<client>/<scenario>.key.pem     client keys (the CertRep decrypts with them)
#   tests/corpus/<client>/<scenario>-old.pem     the certificate a renewal is signed with
#   tests/corpus/crafted/...                     variants made from those messages
#   tests/corpus/replay.tsv                      what replay.sh sends and expects
# The server uses the committed throwaway CA of tests/corpus/ca/ (so replay can decrypt)
# and the configuration replay.sh uses (see conf() there).
#
# Clients (clients.md §2, §3, §5): micromdm scepclient (POST, DES, SHA-1; GET when the caps
# hide POSTPKIOperation), certmonger (daemon on a private session bus: GET only, AES-256),
# strongSwan pki --scep (POST, AES-128; des3/sha1, PSS; CertPoll).
# Scenarios: initial enrollment with the challenge, wrong challenge, pending + approval +
# poll (scepclient and certmonger resend the PKCSReq, strongSwan sends CertPoll), renewal.
#
# Usage: tests/corpus/tools/capture.sh [CLIENT...]   (scepclient certmonger strongswan)
# Needs: make asan, scripts/install-deps (scep, certmonger, strongswan-pki, dbus), python3.
# Takes about 2 minutes (scepclient's fixed 30 s resend interval dominates); CAPTURE_KEEP=1
# keeps the work directory (recorder files, server log). Run as the
# user that owns the checkout; everything listens on 127.0.0.1 only.
set -u
TOP=$(cd "$(dirname "$0")/../../.." && pwd)
CORPUS=$TOP/tests/corpus
TOOLS=$CORPUS/tools
. "$TOP/tests/integration/lib.sh"	# it_free_port, it_wait, it_kill_wait
: "${SCEP_BIN:=$TOP/build/asan/scep}"
if [ -z "${SCEP_ADMIN_BIN:-}" ]; then
	if [ -x "$TOP/build/asan/scep-admin" ]; then SCEP_ADMIN_BIN=$TOP/build/asan/scep-admin
	else SCEP_ADMIN_BIN=$TOP/scep-admin; fi
fi
: "${HOSTILE_BIN:=$TOP/build/hostile}"
CLIENTS=${*:-scepclient certmonger strongswan}
CHAL=corpus-secret

if [ ! -x "$HOSTILE_BIN" ]; then
	mkdir -p "$(dirname "$HOSTILE_BIN")"
	${CC:-cc} -D_GNU_SOURCE -I"$TOP/tests/unit" -O1 -g -o "$HOSTILE_BIN" "$TOP/tests/hostile/hostile.c" \
		-lcrypto || exit 1
fi
W=$(mktemp -d "${TMPDIR:-/tmp}/capture.XXXXXX")
REC=$W/rec
mkdir -p "$REC"
RECPID=""
BG=""
cleanup() {
	[ -n "$BG" ] && it_kill_wait $BG
	[ -n "$RECPID" ] && it_kill_wait "$RECPID"
	if [ -n "${CAPTURE_KEEP:-}" ]; then echo "capture: work files in $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT

# ---------------------------------------------------------------- server + recorder
cat >"$W/scep.conf" <<EOF
; tests/corpus/tools/capture.sh (same policy as tests/corpus/replay.sh)
ScepRepository = $W/repo
ScepChallengePassword = $CHAL
ScepAutoApproveEnrollment = YES
ScepAutoApprove = YES
ScepCertValidityDays = 8000
EOF
"$SCEP_ADMIN_BIN" -c "$W/scep.conf" init --subject "/CN=placeholder" >/dev/null || exit 1
cp "$CORPUS/ca/ca.pem" "$CORPUS/ca/ca.key" "$W/repo/ca/"
chmod 600 "$W/repo/ca/ca.key"
CA=$CORPUS/ca/ca.pem
PORT=$(it_free_port) || exit 1
python3 "$TOOLS/recorder.py" --port "$PORT" --conf "$W/scep.conf" --scep "$SCEP_BIN" \
	--out "$REC" >"$W/recorder.log" 2>&1 &
RECPID=$!
URL=http://127.0.0.1:$PORT/scep
it_wait 10 curl -s -o /dev/null "$URL?operation=GetCACaps" || { echo "recorder did not start"; exit 1; }

admin() { "$SCEP_ADMIN_BIN" -c "$W/scep.conf" "$@"; }
label() { echo "$1" >"$REC/label"; }
# mark LABEL ACTION: ACTION (approve | seed=FILE) happens before the next message of LABEL
mark() {
	local last
	last=$(ls "$REC/$1"/*.req.json 2>/dev/null | tail -n 1)
	last=$(basename "${last:-0000.req.json}" .req.json)
	echo "$last $2" >>"$REC/$1.actions"
}
approve_cn() {	# approve the pending record whose subject mentions CN
	local id
	id=$(admin list --state pending | grep -F -- "$1" | awk '{print $1}' | head -n 1)
	[ -n "$id" ] && admin approve "$id" >/dev/null
}
has_pending() { admin list --state pending | grep -qF -- "$1"; }

# ---------------------------------------------------------------- scepclient
cap_scepclient() {
	local d=$W/sc
	mkdir -p "$d/init" "$d/wrong" "$d/pend" "$d/get"
	label sc-initial
	timeout 60 scepclient -server-url "$URL" -private-key "$d/init/key.pem" -certificate "$d/init/cert.pem" \
		-cn corpus-scepclient -organization Example -challenge "$CHAL" >"$d/init.log" 2>&1
	echo "scepclient initial: rc $?"
	cp "$d/init/cert.pem" "$d/init/old.pem"
	label sc-renewal		# the certificate exists: RenewalReq (17) signed with it
	mark sc-renewal "seed=scepclient/renewal-old.pem"
	timeout 60 scepclient -server-url "$URL" -private-key "$d/init/key.pem" -certificate "$d/init/cert.pem" \
		-cn corpus-scepclient -organization Example >"$d/renew.log" 2>&1
	echo "scepclient renewal: rc $?"
	label sc-wrong
	timeout 60 scepclient -server-url "$URL" -private-key "$d/wrong/key.pem" -certificate "$d/wrong/cert.pem" \
		-cn corpus-scepclient-wrong -organization Example -challenge "not-$CHAL" >"$d/wrong.log" 2>&1
	echo "scepclient wrong challenge: rc $?"
	echo "POSTPKIOperation,SCEPStandard" >"$REC/caps-drop"
	label sc-get			# no POST in the caps: GET with base64url (2.1.0)
	timeout 60 scepclient -server-url "$URL" -private-key "$d/get/key.pem" -certificate "$d/get/cert.pem" \
		-cn corpus-scepclient-get -organization Example -challenge "$CHAL" >"$d/get.log" 2>&1
	echo "scepclient GET: rc $?"
	rm -f "$REC/caps-drop"
	label sc-pending		# no challenge: PENDING, identical resend every 30 s
	scepclient -server-url "$URL" -private-key "$d/pend/key.pem" -certificate "$d/pend/cert.pem" \
		-cn corpus-scepclient-pending -organization Example >"$d/pend.log" 2>&1 &
	BG=$!
	it_wait 30 has_pending corpus-scepclient-pending
	mark sc-pending approve
	approve_cn corpus-scepclient-pending
	for _ in $(seq 90); do kill -0 "$BG" 2>/dev/null || break; sleep 1; done
	wait "$BG"; echo "scepclient pending: rc $?"; BG=""
	KEY_sc_initial=$d/init/key.pem KEY_sc_renewal=$d/init/key.pem OLD_sc_renewal=$d/init/old.pem
	KEY_sc_wrong=$d/wrong/key.pem KEY_sc_get=$d/get/key.pem KEY_sc_pending=$d/pend/key.pem
}

# ---------------------------------------------------------------- strongSwan
cap_strongswan() {
	local d=$W/sw k
	mkdir -p "$d"
	for k in init des3 pss wrong pend renew; do pki --gen --type rsa --size 2048 --outform pem >"$d/$k.key" 2>/dev/null; done
	sw() {	# sw LABEL KEY CN [pki args]
		local l=$1 key=$2 cn=$3; shift 3
		label "$l"
		timeout 120 pki --scep --url "$URL" --in "$d/$key.key" --dn "CN=$cn, O=strongSwan" \
			--cacert-enc "$CA" --cacert-sig "$CA" --cacert "$CA" --outform pem "$@" \
			>"$d/$l.pem" 2>"$d/$l.log"
		echo "strongswan $l: rc $?"
	}
	sw sw-initial init corpus-strongswan --password "$CHAL"
	sw sw-des3 des3 corpus-strongswan-des3 --password "$CHAL" --cipher des3 --digest sha1
	sw sw-pss pss corpus-strongswan-pss --password "$CHAL" --rsa-padding pss --digest sha384
	sw sw-wrong wrong corpus-strongswan-wrong --password "not-$CHAL"
	cp "$d/sw-initial.pem" "$d/old.pem"
	mark sw-renewal "seed=strongswan/renewal-old.pem"
	sw sw-renewal renew corpus-strongswan --cert "$d/old.pem" --key "$d/init.key"
	label sw-pending
	pki --scep --url "$URL" --in "$d/pend.key" --dn "CN=corpus-strongswan-pending, O=strongSwan" \
		--cacert-enc "$CA" --cacert-sig "$CA" --cacert "$CA" --interval 2 --maxpolltime 60 \
		--outform pem >"$d/sw-pending.pem" 2>"$d/sw-pending.log" &
	BG=$!
	it_wait 30 has_pending corpus-strongswan-pending
	sleep 3		# one CertPoll while pending
	mark sw-pending approve
	approve_cn corpus-strongswan-pending
	for _ in $(seq 60); do kill -0 "$BG" 2>/dev/null || break; sleep 1; done
	wait "$BG"; echo "strongswan pending: rc $?"; BG=""
	KEY_sw_initial=$d/init.key KEY_sw_des3=$d/des3.key KEY_sw_pss=$d/pss.key KEY_sw_wrong=$d/wrong.key
	KEY_sw_renewal="$d/init.key $d/renew.key" OLD_sw_renewal=$d/old.pem KEY_sw_pending=$d/pend.key
}

# ---------------------------------------------------------------- certmonger
if [ "${1:-}" = "--certmonger-inner" ]; then
	# run by certmonger-session -c on the private bus; parameters come from a file
	. "$2"
	exec >>"$W/cm/inner.log" 2>&1
	st() { getcert list -s -i "$1" | sed -n 's/^[[:space:]]*status: *//p' | head -n 1; }
	st_in() { local s; s=$(st "$1"); shift; case " $* " in *" $s "*) return 0 ;; esac; return 1; }
	getcert add-scep-ca -s -c corpus -u "$URL" -N "$CA" || { echo "add-scep-ca failed"; exit 0; }
	echo cm-initial >"$REC/label"
	getcert request -s -c corpus -k "$W/cm/init.key" -f "$W/cm/init.pem" \
		-N "CN=corpus-certmonger,O=certmonger" -L "$CHAL" -I init
	it_wait 60 st_in init MONITORING CA_REJECTED NEED_GUIDANCE CA_UNREACHABLE; echo "init: $(st init)"
	echo cm-wrong >"$REC/label"
	getcert request -s -c corpus -k "$W/cm/wrong.key" -f "$W/cm/wrong.pem" \
		-N "CN=corpus-certmonger-wrong,O=certmonger" -L "not-$CHAL" -I wrong
	it_wait 60 st_in wrong MONITORING CA_REJECTED NEED_GUIDANCE CA_UNREACHABLE; echo "wrong: $(st wrong)"
	getcert stop-tracking -s -i wrong
	echo cm-pending >"$REC/label"
	getcert request -s -c corpus -k "$W/cm/pend.key" -f "$W/cm/pend.pem" \
		-N "CN=corpus-certmonger-pending,O=certmonger" -D corpus-certmonger.example.test -I pend
	it_wait 60 has_pending corpus-certmonger-pending
	it_wait 20 st_in pend CA_WORKING
	mark cm-pending approve
	approve_cn corpus-certmonger-pending
	getcert resubmit -s -i pend
	it_wait 90 st_in pend MONITORING; echo "pending: $(st pend)"
	getcert stop-tracking -s -i pend
	cp "$W/cm/init.pem" "$W/cm/old.pem"
	echo cm-renewal >"$REC/label"
	mark cm-renewal "seed=certmonger/renewal-old.pem"
	getcert resubmit -s -i init
	sleep 2
	it_wait 90 st_in init MONITORING CA_REJECTED NEED_GUIDANCE CA_UNREACHABLE; echo "renewal: $(st init)"
	getcert stop-tracking -s -i init
	echo DONE
	exit 0
fi
cap_certmonger() {
	mkdir -p "$W/cm"/{cas,requests,local,config,tmp,home}
	{
		for v in URL CA CHAL W REC SCEP_ADMIN_BIN PATH; do printf 'export %s=%q\n' "$v" "${!v}"; done
		declare -f admin label mark approve_cn has_pending it_wait
	} >"$W/cm/params"
	timeout 400 dbus-run-session -- env HOME="$W/cm/home" \
		CERTMONGER_CAS_DIR="$W/cm/cas" CERTMONGER_REQUESTS_DIR="$W/cm/requests" \
		CERTMONGER_LOCAL_CA_DIR="$W/cm/local" CERTMONGER_CONFIG_DIR="$W/cm/config" \
		CERTMONGER_TMPDIR="$W/cm/tmp" \
		/usr/lib/certmonger/certmonger-session -s -n \
		-c "/bin/bash $TOOLS/capture.sh --certmonger-inner $W/cm/params" >"$W/cm/session.log" 2>&1
	grep -E '^(init|wrong|pending|renewal):|DONE|failed' "$W/cm/inner.log" | sed 's/^/certmonger /'
	KEY_cm_initial=$W/cm/init.key KEY_cm_wrong=$W/cm/wrong.key KEY_cm_pending=$W/cm/pend.key
	KEY_cm_renewal="$W/cm/init.key $(ls "$W"/cm/init.key* 2>/dev/null | tr '\n' ' ')" OLD_cm_renewal=$W/cm/old.pem
}

for c in $CLIENTS; do "cap_$c"; done
label unlabelled

# ---------------------------------------------------------------- curation
# Expected answer of a stored response: SUCCESS | PENDING | FAILURE/<failInfo> | HTTP-<code>
status_of() {
	local st
	st=$("$HOSTILE_BIN" split "$1" "$W/h" "$W/b")
	if [ "$st" != 200 ]; then echo "HTTP-$st"; return; fi
	openssl cms -cmsout -print -inform DER -in "$W/b" 2>/dev/null | awk '
		/object:/ { cur = $0 }
		/PRINTABLESTRING:/ && cur ~ /1\.9\.3\)/ { sub(/.*PRINTABLESTRING:/, ""); s = $0 }
		/PRINTABLESTRING:/ && cur ~ /1\.9\.4\)/ { sub(/.*PRINTABLESTRING:/, ""); f = $0 }
		END {
			split("badAlg badMessageCheck badRequest badTime badCertId", n, " ")
			if (s == "0") print "SUCCESS"; else if (s == "3") print "PENDING"
			else if (s == "2") print "FAILURE/" n[f + 1]; else print "?"
		}'
}
pubkey_of() { openssl pkey -in "$1" -pubout 2>/dev/null || openssl x509 -in "$1" -noout -pubkey 2>/dev/null; }

TSV=$CORPUS/replay.tsv
NEW=$W/replay.tsv
{
	echo "# tests/corpus/replay.tsv: written by tests/corpus/tools/capture.sh (crafted-* by craft.sh)."
	echo "# group: one fresh repository (copy of tests/corpus/ca) per group, steps in order"
	echo "# method/file: POST sends the .der as body; GET sends the .query as QUERY_STRING"
	echo "# before: - | approve (every pending record) | seed=FILE (put that issued certificate"
	echo "#         on record: certs/<SERIAL>.pem, serial counter past it) before this step"
	echo "# expect: SUCCESS | PENDING | FAILURE/<failInfo> | HTTP-<status>, as answered when captured"
	echo "# key: the client key the SUCCESS payload decrypts with (relative to tests/corpus)"
	printf 'group\tstep\tmethod\tfile\tbefore\texpect\tkey\n'
} >"$NEW"
for dir in "$REC"/*/; do
	l=$(basename "$dir")
	case $l in sc-*) client=scepclient ;; sw-*) client=strongswan ;; cm-*) client=certmonger ;; *) continue ;; esac
	scen=${l#*-}
	mkdir -p "$CORPUS/$client"
	rm -f "$CORPUS/$client/$scen"-*.der "$CORPUS/$client/$scen"-*.query
	kv=KEY_${l//-/_}; ov=OLD_${l//-/_}
	if [ -n "${!ov:-}" ] && [ -s "${!ov}" ]; then cp "${!ov}" "$CORPUS/$client/$scen-old.pem"; fi
	n=0; applied=""
	for m in "$dir"/*.pkimsg; do
		[ -s "$m" ] || continue
		seq=$(basename "$m" .pkimsg)
		n=$((n + 1))
		name=$scen-$n
		cp "$m" "$CORPUS/$client/$name.der"
		method=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["method"])' "$dir/$seq.req.json")
		file=$client/$name.der
		if [ "$method" = GET ]; then
			python3 -c 'import json,sys; sys.stdout.write(json.load(open(sys.argv[1]))["query"])' \
				"$dir/$seq.req.json" >"$CORPUS/$client/$name.query"
			file=$client/$name.query
		fi
		before=-
		if [ -f "$REC/$l.actions" ]; then
			while read -r after act; do
				case " $applied " in *" $after:$act "*) continue ;; esac
				if [ "$seq" \> "$after" ]; then before=$act; applied="$applied $after:$act"; break; fi
			done <"$REC/$l.actions"
		fi
		expect=$(status_of "$dir/$seq.resp")
		# the key whose certificate signed the request (the reply is encrypted to it)
		"$HOSTILE_BIN" reqinfo "$m" "$W/ri" >/dev/null
		key=-
		for k in ${!kv:-}; do
			if [ -s "$k" ] && [ "$(pubkey_of "$k")" = "$(pubkey_of "$W/ri.signer")" ]; then
				cp "$k" "$CORPUS/$client/$scen.key.pem"; key=$client/$scen.key.pem; break
			fi
		done
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$client-$scen" "$n" "$method" "$file" "$before" "$expect" "$key" >>"$NEW"
	done
done
# keep the rows of clients not captured this time (crafted rows are remade below)
if [ -f "$TSV" ]; then
	grep -v '^#\|^group' "$TSV" | while IFS= read -r row; do
		g=${row%%$'\t'*}
		case " $CLIENTS crafted " in *" ${g%%-*} "*) ;; *) printf '%s\n' "$row" ;; esac
	done >>"$NEW"
fi
cp "$NEW" "$TSV"
HOSTILE_BIN=$HOSTILE_BIN "$TOOLS/craft.sh"
echo "capture: $(grep -vc '^#\|^group' "$TSV") replay rows in ${TSV#"$TOP"/}"
# cross-check: what the server stored as a record's request is what the recorder saw
bad=0
for r in "$W"/repo/{pending,approved,issued,rejected}/*; do
	[ -f "$r" ] || continue
	sed -n 's/^request=//p' "$r" | base64 -d >"$W/stored.der" 2>/dev/null || continue
	found=0
	for m in "$REC"/*/*.pkimsg; do cmp -s "$W/stored.der" "$m" && found=1 && break; done
	[ "$found" = 1 ] || { echo "capture: stored ${r#"$W"/} not among the recorded messages"; bad=1; }
done
rm -f "$W/stored.der"
[ "$bad" = 0 ] && echo "capture: every stored request is among the recorded messages"
