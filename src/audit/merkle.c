/* RFC 9162 Merkle tree hashing, proofs and their verification. */
#include "audit_int.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

void vv_audit_merkle_leaf_hash(const void *data, size_t len, uint8_t out[VV_AUDIT_HASH_LEN])
{
	static const uint8_t prefix = 0x00;

	vv_audit_sha256(&prefix, 1, data, len, out);
}

void vv_audit_merkle_node_hash(const uint8_t left[VV_AUDIT_HASH_LEN], const uint8_t right[VV_AUDIT_HASH_LEN],
			 uint8_t out[VV_AUDIT_HASH_LEN])
{
	uint8_t buf[1 + 2 * VV_AUDIT_HASH_LEN];

	buf[0] = 0x01;
	memcpy(buf + 1, left, VV_AUDIT_HASH_LEN);
	memcpy(buf + 1 + VV_AUDIT_HASH_LEN, right, VV_AUDIT_HASH_LEN);
	vv_audit_sha256(buf, sizeof buf, NULL, 0, out);
}

/* The largest power of two smaller than n (n >= 2). */
static size_t split(size_t n)
{
	size_t k = 1;

	while (k << 1 < n)
		k <<= 1;
	return k;
}

void vv_audit_merkle_root(const uint8_t (*leaves)[VV_AUDIT_HASH_LEN], size_t n, uint8_t out[VV_AUDIT_HASH_LEN])
{
	uint8_t l[VV_AUDIT_HASH_LEN], r[VV_AUDIT_HASH_LEN];
	size_t k;

	if (n == 0) {
		vv_audit_sha256("", 0, NULL, 0, out);
		return;
	}
	if (n == 1) {
		memcpy(out, leaves[0], VV_AUDIT_HASH_LEN);
		return;
	}
	k = split(n);
	vv_audit_merkle_root(leaves, k, l);
	vv_audit_merkle_root(leaves + k, n - k, r);
	vv_audit_merkle_node_hash(l, r, out);
}

/* A growing list of hashes for the proof builders. */
typedef struct hlist {
	uint8_t *h;
	size_t n;
	bool oom;
} hlist;

static void hlist_add(hlist *p, const uint8_t h[VV_AUDIT_HASH_LEN])
{
	uint8_t *nh;

	if (p->oom)
		return;
	/* proofs have at most 2 * 64 entries; grow in steps of 8 */
	if (p->n % 8 == 0) {
		nh = realloc(p->h, (p->n + 8) * VV_AUDIT_HASH_LEN);
		if (!nh) {
			p->oom = true;
			return;
		}
		p->h = nh;
	}
	memcpy(p->h + p->n * VV_AUDIT_HASH_LEN, h, VV_AUDIT_HASH_LEN);
	p->n++;
}

/* PATH(m, D[n]) of RFC 9162 2.1.3.1. */
static void path(const uint8_t (*d)[VV_AUDIT_HASH_LEN], size_t n, size_t m, hlist *p)
{
	uint8_t h[VV_AUDIT_HASH_LEN];
	size_t k;

	if (n <= 1)
		return;
	k = split(n);
	if (m < k) {
		path(d, k, m, p);
		vv_audit_merkle_root(d + k, n - k, h);
	} else {
		path(d + k, n - k, m - k, p);
		vv_audit_merkle_root(d, k, h);
	}
	hlist_add(p, h);
}

/* SUBPROOF(m, D[n], b) of RFC 9162 2.1.4.1. */
static void subproof(const uint8_t (*d)[VV_AUDIT_HASH_LEN], size_t n, size_t m, bool b, hlist *p)
{
	uint8_t h[VV_AUDIT_HASH_LEN];
	size_t k;

	if (m == n) {
		if (!b) {
			vv_audit_merkle_root(d, n, h);
			hlist_add(p, h);
		}
		return;
	}
	k = split(n);
	if (m <= k) {
		subproof(d, k, m, b, p);
		vv_audit_merkle_root(d + k, n - k, h);
	} else {
		subproof(d + k, n - k, m - k, false, p);
		vv_audit_merkle_root(d, k, h);
	}
	hlist_add(p, h);
}

int vv_audit_merkle_inclusion_proof(const uint8_t (*leaves)[VV_AUDIT_HASH_LEN], size_t n, size_t index, uint8_t **proof,
			      size_t *plen)
{
	hlist p = {0};

	*proof = NULL;
	*plen = 0;
	if (index >= n)
		return vv_errf(VV_ERR_INVAL, "inclusion proof: index %zu not below size %zu", index, n);
	path(leaves, n, index, &p);
	if (p.oom) {
		free(p.h);
		return VV_ERR_NOMEM;
	}
	*proof = p.h;
	*plen = p.n;
	return 0;
}

int vv_audit_merkle_consistency_proof(const uint8_t (*leaves)[VV_AUDIT_HASH_LEN], size_t n, size_t m, uint8_t **proof,
				size_t *plen)
{
	hlist p = {0};

	*proof = NULL;
	*plen = 0;
	if (m == 0 || m > n)
		return vv_errf(VV_ERR_INVAL, "consistency proof: sizes %zu -> %zu", m, n);
	subproof(leaves, n, m, true, &p);
	if (p.oom) {
		free(p.h);
		return VV_ERR_NOMEM;
	}
	*proof = p.h;
	*plen = p.n;
	return 0;
}

int vv_audit_merkle_verify_inclusion(uint64_t index, uint64_t size, const uint8_t leaf_hash[VV_AUDIT_HASH_LEN],
			       const uint8_t *proof, size_t plen, const uint8_t root[VV_AUDIT_HASH_LEN])
{
	uint8_t r[VV_AUDIT_HASH_LEN];
	uint64_t fn, sn;

	if (index >= size)
		return vv_errf(VV_ERR_AUDIT_PROOF, "inclusion proof: index %llu not below size %llu",
			       (unsigned long long)index, (unsigned long long)size);
	fn = index;
	sn = size - 1;
	memcpy(r, leaf_hash, VV_AUDIT_HASH_LEN);
	for (size_t i = 0; i < plen; i++) {
		const uint8_t *p = proof + i * VV_AUDIT_HASH_LEN;

		if (sn == 0)
			return vv_errf(VV_ERR_AUDIT_PROOF, "inclusion proof: too long");
		if ((fn & 1) || fn == sn) {
			vv_audit_merkle_node_hash(p, r, r);
			while (!(fn & 1) && fn != 0) {
				fn >>= 1;
				sn >>= 1;
			}
		} else {
			vv_audit_merkle_node_hash(r, p, r);
		}
		fn >>= 1;
		sn >>= 1;
	}
	if (sn != 0 || sodium_memcmp(r, root, VV_AUDIT_HASH_LEN) != 0)
		return vv_errf(VV_ERR_AUDIT_PROOF, "inclusion proof of %llu in %llu does not reach the root",
			       (unsigned long long)index, (unsigned long long)size);
	return 0;
}

int vv_audit_merkle_verify_consistency(uint64_t size1, uint64_t size2, const uint8_t root1[VV_AUDIT_HASH_LEN],
				 const uint8_t root2[VV_AUDIT_HASH_LEN], const uint8_t *proof, size_t plen)
{
	uint8_t fr[VV_AUDIT_HASH_LEN], sr[VV_AUDIT_HASH_LEN];
	uint64_t fn, sn;
	size_t i = 0;

	if (size1 > size2)
		return vv_errf(VV_ERR_AUDIT_CONSISTENCY, "consistency: old size %llu is larger than new size %llu",
			       (unsigned long long)size1, (unsigned long long)size2);
	if (size1 == size2) {
		if (plen != 0 || sodium_memcmp(root1, root2, VV_AUDIT_HASH_LEN) != 0)
			return vv_errf(VV_ERR_AUDIT_CONSISTENCY, "consistency: same size %llu, other root",
				       (unsigned long long)size1);
		return 0;
	}
	if (size1 == 0)
		/* the empty tree is a prefix of every tree; nothing to prove */
		return plen == 0 ? 0 : vv_errf(VV_ERR_AUDIT_CONSISTENCY, "consistency: proof from size 0 not empty");
	if (plen == 0)
		return vv_errf(VV_ERR_AUDIT_CONSISTENCY, "consistency: empty proof");
	fn = size1 - 1;
	sn = size2 - 1;
	/* an exact power of two: the old root itself is the first node */
	if ((size1 & (size1 - 1)) == 0) {
		memcpy(fr, root1, VV_AUDIT_HASH_LEN);
	} else {
		memcpy(fr, proof, VV_AUDIT_HASH_LEN);
		i = 1;
	}
	memcpy(sr, fr, VV_AUDIT_HASH_LEN);
	while (fn & 1) {
		fn >>= 1;
		sn >>= 1;
	}
	for (; i < plen; i++) {
		const uint8_t *c = proof + i * VV_AUDIT_HASH_LEN;

		if (sn == 0)
			return vv_errf(VV_ERR_AUDIT_CONSISTENCY, "consistency: proof too long");
		if ((fn & 1) || fn == sn) {
			vv_audit_merkle_node_hash(c, fr, fr);
			vv_audit_merkle_node_hash(c, sr, sr);
			while (!(fn & 1) && fn != 0) {
				fn >>= 1;
				sn >>= 1;
			}
		} else {
			vv_audit_merkle_node_hash(sr, c, sr);
		}
		fn >>= 1;
		sn >>= 1;
	}
	if (sn != 0 || sodium_memcmp(fr, root1, VV_AUDIT_HASH_LEN) != 0 ||
	    sodium_memcmp(sr, root2, VV_AUDIT_HASH_LEN) != 0)
		return vv_errf(VV_ERR_AUDIT_CONSISTENCY, "consistency proof %llu -> %llu does not verify",
			       (unsigned long long)size1, (unsigned long long)size2);
	return 0;
}

void vv_audit_frontier_init(vv_audit_frontier *f)
{
	f->size = 0;
	f->n = 0;
}

void vv_audit_frontier_push(vv_audit_frontier *f, const uint8_t leaf_hash[VV_AUDIT_HASH_LEN],
			    uint8_t (*made)[VV_AUDIT_HASH_LEN])
{
	uint8_t h[VV_AUDIT_HASH_LEN];
	uint64_t s = f->size;
	unsigned level = 0;

	memcpy(h, leaf_hash, VV_AUDIT_HASH_LEN);
	/* each trailing one bit of the old size is a perfect subtree that the
	 * new leaf completes into one twice as large */
	while (s & 1) {
		f->n--;
		vv_audit_merkle_node_hash(f->h[f->n], h, h);
		s >>= 1;
		level++;
		if (made)
			memcpy(made[level], h, VV_AUDIT_HASH_LEN);
	}
	memcpy(f->h[f->n], h, VV_AUDIT_HASH_LEN);
	f->n++;
	f->size++;
}

void vv_audit_frontier_root(const vv_audit_frontier *f, uint8_t out[VV_AUDIT_HASH_LEN])
{
	uint8_t r[VV_AUDIT_HASH_LEN];

	if (f->n == 0) {
		vv_audit_sha256("", 0, NULL, 0, out);
		return;
	}
	memcpy(r, f->h[f->n - 1], VV_AUDIT_HASH_LEN);
	for (unsigned i = f->n - 1; i-- > 0;)
		vv_audit_merkle_node_hash(f->h[i], r, r);
	memcpy(out, r, VV_AUDIT_HASH_LEN);
}

int vv_audit_frontier_load(vv_audit_frontier *f, uint64_t size, const void *blob, size_t len)
{
	unsigned bits = (unsigned)__builtin_popcountll(size);

	if (len != (size_t)bits * VV_AUDIT_HASH_LEN)
		return vv_errf(VV_ERR_AUDIT_TAMPERED, "audit_state: frontier of %zu bytes for size %llu", len,
			       (unsigned long long)size);
	f->size = size;
	f->n = bits;
	if (len)
		memcpy(f->h, blob, len);
	return 0;
}
