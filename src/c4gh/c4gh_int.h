/* Private to src/c4gh: format constants, byte-order helpers, the key
 * structure and the packet and segment primitives that the header, stream
 * and test code share. */
#ifndef VARVAULT_C4GH_INT_H
#define VARVAULT_C4GH_INT_H

#include "varvault/c4gh.h"

#include <stdbool.h>

#define C4GH_MAGIC "crypt4gh"
#define C4GH_PREAMBLE_LEN 16  /* magic(8) + version(4) + packet count(4) */
#define C4GH_NONCE_LEN 12
#define C4GH_MAC_LEN 16
/* packet_length(4) + enc_method(4) + writer_pubkey(32) + nonce(12) */
#define C4GH_PACKET_CLEAR_LEN 52
#define C4GH_PACKET_MIN_LEN (C4GH_PACKET_CLEAR_LEN + C4GH_MAC_LEN)
#define C4GH_SEGMENT_OVERHEAD (C4GH_NONCE_LEN + C4GH_MAC_LEN)

/* Packet methods and types (all 0 or 1 in version 1). */
#define C4GH_METHOD_X25519_CHACHA20 0u
#define C4GH_PACKET_DATA_KEY 0u
#define C4GH_PACKET_EDIT_LIST 1u
#define C4GH_DATA_CHACHA20_IETF 0u
#define C4GH_DATA_KEY_PAYLOAD_LEN 40  /* type(4) + method(4) + key(32) */

struct vv_c4gh_seckey {
	uint8_t sk[VV_C4GH_KEY_LEN];
	uint8_t pk[VV_C4GH_KEY_LEN];
};

static inline uint32_t c4gh_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t c4gh_le64(const uint8_t *p)
{
	return (uint64_t)c4gh_le32(p) | (uint64_t)c4gh_le32(p + 4) << 32;
}

static inline void c4gh_put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline void c4gh_put_le64(uint8_t *p, uint64_t v)
{
	c4gh_put_le32(p, (uint32_t)v);
	c4gh_put_le32(p + 4, (uint32_t)(v >> 32));
}

/*
 * Appends to out one header packet carrying payload[0..n) for recipient_pk,
 * written by writer (X25519 + BLAKE2b-512 shared key, ChaCha20-Poly1305).
 * pad zero bytes are encrypted after the payload (the format allows
 * padding; tests use it).  Returns 0, VV_ERR_KEY_FORMAT (low-order
 * recipient key), VV_ERR_RANGE or VV_ERR_NOMEM.
 */
int vv_c4gh_packet_seal(const vv_c4gh_seckey *writer, const uint8_t recipient_pk[VV_C4GH_KEY_LEN],
		     const uint8_t *payload, size_t n, size_t pad, vv_sbuf *out) VV_MUST_CHECK;

/* Appends one data segment: a random nonce, plain[0..n) encrypted with key,
 * the MAC.  n may be 0 (tests use it).  Returns 0 or VV_ERR_NOMEM/RANGE. */
int vv_c4gh_segment_seal(const uint8_t key[VV_C4GH_KEY_LEN], const uint8_t *plain, size_t n,
		      vv_sbuf *out) VV_MUST_CHECK;

/* Reads from fd into buf until n bytes or EOF; *got says how many.
 * Returns 0 or VV_ERR_IO (errno kept). */
int vv_c4gh_read_full(int fd, uint8_t *buf, size_t n, size_t *got) VV_MUST_CHECK;

/* Writes a printable, bounded rendering of an untrusted name from a file
 * (a KDF or cipher name) into out, for error details. */
void vv_c4gh_safe_name(const uint8_t *p, size_t n, char *out, size_t outsize);

#endif /* VARVAULT_C4GH_INT_H */
