#!/bin/bash
# End-to-end annotate in variants per CPU-second, with and without a
# precomputed SNV score table (issue 12): the NT-v2-50M-shaped model of
# `make bench` (random weights, 6-mer tokens, 1 kb windows) on the demo
# sample (VV_E2E_VCF), VV_E2E_THREADS model threads (default 1: the figure
# is per core).  The table covers every SNV position of the sample (one
# BED line each), built by `varvault-admin precompute`, whose own rate is
# printed too.  The outputs with and without the table must be identical.
#
# The figure before issue 12 is measured in the same run: the build of
# commit VV_E2E_BEFORE (default 3877c61, the tree before the issue; "none"
# skips it) is made from this checkout's history in a temporary folder,
# or VV_E2E_BEFORE_BIN names a build folder to use instead.  Each
# precision (VV_E2E_PRECISION: default fp32, then bf16 where the CPU has
# AVX512-BF16 or AMX) prints its ratio to that figure.  In fp32 it also
# prints the ceiling: the GFLOP of matrix products annotate reports, at
# the cblas_sgemm peak measured at the end of the same run (bench_model,
# 1 thread), as variants per CPU-second.  VV_E2E_STRIDE (default 0, the
# PLL) is annotate's --indel-stride.  The CPU's flags are printed beside.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${VV_BIN:-$PWD/build}
PYTHON=${PYTHON:-/usr/bin/python3}
VCF=${VV_E2E_VCF:-demo/sample.vcf}
REF=${VV_E2E_REF:-demo/reference.fa.gz}
TH=${VV_E2E_THREADS:-1}
STRIDE=${VV_E2E_STRIDE:-0}
BEFORE=${VV_E2E_BEFORE:-3877c61}
before_label=
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
if [ -n "${VV_E2E_PRECISION:-}" ]; then
	precs=$VV_E2E_PRECISION
elif grep -qwE 'avx512_bf16|amx_bf16' /proc/cpuinfo; then
	precs="fp32 bf16"
else
	precs=fp32
fi
nv=$(grep -vc '^#' "$VCF")
nsnv=$(awk '!/^#/ && length($4) == 1 && length($5) == 1' "$VCF" | wc -l)
echo "input: $VCF, $nv records ($nsnv SNV records, $((nv - nsnv)) others); model $(basename "$MODEL"), threads $TH, precisions $precs, indel stride $STRIDE"

variants() { "$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["variants"])' "$T/$1.json"; }
gflop() { sed -n 's/.*model: .*, \([0-9.]*\) GFLOP of matrix products.*/\1/p' "$1"; }
report() { # label, cpu seconds, variants, log
	local fw g
	fw=$(sed -n 's/.*model: \([0-9]*\) forwards for \([0-9]*\) masked.*/\1 forwards (\2 masked sequences)/p' "$4")
	g=$(gflop "$4")
	[ -z "$g" ] || fw="$fw, products $g GFLOP ($(awk -v g="$g" -v c="$2" 'BEGIN { printf "%.1f", g / c }') GFLOP per CPU-s)"
	awk -v l="$1" -v c="$2" -v v="$3" -v f="$fw" 'BEGIN { printf "%-26s %6d variants %9.1f CPU s %8.2f variants/CPU-s  %s\n", l, v, c, v / c, f }'
}
# annotate NAME BIN ARGS...: one annotate run, its CPU seconds in $c
annotate() {
	local name=$1 bin=$2
	shift 2
	c=$(cpu "$T/$name.log" "$bin/varvault-admin" annotate --model "$MODEL" --reference "$REF" --vcf "$VCF" \
		--format tsv --threads "$TH" --summary-json "$T/$name.json" -o "$T/$name.tsv" "$@")
}

# The build before the issue, from this checkout's history.
if [ -z "${VV_E2E_BEFORE_BIN:-}" ] && [ "$BEFORE" != none ]; then
	if git rev-parse -q --verify "$BEFORE^{commit}" >/dev/null 2>&1; then
		mkdir "$T/before-src"
		git archive "$BEFORE" | tar -x -C "$T/before-src"
		if make -C "$T/before-src" -j"$(nproc)" SANITIZE=0 build/varvault-admin >"$T/before-build.log" 2>&1; then
			VV_E2E_BEFORE_BIN=$T/before-src/build
			before_label=$BEFORE
		else
			echo "before: building $BEFORE failed (tail of its log:)"
			tail -5 "$T/before-build.log"
		fi
	else
		echo "before: commit $BEFORE is not in this checkout's history; no figure before"
	fi
fi
before_rate=
if [ -n "${VV_E2E_BEFORE_BIN:-}" ]; then
	annotate before "$VV_E2E_BEFORE_BIN"
	report "before (${before_label:-$VV_E2E_BEFORE_BIN}, fp32)" "$c" "$(variants before)" "$T/before.log"
	before_rate=$(awk -v v="$(variants before)" -v c="$c" 'BEGIN { print v / c }')
fi
awk '!/^#/ && length($4) == 1 && length($5) == 1 { print $1 "\t" $2 - 1 "\t" $2 }' "$VCF" | sort -u >"$T/snv.bed"
# against RATE: "  (R x the figure before)" when there is one
against() {
	[ -n "$before_rate" ] || return 0
	awk -v r="$1" -v b="$before_rate" 'BEGIN { printf "  %.2fx the figure before\n", r / b }'
}
status=0
for PREC in $precs; do
	echo "-- $PREC"
	annotate "plain-$PREC" "$BIN" --precision "$PREC" --indel-stride "$STRIDE"
	report "without table" "$c" "$(variants "plain-$PREC")" "$T/plain-$PREC.log"
	against "$(awk -v v="$(variants "plain-$PREC")" -v c="$c" 'BEGIN { print v / c }')"
	c=$(cpu "$T/pre-$PREC.log" "$BIN/varvault-admin" precompute --model "$MODEL" --reference "$REF" \
		--regions "$T/snv.bed" --threads "$TH" --precision "$PREC" -o "$T/table-$PREC.tsv.gz")
	sed -n 's/.*precompute: //p' "$T/pre-$PREC.log" | sed "s/^/precompute ($c CPU s): /"
	annotate "table-$PREC" "$BIN" --precision "$PREC" --indel-stride "$STRIDE" --scores "$T/table-$PREC.tsv.gz"
	report "with table" "$c" "$(variants "table-$PREC")" "$T/table-$PREC.log"
	sed -n 's/.*\(score table: .*\)/  \1/p' "$T/table-$PREC.log"
	if cmp -s "$T/plain-$PREC.tsv" "$T/table-$PREC.tsv"; then
		echo "outputs with and without the table: identical"
	else
		echo "outputs with and without the table DIFFER"
		status=1
	fi
	if [ "$PREC" = fp32 ] && [ -n "$before_rate" ]; then
		cmp -s "$T/before.tsv" "$T/plain-fp32.tsv" && echo "outputs before and now: identical" ||
			echo "outputs before and now differ (expected only if scoring changed)"
	fi
done

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
if [ -f "$T/plain-fp32.log" ] && g=$(gflop "$T/plain-fp32.log") && [ -n "$g" ]; then
	sgemm_peak
	sgemm_peak
	# The matrix products alone at the peak: no engine that runs the same
	# products (the same model, windows and forwards) in fp32 sgemm can
	# beat this rate.
	[ -z "$peak" ] || awk -v g="$g" -v p="$peak" -v v="$(variants plain-fp32)" -v b="$before_rate" 'BEGIN {
		printf "fp32 ceiling without table: %.1f GFLOP at the sgemm peak of this run (%.1f GFLOP/s, 1 thread) take %.1f CPU s: at most %.2f variants/CPU-s", g, p, g / p, v / (g / p)
		if (b != "") printf " (%.2fx the figure before)", v / (g / p) / b
		printf "\n" }'
fi
exit $status
