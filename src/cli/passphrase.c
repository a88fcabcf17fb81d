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

/*
 * Signals while the prompt holds the terminal (echo off).  They are caught
 * rather than blocked: the process has other threads (OpenBLAS starts its
 * own), which would take a blocked signal and end or stop the process with
 * echo still off.  The handler, in whichever thread, records the signal and
 * wakes the prompt through a pipe.  SIGINT ends the prompt (Ctrl-C);
 * SIGTERM, SIGHUP and SIGQUIT end it and are raised again once the terminal
 * is restored; SIGTSTP (Ctrl-Z) waits until then.
 */
static const int prompt_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP};
#define NPROMPT_SIGNALS (sizeof prompt_signals / sizeof prompt_signals[0])
static volatile sig_atomic_t ending_signal; /* the first of INT, TERM, HUP, QUIT */
static volatile sig_atomic_t stop_pending;  /* SIGTSTP came */
static volatile sig_atomic_t wake_fd = -1;  /* the pipe's write end */

static void on_signal(int sig)
{
	int saved = errno;
	ssize_t r;

	if (sig == SIGTSTP)
		stop_pending = 1;
	else if (!ending_signal)
		ending_signal = sig;
	if (wake_fd >= 0) {
		r = write(wake_fd, "", 1); /* non-blocking; a full pipe wakes anyway */
		(void)r;
	}
	errno = saved;
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
 * it is taken.  Waits with waitmask, which lets the prompt's signals through
 * to this thread, and wakes on the handler's pipe (wake) when another thread
 * took one. */
static int read_tty_line(int fd, int wake, const sigset_t *waitmask, vv_sbuf *out)
{
	struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = wake, .events = POLLIN}};
	uint8_t drain[16];
	ssize_t r;
	int rc;

	if ((rc = vv_sbuf_reserve(out, ROOM)) != 0)
		return rc;
	for (;;) {
		if (ending_signal)
			return vv_errf(VV_ERR_CANCELLED, "interrupted at the passphrase prompt");
		if (out->len == ROOM)
			return vv_errf(VV_ERR_RANGE, "passphrase longer than %d bytes", VV_PASSPHRASE_MAX);
		if (ppoll(p, 2, NULL, waitmask) < 0) {
			if (errno == EINTR)
				continue;
			return vv_errf(VV_ERR_IO, "waiting for the passphrase: %s", strerror(errno));
		}
		if (p[1].revents) {
			while (read(wake, drain, sizeof drain) > 0)
				;
			continue;
		}
		if (!p[0].revents)
			continue;
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

/* Prompts on the controlling terminal with echo off; signals as above.  A
 * signal the process ignores stays ignored. */
static int from_tty(const char *prompt, vv_sbuf *out)
{
	struct sigaction act, old_act[NPROMPT_SIGNALS];
	bool caught[NPROMPT_SIGNALS];
	struct termios old, quiet;
	sigset_t block, saved;
	int fd, wake[2], rc, sig, stop;

	fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return VV_ERR_NOTFOUND;
	if (tcgetattr(fd, &old) != 0) {
		close(fd);
		return VV_ERR_NOTFOUND;
	}
	if (pipe2(wake, O_CLOEXEC | O_NONBLOCK) != 0) {
		rc = vv_errf(VV_ERR_IO, "pipe: %s", strerror(errno));
		close(fd);
		return rc;
	}
	/* Blocked in this thread but for the wait itself (ppoll), so that a
	 * signal cannot slip in between a check and the wait. */
	sigemptyset(&block);
	for (size_t i = 0; i < NPROMPT_SIGNALS; i++)
		sigaddset(&block, prompt_signals[i]);
	sigprocmask(SIG_BLOCK, &block, &saved);
	ending_signal = 0;
	stop_pending = 0;
	wake_fd = wake[1];
	memset(&act, 0, sizeof act);
	act.sa_handler = on_signal;
	sigfillset(&act.sa_mask);
	for (size_t i = 0; i < NPROMPT_SIGNALS; i++) {
		sigaction(prompt_signals[i], NULL, &old_act[i]);
		caught[i] = old_act[i].sa_handler != SIG_IGN;
		if (caught[i])
			sigaction(prompt_signals[i], &act, NULL);
	}
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	quiet.c_lflag |= ECHONL;
	if (tcsetattr(fd, TCSAFLUSH, &quiet) != 0) {
		rc = vv_errf(VV_ERR_IO, "cannot turn terminal echo off: %s", strerror(errno));
	} else {
		rc = vv_write_all(fd, prompt, strlen(prompt));
		if (rc == 0)
			rc = read_tty_line(fd, wake[0], &saved, out);
		(void)tcsetattr(fd, TCSAFLUSH, &old);
		if (rc == VV_ERR_CANCELLED && vv_write_all(fd, "\n", 1) != 0) {
			/* only cosmetic: the prompt's line is left open */
		}
	}
	for (size_t i = 0; i < NPROMPT_SIGNALS; i++)
		if (caught[i])
			sigaction(prompt_signals[i], &old_act[i], NULL);
	wake_fd = -1;
	close(wake[0]);
	close(wake[1]);
	close(fd);
	sig = ending_signal;
	stop = stop_pending;
	sigprocmask(SIG_SETMASK, &saved, NULL);
	/* The terminal is itself again: what was asked meanwhile may happen now
	 * (SIGINT was the prompt's to handle: VV_ERR_CANCELLED). */
	if (sig && sig != SIGINT)
		raise(sig);
	if (stop)
		raise(SIGTSTP);
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
