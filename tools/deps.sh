#!/bin/sh
# Installs the Debian packages listed in packaging/deps.txt that are missing.
# As root it runs apt-get; otherwise it prints the exact command and fails,
# so that a fresh machine needs nothing but `make demo` or `make check`.
set -eu
list=${1:-packaging/deps.txt}
missing=""
for pkg in $(grep -v '^#' "$list" | awk 'NF {print $1}'); do
	status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
	[ "$status" = installed ] || missing="$missing $pkg"
done
[ -z "$missing" ] && exit 0
echo "varvault: missing Debian packages:$missing" >&2
if [ "$(id -u)" -ne 0 ]; then
	echo "varvault: run as root:  apt-get install -y --no-install-recommends$missing" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing
