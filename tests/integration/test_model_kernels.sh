#!/bin/bash
# Bit-for-bit results whatever the batch, the thread count and the rows a
# forward keeps (test_model: bitwise, trimmed and bf16 tests), and the row
# tile each OpenBLAS kernel is given (test_kernel: row_align), under every
# OpenBLAS kernel this CPU can run, not only the one the environment picks:
# the engine sizes its calls by the kernel in use (src/model/kernel.c,
# vv_model_kernel_row_align), so each kernel's tile must be checked on its
# own.  OPENBLAS_CORETYPE chooses the kernel for each run.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${VV_BIN:-$PWD/build}
flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
has() { for f in "$@"; do [[ $flags == *" $f "* ]] || return 1; done; }
cores=(Prescott)
has avx && cores+=(Sandybridge)
has avx2 fma && cores+=(Haswell Zen)
has avx512f avx512cd avx512bw avx512dq avx512vl && cores+=(SkylakeX)
has avx512f avx512cd avx512bw avx512dq avx512vl avx512_bf16 && cores+=(Cooperlake)
for core in "${cores[@]}"; do
	for t in test_kernel test_model; do
		log=$(mktemp)
		if ! env OPENBLAS_CORETYPE="$core" "$BIN/tests/$t" >"$log" 2>&1; then
			echo "FAIL: $t under OpenBLAS $core"
			tail -n 30 "$log"
			rm -f "$log"
			exit 1
		fi
		grep -q "kernel $core, tile" "$log" || [ "$t" != test_kernel ] || {
			echo "FAIL: OPENBLAS_CORETYPE=$core did not select that kernel: $(grep -m1 'kernel ' "$log")"
			rm -f "$log"
			exit 1
		}
		rm -f "$log"
	done
	echo "ok: OpenBLAS $core"
done
echo "kernels checked: ${cores[*]}"
