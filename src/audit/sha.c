/* SHA-256 for the tree, the MACs and the key chain: OpenSSL's, which uses
 * the CPU's SHA extensions where it has them (about 4x libsodium's portable
 * code here), because the verifier hashes every record several times and
 * must get through a million records in seconds. */
#include "audit_int.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void fetch_md(void)
{
	/* fetched once: an implicit fetch on every digest costs more than
	 * the digest of a short input */
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

void vv_audit_sha256(const void *a, size_t an, const void *b, size_t bn, uint8_t out[VV_AUDIT_HASH_LEN])
{
	EVP_MD_CTX *c;
	unsigned int ol = 0;

	(void)pthread_once(&sha256_once, fetch_md);
	c = EVP_MD_CTX_new();
	if (!sha256_md || !c || EVP_DigestInit_ex(c, sha256_md, NULL) != 1 || EVP_DigestUpdate(c, a, an) != 1 ||
	    (bn && EVP_DigestUpdate(c, b, bn) != 1) || EVP_DigestFinal_ex(c, out, &ol) != 1 ||
	    ol != VV_AUDIT_HASH_LEN)
		/* OpenSSL's SHA-256 cannot fail short of memory or a broken
		 * install; a wrong hash here would be silent corruption */
		abort();
	EVP_MD_CTX_free(c);
}

void vv_audit_hmac(const uint8_t key[32], const uint8_t msg[VV_AUDIT_HASH_LEN], uint8_t out[32])
{
	uint8_t pad[64], inner[32];

	/* RFC 2104 with a 32-byte key (shorter than the block: zero-padded) */
	memset(pad, 0x36, sizeof pad);
	for (int i = 0; i < 32; i++)
		pad[i] ^= key[i];
	vv_audit_sha256(pad, sizeof pad, msg, VV_AUDIT_HASH_LEN, inner);
	memset(pad, 0x5c, sizeof pad);
	for (int i = 0; i < 32; i++)
		pad[i] ^= key[i];
	vv_audit_sha256(pad, sizeof pad, inner, sizeof inner, out);
	sodium_memzero(pad, sizeof pad);
	sodium_memzero(inner, sizeof inner);
}
