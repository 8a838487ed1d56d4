#!/bin/bash
# A running worker pool (`scep --workers 2` behind nginx) picks up a changed CA without a
# restart (ca/epoch, ca_changed() in src/ca.c, reload_ca() in src/server.c):
#   - `scep-admin rollover prepare`: GetNextCACert answers and GetCACaps lists it;
#   - `scep-admin rollover switch`: GetCACert is the new CA (every worker), an enrollment
#     is issued by the new CA (openssl verify), GetCRL for the new CA returns its CRL,
#     and the workers are the same processes as before;
#   - a change that does not load (an interrupted switch: ca/switching) keeps the CA in
#     use, logged once per worker, not once per request; finishing it is picked up.
# Prints PASS/FAIL lines and "reload: N passed, M failed". Work files in tests/out/reload.*,
# removed when all passed (kept on failure or with IT_KEEP=1).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../load/common.sh"
la_timeout "${RELOAD_TIMEOUT:-600}" "$0" "$@"
W=2

la_init reload
la_prereq nginx spawn-fcgi openssl setpriv curl "$SCEP_BIN" "$SCEP_ADMIN" "$SCEPREQ"
echo "reload: $SCEP_BIN --workers $W; work dir $IT_DIR"
chal="reload-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
it_make_repo "$IT_DIR/ca" "$chal" YES || { fail "setup: repository + CA"; exit 1; }
it_start_pool "$SCEP_CONF" "$W" && it_start_nginx "$SCEP_CONF" ||
	{ fail "setup: pool + nginx"; exit 1; }
SUP=$IT_POOL_PID
LOG=$IT_FCGI_LOGS
URL=$IT_URL
T=$IT_DIR/t
mkdir -p "$T"
workers() { it_children "$SUP" | sort -n | tr '\n' ' '; }

# GetCACert is the certificate in PEM file CERT in each of 8 requests (both workers).
cacert_is() {
	local i
	for i in 1 2 3 4 5 6 7 8; do
		curl -s --max-time 30 "$URL?operation=GetCACert" | cmp -s - <(der_of "$1") || return 1
	done
}
http_code() { curl -s -o /dev/null -w '%{http_code}' --max-time 30 "$URL?operation=$1"; }
# all_codes OP: the HTTP codes of 8 requests for OP, sorted and counted
all_codes() { for _ in 1 2 3 4 5 6 7 8; do http_code "$1"; echo; done | sort | uniq -c | tr -s ' \n' ' '; }

cp "$SCEP_REPO/ca/ca.pem" "$T/ca1.pem"
la_req gk "$URL" "$T/ca1.pem" "$T/gk.key" -n reload-client -x "GK-$$" -p "$chal"
[ "$STATUS" = 0 ] && openssl verify -CAfile "$T/ca1.pem" "$T/gk.crt" >/dev/null 2>&1 &&
	pass "before the rollover: an enrollment is issued by the first CA" ||
	fail "before the rollover: an enrollment is issued by the first CA" "HTTP $HTTP, status $STATUS"
before=$(workers)
c=$(all_codes GetNextCACert)
[ "$c" = " 8 404 " ] && pass "before prepare: GetNextCACert is 404" ||
	fail "before prepare: GetNextCACert is 404" "$c"

la_admin rollover prepare --subject "/CN=Reload Test CA 2/O=Example" >"$T/prepare.out" 2>&1 &&
	pass "scep-admin rollover prepare" ||
	fail "scep-admin rollover prepare" "$(tail -n 2 "$T/prepare.out")"
cp "$SCEP_REPO/ca/next/ca.pem" "$T/next.pem"
c=$(all_codes GetNextCACert)
[ "$c" = " 8 200 " ] && pass "after prepare: the running workers answer GetNextCACert" ||
	fail "after prepare: the running workers answer GetNextCACert" "$c"
curl -s --max-time 30 "$URL?operation=GetNextCACert" >"$T/next.p7"
openssl pkcs7 -inform DER -in "$T/next.p7" -print_certs 2>/dev/null | grep -q "Reload Test CA 2" &&
	pass "after prepare: GetNextCACert holds the prepared CA" ||
	fail "after prepare: GetNextCACert holds the prepared CA"
curl -s --max-time 30 "$URL?operation=GetCACaps" | grep -q GetNextCACert &&
	pass "after prepare: GetCACaps lists GetNextCACert" ||
	fail "after prepare: GetCACaps lists GetNextCACert"

la_admin rollover switch >"$T/switch.out" 2>&1 && pass "scep-admin rollover switch" ||
	fail "scep-admin rollover switch" "$(tail -n 2 "$T/switch.out")"
cacert_is "$T/next.pem" && pass "after the switch: GetCACert from the running workers is the new CA" ||
	fail "after the switch: GetCACert from the running workers is the new CA"
c=$(all_codes GetNextCACert)
[ "$c" = " 8 404 " ] && pass "after the switch: GetNextCACert is 404 again" ||
	fail "after the switch: GetNextCACert is 404 again" "$c"
for i in 1 2 3 4; do
	la_req "r$i" "$URL" "$T/next.pem" "$T/r$i.key" -n "after-switch-$i" -x "R$i-$$" -p "$chal"
	[ "$STATUS" = 0 ] && openssl verify -CAfile "$T/next.pem" "$T/r$i.crt" >/dev/null 2>&1 ||
		break
done
[ "$STATUS" = 0 ] && openssl verify -CAfile "$T/next.pem" "$T/r$i.crt" >/dev/null 2>&1 &&
	pass "after the switch: 4 enrollments are issued by the new CA (openssl verify)" ||
	fail "after the switch: enrollments are issued by the new CA" "request $i: HTTP $HTTP, status $STATUS, failInfo ${FAILINFO:-none}"
la_admin crl >"$T/crl.out" 2>&1 || fail "scep-admin crl" "$(tail -n 2 "$T/crl.out")"
la_req rg "$URL" "$T/next.pem" "$T/gk.key" -x "RG-$$" -t 22 --serial 01 -S "$T/gk.crt" -K "$T/gk.key"
[ "$STATUS" = 0 ] && openssl crl -in "$T/rg.crl" -CAfile "$T/next.pem" -noout 2>/dev/null &&
	pass "after the switch: GetCRL for the new CA returns the new CA's CRL" ||
	fail "after the switch: GetCRL for the new CA returns the new CA's CRL" "HTTP $HTTP, status $STATUS, failInfo ${FAILINFO:-none}"
[ "$(workers)" = "$before" ] && pass "no restart: the same $W workers ($before)" ||
	fail "no restart: the same $W workers" "before: $before, now: $(workers)"

# A change that does not load: the workers keep the CA in use and log it once each.
la_admin rollover prepare --subject "/CN=Reload Test CA 3/O=Example" >"$T/prepare3.out" 2>&1 ||
	fail "scep-admin rollover prepare (third CA)" "$(tail -n 2 "$T/prepare3.out")"
cp "$SCEP_REPO/ca/next/ca.pem" "$T/ca3.pem"
echo 1 >"$SCEP_REPO/ca/switching"
echo broken >"$SCEP_REPO/ca/epoch.new" && mv "$SCEP_REPO/ca/epoch.new" "$SCEP_REPO/ca/epoch"
cacert_is "$T/next.pem" &&
	pass "a change that does not load (ca/switching): the workers keep serving the CA in use" ||
	fail "a change that does not load (ca/switching): the workers keep serving the CA in use"
n=$(grep -c "the CA changed but does not load" "$LOG")
[ "$n" -ge 1 ] && [ "$n" -le "$W" ] &&
	pass "the failed load is logged once per worker, not per request ($n lines after 8 requests)" ||
	fail "the failed load is logged once per worker, not per request" "$n lines"
rm -f "$SCEP_REPO/ca/switching"
la_admin rollover switch >"$T/switch3.out" 2>&1 || fail "scep-admin rollover switch (third CA)" "$(tail -n 2 "$T/switch3.out")"
cacert_is "$T/ca3.pem" && pass "the next change that loads is picked up (third CA)" ||
	fail "the next change that loads is picked up (third CA)"
[ "$(workers)" = "$before" ] && pass "still no restart" || fail "still no restart" "before: $before, now: $(workers)"

la_check_logs "$LOG" "$IT_SERVER_LOGS"
la_stop
if [ "$IT_FAIL" = 0 ] && [ -z "${IT_KEEP:-}" ]; then rm -rf "$IT_DIR"; fi
it_summary reload
