#!/bin/bash
# Least privilege: a repository made with `init --owner www-data` stays owned by www-data
# whatever root runs against it, the CA key is 0600 and readable by that user only, the
# server program running as www-data serves from it, and challenge passwords never reach
# a log (not even at ScepLogLevel DEBUG). Needs root and a www-data user; skips otherwise.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
ADMIN=${SCEP_ADMIN_BIN:-$top/build/asan/scep-admin}
[ -x "$ADMIN" ] || ADMIN=$top/scep-admin
SCEP=${SCEP_BIN:-$top/build/asan/scep}
[ -x "$SCEP" ] || SCEP=$top/cgi-bin/scep
REQ=$top/build/scepreq
pass=0; fail=0
ok()   { pass=$((pass + 1)); echo "PASS: $*"; }
bad()  { fail=$((fail + 1)); echo "FAIL: $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
if [ "$(id -u)" != 0 ] || ! id www-data >/dev/null 2>&1; then
	echo "SKIP: needs root and a www-data user"; echo "privilege: 0 passed, 0 failed"; exit 0
fi
T=$(mktemp -d /tmp/scep-priv.XXXXXX)
chmod 755 "$T"
trap 'rm -rf "$T"' EXIT
cp "$SCEP" "$T/scep" && SCEP=$T/scep	# www-data may not reach the checkout (a 0700 parent)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
STATIC=static-$RANDOM-secret
printf 'ScepRepository = %s/repo\nScepChallengePassword = %s\nScepLogLevel = DEBUG\n' \
    "$T" "$STATIC" >"$T/scep.conf"
chmod 644 "$T/scep.conf"
check "init --owner www-data" "$ADMIN" -c "$T/scep.conf" init --subject "/CN=Privilege CA" \
    --owner www-data
OTP=$("$ADMIN" -c "$T/scep.conf" challenge 2>>"$T/admin.log")
cgi() {	# as www-data, like the shipped configurations
	runuser -u www-data -- env REQUEST_METHOD=POST QUERY_STRING=operation=PKIOperation \
	    CONTENT_LENGTH=$(stat -c %s "$1") SCEP_CONF="$T/scep.conf" ASAN_OPTIONS="$ASAN_OPTIONS" \
	    "$SCEP" <"$1" 2>>"$T/server.log" | /usr/bin/python3 -c 'import sys; d=sys.stdin.buffer.read(); i=d.find(b"\r\n\r\n"); sys.stdout.buffer.write(d[i+4:])' >"$2"
}
for n in 1 2 3 4; do openssl genrsa -out "$T/k$n.pem" 2048 2>/dev/null; done
chmod 644 "$T"/k*.pem
"$REQ" build -c "$T/repo/ca/ca.pem" -k "$T/k1.pem" -n p1 -p "$STATIC" -x P1 -L "$T/s1.pem" -o "$T/r1.der"
"$REQ" build -c "$T/repo/ca/ca.pem" -k "$T/k2.pem" -n p2 -p "$OTP" -x P2 -L "$T/s2.pem" -o "$T/r2.der"
"$REQ" build -c "$T/repo/ca/ca.pem" -k "$T/k3.pem" -n p3 -p "wrong-$STATIC" -x P3 -L "$T/s3.pem" -o "$T/r3.der"
"$REQ" build -c "$T/repo/ca/ca.pem" -k "$T/k4.pem" -n p4 -x P4 -L "$T/s4.pem" -o "$T/r4.der"
chmod 644 "$T"/*.der
for n in 1 2 3 4; do cgi "$T/r$n.der" "$T/a$n.der"; done
check "the server as www-data answers (static challenge: pending, manual approval)" \
    bash -c "'$REQ' read -c '$T/repo/ca/ca.pem' -k '$T/k1.pem' -S '$T/s1.pem' '$T/a1.der' | grep -q status=3"
id=$("$ADMIN" -c "$T/scep.conf" list --state pending | awk '{print $1}' | head -1)
"$ADMIN" -c "$T/scep.conf" approve $("$ADMIN" -c "$T/scep.conf" list --state pending | awk '{print $1}') >/dev/null 2>>"$T/admin.log"
"$ADMIN" -c "$T/scep.conf" issue >/dev/null 2>>"$T/admin.log"
first=$(ls "$T/repo/certs" | head -n 1)
"$ADMIN" -c "$T/scep.conf" revoke "$(openssl x509 -in "$T/repo/certs/$first" -noout -serial)" >/dev/null 2>>"$T/admin.log"
"$ADMIN" -c "$T/scep.conf" crl >/dev/null 2>>"$T/admin.log"
"$ADMIN" -c "$T/scep.conf" check --repair >/dev/null 2>>"$T/admin.log"
check "root ran approve/issue/revoke/crl/challenge: certificates issued" \
    test "$(ls "$T/repo/certs" | grep -c '\.pem$')" -ge 2
check "every file of the repository is still owned by www-data" \
    test -z "$(find "$T/repo" ! -user www-data -print -o ! -group www-data -print)"
check "the CA key is mode 0600" test "$(stat -c %a "$T/repo/ca/ca.key")" = 600
check "the ca/ directory is mode 0700" test "$(stat -c %a "$T/repo/ca")" = 700
check "another unprivileged user cannot read the CA key" \
    bash -c "! runuser -u nobody -- cat '$T/repo/ca/ca.key' >/dev/null 2>&1"
check "no challenge password in the server log" bash -c "! grep -qF -e '$STATIC' -e '$OTP' '$T/server.log'"
check "no challenge password in scep-admin's stderr" bash -c "! grep -qF -e '$STATIC' '$T/admin.log'"
# A record's csr line keeps the request exactly as the client signed it (challengePassword
# included, as PKCS#10 carries it, in base64) so that its signature stays verifiable; it is
# readable only by the repository owner, who can read scep.conf anyway. Everything else
# holds no secret.
check "no challenge password in record metadata, listings or the challenge store" \
    bash -c "! grep -rqF -e '$STATIC' -e '$OTP' '$T/repo/pending' '$T/repo/approved' '$T/repo/issued' '$T/repo/rejected' && ! grep -rqF -e '$OTP' '$T/repo/challenges' && ! '$ADMIN' -c '$T/scep.conf' list --json | grep -qF -e '$STATIC' -e '$OTP'"
check "record files are not world-readable" \
    test -z "$(find "$T/repo/pending" "$T/repo/approved" "$T/repo/issued" "$T/repo/rejected" -type f -perm /o+r)"
check "the server logged the wrong-challenge refusal" grep -q "wrong challenge" "$T/server.log"
echo "privilege: $pass passed, $fail failed"
[ "$fail" = 0 ]
