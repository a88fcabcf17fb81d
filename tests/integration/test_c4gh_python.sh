#!/bin/bash
# Interop with an independent implementation (tests/integration/pyc4gh.py,
# written from the specification on python3-cryptography), both ways:
# Python reads the keys `varvault keygen` writes and decrypts what
# `varvault encrypt` writes (several recipients, sender keys, protected
# keys); varvault reads Python's keys (none, scrypt, pbkdf2) and decrypts
# what Python writes, including the unusual files the specification allows,
# which must meet our policies (docs/c4gh.md).
set -u
V=${VV_BIN:-build}/varvault
PY=${PYTHON:-/usr/bin/python3}
PYC4GH=${VV_SRC:-.}/tests/integration/pyc4gh.py
PYC4GH=$(cd "$(dirname "$PYC4GH")" && pwd)/pyc4gh.py
if ! "$PY" -c 'import cryptography.hazmat.primitives.ciphers.aead' 2>/dev/null; then
	echo "skip: $PY has no python3-cryptography (apt-get install python3-cryptography)"
	exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
unset C4GH_PASSPHRASE
failures=0

bad() {
	echo "FAIL: $*"
	failures=$((failures + 1))
}

py() {
	"$PY" "$PYC4GH" "$@"
}

head -c 0 /dev/urandom >p0
head -c 1 /dev/urandom >p1
head -c 65536 /dev/urandom >p64k
head -c 200000 /dev/urandom >p200k

# ---- varvault writes, Python reads ----
"$V" keygen --sk v1.sec --pk v1.pub --nocrypt || bad "varvault keygen --nocrypt"
C4GH_PASSPHRASE=vv-pass "$V" keygen --sk v2.sec --pk v2.pub || bad "varvault keygen (scrypt)"
"$V" keygen --sk vs.sec --pk vs.pub --nocrypt || bad "varvault keygen (sender)"
for p in p0 p1 p64k p200k; do
	"$V" encrypt --recipient-pk v1.pub --recipient-pk v2.pub -i $p -o $p.vv ||
		bad "varvault encrypt $p"
	py decrypt --sk v1.sec -i $p.vv -o $p.out1 && cmp -s $p $p.out1 ||
		bad "python decrypts $p for recipient 1 (unprotected key by varvault keygen)"
	C4GH_PASSPHRASE=vv-pass py decrypt --sk v2.sec -i $p.vv -o $p.out2 && cmp -s $p $p.out2 ||
		bad "python decrypts $p for recipient 2 (scrypt key by varvault keygen)"
done
"$V" encrypt --recipient-pk v1.pub --sk vs.sec -i p200k -o sender.vv || bad "varvault encrypt with a sender key"
py decrypt --sk v1.sec --sender-pk vs.pub -i sender.vv -o sender.out && cmp -s p200k sender.out ||
	bad "python checks varvault's sender key"
py decrypt --sk v1.sec --sender-pk v1.pub -i sender.vv -o never.out 2>/dev/null &&
	bad "python accepted a wrong sender key (the check itself is broken)"
C4GH_PASSPHRASE=vv-pass "$V" encrypt --recipient-pk v1.pub --sk v2.sec -i p1 -o sender2.vv &&
	py decrypt --sk v1.sec --sender-pk v2.pub -i sender2.vv -o sender2.out && cmp -s p1 sender2.out ||
	bad "protected sender key"

# ---- Python writes, varvault reads ----
py keygen --sk py-none.sec --pk py-none.pub --kdf none || bad "python keygen none"
C4GH_PASSPHRASE=py-pass py keygen --sk py-scrypt.sec --pk py-scrypt.pub --kdf scrypt || bad "python keygen scrypt"
C4GH_PASSPHRASE=py-pass py keygen --sk py-pbkdf2.sec --pk py-pbkdf2.pub --kdf pbkdf2_hmac_sha256 ||
	bad "python keygen pbkdf2"
for k in none scrypt pbkdf2; do
	for p in p0 p1 p64k p200k; do
		py encrypt --recipient-pk py-$k.pub --recipient-pk v1.pub -i $p -o $p.$k.py ||
			bad "python encrypt $p to $k"
		C4GH_PASSPHRASE=py-pass "$V" decrypt --sk py-$k.sec -i $p.$k.py | cmp -s - $p ||
			bad "varvault decrypts python's $p with python's $k key"
		"$V" decrypt --sk v1.sec -i $p.$k.py | cmp -s - $p ||
			bad "varvault decrypts python's $p (second recipient)"
	done
done
py encrypt --recipient-pk v1.pub --sk vs.sec -i p200k -o py-sender.py || bad "python encrypt with sender"
"$V" decrypt --sk v1.sec --sender-pk vs.pub -i py-sender.py | cmp -s - p200k || bad "varvault sender check"
"$V" decrypt --sk v1.sec --sender-pk v2.pub -i py-sender.py >/dev/null 2>&1 &&
	bad "varvault accepted python's file with a wrong --sender-pk"

# Edit lists: odd (keep the tail) and even (stop after the last keep),
# compared with Python's own reading of the same file.
for el in 100,5000,70000,60000,1000 0,7853,140000,2000 65536,1 199999 0,0,10,10; do
	py encrypt --recipient-pk v1.pub --edit-list $el -i p200k -o el.py || bad "python encrypt edit list $el"
	py decrypt --sk v1.sec -i el.py -o el.want || bad "python decrypt edit list $el"
	"$V" decrypt --sk v1.sec -i el.py | cmp -s - el.want || bad "edit list $el"
done
# Several data keys, segments alternating between them.
py encrypt --recipient-pk v1.pub --two-data-keys -i p200k -o twokeys.py
"$V" decrypt --sk v1.sec -i twokeys.py | cmp -s - p200k || bad "two data keys"
# Padded data-key packets: accepted, the first 32 bytes are the key.
py encrypt --recipient-pk v1.pub --pad 16 -i p1 -o padded.py
"$V" decrypt --sk v1.sec -i padded.py | cmp -s - p1 || bad "padded data-key packet"
# Refused by policy: an empty final segment, an empty edit list.
py encrypt --recipient-pk v1.pub --empty-final-segment -i p64k -o emptyseg.py
"$V" decrypt --sk v1.sec -i emptyseg.py 2>err >/dev/null
[ $? -eq 1 ] && grep -q "an empty final segment" err || bad "empty final segment not refused: $(cat err)"
py encrypt --recipient-pk v1.pub --empty-edit-list -i p1 -o emptyel.py
"$V" decrypt --sk v1.sec -i emptyel.py 2>err >/dev/null
[ $? -eq 1 ] && grep -q "an empty edit list" err || bad "empty edit list not refused: $(cat err)"

echo "$failures failures"
[ $failures -eq 0 ]
