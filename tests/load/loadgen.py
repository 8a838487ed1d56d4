#!/usr/bin/python3
"""
loadgen.py: the concurrent side of the load, crash, full-disk and bench tests (tests/load/).
Standard library only (Debian's python3). Test code; shares nothing with the server.

  loadgen.py prepare --ca CA.pem --scepreq PROG --out DIR -n N [--pending-every K]
                 [--keys K] [--challenge PW] [--prefix P] [--certpoll]
      Generates a pool of RSA keys and N PKCSReq files (every K-th one without the
      challenge, so it stays pending; the others with it), plus for half of the pending
      ones a CertPoll file; writes DIR/manifest.
  loadgen.py run --url URL [--url URL...] --manifest FILE --out DIR [-c CONC]
                 [--deadline S] [--poll-interval S] [--poll-max S] [--retry-errors]
                 [--failover] [--progress FILE]
      POSTs every request of the manifest (lines "idx kind txid cn key self req poll";
      kind auto|pending; poll is a CertPoll file or "-" to poll by resending req) from CONC
      keep-alive connections. A PENDING reply is polled again after --poll-interval,
      doubling up to --poll-max, until SUCCESS, FAILURE or the deadline. With
      --retry-errors, HTTP errors and broken connections are retried (the crash test);
      without, they end the enrollment. Several URLs are several nodes of one repository:
      connection i talks to URL i mod n; with --failover a connection that gets an HTTP
      error or no answer moves on to the next URL, as a load balancer would. --progress
      FILE holds the number of finished enrollments, rewritten as they finish.
      Writes DIR/results.tsv, DIR/http.tsv (with the node, the URL's index, of each
      request), DIR/replies/<idx>.der; prints a JSON summary.
  loadgen.py get --url URL -n N [-c CONC]
      N GETs (GetCACaps) from CONC connections; prints a JSON summary.
  loadgen.py verify --manifest FILE --results DIR --repo DIR --list JSON --ca CA.pem
                 --scepreq PROG [--expect-all-issued] [--allow-strays]
      The post-run invariants; prints PASS:/FAIL: lines and "figure: name value" lines.
"""
import argparse
import base64
import collections
import hashlib
import heapq
import http.client
import json
import os
import random
import subprocess
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

# pkiStatus attribute (2.16.840.1.113733.1.9.3), DER of the OID.
PKISTATUS_OID = bytes.fromhex("060a6086480186f845010903")
STATUS_NAME = {"0": "SUCCESS", "2": "FAILURE", "3": "PENDING"}


def record_id(txid):
    """repo_id() of an enrollment: SHA-256 over the label with its NUL, then "enroll" and
    the transactionID, each preceded by its length (4 bytes, big-endian)."""
    h = hashlib.sha256(b"scep-record-id-v2\0")
    for field in (b"enroll", txid.encode()):
        h.update(len(field).to_bytes(4, "big") + field)
    return h.hexdigest()


def pki_status(body):
    """The pkiStatus of a CertRep, read from the signed attributes (no decryption).
    None if the body carries none."""
    i = body.find(PKISTATUS_OID)
    if i < 0:
        return None
    j = i + len(PKISTATUS_OID)
    # SET { PrintableString "N" }: 31 len 13 len N (short forms only, the value is 1 byte)
    if body[j:j + 1] != b"\x31" or body[j + 2:j + 3] not in (b"\x13", b"\x0c"):
        return None
    n = body[j + 3]
    return STATUS_NAME.get(body[j + 4:j + 4 + n].decode("ascii", "replace"), "?")


def pct(values, p):
    if not values:
        return 0.0
    v = sorted(values)
    k = min(len(v) - 1, max(0, int(round(p / 100.0 * len(v) + 0.5)) - 1))
    return v[k]


class Conn:
    """One keep-alive HTTP/1.1 connection, reopened after any error. Given several URLs
    (nodes), it talks to one at a time, starting with URLS[START]; failover() moves it on
    to the next one."""

    def __init__(self, url, timeout, start=0):
        self.urls = [url] if isinstance(url, str) else list(url)
        self.node = start % len(self.urls)
        self.timeout = timeout
        self.c = None
        self._target()

    def _target(self):
        u = urllib.parse.urlsplit(self.urls[self.node])
        self.host, self.port = u.hostname, u.port or 80
        self.base = u.path
        self.path = u.path + ("?" + u.query if u.query else "")

    def failover(self):
        if len(self.urls) > 1:
            self.close()
            self.node = (self.node + 1) % len(self.urls)
            self._target()

    def request(self, method, path, body=None, headers=None):
        """(http status or 0, body bytes, error text)."""
        for attempt in (0, 1):
            fresh = self.c is None
            if fresh:
                self.c = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self.c.request(method, path, body=body, headers=headers or {})
                r = self.c.getresponse()
                data = r.read()
                if r.getheader("connection", "").lower() == "close":
                    self.close()
                return r.status, data, ""
            except (http.client.RemoteDisconnected, BrokenPipeError,
                    ConnectionResetError) as e:
                # A kept-alive connection the server closed meanwhile: once more, fresh.
                self.close()
                if fresh or attempt == 1:
                    return 0, b"", type(e).__name__
            except (OSError, http.client.HTTPException) as e:
                self.close()
                return 0, b"", type(e).__name__ + ": " + str(e)
        return 0, b"", "unreachable"

    def close(self):
        if self.c is not None:
            try:
                self.c.close()
            except OSError:
                pass
            self.c = None


# -------------------------------------------------------------------------- prepare

def cmd_prepare(a):
    os.makedirs(os.path.join(a.out, "keys"), exist_ok=True)
    par = max(2, os.cpu_count() or 2)
    keys = [os.path.join(a.out, "keys", "%d.pem" % i) for i in range(min(a.keys, a.n))]

    def genkey(k):
        if not os.path.exists(k):
            subprocess.run(["openssl", "genrsa", "-out", k, "2048"], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    with ThreadPoolExecutor(par) as ex:
        list(ex.map(genkey, keys))
    rows = []
    for i in range(a.n):
        d = os.path.join(a.out, "r", str(i))
        kind = "pending" if a.pending_every and i % a.pending_every == a.pending_every - 1 \
            else "auto"
        name = "%s-%d" % (a.prefix, i)
        poll = os.path.join(d, "poll.der") if kind == "pending" and a.certpoll and \
            (i // a.pending_every) % 2 == 0 else "-"
        rows.append(dict(idx=i, kind=kind, txid=name, cn=name, key=keys[i % len(keys)],
                         self=os.path.join(d, "self.pem"), req=os.path.join(d, "req.der"),
                         poll=poll))

    def build(r):
        os.makedirs(os.path.dirname(r["req"]), exist_ok=True)
        base = [a.scepreq, "build", "-c", a.ca, "-k", r["key"], "-n", r["cn"],
                "-x", r["txid"], "-L", r["self"]]
        chal = ["-p", a.challenge] if r["kind"] == "auto" and a.challenge else []
        p = subprocess.run(base + chal + ["-o", r["req"]], capture_output=True, text=True)
        if p.returncode != 0:
            return "%s: %s" % (r["req"], p.stderr.strip())
        if r["poll"] != "-":
            p = subprocess.run(base + ["-t", "20", "-o", r["poll"]], capture_output=True,
                               text=True)
            if p.returncode != 0:
                return "%s: %s" % (r["poll"], p.stderr.strip())
        return None

    with ThreadPoolExecutor(par) as ex:
        errs = [e for e in ex.map(build, rows) if e]
    if errs:
        print("prepare: %d builds failed, e.g. %s" % (len(errs), errs[0]), file=sys.stderr)
        return 1
    with open(os.path.join(a.out, "manifest"), "w") as f:
        f.write("# idx kind txid cn key self req poll\n")
        for r in rows:
            f.write("%(idx)d %(kind)s %(txid)s %(cn)s %(key)s %(self)s %(req)s %(poll)s\n" % r)
    return 0


# ------------------------------------------------------------------------------ run

class Task:
    __slots__ = ("idx", "kind", "txid", "req", "poll", "t0", "sends", "polls",
                 "errors", "first", "final", "t_done", "last_http", "last_err")

    def __init__(self, idx, kind, txid, req, poll):
        self.idx, self.kind, self.txid, self.req, self.poll = idx, kind, txid, req, poll
        self.t0 = None
        self.sends = self.polls = self.errors = 0
        self.first = self.final = None
        self.t_done = None
        self.last_http = 0
        self.last_err = ""


def load_manifest(path):
    rows = []
    with open(path) as f:
        for line in f:
            p = line.split()
            if len(p) >= 8 and not line.startswith("#"):
                rows.append(dict(idx=int(p[0]), kind=p[1], txid=p[2], cn=p[3], key=p[4],
                                 self=p[5], req=p[6], poll=p[7]))
    return rows


def cmd_run(a):
    rows = load_manifest(a.manifest)
    tasks = []
    for r in rows:
        with open(r["req"], "rb") as f:
            req = f.read()
        poll = None
        if r["poll"] != "-":
            with open(r["poll"], "rb") as f:
                poll = f.read()
        tasks.append(Task(r["idx"], r["kind"], r["txid"], req, poll))
    os.makedirs(os.path.join(a.out, "replies"), exist_ok=True)

    lock = threading.Condition()
    newq = collections.deque(tasks)
    heap = []                      # (ready time, seq, task): polls and retries
    seq = [0]
    left = [len(tasks)]
    httplog = []                   # (idx, what, http, status, seconds, node)
    t_start = time.monotonic()
    deadline = t_start + a.deadline
    hdrs = {"Content-Type": "application/x-pki-message"}

    def later(t, delay):
        with lock:
            seq[0] += 1
            heapq.heappush(heap, (time.monotonic() + delay, seq[0], t))
            lock.notify()

    def finish(t, final, body):
        t.final = final
        t.t_done = time.monotonic()
        if body:
            with open(os.path.join(a.out, "replies", "%d.der" % t.idx), "wb") as f:
                f.write(body)
        with lock:
            left[0] -= 1
            lock.notify_all()
            if a.progress:
                tmp = a.progress + ".tmp"
                with open(tmp, "w") as f:
                    f.write("%d\n" % (len(tasks) - left[0]))
                os.rename(tmp, a.progress)

    nthreads = [0]

    def worker():
        with lock:
            me = nthreads[0]
            nthreads[0] += 1
        conn = Conn(a.url, a.http_timeout, me)
        while True:
            with lock:
                while True:
                    now = time.monotonic()
                    if heap and heap[0][0] <= now:
                        t = heapq.heappop(heap)[2]
                        break
                    if newq:
                        t = newq.popleft()
                        break
                    if left[0] == 0:
                        conn.close()
                        return
                    lock.wait(min(heap[0][0] - now, 0.5) if heap else 0.5)
            if t.t0 is None:
                t.t0 = time.monotonic()
                what, body = "initial", t.req
            elif t.first is None or t.last_http != 200:
                what, body = "retry", t.req
            else:
                what, body = "poll", (t.poll if t.poll is not None else t.req)
            t1 = time.monotonic()
            node = conn.node
            code, data, err = conn.request("POST", conn.base + "?operation=PKIOperation",
                                           body, hdrs)
            dt = time.monotonic() - t1
            st = pki_status(data) if code == 200 else None
            t.sends += 1
            if what == "poll":
                t.polls += 1
            t.last_http, t.last_err = code, err
            with lock:
                httplog.append((t.idx, what, code, st or "-", dt, node))
            if code != 200 or st is None:
                t.errors += 1
                if a.failover and (code == 0 or code >= 500):
                    conn.failover()
                if a.retry_errors and time.monotonic() < deadline:
                    later(t, a.retry_delay)
                else:
                    finish(t, "HTTP-%d" % code if code else "NET-ERROR", data)
                continue
            if t.first is None:
                t.first = st
            if st == "PENDING":
                # Back off like a client would: interval, doubling up to the maximum.
                delay = min(a.poll_max, a.poll_interval * (2 ** min(t.polls, 10)))
                delay *= random.uniform(0.8, 1.2)
                if time.monotonic() + delay < deadline:
                    later(t, delay)
                else:
                    finish(t, "PENDING", data)
            else:
                finish(t, st, data)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(a.concurrency)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.monotonic() - t_start

    with open(os.path.join(a.out, "results.tsv"), "w") as f:
        f.write("idx\tkind\ttxid\tfirst\tfinal\tsends\tpolls\terrors\tlast_http\tseconds\terr\n")
        for t in tasks:
            f.write("%d\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%.4f\t%s\n" % (
                t.idx, t.kind, t.txid, t.first or "-", t.final or "-", t.sends, t.polls,
                t.errors, t.last_http, (t.t_done - t.t0) if t.t_done and t.t0 else -1,
                t.last_err.replace("\t", " ").replace("\n", " ") or "-"))
    with open(os.path.join(a.out, "http.tsv"), "w") as f:
        f.write("idx\twhat\thttp\tstatus\tseconds\tnode\n")
        for h in httplog:
            f.write("%d\t%s\t%d\t%s\t%.4f\t%d\n" % h)

    finals = collections.Counter(t.final for t in tasks)
    lat_all = [h[4] for h in httplog]
    lat_auto = [t.t_done - t.t0 for t in tasks if t.kind == "auto" and t.final == "SUCCESS"]
    lat_pend = [t.t_done - t.t0 for t in tasks if t.kind != "auto" and t.final == "SUCCESS"]
    # Completions per second in the first and the last quarter of the run: a rate that
    # falls as the repository grows shows a per-request cost that grows with it.
    done = sorted(t.t_done - t_start for t in tasks if t.final == "SUCCESS")
    q = len(done) // 4

    def rate(a_, b_):
        return round((b_ - a_ + 1) / (done[b_] - done[a_]), 2) if b_ > a_ and \
            done[b_] > done[a_] else 0

    summary = {
        "enrollments": len(tasks),
        "http_requests": len(httplog),
        "http_errors": sum(1 for h in httplog if h[2] != 200 or h[3] == "-"),
        "success": finals.get("SUCCESS", 0),
        "pending": finals.get("PENDING", 0),
        "failure": finals.get("FAILURE", 0),
        "failed": sum(n for k, n in finals.items() if k not in ("SUCCESS", "PENDING")),
        "errors": sum(n for k, n in finals.items() if k not in ("SUCCESS", "PENDING",
                                                                 "FAILURE")),
        "auto_not_success_first": sum(1 for t in tasks if t.kind == "auto" and
                                      t.first not in (None, "SUCCESS")),
        "pending_first_not_pending": sum(1 for t in tasks if t.kind != "auto" and
                                         t.first not in (None, "PENDING")),
        "polls": sum(t.polls for t in tasks),
        "http_by_node": [sum(1 for h in httplog if h[5] == n) for n in range(len(a.url))],
        "success_by_node": [sum(1 for h in httplog if h[5] == n and h[3] == "SUCCESS")
                            for n in range(len(a.url))],
        "wall_s": round(wall, 3),
        "enroll_per_s": round(finals.get("SUCCESS", 0) / wall, 2) if wall else 0,
        "http_per_s": round(len(httplog) / wall, 2) if wall else 0,
        "http_p50_ms": round(pct(lat_all, 50) * 1000, 1),
        "http_p95_ms": round(pct(lat_all, 95) * 1000, 1),
        "http_p99_ms": round(pct(lat_all, 99) * 1000, 1),
        "auto_p50_ms": round(pct(lat_auto, 50) * 1000, 1),
        "auto_p95_ms": round(pct(lat_auto, 95) * 1000, 1),
        "auto_p99_ms": round(pct(lat_auto, 99) * 1000, 1),
        "pending_p50_s": round(pct(lat_pend, 50), 2),
        "pending_p95_s": round(pct(lat_pend, 95), 2),
        "rate_first_quarter": rate(0, q - 1) if q > 1 else 0,
        "rate_last_quarter": rate(len(done) - q, len(done) - 1) if q > 1 else 0,
    }
    print(json.dumps(summary))
    return 0


# ------------------------------------------------------------------------------ get

def cmd_get(a):
    u = urllib.parse.urlsplit(a.url)
    path = u.path + ("?" + u.query if u.query else "")
    left = [a.n]
    lock = threading.Lock()
    lat, bad = [], [0]

    def worker():
        conn = Conn(a.url, a.http_timeout)
        while True:
            with lock:
                if left[0] == 0:
                    break
                left[0] -= 1
            t1 = time.monotonic()
            code, data, _ = conn.request("GET", path)
            dt = time.monotonic() - t1
            with lock:
                lat.append(dt)
                if code != 200 or not data:
                    bad[0] += 1
        conn.close()

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(a.concurrency)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.monotonic() - t0
    print(json.dumps({"requests": a.n, "bad": bad[0], "wall_s": round(wall, 3),
                      "per_s": round(a.n / wall, 1) if wall else 0,
                      "p50_ms": round(pct(lat, 50) * 1000, 2),
                      "p95_ms": round(pct(lat, 95) * 1000, 2),
                      "p99_ms": round(pct(lat, 99) * 1000, 2)}))
    return 0


# --------------------------------------------------------------------------- verify

def pem_to_der(text):
    """DER of the first certificate in PEM TEXT (bytes or str), or None."""
    if isinstance(text, bytes):
        text = text.decode("ascii", "replace")
    b = text.find("-----BEGIN CERTIFICATE-----")
    e = text.find("-----END CERTIFICATE-----")
    if b < 0 or e < 0:
        return None
    body = text[b + len("-----BEGIN CERTIFICATE-----"):e]
    try:
        return base64.b64decode("".join(body.split()))
    except ValueError:
        return None


def read_meta(path):
    m = {}
    try:
        with open(path, "rb") as f:
            for line in f.read().decode("latin-1").splitlines():
                if "=" in line and not line.startswith("#"):
                    k, v = line.split("=", 1)
                    m[k] = v
    except OSError:
        return None
    return m


def cmd_verify(a):
    npass = nfail = 0

    def ok(name, cond, why=""):
        nonlocal npass, nfail
        if cond:
            npass += 1
            print("PASS: %s" % name)
        else:
            nfail += 1
            print("FAIL: %s%s" % (name, " (%s)" % why if why else ""))
        sys.stdout.flush()

    def fig(name, val):
        print("figure: %s %s" % (name, val))

    rows = load_manifest(a.manifest)
    results = {}
    with open(os.path.join(a.results, "results.tsv")) as f:
        next(f)
        for line in f:
            p = line.rstrip("\n").split("\t")
            results[int(p[0])] = dict(first=p[3], final=p[4])
    repo = a.repo
    states = ("pending", "approved", "issued", "rejected")

    # -- records on disk: one file per request, in exactly one state
    where = collections.defaultdict(list)
    for st in states:
        for name in os.listdir(os.path.join(repo, st)):
            if len(name) == 64 and all(c in "0123456789abcdef" for c in name):
                where[name].append(st)
    expect = {record_id(r["txid"]): r for r in rows}
    dup_state = [i for i, s in where.items() if len(s) > 1]
    ok("every record is in exactly one state", not dup_state,
       "%d in several: %s" % (len(dup_state), " ".join(dup_state[:3])))
    answered = [r for r in rows if results.get(r["idx"], {}).get("first") not in
                (None, "-")]
    lost = [r for r in answered if record_id(r["txid"])
            not in where]
    fig("records_lost", len(lost))
    ok("every request the server answered has a record (%d answered)" % len(answered),
       not lost, "%d lost, e.g. idx %s" % (len(lost), " ".join(str(r["idx"])
                                                            for r in lost[:5])))
    stray = [i for i in where if i not in expect]
    ok("no record that no request made", not stray, "%d unexpected" % len(stray))

    # -- scep-admin list --json agrees
    with open(a.list) as f:
        listing = json.load(f)
    per_tx = collections.Counter(rec.get("transaction_id") for rec in listing)
    multi = [t for t, n in per_tx.items() if n > 1]
    ok("scep-admin list --json: no transactionID listed twice", not multi,
       "%d: %s" % (len(multi), " ".join(str(t) for t in multi[:3])))
    missing = [r for r in answered if per_tx.get(r["txid"], 0) != 1]
    ok("scep-admin list --json: every answered request listed exactly once",
       not missing, "%d not, e.g. %s" % (len(missing), " ".join(r["txid"] for r in
                                                               missing[:3])))
    bystate = collections.Counter(rec.get("state") for rec in listing
                                  if rec.get("transaction_id") in
                                  {r["txid"] for r in rows})
    for st in states:
        fig("records_" + st, bystate.get(st, 0))
    lstate = {rec["id"]: rec.get("state") for rec in listing}
    mismatch = [i for i, s in where.items() if len(s) == 1 and lstate.get(i) != s[0]]
    ok("scep-admin list --json states match the directories", not mismatch,
       "%d differ" % len(mismatch))

    # -- issued certificates: serials, certs/, index.txt
    serial_of = {}                 # record id -> serial
    serial_ids = collections.defaultdict(list)
    no_serial, no_der, der_mismatch, no_pem = [], [], [], []
    for rid, sts in where.items():
        if sts != ["issued"]:
            continue
        m = read_meta(os.path.join(repo, "issued", rid)) or {}
        sn = m.get("serial")
        if not sn:
            no_serial.append(rid)
            continue
        sn = sn.upper()
        serial_of[rid] = sn
        serial_ids[sn].append(rid)
        try:
            der = base64.b64decode(m["cert"], validate=True)
        except (KeyError, ValueError):
            no_der.append(rid)
            continue
        try:
            with open(os.path.join(repo, "certs", sn + ".pem"), "rb") as f:
                pem = pem_to_der(f.read())
        except OSError:
            no_pem.append(rid)
            continue
        if pem != der:
            der_mismatch.append(rid)
    ok("every issued record has a serial", not no_serial, "%d without" % len(no_serial))
    ok("every issued record holds its certificate", not no_der, "%d without" % len(no_der))
    ok("every issued serial has certs/<SERIAL>.pem", not no_pem, "%d without" % len(no_pem))
    ok("certs/<SERIAL>.pem is the record's certificate", not der_mismatch,
       "%d differ" % len(der_mismatch))
    dups = [s for s, ids in serial_ids.items() if len(ids) > 1]

    index = collections.Counter()
    with open(os.path.join(repo, "index.txt")) as f:
        for line in f:
            p = line.rstrip("\n").split("\t")
            if len(p) >= 4:
                index[p[3].upper()] += 1
    idx_dups = [s for s, n in index.items() if n > 1]
    certfiles = {n[:-4].upper() for n in os.listdir(os.path.join(repo, "certs"))
                 if n.endswith(".pem")}
    fig("serial_duplicates", len(dups) + len(idx_dups))
    ok("no serial in two records", not dups, " ".join(dups[:5]))
    ok("no serial twice in index.txt", not idx_dups, " ".join(idx_dups[:5]))
    no_line = [s for s in serial_of.values() if index.get(s, 0) != 1]
    ok("every issued serial has exactly one index.txt line", not no_line,
       "%d without, e.g. %s" % (len(no_line), " ".join(no_line[:5])))
    orphan_idx = [s for s in index if s not in set(serial_of.values())]
    orphan_pem = [s for s in certfiles if s not in set(serial_of.values())]
    ok("index.txt has no line without an issued record", not orphan_idx,
       "%d: %s" % (len(orphan_idx), " ".join(sorted(orphan_idx)[:5])))
    ok("certs/ has no certificate without an issued record", not orphan_pem,
       "%d: %s" % (len(orphan_pem), " ".join(sorted(orphan_pem)[:5])))
    fig("certs_files", len(certfiles))
    fig("index_lines", sum(index.values()))

    # -- what the clients saw
    outdir = os.path.join(a.results, "client-certs")
    os.makedirs(outdir, exist_ok=True)
    succ = [r for r in rows if results.get(r["idx"], {}).get("final") == "SUCCESS"]

    def readone(r):
        reply = os.path.join(a.results, "replies", "%d.der" % r["idx"])
        out = os.path.join(outdir, "%d.pem" % r["idx"])
        p = subprocess.run([a.scepreq, "read", "-c", a.ca, "-k", r["key"], "-S", r["self"],
                            "-w", out, reply], capture_output=True, text=True)
        good = p.returncode == 0 and p.stdout.startswith("status=0 ")
        return r, good, out, (p.stdout + p.stderr).strip()

    with ThreadPoolExecutor(max(2, os.cpu_count() or 2)) as ex:
        reads = list(ex.map(readone, succ))
    unreadable = [x for x in reads if not x[1]]
    ok("every SUCCESS reply verifies and decrypts (%d)" % len(succ), not unreadable,
       "%d bad, e.g. idx %d: %s" % (len(unreadable), unreadable[0][0]["idx"],
                                    unreadable[0][3]) if unreadable else "")
    not_on_disk, seen = [], {}
    same_cert = []
    for r, good, out, _ in reads:
        if not good:
            continue
        try:
            with open(out, "rb") as f:
                der = pem_to_der(f.read())
        except OSError:
            der = None
        rid = record_id(r["txid"])
        sn = serial_of.get(rid)
        disk = None
        if sn:
            try:
                with open(os.path.join(repo, "certs", sn + ".pem"), "rb") as f:
                    disk = pem_to_der(f.read())
            except OSError:
                pass
        if der is None or der != disk:
            not_on_disk.append(r["idx"])
        if der is not None:
            h = hashlib.sha256(der).hexdigest()
            if h in seen:
                same_cert.append((seen[h], r["idx"]))
            seen[h] = r["idx"]
    ok("every certificate a client received is byte-identical to certs/<SERIAL>.pem of "
       "its record", not not_on_disk, "%d not, e.g. idx %s" % (
           len(not_on_disk), " ".join(str(i) for i in not_on_disk[:5])))
    ok("no two clients received the same certificate", not same_cert, str(same_cert[:3]))
    files = [x[2] for x in reads if x[1]]
    bad_verify = []
    for i in range(0, len(files), 400):
        chunk = files[i:i + 400]
        p = subprocess.run(["openssl", "verify", "-CAfile", a.ca] + chunk,
                           capture_output=True, text=True)
        good = {line.rsplit(":", 1)[0] for line in p.stdout.splitlines()
                if line.endswith(": OK")}
        bad_verify += [c for c in chunk if c not in good]
    ok("every certificate a client received verifies with openssl verify -CAfile",
       not bad_verify, "%d fail, e.g. %s" % (len(bad_verify), " ".join(bad_verify[:3])))

    # -- leftovers (what `scep-admin check` also looks at)
    strays = []
    for dp, dns, fns in os.walk(repo):
        rel = os.path.relpath(dp, repo)
        if rel == "tmp":
            strays += [os.path.join(rel, n) for n in dns + fns]
        elif not rel.startswith("tmp" + os.sep):
            strays += [os.path.join(rel, n) for n in dns + fns if n.startswith(".tmp-")]
    fig("stray_temp_files", len(strays))
    if not a.allow_strays:
        ok("no stray temp files (tmp/, .tmp-*)", not strays, " ".join(strays[:5]))
    # Serials are random, 16 octets (repo-layout/README.md, "Serials"): no counter.
    short = sorted({s for s in list(serial_of.values()) + list(index) if len(s) < 16})
    ok("every serial in use has at least 64 bits", not short, " ".join(short[:5]))

    if a.expect_all_issued:
        notdone = [r["idx"] for r in rows if results.get(r["idx"], {}).get("final")
                   != "SUCCESS"]
        ok("every enrollment ended in SUCCESS (%d)" % len(rows), not notdone,
           "%d did not, e.g. idx %s" % (len(notdone), " ".join(str(i) for i in
                                                              notdone[:5])))
    print("verify: %d passed, %d failed" % (npass, nfail))
    return 1 if nfail else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--ca", required=True)
    p.add_argument("--scepreq", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("-n", type=int, required=True)
    p.add_argument("--pending-every", type=int, default=0)
    p.add_argument("--keys", type=int, default=32)
    p.add_argument("--challenge")
    p.add_argument("--prefix", default="load")
    p.add_argument("--certpoll", action="store_true")
    p = sub.add_parser("run")
    p.add_argument("--url", required=True, action="append")
    p.add_argument("--manifest", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("-c", "--concurrency", type=int, default=64)
    p.add_argument("--deadline", type=float, default=300)
    p.add_argument("--poll-interval", type=float, default=1.0)
    p.add_argument("--poll-max", type=float, default=8.0)
    p.add_argument("--retry-errors", action="store_true")
    p.add_argument("--retry-delay", type=float, default=0.1)
    p.add_argument("--failover", action="store_true")
    p.add_argument("--progress")
    p.add_argument("--http-timeout", type=float, default=120)
    p = sub.add_parser("get")
    p.add_argument("--url", required=True)
    p.add_argument("-n", type=int, default=1000)
    p.add_argument("-c", "--concurrency", type=int, default=8)
    p.add_argument("--http-timeout", type=float, default=30)
    p = sub.add_parser("verify")
    p.add_argument("--manifest", required=True)
    p.add_argument("--results", required=True)
    p.add_argument("--repo", required=True)
    p.add_argument("--list", required=True)
    p.add_argument("--ca", required=True)
    p.add_argument("--scepreq", required=True)
    p.add_argument("--expect-all-issued", action="store_true")
    p.add_argument("--allow-strays", action="store_true")
    a = ap.parse_args()
    return {"prepare": cmd_prepare, "run": cmd_run, "get": cmd_get, "verify": cmd_verify}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
