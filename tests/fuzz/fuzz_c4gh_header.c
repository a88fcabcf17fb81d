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

static int null_sink(void *ctx, const uint8_t *p, size_t n)
{
	size_t *total = ctx;

	if (n)
		*total += p[0] + p[n - 1]; /* touch the plaintext */
	*total += n;
	return 0;
}

/* Parses a header and decrypts what follows, in two pieces. */
static void run_stream(const uint8_t *data, size_t size, const uint8_t *writer)
{
	vv_c4gh_header *h = NULL;
	vv_c4gh_decryptor *d = NULL;
	size_t need = 0, total = 0, hl, half;
	int rc = vv_c4gh_header_span(data, size, &need);

	(void)rc;
	if (vv_c4gh_header_parse(data, size, key, writer, &h) != 0)
		return;
	if (vv_c4gh_decryptor_from_header(h, &d) == 0) {
		hl = vv_c4gh_header_length(h);
		half = (size - hl) / 2;
		if (vv_c4gh_decryptor_update(d, data + hl, half, null_sink, &total) == 0 &&
		    vv_c4gh_decryptor_update(d, data + hl + half, size - hl - half, null_sink, &total) == 0)
			rc = vv_c4gh_decryptor_final(d, null_sink, &total);
	}
	vv_c4gh_decryptor_free(d);
	vv_c4gh_header_free(h);
}

/* Builds a stream from fuzzed payloads (see the top of the file) and runs it. */
static void run_sealed(const uint8_t *data, size_t size)
{
	vv_sbuf f;
	vv_c4gh_header *h = NULL;
	uint8_t pre[16];
	size_t pos = 1, n, seg;

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
	if (vv_c4gh_header_parse(f.data, f.len, key, NULL, &h) == 0) {
		for (; pos < size; pos += seg)
			if (vv_c4gh_segment_seal(vv_c4gh_header_keys(h), data + pos,
					      size - pos < seg ? size - pos : seg, &f) != 0)
				goto out;
	}
	run_stream(f.data, f.len, key_pk);
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
	run_stream(data, size, NULL);
	/* The same with a required writer: the corpus's writer is the test key. */
	run_stream(data, size, key_pk);
	return 0;
}
