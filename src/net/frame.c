/* Length-prefixed frames over a TLS connection: 4-byte big-endian length, then payload. */
#include "net_int.h"

#include <string.h>

static size_t vv_frame_len(const uint8_t h[4])
{
	return (size_t)h[0] << 24 | (size_t)h[1] << 16 | (size_t)h[2] << 8 | (size_t)h[3];
}

int vv_net_frame_decode(const uint8_t *buf, size_t len, size_t max, const uint8_t **payload, size_t *plen,
			size_t *used)
{
	size_t n;

	if (max == 0 || max > VV_NET_FRAME_MAX)
		max = VV_NET_FRAME_MAX;
	*payload = NULL;
	*plen = 0;
	*used = 0;
	if (len < 4)
		return 0;
	n = vv_frame_len(buf);
	if (n > max)
		return vv_errf(VV_ERR_FRAME_SIZE, "frame of %zu bytes (at most %zu)", n, max);
	if (len - 4 < n)
		return 0;
	*payload = buf + 4;
	*plen = n;
	*used = 4 + n;
	return 1;
}

int vv_net_frame_write(vv_net_conn *c, const void *p, size_t n, int timeout_ms)
{
	int64_t deadline = vv_net_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	uint8_t h[4];
	int rc;

	if (n > VV_NET_FRAME_MAX)
		return vv_errf(VV_ERR_FRAME_SIZE, "frame of %zu bytes (at most %u)", n, VV_NET_FRAME_MAX);
	h[0] = (uint8_t)(n >> 24);
	h[1] = (uint8_t)(n >> 16);
	h[2] = (uint8_t)(n >> 8);
	h[3] = (uint8_t)n;
	if (n <= 4096) {
		/* Small frames (JSON messages) go out as one TLS record; the copy
		 * may hold result bytes, so it is wiped. */
		uint8_t one[4 + 4096];
		memcpy(one, h, 4);
		if (n)
			memcpy(one + 4, p, n);
		rc = vv_net_write_until(c, one, 4 + n, deadline);
		vv_wipe(one, sizeof one);
		return rc;
	}
	if ((rc = vv_net_write_until(c, h, sizeof h, deadline)) != 0)
		return rc;
	return vv_net_write_until(c, p, n, deadline);
}

/* Reads the header and checks the length against max before any payload. */
static int vv_frame_header(vv_net_conn *c, size_t max, size_t *n, int64_t deadline)
{
	uint8_t h[4];
	int rc;

	if ((rc = vv_net_read_until(c, h, sizeof h, deadline)) != 0)
		return rc;
	*n = vv_frame_len(h);
	if (*n > max || *n > VV_NET_FRAME_MAX)
		return vv_errf(VV_ERR_FRAME_SIZE, "frame of %zu bytes (at most %zu)", *n,
			       max < VV_NET_FRAME_MAX ? max : (size_t)VV_NET_FRAME_MAX);
	return 0;
}

int vv_net_frame_read(vv_net_conn *c, void *buf, size_t cap, size_t *len, int timeout_ms)
{
	int64_t deadline = vv_net_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	size_t n = 0;
	int rc;

	*len = 0;
	if ((rc = vv_frame_header(c, cap, &n, deadline)) != 0)
		return rc;
	if (n && (rc = vv_net_read_until(c, buf, n, deadline)) != 0)
		return rc;
	*len = n;
	return 0;
}

int vv_net_frame_read_sbuf(vv_net_conn *c, vv_sbuf *b, size_t *len, int timeout_ms)
{
	int64_t deadline = vv_net_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	size_t n = 0;
	int rc;

	*len = 0;
	if ((rc = vv_frame_header(c, VV_NET_FRAME_MAX, &n, deadline)) != 0)
		return rc;
	if (n == 0)
		return 0;
	if ((rc = vv_sbuf_reserve(b, n)) != 0)
		return vv_err_prefix(rc, "frame of %zu bytes", n);
	if ((rc = vv_net_read_until(c, b->data + b->len, n, deadline)) != 0) {
		vv_wipe(b->data + b->len, n); /* a partial frame stays out of the buffer */
		return rc;
	}
	b->len += n;
	*len = n;
	return 0;
}
