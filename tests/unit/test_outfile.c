/* Unit tests of core's output files (src/core/outfile.c): files that
 * appear whole or not at all, what they leave when system calls fail, and
 * targets they must never replace.  The Makefile links this program with
 * --wrap for the system calls below, so that a test can make one fail. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "varvault/core.h"

/* ---- injected failures ---- */

static struct {
	int tmpfile_errno;   /* open(O_TMPFILE) fails with this; 0: it works */
	int write_fd;        /* writes to this fd fail once write_room is used up */
	size_t write_room;
	int pwrite_fd;       /* zero bytes pwritten to this fd are counted */
	uint64_t zeros;
	int close_fd;        /* closing this fd reports EIO (after closing it) */
	int closes;          /* close() calls on close_fd */
	int umasks;          /* umask() calls */
	const char *mkostemp_name; /* mkostemp fails, leaving this name in the template */
	const char *rename_fail;   /* rename() onto this path fails with EIO */
} inject = {.write_fd = -1, .pwrite_fd = -1, .close_fd = -1};

int __real_open(const char *path, int flags, ...);
ssize_t __real_write(int fd, const void *p, size_t n);
int __real_close(int fd);
ssize_t __real_pwrite(int fd, const void *p, size_t n, off_t off);
mode_t __real_umask(mode_t mask);
int __real_mkostemp(char *tmpl, int flags);
int __real_rename(const char *from, const char *to);

int __wrap_open(const char *path, int flags, ...)
{
	mode_t mode = 0;
	va_list ap;

	if (flags & (O_CREAT | O_TMPFILE)) {
		va_start(ap, flags);
		mode = (mode_t)va_arg(ap, int);
		va_end(ap);
	}
	if ((flags & O_TMPFILE) == O_TMPFILE && inject.tmpfile_errno) {
		errno = inject.tmpfile_errno;
		return -1;
	}
	return __real_open(path, flags, mode);
}

ssize_t __wrap_write(int fd, const void *p, size_t n)
{
	if (fd == inject.write_fd) {
		if (inject.write_room == 0) {
			errno = ENOSPC;
			return -1;
		}
		if (n > inject.write_room)
			n = inject.write_room;
		inject.write_room -= n;
	}
	return __real_write(fd, p, n);
}

int __wrap_close(int fd)
{
	if (fd >= 0 && fd == inject.close_fd) {
		inject.closes++;
		(void)__real_close(fd);
		errno = EIO;
		return -1;
	}
	return __real_close(fd);
}

ssize_t __wrap_pwrite(int fd, const void *p, size_t n, off_t off)
{
	ssize_t w = __real_pwrite(fd, p, n, off);

	if (fd == inject.pwrite_fd && w > 0) {
		const uint8_t *b = p;
		for (ssize_t i = 0; i < w; i++)
			if (b[i])
				return w;
		inject.zeros += (uint64_t)w;
	}
	return w;
}

mode_t __wrap_umask(mode_t mask)
{
	inject.umasks++;
	return __real_umask(mask);
}

int __wrap_mkostemp(char *tmpl, int flags)
{
	size_t n = strlen(tmpl);

	if (!inject.mkostemp_name)
		return __real_mkostemp(tmpl, flags);
	/* As if every name tried was taken: the last one stays in the template. */
	assert_true(n >= 6 && strcmp(tmpl + n - 6, "XXXXXX") == 0);
	memcpy(tmpl + n - 6, inject.mkostemp_name, 6);
	errno = EEXIST;
	return -1;
}

int __wrap_rename(const char *from, const char *to)
{
	if (inject.rename_fail && strcmp(to, inject.rename_fail) == 0) {
		errno = EIO;
		return -1;
	}
	return __real_rename(from, to);
}

/* ---- helpers ---- */

static char dir[64];

static int make_dir(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/vv_outfile_XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static const char *in_dir(const char *name)
{
	static char path[2][256];
	static int i;

	i ^= 1;
	snprintf(path[i], sizeof path[i], "%s/%s", dir, name);
	return path[i];
}

static int entries(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(d);
	return n;
}

static void put_file(const char *path, const char *text, size_t n)
{
	int fd = __real_open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(vv_write_all(fd, text, n), 0);
	__real_close(fd);
}

static size_t file_text(const char *path, char *buf, size_t size)
{
	int fd = __real_open(path, O_RDONLY | O_CLOEXEC, 0);
	ssize_t r;

	assert_true(fd >= 0);
	r = read(fd, buf, size - 1);
	__real_close(fd);
	assert_true(r >= 0);
	buf[r] = '\0';
	return (size_t)r;
}

/* ---- output files ---- */

/* A write that fails midway leaves bytes that abort must wipe too. */
static void test_out_wipes_partial_write(void **state)
{
	static uint8_t data[8000];
	struct vv_outfile out;
	const char *path = in_dir("plain");

	(void)state;
	memset(data, 'p', sizeof data);
	assert_int_equal(vv_outfile_open(&out, path, 0600, VV_OUTFILE_UNNAMED_ONLY), 0);
	assert_int_equal(vv_outfile_write(&out, data, 3000), 0);
	inject.write_fd = out.fd;
	inject.write_room = 2000; /* 2000 of the next 8000 bytes land, then ENOSPC */
	assert_int_equal(vv_outfile_write(&out, data, sizeof data), VV_ERR_IO);
	inject.write_fd = -1;
	inject.pwrite_fd = out.fd;
	inject.zeros = 0;
	vv_outfile_abort(&out, true);
	inject.pwrite_fd = -1;
	assert_true(inject.zeros >= 5000);
	assert_int_equal(out.fd, -1);
	assert_int_equal(entries(), 0);
}

/* Without O_TMPFILE, plaintext is refused a named temporary; other outputs
 * get one, with the mode less the umask, read without calling umask(). */
static void test_out_without_tmpfile(void **state)
{
	struct vv_outfile out;
	const char *path = in_dir("out");
	struct stat st;
	char text[64];
	mode_t old;

	(void)state;
	old = __real_umask(027);
	inject.tmpfile_errno = EOPNOTSUPP;
	inject.umasks = 0;
	assert_int_equal(vv_outfile_open(&out, path, 0600, VV_OUTFILE_UNNAMED_ONLY), VV_ERR_UNSUPPORTED);
	assert_non_null(strstr(vv_err_detail(), "O_TMPFILE"));
	assert_non_null(strstr(vv_err_detail(), "stdout"));
	assert_null(out.path);
	assert_int_equal(entries(), 0);

	assert_int_equal(vv_outfile_open(&out, path, 0666, 0), 0);
	assert_non_null(out.tmp);
	assert_int_equal(vv_outfile_write(&out, "public", 6), 0);
	assert_int_equal(vv_outfile_commit(&out, false), 0);
	inject.tmpfile_errno = 0;
	__real_umask(old);
	assert_int_equal(inject.umasks, 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);
	assert_int_equal(file_text(path, text, sizeof text), 6);
	assert_int_equal(entries(), 1);
	assert_int_equal(unlink(path), 0);
}

/* A failed mkostemp leaves a name in its template that is not ours. */
static void test_out_mkostemp_failure(void **state)
{
	struct vv_outfile out;
	const char *victim = in_dir(".out.VICTIM");

	(void)state;
	put_file(victim, "someone else's", 14);
	inject.tmpfile_errno = EOPNOTSUPP;
	inject.mkostemp_name = "VICTIM";
	assert_int_equal(vv_outfile_open(&out, in_dir("out"), 0600, 0), VV_ERR_IO);
	inject.mkostemp_name = NULL;
	inject.tmpfile_errno = 0;
	assert_int_equal(access(victim, F_OK), 0);
	assert_int_equal(unlink(victim), 0);
}

/* A close() that fails after the file was named and synced is not a
 * failure, and the descriptor is not closed twice. */
static void test_out_close_failure(void **state)
{
	struct vv_outfile out;
	const char *path = in_dir("closed");
	char text[64];

	(void)state;
	for (int replace = 0; replace < 2; replace++) {
		assert_int_equal(vv_outfile_open(&out, path, 0600, 0), 0);
		assert_int_equal(vv_outfile_write(&out, "kept", 4), 0);
		inject.close_fd = out.fd;
		inject.closes = 0;
		assert_int_equal(vv_outfile_commit(&out, replace), 0);
		inject.close_fd = -1;
		assert_int_equal(inject.closes, 1);
		assert_int_equal(out.fd, -1);
		assert_int_equal(file_text(path, text, sizeof text), 4);
		assert_string_equal(text, "kept");
	}
	assert_int_equal(entries(), 1);
	assert_int_equal(unlink(path), 0);
}

/* Two files committed as a pair: a failure on the second leaves both
 * names as they were. */
static void test_out_commit_pair(void **state)
{
	struct vv_outfile first, last;
	const char *fp = in_dir("pair.pub"), *lp = in_dir("pair.sec");
	char text[64];

	(void)state;
	/* replace: the second fails; the first's old file is put back */
	put_file(fp, "old public", 10);
	put_file(lp, "old secret", 10);
	assert_int_equal(vv_outfile_open(&first, fp, 0644, 0), 0);
	assert_int_equal(vv_outfile_open(&last, lp, 0600, 0), 0);
	assert_int_equal(vv_outfile_write(&first, "new public", 10), 0);
	assert_int_equal(vv_outfile_write(&last, "new secret", 10), 0);
	inject.rename_fail = lp;
	assert_int_equal(vv_outfile_commit_pair(&first, &last, true), VV_ERR_IO);
	inject.rename_fail = NULL;
	file_text(fp, text, sizeof text);
	assert_string_equal(text, "old public");
	file_text(lp, text, sizeof text);
	assert_string_equal(text, "old secret");
	assert_int_equal(entries(), 2);
	/* replace, both fine: both new, nothing kept */
	assert_int_equal(vv_outfile_open(&first, fp, 0644, 0), 0);
	assert_int_equal(vv_outfile_open(&last, lp, 0600, 0), 0);
	assert_int_equal(vv_outfile_write(&first, "new public", 10), 0);
	assert_int_equal(vv_outfile_write(&last, "new secret", 10), 0);
	assert_int_equal(vv_outfile_commit_pair(&first, &last, true), 0);
	file_text(fp, text, sizeof text);
	assert_string_equal(text, "new public");
	file_text(lp, text, sizeof text);
	assert_string_equal(text, "new secret");
	assert_int_equal(entries(), 2);
	/* no replace, the second exists: the first, new, is removed again */
	assert_int_equal(unlink(fp), 0);
	assert_int_equal(vv_outfile_open(&first, fp, 0644, 0), 0);
	assert_int_equal(vv_outfile_open(&last, lp, 0600, 0), 0);
	assert_int_equal(vv_outfile_commit_pair(&first, &last, false), VV_ERR_EXISTS);
	assert_int_equal(access(fp, F_OK), -1);
	assert_int_equal(entries(), 1);
	/* the second a (dangling) link to the first: refused once it would
	 * name the first's new file, and the first is removed again */
	assert_int_equal(unlink(lp), 0);
	assert_int_equal(symlink("pair.pub", lp), 0);
	assert_int_equal(vv_outfile_open(&first, fp, 0644, 0), 0);
	assert_int_equal(vv_outfile_open(&last, lp, 0600, 0), 0);
	assert_int_equal(vv_outfile_commit_pair(&first, &last, true), VV_ERR_INVAL);
	assert_non_null(strstr(vv_err_detail(), "name the same file"));
	assert_int_equal(access(fp, F_OK), -1);
	assert_int_equal(entries(), 1);
	assert_int_equal(unlink(lp), 0);
}

/* One file under several names. */
static void test_same_file(void **state)
{
	char a[256], b[256];

	(void)state;
	snprintf(a, sizeof a, "%s/a", dir);
	put_file(a, "a", 1);
	assert_true(vv_outfile_same_file(a, a));
	snprintf(b, sizeof b, "%s/./a", dir);
	assert_true(vv_outfile_same_file(a, b));
	snprintf(b, sizeof b, "%s/sub/../a", dir);
	assert_int_equal(mkdir(in_dir("sub"), 0700), 0);
	assert_true(vv_outfile_same_file(a, b));
	assert_int_equal(symlink("..", in_dir("sub/up")), 0);
	snprintf(b, sizeof b, "%s/sub/up/a", dir);
	assert_true(vv_outfile_same_file(a, b));
	snprintf(b, sizeof b, "%s/sub/up/b", dir); /* not there yet: by name */
	assert_true(vv_outfile_same_file(in_dir("b"), b));
	assert_int_equal(symlink("a", in_dir("soft")), 0);
	assert_true(vv_outfile_same_file(a, in_dir("soft")));
	assert_int_equal(link(a, in_dir("hard")), 0);
	assert_true(vv_outfile_same_file(in_dir("hard"), a));
	assert_false(vv_outfile_same_file(a, in_dir("b")));
	assert_false(vv_outfile_same_file(in_dir("b"), in_dir("c")));
	assert_false(vv_outfile_same_file(in_dir("sub/up/c"), in_dir("sub/c")));
	assert_int_equal(unlink(in_dir("sub/up")), 0);
	assert_int_equal(rmdir(in_dir("sub")), 0);
	assert_int_equal(unlink(in_dir("soft")), 0);
	assert_int_equal(unlink(in_dir("hard")), 0);
	assert_int_equal(unlink(a), 0);
	assert_int_equal(entries(), 0);
}


/* A target that is not a regular file is refused, never renamed over: a
 * FIFO, a directory, a socket, a character device (/dev/null), and a
 * symbolic link to one of them.  Each stays what it was. */
static void test_out_refuses_non_regular(void **state)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char fifo[256], sub[256], sock[100], link_dev[256];
	const char *targets[] = {fifo, sub, sock, "/dev/null", link_dev};
	struct vv_outfile out;
	struct stat st;
	int fd;

	(void)state;
	/* in_dir's result lasts two calls: copies */
	snprintf(fifo, sizeof fifo, "%s", in_dir("fifo"));
	snprintf(sub, sizeof sub, "%s", in_dir("subdir"));
	snprintf(sock, sizeof sock, "%s", in_dir("sock"));
	snprintf(link_dev, sizeof link_dev, "%s", in_dir("null-link"));
	assert_int_equal(mkfifo(fifo, 0600), 0);
	assert_int_equal(mkdir(sub, 0700), 0);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(symlink("/dev/null", link_dev), 0);
	for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
		vv_err_clear();
		assert_int_equal(vv_outfile_open(&out, targets[i], 0600, 0), VV_ERR_INVAL);
		assert_non_null(strstr(vv_err_detail(), "not a regular file"));
		assert_null(out.path);
		assert_int_equal(out.fd, -1);
	}
	assert_int_equal(lstat(fifo, &st), 0);
	assert_true(S_ISFIFO(st.st_mode));
	assert_int_equal(lstat(sub, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(lstat(sock, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(lstat("/dev/null", &st), 0);
	assert_true(S_ISCHR(st.st_mode));
	assert_int_equal(lstat(link_dev, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	/* nothing else appeared beside them */
	assert_int_equal(entries(), 4);
	__real_close(fd);
	assert_int_equal(unlink(fifo), 0);
	assert_int_equal(rmdir(sub), 0);
	assert_int_equal(unlink(sock), 0);
	assert_int_equal(unlink(link_dev), 0);
}

/* A target that becomes a FIFO after open is refused on commit too, with
 * and without O_TMPFILE, and no temporary file is left. */
static void test_out_refuses_non_regular_on_commit(void **state)
{
	const char *path = in_dir("late");
	struct vv_outfile out;
	struct stat st;

	(void)state;
	for (int fallback = 0; fallback < 2; fallback++) {
		inject.tmpfile_errno = fallback ? EOPNOTSUPP : 0;
		assert_int_equal(vv_outfile_open(&out, path, 0600, 0), 0);
		assert_int_equal(vv_outfile_write(&out, "data", 4), 0);
		assert_int_equal(mkfifo(path, 0600), 0);
		assert_int_equal(vv_outfile_commit(&out, true), VV_ERR_INVAL);
		assert_int_equal(out.fd, -1);
		assert_int_equal(lstat(path, &st), 0);
		assert_true(S_ISFIFO(st.st_mode));
		assert_int_equal(entries(), 1);
		assert_int_equal(unlink(path), 0);
	}
	inject.tmpfile_errno = 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_out_wipes_partial_write),
		cmocka_unit_test(test_out_without_tmpfile),
		cmocka_unit_test(test_out_mkostemp_failure),
		cmocka_unit_test(test_out_close_failure),
		cmocka_unit_test(test_out_commit_pair),
		cmocka_unit_test(test_same_file),
		cmocka_unit_test(test_out_refuses_non_regular),
		cmocka_unit_test(test_out_refuses_non_regular_on_commit),
	};
	if (vv_core_init() != 0)
		return 1;
	return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
