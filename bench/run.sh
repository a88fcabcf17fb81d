#!/bin/bash
# `make bench`: runs every bench/bench_*.sh in turn.  Each prints its figures
# and its ratio against a reference measured in the same run.
#
# This machine's environment may set OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE,
# which force slower OpenBLAS kernels; the benchmarks unset both together
# (tests and CI leave them alone).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${OPENBLAS_CORETYPE:-}${OPENBLAS_L2_SIZE:-}" ]; then
	echo "bench: unsetting OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-} and OPENBLAS_L2_SIZE=${OPENBLAS_L2_SIZE:-} for these runs"
	unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE
fi
export VV_BIN="$PWD/build" PYTHON=${PYTHON:-/usr/bin/python3}
status=0
for b in bench/bench_*.sh; do
	[ -f "$b" ] || continue
	echo "== ${b##*/}"
	bash "$b" || status=1
done
exit $status
