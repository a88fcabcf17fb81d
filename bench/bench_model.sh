#!/bin/bash
# Model engine throughput against PyTorch on the same random weights, same
# batch and same thread count, plus the engine's GFLOP/s as a share of the
# cblas_sgemm peak measured in this run.
# Model: Nucleotide-Transformer-v2-50M-like (12 layers, hidden 512, 16 heads,
# intermediate 2048 gated, 6-mer vocabulary of 4107), a batch of
# BENCH_BATCH (32) windows of BENCH_NT (1000) nt.  BENCH_THREADS (default 1).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-/usr/bin/python3}
BIN=${VV_BIN:-$PWD/build}
THREADS=${BENCH_THREADS:-1}
REPEATS=${BENCH_REPEATS:-2}
BATCH=${BENCH_BATCH:-32}
NT=${BENCH_NT:-1000}
export OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=$THREADS
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$PYTHON" bench/bench_model.py "$tmp/m" "$THREADS" "$REPEATS" "$BATCH" "$NT" >"$tmp/torch.txt"
"$BIN/bench/bench_model" "$tmp/m" "$tmp/m/ids.txt" "$THREADS" "$REPEATS" >"$tmp/c.txt"
"$BIN/bench/bench_model" "$tmp/m" "$tmp/m/ids.txt" "$THREADS" "$REPEATS" hidden >"$tmp/ch.txt"
get() { sed -n "s/^$2=//p" "$1"; }
tokens=$(get "$tmp/c.txt" tokens)
awk -v tok="$tokens" -v th="$THREADS" -v b="$BATCH" -v nt="$NT" \
    -v tl="$(get "$tmp/torch.txt" torch_seconds_logits)" -v thd="$(get "$tmp/torch.txt" torch_seconds_hidden)" \
    -v cl="$(get "$tmp/c.txt" engine_seconds)" -v chd="$(get "$tmp/ch.txt" engine_seconds)" \
    -v gl="$(get "$tmp/c.txt" engine_gflops)" -v gh="$(get "$tmp/ch.txt" engine_gflops)" \
    -v peak="$(get "$tmp/c.txt" sgemm_gflops)" -v tv="$(get "$tmp/torch.txt" torch_version)" 'BEGIN {
	printf "model: NT-v2-50M-like random weights, batch %d x %d nt (%d tokens), %d thread(s), torch %s\n", b, nt, tok, th, tv
	printf "cblas_sgemm peak (same run): %.1f GFLOP/s\n", peak
	printf "%-34s %12s %12s %7s %9s %8s\n", "forward", "C tokens/s", "torch tok/s", "C/torch", "C GFLOP/s", "% peak"
	printf "%-34s %12.0f %12.0f %6.2fx %9.1f %7.1f%%\n", "MLM logits at every token", tok/cl, tok/tl, tl/cl, gl, 100*gl/peak
	printf "%-34s %12.0f %12.0f %6.2fx %9.1f %7.1f%%\n", "encoder only (hidden states)", tok/chd, tok/thd, thd/chd, gh, 100*gh/peak
}'
