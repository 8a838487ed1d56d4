#!/bin/bash
# Integration suite: the SCEP server behind real web servers, driven by real clients.
#
# A run is FLAVOUR/SHAPE:LEVEL. Each run gets fresh repositories and CAs of that SHAPE and
# private web servers on free 127.0.0.1 ports built from the shipped apache-conf/ file:
#   nginx       nginx + scep --workers 3                apache-conf/nginx-scep.conf
#   fcgid       Apache + mod_fcgid                      apache-conf/apache-scep-fcgid.conf
#   proxy-fcgi  Apache + mod_proxy_fcgi + spawn-fcgi    apache-conf/apache-scep-proxy-fcgi.conf
#   cgi         Apache + mod_cgid, one process/request  apache-conf/apache-scep-cgi.conf
# CA shapes (tests/integration/lib.sh it_make_repo):
#   self          scep-admin init: self-signed CA
#   intermediate  root + intermediate made with openssl, scep-admin import --chain root.pem
#   ra            scep-admin init --ra-subject: an RA answers SCEP for the CA
# Two server instances per run: "main" (ScepAutoApprove = YES: renewals issued at once)
# and "manual" (ScepAutoApprove = NO: renewals wait for scep-admin approve), both with
# ScepAutoApproveEnrollment = YES and the same challenge.
# LEVEL says which cases run (the clients' own files list every case):
#   full   curl; scepclient with its two 30-second PENDING cases (enrollment, renewal);
#          strongSwan with every cipher x digest x padding; certmonger; 6 parallel clients
#   shape  curl; scepclient without PENDING cases; strongSwan with 4 cipher/digest/padding
#          combinations; certmonger (no -N for intermediate and RA CAs)
#   basic  shape + the 6 parallel clients
# followed by ",pending" (scepclient's PENDING cases) or ",matrix" (the full strongSwan
# matrix) to add those.
# Every level runs the renewal cases (auto-approved, approved after pending, SeaCat
# same-key renewal, third certificate refused, revoked certificate refused) but those
# that need a 30-second scepclient wait. After each run: scep-admin check on both
# repositories, the server still answers, no ASan/UBSan/LSan report in the server logs.
#
# Prints one PASS/FAIL line per check, what ran where, timings, and last
# "integration: N passed, M failed"; exits 1 on any failure. Work files: tests/out/ (kept
# when something failed, or with IT_KEEP=1; see lib.sh for a checkout the run user cannot
# reach).
#
# Knobs: IT_RUNS (default "nginx/self:full nginx/intermediate:shape nginx/ra:shape
# fcgid/self:basic proxy-fcgi/self:basic cgi/self:basic,pending"), IT_FLAVOURS (keep only the runs
# of these flavours), IT_JOBS (runs at the same time, default 2), IT_TESTS (restrict the
# client tests: curl scepclient strongswan certmonger parallel), SCEP_BIN (server program,
# default build/asan/scep if built), SCEP_ADMIN.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"

RUNS=${IT_RUNS:-nginx/self:full nginx/intermediate:shape nginx/ra:shape fcgid/self:basic proxy-fcgi/self:basic cgi/self:basic,pending}
JOBS=${IT_JOBS:-2}
if [ -n "${IT_FLAVOURS:-}" ]; then
	keep=""
	for r in $RUNS; do
		case " $IT_FLAVOURS " in *" ${r%%/*} "*) keep="$keep $r" ;; esac
	done
	RUNS=$keep
fi
START=$(date +%s)

RUN=$(mktemp -d "$IT_OUTDIR/run.XXXXXX")
chmod 755 "$RUN"
LOG=$RUN/summary.log
: >"$LOG"

# Interrupted: stop the running runs (each one's trap stops its servers and clients).
interrupted() {
	trap - INT TERM
	local f
	for f in "$RUN"/*.pid; do [ -s "$f" ] && kill -TERM "$(cat "$f")" 2>/dev/null; done
	wait
	echo "integration: interrupted"
	exit 130
}
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

# level_tests LEVEL[,pending][,matrix]: the client tests of a level, and the knobs passed
# to them (pending: scepclient's 30-second PENDING cases; matrix: strongSwan's full matrix)
level_tests() {
	local t m
	case ${1%%,*} in
	full)  t="curl scepclient strongswan certmonger parallel"; L_PENDING=1 L_MATRIX=full ;;
	shape) t="curl scepclient strongswan certmonger"; L_PENDING=0 L_MATRIX=basic ;;
	basic) t="curl scepclient strongswan certmonger parallel"; L_PENDING=0 L_MATRIX=basic ;;
	*) return 1 ;;
	esac
	for m in $(echo "${1#"${1%%,*}"}" | tr ',' ' '); do
		case $m in pending) L_PENDING=1 ;; matrix) L_MATRIX=full ;; *) return 1 ;; esac
	done
	L_TESTS=""
	for x in $t; do
		case " ${IT_TESTS:-$t} " in *" $x "*) L_TESTS="$L_TESTS $x" ;; esac
	done
}
level_text() {
	level_tests "$1"
	local x out=""
	for x in $L_TESTS; do
		case $x in
		scepclient) [ "$L_PENDING" = 1 ] && x="scepclient(+30 s PENDING cases)" ;;
		strongswan) [ "$L_MATRIX" = full ] && x="strongswan(all ciphers x digests x paddings)" ;;
		esac
		out="$out $x"
	done
	echo "${out# }"
}

echo "integration: runs (flavour/CA shape: client tests; every run also renews with each client):"
for r in $RUNS; do
	printf '    %-24s %s\n' "${r%%:*}" "$(level_text "${r#*:}")"
done

# One run, in a subshell with its own cleanup trap. Output: PASS/FAIL lines.
run_one() {
	local spec=$1 name=${1%%:*} level=${1#*:} fl shape t rc t0 ts tpid chal
	fl=${name%%/*} shape=${name#*/}
	t0=$(date +%s)
	IT_PREFIX="$name: "
	export IT_PREFIX
	it_init "$(basename "$RUN")/${name//\//-}"
	if ! level_tests "$level"; then fail "unknown level in $spec"; return 1; fi
	chal="it-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
	if ! it_make_repo "$IT_DIR/ca-manual" "$chal" YES "$shape" "ScepAutoApprove = NO"; then
		fail "setup: $shape CA (manual)"; return 1
	fi
	local mconf=$SCEP_CONF mrepo=$SCEP_REPO
	if ! it_make_repo "$IT_DIR/ca" "$chal" YES "$shape" "ScepAutoApprove = YES"; then
		fail "setup: $shape CA"; return 1
	fi
	IT_ALL_LOGS=""
	it_server "$fl" "$mconf" srv-manual || { fail "setup: $fl (manual)"; return 1; }
	local murl=$IT_URL
	it_server "$fl" "$SCEP_CONF" srv || { fail "setup: $fl"; return 1; }
	# set-up is not a check: it says where things run, it counts as nothing
	echo "    setup: $shape CA behind $fl on $IT_URL (+ ScepAutoApprove=NO on $murl)"
	export SCEP_URL=$IT_URL IT_MANUAL_URL=$murl IT_MANUAL_CONF=$mconf IT_MANUAL_REPO=$mrepo

	for t in $L_TESTS; do
		ts=$(date +%s)
		# in the background + wait, so that a TERM/INT trap runs at once (it_stop_all
		# also stops the test, whose own trap stops its clients)
		IT_OUT_BASE=$IT_DIR IT_SCEPCLIENT_PENDING=$L_PENDING IT_SW_MATRIX=$L_MATRIX \
			IT_PREFIX="$name/$t: " \
			bash "$HERE/t-$t.sh" >"$IT_DIR/t-$t.out" 2>"$IT_DIR/t-$t.err" </dev/null &
		tpid=$!
		it_track "$tpid"
		wait "$tpid"
		rc=$?
		IT_PIDS=${IT_PIDS/ $tpid/}
		grep -E '^(PASS|FAIL|SKIP): ' "$IT_DIR/t-$t.out"
		if [ "$rc" != 0 ] && ! grep -q '^FAIL: ' "$IT_DIR/t-$t.out"; then
			fail "$t: t-$t.sh exited $rc without a FAIL line"
		fi
		if grep -q '^FAIL: ' "$IT_DIR/t-$t.out"; then
			sed 's/^/    /' "$IT_DIR/t-$t.err" | tail -n 40
		fi
		echo "    ($name/$t: $(( $(date +%s) - ts )) s)"
	done

	# The repositories are consistent after all that (scep-admin check exits 0)
	local c
	for c in "$SCEP_CONF" "$mconf"; do
		if SCEP_CONF=$c it_admin check >"$IT_DIR/check.txt" 2>&1; then
			pass "scep-admin check: repository consistent (${c#"$IT_DIR"/})"
		else
			fail "scep-admin check: repository consistent (${c#"$IT_DIR"/})" "$(head -n 3 "$IT_DIR/check.txt" | tr '\n' ' ')"
		fi
	done

	# Server still alive and the workers did not die along the way
	if curl -s -o /dev/null -w '%{http_code}' "$SCEP_URL?operation=GetCACaps" | grep -qx 200; then
		pass "server still answering after all tests"
	else
		fail "server still answering after all tests"
	fi
	it_stop_all
	# shellcheck disable=SC2086
	if it_check_sanitizer_logs $IT_ALL_LOGS 2>"$IT_DIR/sanitizer.txt"; then
		pass "no ASan/UBSan/LSan report in the server logs"
	else
		fail "no ASan/UBSan/LSan report in the server logs" "see $IT_DIR/sanitizer.txt"
		head -n 30 "$IT_DIR/sanitizer.txt" | sed 's/^/    /'
	fi
	echo "    ($name: $(( $(date +%s) - t0 )) s; logs: ${IT_DIR#"$IT_TOP"/})"
}

# One pool of client keys for all runs (keys need only be unique within a repository):
# t-strongswan.sh takes 1..40, t-parallel.sh 41..46, t-scepclient.sh 51..56.
IT_KEYPOOL=$RUN/keys
export IT_KEYPOOL
it_keypool "$IT_KEYPOOL" 56 >/dev/null 2>&1 </dev/null &
KEYPOOL_PID=$!

# Up to $JOBS runs at once, each writing to its own file; the files are printed in the
# order of $RUNS as soon as a run and all runs before it are done.
n=0 printed=0
declare -a SPEC
for r in $RUNS; do SPEC[n]=$r; n=$((n + 1)); done
next=0 running=0
print_done() {
	while [ "$printed" -lt "$n" ] && [ -e "$RUN/$printed.done" ]; do
		echo "== ${SPEC[printed]}"
		cat "$RUN/$printed.out"
		cat "$RUN/$printed.out" >>"$LOG"
		printed=$((printed + 1))
	done
}
while [ "$printed" -lt "$n" ]; do
	while [ "$running" -lt "$JOBS" ] && [ "$next" -lt "$n" ]; do
		( echo "$BASHPID" >"$RUN/$next.pid"; run_one "${SPEC[next]}" >"$RUN/$next.out" 2>&1
		  rm -f "$RUN/$next.pid"; : >"$RUN/$next.done" ) &
		next=$((next + 1)) running=$((running + 1))
	done
	wait -n 2>/dev/null
	running=0
	for ((i = 0; i < next; i++)); do [ -e "$RUN/$i.done" ] || running=$((running + 1)); done
	print_done
	[ "$running" -eq 0 ] && [ "$next" -ge "$n" ] && print_done
done

it_kill_wait "$KEYPOOL_PID"
pass_n=$(grep -c '^PASS: ' "$LOG")
fail_n=$(grep -c '^FAIL: ' "$LOG")
skip_n=$(grep -c '^SKIP: ' "$LOG")
echo "    (total $(( $(date +%s) - START )) s, $JOBS runs at a time)"
for r in $RUNS; do
	name=${r%%:*}
	printf '    %-24s %3d passed, %d failed  (%s)\n' "$name:" "$(grep -c "^PASS: ${name}[:/]" "$LOG")" \
		"$(grep -c "^FAIL: ${name}[:/]" "$LOG")" "$(sed -n "s|^    ($name: \([0-9]* s\);.*|\1|p" "$LOG")"
done
if [ "$fail_n" = 0 ] && [ -z "${IT_KEEP:-}" ]; then rm -rf "$RUN"; fi
echo "integration: $pass_n passed, $fail_n failed, $skip_n skipped"
[ "$fail_n" = 0 ] && [ "$pass_n" -gt 0 ]
