/* Private to src/c4gh: the passphrase KDFs of c4gh-v1 private keys. */
#ifndef VARVAULT_C4GH_KDF_H
#define VARVAULT_C4GH_KDF_H

#include "varvault/c4gh.h"

enum c4gh_kdf { C4GH_KDF_NONE, C4GH_KDF_SCRYPT, C4GH_KDF_PBKDF2_SHA256 };

/* A key file may ask for at most this many PBKDF2 rounds (the reference
 * uses 100000): bounds the time a hostile file can cost. */
#define C4GH_PBKDF2_MAX_ROUNDS 10000000u

/* Derives the 32-byte key-file key from pass[0..passlen) and salt.  scrypt
 * ignores rounds (N=2^14, r=8, p=1, as the reference).  Returns 0,
 * VV_ERR_KEY_FORMAT (rounds out of range) or VV_ERR_INTERNAL. */
int vv_c4gh_kdf_derive(enum c4gh_kdf kdf, uint32_t rounds, const uint8_t *salt, size_t saltlen,
		    const char *pass, size_t passlen, uint8_t key[VV_C4GH_KEY_LEN]) VV_MUST_CHECK;

#endif /* VARVAULT_C4GH_KDF_H */
