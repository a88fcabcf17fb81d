#!/bin/bash
# Model engine throughput, the honest anchor: the engine (fp32 on OpenBLAS,
# and bf16 through oneDNN where the CPU has AVX512-BF16 or AMX) against the
# PyTorch installed here, measured in this run on the same random weights,
# batch and thread count, on 1 thread and on all of them; the OpenBLAS
# kernel in use and who chose it; the engine's GFLOP/s against the
# cblas_sgemm peak of this run.  The PyTorch here is Debian's (1.13), much
# slower than the current release: docs/bench.md keeps the figures of
# current PyTorch as the reference.
# Model: Nucleotide-Transformer-v2-50M-like (12 layers, hidden 512, 16 heads,
# intermediate 2048 gated, 6-mer vocabulary of 4107), a batch of
# BENCH_BATCH (32) windows of BENCH_NT (1000) nt.  BENCH_THREADS: the thread
# counts to run (default "1 $(nproc)").
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-/usr/bin/python3}
BIN=${VV_BIN:-$PWD/build}
ALL=$(nproc)
THREADS=${BENCH_THREADS:-1 $ALL}
[ "$ALL" = 1 ] && THREADS=${BENCH_THREADS:-1}
REPEATS=${BENCH_REPEATS:-2}
BATCH=${BENCH_BATCH:-32}
NT=${BENCH_NT:-1000}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
get() { sed -n "s/^$2=//p" "$1" | head -1; }
first=1
for th in $THREADS; do
	export OMP_NUM_THREADS=$th OPENBLAS_NUM_THREADS=$th
	"$PYTHON" bench/bench_model.py "$tmp/m" "$th" "$REPEATS" "$BATCH" "$NT" >"$tmp/torch.txt"
	peak=
	[ $first = 1 ] || peak=BENCH_NO_PEAK=1
	env $peak "$BIN/bench/bench_model" "$tmp/m" "$tmp/m/ids.txt" "$th" "$REPEATS" >"$tmp/c.txt"
	"$BIN/bench/bench_model" "$tmp/m" "$tmp/m/ids.txt" "$th" "$REPEATS" hidden >"$tmp/ch.txt"
	bf=1
	BENCH_NO_PEAK=1 "$BIN/bench/bench_model" "$tmp/m" "$tmp/m/ids.txt" "$th" "$REPEATS" bf16 >"$tmp/cb.txt" 2>"$tmp/cb.err" || bf=0
	if [ $first = 1 ]; then
		peak_v=$(get "$tmp/c.txt" sgemm_gflops)
		echo "cpu: $(get "$tmp/c.txt" cpu) ($(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'))"
		echo "OpenBLAS kernel: $(get "$tmp/c.txt" kernel), chosen by $(get "$tmp/c.txt" kernel_chosen_by) (best for this CPU: $(get "$tmp/c.txt" kernel_best))"
		echo "model: NT-v2-50M-like random weights, batch $BATCH x $NT nt ($(get "$tmp/c.txt" tokens) tokens)"
		printf "cblas_sgemm peak (same run, 1 thread): %.1f GFLOP/s\n" "$peak_v"
		printf "%-8s %-30s %12s %9s %12s %9s %8s\n" threads forward "C tokens/s" "GFLOP/s" "torch tok/s" "C/torch" "%peak*thr"
		first=0
	fi
	awk -v th="$th" -v tok="$(get "$tmp/c.txt" tokens)" -v peak="$peak_v" -v bf="$bf" \
	    -v tv="$(get "$tmp/torch.txt" torch_version)" -v tth="$(get "$tmp/torch.txt" torch_threads)" \
	    -v tl="$(get "$tmp/torch.txt" torch_seconds_logits)" -v thd="$(get "$tmp/torch.txt" torch_seconds_hidden)" \
	    -v cl="$(get "$tmp/c.txt" engine_seconds)" -v chd="$(get "$tmp/ch.txt" engine_seconds)" \
	    -v gl="$(get "$tmp/c.txt" engine_gflops)" -v gh="$(get "$tmp/ch.txt" engine_gflops)" \
	    -v bl="$(get "$tmp/cb.txt" engine_seconds)" -v gb="$(get "$tmp/cb.txt" engine_gflops)" 'BEGIN {
		lab = sprintf("torch %s, %d thr", tv, tth)
		printf "%-8d %-30s %12.0f %9.1f %12.0f %8.2fx %7.1f%%  (%s)\n", th, "fp32 MLM logits at every token", tok/cl, gl, tok/tl, tl/cl, 100*gl/(peak*th), lab
		printf "%-8d %-30s %12.0f %9.1f %12.0f %8.2fx %7.1f%%  (%s)\n", th, "fp32 encoder only", tok/chd, gh, tok/thd, thd/chd, 100*gh/(peak*th), lab
		if (bf == 1)
			printf "%-8d %-30s %12.0f %9.1f %12.0f %8.2fx %8s  (%s; bf16/fp32 %.2fx)\n", th, "bf16 MLM logits at every token", tok/bl, gb, tok/tl, tl/bl, "-", lab, cl/bl
	}'
	[ $bf = 1 ] || echo "         bf16: $(tail -1 "$tmp/cb.err")"
done
echo "reference for current PyTorch (2.11, MKL/oneDNN, Sapphire Rapids): docs/bench.md"
