#!/usr/bin/python3
"""
fscheck.py: does a shared file system give the repository what it relies on, between two
mounts of it (two nodes)? Standard library only. Usage:

    fscheck.py DIR_ON_NODE_A DIR_ON_NODE_B

Both arguments name the same (empty or scratch) directory through two mounts. Works in a
subdirectory it creates and removes. Prints PASS:/FAIL: lines and "fscheck: N passed, M
failed"; exit 1 if anything failed. The properties (repo-layout/SHARED-FS.md):
  - an fcntl() write lock taken through one mount excludes a lock through the other;
  - the lock of a process killed with SIGKILL is released, and a waiter on the other
    mount gets it;
  - of processes on both mounts racing to create one name with O_EXCL, or to link(2)
    to it, exactly one wins, and every process then reads the winner's content;
  - a file replaced by rename(2) on one mount is seen whole and new on the other at once;
    an append and an unlink are seen at once too (no attribute or entry caching);
  - fsync() of a file and of a directory succeeds.
"""
import errno
import fcntl
import multiprocessing as mp
import os
import shutil
import signal
import sys
import time

NPASS = NFAIL = 0


def ok(name, cond, why=""):
    global NPASS, NFAIL
    if cond:
        NPASS += 1
        print("PASS: %s" % name)
    else:
        NFAIL += 1
        print("FAIL: %s%s" % (name, " (%s)" % why if why else ""))
    sys.stdout.flush()


def trylock(fd, wait):
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        return True
    except OSError as e:
        if e.errno in (errno.EAGAIN, errno.EACCES):
            return False
        raise


def holder(path, ready, release):
    """Child: lock PATH, say so, hold the lock until RELEASE is set (or until killed)."""
    fd = os.open(path, os.O_RDWR)
    fcntl.lockf(fd, fcntl.LOCK_EX)
    ready.set()
    release.wait(60)
    os._exit(0)


def check_locks(a, b):
    pa, pb = os.path.join(a, "lock"), os.path.join(b, "lock")
    os.close(os.open(pa, os.O_RDWR | os.O_CREAT, 0o640))
    ready, release = mp.Event(), mp.Event()
    p = mp.Process(target=holder, args=(pa, ready, release))
    p.start()
    ok("a lock holder on mount A gets its lock", ready.wait(20))
    fd = os.open(pb, os.O_RDWR)
    ok("fcntl lock through mount B is refused while mount A holds it",
       not trylock(fd, False))
    # The holder dies by SIGKILL; a waiter on B must get the lock soon after.
    t0 = time.monotonic()
    os.kill(p.pid, signal.SIGKILL)
    p.join()
    def expired(*_):
        raise TimeoutError

    signal.signal(signal.SIGALRM, expired)
    signal.alarm(20)
    try:
        got = trylock(fd, True)
    except TimeoutError:
        got = False
    signal.alarm(0)
    ok("the lock of a SIGKILLed holder on A is released; a waiter on B gets it "
       "(%.2f s)" % (time.monotonic() - t0), got)
    os.close(fd)


def racer(kind, path, data, go, out):
    """Child: wait for GO, then create PATH exclusively (open O_EXCL, or link(2) of a
    private temp file), write DATA when it won; report (won, errno)."""
    go.wait(20)
    try:
        if kind == "excl":
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
            os.write(fd, data)
            os.fsync(fd)
            os.close(fd)
        else:
            tmp = path + ".t%d" % os.getpid()
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
            os.write(fd, data)
            os.fsync(fd)
            os.close(fd)
            try:
                os.link(tmp, path)
            finally:
                os.unlink(tmp)
        out.put((data, 0))
    except OSError as e:
        out.put((data, e.errno))


def check_race(a, b, kind, rounds=5, n=8):
    bad = []
    for r in range(rounds):
        name = "%s-%d" % (kind, r)
        go, out = mp.Event(), mp.Queue()
        ps = []
        for i in range(n):
            d = a if i % 2 == 0 else b
            data = ("%s racer %d round %d\n" % (kind, i, r)).encode()
            ps.append(mp.Process(target=racer, args=(kind, os.path.join(d, name), data, go,
                                                    out)))
        for p in ps:
            p.start()
        time.sleep(0.2)
        go.set()
        res = [out.get(timeout=30) for _ in ps]
        for p in ps:
            p.join()
        winners = [d for d, e in res if e == 0]
        others = [e for d, e in res if e != 0]
        if len(winners) != 1 or any(e != errno.EEXIST for e in others):
            bad.append("round %d: %d winners, errors %s" % (r, len(winners), sorted(set(others))))
            continue
        for d in (a, b):
            with open(os.path.join(d, name), "rb") as f:
                got = f.read()
            if got != winners[0]:
                bad.append("round %d: %s reads %r, the winner wrote %r" % (
                    r, "A" if d == a else "B", got, winners[0]))
    ok("%s race over both mounts: one winner, everyone else EEXIST, both mounts read "
       "the winner's content (%d rounds of %d)" % (
           "open(O_CREAT|O_EXCL)" if kind == "excl" else "link(2)", rounds, n),
       not bad, "; ".join(bad[:3]))


def check_visibility(a, b, rounds=50):
    stale = []
    for i in range(rounds):
        data = ("version %d " % i).encode() * (1 + i % 7)
        tmp = os.path.join(a, ".tmp-v")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
        os.write(fd, data)
        os.fsync(fd)
        os.close(fd)
        os.rename(tmp, os.path.join(a, "v"))
        with open(os.path.join(b, "v"), "rb") as f:
            got = f.read()
        if got != data:
            stale.append("round %d: %d bytes, want %d" % (i, len(got), len(data)))
    ok("a file replaced by rename on A reads whole and new on B at once (%d rounds)" % rounds,
       not stale, "; ".join(stale[:3]))
    stale = []
    pa, pb = os.path.join(a, "log"), os.path.join(b, "log")
    for i in range(rounds):
        fd = os.open(pa, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        os.write(fd, b"line %04d\n" % i)
        os.fsync(fd)
        os.close(fd)
        with open(pb, "rb") as f:
            got = f.read()
        if len(got) != 10 * (i + 1):
            stale.append("after %d appends B reads %d bytes" % (i + 1, len(got)))
    ok("an append on A is seen on B at once (%d appends)" % rounds, not stale,
       "; ".join(stale[:3]))
    stale = []
    for i in range(rounds):
        name = "u%d" % i
        with open(os.path.join(a, name), "wb") as f:
            f.write(b"x")
        os.stat(os.path.join(b, name))
        os.unlink(os.path.join(a, name))
        if os.path.exists(os.path.join(b, name)):
            stale.append(name)
        fd = os.open(os.path.join(b, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        os.close(fd)
        if not os.path.exists(os.path.join(a, name)):
            stale.append(name + " (re-created on B, missing on A)")
    ok("an unlink on A is seen on B at once, and a new file on B on A (%d rounds)" % rounds,
       not stale, " ".join(stale[:5]))


def check_fsync(a):
    try:
        fd = os.open(os.path.join(a, "f"), os.O_WRONLY | os.O_CREAT, 0o640)
        os.write(fd, b"data\n")
        os.fsync(fd)
        os.close(fd)
        fd = os.open(a, os.O_RDONLY | os.O_DIRECTORY)
        os.fsync(fd)
        os.close(fd)
        ok("fsync of a file and of a directory succeeds", True)
    except OSError as e:
        ok("fsync of a file and of a directory succeeds", False, str(e))


def main():
    if len(sys.argv) != 3:
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        return 2
    sub = "fscheck-%d" % os.getpid()
    a, b = os.path.join(sys.argv[1], sub), os.path.join(sys.argv[2], sub)
    os.mkdir(a)
    try:
        ok("a directory made on A is seen on B", os.path.isdir(b))
        check_locks(a, b)
        check_race(a, b, "excl")
        check_race(a, b, "link")
        check_visibility(a, b)
        check_fsync(a)
    finally:
        shutil.rmtree(a, ignore_errors=True)
    print("fscheck: %d passed, %d failed" % (NPASS, NFAIL))
    return 1 if NFAIL else 0


if __name__ == "__main__":
    mp.set_start_method("fork")
    sys.exit(main())
