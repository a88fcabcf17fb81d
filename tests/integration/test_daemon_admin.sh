#!/bin/bash
# varvault-admin init, client issue|revoke|list and model import: files and
# modes, refusals that change nothing, and varvaultd refusing to start on a
# model whose files no longer match their recorded SHA-256 or on a master
# key readable by others.
source "$(dirname "$0")/daemon_lib.bash"

make_appliance
S=$T/state
[ "$(stat -c %a "$S")" = 700 ] || fail "state folder mode"
for f in keys/c4gh.sec keys/master.key keys/server.key ca/ca.key; do
	[ "$(stat -c %a "$S/$f")" = 600 ] || fail "$f mode $(stat -c %a "$S/$f")"
done
[ "$(stat -c %s "$S/keys/master.key")" = 32 ] || fail "master key size"
grep -q "BEGIN CRYPT4GH PUBLIC KEY" "$T/etc/appliance.pub" || fail "appliance.pub"
( cd "$S/models/demo-dna-mlm" && sha256sum -c --quiet SHA256SUMS ) || fail "model manifest"
sum_keys() { cat "$S"/keys/* "$S"/ca/ca.key | sha256sum; }
before=$(sum_keys)

# init again: refused, nothing changed (same config folder, or a new one)
set +e
"$ADMIN" init --state-dir "$S" --config-dir "$T/etc" --model "$MODEL" --reference $REF --evidence $EVID \
	>/dev/null 2>"$T/err"; rc1=$?
"$ADMIN" init --state-dir "$S" --config-dir "$T/etc2" --model "$MODEL" --reference $REF --evidence $EVID \
	>/dev/null 2>"$T/err2"; rc2=$?
set -e
[ $rc1 -eq 1 ] && grep -q "refusing" "$T/err" || fail "second init: exit $rc1: $(cat "$T/err")"
[ $rc2 -eq 1 ] && grep -q "keys exist already" "$T/err2" || fail "init over keys: exit $rc2: $(cat "$T/err2")"
[ "$(sum_keys)" = "$before" ] || fail "a refused init changed the keys"

# client issue
issue alice submitter
[ "$(stat -c %a "$T/alice/client.key")" = 600 ] || fail "client key mode"
grep -q "^socket = $SOCK\$" "$T/alice/client.conf" || fail "client.conf socket"
fp=$(openssl x509 -in "$T/alice/client.crt" -outform DER | sha256sum | cut -c1-64)
grep -q "^$fp = submitter\$" "$T/etc/access.conf" || fail "access.conf binding"
cp "$T/etc/access.conf" "$T/acc.before"
set +e
issue mallory wizard 2>"$T/err"; rc=$?
set -e
[ $rc -eq 1 ] && grep -q "wizard" "$T/err" || fail "unknown role: exit $rc: $(cat "$T/err")"
cmp -s "$T/etc/access.conf" "$T/acc.before" || fail "a refused issue changed access.conf"
set +e
issue alice submitter 2>/dev/null; rc=$?
set -e
[ $rc -eq 1 ] || fail "issue into a folder holding a client: exit $rc"
# from a CSR made with the lab's own tools
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/lab.key" \
	-subj "/CN=ignored" -out "$T/lab.csr" 2>/dev/null
issue labbot submitter --csr "$T/lab.csr"
openssl x509 -in "$T/labbot/client.crt" -noout -subject | grep -q "CN *= *labbot" || fail "CSR: CN"
[ ! -e "$T/labbot/client.key" ] || fail "CSR: a key was made"
"$ADMIN" client list --config "$CONF" | grep -q "^alice .*$fp" || fail "client list"
"$ADMIN" client list --config "$CONF" --json | "$PYTHON" -c \
	'import json,sys; l=json.load(sys.stdin); assert [c["name"] for c in l]==["alice","labbot"]' || fail "list --json"
"$ADMIN" client revoke --config "$CONF" labbot >/dev/null
"$ADMIN" client list --config "$CONF" | grep -q "^labbot .*REVOKED" || fail "revoked in list"

# model import: an F16 model is written as F32 (SHA256SUMS names the written
# file, every weight mapped in place); a model whose weights are all NaN is
# refused by the self-test and leaves nothing; a second F32 one becomes the
# default.  The variants are made with the standard library only.
st_variant() { # SRC_DIR DST_DIR f16|nan
	mkdir "$2"
	cp "$1/config.json" "$1/vocab.txt" "$2/"
	"$PYTHON" - "$1/model.safetensors" "$2/model.safetensors" "$3" <<'PY'
import array, json, struct, sys
src, dst, mode = sys.argv[1:]
b = open(src, "rb").read()
n = struct.unpack("<Q", b[:8])[0]
hdr = json.loads(b[8:8 + n])
data = b[8 + n:]
out, off, new = [], 0, {}
for k, v in hdr.items():
    if k == "__metadata__":
        new[k] = v
        continue
    assert v["dtype"] == "F32", v["dtype"]
    a = array.array("f")
    a.frombytes(data[v["data_offsets"][0]:v["data_offsets"][1]])
    if mode == "f16":
        raw, dt = struct.pack("<%de" % len(a), *a), "F16"
    else:
        raw, dt = struct.pack("<%df" % len(a), *([float("nan")] * len(a))), "F32"
    new[k] = {"dtype": dt, "shape": v["shape"], "data_offsets": [off, off + len(raw)]}
    out.append(raw)
    off += len(raw)
h = json.dumps(new).encode()
with open(dst, "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + b"".join(out))
PY
}
st_variant "$MODEL" "$T/m16" f16
"$ADMIN" model import --config "$CONF" "$T/m16" >"$T/out" || fail "F16 import"
( cd "$S/models/m16" && sha256sum -c --quiet SHA256SUMS ) || fail "F16 import: manifest"
grep -q "$(sha256sum "$S/models/m16/model.safetensors" | cut -c1-64)" "$T/out" || fail "F16 import: printed hash"
"$ADMIN" model info --json "$S/models/m16" >"$T/info" || fail "model info on the F16 import"
"$PYTHON" - "$T/info" <<'PY' || fail "F16 import: weights not all mapped F32: $(cat "$T/info")"
import json, sys
m = json.load(open(sys.argv[1]))["memory"]
assert m["weights_converted_mib"] == 0 and m["weights_mapped_mib"] > 0, m
PY
st_variant "$MODEL" "$T/mnan" nan
set +e
"$ADMIN" model import --config "$CONF" "$T/mnan" 2>"$T/err"; rc=$?
set -e
[ $rc -eq 1 ] && grep -q "self-test" "$T/err" || fail "NaN import: exit $rc: $(cat "$T/err")"
[ ! -e "$S/models/mnan" ] && [ -z "$(ls -A "$S/models" | grep -v -e demo-dna-mlm -e m16)" ] ||
	fail "NaN import left files"
"$ADMIN" model import --config "$CONF" --name demo2 --default "$MODEL" >/dev/null
grep -q "^name = demo2\$" "$CONF" || fail "--default"
set +e
"$ADMIN" model import --config "$CONF" --name demo2 "$MODEL" 2>/dev/null; rc=$?
set -e
[ $rc -eq 1 ] || fail "second import under one name: exit $rc"

# varvaultd serves the imported model, and refuses one whose bytes changed
start_daemon
vv alice health >"$T/health" || fail "health"
grep -q "model demo2" "$T/health" || fail "daemon model"
sum=$(grep " model.safetensors\$" "$S/models/demo2/SHA256SUMS" | cut -c1-64)
grep -q "^model demo2: SHA-256 $sum, self-test passed\$" "$T/health" || fail "health: model hash: $(cat "$T/health")"
grep -q "^OpenBLAS kernel [A-Za-z0-9]* (chosen by \(openblas\|varvault\|operator\);" "$T/health" ||
	fail "health: kernel: $(cat "$T/health")"
vv alice health --json | "$PYTHON" -c '
import json, sys
h = json.load(sys.stdin)
assert h["model_sha256"] == sys.argv[1] and h["selftest"] == "passed", h
k = h["kernel"]
assert k["openblas_core"] and k["chosen_by"] in ("openblas", "varvault", "operator"), k
assert isinstance(k["weaker_than_cpu"], bool) and k["cpu"], k' "$sum" || fail "health --json"
stop_daemon
# a model that fails its self-test (put in place by hand, past import) stops
# varvaultd at start-up
mkdir "$S/models/mnan"
cp "$T/mnan/"* "$S/models/mnan/"
( cd "$S/models/mnan" && sha256sum config.json model.safetensors vocab.txt >SHA256SUMS )
sed -i "s|^name = demo2\$|name = mnan|" "$CONF"
set +e
"$D" --config "$CONF" 2>"$T/err"; rc=$?
set -e
[ $rc -eq 1 ] && grep -q "self-test" "$T/err" || fail "NaN model at start-up: exit $rc: $(cat "$T/err")"
sed -i "s|^name = mnan\$|name = demo2|" "$CONF"
printf '\1' | dd of="$S/models/demo2/model.safetensors" bs=1 seek=200 conv=notrunc 2>/dev/null
set +e
"$D" --config "$CONF" 2>"$T/err"; rc=$?
set -e
[ $rc -eq 1 ] && grep -q "SHA-256 differs" "$T/err" || fail "tampered model: exit $rc: $(cat "$T/err")"
sed -i "s|^name = demo2\$|name = demo-dna-mlm|" "$CONF"
chmod 644 "$S/keys/master.key"
set +e
"$D" --config "$CONF" 2>"$T/err"; rc=$?
set -e
[ $rc -eq 1 ] && grep -q "readable by others" "$T/err" || fail "master key mode: exit $rc: $(cat "$T/err")"
chmod 600 "$S/keys/master.key"

# Root issuing into a state folder that the service user owns (as the
# package makes it): what lands in the state folder is that user's, modes
# as before; the bundle handed to the client stays root's unless it is
# written into the state folder.
if [ "$(id -u)" = 0 ]; then
	O2=$T/own
	mkdir -p "$O2" && chmod 755 "$T" "$O2"
	"$ADMIN" init --state-dir "$O2/state" --config-dir "$O2/etc" --socket "$O2/s.sock" \
		--model "$MODEL" --reference "$REF" --evidence "$EVID" >/dev/null
	chown -R "$VV_USER:" "$O2/state"
	rm -f "$O2/state/ca/.lock"        # one made by this version, below
	vu=$(id -u "$VV_USER") vg=$(id -g "$VV_USER")
	owned() { # PATH UID:GID MODE
		[ "$(stat -c %u:%g "$1")" = "$2" ] || fail "$1 is $(stat -c %U:%G "$1"), not $2"
		[ -z "${3:-}" ] || [ "$(stat -c %a "$1")" = "$3" ] || fail "$1 mode $(stat -c %a "$1"), not $3"
	}
	"$ADMIN" client issue --config "$O2/etc/varvaultd.conf" --name carol --role submitter -o "$O2/carol" >/dev/null
	owned "$O2/state/ca/clients.json" "$vu:$vg" 644
	owned "$O2/state/ca/crl.pem" "$vu:$vg" 644
	owned "$O2/state/ca/.lock" "$vu:$vg" 600
	for f in client.crt client.key ca.crt client.conf; do owned "$O2/carol/$f" 0:0; done
	owned "$O2/carol/client.key" 0:0 600
	"$ADMIN" client issue --config "$O2/etc/varvaultd.conf" --name dave --role submitter \
		-o "$O2/state/clients-dave" >/dev/null
	owned "$O2/state/clients-dave" "$vu:$vg" 700
	owned "$O2/state/clients-dave/client.key" "$vu:$vg" 600
	owned "$O2/state/clients-dave/client.conf" "$vu:$vg" 600
	for f in client.crt ca.crt; do owned "$O2/state/clients-dave/$f" "$vu:$vg" 644; done
	"$ADMIN" client revoke --config "$O2/etc/varvaultd.conf" carol >/dev/null
	owned "$O2/state/ca/crl.pem" "$vu:$vg" 644
	owned "$O2/state/ca/clients.json" "$vu:$vg" 644
	# and the service user can go on with what root left (the CA lock, the
	# index and the CRL are its own): it revokes dave without a chown
	chmod 755 "$O2/etc"
	setpriv --reuid="$VV_USER" --regid="$VV_USER" --clear-groups \
		"$ADMIN" client revoke --config "$O2/etc/varvaultd.conf" dave >/dev/null 2>"$T/err" ||
		fail "revoke as $VV_USER after root: $(cat "$T/err")"
	# nothing of root's left in the state folder
	left=$(find "$O2/state" -user 0 | head -3)
	[ -z "$left" ] || fail "root's files left in the state folder: $left"
fi
echo "daemon admin: ok"
