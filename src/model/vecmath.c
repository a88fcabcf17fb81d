/* The model's element-wise maths: LayerNorm, the feed-forward activations
 * and softmax, with the vectorised exp and erf they use.  Each value's result
 * depends on that value alone, never on where it sits in a row. */
#include "model_int.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/* One row's mean and variance, each summed in double in the order j = 0 ..
 * d - 1: the bits of every LayerNorm depend on that order. */
static void ln_stats1(const float *x, int d, double *mean, double *var)
{
	double m = 0.0, v = 0.0;

	for (int j = 0; j < d; j++)
		m += x[j];
	m /= d;
	for (int j = 0; j < d; j++) {
		double t = x[j] - m;
		v += t * t;
	}
	*mean = m;
	*var = v / d;
}

enum { LN_GROUP = 8 };

/* LN_GROUP rows' statistics at once.  Each row still adds its own values
 * in order j = 0 .. d - 1, so the bits are ln_stats1's; the rows' sums are
 * eight independent chains in registers, which the CPU overlaps instead of
 * waiting on one chain of dependent additions (with ln_apply vectorised,
 * the whole LayerNorm of 512-wide rows measured 3.6 times faster than row
 * by row in scalar code). */
static void ln_stats_group(const float *x, size_t ld, int d, double *mean, double *var)
{
	const float *x0 = x, *x1 = x + ld, *x2 = x + 2 * ld, *x3 = x + 3 * ld, *x4 = x + 4 * ld,
		    *x5 = x + 5 * ld, *x6 = x + 6 * ld, *x7 = x + 7 * ld;
	double m0 = 0, m1 = 0, m2 = 0, m3 = 0, m4 = 0, m5 = 0, m6 = 0, m7 = 0;
	double v0 = 0, v1 = 0, v2 = 0, v3 = 0, v4 = 0, v5 = 0, v6 = 0, v7 = 0;

	for (int j = 0; j < d; j++) {
		m0 += x0[j], m1 += x1[j], m2 += x2[j], m3 += x3[j];
		m4 += x4[j], m5 += x5[j], m6 += x6[j], m7 += x7[j];
	}
	m0 /= d, m1 /= d, m2 /= d, m3 /= d, m4 /= d, m5 /= d, m6 /= d, m7 /= d;
	for (int j = 0; j < d; j++) {
		double t0 = x0[j] - m0, t1 = x1[j] - m1, t2 = x2[j] - m2, t3 = x3[j] - m3;
		double t4 = x4[j] - m4, t5 = x5[j] - m5, t6 = x6[j] - m6, t7 = x7[j] - m7;
		v0 += t0 * t0, v1 += t1 * t1, v2 += t2 * t2, v3 += t3 * t3;
		v4 += t4 * t4, v5 += t5 * t5, v6 += t6 * t6, v7 += t7 * t7;
	}
	mean[0] = m0, mean[1] = m1, mean[2] = m2, mean[3] = m3;
	mean[4] = m4, mean[5] = m5, mean[6] = m6, mean[7] = m7;
	var[0] = v0 / d, var[1] = v1 / d, var[2] = v2 / d, var[3] = v3 / d;
	var[4] = v4 / d, var[5] = v5 / d, var[6] = v6 / d, var[7] = v7 / d;
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
 * x86-64 baseline), and sixteen with AVX-512 where the CPU has it.  Both
 * widths run the same operations on each value (the build's ISO C mode
 * fuses no multiply-add), so a value's result is the same bits at either
 * width and never depends on where it sits; tails go through the same
 * vector code on a padded copy. */
typedef float vf4 __attribute__((vector_size(16)));
typedef int32_t vi4 __attribute__((vector_size(16)));
typedef float vf16 __attribute__((vector_size(64)));
typedef int32_t vi16 __attribute__((vector_size(64)));

#define VV_INLINE static inline __attribute__((always_inline))
#define VV_AVX512 __attribute__((target("avx512f")))

/* The element-wise maths for one vector width W (types VF, VI), written
 * once: splat, load, store, select, exp, erf and the three row kernels'
 * bodies.  ATTR: the target attribute of that width. */
#define VV_DEF_VEC(W, VF, VI, ATTR)                                                                          \
	VV_INLINE ATTR VF splat##W(float x)                                                                  \
	{                                                                                                    \
		return (VF){0} + x;                                                                          \
	}                                                                                                    \
	VV_INLINE ATTR VF load##W(const float *p)                                                            \
	{                                                                                                    \
		VF v;                                                                                        \
		memcpy(&v, p, sizeof v);                                                                     \
		return v;                                                                                    \
	}                                                                                                    \
	VV_INLINE ATTR void store##W(float *p, VF v)                                                         \
	{                                                                                                    \
		memcpy(p, &v, sizeof v);                                                                     \
	}                                                                                                    \
	VV_INLINE ATTR VF select##W(VI mask, VF a, VF b)                                                     \
	{                                                                                                    \
		return (VF)(((VI)a & mask) | ((VI)b & ~mask));                                               \
	}                                                                                                    \
	/* exp(x) within 2 ulp on [-87, 88] (Cody-Waite reduction, Cephes'                                   \
	 * degree-5 polynomial); inputs outside are clamped (softmax and SiLU                                \
	 * never need smaller than e^-87 or larger than e^88). */                                            \
	VV_INLINE ATTR VF exp##W(VF x)                                                                       \
	{                                                                                                    \
		const VF hi = splat##W(88.0f), lo = splat##W(-87.0f), magic = splat##W(12582912.0f);          \
		VF t, n, r, p, y;                                                                            \
		VI e;                                                                                        \
		x = select##W(x > hi, hi, x);                                                                \
		x = select##W(x < lo, lo, x);                                                                \
		t = x * 1.44269504088896341f + magic; /* round to nearest */                                 \
		n = t - magic;                                                                               \
		e = (VI)t - (VI)magic;                                                                       \
		r = x - n * 0.693359375f;                                                                    \
		r = r - n * -2.12194440e-4f;                                                                 \
		p = splat##W(1.9875691500e-4f);                                                              \
		p = p * r + 1.3981999507e-3f;                                                                \
		p = p * r + 8.3334519073e-3f;                                                                \
		p = p * r + 4.1665795894e-2f;                                                                \
		p = p * r + 1.6666665459e-1f;                                                                \
		p = p * r + 5.0000001201e-1f;                                                                \
		y = p * r * r + r + 1.0f;                                                                    \
		return y * (VF)((e + 127) << 23);                                                            \
	}                                                                                                    \
	/* erf(x) within 1.6e-7 absolute (libm's erff: about 6e-8).  |x| <= 1:                               \
	 * x * P(x^2); 1 < |x| < 4: 1 - exp(-x^2) * Q((|x| - 2.5) / 1.5), where Q                            \
	 * approximates erfc(x) * exp(x^2); |x| >= 4: +-1 (erfc(4) < 2e-8).  P                               \
	 * (degree 6) and Q (degree 10) are least-squares fits in double on                                  \
	 * Chebyshev nodes, made for varvault (see docs/model.md). */                                        \
	VV_INLINE ATTR VF erf##W(VF x)                                                                       \
	{                                                                                                    \
		const VI sign = (VI)x & INT32_MIN;                                                           \
		VF a = (VF)((VI)x & ~sign), a2 = a * a, p, q, u, near, far, r;                               \
		p = splat##W(vv_erf_p[6]);                                                                   \
		for (int i = 5; i >= 0; i--)                                                                 \
			p = p * a2 + vv_erf_p[i];                                                            \
		near = a * p;                                                                                \
		u = (a - 2.5f) * (1.0f / 1.5f);                                                              \
		q = splat##W(vv_erf_q[10]);                                                                  \
		for (int i = 9; i >= 0; i--)                                                                 \
			q = q * u + vv_erf_q[i];                                                             \
		far = 1.0f - q * exp##W(-a2);                                                                \
		r = select##W(a <= 1.0f, near, far);                                                         \
		r = select##W(a >= 4.0f, splat##W(1.0f), r);                                                 \
		return (VF)((VI)r | sign);                                                                   \
	}                                                                                                    \
	/* gelu(x) = x/2 * (1 + erf(x / sqrt(2))), exact GELU */                                             \
	VV_INLINE ATTR VF gelu##W(VF a)                                                                      \
	{                                                                                                    \
		return 0.5f * a * (1.0f + erf##W(a * (float)M_SQRT1_2));                                    \
	}                                                                                                    \
	/* silu(a) * g */                                                                                    \
	VV_INLINE ATTR VF swiglu##W(VF a, VF g)                                                              \
	{                                                                                                    \
		return a / (1.0f + exp##W(-a)) * g;                                                          \
	}

static const float vv_erf_p[7] = {1.1283792e+00f, -3.7612629e-01f, 1.1283626e-01f, -2.6855398e-02f,
				  5.1912167e-03f, -8.0348278e-04f, 7.9334226e-05f};
static const float vv_erf_q[11] = {2.10806355e-01f, -1.11521401e-01f, 5.61109595e-02f, -2.69977897e-02f,
				   1.24840345e-02f, -5.61176892e-03f, 2.42588832e-03f, -9.15554236e-04f,
				   3.67864675e-04f, -2.45507341e-04f, 9.64062929e-05f};

VV_DEF_VEC(4, vf4, vi4, )
VV_DEF_VEC(16, vf16, vi16, VV_AVX512)

static int vv_wide_set = -1;

void vv_model_vec_set_wide(int wide)
{
	vv_wide_set = wide;
}

/* Whether this CPU runs the AVX-512 width, unless a test asked for the
 * width-4 code. */
static bool vv_wide(void)
{
	return vv_wide_set != 0 && __builtin_cpu_supports("avx512f");
}

/* y = (x - mean) * rstd * w + b for one value: the definition, and the
 * vector code's tail (inlined into each width's code).  The vector code
 * runs the same float operations value by value, so every width gives the
 * same bits. */
VV_INLINE void ln_one(float *y, const float *x, int j, const float *w, const float *b, float fm, float rstd)
{
	y[j] = (x[j] - fm) * rstd * w[j] + b[j];
}

static void ln_apply4(float *y, const float *x, int d, const float *w, const float *b, float fm,
		      float rstd)
{
	const vf4 vm = splat4(fm), vr = splat4(rstd);
	int j = 0;

	for (; j + 4 <= d; j += 4)
		store4(y + j, (load4(x + j) - vm) * vr * load4(w + j) + load4(b + j));
	for (; j < d; j++)
		ln_one(y, x, j, w, b, fm, rstd);
}

VV_AVX512 static void ln_apply16(float *y, const float *x, int d, const float *w, const float *b,
				 float fm, float rstd)
{
	const vf16 vm = splat16(fm), vr = splat16(rstd);
	int j = 0;

	for (; j + 16 <= d; j += 16)
		store16(y + j, (load16(x + j) - vm) * vr * load16(w + j) + load16(b + j));
	/* the tail here, not through ln_apply4: GCC 12 left out the
	 * vzeroupper before that tail call, and the SSE code that ran after
	 * it with the upper halves dirty was several times slower here */
	for (; j < d; j++)
		ln_one(y, x, j, w, b, fm, rstd);
}

static void ln_apply(float *y, const float *x, int d, const float *w, const float *b, double mean,
		     double var, float eps)
{
	const float rstd = (float)(1.0 / sqrt(var + (double)eps)), fm = (float)mean;

	if (vv_wide())
		ln_apply16(y, x, d, w, b, fm, rstd);
	else
		ln_apply4(y, x, d, w, b, fm, rstd);
}

/* Eight rows' statistics at a time, then each row normalised; the rows
 * left over go one by one, with the same bits. */
void vv_model_vec_layernorm(float *out, const float *in, size_t rows, int d, const float *w,
		      const float *b, float eps)
{
	const size_t ld = (size_t)d;
	double mean[LN_GROUP], var[LN_GROUP];
	size_t i = 0;

	for (; i + LN_GROUP <= rows; i += LN_GROUP) {
		ln_stats_group(in + i * ld, ld, d, mean, var);
		for (size_t r = 0; r < LN_GROUP; r++)
			ln_apply(out + (i + r) * ld, in + (i + r) * ld, d, w, b, mean[r], var[r], eps);
	}
	for (; i < rows; i++) {
		ln_stats1(in + i * ld, d, mean, var);
		ln_apply(out + i * ld, in + i * ld, d, w, b, mean[0], var[0], eps);
	}
}

/* x[j] = gelu(x[j]) for j < n, from j0 on at width 4, the tail padded */
static void gelu_row4(float *x, size_t j, size_t n)
{
	for (; j + 4 <= n; j += 4)
		store4(x + j, gelu4(load4(x + j)));
	if (j < n) {
		float t[4] = {0};
		memcpy(t, x + j, (n - j) * sizeof *t);
		store4(t, gelu4(load4(t)));
		memcpy(x + j, t, (n - j) * sizeof *t);
	}
}

VV_AVX512 static void gelu_row16(float *x, size_t n)
{
	size_t j = 0;

	for (; j + 16 <= n; j += 16)
		store16(x + j, gelu16(load16(x + j)));
	gelu_row4(x, j, n);
}

static void gelu_row(float *x, size_t n)
{
	if (vv_wide())
		gelu_row16(x, n);
	else
		gelu_row4(x, 0, n);
}

/* x[j] = silu(x[j]) * g[j] for j < n, from j on at width 4 */
static void swiglu_row4(float *x, const float *g, size_t j, size_t n)
{
	for (; j + 4 <= n; j += 4)
		store4(x + j, swiglu4(load4(x + j), load4(g + j)));
	if (j < n) {
		float ta[4] = {0}, tg[4] = {0};
		memcpy(ta, x + j, (n - j) * sizeof *ta);
		memcpy(tg, g + j, (n - j) * sizeof *tg);
		store4(ta, swiglu4(load4(ta), load4(tg)));
		memcpy(x + j, ta, (n - j) * sizeof *ta);
	}
}

VV_AVX512 static void swiglu_row16(float *x, const float *g, size_t n)
{
	size_t j = 0;

	for (; j + 16 <= n; j += 16)
		store16(x + j, swiglu16(load16(x + j), load16(g + j)));
	swiglu_row4(x, g, j, n);
}

static void swiglu_row(float *x, const float *g, size_t n)
{
	if (vv_wide())
		swiglu_row16(x, g, n);
	else
		swiglu_row4(x, g, 0, n);
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

/* One softmax row from element j on at width 4: exp(r - mx) into r, the
 * sum into acc's four lanes, lane l taking the values at j = l mod 4 in
 * order. */
static void softmax_exp4(float *r, int j, int n, float mx, vf4 *acc)
{
	const vf4 vmx = splat4(mx);

	for (; j + 4 <= n; j += 4) {
		vf4 e = exp4(load4(r + j) - vmx);
		store4(r + j, e);
		*acc += e;
	}
	if (j < n) {
		float t[4];
		for (int l = 0; l < 4; l++)
			t[l] = j + l < n ? r[j + l] : -INFINITY;
		vf4 e = exp4(load4(t) - vmx);
		/* clamped lanes past the end must not count */
		e = select4(load4(t) == -INFINITY, splat4(0.0f), e);
		store4(t, e);
		*acc += e;
		memcpy(r + j, t, (size_t)(n - j) * sizeof *r);
	}
}

/* Sixteen at a time, the sum added four lanes at a time in the order the
 * width-4 loop adds them, so the bits are the same.  The quarters are taken
 * from the register rather than reloaded from the row, and the tail runs
 * here on a padded copy, with past-the-end lanes zeroed as softmax_exp4
 * does, so no SSE code runs after AVX-512 (a few per cent faster alone;
 * the exp itself is most of the time). */
VV_AVX512 static void softmax_row16(float *r, int n)
{
	float mx = r[0], sum = 0.0f, lanes[4];
	vf4 acc = splat4(0.0f);
	int j = 0;

	if (n >= 16) {
		vf16 m = load16(r);
		for (j = 16; j + 16 <= n; j += 16) {
			vf16 v = load16(r + j);
			m = select16(v > m, v, m);
		}
		for (int l = 0; l < 16; l++)
			mx = m[l] > mx ? m[l] : mx;
	}
	for (; j < n; j++)
		mx = r[j] > mx ? r[j] : mx;
	const vf16 vmx = splat16(mx);
	for (j = 0; j < n; j += 16) {
		const int left = n - j < 16 ? n - j : 16;
		float t[16];
		vf16 v, e;
		if (left == 16) {
			v = load16(r + j);
			e = exp16(v - vmx);
			store16(r + j, e);
		} else {
			for (int l = 0; l < 16; l++)
				t[l] = l < left ? r[j + l] : -INFINITY;
			v = load16(t);
			e = exp16(v - vmx);
			e = select16(v == -INFINITY, splat16(0.0f), e);
			store16(t, e);
			memcpy(r + j, t, (size_t)left * sizeof *r);
		}
		acc += __builtin_shufflevector(e, e, 0, 1, 2, 3);
		if (left > 4)
			acc += __builtin_shufflevector(e, e, 4, 5, 6, 7);
		if (left > 8)
			acc += __builtin_shufflevector(e, e, 8, 9, 10, 11);
		if (left > 12)
			acc += __builtin_shufflevector(e, e, 12, 13, 14, 15);
	}
	store4(lanes, acc);
	for (int l = 0; l < 4; l++)
		sum += lanes[l];
	const vf16 inv = splat16(1.0f / sum);
	for (j = 0; j + 16 <= n; j += 16)
		store16(r + j, load16(r + j) * inv);
	for (; j < n; j++)
		r[j] *= inv[0];
}

static void softmax_row4(float *r, int n)
{
	float mx = r[0], sum = 0.0f, lanes[4];
	vf4 acc = splat4(0.0f);
	int j;

	for (j = 1; j < n; j++)
		mx = r[j] > mx ? r[j] : mx;
	softmax_exp4(r, 0, n, mx, &acc);
	store4(lanes, acc);
	for (int l = 0; l < 4; l++)
		sum += lanes[l];
	const vf4 inv = splat4(1.0f / sum);
	for (j = 0; j + 4 <= n; j += 4)
		store4(r + j, load4(r + j) * inv);
	for (; j < n; j++)
		r[j] *= inv[0];
}

/* One pair (v[i], v[i + half]) rotated: the definition, and the vector
 * code's tail (inlined into each width's code) */
VV_INLINE void rotary_pair(float *v, size_t i, size_t half, const float *cs, const float *sn)
{
	float a = v[i], b = v[i + half];

	v[i] = a * cs[i] - b * sn[i];
	v[i + half] = b * cs[i] + a * sn[i];
}

/* One head's rotation at width 4, the tail one pair at a time */
static void rotary_head4(float *v, size_t half, const float *cs, const float *sn)
{
	size_t i = 0;

	for (; i + 4 <= half; i += 4) {
		vf4 a = load4(v + i), b = load4(v + i + half), c = load4(cs + i), s = load4(sn + i);
		store4(v + i, a * c - b * s);
		store4(v + i + half, b * c + a * s);
	}
	for (; i < half; i++)
		rotary_pair(v, i, half, cs, sn);
}

VV_AVX512 static void rotary_row16(float *v, size_t heads, size_t dh, const float *cs, const float *sn)
{
	const size_t half = dh / 2;

	for (size_t h = 0; h < heads; h++, v += dh) {
		size_t i = 0;
		for (; i + 16 <= half; i += 16) {
			vf16 a = load16(v + i), b = load16(v + i + half), c = load16(cs + i), s = load16(sn + i);
			store16(v + i, a * c - b * s);
			store16(v + i + half, b * c + a * s);
		}
		/* the tail here, not through rotary_head4 (no SSE after AVX-512) */
		for (; i < half; i++)
			rotary_pair(v, i, half, cs, sn);
	}
}

void vv_model_vec_rotary_row(float *v, size_t heads, size_t dh, const float *cs, const float *sn)
{
	if (vv_wide()) {
		rotary_row16(v, heads, dh, cs, sn);
		return;
	}
	for (size_t h = 0; h < heads; h++)
		rotary_head4(v + h * dh, dh / 2, cs, sn);
}

void vv_model_vec_softmax_rows(float *s, int rows, int n)
{
	const bool wide = vv_wide();

	for (int i = 0; i < rows; i++) {
		float *r = s + (size_t)i * (size_t)n;
		if (wide)
			softmax_row16(r, n);
		else
			softmax_row4(r, n);
	}
}
