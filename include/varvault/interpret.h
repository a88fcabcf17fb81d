/*
 * varvault interpret: variant scoring with a transformer model, evidence
 * grading by policy, and the annotated outputs (VCF, JSON, TSV).
 */
#ifndef VARVAULT_INTERPRET_H
#define VARVAULT_INTERPRET_H

#include "varvault/core.h"

/* ---- Evidence policy (policy/evidence.conf) ---- */

typedef struct vv_policy vv_policy;

/* Variant classes with their own thresholds. */
enum vv_varclass { VV_CLASS_SNV = 0, VV_CLASS_INDEL = 1 };

/* ACMG/AMP computational evidence at ClinGen strengths. */
enum vv_evidence {
	VV_EV_NONE = 0,
	VV_EV_PP3_SUPPORTING,
	VV_EV_PP3_MODERATE,
	VV_EV_PP3_STRONG,
	VV_EV_BP4_SUPPORTING,
	VV_EV_BP4_MODERATE,
	VV_EV_BP4_STRONG,
};

/* Parses a policy from a buffer (name used in messages) or a file.  Unknown
 * settings, non-numbers and misordered thresholds are VV_ERR_POLICY with
 * "file:line: ..." in the detail.  On success *out is owned by the caller
 * (vv_policy_free). */
VV_EXPORT int vv_policy_parse(const char *buf, size_t len, const char *name, vv_policy **out) VV_MUST_CHECK;
VV_EXPORT int vv_policy_load(const char *path, vv_policy **out) VV_MUST_CHECK;
VV_EXPORT void vv_policy_free(vv_policy *p);

/* The evidence for a score of the given class. */
VV_EXPORT enum vv_evidence vv_policy_classify(const vv_policy *p, enum vv_varclass cls, double score);
/* "PP3_Supporting", ..., "none".  Static storage. */
VV_EXPORT const char *vv_evidence_name(enum vv_evidence e);
/* The policy's name, whether it is calibrated, and its calibration source
 * ("none" when uncalibrated).  Owned by p. */
VV_EXPORT const char *vv_policy_name(const vv_policy *p);
VV_EXPORT bool vv_policy_calibrated(const vv_policy *p);
VV_EXPORT const char *vv_policy_source(const vv_policy *p);
/* Lowercase hex SHA-256 of the policy file's bytes (65 bytes with NUL). */
VV_EXPORT const char *vv_policy_sha256(const vv_policy *p);

/* ---- Scoring with a masked-LM (docs/interpret.md) ---- */

struct vv_model;
typedef struct vv_scorer vv_scorer;

/* Longest default window in nucleotides (a model may allow less). */
#define VV_SCORE_DEFAULT_WINDOW 1000
/* Default flank of the indel local pseudo-log-likelihood, nucleotides. */
#define VV_SCORE_DEFAULT_FLANK 5
/* Most bases (reference and alternate regions together) a local PLL may
 * cover: each costs about one forward pass. */
#define VV_SCORE_MAX_PLL_BASES 256

struct vv_score_opts {
	size_t window_nt;   /* reference window; 0: the longest the model allows,
	                     * at most VV_SCORE_DEFAULT_WINDOW */
	size_t batch;       /* sequences per forward; 0: 32 */
	int threads;        /* worker threads of the model; 0: one per online CPU
	                     * (at most 64).  Scores do not depend on it. */
	size_t indel_flank; /* 0: VV_SCORE_DEFAULT_FLANK */
	size_t indel_stride; /* 0: the local PLL, one forward per masked token
	                      * (the default); N: the region's tokens N apart
	                      * share a forward (1: all at once), a cheaper
	                      * method whose scores differ (docs/interpret.md) */
};
/* Largest indel_stride: above it every region is short enough that the
 * strided method is the PLL itself. */
#define VV_SCORE_MAX_STRIDE 64

/* Scoring methods. */
enum vv_score_method {
	VV_SCORE_NONE = 0,
	VV_SCORE_MASKED_LLR = 1, /* SNVs: log p(alt) - log p(ref) at the masked token */
	VV_SCORE_LOCAL_PLL = 2,  /* indels, MNVs, delins: local PLL difference per base */
	VV_SCORE_LOCAL_STRIDED = 3, /* the same, tokens indel_stride apart masked together */
};
/* "masked_llr", "local_pll_mean", "local_pll_strided_mean", "none".
 * Static storage. */
VV_EXPORT const char *vv_score_method_name(enum vv_score_method m);

/* One variant to score: its reference window and normalized alleles. */
struct vv_score_req {
	const char *window;   /* reference bases (A, C, G, T, N) */
	size_t window_len;
	size_t offset;        /* index in window of the first REF base */
	const char *ref;      /* REF allele, matching window[offset..] */
	const char *alt;      /* ALT allele (A, C, G, T) */
};

struct vv_score_result {
	double score;               /* NAN when not scored */
	enum vv_score_method method;
	const char *reason;         /* why not scored: a static code such as
	                             * "allele_exceeds_window" (docs/interpret.md);
	                             * NULL when scored */
};

/* Creates a scorer for model m (which must have a masked-LM head and a mask
 * token, and outlive the scorer).  Allocates the model's run-state for
 * opts->batch sequences of the window's longest tokenization.  opts may be
 * NULL.  Returns 0 with *out owned by the caller (vv_scorer_free),
 * VV_ERR_UNSUPPORTED (no MLM head or no mask token), VV_ERR_INVAL (a window
 * the model cannot hold), VV_ERR_NOMEM. */
VV_EXPORT int vv_scorer_new(const struct vv_model *m, const struct vv_score_opts *opts,
			    vv_scorer **out) VV_MUST_CHECK;
VV_EXPORT void vv_scorer_free(vv_scorer *s);
/* The window length in nucleotides that callers should cut (the effective
 * opts->window_nt), and the indel flank. */
VV_EXPORT size_t vv_scorer_window(const vv_scorer *s);
VV_EXPORT size_t vv_scorer_flank(const vv_scorer *s);
/* The indel stride (0: the PLL) and the method indels, MNVs and delins
 * get (VV_SCORE_LOCAL_PLL or VV_SCORE_LOCAL_STRIDED). */
VV_EXPORT size_t vv_scorer_stride(const vv_scorer *s);
VV_EXPORT enum vv_score_method vv_scorer_indel_method(const vv_scorer *s);
/* Seconds spent inside the model (forwards and LM head) since the scorer
 * was made. */
VV_EXPORT double vv_scorer_engine_seconds(const vv_scorer *s);
/* The model the scorer runs. */
VV_EXPORT const struct vv_model *vv_scorer_model(const vv_scorer *s);
/* Forwards the scorer ran, and masked sequences its requests asked for,
 * since it was made: masked sequences with the same tokens and mask share
 * one forward (all the alleles of one position, repeated windows).  Either
 * pointer may be NULL. */
VV_EXPORT void vv_scorer_counts(const vv_scorer *s, uint64_t *forwards, uint64_t *probes);
/* Floating-point operations of the matrix products the scorer's model
 * runs ran since it was made (vv_model_run_flops()). */
VV_EXPORT uint64_t vv_scorer_flops(const vv_scorer *s);

/*
 * Scores n requests: SNVs (one base each) by masked LLR, every other
 * variant by the local pseudo-log-likelihood difference.  A request that
 * cannot be scored (an allele longer than the window, a token missing from
 * the vocabulary) gets a NAN score and a reason; that is not an error.
 * Each result depends only on its own request: not on n, the batch size or
 * the thread count.  Returns 0, or VV_ERR_NOMEM / VV_ERR_INTERNAL.
 */
VV_EXPORT int vv_scorer_score(vv_scorer *s, const struct vv_score_req *reqs, size_t n,
			      struct vv_score_result *res) VV_MUST_CHECK;

/* ---- The whole job: VCF in memory -> annotated output ---- */

struct vv_ref;
struct vv_vcf_limits;

enum vv_out_format { VV_OUT_VCF = 1, VV_OUT_JSON = 2, VV_OUT_TSV = 3 };

/* "vcf", "json", "tsv" -> format; returns 0 or VV_ERR_INVAL. */
VV_EXPORT int vv_out_format_parse(const char *name, enum vv_out_format *out) VV_MUST_CHECK;

struct vv_score_table;

struct vv_interpret_opts {
	enum vv_out_format format;
	size_t max_out;                       /* bytes of output at most; 0: no limit */
	const struct vv_vcf_limits *limits;   /* NULL: vcf defaults */
	size_t chunk;                         /* variants scored together, and per
	                                       * output chunk (VCF block boundaries
	                                       * follow it); 0: 1024 */
	/* Called after each chunk with variants done and the total (a first
	 * pass over the input counts them); may be NULL. */
	void (*progress)(void *ctx, uint64_t done, uint64_t total);
	void *progress_ctx;
	/* Precomputed SNV scores looked up before the model runs (opened with
	 * vv_score_table_open for this scorer and reference); NULL: none.
	 * The output is byte for byte the same with or without it. */
	struct vv_score_table *scores;
};

struct vv_interpret_summary {
	uint64_t records;      /* input records */
	uint64_t variants;     /* after splitting multi-allelic records */
	uint64_t scored;
	uint64_t not_scored;
	uint64_t warnings;     /* input warnings (all of them, also those not kept) */
	uint64_t evidence[VV_EV_BP4_STRONG + 1]; /* scored variants per evidence */
	double engine_seconds; /* time inside the model (forwards, LM head) */
	double total_seconds;  /* the whole run */
};

/*
 * Interprets len bytes of VCF (text, bgzipped or BCF) at vcf: validates and
 * normalizes every record against ref, scores every scorable variant with
 * sc, grades each score with policy p, and writes the annotated result in
 * the chosen format into out (an empty vv_sbuf; secure memory, since the
 * VCF output carries genotypes).  Nothing is written outside out.
 * Returns 0 with sum filled (sum may be NULL); on failure out is wiped and
 * empty, and the error is the reader's (VV_ERR_VCF_* with "line N, field
 * F" in the detail), VV_ERR_RANGE (output over max_out), VV_ERR_NOMEM.
 */
VV_EXPORT int vv_interpret_run(vv_scorer *sc, struct vv_ref *ref, const vv_policy *p,
			       const void *vcf, size_t len, const struct vv_interpret_opts *o,
			       vv_sbuf *out, struct vv_interpret_summary *sum) VV_MUST_CHECK;

/* The summary for scripts as one pretty-printed JSON object (no trailing
 * newline): counts per status and evidence, and timings; no patient data.
 * *out is malloc'd; the caller frees it.  Returns 0 or VV_ERR_NOMEM (*out
 * NULL). */
VV_EXPORT int vv_interpret_summary_json(const struct vv_interpret_summary *s, char **out) VV_MUST_CHECK;
/* ---- Chunked, resumable interpretation (the daemon's workers) ---- */

/* Bit of a format in a set of formats. */
#define VV_OUT_BIT(f) (1u << (f))
#define VV_OUT_ALL (VV_OUT_BIT(VV_OUT_VCF) | VV_OUT_BIT(VV_OUT_JSON) | VV_OUT_BIT(VV_OUT_TSV))
/* Slots of per-format arrays: index format - 1. */
#define VV_OUT_NFORMATS 3

/*
 * What a run carries from one chunk to the next: counts only, never
 * patient data.  Stored (encoded) with each chunk, and handed back to
 * vv_interpret_chunks_new to resume after that chunk.
 */
struct vv_interpret_state {
	uint64_t next_chunk;      /* chunks done: the index of the next chunk */
	uint64_t chunk_variants;  /* variants per chunk (the run's opts->chunk) */
	uint32_t formats;         /* VV_OUT_BIT set of the run */
	uint64_t variants, scored, not_scored;
	uint64_t evidence[VV_EV_BP4_STRONG + 1];
	uint64_t out_bytes[VV_OUT_NFORMATS]; /* output bytes so far, per format */
};

/* Bytes of an encoded state. */
#define VV_INTERPRET_STATE_LEN 136

/* Encodes st (little-endian, versioned) into out. */
VV_EXPORT void vv_interpret_state_encode(const struct vv_interpret_state *st,
					 uint8_t out[VV_INTERPRET_STATE_LEN]);
/* Decodes len bytes; VV_ERR_FORMAT when they are not an encoded state (wrong
 * length, magic or version, counts that do not add up). */
VV_EXPORT int vv_interpret_state_decode(const uint8_t *buf, size_t len,
					struct vv_interpret_state *st) VV_MUST_CHECK;

typedef struct vv_interpret_chunks vv_interpret_chunks;

/*
 * Prepares a chunked run over len bytes of VCF at vcf (copied, by the
 * readers, before this returns: the caller may wipe and free it then),
 * producing every
 * format of the set formats (VV_OUT_BIT bits; opts->format is ignored) in
 * one pass: each chunk is opts->chunk variants (0: 1024) in every format.
 * Chunk 0 also holds each format's header, the last chunk its trailer
 * (JSON closing and summary, TSV summary line, VCF's BGZF end-of-file
 * block); the VCF of every chunk ends at a BGZF block boundary.  For the
 * same input, model, reference, policy and chunk size the bytes do not
 * depend on anything else (batch, threads, resuming): the concatenation of
 * chunks 0..last of a format is vv_interpret_run's output in that format.
 *
 * resume: NULL to start at chunk 0, or the state stored with chunk k-1 to
 * start at chunk k.  The variants of chunks < k are read and normalized
 * again but not scored, except the few that the VCF's sort window still
 * holds at the end of chunk k-1 (those within VV_VCF_SORT_WINDOW bases of
 * the last one on its contig), which are scored again for the VCF only.
 * A state that does not fit the input, chunk size or formats is
 * VV_ERR_INVAL.
 *
 * opts->max_out bounds each format's whole output.  Returns 0 with *out the
 * caller's (vv_interpret_chunks_free), or the errors of vv_interpret_run.
 */
VV_EXPORT int vv_interpret_chunks_new(vv_scorer *sc, struct vv_ref *ref, const vv_policy *p,
				      const void *vcf, size_t len, const struct vv_interpret_opts *opts,
				      unsigned formats, const struct vv_interpret_state *resume,
				      vv_interpret_chunks **out) VV_MUST_CHECK;

/* One chunk of output. */
struct vv_interpret_chunk {
	uint64_t index;
	bool last;
	/* The chunk's bytes per format (slot format - 1; empty for formats not
	 * asked for).  Secure memory owned by the run, valid until the next
	 * call; the caller may take a buffer (moving it out and re-initing
	 * it with vv_sbuf_init(&buf, 0)). */
	vv_sbuf out[VV_OUT_NFORMATS];
	struct vv_interpret_state state; /* after this chunk: store it with it */
};

/*
 * Produces the next chunk into *c (whose buffers are wiped first).
 * Returns 1 (a chunk), 0 (the last chunk was produced before), or an error
 * (the run is then failed and every later call returns VV_ERR_INVAL).
 */
VV_EXPORT int vv_interpret_chunks_next(vv_interpret_chunks *r, struct vv_interpret_chunk *c) VV_MUST_CHECK;

/* The run's summary: valid after the last chunk (counts include those
 * carried from a resumed state; timings are this run's). */
VV_EXPORT void vv_interpret_chunks_summary(const vv_interpret_chunks *r, struct vv_interpret_summary *sum);

/* Variants re-scored when the run resumed (the VCF sort window's tail). */
VV_EXPORT uint64_t vv_interpret_chunks_rescored(const vv_interpret_chunks *r);

/* Frees the run, wiping what it holds; NULL-safe. */
VV_EXPORT void vv_interpret_chunks_free(vv_interpret_chunks *r);

/* Initialises and frees (wiping) a chunk's buffers. */
VV_EXPORT void vv_interpret_chunk_init(struct vv_interpret_chunk *c);
VV_EXPORT void vv_interpret_chunk_done(struct vv_interpret_chunk *c);

/* ---- Precomputed SNV scores (docs/interpret.md) ---- */

typedef struct vv_score_table vv_score_table;

/* The scoring policy a score depends on besides the weights and the
 * reference (method, window rule and length, tokenizer, precision), as one
 * line; its SHA-256 binds a table to it.  VV_ERR_INTERNAL if cap is short. */
VV_EXPORT int vv_scorer_policy(const vv_scorer *s, char *buf, size_t cap) VV_MUST_CHECK;

struct vv_precompute_opts {
	const char *regions;   /* BED file: chrom, start, end (0-based, half-open) */
	const char *out;       /* the table (bgzipped); out.tbi gets its index */
	unsigned chunk, nchunks; /* this chunk, 1..nchunks, of the regions' positions */
	bool force;            /* replace an existing out */
	void (*progress)(void *ctx, uint64_t done, uint64_t total);
	void *progress_ctx;
};

struct vv_precompute_stats {
	uint64_t positions;    /* reference positions of the chunk */
	uint64_t snvs;         /* SNVs asked for (3 per A/C/G/T position without N in its window) */
	uint64_t scored;       /* lines written */
	uint64_t forwards;     /* model forwards run */
	double seconds;
};

/*
 * Writes the score of every possible SNV in chunk o->chunk of o->nchunks of
 * the regions (sorted into reference order, overlaps merged, then cut into
 * nchunks runs of equal numbers of positions) to o->out: bgzipped TSV
 * (CHROM POS REF ALT SCORE, score as %.17g) with the model, reference and
 * policy hashes in its '##' header, and a tabix index.  SNVs the scorer
 * does not score (N in the window, a token not in the vocabulary) have no
 * line.  The three alleles of a position share one forward.  The chunks,
 * merged in order (vv_score_table_merge), are byte for byte the one-piece
 * table.  Returns 0, VV_ERR_SCORES_FORMAT (a BED line: file:line),
 * VV_ERR_REF_CONTIG, VV_ERR_EXISTS, VV_ERR_IO, or the scorer's errors.
 */
VV_EXPORT int vv_score_precompute(vv_scorer *sc, struct vv_ref *ref, const struct vv_precompute_opts *o,
			    struct vv_precompute_stats *st) VV_MUST_CHECK;

/* Concatenates the tables parts[0..n) (chunks 1..N in order, identical
 * headers, else VV_ERR_SCORES_MISMATCH) into out and indexes it. */
VV_EXPORT int vv_score_table_merge(const char *const *parts, size_t n, const char *out,
				   bool force) VV_MUST_CHECK;

/* Opens a table for lookups by this scorer on this reference: its model
 * SHA-256, reference MD5 and scoring-policy SHA-256 must be this run's
 * (VV_ERR_SCORES_MISMATCH naming which otherwise), and it needs its tabix
 * index (VV_ERR_SCORES_INDEX).  VV_ERR_SCORES_FORMAT: not a table. */
VV_EXPORT int vv_score_table_open(const char *path, const vv_scorer *sc, struct vv_ref *ref,
				  vv_score_table **out) VV_MUST_CHECK;
/* Looks an SNV up: 1 with *score set, 0 when the table has no line for it,
 * or VV_ERR_SCORES_FORMAT / VV_ERR_SCORES_INDEX. */
VV_EXPORT int vv_score_table_get(vv_score_table *t, const char *contig, int64_t pos, const char *ref,
				 const char *alt, double *score) VV_MUST_CHECK;
/* Lookups made and found since the table was opened.  Either may be NULL. */
VV_EXPORT void vv_score_table_counts(const vv_score_table *t, uint64_t *lookups, uint64_t *hits);
VV_EXPORT void vv_score_table_free(vv_score_table *t);

#endif /* VARVAULT_INTERPRET_H */
