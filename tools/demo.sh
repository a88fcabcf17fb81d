#!/bin/bash
# `make demo`: the main job on the bundled defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "demo: nothing to run yet"
