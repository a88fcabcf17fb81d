/* The monitor's audit trail: one record per request and per job event,
 * written in the store transaction of the action it records; checkpoints
 * to the journal; the data of the auditor's verbs. */
#include "daudit.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "serve.h"
#include "varvault/audit_query.h"

/* Most records one audit.query answer carries (a frame is at most 1 MiB). */
#define QUERY_MAX 500
/* Leaves read per batch of an export (each batch under the store's lock). */
#define EXPORT_BATCH 2000

/* ---------------------------------------------------------------- writing */

static void hex32(const uint8_t *b, char out[65])
{
	vv_hex(b, 32, out);
}

/* The hook: inside the action's transaction (or one of its own). */
static int append_hook(void *ctx, struct sqlite3 *db, const struct vv_store_tx_info *info)
{
	struct vv_daudit_rec *x = ctx;

	if (info && info->job_id && !x->r.job) {
		snprintf(x->job, sizeof x->job, "%s", info->job_id);
		x->r.job = x->job;
	}
	if (info && info->ct_sha256 && !x->r.ciphertext_sha256) {
		hex32(info->ct_sha256, x->ct);
		x->r.ciphertext_sha256 = x->ct;
	}
	x->checkpointed = false;
	return vv_audit_append(x->d->audit, db, &x->r, &x->seq, &x->checkpointed);
}

static int latest_fn(void *ctx, struct sqlite3 *db, const struct vv_store_tx_info *info)
{
	char **note = ctx;
	uint64_t size;

	(void)info;
	return vv_audit_latest_checkpoint(db, note, &size);
}

/* Sends the latest checkpoint to the journal: a copy outside the database
 * (journald may forward it off the box).  One line, so that the journal
 * keeps it whole: the size and root to read, and the signed note in hex to
 * give back to `varvault-admin audit verify --checkpoint`. */
void vv_daudit_log_checkpoint(struct vv_daemon *d)
{
	char *note = NULL, *hex = NULL, origin[VV_AUDIT_ORIGIN_MAX + 1];
	uint8_t root[VV_AUDIT_HASH_LEN];
	char rhex[2 * VV_AUDIT_HASH_LEN + 1];
	uint64_t size = 0;
	size_t n;

	if (vv_store_db_run(d->store, latest_fn, &note) != 0 || !note)
		goto out;
	n = strlen(note);
	if (vv_audit_checkpoint_parse(note, origin, &size, root) != 0 || !(hex = malloc(2 * n + 1)))
		goto out;
	vv_hex((const uint8_t *)note, n, hex);
	vv_hex(root, sizeof root, rhex);
	vv_log(VV_LOG_INFO, "audit checkpoint of %llu records, root %s; signed note (hex): %s",
	       (unsigned long long)size, rhex, hex);
out:
	free(hex);
	free(note);
}

void vv_daudit_init(struct vv_daudit_rec *x, struct vv_daemon *d, const char *event, const char *action)
{
	memset(x, 0, sizeof *x);
	x->d = d;
	vv_audit_record_init(&x->r);
	x->r.event = event;
	x->r.action = action;
	x->r.model_sha256 = d->model_sha256[0] ? d->model_sha256 : NULL;
	pthread_mutex_lock(&d->lock);
	memcpy(x->policy, d->policy_sha256, sizeof x->policy);
	pthread_mutex_unlock(&d->lock);
	x->r.policy_sha256 = x->policy[0] ? x->policy : NULL;
	if (strcmp(event, VV_AUDIT_EV_REQUEST) != 0) {
		x->r.actor_subject = "varvaultd";
		x->r.actor_role = "system";
	}
}

int vv_daudit_write(struct vv_daudit_rec *x)
{
	int rc;

	if (!x->d->audit)
		return vv_errf(VV_ERR_STATE, "audit log not open");
	if ((rc = vv_store_tx_run(x->d->store, append_hook, x)) != 0)
		return vv_err_prefix(rc, "audit record (%s): ", x->r.action);
	if (x->checkpointed)
		vv_daudit_log_checkpoint(x->d);
	return 0;
}

void vv_daudit_arm(struct vv_daudit_rec *x)
{
	vv_store_hook_arm(x->d->store, append_hook, x);
}

bool vv_daudit_disarm(struct vv_daudit_rec *x)
{
	bool fired = vv_store_hook_disarm(x->d->store);

	if (fired && x->checkpointed)
		vv_daudit_log_checkpoint(x->d);
	return fired;
}

static int tick_fn(void *ctx, struct sqlite3 *db, const struct vv_store_tx_info *info)
{
	struct vv_daemon *d = ctx;
	bool made = false;
	int rc;

	(void)info;
	if ((rc = vv_audit_checkpoint(d->audit, db, &made)) == 0 && !made)
		rc = 1; /* nothing new: no journal line */
	return rc;
}

void vv_daudit_tick(struct vv_daemon *d)
{
	int rc;

	if (!d->audit)
		return;
	rc = vv_store_db_run(d->store, tick_fn, d);
	if (rc == 0)
		vv_daudit_log_checkpoint(d);
	else if (rc < 0)
		vv_log_err(rc, "audit checkpoint");
}

static void proof_cache_clear(void);

/* ------------------------------------------------------------ open, close */

struct open_ctx {
	struct vv_daemon *d;
	vv_audit_opts o;
};

static int open_fn(void *ctx, struct sqlite3 *db, const struct vv_store_tx_info *info)
{
	struct open_ctx *oc = ctx;

	(void)info;
	return vv_audit_open(db, &oc->o, &oc->d->audit);
}

/* Reads the verifier key (one line) that clients pin. */
static int read_vkey(const char *path, char **out)
{
	char buf[1024];
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return vv_errf(errno == ENOENT ? VV_ERR_NOTFOUND : VV_ERR_IO,
			       "%s: %s (varvault-admin audit keygen makes it)", path, strerror(errno));
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0 || (size_t)n == sizeof buf - 1)
		return vv_errf(VV_ERR_FORMAT, "%s: not an audit verifier key", path);
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	if (!buf[0])
		return vv_errf(VV_ERR_FORMAT, "%s: empty", path);
	return (*out = strdup(buf)) ? 0 : VV_ERR_NOMEM;
}

int vv_daudit_open(struct vv_daemon *d)
{
	struct open_ctx oc = {d, {0}};
	int rc;

	if ((rc = read_vkey(d->cf.audit_pub, &d->audit_vkey)) != 0)
		return rc;
	oc.o.origin = d->cf.audit_origin;
	oc.o.signing_key_path = d->cf.audit_key;
	/* k0 is needed only by a log that has not started; the operator may
	 * have moved it off the box since. */
	oc.o.k0_path = access(d->cf.audit_k0, F_OK) == 0 ? d->cf.audit_k0 : NULL;
	oc.o.checkpoint_every = d->cf.audit_every;
	oc.o.checkpoint_seconds = d->cf.audit_seconds;
	if ((rc = vv_store_db_run(d->store, open_fn, &oc)) != 0)
		return vv_err_prefix(rc, "audit log: ");
	return 0;
}

void vv_daudit_close(struct vv_daemon *d)
{
	proof_cache_clear();
	vv_audit_free(d->audit);
	d->audit = NULL;
	free(d->audit_vkey);
	d->audit_vkey = NULL;
}

/* ---------------------------------------------------------------- reading */

static json_object *proof_json(const uint8_t *proof, size_t n)
{
	json_object *a = json_object_new_array();
	char hex[65];

	for (size_t i = 0; i < n; i++) {
		hex32(proof + 32 * i, hex);
		json_object_array_add(a, json_object_new_string(hex));
	}
	return a;
}

/* Reads a time bound: seconds since the epoch, a date (YYYY-MM-DD, UTC
 * midnight), or RFC 3339 UTC (YYYY-MM-DDTHH:MM:SS[.ffffff]Z). */
static bool time_read(const char *s, int64_t *us)
{
	struct tm tm;
	char *end;
	long long v;
	unsigned frac = 0, digits = 0;

	if (!s[0])
		return false;
	if (strspn(s, "0123456789") == strlen(s)) {
		v = strtoll(s, &end, 10);
		if (v < 0 || v > 253402300799LL)
			return false;
		*us = v * 1000000;
		return true;
	}
	memset(&tm, 0, sizeof tm);
	if (!(end = strptime(s, "%Y-%m-%d", &tm)))
		return false;
	if (*end == 'T' || *end == ' ') {
		if (!(end = strptime(end + 1, "%H:%M:%S", &tm)))
			return false;
		if (*end == '.') {
			for (end++; *end >= '0' && *end <= '9'; end++)
				if (digits < 6) {
					frac = frac * 10 + (unsigned)(*end - '0');
					digits++;
				}
			while (digits < 6) {
				frac *= 10;
				digits++;
			}
		}
		if (*end == 'Z')
			end++;
	}
	if (*end)
		return false;
	*us = (int64_t)timegm(&tm) * 1000000 + frac;
	return true;
}

static int parse_time(const char *field, const char *s, int64_t *us)
{
	if (time_read(s, us))
		return 0;
	return vv_errf(VV_ERR_PROTO, "%s: seconds since the epoch, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ expected", field);
}

struct query_ctx {
	const vv_audit_filter *f;
	size_t max;
	json_object *records;
	uint64_t next;
	int64_t n;
};

static int query_row(void *ctx, uint64_t seq, const char *leaf, size_t len)
{
	struct query_ctx *q = ctx;
	json_object *o = NULL;
	int rc;

	(void)seq;
	if ((rc = vv_audit_record_to_json(leaf, len, &o)) != 0)
		return rc;
	json_object_array_add(q->records, o);
	return 0;
}

static int query_fn(void *ctx, struct sqlite3 *db, const struct vv_store_tx_info *info)
{
	struct query_ctx *q = ctx;

	(void)info;
	q->n = vv_audit_scan(db, q->f, q->max, query_row, q, &q->next);
	return q->n < 0 ? (int)q->n : 0;
}

static int opt_str(json_object *p, const char *k, size_t max, const char **out)
{
	json_object *v;

	*out = NULL;
	if (!p || !json_object_object_get_ex(p, k, &v) || json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, json_type_string) || (size_t)json_object_get_string_len(v) > max ||
	    json_object_get_string_len(v) == 0)
		return vv_errf(VV_ERR_PROTO, "%s: a string of 1 to %zu bytes", k, max);
	*out = json_object_get_string(v);
	return 0;
}

static int opt_uint(json_object *p, const char *k, int64_t max, int64_t *out)
{
	json_object *v;

	if (!p || !json_object_object_get_ex(p, k, &v) || json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0 || json_object_get_int64(v) > max)
		return vv_errf(VV_ERR_PROTO, "%s: an integer from 0 to %lld", k, (long long)max);
	*out = json_object_get_int64(v);
	return 0;
}

int vv_daudit_query(struct vv_daemon *d, json_object *p, json_object **out)
{
	vv_audit_filter f = {0};
	struct query_ctx q = {&f, QUERY_MAX, NULL, UINT64_MAX, 0};
	const char *since = NULL, *until = NULL;
	int64_t after = 0, limit = QUERY_MAX;
	int rc;

	*out = NULL;
	if ((rc = opt_str(p, "since", 64, &since)) != 0 || (rc = opt_str(p, "until", 64, &until)) != 0 ||
	    (rc = opt_str(p, "actor", VV_AUDIT_FIELD_MAX, &f.actor)) != 0 ||
	    (rc = opt_str(p, "sample", VV_AUDIT_FIELD_MAX, &f.sample)) != 0 ||
	    (rc = opt_str(p, "action", VV_AUDIT_FIELD_MAX, &f.action)) != 0 ||
	    (rc = opt_str(p, "outcome", 16, &f.outcome)) != 0 || (rc = opt_uint(p, "after", INT64_MAX, &after)) != 0 ||
	    (rc = opt_uint(p, "limit", QUERY_MAX, &limit)) != 0)
		return rc;
	if (f.outcome && strcmp(f.outcome, "ok") && strcmp(f.outcome, "denied") && strcmp(f.outcome, "failed"))
		return vv_errf(VV_ERR_PROTO, "outcome: ok, denied or failed");
	if ((since && (rc = parse_time("since", since, &f.since_us)) != 0) ||
	    (until && (rc = parse_time("until", until, &f.until_us)) != 0))
		return rc;
	f.after = (uint64_t)after;
	q.max = limit ? (size_t)limit : QUERY_MAX;
	q.records = json_object_new_array();
	if ((rc = vv_store_db_run(d->store, query_fn, &q)) != 0) {
		json_object_put(q.records);
		return rc;
	}
	*out = json_object_new_object();
	json_object_object_add(*out, "records", q.records);
	json_object_object_add(*out, "next", q.next == UINT64_MAX ? NULL : json_object_new_int64((int64_t)q.next));
	return 0;
}

struct cp_ctx {
	struct vv_daemon *d;
	int64_t from;      /* < 0: none */
	uint64_t seq;      /* prove */
	bool prove, cover; /* cover: checkpoint every record now */
	char *note, *leaf;
	size_t leaf_len;
	uint64_t size;
	uint8_t *proof;
	size_t nproof;
};

/* Consistency proofs hash every leaf up to the size (the library trusts
 * no stored hash), and every client asks for one on each connection; most
 * hold one of the last few checkpoints, so the last proofs are kept.  The
 * log is append-only, so a proof between two sizes never changes.  Used
 * under the store's lock only (vv_store_db_run), which guards the cache. */
#define PROOF_CACHE 8
static struct {
	uint64_t from, size;
	uint8_t *proof;
	size_t n;
} proof_cache[PROOF_CACHE];
static unsigned proof_next;

static int cached_consistency(struct sqlite3 *db, uint64_t from, uint64_t size, uint8_t **proof, size_t *n)
{
	int rc;

	for (unsigned i = 0; i < PROOF_CACHE; i++)
		if (proof_cache[i].proof && proof_cache[i].from == from && proof_cache[i].size == size) {
			if (!(*proof = malloc(32 * (proof_cache[i].n ? proof_cache[i].n : 1))))
				return VV_ERR_NOMEM;
			memcpy(*proof, proof_cache[i].proof, 32 * proof_cache[i].n);
			*n = proof_cache[i].n;
			return 0;
		}
	if ((rc = vv_audit_consistency_proof(db, from, size, proof, n)) != 0)
		return rc;
	{
		unsigned i = proof_next++ % PROOF_CACHE;
		uint8_t *copy = malloc(32 * (*n ? *n : 1));
		if (copy) {
			memcpy(copy, *proof, 32 * *n);
			free(proof_cache[i].proof);
			proof_cache[i].from = from;
			proof_cache[i].size = size;
			proof_cache[i].proof = copy;
			proof_cache[i].n = *n;
		}
	}
	return 0;
}

static void proof_cache_clear(void)
{
	for (unsigned i = 0; i < PROOF_CACHE; i++) {
		free(proof_cache[i].proof);
		proof_cache[i].proof = NULL;
	}
}

/* The latest checkpoint; one is made when none exists yet or (cover) when
 * records came after it. */
static int latest_or_make(struct cp_ctx *c, struct sqlite3 *db)
{
	uint64_t n = 0;
	int rc;

	if (c->cover && (rc = vv_audit_size(db, &n)) != 0)
		return rc;
	rc = vv_audit_latest_checkpoint(db, &c->note, &c->size);
	if (rc == 0 && (!c->cover || c->size >= n))
		return 0;
	if (rc != 0 && rc != VV_ERR_NOTFOUND)
		return rc;
	free(c->note);
	c->note = NULL;
	if ((rc = vv_audit_checkpoint(c->d->audit, db, NULL)) != 0)
		return rc;
	return vv_audit_latest_checkpoint(db, &c->note, &c->size);
}

static int cp_fn(void *ctx, struct sqlite3 *db, const struct vv_store_tx_info *info)
{
	struct cp_ctx *c = ctx;
	int rc;

	(void)info;
	if ((rc = latest_or_make(c, db)) != 0)
		return rc;
	if (c->prove) {
		if (c->seq >= c->size)
			return vv_errf(VV_ERR_NOTFOUND, "audit record %llu: not in the log",
				       (unsigned long long)c->seq);
		if ((rc = vv_audit_leaf(db, c->seq, &c->leaf, &c->leaf_len)) != 0)
			return rc;
		return vv_audit_inclusion_proof(db, c->seq, c->size, &c->proof, &c->nproof);
	}
	/* A client's size past ours or equal needs no proof: it judges. */
	if (c->from > 0 && (uint64_t)c->from < c->size)
		return cached_consistency(db, (uint64_t)c->from, c->size, &c->proof, &c->nproof);
	return 0;
}

static json_object *cp_json(struct cp_ctx *c)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "checkpoint", json_object_new_string(c->note));
	json_object_object_add(o, "size", json_object_new_int64((int64_t)c->size));
	json_object_object_add(o, "key", json_object_new_string(c->d->audit_vkey));
	return o;
}

int vv_daudit_checkpoint(struct vv_daemon *d, int64_t from, json_object **out)
{
	struct cp_ctx c = {.d = d, .from = from};
	int rc;

	*out = NULL;
	if ((rc = vv_store_db_run(d->store, cp_fn, &c)) == 0) {
		*out = cp_json(&c);
		if (from >= 0)
			json_object_object_add(*out, "from", json_object_new_int64(from));
		json_object_object_add(*out, "proof", proof_json(c.proof, c.nproof));
	}
	free(c.note);
	free(c.proof);
	return rc;
}

int vv_daudit_prove(struct vv_daemon *d, uint64_t seq, json_object **out)
{
	struct cp_ctx c = {.d = d, .from = -1, .seq = seq, .prove = true, .cover = true};
	int rc;

	*out = NULL;
	if ((rc = vv_store_db_run(d->store, cp_fn, &c)) == 0) {
		*out = cp_json(&c);
		json_object_object_add(*out, "seq", json_object_new_int64((int64_t)seq));
		json_object_object_add(*out, "leaf", json_object_new_string_len(c.leaf, (int)c.leaf_len));
		json_object_object_add(*out, "proof", proof_json(c.proof, c.nproof));
	}
	free(c.note);
	free(c.leaf);
	free(c.proof);
	return rc;
}

struct export_ctx {
	char *p;       /* not secret: leaves hold no patient data */
	size_t n, cap;
};

static int export_row(void *ctx, uint64_t seq, const char *leaf, size_t len)
{
	struct export_ctx *e = ctx;

	(void)seq;
	if (e->n + len + 1 > e->cap) {
		size_t cap = (e->n + len + 1) * 2;
		char *q = realloc(e->p, cap);
		if (!q)
			return VV_ERR_NOMEM;
		e->p = q;
		e->cap = cap;
	}
	memcpy(e->p + e->n, leaf, len);
	e->p[e->n + len] = '\n';
	e->n += len + 1;
	return 0;
}

struct batch_ctx {
	vv_audit_filter f;
	struct export_ctx *e;
	uint64_t next;
};

static int batch_fn(void *ctx, struct sqlite3 *db, const struct vv_store_tx_info *info)
{
	struct batch_ctx *b = ctx;
	int64_t n;

	(void)info;
	n = vv_audit_scan(db, &b->f, EXPORT_BATCH, export_row, b->e, &b->next);
	return n < 0 ? (int)n : 0;
}

int vv_daudit_export(struct vv_daemon *d, json_object **head, int (*emit)(void *ctx, const char *p, size_t n),
		     void *ctx)
{
	struct cp_ctx c = {.d = d, .from = -1, .cover = true};
	struct export_ctx e = {0};
	struct batch_ctx b = {{0}, &e, 0};
	int rc;

	*head = NULL;
	if ((rc = vv_store_db_run(d->store, cp_fn, &c)) != 0)
		goto out;
	*head = cp_json(&c);
	rc = emit(ctx, NULL, 0); /* the head goes first */
	/* Only the records the checkpoint covers: the export checks whole. */
	b.f.before = c.size;
	while (rc == 0) {
		e.n = 0;
		if ((rc = vv_store_db_run(d->store, batch_fn, &b)) != 0)
			break;
		if (e.n && (rc = emit(ctx, e.p, e.n)) != 0)
			break;
		if (b.next == UINT64_MAX)
			break;
		b.f.after = b.next;
	}
out:
	free(c.note);
	free(e.p);
	return rc;
}
