#!/usr/bin/python3
"""A minimal FastCGI client for the service tests: one request to a unix socket, the raw
CGI response (head and body) on stdout.

  fcgi.py SOCKET [-p NAME=VALUE]... [-b BODYFILE] [--hold FILE]

-p sets a FastCGI parameter (REQUEST_METHOD, QUERY_STRING, CONTENT_LENGTH, ...).
--hold FILE: after the parameters, write FILE.sent and send the body only once FILE
exists, so that a test can act (stop the server) while the request is in flight.
Exits 0 when a complete response (FCGI_END_REQUEST) arrived, 1 otherwise.
"""
import argparse
import os
import socket
import struct
import sys
import time

BEGIN, END, PARAMS, STDIN, STDOUT = 1, 3, 4, 5, 6


def record(rtype, content, rid=1):
    return struct.pack(">BBHHBx", 1, rtype, rid, len(content), 0) + content


def length(n):
    return bytes([n]) if n < 128 else struct.pack(">I", n | 0x80000000)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("socket")
    ap.add_argument("-p", action="append", default=[])
    ap.add_argument("-b")
    ap.add_argument("--hold")
    a = ap.parse_args()
    params = b""
    for kv in a.p:
        k, v = kv.split("=", 1)
        k, v = k.encode(), v.encode()
        params += length(len(k)) + length(len(v)) + k + v
    body = open(a.b, "rb").read() if a.b else b""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(a.socket)
    s.sendall(record(BEGIN, struct.pack(">HB5x", 1, 0)))
    for i in range(0, len(params), 65535):
        s.sendall(record(PARAMS, params[i:i + 65535]))
    s.sendall(record(PARAMS, b""))
    if a.hold:
        open(a.hold + ".sent", "w").close()
        while not os.path.exists(a.hold):
            time.sleep(0.05)
    for i in range(0, len(body), 65535):
        s.sendall(record(STDIN, body[i:i + 65535]))
    s.sendall(record(STDIN, b""))
    data, out, ended = b"", b"", False
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
        while len(data) >= 8:
            _, rtype, _, clen, plen = struct.unpack(">BBHHB", data[:7])
            if len(data) < 8 + clen + plen:
                break
            content, data = data[8:8 + clen], data[8 + clen + plen:]
            if rtype == STDOUT:
                out += content
            elif rtype == END:
                ended = True
    sys.stdout.buffer.write(out)
    return 0 if ended else 1


if __name__ == "__main__":
    sys.exit(main())
