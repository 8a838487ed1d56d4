#!/usr/bin/python3
"""
recorder.py: a tiny HTTP front end that runs the SCEP server as a plain CGI and keeps a
copy of every request and response, to capture what real clients send (tests/corpus/).

    recorder.py --port PORT --conf SCEP_CONF --scep PROGRAM --out DIR [--caps-drop W,W]

Listens on 127.0.0.1:PORT; any path (clients append /pkiclient.exe). For each request:
    DIR/<label>/NNNN.req.json   method, path, raw query, headers
    DIR/<label>/NNNN.body       request body as received (POST)
    DIR/<label>/NNNN.resp       the CGI response as the server wrote it
    DIR/<label>/NNNN.pkimsg     for PKIOperation: the pkiMessage bytes (POST body, or the GET
                                message decoded the lenient way of scep-notes 2.4)
<label> is the content of DIR/label when the request arrives (the capture script writes
the scenario name there), "unlabelled" otherwise. --caps-drop removes capability lines
from GetCACaps answers (e.g. POSTPKIOperation,SCEPStandard to make clients use GET); so
does the content of DIR/caps-drop, read at each request.
Test tool only: loopback, no TLS, one CGI process per request.
"""
import argparse
import base64
import http.server
import json
import os
import re
import subprocess
import sys
import threading
import urllib.parse

lock = threading.Lock()
counter = [0]


def lenient_b64(value: bytes) -> bytes:
    s = re.sub(rb"[\r\n\t]", b"", value).replace(b" ", b"+").replace(b"-", b"+").replace(b"_", b"/")
    s = s.rstrip(b"=")
    s += b"=" * (-len(s) % 4)
    return base64.b64decode(s)


def query_value(query: str, key: str):
    for part in query.split("&"):
        k, sep, v = part.partition("=")
        if k.lower() == key.lower():
            return urllib.parse.unquote_to_bytes(v) if sep else b""
    return None


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "scep-recorder"

    def log_message(self, fmt, *args):
        sys.stderr.write("recorder: " + (fmt % args) + "\n")

    def handle_any(self):
        opts = self.server.opts
        path, _, query = self.path.partition("?")
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n > 0 else b""
        env = {
            "PATH": "/usr/bin:/bin",
            "GATEWAY_INTERFACE": "CGI/1.1",
            "REQUEST_METHOD": self.command,
            "QUERY_STRING": query,
            "SCRIPT_NAME": path,
            "REMOTE_ADDR": self.client_address[0],
            "SCEP_CONF": opts.conf,
            "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "detect_leaks=1"),
            "UBSAN_OPTIONS": os.environ.get("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1"),
        }
        if self.command == "POST" or body:
            env["CONTENT_LENGTH"] = str(len(body))
        if self.headers.get("Content-Type"):
            env["CONTENT_TYPE"] = self.headers["Content-Type"]
        p = subprocess.run([opts.scep], input=body, env=env, capture_output=True, timeout=120)
        if p.stderr:
            with open(os.path.join(opts.out, "server.log"), "ab") as f:
                f.write(p.stderr)
        head, _, rbody = p.stdout.partition(b"\r\n\r\n")
        status, headers = 200, []
        for line in head.split(b"\r\n"):
            name, _, value = line.decode("latin-1").partition(":")
            value = value.strip()
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name.lower() != "content-length" and name:
                headers.append((name, value))
        op = (query_value(query, "operation") or b"").decode("latin-1")
        caps_drop = opts.caps_drop
        try:
            with open(os.path.join(opts.out, "caps-drop")) as f:
                caps_drop = f.read().strip() or caps_drop
        except OSError:
            pass
        if op.lower() == "getcacaps" and caps_drop and status == 200:
            drop = {w.strip() for w in caps_drop.split(",")}
            rbody = b"".join(l for l in rbody.splitlines(keepends=True)
                             if l.strip().decode() not in drop)

        with lock:
            counter[0] += 1
            seq = counter[0]
        try:
            with open(os.path.join(opts.out, "label")) as f:
                label = f.read().strip() or "unlabelled"
        except OSError:
            label = "unlabelled"
        d = os.path.join(opts.out, label)
        os.makedirs(d, exist_ok=True)
        base = os.path.join(d, "%04d" % seq)
        with open(base + ".req.json", "w") as f:
            json.dump({"method": self.command, "path": path, "query": query,
                       "headers": dict(self.headers.items()), "status": status,
                       "operation": op}, f, indent=1)
        with open(base + ".body", "wb") as f:
            f.write(body)
        with open(base + ".resp", "wb") as f:
            f.write(p.stdout)
        if op.lower() == "pkioperation" or (self.command == "POST" and body and not op):
            msg = body
            if self.command != "POST":
                v = query_value(query, "message")
                try:
                    msg = lenient_b64(v or b"")
                except ValueError:
                    msg = b""
            with open(base + ".pkimsg", "wb") as f:
                f.write(msg)

        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(rbody)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(rbody)
        self.close_connection = True

    do_GET = do_POST = do_HEAD = do_PUT = handle_any


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--conf", required=True)
    ap.add_argument("--scep", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--caps-drop", default="")
    opts = ap.parse_args()
    os.makedirs(opts.out, exist_ok=True)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", opts.port), Handler)
    srv.opts = opts
    with open(os.path.join(opts.out, "recorder.pid"), "w") as f:
        f.write(str(os.getpid()))
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
