/* Private to src/daemon: capabilities without libcap (the capget/capset
 * system calls and prctl), and the memory-lock allowance that varvaultd,
 * started as root, takes before it becomes the service user (caps.c). */
#ifndef VARVAULT_DAEMON_CAPS_H
#define VARVAULT_DAEMON_CAPS_H

#include <stdbool.h>
#include <stdint.h>

#include "varvault/core.h"

/* ---- capabilities of the calling thread ----
 * Capabilities belong to a thread: these act on the caller only.  Threads
 * it starts afterwards (and processes they spawn) inherit what it holds. */

/* Whether the caller holds cap (effective: in its effective set; else in
 * its permitted set). */
bool vv_caps_held(int cap, bool effective);

/* Drops every capability but keep (-1: every one) from the bounding set,
 * so that no execve can bring one back.  Needs CAP_SETPCAP.  Returns 0 or
 * VV_ERR_PRIVS (the first one that could not be dropped, in the detail). */
int vv_caps_bound_only(int keep) VV_MUST_CHECK;

/* After a setresuid away from root with PR_SET_KEEPCAPS on: keeps cap alone
 * (permitted, effective, inheritable) and raises it as an ambient capability
 * so that an execve of the plain varvaultd binary (a worker) keeps it; turns
 * PR_SET_KEEPCAPS off again; reads it all back.  Returns 0 or VV_ERR_PRIVS. */
int vv_caps_keep_only(int cap) VV_MUST_CHECK;

/* Drops every capability of the caller (permitted, effective, inheritable,
 * ambient) and reads it back.  Returns 0 or VV_ERR_PRIVS. */
int vv_caps_drop_all(void) VV_MUST_CHECK;

/* ---- the memory-lock allowance ---- */

enum vv_memlock_way {
	/* RLIMIT_MEMLOCK as the service manager set it (LimitMEMLOCK=), the
	 * documented way; started as root, the soft limit raised to the hard */
	VV_MEMLOCK_LIMIT,
	/* started as root with CAP_SYS_RESOURCE: RLIMIT_MEMLOCK raised before
	 * the switch, then set (soft and hard) to the need once it is known */
	VV_MEMLOCK_RLIMIT,
	/* CAP_IPC_LOCK, which lets mlock ignore RLIMIT_MEMLOCK: kept across
	 * the switch (started as root without CAP_SYS_RESOURCE), or given by
	 * the service manager (AmbientCapabilities=CAP_IPC_LOCK) */
	VV_MEMLOCK_CAP,
};

/* "limit", "rlimit", "cap_ipc_lock": the names --check-config --json and
 * the log use. */
const char *vv_memlock_way_name(enum vv_memlock_way w);

/*
 * Started as root, before the switch to the service user (privs.c): raises
 * RLIMIT_MEMLOCK soft and hard to unlimited (settled to the need later, see
 * vv_memlock_settle); where that fails for want of CAP_SYS_RESOURCE and the
 * process holds CAP_IPC_LOCK, sets *keep_ipc_lock: the caller keeps that one
 * capability across the switch.  Else raises the soft limit to the hard one.
 * Records the way taken; never fails (the worker's own check refuses jobs
 * when the allowance falls short).  Call from the main thread, before any
 * thread of ours.
 */
void vv_memlock_take(bool *keep_ipc_lock);

/*
 * The monitor, once the model is loaded and need (vv_daemon_memneed's
 * total) is known, still in the main thread before the scheduler starts:
 * VV_MEMLOCK_RLIMIT: sets RLIMIT_MEMLOCK soft and hard to need (never below
 * what the service manager gave); VV_MEMLOCK_CAP: drops CAP_IPC_LOCK when
 * RLIMIT_MEMLOCK alone covers need.  Logs the way taken and the figures.
 * Returns 0 or VV_ERR_PRIVS.
 */
int vv_memlock_settle(uint64_t need) VV_MUST_CHECK;

/* The way taken (vv_memlock_take, vv_memlock_settle); VV_MEMLOCK_CAP as
 * well when the service manager gave CAP_IPC_LOCK. */
enum vv_memlock_way vv_memlock_way(void);

/* --check-config: the way a daemon started now, as this process, would
 * take, asked without changing anything. */
enum vv_memlock_way vv_memlock_plan(void);

#endif
