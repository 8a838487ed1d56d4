#!/bin/bash
# The valgrind leg of `make check`: unit tests built without sanitizers, and the server
# program itself run as plain CGI on a GetCACaps, a GetCACert, an enrollment and a bad
# request, all under memcheck with leak checking. Any error fails.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
VG=(valgrind -q --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect
    --errors-for-leak-kinds=definite,indirect)
pass=0; fail=0
for t in "$@"; do
	if "${VG[@]}" "$t" >/tmp/vg.$$.out 2>&1; then
		pass=$((pass + 1)); echo "PASS: valgrind $(basename "$t")"
	else
		fail=$((fail + 1)); echo "FAIL: valgrind $(basename "$t")"; tail -30 /tmp/vg.$$.out
	fi
done
rm -f /tmp/vg.$$.out

T=$(mktemp -d /tmp/scep-vg.XXXXXX)
trap 'rm -rf "$T"' EXIT
printf 'ScepRepository = %s/repo\nScepChallengePassword = pw\nScepAutoApproveEnrollment = YES\n' \
    "$T" >"$T/scep.conf"
"$top/scep-admin" -c "$T/scep.conf" init --subject "/CN=Valgrind CA" >/dev/null
openssl genrsa -out "$T/k.pem" 2048 2>/dev/null
"$top/build/scepreq" build -c "$T/repo/ca/ca.pem" -k "$T/k.pem" -n vg -p pw -x VG1 -e des-cbc \
    -d sha1 -L "$T/self.pem" -o "$T/req.der"
head -c 700 "$T/req.der" >"$T/bad.der"
cgi() {	# name method query [body]
	local body=${4:-/dev/null}
	if REQUEST_METHOD=$2 QUERY_STRING=$3 CONTENT_LENGTH=$(stat -c %s "$body") \
	    SCEP_CONF=$T/scep.conf "${VG[@]}" "$top/cgi-bin/scep" <"$body" >"$T/out" 2>"$T/err" &&
	    ! grep -q '^==' "$T/err"; then
		pass=$((pass + 1)); echo "PASS: valgrind scep $1"
	else
		fail=$((fail + 1)); echo "FAIL: valgrind scep $1"; tail -30 "$T/err"
	fi
}
cgi GetCACaps GET operation=GetCACaps
cgi GetCACert GET 'operation=GetCACert&message=x'
cgi PKCSReq POST operation=PKIOperation "$T/req.der"
cgi truncated POST operation=PKIOperation "$T/bad.der"
cgi GET-PKIOperation GET "operation=PKIOperation&message=$(base64 -w0 "$T/req.der" | sed 's/+/%2B/g;s/=/%3D/g')"
echo "valgrind: $pass passed, $fail failed"
[ "$fail" = 0 ]
