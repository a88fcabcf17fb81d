#!/usr/bin/python3
"""One request to varvaultd on one connection, as a client directory's
certificate (CLIENTDIR/client.conf), with a request id the test chooses, so
that the test can find the audit record it left.  Prints the answer's JSON
on one line (and for submit, uploads FILE first; for result and
audit.export, reads the binary frames and prints their byte count).

usage: audit_rq.py CLIENTDIR VERB RID [JSON-PARAMS] [FILE]
       audit_rq.py --records DB [SINCE_SEQ]   (records as JSON lines)"""
import json
import os
import socket
import sqlite3
import ssl
import struct
import sys


def connect(path, ca, cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(ca)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(cert, key)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(60)
    s.connect(path)
    return ctx.wrap_socket(s, server_hostname="varvaultd")


def frame(b):
    return struct.pack(">I", len(b)) + b


def read_frame(s):
    def exact(n):
        out = b""
        while len(out) < n:
            c = s.recv(n - len(out))
            if not c:
                raise EOFError("closed")
            out += c
        return out
    (n,) = struct.unpack(">I", exact(4))
    return exact(n)


def request(verb, rid, **kw):
    d = {"v": 1, "verb": verb, "id": rid}
    d.update(kw)
    return json.dumps(d).encode()


def conf(d):
    out = {}
    for line in open(os.path.join(d, "client.conf")):
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            k, v = line.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def records(db, since=-1):
    c = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    for seq, leaf in c.execute("SELECT seq, CAST(leaf AS TEXT) FROM audit_records WHERE seq > ? ORDER BY seq",
                               (since,)):
        print(leaf)


def main():
    a = sys.argv[1:]
    if a[0] == "--records":
        records(a[1], int(a[2]) if len(a) > 2 else -1)
        return
    d, verb, rid = a[0], a[1], a[2]
    params = json.loads(a[3]) if len(a) > 3 and a[3] else {}
    c = conf(d)
    s = connect(c["socket"], c["ca"], c["cert"], c["key"])
    s.sendall(frame(request(verb, rid=rid, **params)))
    r = json.loads(read_frame(s))
    if verb == "submit" and r.get("ok") and len(a) > 4:
        data = open(a[4], "rb").read()
        for i in range(0, len(data), 1 << 20):
            s.sendall(frame(data[i:i + (1 << 20)]))
        s.sendall(frame(b""))
        r = json.loads(read_frame(s))
    elif verb in ("result", "audit.export") and r.get("ok"):
        n = 0
        while True:
            f = read_frame(s)
            if not f:
                break
            n += len(f)
        r["_bytes"] = n
    print(json.dumps(r))


main()
