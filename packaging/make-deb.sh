#!/bin/bash
# `make deb`: dpkg-buildpackage -us -uc -b on a clean copy of the working
# tree (tracked files and new ones git does not ignore, as they are now) in
# build/deb/, with packaging/debian as debian/; the .deb and its -dbgsym are
# copied to build/, then lintian checks them (no errors, no warnings).
# Usage: packaging/make-deb.sh [VERSION]   (VERSION: build as that version)
set -euo pipefail
cd "$(dirname "$0")/.."
version=${1:-}
top=$PWD
work=$top/build/deb
rm -rf "$work"
mkdir -p "$work/src"
git ls-files -z --cached --others --exclude-standard |
	(while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done) |
	tar --null -T - -cf - | tar -xf - -C "$work/src"
cp -a packaging/debian "$work/src/debian"
if [ -n "$version" ]; then
	# The same tree as another version: the top changelog entry renamed.
	sed -i "1s/^varvault ([^)]*)/varvault ($version)/" "$work/src/debian/changelog"
fi
ver=$(dpkg-parsechangelog -l "$work/src/debian/changelog" -S Version)
arch=$(dpkg-architecture -q DEB_HOST_ARCH)
(cd "$work/src" && dpkg-buildpackage -us -uc -b -j"$(nproc)") >"$work/build.log" 2>&1 || {
	tail -n 40 "$work/build.log" >&2
	echo "make deb: dpkg-buildpackage failed; the whole log is $work/build.log" >&2
	exit 1
}
deb=varvault_${ver}_${arch}.deb
dbg=varvault-dbgsym_${ver}_${arch}.deb
cp "$work/$deb" "$work/$dbg" build/
echo "built build/$deb and build/$dbg"
# lintian: no errors, no warnings; overrides (with their reasons) live in
# packaging/debian/varvault.lintian-overrides.
lintian --fail-on error,warning --tag-display-limit 0 "$work"/varvault_"${ver}"_"${arch}".changes
echo "lintian: no errors, no warnings"
