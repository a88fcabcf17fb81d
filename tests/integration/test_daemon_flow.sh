#!/bin/bash
# varvaultd end to end with certificates from varvault-admin: submit, status
# and result in each format byte-equal to varvault-admin annotate; list,
# cancel, --json; a plaintext checksum that does not match is refused;
# delete leaves that sample's results unreadable and others readable; a
# marker in a plain VCF reaches no file of the state folder nor the log.
source "$(dirname "$0")/daemon_lib.bash"

make_appliance
issue alice submitter
issue bob submitter
issue root admin
start_daemon

# hello first: a working client says so; health through --json
vv alice health | grep -q '^ok: varvaultd' || fail "health"
vv alice health --json | grep -q '"status":"ok"' || fail "health --json"
# settings from VARVAULT_CONFIG, else ~/.config/varvault/client.conf
VARVAULT_CONFIG=$T/alice/client.conf "$V" health >/dev/null || fail "VARVAULT_CONFIG"
mkdir -p "$T/home/.config/varvault"
cp "$T/bob/client.conf" "$T/home/.config/varvault/client.conf"
HOME=$T/home "$V" health --json | grep -q '"status":"ok"' || fail "~/.config/varvault/client.conf"

# A plain VCF carrying a unique marker, encrypted on the fly.
MARK="VVMARK$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
awk -v m="$MARK" 'BEGIN{OFS="\t"} /^#CHROM/{print "##varvault_marker=" m} /^#/{print; next} {$3=m "_" NR; print}' \
	"$VCF" >"$T/marked.vcf"
J1=$(vv alice submit --sample S1 --encrypt-to "$T/etc/appliance.pub" "$T/marked.vcf") || fail "submit"
[[ $J1 =~ ^[0-9a-f]{32}$ ]] || fail "submit printed '$J1'"
vv alice status "$J1" --wait >"$T/st" || fail "status --wait: $(cat "$T/st")"
grep -q "done" "$T/st" || fail "status --wait did not end done"
for f in vcf json tsv; do
	vv alice result "$J1" --format "$f" -o "$T/r.$f" || fail "result $f"
	"$ADMIN" annotate -q --model "$MODEL" --reference $REF --policy $EVID --vcf "$T/marked.vcf" \
		--format $f -o "$T/a.$f"
	cmp -s "$T/r.$f" "$T/a.$f" || fail "result $f differs from annotate"
done
[ "$(stat -c %a "$T/r.vcf")" = 600 ] || fail "result file mode"
# the default format is the submitted one; stdout works too
vv alice result "$J1" | cmp -s - "$T/a.vcf" || fail "result to stdout"
[ "$(job_field alice "$J1" "['verified']")" = True ] || fail "job not verified"

# Another submitter sees neither the job nor its result; an admin sees all.
set +e
vv bob status "$J1" >/dev/null 2>&1; rc=$?
set -e
[ $rc -eq 5 ] || fail "bob status of alice's job: exit $rc, want 5"
vv bob list | grep -q "$J1" && fail "bob lists alice's job"
vv root list | grep -q "$J1" || fail "admin list"
vv alice list --json | grep -q "\"$J1\"" || fail "list --json"

# A Crypt4GH file as it is, with a wrong plaintext SHA-256: refused.
"$V" encrypt --recipient-pk "$T/etc/appliance.pub" -i "$VCF" -o "$T/s.c4gh"
BAD=$(printf 'x' | sha256sum | cut -c1-64)
J2=$(vv bob submit --sample S2 --plaintext-sha256 "$BAD" "$T/s.c4gh") || fail "submit c4gh"
set +e
vv bob status "$J2" --wait >"$T/st2" 2>&1; rc=$?
set -e
[ $rc -eq 6 ] || fail "checksum mismatch: status exit $rc, want 6: $(cat "$T/st2")"
grep -qi "checksum" "$T/st2" || fail "checksum mismatch reason: $(cat "$T/st2")"
# ...and the right one is accepted, unverified without it
GOOD=$(sha256sum "$VCF" | cut -c1-64)
J3=$(vv bob submit --sample S2 --plaintext-sha256 "$GOOD" "$T/s.c4gh") || fail "submit c4gh good"
J4=$(vv bob submit --sample S3 "$T/s.c4gh" 2>/dev/null) || fail "submit unverified"
wait_state bob "$J3" done
wait_state bob "$J4" done
[ "$(job_field bob "$J4" "['verified']")" = False ] || fail "job without checksum is not unverified"
vv bob result "$J3" -o "$T/r3.vcf" || fail "result J3"

# A plain VCF without --encrypt-to is a usage error; nothing is sent.
set +e
vv alice submit --sample S9 "$VCF" 2>/dev/null; rc=$?
set -e
[ $rc -eq 2 ] || fail "plain VCF without --encrypt-to: exit $rc"

# cancelling a finished job is refused
set +e
vv alice cancel "$J1" >/dev/null 2>&1; rc=$?
set -e
[ $rc -eq 5 ] || fail "cancel of a done job: exit $rc, want 5"

# delete (admin): S2's results unreadable, S1's and S3's readable.
vv root delete --sample S2 | grep -q "2 job" || fail "delete"
set +e
vv bob result "$J3" -o "$T/gone.vcf" 2>/dev/null; rc=$?
set -e
[ $rc -eq 5 ] && [ ! -e "$T/gone.vcf" ] || fail "deleted sample's result: exit $rc"
vv alice result "$J1" --format tsv | cmp -s - "$T/a.tsv" || fail "other sample after delete"
vv bob result "$J4" >/dev/null || fail "S3 after delete"

stop_daemon
# The marker is in no file of the state folder and not in the log.
if grep -rqa "$MARK" "$T/state" "$T/daemon.log"; then
	fail "the marker is on disk: $(grep -rla "$MARK" "$T/state" "$T/daemon.log")"
fi
gzip -dc "$T/r.vcf" >"$T/r.vcf.txt"
grep -q "$MARK" "$T/r.vcf.txt" || fail "the marker should be in the result itself (test is blind)"
echo "daemon flow: ok"
