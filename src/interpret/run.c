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

int vv_interpret_put(struct vv_job *j, struct vv_out *s, const char *str, size_t n)
{
	if (j->o->max_out && s->before + s->buf->len + n > j->o->max_out)
		return vv_errf(VV_ERR_RANGE, "the output would exceed %zu bytes", j->o->max_out);
	return vv_sbuf_append(s->buf, str, n);
}

int vv_interpret_putf(struct vv_job *j, struct vv_out *s, const char *fmt, ...)
{
	char buf[4096];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof buf)
		return vv_errf(VV_ERR_INTERNAL, "output line longer than %zu bytes", sizeof buf);
	return vv_interpret_put(j, s, buf, (size_t)n);
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

/* Scores and grades the variants of one chunk into c->items (no counts,
 * no output). */
static int vv_chunk_score(struct vv_job *j, struct vv_chunk *c)
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
		if (j->o->scores && !strcmp(it->cls, "snv")) {
			/* a table line exists only where the scorer scored this SNV
			 * in this same window: the score is the one it computes */
			double score;
			int got = vv_score_table_get(j->o->scores, vv_vcf_var_contig(v), vv_vcf_var_pos(v),
						     vv_vcf_var_ref(v), vv_vcf_var_alt(v), &score);
			if (got < 0)
				return got;
			if (got == 1) {
				it->status = "scored";
				it->method = VV_SCORE_MASKED_LLR;
				it->score = score;
				it->ev = vv_policy_classify(j->p, VV_CLASS_SNV, score);
				continue;
			}
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
	}
	return 0;
}

/* Counts the scored chunk's variants and hands them to every sink. */
static int vv_chunk_emit(struct vv_job *j, struct vv_chunk *c)
{
	int rc;

	for (size_t i = 0; i < c->n; i++) {
		struct vv_item *it = &c->items[i];
		if (isnan(it->score)) {
			j->sum.not_scored++;
		} else {
			j->sum.scored++;
			j->sum.evidence[it->ev]++;
		}
		j->sum.variants++;
		for (int f = 0; f < VV_OUT_NFORMATS; f++)
			if (j->outs[f].sink && (rc = j->outs[f].sink->variant(j, &j->outs[f], it)) != 0)
				return rc;
		j->written++;
	}
	return 0;
}

/* ---- chunked runs ---- */

struct vv_interpret_chunks {
	struct vv_job j;
	struct vv_interpret_opts o;
	struct vv_chunk c;
	vv_vcf_var *ahead;        /* first variant of the next chunk (read ahead) */
	size_t chunk;
	uint64_t total;           /* variants in the input (the scan) */
	uint64_t next;            /* index of the next chunk */
	uint64_t rescored;
	bool done, failed;
	double t0, e0;
	vv_sbuf pend[VV_OUT_NFORMATS]; /* headers made before chunk 0 (dropped when resuming) */
};

enum { VV_STATE_MAGIC = 0x53495656 /* "VVIS" */, VV_STATE_VERSION = 1 };

static void vv_put64(uint8_t **p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		(*p)[i] = (uint8_t)(v >> (8 * i));
	*p += 8;
}

static uint64_t vv_get64(const uint8_t **p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v |= (uint64_t)(*p)[i] << (8 * i);
	*p += 8;
	return v;
}

void vv_interpret_state_encode(const struct vv_interpret_state *st, uint8_t out[VV_INTERPRET_STATE_LEN])
{
	uint8_t *p = out;

	vv_put64(&p, (uint64_t)VV_STATE_MAGIC | (uint64_t)VV_STATE_VERSION << 32);
	vv_put64(&p, st->next_chunk);
	vv_put64(&p, st->chunk_variants);
	vv_put64(&p, st->formats);
	vv_put64(&p, st->variants);
	vv_put64(&p, st->scored);
	vv_put64(&p, st->not_scored);
	for (int e = 0; e <= VV_EV_BP4_STRONG; e++)
		vv_put64(&p, st->evidence[e]);
	for (int f = 0; f < VV_OUT_NFORMATS; f++)
		vv_put64(&p, st->out_bytes[f]);
}

int vv_interpret_state_decode(const uint8_t *buf, size_t len, struct vv_interpret_state *st)
{
	const uint8_t *p = buf;
	uint64_t head, ev = 0, fm;

	memset(st, 0, sizeof *st);
	if (!buf || len != VV_INTERPRET_STATE_LEN)
		return vv_errf(VV_ERR_FORMAT, "resume state: %zu bytes, not %d", len, VV_INTERPRET_STATE_LEN);
	head = vv_get64(&p);
	if (head != ((uint64_t)VV_STATE_MAGIC | (uint64_t)VV_STATE_VERSION << 32))
		return vv_errf(VV_ERR_FORMAT, "resume state: unknown magic or version");
	st->next_chunk = vv_get64(&p);
	st->chunk_variants = vv_get64(&p);
	fm = vv_get64(&p);
	st->variants = vv_get64(&p);
	st->scored = vv_get64(&p);
	st->not_scored = vv_get64(&p);
	for (int e = 0; e <= VV_EV_BP4_STRONG; e++)
		ev += st->evidence[e] = vv_get64(&p);
	for (int f = 0; f < VV_OUT_NFORMATS; f++)
		st->out_bytes[f] = vv_get64(&p);
	if (fm == 0 || (fm & ~(uint64_t)VV_OUT_ALL) || st->scored + st->not_scored != st->variants ||
	    ev != st->scored || st->scored > st->variants) {
		memset(st, 0, sizeof *st);
		return vv_errf(VV_ERR_FORMAT, "resume state: counts or formats do not add up");
	}
	st->formats = (uint32_t)fm;
	return 0;
}

void vv_interpret_chunk_init(struct vv_interpret_chunk *c)
{
	memset(c, 0, sizeof *c);
	for (int f = 0; f < VV_OUT_NFORMATS; f++)
		vv_sbuf_init(&c->out[f], 0);
}

void vv_interpret_chunk_done(struct vv_interpret_chunk *c)
{
	for (int f = 0; f < VV_OUT_NFORMATS; f++)
		vv_sbuf_done(&c->out[f]);
}

/* Points every format's output at bufs[f]. */
static void vv_point_outputs(struct vv_interpret_chunks *r, vv_sbuf *bufs)
{
	for (int f = 0; f < VV_OUT_NFORMATS; f++)
		r->j.outs[f].buf = &bufs[f];
}

/* Fills r->c with the next chunk's variants; *last when the input has no
 * variant after them. */
static int vv_fill_chunk(struct vv_interpret_chunks *r, bool *last)
{
	struct vv_chunk *c = &r->c;
	vv_vcf_var *v = NULL;
	int rc = 1;

	if (r->ahead) {
		c->vars[c->n++] = r->ahead;
		r->ahead = NULL;
	}
	while (c->n < r->chunk && (rc = vv_vcf_next(r->j.r, &v)) == 1)
		c->vars[c->n++] = v;
	if (rc < 0)
		return rc;
	if (rc == 0) {
		*last = true;
		return 0;
	}
	/* a full chunk: it is the last only if nothing follows */
	if ((rc = vv_vcf_next(r->j.r, &r->ahead)) < 0)
		return rc;
	*last = rc == 0;
	return 0;
}

/* The tail of a replay: the variants the VCF's sort window holds (vcf.h,
 * VV_VCF_SORT_WINDOW), in input order. */
struct vv_tail {
	vv_vcf_var **v;
	size_t n, cap;
	int64_t max;              /* largest position on the tail's contig */
};

static void vv_tail_drop_below(struct vv_tail *t, int64_t below)
{
	size_t k = 0;

	for (size_t i = 0; i < t->n; i++) {
		if (vv_vcf_var_pos(t->v[i]) < below)
			vv_vcf_var_free(t->v[i]);
		else
			t->v[k++] = t->v[i];
	}
	t->n = k;
}

/* Mirrors the writer's hold rule: a new contig releases everything; else
 * what lies VV_VCF_SORT_WINDOW - 1 or more before the largest position
 * goes.  Takes v. */
static int vv_tail_add(struct vv_tail *t, vv_vcf_var *v)
{
	int64_t pos = vv_vcf_var_pos(v);
	int rc;

	if (t->n && strcmp(vv_vcf_var_contig(t->v[0]), vv_vcf_var_contig(v)) != 0)
		vv_tail_drop_below(t, INT64_MAX);
	if (!t->n)
		t->max = pos;
	if (t->n >= VV_VCF_SORT_MAX_HELD) {
		vv_vcf_var_free(v);
		return vv_errf(VV_ERR_VCF_LIMIT, "more than %d records within %d bases of each other",
			       VV_VCF_SORT_MAX_HELD, VV_VCF_SORT_WINDOW);
	}
	if ((rc = vv_array_grow((void **)&t->v, &t->cap, t->n, sizeof *t->v, 16)) != 0) {
		vv_vcf_var_free(v);
		return rc;
	}
	t->v[t->n++] = v;
	if (pos > t->max)
		t->max = pos;
	vv_tail_drop_below(t, t->max - VV_VCF_SORT_WINDOW + 1);
	return 0;
}

/* Re-creates the state of a run that stopped after chunk st->next_chunk - 1:
 * the reader past those chunks' variants, the sinks' headers (dropped), and
 * the VCF writer's sort window, whose variants are scored again. */
static int vv_replay(struct vv_interpret_chunks *r, const struct vv_interpret_state *st)
{
	struct vv_job *j = &r->j;
	struct vv_tail t = {0};
	uint64_t skip;
	vv_vcf_var *v = NULL;
	struct vv_out *vcf = j->outs[VV_OUT_VCF - 1].sink ? &j->outs[VV_OUT_VCF - 1] : NULL;
	int rc = 0;

	if (st->formats != r->j.formats || st->chunk_variants != r->chunk ||
	    vv_size_mul(r->chunk, st->next_chunk, &(size_t){0}) != 0 ||
	    st->variants != st->next_chunk * r->chunk)
		return vv_errf(VV_ERR_INVAL, "resume state does not fit this run's formats or chunk size");
	for (int f = 0; f < VV_OUT_NFORMATS; f++)
		if (!j->outs[f].sink && st->out_bytes[f])
			return vv_errf(VV_ERR_INVAL, "resume state has output of a format this run lacks");
	for (skip = 0; skip < st->variants; skip++) {
		if ((rc = vv_vcf_next(j->r, &v)) < 0)
			goto out;
		if (rc == 0) {
			rc = vv_errf(VV_ERR_INVAL, "resume state: the input has fewer variants than its chunks");
			goto out;
		}
		if (vcf) {
			if ((rc = vv_tail_add(&t, v)) != 0)
				goto out;
		} else {
			vv_vcf_var_free(v);
		}
	}
	if ((rc = vv_vcf_next(j->r, &r->ahead)) < 0)
		goto out;
	if (rc == 0) {
		rc = vv_errf(VV_ERR_INVAL, "resume state: its last chunk was the input's last");
		goto out;
	}
	/* the held tail, scored again, in pieces of a chunk (scores do not
	 * depend on how they are batched) */
	for (size_t i = 0; i < t.n;) {
		while (r->c.n < r->chunk && i < t.n) {
			r->c.vars[r->c.n++] = t.v[i];
			t.v[i++] = NULL;
		}
		if ((rc = vv_chunk_score(j, &r->c)) != 0)
			goto out;
		for (size_t k = 0; k < r->c.n; k++)
			if ((rc = vcf->sink->replay(j, vcf, &r->c.items[k])) != 0)
				goto out;
		r->rescored += r->c.n;
		vv_chunk_clear(&r->c);
	}
	if (vcf && (rc = vcf->sink->cut(j, vcf)) != 0)
		goto out;
	j->sum.variants = st->variants;
	j->sum.scored = st->scored;
	j->sum.not_scored = st->not_scored;
	memcpy(j->sum.evidence, st->evidence, sizeof j->sum.evidence);
	j->written = st->variants;
	for (int f = 0; f < VV_OUT_NFORMATS; f++)
		j->outs[f].before = st->out_bytes[f];
	r->next = st->next_chunk;
	rc = 0;
out:
	for (size_t i = 0; i < t.n; i++)
		vv_vcf_var_free(t.v[i]);
	free(t.v);
	vv_chunk_clear(&r->c);
	return rc;
}

int vv_interpret_chunks_new(vv_scorer *sc, vv_ref *ref, const vv_policy *p, const void *vcf, size_t len,
			    const struct vv_interpret_opts *opts, unsigned formats,
			    const struct vv_interpret_state *resume, vv_interpret_chunks **out)
{
	static const struct vv_sink *const sinks[VV_OUT_NFORMATS] = {
		&vv_interpret_sink_vcf, &vv_interpret_sink_json, &vv_interpret_sink_tsv};
	vv_interpret_chunks *r;
	struct vv_job *j;
	int rc;

	*out = NULL;
	if (!formats || (formats & ~(unsigned)VV_OUT_ALL))
		return vv_errf(VV_ERR_INVAL, "no output format, or an unknown one");
	if (!(r = calloc(1, sizeof *r)))
		return VV_ERR_NOMEM;
	for (int f = 0; f < VV_OUT_NFORMATS; f++)
		vv_sbuf_init(&r->pend[f], 0);
	if (opts)
		r->o = *opts;
	r->chunk = r->o.chunk ? r->o.chunk : VV_DEFAULT_CHUNK;
	r->t0 = vv_seconds();
	r->e0 = vv_scorer_engine_seconds(sc);
	j = &r->j;
	j->sc = sc;
	j->mi = vv_model_get_info(vv_scorer_model(sc));
	j->ref = ref;
	j->p = p;
	j->o = &r->o;
	j->formats = formats;
	for (int f = 0; f < VV_OUT_NFORMATS; f++)
		if (formats & VV_OUT_BIT(f + 1))
			j->outs[f].sink = sinks[f];
	vv_point_outputs(r, r->pend);
	if (r->chunk > VV_MAX_CHUNK) {
		rc = vv_errf(VV_ERR_INVAL, "chunk of %zu variants is over %d", r->chunk, VV_MAX_CHUNK);
		goto out;
	}
	if ((rc = vv_chunk_init(&r->c, r->chunk)) != 0 ||
	    (rc = vv_ref_md5(ref, j->ref_md5)) != 0 ||
	    (rc = vv_scan_input(vcf, len, r->o.limits, &j->scan, &r->total)) != 0 ||
	    (rc = vv_vcf_open_mem(vcf, len, r->o.limits, ref, &j->r)) != 0)
		goto out;
	for (int f = 0; f < VV_OUT_NFORMATS; f++)
		if (j->outs[f].sink && (rc = j->outs[f].sink->begin(j, &j->outs[f])) != 0)
			goto out;
	if (resume && resume->next_chunk > 0) {
		/* the headers went out with chunk 0: drop them, and what the
		 * replay makes */
		if ((rc = vv_replay(r, resume)) != 0)
			goto out;
		for (int f = 0; f < VV_OUT_NFORMATS; f++)
			vv_sbuf_wipe(&r->pend[f]);
	}
out:
	if (rc) {
		vv_interpret_chunks_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

int vv_interpret_chunks_next(vv_interpret_chunks *r, struct vv_interpret_chunk *c)
{
	struct vv_job *j = &r->j;
	bool last = false;
	int rc;

	for (int f = 0; f < VV_OUT_NFORMATS; f++)
		vv_sbuf_wipe(&c->out[f]);
	if (r->failed)
		return vv_errf(VV_ERR_INVAL, "the run failed before");
	if (r->done)
		return 0;
	/* chunk 0 opens with the headers made at the start */
	for (int f = 0; f < VV_OUT_NFORMATS; f++) {
		if (r->pend[f].len && (rc = vv_sbuf_append(&c->out[f], r->pend[f].data, r->pend[f].len)) != 0)
			goto out;
		vv_sbuf_wipe(&r->pend[f]);
	}
	vv_point_outputs(r, c->out);
	if ((rc = vv_fill_chunk(r, &last)) != 0 || (rc = vv_chunk_score(j, &r->c)) != 0 ||
	    (rc = vv_chunk_emit(j, &r->c)) != 0)
		goto out;
	vv_chunk_clear(&r->c);
	if (last) {
		j->sum.records = vv_vcf_records(j->r);
		j->sum.warnings = vv_vcf_warnings_total(j->r);
		j->sum.total_seconds = vv_seconds() - r->t0;
		j->sum.engine_seconds = vv_scorer_engine_seconds(j->sc) - r->e0;
	}
	for (int f = 0; f < VV_OUT_NFORMATS; f++) {
		struct vv_out *s = &j->outs[f];
		if (!s->sink)
			continue;
		if ((rc = last ? s->sink->end(j, s) : s->sink->cut(j, s)) != 0)
			goto out;
		if (r->o.max_out && s->before + s->buf->len > r->o.max_out) {
			rc = vv_errf(VV_ERR_RANGE, "the output would exceed %zu bytes", r->o.max_out);
			goto out;
		}
		s->before += s->buf->len;
	}
	c->index = r->next++;
	c->last = last;
	r->done = last;
	c->state = (struct vv_interpret_state){
		.next_chunk = r->next, .chunk_variants = r->chunk, .formats = j->formats,
		.variants = j->sum.variants, .scored = j->sum.scored, .not_scored = j->sum.not_scored};
	memcpy(c->state.evidence, j->sum.evidence, sizeof c->state.evidence);
	for (int f = 0; f < VV_OUT_NFORMATS; f++)
		c->state.out_bytes[f] = j->outs[f].before;
	if (r->o.progress)
		r->o.progress(r->o.progress_ctx, j->sum.variants, r->total);
	rc = 1;
out:
	if (rc < 0) {
		r->failed = true;
		vv_chunk_clear(&r->c);
		for (int f = 0; f < VV_OUT_NFORMATS; f++)
			vv_sbuf_wipe(&c->out[f]);
	}
	vv_point_outputs(r, r->pend);
	return rc;
}

void vv_interpret_chunks_summary(const vv_interpret_chunks *r, struct vv_interpret_summary *sum)
{
	*sum = r->j.sum;
}

uint64_t vv_interpret_chunks_rescored(const vv_interpret_chunks *r)
{
	return r->rescored;
}

void vv_interpret_chunks_free(vv_interpret_chunks *r)
{
	if (!r)
		return;
	for (int f = 0; f < VV_OUT_NFORMATS; f++)
		vv_vcf_writer_free(r->j.outs[f].w);
	vv_vcf_var_free(r->ahead);
	vv_chunk_done(&r->c);
	vv_vcf_close(r->j.r);
	vv_vcf_close(r->j.scan);
	for (int f = 0; f < VV_OUT_NFORMATS; f++)
		vv_sbuf_done(&r->pend[f]);
	free(r);
}

int vv_interpret_run(vv_scorer *sc, vv_ref *ref, const vv_policy *p, const void *vcf, size_t len,
		     const struct vv_interpret_opts *opts, vv_sbuf *out,
		     struct vv_interpret_summary *sum)
{
	vv_interpret_chunks *r = NULL;
	struct vv_interpret_chunk c;
	enum vv_out_format fmt = opts && opts->format ? opts->format : VV_OUT_VCF;
	int rc;

	vv_interpret_chunk_init(&c);
	if ((rc = vv_interpret_chunks_new(sc, ref, p, vcf, len, opts, VV_OUT_BIT(fmt), NULL, &r)) != 0)
		goto out;
	while ((rc = vv_interpret_chunks_next(r, &c)) == 1)
		if ((rc = vv_sbuf_append(out, c.out[fmt - 1].data, c.out[fmt - 1].len)) != 0)
			goto out;
	if (rc == 0 && sum)
		vv_interpret_chunks_summary(r, sum);
out:
	vv_interpret_chunk_done(&c);
	vv_interpret_chunks_free(r);
	if (rc)
		vv_sbuf_wipe(out);
	return rc;
}
