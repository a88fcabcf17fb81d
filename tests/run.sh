#!/bin/bash
# Runs every test of `make check` and prints one closing line:
# "N passed, N failed, N skipped".  A test program or script passes with
# exit 0, is skipped with exit 77 (it says why on its last line), and fails
# otherwise.
# With CI=true a skip is a failure: a test whose dependency is missing must
# not pass unnoticed.  Two exceptions, by the skip's last line:
#   "needs hardware: ..."        the test needs hardware this machine lacks;
# Environment: O (build folder), PYTHON, SANITIZE, CI.
set -u
O=${O:-build}
PYTHON=${PYTHON:-/usr/bin/python3}
export O PYTHON
export VV_BIN="$PWD/$O" VV_SRC="$PWD"
pass=0 fail=0 skip=0 failed=()

# A skip that CI accepts: see the top of the file.
skip_allowed_in_ci() {
	case $2 in
	"needs hardware:"*) return 0 ;;
	esac
	return 1
}

run() {
	local name=$1; shift
	local log rc
	log=$(mktemp)
	"$@" >"$log" 2>&1
	rc=$?
	case $rc in
	0) pass=$((pass + 1)); echo "PASS  $name" ;;
	77) if [ "${CI:-}" = true ] && ! skip_allowed_in_ci "$name" "$(tail -n 1 "$log")"; then
		fail=$((fail + 1)); failed+=("$name")
		echo "FAIL  $name (skipped, and CI=true counts a skip as a failure): $(tail -n 1 "$log")"
	else
		skip=$((skip + 1)); echo "SKIP  $name: $(tail -n 1 "$log")"
	fi ;;
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
# The Debian package, last: only as root (chroot, mounts) and in the plain
# run (it builds its own package, so the sanitizer run would repeat it).
# It takes minutes (tests/package/test_deb.sh says what it does).
if [ "$(id -u)" -eq 0 ] && [ "${SANITIZE:-0}" != 1 ]; then
	for t in tests/package/*.sh; do
		[ -f "$t" ] && run "package/${t##*/}" bash "$t"
	done
fi

echo
if [ ${#failed[@]} -gt 0 ]; then
	echo "failed: ${failed[*]}"
fi
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
