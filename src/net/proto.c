/* The wire protocol's JSON messages: requests parsed and checked, responses built, error codes named. */
#include "net_int.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

struct vv_net_request {
	json_object *root;
	enum vv_net_verb verb;
	char id[VV_NET_ID_MAX + 1];
};

static const char *const vv_verb_names[VV_VERB_COUNT] = {
	[VV_VERB_HELLO] = "hello",
	[VV_VERB_SUBMIT] = "submit",
	[VV_VERB_STATUS] = "status",
	[VV_VERB_LIST] = "list",
	[VV_VERB_RESULT] = "result",
	[VV_VERB_CANCEL] = "cancel",
	[VV_VERB_DELETE] = "delete",
	[VV_VERB_AUDIT_QUERY] = "audit.query",
	[VV_VERB_AUDIT_VERIFY] = "audit.verify",
	[VV_VERB_HEALTH] = "health",
	[VV_VERB_AUDIT_EXPORT] = "audit.export",
	[VV_VERB_AUDIT_PROVE] = "audit.prove",
	[VV_VERB_AUDIT_CHECKPOINT] = "audit.checkpoint",
};

const char *vv_net_verb_name(enum vv_net_verb v)
{
	return (unsigned)v < VV_VERB_COUNT ? vv_verb_names[v] : NULL;
}

int vv_net_verb_parse(const char *s, enum vv_net_verb *out)
{
	for (int i = 0; i < VV_VERB_COUNT; i++)
		if (!strcmp(s, vv_verb_names[i])) {
			*out = (enum vv_net_verb)i;
			return 0;
		}
	return vv_errf(VV_ERR_UNKNOWN_VERB, "unknown verb");
}

/* Parses a peer's JSON text through core's one parser; any fault in it is
 * the peer breaking the protocol. */
static int vv_net_json_parse(const char *buf, size_t len, const char *what, int depth, json_object **out)
{
	int rc = vv_json_parse_depth(buf, len, what, depth, out);

	if (rc == VV_ERR_FORMAT || rc == VV_ERR_RANGE)
		return vv_errf(VV_ERR_PROTO, "%s", vv_err_detail());
	return rc;
}

static bool vv_id_valid(const char *s, size_t n)
{
	if (n == 0 || n > VV_NET_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x21 || s[i] > 0x7e)
			return false;
	return true;
}

int vv_net_request_parse(const void *buf, size_t len, vv_net_request **out, char *id_out)
{
	json_object *root = NULL, *v;
	vv_net_request *r = NULL;
	const char *s;
	int rc;

	*out = NULL;
	if (id_out)
		id_out[0] = '\0';
	if ((rc = vv_net_json_parse(buf, len, "request", VV_NET_JSON_DEPTH, &root)) != 0)
		return rc;
	if (!json_object_object_get_ex(root, "id", &v) || !json_object_is_type(v, json_type_string) ||
	    !vv_id_valid(json_object_get_string(v), (size_t)json_object_get_string_len(v))) {
		rc = vv_errf(VV_ERR_PROTO, "request: field 'id': 1 to %d printable characters", VV_NET_ID_MAX);
		goto out;
	}
	if ((r = calloc(1, sizeof *r)) == NULL) {
		rc = vv_errf(VV_ERR_NOMEM, "request");
		goto out;
	}
	strcpy(r->id, json_object_get_string(v));
	if (id_out)
		strcpy(id_out, r->id);
	if (!json_object_object_get_ex(root, "v", &v) || !json_object_is_type(v, json_type_int)) {
		rc = vv_errf(VV_ERR_PROTO, "request: field 'v': the protocol version, an integer");
		goto out;
	}
	if (json_object_get_int64(v) != VV_NET_PROTO_VERSION) {
		rc = vv_errf(VV_ERR_PROTO_VERSION, "request: protocol version %d expected", VV_NET_PROTO_VERSION);
		goto out;
	}
	if (!json_object_object_get_ex(root, "verb", &v) || !json_object_is_type(v, json_type_string)) {
		rc = vv_errf(VV_ERR_PROTO, "request: field 'verb': a string");
		goto out;
	}
	s = json_object_get_string(v);
	if ((size_t)json_object_get_string_len(v) != strlen(s) || vv_net_verb_parse(s, &r->verb) != 0) {
		rc = vv_errf(VV_ERR_UNKNOWN_VERB, "request: unknown verb");
		goto out;
	}
	r->root = root;
	root = NULL;
	*out = r;
	r = NULL;
out:
	free(r);
	json_object_put(root);
	return rc;
}

void vv_net_request_free(vv_net_request *r)
{
	if (!r)
		return;
	json_object_put(r->root);
	free(r);
}

enum vv_net_verb vv_net_request_verb(const vv_net_request *r)
{
	return r->verb;
}

const char *vv_net_request_id(const vv_net_request *r)
{
	return r->id;
}

json_object *vv_net_request_json(const vv_net_request *r)
{
	return r->root;
}

/* Finds a parameter; 1 found, 0 absent and optional, VV_ERR_PROTO absent
 * and required. */
static int vv_req_field(const vv_net_request *r, const char *field, bool required, json_object **v)
{
	if (json_object_object_get_ex(r->root, field, v) && *v)
		return 1;
	if (required)
		return vv_errf(VV_ERR_PROTO, "request: field '%s' is required", field);
	return 0;
}

int vv_net_req_str(const vv_net_request *r, const char *field, bool required, size_t max_len, const char **out)
{
	json_object *v;
	const char *s;
	size_t n;
	int rc = vv_req_field(r, field, required, &v);

	if (rc <= 0)
		return rc;
	if (!json_object_is_type(v, json_type_string))
		return vv_errf(VV_ERR_PROTO, "request: field '%s' must be a string", field);
	s = json_object_get_string(v);
	n = (size_t)json_object_get_string_len(v);
	if (n > max_len)
		return vv_errf(VV_ERR_PROTO, "request: field '%s' longer than %zu bytes", field, max_len);
	if (strlen(s) != n)
		return vv_errf(VV_ERR_PROTO, "request: field '%s' holds a NUL", field);
	*out = s;
	return 1;
}

int vv_net_req_int(const vv_net_request *r, const char *field, bool required, int64_t min, int64_t max,
		   int64_t *out)
{
	json_object *v;
	int64_t x;
	int rc = vv_req_field(r, field, required, &v);

	if (rc <= 0)
		return rc;
	if (!json_object_is_type(v, json_type_int))
		return vv_errf(VV_ERR_PROTO, "request: field '%s' must be an integer", field);
	/* json-c clamps out-of-range integers to INT64_MIN/MAX; the bounds
	 * check below catches those unless the range includes the extremes. */
	x = json_object_get_int64(v);
	if (x < min || x > max)
		return vv_errf(VV_ERR_PROTO, "request: field '%s' out of range", field);
	*out = x;
	return 1;
}

int vv_net_req_bool(const vv_net_request *r, const char *field, bool required, bool *out)
{
	json_object *v;
	int rc = vv_req_field(r, field, required, &v);

	if (rc <= 0)
		return rc;
	if (!json_object_is_type(v, json_type_boolean))
		return vv_errf(VV_ERR_PROTO, "request: field '%s' must be true or false", field);
	*out = json_object_get_boolean(v);
	return 1;
}

/* Adds every member of src (an object, or NULL) to dst, except the
 * envelope's own keys, which the envelope sets. */
static int vv_json_merge(json_object *dst, json_object *src)
{
	if (!src)
		return 0;
	if (!json_object_is_type(src, json_type_object))
		return vv_errf(VV_ERR_INVAL, "message data must be a JSON object");
	json_object_object_foreach(src, k, val)
	{
		if (!strcmp(k, "v") || !strcmp(k, "id") || !strcmp(k, "ok") || !strcmp(k, "verb") ||
		    !strcmp(k, "error"))
			return vv_errf(VV_ERR_INVAL, "message data may not set '%s'", k);
		if (json_object_object_add(dst, k, json_object_get(val)) != 0)
			return vv_errf(VV_ERR_NOMEM, "message");
	}
	return 0;
}

static int vv_json_text(json_object *o, char **out, size_t *len)
{
	size_t n = 0;
	const char *t = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &n);

	if (!t || (*out = malloc(n + 1)) == NULL)
		return vv_errf(VV_ERR_NOMEM, "message");
	memcpy(*out, t, n + 1);
	*len = n;
	if (n > VV_NET_FRAME_MAX) {
		free(*out);
		*out = NULL;
		*len = 0;
		return vv_errf(VV_ERR_FRAME_SIZE, "message of %zu bytes", n);
	}
	return 0;
}

static int vv_envelope(const char *id, json_object **o)
{
	if ((*o = json_object_new_object()) == NULL ||
	    json_object_object_add(*o, "v", json_object_new_int(VV_NET_PROTO_VERSION)) != 0 ||
	    json_object_object_add(*o, "id", json_object_new_string(id ? id : "")) != 0)
		return vv_errf(VV_ERR_NOMEM, "message");
	return 0;
}

int vv_net_request_build(enum vv_net_verb verb, const char *id, json_object *params, char **out,
			 size_t *len)
{
	json_object *o = NULL;
	int rc;

	*out = NULL;
	*len = 0;
	if (!vv_net_verb_name(verb) || !id || !vv_id_valid(id, strlen(id)))
		return vv_errf(VV_ERR_INVAL, "request: bad verb or id");
	if ((rc = vv_envelope(id, &o)) != 0)
		goto out;
	if (json_object_object_add(o, "verb", json_object_new_string(vv_net_verb_name(verb))) != 0) {
		rc = vv_errf(VV_ERR_NOMEM, "request");
		goto out;
	}
	if ((rc = vv_json_merge(o, params)) != 0 || (rc = vv_json_text(o, out, len)) != 0)
		goto out;
out:
	json_object_put(o);
	return rc;
}

int vv_net_response_ok(const char *id, json_object *data, char **out, size_t *len)
{
	json_object *o = NULL;
	int rc;

	*out = NULL;
	*len = 0;
	if ((rc = vv_envelope(id, &o)) != 0)
		goto out;
	if (json_object_object_add(o, "ok", json_object_new_boolean(1)) != 0) {
		rc = vv_errf(VV_ERR_NOMEM, "response");
		goto out;
	}
	if ((rc = vv_json_merge(o, data)) != 0 || (rc = vv_json_text(o, out, len)) != 0)
		goto out;
out:
	json_object_put(o);
	return rc;
}

int vv_net_response_error(const char *id, int err, const char *message, char **out, size_t *len)
{
	json_object *o = NULL, *e = NULL;
	int rc;

	*out = NULL;
	*len = 0;
	if ((rc = vv_envelope(id, &o)) != 0)
		goto out;
	if ((e = json_object_new_object()) == NULL ||
	    json_object_object_add(e, "code", json_object_new_string(vv_net_err_code(err))) != 0 ||
	    json_object_object_add(e, "message", json_object_new_string(message ? message : vv_strerror(err))) != 0 ||
	    json_object_object_add(o, "ok", json_object_new_boolean(0)) != 0) {
		rc = vv_errf(VV_ERR_NOMEM, "response");
		goto out;
	}
	if (json_object_object_add(o, "error", e) != 0) {
		rc = vv_errf(VV_ERR_NOMEM, "response");
		goto out;
	}
	e = NULL;
	rc = vv_json_text(o, out, len);
out:
	json_object_put(e);
	json_object_put(o);
	return rc;
}

int vv_net_response_parse(const void *buf, size_t len, vv_net_response *out)
{
	json_object *root = NULL, *v, *e;
	const char *s;
	int rc;

	memset(out, 0, sizeof *out);
	if ((rc = vv_net_json_parse(buf, len, "response", VV_JSON_MAX_DEPTH, &root)) != 0)
		return rc;
	if (!json_object_object_get_ex(root, "v", &v) || !json_object_is_type(v, json_type_int)) {
		rc = vv_errf(VV_ERR_PROTO, "response: field 'v'");
		goto out;
	}
	if (json_object_get_int64(v) != VV_NET_PROTO_VERSION) {
		rc = vv_errf(VV_ERR_PROTO_VERSION, "response: protocol version %d expected", VV_NET_PROTO_VERSION);
		goto out;
	}
	if (!json_object_object_get_ex(root, "ok", &v) || !json_object_is_type(v, json_type_boolean)) {
		rc = vv_errf(VV_ERR_PROTO, "response: field 'ok'");
		goto out;
	}
	out->ok = json_object_get_boolean(v);
	if (json_object_object_get_ex(root, "id", &v) && json_object_is_type(v, json_type_string) &&
	    (size_t)json_object_get_string_len(v) <= VV_NET_ID_MAX)
		strcpy(out->id, json_object_get_string(v));
	if (!out->ok) {
		if (!json_object_object_get_ex(root, "error", &e) || !json_object_is_type(e, json_type_object) ||
		    !json_object_object_get_ex(e, "code", &v) || !json_object_is_type(v, json_type_string) ||
		    (size_t)json_object_get_string_len(v) >= sizeof out->code) {
			rc = vv_errf(VV_ERR_PROTO, "response: field 'error.code'");
			goto out;
		}
		strcpy(out->code, json_object_get_string(v));
		s = json_object_object_get_ex(e, "message", &v) && json_object_is_type(v, json_type_string)
			    ? json_object_get_string(v)
			    : "";
		if ((out->message = strdup(s)) == NULL) {
			rc = vv_errf(VV_ERR_NOMEM, "response");
			goto out;
		}
	}
	out->json = root;
	root = NULL;
out:
	json_object_put(root);
	if (rc)
		vv_net_response_done(out);
	return rc;
}

void vv_net_response_done(vv_net_response *r)
{
	if (!r)
		return;
	free(r->message);
	json_object_put(r->json);
	memset(r, 0, sizeof *r);
}

/* The one table of wire codes.  Codes are API: never rename one. */
static const struct {
	int err;
	const char *code;
} vv_wire_codes[] = {
	{VV_OK, "ok"},
	{VV_ERR_NOMEM, "internal"},
	{VV_ERR_INVAL, "bad_request"},
	{VV_ERR_RANGE, "too_large"},
	{VV_ERR_FORMAT, "bad_input"},
	{VV_ERR_UNSUPPORTED, "unsupported"},
	{VV_ERR_NOTFOUND, "not_found"},
	{VV_ERR_EXISTS, "exists"},
	{VV_ERR_CANCELLED, "cancelled"},
	{VV_ERR_TRUNCATED, "truncated"},
	{VV_ERR_C4GH_MAGIC, "bad_crypt4gh"},
	{VV_ERR_C4GH_VERSION, "bad_crypt4gh"},
	{VV_ERR_C4GH_HEADER, "bad_crypt4gh"},
	{VV_ERR_C4GH_NOKEY, "not_for_this_appliance"},
	{VV_ERR_C4GH_METHOD, "bad_crypt4gh"},
	{VV_ERR_C4GH_SEGMENT, "bad_crypt4gh"},
	{VV_ERR_C4GH_TRUNCATED, "truncated"},
	{VV_ERR_C4GH_EDITLIST, "bad_crypt4gh"},
	{VV_ERR_VCF_PARSE, "bad_vcf"},
	{VV_ERR_VCF_FIELD, "bad_vcf"},
	{VV_ERR_VCF_LIMIT, "too_large"},
	{VV_ERR_REF_MISMATCH, "reference_mismatch"},
	{VV_ERR_REF_CONTIG, "reference_mismatch"},
	{VV_ERR_TLS, "tls"},
	{VV_ERR_PEER_CERT, "certificate"},
	{VV_ERR_PROTO, "malformed"},
	{VV_ERR_TIMEOUT, "timeout"},
	{VV_ERR_DENIED, "denied"},
	{VV_ERR_CLOSED, "closed"},
	{VV_ERR_UNKNOWN_VERB, "unknown_verb"},
	{VV_ERR_PROTO_VERSION, "bad_version"},
	{VV_ERR_FRAME_SIZE, "frame_too_large"},
	{VV_ERR_BUSY, "busy"},
	/* store and workers (added when the daemon was assembled) */
	{VV_ERR_STATE, "bad_state"},
	{VV_ERR_AUTH, "unreadable"},
	{VV_ERR_NOSPACE, "no_space"},
	{VV_ERR_WORKER, "worker_failed"},
	{VV_ERR_TIME_LIMIT, "time_limit"},
	{VV_ERR_CHECKSUM, "checksum_mismatch"},
	{VV_ERR_SANDBOX, "worker_failed"},
	{VV_ERR_SANDBOX_KILLED, "worker_failed"},
	{VV_ERR_CPU_LIMIT, "time_limit"},
	/* a worker that could not lock its memory (LimitMEMLOCK=) */
	{VV_ERR_MLOCK, "memory_lock"},
	{VV_ERR_MEMLOCK_LIMIT, "memory_lock"},
};

const char *vv_net_err_code(int err)
{
	for (size_t i = 0; i < sizeof vv_wire_codes / sizeof vv_wire_codes[0]; i++)
		if (vv_wire_codes[i].err == err)
			return vv_wire_codes[i].code;
	return "internal";
}
