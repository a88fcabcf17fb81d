#!/bin/bash
# `make demo`: the appliance end to end on the bundled defaults.  An
# appliance is made in a temporary folder (varvault-admin init: keys, a local
# CA, the demo model imported), varvaultd is started on a temporary socket, a
# client certificate is issued, the synthetic demo VCF (demo/
# sample.vcf, no patient data) is encrypted on the fly to the appliance's
# key and submitted over mutual TLS, the client waits with a progress bar,
# fetches the results (build/demo/), and the daemon is stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${VV_BIN:-build}
MODEL=${VV_DEMO_MODEL:-models/demo-dna-mlm}
OUT=build/demo
mkdir -p "$OUT"
T=$(mktemp -d /tmp/varvault-demo.XXXXXX)
DPID=
stop() {
	[ -n "$DPID" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null || true
	rm -rf "$T"
}
trap stop EXIT

echo "== 1. varvault-admin init: keys, local CA, the model imported, varvaultd.conf"
"$BIN/varvault-admin" init --state-dir "$T/state" --config-dir "$T/etc" --socket "$T/varvaultd.sock" \
	--model "$MODEL" --reference demo/reference.fa.gz --evidence policy/evidence.conf | sed 's/^/   /'
"$BIN/varvault-admin" client issue --config "$T/etc/varvaultd.conf" --name lab-demo --role submitter \
	-o "$T/client" | sed 's/^/   /'

echo "== 2. varvaultd starts"
# A demo runs as any user, whose RLIMIT_MEMLOCK (8 MiB by default) is far
# below what a worker must lock (varvaultd --check-config): locked where the
# limit allows, and the log and health say where it is not.
"$BIN/varvaultd" --config "$T/etc/varvaultd.conf" --allow-unlocked-memory 2>"$T/varvaultd.log" &
DPID=$!
for _ in $(seq 1 100); do
	"$BIN/varvault" health --config "$T/client/client.conf" >/dev/null 2>&1 && break
	sleep 0.1
done
"$BIN/varvault" health --config "$T/client/client.conf" | sed 's/^/   /'

echo "== 3. the lab submits its VCF, encrypted on the fly to appliance.pub"
C=(--config "$T/client/client.conf")
JOB=$("$BIN/varvault" submit "${C[@]}" --sample DEMO-001 --encrypt-to "$T/etc/appliance.pub" demo/sample.vcf)
echo "   job $JOB"
"$BIN/varvault" status "${C[@]}" --wait "$JOB" | sed 's/^/   /'
"$BIN/varvault" result "${C[@]}" "$JOB" --format vcf -o "$OUT/result.vcf.gz" --force
"$BIN/varvault" result "${C[@]}" "$JOB" --format json -o "$OUT/result.json" --force
"$BIN/varvault" result "${C[@]}" "$JOB" --format tsv -o "$OUT/result.tsv" --force
/usr/bin/python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
s = r.get("summary", {})
json.dump({"records": s.get("records", 0), "variants": s.get("variants", len(r["variants"])),
           "scored": s.get("scored", 0), "not_scored": s.get("not_scored", 0),
           "evidence": {e: sum(1 for v in r["variants"] if v.get("evidence") == e)
                        for e in sorted({v.get("evidence") for v in r["variants"]} - {None, "none"})}},
          open(sys.argv[2], "w"))' "$OUT/result.json" "$OUT/summary.json"

echo "== 4. results in $OUT/: result.vcf.gz (bgzipped VCF), result.json, result.tsv"
/usr/bin/python3 - "$OUT/summary.json" "$OUT/result.tsv" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
print("   %d variants: %d scored, %d kept with a reason" % (s["variants"], s["scored"], s["not_scored"]))
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

echo "== 5. varvaultd stops"
kill "$DPID"
wait "$DPID" || true
DPID=
sed 's/^/   /' "$T/varvaultd.log"
