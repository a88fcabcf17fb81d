#!/bin/sh
# Runs each libFuzzer binary for FUZZ_SECONDS over a scratch copy of its seed
# corpus (tests/fuzz/corpus/NAME), so the committed seeds stay small.
set -eu
secs=${FUZZ_SECONDS:-60}
status=0
for bin in "$@"; do
	name=${bin##*/fuzz_}
	work=$(mktemp -d)
	cp -r "tests/fuzz/corpus/$name/." "$work/" 2>/dev/null || true
	echo "fuzz: $name for ${secs}s"
	if ! "$bin" -max_total_time="$secs" -rss_limit_mb=4096 -artifact_prefix="build/fuzz/$name-" "$work" 2>"build/fuzz/$name.log"; then
		echo "fuzz: $name FAILED; see build/fuzz/$name.log and build/fuzz/$name-*" >&2
		status=1
	else
		tail -n 2 "build/fuzz/$name.log"
	fi
	rm -rf "$work"
done
exit $status
