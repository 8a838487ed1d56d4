#!/bin/bash
# Integration suite: the SCEP server behind real web servers, driven by real clients.
#
# For each flavour a fresh repository + CA (scep-admin init), a private web server on a
# free 127.0.0.1 port built from the shipped apache-conf/ file, then the client tests:
#   nginx       nginx + spawn-fcgi (3 workers)         apache-conf/nginx-scep.conf
#   fcgid       Apache + mod_fcgid                      apache-conf/apache-scep-fcgid.conf
#   proxy-fcgi  Apache + mod_proxy_fcgi + spawn-fcgi    apache-conf/apache-scep-proxy-fcgi.conf
#   cgi         Apache + mod_cgid, one process/request  apache-conf/apache-scep-cgi.conf
# then the server logs are searched for ASan/UBSan/LSan reports.
#
# Prints one PASS/FAIL line per test and "integration: N passed, M failed"; exits 1 on
# any failure. Work files: tests/out/ (kept when something failed, or with IT_KEEP=1).
#
# Knobs: IT_FLAVOURS="nginx fcgid proxy-fcgi cgi" (default), SCEP_BIN (server program,
# default build/asan/scep if built), SCEP_ADMIN, IT_TESTS="curl scepclient strongswan
# certmonger parallel", IT_PENDING_SCEPCLIENT="all" (flavours that run scepclient's
# 30-second PENDING case, e.g. "nginx"; default all).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"

FLAVOURS=${IT_FLAVOURS:-nginx fcgid proxy-fcgi cgi}
TESTS=${IT_TESTS:-curl scepclient strongswan certmonger parallel}
PENDING_SC=${IT_PENDING_SCEPCLIENT:-all}
START=$(date +%s)

# Interrupted: stop the running flavour (its trap stops servers, tests and clients).
interrupted() {
	trap - INT TERM
	if [ -s "$RUN/current.pid" ]; then
		kill -TERM "$(cat "$RUN/current.pid")" 2>/dev/null
	fi
	wait
	echo "integration: interrupted"
	exit 130
}

mkdir -p "$IT_TOP/tests/out"
RUN=$(mktemp -d "$IT_TOP/tests/out/run.XXXXXX")
chmod 755 "$RUN"
LOG=$RUN/summary.log
trap interrupted INT TERM

echo "integration: server $SCEP_BIN, admin $SCEP_ADMIN, run as $IT_RUN_USER, work dir ${RUN#"$IT_TOP"/}"

prereq_ok=1
for b in "$SCEP_BIN" "$SCEP_ADMIN"; do
	[ -x "$b" ] || { echo "FAIL: prerequisites: $b not built (run make)"; prereq_ok=0; }
done
for c in nginx apache2 spawn-fcgi curl scepclient pki getcert dbus-run-session openssl; do
	command -v "$c" >/dev/null || { echo "FAIL: prerequisites: $c missing (scripts/install-deps)"; prereq_ok=0; }
done
if [ "$prereq_ok" = 0 ]; then
	echo "integration: 0 passed, 1 failed"
	exit 1
fi

# One flavour, in a subshell with its own cleanup trap. Output: PASS/FAIL lines.
run_flavour() {
	local fl=$1 t rc sc_pending=0 t0
	t0=$(date +%s)
	IT_PREFIX="$fl: "
	it_init "$(basename "$RUN")/$fl"
	export IT_PREFIX
	if ! it_make_repo "$IT_DIR/ca" "it-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')" YES; then
		fail "setup: repository + CA"; return 1
	fi
	local logs=""
	case $fl in
	nginx)
		it_start_fcgi "$SCEP_CONF" 3 && it_start_nginx "$SCEP_CONF" ||
			{ fail "setup: spawn-fcgi + nginx"; return 1; }
		logs="$IT_FCGI_LOGS $IT_SERVER_LOGS" ;;
	fcgid | cgi)
		it_start_apache "$fl" "$SCEP_CONF" || { fail "setup: Apache ($fl)"; return 1; }
		logs="$IT_SERVER_LOGS" ;;
	proxy-fcgi)
		it_start_fcgi "$SCEP_CONF" 2 && it_start_apache proxy-fcgi "$SCEP_CONF" ||
			{ fail "setup: spawn-fcgi + Apache (proxy-fcgi)"; return 1; }
		logs="$IT_FCGI_LOGS $IT_SERVER_LOGS" ;;
	*) fail "unknown flavour $fl"; return 1 ;;
	esac
	pass "setup: $fl on $IT_URL"
	export SCEP_URL=$IT_URL

	case " $PENDING_SC " in *" all "* | *" $fl "*) sc_pending=1 ;; esac
	for t in $TESTS; do
		local ts=$(date +%s)
		# in the background + wait, so that a TERM/INT trap runs at once (it_stop_all
		# also stops the test, whose own trap stops its clients)
		IT_OUT_BASE=$IT_DIR IT_SCEPCLIENT_PENDING=$sc_pending IT_PREFIX="$fl/$t: " \
			bash "$HERE/t-$t.sh" >"$IT_DIR/t-$t.out" 2>"$IT_DIR/t-$t.err" </dev/null &
		local tpid=$!
		it_track "$tpid"
		wait "$tpid"
		rc=$?
		IT_PIDS=${IT_PIDS/ $tpid/}
		grep -E '^(PASS|FAIL): ' "$IT_DIR/t-$t.out"
		if [ "$rc" != 0 ] && ! grep -q '^FAIL: ' "$IT_DIR/t-$t.out"; then
			fail "$t: t-$t.sh exited $rc without a FAIL line"
		fi
		if grep -q '^FAIL: ' "$IT_DIR/t-$t.out"; then
			sed 's/^/    /' "$IT_DIR/t-$t.err" | tail -n 40
		fi
		echo "    ($t: $(( $(date +%s) - ts )) s)"
	done

	# The repository is consistent after all that (scep-admin check exits 0)
	if it_admin check >"$IT_DIR/check.txt" 2>&1; then pass "scep-admin check: repository consistent"
	else fail "scep-admin check: repository consistent" "$(head -n 3 "$IT_DIR/check.txt" | tr '\n' ' ')"; fi

	# Server still alive and the workers did not die along the way
	if curl -s -o /dev/null -w '%{http_code}' "$SCEP_URL?operation=GetCACaps" | grep -qx 200; then
		pass "server still answering after all tests"
	else
		fail "server still answering after all tests"
	fi
	it_stop_all
	# shellcheck disable=SC2086
	if it_check_sanitizer_logs $logs 2>"$IT_DIR/sanitizer.txt"; then
		pass "no ASan/UBSan/LSan report in the server logs"
	else
		fail "no ASan/UBSan/LSan report in the server logs" "see $IT_DIR/sanitizer.txt"
		head -n 30 "$IT_DIR/sanitizer.txt" | sed 's/^/    /'
	fi
	echo "    ($fl: $(( $(date +%s) - t0 )) s; logs: ${IT_DIR#"$IT_TOP"/})"
}

for fl in $FLAVOURS; do
	echo "== $fl"
	# background + wait: the INT/TERM trap below can then act at once
	( echo "$BASHPID" >"$RUN/current.pid"; run_flavour "$fl" ) 2>&1 | tee -a "$LOG" &
	wait $!
	rm -f "$RUN/current.pid"
done

pass_n=$(grep -c '^PASS: ' "$LOG")
fail_n=$(grep -c '^FAIL: ' "$LOG")
echo "    (total $(( $(date +%s) - START )) s)"
for fl in $FLAVOURS; do
	echo "    $fl: $(grep -c "^PASS: $fl[:/]" "$LOG") passed, $(grep -c "^FAIL: $fl[:/]" "$LOG") failed"
done
if [ "$fail_n" = 0 ] && [ -z "${IT_KEEP:-}" ]; then rm -rf "$RUN"; fi
echo "integration: $pass_n passed, $fail_n failed"
[ "$fail_n" = 0 ] && [ "$pass_n" -gt 0 ]
