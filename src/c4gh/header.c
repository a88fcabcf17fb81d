/* Crypt4GH headers: measuring them, opening their packets with an X25519
 * secret key, and sealing packets for recipients. */
#include "c4gh_int.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

struct vv_c4gh_header {
	size_t length;     /* bytes, preamble and packets */
	vv_sbuf keys;      /* distinct data keys, 32 bytes each, secure memory */
	uint64_t *edits;   /* the edit list, or NULL */
	size_t nedits;
	size_t edit_packet; /* which packet held it (1-based), for messages */
	uint8_t writer[VV_C4GH_KEY_LEN]; /* the writer key of the packets we opened */
	size_t writer_packet; /* the first packet we opened (1-based), 0 before */
};

/* What happened to the packets, for the error when no key comes out. */
struct open_stats {
	size_t unknown_method, other_writer, tried, opened;
	size_t first_unknown;          /* packet number, 1-based */
	uint32_t first_unknown_method;
};

int vv_c4gh_header_span(const uint8_t *buf, size_t len, size_t *hdrlen)
{
	size_t off = C4GH_PREAMBLE_LEN;
	uint32_t version, count;

	*hdrlen = C4GH_PREAMBLE_LEN;
	if (len && memcmp(buf, C4GH_MAGIC, len < 8 ? len : 8) != 0)
		return vv_errf(VV_ERR_C4GH_MAGIC, "the stream does not start with \"crypt4gh\"");
	if (len < C4GH_PREAMBLE_LEN)
		return 1;
	version = c4gh_le32(buf + 8);
	if (version != 1)
		return vv_errf(VV_ERR_C4GH_VERSION, "version %u (only version 1 is supported)", version);
	count = c4gh_le32(buf + 12);
	if (count > VV_C4GH_MAX_PACKETS)
		return vv_errf(VV_ERR_C4GH_HEADER, "%u header packets (at most %d are accepted)", count,
			       VV_C4GH_MAX_PACKETS);
	for (uint32_t i = 0; i < count; i++) {
		uint32_t plen;
		if (len < off + 4) {
			*hdrlen = off + 4;
			return 1;
		}
		plen = c4gh_le32(buf + off);
		if (plen < C4GH_PACKET_MIN_LEN || plen > VV_C4GH_MAX_PACKET_LEN)
			return vv_errf(VV_ERR_C4GH_HEADER,
				       "header packet %u (offset %zu): length %u outside %d..%u", i + 1,
				       off, plen, C4GH_PACKET_MIN_LEN, VV_C4GH_MAX_PACKET_LEN);
		if (plen > VV_C4GH_MAX_HEADER_LEN - off)
			return vv_errf(VV_ERR_C4GH_HEADER, "header longer than %u bytes at packet %u",
				       VV_C4GH_MAX_HEADER_LEN, i + 1);
		off += plen;
	}
	*hdrlen = off;
	return len >= off ? 0 : 1;
}

/* Keeps a data key from an opened packet, once. */
static int take_data_key(vv_c4gh_header *h, size_t idx, const uint8_t *p, size_t n)
{
	uint32_t method;

	if (n < 8)
		return vv_errf(VV_ERR_C4GH_HEADER, "header packet %zu: data key packet of %zu bytes", idx, n);
	method = c4gh_le32(p + 4);
	if (method != C4GH_DATA_CHACHA20_IETF)
		return vv_errf(VV_ERR_C4GH_METHOD,
			       "header packet %zu: data encryption method %u is unknown "
			       "(0, chacha20_ietf_poly1305, is known)", idx, method);
	/* Padding after the key is allowed (policy, docs/c4gh.md). */
	if (n < C4GH_DATA_KEY_PAYLOAD_LEN)
		return vv_errf(VV_ERR_C4GH_HEADER,
			       "header packet %zu: data key packet of %zu bytes (at least %d)", idx, n,
			       C4GH_DATA_KEY_PAYLOAD_LEN);
	for (size_t off = 0; off < h->keys.len; off += VV_C4GH_KEY_LEN)
		if (sodium_memcmp(h->keys.data + off, p + 8, VV_C4GH_KEY_LEN) == 0)
			return 0;
	return vv_sbuf_append(&h->keys, p + 8, VV_C4GH_KEY_LEN);
}

static int take_edit_list(vv_c4gh_header *h, size_t idx, const uint8_t *p, size_t n)
{
	uint32_t count;

	if (n < 8)
		return vv_errf(VV_ERR_C4GH_HEADER, "header packet %zu: edit list packet of %zu bytes", idx, n);
	if (h->edits)
		return vv_errf(VV_ERR_C4GH_EDITLIST,
			       "header packet %zu: a second edit list (the first is in packet %zu)", idx,
			       h->edit_packet);
	count = c4gh_le32(p + 4);
	if (count == 0)
		return vv_errf(VV_ERR_C4GH_EDITLIST,
			       "header packet %zu: an empty edit list (refused; see docs/c4gh.md)", idx);
	if (count > (n - 8) / 8)
		return vv_errf(VV_ERR_C4GH_EDITLIST,
			       "header packet %zu: edit list of %u lengths does not fit in %zu bytes", idx,
			       count, n);
	if ((h->edits = malloc(count * sizeof *h->edits)) == NULL)
		return vv_errf(VV_ERR_NOMEM, "header packet %zu: edit list of %u lengths", idx, count);
	for (uint32_t i = 0; i < count; i++)
		h->edits[i] = c4gh_le64(p + 8 + 8 * (size_t)i);
	h->nedits = count;
	h->edit_packet = idx;
	return 0;
}

/* Tries to open one packet; a packet that is not for this key is skipped
 * (returns 0), one that opens but holds something unacceptable fails. */
static int open_packet(vv_c4gh_header *h, struct open_stats *st, size_t idx, const uint8_t *pkt,
		       size_t plen, const vv_c4gh_seckey *sk, const uint8_t *writer_pk, uint8_t *kx,
		       vv_sbuf *pt)
{
	const uint8_t *wpk = pkt + 8, *nonce = pkt + 40, *ct = pkt + C4GH_PACKET_CLEAR_LEN;
	uint32_t method = c4gh_le32(pkt + 4);
	unsigned long long n = 0;
	int rc;

	if (method != C4GH_METHOD_X25519_CHACHA20) {
		if (!st->unknown_method++) {
			st->first_unknown = idx;
			st->first_unknown_method = method;
		}
		return 0;
	}
	if (writer_pk && sodium_memcmp(wpk, writer_pk, VV_C4GH_KEY_LEN) != 0) {
		st->other_writer++;
		return 0;
	}
	st->tried++;
	/* The reader is crypto_kx's client: rx = BLAKE2b-512(q || pk_reader || pk_writer)[0..32). */
	if (crypto_kx_client_session_keys(kx, kx + VV_C4GH_KEY_LEN, sk->pk, sk->sk, wpk) != 0)
		return 0; /* a low-order writer key: not a packet anyone can open */
	/* The previous payload: only its bytes, not the whole scratch area. */
	if (pt->len)
		sodium_memzero(pt->data, pt->len);
	pt->len = 0;
	if ((rc = vv_sbuf_reserve(pt, plen - C4GH_PACKET_MIN_LEN + 1)) != 0)
		return rc;
	if (crypto_aead_chacha20poly1305_ietf_decrypt(pt->data, &n, NULL, ct,
						      plen - C4GH_PACKET_CLEAR_LEN, NULL, 0, nonce, kx) != 0)
		return 0; /* for another reader, or altered */
	pt->len = (size_t)n;
	st->opened++;
	/* One writer seals every packet a reader gets (reference encrypt,
	 * reencrypt and rearrange included).  A packet for us from a second key
	 * was added by someone else, who could hide regions with an edit list or
	 * splice in segments under a data key of their own. */
	if (!h->writer_packet) {
		memcpy(h->writer, wpk, VV_C4GH_KEY_LEN);
		h->writer_packet = idx;
	} else if (sodium_memcmp(h->writer, wpk, VV_C4GH_KEY_LEN) != 0) {
		return vv_errf(VV_ERR_C4GH_HEADER,
			       "header packet %zu was written by another key than packet %zu: the "
			       "packets for one reader must all come from one writer (refused; see "
			       "docs/c4gh.md)", idx, h->writer_packet);
	}
	if (n < 4)
		return vv_errf(VV_ERR_C4GH_HEADER, "header packet %zu: payload of %llu bytes has no type",
			       idx, n);
	switch (c4gh_le32(pt->data)) {
	case C4GH_PACKET_DATA_KEY:
		return take_data_key(h, idx, pt->data, pt->len);
	case C4GH_PACKET_EDIT_LIST:
		return take_edit_list(h, idx, pt->data, pt->len);
	default:
		return vv_errf(VV_ERR_C4GH_METHOD, "header packet %zu: packet type %u is unknown", idx,
			       c4gh_le32(pt->data));
	}
}

/* The error for a header that yields no data key. */
static int no_key_error(const struct open_stats *st, uint32_t count, bool writer_required)
{
	if (count == 0)
		return vv_errf(VV_ERR_C4GH_NOKEY, "the header has no packets");
	if (st->tried == 0 && writer_required && st->other_writer)
		return vv_errf(VV_ERR_C4GH_WRITER,
			       "none of the %u header packets was written by the required writer key",
			       count);
	if (st->tried == 0 && st->unknown_method)
		return vv_errf(VV_ERR_C4GH_METHOD,
			       "no header packet uses a known method (packet %zu: method %u)",
			       st->first_unknown, st->first_unknown_method);
	if (st->opened)
		return vv_errf(VV_ERR_C4GH_NOKEY, "the packets this key opens hold no data key");
	return vv_errf(VV_ERR_C4GH_NOKEY,
		       "none of the %u header packets opens with this key (the file is for another "
		       "key, or its header was altered)", count);
}

int vv_c4gh_header_parse(const uint8_t *buf, size_t len, const vv_c4gh_seckey *sk,
			 const uint8_t *writer_pk, vv_c4gh_header **out)
{
	struct open_stats st = {0};
	vv_c4gh_header *h = NULL;
	uint8_t *kx = NULL;
	vv_sbuf pt;
	size_t hdrlen, off = C4GH_PREAMBLE_LEN;
	uint32_t count;
	int rc;

	*out = NULL;
	vv_sbuf_init(&pt, VV_C4GH_MAX_PACKET_LEN);
	if ((rc = vv_c4gh_header_span(buf, len, &hdrlen)) < 0)
		return rc;
	if (rc == 1)
		return vv_errf(VV_ERR_C4GH_HEADER, "header truncated: %zu bytes, at least %zu needed", len,
			       hdrlen);
	if ((h = calloc(1, sizeof *h)) == NULL || (kx = sodium_malloc(2 * VV_C4GH_KEY_LEN)) == NULL) {
		rc = vv_errf(VV_ERR_NOMEM, "header: parse state");
		goto out;
	}
	vv_sbuf_init(&h->keys, (size_t)VV_C4GH_MAX_PACKETS * VV_C4GH_KEY_LEN);
	h->length = hdrlen;
	count = c4gh_le32(buf + 12);
	for (uint32_t i = 0; i < count; i++) {
		uint32_t plen = c4gh_le32(buf + off);
		rc = open_packet(h, &st, (size_t)i + 1, buf + off, plen, sk, writer_pk, kx, &pt);
		if (rc)
			goto out;
		off += plen;
	}
	if (h->keys.len == 0) {
		rc = no_key_error(&st, count, writer_pk != NULL);
		goto out;
	}
	*out = h;
	h = NULL;
out:
	vv_sbuf_done(&pt);
	if (kx)
		sodium_free(kx);
	vv_c4gh_header_free(h);
	return rc;
}

int vv_c4gh_header_read(int fd, const vv_c4gh_seckey *sk, const uint8_t *writer_pk,
			vv_c4gh_header **out)
{
	uint8_t *buf = NULL, *nbuf;
	size_t have = 0, need = C4GH_PREAMBLE_LEN, got;
	int rc, saved;

	*out = NULL;
	for (;;) {
		/* need never exceeds VV_C4GH_MAX_HEADER_LEN + 4: span bounds it */
		if ((nbuf = realloc(buf, need)) == NULL) {
			rc = vv_errf(VV_ERR_NOMEM, "header: %zu bytes", need);
			goto out;
		}
		buf = nbuf;
		if ((rc = vv_c4gh_read_full(fd, buf + have, need - have, &got)) != 0)
			goto out;
		have += got;
		if ((rc = vv_c4gh_header_span(buf, have, &need)) < 0)
			goto out;
		if (rc == 0)
			break;
		if (have < need && got == 0) {
			rc = vv_errf(VV_ERR_C4GH_HEADER,
				     "header truncated: the stream ends after %zu bytes, at least %zu needed",
				     have, need);
			goto out;
		}
	}
	rc = vv_c4gh_header_parse(buf, have, sk, writer_pk, out);
out:
	saved = errno;
	free(buf);
	errno = saved;
	return rc;
}

size_t vv_c4gh_header_length(const vv_c4gh_header *h)
{
	return h->length;
}

size_t vv_c4gh_header_nkeys(const vv_c4gh_header *h)
{
	return h->keys.len / VV_C4GH_KEY_LEN;
}

const uint8_t *vv_c4gh_header_keys(const vv_c4gh_header *h)
{
	return h->keys.data;
}

const uint64_t *vv_c4gh_header_editlist(const vv_c4gh_header *h, size_t *n)
{
	*n = h->nedits;
	return h->edits;
}

void vv_c4gh_header_free(vv_c4gh_header *h)
{
	if (!h)
		return;
	vv_sbuf_done(&h->keys);
	if (h->edits)
		sodium_memzero(h->edits, h->nedits * sizeof *h->edits);
	free(h->edits);
	free(h);
}

int vv_c4gh_packet_seal(const vv_c4gh_seckey *writer, const uint8_t recipient_pk[VV_C4GH_KEY_LEN],
		     const uint8_t *payload, size_t n, size_t pad, vv_sbuf *out)
{
	uint8_t *kx = NULL, *pkt;
	vv_sbuf pt;
	size_t plen;
	int rc;

	vv_sbuf_init(&pt, VV_C4GH_MAX_PACKET_LEN);
	if (n > VV_C4GH_MAX_PACKET_LEN || pad > VV_C4GH_MAX_PACKET_LEN - n ||
	    n + pad > VV_C4GH_MAX_PACKET_LEN - C4GH_PACKET_MIN_LEN)
		return vv_errf(VV_ERR_RANGE, "header packet payload of %zu bytes is too long", n + pad);
	plen = C4GH_PACKET_MIN_LEN + n + pad;
	if ((kx = sodium_malloc(2 * VV_C4GH_KEY_LEN)) == NULL) {
		rc = vv_errf(VV_ERR_NOMEM, "header packet: key exchange");
		goto out;
	}
	/* The writer is crypto_kx's server: its tx is the reader's rx. */
	if (crypto_kx_server_session_keys(kx, kx + VV_C4GH_KEY_LEN, writer->pk, writer->sk,
					  recipient_pk) != 0) {
		rc = vv_errf(VV_ERR_KEY_FORMAT, "a recipient public key is not usable (low-order point)");
		goto out;
	}
	if ((rc = vv_sbuf_append(&pt, payload, n)) != 0 || (rc = vv_sbuf_reserve(&pt, pad + 1)) != 0 ||
	    (rc = vv_sbuf_reserve(out, plen)) != 0)
		goto out;
	memset(pt.data + pt.len, 0, pad);
	pt.len += pad;
	pkt = out->data + out->len;
	c4gh_put_le32(pkt, (uint32_t)plen);
	c4gh_put_le32(pkt + 4, C4GH_METHOD_X25519_CHACHA20);
	memcpy(pkt + 8, writer->pk, VV_C4GH_KEY_LEN);
	randombytes_buf(pkt + 40, C4GH_NONCE_LEN);
	crypto_aead_chacha20poly1305_ietf_encrypt(pkt + C4GH_PACKET_CLEAR_LEN, NULL, pt.data, pt.len,
						  NULL, 0, NULL, pkt + 40, kx + VV_C4GH_KEY_LEN);
	out->len += plen;
out:
	if (kx)
		sodium_free(kx);
	vv_sbuf_done(&pt);
	return rc;
}
