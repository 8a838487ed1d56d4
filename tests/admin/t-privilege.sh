#!/bin/bash
# Least privilege: a repository made with `init --owner www-data` stays owned by www-data
# whatever root runs against it, the CA key is 0600 and readable by that user only, the
# server program running as www-data serves from it, and challenge passwords never reach
# a log (not even at ScepLogLevel DEBUG). Needs root and a www-data user: without them it
# prints one SKIP and "privilege: 0 passed, 0 failed, 1 skipped" (a skip, not a pass).
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
# The sanitizer builds (SCEP_BIN / SCEP_ADMIN_BIN to test others); never a silent fallback.
ADMIN=${SCEP_ADMIN_BIN:-$top/build/asan/scep-admin}
SCEP=${SCEP_BIN:-$top/build/asan/scep}
REQ=$top/build/scepreq
pass=0; fail=0
ok()   { pass=$((pass + 1)); echo "PASS: $*"; }
bad()  { fail=$((fail + 1)); echo "FAIL: $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
finish() { echo "privilege: $pass passed, $fail failed"; [ "$fail" = 0 ]; exit $?; }
if [ "$(id -u)" != 0 ] || ! id www-data >/dev/null 2>&1; then
	echo "SKIP: privilege: needs root and a www-data user"
	echo "privilege: 0 passed, 0 failed, 1 skipped"; exit 0
fi
for b in "$SCEP" "$ADMIN" "$REQ"; do
	[ -x "$b" ] || { bad "prerequisites: $b not built (make all asan tools)"; finish; }
done
T=$(mktemp -d /tmp/scep-priv.XXXXXX)
chmod 755 "$T"
trap 'rm -rf "$T"' EXIT
cp "$SCEP" "$T/scep" && SCEP=$T/scep	# www-data may not reach the checkout (a 0700 parent)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
STATIC=static-$RANDOM-secret
printf 'ScepRepository = %s/repo\nScepChallengePassword = %s\nScepLogLevel = DEBUG\n' \
    "$T" "$STATIC" >"$T/scep.conf"
chmod 644 "$T/scep.conf"
A() { "$ADMIN" -c "$T/scep.conf" "$@"; }
# set-up, not a check: stop here if it fails
if ! A init --subject "/CN=Privilege CA" --owner www-data >"$T/init.log" 2>&1; then
	bad "setup: init --owner www-data: $(tail -n 1 "$T/init.log")"; finish
fi
OTP=$(A challenge 2>>"$T/admin.log")
check "challenge (as root): exit 0, one secret" test -n "$OTP"
cgi() {	# IN OUT: as www-data, like the shipped configurations; CGIRC is the server's status
	runuser -u www-data -- env REQUEST_METHOD=POST QUERY_STRING=operation=PKIOperation \
	    CONTENT_LENGTH=$(stat -c %s "$1") SCEP_CONF="$T/scep.conf" ASAN_OPTIONS="$ASAN_OPTIONS" \
	    "$SCEP" <"$1" >"$2.raw" 2>>"$T/server.log"
	CGIRC=$?
	/usr/bin/python3 -c 'import sys; d=open(sys.argv[1],"rb").read(); i=d.find(b"\r\n\r\n"); open(sys.argv[2],"wb").write(d[i+4:])' "$2.raw" "$2"
}
for n in 1 2 3 4; do openssl genrsa -out "$T/k$n.pem" 2048 2>/dev/null; done
chmod 644 "$T"/k*.pem
built=0
"$REQ" build -c "$T/repo/ca/ca.pem" -k "$T/k1.pem" -n p1 -p "$STATIC" -x P1 -L "$T/s1.pem" -o "$T/r1.der" && built=$((built + 1))
"$REQ" build -c "$T/repo/ca/ca.pem" -k "$T/k2.pem" -n p2 -p "$OTP" -x P2 -L "$T/s2.pem" -o "$T/r2.der" && built=$((built + 1))
"$REQ" build -c "$T/repo/ca/ca.pem" -k "$T/k3.pem" -n p3 -p "wrong-$STATIC" -x P3 -L "$T/s3.pem" -o "$T/r3.der" && built=$((built + 1))
"$REQ" build -c "$T/repo/ca/ca.pem" -k "$T/k4.pem" -n p4 -x P4 -L "$T/s4.pem" -o "$T/r4.der" && built=$((built + 1))
[ "$built" = 4 ] || { bad "setup: scepreq build"; finish; }
chmod 644 "$T"/*.der
rcs=""
for n in 1 2 3 4; do cgi "$T/r$n.der" "$T/a$n.der"; rcs="$rcs$CGIRC"; done
check "the server as www-data exits 0 on each of the four requests ($rcs)" test "$rcs" = 0000
check "the server as www-data answers (static challenge: pending, manual approval)" \
    bash -c "'$REQ' read -c '$T/repo/ca/ca.pem' -k '$T/k1.pem' -S '$T/s1.pem' '$T/a1.der' | grep -q status=3"
ids=$(A list --state pending 2>>"$T/admin.log" | awk '{print $1}')
check "list --state pending (as root): three pending requests" test "$(wc -w <<<"$ids")" = 3
# shellcheck disable=SC2086
A approve $ids >/dev/null 2>>"$T/admin.log"; rc=$?
check "approve (as root): exit $rc" test "$rc" = 0
A issue >/dev/null 2>>"$T/admin.log"; rc=$?
check "issue (as root): exit $rc" test "$rc" = 0
first=$(awk -F'\t' 'NR == 1 {print $4}' "$T/repo/index.txt")
check "root ran approve/issue: three certificates issued" \
    test "$(find "$T/repo/certs" -name '*.pem' | wc -l)" = 3 -a -n "$first"
A revoke "$first" >/dev/null 2>>"$T/admin.log"; rc=$?
check "revoke $first (as root): exit $rc" test "$rc" = 0
A crl >/dev/null 2>>"$T/admin.log"; rc=$?
check "crl (as root): exit $rc" test "$rc" = 0
A check --repair >/dev/null 2>>"$T/admin.log"; rc=$?
check "check --repair (as root): exit $rc" test "$rc" = 0
nchal=$(find "$T/repo/challenges" -maxdepth 1 -type f | wc -l)
A mobileconfig --url http://127.0.0.1/scep >"$T/p.mobileconfig" 2>>"$T/admin.log"; rc=$?
check "mobileconfig (as root): exit $rc" test "$rc" = 0
check "every file of the repository is still owned by www-data" \
    test -z "$(find "$T/repo" ! -user www-data -print -o ! -group www-data -print)"
check "root ran mobileconfig: its challenge is stored, owned by www-data" \
    test "$(find "$T/repo/challenges" -maxdepth 1 -type f -user www-data | wc -l)" = $((nchal + 1))
check "the CA key is mode 0600" test "$(stat -c %a "$T/repo/ca/ca.key")" = 600
check "the ca/ directory is mode 0700" test "$(stat -c %a "$T/repo/ca")" = 700
check "another unprivileged user cannot read the CA key" \
    bash -c "! runuser -u nobody -- cat '$T/repo/ca/ca.key' >/dev/null 2>&1"
check "no challenge password in the server log" bash -c "! grep -qF -e '$STATIC' -e '$OTP' '$T/server.log'"
check "no challenge password in scep-admin's stderr" bash -c "! grep -qF -e '$STATIC' '$T/admin.log'"
# No file of a record holds a challenge in clear: csr.der is stored without its
# challengePassword attribute (repo-layout/README.md, "No challenge at rest").
check "no challenge password in any record file, listing or the challenge store" \
    bash -c "! grep -rqF -e '$STATIC' -e '$OTP' '$T/repo/pending' '$T/repo/approved' '$T/repo/issued' '$T/repo/rejected' '$T/repo/challenges' && ! '$ADMIN' -c '$T/scep.conf' list --json | grep -qF -e '$STATIC' -e '$OTP'"
check "record files are not world-readable" \
    test -z "$(find "$T/repo/pending" "$T/repo/approved" "$T/repo/issued" "$T/repo/rejected" -type f -perm /o+r)"
check "the server logged the wrong-challenge refusal" grep -q "challenge password refused" "$T/server.log"

# crl --out as root into a directory only root writes (the cron recipe of scep-admin(8))
mkdir -p "$T/www/pki"; chmod 755 "$T/www" "$T/www/pki"
n0=$(cat "$T/repo/crlnumber")
out=$(A crl --out "$T/www/pki/ca.crl" 2>&1); rc=$?
check "crl --out into a root-only directory, as root: exit 0 ($rc: $out)" test "$rc" = 0 -a \
    -n "$(grep -F "out: $T/www/pki/ca.crl" <<<"$out")"
check "... the file is the repository's new CRL, root's, 0644" bash -c "cmp -s '$T/repo/crl.pem' \
    '$T/www/pki/ca.crl' && test \"\$(stat -c '%U %a' '$T/www/pki/ca.crl')\" = 'root 644' &&
    openssl crl -in '$T/www/pki/ca.crl' -CAfile '$T/repo/ca/ca.pem' -noout 2>&1 | grep -q 'verify OK'"
check "... and the repository stays www-data's" test -z "$(find "$T/repo" ! -user www-data)"
n1=$(cat "$T/repo/crlnumber")
out=$(A crl --out "$T/www/missing/ca.crl" 2>&1); rc=$?
check "crl --out into a missing directory: exit 1, no CRL number used ($rc: $out)" test "$rc" = 1 -a \
    "$(cat "$T/repo/crlnumber")" = "$n1" -a "$n1" != "$n0"
finish
