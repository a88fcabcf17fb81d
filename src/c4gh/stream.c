/* Crypt4GH data segments: the streaming decryptor and encryptor, and the
 * whole-stream helpers over file descriptors and memory. */
#include "c4gh_int.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define SEG_LEN VV_C4GH_SEGMENT_LEN
#define SEG_CT_LEN VV_C4GH_SEGMENT_CT_LEN
/* Bytes read from a descriptor at a time: whole segments. */
#define READ_CHUNK (4 * (size_t)SEG_CT_LEN)

/* A byte stream cut into blocks of bs bytes (segments): the partial block
 * gathered so far. */
struct blocks {
	uint8_t *buf;        /* bs bytes */
	size_t have;         /* bytes in buf */
	size_t bs;
};

/* Handles one whole block of a stream. */
typedef int (*block_fn)(void *obj, const uint8_t *block, vv_c4gh_sink_fn sink, void *ctx);

struct vv_c4gh_decryptor {
	uint8_t *keys;       /* nkeys * 32, secure memory */
	size_t nkeys;
	size_t last_key;     /* the key that opened the previous segment: tried first */
	uint64_t *edits;     /* the edit list (copied), or NULL */
	size_t nedits;
	size_t ei;           /* the edit list entry in force; even: skip, odd: keep */
	uint64_t left;       /* bytes left in that entry */
	struct blocks in;    /* one ciphertext segment being gathered */
	uint8_t *pt;         /* one plaintext segment, secure memory */
	uint64_t segno;      /* segments opened so far */
	uint64_t base;       /* added to offsets in messages (the header length) */
	uint64_t output;     /* plaintext bytes handed to sinks */
	int err;             /* the first failure, returned ever after */
	bool finished;
};

struct vv_c4gh_encryptor {
	vv_sbuf header;      /* the whole header, sent before the first segment */
	bool header_sent;
	uint8_t *key;        /* the data key, secure memory */
	struct blocks in;    /* one plaintext segment being gathered, secure memory */
	uint8_t *ct;         /* one sealed segment */
	int err;
	bool finished;
};

/* Feeds p[0..n) to fn a block at a time: whole blocks straight from p (no
 * copy), the rest gathered in b until a block is complete. */
static int blocks_feed(struct blocks *b, const uint8_t *p, size_t n, block_fn fn, void *obj,
		       vv_c4gh_sink_fn sink, void *ctx)
{
	int rc;

	while (n) {
		size_t take;

		if (b->have == 0 && n >= b->bs) {
			if ((rc = fn(obj, p, sink, ctx)) != 0)
				return rc;
			p += b->bs;
			n -= b->bs;
			continue;
		}
		take = b->bs - b->have < n ? b->bs - b->have : n;
		memcpy(b->buf + b->have, p, take);
		b->have += take;
		p += take;
		n -= take;
		if (b->have == b->bs) {
			b->have = 0;
			if ((rc = fn(obj, b->buf, sink, ctx)) != 0)
				return rc;
		}
	}
	return 0;
}

/* ---- decryption ------------------------------------------------------------- */

void vv_c4gh_decryptor_free(vv_c4gh_decryptor *d)
{
	if (!d)
		return;
	if (d->keys)
		sodium_free(d->keys);
	if (d->pt)
		sodium_free(d->pt);
	free(d->in.buf);
	/* The edit list says which regions a reader gets: wiped like the header's. */
	if (d->edits)
		sodium_memzero(d->edits, d->nedits * sizeof *d->edits);
	free(d->edits);
	free(d);
}

/* Skips the zero-length entries of the edit list. */
static void edits_settle(vv_c4gh_decryptor *d)
{
	while (d->ei < d->nedits && d->left == 0)
		if (++d->ei < d->nedits)
			d->left = d->edits[d->ei];
}

int vv_c4gh_decryptor_new(const uint8_t *keys, size_t nkeys, const uint64_t *edits, size_t nedits,
			  vv_c4gh_decryptor **out)
{
	vv_c4gh_decryptor *d;

	*out = NULL;
	if (nkeys == 0 || nkeys > VV_C4GH_MAX_PACKETS || (nedits && !edits))
		return vv_errf(VV_ERR_INVAL, "decryptor: %zu data keys, %zu edits", nkeys, nedits);
	if (nedits > SIZE_MAX / sizeof *edits)
		return vv_errf(VV_ERR_RANGE, "decryptor: edit list too long");
	if ((d = calloc(1, sizeof *d)) == NULL)
		return vv_errf(VV_ERR_NOMEM, "decryptor");
	d->keys = sodium_malloc(nkeys * VV_C4GH_KEY_LEN);
	d->pt = sodium_malloc(SEG_LEN);
	d->in.buf = malloc(SEG_CT_LEN);
	d->in.bs = SEG_CT_LEN;
	if (nedits)
		d->edits = malloc(nedits * sizeof *edits);
	if (!d->keys || !d->pt || !d->in.buf || (nedits && !d->edits)) {
		vv_c4gh_decryptor_free(d);
		return vv_errf(VV_ERR_NOMEM, "decryptor: keys, buffers and edit list");
	}
	memcpy(d->keys, keys, nkeys * VV_C4GH_KEY_LEN);
	d->nkeys = nkeys;
	if (nedits) {
		memcpy(d->edits, edits, nedits * sizeof *edits);
		d->nedits = nedits;
		d->left = edits[0];
		edits_settle(d);
	}
	*out = d;
	return 0;
}

int vv_c4gh_decryptor_from_header(const vv_c4gh_header *h, vv_c4gh_decryptor **out)
{
	size_t nedits;
	const uint64_t *edits = vv_c4gh_header_editlist(h, &nedits);

	return vv_c4gh_decryptor_new(vv_c4gh_header_keys(h), vv_c4gh_header_nkeys(h), edits, nedits,
				     out);
}

/* Records the first failure and wipes every plaintext byte the decryptor
 * holds, so that nothing of a failing stream survives in it. */
static int dec_fail(vv_c4gh_decryptor *d, int rc)
{
	d->err = rc;
	sodium_memzero(d->pt, SEG_LEN);
	d->in.have = 0;
	return rc;
}

/* Hands the kept part of one plaintext segment to sink, as the edit list
 * says: lengths alternate skip, keep, ...; after the last entry an odd
 * list keeps the rest and an even one drops it. */
static int emit(vv_c4gh_decryptor *d, const uint8_t *p, size_t n, vv_c4gh_sink_fn sink, void *ctx)
{
	while (n) {
		size_t take = n;
		bool keep = true;
		int rc;

		if (d->ei < d->nedits) {
			if (d->left < take)
				take = (size_t)d->left;
			keep = d->ei % 2 == 1;
			d->left -= take;
		} else if (d->nedits && d->nedits % 2 == 0) {
			return 0;
		}
		if (keep) {
			if ((rc = sink(ctx, p, take)) != 0)
				return rc;
			d->output += take;
		}
		p += take;
		n -= take;
		edits_settle(d);
	}
	return 0;
}

/* Opens one segment ct[0..n) under any of the keys and emits it.  Every
 * segment is authenticated, also one the edit list skips entirely. */
static int open_segment(vv_c4gh_decryptor *d, const uint8_t *ct, size_t n, bool final,
			vv_c4gh_sink_fn sink, void *ctx)
{
	uint64_t offset = d->base + d->segno * SEG_CT_LEN;
	unsigned long long m = 0;
	size_t k = d->last_key;
	bool opened = false;
	int rc;

	for (size_t t = 0; t < d->nkeys && !opened; t++) {
		opened = crypto_aead_chacha20poly1305_ietf_decrypt(d->pt, &m, NULL, ct + C4GH_NONCE_LEN,
							      n - C4GH_NONCE_LEN, NULL, 0, ct,
								   d->keys + k * VV_C4GH_KEY_LEN) == 0;
		if (!opened)
			k = (k + 1) % d->nkeys;
	}
	if (!opened && !final)
		return dec_fail(d, vv_errf(VV_ERR_C4GH_SEGMENT,
					   "segment %llu (offset %llu): authentication failed under "
					   "%zu data key(s): the segment was altered",
					   (unsigned long long)d->segno, (unsigned long long)offset,
					   d->nkeys));
	if (!opened)
	return dec_fail(d, vv_errf(VV_ERR_C4GH_TRUNCATED,
				   "segment %llu (offset %llu): the final %zu bytes do not "
				   "authenticate: the stream ends inside this segment, or it was altered",
				   (unsigned long long)d->segno, (unsigned long long)offset, n));
	d->last_key = k;
	if (m == 0)
		return dec_fail(d, vv_errf(VV_ERR_UNSUPPORTED,
					   "segment %llu (offset %llu): an empty final segment "
					   "(refused; see docs/c4gh.md)",
					   (unsigned long long)d->segno, (unsigned long long)offset));
	d->segno++;
	if ((rc = emit(d, d->pt, (size_t)m, sink, ctx)) != 0)
		return dec_fail(d, rc);
	return 0;
}

/* A whole (not final) segment. */
static int open_full_segment(void *d, const uint8_t *ct, vv_c4gh_sink_fn sink, void *ctx)
{
	return open_segment(d, ct, SEG_CT_LEN, false, sink, ctx);
}

int vv_c4gh_decryptor_update(vv_c4gh_decryptor *d, const uint8_t *ct, size_t n,
			     vv_c4gh_sink_fn sink, void *ctx)
{
	if (d->err)
		return d->err;
	if (d->finished)
		return vv_errf(VV_ERR_INVAL, "decryptor: data after the end of the stream");
	return blocks_feed(&d->in, ct, n, open_full_segment, d, sink, ctx);
}

int vv_c4gh_decryptor_final(vv_c4gh_decryptor *d, vv_c4gh_sink_fn sink, void *ctx)
{
	size_t have = d->in.have;

	if (d->err)
		return d->err;
	if (d->finished)
		return 0;
	d->finished = true;
	d->in.have = 0;
	if (have == 0)
		return 0;
	if (have < C4GH_SEGMENT_OVERHEAD)
		return dec_fail(d, vv_errf(VV_ERR_C4GH_TRUNCATED,
					   "segment %llu (offset %llu): the stream ends %zu bytes into "
					   "it (a segment has at least %d)",
					   (unsigned long long)d->segno,
					   (unsigned long long)(d->base + d->segno * SEG_CT_LEN), have,
					   C4GH_SEGMENT_OVERHEAD));
	return open_segment(d, d->in.buf, have, true, sink, ctx);
}

uint64_t vv_c4gh_decryptor_output(const vv_c4gh_decryptor *d)
{
	return d->output;
}

/* ---- encryption ------------------------------------------------------------- */

/* Seals plain[0..n) into ct[0 .. n+28): nonce, ciphertext, MAC. */
static void seal(uint8_t *ct, const uint8_t *key, const uint8_t *plain, size_t n)
{
	randombytes_buf(ct, C4GH_NONCE_LEN);
	crypto_aead_chacha20poly1305_ietf_encrypt(ct + C4GH_NONCE_LEN, NULL, plain, n, NULL, 0, NULL,
						  ct, key);
}

int vv_c4gh_segment_seal(const uint8_t key[VV_C4GH_KEY_LEN], const uint8_t *plain, size_t n,
			 vv_sbuf *out)
{
	int rc;

	if (n > SEG_LEN)
		return vv_errf(VV_ERR_RANGE, "segment of %zu bytes", n);
	if ((rc = vv_sbuf_reserve(out, n + C4GH_SEGMENT_OVERHEAD)) != 0)
		return rc;
	seal(out->data + out->len, key, plain, n);
	out->len += n + C4GH_SEGMENT_OVERHEAD;
	return 0;
}

void vv_c4gh_encryptor_free(vv_c4gh_encryptor *e)
{
	if (!e)
		return;
	vv_sbuf_done(&e->header);
	if (e->key)
		sodium_free(e->key);
	if (e->in.buf)
		sodium_free(e->in.buf);
	free(e->ct);
	free(e);
}

/* Builds the header: for each distinct recipient a data key packet and,
 * with an edit list, an edit list packet. */
static int build_header(vv_c4gh_encryptor *e, const vv_c4gh_seckey *writer,
			const uint8_t *recipients, size_t nrecipients, const uint64_t *edits,
			size_t nedits)
{
	vv_sbuf keyp, editp;
	uint8_t pre[C4GH_PREAMBLE_LEN], word[8];
	uint32_t count = 0;
	int rc;

	vv_sbuf_init(&keyp, C4GH_DATA_KEY_PAYLOAD_LEN);
	vv_sbuf_init(&editp, VV_C4GH_MAX_PACKET_LEN);
	c4gh_put_le32(word, C4GH_PACKET_DATA_KEY);
	c4gh_put_le32(word + 4, C4GH_DATA_CHACHA20_IETF);
	if ((rc = vv_sbuf_append(&keyp, word, 8)) != 0 ||
	    (rc = vv_sbuf_append(&keyp, e->key, VV_C4GH_KEY_LEN)) != 0)
		goto out;
	if (nedits) {
		c4gh_put_le32(word, C4GH_PACKET_EDIT_LIST);
		c4gh_put_le32(word + 4, (uint32_t)nedits);
		if ((rc = vv_sbuf_append(&editp, word, 8)) != 0)
			goto out;
		for (size_t i = 0; i < nedits; i++) {
			c4gh_put_le64(word, edits[i]);
			if ((rc = vv_sbuf_append(&editp, word, 8)) != 0)
				goto out;
		}
	}
	memcpy(pre, C4GH_MAGIC, 8);
	c4gh_put_le32(pre + 8, 1);
	if ((rc = vv_sbuf_append(&e->header, pre, sizeof pre)) != 0)
		goto out;
	for (size_t r = 0; r < nrecipients; r++) {
		const uint8_t *pk = recipients + r * VV_C4GH_KEY_LEN;
		bool seen = false;
		for (size_t q = 0; q < r && !seen; q++)
			seen = memcmp(recipients + q * VV_C4GH_KEY_LEN, pk, VV_C4GH_KEY_LEN) == 0;
		if (seen)
			continue;
		if ((rc = vv_c4gh_packet_seal(writer, pk, keyp.data, keyp.len, 0, &e->header)) != 0)
			goto out;
		count++;
		if (nedits && (rc = vv_c4gh_packet_seal(writer, pk, editp.data, editp.len, 0, &e->header)) != 0)
			goto out;
		count += nedits ? 1 : 0;
	}
	c4gh_put_le32(e->header.data + 12, count);
out:
	vv_sbuf_done(&keyp);
	vv_sbuf_done(&editp);
	return rc;
}

int vv_c4gh_encryptor_new(const vv_c4gh_seckey *sender, const uint8_t *recipients,
			  size_t nrecipients, const uint64_t *edits, size_t nedits,
			  vv_c4gh_encryptor **out)
{
	vv_c4gh_seckey *ephemeral = NULL;
	vv_c4gh_encryptor *e;
	int rc;

	*out = NULL;
	if (nrecipients == 0 || nrecipients > VV_C4GH_MAX_RECIPIENTS)
		return vv_errf(VV_ERR_INVAL, "%zu recipients (1..%d)", nrecipients, VV_C4GH_MAX_RECIPIENTS);
	if ((nedits && !edits) || (edits && !nedits))
		return vv_errf(VV_ERR_INVAL, "an edit list needs at least one length");
	if (nedits > (VV_C4GH_MAX_PACKET_LEN - C4GH_PACKET_MIN_LEN - 8) / 8)
		return vv_errf(VV_ERR_INVAL, "an edit list of %zu lengths is too long", nedits);
	if ((e = calloc(1, sizeof *e)) == NULL)
		return vv_errf(VV_ERR_NOMEM, "encryptor");
	vv_sbuf_init(&e->header, VV_C4GH_MAX_HEADER_LEN);
	e->key = sodium_malloc(VV_C4GH_KEY_LEN);
	e->in.buf = sodium_malloc(SEG_LEN);
	e->in.bs = SEG_LEN;
	e->ct = malloc(SEG_CT_LEN);
	if (!e->key || !e->in.buf || !e->ct) {
		rc = vv_errf(VV_ERR_NOMEM, "encryptor: key and buffers");
		goto out;
	}
	crypto_aead_chacha20poly1305_ietf_keygen(e->key);
	if (!sender && (rc = vv_c4gh_seckey_generate(&ephemeral)) != 0)
		goto out;
	rc = build_header(e, sender ? sender : ephemeral, recipients, nrecipients, edits, nedits);
out:
	vv_c4gh_seckey_free(ephemeral);
	if (rc) {
		vv_c4gh_encryptor_free(e);
		return rc;
	}
	*out = e;
	return 0;
}

static int enc_send_header(vv_c4gh_encryptor *e, vv_c4gh_sink_fn sink, void *ctx)
{
	if (e->header_sent)
		return 0;
	e->header_sent = true;
	return sink(ctx, e->header.data, e->header.len);
}

/* Seals and sends one segment. */
static int enc_segment(vv_c4gh_encryptor *e, const uint8_t *p, size_t n, vv_c4gh_sink_fn sink,
		       void *ctx)
{
	seal(e->ct, e->key, p, n);
	return sink(ctx, e->ct, n + C4GH_SEGMENT_OVERHEAD);
}

/* A full segment goes at once: a plaintext of k*65536 bytes gives k
 * segments and no empty one after them. */
static int enc_full_segment(void *e, const uint8_t *p, vv_c4gh_sink_fn sink, void *ctx)
{
	return enc_segment(e, p, SEG_LEN, sink, ctx);
}

int vv_c4gh_encryptor_update(vv_c4gh_encryptor *e, const uint8_t *p, size_t n,
			     vv_c4gh_sink_fn sink, void *ctx)
{
	int rc;

	if (e->err)
		return e->err;
	if (e->finished)
		return vv_errf(VV_ERR_INVAL, "encryptor: data after the end of the stream");
	if ((rc = enc_send_header(e, sink, ctx)) != 0 ||
	    (rc = blocks_feed(&e->in, p, n, enc_full_segment, e, sink, ctx)) != 0)
		return e->err = rc;
	return 0;
}

int vv_c4gh_encryptor_final(vv_c4gh_encryptor *e, vv_c4gh_sink_fn sink, void *ctx)
{
	int rc;

	if (e->err)
		return e->err;
	if (e->finished)
		return 0;
	e->finished = true;
	if ((rc = enc_send_header(e, sink, ctx)) != 0)
		return e->err = rc;
	if (e->in.have && (rc = enc_segment(e, e->in.buf, e->in.have, sink, ctx)) != 0)
		return e->err = rc;
	sodium_memzero(e->in.buf, SEG_LEN);
	e->in.have = 0;
	return 0;
}

/* ---- whole streams ---------------------------------------------------------- */

int vv_c4gh_decrypt_fd(int fd, const vv_c4gh_seckey *sk, const uint8_t *writer_pk,
		       vv_c4gh_sink_fn sink, void *ctx)
{
	vv_c4gh_header *h = NULL;
	vv_c4gh_decryptor *d = NULL;
	uint8_t *buf = NULL;
	size_t got;
	int rc;

	if ((rc = vv_c4gh_header_read(fd, sk, writer_pk, &h)) != 0 ||
	    (rc = vv_c4gh_decryptor_from_header(h, &d)) != 0)
		goto out;
	d->base = vv_c4gh_header_length(h);
	if ((buf = malloc(READ_CHUNK)) == NULL) {
		rc = vv_errf(VV_ERR_NOMEM, "a read buffer");
		goto out;
	}
	do {
		if ((rc = vv_c4gh_read_full(fd, buf, READ_CHUNK, &got)) != 0 ||
		    (rc = vv_c4gh_decryptor_update(d, buf, got, sink, ctx)) != 0)
			goto out;
	} while (got == READ_CHUNK);
	rc = vv_c4gh_decryptor_final(d, sink, ctx);
out:
	free(buf);
	vv_c4gh_decryptor_free(d);
	vv_c4gh_header_free(h);
	return rc;
}

static int sbuf_sink(void *ctx, const uint8_t *p, size_t n)
{
	return vv_sbuf_append(ctx, p, n);
}

int vv_c4gh_decrypt_mem(const uint8_t *ct, size_t n, const vv_c4gh_seckey *sk,
			const uint8_t *writer_pk, vv_sbuf *out)
{
	vv_c4gh_header *h = NULL;
	vv_c4gh_decryptor *d = NULL;
	size_t hdrlen;
	int rc;

	vv_sbuf_wipe(out); /* the output is replaced: zeroed on entry and on failure */
	if ((rc = vv_c4gh_header_parse(ct, n, sk, writer_pk, &h)) != 0 ||
	    (rc = vv_c4gh_decryptor_from_header(h, &d)) != 0)
		goto out;
	hdrlen = vv_c4gh_header_length(h);
	d->base = hdrlen;
	if ((rc = vv_c4gh_decryptor_update(d, ct + hdrlen, n - hdrlen, sbuf_sink, out)) == 0)
		rc = vv_c4gh_decryptor_final(d, sbuf_sink, out);
out:
	if (rc)
		vv_sbuf_wipe(out);
	vv_c4gh_decryptor_free(d);
	vv_c4gh_header_free(h);
	return rc;
}

int vv_c4gh_encrypt_fd(int fd, const vv_c4gh_seckey *sender, const uint8_t *recipients,
		       size_t nrecipients, vv_c4gh_sink_fn sink, void *ctx)
{
	vv_c4gh_encryptor *e = NULL;
	uint8_t *buf = NULL;
	size_t got;
	int rc;

	if ((rc = vv_c4gh_encryptor_new(sender, recipients, nrecipients, NULL, 0, &e)) != 0)
		return rc;
	if ((buf = sodium_malloc(4 * (size_t)SEG_LEN)) == NULL) {
		rc = vv_errf(VV_ERR_NOMEM, "a read buffer");
		goto out;
	}
	do {
		if ((rc = vv_c4gh_read_full(fd, buf, 4 * (size_t)SEG_LEN, &got)) != 0 ||
		    (rc = vv_c4gh_encryptor_update(e, buf, got, sink, ctx)) != 0)
			goto out;
	} while (got == 4 * (size_t)SEG_LEN);
	rc = vv_c4gh_encryptor_final(e, sink, ctx);
out:
	if (buf)
		sodium_free(buf);
	vv_c4gh_encryptor_free(e);
	return rc;
}
