/* The interpretation job: read and normalize the VCF, score the variants in
 * chunks, grade them, and hand each to the output sink in input order. */
#include "interpret_int.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { VV_DEFAULT_CHUNK = 1024, VV_MAX_CHUNK = 1 << 20 };

int vv_out_format_parse(const char *name, enum vv_out_format *out)
{
	if (!strcmp(name, "vcf"))
		*out = VV_OUT_VCF;
	else if (!strcmp(name, "json"))
		*out = VV_OUT_JSON;
	else if (!strcmp(name, "tsv"))
		*out = VV_OUT_TSV;
	else
		return vv_errf(VV_ERR_INVAL, "unknown output format '%s' (vcf, json or tsv)", name);
	return 0;
}

int vv_interpret_put(struct vv_job *j, const char *s, size_t n)
{
	if (j->o->max_out && j->out->len + n > j->o->max_out)
		return vv_errf(VV_ERR_RANGE, "the output would exceed %zu bytes", j->o->max_out);
	return vv_sbuf_append(j->out, s, n);
}

int vv_interpret_putf(struct vv_job *j, const char *fmt, ...)
{
	char buf[4096];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof buf)
		return vv_errf(VV_ERR_INTERNAL, "output line longer than %zu bytes", sizeof buf);
	return vv_interpret_put(j, buf, (size_t)n);
}

/* The variant's class by the shape of its alleles (whatever its status):
 * one base for one base, n for n, different lengths; symbolic alleles,
 * breakends, '*' and '.' are "other". */
static const char *vv_class_of(const vv_vcf_var *v)
{
	const char *ref = vv_vcf_var_ref(v), *alt = vv_vcf_var_alt(v);
	size_t rl = strlen(ref), al = strlen(alt);

	if (!rl || !al || strspn(ref, "ACGTN") != rl || strspn(alt, "ACGTN") != al)
		return "other";
	if (rl == al)
		return rl == 1 ? "snv" : "mnv";
	/* VCF indels share their first base; a delins does not */
	return ref[0] == alt[0] ? "indel" : "complex";
}

/* Reads the whole input once, without the reference (records are split but
 * the FASTA is not touched), for the progress total and so that the output
 * header can count every input warning.  *scan is left at its end. */
static int vv_scan_input(const void *vcf, size_t len, const struct vv_vcf_limits *lim,
			 vv_vcf_reader **scan, uint64_t *total)
{
	vv_vcf_var *v = NULL;
	int rc;

	*total = 0;
	if ((rc = vv_vcf_open_mem(vcf, len, lim, NULL, scan)) != 0)
		return rc;
	while ((rc = vv_vcf_next(*scan, &v)) == 1) {
		(*total)++;
		vv_vcf_var_free(v);
	}
	return rc;
}

/* Cuts the window of variant i (reqs[i]) or says why it cannot be scored.
 * An indel's window is shortened so that the window with the allele
 * substituted still fits the scorer's. */
static const char *vv_window_for(struct vv_job *j, const vv_vcf_var *v, vv_ref_window *w,
				 struct vv_score_req *q, int *err)
{
	size_t width = vv_scorer_window(j->sc);
	size_t rl = strlen(vv_vcf_var_ref(v)), al = strlen(vv_vcf_var_alt(v));
	int rc;

	if (al > rl) {
		if (al - rl >= width)
			return "allele_exceeds_window";
		width -= al - rl;
	}
	if (rl > width)
		return "allele_exceeds_window";
	if ((rc = vv_vcf_var_window(j->ref, v, width, w)) != 0) {
		if (rc == VV_ERR_RANGE)
			return "contig_shorter_than_allele";
		*err = rc;
		return NULL;
	}
	/* N (a reference gap, an IUPAC code, padding of a short contig) is
	 * sequence the model has not seen in training: no score */
	if (w->n_count > 0)
		return "n_in_window";
	*q = (struct vv_score_req){w->seq, w->len, w->offset, vv_vcf_var_ref(v), vv_vcf_var_alt(v)};
	return NULL;
}

struct vv_chunk {
	vv_vcf_var **vars;
	struct vv_item *items;
	vv_ref_window *wins;
	struct vv_score_req *reqs;
	struct vv_score_result *res;
	size_t *req_of;     /* item -> request index, or SIZE_MAX */
	size_t cap, n;
};

static void vv_chunk_clear(struct vv_chunk *c)
{
	for (size_t i = 0; i < c->n; i++) {
		vv_vcf_var_free(c->vars[i]);
		c->vars[i] = NULL;
	}
	c->n = 0;
}

static void vv_chunk_done(struct vv_chunk *c)
{
	vv_chunk_clear(c);
	for (size_t i = 0; c->wins && i < c->cap; i++)
		vv_ref_window_done(&c->wins[i]);
	free(c->vars);
	free(c->items);
	free(c->wins);
	free(c->reqs);
	free(c->res);
	free(c->req_of);
}

static int vv_chunk_init(struct vv_chunk *c, size_t cap)
{
	memset(c, 0, sizeof *c);
	c->cap = cap;
	c->vars = calloc(cap, sizeof *c->vars);
	c->items = calloc(cap, sizeof *c->items);
	c->wins = calloc(cap, sizeof *c->wins);
	c->reqs = calloc(cap, sizeof *c->reqs);
	c->res = calloc(cap, sizeof *c->res);
	c->req_of = calloc(cap, sizeof *c->req_of);
	if (!c->vars || !c->items || !c->wins || !c->reqs || !c->res || !c->req_of)
		return VV_ERR_NOMEM;
	for (size_t i = 0; i < cap; i++)
		vv_ref_window_init(&c->wins[i]);
	return 0;
}

/* Scores, grades and writes the variants of one chunk. */
static int vv_chunk_run(struct vv_job *j, struct vv_chunk *c)
{
	size_t nreq = 0;
	int rc = 0;

	for (size_t i = 0; i < c->n; i++) {
		const vv_vcf_var *v = c->vars[i];
		enum vv_vcf_status st = vv_vcf_var_status(v);
		struct vv_item *it = &c->items[i];

		*it = (struct vv_item){v, vv_class_of(v), NULL, VV_SCORE_NONE, NAN, VV_EV_NONE};
		c->req_of[i] = SIZE_MAX;
		if (!vv_vcf_status_scorable(st)) {
			it->status = vv_vcf_status_name(st);
			continue;
		}
		it->status = vv_window_for(j, v, &c->wins[nreq], &c->reqs[nreq], &rc);
		if (rc)
			return rc;
		if (!it->status)
			c->req_of[i] = nreq++;
	}
	if ((rc = vv_scorer_score(j->sc, c->reqs, nreq, c->res)) != 0)
		return rc;
	for (size_t i = 0; i < c->n; i++) {
		struct vv_item *it = &c->items[i];
		if (c->req_of[i] != SIZE_MAX) {
			const struct vv_score_result *r = &c->res[c->req_of[i]];
			it->status = r->reason ? r->reason : "scored";
			it->method = r->method;
			it->score = r->score;
			if (!r->reason)
				it->ev = vv_policy_classify(j->p, r->method == VV_SCORE_MASKED_LLR ?
						VV_CLASS_SNV : VV_CLASS_INDEL, r->score);
		}
		if (isnan(it->score)) {
			j->sum.not_scored++;
		} else {
			j->sum.scored++;
			j->sum.evidence[it->ev]++;
		}
		j->sum.variants++;
		if ((rc = j->sink->variant(j, it)) != 0)
			return rc;
	}
	vv_chunk_clear(c);
	return 0;
}

static int vv_job_loop(struct vv_job *j, size_t chunk, uint64_t total)
{
	struct vv_chunk c;
	vv_vcf_var *v = NULL;
	int rc, more = 1;

	if ((rc = vv_chunk_init(&c, chunk)) != 0)
		goto out;
	while (more) {
		while (c.n < chunk && (rc = vv_vcf_next(j->r, &v)) == 1)
			c.vars[c.n++] = v;
		if (rc < 0)
			goto out;
		more = rc == 1;
		if ((rc = vv_chunk_run(j, &c)) != 0)
			goto out;
		if (j->o->progress)
			j->o->progress(j->o->progress_ctx, j->sum.variants, total);
	}
out:
	vv_chunk_done(&c);
	return rc;
}

int vv_interpret_run(vv_scorer *sc, vv_ref *ref, const vv_policy *p, const void *vcf, size_t len,
		     const struct vv_interpret_opts *opts, vv_sbuf *out,
		     struct vv_interpret_summary *sum)
{
	struct vv_interpret_opts o = {0};
	struct vv_job j;
	uint64_t total = 0;
	size_t chunk;
	double t0 = vv_seconds(), e0 = vv_scorer_engine_seconds(sc);
	int rc;

	if (opts)
		o = *opts;
	if (!o.format)
		o.format = VV_OUT_VCF;
	chunk = o.chunk ? o.chunk : VV_DEFAULT_CHUNK;
	if (chunk > VV_MAX_CHUNK)
		return vv_errf(VV_ERR_INVAL, "chunk of %zu variants is over %d", chunk, VV_MAX_CHUNK);
	memset(&j, 0, sizeof j);
	j.sc = sc;
	j.mi = vv_model_get_info(vv_scorer_model(sc));
	j.ref = ref;
	j.p = p;
	j.o = &o;
	j.out = out;
	j.first = 1;
	j.sink = o.format == VV_OUT_JSON ? &vv_interpret_sink_json :
		 o.format == VV_OUT_TSV ? &vv_interpret_sink_tsv : &vv_interpret_sink_vcf;
	if ((rc = vv_ref_md5(ref, j.ref_md5)) != 0)
		goto out;
	if ((rc = vv_scan_input(vcf, len, o.limits, &j.scan, &total)) != 0)
		goto out;
	if ((rc = vv_vcf_open_mem(vcf, len, o.limits, ref, &j.r)) != 0)
		goto out;
	if ((rc = j.sink->begin(&j)) != 0 || (rc = vv_job_loop(&j, chunk, total)) != 0)
		goto out;
	j.sum.records = vv_vcf_records(j.r);
	j.sum.warnings = vv_vcf_warnings_total(j.r);
	j.sum.total_seconds = vv_seconds() - t0;
	j.sum.engine_seconds = vv_scorer_engine_seconds(sc) - e0;
	rc = j.sink->end(&j);
out:
	vv_vcf_writer_free(j.w);
	vv_vcf_close(j.r);
	vv_vcf_close(j.scan);
	if (rc) {
		vv_sbuf_wipe(out);
	} else if (sum) {
		*sum = j.sum;
	}
	return rc;
}
