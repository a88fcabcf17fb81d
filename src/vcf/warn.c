/* Input warnings (kept per reader and per variant, counted by kind) and
 * errors that name the line or record and field. */
#include "vcf_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void vv_vcf_wvec_done(struct vv_wvec *v)
{
	free(v->w);
	v->w = NULL;
	v->n = v->cap = 0;
}

static int wvec_push(struct vv_wvec *v, const vv_vcf_warning *w)
{
	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 8;
		vv_vcf_warning *p = realloc(v->w, cap * sizeof *p);
		if (!p)
			return VV_ERR_NOMEM;
		v->w = p;
		v->cap = cap;
	}
	v->w[v->n++] = *w;
	return 0;
}

static const char *const vv_warn_names[VV_VCF_W_NKINDS] = {
	[VV_VCF_W_HEADER] = "HEADER",
	[VV_VCF_W_HEADER_DROPPED] = "HEADER_DROPPED",
	[VV_VCF_W_RESERVED] = "RESERVED",
	[VV_VCF_W_UNDECLARED] = "UNDECLARED",
	[VV_VCF_W_TO_MISSING] = "TO_MISSING",
	[VV_VCF_W_CHANGED] = "CHANGED",
	[VV_VCF_W_VALUE] = "VALUE",
	[VV_VCF_W_COUNT] = "COUNT",
	[VV_VCF_W_SYNTAX] = "SYNTAX",
	[VV_VCF_W_ORDER] = "ORDER",
	[VV_VCF_W_CONTIG_NAME] = "CONTIG_NAME",
	[VV_VCF_W_FORMAT_END] = "FILE_FORMAT",
	[VV_VCF_W_ALLELE] = "ALLELE",
};

const char *vv_vcf_warn_name(enum vv_vcf_warn kind)
{
	if ((int)kind <= 0 || (int)kind >= VV_VCF_W_NKINDS || !vv_warn_names[kind])
		return "UNKNOWN";
	return vv_warn_names[kind];
}

static int warn_v(vv_vcf_reader *r, struct vv_rec *rec, uint64_t line, enum vv_vcf_warn kind,
		  const char *field, const char *fmt, va_list ap)
{
	vv_vcf_warning w;
	int rc = 0;

	memset(&w, 0, sizeof w);
	w.line = line;
	w.kind = kind;
	snprintf(w.field, sizeof w.field, "%s", field);
	vsnprintf(w.message, sizeof w.message, fmt, ap);
	r->wtotal++;
	if ((int)kind > 0 && (int)kind < VV_VCF_W_NKINDS)
		r->wcount[kind]++;
	if (r->warn.n < r->lim.max_warnings)
		rc = wvec_push(&r->warn, &w);
	if (!rc && rec && rec->warn.n < 64)
		rc = wvec_push(&rec->warn, &w);
	return rc;
}

int vv_vcf_warnf(vv_vcf_reader *r, struct vv_rec *rec, uint64_t line, enum vv_vcf_warn kind,
		 const char *field, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = warn_v(r, rec, line, kind, field, fmt, ap);
	va_end(ap);
	return rc;
}

int vv_vcf_warn_once(vv_vcf_reader *r, struct vv_rec *rec, const char *key, uint64_t line,
		     enum vv_vcf_warn kind, const char *field, const char *fmt, ...)
{
	va_list ap;
	int rc;

	if (vv_vcf_nameset_has(&r->warned, key))
		return 0;
	/* each undeclared name also grows htslib's header: bound them, so
	 * that memory does not grow with a file of ever new names */
	if (kind == VV_VCF_W_UNDECLARED && ++r->nundeclared > r->lim.max_undeclared)
		return vv_vcf_rec_errf(r, VV_ERR_VCF_LIMIT, field,
				       "more than %u names without a header line (the limit max_undeclared)",
				       r->lim.max_undeclared);
	if ((rc = vv_vcf_nameset_add(&r->warned, key)) != 0)
		return rc;
	va_start(ap, fmt);
	rc = warn_v(r, rec, line, kind, field, fmt, ap);
	va_end(ap);
	return rc;
}

int vv_vcf_rec_errf(const vv_vcf_reader *r, int err, const char *field, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return vv_errf(err, "%s %llu, field %s: %s", r->kind == VV_VCF_IN_BCF ? "record" : "line",
		       (unsigned long long)vv_vcf_reader_where(r), field, msg);
}
