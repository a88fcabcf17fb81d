#!/bin/bash
# Normalization against `bcftools norm -m-any [-f REF]`, record for record,
# on the real VCFs of Debian's vt-examples and htslib-test packages.
#   - vt-examples normalize/01_IN.vcf.gz is on GRCh37 chromosome 20, which the
#     package ships (ref/20.fa.gz): compared with -f (REF check, trim,
#     left-align) and also as BCF.
#   - every other VCF of both packages is on contigs that no reference in
#     them holds (1..4, 10, 16, chr11, chr20 against c1, xx, CHROMOSOME_I...),
#     so it is compared split-only, as bcftools norm -m-any without -f.
# Two comparisons each: the iterator's CHROM/POS/REF/ALT (both sides sorted
# stably by contig and position, since the iterator keeps input order and
# bcftools re-sorts), and the writer's whole records (INFO/VV_* removed)
# against bcftools' output as it comes.
# Files varvault refuses are listed below with the reason; any other
# refusal, or any difference, fails the test.
set -u
O=${O:-build}
TOOL="${VV_BIN:-$PWD/$O}/tests/helpers/vcf_tool"
VT=/usr/share/doc/vt/examples
HT=/usr/share/htslib-test/test

command -v bcftools >/dev/null || { echo "bcftools not installed"; exit 77; }
[ -x "$TOOL" ] || { echo "missing $TOOL"; exit 1; }
if [ ! -d "$VT" ] && [ ! -d "$HT" ]; then
	echo "neither vt-examples nor htslib-test is installed"
	exit 77
fi

# file (relative to its package folder) -> why varvault refuses it
declare -A REFUSED=(
	[longrefs/index.vcf]="POS beyond 2^31-2: outside what varvault reads (human contigs are shorter)"
	[tabix/large_chr.vcf]="POS beyond 2^31-2"
	[longrefs/index.expected1.vcf]="no header: not a VCF"
	[longrefs/index.expected2.vcf]="no header: not a VCF"
	[noroundtrip.vcf]="FORMAT GT given twice (htslib's own no-round-trip case)"
	[noroundtrip-out.vcf]="FORMAT GT given twice"
	[tabix/vcf_file.vcf]="a record with more ALT alleles than the default limit (256)"
	[tabix/vcf_file.bcf]="the same record, as BCF"
	[test-vcf-hdr-in.vcf]="GT allele index with no ALT allele"
)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0 same=0 refused=0

# $1 label, $2 file, $3 optional reference
compare() {
	local label=$1 f=$2 ref=${3:-} rel=$4
	local bargs=(-m-any) targs=()
	if [ -n "$ref" ]; then
		bargs+=(-f "$ref" -c w)
		targs=(-r "$ref")
	fi
	if ! "$TOOL" norm "${targs[@]}" "$f" >"$tmp/m.full" 2>"$tmp/m.err"; then
		if [ -n "${REFUSED[$rel]:-}" ]; then
			refused=$((refused + 1))
			echo "refused (expected) $label: ${REFUSED[$rel]}"
			return
		fi
		echo "FAIL $label: varvault refused it: $(cat "$tmp/m.err")"
		fail=1
		return
	fi
	if [ -n "${REFUSED[$rel]:-}" ]; then
		echo "FAIL $label: expected a refusal (${REFUSED[$rel]}), it was accepted"
		fail=1
		return
	fi
	bcftools norm "${bargs[@]}" "$f" 2>/dev/null >"$tmp/b.vcf" || { echo "FAIL $label: bcftools failed"; fail=1; return; }
	bcftools query -f '%CHROM\t%POS\t%REF\t%ALT\n' "$tmp/b.vcf" | sort -s -k1,1 -k2,2n >"$tmp/b.txt"
	cut -f1-4 "$tmp/m.full" | sort -s -k1,1 -k2,2n >"$tmp/m.txt"
	if ! diff -i "$tmp/b.txt" "$tmp/m.txt" >"$tmp/d"; then
		echo "FAIL $label: CHROM/POS/REF/ALT differ from bcftools norm:"
		head -n 10 "$tmp/d"
		fail=1
		return
	fi
	"$TOOL" write "${targs[@]}" "$f" "$tmp/w.vcf.gz" 2>"$tmp/w.err" || { echo "FAIL $label: writer: $(cat "$tmp/w.err")"; fail=1; return; }
	bcftools annotate -x INFO/VV_STATUS,INFO/VV_INPUT_WARN "$tmp/w.vcf.gz" | bcftools view -H >"$tmp/w.txt"
	bcftools view -H "$tmp/b.vcf" >"$tmp/bw.txt"
	if ! diff "$tmp/bw.txt" "$tmp/w.txt" >"$tmp/d"; then
		echo "FAIL $label: written records differ from bcftools norm:"
		head -n 10 "$tmp/d"
		fail=1
		return
	fi
	same=$((same + 1))
	echo "same $label: $(wc -l <"$tmp/m.txt") variants"
}

if [ -d "$VT" ]; then
	# faidx needs the .gzi uncompressed; the package ships it gzipped
	ln -s "$VT/ref/20.fa.gz" "$tmp/20.fa.gz"
	cp "$VT/ref/20.fa.gz.fai" "$tmp/20.fa.gz.fai"
	gzip -dc "$VT/ref/20.fa.gz.gzi.gz" >"$tmp/20.fa.gz.gzi"
	compare "vt normalize/01_IN.vcf.gz -f 20.fa.gz" "$VT/normalize/01_IN.vcf.gz" "$tmp/20.fa.gz" normalize/01_IN.vcf.gz
	bcftools view -Ob -o "$tmp/01_IN.bcf" "$VT/normalize/01_IN.vcf.gz"
	compare "vt normalize/01_IN as BCF -f 20.fa.gz" "$tmp/01_IN.bcf" "$tmp/20.fa.gz" 01_IN.bcf
	# synthetic records on 400 kb of chromosome 20, a fixed seed: every
	# kind of allele, multi-allelic records, Number=A/R/G values, mismatches
	W=400000 S=10000001
	"$TOOL" window -r "$tmp/20.fa.gz" 20 $((S + (W - 1) / 2)) 1 $W | cut -f1 >"$tmp/seq.txt"
	"${PYTHON:-python3}" "$(dirname "$0")/vcf_synth.py" "$tmp/seq.txt" 20 $S 4242 3000 >"$tmp/synth.vcf"
	compare "synthetic chr20 records -f 20.fa.gz" "$tmp/synth.vcf" "$tmp/20.fa.gz" synth.vcf
	for f in "$VT"/decompose/*_IN_*.vcf "$VT"/decompose_blocksub/*_IN_*.vcf.gz; do
		rel=${f#"$VT"/}
		compare "vt $rel (split only)" "$f" "" "$rel"
	done
else
	echo "vt-examples not installed: skipping its files"
fi
if [ -d "$HT" ]; then
	while IFS= read -r f; do
		rel=${f#"$HT"/}
		compare "htslib-test $rel (split only)" "$f" "" "$rel"
	done < <(find "$HT" -name '*.vcf' -o -name '*.bcf' | sort)
else
	echo "htslib-test not installed: skipping its files"
fi

echo "$same files identical to bcftools norm, $refused refused as expected"
[ "$same" -gt 0 ] || { echo "nothing compared"; exit 1; }
exit $fail
