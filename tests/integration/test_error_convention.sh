#!/bin/bash
# The error convention of STYLE.md rules 6 and 8, kept by a scan of src/
# and include/: no function returns a bare `-1` (which equals VV_ERR_NOMEM,
# so an "absent" -1 reads as out of memory and the reverse); and the one
# cleanup label is `out:` (no other label, no goto to another).
#
# ALLOW lists the functions that may still `return -1;` and the labels other
# than `out` that may still appear, each with why.  Ideally empty.  An entry
# no longer needed is reported (not failed), so that fixing the code and
# emptying the list can land in either order.
set -euo pipefail
cd "$(dirname "$0")/../.."

ALLOW=(
)

# scan FILE...: prints "file:line: what" for each violation.
scan() {
	awk -v allow=" ${ALLOW[*]} " '
	FNR == 1 { fn = "" }
	# a function definition starts at column 0: "type name(" without ";"
	/^[A-Za-z_][A-Za-z0-9_ \t\*]*[ \t\*][A-Za-z_][A-Za-z0-9_]*\(/ && !/;[ \t]*$/ {
		s = $0
		sub(/\(.*/, "", s)
		n = split(s, w, /[ \t\*]+/)
		fn = w[n]
	}
	/^[ \t]*(#|\/\/|\*|\/\*)/ { next }
	/return[ \t]*\(?[ \t]*-[ \t]*1[ \t]*\)?[ \t]*;/ {
		if (index(allow, " " fn " ") == 0)
			printf "%s:%d: %s returns a bare -1 (use a VV_ERR_* code, or bool and an out parameter)\n", FILENAME, FNR, (fn == "" ? "code" : fn)
		else
			used[fn] = 1
	}
	/^[ \t]*[A-Za-z_][A-Za-z0-9_]*:([ \t].*)?$/ && !/^[ \t]*default:/ && !/^[ \t]*[A-Za-z_][A-Za-z0-9_]*::/ {
		l = $0
		sub(/^[ \t]*/, "", l)
		sub(/:.*/, "", l)
		if (l != "out") {
			if (index(allow, " " l " ") == 0)
				printf "%s:%d: label %s: (the one cleanup label is out:)\n", FILENAME, FNR, l
			else
				used[l] = 1
		}
	}
	/goto[ \t]+[A-Za-z_][A-Za-z0-9_]*[ \t]*;/ {
		g = $0
		sub(/.*goto[ \t]+/, "", g)
		sub(/[ \t]*;.*/, "", g)
		if (g != "out" && index(allow, " " g " ") == 0)
			printf "%s:%d: goto %s (the one cleanup label is out:)\n", FILENAME, FNR, g
	}
	END {
		for (k in used)
			printf "%s\n", k > "/dev/stderr"
	}' "$@"
}

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

# The scan must catch what it is for: a planted bare -1, a fail: label and
# a goto to it, and pass the same code written the right way.
cat >"$T/bad.c" <<'EOF'
static int pick(const char *s)
{
	if (!s)
		return -1;
	return 0;
}

int vv_thing_new(void **out)
{
	int rc = 0;

	if (!out)
		goto fail;
	return 0;
fail:
	return rc;
}
EOF
cat >"$T/good.c" <<'EOF'
/* return -1; in a comment is not code */
static bool pick(const char *s, int *out)
{
	switch (*s) {
	case 'A': *out = 0; return true;
	default: return false;
	}
}

int vv_thing_new(void **out)
{
	int rc = 0;

	if (!out)
		goto out;
out:
	return rc;
}
EOF
bad=$(scan "$T/bad.c" 2>/dev/null)
for want in "pick returns a bare -1" "label fail:" "goto fail"; do
	grep -q "$want" <<<"$bad" || { echo "FAIL: the scan misses '$want' in a planted file:"; echo "$bad"; exit 1; }
done
good=$(scan "$T/good.c" 2>/dev/null)
[ -z "$good" ] || { echo "FAIL: the scan flags correct code:"; echo "$good"; exit 1; }

files=$(find src include -name '*.[ch]' | sort)
# shellcheck disable=SC2086
out=$(scan $files 2>"$T/used")
for a in "${ALLOW[@]}"; do
	grep -qx "$a" "$T/used" || echo "note: allowlist entry $a is no longer needed; remove it"
done
if [ -n "$out" ]; then
	echo "$out"
	echo "FAIL: the error convention is broken (STYLE.md rules 6 and 8; docs/architecture.md)"
	exit 1
fi
echo "error convention ok: no bare -1, one cleanup label (out:), $(wc -w <<<"$files") files"
