#!/bin/bash
# `make install` and `make uninstall` into a DESTDIR, with the default PREFIX and with
# PREFIX=/usr: every file in its FHS place with its mode, the units and web-server files
# naming the installed program, an edited configuration never overwritten, uninstall
# removing exactly what install put there (configuration and state kept). The systemd
# units pass `systemd-analyze verify` (with the program paths pointed into the DESTDIR,
# which is all that differs from the installed system), and the logrotate file parses.
# As root on a machine without scep, also a real `make install` (user, owners) and
# `make uninstall`, leaving the machine as it was. Runs as any user. Prints PASS/FAIL lines and "install: N passed, M failed".
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
pass=0 fail=0
ok()  { pass=$((pass + 1)); echo "PASS: $*"; }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
T=$(mktemp -d /tmp/scep-install.XXXXXX)
trap 'rm -rf "$T"' EXIT
cd "$TOP" || exit 1

# install PREFIX: make install into $T/PREFIX-NAME; prints the DESTDIR
inst() {
	local d=$T/dest${1//\//-}
	make -s install DESTDIR="$d" ${1:+PREFIX=$1} >"$d.log" 2>&1 || { cat "$d.log" >&2; return 1; }
	echo "$d"
}
# lists every path under $1 with its mode, relative
tree() { (cd "$1" && find . -mindepth 1 -printf '%M %p\n' | sort -k2); }

for prefix in "" /usr; do
	P=${prefix:-/usr/local}
	if ! D=$(inst "$prefix"); then bad "make install PREFIX=$P"; continue; fi
	expect="-rwxr-xr-x $P/sbin/scep
-rwxr-xr-x $P/sbin/scep-admin
-rw-r--r-- $P/share/man/man8/scep.8
-rw-r--r-- $P/share/man/man8/scep-admin.8
-rw-r--r-- $P/share/man/man5/scep.conf.5
-rw-r--r-- $P/lib/systemd/system/scep@.service
-rw-r--r-- $P/lib/systemd/system/scep@.socket
-rw-r--r-- $P/lib/systemd/system/scep-crl@.service
-rw-r--r-- $P/lib/systemd/system/scep-crl@.timer
-rw-r--r-- $P/lib/tmpfiles.d/scep.conf
-rw-r--r-- $P/lib/sysusers.d/scep.conf
-rw-r--r-- $P/share/scep/nginx-scep.conf
-rw-r--r-- $P/share/scep/apache-scep-proxy-fcgi.conf
-rw-r--r-- $P/share/scep/apache-scep-fcgid.conf
-rw-r--r-- $P/share/scep/apache-scep-cgi.conf
-rw-r--r-- $P/share/scep/apache-scep-pki.conf
-rw-r--r-- $P/share/scep/scep.conf.sample
-rw-r----- /etc/scep/scep.conf
-rw-r--r-- /etc/nginx/sites-available/scep
-rw-r--r-- /etc/apache2/conf-available/scep.conf
-rw-r--r-- /etc/logrotate.d/scep
drwxr-x--- /var/lib/scep
drwxr-x--- /var/log/scep"
	missing=""
	while read -r mode path; do
		[ "$(stat -c %A "$D$path" 2>/dev/null)" = "$mode" ] || missing="$missing $path($(stat -c %A "$D$path" 2>&1 | head -c 40))"
	done <<<"$expect"
	[ -z "$missing" ] && ok "PREFIX=$P: programs, man pages, units, tmpfiles/sysusers, logrotate, web-server files, /etc/scep/scep.conf, state directories in place" ||
		bad "PREFIX=$P: files in place:$missing"
	n_files=$(find "$D" -type f | wc -l)
	[ "$n_files" = "$(grep -c '^-' <<<"$expect")" ] && ok "PREFIX=$P: nothing else installed ($n_files files)" ||
		bad "PREFIX=$P: nothing else installed" "$n_files files: $(tree "$D" | tr '\n' ' ' | head -c 600)"
	"$D$P/sbin/scep" --version | grep -qx "scep $(cat VERSION)" && ok "PREFIX=$P: the installed scep --version" ||
		bad "PREFIX=$P: the installed scep --version"
	if grep -q "^ExecStart=$P/sbin/scep --workers" "$D$P/lib/systemd/system/scep@.service" &&
		grep -q "^ExecStart=$P/sbin/scep-admin -c /etc/scep/%i.conf crl" "$D$P/lib/systemd/system/scep-crl@.service" &&
		! grep -rq '@SBINDIR@' "$D$P/lib/systemd/system" &&
		grep -q "ScriptAlias /scep $P/sbin/scep\$" "$D$P/share/scep/apache-scep-fcgid.conf" "$D$P/share/scep/apache-scep-cgi.conf" &&
		grep -q "$P/sbin/scep --workers" "$D/etc/nginx/sites-available/scep"; then
		ok "PREFIX=$P: units and web-server files name $P/sbin/scep"
	else
		bad "PREFIX=$P: units and web-server files name $P/sbin/scep"
	fi
	cmp -s "$D/etc/scep/scep.conf" repo-layout/scep.conf.sample &&
		grep -q '^ScepRepository = /var/lib/scep$' "$D/etc/scep/scep.conf" &&
		grep -q '^d /var/lib/scep 0750 scep scep' "$D$P/lib/tmpfiles.d/scep.conf" &&
		ok "PREFIX=$P: one repository path everywhere: /var/lib/scep (scep.conf, tmpfiles.d, units)" ||
		bad "PREFIX=$P: one repository path everywhere"

	# the units, verified against this system with the program paths pointed into DESTDIR
	if command -v systemd-analyze >/dev/null; then
		U=$T/units${prefix//\//-}
		mkdir -p "$U"
		for f in scep@.service scep@.socket scep-crl@.service scep-crl@.timer; do
			sed "s|=$P/sbin/|=$D$P/sbin/|" "$D$P/lib/systemd/system/$f" >"$U/${f/@./@test.}"
		done
		if (cd "$U" && systemd-analyze verify --man=no ./scep@test.service ./scep@test.socket \
			./scep-crl@test.service ./scep-crl@test.timer) >"$U/verify.out" 2>&1 && [ ! -s "$U/verify.out" ]; then
			ok "PREFIX=$P: systemd-analyze verify: the four units are clean"
		else
			bad "PREFIX=$P: systemd-analyze verify: the four units are clean" "$(head -c 600 "$U/verify.out")"
		fi
	else
		bad "systemd-analyze missing (scripts/install-deps installs systemd)"
	fi
	if command -v logrotate >/dev/null; then
		# the scep user may not exist here (tests/service/t-deb.sh runs it for real)
		id scep >/dev/null 2>&1 || sed -i 's/create 0640 scep adm$/create 0640 root adm/' "$D/etc/logrotate.d/scep"
		logrotate -d -s "$T/lr.state" "$D/etc/logrotate.d/scep" >"$T/lr.out" 2>&1 &&
			! grep -qi 'error' "$T/lr.out" && ok "PREFIX=$P: logrotate parses etc/logrotate.d/scep" ||
			bad "PREFIX=$P: logrotate parses etc/logrotate.d/scep" "$(grep -i error "$T/lr.out" | head -n 3)"
	fi

	# an edited configuration survives a second install; uninstall keeps data and edits
	echo "; edited" >>"$D/etc/scep/scep.conf"
	echo "# edited" >>"$D/etc/apache2/conf-available/scep.conf"
	make -s install DESTDIR="$D" ${prefix:+PREFIX=$prefix} >/dev/null 2>&1
	tail -n 1 "$D/etc/scep/scep.conf" | grep -qx '; edited' && ok "PREFIX=$P: a second install keeps the edited scep.conf" ||
		bad "PREFIX=$P: a second install keeps the edited scep.conf"
	make -s uninstall DESTDIR="$D" ${prefix:+PREFIX=$prefix} >"$T/un.log" 2>&1
	left=$(cd "$D" && find . -type f | sort | tr '\n' ' ')
	[ "$left" = "./etc/apache2/conf-available/scep.conf ./etc/scep/scep.conf " ] && [ -d "$D/var/lib/scep" ] &&
		ok "PREFIX=$P: make uninstall removes the rest, keeps scep.conf, the edited Apache file and /var/lib/scep" ||
		bad "PREFIX=$P: make uninstall removes the rest, keeps scep.conf, the edited Apache file and /var/lib/scep" "left: $left"
done

# As root without DESTDIR, on a machine without scep: `make install` also makes the scep
# user and the directories with their owners; scep-admin init then works as documented;
# `make uninstall` and removing what install made for the administrator (user, data)
# leave the machine as it was.
clean_machine() {
	local p
	id scep >/dev/null 2>&1 && return 1
	for p in /etc/scep /var/lib/scep /var/log/scep /run/scep /usr/local/sbin/scep /usr/local/share/scep \
		/etc/nginx/sites-available/scep /etc/apache2/conf-available/scep.conf /etc/logrotate.d/scep; do
		[ -e "$p" ] && return 1
	done
	return 0
}
if [ "$(id -u)" != 0 ]; then
	echo "SKIP: make install as root (not root)"
elif ! clean_machine; then
	echo "SKIP: make install as root (this machine has a scep user or installed files)"
else
	dirs="/usr/local/lib/systemd/system /usr/local/lib/systemd /usr/local/lib/tmpfiles.d /usr/local/lib/sysusers.d
/usr/local/share/man/man5 /usr/local/share/man/man8 /etc/nginx/sites-available /etc/nginx /etc/apache2/conf-available
/etc/apache2 /etc/logrotate.d"
	absent=$(for d in $dirs; do [ -e "$d" ] || echo "$d"; done)
	passwd_before=$(cut -d: -f1 /etc/passwd | sort | tr '\n' ' ')
	if make -s install >"$T/root-install.log" 2>&1; then
		ok "make install as root"
	else
		bad "make install as root" "$(tail -n 5 "$T/root-install.log")"
	fi
	st() { stat -c '%a %U:%G' "$1" 2>/dev/null; }
	[ "$(getent passwd scep | cut -d: -f6,7)" = /var/lib/scep:/usr/sbin/nologin ] && [ "$(id -u scep)" -lt 1000 ] &&
		[ "$(st /etc/scep/scep.conf)" = "640 root:scep" ] && [ "$(st /var/lib/scep)" = "750 scep:scep" ] &&
		[ "$(st /var/log/scep)" = "750 scep:adm" ] && [ "$(st /run/scep)" = "750 scep:www-data" ] &&
		ok "make install as root: the scep system user, scep.conf 0640 root:scep, /var/lib/scep, /var/log/scep, /run/scep with their owners" ||
		bad "make install as root: user and directories" "$(getent passwd scep); $(st /etc/scep/scep.conf); $(st /var/lib/scep); $(st /var/log/scep); $(st /run/scep)"
	/usr/local/sbin/scep-admin init --subject "/CN=Install Test CA" >"$T/root-init.log" 2>&1 &&
		[ -z "$(find /var/lib/scep ! -user scep)" ] &&
		ok "scep-admin init as root right after make install: the CA belongs to scep" ||
		bad "scep-admin init as root right after make install" "$(cat "$T/root-init.log")"
	make -s uninstall >"$T/root-uninstall.log" 2>&1
	rm -rf /etc/scep /var/lib/scep /var/log/scep /run/scep
	id scep >/dev/null 2>&1 && userdel scep
	getent group scep >/dev/null && groupdel scep
	for d in $absent; do rmdir "$d" 2>/dev/null; done
	left=$(for d in $absent; do [ -e "$d" ] && echo "$d"; done | tr '\n' ' ')
	clean_machine && [ -z "$left" ] && [ "$(cut -d: -f1 /etc/passwd | sort | tr '\n' ' ')" = "$passwd_before" ] &&
		ok "make uninstall and removing the user and data leave the machine as it was" ||
		bad "make uninstall and removing the user and data leave the machine as it was" "left: $left"
fi
echo "install: $pass passed, $fail failed"
[ "$fail" = 0 ]
