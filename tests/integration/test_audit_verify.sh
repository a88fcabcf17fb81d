#!/bin/bash
# The audit log's tamper matrix on a database the real library wrote
# (tests/helpers/audit_writer), checked by `varvault-admin audit verify`:
# one byte of a record changed, a record deleted in the middle, two records
# swapped, the tail truncated (found against a checkpoint held outside), a
# database restored from an older copy, a fork (same size, other root), a
# stored checkpoint edited, the whole log re-hashed and re-signed with
# another key.  Each must be detected (exit 3) and named (problem and first
# bad record in --json); the untouched log must verify (exit 0).  Edits go
# through SQLite (python3's sqlite3 module) with the triggers dropped, as
# root on the appliance could do.
set -euo pipefail
cd "$(dirname "$0")/../.."
O=${O:-build}
ADMIN=${VV_BIN:-$PWD/$O}/varvault-admin
WRITER=${VV_BIN:-$PWD/$O}/tests/helpers/audit_writer
PY=${PYTHON:-/usr/bin/python3}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
ORIGIN=test.varvault.invalid/audit

"$ADMIN" audit keygen --out "$T/k" --name "$ORIGIN" >/dev/null 2>&1 && fail "keygen into a missing folder"
mkdir "$T/k" "$T/k2"
"$ADMIN" audit keygen --out "$T/k" --name "$ORIGIN" >/dev/null
for f in audit.key audit.pub audit.k0; do
	[ "$(stat -c %a "$T/k/$f")" = 600 ] || fail "$f mode $(stat -c %a "$T/k/$f")"
done
"$ADMIN" audit keygen --out "$T/k" --name "$ORIGIN" >/dev/null 2>&1 && fail "keygen overwrote keys"
grep -q "^$ORIGIN+[0-9a-f]\{8\}+" "$T/k/audit.pub" || fail "audit.pub format: $(cat "$T/k/audit.pub")"
grep -q "^PRIVATE+KEY+$ORIGIN+" "$T/k/audit.key" || fail "audit.key format"
grep -qx "[0-9a-f]\{64\}" "$T/k/audit.k0" || fail "audit.k0 format"

# The log: 40 records, a checkpoint every 8.  old.db is the same log at 30
# records (an older backup); cp30/cp40 are checkpoints held outside.
"$WRITER" "$T/old.db" "$T/k/audit.key" "$T/k/audit.k0" 30 8 "$ORIGIN" >"$T/cp30"
"$PY" - "$T/old.db" <<'PY'
import sqlite3, sys
sqlite3.connect(sys.argv[1]).execute("PRAGMA wal_checkpoint(TRUNCATE)")
PY
cp "$T/old.db" "$T/log.db"
"$WRITER" "$T/log.db" "$T/k/audit.key" "$T/k/audit.k0" 10 8 "$ORIGIN" >"$T/cp40"
head -n 2 "$T/cp40" | tail -n 1 | grep -qx 40 || fail "checkpoint size: $(cat "$T/cp40")"
head -n 2 "$T/cp30" | tail -n 1 | grep -qx 30 || fail "checkpoint 30 size: $(cat "$T/cp30")"
"$PY" - "$T/log.db" <<'PY'
import sqlite3, sys
sqlite3.connect(sys.argv[1]).execute("PRAGMA wal_checkpoint(TRUNCATE)")
PY

# verify DB [args...]: runs verify --json; sets RC and OUT
verify() {
	local db=$1; shift
	set +e
	OUT=$("$ADMIN" audit verify --db "$db" --pubkey "$T/k/audit.pub" --json "$@" 2>"$T/err")
	RC=$?
	set -e
}
field() { "$PY" -c 'import json,sys; v=json.loads(sys.argv[1]).get(sys.argv[2]); print("null" if v is None else v)' "$OUT" "$1"; }
# expect NAME PROBLEM BAD_SEQ DB [args...]
expect() {
	local name=$1 problem=$2 seq=$3; shift 3
	verify "$@"
	[ $RC -eq 3 ] || fail "$name: exit $RC (want 3): $OUT $(cat "$T/err")"
	[ "$(field problem)" = "$problem" ] || fail "$name: problem $(field problem), want $problem: $OUT"
	[ "$(field bad_seq)" = "$seq" ] || fail "$name: bad record $(field bad_seq), want $seq: $OUT"
	[ -n "$(field message)" ] || fail "$name: no message"
	echo "ok  $name: $(field problem) at $(field bad_seq): $(field message)"
}
# tamper NAME SQL: a copy of the log with SQL applied, triggers dropped
tamper() {
	cp "$T/log.db" "$T/$1.db"
	"$PY" - "$T/$1.db" "$2" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
for t in ("audit_records_no_update", "audit_records_no_delete",
          "audit_checkpoints_no_update", "audit_checkpoints_no_delete"):
    db.execute("DROP TRIGGER " + t)
db.executescript(sys.argv[2])
db.close()
PY
}

# The untouched log verifies, with and without k0 and outside checkpoints.
verify "$T/log.db" --k0 "$T/k/audit.k0" --checkpoint "$T/cp30" --checkpoint "$T/cp40"
[ $RC -eq 0 ] || fail "untouched log: exit $RC: $OUT $(cat "$T/err")"
[ "$(field ok)" = True ] && [ "$(field records)" = 40 ] && [ "$(field macs_checked)" = True ] &&
	[ "$(field external_checkpoints)" = 2 ] || fail "untouched log: $OUT"
[ "$(field stored_checkpoints)" -ge 5 ] || fail "stored checkpoints: $OUT"
verify "$T/log.db"
[ $RC -eq 0 ] || fail "untouched log without k0: exit $RC: $OUT"
"$ADMIN" audit verify --db "$T/log.db" --pubkey "$T/k/audit.pub" --k0 "$T/k/audit.k0" | grep -q "audit log verifies: 40 records" ||
	fail "text output"

# The triggers refuse UPDATE and DELETE on an intact database.
"$PY" - "$T/log.db" <<'PY' || fail "a trigger let an edit through"
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
for sql in ("UPDATE audit_records SET leaf = 'x' WHERE seq = 3", "DELETE FROM audit_records WHERE seq = 3",
            "UPDATE audit_checkpoints SET note = 'x'", "DELETE FROM audit_checkpoints"):
    try:
        db.execute(sql)
    except sqlite3.DatabaseError as e:
        assert "append-only" in str(e), e
        continue
    sys.exit(1)
PY

# 1. one byte of a record changed
tamper byte "UPDATE audit_records SET leaf = replace(leaf, 'PSEUDO-42', 'PSEUDO-43') WHERE seq = 18"
expect "one byte changed (k0)" mac 18 "$T/byte.db" --k0 "$T/k/audit.k0"
expect "one byte changed (no k0)" checkpoint-root 23 "$T/byte.db"
txt=$("$ADMIN" audit verify --db "$T/byte.db" --pubkey "$T/k/audit.pub" --k0 "$T/k/audit.k0" 2>&1 >/dev/null || true)
grep -q "at record 18: record 18: MAC" <<<"$txt" || fail "text output does not name record 18: $txt"
# 2. a record deleted in the middle
tamper del "DELETE FROM audit_records WHERE seq = 12"
expect "record deleted" sequence 12 "$T/del.db" --k0 "$T/k/audit.k0"
expect "record deleted (no k0)" sequence 12 "$T/del.db"
# 3. two records swapped (their contents trade rows)
tamper swap "CREATE TEMP TABLE s AS SELECT * FROM audit_records WHERE seq IN (20, 21);
UPDATE audit_records SET time_us = (SELECT time_us FROM s WHERE seq = 21), leaf = (SELECT leaf FROM s WHERE seq = 21), mac = (SELECT mac FROM s WHERE seq = 21) WHERE seq = 20;
UPDATE audit_records SET time_us = (SELECT time_us FROM s WHERE seq = 20), leaf = (SELECT leaf FROM s WHERE seq = 20), mac = (SELECT mac FROM s WHERE seq = 20) WHERE seq = 21;"
expect "two swapped" record 20 "$T/swap.db" --k0 "$T/k/audit.k0"
# 4. the tail truncated, its stored checkpoints too; found against the
# checkpoint held outside
tamper trunc "DELETE FROM audit_records WHERE seq >= 33; DELETE FROM audit_checkpoints WHERE size > 33;"
expect "tail truncated" truncated 33 "$T/trunc.db" --k0 "$T/k/audit.k0" --checkpoint "$T/cp40"
#    and a clean older copy (restored backup): internally consistent, so
#    only the outside checkpoint can tell
verify "$T/old.db" --k0 "$T/k/audit.k0"
[ $RC -eq 0 ] || fail "the older copy alone should verify: $OUT"
expect "restored older copy" truncated 30 "$T/old.db" --k0 "$T/k/audit.k0" --checkpoint "$T/cp40"
# 5. a fork: the same keys, another history of the same size
"$WRITER" "$T/fork.db" "$T/k/audit.key" "$T/k/audit.k0" 40 8 "$ORIGIN" >/dev/null
verify "$T/fork.db" --k0 "$T/k/audit.k0"
[ $RC -eq 0 ] || fail "the fork alone verifies (same keys): $OUT"
expect "fork" fork 39 "$T/fork.db" --k0 "$T/k/audit.k0" --checkpoint "$T/cp40"
grep -q "cp40" <<<"$(field message)" || fail "fork message does not name the checkpoint file"
# 6. a stored checkpoint edited (its size moved)
tamper cpedit "UPDATE audit_checkpoints SET note = replace(note, char(10) || '16' || char(10), char(10) || '17' || char(10)) WHERE size = 16"
expect "stored checkpoint edited" checkpoint-signature 15 "$T/cpedit.db"
# 7. the whole log re-hashed and re-signed with another key (and k0)
"$ADMIN" audit keygen --out "$T/k2" --name "$ORIGIN" >/dev/null
"$WRITER" "$T/resign.db" "$T/k2/audit.key" "$T/k2/audit.k0" 40 8 "$ORIGIN" >/dev/null
expect "re-signed (k0)" mac 0 "$T/resign.db" --k0 "$T/k/audit.k0"
expect "re-signed (no k0)" checkpoint-signature 7 "$T/resign.db"
expect "re-signed, outside checkpoint" checkpoint-signature 7 "$T/resign.db" --checkpoint "$T/cp40"
# an outside checkpoint that is not ours is refused by name
expect "foreign outside checkpoint" external-signature null "$T/log.db" \
	--checkpoint <("$WRITER" "$T/other.db" "$T/k2/audit.key" "$T/k2/audit.k0" 3 8 "$ORIGIN")
# 8. the state row rewound (the next append would fork the log)
#    (audit_state has no triggers: it is the one mutable table)
cp "$T/log.db" "$T/state.db"
"$PY" -c 'import sqlite3,sys; d=sqlite3.connect(sys.argv[1]); d.execute("UPDATE audit_state SET size = 39"); d.commit()' "$T/state.db"
expect "state rewound" state 40 "$T/state.db" --k0 "$T/k/audit.k0"
# 9. the triggers dropped and nothing else: named too
tamper notrig ""
expect "triggers dropped" schema null "$T/notrig.db" --k0 "$T/k/audit.k0"

# Could-not-check is exit 1, not 3; usage is 2.
set +e
"$ADMIN" audit verify --db "$T/nonexistent.db" --pubkey "$T/k/audit.pub" >/dev/null 2>&1; rc1=$?
echo garbage >"$T/bad.pub"
"$ADMIN" audit verify --db "$T/log.db" --pubkey "$T/bad.pub" >/dev/null 2>&1; rc2=$?
"$ADMIN" audit verify --db "$T/log.db" >/dev/null 2>&1; rc3=$?
set -e
[ $rc1 -eq 1 ] && [ $rc2 -eq 1 ] && [ $rc3 -eq 2 ] || fail "exit codes: missing db $rc1, bad key $rc2, usage $rc3"
echo "audit tamper matrix ok"
