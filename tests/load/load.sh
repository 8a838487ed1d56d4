#!/bin/bash
# Load test ("nothing lost, nothing twice"): LOAD_N enrollments (default 2000)
# from LOAD_C concurrent keep-alive connections (default 64) at nginx in front of LOAD_W
# spawn-fcgi workers (default 4) on one repository. Every LOAD_PENDING_EVERY-th request
# (default 3) has no challenge and stays pending; the others carry the static challenge and
# are issued at once (ScepAutoApproveEnrollment = YES). Meanwhile `scep-admin approve` and
# `scep-admin issue` (all, or a list of ids) run in a loop over the pending ones, and the
# clients that got PENDING poll (half with CertPoll, half by resending the PKCSReq) until
# SUCCESS or LOAD_DEADLINE seconds (default 600).
#
# Keys (a pool of 32, each request its own transactionID and subject) and request files are
# made before the timed part. Afterwards: every request has exactly one record, in exactly
# one state (directories and `scep-admin list --json`); every issued certificate has a
# unique serial, certs/<SERIAL>.pem and one index.txt line; every SUCCESS a client saw is
# byte-identical to the certificate on disk and passes `openssl verify`; `scep-admin check`
# is clean; no sanitizer report in the logs.
#
# Prints PASS/FAIL lines, a summary and "load: N passed, M failed". Overall time limit
# LOAD_TIMEOUT (default 1500 s). Work files in tests/out/load.*, removed when all passed
# (kept on failure or with IT_KEEP=1). Binds 127.0.0.1 only.
set -u
. "$(dirname "$0")/common.sh"
la_timeout "${LOAD_TIMEOUT:-1500}" "$0" "$@"

N=${LOAD_N:-2000}
C=${LOAD_C:-64}
W=${LOAD_W:-4}
PEND=${LOAD_PENDING_EVERY:-3}
DEADLINE=${LOAD_DEADLINE:-600}
[ "$W" -ge 4 ] || W=4

la_init load
la_prereq nginx spawn-fcgi openssl setpriv curl "$SCEP_BIN" "$SCEP_ADMIN" "$SCEPREQ"
echo "load: $N enrollments (every ${PEND}th pending), $C connections, nginx + $W FastCGI" \
	"workers of $SCEP_BIN; admin $SCEP_ADMIN; work dir ${IT_DIR#"$LA_TOP"/}"

chal="load-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
it_make_repo "$IT_DIR/ca" "$chal" YES || { fail "setup: repository + CA"; exit 1; }
t=$(date +%s)
la_prepare "$IT_DIR/reqs" "$N" --pending-every "$PEND" --keys 32 --challenge "$chal" \
	--prefix "load$$" --certpoll || { fail "setup: keys and requests"; exit 1; }
echo "  .. prepared $N requests in $(( $(date +%s) - t )) s" >&2
it_start_fcgi "$SCEP_CONF" "$W" && it_start_nginx "$SCEP_CONF" ||
	{ fail "setup: spawn-fcgi + nginx"; exit 1; }
WORKERS=$(cat "$IT_DIR/fcgi/pid")

mkdir -p "$IT_DIR/admin" "$IT_DIR/run"
la_admin_loop "$IT_DIR/admin"
"$LOAD_PYTHON" "$LA_GEN" run --url "$IT_URL" --manifest "$IT_DIR/reqs/manifest" \
	--out "$IT_DIR/run" -c "$C" --deadline "$DEADLINE" >"$IT_DIR/run/summary.json" \
	2>"$IT_DIR/run/driver.err" &
drv=$!
la_pids_track "$drv"
wait "$drv"
rc=$?
la_admin_loop_stop
[ "$rc" = 0 ] && [ -s "$IT_DIR/run/summary.json" ] ||
	{ fail "load driver ran" "rc $rc: $(tail -n 3 "$IT_DIR/run/driver.err")"; }
S=$IT_DIR/run/summary.json
f() { la_fig "$S" "$1" 2>/dev/null || echo "?"; }

# ---- what the clients saw
[ "$(f success)" = "$N" ] && pass "all $N enrollments ended in SUCCESS" ||
	fail "all $N enrollments ended in SUCCESS" "success $(f success), pending $(f pending), failure $(f failure), errors $(f errors)"
[ "$(f http_errors)" = 0 ] && pass "no HTTP errors or unreadable replies ($(f http_requests) requests)" ||
	fail "no HTTP errors or unreadable replies" "$(f http_errors) of $(f http_requests); see $IT_DIR/run/http.tsv"
[ "$(f auto_not_success_first)" = 0 ] && pass "every request with the challenge was issued at once" ||
	fail "every request with the challenge was issued at once" "$(f auto_not_success_first) were not"
[ "$(f pending_first_not_pending)" = 0 ] && pass "every request without challenge was PENDING first" ||
	fail "every request without challenge was PENDING first" "$(f pending_first_not_pending) were not"
ok=$(cat "$IT_DIR/admin/admin.ok" 2>/dev/null || echo 0)
bad=$(cat "$IT_DIR/admin/admin.fail" 2>/dev/null || echo 0)
[ "$bad" = 0 ] && pass "scep-admin approve/issue in the loop all succeeded ($ok commands)" ||
	{ fail "scep-admin approve/issue in the loop all succeeded" "$bad of $((ok + bad)) failed"
	  grep -v '^rc=0' "$IT_DIR/admin/admin.log" | head -n 5 | sed 's/^/  | /' >&2; }

# ---- the repository
la_verify "$IT_DIR/reqs/manifest" "$IT_DIR/run" --expect-all-issued
la_check_repo "$IT_DIR/check.out"
# Serials are random: 16 octets, positive (the first below 0x80), each once.
ncerts=$(find "$SCEP_REPO/certs" -name '*.pem' | wc -l)
nrand=$(find "$SCEP_REPO/certs" -name '*.pem' -printf '%f\n' | grep -cE '^[0-7][0-9A-F]{31}\.pem$')
[ "$nrand" = "$ncerts" ] && [ "$ncerts" -gt 0 ] &&
	pass "every serial is 16 random octets, positive ($ncerts certificates)" ||
	fail "every serial is 16 random octets, positive" "$nrand of $ncerts"
alive=0
for p in $WORKERS; do it_alive "$p" && alive=$((alive + 1)); done
[ "$alive" = "$W" ] && pass "all $W FastCGI workers still running" ||
	fail "all $W FastCGI workers still running" "$alive alive"
rss=0
for p in $WORKERS; do
	v=$(awk '/^VmHWM/ {print $2}' "/proc/$p/status" 2>/dev/null)
	[ -n "$v" ] && [ "$v" -gt "$rss" ] && rss=$v
done
la_stop
la_check_logs "$IT_FCGI_LOGS" "$IT_SERVER_LOGS"
if grep -q 'worker_connections are not enough\|upstream prematurely\|connect() to unix' \
	"$IT_SERVER_LOGS" 2>/dev/null; then
	fail "nginx error log has no upstream failures" "$(grep -m1 'upstream\|connect()' "$IT_SERVER_LOGS")"
else
	pass "nginx error log has no upstream failures"
fi

cat <<EOF
summary: requests sent      $(f enrollments) enrollments, $(f http_requests) HTTP requests ($(f polls) polls)
summary: issued / pending / failed   $(f success) / $(f pending) / $(f failed)
summary: records by state   issued $(la_vfig "$IT_DIR/run" records_issued), pending $(la_vfig "$IT_DIR/run" records_pending), approved $(la_vfig "$IT_DIR/run" records_approved), rejected $(la_vfig "$IT_DIR/run" records_rejected)
summary: serial duplicates  $(la_vfig "$IT_DIR/run" serial_duplicates)
summary: records lost       $(la_vfig "$IT_DIR/run" records_lost)
summary: throughput         $(f enroll_per_s) enrollments/s, $(f http_per_s) HTTP requests/s over $(f wall_s) s (first quarter $(f rate_first_quarter)/s, last $(f rate_last_quarter)/s)
summary: latency (HTTP)     p50 $(f http_p50_ms) ms, p95 $(f http_p95_ms) ms, p99 $(f http_p99_ms) ms
summary: auto-issue         p50 $(f auto_p50_ms) ms, p95 $(f auto_p95_ms) ms
summary: pending -> cert    p50 $(f pending_p50_s) s, p95 $(f pending_p95_s) s
summary: worker peak RSS    $rss kB (VmHWM, largest of $W)
summary: run time           $(( $(date +%s) - LA_T0 )) s in all
EOF
if [ "$IT_FAIL" = 0 ] && [ -z "${IT_KEEP:-}" ]; then rm -rf "$IT_DIR"; fi
it_summary load
