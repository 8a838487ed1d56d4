# shellcheck shell=bash
# tests/integration/lib.sh: helpers for the integration tests (source it from bash).
#
# Starts private instances on 127.0.0.1 ports chosen free at run time, each with all its
# files (config, pid, logs, sockets) in one work directory:
#   it_init NAME                        work dir $IT_DIR under tests/out/, cleanup trap
#   it_make_repo DIR CHALLENGE AUTO     scep.conf + repository + CA (scep-admin init)
#   it_start_fcgi CONF N                spawn-fcgi, N workers of $SCEP_BIN on a unix socket
#   it_start_nginx CONF                 nginx from apache-conf/nginx-scep.conf
#   it_start_apache MODE CONF           Apache from apache-conf/apache-scep-MODE.conf
#                                       (MODE = fcgid | proxy-fcgi | cgi)
#   it_stop_all                         stop everything started (also run by the trap)
# and the PASS/FAIL bookkeeping used by the t-*.sh client tests:
#   pass NAME / fail NAME [WHY] / it_summary
#
# Users: the CA repository must be writable by whatever runs the scep program. As root,
# everything (spawn-fcgi workers, Apache's User for fcgid/CGI, scep-admin) runs as
# $IT_RUN_USER = www-data, and the repository is created by that user. As an ordinary
# user, everything runs as that user.
#
# Environment knobs:
#   SCEP_BIN    server program (default build/asan/scep if built, else cgi-bin/scep)
#   SCEP_ADMIN  admin program  (default ./scep-admin)
#   IT_KEEP=1   keep the work directory even when everything passed

IT_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
IT_CONFDIR=$IT_TOP/apache-conf

if [ -z "${SCEP_BIN:-}" ]; then
	if [ -x "$IT_TOP/build/asan/scep" ]; then SCEP_BIN=$IT_TOP/build/asan/scep
	else SCEP_BIN=$IT_TOP/cgi-bin/scep; fi
fi
case $SCEP_BIN in /*) ;; *) SCEP_BIN=$PWD/$SCEP_BIN ;; esac
: "${SCEP_ADMIN:=$IT_TOP/scep-admin}"
case $SCEP_ADMIN in /*) ;; *) SCEP_ADMIN=$PWD/$SCEP_ADMIN ;; esac
export SCEP_BIN SCEP_ADMIN

# Sanitizer settings for every server process we start (reports go to stderr, which
# ends up in the logs that it_check_sanitizer_logs reads).
: "${ASAN_OPTIONS:=detect_leaks=1:abort_on_error=0:halt_on_error=1}"
: "${UBSAN_OPTIONS:=print_stacktrace=1:halt_on_error=1}"
export ASAN_OPTIONS UBSAN_OPTIONS

if [ "$(id -u)" = 0 ]; then
	: "${IT_RUN_USER:=www-data}"
else
	IT_RUN_USER=$(id -un)
fi
IT_RUN_GROUP=$(id -gn "$IT_RUN_USER")

IT_PIDS=""		# processes to stop (space separated)
IT_DIR=""
IT_PASS=${IT_PASS:-0}
IT_FAIL=${IT_FAIL:-0}
IT_PREFIX=${IT_PREFIX:-}

# ---------------------------------------------------------------- bookkeeping

pass() { IT_PASS=$((IT_PASS + 1)); echo "PASS: $IT_PREFIX$1"; }
fail() {
	IT_FAIL=$((IT_FAIL + 1))
	echo "FAIL: $IT_PREFIX$1${2:+ ($2)}"
}
# check NAME CMD...: pass if CMD succeeds
check() { local n=$1; shift; if "$@"; then pass "$n"; else fail "$n"; fi; }
it_summary() {
	echo "${1:-result}: $IT_PASS passed, $IT_FAIL failed"
	# a client test run on its own removes its output folder when all passed
	if [ "$IT_FAIL" = 0 ] && [ -z "${IT_KEEP:-}" ] && [ -z "${IT_OUT_BASE:-}" ] && [ -n "${IT_OUT:-}" ]; then
		rm -rf "$IT_OUT"
	fi
	[ "$IT_FAIL" = 0 ]
}
it_log() { echo "  .. $*" >&2; }

# Show the last lines of a file (indented) on stderr, to explain a failure.
it_show() {
	local f
	for f in "$@"; do
		[ -s "$f" ] || continue
		echo "  --- $f (tail)" >&2
		tail -n "${IT_SHOW_LINES:-15}" "$f" | sed 's/^/  | /' >&2
	done
}

# ---------------------------------------------------------------- work dir, processes

it_init() {
	local name=${1:-it}
	mkdir -p "$IT_TOP/tests/out"
	IT_DIR=$(mktemp -d "$IT_TOP/tests/out/$name.XXXXXX") || exit 1
	chmod 755 "$IT_TOP/tests/out" "$IT_DIR"
	trap 'it_stop_all' EXIT
	trap 'it_stop_all; exit 130' INT
	trap 'it_stop_all; exit 143' TERM
}

it_track() { IT_PIDS="$IT_PIDS $*"; }

it_alive() { kill -0 "$1" 2>/dev/null; }

# Stop PIDs: TERM, wait up to 10 s, then KILL. Only the given pids.
it_kill_wait() {
	local p i left
	for p in "$@"; do it_alive "$p" && kill -TERM "$p" 2>/dev/null; done
	for i in $(seq 100); do
		left=""
		for p in "$@"; do it_alive "$p" && left="$left $p"; done
		[ -z "$left" ] && return 0
		sleep 0.1
	done
	for p in $left; do kill -KILL "$p" 2>/dev/null; done
	sleep 0.2
	return 0
}

# Children of a pid (one level), for Apache/nginx whose workers we also want gone.
# Read from /proc (procps is not needed).
it_children() {
	local parent=$1 f stat fields
	for f in /proc/[0-9]*/stat; do
		stat=$(cat "$f" 2>/dev/null) || continue
		fields=${stat##*) }		# "state ppid pgrp ..." after "pid (comm) "
		fields=${fields#* }		# "ppid pgrp ..."
		[ "${fields%% *}" = "$parent" ] || continue
		f=${f#/proc/}; echo "${f%/stat}"
	done
}

# it_port_busy PORT: a TCP socket listens on PORT (/proc/net/tcp*, no iproute2 needed).
it_port_busy() {
	awk -v p="$(printf '%04X' "$1")" '$4 == "0A" && toupper($2) ~ (":" p "$") { f = 1 } END { exit !f }' \
		/proc/net/tcp /proc/net/tcp6 2>/dev/null
}

it_stop_all() {
	local p kids=""
	[ -n "$IT_PIDS" ] || return 0
	# Web servers first (graceful), then FastCGI workers and clients.
	for p in $IT_PIDS; do
		it_alive "$p" && kids="$kids $(it_children "$p" | tr '\n' ' ')"
	done
	# shellcheck disable=SC2086
	it_kill_wait $IT_PIDS
	# Workers/children the parent should have taken down with it.
	# shellcheck disable=SC2086
	[ -n "${kids// }" ] && it_kill_wait $kids
	IT_PIDS=""
}

# A free TCP port on 127.0.0.1.
it_free_port() {
	local p i
	for i in $(seq 100); do
		p=$(shuf -i 20000-60999 -n 1)
		if ! it_port_busy "$p"; then
			echo "$p"; return 0
		fi
	done
	echo "it_free_port: no free port found" >&2
	return 1
}

# Wait until http://127.0.0.1:PORT/ answers anything (up to 10 s).
it_wait_http() {
	local i
	for i in $(seq 100); do
		curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$1/" && return 0
		sleep 0.1
	done
	return 1
}

# Run a command as $IT_RUN_USER (or as is, when that is us).
it_as_user() {
	if [ "$(id -un)" = "$IT_RUN_USER" ]; then "$@"
	else runuser -u "$IT_RUN_USER" -- "$@"; fi
}

# scep-admin on the current config ($SCEP_CONF), as the repository owner.
it_admin() { it_as_user "$SCEP_ADMIN" -c "$SCEP_CONF" "$@"; }

# ---------------------------------------------------------------- repository

# it_make_repo DIR CHALLENGE YES|NO: DIR/scep.conf and DIR/repo with a fresh CA.
# Exports SCEP_CONF, SCEP_REPO, SCEP_CHALLENGE.
it_make_repo() {
	local dir=$1 chal=$2 auto=${3:-YES}
	mkdir -p "$dir"
	chown "$IT_RUN_USER:$IT_RUN_GROUP" "$dir" 2>/dev/null
	cat >"$dir/scep.conf" <<-EOF
	; generated by tests/integration/lib.sh
	ScepRepository = $dir/repo
	ScepChallengePassword = $chal
	ScepAutoApproveEnrollment = $auto
	ScepCertValidityDays = 30
	EOF
	chmod 644 "$dir/scep.conf"
	SCEP_CONF=$dir/scep.conf SCEP_REPO=$dir/repo SCEP_CHALLENGE=$chal
	export SCEP_CONF SCEP_REPO SCEP_CHALLENGE
	if ! it_admin init --subject "/CN=Integration Test CA/O=Example" >"$dir/init.log" 2>&1; then
		echo "it_make_repo: scep-admin init failed" >&2; it_show "$dir/init.log"; return 1
	fi
	[ -s "$dir/repo/ca/ca.pem" ] || { echo "it_make_repo: no $dir/repo/ca/ca.pem" >&2; return 1; }
}

# A listing of the repository's state (names and sizes) for before/after comparisons.
it_snapshot() {
	local r=${1:-$SCEP_REPO}
	( cd "$r" && find pending approved issued rejected certs -printf '%p %s\n' 2>/dev/null | sort
	  for f in index.txt serial; do [ -f "$f" ] && echo "$f $(cksum <"$f")"; done )
}

# ---------------------------------------------------------------- FastCGI workers

# it_start_fcgi CONF N: N workers of $SCEP_BIN on $IT_DIR/fcgi/scep.sock, stderr of each
# worker appended to $IT_DIR/fcgi/stderr.log. Sets IT_FCGI_SOCK.
it_start_fcgi() {
	local conf=$1 n=${2:-2} d=$IT_DIR/fcgi p ids=()
	mkdir -p "$d"; chmod 755 "$d"
	IT_FCGI_SOCK=$d/scep.sock
	rm -f "$IT_FCGI_SOCK" "$d/pid"
	: >"$d/stderr.log"
	chown "$IT_RUN_USER:$IT_RUN_GROUP" "$d/stderr.log"
	[ "$(id -u)" = 0 ] && ids=(-u "$IT_RUN_USER" -g "$IT_RUN_GROUP" -U "$IT_RUN_USER" -G "$IT_RUN_GROUP")
	# spawn-fcgi points the workers' stderr at /dev/null; the sh wrapper sends it to a
	# log instead (sanitizer reports), then execs the program (same pid).
	if ! SCEP_CONF=$conf spawn-fcgi -s "$IT_FCGI_SOCK" -M 0660 -F "$n" -P "$d/pid" "${ids[@]}" \
		-- /bin/sh -c 'exec 2>>"$0"; exec "$@"' "$d/stderr.log" "$SCEP_BIN" \
		>"$d/spawn.log" 2>&1; then
		echo "it_start_fcgi: spawn-fcgi failed" >&2; it_show "$d/spawn.log"; return 1
	fi
	for p in $(cat "$d/pid"); do it_track "$p"; done
	[ -S "$IT_FCGI_SOCK" ] || { echo "it_start_fcgi: no socket" >&2; return 1; }
	IT_FCGI_LOGS="$d/stderr.log"
}

# ---------------------------------------------------------------- templating

# it_subst SRC DST 'old|new'...: copy SRC to DST replacing each literal old by new;
# fail if an old string is not in SRC (the shipped file changed: update the test).
it_subst() {
	local src=$1 dst=$2 pair old new; shift 2
	cp "$src" "$dst"
	for pair in "$@"; do
		old=${pair%%|*} new=${pair#*|}
		if ! grep -qF -- "$old" "$dst"; then
			echo "it_subst: '$old' not found in $src" >&2; return 1
		fi
		OLD=$old NEW=$new perl -pi -e 's/\Q$ENV{OLD}\E/$ENV{NEW}/g' "$dst"
	done
}

# ---------------------------------------------------------------- nginx

# it_start_nginx CONF: private nginx on a free port in front of $IT_FCGI_SOCK.
# Sets IT_PORT, IT_URL, IT_SERVER_LOGS.
_it_start_nginx_once() {
	local conf=$1 d=$IT_DIR/nginx user_line=""
	mkdir -p "$d/conf" "$d/logs" "$d/tmp"
	chown "$IT_RUN_USER:$IT_RUN_GROUP" "$d/tmp" 2>/dev/null
	IT_PORT=$(it_free_port) || return 1
	it_subst "$IT_CONFDIR/nginx-scep.conf" "$d/conf/scep.conf" \
		"listen 127.0.0.1:8080;|listen 127.0.0.1:$IT_PORT;" \
		"unix:/run/scep/scep.sock|unix:$IT_FCGI_SOCK" \
		"/etc/scep/scep.conf|$conf" || return 1
	[ "$(id -u)" = 0 ] && user_line="user $IT_RUN_USER $IT_RUN_GROUP;"
	cat >"$d/conf/nginx.conf" <<-EOF
	# generated by tests/integration/lib.sh
	$user_line
	worker_processes 2;
	pid $d/nginx.pid;
	error_log $d/logs/error.log info;
	events { worker_connections 128; }
	http {
		access_log $d/logs/access.log;
		client_body_temp_path $d/tmp/body;
		fastcgi_temp_path $d/tmp/fastcgi;
		proxy_temp_path $d/tmp/proxy;
		uwsgi_temp_path $d/tmp/uwsgi;
		scgi_temp_path $d/tmp/scgi;
		default_type application/octet-stream;
		include $d/conf/scep.conf;
	}
	EOF
	if ! nginx -p "$d/" -c "$d/conf/nginx.conf" -e "$d/logs/error.log" >"$d/start.log" 2>&1; then
		echo "it_start_nginx: nginx failed to start" >&2; it_show "$d/start.log" "$d/logs/error.log"
		return 1
	fi
	local i; for i in $(seq 50); do [ -s "$d/nginx.pid" ] && break; sleep 0.1; done
	it_track "$(cat "$d/nginx.pid")"
	it_wait_http "$IT_PORT" || { echo "it_start_nginx: no answer on $IT_PORT" >&2; return 1; }
	IT_URL=http://127.0.0.1:$IT_PORT/scep
	IT_SERVER_LOGS="$d/logs/error.log"
}

# ---------------------------------------------------------------- Apache

# it_start_apache MODE CONF: private Apache (own ServerRoot, config, pid, logs) with
# apache-conf/apache-scep-MODE.conf. MODE: fcgid, proxy-fcgi (needs it_start_fcgi
# first) or cgi. Sets IT_PORT, IT_URL, IT_SERVER_LOGS.
_it_start_apache_once() {
	local mode=$1 conf=$2 d=$IT_DIR/apache mods m extra="" userconf=""
	mkdir -p "$d/run" "$d/lock" "$d/logs" "$d/htdocs" "$d/fcgid"
	chown "$IT_RUN_USER:$IT_RUN_GROUP" "$d/run" "$d/fcgid" "$d/lock" 2>/dev/null
	IT_PORT=$(it_free_port) || return 1
	mods="mpm_event authz_core alias env"
	case $mode in
	fcgid)
		mods="$mods fcgid"
		it_subst "$IT_CONFDIR/apache-scep-fcgid.conf" "$d/scep.conf" \
			"/usr/local/lib/cgi-bin/scep|$SCEP_BIN" \
			"/etc/scep/scep.conf|$conf" || return 1
		extra="FcgidIPCDir $d/fcgid
FcgidProcessTableFile $d/fcgid/shm
FcgidInitialEnv ASAN_OPTIONS $ASAN_OPTIONS
FcgidInitialEnv UBSAN_OPTIONS $UBSAN_OPTIONS"
		;;
	proxy-fcgi)
		mods="$mods proxy proxy_fcgi"
		it_subst "$IT_CONFDIR/apache-scep-proxy-fcgi.conf" "$d/scep.conf" \
			"unix:/run/scep/scep.sock|unix:$IT_FCGI_SOCK" \
			"/etc/scep/scep.conf|$conf" || return 1
		;;
	cgi)
		mods="$mods cgid"
		it_subst "$IT_CONFDIR/apache-scep-cgi.conf" "$d/scep.conf" \
			"/usr/local/lib/cgi-bin/scep|$SCEP_BIN" \
			"/etc/scep/scep.conf|$conf" || return 1
		extra="ScriptSock $d/run/cgisock
PassEnv ASAN_OPTIONS UBSAN_OPTIONS"
		;;
	*) echo "it_start_apache: unknown mode $mode" >&2; return 1 ;;
	esac
	[ "$(id -u)" = 0 ] && userconf="User $IT_RUN_USER
Group $IT_RUN_GROUP"
	{
		echo "# generated by tests/integration/lib.sh ($mode)"
		for m in $mods; do echo "Include /etc/apache2/mods-available/$m.load"; done
		cat <<-EOF
		ServerRoot $d
		ServerName 127.0.0.1
		Listen 127.0.0.1:$IT_PORT
		PidFile $d/apache2.pid
		DefaultRuntimeDir $d/run
		Mutex file:$d/lock default
		ErrorLog $d/logs/error.log
		LogLevel warn
		LogFormat "%h %t \"%r\" %>s %b %D" short
		CustomLog $d/logs/access.log short
		$userconf
		StartServers 1
		ServerLimit 2
		ThreadsPerChild 16
		MaxRequestWorkers 32
		MinSpareThreads 4
		MaxSpareThreads 32
		Timeout 60
		DocumentRoot $d/htdocs
		<Directory />
			AllowOverride None
			Require all denied
		</Directory>
		<Directory $d/htdocs>
			Require all granted
		</Directory>
		$extra
		Include $d/scep.conf
		EOF
	} >"$d/apache2.conf"
	if ! apache2 -d "$d" -f "$d/apache2.conf" -k start >"$d/start.log" 2>&1; then
		echo "it_start_apache: apache2 failed to start" >&2; it_show "$d/start.log" "$d/logs/error.log"
		return 1
	fi
	local i; for i in $(seq 50); do [ -s "$d/apache2.pid" ] && break; sleep 0.1; done
	[ -s "$d/apache2.pid" ] || { echo "it_start_apache: no pid file" >&2; it_show "$d/logs/error.log"; return 1; }
	it_track "$(cat "$d/apache2.pid")"
	it_wait_http "$IT_PORT" || { echo "it_start_apache: no answer on $IT_PORT" >&2; return 1; }
	IT_URL=http://127.0.0.1:$IT_PORT/scep
	IT_SERVER_LOGS="$d/logs/error.log"
}

# ---------------------------------------------------------------- checks on logs

# it_check_sanitizer_logs FILE...: fail (rc 1) if any sanitizer report is in the files.
it_check_sanitizer_logs() {
	local f bad=0
	for f in "$@"; do
		[ -f "$f" ] || continue
		if grep -nE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|SUMMARY: (Address|Undefined|Leak)' "$f" >&2; then
			bad=1
		fi
	done
	return $bad
}

# ---------------------------------------------------------------- client-side helpers

# Environment a t-*.sh test needs when run on its own.
it_need_env() {
	local v missing=""
	for v in SCEP_URL SCEP_CHALLENGE SCEP_CONF SCEP_REPO; do
		[ -n "${!v:-}" ] || missing="$missing $v"
	done
	if [ -n "$missing" ]; then
		echo "usage: SCEP_URL=http://127.0.0.1:PORT/scep SCEP_CHALLENGE=... SCEP_CONF=/path/scep.conf" >&2
		echo "       SCEP_REPO=/path/repo [SCEP_ADMIN=./scep-admin] $0" >&2
		echo "missing:$missing" >&2
		exit 2
	fi
	IT_CA=$SCEP_REPO/ca/ca.pem
}

# A private output folder for one client test: $IT_OUT (kept under tests/out/).
it_client_dir() {
	local base=${IT_OUT_BASE:-$IT_TOP/tests/out}
	mkdir -p "$base"
	IT_OUT=$(mktemp -d "$base/${1:-client}.XXXXXX")
	chmod 755 "$IT_OUT"
}

# it_wait SECONDS CMD...: poll CMD every 0.5 s until it succeeds or time runs out.
it_wait() {
	local t=$1 end; shift
	end=$(( $(date +%s) + t ))
	while :; do
		"$@" && return 0
		[ "$(date +%s)" -ge "$end" ] && return 1
		sleep 0.5
	done
}

# Id of the record in STATE whose listing line mentions PATTERN (e.g. the CN).
it_find_record() {
	local state=$1 pat=$2
	it_admin list --state "$state" 2>/dev/null | grep -F -- "$pat" | head -n 1 | awk '{print $1}'
}

# it_verify CERT: the cert chains to the test CA.
it_verify() {
	[ -s "$1" ] && openssl verify -CAfile "$IT_CA" "$1" >/dev/null 2>&1
}

# A unique short name for CNs of this run.
it_uniq() { echo "$1-$(date +%s)-$$-$RANDOM"; }
it_has_record() { [ -n "$(it_find_record "$1" "$2")" ]; }

# Start wrappers: a port found free can be taken by someone else before the server
# binds it; try again on another port then.
it_start_nginx() {
	local n
	for n in 1 2 3; do
		_it_start_nginx_once "$@" 2>"$IT_DIR/nginx-start.err" && return 0
		grep -q 'Address already in use' "$IT_DIR/nginx/start.log" "$IT_DIR/nginx/logs/error.log" 2>/dev/null || break
		: >"$IT_DIR/nginx/logs/error.log"
	done
	cat "$IT_DIR/nginx-start.err" >&2
	return 1
}
it_start_apache() {
	local n
	for n in 1 2 3; do
		_it_start_apache_once "$@" 2>"$IT_DIR/apache-start.err" && return 0
		grep -q 'Address already in use' "$IT_DIR/apache/start.log" "$IT_DIR/apache/logs/error.log" 2>/dev/null || break
		: >"$IT_DIR/apache/logs/error.log"
	done
	cat "$IT_DIR/apache-start.err" >&2
	return 1
}
