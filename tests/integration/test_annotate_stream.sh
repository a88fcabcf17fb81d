#!/bin/bash
# varvault-admin annotate streams: a generated file of 2 million records runs
# in memory bounded by the chunk, not the input (peak RSS measured through
# getrusage, asserted as a bound in bytes: never a time); the limits count
# decompressed bytes, records, undeclared names and the sort window, each
# refusal naming its limit and line; on a small file the streamed outputs
# equal the golden (pre-streaming) ones, to a file and to stdout, whatever
# the chunk; warnings met only at the end still reach the output's header.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${VV_BIN:-$PWD/build}
PYTHON=${PYTHON:-/usr/bin/python3}
ADMIN="$BIN/varvault-admin"
MODEL=models/demo-dna-mlm
REF=demo/reference.fa.gz
POLICY=policy/evidence.conf
GOLDEN=tests/data/golden
command -v bgzip >/dev/null || { echo "bgzip missing (make deps installs tabix)"; exit 77; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
annotate() { "$ADMIN" annotate -q --model "$MODEL" --reference "$REF" --policy "$POLICY" "$@"; }

# peak_kb OUT CMD...: runs CMD, writes its peak resident set (KiB, from
# getrusage of the finished child) to OUT; fails when CMD fails
peak_kb() {
	local out=$1
	shift
	"$PYTHON" - "$out" "$@" <<'PY'
import resource, subprocess, sys
rc = subprocess.call(sys.argv[2:])
open(sys.argv[1], "w").write("%d\n" % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(rc)
PY
}

# gen N: a VCF of N records on the demo reference's masked (N) part: each is
# read, validated, normalized and written, none costs a forward pass
gen() {
	"$PYTHON" - "$1" <<'PY'
import sys
n = int(sys.argv[1])
w = sys.stdout.write
w("##fileformat=VCFv4.2\n##contig=<ID=20,length=63025520>\n"
  "##INFO=<ID=DP,Number=1,Type=Integer,Description=\"depth\">\n"
  "##FORMAT=<ID=GT,Number=1,Type=String,Description=\"genotype\">\n"
  "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\n")
rows = []
for i in range(n):
    rows.append("20\t%d\t.\tN\tA\t50\tPASS\tDP=10\tGT\t0/1\n" % (1000 + 10 * i))
    if len(rows) == 100000:
        w("".join(rows)); rows = []
w("".join(rows))
PY
}

# ---- memory does not grow with the records ----
gen 200000 | bgzip >"$T/small.vcf.gz"
gen 2000000 | bgzip >"$T/big.vcf.gz"
# JSON is the largest output (about 200 bytes a variant: 400 MB here), so
# the run that kept its output whole took more than 600 MB for this file
peak_kb "$T/rss.small" "$ADMIN" annotate -q --model $MODEL --reference $REF --policy $POLICY \
	--vcf "$T/small.vcf.gz" --format json -o "$T/small.json" || fail "annotate 200k"
peak_kb "$T/rss.big" "$ADMIN" annotate -q --model $MODEL --reference $REF --policy $POLICY \
	--vcf "$T/big.vcf.gz" --format json -o "$T/big.json" || fail "annotate 2M"
small=$(cat "$T/rss.small") big=$(cat "$T/rss.big")
echo "peak RSS: 200k records $small KiB, 2M records $big KiB, JSON output $(stat -c %s "$T/big.json") bytes"
if [ "${SANITIZE:-0}" = 1 ]; then
	# ASan's shadow memory and its quarantine of freed blocks (256 MiB)
	# make resident size say nothing about the program's own memory.
	echo "note: SANITIZE=1: the memory bounds are checked by the plain build only"
else
	[ "$big" -lt $((96 * 1024)) ] || fail "2M records took $big KiB (bound 96 MiB)"
	[ $((big - small)) -lt $((32 * 1024)) ] || fail "10x the records took $((big - small)) KiB more (bound 32 MiB)"
fi
tail -c 400 "$T/big.json" | grep -q '"variants":2000000,' || fail "2M JSON summary: $(tail -c 300 "$T/big.json")"
[ "$(stat -c %s "$T/big.json")" -gt $((200 * 1024 * 1024)) ] || fail "the 2M JSON is too small to prove anything"
rm -f "$T/big.json" "$T/small.json"

# ---- limits: decompressed bytes and records, each naming itself and the line ----
refused() { # refused WHAT PATTERN... -- annotate args
	local what=$1 rc
	shift
	local pats=()
	while [ "$1" != -- ]; do pats+=("$1"); shift; done
	shift
	set +e
	annotate "$@" -o "$T/refused.out" 2>"$T/err"; rc=$?
	set -e
	[ $rc -eq 1 ] || fail "$what: exit $rc, want 1: $(cat "$T/err")"
	for p in "${pats[@]}"; do
		grep -q -- "$p" "$T/err" || fail "$what: message lacks '$p': $(cat "$T/err")"
	done
	[ ! -e "$T/refused.out" ] || fail "$what: an output was left"
}
# header is 5 lines: record 1001 is line 1006
refused "record limit" "max_records" "line 1006" "more than 1000 records" -- \
	--vcf "$T/big.vcf.gz" --max-records 1000 --format tsv
refused "text limit" "max_text_bytes" "line [0-9]" "decompressed" -- \
	--vcf "$T/big.vcf.gz" --max-text-bytes 100K --format tsv
# the same file under generous limits (K/M suffixes) runs
annotate --vcf "$T/small.vcf.gz" --max-records 1M --max-text-bytes 1G --format tsv -o "$T/ok.tsv"
[ "$(grep -vc '^#' "$T/ok.tsv")" -eq 200001 ] || fail "200k TSV rows" # with its column line

# undeclared names (each grows htslib's header) are capped
"$PYTHON" -c '
import sys
w = sys.stdout.write
w("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
for i in range(10001):
    w("c%d\t100\t.\tA\tG\t50\tPASS\t.\n" % i)' >"$T/names.vcf"
refused "undeclared names" "max_undeclared" "line 10003" "field CHROM" -- --vcf "$T/names.vcf" --format tsv

# the VCF's sort window (1000 bases) holds at most 100000 records
"$PYTHON" -c '
import sys
w = sys.stdout.write
w("##fileformat=VCFv4.2\n##contig=<ID=20,length=63025520>\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
for i in range(100001):
    w("20\t%d\t.\tN\tA\t50\tPASS\t.\n" % (1000 + i % 500))' | bgzip >"$T/pile.vcf.gz"
refused "sort window" "more than 100000 records within 1000 bases" "line 100004" -- --vcf "$T/pile.vcf.gz"

# ---- the streamed output is the pre-streaming output (golden files) ----
case $(uname -m) in
x86_64)
	export OPENBLAS_CORETYPE=Nehalem # the kernels the golden files were made with
	for chunk in 1 7 1024; do
		annotate --vcf demo/sample.vcf --chunk $chunk --format json -o "$T/g.json" --force
		cmp -s "$T/g.json" $GOLDEN/out.json || fail "JSON (chunk $chunk) differs from the golden file"
		annotate --vcf demo/sample.vcf --chunk $chunk --format tsv >"$T/g.tsv"
		cmp -s "$T/g.tsv" $GOLDEN/out.tsv || fail "TSV on stdout (chunk $chunk) differs from the golden file"
		annotate --vcf demo/sample.vcf --chunk $chunk -o "$T/g.vcf.gz" --force
		gzip -dc "$T/g.vcf.gz" | cmp -s - $GOLDEN/out.vcf || fail "VCF (chunk $chunk) differs from the golden file"
	done
	unset OPENBLAS_CORETYPE
	;;
esac

# ---- a warning met only at the last record still reaches the header ----
{ cat demo/sample.vcf; printf '20\t60299900\tlate\tA\tG\t50\tPASS\tLATEKEY=1\tGT\t0/1\n'; } >"$T/late.vcf"
grep -q LATEKEY demo/sample.vcf && fail "the fixture already declares LATEKEY"
annotate --vcf "$T/late.vcf" --chunk 2 -o "$T/late.vcf.gz"
gzip -dc "$T/late.vcf.gz" | grep '^##varvault_input_warnings=<Kind=UNDECLARED,Count=1,' >/dev/null ||
	fail "the late UNDECLARED warning is not in the VCF header: $(gzip -dc "$T/late.vcf.gz" | grep '^##varvault_input')"
# it is the first chunk's bytes that carry the header: the output is a chain
# of chunks, so the header was written before the last record was read
annotate --vcf "$T/late.vcf" --chunk 2 --format tsv -o "$T/late.tsv"
tail -n 1 "$T/late.tsv" | grep -q "1 input warnings" || fail "TSV summary: $(tail -n 1 "$T/late.tsv")"
echo "annotate streaming ok"
