/* Samples: result keys kept wrapped by the master key; deletion shreds them. */
#include "store_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int check_pseudonym(const char *p, const char *op)
{
	if (!vv_store_pseudonym_valid(p))
		return vv_errf(VV_ERR_INVAL, "store: %s: invalid sample pseudonym", op);
	return 0;
}

int vv_store_sample_exists(vv_store *s, const char *pseudonym)
{
	sqlite3_stmt *st = NULL;
	int rc, src;

	if (!s)
		return vv_errf(VV_ERR_INVAL, "store: sample lookup: missing argument");
	if ((rc = check_pseudonym(pseudonym, "sample lookup")))
		return rc;
	vv_store_lock(s);
	rc = vv_store_prep(s, "SELECT 1 FROM samples WHERE pseudonym = ?", &st, "sample lookup");
	if (!rc) {
		sqlite3_bind_text(st, 1, pseudonym, -1, SQLITE_STATIC);
		src = sqlite3_step(st);
		rc = src == SQLITE_ROW ? 1 : src == SQLITE_DONE ? 0 : vv_store_sql_err(s->db, src, "sample lookup");
	}
	sqlite3_finalize(st);
	vv_store_unlock(s);
	return rc;
}

int vv_store_sample_key(vv_store *s, const uint8_t master_key[VV_KEY_LEN], const char *pseudonym, bool create,
			uint8_t key_out[VV_KEY_LEN])
{
	sqlite3_stmt *st = NULL;
	uint8_t wrapped[VV_KEY_WRAP_LEN];
	size_t plen;
	int rc, src;

	if (!key_out)
		return vv_errf(VV_ERR_INVAL, "store: sample key: missing argument");
	vv_wipe(key_out, VV_KEY_LEN);
	if (!s || !master_key)
		return vv_errf(VV_ERR_INVAL, "store: sample key: missing argument");
	if ((rc = check_pseudonym(pseudonym, "sample key")))
		return rc;
	plen = strlen(pseudonym);
	vv_store_lock(s);
	/* Write lock first: two threads creating one sample must agree on a key. */
	if ((rc = vv_store_begin(s, "sample key")))
		goto out;
	rc = vv_store_prep(s, "SELECT wrapped_key FROM samples WHERE pseudonym = ?", &st, "sample key");
	if (rc)
		goto out;
	sqlite3_bind_text(st, 1, pseudonym, -1, SQLITE_STATIC);
	src = sqlite3_step(st);
	if (src == SQLITE_ROW) {
		if (sqlite3_column_bytes(st, 0) != VV_KEY_WRAP_LEN) {
			rc = vv_errf(VV_ERR_DB_CORRUPT, "store: sample key: wrapped key of the wrong size");
			goto out;
		}
		memcpy(wrapped, sqlite3_column_blob(st, 0), VV_KEY_WRAP_LEN);
		rc = vv_key_unwrap(master_key, wrapped, pseudonym, plen, key_out);
		if (rc)
			vv_err_prefix(rc, "store: sample key");
		goto out;
	}
	if (src != SQLITE_DONE) {
		rc = vv_store_sql_err(s->db, src, "sample key");
		goto out;
	}
	if (!create) {
		rc = vv_errf(VV_ERR_NOTFOUND, "store: sample key: no such sample");
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	vv_key_random(key_out);
	if ((rc = vv_key_wrap(master_key, key_out, pseudonym, plen, wrapped)))
		goto out;
	rc = vv_store_prep(s, "INSERT INTO samples (pseudonym, wrapped_key, created_at) VALUES (?, ?, ?)", &st,
			   "create sample");
	if (rc)
		goto out;
	sqlite3_bind_text(st, 1, pseudonym, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, wrapped, VV_KEY_WRAP_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, vv_store_now());
	src = sqlite3_step(st);
	if (src != SQLITE_DONE)
		rc = vv_store_sql_err(s->db, src, "create sample");
out:
	sqlite3_finalize(st);
	if (!rc)
		rc = vv_store_commit(s, "sample key");
	if (rc) {
		vv_store_rollback(s);
		vv_wipe(key_out, VV_KEY_LEN);
	}
	vv_store_unlock(s);
	vv_wipe(wrapped, sizeof wrapped);
	return rc;
}

/* Runs one statement bound to the pseudonym. */
static int exec_bound(vv_store *s, const char *sql, const char *p, const char *op)
{
	sqlite3_stmt *st = NULL;
	int rc, src;

	if ((rc = vv_store_prep(s, sql, &st, op)))
		return rc;
	sqlite3_bind_text(st, 1, p, -1, SQLITE_STATIC);
	src = sqlite3_step(st);
	if (src != SQLITE_DONE)
		rc = vv_store_sql_err(s->db, src, op);
	sqlite3_finalize(st);
	return rc;
}

int vv_store_delete_sample(vv_store *s, const char *pseudonym, size_t *jobs_deleted)
{
	sqlite3_stmt *st = NULL;
	char (*ids)[VV_STORE_ID_LEN + 1] = NULL;
	char name[VV_STORE_ID_LEN + 6];
	size_t n = 0, cap = 0;
	int rc, src, log = 0, done = 0;
	bool locked = false;

	if (jobs_deleted)
		*jobs_deleted = 0;
	if (!s)
		return vv_errf(VV_ERR_INVAL, "store: delete sample: missing argument");
	if ((rc = check_pseudonym(pseudonym, "delete sample")))
		return rc;
	vv_store_lock(s);
	locked = true;
	if ((rc = vv_store_begin(s, "delete sample")))
		goto out;
	rc = vv_store_prep(s, "SELECT 1 FROM samples WHERE pseudonym = ?", &st, "delete sample");
	if (rc)
		goto out;
	sqlite3_bind_text(st, 1, pseudonym, -1, SQLITE_STATIC);
	src = sqlite3_step(st);
	if (src != SQLITE_ROW) {
		rc = src == SQLITE_DONE ? vv_errf(VV_ERR_NOTFOUND, "store: delete sample: no such sample")
					: vv_store_sql_err(s->db, src, "delete sample");
		goto out;
	}
	sqlite3_finalize(st);
	rc = vv_store_prep(s, "SELECT id FROM jobs WHERE sample = ?", &st, "delete sample");
	if (rc)
		goto out;
	sqlite3_bind_text(st, 1, pseudonym, -1, SQLITE_STATIC);
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		const char *id = (const char *)sqlite3_column_text(st, 0);
		if (!vv_store_id_valid(id))
			continue;
		if ((rc = vv_array_grow((void **)&ids, &cap, n, sizeof *ids, 8)))
			goto out;
		memcpy(ids[n++], id, VV_STORE_ID_LEN + 1);
	}
	if (src != SQLITE_DONE) {
		rc = vv_store_sql_err(s->db, src, "delete sample");
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	/* Children first, explicitly (the schema would cascade too). */
	if ((rc = exec_bound(s, "DELETE FROM result_chunks WHERE job_id IN (SELECT id FROM jobs WHERE sample = ?)",
			     pseudonym, "delete sample results")) ||
	    (rc = exec_bound(s, "DELETE FROM jobs WHERE sample = ?", pseudonym, "delete sample jobs")) ||
	    (rc = exec_bound(s, "DELETE FROM samples WHERE pseudonym = ?", pseudonym, "delete sample key")) ||
	    (rc = vv_store_commit(s, "delete sample")))
		goto out;
	/* The WAL still holds the pages as they were before the delete: copy the
	 * zeroed pages into the database and empty the WAL. */
	src = sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, &log, &done);
	if (src != SQLITE_OK)
		rc = vv_store_sql_err(s->db, src, "delete sample: checkpoint");
	vv_store_unlock(s);
	locked = false;
	if (jobs_deleted)
		*jobs_deleted = n;
	/* Rows are gone, so the files are orphans now; open would remove them. */
	for (size_t i = 0; i < n; i++) {
		vv_store_spool_name(ids[i], name);
		if (unlinkat(s->spoolfd, name, 0) != 0 && errno != ENOENT && !rc)
			rc = vv_errf(VV_ERR_IO, "store: delete sample: remove spool file of job %s: %s", ids[i],
				     strerror(errno));
	}
	if (n) {
		int r2 = vv_store_sync_spool(s);
		if (!rc)
			rc = r2;
	}
out:
	sqlite3_finalize(st);
	if (locked) {
		vv_store_rollback(s);
		vv_store_unlock(s);
	}
	free(ids);
	return rc;
}
