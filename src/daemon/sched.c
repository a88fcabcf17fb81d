/* varvaultd's job scheduler: claims queued jobs and runs at most
 * `workers` of them at once in interpreter workers (the runner); stores
 * each sealed chunk as it arrives, so a restart resumes after it. */
#include "serve.h"

#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include "daemon_int.h"
#include "memneed.h"
#include "sdglue.h"
#include "daudit.h"
#include "varvault/interpret.h"

/* A stored chunk packs every format's sealed chunk with the sealed resume
 * state: "VVC1", then (u32 length, bytes) for the state and for each
 * format in VV_OUT_* order (length 0: absent).  Each part is sealed on its
 * own under "<job>/<what>" with the sample's key, index and last flag. */
#define PACK_MAGIC "VVC1"

/* Why a slot's cancel flag is set. */
enum { CANCEL_NONE = 0, CANCEL_USER = 1, CANCEL_STOP = 2 };

struct slot {
	struct vv_sched *s;
	bool active;
	bool joinable; /* thread was started and not yet joined */
	pthread_t thread;
	vv_store_job job;
	atomic_int cancel;
	atomic_bool drain; /* stopping: end the job after its next stored chunk */
	double last_progress;
};

struct vv_sched {
	struct vv_daemon *d;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop, woken;
	unsigned running;
	struct slot *slots; /* d->cf.workers */
};

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Finds part `which` (0: state, 1 + fmt - 1: a format) of a packed chunk. */
static int unpack(const uint8_t *b, size_t n, unsigned which, const uint8_t **p, size_t *len)
{
	size_t off = 4;

	if (n < 4 || memcmp(b, PACK_MAGIC, 4) != 0)
		return vv_errf(VV_ERR_FORMAT, "stored chunk: unknown packing");
	for (unsigned i = 0; i <= VV_OUT_NFORMATS; i++) {
		uint32_t l;
		if (n - off < 4)
			return vv_errf(VV_ERR_FORMAT, "stored chunk: truncated");
		l = get32(b + off);
		off += 4;
		if (n - off < l)
			return vv_errf(VV_ERR_FORMAT, "stored chunk: truncated");
		if (i == which) {
			*p = b + off;
			*len = l;
			return 0;
		}
		off += l;
	}
	return vv_errf(VV_ERR_FORMAT, "stored chunk: no such part");
}

/* The id a part is sealed under. */
static int part_id(const char *job, unsigned which, char *out, size_t cap)
{
	if (which == 0)
		return snprintf(out, cap, "%s/state", job) < (int)cap ? 0 : VV_ERR_RANGE;
	return vv_daemon_seal_id(job, (enum vv_out_format)which, out, cap);
}

/* Opens part `which` of chunk idx into out (appended). */
static int open_part(struct vv_daemon *d, const char *job, const uint8_t *key, uint32_t idx, unsigned which,
		     vv_sbuf *out, bool *last)
{
	uint8_t *blob = NULL;
	const uint8_t *p = NULL;
	size_t n, len = 0;
	char sid[VV_SEAL_MAX_ID + 1];
	int rc;

	if ((rc = vv_store_chunk_get(d->store, job, idx, &blob, &n, last)) != 0)
		return rc;
	if ((rc = unpack(blob, n, which, &p, &len)) != 0 || (rc = part_id(job, which, sid, sizeof sid)) != 0)
		goto out;
	if (which > 0 && len == 0) {
		rc = vv_errf(VV_ERR_NOTFOUND, "job %s: chunk %u holds no such format", job, idx);
		goto out;
	}
	if (which > 0) {
		/* A format's chunk: the runner's seal id for it. */
		rc = vv_daemon_result_open(key, job, (enum vv_out_format)which, idx, *last, p, len, out);
		if (rc != 0)
			(void)vv_err_prefix(rc, "job %s: chunk %u: ", job, idx);
		goto out;
	}
	if (len < VV_SEAL_OVERHEAD) {
		rc = vv_errf(VV_ERR_FORMAT, "job %s: chunk %u: state too short", job, idx);
		goto out;
	}
	if ((rc = vv_sbuf_reserve(out, len - VV_SEAL_OVERHEAD)) != 0)
		goto out;
	if ((rc = vv_open_chunk(key, sid, idx, *last, p, len, out->data + out->len)) != 0) {
		(void)vv_errf(rc, "job %s: chunk %u does not open (tampered, moved or wrong key)", job, idx);
		goto out;
	}
	out->len += len - VV_SEAL_OVERHEAD;
out:
	free(blob);
	return rc;
}

int vv_sched_open_chunk(struct vv_daemon *d, const vv_store_job *j, const uint8_t *key, uint32_t idx,
			enum vv_out_format fmt, vv_sbuf *out, bool *last);
int vv_sched_open_chunk(struct vv_daemon *d, const vv_store_job *j, const uint8_t *key, uint32_t idx,
			enum vv_out_format fmt, vv_sbuf *out, bool *last)
{
	return open_part(d, j->id, key, idx, (unsigned)fmt, out, last);
}

/* ------------------------------------------------------------- one job */

/* A job event's record, with the job's object. */
static void job_rec(struct vv_daudit_rec *x, struct vv_daemon *d, const vv_store_job *j, const char *action,
		    char ct[65])
{
	vv_daudit_init(x, d, VV_AUDIT_EV_JOB, action);
	x->r.job = j->id;
	x->r.sample = j->sample;
	vv_hex(j->ct_sha256, 32, ct);
	x->r.ciphertext_sha256 = ct;
}

/* A job event with no store write of its own (started, decrypted). */
static int job_event(struct vv_daemon *d, const vv_store_job *j, const char *action)
{
	struct vv_daudit_rec x;
	char ct[65];
	int rc;

	job_rec(&x, d, j, action, ct);
	if ((rc = vv_daudit_write(&x)) != 0)
		vv_log_err(rc, "job %s: audit %s", j->id, action);
	return rc;
}

/* Runs a store transition with its record in the same transaction; when
 * the transition writes nothing (or fails), no record: the caller logs. */
#define WITH_RECORD(d, j, action, reason_, call)                                  \
	({                                                                         \
		struct vv_daudit_rec x_;                                           \
		char ct_[65];                                                      \
		int r_;                                                            \
		job_rec(&x_, d, j, action, ct_);                                   \
		if ((reason_) != NULL) {                                           \
			x_.r.outcome = VV_AUDIT_FAILED;                            \
			x_.r.reason = (reason_);                                   \
		}                                                                  \
		vv_daudit_arm(&x_);                                                \
		r_ = (call);                                                       \
		(void)vv_daudit_disarm(&x_);                                       \
		r_;                                                                \
	})

/* A job in a final state needs its ciphertext no more. */
static void drop_spool(struct vv_daemon *d, const char *id)
{
	int rc = vv_store_job_remove_spool(d->store, id);

	if (rc != 0 && rc != VV_ERR_NOTFOUND)
		vv_log(VV_LOG_WARN, "job %s: removing its spool file: %s", id, vv_err_detail());
}

void vv_sched_job_ended(struct vv_daemon *d, const char *id)
{
	drop_spool(d, id);
}

struct run_ctx {
	struct slot *sl;
	const uint8_t *key;
};

static int on_chunk(void *ctx, const struct vv_runner_chunk *c)
{
	struct run_ctx *rc_ = ctx;
	struct vv_daemon *d = rc_->sl->s->d;
	const char *id = rc_->sl->job.id;
	char sid[VV_SEAL_MAX_ID + 1];
	uint8_t *blob = NULL;
	size_t n = 4 + 4 + VV_INTERPRET_STATE_LEN + VV_SEAL_OVERHEAD, off;
	int rc;

	if (c->index > UINT32_MAX)
		return vv_errf(VV_ERR_RANGE, "job %s: too many chunks", id);
	for (unsigned f = 0; f < VV_OUT_NFORMATS; f++)
		n += 4 + (c->sealed[f] ? c->sealed_len[f] : 0);
	if (!(blob = malloc(n)))
		return vv_errf(VV_ERR_NOMEM, "job %s: chunk", id);
	memcpy(blob, PACK_MAGIC, 4);
	put32(blob + 4, VV_INTERPRET_STATE_LEN + VV_SEAL_OVERHEAD);
	if ((rc = part_id(id, 0, sid, sizeof sid)) != 0 ||
	    (rc = vv_seal_chunk(rc_->key, sid, (uint32_t)c->index, c->last, c->state, VV_INTERPRET_STATE_LEN,
				blob + 8)) != 0)
		goto out;
	off = 8 + VV_INTERPRET_STATE_LEN + VV_SEAL_OVERHEAD;
	for (unsigned f = 0; f < VV_OUT_NFORMATS; f++) {
		size_t l = c->sealed[f] ? c->sealed_len[f] : 0;
		put32(blob + off, (uint32_t)l);
		if (l)
			memcpy(blob + off + 4, c->sealed[f], l);
		off += 4 + l;
	}
	rc = vv_store_chunk_put(d->store, id, (uint32_t)c->index, c->last, blob, off);
	/* Stopping: the chunk that was under way is stored, so the job stops
	 * here and resumes after it (the last chunk lets DONE through). */
	if (rc == 0 && !c->last && atomic_load(&rc_->sl->drain)) {
		vv_sd_event(VV_LOG_INFO, "job_paused", id, "job %s: stopping after chunk %llu", id,
			    (unsigned long long)c->index);
		atomic_store(&rc_->sl->cancel, CANCEL_STOP);
		rc = vv_errf(VV_ERR_CANCELLED, "job %s: stopping", id);
	}
out:
	free(blob);
	return rc;
}

/* The monitor opened the submission's header with the appliance key and
 * hands the data keys to this worker: the job's decryption begins. */
static void on_start(void *ctx, pid_t pid)
{
	struct run_ctx *r = ctx;

	(void)pid;
	(void)job_event(r->sl->s->d, &r->sl->job, "job.decrypted");
}

static void on_progress(void *ctx, uint64_t done, uint64_t total)
{
	struct run_ctx *r = ctx;
	double now = vv_seconds();

	/* Each progress row is an fsync'd commit: about one a second. */
	if (now - r->sl->last_progress < 1.0 && done < total)
		return;
	r->sl->last_progress = now;
	if (vv_store_job_progress(r->sl->s->d->store, r->sl->job.id, done, total) != 0)
		vv_log(VV_LOG_DEBUG, "job %s: progress: %s", r->sl->job.id, vv_err_detail());
}

/* A job that could not be set up or finished: recorded as failed with the
 * reason, unless it was deleted or cancelled meanwhile. */
static void job_setup_failed(struct vv_daemon *d, struct slot *sl, const vv_store_job *j, int rc)
{
	if (rc == VV_ERR_NOTFOUND || atomic_load(&sl->cancel) == CANCEL_USER)
		return; /* deleted or cancelled meanwhile */
	vv_log_err(rc, "job %s", j->id);
	{
		char msg[VV_STORE_MSG_MAX + 1];
		snprintf(msg, sizeof msg, "%s: %s", vv_strerror(rc), vv_err_detail());
		if (WITH_RECORD(d, j, "job.failed", vv_net_err_code(rc), vv_store_job_fail(d->store, j->id, rc, msg)) != 0)
			vv_log(VV_LOG_WARN, "job %s: recording the failure: %s", j->id, vv_err_detail());
		drop_spool(d, j->id);
	}
}

static void run_slot(struct slot *sl)
{
	struct vv_daemon *d = sl->s->d;
	const vv_store_job *j = &sl->job;
	struct vv_runner_job rj = {0};
	struct vv_runner_result res;
	struct run_ctx ctx = {sl, NULL};
	uint8_t *key = NULL;
	vv_sbuf state;
	char spool[4096];
	bool failed = false;
	int rc;

	vv_sbuf_init(&state, 0);
	if (j->result_complete) {
		if ((rc = WITH_RECORD(d, j, "job.interpreted", NULL, vv_store_job_finish(d->store, j->id))) == 0)
			drop_spool(d, j->id);
		goto out;
	}
	/* No work on a job without its record. */
	if ((rc = job_event(d, j, j->chunks_done > 0 || j->attempts > 1 ? "job.resumed" : "job.started")) != 0) {
		failed = true;
		goto out;
	}
	if (!(key = vv_secret_alloc(VV_KEY_LEN))) {
		rc = vv_errf(VV_ERR_NOMEM, "job %s", j->id);
		failed = true;
		goto out;
	}
	if ((rc = vv_store_sample_key(d->store, d->master, j->sample, false, key)) != 0 ||
	    (rc = vv_store_job_spool_path(d->store, j->id, spool, sizeof spool)) != 0) {
		failed = true;
		goto out;
	}
	if (j->chunks_done > 0) {
		bool last;
		if ((rc = open_part(d, j->id, key, j->chunks_done - 1, 0, &state, &last)) != 0) {
			failed = true;
			goto out;
		}
	}
	ctx.key = key;
	rj.worker = d->self_exe;
	rj.job_id = j->id;
	rj.spool = spool;
	rj.sk = d->c4gh;
	rj.result_key = key;
	rj.model_dir = d->cf.model_dir;
	rj.reference = d->cf.reference;
	rj.policy = d->cf.evidence;
	rj.scores = d->cf.scores;
	rj.formats = VV_OUT_ALL;
	rj.chunk = d->cf.chunk_variants;
	rj.max_records = d->cf.max_records;
	rj.max_text_bytes = d->cf.max_text_bytes;
	rj.resume_chunk = j->chunks_done;
	rj.resume_state = j->chunks_done ? state.data : NULL;
	rj.resume_state_len = j->chunks_done ? state.len : 0;
	rj.plaintext_sha256 = j->verified ? j->plaintext_sha256 : NULL;
	rj.threads = (int)d->cf.threads;
	/* A Crypt4GH plaintext is shorter than its ciphertext: the upload
	 * limit bounds it, and so what the worker must lock (memneed.c). */
	rj.max_input = d->cf.max_upload;
	rj.allow_unlocked = vv_daemon_allow_unlocked();
	rj.time_limit = d->cf.job_time_limit;
	rj.cpu_seconds = d->cf.worker_cpu_seconds;
	rj.memory_max = d->cf.worker_memory_max;
	rj.cancel = &sl->cancel;
	rj.on_chunk = on_chunk;
	rj.on_progress = on_progress;
	rj.on_start = on_start;
	rj.ctx = &ctx;
	vv_sd_event(VV_LOG_INFO, "job_running", j->id, "job %s: running (attempt %u, from chunk %u)", j->id,
		    j->attempts, j->chunks_done);
	rc = vv_daemon_run_job(&rj, &res);
	if (rc == 0) {
		if ((rc = WITH_RECORD(d, j, "job.interpreted", NULL, vv_store_job_finish(d->store, j->id))) != 0) {
			failed = true;
			goto out;
		}
		drop_spool(d, j->id);
		vv_sd_event(VV_LOG_INFO, "job_done", j->id,
			    "job %s: done (%llu variants, %llu chunks this run; sandbox: seccomp%s)%s", j->id,
			    (unsigned long long)res.sum.variants, (unsigned long long)res.chunks,
			    res.landlock ? " and landlock" : ", no landlock on this kernel",
			    res.mem_locked ? "" : "; worker memory NOT locked (--allow-unlocked-memory)");
		goto out;
	}
	if (atomic_load(&sl->cancel) == CANCEL_STOP) {
		/* Shutting down: back to the queue, to resume after a restart. */
		if ((rc = WITH_RECORD(d, j, "job.requeued", NULL, vv_store_job_requeue(d->store, j->id))) != 0 &&
		    rc != VV_ERR_NOTFOUND && rc != VV_ERR_STATE)
			vv_log_err(rc, "job %s: requeue", j->id);
		vv_sd_event(VV_LOG_INFO, "job_requeued", j->id, "job %s: handed back to the queue", j->id);
		goto out;
	}
	if (atomic_load(&sl->cancel) == CANCEL_USER) {
		vv_log(VV_LOG_INFO, "job %s: worker stopped", j->id);
		drop_spool(d, j->id);
		goto out;
	}
	vv_sd_event(VV_LOG_WARN, "job_failed", j->id, "job %s: failed: %s", j->id, res.reason);
	/* The record keeps the error's stable name only: the worker's detail
	 * stays in the job row and the log. */
	if ((rc = WITH_RECORD(d, j, "job.failed", vv_net_err_code(res.code),
			      vv_store_job_fail(d->store, j->id, res.code, res.reason))) != 0 &&
	    rc != VV_ERR_NOTFOUND && rc != VV_ERR_STATE)
		vv_log_err(rc, "job %s: recording the failure", j->id);
	drop_spool(d, j->id);
out:
	if (failed)
		job_setup_failed(d, sl, j, rc);
	vv_sbuf_done(&state);
	vv_secret_free(key);
}

static void *slot_main(void *p)
{
	struct slot *sl = p;
	vv_sched *s = sl->s;

	run_slot(sl);
	pthread_mutex_lock(&s->lock);
	sl->active = false;
	s->running--;
	s->woken = true;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/* ---------------------------------------------------------- dispatcher */

static void *sched_main(void *p)
{
	vv_sched *s = p;
	struct vv_daemon *d = s->d;

	pthread_mutex_lock(&s->lock);
	while (!s->stop) {
		if (s->running < d->cf.workers) {
			vv_store_job job;
			int rc;

			pthread_mutex_unlock(&s->lock);
			rc = vv_store_job_claim(d->store, &job);
			pthread_mutex_lock(&s->lock);
			if (rc == 1) {
				struct slot *sl = NULL;
				for (unsigned i = 0; i < d->cf.workers && !sl; i++)
					if (!s->slots[i].active && !s->slots[i].joinable)
						sl = &s->slots[i];
				/* A finished slot's thread is joined before reuse. */
				for (unsigned i = 0; i < d->cf.workers && !sl; i++)
					if (!s->slots[i].active) {
						sl = &s->slots[i];
						pthread_mutex_unlock(&s->lock);
						pthread_join(sl->thread, NULL);
						pthread_mutex_lock(&s->lock);
						sl->joinable = false;
					}
				sl->job = job;
				sl->active = true;
				sl->last_progress = 0;
				atomic_store(&sl->cancel, CANCEL_NONE);
				atomic_store(&sl->drain, false);
				if (pthread_create(&sl->thread, NULL, slot_main, sl) != 0) {
					sl->active = false;
					if (vv_store_job_requeue(d->store, job.id) != 0)
						vv_log(VV_LOG_WARN, "job %s: requeue: %s", job.id, vv_err_detail());
					vv_log(VV_LOG_WARN, "job %s: no thread; left queued", job.id);
				} else {
					sl->joinable = true;
					s->running++;
				}
				continue;
			}
			if (rc < 0)
				vv_log_err(rc, "claiming a job");
		}
		if (!s->woken) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 2;
			pthread_cond_timedwait(&s->cond, &s->lock, &ts);
		}
		s->woken = false;
	}
	/* Stop: every running job finishes the chunk under way (its
	 * on_chunk then stops it), for at most stop_grace seconds; a worker
	 * still busy after that is killed.  Either way the job goes back to
	 * the queue and a restart resumes it after its last stored chunk. */
	for (unsigned i = 0; i < d->cf.workers; i++)
		if (s->slots[i].active)
			atomic_store(&s->slots[i].drain, true);
	if (s->running > 0) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += d->cf.stop_grace;
		while (s->running > 0)
			if (pthread_cond_timedwait(&s->cond, &s->lock, &until) != 0)
				break;
	}
	for (unsigned i = 0; i < d->cf.workers; i++)
		if (s->slots[i].active) {
			vv_sd_event(VV_LOG_WARN, "job_killed", s->slots[i].job.id,
				    "job %s: its chunk did not end within stop_grace (%u s); worker stopped",
				    s->slots[i].job.id, d->cf.stop_grace);
			atomic_store(&s->slots[i].cancel, CANCEL_STOP);
		}
	pthread_mutex_unlock(&s->lock);
	for (unsigned i = 0; i < d->cf.workers; i++)
		if (s->slots[i].joinable)
			pthread_join(s->slots[i].thread, NULL);
	return NULL;
}

int vv_sched_start(struct vv_daemon *d, vv_sched **out)
{
	vv_sched *s = calloc(1, sizeof *s);

	*out = NULL;
	if (!s || !(s->slots = calloc(d->cf.workers, sizeof *s->slots))) {
		free(s);
		return vv_errf(VV_ERR_NOMEM, "scheduler");
	}
	s->d = d;
	for (unsigned i = 0; i < d->cf.workers; i++)
		s->slots[i].s = s;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	if (pthread_create(&s->thread, NULL, sched_main, s) != 0) {
		pthread_cond_destroy(&s->cond);
		pthread_mutex_destroy(&s->lock);
		free(s->slots);
		free(s);
		return vv_errf(VV_ERR_INTERNAL, "scheduler thread");
	}
	*out = s;
	return 0;
}

void vv_sched_wake(vv_sched *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	s->woken = true;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

void vv_sched_kill_job(vv_sched *s, const char *job_id)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	for (unsigned i = 0; i < s->d->cf.workers; i++)
		if (s->slots[i].active && !strcmp(s->slots[i].job.id, job_id))
			atomic_store(&s->slots[i].cancel, CANCEL_USER);
	pthread_mutex_unlock(&s->lock);
}

unsigned vv_sched_running(vv_sched *s)
{
	unsigned n;

	pthread_mutex_lock(&s->lock);
	n = s->running;
	pthread_mutex_unlock(&s->lock);
	return n;
}

void vv_sched_stop(vv_sched *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	s->stop = true;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->thread, NULL);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s->slots);
	free(s);
}
