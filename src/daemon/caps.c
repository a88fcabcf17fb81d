/* Capabilities through the raw capget/capset system calls (libcap is not a
 * dependency), and the memory-lock allowance varvaultd takes as root. */
#include "caps.h"

#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "memneed.h"
#include "sdglue.h"

/* The three sets of the calling thread, two 32-bit words each. */
struct capsets {
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];
};

static int caps_get(struct capsets *c)
{
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};

	memset(c, 0, sizeof *c);
	if (syscall(SYS_capget, &h, c->d) != 0)
		return vv_errf(VV_ERR_PRIVS, "capget: %s", strerror(errno));
	return 0;
}

static int caps_set(struct capsets *c)
{
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};

	if (syscall(SYS_capset, &h, c->d) != 0)
		return vv_errf(VV_ERR_PRIVS, "capset: %s", strerror(errno));
	return 0;
}

/* Sets of only cap (cap < 0: empty) in all three. */
static void caps_only(struct capsets *c, int cap)
{
	memset(c, 0, sizeof *c);
	if (cap >= 0) {
		uint32_t bit = 1u << (cap % 32);
		c->d[cap / 32].permitted = c->d[cap / 32].effective = c->d[cap / 32].inheritable = bit;
	}
}

/* Whether the caller's sets are exactly those of caps_only(cap). */
static bool caps_are_only(int cap)
{
	struct capsets want, got;

	caps_only(&want, cap);
	if (caps_get(&got) != 0)
		return false;
	return !memcmp(&want, &got, sizeof want);
}

bool vv_caps_held(int cap, bool effective)
{
	struct capsets c;

	if (cap < 0 || cap >= 32 * _LINUX_CAPABILITY_U32S_3 || caps_get(&c) != 0) {
		vv_err_clear();
		return false;
	}
	return ((effective ? c.d[cap / 32].effective : c.d[cap / 32].permitted) >> (cap % 32)) & 1u;
}

int vv_caps_bound_only(int keep)
{
	/* PR_CAPBSET_READ answers EINVAL past the kernel's last capability. */
	for (int cap = 0;; cap++) {
		int in = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
		if (in < 0)
			break;
		if (in == 0 || cap == keep)
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0)
			return vv_errf(VV_ERR_PRIVS, "dropping capability %d from the bounding set: %s", cap,
				       strerror(errno));
	}
	return 0;
}

int vv_caps_keep_only(int cap)
{
	struct capsets c;
	int rc;

	caps_only(&c, cap);
	if ((rc = caps_set(&c)) != 0)
		return rc;
	/* An ambient capability survives the execve of a file that has none
	 * of its own: the workers, varvaultd --worker, hold it from their
	 * first instruction without a file capability or a setuid bit. */
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) != 0)
		return vv_errf(VV_ERR_PRIVS, "raising ambient capability %d: %s", cap, strerror(errno));
	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0)
		return vv_errf(VV_ERR_PRIVS, "prctl(PR_SET_KEEPCAPS, 0): %s", strerror(errno));
	if (!caps_are_only(cap) || prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, cap, 0, 0) != 1)
		return vv_errf(VV_ERR_PRIVS, "capabilities are not capability %d alone after capset", cap);
	return 0;
}

int vv_caps_drop_all(void)
{
	struct capsets c;
	int rc;

	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0)
		return vv_errf(VV_ERR_PRIVS, "clearing ambient capabilities: %s", strerror(errno));
	caps_only(&c, -1);
	if ((rc = caps_set(&c)) != 0)
		return rc;
	if (!caps_are_only(-1))
		return vv_errf(VV_ERR_PRIVS, "capabilities remain after capset");
	return 0;
}

/* ---- the memory-lock allowance ---- */

/* Set in the main thread before any thread of ours; read afterwards. */
static enum vv_memlock_way taken = VV_MEMLOCK_LIMIT;
static bool took;                  /* vv_memlock_take ran (started as root) */
static struct rlimit given;        /* RLIMIT_MEMLOCK as the service manager gave it */

const char *vv_memlock_way_name(enum vv_memlock_way w)
{
	switch (w) {
	case VV_MEMLOCK_RLIMIT:
		return "rlimit";
	case VV_MEMLOCK_CAP:
		return "cap_ipc_lock";
	case VV_MEMLOCK_LIMIT:
		break;
	}
	return "limit";
}

/* "unlimited" or "N MiB". */
static void limit_text(rlim_t v, char *buf, size_t cap)
{
	if (v == RLIM_INFINITY)
		snprintf(buf, cap, "unlimited");
	else
		snprintf(buf, cap, "%llu MiB", (unsigned long long)(v >> 20));
}

void vv_memlock_take(bool *keep_ipc_lock)
{
	struct rlimit rl = {RLIM_INFINITY, RLIM_INFINITY};

	*keep_ipc_lock = false;
	took = true;
	taken = VV_MEMLOCK_LIMIT;
	if (getrlimit(RLIMIT_MEMLOCK, &given) != 0) {
		vv_log(VV_LOG_WARN, "getrlimit(RLIMIT_MEMLOCK): %s", strerror(errno));
		return;
	}
	/* The need is known only once the model is loaded, which happens as
	 * the service user: take the most now (a hard limit, no capability),
	 * vv_memlock_settle lowers it to the need. */
	if (setrlimit(RLIMIT_MEMLOCK, &rl) == 0) {
		taken = VV_MEMLOCK_RLIMIT;
		return;
	}
	if (errno == EPERM && vv_caps_held(CAP_IPC_LOCK, false)) {
		/* No CAP_SYS_RESOURCE (a container's root, say): the one
		 * capability that lets mlock ignore the limit is kept instead. */
		taken = VV_MEMLOCK_CAP;
		*keep_ipc_lock = true;
		return;
	}
	/* The service user could only lower the limit: raise the soft limit
	 * to the hard one while we may (LimitMEMLOCK= sets the hard one). */
	if (given.rlim_cur < given.rlim_max) {
		rl.rlim_cur = rl.rlim_max = given.rlim_max;
		if (setrlimit(RLIMIT_MEMLOCK, &rl) != 0)
			vv_log(VV_LOG_WARN, "raising RLIMIT_MEMLOCK to its hard limit: %s", strerror(errno));
	}
}

enum vv_memlock_way vv_memlock_way(void)
{
	if (took)
		return taken;
	return vv_caps_held(CAP_IPC_LOCK, true) ? VV_MEMLOCK_CAP : VV_MEMLOCK_LIMIT;
}

enum vv_memlock_way vv_memlock_plan(void)
{
	struct rlimit rl;

	if (!vv_privs_is_root())
		return vv_caps_held(CAP_IPC_LOCK, true) ? VV_MEMLOCK_CAP : VV_MEMLOCK_LIMIT;
	if ((getrlimit(RLIMIT_MEMLOCK, &rl) == 0 && rl.rlim_max == RLIM_INFINITY) ||
	    vv_caps_held(CAP_SYS_RESOURCE, true))
		return VV_MEMLOCK_RLIMIT;
	return vv_caps_held(CAP_IPC_LOCK, false) ? VV_MEMLOCK_CAP : VV_MEMLOCK_LIMIT;
}

int vv_memlock_settle(uint64_t need)
{
	struct rlimit rl;
	char was[32], now[32];
	uint64_t mib = vv_daemon_mib_up(need);
	int rc;

	if (getrlimit(RLIMIT_MEMLOCK, &rl) != 0)
		return vv_errf(VV_ERR_PRIVS, "getrlimit(RLIMIT_MEMLOCK): %s", strerror(errno));
	switch (vv_memlock_way()) {
	case VV_MEMLOCK_RLIMIT:
		/* Exactly the need (the LimitMEMLOCK= that --check-config
		 * names), unless the service manager gave more. */
		limit_text(given.rlim_max, was, sizeof was);
		if (given.rlim_max == RLIM_INFINITY || given.rlim_max >= need)
			rl.rlim_cur = rl.rlim_max = given.rlim_max;
		else
			rl.rlim_cur = rl.rlim_max = (rlim_t)need;
		if (setrlimit(RLIMIT_MEMLOCK, &rl) != 0)
			return vv_errf(VV_ERR_PRIVS, "setting RLIMIT_MEMLOCK to %llu MiB: %s",
				       (unsigned long long)mib, strerror(errno));
		limit_text(rl.rlim_cur, now, sizeof now);
		vv_log(VV_LOG_INFO, "memory lock: RLIMIT_MEMLOCK set to %s as root (CAP_SYS_RESOURCE; it was %s) "
		       "for the %llu MiB a worker must lock",
		       now, was, (unsigned long long)mib);
		return 0;
	case VV_MEMLOCK_CAP:
		limit_text(rl.rlim_cur, now, sizeof now);
		if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
			vv_log(VV_LOG_INFO, "memory lock: CAP_IPC_LOCK kept, nothing else (RLIMIT_MEMLOCK is %s, below "
			       "the %llu MiB a worker must lock, and %s); the workers inherit it",
			       now, (unsigned long long)mib,
			       took ? "root here lacks CAP_SYS_RESOURCE to raise it"
				    : "the service manager gave CAP_IPC_LOCK");
			return 0;
		}
		/* The limit is enough: no capability is needed at all. */
		if ((rc = vv_caps_drop_all()) != 0)
			return rc;
		taken = VV_MEMLOCK_LIMIT;
		took = true;
		vv_log(VV_LOG_INFO, "memory lock: RLIMIT_MEMLOCK %s covers the %llu MiB a worker must lock; "
		       "CAP_IPC_LOCK dropped",
		       now, (unsigned long long)mib);
		return 0;
	case VV_MEMLOCK_LIMIT:
		break;
	}
	limit_text(rl.rlim_cur, now, sizeof now);
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need)
		vv_log(VV_LOG_INFO, "memory lock: RLIMIT_MEMLOCK %s covers the %llu MiB a worker must lock", now,
		       (unsigned long long)mib);
	else
		vv_log(VV_LOG_WARN, "memory lock: RLIMIT_MEMLOCK is %s, below the %llu MiB a worker must lock: "
		       "workers refuse their jobs; set LimitMEMLOCK=%lluM in varvaultd.service",
		       now, (unsigned long long)mib, (unsigned long long)mib);
	return 0;
}
