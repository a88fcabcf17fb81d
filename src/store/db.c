/* The store's handle: open, lock, schema migrations, recovery, SQLite errors. */
#include "store_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/*
 * Migrations, in order: migration i takes user_version i to i + 1.  Never
 * edit one that has shipped; append.  Each runs in its own transaction with
 * the version bump, so a crash leaves the database at a whole version.
 */
static const char *const vv_migrations[] = {
	/* 0 -> 1: the first schema. */
	"CREATE TABLE samples ("
	"  pseudonym TEXT PRIMARY KEY NOT NULL,"
	"  wrapped_key BLOB NOT NULL CHECK (length(wrapped_key) = 72),"
	"  created_at INTEGER NOT NULL);"
	"CREATE TABLE jobs ("
	"  id TEXT PRIMARY KEY NOT NULL CHECK (length(id) = 32),"
	"  sample TEXT NOT NULL REFERENCES samples(pseudonym) ON DELETE CASCADE,"
	"  state TEXT NOT NULL CHECK (state IN ('queued','running','done','failed','cancelled')),"
	"  format TEXT NOT NULL,"
	"  submitter TEXT NOT NULL,"
	"  created_at INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL,"
	"  ct_sha256 BLOB NOT NULL CHECK (length(ct_sha256) = 32),"
	"  plaintext_sha256 BLOB CHECK (plaintext_sha256 IS NULL OR length(plaintext_sha256) = 32),"
	"  ct_bytes INTEGER NOT NULL,"
	"  progress_done INTEGER NOT NULL DEFAULT 0,"
	"  progress_total INTEGER NOT NULL DEFAULT 0,"
	"  chunks_done INTEGER NOT NULL DEFAULT 0,"
	"  error_code INTEGER NOT NULL DEFAULT 0,"
	"  error_msg TEXT,"
	"  attempts INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE result_chunks ("
	"  job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,"
	"  idx INTEGER NOT NULL,"
	"  last INTEGER NOT NULL,"
	"  blob BLOB NOT NULL,"
	"  PRIMARY KEY (job_id, idx));",
	/* 1 -> 2: whether a job's last chunk is stored (a job stopped between its
	 * last chunk and "done" needs only finishing), backfilled from the chunks;
	 * indexes for the scheduler, per-submitter lists and sample deletion. */
	"ALTER TABLE jobs ADD COLUMN result_complete INTEGER NOT NULL DEFAULT 0;"
	"UPDATE jobs SET result_complete = EXISTS (SELECT 1 FROM result_chunks c"
	"  WHERE c.job_id = jobs.id AND c.last);"
	"CREATE INDEX jobs_state ON jobs(state);"
	"CREATE INDEX jobs_submitter ON jobs(submitter);"
	"CREATE INDEX jobs_sample ON jobs(sample);",
};
_Static_assert(sizeof vv_migrations / sizeof vv_migrations[0] == VV_STORE_SCHEMA_VERSION,
	       "one migration per schema version");

int vv_store_sql_err(sqlite3 *db, int rc, const char *op)
{
	int e;

	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		e = VV_ERR_DB_BUSY;
		break;
	case SQLITE_FULL:
		e = VV_ERR_NOSPACE;
		break;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		e = VV_ERR_DB_CORRUPT;
		break;
	case SQLITE_IOERR:
	case SQLITE_CANTOPEN:
		e = VV_ERR_IO;
		break;
	case SQLITE_NOMEM:
		e = VV_ERR_NOMEM;
		break;
	default:
		e = VV_ERR_DB;
		break;
	}
	/* SQLite's message names tables and columns, never bound values. */
	return vv_errf(e, "store: %s: %s", op, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
}

void vv_store_lock(vv_store *s)
{
	if (pthread_mutex_lock(&s->mu) != 0)
		abort();
}

void vv_store_unlock(vv_store *s)
{
	if (pthread_mutex_unlock(&s->mu) != 0)
		abort();
}

int64_t vv_store_now(void)
{
	return (int64_t)time(NULL);
}

int vv_store_exec(vv_store *s, const char *sql, const char *op)
{
	int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : vv_store_sql_err(s->db, rc, op);
}

int vv_store_prep(vv_store *s, const char *sql, sqlite3_stmt **st, const char *op)
{
	int rc = sqlite3_prepare_v2(s->db, sql, -1, st, NULL);

	if (rc != SQLITE_OK) {
		*st = NULL;
		return vv_store_sql_err(s->db, rc, op);
	}
	return 0;
}

int vv_store_begin(vv_store *s, const char *op)
{
	return vv_store_exec(s, "BEGIN IMMEDIATE", op);
}

/* The calling thread's armed hook (vv_store_hook_arm): at most one per
 * thread, for one store. */
static _Thread_local struct {
	vv_store *s;
	vv_store_tx_hook fn;
	void *ctx;
	bool fired;
	struct vv_store_tx_info info;
} tx_hook;

void vv_store_tx_note(const char *job_id, const uint8_t *ct_sha256)
{
	tx_hook.info.job_id = job_id;
	tx_hook.info.ct_sha256 = ct_sha256;
}

int vv_store_commit(vv_store *s, const char *op)
{
	int rc;

	/* the audit record goes in the same transaction as the action */
	if (s->hook && !s->in_with_db && (rc = s->hook(s->db, s->hook_ctx, op)))
		return rc;
	/* The hook writes inside this transaction: if it fails, the caller
	 * rolls the action back with it. */
	if (tx_hook.fn && tx_hook.s == s) {
		vv_store_tx_hook fn = tx_hook.fn;
		tx_hook.fn = NULL;
		tx_hook.info.op = op;
		if ((rc = fn(tx_hook.ctx, s->db, &tx_hook.info)) != 0)
			return rc;
		if ((rc = vv_store_exec(s, "COMMIT", op)) != 0)
			return rc;
		tx_hook.fired = true;
		return 0;
	}
	return vv_store_exec(s, "COMMIT", op);
}

void vv_store_hook_arm(vv_store *s, vv_store_tx_hook fn, void *ctx)
{
	tx_hook.s = s;
	tx_hook.fn = fn;
	tx_hook.ctx = ctx;
	tx_hook.fired = false;
	memset(&tx_hook.info, 0, sizeof tx_hook.info);
}

bool vv_store_hook_disarm(vv_store *s)
{
	bool fired = tx_hook.s == s && tx_hook.fired;

	memset(&tx_hook, 0, sizeof tx_hook);
	return fired;
}

int vv_store_tx_run(vv_store *s, vv_store_tx_hook fn, void *ctx)
{
	struct vv_store_tx_info info = {"audit", NULL, NULL};
	int rc;

	if (!s || !fn)
		return vv_errf(VV_ERR_INVAL, "store: transaction: missing argument");
	vv_store_lock(s);
	if ((rc = vv_store_begin(s, "transaction")) == 0 && (rc = fn(ctx, s->db, &info)) == 0)
		rc = vv_store_exec(s, "COMMIT", "transaction");
	if (rc)
		vv_store_rollback(s);
	vv_store_unlock(s);
	return rc;
}

int vv_store_db_run(vv_store *s, vv_store_tx_hook fn, void *ctx)
{
	struct vv_store_tx_info info = {"read", NULL, NULL};
	int rc;

	if (!s || !fn)
		return vv_errf(VV_ERR_INVAL, "store: connection: missing argument");
	vv_store_lock(s);
	rc = fn(ctx, s->db, &info);
	/* A function that left a transaction open must not keep the lock's
	 * next user inside it. */
	if (rc)
		vv_store_rollback(s);
	vv_store_unlock(s);
	return rc;
}

void vv_store_rollback(vv_store *s)
{
	if (!sqlite3_get_autocommit(s->db))
		(void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

bool vv_store_id_valid(const char *id)
{
	if (!id)
		return false;
	for (size_t i = 0; i < VV_STORE_ID_LEN; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
			return false;
	return id[VV_STORE_ID_LEN] == '\0';
}

bool vv_store_pseudonym_valid(const char *p)
{
	size_t n;

	if (!p || p[0] == '\0' || p[0] == '.')
		return false;
	for (n = 0; p[n]; n++) {
		unsigned char c = (unsigned char)p[n];
		if (n >= VV_STORE_PSEUDONYM_MAX || c <= 0x20 || c >= 0x7f || c == '/' || c == '\\')
			return false;
	}
	return true;
}

void vv_store_spool_name(const char *id, char name[VV_STORE_ID_LEN + 6])
{
	memcpy(name, id, VV_STORE_ID_LEN);
	memcpy(name + VV_STORE_ID_LEN, ".c4gh", 6);
}

bool vv_store_spool_id(const char *name, char id[VV_STORE_ID_LEN + 1])
{
	if (strlen(name) != VV_STORE_ID_LEN + 5 || strcmp(name + VV_STORE_ID_LEN, ".c4gh") != 0)
		return false;
	memcpy(id, name, VV_STORE_ID_LEN);
	id[VV_STORE_ID_LEN] = '\0';
	return vv_store_id_valid(id);
}

int vv_store_sync_spool(vv_store *s)
{
	if (fsync(s->spoolfd) != 0)
		return vv_errf(errno == ENOSPC ? VV_ERR_NOSPACE : VV_ERR_IO, "store: fsync of spool/: %s",
			       strerror(errno));
	return 0;
}

/* Opens (creating with mode 0700) a directory we own and tightens a mode that
 * lets group or others in: the folder holds patients' ciphertext and keys. */
static int open_private_dir(int at, const char *path, int *fd)
{
	struct stat st;
	int saved;

	if (mkdirat(at, path, 0700) != 0 && errno != EEXIST)
		return vv_errf(VV_ERR_IO, "store: mkdir %s: %s", path, strerror(errno));
	*fd = openat(at, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (*fd < 0)
		return vv_errf(errno == ENOTDIR || errno == ELOOP ? VV_ERR_INVAL : VV_ERR_IO,
			       "store: open %s: %s", path, strerror(errno));
	if (fstat(*fd, &st) != 0 || st.st_uid != geteuid()) {
		saved = errno;
		close(*fd);
		*fd = -1;
		return vv_errf(VV_ERR_INVAL, "store: %s: %s", path,
			       saved ? strerror(saved) : "not owned by this user");
	}
	if ((st.st_mode & 077) && fchmod(*fd, 0700) != 0)
		return vv_errf(VV_ERR_IO, "store: chmod 700 %s: %s", path, strerror(errno));
	return 0;
}

/* Creates a file 0600 (or tightens it) before SQLite opens it: SQLite would
 * make it 0644 less the umask, and gives the -wal and -shm files the main
 * file's mode. */
static int private_file(vv_store *s, const char *name, bool create)
{
	int fd = openat(s->dirfd, name, O_RDWR | O_CLOEXEC | O_NOFOLLOW | (create ? O_CREAT : 0), 0600);
	struct stat st;
	int rc = 0;

	if (fd < 0) {
		if (!create && errno == ENOENT)
			return 0;
		return vv_errf(VV_ERR_IO, "store: open %s: %s", name, strerror(errno));
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
		rc = vv_errf(VV_ERR_INVAL, "store: %s is not a regular file", name);
	else if ((st.st_mode & 077) && fchmod(fd, 0600) != 0)
		rc = vv_errf(VV_ERR_IO, "store: chmod 600 %s: %s", name, strerror(errno));
	close(fd);
	return rc;
}

static int user_version(vv_store *s, int *v)
{
	sqlite3_stmt *st = NULL;
	int rc, src;

	rc = vv_store_prep(s, "PRAGMA user_version", &st, "read schema version");
	if (rc)
		return rc;
	src = sqlite3_step(st);
	if (src == SQLITE_ROW)
		*v = sqlite3_column_int(st, 0);
	else
		rc = vv_store_sql_err(s->db, src, "read schema version");
	sqlite3_finalize(st);
	return rc;
}

static int migrate(vv_store *s, int from)
{
	char sql[64];
	int rc;

	for (int v = from; v < VV_STORE_SCHEMA_VERSION; v++) {
		rc = vv_store_begin(s, "migrate schema");
		if (rc)
			return rc;
		rc = vv_store_exec(s, vv_migrations[v], "migrate schema");
		if (!rc) {
			snprintf(sql, sizeof sql, "PRAGMA user_version = %d", v + 1);
			rc = vv_store_exec(s, sql, "migrate schema");
		}
		if (!rc)
			rc = vv_store_commit(s, "migrate schema");
		if (rc) {
			vv_store_rollback(s);
			return vv_err_prefix(rc, "schema %d -> %d", v, v + 1);
		}
		vv_log(VV_LOG_DEBUG, "store: schema migrated to version %d", v + 1);
	}
	return 0;
}

static int job_exists(vv_store *s, const char *id, bool *yes)
{
	sqlite3_stmt *st = NULL;
	int rc, src;

	rc = vv_store_prep(s, "SELECT 1 FROM jobs WHERE id = ?", &st, "recover spool");
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	src = sqlite3_step(st);
	if (src == SQLITE_ROW || src == SQLITE_DONE)
		*yes = src == SQLITE_ROW;
	else
		rc = vv_store_sql_err(s->db, src, "recover spool");
	sqlite3_finalize(st);
	return rc;
}

/* Removes spool files that no job row owns: unnamed-upload fallbacks
 * (".up-*") and "<id>.c4gh" files whose commit or deletion was cut off. */
static int clean_spool(vv_store *s)
{
	DIR *d = NULL;
	struct dirent *e;
	char id[VV_STORE_ID_LEN + 1];
	int fd, rc = 0, removed = 0;
	bool owned;

	fd = dup(s->spoolfd);
	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return vv_errf(VV_ERR_IO, "store: read spool/: %s", strerror(errno));
	}
	rewinddir(d);
	while ((e = readdir(d))) {
		owned = true;
		if (strncmp(e->d_name, ".up-", 4) == 0)
			owned = false;
		else if (vv_store_spool_id(e->d_name, id) && (rc = job_exists(s, id, &owned)))
			break;
		if (owned)
			continue;
		if (unlinkat(s->spoolfd, e->d_name, 0) != 0 && errno != ENOENT) {
			rc = vv_errf(VV_ERR_IO, "store: remove orphan spool file: %s", strerror(errno));
			break;
		}
		removed++;
	}
	closedir(d);
	if (!rc && removed) {
		vv_log(VV_LOG_DEBUG, "store: removed %d orphan spool file(s)", removed);
		rc = vv_store_sync_spool(s);
	}
	return rc;
}

/* A queued job must have its spool file; one that lost it (outside
 * interference: our own order never allows it) is failed, not run. */
static int check_queued(vv_store *s)
{
	sqlite3_stmt *st = NULL;
	char (*ids)[VV_STORE_ID_LEN + 1] = NULL;
	char name[VV_STORE_ID_LEN + 6];
	size_t n = 0, cap = 0;
	struct stat sb;
	int rc, src;

	rc = vv_store_prep(s, "SELECT id FROM jobs WHERE state = 'queued'", &st, "recover jobs");
	if (rc)
		return rc;
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		const char *id = (const char *)sqlite3_column_text(st, 0);
		if (!vv_store_id_valid(id))
			continue;
		vv_store_spool_name(id, name);
		if (fstatat(s->spoolfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(sb.st_mode))
			continue;
		if ((rc = vv_array_grow((void **)&ids, &cap, n, sizeof *ids, 4)))
			goto out;
		memcpy(ids[n++], id, VV_STORE_ID_LEN + 1);
	}
	if (src != SQLITE_DONE) {
		rc = vv_store_sql_err(s->db, src, "recover jobs");
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	for (size_t i = 0; i < n && !rc; i++)
		rc = vv_store_fail_locked(s, ids[i], VV_ERR_NOTFOUND, "spool file missing when the store opened");
out:
	sqlite3_finalize(st);
	free(ids);
	return rc;
}

static int recover(vv_store *s)
{
	sqlite3_stmt *st = NULL;
	int rc, src;

	rc = vv_store_prep(s, "UPDATE jobs SET state = 'queued', updated_at = ? WHERE state = 'running'", &st,
			   "requeue running jobs");
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, vv_store_now());
	src = sqlite3_step(st);
	sqlite3_finalize(st);
	if (src != SQLITE_DONE)
		return vv_store_sql_err(s->db, src, "requeue running jobs");
	if (sqlite3_changes(s->db) > 0)
		vv_log(VV_LOG_DEBUG, "store: %d running job(s) back in the queue", sqlite3_changes(s->db));
	rc = clean_spool(s);
	if (!rc)
		rc = check_queued(s);
	return rc;
}

/* Connection settings: durability (WAL, synchronous=FULL), integrity
 * (foreign keys), shredding (secure_delete), no temporary files, and
 * SQLite's defensive mode (no writable schema tricks from SQL). */
static int configure(vv_store *s)
{
	sqlite3_stmt *st = NULL;
	const char *mode;
	int rc, src;

	sqlite3_extended_result_codes(s->db, 1);
	sqlite3_busy_timeout(s->db, 5000);
	sqlite3_db_config(s->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	sqlite3_db_config(s->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
	rc = vv_store_prep(s, "PRAGMA journal_mode = WAL", &st, "set WAL mode");
	if (rc)
		return rc;
	src = sqlite3_step(st);
	mode = src == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
	if (!mode || strcmp(mode, "wal") != 0)
		rc = src == SQLITE_ROW ? vv_errf(VV_ERR_DB, "store: the database refused WAL mode")
				       : vv_store_sql_err(s->db, src, "set WAL mode");
	sqlite3_finalize(st);
	if (rc)
		return rc;
	return vv_store_exec(s,
			     "PRAGMA synchronous = FULL;"
			     "PRAGMA foreign_keys = ON;"
			     "PRAGMA secure_delete = ON;"
			     "PRAGMA temp_store = MEMORY;",
			     "configure database");
}

void vv_store_close(vv_store *s)
{
	if (!s)
		return;
	if (s->db)
		sqlite3_close(s->db);
	if (s->spoolfd >= 0)
		close(s->spoolfd);
	if (s->lockfd >= 0)
		close(s->lockfd);  /* releases the flock */
	if (s->dirfd >= 0)
		close(s->dirfd);
	pthread_mutex_destroy(&s->mu);
	free(s->dir);
	free(s);
}

int vv_store_open(const char *state_dir, vv_store **out)
{
	vv_store *s = NULL;
	char *path = NULL;
	int rc, src, version = 0;

	if (!out)
		return vv_errf(VV_ERR_INVAL, "store: open: missing argument");
	*out = NULL;
	if (!state_dir || !*state_dir)
		return vv_errf(VV_ERR_INVAL, "store: open: no state directory");
	s = calloc(1, sizeof *s);
	if (!s)
		return VV_ERR_NOMEM;
	s->dirfd = s->spoolfd = s->lockfd = -1;
	if (pthread_mutex_init(&s->mu, NULL) != 0) {
		free(s);
		return vv_errf(VV_ERR_INTERNAL, "store: mutex");
	}
	s->dir = strdup(state_dir);
	if (!s->dir || asprintf(&path, "%s/varvault.db", state_dir) < 0) {
		path = NULL;
		rc = VV_ERR_NOMEM;
		goto out;
	}
	if ((rc = open_private_dir(AT_FDCWD, state_dir, &s->dirfd)))
		goto out;
	s->lockfd = openat(s->dirfd, "store.lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (s->lockfd < 0) {
		rc = vv_errf(VV_ERR_IO, "store: open %s/store.lock: %s", state_dir, strerror(errno));
		goto out;
	}
	if (flock(s->lockfd, LOCK_EX | LOCK_NB) != 0) {
		rc = errno == EWOULDBLOCK
			     ? vv_errf(VV_ERR_DB_BUSY, "store: %s is open elsewhere (store.lock is held)", state_dir)
			     : vv_errf(VV_ERR_IO, "store: lock %s/store.lock: %s", state_dir, strerror(errno));
		goto out;
	}
	if ((rc = open_private_dir(s->dirfd, "spool", &s->spoolfd)))
		goto out;
	if ((rc = private_file(s, "varvault.db", true)) || (rc = private_file(s, "varvault.db-wal", false)) ||
	    (rc = private_file(s, "varvault.db-shm", false)))
		goto out;
	s->tmpfile = access("/proc/self/fd", X_OK) == 0;

	src = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
	if (src != SQLITE_OK) {
		rc = vv_store_sql_err(s->db, src, "open database");
		goto out;
	}
	/* Refuse a newer database before anything (even the WAL switch) writes. */
	if ((rc = user_version(s, &version)))
		goto out;
	if (version > VV_STORE_SCHEMA_VERSION || version < 0) {
		rc = vv_errf(VV_ERR_DB_VERSION,
			     "store: %s has schema version %d; this program knows up to %d (upgrade varvault)",
			     path, version, VV_STORE_SCHEMA_VERSION);
		goto out;
	}
	if ((rc = configure(s)) || (rc = migrate(s, version)) || (rc = recover(s)))
		goto out;
	*out = s;
	s = NULL;
out:
	free(path);
	vv_store_close(s);
	return rc;
}
