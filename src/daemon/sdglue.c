/* varvaultd as a systemd service: Type=notify (READY, STATUS, WATCHDOG,
 * STOPPING), socket activation, and log records with fields in the
 * journal.  Everything here also works with no systemd at all: without
 * NOTIFY_SOCKET nothing is sent, without a passed socket we bind our own,
 * without a journal on stderr the records stay on stderr. */
#include "sdglue.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <syslog.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include "varvault/net.h"

/* ------------------------------------------------------------- journal */

static void journal_sink(enum vv_log_level level, const char *progname, const char *msg,
			 const struct vv_log_field *f, size_t n)
{
	static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
	/* MESSAGE, PRIORITY, SYSLOG_IDENTIFIER and at most 8 fields. */
	enum { MAXF = 8 };
	char bufs[3 + MAXF][512];
	struct iovec iov[3 + MAXF];
	size_t k = 0;

	snprintf(bufs[k], sizeof bufs[k], "MESSAGE=%s", msg);
	snprintf(bufs[++k], sizeof bufs[k], "PRIORITY=%d", prio[level]);
	snprintf(bufs[++k], sizeof bufs[k], "SYSLOG_IDENTIFIER=%s", progname);
	k++;
	for (size_t i = 0; i < n && i < MAXF; i++, k++)
		snprintf(bufs[k], sizeof bufs[k], "%s=%s", f[i].name, f[i].value ? f[i].value : "");
	for (size_t i = 0; i < k; i++)
		iov[i] = (struct iovec){bufs[i], strlen(bufs[i])};
	/* A journal that went away: the message must still go somewhere. */
	if (sd_journal_sendv(iov, (int)k) < 0)
		fprintf(stderr, "%s: %s\n", progname, msg);
}

void vv_sd_log_init(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	/* systemd sets JOURNAL_STREAM=<dev>:<ino> of the stream it connected
	 * to stdout/stderr; a stderr redirected elsewhere since (a file, a
	 * terminal) keeps its plain lines. */
	if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st) != 0 ||
	    (unsigned long long)st.st_dev != dev || (unsigned long long)st.st_ino != ino)
		return;
	vv_log_set_sink(journal_sink);
}

void vv_sd_event(enum vv_log_level level, const char *event, const char *job, const char *fmt, ...)
{
	struct vv_log_field f[2] = {{"VARVAULT_EVENT", event}, {"VARVAULT_JOB", job}};
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	vv_log_fields(level, f, job ? 2 : 1, "%s", msg);
}

/* ------------------------------------------------------------- socket */

int vv_sd_listen(const char *path, int *fd, bool *own)
{
	/* unset_environment: workers and anything else we start must not
	 * believe the socket is theirs. */
	int n = sd_listen_fds(1), r, fl;

	*fd = -1;
	*own = false;
	if (n < 0)
		return vv_errf(VV_ERR_SD_SOCKET, "sd_listen_fds: %s", strerror(-n));
	if (n == 0) {
		*own = true;
		return vv_net_listen(path, 128, fd);
	}
	if (n > 1)
		return vv_errf(VV_ERR_SD_SOCKET, "systemd passed %d sockets; one (ListenStream=) expected", n);
	r = sd_is_socket_unix(SD_LISTEN_FDS_START, SOCK_STREAM, 1, NULL, 0);
	if (r < 0)
		return vv_errf(VV_ERR_SD_SOCKET, "socket from systemd: %s", strerror(-r));
	if (r == 0)
		return vv_errf(VV_ERR_SD_SOCKET, "the socket systemd passed is not a listening AF_UNIX stream "
						 "socket (ListenStream=/path in the .socket unit, Accept=no)");
	/* The accept loop polls first and never blocks in accept(). */
	if ((fl = fcntl(SD_LISTEN_FDS_START, F_GETFL)) < 0 ||
	    fcntl(SD_LISTEN_FDS_START, F_SETFL, fl | O_NONBLOCK) != 0)
		return vv_errf(VV_ERR_SD_SOCKET, "socket from systemd: fcntl: %s", strerror(errno));
	*fd = SD_LISTEN_FDS_START;
	return 0;
}

/* ------------------------------------------------------------- notify */

void vv_sd_init(struct vv_sd *sd)
{
	uint64_t usec = 0;

	memset(sd, 0, sizeof *sd);
	sd->notify = getenv("NOTIFY_SOCKET") != NULL;
	/* > 0 only when WATCHDOG_USEC is set and WATCHDOG_PID, if set, is us;
	 * systemd kills the service after usec without a ping. */
	if (sd->notify && sd_watchdog_enabled(0, &usec) > 0 && usec > 0)
		sd->watchdog_usec = usec;
	sd->next_ping = vv_seconds();
}

static void notify(const struct vv_sd *sd, const char *msg)
{
	int r;

	if (!sd->notify)
		return;
	if ((r = sd_notify(0, msg)) < 0)
		vv_log(VV_LOG_WARN, "sd_notify: %s", strerror(-r));
}

void vv_sd_ready(struct vv_sd *sd, const char *status)
{
	char msg[sizeof sd->status + 32];

	snprintf(sd->status, sizeof sd->status, "%s", status);
	snprintf(msg, sizeof msg, "READY=1\nSTATUS=%s", sd->status);
	notify(sd, msg);
	vv_sd_watchdog(sd);
}

void vv_sd_status(struct vv_sd *sd, const char *text)
{
	char msg[sizeof sd->status + 16];

	if (!sd->notify || !strncmp(sd->status, text, sizeof sd->status - 1))
		return;
	snprintf(sd->status, sizeof sd->status, "%s", text);
	snprintf(msg, sizeof msg, "STATUS=%s", sd->status);
	notify(sd, msg);
}

void vv_sd_watchdog(struct vv_sd *sd)
{
	double now = vv_seconds();

	if (!sd->watchdog_usec || now < sd->next_ping)
		return;
	notify(sd, "WATCHDOG=1");
	/* Half the interval, as sd_watchdog_enabled(3) advises: one late
	 * wake-up does not get us killed, a hung loop does. */
	sd->next_ping = now + (double)sd->watchdog_usec / 2e6;
}

int vv_sd_poll_timeout(const struct vv_sd *sd, int max_ms)
{
	double left;
	int ms;

	if (!sd->watchdog_usec)
		return max_ms;
	left = sd->next_ping - vv_seconds();
	ms = left <= 0 ? 0 : (int)(left * 1000) + 1;
	return max_ms >= 0 && max_ms < ms ? max_ms : ms;
}

void vv_sd_stopping(struct vv_sd *sd, const char *status)
{
	char msg[sizeof sd->status + 32];

	snprintf(sd->status, sizeof sd->status, "%s", status);
	snprintf(msg, sizeof msg, "STOPPING=1\nSTATUS=%s", sd->status);
	notify(sd, msg);
}
