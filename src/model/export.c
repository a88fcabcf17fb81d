/* Writes a safetensors checkpoint again with its F16/BF16 tensors as F32:
 * what `model import` stores, so that the workers map every weight in place. */
#include "model_int.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Elements converted per write: bounds the extra memory whatever the
 * tensor's size. */
#define VV_EXPORT_CHUNK ((size_t)1 << 20)

static bool is_float(enum vv_st_dtype d)
{
	return d == VV_ST_F32 || d == VV_ST_F16 || d == VV_ST_BF16;
}

/* Bytes tensor t takes in the written file. */
static size_t out_bytes(const struct vv_st_tensor *t)
{
	return is_float(t->dtype) ? t->nelem * sizeof(float) : t->nbytes;
}

/* Float tensors first, then the others (copied as they are), so that every
 * F32 tensor starts 4-byte aligned: runs the statements with t bound to
 * each tensor in the written file's order. */
#define FOR_EACH_OUT(st, t, ...)                                                                            \
	for (int pass_ = 0; pass_ < 2; pass_++)                                                              \
		for (size_t i_ = 0; i_ < (st)->n; i_++) {                                                    \
			const struct vv_st_tensor *t = &(st)->t[i_];                                         \
			if (is_float(t->dtype) != (pass_ == 0))                                              \
				continue;                                                                    \
			__VA_ARGS__                                                                          \
		}

/* The header of the written file, padded with spaces so that the data
 * starts 8-byte aligned (as the safetensors writers do). */
static int build_header(const struct vv_st *st, struct json_object *meta, char **out, size_t *len)
{
	struct json_object *root = json_object_new_object();
	const char *txt;
	size_t off = 0, n, pad;
	int rc = 0;

	*out = NULL;
	if (!root)
		return vv_errf(VV_ERR_NOMEM, "safetensors header");
	if (meta)
		json_object_object_add(root, "__metadata__", json_object_get(meta));
	FOR_EACH_OUT(st, t, {
		struct json_object *e = json_object_new_object(), *shape = json_object_new_array(),
				   *offs = json_object_new_array();
		size_t nb = out_bytes(t);
		if (!e || !shape || !offs) {
			json_object_put(e);
			json_object_put(shape);
			json_object_put(offs);
			rc = vv_errf(VV_ERR_NOMEM, "safetensors header");
			goto out;
		}
		json_object_object_add(e, "dtype", json_object_new_string(
			is_float(t->dtype) ? "F32" : vv_model_st_dtype_name(t->dtype)));
		for (int d = 0; d < t->rank; d++)
			json_object_array_add(shape, json_object_new_int64((int64_t)t->shape[d]));
		json_object_object_add(e, "shape", shape);
		json_object_array_add(offs, json_object_new_int64((int64_t)off));
		json_object_array_add(offs, json_object_new_int64((int64_t)(off + nb)));
		json_object_object_add(e, "data_offsets", offs);
		json_object_object_add(root, t->name, e);
		off += nb;
	})
	txt = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (!txt) {
		rc = vv_errf(VV_ERR_NOMEM, "safetensors header");
		goto out;
	}
	n = strlen(txt);
	pad = (8 - (8 + n) % 8) % 8;
	if (!(*out = malloc(8 + n + pad))) {
		rc = vv_errf(VV_ERR_NOMEM, "safetensors header");
		goto out;
	}
	for (int i = 0; i < 8; i++)
		(*out)[i] = (char)(uint8_t)((uint64_t)(n + pad) >> (8 * i));
	memcpy(*out + 8, txt, n);
	memset(*out + 8 + n, ' ', pad);
	*len = 8 + n + pad;
out:
	json_object_put(root);
	return rc;
}

/* Writes bytes to the file and the hash. */
static int put(struct vv_outfile *f, vv_sha256 *h, const void *p, size_t n)
{
	int rc;

	vv_sha256_update(h, p, n);
	if ((rc = vv_outfile_write(f, p, n)) != 0)
		return vv_errf(rc, "%s: %s", f->path, strerror(errno));
	return 0;
}

/* Writes tensor t as little-endian F32, a chunk at a time. */
static int put_f32(struct vv_outfile *f, vv_sha256 *h, const struct vv_st_tensor *t, uint8_t *buf)
{
	size_t esize = t->nbytes / (t->nelem ? t->nelem : 1);

	for (size_t at = 0; at < t->nelem; at += VV_EXPORT_CHUNK) {
		struct vv_st_tensor part = *t;
		float *fl = (float *)(void *)buf;
		int rc;

		part.nelem = t->nelem - at < VV_EXPORT_CHUNK ? t->nelem - at : VV_EXPORT_CHUNK;
		part.data = t->data + at * esize;
		vv_model_st_to_f32(&part, fl);
		for (size_t i = 0; i < part.nelem; i++) {
			uint32_t u;
			memcpy(&u, &fl[i], 4);
			buf[4 * i] = (uint8_t)u;
			buf[4 * i + 1] = (uint8_t)(u >> 8);
			buf[4 * i + 2] = (uint8_t)(u >> 16);
			buf[4 * i + 3] = (uint8_t)(u >> 24);
		}
		if ((rc = put(f, h, buf, part.nelem * 4)) != 0)
			return rc;
	}
	return 0;
}

int vv_model_write_f32(const char *src, const char *dst, char sha256[65])
{
	struct vv_st st = {0};
	struct vv_outfile f;
	struct json_object *hdr = NULL, *meta = NULL;
	vv_sha256 *h = NULL;
	uint8_t *map = NULL, *buf = NULL, dig[32];
	char *head = NULL;
	size_t map_len = 0, head_len = 0;
	struct stat sb;
	bool open_out = false;
	int fd = -1, rc;

	if ((fd = open(src, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &sb) != 0) {
		rc = vv_errf(errno == ENOENT ? VV_ERR_NOTFOUND : VV_ERR_IO, "%s: %s", src, strerror(errno));
		goto out;
	}
	if (!S_ISREG(sb.st_mode) || sb.st_size < 8 || (uint64_t)sb.st_size > SIZE_MAX) {
		rc = vv_errf(VV_ERR_MODEL_FORMAT, "%s: not a safetensors file", src);
		goto out;
	}
	map_len = (size_t)sb.st_size;
	if ((map = mmap(NULL, map_len, PROT_READ, MAP_PRIVATE, fd, 0)) == MAP_FAILED) {
		map = NULL;
		rc = vv_errf(VV_ERR_IO, "%s: mmap: %s", src, strerror(errno));
		goto out;
	}
	if ((rc = vv_model_st_parse(map, map_len, &st)) != 0) {
		(void)vv_err_prefix(rc, "%s", src);
		goto out;
	}
	/* The parse validated the header; read it again for __metadata__,
	 * which the tensor list does not keep. */
	{
		uint64_t hlen = 0;
		for (int i = 7; i >= 0; i--)
			hlen = (hlen << 8) | map[i];
		if ((rc = vv_json_parse((const char *)map + 8, (size_t)hlen, "safetensors header", &hdr)) != 0)
			goto out;
		(void)json_object_object_get_ex(hdr, "__metadata__", &meta);
	}
	{
		size_t total = 0;
		FOR_EACH_OUT(&st, t, {
			for (int d = 0; d < t->rank; d++)
				if (t->shape[d] > INT64_MAX) {
					rc = vv_errf(VV_ERR_RANGE, "%s: tensor '%s': shape[%d] too large", src, t->name, d);
					goto out;
				}
			if (is_float(t->dtype) && t->nelem > SIZE_MAX / 4) {
				rc = vv_errf(VV_ERR_RANGE, "%s: tensor '%s' too large", src, t->name);
				goto out;
			}
			if (vv_size_add(total, out_bytes(t), &total) != 0 || total > INT64_MAX) {
				rc = vv_errf(VV_ERR_RANGE, "%s: tensors too large", src);
				goto out;
			}
		})
	}
	{
		/* Nothing to convert: the bytes as they are, so that the copy
		 * keeps the SHA-256 the model is published (and cited) with. */
		bool as_is = true;
		for (size_t i = 0; i < st.n; i++)
			if ((is_float(st.t[i].dtype) && st.t[i].dtype != VV_ST_F32) ||
			    (st.t[i].dtype == VV_ST_F32 && (size_t)(st.t[i].data - map) % 4 != 0))
				as_is = false;
		if (!as_is && (rc = build_header(&st, meta, &head, &head_len)) != 0)
			goto out;
	}
	if (!(buf = malloc(VV_EXPORT_CHUNK * sizeof(float))) || !(h = vv_sha256_new())) {
		rc = vv_errf(VV_ERR_NOMEM, "%s", dst);
		goto out;
	}
	if ((rc = vv_outfile_open(&f, dst, 0600, 0)) != 0) {
		rc = vv_err_prefix(rc, "%s", dst);
		goto out;
	}
	open_out = true;
	if (!head) {
		if ((rc = put(&f, h, map, map_len)) != 0)
			goto out;
	} else {
		if ((rc = put(&f, h, head, head_len)) != 0)
			goto out;
		FOR_EACH_OUT(&st, t, {
			rc = is_float(t->dtype) ? put_f32(&f, h, t, buf) : put(&f, h, t->data, t->nbytes);
			if (rc != 0)
				goto out;
		})
	}
	open_out = false;
	if ((rc = vv_outfile_commit(&f, false)) != 0) {
		rc = vv_err_prefix(rc, "%s", dst);
		goto out;
	}
	vv_sha256_final(h, dig);
	h = NULL;
	if (sha256)
		vv_hex(dig, sizeof dig, sha256);
out:
	if (open_out)
		vv_outfile_abort(&f, false);
	vv_sha256_free(h);
	free(buf);
	free(head);
	json_object_put(hdr);
	vv_model_st_done(&st);
	if (map)
		munmap(map, map_len);
	if (fd >= 0)
		close(fd);
	return rc;
}
