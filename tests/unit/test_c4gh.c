/* Unit tests of src/c4gh: round trips, recipients, sender keys, edit lists,
 * every failure with its own error, the implementation-defined policies,
 * key files, and wiping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h> /* hand-made key files for the tests */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../src/c4gh/c4gh_int.h"
#include "varvault/c4gh.h"

#define SEG VV_C4GH_SEGMENT_LEN
#define SEGCT VV_C4GH_SEGMENT_CT_LEN
#define BIG (64u << 20)

static vv_c4gh_seckey *alice, *bob, *carol, *mallory;
static uint8_t alice_pk[32], bob_pk[32], carol_pk[32], mallory_pk[32];

#define expect_err(expr, want)                                                              \
	do {                                                                                \
		int rc_ = (expr);                                                           \
		if (rc_ != (want))                                                          \
			fail_msg("%s: got %d (%s: %s), want %s", #expr, rc_, vv_strerror(rc_), \
				 vv_err_detail(), vv_strerror(want));                       \
	} while (0)

#define expect_detail(text)                                                            \
	do {                                                                           \
		if (!strstr(vv_err_detail(), (text)))                                  \
			fail_msg("detail '%s' lacks '%s'", vv_err_detail(), (text));   \
	} while (0)

static int setup(void **state)
{
	(void)state;
	if (vv_core_init() != 0 || vv_c4gh_seckey_generate(&alice) || vv_c4gh_seckey_generate(&bob) ||
	    vv_c4gh_seckey_generate(&carol) || vv_c4gh_seckey_generate(&mallory))
		return -1;
	vv_c4gh_seckey_pubkey(alice, alice_pk);
	vv_c4gh_seckey_pubkey(bob, bob_pk);
	vv_c4gh_seckey_pubkey(carol, carol_pk);
	vv_c4gh_seckey_pubkey(mallory, mallory_pk);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	vv_c4gh_seckey_free(alice);
	vv_c4gh_seckey_free(bob);
	vv_c4gh_seckey_free(carol);
	vv_c4gh_seckey_free(mallory);
	return 0;
}

/* Deterministic test plaintext. */
static uint8_t *pattern(size_t n, uint32_t seed)
{
	uint8_t *p = malloc(n ? n : 1);
	uint32_t x = seed * 2654435761u + 1;

	assert_non_null(p);
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (uint8_t)x;
	}
	return p;
}

static int sbuf_sink(void *ctx, const uint8_t *p, size_t n)
{
	return vv_sbuf_append(ctx, p, n);
}

/* Encrypts plain in pieces of at most piece bytes into ct (replaced). */
static void encrypt_to(vv_sbuf *ct, const vv_c4gh_seckey *sender, const uint8_t *pks, size_t npk,
		       const uint64_t *edits, size_t nedits, const uint8_t *plain, size_t n,
		       size_t piece)
{
	vv_c4gh_encryptor *e;

	vv_sbuf_wipe(ct);
	expect_err(vv_c4gh_encryptor_new(sender, pks, npk, edits, nedits, &e), 0);
	for (size_t off = 0; off < n; off += piece)
		expect_err(vv_c4gh_encryptor_update(e, plain + off, n - off < piece ? n - off : piece,
						    sbuf_sink, ct), 0);
	expect_err(vv_c4gh_encryptor_final(e, sbuf_sink, ct), 0);
	vv_c4gh_encryptor_free(e);
}

/* Decrypts ct with the streaming API in pieces; returns the error. */
static int decrypt_pieces(const vv_sbuf *ct, const vv_c4gh_seckey *sk, size_t piece, vv_sbuf *out)
{
	vv_c4gh_header *h = NULL;
	vv_c4gh_decryptor *d = NULL;
	size_t off;
	int rc;

	vv_sbuf_wipe(out);
	if ((rc = vv_c4gh_header_parse(ct->data, ct->len, sk, NULL, &h)) != 0)
		return rc;
	rc = vv_c4gh_decryptor_from_header(h, &d);
	for (off = vv_c4gh_header_length(h); rc == 0 && off < ct->len; off += piece)
		rc = vv_c4gh_decryptor_update(d, ct->data + off, ct->len - off < piece ? ct->len - off : piece,
					      sbuf_sink, out);
	if (rc == 0)
		rc = vv_c4gh_decryptor_final(d, sbuf_sink, out);
	vv_c4gh_decryptor_free(d);
	vv_c4gh_header_free(h);
	return rc;
}

/* ---- round trips ---- */

static void test_round_trips(void **state)
{
	static const size_t sizes[] = {0, 1, 65535, 65536, 65537, 10u << 20};
	vv_sbuf ct, out;

	(void)state;
	vv_sbuf_init(&ct, BIG);
	vv_sbuf_init(&out, BIG);
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		size_t n = sizes[i], nseg = (n + SEG - 1) / SEG;
		uint8_t *plain = pattern(n, (uint32_t)i);

		encrypt_to(&ct, NULL, alice_pk, 1, NULL, 0, plain, n, 70000);
		/* 124-byte header; every segment 28 bytes longer; no empty last one. */
		assert_int_equal(ct.len, 124 + n + 28 * nseg);
		vv_sbuf_wipe(&out);
		expect_err(vv_c4gh_decrypt_mem(ct.data, ct.len, alice, NULL, &out), 0);
		assert_int_equal(out.len, n);
		if (n)
			assert_memory_equal(out.data, plain, n);
		/* The same through the streaming API, in awkward pieces. */
		expect_err(decrypt_pieces(&ct, alice, 4099, &out), 0);
		assert_int_equal(out.len, n);
		if (n)
			assert_memory_equal(out.data, plain, n);
		/* Encrypting in small pieces gives the same layout. */
		encrypt_to(&ct, bob, alice_pk, 1, NULL, 0, plain, n, 1000);
		assert_int_equal(ct.len, 124 + n + 28 * nseg);
		vv_sbuf_wipe(&out);
		expect_err(vv_c4gh_decrypt_mem(ct.data, ct.len, alice, bob_pk, &out), 0);
		assert_int_equal(out.len, n);
		free(plain);
	}
	vv_sbuf_done(&ct);
	vv_sbuf_done(&out);
}

static void test_recipients(void **state)
{
	uint8_t pks[4 * 32];
	uint8_t *plain = pattern(150000, 7);
	vv_c4gh_header *h;
	vv_sbuf ct, out;

	(void)state;
	vv_sbuf_init(&ct, BIG);
	vv_sbuf_init(&out, BIG);
	memcpy(pks, alice_pk, 32);
	memcpy(pks + 32, bob_pk, 32);
	memcpy(pks + 64, carol_pk, 32);
	memcpy(pks + 96, bob_pk, 32); /* a duplicate: merged */
	encrypt_to(&ct, NULL, pks, 4, NULL, 0, plain, 150000, 65536);
	assert_int_equal(c4gh_le32(ct.data + 12), 3);
	const vv_c4gh_seckey *readers[] = {alice, bob, carol};
	for (int i = 0; i < 3; i++) {
		vv_sbuf_wipe(&out);
		expect_err(vv_c4gh_decrypt_mem(ct.data, ct.len, readers[i], NULL, &out), 0);
		assert_int_equal(out.len, 150000);
		assert_memory_equal(out.data, plain, 150000);
	}
	expect_err(vv_c4gh_header_parse(ct.data, ct.len, mallory, NULL, &h), VV_ERR_C4GH_NOKEY);
	assert_null(h);
	expect_detail("none of the 3 header packets");
	free(plain);
	vv_sbuf_done(&ct);
	vv_sbuf_done(&out);
}

static void test_sender_key(void **state)
{
	uint8_t *plain = pattern(1000, 3);
	vv_sbuf ct, out;

	(void)state;
	vv_sbuf_init(&ct, BIG);
	vv_sbuf_init(&out, BIG);
	encrypt_to(&ct, carol, alice_pk, 1, NULL, 0, plain, 1000, 1000);
	assert_memory_equal(ct.data + 24, carol_pk, 32); /* the writer key, in clear */
	expect_err(vv_c4gh_decrypt_mem(ct.data, ct.len, alice, carol_pk, &out), 0);
	assert_int_equal(out.len, 1000);
	expect_err(vv_c4gh_decrypt_mem(ct.data, ct.len, alice, mallory_pk, &out), VV_ERR_C4GH_WRITER);
	assert_int_equal(out.len, 0);
	free(plain);
	vv_sbuf_done(&ct);
	vv_sbuf_done(&out);
}

/* Applies an edit list the plain way, for comparison. */
static size_t apply_edits(const uint8_t *in, size_t n, const uint64_t *e, size_t ne, uint8_t *out)
{
	size_t at = 0, o = 0;

	for (size_t i = 0; i < ne; i++) {
		size_t len = e[i] > n - at ? n - at : (size_t)e[i];
		if (i % 2) {
			memcpy(out + o, in + at, len);
			o += len;
		}
		at += len;
	}
	if (ne % 2) {
		memcpy(out + o, in + at, n - at);
		o += n - at;
	}
	return o;
}

static void test_edit_lists(void **state)
{
	static const uint64_t lists[][6] = {
		{100, 5000, 70000, 60000, 1000},  /* odd: the tail after the last skip is kept */
		{0, 7853, 140000, 2000},          /* even: stops; segment 1 wholly skipped */
		{65536, 1},                       /* one byte at a segment boundary */
		{0, 0, 10, 0, 5, 3},              /* zero-length entries */
		{149990},                         /* one skip: keep the last 10 bytes */
		{10, 1000000},                    /* a keep past the end: what there is */
	};
	static const size_t counts[] = {5, 4, 2, 6, 1, 2};
	const size_t n = 150000;
	uint8_t *plain = pattern(n, 11), *want = malloc(n);
	vv_c4gh_header *h;
	vv_sbuf ct, out;
	size_t ne;

	(void)state;
	assert_non_null(want);
	vv_sbuf_init(&ct, BIG);
	vv_sbuf_init(&out, BIG);
	for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
		size_t wn = apply_edits(plain, n, lists[i], counts[i], want);
		encrypt_to(&ct, NULL, alice_pk, 1, lists[i], counts[i], plain, n, 30000);
		expect_err(vv_c4gh_header_parse(ct.data, ct.len, alice, NULL, &h), 0);
		const uint64_t *got = vv_c4gh_header_editlist(h, &ne);
		assert_int_equal(ne, counts[i]);
		assert_memory_equal(got, lists[i], ne * sizeof *got);
		vv_c4gh_header_free(h);
		expect_err(decrypt_pieces(&ct, alice, 777, &out), 0);
		assert_int_equal(out.len, wn);
		if (wn)
			assert_memory_equal(out.data, want, wn);
	}
	free(plain);
	free(want);
	vv_sbuf_done(&ct);
	vv_sbuf_done(&out);
}

/* ---- hand-made files ---- */

/* A data-key (type 0) payload with the given data method. */
static size_t key_payload(uint8_t *p, uint32_t type, uint32_t method, const uint8_t *key)
{
	c4gh_put_le32(p, type);
	c4gh_put_le32(p + 4, method);
	memcpy(p + 8, key, 32);
	return 40;
}

static size_t edit_payload(uint8_t *p, uint32_t count, const uint64_t *e)
{
	c4gh_put_le32(p, C4GH_PACKET_EDIT_LIST);
	c4gh_put_le32(p + 4, count);
	for (uint32_t i = 0; i < count; i++)
		c4gh_put_le64(p + 8 + 8 * i, e[i]);
	return 8 + 8 * (size_t)count;
}

static void preamble(vv_sbuf *f, uint32_t count)
{
	uint8_t p[16];

	memcpy(p, "crypt4gh", 8);
	c4gh_put_le32(p + 8, 1);
	c4gh_put_le32(p + 12, count);
	vv_sbuf_wipe(f);
	assert_int_equal(vv_sbuf_append(f, p, 16), 0);
}

static void segments(vv_sbuf *f, const uint8_t *key, const uint8_t *plain, size_t n)
{
	for (size_t off = 0; off < n; off += SEG)
		assert_int_equal(vv_c4gh_segment_seal(key, plain + off, n - off < SEG ? n - off : SEG, f), 0);
}

static void test_failures_each_distinct(void **state)
{
	const size_t n = 3 * SEG + 500;
	uint8_t *plain = pattern(n, 5), pay[64], key[32], other[32];
	vv_c4gh_header *h = (void *)1;
	vv_sbuf ct, f, out;
	const uint64_t el[2] = {1, 2};

	(void)state;
	vv_sbuf_init(&ct, BIG);
	vv_sbuf_init(&f, BIG);
	vv_sbuf_init(&out, BIG);
	memset(key, 0x42, 32);
	memset(other, 0x43, 32);
	encrypt_to(&ct, NULL, alice_pk, 1, NULL, 0, plain, n, n);

	/* wrong key */
	expect_err(vv_c4gh_decrypt_mem(ct.data, ct.len, bob, NULL, &out), VV_ERR_C4GH_NOKEY);
	/* header: magic, version, a changed byte in the sealed packet, truncated */
	assert_int_equal(vv_sbuf_append(&f, ct.data, ct.len), 0);
	f.data[3] ^= 1;
	expect_err(vv_c4gh_decrypt_mem(f.data, f.len, alice, NULL, &out), VV_ERR_C4GH_MAGIC);
	f.data[3] ^= 1;
	f.data[8] = 2;
	expect_err(vv_c4gh_decrypt_mem(f.data, f.len, alice, NULL, &out), VV_ERR_C4GH_VERSION);
	expect_detail("version 2");
	f.data[8] = 1;
	f.data[100] ^= 0x80;
	expect_err(vv_c4gh_header_parse(f.data, f.len, alice, NULL, &h), VV_ERR_C4GH_NOKEY);
	assert_null(h);
	f.data[100] ^= 0x80;
	expect_err(vv_c4gh_header_parse(f.data, 123, alice, NULL, &h), VV_ERR_C4GH_HEADER);
	expect_detail("header truncated");
	/* unknown packet method (in clear): skipped, and then nothing is left */
	f.data[20] = 1;
	expect_err(vv_c4gh_header_parse(f.data, f.len, alice, NULL, &h), VV_ERR_C4GH_METHOD);
	expect_detail("packet 1: method 1");
	f.data[20] = 0;
	/* a changed byte in a full data segment, in the last one; truncations */
	f.data[124 + SEGCT + 40] ^= 1;
	expect_err(vv_c4gh_decrypt_mem(f.data, f.len, alice, NULL, &out), VV_ERR_C4GH_SEGMENT);
	expect_detail("segment 1 (offset 65688): authentication failed");
	assert_int_equal(out.len, 0);
	f.data[124 + SEGCT + 40] ^= 1;
	f.data[f.len - 1] ^= 1;
	expect_err(vv_c4gh_decrypt_mem(f.data, f.len, alice, NULL, &out), VV_ERR_C4GH_TRUNCATED);
	f.data[f.len - 1] ^= 1;
	expect_err(vv_c4gh_decrypt_mem(f.data, f.len - 100, alice, NULL, &out), VV_ERR_C4GH_TRUNCATED);
	expect_err(vv_c4gh_decrypt_mem(f.data, 124 + 3 * SEGCT + 20, alice, NULL, &out),
		   VV_ERR_C4GH_TRUNCATED);
	expect_detail("ends 20 bytes into it");
	/* ...but a cut at a segment boundary cannot be seen (SECURITY.md) */
	expect_err(vv_c4gh_decrypt_mem(f.data, 124 + 2 * SEGCT, alice, NULL, &out), 0);
	assert_int_equal(out.len, 2 * SEG);
	vv_sbuf_wipe(&out);

	/* unknown data method, unknown packet type, second edit list */
	preamble(&f, 1);
	assert_int_equal(vv_c4gh_packet_seal(bob, alice_pk, pay, key_payload(pay, 0, 1, key), 0, &f), 0);
	expect_err(vv_c4gh_header_parse(f.data, f.len, alice, NULL, &h), VV_ERR_C4GH_METHOD);
	expect_detail("data encryption method 1");
	preamble(&f, 1);
	assert_int_equal(vv_c4gh_packet_seal(bob, alice_pk, pay, key_payload(pay, 7, 0, key), 0, &f), 0);
	expect_err(vv_c4gh_header_parse(f.data, f.len, alice, NULL, &h), VV_ERR_C4GH_METHOD);
	expect_detail("packet type 7");
	preamble(&f, 3);
	assert_int_equal(vv_c4gh_packet_seal(bob, alice_pk, pay, key_payload(pay, 0, 0, key), 0, &f), 0);
	assert_int_equal(vv_c4gh_packet_seal(bob, alice_pk, pay, edit_payload(pay, 2, el), 0, &f), 0);
	assert_int_equal(vv_c4gh_packet_seal(bob, alice_pk, pay, edit_payload(pay, 2, el), 0, &f), 0);
	expect_err(vv_c4gh_header_parse(f.data, f.len, alice, NULL, &h), VV_ERR_C4GH_EDITLIST);
	expect_detail("header packet 3: a second edit list (the first is in packet 2)");
	/* an edit list that claims more lengths than its packet holds */
	preamble(&f, 2);
	assert_int_equal(vv_c4gh_packet_seal(bob, alice_pk, pay, key_payload(pay, 0, 0, key), 0, &f), 0);
	edit_payload(pay, 2, el);
	c4gh_put_le32(pay + 4, 3);
	assert_int_equal(vv_c4gh_packet_seal(bob, alice_pk, pay, 24, 0, &f), 0);
	expect_err(vv_c4gh_header_parse(f.data, f.len, alice, NULL, &h), VV_ERR_C4GH_EDITLIST);
	/* a data key packet too short to hold a key */
	preamble(&f, 1);
	key_payload(pay, 0, 0, key);
	assert_int_equal(vv_c4gh_packet_seal(bob, alice_pk, pay, 39, 0, &f), 0);
	expect_err(vv_c4gh_header_parse(f.data, f.len, alice, NULL, &h), VV_ERR_C4GH_HEADER);
	/* a header with no packets; an edit list but no key */
	preamble(&f, 0);
	expect_err(vv_c4gh_header_parse(f.data, f.len, alice, NULL, &h), VV_ERR_C4GH_NOKEY);
	expect_detail("no packets");
	preamble(&f, 1);
	assert_int_equal(vv_c4gh_packet_seal(bob, alice_pk, pay, edit_payload(pay, 2, el), 0, &f), 0);
	expect_err(vv_c4gh_header_parse(f.data, f.len, alice, NULL, &h), VV_ERR_C4GH_NOKEY);
	expect_detail("hold no data key");
	/* a segment under a key that no packet gave */
	preamble(&f, 1);
	assert_int_equal(vv_c4gh_packet_seal(bob, alice_pk, pay, key_payload(pay, 0, 0, key), 0, &f), 0);
	segments(&f, other, plain, SEG);
	expect_err(vv_c4gh_decrypt_mem(f.data, f.len, alice, NULL, &out), VV_ERR_C4GH_SEGMENT);
	assert_null(h);
	free(plain);
	vv_sbuf_done(&ct);
	vv_sbuf_done(&f);
	vv_sbuf_done(&out);
}

static void test_header_limits(void **state)
{
	uint8_t buf[16 + 8];
	size_t need;

	(void)state;
	memcpy(buf, "crypt4gh", 8);
	c4gh_put_le32(buf + 8, 1);
	c4gh_put_le32(buf + 12, 2);
	/* Each call tells how many bytes it needs next. */
	expect_err(vv_c4gh_header_span(buf, 3, &need), 1);
	assert_int_equal(need, 16);
	expect_err(vv_c4gh_header_span(buf, 16, &need), 1);
	assert_int_equal(need, 20);
	c4gh_put_le32(buf + 16, 108);
	expect_err(vv_c4gh_header_span(buf, 20, &need), 1);
	assert_int_equal(need, 16 + 108 + 4);
	c4gh_put_le32(buf + 16, 67);
	expect_err(vv_c4gh_header_span(buf, 20, &need), VV_ERR_C4GH_HEADER);
	c4gh_put_le32(buf + 16, VV_C4GH_MAX_PACKET_LEN + 1);
	expect_err(vv_c4gh_header_span(buf, 20, &need), VV_ERR_C4GH_HEADER);
	c4gh_put_le32(buf + 12, VV_C4GH_MAX_PACKETS + 1);
	expect_err(vv_c4gh_header_span(buf, 16, &need), VV_ERR_C4GH_HEADER);
	c4gh_put_le32(buf + 12, 0);
	expect_err(vv_c4gh_header_span(buf, 16, &need), 0);
	assert_int_equal(need, 16);
	memcpy(buf, "crypt4gH", 8);
	expect_err(vv_c4gh_header_span(buf, 16, &need), VV_ERR_C4GH_MAGIC);
	expect_err(vv_c4gh_header_span(buf, 7, &need), 1);
	/* Sixteen packets of the largest size pass the header limit. */
	memcpy(buf, "crypt4gh", 8);
	c4gh_put_le32(buf + 12, 17);
	c4gh_put_le32(buf + 16, VV_C4GH_MAX_PACKET_LEN);
	uint8_t *big = calloc(1, 17u * VV_C4GH_MAX_PACKET_LEN + 16);
	assert_non_null(big);
	memcpy(big, buf, 16);
	for (size_t i = 0; i < 17; i++)
		c4gh_put_le32(big + 16 + i * VV_C4GH_MAX_PACKET_LEN, VV_C4GH_MAX_PACKET_LEN);
	expect_err(vv_c4gh_header_span(big, 17u * VV_C4GH_MAX_PACKET_LEN + 16, &need),
		   VV_ERR_C4GH_HEADER);
	expect_detail("header longer than");
	free(big);
}

/* The header is read from a pipe without reading past it. */
static void test_header_read_fd(void **state)
{
	uint8_t *plain = pattern(100000, 9);
	vv_c4gh_header *h;
	vv_sbuf ct, out;
	int p[2];

	(void)state;
	vv_sbuf_init(&ct, BIG);
	vv_sbuf_init(&out, BIG);
	encrypt_to(&ct, NULL, alice_pk, 1, NULL, 0, plain, 100000, 100000);
	/* The header and the first segment's nonce: fits in the pipe. */
	assert_int_equal(pipe(p), 0);
	assert_int_equal(vv_write_all(p[1], ct.data, 124 + 12), 0);
	close(p[1]);
	expect_err(vv_c4gh_header_read(p[0], alice, NULL, &h), 0);
	assert_int_equal(vv_c4gh_header_length(h), 124);
	assert_int_equal(vv_c4gh_header_nkeys(h), 1);
	uint8_t first[12];
	assert_int_equal(read(p[0], first, 12), 12);
	assert_memory_equal(first, ct.data + 124, 12); /* the first segment's nonce */
	vv_c4gh_header_free(h);
	close(p[0]);
	/* A stream that ends inside the header. */
	assert_int_equal(pipe(p), 0);
	assert_int_equal(vv_write_all(p[1], ct.data, 60), 0);
	close(p[1]);
	expect_err(vv_c4gh_header_read(p[0], alice, NULL, &h), VV_ERR_C4GH_HEADER);
	assert_null(h);
	close(p[0]);
	/* The whole stream through vv_c4gh_decrypt_fd. */
	assert_int_equal(pipe(p), 0);
	if (fork() == 0) {
		close(p[0]);
		_exit(vv_write_all(p[1], ct.data, ct.len) == 0 ? 0 : 1);
	}
	close(p[1]);
	expect_err(vv_c4gh_decrypt_fd(p[0], alice, NULL, sbuf_sink, &out), 0);
	assert_int_equal(out.len, 100000);
	assert_memory_equal(out.data, plain, 100000);
	close(p[0]);
	free(plain);
	vv_sbuf_done(&ct);
	vv_sbuf_done(&out);
}

/* The four cases the specification leaves open (docs/c4gh.md). */
static void test_policies(void **state)
{
	uint8_t *plain = pattern(3 * SEG, 13), pay[64], key[32], key2[32];
	const uint64_t skip_seg1[4] = {0, 7853, 140000, 2000};
	vv_c4gh_header *h;
	vv_sbuf f, out;

	(void)state;
	vv_sbuf_init(&f, BIG);
	vv_sbuf_init(&out, BIG);
	memset(key, 0x11, 32);
	memset(key2, 0x22, 32);
	/* 1. an authentic empty final segment: refused */
	preamble(&f, 1);
	assert_int_equal(vv_c4gh_packet_seal(bob, alice_pk, pay, key_payload(pay, 0, 0, key), 0, &f), 0);
	segments(&f, key, plain, SEG);
	assert_int_equal(vv_c4gh_segment_seal(key, plain, 0, &f), 0);
	expect_err(vv_c4gh_decrypt_mem(f.data, f.len, alice, NULL, &out), VV_ERR_UNSUPPORTED);
	expect_detail("empty final segment");
	assert_int_equal(out.len, 0);
	/* 2. a corrupted segment the edit list skips entirely: still fails */
	preamble(&f, 2);
	assert_int_equal(vv_c4gh_packet_seal(bob, alice_pk, pay, key_payload(pay, 0, 0, key), 0, &f), 0);
	assert_int_equal(vv_c4gh_packet_seal(bob, alice_pk, pay, edit_payload(pay, 4, skip_seg1), 0, &f), 0);
	size_t hdr = f.len;
	segments(&f, key, plain, 150000 < 3 * SEG ? 150000 : 3 * SEG);
	expect_err(vv_c4gh_decrypt_mem(f.data, f.len, alice, NULL, &out), 0);
	assert_int_equal(out.len, 7853 + 2000);
	vv_sbuf_wipe(&out);
	f.data[hdr + SEGCT + 100] ^= 1;
	expect_err(vv_c4gh_decrypt_mem(f.data, f.len, alice, NULL, &out), VV_ERR_C4GH_SEGMENT);
	expect_detail("segment 1");
	/* 3. an empty edit list: refused */
	preamble(&f, 2);
	assert_int_equal(vv_c4gh_packet_seal(bob, alice_pk, pay, key_payload(pay, 0, 0, key), 0, &f), 0);
	assert_int_equal(vv_c4gh_packet_seal(bob, alice_pk, pay, edit_payload(pay, 0, NULL), 0, &f), 0);
	expect_err(vv_c4gh_header_parse(f.data, f.len, alice, NULL, &h), VV_ERR_C4GH_EDITLIST);
	expect_detail("empty edit list");
	/* 4. a padded data-key packet: the first 32 bytes are the key */
	preamble(&f, 1);
	assert_int_equal(vv_c4gh_packet_seal(bob, alice_pk, pay, key_payload(pay, 0, 0, key), 16, &f), 0);
	segments(&f, key, plain, 1000);
	expect_err(vv_c4gh_decrypt_mem(f.data, f.len, alice, NULL, &out), 0);
	assert_int_equal(out.len, 1000);
	assert_memory_equal(out.data, plain, 1000);
	vv_sbuf_wipe(&out);
	/* and: several data keys, segments alternating between them */
	preamble(&f, 3);
	assert_int_equal(vv_c4gh_packet_seal(bob, alice_pk, pay, key_payload(pay, 0, 0, key), 0, &f), 0);
	assert_int_equal(vv_c4gh_packet_seal(bob, alice_pk, pay, key_payload(pay, 0, 0, key2), 0, &f), 0);
	assert_int_equal(vv_c4gh_packet_seal(bob, alice_pk, pay, key_payload(pay, 0, 0, key2), 0, &f), 0);
	assert_int_equal(vv_c4gh_segment_seal(key, plain, SEG, &f), 0);
	assert_int_equal(vv_c4gh_segment_seal(key2, plain + SEG, SEG, &f), 0);
	assert_int_equal(vv_c4gh_segment_seal(key, plain + 2 * SEG, 5, &f), 0);
	expect_err(vv_c4gh_header_parse(f.data, f.len, alice, NULL, &h), 0);
	assert_int_equal(vv_c4gh_header_nkeys(h), 2); /* the repeated key once */
	vv_c4gh_header_free(h);
	expect_err(vv_c4gh_decrypt_mem(f.data, f.len, alice, NULL, &out), 0);
	assert_int_equal(out.len, 2 * SEG + 5);
	assert_memory_equal(out.data, plain, 2 * SEG + 5);
	free(plain);
	vv_sbuf_done(&f);
	vv_sbuf_done(&out);
}

/* Packets added to a genuine file by a second key are refused (docs/c4gh.md). */
static void test_one_writer(void **state)
{
	const size_t n = 2 * SEG + 300;
	uint8_t *plain = pattern(n, 23), pay[64], key[32];
	const uint64_t hide[3] = {1000, 50, 100000}; /* keeps 50 bytes, hides the rest */
	vv_c4gh_header *h = NULL;
	vv_sbuf ct, f, out;
	size_t plen;

	(void)state;
	vv_sbuf_init(&ct, BIG);
	vv_sbuf_init(&f, BIG);
	vv_sbuf_init(&out, BIG);
	memset(key, 0x5a, 32);
	/* A genuine file from carol: one packet, then the segments. */
	encrypt_to(&ct, carol, alice_pk, 1, NULL, 0, plain, n, n);
	plen = c4gh_le32(ct.data + 16);
	/* mallory, who has alice's public key and can change the file, adds an
	 * edit list packet; every segment still authenticates. */
	preamble(&f, 2);
	assert_int_equal(vv_sbuf_append(&f, ct.data + 16, plen), 0);
	assert_int_equal(vv_c4gh_packet_seal(mallory, alice_pk, pay, edit_payload(pay, 3, hide), 0, &f), 0);
	assert_int_equal(vv_sbuf_append(&f, ct.data + 16 + plen, ct.len - 16 - plen), 0);
	expect_err(vv_c4gh_header_parse(f.data, f.len, alice, NULL, &h), VV_ERR_C4GH_HEADER);
	expect_detail("header packet 2 was written by another key than packet 1");
	assert_null(h);
	expect_err(vv_c4gh_decrypt_mem(f.data, f.len, alice, NULL, &out), VV_ERR_C4GH_HEADER);
	assert_int_equal(out.len, 0);
	/* With the writer required, mallory's packet is skipped, not opened. */
	expect_err(vv_c4gh_decrypt_mem(f.data, f.len, alice, carol_pk, &out), 0);
	assert_int_equal(out.len, n);
	assert_memory_equal(out.data, plain, n);
	/* The same for an added data key (segments of mallory's own spliced in). */
	preamble(&f, 2);
	assert_int_equal(vv_c4gh_packet_seal(mallory, alice_pk, pay, key_payload(pay, 0, 0, key), 0, &f), 0);
	assert_int_equal(vv_sbuf_append(&f, ct.data + 16, ct.len - 16), 0);
	expect_err(vv_c4gh_header_parse(f.data, f.len, alice, NULL, &h), VV_ERR_C4GH_HEADER);
	expect_detail("header packet 2 was written by another key than packet 1");
	/* Packets for other readers may come from any writer: they are not opened. */
	vv_sbuf_wipe(&out);
	preamble(&f, 3);
	assert_int_equal(vv_c4gh_packet_seal(mallory, bob_pk, pay, key_payload(pay, 0, 0, key), 0, &f), 0);
	assert_int_equal(vv_sbuf_append(&f, ct.data + 16, plen), 0);
	assert_int_equal(vv_c4gh_packet_seal(bob, mallory_pk, pay, edit_payload(pay, 3, hide), 0, &f), 0);
	assert_int_equal(vv_sbuf_append(&f, ct.data + 16 + plen, ct.len - 16 - plen), 0);
	expect_err(vv_c4gh_decrypt_mem(f.data, f.len, alice, NULL, &out), 0);
	assert_int_equal(out.len, n);
	/* One writer, several packets (a data key and an edit list): fine. */
	encrypt_to(&ct, carol, alice_pk, 1, hide, 3, plain, n, n);
	vv_sbuf_wipe(&out);
	expect_err(vv_c4gh_decrypt_mem(ct.data, ct.len, alice, NULL, &out), 0);
	assert_int_equal(out.len, 50 + n - 101050);
	free(plain);
	vv_sbuf_done(&ct);
	vv_sbuf_done(&f);
	vv_sbuf_done(&out);
}

/* ---- wiping ---- */

struct capture {
	const uint8_t *p; /* the decryptor's plaintext buffer, seen by the sink */
	size_t n;
	int calls;
};

static int capture_sink(void *ctx, const uint8_t *p, size_t n)
{
	struct capture *c = ctx;

	if (c->calls++ == 0) {
		c->p = p;
		c->n = n;
	}
	return 0;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static int failing_sink(void *ctx, const uint8_t *p, size_t n)
{
	(void)ctx;
	(void)p;
	(void)n;
	return vv_errf(VV_ERR_IO, "the consumer failed");
}

static void test_wiping(void **state)
{
	uint8_t *plain = pattern(2 * SEG + 10, 17);
	struct capture cap = {0};
	vv_c4gh_header *h;
	vv_c4gh_decryptor *d;
	vv_sbuf ct, out;

	(void)state;
	vv_sbuf_init(&ct, BIG);
	vv_sbuf_init(&out, BIG);
	encrypt_to(&ct, NULL, alice_pk, 1, NULL, 0, plain, 2 * SEG + 10, SEG);
	ct.data[124 + SEGCT + 50] ^= 1; /* segment 1 altered */
	/* The decryptor wipes the plaintext it holds when a later segment fails. */
	expect_err(vv_c4gh_header_parse(ct.data, ct.len, alice, NULL, &h), 0);
	expect_err(vv_c4gh_decryptor_from_header(h, &d), 0);
	expect_err(vv_c4gh_decryptor_update(d, ct.data + 124, SEGCT, capture_sink, &cap), 0);
	assert_int_equal(cap.n, SEG);
	assert_false(all_zero(cap.p, cap.n)); /* segment 0's plaintext is there... */
	expect_err(vv_c4gh_decryptor_update(d, ct.data + 124 + SEGCT, SEGCT, capture_sink, &cap),
		   VV_ERR_C4GH_SEGMENT);
	assert_true(all_zero(cap.p, SEG)); /* ...and gone once segment 1 failed */
	/* A failed decryptor keeps failing. */
	expect_err(vv_c4gh_decryptor_update(d, ct.data + 124, SEGCT, capture_sink, &cap),
		   VV_ERR_C4GH_SEGMENT);
	expect_err(vv_c4gh_decryptor_final(d, capture_sink, &cap), VV_ERR_C4GH_SEGMENT);
	assert_int_equal(cap.calls, 1);
	vv_c4gh_decryptor_free(d);
	/* A failing consumer stops the stream and the plaintext is wiped too. */
	ct.data[124 + SEGCT + 50] ^= 1;
	expect_err(vv_c4gh_decryptor_from_header(h, &d), 0);
	expect_err(vv_c4gh_decryptor_update(d, ct.data + 124, ct.len - 124, failing_sink, NULL), VV_ERR_IO);
	vv_c4gh_decryptor_free(d);
	/* decrypt_mem hands nothing on: the good first segment is wiped from out. */
	ct.data[124 + SEGCT + 50] ^= 1;
	assert_int_equal(vv_sbuf_append(&out, "prefix", 6), 0);
	expect_err(vv_c4gh_decrypt_mem(ct.data, ct.len, alice, NULL, &out), VV_ERR_C4GH_SEGMENT);
	assert_int_equal(out.len, 0);
	assert_true(all_zero(out.data, out.cap));
	/* Its output is replaced, not appended to: earlier contents are wiped on
	 * entry, so success and failure both leave out holding this stream only. */
	ct.data[124 + SEGCT + 50] ^= 1;
	assert_int_equal(vv_sbuf_append(&out, "prefix", 6), 0);
	expect_err(vv_c4gh_decrypt_mem(ct.data, ct.len, alice, NULL, &out), 0);
	assert_int_equal(out.len, 2 * SEG + 10);
	assert_memory_equal(out.data, plain, 2 * SEG + 10);
	ct.data[124 + SEGCT + 50] ^= 1;
	/* Outputs are cleared on failure. */
	uint8_t pk[32];
	memset(pk, 0xff, 32);
	expect_err(vv_c4gh_pubkey_parse("junk", 4, pk), VV_ERR_KEY_FORMAT);
	assert_true(all_zero(pk, 32));
	vv_c4gh_header_free(h);
	free(plain);
	vv_sbuf_done(&ct);
	vv_sbuf_done(&out);
}

/* ---- key files ---- */

/* Armors bin as a private key file. */
static void armor_key(const uint8_t *bin, size_t n, char *out, size_t outsize)
{
	char b64[700];

	sodium_bin2base64(b64, sizeof b64, bin, n, sodium_base64_VARIANT_ORIGINAL);
	snprintf(out, outsize, "-----BEGIN CRYPT4GH PRIVATE KEY-----\n%s\n-----END CRYPT4GH PRIVATE KEY-----\n", b64);
}

/* Builds a c4gh-v1 key from its strings; NULL opts for kdf none. */
static size_t key_bin(uint8_t *b, const char *kdf, const uint8_t *opts, size_t optslen,
		      const char *cipher, const uint8_t *blob, size_t bloblen)
{
	size_t n = 7;
	const void *parts[4] = {kdf, opts, cipher, blob};
	size_t lens[4] = {strlen(kdf), optslen, strlen(cipher), bloblen};

	memcpy(b, "c4gh-v1", 7);
	for (int i = 0; i < 4; i++) {
		if (i == 1 && !opts)
			continue;
		b[n] = (uint8_t)(lens[i] >> 8);
		b[n + 1] = (uint8_t)lens[i];
		memcpy(b + n + 2, parts[i], lens[i]);
		n += 2 + lens[i];
	}
	return n;
}

static void test_key_files(void **state)
{
	vv_c4gh_seckey *k;
	vv_sbuf text;
	uint8_t pk[32], pk2[32], bin[512], opts[20] = {0}, blob[60] = {0}, raw[32];
	char armored[1024], pktext[VV_C4GH_PUBKEY_TEXT_MAX];

	(void)state;
	vv_sbuf_init(&text, VV_C4GH_KEYFILE_MAX);
	vv_c4gh_seckey_pubkey(alice, pk);
	/* unprotected, with a comment */
	expect_err(vv_c4gh_seckey_write(alice, NULL, 0, "alice@lab", &text), 0);
	expect_err(vv_c4gh_seckey_parse((const char *)text.data, text.len, NULL, 0, &k), 0);
	vv_c4gh_seckey_pubkey(k, pk2);
	assert_memory_equal(pk, pk2, 32);
	vv_c4gh_seckey_free(k);
	/* protected with scrypt: needs the passphrase, refuses a wrong one */
	expect_err(vv_c4gh_seckey_write(alice, "s3cret", 6, NULL, &text), 0);
	assert_non_null(memmem(text.data, text.len, "BEGIN CRYPT4GH PRIVATE KEY", 26));
	expect_err(vv_c4gh_seckey_parse((const char *)text.data, text.len, NULL, 0, &k), VV_ERR_KEY_NEEDPASS);
	assert_null(k);
	expect_err(vv_c4gh_seckey_parse((const char *)text.data, text.len, "s3creT", 6, &k),
		   VV_ERR_KEY_PASSPHRASE);
	expect_err(vv_c4gh_seckey_parse((const char *)text.data, text.len, "s3cret", 6, &k), 0);
	vv_c4gh_seckey_pubkey(k, pk2);
	assert_memory_equal(pk, pk2, 32);
	vv_c4gh_seckey_free(k);
	/* public keys: format, parse, with CRLF and blank lines */
	expect_err(vv_c4gh_pubkey_format(pk, pktext, sizeof pktext), 0);
	assert_int_equal(strlen(pktext), 115); /* as the reference writes them */
	expect_err(vv_c4gh_pubkey_format(pk, pktext, 100), VV_ERR_RANGE);
	expect_err(vv_c4gh_pubkey_format(pk, pktext, sizeof pktext), 0);
	char crlf[256];
	snprintf(crlf, sizeof crlf, "\r\n\r\n-----BEGIN CRYPT4GH PUBLIC KEY-----\r\n%.44s\r\n\r\n-----END CRYPT4GH PUBLIC KEY-----\r\n",
		 pktext + 36);
	expect_err(vv_c4gh_pubkey_parse(crlf, strlen(crlf), pk2), 0);
	assert_memory_equal(pk, pk2, 32);
	expect_err(vv_c4gh_pubkey_parse(pktext, 50, pk2), VV_ERR_KEY_FORMAT);
	expect_err(vv_c4gh_pubkey_parse((const char *)text.data, text.len, pk2), VV_ERR_KEY_FORMAT);
	expect_detail("this is a private key");
	expect_err(vv_c4gh_seckey_parse(pktext, strlen(pktext), NULL, 0, &k), VV_ERR_KEY_FORMAT);
	expect_detail("this is a public key");
	expect_err(vv_c4gh_pubkey_parse("ssh-ed25519 AAAA x", 18, pk2), VV_ERR_UNSUPPORTED);

	/* KDFs and ciphers: each refusal names what it refuses */
	memset(raw, 7, 32);
	armor_key(bin, key_bin(bin, "none", NULL, 0, "none", raw, 32), armored, sizeof armored);
	expect_err(vv_c4gh_seckey_parse(armored, strlen(armored), NULL, 0, &k), 0);
	vv_c4gh_seckey_free(k);
	opts[3] = 100;
	armor_key(bin, key_bin(bin, "bcrypt", opts, 20, "chacha20_poly1305", blob, 60), armored, sizeof armored);
	expect_err(vv_c4gh_seckey_parse(armored, strlen(armored), "x", 1, &k), VV_ERR_KEY_KDF);
	expect_detail("bcrypt");
	expect_detail("re-encrypt");
	armor_key(bin, key_bin(bin, "argon2id", opts, 20, "chacha20_poly1305", blob, 60), armored, sizeof armored);
	expect_err(vv_c4gh_seckey_parse(armored, strlen(armored), "x", 1, &k), VV_ERR_KEY_KDF);
	expect_detail("kdf 'argon2id'");
	armor_key(bin, key_bin(bin, "scrypt", opts, 20, "aes256-ctr", blob, 60), armored, sizeof armored);
	expect_err(vv_c4gh_seckey_parse(armored, strlen(armored), "x", 1, &k), VV_ERR_KEY_CIPHER);
	expect_detail("cipher 'aes256-ctr'");
	armor_key(bin, key_bin(bin, "scrypt", opts, 20, "chacha20_poly1305", blob, 59), armored, sizeof armored);
	expect_err(vv_c4gh_seckey_parse(armored, strlen(armored), "x", 1, &k), VV_ERR_KEY_FORMAT);
	armor_key(bin, key_bin(bin, "none", NULL, 0, "chacha20_poly1305", raw, 32), armored, sizeof armored);
	expect_err(vv_c4gh_seckey_parse(armored, strlen(armored), NULL, 0, &k), VV_ERR_KEY_FORMAT);
	armor_key(bin, key_bin(bin, "pbkdf2_hmac_sha256", opts, 20, "chacha20_poly1305", blob, 60) - 3,
		  armored, sizeof armored);
	expect_err(vv_c4gh_seckey_parse(armored, strlen(armored), "x", 1, &k), VV_ERR_KEY_FORMAT);
	expect_detail("runs past the end");
	/* a string whose length runs one or two bytes past the end (no
	 * slack in the bound), and unprotected blobs of 31 and 33 bytes */
	for (size_t cut = 1; cut <= 2; cut++) {
		armor_key(bin, key_bin(bin, "none", NULL, 0, "none", raw, 32) - cut, armored, sizeof armored);
		expect_err(vv_c4gh_seckey_parse(armored, strlen(armored), NULL, 0, &k), VV_ERR_KEY_FORMAT);
		expect_detail("key blob: length 32 runs past the end");
		assert_null(k);
	}
	for (size_t len = 31; len <= 33; len += 2) {
		uint8_t raw33[33] = {0};
		memcpy(raw33, raw, 32);
		armor_key(bin, key_bin(bin, "none", NULL, 0, "none", raw33, len), armored, sizeof armored);
		expect_err(vv_c4gh_seckey_parse(armored, strlen(armored), NULL, 0, &k), VV_ERR_KEY_FORMAT);
		expect_detail("key blob of");
		assert_null(k);
	}
	/* pbkdf2: a key protected with 1000 rounds opens; absurd round counts are refused */
	uint8_t kek[32];
	opts[0] = 0, opts[1] = 0, opts[2] = 0x03, opts[3] = 0xe8;
	memset(opts + 4, 0x5a, 16);
	assert_int_equal(vv_c4gh_kdf_derive(C4GH_KDF_PBKDF2_SHA256, 1000, opts + 4, 16, "pw", 2, kek), 0);
	memset(blob, 0x33, 12);
	crypto_aead_chacha20poly1305_ietf_encrypt(blob + 12, NULL, raw, 32, NULL, 0, NULL, blob, kek);
	armor_key(bin, key_bin(bin, "pbkdf2_hmac_sha256", opts, 20, "chacha20_poly1305", blob, 60), armored,
		  sizeof armored);
	expect_err(vv_c4gh_seckey_parse(armored, strlen(armored), "pw", 2, &k), 0);
	vv_c4gh_seckey_free(k);
	expect_err(vv_c4gh_seckey_parse(armored, strlen(armored), "pW", 2, &k), VV_ERR_KEY_PASSPHRASE);
	opts[0] = 0xff;
	armor_key(bin, key_bin(bin, "pbkdf2_hmac_sha256", opts, 20, "chacha20_poly1305", blob, 60), armored,
		  sizeof armored);
	expect_err(vv_c4gh_seckey_parse(armored, strlen(armored), "pw", 2, &k), VV_ERR_KEY_FORMAT);
	expect_detail("rounds");
	/* OpenSSH keys, armor problems, trailing bytes */
	const char *ssh = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n";
	expect_err(vv_c4gh_seckey_parse(ssh, strlen(ssh), NULL, 0, &k), VV_ERR_UNSUPPORTED);
	expect_detail("OpenSSH");
	expect_err(vv_c4gh_seckey_parse("", 0, NULL, 0, &k), VV_ERR_KEY_FORMAT);
	const char *noend = "-----BEGIN CRYPT4GH PRIVATE KEY-----\nYzRnaC12MQ==\n";
	expect_err(vv_c4gh_seckey_parse(noend, strlen(noend), NULL, 0, &k), VV_ERR_KEY_FORMAT);
	const char *badb64 = "-----BEGIN CRYPT4GH PRIVATE KEY-----\nYzRn*C12MQ==\n-----END CRYPT4GH PRIVATE KEY-----\n";
	expect_err(vv_c4gh_seckey_parse(badb64, strlen(badb64), NULL, 0, &k), VV_ERR_KEY_FORMAT);
	size_t bn = key_bin(bin, "none", NULL, 0, "none", raw, 32);
	memcpy(bin + bn, "\0\3abcXY", 7);
	armor_key(bin, bn + 7, armored, sizeof armored);
	expect_err(vv_c4gh_seckey_parse(armored, strlen(armored), NULL, 0, &k), VV_ERR_KEY_FORMAT);
	expect_detail("stray bytes");
	assert_null(k);
	vv_sbuf_done(&text);
}

static void test_key_load(void **state)
{
	char dir[] = "/tmp/vv-c4gh-XXXXXX", path[64];
	vv_c4gh_seckey *k;
	uint8_t pk[32];
	vv_sbuf text;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	vv_sbuf_init(&text, VV_C4GH_KEYFILE_MAX);
	snprintf(path, sizeof path, "%s/k.sec", dir);
	expect_err(vv_c4gh_seckey_load(path, NULL, 0, &k), VV_ERR_IO);
	expect_detail(path);
	expect_err(vv_c4gh_seckey_write(bob, NULL, 0, NULL, &text), 0);
	assert_non_null(f = fopen(path, "w"));
	assert_int_equal(fwrite(text.data, 1, text.len, f), text.len);
	fclose(f);
	expect_err(vv_c4gh_seckey_load(path, NULL, 0, &k), 0);
	vv_c4gh_seckey_pubkey(k, pk);
	assert_memory_equal(pk, bob_pk, 32);
	vv_c4gh_seckey_free(k);
	/* Over the size limit. */
	assert_non_null(f = fopen(path, "w"));
	for (int i = 0; i <= VV_C4GH_KEYFILE_MAX; i++)
		fputc('A', f);
	fclose(f);
	expect_err(vv_c4gh_seckey_load(path, NULL, 0, &k), VV_ERR_RANGE);
	expect_err(vv_c4gh_pubkey_load(path, pk), VV_ERR_RANGE);
	unlink(path);
	rmdir(dir);
	vv_sbuf_done(&text);
}

static void test_api_misuse(void **state)
{
	vv_c4gh_decryptor *d;
	vv_c4gh_encryptor *e;
	uint8_t key[32] = {0}, pks[2 * 32];
	const uint64_t el[1] = {5};

	(void)state;
	expect_err(vv_c4gh_decryptor_new(key, 0, NULL, 0, &d), VV_ERR_INVAL);
	assert_null(d);
	expect_err(vv_c4gh_decryptor_new(key, 1, NULL, 2, &d), VV_ERR_INVAL);
	expect_err(vv_c4gh_encryptor_new(NULL, pks, 0, NULL, 0, &e), VV_ERR_INVAL);
	assert_null(e);
	expect_err(vv_c4gh_encryptor_new(NULL, alice_pk, 1, el, 0, &e), VV_ERR_INVAL);
	memset(pks, 0, sizeof pks); /* an all-zero key is a low-order point */
	expect_err(vv_c4gh_encryptor_new(NULL, pks, 1, NULL, 0, &e), VV_ERR_KEY_FORMAT);
	/* A decryptor made from bare keys (as a worker would get them). */
	expect_err(vv_c4gh_decryptor_new(key, 1, el, 1, &d), 0);
	assert_int_equal(vv_c4gh_decryptor_output(d), 0);
	expect_err(vv_c4gh_decryptor_final(d, sbuf_sink, NULL), 0);
	expect_err(vv_c4gh_decryptor_update(d, key, 1, sbuf_sink, NULL), VV_ERR_INVAL);
	vv_c4gh_decryptor_free(d);
	vv_c4gh_decryptor_free(NULL);
	vv_c4gh_encryptor_free(NULL);
	vv_c4gh_header_free(NULL);
	vv_c4gh_seckey_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trips),
		cmocka_unit_test(test_recipients),
		cmocka_unit_test(test_sender_key),
		cmocka_unit_test(test_edit_lists),
		cmocka_unit_test(test_failures_each_distinct),
		cmocka_unit_test(test_header_limits),
		cmocka_unit_test(test_header_read_fd),
		cmocka_unit_test(test_policies),
		cmocka_unit_test(test_one_writer),
		cmocka_unit_test(test_wiping),
		cmocka_unit_test(test_key_files),
		cmocka_unit_test(test_key_load),
		cmocka_unit_test(test_api_misuse),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
