/* The encoder forward (BERT post-LN, ESM pre-LN), its heads and run-state.
 * Every product goes through mm(), the module's one call to cblas_sgemm. */
#include "model_int.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Rows of the LM-head scratch: requested positions are processed in chunks
 * of this many rows (each row's result does not depend on the chunk). */
#define VV_HEAD_CHUNK 64
/* Rows of the feed-forward processed at a time, so that its wide
 * intermediate stays in cache between the two products. */
#ifndef VV_FFN_CHUNK
#define VV_FFN_CHUNK 512
#endif

struct vv_model_run {
	const vv_model *m;
	size_t max_batch, max_tokens, max_rows;
	int threads;
	/* Activations, sequences packed row after row without padding. */
	float *x;    /* [rows, d] residual stream; final hidden states */
	float *xn;   /* [rows, d] normalised input, then attention context */
	float *q, *k, *v; /* [rows, d] */
	float *ffn;  /* [min(rows, VV_FFN_CHUNK), fw] fw = intermediate (2x for SwiGLU) */
	float *att;  /* [max_tokens, max_tokens] one head's scores */
	float *hb1, *hb2; /* [head_rows, d] head scratch */
	size_t head_rows;
	float *rot_cos, *rot_sin; /* [max_tokens, head_dim/2] */
	float *arena;
	size_t *off; /* [max_batch + 1] first row of each sequence */
	size_t n_seqs; /* sequences of the last forward; 0 before any */
};

/* The one matrix product: C[m,n] = alpha * A[m,k] . op(B) + beta * C, row
 * major; op(B) = B^T for nn.Linear weights [n,k] and K in Q.K^T. */
static void mm(int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
	       const float *b, int ldb, float beta, float *c, int ldc)
{
	cblas_sgemm(CblasRowMajor, CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha,
		    a, lda, b, ldb, beta, c, ldc);
}

/* out[rows, n] = in[rows, k] . W^T (+ beta * out) (+ bias) */
static void linear(float *out, int ldo, const float *in, int ldi, const float *w, const float *bias,
		   int rows, int n, int k, float beta)
{
	mm(1, rows, n, k, 1.0f, in, ldi, w, k, beta, out, ldo);
	if (bias)
		for (int i = 0; i < rows; i++) {
			float *o = out + (size_t)i * (size_t)ldo;
			for (int j = 0; j < n; j++)
				o[j] += bias[j];
		}
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

static float gelu_erf(float x)
{
	return 0.5f * x * (1.0f + erff(x * (float)M_SQRT1_2));
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

static vf4 vf4_splat(float x)
{
	return (vf4){x, x, x, x};
}

static vf4 vf4_load(const float *p)
{
	vf4 v;
	memcpy(&v, p, sizeof v);
	return v;
}

static void vf4_store(float *p, vf4 v)
{
	memcpy(p, &v, sizeof v);
}

static vf4 vf4_select(vi4 mask, vf4 a, vf4 b)
{
	return (vf4)(((vi4)a & mask) | ((vi4)b & ~mask));
}

/* exp(x) within 2 ulp on [-87, 88] (Cody-Waite reduction, Cephes' degree-5
 * polynomial); inputs outside are clamped (softmax and SiLU never need
 * smaller than e^-87 or larger than e^88). */
static vf4 vf4_exp(vf4 x)
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
			for (size_t j = 0; j < n; j++)
				r[j] = gelu_erf(r[j]);
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

/* Sizes of the arena's parts in floats, each rounded up to 16 floats. */
struct run_sizes {
	size_t rows, head_rows, part[10], total;
};

static int run_sizes(const vv_model *m, size_t B, size_t T, struct run_sizes *z)
{
	const struct vv_model_config *c = &m->cfg;
	size_t d = (size_t)c->hidden, rd, att, fw, hd, rot = 0;

	memset(z, 0, sizeof *z);
	if (B == 0 || T == 0 || T > (size_t)m->info.max_tokens || B > INT32_MAX || T > INT32_MAX)
		return VV_ERR_INVAL;
	if (vv_size_mul(B, T, &z->rows) || z->rows > INT32_MAX)
		return VV_ERR_RANGE;
	z->head_rows = B > VV_HEAD_CHUNK ? B : VV_HEAD_CHUNK;
	fw = ffn_width(m);
	if (vv_size_mul(z->rows, d, &rd) || vv_size_mul(T, T, &att) ||
	    vv_size_mul(z->rows < VV_FFN_CHUNK ? z->rows : VV_FFN_CHUNK, fw, &fw) ||
	    vv_size_mul(z->head_rows, d, &hd))
		return VV_ERR_RANGE;
	if (c->posenc == VV_MODEL_POS_ROTARY && vv_size_mul(T, (size_t)c->head_dim / 2, &rot))
		return VV_ERR_RANGE;
	{
		size_t parts[10] = {rd, rd, rd, rd, rd, fw, att, hd, hd, rot};
		/* rot appears once here; the sine table reuses its size below */
		for (int i = 0; i < 10; i++) {
			size_t p = parts[i];
			if (vv_size_add(p, 15, &p))
				return VV_ERR_RANGE;
			p &= ~(size_t)15;
			z->part[i] = p;
			if (vv_size_add(z->total, p, &z->total))
				return VV_ERR_RANGE;
		}
		if (vv_size_add(z->total, z->part[9], &z->total))
			return VV_ERR_RANGE;
	}
	if (z->total > SIZE_MAX / sizeof(float) - 1)
		return VV_ERR_RANGE;
	return 0;
}

size_t vv_model_run_bytes(const vv_model *m, size_t max_batch, size_t max_tokens)
{
	struct run_sizes z;

	if (run_sizes(m, max_batch, max_tokens, &z) != 0)
		return 0;
	return z.total * sizeof(float) + (max_batch + 1) * sizeof(size_t) + sizeof(struct vv_model_run);
}

int vv_model_run_new(const vv_model *m, size_t max_batch, size_t max_tokens, vv_model_run **out)
{
	const struct vv_model_config *c = &m->cfg;
	struct run_sizes z;
	vv_model_run *r;
	float *p;
	int rc;

	*out = NULL;
	if (max_tokens > (size_t)m->info.max_tokens)
		return vv_errf(VV_ERR_MODEL_SEQLEN, "run: %zu tokens, the model allows %d", max_tokens,
			       m->info.max_tokens);
	if ((rc = run_sizes(m, max_batch, max_tokens, &z)) != 0)
		return vv_errf(rc, "run: batch %zu x %zu tokens is not possible", max_batch, max_tokens);
	if ((r = calloc(1, sizeof *r)) == NULL)
		return VV_ERR_NOMEM;
	r->m = m;
	r->max_batch = max_batch;
	r->max_tokens = max_tokens;
	r->max_rows = z.rows;
	r->head_rows = z.head_rows;
	r->arena = aligned_alloc(64, (z.total ? z.total : 16) * sizeof(float));
	r->off = calloc(max_batch + 1, sizeof *r->off);
	if (!r->arena || !r->off) {
		vv_model_run_free(r);
		return VV_ERR_NOMEM;
	}
	p = r->arena;
	r->x = p; p += z.part[0];
	r->xn = p; p += z.part[1];
	r->q = p; p += z.part[2];
	r->k = p; p += z.part[3];
	r->v = p; p += z.part[4];
	r->ffn = p; p += z.part[5];
	r->att = p; p += z.part[6];
	r->hb1 = p; p += z.part[7];
	r->hb2 = p; p += z.part[8];
	r->rot_cos = p; p += z.part[9];
	r->rot_sin = p;
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
	free(r->arena);
	free(r->off);
	free(r);
}

void vv_model_run_set_threads(vv_model_run *r, int n)
{
	r->threads = n;
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
		if (w->emb_ln_w)
			layernorm(x, x, len, c->hidden, w->emb_ln_w, w->emb_ln_b, c->ln_eps);
	}
}

/* Rotates q and k of every head in place by each token's position. */
static void rotary(vv_model_run *r, size_t n)
{
	const struct vv_model_config *c = &r->m->cfg;
	const size_t d = (size_t)c->hidden, dh = (size_t)c->head_dim, half = dh / 2;

	for (size_t s = 0; s < n; s++) {
		for (size_t t = 0; t < r->off[s + 1] - r->off[s]; t++) {
			const float *cs = r->rot_cos + t * half, *sn = r->rot_sin + t * half;
			float *rows[2] = {r->q + (r->off[s] + t) * d, r->k + (r->off[s] + t) * d};
			for (int which = 0; which < 2; which++) {
				for (size_t h = 0; h < (size_t)c->heads; h++) {
					float *v = rows[which] + h * dh;
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

/* Self-attention of every sequence on its own rows; context into r->xn. */
static void attention(vv_model_run *r, size_t n)
{
	const struct vv_model_config *c = &r->m->cfg;
	const int d = c->hidden, dh = c->head_dim;
	const float scale = 1.0f / sqrtf((float)dh);

	for (size_t s = 0; s < n; s++) {
		size_t base = r->off[s] * (size_t)d;
		int L = (int)(r->off[s + 1] - r->off[s]);
		for (int h = 0; h < c->heads; h++) {
			size_t col = base + (size_t)h * (size_t)dh;
			/* att[L,L] = scale * Q_h . K_h^T */
			mm(1, L, L, dh, scale, r->q + col, d, r->k + col, d, 0.0f, r->att, L);
			softmax_rows(r->att, L, L);
			/* ctx_h[L,dh] = att . V_h */
			mm(0, L, dh, L, 1.0f, r->att, L, r->v + col, d, 0.0f, r->xn + col, d);
		}
	}
}

static void layer_forward(vv_model_run *r, const struct vv_layer *L, size_t n)
{
	const struct vv_model_config *c = &r->m->cfg;
	const int d = c->hidden, rows = (int)r->off[n], inter = c->inter;
	const int fw = (int)ffn_width(r->m);
	const int pre = c->arch == VV_MODEL_ARCH_ESM;
	const float *in = r->x;

	if (pre) {
		layernorm(r->xn, r->x, (size_t)rows, d, L->ln1_w, L->ln1_b, c->ln_eps);
		in = r->xn;
	}
	linear(r->q, d, in, d, L->q_w, L->q_b, rows, d, d, 0.0f);
	linear(r->k, d, in, d, L->k_w, L->k_b, rows, d, d, 0.0f);
	linear(r->v, d, in, d, L->v_w, L->v_b, rows, d, d, 0.0f);
	if (c->posenc == VV_MODEL_POS_ROTARY)
		rotary(r, n);
	attention(r, n);
	/* x += ctx . Wo^T + bo (the residual rides in sgemm's beta) */
	linear(r->x, d, r->xn, d, L->o_w, L->o_b, rows, d, d, 1.0f);
	if (pre) {
		layernorm(r->xn, r->x, (size_t)rows, d, L->ln2_w, L->ln2_b, c->ln_eps);
		in = r->xn;
	} else {
		layernorm(r->x, r->x, (size_t)rows, d, L->ln1_w, L->ln1_b, c->ln_eps);
		in = r->x;
	}
	for (int r0 = 0; r0 < rows; r0 += VV_FFN_CHUNK) {
		int nr = rows - r0 < VV_FFN_CHUNK ? rows - r0 : VV_FFN_CHUNK;
		size_t o = (size_t)r0 * (size_t)d;
		linear(r->ffn, fw, in + o, d, L->fc1_w, L->fc1_b, nr, fw, d, 0.0f);
		activate(c->ffn, r->ffn, (size_t)nr, (size_t)inter, (size_t)fw);
		linear(r->x + o, d, r->ffn, fw, L->fc2_w, L->fc2_b, nr, d, inter, 1.0f);
	}
	if (!pre)
		layernorm(r->x, r->x, (size_t)rows, d, L->ln2_w, L->ln2_b, c->ln_eps);
}

static void set_threads(const vv_model_run *r)
{
	if (r->threads > 0 && openblas_get_num_threads() != r->threads)
		openblas_set_num_threads(r->threads);
}

int vv_model_forward(vv_model_run *r, const struct vv_model_seq *seqs, size_t n)
{
	const vv_model *m = r->m;
	const struct vv_model_config *c = &m->cfg;

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
		r->off[s + 1] = r->off[s] + seqs[s].len;
	}
	set_threads(r);
	embed(r, seqs, n);
	for (int l = 0; l < c->layers; l++)
		layer_forward(r, &m->w.layer[l], n);
	if (m->w.final_ln_w)
		layernorm(r->x, r->x, r->off[n], c->hidden, m->w.final_ln_w, m->w.final_ln_b, c->ln_eps);
	r->n_seqs = n;
	return 0;
}

int vv_model_hidden(const vv_model_run *r, size_t seq, const float **h, size_t *len)
{
	if (seq >= r->n_seqs)
		return vv_errf(VV_ERR_INVAL, "hidden: no sequence %zu in the last forward", seq);
	*h = r->x + r->off[seq] * (size_t)r->m->cfg.hidden;
	*len = r->off[seq + 1] - r->off[seq];
	return 0;
}

int vv_model_mlm_logits(vv_model_run *r, const struct vv_model_at *at, size_t n, float *out)
{
	const vv_model *m = r->m;
	const struct vv_model_config *c = &m->cfg;
	const struct vv_weights *w = &m->w;
	const size_t d = (size_t)c->hidden, V = (size_t)c->vocab_size;
	const enum vv_model_ffn act = c->arch == VV_MODEL_ARCH_ESM ? VV_MODEL_FFN_GELU : c->ffn;

	if (c->head != VV_MODEL_HEAD_MLM)
		return vv_errf(VV_ERR_UNSUPPORTED, "mlm_logits: the model has no masked-LM head");
	if (r->n_seqs == 0)
		return vv_errf(VV_ERR_INVAL, "mlm_logits: no forward has run");
	for (size_t i = 0; i < n; i++)
		if (at[i].seq >= r->n_seqs || at[i].tok >= r->off[at[i].seq + 1] - r->off[at[i].seq])
			return vv_errf(VV_ERR_INVAL, "mlm_logits: position %zu is outside the last forward", i);
	set_threads(r);
	for (size_t i0 = 0; i0 < n; i0 += VV_HEAD_CHUNK) {
		int rows = (int)(n - i0 < VV_HEAD_CHUNK ? n - i0 : VV_HEAD_CHUNK);
		for (int i = 0; i < rows; i++)
			memcpy(r->hb1 + (size_t)i * d, r->x + (r->off[at[i0 + i].seq] + at[i0 + i].tok) * d,
			       d * sizeof(float));
		linear(r->hb2, (int)d, r->hb1, (int)d, w->lm_dense_w, w->lm_dense_b, rows, (int)d, (int)d, 0.0f);
		activate(act, r->hb2, (size_t)rows, d, d);
		layernorm(r->hb2, r->hb2, (size_t)rows, (int)d, w->lm_ln_w, w->lm_ln_b, c->ln_eps);
		linear(out + i0 * V, (int)V, r->hb2, (int)d, w->lm_dec_w, w->lm_bias, rows, (int)V, (int)d, 0.0f);
	}
	return 0;
}

int vv_model_cls_logits(vv_model_run *r, float *out)
{
	const vv_model *m = r->m;
	const struct vv_model_config *c = &m->cfg;
	const struct vv_weights *w = &m->w;
	const size_t d = (size_t)c->hidden;
	const int n = (int)r->n_seqs;

	if (c->head != VV_MODEL_HEAD_CLS)
		return vv_errf(VV_ERR_UNSUPPORTED, "cls_logits: the model has no classification head");
	if (n == 0)
		return vv_errf(VV_ERR_INVAL, "cls_logits: no forward has run");
	set_threads(r);
	/* Both heads read the first token: BERT pooler, ESM classifier. */
	for (int s = 0; s < n; s++)
		memcpy(r->hb1 + (size_t)s * d, r->x + r->off[s] * d, d * sizeof(float));
	linear(r->hb2, (int)d, r->hb1, (int)d, w->cls_dense_w, w->cls_dense_b, n, (int)d, (int)d, 0.0f);
	for (size_t i = 0; i < (size_t)n * d; i++)
		r->hb2[i] = tanhf(r->hb2[i]);
	linear(out, c->num_labels, r->hb2, (int)d, w->cls_out_w, w->cls_out_b, n, c->num_labels, (int)d, 0.0f);
	return 0;
}
