#!/bin/bash
# Parity of the C model engine with PyTorch reference models (tests/lib/hfref.py)
# on random weights generated in this run; see tests/parity/parity.py.
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-/usr/bin/python3}
if ! "$PYTHON" -c 'import torch, numpy' 2>/dev/null; then
	echo "python3-torch or python3-numpy missing"
	exit 77
fi
export VV_BIN=${VV_BIN:-$PWD/build}
# Small models: keep torch to the CI's two cores.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
exec "$PYTHON" tests/parity/parity.py
