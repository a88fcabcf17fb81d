#!/bin/bash
# varvaultd counts what a VCF decompresses to: a record bomb (a small
# bgzipped file of more records than [daemon] max_records) and a text bomb
# (more decompressed bytes than max_text_bytes) each fail with an error that
# names the limit and the line where it was crossed; the daemon serves on,
# and a normal job afterwards succeeds.
source "$(dirname "$0")/daemon_lib.bash"
command -v bgzip >/dev/null || { echo "bgzip missing (make deps installs tabix)"; exit 77; }

make_appliance
issue alice submitter
set_conf max_records 1000
set_conf max_text_bytes 200K
start_daemon
PUB=$T/etc/appliance.pub

header() {
	printf '##fileformat=VCFv4.2\n##contig=<ID=20,length=63025520>\n'
	printf '##INFO=<ID=DP,Number=1,Type=Integer,Description="depth">\n'
	printf '##INFO=<ID=NOTE,Number=1,Type=String,Description="a note">\n'
	printf '#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n'
}
# expect_fail JOB WHAT PATTERN...: the job failed, its reason matching each pattern
expect_fail() {
	local j=$1 what=$2 rc
	shift 2
	set +e
	vv alice status "$j" --wait >"$T/st" 2>&1; rc=$?
	set -e
	[ $rc -ne 0 ] || fail "$what: the job did not fail: $(cat "$T/st")"
	[ "$(job_field alice "$j" "['state']")" = failed ] || fail "$what: state $(job_field alice "$j" "['state']")"
	for p in "$@"; do
		grep -q -- "$p" "$T/st" || fail "$what: reason lacks '$p': $(cat "$T/st")"
	done
	vv alice health >/dev/null || fail "daemon stopped serving after the $what"
}

# a record bomb: 200000 records, under 1 MB compressed; header is 5 lines, so
# record 1001 is line 1006
{ header; awk 'BEGIN{for(i=0;i<200000;i++) printf "20\t%d\t.\tN\tA\t50\tPASS\tDP=10\n", 1000+10*i}'; } |
	bgzip >"$T/bomb.vcf.gz"
[ "$(stat -c %s "$T/bomb.vcf.gz")" -lt 1000000 ] || fail "the record bomb is not small compressed"
JB=$(vv alice submit --sample BOMB --encrypt-to "$PUB" "$T/bomb.vcf.gz") || fail "submit record bomb"
expect_fail "$JB" "record bomb" "max_records" "line 1006" "more than 1000 records"

# a text bomb: 100 records (under max_records) of 4 KB each
{ header; awk 'BEGIN{n=sprintf("%4000s",""); gsub(/ /,"x",n); for(i=0;i<100;i++) printf "20\t%d\t.\tN\tA\t50\tPASS\tNOTE=%s\n", 1000+10*i, n}'; } |
	bgzip >"$T/text.vcf.gz"
JT=$(vv alice submit --sample TEXT --encrypt-to "$PUB" "$T/text.vcf.gz") || fail "submit text bomb"
expect_fail "$JT" "text bomb" "max_text_bytes" "line [0-9]" "decompressed"

# the log names the job's failure, not the file's contents
grep -q "max_records" "$T/daemon.log" || fail "the log does not say why the record bomb failed"

# and a normal job afterwards is done
JN=$(vv alice submit --sample OK --encrypt-to "$PUB" "$VCF") || fail "submit normal"
vv alice status "$JN" --wait >"$T/st" || fail "normal job after the bombs: $(cat "$T/st")"
vv alice result "$JN" --format tsv -o "$T/r.tsv" || fail "result after the bombs"
[ "$(grep -vc '^#' "$T/r.tsv")" -gt 100 ] || fail "result after the bombs has too few rows"
stop_daemon
echo "daemon limits ok"
