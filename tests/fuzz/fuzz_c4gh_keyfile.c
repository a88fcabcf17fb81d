/* libFuzzer target: Crypt4GH key files, private (c4gh-v1) and public.
 * No passphrase is given, so protected keys stop after every field has been
 * checked and before the KDF runs (its cost is what the file asks for).
 * Seeds: tests/fuzz/corpus/c4gh_keyfile (tests/fuzz/make_c4gh_corpus.py). */
#include <stdint.h>
#include <stdlib.h>

#include "varvault/c4gh.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	vv_c4gh_seckey *k = NULL;
	uint8_t pk[VV_C4GH_KEY_LEN];
	int rc;

	if (!ready && vv_core_init() != 0)
		abort();
	ready = 1;
	if (vv_c4gh_seckey_parse((const char *)data, size, NULL, 0, &k) == 0) {
		vv_c4gh_seckey_pubkey(k, pk);
		vv_c4gh_seckey_free(k);
	}
	rc = vv_c4gh_pubkey_parse((const char *)data, size, pk);
	(void)rc;
	return 0;
}
