#!/bin/bash
# varvaultd refuses, each with its error, while it goes on serving others:
# no client certificate, a certificate from another CA, an expired one, a
# revoked one (after SIGHUP reloads the CRL), a role calling a verb it
# lacks, TLS 1.2, plain bytes, an oversized or malformed frame, an unknown
# verb; a client sending one byte a second does not hold up another's
# whole flow; past max_connections a client is turned away.
source "$(dirname "$0")/daemon_lib.bash"

make_appliance
issue alice submitter
issue aud auditor
issue carol submitter
# Long request deadlines here, so that only threads (not a timeout) can let
# the full flow past the trickling client.
set_conf request_timeout 600
set_conf max_connections 6
start_daemon
CA=$T/alice/ca.crt
serves() { vv alice health >/dev/null || fail "daemon stopped serving after: $1"; }
proto() { timeout 120 $PROTO "$SOCK" "$@" --ca "$CA"; }

# no client certificate
out=$(proto hello)
[[ $out == closed* ]] || fail "no client certificate: $out"
grep -q "connection refused: peer certificate refused: client certificate: none offered" "$T/daemon.log" ||
	fail "no certificate: log says why"
serves "no certificate"

# a certificate of another CA (another appliance's local CA)
mkdir -p "$T/o"
"$ADMIN" init --state-dir "$T/o/state" --config-dir "$T/o/etc" --socket "$T/o.sock" \
	--model "$MODEL" --reference "$REF" --evidence "$EVID" >/dev/null
"$ADMIN" client issue --config "$T/o/etc/varvaultd.conf" --name alice --role submitter -o "$T/o/alice" >/dev/null
out=$(proto hello --cert "$T/o/alice/client.crt" --key "$T/o/alice/client.key")
[[ $out == closed* ]] || fail "other CA: $out"
sed "s|^ca = .*|ca = $CA|; s|^socket = .*|socket = $SOCK|" "$T/o/alice/client.conf" >"$T/other.conf"
set +e
"$V" health --config "$T/other.conf" 2>"$T/err"; rc=$?
set -e
[ $rc -eq 3 ] || fail "other CA: varvault exit $rc, want 3"
grep -qi "certificate" "$T/err" || fail "other CA message: $(cat "$T/err")"
serves "other CA"

# an expired certificate, signed by the right CA and listed in access.conf
if "$PYTHON" -c 'import cryptography' 2>/dev/null; then
	"$PYTHON" - "$T/state/ca" "$T/exp" <<'PY'
import datetime, sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID, ExtendedKeyUsageOID
ca, out = sys.argv[1], sys.argv[2]
ca_key = serialization.load_pem_private_key(open(ca + "/ca.key", "rb").read(), None)
ca_crt = x509.load_pem_x509_certificate(open(ca + "/ca.crt", "rb").read())
key = ec.generate_private_key(ec.SECP256R1())
now = datetime.datetime.now(datetime.timezone.utc)
crt = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "alice")]))
       .issuer_name(ca_crt.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
       .not_valid_before(now - datetime.timedelta(days=30)).not_valid_after(now - datetime.timedelta(days=1))
       .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
       .sign(ca_key, hashes.SHA256()))
open(out + ".crt", "wb").write(crt.public_bytes(serialization.Encoding.PEM))
open(out + ".key", "wb").write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                 serialization.NoEncryption()))
PY
	out=$(proto hello --cert "$T/exp.crt" --key "$T/exp.key")
	[[ $out == closed* ]] || fail "expired certificate: $out"
	grep -q "certificate has expired" "$T/daemon.log" || fail "expired: log says why"
	serves "expired certificate"
else
	echo "note: python3-cryptography missing: the expired-certificate case is not run"
fi

# revoked, then SIGHUP: refused from then on
vv carol health >/dev/null || fail "carol before revocation"
"$ADMIN" client revoke --config "$CONF" carol >/dev/null
kill -HUP "$DPID"
for _ in $(seq 1 100); do
	grep -q "reloaded the access policy" "$T/daemon.log" && break
	sleep 0.1
done
set +e
vv carol health 2>"$T/err"; rc=$?
set -e
[ $rc -eq 3 ] || fail "revoked: exit $rc, want 3: $(cat "$T/err")"
grep -q "certificate revoked" "$T/daemon.log" || fail "revoked: log says why"
serves "revoked certificate"

# a role calling a verb it lacks: denied, and the connection serves on
set +e
vv alice delete --sample S1 2>"$T/err"; rc=$?
set -e
[ $rc -eq 4 ] && grep -q "denied" "$T/err" || fail "submitter delete: exit $rc: $(cat "$T/err")"
set +e
vv aud submit --sample S1 --encrypt-to "$T/etc/appliance.pub" "$VCF" 2>"$T/err"; rc=$?
set -e
[ $rc -eq 4 ] || fail "auditor submit: exit $rc: $(cat "$T/err")"
vv aud health >/dev/null || fail "auditor health"

# TLS 1.2 offered
out=$(proto tls12 --cert "$T/alice/client.crt" --key "$T/alice/client.key")
[[ $out == "handshake failed"* ]] || fail "TLS 1.2: $out"
serves "TLS 1.2"

# plain bytes instead of TLS
out=$(timeout 60 $PROTO "$SOCK" plain)
[[ $out == closed* ]] || fail "plain bytes: $out"
serves "plain bytes"

# oversized frame, malformed frame, unknown verb
AUTH=(--cert "$T/alice/client.crt" --key "$T/alice/client.key")
out=$(proto oversize "${AUTH[@]}")
[[ $out == "error frame_too_large"* ]] || fail "oversized frame: $out"
out=$(proto malformed "${AUTH[@]}")
grep -q "^error malformed" <<<"$out" || fail "malformed frame: $out"
grep -q "^then hello: ok" <<<"$out" || fail "after a malformed frame: $out"
out=$(proto unknown-verb "${AUTH[@]}")
[[ $out == "error unknown_verb"* ]] || fail "unknown verb: $out"
serves "bad frames"

# one byte a second from one client; another's full flow goes through
# (python itself in the background, so that $! is the process to stop)
$PROTO "$SOCK" slow 590 --ca "$CA" "${AUTH[@]}" >"$T/slow.out" 2>&1 &
SLOW=$!
sleep 1
J=$(timeout 300 "$V" submit --config "$T/alice/client.conf" --sample S1 --encrypt-to "$T/etc/appliance.pub" "$VCF") ||
	fail "submit next to a slow client"
timeout 300 "$V" status --config "$T/alice/client.conf" --wait "$J" >/dev/null || fail "status next to a slow client"
timeout 300 "$V" result --config "$T/alice/client.conf" "$J" -o "$T/r.vcf" || fail "result next to a slow client"
kill -0 $SLOW 2>/dev/null || fail "the slow client ended first: $(cat "$T/slow.out")"

# connection cap (6): the slow one and five more hold every slot
PIDS=()
for i in 1 2 3 4 5; do
	$PROTO "$SOCK" slow 590 --ca "$CA" "${AUTH[@]}" >"$T/slow$i.out" 2>&1 &
	PIDS+=($!)
done
# Each prints "trickling" once its handshake is through and it holds a slot;
# only then try a sixth-plus-one (a health call made earlier could take the
# last slot from one of them, and the cap would never be reached).
for _ in $(seq 1 600); do
	n=0
	for i in 1 2 3 4 5; do grep -qs trickling "$T/slow$i.out" && n=$((n + 1)); done
	[ $n -eq 5 ] && break
	sleep 0.1
done
[ $n -eq 5 ] || fail "the five slow clients did not all connect: $(cat "$T"/slow?.out)"
set +e
"$V" health --config "$T/alice/client.conf" >/dev/null 2>"$T/cap.err"; rc=$?
set -e
[ $rc -eq 3 ] || fail "past max_connections: exit $rc, want 3: $(cat "$T/cap.err")"
grep -q "connection refused: 6 connections open" "$T/daemon.log" || fail "the cap: log says why"
kill $SLOW "${PIDS[@]}" 2>/dev/null || true
wait $SLOW "${PIDS[@]}" 2>/dev/null || true
for _ in $(seq 1 300); do
	vv alice health >/dev/null 2>&1 && break
	sleep 0.1
done
serves "the connection cap"
stop_daemon
echo "daemon refusals: ok"
