/* Inclusion and consistency proofs from the database (RFC 9162 PATH and
 * SUBPROOF): perfect subtrees of 256 leaves or more come from audit_nodes,
 * smaller ranges are hashed from their leaves, so a proof costs O(log^2 n)
 * lookups and at most a few hundred leaf hashes, not a pass over the log.
 * A log written before audit_nodes existed falls back to hashing leaves. */
#include "audit_int.h"

#include <stdlib.h>
#include <string.h>

typedef struct prov {
	sqlite3 *db;
	sqlite3_stmt *node;    /* hash of (level, idx) */
	sqlite3_stmt *leaves;  /* leaves in [a, b) */
	uint8_t (*buf)[VV_AUDIT_HASH_LEN]; /* 2^VV_AUDIT_NODE_MIN_LEVEL leaf hashes */
} prov;

#define LEAF_RUN ((uint64_t)1 << VV_AUDIT_NODE_MIN_LEVEL)

static uint64_t split(uint64_t n)
{
	uint64_t k = 1;

	while (k << 1 < n)
		k <<= 1;
	return k;
}

/* MTH of the leaves [a, a + n), n >= 1. */
static int mth(prov *p, uint64_t a, uint64_t n, uint8_t out[VV_AUDIT_HASH_LEN])
{
	uint8_t l[VV_AUDIT_HASH_LEN], r[VV_AUDIT_HASH_LEN];
	uint64_t k, i = 0;
	int rc, s;

	if (n >= LEAF_RUN && (n & (n - 1)) == 0 && a % n == 0) {
		sqlite3_reset(p->node);
		sqlite3_bind_int(p->node, 1, __builtin_ctzll(n));
		sqlite3_bind_int64(p->node, 2, (int64_t)(a / n));
		s = sqlite3_step(p->node);
		if (s == SQLITE_ROW && sqlite3_column_bytes(p->node, 0) == VV_AUDIT_HASH_LEN) {
			memcpy(out, sqlite3_column_blob(p->node, 0), VV_AUDIT_HASH_LEN);
			return 0;
		}
		if (s != SQLITE_ROW && s != SQLITE_DONE)
			return vv_audit_sql_err(p->db, s, "read node");
	}
	if (n > LEAF_RUN) {
		k = split(n);
		if ((rc = mth(p, a, k, l)) || (rc = mth(p, a + k, n - k, r)))
			return rc;
		vv_audit_merkle_node_hash(l, r, out);
		return 0;
	}
	sqlite3_reset(p->leaves);
	sqlite3_bind_int64(p->leaves, 1, (int64_t)a);
	sqlite3_bind_int64(p->leaves, 2, (int64_t)(a + n));
	while ((s = sqlite3_step(p->leaves)) == SQLITE_ROW) {
		if ((uint64_t)sqlite3_column_int64(p->leaves, 0) != a + i)
			return vv_errf(VV_ERR_AUDIT_TAMPERED, "audit_records: seq %llu missing",
				       (unsigned long long)(a + i));
		vv_audit_merkle_leaf_hash(sqlite3_column_blob(p->leaves, 1), (size_t)sqlite3_column_bytes(p->leaves, 1),
					  p->buf[i]);
		i++;
	}
	if (s != SQLITE_DONE)
		return vv_audit_sql_err(p->db, s, "read records");
	if (i != n)
		return vv_errf(VV_ERR_AUDIT_TAMPERED, "audit_records: seq %llu missing", (unsigned long long)(a + i));
	vv_audit_merkle_root((const uint8_t(*)[VV_AUDIT_HASH_LEN])p->buf, (size_t)n, out);
	return 0;
}

/* A growing proof. */
typedef struct plist {
	uint8_t *h;
	size_t n;
} plist;

static int add(plist *pl, const uint8_t h[VV_AUDIT_HASH_LEN])
{
	uint8_t *nh = realloc(pl->h, (pl->n + 1) * VV_AUDIT_HASH_LEN);

	if (!nh)
		return VV_ERR_NOMEM;
	pl->h = nh;
	memcpy(pl->h + pl->n * VV_AUDIT_HASH_LEN, h, VV_AUDIT_HASH_LEN);
	pl->n++;
	return 0;
}

/* PATH(m, D[a:a+n]). */
static int path(prov *p, uint64_t a, uint64_t n, uint64_t m, plist *pl)
{
	uint8_t h[VV_AUDIT_HASH_LEN];
	uint64_t k;
	int rc;

	if (n <= 1)
		return 0;
	k = split(n);
	if (m < k)
		rc = path(p, a, k, m, pl) ? : mth(p, a + k, n - k, h);
	else
		rc = path(p, a + k, n - k, m - k, pl) ? : mth(p, a, k, h);
	return rc ? rc : add(pl, h);
}

/* SUBPROOF(m, D[a:a+n], b). */
static int subproof(prov *p, uint64_t a, uint64_t n, uint64_t m, bool b, plist *pl)
{
	uint8_t h[VV_AUDIT_HASH_LEN];
	uint64_t k;
	int rc;

	if (m == n) {
		if (b)
			return 0;
		return mth(p, a, n, h) ? : add(pl, h);
	}
	k = split(n);
	if (m <= k)
		rc = subproof(p, a, k, m, b, pl) ? : mth(p, a + k, n - k, h);
	else
		rc = subproof(p, a + k, n - k, m - k, false, pl) ? : mth(p, a, k, h);
	return rc ? rc : add(pl, h);
}

static int prov_open(sqlite3 *db, uint64_t size, prov *p)
{
	uint64_t have;
	int rc;

	memset(p, 0, sizeof *p);
	p->db = db;
	if ((rc = vv_audit_size(db, &have)))
		return rc;
	if (size > have || size > INT64_MAX)
		return vv_errf(VV_ERR_NOTFOUND, "audit log has %llu records, fewer than %llu", (unsigned long long)have,
			       (unsigned long long)size);
	if (!(p->buf = malloc(LEAF_RUN * VV_AUDIT_HASH_LEN)))
		return VV_ERR_NOMEM;
	if (sqlite3_prepare_v2(db, "SELECT hash FROM audit_nodes WHERE level = ?1 AND idx = ?2", -1, &p->node, NULL) !=
		    SQLITE_OK ||
	    sqlite3_prepare_v2(db, "SELECT seq, leaf FROM audit_records WHERE seq >= ?1 AND seq < ?2 ORDER BY seq", -1,
			       &p->leaves, NULL) != SQLITE_OK)
		return vv_audit_sql_err(db, sqlite3_errcode(db), "prepare proof");
	return 0;
}

static void prov_close(prov *p)
{
	sqlite3_finalize(p->node);
	sqlite3_finalize(p->leaves);
	free(p->buf);
}

int vv_audit_inclusion_proof(sqlite3 *db, uint64_t seq, uint64_t size, uint8_t **proof, size_t *n)
{
	prov p;
	plist pl = {0};
	int rc;

	*proof = NULL;
	*n = 0;
	if (seq >= size)
		return vv_errf(VV_ERR_INVAL, "inclusion proof: seq %llu not below size %llu", (unsigned long long)seq,
			       (unsigned long long)size);
	if (!(rc = prov_open(db, size, &p)))
		rc = path(&p, 0, size, seq, &pl);
	prov_close(&p);
	if (rc) {
		free(pl.h);
		return rc;
	}
	*proof = pl.h;
	*n = pl.n;
	return 0;
}

int vv_audit_consistency_proof(sqlite3 *db, uint64_t old_size, uint64_t size, uint8_t **proof, size_t *n)
{
	prov p;
	plist pl = {0};
	int rc;

	*proof = NULL;
	*n = 0;
	if (old_size > size)
		return vv_errf(VV_ERR_INVAL, "consistency proof: sizes %llu -> %llu", (unsigned long long)old_size,
			       (unsigned long long)size);
	if ((rc = prov_open(db, size, &p)) == 0 && old_size > 0 && old_size < size)
		rc = subproof(&p, 0, size, old_size, true, &pl);
	prov_close(&p);
	if (rc) {
		free(pl.h);
		return rc;
	}
	*proof = pl.h;
	*n = pl.n;
	return 0;
}
