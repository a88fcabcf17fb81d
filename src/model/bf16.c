/* The bf16 precision: weights converted once to bf16, products through
 * oneDNN's matmul (bf16 inputs, fp32 output) on CPUs with AVX512-BF16 or
 * AMX.  The only file of the module that talks to oneDNN. */
#include "model_int.h"

#include <immintrin.h>
#include <oneapi/dnnl/dnnl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* oneDNN here runs on OpenMP; each worker of a run asks it for one thread
 * per call, as OpenBLAS is, so that the run's own split holds. */
void omp_set_num_threads(int n);

/* One cached primitive: C[m,n] (+)= A[m,k] . B[n,k]^T. */
struct vv_bf16_prim {
	int m, n, k, ldc, sum;
	dnnl_primitive_t prim;
	dnnl_memory_t a, b, c;
};

#define VV_BF16_PRIMS 48

struct vv_bf16 {
	dnnl_stream_t stream;
	uint16_t *a;        /* [rows, kmax] the converted left operand */
	size_t a_cap;       /* elements */
	struct vv_bf16_prim p[VV_BF16_PRIMS];
	int np;
	int evict;          /* the slot a new shape takes once all are used */
	int ok;             /* 0 once anything failed: fp32 from then on */
	bool vec;           /* the CPU has AVX512-BF16: convert 16 at a time */
	bool reuse;         /* the caller says a still holds its last conversion */
	const float *last;  /* what a holds: [last_m, last_k] from last, stride last_lda */
	int last_m, last_k, last_lda;
};

static dnnl_engine_t vv_engine;
static pthread_once_t vv_engine_once = PTHREAD_ONCE_INIT;

static void engine_init(void)
{
	if (dnnl_engine_create(&vv_engine, dnnl_cpu, 0) != dnnl_success)
		vv_engine = NULL;
}

bool vv_model_precision_supported(const struct vv_model_cpu *c, enum vv_model_precision p)
{
	if (p == VV_MODEL_FP32)
		return true;
	return p == VV_MODEL_BF16 && c->avx512 && (c->avx512_bf16 || c->amx_bf16);
}

const char *vv_model_precision_name(enum vv_model_precision p)
{
	return p == VV_MODEL_BF16 ? "bf16" : "fp32";
}

int vv_model_precision_parse(const char *s, enum vv_model_precision *p)
{
	if (!strcmp(s, "fp32") || !strcmp(s, "f32"))
		*p = VV_MODEL_FP32;
	else if (!strcmp(s, "bf16"))
		*p = VV_MODEL_BF16;
	else
		return vv_errf(VV_ERR_INVAL, "precision '%.16s': fp32 or bf16", s);
	return 0;
}

/* Round to nearest even, as PyTorch's and oneDNN's conversions do; NaN
 * stays NaN. */
static inline uint16_t to_bf16(float f)
{
	uint32_t u;

	memcpy(&u, &f, sizeof u);
	if ((u & 0x7fffffffu) > 0x7f800000u)
		return (uint16_t)((u >> 16) | 0x40u);
	u += 0x7fffu + ((u >> 16) & 1u);
	return (uint16_t)(u >> 16);
}

float vv_model_bf16_to_float(uint16_t h)
{
	uint32_t u = (uint32_t)h << 16;
	float f;

	memcpy(&f, &u, sizeof f);
	return f;
}

uint16_t vv_model_bf16_from_float(float f)
{
	return to_bf16(f);
}

/* Visits the projection weights that go through bf16 ([n, k] each): with
 * buf NULL counts their elements; otherwise converts them into buf and
 * points the model's bf16 weights there; with clear, forgets those. */
static size_t bf16_weights(vv_model *m, uint16_t *buf, bool clear)
{
	const struct vv_model_config *c = &m->cfg;
	const size_t d = (size_t)c->hidden, fw = vv_model_ffn_width(m), V = (size_t)c->vocab_size;
	size_t off = 0;

#define ONE(s, h, nn, kk)                                                                                     \
	do {                                                                                                  \
		size_t e_ = (nn) * (kk);                                                                      \
		if (clear)                                                                                    \
			(h) = NULL;                                                                           \
		else if (buf) {                                                                               \
			for (size_t j_ = 0; j_ < e_; j_++)                                                    \
				buf[off + j_] = to_bf16((s)[j_]);                                             \
			(h) = buf + off;                                                                      \
		}                                                                                             \
		off += e_;                                                                                    \
	} while (0)
	for (int l = 0; l < c->layers; l++) {
		struct vv_layer *L = &m->w.layer[l];
		ONE(L->q_w, L->q_h, d, d);
		ONE(L->k_w, L->k_h, d, d);
		ONE(L->v_w, L->v_h, d, d);
		ONE(L->o_w, L->o_h, d, d);
		ONE(L->fc1_w, L->fc1_h, fw, d);
		ONE(L->fc2_w, L->fc2_h, d, (size_t)c->inter);
	}
	if (c->head == VV_MODEL_HEAD_MLM) {
		ONE(m->w.lm_dense_w, m->w.lm_dense_h, d, d);
		ONE(m->w.lm_dec_w, m->w.lm_dec_h, V, d);
	}
#undef ONE
	return off;
}

int vv_model_set_precision(vv_model *m, enum vv_model_precision p, const struct vv_model_cpu *cpu)
{
	struct vv_model_cpu here;
	size_t total, bytes;
	uint16_t *buf;

	if (p == m->precision)
		return 0;
	if (p == VV_MODEL_FP32) {
		(void)bf16_weights(m, NULL, true);
		free(m->bf16);
		m->bf16 = NULL;
		m->precision = m->info.precision = VV_MODEL_FP32;
		m->info.weights_bf16_bytes = 0;
		return 0;
	}
	if (p != VV_MODEL_BF16)
		return vv_errf(VV_ERR_INVAL, "precision %d is not fp32 or bf16", (int)p);
	if (!cpu) {
		vv_model_cpu_detect(&here);
		cpu = &here;
	}
	if (!vv_model_precision_supported(cpu, p))
		return vv_errf(VV_ERR_UNSUPPORTED,
			       "precision bf16 needs a CPU with AVX512-BF16 or AMX, and this one has neither; use fp32");
	if (m->cfg.head == VV_MODEL_HEAD_CLS)
		return vv_errf(VV_ERR_UNSUPPORTED, "precision bf16: masked-LM and encoder models only");
	pthread_once(&vv_engine_once, engine_init);
	if (!vv_engine)
		return vv_errf(VV_ERR_UNSUPPORTED, "precision bf16: oneDNN offers no CPU engine here");
	/* each tensor's size was bounded and overflow-checked at load */
	total = bf16_weights(m, NULL, false);
	if (vv_size_mul(total, sizeof *buf, &bytes) || (buf = malloc(bytes)) == NULL)
		return vv_errf(VV_ERR_NOMEM, "precision bf16: no memory for %zu bf16 weights", total);
	(void)bf16_weights(m, buf, false);
	m->bf16 = buf;
	m->precision = m->info.precision = VV_MODEL_BF16;
	m->info.weights_bf16_bytes = bytes;
	return 0;
}

static void prim_drop(struct vv_bf16_prim *p)
{
	dnnl_memory_destroy(p->a);
	dnnl_memory_destroy(p->b);
	dnnl_memory_destroy(p->c);
	dnnl_primitive_destroy(p->prim);
	memset(p, 0, sizeof *p);
}

void vv_model_bf16_free(struct vv_bf16 *b)
{
	if (!b)
		return;
	for (int i = 0; i < b->np; i++)
		prim_drop(&b->p[i]);
	if (b->stream)
		dnnl_stream_destroy(b->stream);
	free(b->a);
	free(b);
}

struct vv_bf16 *vv_model_bf16_new(size_t rows, size_t kmax)
{
	struct vv_bf16 *b = calloc(1, sizeof *b);

	pthread_once(&vv_engine_once, engine_init);
	if (!b || !vv_engine)
		goto out;
	b->a_cap = rows * kmax;
	if ((b->a = malloc(b->a_cap * sizeof *b->a)) == NULL ||
	    dnnl_stream_create(&b->stream, vv_engine, dnnl_stream_default_flags) != dnnl_success)
		goto out;
	{
		struct vv_model_cpu c;
		vv_model_cpu_detect(&c);
		b->vec = c.avx512_bf16;
	}
	b->ok = 1;
	return b;
out:
	vv_model_bf16_free(b);
	return NULL;
}

/* The primitive for one shape, made on first use.  NULL if oneDNN refuses. */
static struct vv_bf16_prim *prim_get(struct vv_bf16 *b, int m, int n, int k, int ldc, int sum)
{
	dnnl_memory_desc_t ad, bd, cd;
	dnnl_dims_t da = {m, k}, db = {k, n}, dc = {m, n}, sc = {ldc, 1};
	dnnl_matmul_desc_t md;
	dnnl_primitive_attr_t attr = NULL;
	dnnl_post_ops_t po = NULL;
	dnnl_primitive_desc_t pd = NULL;
	struct vv_bf16_prim *p = NULL;
	int i;

	for (i = 0; i < b->np; i++)
		if (b->p[i].m == m && b->p[i].n == n && b->p[i].k == k && b->p[i].ldc == ldc && b->p[i].sum == sum)
			return &b->p[i];
	/* All slots used: a new shape replaces the oldest, round robin.  Were
	 * it refused, the call would run in fp32 and a row's bits would depend
	 * on the shapes this worker met before. */
	if (b->np == VV_BF16_PRIMS) {
		p = &b->p[b->evict];
		b->evict = (b->evict + 1) % VV_BF16_PRIMS;
		prim_drop(p);
	} else {
		p = &b->p[b->np++];
		memset(p, 0, sizeof *p);
	}
	/* B is the nn.Linear weight [n, k] read as [k, n] with strides (1, k):
	 * oneDNN's "ba". */
	if (dnnl_memory_desc_init_by_tag(&ad, 2, da, dnnl_bf16, dnnl_ab) != dnnl_success ||
	    dnnl_memory_desc_init_by_tag(&bd, 2, db, dnnl_bf16, dnnl_ba) != dnnl_success ||
	    dnnl_memory_desc_init_by_strides(&cd, 2, dc, dnnl_f32, sc) != dnnl_success ||
	    dnnl_matmul_desc_init(&md, &ad, &bd, NULL, &cd) != dnnl_success ||
	    dnnl_primitive_attr_create(&attr) != dnnl_success)
		goto out;
	if (sum && (dnnl_post_ops_create(&po) != dnnl_success || dnnl_post_ops_append_sum(po, 1.0f) != dnnl_success ||
		    dnnl_primitive_attr_set_post_ops(attr, po) != dnnl_success))
		goto out;
	if (dnnl_primitive_desc_create(&pd, &md, attr, vv_engine, NULL) != dnnl_success ||
	    dnnl_primitive_create(&p->prim, pd) != dnnl_success)
		goto out;
	if (dnnl_memory_create(&p->a, &ad, vv_engine, DNNL_MEMORY_NONE) != dnnl_success ||
	    dnnl_memory_create(&p->b, &bd, vv_engine, DNNL_MEMORY_NONE) != dnnl_success ||
	    dnnl_memory_create(&p->c, &cd, vv_engine, DNNL_MEMORY_NONE) != dnnl_success)
		goto out;
	p->m = m;
	p->n = n;
	p->k = k;
	p->ldc = ldc;
	p->sum = sum;
	dnnl_primitive_desc_destroy(pd);
	dnnl_primitive_attr_destroy(attr);
	dnnl_post_ops_destroy(po);
	return p;
out:
	if (p)
		prim_drop(p); /* an empty slot (m 0) that no call matches */
	dnnl_primitive_desc_destroy(pd);
	dnnl_primitive_attr_destroy(attr);
	dnnl_post_ops_destroy(po);
	return NULL;
}

/* n floats to bf16 with the CPU's own instruction (round to nearest even,
 * NaN quieted; denormal inputs count as zero, which the scalar rounding
 * keeps: no activation is that small in a way that matters). */
__attribute__((target("avx512f,avx512bf16,avx512vl"))) static void to_bf16_avx512(const float *a, uint16_t *o,
										   int n)
{
	int j = 0;

	for (; j + 16 <= n; j += 16) {
		__m256bh h = _mm512_cvtneps_pbh(_mm512_loadu_ps(a + j));
		_mm256_storeu_si256((__m256i *)(void *)(o + j), (__m256i)h);
	}
	for (; j < n; j++)
		o[j] = to_bf16(a[j]);
}

void vv_model_bf16_reuse_a(struct vv_bf16 *b, bool on)
{
	if (b)
		b->reuse = on;
}

int vv_model_bf16_mm(struct vv_bf16 *b, int m, int n, int k, const float *a, int lda, const uint16_t *w, float beta,
	       float *c, int ldc)
{
	struct vv_bf16_prim *p;
	dnnl_exec_arg_t args[3];

	if (!b)
		return VV_ERR_UNSUPPORTED;
	if (!b->ok || (size_t)m * (size_t)k > b->a_cap || (beta != 0.0f && beta != 1.0f) ||
	    (p = prim_get(b, m, n, k, ldc, beta != 0.0f)) == NULL) {
		b->last = NULL; /* nothing converted: no later call may reuse it */
		return VV_ERR_UNSUPPORTED;
	}
	if (!(b->reuse && b->last == a && b->last_m == m && b->last_k == k && b->last_lda == lda)) {
		for (int i = 0; i < m; i++) {
			const float *row = a + (size_t)i * (size_t)lda;
			uint16_t *o = b->a + (size_t)i * (size_t)k;
			if (b->vec)
				to_bf16_avx512(row, o, k);
			else
				for (int j = 0; j < k; j++)
					o[j] = to_bf16(row[j]);
		}
		b->last = a;
		b->last_m = m;
		b->last_k = k;
		b->last_lda = lda;
	}
	omp_set_num_threads(1);
	if (dnnl_memory_set_data_handle(p->a, b->a) != dnnl_success ||
	    dnnl_memory_set_data_handle(p->b, (void *)(uintptr_t)w) != dnnl_success ||
	    dnnl_memory_set_data_handle(p->c, c) != dnnl_success)
		return VV_ERR_UNSUPPORTED;
	args[0] = (dnnl_exec_arg_t){DNNL_ARG_SRC, p->a};
	args[1] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, p->b};
	args[2] = (dnnl_exec_arg_t){DNNL_ARG_DST, p->c};
	if (dnnl_primitive_execute(p->prim, b->stream, 3, args) != dnnl_success ||
	    dnnl_stream_wait(b->stream) != dnnl_success)
		return VV_ERR_UNSUPPORTED;
	return 0;
}
