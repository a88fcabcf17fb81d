/* Sealed secrets at rest: wrapped per-sample keys and result chunks. */
#include "varvault/core.h"

#include <sodium.h>
#include <string.h>

/* Domain strings keep a wrapped key and a result chunk from ever being
 * confused with each other or with a later format. */
static const char vv_wrap_domain[] = "varvault-keywrap-v1";
static const char vv_chunk_domain[] = "varvault-result-v1";

_Static_assert(VV_KEY_LEN == crypto_aead_xchacha20poly1305_ietf_KEYBYTES, "key length");
_Static_assert(VV_KEY_WRAP_LEN == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES + VV_KEY_LEN +
		       crypto_aead_xchacha20poly1305_ietf_ABYTES, "wrap length");
_Static_assert(VV_SEAL_OVERHEAD == crypto_secretstream_xchacha20poly1305_HEADERBYTES +
		       crypto_secretstream_xchacha20poly1305_ABYTES, "seal overhead");
_Static_assert(VV_KEY_LEN == crypto_secretstream_xchacha20poly1305_KEYBYTES, "stream key");

void vv_key_random(uint8_t key[VV_KEY_LEN])
{
	randombytes_buf(key, VV_KEY_LEN);
}

/* The additional data of a wrap: domain, then the caller's binding.  The
 * binding is hashed so that its length is fixed and unbounded input is fine. */
static void wrap_ad(const void *ad, size_t adlen, uint8_t out[sizeof vv_wrap_domain + 32])
{
	memcpy(out, vv_wrap_domain, sizeof vv_wrap_domain);
	crypto_generichash(out + sizeof vv_wrap_domain, 32, ad, adlen, NULL, 0);
}

int vv_key_wrap(const uint8_t kek[VV_KEY_LEN], const uint8_t key[VV_KEY_LEN], const void *ad,
		size_t adlen, uint8_t out[VV_KEY_WRAP_LEN])
{
	uint8_t a[sizeof vv_wrap_domain + 32];
	uint8_t *nonce = out, *ct = out + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;

	if (!kek || !key || !out || (adlen && !ad))
		return vv_errf(VV_ERR_INVAL, "key wrap: missing argument");
	wrap_ad(ad, adlen, a);
	randombytes_buf(nonce, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
	crypto_aead_xchacha20poly1305_ietf_encrypt(ct, NULL, key, VV_KEY_LEN, a, sizeof a, NULL,
						   nonce, kek);
	return 0;
}

int vv_key_unwrap(const uint8_t kek[VV_KEY_LEN], const uint8_t wrapped[VV_KEY_WRAP_LEN],
		  const void *ad, size_t adlen, uint8_t key[VV_KEY_LEN])
{
	uint8_t a[sizeof vv_wrap_domain + 32];
	const uint8_t *nonce = wrapped, *ct = wrapped + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;

	if (!key)
		return vv_errf(VV_ERR_INVAL, "key unwrap: missing argument");
	sodium_memzero(key, VV_KEY_LEN);
	if (!kek || !wrapped || (adlen && !ad))
		return vv_errf(VV_ERR_INVAL, "key unwrap: missing argument");
	wrap_ad(ad, adlen, a);
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(key, NULL, NULL, ct,
						       VV_KEY_WRAP_LEN - crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
						       a, sizeof a, nonce, kek) != 0) {
		sodium_memzero(key, VV_KEY_LEN);
		return vv_errf(VV_ERR_AUTH, "wrapped key does not open with this key for this owner");
	}
	return 0;
}

/* Additional data of a chunk: domain, job id with its NUL, big-endian
 * index, last flag.  Returns its length, or 0 when the id is unusable. */
static size_t chunk_ad(const char *job_id, uint32_t index, bool last,
		       uint8_t out[sizeof vv_chunk_domain + VV_SEAL_MAX_ID + 1 + 5])
{
	size_t idlen = job_id ? strnlen(job_id, VV_SEAL_MAX_ID + 1) : 0;
	size_t n = 0;

	if (idlen == 0 || idlen > VV_SEAL_MAX_ID)
		return 0;
	memcpy(out, vv_chunk_domain, sizeof vv_chunk_domain);
	n += sizeof vv_chunk_domain;
	memcpy(out + n, job_id, idlen + 1);
	n += idlen + 1;
	out[n++] = (uint8_t)(index >> 24);
	out[n++] = (uint8_t)(index >> 16);
	out[n++] = (uint8_t)(index >> 8);
	out[n++] = (uint8_t)index;
	out[n++] = last ? 1 : 0;
	return n;
}

int vv_seal_chunk(const uint8_t key[VV_KEY_LEN], const char *job_id, uint32_t index, bool last,
		  const uint8_t *p, size_t n, uint8_t *out)
{
	crypto_secretstream_xchacha20poly1305_state st;
	uint8_t ad[sizeof vv_chunk_domain + VV_SEAL_MAX_ID + 1 + 5];
	size_t adlen = chunk_ad(job_id, index, last, ad);
	uint8_t tag = last ? crypto_secretstream_xchacha20poly1305_TAG_FINAL
			   : crypto_secretstream_xchacha20poly1305_TAG_MESSAGE;

	if (!key || !out || (n && !p) || adlen == 0)
		return vv_errf(VV_ERR_INVAL, "seal chunk: missing argument or unusable job id");
	if (n > VV_SEAL_MAX_CHUNK)
		return vv_errf(VV_ERR_RANGE, "seal chunk: %zu bytes, at most %zu", n, VV_SEAL_MAX_CHUNK);
	crypto_secretstream_xchacha20poly1305_init_push(&st, out, key);
	crypto_secretstream_xchacha20poly1305_push(
		&st, out + crypto_secretstream_xchacha20poly1305_HEADERBYTES, NULL, p, n, ad, adlen, tag);
	sodium_memzero(&st, sizeof st);
	return 0;
}

int vv_open_chunk(const uint8_t key[VV_KEY_LEN], const char *job_id, uint32_t index, bool last,
		  const uint8_t *c, size_t n, uint8_t *out)
{
	crypto_secretstream_xchacha20poly1305_state st;
	uint8_t ad[sizeof vv_chunk_domain + VV_SEAL_MAX_ID + 1 + 5];
	size_t adlen = chunk_ad(job_id, index, last, ad);
	uint8_t want = last ? crypto_secretstream_xchacha20poly1305_TAG_FINAL
			    : crypto_secretstream_xchacha20poly1305_TAG_MESSAGE;
	unsigned char tag = 0xff;
	int rc = 0;

	if (!key || !c || adlen == 0)
		return vv_errf(VV_ERR_INVAL, "open chunk: missing argument or unusable job id");
	if (n < VV_SEAL_OVERHEAD)
		return vv_errf(VV_ERR_FORMAT, "sealed chunk %u: %zu bytes, shorter than its overhead",
			       index, n);
	if (n - VV_SEAL_OVERHEAD > VV_SEAL_MAX_CHUNK)
		return vv_errf(VV_ERR_RANGE, "sealed chunk %u: larger than %zu bytes", index,
			       VV_SEAL_MAX_CHUNK);
	if (!out)
		return vv_errf(VV_ERR_INVAL, "open chunk: missing output");
	if (crypto_secretstream_xchacha20poly1305_init_pull(&st, c, key) != 0 ||
	    crypto_secretstream_xchacha20poly1305_pull(
		    &st, out, NULL, &tag, c + crypto_secretstream_xchacha20poly1305_HEADERBYTES,
		    n - crypto_secretstream_xchacha20poly1305_HEADERBYTES, ad, adlen) != 0 ||
	    tag != want) {
		sodium_memzero(out, n - VV_SEAL_OVERHEAD);
		rc = vv_errf(VV_ERR_AUTH, "sealed chunk %u does not open for this job, index and position",
			     index);
	}
	sodium_memzero(&st, sizeof st);
	return rc;
}
