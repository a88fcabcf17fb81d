#!/bin/bash
# Soak: kill -9 varvaultd 1,000 times (VV_KILLS to change) while jobs run;
# every job must end with the bytes of an uninterrupted run, and no upload or
# spool file may be left behind.  Takes hours on a small machine; not part
# of `make bench`.  Run from the source tree after `make`.
set -euo pipefail
cd "$(dirname "$0")/.."
VV_KILLS=${VV_KILLS:-1000} exec bash tests/integration/test_daemon_crash.sh
