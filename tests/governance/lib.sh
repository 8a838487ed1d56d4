# shellcheck shell=bash
# tests/governance/lib.sh: what the governance suites share (source it from bash after
# setting SUITE to the suite's name): the programs, a work directory $T removed on exit,
# PASS/FAIL bookkeeping, repositories (tests/lib/repo.sh: mkca sets C, R, CA), and
#   enroll NAME CHALLENGE   a PKCSReq for CN=NAME (transactionID NAME) as plain CGI from
#                           192.0.2.9, with a hostile HTTP_X_EVIL variable in the CGI
#                           environment; the reply read into $T/NAME.read (status=...),
#                           the certificate (if any) in $T/NAME.crt, the whole-second
#                           duration in SECS, the server's stderr appended to $T/server.log
#   idof NAME               the record id of CN=NAME
#   summary                 "SUITE: N passed, M failed", and the exit status
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SCEP=${SCEP_BIN:-$top/build/asan/scep}
ADMIN=${SCEP_ADMIN_BIN:-$top/build/asan/scep-admin}
REQ=$top/build/scepreq
for b in "$SCEP" "$ADMIN" "$REQ"; do
	[ -x "$b" ] || { echo "FAIL: prerequisites: $b not built (make all asan tools)"
		echo "$SUITE: 0 passed, 1 failed"; exit 1; }
done
T=$(mktemp -d "/tmp/scep-$SUITE.XXXXXX")
trap 'rm -rf "$T"' EXIT
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
pass=0; fail=0
ok()   { pass=$((pass + 1)); echo "PASS: $*"; }
bad()  { fail=$((fail + 1)); echo "FAIL: $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
summary() { echo "$SUITE: $pass passed, $fail failed"; [ "$fail" = 0 ]; }
. "$top/tests/lib/repo.sh"

enroll() {
	local t0
	SECS=0
	openssl genrsa -out "$T/$1.key" 2048 2>/dev/null
	"$REQ" build -c "$CA" -k "$T/$1.key" -L "$T/$1.self" -o "$T/$1.req" -n "$1" -p "$2" \
	    -x "$1" || return 1
	t0=$(date +%s%N)
	REQUEST_METHOD=POST QUERY_STRING=operation=PKIOperation HTTP_X_EVIL=leak \
	    CONTENT_LENGTH=$(stat -c %s "$T/$1.req") REMOTE_ADDR=192.0.2.9 SCEP_CONF=$C \
	    "$SCEP" <"$T/$1.req" >"$T/$1.raw" 2>>"$T/server.log"
	SECS=$(( ($(date +%s%N) - t0) / 1000000000 ))
	/usr/bin/python3 -c 'import sys; d=open(sys.argv[1],"rb").read(); open(sys.argv[2],"wb").write(d[d.find(b"\r\n\r\n")+4:])' \
	    "$T/$1.raw" "$T/$1.rep"
	"$REQ" read -c "$CA" -k "$T/$1.key" -S "$T/$1.self" -w "$T/$1.crt" "$T/$1.rep" \
	    >"$T/$1.read" 2>&1
}
idof() { "$ADMIN" -c "$C" list 2>/dev/null | awk -v cn="/CN=$1/" 'index($4 "/", cn) { print $1 }'; }
