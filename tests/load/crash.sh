#!/bin/bash
# Crash test: a load run (CRASH_N enrollments, default 1000, CRASH_C connections,
# default 32, every 3rd pending) at nginx in front of CRASH_W FastCGI workers (default 4)
# while
#   - a random worker is killed with SIGKILL every ~300 ms (CRASH_KILL_MS); the workers run
#     under the program's own supervisor (`scep --workers`, lib.sh it_start_pool), which
#     holds the listening socket and starts a new worker whenever one dies;
#   - `scep-admin approve` / `scep-admin issue` run in a loop over the pending requests,
#     and about a third of those commands are killed with SIGKILL 0-90 ms after they start.
# Clients retry (resend the same request) after an HTTP error or a broken connection, and
# poll while PENDING, until SUCCESS or CRASH_DEADLINE seconds (default 600).
# Afterwards: `scep-admin check` is clean, or `check --repair` clears what it finds and a
# second check is clean; then the invariants of load.sh (one record per request in one
# state, unique serials, certs/ and index.txt consistent, every certificate a client
# received is on disk and verifies).
#
# Prints PASS/FAIL lines, the crashes survived and "crash: N passed, M failed". Overall
# time limit CRASH_TIMEOUT (default 1200 s). Binds 127.0.0.1 only.
set -u
. "$(dirname "$0")/common.sh"
la_timeout "${CRASH_TIMEOUT:-1200}" "$0" "$@"

N=${CRASH_N:-1000}
C=${CRASH_C:-32}
W=${CRASH_W:-4}
KILL_MS=${CRASH_KILL_MS:-300}
DEADLINE=${CRASH_DEADLINE:-600}
[ "$W" -ge 4 ] || W=4

la_init crash
la_prereq nginx openssl setpriv curl "$SCEP_BIN" "$SCEP_ADMIN" "$SCEPREQ"
echo "crash: $N enrollments, $C connections, $W respawned FastCGI workers of $SCEP_BIN," \
	"one killed every ~$KILL_MS ms; work dir ${IT_DIR#"$LA_TOP"/}"

chal="crash-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
it_make_repo "$IT_DIR/ca" "$chal" YES || { fail "setup: repository + CA"; exit 1; }
la_prepare "$IT_DIR/reqs" "$N" --pending-every 3 --keys 32 --challenge "$chal" \
	--prefix "crash$$" --certpoll || { fail "setup: keys and requests"; exit 1; }

# Workers under the supervisor, then nginx (lib.sh) in front of its socket.
it_start_pool "$SCEP_CONF" "$W" || { fail "setup: worker pool"; exit 1; }
SUP=$IT_POOL_PID
it_start_nginx "$SCEP_CONF" || { fail "setup: nginx"; exit 1; }

# The killer: a random live worker every KILL_MS (+-33%) ms until the stop file exists.
mkdir -p "$IT_DIR/admin" "$IT_DIR/run"
KSTOP=$IT_DIR/killer.stop
(
	trap 'exit 0' TERM
	n=0
	while [ ! -e "$KSTOP" ]; do
		sleep "$(awk -v m="$KILL_MS" -v r="$RANDOM" 'BEGIN { printf "%.3f", m * (0.67 + 0.66 * r / 32767) / 1000 }')"
		p=$(it_children "$SUP" | shuf -n 1)
		[ -n "$p" ] || continue
		if [ "$(cat "/proc/$p/comm" 2>/dev/null)" = "$(basename "$SCEP_BIN" | cut -c1-15)" ] &&
			kill -KILL "$p" 2>/dev/null; then
			n=$((n + 1))
			echo "$n" >"$IT_DIR/killed"
		fi
	done
) &
KILLER=$!
la_pids_track "$KILLER"
la_admin_loop "$IT_DIR/admin" 1

"$LOAD_PYTHON" "$LA_GEN" run --url "$IT_URL" --manifest "$IT_DIR/reqs/manifest" \
	--out "$IT_DIR/run" -c "$C" --deadline "$DEADLINE" --retry-errors \
	>"$IT_DIR/run/summary.json" 2>"$IT_DIR/run/driver.err" &
drv=$!
la_pids_track "$drv"
wait "$drv"
rc=$?
: >"$KSTOP"
wait "$KILLER" 2>/dev/null
la_admin_loop_stop
[ "$rc" = 0 ] && [ -s "$IT_DIR/run/summary.json" ] ||
	fail "load driver ran" "rc $rc: $(tail -n 3 "$IT_DIR/run/driver.err")"
S=$IT_DIR/run/summary.json
f() { la_fig "$S" "$1" 2>/dev/null || echo "?"; }
killed=$(cat "$IT_DIR/killed" 2>/dev/null || echo 0)
akilled=$(cat "$IT_DIR/admin/admin.killed" 2>/dev/null || echo 0)
aok=$(cat "$IT_DIR/admin/admin.ok" 2>/dev/null || echo 0)
afail=$(cat "$IT_DIR/admin/admin.fail" 2>/dev/null || echo 0)

[ "$(f success)" = "$N" ] && pass "all $N enrollments ended in SUCCESS despite the crashes" ||
	fail "all $N enrollments ended in SUCCESS despite the crashes" "success $(f success), pending $(f pending), failure $(f failure), errors $(f errors)"
[ "$killed" -gt 0 ] && pass "workers were killed during the run ($killed)" ||
	fail "workers were killed during the run"
[ "$akilled" -gt 0 ] && pass "scep-admin commands were killed during the run ($akilled)" ||
	fail "scep-admin commands were killed during the run"
# An admin command may fail after a crash (e.g. issue finds a half-issued record that the
# server finishes); report them, but only a non-zero rate without any message is a failure.
if [ "$afail" != 0 ]; then
	echo "  .. $afail of $((aok + afail)) admin commands (not killed) exited non-zero:" >&2
	grep -v '^rc=\|^killed' "$IT_DIR/admin/admin.log" | sort | uniq -c | sort -rn | head -n 8 | sed 's/^/  | /' >&2
fi

# ---- the repository: check (repair allowed), then the invariants
LA_REPAIRED=0
la_check_repo "$IT_DIR/check.out" 1
# .tmp-* files of killed writers: check removes them once they are older than its grace
# period, so they are counted here, not failed.
la_verify "$IT_DIR/reqs/manifest" "$IT_DIR/run" --expect-all-issued --allow-strays
la_stop
respawned=$(grep -c 'starting another' "$IT_FCGI_LOGS")
la_check_logs "$IT_FCGI_LOGS"

cat <<EOF
summary: requests sent      $(f enrollments) enrollments, $(f http_requests) HTTP requests ($(f polls) polls, $(f http_errors) HTTP errors retried)
summary: issued / pending / failed   $(f success) / $(f pending) / $(f failed)
summary: crashes survived   $killed workers killed (supervisor restarted $respawned), $akilled scep-admin commands killed
summary: admin commands     $aok ok, $afail non-zero (not killed)
summary: check findings     $LA_REPAIRED before check --repair; .tmp-* files left after it $(la_vfig "$IT_DIR/run" stray_temp_files)
summary: serial duplicates  $(la_vfig "$IT_DIR/run" serial_duplicates)
summary: records lost       $(la_vfig "$IT_DIR/run" records_lost)
summary: throughput         $(f enroll_per_s) enrollments/s over $(f wall_s) s; HTTP p50 $(f http_p50_ms) ms, p95 $(f http_p95_ms) ms
EOF
if [ "$IT_FAIL" = 0 ] && [ -z "${IT_KEEP:-}" ]; then rm -rf "$IT_DIR"; fi
it_summary crash
