/* The passphrase KDFs of c4gh-v1 private keys: scrypt (libsodium) and
 * PBKDF2-HMAC-SHA256 (OpenSSL). */
#include "kdf.h"

#include <limits.h>
#include <sodium.h>
/*
 * Exception to STYLE rule 2 (only `net` talks to OpenSSL): libsodium has no
 * PBKDF2, and Crypt4GH keys protected with pbkdf2_hmac_sha256 exist, so this
 * one call, PKCS5_PBKDF2_HMAC, is made here.  Recorded in
 * docs/architecture.md.  Its failure is translated to VV_ERR_INTERNAL here.
 */
#include <openssl/evp.h>

/* The reference keygen's fixed scrypt cost; the file's rounds field is 0. */
#define C4GH_SCRYPT_N 16384u
#define C4GH_SCRYPT_R 8u
#define C4GH_SCRYPT_P 1u

int vv_c4gh_kdf_derive(enum c4gh_kdf kdf, uint32_t rounds, const uint8_t *salt, size_t saltlen,
		    const char *pass, size_t passlen, uint8_t key[VV_C4GH_KEY_LEN])
{
	switch (kdf) {
	case C4GH_KDF_SCRYPT:
		if (crypto_pwhash_scryptsalsa208sha256_ll((const uint8_t *)pass, passlen, salt, saltlen,
							  C4GH_SCRYPT_N, C4GH_SCRYPT_R, C4GH_SCRYPT_P,
							  key, VV_C4GH_KEY_LEN) != 0)
			return vv_errf(VV_ERR_INTERNAL, "scrypt failed");
		return 0;
	case C4GH_KDF_PBKDF2_SHA256:
		if (rounds == 0 || rounds > C4GH_PBKDF2_MAX_ROUNDS || passlen > INT_MAX ||
		    saltlen > INT_MAX)
			return vv_errf(VV_ERR_KEY_FORMAT, "pbkdf2 rounds %u out of range", rounds);
		if (PKCS5_PBKDF2_HMAC(pass, (int)passlen, salt, (int)saltlen, (int)rounds, EVP_sha256(),
				      VV_C4GH_KEY_LEN, key) != 1) {
			sodium_memzero(key, VV_C4GH_KEY_LEN);
			return vv_errf(VV_ERR_INTERNAL, "PKCS5_PBKDF2_HMAC failed");
		}
		return 0;
	case C4GH_KDF_NONE:
		break;
	}
	return vv_errf(VV_ERR_INVAL, "no KDF to run");
}
