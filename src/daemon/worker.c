/* The interpreter worker (`varvaultd --worker`): one job, decrypted into
 * secure memory, interpreted chunk by chunk, handed back sealed; no keys
 * but the job's own, and nothing but ciphertext leaves it. */
#include "daemon_int.h"
#include "memneed.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "varvault/model.h"
#include "varvault/vcf.h"

/*
 * The JOB message, a JSON object:
 *   job            the job id (sealed into every chunk)
 *   model, reference, policy   paths the worker opens
 *   scores         path of a precomputed SNV score table (absent: none)
 *   formats        VV_OUT_BIT set
 *   chunk          variants per chunk
 *   resume_chunk   0, or k to resume after chunk k-1 ...
 *   resume_state   ... with the hex of the state stored with chunk k-1
 *   plaintext_sha256  hex, absent for an unverified submission
 *   cpu_seconds, memory_max   the sandbox's limits (0: none)
 *   max_input, max_out, threads, batch
 *   allow_unlocked  true: go on when memory cannot be locked (development)
 *   max_records, max_text_bytes   the VCF limits (absent: the vcf defaults)
 */
struct vv_wjob {
	char job[65];
	char *model, *reference, *policy, *scores;
	unsigned formats;
	uint64_t chunk, resume_chunk;
	struct vv_interpret_state resume;
	bool has_sha;
	uint8_t sha[32];
	uint64_t max_input, max_out, threads, batch;
	uint64_t cpu_seconds, memory_max;
	bool allow_unlocked;
	uint64_t max_records, max_text_bytes;
};

struct vv_worker {
	int fd;
	uint32_t flags;              /* VV_IPC_F_* for DONE and FAIL */
	struct vv_wjob job;
	vv_policy *policy;
	vv_model *model;
	vv_ref *ref;
	vv_scorer *sc;
	vv_score_table *table;       /* precomputed SNV scores, or NULL */
	vv_sbuf msg;                 /* the message being read (secure) */
	vv_sbuf plain;               /* the decrypted VCF (secure) */
	vv_sha256 *sha;
	uint8_t *result_key;         /* VV_KEY_LEN, secret memory */
	vv_c4gh_decryptor *dec;
	uint8_t *sealed;             /* one sealed chunk (ciphertext) */
	size_t sealed_cap;
	int progress_rc;
};

static int vv_unhex(const char *s, uint8_t *out, size_t n)
{
	if (strlen(s) != 2 * n)
		return VV_ERR_FORMAT;
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		if (sscanf(s + 2 * i, "%2x", &v) != 1 || !strchr("0123456789abcdefABCDEF", s[2 * i]) ||
		    !strchr("0123456789abcdefABCDEF", s[2 * i + 1]))
			return VV_ERR_FORMAT;
		out[i] = (uint8_t)v;
	}
	return 0;
}

static int vv_json_u64(json_object *o, const char *key, uint64_t *out, bool required)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v)) {
		if (required)
			return vv_errf(VV_ERR_FORMAT, "job message: %s missing", key);
		return 0;
	}
	if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0)
		return vv_errf(VV_ERR_FORMAT, "job message: %s is not a count", key);
	*out = (uint64_t)json_object_get_int64(v);
	return 0;
}

static int vv_json_str(json_object *o, const char *key, char **out)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return vv_errf(VV_ERR_FORMAT, "job message: %s missing", key);
	if (!(*out = strdup(json_object_get_string(v))))
		return VV_ERR_NOMEM;
	return 0;
}

static int vv_parse_job(const uint8_t *p, size_t n, struct vv_wjob *j)
{
	json_tokener *tok = json_tokener_new();
	json_object *o = NULL, *v;
	uint64_t formats = 0;
	char *s = NULL;
	int rc;

	if (!tok)
		return VV_ERR_NOMEM;
	o = json_tokener_parse_ex(tok, (const char *)p, (int)n);
	if (!o || json_tokener_get_error(tok) != json_tokener_success || !json_object_is_type(o, json_type_object)) {
		rc = vv_errf(VV_ERR_FORMAT, "job message: not a JSON object");
		goto out;
	}
	if ((rc = vv_json_str(o, "job", &s)) != 0)
		goto out;
	if (strlen(s) >= sizeof j->job || vv_daemon_seal_id(s, VV_OUT_VCF, (char[160]){0}, 160) != 0) {
		rc = vv_errf(VV_ERR_FORMAT, "job message: job id not valid");
		goto out;
	}
	memcpy(j->job, s, strlen(s) + 1);
	if ((rc = vv_json_str(o, "model", &j->model)) != 0 || (rc = vv_json_str(o, "reference", &j->reference)) != 0 ||
	    (rc = vv_json_str(o, "policy", &j->policy)) != 0 ||
	    (rc = vv_json_u64(o, "formats", &formats, true)) != 0 ||
	    (rc = vv_json_u64(o, "chunk", &j->chunk, true)) != 0 ||
	    (rc = vv_json_u64(o, "resume_chunk", &j->resume_chunk, false)) != 0 ||
	    (rc = vv_json_u64(o, "max_input", &j->max_input, false)) != 0 ||
	    (rc = vv_json_u64(o, "max_out", &j->max_out, false)) != 0 ||
	    (rc = vv_json_u64(o, "threads", &j->threads, false)) != 0 ||
	    (rc = vv_json_u64(o, "batch", &j->batch, false)) != 0 ||
	    (rc = vv_json_u64(o, "cpu_seconds", &j->cpu_seconds, false)) != 0 ||
	    (rc = vv_json_u64(o, "memory_max", &j->memory_max, false)) != 0 ||
	    (rc = vv_json_u64(o, "max_records", &j->max_records, false)) != 0 ||
	    (rc = vv_json_u64(o, "max_text_bytes", &j->max_text_bytes, false)) != 0)
		goto out;
	if (json_object_object_get_ex(o, "allow_unlocked", &v)) {
		if (!json_object_is_type(v, json_type_boolean)) {
			rc = vv_errf(VV_ERR_FORMAT, "job message: allow_unlocked is not a boolean");
			goto out;
		}
		j->allow_unlocked = json_object_get_boolean(v);
	}
	if (!formats || (formats & ~(uint64_t)VV_OUT_ALL) || j->chunk == 0 || j->chunk > (1u << 20) ||
	    j->threads > 256 || j->batch > 4096) {
		rc = vv_errf(VV_ERR_FORMAT, "job message: formats, chunk, threads or batch out of range");
		goto out;
	}
	j->formats = (unsigned)formats;
	if (json_object_object_get_ex(o, "scores", &v) && (rc = vv_json_str(o, "scores", &j->scores)) != 0)
		goto out;
	if (j->resume_chunk) {
		uint8_t st[VV_INTERPRET_STATE_LEN];
		if (!json_object_object_get_ex(o, "resume_state", &v) || !json_object_is_type(v, json_type_string) ||
		    vv_unhex(json_object_get_string(v), st, sizeof st) != 0) {
			rc = vv_errf(VV_ERR_FORMAT, "job message: resume_state missing or not hex");
			goto out;
		}
		if ((rc = vv_interpret_state_decode(st, sizeof st, &j->resume)) != 0)
			goto out;
		if (j->resume.next_chunk != j->resume_chunk) {
			rc = vv_errf(VV_ERR_INVAL, "job message: the resume state is not that of chunk %llu",
				     (unsigned long long)(j->resume_chunk - 1));
			goto out;
		}
	}
	if (json_object_object_get_ex(o, "plaintext_sha256", &v) && !json_object_is_type(v, json_type_null)) {
		if (!json_object_is_type(v, json_type_string) || vv_unhex(json_object_get_string(v), j->sha, 32) != 0) {
			rc = vv_errf(VV_ERR_FORMAT, "job message: plaintext_sha256 is not 64 hex digits");
			goto out;
		}
		j->has_sha = true;
	}
	rc = 0;
out:
	free(s);
	json_object_put(o);
	json_tokener_free(tok);
	return rc;
}

static int vv_fail(struct vv_worker *w, int code, const char *what)
{
	char detail[VV_IPC_MAX_DETAIL];
	uint8_t head[8];
	int n;

	n = snprintf(detail, sizeof detail, "%s%s%s", what, *vv_err_detail() ? ": " : "", vv_err_detail());
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof detail)
		n = sizeof detail - 1;
	vv_daemon_put32(head, (uint32_t)code);
	vv_daemon_put32(head + 4, w->flags);
	/* the monitor may be gone already: nothing more to do then */
	if (vv_daemon_ipc_send2(w->fd, VV_IPC_FAIL, head, sizeof head, detail, (size_t)n, 0) != 0)
		return 1;
	return 1;
}

static int vv_plain_sink(void *ctx, const uint8_t *p, size_t n)
{
	struct vv_worker *w = ctx;
	int rc;

	if ((rc = vv_sbuf_append(&w->plain, p, n)) != 0)
		return rc == VV_ERR_RANGE ? vv_errf(rc, "the plaintext is larger than max_input") : rc;
	vv_sha256_update(w->sha, p, n);
	return 0;
}

/* KEYS: the data keys and edit list make the decryptor, the result key is
 * kept; the message buffer is wiped by the next receive. */
static int vv_take_keys(struct vv_worker *w)
{
	const uint8_t *p = w->msg.data;
	uint64_t *edits = NULL;
	uint32_t nkeys, nedits;
	size_t need;
	int rc;

	if (w->msg.len < 8)
		return vv_errf(VV_ERR_FORMAT, "keys message too short");
	nkeys = vv_daemon_get32(p);
	nedits = vv_daemon_get32(p + 4);
	if (nkeys == 0 || nkeys > VV_C4GH_MAX_PACKETS || nedits > VV_IPC_MAX_PAYLOAD / 8)
		return vv_errf(VV_ERR_FORMAT, "keys message: %u keys, %u edits", nkeys, nedits);
	need = 8 + (size_t)nkeys * VV_C4GH_KEY_LEN + (size_t)nedits * 8 + VV_KEY_LEN;
	if (w->msg.len != need)
		return vv_errf(VV_ERR_FORMAT, "keys message of %zu bytes, not %zu", w->msg.len, need);
	if (nedits && !(edits = malloc((size_t)nedits * sizeof *edits)))
		return VV_ERR_NOMEM;
	for (uint32_t i = 0; i < nedits; i++)
		edits[i] = vv_daemon_get64(p + 8 + (size_t)nkeys * VV_C4GH_KEY_LEN + 8 * (size_t)i);
	rc = vv_c4gh_decryptor_new(p + 8, nkeys, edits, nedits, &w->dec);
	free(edits);
	if (rc)
		return rc;
	if (!(w->result_key = vv_secret_alloc(VV_KEY_LEN)))
		return VV_ERR_NOMEM;
	memcpy(w->result_key, p + need - VV_KEY_LEN, VV_KEY_LEN);
	return 0;
}

/* BODY messages until BODY_END, through the decryptor. */
static int vv_take_body(struct vv_worker *w)
{
	uint64_t sent = 0;
	uint32_t type;
	int rc;

	for (;;) {
		if ((rc = vv_daemon_ipc_recv(w->fd, &type, &w->msg, 0)) != 0)
			return rc;
		if (type == VV_IPC_BODY) {
			sent += w->msg.len;
			if ((rc = vv_c4gh_decryptor_update(w->dec, w->msg.data, w->msg.len, vv_plain_sink, w)) != 0)
				return rc;
			continue;
		}
		if (type != VV_IPC_BODY_END || w->msg.len != 8)
			return vv_errf(VV_ERR_FORMAT, "expected a body message, got type %u", type);
		if (vv_daemon_get64(w->msg.data) != sent)
			return vv_errf(VV_ERR_TRUNCATED, "the body ended after %llu of %llu bytes",
				       (unsigned long long)sent, (unsigned long long)vv_daemon_get64(w->msg.data));
		return vv_c4gh_decryptor_final(w->dec, vv_plain_sink, w);
	}
}

static void vv_progress(void *ctx, uint64_t done, uint64_t total)
{
	struct vv_worker *w = ctx;
	uint8_t m[16];

	vv_daemon_put64(m, done);
	vv_daemon_put64(m + 8, total);
	if (!w->progress_rc)
		w->progress_rc = vv_daemon_ipc_send(w->fd, VV_IPC_PROGRESS, m, sizeof m, 0);
}

/* Seals and sends every format of one chunk, then the CHUNK that ends it. */
static int vv_send_chunk(struct vv_worker *w, const struct vv_interpret_chunk *c)
{
	uint8_t meta[8 + 4 + 4 + 8 * VV_OUT_NFORMATS + VV_INTERPRET_STATE_LEN];
	int rc;

	memset(meta, 0, sizeof meta);
	for (int f = 0; f < VV_OUT_NFORMATS; f++) {
		char id[VV_SEAL_MAX_ID];
		size_t n = c->out[f].len, sl;
		uint8_t fmt[4];

		if (!(w->job.formats & VV_OUT_BIT(f + 1)))
			continue;
		if (n > VV_SEAL_MAX_CHUNK)
			return vv_errf(VV_ERR_RANGE, "chunk %llu of the %s output is over %zu bytes: use a smaller chunk",
				       (unsigned long long)c->index, f == 0 ? "VCF" : f == 1 ? "JSON" : "TSV",
				       VV_SEAL_MAX_CHUNK);
		if (c->index > UINT32_MAX)
			return vv_errf(VV_ERR_RANGE, "more than 2^32 chunks");
		sl = n + VV_SEAL_OVERHEAD;
		if (sl > w->sealed_cap) {
			uint8_t *nb = realloc(w->sealed, sl);
			if (!nb)
				return VV_ERR_NOMEM;
			w->sealed = nb;
			w->sealed_cap = sl;
		}
		if ((rc = vv_daemon_seal_id(w->job.job, (enum vv_out_format)(f + 1), id, sizeof id)) != 0 ||
		    (rc = vv_seal_chunk(w->result_key, id, (uint32_t)c->index, c->last, c->out[f].data, n,
					w->sealed)) != 0)
			return rc;
		vv_daemon_put32(fmt, (uint32_t)(f + 1));
		for (size_t off = 0; off < sl; off += VV_IPC_PIECE) {
			size_t k = sl - off < VV_IPC_PIECE ? sl - off : VV_IPC_PIECE;
			if ((rc = vv_daemon_ipc_send2(w->fd, VV_IPC_CHUNK_DATA, fmt, 4, w->sealed + off, k, 0)) != 0)
				return rc;
		}
		vv_daemon_put64(meta + 16 + 8 * f, sl);
	}
	vv_daemon_put64(meta, c->index);
	vv_daemon_put32(meta + 8, c->last);
	vv_daemon_put32(meta + 12, w->job.formats);
	vv_interpret_state_encode(&c->state, meta + 16 + 8 * VV_OUT_NFORMATS);
	return vv_daemon_ipc_send(w->fd, VV_IPC_CHUNK, meta, sizeof meta, 0);
}

#ifdef VV_TEST_HOOKS
#include <signal.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <unistd.h>

static char vv_test_hook[16];
static volatile sig_atomic_t vv_test_released;

static void vv_test_release(int sig)
{
	(void)sig;
	vv_test_released = 1;
}

/* Test builds only: after the first chunk went out (the sandbox on, the
 * plaintext in memory), do what VARVAULT_TEST_WORKER asked. */
static void vv_test_hook_run(void)
{
	const char *h = vv_test_hook;
	char *argv[] = {(char *)"/bin/true", NULL};

	if (!*h)
		return;
	vv_log(VV_LOG_WARN, "worker test hook: %s", h);
	if (!strcmp(h, "open"))
		(void)open("/etc/passwd", O_RDONLY);
	else if (!strcmp(h, "socket"))
		(void)socket(AF_INET, SOCK_STREAM, 0);
	else if (!strcmp(h, "execve"))
		(void)execve(argv[0], argv, argv + 1);
	else if (!strcmp(h, "ptrace"))
		(void)ptrace(PTRACE_TRACEME, 0, NULL, NULL);
	else if (!strcmp(h, "segv"))
		(void)raise(SIGSEGV);
	else if (!strcmp(h, "hold")) {
		/* held until SIGUSR1, so that a test can read /proc/PID/status */
		sigset_t none;
		sigemptyset(&none);
		(void)signal(SIGUSR1, vv_test_release);
		vv_log(VV_LOG_WARN, "worker test hook: holding (dumpable %d)", prctl(PR_GET_DUMPABLE, 0, 0, 0, 0));
		while (!vv_test_released)
			(void)sigsuspend(&none);
		return;
	}
	/* reached only when the sandbox let the call through */
	vv_log(VV_LOG_ERROR, "worker test hook: %s was not stopped", h);
	_exit(3);
}
#endif

static int vv_interpret(struct vv_worker *w, struct vv_interpret_summary *sum, uint64_t *rescored)
{
	struct vv_interpret_opts io = {0};
	struct vv_interpret_chunk c;
	vv_interpret_chunks *r = NULL;
	vv_vcf_limits lim;
	int rc;

	/* the limits count what the input decompresses to, and its records:
	 * a small compressed file of many records is refused, not run */
	vv_vcf_limits_default(&lim);
	if (w->job.max_input)
		lim.max_input_bytes = w->job.max_input;
	if (w->job.max_records)
		lim.max_records = w->job.max_records;
	if (w->job.max_text_bytes)
		lim.max_text_bytes = w->job.max_text_bytes;
	io.limits = &lim;
	io.chunk = w->job.chunk;
	io.max_out = w->job.max_out;
	io.progress = vv_progress;
	io.progress_ctx = w;
	io.scores = w->table;
	vv_interpret_chunk_init(&c);
	if ((rc = vv_interpret_chunks_new(w->sc, w->ref, w->policy, w->plain.data, w->plain.len, &io,
					  w->job.formats, w->job.resume_chunk ? &w->job.resume : NULL, &r)) != 0)
		goto out;
	/* the run's reader holds its own (mapped, so locked) copy from here
	 * on: one copy of the plaintext for the rest of the job, not two */
	vv_sbuf_done(&w->plain);
	while ((rc = vv_interpret_chunks_next(r, &c)) == 1) {
		if ((rc = vv_send_chunk(w, &c)) != 0 || (rc = w->progress_rc) != 0)
			goto out;
#ifdef VV_TEST_HOOKS
		if (c.index == w->job.resume_chunk)
			vv_test_hook_run();
#endif
		if (c.last)
			break;
	}
	if (rc < 0)
		goto out;
	vv_interpret_chunks_summary(r, sum);
	*rescored = vv_interpret_chunks_rescored(r);
	rc = 0;
out:
	vv_interpret_chunk_done(&c);
	vv_interpret_chunks_free(r);
	return rc;
}

/* Compares without an early exit (the digest is not secret, but cheap). */
static bool vv_same(const uint8_t *a, const uint8_t *b, size_t n)
{
	uint8_t d = 0;

	for (size_t i = 0; i < n; i++)
		d |= (uint8_t)(a[i] ^ b[i]);
	return d == 0;
}

static void vv_worker_done(struct vv_worker *w)
{
	vv_c4gh_decryptor_free(w->dec);
	if (w->result_key) {
		vv_wipe(w->result_key, VV_KEY_LEN);
		vv_secret_free(w->result_key);
	}
	vv_sbuf_done(&w->msg);
	vv_sbuf_done(&w->plain);
	vv_sha256_free(w->sha);
	free(w->sealed);
	vv_score_table_free(w->table);
	vv_scorer_free(w->sc);
	vv_model_free(w->model);
	vv_ref_free(w->ref);
	vv_policy_free(w->policy);
	free(w->job.model);
	free(w->job.reference);
	free(w->job.policy);
	free(w->job.scores);
}

int vv_daemon_worker_main(int fd)
{
	struct vv_worker w;
	struct vv_score_opts so = {0};
	struct vv_interpret_summary sum;
	uint8_t digest[32], done[VV_DAEMON_SUMMARY_LEN];
	uint64_t rescored = 0;
	char md5[33];
	struct vv_memimage img;
	bool locked = false;
	struct stat st;
	uint32_t type;
	const char *what = "start-up";
	int rc;

	memset(&w, 0, sizeof w);
	vv_err_clear();
	w.fd = fd;
	vv_sbuf_init(&w.msg, VV_IPC_MAX_PAYLOAD);
	if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) {
		vv_log(VV_LOG_ERROR, "--worker: descriptor %d is not the monitor's socket", fd);
		return 2;
	}
	if ((rc = vv_daemon_sandbox_prepare()) != 0 || (rc = vv_core_init()) != 0 ||
	    (rc = vv_harden_process()) != 0)
		goto out;
#ifdef VV_TEST_HOOKS
	{
		const char *h = getenv("VARVAULT_TEST_WORKER");
		snprintf(vv_test_hook, sizeof vv_test_hook, "%s", h ? h : "");
	}
#endif
	/* The image before anything is loaded: the figure --check-config
	 * measures too, so that both compute the same need. */
	if ((rc = vv_daemon_memimage(&img)) != 0)
		goto out;
	vv_vcf_init();
	what = "job message";
	if ((rc = vv_daemon_ipc_recv(fd, &type, &w.msg, 0)) != 0)
		goto out;
	if (type != VV_IPC_JOB) {
		rc = vv_errf(VV_ERR_FORMAT, "expected the job, got type %u", type);
		goto out;
	}
	if ((rc = vv_parse_job(w.msg.data, w.msg.len, &w.job)) != 0)
		goto out;
	vv_sbuf_init(&w.plain, w.job.max_input ? w.job.max_input : (size_t)4 << 30);
	if (!(w.sha = vv_sha256_new())) {
		rc = VV_ERR_NOMEM;
		goto out;
	}
	what = "policy";
	if ((rc = vv_policy_load(w.job.policy, &w.policy)) != 0)
		goto out;
	what = "model";
	if ((rc = vv_model_load(w.job.model, &w.model)) != 0)
		goto out;
	what = "reference";
	if ((rc = vv_ref_open(w.job.reference, &w.ref)) != 0)
		goto out;
	what = "scorer";
	so.threads = (int)w.job.threads;
	so.batch = w.job.batch;
	if ((rc = vv_scorer_new(w.model, &so, &w.sc)) != 0)
		goto out;
	/* opened with the model and reference, before any sandbox closes the
	 * file system; checked against this model, reference and policy */
	what = "score table";
	if (w.job.scores && (rc = vv_score_table_open(w.job.scores, w.sc, w.ref, &w.table)) != 0)
		goto out;
	/* the reference's digest reads the whole file: now, while open(2) is
	 * still allowed */
	what = "reference";
	if ((rc = vv_ref_md5(w.ref, md5)) != 0)
		goto out;
	/* Everything but the job's data is mapped now: lock it all, and
	 * whatever comes later, before the first byte of patient data. */
	what = "memory lock";
	if ((rc = vv_daemon_worker_lock(w.model, (int)w.job.threads, w.job.batch, w.plain.max, &img,
					w.job.allow_unlocked, &locked)) != 0)
		goto out;
	if (locked)
		w.flags |= VV_IPC_F_MEM_LOCKED;
	/* memory is locked (above) before the sandbox, which allows mlock calls */
	what = "sandbox";
	{
		const char *ro[] = {w.job.model, w.job.reference};
		struct vv_sandbox_opts sb = {w.job.cpu_seconds, w.job.memory_max, ro, 2};
		int abi;
		if ((rc = vv_daemon_sandbox_enter(&sb, &abi)) != 0)
			goto out;
		if (abi > 0)
			w.flags |= VV_IPC_F_LANDLOCK;
		vv_log(VV_LOG_DEBUG, "job %s: sandbox on (seccomp; landlock %s%.0d)", w.job.job,
		       abi ? "ABI " : "not offered by this kernel", abi);
	}
	what = "keys message";
	if ((rc = vv_daemon_ipc_recv(fd, &type, &w.msg, 0)) != 0)
		goto out;
	if (type != VV_IPC_KEYS) {
		rc = vv_errf(VV_ERR_FORMAT, "expected the keys, got type %u", type);
		goto out;
	}
	if ((rc = vv_take_keys(&w)) != 0)
		goto out;
	vv_sbuf_wipe(&w.msg);
	what = "submission";
	if ((rc = vv_take_body(&w)) != 0)
		goto out;
	/* the data keys are done with */
	vv_c4gh_decryptor_free(w.dec);
	w.dec = NULL;
	vv_sha256_final(w.sha, digest);
	w.sha = NULL;
	if (w.job.has_sha && !vv_same(digest, w.job.sha, sizeof digest)) {
		rc = vv_errf(VV_ERR_CHECKSUM, "plaintext checksum does not match");
		what = "submission";
		goto out;
	}
	what = "interpretation";
	if ((rc = vv_interpret(&w, &sum, &rescored)) != 0)
		goto out;
	vv_daemon_summary_encode(&sum, rescored, w.flags, done);
	what = "done message";
	rc = vv_daemon_ipc_send(fd, VV_IPC_DONE, done, sizeof done, 0);
out:
	if (rc)
		(void)vv_fail(&w, rc, what);
	vv_worker_done(&w);
	return rc ? 1 : 0;
}
