#!/bin/bash
# scep-admin status [--json] through the real programs: CA and CRL expiry, the records in
# each state, the last issue time and the audit chain, as monitoring polls them; exit 1
# with the problem named when the CA expires soon, the CRL is missing or stale, or the
# audit chain is broken.
# Prints one PASS/FAIL line per check and "status: N passed, M failed".
set -u
SUITE=status
. "$(dirname "$0")/lib.sh"
MKCA_TITLE="Status Test CA"
# js EXPR: EXPR (python, over d) of `status --json`.
js() {
	"$ADMIN" -c "$C" status --json 2>/dev/null | /usr/bin/python3 -c 'import json, sys
d = json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"
}

mkca st "ScepAutoApproveEnrollment = NO"
out=$("$ADMIN" -c "$C" status); rc=$?
check "a fresh CA: status ok, exit 0" bash -c "[ $rc = 0 ] && grep -qx 'status: ok' <<<'$out'"
na=$(openssl x509 -in "$CA" -noout -enddate | cut -d= -f2)
check "ca_not_after is the CA certificate's notAfter" \
    test "$(js 'd["ca_not_after"]')" = "$(date -u -d "$na" +%Y-%m-%dT%H:%M:%SZ)"
nu=$(openssl crl -in "$R/crl.pem" -noout -nextupdate | cut -d= -f2)
check "crl_next_update is the CRL's nextUpdate" \
    test "$(js 'd["crl_next_update"]')" = "$(date -u -d "$nu" +%Y-%m-%dT%H:%M:%SZ)"
check "no certificate yet: last_issue null" test "$(js 'd["last_issue"]')" = None
enroll one secret123
enroll two secret123
"$ADMIN" -c "$C" approve "$(idof one)" >/dev/null
"$ADMIN" -c "$C" issue >/dev/null
check "counts per state: 1 pending, 1 issued" test "$(js '(d["pending"], d["issued"], d["approved"], d["rejected"])')" = "(1, 1, 0, 0)"
li=$(js 'd["last_issue"]')
check "last_issue is the time of the issue ($li)" \
    bash -c "[ \$(( \$(date +%s) - \$(date -d '$li' +%s) )) -lt 120 ]"
check "audit_entries and audit_intact" test "$(js '(d["audit_entries"] > 3, d["audit_intact"])')" = "(True, True)"

sed -i '2s/event=/event=x/' "$R/audit.log"
out=$("$ADMIN" -c "$C" status); rc=$?
check "a broken audit chain: exit 1, named" \
    bash -c "[ $rc = 1 ] && grep -q 'problem: the audit chain is broken' <<<'$out'"
mv "$R/crl.pem" "$T/crl.pem"
check "no CRL: named among the problems (json)" \
    test "$(js '"there is no readable CRL" in d["problems"] and d["status"] == "problem"')" = True

MKCA_TITLE="Short CA"
d=$T/short; mkdir -p "$d"
printf 'ScepRepository = %s/repo\nScepChallengePassword = secret123\n' "$d" >"$d/scep.conf"
"$ADMIN" -c "$d/scep.conf" init --subject "/CN=Short CA" --days 10 >/dev/null 2>&1
out=$("$ADMIN" -c "$d/scep.conf" status); rc=$?
check "a CA expiring in 10 days: exit 1, named" \
    bash -c "[ $rc = 1 ] && grep -q 'problem: the CA certificate expires within 30 days' <<<'$out'"

summary
