#!/bin/bash
# The writer's output read back by htslib's own tools: valid BGZF with its
# end-of-file block, sorted (tabix indexes it), provenance and input-warning
# header lines, INFO/VV_INPUT_WARN on the record whose value htslib replaced
# by missing, one record per variant with the caller's INFO/VV_STATUS equal
# to the iterator's status, sample columns kept.
set -u
O=${O:-build}
TOOL="${VV_BIN:-$PWD/$O}/tests/helpers/vcf_tool"
REF="${VV_SRC:-$PWD}/tests/data/vcf/ref.fa"
for t in bcftools bgzip tabix md5sum; do
	command -v $t >/dev/null || { echo "$t not installed"; exit 77; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { # message, command...
	local msg=$1; shift
	if "$@"; then echo "ok   $msg"; else echo "FAIL $msg"; fail=1; fi
}

printf '%s\n' '##fileformat=VCFv4.2' '##contig=<ID=chrA,length=80>' '##contig=<ID=chrB,length=10>' \
	'##INFO=<ID=DP,Number=1,Type=Integer,Description="Depth">' \
	'##INFO=<ID=AC,Number=A,Type=Integer,Description="Allele count">' \
	'##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">' \
	'##FORMAT=<ID=AD,Number=R,Type=Integer,Description="Depths">' >"$tmp/in.vcf"
printf 'chrA\t3\t.\tT\tC\t50\tPASS\tDP=7;AC=1\tGT:AD\t0/1:3,4\t1|1:0,8\n' >"$tmp/body"
printf 'chrA\t24\t.\tCC\tC\t40\tPASS\tDP=2147483648;AC=1\tGT:AD\t0/1:5,5\t0/0:9,0\n' >>"$tmp/body"
printf 'chrA\t24\t.\tC\tG,A\t30\tPASS\tDP=3;AC=1,2\tGT:AD\t1/2:0,6,6\t0|1:3,3,0\n' >>"$tmp/body"
printf 'chrA\t61\t.\tA\tG\t.\t.\tDP=1;AC=1\tGT:AD\t0/1:1,1\t./.:.\n' >>"$tmp/body"
printf 'chrB\t5\t.\tA\t<NON_REF>\t.\t.\t.\tGT:AD\t0/0:4,0\t0/0:5,0\n' >>"$tmp/body"
printf '#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\tS2\n' >>"$tmp/in.vcf"
cat "$tmp/body" >>"$tmp/in.vcf"

"$TOOL" write -r "$REF" "$tmp/in.vcf" "$tmp/out.vcf.gz" || { echo "writer failed"; exit 1; }
"$TOOL" norm -r "$REF" "$tmp/in.vcf" >"$tmp/norm.txt" || { echo "norm failed"; exit 1; }

check "valid BGZF with its end-of-file block" bgzip -t "$tmp/out.vcf.gz"
check "sorted: tabix indexes it" tabix -p vcf "$tmp/out.vcf.gz"
bcftools view -h "$tmp/out.vcf.gz" >"$tmp/h.txt"
md5=$(md5sum <"$REF" | cut -c1-32)
check "reference name and MD5 in the header" grep -q "^##varvault_normalization=<.*Reference=\"ref.fa\",ReferenceMD5=$md5>" "$tmp/h.txt"
check "the caller's header line" grep -q '^##varvault_test=vcf_tool$' "$tmp/h.txt"
check "the header says htslib turned a value into missing" grep -q '^##varvault_input_warnings=<Kind=TO_MISSING,Count=1,' "$tmp/h.txt"
check "INFO/VV_INPUT_WARN declared" grep -q '^##INFO=<ID=VV_INPUT_WARN,Number=.,Type=String' "$tmp/h.txt"
check "INFO/VV_STATUS declared" grep -q '^##INFO=<ID=VV_STATUS,Number=1,Type=String' "$tmp/h.txt"
bcftools query -f '%CHROM\t%POS\t%REF\t%ALT\t%INFO/DP\t%INFO/VV_INPUT_WARN\t%INFO/VV_STATUS\t[%GT,]\n' "$tmp/out.vcf.gz" >"$tmp/q.txt"
check "the overflow record: DP missing, VV_INPUT_WARN says so" \
	grep -q $'^chrA\t20\tAC\tA\t.\tTO_MISSING:INFO/DP\tindel\t' "$tmp/q.txt"
check "one record per variant" test "$(wc -l <"$tmp/q.txt")" -eq "$(wc -l <"$tmp/norm.txt")"
cut -f1-4,7 "$tmp/q.txt" | sort >"$tmp/a"
awk -F'\t' 'BEGIN{OFS="\t"} {print $1,$2,$3,$4,$5}' "$tmp/norm.txt" | sort >"$tmp/b"
check "VV_STATUS equals the iterator's status for every variant" diff "$tmp/a" "$tmp/b"
check "genotypes kept (biallelic) and split (multi-allelic)" \
	grep -q $'^chrA\t3\tT\tC\t7\t.\tsnv\t0/1,1|1,$' "$tmp/q.txt"
check "split GT: the other ALT becomes REF" grep -q $'^chrA\t24\tC\tA\t3\t.\tsnv\t0/1,0|0,$' "$tmp/q.txt"
check "REF mismatch kept with its reason" grep -q $'^chrA\t61\tA\tG\t1\t.\tref_mismatch\t' "$tmp/q.txt"
check "gVCF block kept with its reason" grep -q $'^chrB\t5\tA\t<NON_REF>\t.\t.\tref_block\t' "$tmp/q.txt"
exit $fail
