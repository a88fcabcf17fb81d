#!/bin/bash
# End-to-end interpretation speed: varvault-admin annotate on a synthetic VCF
# of 10,000 variants (88% SNVs, 12% indels, as in a typical call set) over
# the bundled demo reference, with the bundled default model.  Prints
# variants/s and the share of the time spent in the model engine.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${VV_BIN:-$PWD/build}
PYTHON=${PYTHON:-/usr/bin/python3}
MODEL=${VV_BENCH_MODEL:-models/demo-dna-mlm}
N=${VV_BENCH_VARIANTS:-10000}
if [ ! -f "$MODEL/model.safetensors" ]; then
	echo "bench_annotate: no model at $MODEL; skipped"
	exit 0
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
"$PYTHON" bench/make_bench_vcf.py "$T/bench.vcf" "$N"
threads=$(nproc)
"$BIN/varvault-admin" annotate -q --model "$MODEL" --reference demo/reference.fa.gz \
	--vcf "$T/bench.vcf" --format tsv -o "$T/out.tsv" --threads "$threads" --summary-json "$T/s.json"
"$PYTHON" -c '
import json, sys
s = json.load(open(sys.argv[1]))
v, t, e = s["variants"], s["total_seconds"], s["engine_seconds"]
print("annotate: %d variants (%d scored) with %s, %s threads" % (v, s["scored"], sys.argv[2], sys.argv[3]))
print("  end to end  %8.1f variants/s  (%.2f s)" % (v / t, t))
print("  engine      %8.1f %% of the time (%.2f s in the model)" % (100 * e / t, e))
' "$T/s.json" "$MODEL" "$threads"

# bf16 against fp32 on the same variants (CPUs with AVX512-BF16 or AMX):
# how far scores move, their rank correlation, evidence classes changed.
NP=${VV_BENCH_PRECISION_VARIANTS:-2000}
"$PYTHON" bench/make_bench_vcf.py "$T/p.vcf" "$NP"
for p in fp32 bf16; do
	if ! "$BIN/varvault-admin" annotate -q --precision $p --model "$MODEL" --reference demo/reference.fa.gz \
		--vcf "$T/p.vcf" --format tsv -o "$T/$p.tsv" --threads "$threads" --summary-json "$T/$p.json" 2>"$T/err"; then
		echo "bf16 vs fp32: $(tail -1 "$T/err")"
		exit 0
	fi
done
echo "bf16 vs fp32 scores on $NP variants ($MODEL):"
"$PYTHON" bench/compare_scores.py "$T/fp32.tsv" "$T/bf16.tsv" | sed 's/^/  /'
"$PYTHON" -c '
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
print("  end to end: fp32 %.1f, bf16 %.1f variants/s" % (a["variants"] / a["total_seconds"], b["variants"] / b["total_seconds"]))
' "$T/fp32.json" "$T/bf16.json"
