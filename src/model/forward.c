/* The encoder forward (BERT post-LN, ESM pre-LN), its heads and run-state.
 * Every product goes through mm(), the module's one call to cblas_sgemm
 * (and, for a bf16 model's weights, to oneDNN through bf16.c).
 *
 * Bit-for-bit results whatever the batch and thread count: OpenBLAS rounds a
 * row differently depending on where it falls among the rows of a call (its
 * full and tail micro-kernels, its thread split).  So OpenBLAS runs one
 * thread per call and the run's own workers share the work; every sequence
 * starts on a boundary of the kernel's row tile (r->align, dividing
 * VV_ROW_ALIGN); projections are called on fixed VV_CHUNK-row chunks whose
 * row counts are multiples of it; head rows, and the last layer's rows in
 * vv_model_forward_mlm(), are packed so that each sits at its token index
 * modulo r->align; attention runs per (sequence, head) with shapes that
 * depend on the sequence alone.  tests/unit/test_model.c checks the
 * outcome. */
#include "model_int.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The largest row alignment of sequences and call sizes: a multiple of
 * every kernel's row tile (vv_model_kernel_row_align(): 24 for OpenBLAS's
 * Haswell/Zen kernels, 16 for SkylakeX/Cooperlake), used for sizing, for
 * kernels not measured and for bf16 runs on AMX (run_align()); also the
 * least row count of any product call (call_rows()). */
#define VV_ROW_ALIGN VV_MODEL_ROW_ALIGN_MAX
/* Rows per projection call: large enough that OpenBLAS's packing of the
 * weights is amortised, small enough that the feed-forward's wide
 * intermediate stays in cache between its two products. */
#define VV_CHUNK 480
/* Rows per head call (a multiple of VV_ROW_ALIGN). */
#define VV_HEAD_ROWS 240

static size_t align_rows(size_t n)
{
	return (n + VV_ROW_ALIGN - 1) / VV_ROW_ALIGN * VV_ROW_ALIGN;
}

static size_t align_up(size_t n, size_t a)
{
	return (n + a - 1) / a * a;
}

/* Rows of a product call over n rows (a multiple of r->align): at least
 * VV_ROW_ALIGN, so that OpenBLAS never takes its small-matrix path, whose
 * rounding differs, for a call of 8, 16 or 32 rows.  The rows past n are
 * finite leftovers of earlier products (every buffer starts zeroed) and
 * each product is row by row, so they affect no other row; the run's
 * buffers are multiples of VV_ROW_ALIGN rows, so they are there. */
static int call_rows(size_t n)
{
	return (int)(n < VV_ROW_ALIGN ? VV_ROW_ALIGN : n);
}

/* The row tile this run's products keep results independent of.  bf16:
 * oneDNN's AVX512-BF16 matmul gives a row the same bits at any place and
 * any row count from 48 (measured on oneDNN 2.6), so the OpenBLAS tile
 * holds for the products it leaves to OpenBLAS; its AMX kernel is not
 * measured and keeps VV_ROW_ALIGN. */
static size_t run_align(const vv_model_run *r)
{
	static int amx = -1;

	if (r->m->precision == VV_MODEL_BF16) {
		if (amx < 0) {
			struct vv_model_cpu c;
			vv_model_cpu_detect(&c);
			amx = c.amx_bf16;
		}
		if (amx)
			return VV_ROW_ALIGN;
	}
	return vv_model_kernel_row_align();
}

/* The one matrix product: C[m,n] = alpha * A[m,k] . op(B) + beta * C, row
 * major; op(B) = B^T for nn.Linear weights [n,k] and K in Q.K^T.  With
 * bh, B's bf16 copy, and a bf16 run (s->bf16), the product goes through
 * oneDNN in bf16 (bf16.c); should oneDNN refuse a shape, that product is
 * computed in fp32 instead, so a forward still cannot fail. */
static void mm(struct vv_scratch *s, int trans_b, int m, int n, int k, float alpha, const float *a,
	       int lda, const float *b, const uint16_t *bh, int ldb, float beta, float *c, int ldc)
{
	s->flops += 2u * (uint64_t)m * (uint64_t)n * (uint64_t)k;
	if (bh && s->bf16 && trans_b && alpha == 1.0f && ldb == k &&
	    vv_model_bf16_mm(s->bf16, m, n, k, a, lda, bh, beta, c, ldc) == 0)
		return;
	cblas_sgemm(CblasRowMajor, CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha,
		    a, lda, b, ldb, beta, c, ldc);
}

/* out[rows, n] = in[rows, k] . W^T (+ out if accumulate) (+ bias).  A bias
 * is written first and accumulated into by sgemm, which saves OpenBLAS's
 * zeroing pass and a separate bias pass. */
static void linear(struct vv_scratch *s, float *out, int ldo, const float *in, int ldi, const float *w,
		   const uint16_t *wh, const float *bias, int rows, int n, int k, float beta)
{
	if (bias) {
		for (int i = 0; i < rows; i++) {
			float *o = out + (size_t)i * (size_t)ldo;
			if (beta == 0.0f)
				memcpy(o, bias, (size_t)n * sizeof *o);
			else
				for (int j = 0; j < n; j++)
					o[j] += bias[j];
		}
		beta = 1.0f;
	}
	mm(s, 1, rows, n, k, 1.0f, in, ldi, w, wh, k, beta, out, ldo);
}


/* ---- run-state ---- */

size_t vv_model_ffn_width(const vv_model *m)
{
	return (size_t)m->cfg.inter * (m->cfg.ffn == VV_MODEL_FFN_SWIGLU ? 2 : 1);
}

/* Floats of a worker's logits scratch: the LM head's VV_HEAD_ROWS rows of
 * the vocabulary, or the classification head's fixed-shape call of
 * VV_ROW_ALIGN rows of labels, whichever is larger. */
static int logits_floats(const vv_model *m, size_t *out)
{
	size_t lm, cls;

	if (vv_size_mul(VV_HEAD_ROWS, (size_t)m->cfg.vocab_size, &lm) ||
	    vv_size_mul(VV_ROW_ALIGN, (size_t)(m->cfg.num_labels > 0 ? m->cfg.num_labels : 0), &cls))
		return VV_ERR_RANGE;
	*out = lm > cls ? lm : cls;
	return 0;
}

/* Floats of the shared activations and of one worker's scratch. */
static int run_floats(const vv_model *m, size_t B, size_t T, size_t max_rows, size_t *shared,
		      size_t *per_thread, size_t *rows)
{
	const struct vv_model_config *c = &m->cfg;
	size_t d = (size_t)c->hidden, rd, att, ffn, hd, lg, rot = 0;

	if (B == 0 || T == 0 || T > (size_t)m->info.max_tokens || B > INT32_MAX)
		return VV_ERR_INVAL;
	if (vv_size_mul(B, align_rows(T), rows) || *rows > INT32_MAX)
		return VV_ERR_RANGE;
	/* a row budget below B sequences of T tokens; one longest sequence fits */
	if (max_rows) {
		if (max_rows < align_rows(T))
			return VV_ERR_INVAL;
		if (max_rows < *rows)
			*rows = align_rows(max_rows) > *rows ? *rows : align_rows(max_rows);
	}
	if (vv_size_mul(*rows, d, &rd) || vv_size_mul(T, T, &att) ||
	    vv_size_mul(VV_CHUNK, vv_model_ffn_width(m), &ffn) || vv_size_mul(VV_HEAD_ROWS, d, &hd) ||
	    logits_floats(m, &lg))
		return VV_ERR_RANGE;
	if (c->posenc == VV_MODEL_POS_ROTARY && vv_size_mul(T, (size_t)c->head_dim, &rot))
		return VV_ERR_RANGE;
	if (rd > SIZE_MAX / 8 || att > SIZE_MAX / 8 || lg > SIZE_MAX / 8)
		return VV_ERR_RANGE;
	*shared = 5 * rd + rot;
	*per_thread = att + ffn + 2 * hd + lg;
	if (*shared > SIZE_MAX / sizeof(float) / 2 || *per_thread > SIZE_MAX / sizeof(float) / 2)
		return VV_ERR_RANGE;
	return 0;
}

size_t vv_model_run_bytes(const vv_model *m, size_t max_batch, size_t max_tokens, int threads)
{
	size_t shared, per, rows, total;

	if (threads < 1)
		threads = 1;
	if (threads > VV_MAX_THREADS || run_floats(m, max_batch, max_tokens, 0, &shared, &per, &rows) != 0)
		return 0;
	if (vv_size_mul(per, (size_t)threads, &total) || vv_size_add(total, shared, &total) ||
	    vv_size_mul(total, sizeof(float), &total))
		return 0;
	if (m->precision == VV_MODEL_BF16) {
		/* each worker's bf16 copy of a left operand */
		size_t d = (size_t)m->cfg.hidden, kmax = d > (size_t)m->cfg.inter ? d : (size_t)m->cfg.inter;
		total += (size_t)threads * VV_CHUNK * kmax * sizeof(uint16_t);
	}
	return total + 3 * rows * sizeof(int32_t) + (2 * max_batch + 1) * sizeof(size_t) +
	       (size_t)threads * (sizeof(struct vv_scratch) + VV_HEAD_ROWS * sizeof(int));
}

static void scratch_free(struct vv_scratch *s)
{
	free(s->att);
	free(s->ffn);
	free(s->h1);
	free(s->h2);
	free(s->logits);
	free(s->slot_req);
	vv_model_bf16_free(s->bf16);
	memset(s, 0, sizeof *s);
}

static int scratch_alloc(const vv_model_run *r, struct vv_scratch *s)
{
	const struct vv_model_config *c = &r->m->cfg;
	size_t d = (size_t)c->hidden, T = r->max_tokens, lg;

	if (logits_floats(r->m, &lg) != 0)
		return VV_ERR_RANGE;
	s->att = malloc(T * T * sizeof(float));
	s->ffn = malloc((size_t)VV_CHUNK * vv_model_ffn_width(r->m) * sizeof(float));
	s->h1 = calloc((size_t)VV_HEAD_ROWS * d, sizeof(float));
	s->h2 = calloc((size_t)VV_HEAD_ROWS * d, sizeof(float));
	s->logits = malloc(lg * sizeof(float));
	s->slot_req = malloc(VV_HEAD_ROWS * sizeof(int));
	/* bf16: the left operand of the widest product converted here */
	if (r->m->precision == VV_MODEL_BF16) {
		size_t kmax = d > (size_t)c->inter ? d : (size_t)c->inter;
		s->bf16 = vv_model_bf16_new(VV_CHUNK > VV_HEAD_ROWS ? VV_CHUNK : VV_HEAD_ROWS, kmax);
	}
	if (!s->att || !s->ffn || !s->h1 || !s->h2 || !s->logits || !s->slot_req ||
	    (r->m->precision == VV_MODEL_BF16 && !s->bf16)) {
		scratch_free(s);
		return VV_ERR_NOMEM;
	}
	return 0;
}

size_t vv_model_rows(size_t tokens)
{
	return align_rows(tokens);
}

int vv_model_run_new(const vv_model *m, size_t max_batch, size_t max_tokens, vv_model_run **out)
{
	return vv_model_run_new_rows(m, max_batch, max_tokens, 0, out);
}

int vv_model_run_new_rows(const vv_model *m, size_t max_batch, size_t max_tokens, size_t max_rows,
			  vv_model_run **out)
{
	const struct vv_model_config *c = &m->cfg;
	size_t shared, per, rows, d = (size_t)c->hidden;
	vv_model_run *r;
	int rc;

	*out = NULL;
	if (max_tokens > (size_t)m->info.max_tokens)
		return vv_errf(VV_ERR_MODEL_SEQLEN, "run: %zu tokens, the model allows %d", max_tokens,
			       m->info.max_tokens);
	if ((rc = run_floats(m, max_batch, max_tokens, max_rows, &shared, &per, &rows)) != 0)
		return vv_errf(rc, "run: batch %zu x %zu tokens in %zu rows is not possible", max_batch,
			       max_tokens, max_rows);
	if ((r = calloc(1, sizeof *r)) == NULL)
		return VV_ERR_NOMEM;
	r->m = m;
	r->max_batch = max_batch;
	r->max_tokens = max_tokens;
	r->max_rows = rows;
	r->threads = 1;
	/* calloc: padding rows start as zeros and only ever hold finite values */
	r->x = calloc(rows * d, sizeof(float));
	r->xn = calloc(rows * d, sizeof(float));
	r->q = calloc(rows * d, sizeof(float));
	r->k = calloc(rows * d, sizeof(float));
	r->v = calloc(rows * d, sizeof(float));
	r->pos = malloc(rows * sizeof *r->pos);
	r->pack_src = malloc(rows * sizeof *r->pack_src);
	r->pack_of = malloc(rows * sizeof *r->pack_of);
	r->off = calloc(max_batch + 1, sizeof *r->off);
	r->len = calloc(max_batch, sizeof *r->len);
	r->scr = calloc(1, sizeof *r->scr);
	if (c->posenc == VV_MODEL_POS_ROTARY) {
		r->rot_cos = malloc(max_tokens * d / (size_t)c->heads / 2 * sizeof(float));
		r->rot_sin = malloc(max_tokens * d / (size_t)c->heads / 2 * sizeof(float));
	}
	if (!r->x || !r->xn || !r->q || !r->k || !r->v || !r->pos || !r->pack_src || !r->pack_of || !r->off ||
	    !r->len || !r->scr ||
	    (c->posenc == VV_MODEL_POS_ROTARY && (!r->rot_cos || !r->rot_sin)) ||
	    scratch_alloc(r, &r->scr[0]) != 0) {
		vv_model_run_free(r);
		return VV_ERR_NOMEM;
	}
	if (c->posenc == VV_MODEL_POS_ROTARY) {
		/* Hugging Face's float32 recipe: inv_freq = 1 / 10000^(2i/d),
		 * angle = t * inv_freq, both rounded to float. */
		int half = c->head_dim / 2;
		for (int i = 0; i < half; i++) {
			float e = (float)(2 * i) / (float)c->head_dim;
			float inv = 1.0f / powf(10000.0f, e);
			for (size_t t = 0; t < max_tokens; t++) {
				float a = (float)t * inv;
				r->rot_cos[t * (size_t)half + (size_t)i] = cosf(a);
				r->rot_sin[t * (size_t)half + (size_t)i] = sinf(a);
			}
		}
	}
	*out = r;
	return 0;
}

void vv_model_run_free(vv_model_run *r)
{
	if (!r)
		return;
	vv_model_pool_stop(r);
	for (int i = 0; r->scr && i < r->threads; i++)
		scratch_free(&r->scr[i]);
	free(r->scr);
	free(r->x);
	free(r->xn);
	free(r->q);
	free(r->k);
	free(r->v);
	free(r->rot_cos);
	free(r->rot_sin);
	free(r->pos);
	free(r->pack_src);
	free(r->pack_of);
	free(r->off);
	free(r->len);
	free(r);
}

uint64_t vv_model_run_flops(const vv_model_run *r)
{
	uint64_t f = r->flops_gone;

	for (int i = 0; i < r->threads; i++)
		f += r->scr[i].flops;
	return f;
}

int vv_model_run_set_threads(vv_model_run *r, int n)
{
	struct vv_scratch *scr;

	if (n < 1)
		n = 1;
	if (n > VV_MAX_THREADS)
		return vv_errf(VV_ERR_INVAL, "run: at most %d threads", VV_MAX_THREADS);
	vv_model_pool_stop(r);
	if (n <= r->threads) {
		for (int i = n; i < r->threads; i++) {
			r->flops_gone += r->scr[i].flops;
			scratch_free(&r->scr[i]);
		}
		r->threads = n;
		vv_model_pool_start(r);
		return 0;
	}
	if ((scr = realloc(r->scr, (size_t)n * sizeof *scr)) == NULL) {
		vv_model_pool_start(r);
		return vv_errf(VV_ERR_NOMEM, "run: no memory for %d threads' scratch", n);
	}
	r->scr = scr;
	for (int i = r->threads; i < n; i++) {
		memset(&scr[i], 0, sizeof scr[i]);
		if (scratch_alloc(r, &scr[i]) != 0) {
			for (int j = r->threads; j < i; j++)
				scratch_free(&scr[j]);
			vv_model_pool_start(r);
			return vv_errf(VV_ERR_NOMEM, "run: no memory for %d threads' scratch", n);
		}
	}
	r->threads = n;
	vv_model_pool_start(r);
	return 0;
}


/* ---- forward ---- */

static void embed(vv_model_run *r, const struct vv_model_seq *seqs, size_t n)
{
	const vv_model *m = r->m;
	const struct vv_model_config *c = &m->cfg;
	const struct vv_weights *w = &m->w;
	const size_t d = (size_t)c->hidden;

	for (size_t s = 0; s < n; s++) {
		const int32_t *ids = seqs[s].ids;
		size_t len = seqs[s].len;
		float *x = r->x + r->off[s] * d;
		float scale = 1.0f;
		if (c->token_dropout) {
			/* ESM: <mask> rows zeroed, the rest scaled by
			 * (1 - 0.15 * 0.8) / (1 - masked fraction). */
			size_t nmask = 0;
			for (size_t t = 0; t < len; t++)
				nmask += ids[t] == c->mask_id;
			if (nmask < len)
				scale = 1.0f - (float)nmask / (float)len;
		}
		for (size_t t = 0; t < len; t++) {
			const float *we = w->word + (size_t)ids[t] * d;
			float *row = x + t * d;
			if (c->token_dropout) {
				if (ids[t] == c->mask_id)
					memset(row, 0, d * sizeof *row);
				else
					for (size_t j = 0; j < d; j++)
						row[j] = we[j] * 0.88f / scale;
			} else {
				memcpy(row, we, d * sizeof *row);
			}
			if (c->arch == VV_MODEL_ARCH_BERT) {
				const float *pe = w->pos + t * d, *te = w->type;
				for (size_t j = 0; j < d; j++)
					row[j] = row[j] + te[j] + pe[j];
			} else if (c->posenc == VV_MODEL_POS_ABSOLUTE) {
				/* ESM positions start after padding_idx. */
				const float *pe = w->pos + ((size_t)c->pad_id + 1 + t) * d;
				for (size_t j = 0; j < d; j++)
					row[j] += pe[j];
			}
		}
		/* padding rows up to the next aligned start: zeros */
		memset(x + len * d, 0, (r->off[s + 1] - r->off[s] - len) * d * sizeof *x);
		if (w->emb_ln_w)
			vv_model_vec_layernorm(x, x, len, c->hidden, w->emb_ln_w, w->emb_ln_b, c->ln_eps);
	}
}

/* Rows [r0, r1) of one projection chunk of total rows. */
static void chunk_rows(size_t total, size_t item, size_t *r0, size_t *r1)
{
	*r0 = item * VV_CHUNK;
	*r1 = *r0 + VV_CHUNK < total ? *r0 + VV_CHUNK : total;
}

static size_t n_chunks(const vv_model_run *r)
{
	return (r->rows + VV_CHUNK - 1) / VV_CHUNK;
}

/* Section A of a layer: (pre-LN,) Q, K, V and rotary on one chunk. */
static void qkv_chunk(const struct vv_job *j, size_t item, struct vv_scratch *s)
{
	vv_model_run *r = j->r;
	const struct vv_layer *L = j->layer;
	const struct vv_model_config *c = &r->m->cfg;
	const size_t d = (size_t)c->hidden;
	size_t r0, r1;
	const float *in = r->x;
	int rows;

	chunk_rows(r->rows, item, &r0, &r1);
	rows = call_rows(r1 - r0);
	if (c->arch == VV_MODEL_ARCH_ESM) {
		vv_model_vec_layernorm(r->xn + r0 * d, r->x + r0 * d, (size_t)rows, (int)d, L->ln1_w, L->ln1_b, c->ln_eps);
		in = r->xn;
	}
	linear(s, r->q + r0 * d, (int)d, in + r0 * d, (int)d, L->q_w, L->q_h, L->q_b, rows, (int)d, (int)d, 0.0f);
	/* bf16: K and V read the input Q's product just converted */
	vv_model_bf16_reuse_a(s->bf16, true);
	linear(s, r->k + r0 * d, (int)d, in + r0 * d, (int)d, L->k_w, L->k_h, L->k_b, rows, (int)d, (int)d, 0.0f);
	linear(s, r->v + r0 * d, (int)d, in + r0 * d, (int)d, L->v_w, L->v_h, L->v_b, rows, (int)d, (int)d, 0.0f);
	vv_model_bf16_reuse_a(s->bf16, false);
	if (c->posenc == VV_MODEL_POS_ROTARY) {
		const size_t dh = (size_t)c->head_dim, half = dh / 2;
		for (size_t row = r0; row < r1; row++) {
			if (r->pos[row] < 0)
				continue;
			const float *cs = r->rot_cos + (size_t)r->pos[row] * half;
			const float *sn = r->rot_sin + (size_t)r->pos[row] * half;
			vv_model_vec_rotary_row(r->q + row * d, (size_t)c->heads, dh, cs, sn);
			vv_model_vec_rotary_row(r->k + row * d, (size_t)c->heads, dh, cs, sn);
		}
	}
}

/* Section B: one head of one sequence attends over the sequence; context
 * into r->xn. */
static void attention_item(const struct vv_job *j, size_t item, struct vv_scratch *s)
{
	vv_model_run *r = j->r;
	const struct vv_model_config *c = &r->m->cfg;
	const int d = c->hidden, dh = c->head_dim;
	const float scale = 1.0f / sqrtf((float)dh);
	size_t seq = item / (size_t)c->heads, h = item % (size_t)c->heads;
	size_t col = r->off[seq] * (size_t)d + h * (size_t)dh;
	int L = (int)r->len[seq];

	/* att[L,L] = scale * Q_h . K_h^T */
	mm(s, 1, L, L, dh, scale, r->q + col, d, r->k + col, NULL, d, 0.0f, s->att, L);
	vv_model_vec_softmax_rows(s->att, L, L);
	/* ctx_h[L,dh] = att . V_h */
	mm(s, 0, L, dh, L, 1.0f, s->att, L, r->v + col, NULL, d, 0.0f, r->xn + col, d);
}

/* Section C: output projection, residual, LayerNorms and the feed-forward
 * on one chunk, of the run's rows or (j->fx) of the packed rows of
 * vv_model_forward_mlm()'s last layer.  x: residual rows; xn: their
 * attention context, then scratch. */
static void ffn_chunk(const struct vv_job *j, size_t item, struct vv_scratch *s)
{
	vv_model_run *r = j->r;
	const struct vv_layer *L = j->layer;
	const struct vv_model_config *c = &r->m->cfg;
	const int d = c->hidden, inter = c->inter, fw = (int)vv_model_ffn_width(r->m);
	const int pre = c->arch == VV_MODEL_ARCH_ESM;
	float *x = j->fx ? j->fx : r->x, *xn = j->fx ? j->fxn : r->xn;
	size_t r0, r1, o;
	const float *in;
	int rows;

	chunk_rows(j->fx ? j->frows : r->rows, item, &r0, &r1);
	rows = call_rows(r1 - r0);
	o = r0 * (size_t)d;
	/* x += ctx . Wo^T + bo (the residual rides in sgemm's beta) */
	linear(s, x + o, d, xn + o, d, L->o_w, L->o_h, L->o_b, rows, d, d, 1.0f);
	if (pre) {
		vv_model_vec_layernorm(xn + o, x + o, (size_t)rows, d, L->ln2_w, L->ln2_b, c->ln_eps);
		in = xn + o;
	} else {
		vv_model_vec_layernorm(x + o, x + o, (size_t)rows, d, L->ln1_w, L->ln1_b, c->ln_eps);
		in = x + o;
	}
	linear(s, s->ffn, fw, in, d, L->fc1_w, L->fc1_h, L->fc1_b, rows, fw, d, 0.0f);
	vv_model_vec_activate(c->ffn, s->ffn, (size_t)rows, (size_t)inter, (size_t)fw);
	linear(s, x + o, d, s->ffn, fw, L->fc2_w, L->fc2_h, L->fc2_b, rows, d, inter, 1.0f);
	if (!pre)
		vv_model_vec_layernorm(x + o, x + o, (size_t)rows, d, L->ln2_w, L->ln2_b, c->ln_eps);
}

/* OpenBLAS runs one thread per call while a run computes; the caller's
 * setting comes back afterwards. */
static int blas_single(void)
{
	int before = openblas_get_num_threads();
	if (before != 1)
		openblas_set_num_threads(1);
	return before;
}

static void blas_restore(int before)
{
	if (before != 1)
		openblas_set_num_threads(before);
}

/* Checks a forward's arguments and lays its sequences out in rows. */
static int forward_setup(vv_model_run *r, const struct vv_model_seq *seqs, size_t n)
{
	const struct vv_model_config *c = &r->m->cfg;

	r->n_seqs = 0;
	r->trimmed = false;
	if (n == 0 || n > r->max_batch)
		return vv_errf(VV_ERR_INVAL, "forward: %zu sequences, the run holds 1 to %zu", n, r->max_batch);
	r->align = run_align(r);
	r->off[0] = 0;
	for (size_t s = 0; s < n; s++) {
		if (seqs[s].len == 0 || !seqs[s].ids)
			return vv_errf(VV_ERR_INVAL, "forward: sequence %zu is empty", s);
		if (seqs[s].len > r->max_tokens)
			return vv_errf(VV_ERR_MODEL_SEQLEN, "forward: sequence %zu has %zu tokens, the run holds %zu", s,
				       seqs[s].len, r->max_tokens);
		for (size_t t = 0; t < seqs[s].len; t++)
			if (seqs[s].ids[t] < 0 || seqs[s].ids[t] >= c->vocab_size)
				return vv_errf(VV_ERR_INVAL, "forward: sequence %zu token %zu: id outside the vocabulary", s, t);
		r->len[s] = seqs[s].len;
		r->off[s + 1] = r->off[s] + align_up(seqs[s].len, r->align);
		if (r->off[s + 1] > r->max_rows)
			return vv_errf(VV_ERR_RANGE, "forward: %zu sequences need more than the run's %zu rows",
				       s + 1, r->max_rows);
	}
	r->rows = r->off[n];
	for (size_t s = 0; s < n; s++)
		for (size_t row = r->off[s]; row < r->off[s + 1]; row++)
			r->pos[row] = row - r->off[s] < r->len[s] ? (int32_t)(row - r->off[s]) : -1;
	return 0;
}

/* Packs the rows at[0..n) read into groups of r->align rows, each at its
 * token index modulo r->align, in the first group where that place is free
 * (a row asked for twice is packed once): r->pack_src, r->pack_of.  Returns
 * the packed row count, a multiple of r->align and at most r->rows. */
static size_t pack_rows(vv_model_run *r, const struct vv_model_at *at, size_t n)
{
	size_t used[VV_ROW_ALIGN] = {0}, groups = 0;

	for (size_t i = 0; i < n; i++)
		r->pack_of[r->off[at[i].seq] + at[i].tok] = -1;
	for (size_t i = 0; i < n; i++) {
		size_t row = r->off[at[i].seq] + at[i].tok, res = at[i].tok % r->align, p;
		if (r->pack_of[row] >= 0)
			continue;
		p = used[res]++ * r->align + res;
		if (used[res] > groups) {
			for (size_t k = groups * r->align; k < used[res] * r->align; k++)
				r->pack_src[k] = -1;
			groups = used[res];
		}
		r->pack_src[p] = (int32_t)row;
		r->pack_of[row] = (int32_t)p;
	}
	return groups * r->align;
}

/* The last layer's section C and the final LayerNorm on the rows at[0..n)
 * read only.  Q and K are spent once attention has run, so they hold the
 * packed residual and context rows; each packed row sits at its token
 * index modulo r->align in calls of whole tiles, as it does in the run's
 * rows, so its bits are those a full forward gives.  The results go back
 * to the rows of r->x they came from. */
static void last_layer_packed(vv_model_run *r, struct vv_job *j, const struct vv_model_at *at, size_t n)
{
	const struct vv_model_config *c = &r->m->cfg;
	const size_t d = (size_t)c->hidden, P = pack_rows(r, at, n), Pc = (size_t)call_rows(P);

	for (size_t p = 0; p < Pc; p++) {
		int32_t src = p < P ? r->pack_src[p] : -1;
		if (src < 0) {
			memset(r->q + p * d, 0, d * sizeof(float));
			memset(r->k + p * d, 0, d * sizeof(float));
		} else {
			memcpy(r->q + p * d, r->x + (size_t)src * d, d * sizeof(float));
			memcpy(r->k + p * d, r->xn + (size_t)src * d, d * sizeof(float));
		}
	}
	j->fx = r->q;
	j->fxn = r->k;
	j->frows = Pc;
	j->fn = ffn_chunk;
	j->items = (Pc + VV_CHUNK - 1) / VV_CHUNK;
	vv_model_pool_run(j);
	j->fx = j->fxn = NULL;
	if (r->m->w.final_ln_w)
		vv_model_vec_layernorm(r->q, r->q, Pc, c->hidden, r->m->w.final_ln_w, r->m->w.final_ln_b, c->ln_eps);
	for (size_t p = 0; p < P; p++)
		if (r->pack_src[p] >= 0)
			memcpy(r->x + (size_t)r->pack_src[p] * d, r->q + p * d, d * sizeof(float));
}

/* The encoder on the laid-out rows; with at, the last layer's section C
 * and the final LayerNorm on the rows at[0..n_at) only. */
static void run_layers(vv_model_run *r, const struct vv_model_seq *seqs, size_t n, const struct vv_model_at *at,
		       size_t n_at)
{
	const vv_model *m = r->m;
	const struct vv_model_config *c = &m->cfg;
	struct vv_job j = {0};
	int blas = blas_single();

	embed(r, seqs, n);
	j.r = r;
	for (int l = 0; l < c->layers; l++) {
		j.layer = &m->w.layer[l];
		j.fn = qkv_chunk;
		j.items = n_chunks(r);
		vv_model_pool_run(&j);
		j.fn = attention_item;
		j.items = n * (size_t)c->heads;
		vv_model_pool_run(&j);
		if (at && l == c->layers - 1) {
			last_layer_packed(r, &j, at, n_at);
			break;
		}
		j.fn = ffn_chunk;
		j.items = n_chunks(r);
		vv_model_pool_run(&j);
	}
	if (!at && m->w.final_ln_w)
		vv_model_vec_layernorm(r->x, r->x, r->rows, c->hidden, m->w.final_ln_w, m->w.final_ln_b, c->ln_eps);
	blas_restore(blas);
}

int vv_model_forward(vv_model_run *r, const struct vv_model_seq *seqs, size_t n)
{
	int rc = forward_setup(r, seqs, n);

	if (rc != 0)
		return rc;
	run_layers(r, seqs, n, NULL, 0);
	r->n_seqs = n;
	return 0;
}

int vv_model_hidden(const vv_model_run *r, size_t seq, const float **h, size_t *len)
{
	if (seq >= r->n_seqs)
		return vv_errf(VV_ERR_INVAL, "hidden: no sequence %zu in the last forward", seq);
	if (r->trimmed)
		return vv_errf(VV_ERR_INVAL, "hidden: the last forward (vv_model_forward_mlm) kept the head's rows only");
	*h = r->x + r->off[seq] * (size_t)r->m->cfg.hidden;
	*len = r->len[seq];
	return 0;
}

/* Head rows of one block: positions are packed so that each lands at its
 * token index modulo r->align, in the first group of r->align rows where
 * that slot is free, and go through the head in calls of VV_ROW_ALIGN rows
 * exactly.  A fixed shape because with a small vocabulary (under about 32
 * tokens) OpenBLAS's AVX-512 kernel takes its small-matrix path, whose
 * rounding depends on the call's row count; within one shape a row's bits
 * depend on its place modulo the tile only. */
static void mlm_flush(const struct vv_job *j, struct vv_scratch *s, int groups)
{
	const vv_model_run *r = j->r;
	const struct vv_model_config *c = &r->m->cfg;
	const struct vv_weights *w = &r->m->w;
	const size_t d = (size_t)c->hidden, V = (size_t)c->vocab_size;
	const enum vv_model_ffn act = c->arch == VV_MODEL_ARCH_ESM ? VV_MODEL_FFN_GELU : c->ffn;
	int rows = (int)align_up((size_t)groups * r->align, VV_ROW_ALIGN);

	for (int i = 0; i < rows; i++) {
		int q = s->slot_req[i];
		if (q < 0)
			memset(s->h1 + (size_t)i * d, 0, d * sizeof(float));
		else
			memcpy(s->h1 + (size_t)i * d, r->x + (r->off[j->at[q].seq] + j->at[q].tok) * d, d * sizeof(float));
	}
	for (int c0 = 0; c0 < rows; c0 += VV_ROW_ALIGN) {
		float *h1 = s->h1 + (size_t)c0 * d, *h2 = s->h2 + (size_t)c0 * d, *lg = s->logits + (size_t)c0 * V;
		linear(s, h2, (int)d, h1, (int)d, w->lm_dense_w, w->lm_dense_h, w->lm_dense_b, VV_ROW_ALIGN, (int)d,
		       (int)d, 0.0f);
		vv_model_vec_activate(act, h2, VV_ROW_ALIGN, d, d);
		vv_model_vec_layernorm(h2, h2, VV_ROW_ALIGN, (int)d, w->lm_ln_w, w->lm_ln_b, c->ln_eps);
		linear(s, lg, (int)V, h2, (int)d, w->lm_dec_w, w->lm_dec_h, w->lm_bias, VV_ROW_ALIGN, (int)V, (int)d,
		       0.0f);
	}
	for (int i = 0; i < rows; i++)
		if (s->slot_req[i] >= 0)
			memcpy(j->out + (size_t)s->slot_req[i] * V, s->logits + (size_t)i * V, V * sizeof(float));
}

/* One block of VV_HEAD_ROWS requests. */
static void mlm_block(const struct vv_job *j, size_t item, struct vv_scratch *s)
{
	size_t i0 = item * VV_HEAD_ROWS, i1 = i0 + VV_HEAD_ROWS < j->n_at ? i0 + VV_HEAD_ROWS : j->n_at;
	const int A = (int)j->r->align, G = VV_HEAD_ROWS / A;
	int used = 0;

	for (int i = 0; i < VV_HEAD_ROWS; i++)
		s->slot_req[i] = -1;
	for (size_t q = i0; q < i1; q++) {
		int res = (int)(j->at[q].tok % (uint32_t)A), g = 0;
		while (g < G && s->slot_req[g * A + res] >= 0)
			g++;
		if (g == G) {
			mlm_flush(j, s, used);
			for (int i = 0; i < VV_HEAD_ROWS; i++)
				s->slot_req[i] = -1;
			used = 0;
			g = 0;
		}
		s->slot_req[g * A + res] = (int)q;
		used = g + 1 > used ? g + 1 : used;
	}
	if (used)
		mlm_flush(j, s, used);
}

/* Checks head requests against the sequences of a forward. */
static int mlm_check(const vv_model_run *r, const struct vv_model_at *at, size_t n, size_t n_seqs,
		     const size_t *len)
{
	if (r->m->cfg.head != VV_MODEL_HEAD_MLM)
		return vv_errf(VV_ERR_UNSUPPORTED, "mlm_logits: the model has no masked-LM head");
	if (n > INT32_MAX)
		return vv_errf(VV_ERR_INVAL, "mlm_logits: too many positions");
	for (size_t i = 0; i < n; i++)
		if (at[i].seq >= n_seqs || at[i].tok >= len[at[i].seq])
			return vv_errf(VV_ERR_INVAL, "mlm_logits: position %zu is outside the last forward", i);
	return 0;
}

static void mlm_run(vv_model_run *r, const struct vv_model_at *at, size_t n, float *out)
{
	struct vv_job j = {0};
	int blas;

	if (n == 0)
		return;
	j.r = r;
	j.at = at;
	j.n_at = n;
	j.out = out;
	j.fn = mlm_block;
	j.items = (n + VV_HEAD_ROWS - 1) / VV_HEAD_ROWS;
	blas = blas_single();
	vv_model_pool_run(&j);
	blas_restore(blas);
}

int vv_model_mlm_logits(vv_model_run *r, const struct vv_model_at *at, size_t n, float *out)
{
	int rc;

	if (r->m->cfg.head == VV_MODEL_HEAD_MLM && r->n_seqs == 0)
		return vv_errf(VV_ERR_INVAL, "mlm_logits: no forward has run");
	if (r->m->cfg.head == VV_MODEL_HEAD_MLM && r->trimmed)
		return vv_errf(VV_ERR_INVAL, "mlm_logits: the last forward (vv_model_forward_mlm) kept other rows only");
	if ((rc = mlm_check(r, at, n, r->n_seqs, r->len)) != 0)
		return rc;
	mlm_run(r, at, n, out);
	return 0;
}

int vv_model_forward_mlm(vv_model_run *r, const struct vv_model_seq *seqs, size_t n, const struct vv_model_at *at,
			 size_t n_at, float *out)
{
	bool trim;
	int rc;

	r->n_seqs = 0;
	if ((rc = forward_setup(r, seqs, n)) != 0 || (rc = mlm_check(r, at, n_at, n, r->len)) != 0)
		return rc;
	/* Only where the kernel's rounding has been measured (tile below
	 * VV_ROW_ALIGN) or oneDNN computes the projections: OpenBLAS's SSE3
	 * kernel, for one, rounds a packed row differently. */
	trim = r->m->precision == VV_MODEL_BF16 || r->align < VV_ROW_ALIGN;
	run_layers(r, seqs, n, trim ? at : NULL, n_at);
	r->n_seqs = n;
	r->trimmed = trim;
	mlm_run(r, at, n_at, out);
	return 0;
}

int vv_model_cls_logits(vv_model_run *r, float *out)
{
	const vv_model *m = r->m;
	const struct vv_model_config *c = &m->cfg;
	const struct vv_weights *w = &m->w;
	const size_t d = (size_t)c->hidden, nl = (size_t)c->num_labels;
	struct vv_scratch *s = &r->scr[0];
	int blas;

	if (c->head != VV_MODEL_HEAD_CLS)
		return vv_errf(VV_ERR_UNSUPPORTED, "cls_logits: the model has no classification head");
	if (r->n_seqs == 0)
		return vv_errf(VV_ERR_INVAL, "cls_logits: no forward has run");
	if (r->trimmed)
		return vv_errf(VV_ERR_INVAL, "cls_logits: the last forward (vv_model_forward_mlm) kept the head's rows only");
	blas = blas_single();
	/* Each sequence's first token alone in row 0 of a fixed-shape call, so
	 * its logits never depend on the rest of the batch.  BERT: pooler and
	 * classifier; ESM: classifier.dense and out_proj. */
	memset(s->h1, 0, VV_ROW_ALIGN * d * sizeof(float));
	for (size_t q = 0; q < r->n_seqs; q++) {
		memcpy(s->h1, r->x + r->off[q] * d, d * sizeof(float));
		linear(s, s->h2, (int)d, s->h1, (int)d, w->cls_dense_w, NULL, w->cls_dense_b, VV_ROW_ALIGN, (int)d, (int)d, 0.0f);
		for (size_t i = 0; i < d; i++)
			s->h2[i] = tanhf(s->h2[i]);
		linear(s, s->logits, (int)nl, s->h2, (int)d, w->cls_out_w, NULL, w->cls_out_b, VV_ROW_ALIGN, (int)nl, (int)d, 0.0f);
		memcpy(out + q * nl, s->logits, nl * sizeof(float));
	}
	blas_restore(blas);
	return 0;
}
