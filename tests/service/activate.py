#!/usr/bin/python3
"""Start a command the way systemd starts a socket-activated service (Accept=no): make the
listening unix socket of the .socket unit (ListenStream, SocketUser, SocketGroup,
SocketMode), pass it as fd 3 with LISTEN_FDS=1 and LISTEN_PID, switch to the service's
User and Group (with the user's supplementary groups, as systemd does) and exec the
command in this process, so that its pid is the service's main pid.

  activate.py --listen PATH [--socket-user U] [--socket-group G] [--socket-mode 0660]
              [--user U] [--group G] [--env NAME=VALUE]... -- COMMAND ARGS...
"""
import argparse
import grp
import os
import pwd
import socket
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", required=True)
    ap.add_argument("--socket-user", default="root")
    ap.add_argument("--socket-group", default="root")
    ap.add_argument("--socket-mode", default="0666")
    ap.add_argument("--user")
    ap.add_argument("--group")
    ap.add_argument("--env", action="append", default=[])
    ap.add_argument("command", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.command[1:] if a.command[:1] == ["--"] else a.command
    if not cmd:
        ap.error("no command")
    if os.path.lexists(a.listen):
        os.unlink(a.listen)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(a.listen)
    os.chown(a.listen, pwd.getpwnam(a.socket_user).pw_uid, grp.getgrnam(a.socket_group).gr_gid)
    os.chmod(a.listen, int(a.socket_mode, 8))
    s.listen(128)
    if s.fileno() != 3:
        os.dup2(s.fileno(), 3)
        s.close()
    os.set_inheritable(3, True)
    for kv in a.env:
        k, v = kv.split("=", 1)
        os.environ[k] = v
    if a.user:
        pw = pwd.getpwnam(a.user)
        gid = grp.getgrnam(a.group).gr_gid if a.group else pw.pw_gid
        os.initgroups(a.user, gid)
        os.setgid(gid)
        os.setuid(pw.pw_uid)
        os.environ.update(USER=a.user, LOGNAME=a.user, HOME=pw.pw_dir)
    os.environ["LISTEN_FDS"] = "1"
    os.environ["LISTEN_PID"] = str(os.getpid())
    os.execvp(cmd[0], cmd)


if __name__ == "__main__":
    main()
