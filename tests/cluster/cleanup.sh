#!/bin/bash
# tests/cluster/cleanup.sh WORKDIR: stop what a cluster test or the shared-FS bench left
# behind when it could not tear down itself (killed with SIGKILL, machine trouble):
# its nginx and FastCGI workers, its mounts, its volume, its glusterd, its /etc/hosts
# line. WORKDIR is the run's tests/out/cluster.* (or bench-cluster.*) directory. Only
# processes named in WORKDIR's pid files are touched, and only while their command line
# still points into WORKDIR or is a Gluster or scep program.
set -u
[ $# = 1 ] && [ -d "$1/gluster" ] || { echo "usage: $0 tests/out/cluster.XXXXXX" >&2; exit 2; }
WD=$(cd "$1" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../integration/lib.sh"
. "$HERE/gluster.sh"

ours() {
	local c
	c=$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null) || return 1
	case $c in *"$WD"* | *gluster* | *scep*) return 0 ;; esac
	return 1
}
pids=""
for f in "$WD"/*/*/nginx/nginx.pid "$WD"/*/*/fcgi/pid "$WD"/*/*/fcgi/pids; do
	[ -f "$f" ] || continue
	for p in $(cat "$f"); do ours "$p" && pids="$pids $p $(it_children "$p" | tr '\n' ' ')"; done
done
# shellcheck disable=SC2086
[ -n "${pids// }" ] && { echo "cleanup: stopping$pids"; it_kill_wait $pids; }

GL_DIR=$WD/gluster
read -r GL_HOST GL_VOL <"$GL_DIR/names" 2>/dev/null || { echo "cleanup: no $GL_DIR/names" >&2; exit 1; }
GL_HOSTS_LINE="127.0.0.1 $GL_HOST # scep cluster test, removed at its end"
GL_STARTED=1
GL_MOUNTS=""
for m in "$GL_DIR"/mnt/*; do [ -d "$m" ] && GL_MOUNTS="$GL_MOUNTS ${m##*/}"; done
gl_teardown
