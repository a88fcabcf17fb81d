/* Unit tests of src/audit: RFC 9162 / 6962 tree and proof vectors, C2SP
 * signed-note vectors, the canonical record encoding, the append-only
 * triggers, the shared transaction with the store, and the verifier. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <json-c/json.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "varvault/audit.h"
#include "varvault/core.h"
#include "varvault/store.h"
/* White box: the hash and MAC primitives against libsodium's. */
#include "../../src/audit/audit_int.h"

static void unhex(const char *h, uint8_t *out, size_t n)
{
	assert_int_equal(strlen(h), 2 * n);
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		assert_int_equal(sscanf(h + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
}

/* ---- RFC 6962 vectors (the Certificate Transparency reference leaves, as
 * published with transparency-dev/merkle's test data) ---- */

static const char *const leaf_hex[] = {"", "00", "10", "2021", "3031", "40414243", "5051525354555657",
				       "606162636465666768696a6b6c6d6e6f"};
static const char *const root_hex[] = {
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
	"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
	"aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
	"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
	"4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
	"76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
	"ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
	"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

static uint8_t leaves[8][32];
static uint8_t roots[9][32];

static void load_vectors(void)
{
	for (int i = 0; i < 8; i++) {
		uint8_t d[16];
		size_t n = strlen(leaf_hex[i]) / 2;

		unhex(leaf_hex[i], d, n);
		vv_audit_merkle_leaf_hash(d, n, leaves[i]);
	}
	for (int i = 0; i <= 8; i++)
		unhex(root_hex[i], roots[i], 32);
}

static void test_tree_roots(void **state)
{
	(void)state;
	load_vectors();
	for (size_t n = 0; n <= 8; n++) {
		uint8_t r[32];

		vv_audit_merkle_root((const uint8_t(*)[32])leaves, n, r);
		assert_memory_equal(r, roots[n], 32);
	}
}

struct proof_vec {
	uint64_t a, b;  /* inclusion: leaf index (0-based), size; consistency: size1, size2 */
	int n;
	const char *h[4];
};

static const struct proof_vec inclusion_vecs[] = {
	{0, 8, 3, {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
		   "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
		   "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
	{5, 8, 3, {"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
		   "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
		   "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
	{2, 3, 1, {"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"}},
	{1, 5, 3, {"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
		   "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
		   "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
	{0, 1, 0, {NULL}},
};

static const struct proof_vec consistency_vecs[] = {
	{1, 8, 3, {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
		   "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
		   "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
	{6, 8, 3, {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
		   "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
		   "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
	{2, 5, 2, {"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
		   "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
	{6, 7, 3, {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
		   "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
		   "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
	{1, 1, 0, {NULL}},
};

static void test_inclusion_vectors(void **state)
{
	(void)state;
	load_vectors();
	for (size_t v = 0; v < sizeof inclusion_vecs / sizeof inclusion_vecs[0]; v++) {
		const struct proof_vec *pv = &inclusion_vecs[v];
		uint8_t want[4][32], *proof = NULL;
		size_t plen;

		for (int i = 0; i < pv->n; i++)
			unhex(pv->h[i], want[i], 32);
		assert_int_equal(vv_audit_merkle_inclusion_proof((const uint8_t(*)[32])leaves, pv->b, pv->a, &proof, &plen), 0);
		assert_int_equal(plen, pv->n);
		if (plen)
			assert_memory_equal(proof, want, plen * 32);
		assert_int_equal(vv_audit_merkle_verify_inclusion(pv->a, pv->b, leaves[pv->a], (uint8_t *)want, pv->n,
							    roots[pv->b]), 0);
		/* corruptions: wrong index, size, leaf, root, a flipped bit,
		 * a missing or an extra hash */
		if (pv->a > 0)
			assert_int_equal(vv_audit_merkle_verify_inclusion(pv->a - 1, pv->b, leaves[pv->a], (uint8_t *)want,
								    pv->n, roots[pv->b]), VV_ERR_AUDIT_PROOF);
		assert_int_equal(vv_audit_merkle_verify_inclusion(pv->a + 1, pv->b, leaves[pv->a], (uint8_t *)want, pv->n,
							    roots[pv->b]), VV_ERR_AUDIT_PROOF);
		assert_int_equal(vv_audit_merkle_verify_inclusion(pv->a, pv->b * 2, leaves[pv->a], (uint8_t *)want, pv->n,
							    roots[pv->b]), VV_ERR_AUDIT_PROOF);
		assert_int_equal(vv_audit_merkle_verify_inclusion(pv->a, pv->b, roots[0], (uint8_t *)want, pv->n,
							    roots[pv->b]), VV_ERR_AUDIT_PROOF);
		assert_int_equal(vv_audit_merkle_verify_inclusion(pv->a, pv->b, leaves[pv->a], (uint8_t *)want, pv->n,
							    roots[0]), VV_ERR_AUDIT_PROOF);
		for (int i = 0; i < pv->n; i++) {
			want[i][0] ^= 8;
			assert_int_equal(vv_audit_merkle_verify_inclusion(pv->a, pv->b, leaves[pv->a], (uint8_t *)want,
								    pv->n, roots[pv->b]), VV_ERR_AUDIT_PROOF);
			want[i][0] ^= 8;
		}
		if (pv->n > 0)
			assert_int_equal(vv_audit_merkle_verify_inclusion(pv->a, pv->b, leaves[pv->a], (uint8_t *)want,
								    pv->n - 1, roots[pv->b]), VV_ERR_AUDIT_PROOF);
		if (pv->n < 4) {
			memcpy(want[pv->n], roots[pv->b], 32);
			assert_int_equal(vv_audit_merkle_verify_inclusion(pv->a, pv->b, leaves[pv->a], (uint8_t *)want,
								    pv->n + 1, roots[pv->b]), VV_ERR_AUDIT_PROOF);
		}
		free(proof);
	}
}

static void test_consistency_vectors(void **state)
{
	(void)state;
	load_vectors();
	for (size_t v = 0; v < sizeof consistency_vecs / sizeof consistency_vecs[0]; v++) {
		const struct proof_vec *pv = &consistency_vecs[v];
		uint8_t want[4][32], *proof = NULL;
		size_t plen;

		for (int i = 0; i < pv->n; i++)
			unhex(pv->h[i], want[i], 32);
		assert_int_equal(vv_audit_merkle_consistency_proof((const uint8_t(*)[32])leaves, pv->b, pv->a, &proof, &plen),
				 0);
		assert_int_equal(plen, pv->n);
		if (plen)
			assert_memory_equal(proof, want, plen * 32);
		free(proof);
		assert_int_equal(vv_audit_merkle_verify_consistency(pv->a, pv->b, roots[pv->a], roots[pv->b], (uint8_t *)want,
							      pv->n), 0);
		if (pv->n == 0)
			continue;
		/* corruptions: sizes, roots swapped, empty, flipped, truncated */
		assert_int_equal(vv_audit_merkle_verify_consistency(pv->a - 1, pv->b, roots[pv->a], roots[pv->b],
							      (uint8_t *)want, pv->n), VV_ERR_AUDIT_CONSISTENCY);
		assert_int_equal(vv_audit_merkle_verify_consistency(pv->a + 1, pv->b, roots[pv->a], roots[pv->b],
							      (uint8_t *)want, pv->n), VV_ERR_AUDIT_CONSISTENCY);
		assert_int_equal(vv_audit_merkle_verify_consistency(pv->a, pv->b * 2, roots[pv->a], roots[pv->b],
							      (uint8_t *)want, pv->n), VV_ERR_AUDIT_CONSISTENCY);
		assert_int_equal(vv_audit_merkle_verify_consistency(pv->a, pv->b, roots[pv->b], roots[pv->a],
							      (uint8_t *)want, pv->n), VV_ERR_AUDIT_CONSISTENCY);
		assert_int_equal(vv_audit_merkle_verify_consistency(pv->a, pv->b, roots[pv->a], roots[pv->b],
							      (uint8_t *)want, 0), VV_ERR_AUDIT_CONSISTENCY);
		assert_int_equal(vv_audit_merkle_verify_consistency(pv->a, pv->b, roots[pv->a], roots[pv->b],
							      (uint8_t *)want, pv->n - 1), VV_ERR_AUDIT_CONSISTENCY);
		for (int i = 0; i < pv->n; i++) {
			want[i][0] ^= 16;
			assert_int_equal(vv_audit_merkle_verify_consistency(pv->a, pv->b, roots[pv->a], roots[pv->b],
								      (uint8_t *)want, pv->n), VV_ERR_AUDIT_CONSISTENCY);
			want[i][0] ^= 16;
		}
	}
	/* the edge cases of RFC 9162 2.1.4.2 */
	assert_int_equal(vv_audit_merkle_verify_consistency(0, 5, roots[0], roots[5], NULL, 0), 0);
	assert_int_equal(vv_audit_merkle_verify_consistency(3, 3, roots[3], roots[3], NULL, 0), 0);
	assert_int_equal(vv_audit_merkle_verify_consistency(3, 3, roots[3], roots[4], NULL, 0), VV_ERR_AUDIT_CONSISTENCY);
	assert_int_equal(vv_audit_merkle_verify_consistency(4, 3, roots[4], roots[3], NULL, 0), VV_ERR_AUDIT_CONSISTENCY);
}

/* Every proof of every tree up to 70 leaves verifies, and the frontier's
 * root equals the recursive one at every size. */
static void test_proofs_exhaustive(void **state)
{
	enum { N = 70 };
	static uint8_t lv[N][32];
	uint8_t rootn[N + 1][32];
	char buf[16];

	(void)state;
	for (int i = 0; i < N; i++) {
		snprintf(buf, sizeof buf, "leaf %d", i);
		vv_audit_merkle_leaf_hash(buf, strlen(buf), lv[i]);
	}
	for (size_t n = 0; n <= N; n++)
		vv_audit_merkle_root((const uint8_t(*)[32])lv, n, rootn[n]);
	for (size_t n = 1; n <= N; n++) {
		for (size_t i = 0; i < n; i++) {
			uint8_t *p;
			size_t pl;

			assert_int_equal(vv_audit_merkle_inclusion_proof((const uint8_t(*)[32])lv, n, i, &p, &pl), 0);
			assert_int_equal(vv_audit_merkle_verify_inclusion(i, n, lv[i], p, pl, rootn[n]), 0);
			if (n > 1)
				assert_int_not_equal(vv_audit_merkle_verify_inclusion(i, n, lv[(i + 1) % n], p, pl, rootn[n]), 0);
			free(p);
		}
		for (size_t m = 1; m <= n; m++) {
			uint8_t *p;
			size_t pl;

			assert_int_equal(vv_audit_merkle_consistency_proof((const uint8_t(*)[32])lv, n, m, &p, &pl), 0);
			assert_int_equal(vv_audit_merkle_verify_consistency(m, n, rootn[m], rootn[n], p, pl), 0);
			if (m < n)
				assert_int_not_equal(vv_audit_merkle_verify_consistency(m, n, rootn[m - 1], rootn[n], p, pl), 0);
			free(p);
		}
	}
}

/* OpenSSL's SHA-256 and our HMAC agree with libsodium's at every length
 * around the block boundaries. */
static void test_hash_primitives(void **state)
{
	uint8_t buf[300], a[32], b[32], key[32];

	(void)state;
	for (size_t i = 0; i < sizeof buf; i++)
		buf[i] = (uint8_t)(i * 7 + 1);
	for (size_t n = 0; n < sizeof buf; n++) {
		crypto_hash_sha256(a, buf, n);
		vv_audit_sha256(buf, n / 3, buf + n / 3, n - n / 3, b);
		assert_memory_equal(a, b, 32);
	}
	for (int k = 0; k < 20; k++) {
		memcpy(key, buf + k, 32);
		crypto_auth_hmacsha256(a, buf + 100 + k, 32, key);
		vv_audit_hmac(key, buf + 100 + k, b);
		assert_memory_equal(a, b, 32);
	}
}

/* ---- Signed notes: the example of golang.org/x/mod/sumdb/note (which the
 * C2SP spec adopted) and the C2SP signed-note specification's example ---- */

static const char go_skey[] = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
static const char go_vkey[] = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
static const char go_text[] = "If you think cryptography is the answer to your problem,\n"
			      "then you don't know what your problem is.\n";
static const char go_note[] =
	"If you think cryptography is the answer to your problem,\n"
	"then you don't know what your problem is.\n"
	"\n"
	"\xe2\x80\x94 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
static const char spec_vkey[] = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
static const char spec_note[] =
	"This is an example message.\n"
	"\n"
	"\xe2\x80\x94 example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";

static void test_signed_note_vectors(void **state)
{
	char *out = NULL, *sk = NULL, *vk = NULL;
	size_t tl = 0;

	(void)state;
	/* Ed25519 is deterministic: signing the example text gives the
	 * example's bytes exactly */
	assert_int_equal(vv_audit_note_sign(go_skey, go_text, &out), 0);
	assert_string_equal(out, go_note);
	free(out);
	assert_int_equal(vv_audit_note_verify(go_vkey, go_note, &tl), 0);
	assert_int_equal(tl, strlen(go_text));
	assert_int_equal(vv_audit_note_verify(spec_vkey, spec_note, &tl), 0);
	assert_int_equal(tl, strlen("This is an example message.\n"));
	/* the other key's note has no signature by this key */
	assert_int_equal(vv_audit_note_verify(spec_vkey, go_note, NULL), VV_ERR_AUDIT_SIG);
	/* one byte of the text changed */
	{
		char bad[sizeof go_note];

		memcpy(bad, go_note, sizeof bad);
		bad[3] ^= 1;
		assert_int_equal(vv_audit_note_verify(go_vkey, bad, NULL), VV_ERR_AUDIT_SIG);
	}
	/* a verifier key whose hash does not match its key is refused */
	assert_int_equal(vv_audit_note_verify("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", go_note,
					NULL), VV_ERR_AUDIT_KEY);
	assert_int_equal(vv_audit_note_verify("PeterNeumann+c74f20a3+garbage", go_note, NULL), VV_ERR_AUDIT_KEY);
	/* no signature block */
	assert_int_equal(vv_audit_note_verify(go_vkey, go_text, NULL), VV_ERR_FORMAT);
	/* text must end in a newline */
	assert_int_equal(vv_audit_note_sign(go_skey, "no newline", &out), VV_ERR_INVAL);
	/* a fresh key pair signs and verifies; names with + or spaces refused */
	assert_int_equal(vv_audit_note_keygen("log.example/a", &sk, &vk), 0);
	assert_int_equal(vv_audit_note_sign(sk, "log.example/a\n7\nAAAA\n", &out), 0);
	assert_int_equal(vv_audit_note_verify(vk, out, NULL), 0);
	assert_int_equal(vv_audit_note_verify(go_vkey, out, NULL), VV_ERR_AUDIT_SIG);
	free(out);
	free(sk);
	free(vk);
	assert_int_equal(vv_audit_note_keygen("a+b", &sk, &vk), VV_ERR_INVAL);
	assert_int_equal(vv_audit_note_keygen("a b", &sk, &vk), VV_ERR_INVAL);
}

static void test_checkpoint_parse(void **state)
{
	char origin[VV_AUDIT_ORIGIN_MAX + 1];
	uint64_t size;
	uint8_t root[32], want[32];

	(void)state;
	/* the tlog-checkpoint example body (c2sp.org/tlog-checkpoint) */
	assert_int_equal(vv_audit_checkpoint_parse("example.com/behind-the-sofa\n20852163\n"
					     "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
					     origin, &size, root), 0);
	assert_string_equal(origin, "example.com/behind-the-sofa");
	assert_int_equal(size, 20852163);
	assert_int_equal(sodium_base642bin(want, 32, "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=", 44, NULL, NULL,
					   NULL, sodium_base64_VARIANT_ORIGINAL), 0);
	assert_memory_equal(root, want, 32);
	/* extension lines are allowed */
	assert_int_equal(vv_audit_checkpoint_parse("o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\next\n", NULL, &size,
					     root), 0);
	/* leading zero, missing root, short root, no size */
	assert_int_equal(vv_audit_checkpoint_parse("o\n01\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n", NULL, &size, root),
			 VV_ERR_FORMAT);
	assert_int_equal(vv_audit_checkpoint_parse("o\n1\n", NULL, &size, root), VV_ERR_FORMAT);
	assert_int_equal(vv_audit_checkpoint_parse("o\n1\nAAAA\n", NULL, &size, root), VV_ERR_FORMAT);
	assert_int_equal(vv_audit_checkpoint_parse("o\n\nAAAA\n", NULL, &size, root), VV_ERR_FORMAT);
	assert_int_equal(vv_audit_checkpoint_parse("o\n-1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n", NULL, &size, root),
			 VV_ERR_FORMAT);
}

/* ---- Records ---- */

static void test_record_canon(void **state)
{
	vv_audit_record r;
	char *leaf = NULL;
	size_t len;
	json_object *o = NULL, *v;

	(void)state;
	vv_audit_record_init(&r);
	r.time_us = 1796446800123456; /* 2026-12-05T05:00:00.123456Z */
	r.event = VV_AUDIT_EV_REQUEST;
	r.action = "submit";
	r.actor_subject = "CN=alice \"the\" \\lab";
	r.actor_role = "submitter";
	r.peer_uid = 1000;
	r.sample = "PSEUDO-1";
	r.outcome = VV_AUDIT_DENIED;
	r.reason = "role";
	assert_int_equal(vv_audit_record_canon(&r, 7, &leaf, &len), 0);
	assert_string_equal(leaf, "{\"seq\":7,\"time\":\"2026-12-05T05:00:00.123456Z\",\"event\":\"request\","
				  "\"action\":\"submit\",\"actor\":{\"subject\":\"CN=alice \\\"the\\\" \\\\lab\","
				  "\"role\":\"submitter\"},\"peer\":{\"uid\":1000},\"object\":{\"sample\":\"PSEUDO-1\"},"
				  "\"outcome\":\"denied\",\"reason\":\"role\"}");
	assert_int_equal(len, strlen(leaf));
	/* the JSON the daemon and the report share */
	assert_int_equal(vv_audit_record_to_json(leaf, len, &o), 0);
	assert_true(json_object_object_get_ex(o, "actor", &v));
	assert_true(json_object_object_get_ex(v, "subject", &v));
	assert_string_equal(json_object_get_string(v), "CN=alice \"the\" \\lab");
	assert_true(json_object_object_get_ex(o, "seq", &v));
	assert_int_equal(json_object_get_int64(v), 7);
	json_object_put(o);
	free(leaf);
	assert_int_equal(vv_audit_record_to_json("{\"a\":1} x", 9, &o), VV_ERR_FORMAT);
	assert_int_equal(vv_audit_record_to_json("[1]", 3, &o), VV_ERR_FORMAT);
	/* control characters, bad UTF-8 and missing fields are refused */
	r.reason = "line\nbreak";
	assert_int_equal(vv_audit_record_canon(&r, 7, &leaf, &len), VV_ERR_INVAL);
	r.reason = "\xff";
	assert_int_equal(vv_audit_record_canon(&r, 7, &leaf, &len), VV_ERR_INVAL);
	r.reason = "caf\xc3\xa9";
	assert_int_equal(vv_audit_record_canon(&r, 7, &leaf, &len), 0);
	free(leaf);
	r.action = NULL;
	assert_int_equal(vv_audit_record_canon(&r, 7, &leaf, &len), VV_ERR_INVAL);
}

/* ---- The log on a real database ---- */

static char dir[64];

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void write_file(const char *name, const char *text)
{
	char p[128];
	FILE *f;

	snprintf(p, sizeof p, "%s/%s", dir, name);
	assert_non_null(f = fopen(p, "w"));
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(p, 0600), 0);
}

static char vkey_str[256];
static const char k0_hex[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

static int setup(void **state)
{
	char *sk, *vk;

	(void)state;
	snprintf(dir, sizeof dir, "/tmp/vv-audit-XXXXXX");
	if (!mkdtemp(dir) || vv_core_init() || vv_audit_note_keygen("test.example/audit", &sk, &vk))
		return -1;
	write_file("audit.key", sk);
	write_file("k0", k0_hex);
	snprintf(vkey_str, sizeof vkey_str, "%s", vk);
	free(sk);
	free(vk);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static vv_audit *open_log(sqlite3 **db, const char *name, uint32_t every)
{
	char p[128], kp[128], k0p[128];
	vv_audit_opts o = {0};
	vv_audit *a = NULL;

	snprintf(p, sizeof p, "%s/%s", dir, name);
	snprintf(kp, sizeof kp, "%s/audit.key", dir);
	snprintf(k0p, sizeof k0p, "%s/k0", dir);
	assert_int_equal(sqlite3_open(p, db), SQLITE_OK);
	o.origin = "test.example/audit";
	o.signing_key_path = kp;
	o.k0_path = k0p;
	o.checkpoint_every = every;
	o.checkpoint_seconds = 3600;
	assert_int_equal(vv_audit_open(*db, &o, &a), 0);
	return a;
}

static void rec(vv_audit_record *r, int i)
{
	vv_audit_record_init(r);
	r->event = VV_AUDIT_EV_REQUEST;
	r->action = i % 2 ? "status" : "submit";
	r->actor_subject = "CN=bob";
	r->sample = "S-1";
}

static int verify_db(sqlite3 *db, const uint8_t *k0, vv_audit_verify_result *res)
{
	vv_audit_verify_opts o = {0};

	o.vkey = vkey_str;
	o.k0 = k0;
	return vv_audit_verify(db, &o, res);
}

static void test_log_append_and_verify(void **state)
{
	sqlite3 *db;
	vv_audit *a;
	vv_audit_record r;
	vv_audit_verify_result res;
	uint8_t k0[32], key[32], root[32];
	uint64_t seq, size;
	bool cp;
	int made = 0;
	char *note = NULL;

	(void)state;
	unhex(k0_hex, k0, 32);
	a = open_log(&db, "a.db", 5);
	for (int i = 0; i < 23; i++) {
		rec(&r, i);
		assert_int_equal(vv_audit_append_tx(a, db, &r, &seq, &cp), 0);
		assert_int_equal(seq, (uint64_t)i);
		made += cp;
		/* a checkpoint exactly every 5 records */
		assert_int_equal(cp, (i + 1) % 5 == 0);
	}
	assert_int_equal(made, 4);
	assert_int_equal(vv_audit_size(db, &size), 0);
	assert_int_equal(size, 23);
	/* append outside a transaction is refused: it could not share one */
	rec(&r, 0);
	assert_int_equal(vv_audit_append(a, db, &r, &seq, &cp), VV_ERR_INVAL);

	/* the stored key is k0 evolved 23 times: the old ones are gone */
	{
		sqlite3_stmt *st;

		memcpy(key, k0, 32);
		for (int i = 0; i < 23; i++) {
			uint8_t next[32];
			crypto_hash_sha256_state h;

			crypto_hash_sha256_init(&h);
			crypto_hash_sha256_update(&h, (const uint8_t *)"varvault audit key evolve", 25);
			crypto_hash_sha256_update(&h, key, 32);
			crypto_hash_sha256_final(&h, next);
			memcpy(key, next, 32);
		}
		assert_int_equal(sqlite3_prepare_v2(db, "SELECT mac_key FROM audit_state", -1, &st, NULL), SQLITE_OK);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		assert_memory_equal(sqlite3_column_blob(st, 0), key, 32);
		sqlite3_finalize(st);
	}

	/* a rolled-back action leaves no record and no key evolution */
	assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(vv_audit_append(a, db, &r, &seq, &cp), 0);
	assert_int_equal(seq, 23);
	assert_int_equal(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(vv_audit_append_tx(a, db, &r, &seq, &cp), 0);
	assert_int_equal(seq, 23);

	/* explicit checkpoint; a second one with nothing new is not made */
	assert_int_equal(vv_audit_checkpoint(a, db, &cp), 0);
	assert_true(cp);
	assert_int_equal(vv_audit_checkpoint(a, db, &cp), 0);
	assert_false(cp);
	assert_int_equal(vv_audit_latest_checkpoint(db, &note, &size), 0);
	assert_int_equal(size, 24);
	assert_int_equal(vv_audit_note_verify(vkey_str, note, NULL), 0);
	assert_int_equal(vv_audit_checkpoint_parse(note, NULL, &size, root), 0);
	free(note);

	/* proofs from the database verify against the signed roots */
	for (uint64_t s = 1; s <= 24; s += 7) {
		uint8_t *p;
		size_t pl, len;
		char *leaf;
		uint8_t lh[32];

		assert_int_equal(vv_audit_inclusion_proof(db, s - 1, 24, &p, &pl), 0);
		assert_int_equal(vv_audit_leaf(db, s - 1, &leaf, &len), 0);
		vv_audit_merkle_leaf_hash(leaf, len, lh);
		assert_int_equal(vv_audit_merkle_verify_inclusion(s - 1, 24, lh, p, pl, root), 0);
		free(p);
		free(leaf);
	}
	{
		char *n5;
		uint64_t s5;
		uint8_t r5[32], *p;
		size_t pl;

		assert_int_equal(vv_audit_checkpoint_at(db, 5, &n5), 0);
		assert_int_equal(vv_audit_checkpoint_parse(n5, NULL, &s5, r5), 0);
		assert_int_equal(vv_audit_consistency_proof(db, 5, 24, &p, &pl), 0);
		assert_int_equal(vv_audit_merkle_verify_consistency(5, 24, r5, root, p, pl), 0);
		free(p);
		free(n5);
		assert_int_equal(vv_audit_checkpoint_at(db, 6, &n5), VV_ERR_NOTFOUND);
	}

	/* the verifier agrees, and so does the record JSON */
	assert_int_equal(verify_db(db, k0, &res), 0);
	assert_int_equal(res.problem, VV_AUDIT_V_OK);
	assert_int_equal(res.records, 24);
	assert_int_equal(res.checkpoints_checked, 5);
	assert_memory_equal(res.root, root, 32);

	/* a wrong k0 fails at record 0 */
	k0[0] ^= 1;
	assert_int_equal(verify_db(db, k0, &res), 0);
	assert_int_equal(res.problem, VV_AUDIT_V_MAC);
	assert_int_equal(res.bad_seq, 0);

	/* the triggers refuse edits */
	assert_int_not_equal(sqlite3_exec(db, "UPDATE audit_records SET leaf = 'x' WHERE seq = 1", NULL, NULL, NULL),
			     SQLITE_OK);
	assert_non_null(strstr(sqlite3_errmsg(db), "append-only"));
	assert_int_not_equal(sqlite3_exec(db, "DELETE FROM audit_records WHERE seq = 1", NULL, NULL, NULL), SQLITE_OK);
	assert_int_not_equal(sqlite3_exec(db, "DELETE FROM audit_checkpoints", NULL, NULL, NULL), SQLITE_OK);
	assert_int_not_equal(sqlite3_exec(db, "UPDATE audit_checkpoints SET note = ''", NULL, NULL, NULL), SQLITE_OK);
	vv_audit_free(a);
	sqlite3_close(db);

	/* opening again keeps the log; another origin or key is refused */
	a = open_log(&db, "a.db", 5);
	rec(&r, 3);
	assert_int_equal(vv_audit_append_tx(a, db, &r, &seq, NULL), 0);
	assert_int_equal(seq, 24);
	vv_audit_free(a);
	{
		char kp[128];
		vv_audit_opts o = {0};

		snprintf(kp, sizeof kp, "%s/audit.key", dir);
		o.origin = "other.example/audit";
		o.signing_key_path = kp;
		assert_int_equal(vv_audit_open(db, &o, &a), VV_ERR_AUDIT_KEY);
	}
	sqlite3_close(db);
}

/* Proofs from the database (nodes of 256+ leaves from audit_nodes) equal
 * the ones computed from every leaf hash, with and without the nodes. */
static void test_db_proofs(void **state)
{
	enum { N = 700 };
	static uint8_t lh[N][32];
	static const uint64_t sizes[] = {1, 255, 256, 257, 511, 512, 513, 600, 700};
	sqlite3 *db;
	vv_audit *a;
	vv_audit_record r;
	int64_t nodes;

	(void)state;
	a = open_log(&db, "p.db", 100000);
	assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	for (int i = 0; i < N; i++) {
		rec(&r, i);
		assert_int_equal(vv_audit_append(a, db, &r, NULL, NULL), 0);
	}
	assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	for (int i = 0; i < N; i++) {
		char *leaf;
		size_t len;

		assert_int_equal(vv_audit_leaf(db, (uint64_t)i, &leaf, &len), 0);
		vv_audit_merkle_leaf_hash(leaf, len, lh[i]);
		free(leaf);
	}
	{
		sqlite3_stmt *st;

		assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM audit_nodes", -1, &st, NULL), SQLITE_OK);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		nodes = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
		/* level 8: 0..255, 256..511; level 9: 0..511 */
		assert_int_equal(nodes, 3);
	}
	for (int pass = 0; pass < 2; pass++) {
		for (size_t x = 0; x < sizeof sizes / sizeof sizes[0]; x++) {
			uint64_t n = sizes[x];

			for (uint64_t m = 0; m < n; m += n / 7 + 1) {
				uint8_t *p1, *p2;
				size_t l1, l2;

				assert_int_equal(vv_audit_inclusion_proof(db, m, n, &p1, &l1), 0);
				assert_int_equal(vv_audit_merkle_inclusion_proof((const uint8_t(*)[32])lh, n, m, &p2, &l2), 0);
				assert_int_equal(l1, l2);
				if (l1)
					assert_memory_equal(p1, p2, l1 * 32);
				free(p1);
				free(p2);
				if (m == 0)
					continue;
				assert_int_equal(vv_audit_consistency_proof(db, m, n, &p1, &l1), 0);
				assert_int_equal(vv_audit_merkle_consistency_proof((const uint8_t(*)[32])lh, n, m, &p2, &l2), 0);
				assert_int_equal(l1, l2);
				if (l1)
					assert_memory_equal(p1, p2, l1 * 32);
				free(p1);
				free(p2);
			}
		}
		/* the second pass: a log without the node cache (written
		 * before it existed) gives the same proofs from its leaves */
		if (pass == 0)
			assert_int_equal(sqlite3_exec(db, "DROP TRIGGER audit_nodes_no_delete; DELETE FROM audit_nodes",
						      NULL, NULL, NULL), SQLITE_OK);
	}
	{
		uint8_t *p1;
		size_t l1;

		assert_int_equal(vv_audit_inclusion_proof(db, 3, N + 1, &p1, &l1), VV_ERR_NOTFOUND);
		assert_int_equal(vv_audit_consistency_proof(db, 3, N + 1, &p1, &l1), VV_ERR_NOTFOUND);
	}
	vv_audit_free(a);
	sqlite3_close(db);
}

static void test_log_new_needs_k0(void **state)
{
	sqlite3 *db;
	vv_audit *a = NULL;
	vv_audit_opts o = {0};
	char p[128], kp[128], k0p[128];

	(void)state;
	snprintf(p, sizeof p, "%s/b.db", dir);
	snprintf(kp, sizeof kp, "%s/audit.key", dir);
	snprintf(k0p, sizeof k0p, "%s/k0", dir);
	assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
	o.origin = "test.example/audit";
	o.signing_key_path = kp;
	assert_int_equal(vv_audit_open(db, &o, &a), VV_ERR_AUDIT_KEY);
	/* a k0 file others can read is refused */
	assert_int_equal(chmod(k0p, 0644), 0);
	o.k0_path = k0p;
	assert_int_equal(vv_audit_open(db, &o, &a), VV_ERR_AUDIT_KEY);
	assert_int_equal(chmod(k0p, 0600), 0);
	assert_int_equal(vv_audit_open(db, &o, &a), 0);
	vv_audit_free(a);
	sqlite3_close(db);
}

/* The store's commit hook: the audit row shares the action's transaction,
 * and an audit failure fails the action. */
struct hookctx {
	vv_audit *a;
	int fail;
	int calls;
};

static int hook(struct sqlite3 *db, void *ctx, const char *op)
{
	struct hookctx *h = ctx;
	vv_audit_record r;

	h->calls++;
	if (h->fail)
		return vv_errf(VV_ERR_AUDIT, "audit refused (test)");
	vv_audit_record_init(&r);
	r.event = VV_AUDIT_EV_REQUEST;
	r.action = op;
	return vv_audit_append(h->a, db, &r, NULL, NULL);
}

struct openctx {
	vv_audit *a;
	const char *kp, *k0p;
};

static int open_in_store(struct sqlite3 *db, void *ctx)
{
	struct openctx *c = ctx;
	vv_audit_opts o = {0};

	o.origin = "test.example/audit";
	o.signing_key_path = c->kp;
	o.k0_path = c->k0p;
	return vv_audit_open(db, &o, &c->a);
}

static int size_of(struct sqlite3 *db, void *ctx)
{
	return vv_audit_size(db, ctx);
}

static void test_store_shared_transaction(void **state)
{
	char sd[128], kp[128], k0p[128];
	vv_store *s = NULL;
	struct openctx oc;
	struct hookctx hc = {0};
	uint8_t key[VV_KEY_LEN], master[VV_KEY_LEN] = {1};
	uint64_t size = 0;

	(void)state;
	snprintf(sd, sizeof sd, "%s/state", dir);
	snprintf(kp, sizeof kp, "%s/audit.key", dir);
	snprintf(k0p, sizeof k0p, "%s/k0", dir);
	assert_int_equal(mkdir(sd, 0700), 0);
	assert_int_equal(vv_store_open(sd, &s), 0);
	oc.kp = kp;
	oc.k0p = k0p;
	oc.a = NULL;
	assert_int_equal(vv_store_with_db(s, false, open_in_store, &oc, "audit open"), 0);
	hc.a = oc.a;
	vv_store_set_commit_hook(s, hook, &hc);
	assert_int_equal(vv_store_sample_key(s, master, "S-1", true, key), 0);
	assert_int_equal(hc.calls, 1);
	assert_int_equal(vv_store_with_db(s, false, size_of, &size, "size"), 0);
	assert_int_equal(size, 1);
	/* the audit write fails: the sample is not created */
	hc.fail = 1;
	assert_int_equal(vv_store_sample_key(s, master, "S-2", true, key), VV_ERR_AUDIT);
	hc.fail = 0;
	assert_int_equal(vv_store_sample_exists(s, "S-2"), 0);
	assert_int_equal(vv_store_with_db(s, false, size_of, &size, "size"), 0);
	assert_int_equal(size, 1);
	vv_store_set_commit_hook(s, NULL, NULL);
	vv_store_close(s);
	vv_audit_free(oc.a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hash_primitives),
		cmocka_unit_test(test_tree_roots),
		cmocka_unit_test(test_inclusion_vectors),
		cmocka_unit_test(test_consistency_vectors),
		cmocka_unit_test(test_proofs_exhaustive),
		cmocka_unit_test(test_signed_note_vectors),
		cmocka_unit_test(test_checkpoint_parse),
		cmocka_unit_test(test_record_canon),
		cmocka_unit_test(test_log_append_and_verify),
		cmocka_unit_test(test_db_proofs),
		cmocka_unit_test(test_log_new_needs_k0),
		cmocka_unit_test(test_store_shared_transaction),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
