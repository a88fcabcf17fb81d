#!/bin/bash
# `make demo`: the main job on the bundled defaults.  The synthetic demo VCF
# (demo/sample.vcf, no patient data) is encrypted as a lab would
# encrypt it, decrypted into memory, and interpreted with the bundled model
# (models/demo-dna-mlm) against the bundled reference and evidence policy.
# Results land in build/demo/.  (Once varvaultd exists, the demo goes
# through the daemon.)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${VV_BIN:-build}
MODEL=${VV_DEMO_MODEL:-models/demo-dna-mlm}
OUT=build/demo
mkdir -p "$OUT"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

echo "== 1. the lab encrypts its VCF to the appliance's Crypt4GH key"
"$BIN/varvault" keygen --nocrypt --sk "$T/appliance.sec" --pk "$T/appliance.pub"
"$BIN/varvault" encrypt --recipient-pk "$T/appliance.pub" -i demo/sample.vcf -o "$T/sample.vcf.c4gh"
echo "   demo/sample.vcf -> $(stat -c %s "$T/sample.vcf.c4gh") bytes of Crypt4GH"

echo "== 2. decrypted in memory, normalized, scored by $MODEL, graded by policy/evidence.conf"
for fmt in vcf json tsv; do
	ext=$fmt
	[ $fmt = vcf ] && ext=vcf.gz
	"$BIN/varvault" decrypt --sk "$T/appliance.sec" -i "$T/sample.vcf.c4gh" |
		"$BIN/varvault-admin" annotate -q --model "$MODEL" --reference demo/reference.fa.gz \
			--policy policy/evidence.conf --vcf - --format $fmt --force -o "$OUT/result.$ext" \
			--summary-json "$OUT/summary.json"
done

echo "== 3. results in $OUT/: result.vcf.gz (bgzipped VCF), result.json, result.tsv"
/usr/bin/python3 - "$OUT/summary.json" "$OUT/result.tsv" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
print("   %d records -> %d variants: %d scored, %d kept with a reason; %.1f s (%.1f s in the model)"
      % (s["records"], s["variants"], s["scored"], s["not_scored"], s["total_seconds"], s["engine_seconds"]))
print("   evidence: " + ", ".join("%s %d" % (k, v) for k, v in s["evidence"].items() if v))
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[2]) if not l.startswith("#")]
head, rows = rows[0], rows[1:]
scored = sorted((r for r in rows if r[9] != "."), key=lambda r: float(r[9]))
print("   lowest scores (least expected ALT):")
for r in scored[:5]:
    print("     %s:%s %s>%s  %s %s  %s" % (r[0], r[1], r[2], r[3], r[8], r[9], r[10]))
kept = [r for r in rows if r[9] == "."]
print("   not scored:")
for r in kept:
    print("     %s:%s %s>%s  %s" % (r[0], r[1], r[2][:10], r[3][:24], r[7]))
PY
echo "   the evidence policy is UNCALIBRATED and the demo model is not clinically validated"
echo "   (models/demo-dna-mlm/MODEL_CARD.md)"
