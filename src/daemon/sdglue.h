/* Private to src/daemon: varvaultd as a systemd service (sdglue.c: the
 * notify protocol, the watchdog, socket activation, journal records) and
 * its privileges (privs.c: from root to the service user, for good). */
#ifndef VARVAULT_DAEMON_SDGLUE_H
#define VARVAULT_DAEMON_SDGLUE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "varvault/core.h"

/* ---- sdglue.c ---- */

/* Sends log records to the journal (sd_journal_send, with their
 * VARVAULT_* fields) when systemd connected stderr to it (JOURNAL_STREAM
 * names stderr); else they stay on stderr.  Call once, before threads. */
void vv_sd_log_init(void);

/* A job or service event in the log: VARVAULT_EVENT=event and, when job
 * is not NULL, VARVAULT_JOB=job, after the message. */
void vv_sd_event(enum vv_log_level level, const char *event, const char *job, const char *fmt, ...)
	VV_PRINTF(4, 5);

/* The listening socket: the one systemd passed (socket activation; it must
 * be a listening AF_UNIX stream socket, else VV_ERR_SD_SOCKET), or a new one
 * at path.  *own: we bound it (and unlink it at exit).  The descriptor is
 * non-blocking and close-on-exec. */
int vv_sd_listen(const char *path, int *fd, bool *own) VV_MUST_CHECK;

/* The notify protocol state of the main loop. */
struct vv_sd {
	bool notify;            /* NOTIFY_SOCKET is set */
	uint64_t watchdog_usec; /* WATCHDOG_USEC for us; 0: no watchdog */
	double next_ping;       /* vv_seconds() of the next WATCHDOG=1 */
	char status[256];       /* the last STATUS= sent */
};

/* Reads the environment systemd gave (NOTIFY_SOCKET, WATCHDOG_USEC). */
void vv_sd_init(struct vv_sd *sd);
/* READY=1 with a first STATUS=. */
void vv_sd_ready(struct vv_sd *sd, const char *status);
/* STATUS=text, only when it differs from the last one sent. */
void vv_sd_status(struct vv_sd *sd, const char *text);
/* WATCHDOG=1 when half the watchdog interval has passed since the last. */
void vv_sd_watchdog(struct vv_sd *sd);
/* How long the main loop may sleep in poll (ms): until the next watchdog
 * ping, at most max_ms; -1 (forever) when neither asks to wake. */
int vv_sd_poll_timeout(const struct vv_sd *sd, int max_ms);
/* STOPPING=1 with a STATUS=. */
void vv_sd_stopping(struct vv_sd *sd, const char *status);

/* ---- privs.c ---- */

/* Whether this process holds root in any of its user ids. */
bool vv_privs_is_root(void);

/*
 * Started as root: takes the memory-lock allowance (vv_memlock_take: a
 * raised RLIMIT_MEMLOCK, or CAP_IPC_LOCK kept across the switch, which is
 * then the one capability left, bounding set included; else none at all),
 * hands the listening socket at sock_path (NULL:
 * systemd's, nothing to hand) to the user, checks that state_dir belongs to
 * it, then drops to user and its primary group for good (setgroups(0),
 * setresgid, setresuid, each read back; regaining root must fail) and
 * makes the process non-dumpable again.  Not root: checks nothing more
 * than that (the service manager chose the user).  Either way sets umask
 * 077.  Returns 0, VV_ERR_ROOT (user is root, or would stay root),
 * VV_ERR_NOTFOUND (no such user), VV_ERR_PRIVS (a step failed), VV_ERR_INVAL
 * (state_dir owned by another user), each with a detail naming what to do.
 */
int vv_privs_drop(const char *user, const char *state_dir, const char *sock_path) VV_MUST_CHECK;

#endif
