#!/bin/bash
# The audit log: appends per second in per-action transactions, and the
# offline verify of a 1,000,000-record log (goal < 10 s).
set -euo pipefail
cd "$(dirname "$0")/.."
"${VV_BIN:-build}/bench/bench_audit" "${AUDIT_VERIFY_RECORDS:-1000000}" "${AUDIT_APPENDS:-2000}"
