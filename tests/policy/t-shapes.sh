#!/bin/bash
# CA shapes and rollover through the real server program (plain CGI): RA mode, an
# intermediate CA with its chain, GetCACertChain/GetCAChain, ScepCACertIncludeRoot, and a
# CA rollover: GetNextCACert verified with openssl against the current CA, then the switch,
# with requests encrypted to the old CA still decrypted during the overlap and renewals
# signed by certificates of the old CA still accepted. Prints "shapes: N passed, M failed".
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
# The sanitizer builds (SCEP_BIN / SCEP_ADMIN_BIN to test others); never a silent fallback.
SCEP=${SCEP_BIN:-$top/build/asan/scep}
ADMIN=${SCEP_ADMIN_BIN:-$top/build/asan/scep-admin}
REQ=$top/build/scepreq
for b in "$SCEP" "$ADMIN" "$REQ"; do
	[ -x "$b" ] || { echo "FAIL: prerequisites: $b not built (make all asan tools)"
		echo "shapes: 0 passed, 1 failed"; exit 1; }
done
T=$(mktemp -d /tmp/scep-shapes.XXXXXX)
trap 'rm -rf "$T"' EXIT
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
pass=0; fail=0
ok()   { pass=$((pass + 1)); echo "PASS: $*"; }
bad()  { fail=$((fail + 1)); echo "FAIL: $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }

conf() {	# NAME [LINES...]: config for a repository at $T/NAME/repo
	local d=$T/$1; shift
	mkdir -p "$d"
	{ echo "ScepRepository = $d/repo"; echo "ScepChallengePassword = pw"
	  echo "ScepAutoApproveEnrollment = YES"; echo "ScepAutoApprove = YES"
	  for l in "$@"; do echo "$l"; done; } >"$d/scep.conf"
	C=$d/scep.conf; R=$d/repo
}
get() {		# QUERY OUT: GET as plain CGI; sets CTYPE and HTTP
	REQUEST_METHOD=GET QUERY_STRING=$1 SCEP_CONF=$C "$SCEP" >"$2.raw" 2>>"$T/server.log"
	HTTP=$(sed -n '1s/^Status: \([0-9]*\).*/\1/p' "$2.raw")
	CTYPE=$(grep -a -m1 '^Content-Type:' "$2.raw" | tr -d '\r' | cut -d' ' -f2-)
	/usr/bin/python3 -c 'import sys; d=open(sys.argv[1],"rb").read(); i=d.find(b"\r\n\r\n"); open(sys.argv[2],"wb").write(d[i+4:])' "$2.raw" "$2"
}
post() {	# IN OUT
	REQUEST_METHOD=POST QUERY_STRING=operation=PKIOperation CONTENT_LENGTH=$(stat -c %s "$1") \
	    SCEP_CONF=$C "$SCEP" <"$1" >"$2.raw" 2>>"$T/server.log"
	/usr/bin/python3 -c 'import sys; d=open(sys.argv[1],"rb").read(); i=d.find(b"\r\n\r\n"); open(sys.argv[2],"wb").write(d[i+4:])' "$2.raw" "$2"
}
# enroll NAME RECIPIENT.pem REPLYSIGNER.pem [scepreq args]: STATUS, cert in $T/NAME.crt
enroll() {
	local n=$1 rcpt=$2 rs=$3; shift 3
	[ -f "$T/$n.key" ] || openssl genrsa -out "$T/$n.key" 2048 2>/dev/null
	rm -f "$T/$n.crt"
	"$REQ" build -c "$rcpt" -k "$T/$n.key" -L "$T/$n.self" -o "$T/$n.req" -n "$n" "$@"
	post "$T/$n.req" "$T/$n.rep"
	local signer=$T/$n.self key=$T/$n.key a i args=("$@")
	for ((i = 0; i < ${#args[@]}; i++)); do
		case ${args[i]} in -S) signer=${args[i+1]} ;; -K) key=${args[i+1]} ;; esac
	done
	a=$("$REQ" read -c "$rs" -k "$key" -S "$signer" -w "$T/$n.crt" "$T/$n.rep" 2>/dev/null)
	STATUS=$(sed -n 's/.*status=\([-0-9]*\).*/\1/p' <<<"$a"); [ -n "$STATUS" ] || STATUS=none
}
p7certs() { openssl pkcs7 -inform DER -in "$1" -print_certs 2>/dev/null | grep -c '^subject='; }
p7subjects() { openssl pkcs7 -inform DER -in "$1" -print_certs 2>/dev/null | sed -n 's/^subject=//p' | tr '\n' '|'; }

# --- RA mode ------------------------------------------------------------------------------
conf ra
"$ADMIN" -c "$C" init --subject "/CN=Shapes Root CA/O=Test" --ra-subject "/CN=Shapes RA/O=Test" \
    >/dev/null 2>"$T/ra.err" || { cat "$T/ra.err"; }
get "operation=GetCACert&message=default" "$T/ra.getca"
check "RA mode: GetCACert is application/x-x509-ca-ra-cert" test "$CTYPE" = application/x-x509-ca-ra-cert
check "RA mode: bundle is [RA, CA]" \
    bash -c "[ \"\$(p7s() { openssl pkcs7 -inform DER -in '$T/ra.getca' -print_certs | sed -n 's/^subject=//p' | tr '\n' '|'; }; p7s)\" = 'CN = Shapes RA, O = Test|CN = Shapes Root CA, O = Test|' ]"
check "RA certificate: end entity with digitalSignature and keyEncipherment" \
    bash -c "openssl x509 -in '$R/ca/ra.pem' -noout -text | grep -q 'CA:FALSE' && openssl x509 -in '$R/ca/ra.pem' -noout -text | grep -A1 'Key Usage' | grep -q 'Digital Signature, Key Encipherment'"
enroll ra1 "$R/ca/ra.pem" "$R/ca/ra.pem" -p pw -x RA1
check "RA mode: enrollment encrypted to the RA, reply signed by the RA" test "$STATUS" = 0
check "RA mode: the certificate is issued by the CA (openssl verify)" \
    openssl verify -CAfile "$R/ca/ca.pem" "$T/ra1.crt"
enroll ra2 "$R/ca/ca.pem" "$R/ca/ra.pem" -p pw -x RA2
check "RA mode: a request encrypted to the CA certificate is decrypted too (clients that pick the CA)" \
    test "$STATUS" = 0
enroll ra3 "$T/ra1.self" "$R/ca/ra.pem" -p pw -x RA3
check "RA mode: a request encrypted to a foreign certificate gets FAILURE" test "$STATUS" = 2

# --- Intermediate CA with chain -----------------------------------------------------------
conf int
mkdir -p "$T/pki"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/pki/root.key" -out "$T/pki/root.pem" \
    -subj "/CN=Shapes Offline Root/O=Test" -days 30 \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
openssl req -new -newkey rsa:2048 -nodes -keyout "$T/pki/int.key" -out "$T/pki/int.csr" \
    -subj "/CN=Shapes Issuing CA/O=Test" 2>/dev/null
printf 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign,digitalSignature,keyEncipherment\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n' >"$T/pki/int.ext"
openssl x509 -req -in "$T/pki/int.csr" -CA "$T/pki/root.pem" -CAkey "$T/pki/root.key" \
    -CAcreateserial -days 20 -extfile "$T/pki/int.ext" -out "$T/pki/int.pem" 2>/dev/null
mkdir -p "$R"
"$ADMIN" -c "$C" import --cert "$T/pki/int.pem" --key "$T/pki/int.key" --chain "$T/pki/root.pem" \
    >/dev/null 2>"$T/int.err"
check "scep-admin import of an intermediate with its chain" test -s "$R/ca/chain.pem"
get "operation=GetCACert" "$T/int.getca"
check "intermediate: GetCACert is a PKCS#7 bundle [issuing CA, root]" \
    test "$CTYPE/$(p7certs "$T/int.getca")" = application/x-x509-ca-ra-cert/2
get "operation=GetCACertChain" "$T/int.chain"
check "GetCACertChain alias: application/x-x509-ca-ra-cert-chain" \
    test "$CTYPE/$(p7certs "$T/int.chain")" = application/x-x509-ca-ra-cert-chain/2
get "operation=GetCAChain&message=0" "$T/int.chain2"
check "GetCAChain alias (certmonger)" test "$(p7certs "$T/int.chain2")" = 2
enroll int1 "$T/pki/int.pem" "$T/pki/int.pem" -p pw -x INT1
check "intermediate: enrollment issued" test "$STATUS" = 0
check "intermediate: certificate verifies up to the root" \
    openssl verify -CAfile "$T/pki/root.pem" -untrusted "$T/pki/int.pem" "$T/int1.crt"
echo "ScepCACertIncludeRoot = NO" >>"$C"
get "operation=GetCACert" "$T/int.noroot"
check "ScepCACertIncludeRoot=NO leaves the root out" \
    bash -c "[ \"\$(openssl pkcs7 -inform DER -in '$T/int.noroot' -print_certs 2>/dev/null | grep -c '^subject=')\" = 1 ] || openssl x509 -inform DER -in '$T/int.noroot' -noout 2>/dev/null"

# --- Rollover -------------------------------------------------------------------------------
conf roll
"$ADMIN" -c "$C" init --subject "/CN=Shapes CA 2026/O=Test" >/dev/null
cp "$R/ca/ca.pem" "$T/old.pem"
enroll old1 "$T/old.pem" "$T/old.pem" -p pw -x OLD1
check "rollover: enrolled under the current CA" test "$STATUS" = 0
get "operation=GetCACaps" "$T/caps0"
check "no GetNextCACert capability before a rollover is prepared (GetCACaps: HTTP $HTTP)" \
    bash -c "[ '$HTTP' = 200 ] && tr -d '\r' <'$T/caps0' | grep -qx POSTPKIOperation && ! grep -q GetNextCACert '$T/caps0'"
get "operation=GetNextCACert" "$T/next0"
check "GetNextCACert without a prepared rollover: 404" test "$HTTP" = 404
"$ADMIN" -c "$C" rollover prepare --subject "/CN=Shapes CA 2027/O=Test" >/dev/null 2>"$T/roll.err" ||
    cat "$T/roll.err"
get "operation=GetCACaps" "$T/caps1"
check "GetNextCACert advertised once a rollover is prepared" grep -q '^GetNextCACert' "$T/caps1"
get "operation=GetNextCACert" "$T/next1"
check "GetNextCACert: application/x-x509-next-ca-cert" test "$CTYPE" = application/x-x509-next-ca-cert
check "GetNextCACert: signature verifies against the current CA (openssl cms)" \
    bash -c "openssl cms -verify -inform DER -in '$T/next1' -CAfile '$T/old.pem' -purpose any -binary -out '$T/next1.p7' 2>/dev/null"
openssl pkcs7 -inform DER -in "$T/next1.p7" -print_certs 2>/dev/null >"$T/new.pem"
check "GetNextCACert: the payload is the next CA certificate" \
    bash -c "grep -q 'CN = Shapes CA 2027' '$T/new.pem'"
# A request built for the old CA before the switch, sent after it.
openssl genrsa -out "$T/late.key" 2048 2>/dev/null
"$REQ" build -c "$T/old.pem" -k "$T/late.key" -n late -p pw -x LATE -L "$T/late.self" -o "$T/late.req"
"$ADMIN" -c "$C" rollover switch >/dev/null 2>>"$T/roll.err" || cat "$T/roll.err"
check "rollover switch: the next CA is now current" \
    bash -c "openssl x509 -in '$R/ca/ca.pem' -noout -subject | grep -q 2027"
awk '/BEGIN/{n++} n==1' "$T/new.pem" >"$T/new1.pem"
cp "$R/ca/ca.pem" "$T/newca.pem"
post "$T/late.req" "$T/late.rep"
a=$("$REQ" read -c "$T/old.pem" -k "$T/late.key" -S "$T/late.self" -w "$T/late.crt" "$T/late.rep" 2>/dev/null)
check "overlap: a request encrypted to the old CA is still decrypted" grep -q 'status=0' <<<"$a"
check "overlap: the reply is signed by the old CA it was encrypted to" test -n "$a"
check "overlap: it is issued by the new CA" openssl verify -CAfile "$T/newca.pem" "$T/late.crt"
enroll new1 "$T/newca.pem" "$T/newca.pem" -p pw -x NEW1
check "after the switch: enrollment encrypted to the new CA" test "$STATUS" = 0
enroll old1r "$T/newca.pem" "$T/newca.pem" -x OLD1R -t 17 -S "$T/old1.crt" -K "$T/old1.key" -n old1
check "after the switch: renewal signed by a certificate of the old CA" test "$STATUS" = 0
check "renewed certificate chains to the new CA" openssl verify -CAfile "$T/newca.pem" "$T/old1r.crt"

if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$T/server.log" 2>/dev/null; then
	bad "sanitizer report in the server log"; grep -E -A20 'Sanitizer|runtime error' "$T/server.log" | head -30
else
	ok "no sanitizer report from the server"
fi
echo "shapes: $pass passed, $fail failed"
[ "$fail" = 0 ]
