/* The audit log writer: tables, appends with MAC and frontier, checkpoints,
 * and the reads the daemon serves (leaves, checkpoints, proofs). */
#include "audit_int.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

const char vv_audit_schema_sql[] =
	"CREATE TABLE IF NOT EXISTS audit_records ("
	"  seq INTEGER PRIMARY KEY NOT NULL CHECK (seq >= 0),"
	"  time_us INTEGER NOT NULL,"
	"  leaf TEXT NOT NULL,"
	"  mac BLOB NOT NULL CHECK (length(mac) = 32));"
	"CREATE INDEX IF NOT EXISTS audit_records_time ON audit_records(time_us);"
	"CREATE TABLE IF NOT EXISTS audit_checkpoints ("
	"  size INTEGER PRIMARY KEY NOT NULL CHECK (size >= 0),"
	"  time_us INTEGER NOT NULL,"
	"  root BLOB NOT NULL CHECK (length(root) = 32),"
	"  note TEXT NOT NULL);"
	/* a cache of perfect subtree hashes for proofs; the verifier never
	 * reads it (a bad node only makes a proof fail at the client) */
	"CREATE TABLE IF NOT EXISTS audit_nodes ("
	"  level INTEGER NOT NULL,"
	"  idx INTEGER NOT NULL,"
	"  hash BLOB NOT NULL CHECK (length(hash) = 32),"
	"  PRIMARY KEY (level, idx)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS audit_state ("
	"  id INTEGER PRIMARY KEY CHECK (id = 1),"
	"  size INTEGER NOT NULL,"
	"  frontier BLOB NOT NULL,"
	"  mac_key BLOB NOT NULL CHECK (length(mac_key) = 32),"
	"  last_cp_size INTEGER NOT NULL,"
	"  last_cp_time_us INTEGER NOT NULL,"
	"  origin TEXT NOT NULL,"
	"  vkey TEXT NOT NULL);"
	"CREATE TRIGGER IF NOT EXISTS audit_records_no_update BEFORE UPDATE ON audit_records"
	"  BEGIN SELECT RAISE(ABORT, 'audit_records is append-only'); END;"
	"CREATE TRIGGER IF NOT EXISTS audit_records_no_delete BEFORE DELETE ON audit_records"
	"  BEGIN SELECT RAISE(ABORT, 'audit_records is append-only'); END;"
	"CREATE TRIGGER IF NOT EXISTS audit_nodes_no_update BEFORE UPDATE ON audit_nodes"
	"  BEGIN SELECT RAISE(ABORT, 'audit_nodes is append-only'); END;"
	"CREATE TRIGGER IF NOT EXISTS audit_nodes_no_delete BEFORE DELETE ON audit_nodes"
	"  BEGIN SELECT RAISE(ABORT, 'audit_nodes is append-only'); END;"
	"CREATE TRIGGER IF NOT EXISTS audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints"
	"  BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only'); END;"
	"CREATE TRIGGER IF NOT EXISTS audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints"
	"  BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only'); END;";

struct vv_audit {
	char origin[VV_AUDIT_ORIGIN_MAX + 1];
	vv_audit_note_vkey pub;
	char *vkey;          /* the verifier key string of pub */
	uint8_t *sk;         /* 64 bytes, sodium_malloc */
	uint8_t *key;        /* 32 bytes, sodium_malloc: the MAC key while an append runs */
	uint32_t every;
	uint32_t seconds;
};

int vv_audit_sql_err(sqlite3 *db, int rc, const char *op)
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
	case SQLITE_NOMEM:
		e = VV_ERR_NOMEM;
		break;
	default:
		e = VV_ERR_AUDIT;
	}
	return vv_errf(e, "audit: %s: %s", op, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
}

void vv_audit_mac(const uint8_t key[32], const uint8_t leaf_hash[VV_AUDIT_HASH_LEN], uint8_t out[32])
{
	/* the MAC covers the leaf's RFC 9162 hash, which binds every byte of
	 * the leaf (seq included) without hashing the leaf a second time */
	vv_audit_hmac(key, leaf_hash, out);
}

void vv_audit_key_evolve(uint8_t key[32])
{
	static const char label[] = "varvault audit key evolve";
	uint8_t next[32];

	vv_audit_sha256(label, sizeof label - 1, key, 32, next);
	memcpy(key, next, 32);
	sodium_memzero(next, sizeof next);
}

int vv_audit_unhex(const char *hex, size_t hexlen, uint8_t *out, size_t n)
{
	size_t got = 0;
	const char *end = NULL;

	if (hexlen != 2 * n || sodium_hex2bin(out, n, hex, hexlen, NULL, &got, &end) != 0 || got != n)
		return VV_ERR_FORMAT;
	return 0;
}

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Reads a small secret file (at most cap - 1 bytes) into sodium memory;
 * refuses files others can read, since they hold keys. */
static int read_secret_file(const char *path, char **out, size_t cap)
{
	struct stat st;
	char *buf = NULL;
	ssize_t got;
	size_t n = 0;
	int fd, rc = 0;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return vv_errf(VV_ERR_AUDIT_KEY, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		rc = vv_errf(VV_ERR_AUDIT_KEY, "%s: not a regular file", path);
		goto out;
	}
	if (st.st_mode & 077) {
		rc = vv_errf(VV_ERR_AUDIT_KEY, "%s: readable by others (mode %03o); chmod 600", path,
			     (unsigned)(st.st_mode & 0777));
		goto out;
	}
	if (!(buf = sodium_malloc(cap))) {
		rc = VV_ERR_NOMEM;
		goto out;
	}
	while ((got = read(fd, buf + n, cap - 1 - n)) > 0)
		n += (size_t)got;
	if (got < 0 || n == cap - 1) {
		rc = vv_errf(VV_ERR_AUDIT_KEY, "%s: unreadable or too long", path);
		goto out;
	}
	buf[n] = '\0';
	*out = buf;
	buf = NULL;
out:
	if (buf)
		sodium_free(buf);
	close(fd);
	return rc;
}

static int exec_sql(sqlite3 *db, const char *sql, const char *op)
{
	int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : vv_audit_sql_err(db, rc, op);
}

static int prep(sqlite3 *db, const char *sql, sqlite3_stmt **st, const char *op)
{
	int rc = sqlite3_prepare_v2(db, sql, -1, st, NULL);

	return rc == SQLITE_OK ? 0 : vv_audit_sql_err(db, rc, op);
}

void vv_audit_free(vv_audit *a)
{
	if (!a)
		return;
	sodium_free(a->sk);
	sodium_free(a->key);
	free(a->vkey);
	free(a);
}

/* Creates the state row of a new log from the k0 file. */
int vv_audit_read_k0(const char *path, uint8_t k0[32])
{
	char *hex = NULL;
	size_t hl;
	int rc;

	if ((rc = read_secret_file(path, &hex, 256)))
		return rc;
	hl = strlen(hex);
	while (hl && (hex[hl - 1] == '\n' || hex[hl - 1] == '\r'))
		hl--;
	if (vv_audit_unhex(hex, hl, k0, 32))
		rc = vv_errf(VV_ERR_AUDIT_KEY, "%s: not 64 hex characters", path);
	sodium_free(hex);
	return rc;
}

static int init_state(vv_audit *a, sqlite3 *db, const char *k0_path)
{
	sqlite3_stmt *st = NULL;
	uint8_t *k0 = NULL;
	int rc;

	if (!k0_path)
		return vv_errf(VV_ERR_AUDIT_KEY, "audit log is new and no k0 file is configured");
	if (!(k0 = sodium_malloc(32)))
		return VV_ERR_NOMEM;
	if ((rc = vv_audit_read_k0(k0_path, k0)))
		goto out;
	if ((rc = prep(db,
		       "INSERT INTO audit_state (id, size, frontier, mac_key, last_cp_size, last_cp_time_us, origin, vkey)"
		       " VALUES (1, 0, x'', ?1, 0, ?2, ?3, ?4)",
		       &st, "create state")))
		goto out;
	sqlite3_bind_blob(st, 1, k0, 32, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now_us());
	sqlite3_bind_text(st, 3, a->origin, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, a->vkey, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) != SQLITE_DONE)
		rc = vv_audit_sql_err(db, rc, "create state");
	else
		rc = 0;
out:
	sqlite3_finalize(st);
	sodium_free(k0);
	return rc;
}

static bool origin_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > VV_AUDIT_ORIGIN_MAX || s[0] == ' ' || s[n - 1] == ' ')
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

int vv_audit_open(sqlite3 *db, const vv_audit_opts *o, vv_audit **out)
{
	vv_audit *a = NULL;
	sqlite3_stmt *st = NULL;
	char *skey = NULL;
	bool in_tx = false;
	int rc, s;

	*out = NULL;
	if (!db || !o || !origin_ok(o->origin) || !o->signing_key_path)
		return vv_errf(VV_ERR_INVAL, "audit: origin (printable ASCII) and signing key path are required");
	if (vv_core_init())
		return VV_ERR_INTERNAL;
	if (!(a = calloc(1, sizeof *a)))
		return VV_ERR_NOMEM;
	snprintf(a->origin, sizeof a->origin, "%s", o->origin);
	a->every = o->checkpoint_every ? o->checkpoint_every : 1000;
	a->seconds = o->checkpoint_seconds ? o->checkpoint_seconds : 300;
	/* allocated once: sodium_malloc costs several system calls, too many
	 * for every append */
	if (!(a->sk = sodium_malloc(64)) || !(a->key = sodium_malloc(32))) {
		rc = VV_ERR_NOMEM;
		goto out;
	}
	if ((rc = read_secret_file(o->signing_key_path, &skey, 1024)))
		goto out;
	if ((rc = vv_audit_note_parse_skey(skey, &a->pub, a->sk, &a->vkey))) {
		vv_err_prefix(rc, "%s: ", o->signing_key_path);
		goto out;
	}
	if ((rc = exec_sql(db, "BEGIN IMMEDIATE", "open")))
		goto out;
	in_tx = true;
	if ((rc = exec_sql(db, vv_audit_schema_sql, "create tables")))
		goto out;
	if ((rc = prep(db, "SELECT origin, vkey FROM audit_state WHERE id = 1", &st, "read state")))
		goto out;
	s = sqlite3_step(st);
	if (s == SQLITE_ROW) {
		const char *org = (const char *)sqlite3_column_text(st, 0);
		const char *vk = (const char *)sqlite3_column_text(st, 1);

		if (!org || strcmp(org, a->origin) != 0) {
			rc = vv_errf(VV_ERR_AUDIT_KEY, "audit log has origin \"%s\", configured \"%s\"", org ? org : "",
				     a->origin);
			goto out;
		}
		if (!vk || strcmp(vk, a->vkey) != 0) {
			rc = vv_errf(VV_ERR_AUDIT_KEY,
				     "audit log was signed with another key (%s); the configured key is %s",
				     vk ? vk : "", a->vkey);
			goto out;
		}
	} else if (s == SQLITE_DONE) {
		sqlite3_finalize(st);
		st = NULL;
		if ((rc = init_state(a, db, o->k0_path)))
			goto out;
	} else {
		rc = vv_audit_sql_err(db, s, "read state");
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	if ((rc = exec_sql(db, "COMMIT", "open")))
		goto out;
	in_tx = false;
	*out = a;
	a = NULL;
out:
	sqlite3_finalize(st);
	if (in_tx)
		(void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	if (skey)
		sodium_free(skey);
	vv_audit_free(a);
	return rc;
}

/* The state row, read inside the caller's transaction. */
typedef struct state {
	vv_audit_frontier f;
	uint8_t *key;  /* 32 bytes, sodium_malloc */
	uint64_t last_cp_size;
	int64_t last_cp_time;
} state;

static int state_load(sqlite3 *db, state *s)
{
	sqlite3_stmt *st = NULL;
	int rc, r;

	if ((rc = prep(db, "SELECT size, frontier, mac_key, last_cp_size, last_cp_time_us FROM audit_state WHERE id = 1",
		       &st, "read state")))
		return rc;
	r = sqlite3_step(st);
	if (r != SQLITE_ROW) {
		rc = r == SQLITE_DONE ? vv_errf(VV_ERR_AUDIT, "audit_state: no row (log not opened)")
				      : vv_audit_sql_err(db, r, "read state");
		goto out;
	}
	if (sqlite3_column_int64(st, 0) < 0 || sqlite3_column_bytes(st, 2) != 32) {
		rc = vv_errf(VV_ERR_AUDIT_TAMPERED, "audit_state: malformed row");
		goto out;
	}
	if ((rc = vv_audit_frontier_load(&s->f, (uint64_t)sqlite3_column_int64(st, 0), sqlite3_column_blob(st, 1),
				   (size_t)sqlite3_column_bytes(st, 1))))
		goto out;
	memcpy(s->key, sqlite3_column_blob(st, 2), 32);
	s->last_cp_size = (uint64_t)sqlite3_column_int64(st, 3);
	s->last_cp_time = sqlite3_column_int64(st, 4);
out:
	sqlite3_finalize(st);
	return rc;
}

static int state_store(sqlite3 *db, const state *s)
{
	sqlite3_stmt *st = NULL;
	int rc, r;

	if ((rc = prep(db,
		       "UPDATE audit_state SET size = ?1, frontier = ?2, mac_key = ?3, last_cp_size = ?4,"
		       " last_cp_time_us = ?5 WHERE id = 1",
		       &st, "write state")))
		return rc;
	sqlite3_bind_int64(st, 1, (int64_t)s->f.size);
	sqlite3_bind_blob(st, 2, s->f.h, (int)(s->f.n * VV_AUDIT_HASH_LEN), SQLITE_STATIC);
	sqlite3_bind_blob(st, 3, s->key, 32, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (int64_t)s->last_cp_size);
	sqlite3_bind_int64(st, 5, s->last_cp_time);
	r = sqlite3_step(st);
	if (r != SQLITE_DONE)
		rc = vv_audit_sql_err(db, r, "write state");
	sqlite3_finalize(st);
	return rc;
}

/* Signs and stores a checkpoint of the state's current tree. */
static int write_checkpoint(vv_audit *a, sqlite3 *db, state *s, int64_t t)
{
	sqlite3_stmt *st = NULL;
	uint8_t root[VV_AUDIT_HASH_LEN];
	char b64[sodium_base64_ENCODED_LEN(VV_AUDIT_HASH_LEN, sodium_base64_VARIANT_ORIGINAL)];
	char body[VV_AUDIT_ORIGIN_MAX + 128];
	char *note = NULL;
	int rc, r;

	vv_audit_frontier_root(&s->f, root);
	sodium_bin2base64(b64, sizeof b64, root, sizeof root, sodium_base64_VARIANT_ORIGINAL);
	snprintf(body, sizeof body, "%s\n%llu\n%s\n", a->origin, (unsigned long long)s->f.size, b64);
	if ((rc = vv_audit_note_sign_raw(&a->pub, a->sk, body, &note)))
		return rc;
	if ((rc = prep(db, "INSERT INTO audit_checkpoints (size, time_us, root, note) VALUES (?1, ?2, ?3, ?4)", &st,
		       "write checkpoint")))
		goto out;
	sqlite3_bind_int64(st, 1, (int64_t)s->f.size);
	sqlite3_bind_int64(st, 2, t);
	sqlite3_bind_blob(st, 3, root, sizeof root, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, note, -1, SQLITE_STATIC);
	r = sqlite3_step(st);
	if (r != SQLITE_DONE) {
		rc = vv_audit_sql_err(db, r, "write checkpoint");
		goto out;
	}
	s->last_cp_size = s->f.size;
	s->last_cp_time = t;
out:
	sqlite3_finalize(st);
	free(note);
	return rc;
}

static int store_node(sqlite3 *db, unsigned level, uint64_t idx, const uint8_t h[VV_AUDIT_HASH_LEN])
{
	sqlite3_stmt *st = NULL;
	int rc, r;

	if ((rc = prep(db, "INSERT INTO audit_nodes (level, idx, hash) VALUES (?1, ?2, ?3)", &st, "append node")))
		return rc;
	sqlite3_bind_int(st, 1, (int)level);
	sqlite3_bind_int64(st, 2, (int64_t)idx);
	sqlite3_bind_blob(st, 3, h, VV_AUDIT_HASH_LEN, SQLITE_STATIC);
	r = sqlite3_step(st);
	if (r != SQLITE_DONE)
		rc = vv_audit_sql_err(db, r, "append node");
	sqlite3_finalize(st);
	return rc;
}

int vv_audit_append(vv_audit *a, sqlite3 *db, const vv_audit_record *r, uint64_t *seq_out, bool *checkpointed)
{
	state s = {0};
	sqlite3_stmt *st = NULL;
	vv_audit_record rec = *r;
	uint8_t mac[32], lh[VV_AUDIT_HASH_LEN], made[64][VV_AUDIT_HASH_LEN];
	char *leaf = NULL;
	size_t len;
	int rc, x;

	if (seq_out)
		*seq_out = 0;
	if (checkpointed)
		*checkpointed = false;
	if (sqlite3_get_autocommit(db))
		return vv_errf(VV_ERR_INVAL, "audit append outside a transaction");
	s.key = a->key;
	if ((rc = state_load(db, &s)))
		goto out;
	if (!rec.time_us)
		rec.time_us = now_us();
	if ((rc = vv_audit_record_canon(&rec, s.f.size, &leaf, &len)))
		goto out;
	vv_audit_merkle_leaf_hash(leaf, len, lh);
	vv_audit_mac(s.key, lh, mac);
	if ((rc = prep(db, "INSERT INTO audit_records (seq, time_us, leaf, mac) VALUES (?1, ?2, ?3, ?4)", &st,
		       "append")))
		goto out;
	sqlite3_bind_int64(st, 1, (int64_t)s.f.size);
	sqlite3_bind_int64(st, 2, rec.time_us);
	sqlite3_bind_text(st, 3, leaf, (int)len, SQLITE_STATIC);
	sqlite3_bind_blob(st, 4, mac, sizeof mac, SQLITE_STATIC);
	x = sqlite3_step(st);
	if (x != SQLITE_DONE) {
		rc = vv_audit_sql_err(db, x, "append");
		goto out;
	}
	if (seq_out)
		*seq_out = s.f.size;
	vv_audit_frontier_push(&s.f, lh, made);
	for (unsigned l = VV_AUDIT_NODE_MIN_LEVEL; l < 64 && s.f.size % ((uint64_t)1 << l) == 0; l++)
		if ((rc = store_node(db, l, (s.f.size >> l) - 1, made[l])))
			goto out;
	/* the key that made this MAC is replaced before it is written back */
	vv_audit_key_evolve(s.key);
	if (s.f.size - s.last_cp_size >= a->every ||
	    (s.f.size > s.last_cp_size && rec.time_us - s.last_cp_time >= (int64_t)a->seconds * 1000000)) {
		if ((rc = write_checkpoint(a, db, &s, rec.time_us)))
			goto out;
		if (checkpointed)
			*checkpointed = true;
	}
	rc = state_store(db, &s);
out:
	sqlite3_finalize(st);
	free(leaf);
	sodium_memzero(a->key, 32);
	return rc;
}

int vv_audit_append_tx(vv_audit *a, sqlite3 *db, const vv_audit_record *r, uint64_t *seq_out, bool *checkpointed)
{
	int rc;

	if ((rc = exec_sql(db, "BEGIN IMMEDIATE", "append")))
		return rc;
	rc = vv_audit_append(a, db, r, seq_out, checkpointed);
	if (!rc)
		rc = exec_sql(db, "COMMIT", "append");
	if (rc) {
		if (!sqlite3_get_autocommit(db))
			(void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		if (checkpointed)
			*checkpointed = false;
	}
	return rc;
}

int vv_audit_checkpoint(vv_audit *a, sqlite3 *db, bool *made)
{
	state s = {0};
	bool own = sqlite3_get_autocommit(db) != 0;
	int64_t t = now_us();
	int rc;

	if (made)
		*made = false;
	if (own && (rc = exec_sql(db, "BEGIN IMMEDIATE", "checkpoint")))
		return rc;
	s.key = a->key;
	if ((rc = state_load(db, &s)))
		goto out;
	{
		/* checkpoints are keyed by size: one per size, never two */
		sqlite3_stmt *st = NULL;
		bool exists;

		if ((rc = prep(db, "SELECT 1 FROM audit_checkpoints WHERE size = ?1", &st, "checkpoint")))
			goto out;
		sqlite3_bind_int64(st, 1, (int64_t)s.f.size);
		exists = sqlite3_step(st) == SQLITE_ROW;
		sqlite3_finalize(st);
		if (!exists) {
			if ((rc = write_checkpoint(a, db, &s, t)) || (rc = state_store(db, &s)))
				goto out;
			if (made)
				*made = true;
		}
	}
	if (own)
		rc = exec_sql(db, "COMMIT", "checkpoint");
out:
	if (rc && own && !sqlite3_get_autocommit(db))
		(void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	sodium_memzero(a->key, 32);
	if (rc && made)
		*made = false;
	return rc;
}

int vv_audit_size(sqlite3 *db, uint64_t *size)
{
	sqlite3_stmt *st = NULL;
	int rc, r;

	*size = 0;
	if ((rc = prep(db, "SELECT size FROM audit_state WHERE id = 1", &st, "size")))
		return rc;
	r = sqlite3_step(st);
	if (r == SQLITE_ROW)
		*size = (uint64_t)sqlite3_column_int64(st, 0);
	else if (r != SQLITE_DONE)
		rc = vv_audit_sql_err(db, r, "size");
	sqlite3_finalize(st);
	return rc;
}

static int note_query(sqlite3 *db, const char *sql, int64_t arg, char **note, uint64_t *size)
{
	sqlite3_stmt *st = NULL;
	int rc, r;

	*note = NULL;
	if ((rc = prep(db, sql, &st, "read checkpoint")))
		return rc;
	if (arg >= 0)
		sqlite3_bind_int64(st, 1, arg);
	r = sqlite3_step(st);
	if (r == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(st, 1);

		if (size)
			*size = (uint64_t)sqlite3_column_int64(st, 0);
		if (!(*note = strdup(t ? t : "")))
			rc = VV_ERR_NOMEM;
	} else if (r == SQLITE_DONE) {
		rc = vv_errf(VV_ERR_NOTFOUND, "no such audit checkpoint");
	} else {
		rc = vv_audit_sql_err(db, r, "read checkpoint");
	}
	sqlite3_finalize(st);
	return rc;
}

int vv_audit_latest_checkpoint(sqlite3 *db, char **note, uint64_t *size)
{
	return note_query(db, "SELECT size, note FROM audit_checkpoints ORDER BY size DESC LIMIT 1", -1, note, size);
}

int vv_audit_checkpoint_at(sqlite3 *db, uint64_t size, char **note)
{
	if (size > INT64_MAX)
		return vv_errf(VV_ERR_NOTFOUND, "no such audit checkpoint");
	return note_query(db, "SELECT size, note FROM audit_checkpoints WHERE size = ?1", (int64_t)size, note, NULL);
}

int vv_audit_leaf(sqlite3 *db, uint64_t seq, char **leaf, size_t *len)
{
	sqlite3_stmt *st = NULL;
	int rc, r;

	*leaf = NULL;
	*len = 0;
	if (seq > INT64_MAX)
		return vv_errf(VV_ERR_NOTFOUND, "no audit record %llu", (unsigned long long)seq);
	if ((rc = prep(db, "SELECT leaf FROM audit_records WHERE seq = ?1", &st, "read record")))
		return rc;
	sqlite3_bind_int64(st, 1, (int64_t)seq);
	r = sqlite3_step(st);
	if (r == SQLITE_ROW) {
		size_t n = (size_t)sqlite3_column_bytes(st, 0);
		const void *p = sqlite3_column_blob(st, 0);

		if (!(*leaf = malloc(n + 1))) {
			rc = VV_ERR_NOMEM;
		} else {
			if (n)
				memcpy(*leaf, p, n);
			(*leaf)[n] = '\0';
			*len = n;
		}
	} else if (r == SQLITE_DONE) {
		rc = vv_errf(VV_ERR_NOTFOUND, "no audit record %llu", (unsigned long long)seq);
	} else {
		rc = vv_audit_sql_err(db, r, "read record");
	}
	sqlite3_finalize(st);
	return rc;
}
