/* JSON intake: the one place that drives json-c's tokener, with its bounds. */
#include "varvault/core.h"

#include <json-c/json.h>
#include <limits.h>
#include <string.h>

/* The 1-based line of byte offset off (for messages that name a place). */
static size_t line_of(const char *buf, size_t off)
{
	size_t line = 1;

	for (size_t i = 0; i < off; i++)
		line += buf[i] == '\n';
	return line;
}

int vv_json_parse_depth(const char *buf, size_t len, const char *what, int depth,
			 struct json_object **out)
{
	struct json_tokener *tok = NULL;
	struct json_object *obj = NULL;
	enum json_tokener_error jerr;
	const char *nul;
	size_t end;
	int rc = 0;

	*out = NULL;
	if (depth < 1 || depth > VV_JSON_MAX_DEPTH)
		return vv_errf(VV_ERR_INVAL, "%s: JSON depth limit %d outside 1..%d", what, depth,
			       VV_JSON_MAX_DEPTH);
	if (len > VV_JSON_MAX_BYTES || len > INT_MAX)
		return vv_errf(VV_ERR_RANGE, "%s: %zu bytes of JSON, more than the %zu allowed", what,
			       len, VV_JSON_MAX_BYTES);
	/* json-c stops at a NUL; a NUL inside would hide what follows it. */
	if ((nul = memchr(buf, '\0', len)) != NULL)
		return vv_errf(VV_ERR_FORMAT, "%s: NUL byte in JSON at byte %zu (line %zu)", what,
			       (size_t)(nul - buf), line_of(buf, (size_t)(nul - buf)));
	if ((tok = json_tokener_new_ex(depth)) == NULL)
		return vv_errf(VV_ERR_NOMEM, "%s: a JSON tokener", what);
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	obj = json_tokener_parse_ex(tok, buf, (int)len);
	jerr = json_tokener_get_error(tok);
	if (!obj && jerr == json_tokener_continue) {
		/* Input ended inside a value; let the tokener say so. */
		obj = json_tokener_parse_ex(tok, "", 1);
		jerr = json_tokener_get_error(tok);
	}
	end = json_tokener_get_parse_end(tok);
	if (end > len)
		end = len;
	if (!obj || jerr != json_tokener_success) {
		rc = vv_errf(VV_ERR_FORMAT, "%s: invalid JSON at byte %zu (line %zu): %s", what, end,
			     line_of(buf, end), json_tokener_error_desc(jerr));
		goto out;
	}
	for (size_t i = end; i < len; i++) {
		if (buf[i] != ' ' && buf[i] != '\n' && buf[i] != '\r' && buf[i] != '\t') {
			rc = vv_errf(VV_ERR_FORMAT, "%s: trailing bytes after the JSON value at byte %zu (line %zu)",
				     what, i, line_of(buf, i));
			goto out;
		}
	}
	if (!json_object_is_type(obj, json_type_object)) {
		rc = vv_errf(VV_ERR_FORMAT, "%s: not a JSON object", what);
		goto out;
	}
	*out = obj;
	obj = NULL;
out:
	json_object_put(obj);
	json_tokener_free(tok);
	return rc;
}

int vv_json_parse(const char *buf, size_t len, const char *what, struct json_object **out)
{
	return vv_json_parse_depth(buf, len, what, VV_JSON_MAX_DEPTH, out);
}
