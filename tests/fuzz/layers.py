#!/usr/bin/python3
# tests/fuzz/layers.py MSG OUTDIR NAME: split one pkiMessage (DER or BER) into the seeds
# of the per-layer fuzz targets: OUTDIR/fuzz_attrs/NAME (signedAttrs as a SET),
# OUTDIR/fuzz_envelope/NAME (the eContent: pkcsPKIEnvelope) and OUTDIR/msgtype/NAME
# (the messageType, for mkcorpus.sh to prefix the decrypted content). Quietly writes
# nothing for what it cannot find (a hostile message may have no such part).
import os, sys

def tlv(b, i):
    """(tag, content start, content end, next) of the TLV at i; BER indefinite allowed."""
    tag = b[i]; i += 1
    if tag & 0x1f == 0x1f:
        while b[i] & 0x80: i += 1
        i += 1
    n = b[i]; i += 1
    if n == 0x80:
        j = i
        while b[j:j + 2] != b"\0\0":
            j = tlv(b, j)[3]
        return tag, i, j, j + 2
    if n & 0x80:
        k = n & 0x7f; n = int.from_bytes(b[i:i + k], "big"); i += k
    return tag, i, i + n, i + n

def kids(b, s, e):
    out = []
    while s < e:
        t = tlv(b, s); out.append(t); s = t[3]
    return out

def octets(b, t):
    """content of an OCTET STRING, constructed (BER chunks) or not"""
    if t[0] == 0x04: return b[t[1]:t[2]]
    return b"".join(octets(b, k) for k in kids(b, t[1], t[2]))

def main():
    msg, out, name = sys.argv[1:4]
    b = open(msg, "rb").read()
    try:
        ci = tlv(b, 0)
        sd = tlv(b, kids(b, ci[1], ci[2])[1][1])          # [0] EXPLICIT SignedData
        parts = kids(b, sd[1], sd[2])
        eci = kids(b, parts[2][1], parts[2][2])
        si_set = [p for p in parts if p[0] == 0x31][-1]
        si = kids(b, si_set[1], si_set[2])[0]
        sattrs = [k for k in kids(b, si[1], si[2]) if k[0] == 0xa0][0]
    except (IndexError, ValueError):
        return
    def put(d, data):
        os.makedirs(os.path.join(out, d), exist_ok=True)
        open(os.path.join(out, d, name), "wb").write(data)
    body = b[sattrs[1]:sattrs[2]]
    if sattrs[2] - sattrs[1] < 128: hdr = bytes([0x31, len(body)])
    else:
        n = len(body).to_bytes((len(body).bit_length() + 7) // 8, "big")
        hdr = bytes([0x31, 0x80 | len(n)]) + n
    put("fuzz_attrs", hdr + body)
    for a in kids(b, sattrs[1], sattrs[2]):
        oid, vals = kids(b, a[1], a[2])[:2]
        if b[oid[1]:oid[2]] == bytes.fromhex("6086480186f845010902"):
            v = kids(b, vals[1], vals[2])[0]
            put("msgtype", b[v[1]:v[2]])
    if len(eci) > 1:
        put("fuzz_envelope", octets(b, kids(b, eci[1][1], eci[1][2])[0]))

main()
