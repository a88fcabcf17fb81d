/* libFuzzer target: Crypt4GH key files, private (c4gh-v1) and public.
 * No passphrase is given, so protected keys stop after every field has been
 * checked and before the KDF runs (its cost is what the file asks for).
 * Invariants (abort() on violation): a failed parse leaves no key (NULL) and
 * a zeroed public key, and returns a negative code; a parsed private key
 * re-serialises, parses back to the same key, and re-serialises to the same
 * bytes; a parsed public key formats and parses back to the same 32 bytes.
 * Seeds: tests/fuzz/corpus/c4gh_keyfile (tests/fuzz/make_c4gh_corpus.py). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "varvault/c4gh.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* k written without a passphrase, into out (caller's buffer). */
static void write_key(const vv_c4gh_seckey *k, vv_sbuf *out)
{
	vv_sbuf_init(out, VV_C4GH_KEYFILE_MAX);
	if (vv_c4gh_seckey_write(k, NULL, 0, "fuzz", out) != 0)
		abort();
}

static void check_seckey_round_trip(const vv_c4gh_seckey *k)
{
	vv_c4gh_seckey *k2 = NULL;
	uint8_t pk[VV_C4GH_KEY_LEN], pk2[VV_C4GH_KEY_LEN];
	vv_sbuf t1, t2;

	write_key(k, &t1);
	if (vv_c4gh_seckey_parse((const char *)t1.data, t1.len, NULL, 0, &k2) != 0 || !k2)
		abort(); /* what we write we must read */
	vv_c4gh_seckey_pubkey(k, pk);
	vv_c4gh_seckey_pubkey(k2, pk2);
	if (memcmp(pk, pk2, sizeof pk) != 0)
		abort();
	write_key(k2, &t2);
	if (t1.len != t2.len || memcmp(t1.data, t2.data, t1.len) != 0)
		abort();
	vv_c4gh_seckey_free(k2);
	vv_sbuf_done(&t1);
	vv_sbuf_done(&t2);
}

static void check_pubkey_round_trip(const uint8_t pk[VV_C4GH_KEY_LEN])
{
	char text[VV_C4GH_PUBKEY_TEXT_MAX];
	uint8_t pk2[VV_C4GH_KEY_LEN];

	if (vv_c4gh_pubkey_format(pk, text, sizeof text) != 0 ||
	    vv_c4gh_pubkey_parse(text, strlen(text), pk2) != 0 || memcmp(pk, pk2, sizeof pk2) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t zero[VV_C4GH_KEY_LEN];
	static int ready;
	vv_c4gh_seckey *k = (vv_c4gh_seckey *)&ready; /* must be set either way */
	uint8_t pk[VV_C4GH_KEY_LEN];
	int rc;

	if (!ready && vv_core_init() != 0)
		abort();
	ready = 1;
	rc = vv_c4gh_seckey_parse((const char *)data, size, NULL, 0, &k);
	if (rc == 0) {
		if (!k)
			abort();
		check_seckey_round_trip(k);
		vv_c4gh_seckey_free(k);
	} else if (rc > 0 || k != NULL) {
		abort();
	}
	memset(pk, 0xa5, sizeof pk);
	rc = vv_c4gh_pubkey_parse((const char *)data, size, pk);
	if (rc == 0)
		check_pubkey_round_trip(pk);
	else if (rc > 0 || memcmp(pk, zero, sizeof pk) != 0)
		abort();
	return 0;
}
