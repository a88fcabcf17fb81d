/* Audit records: the canonical JSON leaf encoding, and back to json-c. */
#include "audit_int.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

void vv_audit_record_init(vv_audit_record *r)
{
	memset(r, 0, sizeof *r);
	r->peer_uid = -1;
	r->peer_pid = -1;
	r->outcome = VV_AUDIT_OK;
}

const char *vv_audit_outcome_name(enum vv_audit_outcome o)
{
	switch (o) {
	case VV_AUDIT_OK:
		return "ok";
	case VV_AUDIT_DENIED:
		return "denied";
	case VV_AUDIT_FAILED:
		return "failed";
	}
	return NULL;
}

/* A small growing string; oom sticks. */
typedef struct sb {
	char *p;
	size_t n, cap;
	bool oom;
} sb;

static void sb_add(sb *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->n + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		char *np;

		while (cap < b->n + n + 1)
			cap *= 2;
		if (!(np = realloc(b->p, cap))) {
			b->oom = true;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = '\0';
}

static void sb_str(sb *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

/* Whether s is valid UTF-8 without control characters (which a record has
 * no use for and which would make the leaf depend on escaping rules). */
static bool text_ok(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = 0;

	while (*p) {
		unsigned c = *p, need;

		if (++n > VV_AUDIT_FIELD_MAX)
			return false;
		if (c < 0x20 || c == 0x7f)
			return false;
		if (c < 0x80) {
			p++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			need = 1;
		else if (c >= 0xe0 && c <= 0xef)
			need = 2;
		else if (c >= 0xf0 && c <= 0xf4)
			need = 3;
		else
			return false;
		p++;
		for (unsigned i = 0; i < need; i++, p++, n++)
			if ((*p & 0xc0) != 0x80)
				return false;
	}
	return true;
}

/* Appends ,"key":"value" (first: without the comma). */
static int add_str(sb *b, bool *first, const char *key, const char *v)
{
	if (!v)
		return 0;
	if (!text_ok(v))
		return vv_errf(VV_ERR_INVAL, "audit record: field %s has control characters, bad UTF-8 or is too long",
			       key);
	if (!*first)
		sb_add(b, ",", 1);
	*first = false;
	sb_add(b, "\"", 1);
	sb_str(b, key);
	sb_add(b, "\":\"", 3);
	for (const char *p = v; *p; p++) {
		if (*p == '"' || *p == '\\')
			sb_add(b, "\\", 1);
		sb_add(b, p, 1);
	}
	sb_add(b, "\"", 1);
	return 0;
}

static void add_int(sb *b, bool *first, const char *key, int64_t v)
{
	char num[32];

	if (!*first)
		sb_add(b, ",", 1);
	*first = false;
	snprintf(num, sizeof num, "\"%s\":%lld", key, (long long)v);
	sb_str(b, num);
}

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int vv_audit_record_canon(const vv_audit_record *r, uint64_t seq, char **out, size_t *len)
{
	sb b = {0};
	bool first = true, sub;
	char tbuf[64];
	struct tm tm;
	time_t secs;
	int64_t t = r->time_us ? r->time_us : now_us();
	const char *oc = vv_audit_outcome_name(r->outcome);
	int rc = 0;

	*out = NULL;
	*len = 0;
	if (!r->event || !r->action || !*r->event || !*r->action || !oc)
		return vv_errf(VV_ERR_INVAL, "audit record: event, action and outcome are required");
	if (t < 0 || seq > INT64_MAX)
		return vv_errf(VV_ERR_INVAL, "audit record: time or seq out of range");
	secs = (time_t)(t / 1000000);
	if (!gmtime_r(&secs, &tm) || tm.tm_year + 1900 > 9999)
		return vv_errf(VV_ERR_INVAL, "audit record: time out of range");
	snprintf(tbuf, sizeof tbuf, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(t % 1000000));

	sb_add(&b, "{", 1);
	add_int(&b, &first, "seq", (int64_t)seq);
	if ((rc = add_str(&b, &first, "time", tbuf)) || (rc = add_str(&b, &first, "event", r->event)) ||
	    (rc = add_str(&b, &first, "action", r->action)))
		goto out;
	if (r->actor_subject || r->actor_fingerprint || r->actor_role) {
		sb_str(&b, ",\"actor\":{");
		sub = true;
		if ((rc = add_str(&b, &sub, "subject", r->actor_subject)) ||
		    (rc = add_str(&b, &sub, "fingerprint", r->actor_fingerprint)) ||
		    (rc = add_str(&b, &sub, "role", r->actor_role)))
			goto out;
		sb_add(&b, "}", 1);
	}
	if (r->peer_uid >= 0 || r->peer_pid >= 0) {
		sb_str(&b, ",\"peer\":{");
		sub = true;
		if (r->peer_uid >= 0)
			add_int(&b, &sub, "uid", r->peer_uid);
		if (r->peer_pid >= 0)
			add_int(&b, &sub, "pid", r->peer_pid);
		sb_add(&b, "}", 1);
	}
	if (r->job || r->sample || r->ciphertext_sha256 || r->model_sha256 || r->policy_sha256) {
		sb_str(&b, ",\"object\":{");
		sub = true;
		if ((rc = add_str(&b, &sub, "job", r->job)) || (rc = add_str(&b, &sub, "sample", r->sample)) ||
		    (rc = add_str(&b, &sub, "ciphertext_sha256", r->ciphertext_sha256)) ||
		    (rc = add_str(&b, &sub, "model_sha256", r->model_sha256)) ||
		    (rc = add_str(&b, &sub, "policy_sha256", r->policy_sha256)))
			goto out;
		sb_add(&b, "}", 1);
	}
	if ((rc = add_str(&b, &first, "outcome", oc)) || (rc = add_str(&b, &first, "reason", r->reason)) ||
	    (rc = add_str(&b, &first, "request_id", r->request_id)))
		goto out;
	sb_add(&b, "}", 1);
	if (b.oom) {
		rc = VV_ERR_NOMEM;
		goto out;
	}
	*out = b.p;
	*len = b.n;
	b.p = NULL;
out:
	free(b.p);
	return rc;
}

int vv_audit_record_to_json(const char *leaf, size_t len, struct json_object **out)
{
	struct json_tokener *tok;
	json_object *o;

	*out = NULL;
	if (len > INT32_MAX)
		return vv_errf(VV_ERR_FORMAT, "audit record: too long");
	if (!(tok = json_tokener_new()))
		return VV_ERR_NOMEM;
	o = json_tokener_parse_ex(tok, leaf, (int)len);
	if (!o || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != len || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		json_tokener_free(tok);
		return vv_errf(VV_ERR_FORMAT, "audit record: the stored leaf is not a JSON object");
	}
	json_tokener_free(tok);
	*out = o;
	return 0;
}
