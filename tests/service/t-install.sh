#!/bin/bash
# `make install` and `make uninstall` into a DESTDIR, with the default PREFIX and with
# PREFIX=/usr: every file in its FHS place with its mode, the units and web-server files
# naming the installed program, an edited configuration never overwritten, uninstall
# removing exactly what install put there (configuration and state kept). The systemd
# units pass `systemd-analyze verify` (with the program paths pointed into the DESTDIR,
# which is all that differs from the installed system), and the logrotate file parses.
# Runs as any user. Prints PASS/FAIL lines and "install: N passed, M failed".
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
echo "install: $pass passed, $fail failed"
[ "$fail" = 0 ]
