/* The system records (start, reload, stop) and the changes they bring: at
 * each of them the daemon compares what is in force (model, access policy,
 * CRL, keys) with what the audit log last said, and appends one record per
 * change, in the same transaction as the system record.
 *
 * Where the log says it (no new column: the record schema stays as it is):
 *   - every record's object carries the model's and the policy's hashes;
 *   - a start, reload or stop record that succeeded carries the rest in its
 *     reason: "state crl=<hex|none> keys=c4gh:<hex>,tls:<hex>,audit:<hex>";
 *   - a change record (model.changed, policy.changed, crl.changed,
 *     keys.changed) has "old=<value> new=<value>" as its reason, old being
 *     "unrecorded" when no earlier record says (a new log, or one written
 *     before these records existed).
 * The values are SHA-256 in hex: of model.safetensors, of the policy file,
 * of what the CRL revokes (vv_net_crl_digest; "none" without a CRL), of the
 * Crypt4GH public key (32 raw bytes), of the TLS certificate (DER), and of
 * the audit verifier key line (audit.pub).  Public values only: no private
 * key ever reaches a record.
 *
 * The last state is found by reading the system records backwards from the
 * newest; a clean stop leaves a full one last, so a start reads one or a few
 * records.  After a crash it reads back to the last start or reload.  A log
 * the daemon can read says what it last saw, so the comparison needs no
 * other file, and varvault-admin, which changes keys while the daemon is
 * down, needs no writer of its own: the change is recorded when it comes
 * into force (docs/audit.md). */
#include "daudit.h"

#include <json-c/json.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "serve.h"

enum { K_MODEL, K_POLICY, K_CRL, K_KEYS, K_N };

static const char *const change_action[K_N] = {"model.changed", "policy.changed", "crl.changed", "keys.changed"};

/* "c4gh:" 64 ",tls:" 64 ",audit:" 64 and a NUL: the longest value. */
#define VAL_MAX 224
/* Values for an unknown earlier state and a CRL not configured. */
#define UNRECORDED "unrecorded"
#define NONE "none"

struct state {
	char v[K_N][VAL_MAX];
	bool known[K_N];
};

struct sys_ctx {
	struct vv_daemon *d;
	const char *action;
	int err;
	struct state now, rec;
	bool changed[K_N];
	char reason[K_N][VV_AUDIT_FIELD_MAX + 1];
	bool checkpointed;
};

int vv_daudit_files_load(struct vv_daemon *d)
{
	char crl[65], tls[65];
	int rc;

	if (d->cf.tls_crl) {
		if ((rc = vv_net_crl_digest(d->cf.tls_crl, crl, NULL)) != 0)
			return rc;
	} else {
		snprintf(crl, sizeof crl, "%s", NONE);
	}
	if ((rc = vv_net_fingerprint_file(d->cf.tls_cert, tls)) != 0)
		return rc;
	memcpy(d->crl_sha256, crl, sizeof crl);
	memcpy(d->tls_sha256, tls, sizeof tls);
	return 0;
}

/* What is in force now. */
static void state_now(struct vv_daemon *d, struct state *s)
{
	uint8_t pk[VV_C4GH_KEY_LEN], h[32];
	char c4gh[65], audit[65];

	memset(s, 0, sizeof *s);
	snprintf(s->v[K_MODEL], VAL_MAX, "%s", d->model_sha256[0] ? d->model_sha256 : NONE);
	pthread_mutex_lock(&d->lock);
	snprintf(s->v[K_POLICY], VAL_MAX, "%s", d->policy_sha256[0] ? d->policy_sha256 : NONE);
	pthread_mutex_unlock(&d->lock);
	snprintf(s->v[K_CRL], VAL_MAX, "%s", d->crl_sha256[0] ? d->crl_sha256 : NONE);
	vv_c4gh_seckey_pubkey(d->c4gh, pk);
	vv_sha256_oneshot(pk, sizeof pk, h);
	vv_hex(h, sizeof h, c4gh);
	vv_sha256_oneshot(d->audit_vkey, strlen(d->audit_vkey), h);
	vv_hex(h, sizeof h, audit);
	snprintf(s->v[K_KEYS], VAL_MAX, "c4gh:%s,tls:%s,audit:%s", c4gh, d->tls_sha256[0] ? d->tls_sha256 : NONE,
		 audit);
	for (int k = 0; k < K_N; k++)
		s->known[k] = true;
}

/* Copies the value after key (e.g. "new=") up to the next space or the end
 * into out; false when key is absent or the value does not fit. */
static bool value_of(const char *text, const char *key, char out[VAL_MAX])
{
	const char *p = text;
	size_t klen = strlen(key), n;

	/* key at the start or after a space */
	while ((p = strstr(p, key)) != NULL && p != text && p[-1] != ' ')
		p += klen;
	if (!p)
		return false;
	p += klen;
	n = strcspn(p, " ");
	if (n == 0 || n >= VAL_MAX)
		return false;
	memcpy(out, p, n);
	out[n] = '\0';
	return true;
}

static const char *str_at(json_object *o, const char *a, const char *b)
{
	json_object *v;

	if (!json_object_object_get_ex(o, a, &v))
		return NULL;
	if (b && !json_object_object_get_ex(v, b, &v))
		return NULL;
	return json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

static void learn(struct state *s, int k, const char *v)
{
	if (s->known[k] || !v || !v[0] || strlen(v) >= VAL_MAX)
		return;
	snprintf(s->v[k], VAL_MAX, "%s", v);
	s->known[k] = true;
}

/* Takes from one system record (newest first) what it says of the kinds
 * not yet known. */
static void learn_record(struct state *s, json_object *o)
{
	const char *action = str_at(o, "action", NULL), *reason = str_at(o, "reason", NULL);
	char v[VAL_MAX];

	if (!action)
		return;
	for (int k = 0; k < K_N; k++)
		if (!strcmp(action, change_action[k]) && reason && value_of(reason, "new=", v))
			learn(s, k, v);
	learn(s, K_MODEL, str_at(o, "object", "model_sha256"));
	learn(s, K_POLICY, str_at(o, "object", "policy_sha256"));
	if ((!strcmp(action, "start") || !strcmp(action, "reload") || !strcmp(action, "stop")) && reason &&
	    !strncmp(reason, "state ", 6)) {
		if (value_of(reason, "crl=", v))
			learn(s, K_CRL, v);
		if (value_of(reason, "keys=", v))
			learn(s, K_KEYS, v);
	}
}

/* What the log last said, read back from its newest system record. */
static int state_recorded(struct sqlite3 *db, struct state *s)
{
	/* The leaf is canonical JSON: a record of the system has exactly this
	 * text ('"' inside a string value is escaped, so no other field can
	 * hold it); the match is then read as JSON. */
	static const char sql[] = "SELECT seq, CAST(leaf AS TEXT) FROM audit_records"
				  " WHERE instr(CAST(leaf AS TEXT), '\"event\":\"system\"') > 0 ORDER BY seq DESC";
	sqlite3_stmt *st = NULL;
	int src, rc = 0;

	memset(s, 0, sizeof *s);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return vv_errf(VV_ERR_DB, "audit state: %s", sqlite3_errmsg(db));
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		const char *leaf = (const char *)sqlite3_column_text(st, 1);
		int len = sqlite3_column_bytes(st, 1);
		json_object *o = NULL;
		bool all = true;

		/* the audit module's own reader of its leaves */
		if (!leaf || len < 0 || vv_audit_record_to_json(leaf, (size_t)len, &o) != 0 ||
		    strcmp(str_at(o, "event", NULL) ? str_at(o, "event", NULL) : "", VV_AUDIT_EV_SYSTEM) != 0) {
			json_object_put(o);
			continue;
		}
		learn_record(s, o);
		json_object_put(o);
		for (int k = 0; k < K_N; k++)
			all = all && s->known[k];
		if (all)
			break;
	}
	if (src != SQLITE_ROW && src != SQLITE_DONE)
		rc = vv_errf(VV_ERR_DB, "audit state: %s", sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return rc;
}

static int append(struct sys_ctx *c, struct sqlite3 *db, struct vv_daudit_rec *x)
{
	bool cp = false;
	int rc;

	if ((rc = vv_audit_append(c->d->audit, db, &x->r, &x->seq, &cp)) == 0 && cp)
		c->checkpointed = true;
	return rc;
}

static int system_fn(void *ctx, struct sqlite3 *db, const struct vv_store_tx_info *info)
{
	struct sys_ctx *c = ctx;
	struct vv_daudit_rec x;
	char state[VV_AUDIT_FIELD_MAX + 1];
	int rc;

	(void)info;
	if ((rc = state_recorded(db, &c->rec)) != 0)
		return rc;
	vv_daudit_init(&x, c->d, VV_AUDIT_EV_SYSTEM, c->action);
	if (c->err) {
		x.r.outcome = VV_AUDIT_FAILED;
		x.r.reason = vv_net_err_code(c->err);
	} else {
		snprintf(state, sizeof state, "state crl=%s keys=%s", c->now.v[K_CRL], c->now.v[K_KEYS]);
		x.r.reason = state;
	}
	if ((rc = append(c, db, &x)) != 0)
		return rc;
	for (int k = 0; k < K_N; k++) {
		c->changed[k] = !c->rec.known[k] || strcmp(c->rec.v[k], c->now.v[k]) != 0;
		if (!c->changed[k])
			continue;
		snprintf(c->reason[k], sizeof c->reason[k], "old=%s new=%s",
			 c->rec.known[k] ? c->rec.v[k] : UNRECORDED, c->now.v[k]);
		vv_daudit_init(&x, c->d, VV_AUDIT_EV_SYSTEM, change_action[k]);
		x.r.reason = c->reason[k];
		if ((rc = append(c, db, &x)) != 0)
			return rc;
	}
	return 0;
}

int vv_daudit_system(struct vv_daemon *d, const char *action, int err)
{
	struct sys_ctx c;
	int rc;

	if (!d->audit)
		return vv_errf(VV_ERR_STATE, "audit log not open");
	memset(&c, 0, sizeof c);
	c.d = d;
	c.action = action;
	c.err = err;
	state_now(d, &c.now);
	if ((rc = vv_store_tx_run(d->store, system_fn, &c)) != 0)
		return vv_err_prefix(rc, "audit record (%s): ", action);
	for (int k = 0; k < K_N; k++)
		if (c.changed[k])
			vv_log(VV_LOG_INFO, "audit: %s at %s: %s", change_action[k], action, c.reason[k]);
	if (c.checkpointed)
		vv_daudit_log_checkpoint(d);
	return 0;
}
