/* Unit tests of src/store: real SQLite files and spool folders in a temp dir. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "varvault/core.h"
#include "varvault/store.h"
/* White box, for one test: the upload path without O_TMPFILE. */
#include "../../src/store/store_int.h"

static char dir[64];
static uint8_t master[VV_KEY_LEN];

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/vv-store-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	vv_key_random(master);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static char *path_of(const char *name)
{
	static char p[256];
	snprintf(p, sizeof p, "%s/%s", dir, name);
	return p;
}

static vv_store *open_store(void)
{
	vv_store *s = NULL;
	int rc = vv_store_open(dir, &s);
	if (rc)
		fprintf(stderr, "open: %s: %s\n", vv_strerror(rc), vv_err_detail());
	assert_int_equal(rc, 0);
	assert_non_null(s);
	return s;
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed * 131u + i * 7u + (i >> 8));
}

/* Uploads n bytes in a few writes and commits them as a job of sample. */
static int submit(vv_store *s, const char *sample, const char *who, const uint8_t *data, size_t n,
		  const uint8_t *psha, char id[VV_STORE_ID_LEN + 1])
{
	vv_store_upload *u = NULL;
	vv_store_submit sub = {.sample = sample, .submitter = who, .format = "vcf", .plaintext_sha256 = psha};
	int rc = vv_store_upload_begin(s, 0, &u);

	if (rc)
		return rc;
	for (size_t off = 0; off < n;) {
		size_t k = n - off < 1000 ? n - off : 1000;
		if ((rc = vv_store_upload_write(u, data + off, k))) {
			vv_store_upload_abort(u);
			return rc;
		}
		off += k;
	}
	return vv_store_upload_commit(u, &sub, id);
}

static void make_sample(vv_store *s, const char *p, uint8_t key[VV_KEY_LEN])
{
	uint8_t k[VV_KEY_LEN];
	assert_int_equal(vv_store_sample_key(s, master, p, true, key ? key : k), 0);
}

/* Entries of spool/ (not . and ..). */
static int spool_entries(void)
{
	DIR *d = opendir(path_of("spool"));
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static sqlite3 *raw_db(void)
{
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open(path_of("varvault.db"), &db), SQLITE_OK);
	return db;
}

static void raw_exec(sqlite3 *db, const char *sql)
{
	char *err = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
	if (rc != SQLITE_OK)
		fprintf(stderr, "sql: %s\n", err ? err : "?");
	sqlite3_free(err);
	assert_int_equal(rc, SQLITE_OK);
}

static int raw_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int v;
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

static int mode_of(const char *name)
{
	struct stat st;
	assert_int_equal(stat(path_of(name), &st), 0);
	return st.st_mode & 0777;
}

/* Runs a job to completion: claim, chunks of the given plaintexts, finish. */
static void run_job(vv_store *s, const char *id, const uint8_t key[VV_KEY_LEN], const char *const *parts, size_t n)
{
	vv_store_job j;
	uint8_t sealed[256];

	assert_int_equal(vv_store_job_claim(s, &j), 1);
	assert_string_equal(j.id, id);
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(parts[i]);
		assert_true(len + VV_SEAL_OVERHEAD <= sizeof sealed);
		assert_int_equal(vv_seal_chunk(key, id, (uint32_t)i, i + 1 == n, (const uint8_t *)parts[i], len, sealed), 0);
		assert_int_equal(vv_store_chunk_put(s, id, (uint32_t)i, i + 1 == n, sealed, len + VV_SEAL_OVERHEAD), 0);
	}
	assert_int_equal(vv_store_job_finish(s, id), 0);
}

static void expect_result(vv_store *s, const char *id, const uint8_t key[VV_KEY_LEN], const char *want)
{
	vv_sbuf b;
	int rc;

	vv_sbuf_init(&b, 0);
	rc = vv_store_result_read(s, id, key, &b);
	if (rc)
		fprintf(stderr, "result: %s: %s\n", vv_strerror(rc), vv_err_detail());
	assert_int_equal(rc, 0);
	assert_int_equal(b.len, strlen(want));
	assert_memory_equal(b.data, want, b.len);
	vv_sbuf_done(&b);
}

static int result_rc(vv_store *s, const char *id, const uint8_t key[VV_KEY_LEN])
{
	vv_sbuf b;
	int rc;

	vv_sbuf_init(&b, 0);
	rc = vv_store_result_read(s, id, key, &b);
	if (rc)
		assert_int_equal(b.len, 0);
	vv_sbuf_done(&b);
	return rc;
}

/* ---- open, layout, migrations ---- */

static void test_open_layout_and_lock(void **state)
{
	vv_store *s, *s2 = NULL;
	sqlite3 *db;

	(void)state;
	assert_int_equal(chmod(dir, 0755), 0);
	s = open_store();
	assert_int_equal(mode_of(""), 0700);  /* tightened */
	assert_int_equal(mode_of("spool"), 0700);
	assert_int_equal(mode_of("varvault.db"), 0600);
	assert_int_equal(mode_of("varvault.db-wal"), 0600);
	assert_int_equal(mode_of("store.lock"), 0600);
	/* One store per state directory. */
	assert_int_equal(vv_store_open(dir, &s2), VV_ERR_DB_BUSY);
	assert_null(s2);
	vv_store_close(s);
	db = raw_db();
	assert_int_equal(raw_int(db, "PRAGMA user_version"), VV_STORE_SCHEMA_VERSION);
	sqlite3_close(db);
	s = open_store();
	vv_store_close(s);
	vv_store_close(NULL);
	assert_int_equal(vv_store_open("", &s2), VV_ERR_INVAL);
	assert_int_equal(vv_store_open("/proc/version", &s2), VV_ERR_INVAL);
}

/* A database as version 1 of the code left it, frozen here on purpose. */
static const char v1_schema[] =
	"CREATE TABLE samples (pseudonym TEXT PRIMARY KEY NOT NULL,"
	" wrapped_key BLOB NOT NULL CHECK (length(wrapped_key) = 72), created_at INTEGER NOT NULL);"
	"CREATE TABLE jobs (id TEXT PRIMARY KEY NOT NULL CHECK (length(id) = 32),"
	" sample TEXT NOT NULL REFERENCES samples(pseudonym) ON DELETE CASCADE,"
	" state TEXT NOT NULL CHECK (state IN ('queued','running','done','failed','cancelled')),"
	" format TEXT NOT NULL, submitter TEXT NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
	" ct_sha256 BLOB NOT NULL CHECK (length(ct_sha256) = 32),"
	" plaintext_sha256 BLOB CHECK (plaintext_sha256 IS NULL OR length(plaintext_sha256) = 32),"
	" ct_bytes INTEGER NOT NULL, progress_done INTEGER NOT NULL DEFAULT 0,"
	" progress_total INTEGER NOT NULL DEFAULT 0, chunks_done INTEGER NOT NULL DEFAULT 0,"
	" error_code INTEGER NOT NULL DEFAULT 0, error_msg TEXT, attempts INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE result_chunks (job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,"
	" idx INTEGER NOT NULL, last INTEGER NOT NULL, blob BLOB NOT NULL, PRIMARY KEY (job_id, idx));"
	"PRAGMA user_version = 1;";

static void test_migrates_v1(void **state)
{
	static const char id1[] = "0123456789abcdef0123456789abcdef";
	static const char id2[] = "fedcba9876543210fedcba9876543210";
	uint8_t key[VV_KEY_LEN], wrapped[VV_KEY_WRAP_LEN], sealed[64], ct[32];
	char sql[1024], hex[2 * VV_KEY_WRAP_LEN + 1], chex[2 * sizeof sealed + 1], cthex[65];
	vv_store *s;
	vv_store_job j;
	sqlite3 *db;
	int fd;

	(void)state;
	assert_int_equal(mkdir(path_of("spool"), 0700), 0);
	vv_key_random(key);
	assert_int_equal(vv_key_wrap(master, key, "P1", 2, wrapped), 0);
	vv_hex(wrapped, sizeof wrapped, hex);
	assert_int_equal(vv_seal_chunk(key, id1, 0, true, (const uint8_t *)"old result", 10, sealed), 0);
	vv_hex(sealed, 10 + VV_SEAL_OVERHEAD, chex);
	vv_sha256_oneshot("spooled", 7, ct);
	vv_hex(ct, 32, cthex);
	db = raw_db();
	raw_exec(db, v1_schema);
	snprintf(sql, sizeof sql, "INSERT INTO samples VALUES ('P1', x'%s', 1);", hex);
	raw_exec(db, sql);
	snprintf(sql, sizeof sql,
		 "INSERT INTO jobs (id, sample, state, format, submitter, created_at, updated_at, ct_sha256,"
		 " ct_bytes, chunks_done, attempts) VALUES ('%s', 'P1', 'running', 'vcf', 'CN=lab', 1, 1, x'%s', 7, 1, 1),"
		 " ('%s', 'P1', 'queued', 'vcf', 'CN=lab', 2, 2, x'%s', 7, 0, 0);",
		 id1, cthex, id2, cthex);
	raw_exec(db, sql);
	snprintf(sql, sizeof sql, "INSERT INTO result_chunks VALUES ('%s', 0, 1, x'%s');", id1, chex);
	raw_exec(db, sql);
	sqlite3_close(db);
	for (int i = 0; i < 2; i++) {
		char name[64];
		snprintf(name, sizeof name, "spool/%s.c4gh", i ? id2 : id1);
		fd = open(path_of(name), O_CREAT | O_WRONLY, 0600);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, "spooled", 7), 7);
		close(fd);
	}

	s = open_store();
	assert_int_equal(vv_store_job_get(s, id1, &j), 0);
	assert_int_equal(j.state, VV_STORE_QUEUED);  /* was running */
	assert_true(j.result_complete);             /* backfilled by migration 2 */
	assert_int_equal(j.chunks_done, 1);
	assert_false(j.verified);
	assert_memory_equal(j.ct_sha256, ct, 32);
	assert_int_equal(vv_store_job_get(s, id2, &j), 0);
	assert_false(j.result_complete);
	/* The v1 job needs only finishing: claim it, finish it, read it. */
	assert_int_equal(vv_store_job_claim(s, &j), 1);
	assert_string_equal(j.id, id1);
	assert_int_equal(j.attempts, 2);
	assert_int_equal(vv_store_job_finish(s, id1), 0);
	expect_result(s, id1, key, "old result");
	vv_store_close(s);
	db = raw_db();
	assert_int_equal(raw_int(db, "PRAGMA user_version"), VV_STORE_SCHEMA_VERSION);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM sqlite_master WHERE name = 'jobs_state'"), 1);
	sqlite3_close(db);
}

static void test_newer_database_refused(void **state)
{
	vv_store *s = NULL;
	sqlite3 *db;

	(void)state;
	db = raw_db();
	raw_exec(db, "CREATE TABLE future (x); PRAGMA user_version = 99;");
	sqlite3_close(db);
	assert_int_equal(vv_store_open(dir, &s), VV_ERR_DB_VERSION);
	assert_null(s);
	assert_non_null(strstr(vv_err_detail(), "schema version 99"));
	db = raw_db();
	assert_int_equal(raw_int(db, "PRAGMA user_version"), 99);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM sqlite_master WHERE name = 'jobs'"), 0);
	sqlite3_close(db);
}

static void test_not_a_database(void **state)
{
	vv_store *s = NULL;
	int fd;
	char junk[4096];

	(void)state;
	memset(junk, 'x', sizeof junk);
	fd = open(path_of("varvault.db"), O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, junk, sizeof junk), (ssize_t)sizeof junk);
	close(fd);
	assert_int_equal(vv_store_open(dir, &s), VV_ERR_DB_CORRUPT);
	assert_null(s);
	assert_non_null(strstr(vv_err_detail(), "store: "));
}

/* ---- submissions ---- */

static void test_submit_is_durable_and_complete(void **state)
{
	static uint8_t data[5000];
	uint8_t psha[32], ct[32];
	char id[VV_STORE_ID_LEN + 1], id2[VV_STORE_ID_LEN + 1], path[512];
	vv_store *s;
	vv_store_job j;
	char *got = NULL;
	size_t len = 0;
	struct stat st;
	int fd = -1;

	(void)state;
	fill(data, sizeof data, 1);
	vv_sha256_oneshot("plaintext", 9, psha);
	vv_sha256_oneshot(data, sizeof data, ct);
	s = open_store();
	make_sample(s, "PAT-001", NULL);
	assert_int_equal(submit(s, "PAT-001", "CN=alice,O=Lab", data, sizeof data, psha, id), 0);
	assert_true(vv_store_id_valid(id));
	assert_int_equal(vv_store_job_get(s, id, &j), 0);
	assert_string_equal(j.id, id);
	assert_string_equal(j.sample, "PAT-001");
	assert_string_equal(j.submitter, "CN=alice,O=Lab");
	assert_string_equal(j.format, "vcf");
	assert_int_equal(j.state, VV_STORE_QUEUED);
	assert_int_equal(j.ct_bytes, sizeof data);
	assert_memory_equal(j.ct_sha256, ct, 32);
	assert_true(j.verified);
	assert_memory_equal(j.plaintext_sha256, psha, 32);
	assert_int_equal(j.chunks_done, 0);
	assert_int_equal(j.attempts, 0);
	assert_true(j.created_at > 0);
	/* The spool file is the ciphertext as received, private. */
	assert_int_equal(vv_store_job_spool_path(s, id, path, sizeof path), 0);
	assert_int_equal(vv_read_file(path, 1 << 20, &got, &len), 0);
	assert_int_equal(len, sizeof data);
	assert_memory_equal(got, data, len);
	free(got);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(vv_store_job_open_spool(s, id, &fd), 0);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(vv_store_job_spool_path(s, id, path, 10), VV_ERR_RANGE);
	/* Without a declared plaintext hash the job is unverified. */
	assert_int_equal(submit(s, "PAT-001", "CN=alice,O=Lab", data, 10, NULL, id2), 0);
	assert_string_not_equal(id, id2);
	assert_int_equal(vv_store_job_get(s, id2, &j), 0);
	assert_false(j.verified);
	assert_int_equal(spool_entries(), 2);
	vv_store_close(s);
	/* Durable: another opening sees both, untouched. */
	s = open_store();
	assert_int_equal(vv_store_job_get(s, id, &j), 0);
	assert_int_equal(j.state, VV_STORE_QUEUED);
	assert_int_equal(spool_entries(), 2);
	vv_store_close(s);
}

static void test_upload_refusals_leave_nothing(void **state)
{
	uint8_t data[64];
	char id[VV_STORE_ID_LEN + 1] = "";
	vv_store *s;
	vv_store_upload *u = NULL;
	vv_store_submit sub = {.sample = "S1", .submitter = "CN=a", .format = "vcf"};
	size_t n;

	(void)state;
	fill(data, sizeof data, 2);
	s = open_store();
	make_sample(s, "S1", NULL);
	/* Abort. */
	assert_int_equal(vv_store_upload_begin(s, 0, &u), 0);
	assert_int_equal(vv_store_upload_write(u, data, sizeof data), 0);
	assert_int_equal(vv_store_upload_bytes(u), sizeof data);
	vv_store_upload_abort(u);
	vv_store_upload_abort(NULL);
	assert_int_equal(spool_entries(), 0);
	/* Over the limit: the write fails, and so does the commit. */
	assert_int_equal(vv_store_upload_begin(s, 100, &u), 0);
	assert_int_equal(vv_store_upload_write(u, data, 64), 0);
	assert_int_equal(vv_store_upload_write(u, data, 37), VV_ERR_RANGE);
	assert_int_equal(vv_store_upload_write(u, data, 1), VV_ERR_RANGE);
	assert_int_equal(vv_store_upload_commit(u, &sub, id), VV_ERR_RANGE);
	assert_int_equal(spool_entries(), 0);
	/* Exactly the limit is fine. */
	assert_int_equal(vv_store_upload_begin(s, 64, &u), 0);
	assert_int_equal(vv_store_upload_write(u, data, 64), 0);
	assert_int_equal(vv_store_upload_commit(u, &sub, id), 0);
	assert_int_equal(spool_entries(), 1);
	/* Nothing uploaded. */
	assert_int_equal(vv_store_upload_begin(s, 0, &u), 0);
	assert_int_equal(vv_store_upload_commit(u, &sub, id), VV_ERR_TRUNCATED);
	/* Unknown sample, malformed fields. */
	sub.sample = "nobody";
	assert_int_equal(submit(s, "nobody", "CN=a", data, 10, NULL, id), VV_ERR_NOTFOUND);
	assert_int_equal(submit(s, "../S1", "CN=a", data, 10, NULL, id), VV_ERR_INVAL);
	assert_int_equal(submit(s, "S1", "", data, 10, NULL, id), VV_ERR_INVAL);
	assert_int_equal(submit(s, "S1", "CN=a\nforged", data, 10, NULL, id), VV_ERR_INVAL);
	assert_int_equal(vv_store_upload_begin(s, 0, &u), 0);
	assert_int_equal(vv_store_upload_write(u, data, 10), 0);
	sub.sample = "S1";
	sub.format = "VCF;drop";
	assert_int_equal(vv_store_upload_commit(u, &sub, id), VV_ERR_INVAL);
	assert_int_equal(spool_entries(), 1);
	assert_int_equal(vv_store_job_count(s, VV_STORE_QUEUED, &n), 0);
	assert_int_equal(n, 1);
	vv_store_close(s);
}

static void test_orphans_removed_on_open(void **state)
{
	static const char orphan[] = "spool/00112233445566778899aabbccddeeff.c4gh";
	uint8_t data[100];
	char id[VV_STORE_ID_LEN + 1], gone[VV_STORE_ID_LEN + 1], name[128];
	vv_store *s;
	vv_store_job j;
	int fd;

	(void)state;
	fill(data, sizeof data, 3);
	s = open_store();
	make_sample(s, "S1", NULL);
	assert_int_equal(submit(s, "S1", "CN=a", data, sizeof data, NULL, id), 0);
	assert_int_equal(submit(s, "S1", "CN=a", data, sizeof data, NULL, gone), 0);
	vv_store_close(s);
	/* A commit cut off after the link, a hidden upload, and a spool file
	 * lost from under a queued job. */
	fd = open(path_of(orphan), O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	fd = open(path_of("spool/.up-0123456789abcdef"), O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	snprintf(name, sizeof name, "spool/%s.c4gh", gone);
	assert_int_equal(unlink(path_of(name)), 0);
	assert_int_equal(spool_entries(), 3);

	s = open_store();
	assert_int_equal(spool_entries(), 1);
	assert_int_equal(access(path_of(orphan), F_OK), -1);
	assert_int_equal(vv_store_job_get(s, id, &j), 0);
	assert_int_equal(j.state, VV_STORE_QUEUED);
	assert_int_equal(vv_store_job_get(s, gone, &j), 0);
	assert_int_equal(j.state, VV_STORE_FAILED);
	assert_int_equal(j.error_code, VV_ERR_NOTFOUND);
	assert_non_null(strstr(j.error_msg, "spool file missing"));
	vv_store_close(s);
}

/* ---- jobs ---- */

static void test_job_lifecycle(void **state)
{
	uint8_t data[50], key[VV_KEY_LEN], sealed[64];
	char a[VV_STORE_ID_LEN + 1], b[VV_STORE_ID_LEN + 1], c[VV_STORE_ID_LEN + 1];
	vv_store *s;
	vv_store_job j, *list = NULL;
	size_t n;
	int fd = -1;

	(void)state;
	fill(data, sizeof data, 4);
	s = open_store();
	make_sample(s, "S1", key);
	assert_int_equal(submit(s, "S1", "CN=alice", data, sizeof data, NULL, a), 0);
	assert_int_equal(submit(s, "S1", "CN=bob", data, sizeof data, NULL, b), 0);
	assert_int_equal(submit(s, "S1", "CN=alice", data, sizeof data, NULL, c), 0);

	assert_int_equal(vv_store_job_list(s, NULL, 0, &list, &n), 0);
	assert_int_equal(n, 3);
	assert_string_equal(list[0].id, a);
	assert_string_equal(list[2].id, c);
	free(list);
	assert_int_equal(vv_store_job_list(s, "CN=alice", 0, &list, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(list[1].id, c);
	free(list);
	assert_int_equal(vv_store_job_list(s, NULL, 1, &list, &n), 0);
	assert_int_equal(n, 1);
	free(list);
	assert_int_equal(vv_store_job_list(s, "CN=nobody", 0, &list, &n), 0);
	assert_int_equal(n, 0);
	assert_null(list);

	/* Claims go oldest first and count attempts. */
	assert_int_equal(vv_store_job_claim(s, &j), 1);
	assert_string_equal(j.id, a);
	assert_int_equal(j.state, VV_STORE_RUNNING);
	assert_int_equal(j.attempts, 1);
	assert_int_equal(vv_store_job_claim(s, &j), 1);
	assert_string_equal(j.id, b);
	assert_int_equal(vv_store_job_count(s, VV_STORE_RUNNING, &n), 0);
	assert_int_equal(n, 2);

	assert_int_equal(vv_store_job_progress(s, a, 5, 10), 0);
	assert_int_equal(vv_store_job_progress(s, a, 11, 10), VV_ERR_RANGE);
	assert_int_equal(vv_store_job_progress(s, c, 1, 10), VV_ERR_STATE);  /* queued */
	assert_int_equal(vv_store_job_get(s, a, &j), 0);
	assert_int_equal(j.progress_done, 5);
	assert_int_equal(j.progress_total, 10);

	/* done needs the last chunk. */
	assert_int_equal(vv_store_job_finish(s, a), VV_ERR_TRUNCATED);
	assert_int_equal(vv_store_job_finish(s, c), VV_ERR_STATE);
	/* running -> queued -> running again. */
	assert_int_equal(vv_store_job_requeue(s, a), 0);
	assert_int_equal(vv_store_job_requeue(s, a), VV_ERR_STATE);
	assert_int_equal(vv_store_job_claim(s, &j), 1);
	assert_string_equal(j.id, a);
	assert_int_equal(j.attempts, 2);
	assert_int_equal(vv_seal_chunk(key, a, 0, true, (const uint8_t *)"r", 1, sealed), 0);
	assert_int_equal(vv_store_chunk_put(s, a, 0, true, sealed, 1 + VV_SEAL_OVERHEAD), 0);
	assert_int_equal(vv_store_job_finish(s, a), 0);
	assert_int_equal(vv_store_job_get(s, a, &j), 0);
	assert_int_equal(j.state, VV_STORE_DONE);
	assert_int_equal(vv_store_job_cancel(s, a), VV_ERR_STATE);
	assert_int_equal(vv_store_job_fail(s, a, VV_ERR_INTERNAL, "x"), VV_ERR_STATE);

	/* running -> cancelled; queued -> failed with its reason. */
	assert_int_equal(vv_store_job_cancel(s, b), 0);
	assert_int_equal(vv_store_job_cancel(s, b), VV_ERR_STATE);
	assert_int_equal(vv_store_job_get(s, b, &j), 0);
	assert_int_equal(j.state, VV_STORE_CANCELLED);
	assert_int_equal(vv_store_job_fail(s, c, 5, "positive"), VV_ERR_INVAL);
	assert_int_equal(vv_store_job_fail(s, c, VV_ERR_AUTH, "plaintext checksum mismatch"), 0);
	assert_int_equal(vv_store_job_get(s, c, &j), 0);
	assert_int_equal(j.state, VV_STORE_FAILED);
	assert_int_equal(j.error_code, VV_ERR_AUTH);
	assert_string_equal(j.error_msg, "plaintext checksum mismatch");
	assert_string_equal(vv_store_state_name(j.state), "failed");
	assert_int_equal(vv_store_job_claim(s, &j), 0);  /* nothing queued */
	/* Control characters never reach a stored message. */
	assert_int_equal(submit(s, "S1", "CN=alice", data, sizeof data, NULL, c), 0);
	assert_int_equal(vv_store_job_remove_spool(s, c), VV_ERR_STATE);
	assert_int_equal(vv_store_job_fail(s, c, VV_ERR_IO, "line\n\x1b[2Jx"), 0);
	assert_int_equal(vv_store_job_get(s, c, &j), 0);
	assert_string_equal(j.error_msg, "line??[2Jx");
	/* Final jobs may drop their ciphertext, once or twice. */
	assert_int_equal(spool_entries(), 4);
	assert_int_equal(vv_store_job_remove_spool(s, a), 0);
	assert_int_equal(vv_store_job_remove_spool(s, a), 0);
	assert_int_equal(spool_entries(), 3);
	assert_int_equal(vv_store_job_open_spool(s, a, &fd), VV_ERR_NOTFOUND);
	expect_result(s, a, key, "r");

	/* Ids are checked before they reach SQL or a file name. */
	assert_int_equal(vv_store_job_get(s, "../../../../etc/passwd", &j), VV_ERR_INVAL);
	assert_int_equal(vv_store_job_get(s, "0123456789ABCDEF0123456789ABCDEF", &j), VV_ERR_INVAL);
	assert_int_equal(vv_store_job_get(s, "0123456789abcdef0123456789abcde", &j), VV_ERR_INVAL);
	assert_int_equal(vv_store_job_get(s, "0123456789abcdef0123456789abcdef0", &j), VV_ERR_INVAL);
	assert_int_equal(vv_store_job_get(s, "0123456789abcdef0123456789abcdef", &j), VV_ERR_NOTFOUND);
	assert_int_equal(vv_store_job_cancel(s, NULL), VV_ERR_INVAL);
	vv_store_close(s);
}

static void test_running_requeued_on_reopen(void **state)
{
	uint8_t data[50], key[VV_KEY_LEN], key2[VV_KEY_LEN], sealed[64];
	char id[VV_STORE_ID_LEN + 1];
	vv_store *s;
	vv_store_job j;

	(void)state;
	fill(data, sizeof data, 5);
	s = open_store();
	make_sample(s, "S1", key);
	assert_int_equal(submit(s, "S1", "CN=a", data, sizeof data, NULL, id), 0);
	assert_int_equal(vv_store_job_claim(s, &j), 1);
	assert_int_equal(vv_seal_chunk(key, id, 0, false, (const uint8_t *)"part one;", 9, sealed), 0);
	assert_int_equal(vv_store_chunk_put(s, id, 0, false, sealed, 9 + VV_SEAL_OVERHEAD), 0);
	vv_store_close(s);  /* as if the daemon stopped mid-run */

	s = open_store();
	assert_int_equal(vv_store_job_get(s, id, &j), 0);
	assert_int_equal(j.state, VV_STORE_QUEUED);
	assert_int_equal(j.chunks_done, 1);
	assert_int_equal(vv_store_job_claim(s, &j), 1);
	assert_int_equal(j.attempts, 2);
	/* It resumes at chunk chunks_done. */
	assert_int_equal(vv_store_sample_key(s, master, "S1", false, key2), 0);
	assert_memory_equal(key, key2, VV_KEY_LEN);
	assert_int_equal(vv_seal_chunk(key2, id, j.chunks_done, true, (const uint8_t *)"part two", 8, sealed), 0);
	assert_int_equal(vv_store_chunk_put(s, id, j.chunks_done, true, sealed, 8 + VV_SEAL_OVERHEAD), 0);
	assert_int_equal(vv_store_job_finish(s, id), 0);
	expect_result(s, id, key, "part one;part two");
	vv_store_close(s);
}

/* ---- result chunks ---- */

static void test_chunk_rules(void **state)
{
	uint8_t data[50], key[VV_KEY_LEN], c0[64], c0b[64], c1[64], c2[64], *blob = NULL;
	char id[VV_STORE_ID_LEN + 1];
	vv_store *s;
	vv_store_job j;
	size_t n;
	uint32_t count;
	bool last;

	(void)state;
	fill(data, sizeof data, 6);
	s = open_store();
	make_sample(s, "S1", key);
	assert_int_equal(submit(s, "S1", "CN=a", data, sizeof data, NULL, id), 0);
	assert_int_equal(vv_seal_chunk(key, id, 0, false, (const uint8_t *)"aaa", 3, c0), 0);
	assert_int_equal(vv_seal_chunk(key, id, 0, false, (const uint8_t *)"aaa", 3, c0b), 0);  /* new nonce */
	assert_int_equal(vv_seal_chunk(key, id, 1, false, (const uint8_t *)"bbb", 3, c1), 0);
	assert_int_equal(vv_seal_chunk(key, id, 2, true, (const uint8_t *)"", 0, c2), 0);
	/* Only a running job takes chunks. */
	assert_int_equal(vv_store_chunk_put(s, id, 0, false, c0, 3 + VV_SEAL_OVERHEAD), VV_ERR_STATE);
	assert_int_equal(vv_store_job_claim(s, &j), 1);
	assert_int_equal(vv_store_chunk_put(s, id, 1, false, c1, 3 + VV_SEAL_OVERHEAD), VV_ERR_INVAL);  /* gap */
	assert_int_equal(vv_store_chunk_put(s, id, 0, false, c0, 10), VV_ERR_RANGE);
	assert_int_equal(vv_store_chunk_put(s, id, 0, false, c0, 3 + VV_SEAL_OVERHEAD), 0);
	/* A retry of the same bytes is accepted; other bytes at that index not. */
	assert_int_equal(vv_store_chunk_put(s, id, 0, false, c0, 3 + VV_SEAL_OVERHEAD), 0);
	assert_int_equal(vv_store_chunk_put(s, id, 0, false, c0b, 3 + VV_SEAL_OVERHEAD), VV_ERR_EXISTS);
	assert_int_equal(vv_store_chunk_put(s, id, 0, true, c0, 3 + VV_SEAL_OVERHEAD), VV_ERR_EXISTS);
	assert_int_equal(vv_store_chunk_put(s, id, 1, false, c1, 3 + VV_SEAL_OVERHEAD), 0);
	assert_int_equal(vv_store_chunk_count(s, id, &count), 0);
	assert_int_equal(count, 2);
	/* Not finished yet: reading it is truncated. */
	assert_int_equal(result_rc(s, id, key), VV_ERR_TRUNCATED);
	assert_int_equal(vv_store_chunk_put(s, id, 2, true, c2, VV_SEAL_OVERHEAD), 0);
	assert_int_equal(vv_store_chunk_put(s, id, 3, true, c2, VV_SEAL_OVERHEAD), VV_ERR_INVAL);  /* after last */
	assert_int_equal(vv_store_job_get(s, id, &j), 0);
	assert_int_equal(j.chunks_done, 3);
	assert_true(j.result_complete);
	assert_int_equal(vv_store_chunk_get(s, id, 1, &blob, &n, &last), 0);
	assert_int_equal(n, 3 + VV_SEAL_OVERHEAD);
	assert_memory_equal(blob, c1, n);
	assert_false(last);
	free(blob);
	assert_int_equal(vv_store_chunk_get(s, id, 7, &blob, &n, &last), VV_ERR_NOTFOUND);
	assert_null(blob);
	assert_int_equal(vv_store_job_finish(s, id), 0);
	expect_result(s, id, key, "aaabbb");
	/* After done, a retried put of a stored chunk is still harmless. */
	assert_int_equal(vv_store_chunk_put(s, id, 1, false, c1, 3 + VV_SEAL_OVERHEAD), 0);
	vv_store_close(s);
}

static void test_result_tampering_detected(void **state)
{
	static const char *const parts[] = {"first,", "second,", "third"};
	uint8_t data[50], key[VV_KEY_LEN], other[VV_KEY_LEN];
	char id[VV_STORE_ID_LEN + 1], id2[VV_STORE_ID_LEN + 1], sql[512];
	vv_store *s;
	sqlite3 *db;

	(void)state;
	fill(data, sizeof data, 7);
	s = open_store();
	make_sample(s, "S1", key);
	assert_int_equal(submit(s, "S1", "CN=a", data, sizeof data, NULL, id), 0);
	run_job(s, id, key, parts, 3);
	assert_int_equal(submit(s, "S1", "CN=a", data, sizeof data, NULL, id2), 0);
	run_job(s, id2, key, parts, 3);
	expect_result(s, id, key, "first,second,third");
	vv_key_random(other);
	assert_int_equal(result_rc(s, id, other), VV_ERR_AUTH);
	vv_store_close(s);

	/* Each attack on a copy of the row set, undone after. */
	static const char *const attacks[] = {
		/* a flipped byte */
		"UPDATE result_chunks SET blob = CAST(substr(blob, 1, 30) ||"
		" CASE WHEN substr(blob, 31, 1) = x'00' THEN x'01' ELSE x'00' END || substr(blob, 32) AS BLOB)"
		" WHERE job_id = '%1$s' AND idx = 1",
		/* two chunks swapped */
		"UPDATE result_chunks SET idx = -1 WHERE job_id = '%1$s' AND idx = 0;"
		"UPDATE result_chunks SET idx = 0 WHERE job_id = '%1$s' AND idx = 1;"
		"UPDATE result_chunks SET idx = 1 WHERE job_id = '%1$s' AND idx = -1;",
		/* the middle chunk claimed to be the last */
		"DELETE FROM result_chunks WHERE job_id = '%1$s' AND idx = 2;"
		"UPDATE result_chunks SET last = 1 WHERE job_id = '%1$s' AND idx = 1",
		/* a chunk of another job swapped in */
		"UPDATE result_chunks SET blob = (SELECT blob FROM result_chunks WHERE job_id = '%2$s' AND idx = 1)"
		" WHERE job_id = '%1$s' AND idx = 1",
	};
	for (size_t i = 0; i < sizeof attacks / sizeof attacks[0]; i++) {
		db = raw_db();
		raw_exec(db, "BEGIN; CREATE TABLE saved AS SELECT * FROM result_chunks;");
		snprintf(sql, sizeof sql, attacks[i], id, id2);
		raw_exec(db, sql);
		raw_exec(db, "COMMIT");
		sqlite3_close(db);
		s = open_store();
		assert_int_equal(result_rc(s, id, key), VV_ERR_AUTH);
		expect_result(s, id2, key, "first,second,third");
		vv_store_close(s);
		db = raw_db();
		raw_exec(db, "BEGIN; DELETE FROM result_chunks; INSERT INTO result_chunks SELECT * FROM saved;"
			     " DROP TABLE saved; COMMIT;");
		sqlite3_close(db);
	}
	/* The last chunk dropped: truncated, not short. */
	db = raw_db();
	snprintf(sql, sizeof sql, "DELETE FROM result_chunks WHERE job_id = '%s' AND idx = 2", id);
	raw_exec(db, sql);
	sqlite3_close(db);
	s = open_store();
	assert_int_equal(result_rc(s, id, key), VV_ERR_TRUNCATED);
	assert_int_equal(result_rc(s, "0123456789abcdef0123456789abcdef", key), VV_ERR_NOTFOUND);
	vv_store_close(s);
}

/* ---- samples, keys, shredding ---- */

static void test_sample_keys(void **state)
{
	uint8_t k1[VV_KEY_LEN], k2[VV_KEY_LEN], zero[VV_KEY_LEN] = {0}, wrong[VV_KEY_LEN];
	char longp[VV_STORE_PSEUDONYM_MAX + 2];
	vv_store *s;

	(void)state;
	s = open_store();
	assert_int_equal(vv_store_sample_exists(s, "S1"), 0);
	assert_int_equal(vv_store_sample_key(s, master, "S1", false, k1), VV_ERR_NOTFOUND);
	assert_int_equal(vv_store_sample_key(s, master, "S1", true, k1), 0);
	assert_int_equal(vv_store_sample_exists(s, "S1"), 1);
	assert_int_equal(vv_store_sample_key(s, master, "S1", true, k2), 0);
	assert_memory_equal(k1, k2, VV_KEY_LEN);
	assert_int_equal(vv_store_sample_key(s, master, "S2", true, k2), 0);
	assert_memory_not_equal(k1, k2, VV_KEY_LEN);
	vv_key_random(wrong);
	assert_int_equal(vv_store_sample_key(s, wrong, "S1", false, k2), VV_ERR_AUTH);
	assert_memory_equal(k2, zero, VV_KEY_LEN);
	vv_store_close(s);

	/* A wrapped key moved to another sample does not open there. */
	sqlite3 *db = raw_db();
	raw_exec(db, "UPDATE samples SET wrapped_key = (SELECT wrapped_key FROM samples WHERE pseudonym = 'S1')"
		     " WHERE pseudonym = 'S2'");
	sqlite3_close(db);
	s = open_store();
	assert_int_equal(vv_store_sample_key(s, master, "S2", false, k2), VV_ERR_AUTH);

	memset(longp, 'a', sizeof longp - 1);
	longp[sizeof longp - 1] = '\0';
	assert_true(vv_store_pseudonym_valid("PAT-2024_07.a"));
	assert_true(vv_store_pseudonym_valid(longp + 1));
	assert_false(vv_store_pseudonym_valid(longp));
	assert_false(vv_store_pseudonym_valid(""));
	assert_false(vv_store_pseudonym_valid(NULL));
	assert_false(vv_store_pseudonym_valid("a/b"));
	assert_false(vv_store_pseudonym_valid("a\\b"));
	assert_false(vv_store_pseudonym_valid(".."));
	assert_false(vv_store_pseudonym_valid("a b"));
	assert_false(vv_store_pseudonym_valid("a\tb"));
	assert_false(vv_store_pseudonym_valid("caf\xc3\xa9"));
	assert_int_equal(vv_store_sample_key(s, master, "a/b", true, k2), VV_ERR_INVAL);
	assert_int_equal(vv_store_delete_sample(s, "nobody", NULL), VV_ERR_NOTFOUND);
	vv_store_close(s);
}

static bool file_contains(const char *name, const void *needle, size_t n)
{
	char *buf = NULL;
	size_t len = 0;
	bool found;

	if (access(path_of(name), F_OK) != 0)
		return false;
	assert_int_equal(vv_read_file(path_of(name), (size_t)256 << 20, &buf, &len), 0);
	found = memmem(buf, len, needle, n) != NULL;
	free(buf);
	return found;
}

static bool anywhere(const void *needle, size_t n)
{
	return file_contains("varvault.db", needle, n) || file_contains("varvault.db-wal", needle, n) ||
	       file_contains("varvault.db-shm", needle, n);
}

static void read_blob(sqlite3 *db, const char *sql, uint8_t *out, size_t n)
{
	sqlite3_stmt *st = NULL;
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_true((size_t)sqlite3_column_bytes(st, 0) >= n);
	memcpy(out, sqlite3_column_blob(st, 0), n);
	sqlite3_finalize(st);
}

static void test_delete_sample_shreds(void **state)
{
	static const char *const pa[] = {"result of A, chunk 0;", "A's last chunk"};
	static const char *const pb[] = {"result of B"};
	uint8_t data[3000], ka[VV_KEY_LEN], kb[VV_KEY_LEN], wrapped[VV_KEY_WRAP_LEN], chunk[48];
	char ida[VV_STORE_ID_LEN + 1], ida2[VV_STORE_ID_LEN + 1], idb[VV_STORE_ID_LEN + 1], name[64], sql[256];
	vv_store *s;
	vv_store_job j;
	size_t n;
	sqlite3 *db;

	(void)state;
	fill(data, sizeof data, 8);
	s = open_store();
	/* Interleave the samples so that their rows share pages. */
	for (int i = 0; i < 20; i++) {
		char p[16];
		snprintf(p, sizeof p, "F%02d", i);
		make_sample(s, p, NULL);
		if (i == 7)
			make_sample(s, "A", ka);
		if (i == 12)
			make_sample(s, "B", kb);
	}
	assert_int_equal(submit(s, "A", "CN=a", data, sizeof data, NULL, ida), 0);
	assert_int_equal(submit(s, "B", "CN=a", data, sizeof data, NULL, idb), 0);
	assert_int_equal(submit(s, "A", "CN=a", data, 100, NULL, ida2), 0);
	run_job(s, ida, ka, pa, 2);
	run_job(s, idb, kb, pb, 1);
	vv_store_close(s);

	db = raw_db();
	read_blob(db, "SELECT wrapped_key FROM samples WHERE pseudonym = 'A'", wrapped, sizeof wrapped);
	snprintf(sql, sizeof sql, "SELECT blob FROM result_chunks WHERE job_id = '%s' AND idx = 1", ida);
	read_blob(db, sql, chunk, sizeof chunk);
	sqlite3_close(db);
	assert_true(file_contains("varvault.db", wrapped, sizeof wrapped));
	assert_true(file_contains("varvault.db", chunk, sizeof chunk));

	s = open_store();
	/* While open, the WAL also holds pages (write something so it does). */
	make_sample(s, "C", NULL);
	assert_int_equal(vv_store_job_claim(s, &j), 1);
	assert_string_equal(j.id, ida2);  /* running while its sample goes */
	assert_int_equal(vv_store_delete_sample(s, "A", &n), 0);
	assert_int_equal(n, 2);
	/* Neither the wrapped key nor its nonce alone, nor A's sealed result,
	 * is left in the database or its WAL. */
	assert_false(anywhere(wrapped, sizeof wrapped));
	assert_false(anywhere(wrapped, 24));
	assert_false(anywhere(wrapped + 24, 24));
	assert_false(anywhere(chunk, sizeof chunk));
	assert_int_equal(vv_store_job_get(s, ida, &j), VV_ERR_NOTFOUND);
	assert_int_equal(vv_store_job_get(s, ida2, &j), VV_ERR_NOTFOUND);
	/* Its worker's late results find no job. */
	assert_int_equal(vv_store_chunk_put(s, ida2, 0, true, chunk, sizeof chunk), VV_ERR_NOTFOUND);
	assert_int_equal(vv_store_job_progress(s, ida2, 1, 2), VV_ERR_NOTFOUND);
	assert_int_equal(result_rc(s, ida, ka), VV_ERR_NOTFOUND);
	assert_int_equal(vv_store_sample_key(s, master, "A", false, ka), VV_ERR_NOTFOUND);
	assert_int_equal(vv_store_sample_exists(s, "A"), 0);
	snprintf(name, sizeof name, "spool/%s.c4gh", ida);
	assert_int_equal(access(path_of(name), F_OK), -1);
	assert_int_equal(spool_entries(), 1);
	/* Other samples are untouched. */
	expect_result(s, idb, kb, "result of B");
	assert_int_equal(vv_store_job_get(s, idb, &j), 0);
	assert_int_equal(j.state, VV_STORE_DONE);
	assert_int_equal(vv_store_delete_sample(s, "A", NULL), VV_ERR_NOTFOUND);
	vv_store_close(s);
	assert_false(anywhere(wrapped, sizeof wrapped));
	assert_false(anywhere(chunk, sizeof chunk));
}

/* ---- threads ---- */

struct worker_arg {
	vv_store *s;
	int n, claimed, failed;
	char ids[16][VV_STORE_ID_LEN + 1];
};

static void *submitter_thread(void *p)
{
	struct worker_arg *a = p;
	uint8_t data[200];

	fill(data, sizeof data, (unsigned)a->n);
	for (int i = 0; i < a->n; i++)
		if (submit(a->s, "S1", "CN=t", data, sizeof data, NULL, a->ids[i]) != 0)
			a->failed++;
	return NULL;
}

static void *claimer_thread(void *p)
{
	struct worker_arg *a = p;
	vv_store_job j;
	int rc;

	while ((rc = vv_store_job_claim(a->s, &j)) == 1) {
		if (j.attempts != 1 || vv_store_job_finish(a->s, j.id) != VV_ERR_TRUNCATED ||
		    vv_store_job_cancel(a->s, j.id) != 0)
			a->failed++;
		a->claimed++;
	}
	if (rc < 0)
		a->failed++;
	return NULL;
}

static void test_threads_share_a_store(void **state)
{
	struct worker_arg a[4];
	pthread_t t[4];
	vv_store *s;
	size_t n;
	int total = 0;

	(void)state;
	s = open_store();
	make_sample(s, "S1", NULL);
	for (int i = 0; i < 4; i++) {
		memset(&a[i], 0, sizeof a[i]);
		a[i].s = s;
		a[i].n = 8;
		assert_int_equal(pthread_create(&t[i], NULL, submitter_thread, &a[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(a[i].failed, 0);
	}
	assert_int_equal(vv_store_job_count(s, VV_STORE_QUEUED, &n), 0);
	assert_int_equal(n, 32);
	for (int i = 0; i < 4; i++) {
		a[i].claimed = 0;
		assert_int_equal(pthread_create(&t[i], NULL, claimer_thread, &a[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(a[i].failed, 0);
		total += a[i].claimed;
	}
	assert_int_equal(total, 32);  /* each job claimed exactly once */
	assert_int_equal(vv_store_job_count(s, VV_STORE_CANCELLED, &n), 0);
	assert_int_equal(n, 32);
	assert_int_equal(spool_entries(), 32);
	vv_store_close(s);
}

/* ---- crashes ---- */

/* Every job has an intact spool file, and spool/ holds nothing else. */
static size_t check_invariant(vv_store *s)
{
	vv_store_job *jobs = NULL;
	size_t n = 0;
	uint8_t h[32];

	assert_int_equal(vv_store_job_list(s, NULL, 0, &jobs, &n), 0);
	for (size_t i = 0; i < n; i++) {
		char path[512], *buf = NULL;
		size_t len = 0;
		assert_int_equal(jobs[i].state, VV_STORE_QUEUED);
		assert_int_equal(vv_store_job_spool_path(s, jobs[i].id, path, sizeof path), 0);
		assert_int_equal(vv_read_file(path, 1 << 20, &buf, &len), 0);
		assert_int_equal(len, jobs[i].ct_bytes);
		vv_sha256_oneshot(buf, len, h);
		assert_memory_equal(h, jobs[i].ct_sha256, 32);
		free(buf);
	}
	free(jobs);
	assert_int_equal((size_t)spool_entries(), n);
	return n;
}

enum crash_point { CRASH_BEFORE_COMMIT, CRASH_AFTER_COMMIT, CRASH_ANYWHERE };

/* The child: opens the store and submits; reports on fd each id it was
 * given ("accepted"), then is killed at the chosen point. */
static void child(enum crash_point at, int fd)
{
	vv_store *s = NULL;
	vv_store_upload *u = NULL;
	vv_store_submit sub = {.sample = "S1", .submitter = "CN=crash", .format = "vcf"};
	uint8_t data[4096], k[VV_KEY_LEN];
	char id[VV_STORE_ID_LEN + 1];

	if (vv_store_open(dir, &s) || vv_store_sample_key(s, master, "S1", true, k))
		_exit(2);
	for (unsigned i = 0;; i++) {
		fill(data, sizeof data, i);
		if (vv_store_upload_begin(s, 0, &u) || vv_store_upload_write(u, data, sizeof data) ||
		    vv_store_upload_write(u, data, 1000))
			_exit(3);
		if (at == CRASH_BEFORE_COMMIT) {
			if (write(fd, "w", 1) != 1)
				_exit(4);
			raise(SIGKILL);
		}
		if (vv_store_upload_commit(u, &sub, id))
			_exit(5);
		if (write(fd, id, VV_STORE_ID_LEN) != VV_STORE_ID_LEN)
			_exit(4);
		if (at == CRASH_AFTER_COMMIT)
			raise(SIGKILL);
	}
}

static void crash_run(enum crash_point at, int accepted_min, char (*ids)[VV_STORE_ID_LEN + 1], int *nids)
{
	int p[2], status;
	pid_t pid;
	char buf[VV_STORE_ID_LEN];
	ssize_t r;
	size_t got = 0;

	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		child(at, p[1]);
		_exit(9);
	}
	close(p[1]);
	if (at == CRASH_ANYWHERE) {
		/* Let it accept a few, then kill it wherever it is. */
		while ((int)(got / VV_STORE_ID_LEN) < accepted_min && (r = read(p[0], buf + got % VV_STORE_ID_LEN,
									       VV_STORE_ID_LEN - got % VV_STORE_ID_LEN)) > 0) {
			got += (size_t)r;
			if (got % VV_STORE_ID_LEN == 0) {
				memcpy(ids[*nids], buf, VV_STORE_ID_LEN);
				ids[(*nids)++][VV_STORE_ID_LEN] = '\0';
			}
		}
		struct timespec ts = {0, (long)(rand() % 3000) * 1000};
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
	/* Ids the child reported after those we waited for were accepted too. */
	while ((r = read(p[0], buf + got % VV_STORE_ID_LEN, VV_STORE_ID_LEN - got % VV_STORE_ID_LEN)) > 0) {
		got += (size_t)r;
		if (got % VV_STORE_ID_LEN == 0 && at != CRASH_BEFORE_COMMIT) {
			memcpy(ids[*nids], buf, VV_STORE_ID_LEN);
			ids[(*nids)++][VV_STORE_ID_LEN] = '\0';
		}
		if (*nids >= 60)
			break;
	}
	close(p[0]);
}

static void test_crash_during_upload_leaves_nothing(void **state)
{
	char ids[64][VV_STORE_ID_LEN + 1];
	int n = 0;
	vv_store *s;

	(void)state;
	crash_run(CRASH_BEFORE_COMMIT, 0, ids, &n);
	assert_int_equal(n, 0);
	s = open_store();
	assert_int_equal(check_invariant(s), 0);
	assert_int_equal(spool_entries(), 0);
	vv_store_close(s);
}

static void test_crash_after_accept_keeps_job(void **state)
{
	char ids[64][VV_STORE_ID_LEN + 1];
	int n = 0;
	vv_store *s;
	vv_store_job j;

	(void)state;
	crash_run(CRASH_AFTER_COMMIT, 0, ids, &n);
	assert_int_equal(n, 1);
	s = open_store();
	assert_int_equal(check_invariant(s), 1);
	assert_int_equal(vv_store_job_get(s, ids[0], &j), 0);
	assert_int_equal(j.state, VV_STORE_QUEUED);
	assert_int_equal(j.ct_bytes, 5096);
	vv_store_close(s);
}

static void test_crash_anywhere_keeps_invariant(void **state)
{
	char ids[64][VV_STORE_ID_LEN + 1];
	vv_store *s;
	vv_store_job j;

	(void)state;
	srand(12345);
	for (int round = 0; round < 12; round++) {
		int n = 0;
		size_t before = 0, after;
		s = open_store();
		before = check_invariant(s);
		vv_store_close(s);
		crash_run(CRASH_ANYWHERE, 1 + round % 3, ids, &n);
		s = open_store();
		after = check_invariant(s);
		/* Every id the child saw is there; at most one more (committed,
		 * not yet reported) may be. */
		for (int i = 0; i < n; i++)
			assert_int_equal(vv_store_job_get(s, ids[i], &j), 0);
		assert_true(after >= before + (size_t)n);
		assert_true(after <= before + (size_t)n + 1);
		vv_store_close(s);
	}
}

/* Where O_TMPFILE or /proc is missing, uploads go to hidden ".up-*" files:
 * renamed on commit, removed on abort, and swept at open after a crash. */
static void test_named_upload_fallback(void **state)
{
	uint8_t data[300];
	char id[VV_STORE_ID_LEN + 1];
	vv_store *s;
	vv_store_upload *u = NULL;
	vv_store_job j;
	DIR *d;
	struct dirent *e;
	int hidden = 0, status;
	pid_t pid;

	(void)state;
	fill(data, sizeof data, 9);
	s = open_store();
	assert_true(s->tmpfile);  /* the usual path on Linux */
	s->tmpfile = false;
	make_sample(s, "S1", NULL);
	assert_int_equal(vv_store_upload_begin(s, 0, &u), 0);
	assert_int_equal(vv_store_upload_write(u, data, sizeof data), 0);
	d = opendir(path_of("spool"));
	assert_non_null(d);
	while ((e = readdir(d)))
		hidden += strncmp(e->d_name, ".up-", 4) == 0;
	closedir(d);
	assert_int_equal(hidden, 1);
	vv_store_upload_abort(u);
	assert_int_equal(spool_entries(), 0);
	assert_int_equal(submit(s, "S1", "CN=a", data, sizeof data, NULL, id), 0);
	assert_int_equal(spool_entries(), 1);
	assert_int_equal(vv_store_job_get(s, id, &j), 0);
	assert_int_equal(j.ct_bytes, sizeof data);
	vv_store_close(s);
	/* A crash mid-upload leaves a hidden file until the next open. */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (vv_store_open(dir, &s))
			_exit(2);
		s->tmpfile = false;
		if (vv_store_upload_begin(s, 0, &u) || vv_store_upload_write(u, data, sizeof data))
			_exit(3);
		raise(SIGKILL);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(spool_entries(), 2);
	s = open_store();
	assert_int_equal(check_invariant(s), 1);
	vv_store_close(s);
}

/* A deletion killed at any point: the sample is whole or wholly gone (no
 * job, no file), and the other sample is untouched. */
static void test_crash_during_delete(void **state)
{
	uint8_t data[512];
	char id[VV_STORE_ID_LEN + 1], idb[VV_STORE_ID_LEN + 1], c;
	vv_store *s;
	vv_store_job *jobs = NULL;
	size_t n;
	int p[2], status, exists, gone = 0;
	pid_t pid;

	(void)state;
	fill(data, sizeof data, 10);
	srand(777);
	s = open_store();
	make_sample(s, "B", NULL);
	assert_int_equal(submit(s, "B", "CN=b", data, sizeof data, NULL, idb), 0);
	vv_store_close(s);
	for (int round = 0; round < 6; round++) {
		s = open_store();
		if (vv_store_sample_exists(s, "A") == 0) {
			make_sample(s, "A", NULL);
			for (int i = 0; i < 20; i++)
				assert_int_equal(submit(s, "A", "CN=a", data, sizeof data, NULL, id), 0);
		}
		vv_store_close(s);
		assert_int_equal(pipe(p), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(p[0]);
			if (vv_store_open(dir, &s) || write(p[1], "d", 1) != 1)
				_exit(2);
			(void)!vv_store_delete_sample(s, "A", NULL);
			for (;;)
				pause();  /* wait for the kill wherever it lands */
		}
		close(p[1]);
		assert_int_equal(read(p[0], &c, 1), 1);
		close(p[0]);
		struct timespec ts = {0, (long)(rand() % 20000) * 1000};
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		s = open_store();
		exists = vv_store_sample_exists(s, "A");
		assert_true(exists == 0 || exists == 1);
		n = check_invariant(s);
		assert_int_equal(n, exists ? 21 : 1);
		assert_int_equal(vv_store_job_list(s, "CN=b", 0, &jobs, &n), 0);
		assert_int_equal(n, 1);
		assert_string_equal(jobs[0].id, idb);
		free(jobs);
		gone += !exists;
		vv_store_close(s);
	}
	(void)gone;  /* timing decides how many rounds got through; both outcomes are checked */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_layout_and_lock, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrates_v1, setup, teardown),
		cmocka_unit_test_setup_teardown(test_newer_database_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_a_database, setup, teardown),
		cmocka_unit_test_setup_teardown(test_submit_is_durable_and_complete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_upload_refusals_leave_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_named_upload_fallback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_orphans_removed_on_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_job_lifecycle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_running_requeued_on_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chunk_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_result_tampering_detected, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sample_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete_sample_shreds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_threads_share_a_store, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_during_upload_leaves_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_after_accept_keeps_job, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_anywhere_keeps_invariant, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_during_delete, setup, teardown),
	};

	if (vv_core_init() != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
