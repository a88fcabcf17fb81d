#!/bin/bash
# Validation on the GA4GH VCF conformance files (tests/data/vcf-conformance,
# never copied here).  Fails when
#   - a file the specification calls valid is refused;
#   - an invalid file is accepted silently (no warning beyond UNDECLARED);
#   - an outcome differs from tests/data/vcf/conformance_expected.tsv (the
#     policy, docs/vcf.md: refuse what varvault interprets, warn the rest).
# Prints the agreement figures and the table of invalid files varvault
# accepts with warnings, by reason.
set -u
O=${O:-build}
TOOL="${VV_BIN:-$PWD/$O}/tests/helpers/vcf_tool"
DIR="${VV_SRC:-$PWD}/tests/data/vcf-conformance"
EXP="${VV_SRC:-$PWD}/tests/data/vcf/conformance_expected.tsv"

[ -f "$DIR/MANIFEST.tsv" ] || { echo "no conformance folder at $DIR (tests/data/PROVENANCE-shared.md)"; exit 77; }
[ -x "$TOOL" ] || { echo "missing $TOOL"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

(cd "$DIR" && "$TOOL" validate *.vcf) >"$tmp/out.tsv" || { echo "vcf_tool failed"; exit 1; }

"${PYTHON:-python3}" - "$DIR/MANIFEST.tsv" "$tmp/out.tsv" "$EXP" <<'EOF'
import collections, re, sys
manifest, out, exp = sys.argv[1:4]
spec, what = {}, {}
for line in open(manifest):
    f = line.rstrip("\n").split("\t")
    if f[0] == "file":
        continue
    spec[f[0]] = f[1]
    what[f[0]] = f[4]
got = {}
for line in open(out):
    name, verdict, kinds, detail = (line.rstrip("\n").split("\t") + ["", ""])[:4]
    if verdict == "REFUSE":
        m = re.search(r"field ([^:]+):", detail)
        key = m.group(1) if m else "input"
    else:
        k = [x for x in kinds.split(",") if x not in ("UNDECLARED", "-")]
        key = ",".join(k) if k else "-"
    got[name] = (verdict, key, detail)
expected = {}
for line in open(exp):
    if line.startswith("#") or not line.strip():
        continue
    f = line.rstrip("\n").split("\t")
    expected[f[0]] = (f[1], f[2])

bad = []
missing = sorted(set(spec) - set(got))
if missing:
    bad.append("no result for %d files, e.g. %s" % (len(missing), missing[0]))
n_ok = sum(1 for f in spec if spec[f] == "ok")
n_fail = len(spec) - n_ok
ok_acc = sum(1 for f in spec if spec[f] == "ok" and got.get(f, ("",))[0] == "ACCEPT")
refused = [f for f in spec if spec[f] == "fail" and got.get(f, ("",))[0] == "REFUSE"]
warned = [f for f in spec if spec[f] == "fail" and got.get(f, ("",))[0] == "ACCEPT" and got[f][1] != "-"]
silent = [f for f in spec if spec[f] == "fail" and got.get(f, ("",))[0] == "ACCEPT" and got[f][1] == "-"]
for f in spec:
    if spec[f] == "ok" and got.get(f, ("",))[0] != "ACCEPT":
        bad.append("valid file refused: %s: %s" % (f, got.get(f, ("", "", "?"))[2]))
for f in silent:
    bad.append("invalid file accepted without a warning: %s (%s)" % (f, what[f]))
for f in sorted(spec):
    if f in got and f in expected and got[f][:2] != expected[f]:
        bad.append("%s: expected %s %s, got %s %s" % (f, expected[f][0], expected[f][1], got[f][0], got[f][1]))
    if f not in expected:
        bad.append("%s: not in %s" % (f, exp))

print("valid files accepted:            %d/%d" % (ok_acc, n_ok))
print("invalid files refused:           %d/%d" % (len(refused), n_fail))
print("invalid files accepted, warned:  %d/%d" % (len(warned), n_fail))
print("invalid files accepted silently: %d/%d" % (len(silent), n_fail))
print("agreement with the policy (valid accepted, invalid refused or warned): %d/%d = %.1f%%" % (
    ok_acc + len(refused) + len(warned), len(spec), 100.0 * (ok_acc + len(refused) + len(warned)) / len(spec)))
print("agreement with the suite's verdict alone (valid accepted, invalid refused): %d/%d = %.1f%%" % (
    ok_acc + len(refused), len(spec), 100.0 * (ok_acc + len(refused)) / len(spec)))
print("\nrefused, by field:")
for k, n in collections.Counter(got[f][1] for f in refused).most_common():
    print("  %-14s %d" % (k, n))
print("\ninvalid files accepted with warnings (the disagreements), by warning kinds:")
for k, n in sorted(collections.Counter(got[f][1] for f in warned).items(), key=lambda x: -x[1]):
    ex = [f for f in warned if got[f][1] == k][:2]
    print("  %-32s %3d  e.g. %s" % (k, n, "; ".join(what[e] for e in ex)))
if bad:
    print("\nFAILURES:")
    for b in bad[:60]:
        print("  " + b)
    sys.exit(1)
EOF
