#!/bin/bash
# Rewrites the golden outputs of tests/integration/test_golden.sh from the
# current build (run `make` first).  Review the diff before committing: a
# change is only right when the change in scoring or output was meant.
set -euo pipefail
cd "$(dirname "$0")/../../.."
VV_GOLDEN_REGEN=1 exec bash tests/integration/test_golden.sh
