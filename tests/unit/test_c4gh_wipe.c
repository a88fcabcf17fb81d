/* Every wipe of key material and plaintext in src/c4gh, observed: the test
 * is linked with -Wl,--wrap=sodium_memzero (Makefile), so each explicit
 * wipe in the library (sodium_memzero, vv_wipe, vv_sbuf_wipe) passes
 * through __wrap_sodium_memzero below, which notes whether the region held
 * the bytes the test watches before the real wipe clears them.  Removing
 * any of these wipes makes a test here fail.  (sodium_free zeroes inside
 * libsodium, unseen by the wrap: a wipe counted here is always an explicit
 * one.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/c4gh/c4gh_int.h"
#include "varvault/c4gh.h"

#define SEG VV_C4GH_SEGMENT_LEN

void __real_sodium_memzero(void *p, size_t n);
void __wrap_sodium_memzero(void *p, size_t n);

/* What the wrap watches for, and what it saw. */
static struct {
	const uint8_t *pat;
	size_t patlen;
	int hits;            /* wipes whose region held pat */
	const void *last_at; /* start of the last such region */
} w;

void __wrap_sodium_memzero(void *p, size_t n)
{
	if (w.pat && n >= w.patlen && memmem(p, n, w.pat, w.patlen)) {
		w.hits++;
		w.last_at = p;
	}
	__real_sodium_memzero(p, n);
}

static void watch(const void *pat, size_t n)
{
	w.pat = pat;
	w.patlen = n;
	w.hits = 0;
	w.last_at = NULL;
}

static vv_c4gh_seckey *reader, *writer;
static uint8_t reader_pk[32];

static int setup(void **state)
{
	(void)state;
	if (vv_core_init() != 0 || vv_c4gh_seckey_generate(&reader) || vv_c4gh_seckey_generate(&writer))
		return -1;
	vv_c4gh_seckey_pubkey(reader, reader_pk);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	vv_c4gh_seckey_free(reader);
	vv_c4gh_seckey_free(writer);
	return 0;
}

static int sink_sbuf(void *ctx, const uint8_t *p, size_t n)
{
	return vv_sbuf_append(ctx, p, n);
}

/* A sink that keeps nothing, so that plaintext exists only in the
 * decryptor's own memory. */
static int sink_drop(void *ctx, const uint8_t *p, size_t n)
{
	(void)ctx;
	(void)p;
	(void)n;
	return 0;
}

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1664525u + 1013904223u;
		p[i] = (uint8_t)(seed >> 24);
	}
}

/* A header: preamble and one sealed packet per payload, for the reader. */
static void header_with(vv_sbuf *f, const uint8_t *const *pay, const size_t *n, uint32_t count)
{
	uint8_t pre[16];

	memcpy(pre, C4GH_MAGIC, 8);
	c4gh_put_le32(pre + 8, 1);
	c4gh_put_le32(pre + 12, count);
	assert_int_equal(vv_sbuf_append(f, pre, sizeof pre), 0);
	for (uint32_t i = 0; i < count; i++)
		assert_int_equal(vv_c4gh_packet_seal(writer, reader_pk, pay[i], n[i], 0, f), 0);
}

static size_t key_payload(uint8_t *p, const uint8_t *key)
{
	c4gh_put_le32(p, C4GH_PACKET_DATA_KEY);
	c4gh_put_le32(p + 4, C4GH_DATA_CHACHA20_IETF);
	memcpy(p + 8, key, 32);
	return C4GH_DATA_KEY_PAYLOAD_LEN;
}

/* header.c, open_packet: the payload of one opened packet (a data key) is
 * wiped before the next packet is decrypted into the same buffer. */
static void test_packet_payload_wiped_before_next(void **state)
{
	uint8_t k1[32], k2[32], p1[40], p2[40];
	const uint8_t *pay[2] = {p1, p2};
	size_t n[2];
	vv_sbuf f;
	vv_c4gh_header *h = NULL;

	(void)state;
	fill(k1, 32, 1);
	fill(k2, 32, 2);
	n[0] = key_payload(p1, k1);
	n[1] = key_payload(p2, k2);
	vv_sbuf_init(&f, 0);
	header_with(&f, pay, n, 2);
	watch(k1, 32);
	assert_int_equal(vv_c4gh_header_parse(f.data, f.len, reader, NULL, &h), 0);
	assert_int_equal(vv_c4gh_header_nkeys(h), 2);
	if (w.hits != 1)
		fail_msg("the first packet's data key was wiped %d times before the second packet, want 1",
			 w.hits);
	vv_c4gh_header_free(h);
	vv_sbuf_done(&f);
	watch(NULL, 0);
}

/* header.c and stream.c: the edit list (which regions the reader gets) is
 * wiped when the header and the decryptor that copied it are freed. */
static void test_edit_lists_wiped_on_free(void **state)
{
	const uint64_t edits[3] = {0x1122334455667ull, 0x2233445566778ull, 0x3344556677889ull};
	uint8_t key[32], p1[40], p2[8 + 3 * 8];
	const uint8_t *pay[2] = {p1, p2};
	size_t n[2];
	vv_sbuf f;
	vv_c4gh_header *h = NULL;
	vv_c4gh_decryptor *d = NULL;

	(void)state;
	fill(key, 32, 3);
	n[0] = key_payload(p1, key);
	c4gh_put_le32(p2, C4GH_PACKET_EDIT_LIST);
	c4gh_put_le32(p2 + 4, 3);
	for (int i = 0; i < 3; i++)
		c4gh_put_le64(p2 + 8 + 8 * i, edits[i]);
	n[1] = sizeof p2;
	vv_sbuf_init(&f, 0);
	header_with(&f, pay, n, 2);
	assert_int_equal(vv_c4gh_header_parse(f.data, f.len, reader, NULL, &h), 0);
	assert_int_equal(vv_c4gh_decryptor_from_header(h, &d), 0);
	watch(edits, sizeof edits); /* host order, as the parsed list is kept */
	vv_c4gh_header_free(h);
	if (w.hits != 1)
		fail_msg("header free: the edit list was wiped %d times, want 1", w.hits);
	vv_c4gh_decryptor_free(d);
	if (w.hits != 2)
		fail_msg("decryptor free: the edit list was wiped %d times in all, want 2", w.hits);
	vv_sbuf_done(&f);
	watch(NULL, 0);
}

/* A file of two whole segments and a short third, with a byte of the
 * second segment's ciphertext flipped when corrupt is set. */
static void two_segment_file(vv_sbuf *ct, const uint8_t *plain, size_t n, int corrupt)
{
	vv_c4gh_encryptor *e = NULL;

	assert_int_equal(vv_c4gh_encryptor_new(writer, reader_pk, 1, NULL, 0, &e), 0);
	assert_int_equal(vv_c4gh_encryptor_update(e, plain, n, sink_sbuf, ct), 0);
	assert_int_equal(vv_c4gh_encryptor_final(e, sink_sbuf, ct), 0);
	vv_c4gh_encryptor_free(e);
	if (corrupt)
		ct->data[ct->len - 100 - (VV_C4GH_SEGMENT_CT_LEN)] ^= 1;
}

/* A sink that refuses everything. */
static int sink_refuse(void *ctx, const uint8_t *p, size_t n)
{
	(void)ctx;
	(void)p;
	(void)n;
	return VV_ERR_IO;
}

/* stream.c, dec_fail: a failing stream leaves no plaintext in the
 * decryptor; the segment in hand is wiped there and then, not at free.
 * (A segment that fails authentication is zeroed by libsodium itself, so
 * the failures here are the ones after a good segment: the sink refusing
 * it, and a stream cut short after it.) */
static void test_failed_stream_wipes_plaintext(void **state)
{
	const size_t n = 2 * SEG + 200;
	uint8_t *plain = malloc(n);
	vv_sbuf ct;
	vv_c4gh_header *h = NULL;
	vv_c4gh_decryptor *d = NULL;
	size_t off;

	(void)state;
	assert_non_null(plain);
	fill(plain, n, 4);
	vv_sbuf_init(&ct, 0);
	two_segment_file(&ct, plain, n, 0);
	assert_int_equal(vv_c4gh_header_parse(ct.data, ct.len, reader, NULL, &h), 0);
	off = vv_c4gh_header_length(h);
	/* the sink refuses the first segment */
	assert_int_equal(vv_c4gh_decryptor_from_header(h, &d), 0);
	watch(plain + 1000, 64);
	assert_int_equal(vv_c4gh_decryptor_update(d, ct.data + off, ct.len - off, sink_refuse, NULL), VV_ERR_IO);
	if (w.hits != 1)
		fail_msg("sink refused: the segment's plaintext was wiped %d times, want 1", w.hits);
	vv_c4gh_decryptor_free(d);
	/* the stream ends 10 bytes into the third segment */
	assert_int_equal(vv_c4gh_decryptor_from_header(h, &d), 0);
	watch(plain + SEG + 1000, 64);
	assert_int_equal(vv_c4gh_decryptor_update(d, ct.data + off, 2 * VV_C4GH_SEGMENT_CT_LEN + 10, sink_drop,
						  NULL), 0);
	assert_int_equal(w.hits, 0);
	assert_true(vv_c4gh_decryptor_final(d, sink_drop, NULL) < 0);
	if (w.hits != 1)
		fail_msg("truncated stream: the last good plaintext was wiped %d times, want 1", w.hits);
	vv_c4gh_decryptor_free(d);
	vv_c4gh_header_free(h);
	vv_sbuf_done(&ct);
	free(plain);
	watch(NULL, 0);
}

/* stream.c, vv_c4gh_encryptor_final: the short last segment's plaintext
 * is wiped from the encryptor once sealed. */
static void test_encryptor_wipes_last_plaintext(void **state)
{
	uint8_t plain[700];
	vv_sbuf ct;
	vv_c4gh_encryptor *e = NULL;

	(void)state;
	fill(plain, sizeof plain, 5);
	vv_sbuf_init(&ct, 0);
	assert_int_equal(vv_c4gh_encryptor_new(writer, reader_pk, 1, NULL, 0, &e), 0);
	assert_int_equal(vv_c4gh_encryptor_update(e, plain, sizeof plain, sink_sbuf, &ct), 0);
	watch(plain, sizeof plain);
	assert_int_equal(vv_c4gh_encryptor_final(e, sink_sbuf, &ct), 0);
	if (w.hits != 1)
		fail_msg("the last segment's plaintext was wiped %d times at final, want 1", w.hits);
	vv_c4gh_encryptor_free(e);
	vv_sbuf_done(&ct);
	watch(NULL, 0);
}

/* stream.c, vv_c4gh_decrypt_mem: the output buffer is wiped on entry (what
 * it held before) and on failure (the plaintext of the good segments). */
static void test_decrypt_mem_wipes_output(void **state)
{
	const size_t n = 2 * SEG + 200;
	uint8_t *plain = malloc(n), old[48];
	vv_sbuf ct, out;

	(void)state;
	assert_non_null(plain);
	fill(plain, n, 6);
	fill(old, sizeof old, 7);
	vv_sbuf_init(&ct, 0);
	vv_sbuf_init(&out, 0);
	two_segment_file(&ct, plain, n, 0);
	/* entry: the old contents go, and are not part of the result */
	assert_int_equal(vv_sbuf_append(&out, old, sizeof old), 0);
	watch(old, sizeof old);
	assert_int_equal(vv_c4gh_decrypt_mem(ct.data, ct.len, reader, NULL, &out), 0);
	assert_int_equal(w.hits, 1);
	assert_int_equal(out.len, n);
	assert_memory_equal(out.data, plain, n);
	/* failure: the first segment's plaintext, already in out, is wiped there */
	ct.data[ct.len - 100 - VV_C4GH_SEGMENT_CT_LEN] ^= 1;
	watch(plain + 2000, 64);
	assert_true(vv_c4gh_decrypt_mem(ct.data, ct.len, reader, NULL, &out) < 0);
	assert_int_equal(out.len, 0);
	if (w.last_at != out.data)
		fail_msg("after a failure the output buffer was not wiped (%d wipes of the plaintext elsewhere)",
			 w.hits);
	vv_sbuf_done(&out);
	vv_sbuf_done(&ct);
	free(plain);
	watch(NULL, 0);
}

/* keys.c, vv_c4gh_seckey_write: the output is wiped on entry and, when the
 * key file does not fit, the partial armored key is wiped. */
static void test_seckey_write_wipes_output(void **state)
{
	uint8_t old[40];
	vv_sbuf out;
	static const char begin[] = "-----BEGIN CRYPT4GH PRIVATE KEY-----";

	(void)state;
	fill(old, sizeof old, 8);
	vv_sbuf_init(&out, 0);
	assert_int_equal(vv_sbuf_append(&out, old, sizeof old), 0);
	watch(old, sizeof old);
	assert_int_equal(vv_c4gh_seckey_write(reader, NULL, 0, "c", &out), 0);
	assert_int_equal(w.hits, 1);
	assert_null(memmem(out.data, out.len, old, sizeof old));
	vv_sbuf_done(&out);
	/* room for the armor's first line, not for the key */
	vv_sbuf_init(&out, sizeof begin + 8);
	watch(begin, sizeof begin - 1);
	assert_true(vv_c4gh_seckey_write(reader, NULL, 0, "c", &out) < 0);
	assert_int_equal(out.len, 0);
	if (w.hits < 1 || w.last_at != out.data)
		fail_msg("the partial key file was not wiped from the output (%d wipes)", w.hits);
	vv_sbuf_done(&out);
	watch(NULL, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_packet_payload_wiped_before_next),
		cmocka_unit_test(test_edit_lists_wiped_on_free),
		cmocka_unit_test(test_failed_stream_wipes_plaintext),
		cmocka_unit_test(test_encryptor_wipes_last_plaintext),
		cmocka_unit_test(test_decrypt_mem_wipes_output),
		cmocka_unit_test(test_seckey_write_wipes_output),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
