#!/bin/bash
# Profile of enrollments through nginx + FastCGI (the release build, cgi-bin/scep), for
# tests/load/PROFILE.md. Measures and prints; asserts nothing.
#   1. /proc split: PROFILE_PROC_N enrollments at 1 client through 1 worker; utime and
#      stime of the worker and of nginx per enrollment.
#   2. callgrind: one worker under valgrind --tool=callgrind, collecting only inside
#      server_handle() (one request: start-up excluded, the first request's one-time
#      costs included), PROFILE_CG_N enrollments at 1 client; callgrind_annotate inclusive
#      and exclusive. (callgrind_control cannot reach a worker blocked in accept().)
#   3. strace -c -f of the worker over PROFILE_STRACE_N enrollments: syscalls per enrollment.
#   4. strace -tt -T -f of PROFILE_TT_N enrollments: the repository lock (fcntl F_SETLKW ..
#      F_UNLCK) hold times and the system calls made while it is held.
#   5. perf record -g (cpu-clock) of the worker and nginx over PROFILE_PERF_N enrollments:
#      user/kernel split by DSO, self time by symbol, inclusive time of kernel entry points
#      (libcrypto has no symbols for its internal functions here: they show as addresses).
# Output in OUTDIR (default tests/out/profile), kept. Usage: tests/load/profile.sh [OUTDIR]
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
: "${SCEP_BIN:=$TOP/cgi-bin/scep}"
: "${SCEP_ADMIN:=$TOP/scep-admin}"
REAL_BIN=$SCEP_BIN
. "$TOP/tests/load/common.sh"
la_timeout "${PROFILE_TIMEOUT:-1200}" "$0" "$@"

OUT=${1:-$TOP/tests/out/profile}
PROC_N=${PROFILE_PROC_N:-200}
CG_N=${PROFILE_CG_N:-50}
ST_N=${PROFILE_STRACE_N:-20}
TT_N=${PROFILE_TT_N:-3}
PERF_N=${PROFILE_PERF_N:-200}
SB=$TOP/build/scepbench
HZ=$(getconf CLK_TCK)

la_init profile
la_prereq nginx spawn-fcgi valgrind callgrind_annotate callgrind_control strace "$SB" "$SCEP_BIN"
rm -rf "$OUT"; mkdir -p "$OUT"; chmod 777 "$OUT"
echo "profile: $SCEP_BIN, load average $(cut -d' ' -f1-3 /proc/loadavg), output in $OUT"

chal=prof-$$
it_make_repo "$IT_DIR/ca" "$chal" YES || { echo "profile: repository failed"; exit 1; }
N=$((5 + PROC_N + CG_N + 5 + ST_N + 5 + TT_N + 5 + PERF_N))
"$SB" prepare -c "$SCEP_REPO/ca/ca.pem" -n "$N" -o "$IT_DIR/reqs" -p "$chal" -x "p$$" -k 8 ||
	{ echo "profile: prepare failed"; exit 1; }
NEXT=0
send() {	# send COUNT: COUNT enrollments at 1 client, one line of figures
	"$SB" run -u "$IT_URL" -r "$IT_DIR/reqs" -f "$NEXT" -n "$1" -c 1 -t 600
	NEXT=$((NEXT + $1))
}
ticks() { local s f; read -r s <"/proc/$1/stat"; read -r -a f <<<"${s##*) }"; echo "${f[11]} ${f[12]}"; }
stack() {	# stack [WRAPPER]: nginx + 1 worker (SCEP_BIN, or a wrapper script running it)
	SCEP_BIN=${1:-$REAL_BIN}
	it_start_fcgi "$SCEP_CONF" 1 && it_start_nginx "$SCEP_CONF" || { echo "profile: stack failed"; exit 1; }
	WPID=$(cat "$IT_DIR/fcgi/pid")
	NPIDS="$(cat "$IT_DIR/nginx/nginx.pid") $(it_children "$(cat "$IT_DIR/nginx/nginx.pid")" | tr '\n' ' ')"
}

# ---- 1. /proc split
stack
send 5 >/dev/null
read -r wu0 ws0 <<<"$(ticks "$WPID")"
nu0=0 ns0=0; for p in $NPIDS; do read -r u s <<<"$(ticks "$p")"; nu0=$((nu0 + u)); ns0=$((ns0 + s)); done
send "$PROC_N" >"$OUT/proc.run"
read -r wu1 ws1 <<<"$(ticks "$WPID")"
nu1=0 ns1=0; for p in $NPIDS; do read -r u s <<<"$(ticks "$p")"; nu1=$((nu1 + u)); ns1=$((ns1 + s)); done
awk -v n="$PROC_N" -v hz="$HZ" -v wu=$((wu1 - wu0)) -v ws=$((ws1 - ws0)) -v nu=$((nu1 - nu0)) \
	-v ns=$((ns1 - ns0)) 'BEGIN {
	f = 1000 / hz / n
	printf "per enrollment (ms of CPU): worker user %.2f system %.2f; nginx user %.2f system %.2f; total %.2f\n",
	    wu * f, ws * f, nu * f, ns * f, (wu + ws + nu + ns) * f }' >"$OUT/proc.txt"
cat "$OUT/proc.run" "$OUT/proc.txt"
it_stop_all

# ---- 2. callgrind
cat >"$IT_DIR/vg-scep" <<EOF
#!/bin/sh
exec valgrind --tool=callgrind --collect-atstart=no --toggle-collect=server_handle \
	--callgrind-out-file=$OUT/callgrind.out.%p $REAL_BIN
EOF
chmod 755 "$IT_DIR/vg-scep"
stack "$IT_DIR/vg-scep"
send "$CG_N" >"$OUT/callgrind.run"
it_stop_all	# SIGTERM: valgrind writes the profile on the way out
cg=$(ls -S "$OUT"/callgrind.out.* 2>/dev/null | head -n 1)
if [ -n "$cg" ]; then
	callgrind_annotate --inclusive=yes "$cg" 2>/dev/null | head -n 80 >"$OUT/callgrind-inclusive.txt"
	callgrind_annotate "$cg" 2>/dev/null | head -n 60 >"$OUT/callgrind-exclusive.txt"
	echo "callgrind: $cg ($(cat "$OUT/callgrind.run"))"
else
	echo "callgrind: no output"
fi

# ---- 3. strace -c
stack
send 5 >/dev/null
strace -c -f -p "$WPID" -o "$OUT/strace-c.txt" 2>/dev/null &
SPID=$!
sleep 1
send "$ST_N" >"$OUT/strace-c.run"
kill -INT "$SPID"; wait "$SPID" 2>/dev/null
echo "strace -c over $ST_N enrollments: $OUT/strace-c.txt"

# ---- 4. strace -tt -T
send 5 >/dev/null
strace -tt -T -f -p "$WPID" -o "$OUT/strace-tt.txt" 2>/dev/null &
SPID=$!
sleep 1
send "$TT_N" >"$OUT/strace-tt.run"
kill -INT "$SPID"; wait "$SPID" 2>/dev/null

# ---- 5. perf
if command -v perf >/dev/null; then
	send 5 >/dev/null
	perf record -q -F 2999 -g -o "$OUT/perf.data" -p "$(echo "$WPID $NPIDS" | tr -s ' ' ',' | sed 's/,$//')" \
		>"$OUT/perf-record.log" 2>&1 &
	SPID=$!
	sleep 1
	send "$PERF_N" >"$OUT/perf.run"
	kill -INT "$SPID"; wait "$SPID" 2>/dev/null
	perf report -i "$OUT/perf.data" --no-children --sort comm,dso --stdio -g none 2>/dev/null |
		grep -v '^#' | grep . | head -n 20 >"$OUT/perf-dso.txt"
	perf report -i "$OUT/perf.data" --no-children --sort dso,sym --stdio -g none 2>/dev/null |
		grep -v '^#' | grep . | head -n 60 >"$OUT/perf-self.txt"
	perf report -i "$OUT/perf.data" --children --sort sym --stdio -g none 2>/dev/null |
		grep -v '^#' | grep '\[k\]' | head -n 60 >"$OUT/perf-kernel-inclusive.txt"
	echo "perf over $PERF_N enrollments: $OUT/perf-*.txt"
fi
it_stop_all
# Lock hold times and what runs under the lock.
awk '
function t(s,   a) { split(s, a, ":"); return a[1] * 3600 + a[2] * 60 + a[3] }
/F_SETLKW, \{l_type=F_WRLCK/ { inlock = 1; t0 = t($2); n = 0; delete c; next }
inlock && /l_type=F_UNLCK/ {
	inlock = 0; k++
	printf "lock %d held %.1f ms:", k, (t($2) - t0) * 1000
	for (s in c) printf " %s=%d", s, c[s]
	printf "\n"; next
}
inlock { s = $3; sub(/\(.*/, "", s); c[s]++ }
' "$OUT/strace-tt.txt" >"$OUT/locks.txt"
cat "$OUT/locks.txt"
echo "profile: done"
