/* Worker IPC: typed, bounded messages over a socketpair, with deadlines on
 * the monitor's non-blocking end. */
#include "daemon_int.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

void vv_daemon_put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

void vv_daemon_put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

uint32_t vv_daemon_get32(const uint8_t *p)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++)
		v |= (uint32_t)p[i] << (8 * i);
	return v;
}

uint64_t vv_daemon_get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* Waits until fd is ready for events or the deadline passes. */
static int vv_wait(int fd, short events, double deadline)
{
	struct pollfd pfd = {fd, events, 0};
	int ms = -1, n;

	if (deadline > 0) {
		double left = deadline - vv_seconds();
		if (left <= 0)
			return vv_errf(VV_ERR_TIME_LIMIT, "worker socket: deadline passed");
		ms = left > 1e6 ? 1000000000 : (int)(left * 1000) + 1;
	}
	do
		n = poll(&pfd, 1, ms);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return vv_errf(VV_ERR_IO, "worker socket: poll: %s", strerror(errno));
	if (n == 0)
		return vv_errf(VV_ERR_TIME_LIMIT, "worker socket: deadline passed");
	return 0;
}

static int vv_send_iov(int fd, struct iovec *iov, int niov, double deadline)
{
	struct msghdr m = {0};
	int rc;

	m.msg_iov = iov;
	m.msg_iovlen = (size_t)niov;
	while (m.msg_iovlen) {
		ssize_t w = sendmsg(fd, &m, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				if ((rc = vv_wait(fd, POLLOUT, deadline)) != 0)
					return rc;
				continue;
			}
			if (errno == EPIPE || errno == ECONNRESET)
				return vv_errf(VV_ERR_TRUNCATED, "worker socket: the peer closed");
			return vv_errf(VV_ERR_IO, "worker socket: send: %s", strerror(errno));
		}
		/* skip what went out */
		while (m.msg_iovlen && (size_t)w >= m.msg_iov->iov_len) {
			w -= (ssize_t)m.msg_iov->iov_len;
			m.msg_iov++;
			m.msg_iovlen--;
		}
		if (m.msg_iovlen) {
			m.msg_iov->iov_base = (uint8_t *)m.msg_iov->iov_base + w;
			m.msg_iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

int vv_daemon_ipc_send2(int fd, uint32_t type, const void *a, size_t na, const void *b, size_t nb,
			double deadline)
{
	uint32_t hdr[2];
	struct iovec iov[3];
	int n = 0;

	if (na > VV_IPC_MAX_PAYLOAD || nb > VV_IPC_MAX_PAYLOAD - na)
		return vv_errf(VV_ERR_RANGE, "worker message of %zu bytes over the cap", na + nb);
	hdr[0] = type;
	hdr[1] = (uint32_t)(na + nb);
	iov[n++] = (struct iovec){hdr, sizeof hdr};
	if (na)
		iov[n++] = (struct iovec){(void *)(uintptr_t)a, na};
	if (nb)
		iov[n++] = (struct iovec){(void *)(uintptr_t)b, nb};
	return vv_send_iov(fd, iov, n, deadline);
}

int vv_daemon_ipc_send(int fd, uint32_t type, const void *p, size_t n, double deadline)
{
	return vv_daemon_ipc_send2(fd, type, p, n, NULL, 0, deadline);
}

/* Reads exactly n bytes; *got says how many arrived before an error. */
static int vv_recv_all(int fd, void *p, size_t n, size_t *got, double deadline)
{
	int rc;

	*got = 0;
	while (*got < n) {
		ssize_t r = recv(fd, (uint8_t *)p + *got, n - *got, 0);
		if (r > 0) {
			*got += (size_t)r;
			continue;
		}
		if (r == 0)
			return vv_errf(VV_ERR_TRUNCATED, "worker socket: the peer closed");
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			if ((rc = vv_wait(fd, POLLIN, deadline)) != 0)
				return rc;
			continue;
		}
		if (errno == ECONNRESET)
			return vv_errf(VV_ERR_TRUNCATED, "worker socket: the peer closed");
		return vv_errf(VV_ERR_IO, "worker socket: recv: %s", strerror(errno));
	}
	return 0;
}

int vv_daemon_ipc_recv(int fd, uint32_t *type, vv_sbuf *buf, double deadline)
{
	uint32_t hdr[2];
	size_t got;
	int rc;

	*type = 0;
	vv_sbuf_wipe(buf);
	if ((rc = vv_recv_all(fd, hdr, sizeof hdr, &got, deadline)) != 0)
		return rc;
	if (hdr[1] > VV_IPC_MAX_PAYLOAD)
		return vv_errf(VV_ERR_FORMAT, "worker message of %u bytes over the cap", hdr[1]);
	if (hdr[1] == 0) {
		*type = hdr[0];
		return 0;
	}
	if ((rc = vv_sbuf_reserve(buf, hdr[1])) != 0)
		return rc;
	if ((rc = vv_recv_all(fd, buf->data, hdr[1], &got, deadline)) != 0) {
		vv_wipe(buf->data, got);
		return rc;
	}
	buf->len = hdr[1];
	*type = hdr[0];
	return 0;
}

void vv_daemon_summary_encode(const struct vv_interpret_summary *s, uint64_t rescored, uint32_t flags,
			      uint8_t out[VV_DAEMON_SUMMARY_LEN])
{
	uint64_t v[15];
	int n = 0;

	v[n++] = s->records;
	v[n++] = s->variants;
	v[n++] = s->scored;
	v[n++] = s->not_scored;
	v[n++] = s->warnings;
	for (int e = 0; e <= VV_EV_BP4_STRONG; e++)
		v[n++] = s->evidence[e];
	v[n++] = rescored;
	memcpy(&v[n++], &s->engine_seconds, 8);
	memcpy(&v[n++], &s->total_seconds, 8);
	for (int i = 0; i < n; i++)
		vv_daemon_put64(out + 8 * i, v[i]);
	vv_daemon_put32(out + 8 * n, flags);
}

void vv_daemon_summary_decode(const uint8_t in[VV_DAEMON_SUMMARY_LEN], struct vv_interpret_summary *s,
			      uint64_t *rescored, uint32_t *flags)
{
	uint64_t v[15];
	int n = 0;

	for (int i = 0; i < 15; i++)
		v[i] = vv_daemon_get64(in + 8 * i);
	memset(s, 0, sizeof *s);
	s->records = v[n++];
	s->variants = v[n++];
	s->scored = v[n++];
	s->not_scored = v[n++];
	s->warnings = v[n++];
	for (int e = 0; e <= VV_EV_BP4_STRONG; e++)
		s->evidence[e] = v[n++];
	*rescored = v[n++];
	memcpy(&s->engine_seconds, &v[n++], 8);
	memcpy(&s->total_seconds, &v[n++], 8);
	*flags = vv_daemon_get32(in + 8 * 15);
}

int vv_daemon_seal_id(const char *job_id, enum vv_out_format fmt, char *out, size_t cap)
{
	static const char *const names[] = {NULL, "vcf", "json", "tsv"};
	size_t n = job_id ? strlen(job_id) : 0;
	int w;

	if (n == 0 || n > 64 || strspn(job_id, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_-") != n)
		return vv_errf(VV_ERR_INVAL, "job id: 1 to 64 characters of [0-9A-Za-z_-]");
	if (fmt < VV_OUT_VCF || fmt > VV_OUT_TSV)
		return vv_errf(VV_ERR_INVAL, "unknown output format %d", (int)fmt);
	w = snprintf(out, cap, "%s/%s", job_id, names[fmt]);
	if (w < 0 || (size_t)w >= cap)
		return vv_errf(VV_ERR_INVAL, "job id: no room for the seal id");
	return 0;
}

int vv_daemon_result_open(const uint8_t key[VV_KEY_LEN], const char *job_id, enum vv_out_format fmt,
			  uint64_t index, bool last, const uint8_t *sealed, size_t n, vv_sbuf *out)
{
	char id[VV_SEAL_MAX_ID];
	size_t at = out->len;
	int rc;

	if ((rc = vv_daemon_seal_id(job_id, fmt, id, sizeof id)) != 0)
		return rc;
	if (n < VV_SEAL_OVERHEAD)
		return vv_errf(VV_ERR_FORMAT, "result chunk %llu shorter than its seal", (unsigned long long)index);
	if (index > UINT32_MAX)
		return vv_errf(VV_ERR_RANGE, "result chunk index over 2^32");
	if ((rc = vv_sbuf_reserve(out, n - VV_SEAL_OVERHEAD)) != 0)
		return rc;
	if ((rc = vv_open_chunk(key, id, (uint32_t)index, last, sealed, n, out->data + at)) != 0)
		return rc;
	out->len = at + n - VV_SEAL_OVERHEAD;
	return 0;
}
