/* Passphrases from a file, the environment, or a no-echo terminal prompt,
 * always into secure memory. */
#include "passphrase.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

/* Reads up to VV_PASSPHRASE_MAX bytes of fd into out, stopping after a
 * newline when line is set (a terminal), else at EOF. */
static int read_into(int fd, bool line, vv_sbuf *out)
{
	int rc;

	if ((rc = vv_sbuf_reserve(out, VV_PASSPHRASE_MAX + 1)) != 0)
		return rc;
	for (;;) {
		ssize_t r;
		if (out->len == VV_PASSPHRASE_MAX + 1)
			return vv_errf(VV_ERR_RANGE, "passphrase longer than %d bytes", VV_PASSPHRASE_MAX);
		/* One byte at a time on a terminal, so nothing past the line is taken. */
		r = read(fd, out->data + out->len, line ? 1 : VV_PASSPHRASE_MAX + 1 - out->len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return vv_errf(VV_ERR_IO, "reading the passphrase: %s", strerror(errno));
		if (r == 0)
			break;
		out->len += (size_t)r;
		if (line && out->data[out->len - 1] == '\n')
			break;
	}
	/* One line ending is not part of the passphrase. */
	if (out->len && out->data[out->len - 1] == '\n')
		out->len--;
	if (out->len && out->data[out->len - 1] == '\r')
		out->len--;
	return 0;
}

static int from_file(const char *path, vv_sbuf *out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY), rc;

	if (fd < 0)
		return vv_errf(VV_ERR_IO, "%s: %s", path, strerror(errno));
	rc = read_into(fd, false, out);
	close(fd);
	return rc ? vv_err_prefix(rc, "%s", path) : 0;
}

/* Prompts on the controlling terminal with echo off.  Signals that would
 * stop or end the process wait until the terminal is restored. */
static int from_tty(const char *prompt, vv_sbuf *out)
{
	struct termios old, quiet;
	sigset_t block, saved;
	int fd, rc;

	fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return VV_ERR_NOTFOUND;
	if (tcgetattr(fd, &old) != 0) {
		close(fd);
		return VV_ERR_NOTFOUND;
	}
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGQUIT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGTSTP);
	sigaddset(&block, SIGHUP);
	sigprocmask(SIG_BLOCK, &block, &saved);
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	quiet.c_lflag |= ECHONL;
	if (tcsetattr(fd, TCSAFLUSH, &quiet) != 0) {
		rc = vv_errf(VV_ERR_IO, "cannot turn terminal echo off: %s", strerror(errno));
	} else {
		rc = vv_write_all(fd, prompt, strlen(prompt));
		if (rc == 0)
			rc = read_into(fd, true, out);
		(void)tcsetattr(fd, TCSAFLUSH, &old);
	}
	sigprocmask(SIG_SETMASK, &saved, NULL);
	close(fd);
	return rc;
}

int vv_cli_passphrase(const char *file, const char *what, bool confirm, vv_sbuf *out)
{
	const char *env = getenv(VV_PASSPHRASE_ENV);
	char prompt[512];
	vv_sbuf again;
	int rc;

	vv_sbuf_wipe(out);
	if (file)
		rc = from_file(file, out);
	else if (env && strlen(env) > VV_PASSPHRASE_MAX)
		rc = vv_errf(VV_ERR_RANGE, "%s longer than %d bytes", VV_PASSPHRASE_ENV, VV_PASSPHRASE_MAX);
	else if (env)
		rc = vv_sbuf_append(out, env, strlen(env));
	else {
		snprintf(prompt, sizeof prompt, "Passphrase for %s: ", what);
		rc = from_tty(prompt, out);
		if (rc == VV_ERR_NOTFOUND)
			return vv_errf(VV_ERR_KEY_NEEDPASS,
				       "%s needs a passphrase: set %s, use --passphrase-file, or run on "
				       "a terminal", what, VV_PASSPHRASE_ENV);
		if (rc == 0 && confirm) {
			vv_sbuf_init(&again, VV_PASSPHRASE_MAX + 1);
			rc = from_tty("Enter it again: ", &again);
			if (rc == 0 && (again.len != out->len ||
					(out->len && memcmp(again.data, out->data, out->len) != 0)))
				rc = vv_errf(VV_ERR_INVAL, "the two passphrases differ");
			vv_sbuf_done(&again);
		}
	}
	/* A NUL after the bytes, for callers that want a C string. */
	if (rc == 0)
		rc = vv_sbuf_reserve(out, 1);
	if (rc) {
		vv_sbuf_wipe(out);
		return rc;
	}
	out->data[out->len] = '\0';
	return 0;
}
