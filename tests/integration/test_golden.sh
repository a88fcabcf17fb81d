#!/bin/bash
# Golden end-to-end test: the demo model, reference and VCF through
# `varvault-admin annotate` in each format (VCF, JSON, TSV, and the summary
# JSON), compared byte for byte with the expected outputs committed in
# tests/data/golden/ (provenance: tests/data/golden/README.md).  Each format
# runs with another thread count and batch size: the engine is bit-for-bit
# deterministic, so all must match the same files.  Needs no Python.
# VV_GOLDEN_REGEN=1 (tests/data/golden/regen.sh) writes the expected files
# instead of comparing.
set -euo pipefail
cd "$(dirname "$0")/../.."

# ---- inputs: the one place that names them ----
DEMO=demo
MODEL=models/demo-dna-mlm
REF=$DEMO/reference.fa.gz
VCF=$DEMO/sample.vcf
POLICY=policy/evidence.conf
GOLDEN=tests/data/golden
# hand-written edge cases on the demo reference (windows touching its
# masked ends: exactly one N, or none)
EDGES=$GOLDEN/edges.vcf
# ---------------------------------------------------

# Scores are bit-for-bit independent of threads and batches, but not of the
# CPU: OpenBLAS picks its sgemm kernels by CPU type, and their rounding
# differs in the last bits (about 1 score in 4 of the demo differs in the
# 6th decimal between the Haswell and SkylakeX kernels).  The expected files
# are made, and compared, with OpenBLAS's Nehalem (SSE) kernels, which every
# x86-64 CPU runs; elsewhere there are no expected files to compare with.
case $(uname -m) in
x86_64) export OPENBLAS_CORETYPE=Nehalem ;;
*) echo "needs hardware: an x86-64 CPU (the golden outputs are made with OpenBLAS's x86-64 Nehalem kernels)"; exit 77 ;;
esac

BIN=${VV_BIN:-$PWD/build}
ADMIN="$BIN/varvault-admin"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
for f in "$MODEL/model.safetensors" "$REF" "$VCF" "$POLICY"; do
	[ -f "$f" ] || fail "missing input $f"
done

annotate() {
	"$ADMIN" annotate -q --model "$MODEL" --reference "$REF" --policy "$POLICY" "$@"
}

# The only varying output: the summary's two timings (seconds as a JSON
# number).  Removed by exact key, nothing else.
strip_timings() {
	sed -E '/^  "(engine|total)_seconds":[0-9.eE+-]+,$/d' "$1"
}

annotate --vcf "$VCF" --threads 1 -o "$T/out.vcf.gz"
annotate --vcf "$VCF" --threads 2 --batch 7 --format json -o "$T/out.json"
annotate --vcf "$VCF" --threads 3 --batch 64 --format tsv -o "$T/out.tsv" --summary-json "$T/summary.raw.json"
annotate --vcf "$EDGES" --threads 2 --format tsv -o "$T/edges.tsv"

# The VCF is BGZF (gzip-compatible); compare its decompressed text, every
# header line and every record (no header line varies between runs).
gzip -t "$T/out.vcf.gz" || fail "VCF output is not gzip/BGZF"
gzip -dc "$T/out.vcf.gz" >"$T/out.vcf"
[ "$(grep -c '^[0-9A-Za-z]' "$T/out.vcf")" -gt 0 ] || fail "VCF output has no records"
strip_timings "$T/summary.raw.json" >"$T/summary.json"
[ "$(grep -c '_seconds' "$T/summary.json")" -eq 0 ] || fail "summary timings not stripped (format changed?)"

if [ "${VV_GOLDEN_REGEN:-0}" = 1 ]; then
	cp "$T/out.vcf" "$T/out.json" "$T/out.tsv" "$T/summary.json" "$T/edges.tsv" "$GOLDEN/"
	chmod 644 "$GOLDEN"/out.vcf "$GOLDEN"/out.json "$GOLDEN"/out.tsv "$GOLDEN"/summary.json "$GOLDEN"/edges.tsv
	echo "wrote $GOLDEN/{out.vcf,out.json,out.tsv,summary.json,edges.tsv}"
	exit 0
fi

bad=0
for f in out.vcf out.json out.tsv summary.json edges.tsv; do
	[ -f "$GOLDEN/$f" ] || fail "missing expected file $GOLDEN/$f (tests/data/golden/regen.sh writes it)"
	if ! cmp -s "$GOLDEN/$f" "$T/$f"; then
		echo "FAIL: $f differs from $GOLDEN/$f:"
		diff -u "$GOLDEN/$f" "$T/$f" | head -n 30 || true
		bad=1
	fi
done
[ $bad -eq 0 ] || exit 1
echo "golden ok: $(grep -vc '^#' "$T/out.vcf") VCF records, JSON, TSV, summary and edge cases match"
