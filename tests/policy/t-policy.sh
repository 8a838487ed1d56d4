#!/bin/bash
# OpenCA policy keys, renewal, roles, one-time challenges, revocation, GetCert and GetCRL,
# through the real server program run as plain CGI (the same binary that FastCGI runs),
# with requests built by build/scepreq and results checked with the openssl CLI.
# Prints one PASS/FAIL line per check and "policy: N passed, M failed".
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
# The sanitizer builds (SCEP_BIN / SCEP_ADMIN_BIN to test others); never a silent fallback.
SCEP=${SCEP_BIN:-$top/build/asan/scep}
ADMIN=${SCEP_ADMIN_BIN:-$top/build/asan/scep-admin}
REQ=$top/build/scepreq
for b in "$SCEP" "$ADMIN" "$REQ"; do
	[ -x "$b" ] || { echo "FAIL: prerequisites: $b not built (make all asan tools)"
		echo "policy: 0 passed, 1 failed"; exit 1; }
done
T=$(mktemp -d /tmp/scep-policy.XXXXXX)
trap 'rm -rf "$T"' EXIT
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
pass=0; fail=0
ok()   { pass=$((pass + 1)); echo "PASS: $*"; }
bad()  { fail=$((fail + 1)); echo "FAIL: $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }

# mkca NAME [LINES...]: a fresh CA repository (tests/lib/repo.sh)
. "$top/tests/lib/repo.sh"
MKCA_TITLE="Policy Test CA"

# POST a request file as plain CGI.  Usage: post IN.der OUT.der -> sets HTTP
post() {
	local in=$1 out=$2
	REQUEST_METHOD=POST QUERY_STRING=operation=PKIOperation CONTENT_LENGTH=$(stat -c %s "$in") \
	    REMOTE_ADDR=127.0.0.1 SCEP_CONF=$C "$SCEP" <"$in" >"$out.raw" 2>>"$T/server.log"
	HTTP=$(sed -n '1s/^Status: \([0-9]*\).*/\1/p' "$out.raw")
	/usr/bin/python3 -c 'import sys; d=open(sys.argv[1],"rb").read(); i=d.find(b"\r\n\r\n"); open(sys.argv[2],"wb").write(d[i+4:])' "$out.raw" "$out"
}

# Build, send and read one request.  Usage: run NAME KEY [scepreq build args...]
# Sets STATUS (0/2/3), FAILINFO, TEXT; the certificate lands in $T/NAME.crt.
# The reply is decrypted with the signer given by -S/-K, else the self-signed one.
run() {
	local n=$1 key=$2; shift 2
	local signer=$T/$n.self signkey=$key a
	local args=("$@") i
	for ((i = 0; i < ${#args[@]}; i++)); do
		case ${args[i]} in
		-S) signer=${args[i+1]} ;;
		-K) signkey=${args[i+1]} ;;
		esac
	done
	[ -f "$key" ] || openssl genrsa -out "$key" "${BITS:-2048}" 2>/dev/null
	rm -f "$T/$n.crt"
	"$REQ" build -c "$CA" -k "$key" -L "$T/$n.self" -o "$T/$n.req" "$@" || { STATUS=x; return; }
	post "$T/$n.req" "$T/$n.rep"
	a=$("$REQ" read -c "$CA" -k "$signkey" -S "$signer" -w "$T/$n.crt" --crl "$T/$n.crl" \
	    "$T/$n.rep" 2>/dev/null)
	STATUS=$(sed -n 's/.*status=\([-0-9]*\).*/\1/p' <<<"$a")
	FAILINFO=$(sed -n 's/.*failinfo=\([-0-9]*\).*/\1/p' <<<"$a")
	TEXT=$(sed -n 's/.*text=//p' <<<"$a")
	[ -n "$STATUS" ] || STATUS=none
}

# GetCACaps of the current CA: its body in CAPS. Fails unless the answer is a 200 whose body
# lists POSTPKIOperation (always advertised), so that a negative grep over CAPS means
# something.
getcaps() {
	local raw
	raw=$(QUERY_STRING=operation=GetCACaps REQUEST_METHOD=GET SCEP_CONF=$C "$SCEP" 2>>"$T/server.log")
	CAPS=$(printf '%s' "$raw" | tr -d '\r' | sed '1,/^$/d')
	[ "$(printf '%s' "$raw" | sed -n '1s/^Status: \([0-9]*\).*/\1/p')" = 200 ] &&
	    grep -qx POSTPKIOperation <<<"$CAPS"
}
# The list --json record of transactionID TXID: python expression EXPR over it (r).
jsonrec() {
	"$ADMIN" -c "$C" list --json 2>/dev/null | /usr/bin/python3 -c '
import json, sys
recs = [r for r in json.load(sys.stdin) if r.get("transaction_id") == sys.argv[1]]
print(eval(sys.argv[2], {"r": recs[0]}) if len(recs) == 1 else "no single record")' "$1" "$2"
}

snapshot() { (cd "$R" && find . -path ./.lock -prune -o -print | sort && cat index.txt serial); }
verify() { openssl verify -CAfile "$CA" "$1" >/dev/null 2>&1; }
has_ext() { openssl x509 -in "$1" -noout -text 2>/dev/null | grep -q "$2"; }
serial_of() { openssl x509 -in "$1" -noout -serial | sed 's/serial=//'; }
days_of() {
	local nb na
	nb=$(date -d "$(openssl x509 -in "$1" -noout -startdate | cut -d= -f2)" +%s)
	na=$(date -d "$(openssl x509 -in "$1" -noout -enddate | cut -d= -f2)" +%s)
	echo $(( (na - nb + 3600) / 86400 ))
}

# --- ScepAllowEnrollment --------------------------------------------------------------
mkca enroll-no "ScepAllowEnrollment = NO"
before=$(snapshot)
run e1 "$T/e1.key" -n host-e1 -p secret123 -x E1
check "ScepAllowEnrollment=NO refuses an initial request (FAILURE badRequest)" \
    test "$STATUS/$FAILINFO" = 2/2
check "ScepAllowEnrollment=NO: failInfoText names the key" grep -q ScepAllowEnrollment <<<"$TEXT"
check "ScepAllowEnrollment=NO: repository unchanged" test "$before" = "$(snapshot)"
mkca enroll-yes "ScepAllowEnrollment = YES"
run e2 "$T/e2.key" -n host-e2 -p secret123 -x E2
check "ScepAllowEnrollment=YES issues" test "$STATUS" = 0
check "issued certificate verifies with openssl" verify "$T/e2.crt"

# --- ScepAllowRenewal, ScepAutoApprove ------------------------------------------------
mkca renew-no "ScepAllowRenewal = NO" "ScepAutoApprove = YES"
run r0 "$T/r0.key" -n host-r -p secret123 -x R0
run r1 "$T/r1.key" -n host-r -x R1 -t 17 -S "$T/r0.crt" -K "$T/r0.key"
check "ScepAllowRenewal=NO refuses a RenewalReq" test "$STATUS/$FAILINFO" = 2/2
getcaps; st=$?
check "ScepAllowRenewal=NO: Renewal not in GetCACaps (answered with POSTPKIOperation)" \
    bash -c "[ $st = 0 ] && ! grep -q Renewal <<<'$CAPS'"

mkca renew-auto "ScepAllowRenewal = YES" "ScepAutoApprove = YES"
getcaps
check "ScepAllowRenewal=YES: Renewal in GetCACaps" grep -qx Renewal <<<"$CAPS"
run a0 "$T/a0.key" -n host-a -p secret123 -x A0
run a1 "$T/a1.key" -n host-a -x A1 -t 17 -S "$T/a0.crt" -K "$T/a0.key"
check "ScepAutoApprove=YES issues a RenewalReq at once" test "$STATUS" = 0
check "renewed certificate verifies and has a new serial" \
    bash -c "openssl verify -CAfile '$CA' '$T/a1.crt' >/dev/null && [ \"\$(openssl x509 -in '$T/a1.crt' -noout -serial)\" != \"\$(openssl x509 -in '$T/a0.crt' -noout -serial)\" ]"
# The legacy form: PKCSReq (19) signed with the old certificate is a renewal too.
before=$(snapshot)
run a2 "$T/a2.key" -n host-a -x A2 -t 19 -S "$T/a0.crt" -K "$T/a0.key"
check "a third valid certificate for one DN is refused" test "$STATUS/$FAILINFO" = 2/2
check "refusal says why" grep -q "two valid" <<<"$TEXT"
check "the refused third certificate wrote nothing" test "$before" = "$(snapshot)"

mkca renew-manual "ScepAllowRenewal = YES" "ScepAutoApprove = NO"
run m0 "$T/m0.key" -n host-m -p secret123 -x M0
run m1 "$T/m1.key" -n host-m -x M1 -t 19 -S "$T/m0.crt" -K "$T/m0.key"
check "ScepAutoApprove=NO: renewal (PKCSReq signed by the old cert) waits PENDING" test "$STATUS" = 3
m0=$(serial_of "$T/m0.crt"); [ $(( ${#m0} % 2 )) = 0 ] || m0=0$m0
check "ScepAutoApprove=NO: the renewal is in pending/ and records what it renews ($m0)" \
    test "$(jsonrec M1 '(r["state"], r["renewal_of"])')" = "('pending', '$m0')"

# --- ScepKeepSubjectAltName -----------------------------------------------------------
mkca san-yes "ScepKeepSubjectAltName = YES"
run s1 "$T/s1.key" -n host-s1 -p secret123 -x S1 --san host-s1.example.test
check "ScepKeepSubjectAltName=YES copies the SAN" has_ext "$T/s1.crt" "DNS:host-s1.example.test"
mkca san-no "ScepKeepSubjectAltName = NO"
run s2 "$T/s2.key" -n host-s2 -p secret123 -x S2 --san host-s2.example.test
check "ScepKeepSubjectAltName=NO drops the SAN" \
    bash -c "[ -s '$T/s2.crt' ] && ! openssl x509 -in '$T/s2.crt' -noout -text | grep -q 'DNS:'"

# --- ScepDefaultRole, roles, role selection, ScepDefaultRA ----------------------------
ROLES=("ScepDefaultRole = device" "ScepDefaultRA = branch-ra-7"
    "[role device]" "Days = 30" "KeyUsage = digitalSignature" "ExtendedKeyUsage = clientAuth"
    "[role server]" "Days = 90" "KeyUsage = digitalSignature, keyEncipherment"
    "ExtendedKeyUsage = serverAuth" "Selectable = YES"
    "[role hidden]" "Days = 7" "Selectable = NO")
mkca roles "ScepAutoApprove = YES" "${ROLES[@]}"
run d1 "$T/d1.key" -n host-d1 -p secret123 -x D1
check "ScepDefaultRole: validity from the role (30 days)" test "$(days_of "$T/d1.crt")" = 30
check "ScepDefaultRole: EKU from the role (clientAuth only)" \
    bash -c "openssl x509 -in '$T/d1.crt' -noout -text | grep -A1 'Extended Key Usage' | grep -q 'TLS Web Client' && ! openssl x509 -in '$T/d1.crt' -noout -text | grep -q 'TLS Web Server'"
check "ScepDefaultRole: key usage from the role (no keyEncipherment)" \
    bash -c "! openssl x509 -in '$T/d1.crt' -noout -text | grep -q 'Key Encipherment'"
check "ScepDefaultRA recorded with the request" \
    bash -c "'$ADMIN' -c '$C' list --json | grep -q branch-ra-7"
run d2 "$T/d2.key" -n host-d2 -p secret123 -x D2 --template server
check "role selected through the certificate-template-name extension (90 days)" \
    test "$(days_of "$T/d2.crt")" = 90
run d3 "$T/d3.key" -n host-d3 -p secret123 -x D3 --role server
check "role selected through the scepRole attribute (90 days)" test "$(days_of "$T/d3.crt")" = 90
run d4 "$T/d4.key" -n host-d4 -p secret123 -x D4 --template hidden
check "a non-selectable role falls back to ScepDefaultRole" test "$(days_of "$T/d4.crt")" = 30
mkca roles-refuse "ScepRoleFallback = REFUSE" "${ROLES[@]}"
run d5 "$T/d5.key" -n host-d5 -p secret123 -x D5 --template nosuchrole
check "ScepRoleFallback=REFUSE refuses an unknown role" test "$STATUS/$FAILINFO" = 2/2
# Renewal inherits the role of the certificate it renews (back in the "roles" CA).
C=$T/roles/scep.conf; R=$T/roles/repo; CA=$R/ca/ca.pem
run d6 "$T/d6.key" -n host-d2 -x D6 -t 17 -S "$T/d2.crt" -K "$T/d2.key"
check "renewal inherits the role (90 days)" test "$STATUS" = 0 -a "$(days_of "$T/d6.crt" 2>/dev/null)" = 90

# --- ScepRenewalRDNMatch (and the older spelling) -------------------------------------
mkca rdn-cn "ScepAutoApprove = YES" "ScepRenewalRDNMatch = CN"
run n0 "$T/n0.key" -n host-n -p secret123 -x N0 --org OrgA
run n1 "$T/n1.key" -n host-n -x N1 -t 17 -S "$T/n0.crt" -K "$T/n0.key" --org OrgB
check "ScepRenewalRDNMatch=CN: same CN, other O renews" test "$STATUS" = 0
mkca rdn-cno "ScepAutoApprove = YES" "ScepRenewRDNMatch = CN,O"
run o0 "$T/o0.key" -n host-o -p secret123 -x O0 --org OrgA
run o1 "$T/o1.key" -n host-o -x O1 -t 17 -S "$T/o0.crt" -K "$T/o0.key" --org OrgB
check "ScepRenewRDNMatch=CN,O: other O is refused" test "$STATUS/$FAILINFO" = 2/2
run o2 "$T/o2.key" -n host-o -x O2 -t 17 -S "$T/o0.crt" -K "$T/o0.key" --org OrgA
check "ScepRenewRDNMatch=CN,O: same CN and O renews" test "$STATUS" = 0
run o3 "$T/o3.key" -n host-other -x O3 -t 17 -S "$T/o0.crt" -K "$T/o0.key" --org OrgA
check "renewal with another CN is refused" test "$STATUS/$FAILINFO" = 2/2

# --- The SeaCat flow: pending, approved, collected, then same key + same txID renewal ---
mkca seacat "ScepAutoApproveEnrollment = NO" "ScepAutoApprove = YES"
run k0 "$T/k.key" -n seacat-host -x SAMETXID
check "SeaCat: enrollment without challenge goes PENDING" test "$STATUS" = 3
id=$("$ADMIN" -c "$C" list --state pending | awk 'NR==1{print $1}')
"$ADMIN" -c "$C" approve "$id" >/dev/null
run k1 "$T/k.key" -n seacat-host -x SAMETXID -t 20 -S "$T/k0.self" -K "$T/k.key"
check "SeaCat: CertPoll after approval collects the certificate" test "$STATUS" = 0
cp "$T/k1.crt" "$T/k.crt"
run k2 "$T/k.key" -n seacat-host -x SAMETXID -t 19 -S "$T/k.crt" -K "$T/k.key"
check "SeaCat: same key, same transactionID, signed by the cert: renewed at once" test "$STATUS" = 0
check "SeaCat: the renewal is a second certificate (new serial)" \
    bash -c "[ -s '$T/k2.crt' ] && [ \"\$(openssl x509 -in '$T/k2.crt' -noout -serial)\" != \"\$(openssl x509 -in '$T/k.crt' -noout -serial)\" ]"
run k3 "$T/k.key" -n seacat-host -x SAMETXID -t 19 -S "$T/k.crt" -K "$T/k.key"
check "SeaCat: resending that renewal is a poll (same certificate, no third)" \
    bash -c "cmp -s '$T/k2.crt' '$T/k3.crt'"
check "SeaCat: exactly two certificates issued" test "$(wc -l <"$R/index.txt")" = 2

# --- One-time challenges ---------------------------------------------------------------
mkca onetime "ScepChallengePassword = static-not-used" "ScepOneTimeChallenges = YES"
otp=$("$ADMIN" -c "$C" challenge 2>/dev/null | head -1)
run c1 "$T/c1.key" -n host-c1 -p "$otp" -x C1
check "one-time challenge works once" test "$STATUS" = 0
run c2 "$T/c2.key" -n host-c2 -p "$otp" -x C2
check "one-time challenge fails the second time" test "$STATUS/$FAILINFO" = 2/2
otp=$("$ADMIN" -c "$C" challenge --ttl 1 2>/dev/null | head -1)
sleep 2
run c3 "$T/c3.key" -n host-c3 -p "$otp" -x C3
check "one-time challenge fails after expiry" test "$STATUS/$FAILINFO" = 2/2
check "expiry is named in failInfoText" grep -qi expired <<<"$TEXT"
before=$(snapshot)
run c4 "$T/c4.key" -n host-c4 -p wrong-challenge -x C4
check "wrong challenge: FAILURE badRequest" test "$STATUS/$FAILINFO" = 2/2
check "wrong challenge: repository unchanged" test "$before" = "$(snapshot)"

# --- Only the whole static challenge, in exactly one attribute with one value, counts ---
mkca chal
before=$(snapshot)
run h1 "$T/h1.key" -n host-h1 -p secret -x H1
check "a prefix of the static challenge is wrong: FAILURE badRequest" test "$STATUS/$FAILINFO" = 2/2
run h2 "$T/h2.key" -n host-h2 -p "" -x H2
check "an empty challenge is wrong: FAILURE badRequest" test "$STATUS/$FAILINFO" = 2/2
run h3 "$T/h3.key" -n host-h3 -p secret1234 -x H3
check "the static challenge and one more character is wrong: FAILURE badRequest" \
    test "$STATUS/$FAILINFO" = 2/2
check "wrong challenges: repository unchanged" test "$before" = "$(snapshot)"
# DER sorts the attributes: the shorter (right) value comes first in the CSR.
run h4 "$T/h4.key" -n host-h4 -p secret123 --challenge2 zzzzzzzzzzzzzzzzzzzzzzzz -x H4
check "two challengePassword attributes, the first one right: not issued (status $STATUS)" \
    bash -c "[ '$STATUS' = 2 ] || [ '$STATUS' = 3 ]"
run h5 "$T/h5.key" -n host-h5 -p secret123 --challenge-twice -x H5
check "one challengePassword attribute with two values: not issued (status $STATUS)" \
    bash -c "[ '$STATUS' = 2 ] || [ '$STATUS' = 3 ]"

# --- Key size and algorithm lists ------------------------------------------------------
mkca algs "ScepAllowedDigests = SHA-256, SHA-512" "ScepAllowedCiphers = AES-128, AES-256"
BITS=1024 run g1 "$T/g1.key" -n host-g1 -p secret123 -x G1
check "ScepMinKeyBits (2048): an RSA-1024 request is refused" test "$STATUS/$FAILINFO" = 2/2
run g2 "$T/g2.key" -n host-g2 -p secret123 -x G2 -d sha1
check "ScepAllowedDigests without SHA-1: SHA-1 refused with badAlg" test "$STATUS/$FAILINFO" = 2/0
run g3 "$T/g3.key" -n host-g3 -p secret123 -x G3 -e des-ede3-cbc
check "ScepAllowedCiphers without DES3: 3DES refused with badAlg" test "$STATUS/$FAILINFO" = 2/0
run g4 "$T/g4.key" -n host-g4 -p secret123 -x G4 -e aes-256-cbc -d sha512
check "allowed algorithms issue" test "$STATUS" = 0
getcaps; st=$?
check "GetCACaps follows the lists (no DES3, no SHA-1; answered with POSTPKIOperation)" \
    bash -c "[ $st = 0 ] && ! grep -qxE 'DES3|SHA-1' <<<'$CAPS'"

# --- Revocation, CRL, GetCRL, GetCert --------------------------------------------------
mkca revoke "ScepAutoApprove = YES"
run v0 "$T/v0.key" -n host-v -p secret123 -x V0
ser=$(serial_of "$T/v0.crt")
check "scep-admin revoke SERIAL (openssl x509 -serial form)" \
    "$ADMIN" -c "$C" revoke "serial=$ser" --reason keyCompromise
run v1 "$T/v1.key" -n host-v -x V1 -t 17 -S "$T/v0.crt" -K "$T/v0.key"
check "a revoked certificate cannot renew" test "$STATUS/$FAILINFO" = 2/2
# An expired certificate of this CA, put on record by `openssl ca` over the repository
# (index.txt and certs/ are OpenSSL's formats): it cannot renew either.
mkdir -p "$T/expired"; echo 7E01 >"$T/expired/serial"
cat >"$T/expired/ca.cnf" <<EOF
[ ca ]
default_ca = scep
[ scep ]
database = $R/index.txt
serial = $T/expired/serial
new_certs_dir = $R/certs
certificate = $R/ca/ca.pem
private_key = $R/ca/ca.key
default_md = sha256
policy = any
unique_subject = no
[ any ]
commonName = supplied
organizationName = optional
EOF
openssl req -new -newkey rsa:2048 -nodes -keyout "$T/ex0.key" -subj "/CN=host-ex/O=Test" \
    -out "$T/ex0.csr" 2>/dev/null
openssl ca -batch -config "$T/expired/ca.cnf" -startdate 20200101000000Z \
    -enddate 20200301000000Z -notext -in "$T/ex0.csr" -out "$T/ex0.crt" >/dev/null 2>&1
run ex1 "$T/ex1.key" -n host-ex -x EX1 -t 17 -S "$T/ex0.crt" -K "$T/ex0.key"
check "an expired certificate of this CA cannot renew (on record: $([ -f "$R/certs/7E01.pem" ] && echo yes || echo no))" \
    test "$STATUS/$FAILINFO" = 2/2 -a -f "$R/certs/7E01.pem"
"$ADMIN" -c "$C" crl >/dev/null 2>&1
check "CRL verifies with openssl crl -CAfile" openssl crl -in "$R/crl.pem" -CAfile "$CA" -noout
check "CRL lists the revoked serial" \
    bash -c "openssl crl -in '$R/crl.pem' -noout -text | grep -q 'Serial Number: $ser'"
run w0 "$T/w0.key" -n host-w -p secret123 -x W0
run gc "$T/w0.key" -x GETCRL -t 22 --serial "$ser" -S "$T/w0.crt" -K "$T/w0.key"
check "GetCRL answers SUCCESS" test "$STATUS" = 0
check "GetCRL payload is the CRL (verifies, lists the serial)" \
    bash -c "openssl crl -in '$T/gc.crl' -CAfile '$CA' -noout 2>/dev/null && openssl crl -in '$T/gc.crl' -noout -text | grep -q 'Serial Number: $ser'"
run gt "$T/w0.key" -x GETCERT -t 21 --serial "$ser" -S "$T/w0.crt" -K "$T/w0.key"
check "GetCert returns the certificate by serial" cmp -s <(openssl x509 -in "$T/gt.crt" -outform DER) <(openssl x509 -in "$T/v0.crt" -outform DER)
run gu "$T/w0.key" -x GETCERT2 -t 21 --serial 7FFFFFFF -S "$T/w0.crt" -K "$T/w0.key"
check "GetCert for an unknown serial: badCertId" test "$STATUS/$FAILINFO" = 2/4
run pu "$T/w0.key" -n nobody -x NO-SUCH-TXID -t 20
check "CertPoll for an unknown transaction: badCertId" test "$STATUS/$FAILINFO" = 2/4

# --- A transactionID is one request: same key but another subject is a conflict, not a poll
mkca txid
run x1 "$T/x.key" -n dup-a -p secret123 -x SAMEKEYTXID
run x2 "$T/x.key" -n dup-b -p secret123 -x SAMEKEYTXID
check "known transactionID, same key, other subject: FAILURE badRequest" test "$STATUS/$FAILINFO" = 2/2
run x3 "$T/x.key" -n dup-a -p secret123 -x SAMEKEYTXID
check "known transactionID, same key and subject: the same certificate" cmp -s "$T/x1.crt" "$T/x3.crt"
run x4 "$T/x4.key" -n dup-a -p secret123 -x SAMEKEYTXID
check "known transactionID, another key, same subject: FAILURE badRequest, no certificate" \
    test "$STATUS/$FAILINFO" = 2/2 -a ! -s "$T/x4.crt"
run x5 "$T/x5.key" -n dup-a -x SAMEKEYTXID -t 20
check "CertPoll of that transaction signed by another key: FAILURE badCertId, no certificate" \
    test "$STATUS/$FAILINFO" = 2/4 -a ! -s "$T/x5.crt"
check "every refusal is logged with its failInfo" \
    bash -c "grep -q 'FAILURE badRequest: this transactionID belongs' '$T/server.log' && grep -q 'FAILURE badRequest: there are already two valid' '$T/server.log'"

# --- Configuration errors --------------------------------------------------------------
mkca conferr
echo "ScepNoSuchKey = 1" >>"$C"
st=$(QUERY_STRING=operation=GetCACaps REQUEST_METHOD=GET SCEP_CONF=$C "$SCEP" 2>"$T/conferr.log" | sed -n '1s/^Status: \([0-9]*\).*/\1/p')
check "unknown key: the server answers 500" test "$st" = 500
check "unknown key: the log names file and line" grep -q "scep.conf:[0-9]*:.*ScepNoSuchKey" "$T/conferr.log"
"$ADMIN" -c "$C" config-check >/dev/null 2>"$T/cc.err"; rc=$?
check "unknown key: scep-admin config-check exits 1 and names file:line (rc=$rc: $(head -n 1 "$T/cc.err"))" \
    bash -c "[ $rc = 1 ] && grep -q 'scep.conf:[0-9]*: .*ScepNoSuchKey' '$T/cc.err'"
sed -i 's/^ScepNoSuchKey.*/ScepDefaultRole = nosuchrole/' "$C"
"$ADMIN" -c "$C" config-check >/dev/null 2>"$T/cc.err"; rc=$?
check "bad role reference: config-check exits 1 and names file:line (rc=$rc: $(head -n 1 "$T/cc.err"))" \
    bash -c "[ $rc = 1 ] && grep -q 'scep.conf:[0-9]*: .*nosuchrole' '$T/cc.err'"

if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$T/server.log" "$T"/*.log 2>/dev/null; then
	bad "sanitizer report in the server log"
	grep -E -A20 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$T/server.log" | head -40
else
	ok "no sanitizer report from the server"
fi
echo "policy: $pass passed, $fail failed"
[ "$fail" = 0 ]
