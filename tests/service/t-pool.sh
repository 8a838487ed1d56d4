#!/bin/bash
# The supervised worker pool, `scep --workers N` (src/pool.c), through the real program:
#   - N workers behind nginx; POOL_N enrollments (default 60) from 8 connections while
#     two workers are killed with SIGKILL: every enrollment ends in SUCCESS (clients resend
#     after a broken connection, as real ones do) and the pool is back to N each time;
#   - a worker that crashes (SIGABRT) right after its start is replaced after a delay;
#   - SIGHUP (to the supervisor, or to a worker as the logrotate file does) leaves the same
#     workers running; each reopens its --log file (after a rotation the old file is no
#     longer open anywhere and new lines go to the new file);
#   - a worker kept by spawn-fcgi (no supervisor) survives SIGHUP too;
#   - SIGTERM while a request is in flight: the request is answered in full, the
#     supervisor exits 0 with its workers and removes the socket;
#   - a configuration that cannot be served stops the start (exit 1, the reason logged),
#     of the pool and of a single worker under spawn-fcgi;
#   - under systemd socket activation (LISTEN_FDS, fd 3; tests/service/activate.py) the pool
#     serves the passed socket;
#   - scep --version, --help, a usage error, and a CGI request whose query looks like an
#     option (a web server passes it as arguments) is still served as a request.
# Prints PASS/FAIL lines and "pool: N passed, M failed". Work files in tests/out/pool.*,
# removed when all passed (kept on failure or with IT_KEEP=1).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../load/common.sh"
la_timeout "${POOL_TIMEOUT:-600}" "$0" "$@"
PY=/usr/bin/python3
FCGI=$HERE/fcgi.py
N=${POOL_N:-60}
W=3

la_init pool
la_prereq nginx spawn-fcgi openssl setpriv curl "$SCEP_BIN" "$SCEP_ADMIN" "$SCEPREQ"
echo "pool: $SCEP_BIN --workers $W; $N enrollments; work dir $IT_DIR"
chal="pool-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
it_make_repo "$IT_DIR/ca" "$chal" YES || { fail "setup: repository + CA"; exit 1; }
la_prepare "$IT_DIR/reqs" "$N" --keys 4 --challenge "$chal" --prefix "pool$$" ||
	{ fail "setup: keys and requests"; exit 1; }
it_start_pool "$SCEP_CONF" "$W" && it_start_nginx "$SCEP_CONF" ||
	{ fail "setup: pool + nginx"; exit 1; }
SUP=$IT_POOL_PID
LOG=$IT_FCGI_LOGS
SOCK=$IT_FCGI_SOCK
workers() { it_children "$SUP" | sort -n | tr '\n' ' '; }
nworkers() { it_children "$SUP" | grep -c .; }
# wait_pool N EXCLUDED_PID: N workers again, none of them EXCLUDED_PID (10 s)
wait_pool() {
	local i
	for i in $(seq 100); do
		[ "$(nworkers)" = "$1" ] && ! it_children "$SUP" | grep -qx "$2" && return 0
		sleep 0.1
	done
	return 1
}
as_user() {
	if [ "$(id -un)" = "$IT_RUN_USER" ]; then "$@"
	else setpriv --reuid="$IT_RUN_USER" --regid="$IT_RUN_GROUP" --init-groups -- "$@"; fi
}

# ---- the program's options
v=$("$SCEP_BIN" --version 2>&1)
[ "$v" = "scep $(cat "$IT_TOP/VERSION")" ] && pass "scep --version: $v" ||
	fail "scep --version prints the version of VERSION" "$v"
"$SCEP_BIN" --help 2>&1 | grep -q -- '--workers N' && pass "scep --help describes --workers" ||
	fail "scep --help describes --workers"
"$SCEP_BIN" --no-such-option >/dev/null 2>&1
[ $? = 2 ] && pass "an unknown option is a usage error (exit 2)" ||
	fail "an unknown option is a usage error (exit 2)"
out=$(GATEWAY_INTERFACE=CGI/1.1 REQUEST_METHOD=GET QUERY_STRING=--version SCEP_CONF=$SCEP_CONF \
	as_user "$SCEP_BIN" --version 2>/dev/null | head -n 1)
case $out in
Status:*) pass "a CGI request with a query word '--version' is served, not read as an option ($out)" ;;
*) fail "a CGI request with a query word '--version' is served, not read as an option" "$out" ;;
esac

# ---- N workers; SIGKILL under load
[ "$(nworkers)" = "$W" ] && pass "the pool starts $W workers" || fail "the pool starts $W workers" "$(workers)"
mkdir -p "$IT_DIR/run"
"$LOAD_PYTHON" "$LA_GEN" run --url "$IT_URL" --manifest "$IT_DIR/reqs/manifest" --out "$IT_DIR/run" \
	-c 8 --deadline 300 --retry-errors >"$IT_DIR/run/summary.json" 2>"$IT_DIR/run/driver.err" &
drv=$!
la_pids_track "$drv"
killed=0
for round in 1 2; do
	sleep 1
	victim=$(it_children "$SUP" | shuf -n 1)
	kill -KILL "$victim" 2>/dev/null && killed=$((killed + 1))
	if wait_pool "$W" "$victim"; then
		pass "SIGKILL of worker $victim under load (round $round): the pool is back to $W workers ($(workers))"
	else
		fail "SIGKILL of worker $victim under load (round $round): the pool is back to $W workers" "$(workers)"
	fi
done
wait "$drv"
rc=$?
S=$IT_DIR/run/summary.json
f() { la_fig "$S" "$1" 2>/dev/null || echo "?"; }
if [ "$rc" = 0 ] && [ "$(f success)" = "$N" ]; then
	pass "all $N enrollments ended in SUCCESS while $killed workers were killed (requests resent after an HTTP error or a broken connection: $(f http_errors))"
else
	fail "all $N enrollments ended in SUCCESS while workers were killed" \
		"rc $rc, success $(f success), errors $(f errors): $(tail -n 2 "$IT_DIR/run/driver.err")"
fi
[ "$(grep -c 'killed by signal 9.*starting another' "$LOG")" = "$killed" ] &&
	pass "the supervisor logged each death and restart" ||
	fail "the supervisor logged each death and restart" "$(grep -c 'killed by signal' "$LOG") lines"

# ---- a worker that fails by itself right after its start: the next start waits
victim=$(it_children "$SUP" | shuf -n 1)
kill -KILL "$victim"
wait_pool "$W" "$victim" || fail "setup: a fresh worker"
fresh=$(it_children "$SUP" | sort -n | tail -n 1)
t0=$(date +%s%N)
kill -ABRT "$fresh"
if wait_pool "$W" "$fresh" && [ $(( ($(date +%s%N) - t0) / 1000000 )) -ge 900 ] &&
	grep -q "worker $fresh killed by signal 6.*after it started; starting another in 1 s" "$LOG"; then
	pass "a worker that crashes right after its start is replaced after a delay (1 s), logged"
else
	fail "a worker that crashes right after its start is replaced after a delay (1 s), logged" \
		"$(grep "worker $fresh" "$LOG")"
fi

# ---- SIGHUP: same workers, log reopened after a rotation
before=$(workers)
mv "$LOG" "$LOG.1"
kill -HUP "$SUP"
sleep 0.5
after=$(workers)
[ "$before" = "$after" ] && [ "$(nworkers)" = "$W" ] &&
	pass "SIGHUP to the supervisor: the same $W workers run ($after)" ||
	fail "SIGHUP to the supervisor: the same $W workers run" "before $before, after $after"
w1=$(it_children "$SUP" | head -n 1)
kill -HUP "$w1"
sleep 0.3
[ "$(workers)" = "$before" ] && pass "SIGHUP to a worker (as logrotate sends it): it goes on" ||
	fail "SIGHUP to a worker (as logrotate sends it): it goes on" "$(workers)"
for _ in $(seq 12); do curl -s -o /dev/null "$IT_URL?operation=NoSuchOperation"; done
open_old=""
for p in $SUP $(it_children "$SUP"); do
	[ "$(readlink "/proc/$p/fd/2")" = "$LOG" ] || open_old="$open_old $p"
done
if [ -z "$open_old" ] && grep -q 'SIGHUP: log reopened' "$LOG" && grep -q 'unknown operation' "$LOG" &&
	! grep -q 'unknown operation' "$LOG.1"; then
	pass "after a rotation and SIGHUP every process writes to the new log file"
else
	fail "after a rotation and SIGHUP every process writes to the new log file" "still on the old file:$open_old"
fi
curl -s "$IT_URL?operation=GetCACaps" | grep -q POSTPKIOperation &&
	pass "the pool answers after SIGHUP" || fail "the pool answers after SIGHUP"

# ---- a worker under spawn-fcgi (no supervisor) survives SIGHUP
IT_SDIR=$IT_DIR/spawn
mkdir -p "$IT_SDIR"; chmod 755 "$IT_SDIR"
if it_start_fcgi "$SCEP_CONF" 1; then
	sp=$(cat "$IT_SDIR/fcgi/pid")
	caps() { "$PY" "$FCGI" "$IT_FCGI_SOCK" -p REQUEST_METHOD=GET -p QUERY_STRING=operation=GetCACaps |
		grep -q POSTPKIOperation; }
	caps	# serving: past its start
	kill -HUP "$sp"
	sleep 0.3
	if [ "$(awk '{print $3}' "/proc/$sp/stat" 2>/dev/null)" != Z ] && caps; then
		pass "a spawn-fcgi worker survives SIGHUP and answers"
	else
		fail "a spawn-fcgi worker survives SIGHUP and answers"
	fi
	it_kill_wait "$sp"
else
	fail "setup: spawn-fcgi worker"
fi
unset IT_SDIR

# ---- SIGTERM with a request in flight: answered in full, then a clean stop
openssl genrsa -out "$IT_DIR/term.key" 2048 2>/dev/null
"$SCEPREQ" build -c "$SCEP_REPO/ca/ca.pem" -k "$IT_DIR/term.key" -n pool-term -p "$chal" -x POOLTERM1 \
	-L "$IT_DIR/term-self.pem" -o "$IT_DIR/term.der" || fail "setup: request for the SIGTERM case"
sock=$SOCK
nsock() { local p n=0; for p in $(it_children "$SUP"); do n=$((n + $(ls -l "/proc/$p/fd" 2>/dev/null | grep -c 'socket:'))); done; echo "$n"; }
base=$(nsock)
"$PY" "$FCGI" "$sock" -p REQUEST_METHOD=POST -p QUERY_STRING=operation=PKIOperation \
	-p "CONTENT_LENGTH=$(stat -c %s "$IT_DIR/term.der")" -b "$IT_DIR/term.der" --hold "$IT_DIR/hold" \
	>"$IT_DIR/term.out" 2>"$IT_DIR/term.err" &
cl=$!
for _ in $(seq 100); do [ -e "$IT_DIR/hold.sent" ] && break; sleep 0.05; done
# a worker has accepted the connection (one more socket among its descriptors): the request
# is in flight, not waiting in the listening socket's backlog
for _ in $(seq 100); do [ "$(nsock)" -gt "$base" ] && break; sleep 0.05; done
kill -TERM "$SUP"
sleep 0.5
: >"$IT_DIR/hold"
wait "$cl"
crc=$?
if [ "$crc" = 0 ] && head -n 1 "$IT_DIR/term.out" | grep -q '^Status: 200' &&
	grep -aq 'application/x-pki-message' "$IT_DIR/term.out"; then
	pass "SIGTERM while a request is in flight: it is answered in full (200, a CertRep)"
else
	fail "SIGTERM while a request is in flight: it is answered in full" "rc $crc: $(head -c 200 "$IT_DIR/term.out" | tr -d '\0')"
fi
stopped=0
for _ in $(seq 100); do it_alive "$SUP" || { stopped=1; break; }; sleep 0.1; done
wait "$SUP" 2>/dev/null
src=$?
[ "$stopped" = 1 ] && [ "$src" = 0 ] && [ -z "$(it_children "$SUP")" ] && [ ! -e "$sock" ] &&
	grep -q 'pool: stopped' "$LOG" &&
	pass "SIGTERM: the supervisor exits 0 with its workers and removes the socket" ||
	fail "SIGTERM: the supervisor exits 0 with its workers and removes the socket" \
		"stopped $stopped, status $src, socket $(ls "$sock" 2>&1)"

# ---- a configuration that cannot be served stops the start
printf 'ScepRepository = %s/no-such-repo\n' "$IT_DIR" >"$IT_DIR/broken.conf"
chmod 644 "$IT_DIR/broken.conf"
timeout 20 "$SCEP_BIN" -c "$IT_DIR/broken.conf" --workers 2 --socket "$IT_DIR/broken.sock" \
	2>"$IT_DIR/broken.err"
brc=$?
[ "$brc" = 1 ] && grep -q 'not starting' "$IT_DIR/broken.err" && grep -q 'no-such-repo' "$IT_DIR/broken.err" &&
	[ ! -e "$IT_DIR/broken.sock" ] &&
	pass "a repository that does not exist stops the start: exit 1, reason logged" ||
	fail "a repository that does not exist stops the start: exit 1, reason logged" "rc $brc: $(head -n 2 "$IT_DIR/broken.err")"
# the same under spawn-fcgi (-n: no fork, its status is the worker's): a worker that cannot
# serve does not start
timeout 20 spawn-fcgi -n -s "$IT_DIR/broken1.sock" -- "$SCEP_BIN" -c "$IT_DIR/broken.conf" \
	2>"$IT_DIR/broken1.err"
brc=$?
[ "$brc" = 1 ] && grep -q 'not starting: .*broken.conf cannot be served: .*no-such-repo' "$IT_DIR/broken1.err" &&
	pass "a FastCGI worker (spawn-fcgi) with a repository that does not exist: exit 1, reason logged" ||
	fail "a FastCGI worker (spawn-fcgi) with a repository that does not exist: exit 1, reason logged" \
		"rc $brc: $(head -n 2 "$IT_DIR/broken1.err")"

# ---- socket activation (what scep@.socket + scep@.service do)
: >"$IT_DIR/act.log"
chown "$IT_RUN_USER:$IT_RUN_GROUP" "$IT_DIR/act.log"
act=(--listen "$IT_DIR/act.sock" --socket-mode 0660 --env "SCEP_CONF=$SCEP_CONF")
[ "$(id -u)" = 0 ] && act+=(--socket-user "$IT_RUN_USER" --socket-group "$IT_RUN_GROUP"
	--user "$IT_RUN_USER" --group "$IT_RUN_GROUP")
"$PY" "$HERE/activate.py" "${act[@]}" -- "$SCEP_BIN" --workers 2 --log "$IT_DIR/act.log" &
apid=$!
la_pids_track "$apid"
ok=0
for _ in $(seq 100); do
	"$PY" "$FCGI" "$IT_DIR/act.sock" -p REQUEST_METHOD=GET -p QUERY_STRING=operation=GetCACaps \
		2>/dev/null | grep -q POSTPKIOperation && { ok=1; break; }
	sleep 0.1
done
[ "$ok" = 1 ] && [ "$(it_children "$apid" | grep -c .)" = 2 ] &&
	pass "socket activation: the pool serves the socket passed as fd 3 (LISTEN_FDS=1)" ||
	fail "socket activation: the pool serves the socket passed as fd 3 (LISTEN_FDS=1)" "$(tail -n 3 "$IT_DIR/act.log")"
kill -TERM "$apid"
wait "$apid"
[ $? = 0 ] && pass "socket activation: SIGTERM stops the pool (exit 0)" ||
	fail "socket activation: SIGTERM stops the pool (exit 0)"

la_check_logs "$LOG" "$LOG.1" "$IT_DIR/act.log" "$IT_SERVER_LOGS"
la_stop
if [ "$IT_FAIL" = 0 ] && [ -z "${IT_KEEP:-}" ]; then rm -rf "$IT_DIR"; fi
it_summary pool
