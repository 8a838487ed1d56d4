# shellcheck shell=bash
# tests/integration/lib.sh: helpers for the integration tests (source it from bash).
#
# Starts private instances on 127.0.0.1 ports chosen free at run time, each with all its
# files (config, pid, logs, sockets) in one work directory:
#   it_init NAME                        work dir $IT_DIR under tests/out/, cleanup trap
#   it_make_repo DIR CHALLENGE AUTO [SHAPE [LINE...]]
#                                       scep.conf (+ config LINEs) + repository + CA of
#                                       SHAPE: self (scep-admin init), intermediate (root
#                                       and intermediate made with openssl, scep-admin
#                                       import --chain) or ra (init --ra-subject)
#   it_server FLAVOUR CONF NAME         the whole stack of a flavour (nginx, fcgid,
#                                       proxy-fcgi, cgi) for CONF in $IT_DIR/NAME: several
#                                       instances (other configs, other CAs) can run at once
#   it_start_pool CONF N                `scep --workers N` (the supervised pool) on a unix
#                                       socket, as the run user
#   it_start_fcgi CONF N                spawn-fcgi, N workers of $SCEP_BIN on a unix socket
#   it_start_nginx CONF                 nginx from apache-conf/nginx-scep.conf (its /pki/
#                                       serves $IT_PKI_DIR; port $IT_NGINX_PORT if set)
#   it_start_apache MODE CONF           Apache from apache-conf/apache-scep-MODE.conf
#                                       (MODE = fcgid | proxy-fcgi | cgi), plus
#                                       apache-scep-pki.conf for $IT_PKI_DIR if set
#   it_stop_all                         stop everything started (also run by the trap)
# and the PASS/FAIL bookkeeping used by the t-*.sh client tests:
#   pass NAME / fail NAME [WHY] / it_summary
# and, for the client tests, the CA files of whatever shape the repository has
# (it_ca_env): $IT_CA (issuing CA), $IT_RA, $IT_ROOT (trust anchor), it_verify CERT.
#
# Users: the CA repository must be writable by whatever runs the scep program. As root,
# everything (the worker pool, spawn-fcgi workers, Apache's User for fcgid/CGI,
# scep-admin) runs as $IT_RUN_USER = www-data, and the repository is created by that user.
# As an ordinary user, everything runs as that user.
#
# Reach: that user must reach the programs, the work files and the sockets. When the
# checkout is out of its reach (a clone under /root, or any mode-0700 parent), the work
# files go to a directory under /var/tmp made for this checkout (tests/out is then a
# symlink to it) and the programs are copied there (it_stage_bin); $IT_OUTDIR is where
# work files go in either case.
#
# Environment knobs:
#   SCEP_BIN    server program (default build/asan/scep if built, else cgi-bin/scep)
#   SCEP_ADMIN  admin program  (default ./scep-admin)
#   IT_KEEP=1   keep the work directory even when everything passed

IT_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
IT_CONFDIR=$IT_TOP/apache-conf

if [ -z "${SCEP_BIN:-}" ]; then
	if [ -x "$IT_TOP/build/asan/scep" ]; then SCEP_BIN=$IT_TOP/build/asan/scep
	else
		SCEP_BIN=$IT_TOP/cgi-bin/scep
		# said out loud: without the sanitizer build "no sanitizer report" proves nothing
		echo "SKIP: sanitizer checks: build/asan/scep not built, running cgi-bin/scep (make asan)" >&2
	fi
fi
case $SCEP_BIN in /*) ;; *) SCEP_BIN=$PWD/$SCEP_BIN ;; esac
: "${SCEP_ADMIN:=$IT_TOP/scep-admin}"
case $SCEP_ADMIN in /*) ;; *) SCEP_ADMIN=$PWD/$SCEP_ADMIN ;; esac

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

# it_reach PATH: $IT_RUN_USER can reach PATH (search a directory, run a program).
it_reach() {
	[ "$(id -un)" = "$IT_RUN_USER" ] ||
		setpriv --reuid="$IT_RUN_USER" --regid="$IT_RUN_GROUP" --init-groups -- test -x "$1"
}

# $IT_OUTDIR: tests/out when the run user reaches the checkout, else a directory under
# /var/tmp that tests/out points to (reused while the link and the directory are sound).
it_outdir() {
	local d=$IT_TOP/tests/out t
	if [ -n "${IT_OUTDIR:-}" ] && [ -d "$IT_OUTDIR" ]; then return 0; fi
	if it_reach "$IT_TOP"; then
		mkdir -p "$d" && chmod 755 "$d" && IT_OUTDIR=$d
	else
		t=$(readlink "$d" 2>/dev/null)
		if [ -n "$t" ] && [ -d "$t" ] && [ ! -L "$t" ] && [ "$(stat -c %u:%a "$t")" = "$(id -u):755" ] &&
			[ "${t#/var/tmp/scep-tests.}" != "$t" ]; then
			IT_OUTDIR=$t
		else
			t=$(mktemp -d /var/tmp/scep-tests.XXXXXX) && chmod 755 "$t" || return 1
			# a real tests/out directory (made before the checkout moved) is left alone
			[ -e "$d" ] && [ ! -L "$d" ] || ln -sfn "$t" "$d"
			IT_OUTDIR=$t
			echo "lib.sh: $IT_TOP is out of reach of $IT_RUN_USER; work files and copies of the programs go to $t" >&2
		fi
	fi
	export IT_OUTDIR
}

# it_stage_bin PATH: PATH if the run user can run it, else the path of a copy of it in
# $IT_OUTDIR/bin (refreshed when PATH changed).
it_stage_bin() {
	local src=$1 dst
	if it_reach "$src"; then echo "$src"; return 0; fi
	mkdir -p "$IT_OUTDIR/bin" && chmod 755 "$IT_OUTDIR/bin" || return 1
	dst=$IT_OUTDIR/bin/$(printf '%s' "${src#"$IT_TOP"/}" | tr / _)
	if ! cmp -s "$src" "$dst"; then
		cp "$src" "$dst.$$" && chmod 755 "$dst.$$" && mv -f "$dst.$$" "$dst" || return 1
	fi
	echo "$dst"
}

it_outdir || { echo "lib.sh: no work directory the run user can reach" >&2; exit 1; }
SCEP_BIN=$(it_stage_bin "$SCEP_BIN") && SCEP_ADMIN=$(it_stage_bin "$SCEP_ADMIN") ||
	{ echo "lib.sh: cannot copy the programs to $IT_OUTDIR/bin" >&2; exit 1; }
export SCEP_BIN SCEP_ADMIN

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
	IT_DIR=$(mktemp -d "$IT_OUTDIR/$name.XXXXXX") || exit 1
	chmod 755 "$IT_DIR"
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

# Children (one level) of the given pids, for Apache/nginx whose workers we also want
# gone. Read from /proc with shell builtins only (procps is not needed; a fork per
# /proc entry costs seconds on a busy machine).
it_children() {
	local f stat fields ppid p
	for f in /proc/[0-9]*/stat; do
		{ read -r stat <"$f"; } 2>/dev/null || continue
		fields=${stat##*) }		# "state ppid pgrp ..." after "pid (comm) "
		fields=${fields#* }		# "ppid pgrp ..."
		ppid=${fields%% *}
		for p in "$@"; do
			[ "$ppid" = "$p" ] || continue
			f=${f#/proc/}; echo "${f%/stat}"
		done
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
	# shellcheck disable=SC2086
	kids=$(it_children $IT_PIDS | tr '\n' ' ')
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

# it_make_repo DIR CHALLENGE YES|NO [SHAPE [LINE...]]: DIR/scep.conf and DIR/repo with a
# fresh CA. YES|NO is ScepAutoApproveEnrollment; each LINE ("Key = value") is added to
# scep.conf. SHAPE:
#   self          scep-admin init: a self-signed CA (GetCACert: the CA certificate)
#   intermediate  a root and an intermediate made with the openssl CLI in DIR/pki/, the
#                 intermediate installed with scep-admin import --chain root.pem
#                 (GetCACert: [intermediate, root])
#   ra            scep-admin init --ra-subject: a self-signed CA and an RA that answers
#                 SCEP (GetCACert: [RA, CA])
# Exports SCEP_CONF, SCEP_REPO, SCEP_CHALLENGE.
it_make_repo() {
	local dir=$1 chal=$2 auto=${3:-YES} shape=${4:-self} l
	shift $(( $# < 4 ? $# : 4 ))
	mkdir -p "$dir"
	chown "$IT_RUN_USER:$IT_RUN_GROUP" "$dir" 2>/dev/null
	{
		echo "; generated by tests/integration/lib.sh ($shape CA)"
		echo "ScepRepository = $dir/repo"
		echo "ScepChallengePassword = $chal"
		echo "ScepAutoApproveEnrollment = $auto"
		echo "ScepCertValidityDays = 30"
		for l in "$@"; do echo "$l"; done
	} >"$dir/scep.conf"
	chmod 644 "$dir/scep.conf"
	SCEP_CONF=$dir/scep.conf SCEP_REPO=$dir/repo SCEP_CHALLENGE=$chal
	export SCEP_CONF SCEP_REPO SCEP_CHALLENGE
	case $shape in
	self) it_admin init --subject "/CN=Integration Test CA/O=Example" >"$dir/init.log" 2>&1 ;;
	ra)   it_admin init --subject "/CN=Integration Test CA/O=Example" \
		--ra-subject "/CN=Integration Test RA/O=Example" >"$dir/init.log" 2>&1 ;;
	intermediate)
		_it_make_intermediate "$dir/pki" >"$dir/pki.log" 2>&1 ||
			{ echo "it_make_repo: openssl root + intermediate failed" >&2; it_show "$dir/pki.log"; return 1; }
		it_admin import --cert "$dir/pki/int.pem" --key "$dir/pki/int.key" \
			--chain "$dir/pki/root.pem" >"$dir/init.log" 2>&1 ;;
	*) echo "it_make_repo: unknown CA shape $shape" >&2; return 1 ;;
	esac || { echo "it_make_repo: scep-admin ${shape/self/init} failed" >&2; it_show "$dir/init.log"; return 1; }
	[ -s "$dir/repo/ca/ca.pem" ] || { echo "it_make_repo: no $dir/repo/ca/ca.pem" >&2; return 1; }
}

# _it_make_intermediate DIR: DIR/root.{pem,key} (self-signed) and DIR/int.{pem,key}
# issued by it, with the openssl CLI; int.key readable by $IT_RUN_USER for the import.
_it_make_intermediate() {
	local d=$1
	mkdir -p "$d"
	openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 -keyout "$d/root.key" \
		-out "$d/root.pem" -subj "/CN=Integration Test Root CA/O=Example" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" || return 1
	openssl req -new -newkey rsa:2048 -nodes -keyout "$d/int.key" -out "$d/int.csr" \
		-subj "/CN=Integration Test Intermediate CA/O=Example" || return 1
	printf '%s\n' "basicConstraints=critical,CA:TRUE,pathlen:0" \
		"keyUsage=critical,keyCertSign,cRLSign,digitalSignature,keyEncipherment" \
		"subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid:always" >"$d/int.ext"
	openssl x509 -req -in "$d/int.csr" -CA "$d/root.pem" -CAkey "$d/root.key" \
		-set_serial "0x$(openssl rand -hex 8)" -days 1825 -sha256 -extfile "$d/int.ext" \
		-out "$d/int.pem" || return 1
	chmod 755 "$d"; chmod 644 "$d/root.pem" "$d/int.pem"
	chown "$IT_RUN_USER:$IT_RUN_GROUP" "$d/int.key" 2>/dev/null
	chmod 600 "$d/int.key" "$d/root.key"
}

# A listing of the repository's state (names and sizes) for before/after comparisons.
it_snapshot() {
	local r=${1:-$SCEP_REPO}
	( cd "$r" && find pending approved issued rejected certs -printf '%p %s\n' 2>/dev/null | sort
	  for f in index.txt serial; do [ -f "$f" ] && echo "$f $(cksum <"$f")"; done )
}

# ---------------------------------------------------------------- FastCGI workers

# it_start_fcgi CONF N: N workers of $SCEP_BIN kept by spawn-fcgi on
# $IT_DIR/fcgi/scep.sock, the log of each appended to $IT_DIR/fcgi/stderr.log (--log: as
# documented, since spawn-fcgi points the workers' stderr at /dev/null). Sets
# IT_FCGI_SOCK.
it_start_fcgi() {
	local conf=$1 n=${2:-2} d=${IT_SDIR:-$IT_DIR}/fcgi p ids=()
	mkdir -p "$d"; chmod 755 "$d"
	IT_FCGI_SOCK=$d/scep.sock
	rm -f "$IT_FCGI_SOCK" "$d/pid"
	: >"$d/stderr.log"
	chown "$IT_RUN_USER:$IT_RUN_GROUP" "$d/stderr.log"
	[ "$(id -u)" = 0 ] && ids=(-u "$IT_RUN_USER" -g "$IT_RUN_GROUP" -U "$IT_RUN_USER" -G "$IT_RUN_GROUP")
	if ! SCEP_CONF=$conf spawn-fcgi -s "$IT_FCGI_SOCK" -M 0660 -F "$n" -P "$d/pid" "${ids[@]}" \
		-- "$SCEP_BIN" --log "$d/stderr.log" >"$d/spawn.log" 2>&1; then
		echo "it_start_fcgi: spawn-fcgi failed" >&2; it_show "$d/spawn.log"; return 1
	fi
	for p in $(cat "$d/pid"); do it_track "$p"; done
	[ -S "$IT_FCGI_SOCK" ] || { echo "it_start_fcgi: no socket" >&2; return 1; }
	IT_FCGI_LOGS="$d/stderr.log"
}

# it_start_pool CONF N: `scep --workers N --socket $IT_DIR/pool/scep.sock --log ...` as
# $IT_RUN_USER (setpriv: the pid is the supervisor's). Sets IT_FCGI_SOCK, IT_FCGI_LOGS and
# IT_POOL_PID.
it_start_pool() {
	local conf=$1 n=${2:-2} d=${IT_SDIR:-$IT_DIR}/pool i
	mkdir -p "$d"; chmod 755 "$d"
	chown "$IT_RUN_USER:$IT_RUN_GROUP" "$d"
	IT_FCGI_SOCK=$d/scep.sock IT_FCGI_LOGS=$d/scep.log
	rm -f "$IT_FCGI_SOCK"
	if [ "$(id -un)" = "$IT_RUN_USER" ]; then
		"$SCEP_BIN" -c "$conf" --workers "$n" --socket "$IT_FCGI_SOCK" --log "$IT_FCGI_LOGS" \
			2>"$d/start.err" &
	else
		setpriv --reuid="$IT_RUN_USER" --regid="$IT_RUN_GROUP" --init-groups -- \
			"$SCEP_BIN" -c "$conf" --workers "$n" --socket "$IT_FCGI_SOCK" \
			--log "$IT_FCGI_LOGS" 2>"$d/start.err" &
	fi
	IT_POOL_PID=$!
	it_track "$IT_POOL_PID"
	for i in $(seq 100); do
		[ -S "$IT_FCGI_SOCK" ] && [ "$(it_children "$IT_POOL_PID" | wc -l)" -ge "$n" ] && return 0
		it_alive "$IT_POOL_PID" || break
		sleep 0.1
	done
	echo "it_start_pool: no socket or not $n workers" >&2; it_show "$d/start.err" "$IT_FCGI_LOGS"
	return 1
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
	local conf=$1 d=${IT_SDIR:-$IT_DIR}/nginx user_line=""
	mkdir -p "$d/conf" "$d/logs" "$d/tmp"
	chown "$IT_RUN_USER:$IT_RUN_GROUP" "$d/tmp" 2>/dev/null
	IT_PORT=${IT_NGINX_PORT:-$(it_free_port)} || return 1
	it_subst "$IT_CONFDIR/nginx-scep.conf" "$d/conf/scep.conf" \
		"listen 127.0.0.1:8080;|listen 127.0.0.1:$IT_PORT;" \
		"unix:/run/scep/scep.sock|unix:$IT_FCGI_SOCK" \
		"/var/www/scep/|${IT_PKI_DIR:-/var/www/scep}/" \
		"/etc/scep/scep.conf|$conf" || return 1
	[ "$(id -u)" = 0 ] && user_line="user $IT_RUN_USER $IT_RUN_GROUP;"
	cat >"$d/conf/nginx.conf" <<-EOF
	# generated by tests/integration/lib.sh
	$user_line
	worker_processes 2;
	pid $d/nginx.pid;
	error_log $d/logs/error.log info;
	events { worker_connections 512; }	# 64 bench clients + their FastCGI connections in one worker
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
	local mode=$1 conf=$2 d=${IT_SDIR:-$IT_DIR}/apache mods m extra="" userconf=""
	mkdir -p "$d/run" "$d/lock" "$d/logs" "$d/htdocs" "$d/fcgid"
	chown "$IT_RUN_USER:$IT_RUN_GROUP" "$d/run" "$d/fcgid" "$d/lock" 2>/dev/null
	IT_PORT=$(it_free_port) || return 1
	mods="mpm_event authz_core alias env"
	case $mode in
	fcgid)
		mods="$mods fcgid"
		it_subst "$IT_CONFDIR/apache-scep-fcgid.conf" "$d/scep.conf" \
			"/usr/local/sbin/scep|$SCEP_BIN" \
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
			"/usr/local/sbin/scep|$SCEP_BIN" \
			"/etc/scep/scep.conf|$conf" || return 1
		extra="ScriptSock $d/run/cgisock
PassEnv ASAN_OPTIONS UBSAN_OPTIONS"
		;;
	*) echo "it_start_apache: unknown mode $mode" >&2; return 1 ;;
	esac
	if [ -n "${IT_PKI_DIR:-}" ]; then
		mods="$mods mime"
		it_subst "$IT_CONFDIR/apache-scep-pki.conf" "$d/pki.conf" \
			"/var/www/scep/|$IT_PKI_DIR/" || return 1
		extra="$extra
TypesConfig /etc/mime.types
Include $d/pki.conf"
	fi
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
	# The instances a client test can use for renewals: IT_AUTO (ScepAutoApprove = YES:
	# renewals issued at once) and IT_MANUAL (NO: renewals wait in pending/), each "main"
	# (the server above), "manual" (a second server: IT_MANUAL_URL, IT_MANUAL_CONF,
	# IT_MANUAL_REPO) or empty (no such case then). Both need ScepAllowRenewal = YES.
	IT_MAIN_URL=$SCEP_URL IT_MAIN_CONF=$SCEP_CONF IT_MAIN_REPO=$SCEP_REPO
	IT_AUTO="" IT_MANUAL=""
	if [ "$(it_conf_bool ScepAllowRenewal YES)" = YES ]; then
		if [ "$(it_conf_bool ScepAutoApprove NO)" = YES ]; then IT_AUTO=main; else IT_MANUAL=main; fi
	fi
	if [ -n "${IT_MANUAL_URL:-}" ] && [ -n "${IT_MANUAL_CONF:-}" ] && [ -n "${IT_MANUAL_REPO:-}" ] &&
		[ "$(it_conf_bool ScepAllowRenewal YES "$IT_MANUAL_CONF")" = YES ] &&
		[ "$(it_conf_bool ScepAutoApprove NO "$IT_MANUAL_CONF")" = NO ]; then
		IT_MANUAL=manual
	fi
}

# it_conf_bool KEY DEFAULT [CONF]: YES or NO, the boolean KEY of CONF ($SCEP_CONF).
it_conf_bool() {
	local v
	v=$(sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*\([^[:space:];#]*\).*/\1/Ip" "${3:-$SCEP_CONF}" 2>/dev/null | tail -n 1)
	case ${v,,} in
	yes | true | 1) echo YES ;;
	no | false | 0) echo NO ;;
	*) echo "$2" ;;
	esac
}

# it_use main|manual: point SCEP_URL, SCEP_CONF, SCEP_REPO (hence it_admin) and the CA
# files (it_ca_env, in $IT_OUT/ca-NAME) at that instance.
it_use() {
	case $1 in
	main) SCEP_URL=$IT_MAIN_URL SCEP_CONF=$IT_MAIN_CONF SCEP_REPO=$IT_MAIN_REPO ;;
	manual) SCEP_URL=$IT_MANUAL_URL SCEP_CONF=$IT_MANUAL_CONF SCEP_REPO=$IT_MANUAL_REPO ;;
	*) echo "it_use: no instance '$1'" >&2; return 1 ;;
	esac
	export SCEP_URL SCEP_CONF SCEP_REPO
	it_ca_env "$IT_OUT/ca-$1"
}

# it_recs CN: one line per record whose subject has CN=CN, oldest first:
#   state serial message-type renewal-of transaction-id
# (from scep-admin list --json, one object per line; awk, as a python3 start costs a
# second on a loaded machine)
it_recs() {
	it_admin list --json 2>/dev/null | awk -v cn="/CN=$1/" '
	function f(k,   v) {
		if (!match($0, "\"" k "\":(\"([^\"\\\\]|\\\\.)*\"|null)")) return "-"
		v = substr($0, RSTART + length(k) + 3, RLENGTH - length(k) - 3)
		if (v == "null") return "-"
		v = substr(v, 2, length(v) - 2); gsub(/ /, "\\x20", v); return v
	}
	index(f("subject") "/", cn) { print f("state"), f("serial"), f("message_type_name"), f("renewal_of"), f("transaction_id") }'
}

# it_check_renewed OLD NEW CN MSGTYPE WHAT: PASS/FAIL lines for a renewal: NEW verifies,
# has CN and a serial other than OLD's, its record is issued as MSGTYPE (RenewalReq or
# PKCSReq) renewing OLD's serial, and index.txt holds two valid certificates for CN.
it_check_renewed() {
	local old=$1 new=$2 cn=$3 mt=$4 what=$5 s1 s2 n
	s1=$(it_serial "$old") s2=$(it_serial "$new")
	if it_verify "$new" && [ -n "$s2" ] && [ "$s1" != "$s2" ] &&
		openssl x509 -in "$new" -noout -subject 2>/dev/null | grep -q "CN *= *$cn\(,\|$\)"; then
		pass "$what: new certificate (serial $s1 -> $s2), verifies"
	else
		fail "$what: new certificate, verifies" "serials '$s1' -> '$s2'"
	fi
	if it_recs "$cn" | grep -q "^issued $s2 $mt $s1 "; then
		pass "$what: record issued as $mt renewing $s1"
	else
		fail "$what: record issued as $mt renewing $s1" "$(it_recs "$cn" | tr '\n' ';')"
	fi
	n=$(it_valid_for "$cn")
	[ "$n" = 2 ] && pass "$what: index.txt holds 2 valid certificates for CN=$cn" ||
		fail "$what: index.txt holds 2 valid certificates for CN=$cn" "$n"
}

# it_cn_state CN: the records of CN (it_recs) and its index.txt lines: what a request for
# CN may change, whatever other clients do meanwhile.
it_cn_state() {
	it_recs "$1"
	awk -F '\t' -v cn="CN=$1" 'index($6 "/", "/" cn "/")' "$SCEP_REPO/index.txt"
}

# A private output folder for one client test: $IT_OUT (kept under tests/out/), with the
# CA files of the repository (it_ca_env).
it_client_dir() {
	local base=${IT_OUT_BASE:-$IT_OUTDIR}
	mkdir -p "$base"
	IT_OUT=$(mktemp -d "$base/${1:-client}.XXXXXX")
	chmod 755 "$IT_OUT"
	it_ca_env "$IT_OUT"
}

# _it_pem_split FILE: print the PEM certificates of FILE, one per line, as "N" file names
# written to DIR (second argument) as cert-N.pem.
_it_pem_split() {
	awk -v d="$2" '/-----BEGIN CERTIFICATE-----/ { n++; f = d "/cert-" n ".pem" }
		f { print > f } /-----END CERTIFICATE-----/ { close(f); print f; f = "" }' "$1"
}

# it_ca_env DIR: the CA files of $SCEP_REPO, whatever its shape, for the client tests:
#   IT_SHAPE     self | intermediate | ra (RA mode, with or without a chain)
#   IT_CA        ca/ca.pem, the issuing CA
#   IT_RA        ca/ra.pem in RA mode, else empty
#   IT_SCEP_CERT the certificate that answers SCEP (encrypt to, verify with): RA, else CA
#   IT_ROOT      DIR/root.pem: the self-signed end of [CA, chain.pem...], the trust anchor
#   IT_UNTRUSTED DIR/untrusted.pem: the CA and every chain certificate but the root
#   IT_GETCACERT DIR/getcacert.pem: what GetCACert must return, in order (RA, CA, chain;
#                the root left out with ScepCACertIncludeRoot = NO)
it_ca_env() {
	local d=$1 c last="" incl_root=1
	IT_CA=$SCEP_REPO/ca/ca.pem
	IT_RA=""; [ -s "$SCEP_REPO/ca/ra.pem" ] && IT_RA=$SCEP_REPO/ca/ra.pem
	IT_SCEP_CERT=${IT_RA:-$IT_CA}
	mkdir -p "$d/cachain"
	cp "$IT_CA" "$d/untrusted.pem"
	if [ -s "$SCEP_REPO/ca/chain.pem" ]; then
		for c in $(_it_pem_split "$SCEP_REPO/ca/chain.pem" "$d/cachain"); do
			[ -n "$last" ] && cat "$last" >>"$d/untrusted.pem"
			last=$c
		done
	fi
	if [ -n "$last" ]; then cp "$last" "$d/root.pem"; else cp "$IT_CA" "$d/root.pem"; fi
	IT_ROOT=$d/root.pem IT_UNTRUSTED=$d/untrusted.pem IT_GETCACERT=$d/getcacert.pem
	if [ -n "$IT_RA" ]; then IT_SHAPE=ra
	elif [ -n "$last" ]; then IT_SHAPE=intermediate
	else IT_SHAPE=self; fi
	grep -qiE '^[[:space:]]*ScepCACertIncludeRoot[[:space:]]*=[[:space:]]*(no|false|0)[[:space:]]*$' \
		"$SCEP_CONF" 2>/dev/null && incl_root=0
	{
		[ -n "$IT_RA" ] && cat "$IT_RA"
		cat "$IT_UNTRUSTED"
		[ -n "$last" ] && [ "$incl_root" = 1 ] && cat "$last"
	} >"$IT_GETCACERT"
	export IT_SHAPE IT_CA IT_RA IT_SCEP_CERT IT_ROOT IT_UNTRUSTED IT_GETCACERT
}

# it_certs_equal A B: the PEM files hold the same certificates in the same order.
it_certs_equal() {
	cmp -s <(openssl crl2pkcs7 -nocrl -certfile "$1" 2>/dev/null | openssl pkcs7 -print_certs 2>/dev/null | grep -v '^\(subject\|issuer\)=') \
	       <(openssl crl2pkcs7 -nocrl -certfile "$2" 2>/dev/null | openssl pkcs7 -print_certs 2>/dev/null | grep -v '^\(subject\|issuer\)=')
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

# it_verify CERT: the cert chains to the trust anchor (openssl verify -CAfile root.pem
# -untrusted [CA, intermediates]), and was issued by the current CA.
it_verify() {
	[ -s "$1" ] &&
	openssl verify -CAfile "${IT_ROOT:-$IT_CA}" -untrusted "${IT_UNTRUSTED:-$IT_CA}" "$1" >/dev/null 2>&1 &&
	[ "$(openssl x509 -in "$1" -noout -issuer 2>/dev/null)" = \
	  "issuer=$(openssl x509 -in "$IT_CA" -noout -subject 2>/dev/null | sed 's/^subject=//')" ]
}
# it_serial CERT: its serial number (hex, as openssl prints it)
it_serial() { openssl x509 -in "$1" -noout -serial 2>/dev/null | sed 's/^serial=//'; }
# it_valid_for CN: how many certificates for CN are valid (V lines) in index.txt
it_valid_for() { awk -F '\t' -v cn="CN=$1" '$1 == "V" && index($6 "/", "/" cn "/") { n++ } END { print n + 0 }' "$SCEP_REPO/index.txt"; }

# Client keys. RSA key generation is most of the CPU a client enrollment costs, and
# keys need only be unique within one repository: run-all.sh makes one pool for all its
# runs (it_keypool) and exports IT_KEYPOOL; each client test takes its own numbers.
#   it_keypool DIR N   write DIR/1.pem .. DIR/N.pem (RSA 2048, PKCS#1 PEM), two at a
#                      time, each file appearing whole (run it in the background)
#   it_key FILE N      FILE = pool key N (waiting for it), or a new key without a pool
it_keypool() {
	local d=$1 n=$2 i
	mkdir -p "$d"
	for i in $(seq "$n"); do
		{ openssl genrsa -traditional -out "$d/$i.tmp" 2048 2>/dev/null && mv "$d/$i.tmp" "$d/$i.pem"; } &
		[ $((i % 2)) = 0 ] && wait
	done
	wait
}
it_key() {
	local i
	if [ -n "${IT_KEYPOOL:-}" ] && [ -d "$IT_KEYPOOL" ]; then
		for i in $(seq 1200); do
			[ -s "$IT_KEYPOOL/$2.pem" ] && { cp "$IT_KEYPOOL/$2.pem" "$1"; return; }
			sleep 0.1
		done
	fi
	openssl genrsa -traditional -out "$1" 2048 2>/dev/null
}

# A unique short name for CNs of this run.
it_uniq() { echo "$1-$(date +%s)-$$-$RANDOM"; }
it_has_record() { [ -n "$(it_find_record "$1" "$2")" ]; }

# Start wrappers: a port found free can be taken by someone else before the server
# binds it; try again on another port then.
it_start_nginx() {
	local n sd=${IT_SDIR:-$IT_DIR}
	mkdir -p "$sd"
	for n in 1 2 3; do
		_it_start_nginx_once "$@" 2>"$sd/nginx-start.err" && return 0
		grep -q 'Address already in use' "$sd/nginx/start.log" "$sd/nginx/logs/error.log" 2>/dev/null || break
		: >"$sd/nginx/logs/error.log"
	done
	cat "$sd/nginx-start.err" >&2
	return 1
}
it_start_apache() {
	local n sd=${IT_SDIR:-$IT_DIR}
	mkdir -p "$sd"
	for n in 1 2 3; do
		_it_start_apache_once "$@" 2>"$sd/apache-start.err" && return 0
		grep -q 'Address already in use' "$sd/apache/start.log" "$sd/apache/logs/error.log" 2>/dev/null || break
		: >"$sd/apache/logs/error.log"
	done
	cat "$sd/apache-start.err" >&2
	return 1
}

# it_server FLAVOUR CONF NAME: start the stack of FLAVOUR for CONF with all its files in
# $IT_DIR/NAME. Sets IT_URL and IT_LOGS (the server logs to search for sanitizer reports,
# space separated); adds them to IT_ALL_LOGS.
#   nginx       scep --workers 3 (the supervised pool) + nginx
#   fcgid       Apache + mod_fcgid
#   proxy-fcgi  spawn-fcgi (2 workers) + Apache + mod_proxy_fcgi
#   cgi         Apache + mod_cgid
it_server() {
	local fl=$1 conf=$2 IT_SDIR=$IT_DIR/$3
	mkdir -p "$IT_SDIR"; chmod 755 "$IT_SDIR"
	case $fl in
	nginx) it_start_pool "$conf" 3 && it_start_nginx "$conf" || return 1
		IT_LOGS="$IT_FCGI_LOGS $IT_SERVER_LOGS" ;;
	fcgid | cgi) it_start_apache "$fl" "$conf" || return 1
		IT_LOGS="$IT_SERVER_LOGS" ;;
	proxy-fcgi) it_start_fcgi "$conf" 2 && it_start_apache proxy-fcgi "$conf" || return 1
		IT_LOGS="$IT_FCGI_LOGS $IT_SERVER_LOGS" ;;
	*) echo "it_server: unknown flavour $fl" >&2; return 1 ;;
	esac
	IT_ALL_LOGS="${IT_ALL_LOGS:-} $IT_LOGS"
}
