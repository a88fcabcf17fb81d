/* Declarations shared inside src/audit: the frontier, hex and key helpers. */
#ifndef VV_AUDIT_INT_H
#define VV_AUDIT_INT_H

#include <sqlite3.h>

#include "varvault/audit.h"

/* The right frontier of a Merkle tree: the roots of the perfect subtrees
 * that make up a tree of `size` leaves, largest (leftmost) first, one per
 * set bit of size.  Appending is O(log n) and the root O(log n). */
typedef struct vv_audit_frontier {
	uint64_t size;
	unsigned n;
	uint8_t h[64][VV_AUDIT_HASH_LEN];
} vv_audit_frontier;

void vv_audit_frontier_init(vv_audit_frontier *f);
/* Appends a leaf.  made (may be NULL; 64 entries): made[L] gets the hash of
 * each perfect subtree of 2^L leaves (L >= 1) that this leaf completes, the
 * one ending at the new size. */
void vv_audit_frontier_push(vv_audit_frontier *f, const uint8_t leaf_hash[VV_AUDIT_HASH_LEN],
			    uint8_t (*made)[VV_AUDIT_HASH_LEN]);
/* Perfect subtrees of at least 2^VV_AUDIT_NODE_MIN_LEVEL leaves are kept in
 * audit_nodes, so proofs read O(log^2 n) nodes and a few hundred leaves. */
#define VV_AUDIT_NODE_MIN_LEVEL 8
void vv_audit_frontier_root(const vv_audit_frontier *f, uint8_t out[VV_AUDIT_HASH_LEN]);
/* Loads from / stores to the blob of the state row (n * 32 bytes). */
int vv_audit_frontier_load(vv_audit_frontier *f, uint64_t size, const void *blob, size_t len) VV_MUST_CHECK;

/* The forward-secure MAC: HMAC-SHA-256 of the leaf's RFC 9162 hash under
 * key, and the next key (in place; the old one is gone when this
 * returns). */
void vv_audit_mac(const uint8_t key[32], const uint8_t leaf_hash[VV_AUDIT_HASH_LEN], uint8_t out[32]);
void vv_audit_key_evolve(uint8_t key[32]);

/* SHA-256 of a || b (b may be empty), and HMAC-SHA-256 with a 32-byte key
 * of a 32-byte message; OpenSSL's, for speed (sha.c). */
void vv_audit_sha256(const void *a, size_t an, const void *b, size_t bn, uint8_t out[VV_AUDIT_HASH_LEN]);
void vv_audit_hmac(const uint8_t key[32], const uint8_t msg[VV_AUDIT_HASH_LEN], uint8_t out[32]);

/* Parses 2n hex characters into n bytes.  0 or VV_ERR_FORMAT. */
int vv_audit_unhex(const char *hex, size_t hexlen, uint8_t *out, size_t n) VV_MUST_CHECK;

/* Parsed signed-note keys. */
typedef struct vv_audit_note_vkey {
	char name[VV_AUDIT_ORIGIN_MAX + 1];
	uint32_t hash;
	uint8_t pk[32];
} vv_audit_note_vkey;
int vv_audit_note_parse_vkey(const char *vkey, vv_audit_note_vkey *out) VV_MUST_CHECK;
/* Parses a private key string; the 64-byte Ed25519 secret key goes to sk
 * (caller's secret memory), the public key string to *vkey (malloc'd, may
 * be NULL). */
int vv_audit_note_parse_skey(const char *skey, vv_audit_note_vkey *pub, uint8_t sk[64], char **vkey) VV_MUST_CHECK;
/* Signs with a parsed key. */
int vv_audit_note_sign_raw(const vv_audit_note_vkey *pub, const uint8_t sk[64], const char *text, char **out) VV_MUST_CHECK;

/* The audit tables and triggers (idempotent). */
extern const char vv_audit_schema_sql[];

/* SQLite error to a vv_err, naming the operation. */
int vv_audit_sql_err(sqlite3 *db, int rc, const char *op);

#endif
