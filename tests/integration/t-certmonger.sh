#!/bin/bash
# certmonger against a running SCEP server, whatever the shape of its CA:
#   - the standalone helper /usr/lib/certmonger/scep-submit: -c (GetCACaps) and -C
#     (GetCACert, then its message=1,2,... walk): the certificates GetCACert sends
#   - the daemon (certmonger-session on a private dbus-run-session bus, every bit of state
#     in a temp folder): getcert add-scep-ca, with -N ca.pem for a self-signed CA, without
#     for an intermediate CA or an RA (certmonger then takes the root from the GetCACert
#     bundle: checked in getcert list-cas); a request with a wrong challenge is rejected
#     and leaves the repository unchanged; a request WITHOUT challenge waits (record in
#     pending/), scep-admin approve, getcert resubmit -> MONITORING, cert file verified
#   - renewal: getcert resubmit of a tracked certificate (certmonger signs the PKCSReq with
#     the old certificate when GetCACaps lists Renewal): with ScepAutoApprove = YES
#     (IT_AUTO) a new certificate at once; with NO (IT_MANUAL, a second CA in certmonger)
#     pending, scep-admin approve, getcert resubmit -> the new certificate
# certmonger always uses GET for PKIOperation (a ~4 kB URL) and AES-256.
# Run alone: SCEP_URL=... SCEP_CHALLENGE=... SCEP_CONF=... SCEP_REPO=... t-certmonger.sh
# (IT_MANUAL_URL/CONF/REPO: a second server whose renewals wait for approval)
set -u
SUB=/usr/lib/certmonger/scep-submit
SESSION=/usr/lib/certmonger/certmonger-session

# getcert status of request $1
cm_status() { getcert list -s -i "$1" 2>/dev/null | sed -n 's/^[[:space:]]*status: *//p' | head -n 1; }
cm_status_in() { local s; s=$(cm_status "$1"); shift; case " $* " in *" $s "*) return 0 ;; esac; return 1; }

# ------------------------------------------------------------------ inner part
# Run by certmonger-session -c (on the private bus). certmonger clears the environment
# of that command, so the parameters come from a file.
if [ "${1:-}" = "--inner" ]; then
	# shellcheck disable=SC1090
	. "$2"
	. "$(dirname "$0")/lib.sh"
	exec >>"$W/results" 2>>"$W/inner.log"
	echo $$ >"$W/inner.pid"

	it_need_env
	IT_OUT=$W
	it_ca_env "$W"

	# add_ca NAME URL: getcert add-scep-ca, -N ca.pem only for a self-signed CA; then the
	# CA certificate certmonger settled on must be the root of the repository's chain
	add_ca() {
		local n=$1 u=$2 args=() want got
		[ "$IT_SHAPE" = self ] && args=(-N "$IT_CA")
		if getcert add-scep-ca -s -c "$n" -u "$u" "${args[@]}" >&2; then
			pass "getcert add-scep-ca $n${args[*]:+ -N ca.pem} ($IT_SHAPE CA)"
		else
			fail "getcert add-scep-ca $n ($IT_SHAPE CA)"; return 1
		fi
		want=$(openssl x509 -in "$IT_ROOT" -noout -fingerprint -sha1 | sed 's/.*=//; s/://g')
		it_wait 30 cm_ca_thumb_is "$n" "$want"
		got=$(cm_ca_thumb "$n")
		if [ "$got" = "$want" ]; then pass "certmonger CA $n: SCEP CA certificate is the root ($IT_SHAPE CA)"
		else fail "certmonger CA $n: SCEP CA certificate is the root" "got '$got', want '$want'"
			getcert list-cas -s -c "$n" >&2; fi
	}
	cm_ca_thumb() { getcert list-cas -s -c "$1" 2>/dev/null |
		sed -n 's/.*CA certificate thumbprint (SHA1): *//p' | tr -d ' '; }
	cm_ca_thumb_is() { [ "$(cm_ca_thumb "$1")" = "$2" ]; }
	# cm_renewed ID OLD_SERIAL FILE: MONITORING with a certificate other than OLD_SERIAL
	cm_renewed() { cm_status_in "$1" MONITORING && [ -n "$(it_serial "$3")" ] && [ "$(it_serial "$3")" != "$2" ]; }

	if ! add_ca itca "$SCEP_URL"; then echo DONE; exit 0; fi

	# wrong challenge: rejected, nothing written
	it_snapshot >"$W/snap.before"
	getcert request -s -c itca -k "$W/wrong.key" -f "$W/wrong.crt" -N "CN=$CN_WRONG,O=certmonger" \
		-L "wrong-$SCEP_CHALLENGE" -I wrong -R >&2
	it_wait 60 cm_status_in wrong CA_REJECTED NEED_GUIDANCE CA_UNREACHABLE MONITORING
	st=$(cm_status wrong)
	it_snapshot >"$W/snap.after"
	if [ "$st" = CA_REJECTED ]; then pass "certmonger wrong challenge: CA_REJECTED"
	else fail "certmonger wrong challenge: CA_REJECTED" "status $st"; getcert list -s -i wrong >&2; fi
	if cmp -s "$W/snap.before" "$W/snap.after"; then pass "certmonger wrong challenge: repository unchanged"
	else fail "certmonger wrong challenge: repository unchanged"; diff "$W/snap.before" "$W/snap.after" >&2; fi
	getcert stop-tracking -s -i wrong >&2

	# no challenge: pending until approved
	getcert request -s -c itca -k "$W/key.pem" -f "$W/cert.pem" -N "CN=$CN,O=certmonger" \
		-D "$CN.example.test" -I itreq -R >&2
	if it_wait 60 it_has_record pending "$CN"; then
		st=$(cm_status itreq)
		case $st in
		MONITORING | CA_REJECTED | NEED_GUIDANCE | CA_UNREACHABLE)
			fail "certmonger without challenge: request waits" "status $st" ;;
		*) pass "certmonger without challenge: record pending, request waiting ($st)" ;;
		esac
	else
		fail "certmonger without challenge: record pending" "status $(cm_status itreq)"
		getcert list -s -i itreq >&2
	fi
	# let the daemon settle in its waiting state (it polls the server on its own later)
	it_wait 20 cm_status_in itreq CA_WORKING
	getcert list -s -i itreq >&2
	id=$(it_find_record pending "$CN")
	if [ -n "$id" ] && it_admin approve "$id" >&2; then pass "scep-admin approve (certmonger request)"
	else fail "scep-admin approve (certmonger request)" "id='$id'"; fi
	getcert resubmit -s -i itreq >&2
	if it_wait 90 cm_status_in itreq MONITORING; then pass "certmonger after approve + resubmit: MONITORING"
	else fail "certmonger after approve + resubmit: MONITORING" "status $(cm_status itreq)"; fi
	getcert list -s -i itreq >&2
	if it_verify "$W/cert.pem"; then pass "certmonger cert file written, verifies against ca.pem"
	else fail "certmonger cert file written, verifies against ca.pem"; fi
	if openssl x509 -in "$W/cert.pem" -noout -ext subjectAltName 2>/dev/null | grep -q "DNS:$CN.example.test"; then
		pass "certmonger cert carries the requested SAN"
	else
		fail "certmonger cert carries the requested SAN" "$(openssl x509 -in "$W/cert.pem" -noout -ext subjectAltName 2>&1 | tr '\n' ' ')"
	fi
	[ -n "$(it_find_record issued "$CN")" ] && pass "certmonger record is issued" || fail "certmonger record is issued"

	# renewal, auto-approved: resubmit the tracked certificate
	if [ "$IT_AUTO" = main ] && it_verify "$W/cert.pem"; then
		cp "$W/cert.pem" "$W/cert1.pem"; s1=$(it_serial "$W/cert1.pem")
		getcert resubmit -s -i itreq >&2
		if it_wait 90 cm_renewed itreq "$s1" "$W/cert.pem"; then
			pass "certmonger renewal (getcert resubmit, ScepAutoApprove=YES): MONITORING, new certificate"
		else
			fail "certmonger renewal (getcert resubmit, ScepAutoApprove=YES): MONITORING, new certificate" \
				"status $(cm_status itreq)"; getcert list -s -i itreq >&2
		fi
		it_check_renewed "$W/cert1.pem" "$W/cert.pem" "$CN" PKCSReq "certmonger renewal"
	fi
	getcert stop-tracking -s -i itreq >&2

	# renewal waiting for approval, on the second server
	if [ -n "$IT_MANUAL" ] && [ "$IT_MANUAL" != main ]; then
		it_use "$IT_MANUAL"
		if add_ca itman "$SCEP_URL"; then
			getcert request -s -c itman -k "$W/mkey.pem" -f "$W/mcert.pem" -N "CN=$CN_MAN,O=certmonger" \
				-L "$SCEP_CHALLENGE" -I itman -R >&2
			if it_wait 90 cm_status_in itman MONITORING && it_verify "$W/mcert.pem"; then
				pass "certmonger enrollment with challenge: MONITORING, cert verifies"
			else
				fail "certmonger enrollment with challenge: MONITORING" "status $(cm_status itman)"
				getcert list -s -i itman >&2
			fi
			cp "$W/mcert.pem" "$W/mcert1.pem"; s1=$(it_serial "$W/mcert1.pem")
			getcert resubmit -s -i itman >&2
			it_wait 60 it_has_record pending "$CN_MAN"
			mid=$(it_find_record pending "$CN_MAN")
			if [ -n "$mid" ] && it_recs "$CN_MAN" | grep -q "^pending - PKCSReq $s1 "; then
				pass "certmonger renewal (ScepAutoApprove=NO): PKCSReq renewing $s1 pending"
			else
				fail "certmonger renewal (ScepAutoApprove=NO): pending" "$(it_recs "$CN_MAN" | tr '\n' ';')"
			fi
			it_wait 20 cm_status_in itman CA_WORKING
			st=$(cm_status itman)
			case $st in
			CA_WORKING | SUBMITTING) pass "certmonger waits for the approval ($st)" ;;
			*) fail "certmonger waits for the approval" "status $st" ;;
			esac
			if [ -n "$mid" ] && it_admin approve "$mid" >&2; then pass "scep-admin approve (certmonger renewal)"
			else fail "scep-admin approve (certmonger renewal)" "id='$mid'"; fi
			getcert resubmit -s -i itman >&2
			if it_wait 90 cm_renewed itman "$s1" "$W/mcert.pem"; then
				pass "certmonger approved renewal: MONITORING, new certificate"
			else
				fail "certmonger approved renewal: MONITORING, new certificate" "status $(cm_status itman)"
				getcert list -s -i itman >&2
			fi
			it_check_renewed "$W/mcert1.pem" "$W/mcert.pem" "$CN_MAN" PKCSReq "certmonger approved renewal"
			getcert stop-tracking -s -i itman >&2
		fi
		it_use main
	fi
	echo DONE
	exit 0
fi

# ------------------------------------------------------------------ outer part
. "$(dirname "$0")/lib.sh"
it_need_env
it_client_dir certmonger
D=$IT_OUT

# ---- standalone helper
timeout 60 "$SUB" -u "$SCEP_URL" -c >"$D/caps.txt" 2>"$D/caps.log"; rc=$?
if [ "$rc" = 0 ] && grep -qx 'POSTPKIOperation' <(tr -d '\r' <"$D/caps.txt"); then pass "scep-submit -c (GetCACaps): rc 0"
else fail "scep-submit -c (GetCACaps): rc 0" "rc=$rc"; it_show "$D/caps.log"; fi
timeout 60 "$SUB" -u "$SCEP_URL" -C >"$D/cas.pem" 2>"$D/cas.log"; rc=$?
case $IT_SHAPE in self) what="the CA cert" ;; ra) what="[RA, CA]" ;; *) what="[CA, root]" ;; esac
if [ "$rc" = 0 ] && it_certs_equal "$D/cas.pem" "$IT_GETCACERT"; then
	pass "scep-submit -C (GetCACert + message=N walk): rc 0, $what"
else
	fail "scep-submit -C (GetCACert + message=N walk): rc 0, $what" "rc=$rc"; it_show "$D/cas.log"
fi

# ---- the daemon on a private session bus
W=$D/cm
mkdir -p "$W/cas" "$W/requests" "$W/local" "$W/config" "$W/tmp" "$W/home"
: >"$W/results"
{
	for v in SCEP_URL SCEP_CHALLENGE SCEP_CONF SCEP_REPO SCEP_ADMIN SCEP_BIN IT_RUN_USER W PATH \
		IT_MANUAL_URL IT_MANUAL_CONF IT_MANUAL_REPO; do
		printf 'export %s=%q\n' "$v" "${!v:-}"
	done
	printf 'export CN=%q CN_WRONG=%q CN_MAN=%q\n' "$(it_uniq cm-pending)" "$(it_uniq cm-wrong)" "$(it_uniq cm-mrenew)"
	printf 'export IT_PREFIX=%q\n' "$IT_PREFIX"
} >"$W/params"
timeout 300 dbus-run-session -- env HOME="$W/home" \
	CERTMONGER_CAS_DIR="$W/cas" CERTMONGER_REQUESTS_DIR="$W/requests" \
	CERTMONGER_LOCAL_CA_DIR="$W/local" CERTMONGER_CONFIG_DIR="$W/config" \
	CERTMONGER_TMPDIR="$W/tmp" \
	"$SESSION" -s -n -p "$W/certmonger.pid" -c "/bin/bash $(cd "$(dirname "$0")" && pwd)/$(basename "$0") --inner $W/params" \
	>"$W/session.log" 2>&1 </dev/null &
CMPID=$!
# if this script is stopped: stop the inner script, certmonger and the bus with it
trap 'for f in "$W/inner.pid" "$W/certmonger.pid"; do [ -s "$f" ] && kill -TERM "$(cat "$f")" 2>/dev/null; done; kill -TERM $CMPID 2>/dev/null' EXIT
wait $CMPID
rc=$?
trap - EXIT
while IFS= read -r line; do
	case $line in
	"PASS: "*) IT_PASS=$((IT_PASS + 1)); echo "$line" ;;
	"FAIL: "*) IT_FAIL=$((IT_FAIL + 1)); echo "$line" ;;
	esac
done <"$W/results"
if ! grep -qx DONE "$W/results"; then
	fail "certmonger daemon flow completed" "dbus-run-session rc=$rc"
	it_show "$W/session.log" "$W/inner.log"
fi
if grep -q '^FAIL' "$W/results"; then IT_SHOW_LINES=40 it_show "$W/inner.log"; fi

it_summary certmonger
