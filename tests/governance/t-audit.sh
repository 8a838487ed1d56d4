#!/bin/bash
# The audit trail through the real programs: the server (run as plain CGI, requests built by
# build/scepreq) and scep-admin write one entry per decision and per administrator action;
# `scep-admin audit` prints them, `audit --verify` proves the chain, and names the line of
# an entry that was modified, removed or reordered.
# Prints one PASS/FAIL line per check and "audit: N passed, M failed".
set -u
SUITE=audit
. "$(dirname "$0")/lib.sh"
MKCA_TITLE="Audit Test CA"

# entry EVENT PATTERN: an audit entry of EVENT whose line also matches the ERE PATTERN.
entry() { "$ADMIN" -c "$C" audit | grep -P "\tevent=$1\t" | grep -Eq "$2"; }
verify_says() {	# verify_says PATTERN: audit --verify exits 1 and says PATTERN
	local out rc
	out=$("$ADMIN" -c "$C" audit --verify 2>&1); rc=$?
	[ "$rc" = 1 ] && grep -Eq "$1" <<<"$out" || { echo "  verify said ($rc): $out"; return 1; }
}
me=$(id -un)

# --- decisions of the server, actions of the administrator ---------------------------
mkca pend "ScepAutoApproveEnrollment = NO"
check "init is audited (command line, user)" entry command "user=$me.*detail=init --subject"
enroll host1 secret123
id1=$(idof host1)
check "a pending request: event=pending with its id, subject and client" \
    entry pending "prog=scep.*id=$id1.*subject=/CN=host1/O=Test.*client=192\.0\.2\.9"
enroll host2 wrong-secret
check "a refused request: event=refused with the failInfo and the reason" \
    entry refused "client=192\.0\.2\.9.*detail=PKCSReq txid=host2: badRequest: the challenge password is wrong"
enroll host3 secret123
id3=$(idof host3)
"$ADMIN" -c "$C" approve "$id1" >/dev/null
check "approve: event=approve, the administrator and the record" \
    entry approve "prog=scep-admin.user=$me.*id=$id1"
"$ADMIN" -c "$C" reject --reason "not ours" "$id3" >/dev/null
check "reject: event=reject with the record and the reason" entry reject "id=$id3.*detail=not ours"
serial=$("$ADMIN" -c "$C" issue "$id1" | awk '{ print $2 }')
check "issue: event=issue with the record and the serial" entry issue "id=$id1.serial=$serial"
"$ADMIN" -c "$C" revoke --reason keyCompromise "$serial" >/dev/null
check "revoke: event=revoke with the serial and reason" entry revoke "serial=$serial.detail=keyCompromise"
check "each command line with its exit status" entry command "detail=revoke --reason keyCompromise $serial \(exit 0\)"
"$ADMIN" -c "$C" approve "$id1" >/dev/null 2>&1
check "a failed command is audited with its exit status" entry command "detail=approve $id1 \(exit 1\)"
"$ADMIN" -c "$C" list >/dev/null
check "read-only commands write nothing" bash -c "! '$ADMIN' -c '$C' audit | grep -q 'detail=list'"
check "seq counts 1, 2, 3... without gaps" \
    bash -c "'$ADMIN' -c '$C' audit | awk -F'\t' '\$1 != \"seq=\" NR { bad = 1 } END { exit bad }'"
out=$("$ADMIN" -c "$C" audit --verify); rc=$?
n=$("$ADMIN" -c "$C" audit | wc -l)
check "audit --verify: exit 0, $n entries, chain intact" \
    bash -c "[ $rc = 0 ] && grep -q '^audit: $n entries, chain intact, head [0-9a-f]\{64\}\$' <<<'$out'"

C1=$C R1=$R
mkca auto "ScepAutoApproveEnrollment = YES"
enroll host4 secret123
id4=$(idof host4)
serial4=$(openssl x509 -in "$R/certs/$(ls "$R/certs" | grep -m1 '\.pem$')" -noout -serial | sed 's/serial=//')
check "auto-approved: event=approved then event=issued with the serial" \
    bash -c "'$ADMIN' -c '$C' audit | grep -P '\tevent=(approved|issued)\t' | grep -c 'id=$id4' | grep -qx 2 &&
        '$ADMIN' -c '$C' audit | grep -qP '\tevent=issued\tid=$id4\tserial=$serial4\t'"

# --- tampering (the first repository's trail) -----------------------------------------
C=$C1 R=$R1 L=$R1/audit.log
cp "$L" "$T/good.log"
sed -i '3s/client=192\.0\.2\.9/client=192.0.2.8/' "$L"
check "a modified entry: verify exits 1 and names line 3" verify_says "line 3 \(seq 3\): modified"
cp "$T/good.log" "$L"; sed -i '2d' "$L"
check "a removed entry: verify names line 2" verify_says "line 2: seq 3 where 2 was expected"
cp "$T/good.log" "$L"
{ sed -n 1p "$T/good.log"; sed -n 3p "$T/good.log"; sed -n 2p "$T/good.log"
  sed -n '4,$p' "$T/good.log"; } >"$L"
check "two entries swapped: verify names line 2" verify_says "line 2: seq 3 where 2 was expected"
cp "$T/good.log" "$L"; printf 'seq=99\tjunk\n' >>"$L"
check "an appended line that is no entry: verify names it" verify_says "line $(wc -l <"$L"): not an audit entry"
cp "$T/good.log" "$L"
check "the untouched log verifies again" bash -c "'$ADMIN' -c '$C' audit --verify >/dev/null"

summary
