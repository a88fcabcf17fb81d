#!/bin/bash
# Interop with the GA4GH reference implementation: every row of
# tests/data/crypt4gh/MANIFEST.tsv gives the listed result through
# `varvault decrypt` (the plaintext's sha256, or a failure with its own
# error and no output), except rows whose key is bcrypt-protected or an
# OpenSSH key, which must be refused with a message saying how to
# re-protect the key.  The rows of MANIFEST-implementation-defined.tsv give
# the result of our policies (docs/c4gh.md).  The data stays outside the
# repository; without it the test skips.
set -u
D=${VV_SRC:-.}/tests/data/crypt4gh
V=${VV_BIN:-build}/varvault
if [ ! -f "$D/MANIFEST.tsv" ]; then
	echo "the Crypt4GH interop vectors ($D, tests/data/PROVENANCE-shared.md) are missing"
	exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0 rows=0

bad() {
	echo "FAIL: $*"
	failures=$((failures + 1))
}

# The error each failing row must report (vv_strerror text), by file and key.
expected_error() {
	case "$1|$2|$3" in
	*tiny.alice.c4gh*mallory.pub) echo "no header packet from the required writer key" ;;
	*badversion*) echo "unsupported Crypt4GH version" ;;
	*badmagic*) echo "not a Crypt4GH file" ;;
	*flip-data* | *swap-short*) echo "data segment failed authentication" ;;
	*flip-lastmac* | *trunc-28* | *trunc-mid*) echo "truncated inside a segment" ;;
	*) echo "no header packet could be decrypted with this key" ;;
	esac
}

# How a key file is protected: openssh, bcrypt, or other.
key_kind() {
	if grep -q 'BEGIN OPENSSH' "$1"; then
		echo openssh
	elif sed -n 2p "$1" | base64 -d 2>/dev/null | grep -aq bcrypt; then
		echo bcrypt
	else
		echo other
	fi
}

# check FILE KEY PASSFILE EXPECTED SHA SENDER EXPECTED_ERROR
check() {
	local file=$1 key=$2 pass=$3 want=$4 sha=$5 sender=$6 err=$7
	local args=(decrypt --sk "$D/$key" -i "$D/$file" -o "$tmp/out")
	local kind rc
	rows=$((rows + 1))
	[ "$pass" != - ] && args+=(--passphrase-file "$D/$pass")
	[ "$sender" != - ] && args+=(--sender-pk "$D/$sender")
	rm -f "$tmp/out"
	"$V" "${args[@]}" 2>"$tmp/err"
	rc=$?
	kind=$(key_kind "$D/$key")
	if [ "$kind" != other ]; then
		# Refused with a message that names the kind and says what to do.
		[ $rc -eq 1 ] || bad "$file with $key: exit $rc, expected a refusal"
		grep -qi "$kind" "$tmp/err" && grep -q "re-encrypt" "$tmp/err" && grep -q "varvault keygen" "$tmp/err" ||
			bad "$file with $key: refusal message lacks '$kind' or the advice: $(cat "$tmp/err")"
		[ -e "$tmp/out" ] && bad "$file with $key: output left behind"
		return
	fi
	if [ "$want" = ok ]; then
		[ $rc -eq 0 ] || { bad "$file with $key: exit $rc: $(cat "$tmp/err")"; return; }
		[ "$(sha256sum <"$tmp/out" | cut -d' ' -f1)" = "$sha" ] || bad "$file with $key: wrong plaintext"
		# The same through stdin and stdout.
		args=(decrypt --sk "$D/$key")
		[ "$pass" != - ] && args+=(--passphrase-file "$D/$pass")
		[ "$sender" != - ] && args+=(--sender-pk "$D/$sender")
		[ "$("$V" "${args[@]}" <"$D/$file" | sha256sum | cut -d' ' -f1)" = "$sha" ] ||
			bad "$file with $key: wrong plaintext through stdin/stdout"
	else
		[ $rc -eq 1 ] || bad "$file with $key: exit $rc, expected 1"
		[ -e "$tmp/out" ] && bad "$file with $key: a failed decrypt left its output file"
		ls -A "$tmp" | grep -q '^\.out' && bad "$file with $key: a temporary file was left"
		grep -q "$err" "$tmp/err" || bad "$file with $key: expected '$err', got: $(cat "$tmp/err")"
		args=(decrypt --sk "$D/$key")
		[ "$pass" != - ] && args+=(--passphrase-file "$D/$pass")
		[ "$sender" != - ] && args+=(--sender-pk "$D/$sender")
		[ "$("$V" "${args[@]}" <"$D/$file" 2>/dev/null | wc -c)" -eq 0 ] ||
			bad "$file with $key: plaintext handed on to stdout from a failing file"
	fi
}

while IFS=$'\t' read -r file key pass want sha note sender; do
	[ "$file" = file ] && continue
	check "$file" "$key" "$pass" "$want" "$sha" "$sender" "$(expected_error "$file" "$key" "$sender")"
done <"$D/MANIFEST.tsv"

# Our policies for what the specification leaves open (docs/c4gh.md).
while IFS=$'\t' read -r file key pass want sha note sender; do
	[ "$file" = file ] && continue
	case "$file" in
	*empty-last-seg*) check "$file" "$key" "$pass" fail - "$sender" "an empty final segment" ;;
	*flip-skipped*) check "$file" "$key" "$pass" fail - "$sender" "authentication failed" ;;
	*editlist-empty*) check "$file" "$key" "$pass" fail - "$sender" "an empty edit list" ;;
	*padded-packet*)
		check "$file" "$key" "$pass" ok \
			189ef3c553fdd3b2b6882a35b30c73db77646c6c685a21de22d5d4a2c347eaa2 "$sender" - ;;
	*) bad "$file: an implementation-defined case without a policy here" ;;
	esac
done <"$D/MANIFEST-implementation-defined.tsv"

# The none, scrypt and pbkdf2 keys are read; a wrong passphrase is its own error.
for k in alice bob dave; do
	pf=()
	[ -f "$D/keys/$k.pass" ] && pf=(--passphrase-file "$D/keys/$k.pass")
	"$V" encrypt --recipient-pk "$D/keys/$k.pub" -i "$D/plain/tiny.vcf" -o "$tmp/$k.c4gh" ||
		bad "encrypt to $k"
	"$V" decrypt --sk "$D/keys/$k.sec" "${pf[@]}" -i "$tmp/$k.c4gh" | cmp -s - "$D/plain/tiny.vcf" ||
		bad "$k's key does not open a file encrypted to $k.pub"
done
printf 'wrong' >"$tmp/wrong.pass"
"$V" decrypt --sk "$D/keys/bob.sec" --passphrase-file "$tmp/wrong.pass" -i "$tmp/bob.c4gh" 2>"$tmp/err" >/dev/null
grep -q "invalid key or passphrase" "$tmp/err" || bad "wrong scrypt passphrase: $(cat "$tmp/err")"

echo "$rows rows checked, $failures failures"
[ $failures -eq 0 ]
