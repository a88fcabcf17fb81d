#!/bin/bash
# Runs every test of `make check` and prints one closing line:
# "N passed, N failed, N skipped".  A test program or script passes with
# exit 0, is skipped with exit 77 (it says why), and fails otherwise.
# Environment: O (build folder), PYTHON, SANITIZE.
set -u
O=${O:-build}
PYTHON=${PYTHON:-/usr/bin/python3}
export O PYTHON
export VV_BIN="$PWD/$O" VV_SRC="$PWD" VV_SHARED="$PWD/../shared"
pass=0 fail=0 skip=0 failed=()

run() {
	local name=$1; shift
	local log rc
	log=$(mktemp)
	"$@" >"$log" 2>&1
	rc=$?
	case $rc in
	0) pass=$((pass + 1)); echo "PASS  $name" ;;
	77) skip=$((skip + 1)); echo "SKIP  $name: $(tail -n 1 "$log")" ;;
	*) fail=$((fail + 1)); failed+=("$name"); echo "FAIL  $name (exit $rc)"; sed 's/^/    /' "$log" | tail -n 60 ;;
	esac
	rm -f "$log"
}

for t in "$O"/tests/test_*; do
	[ -x "$t" ] && run "unit/${t##*/}" "$t"
done
for t in "$O"/tests/replay_fuzz_*; do
	[ -x "$t" ] || continue
	name=${t##*/replay_fuzz_}
	run "fuzz-corpus/$name" "$t" "tests/fuzz/corpus/$name"
done
for t in tests/integration/*.sh; do
	[ -f "$t" ] && run "integration/${t##*/}" bash "$t"
done
for t in tests/parity/run_*.sh; do
	[ -f "$t" ] && run "parity/${t##*/}" bash "$t"
done

echo
if [ ${#failed[@]} -gt 0 ]; then
	echo "failed: ${failed[*]}"
fi
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
