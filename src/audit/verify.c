/* The offline verifier: recomputes the tree, the MAC chain and every
 * checkpoint from a copy of the database, trusting nothing stored in it. */
#include "audit_int.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *vv_audit_problem_name(enum vv_audit_problem p)
{
	switch (p) {
	case VV_AUDIT_V_OK:
		return "ok";
	case VV_AUDIT_V_SCHEMA:
		return "schema";
	case VV_AUDIT_V_SEQ:
		return "sequence";
	case VV_AUDIT_V_RECORD:
		return "record";
	case VV_AUDIT_V_MAC:
		return "mac";
	case VV_AUDIT_V_CHECKPOINT_SIG:
		return "checkpoint-signature";
	case VV_AUDIT_V_CHECKPOINT_ROOT:
		return "checkpoint-root";
	case VV_AUDIT_V_EXTERNAL_SIG:
		return "external-signature";
	case VV_AUDIT_V_TRUNCATED:
		return "truncated";
	case VV_AUDIT_V_FORK:
		return "fork";
	case VV_AUDIT_V_STATE:
		return "state";
	}
	return "unknown";
}

/* A checkpoint to check against the recomputed tree. */
typedef struct cp {
	uint64_t size;
	uint8_t root[VV_AUDIT_HASH_LEN];
	const char *name;   /* for messages */
	bool external;
} cp;

static int cmp_cp(const void *a, const void *b)
{
	const cp *x = a, *y = b;

	return x->size < y->size ? -1 : x->size > y->size;
}

static void problem(vv_audit_verify_result *res, enum vv_audit_problem p, int64_t seq, const char *fmt, ...)
	VV_PRINTF(4, 5);
static void problem(vv_audit_verify_result *res, enum vv_audit_problem p, int64_t seq, const char *fmt, ...)
{
	va_list ap;

	if (res->problem != VV_AUDIT_V_OK)
		return;
	res->problem = p;
	res->bad_seq = seq;
	va_start(ap, fmt);
	vsnprintf(res->message, sizeof res->message, fmt, ap);
	va_end(ap);
}

static void hex32(const uint8_t h[32], char out[65])
{
	sodium_bin2hex(out, 65, h, 32);
}

/* Whether the tables and the append-only triggers are all there. */
static int check_schema(sqlite3 *db, vv_audit_verify_result *res)
{
	static const char *const want[] = {"audit_records", "audit_checkpoints", "audit_state",
					   "audit_records_no_update", "audit_records_no_delete",
					   "audit_checkpoints_no_update", "audit_checkpoints_no_delete"};
	sqlite3_stmt *st = NULL;
	int rc = 0;

	if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE name = ?1", -1, &st, NULL) != SQLITE_OK)
		return vv_audit_sql_err(db, sqlite3_errcode(db), "read schema");
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		sqlite3_reset(st);
		sqlite3_bind_text(st, 1, want[i], -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_ROW) {
			problem(res, VV_AUDIT_V_SCHEMA, -1, "%s is missing from the database (dropped or never created)",
				want[i]);
			break;
		}
	}
	sqlite3_finalize(st);
	return rc;
}

/* The canonical start of leaf seq: {"seq":N,"time":"<time_us as RFC 3339>";
 * false when the row's time cannot be one (negative, out of range). */
static bool leaf_prefix(uint64_t seq, int64_t t, char *buf, size_t n, size_t *len)
{
	struct tm tm;
	time_t secs;
	int w;

	if (t < 0)
		return false;
	secs = (time_t)(t / 1000000);
	if (!gmtime_r(&secs, &tm))
		return false;
	w = snprintf(buf, n, "{\"seq\":%llu,\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%06dZ\"",
			(unsigned long long)seq, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			tm.tm_sec, (int)(t % 1000000));
	if (w < 0 || (size_t)w >= n)
		return false;
	*len = (size_t)w;
	return true;
}

int vv_audit_verify(sqlite3 *db, const vv_audit_verify_opts *o, vv_audit_verify_result *res)
{
	vv_audit_note_vkey vk;
	vv_audit_frontier *f = NULL;
	cp *cps = NULL;
	size_t ncp = 0, cap = 0, next = 0;
	sqlite3_stmt *st = NULL;
	uint8_t *key = NULL;
	uint64_t i = 0;
	int rc, r;

	memset(res, 0, sizeof *res);
	res->bad_seq = -1;
	if (!db || !o || !o->vkey)
		return vv_errf(VV_ERR_INVAL, "audit verify: database and public key are required");
	if (vv_core_init())
		return VV_ERR_INTERNAL;
	if ((rc = vv_audit_note_parse_vkey(o->vkey, &vk)))
		return rc;
	if (!(f = malloc(sizeof *f)))
		return VV_ERR_NOMEM;
	vv_audit_frontier_init(f);
	if (o->k0) {
		if (!(key = sodium_malloc(32))) {
			rc = VV_ERR_NOMEM;
			goto out;
		}
		memcpy(key, o->k0, 32);
		res->macs_checked = true;
	}

	/* the checkpoints held outside first: a bad one is the caller's to
	 * know about before anything is compared with it */
	cap = o->n_checkpoints + 16;
	if (!(cps = calloc(cap, sizeof *cps))) {
		rc = VV_ERR_NOMEM;
		goto out;
	}
	for (size_t k = 0; k < o->n_checkpoints; k++) {
		const char *nm = o->checkpoint_names && o->checkpoint_names[k] ? o->checkpoint_names[k] : "checkpoint";
		char origin[VV_AUDIT_ORIGIN_MAX + 1];

		if (vv_audit_note_verify(o->vkey, o->checkpoints[k], NULL) != 0 ||
		    vv_audit_checkpoint_parse(o->checkpoints[k], origin, &cps[ncp].size, cps[ncp].root) != 0) {
			problem(res, VV_AUDIT_V_EXTERNAL_SIG, -1, "%s: not a checkpoint signed by %s: %s", nm, vk.name,
				vv_err_detail());
			goto out; /* rc is 0: the checks ran */
		}
		cps[ncp].name = nm;
		cps[ncp].external = true;
		ncp++;
	}

	if ((rc = check_schema(db, res)))
		goto out;
	if (res->problem == VV_AUDIT_V_SCHEMA) {
		/* without the tables there is nothing more to read; a missing
		 * trigger alone is reported only if nothing worse turns up */
		sqlite3_stmt *t = NULL;
		bool tables = sqlite3_prepare_v2(db, "SELECT 1 FROM audit_records, audit_checkpoints LIMIT 0", -1, &t,
						 NULL) == SQLITE_OK;

		sqlite3_finalize(t);
		if (!tables)
			goto out; /* rc is 0: the checks ran */
	}

	/* the stored checkpoints: each must carry a good signature by this
	 * key over a body that names this size and root */
	if (sqlite3_prepare_v2(db, "SELECT size, root, note FROM audit_checkpoints ORDER BY size", -1, &st, NULL) !=
	    SQLITE_OK) {
		rc = vv_audit_sql_err(db, sqlite3_errcode(db), "read checkpoints");
		goto out;
	}
	{
		enum vv_audit_problem saved = res->problem;
		char savedmsg[sizeof res->message];

		/* a schema finding is parked so the checkpoints may report first */
		memcpy(savedmsg, res->message, sizeof savedmsg);
		res->problem = VV_AUDIT_V_OK;
		while ((r = sqlite3_step(st)) == SQLITE_ROW) {
			int64_t size = sqlite3_column_int64(st, 0);
			const char *note = (const char *)sqlite3_column_text(st, 2);
			uint64_t nsize;
			uint8_t nroot[VV_AUDIT_HASH_LEN];
			char origin[VV_AUDIT_ORIGIN_MAX + 1];

			if (ncp == cap) {
				cp *n2 = realloc(cps, (cap *= 2) * sizeof *cps);

				if (!n2) {
					rc = VV_ERR_NOMEM;
					goto out;
				}
				cps = n2;
			}
			if (!note || vv_audit_note_verify(o->vkey, note, NULL) != 0) {
				problem(res, VV_AUDIT_V_CHECKPOINT_SIG, size > 0 ? size - 1 : -1,
					"stored checkpoint of size %lld: its signature does not verify with %s+%08x: "
					"signed by another key, or edited",
					(long long)size, vk.name, (unsigned)vk.hash);
				break;
			}
			if (vv_audit_checkpoint_parse(note, origin, &nsize, nroot) != 0 || (int64_t)nsize != size ||
			    sqlite3_column_bytes(st, 1) != VV_AUDIT_HASH_LEN ||
			    memcmp(sqlite3_column_blob(st, 1), nroot, VV_AUDIT_HASH_LEN) != 0) {
				problem(res, VV_AUDIT_V_CHECKPOINT_ROOT, size > 0 ? size - 1 : -1,
					"stored checkpoint of size %lld: its row disagrees with its signed note",
					(long long)size);
				break;
			}
			cps[ncp].size = nsize;
			memcpy(cps[ncp].root, nroot, VV_AUDIT_HASH_LEN);
			cps[ncp].name = NULL;
			cps[ncp].external = false;
			ncp++;
			res->checkpoints_checked++;
		}
		if (res->problem == VV_AUDIT_V_OK) {
			res->problem = saved;
			memcpy(res->message, savedmsg, sizeof savedmsg);
		} else {
			/* a signature problem is named after the records it covers
			 * are checked: an earlier bad record is the better answer */
		}
	}
	sqlite3_finalize(st);
	st = NULL;
	qsort(cps, ncp, sizeof *cps, cmp_cp);

	{
		/* findings so far (schema, stored checkpoint signatures) wait;
		 * the record scan may find earlier damage */
		vv_audit_verify_result pending = *res;

		res->problem = VV_AUDIT_V_OK;
		res->bad_seq = -1;
		res->message[0] = '\0';

		/* checkpoints of size 0 cover nothing but the empty root */
		while (next < ncp && cps[next].size == 0) {
			uint8_t er[VV_AUDIT_HASH_LEN];

			vv_audit_frontier_root(f, er);
			if (memcmp(er, cps[next].root, VV_AUDIT_HASH_LEN) != 0)
				problem(res, cps[next].external ? VV_AUDIT_V_FORK : VV_AUDIT_V_CHECKPOINT_ROOT, -1,
					"checkpoint of size 0 has a root other than the empty tree's");
			next++;
		}
		if (sqlite3_prepare_v2(db, "SELECT seq, time_us, leaf, mac FROM audit_records ORDER BY seq", -1, &st,
				       NULL) != SQLITE_OK) {
			rc = vv_audit_sql_err(db, sqlite3_errcode(db), "read records");
			goto out;
		}
		while (res->problem == VV_AUDIT_V_OK && (r = sqlite3_step(st)) == SQLITE_ROW) {
			int64_t seq = sqlite3_column_int64(st, 0), t = sqlite3_column_int64(st, 1);
			const char *leaf = (const char *)sqlite3_column_blob(st, 2);
			size_t len = (size_t)sqlite3_column_bytes(st, 2);
			char pfx[96];
			size_t pl = 0;
			uint8_t lh[VV_AUDIT_HASH_LEN], mac[32];

			if (seq != (int64_t)i) {
				if (seq > (int64_t)i)
					problem(res, VV_AUDIT_V_SEQ, (int64_t)i,
						"record %llu is missing: the next stored record is %lld (deleted)",
						(unsigned long long)i, (long long)seq);
				else
					problem(res, VV_AUDIT_V_SEQ, seq, "record %lld is out of order", (long long)seq);
				break;
			}
			if (!leaf_prefix(i, t, pfx, sizeof pfx, &pl) || !leaf || len < pl || memcmp(leaf, pfx, pl) != 0) {
				problem(res, VV_AUDIT_V_RECORD, (int64_t)i,
					"record %llu: its content names another seq or time than its row "
					"(moved, swapped or edited)",
					(unsigned long long)i);
				break;
			}
			vv_audit_merkle_leaf_hash(leaf, len, lh);
			if (key) {
				if (sqlite3_column_bytes(st, 3) != 32) {
					problem(res, VV_AUDIT_V_MAC, (int64_t)i, "record %llu: MAC missing",
						(unsigned long long)i);
					break;
				}
				vv_audit_mac(key, lh, mac);
				if (sodium_memcmp(mac, sqlite3_column_blob(st, 3), 32) != 0) {
					problem(res, VV_AUDIT_V_MAC, (int64_t)i,
						"record %llu: MAC does not verify under the key evolved from k0 "
						"(content edited, or the record forged)",
						(unsigned long long)i);
					break;
				}
				vv_audit_key_evolve(key);
			}
			vv_audit_frontier_push(f, lh, NULL);
			i++;
			res->records = i;
			while (next < ncp && cps[next].size == i) {
				uint8_t root[VV_AUDIT_HASH_LEN];
				char a[65], b[65];

				vv_audit_frontier_root(f, root);
				if (memcmp(root, cps[next].root, VV_AUDIT_HASH_LEN) != 0) {
					hex32(root, a);
					hex32(cps[next].root, b);
					if (cps[next].external)
						problem(res, VV_AUDIT_V_FORK, (int64_t)i - 1,
							"%s: the log at size %llu has root %s, the checkpoint %s: "
							"a forked or rewritten log",
							cps[next].name, (unsigned long long)i, a, b);
					else
						problem(res, VV_AUDIT_V_CHECKPOINT_ROOT, (int64_t)i - 1,
							"stored checkpoint of size %llu: signed root %s, recomputed %s "
							"(records before %llu changed)",
							(unsigned long long)i, b, a, (unsigned long long)i);
					break;
				}
				if (cps[next].external)
					res->external_checked++;
				next++;
			}
		}
		if (res->problem == VV_AUDIT_V_OK && r != SQLITE_DONE && r != SQLITE_ROW) {
			rc = vv_audit_sql_err(db, r, "read records");
			goto out;
		}
		sqlite3_finalize(st);
		st = NULL;
		if (res->problem == VV_AUDIT_V_OK && next < ncp) {
			/* a checkpoint beyond the end: records were dropped */
			if (cps[next].external)
				problem(res, VV_AUDIT_V_TRUNCATED, (int64_t)i,
					"%s: names size %llu but the log has %llu records: records %llu.. were removed "
					"(truncated or restored from an older copy)",
					cps[next].name, (unsigned long long)cps[next].size, (unsigned long long)i,
					(unsigned long long)i);
			else
				problem(res, VV_AUDIT_V_TRUNCATED, (int64_t)i,
					"stored checkpoint names size %llu but the log has %llu records: records %llu.. "
					"were removed",
					(unsigned long long)cps[next].size, (unsigned long long)i, (unsigned long long)i);
		}
		if (res->problem == VV_AUDIT_V_OK && pending.problem != VV_AUDIT_V_OK) {
			res->problem = pending.problem;
			res->bad_seq = pending.bad_seq;
			memcpy(res->message, pending.message, sizeof res->message);
		} else if (pending.problem == VV_AUDIT_V_CHECKPOINT_SIG && pending.bad_seq >= 0 &&
			   (res->bad_seq < 0 || pending.bad_seq < res->bad_seq)) {
			/* a bad signature on a checkpoint covering earlier records
			 * is the first thing wrong */
			res->problem = pending.problem;
			res->bad_seq = pending.bad_seq;
			memcpy(res->message, pending.message, sizeof res->message);
		}
	}
	vv_audit_frontier_root(f, res->root);

	/* the state row must describe the same tree (it is what the next
	 * append builds on) */
	if (res->problem == VV_AUDIT_V_OK) {
		if (sqlite3_prepare_v2(db, "SELECT size, frontier FROM audit_state WHERE id = 1", -1, &st, NULL) !=
		    SQLITE_OK) {
			problem(res, VV_AUDIT_V_STATE, -1, "audit_state is missing");
		} else if (sqlite3_step(st) != SQLITE_ROW) {
			problem(res, VV_AUDIT_V_STATE, -1, "audit_state has no row");
		} else {
			int64_t ssize = sqlite3_column_int64(st, 0);
			size_t flen = (size_t)sqlite3_column_bytes(st, 1);

			if (ssize != (int64_t)i || flen != f->n * VV_AUDIT_HASH_LEN ||
			    (flen && memcmp(sqlite3_column_blob(st, 1), f->h, flen) != 0))
				problem(res, VV_AUDIT_V_STATE, (int64_t)i,
					"audit_state says size %lld, the log has %llu records (or its frontier differs)",
					(long long)ssize, (unsigned long long)i);
		}
		sqlite3_finalize(st);
		st = NULL;
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	free(cps);
	free(f);
	sodium_free(key);
	return rc;
}

int vv_audit_verify_file(const char *path, const vv_audit_verify_opts *o, vv_audit_verify_result *res)
{
	sqlite3 *db = NULL;
	int rc;

	memset(res, 0, sizeof *res);
	res->bad_seq = -1;
	rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		rc = vv_errf(VV_ERR_IO, "%s: cannot open: %s", path, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close(db);
		return rc;
	}
	/* a file that is no database fails on its first read, here */
	if ((rc = sqlite3_exec(db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL)) != SQLITE_OK) {
		rc = vv_errf(VV_ERR_DB_CORRUPT, "%s: not a readable SQLite database: %s", path, sqlite3_errmsg(db));
		sqlite3_close(db);
		return rc;
	}
	rc = vv_audit_verify(db, o, res);
	if (rc)
		vv_err_prefix(rc, "%s: ", path);
	sqlite3_close(db);
	return rc;
}
