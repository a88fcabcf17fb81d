#!/bin/bash
# Whole-or-nothing outputs never replace what is not a regular file:
# `annotate -o /dev/full --force` (run as root, it once renamed a regular
# file over the device node), a FIFO, a directory; and `varvault keygen`
# onto a FIFO.  Each is refused with a message naming it and left as it was.
# Runs on the committed demo model, reference and VCF: needs no Python.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${VV_BIN:-$PWD/build}
ADMIN="$BIN/varvault-admin"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

annotate() {
	"$ADMIN" annotate -q --model models/demo-dna-mlm --reference demo/reference.fa.gz \
		--vcf demo/sample.vcf --threads 1 "$@"
}

[ -c /dev/full ] || { echo "/dev/full is not a character device here"; exit 77; }
set +e
annotate -o /dev/full --force 2>"$T/err"; rc=$?
set -e
[ $rc -eq 1 ] || fail "-o /dev/full --force: exit $rc, want 1"
[ -c /dev/full ] || fail "/dev/full is no longer a character device"
grep -q "/dev/full is a character device, not a regular file" "$T/err" || fail "message: $(cat "$T/err")"
# refused before the run: no progress, no model time spent on a doomed output
! grep -q "variants" "$T/err" || fail "the run went ahead: $(cat "$T/err")"

mkfifo "$T/fifo"
mkdir "$T/dir"
ln -s /dev/full "$T/full-link"
for target in "$T/fifo" "$T/dir" "$T/full-link"; do
	for force in "" --force; do
		set +e
		annotate -o "$target" $force 2>"$T/err"; rc=$?
		set -e
		[ $rc -eq 1 ] || fail "-o $target $force: exit $rc, want 1"
		grep -q "not a regular file" "$T/err" || fail "-o $target $force: $(cat "$T/err")"
	done
done
[ -p "$T/fifo" ] || fail "the FIFO was replaced"
[ -d "$T/dir" ] && [ -z "$(ls -A "$T/dir")" ] || fail "the directory was changed"
[ -L "$T/full-link" ] || fail "the link was replaced"
# the summary file is a whole-or-nothing output too
set +e
annotate -o "$T/out.vcf.gz" --summary-json "$T/fifo" --force 2>"$T/err"; rc=$?
set -e
[ $rc -eq 1 ] || fail "--summary-json FIFO: exit $rc, want 1"
[ -p "$T/fifo" ] || fail "--summary-json replaced the FIFO"
[ ! -e "$T/out.vcf.gz" ] || fail "an output appeared although the summary was refused"
# only the FIFO, the directory and the link: no temporary file left behind
[ "$(ls -A "$T" | grep -v '^err$' | sort | tr '\n' ' ')" = "dir fifo full-link " ] ||
	fail "left behind: $(ls -A "$T")"

# the client's outputs go through the same code
set +e
printf 'x\n' | "$BIN/varvault" keygen --sk "$T/fifo" --pk "$T/k.pub" --nocrypt --force 2>"$T/err"; rc=$?
set -e
[ $rc -ne 0 ] || fail "keygen onto a FIFO succeeded"
grep -q "is a FIFO, not a regular file" "$T/err" || fail "keygen: $(cat "$T/err")"
[ -p "$T/fifo" ] || fail "keygen replaced the FIFO"
[ ! -e "$T/k.pub" ] || fail "keygen left the public key of a refused pair"
echo "ok"
