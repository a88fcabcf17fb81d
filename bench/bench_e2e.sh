#!/bin/bash
# End-to-end annotate in variants per CPU-second, with and without a
# precomputed SNV score table (issue 12): the NT-v2-50M-shaped model of
# `make bench` (random weights, 6-mer tokens, 1 kb windows) on the demo
# sample (VV_E2E_VCF), VV_E2E_THREADS model threads (default 1: the figure
# is per core).  The table covers every SNV position of the sample (one
# BED line each), built by `varvault-admin precompute`, whose own rate is
# printed too.  The outputs with and without the table must be identical.
# VV_E2E_BEFORE_BIN: a build folder of an older varvault, run on the same
# input for the "before" figure.  In fp32 it also prints the ceiling: the
# GFLOP of matrix products annotate reports, at the cblas_sgemm peak
# measured in the same run (bench_model, 1 thread), as variants/CPU-s.  VV_E2E_PRECISION (fp32, or bf16 where the
# CPU has it) for annotate and the table; VV_E2E_STRIDE (default 0, the
# PLL) for annotate's --indel-stride.  Prints the CPU's flags beside the
# figures.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${VV_BIN:-$PWD/build}
PYTHON=${PYTHON:-/usr/bin/python3}
VCF=${VV_E2E_VCF:-demo/sample.vcf}
REF=${VV_E2E_REF:-demo/reference.fa.gz}
TH=${VV_E2E_THREADS:-1}
PREC=${VV_E2E_PRECISION:-fp32}
STRIDE=${VV_E2E_STRIDE:-0}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
MODEL=${VV_E2E_MODEL:-}
if [ -z "$MODEL" ]; then
	if ! "$PYTHON" -c 'import torch' 2>/dev/null; then
		echo "bench_e2e: python3-torch missing (it builds the bench model); set VV_E2E_MODEL"
		exit 0
	fi
	"$PYTHON" bench/bench_model.py "$T/m" 1 1 1 1000 >/dev/null
	MODEL=$T/m
fi
. bench/lib.bash
flags=$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -xE 'avx2|fma|avx512f|avx512_bf16|amx_tile|amx_bf16' | tr '\n' ' ')
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(nproc) CPUs; flags: ${flags:-none of avx2/avx512/amx}"
"$BIN/varvault-admin" model info "$MODEL" 2>/dev/null | grep -iE '^(cpu|kernel):' || true
nv=$(grep -vc '^#' "$VCF")
nsnv=$(awk '!/^#/ && length($4) == 1 && length($5) == 1' "$VCF" | wc -l)
echo "input: $VCF, $nv records ($nsnv SNV records, $((nv - nsnv)) others); model $(basename "$MODEL"), threads $TH, precision $PREC, indel stride $STRIDE"
ann() { "$BIN/varvault-admin" annotate --model "$MODEL" --reference "$REF" --vcf "$VCF" --format tsv \
	--threads "$TH" --summary-json "$T/$1.json" -o "$T/$1.tsv" "${@:2}"; }
variants() { "$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["variants"])' "$T/$1.json"; }
gflop() { sed -n 's/.*model: .*, \([0-9.]*\) GFLOP of matrix products.*/\1/p' "$1"; }
report() { # label, cpu seconds, variants, log
	local fw g
	fw=$(sed -n 's/.*model: \([0-9]*\) forwards for \([0-9]*\) masked.*/\1 forwards (\2 masked sequences)/p' "$4")
	g=$(gflop "$4")
	[ -z "$g" ] || fw="$fw, products $g GFLOP ($(awk -v g="$g" -v c="$2" 'BEGIN { printf "%.1f", g / c }') GFLOP per CPU-s)"
	awk -v l="$1" -v c="$2" -v v="$3" -v f="$fw" 'BEGIN { printf "%-26s %6d variants %9.1f CPU s %8.2f variants/CPU-s  %s\n", l, v, c, v / c, f }'
}
# The ceiling: the sgemm peak of this machine (bench_model, one thread, the
# best of the model's projection shapes and a square one), measured after
# the runs (a burst of sgemm just before a run slowed that run on the
# shared build machine), twice, the higher taken.
peak=
sgemm_peak() {
	[ -x "$BIN/bench/bench_model" ] && [ -f "$MODEL/ids.txt" ] || return 0
	local p
	p=$(BENCH_PEAK_ONLY=1 "$BIN/bench/bench_model" "$MODEL" "$MODEL/ids.txt" 1 1 2>/dev/null |
		sed -n 's/^sgemm_gflops=//p')
	peak=$(awk -v a="${peak:-0}" -v b="${p:-0}" 'BEGIN { m = a > b ? a : b; if (m > 0) print m }')
}
before_rate=
if [ -n "${VV_E2E_BEFORE_BIN:-}" ]; then
	c=$(cpu "$T/before.log" "$VV_E2E_BEFORE_BIN/varvault-admin" annotate --model "$MODEL" --reference "$REF" \
		--vcf "$VCF" --format tsv --threads "$TH" --summary-json "$T/before.json" -o "$T/before.tsv")
	report "before ($VV_E2E_BEFORE_BIN)" "$c" "$(variants before)" "$T/before.log"
	before_rate=$(awk -v v="$(variants before)" -v c="$c" 'BEGIN { print v / c }')
fi
c=$(cpu "$T/plain.log" "$BIN/varvault-admin" annotate --model "$MODEL" --reference "$REF" --vcf "$VCF" \
	--format tsv --threads "$TH" --precision "$PREC" --indel-stride "$STRIDE" --summary-json "$T/plain.json" -o "$T/plain.tsv")
report "without table" "$c" "$(variants plain)" "$T/plain.log"
awk '!/^#/ && length($4) == 1 && length($5) == 1 { print $1 "\t" $2 - 1 "\t" $2 }' "$VCF" | sort -u >"$T/snv.bed"
c=$(cpu "$T/pre.log" "$BIN/varvault-admin" precompute --model "$MODEL" --reference "$REF" --regions "$T/snv.bed" \
	--threads "$TH" --precision "$PREC" -o "$T/table.tsv.gz")
sed -n 's/.*precompute: //p' "$T/pre.log" | sed "s/^/precompute ($c CPU s): /"
c=$(cpu "$T/table.log" "$BIN/varvault-admin" annotate --model "$MODEL" --reference "$REF" --vcf "$VCF" \
	--format tsv --threads "$TH" --precision "$PREC" --indel-stride "$STRIDE" --summary-json "$T/table.json" --scores "$T/table.tsv.gz" -o "$T/table.tsv")
report "with table" "$c" "$(variants table)" "$T/table.log"
sed -n 's/.*\(score table: .*\)/  \1/p' "$T/table.log"
cmp -s "$T/plain.tsv" "$T/table.tsv" && echo "outputs with and without the table: identical" ||
	{ echo "outputs with and without the table DIFFER"; exit 1; }
if [ -n "${VV_E2E_BEFORE_BIN:-}" ]; then
	cmp -s "$T/before.tsv" "$T/plain.tsv" && echo "outputs before and now: identical" ||
		echo "outputs before and now differ (expected only if scoring changed)"
fi
g=$(gflop "$T/plain.log")
if [ "$PREC" = fp32 ] && [ -n "$g" ]; then
	sgemm_peak
	sgemm_peak
	# The matrix products alone at the peak: no engine that runs the same
	# products (the same model, windows and forwards) in fp32 sgemm can
	# beat this rate.
	[ -z "$peak" ] || awk -v g="$g" -v p="$peak" -v v="$(variants plain)" -v b="$before_rate" 'BEGIN {
		printf "ceiling without table: %.1f GFLOP at the sgemm peak of this run (%.1f GFLOP/s, 1 thread) take %.1f CPU s: at most %.2f variants/CPU-s", g, p, g / p, v / (g / p)
		if (b != "") printf " (%.2fx the figure before)", v / (g / p) / b
		printf "\n" }'
fi
