/* Private to src/model: the structs behind vv_model and vv_model_run, and
 * the functions the module's files share. */
#ifndef VARVAULT_MODEL_INT_H
#define VARVAULT_MODEL_INT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "varvault/model.h"

struct json_object;

/* ---- safetensors (safetensors.c) ---- */

enum vv_st_dtype {
	VV_ST_BOOL = 1, VV_ST_U8, VV_ST_I8, VV_ST_F8_E5M2, VV_ST_F8_E4M3, VV_ST_F8_E8M0,
	VV_ST_I16, VV_ST_U16, VV_ST_F16, VV_ST_BF16, VV_ST_I32, VV_ST_U32, VV_ST_F32,
	VV_ST_F64, VV_ST_I64, VV_ST_U64, VV_ST_C64,
};

#define VV_ST_MAX_RANK 8
#define VV_ST_MAX_HEADER 100000000u
#define VV_ST_MAX_NAME 1024

struct vv_st_tensor {
	char *name;
	enum vv_st_dtype dtype;
	int rank;
	size_t shape[VV_ST_MAX_RANK];
	size_t nelem;
	const uint8_t *data;  /* inside the file buffer */
	size_t nbytes;
};

struct vv_st {
	struct vv_st_tensor *t;  /* sorted by name */
	size_t n;
};

/* Parses and validates a safetensors image buf[0..len): header length,
 * UTF-8 JSON, every entry's dtype, shape and data_offsets (inside the data
 * area, contiguous, not overlapping, covering it exactly).  Tensors point
 * into buf.  Returns 0 or VV_ERR_MODEL_FORMAT / VV_ERR_NOMEM / VV_ERR_RANGE. */
int vv_model_st_parse(const uint8_t *buf, size_t len, struct vv_st *st) VV_MUST_CHECK;
void vv_model_st_done(struct vv_st *st);
const struct vv_st_tensor *vv_model_st_find(const struct vv_st *st, const char *name);
const char *vv_model_st_dtype_name(enum vv_st_dtype d);
/* Converts an F32, F16 or BF16 tensor (little-endian in the file) to
 * t->nelem native floats (load.c). */
void vv_model_st_to_f32(const struct vv_st_tensor *t, float *out);

/* ---- config.json (config.c) ---- */

struct vv_model_config {
	enum vv_model_arch arch;
	enum vv_model_head head;      /* from architectures; 0 = decide from tensors */
	int head_known;
	enum vv_model_posenc posenc;
	enum vv_model_ffn ffn;        /* activation; SWIGLU decided with the tensors */
	int gated_hint;               /* add_bias_fnn present (NT-v2 custom code) */
	int ffn_bias;
	int vocab_size, hidden, layers, heads, head_dim, inter, max_pos, type_vocab;
	int num_labels;
	int pad_id, mask_id;          /* -1 if absent */
	float ln_eps;
	int emb_ln_before, token_dropout, tied;
	char name[256];
};

/* Parses config.json text; fills c.  Returns 0 or VV_ERR_MODEL_CONFIG with a
 * detail naming the field. */
int vv_model_config_parse(const char *txt, size_t len, struct vv_model_config *c) VV_MUST_CHECK;

/* ---- vocabulary and tokenizer (tokenizer.c) ---- */

/* A token id that names no token: a special token the vocabulary lacks (the
 * "-1 where absent" of vv_model_info).  Never a vv_err code. */
#define VV_TOK_NONE (-1)

struct vv_vocab {
	char **tok;        /* tok[id], NUL-terminated */
	size_t n;
	int32_t *slot;     /* open-addressing table of ids, -1 empty */
	size_t nslot;      /* power of two */
};

struct vv_tokenizer {
	enum vv_model_tok kind;
	int k;
	int32_t cls, eos, pad, mask, unk;
	int append_eos;
	int32_t letter[256];   /* single-letter token ids, VV_TOK_NONE absent */
	int32_t *kmer;         /* 4^k ids indexed by base-4 code (A0 C1 G2 T3) */
};

int vv_model_vocab_parse(const char *txt, size_t len, size_t max_tokens, struct vv_vocab *v) VV_MUST_CHECK;
void vv_model_vocab_done(struct vv_vocab *v);
/* Whether the vocabulary holds token s[0..n); *id gets its id, or
 * VV_TOK_NONE when it is absent. */
bool vv_model_vocab_find(const struct vv_vocab *v, const char *s, size_t n, int32_t *id);

/* Decides the tokenizer from the vocabulary, tokenizer_config.json (may be
 * NULL) and the architecture; see docs/model.md. */
int vv_model_tokenizer_init(struct vv_tokenizer *t, const struct vv_vocab *v,
			    const struct vv_model_config *c, const char *tcfg, size_t tcfg_len) VV_MUST_CHECK;
void vv_model_tokenizer_done(struct vv_tokenizer *t);

/* ---- weights (load.c) and the model ---- */

struct vv_layer {
	const float *q_w, *q_b, *k_w, *k_b, *v_w, *v_b, *o_w, *o_b;
	const float *ln1_w, *ln1_b;   /* ESM: before attention; BERT: after it */
	const float *fc1_w, *fc1_b;   /* [inter or 2*inter, hidden] */
	const float *fc2_w, *fc2_b;   /* [hidden, inter] */
	const float *ln2_w, *ln2_b;   /* ESM: before the FFN; BERT: after it */
	/* bf16 copies of the projections (precision bf16), else NULL */
	const uint16_t *q_h, *k_h, *v_h, *o_h, *fc1_h, *fc2_h;
};

struct vv_weights {
	const float *word, *pos, *type;       /* [V,d], [P,d], [T,d] */
	const float *emb_ln_w, *emb_ln_b;
	struct vv_layer *layer;
	const float *final_ln_w, *final_ln_b; /* ESM emb_layer_norm_after */
	/* MLM head */
	const float *lm_dense_w, *lm_dense_b, *lm_ln_w, *lm_ln_b, *lm_dec_w, *lm_bias;
	/* classification: BERT pooler + classifier, ESM dense + out_proj */
	const float *cls_dense_w, *cls_dense_b, *cls_out_w, *cls_out_b;
	const uint16_t *lm_dense_h, *lm_dec_h; /* bf16 copies, else NULL */
};

struct vv_model {
	struct vv_model_config cfg;
	struct vv_weights w;
	struct vv_vocab vocab;
	struct vv_tokenizer tok;
	struct vv_model_info info;
	void *map;           /* mmap of model.safetensors, or NULL */
	size_t map_len;
	float *owned;        /* converted tensors */
	uint16_t *bf16;      /* bf16 copies of the projections (bf16.c), or NULL */
	enum vv_model_precision precision;
	char name[256];
};

/* ---- run-state (forward.c), its thread pool (pool.c) ---- */

#define VV_MAX_THREADS 256

/* What each worker owns. */
struct vv_scratch {
	float *att;     /* [max_tokens, max_tokens] one head's scores */
	float *ffn;     /* [VV_CHUNK, fw] the feed-forward's intermediate */
	float *h1, *h2; /* [VV_HEAD_ROWS, d] head rows */
	float *logits;  /* [VV_HEAD_ROWS, vocab] MLM rows before scattering */
	int *slot_req;  /* [VV_HEAD_ROWS] request index of each head row, -1 empty */
	struct vv_bf16 *bf16; /* oneDNN state of a bf16 run, else NULL */
	uint64_t flops;       /* 2 m n k of every product this thread ran */
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
	/* vv_model_forward_mlm(): the row packed at each place (-1 none), and
	 * the place of each row (-1 none) */
	int32_t *pack_src, *pack_of;
	struct vv_scratch *scr; /* [threads] */
	uint64_t flops_gone;    /* products of threads since stopped */
	size_t *off; /* [max_batch + 1] first row of each sequence */
	size_t *len; /* [max_batch] tokens of each sequence */
	size_t n_seqs; /* sequences of the last forward; 0 before any */
	size_t rows;   /* rows in use by the last forward (aligned) */
	size_t align;  /* the row tile of the last forward (run_align()) */
	bool trimmed;  /* the last forward computed the head's rows only */
};

/* A stage of a forward: fn runs once on each of items 0..items-1, on
 * whichever worker takes it; no item's result depends on which. */
struct vv_job;
typedef void (*vv_job_fn)(const struct vv_job *j, size_t item, struct vv_scratch *s);

struct vv_job {
	vv_model_run *r;
	const struct vv_layer *layer;
	const struct vv_model_at *at; /* MLM requests */
	float *out;
	size_t n_at;
	/* the feed-forward stage on packed rows (fx, fxn, frows) rather than
	 * on the run's (fx NULL) */
	float *fx, *fxn;
	size_t frows;
	size_t items;
	vv_job_fn fn;
	atomic_size_t next;
};

/* Starts r->threads - 1 helper threads (none for one thread); a helper that
 * cannot be started leaves its share to the others, so this cannot fail. */
void vv_model_pool_start(vv_model_run *r);
/* Stops and joins r's helpers.  Safe when none were started. */
void vv_model_pool_stop(vv_model_run *r);
/* Runs j->fn on every item with the calling thread and r's helpers; returns
 * when all are done. */
void vv_model_pool_run(struct vv_job *j);

/* Columns of the first feed-forward product: 2 * inter for SwiGLU. */
size_t vv_model_ffn_width(const vv_model *m);

/* ---- bf16 products through oneDNN (bf16.c) ---- */

struct vv_bf16;
/* A worker's oneDNN stream, primitives and room to convert a left operand
 * of rows x kmax; NULL if out of memory or oneDNN has no CPU engine. */
struct vv_bf16 *vv_model_bf16_new(size_t rows, size_t kmax);
void vv_model_bf16_free(struct vv_bf16 *b);
/* C[m,n] = A[m,k] . W^T (+ C when beta is 1), W the bf16 weight [n,k], A
 * rounded to bf16, fp32 accumulation and output.  Returns 0, or
 * VV_ERR_UNSUPPORTED when oneDNN refuses the shape (C untouched: the caller
 * computes it in fp32). */
/* With on, the next products whose left operand is the same (pointer,
 * shape, stride) as the last one's take its bf16 copy as it is: the caller
 * promises that memory has not changed (Q, K and V of one chunk). */
void vv_model_bf16_reuse_a(struct vv_bf16 *b, bool on);
int vv_model_bf16_mm(struct vv_bf16 *b, int m, int n, int k, const float *a, int lda, const uint16_t *w,
	       float beta, float *c, int ldc);

/* ---- element-wise maths (vecmath.c) ---- */

/* out[rows, d] = LayerNorm(in) * w + b, row by row; out may be in. */
void vv_model_vec_layernorm(float *out, const float *in, size_t rows, int d, const float *w,
		      const float *b, float eps);
/* Applies the feed-forward activation act to the first n columns of each of
 * rows rows of stride ld (SwiGLU: silu(x[0..n)) * x[n..2n) into x[0..n)). */
void vv_model_vec_activate(enum vv_model_ffn act, float *p, size_t rows, size_t n, size_t ld);
/* Softmax of each of rows rows of n floats, in place. */
void vv_model_vec_softmax_rows(float *s, int rows, int n);
/* Rotary embedding of one row of `heads` heads of dh (even) values: in each
 * head, (a, b) = (v[i], v[i + dh/2]) becomes (a cs[i] - b sn[i],
 * b cs[i] + a sn[i]); the same bits at every vector width. */
void vv_model_vec_rotary_row(float *v, size_t heads, size_t dh, const float *cs, const float *sn);
/* Tests: 0 runs the element-wise maths at width 4 even on an AVX-512 CPU;
 * -1 (the default) picks the widest the CPU runs.  The bits are the same. */
void vv_model_vec_set_wide(int wide);

#endif
