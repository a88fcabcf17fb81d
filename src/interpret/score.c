/* Variant scores from a masked language model: the masked log-likelihood
 * ratio for SNVs, the local pseudo-log-likelihood difference otherwise
 * (docs/interpret.md). */
#include "varvault/interpret.h"
#include "varvault/model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { VV_SCORE_DEFAULT_BATCH = 32, VV_SCORE_MAX_BATCH = 4096 };

/* Which accumulator of a request a target adds to. */
enum { ACC_LLR = 0, ACC_PLL_REF = 1, ACC_PLL_ALT = 2 };

struct vv_scorer {
	const vv_model *m;
	const struct vv_model_info *info;
	vv_model_run *run;
	size_t window, flank, batch;
	size_t max_tok;   /* tokens of the longest tokenization of a window */
	size_t max_rows;  /* the run's row budget for one forward */
	size_t max_mask;  /* tokens an SNV's probe masks */
	size_t max_at;    /* masked tokens of one batch: LM-head rows */
	size_t stride;    /* indel_stride: 0 for the PLL */
	int32_t *ids;     /* [batch][max_tok]: the probes of one forward */
	struct vv_model_seq *seqs;  /* [batch] */
	struct vv_model_at *at;     /* [max_at] */
	float *logits;              /* [max_at][vocab_size] */
	double engine_seconds;      /* inside the model's forward and head */
	uint64_t forwards, probes;  /* forwards run, and masked sequences asked for */
};

/* One masked sequence: request req's ref (0) or alt (1) tokens with tokens
 * [mask_lo, mask_hi) masked, or with step > 0 only those t among them with
 * (t + phase) % step < width (a strided indel probe: its targets and their
 * k-mer neighbours); its targets are among them. */
struct vv_probe {
	size_t req;
	int which;
	size_t first, n;  /* its targets */
	uint32_t mask_lo, mask_hi;
	uint32_t step, phase, width;
};

static bool vv_probe_masks(const struct vv_probe *p, uint32_t t)
{
	return t >= p->mask_lo && t < p->mask_hi && (!p->step || (t + p->phase) % p->step < p->width);
}

/* A masked token: adds logp(plus) - logp(minus) (either may be -1) to
 * accumulator acc of the probe's request. */
struct vv_target {
	uint32_t tok;
	int32_t plus, minus;
	int acc;
	double val;   /* its value, once its forward has run */
};

/* Per-call work: tokenizations, probes, targets, accumulators. */
struct vv_score_work {
	const struct vv_score_req *reqs;
	struct vv_score_result *res;
	size_t n;
	int32_t *ids;                 /* [n][2][max_tok] */
	struct vv_model_span *spans;  /* [n][2][max_tok] */
	size_t *ntok;                 /* [n][2] */
	double *acc;                  /* [n][3] */
	double *len;                  /* [n][2]: bases the PLL regions' tokens cover */
	struct vv_probe *probes;
	size_t nprobes, capprobes;
	struct vv_target *targets;
	size_t ntargets, captargets;
	/* Shared forwards: probes with the same tokens and the same masked
	 * range give the same logits (the engine is deterministic whatever the
	 * batch), so only the first of them (its leader) goes through the
	 * model.  lead[p]: the leader of probe p; next[p]: the next probe of
	 * p's leader's group (SIZE_MAX ends it); fwd: the leaders in order. */
	size_t *lead, *next, *last, *fwd;
	size_t nfwd;
	size_t *row;                  /* [ntargets]: its logits row in a forward */
	unsigned char *seen;          /* [max_tok]: vv_group_targets's marks */
};

const char *vv_score_method_name(enum vv_score_method m)
{
	switch (m) {
	case VV_SCORE_MASKED_LLR:
		return "masked_llr";
	case VV_SCORE_LOCAL_PLL:
		return "local_pll_mean";
	case VV_SCORE_LOCAL_STRIDED:
		return "local_pll_strided_mean";
	default:
		return "none";
	}
}

/* Tokens a window of nt bases can need at most, and its special tokens. */
static size_t vv_specials(const struct vv_model_info *I)
{
	return (I->cls_id >= 0 ? 1u : 0u) + (I->append_eos && I->eos_id >= 0 ? 1u : 0u);
}

static size_t vv_tokens_for(const struct vv_model_info *I, size_t nt)
{
	size_t body = nt;

	/* overlapping k-mers: nt - k + 1 tokens; the other kinds at worst one
	 * token a base (k-mers fall back to single letters around N) */
	if (I->tokenizer == VV_MODEL_TOK_KMER_OVERLAP)
		body = nt >= (size_t)I->k ? nt - (size_t)I->k + 1 : 1;
	return body + vv_specials(I);
}

static size_t vv_longest_window(const struct vv_model_info *I)
{
	size_t sp = vv_specials(I), max = (size_t)I->max_tokens;

	if (max <= sp)
		return 0;
	if (I->tokenizer == VV_MODEL_TOK_KMER_OVERLAP)
		return max - sp + (size_t)I->k - 1;
	return max - sp;
}

void vv_scorer_free(vv_scorer *s)
{
	if (!s)
		return;
	vv_model_run_free(s->run);
	free(s->ids);
	free(s->seqs);
	free(s->at);
	free(s->logits);
	free(s);
}

int vv_scorer_new(const struct vv_model *m, const struct vv_score_opts *opts, vv_scorer **out)
{
	const struct vv_model_info *I = vv_model_get_info(m);
	struct vv_score_opts o = {0};
	vv_scorer *s = NULL;
	size_t longest, n;
	int rc;

	*out = NULL;
	if (opts)
		o = *opts;
	if (I->head != VV_MODEL_HEAD_MLM)
		return vv_errf(VV_ERR_UNSUPPORTED, "model %s has no masked-LM head: variant scoring needs one",
			       I->name);
	if (I->mask_id < 0)
		return vv_errf(VV_ERR_UNSUPPORTED, "model %s has no mask token", I->name);
	longest = vv_longest_window(I);
	if (!o.window_nt) {
		o.window_nt = longest < VV_SCORE_DEFAULT_WINDOW ? longest : VV_SCORE_DEFAULT_WINDOW;
		if (I->tokenizer == VV_MODEL_TOK_KMER && I->k > 1)
			o.window_nt -= o.window_nt % (size_t)I->k; /* whole k-mers */
	}
	if (o.window_nt < 1 || o.window_nt > longest)
		return vv_errf(VV_ERR_INVAL, "a window of %zu bases does not fit model %s (1 to %zu)",
			       o.window_nt, I->name, longest);
	if (!o.batch)
		o.batch = VV_SCORE_DEFAULT_BATCH;
	if (o.batch > VV_SCORE_MAX_BATCH)
		return vv_errf(VV_ERR_INVAL, "batch %zu is over %d", o.batch, VV_SCORE_MAX_BATCH);
	if (!o.indel_flank)
		o.indel_flank = VV_SCORE_DEFAULT_FLANK;
	if (o.indel_flank > o.window_nt)
		return vv_errf(VV_ERR_INVAL, "indel flank %zu is longer than the window", o.indel_flank);
	if (o.indel_stride > VV_SCORE_MAX_STRIDE)
		return vv_errf(VV_ERR_INVAL, "indel stride %zu is over %d", o.indel_stride, VV_SCORE_MAX_STRIDE);

	if (!(s = calloc(1, sizeof *s)))
		return VV_ERR_NOMEM;
	s->m = m;
	s->info = I;
	s->window = o.window_nt;
	s->flank = o.indel_flank;
	s->batch = o.batch;
	s->max_tok = vv_tokens_for(I, o.window_nt);
	s->max_mask = I->tokenizer == VV_MODEL_TOK_KMER_OVERLAP ? (size_t)I->k : 1;
	s->max_at = s->batch * s->max_mask;
	s->stride = o.indel_stride;
	/* a strided probe has up to the PLL's base bound of targets */
	if (s->stride && s->max_at < VV_SCORE_MAX_PLL_BASES + 2 * s->max_mask)
		s->max_at = VV_SCORE_MAX_PLL_BASES + 2 * s->max_mask;
	/* k-mer windows usually tokenize to about window/k tokens; only N runs
	 * make them longer.  Size the run for the usual case (a longer batch is
	 * split), which keeps memory near what the forward really uses. */
	s->max_rows = s->batch * vv_model_rows(s->max_tok);
	if (I->tokenizer == VV_MODEL_TOK_KMER && I->k > 1) {
		size_t usual = vv_model_rows((o.window_nt + (size_t)I->k - 1) / (size_t)I->k + vv_specials(I));
		if (s->batch * usual < s->max_rows)
			s->max_rows = s->batch * usual;
		if (s->max_rows < vv_model_rows(s->max_tok))
			s->max_rows = vv_model_rows(s->max_tok);
	}
	if ((rc = vv_model_run_new_rows(m, s->batch, s->max_tok, s->max_rows, &s->run)) != 0)
		goto out;
	if (o.threads <= 0) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);
		o.threads = cpus < 1 ? 1 : cpus > 64 ? 64 : (int)cpus;
	}
	if ((rc = vv_model_run_set_threads(s->run, o.threads)) != 0)
		goto out;
	if (vv_size_mul(s->batch, s->max_tok, &n) != 0) {
		rc = VV_ERR_RANGE;
		goto out;
	}
	s->ids = calloc(n, sizeof *s->ids);
	s->seqs = calloc(s->batch, sizeof *s->seqs);
	s->at = calloc(s->max_at, sizeof *s->at);
	if (vv_size_mul(s->max_at, (size_t)I->vocab_size, &n) != 0) {
		rc = VV_ERR_RANGE;
		goto out;
	}
	s->logits = malloc(n * sizeof *s->logits);
	if (!s->ids || !s->seqs || !s->at || !s->logits) {
		rc = VV_ERR_NOMEM;
		goto out;
	}
	*out = s;
	s = NULL;
	rc = 0;
out:
	vv_scorer_free(s);
	return rc;
}

size_t vv_scorer_window(const vv_scorer *s)
{
	return s->window;
}

size_t vv_scorer_flank(const vv_scorer *s)
{
	return s->flank;
}

size_t vv_scorer_stride(const vv_scorer *s)
{
	return s->stride;
}

enum vv_score_method vv_scorer_indel_method(const vv_scorer *s)
{
	return s->stride ? VV_SCORE_LOCAL_STRIDED : VV_SCORE_LOCAL_PLL;
}

double vv_scorer_engine_seconds(const vv_scorer *s)
{
	return s->engine_seconds;
}

void vv_scorer_counts(const vv_scorer *s, uint64_t *forwards, uint64_t *probes)
{
	if (forwards)
		*forwards = s->forwards;
	if (probes)
		*probes = s->probes;
}

uint64_t vv_scorer_flops(const vv_scorer *s)
{
	return s->run ? vv_model_run_flops(s->run) : 0;
}

const struct vv_model *vv_scorer_model(const vv_scorer *s)
{
	return s->m;
}

static void vv_work_done(struct vv_score_work *w)
{
	free(w->ids);
	free(w->spans);
	free(w->ntok);
	free(w->acc);
	free(w->len);
	free(w->probes);
	free(w->targets);
	free(w->lead);
	free(w->next);
	free(w->last);
	free(w->fwd);
	free(w->row);
	free(w->seen);
}

static int vv_add_probe(struct vv_score_work *w, size_t req, int which, size_t lo, size_t hi)
{
	int rc = vv_array_grow((void **)&w->probes, &w->capprobes, w->nprobes, sizeof *w->probes, 256);

	if (rc)
		return rc;
	w->probes[w->nprobes++] = (struct vv_probe){req, which, w->ntargets, 0, (uint32_t)lo, (uint32_t)hi, 0, 0, 0};
	return 0;
}

/* Adds a target to the last probe. */
static int vv_add_target(struct vv_score_work *w, size_t tok, int32_t plus, int32_t minus, int acc)
{
	int rc = vv_array_grow((void **)&w->targets, &w->captargets, w->ntargets, sizeof *w->targets, 256);

	if (rc)
		return rc;
	w->targets[w->ntargets++] = (struct vv_target){(uint32_t)tok, plus, minus, acc, 0.0};
	w->probes[w->nprobes - 1].n++;
	return 0;
}

static bool vv_only_acgt(const char *s)
{
	for (; *s; s++)
		if (*s != 'A' && *s != 'C' && *s != 'G' && *s != 'T')
			return false;
	return true;
}

/* Tokenizes seq into slot which of request i; a failure is a reason. */
static const char *vv_tokenize_slot(vv_scorer *s, struct vv_score_work *w, size_t i, int which,
				    const char *seq, size_t len)
{
	size_t base = (i * 2 + (size_t)which) * s->max_tok;
	size_t *n = &w->ntok[i * 2 + (size_t)which];

	if (vv_model_tokenize(s->m, seq, len, w->ids + base, w->spans + base, s->max_tok, n) != 0)
		return "too_many_tokens";
	return NULL;
}

/* SNV: mask every token that holds the variant base (one for single
 * nucleotides and non-overlapping k-mers, up to k for overlapping k-mers,
 * which are consecutive); score alt vs ref at each. */
static const char *vv_plan_snv(vv_scorer *s, struct vv_score_work *w, size_t i, int *nomem)
{
	const struct vv_score_req *q = &w->reqs[i];
	size_t base = i * 2 * s->max_tok, n = w->ntok[i * 2], lo = SIZE_MAX, hi = 0;
	const int32_t *ids = w->ids + base;
	const struct vv_model_span *sp = w->spans + base;
	int32_t alt_ids[VV_MODEL_MAX_K];
	char kmer[VV_MODEL_MAX_K + 1];

	for (size_t t = 0; t < n; t++) {
		const char *ref;
		int alt_id;

		if (sp[t].start < 0 || (size_t)sp[t].start > q->offset ||
		    (size_t)sp[t].start + (size_t)sp[t].len <= q->offset)
			continue;
		if (lo == SIZE_MAX)
			lo = t;
		else if (t != hi)
			return "token_overlap"; /* not consecutive: no tokenizer does this */
		if (t - lo >= s->max_mask)
			return "token_overlap";
		ref = vv_model_token_str(s->m, ids[t]);
		if (!ref || strlen(ref) != (size_t)sp[t].len || (size_t)sp[t].len > VV_MODEL_MAX_K)
			return "ref_token_not_in_vocab";
		memcpy(kmer, ref, (size_t)sp[t].len + 1);
		kmer[q->offset - (size_t)sp[t].start] = q->alt[0];
		if ((alt_id = vv_model_token_id(s->m, kmer)) < 0)
			return "alt_token_not_in_vocab";
		alt_ids[t - lo] = alt_id;
		hi = t + 1;
	}
	if (lo == SIZE_MAX)
		return "no_token_at_variant";
	/* out of memory is no reason to skip the variant: the caller fails */
	if (vv_add_probe(w, i, 0, lo, hi) != 0) {
		*nomem = 1;
		return NULL;
	}
	for (size_t t = lo; t < hi; t++) {
		if (vv_add_target(w, t, alt_ids[t - lo], ids[t], ACC_LLR) != 0) {
			*nomem = 1;
			return NULL;
		}
	}
	return NULL;
}

/* Masks, one probe each, the tokens overlapping bases [lo, hi) of slot
 * which (they are consecutive).  With overlapping k-mers a token's bases
 * also sit in its k-1 neighbours on each side, so those are masked with it
 * (as DNABERT masks k consecutive tokens in pre-training); otherwise it
 * would be read off them.  With a stride N, the region's tokens N apart
 * share one probe instead (N probes, or fewer for a short region; N = 1:
 * one probe).  *count gets the targets, *covered the bases from the first
 * masked target's first base to the last one's last (the PLL's
 * normaliser). */
static int vv_plan_region(vv_scorer *s, struct vv_score_work *w, size_t i, int which, size_t lo,
			  size_t hi, size_t *count, size_t *covered)
{
	size_t base = (i * 2 + (size_t)which) * s->max_tok, n = w->ntok[i * 2 + (size_t)which];
	size_t first = SIZE_MAX, last = 0, r0 = SIZE_MAX, r1 = 0, step;
	size_t reach = s->info->tokenizer == VV_MODEL_TOK_KMER_OVERLAP ? (size_t)s->info->k - 1 : 0;
	const int32_t *ids = w->ids + base;
	const struct vv_model_span *sp = w->spans + base;

	*count = *covered = 0;
	for (size_t t = 0; t < n; t++) { /* the sequence tokens, between the specials */
		if (sp[t].start < 0 || sp[t].len <= 0)
			continue;
		if (first == SIZE_MAX)
			first = t;
		last = t;
		/* the region's tokens: [r0, r1) */
		if ((size_t)sp[t].start < hi && (size_t)sp[t].start + (size_t)sp[t].len > lo) {
			if (r0 == SIZE_MAX)
				r0 = t;
			r1 = t + 1;
		}
	}
	if (r0 == SIZE_MAX)
		return 0;
	step = s->stride && s->stride < r1 - r0 ? s->stride : r1 - r0;
	for (size_t g = r0; g < r0 + step; g++) {
		size_t mlo = g - first > reach ? g - reach : first, mhi = 0;
		for (size_t t = g; t < r1; t += step) {
			mhi = last - t > reach ? t + reach + 1 : last + 1;
			if ((t == g && vv_add_probe(w, i, which, mlo, mhi) != 0) ||
			    vv_add_target(w, t, ids[t], -1, which == 0 ? ACC_PLL_REF : ACC_PLL_ALT) != 0)
				return VV_ERR_NOMEM;
			(*count)++;
		}
		if (mhi > g + reach + 1 && 2 * reach + 1 < step) {
			/* several targets: mask each one's neighbourhood only */
			struct vv_probe *p = &w->probes[w->nprobes - 1];
			p->mask_hi = (uint32_t)mhi;
			p->step = (uint32_t)step;
			p->width = (uint32_t)(2 * reach + 1);
			/* (t + phase) % step < width from g - reach on */
			p->phase = (uint32_t)((step - (g + step - reach % step) % step) % step);
		} else {
			w->probes[w->nprobes - 1].mask_hi = (uint32_t)mhi;
		}
	}
	*covered = (size_t)sp[r1 - 1].start + (size_t)sp[r1 - 1].len - (size_t)sp[r0].start;
	return 0;
}

/* Indel, MNV, delins: local PLL over the changed bases plus the flanks, in
 * the reference window and in the window with the allele substituted. */
static const char *vv_plan_pll(vv_scorer *s, struct vv_score_work *w, size_t i, int *nomem)
{
	const struct vv_score_req *q = &w->reqs[i];
	size_t rl = strlen(q->ref), al = strlen(q->alt), pre = 0, suf = 0, alen, nr, na, cr, ca;
	size_t lo, rhi, ahi;
	const char *why;
	char *alt = NULL;

	if (q->window_len - rl + al > s->window)
		return "allele_exceeds_window";
	while (pre < rl && pre < al && q->ref[pre] == q->alt[pre])
		pre++;
	while (suf < rl - pre && suf < al - pre && q->ref[rl - 1 - suf] == q->alt[al - 1 - suf])
		suf++;
	alen = q->window_len - rl + al;
	if (!(alt = malloc(alen + 1))) {
		*nomem = 1;
		return NULL;
	}
	memcpy(alt, q->window, q->offset);
	memcpy(alt + q->offset, q->alt, al);
	memcpy(alt + q->offset + al, q->window + q->offset + rl, q->window_len - q->offset - rl);
	alt[alen] = '\0';
	why = vv_tokenize_slot(s, w, i, 1, alt, alen);
	free(alt);
	if (why)
		return why;
	/* changed bases: [offset+pre, offset+len-suf) in each window */
	lo = q->offset + pre > s->flank ? q->offset + pre - s->flank : 0;
	rhi = q->offset + rl - suf + s->flank;
	ahi = q->offset + al - suf + s->flank;
	if (rhi > q->window_len)
		rhi = q->window_len;
	if (ahi > alen)
		ahi = alen;
	/* one forward per masked token: bound the cost of a long allele */
	if ((rhi - lo) + (ahi - lo) > VV_SCORE_MAX_PLL_BASES)
		return "allele_too_long_for_pll";
	if (vv_plan_region(s, w, i, 0, lo, rhi, &nr, &cr) != 0 ||
	    vv_plan_region(s, w, i, 1, lo, ahi, &na, &ca) != 0) {
		*nomem = 1;
		return NULL;
	}
	if (!nr || !na)
		return "no_token_in_region";
	w->len[i * 2] = (double)cr;
	w->len[i * 2 + 1] = (double)ca;
	return NULL;
}

/* Plans request i; a reason leaves it unscored, *nomem aborts. */
static const char *vv_plan(vv_scorer *s, struct vv_score_work *w, size_t i, int *nomem)
{
	const struct vv_score_req *q = &w->reqs[i];
	size_t rl = strlen(q->ref), al = strlen(q->alt);
	size_t probes = w->nprobes, targets = w->ntargets;
	const char *why;

	if (!rl || !al || q->offset > q->window_len || rl > q->window_len - q->offset)
		return "allele_outside_window";
	if (memcmp(q->window + q->offset, q->ref, rl) != 0)
		return "ref_window_mismatch";
	if (!vv_only_acgt(q->ref) || !vv_only_acgt(q->alt))
		return "non_acgt_allele";
	if (q->window_len > s->window)
		return "window_too_long";
	if ((why = vv_tokenize_slot(s, w, i, 0, q->window, q->window_len)) != NULL)
		return why;
	if (rl == 1 && al == 1) {
		w->res[i].method = VV_SCORE_MASKED_LLR;
		why = vv_plan_snv(s, w, i, nomem);
	} else {
		w->res[i].method = vv_scorer_indel_method(s);
		why = vv_plan_pll(s, w, i, nomem);
	}
	if (why || *nomem) {
		/* drop the probes of a request that cannot be scored */
		w->nprobes = probes;
		w->ntargets = targets;
		w->res[i].method = VV_SCORE_NONE;
	}
	return why;
}

/* log(sum(exp(row))) in double: the masked-LM normaliser. */
static double vv_logsumexp(const float *row, size_t n)
{
	double mx = row[0], sum = 0;

	for (size_t j = 1; j < n; j++)
		if (row[j] > mx)
			mx = row[j];
	for (size_t j = 0; j < n; j++)
		sum += exp((double)row[j] - mx);
	return mx + log(sum);
}

/* The tokens probe p runs: its slot's ids and length. */
static const int32_t *vv_probe_ids(const vv_scorer *s, const struct vv_score_work *w, size_t p, size_t *n)
{
	size_t slot = w->probes[p].req * 2 + (size_t)w->probes[p].which;

	*n = w->ntok[slot];
	return w->ids + slot * s->max_tok;
}

static uint64_t vv_probe_hash(const vv_scorer *s, const struct vv_score_work *w, size_t p)
{
	size_t n;
	const int32_t *ids = vv_probe_ids(s, w, p, &n);
	uint64_t h = 1469598103934665603ull;

	for (size_t t = 0; t < n; t++)
		h = (h ^ (uint32_t)ids[t]) * 1099511628211ull;
	h = (h ^ n) * 1099511628211ull;
	h = (h ^ w->probes[p].mask_lo) * 1099511628211ull;
	h = (h ^ w->probes[p].step) * 1099511628211ull;
	h = (h ^ w->probes[p].phase) * 1099511628211ull;
	return (h ^ w->probes[p].mask_hi) * 1099511628211ull;
}

static bool vv_probe_same(const vv_scorer *s, const struct vv_score_work *w, size_t a, size_t b)
{
	size_t na, nb;
	const int32_t *ia = vv_probe_ids(s, w, a, &na), *ib = vv_probe_ids(s, w, b, &nb);

	return na == nb && w->probes[a].mask_lo == w->probes[b].mask_lo &&
	       w->probes[a].mask_hi == w->probes[b].mask_hi && w->probes[a].step == w->probes[b].step &&
	       w->probes[a].phase == w->probes[b].phase && w->probes[a].width == w->probes[b].width &&
	       memcmp(ia, ib, na * sizeof *ia) == 0;
}

/* Groups the probes by (tokens, masked range): one forward per group. */
static int vv_group_probes(vv_scorer *s, struct vv_score_work *w)
{
	size_t cap = 16, *tab = NULL;
	int rc = VV_ERR_NOMEM;

	while (cap < 2 * w->nprobes)
		cap *= 2;
	w->lead = malloc((w->nprobes + 1) * sizeof *w->lead);
	w->next = malloc((w->nprobes + 1) * sizeof *w->next);
	w->last = malloc((w->nprobes + 1) * sizeof *w->last);
	w->fwd = malloc((w->nprobes + 1) * sizeof *w->fwd);
	w->row = malloc((w->ntargets + 1) * sizeof *w->row);
	w->seen = malloc(s->max_tok + 1);
	tab = malloc(cap * sizeof *tab);
	if (!w->lead || !w->next || !w->last || !w->fwd || !w->row || !w->seen || !tab)
		goto out;
	for (size_t i = 0; i < cap; i++)
		tab[i] = SIZE_MAX;
	w->nfwd = 0;
	for (size_t p = 0; p < w->nprobes; p++) {
		size_t h = (size_t)vv_probe_hash(s, w, p) & (cap - 1);

		while (tab[h] != SIZE_MAX && !vv_probe_same(s, w, tab[h], p))
			h = (h + 1) & (cap - 1);
		w->next[p] = SIZE_MAX;
		if (tab[h] == SIZE_MAX) {
			tab[h] = p;
			w->lead[p] = w->last[p] = p;
			w->fwd[w->nfwd++] = p;
		} else {
			size_t l = tab[h];
			w->lead[p] = l;
			w->next[w->last[l]] = p;
			w->last[l] = p;
		}
	}
	rc = 0;
out:
	free(tab);
	return rc;
}

/* The distinct masked tokens that the group led by probe lp reads: its
 * LM-head rows. */
static size_t vv_group_targets(struct vv_score_work *w, size_t lp)
{
	uint32_t lo = w->probes[lp].mask_lo, hi = w->probes[lp].mask_hi;
	size_t n = 0;

	/* the group's probes share one masked range, and targets lie in it */
	memset(w->seen, 0, hi - lo);
	for (size_t p = lp; p != SIZE_MAX; p = w->next[p])
		for (size_t t = 0; t < w->probes[p].n; t++) {
			uint32_t tok = w->targets[w->probes[p].first + t].tok;
			n += !w->seen[tok - lo];
			w->seen[tok - lo] = 1;
		}
	return n;
}

/* Runs the forwards of leaders fwd[f0..f1) as one batch and sets the value
 * of every target of their groups; each distinct masked token of a group is
 * one logits row, its normaliser computed once. */
static int vv_run_batch(vv_scorer *s, struct vv_score_work *w, size_t f0, size_t f1)
{
	size_t V = (size_t)s->info->vocab_size, nat = 0, cap = s->max_at;
	double t0, *lse = NULL;
	int rc;

	for (size_t f = f0; f < f1; f++) {
		size_t lp = w->fwd[f], b = f - f0, n, first = nat;
		const struct vv_probe *pr = &w->probes[lp];
		const int32_t *src = vv_probe_ids(s, w, lp, &n);
		int32_t *dst = s->ids + b * s->max_tok;

		memcpy(dst, src, n * sizeof *dst);
		for (uint32_t t = pr->mask_lo; t < pr->mask_hi; t++)
			if (vv_probe_masks(pr, t))
				dst[t] = s->info->mask_id;
		s->seqs[b] = (struct vv_model_seq){dst, n};
		for (size_t p = lp; p != SIZE_MAX; p = w->next[p]) {
			const struct vv_probe *q = &w->probes[p];
			for (size_t t = 0; t < q->n; t++) {
				size_t k = q->first + t, r = first;
				while (r < nat && s->at[r].tok != w->targets[k].tok)
					r++;
				if (r == nat) {
					if (nat == cap) /* the batch was cut to fit max_at */
						return vv_errf(VV_ERR_INTERNAL, "scoring: a probe has too many targets");
					s->at[nat++] = (struct vv_model_at){(uint32_t)b, w->targets[k].tok};
				}
				w->row[k] = r;
			}
		}
	}
	t0 = vv_seconds();
	if ((rc = vv_model_forward_mlm(s->run, s->seqs, f1 - f0, s->at, nat, s->logits)) != 0)
		return vv_err_prefix(rc, "scoring forward");
	s->engine_seconds += vv_seconds() - t0;
	if (!(lse = malloc((nat + 1) * sizeof *lse)))
		return VV_ERR_NOMEM;
	for (size_t r = 0; r < nat; r++)
		lse[r] = vv_logsumexp(s->logits + r * V, V);
	for (size_t f = f0; f < f1; f++) {
		for (size_t p = w->fwd[f]; p != SIZE_MAX; p = w->next[p]) {
			const struct vv_probe *q = &w->probes[p];
			for (size_t t = 0; t < q->n; t++) {
				struct vv_target *tg = &w->targets[q->first + t];
				const float *row = s->logits + w->row[q->first + t] * V;
				double v = 0, l = lse[w->row[q->first + t]];
				if (tg->plus >= 0)
					v += (double)row[tg->plus] - l;
				if (tg->minus >= 0)
					v -= (double)row[tg->minus] - l;
				tg->val = v;
			}
		}
	}
	free(lse);
	return 0;
}

static int vv_work_alloc(vv_scorer *s, struct vv_score_work *w)
{
	size_t slots;

	if (vv_size_mul(w->n * 2, s->max_tok, &slots) != 0)
		return VV_ERR_RANGE;
	w->ids = malloc(slots * sizeof *w->ids);
	w->spans = malloc(slots * sizeof *w->spans);
	w->ntok = calloc(w->n * 2, sizeof *w->ntok);
	w->acc = calloc(w->n * 3, sizeof *w->acc);
	w->len = calloc(w->n * 2, sizeof *w->len);
	if (!w->ids || !w->spans || !w->ntok || !w->acc || !w->len)
		return VV_ERR_NOMEM;
	return 0;
}

int vv_scorer_score(vv_scorer *s, const struct vv_score_req *reqs, size_t n,
		    struct vv_score_result *res)
{
	struct vv_score_work w = {.reqs = reqs, .res = res, .n = n};
	int rc = 0, nomem = 0;

	if (n == 0)
		return 0;
	if ((rc = vv_work_alloc(s, &w)) != 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		res[i] = (struct vv_score_result){NAN, VV_SCORE_NONE, NULL};
		res[i].reason = vv_plan(s, &w, i, &nomem);
		if (nomem) {
			rc = VV_ERR_NOMEM;
			goto out;
		}
	}
	if ((rc = vv_group_probes(s, &w)) != 0)
		goto out;
	/* batches of at most s->batch forwards within the run's row budget */
	for (size_t f = 0, end; f < w.nfwd; f = end) {
		size_t rows = 0, ats = 0;
		for (end = f; end < w.nfwd && end - f < s->batch; end++) {
			size_t r, nt, at = vv_group_targets(&w, w.fwd[end]);
			(void)vv_probe_ids(s, &w, w.fwd[end], &nt);
			r = vv_model_rows(nt);
			if (rows + r > s->max_rows || ats + at > s->max_at)
				break;
			rows += r;
			ats += at;
		}
		if (end == f) /* cannot happen: a window never needs more than max_tok */
			end = f + 1;
		if ((rc = vv_run_batch(s, &w, f, end)) != 0)
			goto out;
	}
	/* sum each request's targets in the order they were planned, whatever
	 * order their forwards ran in, so that sums are bit for bit the same */
	for (size_t p = 0; p < w.nprobes; p++)
		for (size_t t = 0; t < w.probes[p].n; t++) {
			const struct vv_target *tg = &w.targets[w.probes[p].first + t];
			w.acc[w.probes[p].req * 3 + (size_t)tg->acc] += tg->val;
		}
	s->forwards += w.nfwd;
	s->probes += w.nprobes;
	for (size_t i = 0; i < n; i++) {
		if (res[i].method == VV_SCORE_MASKED_LLR)
			res[i].score = w.acc[i * 3 + ACC_LLR];
		else if (res[i].method == VV_SCORE_LOCAL_PLL || res[i].method == VV_SCORE_LOCAL_STRIDED)
			res[i].score = w.acc[i * 3 + ACC_PLL_ALT] / w.len[i * 2 + 1] -
				       w.acc[i * 3 + ACC_PLL_REF] / w.len[i * 2];
		/* an infinite logit (possible with F16/BF16 weights) is no score */
		if (res[i].method != VV_SCORE_NONE && !isfinite(res[i].score)) {
			res[i] = (struct vv_score_result){NAN, VV_SCORE_NONE, "non_finite_score"};
		}
	}
out:
	vv_work_done(&w);
	return rc;
}
