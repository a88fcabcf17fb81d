#!/bin/bash
# varvaultd with a precomputed SNV score table (scores = in [model]): the
# worker opens it with the model and reference and looks SNVs up; results
# are byte for byte varvault-admin annotate's without a table; a table made
# for another scoring policy stops the daemon at start with a clear error.
source "$(dirname "$0")/daemon_lib.bash"

awk '!/^#/ && length($4) == 1 && length($5) == 1 { print $1 "\t" $2 - 1 "\t" $2 }' "$VCF" | sort -u >"$T/snv.bed"
"$ADMIN" precompute -q --model "$MODEL" --reference "$REF" --regions "$T/snv.bed" -o "$T/scores.tsv.gz" ||
	fail "precompute"
"$ADMIN" precompute -q --model "$MODEL" --reference "$REF" --regions "$T/snv.bed" --window 64 \
	-o "$T/w64.tsv.gz" || fail "precompute --window 64"

make_appliance
issue alice submitter
sed -i "s|^\[model\]\$|[model]\nscores = $T/w64.tsv.gz|" "$CONF"
grep -q "^scores = $T/w64.tsv.gz\$" "$CONF" || fail "scores line not added"
# another scoring policy (a 64-base window): refused at start, naming it
set +e
give_to_service_user
timeout 60 "$D" --config "$CONF" >"$T/refused.log" 2>&1; rc=$?
set -e
[ $rc -ne 0 ] && [ $rc -ne 124 ] || fail "varvaultd started with a table for another policy (status $rc)"
grep -q "made for another scoring policy" "$T/refused.log" || { cat "$T/refused.log"; fail "refusal message"; }

sed -i "s|^scores = .*|scores = $T/scores.tsv.gz|" "$CONF"
start_daemon
grep -q "score table .* matches" "$T/daemon.log" || fail "no start-up check of the table"
J=$(vv alice submit --sample S1 --encrypt-to "$T/etc/appliance.pub" "$VCF") || fail "submit"
vv alice status "$J" --wait >"$T/st" || fail "status --wait: $(cat "$T/st")"
grep -q "done" "$T/st" || fail "job did not end done"
for f in vcf json tsv; do
	vv alice result "$J" --format "$f" -o "$T/r.$f" || fail "result $f"
	"$ADMIN" annotate -q --model "$MODEL" --reference $REF --policy $EVID --vcf "$VCF" --format $f -o "$T/a.$f"
	cmp -s "$T/r.$f" "$T/a.$f" || fail "result $f with the table differs from annotate without it"
done
stop_daemon
# The worker really looks up: a table with one score altered (same header)
# shows it in the result.
if command -v bgzip >/dev/null && command -v tabix >/dev/null; then
	read -r p a <<<"$(awk '!/^#/ && length($4) == 1 && length($5) == 1 { print $2, $5; exit }' "$VCF")"
	gzip -dc "$T/scores.tsv.gz" | awk -F'\t' -v OFS='\t' -v p="$p" -v a="$a" \
		'!/^#/ && $2 == p && $4 == a { $5 = "-99.5" } 1' | bgzip >"$T/alt.tsv.gz"
	tabix -s1 -b2 -e2 -c'#' "$T/alt.tsv.gz"
	sed -i "s|^scores = .*|scores = $T/alt.tsv.gz|" "$CONF"
	start_daemon
	J=$(vv alice submit --sample S2 --encrypt-to "$T/etc/appliance.pub" "$VCF") || fail "submit 2"
	vv alice status "$J" --wait >/dev/null || fail "status --wait 2"
	vv alice result "$J" --format tsv -o "$T/alt.tsv" || fail "result 2"
	grep -q -- "-99.5" "$T/alt.tsv" || fail "the worker did not use the table's score"
	stop_daemon
fi
echo "daemon scores ok"
