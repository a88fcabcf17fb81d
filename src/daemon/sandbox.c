/* The interpreter worker's sandbox: resource limits, no new privileges, no
 * core, an empty environment, Landlock where the kernel has it, and the
 * seccomp allowlist that must hold whatever the VCF parser is made to do. */
#include "daemon_int.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define VV_SANDBOX_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define VV_SANDBOX_ASAN 1
#endif
#endif
#ifdef VV_SANDBOX_ASAN
#include <sanitizer/lsan_interface.h>
#endif

/* Extra CPU seconds between the soft limit (SIGXCPU) and the hard one
 * (SIGKILL), in case SIGXCPU is blocked by a thread. */
#define VV_SANDBOX_CPU_GRACE 5

int vv_daemon_sandbox_prepare(void)
{
	/* whatever a spawner leaked: only stdin, stdout, stderr and the
	 * socketpair are ours */
	if (syscall(SYS_close_range, VV_IPC_FD + 1, ~0U, 0) != 0)
		return vv_errf(VV_ERR_SANDBOX, "close_range: %s", strerror(errno));
	return 0;
}

static int vv_limits(const struct vv_sandbox_opts *o)
{
	struct rlimit zero = {0, 0}, rl;

	if (setrlimit(RLIMIT_CORE, &zero) != 0)
		return vv_errf(VV_ERR_SANDBOX, "setrlimit(RLIMIT_CORE): %s", strerror(errno));
	if (o->cpu_seconds) {
		rl.rlim_cur = o->cpu_seconds;
		rl.rlim_max = o->cpu_seconds + VV_SANDBOX_CPU_GRACE;
		if (setrlimit(RLIMIT_CPU, &rl) != 0)
			return vv_errf(VV_ERR_SANDBOX, "setrlimit(RLIMIT_CPU, %llu): %s",
				       (unsigned long long)o->cpu_seconds, strerror(errno));
	}
#ifndef VV_SANDBOX_ASAN
	/* ASan reserves terabytes of shadow address space: no AS limit there */
	if (o->memory_max) {
		rl.rlim_cur = rl.rlim_max = o->memory_max;
		if (setrlimit(RLIMIT_AS, &rl) != 0)
			return vv_errf(VV_ERR_SANDBOX, "setrlimit(RLIMIT_AS, %llu): %s",
				       (unsigned long long)o->memory_max, strerror(errno));
	}
#endif
	return 0;
}

/* Landlock (raw system calls: no library wraps it).  Returns the ABI
 * version in force, 0 when the kernel lacks it, < 0 on failure. */
static int vv_landlock(const char *const *ro, size_t nro)
{
	struct landlock_ruleset_attr ra;
	int abi, rfd = -1, rc;

	abi = (int)syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
	if (abi < 1)
		return 0;
	memset(&ra, 0, sizeof ra);
	ra.handled_access_fs = LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE |
			       LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR |
			       LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE |
			       LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_DIR |
			       LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_MAKE_SOCK |
			       LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_BLOCK |
			       LANDLOCK_ACCESS_FS_MAKE_SYM;
	if (abi >= 2)
		ra.handled_access_fs |= LANDLOCK_ACCESS_FS_REFER;
	rfd = (int)syscall(SYS_landlock_create_ruleset, &ra, sizeof ra, 0);
	if (rfd < 0)
		return vv_errf(VV_ERR_SANDBOX, "landlock_create_ruleset: %s", strerror(errno));
	for (size_t i = 0; i < nro; i++) {
		struct landlock_path_beneath_attr pb;
		struct stat st;
		int pfd = open(ro[i], O_PATH | O_CLOEXEC);

		if (pfd < 0 || fstat(pfd, &st) != 0) {
			rc = vv_errf(VV_ERR_SANDBOX, "landlock: %s: %s", ro[i], strerror(errno));
			if (pfd >= 0)
				close(pfd);
			goto out;
		}
		memset(&pb, 0, sizeof pb);
		pb.parent_fd = pfd;
		/* a file takes file rights only; a folder also READ_DIR */
		pb.allowed_access = LANDLOCK_ACCESS_FS_READ_FILE | (S_ISDIR(st.st_mode) ? LANDLOCK_ACCESS_FS_READ_DIR : 0);
		rc = (int)syscall(SYS_landlock_add_rule, rfd, LANDLOCK_RULE_PATH_BENEATH, &pb, 0);
		close(pfd);
		if (rc != 0) {
			rc = vv_errf(VV_ERR_SANDBOX, "landlock_add_rule %s: %s", ro[i], strerror(errno));
			goto out;
		}
	}
	if (syscall(SYS_landlock_restrict_self, rfd, 0) != 0) {
		rc = vv_errf(VV_ERR_SANDBOX, "landlock_restrict_self: %s", strerror(errno));
		goto out;
	}
	rc = abi;
out:
	close(rfd);
	return rc;
}

/* The allowlist, from strace of real jobs (threads=0 and 1, the demo and a
 * 400-variant VCF): reading and writing descriptors already open, memory
 * (never executable), futexes and threads (clone with CLONE_THREAD only),
 * signals to itself, clocks, memfd_create (the VCF reader's anonymous
 * file) and getrandom (libsodium).  Nothing opens a path, creates a socket,
 * executes, changes credentials or traces. */
static int vv_seccomp(void)
{
	static const char *const plain[] = {
		"read", "write", "readv", "writev", "pread64", "lseek", "close", "fstat", "newfstatat",
		"munmap", "mremap", "madvise", "brk", "mbind", "get_mempolicy", "mlock", "mlock2", "munlock",
		"mlockall", "munlockall", "futex", "sched_yield", "sched_getaffinity", "set_robust_list",
		"rseq", "exit", "exit_group", "rt_sigprocmask", "rt_sigaction", "rt_sigreturn", "sigaltstack",
		"rt_sigsuspend", "getpid", "gettid", "clock_gettime", "clock_getres", "gettimeofday",
		"clock_nanosleep", "nanosleep", "getrandom", "memfd_create", "ftruncate", "sendto", "sendmsg",
		"recvfrom", "recvmsg", "poll", "ppoll", "getrusage", "sysinfo", "restart_syscall",
	};
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	pid_t self = getpid();
	int rc = 0;

	if (!ctx)
		return vv_errf(VV_ERR_SANDBOX, "seccomp_init failed");
	/* every thread (OpenBLAS's already run) gets the filter */
	if ((rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1)) != 0)
		goto out;
	for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
		int nr = seccomp_syscall_resolve_name(plain[i]);
		if (nr == __NR_SCMP_ERROR)
			continue; /* not on this architecture */
		if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0)) != 0)
			goto out;
	}
	/* memory, but never executable (W^X: no code injected after start) */
	if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
				   SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0))) != 0 ||
	    (rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
				   SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0))) != 0)
		goto out;
	/* threads only, never a new process */
	if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
				   SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD))) != 0)
		goto out;
	/* clone3's flags sit in memory a filter cannot read: glibc falls back
	 * to clone on ENOSYS */
	if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0)) != 0)
		goto out;
	/* signals to itself only (raise, abort) */
	if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1, SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)self))) != 0 ||
	    (rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(kill), 1, SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)self))) != 0)
		goto out;
	/* reading its own dumpable flag (test builds report it), nothing else
	 * of prctl */
	if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
				   SCMP_A0(SCMP_CMP_EQ, PR_GET_DUMPABLE))) != 0)
		goto out;
	/* getrlimit, never setting one */
	if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prlimit64), 1, SCMP_A2(SCMP_CMP_EQ, 0))) != 0)
		goto out;
	rc = seccomp_load(ctx);
out:
	seccomp_release(ctx);
	if (rc)
		return vv_errf(VV_ERR_SANDBOX, "seccomp: %s", strerror(-rc));
	return 0;
}

int vv_daemon_sandbox_enter(const struct vv_sandbox_opts *o, int *landlock_abi)
{
	int rc, ll;

	*landlock_abi = 0;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return vv_errf(VV_ERR_SANDBOX, "prctl(PR_SET_NO_NEW_PRIVS): %s", strerror(errno));
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
		return vv_errf(VV_ERR_SANDBOX, "prctl(PR_SET_DUMPABLE): %s", strerror(errno));
	if ((rc = vv_limits(o)) != 0)
		return rc;
#ifdef VV_SANDBOX_ASAN
	/* LeakSanitizer's exit check traces threads (ptrace) and reads /proc:
	 * check now, before Landlock and seccomp, while that is allowed; the exit check is then off */
	__lsan_do_leak_check();
#endif
	/* the loaders have read OPENBLAS_CORETYPE and the rest: nothing after
	 * this point consults the environment */
	if (clearenv() != 0)
		return vv_errf(VV_ERR_SANDBOX, "clearenv failed");
	if ((ll = vv_landlock(o->ro_paths, o->nro)) < 0)
		return ll;
	*landlock_abi = ll;
	return vv_seccomp();
}

#ifdef VV_TEST_HOOKS
#include <stdatomic.h>

void vv_daemon_test_hook_env(char *buf, size_t cap)
{
	static atomic_uint spawned;
	const char *list = getenv("VARVAULT_TEST_WORKER"), *p;
	unsigned k = atomic_fetch_add(&spawned, 1);
	size_t n;

	buf[0] = '\0';
	if (!list)
		return;
	for (p = list; k > 0 && p; k--)
		if ((p = strchr(p, ',')))
			p++;
	if (!p)
		return;
	n = strcspn(p, ",");
	if (n && (size_t)snprintf(buf, cap, "VARVAULT_TEST_WORKER=%.*s", (int)n, p) >= cap)
		buf[0] = '\0';
}
#endif
