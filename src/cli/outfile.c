/* Output files that appear under their name only once complete: written
 * unnamed with O_TMPFILE and linked into place on commit. */
#include "outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int io_error(const char *what, const char *path)
{
	int saved = errno, rc = vv_errf(VV_ERR_IO, "%s %s: %s", what, path, strerror(saved));
	errno = saved;
	return rc;
}

/* Splits path into its folder (malloc'd) and its last component. */
static char *dir_of(const char *path, const char **base)
{
	const char *slash = strrchr(path, '/');

	if (!slash) {
		*base = path;
		return strdup(".");
	}
	*base = slash + 1;
	return strndup(path, slash == path ? 1 : (size_t)(slash - path));
}

int vv_cli_out_open(struct vv_cli_out *out, const char *path, mode_t mode)
{
	const char *base;
	char *dir = dir_of(path, &base);
	mode_t mask;
	int rc = 0;

	out->fd = -1;
	out->tmp = NULL;
	out->written = 0;
	out->path = strdup(path);
	if (!dir || !out->path || !*base) {
		rc = *base ? VV_ERR_NOMEM : vv_errf(VV_ERR_INVAL, "%s: not a file name", path);
		goto out;
	}
	out->fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, mode);
	if (out->fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
		/* No O_TMPFILE here: a hidden name that commit renames and abort removes. */
		if (asprintf(&out->tmp, "%s/.%s.XXXXXX", dir, base) < 0) {
			out->tmp = NULL;
			rc = VV_ERR_NOMEM;
			goto out;
		}
		out->fd = mkostemp(out->tmp, O_CLOEXEC);
		mask = umask(0);
		umask(mask);
		if (out->fd >= 0 && fchmod(out->fd, mode & ~mask) != 0) {
			rc = io_error("chmod", out->tmp);
			goto out;
		}
	}
	if (out->fd < 0)
		rc = io_error("create", path);
out:
	free(dir);
	if (rc)
		vv_cli_out_abort(out, false);
	return rc;
}

int vv_cli_out_write(struct vv_cli_out *out, const void *p, size_t n)
{
	int rc = vv_write_all(out->fd, p, n);

	if (rc)
		return vv_err_prefix(rc, "%s", out->path);
	out->written += n;
	return 0;
}

int vv_cli_out_sink(void *ctx, const uint8_t *p, size_t n)
{
	return vv_cli_out_write(ctx, p, n);
}

/* Gives the unnamed file behind fd the name dst. */
static int link_fd(int fd, const char *dst)
{
	char proc[64];

	snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
	if (linkat(AT_FDCWD, proc, AT_FDCWD, dst, AT_SYMLINK_FOLLOW) == 0)
		return 0;
	if (errno != ENOENT)
		return -1;
	/* No /proc: AT_EMPTY_PATH works where the caller may use it. */
	return linkat(fd, "", AT_FDCWD, dst, AT_EMPTY_PATH);
}

/* Names the unnamed file at a fresh temporary name next to out->path. */
static int link_temp(struct vv_cli_out *out)
{
	const char *base;
	char *dir = dir_of(out->path, &base);

	if (!dir)
		return VV_ERR_NOMEM;
	for (int i = 0; i < 1000; i++) {
		if (asprintf(&out->tmp, "%s/.%s.%ld.%d", dir, base, (long)getpid(), i) < 0) {
			out->tmp = NULL;
			break;
		}
		if (link_fd(out->fd, out->tmp) == 0) {
			free(dir);
			return 0;
		}
		free(out->tmp);
		out->tmp = NULL;
		if (errno != EEXIST)
			break;
	}
	free(dir);
	return io_error("link", out->path);
}

int vv_cli_out_commit(struct vv_cli_out *out, bool replace)
{
	int rc = 0;

	if (fsync(out->fd) != 0) {
		rc = io_error("sync", out->path);
		goto out;
	}
	if (!out->tmp && !replace) {
		if (link_fd(out->fd, out->path) != 0)
			rc = errno == EEXIST ? vv_errf(VV_ERR_EXISTS, "%s already exists", out->path)
					     : io_error("link", out->path);
		goto out;
	}
	if (!out->tmp && (rc = link_temp(out)) != 0)
		goto out;
	if (replace) {
		if (rename(out->tmp, out->path) != 0)
			rc = io_error("rename to", out->path);
	} else if (link(out->tmp, out->path) != 0) {
		rc = errno == EEXIST ? vv_errf(VV_ERR_EXISTS, "%s already exists", out->path)
				     : io_error("link", out->path);
	}
	if (rc == 0 && !replace)
		(void)unlink(out->tmp);
	if (rc == 0) {
		free(out->tmp);
		out->tmp = NULL;
	}
out:
	if (rc == 0 && close(out->fd) != 0)
		rc = io_error("close", out->path);
	if (rc == 0)
		out->fd = -1;
	vv_cli_out_abort(out, rc != 0);
	return rc;
}

void vv_cli_out_abort(struct vv_cli_out *out, bool wipe)
{
	static const uint8_t zeros[65536];

	if (out->fd >= 0) {
		for (uint64_t off = 0; wipe && off < out->written;) {
			size_t n = out->written - off < sizeof zeros ? (size_t)(out->written - off)
								     : sizeof zeros;
			ssize_t w = pwrite(out->fd, zeros, n, (off_t)off);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				break;
			off += (uint64_t)w;
		}
		if (wipe && out->written)
			(void)fdatasync(out->fd);
		if (ftruncate(out->fd, 0) != 0) {
			/* nothing more to do: the file is dropped below anyway */
		}
		close(out->fd);
		out->fd = -1;
	}
	if (out->tmp)
		(void)unlink(out->tmp);
	free(out->tmp);
	free(out->path);
	out->tmp = NULL;
	out->path = NULL;
}
