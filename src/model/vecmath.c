/* The model's element-wise maths: LayerNorm, the feed-forward activations
 * and softmax, with the vectorised exp and erf they use.  Each value's result
 * depends on that value alone, never on where it sits in a row. */
#include "model_int.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

void vv_model_vec_layernorm(float *out, const float *in, size_t rows, int d, const float *w,
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

void vv_model_vec_activate(enum vv_model_ffn act, float *p, size_t rows, size_t n, size_t ld)
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

void vv_model_vec_softmax_rows(float *s, int rows, int n)
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
