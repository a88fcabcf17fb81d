/* Small helpers of the c4gh module: full reads and printable names. */
#include "c4gh_int.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

int vv_c4gh_read_full(int fd, uint8_t *buf, size_t n, size_t *got)
{
	size_t have = 0;

	while (have < n) {
		ssize_t r = read(fd, buf + have, n - have);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int saved = errno;
			*got = have;
			vv_errf(VV_ERR_IO, "read: %s", strerror(saved));
			errno = saved;
			return VV_ERR_IO;
		}
		if (r == 0)
			break;
		have += (size_t)r;
	}
	*got = have;
	return 0;
}

void vv_c4gh_safe_name(const uint8_t *p, size_t n, char *out, size_t outsize)
{
	size_t i, j = 0;

	if (outsize < 4) {
		if (outsize)
			out[0] = '\0';
		return;
	}
	/* Names from files are shown only as printable ASCII, cut short. */
	for (i = 0; i < n && j + 4 < outsize; i++)
		out[j++] = (p[i] >= 0x20 && p[i] < 0x7f) ? (char)p[i] : '?';
	if (i < n) {
		memcpy(out + j, "...", 3);
		j += 3;
	}
	out[j] = '\0';
}
