/* Submissions: the ciphertext spooled, fsync'd and linked before its job row. */
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct vv_store_upload {
	vv_store *s;
	int fd;
	char tmpname[24];  /* ".up-<16 hex>" without O_TMPFILE; "" with it */
	vv_sha256 *hash;
	uint64_t bytes, max;
	int failed;        /* first write error; the upload can only be aborted */
};

static int io_err(int e, const char *what)
{
	return vv_errf(e == ENOSPC || e == EDQUOT ? VV_ERR_NOSPACE : VV_ERR_IO, "store: %s: %s", what, strerror(e));
}

/* A random id: 16 random bytes in hex. */
static void new_id(char id[VV_STORE_ID_LEN + 1])
{
	uint8_t r[VV_KEY_LEN];

	vv_key_random(r);
	vv_hex(r, VV_STORE_ID_LEN / 2, id);
	vv_wipe(r, sizeof r);
}

int vv_store_upload_begin(vv_store *s, uint64_t max_bytes, vv_store_upload **out)
{
	vv_store_upload *u;
	char id[VV_STORE_ID_LEN + 1];

	if (!out)
		return vv_errf(VV_ERR_INVAL, "store: upload: missing argument");
	*out = NULL;
	if (!s)
		return vv_errf(VV_ERR_INVAL, "store: upload: missing argument");
	u = calloc(1, sizeof *u);
	if (!u || !(u->hash = vv_sha256_new())) {
		free(u);
		return VV_ERR_NOMEM;
	}
	u->s = s;
	u->max = max_bytes ? max_bytes : VV_STORE_DEFAULT_MAX_UPLOAD;
	u->fd = -1;
	/* An unnamed file vanishes with the process that made it. */
	if (s->tmpfile)
		u->fd = openat(s->spoolfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
	if (u->fd < 0) {
		new_id(id);
		snprintf(u->tmpname, sizeof u->tmpname, ".up-%.16s", id);
		u->fd = openat(s->spoolfd, u->tmpname, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (u->fd < 0) {
			int rc = io_err(errno, "create upload file in spool/");
			u->tmpname[0] = '\0';
			vv_store_upload_abort(u);
			return rc;
		}
	}
	*out = u;
	return 0;
}

uint64_t vv_store_upload_bytes(const vv_store_upload *u)
{
	return u ? u->bytes : 0;
}

int vv_store_upload_write(vv_store_upload *u, const void *p, size_t n)
{
	if (!u || (n && !p))
		return vv_errf(VV_ERR_INVAL, "store: upload write: missing argument");
	if (u->failed)
		return vv_errf(u->failed, "store: upload write after a failed write");
	if (n > u->max - u->bytes) {
		u->failed = VV_ERR_RANGE;
		return vv_errf(VV_ERR_RANGE, "store: upload larger than the limit of %llu bytes",
			       (unsigned long long)u->max);
	}
	if (vv_write_all(u->fd, p, n) != 0) {
		int rc = io_err(errno, "write upload to spool/");
		u->failed = rc;
		return rc;
	}
	vv_sha256_update(u->hash, p, n);
	u->bytes += n;
	return 0;
}

void vv_store_upload_abort(vv_store_upload *u)
{
	if (!u)
		return;
	if (u->fd >= 0)
		close(u->fd);
	if (u->tmpname[0])
		(void)unlinkat(u->s->spoolfd, u->tmpname, 0);
	vv_sha256_free(u->hash);
	free(u);
}

static bool format_valid(const char *f)
{
	size_t n;

	if (!f || !*f)
		return false;
	for (n = 0; f[n]; n++)
		if (n >= VV_STORE_FORMAT_MAX ||
		    !((f[n] >= 'a' && f[n] <= 'z') || (f[n] >= '0' && f[n] <= '9') || f[n] == '_' || f[n] == '-'))
			return false;
	return true;
}

static bool submitter_valid(const char *p)
{
	size_t n;

	if (!p || !*p)
		return false;
	for (n = 0; p[n]; n++)
		if (n >= VV_STORE_SUBMITTER_MAX || (unsigned char)p[n] < 0x20 || p[n] == 0x7f)
			return false;
	return true;
}

/* Gives the file its name without ever replacing one: EEXIST means the id
 * is taken (never seen with 128 random bits, but a new id costs nothing). */
static int link_spool(vv_store_upload *u, const char *name)
{
	char proc[64];

	if (!u->tmpname[0]) {
		snprintf(proc, sizeof proc, "/proc/self/fd/%d", u->fd);
		if (linkat(AT_FDCWD, proc, u->s->spoolfd, name, AT_SYMLINK_FOLLOW) != 0)
			return errno;
		return 0;
	}
	if (linkat(u->s->spoolfd, u->tmpname, u->s->spoolfd, name, 0) != 0)
		return errno;
	(void)unlinkat(u->s->spoolfd, u->tmpname, 0);
	u->tmpname[0] = '\0';
	return 0;
}

static int insert_job(vv_store *s, const char *id, const vv_store_submit *sub, const uint8_t ct[32],
		      uint64_t bytes)
{
	sqlite3_stmt *st = NULL;
	int rc, src;
	int64_t now = vv_store_now();

	if ((rc = vv_store_begin(s, "submit")))
		return rc;
	rc = vv_store_prep(s, "SELECT 1 FROM samples WHERE pseudonym = ?", &st, "submit");
	if (rc)
		goto out;
	sqlite3_bind_text(st, 1, sub->sample, -1, SQLITE_STATIC);
	src = sqlite3_step(st);
	if (src == SQLITE_DONE)
		rc = vv_errf(VV_ERR_NOTFOUND, "store: submit: no such sample");
	else if (src != SQLITE_ROW)
		rc = vv_store_sql_err(s->db, src, "submit");
	sqlite3_finalize(st);
	st = NULL;
	if (rc)
		goto out;
	rc = vv_store_prep(s,
			   "INSERT INTO jobs (id, sample, state, format, submitter, created_at, updated_at,"
			   " ct_sha256, plaintext_sha256, ct_bytes) VALUES (?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?)",
			   &st, "submit");
	if (rc)
		goto out;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, sub->sample, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, sub->format, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, sub->submitter, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, now);
	sqlite3_bind_int64(st, 6, now);
	sqlite3_bind_blob(st, 7, ct, 32, SQLITE_STATIC);
	if (sub->plaintext_sha256)
		sqlite3_bind_blob(st, 8, sub->plaintext_sha256, 32, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 8);
	sqlite3_bind_int64(st, 9, (sqlite3_int64)bytes);
	src = sqlite3_step(st);
	if (src != SQLITE_DONE)
		rc = vv_store_sql_err(s->db, src, "submit");
	if (!rc) {
		/* An armed hook (the daemon's audit record) learns the job. */
		vv_store_tx_note(id, ct);
		rc = vv_store_commit(s, "submit");
	}
out:
	sqlite3_finalize(st);
	if (rc)
		vv_store_rollback(s);
	return rc;
}

int vv_store_upload_commit(vv_store_upload *u, const vv_store_submit *sub, char id_out[VV_STORE_ID_LEN + 1])
{
	char id[VV_STORE_ID_LEN + 1], name[VV_STORE_ID_LEN + 6];
	uint8_t ct[32];
	bool linked = false;
	int rc = 0, e = EEXIST;

	if (!u)
		return vv_errf(VV_ERR_INVAL, "store: commit: missing argument");
	if (!sub || !id_out) {
		rc = vv_errf(VV_ERR_INVAL, "store: commit: missing argument");
		goto out;
	}
	if (u->failed) {
		rc = vv_errf(u->failed, "store: commit of an upload that failed");
		goto out;
	}
	if (u->bytes == 0) {
		rc = vv_errf(VV_ERR_TRUNCATED, "store: commit: nothing was uploaded");
		goto out;
	}
	if (!vv_store_pseudonym_valid(sub->sample) || !submitter_valid(sub->submitter) || !format_valid(sub->format)) {
		rc = vv_errf(VV_ERR_INVAL, "store: commit: invalid %s",
			     !vv_store_pseudonym_valid(sub->sample) ? "sample pseudonym"
			     : !submitter_valid(sub->submitter)     ? "submitter"
								    : "format");
		goto out;
	}
	if (fsync(u->fd) != 0) {
		rc = io_err(errno, "fsync of upload");
		goto out;
	}
	for (int tries = 0; tries < 4 && e == EEXIST; tries++) {
		new_id(id);
		vv_store_spool_name(id, name);
		e = link_spool(u, name);
	}
	if (e) {
		rc = io_err(e, "link upload into spool/");
		goto out;
	}
	linked = true;
	if ((rc = vv_store_sync_spool(u->s)))
		goto out;
	vv_sha256_final(u->hash, ct);
	u->hash = NULL;
	vv_store_lock(u->s);
	rc = insert_job(u->s, id, sub, ct, u->bytes);
	vv_store_unlock(u->s);
	if (rc)
		goto out;
	memcpy(id_out, id, sizeof id);
	linked = false;
out:
	if (linked) {
		/* No row owns the file: take it back (open would, too). */
		(void)unlinkat(u->s->spoolfd, name, 0);
		(void)fsync(u->s->spoolfd);  /* best effort; keeps the first error's detail */
	}
	vv_store_upload_abort(u);
	return rc;
}
