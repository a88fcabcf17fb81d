/* Unit tests of src/daemon's job path: a real `varvaultd --worker`
 * spawned by the runner on a Crypt4GH copy of the demo VCF, its sealed
 * chunks against `varvault-admin annotate`, resuming after a stop, and the
 * failures: a killed worker, a wrong plaintext checksum, tampered
 * ciphertext, a time limit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "varvault/vcf.h"

#include "../../src/daemon/daemon_int.h"
#include "demo_fixture.h"

static char dir[] = "/tmp/vv_daemon_XXXXXX";
static char worker[4096], admin[4096], model[4200], spool[4200], ref[4096], vcf[4096], policy[4096];
static vv_c4gh_seckey *sk;
static uint8_t *result_key;
static uint8_t sha[32];
static vv_sbuf expect[VV_OUT_NFORMATS]; /* annotate's output per format */
static const size_t chunk = 32;
static bool ready;

static int file_sink(void *ctx, const uint8_t *p, size_t n)
{
	return fwrite(p, 1, n, ctx) == n ? 0 : VV_ERR_IO;
}

/* Encrypts the demo VCF to the appliance key into path. */
static int encrypt_demo(const char *path)
{
	uint8_t pk[VV_C4GH_KEY_LEN];
	vv_c4gh_encryptor *e = NULL;
	char *text = NULL;
	size_t len = 0;
	FILE *f = NULL;
	int rc;

	vv_c4gh_seckey_pubkey(sk, pk);
	if ((rc = vv_read_file(vcf, 1 << 24, &text, &len)) != 0)
		return rc;
	vv_sha256_oneshot(text, len, sha);
	if (!(f = fopen(path, "wb")) || (rc = vv_c4gh_encryptor_new(NULL, pk, 1, NULL, 0, &e)) != 0 ||
	    (rc = vv_c4gh_encryptor_update(e, (const uint8_t *)text, len, file_sink, f)) != 0 ||
	    (rc = vv_c4gh_encryptor_final(e, file_sink, f)) != 0)
		rc = rc ? rc : VV_ERR_IO;
	vv_c4gh_encryptor_free(e);
	if (f && fclose(f) != 0)
		rc = VV_ERR_IO;
	free(text);
	return rc;
}

static int annotate(enum vv_out_format fmt, vv_sbuf *out)
{
	static const char *const names[] = {NULL, "vcf", "json", "tsv"};
	char cmd[32768], path[4300];
	int fd, rc;

	snprintf(path, sizeof path, "%s/expect.%s", dir, names[fmt]);
	snprintf(cmd, sizeof cmd,
		 "'%s' annotate -q --model '%s' --reference '%s' --vcf '%s' --policy '%s' --format %s "
		 "--chunk %zu --threads 1 -o '%s'", admin, model, ref, vcf, policy, names[fmt], chunk, path);
	if (system(cmd) != 0 || (fd = open(path, O_RDONLY)) < 0)
		return -1;
	vv_sbuf_init(out, 0);
	rc = vv_sbuf_read_fd(out, fd);
	close(fd);
	return rc;
}

static int setup(void **state)
{
	const char *bin = getenv("VV_BIN"), *src = getenv("VV_SRC");

	(void)state;
	if (vv_core_init() != 0 || !mkdtemp(dir))
		return -1;
	vv_vcf_init();
	snprintf(worker, sizeof worker, "%s/varvaultd", bin ? bin : "build");
	snprintf(admin, sizeof admin, "%s/varvault-admin", bin ? bin : "build");
	snprintf(model, sizeof model, "%s/model", dir);
	snprintf(spool, sizeof spool, "%s/sub.c4gh", dir);
	snprintf(policy, sizeof policy, "%s/policy/evidence.conf", src ? src : ".");
	if (access(worker, X_OK) != 0 || access(admin, X_OK) != 0 || !demo_path("sample.vcf", vcf, sizeof vcf) ||
	    !demo_path("reference.fa.gz", ref, sizeof ref))
		return 0; /* the tests skip */
	if (mkdir(model, 0700) != 0 || demo_write_model(model) != 0 || vv_c4gh_seckey_generate(&sk) != 0 ||
	    encrypt_demo(spool) != 0 || !(result_key = vv_secret_alloc(VV_KEY_LEN)))
		return -1;
	vv_key_random(result_key);
	for (int f = 0; f < VV_OUT_NFORMATS; f++)
		if (annotate((enum vv_out_format)(f + 1), &expect[f]) != 0)
			return -1;
	ready = true;
	return 0;
}

static int teardown(void **state)
{
	char cmd[256];

	(void)state;
	for (int f = 0; f < VV_OUT_NFORMATS; f++)
		vv_sbuf_done(&expect[f]);
	vv_c4gh_seckey_free(sk);
	vv_secret_free(result_key);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* What the callbacks store: the chunks opened (as the store would keep
 * them sealed and open them for `result`), and each chunk's state. */
struct store {
	vv_sbuf out[VV_OUT_NFORMATS];
	uint8_t state[64][VV_INTERPRET_STATE_LEN];
	uint64_t chunks;             /* stored: the next index */
	bool last;
	int64_t stop_at;             /* on_chunk refuses after storing this index; -1: never */
	int64_t kill_at;             /* on_chunk SIGKILLs the worker after storing this index */
	bool kill_at_start, check_env;
	int env_checked;             /* 1: the worker's environment was as expected */
	pid_t pid;
	uint64_t progress_calls, progress_done;
};

static void store_init(struct store *s)
{
	memset(s, 0, sizeof *s);
	s->stop_at = -1;
	s->kill_at = -1;
	for (int f = 0; f < VV_OUT_NFORMATS; f++)
		vv_sbuf_init(&s->out[f], 0);
}

static void store_done(struct store *s)
{
	for (int f = 0; f < VV_OUT_NFORMATS; f++)
		vv_sbuf_done(&s->out[f]);
}

static int on_chunk(void *ctx, const struct vv_runner_chunk *c)
{
	struct store *s = ctx;

	assert_int_equal(c->index, s->chunks);
	assert_false(s->last);
	for (int f = 0; f < VV_OUT_NFORMATS; f++) {
		enum vv_out_format fmt = (enum vv_out_format)(f + 1);
		size_t before = s->out[f].len;

		if (!c->sealed[f])
			continue;
		/* bound to its job, format, index and position */
		if (f > 0)
			assert_int_equal(vv_daemon_result_open(result_key, "job-1", fmt - 1, c->index, c->last,
							       c->sealed[f], c->sealed_len[f], &s->out[f]), VV_ERR_AUTH);
		assert_int_equal(vv_daemon_result_open(result_key, "job-2", fmt, c->index, c->last, c->sealed[f],
						       c->sealed_len[f], &s->out[f]), VV_ERR_AUTH);
		assert_int_equal(vv_daemon_result_open(result_key, "job-1", fmt, c->index + 1, c->last, c->sealed[f],
						       c->sealed_len[f], &s->out[f]), VV_ERR_AUTH);
		assert_int_equal(vv_daemon_result_open(result_key, "job-1", fmt, c->index, !c->last, c->sealed[f],
						       c->sealed_len[f], &s->out[f]), VV_ERR_AUTH);
		assert_int_equal(s->out[f].len, before);
		assert_int_equal(vv_daemon_result_open(result_key, "job-1", fmt, c->index, c->last, c->sealed[f],
						       c->sealed_len[f], &s->out[f]), 0);
		assert_int_equal(s->out[f].len, before + c->sealed_len[f] - VV_SEAL_OVERHEAD);
	}
	assert_true(s->chunks < 64);
	memcpy(s->state[s->chunks], c->state, VV_INTERPRET_STATE_LEN);
	s->chunks++;
	s->last = c->last;
	if (s->stop_at >= 0 && (int64_t)c->index == s->stop_at)
		return VV_ERR_CANCELLED;
	if (s->kill_at >= 0 && (int64_t)c->index == s->kill_at)
		assert_int_equal(kill(s->pid, SIGKILL), 0);
	return 0;
}

static void on_progress(void *ctx, uint64_t done, uint64_t total)
{
	struct store *s = ctx;

	assert_true(done <= total);
	s->progress_calls++;
	s->progress_done = done;
}

static void on_start(void *ctx, pid_t pid)
{
	struct store *s = ctx;

	s->pid = pid;
	if (s->check_env) {
		/* the worker (blocked on our body, so alive) keeps OPENBLAS_* and
		 * nothing else of ours */
		char path[64], env[8192];
		size_t n = 0;
		FILE *f;

		snprintf(path, sizeof path, "/proc/%d/environ", (int)pid);
		if ((f = fopen(path, "rb")) != NULL) {
			n = fread(env, 1, sizeof env - 1, f);
			fclose(f);
		}
		if (n > 0) {
			bool blas = false, other = false;
			env[n] = '\0';
			for (size_t i = 0; i < n; i += strlen(env + i) + 1) {
				blas |= !strcmp(env + i, "OPENBLAS_VERBOSE=0");
				other |= !strncmp(env + i, "VV_TEST_SECRET=", 15);
			}
			s->env_checked = blas && !other ? 1 : -1;
		}
	}
	if (s->kill_at_start)
		assert_int_equal(kill(pid, SIGKILL), 0);
}

static struct vv_runner_job job_for(struct store *s)
{
	struct vv_runner_job j = {0};

	j.worker = worker;
	j.job_id = "job-1";
	j.spool = spool;
	j.sk = sk;
	j.result_key = result_key;
	j.model_dir = model;
	j.reference = ref;
	j.policy = policy;
	j.chunk = chunk;
	j.threads = 1;
	/* Locked where the limit (or root's CAP_IPC_LOCK) allows; a test user's
	 * 8 MiB RLIMIT_MEMLOCK would otherwise refuse every job here
	 * (test_daemon_memlock.sh checks the refusal). */
	j.allow_unlocked = true;
	j.plaintext_sha256 = sha;
	j.time_limit = 300; /* a bound against hangs, never reached */
	j.on_chunk = on_chunk;
	j.on_progress = on_progress;
	j.on_start = on_start;
	j.ctx = s;
	return j;
}

static void assert_expected(const struct store *s)
{
	assert_true(s->last);
	for (int f = 0; f < VV_OUT_NFORMATS; f++) {
		assert_int_equal(s->out[f].len, expect[f].len);
		assert_memory_equal(s->out[f].data, expect[f].data, expect[f].len);
	}
}

static void test_worker_result_equals_annotate(void **state)
{
	struct store s;
	struct vv_runner_job j;
	struct vv_runner_result res;

	(void)state;
	if (!ready)
		skip();
	store_init(&s);
	s.check_env = true;
	assert_int_equal(setenv("VV_TEST_SECRET", "x", 1), 0);
	assert_int_equal(setenv("OPENBLAS_VERBOSE", "0", 1), 0);
	j = job_for(&s);
	assert_int_equal(vv_daemon_run_job(&j, &res), 0);
	assert_string_equal(res.reason, "");
	/* where /proc lets us look (it may not, for a non-dumpable process) */
	assert_int_not_equal(s.env_checked, -1);
	if (s.env_checked == 0)
		print_message("the worker's environment could not be read: not checked\n");
	assert_true(WIFEXITED(res.wait_status) && WEXITSTATUS(res.wait_status) == 0);
	/* several chunks, one per 32 variants */
	assert_int_equal(res.sum.variants, 274);
	assert_int_equal(res.chunks, (res.sum.variants + chunk - 1) / chunk);
	assert_int_equal(s.chunks, res.chunks);
	assert_int_equal(res.sum.scored + res.sum.not_scored, res.sum.variants);
	assert_int_equal(res.rescored, 0);
	assert_int_equal(s.progress_done, res.sum.variants);
	assert_int_equal(s.progress_calls, res.chunks);
	assert_expected(&s);
	store_done(&s);
}

static void test_worker_resumes_after_a_stop(void **state)
{
	static const int64_t stops[] = {0, 3, 7};

	(void)state;
	if (!ready)
		skip();
	for (size_t i = 0; i < sizeof stops / sizeof stops[0]; i++) {
		struct store s;
		struct vv_runner_job j;
		struct vv_runner_result res;

		store_init(&s);
		s.stop_at = stops[i];
		j = job_for(&s);
		/* the monitor stops the job after storing chunk k: the worker
		 * is killed, nothing more arrives */
		assert_int_equal(vv_daemon_run_job(&j, &res), VV_ERR_CANCELLED);
		assert_true(WIFSIGNALED(res.wait_status));
		assert_int_equal(s.chunks, stops[i] + 1);
		/* resume from the stored chunks with the state of the last */
		s.stop_at = -1;
		j.resume_chunk = s.chunks;
		j.resume_state = s.state[s.chunks - 1];
		j.resume_state_len = VV_INTERPRET_STATE_LEN;
		assert_int_equal(vv_daemon_run_job(&j, &res), 0);
		assert_int_equal(res.chunks + (uint64_t)stops[i] + 1, s.chunks);
		assert_int_equal(res.sum.variants, 274);
		assert_expected(&s);
		store_done(&s);
	}
}

/* A crash mid-run: SIGKILL after chunk 2 is stored.  Chunks the worker
 * had sent before it died still arrive and are stored; the job resumes
 * after the last of them.  (A worker fast enough to finish before the
 * signal lands leaves a whole result: also correct.) */
static void test_worker_resumes_after_sigkill(void **state)
{
	struct store s;
	struct vv_runner_job j;
	struct vv_runner_result res;
	int rc;

	(void)state;
	if (!ready)
		skip();
	store_init(&s);
	s.kill_at = 2;
	j = job_for(&s);
	rc = vv_daemon_run_job(&j, &res);
	assert_true(s.chunks >= 3);
	if (rc != 0) {
		assert_int_equal(rc, VV_ERR_WORKER);
		assert_string_equal(res.reason, "worker killed by signal 9");
		assert_false(s.last);
		s.kill_at = -1;
		j.resume_chunk = s.chunks;
		j.resume_state = s.state[s.chunks - 1];
		j.resume_state_len = VV_INTERPRET_STATE_LEN;
		assert_int_equal(vv_daemon_run_job(&j, &res), 0);
	} else {
		print_message("the worker finished before SIGKILL: no resume to test\n");
	}
	assert_expected(&s);
	store_done(&s);
}

static void test_worker_killed_by_a_signal(void **state)
{
	struct store s;
	struct vv_runner_job j;
	struct vv_runner_result res;

	(void)state;
	if (!ready)
		skip();
	store_init(&s);
	s.kill_at_start = true;
	j = job_for(&s);
	assert_int_equal(vv_daemon_run_job(&j, &res), VV_ERR_WORKER);
	assert_string_equal(res.reason, "worker killed by signal 9");
	assert_int_equal(s.chunks, 0);
	store_done(&s);
}

static void test_worker_refuses_a_wrong_checksum(void **state)
{
	struct store s;
	struct vv_runner_job j;
	struct vv_runner_result res;
	uint8_t other[32];

	(void)state;
	if (!ready)
		skip();
	memcpy(other, sha, sizeof other);
	other[31] ^= 1;
	store_init(&s);
	j = job_for(&s);
	j.plaintext_sha256 = other;
	assert_int_equal(vv_daemon_run_job(&j, &res), VV_ERR_CHECKSUM);
	assert_non_null(strstr(res.reason, "plaintext checksum does not match"));
	assert_int_equal(s.chunks, 0);
	/* an unverified submission (no checksum) runs */
	j.plaintext_sha256 = NULL;
	assert_int_equal(vv_daemon_run_job(&j, &res), 0);
	assert_expected(&s);
	store_done(&s);
}

/* Copies the spool with one byte flipped at offset at (from the end when
 * negative). */
static void tampered_copy(const char *path, long at)
{
	char *b = NULL;
	size_t n = 0;
	FILE *f;

	assert_int_equal(vv_read_file(spool, 1 << 24, &b, &n), 0);
	b[at < 0 ? (long)n + at : at] ^= 0x40;
	assert_non_null(f = fopen(path, "wb"));
	assert_int_equal(fwrite(b, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
	free(b);
}

static void test_worker_refuses_tampered_ciphertext(void **state)
{
	char bad[4300];
	struct store s;
	struct vv_runner_job j;
	struct vv_runner_result res;

	(void)state;
	if (!ready)
		skip();
	snprintf(bad, sizeof bad, "%s/bad.c4gh", dir);
	store_init(&s);
	j = job_for(&s);
	j.spool = bad;
	/* a data segment: the worker refuses it */
	tampered_copy(bad, -100);
	assert_int_equal(vv_daemon_run_job(&j, &res), VV_ERR_C4GH_TRUNCATED);
	assert_int_equal(s.chunks, 0);
	assert_true(WIFEXITED(res.wait_status));
	/* the header: the monitor refuses it, no worker starts */
	tampered_copy(bad, 40);
	assert_true(vv_daemon_run_job(&j, &res) < 0);
	assert_int_equal(res.wait_status, -1);
	assert_non_null(strstr(res.reason, "submission header"));
	store_done(&s);
}

static void test_runner_failures_are_stated(void **state)
{
	struct store s;
	struct vv_runner_job j;
	struct vv_runner_result res;
	uint8_t st[VV_INTERPRET_STATE_LEN];

	(void)state;
	if (!ready)
		skip();
	store_init(&s);
	j = job_for(&s);
	/* a time limit far too short for any job */
	j.time_limit = 0.001;
	assert_int_equal(vv_daemon_run_job(&j, &res), VV_ERR_TIME_LIMIT);
	assert_non_null(strstr(res.reason, "time limit"));
	/* no such binary */
	j = job_for(&s);
	j.worker = "/nonexistent/varvaultd";
	assert_int_equal(vv_daemon_run_job(&j, &res), VV_ERR_WORKER);
	assert_non_null(strstr(res.reason, "could not start"));
	/* a resume state that is not the one of the chunk before */
	j = job_for(&s);
	s.stop_at = 2;
	assert_int_equal(vv_daemon_run_job(&j, &res), VV_ERR_CANCELLED);
	memcpy(st, s.state[1], sizeof st);
	j.resume_chunk = 3;
	j.resume_state = st;
	j.resume_state_len = sizeof st;
	assert_int_equal(vv_daemon_run_job(&j, &res), VV_ERR_INVAL);
	assert_non_null(strstr(res.reason, "resume state"));
	/* a model that is not there: the worker says which */
	j = job_for(&s);
	j.model_dir = "/nonexistent/model";
	assert_true(vv_daemon_run_job(&j, &res) < 0);
	assert_non_null(strstr(res.reason, "model"));
	store_done(&s);
}

/* A "worker" that is a shell script: what a compromised worker might do. */
static void fake_worker(const char *path, const char *body)
{
	FILE *f;

	assert_non_null(f = fopen(path, "w"));
	fprintf(f, "#!/bin/sh\n%s\n", body);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, 0700), 0);
}

static void test_runner_survives_a_hostile_worker(void **state)
{
	char fake[4300];
	struct store s;
	struct vv_runner_job j;
	struct vv_runner_result res;

	(void)state;
	if (!ready)
		skip();
	snprintf(fake, sizeof fake, "%s/fake-worker", dir);
	store_init(&s);
	j = job_for(&s);
	j.worker = fake;
	/* a message length over the cap */
	fake_worker(fake, "printf '\\022\\000\\000\\000\\377\\377\\377\\377' >&3; exec sleep 30");
	assert_int_equal(vv_daemon_run_job(&j, &res), VV_ERR_WORKER);
	assert_non_null(strstr(res.reason, "protocol"));
	assert_true(WIFSIGNALED(res.wait_status));
	/* a chunk message of the wrong shape */
	fake_worker(fake, "printf '\\022\\000\\000\\000\\000\\000\\000\\000' >&3; exec sleep 30");
	assert_int_equal(vv_daemon_run_job(&j, &res), VV_ERR_WORKER);
	assert_non_null(strstr(res.reason, "protocol"));
	/* silence until the time limit: killed, the runner returns */
	fake_worker(fake, "exec sleep 30");
	j.time_limit = 0.5;
	assert_int_equal(vv_daemon_run_job(&j, &res), VV_ERR_TIME_LIMIT);
	assert_true(WIFSIGNALED(res.wait_status));
	/* an exit without a word */
	fake_worker(fake, "exit 7");
	j.time_limit = 300;
	assert_int_equal(vv_daemon_run_job(&j, &res), VV_ERR_WORKER);
	assert_string_equal(res.reason, "worker exited with status 7 before its result");
	assert_int_equal(s.chunks, 0);
	store_done(&s);
}

static void test_ipc_bounds(void **state)
{
	int sv[2];
	uint32_t type, hdr[2] = {VV_IPC_PROGRESS, VV_IPC_MAX_PAYLOAD + 1};
	vv_sbuf b;
	uint8_t big[16];

	(void)state;
	vv_sbuf_init(&b, VV_IPC_MAX_PAYLOAD);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	/* a message round trip, two parts */
	assert_int_equal(vv_daemon_ipc_send2(sv[0], VV_IPC_BODY, "ab", 2, "cd", 2, 0), 0);
	assert_int_equal(vv_daemon_ipc_recv(sv[1], &type, &b, 0), 0);
	assert_int_equal(type, VV_IPC_BODY);
	assert_int_equal(b.len, 4);
	assert_memory_equal(b.data, "abcd", 4);
	/* over the cap: refused when sending and when receiving */
	assert_int_equal(vv_daemon_ipc_send2(sv[0], VV_IPC_BODY, big, VV_IPC_MAX_PAYLOAD, big, 1, 0), VV_ERR_RANGE);
	assert_int_equal(write(sv[0], hdr, sizeof hdr), (ssize_t)sizeof hdr);
	assert_int_equal(vv_daemon_ipc_recv(sv[1], &type, &b, 0), VV_ERR_FORMAT);
	/* the peer gone, inside a message and at a boundary */
	hdr[1] = 10;
	assert_int_equal(write(sv[0], hdr, sizeof hdr), (ssize_t)sizeof hdr);
	assert_int_equal(write(sv[0], "abc", 3), 3);
	close(sv[0]);
	assert_int_equal(vv_daemon_ipc_recv(sv[1], &type, &b, 0), VV_ERR_TRUNCATED);
	assert_int_equal(vv_daemon_ipc_recv(sv[1], &type, &b, 0), VV_ERR_TRUNCATED);
	assert_int_equal(vv_daemon_ipc_send(sv[1], VV_IPC_BODY, "x", 1, 0), VV_ERR_TRUNCATED);
	close(sv[1]);
	/* a deadline already passed on a non-blocking socket with nothing to read */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	assert_int_equal(vv_daemon_ipc_recv(sv[1], &type, &b, vv_seconds() - 1), VV_ERR_TIME_LIMIT);
	close(sv[0]);
	close(sv[1]);
	vv_sbuf_done(&b);
}

/* The sandbox on its own, in forked children: a forbidden call (open, a
 * socket) kills with SIGSYS; allowed work (memory, a thread through the
 * clone3 -> clone fallback, writing to a descriptor it had) runs to exit 0. */
static void *sandbox_thread(void *arg)
{
	return arg;
}

static int sandbox_child(int what, int wfd)
{
	struct vv_sandbox_opts o = {0, 0, NULL, 0};
	pthread_t t;
	void *p;
	int abi;

	if (vv_daemon_sandbox_enter(&o, &abi) != 0)
		return 10;
	if (what == 1)
		(void)open("/dev/null", O_RDONLY);
	else if (what == 2)
		(void)socket(AF_UNIX, SOCK_STREAM, 0);
	else {
		if (!(p = malloc(1 << 20)) || pthread_create(&t, NULL, sandbox_thread, p) != 0 ||
		    pthread_join(t, NULL) != 0)
			return 11;
		free(p);
		if (write(wfd, "ok", 2) != 2)
			return 12;
		return 0;
	}
	return 13; /* the forbidden call returned */
}

static void test_sandbox_kills_forbidden_calls(void **state)
{
	(void)state;
	for (int what = 0; what < 3; what++) {
		int pfd[2], st = 0;
		char buf[2] = {0};
		pid_t pid;

		assert_int_equal(pipe(pfd), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(pfd[0]);
			_exit(sandbox_child(what, pfd[1]));
		}
		close(pfd[1]);
		assert_int_equal(waitpid(pid, &st, 0), pid);
		if (what == 0) {
			assert_true(WIFEXITED(st));
			assert_int_equal(WEXITSTATUS(st), 0);
			assert_int_equal(read(pfd[0], buf, 2), 2);
			assert_memory_equal(buf, "ok", 2);
		} else {
			assert_true(WIFSIGNALED(st));
			assert_int_equal(WTERMSIG(st), SIGSYS);
		}
		close(pfd[0]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_worker_result_equals_annotate),
		cmocka_unit_test(test_worker_resumes_after_a_stop),
		cmocka_unit_test(test_worker_resumes_after_sigkill),
		cmocka_unit_test(test_worker_killed_by_a_signal),
		cmocka_unit_test(test_worker_refuses_a_wrong_checksum),
		cmocka_unit_test(test_worker_refuses_tampered_ciphertext),
		cmocka_unit_test(test_runner_failures_are_stated),
		cmocka_unit_test(test_runner_survives_a_hostile_worker),
		cmocka_unit_test(test_ipc_bounds),
		cmocka_unit_test(test_sandbox_kills_forbidden_calls),
	};
	(void)fx_load; /* the fixture's loader; this test loads from files */
	return cmocka_run_group_tests(tests, setup, teardown);
}
