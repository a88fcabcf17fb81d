#!/bin/bash
# varvault-admin annotate end to end on the bundled demo reference and VCF
# with a small random model: the three formats, JSON against the schema,
# the VCF through bcftools, identical bytes whatever the batch size and
# thread count, and clear errors that leave no output behind.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${VV_BIN:-$PWD/build}
PYTHON=${PYTHON:-/usr/bin/python3}
ADMIN="$BIN/varvault-admin"
for tool in bcftools; do
	command -v $tool >/dev/null || { echo "$tool missing (make deps installs it)"; exit 77; }
done
"$PYTHON" -c 'import torch, jsonschema' 2>/dev/null || { echo "python3-torch or python3-jsonschema missing"; exit 77; }

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$PYTHON" - "$T/model" <<'EOF'
import sys
sys.path.insert(0, "tests/lib")
import hfref
v = hfref.char_vocab()
c = hfref.make_config("esm", "mlm", v, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                      intermediate_size=64, max_position_embeddings=130, tie_word_embeddings=False,
                      name="annotate-test")
hfref.save_hf(sys.argv[1], hfref.randomize(hfref.build(c), seed=5), c, v)
EOF
REF=demo/reference.fa.gz
VCF=demo/sample.vcf
run() { "$ADMIN" annotate -q --model "$T/model" --reference $REF "$@"; }

# --help and usage errors
"$ADMIN" annotate --help | grep -q -- "--reference FASTA" || fail "--help"
set +e
"$ADMIN" annotate --model "$T/model" 2>"$T/err"; rc=$?
set -e
[ $rc -eq 2 ] || fail "missing arguments: exit $rc, want 2"
grep -q "required" "$T/err" || fail "missing arguments message"
# sizes start with a digit: strtoull would skip the space and make " -1" SIZE_MAX
for opt in --max-input --batch --window; do
	set +e
	"$ADMIN" annotate --model "$T/model" --reference demo/reference.fa.gz --vcf demo/sample.vcf \
		$opt " -1" -o "$T/neg.out" 2>"$T/err"; rc=$?
	set -e
	[ $rc -eq 2 ] || fail "$opt ' -1': exit $rc, want 2"
	grep -q "expected a positive number" "$T/err" || fail "$opt ' -1': $(cat "$T/err")"
	[ ! -e "$T/neg.out" ] || fail "$opt ' -1' wrote an output"
done

# the three formats
run --vcf $VCF --format json -o "$T/out.json"
run --vcf $VCF --format tsv -o "$T/out.tsv"
run --vcf $VCF -o "$T/out.vcf.gz"
"$PYTHON" - "$T/out.json" docs/schema/result.schema.json <<'EOF' || fail "JSON schema"
import json, sys, jsonschema
doc = json.load(open(sys.argv[1]))
jsonschema.validate(doc, json.load(open(sys.argv[2])))
v = doc["variants"]
assert doc["summary"]["variants"] == len(v)
assert doc["summary"]["scored"] + doc["summary"]["not_scored"] == len(v)
st = {x["status"] for x in v}
for want in ("scored", "symbolic", "breakend", "star", "ref_block", "ref_mismatch"):
    assert want in st, want
assert doc["provenance"]["policy"]["calibrated"] is False
assert all(x["calibrated"] is False for x in v)
print("json ok:", len(v), "variants")
EOF

# VCF: bcftools reads it, and the records agree with the JSON
bcftools view -h "$T/out.vcf.gz" | grep -q '^##varvault_model=<Name="annotate-test",SHA256=' || fail "model provenance"
bcftools view -h "$T/out.vcf.gz" | grep -q '^##varvault_reference=<Name="reference.fa.gz",MD5=[0-9a-f]\{32\}>' || fail "reference provenance"
bcftools view -h "$T/out.vcf.gz" | grep -q '^##varvault_policy=.*SHA256=[0-9a-f]\{64\}' || fail "policy provenance"
bcftools view -h "$T/out.vcf.gz" | grep -q '^##varvault_calibration=UNCALIBRATED' || fail "uncalibrated header"
bcftools query -f '%CHROM\t%POS\t%REF\t%ALT\t%INFO/VV_LLR\t%INFO/VV_STATUS\n' "$T/out.vcf.gz" >"$T/q.tsv"
[ "$(wc -l <"$T/q.tsv")" -eq "$(grep -vc '^#' "$T/out.tsv" | awk '{print $1 - 1}')" ] || fail "VCF and TSV record counts"
"$PYTHON" - "$T/q.tsv" "$T/out.json" <<'EOF' || fail "VCF scores differ from JSON"
import json, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
js = {(v["chrom"], v["pos"], v["ref"], v["alt"]): v for v in json.load(open(sys.argv[2]))["variants"]}
assert len(rows) == len(js)
for c, p, r, a, llr, st in rows:
    v = js[(c, int(p), r, a)]
    if v["score"] is None:
        assert llr == "." and st == v["status"], (c, p, st)
    else:
        assert abs(float(llr) - v["score"]) < 1e-4 and st == ".", (c, p)
print("vcf ok:", len(rows), "records")
EOF
# round trip through bcftools: re-encoding keeps every record and field
bcftools view -Oz -o "$T/rt.vcf.gz" "$T/out.vcf.gz"
cmp <(bcftools view -H "$T/out.vcf.gz") <(bcftools view -H "$T/rt.vcf.gz") || fail "bcftools round trip"

# reference-only records (ALT '.'), a POS 0 record and a window with N:
# the JSON still validates, END keeps the block's extent (as bcftools
# norm), and a variant near the masked part of the reference is not scored
"$PYTHON" - "$T/edge.vcf" <<'EOF'
import gzip, sys
seq = "".join(l.strip() for l in gzip.open("demo/reference.fa.gz", "rt") if not l.startswith(">"))
p = 60_101_600
with open(sys.argv[1], "w") as f:
    f.write('##fileformat=VCFv4.2\n##contig=<ID=20,length=63025520>\n')
    f.write('##INFO=<ID=END,Number=1,Type=Integer,Description="End">\n')
    f.write("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
    f.write("20\t0\t.\tN\tA\t.\tPASS\t.\n")
    f.write("20\t60100010\t.\t%s\t%s\t.\tPASS\t.\n" % (seq[60100009], "A" if seq[60100009] != "A" else "C"))
    f.write("20\t%d\t.\t%s\t.\t.\tPASS\tEND=%d\n" % (p, seq[p - 1:p + 3], p + 100))
EOF
run --vcf "$T/edge.vcf" --format json -o "$T/edge.json"
run --vcf "$T/edge.vcf" -o "$T/edge.vcf.gz"
"$PYTHON" - "$T/edge.json" docs/schema/result.schema.json <<'EOF' || fail "edge records"
import json, sys, jsonschema
doc = json.load(open(sys.argv[1]))
jsonschema.validate(doc, json.load(open(sys.argv[2])))
st = {v["pos"]: v for v in doc["variants"]}
assert st[0]["status"] == "outside_contig", st[0]
assert st[60100010]["status"] == "n_in_window" and st[60100010]["class"] == "snv", st[60100010]
assert st[60101600]["status"] == "no_alt" and st[60101600]["alt_index"] == 0, st[60101600]
EOF
[ "$(bcftools query -i 'ALT="."' -f '%POS %INFO/END' "$T/edge.vcf.gz")" = "60101600 60101700" ] ||
	fail "END of a reference-only record changed: $(bcftools query -f '%POS %ALT %INFO/END\n' "$T/edge.vcf.gz")"

# determinism: batch sizes 1 and 64, threads 1 and 2, the same bytes
for fmt in vcf json; do
	run --vcf $VCF --format $fmt --batch 1 --threads 1 -o "$T/d1.$fmt"
	run --vcf $VCF --format $fmt --batch 64 --threads 2 -o "$T/d2.$fmt"
	run --vcf $VCF --format $fmt --batch 7 --threads 2 -o "$T/d3.$fmt"
	cmp "$T/d1.$fmt" "$T/d2.$fmt" || fail "$fmt output differs between batch 1/threads 1 and batch 64/threads 2"
	cmp "$T/d1.$fmt" "$T/d3.$fmt" || fail "$fmt output differs between batch 1 and batch 7"
done

# a warning late in the file (past the first chunk of 1024 variants) still
# reaches the output header: htslib turns an out-of-range Integer to missing
"$PYTHON" - "$T/late.vcf" <<'EOF'
import gzip, sys
seq = "".join(l.strip() for l in gzip.open("demo/reference.fa.gz", "rt") if not l.startswith(">"))
with open(sys.argv[1], "w") as f:
    f.write('##fileformat=VCFv4.2\n##contig=<ID=20,length=63025520>\n')
    f.write('##INFO=<ID=DP,Number=1,Type=Integer,Description="Depth">\n')
    f.write("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
    for i in range(1100):
        p = 60_100_100 + 7 * i
        ref = seq[p - 1]
        alt = "A" if ref != "A" else "C"
        dp = "99999999999" if i == 1090 else "30"
        f.write("20\t%d\t.\t%s\t%s\t.\tPASS\tDP=%s\n" % (p, ref, alt, dp))
EOF
run --vcf "$T/late.vcf" --window 16 -o "$T/late.vcf.gz"
bcftools view -h "$T/late.vcf.gz" | grep -q '^##varvault_input_warnings=<Kind=TO_MISSING,Count=1,' || fail "late warning missing from the output header"
bcftools query -i 'INFO/VV_INPUT_WARN!="."' -f '%POS %INFO/VV_INPUT_WARN\n' "$T/late.vcf.gz" | grep -q "TO_MISSING:INFO/DP" || fail "late warning missing from its record"

# bad input: a clear error naming the line and field, and no output file
printf '##fileformat=VCFv4.2\n##contig=<ID=20,length=63025520>\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n20\t60100250\t.\tG\tA\t.\tPASS\t.\n20\tabc\t.\tG\tA\t.\tPASS\t.\n' >"$T/bad.vcf"
set +e
run --vcf "$T/bad.vcf" -o "$T/bad.out" 2>"$T/err"; rc=$?
set -e
[ $rc -eq 1 ] || fail "malformed VCF: exit $rc, want 1"
grep -q "line 5" "$T/err" || fail "malformed VCF: no line number in: $(cat "$T/err")"
grep -q "POS" "$T/err" || fail "malformed VCF: no field in: $(cat "$T/err")"
[ ! -e "$T/bad.out" ] || fail "malformed VCF left an output file"
set +e
run --vcf "$T/missing.vcf" -o "$T/bad.out" 2>"$T/err"; rc=$?
set -e
[ $rc -eq 1 ] && grep -q "missing.vcf" "$T/err" || fail "missing input: $(cat "$T/err")"
# an existing output is not replaced without --force
set +e
run --vcf $VCF --format tsv -o "$T/out.tsv" 2>"$T/err"; rc=$?
set -e
[ $rc -eq 1 ] || fail "existing output replaced without --force"
run --vcf $VCF --format tsv -o "$T/out.tsv" --force

# --summary-json is written as the output is: mode 0600, an existing file kept
# without --force, a symbolic link replaced rather than followed
run --vcf $VCF --format tsv -o "$T/s1.tsv" --summary-json "$T/sum.json"
"$PYTHON" -c 'import json, sys; d = json.load(open(sys.argv[1])); assert d["variants"] > 0 and "evidence" in d' "$T/sum.json" ||
	fail "summary JSON"
[ "$(stat -c %a "$T/sum.json")" = 600 ] || fail "summary mode $(stat -c %a "$T/sum.json"), want 600"
echo keep >"$T/sum2.json"
set +e
run --vcf $VCF --format tsv -o "$T/s2.tsv" --summary-json "$T/sum2.json" 2>"$T/err"; rc=$?
set -e
[ $rc -eq 1 ] || fail "existing summary without --force: exit $rc, want 1"
grep -q "already exists" "$T/err" || fail "existing summary: $(cat "$T/err")"
[ "$(cat "$T/sum2.json")" = keep ] || fail "existing summary replaced without --force"
echo target >"$T/target.json"
ln -s target.json "$T/link.json"
run --vcf $VCF --format tsv -o "$T/s3.tsv" --summary-json "$T/link.json" --force
[ "$(cat "$T/target.json")" = target ] || fail "--summary-json followed a symbolic link"
[ ! -L "$T/link.json" ] && grep -q '"variants"' "$T/link.json" || fail "--summary-json did not replace the link"
# --indel-stride: 0 is the default method, N scores indels by the strided
# one (docs/interpret.md), SNVs untouched; above 64 is a usage error
run --vcf $VCF --format tsv -o "$T/st0.tsv" --indel-stride 0
run --vcf $VCF --format tsv -o "$T/st_def.tsv"
cmp -s "$T/st0.tsv" "$T/st_def.tsv" || fail "--indel-stride 0 differs from the default"
run --vcf $VCF --format tsv -o "$T/st2.tsv" --indel-stride 2
grep -q "local_pll_strided_mean" "$T/st2.tsv" || fail "--indel-stride 2: no indel scored by the strided method"
! grep -q "local_pll_mean" "$T/st2.tsv" || fail "--indel-stride 2: an indel still scored by the PLL"
[ "$(awk -F'\t' '$9 == "masked_llr"' "$T/st2.tsv")" = "$(awk -F'\t' '$9 == "masked_llr"' "$T/st0.tsv")" ] ||
	fail "--indel-stride 2 changed an SNV's row"
set +e
run --vcf $VCF --format tsv -o "$T/st65.tsv" --indel-stride 65 2>"$T/err"; rc=$?
set -e
[ $rc -eq 2 ] && grep -q "indel-stride" "$T/err" || fail "--indel-stride 65: exit $rc, $(cat "$T/err")"
echo "annotate ok"
