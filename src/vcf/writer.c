/* The writer: one record per normalized variant, split INFO/FORMAT values,
 * caller INFO fields, a short sort buffer, BGZF blocks to an fd or secure
 * memory. */
#include "vcf_int.h"

#include <ctype.h>
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* Records closer than VV_VCF_SORT_WINDOW (vcf.h) to the newest are held
 * back for sorting, as bcftools norm does (its --site-win). */
#define VV_SORT_WIN VV_VCF_SORT_WINDOW
#define VV_MAX_INFO 64

/* The BGZF end-of-file block (SAM specification, section 4.1.2). */
static const uint8_t vv_bgzf_eof[28] = {
	0x1f, 0x8b, 0x08, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0x06, 0x00, 0x42, 0x43,
	0x02, 0x00, 0x1b, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};

struct held {
	int rid;
	int64_t pos;
	char *s;
	size_t l;
};

struct decl {
	char id[64];
	enum vv_vcf_type type;
};

struct vv_vcf_writer {
	vv_vcf_reader *r;
	bcf_hdr_t *hdr;
	int fd;
	vv_sbuf mem;
	char *blk;              /* uncompressed bytes waiting for a block */
	size_t blk_len;
	uint8_t *cblk;          /* one compressed block */
	struct decl decl[VV_MAX_INFO];
	int ndecl;
	int header_done, finished, broken;
	const vv_vcf_reader *scan; /* whose warning counts the header reports */
	struct held *held;
	size_t nheld, mheld;
	int held_rid;
	int64_t held_max;
	kstring_t line;
	/* scratch: Integer/Float values (counted in elements), strings
	 * (counted in bytes), and split output */
	void *arr;
	int narr;
	void *sarr;
	int nsarr;
	void *arr2;
	int narr2;
};

static int emit_block(vv_vcf_writer *w)
{
	size_t clen = BGZF_MAX_BLOCK_SIZE;
	int rc;

	if (w->blk_len == 0)
		return 0;
	if (bgzf_compress(w->cblk, &clen, w->blk, w->blk_len, 6) != 0)
		return vv_errf(VV_ERR_INTERNAL, "output: BGZF compression failed");
	vv_wipe(w->blk, w->blk_len);
	w->blk_len = 0;
	if (w->fd >= 0)
		rc = vv_write_all(w->fd, w->cblk, clen);
	else
		rc = vv_sbuf_append(&w->mem, w->cblk, clen);
	if (rc == VV_ERR_IO)
		return vv_errf(rc, "output: write failed");
	return rc;
}

static int out_bytes(vv_vcf_writer *w, const char *p, size_t n)
{
	int rc;

	while (n) {
		size_t room = BGZF_BLOCK_SIZE - w->blk_len, k = n < room ? n : room;
		memcpy(w->blk + w->blk_len, p, k);
		w->blk_len += k;
		p += k;
		n -= k;
		if (w->blk_len == BGZF_BLOCK_SIZE && (rc = emit_block(w)) != 0)
			return rc;
	}
	return 0;
}

static const char *type_text(enum vv_vcf_type t)
{
	switch (t) {
	case VV_VCF_FLAG: return "Flag";
	case VV_VCF_INTEGER: return "Integer";
	case VV_VCF_FLOAT: return "Float";
	case VV_VCF_STRING: return "String";
	default: return NULL;
	}
}

static int declare(vv_vcf_writer *w, const char *id, const char *number, enum vv_vcf_type type,
		   const char *desc)
{
	kstring_t s = {0, 0, NULL};
	int rc = 0;

	bcf_hdr_remove(w->hdr, BCF_HL_INFO, id);
	if (ksprintf(&s, "##INFO=<ID=%s,Number=%s,Type=%s,Description=\"%s\">", id, number, type_text(type), desc) < 0)
		return VV_ERR_NOMEM;
	if (bcf_hdr_append(w->hdr, s.s) != 0 || bcf_hdr_sync(w->hdr) != 0)
		rc = vv_errf(VV_ERR_INTERNAL, "output: htslib refused the INFO/%s header line", id);
	free(s.s);
	if (rc)
		return rc;
	snprintf(w->decl[w->ndecl].id, sizeof w->decl[w->ndecl].id, "%s", id);
	w->decl[w->ndecl].type = type;
	w->ndecl++;
	return 0;
}

int vv_vcf_writer_new(vv_vcf_reader *r, int fd, size_t max_out, vv_vcf_writer **out)
{
	vv_vcf_writer *w;
	int rc;

	*out = NULL;
	if (!r || !r->hdr)
		return vv_errf(VV_ERR_INVAL, "output: no reader");
	/* memory output lives in sodium memory */
	if (fd < 0 && (rc = vv_core_init()) != 0)
		return rc;
	if (!(w = calloc(1, sizeof *w)))
		return VV_ERR_NOMEM;
	w->r = r;
	w->hdr = r->hdr;
	w->fd = fd;
	w->held_rid = -1;
	vv_sbuf_init(&w->mem, fd >= 0 ? 0 : max_out);
	if (!(w->blk = malloc(BGZF_BLOCK_SIZE)) || !(w->cblk = malloc(BGZF_MAX_BLOCK_SIZE))) {
		vv_vcf_writer_free(w);
		return VV_ERR_NOMEM;
	}
	rc = declare(w, "VV_INPUT_WARN", ".", VV_VCF_STRING,
		     "Problems of the input record, as KIND:FIELD (never values). TO_MISSING: htslib replaced "
		     "a value that does not fit its declared type by missing; CHANGED: htslib stored another "
		     "value than the text; see ##varvault_input_warnings");
	if (rc) {
		vv_vcf_writer_free(w);
		return rc;
	}
	*out = w;
	return 0;
}

int vv_vcf_writer_header_line(vv_vcf_writer *w, const char *line)
{
	size_t i;

	if (!w || !line || w->header_done)
		return vv_errf(VV_ERR_INVAL, "output: header lines go before the first record");
	if (strncmp(line, "##", 2) != 0 || strchr(line, '\n'))
		return vv_errf(VV_ERR_INVAL, "output: a header line is ##key=value on one line");
	for (i = 2; isalnum((unsigned char)line[i]) || line[i] == '_'; i++)
		;
	if (i == 2 || line[i] != '=' || line[i + 1] == '\0')
		return vv_errf(VV_ERR_INVAL, "output: a header line is ##key=value");
	if (strncmp(line + 2, "INFO=", 5) == 0 || strncmp(line + 2, "FORMAT=", 7) == 0 ||
	    strncmp(line + 2, "contig=", 7) == 0 || strncmp(line + 2, "fileformat=", 11) == 0)
		return vv_errf(VV_ERR_INVAL, "output: use vv_vcf_writer_declare_info for definitions");
	if (bcf_hdr_append(w->hdr, line) != 0)
		return vv_errf(VV_ERR_INVAL, "output: htslib refused the header line");
	return 0;
}

int vv_vcf_writer_declare_info(vv_vcf_writer *w, const char *id, const char *number, enum vv_vcf_type type,
			       const char *description)
{
	if (!w || !id || !number || !description || w->header_done)
		return vv_errf(VV_ERR_INVAL, "output: INFO definitions go before the first record");
	if (strlen(id) >= 64 || !vv_vcf_key_ok(id, strlen(id), 0) || !type_text(type))
		return vv_errf(VV_ERR_INVAL, "output: INFO id or type not valid");
	if (!(strcmp(number, "A") == 0 || strcmp(number, "R") == 0 || strcmp(number, "G") == 0 ||
	      strcmp(number, ".") == 0 || (number[0] && strspn(number, "0123456789") == strlen(number))))
		return vv_errf(VV_ERR_INVAL, "output: INFO/%s Number not valid", id);
	if ((type == VV_VCF_FLAG) != (strcmp(number, "0") == 0))
		return vv_errf(VV_ERR_INVAL, "output: INFO/%s: a Flag has Number=0 and only a Flag has", id);
	if (strpbrk(description, "\"\n\r\\"))
		return vv_errf(VV_ERR_INVAL, "output: INFO/%s description with a quote, backslash or newline", id);
	for (int i = 0; i < w->ndecl; i++)
		if (strcmp(w->decl[i].id, id) == 0)
			return vv_errf(VV_ERR_EXISTS, "output: INFO/%s declared twice", id);
	if (w->ndecl == VV_MAX_INFO)
		return vv_errf(VV_ERR_RANGE, "output: more than %d INFO definitions", VV_MAX_INFO);
	return declare(w, id, number, type, description);
}

int vv_vcf_writer_warnings_from(vv_vcf_writer *w, const vv_vcf_reader *scan)
{
	if (w->header_done)
		return vv_errf(VV_ERR_INVAL, "output: the header is already written");
	if (!scan->at_end)
		return vv_errf(VV_ERR_INVAL, "output: the warning scan has not reached the end of its input");
	w->scan = scan;
	return 0;
}

static int write_header(vv_vcf_writer *w)
{
	vv_vcf_reader *r = w->r;
	kstring_t s = {0, 0, NULL};
	int rc = 0;

	w->header_done = 1;
	if (r->ref) {
		char md5[33];
		if ((rc = vv_ref_md5(r->ref, md5)) != 0)
			return rc;
		rc = ksprintf(&s, "##varvault_normalization=<Method=\"split multi-allelic records, trim and left-align "
				  "indels, check REF (the rules of bcftools norm -m-any -f)\",Reference=\"%s\",ReferenceMD5=%s>",
			      vv_ref_name(r->ref), md5) < 0;
	} else {
		rc = ksprintf(&s, "##varvault_normalization=<Method=\"split multi-allelic records only; no reference, "
				  "REF not checked\">") < 0;
	}
	if (rc || bcf_hdr_append(w->hdr, s.s) != 0) {
		rc = vv_errf(VV_ERR_INTERNAL, "output: header line refused");
		goto out;
	}
	for (int k = 1; k < VV_VCF_W_NKINDS; k++) {
		uint64_t count = w->scan ? w->scan->wcount[k] : r->wcount[k];
		if (!count)
			continue;
		s.l = 0;
		if (ksprintf(&s, "##varvault_input_warnings=<Kind=%s,Count=%llu,Description=\"%s\">", vv_vcf_warn_name(k),
			     (unsigned long long)count,
			     k == VV_VCF_W_TO_MISSING ? "htslib replaced values that do not fit their declared type by missing (.)" :
			     k == VV_VCF_W_CHANGED ? "htslib stored another value than the input text" :
			     "input problems kept as they are; see INFO/VV_INPUT_WARN") < 0 ||
		    bcf_hdr_append(w->hdr, s.s) != 0) {
			rc = vv_errf(VV_ERR_INTERNAL, "output: header line refused");
			goto out;
		}
	}
	if (bcf_hdr_sync(w->hdr) != 0) {
		rc = vv_errf(VV_ERR_INTERNAL, "output: header sync failed");
		goto out;
	}
	s.l = 0;
	if (bcf_hdr_format(w->hdr, 0, &s) != 0) {
		rc = VV_ERR_NOMEM;
		goto out;
	}
	rc = out_bytes(w, s.s, s.l);
out:
	free(s.s);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Splitting one ALT out of a multi-allelic record                      */

/* htslib's bcf_get_* getters answer -4 when they cannot allocate; their
 * other negative answers (tag not in the header or the record, type clash)
 * mean there is nothing to copy.  The two must not be confused: a tag
 * dropped because memory ran out would silently change the output. */
#define VV_HTS_GET_NOMEM (-4)

/* Picks the fields of `which` (indexes into a comma list) from str into
 * out.  *found is false when str has fewer fields than an index asks for
 * (the caller then keeps the value whole).  Returns 0 or VV_ERR_NOMEM. */
static int pick_fields(const char *str, const int *which, int nwhich, kstring_t *out, bool *found)
{
	*found = false;
	out->l = 0;
	for (int k = 0; k < nwhich; k++) {
		const char *p = str;
		int i = 0;
		while (i < which[k] && (p = strchr(p, ',')) != NULL)
			p++, i++;
		if (!p)
			return 0;
		size_t n = strcspn(p, ",");
		if ((k && kputc(',', out) < 0) || kputsn(p, n, out) < 0)
			return VV_ERR_NOMEM;
	}
	if (!out->s && kputs("", out) < 0)
		return VV_ERR_NOMEM;
	*found = true;
	return 0;
}

/* The value indexes an A/R/G field keeps for ALT ialt (1-based); G as
 * diploid unless haploid. */
static int keep_index(int vl, int ialt, int haploid, int *which)
{
	switch (vl) {
	case BCF_VL_A: which[0] = ialt - 1; return 1;
	case BCF_VL_R: which[0] = 0; which[1] = ialt; return 2;
	case BCF_VL_G:
		if (haploid) {
			which[0] = 0;
			which[1] = ialt;
			return 2;
		}
		which[0] = 0;
		which[1] = bcf_alleles2gt(0, ialt);
		which[2] = bcf_alleles2gt(ialt, ialt);
		return 3;
	default:
		return 0;
	}
}

static int split_info(vv_vcf_writer *w, bcf1_t *src, bcf1_t *dst, int ialt)
{
	const bcf_hdr_t *h = w->hdr;
	kstring_t str = {0, 0, NULL};
	int rc = 0;

	for (int i = 0; i < src->n_info && !rc; i++) {
		bcf_info_t *in = &src->d.info[i];
		const char *key;
		int type, vl, which[3], nw, n;
		bool picked;

		if (!in->vptr)
			continue;
		key = bcf_hdr_int2id(h, BCF_DT_ID, in->key);
		type = bcf_hdr_id2type(h, BCF_HL_INFO, in->key);
		vl = bcf_hdr_id2length(h, BCF_HL_INFO, in->key);
		if (type == BCF_HT_FLAG) {
			if (bcf_update_info_flag(h, dst, key, NULL, 1) < 0)
				rc = VV_ERR_NOMEM;
			continue;
		}
		if (type == BCF_HT_INT || type == BCF_HT_REAL) {
			n = bcf_get_info_values(h, src, key, &w->arr, &w->narr, type);
			if (n == VV_HTS_GET_NOMEM) {
				rc = VV_ERR_NOMEM;
				break;
			}
			if (n < 0) {
				rc = vv_errf(VV_ERR_VCF_FIELD, "output: INFO/%s of the record at position %lld cannot be read back",
					     key, (long long)src->pos + 1);
				break;
			}
			nw = keep_index(vl, ialt, 0, which);
			if (nw && n > 1) {
				if (type == BCF_HT_INT) {
					int32_t *a = w->arr, v[3];
					for (int k = 0; k < nw; k++)
						v[k] = which[k] < n ? a[which[k]] : bcf_int32_missing;
					memcpy(a, v, sizeof(int32_t) * (size_t)nw);
				} else {
					float *a = w->arr, v[3];
					for (int k = 0; k < nw; k++)
						if (which[k] < n)
							v[k] = a[which[k]];
						else
							bcf_float_set_missing(v[k]);
					memcpy(a, v, sizeof(float) * (size_t)nw);
				}
				n = nw;
			}
			if (bcf_update_info(h, dst, key, w->arr, n, type) < 0)
				rc = VV_ERR_NOMEM;
			continue;
		}
		n = bcf_get_info_string(h, src, key, &w->sarr, &w->nsarr);
		if (n == VV_HTS_GET_NOMEM) {
			rc = VV_ERR_NOMEM;
			break;
		}
		if (n < 0)
			continue;
		nw = keep_index(vl, ialt, 0, which);
		picked = false;
		if (nw && strcmp((char *)w->sarr, ".") != 0 &&
		    (rc = pick_fields(w->sarr, which, nw, &str, &picked)) != 0)
			break;
		if (bcf_update_info_string(h, dst, key, picked ? str.s : (char *)w->sarr) < 0)
			rc = VV_ERR_NOMEM;
	}
	vv_vcf_ks_wipe_free(&str);
	return rc;
}

static int split_gt(vv_vcf_writer *w, bcf1_t *src, bcf1_t *dst, int ialt)
{
	int n = bcf_get_genotypes(w->hdr, src, &w->arr, &w->narr);
	int32_t *g = w->arr;

	if (n == VV_HTS_GET_NOMEM)
		return VV_ERR_NOMEM;
	if (n <= 0)
		return 0;
	for (int i = 0; i < n; i++) {
		if (g[i] == bcf_int32_vector_end || bcf_gt_is_missing(g[i]) || bcf_gt_allele(g[i]) == 0)
			continue;
		g[i] = (bcf_gt_allele(g[i]) == ialt ? bcf_gt_unphased(1) : bcf_gt_unphased(0)) | bcf_gt_is_phased(g[i]);
	}
	return bcf_update_genotypes(w->hdr, dst, g, n) < 0 ? VV_ERR_NOMEM : 0;
}

static int split_fmt_numeric(vv_vcf_writer *w, bcf1_t *src, bcf1_t *dst, const char *key, int type, int vl,
			     int ialt)
{
	int nsmpl = bcf_hdr_nsamples(w->hdr), n, per, nall = src->n_allele;
	int nw_max = 0, which[3];
	size_t sz = 4;

	n = bcf_get_format_values(w->hdr, src, key, &w->arr, &w->narr, type);
	if (n == VV_HTS_GET_NOMEM)
		return VV_ERR_NOMEM;
	if (n < 0 || nsmpl == 0)
		return 0;
	per = n / nsmpl;
	if (!keep_index(vl, ialt, 0, which)) /* not split: copy */
		return bcf_update_format(w->hdr, dst, key, w->arr, n, type) < 0 ? VV_ERR_NOMEM : 0;
	nw_max = vl == BCF_VL_A ? 1 : vl == BCF_VL_R ? 2 : 3;
	{
		/* hts_resize counts in int */
		size_t need = (size_t)nsmpl * (size_t)nw_max * sz;
		if (need > INT_MAX)
			return vv_errf(VV_ERR_RANGE, "output: FORMAT/%s too large to split", key);
		if (hts_resize(uint8_t, (int)need, &w->narr2, &w->arr2, 0) < 0)
			return VV_ERR_NOMEM;
	}
	for (int s = 0; s < nsmpl; s++) {
		int cnt = 0, nw;
		uint8_t *in = (uint8_t *)w->arr + (size_t)s * (size_t)per * sz;
		uint8_t *outp = (uint8_t *)w->arr2 + (size_t)s * (size_t)nw_max * sz;
		for (; cnt < per; cnt++) {
			uint32_t x;
			memcpy(&x, in + (size_t)cnt * sz, 4);
			if (type == BCF_HT_INT ? (int32_t)x == bcf_int32_vector_end : x == bcf_float_vector_end)
				break;
		}
		nw = keep_index(vl, ialt, vl == BCF_VL_G && cnt == nall, which);
		for (int k = 0; k < nw_max; k++) {
			uint32_t x;
			if (k < nw && cnt > 1 && which[k] < cnt)
				memcpy(&x, in + (size_t)which[k] * sz, 4);
			else if (k == 0 || (k < nw && cnt > 1))
				x = type == BCF_HT_INT ? (uint32_t)bcf_int32_missing : bcf_float_missing;
			else
				x = type == BCF_HT_INT ? (uint32_t)bcf_int32_vector_end : bcf_float_vector_end;
			memcpy(outp + (size_t)k * sz, &x, 4);
		}
	}
	return bcf_update_format(w->hdr, dst, key, w->arr2, nsmpl * nw_max, type) < 0 ? VV_ERR_NOMEM : 0;
}

static int split_fmt_string(vv_vcf_writer *w, bcf1_t *src, bcf1_t *dst, const char *key, int vl, int ialt)
{
	int nsmpl = bcf_hdr_nsamples(w->hdr), which[3], nw, n, rc = 0;
	char **vals = NULL;
	int nvals = 0;
	kstring_t *parts = NULL;
	const char **ptrs = NULL;

	n = bcf_get_format_values(w->hdr, src, key, &w->sarr, &w->nsarr, BCF_HT_STR);
	if (n == VV_HTS_GET_NOMEM)
		return VV_ERR_NOMEM;
	if (n < 0 || nsmpl == 0)
		return 0;
	nw = keep_index(vl, ialt, 0, which);
	if (!nw)
		return bcf_update_format(w->hdr, dst, key, w->sarr, n, BCF_HT_STR) < 0 ? VV_ERR_NOMEM : 0;
	n = bcf_get_format_string(w->hdr, src, key, &vals, &nvals);
	if (n == VV_HTS_GET_NOMEM)
		return VV_ERR_NOMEM;
	if (n < 0)
		return 0;
	parts = calloc((size_t)nsmpl, sizeof *parts);
	ptrs = calloc((size_t)nsmpl, sizeof *ptrs);
	if (!parts || !ptrs) {
		rc = VV_ERR_NOMEM;
		goto out;
	}
	for (int s = 0; s < nsmpl; s++) {
		int cnt = 1;
		for (const char *p = vals[s]; *p; p++)
			cnt += *p == ',';
		bool picked = false;

		nw = keep_index(vl, ialt, vl == BCF_VL_G && cnt == src->n_allele, which);
		if (strcmp(vals[s], ".") != 0 && (rc = pick_fields(vals[s], which, nw, &parts[s], &picked)) != 0)
			goto out;
		if (!picked) {
			parts[s].l = 0;
			if (kputs(".", &parts[s]) < 0) {
				rc = VV_ERR_NOMEM;
				goto out;
			}
		}
		ptrs[s] = parts[s].s;
	}
	if (bcf_update_format_string(w->hdr, dst, key, ptrs, nsmpl) < 0)
		rc = VV_ERR_NOMEM;
out:
	if (parts)
		for (int s = 0; s < nsmpl; s++)
			vv_vcf_ks_wipe_free(&parts[s]);
	free(parts);
	free(ptrs);
	if (vals) {
		/* per-sample FORMAT strings: patient data, wiped as everything the
		 * writer owns */
		if (nvals > 0)
			vv_wipe(vals[0], (size_t)nvals);
		free(vals[0]);
		free(vals);
	}
	return rc;
}

static int split_format(vv_vcf_writer *w, bcf1_t *src, bcf1_t *dst, int ialt)
{
	int rc = 0;

	dst->n_sample = src->n_sample;
	for (int i = 0; i < src->n_fmt && !rc; i++) {
		bcf_fmt_t *f = &src->d.fmt[i];
		const char *key = bcf_hdr_int2id(w->hdr, BCF_DT_ID, f->id);
		int type = bcf_hdr_id2type(w->hdr, BCF_HL_FMT, f->id);
		int vl = bcf_hdr_id2length(w->hdr, BCF_HL_FMT, f->id);
		int dup = 0;

		if (!f->p)
			continue;
		for (int j = 0; j < i; j++)
			dup |= src->d.fmt[j].id == f->id;
		if (dup) /* a repeated key (warned on input): htslib reads only the first */
			continue;
		if (strcmp(key, "GT") == 0)
			rc = split_gt(w, src, dst, ialt);
		else if (type == BCF_HT_INT || type == BCF_HT_REAL)
			rc = split_fmt_numeric(w, src, dst, key, type, vl, ialt);
		else
			rc = split_fmt_string(w, src, dst, key, vl, ialt);
	}
	return rc;
}

/* A new record carrying ALT ialt only (bcftools -m-any semantics). */
static int split_record(vv_vcf_writer *w, bcf1_t *src, int ialt, bcf1_t **out)
{
	bcf1_t *dst = bcf_init();
	const char *al[2];
	int rc;

	*out = NULL;
	if (!dst)
		return VV_ERR_NOMEM;
	dst->rid = src->rid;
	dst->pos = src->pos;
	dst->qual = src->qual;
	al[0] = src->d.allele[0];
	al[1] = src->d.allele[ialt];
	if (bcf_update_id(w->hdr, dst, src->d.id ? src->d.id : ".") < 0 || bcf_update_alleles(w->hdr, dst, al, 2) < 0 ||
	    (src->d.n_flt && bcf_update_filter(w->hdr, dst, src->d.flt, src->d.n_flt) < 0)) {
		vv_vcf_bcf_wipe_destroy(dst);
		return VV_ERR_NOMEM;
	}
	if ((rc = split_info(w, src, dst, ialt)) != 0 || (rc = split_format(w, src, dst, ialt)) != 0) {
		vv_vcf_bcf_wipe_destroy(dst);
		return rc;
	}
	*out = dst;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Writing                                                              */

static int flush_held(vv_vcf_writer *w, int64_t below, int all)
{
	size_t k = 0;
	int rc = 0;

	while (k < w->nheld && (all || w->held[k].pos < below)) {
		if (!rc)
			rc = out_bytes(w, w->held[k].s, w->held[k].l);
		vv_wipe(w->held[k].s, w->held[k].l);
		free(w->held[k].s);
		k++;
	}
	if (k) {
		memmove(w->held, w->held + k, (w->nheld - k) * sizeof *w->held);
		w->nheld -= k;
	}
	return rc;
}

static int hold(vv_vcf_writer *w, int rid, int64_t pos, const kstring_t *line, uint64_t line_no,
		uint64_t rec_no)
{
	size_t at;
	int rc;

	if (rid != w->held_rid) {
		if ((rc = flush_held(w, 0, 1)) != 0)
			return rc;
		w->held_rid = rid;
		w->held_max = pos;
	}
	/* the window is in bases, so a file of many records at one place
	 * would make it hold them all: bound it, so that memory does not grow
	 * with the number of records */
	if (w->nheld >= VV_VCF_SORT_MAX_HELD)
		return vv_errf(VV_ERR_VCF_LIMIT, "%s %llu: more than %d records within %d bases of each other "
			       "(the output's sort window holds at most that many)", line_no ? "line" : "record",
			       (unsigned long long)(line_no ? line_no : rec_no), VV_VCF_SORT_MAX_HELD, VV_SORT_WIN);
	if ((rc = vv_array_grow((void **)&w->held, &w->mheld, w->nheld, sizeof *w->held, 64)) != 0)
		return rc;
	/* stable: after every held record at the same or a smaller position */
	for (at = w->nheld; at > 0 && w->held[at - 1].pos > pos; at--)
		;
	memmove(w->held + at + 1, w->held + at, (w->nheld - at) * sizeof *w->held);
	w->held[at].rid = rid;
	w->held[at].pos = pos;
	w->held[at].l = line->l;
	if (!(w->held[at].s = malloc(line->l ? line->l : 1))) {
		memmove(w->held + at, w->held + at + 1, (w->nheld - at) * sizeof *w->held);
		return VV_ERR_NOMEM;
	}
	memcpy(w->held[at].s, line->s, line->l);
	w->nheld++;
	if (pos > w->held_max)
		w->held_max = pos;
	return flush_held(w, w->held_max - VV_SORT_WIN + 1, 0);
}

static const struct decl *find_decl(const vv_vcf_writer *w, const char *id)
{
	for (int i = 0; i < w->ndecl; i++)
		if (strcmp(w->decl[i].id, id) == 0)
			return &w->decl[i];
	return NULL;
}

/* VV_INPUT_WARN: KIND:FIELD items, unique, with field names reduced to
 * characters that cannot break the INFO syntax. */
static int input_warn_value(const struct vv_rec *rec, kstring_t *s)
{
	s->l = 0;
	for (size_t i = 0; i < rec->warn.n; i++) {
		char item[96];
		size_t n;
		int seen = 0;

		n = (size_t)snprintf(item, sizeof item, "%s:%s", vv_vcf_warn_name(rec->warn.w[i].kind), rec->warn.w[i].field);
		if (n >= sizeof item)
			n = sizeof item - 1;
		for (size_t k = 0; k < n; k++)
			if (!(isalnum((unsigned char)item[k]) || strchr("_./:#", item[k])))
				item[k] = '_';
		for (const char *p = s->s; p && !seen && (p = strstr(p, item)) != NULL; p++)
			seen = (p == s->s || p[-1] == ',') && (p[n] == ',' || p[n] == '\0');
		if (seen)
			continue;
		if ((s->l && kputc(',', s) < 0) || kputsn(item, n, s) < 0)
			return VV_ERR_NOMEM;
	}
	return 0;
}

static int set_infos(vv_vcf_writer *w, bcf1_t *b, const struct vv_rec *rec, const vv_vcf_info *info, size_t n)
{
	kstring_t s = {0, 0, NULL};
	int rc = 0;

	/* input values of the ids we declared are replaced, never mixed */
	for (int i = 0; i < w->ndecl; i++)
		(void)bcf_update_info(w->hdr, b, w->decl[i].id, NULL, 0, BCF_HT_INT);
	if (rec->warn.n) {
		if ((rc = input_warn_value(rec, &s)) != 0)
			goto out;
		if (bcf_update_info_string(w->hdr, b, "VV_INPUT_WARN", s.s) < 0) {
			rc = VV_ERR_NOMEM;
			goto out;
		}
	}
	for (size_t i = 0; i < n; i++) {
		const struct decl *d = info[i].id ? find_decl(w, info[i].id) : NULL;
		int r2;

		if (!d || strcmp(d->id, "VV_INPUT_WARN") == 0) {
			rc = vv_errf(VV_ERR_INVAL, "output: INFO/%s was not declared", info[i].id ? info[i].id : "(null)");
			goto out;
		}
		switch (d->type) {
		case VV_VCF_FLAG:
			r2 = bcf_update_info_flag(w->hdr, b, d->id, NULL, 1);
			break;
		case VV_VCF_INTEGER:
			if (!info[i].ints || !info[i].n || info[i].n > INT32_MAX) {
				rc = vv_errf(VV_ERR_INVAL, "output: INFO/%s needs ints", d->id);
				goto out;
			}
			r2 = bcf_update_info_int32(w->hdr, b, d->id, info[i].ints, (int)info[i].n);
			break;
		case VV_VCF_FLOAT:
			if (!info[i].floats || !info[i].n || info[i].n > INT32_MAX) {
				rc = vv_errf(VV_ERR_INVAL, "output: INFO/%s needs floats", d->id);
				goto out;
			}
			r2 = bcf_update_info_float(w->hdr, b, d->id, info[i].floats, (int)info[i].n);
			break;
		default:
			if (!info[i].str || strpbrk(info[i].str, ";\t\n\r") || !*info[i].str) {
				rc = vv_errf(VV_ERR_INVAL, "output: INFO/%s needs a non-empty string without ';', tab or newline",
					     d->id);
				goto out;
			}
			r2 = bcf_update_info_string(w->hdr, b, d->id, info[i].str);
			break;
		}
		if (r2 < 0) {
			rc = VV_ERR_NOMEM;
			goto out;
		}
	}
out:
	free(s.s);
	return rc;
}

static int build(vv_vcf_writer *w, const vv_vcf_var *v, bcf1_t **out)
{
	bcf1_t *src = v->rec->b, *b = NULL;
	const char *al[2] = {v->ref, v->alt};
	int rc;
	int32_t *end = NULL;
	int nend = 0, has_end;

	*out = NULL;
	if (v->rec->n_alts > 1) {
		if ((rc = split_record(w, src, v->alt_index, &b)) != 0)
			return rc;
	} else {
		if (!(b = bcf_dup(src)))
			return VV_ERR_NOMEM;
		if (bcf_unpack(b, BCF_UN_ALL) != 0) {
			vv_vcf_bcf_wipe_destroy(b);
			return VV_ERR_NOMEM;
		}
	}
	has_end = bcf_get_info_int32(w->hdr, b, "END", &end, &nend);
	if (has_end == VV_HTS_GET_NOMEM) {
		rc = VV_ERR_NOMEM;
		goto out;
	}
	has_end = has_end == 1;
	b->pos = v->pos - 1;
	if (bcf_update_alleles(w->hdr, b, al, v->alt_index ? 2 : 1) < 0) {
		rc = VV_ERR_NOMEM;
		goto out;
	}
	/* INFO/END moves with the record, as bcftools norm does; a reference-only
	 * record (ALT '.') keeps its END although its REF is cut to one base
	 * (a gVCF-style block keeps its extent) */
	if (has_end && v->alt_index != 0 &&
	    (v->pos != v->rec->pos || strlen(v->ref) != strlen(src->d.allele[0]))) {
		end[0] = (int32_t)(b->pos + (int64_t)strlen(v->ref));
		if (bcf_update_info_int32(w->hdr, b, "END", end, 1) < 0) {
			rc = VV_ERR_NOMEM;
			goto out;
		}
	}
	rc = 0;
out:
	free(end);
	if (rc) {
		vv_vcf_bcf_wipe_destroy(b);
		return rc;
	}
	*out = b;
	return 0;
}

int vv_vcf_writer_write(vv_vcf_writer *w, const vv_vcf_var *v, const vv_vcf_info *info, size_t n)
{
	bcf1_t *b = NULL;
	int rc;

	if (!w || !v || (n && !info))
		return VV_ERR_INVAL;
	if (w->finished || w->broken)
		return vv_errf(VV_ERR_INVAL, "output: the writer is finished or failed");
	if (!w->header_done && (rc = write_header(w)) != 0)
		goto out;
	if ((rc = build(w, v, &b)) != 0)
		goto out;
	if ((rc = set_infos(w, b, v->rec, info, n)) != 0) {
		vv_vcf_bcf_wipe_destroy(b);
		if (rc == VV_ERR_INVAL)
			return rc; /* the caller's mistake; the output is intact */
		goto out;
	}
	w->line.l = 0;
	if (vcf_format(w->hdr, b, &w->line) != 0) {
		vv_vcf_bcf_wipe_destroy(b);
		rc = vv_errf(VV_ERR_INTERNAL, "output: htslib could not format the record of line %llu",
			     (unsigned long long)v->rec->line);
		goto out;
	}
	rc = hold(w, b->rid, b->pos, &w->line, v->rec->line, v->rec->index);
	vv_vcf_bcf_wipe_destroy(b);
out:
	if (rc)
		w->broken = 1;
	return rc;
}

int vv_vcf_writer_finish(vv_vcf_writer *w, vv_sbuf *out)
{
	int rc;

	if (!w || w->finished || w->broken)
		return vv_errf(VV_ERR_INVAL, "output: the writer is finished or failed");
	if ((w->fd < 0) != (out != NULL))
		return vv_errf(VV_ERR_INVAL, "output: pass a vv_sbuf for memory output and NULL for fd output");
	if (!w->header_done && (rc = write_header(w)) != 0)
		goto out;
	if ((rc = flush_held(w, 0, 1)) != 0 || (rc = emit_block(w)) != 0)
		goto out;
	if (w->fd >= 0)
		rc = vv_write_all(w->fd, vv_bgzf_eof, sizeof vv_bgzf_eof);
	else
		rc = vv_sbuf_append(&w->mem, vv_bgzf_eof, sizeof vv_bgzf_eof);
	if (rc)
		goto out;
	w->finished = 1;
	if (out) {
		*out = w->mem;
		vv_sbuf_init(&w->mem, 0);
	}
out:
	if (rc)
		w->broken = 1;
	return rc;
}

int vv_vcf_writer_flush(vv_vcf_writer *w, vv_sbuf *out)
{
	int rc;

	if (!w || w->finished || w->broken)
		return vv_errf(VV_ERR_INVAL, "output: the writer is finished or failed");
	if ((w->fd < 0) != (out != NULL))
		return vv_errf(VV_ERR_INVAL, "output: pass a vv_sbuf for memory output and NULL for fd output");
	if (!w->header_done && (rc = write_header(w)) != 0)
		goto out;
	if ((rc = emit_block(w)) != 0)
		goto out;
	if (out && w->mem.len) {
		if ((rc = vv_sbuf_append(out, w->mem.data, w->mem.len)) != 0)
			goto out;
		vv_sbuf_wipe(&w->mem);
	}
	rc = 0;
out:
	if (rc)
		w->broken = 1;
	return rc;
}

void vv_vcf_writer_free(vv_vcf_writer *w)
{
	if (!w)
		return;
	for (size_t k = 0; k < w->nheld; k++) {
		vv_wipe(w->held[k].s, w->held[k].l);
		free(w->held[k].s);
	}
	free(w->held);
	if (w->blk) {
		vv_wipe(w->blk, BGZF_BLOCK_SIZE);
		free(w->blk);
	}
	free(w->cblk);
	vv_sbuf_done(&w->mem);
	vv_vcf_ks_wipe_free(&w->line);
	if (w->arr) {
		vv_wipe(w->arr, (size_t)w->narr * 4);
		free(w->arr);
	}
	if (w->sarr) {
		vv_wipe(w->sarr, (size_t)w->nsarr);
		free(w->sarr);
	}
	if (w->arr2) {
		vv_wipe(w->arr2, (size_t)w->narr2);
		free(w->arr2);
	}
	free(w);
}
