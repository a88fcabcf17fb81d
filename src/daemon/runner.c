/* The monitor's side of one job: open the submission's Crypt4GH header
 * with the appliance key, spawn a fresh worker, hand it the job's keys and
 * ciphertext, and collect sealed chunks until it is done, fails, dies or
 * runs out of time.  No plaintext passes through here. */
#include "daemon_int.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* Seconds a worker gets to exit after its last message before SIGKILL. */
#define VV_RUNNER_GRACE 5.0
/* Environment variables a worker inherits (prefixes). */
static const char *const vv_env_keep[] = {"OPENBLAS_", "VARVAULT_LOG=", "ASAN_OPTIONS=", "UBSAN_OPTIONS=",
					  "LSAN_OPTIONS="};

struct vv_run {
	const struct vv_runner_job *job;
	struct vv_runner_result *res;
	unsigned formats;
	double deadline;
	int fd;                       /* the monitor's end, non-blocking */
	pid_t pid;
	vv_sbuf msg;
	uint8_t *acc[VV_OUT_NFORMATS]; /* sealed bytes of the chunk being received */
	size_t acc_len[VV_OUT_NFORMATS], acc_cap[VV_OUT_NFORMATS];
	uint64_t next_index;
	bool got_last;
};

/* Records the job's failure (the first one wins). */
static int vv_job_fail(struct vv_run *r, int code, const char *fmt, ...) VV_PRINTF(3, 4);
static int vv_job_fail(struct vv_run *r, int code, const char *fmt, ...)
{
	va_list ap;

	if (r->res->code)
		return r->res->code;
	r->res->code = code;
	va_start(ap, fmt);
	vsnprintf(r->res->reason, sizeof r->res->reason, fmt, ap);
	va_end(ap);
	return code;
}

static char **vv_worker_env(void)
{
	size_t n = 0, k = 0;
	char **env;
#ifdef VV_TEST_HOOKS
	static _Thread_local char hook[64];
	vv_daemon_test_hook_env(hook, sizeof hook);
	n++;
#endif

	for (char **e = environ; e && *e; e++)
		n++;
	if (!(env = calloc(n + 1, sizeof *env)))
		return NULL;
	for (char **e = environ; e && *e; e++)
		for (size_t i = 0; i < sizeof vv_env_keep / sizeof vv_env_keep[0]; i++)
			if (!strncmp(*e, vv_env_keep[i], strlen(vv_env_keep[i]))) {
				env[k++] = *e;
				break;
			}
#ifdef VV_TEST_HOOKS
	if (*hook)
		env[k++] = hook;
#endif
	return env;
}

static int vv_spawn(struct vv_run *r, int child_fd)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, all;
	char *argv[] = {(char *)(uintptr_t)r->job->worker, (char *)"--worker", NULL};
	char **env = vv_worker_env();
	int rc;

	if (!env)
		return VV_ERR_NOMEM;
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&at);
	sigemptyset(&none);
	sigfillset(&all);
	/* a fresh image: stdin and stdout on /dev/null, stderr kept (logs), the
	 * socket on VV_IPC_FD, nothing else; default signals, none blocked */
	rc = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0) ||
	     posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0) ||
	     posix_spawn_file_actions_adddup2(&fa, child_fd, VV_IPC_FD) ||
	     posix_spawn_file_actions_addclosefrom_np(&fa, VV_IPC_FD + 1) ||
	     posix_spawnattr_setsigmask(&at, &none) || posix_spawnattr_setsigdefault(&at, &all) ||
	     posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	if (!rc)
		rc = posix_spawn(&r->pid, r->job->worker, &fa, &at, argv, env);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	free(env);
	if (rc) {
		r->pid = -1;
		return vv_job_fail(r, VV_ERR_WORKER, "worker could not start: %s: %s", r->job->worker, strerror(rc));
	}
	return 0;
}

/* Waits for the worker; after grace seconds (0: at once) it is killed. */
static void vv_reap(struct vv_run *r, double grace)
{
	double end = vv_seconds() + grace;
	int st = 0;

	if (r->pid <= 0)
		return;
	for (;;) {
		pid_t w = waitpid(r->pid, &st, grace > 0 ? WNOHANG : 0);
		if (w == r->pid)
			break;
		if (w < 0 && errno != EINTR) {
			st = -1;
			break;
		}
		if (w == 0 && vv_seconds() >= end) {
			(void)kill(r->pid, SIGKILL);
			grace = 0;
		} else if (w == 0) {
			nanosleep(&(struct timespec){0, 5 * 1000 * 1000}, NULL);
		}
	}
	r->res->wait_status = st;
	r->pid = -1;
}

static void vv_kill(struct vv_run *r)
{
	if (r->pid > 0)
		(void)kill(r->pid, SIGKILL);
	vv_reap(r, 0);
}

/* The JOB message (no secrets). */
static int vv_job_json(const struct vv_run *r, char **out)
{
	const struct vv_runner_job *j = r->job;
	json_object *o = json_object_new_object();
	char hex[2 * VV_INTERPRET_STATE_LEN + 1];
	const char *s;

	*out = NULL;
	if (!o)
		return VV_ERR_NOMEM;
	json_object_object_add(o, "job", json_object_new_string(j->job_id));
	json_object_object_add(o, "model", json_object_new_string(j->model_dir));
	json_object_object_add(o, "reference", json_object_new_string(j->reference));
	json_object_object_add(o, "policy", json_object_new_string(j->policy));
	if (j->scores)
		json_object_object_add(o, "scores", json_object_new_string(j->scores));
	json_object_object_add(o, "formats", json_object_new_int64(r->formats));
	json_object_object_add(o, "chunk", json_object_new_int64(j->chunk ? (int64_t)j->chunk : 1024));
	json_object_object_add(o, "max_input", json_object_new_int64(j->max_input ? (int64_t)j->max_input :
								     (int64_t)4 << 30));
	json_object_object_add(o, "max_out", json_object_new_int64((int64_t)j->max_out));
	if (j->max_records)
		json_object_object_add(o, "max_records", json_object_new_int64((int64_t)j->max_records));
	if (j->max_text_bytes)
		json_object_object_add(o, "max_text_bytes", json_object_new_int64((int64_t)j->max_text_bytes));
	json_object_object_add(o, "threads", json_object_new_int64(j->threads));
	json_object_object_add(o, "batch", json_object_new_int64((int64_t)j->batch));
	json_object_object_add(o, "cpu_seconds", json_object_new_int64((int64_t)j->cpu_seconds));
	json_object_object_add(o, "memory_max", json_object_new_int64((int64_t)j->memory_max));
	json_object_object_add(o, "allow_unlocked", json_object_new_boolean(j->allow_unlocked));
	if (j->resume_chunk) {
		json_object_object_add(o, "resume_chunk", json_object_new_int64((int64_t)j->resume_chunk));
		vv_hex(j->resume_state, VV_INTERPRET_STATE_LEN, hex);
		json_object_object_add(o, "resume_state", json_object_new_string(hex));
	}
	if (j->plaintext_sha256) {
		vv_hex(j->plaintext_sha256, 32, hex);
		json_object_object_add(o, "plaintext_sha256", json_object_new_string(hex));
	}
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	*out = s ? strdup(s) : NULL;
	json_object_put(o);
	return *out ? 0 : VV_ERR_NOMEM;
}

/* The KEYS message, in secret memory (*out, *len; vv_secret_free). */
static int vv_keys_msg(struct vv_run *r, const vv_c4gh_header *h, uint8_t **out, size_t *len)
{
	size_t nkeys = vv_c4gh_header_nkeys(h), nedits = 0, n;
	const uint64_t *edits = vv_c4gh_header_editlist(h, &nedits);
	uint8_t *p;

	*out = NULL;
	if (nkeys > VV_C4GH_MAX_PACKETS || nedits > (VV_IPC_MAX_PAYLOAD - 8 - VV_KEY_LEN) / 8 ||
	    8 + nkeys * VV_C4GH_KEY_LEN + nedits * 8 + VV_KEY_LEN > VV_IPC_MAX_PAYLOAD)
		return vv_job_fail(r, VV_ERR_RANGE, "submission header: %zu keys and %zu edits do not fit a message",
				   nkeys, nedits);
	n = 8 + nkeys * VV_C4GH_KEY_LEN + nedits * 8 + VV_KEY_LEN;
	if (!(p = vv_secret_alloc(n)))
		return vv_job_fail(r, VV_ERR_NOMEM, "keys message");
	vv_daemon_put32(p, (uint32_t)nkeys);
	vv_daemon_put32(p + 4, (uint32_t)nedits);
	memcpy(p + 8, vv_c4gh_header_keys(h), nkeys * VV_C4GH_KEY_LEN);
	for (size_t i = 0; i < nedits; i++)
		vv_daemon_put64(p + 8 + nkeys * VV_C4GH_KEY_LEN + 8 * i, edits[i]);
	memcpy(p + n - VV_KEY_LEN, r->job->result_key, VV_KEY_LEN);
	*out = p;
	*len = n;
	return 0;
}

/* Streams the body (everything after the header) as BODY pieces.  The
 * worker may stop reading and report a failure: VV_ERR_TRUNCATED then
 * means "read its messages". */
static int vv_send_body(struct vv_run *r, int sfd)
{
	uint8_t *buf = malloc(VV_IPC_PIECE), end[8];
	uint64_t sent = 0;
	int rc = 0;

	if (!buf)
		return vv_job_fail(r, VV_ERR_NOMEM, "body buffer");
	for (;;) {
		ssize_t n = read(sfd, buf, VV_IPC_PIECE);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = vv_job_fail(r, VV_ERR_IO, "submission: read: %s", strerror(errno));
			break;
		}
		if (n == 0) {
			vv_daemon_put64(end, sent);
			rc = vv_daemon_ipc_send(r->fd, VV_IPC_BODY_END, end, sizeof end, r->deadline);
			break;
		}
		if (r->job->cancel && atomic_load(r->job->cancel)) {
			rc = vv_job_fail(r, VV_ERR_CANCELLED, "cancelled");
			break;
		}
		if ((rc = vv_daemon_ipc_send(r->fd, VV_IPC_BODY, buf, (size_t)n, r->deadline)) != 0)
			break;
		sent += (uint64_t)n;
	}
	free(buf);
	return rc;
}

static int vv_protocol(struct vv_run *r, const char *what)
{
	return vv_job_fail(r, VV_ERR_WORKER, "worker broke the protocol: %s", what);
}

static int vv_on_chunk_data(struct vv_run *r)
{
	uint32_t fmt;
	size_t n;

	if (r->msg.len < 4)
		return vv_protocol(r, "short chunk data");
	fmt = vv_daemon_get32(r->msg.data);
	n = r->msg.len - 4;
	if (fmt < VV_OUT_VCF || fmt > VV_OUT_TSV || !(r->formats & VV_OUT_BIT(fmt)) || r->got_last)
		return vv_protocol(r, "chunk data of a format not asked for");
	fmt--;
	if (r->acc_len[fmt] + n > VV_SEAL_MAX_CHUNK + VV_SEAL_OVERHEAD)
		return vv_protocol(r, "sealed chunk over the cap");
	if (r->acc_len[fmt] + n > r->acc_cap[fmt]) {
		size_t cap = (r->acc_len[fmt] + n) * 2;
		uint8_t *p = realloc(r->acc[fmt], cap);
		if (!p)
			return vv_job_fail(r, VV_ERR_NOMEM, "chunk buffer");
		r->acc[fmt] = p;
		r->acc_cap[fmt] = cap;
	}
	memcpy(r->acc[fmt] + r->acc_len[fmt], r->msg.data + 4, n);
	r->acc_len[fmt] += n;
	return 0;
}

static int vv_on_chunk(struct vv_run *r)
{
	struct vv_runner_chunk c;
	const uint8_t *m = r->msg.data;
	uint32_t last;
	int rc;

	if (r->msg.len != 16 + 8 * VV_OUT_NFORMATS + VV_INTERPRET_STATE_LEN)
		return vv_protocol(r, "chunk message of the wrong size");
	memset(&c, 0, sizeof c);
	c.index = vv_daemon_get64(m);
	last = vv_daemon_get32(m + 8);
	c.formats = vv_daemon_get32(m + 12);
	if (c.index != r->next_index || last > 1 || c.formats != r->formats || r->got_last)
		return vv_protocol(r, "chunk out of order, or of other formats");
	c.last = last;
	for (int f = 0; f < VV_OUT_NFORMATS; f++) {
		uint64_t n = vv_daemon_get64(m + 16 + 8 * f);
		bool want = r->formats & VV_OUT_BIT(f + 1);
		if (n != r->acc_len[f] || (want && n < VV_SEAL_OVERHEAD))
			return vv_protocol(r, "chunk length does not match its data");
		c.sealed[f] = want ? r->acc[f] : NULL;
		c.sealed_len[f] = want ? r->acc_len[f] : 0;
	}
	memcpy(c.state, m + 16 + 8 * VV_OUT_NFORMATS, VV_INTERPRET_STATE_LEN);
	r->got_last = c.last;
	r->next_index++;
	r->res->chunks++;
	if (r->job->on_chunk && (rc = r->job->on_chunk(r->job->ctx, &c)) != 0)
		return vv_job_fail(r, rc < 0 ? rc : VV_ERR_CANCELLED, "stopped by the monitor at chunk %llu: %s",
				   (unsigned long long)c.index, vv_strerror(rc));
	for (int f = 0; f < VV_OUT_NFORMATS; f++)
		r->acc_len[f] = 0;
	return 0;
}

static void vv_on_fail(struct vv_run *r)
{
	size_t n = r->msg.len - 8, k = 0;
	char detail[VV_IPC_MAX_DETAIL + 1];
	int32_t code;
	uint32_t u;

	u = vv_daemon_get32(r->msg.data);
	memcpy(&code, &u, sizeof code);
	r->res->mem_locked = vv_daemon_get32(r->msg.data + 4) & VV_IPC_F_MEM_LOCKED;
	/* the detail is the worker's: keep printable ASCII only */
	for (size_t i = 0; i < n && k < VV_IPC_MAX_DETAIL; i++) {
		char ch = (char)r->msg.data[8 + i];
		detail[k++] = ch >= 0x20 && ch < 0x7f ? ch : '?';
	}
	detail[k] = '\0';
	(void)vv_job_fail(r, code < 0 && code > -1000 ? code : VV_ERR_WORKER, "%s", k ? detail : "worker failed");
}

/* Reads the worker's messages until DONE, FAIL, its end, the deadline or a
 * cancel.  Returns 1 after DONE, 0 when the worker ended otherwise (the
 * caller reaps it and says why), < 0 when it must be killed. */
static int vv_read_loop(struct vv_run *r)
{
	uint32_t type;
	int rc;

	for (;;) {
		struct pollfd pfd = {r->fd, POLLIN, 0};
		int ms = 100, n;

		if (r->job->cancel && atomic_load(r->job->cancel))
			return vv_job_fail(r, VV_ERR_CANCELLED, "cancelled");
		if (r->deadline > 0) {
			double left = r->deadline - vv_seconds();
			if (left <= 0)
				return vv_job_fail(r, VV_ERR_TIME_LIMIT, "time limit of %g s exceeded", r->job->time_limit);
			if (left * 1000 < ms)
				ms = (int)(left * 1000) + 1;
		}
		n = poll(&pfd, 1, ms);
		if (n < 0 && errno != EINTR)
			return vv_job_fail(r, VV_ERR_IO, "worker socket: poll: %s", strerror(errno));
		if (n <= 0)
			continue;
		rc = vv_daemon_ipc_recv(r->fd, &type, &r->msg, r->deadline);
		if (rc == VV_ERR_TRUNCATED)
			return 0;
		if (rc == VV_ERR_TIME_LIMIT)
			return vv_job_fail(r, rc, "time limit of %g s exceeded", r->job->time_limit);
		if (rc == VV_ERR_FORMAT)
			return vv_protocol(r, "message over the cap");
		if (rc)
			return vv_job_fail(r, rc, "worker socket: %s", vv_err_detail());
		switch (type) {
		case VV_IPC_PROGRESS:
			if (r->msg.len != 16)
				return vv_protocol(r, "progress of the wrong size");
			if (r->job->on_progress)
				r->job->on_progress(r->job->ctx, vv_daemon_get64(r->msg.data),
						    vv_daemon_get64(r->msg.data + 8));
			break;
		case VV_IPC_CHUNK_DATA:
			if ((rc = vv_on_chunk_data(r)) != 0)
				return rc;
			break;
		case VV_IPC_CHUNK:
			if ((rc = vv_on_chunk(r)) != 0)
				return rc;
			break;
		case VV_IPC_DONE: {
			uint32_t flags;
			if (r->msg.len != VV_DAEMON_SUMMARY_LEN || !r->got_last)
				return vv_protocol(r, "done before the last chunk");
			vv_daemon_summary_decode(r->msg.data, &r->res->sum, &r->res->rescored, &flags);
			r->res->mem_locked = flags & VV_IPC_F_MEM_LOCKED;
			r->res->landlock = flags & VV_IPC_F_LANDLOCK;
			return 1;
		}
		case VV_IPC_FAIL:
			if (r->msg.len < 8 || r->msg.len > 8 + VV_IPC_MAX_DETAIL)
				return vv_protocol(r, "failure message of the wrong size");
			vv_on_fail(r);
			return 0;
		default:
			return vv_protocol(r, "unknown message type");
		}
	}
}

/* Why a worker that ended without DONE did. */
static void vv_explain_end(struct vv_run *r)
{
	int st = r->res->wait_status;

	if (st == -1)
		(void)vv_job_fail(r, VV_ERR_WORKER, "worker lost (waitpid failed)");
	else if (WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS)
		(void)vv_job_fail(r, VV_ERR_SANDBOX_KILLED,
				  "worker killed by its sandbox (SIGSYS): it made a forbidden system call");
	else if (WIFSIGNALED(st) && WTERMSIG(st) == SIGXCPU)
		(void)vv_job_fail(r, VV_ERR_CPU_LIMIT, "worker CPU time limit of %llu s exceeded (SIGXCPU)",
				  (unsigned long long)r->job->cpu_seconds);
	else if (WIFSIGNALED(st))
		(void)vv_job_fail(r, VV_ERR_WORKER, "worker killed by signal %d", WTERMSIG(st));
	else if (WIFEXITED(st))
		(void)vv_job_fail(r, VV_ERR_WORKER, "worker exited with status %d before its result",
				  WEXITSTATUS(st));
}

int vv_daemon_run_job(const struct vv_runner_job *job, struct vv_runner_result *res)
{
	struct vv_run r;
	vv_c4gh_header *hdr = NULL;
	uint8_t *keys = NULL;
	size_t keys_len = 0;
	char *jobmsg = NULL, sid[VV_SEAL_MAX_ID];
	int sfd = -1, sv[2] = {-1, -1}, child = -1, rc, flags;

	memset(res, 0, sizeof *res);
	res->wait_status = -1;
	memset(&r, 0, sizeof r);
	r.job = job;
	r.res = res;
	r.fd = -1;
	r.pid = -1;
	r.next_index = job->resume_chunk;
	r.formats = job->formats ? job->formats : VV_OUT_ALL;
	vv_sbuf_init(&r.msg, VV_IPC_MAX_PAYLOAD);
	if (!job->worker || !job->spool || !job->sk || !job->result_key || !job->model_dir || !job->reference ||
	    !job->policy || (r.formats & ~(unsigned)VV_OUT_ALL) ||
	    (job->resume_chunk && (!job->resume_state || job->resume_state_len != VV_INTERPRET_STATE_LEN))) {
		(void)vv_job_fail(&r, VV_ERR_INVAL, "job parameters incomplete");
		goto out;
	}
	if (vv_daemon_seal_id(job->job_id, VV_OUT_VCF, sid, sizeof sid) != 0) {
		(void)vv_job_fail(&r, VV_ERR_INVAL, "%s", vv_err_detail());
		goto out;
	}
	r.deadline = job->time_limit > 0 ? vv_seconds() + job->time_limit : 0;
	/* the X25519 step, the one that needs the appliance key, stays here */
	if ((sfd = open(job->spool, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		(void)vv_job_fail(&r, VV_ERR_IO, "submission: %s", strerror(errno));
		goto out;
	}
	if ((rc = vv_c4gh_header_read(sfd, job->sk, NULL, &hdr)) != 0) {
		(void)vv_job_fail(&r, rc, "submission header: %s", vv_err_detail());
		goto out;
	}
	if (vv_keys_msg(&r, hdr, &keys, &keys_len) != 0)
		goto out;
	vv_c4gh_header_free(hdr);
	hdr = NULL;
	if (vv_job_json(&r, &jobmsg) != 0) {
		(void)vv_job_fail(&r, VV_ERR_NOMEM, "job message");
		goto out;
	}
	/* the child's end goes above the standard descriptors so that the
	 * spawn's dup2 onto VV_IPC_FD cannot clobber it */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0 ||
	    (child = fcntl(sv[1], F_DUPFD_CLOEXEC, 10)) < 0 || (flags = fcntl(sv[0], F_GETFL)) < 0 ||
	    fcntl(sv[0], F_SETFL, flags | O_NONBLOCK) != 0) {
		(void)vv_job_fail(&r, VV_ERR_IO, "worker socket: %s", strerror(errno));
		goto out;
	}
	close(sv[1]);
	sv[1] = -1;
	r.fd = sv[0];
	if (vv_spawn(&r, child) != 0)
		goto out;
	close(child);
	child = -1;
	if (job->on_start)
		job->on_start(job->ctx, r.pid);
	rc = vv_daemon_ipc_send(r.fd, VV_IPC_JOB, jobmsg, strlen(jobmsg), r.deadline);
	if (!rc)
		rc = vv_daemon_ipc_send(r.fd, VV_IPC_KEYS, keys, keys_len, r.deadline);
	vv_wipe(keys, keys_len);
	vv_secret_free(keys);
	keys = NULL;
	if (!rc)
		rc = vv_send_body(&r, sfd);
	if (rc == VV_ERR_TIME_LIMIT) {
		(void)vv_job_fail(&r, rc, "time limit of %g s exceeded", job->time_limit);
		vv_kill(&r);
		goto out;
	}
	if (rc && rc != VV_ERR_TRUNCATED) {
		(void)vv_job_fail(&r, rc, "sending the job: %s", vv_err_detail());
		vv_kill(&r);
		goto out;
	}
	/* a worker that stopped reading has said why, or died: read on */
	rc = vv_read_loop(&r);
	if (rc < 0) {
		vv_kill(&r);
		goto out;
	}
	vv_reap(&r, VV_RUNNER_GRACE);
	if (rc == 1 && !(WIFEXITED(res->wait_status) && WEXITSTATUS(res->wait_status) == 0))
		(void)vv_job_fail(&r, VV_ERR_WORKER, "worker ended badly after its result (status 0x%x)",
				  (unsigned)res->wait_status);
	else if (rc == 0)
		vv_explain_end(&r);
out:
	if (r.pid > 0)
		vv_kill(&r);
	if (keys) {
		vv_wipe(keys, keys_len);
		vv_secret_free(keys);
	}
	vv_c4gh_header_free(hdr);
	free(jobmsg);
	if (sfd >= 0)
		close(sfd);
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	if (child >= 0)
		close(child);
	for (int f = 0; f < VV_OUT_NFORMATS; f++)
		free(r.acc[f]);
	vv_sbuf_done(&r.msg);
	if (res->code)
		memset(&res->sum, 0, sizeof res->sum);
	return res->code;
}
