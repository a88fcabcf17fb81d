#!/bin/bash
# Precomputed SNV score tables (docs/interpret.md, "Precomputed scores") with
# the demo model and reference: varvault-admin precompute writes a bgzipped,
# tabix-indexed table; annotate --scores gives byte-identical VCF, JSON and
# TSV to annotate without it, while looking SNVs up; a chunked build merged
# in order is byte for byte the one-piece table; tables for another model,
# reference or scoring policy are refused with a clear error; bad regions
# name their file and line.  Needs no Python.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${VV_BIN:-$PWD/build}
ADMIN="$BIN/varvault-admin"
MODEL=models/demo-dna-mlm
REF=demo/reference.fa.gz
VCF=demo/sample.vcf
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
pre() { "$ADMIN" precompute -q --model "$MODEL" --reference "$REF" "$@"; }
ann() { "$ADMIN" annotate -q --model "$MODEL" --reference "$REF" --vcf "$VCF" "$@"; }
# Like `cmp`, with a clear message.
same() { cmp -s "$1" "$2" || fail "$3: $1 and $2 differ"; }

"$ADMIN" precompute --help | grep -q -- "--regions BED" || fail "--help"

# Regions: every other SNV position of the demo VCF (so that annotate finds
# some SNVs in the table and computes the rest), and a stretch of 40 bases,
# given out of order and overlapping, which the table sorts and merges.
awk '!/^#/ && length($4) == 1 && length($5) == 1 { if (n++ % 2 == 0) print $1 "\t" $2 - 1 "\t" $2 }' \
	"$VCF" | sort -r >"$T/regions.bed"
printf '20\t60100230\t60100260\n20\t60100240\t60100270\n' >>"$T/regions.bed"
nbed=$(wc -l <"$T/regions.bed")
[ "$nbed" -gt 20 ] || fail "too few SNVs in $VCF for the test ($nbed)"

# ---- one-piece table ----
"$ADMIN" precompute --model "$MODEL" --reference "$REF" --regions "$T/regions.bed" -o "$T/all.tsv.gz" \
	2>"$T/log" || { cat "$T/log"; fail "precompute"; }
[ -s "$T/all.tsv.gz.tbi" ] || fail "no tabix index"
grep -q "3.00 SNVs a forward" "$T/log" || { cat "$T/log"; fail "the three alleles of a position must share one forward"; }
gzip -dc "$T/all.tsv.gz" >"$T/all.tsv"
head -1 "$T/all.tsv" | grep -qx '##varvault_scores=1' || fail "magic line"
sha=$(sha256sum "$MODEL/model.safetensors" | cut -d' ' -f1)
grep -qx "##model_sha256=$sha" "$T/all.tsv" || fail "model hash in header"
grep -q '^##reference_md5=[0-9a-f]\{32\}$' "$T/all.tsv" || fail "reference hash in header"
grep -q '^##score_policy_sha256=[0-9a-f]\{64\}$' "$T/all.tsv" || fail "policy hash in header"
grep -qx $'#CHROM\tPOS\tREF\tALT\tSCORE' "$T/all.tsv" || fail "column line"
# three alleles per position, sorted, no duplicates (the overlap is merged)
lines=$(grep -vc '^#' "$T/all.tsv")
pos=$(grep -v '^#' "$T/all.tsv" | cut -f1,2 | uniq | wc -l)
[ "$lines" -eq $((3 * pos)) ] || fail "$lines lines for $pos positions"
grep -v '^#' "$T/all.tsv" | cut -f2 | sort -nc || fail "table not sorted"
grep -v '^#' "$T/all.tsv" | awk -F'\t' '$3 == $4 || $3 !~ /^[ACGT]$/ || $4 !~ /^[ACGT]$/ { exit 1 }' ||
	fail "a line is not an SNV"

# ---- lookups give the same bytes as computing ----
for f in vcf json tsv; do
	ann --format "$f" -o "$T/plain.$f"
	"$ADMIN" annotate --model "$MODEL" --reference "$REF" --vcf "$VCF" --format "$f" \
		--scores "$T/all.tsv.gz" -o "$T/table.$f" 2>"$T/log" || { cat "$T/log"; fail "annotate --scores"; }
	same "$T/plain.$f" "$T/table.$f" "$f with and without the table"
done
hits=$(sed -n 's/.*score table: \([0-9]*\) of \([0-9]*\) SNVs.*/\1/p' "$T/log")
looked=$(sed -n 's/.*score table: \([0-9]*\) of \([0-9]*\) SNVs.*/\2/p' "$T/log")
[ -n "$hits" ] && [ "$hits" -gt 10 ] || { cat "$T/log"; fail "the table was not used ($hits hits)"; }
[ "$hits" -lt "$looked" ] || fail "every SNV found: the test should also compute some ($hits of $looked)"
# other batch, threads and chunk sizes: the same bytes again
ann --format vcf --scores "$T/all.tsv.gz" --batch 3 --threads 1 --chunk 7 -o "$T/table2.vcf"
ann --format vcf --batch 3 --threads 1 --chunk 7 -o "$T/plain2.vcf"
same "$T/plain2.vcf" "$T/table2.vcf" "chunk 7 with and without the table"

# A table whose scores were altered is used as it is (the lookup is real):
# the altered score shows in the output.
read -r p a <<<"$(awk '!/^#/ && length($4) == 1 && length($5) == 1 { print $2, $5; exit }' "$VCF")"
if command -v bgzip >/dev/null && command -v tabix >/dev/null; then
	awk -F'\t' -v OFS='\t' -v p="$p" -v a="$a" '!/^#/ && $2 == p && $4 == a { $5 = "-99.5" } 1' "$T/all.tsv" |
		bgzip >"$T/alt.tsv.gz"
	tabix -s1 -b2 -e2 -c'#' "$T/alt.tsv.gz"
	ann --format tsv --scores "$T/alt.tsv.gz" -o "$T/alt.tsv"
	grep -q -- "-99.5" "$T/alt.tsv" || fail "an altered table score did not reach the output"
fi

# ---- chunks: merged in order, byte for byte the one-piece table ----
for i in 1 2 3; do
	pre --regions "$T/regions.bed" --chunk "$i/3" -o "$T/part$i.tsv.gz"
done
"$ADMIN" precompute --merge -o "$T/merged.tsv.gz" "$T/part1.tsv.gz" "$T/part2.tsv.gz" "$T/part3.tsv.gz"
same "$T/all.tsv.gz" "$T/merged.tsv.gz" "3 chunks merged"
# more chunks than some regions have positions: still identical
for i in 1 2 3 4 5 6 7; do
	pre --regions "$T/regions.bed" --chunk "$i/7" -o "$T/p7_$i.tsv.gz"
done
"$ADMIN" precompute --merge -o "$T/merged7.tsv.gz" "$T"/p7_{1,2,3,4,5,6,7}.tsv.gz
same "$T/all.tsv.gz" "$T/merged7.tsv.gz" "7 chunks merged"
# out of order: the index refuses unsorted lines
set +e
"$ADMIN" precompute --merge -o "$T/bad.tsv.gz" "$T/part2.tsv.gz" "$T/part1.tsv.gz" 2>"$T/err"; rc=$?
set -e
[ $rc -eq 1 ] || fail "merge out of order: exit $rc"
[ ! -e "$T/bad.tsv.gz" ] || fail "merge out of order left a table"

# ---- refusals ----
expect_refusal() { # label, pattern, annotate args...
	local label=$1 pat=$2 rc
	shift 2
	set +e
	ann --format tsv -o "$T/refused.tsv" "$@" 2>"$T/err"; rc=$?
	set -e
	[ $rc -eq 1 ] || fail "$label: exit $rc, want 1"
	grep -q "$pat" "$T/err" || { cat "$T/err"; fail "$label: message"; }
	[ ! -e "$T/refused.tsv" ] || fail "$label: output left behind"
}
# another scoring policy: a table built with a 64-base window
pre --regions "$T/regions.bed" --window 64 -o "$T/w64.tsv.gz"
expect_refusal "other policy" "made for another scoring policy" --scores "$T/w64.tsv.gz"
# ... which the same window accepts, with identical output again
ann --format tsv --window 64 --scores "$T/w64.tsv.gz" -o "$T/w64t.tsv"
ann --format tsv --window 64 -o "$T/w64p.tsv"
same "$T/w64p.tsv" "$T/w64t.tsv" "window 64 with and without the table"
# another reference: the same sequence stored uncompressed (another MD5)
gzip -dc "$REF" >"$T/ref.fa"
cp "$REF.fai" "$T/ref.fa.fai"
set +e
"$ADMIN" annotate -q --model "$MODEL" --reference "$T/ref.fa" --vcf "$VCF" --scores "$T/all.tsv.gz" \
	-o "$T/refused.tsv" 2>"$T/err"; rc=$?
set -e
[ $rc -eq 1 ] && grep -q "made for another reference" "$T/err" || { cat "$T/err"; fail "other reference"; }
# another model: one weight byte changed (another SHA-256)
cp -r "$MODEL" "$T/model2"
size=$(stat -c %s "$T/model2/model.safetensors")
printf '\x01' | dd of="$T/model2/model.safetensors" bs=1 seek=$((size - 3)) conv=notrunc status=none
set +e
"$ADMIN" annotate -q --model "$T/model2" --reference "$REF" --vcf "$VCF" --scores "$T/all.tsv.gz" \
	-o "$T/refused.tsv" 2>"$T/err"; rc=$?
set -e
[ $rc -eq 1 ] && grep -q "made for another model" "$T/err" || { cat "$T/err"; fail "other model"; }
# not a table; a table without its index
gzip -c "$VCF" >"$T/notatable.gz"
expect_refusal "not a table" "not a varvault score table" --scores "$T/notatable.gz"
cp "$T/all.tsv.gz" "$T/noindex.tsv.gz"
expect_refusal "no index" "no tabix index" --scores "$T/noindex.tsv.gz"
expect_refusal "missing table" "nonexistent" --scores "$T/nonexistent.tsv.gz"
expect_refusal "a URL" "without ':'" --scores "https://example.invalid/scores.tsv.gz"

# ---- bad regions and usage ----
printf '20\t100\t200\nchrZ\t1\t2\n' >"$T/badcontig.bed"
set +e
pre --regions "$T/badcontig.bed" -o "$T/x.tsv.gz" 2>"$T/err"; rc=$?
set -e
[ $rc -eq 1 ] && grep -q "badcontig.bed:2: contig chrZ" "$T/err" || { cat "$T/err"; fail "bad contig"; }
printf '20\t200\t100\n' >"$T/badrange.bed"
set +e
pre --regions "$T/badrange.bed" -o "$T/x.tsv.gz" 2>"$T/err"; rc=$?
set -e
[ $rc -eq 1 ] && grep -q "badrange.bed:1: start" "$T/err" || { cat "$T/err"; fail "bad range"; }
[ ! -e "$T/x.tsv.gz" ] || fail "a failed precompute left a table"
set +e
pre --regions "$T/regions.bed" -o "$T/all.tsv.gz" 2>"$T/err"; rc=$?
set -e
[ $rc -eq 1 ] && grep -q "exists" "$T/err" || fail "an existing table must not be replaced without --force"
set +e
pre --regions "$T/regions.bed" --chunk 4/3 -o "$T/x.tsv.gz" 2>"$T/err"; rc=$?
set -e
[ $rc -eq 2 ] || fail "--chunk 4/3: exit $rc, want 2"
echo "precompute ok: $pos positions, $lines SNVs; $hits of $looked SNV lookups found; identical outputs"
