#!/bin/bash
# The indel methods compared (issue 12, item 3): the local
# pseudo-log-likelihood (`--indel-stride 0`, the default: one forward per
# masked token) against the strided one (`--indel-stride N`: the region's
# tokens N apart share a forward; 1 masks the region at once), for each N
# in VV_INDEL_STRIDES (default "1 2 3 4").  VV_INDEL_N indels (default 300) drawn on the demo
# reference by make_bench_vcf.py, scored with MODEL (default: the bundled
# demo model, trained; its single-base tokens give the PLL its most
# forwards) on one thread.  Prints forwards and CPU seconds of each, then
# compare_scores.py's max and mean |delta score|, Spearman rank
# correlation and evidence classes changed.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${VV_BIN:-$PWD/build}
PYTHON=${PYTHON:-/usr/bin/python3}
MODEL=${1:-models/demo-dna-mlm}
N=${VV_INDEL_N:-300}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
. bench/lib.bash
"$PYTHON" bench/make_bench_vcf.py "$T/indels.vcf" "$N" 0
for m in 0 ${VV_INDEL_STRIDES:-1 2 3 4}; do
	c=$(cpu "$T/$m.tsv.log" "$BIN/varvault-admin" annotate --model "$MODEL" --reference demo/reference.fa.gz \
		--vcf "$T/indels.vcf" --format tsv --threads 1 --indel-stride "$m" -o "$T/$m.tsv")
	fw=$(sed -n 's/.*model: \([0-9]*\) forwards.*/\1/p' "$T/$m.tsv.log")
	echo "indel stride $m: $N indels, $fw forwards, $c CPU s (model $(basename "$MODEL"), 1 thread)"
	[ "$m" = 0 ] || "$PYTHON" bench/compare_scores.py "$T/0.tsv" "$T/$m.tsv" | sed "s/^/  stride 0 vs $m: /"
done
