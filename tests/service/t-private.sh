#!/bin/bash
# A checkout in a private directory (mode 0700 parent, as a clone under /root is): the
# server user (www-data) cannot reach anything in it, yet as root
#   - `make demo` serves, scepclient enrolls against it, and stopping the demo stops
#     everything it started;
#   - an integration run (nginx + the worker pool, curl and scepclient) and the
#     least-privilege suite pass there.
# The copy carries this tree's files and build (timestamps kept, so nothing is rebuilt).
# Needs root (reports a skip otherwise). Prints PASS/FAIL lines and
# "private: N passed, M failed".
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
pass=0 fail=0
ok()  { pass=$((pass + 1)); echo "PASS: $*"; }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
if [ "$(id -u)" != 0 ] || ! id www-data >/dev/null 2>&1; then
	echo "SKIP: needs root and a www-data user"; echo "private: 0 passed, 0 failed, 1 skipped"; exit 0
fi
port_busy() {
	awk -v p="$(printf '%04X' "$1")" '$4 == "0A" && toupper($2) ~ (":" p "$") { f = 1 } END { exit !f }' \
		/proc/net/tcp /proc/net/tcp6 2>/dev/null
}

P=$(mktemp -d /tmp/scep-private.XXXXXX)	# mode 0700
C=$P/scep
DEMO_PGID=""
cleanup() {
	local t
	if [ -n "$DEMO_PGID" ]; then
		kill -TERM -- "-$DEMO_PGID" 2>/dev/null
		for _ in $(seq 100); do kill -0 -- "-$DEMO_PGID" 2>/dev/null || break; sleep 0.1; done
	fi
	for t in "$C/demo" "$C/tests/out"; do
		t=$(readlink "$t" 2>/dev/null) && case $t in /var/tmp/scep-*) rm -rf "$t" ;; esac
	done
	rm -rf "$P"
}
trap cleanup EXIT
trap 'bad interrupted; exit 1' INT TERM

mkdir "$C"
(cd "$TOP" && git ls-files -co --exclude-standard -z | xargs -0 cp -a --parents -t "$C" &&
	cp -a --parents build cgi-bin/scep scep-admin "$C") || { bad "copy of the tree"; exit 1; }
if setpriv --reuid=www-data --regid=www-data --init-groups -- test -x "$C"; then
	bad "the copy is out of www-data's reach (mode $(stat -c %a "$P") parent)"
else
	ok "the copy in $C is out of www-data's reach (parent mode $(stat -c %a "$P"))"
fi

# ---- make demo
PORT=$(for _ in $(seq 50); do p=$(shuf -i 20000-60999 -n 1); port_busy "$p" || { echo "$p"; break; }; done)
setsid make -C "$C" demo PORT="$PORT" >"$P/demo.log" 2>&1 </dev/null &
DEMO_PGID=$!
URL=http://127.0.0.1:$PORT/scep
up=0
for _ in $(seq 600); do
	[ "$(curl -s -o /dev/null -w '%{http_code}' "$URL?operation=GetCACaps")" = 200 ] && { up=1; break; }
	kill -0 "$DEMO_PGID" 2>/dev/null || break
	sleep 0.1
done
if [ "$up" = 1 ]; then
	ok "make demo serves on $URL"
else
	bad "make demo serves" "$(tail -n 8 "$P/demo.log")"
fi
case $(readlink "$C/demo") in
/var/tmp/scep-demo.*) ok "demo/ links to $(readlink "$C/demo"), which www-data reaches" ;;
*) bad "demo/ links to a directory under /var/tmp" "$(ls -ld "$C/demo")" ;;
esac
if [ "$up" = 1 ]; then
	mkdir -p "$P/client"
	if timeout 120 scepclient -server-url "$URL" -private-key "$P/client/key.pem" -certificate "$P/client/cert.pem" \
		-cn private-demo -challenge "$(cat "$C/demo/challenge")" >"$P/client/log" 2>&1 &&
		openssl verify -CAfile "$C/demo/ca.pem" "$P/client/cert.pem" >/dev/null 2>&1; then
		ok "scepclient enrolls with the demo (the printed recipe), openssl verifies"
	else
		bad "scepclient enrolls with the demo" "$(tail -n 3 "$P/client/log")"
	fi
fi
npid=$(cat "$C/demo/run/nginx/nginx.pid" 2>/dev/null)
kill -TERM -- "-$DEMO_PGID" 2>/dev/null
stopped=0
for _ in $(seq 200); do kill -0 -- "-$DEMO_PGID" 2>/dev/null || { stopped=1; break; }; sleep 0.1; done
DEMO_PGID=""
[ "$stopped" = 1 ] && { [ -z "$npid" ] || ! kill -0 "$npid" 2>/dev/null; } && [ ! -e "$C/demo/run/scep.sock" ] &&
	ok "stopping the demo stops nginx and the worker pool" ||
	bad "stopping the demo stops nginx and the worker pool" "nginx $npid, $(ls "$C/demo/run" 2>&1 | tr '\n' ' ')"

# ---- suites from the private copy
if (cd "$C" && IT_RUNS="nginx/self:shape" IT_TESTS="curl scepclient" tests/integration/run-all.sh) \
	>"$P/it.log" 2>&1; then
	ok "integration run nginx/self (curl, scepclient) from the private copy: $(tail -n 1 "$P/it.log")"
else
	bad "integration run nginx/self (curl, scepclient) from the private copy" "$(grep -E '^FAIL|lib.sh' "$P/it.log" | head -n 5)"
fi
case $(readlink "$C/tests/out") in
/var/tmp/scep-tests.*) ok "tests/out links to $(readlink "$C/tests/out")" ;;
*) bad "tests/out links to a directory under /var/tmp" "$(ls -ld "$C/tests/out")" ;;
esac
if (cd "$C" && tests/admin/t-privilege.sh) >"$P/priv.log" 2>&1; then
	ok "least-privilege suite from the private copy: $(tail -n 1 "$P/priv.log")"
else
	bad "least-privilege suite from the private copy" "$(grep '^FAIL' "$P/priv.log" | head -n 3)"
fi
echo "private: $pass passed, $fail failed"
[ "$fail" = 0 ]
