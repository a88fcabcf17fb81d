/* Output files that appear under their name only once complete: written
 * unnamed with O_TMPFILE and linked into place on commit. */
#include "varvault/core.h"

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

/* Refuses a target that exists and is not a regular file, following
 * symbolic links: renaming over a device node, FIFO or socket would replace
 * it with a regular file (as root, /dev/full; through /dev/stdout, the
 * terminal's link), and a directory is never an output.  A name that does
 * not exist yet (or a dangling link) is fine. */
static int check_target(const char *path)
{
	struct stat st;
	const char *kind;

	if (stat(path, &st) != 0)
		return errno == ENOENT ? 0 : io_error("stat", path);
	if (S_ISREG(st.st_mode))
		return 0;
	kind = S_ISDIR(st.st_mode) ? "a directory" : S_ISCHR(st.st_mode) ? "a character device"
	     : S_ISBLK(st.st_mode) ? "a block device" : S_ISFIFO(st.st_mode) ? "a FIFO"
	     : S_ISSOCK(st.st_mode) ? "a socket" : "not a regular file";
	return vv_errf(VV_ERR_INVAL,
		       "%s is %s, not a regular file: an output is written whole under a temporary "
		       "name and then renamed into place, which would replace it; give a regular "
		       "file (or write to stdout)", path, kind);
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

/* The process umask, read without changing it: umask(2) can only be read
 * by setting it, which for a moment would change it for every thread.  The
 * Umask line of /proc/self/status, else the usual 022. */
static mode_t current_umask(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	unsigned int m;
	mode_t mask = 022;

	if (!f)
		return mask;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "Umask: %o", &m) == 1) {
			mask = (mode_t)m & 0777;
			break;
		}
	fclose(f);
	return mask;
}

int vv_outfile_open(struct vv_outfile *out, const char *path, unsigned int mode, unsigned flags)
{
	const char *base;
	char *dir = dir_of(path, &base);
	int rc = 0, saved;

	out->fd = -1;
	out->tmp = NULL;
	out->written = 0;
	out->path = strdup(path);
	if (!dir || !out->path || !*base) {
		rc = *base ? vv_errf(VV_ERR_NOMEM, "%s", path)
			   : vv_errf(VV_ERR_INVAL, "%s: not a file name", path);
		goto out;
	}
	if ((rc = check_target(path)) != 0)
		goto out;
	out->fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, mode);
	if (out->fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
		if (flags & VV_OUTFILE_UNNAMED_ONLY) {
			rc = vv_errf(VV_ERR_UNSUPPORTED,
				     "%s: the file system of folder %s cannot make unnamed files "
				     "(O_TMPFILE), and plaintext is never written under a temporary "
				     "name that a crash would leave behind: write to stdout, or into a "
				     "folder on a file system with O_TMPFILE (ext4, xfs, btrfs, tmpfs)",
				     path, dir);
			goto out;
		}
		/* No O_TMPFILE here: a hidden name that commit renames and abort removes. */
		if (asprintf(&out->tmp, "%s/.%s.XXXXXX", dir, base) < 0) {
			out->tmp = NULL;
			rc = vv_errf(VV_ERR_NOMEM, "%s: a temporary name", path);
			goto out;
		}
		out->fd = mkostemp(out->tmp, O_CLOEXEC);
		if (out->fd < 0) {
			/* Whatever name the template holds now is not ours to remove. */
			saved = errno;
			free(out->tmp);
			out->tmp = NULL;
			errno = saved;
		} else if (fchmod(out->fd, mode & ~current_umask()) != 0) {
			rc = io_error("chmod", out->tmp);
			goto out;
		}
	}
	if (out->fd < 0)
		rc = io_error("create", path);
out:
	free(dir);
	if (rc)
		vv_outfile_abort(out, false);
	return rc;
}

int vv_outfile_write(struct vv_outfile *out, const void *p, size_t n)
{
	int rc = vv_write_all(out->fd, p, n);

	if (rc)
		return vv_err_prefix(rc, "%s", out->path);
	out->written += n;
	return 0;
}

int vv_outfile_sink(void *ctx, const uint8_t *p, size_t n)
{
	return vv_outfile_write(ctx, p, n);
}

/* Gives the unnamed file behind fd the name dst.  Whether it worked; on
 * failure errno says why. */
static bool link_fd(int fd, const char *dst)
{
	char proc[64];

	snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
	if (linkat(AT_FDCWD, proc, AT_FDCWD, dst, AT_SYMLINK_FOLLOW) == 0)
		return true;
	if (errno != ENOENT)
		return false;
	/* No /proc: AT_EMPTY_PATH works where the caller may use it. */
	return linkat(fd, "", AT_FDCWD, dst, AT_EMPTY_PATH) == 0;
}

/* Names the unnamed file at a fresh temporary name next to out->path. */
static int link_temp(struct vv_outfile *out)
{
	const char *base;
	char *dir = dir_of(out->path, &base);

	if (!dir)
		return vv_errf(VV_ERR_NOMEM, "%s", out->path);
	for (int i = 0; i < 1000; i++) {
		if (asprintf(&out->tmp, "%s/.%s.%ld.%d", dir, base, (long)getpid(), i) < 0) {
			out->tmp = NULL;
			break;
		}
		if (link_fd(out->fd, out->tmp)) {
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

int vv_outfile_commit(struct vv_outfile *out, bool replace)
{
	int rc = 0;

	if (fsync(out->fd) != 0) {
		rc = io_error("sync", out->path);
		goto out;
	}
	if (!out->tmp && !replace) {
		if (!link_fd(out->fd, out->path))
			rc = errno == EEXIST ? vv_errf(VV_ERR_EXISTS, "%s already exists", out->path)
					     : io_error("link", out->path);
		goto out;
	}
	if (!out->tmp && (rc = link_temp(out)) != 0)
		goto out;
	if (replace) {
		/* Checked again: the target may have changed since open. */
		if ((rc = check_target(out->path)) != 0)
			goto out;
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
	if (rc == 0) {
		/* Synced and named: a failing close loses nothing, and the descriptor
		 * is gone either way, so abort must not close it again. */
		if (close(out->fd) != 0)
			vv_log(VV_LOG_WARN, "closing %s: %s (it was written and synced)", out->path,
			       strerror(errno));
		out->fd = -1;
	}
	vv_outfile_abort(out, rc != 0);
	return rc;
}

static bool same_inode(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* Keeps the file that path names (if any) under a fresh hidden name next to
 * it, as a hard link, so that it can be put back.  *kept: that name, or NULL
 * when path names nothing. */
static int keep_old(const char *path, char **kept)
{
	const char *base;
	struct stat st;
	char *dir;
	int e, rc;

	*kept = NULL;
	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : io_error("stat", path);
	if ((dir = dir_of(path, &base)) == NULL)
		return vv_errf(VV_ERR_NOMEM, "%s", path);
	for (int i = 0; i < 1000; i++) {
		if (asprintf(kept, "%s/.%s.old.%ld.%d", dir, base, (long)getpid(), i) < 0) {
			*kept = NULL;
			free(dir);
			return vv_errf(VV_ERR_NOMEM, "%s", path);
		}
		if (link(path, *kept) == 0) {
			free(dir);
			return 0;
		}
		e = errno;
		free(*kept);
		*kept = NULL;
		if (e != EEXIST) {
			errno = e;
			break;
		}
	}
	free(dir);
	e = errno;
	rc = vv_errf(VV_ERR_IO, "%s: cannot keep the old file (as a hard link) while it is replaced: %s",
		     path, strerror(e));
	errno = e;
	return rc;
}

/* Undoes the commit that made path the file `made` (NULL: unknown): puts
 * back the kept old file, or removes the new one if path still names it
 * (a commit that replaced nothing).  Best effort, on a failure path; frees
 * kept. */
static void undo_commit(const char *path, const struct stat *made, char *kept)
{
	struct stat st;

	if (kept) {
		if (rename(kept, path) != 0)
			vv_log(VV_LOG_WARN, "could not put back the old %s (%s): it is kept as %s", path,
			       strerror(errno), kept);
	} else if (made && lstat(path, &st) == 0 && same_inode(&st, made)) {
		(void)unlink(path);
	}
	free(kept);
}

int vv_outfile_commit_pair(struct vv_outfile *first, struct vv_outfile *last, bool replace)
{
	char *path = strdup(first->path), *lpath = strdup(last->path), *kept = NULL;
	struct stat made, st, lst;
	bool known;
	int rc = 0;

	if (!path || !lpath)
		rc = vv_errf(VV_ERR_NOMEM, "%s", first->path);
	else if (replace)
		rc = keep_old(path, &kept);
	if (rc != 0 || !path || !lpath) {
		vv_outfile_abort(first, true);
		vv_outfile_abort(last, true);
		goto out;
	}
	if ((rc = vv_outfile_commit(first, replace)) != 0) {
		vv_outfile_abort(last, true);
		if (kept)
			(void)unlink(kept); /* our extra link: path still names the old file */
		free(kept);
		goto out;
	}
	known = lstat(path, &made) == 0;
	/* last must not be another name of what first has just become. */
	if (known && stat(lpath, &st) == 0 && same_inode(&st, &made)) {
		rc = vv_errf(VV_ERR_INVAL, "%s and %s name the same file", path, lpath);
		vv_outfile_abort(last, true);
		undo_commit(path, &made, kept);
		goto out;
	}
	if ((rc = vv_outfile_commit(last, replace)) != 0) {
		undo_commit(path, known ? &made : NULL, kept);
		goto out;
	}
	if (kept)
		(void)unlink(kept);
	free(kept);
	/* Two names of one directory entry: committing last wrote over first. */
	if (lstat(path, &st) == 0 && lstat(lpath, &lst) == 0 && same_inode(&st, &lst))
		rc = vv_errf(VV_ERR_INVAL,
			     "%s turned out to be another name of %s, so the second file was written "
			     "over the first: give two different files", lpath, path);
out:
	free(path);
	free(lpath);
	return rc;
}

/* The folder of path resolved (realpath) and its last component: one
 * spelling per directory entry.  NULL if the folder does not resolve. */
static char *canonical(const char *path)
{
	const char *base;
	char *dir = dir_of(path, &base), *real = NULL, *out = NULL;

	if (dir && (real = realpath(dir, NULL)) != NULL && asprintf(&out, "%s/%s", real, base) < 0)
		out = NULL;
	free(dir);
	free(real);
	return out;
}

bool vv_outfile_same_file(const char *a, const char *b)
{
	char *ca = canonical(a), *cb = canonical(b);
	bool same = strcmp(a, b) == 0 || (ca && cb && strcmp(ca, cb) == 0);
	struct stat sa, sb;

	free(ca);
	free(cb);
	if (!same && lstat(a, &sa) == 0 && lstat(b, &sb) == 0)
		same = same_inode(&sa, &sb);
	if (!same && stat(a, &sa) == 0 && stat(b, &sb) == 0)
		same = same_inode(&sa, &sb);
	return same;
}

void vv_outfile_abort(struct vv_outfile *out, bool wipe)
{
	static const uint8_t zeros[65536];
	struct stat st;
	uint64_t size;

	if (out->fd >= 0) {
		/* A write that failed midway may have left bytes that `written` does
		 * not count: wipe up to the file's real size. */
		size = out->written;
		if (wipe && fstat(out->fd, &st) == 0 && st.st_size > 0 && (uint64_t)st.st_size > size)
			size = (uint64_t)st.st_size;
		for (uint64_t off = 0; wipe && off < size;) {
			size_t n = size - off < sizeof zeros ? (size_t)(size - off) : sizeof zeros;
			ssize_t w = pwrite(out->fd, zeros, n, (off_t)off);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				break;
			off += (uint64_t)w;
		}
		if (wipe && size)
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
