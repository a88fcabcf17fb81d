/* Result chunks: stored sealed, in order, and opened in order. */
#include "store_int.h"

#include <stdlib.h>
#include <string.h>

static int check_id(const char *id, const char *op)
{
	if (!vv_store_id_valid(id))
		return vv_errf(VV_ERR_INVAL, "store: %s: malformed job id", op);
	return 0;
}

/* Reads the stored copy of chunk index (inside the mutex).  1 found, 0 not. */
static int chunk_read_locked(vv_store *s, const char *id, uint32_t index, uint8_t **blob, size_t *n, bool *last,
			     const char *op)
{
	sqlite3_stmt *st = NULL;
	int rc, src;

	*blob = NULL;
	*n = 0;
	rc = vv_store_prep(s, "SELECT last, blob FROM result_chunks WHERE job_id = ? AND idx = ?", &st, op);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, index);
	src = sqlite3_step(st);
	if (src == SQLITE_ROW) {
		size_t len = (size_t)sqlite3_column_bytes(st, 1);
		*last = sqlite3_column_int(st, 0) != 0;
		*blob = malloc(len ? len : 1);
		if (!*blob) {
			rc = VV_ERR_NOMEM;
		} else {
			if (len)
				memcpy(*blob, sqlite3_column_blob(st, 1), len);
			*n = len;
			rc = 1;
		}
	} else if (src != SQLITE_DONE) {
		rc = vv_store_sql_err(s->db, src, op);
	}
	sqlite3_finalize(st);
	return rc;
}

/* The job's progress through its result (inside the mutex). */
static int job_chunks_locked(vv_store *s, const char *id, const char **state, uint32_t *done, bool *complete,
			     const char *op)
{
	static const char *const names[] = {"queued", "running", "done", "failed", "cancelled"};
	sqlite3_stmt *st = NULL;
	int rc, src;

	rc = vv_store_prep(s, "SELECT state, chunks_done, result_complete FROM jobs WHERE id = ?", &st, op);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	src = sqlite3_step(st);
	if (src == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(st, 0);
		*state = "unknown";
		for (size_t i = 0; t && i < sizeof names / sizeof names[0]; i++)
			if (strcmp(t, names[i]) == 0)
				*state = names[i];
		*done = (uint32_t)sqlite3_column_int64(st, 1);
		*complete = sqlite3_column_int(st, 2) != 0;
	} else if (src == SQLITE_DONE) {
		rc = vv_errf(VV_ERR_NOTFOUND, "store: %s: no job %s", op, id);
	} else {
		rc = vv_store_sql_err(s->db, src, op);
	}
	sqlite3_finalize(st);
	return rc;
}

int vv_store_chunk_put(vv_store *s, const char *id, uint32_t index, bool last, const uint8_t *sealed, size_t n)
{
	static const char op[] = "store result chunk";
	sqlite3_stmt *st = NULL;
	const char *state;
	uint8_t *old = NULL;
	size_t oldn;
	uint32_t done;
	bool complete, oldlast;
	int rc, src;

	if (!s || !sealed)
		return vv_errf(VV_ERR_INVAL, "store: %s: missing argument", op);
	if ((rc = check_id(id, op)))
		return rc;
	if (n < VV_SEAL_OVERHEAD || n > VV_STORE_MAX_CHUNK)
		return vv_errf(VV_ERR_RANGE, "store: %s: job %s chunk %u has %zu bytes", op, id, index, n);
	vv_store_lock(s);
	if ((rc = vv_store_begin(s, op)))
		goto out;
	if ((rc = job_chunks_locked(s, id, &state, &done, &complete, op)))
		goto out;
	if (index < done) {
		/* A retried put of a stored chunk is fine; a different one is not. */
		rc = chunk_read_locked(s, id, index, &old, &oldn, &oldlast, op);
		if (rc < 0)
			goto out;
		if (rc == 1 && oldlast == last && oldn == n && memcmp(old, sealed, n) == 0)
			rc = vv_store_commit(s, op);
		else
			rc = vv_errf(VV_ERR_EXISTS, "store: %s: job %s chunk %u is already stored, differently", op,
				     id, index);
		goto out;
	}
	if (strcmp(state, "running") != 0) {
		rc = vv_errf(VV_ERR_STATE, "store: %s: job %s is %s", op, id, state);
		goto out;
	}
	if (complete || index != done) {
		rc = vv_errf(VV_ERR_INVAL, "store: %s: job %s expects chunk %u%s, not %u", op, id, done,
			     complete ? " (none: its last is stored)" : "", index);
		goto out;
	}
	rc = vv_store_prep(s, "INSERT INTO result_chunks (job_id, idx, last, blob) VALUES (?, ?, ?, ?)", &st, op);
	if (rc)
		goto out;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, index);
	sqlite3_bind_int(st, 3, last);
	sqlite3_bind_blob64(st, 4, sealed, n, SQLITE_STATIC);
	src = sqlite3_step(st);
	sqlite3_finalize(st);
	st = NULL;
	if (src != SQLITE_DONE) {
		rc = vv_store_sql_err(s->db, src, op);
		goto out;
	}
	rc = vv_store_prep(s,
			   "UPDATE jobs SET chunks_done = ?, result_complete = ?, updated_at = ? WHERE id = ?",
			   &st, op);
	if (rc)
		goto out;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)index + 1);
	sqlite3_bind_int(st, 2, last);
	sqlite3_bind_int64(st, 3, vv_store_now());
	sqlite3_bind_text(st, 4, id, -1, SQLITE_STATIC);
	src = sqlite3_step(st);
	if (src != SQLITE_DONE)
		rc = vv_store_sql_err(s->db, src, op);
	if (!rc)
		rc = vv_store_commit(s, op);
out:
	sqlite3_finalize(st);
	if (rc)
		vv_store_rollback(s);
	vv_store_unlock(s);
	free(old);
	return rc;
}

int vv_store_chunk_get(vv_store *s, const char *id, uint32_t index, uint8_t **blob, size_t *n, bool *last)
{
	static const char op[] = "read result chunk";
	int rc;

	if (!blob || !n || !last)
		return vv_errf(VV_ERR_INVAL, "store: %s: missing argument", op);
	*blob = NULL;
	*n = 0;
	*last = false;
	if (!s)
		return vv_errf(VV_ERR_INVAL, "store: %s: missing argument", op);
	if ((rc = check_id(id, op)))
		return rc;
	vv_store_lock(s);
	rc = chunk_read_locked(s, id, index, blob, n, last, op);
	vv_store_unlock(s);
	if (rc == 0)
		return vv_errf(VV_ERR_NOTFOUND, "store: %s: job %s has no chunk %u", op, id, index);
	return rc < 0 ? rc : 0;
}

/* Number of chunks and their total sealed size (length() of a blob does
 * not read its pages). */
static int chunk_totals(vv_store *s, const char *id, uint32_t *n, uint64_t *bytes)
{
	static const char op[] = "count result chunks";
	sqlite3_stmt *st = NULL;
	const char *state;
	uint32_t done;
	bool complete;
	int rc, src;

	if (!s || !n)
		return vv_errf(VV_ERR_INVAL, "store: %s: missing argument", op);
	*n = 0;
	*bytes = 0;
	if ((rc = check_id(id, op)))
		return rc;
	vv_store_lock(s);
	if ((rc = job_chunks_locked(s, id, &state, &done, &complete, op)))
		goto out;
	rc = vv_store_prep(s, "SELECT count(*), coalesce(sum(length(blob)), 0) FROM result_chunks WHERE job_id = ?",
			   &st, op);
	if (rc)
		goto out;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	src = sqlite3_step(st);
	if (src == SQLITE_ROW) {
		*n = (uint32_t)sqlite3_column_int64(st, 0);
		*bytes = (uint64_t)sqlite3_column_int64(st, 1);
	} else {
		rc = vv_store_sql_err(s->db, src, op);
	}
out:
	sqlite3_finalize(st);
	vv_store_unlock(s);
	return rc;
}

int vv_store_chunk_count(vv_store *s, const char *id, uint32_t *n)
{
	uint64_t bytes;

	return chunk_totals(s, id, n, &bytes);
}

int vv_store_result_open_chunk(vv_store *s, const char *id, const uint8_t key[VV_KEY_LEN], uint32_t index,
			       vv_sbuf *out, bool *last)
{
	uint8_t *blob = NULL, empty = 0;
	size_t n = 0;
	int rc;

	if (!out || !last || !key)
		return vv_errf(VV_ERR_INVAL, "store: open result chunk: missing argument");
	*last = false;
	if ((rc = vv_store_chunk_get(s, id, index, &blob, &n, last)))
		return rc;
	if (n < VV_SEAL_OVERHEAD) {
		rc = vv_errf(VV_ERR_DB_CORRUPT, "store: job %s chunk %u is shorter than its seal", id, index);
		goto out;
	}
	if ((rc = vv_sbuf_reserve(out, n - VV_SEAL_OVERHEAD)))
		goto out;
	/* The stored flag is only a claim: the seal binds the real one.  An
	 * empty chunk may leave the buffer without memory: give it a byte. */
	rc = vv_open_chunk(key, id, index, *last, blob, n, out->data ? out->data + out->len : &empty);
	if (rc) {
		vv_err_prefix(rc, "store: job %s chunk %u", id, index);
		goto out;
	}
	out->len += n - VV_SEAL_OVERHEAD;
out:
	if (rc)
		*last = false;
	free(blob);
	return rc;
}

int vv_store_result_read(vv_store *s, const char *id, const uint8_t key[VV_KEY_LEN], vv_sbuf *out)
{
	uint32_t count = 0, i;
	uint64_t bytes = 0;
	bool last = false;
	int rc;

	if (!out)
		return vv_errf(VV_ERR_INVAL, "store: read result: missing argument");
	if ((rc = chunk_totals(s, id, &count, &bytes)))
		goto out;
	/* One allocation instead of a copy at every doubling. */
	if (bytes > (uint64_t)count * VV_SEAL_OVERHEAD && bytes - (uint64_t)count * VV_SEAL_OVERHEAD <= SIZE_MAX &&
	    (rc = vv_sbuf_reserve(out, (size_t)(bytes - (uint64_t)count * VV_SEAL_OVERHEAD))))
		goto out;
	for (i = 0; !last; i++) {
		rc = vv_store_result_open_chunk(s, id, key, i, out, &last);
		if (rc == VV_ERR_NOTFOUND || (!rc && !last && i + 1 >= count)) {
			rc = vv_errf(VV_ERR_TRUNCATED, "store: result of job %s ends without its last chunk (%u stored)",
				     id, count);
			goto out;
		}
		if (rc)
			goto out;
	}
	if (i != count)
		rc = vv_errf(VV_ERR_FORMAT, "store: result of job %s has chunks after its last", id);
out:
	if (rc)
		vv_sbuf_wipe(out);
	return rc;
}
