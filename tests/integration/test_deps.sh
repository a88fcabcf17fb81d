#!/bin/bash
# make deps: every package of packaging/deps.txt is installed (make check
# ran it first), and a non-root user with a package missing gets the exact
# apt-get line and a failure, not an attempt to install.
set -euo pipefail
cd "$(dirname "$0")/../.."
fail() { echo "FAIL: $*"; exit 1; }
sh tools/deps.sh packaging/deps.txt || fail "packages of packaging/deps.txt are missing after make deps"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
printf '# test list\nbash build\nvarvault-no-such-package test\n' >"$T/list"
chmod 755 "$T" && chmod 644 "$T/list"
# as a non-root user: ourselves, or nobody when we are root
if [ "$(id -u)" -ne 0 ]; then
	as_user=()
elif command -v setpriv >/dev/null; then
	as_user=(setpriv --reuid=65534 --regid=65534 --clear-groups)
else
	echo "root without setpriv (util-linux): cannot run the non-root case"
	exit 77
fi
set +e
out=$("${as_user[@]}" sh tools/deps.sh "$T/list" 2>&1)
rc=$?
set -e
[ $rc -ne 0 ] || fail "non-root with a missing package exited 0"
echo "$out" | grep -q "apt-get install -y --no-install-recommends varvault-no-such-package" ||
	fail "no apt-get line for the missing package: $out"
echo "$out" | grep -q "bash" && fail "an installed package was listed as missing: $out"
echo "deps ok"
