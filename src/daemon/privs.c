/* varvaultd's privileges: started as root it takes what only root can
 * (its socket, the locked-memory allowance: caps.c) and becomes the service
 * user for good before it reads a key or a job; it never serves as root. */
#include "sdglue.h"
#include "caps.h"

#include <errno.h>
#include <linux/capability.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

bool vv_privs_is_root(void)
{
	uid_t r, e, s;

	if (getresuid(&r, &e, &s) != 0)
		return true; /* cannot tell: assume the worst */
	return r == 0 || e == 0 || s == 0;
}

/* The user's ids, from the passwd database. */
static int lookup(const char *user, uid_t *uid, gid_t *gid)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	int e = getpwnam_r(user, &pw, buf, sizeof buf, &res);

	if (e != 0)
		return vv_errf(VV_ERR_PRIVS, "user %s: %s", user, strerror(e));
	if (!res)
		return vv_errf(VV_ERR_NOTFOUND, "user %s does not exist; create it (useradd --system --user-group "
						"--no-create-home --shell /usr/sbin/nologin %s) or set [daemon] user",
			       user, user);
	*uid = pw.pw_uid;
	*gid = pw.pw_gid;
	return 0;
}

/* The switch itself, each step read back: a setres*id that "succeeds"
 * without effect (a seccomp or LSM quirk) must not leave us root.  With
 * keep_ipc_lock (PR_SET_KEEPCAPS already on), CAP_IPC_LOCK alone is kept. */
static int become(uid_t uid, gid_t gid, bool keep_ipc_lock)
{
	uid_t r, e, s;
	gid_t rg, eg, sg;
	int rc;

	if (setgroups(0, NULL) != 0)
		return vv_errf(VV_ERR_PRIVS, "setgroups: %s", strerror(errno));
	if (setresgid(gid, gid, gid) != 0)
		return vv_errf(VV_ERR_PRIVS, "setresgid(%u): %s", (unsigned)gid, strerror(errno));
	if (setresuid(uid, uid, uid) != 0)
		return vv_errf(VV_ERR_PRIVS, "setresuid(%u): %s", (unsigned)uid, strerror(errno));
	if (getresuid(&r, &e, &s) != 0 || r != uid || e != uid || s != uid)
		return vv_errf(VV_ERR_PRIVS, "user ids are not %u after setresuid", (unsigned)uid);
	if (getresgid(&rg, &eg, &sg) != 0 || rg != gid || eg != gid || sg != gid)
		return vv_errf(VV_ERR_PRIVS, "group ids are not %u after setresgid", (unsigned)gid);
	if (getgroups(0, NULL) != 0)
		return vv_errf(VV_ERR_PRIVS, "supplementary groups remain after setgroups(0)");
	/* PR_SET_KEEPCAPS kept root's permitted set through setresuid: cut it
	 * to CAP_IPC_LOCK before anything else runs.  Without it the kernel
	 * cleared them all: make sure (ambient ones included). */
	if ((rc = keep_ipc_lock ? vv_caps_keep_only(CAP_IPC_LOCK) : vv_caps_drop_all()) != 0)
		return rc;
	/* For good: no way back to root. */
	if (setuid(0) == 0 || seteuid(0) == 0)
		return vv_errf(VV_ERR_PRIVS, "root could be regained after the switch");
	/* A change of credentials resets the dumpable flag to the system's
	 * suid_dumpable: set ours again (no core, no ptrace by the user). */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
		return vv_errf(VV_ERR_PRIVS, "prctl(PR_SET_DUMPABLE): %s", strerror(errno));
	return 0;
}

int vv_privs_drop(const char *user, const char *state_dir, const char *sock_path)
{
	struct stat st;
	uid_t uid;
	gid_t gid;
	bool keep = false;
	int rc;

	/* Files we create (spool, store, results) are ours alone. */
	umask(077);
	if (!vv_privs_is_root())
		return 0;
	if ((rc = lookup(user, &uid, &gid)) != 0)
		return rc;
	if (uid == 0 || gid == 0)
		return vv_errf(VV_ERR_ROOT, "[daemon] user = %s is root (uid %u, gid %u): name an unprivileged "
					    "service user",
			       user, (unsigned)uid, (unsigned)gid);
	if (stat(state_dir, &st) != 0)
		return vv_errf(VV_ERR_IO, "%s: %s", state_dir, strerror(errno));
	if (st.st_uid != uid)
		return vv_errf(VV_ERR_INVAL, "%s belongs to uid %u, not to the service user %s (uid %u): "
					     "chown -R %s: %s",
			       state_dir, (unsigned)st.st_uid, user, (unsigned)uid, user, state_dir);
	/* Locked memory: what the service user could not take itself
	 * (caps.c says which way, and why). */
	vv_memlock_take(&keep);
	/* Our own socket: the user must be able to remove it at exit. */
	if (sock_path && lchown(sock_path, uid, gid) != 0)
		return vv_errf(VV_ERR_PRIVS, "%s: chown to %s: %s", sock_path, user, strerror(errno));
	/* No execve may bring back a capability we drop (a file capability
	 * on some binary): only CAP_IPC_LOCK, when kept, stays bounded.  The
	 * bounding set is per thread: this one's, inherited by the threads
	 * and workers we start; OpenBLAS's threads, older than main, keep
	 * theirs but hold no capability (the unit's CapabilityBoundingSet=
	 * and NoNewPrivileges= cover every thread). */
	if (vv_caps_bound_only(keep ? CAP_IPC_LOCK : -1) != 0) {
		vv_log(VV_LOG_WARN, "bounding set not reduced: %s", vv_err_detail());
		vv_err_clear();
	}
	if (keep && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0)
		return vv_errf(VV_ERR_PRIVS, "prctl(PR_SET_KEEPCAPS): %s", strerror(errno));
	if ((rc = become(uid, gid, keep)) != 0)
		return rc;
	vv_log(VV_LOG_INFO, "running as user %s (uid %u, gid %u, no supplementary groups, %s)", user,
	       (unsigned)uid, (unsigned)gid,
	       keep ? "CAP_IPC_LOCK kept for locked memory (root here cannot raise RLIMIT_MEMLOCK)"
		    : "no capabilities");
	return 0;
}
