#!/bin/bash
# Keeping hosts renewed (README.md): the two client-side recipes, against nginx + the
# server's worker pool on 127.0.0.1, with ScepAutoApprove = YES.
#
# The server issues certificates for a day (the shortest it can): one instance with
# "[role default] Days = 1" gives the hosts their first certificates, a second one on the
# same repository with "Days = 30" renews them for the scep-renew part, so that a renewed
# certificate is outside the renewal window. A third one, "Days = 30" with
# ScepAutoApprove = NO, shows a renewal that waits for scep-admin approve.
#
# 1. certmonger (certmonger-session on a private dbus-run-session bus, all its state in the
#    work directory): getcert add-scep-ca -N ca.pem, getcert request -r -C HOOK, with
#    certmonger.conf's enroll_ttls (the renewal window) = 23 h. certmonger acts on a
#    certificate only once it is 30 minutes old (a compiled-in minimum), so its clock runs
#    two hours ahead (faketime): the 1-day certificate then has 22 h left and is inside
#    the window, and certmonger renews it by itself, without getcert resubmit. Checked:
#    a second certificate with a new serial and the same subject, issued as a renewal of
#    the first, verifying against the CA; the first still valid (the server supersedes
#    nothing); the warning (notify_ttls) and the post-save command; certmonger's next look
#    at the new certificate is hours away; a request made with -R is not renewed.
# 2. scripts/scep-renew with scepclient and with strongSwan, run with the command line of
#    systemd/scep-renew@.service (program and configuration paths pointed here), whose
#    units pass systemd-analyze verify: a certificate inside WINDOW is renewed (RenewalReq
#    signed by it, same key, atomically replaced, owner and mode kept, HOOK run once); the
#    next run does nothing; a server that does not answer, and a renewal the server
#    refuses (a third valid certificate for the subject), exit 1 with the certificate
#    unchanged and no HOOK; a bad configuration exits 2. With ScepAutoApprove = NO the
#    run ends at TIMEOUT with the request pending; after scep-admin approve the next run
#    sends the same request and gets the certificate.
# Afterwards: scep-admin check, no sanitizer report in the server logs.
#
# Prints PASS/FAIL lines and "renewal: N passed, M failed"; work files in tests/out/
# (kept when something failed, or with IT_KEEP=1).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
SESSION=/usr/lib/certmonger/certmonger-session

# ------------------------------------------------------------------ certmonger's side
# Run by certmonger-session -c on the private bus; certmonger clears the environment of
# that command, so the parameters come from a file. Writes what the outer part checks.
if [ "${1:-}" = "--inner" ]; then
	# shellcheck disable=SC1090
	. "$2"
	. "$TOP/tests/integration/lib.sh"
	exec >>"$W/inner.log" 2>&1
	echo $$ >"$W/inner.pid"
	st() { getcert list -s -i "$1" 2>/dev/null | sed -n 's/^[[:space:]]*status: *//p' | head -n 1; }
	issued() { it_recs "$1" | grep -c '^issued '; }
	cm_renewed() { [ "$(st auto)" = MONITORING ] && [ "$(issued "$CN")" -ge 2 ]; }
	norenew_done() { [ "$(st norenew)" = MONITORING ]; }
	# certmonger has looked at request $1's certificate and chosen when to look again
	settled() { grep "Request[0-9]*('$1')" "$W/session.log" | grep 'Will revisit' | tail -n 1 |
		grep -q ' in [0-9]* seconds'; }

	getcert add-scep-ca -s -c scep -u "$URL" -N "$CA"
	echo "add-scep-ca rc=$?" >>"$W/steps"
	getcert request -s -c scep -k "$W/auto.key" -f "$W/auto.pem" -N "CN=$CN,O=Example" \
		-D "$CN.example.test" -L "$CHAL" -I auto -r -C "$HOOK"
	echo "request auto rc=$?" >>"$W/steps"
	getcert request -s -c scep -k "$W/norenew.key" -f "$W/norenew.pem" -N "CN=$CN_NR,O=Example" \
		-L "$CHAL" -I norenew -R
	echo "request norenew rc=$?" >>"$W/steps"
	if it_wait 90 cm_renewed && it_wait 30 norenew_done; then echo "renewed" >>"$W/steps"; fi
	it_wait 30 settled auto
	it_wait 30 settled norenew
	getcert list -s >"$W/list.txt" 2>&1
	getcert list-cas -s -c scep >"$W/cas.txt" 2>&1
	echo DONE >>"$W/steps"
	exit 0
fi

. "$TOP/tests/integration/lib.sh"

for c in nginx scepclient pki getcert dbus-run-session faketime systemd-analyze openssl flock; do
	command -v "$c" >/dev/null || { echo "FAIL: prerequisites: $c missing (scripts/install-deps)"
		echo "renewal: 0 passed, 1 failed"; exit 1; }
done
for b in "$SCEP_BIN" "$SCEP_ADMIN"; do
	[ -x "$b" ] || { echo "FAIL: prerequisites: $b not built (make all asan)"
		echo "renewal: 0 passed, 1 failed"; exit 1; }
done
START=$(date +%s)
it_init renewal
IT_OUT=$IT_DIR	# removed by it_summary when everything passed

# ------------------------------------------------------------------ the server
CHAL="rn-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
if ! it_make_repo "$IT_DIR/ca" "$CHAL" YES self "ScepAutoApprove = YES" "ScepAllowRenewal = YES" \
	"[role default]" "Days = 1"; then
	fail "setup: repository"; it_summary renewal; exit 1
fi
CONF1=$SCEP_CONF CONF30=$IT_DIR/ca/scep-30d.conf CONFM=$IT_DIR/ca/scep-manual.conf
sed 's/^Days = 1$/Days = 30/' "$CONF1" >"$CONF30"
sed 's/^Days = 1$/Days = 30/; s/^ScepAutoApprove = YES$/ScepAutoApprove = NO/' "$CONF1" >"$CONFM"
chmod 644 "$CONF30" "$CONFM"
IT_ALL_LOGS=""
if it_server nginx "$CONF1" srv-1d && URL1=$IT_URL && it_server nginx "$CONF30" srv-30d && URL30=$IT_URL &&
	it_server nginx "$CONFM" srv-manual && URLM=$IT_URL; then
	pass "setup: one repository behind nginx three times: Days = 1 on $URL1, Days = 30 on $URL30, Days = 30 and ScepAutoApprove = NO on $URLM"
else
	fail "setup: nginx + scep --workers"; it_summary renewal; exit 1
fi
it_ca_env "$IT_DIR/cafiles"
CA=$IT_CA

# days_left CERT: days until notAfter, rounded up
days_left() { echo $(( ($(date -d "$(openssl x509 -in "$1" -noout -enddate | sed 's/^notAfter=//')" +%s) - $(date +%s) + 86399) / 86400 )); }
# index.txt state letter of SERIAL
index_state() { awk -F '\t' -v s="$1" '$4 == s { print $1 }' "$SCEP_REPO/index.txt"; }
subj() { openssl x509 -in "$1" -noout -subject -nameopt RFC2253 2>/dev/null; }

# ================================================================== 1. certmonger
W=$IT_DIR/cm
mkdir -p "$W/cas" "$W/requests" "$W/local" "$W/config" "$W/tmp" "$W/home"
: >"$W/steps"
CN=$(it_uniq cm-auto) CN_NR=$(it_uniq cm-norenew)
# the recipe's certmonger.conf, with a window to match 1-day certificates
cat >"$W/config/certmonger.conf" <<EOF
[defaults]
notify_ttls = 82800
enroll_ttls = 82800
notification_method = command
notification_destination = /bin/sh -c 'echo "\$CERTMONGER_NOTIFICATION" >>$W/notify.log'
EOF
{
	for v in SCEP_CONF SCEP_REPO SCEP_ADMIN SCEP_BIN IT_RUN_USER W PATH TOP CN CN_NR CA CHAL; do
		printf 'export %s=%q\n' "$v" "${!v}"
	done
	printf 'export URL=%q HOOK=%q\n' "$URL1" "/bin/sh -c 'date >>$W/hook.log'"
} >"$W/params"
timeout 200 dbus-run-session -- env HOME="$W/home" \
	CERTMONGER_CAS_DIR="$W/cas" CERTMONGER_REQUESTS_DIR="$W/requests" \
	CERTMONGER_LOCAL_CA_DIR="$W/local" CERTMONGER_CONFIG_DIR="$W/config" \
	CERTMONGER_TMPDIR="$W/tmp" \
	faketime -f +2h "$SESSION" -s -n -d 3 -p "$W/certmonger.pid" \
	-c "/bin/bash $HERE/$(basename "$0") --inner $W/params" >"$W/session.log" 2>&1 </dev/null &
CMPID=$!
trap 'for f in "$W/inner.pid" "$W/certmonger.pid"; do [ -s "$f" ] && kill -TERM "$(cat "$f")" 2>/dev/null; done; kill -TERM $CMPID 2>/dev/null; it_stop_all' EXIT
wait $CMPID
trap 'it_stop_all' EXIT
grep -qx DONE "$W/steps" && pass "certmonger session ran (getcert add-scep-ca, request -r, request -R)" ||
	{ fail "certmonger session ran" "$(tr '\n' ' ' <"$W/steps")"; it_show "$W/inner.log" "$W/session.log"; }
grep -qx 'add-scep-ca rc=0' "$W/steps" && pass "getcert add-scep-ca -c scep -u URL -N ca.pem" ||
	fail "getcert add-scep-ca -c scep -u URL -N ca.pem"

# the records of CN: first the enrollment, then certmonger's own renewal of it
recs=$(it_recs "$CN")
s1=$(echo "$recs" | awk '$1 == "issued" && $4 == "-" { print $2; exit }')
s2=$(echo "$recs" | awk -v s="$s1" '$1 == "issued" && $4 == s { print $2; exit }')
if grep -qx renewed "$W/steps" && [ -n "$s1" ] && [ -n "$s2" ] && [ "$(echo "$recs" | wc -l)" = 2 ]; then
	pass "certmonger renewed by itself, no getcert resubmit: serial $s1 (enrollment), then $s2 renewing it"
else
	fail "certmonger renewed by itself" "records: $(echo "$recs" | tr '\n' ';')"
	grep -E "('auto'\)|auto)" "$W/session.log" | grep -E 'moved to state|revisit' | tail -n 20 >&2
fi
old=$SCEP_REPO/certs/$s1.pem
if [ -n "$s2" ] && [ "$(it_serial "$W/auto.pem")" = "$s2" ] && it_verify "$W/auto.pem" &&
	[ "$(subj "$W/auto.pem")" = "$(subj "$old")" ]; then
	pass "certmonger's file holds the new certificate: serial $s2, same subject ($(subj "$old" | sed 's/^subject=//')), verifies against ca.pem"
else
	fail "certmonger's file holds the new certificate, same subject, verifies" "file serial $(it_serial "$W/auto.pem")"
fi
openssl x509 -in "$W/auto.pem" -noout -ext subjectAltName 2>/dev/null | grep -q "DNS:$CN.example.test" &&
	pass "the renewed certificate keeps the requested DNS name" || fail "the renewed certificate keeps the requested DNS name"
if [ -n "$s1" ] && it_verify "$old" && [ "$(index_state "$s1")" = V ] && [ "$(it_valid_for "$CN")" = 2 ]; then
	pass "the renewed certificate $s1 stays valid (index.txt V, verifies): 2 valid certificates for CN=$CN"
else
	fail "the renewed certificate stays valid" "state '$(index_state "$s1")', valid $(it_valid_for "$CN")"
fi
grep -q "auto.pem\" will not be valid after" "$W/notify.log" 2>/dev/null &&
	pass "certmonger warned first (notify_ttls): $(grep -m1 'auto.pem" will not' "$W/notify.log")" ||
	fail "certmonger warned (notify_ttls)" "$(head -c 300 "$W/notify.log" 2>/dev/null)"
n=$(wc -l <"$W/hook.log" 2>/dev/null || echo 0)
[ "$n" = 2 ] && pass "getcert request -C: the post-save command ran for the enrollment and for the renewal" ||
	fail "getcert request -C: the post-save command ran twice" "$n times"
awk '/^Request ID .auto.:/ { r = 1 } /^Request ID .norenew.:/ { r = 0 } r && /auto-renew: yes/ { f = 1 } END { exit !f }' "$W/list.txt" &&
	pass "getcert list: auto-renew: yes (getcert request -r)" || fail "getcert list: auto-renew: yes"
# certmonger's next look at the new certificate: hours away (no renewal loop)
next=$(grep "Request[0-9]*('auto')" "$W/session.log" | sed -n 's/.*Will revisit Request[0-9]*(.auto.) in \([0-9]*\) seconds.*/\1/p' | tail -n 1)
if [ -n "$next" ] && [ "$next" -gt 3600 ]; then
	pass "certmonger looks at the new certificate again in $next s, not at once"
else
	fail "certmonger looks at the new certificate again hours later" "next '$next'"
fi
n=$(it_recs "$CN_NR" | grep -c '^issued ')
if [ "$n" = 1 ] && awk '/^Request ID .norenew.:/ { r = 1 } r && /auto-renew: no/ { f = 1 } END { exit !f }' "$W/list.txt"; then
	pass "getcert request -R: one certificate, not renewed (auto-renew: no)"
else
	fail "getcert request -R: one certificate, not renewed" "$n issued"
fi

# ================================================================== 2. scep-renew
UNIT=$TOP/systemd/scep-renew@.service TIMER=$TOP/systemd/scep-renew@.timer
U=$IT_DIR/units E=$IT_DIR/etc-scep-renew
mkdir -p "$U" "$E"
# the units as installed (program in /usr/local/sbin), the program path pointed here
sed 's|^ExecStart=/usr/local/sbin/scep-renew |ExecStart='"$TOP"'/scripts/scep-renew |' "$UNIT" >"$U/scep-renew@test.service"
cp "$TIMER" "$U/scep-renew@test.timer"
if (cd "$U" && systemd-analyze verify --man=no ./scep-renew@test.service ./scep-renew@test.timer) \
	>"$U/verify.out" 2>&1 && [ ! -s "$U/verify.out" ]; then
	pass "systemd-analyze verify: scep-renew@.service and scep-renew@.timer are clean"
else
	fail "systemd-analyze verify: scep-renew@ units" "$(head -c 600 "$U/verify.out")"
fi
EXEC=$(sed -n 's/^ExecStart=//p' "$UNIT")
# run NAME: the unit's command line for instance NAME, with systemd's PATH and nothing
# else from this environment; output in $E/NAME.out (appended), status in RC
run() {
	local cmd=${EXEC//\/usr\/local\/sbin\/scep-renew/$TOP/scripts/scep-renew}
	cmd=${cmd//\/etc\/scep-renew\//$E/}
	cmd=${cmd//\%i/$1}
	echo "+ $cmd" >>"$E/$1.out"
	# shellcheck disable=SC2086 # the unit's command line, split as systemd splits it
	env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin $cmd >>"$E/$1.out" 2>&1
	RC=$?
}
case $EXEC in
"/usr/local/sbin/scep-renew /etc/scep-renew/%i.conf") pass "ExecStart: $EXEC" ;;
*) fail "ExecStart is /usr/local/sbin/scep-renew /etc/scep-renew/%i.conf" "$EXEC" ;;
esac

# hosts with 1-day certificates, from the Days = 1 instance
H=$IT_DIR/hosts
mkdir -p "$H/sc" "$H/sw" "$H/down" "$H/pending"
cn_sc=$(it_uniq sr-scepclient) cn_sw=$(it_uniq sr-strongswan) cn_p=$(it_uniq sr-pending)
openssl genrsa -traditional -out "$H/sc/key.pem" 2048 2>/dev/null
openssl genrsa -traditional -out "$H/sw/key.pem" 2048 2>/dev/null
openssl genrsa -traditional -out "$H/pending/key.pem" 2048 2>/dev/null
for h in sc:$cn_sc pending:$cn_p; do
	timeout 60 scepclient -server-url "$URL1" -private-key "$H/${h%%:*}/key.pem" \
		-certificate "$H/${h%%:*}/cert.pem" -cn "${h#*:}" -organization Example -challenge "$CHAL" \
		>"$H/${h%%:*}/enroll.log" 2>&1
	rm -f "$H/${h%%:*}/csr.pem"
done
timeout 60 pki --scep --url "$URL1" --in "$H/sw/key.pem" --dn "CN=$cn_sw, O=Example" \
	--san "$cn_sw.example.test" --cacert-enc "$CA" --cacert-sig "$CA" --password "$CHAL" \
	--outform pem >"$H/sw/cert.pem" 2>"$H/sw/enroll.log"
if it_verify "$H/sc/cert.pem" && it_verify "$H/sw/cert.pem" && it_verify "$H/pending/cert.pem" &&
	[ "$(days_left "$H/sc/cert.pem")" = 1 ] && [ "$(days_left "$H/sw/cert.pem")" = 1 ]; then
	pass "hosts enrolled (scepclient, strongSwan): certificates for 1 day"
else
	fail "hosts enrolled with 1-day certificates"; it_show "$H/sc/enroll.log" "$H/sw/enroll.log"
fi
chmod 640 "$H/sc/cert.pem"
cp -p "$H/sc/cert.pem" "$H/sc/key.pem" "$H/down/"
# conf NAME CERTDIR URL WINDOW [KEY=value...]: $E/NAME.conf (TIMEOUT=60 unless given)
conf() {
	local n=$1 d=$2 u=$3 w=$4 l; shift 4
	{
		echo "# $n: written by tests/renewal/t-renewal.sh"
		echo "URL=$u"; echo "CERT=$d/cert.pem"; echo "KEY=$d/key.pem"; echo "CA=$CA"
		echo "WINDOW=$w"
		case " $* " in *" TIMEOUT="*) ;; *) echo "TIMEOUT=60" ;; esac
		echo "HOOK=echo \"\$SCEP_RENEW_SERIAL\" >>$d/hook.log"
		for l in "$@"; do echo "$l"; done
	} >"$E/$n.conf"
}
conf host-sc "$H/sc" "$URL30" 2d CLIENT=scepclient
conf host-sw "$H/sw" "$URL30" 2d CLIENT=strongswan
conf host-down "$H/down" "http://127.0.0.1:$(it_free_port)/scep" 2d
conf host-third "$H/sc" "$URL30" 31d
conf host-pending "$H/pending" "$URLM" 2d TIMEOUT=8

# renewed HOST CN MSGTYPE: run the unit for HOST (certificate inside WINDOW) and check
renewed() {
	local h=$1 cn=$2 mt=$3 d=$H/${1#host-} s1 s2 mode
	cp "$d/cert.pem" "$d/first.pem"; s1=$(it_serial "$d/first.pem"); mode=$(stat -c %a "$d/cert.pem")
	cp "$d/key.pem" "$d/key.before"
	run "$h"
	s2=$(it_serial "$d/cert.pem")
	if [ "$RC" = 0 ] && grep -q "renewed: serial $s1 -> $s2" "$E/$h.out" && [ "$s1" != "$s2" ]; then
		pass "scep-renew@$h: inside WINDOW=2d, renewed: serial $s1 -> $s2, exit 0"
	else
		fail "scep-renew@$h: renewed, exit 0" "rc=$RC"; it_show "$E/$h.out"
	fi
	if it_verify "$d/cert.pem" && [ "$(subj "$d/cert.pem")" = "$(subj "$d/first.pem")" ] &&
		cmp -s "$d/key.pem" "$d/key.before" && [ "$(days_left "$d/cert.pem")" -ge 29 ]; then
		pass "scep-renew@$h: new certificate verifies, same subject and key, $(days_left "$d/cert.pem") days"
	else
		fail "scep-renew@$h: new certificate verifies, same subject and key, 30 days"
	fi
	if it_recs "$cn" | grep -q "^issued $s2 $mt $s1 " && it_verify "$d/first.pem" &&
		[ "$(index_state "$s1")" = V ]; then
		pass "scep-renew@$h: issued as $mt renewing $s1, which stays valid"
	else
		fail "scep-renew@$h: issued as $mt renewing $s1" "$(it_recs "$cn" | tr '\n' ';')"
	fi
	if [ "$(cat "$d/hook.log" 2>/dev/null)" = "$s2" ] && [ "$(stat -c %a "$d/cert.pem")" = "$mode" ] &&
		[ "$(ls -A "$d" | grep -c '^\.')" = 0 ]; then
		pass "scep-renew@$h: HOOK ran once (SCEP_RENEW_SERIAL=$s2), mode $mode kept, no temporary file left"
	else
		fail "scep-renew@$h: HOOK once, mode kept, no temporary file" "hook '$(tr '\n' ' ' <"$d/hook.log" 2>/dev/null)' mode $(stat -c %a "$d/cert.pem") files $(ls -A "$d" | tr '\n' ' ')"
	fi
	# the next run: outside the window, nothing happens
	cp "$d/cert.pem" "$d/second.pem"
	it_cn_state "$cn" >"$d/state.before"
	run "$h"
	it_cn_state "$cn" >"$d/state.after"
	if [ "$RC" = 0 ] && tail -n 1 "$E/$h.out" | grep -q 'not within 2d: nothing to do' &&
		cmp -s "$d/cert.pem" "$d/second.pem" && cmp -s "$d/state.before" "$d/state.after" &&
		[ "$(wc -l <"$d/hook.log")" = 1 ]; then
		pass "scep-renew@$h again: outside WINDOW, nothing to do, exit 0, no request, no HOOK"
	else
		fail "scep-renew@$h again: nothing to do" "rc=$RC"; it_show "$E/$h.out"
	fi
}

# the server does not answer: exit 1, nothing changed
cp "$H/down/cert.pem" "$H/down/first.pem"
run host-down
if [ "$RC" = 1 ] && cmp -s "$H/down/cert.pem" "$H/down/first.pem" && [ ! -e "$H/down/hook.log" ] &&
	[ "$(ls -A "$H/down" | grep -c '^\.')" = 0 ] && grep -q 'unchanged' "$E/host-down.out"; then
	pass "scep-renew@host-down (no server): exit 1, certificate unchanged, no HOOK: $(grep -m1 'unchanged' "$E/host-down.out")"
else
	fail "scep-renew@host-down: exit 1, certificate unchanged" "rc=$RC"; it_show "$E/host-down.out"
fi
env -i PATH=/usr/bin:/bin "$TOP/scripts/scep-renew" -n "$E/host-down.conf" >"$E/dry.out" 2>&1
grep -q 'within 2d: due' "$E/dry.out" && pass "scep-renew -n: $(cat "$E/dry.out")" || fail "scep-renew -n" "$(cat "$E/dry.out")"

renewed host-sc "$cn_sc" RenewalReq
renewed host-sw "$cn_sw" RenewalReq
openssl x509 -in "$H/sw/cert.pem" -noout -ext subjectAltName 2>/dev/null | grep -q "DNS:$cn_sw.example.test" &&
	pass "scep-renew@host-sw: the DNS name is kept (--san)" || fail "scep-renew@host-sw: the DNS name is kept"

# WINDOW wider than the new certificate's life: the server refuses a third valid certificate
cp "$H/sc/cert.pem" "$H/sc/second.pem"
it_cn_state "$cn_sc" >"$H/sc/state.before"
run host-third
it_cn_state "$cn_sc" >"$H/sc/state.after"
if [ "$RC" = 1 ] && grep -q 'badRequest' "$E/host-third.out" && cmp -s "$H/sc/cert.pem" "$H/sc/second.pem" &&
	cmp -s "$H/sc/state.before" "$H/sc/state.after" && [ "$(wc -l <"$H/sc/hook.log")" = 1 ]; then
	pass "scep-renew@host-third (WINDOW=31d): a third valid certificate refused (badRequest), exit 1, unchanged, no HOOK"
else
	fail "scep-renew@host-third: refused, exit 1, unchanged" "rc=$RC"; it_show "$E/host-third.out"
fi

# ScepAutoApprove = NO: the run ends at TIMEOUT with the renewal pending; once approved,
# the next run sends the same request (same transactionID) and collects the certificate
d=$H/pending
cp "$d/cert.pem" "$d/first.pem"; ps1=$(it_serial "$d/first.pem")
run host-pending
pid=$(it_find_record pending "$cn_p")
if [ "$RC" = 1 ] && grep -q 'did not finish within TIMEOUT' "$E/host-pending.out" && cmp -s "$d/cert.pem" "$d/first.pem" &&
	[ ! -e "$d/hook.log" ] && [ -n "$pid" ] && it_recs "$cn_p" | grep -q "^pending - RenewalReq $ps1 "; then
	pass "scep-renew@host-pending (ScepAutoApprove = NO): RenewalReq of $ps1 pending, exit 1 at TIMEOUT, certificate unchanged"
else
	fail "scep-renew@host-pending: pending, exit 1 at TIMEOUT, unchanged" "rc=$RC $(it_recs "$cn_p" | tr '\n' ';')"
	it_show "$E/host-pending.out"
fi
if [ -n "$pid" ] && it_admin approve "$pid" >"$d/approve.log" 2>&1; then pass "scep-admin approve $pid"
else fail "scep-admin approve (the pending renewal)" "id '$pid'"; it_show "$d/approve.log"; fi
run host-pending
ps2=$(it_serial "$d/cert.pem")
if [ "$RC" = 0 ] && [ "$ps2" != "$ps1" ] && it_verify "$d/cert.pem" && [ "$(cat "$d/hook.log" 2>/dev/null)" = "$ps2" ] &&
	[ "$(it_recs "$cn_p" | wc -l)" = 2 ] && it_recs "$cn_p" | grep -q "^issued $ps2 RenewalReq $ps1 "; then
	pass "scep-renew@host-pending after approval: the same request collects serial $ps2, HOOK ran, no second request"
else
	fail "scep-renew@host-pending after approval: renewed" "rc=$RC $(it_recs "$cn_p" | tr '\n' ';')"
	it_show "$E/host-pending.out"
fi

# a configuration error is exit 2
printf 'URL=%s\nCERTIFICATE=%s\n' "$URL30" "$H/sc/cert.pem" >"$E/host-bad.conf"
run host-bad
[ "$RC" = 2 ] && grep -q "unknown key 'CERTIFICATE'" "$E/host-bad.out" &&
	pass "scep-renew@host-bad: $(grep -m1 unknown "$E/host-bad.out"), exit 2" || fail "scep-renew@host-bad: exit 2" "rc=$RC"

# ================================================================== the server afterwards
if it_admin check >"$IT_DIR/check.txt" 2>&1; then pass "scep-admin check: repository consistent"
else fail "scep-admin check: repository consistent" "$(head -n 3 "$IT_DIR/check.txt" | tr '\n' ' ')"; fi
# shellcheck disable=SC2086
if it_check_sanitizer_logs $IT_ALL_LOGS 2>"$IT_DIR/sanitizer.txt"; then pass "no sanitizer report in the server logs"
else fail "no sanitizer report in the server logs" "$(head -c 400 "$IT_DIR/sanitizer.txt")"; fi

it_stop_all
echo "renewal: $(( $(date +%s) - START )) s"
it_summary renewal
