#!/bin/bash
# Benchmark for `make bench`: measures and prints, asserts nothing (exit 1 only when the
# set-up fails). With the release build (cgi-bin/scep, ./scep-admin) by default:
#   - enrollments/s and latency p50/p95/p99 (one PKCSReq with the static challenge, issued
#     at once; POST, keep-alive) at 1, 8 and 64 concurrent clients
#       FastCGI: nginx + BENCH_W spawn-fcgi workers (default 4), apache-conf/nginx-scep.conf
#       CGI:     Apache mod_cgid, one process per request, apache-conf/apache-scep-cgi.conf
#                (lib.sh's Apache: event MPM, MaxRequestWorkers 32, so 64 clients queue)
#   - GetCACaps requests/s (16 clients) through both;
#   - peak RSS of a FastCGI worker (largest VmHWM in /proc/PID/status) after the runs.
# Enrollments per level: BENCH_FCGI_N="100 400 800", BENCH_CGI_N="50 200 400" (for 1, 8
# and 64 clients). Keys and requests are made before anything is timed. Time limit
# BENCH_TIMEOUT (default 1200 s). Binds 127.0.0.1 only.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
: "${SCEP_BIN:=$TOP/cgi-bin/scep}"
: "${SCEP_ADMIN:=$TOP/scep-admin}"
. "$(dirname "$0")/common.sh"
la_timeout "${BENCH_TIMEOUT:-1200}" "$0" "$@"

W=${BENCH_W:-4}
read -r -a FN <<<"${BENCH_FCGI_N:-100 400 800}"
read -r -a CN <<<"${BENCH_CGI_N:-50 200 400}"
LEVELS=(1 8 64)
CAPS_N=${BENCH_CAPS_N:-5000}

la_init bench
la_prereq nginx spawn-fcgi apache2 openssl setpriv curl "$SCEP_BIN" "$SCEP_ADMIN" "$SCEPREQ"
echo "bench: server $SCEP_BIN, $(nproc) CPUs, $(uname -r); work dir ${IT_DIR#"$LA_TOP"/}"

chal="bench-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
it_make_repo "$IT_DIR/ca" "$chal" YES || { fail "setup: repository + CA"; exit 1; }
total=0
for n in "${FN[@]}" "${CN[@]}"; do total=$((total + n)); done
t=$(date +%s)
la_prepare "$IT_DIR/reqs" "$total" --keys 32 --challenge "$chal" --prefix "bench$$" ||
	{ fail "setup: keys and requests"; exit 1; }
echo "  .. prepared $total requests in $(( $(date +%s) - t )) s" >&2

# Split the manifest into one slice per run, in order.
first=0
slice() {
	local name=$1 n=$2
	grep -v '^#' "$IT_DIR/reqs/manifest" | sed -n "$((first + 1)),$((first + n))p" \
		>"$IT_DIR/reqs/$name.manifest"
	first=$((first + n))
}
for i in 0 1 2; do slice "fcgi-${LEVELS[$i]}" "${FN[$i]}"; done
for i in 0 1 2; do slice "cgi-${LEVELS[$i]}" "${CN[$i]}"; done

declare -A ROW
# run_level FLAVOUR CLIENTS: enrollments through $IT_URL; fills ROW[FLAVOUR-CLIENTS].
run_level() {
	local fl=$1 c=$2 out=$IT_DIR/run-$1-$2 s
	mkdir -p "$out"
	if ! "$LOAD_PYTHON" "$LA_GEN" run --url "$IT_URL" --manifest "$IT_DIR/reqs/$fl-$c.manifest" \
		--out "$out" -c "$c" --deadline 600 >"$out/summary.json" 2>"$out/driver.err"; then
		fail "$fl, $c clients: driver" "$(tail -n 2 "$out/driver.err")"; return 1
	fi
	s=$out/summary.json
	ROW[$fl-$c]=$(printf '%-9s %7s %9s %9s %9s %9s %6s' "$fl" "$c" \
		"$(la_fig "$s" enroll_per_s)" "$(la_fig "$s" auto_p50_ms)" \
		"$(la_fig "$s" auto_p95_ms)" "$(la_fig "$s" auto_p99_ms)" \
		"$(( $(la_fig "$s" enrollments) - $(la_fig "$s" success) ))")
	echo "  .. $fl $c clients: $(cat "$s")" >&2
}
caps() {
	local out=$IT_DIR/caps-$1.json
	"$LOAD_PYTHON" "$LA_GEN" get --url "$IT_URL?operation=GetCACaps" -n "$2" -c 16 >"$out" ||
		{ fail "$1: GetCACaps driver"; return 1; }
	CAPS[$1]="$(la_fig "$out" per_s) req/s (p50 $(la_fig "$out" p50_ms) ms, p99 $(la_fig "$out" p99_ms) ms, $(la_fig "$out" bad) errors)"
}
declare -A CAPS

# ---- FastCGI through nginx
it_start_fcgi "$SCEP_CONF" "$W" && it_start_nginx "$SCEP_CONF" ||
	{ fail "setup: spawn-fcgi + nginx"; exit 1; }
WORKERS=$(cat "$IT_DIR/fcgi/pid")
curl -s -o /dev/null "$IT_URL?operation=GetCACaps"
for c in "${LEVELS[@]}"; do run_level fcgi "$c"; done
caps fcgi "$CAPS_N"
rss=0
for p in $WORKERS; do
	v=$(awk '/^VmHWM/ {print $2}' "/proc/$p/status" 2>/dev/null)
	[ -n "$v" ] && [ "$v" -gt "$rss" ] && rss=$v
done
it_stop_all

# ---- plain CGI through Apache mod_cgid
it_start_apache cgi "$SCEP_CONF" || { fail "setup: Apache (cgi)"; exit 1; }
curl -s -o /dev/null "$IT_URL?operation=GetCACaps"
for c in "${LEVELS[@]}"; do run_level cgi "$c"; done
caps cgi $((CAPS_N / 5))
la_stop

echo
echo "bench: enrollments (PKCSReq with challenge, issued at once), $(nproc) CPUs"
printf '%-9s %7s %9s %9s %9s %9s %6s\n' flavour clients enroll/s "p50 ms" "p95 ms" "p99 ms" failed
for fl in fcgi cgi; do
	for c in "${LEVELS[@]}"; do echo "${ROW[$fl-$c]:-$fl $c: no result}"; done
done
echo "GetCACaps, 16 clients: FastCGI ${CAPS[fcgi]:-?}; CGI ${CAPS[cgi]:-?}"
echo "FastCGI worker peak RSS (VmHWM, largest of $W): $rss kB"
echo "FastCGI = nginx + spawn-fcgi ($W workers); CGI = Apache 2.4 mod_cgid (fork/exec per request)"
if [ "$IT_FAIL" = 0 ] && [ -z "${IT_KEEP:-}" ]; then rm -rf "$IT_DIR"; fi
[ "$IT_FAIL" = 0 ] || { echo "bench: $IT_FAIL set-up failures"; exit 1; }
echo "bench: done in $(( $(date +%s) - LA_T0 )) s"
