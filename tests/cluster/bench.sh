#!/bin/bash
# Shared-FS benchmark (`make bench-cluster`): measures and prints, asserts nothing (exit 1
# only when the set-up fails). With the release build (cgi-bin/scep, ./scep-admin) by
# default, side by side, each on a fresh repository with the same CA:
#   local   one node (nginx + BENCH_W spawn-fcgi workers, default 4), repository on local disk
#   vol1    one node, repository on a GlusterFS volume (tests/cluster/gluster.sh settings)
#   vol2    two nodes (two mounts of that volume), one repository
# BENCH_N enrollments each (default 300; PKCSReq with the static challenge, issued at once)
# from BENCH_C connections per node (default 16, so 32 for vol2). Per configuration:
# enrollments/s, latency p50/p99 of an enrollment, and the file-system round trips:
#   fops/enr   requests that reached the brick per enrollment (gluster volume profile,
#              cumulative, cleared before each run): every one is a network round trip
#              from a node to the storage; the busiest kinds are listed;
#   sys/enr    file-system system calls per enrollment made by the workers (strace -c -f
#              on the workers during a separate run of BENCH_STRACE_N enrollments,
#              default 60: the calls that name a path, plus fcntl, fsync, fdatasync and
#              getdents64; read/write are left out, sockets would blur them). Under FUSE
#              each such call is at least one FUSE request.
# Keys and requests are made before anything is timed. Time limit BENCH_TIMEOUT (default
# 1800 s). Needs what cluster.sh needs (root, FUSE, GlusterFS). The machine's load
# decides these figures: run it on an idle machine, and say so when it was not.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
: "${SCEP_BIN:=$TOP/cgi-bin/scep}"
: "${SCEP_ADMIN:=$TOP/scep-admin}"
. "$HERE/../load/common.sh"
. "$HERE/gluster.sh"
. "$HERE/common.sh"
cl_timeout "${BENCH_TIMEOUT:-1800}"

BN=${BENCH_N:-300}
BC=${BENCH_C:-16}
W=${BENCH_W:-4}
SN=${BENCH_STRACE_N:-60}
CONFIGS=${BENCH_CONFIGS:-local vol1 vol2}

cl_init bench-cluster
la_prereq nginx spawn-fcgi openssl setpriv curl strace "$SCEP_BIN" "$SCEP_ADMIN" "$SCEPREQ"
echo "bench-cluster: server $SCEP_BIN, $W workers per node, $BC connections per node," \
	"$BN enrollments per configuration; $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
CL_CHAL="bench-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
if ! cl_cluster A B >"$IT_DIR/setup.out"; then
	fail "setup: glusterd, volume, two FUSE mounts" "$(tail -n 1 "$IT_DIR/setup.out")"
	cl_finish bench-cluster
fi
gl_profile start
cl_repo base || { fail "setup: repository and CA"; cl_finish bench-cluster; }

# One request pool: BN per configuration plus SN per strace run.
nconf=$(echo "$CONFIGS" | wc -w)
total=$(( nconf * (BN + SN) ))
t=$(date +%s)
la_prepare "$IT_DIR/reqs" "$total" --keys 32 --challenge "$CL_CHAL" --prefix "bc$$" ||
	{ fail "setup: keys and requests"; cl_finish bench-cluster; }
echo "  .. prepared $total requests in $(( $(date +%s) - t )) s" >&2
first=0
slice() {
	grep -v '^#' "$IT_DIR/reqs/manifest" | sed -n "$((first + 1)),$((first + $2))p" >"$IT_DIR/reqs/$1.manifest"
	first=$((first + $2))
}

# local_repo: a repository on local disk with the same CA; CONF[L].
local_repo() {
	local d=$IT_DIR/local
	mkdir -p "$d"; chown "$IT_RUN_USER:$IT_RUN_GROUP" "$d"
	{
		echo "ScepRepository = $d/repo"
		echo "ScepChallengePassword = $CL_CHAL"
		echo "ScepAutoApproveEnrollment = YES"
		echo "ScepCertValidityDays = 30"
	} >"$IT_DIR/conf/local.conf"
	chmod 644 "$IT_DIR/conf/local.conf"
	CONF[L]=$IT_DIR/conf/local.conf
	SCEP_CONF=${CONF[L]} la_admin import --cert "$CL_CA_DIR/ca.pem" --key "$CL_CA_DIR/ca.key" \
		>"$d/init.log" 2>&1
}

# strace_run NAME NODE URL...: SN enrollments while strace counts the workers' file-system
# calls; STR[NAME] = calls per enrollment, STRTOP[NAME] = the busiest calls.
declare -A ROW STR STRTOP FOPS FOPTOP
strace_run() {
	local name=$1 node=$2 out=$IT_DIR/strace-$1 args=() urls=() u p st n calls; shift 2
	mkdir -p "$out"
	slice "strace-$name" "$SN"
	for p in $(cl_workers "$node"); do args+=(-p "$p"); done
	strace -f -c -o "$out/strace.txt" -e trace=%file,fcntl,fsync,fdatasync,getdents64 "${args[@]}" \
		2>"$out/strace.err" &
	st=$!
	sleep 1
	for u in "$@"; do urls+=(--url "$u"); done
	"$LOAD_PYTHON" "$LA_GEN" run "${urls[@]}" --manifest "$IT_DIR/reqs/strace-$name.manifest" \
		--out "$out" -c "$BC" --deadline 600 >"$out/summary.json" 2>"$out/driver.err"
	kill -INT "$st" 2>/dev/null; wait "$st" 2>/dev/null
	n=$(la_fig "$out/summary.json" success 2>/dev/null || echo 0)
	# strace -c columns: % time, seconds, usecs/call, calls, [errors], syscall.
	calls=$(awk '$NF == "total" { print $4 }' "$out/strace.txt")
	if [ "${n:-0}" -gt 0 ] && [ -n "$calls" ]; then
		STR[$name]=$(awk -v c="$calls" -v n="$n" 'BEGIN { printf "%.0f", c / n }')
		STRTOP[$name]=$(awk -v n="$n" 'NF >= 5 && $1 ~ /^[0-9.]+$/ && $NF != "total" {
			printf "%s %.1f\n", $NF, $4 / n }' "$out/strace.txt" | sort -k2 -rn | head -n 8 | tr '\n' ' ')
	fi
}

# bench_run NAME URL...: BN enrollments from BC connections per URL; ROW[NAME].
bench_run() {
	local name=$1 out=$IT_DIR/run-$1 s nurl=$(($# - 1)) urls=() u prof; shift
	mkdir -p "$out"
	slice "$name" "$BN"
	[ "$name" != local ] && gl_profile clear
	for u in "$@"; do urls+=(--url "$u"); done
	if ! "$LOAD_PYTHON" "$LA_GEN" run "${urls[@]}" --manifest "$IT_DIR/reqs/$name.manifest" --out "$out" \
		-c $((BC * nurl)) --deadline 900 >"$out/summary.json" 2>"$out/driver.err"; then
		fail "$name: driver" "$(tail -n 2 "$out/driver.err")"; return 1
	fi
	s=$out/summary.json
	if [ "$name" != local ]; then
		prof=$out/profile.txt
		gl_profile info "$prof"
		gl_fops "$prof" >"$out/fops.txt"
		FOPS[$name]=$(awk -v n="$(la_fig "$s" success)" '{ t += $1 } END { if (n) printf "%.0f", t / n }' "$out/fops.txt")
		FOPTOP[$name]=$(awk -v n="$(la_fig "$s" success)" 'NR <= 8 && n { printf "%s %.1f ", $2, $1 / n }' "$out/fops.txt")
	fi
	ROW[$name]=$(printf '%-6s %5s %6s %9s %9s %9s %6s' "$name" "$nurl" $((BC * nurl)) \
		"$(la_fig "$s" enroll_per_s)" "$(la_fig "$s" auto_p50_ms)" "$(la_fig "$s" auto_p99_ms)" \
		"$(( $(la_fig "$s" enrollments) - $(la_fig "$s" success) ))")
	echo "  .. $name: $(cat "$s")" >&2
}

for cfg in $CONFIGS; do
	CL_RUN=$cfg
	case $cfg in
	local)
		local_repo || { fail "local: repository"; continue; }
		cl_node L spawn "$W" "${CONF[L]}" || { fail "local: node"; cl_stop_nodes; continue; }
		curl -s -o /dev/null "${URL[L]}?operation=GetCACaps"
		bench_run local "${URL[L]}"
		strace_run local L "${URL[L]}"
		;;
	vol1)
		cl_repo vol1 "$CL_CA_DIR" || { fail "vol1: repository"; continue; }
		cl_node A spawn "$W" || { fail "vol1: node"; cl_stop_nodes; continue; }
		bench_run vol1 "${URL[A]}"
		strace_run vol1 A "${URL[A]}"
		;;
	vol2)
		cl_repo vol2 "$CL_CA_DIR" || { fail "vol2: repository"; continue; }
		cl_node A spawn "$W" && cl_node B spawn "$W" || { fail "vol2: nodes"; cl_stop_nodes; continue; }
		bench_run vol2 "${URL[A]}" "${URL[B]}"
		;;
	esac
	cl_stop_nodes
done

echo
echo "bench-cluster: enrollments (PKCSReq with challenge, issued at once), $W workers per node, $(nproc) CPUs"
printf '%-6s %5s %6s %9s %9s %9s %6s %9s %9s\n' config nodes conns enroll/s "p50 ms" "p99 ms" failed fops/enr sys/enr
for cfg in $CONFIGS; do
	printf '%s %9s %9s\n' "${ROW[$cfg]:-$cfg: no result}" "${FOPS[$cfg]:--}" "${STR[$cfg]:-${STR[vol1]:+(as vol1)}}"
done
for cfg in $CONFIGS; do
	[ -n "${FOPTOP[$cfg]:-}" ] && echo "  $cfg: brick requests per enrollment, busiest: ${FOPTOP[$cfg]}"
	[ -n "${STRTOP[$cfg]:-}" ] && echo "  $cfg: worker system calls per enrollment, busiest: ${STRTOP[$cfg]}"
done
echo "local = repository on local disk; vol1/vol2 = one/two nodes on one GlusterFS volume (loopback brick)"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) (figures from a loaded machine are not comparable)"
cl_finish bench-cluster
