/* Filtered, paged scans of the audit records (audit.query and export). */
#include "varvault/audit_query.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

int64_t vv_audit_scan(sqlite3 *db, const vv_audit_filter *f, size_t max, vv_audit_scan_fn fn, void *ctx,
		      uint64_t *next)
{
	/* The leaf is canonical JSON: SQLite's JSON functions read its fields,
	 * so filters need no second copy of them in columns. */
	static const char sql[] =
		"SELECT seq, CAST(leaf AS TEXT) FROM audit_records WHERE seq >= ?1"
		" AND (?2 = 0 OR seq < ?2) AND (?3 = 0 OR time_us >= ?3) AND (?4 = 0 OR time_us < ?4)"
		" AND (?5 IS NULL OR json_extract(CAST(leaf AS TEXT), '$.actor.subject') IN (?5, 'CN=' || ?5)"
		"      OR json_extract(CAST(leaf AS TEXT), '$.actor.fingerprint') = lower(?5)"
		"      OR json_extract(CAST(leaf AS TEXT), '$.actor.role') = ?5)"
		" AND (?6 IS NULL OR json_extract(CAST(leaf AS TEXT), '$.object.sample') = ?6)"
		" AND (?7 IS NULL OR json_extract(CAST(leaf AS TEXT), '$.action') = ?7)"
		" AND (?8 IS NULL OR json_extract(CAST(leaf AS TEXT), '$.outcome') = ?8)"
		" ORDER BY seq LIMIT ?9";
	sqlite3_stmt *st = NULL;
	int64_t n = 0;
	int src, rc = 0;

	if (next)
		*next = UINT64_MAX;
	if (!db || !f || !fn)
		return vv_errf(VV_ERR_INVAL, "audit scan: missing argument");
	if (f->after > INT64_MAX || f->before > INT64_MAX)
		return vv_errf(VV_ERR_RANGE, "audit scan: seq out of range");
	if ((src = sqlite3_prepare_v2(db, sql, -1, &st, NULL)) != SQLITE_OK)
		return vv_errf(VV_ERR_DB, "audit scan: %s", sqlite3_errmsg(db));
	sqlite3_bind_int64(st, 1, (sqlite3_int64)f->after);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)f->before);
	sqlite3_bind_int64(st, 3, f->since_us);
	sqlite3_bind_int64(st, 4, f->until_us);
	if (f->actor)
		sqlite3_bind_text(st, 5, f->actor, -1, SQLITE_STATIC);
	if (f->sample)
		sqlite3_bind_text(st, 6, f->sample, -1, SQLITE_STATIC);
	if (f->action)
		sqlite3_bind_text(st, 7, f->action, -1, SQLITE_STATIC);
	if (f->outcome)
		sqlite3_bind_text(st, 8, f->outcome, -1, SQLITE_STATIC);
	/* One more than asked, to know whether a next page exists. */
	sqlite3_bind_int64(st, 9, max ? (sqlite3_int64)max + 1 : -1);
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		uint64_t seq = (uint64_t)sqlite3_column_int64(st, 0);
		const char *leaf = (const char *)sqlite3_column_text(st, 1);
		size_t len = (size_t)sqlite3_column_bytes(st, 1);
		if (max && (size_t)n == max) {
			if (next)
				*next = seq;
			break;
		}
		if (!leaf) {
			rc = vv_errf(VV_ERR_DB_CORRUPT, "audit scan: record %llu has no leaf", (unsigned long long)seq);
			goto out;
		}
		if ((rc = fn(ctx, seq, leaf, len)) != 0)
			goto out;
		n++;
	}
	if (src != SQLITE_ROW && src != SQLITE_DONE)
		rc = vv_errf(VV_ERR_DB, "audit scan: %s", sqlite3_errmsg(db));
out:
	sqlite3_finalize(st);
	return rc ? rc : n;
}
