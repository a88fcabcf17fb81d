#!/usr/bin/python3
"""An independent Crypt4GH v1 reader and writer for interop tests.

Written from the GA4GH specification (and ../shared/reference/crypt4gh.md),
not from varvault's C code, with Debian's python3-cryptography for X25519
and ChaCha20-Poly1305 and hashlib for BLAKE2b, scrypt and PBKDF2.  It also
writes the unusual files the specification allows (padded packets, empty
edit lists, empty final segments, several data keys) so that varvault's
policies for them can be tested.

Commands (passphrases from $C4GH_PASSPHRASE):
  keygen  --sk F --pk F [--kdf none|scrypt|pbkdf2_hmac_sha256]
  encrypt --recipient-pk PK ... [--sk F] [--edit-list N,N,...] [--pad N]
          [--empty-edit-list] [--empty-final-segment] [--two-data-keys] -i IN -o OUT
  decrypt --sk F [--sender-pk PK] -i IN -o OUT
decrypt writes OUT only when the whole file authenticated; exit 1 otherwise.
"""
import argparse
import base64
import hashlib
import os
import struct
import sys

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

SEGMENT = 65536
RAW = serialization.Encoding.Raw


class C4GHError(Exception):
    pass


# ---- keys (big-endian, uint16 length-prefixed strings) -----------------------

def _armor(label, blob):
    return "-----BEGIN %s-----\n%s\n-----END %s-----\n" % (
        label, base64.b64encode(blob).decode(), label)


def _unarmor(text):
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) < 3 or not lines[0].startswith("-----BEGIN ") or not lines[-1].startswith("-----END "):
        raise C4GHError("not an armored key")
    return lines[0], base64.b64decode("".join(lines[1:-1]), validate=True)


def public_of(sk):
    return X25519PrivateKey.from_private_bytes(sk).public_key().public_bytes(RAW, serialization.PublicFormat.Raw)


def load_public(path):
    label, blob = _unarmor(open(path).read())
    if "CRYPT4GH" not in label or len(blob) != 32:
        raise C4GHError("%s: not a Crypt4GH public key" % path)
    return blob


def _kdf(name, opts, passphrase):
    rounds, salt = struct.unpack(">I", opts[:4])[0], opts[4:]
    pw = passphrase.encode()
    if name == b"scrypt":
        return hashlib.scrypt(pw, salt=salt, n=1 << 14, r=8, p=1, dklen=32)
    if name == b"pbkdf2_hmac_sha256":
        return hashlib.pbkdf2_hmac("sha256", pw, salt, rounds, 32)
    raise C4GHError("unsupported kdf %r" % name)


def load_secret(path, passphrase):
    _, blob = _unarmor(open(path).read())
    if blob[:7] != b"c4gh-v1":
        raise C4GHError("%s: not c4gh-v1" % path)
    pos = 7

    def string():
        nonlocal pos
        (n,) = struct.unpack(">H", blob[pos:pos + 2])
        s = blob[pos + 2:pos + 2 + n]
        if len(s) != n:
            raise C4GHError("truncated key")
        pos += 2 + n
        return s

    kdf = string()
    opts = string() if kdf != b"none" else b""
    cipher = string()
    data = string()
    if kdf == b"none":
        if cipher != b"none" or len(data) != 32:
            raise C4GHError("bad unprotected key")
        return data
    if cipher != b"chacha20_poly1305":
        raise C4GHError("unsupported cipher %r" % cipher)
    if passphrase is None:
        raise C4GHError("passphrase needed")
    key = _kdf(kdf, opts, passphrase)
    try:
        return ChaCha20Poly1305(key).decrypt(data[:12], data[12:], None)
    except InvalidTag:
        raise C4GHError("wrong passphrase")


def write_keys(skpath, pkpath, kdf, passphrase):
    sk = os.urandom(32)

    def string(s):
        return struct.pack(">H", len(s)) + s

    out = b"c4gh-v1"
    if kdf == "none":
        out += string(b"none") + string(b"none") + string(sk)
    else:
        salt = os.urandom(16)
        rounds = 0 if kdf == "scrypt" else 100000
        opts = struct.pack(">I", rounds) + salt
        key = _kdf(kdf.encode(), opts, passphrase)
        nonce = os.urandom(12)
        out += string(kdf.encode()) + string(opts) + string(b"chacha20_poly1305")
        out += string(nonce + ChaCha20Poly1305(key).encrypt(nonce, sk, None))
    out += string(b"pyc4gh")
    with open(skpath, "w") as f:
        f.write(_armor("CRYPT4GH PRIVATE KEY", out))
    with open(pkpath, "w") as f:
        f.write(_armor("CRYPT4GH PUBLIC KEY", public_of(sk)))


# ---- header packets (little-endian) ------------------------------------------

def _shared_key(own_sk, peer_pk, reader_pk, writer_pk):
    dh = X25519PrivateKey.from_private_bytes(own_sk).exchange(X25519PublicKey.from_public_bytes(peer_pk))
    return hashlib.blake2b(dh + reader_pk + writer_pk, digest_size=64).digest()[:32]


def seal_packet(writer_sk, reader_pk, payload):
    writer_pk = public_of(writer_sk)
    key = _shared_key(writer_sk, reader_pk, reader_pk, writer_pk)
    nonce = os.urandom(12)
    body = struct.pack("<I", 0) + writer_pk + nonce + ChaCha20Poly1305(key).encrypt(nonce, payload, None)
    return struct.pack("<I", 4 + len(body)) + body


def encrypt(plain, recipients, writer_sk=None, edit_list=None, pad=0, empty_edit_list=False,
            empty_final_segment=False, two_data_keys=False):
    writer_sk = writer_sk or os.urandom(32)
    keys = [os.urandom(32) for _ in range(2 if two_data_keys else 1)]
    payloads = [struct.pack("<II", 0, 0) + k + b"\0" * pad for k in keys]
    if edit_list is not None or empty_edit_list:
        lengths = [] if empty_edit_list else edit_list
        payloads.append(struct.pack("<II", 1, len(lengths)) + b"".join(struct.pack("<Q", n) for n in lengths))
    packets = [seal_packet(writer_sk, pk, p) for pk in recipients for p in payloads]
    out = [b"crypt4gh", struct.pack("<II", 1, len(packets))] + packets
    chunks = [plain[i:i + SEGMENT] for i in range(0, len(plain), SEGMENT)]
    if empty_final_segment:
        chunks.append(b"")
    for i, chunk in enumerate(chunks):
        nonce = os.urandom(12)
        out.append(nonce + ChaCha20Poly1305(keys[i % len(keys)]).encrypt(nonce, chunk, None))
    return b"".join(out)


def decrypt(data, sk, sender_pk=None):
    """Strict: every packet tried, every segment authenticated."""
    if data[:8] != b"crypt4gh":
        raise C4GHError("bad magic")
    version, count = struct.unpack("<II", data[8:16])
    if version != 1:
        raise C4GHError("version %d" % version)
    own_pk = public_of(sk)
    pos, keys, edits = 16, [], None
    for _ in range(count):
        (length,) = struct.unpack("<I", data[pos:pos + 4])
        if length < 68 or pos + length > len(data):
            raise C4GHError("bad packet length")
        packet, pos = data[pos:pos + length], pos + length
        (method,) = struct.unpack("<I", packet[4:8])
        writer_pk, nonce = packet[8:40], packet[40:52]
        if method != 0 or (sender_pk is not None and writer_pk != sender_pk):
            continue
        try:
            key = _shared_key(sk, writer_pk, own_pk, writer_pk)
            payload = ChaCha20Poly1305(key).decrypt(nonce, packet[52:], None)
        except (InvalidTag, ValueError):
            continue
        (ptype,) = struct.unpack("<I", payload[:4])
        if ptype == 0:
            if struct.unpack("<I", payload[4:8])[0] != 0 or len(payload) < 40:
                raise C4GHError("bad data key packet")
            keys.append(payload[8:40])
        elif ptype == 1:
            (n,) = struct.unpack("<I", payload[4:8])
            if edits is not None or n == 0 or len(payload) < 8 + 8 * n:
                raise C4GHError("bad edit list")
            edits = list(struct.unpack("<%dQ" % n, payload[8:8 + 8 * n]))
        else:
            raise C4GHError("unknown packet type")
    if not keys:
        raise C4GHError("no data key")
    plain = []
    for i in range(pos, len(data), SEGMENT + 28):
        seg = data[i:i + SEGMENT + 28]
        if len(seg) <= 28:
            raise C4GHError("truncated or empty segment")
        for key in keys:
            try:
                plain.append(ChaCha20Poly1305(key).decrypt(seg[:12], seg[12:], None))
                break
            except InvalidTag:
                pass
        else:
            raise C4GHError("segment at %d does not authenticate" % i)
    plain = b"".join(plain)
    if edits is None:
        return plain
    out, at = [], 0
    for j, n in enumerate(edits):
        if j % 2:
            out.append(plain[at:at + n])
        at += n
    if len(edits) % 2:
        out.append(plain[at:])
    return b"".join(out)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    k = sub.add_parser("keygen")
    k.add_argument("--sk", required=True)
    k.add_argument("--pk", required=True)
    k.add_argument("--kdf", default="scrypt", choices=["none", "scrypt", "pbkdf2_hmac_sha256"])
    e = sub.add_parser("encrypt")
    e.add_argument("--recipient-pk", action="append", required=True)
    e.add_argument("--sk")
    e.add_argument("--edit-list")
    e.add_argument("--pad", type=int, default=0)
    e.add_argument("--empty-edit-list", action="store_true")
    e.add_argument("--empty-final-segment", action="store_true")
    e.add_argument("--two-data-keys", action="store_true")
    e.add_argument("-i", required=True)
    e.add_argument("-o", required=True)
    d = sub.add_parser("decrypt")
    d.add_argument("--sk", required=True)
    d.add_argument("--sender-pk")
    d.add_argument("-i", required=True)
    d.add_argument("-o", required=True)
    a = ap.parse_args()
    passphrase = os.environ.get("C4GH_PASSPHRASE")
    try:
        if a.cmd == "keygen":
            write_keys(a.sk, a.pk, a.kdf, passphrase)
        elif a.cmd == "encrypt":
            edits = [int(n) for n in a.edit_list.split(",")] if a.edit_list else None
            writer = load_secret(a.sk, passphrase) if a.sk else None
            data = encrypt(open(a.i, "rb").read(), [load_public(p) for p in a.recipient_pk], writer,
                           edits, a.pad, a.empty_edit_list, a.empty_final_segment, a.two_data_keys)
            open(a.o, "wb").write(data)
        else:
            sender = load_public(a.sender_pk) if a.sender_pk else None
            plain = decrypt(open(a.i, "rb").read(), load_secret(a.sk, passphrase), sender)
            open(a.o, "wb").write(plain)
    except C4GHError as err:
        print("pyc4gh: %s" % err, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
