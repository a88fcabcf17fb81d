#!/bin/bash
# Parity of variant scores (varvault-admin annotate) with PyTorch; see
# tests/parity/scoring.py.
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-/usr/bin/python3}
if ! "$PYTHON" -c 'import torch' 2>/dev/null; then
	echo "python3-torch missing"
	exit 77
fi
if ! command -v samtools >/dev/null; then
	echo "samtools missing (make deps installs it)"
	exit 77
fi
export VV_BIN=${VV_BIN:-$PWD/build}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
exec "$PYTHON" tests/parity/scoring.py
