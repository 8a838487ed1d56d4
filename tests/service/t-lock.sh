#!/bin/bash
# The repository lock a script must take (repo-layout/README.md, "Holding the lock from a
# script"), through the real programs: while the documented python3 recipe holds the
# fcntl() lock on .lock, an enrollment (the scep program as CGI) waits, and completes once
# the lock is released; while flock(1) holds .lock, the same enrollment does not wait.
# Prints PASS/FAIL lines and "lock: N passed, M failed".
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
ADMIN=$TOP/scep-admin SCEP=$TOP/cgi-bin/scep REQ=$TOP/build/scepreq
pass=0 fail=0
ok()  { pass=$((pass + 1)); echo "PASS: $*"; }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
for b in "$ADMIN" "$SCEP" "$REQ"; do
	[ -x "$b" ] || { bad "prerequisites: $b (make all tools)"; echo "lock: $pass passed, $fail failed"; exit 1; }
done
T=$(mktemp -d /tmp/scep-lock.XXXXXX)
HOLDER=""
trap '[ -n "$HOLDER" ] && kill "$HOLDER" 2>/dev/null; rm -rf "$T"' EXIT
printf 'ScepRepository = %s/repo\nScepChallengePassword = pw\nScepAutoApproveEnrollment = YES\n' "$T" >"$T/scep.conf"
"$ADMIN" -c "$T/scep.conf" init --subject "/CN=Lock CA" >/dev/null || { bad "setup: init"; exit 1; }

# the recipe's program, taken from the documentation itself
prog=$(awk '/^python3 -c .import fcntl/ { on = 1; sub(/^python3 -c ./, "") }
	on { if (/^sys.exit\(subprocess.call\(sys.argv\[2:\]\)\)./) { sub(/. \/var\/lib\/scep.*$/, ""); print; exit } print }' \
	"$TOP/repo-layout/README.md")
case $prog in *fcntl.lockf*subprocess.call*) ;; *) bad "the recipe is in repo-layout/README.md" "$prog" ;; esac
while IFS= read -r l; do
	grep -qF -- "$l" "$TOP/man/scep-admin.8" || { bad "scep-admin(8) shows the same recipe" "missing: $l"; break; }
done <<<"$prog"

# The requests are made before any lock is taken: key generation takes seconds on a busy
# machine, longer than the holders below hold the lock.
for n in 1 2; do
	openssl genrsa -out "$T/k$n.pem" 2048 2>/dev/null
	"$REQ" build -c "$T/repo/ca/ca.pem" -k "$T/k$n.pem" -n lock-$n -p pw -x LOCK$n -L "$T/s$n.pem" -o "$T/r$n.der"
done
n=0
enroll() {	# background CGI enrollment of request n+1; sets EPID, writes $T/out.$n
	n=$((n + 1))
	REQUEST_METHOD=POST QUERY_STRING=operation=PKIOperation CONTENT_LENGTH=$(stat -c %s "$T/r$n.der") \
		SCEP_CONF=$T/scep.conf "$SCEP" <"$T/r$n.der" >"$T/out.$n" 2>"$T/err.$n" &
	EPID=$!
}
issued() { [ "$(ls "$T/repo/certs" | grep -c '\.pem$')" -ge "$1" ]; }

# 1. the documented fcntl() lock holds the server off
/usr/bin/python3 -c "$prog" "$T/repo" sleep 4 &
HOLDER=$!
sleep 0.5
enroll
sleep 2
if kill -0 "$EPID" 2>/dev/null && ! issued 1; then
	ok "while the recipe holds .lock (fcntl), an enrollment waits"
else
	bad "while the recipe holds .lock (fcntl), an enrollment waits"
fi
wait "$HOLDER"; HOLDER=""
wait "$EPID"
issued 1 && grep -q '^Status: 200' "$T/out.1" && ok "once the recipe's command ends, the enrollment completes" ||
	bad "once the recipe's command ends, the enrollment completes" "$(cat "$T/err.1")"

# 2. flock(1) does not
flock "$T/repo/.lock" sleep 6 &
HOLDER=$!
sleep 0.5
enroll
done=0
for _ in $(seq 40); do kill -0 "$EPID" 2>/dev/null || { done=1; break; }; sleep 0.1; done
if [ "$done" = 1 ] && kill -0 "$HOLDER" 2>/dev/null && issued 2; then
	ok "while flock(1) holds .lock, the enrollment does not wait (flock is not the server's lock)"
else
	bad "while flock(1) holds .lock, the enrollment does not wait"
fi
kill "$HOLDER" 2>/dev/null; wait "$HOLDER" 2>/dev/null; HOLDER=""
echo "lock: $pass passed, $fail failed"
[ "$fail" = 0 ]
