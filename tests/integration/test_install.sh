#!/bin/bash
# make install with DESTDIR and PREFIX puts every file where the layout says,
# and the installed programs run.
set -euo pipefail
cd "$(dirname "$0")/../.."
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
make --no-print-directory -s install SANITIZE="${SANITIZE:-0}" DESTDIR="$T" PREFIX=/usr SYSCONFDIR=/etc >/dev/null
for f in usr/bin/varvault usr/sbin/varvault-admin usr/share/man/man1/varvault.1 \
	usr/share/man/man8/varvault-admin.8 usr/share/man/man8/varvaultd.8 usr/share/man/man5/varvaultd.conf.5 etc/varvault/evidence.conf \
	usr/share/varvault/schema/result.schema.json etc/varvault/varvaultd.conf \
	usr/share/varvault/demo/reference.fa.gz usr/share/varvault/demo/sample.vcf; do
	[ -f "$T/$f" ] || fail "$f not installed"
done
[ -x "$T/usr/bin/varvault" ] && [ -x "$T/usr/sbin/varvault-admin" ] || fail "programs not executable"
"$T/usr/bin/varvault" --version | grep -q "^varvault " || fail "installed varvault does not run"
"$T/usr/sbin/varvault-admin" --version | grep -q "^varvault-admin " || fail "installed varvault-admin does not run"
# a local edit of the installed policy survives a second install
echo "# local" >>"$T/etc/varvault/evidence.conf"
make --no-print-directory -s install SANITIZE="${SANITIZE:-0}" DESTDIR="$T" PREFIX=/usr SYSCONFDIR=/etc >/dev/null
grep -q "^# local" "$T/etc/varvault/evidence.conf" || fail "install replaced a local policy"
echo "install ok"
