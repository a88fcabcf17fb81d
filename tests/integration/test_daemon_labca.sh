#!/bin/bash
# A lab's own CA instead of the appliance's local one (varvaultd.conf:
# [tls] ca_dir empty, ca and crl the lab's): a lab client made with the
# openssl tool, bound by varvault-admin client add, says hello, submits and
# gets its result; a client of the appliance's local CA is refused (by
# client add and by varvaultd); revoking the lab's certificate in the lab's
# CRL and SIGHUP refuses it while another lab client is served on.
source "$(dirname "$0")/daemon_lib.bash"
command -v openssl >/dev/null || { echo "the openssl tool is missing (package openssl)"; exit 77; }

make_appliance
# A client of the local CA, issued while the local CA is still configured.
issue loc submitter

# The lab's CA: EC P-256, with the openssl tool only.
L=$T/lab
mkdir -p "$L/new"
: >"$L/index.txt"
cat >"$L/ca.cnf" <<EOF
[ca]
default_ca = lab
[lab]
dir = $L
database = \$dir/index.txt
new_certs_dir = \$dir/new
certificate = \$dir/ca.crt
private_key = \$dir/ca.key
rand_serial = yes
default_md = sha256
default_days = 30
default_crl_days = 30
policy = anything
unique_subject = no
copy_extensions = none
x509_extensions = client_ext
[anything]
commonName = supplied
[client_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
[req]
distinguished_name = dn
[dn]
[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
EOF
ossl() { openssl "$@" 2>>"$T/openssl.log" || fail "openssl $1: $(tail -n 5 "$T/openssl.log")"; }
ossl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$L/ca.key" \
	-out "$L/ca.crt" -days 30 -subj "/O=Example Lab/CN=Example Lab CA" -config "$L/ca.cnf" -extensions ca_ext
# lab_client NAME: a key and CSR made by the lab, signed by its CA, bound to
# the submitter role by fingerprint, and a client.conf in $T/NAME.
lab_client() {
	local n=$1 fp
	mkdir -p "$T/$n"
	ossl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/$n/client.key" \
		-out "$T/$n/client.csr" -subj "/CN=$n" -config "$L/ca.cnf"
	chmod 600 "$T/$n/client.key"
	ossl ca -batch -config "$L/ca.cnf" -in "$T/$n/client.csr" -out "$T/$n/client.crt" -notext
	fp=$(openssl x509 -in "$T/$n/client.crt" -outform DER | sha256sum | cut -c1-64)
	"$ADMIN" client add --config "$CONF" --cert "$T/$n/client.crt" --role submitter >"$T/add.out" ||
		fail "client add $n"
	grep -q "^$fp = submitter\$" "$T/etc/access.conf" || fail "client add $n: no fingerprint entry"
	# The server's certificate still comes from the appliance's own CA.
	printf 'socket = %s\nca = %s\ncert = %s\nkey = %s\n' "$SOCK" "$T/state/ca/ca.crt" \
		"$T/$n/client.crt" "$T/$n/client.key" >"$T/$n/client.conf"
}
ossl ca -batch -config "$L/ca.cnf" -gencrl -out "$L/crl.pem"

# varvaultd.conf for the lab's CA; client issue then says the lab's tools do it.
sed -i "s|^ca_dir = .*|ca_dir =\nca = $L/ca.crt\ncrl = $L/crl.pem|" "$CONF"
grep -q "^ca_dir =\$" "$CONF" && grep -q "^crl = $L/crl.pem\$" "$CONF" || fail "varvaultd.conf edit"
lab_client alice
lab_client bob
# client add binds only a certificate that verifies against the lab's CA.
cp "$T/etc/access.conf" "$T/access.before"
set +e
"$ADMIN" client add --config "$CONF" --cert "$T/loc/client.crt" --role submitter >/dev/null 2>"$T/err"; rc=$?
set -e
[ $rc -eq 1 ] && grep -q "does not verify" "$T/err" || fail "client add of a local CA cert: exit $rc: $(cat "$T/err")"
cmp -s "$T/etc/access.conf" "$T/access.before" || fail "a refused client add changed access.conf"
set +e
"$ADMIN" client issue --config "$CONF" --name x --role submitter -o "$T/x" >/dev/null 2>"$T/err"; rc=$?
set -e
[ $rc -eq 1 ] && grep -q "lab CA" "$T/err" || fail "client issue with a lab CA: exit $rc: $(cat "$T/err")"
start_daemon

# The lab's client: hello, health, submit, status, result.
vv alice health | grep -q '^ok: varvaultd' || fail "lab client health"
J=$(vv alice submit --sample S1 --encrypt-to "$T/etc/appliance.pub" "$VCF") || fail "lab client submit"
[[ $J =~ ^[0-9a-f]{32}$ ]] || fail "submit printed '$J'"
vv alice status "$J" --wait >"$T/st" || fail "status --wait: $(cat "$T/st")"
vv alice result "$J" --format vcf -o "$T/r.vcf" || fail "lab client result"
"$ADMIN" annotate -q --model "$MODEL" --reference $REF --policy $EVID --vcf "$VCF" --format vcf -o "$T/a.vcf"
cmp -s "$T/r.vcf" "$T/a.vcf" || fail "result differs from annotate"

# A client of the appliance's local CA: not the configured CA, refused.
set +e
vv loc health 2>"$T/err"; rc=$?
set -e
[ $rc -eq 3 ] || fail "local CA client: exit $rc, want 3: $(cat "$T/err")"
grep -Eq "peer certificate refused: client certificate: (unable to get local issuer certificate|self-signed certificate in certificate chain)" \
	"$T/daemon.log" || fail "local CA client: log says why"
vv bob health >/dev/null || fail "serving after the local CA client"

# alice revoked in the lab's CRL, then SIGHUP: refused; bob served on.
ossl ca -batch -config "$L/ca.cnf" -revoke "$T/alice/client.crt"
ossl ca -batch -config "$L/ca.cnf" -gencrl -out "$L/crl.pem"
kill -HUP "$DPID"
for _ in $(seq 1 100); do
	grep -q "reloaded the access policy" "$T/daemon.log" && break
	sleep 0.1
done
grep -q "reloaded the access policy" "$T/daemon.log" || fail "no reload after SIGHUP"
set +e
vv alice health 2>"$T/err"; rc=$?
set -e
[ $rc -eq 3 ] || fail "revoked lab client: exit $rc, want 3: $(cat "$T/err")"
grep -q "certificate revoked" "$T/daemon.log" || fail "revoked: log says why"
vv bob health >/dev/null || fail "bob after alice's revocation"
J2=$(vv bob submit --sample S2 --encrypt-to "$T/etc/appliance.pub" "$VCF") || fail "bob submit"
vv bob status "$J2" --wait >/dev/null || fail "bob status --wait"
stop_daemon
echo "daemon with a lab CA: ok"
