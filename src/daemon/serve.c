/* varvaultd's monitor: the accept loop, one bounded thread per TLS
 * connection with its own deadlines, the access check and the verbs. */
#include "serve.h"
#include "caps.h"
#include "memneed.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sdglue.h"
#include "daudit.h"
#include "varvault/interpret.h"
#include "varvault/vcf.h"

/* Largest request frame (a JSON object of a few fields). */
#define REQ_MAX (64u << 10)
/* Bytes of an upload kept to check its Crypt4GH header before the commit. */
#define HDR_MAX (64u << 10)
/* Most jobs one list answer carries. */
#define LIST_MAX 1000

/* One request being served. */
struct rq {
	struct vv_daemon *d;
	vv_net_conn *c;
	const vv_net_peer *peer;
	const vv_net_request *req;
	const char *id;
	const char *role;
	char who[VV_STORE_SUBMITTER_MAX + 1]; /* identity jobs are recorded under */
	int tmo;                              /* per-call deadline, ms */
	/* The request's audit record: written with the action's transaction
	 * (submit, cancel, delete), else by the first answer (send_ok: a read
	 * is recorded before its data leaves), else after the verb. */
	struct vv_daudit_rec ar;
	bool audited;                         /* ar is written (or failed for good) */
	bool defer;                           /* send_ok does not write ar (submit's "continue") */
	char job[VV_STORE_ID_LEN + 1];        /* the record's object, owned here */
	char sample[VV_STORE_PSEUDONYM_MAX + 1];
	char ct[65];
};

/* ------------------------------------------------------------- responses */

static int send_err(struct rq *x, int err);

/* Writes the request's record on its own, once. */
static int audit_request(struct rq *x)
{
	int rc;

	if (x->audited)
		return 0;
	x->audited = true;
	if ((rc = vv_daudit_write(&x->ar)) != 0)
		vv_log_err(rc, "request %s from %s", x->ar.r.action, x->who);
	return rc;
}

static int send_ok(struct rq *x, json_object *data)
{
	char *out = NULL;
	size_t len;
	int rc;

	/* No answer leaves without its record: if the audit write fails, the
	 * request fails. */
	if (!x->audited && !x->defer && (rc = audit_request(x)) != 0) {
		json_object_put(data);
		x->ar.r.outcome = VV_AUDIT_FAILED;
		return send_err(x, rc);
	}
	rc = vv_net_response_ok(x->id, data, &out, &len);
	json_object_put(data);
	if (rc == 0)
		rc = vv_net_frame_write(x->c, out, len, x->tmo);
	free(out);
	return rc;
}

static int send_err_on(vv_net_conn *c, const char *id, int err, const char *msg, int tmo)
{
	char *out = NULL;
	size_t len;
	int rc;

	if ((rc = vv_net_response_error(id, err, msg && *msg ? msg : NULL, &out, &len)) == 0)
		rc = vv_net_frame_write(c, out, len, tmo);
	free(out);
	return rc;
}

/* Answers the current request with err and the thread's detail. */
static int send_err(struct rq *x, int err)
{
	char msg[512];

	if (!x->audited && x->ar.r.outcome == VV_AUDIT_OK) {
		x->ar.r.outcome = err == VV_ERR_DENIED ? VV_AUDIT_DENIED : VV_AUDIT_FAILED;
		x->ar.r.reason = vv_net_err_code(err);
	}

	snprintf(msg, sizeof msg, "%s", vv_err_detail());
	return send_err_on(x->c, x->id, err, msg, x->tmo);
}

static json_object *job_json(const vv_store_job *j)
{
	json_object *o = json_object_new_object(), *p = json_object_new_object();
	char hex[65];

	json_object_object_add(o, "job", json_object_new_string(j->id));
	json_object_object_add(o, "sample", json_object_new_string(j->sample));
	json_object_object_add(o, "state", json_object_new_string(vv_store_state_name(j->state)));
	json_object_object_add(o, "format", json_object_new_string(j->format));
	json_object_object_add(o, "created_at", json_object_new_int64(j->created_at));
	json_object_object_add(o, "updated_at", json_object_new_int64(j->updated_at));
	json_object_object_add(o, "bytes", json_object_new_int64((int64_t)j->ct_bytes));
	json_object_object_add(o, "verified", json_object_new_boolean(j->verified));
	if (j->verified) {
		vv_hex(j->plaintext_sha256, 32, hex);
		json_object_object_add(o, "plaintext_sha256", json_object_new_string(hex));
	}
	json_object_object_add(p, "done", json_object_new_int64((int64_t)j->progress_done));
	json_object_object_add(p, "total", json_object_new_int64((int64_t)j->progress_total));
	json_object_object_add(o, "progress", p);
	json_object_object_add(o, "chunks", json_object_new_int64(j->chunks_done));
	json_object_object_add(o, "attempts", json_object_new_int64(j->attempts));
	if (j->state == VV_STORE_FAILED) {
		json_object *e = json_object_new_object();
		json_object_object_add(e, "code", json_object_new_string(vv_net_err_code(j->error_code)));
		json_object_object_add(e, "message", json_object_new_string(j->error_msg));
		json_object_object_add(o, "error", e);
	}
	return o;
}

/* ----------------------------------------------------------------- verbs */

/* Operators (the role named admin) see every job; others their own. */
static bool sees_all(const struct rq *x)
{
	return !strcmp(x->role, "admin");
}

/* Reads the job named by the request's "job" and checks that the caller
 * may see it (else VV_ERR_NOTFOUND, as for a job that does not exist). */
static int get_job(struct rq *x, vv_store_job *j)
{
	const char *id;
	int rc;

	if ((rc = vv_net_req_str(x->req, "job", true, VV_STORE_ID_LEN, &id)) < 0)
		return rc;
	if (!vv_store_id_valid(id))
		return vv_errf(VV_ERR_PROTO, "job: 32 lowercase hex digits expected");
	snprintf(x->job, sizeof x->job, "%s", id);
	x->ar.r.job = x->job;
	if ((rc = vv_store_job_get(x->d->store, id, j)) != 0 || (!sees_all(x) && strcmp(j->submitter, x->who)))
		return vv_errf(VV_ERR_NOTFOUND, "job %s: no such job", id);
	snprintf(x->sample, sizeof x->sample, "%s", j->sample);
	x->ar.r.sample = x->sample;
	vv_hex(j->ct_sha256, 32, x->ct);
	x->ar.r.ciphertext_sha256 = x->ct;
	return 0;
}

static int verb_hello(struct rq *x)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "server", json_object_new_string("varvaultd"));
	json_object_object_add(o, "version", json_object_new_string(VV_VERSION));
	json_object_object_add(o, "proto", json_object_new_int(VV_NET_PROTO_VERSION));
	json_object_object_add(o, "role", json_object_new_string(x->role));
	json_object_object_add(o, "identity", json_object_new_string(x->who));
	return send_ok(x, o);
}

static int verb_health(struct rq *x)
{
	json_object *o = json_object_new_object();
	size_t queued = 0, running = 0;
	unsigned nconn;
	int rc;

	if ((rc = vv_store_job_count(x->d->store, VV_STORE_QUEUED, &queued)) != 0 ||
	    (rc = vv_store_job_count(x->d->store, VV_STORE_RUNNING, &running)) != 0) {
		json_object_put(o);
		return send_err(x, rc);
	}
	pthread_mutex_lock(&x->d->lock);
	nconn = x->d->nconn;
	pthread_mutex_unlock(&x->d->lock);
	json_object_object_add(o, "status", json_object_new_string("ok"));
	json_object_object_add(o, "version", json_object_new_string(VV_VERSION));
	json_object_object_add(o, "model", json_object_new_string(x->d->cf.model_name));
	/* What start-up checked: nothing heavy runs per call. */
	json_object_object_add(o, "model_sha256", json_object_new_string(x->d->model_sha256));
	json_object_object_add(o, "selftest", json_object_new_string("passed"));
	{
		const struct vv_model_kernel *k = &x->d->kernel;
		json_object *ko = json_object_new_object();
		json_object_object_add(ko, "cpu", json_object_new_string(k->cpu_text));
		json_object_object_add(ko, "openblas_core", json_object_new_string(k->in_use));
		json_object_object_add(ko, "cpu_best_core", json_object_new_string(k->best));
		json_object_object_add(ko, "chosen_by", json_object_new_string(vv_model_kernel_source_name(k->source)));
		json_object_object_add(ko, "weaker_than_cpu", json_object_new_boolean(k->weaker));
		json_object_object_add(o, "kernel", ko);
	}
	json_object_object_add(o, "queued", json_object_new_int64((int64_t)queued));
	json_object_object_add(o, "running", json_object_new_int64((int64_t)running));
	json_object_object_add(o, "workers", json_object_new_int64(x->d->cf.workers));
	json_object_object_add(o, "connections", json_object_new_int64(nconn));
	/* false only under --allow-unlocked-memory (development): say so */
	json_object_object_add(o, "memory_locked", json_object_new_boolean(x->d->mem_locked));
	json_object_object_add(o, "unlocked_memory_allowed", json_object_new_boolean(vv_daemon_allow_unlocked()));
	return send_ok(x, o);
}

static int hexval(int c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Reads the submit parameters.  Returns 0 or an error to answer. */
static int submit_params(struct rq *x, const char **sample, const char **format, uint8_t sha[32], bool *has_sha)
{
	enum vv_out_format f;
	const char *s = NULL;
	int rc;

	*format = "vcf";
	*has_sha = false;
	if ((rc = vv_net_req_str(x->req, "sample", true, VV_STORE_PSEUDONYM_MAX, sample)) < 0 ||
	    (rc = vv_net_req_str(x->req, "format", false, VV_STORE_FORMAT_MAX, format)) < 0 ||
	    (rc = vv_net_req_str(x->req, "plaintext_sha256", false, 64, &s)) < 0)
		return rc;
	if (!vv_store_pseudonym_valid(*sample))
		return vv_errf(VV_ERR_PROTO, "sample: 1 to %d printable characters without space, '/' or '\\'",
			       VV_STORE_PSEUDONYM_MAX);
	if (vv_out_format_parse(*format, &f) != 0)
		return vv_errf(VV_ERR_PROTO, "format: vcf, json or tsv");
	if (s) {
		if (strlen(s) != 64)
			return vv_errf(VV_ERR_PROTO, "plaintext_sha256: 64 hex digits expected");
		for (size_t i = 0; i < 32; i++) {
			int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
			if (hi < 0 || lo < 0)
				return vv_errf(VV_ERR_PROTO, "plaintext_sha256: 64 lowercase hex digits expected");
			sha[i] = (uint8_t)(hi << 4 | lo);
		}
		*has_sha = true;
	}
	return 0;
}

/*
 * submit: {"sample","format"?,"plaintext_sha256"?} -> {"continue":true},
 * then binary frames of the Crypt4GH file ended by an empty frame ->
 * {"job":ID,"verified":bool} once the upload and its job row are durable.
 * Returns < 0 when the connection must close (the stream is out of step).
 */
static int verb_submit(struct rq *x)
{
	struct vv_daemon *d = x->d;
	const char *sample, *format;
	uint8_t sha[32], *key = NULL, *frame = NULL, *hdr = NULL;
	vv_store_upload *u = NULL;
	vv_c4gh_header *h = NULL;
	char jid[VV_STORE_ID_LEN + 1];
	size_t n, hlen = 0;
	bool has_sha, must_close = false;
	int rc;

	x->defer = true;
	if ((rc = submit_params(x, &sample, &format, sha, &has_sha)) != 0)
		return send_err(x, rc);
	snprintf(x->sample, sizeof x->sample, "%s", sample);
	x->ar.r.sample = x->sample;
	if (!(key = vv_secret_alloc(VV_KEY_LEN)) || !(frame = malloc(VV_NET_FRAME_MAX)) || !(hdr = malloc(HDR_MAX))) {
		rc = send_err(x, vv_errf(VV_ERR_NOMEM, "submit"));
		goto out;
	}
	/* The sample gets its result key now (the first submission makes it). */
	rc = vv_store_sample_key(d->store, d->master, sample, true, key);
	vv_secret_free(key);
	key = NULL;
	if (rc != 0 || (rc = vv_store_upload_begin(d->store, d->cf.max_upload, &u)) != 0) {
		rc = send_err(x, rc);
		goto out;
	}
	{
		json_object *o = json_object_new_object();
		json_object_object_add(o, "continue", json_object_new_boolean(1));
		if ((rc = send_ok(x, o)) != 0) {
			must_close = true;
			goto out;
		}
	}
	for (;;) {
		if ((rc = vv_net_frame_read(x->c, frame, VV_NET_FRAME_MAX, &n, x->tmo)) != 0) {
			vv_log(VV_LOG_INFO, "submit from %s: upload cut off: %s", x->who, vv_strerror(rc));
			must_close = true;
			goto out;
		}
		if (n == 0)
			break;
		if (hlen < HDR_MAX) {
			size_t k = n < HDR_MAX - hlen ? n : HDR_MAX - hlen;
			memcpy(hdr + hlen, frame, k);
			hlen += k;
		}
		if ((rc = vv_store_upload_write(u, frame, n)) != 0) {
			/* Past the limit or the disk failed: the client is still
			 * sending, so answer and close. */
			(void)send_err(x, rc);
			must_close = true;
			goto out;
		}
	}
	/* Only files this appliance can open are accepted: the X25519 step
	 * here, the data segments in the worker. */
	if ((rc = vv_c4gh_header_parse(hdr, hlen, d->c4gh, NULL, &h)) != 0) {
		(void)vv_err_prefix(rc, "upload is not a Crypt4GH file encrypted to this appliance: ");
		vv_store_upload_abort(u);
		u = NULL;
		rc = send_err(x, rc);
		goto out;
	}
	vv_c4gh_header_free(h);
	h = NULL;
	{
		vv_store_submit sub = {sample, x->who, format, has_sha ? sha : NULL};
		/* The record goes into the job row's transaction: no job
		 * without its record, no record of a job that is not there. */
		vv_daudit_arm(&x->ar);
		rc = vv_store_upload_commit(u, &sub, jid);
		x->audited = vv_daudit_disarm(&x->ar);
		u = NULL;
	}
	if (rc != 0) {
		rc = send_err(x, rc);
		goto out;
	}
	vv_sd_event(VV_LOG_INFO, "job_accepted", jid, "job %s accepted from %s (%s)", jid, x->who,
		    has_sha ? "verified" : "unverified");
	vv_sched_wake(d->sched);
	{
		json_object *o = json_object_new_object();
		json_object_object_add(o, "job", json_object_new_string(jid));
		json_object_object_add(o, "verified", json_object_new_boolean(has_sha));
		x->defer = false;
		rc = send_ok(x, o);
	}
out:
	vv_store_upload_abort(u);
	vv_c4gh_header_free(h);
	vv_secret_free(key);
	if (hdr)
		vv_wipe(hdr, HDR_MAX);
	free(hdr);
	free(frame);
	if (must_close)
		return rc < 0 ? rc : VV_ERR_CLOSED;
	return rc;
}

static int verb_status(struct rq *x)
{
	vv_store_job j;
	json_object *o;
	int rc;

	if ((rc = get_job(x, &j)) != 0)
		return send_err(x, rc);
	o = json_object_new_object();
	json_object_object_add(o, "job", job_json(&j));
	return send_ok(x, o);
}

static int verb_list(struct rq *x)
{
	vv_store_job *v = NULL;
	json_object *o, *a;
	size_t n = 0;
	int rc;

	if ((rc = vv_store_job_list(x->d->store, sees_all(x) ? NULL : x->who, LIST_MAX, &v, &n)) != 0)
		return send_err(x, rc);
	o = json_object_new_object();
	a = json_object_new_array();
	for (size_t i = 0; i < n; i++)
		json_object_array_add(a, job_json(&v[i]));
	json_object_object_add(o, "jobs", a);
	free(v);
	return send_ok(x, o);
}

static int verb_cancel(struct rq *x)
{
	vv_store_job j;
	json_object *o;
	int rc;

	if ((rc = get_job(x, &j)) != 0)
		return send_err(x, rc);
	vv_daudit_arm(&x->ar);
	rc = vv_store_job_cancel(x->d->store, j.id);
	x->audited = vv_daudit_disarm(&x->ar);
	if (rc != 0)
		return send_err(x, rc);
	if (j.state == VV_STORE_QUEUED)
		vv_sched_job_ended(x->d, j.id);
	else
		vv_sched_kill_job(x->d->sched, j.id);
	vv_sd_event(VV_LOG_INFO, "job_cancelled", j.id, "job %s cancelled by %s", j.id, x->who);
	o = json_object_new_object();
	json_object_object_add(o, "job", json_object_new_string(j.id));
	json_object_object_add(o, "state", json_object_new_string("cancelled"));
	return send_ok(x, o);
}

/* delete: {"sample"} -> {"jobs_deleted":N}: the sample's wrapped key, jobs,
 * results and spool files go (crypto-shredding). */
static int verb_delete(struct rq *x)
{
	vv_store_job *v = NULL;
	const char *sample;
	json_object *o;
	size_t n = 0, deleted = 0;
	int rc;

	if ((rc = vv_net_req_str(x->req, "sample", true, VV_STORE_PSEUDONYM_MAX, &sample)) < 0)
		return send_err(x, rc);
	if (!vv_store_pseudonym_valid(sample))
		return send_err(x, vv_errf(VV_ERR_PROTO, "sample: not a valid pseudonym"));
	snprintf(x->sample, sizeof x->sample, "%s", sample);
	x->ar.r.sample = x->sample;
	if ((rc = vv_store_job_list(x->d->store, NULL, 0, &v, &n)) != 0) {
		free(v);
		return send_err(x, rc);
	}
	/* The record shares the deletion's transaction; the sample's earlier
	 * records stay (the audit is never pruned). */
	vv_daudit_arm(&x->ar);
	rc = vv_store_delete_sample(x->d->store, sample, &deleted);
	x->audited = vv_daudit_disarm(&x->ar);
	if (rc != 0) {
		free(v);
		return send_err(x, rc);
	}
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i].sample, sample) && v[i].state == VV_STORE_RUNNING)
			vv_sched_kill_job(x->d->sched, v[i].id);
	free(v);
	vv_log(VV_LOG_INFO, "a sample and its %zu job(s) deleted by %s", deleted, x->who);
	o = json_object_new_object();
	json_object_object_add(o, "jobs_deleted", json_object_new_int64((int64_t)deleted));
	return send_ok(x, o);
}

/* Implemented with the scheduler (sched.c), which knows how chunks are
 * packed: opens chunk idx of job's result in fmt into out. */
int vv_sched_open_chunk(struct vv_daemon *d, const vv_store_job *j, const uint8_t *key, uint32_t idx,
			enum vv_out_format fmt, vv_sbuf *out, bool *last) VV_MUST_CHECK;

/* result: {"job","format"?} -> {"job","format"}, then the result's bytes as
 * binary frames ended by an empty frame.  The monitor opens each sealed
 * chunk with the sample's key in secure memory and wipes it once sent. */
static int verb_result(struct rq *x)
{
	struct vv_daemon *d = x->d;
	const char *fname = NULL;
	enum vv_out_format fmt;
	vv_store_job j;
	uint8_t *key = NULL;
	vv_sbuf plain;
	bool last = false;
	uint32_t idx = 0;
	int rc;

	vv_sbuf_init(&plain, 0);
	if ((rc = get_job(x, &j)) != 0 ||
	    (rc = vv_net_req_str(x->req, "format", false, VV_STORE_FORMAT_MAX, &fname)) < 0)
		return send_err(x, rc);
	if (vv_out_format_parse(fname ? fname : j.format, &fmt) != 0)
		return send_err(x, vv_errf(VV_ERR_PROTO, "format: vcf, json or tsv"));
	if (j.state != VV_STORE_DONE)
		return send_err(x, vv_errf(VV_ERR_STATE, "job %s is %s, not done", j.id, vv_store_state_name(j.state)));
	if (!(key = vv_secret_alloc(VV_KEY_LEN)))
		return send_err(x, vv_errf(VV_ERR_NOMEM, "result"));
	if ((rc = vv_store_sample_key(d->store, d->master, j.sample, false, key)) != 0 ||
	    (rc = vv_sched_open_chunk(d, &j, key, 0, fmt, &plain, &last)) != 0) {
		rc = send_err(x, rc);
		goto out;
	}
	{
		json_object *o = json_object_new_object();
		json_object_object_add(o, "job", json_object_new_string(j.id));
		json_object_object_add(o, "format", json_object_new_string(fname ? fname : j.format));
		if ((rc = send_ok(x, o)) != 0)
			goto out;
	}
	for (;;) {
		for (size_t off = 0; off < plain.len;) {
			size_t k = plain.len - off < VV_NET_FRAME_MAX ? plain.len - off : VV_NET_FRAME_MAX;
			if ((rc = vv_net_frame_write(x->c, plain.data + off, k, x->tmo)) != 0)
				goto out;
			off += k;
		}
		vv_sbuf_wipe(&plain);
		if (last)
			break;
		if ((rc = vv_sched_open_chunk(d, &j, key, ++idx, fmt, &plain, &last)) != 0) {
			/* Mid-stream: no empty frame, so the client sees a cut
			 * stream, never a short result. */
			vv_log_err(rc, "job %s: result chunk %u", j.id, idx);
			rc = VV_ERR_CLOSED;
			goto out;
		}
	}
	rc = vv_net_frame_write(x->c, "", 0, x->tmo);
	if (rc == 0)
		vv_sd_event(VV_LOG_INFO, "result_read", j.id, "job %s: result read by %s", j.id, x->who);
out:
	vv_sbuf_done(&plain);
	vv_secret_free(key);
	return rc;
}

/* ------------------------------------------------------------ audit verbs */

/* The request's parameters as a JSON object (NULL when none). */
static json_object *req_params(struct rq *x)
{
	return vv_net_request_json(x->req);
}

/* audit.query: filters since, until, actor, sample, action, outcome;
 * paging after, limit -> {"records":[...],"next":seq|null}. */
static int verb_audit_query(struct rq *x)
{
	json_object *o = NULL;
	int rc;

	if ((rc = vv_daudit_query(x->d, req_params(x), &o)) != 0)
		return send_err(x, rc);
	return send_ok(x, o);
}

/* Reads an optional non-negative integer parameter. */
static int req_uint(struct rq *x, const char *k, bool required, int64_t *out)
{
	json_object *p = req_params(x), *v;

	if (!p || !json_object_object_get_ex(p, k, &v) || json_object_is_type(v, json_type_null))
		return required ? vv_errf(VV_ERR_PROTO, "%s: required", k) : 0;
	if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0)
		return vv_errf(VV_ERR_PROTO, "%s: a non-negative integer", k);
	*out = json_object_get_int64(v);
	return 0;
}

/* audit.checkpoint: {"from"?: size the client holds} -> the latest stored
 * checkpoint and a consistency proof from that size. */
static int verb_audit_checkpoint(struct rq *x)
{
	json_object *o = NULL;
	int64_t from = -1;
	int rc;

	if ((rc = req_uint(x, "from", false, &from)) != 0 || (rc = vv_daudit_checkpoint(x->d, from, &o)) != 0)
		return send_err(x, rc);
	return send_ok(x, o);
}

/* audit.prove: {"seq"} -> the leaf and its inclusion proof against a
 * checkpoint that covers it. */
static int verb_audit_prove(struct rq *x)
{
	json_object *o = NULL;
	int64_t seq = 0;
	int rc;

	if ((rc = req_uint(x, "seq", true, &seq)) != 0 || (rc = vv_daudit_prove(x->d, (uint64_t)seq, &o)) != 0)
		return send_err(x, rc);
	return send_ok(x, o);
}

struct export_out {
	struct rq *x;
	json_object **head;
	bool answered;
};

static int export_emit(void *ctx, const char *p, size_t n)
{
	struct export_out *e = ctx;
	int rc;

	if (!p) {
		json_object *h = *e->head;
		*e->head = NULL;
		e->answered = true;
		return send_ok(e->x, h);
	}
	for (size_t off = 0; off < n;) {
		size_t k = n - off < VV_NET_FRAME_MAX ? n - off : VV_NET_FRAME_MAX;
		if ((rc = vv_net_frame_write(e->x->c, p + off, k, e->x->tmo)) != 0)
			return rc;
		off += k;
	}
	return 0;
}

/* audit.export -> {"checkpoint","size","key"}, then the leaves covered by
 * that checkpoint, one per line, as binary frames ended by an empty one.
 * The client formats them (CSV, JSON lines) and checks them against the
 * checkpoint: the leaves are exactly the hashed bytes. */
static int verb_audit_export(struct rq *x)
{
	json_object *head = NULL;
	struct export_out e = {x, &head, false};
	int rc;

	rc = vv_daudit_export(x->d, &head, export_emit, &e);
	json_object_put(head);
	if (rc != 0 && !e.answered)
		return send_err(x, rc);
	if (rc != 0) {
		/* Mid-stream: no empty frame, the client sees a cut stream. */
		vv_log_err(rc, "audit export to %s", x->who);
		return VV_ERR_CLOSED;
	}
	return vv_net_frame_write(x->c, "", 0, x->tmo);
}

/* ------------------------------------------------------------ connections */

struct conn_arg {
	struct vv_daemon *d;
	int fd;
	unsigned slot;
};

static void conn_release(struct vv_daemon *d, unsigned slot)
{
	pthread_mutex_lock(&d->lock);
	d->slots[slot] = -1;
	d->nconn--;
	pthread_cond_broadcast(&d->idle);
	pthread_mutex_unlock(&d->lock);
}

static void *conn_main(void *p)
{
	struct conn_arg a = *(struct conn_arg *)p;
	struct vv_daemon *d = a.d;
	vv_net_conn *c = NULL;
	vv_net_request *req = NULL;
	char *buf = NULL, idbuf[VV_NET_ID_MAX + 1];
	size_t len;
	int rc;

	free(p);
	if ((rc = vv_net_accept(d->srv, a.fd, (int)d->cf.handshake_timeout_ms, &c)) != 0) {
		vv_log(VV_LOG_INFO, "connection refused: %s: %s", vv_strerror(rc), vv_err_detail());
		goto out;
	}
	if (!(buf = malloc(REQ_MAX)))
		goto out;
	for (;;) {
		struct rq x = {.d = d, .c = c, .peer = vv_net_conn_peer(c), .tmo = (int)d->cf.request_timeout_ms};
		vv_net_access *acc;

		if (atomic_load(&d->stopping))
			break;
		if ((rc = vv_net_frame_read(c, buf, REQ_MAX, &len, x.tmo)) != 0) {
			if (rc == VV_ERR_FRAME_SIZE) {
				vv_log(VV_LOG_INFO, "connection closed: request frame over %u bytes", REQ_MAX);
				(void)send_err_on(c, "", rc, "request frame too large", x.tmo);
			} else if (rc != VV_ERR_CLOSED) {
				vv_log(VV_LOG_INFO, "connection closed: %s: %s", vv_strerror(rc), vv_err_detail());
			}
			break;
		}
		if (x.peer->cn[0])
			snprintf(x.who, sizeof x.who, "cn:%s", x.peer->cn);
		else
			snprintf(x.who, sizeof x.who, "sha256:%s", x.peer->sha256);
		vv_daudit_init(&x.ar, d, VV_AUDIT_EV_REQUEST, "invalid_request");
		x.ar.r.actor_subject = x.peer->subject;
		x.ar.r.actor_fingerprint = x.peer->sha256;
		if (x.peer->has_cred) {
			x.ar.r.peer_uid = x.peer->uid;
			x.ar.r.peer_pid = x.peer->pid;
		}
		if ((rc = vv_net_request_parse(buf, len, &req, idbuf)) != 0) {
			char msg[512];
			vv_log(VV_LOG_INFO, "request refused: %s", vv_strerror(rc));
			snprintf(msg, sizeof msg, "%s", vv_err_detail());
			/* A request that does not parse is recorded too. */
			x.ar.r.outcome = VV_AUDIT_FAILED;
			x.ar.r.reason = vv_net_err_code(rc);
			x.ar.r.request_id = idbuf[0] ? idbuf : NULL;
			if (audit_request(&x) != 0 || send_err_on(c, idbuf, rc, msg, x.tmo) != 0)
				break;
			continue;
		}
		x.req = req;
		x.id = vv_net_request_id(req);
		x.ar.r.action = vv_net_verb_name(vv_net_request_verb(req));
		x.ar.r.request_id = x.id;
		pthread_mutex_lock(&d->lock);
		acc = vv_net_access_ref(d->access);
		pthread_mutex_unlock(&d->lock);
		rc = vv_net_access_check(acc, x.peer, vv_net_request_verb(req), &x.role);
		x.ar.r.actor_role = rc == 0 ? x.role : NULL;
		if (rc != 0) {
			vv_log(VV_LOG_INFO, "denied: %s: %s", x.who, vv_err_detail());
			rc = send_err(&x, rc);
		} else {
			switch (vv_net_request_verb(req)) {
			case VV_VERB_HELLO: rc = verb_hello(&x); break;
			case VV_VERB_HEALTH: rc = verb_health(&x); break;
			case VV_VERB_SUBMIT: rc = verb_submit(&x); break;
			case VV_VERB_STATUS: rc = verb_status(&x); break;
			case VV_VERB_LIST: rc = verb_list(&x); break;
			case VV_VERB_RESULT: rc = verb_result(&x); break;
			case VV_VERB_CANCEL: rc = verb_cancel(&x); break;
			case VV_VERB_DELETE: rc = verb_delete(&x); break;
			case VV_VERB_AUDIT_QUERY: rc = verb_audit_query(&x); break;
			case VV_VERB_AUDIT_EXPORT: rc = verb_audit_export(&x); break;
			case VV_VERB_AUDIT_PROVE: rc = verb_audit_prove(&x); break;
			case VV_VERB_AUDIT_CHECKPOINT: rc = verb_audit_checkpoint(&x); break;
			default:
				rc = send_err(&x, vv_errf(VV_ERR_UNSUPPORTED, "verb %s is not served yet",
							  vv_net_verb_name(vv_net_request_verb(req))));
				break;
			}
		}
		/* A request not recorded yet (denied, failed, or cut off) is
		 * recorded now: every request leaves exactly one record. */
		if (!x.audited) {
			if (rc != 0 && x.ar.r.outcome == VV_AUDIT_OK) {
				x.ar.r.outcome = VV_AUDIT_FAILED;
				x.ar.r.reason = vv_net_err_code(rc);
			}
			if (audit_request(&x) != 0 && rc == 0)
				rc = VV_ERR_CLOSED;
		}
		vv_net_access_free(acc);
		vv_net_request_free(req);
		req = NULL;
		if (rc != 0)
			break;
	}
out:
	vv_net_request_free(req);
	free(buf);
	vv_net_close(c);
	conn_release(d, a.slot);
	return NULL;
}

/* Takes a free slot and starts a thread for fd, or refuses it at the cap. */
static void conn_start(struct vv_daemon *d, int fd)
{
	struct conn_arg *a = NULL;
	pthread_attr_t attr;
	pthread_t t;
	unsigned slot = 0;
	bool ok = false;

	pthread_mutex_lock(&d->lock);
	if (d->nconn < d->cf.max_connections) {
		while (d->slots[slot] >= 0)
			slot++;
		d->slots[slot] = fd;
		d->nconn++;
		ok = true;
	}
	pthread_mutex_unlock(&d->lock);
	if (!ok) {
		vv_log(VV_LOG_WARN, "connection refused: %u connections open (max_connections)",
		       d->cf.max_connections);
		close(fd);
		return;
	}
	if (!(a = malloc(sizeof *a)))
		goto out;
	*a = (struct conn_arg){d, fd, slot};
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 512u << 10);
	if (pthread_create(&t, &attr, conn_main, a) != 0) {
		pthread_attr_destroy(&attr);
		goto out;
	}
	pthread_attr_destroy(&attr);
	return;
out:
	free(a);
	close(fd);
	vv_log(VV_LOG_WARN, "connection refused: no thread");
	conn_release(d, slot);
}

/* ------------------------------------------------------------- start, stop */

static int load_master(const char *path, uint8_t *key)
{
	struct stat st;
	ssize_t n;
	int fd, rc = 0;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return vv_errf(VV_ERR_IO, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size != VV_KEY_LEN) {
		rc = vv_errf(VV_ERR_FORMAT, "%s: not a %d-byte key file", path, VV_KEY_LEN);
	} else if ((st.st_mode & 077) != 0) {
		rc = vv_errf(VV_ERR_INVAL, "%s: readable by others (mode %03o); chmod 600 it", path,
			     (unsigned)(st.st_mode & 0777));
	} else if ((n = read(fd, key, VV_KEY_LEN)) != VV_KEY_LEN) {
		rc = vv_errf(VV_ERR_IO, "%s: short read", path);
	}
	close(fd);
	return rc;
}

/* A system event (start, stop, reload) on its own, with a record of each
 * change of model, policy, CRL or keys it brings (daudit_state.c). */
static int audit_system(struct vv_daemon *d, const char *action, int err)
{
	int rc;

	if ((rc = vv_daudit_system(d, action, err)) != 0)
		vv_log_err(rc, "audit: %s", action);
	return rc;
}

static void reload(struct vv_daemon *d)
{
	vv_net_access *a = NULL, *old;
	char hex[65] = "";
	int rc, err = 0;

	if ((rc = vv_net_access_load(d->cf.access, &a)) != 0) {
		vv_log_err(rc, "reload: %s (the old policy stays)", d->cf.access);
		err = rc;
	} else {
		/* The record names the policy in force by its hash. */
		if (vv_dconf_sha256_file(d->cf.access, hex) != 0)
			hex[0] = '\0';
		pthread_mutex_lock(&d->lock);
		old = d->access;
		d->access = a;
		if (hex[0])
			memcpy(d->policy_sha256, hex, sizeof hex);
		pthread_mutex_unlock(&d->lock);
		vv_net_access_free(old);
	}
	if ((rc = vv_net_server_reload(d->srv)) != 0) {
		vv_log_err(rc, "reload: TLS certificates and CRL (the old ones stay)");
		if (!err)
			err = rc;
	} else if ((rc = vv_daudit_files_load(d)) != 0) {
		/* Loaded, but not read back: the record says the reload failed. */
		vv_log_err(rc, "reload: the TLS certificate or CRL, read for the audit log");
		if (!err)
			err = rc;
	}
	(void)audit_system(d, "reload", err);
	vv_sd_event(VV_LOG_INFO, "reload", NULL, "reloaded the access policy and the CRL");
}

/* The write end of the signal pipe (one daemon per process). */
static int sig_pipe[2] = {-1, -1};

static void on_signal(int sig)
{
	int saved = errno;
	unsigned char b = (unsigned char)sig;

	if (sig_pipe[1] >= 0)
		(void)!write(sig_pipe[1], &b, 1);
	errno = saved;
}

/* A score table that the workers would refuse (made for another model,
 * reference or policy) is refused at start-up, not in every job. */
static int scores_check(struct vv_daemon *d, const vv_model *m)
{
	struct vv_score_opts so = {.batch = 1, .threads = 1};
	vv_score_table *t = NULL;
	vv_scorer *sc = NULL;
	vv_ref *ref = NULL;
	int rc;

	if ((rc = vv_ref_open(d->cf.reference, &ref)) != 0 || (rc = vv_scorer_new(m, &so, &sc)) != 0 ||
	    (rc = vv_score_table_open(d->cf.scores, sc, ref, &t)) != 0)
		goto out;
	vv_log(VV_LOG_INFO, "score table %s matches the model, reference and scoring policy", d->cf.scores);
out:
	vv_score_table_free(t);
	vv_scorer_free(sc);
	vv_ref_free(ref);
	return rc;
}

/* Loads the imported model once and runs its self-test: a model that
 * computes non-finite values is refused at start-up rather than failing
 * every job.  Keeps its hash and the OpenBLAS kernel for health. */
static int model_check(struct vv_daemon *d, const struct vv_memimage *img)
{
	struct vv_memneed need;
	vv_model *m = NULL;
	int rc;

	if ((rc = vv_model_load(d->cf.model_dir, &m)) != 0)
		return rc;
	/* The need is known now (--check-config's figure): settle the
	 * memory-lock allowance taken as root to it, before the
	 * self-test runs any thread of ours. */
	if ((rc = vv_daemon_memneed(m, (int)d->cf.threads, 0, d->cf.max_upload, img, &need)) != 0 ||
	    (rc = vv_memlock_settle(need.total)) != 0)
		goto out;
	if ((rc = vv_model_selftest(m, &d->selftest)) != 0) {
		/* Non-finite outputs are the weights' fault, not ours. */
		if (rc == VV_ERR_INTERNAL)
			rc = VV_ERR_MODEL_FORMAT;
		goto out;
	}
	if (d->cf.scores && (rc = scores_check(d, m)) != 0)
		goto out;
	snprintf(d->model_sha256, sizeof d->model_sha256, "%s", vv_model_get_info(m)->sha256);
	vv_model_kernel_get(&d->kernel);
	vv_log(VV_LOG_INFO, "model %s (SHA-256 %s) passed its self-test; OpenBLAS kernel %s (chosen by %s)",
	       d->cf.model_name, d->model_sha256, d->kernel.in_use, vv_model_kernel_source_name(d->kernel.source));
out:
	vv_model_free(m);
	return rc;
}

/* "serving: ..." for STATUS=, from the store and the scheduler. */
static void status_text(struct vv_daemon *d, char *out, size_t cap)
{
	size_t queued = 0;
	unsigned nconn;

	if (vv_store_job_count(d->store, VV_STORE_QUEUED, &queued) != 0) {
		snprintf(out, cap, "serving (queue unreadable: %s)", vv_err_detail());
		return;
	}
	pthread_mutex_lock(&d->lock);
	nconn = d->nconn;
	pthread_mutex_unlock(&d->lock);
	snprintf(out, cap, "serving: %zu queued, %u of %u workers busy, %u connections", queued,
		 vv_sched_running(d->sched), d->cf.workers, nconn);
}

#ifdef VV_TEST_HOOKS
/* Test builds only: SIGUSR1 blocks the main loop for good, as a hung loop
 * would, so a test can see the watchdog pings stop.  Says so first, in the
 * notify stream and the log, so the test knows where the block begins. */
static void test_hook_block(struct vv_sd *sd)
{
	vv_sd_status(sd, "test hook: main loop blocked");
	vv_log(VV_LOG_WARN, "test hook: main loop blocked");
	for (;;)
		pause();
}
#endif

int vv_daemon_serve(const char *config_path, const char *self_exe)
{
	struct vv_daemon d;
	struct vv_sd sd;
	int lfd = -1, sfd = -1, rc, status = 1;
	bool own_sock = false, started = false;
	const char *what = "start-up";
	char text[256];
	double next_status = 0;
	double next_tick = 0;
	struct vv_memimage img;

	memset(&d, 0, sizeof d);
	d.self_exe = self_exe;
	pthread_mutex_init(&d.lock, NULL);
	pthread_cond_init(&d.idle, NULL);
	signal(SIGPIPE, SIG_IGN);
	vv_sd_log_init();
	vv_sd_init(&sd);
	/* The image of a varvaultd that has loaded nothing, as a worker and
	 * --check-config measure theirs, for the memory-lock need. */
	if ((rc = vv_daemon_memimage(&img)) != 0)
		goto out;
	if ((rc = vv_core_init()) != 0 || (rc = vv_harden_process()) != 0)
		goto out;
	what = config_path;
	if ((rc = vv_dconf_load(config_path, &d.cf)) != 0)
		goto out;
	/* What needs root comes first (the socket), then the service user
	 * for good, before any key, job or model file is opened. */
	what = d.cf.socket;
	if ((rc = vv_sd_listen(d.cf.socket, &lfd, &own_sock)) != 0)
		goto out;
	what = "privileges";
	if ((rc = vv_privs_drop(d.cf.user, d.cf.state_dir, own_sock ? d.cf.socket : NULL)) != 0)
		goto out;
	if (vv_privs_is_root()) {
		rc = vv_errf(VV_ERR_ROOT, "still root after the switch");
		goto out;
	}
	what = d.cf.model_dir;
	if ((rc = vv_dconf_model_verify(d.cf.model_dir)) != 0 || (rc = model_check(&d, &img)) != 0)
		goto out;
	what = d.cf.access;
	if ((rc = vv_net_access_load(d.cf.access, &d.access)) != 0)
		goto out;
	what = d.cf.master_key;
	if (!(d.master = vv_secret_alloc(VV_KEY_LEN))) {
		rc = VV_ERR_NOMEM;
		goto out;
	}
	if ((rc = load_master(d.cf.master_key, d.master)) != 0)
		goto out;
	what = "memory lock";
	if ((rc = vv_daemon_monitor_lock_check(d.master, VV_KEY_LEN, &d.mem_locked)) != 0)
		goto out;
	what = d.cf.c4gh_key;
	if ((rc = vv_c4gh_seckey_load(d.cf.c4gh_key, NULL, 0, &d.c4gh)) != 0)
		goto out;
	/* A CRL past its nextUpdate fails every client: refresh ours. */
	what = "CRL";
	if (d.cf.ca_dir && (rc = vv_net_crl_write(d.cf.ca_dir, 0)) != 0)
		goto out;
	what = "TLS";
	{
		struct vv_net_server_cfg sc = {d.cf.tls_cert, d.cf.tls_key, d.cf.tls_ca, d.cf.tls_crl};
		if ((rc = vv_net_server_new(&sc, &d.srv)) != 0 || (rc = vv_daudit_files_load(&d)) != 0)
			goto out;
	}
	what = d.cf.state_dir;
	if ((rc = vv_store_open(d.cf.state_dir, &d.store)) != 0)
		goto out;
	what = "audit log";
	if ((rc = vv_dconf_sha256_file(d.cf.access, d.policy_sha256)) != 0 || (rc = vv_daudit_open(&d)) != 0)
		goto out;
	if (!(d.slots = malloc(d.cf.max_connections * sizeof *d.slots))) {
		rc = VV_ERR_NOMEM;
		goto out;
	}
	for (unsigned i = 0; i < d.cf.max_connections; i++)
		d.slots[i] = -1;
	/* Signals reach the loop through a pipe: a handler, not a blocked
	 * mask, because OpenBLAS starts threads before main that would take
	 * a blocked signal with its default action. */
	what = "signals";
	if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
		rc = vv_errf(VV_ERR_IO, "pipe: %s", strerror(errno));
		goto out;
	}
	{
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = on_signal;
		sigemptyset(&sa.sa_mask);
		sa.sa_flags = SA_RESTART;
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGHUP, &sa, NULL);
#ifdef VV_TEST_HOOKS
		sigaction(SIGUSR1, &sa, NULL);
#endif
	}
	sfd = sig_pipe[0];
	what = "scheduler";
	if ((rc = vv_sched_start(&d, &d.sched)) != 0)
		goto out;
	/* No service without its first record. */
	what = "audit log";
	if ((rc = audit_system(&d, "start", 0)) != 0)
		goto out;
	started = true;
	status_text(&d, text, sizeof text);
	vv_sd_ready(&sd, text);
	vv_sd_event(VV_LOG_INFO, "ready", NULL, "ready on %s%s (model %s, %u workers, %u connections at most)%s",
		    own_sock ? d.cf.socket : "the socket systemd passed", own_sock ? "" : " (socket activation)",
		    d.cf.model_name, d.cf.workers, d.cf.max_connections,
		    vv_daemon_allow_unlocked() ? (d.mem_locked ? "; --allow-unlocked-memory given (development only)"
							   : "; memory NOT locked (--allow-unlocked-memory, development only)")
					       : "");
	next_tick = vv_seconds() + d.cf.audit_seconds;
	for (;;) {
		struct pollfd pf[2] = {{lfd, POLLIN, 0}, {sfd, POLLIN, 0}};
		double now = vv_seconds();
		int wait_ms = now >= next_tick ? 0 : (int)((next_tick - now) * 1000) + 1;
		int tmo, pr;
		if (now >= next_tick) {
			/* A quiet log is checkpointed too (the journal gets it). */
			vv_daudit_tick(&d);
			next_tick = now + d.cf.audit_seconds;
			wait_ms = (int)d.cf.audit_seconds * 1000;
		}
		/* Awake at least once a second while systemd listens, for the
		 * watchdog and for STATUS= when the queue or workers change. */
		tmo = vv_sd_poll_timeout(&sd, sd.notify && wait_ms > 1000 ? 1000 : wait_ms);
		pr = poll(pf, 2, tmo);
		/* The ping comes from here, the loop itself: a loop stuck
		 * anywhere stops it and systemd notices. */
		vv_sd_watchdog(&sd);
		if (sd.notify && vv_seconds() >= next_status) {
			status_text(&d, text, sizeof text);
			vv_sd_status(&sd, text);
			next_status = vv_seconds() + 1;
		}
		if (pr < 0) {
			if (errno == EINTR)
				continue;
			rc = vv_errf(VV_ERR_IO, "poll: %s", strerror(errno));
			what = "main loop";
			goto out;
		}
		if (pf[1].revents & POLLIN) {
			unsigned char sig;
			bool stop = false;
			while (read(sfd, &sig, 1) == 1) {
				if (sig == SIGHUP) {
					reload(&d);
#ifdef VV_TEST_HOOKS
				} else if (sig == SIGUSR1) {
					test_hook_block(&sd);
#endif
				} else {
					vv_sd_event(VV_LOG_INFO, "stopping", NULL,
						    "stopping (signal %u): no new connections; running jobs "
						    "finish their current chunk, then go back to the queue",
						    sig);
					stop = true;
				}
			}
			if (stop)
				break;
		}
		if (pf[0].revents & POLLIN) {
			int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
			if (fd >= 0)
				conn_start(&d, fd);
			else if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				vv_log(VV_LOG_WARN, "accept: %s", strerror(errno));
		}
	}
	{
		unsigned busy = vv_sched_running(d.sched);
		snprintf(text, sizeof text, "stopping: %u job(s) finishing their current chunk", busy);
		vv_sd_stopping(&sd, text);
	}
	status = 0;
	rc = 0;
out:
	if (rc != 0)
		vv_log_err(rc, "%s", what);
	if (lfd >= 0) {
		close(lfd);
		if (own_sock)
			(void)unlink(d.cf.socket);
	}
	/* Wake every connection thread out of its reads, then wait for all. */
	atomic_store(&d.stopping, true);
	pthread_mutex_lock(&d.lock);
	for (unsigned i = 0; d.slots && i < d.cf.max_connections; i++)
		if (d.slots[i] >= 0)
			(void)shutdown(d.slots[i], SHUT_RDWR);
	while (d.nconn > 0)
		pthread_cond_wait(&d.idle, &d.lock);
	pthread_mutex_unlock(&d.lock);
	vv_sched_stop(d.sched);
	if (started) {
		(void)audit_system(&d, "stop", 0);
		/* The last records reach a checkpoint, and the journal, now. */
		vv_daudit_tick(&d);
	}
	vv_daudit_close(&d);
	vv_store_close(d.store);
	vv_net_server_free(d.srv);
	vv_net_access_free(d.access);
	vv_c4gh_seckey_free(d.c4gh);
	vv_secret_free(d.master);
	free(d.slots);
	for (int i = 0; i < 2; i++)
		if (sig_pipe[i] >= 0)
			close(sig_pipe[i]);
	sig_pipe[0] = sig_pipe[1] = -1;
	vv_dconf_done(&d.cf);
	pthread_cond_destroy(&d.idle);
	pthread_mutex_destroy(&d.lock);
	if (status == 0)
		vv_sd_event(VV_LOG_INFO, "stopped", NULL, "stopped");
	return status;
}
