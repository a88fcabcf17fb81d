#!/bin/bash
# The audit log records what the appliance runs with, and each change of it,
# as the real varvaultd writes it: a first start records the model, policy,
# CRL and keys in force (old "unrecorded"); a restart with nothing changed
# records no change; a second model, then restart: one model.changed with the
# old and new SHA-256; a new policy, then SIGHUP: one policy.changed; a
# revocation (new CRL), then SIGHUP: one crl.changed; a new Crypt4GH key,
# then restart: one keys.changed naming the new key's fingerprint.  Every
# value is computed here from the files, not read back from the daemon.  No
# record holds private key material, and the whole log still verifies.
source "$(dirname "$0")/daemon_lib.bash"
RQ="$PYTHON tests/integration/audit_rq.py"

make_appliance
issue alice submitter
issue bob submitter
S=$T/state
DB=$S/varvault.db
sha() { sha256sum "$1" | cut -c1-64; }
# The values the daemon should record, from the files.
model_sha() { grep " model.safetensors\$" "$S/models/$1/SHA256SUMS" | cut -c1-64; }
tls_fp() { openssl x509 -in "$S/keys/server.crt" -outform DER | sha256sum | cut -c1-64; }
# SHA-256 of the raw 32-byte public key inside the armored appliance.pub
c4gh_fp() {
	"$PYTHON" -c '
import base64, hashlib, sys
lines = [l.strip() for l in open(sys.argv[1]) if l.strip() and not l.startswith("-----")]
k = base64.b64decode("".join(lines))
assert len(k) == 32, len(k)
print(hashlib.sha256(k).hexdigest())' "$T/etc/appliance.pub"
}
# SHA-256 of the verifier key line (without its newline)
audit_fp() { head -n 1 "$S/keys/audit.pub" | tr -d '\n' | sha256sum | cut -c1-64; }
keys_now() { echo "c4gh:$(c4gh_fp),tls:$(tls_fp),audit:$(audit_fp)"; }

# (greps read all of the records: an early exit would break the pipe under pipefail)
# changes SINCE: the change records after seq SINCE, one per line as
# "ACTION OLD NEW" (checked to be system records, outcome ok, that carry
# the model and policy hashes).
changes() {
	$RQ --records "$DB" "$1" | "$PYTHON" -c '
import json, sys
for l in sys.stdin:
    r = json.loads(l)
    if not r["action"].endswith(".changed"):
        continue
    assert r["event"] == "system" and r["outcome"] == "ok", r
    assert r["actor"] == {"subject": "varvaultd", "role": "system"}, r
    assert len(r["object"]["model_sha256"]) == 64 and len(r["object"]["policy_sha256"]) == 64, r
    old, new = r["reason"].split(" ")
    assert old.startswith("old=") and new.startswith("new="), r
    print(r["action"], old[4:], new[4:])
'
}
# last_seq: the newest record's seq
last_seq() { $RQ --records "$DB" | tail -n 1 | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["seq"])'; }
# expect_changes SINCE WHAT "LINE"...: exactly these change records since SINCE
expect_changes() {
	local since=$1 what=$2
	shift 2
	changes "$since" >"$T/changes" || fail "$what: change records unreadable"
	printf '%s\n' "$@" | sed '/^$/d' >"$T/want"
	diff -u "$T/want" "$T/changes" >"$T/diff" || fail "$what: change records differ (want, got): $(cat "$T/diff")"
	echo "ok  $what: $(wc -l <"$T/changes") change record(s)"
}
# wait_for SINCE ACTION: a record ACTION after SINCE (SIGHUP is asynchronous)
wait_for() {
	for _ in $(seq 1 200); do
		$RQ --records "$DB" "$1" | grep "\"action\":\"$2\"" >/dev/null && return 0
		sleep 0.1
	done
	fail "no $2 record after seq $1"
}

MODEL1=$(model_sha demo-dna-mlm)
POL1=$(sha "$T/etc/access.conf")
KEYS1=$(keys_now)
[ -f "$S/ca/crl.pem" ] || fail "the appliance has no CRL"

# --- a first start records the state in force -------------------------------
start_daemon
stop_daemon
CRL1=$($RQ --records "$DB" | "$PYTHON" -c '
import json, sys
for l in sys.stdin:
    r = json.loads(l)
    if r["action"] == "crl.changed":
        print(r["reason"].split("new=")[1])')
[[ "$CRL1" =~ ^[0-9a-f]{64}$ ]] || fail "first start: no CRL digest recorded: $CRL1"
expect_changes -1 "first start (the state in force)" \
	"model.changed unrecorded $MODEL1" "policy.changed unrecorded $POL1" \
	"crl.changed unrecorded $CRL1" "keys.changed unrecorded $KEYS1"
# The start and stop records carry the CRL and keys too.
$RQ --records "$DB" | grep "\"action\":\"start\".*\"reason\":\"state crl=$CRL1 keys=$KEYS1\"" >/dev/null ||
	fail "the start record does not carry the state: $($RQ --records "$DB" | grep '"start"')"
$RQ --records "$DB" | grep "\"action\":\"stop\".*\"reason\":\"state crl=$CRL1 keys=$KEYS1\"" >/dev/null ||
	fail "the stop record does not carry the state"

# --- nothing changed: no change record -------------------------------------
# (the daemon re-signs its CRL at every start: the same list is no change)
cp "$S/ca/crl.pem" "$T/crl.before"
SEQ=$(last_seq)
sleep 1.1 # a new lastUpdate second, so that the re-signed file differs
start_daemon
stop_daemon
cmp -s "$T/crl.before" "$S/ca/crl.pem" && fail "the CRL file was not re-signed at start (the test relies on it)"
$RQ --records "$DB" "$SEQ" | grep '"action":"start"' >/dev/null || fail "no start record after the restart"
expect_changes "$SEQ" "a restart with nothing changed"

# --- another model, then restart: one model.changed --------------------------
mkdir "$T/m2"
cp "$MODEL/config.json" "$MODEL/vocab.txt" "$T/m2/"
# the same model with one weight changed a little (the self-test needs finite outputs only)
"$PYTHON" - "$MODEL/model.safetensors" "$T/m2/model.safetensors" <<'PY'
import json, struct, sys
b = bytearray(open(sys.argv[1], "rb").read())
n = struct.unpack("<Q", b[:8])[0]
hdr = json.loads(b[8:8 + n])
k = next(k for k, v in hdr.items() if k != "__metadata__" and v["dtype"] == "F32")
o = 8 + n + hdr[k]["data_offsets"][0]
(x,) = struct.unpack("<f", b[o:o + 4])
b[o:o + 4] = struct.pack("<f", x * 0.5 + 0.25)
open(sys.argv[2], "wb").write(b)
PY
"$ADMIN" model import --config "$CONF" --name m2 --default "$T/m2" >/dev/null || fail "model import"
MODEL2=$(model_sha m2)
[ "$MODEL2" != "$MODEL1" ] || fail "the second model has the first one's hash"
SEQ=$(last_seq)
start_daemon
expect_changes "$SEQ" "another model, then restart" "model.changed $MODEL1 $MODEL2"

# --- a new policy, then SIGHUP: one policy.changed ---------------------------
echo "# changed by the test" >>"$T/etc/access.conf"
POL2=$(sha "$T/etc/access.conf")
SEQ=$(last_seq)
kill -HUP "$DPID"
wait_for "$SEQ" reload
expect_changes "$SEQ" "a new policy, then SIGHUP" "policy.changed $POL1 $POL2"
$RQ --records "$DB" "$SEQ" | grep "\"action\":\"reload\".*\"policy_sha256\":\"$POL2\".*\"outcome\":\"ok\"" >/dev/null ||
	fail "the reload record does not name the new policy"

# --- a revocation (new CRL), then SIGHUP: one crl.changed --------------------
vv bob health >/dev/null || fail "bob before the revocation"
"$ADMIN" client revoke --config "$CONF" bob >/dev/null || fail "revoke"
SEQ=$(last_seq)
kill -HUP "$DPID"
wait_for "$SEQ" reload
CRL2=$(changes "$SEQ" | awk '$1 == "crl.changed" {print $3}')
[[ "$CRL2" =~ ^[0-9a-f]{64}$ ]] && [ "$CRL2" != "$CRL1" ] || fail "no new CRL digest: $(changes "$SEQ")"
expect_changes "$SEQ" "a revocation, then SIGHUP" "crl.changed $CRL1 $CRL2"
vv bob health >/dev/null 2>&1 && fail "the revoked client is still served (the CRL the record names is not in force)"
# A reload with nothing new: no change record.
SEQ=$(last_seq)
kill -HUP "$DPID"
wait_for "$SEQ" reload
expect_changes "$SEQ" "SIGHUP with nothing changed"
stop_daemon

# --- a new Crypt4GH key, then restart: one keys.changed ----------------------
"$V" keygen --sk "$S/keys/c4gh.sec" --pk "$T/etc/appliance.pub" --nocrypt --force >/dev/null 2>&1 ||
	fail "c4gh keygen"
chmod 600 "$S/keys/c4gh.sec"
KEYS2=$(keys_now)
[ "$KEYS2" != "$KEYS1" ] || fail "the new key has the old fingerprint"
SEQ=$(last_seq)
start_daemon
expect_changes "$SEQ" "a new Crypt4GH key, then restart" "keys.changed $KEYS1 $KEYS2"
# The appliance serves with the new key: a job encrypted to it runs.
J=$(vv alice submit --sample S1 --encrypt-to "$T/etc/appliance.pub" "$VCF") || fail "submit under the new key"
vv alice status "$J" --wait >/dev/null || fail "a job under the new key: $J"
[ "$(job_field alice "$J" "['state']")" = done ] || fail "the job under the new key: $(job_field alice "$J" "['state']")"
stop_daemon

# --- no secrets in the log; the whole log verifies ---------------------------
$RQ --records "$DB" >"$T/all.jsonl"
for f in "$S/keys/c4gh.sec" "$S/keys/server.key" "$S/keys/audit.key" "$S/keys/master.key" "$S/ca/ca.key"; do
	[ -f "$f" ] || continue
	# every base64 or hex run of 24+ characters of a private key file
	grep -av -- '-----' "$f" | tr -c 'A-Za-z0-9+/=\n' '\n' | awk 'length >= 24' | while read -r piece; do
		if grep -qF -- "$piece" "$T/all.jsonl"; then fail "a piece of $f is in the audit log"; fi
	done
	hex=$(od -An -tx1 "$f" | tr -d ' \n' | head -c 64)
	if grep -qF -- "$hex" "$T/all.jsonl"; then fail "the bytes of $f (hex) are in the audit log"; fi
done
"$ADMIN" audit verify --db "$DB" --pubkey "$S/keys/audit.pub" --k0 "$S/keys/audit.k0" >"$T/verify" 2>&1 ||
	fail "audit verify: $(cat "$T/verify")"
echo "ok  no private key in the log; the whole log verifies: $(tail -n 1 "$T/verify")"
echo "audit change records ok"
