/*
 * varvault model: transformer DNA language models (Hugging Face BERT and ESM
 * / Nucleotide Transformer layouts) loaded from safetensors and run in fp32
 * on OpenBLAS.
 *
 * Three kinds of state are kept apart (STYLE.md rule 3):
 *  - vv_model: hyperparameters, vocabulary, tokenizer and read-only weights.
 *    F32 little-endian tensors that are 4-byte aligned in the file are used
 *    in place from a read-only mapping; F16/BF16 (or misaligned) tensors are
 *    converted once, at load, into a buffer the model owns.  A loaded model
 *    is never written again, so any number of runs and threads may share it.
 *  - vv_model_run: activations for at most (max_batch, max_tokens), all
 *    allocated by vv_model_run_new(), so that a forward that passed its
 *    argument checks cannot fail.  One run belongs to one thread at a time.
 *  - the caller's ids and output buffers.
 *
 * Numerics: fp32 everywhere by default; every projection and both attention
 * products go through cblas_sgemm.  Opt-in bf16 (vv_model_set_precision)
 * runs the weight products through oneDNN instead.  Sequences of a batch are packed without padding
 * between them (each starts on a 48-row boundary) and each attends only to
 * itself, which is what an attention mask over a padded batch computes.
 * Results for one sequence are bit-for-bit the same whatever batch it is in,
 * whatever other positions are requested from the heads and whatever the
 * thread count: OpenBLAS rounds a row differently depending on where it sits
 * in a call and on its own thread split, so the run fixes both (see
 * src/model/forward.c and docs/model.md); checked by tests/unit/test_model.c
 * under both the Haswell and the AVX-512 kernels of Debian's OpenBLAS.
 *
 * Errors follow core.h: 0 or a negative VV_ERR_*, with a detail message
 * (vv_err_detail()) naming the file, field or tensor at fault.
 */
#ifndef VARVAULT_MODEL_H
#define VARVAULT_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "varvault/core.h"

typedef struct vv_model vv_model;
typedef struct vv_model_run vv_model_run;

enum vv_model_arch {
	VV_MODEL_ARCH_BERT = 1,  /* post-LayerNorm, absolute + token-type embeddings */
	VV_MODEL_ARCH_ESM = 2,   /* pre-LayerNorm, final LayerNorm (ESM-2, NT-v1/v2) */
};

enum vv_model_head {
	VV_MODEL_HEAD_NONE = 0,  /* encoder only: hidden states */
	VV_MODEL_HEAD_MLM = 1,   /* masked-LM logits over the vocabulary */
	VV_MODEL_HEAD_CLS = 2,   /* sequence classification logits */
};

enum vv_model_posenc {
	VV_MODEL_POS_ABSOLUTE = 1,  /* learned position embeddings */
	VV_MODEL_POS_ROTARY = 2,    /* rotary embeddings on queries and keys */
};

enum vv_model_ffn {
	VV_MODEL_FFN_GELU = 1,      /* dense, GELU (erf), dense */
	VV_MODEL_FFN_GELU_TANH = 2, /* BERT hidden_act gelu_new / gelu_pytorch_tanh */
	VV_MODEL_FFN_RELU = 3,      /* BERT hidden_act relu */
	VV_MODEL_FFN_SILU = 4,      /* BERT hidden_act silu / swish */
	VV_MODEL_FFN_SWIGLU = 5,    /* NT-v2: dense to 2*I, silu(x1) * x2, dense */
};

enum vv_model_tok {
	VV_MODEL_TOK_CHAR = 1,         /* one token per letter (single nucleotide) */
	VV_MODEL_TOK_KMER = 2,         /* non-overlapping k-mers, single-letter fallback (NT) */
	VV_MODEL_TOK_KMER_OVERLAP = 3, /* overlapping k-mers, stride 1 (DNABERT) */
};

/* Arithmetic of the products that involve weights (see
 * vv_model_set_precision). */
enum vv_model_precision {
	VV_MODEL_FP32 = 0,  /* the default: fp32 on OpenBLAS, bit-for-bit reproducible */
	VV_MODEL_BF16 = 1,  /* bf16 weights and inputs, fp32 accumulation (oneDNN) */
};

/* Facts about a loaded model.  Strings live as long as the model. */
struct vv_model_info {
	const char *name;          /* config "_name_or_path", else the directory name */
	enum vv_model_arch arch;
	enum vv_model_head head;
	enum vv_model_posenc posenc;
	enum vv_model_ffn ffn;
	int pre_layernorm;         /* 1 for ESM, 0 for BERT */
	int emb_layernorm;         /* a LayerNorm right after the embeddings */
	int token_dropout;         /* ESM token_dropout scaling at inference */
	int tied_decoder;          /* MLM decoder is the word-embedding matrix */
	int ffn_bias;              /* feed-forward denses carry biases */
	int vocab_size;            /* rows of the embedding (config vocab_size) */
	int vocab_tokens;          /* lines of vocab.txt (<= vocab_size) */
	int hidden_size;
	int num_layers;
	int num_heads;
	int intermediate_size;
	int max_positions;         /* config max_position_embeddings */
	int max_tokens;            /* longest id sequence a forward accepts */
	int num_labels;            /* classification head outputs, else 0 */
	float layer_norm_eps;
	enum vv_model_tok tokenizer;
	int k;                     /* k-mer length (1 for VV_MODEL_TOK_CHAR) */
	int32_t cls_id, eos_id, pad_id, mask_id, unk_id; /* -1 where absent */
	int append_eos;            /* tokenize() ends sequences with eos_id */
	uint64_t n_params;         /* parameters the forward uses (tied counted once) */
	size_t weights_file_bytes; /* size of model.safetensors */
	size_t weights_mapped_bytes; /* F32 tensors used in place from the mapping */
	size_t weights_owned_bytes;  /* tensors converted into owned memory */
	char sha256[65];           /* hex SHA-256 of model.safetensors */
	enum vv_model_precision precision; /* VV_MODEL_FP32 unless set */
	size_t weights_bf16_bytes; /* bf16 copies of the projections (precision bf16) */
};

/* In-memory sources for vv_model_load_mem().  config, weights and vocab are
 * required; tokenizer_config may be NULL.  Nothing needs a NUL terminator. */
struct vv_model_source {
	const char *config;          /* config.json */
	size_t config_len;
	const void *weights;         /* model.safetensors; borrowed, see below */
	size_t weights_len;
	const char *vocab;           /* vocab.txt */
	size_t vocab_len;
	const char *tokenizer_config; /* tokenizer_config.json, or NULL */
	size_t tokenizer_config_len;
	const char *name;            /* used when config has no _name_or_path; may be NULL */
};

/* Upper bounds on what a model file may declare (rule 14). */
#define VV_MODEL_MAX_HIDDEN 16384
#define VV_MODEL_MAX_LAYERS 256
#define VV_MODEL_MAX_INTERMEDIATE 131072
#define VV_MODEL_MAX_VOCAB (1 << 22)
#define VV_MODEL_MAX_POSITIONS (1 << 20)
#define VV_MODEL_MAX_LABELS 65536
#define VV_MODEL_MAX_K 8

/*
 * Loads the Hugging Face model directory dir: config.json, model.safetensors
 * (memory-mapped read-only, every header field validated), vocab.txt and,
 * if present, tokenizer_config.json.  A directory with only a pickle
 * checkpoint (pytorch_model.bin) is refused with VV_ERR_MODEL_PICKLE and a
 * detail naming tools/convert_pickle_to_safetensors.py; a sharded checkpoint
 * is VV_ERR_UNSUPPORTED.  Also hashes the weights file (SHA-256).
 * On success *out owns the mapping; free with vv_model_free().  On failure
 * *out is NULL and the detail names the file, field or tensor.
 * Returns 0, VV_ERR_IO, VV_ERR_NOMEM, VV_ERR_MODEL_* or VV_ERR_UNSUPPORTED.
 */
VV_EXPORT int vv_model_load(const char *dir, vv_model **out) VV_MUST_CHECK;

/*
 * Same as vv_model_load() from memory buffers (for tests and the fuzzer).
 * src->weights is borrowed: F32 tensors may be used in place, so the buffer
 * must outlive the model and stay unchanged.  The other buffers are copied
 * or parsed and may be freed on return.
 */
VV_EXPORT int vv_model_load_mem(const struct vv_model_source *src, vv_model **out) VV_MUST_CHECK;

/* Frees a model (unmaps, frees converted weights).  NULL-safe.  Every run
 * made from it must be freed first. */
VV_EXPORT void vv_model_free(vv_model *m);

/* Facts about m; the pointer lives as long as m.  Never NULL for a model. */
VV_EXPORT const struct vv_model_info *vv_model_get_info(const vv_model *m);

/* Short names for the enums ("esm", "masked-lm", "rotary", "swiglu",
 * "kmer", ...); static strings, never NULL. */
VV_EXPORT const char *vv_model_arch_name(enum vv_model_arch a);
VV_EXPORT const char *vv_model_head_name(enum vv_model_head h);
VV_EXPORT const char *vv_model_posenc_name(enum vv_model_posenc p);
VV_EXPORT const char *vv_model_ffn_name(enum vv_model_ffn f);
VV_EXPORT const char *vv_model_tok_name(enum vv_model_tok t);

/* ---- tokenizer ---- */

/* Where a token comes from in the input string: bytes [start, start+len).
 * Special tokens (cls, eos) have start -1 and len 0. */
struct vv_model_span {
	int32_t start;
	int32_t len;
};

/*
 * Tokenizes the DNA string seq[0..len) (no NUL needed) with the model's
 * tokenizer: cls first, then the sequence tokens, then eos when the model's
 * tokenizer appends one (info->append_eos).  Letters are upper-cased first;
 * a letter or k-mer that is not in the vocabulary becomes unk_id, one token
 * per unknown letter (see docs/model.md for each kind's rules).
 * Writes at most cap ids (and spans, if spans is not NULL) and sets *n to the
 * number of tokens the whole sequence needs.  Returns 0, VV_ERR_RANGE if *n >
 * cap (nothing useful written; call again with a larger buffer), or
 * VV_ERR_INVAL if len exceeds INT32_MAX.  Thread-safe (m is read-only).
 */
VV_EXPORT int vv_model_tokenize(const vv_model *m, const char *seq, size_t len,
				int32_t *ids, struct vv_model_span *spans, size_t cap,
				size_t *n) VV_MUST_CHECK;

/* Id of the vocabulary token spelled exactly token ("A", "ACGTAC", "<mask>",
 * "[MASK]"); returns the id (>= 0) or VV_ERR_NOTFOUND.  Thread-safe. */
VV_EXPORT int vv_model_token_id(const vv_model *m, const char *token);

/* Spelling of id, or NULL when id is not a vocabulary line.  Lives as long
 * as m. */
VV_EXPORT const char *vv_model_token_str(const vv_model *m, int32_t id);

/* Index of the first token whose span holds byte pos of the input, or
 * VV_ERR_NOTFOUND.  With overlapping k-mers, tokens index..index+k-1 may
 * all hold it. */
VV_EXPORT int vv_model_token_at(const struct vv_model_span *spans, size_t n, size_t pos);

/* ---- run-state and forward ---- */

/* Bytes a run for max_batch sequences of max_tokens tokens allocates once it
 * has `threads` workers (vv_model_run_set_threads), or 0 if the arguments are
 * invalid or the size overflows.  Peak memory of a worker process is about
 * info->weights_mapped_bytes + weights_owned_bytes + this. */
VV_EXPORT size_t vv_model_run_bytes(const vv_model *m, size_t max_batch, size_t max_tokens,
				    int threads);

/*
 * Allocates the activations for batches of at most max_batch sequences of
 * at most max_tokens tokens each (max_tokens <= info->max_tokens), with one
 * worker thread.  Returns 0 with *out owned by the caller
 * (vv_model_run_free), VV_ERR_INVAL for zero or too-large sizes,
 * VV_ERR_MODEL_SEQLEN if max_tokens exceeds the model's, VV_ERR_RANGE on
 * size overflow, VV_ERR_NOMEM.
 */
VV_EXPORT int vv_model_run_new(const vv_model *m, size_t max_batch, size_t max_tokens,
			       vv_model_run **out) VV_MUST_CHECK;

/*
 * As vv_model_run_new(), with the activations sized for at most max_rows
 * rows in all rather than max_batch * max_tokens: each sequence of a
 * forward takes vv_model_rows(len) rows.  For callers whose sequences are
 * mostly much shorter than the longest they allow (k-mer windows with a few
 * N-runs).  max_rows 0 means no budget; otherwise it must hold one sequence
 * of max_tokens (VV_ERR_INVAL).  A forward over the budget fails with
 * VV_ERR_RANGE before computing anything.
 */
VV_EXPORT int vv_model_run_new_rows(const vv_model *m, size_t max_batch, size_t max_tokens,
				    size_t max_rows, vv_model_run **out) VV_MUST_CHECK;

/* Rows of the run's activations that a sequence of n tokens occupies at
 * most: n rounded up to VV_MODEL_ROW_ALIGN_MAX.  A forward rounds each
 * sequence up to the row tile of the kernel in use
 * (vv_model_kernel_row_align(); VV_MODEL_ROW_ALIGN_MAX for bf16 on AMX), which
 * keeps results independent of the batch and divides this. */
#define VV_MODEL_ROW_ALIGN_MAX 48
VV_EXPORT size_t vv_model_rows(size_t n);

/* Frees a run.  NULL-safe. */
VV_EXPORT void vv_model_run_free(vv_model_run *r);

/*
 * Sets the number of worker threads of r's forwards and heads (n < 1 means
 * 1), allocating each worker's scratch now so that forwards cannot fail.
 * The run splits the work itself and calls OpenBLAS with one thread
 * (openblas_set_num_threads(1) for the duration of each call into the run,
 * the caller's setting restored afterwards; the setting is process-wide, so
 * other OpenBLAS users in the process see it meanwhile).  Results do not
 * depend on n.  Returns 0, VV_ERR_INVAL (n > 256) or VV_ERR_NOMEM (the run
 * keeps its previous count).
 */
VV_EXPORT int vv_model_run_set_threads(vv_model_run *r, int n) VV_MUST_CHECK;

/*
 * Floating-point operations of the matrix products r has run since it was
 * made: 2 m n k for each product of m rows, n columns and depth k, padding
 * rows included (they are computed), summed over its threads.  What the
 * engine's speed is measured against: the products are nearly all of a
 * forward's time, so this over the CPU time is the engine's product rate.
 */
VV_EXPORT uint64_t vv_model_run_flops(const vv_model_run *r);

/* One sequence of token ids (cls/eos included, as tokenize() makes them). */
struct vv_model_seq {
	const int32_t *ids;
	size_t len;
};

/*
 * Runs the encoder on n sequences of mixed lengths (1 <= n <= max_batch,
 * 1 <= len <= max_tokens, every id < vocab_size).  Keeps the final hidden
 * states in r for vv_model_hidden(), vv_model_mlm_logits() and
 * vv_model_cls_logits() until the next forward.  Checks every argument
 * before computing; once they pass it cannot fail.
 * Returns 0, VV_ERR_INVAL (bad n or id; detail names it) or
 * VV_ERR_MODEL_SEQLEN (a sequence longer than the run allows).
 */
VV_EXPORT int vv_model_forward(vv_model_run *r, const struct vv_model_seq *seqs,
			       size_t n) VV_MUST_CHECK;

/* Final hidden states of sequence seq of the last forward: *h points at
 * [len, hidden_size] floats inside r (valid until the next forward or free),
 * *len its token count.  Returns 0 or VV_ERR_INVAL (no forward, bad seq). */
VV_EXPORT int vv_model_hidden(const vv_model_run *r, size_t seq, const float **h,
			      size_t *len) VV_MUST_CHECK;

/* A (sequence, token) position of the last forward. */
struct vv_model_at {
	uint32_t seq;
	uint32_t tok;
};

/*
 * Masked-LM logits at n positions of the last forward, computing the LM head
 * on those rows only.  Writes n * vocab_size floats to out (row i for at[i]).
 * Returns 0, VV_ERR_UNSUPPORTED (no MLM head) or VV_ERR_INVAL (no forward,
 * a position outside it).  Uses r's scratch; the hidden states are kept.
 */
VV_EXPORT int vv_model_mlm_logits(vv_model_run *r, const struct vv_model_at *at, size_t n,
				  float *out) VV_MUST_CHECK;

/*
 * vv_model_forward() and then vv_model_mlm_logits() at the n_at positions
 * (of these sequences), with the same results bit for bit, but the last
 * layer's output projection, feed-forward and final LayerNorm run on the
 * rows the head reads only: about one layer in num_layers less work when
 * few rows are read, as in variant scoring (with the kernels whose
 * rounding vv_model_kernel_row_align() knows, or bf16; elsewhere it runs
 * the whole last layer).  After a trimmed forward the run keeps no
 * complete hidden states: vv_model_hidden() and the logits functions refuse
 * (VV_ERR_INVAL) until the next vv_model_forward().  Returns 0 or the
 * errors of those two, checking every argument before computing.
 */
VV_EXPORT int vv_model_forward_mlm(vv_model_run *r, const struct vv_model_seq *seqs, size_t n,
				   const struct vv_model_at *at, size_t n_at, float *out) VV_MUST_CHECK;

/* Classification logits of every sequence of the last forward: writes
 * n_seqs * num_labels floats.  Returns 0, VV_ERR_UNSUPPORTED (no
 * classification head) or VV_ERR_INVAL (no forward). */
VV_EXPORT int vv_model_cls_logits(vv_model_run *r, float *out) VV_MUST_CHECK;

/* ---- Self-test and description (for `model check`, `model import`,
 * `model info --json` and the daemon's health verb) ---- */

/* What vv_model_selftest ran. */
struct vv_model_selftest_result {
	size_t tokens[2];   /* tokens of the two sequences of the batch */
};

/*
 * Runs one forward on a synthetic, padded batch of two DNA sequences of
 * different lengths and checks that every hidden state and every logit of
 * the model's head (masked-LM: two positions; classification: both rows)
 * is finite.  Allocates and frees its own run-state, single-threaded; m is
 * only read, so other threads may share it meanwhile.  res may be NULL.
 * Returns 0, the errors of vv_model_tokenize / vv_model_run_new /
 * vv_model_forward, VV_ERR_NOMEM, or VV_ERR_INTERNAL with a detail naming
 * what was not finite.
 */
VV_EXPORT int vv_model_selftest(const vv_model *m, struct vv_model_selftest_result *res) VV_MUST_CHECK;

/*
 * The facts of `model info` as one pretty-printed JSON object (no trailing
 * newline): architecture, sizes, special ids, parameters, SHA-256 of the
 * weights, and memory (run-state for batch sequences of tokens tokens and
 * threads threads; max_rss_kib, the caller's peak RSS in KiB, is included
 * when >= 0).  *out is malloc'd; the caller frees it.  Returns 0 or
 * VV_ERR_NOMEM (*out NULL).
 */
VV_EXPORT int vv_model_info_json(const vv_model *m, size_t batch, size_t tokens, int threads,
				 long max_rss_kib, char **out) VV_MUST_CHECK;
/*
 * Writes the safetensors file src again as dst with every F16 and BF16
 * tensor converted to F32 (exactly, as vv_model_load converts them) and
 * F32 tensors unchanged: same names and shapes, data contiguous, F32
 * tensors first and 4-byte aligned (the header is padded to 8 bytes), other
 * dtypes copied as they are after them, __metadata__ kept.  A model loaded
 * from dst then uses every weight in place from its mapping and computes
 * bit-for-bit what one loaded from src does.  dst is written whole or not
 * at all (vv_outfile) and must not exist yet.  sha256 (may be NULL) gets
 * the hex SHA-256 of the written file.  A file with nothing to convert
 * (every float tensor F32 and 4-byte aligned) is copied byte for byte, so
 * that it keeps the hash it is published with.  Returns 0, VV_ERR_NOTFOUND,
 * VV_ERR_IO, VV_ERR_EXISTS, VV_ERR_MODEL_FORMAT, VV_ERR_RANGE or
 * VV_ERR_NOMEM; on failure nothing is left at dst.
 */
VV_EXPORT int vv_model_write_f32(const char *src, const char *dst, char sha256[65]) VV_MUST_CHECK;

/* ---- precision ---- */

struct vv_model_cpu;

/*
 * Sets the precision of the products between activations and weights (the
 * attention products, LayerNorms, activations and softmax stay fp32).
 * VV_MODEL_BF16 converts the projection and LM-head weights once to bf16
 * (round to nearest even; weights_bf16_bytes more memory) and runs those
 * products through oneDNN's matmul with bf16 inputs and fp32 accumulation
 * and output, as PyTorch's bf16 autocast does on a CPU.  Scores move by a
 * documented amount (docs/model.md); results are deterministic for a given
 * machine but not bit-for-bit those of fp32.  VV_MODEL_FP32 (the default)
 * frees the copies.
 * cpu: the CPU to decide for; NULL means this one (tests pass another).
 * bf16 needs AVX-512 with AVX512-BF16 or AMX: elsewhere, and for
 * classification models, VV_ERR_UNSUPPORTED with a detail saying why.
 * Call before making runs and never while a run of m computes: runs made
 * before it keep the precision they were made with.  Returns 0,
 * VV_ERR_UNSUPPORTED, VV_ERR_INVAL or VV_ERR_NOMEM (m unchanged).
 */
VV_EXPORT int vv_model_set_precision(vv_model *m, enum vv_model_precision p,
				     const struct vv_model_cpu *cpu) VV_MUST_CHECK;

/* Whether CPU c can run precision p (fp32 always). */
VV_EXPORT bool vv_model_precision_supported(const struct vv_model_cpu *c,
					    enum vv_model_precision p);

/* "fp32" or "bf16"; static string. */
VV_EXPORT const char *vv_model_precision_name(enum vv_model_precision p);

/* Parses "fp32" (or "f32") or "bf16" into *p.  Returns 0 or VV_ERR_INVAL
 * with a detail. */
VV_EXPORT int vv_model_precision_parse(const char *s, enum vv_model_precision *p) VV_MUST_CHECK;

/* bf16 <-> float (round to nearest even; NaN stays NaN), for tests. */
VV_EXPORT uint16_t vv_model_bf16_from_float(float f);
VV_EXPORT float vv_model_bf16_to_float(uint16_t h);

/* ---- the OpenBLAS kernel ---- */

/*
 * Debian's OpenBLAS picks its kernels from the CPU model it recognises; on a
 * CPU newer than the library it falls back to a generic kernel several times
 * slower than the best it has for that CPU.  These functions compare the
 * CPU's features with the core type OpenBLAS chose and name the better one,
 * which only takes effect in a process started with OPENBLAS_CORETYPE set
 * (OpenBLAS reads it once, when the library loads): varvault-admin
 * re-executes itself once, the daemon sets it for the workers it spawns.
 * VV_MODEL_KERNEL_GUARD, set beside it to the same value, marks the choice
 * as varvault's (and stops a second re-execution).  An OPENBLAS_CORETYPE
 * the operator set is always respected.  See docs/model.md.
 */
#define VV_MODEL_KERNEL_GUARD "VARVAULT_OPENBLAS_CORETYPE"

/* What the CPU offers the engine (OS support included for AVX and AVX-512). */
struct vv_model_cpu {
	char vendor[13];  /* "GenuineIntel", "AuthenticAMD", "" if unknown */
	bool avx, avx2, fma;
	bool avx512;      /* F, CD, BW, DQ and VL */
	bool avx512_bf16;
	bool amx_bf16;    /* AMX-TILE and AMX-BF16 */
};

/* Reads this CPU's features (cpuid).  Thread-safe. */
VV_EXPORT void vv_model_cpu_detect(struct vv_model_cpu *c);

/* The strongest OpenBLAS core type the CPU c runs ("Cooperlake",
 * "SkylakeX", "Haswell", "Zen", "Sandybridge"), or NULL when none of them
 * fits.  Static string. */
VV_EXPORT const char *vv_model_cpu_best_core(const struct vv_model_cpu *c);

/* Whether varvault knows the OpenBLAS core type core; if so *rank gets its
 * rank by sgemm (0 generic .. 5). */
VV_EXPORT bool vv_model_kernel_rank(const char *core, int *rank);

/*
 * The decision, from its inputs alone (tests pass a weaker `detected` than
 * the CPU's to simulate a CPU OpenBLAS does not recognise): true, with the
 * core type in want[cap], when a process on CPU c whose OpenBLAS detected
 * `detected` should run with OPENBLAS_CORETYPE=want.  False when env_core
 * (the environment's OPENBLAS_CORETYPE: the operator's, or ours) or
 * env_guard (VV_MODEL_KERNEL_GUARD: an earlier pass of ours) is set and
 * non-empty, when `detected` is as strong as the CPU's best or a name
 * varvault does not know, or when want[cap] is too small.
 */
VV_EXPORT bool vv_model_kernel_decide(const struct vv_model_cpu *c, const char *detected,
				      const char *env_core, const char *env_guard, char *want,
				      size_t cap);

/* vv_model_kernel_decide() on this CPU and this process's environment;
 * detected NULL means what this process's OpenBLAS chose
 * (openblas_get_corename()). */
VV_EXPORT bool vv_model_kernel_want(const char *detected, char *want, size_t cap);

/*
 * The environment for a worker process that will run the engine: a copy of
 * envp (NULL-terminated; may be NULL) with OPENBLAS_CORETYPE and
 * VV_MODEL_KERNEL_GUARD set to the better core type when
 * vv_model_kernel_want(detected) says so, otherwise an unchanged copy.
 * *out is NULL-terminated, owned by the caller (vv_model_kernel_envp_free).
 * Returns 0 or VV_ERR_NOMEM (*out NULL).
 */
VV_EXPORT int vv_model_kernel_envp(char *const *envp, const char *detected, char ***out) VV_MUST_CHECK;
VV_EXPORT void vv_model_kernel_envp_free(char **env);

/*
 * For a program's main, before anything else: when vv_model_kernel_want(
 * detected) says so, sets OPENBLAS_CORETYPE and VV_MODEL_KERNEL_GUARD and
 * executes /proc/self/exe again with argv (so the process starts anew, with
 * the same pid, descriptors and arguments; the guard stops a second pass).
 * Returns when nothing needed changing, or when the exec failed (the
 * environment then restored).  Not for processes with more than one thread.
 */
VV_EXPORT void vv_model_kernel_reexec(char *const argv[], const char *detected);

enum vv_model_kernel_source {
	VV_MODEL_KERNEL_DETECTED = 0, /* OpenBLAS's own detection */
	VV_MODEL_KERNEL_VARVAULT = 1, /* OPENBLAS_CORETYPE set by varvault */
	VV_MODEL_KERNEL_OPERATOR = 2, /* OPENBLAS_CORETYPE set by the operator */
};

/* The kernel this process runs, for `model info`, health and the logs. */
struct vv_model_kernel {
	struct vv_model_cpu cpu;
	char cpu_text[128]; /* vendor and features: "GenuineIntel avx avx2 fma avx512 ..." */
	char in_use[32];    /* openblas_get_corename() */
	char best[32];      /* vv_model_cpu_best_core(), "" if none */
	enum vv_model_kernel_source source;
	bool weaker;        /* in_use is weaker than best (operator's choice, or no re-exec) */
};

/* Fills k for this process.  Thread-safe. */
VV_EXPORT void vv_model_kernel_get(struct vv_model_kernel *k);

/* "openblas", "varvault" or "operator"; static string. */
VV_EXPORT const char *vv_model_kernel_source_name(enum vv_model_kernel_source s);

/* The row tile of the OpenBLAS sgemm kernel in use (16 for SkylakeX and
 * Cooperlake, 24 for Haswell and Zen, VV_MODEL_ROW_ALIGN_MAX for a kernel
 * not measured): in a product whose row count is a multiple of it, each
 * row's result is the same wherever the row sits.  Divides
 * VV_MODEL_ROW_ALIGN_MAX. */
VV_EXPORT size_t vv_model_kernel_row_align(void);

#endif /* VARVAULT_MODEL_H */
