/* The memory a worker must lock, computed once for the worker's refusal and
 * for --check-config, and the mlockall / RLIMIT_MEMLOCK checks themselves. */
#include "memneed.h"

#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "varvault/interpret.h"

/* Set by main before any thread exists; only read afterwards. */
static bool allow_unlocked;

void vv_daemon_set_allow_unlocked(bool allow)
{
	allow_unlocked = allow;
}

bool vv_daemon_allow_unlocked(void)
{
	return allow_unlocked;
}

uint64_t vv_daemon_mib_up(uint64_t bytes)
{
	return (bytes >> 20) + ((bytes & ((1u << 20) - 1)) != 0);
}

int vv_daemon_memimage(struct vv_memimage *out)
{
	char line[4096];
	unsigned long long a, b, inode;
	unsigned th;
	int rc = 0, n;
	FILE *f;

	memset(out, 0, sizeof *out);
	if (!(f = fopen("/proc/self/maps", "re")))
		return vv_errf(VV_ERR_IO, "/proc/self/maps: %s", strerror(errno));
	while (fgets(line, sizeof line, f)) {
		n = 0;
		/* start-end perms offset dev inode [path] */
		if (sscanf(line, "%llx-%llx %*s %*s %*s %llu %n", &a, &b, &inode, &n) != 3 || b < a) {
			rc = vv_errf(VV_ERR_IO, "/proc/self/maps: a line not understood");
			break;
		}
		if (inode == 0 && (line[n] == '\n' || line[n] == '\0') && b - a >= VV_MEMNEED_BLAS_BUFFER)
			continue;
		out->bytes += b - a;
	}
	fclose(f);
	if (rc)
		return rc;
	if (!(f = fopen("/proc/self/status", "re")))
		return vv_errf(VV_ERR_IO, "/proc/self/status: %s", strerror(errno));
	rc = vv_errf(VV_ERR_IO, "/proc/self/status: no Threads line");
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "Threads: %u", &th) == 1) {
			out->threads = th;
			vv_err_clear();
			rc = 0;
			break;
		}
	fclose(f);
	return rc;
}

/* a += b, refusing overflow. */
static int add(uint64_t *a, uint64_t b)
{
	if (*a > UINT64_MAX - b)
		return vv_errf(VV_ERR_RANGE, "memory need overflows");
	*a += b;
	return 0;
}

int vv_daemon_memneed(const vv_model *m, int threads, size_t batch, uint64_t max_input,
		      const struct vv_memimage *img, struct vv_memneed *out)
{
	const struct vv_model_info *I = vv_model_get_info(m);
	uint64_t sum = 0;
	size_t run;
	int rc;

	memset(out, 0, sizeof *out);
	/* The scorer's own defaults (score.c), so that the figure is the one
	 * of the run the worker will make. */
	if (threads <= 0) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);
		threads = cpus < 1 ? 1 : cpus > 64 ? 64 : (int)cpus;
	}
	if (!batch)
		batch = 32;
	out->threads = threads;
	out->batch = batch;
	out->tokens = (size_t)I->max_tokens;
	out->max_input = max_input;
	/* The engine's figure, as `model info` prints it, for the longest
	 * sequence the model takes: the scorer's runs are never larger. */
	if (!(run = vv_model_run_bytes(m, batch, out->tokens, threads)))
		return vv_errf(VV_ERR_INVAL, "the model's run-state for batch %zu, %zu tokens, %d threads", batch,
			       out->tokens, threads);
	out->process = img->bytes;
	out->blas_threads = img->threads > 1 ? img->threads - 1 : 0;
	out->weights = (uint64_t)I->weights_mapped_bytes + I->weights_owned_bytes + I->weights_bf16_bytes;
	out->run = run;
	out->blas = ((uint64_t)out->blas_threads + (uint64_t)threads + 1) * VV_MEMNEED_BLAS_BUFFER;
	if (max_input > UINT64_MAX / 2)
		return vv_errf(VV_ERR_RANGE, "max_input of %llu bytes", (unsigned long long)max_input);
	out->input = 2 * max_input;
	out->output = (uint64_t)(VV_OUT_NFORMATS + 1) * (VV_SEAL_MAX_CHUNK + VV_SEAL_OVERHEAD);
	if ((rc = add(&sum, out->process)) || (rc = add(&sum, out->weights)) || (rc = add(&sum, out->run)) ||
	    (rc = add(&sum, out->blas)) || (rc = add(&sum, out->input)) || (rc = add(&sum, out->output)))
		return rc;
	out->margin = (sum >> VV_MEMNEED_MARGIN_SHIFT) + VV_MEMNEED_MARGIN_FIXED;
	if ((rc = add(&sum, out->margin)) != 0 || sum > UINT64_MAX - (1u << 20))
		return vv_errf(VV_ERR_RANGE, "memory need overflows");
	out->total = vv_daemon_mib_up(sum) << 20;
	return 0;
}

/* Whether CAP_IPC_LOCK is effective (root's usually is), asked of the
 * kernel directly: the capability lets mlock ignore RLIMIT_MEMLOCK. */
static bool has_ipc_lock(void)
{
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];

	memset(d, 0, sizeof d);
	if (syscall(SYS_capget, &h, d) != 0)
		return false;
	return (d[CAP_IPC_LOCK / 32].effective >> (CAP_IPC_LOCK % 32)) & 1u;
}

int vv_daemon_memlimit(struct vv_memlimit *out)
{
	struct rlimit rl;

	memset(out, 0, sizeof *out);
	if (getrlimit(RLIMIT_MEMLOCK, &rl) != 0)
		return vv_errf(VV_ERR_IO, "getrlimit(RLIMIT_MEMLOCK): %s", strerror(errno));
	out->unlimited = rl.rlim_cur == RLIM_INFINITY;
	out->cur = out->unlimited ? UINT64_MAX : (uint64_t)rl.rlim_cur;
	out->cap_ipc_lock = has_ipc_lock();
	return 0;
}

bool vv_daemon_memlimit_allows(const struct vv_memlimit *l, uint64_t need)
{
	return l->cap_ipc_lock || l->unlimited || l->cur >= need;
}

/* "8 MiB", "unlimited", or "8 MiB, ignored (CAP_IPC_LOCK)". */
static void limit_text(const struct vv_memlimit *l, char *buf, size_t cap)
{
	if (l->unlimited)
		snprintf(buf, cap, "unlimited");
	else
		snprintf(buf, cap, "%llu MiB%s", (unsigned long long)(l->cur >> 20),
			 l->cap_ipc_lock ? ", not applied (CAP_IPC_LOCK)" : "");
}

int vv_daemon_worker_lock(const vv_model *m, int threads, size_t batch, uint64_t max_input,
			  const struct vv_memimage *img, bool allow, bool *locked)
{
	struct vv_memneed need;
	struct vv_memlimit lim;
	char lt[64];
	int rc;

	*locked = false;
	if ((rc = vv_daemon_memneed(m, threads, batch, max_input, img, &need)) != 0 ||
	    (rc = vv_daemon_memlimit(&lim)) != 0)
		return rc;
	limit_text(&lim, lt, sizeof lt);
	/* Below the need, mlockall(MCL_CURRENT) may still succeed, but then
	 * MCL_FUTURE makes the job's later allocations fail half-way: refuse
	 * now, before any patient data arrives. */
	if (!vv_daemon_memlimit_allows(&lim, need.total))
		rc = vv_errf(VV_ERR_MEMLOCK_LIMIT,
			     "the worker must lock %llu MiB but RLIMIT_MEMLOCK is %s: set LimitMEMLOCK=%lluM "
			     "(or more) in varvaultd.service (varvaultd --check-config shows the breakdown)",
			     (unsigned long long)(need.total >> 20), lt, (unsigned long long)(need.total >> 20));
	else if (mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) != 0) {
		int e = errno;
		(void)munlockall();
		rc = vv_errf(VV_ERR_MLOCK,
			     "mlockall: %s; the worker must lock %llu MiB and RLIMIT_MEMLOCK is %s: set "
			     "LimitMEMLOCK=%lluM (or more) in varvaultd.service",
			     strerror(e), (unsigned long long)(need.total >> 20), lt,
			     (unsigned long long)(need.total >> 20));
	} else {
		*locked = true;
		return 0;
	}
	if (!allow)
		return rc;
	vv_log(VV_LOG_WARN, "memory NOT locked (--allow-unlocked-memory, development only): %s", vv_err_detail());
	vv_err_clear();
	return 0;
}

int vv_daemon_monitor_lock_check(void *p, size_t n, bool *locked)
{
	struct vv_memlimit lim;
	char lt[64];
	int rc;

	*locked = vv_secret_locked(p, n);
	if (*locked)
		return 0;
	if ((rc = vv_daemon_memlimit(&lim)) != 0)
		return rc;
	limit_text(&lim, lt, sizeof lt);
	if (!allow_unlocked)
		return vv_errf(VV_ERR_MEMLOCK_LIMIT,
			       "the master key's memory cannot be locked (RLIMIT_MEMLOCK is %s): raise "
			       "LimitMEMLOCK= in varvaultd.service (varvaultd --check-config says how much), or "
			       "start with --allow-unlocked-memory (development only)",
			       lt);
	vv_log(VV_LOG_WARN, "memory NOT locked: the master key may reach swap (RLIMIT_MEMLOCK is %s); "
	       "--allow-unlocked-memory is for development only", lt);
	return 0;
}
