#!/usr/bin/python3
"""Writes the synthetic seed corpora of the c4gh fuzz targets:
tests/fuzz/corpus/c4gh_header/ (streams encrypted to the harness's fixed test
key, bytes 1..32, and inputs for its sealed-payload mode) and
tests/fuzz/corpus/c4gh_keyfile/ (key files of every kind varvault meets).
Run from the repository root: /usr/bin/python3 tests/fuzz/make_c4gh_corpus.py
Uses the independent reader/writer tests/integration/pyc4gh.py."""
import base64
import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
import pyc4gh  # noqa: E402

SK = bytes(range(1, 33))
PK = pyc4gh.public_of(SK)
HDR = "tests/fuzz/corpus/c4gh_header"
KEYS = "tests/fuzz/corpus/c4gh_keyfile"


def put(folder, name, data):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def header_seeds():
    other = pyc4gh.public_of(os.urandom(32))
    text = b"##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\n1\t100\t.\tA\tG\n"
    put(HDR, "empty", pyc4gh.encrypt(b"", [PK], SK))
    put(HDR, "one-byte", pyc4gh.encrypt(b"x", [PK], SK))
    put(HDR, "vcf", pyc4gh.encrypt(text, [PK], SK))
    put(HDR, "two-segments", pyc4gh.encrypt(bytes(65536) + text, [PK], SK))
    put(HDR, "two-recipients", pyc4gh.encrypt(text, [other, PK], SK))
    put(HDR, "edit-list-odd", pyc4gh.encrypt(text, [PK], SK, edit_list=[3, 10, 5]))
    put(HDR, "edit-list-even", pyc4gh.encrypt(text, [PK], SK, edit_list=[0, 7, 1, 2]))
    put(HDR, "two-data-keys", pyc4gh.encrypt(text, [PK], SK, two_data_keys=True))
    put(HDR, "padded", pyc4gh.encrypt(text, [PK], SK, pad=16))
    put(HDR, "empty-edit-list", pyc4gh.encrypt(text, [PK], SK, empty_edit_list=True))
    put(HDR, "empty-segment-after-short", pyc4gh.encrypt(text, [PK], SK, empty_final_segment=True))
    put(HDR, "other-recipient", pyc4gh.encrypt(text, [other], SK))
    put(HDR, "truncated", pyc4gh.encrypt(text, [PK], SK)[:100])
    put(HDR, "no-packets", b"crypt4gh" + struct.pack("<II", 1, 0))
    # Sealed-payload mode: 0, n, (len, payload)*n, segment-size byte, plaintext.
    key = os.urandom(32)
    dk = struct.pack("<II", 0, 0) + key
    el = struct.pack("<II", 1, 3) + b"".join(struct.pack("<Q", n) for n in (5, 20, 7))
    put(HDR, "sealed-key", bytes([0, 1, len(dk)]) + dk + bytes([1]) + text * 4)
    put(HDR, "sealed-key-edits", bytes([0, 2, len(dk)]) + dk + bytes([len(el)]) + el + bytes([0]) + text)
    put(HDR, "sealed-bad-type", bytes([0, 1, 8]) + struct.pack("<II", 9, 0) + bytes([3]) + text)


def armor(label, blob):
    return pyc4gh._armor(label, blob)


def c4gh_key(kdf, opts, cipher, blob, comment=None):
    def string(s):
        return struct.pack(">H", len(s)) + s
    out = b"c4gh-v1" + string(kdf) + (string(opts) if kdf != b"none" else b"") + string(cipher) + string(blob)
    return out + (string(comment) if comment else b"")


def keyfile_seeds():
    salt = os.urandom(16)
    nonce_ct = os.urandom(60)
    put(KEYS, "none", armor("CRYPT4GH PRIVATE KEY", c4gh_key(b"none", b"", b"none", SK, b"fuzz@test")))
    put(KEYS, "none-crlf", armor("CRYPT4GH PRIVATE KEY", c4gh_key(b"none", b"", b"none", SK)).replace("\n", "\r\n"))
    put(KEYS, "scrypt", armor("CRYPT4GH PRIVATE KEY", c4gh_key(b"scrypt", bytes(4) + salt, b"chacha20_poly1305", nonce_ct)))
    put(KEYS, "pbkdf2", armor("CRYPT4GH ENCRYPTED PRIVATE KEY",
                              c4gh_key(b"pbkdf2_hmac_sha256", struct.pack(">I", 100000) + salt, b"chacha20_poly1305", nonce_ct)))
    put(KEYS, "bcrypt", armor("CRYPT4GH PRIVATE KEY",
                              c4gh_key(b"bcrypt", struct.pack(">I", 100) + salt, b"chacha20_poly1305", nonce_ct)))
    put(KEYS, "unknown-cipher", armor("CRYPT4GH PRIVATE KEY", c4gh_key(b"scrypt", bytes(4) + salt, b"aes256-ctr", nonce_ct)))
    put(KEYS, "openssh", armor("OPENSSH PRIVATE KEY", b"openssh-key-v1\0" + struct.pack(">I", 4) + b"none"))
    put(KEYS, "public", armor("CRYPT4GH PUBLIC KEY", PK))
    put(KEYS, "ssh-public", "ssh-ed25519 " + base64.b64encode(b"\0\0\0\x0bssh-ed25519\0\0\0 " + PK).decode() + " x\n")
    put(KEYS, "garbage", "-----BEGIN CRYPT4GH PRIVATE KEY-----\nnot base64!\n-----END CRYPT4GH PRIVATE KEY-----\n")


if __name__ == "__main__":
    header_seeds()
    keyfile_seeds()
