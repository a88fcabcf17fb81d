/* Small helpers: checked sizes, whole-file reads, full writes, hex. */
#include "varvault/core.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int vv_size_mul(size_t a, size_t b, size_t *out)
{
	if (b && a > SIZE_MAX / b)
		return VV_ERR_RANGE;
	*out = a * b;
	return 0;
}

int vv_size_add(size_t a, size_t b, size_t *out)
{
	if (a > SIZE_MAX - b)
		return VV_ERR_RANGE;
	*out = a + b;
	return 0;
}

int vv_array_grow(void **items, size_t *cap, size_t n, size_t elem, size_t first)
{
	size_t ncap, bytes;
	void *p;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap : first;
	if ((*cap && vv_size_mul(*cap, 2, &ncap) != 0) || vv_size_mul(ncap, elem, &bytes) != 0)
		return vv_errf(VV_ERR_RANGE, "an array of %zu elements cannot grow further", n);
	if (!(p = realloc(*items, bytes)))
		return vv_errf(VV_ERR_NOMEM, "growing an array to %zu bytes", bytes);
	*items = p;
	*cap = ncap;
	return 0;
}

int vv_read_file(const char *path, size_t max, char **out, size_t *len)
{
	int fd = -1, rc = 0, saved;
	char *buf = NULL, *nbuf;
	size_t n = 0, cap = 0;
	ssize_t r;

	*out = NULL;
	if (len)
		*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		saved = errno;
		rc = vv_errf(VV_ERR_IO, "%s: %s", path, strerror(saved));
		errno = saved;
		return rc;
	}
	for (;;) {
		if (n == cap) {
			if (cap > max) {
				rc = vv_errf(VV_ERR_RANGE, "%s: larger than %zu bytes", path, max);
				goto out;
			}
			cap = cap ? cap * 2 : 4096;
			if ((nbuf = realloc(buf, cap + 1)) == NULL) {
				rc = vv_errf(VV_ERR_NOMEM, "%s: %zu bytes", path, cap + 1);
				goto out;
			}
			buf = nbuf;
		}
		r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = vv_errf(VV_ERR_IO, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > max) {
		rc = vv_errf(VV_ERR_RANGE, "%s: larger than %zu bytes", path, max);
		goto out;
	}
	if (!buf && (buf = malloc(1)) == NULL) {
		rc = vv_errf(VV_ERR_NOMEM, "%s", path);
		goto out;
	}
	buf[n] = '\0';
	*out = buf;
	buf = NULL;
	if (len)
		*len = n;
out:
	saved = errno;
	free(buf);
	close(fd);
	errno = saved;
	return rc;
}

int vv_write_all(int fd, const void *p, size_t n)
{
	const uint8_t *c = p;

	while (n) {
		ssize_t w = write(fd, c, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return vv_errf(VV_ERR_IO, "write: %s", strerror(errno));
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

void vv_hex(const uint8_t *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

double vv_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
