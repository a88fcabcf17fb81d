/*
 * varvault c4gh: GA4GH Crypt4GH version 1 on libsodium.
 *
 * Key files (crypt4gh formats), header parsing and unwrapping, a streaming
 * segment decryptor and encryptor, and whole-stream helpers.  The header step
 * (X25519 with a long-term secret key) and the data step (ChaCha20-Poly1305
 * with the data keys it yields) are separate, so that a process holding the
 * secret key can hand a worker nothing but the data keys and the edit list.
 * docs/c4gh.md describes the policies for the cases the specification leaves
 * open.
 *
 * Errors: every function returns 0 or a negative VV_ERR_* (core.h) and
 * records a detail with vv_errf() that names the place (key file, header
 * packet, segment and offset), never key bytes or plaintext.
 *
 * Threads: no object is shared.  Distinct objects may be used at the same
 * time from different threads; one object from one thread at a time.  A
 * const object (a secret key, a parsed header) may be read by several
 * threads at once.  Call vv_core_init() before any function here.
 */
#ifndef VARVAULT_C4GH_H
#define VARVAULT_C4GH_H

#include <stddef.h>
#include <stdint.h>

#include "varvault/core.h"

#define VV_C4GH_KEY_LEN 32            /* X25519 keys and data keys */
#define VV_C4GH_SEGMENT_LEN 65536     /* plaintext bytes per data segment */
#define VV_C4GH_SEGMENT_CT_LEN 65564  /* nonce(12) + segment + MAC(16) */
#define VV_C4GH_MAX_PACKETS 1024      /* header packets accepted */
#define VV_C4GH_MAX_PACKET_LEN (1u << 20) /* bytes in one header packet */
#define VV_C4GH_MAX_HEADER_LEN (16u << 20) /* bytes in a whole header */
#define VV_C4GH_MAX_RECIPIENTS 256    /* recipients of one encryption */
#define VV_C4GH_KEYFILE_MAX 65536     /* bytes in a key file */
#define VV_C4GH_PUBKEY_TEXT_MAX 128   /* armored public key, with its NUL */

/*
 * Receives output bytes: plaintext from a decryptor, ciphertext from an
 * encryptor.  Plaintext points into the decryptor's secure memory and is
 * valid only during the call; copy it into secure memory (vv_sbuf) if kept.
 * Returns 0, or a negative VV_ERR_* that stops the stream and is returned
 * by the function that called it.
 */
typedef int (*vv_c4gh_sink_fn)(void *ctx, const uint8_t *p, size_t n);

/* ---- keys ---------------------------------------------------------------- */

/* An X25519 secret key and its public key, held in sodium_malloc memory. */
typedef struct vv_c4gh_seckey vv_c4gh_seckey;

/* Makes a fresh random key.  Returns 0 and *out (caller frees with
 * vv_c4gh_seckey_free), or VV_ERR_NOMEM with *out NULL. */
VV_EXPORT int vv_c4gh_seckey_generate(vv_c4gh_seckey **out) VV_MUST_CHECK;

/* Wraps 32 raw secret bytes (copied; the public key is derived).  Returns 0
 * and *out (caller frees), or VV_ERR_NOMEM with *out NULL. */
VV_EXPORT int vv_c4gh_seckey_from_raw(const uint8_t sk[VV_C4GH_KEY_LEN],
				      vv_c4gh_seckey **out) VV_MUST_CHECK;

/*
 * Parses an armored `c4gh-v1` private key from text[0..len).  kdf `none`
 * needs no passphrase; `scrypt` (N=2^14, r=8, p=1) and `pbkdf2_hmac_sha256`
 * need pass[0..passlen) (UTF-8, no newline).  pass may be NULL: a protected
 * key then fails with VV_ERR_KEY_NEEDPASS after the whole file was checked,
 * so a caller can ask for a passphrase only when one is needed.
 * Returns 0 and *out (caller frees), or with *out NULL:
 *   VV_ERR_KEY_FORMAT     not an armored c4gh-v1 key, or a field is malformed
 *   VV_ERR_KEY_KDF        bcrypt or another KDF (the detail says how to
 *                         re-protect the key)
 *   VV_ERR_KEY_CIPHER     a cipher other than chacha20_poly1305
 *   VV_ERR_UNSUPPORTED    an OpenSSH key
 *   VV_ERR_KEY_NEEDPASS   protected and pass is NULL
 *   VV_ERR_KEY_PASSPHRASE wrong passphrase, or the encrypted key was altered
 *   VV_ERR_NOMEM, VV_ERR_INTERNAL
 */
VV_EXPORT int vv_c4gh_seckey_parse(const char *text, size_t len, const char *pass,
				   size_t passlen, vv_c4gh_seckey **out) VV_MUST_CHECK;

/* vv_c4gh_seckey_parse() on the file at path (at most VV_C4GH_KEYFILE_MAX
 * bytes, read into secure memory).  Errors as above, plus VV_ERR_IO and
 * VV_ERR_RANGE; the detail starts with the path. */
VV_EXPORT int vv_c4gh_seckey_load(const char *path, const char *pass, size_t passlen,
				  vv_c4gh_seckey **out) VV_MUST_CHECK;

/*
 * Writes k as an armored c4gh-v1 private key into out (a secure buffer; its
 * contents are replaced).  With pass not NULL the key is protected with
 * scrypt and chacha20_poly1305, as the reference keygen does (an empty
 * passphrase is the caller's choice); with pass NULL it is written
 * unprotected (kdf none).  comment may be NULL.  Returns 0, or
 * VV_ERR_NOMEM / VV_ERR_RANGE / VV_ERR_INTERNAL with out emptied.
 */
VV_EXPORT int vv_c4gh_seckey_write(const vv_c4gh_seckey *k, const char *pass, size_t passlen,
				   const char *comment, vv_sbuf *out) VV_MUST_CHECK;

/* Copies the public key of k into pk. */
VV_EXPORT void vv_c4gh_seckey_pubkey(const vv_c4gh_seckey *k, uint8_t pk[VV_C4GH_KEY_LEN]);

/* Wipes and frees k.  NULL-safe. */
VV_EXPORT void vv_c4gh_seckey_free(vv_c4gh_seckey *k);

/* Parses an armored Crypt4GH public key (exactly 32 bytes once decoded).
 * Returns 0, VV_ERR_KEY_FORMAT, or VV_ERR_UNSUPPORTED for an OpenSSH key;
 * pk is zeroed on failure. */
VV_EXPORT int vv_c4gh_pubkey_parse(const char *text, size_t len,
				   uint8_t pk[VV_C4GH_KEY_LEN]) VV_MUST_CHECK;

/* vv_c4gh_pubkey_parse() on a file; adds VV_ERR_IO, VV_ERR_RANGE. */
VV_EXPORT int vv_c4gh_pubkey_load(const char *path, uint8_t pk[VV_C4GH_KEY_LEN]) VV_MUST_CHECK;

/* Writes pk armored, as the reference does, NUL-terminated, into
 * out[0..outsize); VV_C4GH_PUBKEY_TEXT_MAX bytes always suffice.  Returns 0
 * or VV_ERR_RANGE. */
VV_EXPORT int vv_c4gh_pubkey_format(const uint8_t pk[VV_C4GH_KEY_LEN], char *out,
				    size_t outsize) VV_MUST_CHECK;

/* ---- header: the X25519 step ---------------------------------------------- */

/* A parsed header: the data keys recovered (sodium_malloc), the edit list
 * if there was one, and the header's length in bytes. */
typedef struct vv_c4gh_header vv_c4gh_header;

/*
 * Measures the header at the start of buf[0..len) without decrypting.
 * Returns 0 with *hdrlen = the header's length when all of it is in buf;
 * 1 with *hdrlen = how many bytes buf must hold before the next call can
 * tell more (read up to that many and call again); or, on a header that is
 * not acceptable whatever follows, VV_ERR_C4GH_MAGIC, VV_ERR_C4GH_VERSION or
 * VV_ERR_C4GH_HEADER (a packet or the whole header over the VV_C4GH_MAX_*
 * limits, a packet too short to be one).
 */
VV_EXPORT int vv_c4gh_header_span(const uint8_t *buf, size_t len, size_t *hdrlen) VV_MUST_CHECK;

/*
 * Parses the header at the start of buf[0..len) (bytes after the header are
 * not read) and decrypts every packet that sk can open.  Packets for other
 * keys, with an unknown packet method, or (when writer_pk is not NULL) from
 * another writer are skipped.  Every packet that opens must carry the same
 * writer key (docs/c4gh.md).  Returns 0 and *out (caller frees with
 * vv_c4gh_header_free), or with *out NULL:
 *   VV_ERR_C4GH_MAGIC, VV_ERR_C4GH_VERSION
 *   VV_ERR_C4GH_HEADER    malformed or truncated header, a malformed packet,
 *                         or packets for sk from two writer keys
 *   VV_ERR_C4GH_NOKEY     no packet opens with sk (another recipient's file,
 *                         or the packet was altered: the two look the same)
 *   VV_ERR_C4GH_WRITER    writer_pk given and no packet comes from it
 *   VV_ERR_C4GH_METHOD    every packet uses an unknown method, or an opened
 *                         packet has an unknown type or data method
 *   VV_ERR_C4GH_EDITLIST  an empty edit list, or a second one
 *   VV_ERR_NOMEM
 */
VV_EXPORT int vv_c4gh_header_parse(const uint8_t *buf, size_t len, const vv_c4gh_seckey *sk,
				   const uint8_t *writer_pk, vv_c4gh_header **out) VV_MUST_CHECK;

/* Reads exactly one header from fd (never past its end, so fd is left at
 * the first data segment; fd may be a pipe) and parses it as above.
 * Adds VV_ERR_IO (errno kept). */
VV_EXPORT int vv_c4gh_header_read(int fd, const vv_c4gh_seckey *sk, const uint8_t *writer_pk,
				  vv_c4gh_header **out) VV_MUST_CHECK;

/* The header's length in bytes: where the data segments start. */
VV_EXPORT size_t vv_c4gh_header_length(const vv_c4gh_header *h);
/* How many distinct data keys were recovered (at least 1). */
VV_EXPORT size_t vv_c4gh_header_nkeys(const vv_c4gh_header *h);
/* The keys, nkeys * 32 bytes in secure memory owned by h (valid until
 * vv_c4gh_header_free). */
VV_EXPORT const uint8_t *vv_c4gh_header_keys(const vv_c4gh_header *h);
/* The edit list (owned by h) and its count in *n; NULL and 0 without one. */
VV_EXPORT const uint64_t *vv_c4gh_header_editlist(const vv_c4gh_header *h, size_t *n);
/* Wipes and frees h.  NULL-safe. */
VV_EXPORT void vv_c4gh_header_free(vv_c4gh_header *h);

/* ---- data segments: the ChaCha20-Poly1305 step ----------------------------- */

/* Turns ciphertext segments into plaintext, holding at most one segment. */
typedef struct vv_c4gh_decryptor vv_c4gh_decryptor;

/*
 * Makes a decryptor from nkeys data keys (keys[0 .. nkeys*32), copied into
 * secure memory) and an edit list (edits[0..nedits), copied; nedits 0 for
 * none).  Every segment is authenticated, also those the edit list skips.
 * Returns 0 and *out (caller frees), VV_ERR_INVAL (no key, or more than
 * VV_C4GH_MAX_PACKETS), or VV_ERR_NOMEM; *out NULL on failure.
 */
VV_EXPORT int vv_c4gh_decryptor_new(const uint8_t *keys, size_t nkeys, const uint64_t *edits,
				    size_t nedits, vv_c4gh_decryptor **out) VV_MUST_CHECK;

/* The same with the keys and edit list of a parsed header. */
VV_EXPORT int vv_c4gh_decryptor_from_header(const vv_c4gh_header *h,
					    vv_c4gh_decryptor **out) VV_MUST_CHECK;

/*
 * Feeds ct[0..n), the data part of the stream in any pieces, and hands each
 * authenticated segment's kept plaintext to sink.  What sink receives is
 * PROVISIONAL until vv_c4gh_decryptor_final() returns 0: a later segment may
 * fail, and the consumer must then discard what it got (the whole-stream
 * helpers below do that).  Returns 0, the sink's error, or:
 *   VV_ERR_C4GH_SEGMENT   a whole segment fails authentication under every
 *                         key (detail: "segment N (offset X)", N from 0, X
 *                         counted from the first data byte here and from the
 *                         start of the file in the whole-stream helpers)
 * After a failure the decryptor has wiped its plaintext and returns the same
 * error from every later call.
 */
VV_EXPORT int vv_c4gh_decryptor_update(vv_c4gh_decryptor *d, const uint8_t *ct, size_t n,
				       vv_c4gh_sink_fn sink, void *ctx) VV_MUST_CHECK;

/*
 * Ends the stream: decrypts the last, shorter segment if any.  Returns 0 or
 * the errors of update, plus:
 *   VV_ERR_C4GH_TRUNCATED the stream ends inside a segment: fewer than 28
 *                         bytes left, or a final short segment that does not
 *                         authenticate (truncated, or altered: the two look
 *                         the same)
 *   VV_ERR_UNSUPPORTED    an authentic but empty (28-byte) final segment,
 *                         refused by policy (docs/c4gh.md)
 * A stream that ends exactly at a segment boundary is accepted: the format
 * cannot tell that a whole final segment was cut off.
 */
VV_EXPORT int vv_c4gh_decryptor_final(vv_c4gh_decryptor *d, vv_c4gh_sink_fn sink,
				      void *ctx) VV_MUST_CHECK;

/* Plaintext bytes handed to sinks so far (after the edit list). */
VV_EXPORT uint64_t vv_c4gh_decryptor_output(const vv_c4gh_decryptor *d);

/* Wipes and frees d.  NULL-safe. */
VV_EXPORT void vv_c4gh_decryptor_free(vv_c4gh_decryptor *d);

/* ---- encryption ------------------------------------------------------------ */

typedef struct vv_c4gh_encryptor vv_c4gh_encryptor;

/*
 * Makes an encryptor to nrecipients public keys (recipients[0 .. n*32),
 * duplicates merged).  The header packets are written by sender, or by a
 * fresh ephemeral key when sender is NULL.  edits (nedits > 0) adds an edit
 * list packet per recipient; NULL and 0 for none.  A fresh random data key
 * is used.  Returns 0 and *out (caller frees), or with *out NULL:
 * VV_ERR_INVAL (no recipient, too many, or an empty edit list),
 * VV_ERR_KEY_FORMAT (a recipient key is a low-order point), VV_ERR_NOMEM.
 */
VV_EXPORT int vv_c4gh_encryptor_new(const vv_c4gh_seckey *sender, const uint8_t *recipients,
				    size_t nrecipients, const uint64_t *edits, size_t nedits,
				    vv_c4gh_encryptor **out) VV_MUST_CHECK;

/* Feeds plaintext; sink receives the header first, then each full segment.
 * Returns 0 or the sink's error. */
VV_EXPORT int vv_c4gh_encryptor_update(vv_c4gh_encryptor *e, const uint8_t *p, size_t n,
				       vv_c4gh_sink_fn sink, void *ctx) VV_MUST_CHECK;

/* Writes what is left: the header if nothing was written yet (an empty
 * plaintext gives a header and no segment) and the last short segment. */
VV_EXPORT int vv_c4gh_encryptor_final(vv_c4gh_encryptor *e, vv_c4gh_sink_fn sink,
				      void *ctx) VV_MUST_CHECK;

/* Wipes and frees e.  NULL-safe. */
VV_EXPORT void vv_c4gh_encryptor_free(vv_c4gh_encryptor *e);

/* ---- whole streams --------------------------------------------------------- */

/*
 * Decrypts the whole Crypt4GH stream on fd (header, then segments until EOF)
 * with sk, optionally requiring writer_pk.  Plaintext goes to sink and is
 * provisional until 0 is returned (see vv_c4gh_decryptor_update).  Returns
 * 0 or any error of the header and decryptor functions, or VV_ERR_IO.
 */
VV_EXPORT int vv_c4gh_decrypt_fd(int fd, const vv_c4gh_seckey *sk, const uint8_t *writer_pk,
				 vv_c4gh_sink_fn sink, void *ctx) VV_MUST_CHECK;

/*
 * Decrypts the whole stream ct[0..n) into out, a secure buffer whose earlier
 * contents are wiped on entry (its max bounds the output: VV_ERR_RANGE past
 * it).  Nothing is handed on from a failing stream: on failure out is wiped
 * and empty.
 */
VV_EXPORT int vv_c4gh_decrypt_mem(const uint8_t *ct, size_t n, const vv_c4gh_seckey *sk,
				  const uint8_t *writer_pk, vv_sbuf *out) VV_MUST_CHECK;

/* Encrypts everything readable from fd until EOF and hands the Crypt4GH
 * stream to sink.  Arguments as vv_c4gh_encryptor_new.  Returns 0, the
 * encryptor's errors, or VV_ERR_IO. */
VV_EXPORT int vv_c4gh_encrypt_fd(int fd, const vv_c4gh_seckey *sender, const uint8_t *recipients,
				 size_t nrecipients, vv_c4gh_sink_fn sink, void *ctx) VV_MUST_CHECK;

#endif /* VARVAULT_C4GH_H */
