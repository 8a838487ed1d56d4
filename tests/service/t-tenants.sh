#!/bin/bash
# Two CAs ("tenants") behind one web server, through the real programs and the shipped
# configurations (apache-conf/nginx-scep-tenants.conf, apache-conf/apache-scep-tenants.conf):
# two worker pools (scep --workers, each with its own tenant-X.conf, CA and repository),
# one nginx and one Apache (mod_proxy_fcgi) with a location per tenant:
#   - GetCACert at /tenant-a/scep returns CA A, at /tenant-b/scep CA B;
#   - micromdm scepclient enrolls at each location with that tenant's challenge: the
#     certificate verifies (openssl verify) against that tenant's CA and not the other's,
#     and is recorded in that tenant's repository only;
#   - tenant A's challenge at /tenant-b/scep is refused (FAILURE) and issues nothing;
#   - a request that names another configuration than the worker's (a web server location
#     pointing at the wrong pool) gets HTTP 500 and a "refused" log line, nothing issued;
#   - an unknown tenant path gets 404;
#   - the log: one timestamped "request" line per request with the tenant, the client,
#     operation, transactionID, status, outcome and milliseconds; X-Forwarded-For is
#     believed only from a peer listed in ScepTrustedProxies (tenant B), and the record
#     keeps that client address;
#   - scep --syslog: the same lines reach syslog (a private /dev/log, no stderr output).
# Prints PASS/FAIL lines and "tenants: N passed, M failed".
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../load/common.sh"
la_timeout "${TENANTS_TIMEOUT:-600}" "$0" "$@"
PY=/usr/bin/python3
FCGI=$HERE/fcgi.py

la_init tenants
la_prereq nginx apache2 scepclient openssl setpriv curl "$SCEP_BIN" "$SCEP_ADMIN"
echo "tenants: $SCEP_BIN, nginx and Apache, work dir $IT_DIR"
mkdir -p "$IT_DIR/etc"; chmod 755 "$IT_DIR/etc"

# mk_tenant NAME CHALLENGE [LINE...]: $IT_DIR/etc/NAME.conf, repository $IT_DIR/NAME/repo,
# a CA "/CN=NAME CA", and a pool of 2 workers on $IT_DIR/NAME/pool/scep.sock.
mk_tenant() {
	local t=$1 chal=$2 l; shift 2
	mkdir -p "$IT_DIR/$t"; chown "$IT_RUN_USER:$IT_RUN_GROUP" "$IT_DIR/$t"
	{
		echo "ScepRepository = $IT_DIR/$t/repo"
		echo "ScepChallengePassword = $chal"
		echo "ScepAutoApproveEnrollment = YES"
		echo "ScepOneTimeChallenges = NO"
		for l in "$@"; do echo "$l"; done
	} >"$IT_DIR/etc/$t.conf"
	chmod 644 "$IT_DIR/etc/$t.conf"
	SCEP_CONF=$IT_DIR/etc/$t.conf it_admin init --subject "/CN=$t CA/O=Example" \
		>"$IT_DIR/$t/init.log" 2>&1 || { it_show "$IT_DIR/$t/init.log"; return 1; }
	IT_SDIR=$IT_DIR/$t it_start_pool "$IT_DIR/etc/$t.conf" 2
}
CHA="a-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
CHB="b-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
mk_tenant tenant-a "$CHA" && POOLA=$IT_POOL_PID && LOGA=$IT_FCGI_LOGS && SOCKA=$IT_FCGI_SOCK ||
	{ fail "setup: tenant A"; exit 1; }
mk_tenant tenant-b "$CHB" "ScepTrustedProxies = 127.0.0.1, ::1" && LOGB=$IT_FCGI_LOGS &&
	SOCKB=$IT_FCGI_SOCK || { fail "setup: tenant B"; exit 1; }
CAA=$IT_DIR/tenant-a/repo/ca/ca.pem CAB=$IT_DIR/tenant-b/repo/ca/ca.pem

# nginx with the shipped two-tenant server block
start_nginx() {
	local d=$IT_DIR/nginx
	mkdir -p "$d/conf"
	NPORT=$(it_free_port) || return 1
	it_subst "$IT_CONFDIR/nginx-scep-tenants.conf" "$d/conf/tenants.conf" \
		"listen 127.0.0.1:8080;|listen 127.0.0.1:$NPORT;" \
		"unix:/run/scep/\$scep_tenant.sock|unix:$IT_DIR/\$scep_tenant/pool/scep.sock" \
		"/etc/scep/\$scep_tenant.conf|$IT_DIR/etc/\$scep_tenant.conf" || return 1
	it_nginx_conf "$d" "$d/conf/tenants.conf"
	nginx -p "$d/" -c "$d/conf/nginx.conf" -e "$d/logs/error.log" >"$d/start.log" 2>&1 ||
		{ it_show "$d/start.log" "$d/logs/error.log"; return 1; }
	local i; for i in $(seq 50); do [ -s "$d/nginx.pid" ] && break; sleep 0.1; done
	it_track "$(cat "$d/nginx.pid")"
	it_wait_http "$NPORT"
}
# Apache + mod_proxy_fcgi with the shipped two-tenant file
start_apache() {
	local d=$IT_DIR/apache m
	mkdir -p "$d/run" "$d/lock" "$d/logs" "$d/htdocs"
	chown "$IT_RUN_USER:$IT_RUN_GROUP" "$d/run" "$d/lock"
	APORT=$(it_free_port) || return 1
	it_subst "$IT_CONFDIR/apache-scep-tenants.conf" "$d/tenants.conf" \
		"unix:/run/scep/tenant-a.sock|unix:$SOCKA" "unix:/run/scep/tenant-b.sock|unix:$SOCKB" \
		"/etc/scep/tenant-a.conf|$IT_DIR/etc/tenant-a.conf" \
		"/etc/scep/tenant-b.conf|$IT_DIR/etc/tenant-b.conf" || return 1
	{
		for m in mpm_event authz_core env proxy proxy_fcgi; do
			echo "Include /etc/apache2/mods-available/$m.load"
		done
		cat <<-APA
		ServerRoot $d
		ServerName 127.0.0.1
		Listen 127.0.0.1:$APORT
		PidFile $d/apache2.pid
		DefaultRuntimeDir $d/run
		Mutex file:$d/lock default
		ErrorLog $d/logs/error.log
		LogLevel warn
		$( [ "$(id -u)" = 0 ] && printf 'User %s\nGroup %s\n' "$IT_RUN_USER" "$IT_RUN_GROUP" )
		StartServers 1
		ServerLimit 1
		ThreadsPerChild 8
		MaxRequestWorkers 8
		DocumentRoot $d/htdocs
		<Directory />
			Require all denied
		</Directory>
		Include $d/tenants.conf
		APA
	} >"$d/apache2.conf"
	apache2 -d "$d" -f "$d/apache2.conf" -k start >"$d/start.log" 2>&1 ||
		{ it_show "$d/start.log" "$d/logs/error.log"; return 1; }
	local i; for i in $(seq 50); do [ -s "$d/apache2.pid" ] && break; sleep 0.1; done
	[ -s "$d/apache2.pid" ] || return 1
	it_track "$(cat "$d/apache2.pid")"
	it_wait_http "$APORT"
}
start_nginx || { fail "setup: nginx"; exit 1; }
start_apache || { fail "setup: Apache"; exit 1; }
echo "    setup: tenant-a and tenant-b pools; nginx on $NPORT, Apache on $APORT"

# GetCACert at URL is the CA certificate CAPEM (a single DER certificate)
cacert_is() {
	curl -fsS -o "$IT_DIR/got.der" "$1?operation=GetCACert" &&
	cmp -s "$IT_DIR/got.der" <(openssl x509 -in "$2" -outform DER)
}
# enroll NAME URL CHALLENGE: scepclient into $IT_DIR/cl/NAME; rc in RC
enroll() {
	local d=$IT_DIR/cl/$1
	mkdir -p "$d"
	timeout 120 scepclient -server-url "$2" -private-key "$d/key.pem" -certificate "$d/cert.pem" \
		-cn "$1" -organization Example -challenge "$3" >"$d/out.log" 2>&1
	RC=$?
}
verifies() { openssl verify -CAfile "$2" "$1" >/dev/null 2>&1; }
in_repo() { grep -rqs "CN=$2" "$IT_DIR/$1/repo/index.txt"; }
# enrolled_by NAME URL CHALLENGE TENANT CA OTHER OTHERCA LOG: scepclient gets a certificate
# of CA (openssl verify), not of OTHERCA, recorded by TENANT only
enrolled_by() {
	local n=$1 url=$2 ch=$3 t=$4 ca=$5 o=$6 oca=$7 log=$8 c=$IT_DIR/cl/$1/cert.pem
	local what="$web: scepclient at /$t/scep: certificate of $t's CA (openssl verify), recorded by $t only"
	enroll "$n" "$url" "$ch"
	if [ "$RC" = 0 ] && verifies "$c" "$ca" && ! verifies "$c" "$oca" &&
	    in_repo "$t" "$n" && ! in_repo "$o" "$n"; then
		pass "$what"
	else
		fail "$what"; it_show "$IT_DIR/cl/$n/out.log" "$log"
	fi
}

for web in nginx apache; do
	[ $web = nginx ] && port=$NPORT || port=$APORT
	UA=http://127.0.0.1:$port/tenant-a/scep UB=http://127.0.0.1:$port/tenant-b/scep
	check "$web: GetCACert at /tenant-a/scep is tenant A's CA" cacert_is "$UA" "$CAA"
	check "$web: GetCACert at /tenant-b/scep is tenant B's CA" cacert_is "$UB" "$CAB"
	check "$web: GetCACert at /tenant-a/scep/pkiclient.exe is tenant A's CA" \
		cacert_is "$UA/pkiclient.exe" "$CAA"

	enrolled_by "$web-a1" "$UA" "$CHA" tenant-a "$CAA" tenant-b "$CAB" "$LOGA"
	enrolled_by "$web-b1" "$UB" "$CHB" tenant-b "$CAB" tenant-a "$CAA" "$LOGB"
	enroll "$web-ab" "$UB" "$CHA"
	if [ "$RC" != 0 ] && [ ! -s "$IT_DIR/cl/$web-ab/cert.pem" ] &&
	    ! in_repo tenant-a "$web-ab" && ! in_repo tenant-b "$web-ab"; then
		pass "$web: tenant A's challenge at /tenant-b/scep is refused, nothing issued"
	else
		fail "$web: tenant A's challenge at /tenant-b/scep is refused, nothing issued"
	fi
	# nginx: the shipped "location / { return 404; }"; Apache: the test's <Directory />
	code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/tenant-c/scep?operation=GetCACert")
	check "$web: an unknown tenant path is not served (got $code)" grep -qE "^(403|404)$" <<<"$code"
done

# A location that passes tenant B's configuration to tenant A's pool: refused, logged.
out=$($PY "$FCGI" "$SOCKA" -p REQUEST_METHOD=GET -p QUERY_STRING=operation=GetCACert \
	-p REMOTE_ADDR=192.0.2.7 -p "SCEP_CONF=$IT_DIR/etc/tenant-b.conf" | tr -d '\0')
check "tenant A's pool answers 500 to a request naming tenant B's configuration" \
	grep -q '^Status: 500' <<<"$out"
check "... and logs why, with the tenant and the client" grep -qE \
	"tenant tenant-a: client 192\.0\.2\.7: refused: the web server passed SCEP_CONF $IT_DIR/etc/tenant-b\.conf, this worker serves $IT_DIR/etc/tenant-a\.conf" "$LOGA"
out=$($PY "$FCGI" "$SOCKA" -p REQUEST_METHOD=GET -p QUERY_STRING=operation=GetCACert \
	-p REMOTE_ADDR=192.0.2.7 -p "SCEP_CONF=$IT_DIR/etc/../etc/tenant-a.conf" | tr -d '\0')
check "another spelling of the worker's own configuration is served" grep -q '^Status: 200' <<<"$out"

# The request lines
TS='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z'
check "log: GetCACert request line with time, tenant, client, status, duration" grep -qE \
	"^$TS scep\[[0-9]+\]: INFO: tenant tenant-a: client 127\.0\.0\.1: request op=GetCACert txid=- status=200 outcome=ok ms=[0-9]+$" "$LOGA"
check "log: PKCSReq request line with its transactionID and SUCCESS" grep -qE \
	"^$TS scep\[[0-9]+\]: INFO: tenant tenant-b: client 127\.0\.0\.1: request op=PKCSReq txid=[^ ]+ status=200 outcome=SUCCESS ms=[0-9]+$" "$LOGB"
check "log: the refused challenge is FAILURE:badRequest" grep -qE \
	"INFO: tenant tenant-b: client 127\.0\.0\.1: request op=PKCSReq txid=[^ ]+ status=200 outcome=FAILURE:badRequest ms=[0-9]+$" "$LOGB"
check "log: the refused configuration is one request line too" grep -qE \
	"tenant tenant-a: client 192\.0\.2\.7: request op=GetCACert txid=- status=500 outcome=wrong-configuration" "$LOGA"
n_req=$(grep -c 'request op=' "$LOGA")
n_ngx=$(grep -c 'tenant-a/scep' "$IT_DIR/nginx/logs/access.log")
check "log: tenant A has at least one request line per nginx request ($n_req >= $n_ngx)" [ "$n_req" -ge "$n_ngx" ]

# X-Forwarded-For: believed only from a trusted peer
curl -fsS -o /dev/null -H 'X-Forwarded-For: 203.0.113.9' "http://127.0.0.1:$NPORT/tenant-a/scep?operation=GetCACaps"
curl -fsS -o /dev/null -H 'X-Forwarded-For: 203.0.113.9' "http://127.0.0.1:$NPORT/tenant-b/scep?operation=GetCACaps"
check "X-Forwarded-For from an untrusted peer is ignored (tenant A logs 127.0.0.1)" grep -qE \
	"tenant tenant-a: client 127\.0\.0\.1: request op=GetCACaps" "$LOGA"
check "X-Forwarded-For from a trusted peer names the client (tenant B logs 203.0.113.9)" grep -qE \
	"tenant tenant-b: client 203\.0\.113\.9: request op=GetCACaps" "$LOGB"
check "... and never the header of an untrusted peer" bash -c "! grep -q 'tenant-a: client 203' '$LOGA'"
mkdir -p "$IT_DIR/cl/xff"
openssl genrsa -out "$IT_DIR/cl/xff/key.pem" 2048 2>/dev/null
# scepclient cannot add a header: enroll through a FastCGI request with the header
if [ -x "$IT_TOP/build/scepreq" ]; then
	"$IT_TOP/build/scepreq" build -c "$CAB" -k "$IT_DIR/cl/xff/key.pem" -n xff-client -p "$CHB" \
		-x XFF$$ -L "$IT_DIR/cl/xff/s.pem" -o "$IT_DIR/cl/xff/r.der" 2>/dev/null
	$PY "$FCGI" "$SOCKB" -p REQUEST_METHOD=POST -p QUERY_STRING=operation=PKIOperation \
		-p REMOTE_ADDR=127.0.0.1 -p "HTTP_X_FORWARDED_FOR=198.51.100.4, 127.0.0.1" \
		-p "CONTENT_LENGTH=$(stat -c %s "$IT_DIR/cl/xff/r.der")" -b "$IT_DIR/cl/xff/r.der" >/dev/null
	check "the record keeps the client named by a trusted X-Forwarded-For" \
		grep -rqs '198\.51\.100\.4' "$IT_DIR/tenant-b/repo/issued"
fi

# --syslog: lines to syslog, nothing on stderr (a private /dev/log in a mount namespace)
if command -v unshare >/dev/null && unshare -m true 2>/dev/null; then
	cat >"$IT_DIR/syslogd.py" <<-'PYEOF'
	import socket, sys, os
	s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
	s.bind(sys.argv[1]); os.chmod(sys.argv[1], 0o666)
	open(sys.argv[2] + ".ready", "w").close()
	with open(sys.argv[2], "ab", buffering=0) as f:
	    while True:
	        f.write(s.recv(65536) + b"\n")
	PYEOF
	mkdir -p "$IT_DIR/devlog"
	$PY "$IT_DIR/syslogd.py" "$IT_DIR/devlog/log" "$IT_DIR/syslog.txt" &
	SLD=$!; it_track "$SLD"
	for _ in $(seq 50); do [ -e "$IT_DIR/syslog.txt.ready" ] && break; sleep 0.1; done
	# /dev is replaced by a directory holding only the socket "log", for this one process
	: >"$IT_DIR/empty"
	unshare -m bash -c "mount --bind '$IT_DIR/devlog' /dev 2>/dev/null || exit 3
		REQUEST_METHOD=GET QUERY_STRING=operation=GetCACaps REMOTE_ADDR=192.0.2.99 \
		SCEP_CONF='$IT_DIR/etc/tenant-a.conf' ASAN_OPTIONS=log_path='$IT_DIR/sl.asan' \
		'$SCEP_BIN' --syslog -c '$IT_DIR/etc/tenant-a.conf' <'$IT_DIR/empty' \
		>'$IT_DIR/sl.out' 2>'$IT_DIR/sl.err'"
	rc=$?
	sleep 0.3
	if [ $rc = 3 ]; then
		echo "    (--syslog not tested: cannot bind-mount /dev/log)"
	else
		check "--syslog: the request line reaches syslog with tenant and client" grep -qE \
			"scep\[[0-9]+\]: INFO: tenant tenant-a: client 192\.0\.2\.99: request op=GetCACaps" "$IT_DIR/syslog.txt"
		check "--syslog: nothing on stderr" [ ! -s "$IT_DIR/sl.err" ]
	fi
	it_kill_wait "$SLD"
fi

check "no sanitizer report in the pools' logs" it_check_sanitizer_logs "$LOGA" "$LOGB"
la_stop
echo "tenants: $IT_PASS passed, $IT_FAIL failed"
[ "$IT_FAIL" = 0 ]
