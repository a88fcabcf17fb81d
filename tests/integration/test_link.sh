#!/bin/bash
# Each program links only what its own commands need: the client, varvault,
# runs without OpenBLAS, htslib or SQLite (DESIGN.md's small
# client; it speaks the JSON protocol, so json-c stays), as `readelf -d` shows; varvault-admin, which runs the model and
# reads VCFs, does need OpenBLAS and htslib (so the check below can fail).
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${VV_BIN:-$PWD/build}
command -v readelf >/dev/null || { echo "readelf missing (binutils)"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }

needed() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; }

client=$(needed "$BIN/varvault")
[ -n "$client" ] || fail "readelf lists nothing for varvault"
for lib in libopenblas libblas libhts libsqlite3 libsystemd libseccomp; do
	if grep -q "^$lib" <<<"$client"; then
		fail "varvault needs $(grep "^$lib" <<<"$client"): $(tr '\n' ' ' <<<"$client")"
	fi
done
admin=$(needed "$BIN/varvault-admin")
for lib in libopenblas libhts; do
	grep -q "^$lib" <<<"$admin" || fail "varvault-admin does not need $lib: the check sees nothing"
done
echo "ok: varvault needs $(tr '\n' ' ' <<<"$client")"
