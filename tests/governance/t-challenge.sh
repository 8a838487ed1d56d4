#!/bin/bash
# ScepChallengeCommand through the real programs: the server (plain CGI, requests built by
# build/scepreq) asks an external program (what an MDM hands per-device challenges with)
# whether the challenge of an initial request is valid. Exit 0 issues, exit 1 falls back to
# the static and one-time challenges, anything else or the time limit refuses; the
# program gets the CSR's facts in its environment; verdict and timing are in the audit
# trail.
# Prints one PASS/FAIL line per check and "challenge: N passed, M failed".
set -u
SUITE=challenge
. "$(dirname "$0")/lib.sh"
MKCA_TITLE="Challenge Test CA"

# The MDM stand-in: "mdm-<CN>" is valid for CN (exit 0), "boom" exits 5, "slow" hangs;
# anything else exit 1. It keeps its environment in $T/mdm.<CN>.env.
cat >"$T/mdm-check" <<EOS
#!/bin/sh
cn=\$(printf '%s' "\$SCEP_SUBJECT" | sed -n 's|^/CN=\([^/]*\)/.*|\1|p')
env >"$T/mdm.\$cn.env"
case \$SCEP_CHALLENGE in
"mdm-\$cn") exit 0 ;;
boom) exit 5 ;;
slow) sleep 30 ;;
esac
exit 1
EOS
chmod +x "$T/mdm-check"
audit_has() { "$ADMIN" -c "$C" audit | grep -P "\tevent=challenge-command\t" | grep -Eq "$1"; }
challenge_of() {
	"$ADMIN" -c "$C" list --json | /usr/bin/python3 -c 'import json, sys
print([r["challenge"] for r in json.load(sys.stdin) if r["subject"].startswith("/CN=" + sys.argv[1] + "/")][0])' "$1"
}

mkca mdm "ScepChallengePassword = static-secret" "ScepAutoApproveEnrollment = YES" \
    "ScepChallengeCommand = $T/mdm-check" "ScepChallengeTimeout = 2"
enroll dev1 mdm-dev1
check "the program says valid (exit 0): issued at once" grep -q status=0 "$T/dev1.read"
check "... the record says challenge=command" test "$(challenge_of dev1)" = command
check "... the verdict and its timing are in the audit trail" \
    audit_has "id=$(idof dev1).*detail=PKCSReq txid=dev1: valid: exit 0 in [0-9]+ ms"
f=$T/mdm.dev1.env
check "the program's environment: challenge, subject, transactionID, type, record, client" \
    bash -c "grep -qx SCEP_CHALLENGE=mdm-dev1 '$f' && grep -qx 'SCEP_SUBJECT=/CN=dev1/O=Test' '$f' &&
        grep -qx SCEP_TRANSACTION_ID=dev1 '$f' && grep -qx SCEP_MESSAGE_TYPE=PKCSReq '$f' &&
        grep -qx SCEP_RECORD_ID=$(idof dev1) '$f' && grep -qx SCEP_CLIENT=192.0.2.9 '$f'"
sed -n 's/^SCEP_CSR=//p' "$f" | base64 -d >"$T/dev1.csr.der" 2>/dev/null
check "SCEP_CSR is the CSR (base64 DER): its key is the request's key" \
    bash -c "[ \"\$(openssl req -inform DER -in '$T/dev1.csr.der' -noout -pubkey)\" = \"\$(openssl pkey -in '$T/dev1.key' -pubout)\" ]"
check "SCEP_KEY_SHA256 is the SHA-256 of that key's SubjectPublicKeyInfo" \
    bash -c "[ \"\$(sed -n 's/^SCEP_KEY_SHA256=//p' '$f')\" = \"\$(openssl pkey -in '$T/dev1.key' -pubout -outform DER | sha256sum | cut -d' ' -f1)\" ]"
check "nothing of the server's environment (no HTTP_*, REQUEST_METHOD)" \
    bash -c "! grep -q -e HTTP_X_EVIL -e REQUEST_METHOD '$f'"

enroll dev2 mdm-someone-else
check "the program says not valid (exit 1), nor static nor one-time: FAILURE badRequest" \
    bash -c "grep -q status=2 '$T/dev2.read' && grep -q 'wrong or already used' '$T/dev2.read'"
check "... audited as not valid" audit_has "detail=PKCSReq txid=dev2: not valid: exit 1 in"
check "... and nothing stored" test -z "$(idof dev2)"

enroll dev3 static-secret
how=$(challenge_of dev3)
check "exit 1, but the static challenge: issued (challenge=$how)" \
    bash -c "grep -q status=0 '$T/dev3.read' && [ '$how' = static ]"
otp=$("$ADMIN" -c "$C" challenge 2>/dev/null | head -n 1)
enroll dev4 "$otp"
how=$(challenge_of dev4)
check "exit 1, but a one-time challenge: issued (challenge=$how)" \
    bash -c "grep -q status=0 '$T/dev4.read' && [ '$how' = one-time ]"

enroll dev5 boom
check "the program fails (exit 5): FAILURE, 'could not be checked right now'" \
    bash -c "grep -q status=2 '$T/dev5.read' && grep -q 'could not be checked right now' '$T/dev5.read'"
check "... audited as an error with its status" audit_has "txid=dev5: error: exit 5 in"
enroll dev6 slow
check "the program hangs: killed at ScepChallengeTimeout, FAILURE (${SECS}s)" \
    bash -c "grep -q status=2 '$T/dev6.read' && [ $SECS -lt 15 ]"
check "... audited as killed after the limit" audit_has "txid=dev6: error: killed after [0-9]+ ms \(ScepChallengeTimeout 2 s\)"
check "... and nothing of it is left running" bash -c "! pgrep -f '$T/[m]dm-check' >/dev/null"

mkca nocmd "ScepAutoApproveEnrollment = YES" "ScepChallengeCommand = $T/no-such-mdm"
enroll dev7 secret123
check "a program that cannot run: the static challenge still works" grep -q status=0 "$T/dev7.read"
check "... and the failure is audited" audit_has "txid=dev7: error: .*no-such-mdm: cannot run"

summary
