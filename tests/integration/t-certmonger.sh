#!/bin/bash
# certmonger against a running SCEP server:
#   - the standalone helper /usr/lib/certmonger/scep-submit: -c (GetCACaps) and -C
#     (GetCACert, then its message=1,2,... walk)
#   - the daemon (certmonger-session on a private dbus-run-session bus, every bit of state
#     in a temp folder): getcert add-scep-ca -N ca.pem; a request with a wrong challenge
#     is rejected and leaves the repository unchanged; a request WITHOUT challenge waits
#     (record in pending/), scep-admin approve, getcert resubmit -> MONITORING, cert
#     file written and verified.
# certmonger always uses GET for PKIOperation (a ~4 kB URL) and AES-256.
# Run alone: SCEP_URL=... SCEP_CHALLENGE=... SCEP_CONF=... SCEP_REPO=... t-certmonger.sh
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

	IT_CA=$SCEP_REPO/ca/ca.pem

	if getcert add-scep-ca -s -c itca -u "$SCEP_URL" -N "$IT_CA" >&2; then pass "getcert add-scep-ca -N ca.pem"
	else fail "getcert add-scep-ca -N ca.pem"; echo DONE; exit 0; fi

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
	getcert stop-tracking -s -i itreq >&2
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
if [ "$rc" = 0 ] &&
	[ "$(openssl x509 -in "$D/cas.pem" -noout -fingerprint -sha256 2>/dev/null)" = \
	  "$(openssl x509 -in "$IT_CA" -noout -fingerprint -sha256)" ]; then
	pass "scep-submit -C (GetCACert + message=N walk): rc 0, the CA cert"
else
	fail "scep-submit -C (GetCACert + message=N walk): rc 0, the CA cert" "rc=$rc"; it_show "$D/cas.log"
fi

# ---- the daemon on a private session bus
W=$D/cm
mkdir -p "$W/cas" "$W/requests" "$W/local" "$W/config" "$W/tmp" "$W/home"
: >"$W/results"
{
	for v in SCEP_URL SCEP_CHALLENGE SCEP_CONF SCEP_REPO SCEP_ADMIN SCEP_BIN IT_RUN_USER W PATH; do
		printf 'export %s=%q\n' "$v" "${!v}"
	done
	printf 'export CN=%q CN_WRONG=%q\n' "$(it_uniq cm-pending)" "$(it_uniq cm-wrong)"
	printf 'export IT_PREFIX=%q\n' "$IT_PREFIX"
} >"$W/params"
timeout 240 dbus-run-session -- env HOME="$W/home" \
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
