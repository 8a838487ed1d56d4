#!/bin/bash
# `make bench`: our server against micromdm's scepserver (Debian package `scep`) in the same
# run, on the same CA, the same pre-made requests and the same concurrencies. Measures and
# prints; asserts nothing (exit 1 only when the set-up fails).
#
# As root the whole bench runs inside a private network namespace (`ip netns add`, loopback
# only): scepserver 2.1.0 listens on every interface, the namespace keeps it off the
# network. Without root the peer is skipped and ours runs on 127.0.0.1.
#
# Ours: nginx + BENCH_W spawn-fcgi workers of the release build (cgi-bin/scep), a fresh
# repository with a 2048-bit CA (scep-admin init), ScepAutoApproveEnrollment = YES, the
# static challenge. The peer: scepserver -challenge (static) -allowrenew 0, its depot
# holding OUR CA certificate and key (PKCS#1, 3DES-encrypted: 2.1.0 reads only that form,
# given -capass), so one request set serves both servers byte for byte.
# Requests: build/scepbench prepare (PKCSReq, AES-128, SHA-256, RSA-2048 client keys,
# CN=<prefix>-<i>), made before anything is timed. Each level uses its own slice of the
# set, sent to ours and then to the peer.
#
# Per level and server: SUCCESS replies per second (pkiStatus read from the reply's
# signed attributes; FAILURE, PENDING and HTTP/network errors counted apart), p50/p99
# latency, server CPU per SUCCESS (utime+stime deltas from /proc/PID/stat: nginx master
# and workers + FastCGI workers; scepserver), the driver's own CPU (% of one core), the
# CPU everything else on the machine used meanwhile (/proc/stat; high = noisy numbers).
# Then every SUCCESS reply is verified (signature by the CA, decrypted with the client key,
# subject) and its serial counted for duplicates; BENCH_SAMPLES certificates of each run
# go through `openssl verify -CAfile ca.pem`.
# Also: the RSA ceiling (`openssl speed -multi NCPU rsa2048` sign/s ÷ 3, same run), 16-vs-1
# client ratios, worker peak RSS (VmHWM), plain CGI under Apache (mod_cgid) at 8 clients,
# GetCACaps / GetCACert against nginx serving a static file of the same bytes.
#
# BENCH_FILL=N (e.g. 1000000): after the above, the repository is copied onto a fresh ext4
# on a loop device (root; BENCH_FILL_FS=here keeps it where it is), the enrollment levels
# BENCH_FILL_LEVELS run against it, scep-admin `list --state pending`, `show ID`,
# `show PREFIX`, `crl` and `check` are timed, build/fillrepo adds N issued certificates
# (and BENCH_FILL_PENDING pending requests), the same commands are timed again and the
# levels run again. Needs about 14 kB and 2 inodes per certificate (the record and
# certs/<SERIAL>.pem; the DN index entry is a hard link); refuses when that would take
# over half of what the file system has free.
#
# Knobs (defaults): BENCH_LEVELS ("1 4 16 64"), BENCH_SECONDS (5, per level and server),
# BENCH_MAX (3000 requests per level and server: a level ends early when they run out),
# BENCH_W (4 workers), BENCH_PEER (1), BENCH_CGI_SECONDS (5; 0 skips), BENCH_GET_SECONDS
# (2; 0 skips), BENCH_RSA_SECONDS (3; 0 skips), BENCH_SAMPLES (5), BENCH_FILL (0),
# BENCH_FILL_PENDING (100), BENCH_FILL_LEVELS ("16"), BENCH_ADMIN_LIMIT
# (900 s: a timed scep-admin command running longer is stopped and reported as "> T"),
# BENCH_NETNS (1), BENCH_TIMEOUT (1500 s; 7200 s with BENCH_FILL). A short run: BENCH_LEVELS="1 16" BENCH_SECONDS=2 BENCH_MAX=500
# BENCH_CGI_SECONDS=0 BENCH_GET_SECONDS=1 BENCH_RSA_SECONDS=1 make bench
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
SELF=$TOP/tests/load/bench.sh

# ---- into a private network namespace (root), then run the rest in there
if [ -z "${BENCH_NS_IN:-}" ] && [ "${BENCH_NETNS:-1}" = 1 ] && [ "$(id -u)" = 0 ] &&
	command -v ip >/dev/null; then
	ns=scepbench-$$
	if ip netns add "$ns" 2>/dev/null; then
		trap 'ip netns del "$ns" 2>/dev/null' EXIT
		ip netns exec "$ns" ip link set lo up
		BENCH_NS_IN=$ns ip netns exec "$ns" bash "$SELF" "$@"
		exit $?
	fi
	echo "bench: cannot create a network namespace: running on the host's loopback" >&2
fi

: "${SCEP_BIN:=$TOP/cgi-bin/scep}"
: "${SCEP_ADMIN:=$TOP/scep-admin}"
. "$TOP/tests/load/common.sh"
if [ "${BENCH_FILL:-0}" -gt 0 ]; then
	la_timeout "${BENCH_TIMEOUT:-7200}" "$SELF" "$@"
else
	la_timeout "${BENCH_TIMEOUT:-1500}" "$SELF" "$@"
fi

read -r -a LEVELS <<<"${BENCH_LEVELS:-1 4 16 64}"
SECS=${BENCH_SECONDS:-5}
MAX=${BENCH_MAX:-3000}
W=${BENCH_W:-4}
PEER=${BENCH_PEER:-1}
CGI_SECS=${BENCH_CGI_SECONDS:-5}
GET_SECS=${BENCH_GET_SECONDS:-2}
RSA_SECS=${BENCH_RSA_SECONDS:-3}
SAMPLES=${BENCH_SAMPLES:-5}
FILL=${BENCH_FILL:-0}
FILL_PENDING=${BENCH_FILL_PENDING:-100}
read -r -a FILL_LEVELS <<<"${BENCH_FILL_LEVELS:-16}"
SB=$TOP/build/scepbench
FILLREPO=$TOP/build/fillrepo
HZ=$(getconf CLK_TCK)
NCPU=$(nproc)

la_init bench
la_prereq nginx spawn-fcgi openssl setpriv curl "$SCEP_BIN" "$SCEP_ADMIN" "$SB"
if [ "$PEER" = 1 ] && [ -z "${BENCH_NS_IN:-}" ]; then
	echo "bench: no private network namespace (needs root and iproute2): peer skipped" >&2
	PEER=0
fi
if [ "$PEER" = 1 ] && ! command -v scepserver >/dev/null; then
	echo "bench: scepserver missing (scripts/install-deps installs Debian's scep): peer skipped" >&2
	PEER=0
fi
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
echo "bench: $SCEP_BIN, $NCPU CPUs, $(uname -r), netns ${BENCH_NS_IN:-none}, load average $LOAD0"
echo "  .. work dir ${IT_DIR#"$LA_TOP"/}" >&2

kv() { awk -v k="$2" '{ for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) { print substr($i, length(k) + 2); exit } }' "$1"; }
ms() { echo $(( $(date +%s%N) / 1000000 )); }

# utime+stime (ticks) of the given pids; pids that are gone count 0.
cpu_ticks() {
	local p s f t=0
	for p in "$@"; do
		{ read -r s <"/proc/$p/stat"; } 2>/dev/null || continue
		read -r -a f <<<"${s##*) }"
		t=$((t + f[11] + f[12]))
	done
	echo "$t"
}
# busy and total jiffies of the whole machine
machine_ticks() { awk '/^cpu / { b = $2 + $3 + $4 + $7 + $8 + $9; print b, b + $5 + $6 }' /proc/stat; }

# ---- the RSA ceiling of this machine, measured now
RSA_SIGN=""
if [ "$RSA_SECS" -gt 0 ]; then
	RSA_SIGN=$(cd "$IT_DIR" && openssl speed -multi "$NCPU" -seconds "$RSA_SECS" rsa2048 2>/dev/null |
		awk '/^rsa +2048 bits/ { v = $6 } END { print v }')
	echo "  .. openssl speed -multi $NCPU rsa2048: ${RSA_SIGN:-?} sign/s" >&2
fi

# ---- repository, CA, the peer's depot, requests
chal="bench-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
it_make_repo "$IT_DIR/ca" "$chal" YES || { fail "setup: repository + CA"; exit 1; }
CA=$SCEP_REPO/ca/ca.pem
CABITS=$(openssl x509 -in "$CA" -noout -text | sed -n 's/.*Public-Key: (\([0-9]*\) bit).*/\1/p')
PDEPOT=$IT_DIR/peer/depot
if [ "$PEER" = 1 ]; then
	mkdir -p "$PDEPOT"
	cp "$CA" "$PDEPOT/ca.pem"
	if ! openssl rsa -in "$SCEP_REPO/ca/ca.key" -traditional -des3 -passout pass:bench \
		-out "$PDEPOT/ca.key" 2>"$IT_DIR/peer/key.err"; then
		fail "setup: the CA key for the peer's depot" "$(head -c 200 "$IT_DIR/peer/key.err")"
		exit 1
	fi
	chmod 400 "$PDEPOT/ca.key"
fi

WARM=20
NREQ=$((WARM + ${#LEVELS[@]} * MAX))
[ "$CGI_SECS" -gt 0 ] && NREQ=$((NREQ + MAX))
[ "$FILL" -gt 0 ] && NREQ=$((NREQ + 2 * ${#FILL_LEVELS[@]} * MAX))
t=$(ms)
"$SB" prepare -c "$CA" -n "$NREQ" -o "$IT_DIR/reqs" -p "$chal" -x "b$$" -k 16 -j "$NCPU" ||
	{ fail "setup: scepbench prepare"; exit 1; }
echo "  .. prepared $NREQ requests in $(( ($(ms) - t) / 1000 )) s" >&2
NEXT=0
take() { SLICE=$NEXT; NEXT=$((NEXT + $1)); }

# ---- servers
OURS_PIDS=""
start_ours() {
	it_start_fcgi "$SCEP_CONF" "$W" && it_start_nginx "$SCEP_CONF" ||
		{ fail "setup: spawn-fcgi + nginx"; exit 1; }
	FCGI_PIDS=$(cat "$IT_DIR/fcgi/pid")
	NGINX_PID=$(cat "$IT_DIR/nginx/nginx.pid")
	OURS_PIDS="$NGINX_PID $(it_children "$NGINX_PID" | tr '\n' ' ') $FCGI_PIDS"
	OURS_URL=$IT_URL
}
PEER_URL="" PEER_PID=""
start_peer() {
	local port i
	port=$(it_free_port) || { fail "setup: a port for the peer"; exit 1; }
	(cd "$IT_DIR/peer" && exec scepserver -depot depot -port "$port" -capass bench \
		-challenge "$chal" -allowrenew 0 >>"$IT_DIR/peer/log" 2>&1) &
	PEER_PID=$!
	la_pids_track "$PEER_PID"
	for i in $(seq 50); do
		curl -s -o /dev/null "http://127.0.0.1:$port/scep?operation=GetCACaps" && break
		sleep 0.1
	done
	kill -0 "$PEER_PID" 2>/dev/null || { fail "setup: scepserver" "$(tail -n 3 "$IT_DIR/peer/log")"; exit 1; }
	PEER_URL=http://127.0.0.1:$port/scep
}

# run NAME URL CLIENTS FIRST COUNT PIDS...: one timed run; figures in $IT_DIR/NAME.*
run() {
	local name=$1 url=$2 c=$3 first=$4 count=$5 d=$IT_DIR/$1 c0 c1 m0 m1 sv
	shift 5
	local np=$#
	c0=$(cpu_ticks "$@"); m0=$(machine_ticks)
	"$SB" run -u "$url" -r "$IT_DIR/reqs" -f "$first" -n "$count" -c "$c" -t "$SECS" \
		-o "$d.replies" >"$d.run" 2>"$d.err" ||
		{ fail "$name: scepbench run" "$(tail -n 2 "$d.err")"; return 1; }
	c1=$(cpu_ticks "$@"); m1=$(machine_ticks)
	awk -v np="$np" -v c0="$c0" -v c1="$c1" -v m0="$m0" -v m1="$m1" -v hz="$HZ" \
		-v s="$(kv "$d.run" success)" -v w="$(kv "$d.run" seconds)" \
		-v drv="$(kv "$d.run" driver_cpu_s)" 'BEGIN {
		split(m0, a, " "); split(m1, b, " ")
		busy = b[1] - a[1]; tot = b[2] - a[2]; srv = c1 - c0
		if (np > 0)
			printf "server_cpu_ms=%.2f ", (s > 0 ? srv * 1000 / hz / s : 0)
		else
			printf "server_cpu_ms=- "
		printf "other_pct=%.0f\n", (tot > 0 ? 100 * (busy - srv - drv * hz) / tot : 0)
	}' >"$d.cpu"
	sv=$("$SB" verify -r "$IT_DIR/reqs" -c "$CA" -i "$d.replies" -s "$d.samples" -m "$SAMPLES" 2>"$d.verr")
	echo "$sv" >"$d.verify"
	if [ "$SAMPLES" -gt 0 ] && ls "$d.samples"/*.pem >/dev/null 2>&1; then
		openssl verify -CAfile "$CA" "$d.samples"/*.pem 2>/dev/null | grep -c ': OK$' >"$d.osslok"
	else
		echo 0 >"$d.osslok"
	fi
	echo "  .. $name: $(cat "$d.run") $(cat "$d.cpu") $sv openssl_verify_ok=$(cat "$d.osslok")" >&2
}

start_ours
[ "$PEER" = 1 ] && start_peer
take "$WARM"
"$SB" run -u "$OURS_URL" -r "$IT_DIR/reqs" -f "$SLICE" -n "$WARM" -c 4 -t 30 >"$IT_DIR/warm-ours.run"
[ "$PEER" = 1 ] && "$SB" run -u "$PEER_URL" -r "$IT_DIR/reqs" -f "$SLICE" -n "$WARM" -c 4 -t 30 \
	>"$IT_DIR/warm-peer.run"
for c in "${LEVELS[@]}"; do
	take "$MAX"
	# shellcheck disable=SC2086
	run "ours-$c" "$OURS_URL" "$c" "$SLICE" "$MAX" $OURS_PIDS
	[ "$PEER" = 1 ] && run "peer-$c" "$PEER_URL" "$c" "$SLICE" "$MAX" "$PEER_PID"
done

# ---- GetCACaps / GetCACert: ours, nginx serving the same bytes from files, the peer
declare -A GET
if [ "$GET_SECS" -gt 0 ]; then
	sd=$IT_DIR/static
	mkdir -p "$sd/conf" "$sd/logs" "$sd/tmp" "$sd/htdocs"
	curl -s -o "$sd/htdocs/caps" "$OURS_URL?operation=GetCACaps"
	curl -s -o "$sd/htdocs/cacert" "$OURS_URL?operation=GetCACert"
	sport=$(it_free_port)
	# Same shape as lib.sh's nginx (2 workers, access log, keep-alive).
	cat >"$sd/conf/nginx.conf" <<-EOF
	worker_processes 2;
	pid $sd/nginx.pid;
	error_log $sd/logs/error.log;
	events { worker_connections 512; }
	http {
		access_log $sd/logs/access.log;
		client_body_temp_path $sd/tmp/body;
		fastcgi_temp_path $sd/tmp/fastcgi;
		proxy_temp_path $sd/tmp/proxy;
		uwsgi_temp_path $sd/tmp/uwsgi;
		scgi_temp_path $sd/tmp/scgi;
		default_type application/octet-stream;
		server { listen 127.0.0.1:$sport; root $sd/htdocs; }
	}
	EOF
	if nginx -p "$sd/" -c "$sd/conf/nginx.conf" -e "$sd/logs/error.log" 2>"$sd/start.err" &&
		it_wait_http "$sport"; then
		la_pids_track "$(cat "$sd/nginx.pid")"
	else
		fail "setup: static nginx" "$(head -c 200 "$sd/start.err")"
	fi
	get() {
		"$SB" get -u "$2" -c 16 -t "$GET_SECS" >"$IT_DIR/get-$1" 2>&1
		GET[$1]="$(kv "$IT_DIR/get-$1" per_s) req/s (p99 $(kv "$IT_DIR/get-$1" p99_ms) ms, $(kv "$IT_DIR/get-$1" bad) bad, $(kv "$IT_DIR/get-$1" bytes) B, driver $(kv "$IT_DIR/get-$1" driver_cpu_pct) %)"
		echo "  .. GET $1: $(cat "$IT_DIR/get-$1")" >&2
	}
	get caps-ours "$OURS_URL?operation=GetCACaps"
	get caps-static "http://127.0.0.1:$sport/caps"
	get cert-ours "$OURS_URL?operation=GetCACert"
	get cert-static "http://127.0.0.1:$sport/cacert"
	if [ "$PEER" = 1 ]; then
		get caps-peer "$PEER_URL?operation=GetCACaps"
		get cert-peer "$PEER_URL?operation=GetCACert"
	fi
fi

# ---- worker peak RSS, then stop ours and the peer
RSS=0
for p in $FCGI_PIDS; do
	v=$(awk '/^VmHWM/ {print $2}' "/proc/$p/status" 2>/dev/null)
	[ -n "$v" ] && [ "$v" -gt "$RSS" ] && RSS=$v
done
la_stop

# ---- plain CGI under Apache, 8 clients
if [ "$CGI_SECS" -gt 0 ]; then
	if command -v apache2 >/dev/null && it_start_apache cgi "$SCEP_CONF"; then
		curl -s -o /dev/null "$IT_URL?operation=GetCACaps"
		APACHE_PID=$(cat "$IT_DIR/apache/apache2.pid")
		take "$MAX"
		SECS_SAVE=$SECS SECS=$CGI_SECS
		# mod_cgid's children come and go: their CPU is not attributed (cpu ms "-"); the
		# oth % column holds it, with everything else on the machine.
		run "cgi-8" "$IT_URL" 8 "$SLICE" "$MAX"
		SECS=$SECS_SAVE
		la_stop
	else
		fail "setup: Apache (cgi)"
	fi
fi

# ---- the filled repository
declare -A FT
timed() {	# timed KEY CMD...: wall ms of one scep-admin run (output in a file), at most
	local k=$1 t0 rc u=(); shift	# BENCH_ADMIN_LIMIT seconds
	[ "$(id -un)" != "$IT_RUN_USER" ] &&
		u=(setpriv --reuid="$IT_RUN_USER" --regid="$IT_RUN_GROUP" --init-groups --)
	t0=$(ms)
	timeout -k 5 "${BENCH_ADMIN_LIMIT:-900}" "${u[@]}" "$SCEP_ADMIN" -c "$SCEP_CONF" "$@" \
		>"$IT_DIR/admin-$k.out" 2>&1
	rc=$?
	FT[$k]="$(( $(ms) - t0 ))"
	if [ "$rc" = 124 ]; then FT[$k]="> ${FT[$k]} (stopped)"
	elif [ "$rc" != 0 ]; then FT[$k]="${FT[$k]} (rc $rc)"; fi
}
# admin_times WHEN [ID]: the admin commands on the repository as it is (ID: a record to
# show, else the first issued one)
admin_times() {
	local w=$1 id=${2:-}
	[ -n "$id" ] || id=$(ls "$SCEP_REPO/issued" | head -n 1)
	timed "$w-list" list --state pending
	timed "$w-list2" list --state pending
	FT[$w-list-n]=$(grep -c . "$IT_DIR/admin-$w-list.out")
	timed "$w-show" show "$id"
	timed "$w-prefix" show "${id:0:12}"
	timed "$w-crl" crl
	timed "$w-check" check
	FT[$w-check-n]=$(grep -c . "$IT_DIR/admin-$w-check.out")
	FT[$w-certs]=$(grep -c . "$SCEP_REPO/index.txt")
}
# fill_fs: the file system the filled repository lives on. As root (BENCH_FILL_FS=loop, the
# default): a fresh ext4 image (sparse, in the work directory, inodes for the fill) mounted
# on a loop device in this namespace, so that a million files go away with one umount and
# one unlink, and the empty and the filled runs share one file system. Otherwise the work
# directory's own file system, after a free-space check.
fill_fs() {
	local per_kb=14 per_in=2 free_kb free_in mb img mnt
	if [ "${BENCH_FILL_FS:-loop}" = loop ] && [ "$(id -u)" = 0 ] && command -v mkfs.ext4 >/dev/null; then
		mb=$((FILL * per_kb / 1024 + 2048))
		img=$IT_DIR/fill.img mnt=$IT_DIR/fillfs
		read -r free_kb <<<"$(df -Pk "$IT_DIR" | awk 'NR == 2 { print $4 }')"
		[ $((mb * 1024)) -lt $((free_kb / 2)) ] ||
			{ fail "fill: $FILL certificates need ~$mb MiB; $((free_kb / 1024)) MiB free"; return 1; }
		mkdir -p "$mnt"
		truncate -s "${mb}M" "$img" &&
			mkfs.ext4 -q -F -N $((FILL * per_in + 100000)) "$img" 2>"$IT_DIR/mkfs.err" &&
			mount -o loop "$img" "$mnt" 2>>"$IT_DIR/mkfs.err" ||
			{ fail "fill: loop file system" "$(head -c 200 "$IT_DIR/mkfs.err")"; return 1; }
		LA_MOUNTS="$LA_MOUNTS $mnt"
		chown "$IT_RUN_USER:$IT_RUN_GROUP" "$mnt"
		cp -a "$SCEP_REPO" "$mnt/repo" || { fail "fill: copy the repository"; return 1; }
		sed "s#^ScepRepository = .*#ScepRepository = $mnt/repo#" "$SCEP_CONF" >"$IT_DIR/fill.conf"
		chmod 644 "$IT_DIR/fill.conf"
		SCEP_CONF=$IT_DIR/fill.conf SCEP_REPO=$mnt/repo
		FILL_WHERE="ext4 on a loop device (${mb} MiB image, mkfs.ext4 defaults)"
		return 0
	fi
	read -r free_kb free_in <<<"$(df -Pk "$SCEP_REPO" | awk 'NR == 2 { print $4 }') $(df -Pi "$SCEP_REPO" | awk 'NR == 2 { print $4 }')"
	if [ $((FILL * per_kb)) -gt $((free_kb / 2)) ] || [ $((FILL * per_in)) -gt $((free_in / 2)) ]; then
		fail "fill: $FILL certificates need ~$((FILL * per_kb / 1024)) MiB and $((FILL * per_in)) inodes; the file system has $((free_kb / 1024)) MiB and $free_in inodes free"
		return 1
	fi
	FILL_WHERE="the work directory's file system"
}
fill_levels() {	# fill_levels NAME: the BENCH_FILL_LEVELS runs against ours on $SCEP_CONF
	local c
	start_ours
	for c in "${FILL_LEVELS[@]}"; do
		take "$MAX"
		# shellcheck disable=SC2086
		run "$1-$c" "$OURS_URL" "$c" "$SLICE" "$MAX" $OURS_PIDS
	done
	it_stop_all
}
FILL_WHERE=""
if [ "$FILL" -gt 0 ] && fill_fs; then
	fill_levels empty
	admin_times before
	t=$(ms)
	setpriv --reuid="$IT_RUN_USER" --regid="$IT_RUN_GROUP" --init-groups -- \
		"$FILLREPO" -r "$SCEP_REPO" -n "$FILL" -p "$FILL_PENDING" -x "fill$$" \
		-j "$NCPU" >"$IT_DIR/fill.out" 2>&1 ||
		fail "fill: fillrepo" "$(tail -n 2 "$IT_DIR/fill.out")"
	FT[fill]="$(( ($(ms) - t) / 1000 )) s ($(cat "$IT_DIR/fill.out"))"
	echo "  .. fill: ${FT[fill]}" >&2
	fid=$(printf '%s' "fill$$-$(printf '%08d' $((FILL / 2)))" | sha256sum | cut -c1-64)
	admin_times after "$fid"
	fill_levels fill
	la_stop
fi

# ---- the table
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)
fig() { [ -f "$IT_DIR/$1.$2" ] && kv "$IT_DIR/$1.$2" "$3"; }
row() {	# row NAME CLIENTS LABEL RATIO
	local n=$1
	grep -q 'success=' "$IT_DIR/$n.run" 2>/dev/null ||
		{ printf '%7s %-9s %s\n' "$2" "$3" "(no result)"; return; }
	printf '%7s %-9s %9s %6s %7s %7s %8s %5s %5s %6s %5s %8s %7s %6s\n' "$2" "$3" \
		"$(fig "$n" run success_per_s)" "${4:--}" "$(fig "$n" run p50_ms)" "$(fig "$n" run p99_ms)" \
		"$(fig "$n" cpu server_cpu_ms)" "$(fig "$n" run failure)" \
		"$(( $(fig "$n" run httperr) + $(fig "$n" run neterr) + $(fig "$n" run pending) + $(fig "$n" run other) ))" \
		"$(fig "$n" verify dup_serials)" "$(( $(fig "$n" verify bad) + $(fig "$n" verify cn_mismatch) ))" \
		"$(cat "$IT_DIR/$n.osslok")/$(fig "$n" verify samples)" "$(fig "$n" run driver_cpu_pct)" \
		"$(fig "$n" cpu other_pct)"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
echo
echo "bench: enrollments (PKCSReq, static challenge, auto-issued), ${SECS} s or $MAX requests per run, CA RSA-$CABITS"
echo "  ours = nginx + $W spawn-fcgi workers ($SCEP_BIN); micromdm = scepserver $(scepserver -version 2>/dev/null | head -n 1)"
printf '%7s %-9s %9s %6s %7s %7s %8s %5s %5s %6s %5s %8s %7s %6s\n' clients server SUCCESS/s ratio \
	"p50 ms" "p99 ms" "cpu ms" FAIL err "dup sn" bad "ossl ok" "drv %" "oth %"
for c in "${LEVELS[@]}"; do
	r=-
	[ -f "$IT_DIR/peer-$c.run" ] && r=$(ratio "$(fig "ours-$c" run success_per_s)" "$(fig "peer-$c" run success_per_s)")
	row "ours-$c" "$c" ours "$r"
	[ "$PEER" = 1 ] && row "peer-$c" "$c" micromdm
done
[ "$CGI_SECS" -gt 0 ] && row cgi-8 8 "cgi"
for c in "${FILL_LEVELS[@]}"; do
	[ -f "$IT_DIR/empty-$c.run" ] && row "empty-$c" "$c" "ours@fs"
	[ -f "$IT_DIR/fill-$c.run" ] && row "fill-$c" "$c" "ours@fs+N" \
		"$(ratio "$(fig "fill-$c" run success_per_s)" "$(fig "empty-$c" run success_per_s)")"
done
echo "  (cpu ms: server CPU per SUCCESS; FAIL: FAILURE replies; err: HTTP/network errors and"
echo "   other statuses; dup sn: SUCCESS replies repeating a serial already issued; bad: replies"
echo "   that do not verify or carry the wrong subject; ossl ok: sampled certificates that pass"
echo "   openssl verify; drv %: driver CPU in % of one core; oth %: CPU used by everything else"
echo "   on the machine meanwhile, in % of all cores; cgi: server CPU not attributed;"
echo "   ours@fs: the same repository on the fill's file system before the fill, ours@fs+N"
echo "   after it; its ratio is filled / before)"
if [ -n "$RSA_SIGN" ]; then
	ceil=$(awk -v s="$RSA_SIGN" 'BEGIN { printf "%.0f", s / 3 }')
	line="RSA ceiling: openssl speed -multi $NCPU rsa2048 = $RSA_SIGN sign/s, / 3 = $ceil enrollments/s;"
	for c in 16 64; do
		[ -f "$IT_DIR/ours-$c.run" ] && line="$line ours at $c clients $(awk -v a="$(fig "ours-$c" run success_per_s)" -v b="$ceil" 'BEGIN { printf "%.0f", 100 * a / b }') %"
	done
	echo "$line"
fi
if [ -f "$IT_DIR/ours-16.run" ] && [ -f "$IT_DIR/ours-1.run" ]; then
	line="16 vs 1 client: ours $(ratio "$(fig ours-16 run success_per_s)" "$(fig ours-1 run success_per_s)")"
	[ -f "$IT_DIR/peer-16.run" ] && line="$line, micromdm $(ratio "$(fig peer-16 run success_per_s)" "$(fig peer-1 run success_per_s)")"
	echo "$line"
fi
echo "FastCGI worker peak RSS (VmHWM, largest of $W): $RSS kB"
if [ "$GET_SECS" -gt 0 ]; then
	echo "GetCACaps, 16 clients: ours ${GET[caps-ours]:-?}; static nginx ${GET[caps-static]:-?}${GET[caps-peer]:+; micromdm ${GET[caps-peer]}}"
	echo "GetCACert, 16 clients: ours ${GET[cert-ours]:-?}; static nginx ${GET[cert-static]:-?}${GET[cert-peer]:+; micromdm ${GET[cert-peer]}}"
	echo "  ours / static: GetCACaps $(ratio "$(kv "$IT_DIR/get-caps-ours" per_s)" "$(kv "$IT_DIR/get-caps-static" per_s)"), GetCACert $(ratio "$(kv "$IT_DIR/get-cert-ours" per_s)" "$(kv "$IT_DIR/get-cert-static" per_s)")"
fi
if [ "$FILL" -gt 0 ] && [ -n "${FT[fill]:-}" ]; then
	echo "Filled repository ($FILL_WHERE): $FILL issued + $FILL_PENDING pending added in ${FT[fill]}"
	echo "  scep-admin wall ms      before fill (${FT[before-certs]} certs)   after fill (${FT[after-certs]} certs)"
	printf '  %-24s %14s %24s\n' "list --state pending" "${FT[before-list]}, ${FT[before-list2]}" \
		"${FT[after-list]}, ${FT[after-list2]} (${FT[after-list-n]} lines)"
	printf '  %-24s %14s %24s\n' "show ID" "${FT[before-show]}" "${FT[after-show]}"
	printf '  %-24s %14s %24s\n' "show PREFIX (12 hex)" "${FT[before-prefix]}" "${FT[after-prefix]}"
	printf '  %-24s %14s %24s\n' "crl" "${FT[before-crl]}" "${FT[after-crl]}"
	printf '  %-24s %14s %24s\n' "check" "${FT[before-check]}" "${FT[after-check]} (${FT[after-check-n]} lines of findings)"
fi
echo "load average: $LOAD0 at the start, $LOAD1 at the end ($NCPU CPUs): with other work running, the figures are noisy"
if [ "$IT_FAIL" = 0 ] && [ -z "${IT_KEEP:-}" ]; then rm -rf "$IT_DIR"; fi
[ "$IT_FAIL" = 0 ] || { echo "bench: $IT_FAIL set-up failures (work dir kept: ${IT_DIR#"$LA_TOP"/})"; exit 1; }
echo "bench: done in $(( $(date +%s) - LA_T0 )) s"
