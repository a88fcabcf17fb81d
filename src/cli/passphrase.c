/* Passphrases from a file, the environment, or a no-echo terminal prompt,
 * always into secure memory. */
#include "passphrase.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

/* Room for the longest passphrase and one line ending (CRLF). */
#define ROOM (VV_PASSPHRASE_MAX + 2)

/* Set by the SIGINT handler while a prompt waits. */
static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* Drops one line ending (\n or \r\n), then checks the length. */
static int finish(vv_sbuf *out)
{
	if (out->len && out->data[out->len - 1] == '\n')
		out->len--;
	if (out->len && out->data[out->len - 1] == '\r')
		out->len--;
	if (out->len > VV_PASSPHRASE_MAX)
		return vv_errf(VV_ERR_RANGE, "passphrase longer than %d bytes", VV_PASSPHRASE_MAX);
	return 0;
}

static int from_file(const char *path, vv_sbuf *out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY), rc = 0;
	uint8_t probe[1];
	ssize_t r;

	if (fd < 0)
		return vv_errf(VV_ERR_IO, "%s: %s", path, strerror(errno));
	if ((rc = vv_sbuf_reserve(out, ROOM)) != 0)
		goto out;
	while (out->len < ROOM) {
		r = read(fd, out->data + out->len, ROOM - out->len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = vv_errf(VV_ERR_IO, "reading the passphrase: %s", strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		out->len += (size_t)r;
	}
	if (out->len == ROOM) {
		/* Full: fine if the file ends here, too long if anything follows. */
		do
			r = read(fd, probe, sizeof probe);
		while (r < 0 && errno == EINTR);
		if (r < 0) {
			rc = vv_errf(VV_ERR_IO, "reading the passphrase: %s", strerror(errno));
			goto out;
		}
		if (r > 0) {
			vv_wipe(probe, sizeof probe);
			rc = vv_errf(VV_ERR_RANGE, "passphrase longer than %d bytes", VV_PASSPHRASE_MAX);
			goto out;
		}
	}
	rc = finish(out);
out:
	close(fd);
	return rc ? vv_err_prefix(rc, "%s", path) : 0;
}

/* Reads one line from the terminal, a byte at a time so that nothing past
 * it is taken.  Waits for input with waitmask, which lets SIGINT through:
 * Ctrl-C then ends the wait (the handler sets interrupted). */
static int read_tty_line(int fd, const sigset_t *waitmask, vv_sbuf *out)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	ssize_t r;
	int rc;

	if ((rc = vv_sbuf_reserve(out, ROOM)) != 0)
		return rc;
	for (;;) {
		if (interrupted)
			return vv_errf(VV_ERR_CANCELLED, "interrupted at the passphrase prompt");
		if (out->len == ROOM)
			return vv_errf(VV_ERR_RANGE, "passphrase longer than %d bytes", VV_PASSPHRASE_MAX);
		if (ppoll(&p, 1, NULL, waitmask) < 0) {
			if (errno == EINTR)
				continue;
			return vv_errf(VV_ERR_IO, "waiting for the passphrase: %s", strerror(errno));
		}
		r = read(fd, out->data + out->len, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return vv_errf(VV_ERR_IO, "reading the passphrase: %s", strerror(errno));
		if (r == 0)
			break;
		if (out->data[out->len++] == '\n')
			break;
	}
	return finish(out);
}

/* Prompts on the controlling terminal with echo off.  SIGQUIT, SIGTERM,
 * SIGTSTP and SIGHUP wait until the terminal is restored; SIGINT is caught
 * and ends the prompt (unless the process ignores or blocks it). */
static int from_tty(const char *prompt, vv_sbuf *out)
{
	struct termios old, quiet;
	struct sigaction act, oldint;
	sigset_t block, saved, waitmask;
	bool catch_int;
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
	/* SIGINT stays blocked but for the wait itself (ppoll), so that it can
	 * only arrive there, never between a check and a read. */
	sigaction(SIGINT, NULL, &oldint);
	catch_int = oldint.sa_handler != SIG_IGN && !sigismember(&saved, SIGINT);
	waitmask = saved;
	sigaddset(&waitmask, SIGQUIT);
	sigaddset(&waitmask, SIGTERM);
	sigaddset(&waitmask, SIGTSTP);
	sigaddset(&waitmask, SIGHUP);
	if (catch_int) {
		memset(&act, 0, sizeof act);
		act.sa_handler = on_sigint;
		sigemptyset(&act.sa_mask);
		interrupted = 0;
		sigaction(SIGINT, &act, NULL);
		sigdelset(&waitmask, SIGINT);
	} else {
		sigaddset(&waitmask, SIGINT);
	}
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	quiet.c_lflag |= ECHONL;
	if (tcsetattr(fd, TCSAFLUSH, &quiet) != 0) {
		rc = vv_errf(VV_ERR_IO, "cannot turn terminal echo off: %s", strerror(errno));
	} else {
		rc = vv_write_all(fd, prompt, strlen(prompt));
		if (rc == 0)
			rc = read_tty_line(fd, &waitmask, out);
		(void)tcsetattr(fd, TCSAFLUSH, &old);
		if (rc == VV_ERR_CANCELLED && vv_write_all(fd, "\n", 1) != 0) {
			/* only cosmetic: the prompt's line is left open */
		}
	}
	if (catch_int)
		sigaction(SIGINT, &oldint, NULL);
	sigprocmask(SIG_SETMASK, &saved, NULL);
	close(fd);
	return rc;
}

/* Takes the passphrase from the environment, and removes it from there:
 * child processes do not inherit it, and its bytes are wiped in place (the
 * initial environment is what /proc/PID/environ shows). */
static int from_env(char *env, vv_sbuf *out)
{
	size_t n = strlen(env);
	int rc;

	if (n > VV_PASSPHRASE_MAX)
		rc = vv_errf(VV_ERR_RANGE, "%s longer than %d bytes", VV_PASSPHRASE_ENV, VV_PASSPHRASE_MAX);
	else
		rc = vv_sbuf_append(out, env, n);
	vv_wipe(env, n);
	(void)unsetenv(VV_PASSPHRASE_ENV);
	return rc;
}

int vv_cli_passphrase(const char *file, const char *what, bool confirm, vv_sbuf *out)
{
	char *env = getenv(VV_PASSPHRASE_ENV);
	char prompt[512];
	vv_sbuf again;
	int rc;

	vv_sbuf_wipe(out);
	if (file)
		rc = from_file(file, out);
	else if (env)
		rc = from_env(env, out);
	else {
		snprintf(prompt, sizeof prompt, "Passphrase for %s: ", what);
		rc = from_tty(prompt, out);
		if (rc == VV_ERR_NOTFOUND)
			return vv_errf(VV_ERR_KEY_NEEDPASS,
				       "%s needs a passphrase: set %s, use --passphrase-file, or run on "
				       "a terminal", what, VV_PASSPHRASE_ENV);
		if (rc == 0 && confirm) {
			vv_sbuf_init(&again, VV_PASSPHRASE_BUF);
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
