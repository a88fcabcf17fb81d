#!/usr/bin/python3
"""Speaks varvaultd's wire protocol by hand (Python's ssl over AF_UNIX), to
send what the real client never sends: no certificate, TLS 1.2, plain
bytes, oversized or malformed frames, unknown verbs, a trickle, an upload
that stops midway.  Prints one line saying what the server answered.

usage: vvproto.py SOCK ACTION [--ca F] [--cert F --key F] [args]
actions: plain | tls12 | hello | oversize | malformed | unknown-verb |
         slow SECONDS | stall-upload SAMPLE"""
import json
import socket
import ssl
import struct
import sys
import time


def connect(path, ca, cert, key, tls12=False):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(ca)
    ctx.check_hostname = True
    if tls12:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    else:
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    if cert:
        ctx.load_cert_chain(cert, key)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(path)
    return ctx.wrap_socket(s, server_hostname="varvaultd")


def frame(b):
    return struct.pack(">I", len(b)) + b


def read_exact(s, n):
    out = b""
    while len(out) < n:
        c = s.recv(n - len(out))
        if not c:
            raise EOFError("closed")
        out += c
    return out


def read_frame(s):
    (n,) = struct.unpack(">I", read_exact(s, 4))
    return read_exact(s, n)


def request(verb, rid="1", **kw):
    d = {"v": 1, "verb": verb, "id": rid}
    d.update(kw)
    return json.dumps(d).encode()


def answer(s):
    try:
        r = json.loads(read_frame(s))
    except (EOFError, OSError, ssl.SSLError) as e:
        return "closed: %s" % e
    if r.get("ok"):
        return "ok"
    return "error %s: %s" % (r["error"]["code"], r["error"].get("message", ""))


def main():
    a = sys.argv[1:]
    path, action = a[0], a[1]
    opts = {}
    rest = []
    i = 2
    while i < len(a):
        if a[i] in ("--ca", "--cert", "--key"):
            opts[a[i][2:]] = a[i + 1]
            i += 2
        else:
            rest.append(a[i])
            i += 1
    ca, cert, key = opts.get("ca"), opts.get("cert"), opts.get("key")
    if action == "plain":
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(30)
        s.connect(path)
        s.sendall(b"GET / HTTP/1.0\r\n\r\n" + b"\0" * 64)
        try:
            data = s.recv(4096)
            print("closed" if not data or not data.startswith(b"{") else "answered")
        except OSError as e:
            print("closed: %s" % e)
        return
    try:
        s = connect(path, ca, cert, key, tls12=(action == "tls12"))
    except (ssl.SSLError, OSError) as e:
        print("handshake failed: %s" % e)
        return
    if action == "tls12":
        print("handshake succeeded with TLS 1.2")
        return
    if action == "hello":
        try:
            s.sendall(frame(request("hello")))
        except (OSError, ssl.SSLError) as e:
            print("closed: %s" % e)
            return
        print(answer(s))
    elif action == "oversize":
        s.sendall(struct.pack(">I", 0x7FFFFFFF) + b"x" * 16)
        print(answer(s))
    elif action == "malformed":
        s.sendall(frame(b"{not json"))
        print(answer(s))
        s.sendall(frame(request("hello", rid="2")))
        print("then hello: " + answer(s))
    elif action == "unknown-verb":
        s.sendall(frame(request("frobnicate")))
        print(answer(s))
    elif action == "slow":
        # One byte a second of a hello frame, for SECONDS seconds at most.
        data = frame(request("hello"))
        print("trickling", flush=True)  # the handshake is done: a slot is held
        for b in data[: int(rest[0])]:
            try:
                s.sendall(bytes([b]))
            except (OSError, ssl.SSLError):
                print("closed by the server while trickling")
                return
            time.sleep(1)
        print("trickled")
    elif action == "stall-upload":
        s.sendall(frame(request("submit", sample=rest[0])))
        print(answer(s), flush=True)
        s.sendall(frame(b"crypt4gh" + b"\1\0\0\0" + b"\0" * 4096))
        print("stalled", flush=True)
        time.sleep(3600)


main()
