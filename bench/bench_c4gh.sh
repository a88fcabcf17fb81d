#!/bin/bash
# Crypt4GH decryption throughput against raw libsodium ChaCha20-Poly1305
# (IETF) on the same bytes, in the same run (bench/bench_c4gh.c).
# BENCH_C4GH_MIB and BENCH_C4GH_REPEATS size the run.
set -euo pipefail
bin=${VV_BIN:-build}/bench/bench_c4gh
if [ ! -x "$bin" ]; then
	echo "bench_c4gh: $bin not built (make bench builds it)" >&2
	exit 1
fi
"$bin" "${BENCH_C4GH_MIB:-64}" "${BENCH_C4GH_REPEATS:-9}"
