#!/bin/bash
# The audit log as the real varvaultd writes it: every verb, allowed and
# denied, leaves exactly one record with the right actor and outcome (found
# by its request id); job events are recorded once each; a marker in the VCF
# reaches neither the audit table, the log, the export, the query nor the
# report; the auditor cannot submit or read results and a submitter cannot
# read the audit; a client holding a newer checkpoint detects a database
# restored from an older backup (exit 7), and a re-keyed log; the tamper
# matrix through `varvault-admin audit verify` on the daemon's own database.
source "$(dirname "$0")/daemon_lib.bash"
RQ="$PYTHON tests/integration/audit_rq.py"

make_appliance
# Checkpoints often, so that a client holds one newer than a backup.
set_conf checkpoint_records 5
# A role with two verbs only, for denials of the rest (and audit.verify,
# which the daemon does not serve: allowed, then failed).
sed -i 's/^\[roles\]$/[roles]\nlimited = hello audit.verify/' "$T/etc/access.conf"
issue alice submitter
issue bob submitter
issue carol auditor
issue root admin
issue dave limited
issue eve submitter
# eve's certificate chains to the CA but has no entry any more: every
# request of hers is denied.
EVE=$(openssl x509 -in "$T/eve/client.crt" -noout -fingerprint -sha256 | sed 's/.*=//; s/://g' | tr A-F a-f)
sed -i "/^$EVE /d" "$T/etc/access.conf"
grep -q "$EVE" "$T/etc/access.conf" && fail "eve's entry is still there"
start_daemon
DB=$T/state/varvault.db

# rec RID WHO OUTCOME ACTION: exactly one record has request id RID, and it
# is WHO's (subject CN=WHO) ACTION with OUTCOME.  Prints the record.
rec() {
	$RQ --records "$DB" | "$PYTHON" -c '
import json, sys
rid, who, outcome, action = sys.argv[1:5]
recs = [json.loads(l) for l in sys.stdin if l.strip()]
hits = [r for r in recs if r.get("request_id") == rid]
if len(hits) != 1:
    sys.exit("%d records for request %s, want 1" % (len(hits), rid))
r = hits[0]
got = (r.get("event"), r.get("actor", {}).get("subject"), r.get("outcome"), r.get("action"))
want = ("request", "CN=" + who, outcome, action)
if got != want:
    sys.exit("request %s: %s, want %s" % (rid, got, want))
if len(r.get("actor", {}).get("fingerprint", "")) != 64:
    sys.exit("request %s: no fingerprint" % rid)
if outcome != "ok" and not r.get("reason"):
    sys.exit("request %s: %s without a reason" % (rid, outcome))
print(json.dumps(r, separators=(",", ":")))
' "$1" "$2" "$3" "$4" || fail "audit record of $4 by $2"
}
N=0
# call WHO VERB OUTCOME [PARAMS [FILE]]: one request with a fresh id; checks
# its record; the answer is in $T/ans
call() {
	local who=$1 verb=$2 outcome=$3
	N=$((N + 1))
	RID="t$N-$verb-$who"
	$RQ "$T/$who" "$verb" "$RID" "${4:-}" "${5:-}" >"$T/ans" || fail "$verb by $who: no answer"
	if [ "$outcome" = ok ]; then
		grep -q '"ok": true' "$T/ans" || fail "$verb by $who refused: $(cat "$T/ans")"
	else
		grep -q '"ok": false' "$T/ans" || fail "$verb by $who answered ok: $(cat "$T/ans")"
	fi
	rec "$RID" "$who" "$outcome" "$verb" >"$T/rec"
}

# The VCF carries a marker in its header and in every ID.
MARK="VVMARK$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
awk -v m="$MARK" 'BEGIN{OFS="\t"} /^#CHROM/{print "##varvault_marker=" m} /^#/{print; next} {$3=m "_" NR; print}' \
	"$VCF" >"$T/marked.vcf"
"$V" encrypt --recipient-pk "$T/etc/appliance.pub" -i "$T/marked.vcf" -o "$T/m.c4gh"
CT=$(sha256sum "$T/m.c4gh" | cut -c1-64)

# --- every verb, allowed and denied: one record each -----------------------
call alice hello ok
call eve hello denied
grep -q '"role"' "$T/rec" && fail "a denied unknown identity was given a role: $(cat "$T/rec")"
call alice health ok
call dave health denied
call alice submit ok '{"sample":"S1"}' "$T/m.c4gh"
J1=$("$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["job"])' "$T/ans")
grep -q "\"job\":\"$J1\"" "$T/rec" && grep -q "\"sample\":\"S1\"" "$T/rec" &&
	grep -q "\"ciphertext_sha256\":\"$CT\"" "$T/rec" || fail "submit record's object: $(cat "$T/rec")"
call carol submit denied '{"sample":"S9"}'
vv alice status "$J1" --wait >/dev/null || fail "job $J1 did not finish"
call alice status ok "{\"job\":\"$J1\"}"
call carol status denied "{\"job\":\"$J1\"}"
call alice list ok
call carol list denied
call alice result ok "{\"job\":\"$J1\"}"
grep -q "\"job\":\"$J1\"" "$T/rec" || fail "result record has no job: $(cat "$T/rec")"
call carol result denied "{\"job\":\"$J1\"}"
call alice cancel failed "{\"job\":\"$J1\"}" # done already: refused, recorded failed
call bob cancel failed "{\"job\":\"$J1\"}"   # another's job: not found
call carol cancel denied "{\"job\":\"$J1\"}"
call bob submit ok '{"sample":"S2"}' "$T/m.c4gh"
J2=$("$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["job"])' "$T/ans")
N=$((N + 1))
$RQ "$T/bob" cancel "t$N-cancel-bob" "{\"job\":\"$J2\"}" >"$T/ans"
# queued or running: cancelled; or finished first: refused.  Either way one record saying which.
if grep -q '"ok": true' "$T/ans"; then o=ok; else o=failed; fi
rec "t$N-cancel-bob" bob $o cancel >/dev/null
call alice delete denied '{"sample":"S2"}'
call root delete ok '{"sample":"S2"}'
call root delete failed '{"sample":"S2"}' # gone already
call carol audit.query ok '{"action":"submit"}'
call alice audit.query denied
call carol audit.export ok
call alice audit.export denied
call carol audit.prove ok '{"seq":1}'
call bob audit.prove denied '{"seq":1}'
call alice audit.checkpoint ok
call dave audit.checkpoint denied
call dave audit.verify failed # allowed by the policy, not served
call carol audit.verify denied
# A request that does not parse is recorded as well.
$PYTHON tests/integration/vvproto.py "$SOCK" unknown-verb --ca "$T/alice/ca.crt" --cert "$T/alice/client.crt" \
	--key "$T/alice/client.key" | grep -q unknown_verb || fail "unknown verb answer"
$RQ --records "$DB" | tail -n 1 | grep -q '"action":"invalid_request".*"outcome":"failed"' ||
	fail "unknown verb not recorded: $($RQ --records "$DB" | tail -n 1)"
# SIGHUP: the reload is recorded with the new policy's hash.
echo "# reloaded" >>"$T/etc/access.conf"
PSHA=$(sha256sum "$T/etc/access.conf" | cut -c1-64)
kill -HUP "$DPID"
for _ in $(seq 1 100); do
	$RQ --records "$DB" | grep -q "\"action\":\"reload\".*\"policy_sha256\":\"$PSHA\".*\"outcome\":\"ok\"" && break
	sleep 0.1
done
$RQ --records "$DB" | grep -q "\"action\":\"reload\".*\"policy_sha256\":\"$PSHA\"" || fail "the reload was not recorded"
echo "ok  every verb, allowed and denied, left one record ($N requests); the reload too"

# --- job events: once each, with the job's object --------------------------
$RQ --records "$DB" | "$PYTHON" -c '
import json, sys
j = sys.argv[1]
recs = [json.loads(l) for l in sys.stdin if l.strip()]
for a in ("job.started", "job.decrypted", "job.interpreted"):
    hits = [r for r in recs if r.get("action") == a and r.get("object", {}).get("job") == j]
    if len(hits) != 1:
        sys.exit("%s: %d records for job %s" % (a, len(hits), j))
    r = hits[0]
    if r["event"] != "job" or r["object"].get("sample") != "S1" or len(r["object"].get("model_sha256", "")) != 64:
        sys.exit("%s: %s" % (a, r))
if not any(r.get("action") == "start" and r.get("event") == "system" for r in recs):
    sys.exit("no start record")
' "$J1" || fail "job events"
echo "ok  job events recorded once each"

# --- roles through the real client ------------------------------------------
set +e
vv carol submit --sample S3 "$T/m.c4gh" >/dev/null 2>&1; r1=$?
vv carol result "$J1" -o "$T/x" >/dev/null 2>&1; r2=$?
vv alice audit query >/dev/null 2>&1; r3=$?
vv bob audit export --format jsonl -o "$T/x" >/dev/null 2>&1; r4=$?
set -e
[ $r1 -eq 4 ] && [ $r2 -eq 4 ] && [ $r3 -eq 4 ] && [ $r4 -eq 4 ] ||
	fail "role separation: auditor submit $r1, auditor result $r2, submitter query $r3, export $r4 (want 4)"
[ -e "$T/x" ] && fail "a denied result or export wrote a file"
echo "ok  the auditor cannot submit or read results; a submitter cannot read the audit"

# --- the auditor's commands --------------------------------------------------
vv carol audit query >"$T/q.txt" || fail "audit query"
grep -q "^SEQ" "$T/q.txt" && grep -q "CN=alice.*submit" "$T/q.txt" || fail "query table: $(head -5 "$T/q.txt")"
vv carol audit query --json --action submit --outcome denied >"$T/q.json" || fail "query --json"
"$PYTHON" -c '
import json, sys
r = json.load(open(sys.argv[1]))
assert r and all(x["action"] == "submit" and x["outcome"] == "denied" for x in r), r
assert any(x["actor"]["subject"] == "CN=carol" for x in r), r
' "$T/q.json" || fail "query filters"
vv carol audit query --json --actor alice --sample S1 >"$T/q2.json" || fail "query --actor --sample"
"$PYTHON" -c '
import json, sys
r = json.load(open(sys.argv[1]))
assert r and all(x["actor"]["subject"] == "CN=alice" and x["object"]["sample"] == "S1" for x in r), r
' "$T/q2.json" || fail "query by actor and sample"
vv carol audit query --json --since 2000-01-01 --until 2000-01-02 |
	"$PYTHON" -c 'import json,sys; assert json.load(sys.stdin) == []' || fail "query --until"
vv carol audit export --format jsonl -o "$T/exp.jsonl" 2>/dev/null || fail "export jsonl"
vv carol audit export --format csv -o "$T/exp.csv" 2>/dev/null || fail "export csv"
head -n 1 "$T/exp.jsonl" | grep -q '"checkpoint"' || fail "jsonl export has no checkpoint line"
[ "$(($(wc -l <"$T/exp.jsonl") - 1))" = "$(head -n 1 "$T/exp.jsonl" | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["size"])')" ] ||
	fail "jsonl export: records and checkpoint size differ"
grep -q '^"seq","time"' "$T/exp.csv" && grep -q '^# ' "$T/exp.csv" || fail "csv export: $(head -3 "$T/exp.csv")"
vv carol audit prove 3 >"$T/prove" || fail "audit prove"
grep -q "record 3 is in the signed log" "$T/prove" || fail "prove: $(cat "$T/prove")"
vv carol audit report --since 2000-01-01 --format html -o "$T/report.html" || fail "audit report html"
vv carol audit report --since 2000-01-01 -o "$T/report.txt" || fail "audit report text"
REPORT="$T/report.html $T/report.txt"
# The denials are listed, and the checkpoint verified on the connection named.
grep -q "CN=carol" "$T/report.html" && grep -q "denied" "$T/report.html" || fail "report lists no denial"
grep -q "$(sed -n 3p "$(ls "$XDG_STATE_HOME"/varvault/*.checkpoint)")" "$T/report.txt" ||
	fail "the text report does not name the verified checkpoint's origin"
echo "ok  audit query, export (checked against the checkpoint), prove, report"

# --- no marker anywhere -----------------------------------------------------
$RQ --records "$DB" >"$T/records.jsonl"
for f in "$DB" "$DB-wal" "$T/records.jsonl" "$T/daemon.log" "$T/exp.jsonl" "$T/exp.csv" "$T/q.txt" $REPORT; do
	[ -e "$f" ] || continue
	grep -qa "$MARK" "$f" && fail "the VCF's marker reached $f"
done
echo "ok  the marker is in no audit record, log, export, query or report"

# --- a client holding a newer checkpoint detects an older database ----------
stop_daemon
cp "$DB" "$T/backup.db"
[ -s "$DB-wal" ] && fail "the WAL was not checkpointed at stop"
start_daemon
for _ in $(seq 1 15); do vv alice health >/dev/null || fail "health"; done
HELD=$(ls "$XDG_STATE_HOME"/varvault/*.checkpoint)
[ "$(echo "$HELD" | wc -l)" = 1 ] || fail "one held checkpoint per appliance: $HELD"
tail -n +3 "$HELD" >"$T/held.cp"
HSIZE=$(sed -n 2p "$T/held.cp")
BSIZE=$("$PYTHON" -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from audit_records").fetchone()[0])' "$T/backup.db")
[ "$HSIZE" -gt $((BSIZE + 10)) ] || fail "held checkpoint $HSIZE is not well past the backup's $BSIZE records"
stop_daemon
cp "$DB" "$T/full.db"
# The last checkpoint the daemon sent to its log (stop makes one).
grep "audit checkpoint of" "$T/daemon.log" | tail -n 1 | sed 's/.*(hex): //' >"$T/journal.hex"
cp "$T/backup.db" "$DB"
rm -f "$DB-wal" "$DB-shm"
XDG_STATE_HOME=$T/xdg-probe start_daemon
set +e
vv alice health >/dev/null 2>"$T/w.err"; rc=$?
set -e
[ $rc -eq 7 ] || fail "restored backup: health exit $rc, want 7: $(cat "$T/w.err")"
grep -q "AUDIT LOG ROLLED BACK" "$T/w.err" || fail "the error does not name the rollback: $(cat "$T/w.err")"
# A client (another user's state) that never saw this appliance trusts it
# on first use.
XDG_STATE_HOME=$T/xdg-bob vv bob health >/dev/null || fail "bob's first witness check"
echo "ok  a client holding a newer checkpoint detects the restored backup: $(head -c 160 "$T/w.err")"
# The restored log goes on past the held size: now it is a fork of it.
for _ in $(seq 1 25); do XDG_STATE_HOME=$T/xdg-bob vv bob health >/dev/null || fail "bob health"; done
set +e
vv alice health >/dev/null 2>"$T/w2.err"; rc=$?
set -e
[ $rc -eq 7 ] && grep -q "AUDIT LOG FORKED" "$T/w2.err" || fail "forked log: exit $rc: $(cat "$T/w2.err")"
stop_daemon
cp "$DB" "$T/forked.db"
echo "ok  the same client then sees the restored log as a fork of what it held"

# --- the tamper matrix on the daemon's database -----------------------------
# The real keys, kept outside (the operator's copies).
cp "$T/state/keys/audit.pub" "$T/orig.pub"
cp "$T/state/keys/audit.k0" "$T/orig.k0"
PUB=$T/orig.pub
K0=$T/orig.k0
verify() {
	local db=$1
	shift
	set +e
	OUT=$("$ADMIN" audit verify --db "$db" --pubkey "$PUB" --json "$@" 2>"$T/verr")
	RC=$?
	set -e
}
field() { "$PYTHON" -c 'import json,sys; v=json.loads(sys.argv[1]).get(sys.argv[2]); print("null" if v is None else v)' "$OUT" "$1"; }
expect() {
	local name=$1 problem=$2 seq=$3
	shift 3
	verify "$@"
	[ $RC -eq 3 ] || fail "$name: exit $RC (want 3): $OUT $(cat "$T/verr")"
	[ "$(field problem)" = "$problem" ] || fail "$name: problem $(field problem), want $problem: $OUT"
	[ "$seq" = any ] || [ "$(field bad_seq)" = "$seq" ] || fail "$name: bad record $(field bad_seq), want $seq: $OUT"
	echo "ok  $name: $(field problem) at $(field bad_seq): $(field message)"
}
tamper() {
	cp "$T/full.db" "$T/$1.db"
	"$PYTHON" - "$T/$1.db" "$2" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name LIKE 'audit%'").fetchall():
    db.execute("DROP TRIGGER " + t)
db.executescript(sys.argv[2])
db.close()
PY
}
verify "$T/full.db" --k0 "$K0" --checkpoint "$T/held.cp"
[ $RC -eq 0 ] && [ "$(field records)" -gt "$HSIZE" ] || fail "the daemon's untouched log: exit $RC: $OUT $(cat "$T/verr")"
echo "ok  the daemon's untouched log verifies ($(field records) records, held checkpoint of $HSIZE)"
# The checkpoints sent to the log are whole signed notes too.
"$PYTHON" -c 'import sys; sys.stdout.write(bytes.fromhex(open(sys.argv[1]).read().strip()).decode())' "$T/journal.hex" >"$T/journal.cp"
verify "$T/full.db" --k0 "$K0" --checkpoint "$T/journal.cp"
[ $RC -eq 0 ] && [ "$(field external_checkpoints)" = 1 ] || fail "the logged checkpoint: $OUT $(cat "$T/verr")"
expect "the older backup (against the logged checkpoint)" truncated any "$T/backup.db" --k0 "$K0" --checkpoint "$T/journal.cp"
# the first record of alice's that is not the last
SEQ=$("$PYTHON" -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select min(seq) from audit_records where leaf like ? and seq > 5", ("%CN=alice%",)).fetchone()[0])' "$T/full.db")
tamper byte "UPDATE audit_records SET leaf = replace(leaf, 'CN=alice', 'CN=alicf') WHERE seq = $SEQ"
expect "one byte of a record changed" mac "$SEQ" "$T/byte.db" --k0 "$K0"
tamper del "DELETE FROM audit_records WHERE seq = 7"
expect "a record deleted in the middle" sequence 7 "$T/del.db" --k0 "$K0"
tamper swap "CREATE TEMP TABLE s AS SELECT * FROM audit_records WHERE seq IN (9, 10);
UPDATE audit_records SET time_us = (SELECT time_us FROM s WHERE seq = 10), leaf = (SELECT leaf FROM s WHERE seq = 10), mac = (SELECT mac FROM s WHERE seq = 10) WHERE seq = 9;
UPDATE audit_records SET time_us = (SELECT time_us FROM s WHERE seq = 9), leaf = (SELECT leaf FROM s WHERE seq = 9), mac = (SELECT mac FROM s WHERE seq = 9) WHERE seq = 10;"
expect "two records swapped" record 9 "$T/swap.db" --k0 "$K0"
CUT=$((HSIZE - 3))
tamper trunc "DELETE FROM audit_records WHERE seq >= $CUT; DELETE FROM audit_checkpoints WHERE size > $CUT; UPDATE audit_state SET size = $CUT;"
expect "the tail truncated (against the held checkpoint)" truncated any "$T/trunc.db" --k0 "$K0" --checkpoint "$T/held.cp"
verify "$T/backup.db" --k0 "$K0"
[ $RC -eq 0 ] || fail "the older backup alone verifies: $OUT"
expect "the older backup (against the held checkpoint)" truncated any "$T/backup.db" --k0 "$K0" --checkpoint "$T/held.cp"
expect "the forked log (same keys, another history)" fork any "$T/forked.db" --k0 "$K0" --checkpoint "$T/held.cp"

# The whole log replaced, re-hashed and re-signed with other keys: root
# drops the tables and installs new audit keys; the daemon starts a new log.
mkdir "$T/k2"
"$ADMIN" audit keygen --out "$T/k2" --name other >/dev/null
"$PYTHON" - "$DB" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'audit%'").fetchall():
    db.execute("DROP TABLE " + t)
PY
cp "$T/k2/audit.key" "$T/k2/audit.pub" "$T/k2/audit.k0" "$T/state/keys/"
XDG_STATE_HOME=$T/xdg-probe2 start_daemon
set +e
vv alice health >/dev/null 2>"$T/w3.err"; rc=$?
set -e
[ $rc -eq 7 ] && grep -q "AUDIT LOG RE-KEYED" "$T/w3.err" || fail "re-keyed log: exit $rc: $(cat "$T/w3.err")"
vv carol audit export --format jsonl -o /dev/null 2>/dev/null && fail "export from a re-keyed log passed the witness"
stop_daemon
expect "re-hashed and re-signed with another key" checkpoint-signature any "$DB" --checkpoint "$T/held.cp"
expect "re-signed, with the real k0" mac 0 "$DB" --k0 "$K0"
echo "ok  a re-keyed log: the witness refuses it, the verifier names it"
echo "audit daemon tests ok"
