#!/bin/bash
# The Debian package, end to end, as an administrator on a fresh Debian 12 uses it:
#   1. `dpkg-buildpackage -us -uc -b` in a copy of this tree builds scep-ca_VERSION_*.deb
#      (Debian's "scep" is micromdm's Go client and server, whose scepclient the tests use);
#   2. `dpkg -i` installs it: the scep system user, /etc/scep/scep.conf (0640 root:scep),
#      /var/lib/scep (the repository, scep:scep), /run/scep, the units (which pass
#      `systemd-analyze verify`), logrotate, the inactive nginx site;
#   3. the administrator's steps (apache-conf/README.md): set the challenge, `scep-admin
#      init` as root, enable the nginx site; then the worker pool started exactly as
#      scep@scep.socket + scep@scep.service start it (no systemd runs as PID 1 here: the
#      socket, user, group, umask, environment and ExecStart are read from the installed
#      units and run through tests/service/activate.py) behind the system nginx;
#   4. scepclient enrolls, openssl verifies; ExecReload (SIGHUP) keeps the pool; the
#      command of scep-crl@scep.service, as its user, makes a CRL whose nextUpdate lies
#      beyond the timer's period; a forced logrotate rotates a log of /var/log/scep and
#      its SIGHUP reaches the pool; stop is graceful;
#   5. `dpkg --purge`, then what the administrator made (the CA, the user) is removed:
#      the machine is as it was (checked).
# Needs root, a free port 80 (the system nginx's default site) and a machine without the
# scep-ca package, a scep user or the directories; reports a skip otherwise. Prints PASS/FAIL lines and
# "deb: N passed, M failed".
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
PY=/usr/bin/python3
pass=0 fail=0
ok()  { pass=$((pass + 1)); echo "PASS: $*"; }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
skip() { echo "SKIP: $*"; echo "deb: 0 passed, 0 failed, 1 skipped"; exit 0; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
port_busy() {
	awk -v p="$(printf '%04X' "$1")" '$4 == "0A" && toupper($2) ~ (":" p "$") { f = 1 } END { exit !f }' \
		/proc/net/tcp /proc/net/tcp6 2>/dev/null
}

[ "$(id -u)" = 0 ] || skip "the package test needs root"
for c in dpkg-buildpackage dh nginx scepclient systemd-analyze logrotate setpriv openssl curl; do
	command -v "$c" >/dev/null || { bad "prerequisites: $c missing (scripts/install-deps)"; echo "deb: $pass passed, $fail failed"; exit 1; }
done
dpkg-query -W -f '${Status}' scep-ca 2>/dev/null | grep -q 'install ok' && skip "the scep-ca package is installed on this machine"
id scep >/dev/null 2>&1 && skip "a scep user exists on this machine"
for p in /etc/scep /var/lib/scep /var/log/scep /run/scep /etc/nginx/sites-enabled/scep /etc/nginx/sites-available/scep; do
	[ -e "$p" ] && skip "$p exists on this machine"
done
[ -s /run/nginx.pid ] && kill -0 "$(cat /run/nginx.pid)" 2>/dev/null && skip "the system nginx is running"
port_busy 80 && skip "port 80 is in use (the system nginx's default site needs it)"

T=$(mktemp -d /var/tmp/scep-deb.XXXXXX)
chmod 755 "$T"
INSTALLED=0 NGINX=0 POOL=""
VERSION=$(cat "$TOP/VERSION")
passwd_before=$(cut -d: -f1 /etc/passwd | sort | tr '\n' ' ')
cleanup() {
	local p
	trap - EXIT INT TERM
	if [ -n "$POOL" ]; then
		kill -TERM "$POOL" 2>/dev/null
		for _ in $(seq 100); do kill -0 "$POOL" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$POOL" 2>/dev/null
	fi
	if [ "$NGINX" = 1 ] && [ -s /run/nginx.pid ]; then
		p=$(cat /run/nginx.pid)
		kill -QUIT "$p" 2>/dev/null
		for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
	fi
	rm -f /etc/nginx/sites-enabled/scep
	if [ "$INSTALLED" = 1 ]; then
		for _ in $(seq 60); do
			dpkg --purge scep-ca >"$T/purge.log" 2>&1 && break
			grep -q 'lock' "$T/purge.log" || { cat "$T/purge.log" >&2; break; }
			sleep 2
		done
		# what the administrator made: the CA repository, the user
		rm -rf /var/lib/scep
		id scep >/dev/null 2>&1 && userdel scep
		getent group scep >/dev/null && groupdel scep
	fi
	[ "$fail" = 0 ] && [ -z "${IT_KEEP:-}" ] && rm -rf "$T"
}
trap cleanup EXIT
trap 'bad "interrupted"; exit 1' INT TERM

# ---- 1. build
mkdir "$T/src"
(cd "$TOP" && git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$T/src") ||
	{ bad "copy of the tree"; exit 1; }
t0=$(date +%s)
if (cd "$T/src" && DEB_BUILD_OPTIONS="parallel=2 nocheck" dpkg-buildpackage -us -uc -b) >"$T/build.log" 2>&1; then
	ok "dpkg-buildpackage -us -uc -b builds the package ($(( $(date +%s) - t0 )) s)"
else
	bad "dpkg-buildpackage -us -uc -b builds the package" "$(tail -n 20 "$T/build.log")"
	tail -n 20 "$T/build.log"
	exit 1
fi
deb=$(ls "$T"/scep-ca_*_*.deb)
check "the package version is VERSION ($VERSION)" test "$(dpkg-deb -f "$deb" Version)" = "$VERSION"

# ---- 2. install
for _ in $(seq 60); do	# another apt/dpkg may hold the lock for a while
	dpkg -i "$deb" >"$T/install.log" 2>&1 && { INSTALLED=1; break; }
	grep -q 'lock' "$T/install.log" || break
	sleep 2
done
INSTALLED=1	# whatever dpkg did, purge it at the end
if dpkg-query -W -f '${Status}' scep-ca 2>/dev/null | grep -q 'install ok installed'; then
	ok "dpkg -i installs the package"
else
	bad "dpkg -i installs the package" "$(tail -n 10 "$T/install.log")"
	exit 1
fi
check "a scep system user (no login shell) is made" \
	bash -c '[ "$(id -u scep)" -lt 1000 ] && [ "$(getent passwd scep | cut -d: -f7)" = /usr/sbin/nologin ]'
st() { stat -c '%a %U:%G' "$1" 2>/dev/null; }
check "/etc/scep/scep.conf is 0640 root:scep" test "$(st /etc/scep/scep.conf)" = "640 root:scep"
check "/var/lib/scep (the repository) is 0750 scep:scep" test "$(st /var/lib/scep)" = "750 scep:scep"
check "/var/log/scep is 0750 scep:adm" test "$(st /var/log/scep)" = "750 scep:adm"
check "/run/scep is 0750 scep:www-data" test "$(st /run/scep)" = "750 scep:www-data"
check "scep --version says $VERSION" test "$(scep --version)" = "scep $VERSION"
check "man pages installed" test -s /usr/share/man/man8/scep.8.gz -a -s /usr/share/man/man8/scep-admin.8.gz \
	-a -s /usr/share/man/man5/scep.conf.5.gz
if systemd-analyze verify scep@scep.service scep@scep.socket scep-crl@scep.service scep-crl@scep.timer \
	>"$T/verify.out" 2>&1 && [ ! -s "$T/verify.out" ]; then
	ok "systemd-analyze verify: the installed units (instance scep) are clean"
else
	bad "systemd-analyze verify: the installed units (instance scep) are clean" "$(head -c 600 "$T/verify.out")"
fi

# ---- 3. the administrator's steps
CHAL=deb-$RANDOM$RANDOM
sed -i -e "s|^#ScepChallengePassword = .*|ScepChallengePassword = $CHAL|" \
	-e 's|^ScepAutoApproveEnrollment = NO|ScepAutoApproveEnrollment = YES|' /etc/scep/scep.conf
grep -q "^ScepChallengePassword = $CHAL" /etc/scep/scep.conf || bad "setting the challenge in /etc/scep/scep.conf"
if scep-admin init --subject "/CN=Package Test CA/O=Example" >"$T/init.log" 2>&1; then
	ok "scep-admin init, run as root, creates the CA in /var/lib/scep"
else
	bad "scep-admin init, run as root, creates the CA in /var/lib/scep" "$(cat "$T/init.log")"
fi
check "the repository belongs to scep, the CA key is 0600" \
	test -z "$(find /var/lib/scep ! -user scep)" -a "$(st /var/lib/scep/ca/ca.key)" = "600 scep:scep"
check "scep-admin config-check" bash -c "scep-admin config-check >/dev/null"

# units: Key=value lines of a [section] (instance NAME substituted for %i)
unit_get() {	# FILE KEY
	sed -n "s/^$2=//p" "$1" | sed 's/%i/scep/g'
}
SOCK_U=/lib/systemd/system/scep@.socket SVC_U=/lib/systemd/system/scep@.service
CRL_U=/lib/systemd/system/scep-crl@.service TIMER_U=/lib/systemd/system/scep-crl@.timer
LISTEN=$(unit_get $SOCK_U ListenStream)
SUSER=$(unit_get $SOCK_U SocketUser) SGROUP=$(unit_get $SOCK_U SocketGroup) SMODE=$(unit_get $SOCK_U SocketMode)
USER_=$(unit_get $SVC_U User) GROUP_=$(unit_get $SVC_U Group) UMASK_=$(unit_get $SVC_U UMask)
envs=()
while read -r e; do [ -n "$e" ] && envs+=(--env "$e"); done < <(unit_get $SVC_U Environment)
# ExecStart with ${VAR} from Environment= (systemd's own expansion, one word each)
exec_line=$(unit_get $SVC_U ExecStart)
for e in $(unit_get $SVC_U Environment); do exec_line=${exec_line//\$\{${e%%=*}\}/${e#*=}}; done
read -r -a exec_argv <<<"$exec_line"
echo "  .. ExecStart: ${exec_argv[*]} as $USER_:$GROUP_, socket $LISTEN ($SUSER:$SGROUP $SMODE)" >&2

PORT=$(for _ in $(seq 50); do p=$(shuf -i 20000-60999 -n 1); port_busy "$p" || { echo "$p"; break; }; done)
sed -i "s|listen 127.0.0.1:8080;|listen 127.0.0.1:$PORT;|" /etc/nginx/sites-available/scep
ln -s ../sites-available/scep /etc/nginx/sites-enabled/scep
check "nginx -t accepts the shipped site" nginx -t -q

(umask "$UMASK_"; exec "$PY" "$HERE/activate.py" --listen "$LISTEN" --socket-user "$SUSER" \
	--socket-group "$SGROUP" --socket-mode "$SMODE" --user "$USER_" --group "$GROUP_" "${envs[@]}" \
	-- "${exec_argv[@]}") 2>"$T/pool.log" &
POOL=$!
for _ in $(seq 100); do [ -S "$LISTEN" ] && [ "$(pgrep -c -P "$POOL")" -ge 1 ] && break; sleep 0.1; done
nw=$(pgrep -c -P "$POOL")
[ "$nw" -ge 1 ] && ok "the pool runs as the units say ($nw workers of ${exec_argv[0]} as $(ps -o user= -p "$POOL"))" ||
	bad "the pool runs as the units say" "$(cat "$T/pool.log")"
if nginx 2>"$T/nginx.err"; then NGINX=1; ok "the system nginx starts with the scep site"
else bad "the system nginx starts with the scep site" "$(cat "$T/nginx.err")"; fi
URL=http://127.0.0.1:$PORT/scep
for _ in $(seq 50); do curl -s -o /dev/null "$URL?operation=GetCACaps" && break; sleep 0.1; done

# ---- 4. a client
mkdir -p "$T/client"
openssl genrsa -traditional -out "$T/client/key.pem" 2048 2>/dev/null
if timeout 120 scepclient -server-url "$URL" -private-key "$T/client/key.pem" -certificate "$T/client/cert.pem" \
	-cn deb-client -challenge "$CHAL" >"$T/client/scepclient.log" 2>&1 &&
	openssl verify -CAfile /var/lib/scep/ca/ca.pem "$T/client/cert.pem" >/dev/null 2>&1; then
	ok "scepclient enrolls through the system nginx; openssl verify accepts the certificate"
else
	bad "scepclient enrolls through the system nginx; openssl verify accepts the certificate" \
		"$(tail -n 5 "$T/client/scepclient.log")"
fi

before=$(pgrep -P "$POOL" | sort | tr '\n' ' ')
reload=$(unit_get $SVC_U ExecReload)
reload=${reload//\$MAINPID/$POOL}
setpriv --reuid="$USER_" --regid="$GROUP_" --init-groups -- $reload
sleep 0.5
after=$(pgrep -P "$POOL" | sort | tr '\n' ' ')
[ "$before" = "$after" ] && curl -s "$URL?operation=GetCACaps" | grep -q POSTPKIOperation &&
	ok "ExecReload ($reload): the same workers go on serving" ||
	bad "ExecReload: the same workers go on serving" "before $before after $after"

crl_line=$(unit_get $CRL_U ExecStart)
read -r -a crl_argv <<<"$crl_line"
if (umask "$(unit_get $CRL_U UMask)"; setpriv --reuid="$(unit_get $CRL_U User)" --regid="$(unit_get $CRL_U Group)" \
	--init-groups -- "${crl_argv[@]}") >"$T/crl.log" 2>&1; then
	next=$(date -d "$(openssl crl -in /var/lib/scep/crl.pem -noout -nextupdate | cut -d= -f2)" +%s)
	cal=$(unit_get $TIMER_U OnCalendar) delay=$(unit_get $TIMER_U RandomizedDelaySec)
	[ "$cal" = daily ] && [ "$delay" = 1h ] && [ "$next" -gt $(( $(date +%s) + 86400 + 3600 )) ] &&
		ok "scep-crl@scep.service's command makes a CRL whose nextUpdate is beyond the timer's period (daily + 1h)" ||
		bad "CRL nextUpdate beyond the timer's period" "OnCalendar=$cal RandomizedDelaySec=$delay next=$next"
else
	bad "scep-crl@scep.service's command (${crl_argv[*]})" "$(cat "$T/crl.log")"
fi
# logrotate, forced, on the log of a pool started by hand (--log /var/log/scep/NAME.log):
# the file is rotated and recreated, and the postrotate SIGHUP reaches the running pool
echo "a log line" >/var/log/scep/scep.log
chown scep:adm /var/log/scep/scep.log
h0=$(grep -c 'SIGHUP: log reopened' "$T/pool.log")
if logrotate -f -s "$T/lr.state" /etc/logrotate.d/scep >"$T/lr.out" 2>&1 && [ -s /var/log/scep/scep.log.1 ] &&
	[ "$(st /var/log/scep/scep.log)" = "640 scep:adm" ] && sleep 0.5 &&
	[ "$(grep -c 'SIGHUP: log reopened' "$T/pool.log")" -gt "$h0" ] &&
	[ "$(pgrep -P "$POOL" | sort | tr '\n' ' ')" = "$before" ]; then
	ok "logrotate -f /etc/logrotate.d/scep: rotated, recreated 0640 scep:adm, SIGHUP to the pool, same workers"
else
	bad "logrotate -f /etc/logrotate.d/scep" "$(head -c 300 "$T/lr.out"; ls -l /var/log/scep)"
fi

kill -TERM "$POOL"	# KillMode=mixed: SIGTERM to the main process
stopped=0
for _ in $(seq "$(( $(unit_get $SVC_U TimeoutStopSec) * 10 ))"); do kill -0 "$POOL" 2>/dev/null || { stopped=1; break; }; sleep 0.1; done
wait "$POOL"; prc=$?
[ "$stopped" = 1 ] && [ "$prc" = 0 ] && ok "stop (SIGTERM to the main process): the pool exits 0 within TimeoutStopSec" ||
	bad "stop: the pool exits 0 within TimeoutStopSec" "status $prc"
POOL=""
grep -E 'ERROR|pool: worker .* killed' "$T/pool.log" >&2 && bad "no error in the pool's log" || ok "no error in the pool's log"

# ---- 5. purge, and the machine as it was
cleanup
trap - EXIT
left=""
dpkg-query -W -f '${Status}' scep-ca 2>/dev/null | grep -q 'installed' && left="$left package"
for p in /etc/scep /var/lib/scep /var/log/scep /run/scep /lib/systemd/system/scep@.service /usr/sbin/scep \
	/etc/nginx/sites-available/scep /etc/nginx/sites-enabled/scep /etc/logrotate.d/scep; do
	[ -e "$p" ] && left="$left $p"
done
[ "$(cut -d: -f1 /etc/passwd | sort | tr '\n' ' ')" = "$passwd_before" ] || left="$left users"
[ -s /run/nginx.pid ] && kill -0 "$(cat /run/nginx.pid)" 2>/dev/null && left="$left nginx"
[ -z "$left" ] && ok "dpkg --purge and the test's own clean-up leave the machine as it was" ||
	bad "the machine as it was" "left:$left"
[ "$fail" = 0 ] && rm -rf "$T"
echo "deb: $pass passed, $fail failed"
[ "$fail" = 0 ]
