#!/usr/bin/python3
"""oldlayout.py REPO: turn a repository of the one-file layout into the older layout, as a
version before it left its repositories (a record a directory: meta, csr.der, signer.der,
request.der, cert.der; certs/<SERIAL>.pem plain PEM beside certs/<SERIAL>.id; the DN index
bydn/<dnkey>/<SERIAL> of empty files; a serial counter), for the tests of scep-admin migrate."""
import base64
import os
import sys

root = sys.argv[1]
BLOBS = {b"cert": "cert.der", b"csr": "csr.der", b"signer": "signer.der",
         b"request": "request.der"}


def put(path, data):
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, 0o640)


for st in ("pending", "approved", "issued", "rejected"):
    d = os.path.join(root, st)
    for name in os.listdir(d):
        p = os.path.join(d, name)
        if len(name) != 64 or not os.path.isfile(p):
            continue
        meta, blobs = [], {}
        for line in open(p, "rb").read().split(b"\n"):
            k, _, v = line.partition(b"=")
            if k in BLOBS:
                blobs[BLOBS[k]] = base64.b64decode(v)
            elif line:
                meta.append(line + b"\n")
        os.unlink(p)
        os.mkdir(p, 0o750)
        put(os.path.join(p, "meta"), b"".join(meta))
        for f, data in blobs.items():
            put(os.path.join(p, f), data)

keys = {}
bydn = os.path.join(root, "bydn")
for b in os.listdir(bydn):
    bd = os.path.join(bydn, b)
    if len(b) != 3 or not os.path.isdir(bd):
        continue
    for e in os.listdir(bd):
        key, _, sn = e.partition(".")
        os.unlink(os.path.join(bd, e))
        os.makedirs(os.path.join(bydn, key), 0o750, exist_ok=True)
        put(os.path.join(bydn, key, sn), b"")
        keys[sn] = key
    os.rmdir(bd)

certs = os.path.join(root, "certs")
for name in os.listdir(certs):
    if not name.endswith(".pem"):
        continue
    sn = name[:-4]
    text = open(os.path.join(certs, name), "rb").read()
    first, _, rest = text.partition(b"\n")
    if not first.startswith(b"record="):
        continue
    put(os.path.join(certs, name), rest)
    put(os.path.join(certs, sn + ".id"),
        first[len(b"record="):] + b"\n" + keys.get(sn, "").encode() + b"\n")

put(os.path.join(root, "serial"), b"0100\n")
