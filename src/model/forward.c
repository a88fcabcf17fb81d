/* The encoder forward (BERT post-LN, ESM pre-LN), its heads and run-state.
 * Every product goes through mm(), the module's one call to cblas_sgemm.
 *
 * Bit-for-bit results whatever the batch and thread count: OpenBLAS rounds a
 * row differently depending on where it falls among the rows of a call (its
 * full and tail micro-kernels, its thread split).  So OpenBLAS runs one
 * thread per call and the run's own workers share the work; every sequence
 * starts on a VV_ROW_ALIGN-row boundary; projections are called on fixed
 * VV_CHUNK-row chunks whose row counts are multiples of VV_ROW_ALIGN; head
 * rows are packed so that each sits at its token index modulo VV_ROW_ALIGN;
 * attention runs per (sequence, head) with shapes that depend on the
 * sequence alone.  tests/unit/test_model.c checks the outcome. */
#include "model_int.h"

#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Row alignment of sequences and call sizes: a multiple of OpenBLAS's sgemm
 * row tile, 24 for its Haswell/Zen kernels and 16 for SkylakeX/Cooperlake,
 * so that every call is made of whole tiles and a row's place in its tile
 * is its token index modulo 48. */
#define VV_ROW_ALIGN 48
/* Rows per projection call: large enough that OpenBLAS's packing of the
 * weights is amortised, small enough that the feed-forward's wide
 * intermediate stays in cache between its two products. */
#define VV_CHUNK 480
/* Rows per head call (a multiple of VV_ROW_ALIGN). */
#define VV_HEAD_ROWS 240
#define VV_MAX_THREADS 256

/* What each worker owns. */
struct vv_scratch {
	float *att;     /* [max_tokens, max_tokens] one head's scores */
	float *ffn;     /* [VV_CHUNK, fw] the feed-forward's intermediate */
	float *h1, *h2; /* [VV_HEAD_ROWS, d] head rows */
	float *logits;  /* [VV_HEAD_ROWS, vocab] MLM rows before scattering */
	int *slot_req;  /* [VV_HEAD_ROWS] request index of each head row, -1 empty */
};

struct vv_pool;

struct vv_model_run {
	const vv_model *m;
	size_t max_batch, max_tokens, max_rows;
	int threads;
	struct vv_pool *pool; /* helper threads, started once by set_threads */
	/* Activations, sequences packed row after row from aligned starts. */
	float *x;    /* [rows, d] residual stream; final hidden states */
	float *xn;   /* [rows, d] normalised input, then attention context */
	float *q, *k, *v; /* [rows, d] */
	float *rot_cos, *rot_sin; /* [max_tokens, head_dim/2] */
	int32_t *pos; /* [rows] token index of each row, -1 on padding rows */
	struct vv_scratch *scr; /* [threads] */
	size_t *off; /* [max_batch + 1] first row of each sequence */
	size_t *len; /* [max_batch] tokens of each sequence */
	size_t n_seqs; /* sequences of the last forward; 0 before any */
	size_t rows;   /* rows in use by the last forward (aligned) */
};

static size_t align_rows(size_t n)
{
	return (n + VV_ROW_ALIGN - 1) / VV_ROW_ALIGN * VV_ROW_ALIGN;
}

/* The one matrix product: C[m,n] = alpha * A[m,k] . op(B) + beta * C, row
 * major; op(B) = B^T for nn.Linear weights [n,k] and K in Q.K^T. */
static void mm(int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
	       const float *b, int ldb, float beta, float *c, int ldc)
{
	cblas_sgemm(CblasRowMajor, CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha,
		    a, lda, b, ldb, beta, c, ldc);
}

/* out[rows, n] = in[rows, k] . W^T (+ out if accumulate) (+ bias).  A bias
 * is written first and accumulated into by sgemm, which saves OpenBLAS's
 * zeroing pass and a separate bias pass. */
static void linear(float *out, int ldo, const float *in, int ldi, const float *w, const float *bias,
		   int rows, int n, int k, float beta)
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
	mm(1, rows, n, k, 1.0f, in, ldi, w, k, beta, out, ldo);
}

static void layernorm(float *out, const float *in, size_t rows, int d, const float *w,
		      const float *b, float eps)
{
	for (size_t i = 0; i < rows; i++) {
		const float *x = in + i * (size_t)d;
		float *y = out + i * (size_t)d;
		double mean = 0.0, var = 0.0;
		float rstd, fm;
		for (int j = 0; j < d; j++)
			mean += x[j];
		mean /= d;
		for (int j = 0; j < d; j++) {
			double t = x[j] - mean;
			var += t * t;
		}
		var /= d;
		rstd = (float)(1.0 / sqrt(var + (double)eps));
		fm = (float)mean;
		for (int j = 0; j < d; j++)
			y[j] = (x[j] - fm) * rstd * w[j] + b[j];
	}
}

static float gelu_tanh(float x)
{
	return 0.5f * x * (1.0f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x)));
}

static float silu(float x)
{
	return x / (1.0f + expf(-x));
}

/* Four floats at a time with GCC's generic vector extension (SSE2, the
 * x86-64 baseline).  Tails go through the same vector code on a
 * padded copy, so a value's result never depends on where it sits. */
typedef float vf4 __attribute__((vector_size(16)));
typedef int32_t vi4 __attribute__((vector_size(16)));

static inline __attribute__((always_inline)) vf4 vf4_splat(float x)
{
	return (vf4){x, x, x, x};
}

static inline __attribute__((always_inline)) vf4 vf4_load(const float *p)
{
	vf4 v;
	memcpy(&v, p, sizeof v);
	return v;
}

static inline __attribute__((always_inline)) void vf4_store(float *p, vf4 v)
{
	memcpy(p, &v, sizeof v);
}

static inline __attribute__((always_inline)) vf4 vf4_select(vi4 mask, vf4 a, vf4 b)
{
	return (vf4)(((vi4)a & mask) | ((vi4)b & ~mask));
}

/* exp(x) within 2 ulp on [-87, 88] (Cody-Waite reduction, Cephes' degree-5
 * polynomial); inputs outside are clamped (softmax and SiLU never need
 * smaller than e^-87 or larger than e^88). */
static inline __attribute__((always_inline)) vf4 vf4_exp(vf4 x)
{
	const vf4 hi = vf4_splat(88.0f), lo = vf4_splat(-87.0f), magic = vf4_splat(12582912.0f);
	vf4 t, n, r, p, y;
	vi4 e;

	x = vf4_select(x > hi, hi, x);
	x = vf4_select(x < lo, lo, x);
	t = x * vf4_splat(1.44269504088896341f) + magic; /* round to nearest */
	n = t - magic;
	e = (vi4)t - (vi4)magic;
	r = x - n * vf4_splat(0.693359375f);
	r = r - n * vf4_splat(-2.12194440e-4f);
	p = vf4_splat(1.9875691500e-4f);
	p = p * r + vf4_splat(1.3981999507e-3f);
	p = p * r + vf4_splat(8.3334519073e-3f);
	p = p * r + vf4_splat(4.1665795894e-2f);
	p = p * r + vf4_splat(1.6666665459e-1f);
	p = p * r + vf4_splat(5.0000001201e-1f);
	y = p * r * r + r + vf4_splat(1.0f);
	return y * (vf4)((e + 127) << 23);
}

/* erf(x) within 1.6e-7 absolute (libm's erff: about 6e-8), four at a time.
 * |x| <= 1: x * P(x^2); 1 < |x| < 4: 1 - exp(-x^2) * Q((|x| - 2.5) / 1.5),
 * where Q approximates erfc(x) * exp(x^2); |x| >= 4: +-1 (erfc(4) < 2e-8).
 * P (degree 6) and Q (degree 10) are least-squares fits in double on
 * Chebyshev nodes, made for varvault (see docs/model.md). */
static inline __attribute__((always_inline)) vf4 vf4_erf(vf4 x)
{
	static const float P[7] = {1.1283792e+00f, -3.7612629e-01f, 1.1283626e-01f, -2.6855398e-02f,
				   5.1912167e-03f, -8.0348278e-04f, 7.9334226e-05f};
	static const float Q[11] = {2.10806355e-01f, -1.11521401e-01f, 5.61109595e-02f, -2.69977897e-02f,
				    1.24840345e-02f, -5.61176892e-03f, 2.42588832e-03f, -9.15554236e-04f,
				    3.67864675e-04f, -2.45507341e-04f, 9.64062929e-05f};
	const vi4 sign = (vi4)x & (vi4){INT32_MIN, INT32_MIN, INT32_MIN, INT32_MIN};
	vf4 a = (vf4)((vi4)x & ~sign), a2 = a * a, p, q, u, near, far, r;

	p = vf4_splat(P[6]);
	for (int i = 5; i >= 0; i--)
		p = p * a2 + vf4_splat(P[i]);
	near = a * p;
	u = (a - vf4_splat(2.5f)) * vf4_splat(1.0f / 1.5f);
	q = vf4_splat(Q[10]);
	for (int i = 9; i >= 0; i--)
		q = q * u + vf4_splat(Q[i]);
	far = vf4_splat(1.0f) - q * vf4_exp(-a2);
	r = vf4_select(a <= vf4_splat(1.0f), near, far);
	r = vf4_select(a >= vf4_splat(4.0f), vf4_splat(1.0f), r);
	return (vf4)((vi4)r | sign);
}

/* x[j] = gelu(x[j]) = x/2 * (1 + erf(x / sqrt(2))) for j < n (exact GELU,
 * as BERT's and ESM's "gelu"); the tail goes through the same vector code. */
static void gelu_row(float *x, size_t n)
{
	const vf4 half = vf4_splat(0.5f), one = vf4_splat(1.0f), s = vf4_splat((float)M_SQRT1_2);
	size_t j = 0;

	for (; j + 4 <= n; j += 4) {
		vf4 a = vf4_load(x + j);
		vf4_store(x + j, half * a * (one + vf4_erf(a * s)));
	}
	if (j < n) {
		float t[4] = {0};
		memcpy(t, x + j, (n - j) * sizeof *t);
		vf4 a = vf4_load(t);
		vf4_store(t, half * a * (one + vf4_erf(a * s)));
		memcpy(x + j, t, (n - j) * sizeof *t);
	}
}

/* x[j] = silu(x[j]) * g[j] for j < n */
static void swiglu_row(float *x, const float *g, size_t n)
{
	size_t j = 0;

	for (; j + 4 <= n; j += 4) {
		vf4 a = vf4_load(x + j);
		vf4_store(x + j, a / (vf4_splat(1.0f) + vf4_exp(-a)) * vf4_load(g + j));
	}
	if (j < n) {
		float ta[4] = {0}, tg[4] = {0};
		memcpy(ta, x + j, (n - j) * sizeof *ta);
		memcpy(tg, g + j, (n - j) * sizeof *tg);
		vf4 a = vf4_load(ta);
		vf4_store(ta, a / (vf4_splat(1.0f) + vf4_exp(-a)) * vf4_load(tg));
		memcpy(x + j, ta, (n - j) * sizeof *ta);
	}
}

static void activate(enum vv_model_ffn act, float *p, size_t rows, size_t n, size_t ld)
{
	for (size_t i = 0; i < rows; i++) {
		float *r = p + i * ld;
		switch (act) {
		case VV_MODEL_FFN_GELU_TANH:
			for (size_t j = 0; j < n; j++)
				r[j] = gelu_tanh(r[j]);
			break;
		case VV_MODEL_FFN_RELU:
			for (size_t j = 0; j < n; j++)
				r[j] = r[j] > 0.0f ? r[j] : 0.0f;
			break;
		case VV_MODEL_FFN_SILU:
			for (size_t j = 0; j < n; j++)
				r[j] = silu(r[j]);
			break;
		case VV_MODEL_FFN_SWIGLU:
			/* [x1 | x2] -> silu(x1) * x2 in the first half */
			swiglu_row(r, r + n, n);
			break;
		default:
			gelu_row(r, n);
			break;
		}
	}
}

static void softmax_rows(float *s, int rows, int n)
{
	for (int i = 0; i < rows; i++) {
		float *r = s + (size_t)i * (size_t)n, mx = r[0], sum = 0.0f, lanes[4];
		vf4 acc = vf4_splat(0.0f), vmx, inv;
		int j;
		for (j = 1; j < n; j++)
			mx = r[j] > mx ? r[j] : mx;
		vmx = vf4_splat(mx);
		for (j = 0; j + 4 <= n; j += 4) {
			vf4 e = vf4_exp(vf4_load(r + j) - vmx);
			vf4_store(r + j, e);
			acc += e;
		}
		if (j < n) {
			float t[4];
			for (int l = 0; l < 4; l++)
				t[l] = j + l < n ? r[j + l] : -INFINITY;
			vf4 e = vf4_exp(vf4_load(t) - vmx);
			/* clamped lanes past the end must not count */
			e = vf4_select(vf4_load(t) == vf4_splat(-INFINITY), vf4_splat(0.0f), e);
			vf4_store(t, e);
			acc += e;
			memcpy(r + j, t, (size_t)(n - j) * sizeof *r);
		}
		vf4_store(lanes, acc);
		for (int l = 0; l < 4; l++)
			sum += lanes[l];
		inv = vf4_splat(1.0f / sum);
		for (j = 0; j + 4 <= n; j += 4)
			vf4_store(r + j, vf4_load(r + j) * inv);
		for (; j < n; j++)
			r[j] *= inv[0];
	}
}

/* ---- run-state ---- */

static size_t ffn_width(const vv_model *m)
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
	    vv_size_mul(VV_CHUNK, ffn_width(m), &ffn) || vv_size_mul(VV_HEAD_ROWS, d, &hd) ||
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
	return total + rows * sizeof(int32_t) + (2 * max_batch + 1) * sizeof(size_t) +
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
	memset(s, 0, sizeof *s);
}

static int scratch_alloc(const vv_model_run *r, struct vv_scratch *s)
{
	const struct vv_model_config *c = &r->m->cfg;
	size_t d = (size_t)c->hidden, T = r->max_tokens, lg;

	if (logits_floats(r->m, &lg) != 0)
		return VV_ERR_RANGE;
	s->att = malloc(T * T * sizeof(float));
	s->ffn = malloc((size_t)VV_CHUNK * ffn_width(r->m) * sizeof(float));
	s->h1 = calloc((size_t)VV_HEAD_ROWS * d, sizeof(float));
	s->h2 = calloc((size_t)VV_HEAD_ROWS * d, sizeof(float));
	s->logits = malloc(lg * sizeof(float));
	s->slot_req = malloc(VV_HEAD_ROWS * sizeof(int));
	if (!s->att || !s->ffn || !s->h1 || !s->h2 || !s->logits || !s->slot_req) {
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
	r->off = calloc(max_batch + 1, sizeof *r->off);
	r->len = calloc(max_batch, sizeof *r->len);
	r->scr = calloc(1, sizeof *r->scr);
	if (c->posenc == VV_MODEL_POS_ROTARY) {
		r->rot_cos = malloc(max_tokens * d / (size_t)c->heads / 2 * sizeof(float));
		r->rot_sin = malloc(max_tokens * d / (size_t)c->heads / 2 * sizeof(float));
	}
	if (!r->x || !r->xn || !r->q || !r->k || !r->v || !r->pos || !r->off || !r->len || !r->scr ||
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

static void pool_stop(vv_model_run *r);
static void pool_start(vv_model_run *r);

void vv_model_run_free(vv_model_run *r)
{
	if (!r)
		return;
	pool_stop(r);
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
	free(r->off);
	free(r->len);
	free(r);
}

int vv_model_run_set_threads(vv_model_run *r, int n)
{
	struct vv_scratch *scr;

	if (n < 1)
		n = 1;
	if (n > VV_MAX_THREADS)
		return vv_errf(VV_ERR_INVAL, "run: at most %d threads", VV_MAX_THREADS);
	pool_stop(r);
	if (n <= r->threads) {
		for (int i = n; i < r->threads; i++)
			scratch_free(&r->scr[i]);
		r->threads = n;
		pool_start(r);
		return 0;
	}
	if ((scr = realloc(r->scr, (size_t)n * sizeof *scr)) == NULL) {
		pool_start(r);
		return vv_errf(VV_ERR_NOMEM, "run: no memory for %d threads' scratch", n);
	}
	r->scr = scr;
	for (int i = r->threads; i < n; i++) {
		memset(&scr[i], 0, sizeof scr[i]);
		if (scratch_alloc(r, &scr[i]) != 0) {
			for (int j = r->threads; j < i; j++)
				scratch_free(&scr[j]);
			pool_start(r);
			return vv_errf(VV_ERR_NOMEM, "run: no memory for %d threads' scratch", n);
		}
	}
	r->threads = n;
	pool_start(r);
	return 0;
}

/* ---- workers ---- */

struct vv_job;
typedef void (*vv_job_fn)(const struct vv_job *j, size_t item, struct vv_scratch *s);

struct vv_job {
	vv_model_run *r;
	const struct vv_layer *layer;
	const struct vv_model_at *at; /* MLM requests */
	float *out;
	size_t n_at;
	size_t items;
	vv_job_fn fn;
	atomic_size_t next;
};

struct vv_worker {
	struct vv_job *job;
	struct vv_scratch *scr;
};

static void *vv_work(void *arg)
{
	struct vv_worker *w = arg;

	for (;;) {
		size_t i = atomic_fetch_add(&w->job->next, 1);
		if (i >= w->job->items)
			break;
		w->job->fn(w->job, i, w->scr);
	}
	return NULL;
}

/*
 * The helper threads of a run: started once (by vv_model_run_set_threads),
 * woken for each stage of a forward, stopped by vv_model_run_free.  The
 * calling thread works too.  A helper that cannot be started leaves its
 * share to the others: no item depends on which thread runs it, so results
 * are the same and a forward still cannot fail.
 */
struct vv_pool {
	pthread_mutex_t mu;
	pthread_cond_t go, done;
	pthread_t tid[VV_MAX_THREADS];
	struct vv_worker w[VV_MAX_THREADS];
	int started;        /* helpers running: w[1 .. started] */
	int busy;           /* helpers still on the current stage */
	uint64_t gen;       /* stage counter: a helper runs each stage once */
	int quit;
	struct vv_job *job;
};

static void *vv_helper_main(void *arg)
{
	struct vv_pool *p = arg;
	uint64_t seen = 0;
	int index;

	pthread_mutex_lock(&p->mu);
	index = ++p->started; /* slots are handed out in start order */
	for (;;) {
		while (p->gen == seen && !p->quit)
			pthread_cond_wait(&p->go, &p->mu);
		if (p->quit)
			break;
		seen = p->gen;
		p->w[index].job = p->job;
		pthread_mutex_unlock(&p->mu);
		vv_work(&p->w[index]);
		pthread_mutex_lock(&p->mu);
		if (--p->busy == 0)
			pthread_cond_signal(&p->done);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* Starts threads-1 helpers with small stacks (the work uses the run's
 * scratch, not the stack; under mlockall every stack is locked memory). */
static void pool_start(vv_model_run *r)
{
	struct vv_pool *p;
	pthread_attr_t attr;
	int want = r->threads - 1, ok = 0;

	r->pool = NULL;
	if (want < 1 || !(p = calloc(1, sizeof *p)))
		return;
	if (pthread_mutex_init(&p->mu, NULL) != 0) {
		free(p);
		return;
	}
	if (pthread_cond_init(&p->go, NULL) != 0 || pthread_cond_init(&p->done, NULL) != 0 ||
	    pthread_attr_init(&attr) != 0) {
		pthread_mutex_destroy(&p->mu);
		free(p);
		return;
	}
	(void)pthread_attr_setstacksize(&attr, (size_t)1 << 20);
	for (int i = 1; i <= want; i++)
		p->w[i].scr = &r->scr[i];
	for (int i = 0; i < want; i++)
		if (pthread_create(&p->tid[ok], &attr, vv_helper_main, p) == 0)
			ok++;
	pthread_attr_destroy(&attr);
	/* wait until each started helper has taken its slot */
	pthread_mutex_lock(&p->mu);
	while (p->started < ok) {
		pthread_mutex_unlock(&p->mu);
		sched_yield();
		pthread_mutex_lock(&p->mu);
	}
	pthread_mutex_unlock(&p->mu);
	r->pool = p;
}

static void pool_stop(vv_model_run *r)
{
	struct vv_pool *p = r->pool;
	int n;

	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->quit = 1;
	n = p->started;
	pthread_cond_broadcast(&p->go);
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < n; i++)
		pthread_join(p->tid[i], NULL);
	pthread_cond_destroy(&p->go);
	pthread_cond_destroy(&p->done);
	pthread_mutex_destroy(&p->mu);
	free(p);
	r->pool = NULL;
}

/* Runs fn on items 0..items-1 with the run's threads. */
static void run_items(struct vv_job *j)
{
	struct vv_pool *p = j->r->pool;
	struct vv_worker self = {j, &j->r->scr[0]};

	if (j->items == 0)
		return;
	atomic_store(&j->next, 0);
	if (!p || p->started == 0 || j->items == 1) {
		vv_work(&self);
		return;
	}
	pthread_mutex_lock(&p->mu);
	p->job = j;
	p->busy = p->started;
	p->gen++;
	pthread_cond_broadcast(&p->go);
	pthread_mutex_unlock(&p->mu);
	vv_work(&self);
	pthread_mutex_lock(&p->mu);
	while (p->busy > 0)
		pthread_cond_wait(&p->done, &p->mu);
	pthread_mutex_unlock(&p->mu);
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
			layernorm(x, x, len, c->hidden, w->emb_ln_w, w->emb_ln_b, c->ln_eps);
	}
}

/* Rows [r0, r1) of one projection chunk. */
static void chunk_rows(const vv_model_run *r, size_t item, size_t *r0, size_t *r1)
{
	*r0 = item * VV_CHUNK;
	*r1 = *r0 + VV_CHUNK < r->rows ? *r0 + VV_CHUNK : r->rows;
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

	(void)s;
	chunk_rows(r, item, &r0, &r1);
	rows = (int)(r1 - r0);
	if (c->arch == VV_MODEL_ARCH_ESM) {
		layernorm(r->xn + r0 * d, r->x + r0 * d, r1 - r0, (int)d, L->ln1_w, L->ln1_b, c->ln_eps);
		in = r->xn;
	}
	linear(r->q + r0 * d, (int)d, in + r0 * d, (int)d, L->q_w, L->q_b, rows, (int)d, (int)d, 0.0f);
	linear(r->k + r0 * d, (int)d, in + r0 * d, (int)d, L->k_w, L->k_b, rows, (int)d, (int)d, 0.0f);
	linear(r->v + r0 * d, (int)d, in + r0 * d, (int)d, L->v_w, L->v_b, rows, (int)d, (int)d, 0.0f);
	if (c->posenc == VV_MODEL_POS_ROTARY) {
		const size_t dh = (size_t)c->head_dim, half = dh / 2;
		for (size_t row = r0; row < r1; row++) {
			if (r->pos[row] < 0)
				continue;
			const float *cs = r->rot_cos + (size_t)r->pos[row] * half;
			const float *sn = r->rot_sin + (size_t)r->pos[row] * half;
			float *qk[2] = {r->q + row * d, r->k + row * d};
			for (int which = 0; which < 2; which++) {
				for (size_t h = 0; h < (size_t)c->heads; h++) {
					float *v = qk[which] + h * dh;
					for (size_t i = 0; i < half; i++) {
						float a = v[i], b = v[i + half];
						v[i] = a * cs[i] - b * sn[i];
						v[i + half] = b * cs[i] + a * sn[i];
					}
				}
			}
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
	mm(1, L, L, dh, scale, r->q + col, d, r->k + col, d, 0.0f, s->att, L);
	softmax_rows(s->att, L, L);
	/* ctx_h[L,dh] = att . V_h */
	mm(0, L, dh, L, 1.0f, s->att, L, r->v + col, d, 0.0f, r->xn + col, d);
}

/* Section C: output projection, residual, LayerNorms and the feed-forward
 * on one chunk. */
static void ffn_chunk(const struct vv_job *j, size_t item, struct vv_scratch *s)
{
	vv_model_run *r = j->r;
	const struct vv_layer *L = j->layer;
	const struct vv_model_config *c = &r->m->cfg;
	const int d = c->hidden, inter = c->inter, fw = (int)ffn_width(r->m);
	const int pre = c->arch == VV_MODEL_ARCH_ESM;
	size_t r0, r1, o;
	const float *in;
	int rows;

	chunk_rows(r, item, &r0, &r1);
	rows = (int)(r1 - r0);
	o = r0 * (size_t)d;
	/* x += ctx . Wo^T + bo (the residual rides in sgemm's beta) */
	linear(r->x + o, d, r->xn + o, d, L->o_w, L->o_b, rows, d, d, 1.0f);
	if (pre) {
		layernorm(r->xn + o, r->x + o, (size_t)rows, d, L->ln2_w, L->ln2_b, c->ln_eps);
		in = r->xn + o;
	} else {
		layernorm(r->x + o, r->x + o, (size_t)rows, d, L->ln1_w, L->ln1_b, c->ln_eps);
		in = r->x + o;
	}
	linear(s->ffn, fw, in, d, L->fc1_w, L->fc1_b, rows, fw, d, 0.0f);
	activate(c->ffn, s->ffn, (size_t)rows, (size_t)inter, (size_t)fw);
	linear(r->x + o, d, s->ffn, fw, L->fc2_w, L->fc2_b, rows, d, inter, 1.0f);
	if (!pre)
		layernorm(r->x + o, r->x + o, (size_t)rows, d, L->ln2_w, L->ln2_b, c->ln_eps);
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

int vv_model_forward(vv_model_run *r, const struct vv_model_seq *seqs, size_t n)
{
	const vv_model *m = r->m;
	const struct vv_model_config *c = &m->cfg;
	struct vv_job j = {0};
	int blas;

	r->n_seqs = 0;
	if (n == 0 || n > r->max_batch)
		return vv_errf(VV_ERR_INVAL, "forward: %zu sequences, the run holds 1 to %zu", n, r->max_batch);
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
		r->off[s + 1] = r->off[s] + align_rows(seqs[s].len);
		if (r->off[s + 1] > r->max_rows)
			return vv_errf(VV_ERR_RANGE, "forward: %zu sequences need more than the run's %zu rows",
				       s + 1, r->max_rows);
	}
	r->rows = r->off[n];
	for (size_t s = 0; s < n; s++)
		for (size_t row = r->off[s]; row < r->off[s + 1]; row++)
			r->pos[row] = row - r->off[s] < r->len[s] ? (int32_t)(row - r->off[s]) : -1;
	blas = blas_single();
	embed(r, seqs, n);
	j.r = r;
	for (int l = 0; l < c->layers; l++) {
		j.layer = &m->w.layer[l];
		j.fn = qkv_chunk;
		j.items = n_chunks(r);
		run_items(&j);
		j.fn = attention_item;
		j.items = n * (size_t)c->heads;
		run_items(&j);
		j.fn = ffn_chunk;
		j.items = n_chunks(r);
		run_items(&j);
	}
	if (m->w.final_ln_w)
		layernorm(r->x, r->x, r->rows, c->hidden, m->w.final_ln_w, m->w.final_ln_b, c->ln_eps);
	blas_restore(blas);
	r->n_seqs = n;
	return 0;
}

int vv_model_hidden(const vv_model_run *r, size_t seq, const float **h, size_t *len)
{
	if (seq >= r->n_seqs)
		return vv_errf(VV_ERR_INVAL, "hidden: no sequence %zu in the last forward", seq);
	*h = r->x + r->off[seq] * (size_t)r->m->cfg.hidden;
	*len = r->len[seq];
	return 0;
}

/* Head rows of one call: positions are packed so that each lands at its
 * token index modulo VV_ROW_ALIGN, in the first group of VV_ROW_ALIGN rows
 * where that slot is free. */
static void mlm_flush(const struct vv_job *j, struct vv_scratch *s, int groups)
{
	const vv_model_run *r = j->r;
	const struct vv_model_config *c = &r->m->cfg;
	const struct vv_weights *w = &r->m->w;
	const size_t d = (size_t)c->hidden, V = (size_t)c->vocab_size;
	const enum vv_model_ffn act = c->arch == VV_MODEL_ARCH_ESM ? VV_MODEL_FFN_GELU : c->ffn;
	int rows = groups * VV_ROW_ALIGN;

	for (int i = 0; i < rows; i++) {
		int q = s->slot_req[i];
		if (q < 0)
			memset(s->h1 + (size_t)i * d, 0, d * sizeof(float));
		else
			memcpy(s->h1 + (size_t)i * d, r->x + (r->off[j->at[q].seq] + j->at[q].tok) * d, d * sizeof(float));
	}
	linear(s->h2, (int)d, s->h1, (int)d, w->lm_dense_w, w->lm_dense_b, rows, (int)d, (int)d, 0.0f);
	activate(act, s->h2, (size_t)rows, d, d);
	layernorm(s->h2, s->h2, (size_t)rows, (int)d, w->lm_ln_w, w->lm_ln_b, c->ln_eps);
	linear(s->logits, (int)V, s->h2, (int)d, w->lm_dec_w, w->lm_bias, rows, (int)V, (int)d, 0.0f);
	for (int i = 0; i < rows; i++)
		if (s->slot_req[i] >= 0)
			memcpy(j->out + (size_t)s->slot_req[i] * V, s->logits + (size_t)i * V, V * sizeof(float));
}

/* One block of VV_HEAD_ROWS requests. */
static void mlm_block(const struct vv_job *j, size_t item, struct vv_scratch *s)
{
	size_t i0 = item * VV_HEAD_ROWS, i1 = i0 + VV_HEAD_ROWS < j->n_at ? i0 + VV_HEAD_ROWS : j->n_at;
	const int G = VV_HEAD_ROWS / VV_ROW_ALIGN;
	int used = 0;

	for (int i = 0; i < VV_HEAD_ROWS; i++)
		s->slot_req[i] = -1;
	for (size_t q = i0; q < i1; q++) {
		int res = (int)(j->at[q].tok % VV_ROW_ALIGN), g = 0;
		while (g < G && s->slot_req[g * VV_ROW_ALIGN + res] >= 0)
			g++;
		if (g == G) {
			mlm_flush(j, s, used);
			for (int i = 0; i < VV_HEAD_ROWS; i++)
				s->slot_req[i] = -1;
			used = 0;
			g = 0;
		}
		s->slot_req[g * VV_ROW_ALIGN + res] = (int)q;
		used = g + 1 > used ? g + 1 : used;
	}
	if (used)
		mlm_flush(j, s, used);
}

int vv_model_mlm_logits(vv_model_run *r, const struct vv_model_at *at, size_t n, float *out)
{
	const struct vv_model_config *c = &r->m->cfg;
	struct vv_job j = {0};
	int blas;

	if (c->head != VV_MODEL_HEAD_MLM)
		return vv_errf(VV_ERR_UNSUPPORTED, "mlm_logits: the model has no masked-LM head");
	if (r->n_seqs == 0)
		return vv_errf(VV_ERR_INVAL, "mlm_logits: no forward has run");
	if (n > INT32_MAX)
		return vv_errf(VV_ERR_INVAL, "mlm_logits: too many positions");
	for (size_t i = 0; i < n; i++)
		if (at[i].seq >= r->n_seqs || at[i].tok >= r->len[at[i].seq])
			return vv_errf(VV_ERR_INVAL, "mlm_logits: position %zu is outside the last forward", i);
	if (n == 0)
		return 0;
	j.r = r;
	j.at = at;
	j.n_at = n;
	j.out = out;
	j.fn = mlm_block;
	j.items = (n + VV_HEAD_ROWS - 1) / VV_HEAD_ROWS;
	blas = blas_single();
	run_items(&j);
	blas_restore(blas);
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
	blas = blas_single();
	/* Each sequence's first token alone in row 0 of a fixed-shape call, so
	 * its logits never depend on the rest of the batch.  BERT: pooler and
	 * classifier; ESM: classifier.dense and out_proj. */
	memset(s->h1, 0, VV_ROW_ALIGN * d * sizeof(float));
	for (size_t q = 0; q < r->n_seqs; q++) {
		memcpy(s->h1, r->x + r->off[q] * d, d * sizeof(float));
		linear(s->h2, (int)d, s->h1, (int)d, w->cls_dense_w, w->cls_dense_b, VV_ROW_ALIGN, (int)d, (int)d, 0.0f);
		for (size_t i = 0; i < d; i++)
			s->h2[i] = tanhf(s->h2[i]);
		linear(s->logits, (int)nl, s->h2, (int)d, w->cls_out_w, w->cls_out_b, VV_ROW_ALIGN, (int)nl, (int)d, 0.0f);
		memcpy(out + q * nl, s->logits, nl * sizeof(float));
	}
	blas_restore(blas);
	return 0;
}
