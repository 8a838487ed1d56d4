# shellcheck shell=bash
# tests/load/common.sh: what load.sh, crash.sh, fulldisk.sh and bench.sh share. Sourced
# after tests/integration/lib.sh (servers, repository, PASS/FAIL bookkeeping), which it
# extends:
#   la_timeout SECONDS "$@"     re-exec the calling script under timeout(1), once
#   la_init NAME                it_init + traps that also stop our own processes
#   la_prereq CMD...            FAIL and exit when a program or the Python stdlib is missing
#   la_admin ARGS...            scep-admin as the repository owner, exec'd (its pid is
#                               scep-admin's, so kill -9 hits it; runuser would fork)
#   la_prepare DIR N ARGS...    keys and request files (loadgen.py prepare)
#   la_admin_loop DIR [KILL]    approve + issue over pending records until DIR/stop exists;
#                               with KILL=1 some commands are killed with SIGKILL mid-way
#   la_check_repo NAME [REPAIR] scep-admin check (once it exists), else verify's checks
#   la_pids_track PID...        processes la_stop stops (besides lib.sh's)
#   la_supervise DIR W CONF     W workers of $SCEP_BIN under its own supervisor (--workers), which
#                               restarts any that die (spawn-fcgi does not)
#   la_killer PIDFILE MS STOP COUNT  SIGKILL a random worker every ~MS ms until STOP exists
#   la_fig FILE KEY             a value from a loadgen JSON summary
# Knobs: LOAD_PYTHON (default /usr/bin/python3), SCEPREQ (default build/scepreq),
# SCEP_BIN / SCEP_ADMIN as in lib.sh (the load tests default to the sanitizer builds).

LA_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LA_TOP=$(cd "$LA_HERE/../.." && pwd)

# Sanitizer builds by default for the correctness tests; bench.sh overrides before sourcing.
if [ -z "${SCEP_ADMIN:-}" ] && [ -x "$LA_TOP/build/asan/scep-admin" ]; then
	SCEP_ADMIN=$LA_TOP/build/asan/scep-admin
elif [ -z "${SCEP_ADMIN:-}" ]; then
	echo "SKIP: sanitizer checks of scep-admin: build/asan/scep-admin not built (make asan)" >&2
fi
. "$LA_TOP/tests/integration/lib.sh"

: "${LOAD_PYTHON:=/usr/bin/python3}"
: "${SCEPREQ:=$LA_TOP/build/scepreq}"
case $SCEPREQ in /*) ;; *) SCEPREQ=$PWD/$SCEPREQ ;; esac
LA_GEN=$LA_HERE/loadgen.py
LA_PIDS=""
LA_MOUNTS=""
LA_NAME=load

la_timeout() {
	local t=$1; shift
	if [ -z "${LA_UNDER_TIMEOUT:-}" ]; then
		export LA_UNDER_TIMEOUT=$t
		exec timeout -k 20 "$t" bash "$@"
	fi
}

la_pids_track() { LA_PIDS="$LA_PIDS $*"; }

# Stop our own processes (by pid), then lib.sh's servers, then unmount what we mounted.
la_stop() {
	local m
	[ -n "${LA_STOPFILE:-}" ] && [ -d "${LA_STOPFILE%/*}" ] && : >"$LA_STOPFILE"
	# shellcheck disable=SC2086
	[ -n "${LA_PIDS// }" ] && it_kill_wait $LA_PIDS
	LA_PIDS=""
	it_stop_all
	for m in $LA_MOUNTS; do
		mountpoint -q "$m" && { umount "$m" 2>/dev/null || umount -l "$m"; }
	done
	LA_MOUNTS=""
}

la_interrupted() {
	trap - INT TERM
	echo "FAIL: $LA_NAME interrupted or out of time (limit ${LA_UNDER_TIMEOUT:-?} s)"
	la_stop
	echo "$LA_NAME: $IT_PASS passed, $((IT_FAIL + 1)) failed"
	exit 1
}

la_init() {
	LA_NAME=$1
	it_init "$1"
	trap 'la_stop' EXIT
	trap 'la_interrupted' INT TERM
	# shellcheck disable=SC2034  # read by the scripts that source this file
	LA_T0=$(date +%s)
}

la_prereq() {
	local c ok=1
	for c in "$@"; do
		case $c in
		/*) [ -x "$c" ] || { echo "FAIL: prerequisites: $c not built (make all asan tools)"; ok=0; } ;;
		*) command -v "$c" >/dev/null || { echo "FAIL: prerequisites: $c missing (scripts/install-deps)"; ok=0; } ;;
		esac
	done
	if ! "$LOAD_PYTHON" -c 'import http.client, json, hashlib, concurrent.futures' 2>/dev/null; then
		echo "FAIL: prerequisites: $LOAD_PYTHON without its standard library (apt-get install python3)"
		ok=0
	fi
	if [ "$ok" = 0 ]; then
		echo "$LA_NAME: 0 passed, 1 failed"
		exit 1
	fi
}

la_admin() { ( la_admin_exec "$@" ); }
la_admin_exec() {
	if [ "$(id -un)" != "$IT_RUN_USER" ]; then
		exec setpriv --reuid="$IT_RUN_USER" --regid="$IT_RUN_GROUP" --init-groups -- \
			"$SCEP_ADMIN" -c "$SCEP_CONF" "$@"
	fi
	exec "$SCEP_ADMIN" -c "$SCEP_CONF" "$@"
}

la_prepare() {
	local dir=$1 n=$2; shift 2
	mkdir -p "$dir"
	"$LOAD_PYTHON" "$LA_GEN" prepare --ca "$SCEP_REPO/ca/ca.pem" --scepreq "$SCEPREQ" \
		--out "$dir" -n "$n" "$@"
}

# la_supervise DIR W CONF: socket DIR/scep.sock (IT_FCGI_SOCK), worker stderr in
# DIR/stderr.log (IT_FCGI_LOGS), the live workers' pids in DIR/pids, and when the
# supervisor stops, how many workers it restarted in DIR/respawned. Sets LA_SUP_PID.
la_supervise() {
	local F=$1 w=$2 conf=$3 i
	mkdir -p "$F"; chmod 755 "$F"
	chown "$IT_RUN_USER:$IT_RUN_GROUP" "$F"
	IT_FCGI_SOCK=$F/scep.sock
	IT_FCGI_LOGS=$F/stderr.log
	rm -f "$IT_FCGI_SOCK"
	setpriv --reuid="$IT_RUN_USER" --regid="$IT_RUN_GROUP" --init-groups -- \
		"$SCEP_BIN" -c "$conf" --workers "$w" --socket "$IT_FCGI_SOCK" \
		--log "$IT_FCGI_LOGS" 2>"$F/supervise.err" &
	LA_SUP_PID=$!
	la_pids_track "$LA_SUP_PID"
	# The supervisor's current workers in F/pids, and how many it started beyond the
	# first W in F/respawned, refreshed every 0.2 s while it runs.
	(
		trap 'exit 0' TERM
		: >"$F/seen"
		while kill -0 "$LA_SUP_PID" 2>/dev/null; do
			it_children "$LA_SUP_PID" >"$F/pids.new" && mv -f "$F/pids.new" "$F/pids"
			sort -u "$F/seen" "$F/pids" -o "$F/seen"
			n=$(($(wc -l <"$F/seen") - w))
			echo $((n < 0 ? 0 : n)) >"$F/respawned"
			sleep 0.2
		done
	) &
	la_pids_track $!
	for i in $(seq 100); do
		[ -S "$IT_FCGI_SOCK" ] && [ "$(wc -l <"$F/pids" 2>/dev/null || echo 0)" -ge "$w" ] &&
			return 0
		sleep 0.1
	done
	echo "la_supervise: no socket or not $w workers: $(cat "$F/supervise.err")" >&2
	return 1
}

# la_killer PIDFILE MS STOPFILE COUNTFILE: in the background, SIGKILL a random live
# worker of $SCEP_BIN listed in PIDFILE every MS (+-33%) ms until STOPFILE exists; the
# number killed so far in COUNTFILE. Sets LA_KILLER_PID.
la_killer() {
	local pf=$1 ms=$2 stop=$3 count=$4 n=0 p comm
	comm=$(basename "$SCEP_BIN" | cut -c1-15)
	(
		trap 'exit 0' TERM
		while [ ! -e "$stop" ]; do
			sleep "$(awk -v m="$ms" -v r="$RANDOM" 'BEGIN { printf "%.3f", m * (0.67 + 0.66 * r / 32767) / 1000 }')"
			p=$(shuf -n 1 "$pf" 2>/dev/null)
			[ -n "$p" ] || continue
			if [ "$(cat "/proc/$p/comm" 2>/dev/null)" = "$comm" ] && kill -KILL "$p" 2>/dev/null; then
				n=$((n + 1))
				echo "$n" >"$count"
			fi
		done
	) &
	LA_KILLER_PID=$!
	la_pids_track "$LA_KILLER_PID"
}

la_fig() { "$LOAD_PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

# Background admin loop: list pending, approve a random share, issue (all or by id). Logs
# every command with its exit status to DIR/admin.log; counts in DIR/admin.{ok,fail,killed}.
la_admin_loop() {
	local dir=$1 kill=${2:-0} ids rc pid n=0 ok=0 bad=0 killed=0 cmd
	LA_STOPFILE=$dir/stop
	rm -f "$LA_STOPFILE"
	(
		trap 'exit 0' TERM
		while [ ! -e "$LA_STOPFILE" ]; do
			n=$((n + 1))
			ids=$(la_admin list --state pending 2>>"$dir/admin.log" | awk '{print $1}' |
				shuf | head -n $((RANDOM % 40 + 1)))
			for cmd in approve issue; do
				if [ "$cmd" = approve ]; then
					[ -n "$ids" ] || continue
					set -- approve $ids
				elif [ $((n % 2)) = 0 ]; then
					set -- issue
				else
					# shellcheck disable=SC2046  # one argument per id
					set -- issue $(la_admin list --state approved 2>>"$dir/admin.log" |
						awk '{print $1}' | shuf | head -n 20)
				fi
				if [ "$kill" = 1 ] && [ $((RANDOM % 3)) = 0 ]; then
					( la_admin_exec "$@" ) >>"$dir/admin.out" 2>>"$dir/admin.log" &
					pid=$!
					sleep "0.0$((RANDOM % 10))"
					if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = scep-admin ] &&
						kill -KILL "$pid" 2>/dev/null; then
						killed=$((killed + 1))
						echo "killed: $1 (pid $pid)" >>"$dir/admin.log"
					fi
					wait "$pid" 2>/dev/null
				else
					la_admin "$@" >>"$dir/admin.out" 2>>"$dir/admin.log"
					rc=$?
					echo "rc=$rc: $1 $(($# - 1)) ids" >>"$dir/admin.log"
					if [ "$rc" = 0 ]; then ok=$((ok + 1)); else bad=$((bad + 1)); fi
				fi
			done
			echo "$ok" >"$dir/admin.ok"; echo "$bad" >"$dir/admin.fail"
			echo "$killed" >"$dir/admin.killed"
			sleep "0.$((RANDOM % 3 + 1))"
		done
		exit 0
	) &
	LA_ADMIN_PID=$!
	la_pids_track "$LA_ADMIN_PID"
}

la_admin_loop_stop() {
	: >"$LA_STOPFILE"
	wait "$LA_ADMIN_PID" 2>/dev/null
}

la_has_check() { "$SCEP_ADMIN" help 2>&1 | grep -qE '^ +check'; }

# la_check_repo OUTFILE: scep-admin check; PASS/FAIL. With REPAIR=1 a failing check is
# followed by check --repair and a second check that must be clean. Without the command
# (not written yet) says so: loadgen.py verify covers the invariants meanwhile.
la_check_repo() {
	local out=$1 repair=${2:-0} rc
	if ! la_has_check; then
		echo "  .. scep-admin has no 'check' yet: invariants checked by loadgen.py verify only" >&2
		return 0
	fi
	la_admin check >"$out" 2>&1
	rc=$?
	if [ "$rc" = 0 ]; then
		pass "scep-admin check is clean"
		return 0
	fi
	if [ "$repair" = 1 ]; then
		echo "  .. scep-admin check (rc $rc) before repair:" >&2
		sed 's/^/  | /' "$out" | head -n 20 >&2
		la_admin check --repair >"$out.repair" 2>&1
		echo "  .. check --repair: rc $?" >&2
		sed 's/^/  | /' "$out.repair" | head -n 20 >&2
		la_admin check >"$out.after" 2>&1
		rc=$?
		# shellcheck disable=SC2034  # read by crash.sh
		LA_REPAIRED=$(grep -c . "$out")
		if [ "$rc" = 0 ]; then
			pass "scep-admin check clean after check --repair"
			return 0
		fi
		fail "scep-admin check clean after check --repair" "rc $rc"
		it_show "$out.after"
		return 1
	fi
	fail "scep-admin check is clean" "rc $rc"
	it_show "$out"
	return 1
}

# la_verify MANIFEST RESULTS [verify options]: scep-admin list --json, then loadgen.py
# verify; its PASS/FAIL lines count in this script's totals.
la_verify() {
	local man=$1 res=$2 line; shift 2
	la_admin list --json >"$res/list.json" 2>"$res/list.err" ||
		{ fail "scep-admin list --json" "$(head -c 300 "$res/list.err")"; return 1; }
	"$LOAD_PYTHON" "$LA_GEN" verify --manifest "$man" --results "$res" --repo "$SCEP_REPO" \
		--list "$res/list.json" --ca "$SCEP_REPO/ca/ca.pem" --scepreq "$SCEPREQ" "$@" \
		>"$res/verify.out" 2>"$res/verify.err"
	while IFS= read -r line; do
		case $line in
		"PASS: "*) pass "${line#PASS: }" ;;
		"FAIL: "*) fail "${line#FAIL: }" ;;
		esac
	done <"$res/verify.out"
	grep -q '^verify: ' "$res/verify.out" || { fail "loadgen.py verify ran" "$(tail -n 3 "$res/verify.err")"; }
}

# A figure from verify's output ("figure: NAME VALUE").
la_vfig() { sed -n "s/^figure: $2 //p" "$1/verify.out"; }

# Worker stderr logs: sanitizer reports and crashes.
la_check_logs() {
	if it_check_sanitizer_logs "$@" 2>"$IT_DIR/sanitizer.txt"; then
		pass "no sanitizer reports in the server logs"
	else
		fail "no sanitizer reports in the server logs" "$(head -c 400 "$IT_DIR/sanitizer.txt")"
	fi
}
