/* Jobs: reading, listing, claiming, and the state machine's transitions. */
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const vv_state_names[] = {"queued", "running", "done", "failed", "cancelled"};
#define N_STATES (sizeof vv_state_names / sizeof vv_state_names[0])

const char *vv_store_state_name(enum vv_store_state st)
{
	return (unsigned)st < N_STATES ? vv_state_names[st] : "unknown";
}

static int state_parse(const char *s, enum vv_store_state *st)
{
	for (size_t i = 0; s && i < N_STATES; i++)
		if (strcmp(s, vv_state_names[i]) == 0) {
			*st = (enum vv_store_state)i;
			return 0;
		}
	return vv_errf(VV_ERR_DB_CORRUPT, "store: a job has an unknown state");
}

static int check_id(const char *id, const char *op)
{
	if (!vv_store_id_valid(id))
		return vv_errf(VV_ERR_INVAL, "store: %s: malformed job id", op);
	return 0;
}

#define JOB_COLUMNS                                                                                      \
	"id, sample, submitter, format, state, created_at, updated_at, ct_sha256, ct_bytes,"             \
	" plaintext_sha256, progress_done, progress_total, chunks_done, result_complete, attempts,"     \
	" error_code, error_msg"

static void copy_text(sqlite3_stmt *st, int col, char *dst, size_t cap)
{
	const char *t = (const char *)sqlite3_column_text(st, col);
	size_t n = t ? strnlen(t, cap - 1) : 0;

	if (n)
		memcpy(dst, t, n);
	dst[n] = '\0';
}

static int copy_hash(sqlite3_stmt *st, int col, uint8_t out[32])
{
	if (sqlite3_column_bytes(st, col) != 32)
		return vv_errf(VV_ERR_DB_CORRUPT, "store: a job's hash has the wrong size");
	memcpy(out, sqlite3_column_blob(st, col), 32);
	return 0;
}

/* Fills a job from a row of JOB_COLUMNS. */
static int row_to_job(sqlite3_stmt *st, vv_store_job *j)
{
	int rc;

	memset(j, 0, sizeof *j);
	copy_text(st, 0, j->id, sizeof j->id);
	copy_text(st, 1, j->sample, sizeof j->sample);
	copy_text(st, 2, j->submitter, sizeof j->submitter);
	copy_text(st, 3, j->format, sizeof j->format);
	if ((rc = state_parse((const char *)sqlite3_column_text(st, 4), &j->state)))
		return rc;
	j->created_at = sqlite3_column_int64(st, 5);
	j->updated_at = sqlite3_column_int64(st, 6);
	if ((rc = copy_hash(st, 7, j->ct_sha256)))
		return rc;
	j->ct_bytes = (uint64_t)sqlite3_column_int64(st, 8);
	j->verified = sqlite3_column_type(st, 9) != SQLITE_NULL;
	if (j->verified && (rc = copy_hash(st, 9, j->plaintext_sha256)))
		return rc;
	j->progress_done = (uint64_t)sqlite3_column_int64(st, 10);
	j->progress_total = (uint64_t)sqlite3_column_int64(st, 11);
	j->chunks_done = (uint32_t)sqlite3_column_int64(st, 12);
	j->result_complete = sqlite3_column_int(st, 13) != 0;
	j->attempts = (uint32_t)sqlite3_column_int64(st, 14);
	j->error_code = sqlite3_column_int(st, 15);
	copy_text(st, 16, j->error_msg, sizeof j->error_msg);
	return 0;
}

/* Reads a job inside the mutex. */
static int get_locked(vv_store *s, const char *id, vv_store_job *out, const char *op)
{
	sqlite3_stmt *st = NULL;
	int rc, src;

	rc = vv_store_prep(s, "SELECT " JOB_COLUMNS " FROM jobs WHERE id = ?", &st, op);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	src = sqlite3_step(st);
	if (src == SQLITE_ROW)
		rc = row_to_job(st, out);
	else if (src == SQLITE_DONE)
		rc = vv_errf(VV_ERR_NOTFOUND, "store: %s: no job %s", op, id);
	else
		rc = vv_store_sql_err(s->db, src, op);
	sqlite3_finalize(st);
	return rc;
}

int vv_store_job_get(vv_store *s, const char *id, vv_store_job *out)
{
	int rc;

	if (!s || !out)
		return vv_errf(VV_ERR_INVAL, "store: job get: missing argument");
	if ((rc = check_id(id, "job get")))
		return rc;
	vv_store_lock(s);
	rc = get_locked(s, id, out, "job get");
	vv_store_unlock(s);
	return rc;
}

int vv_store_job_list(vv_store *s, const char *submitter, size_t max, vv_store_job **jobs, size_t *n)
{
	sqlite3_stmt *st = NULL;
	vv_store_job *v = NULL;
	size_t cap = 0, k = 0;
	int rc, src;

	if (!jobs || !n)
		return vv_errf(VV_ERR_INVAL, "store: job list: missing argument");
	*jobs = NULL;
	*n = 0;
	if (!s)
		return vv_errf(VV_ERR_INVAL, "store: job list: missing argument");
	vv_store_lock(s);
	rc = vv_store_prep(s,
			   submitter ? "SELECT " JOB_COLUMNS " FROM jobs WHERE submitter = ? ORDER BY rowid LIMIT ?"
				     : "SELECT " JOB_COLUMNS " FROM jobs WHERE ?1 IS NULL ORDER BY rowid LIMIT ?2",
			   &st, "job list");
	if (rc)
		goto out;
	if (submitter)
		sqlite3_bind_text(st, 1, submitter, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 1);
	sqlite3_bind_int64(st, 2, max ? (sqlite3_int64)max : -1);
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		if ((rc = vv_array_grow((void **)&v, &cap, k, sizeof *v, 16)))
			goto out;
		if ((rc = row_to_job(st, &v[k])))
			goto out;
		k++;
	}
	if (src != SQLITE_DONE)
		rc = vv_store_sql_err(s->db, src, "job list");
out:
	sqlite3_finalize(st);
	vv_store_unlock(s);
	if (rc) {
		free(v);
		return rc;
	}
	*jobs = v;
	*n = k;
	return 0;
}

int vv_store_job_count(vv_store *s, enum vv_store_state state, size_t *n)
{
	sqlite3_stmt *st = NULL;
	int rc, src;

	if (!s || !n || (unsigned)state >= N_STATES)
		return vv_errf(VV_ERR_INVAL, "store: job count: bad argument");
	*n = 0;
	vv_store_lock(s);
	rc = vv_store_prep(s, "SELECT count(*) FROM jobs WHERE state = ?", &st, "job count");
	if (!rc) {
		sqlite3_bind_text(st, 1, vv_state_names[state], -1, SQLITE_STATIC);
		src = sqlite3_step(st);
		if (src == SQLITE_ROW)
			*n = (size_t)sqlite3_column_int64(st, 0);
		else
			rc = vv_store_sql_err(s->db, src, "job count");
	}
	sqlite3_finalize(st);
	vv_store_unlock(s);
	return rc;
}

int vv_store_job_claim(vv_store *s, vv_store_job *out)
{
	sqlite3_stmt *st = NULL;
	char id[VV_STORE_ID_LEN + 1];
	int rc, src;

	if (!s || !out)
		return vv_errf(VV_ERR_INVAL, "store: claim: missing argument");
	vv_store_lock(s);
	if ((rc = vv_store_begin(s, "claim")))
		goto out;
	rc = vv_store_prep(s, "SELECT id FROM jobs WHERE state = 'queued' ORDER BY rowid LIMIT 1", &st, "claim");
	if (rc)
		goto out;
	src = sqlite3_step(st);
	if (src == SQLITE_DONE) {
		rc = vv_store_commit(s, "claim");
		goto out;  /* rc 0: nothing queued */
	}
	if (src != SQLITE_ROW) {
		rc = vv_store_sql_err(s->db, src, "claim");
		goto out;
	}
	copy_text(st, 0, id, sizeof id);
	sqlite3_finalize(st);
	rc = vv_store_prep(s,
			   "UPDATE jobs SET state = 'running', attempts = attempts + 1, updated_at = ? WHERE id = ?",
			   &st, "claim");
	if (rc)
		goto out;
	sqlite3_bind_int64(st, 1, vv_store_now());
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	src = sqlite3_step(st);
	if (src != SQLITE_DONE) {
		rc = vv_store_sql_err(s->db, src, "claim");
		goto out;
	}
	if ((rc = get_locked(s, id, out, "claim")) || (rc = vv_store_commit(s, "claim")))
		goto out;
	rc = 1;
out:
	sqlite3_finalize(st);
	if (rc < 0)
		vv_store_rollback(s);
	vv_store_unlock(s);
	return rc;
}

/* One transition inside the mutex: from must contain the job's state (a
 * bit per state).  finish also needs the last chunk stored. */
static int transition(vv_store *s, const char *id, unsigned from, enum vv_store_state to, int code,
		      const char *msg, const char *op)
{
	sqlite3_stmt *st = NULL;
	vv_store_job j;
	char m[VV_STORE_MSG_MAX + 1];
	int rc, src;

	if ((rc = vv_store_begin(s, op)))
		return rc;
	if ((rc = get_locked(s, id, &j, op)))
		goto out;
	if (!(from & (1u << j.state))) {
		rc = vv_errf(VV_ERR_STATE, "store: %s: job %s is %s", op, id, vv_store_state_name(j.state));
		goto out;
	}
	if (to == VV_STORE_DONE && !j.result_complete) {
		rc = vv_errf(VV_ERR_TRUNCATED, "store: %s: job %s has no last result chunk", op, id);
		goto out;
	}
	rc = vv_store_prep(s,
			   "UPDATE jobs SET state = ?, updated_at = ?, error_code = ?, error_msg = ? WHERE id = ?",
			   &st, op);
	if (rc)
		goto out;
	sqlite3_bind_text(st, 1, vv_state_names[to], -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, vv_store_now());
	sqlite3_bind_int(st, 3, to == VV_STORE_FAILED ? code : 0);
	if (to == VV_STORE_FAILED) {
		snprintf(m, sizeof m, "%s", msg ? msg : "");
		/* The message reaches logs and terminals: no control characters. */
		for (char *c = m; *c; c++)
			if ((unsigned char)*c < 0x20 || *c == 0x7f)
				*c = '?';
		sqlite3_bind_text(st, 4, m, -1, SQLITE_TRANSIENT);
	} else {
		sqlite3_bind_null(st, 4);
	}
	sqlite3_bind_text(st, 5, id, -1, SQLITE_STATIC);
	src = sqlite3_step(st);
	if (src != SQLITE_DONE)
		rc = vv_store_sql_err(s->db, src, op);
	if (!rc)
		rc = vv_store_commit(s, op);
out:
	sqlite3_finalize(st);
	if (rc)
		vv_store_rollback(s);
	return rc;
}

#define FROM(st) (1u << (st))

static int transition_api(vv_store *s, const char *id, unsigned from, enum vv_store_state to, int code,
			  const char *msg, const char *op)
{
	int rc;

	if (!s)
		return vv_errf(VV_ERR_INVAL, "store: %s: missing argument", op);
	if ((rc = check_id(id, op)))
		return rc;
	vv_store_lock(s);
	rc = transition(s, id, from, to, code, msg, op);
	vv_store_unlock(s);
	return rc;
}

int vv_store_fail_locked(vv_store *s, const char *id, int code, const char *msg)
{
	return transition(s, id, FROM(VV_STORE_QUEUED) | FROM(VV_STORE_RUNNING), VV_STORE_FAILED, code, msg, "fail job");
}

int vv_store_job_finish(vv_store *s, const char *id)
{
	return transition_api(s, id, FROM(VV_STORE_RUNNING), VV_STORE_DONE, 0, NULL, "finish job");
}

int vv_store_job_fail(vv_store *s, const char *id, int code, const char *msg)
{
	if (code >= 0)
		return vv_errf(VV_ERR_INVAL, "store: fail job: the code must be a vv_err");
	return transition_api(s, id, FROM(VV_STORE_QUEUED) | FROM(VV_STORE_RUNNING), VV_STORE_FAILED, code, msg,
			      "fail job");
}

int vv_store_job_cancel(vv_store *s, const char *id)
{
	return transition_api(s, id, FROM(VV_STORE_QUEUED) | FROM(VV_STORE_RUNNING), VV_STORE_CANCELLED, 0, NULL,
			      "cancel job");
}

int vv_store_job_requeue(vv_store *s, const char *id)
{
	return transition_api(s, id, FROM(VV_STORE_RUNNING), VV_STORE_QUEUED, 0, NULL, "requeue job");
}

int vv_store_job_progress(vv_store *s, const char *id, uint64_t done, uint64_t total)
{
	sqlite3_stmt *st = NULL;
	vv_store_job j;
	int rc, src;

	if (!s)
		return vv_errf(VV_ERR_INVAL, "store: progress: missing argument");
	if ((rc = check_id(id, "progress")))
		return rc;
	if ((total && done > total) || done > INT64_MAX || total > INT64_MAX)
		return vv_errf(VV_ERR_RANGE, "store: progress: %llu of %llu", (unsigned long long)done,
			       (unsigned long long)total);
	vv_store_lock(s);
	rc = vv_store_prep(s,
			   "UPDATE jobs SET progress_done = ?, progress_total = ?, updated_at = ?"
			   " WHERE id = ? AND state = 'running'",
			   &st, "progress");
	if (rc)
		goto out;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)done);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)total);
	sqlite3_bind_int64(st, 3, vv_store_now());
	sqlite3_bind_text(st, 4, id, -1, SQLITE_STATIC);
	src = sqlite3_step(st);
	if (src != SQLITE_DONE)
		rc = vv_store_sql_err(s->db, src, "progress");
	else if (sqlite3_changes(s->db) == 0 && !(rc = get_locked(s, id, &j, "progress")))
		rc = vv_errf(VV_ERR_STATE, "store: progress: job %s is %s", id, vv_store_state_name(j.state));
out:
	sqlite3_finalize(st);
	vv_store_unlock(s);
	return rc;
}

int vv_store_job_spool_path(vv_store *s, const char *id, char *buf, size_t n)
{
	int rc, len;

	if (!s || !buf)
		return vv_errf(VV_ERR_INVAL, "store: spool path: missing argument");
	if ((rc = check_id(id, "spool path")))
		return rc;
	len = snprintf(buf, n, "%s/spool/%s.c4gh", s->dir, id);
	if (len < 0 || (size_t)len >= n)
		return vv_errf(VV_ERR_RANGE, "store: spool path: buffer too small");
	return 0;
}

int vv_store_job_open_spool(vv_store *s, const char *id, int *fd)
{
	vv_store_job j;
	char name[VV_STORE_ID_LEN + 6];
	struct stat st;
	int rc, f;

	if (!fd)
		return vv_errf(VV_ERR_INVAL, "store: open spool: missing argument");
	*fd = -1;
	if ((rc = vv_store_job_get(s, id, &j)))
		return rc;
	vv_store_spool_name(id, name);
	f = openat(s->spoolfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (f < 0)
		return vv_errf(errno == ENOENT ? VV_ERR_NOTFOUND : VV_ERR_IO, "store: open spool file of job %s: %s",
			       id, strerror(errno));
	if (fstat(f, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != j.ct_bytes) {
		close(f);
		return vv_errf(VV_ERR_TRUNCATED, "store: spool file of job %s does not have its recorded size", id);
	}
	*fd = f;
	return 0;
}

int vv_store_job_remove_spool(vv_store *s, const char *id)
{
	vv_store_job j;
	char name[VV_STORE_ID_LEN + 6];
	int rc;

	if (!s)
		return vv_errf(VV_ERR_INVAL, "store: remove spool: missing argument");
	if ((rc = check_id(id, "remove spool")))
		return rc;
	/* Under the mutex, so that no transition back to queued can slip in. */
	vv_store_lock(s);
	rc = get_locked(s, id, &j, "remove spool");
	if (!rc && (j.state == VV_STORE_QUEUED || j.state == VV_STORE_RUNNING))
		rc = vv_errf(VV_ERR_STATE, "store: remove spool: job %s is %s", id, vv_store_state_name(j.state));
	if (!rc) {
		vv_store_spool_name(id, name);
		if (unlinkat(s->spoolfd, name, 0) == 0)
			rc = vv_store_sync_spool(s);
		else if (errno != ENOENT)
			rc = vv_errf(VV_ERR_IO, "store: remove spool file of job %s: %s", id, strerror(errno));
	}
	vv_store_unlock(s);
	return rc;
}
