/* JSON intake: the one place that drives json-c's tokener, with its bounds. */
#include "varvault/core.h"

#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
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

static size_t skip_ws(const char *txt, size_t len, size_t pos)
{
	while (pos < len && (txt[pos] == ' ' || txt[pos] == '\t' || txt[pos] == '\n' || txt[pos] == '\r'))
		pos++;
	return pos;
}

/* Reads the one JSON value at txt[*pos..len) with tok, moving *pos past it.
 * *out gets the value (NULL for JSON null); the caller puts it.  The text
 * has parsed as a whole already, so a failure here is internal. */
static int read_value(struct json_tokener *tok, const char *txt, size_t len, size_t *pos,
		      struct json_object **out)
{
	json_tokener_reset(tok);
	*out = json_tokener_parse_ex(tok, txt + *pos, (int)(len - *pos));
	if (json_tokener_get_error(tok) != json_tokener_success) {
		json_object_put(*out);
		*out = NULL;
		return vv_errf(VV_ERR_INTERNAL, "JSON re-read failed at byte %zu", *pos);
	}
	*pos += json_tokener_get_parse_end(tok);
	return 0;
}

static void copy_name(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src ? src : "");
}

/* One object level of vv_json_unique_keys: each key and value is read with
 * json_tokener, only the separators between them by hand. */
static int unique_level(struct json_tokener *tok, const char *txt, size_t len, int levels,
			const char *parent, struct vv_json_dup *d)
{
	struct json_object *seen = NULL, *key = NULL, *val = NULL;
	size_t pos = skip_ws(txt, len, 0);
	int rc = 0;

	if (pos >= len || txt[pos] != '{')
		return vv_errf(VV_ERR_INTERNAL, "JSON re-read found no object");
	pos = skip_ws(txt, len, pos + 1);
	if (pos < len && txt[pos] == '}')
		return 0;
	if ((seen = json_object_new_object()) == NULL)
		return vv_errf(VV_ERR_NOMEM, "JSON key set");
	for (;;) {
		const char *k;
		size_t vstart;

		if ((rc = read_value(tok, txt, len, &pos, &key)) != 0)
			goto out;
		if (!json_object_is_type(key, json_type_string)) {
			rc = vv_errf(VV_ERR_INTERNAL, "JSON re-read found a key that is no string");
			goto out;
		}
		k = json_object_get_string(key);
		/* json-c cuts keys at a NUL: "a\u0000b" would become "a" */
		if (strlen(k) != (size_t)json_object_get_string_len(key)) {
			d->nul = true;
			copy_name(d->key, sizeof d->key, k);
			copy_name(d->parent, sizeof d->parent, parent);
			rc = 1;
			goto out;
		}
		if (json_object_object_get_ex(seen, k, NULL)) {
			copy_name(d->key, sizeof d->key, k);
			copy_name(d->parent, sizeof d->parent, parent);
			rc = 1;
			goto out;
		}
		if (json_object_object_add(seen, k, NULL) != 0) {
			rc = vv_errf(VV_ERR_NOMEM, "JSON key set");
			goto out;
		}
		pos = skip_ws(txt, len, pos);
		if (pos >= len || txt[pos] != ':') {
			rc = vv_errf(VV_ERR_INTERNAL, "JSON re-read found no ':' at byte %zu", pos);
			goto out;
		}
		pos = skip_ws(txt, len, pos + 1);
		vstart = pos;
		if ((rc = read_value(tok, txt, len, &pos, &val)) != 0)
			goto out;
		json_object_put(val);
		val = NULL;
		if (levels > 1 && txt[vstart] == '{' &&
		    (rc = unique_level(tok, txt + vstart, pos - vstart, levels - 1, k, d)) != 0)
			goto out;
		json_object_put(key);
		key = NULL;
		pos = skip_ws(txt, len, pos);
		if (pos < len && txt[pos] == '}')
			break;
		if (pos >= len || txt[pos] != ',') {
			rc = vv_errf(VV_ERR_INTERNAL, "JSON re-read found no ',' at byte %zu", pos);
			goto out;
		}
		pos = skip_ws(txt, len, pos + 1);
	}
out:
	json_object_put(key);
	json_object_put(val);
	json_object_put(seen);
	return rc;
}

int vv_json_unique_keys(const char *buf, size_t len, int levels, struct vv_json_dup *dup)
{
	struct json_tokener *tok;
	int rc;

	memset(dup, 0, sizeof *dup);
	if (len > VV_JSON_MAX_BYTES || len > INT_MAX || levels < 1 || levels > VV_JSON_MAX_DEPTH)
		return vv_errf(VV_ERR_INVAL, "JSON key check: bad length or levels");
	if ((tok = json_tokener_new_ex(VV_JSON_MAX_DEPTH)) == NULL)
		return vv_errf(VV_ERR_NOMEM, "a JSON tokener");
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_ALLOW_TRAILING_CHARS |
				    JSON_TOKENER_VALIDATE_UTF8);
	rc = unique_level(tok, buf, len, levels, NULL, dup);
	json_tokener_free(tok);
	return rc;
}
