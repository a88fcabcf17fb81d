/* safetensors: parses and validates the header of a checkpoint image. */
#include "model_int.h"

#include <json-c/json.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

static const struct {
	const char *name;
	enum vv_st_dtype dtype;
	size_t size;
} vv_st_dtypes[] = {
	{"BOOL", VV_ST_BOOL, 1}, {"U8", VV_ST_U8, 1}, {"I8", VV_ST_I8, 1},
	{"F8_E5M2", VV_ST_F8_E5M2, 1}, {"F8_E4M3", VV_ST_F8_E4M3, 1},
	{"F8_E8M0", VV_ST_F8_E8M0, 1}, {"I16", VV_ST_I16, 2}, {"U16", VV_ST_U16, 2},
	{"F16", VV_ST_F16, 2}, {"BF16", VV_ST_BF16, 2}, {"I32", VV_ST_I32, 4},
	{"U32", VV_ST_U32, 4}, {"F32", VV_ST_F32, 4}, {"F64", VV_ST_F64, 8},
	{"I64", VV_ST_I64, 8}, {"U64", VV_ST_U64, 8}, {"C64", VV_ST_C64, 8},
};
#define VV_ST_NDTYPES (sizeof vv_st_dtypes / sizeof vv_st_dtypes[0])

const char *vv_model_st_dtype_name(enum vv_st_dtype d)
{
	for (size_t i = 0; i < VV_ST_NDTYPES; i++)
		if (vv_st_dtypes[i].dtype == d)
			return vv_st_dtypes[i].name;
	return "?";
}

/* Refuses a key given twice in the header: a tensor named twice, or a key
 * repeated inside one entry.  json-c keeps the last of repeated keys without
 * a word, which would make the file mean what its last entry says while
 * other readers may take the first. */
static int vv_st_unique_keys(const char *txt, size_t len)
{
	struct vv_json_dup d;
	int rc = vv_json_unique_keys(txt, len, 2, &d);

	if (rc <= 0)
		return rc;
	if (d.nul)
		return d.parent[0] ? vv_errf(VV_ERR_MODEL_FORMAT, "safetensors: tensor '%s': a key holds a NUL character", d.parent)
				   : vv_errf(VV_ERR_MODEL_FORMAT, "safetensors: a tensor name holds a NUL character");
	if (d.parent[0])
		return vv_errf(VV_ERR_MODEL_FORMAT, "safetensors: tensor '%s': key '%s' given twice", d.parent, d.key);
	if (strcmp(d.key, "__metadata__") == 0)
		return vv_errf(VV_ERR_MODEL_FORMAT, "safetensors: __metadata__ is given twice in the header");
	return vv_errf(VV_ERR_MODEL_FORMAT, "safetensors: tensor '%s' is named twice in the header", d.key);
}

/* Reads a non-negative JSON integer no larger than max; false if o is
 * not one. */
static bool vv_st_uint(struct json_object *o, uint64_t max, uint64_t *v)
{
	int64_t x;

	if (!json_object_is_type(o, json_type_int))
		return false;
	x = json_object_get_int64(o);
	if (x < 0 || (uint64_t)x > max)
		return false;
	*v = (uint64_t)x;
	return true;
}

static int vv_st_cmp_name(const void *a, const void *b)
{
	return strcmp(((const struct vv_st_tensor *)a)->name, ((const struct vv_st_tensor *)b)->name);
}

static int vv_st_cmp_data(const void *a, const void *b)
{
	const struct vv_st_tensor *x = *(const struct vv_st_tensor *const *)a;
	const struct vv_st_tensor *y = *(const struct vv_st_tensor *const *)b;

	if (x->data != y->data)
		return x->data < y->data ? -1 : 1;
	return x->nbytes < y->nbytes ? -1 : x->nbytes > y->nbytes;
}

/* Fills one tensor from its header entry. */
static int vv_st_entry(const char *name, struct json_object *e, const uint8_t *data,
		       size_t data_len, struct vv_st_tensor *t)
{
	struct json_object *dt, *shape, *offs;
	const char *s;
	size_t esize = 0, n = 1, nb;
	uint64_t b, end, dim;

	if (strlen(name) > VV_ST_MAX_NAME)
		return vv_errf(VV_ERR_MODEL_FORMAT, "safetensors: tensor name longer than %d bytes",
			       VV_ST_MAX_NAME);
	/* Names reach error messages: no control characters. */
	for (const char *p = name; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return vv_errf(VV_ERR_MODEL_FORMAT, "safetensors: a tensor name holds a control character");
	if (!json_object_is_type(e, json_type_object))
		return vv_errf(VV_ERR_MODEL_FORMAT, "safetensors: tensor '%s': entry is not an object", name);
	if (!json_object_object_get_ex(e, "dtype", &dt) || !json_object_is_type(dt, json_type_string))
		return vv_errf(VV_ERR_MODEL_FORMAT, "safetensors: tensor '%s': missing or non-string dtype", name);
	s = json_object_get_string(dt);
	for (size_t i = 0; i < VV_ST_NDTYPES; i++) {
		if (strcmp(s, vv_st_dtypes[i].name) == 0) {
			t->dtype = vv_st_dtypes[i].dtype;
			esize = vv_st_dtypes[i].size;
		}
	}
	if (!esize)
		return vv_errf(VV_ERR_MODEL_FORMAT, "safetensors: tensor '%s': unknown dtype", name);
	if (!json_object_object_get_ex(e, "shape", &shape) || !json_object_is_type(shape, json_type_array))
		return vv_errf(VV_ERR_MODEL_FORMAT, "safetensors: tensor '%s': missing or non-array shape", name);
	if (json_object_array_length(shape) > VV_ST_MAX_RANK)
		return vv_errf(VV_ERR_MODEL_FORMAT, "safetensors: tensor '%s': rank above %d", name,
			       VV_ST_MAX_RANK);
	t->rank = (int)json_object_array_length(shape);
	for (int i = 0; i < t->rank; i++) {
		if (!vv_st_uint(json_object_array_get_idx(shape, (size_t)i), SIZE_MAX, &dim))
			return vv_errf(VV_ERR_MODEL_FORMAT,
				       "safetensors: tensor '%s': shape[%d] is not a non-negative integer", name, i);
		t->shape[i] = (size_t)dim;
		if (vv_size_mul(n, (size_t)dim, &n) != 0)
			return vv_errf(VV_ERR_MODEL_FORMAT, "safetensors: tensor '%s': shape overflows", name);
	}
	t->nelem = n;
	if (vv_size_mul(n, esize, &nb) != 0)
		return vv_errf(VV_ERR_MODEL_FORMAT, "safetensors: tensor '%s': byte size overflows", name);
	if (!json_object_object_get_ex(e, "data_offsets", &offs) ||
	    !json_object_is_type(offs, json_type_array) || json_object_array_length(offs) != 2 ||
	    !vv_st_uint(json_object_array_get_idx(offs, 0), data_len, &b) ||
	    !vv_st_uint(json_object_array_get_idx(offs, 1), data_len, &end))
		return vv_errf(VV_ERR_MODEL_FORMAT,
			       "safetensors: tensor '%s': data_offsets must be two integers inside the data (%zu bytes)",
			       name, data_len);
	if (end < b)
		return vv_errf(VV_ERR_MODEL_FORMAT, "safetensors: tensor '%s': data_offsets end before begin", name);
	if (end - b != nb)
		return vv_errf(VV_ERR_MODEL_FORMAT,
			       "safetensors: tensor '%s': data_offsets span %llu bytes, shape and dtype need %zu",
			       name, (unsigned long long)(end - b), nb);
	t->data = data + b;
	t->nbytes = nb;
	if ((t->name = strdup(name)) == NULL)
		return VV_ERR_NOMEM;
	return 0;
}

int vv_model_st_parse(const uint8_t *buf, size_t len, struct vv_st *st)
{
	struct json_object *root = NULL;
	struct vv_st_tensor **order = NULL;
	uint64_t hlen = 0;
	const uint8_t *data;
	size_t data_len, cap, pos;
	int rc;

	memset(st, 0, sizeof *st);
	if (len < 8)
		return vv_errf(VV_ERR_MODEL_FORMAT, "safetensors: file of %zu bytes has no header length", len);
	for (int i = 7; i >= 0; i--)
		hlen = (hlen << 8) | buf[i];
	if (hlen > VV_ST_MAX_HEADER)
		return vv_errf(VV_ERR_MODEL_FORMAT, "safetensors: header length %llu above the %u-byte limit",
			       (unsigned long long)hlen, VV_ST_MAX_HEADER);
	if (hlen < 2 || hlen > len - 8)
		return vv_errf(VV_ERR_MODEL_FORMAT,
			       "safetensors: header length %llu does not fit the %zu-byte file",
			       (unsigned long long)hlen, len);
	if ((rc = vv_json_parse((const char *)buf + 8, (size_t)hlen, "safetensors header", &root)) != 0)
		return rc == VV_ERR_FORMAT || rc == VV_ERR_RANGE ? VV_ERR_MODEL_FORMAT : rc;
	if ((rc = vv_st_unique_keys((const char *)buf + 8, (size_t)hlen)) != 0)
		goto out;
	data = buf + 8 + hlen;
	data_len = len - 8 - (size_t)hlen;
	cap = (size_t)json_object_object_length(root);
	if (cap && (st->t = calloc(cap, sizeof *st->t)) == NULL) {
		rc = VV_ERR_NOMEM;
		goto out;
	}
	{
		struct json_object_iterator it = json_object_iter_begin(root);
		struct json_object_iterator end = json_object_iter_end(root);
		for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
			const char *name = json_object_iter_peek_name(&it);
			struct json_object *e = json_object_iter_peek_value(&it);
			if (strcmp(name, "__metadata__") == 0) {
				if (!json_object_is_type(e, json_type_object)) {
					rc = vv_errf(VV_ERR_MODEL_FORMAT, "safetensors: __metadata__ is not an object");
					goto out;
				}
				continue;
			}
			if (st->n >= cap) {
				rc = vv_errf(VV_ERR_INTERNAL, "safetensors: header iteration overran");
				goto out;
			}
			if ((rc = vv_st_entry(name, e, data, data_len, &st->t[st->n])) != 0) {
				free(st->t[st->n].name);
				st->t[st->n].name = NULL;
				goto out;
			}
			st->n++;
		}
	}
	/* Data areas: contiguous from 0, no overlap, ending at the file's end. */
	if (st->n && (order = malloc(st->n * sizeof *order)) == NULL) {
		rc = VV_ERR_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < st->n; i++)
		order[i] = &st->t[i];
	if (st->n)
		qsort(order, st->n, sizeof *order, vv_st_cmp_data);
	pos = 0;
	for (size_t i = 0; i < st->n; i++) {
		size_t b = (size_t)(order[i]->data - data);
		if (b != pos) {
			rc = vv_errf(VV_ERR_MODEL_FORMAT, "safetensors: tensor '%s': data at offset %zu %s", order[i]->name,
				     b, b < pos ? "overlaps the tensor before it" : "leaves a gap after the tensor before it");
			goto out;
		}
		pos = b + order[i]->nbytes;
	}
	if (pos != data_len) {
		rc = vv_errf(VV_ERR_MODEL_FORMAT, "safetensors: tensors cover %zu of %zu data bytes", pos, data_len);
		goto out;
	}
	/* Names are unique: vv_st_unique_keys refused a repeated one. */
	if (st->n)
		qsort(st->t, st->n, sizeof *st->t, vv_st_cmp_name);
out:
	free(order);
	json_object_put(root);
	if (rc)
		vv_model_st_done(st);
	return rc;
}

void vv_model_st_done(struct vv_st *st)
{
	if (!st)
		return;
	for (size_t i = 0; i < st->n; i++)
		free(st->t[i].name);
	free(st->t);
	st->t = NULL;
	st->n = 0;
}

const struct vv_st_tensor *vv_model_st_find(const struct vv_st *st, const char *name)
{
	size_t lo = 0, hi = st->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(name, st->t[mid].name);
		if (c == 0)
			return &st->t[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}
