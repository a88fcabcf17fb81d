/* libFuzzer target: Crypt4GH header parsing and unwrapping with a fixed test
 * key, then the data segments after it.
 *
 * An input whose first byte is not 0 is a Crypt4GH stream, parsed as is.
 * Packets and segments are authenticated, so mutations rarely get past the
 * MAC; yet anyone can write valid packets to a public key.  So an input that
 * starts with 0 describes payloads that the harness seals to the test key:
 *   0, n, then n times (length byte, payload), then one byte s, then the
 *   plaintext, sealed in segments of s*257+1 bytes with the first data key
 *   the header gives,
 * which lets the fuzzer reach packet payloads, edit lists and segment sizes.
 * Invariants (abort() on violation): a failed parse returns a negative code
 * and no header; a parsed header has 1..VV_C4GH_MAX_PACKETS distinct data
 * keys, the length vv_c4gh_header_span measured, and an edit list where it
 * says it has one; the decryptor hands on exactly the bytes it counts,
 * nothing after a failure, and keeps returning the first failure; a sealed
 * stream without an edit list decrypts, if at all, to its plaintext;
 * vv_c4gh_decrypt_mem gives the same result, and on failure an empty,
 * zeroed output buffer.
 * Seeds: tests/fuzz/corpus/c4gh_header (tests/fuzz/make_c4gh_corpus.py). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/c4gh/c4gh_int.h"

/* The test key: secret bytes 1..32 (the corpus is encrypted to it). */
static const uint8_t fuzz_sk[32] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11,
				    12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
				    23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
static vv_c4gh_seckey *key;
static uint8_t key_pk[32];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Collects the plaintext (at most the ciphertext's size: the decryptor
 * never hands on more than it read). */
struct out {
	uint8_t *p;
	size_t n, cap;
	int failed; /* set once the decryptor failed: no sink call may follow */
};

static int collect(void *ctx, const uint8_t *p, size_t n)
{
	struct out *o = ctx;

	if (o->failed || n > o->cap - o->n)
		abort();
	memcpy(o->p + o->n, p, n);
	o->n += n;
	return 0;
}

static void check_header(const vv_c4gh_header *h, size_t need, size_t size)
{
	size_t nk = vv_c4gh_header_nkeys(h), ne = 0;
	const uint8_t *k = vv_c4gh_header_keys(h);
	const uint64_t *e = vv_c4gh_header_editlist(h, &ne);

	if (nk < 1 || nk > VV_C4GH_MAX_PACKETS || !k || vv_c4gh_header_length(h) != need || need > size)
		abort();
	for (size_t i = 0; i < nk; i++)
		for (size_t j = i + 1; j < nk; j++)
			if (memcmp(k + 32 * i, k + 32 * j, 32) == 0)
				abort();
	if ((ne > 0) != (e != NULL))
		abort();
}

/* Parses a header and decrypts what follows, in two pieces.  Returns 0 if
 * the whole stream decrypted, with the plaintext in *o (caller frees o->p),
 * and in *nedits the edit list's length. */
static int run_stream(const uint8_t *data, size_t size, const uint8_t *writer, struct out *o,
		      size_t *nedits)
{
	vv_c4gh_header *h = (vv_c4gh_header *)o; /* must be set either way */
	vv_c4gh_decryptor *d = NULL;
	size_t need = 0, hl, half;
	int span = vv_c4gh_header_span(data, size, &need);
	int rc = vv_c4gh_header_parse(data, size, key, writer, &h);

	memset(o, 0, sizeof *o);
	*nedits = 0;
	if (rc != 0) {
		if (rc > 0 || h != NULL)
			abort();
		return rc;
	}
	if (span != 0 || !h)
		abort(); /* a header that parses is one span found complete */
	check_header(h, need, size);
	(void)vv_c4gh_header_editlist(h, nedits);
	if ((o->p = malloc(size + 1)) == NULL)
		abort();
	o->cap = size;
	rc = vv_c4gh_decryptor_from_header(h, &d);
	if (rc == 0) {
		hl = vv_c4gh_header_length(h);
		half = (size - hl) / 2;
		if ((rc = vv_c4gh_decryptor_update(d, data + hl, half, collect, o)) == 0 &&
		    (rc = vv_c4gh_decryptor_update(d, data + hl + half, size - hl - half, collect, o)) == 0)
			rc = vv_c4gh_decryptor_final(d, collect, o);
		if (vv_c4gh_decryptor_output(d) != o->n)
			abort();
		if (rc != 0) {
			/* the first failure sticks, and nothing more comes out */
			o->failed = 1;
			if (rc > 0 || vv_c4gh_decryptor_update(d, data + hl, size - hl, collect, o) != rc ||
			    vv_c4gh_decryptor_final(d, collect, o) != rc)
				abort();
		}
	} else if (d != NULL || rc > 0) {
		abort();
	}
	vv_c4gh_decryptor_free(d);
	vv_c4gh_header_free(h);
	return rc;
}

/* The whole-stream helper agrees with the streaming path, and on failure
 * leaves its output empty and wiped. */
static void run_and_drop(const uint8_t *data, size_t size, const uint8_t *writer)
{
	struct out o;
	size_t ne;
	vv_sbuf m;
	int rc = run_stream(data, size, writer, &o, &ne), rm;

	vv_sbuf_init(&m, 1u << 24);
	if (vv_sbuf_append(&m, "stale", 5) != 0)
		abort();
	rm = vv_c4gh_decrypt_mem(data, size, key, writer, &m);
	if ((rm == 0) != (rc == 0))
		abort();
	if (rm == 0 && (m.len != o.n || (o.n && memcmp(m.data, o.p, o.n) != 0)))
		abort();
	if (rm != 0) {
		if (rm > 0 || m.len != 0)
			abort();
		for (size_t i = 0; m.data && i < m.cap; i++)
			if (m.data[i])
				abort();
	}
	vv_sbuf_done(&m);
	free(o.p);
}

/* Builds a stream from fuzzed payloads (see the top of the file) and runs it. */
static void run_sealed(const uint8_t *data, size_t size)
{
	vv_sbuf f;
	vv_c4gh_header *h = NULL;
	uint8_t pre[16];
	size_t pos = 1, n, seg, plain, ne = 0;
	struct out o;

	if (size < 2)
		return;
	vv_sbuf_init(&f, 1u << 24);
	n = data[pos++];
	memcpy(pre, "crypt4gh", 8);
	c4gh_put_le32(pre + 8, 1);
	c4gh_put_le32(pre + 12, (uint32_t)n);
	if (vv_sbuf_append(&f, pre, 16) != 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		size_t len = pos < size ? data[pos++] : 0;
		if (len > size - pos)
			len = size - pos;
		if (vv_c4gh_packet_seal(key, key_pk, data + pos, len, 0, &f) != 0)
			goto out;
		pos += len;
	}
	seg = (pos < size ? data[pos++] : 255) * (size_t)257 + 1;
	if (seg > VV_C4GH_SEGMENT_LEN)
		seg = VV_C4GH_SEGMENT_LEN;
	plain = pos;
	if (vv_c4gh_header_parse(f.data, f.len, key, NULL, &h) == 0) {
		for (; pos < size; pos += seg)
			if (vv_c4gh_segment_seal(vv_c4gh_header_keys(h), data + pos,
						 size - pos < seg ? size - pos : seg, &f) != 0)
				goto out;
	}
	if (run_stream(f.data, f.len, key_pk, &o, &ne) == 0 && ne == 0 &&
	    (o.n != size - plain || (o.n && memcmp(o.p, data + plain, o.n) != 0)))
		abort(); /* what decrypts is what was sealed */
	free(o.p);
out:
	vv_c4gh_header_free(h);
	vv_sbuf_done(&f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!key && (vv_core_init() != 0 || vv_c4gh_seckey_from_raw(fuzz_sk, &key) != 0))
		abort();
	vv_c4gh_seckey_pubkey(key, key_pk);
	if (size && data[0] == 0) {
		run_sealed(data, size);
		return 0;
	}
	run_and_drop(data, size, NULL);
	/* The same with a required writer: the corpus's writer is the test key. */
	run_and_drop(data, size, key_pk);
	return 0;
}
