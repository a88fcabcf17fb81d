/* Unit tests of src/interpret: the evidence policy, the scorer, and the
 * chunked, resumable run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include <json-c/json.h>

#include "model_fixture.h"
#include "varvault/interpret.h"
#include "varvault/model.h"
#include "varvault/vcf.h"

#include "demo_fixture.h"

static const char good_policy[] =
	"[policy]\nname = t\ncalibrated = no\n"
	"[snv]\npp3_strong = -6\npp3_moderate = -4\npp3_supporting = -2\n"
	"bp4_supporting = 0\nbp4_moderate = 1\nbp4_strong =\n";

static void test_policy_classifies_each_band(void **state)
{
	vv_policy *p = NULL;

	(void)state;
	assert_int_equal(vv_policy_parse(good_policy, strlen(good_policy), "t.conf", &p), 0);
	assert_string_equal(vv_policy_name(p), "t");
	assert_int_equal(vv_policy_calibrated(p), 0);
	assert_string_equal(vv_policy_source(p), "none");
	assert_int_equal(strlen(vv_policy_sha256(p)), 64);
	assert_int_equal(vv_policy_classify(p, VV_CLASS_SNV, -6.5), VV_EV_PP3_STRONG);
	assert_int_equal(vv_policy_classify(p, VV_CLASS_SNV, -6.0), VV_EV_PP3_STRONG);
	assert_int_equal(vv_policy_classify(p, VV_CLASS_SNV, -5.0), VV_EV_PP3_MODERATE);
	assert_int_equal(vv_policy_classify(p, VV_CLASS_SNV, -2.0), VV_EV_PP3_SUPPORTING);
	assert_int_equal(vv_policy_classify(p, VV_CLASS_SNV, -1.0), VV_EV_NONE);
	assert_int_equal(vv_policy_classify(p, VV_CLASS_SNV, 0.5), VV_EV_BP4_SUPPORTING);
	assert_int_equal(vv_policy_classify(p, VV_CLASS_SNV, 7.0), VV_EV_BP4_MODERATE);
	assert_int_equal(vv_policy_classify(p, VV_CLASS_SNV, NAN), VV_EV_NONE);
	/* no indel thresholds: never evidence */
	assert_int_equal(vv_policy_classify(p, VV_CLASS_INDEL, -100.0), VV_EV_NONE);
	assert_string_equal(vv_evidence_name(VV_EV_PP3_MODERATE), "PP3_Moderate");
	assert_string_equal(vv_evidence_name(VV_EV_NONE), "none");
	vv_policy_free(p);
}

/* Every band boundary, SNV and indel: at a PP3 threshold the score is in
 * the band (<=), one ulp above it is not; at a BP4 threshold it is in the
 * band (>=), one ulp below it is not.  Thresholds differ between the two
 * classes so that a class mix-up shows too. */
static void test_policy_every_boundary(void **state)
{
	static const char text[] =
		"[policy]\nname = edges\ncalibrated = no\n"
		"[snv]\npp3_strong = -6\npp3_moderate = -4\npp3_supporting = -2.5\n"
		"bp4_supporting = 0.5\nbp4_moderate = 1.5\nbp4_strong = 3\n"
		"[indel]\npp3_strong = -9\npp3_moderate = -7\npp3_supporting = -5\n"
		"bp4_supporting = -1\nbp4_moderate = 2\nbp4_strong = 4.25\n";
	static const struct {
		enum vv_varclass cls;
		double t;
		enum vv_evidence at, beyond_weaker; /* at t; one ulp on the weaker side */
		int pp3;
	} edge[] = {
		{VV_CLASS_SNV, -6.0, VV_EV_PP3_STRONG, VV_EV_PP3_MODERATE, 1},
		{VV_CLASS_SNV, -4.0, VV_EV_PP3_MODERATE, VV_EV_PP3_SUPPORTING, 1},
		{VV_CLASS_SNV, -2.5, VV_EV_PP3_SUPPORTING, VV_EV_NONE, 1},
		{VV_CLASS_SNV, 0.5, VV_EV_BP4_SUPPORTING, VV_EV_NONE, 0},
		{VV_CLASS_SNV, 1.5, VV_EV_BP4_MODERATE, VV_EV_BP4_SUPPORTING, 0},
		{VV_CLASS_SNV, 3.0, VV_EV_BP4_STRONG, VV_EV_BP4_MODERATE, 0},
		{VV_CLASS_INDEL, -9.0, VV_EV_PP3_STRONG, VV_EV_PP3_MODERATE, 1},
		{VV_CLASS_INDEL, -7.0, VV_EV_PP3_MODERATE, VV_EV_PP3_SUPPORTING, 1},
		{VV_CLASS_INDEL, -5.0, VV_EV_PP3_SUPPORTING, VV_EV_NONE, 1},
		{VV_CLASS_INDEL, -1.0, VV_EV_BP4_SUPPORTING, VV_EV_NONE, 0},
		{VV_CLASS_INDEL, 2.0, VV_EV_BP4_MODERATE, VV_EV_BP4_SUPPORTING, 0},
		{VV_CLASS_INDEL, 4.25, VV_EV_BP4_STRONG, VV_EV_BP4_MODERATE, 0},
	};
	vv_policy *p = NULL;

	(void)state;
	assert_int_equal(vv_policy_parse(text, strlen(text), "edges.conf", &p), 0);
	for (size_t i = 0; i < sizeof edge / sizeof edge[0]; i++) {
		double t = edge[i].t;
		double weaker = nextafter(t, edge[i].pp3 ? INFINITY : -INFINITY);
		double stronger = nextafter(t, edge[i].pp3 ? -INFINITY : INFINITY);
		enum vv_evidence got;
		if ((got = vv_policy_classify(p, edge[i].cls, t)) != edge[i].at)
			fail_msg("edge %zu: at %g got %s, want %s", i, t, vv_evidence_name(got),
				 vv_evidence_name(edge[i].at));
		if ((got = vv_policy_classify(p, edge[i].cls, stronger)) != edge[i].at)
			fail_msg("edge %zu: just past %g got %s, want %s", i, t, vv_evidence_name(got),
				 vv_evidence_name(edge[i].at));
		if ((got = vv_policy_classify(p, edge[i].cls, weaker)) != edge[i].beyond_weaker)
			fail_msg("edge %zu: just short of %g got %s, want %s", i, t,
				 vv_evidence_name(got), vv_evidence_name(edge[i].beyond_weaker));
	}
	/* far outside every band, and the infinities */
	assert_int_equal(vv_policy_classify(p, VV_CLASS_SNV, -INFINITY), VV_EV_PP3_STRONG);
	assert_int_equal(vv_policy_classify(p, VV_CLASS_SNV, INFINITY), VV_EV_BP4_STRONG);
	assert_int_equal(vv_policy_classify(p, VV_CLASS_INDEL, -3.0), VV_EV_NONE);
	assert_int_equal(vv_policy_classify(p, VV_CLASS_INDEL, NAN), VV_EV_NONE);
	vv_policy_free(p);
}

/* The order check at its edges: equal thresholds within PP3 or within BP4
 * are allowed (<=), pp3_supporting equal to bp4_supporting is not (<), and
 * a gap of unset thresholds still compares the set neighbours. */
static void test_policy_order_edges(void **state)
{
	static const struct {
		const char *body;
		int ok;
	} c[] = {
		{"pp3_strong = -2\npp3_moderate = -2\npp3_supporting = -2\nbp4_supporting = 1\n", 1},
		{"bp4_supporting = 1\nbp4_moderate = 1\nbp4_strong = 1\n", 1},
		{"pp3_supporting = 0.5\nbp4_supporting = 0.5\n", 0},
		{"pp3_supporting = 0.25\nbp4_supporting = 0.5\n", 1},
		{"pp3_strong = -1\npp3_supporting = -2\n", 0},
		{"pp3_strong = -2\npp3_moderate = -2.5\n", 0},
		{"pp3_moderate = -3\npp3_supporting = -3.5\n", 0},
		{"bp4_supporting = 2\nbp4_moderate = 1\n", 0},
		{"bp4_moderate = 2\nbp4_strong = 1.5\n", 0},
		{"bp4_supporting = 2\nbp4_strong = 1\n", 0},
		{"pp3_strong = 3\nbp4_strong = 2\n", 0},
	};

	(void)state;
	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
		for (int cls = 0; cls < 2; cls++) {
			char text[512];
			vv_policy *p = NULL;
			int n = snprintf(text, sizeof text, "[policy]\nname = o\ncalibrated = no\n[%s]\n%s",
					 cls ? "indel" : "snv", c[i].body);
			int rc = vv_policy_parse(text, (size_t)n, "o.conf", &p);
			if (c[i].ok ? rc != 0 : rc != VV_ERR_POLICY)
				fail_msg("case %zu (%s): rc %d, want %s", i, cls ? "indel" : "snv", rc,
					 c[i].ok ? "accepted" : "refused");
			vv_policy_free(p);
		}
	}
}

static void test_policy_rejects_bad_files(void **state)
{
	static const struct {
		const char *text;
		const char *why;
	} bad[] = {
		{"[policy]\nname = t\ncalibrated = no\n[snv]\npp3_strong = -1\npp3_moderate = -4\n",
		 "p.conf:6"},
		{"[policy]\nname = t\ncalibrated = no\n[snv]\npp3_supporting = 0\nbp4_supporting = 0\n",
		 "greater than"},
		{"[policy]\nname = t\ncalibrated = no\n[snv]\npp3_strnog = -1\n", "unknown setting"},
		{"[policy]\nname = t\ncalibrated = yes\n", "calibration_source"},
		{"[policy]\ncalibrated = no\n", "name is required"},
		{"[policy]\nname = t\ncalibrated = maybe\n", "yes or no"},
		{"[policy]\nname = t\ncalibrated = no\n[snv]\npp3_strong = x\n", "p.conf:5"},
	};
	vv_policy *p = NULL;

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int rc = vv_policy_parse(bad[i].text, strlen(bad[i].text), "p.conf", &p);
		assert_int_equal(rc, VV_ERR_POLICY);
		assert_null(p);
		if (!strstr(vv_err_detail(), bad[i].why))
			fail_msg("case %zu: detail '%s' lacks '%s'", i, vv_err_detail(), bad[i].why);
	}
}

static void test_bundled_policy_loads(void **state)
{
	vv_policy *p = NULL;
	char path[4096];
	const char *src = getenv("VV_SRC");

	(void)state;
	snprintf(path, sizeof path, "%s/policy/evidence.conf", src ? src : ".");
	assert_int_equal(vv_policy_load(path, &p), 0);
	assert_int_equal(vv_policy_calibrated(p), 0);
	vv_policy_free(p);
}

/* ---- the scorer, on small random models written by tests/lib/hfref.py ---- */

static char tmpdir[] = "/tmp/vv_interp_XXXXXX";
static int have_models;

static int make_model(const char *kind, const char *head)
{
	char cmd[8192];
	const char *py = getenv("PYTHON"), *src = getenv("VV_SRC");

	snprintf(cmd, sizeof cmd, "'%s' '%s/tests/data/make_test_model.py' '%s/%s-%s' %s %s >/dev/null 2>&1",
		 py ? py : "/usr/bin/python3", src ? src : ".", tmpdir, kind, head, kind, head);
	return system(cmd) == 0;
}

static int setup_models(void **state)
{
	(void)state;
	if (!mkdtemp(tmpdir))
		return -1;
	have_models = make_model("char", "mlm") && make_model("char", "cls") && make_model("nt6", "mlm") &&
		      make_model("dnabert3", "mlm");
	return 0;
}

static int teardown_models(void **state)
{
	char cmd[256];

	(void)state;
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static vv_model *load(const char *name)
{
	char path[512];
	vv_model *m = NULL;

	if (!have_models)
		skip();
	snprintf(path, sizeof path, "%s/%s", tmpdir, name);
	assert_int_equal(vv_model_load(path, &m), 0);
	return m;
}

static void random_window(char *w, size_t n, unsigned *seed)
{
	for (size_t i = 0; i < n; i++)
		w[i] = "ACGT"[rand_r(seed) % 4];
	w[n] = '\0';
}

static void test_scorer_needs_mlm(void **state)
{
	vv_model *m = load("char-cls");
	vv_scorer *s = NULL;

	(void)state;
	assert_int_equal(vv_scorer_new(m, NULL, &s), VV_ERR_UNSUPPORTED);
	assert_null(s);
	vv_model_free(m);
}

static void test_scorer_windows(void **state)
{
	vv_model *m = load("char-mlm"), *nt = load("nt6-mlm");
	struct vv_score_opts o = {.window_nt = 500};
	vv_scorer *s = NULL;

	(void)state;
	/* max_position_embeddings 160, cls and eos: 158 bases */
	assert_int_equal(vv_scorer_new(m, NULL, &s), 0);
	assert_int_equal(vv_scorer_window(s), 158);
	assert_int_equal(vv_scorer_flank(s), VV_SCORE_DEFAULT_FLANK);
	vv_scorer_free(s);
	assert_int_equal(vv_scorer_new(m, &o, &s), VV_ERR_INVAL);
	/* 6-mers: whole k-mers by default */
	assert_int_equal(vv_scorer_new(nt, NULL, &s), 0);
	assert_int_equal(vv_scorer_window(s) % 6, 0);
	vv_scorer_free(s);
	vv_model_free(m);
	vv_model_free(nt);
}

static void test_scorer_reasons(void **state)
{
	vv_model *m = load("char-mlm");
	struct vv_score_opts o = {.window_nt = 40};
	vv_scorer *s = NULL;
	char w[41], ins[64];
	unsigned seed = 3;
	struct vv_score_req q[6];
	struct vv_score_result r[6];
	char ref1[2] = {0}, ref2[3] = {0};

	(void)state;
	random_window(w, 40, &seed);
	ref1[0] = w[20];
	memcpy(ref2, w + 20, 2);
	memset(ins, 'A', sizeof ins - 1);
	ins[sizeof ins - 1] = '\0';
	ins[0] = w[20];
	assert_int_equal(vv_scorer_new(m, &o, &s), 0);
	q[0] = (struct vv_score_req){w, 40, 20, ref1, ref1[0] == 'A' ? "C" : "A"}; /* scored */
	q[1] = (struct vv_score_req){w, 40, 20, ref1, "N"};
	q[2] = (struct vv_score_req){w, 40, 20, ref1[0] == 'A' ? "C" : "A", "G"};
	q[3] = (struct vv_score_req){w, 40, 39, ref2, "A"};
	q[4] = (struct vv_score_req){w, 40, 20, ref1, ins};
	q[5] = (struct vv_score_req){w, 40, 20, ref2, ref1}; /* a deletion: scored */
	assert_int_equal(vv_scorer_score(s, q, 6, r), 0);
	assert_null(r[0].reason);
	assert_int_equal(r[0].method, VV_SCORE_MASKED_LLR);
	assert_false(isnan(r[0].score));
	assert_string_equal(r[1].reason, "non_acgt_allele");
	assert_string_equal(r[2].reason, "ref_window_mismatch");
	assert_string_equal(r[3].reason, "allele_outside_window");
	assert_string_equal(r[4].reason, "allele_exceeds_window");
	for (int i = 1; i <= 4; i++) {
		assert_true(isnan(r[i].score));
		assert_int_equal(r[i].method, VV_SCORE_NONE);
	}
	assert_null(r[5].reason);
	assert_int_equal(r[5].method, VV_SCORE_LOCAL_PLL);
	assert_false(isnan(r[5].score));
	vv_scorer_free(s);
	vv_model_free(m);
}

/* A score must not depend on the other variants of the call, the batch
 * size or the thread count: the output bytes of a job depend on it. */
static void test_scorer_independent_of_batch(void **state)
{
	enum { N = 24, W = 64 };
	vv_model *m = load("nt6-mlm");
	static char win[N][W + 1], ref[N][4], alt[N][8];
	struct vv_score_req q[N];
	struct vv_score_result all[N], one, other[N];
	struct vv_score_opts o1 = {.window_nt = W, .batch = 5, .threads = 1};
	struct vv_score_opts o2 = {.window_nt = W, .batch = 64, .threads = 2};
	struct vv_score_opts o3 = {.window_nt = W, .batch = 1, .threads = 1};
	vv_scorer *s1 = NULL, *s2 = NULL, *s3 = NULL;
	unsigned seed = 11;

	(void)state;
	for (int i = 0; i < N; i++) {
		size_t off = 20 + (size_t)i;
		random_window(win[i], W, &seed);
		if (i % 5 == 0) /* an N run: the 6-mers fall back to single letters */
			memset(win[i] + (i % 2 ? 0 : off + 2), 'N', i % 2 ? off - 2 : W - off - 2);
		ref[i][0] = win[i][off];
		if (i % 4 == 3) { /* an insertion */
			alt[i][0] = ref[i][0];
			memcpy(alt[i] + 1, "GT", 3);
		} else {
			alt[i][0] = ref[i][0] == 'T' ? 'G' : 'T';
		}
		/* an insertion's window leaves room for the inserted bases */
		q[i] = (struct vv_score_req){win[i], i % 4 == 3 ? W - 2 : W, off, ref[i], alt[i]};
	}
	assert_int_equal(vv_scorer_new(m, &o1, &s1), 0);
	assert_int_equal(vv_scorer_new(m, &o2, &s2), 0);
	assert_int_equal(vv_scorer_new(m, &o3, &s3), 0);
	assert_int_equal(vv_scorer_score(s1, q, N, all), 0);
	assert_int_equal(vv_scorer_score(s2, q, N, other), 0);
	for (int i = 0; i < N; i++) {
		if (all[i].reason)
			fail_msg("request %d not scored: %s", i, all[i].reason);
		assert_memory_equal(&all[i].score, &other[i].score, sizeof(double));
		assert_int_equal(vv_scorer_score(s3, &q[i], 1, &one), 0);
		if (memcmp(&all[i].score, &one.score, sizeof(double)) != 0)
			fail_msg("request %d: %.17g in a batch, %.17g alone", i, all[i].score, one.score);
	}
	vv_scorer_free(s1);
	vv_scorer_free(s2);
	vv_scorer_free(s3);
	vv_model_free(m);
}

/* The strided indel method against an oracle that masks by hand: the
 * region's tokens (the changed bases plus the flank) in groups of tokens
 * `stride` apart, each group (with its k-mer neighbours for overlapping
 * k-mers) masked in one forward, log p(true token) summed and divided by
 * the bases the region's tokens cover; alt minus ref. */
static double oracle_side(const vv_model *m, const char *seq, size_t lo, size_t hi, size_t stride, int reach,
			  size_t *forwards)
{
	const struct vv_model_info *I = vv_model_get_info(m);
	size_t len = strlen(seq), n = 0, r0 = SIZE_MAX, r1 = 0, V = (size_t)I->vocab_size;
	int32_t ids[512], masked[512];
	struct vv_model_span sp[512];
	vv_model_run *run = NULL;
	float *logits = calloc(512 * V, sizeof *logits);
	double sum = 0;

	assert_non_null(logits);
	assert_int_equal(vv_model_tokenize(m, seq, len, ids, sp, 512, &n), 0);
	for (size_t t = 0; t < n; t++)
		if (sp[t].len > 0 && sp[t].start >= 0 && (size_t)sp[t].start < hi &&
		    (size_t)(sp[t].start + sp[t].len) > lo) {
			r0 = r0 == SIZE_MAX ? t : r0;
			r1 = t + 1;
		}
	assert_true(r0 != SIZE_MAX);
	if (!stride || stride > r1 - r0)
		stride = r1 - r0;
	assert_int_equal(vv_model_run_new(m, 1, n, &run), 0);
	for (size_t g = r0; g < r0 + stride; g++) {
		struct vv_model_at at[512];
		size_t nat = 0;
		memcpy(masked, ids, n * sizeof *ids);
		for (size_t t = g; t < r1; t += stride) {
			for (int d = -reach; d <= reach; d++) {
				long u = (long)t + d;
				if (u >= 0 && (size_t)u < n && sp[u].len > 0 && sp[u].start >= 0)
					masked[u] = I->mask_id;
			}
			at[nat++] = (struct vv_model_at){0, (uint32_t)t};
		}
		assert_int_equal(vv_model_forward(run, &(struct vv_model_seq){masked, n}, 1), 0);
		assert_int_equal(vv_model_mlm_logits(run, at, nat, logits), 0);
		for (size_t a = 0; a < nat; a++) {
			const float *row = logits + a * V;
			double mx = row[0], z = 0;
			for (size_t j = 1; j < V; j++)
				mx = row[j] > mx ? row[j] : mx;
			for (size_t j = 0; j < V; j++)
				z += exp((double)row[j] - mx);
			sum += (double)row[ids[at[a].tok]] - mx - log(z);
		}
		(*forwards)++;
	}
	vv_model_run_free(run);
	free(logits);
	return sum / (double)(sp[r1 - 1].start + sp[r1 - 1].len - sp[r0].start);
}

static void test_scorer_indel_stride(void **state)
{
	enum { W = 64, OFF = 30, FLANK = 5 };
	static const char *const models[] = {"char-mlm", "nt6-mlm", "dnabert3-mlm"};
	static const int reach[] = {0, 0, 2};
	(void)state;
	for (size_t mi = 0; mi < 3; mi++) {
		vv_model *m = load(models[mi]);
		static char win[W + 1], alt[W + 1], del[4], base[2];
		unsigned seed = 5 + (unsigned)mi;
		struct vv_score_result pll, r;
		struct vv_score_req q;
		vv_scorer *s0 = NULL;

		random_window(win, W, &seed);
		memcpy(del, win + OFF, 3); /* a deletion of two bases after the anchor */
		base[0] = win[OFF];
		q = (struct vv_score_req){win, W, OFF, del, base};
		/* the alternate window: win without bases OFF+1, OFF+2 */
		memcpy(alt, win, OFF + 1);
		memcpy(alt + OFF + 1, win + OFF + 3, W - OFF - 3 + 1);
		assert_int_equal(vv_scorer_new(m, &(struct vv_score_opts){.window_nt = W, .threads = 1}, &s0), 0);
		assert_int_equal(vv_scorer_score(s0, &q, 1, &pll), 0);
		assert_null(pll.reason);
		assert_int_equal(pll.method, VV_SCORE_LOCAL_PLL);
		for (size_t stride = 1; stride <= 64; stride = stride < 4 ? stride + 1 : stride * 2) {
			struct vv_score_opts o = {.window_nt = W, .threads = 1, .indel_stride = stride};
			vv_scorer *s = NULL;
			uint64_t fw = 0, probes = 0;
			size_t want_fw = 0;
			double want;

			assert_int_equal(vv_scorer_new(m, &o, &s), 0);
			assert_int_equal(vv_scorer_stride(s), stride);
			assert_int_equal(vv_scorer_indel_method(s), VV_SCORE_LOCAL_STRIDED);
			assert_int_equal(vv_scorer_score(s, &q, 1, &r), 0);
			if (r.reason)
				fail_msg("%s stride %zu: not scored: %s", models[mi], stride, r.reason);
			assert_int_equal(r.method, VV_SCORE_LOCAL_STRIDED);
			assert_string_equal(vv_score_method_name(r.method), "local_pll_strided_mean");
			/* changed bases: reference [OFF+1, OFF+3), alternate none */
			want = oracle_side(m, alt, OFF + 1 - FLANK, OFF + 1 + FLANK, stride, reach[mi], &want_fw) -
			       oracle_side(m, win, OFF + 1 - FLANK, OFF + 3 + FLANK, stride, reach[mi], &want_fw);
			vv_scorer_counts(s, &fw, &probes);
			if (fabs(r.score - want) > 1e-9 * (1 + fabs(want)) || probes != want_fw)
				fail_msg("%s stride %zu: %.17g in %llu probes, the oracle %.17g in %zu", models[mi],
					 stride, r.score, (unsigned long long)probes, want, want_fw);
			/* a stride at least the region's length is the PLL itself */
			if (stride == 64 && memcmp(&r.score, &pll.score, sizeof(double)) != 0)
				fail_msg("%s: stride 64 %.17g, PLL %.17g", models[mi], r.score, pll.score);
			if (stride == 1 && reach[mi] == 0 && fabs(r.score - pll.score) < 1e-12)
				fail_msg("%s: stride 1 gives the PLL's score: nothing was masked jointly", models[mi]);
			vv_scorer_free(s);
		}
		vv_scorer_free(s0);
		s0 = NULL;
		assert_int_equal(vv_scorer_new(m, &(struct vv_score_opts){.indel_stride = VV_SCORE_MAX_STRIDE + 1}, &s0),
				 VV_ERR_INVAL);
		assert_null(s0);
		vv_model_free(m);
	}
}

/* Shared forwards: the three alleles of one position, and requests whose
 * windows and masks are the same, run one forward, and each score is bit
 * for bit the score it gets alone. */
static void test_scorer_shares_forwards(void **state)
{
	enum { W = 64, N = 9 };
	static const char *const models[] = {"char-mlm", "nt6-mlm"};
	(void)state;
	for (size_t mi = 0; mi < 2; mi++) {
		vv_model *m = load(models[mi]);
		struct vv_score_opts o = {.window_nt = W, .batch = 4, .threads = 1};
		static char win[W + 1], ref[2], alts[3][2], del[3];
		struct vv_score_req q[N];
		struct vv_score_result all[N], one;
		vv_scorer *s = NULL, *s1 = NULL;
		uint64_t fw = 0, probes = 0, fw1 = 0, probes1 = 0, sum = 0;
		unsigned seed = 21;
		int k = 0;

		random_window(win, W, &seed);
		ref[0] = win[30];
		for (const char *b = "ACGT"; *b; b++)
			if (*b != ref[0])
				alts[k++][0] = *b;
		memcpy(del, win + 30, 2);
		for (int i = 0; i < 3; i++) /* one position, three alleles */
			q[i] = (struct vv_score_req){win, W, 30, ref, alts[i]};
		for (int i = 3; i < 6; i++) /* the same three again */
			q[i] = q[i - 3];
		q[6] = (struct vv_score_req){win, W, 30, del, ref}; /* a deletion, twice */
		q[7] = q[6];
		q[8] = (struct vv_score_req){win, W, 31, (char[2]){win[31], 0}, win[31] == 'A' ? "C" : "A"};
		assert_int_equal(vv_scorer_new(m, &o, &s), 0);
		assert_int_equal(vv_scorer_new(m, &o, &s1), 0);
		assert_int_equal(vv_scorer_score(s, q, N, all), 0);
		vv_scorer_counts(s, &fw, &probes);
		for (int i = 0; i < N; i++) {
			uint64_t f, p;
			if (all[i].reason)
				fail_msg("%s: request %d not scored: %s", models[mi], i, all[i].reason);
			assert_int_equal(vv_scorer_score(s1, &q[i], 1, &one), 0);
			if (memcmp(&all[i].score, &one.score, sizeof(double)) != 0)
				fail_msg("%s: request %d: %.17g shared, %.17g alone", models[mi], i, all[i].score,
					 one.score);
			vv_scorer_counts(s1, &f, &p);
			sum += f - fw1;
			fw1 = f;
			probes1 = p;
		}
		/* alone, every request runs all its probes */
		assert_int_equal(sum, probes1);
		assert_int_equal(probes, probes1);
		/* shared: the six SNV requests at position 30 are one forward; the
		 * two deletions share all theirs (and their ref-window probes may
		 * share with the SNVs'); position 31's SNV has its own unless a
		 * k-mer token holds both positions, and then its window and mask
		 * are still the same only if the token is the same */
		assert_true(fw < probes);
		assert_true(fw <= 1 + (probes - 6) / 2 + 1);
		vv_scorer_free(s);
		vv_scorer_free(s1);
		vv_model_free(m);
	}
}

/* The summary for scripts: every count and timing, one key per evidence. */
static void test_summary_json(void **state)
{
	struct vv_interpret_summary sum = {.records = 7, .variants = 9, .scored = 6, .not_scored = 3,
					   .warnings = 2, .engine_seconds = 0.5, .total_seconds = 1.25};
	struct json_object *root = NULL, *v, *ev;
	char *text = NULL;

	(void)state;
	for (int e = VV_EV_NONE; e <= VV_EV_BP4_STRONG; e++)
		sum.evidence[e] = (uint64_t)(10 + e);
	assert_int_equal(vv_interpret_summary_json(&sum, &text), 0);
	assert_int_equal(vv_json_parse(text, strlen(text), "summary", &root), 0);
	assert_true(json_object_object_get_ex(root, "variants", &v));
	assert_int_equal(json_object_get_int64(v), 9);
	assert_true(json_object_object_get_ex(root, "input_warnings", &v));
	assert_int_equal(json_object_get_int64(v), 2);
	assert_true(json_object_object_get_ex(root, "total_seconds", &v));
	assert_true(json_object_get_double(v) == 1.25);
	assert_true(json_object_object_get_ex(root, "evidence", &ev));
	assert_int_equal(json_object_object_length(ev), VV_EV_BP4_STRONG - VV_EV_NONE + 1);
	for (int e = VV_EV_NONE; e <= VV_EV_BP4_STRONG; e++) {
		assert_true(json_object_object_get_ex(ev, vv_evidence_name((enum vv_evidence)e), &v));
		assert_int_equal(json_object_get_int64(v), 10 + e);
	}
	json_object_put(root);
	free(text);
}

/* ---- chunked, resumable runs on the demo VCF and reference ---- */

struct demo {
	struct fx fx;                   /* the model's bytes: it uses them in place */
	vv_model *m;
	vv_scorer *sc;
	vv_ref *ref;
	vv_policy *p;
	char *vcf;
	size_t len;
	vv_sbuf whole[VV_OUT_NFORMATS]; /* vv_interpret_run's output per format */
	struct vv_interpret_summary sum;
};

static struct demo demo;
static int demo_ready;
static const size_t demo_chunk = 32;

static int setup_demo(void)
{
	struct fx_opts o = demo_model_opts();
	struct vv_score_opts so = {.threads = 1};
	char path[4096];

	if (demo_ready)
		return demo_ready > 0;
	demo_ready = -1;
	fx_build(&o, &demo.fx);
	if (fx_load(&demo.fx, NULL, &demo.m) != 0 || vv_scorer_new(demo.m, &so, &demo.sc) != 0)
		return 0;
	if (!demo_path("reference.fa.gz", path, sizeof path) || vv_ref_open(path, &demo.ref) != 0)
		return 0;
	snprintf(path, sizeof path, "%s/policy/evidence.conf", getenv("VV_SRC") ? getenv("VV_SRC") : ".");
	if (vv_policy_load(path, &demo.p) != 0)
		return 0;
	if (!demo_path("sample.vcf", path, sizeof path) || vv_read_file(path, 1 << 24, &demo.vcf, &demo.len) != 0)
		return 0;
	for (int k = 0; k < VV_OUT_NFORMATS; k++) {
		struct vv_interpret_opts io = {.format = (enum vv_out_format)(k + 1), .chunk = demo_chunk};
		vv_sbuf_init(&demo.whole[k], 0);
		if (vv_interpret_run(demo.sc, demo.ref, demo.p, demo.vcf, demo.len, &io, &demo.whole[k],
				     &demo.sum) != 0)
			return 0;
	}
	demo_ready = 1;
	return 1;
}

static void teardown_demo(void)
{
	for (int f = 0; f < VV_OUT_NFORMATS; f++)
		vv_sbuf_done(&demo.whole[f]);
	free(demo.vcf);
	vv_policy_free(demo.p);
	vv_ref_free(demo.ref);
	vv_scorer_free(demo.sc);
	vv_model_free(demo.m);
	fx_free(&demo.fx);
}

/* All chunks of a run, per format, with each chunk's state. */
struct chunks {
	vv_sbuf cat[VV_OUT_NFORMATS];
	size_t start[64][VV_OUT_NFORMATS]; /* where chunk i begins in cat */
	struct vv_interpret_state st[64];
	size_t n;
	uint64_t rescored;
	struct vv_interpret_summary sum;
};

static void chunks_done(struct chunks *c)
{
	for (int f = 0; f < VV_OUT_NFORMATS; f++)
		vv_sbuf_done(&c->cat[f]);
}

/* Runs from state resume (NULL: from the start), appending after the
 * first `keep` chunks of `from` (the uninterrupted run). */
static void run_chunks(size_t chunk, unsigned formats, const struct vv_interpret_state *resume,
		       const struct chunks *from, size_t keep, struct chunks *out)
{
	struct vv_interpret_opts io = {.chunk = chunk};
	struct vv_interpret_chunk c;
	vv_interpret_chunks *r = NULL;
	int rc;

	memset(out, 0, sizeof *out);
	for (int f = 0; f < VV_OUT_NFORMATS; f++) {
		vv_sbuf_init(&out->cat[f], 0);
		if (keep)
			assert_int_equal(vv_sbuf_append(&out->cat[f], from->cat[f].data, from->start[keep][f]), 0);
	}
	for (size_t i = 0; i < keep; i++) {
		memcpy(out->start[i], from->start[i], sizeof out->start[i]);
		out->st[i] = from->st[i];
	}
	out->n = keep;
	assert_int_equal(vv_interpret_chunks_new(demo.sc, demo.ref, demo.p, demo.vcf, demo.len, &io, formats,
						 resume, &r), 0);
	vv_interpret_chunk_init(&c);
	while ((rc = vv_interpret_chunks_next(r, &c)) == 1) {
		assert_true(out->n < 63);
		assert_int_equal(c.index, out->n);
		assert_int_equal(c.state.next_chunk, out->n + 1);
		for (int f = 0; f < VV_OUT_NFORMATS; f++) {
			out->start[out->n][f] = out->cat[f].len;
			if (!(formats & VV_OUT_BIT(f + 1)))
				assert_int_equal(c.out[f].len, 0);
			assert_int_equal(vv_sbuf_append(&out->cat[f], c.out[f].data, c.out[f].len), 0);
		}
		out->st[out->n++] = c.state;
		if (c.last)
			break;
	}
	assert_int_equal(rc, 1);
	assert_true(c.last);
	/* after the last chunk: nothing more */
	assert_int_equal(vv_interpret_chunks_next(r, &c), 0);
	for (int f = 0; f < VV_OUT_NFORMATS; f++)
		out->start[out->n][f] = out->cat[f].len;
	vv_interpret_chunks_summary(r, &out->sum);
	out->rescored = vv_interpret_chunks_rescored(r);
	vv_interpret_chunk_done(&c);
	vv_interpret_chunks_free(r);
}

static void assert_whole(const struct chunks *c, unsigned formats)
{
	for (int f = 0; f < VV_OUT_NFORMATS; f++) {
		if (!(formats & VV_OUT_BIT(f + 1)))
			continue;
		assert_int_equal(c->cat[f].len, demo.whole[f].len);
		assert_memory_equal(c->cat[f].data, demo.whole[f].data, demo.whole[f].len);
	}
}

static void assert_same_counts(const struct vv_interpret_summary *a, const struct vv_interpret_summary *b)
{
	assert_int_equal(a->records, b->records);
	assert_int_equal(a->variants, b->variants);
	assert_int_equal(a->scored, b->scored);
	assert_int_equal(a->not_scored, b->not_scored);
	assert_int_equal(a->warnings, b->warnings);
	assert_memory_equal(a->evidence, b->evidence, sizeof a->evidence);
}

static void test_chunks_equal_whole_output(void **state)
{
	struct chunks c;
	uint8_t enc[VV_INTERPRET_STATE_LEN];
	struct vv_interpret_state back;

	(void)state;
	if (!setup_demo())
		skip();
	run_chunks(demo_chunk, VV_OUT_ALL, NULL, NULL, 0, &c);
	assert_whole(&c, VV_OUT_ALL);
	/* one chunk per 32 variants, the last holding the rest */
	assert_int_equal(c.n, (demo.sum.variants + demo_chunk - 1) / demo_chunk);
	assert_true(c.n > 3);
	assert_same_counts(&c.sum, &demo.sum);
	for (size_t i = 0; i < c.n; i++) {
		assert_int_equal(c.st[i].variants, i + 1 < c.n ? (i + 1) * demo_chunk : demo.sum.variants);
		assert_int_equal(c.st[i].formats, VV_OUT_ALL);
		assert_int_equal(c.st[i].out_bytes[VV_OUT_JSON - 1], c.start[i + 1][VV_OUT_JSON - 1]);
		vv_interpret_state_encode(&c.st[i], enc);
		assert_int_equal(vv_interpret_state_decode(enc, sizeof enc, &back), 0);
		assert_memory_equal(&back, &c.st[i], sizeof back);
	}
	/* each VCF chunk ends at a BGZF block boundary: the next starts with
	 * a gzip member's magic */
	for (size_t i = 1; i < c.n; i++) {
		const uint8_t *b = c.cat[VV_OUT_VCF - 1].data + c.start[i][VV_OUT_VCF - 1];
		assert_int_equal(b[0], 0x1f);
		assert_int_equal(b[1], 0x8b);
	}
	/* the TSV's first chunk has the header, the last the summary line */
	assert_memory_equal(c.cat[VV_OUT_TSV - 1].data, "# varvault", 10);
	assert_true(c.start[1][VV_OUT_TSV - 1] > 0);
	chunks_done(&c);
	/* one format alone gives the same bytes as in the three-format pass */
	run_chunks(demo_chunk, VV_OUT_BIT(VV_OUT_TSV), NULL, NULL, 0, &c);
	assert_whole(&c, VV_OUT_BIT(VV_OUT_TSV));
	chunks_done(&c);
}

static void test_chunks_resume_at_every_chunk(void **state)
{
	struct chunks full, res;
	uint64_t rescored = 0;

	(void)state;
	if (!setup_demo())
		skip();
	run_chunks(demo_chunk, VV_OUT_ALL, NULL, NULL, 0, &full);
	for (size_t k = 1; k < full.n; k++) {
		uint8_t enc[VV_INTERPRET_STATE_LEN];
		struct vv_interpret_state st;

		/* the state travels encoded, as the store keeps it */
		vv_interpret_state_encode(&full.st[k - 1], enc);
		assert_int_equal(vv_interpret_state_decode(enc, sizeof enc, &st), 0);
		run_chunks(demo_chunk, VV_OUT_ALL, &st, &full, k, &res);
		assert_int_equal(res.n, full.n);
		assert_whole(&res, VV_OUT_ALL);
		assert_same_counts(&res.sum, &demo.sum);
		/* only the VCF sort window's tail is scored again */
		assert_true(res.rescored < demo_chunk * k);
		rescored += res.rescored;
		chunks_done(&res);
	}
	/* the demo VCF has variants closer than the window: some were held */
	assert_true(rescored > full.n - 1);
	print_message("resuming at each of %zu chunks re-scored %llu variants in all\n", full.n - 1,
		      (unsigned long long)rescored);
	chunks_done(&full);
}

static void test_chunks_without_vcf_rescore_nothing(void **state)
{
	struct chunks full, res;
	unsigned fm = VV_OUT_BIT(VV_OUT_JSON) | VV_OUT_BIT(VV_OUT_TSV);

	(void)state;
	if (!setup_demo())
		skip();
	run_chunks(demo_chunk, fm, NULL, NULL, 0, &full);
	run_chunks(demo_chunk, fm, &full.st[2], &full, 3, &res);
	assert_whole(&res, fm);
	assert_int_equal(res.rescored, 0);
	chunks_done(&res);
	chunks_done(&full);
}

static void test_chunks_refuse_states_that_do_not_fit(void **state)
{
	struct chunks full;
	struct vv_interpret_opts io = {.chunk = demo_chunk};
	struct vv_interpret_state st;
	vv_interpret_chunks *r = NULL;
	uint8_t enc[VV_INTERPRET_STATE_LEN];

	(void)state;
	if (!setup_demo())
		skip();
	run_chunks(demo_chunk, VV_OUT_ALL, NULL, NULL, 0, &full);
	/* another chunk size, other formats, the state of the last chunk */
	io.chunk = demo_chunk * 2;
	assert_int_equal(vv_interpret_chunks_new(demo.sc, demo.ref, demo.p, demo.vcf, demo.len, &io,
						 VV_OUT_ALL, &full.st[1], &r), VV_ERR_INVAL);
	assert_null(r);
	io.chunk = demo_chunk;
	assert_int_equal(vv_interpret_chunks_new(demo.sc, demo.ref, demo.p, demo.vcf, demo.len, &io,
						 VV_OUT_BIT(VV_OUT_VCF), &full.st[1], &r), VV_ERR_INVAL);
	assert_int_equal(vv_interpret_chunks_new(demo.sc, demo.ref, demo.p, demo.vcf, demo.len, &io,
						 VV_OUT_ALL, &full.st[full.n - 1], &r), VV_ERR_INVAL);
	/* a state whose chunks claim more variants than the input has */
	st = full.st[1];
	st.next_chunk = 100;
	st.variants = 100 * demo_chunk;
	st.not_scored += 100 * demo_chunk - full.st[1].variants;
	assert_int_equal(vv_interpret_chunks_new(demo.sc, demo.ref, demo.p, demo.vcf, demo.len, &io,
						 VV_OUT_ALL, &st, &r), VV_ERR_INVAL);
	assert_null(r);
	/* encodings that are not a state */
	vv_interpret_state_encode(&full.st[1], enc);
	assert_int_equal(vv_interpret_state_decode(enc, sizeof enc - 1, &st), VV_ERR_FORMAT);
	enc[0] ^= 1;
	assert_int_equal(vv_interpret_state_decode(enc, sizeof enc, &st), VV_ERR_FORMAT);
	enc[0] ^= 1;
	enc[40] ^= 1; /* variants no longer scored + not scored */
	assert_int_equal(vv_interpret_state_decode(enc, sizeof enc, &st), VV_ERR_FORMAT);
	chunks_done(&full);
}

static void test_chunk_counts_at_the_edges(void **state)
{
	struct chunks c;
	uint64_t v;

	(void)state;
	if (!setup_demo())
		skip();
	v = demo.sum.variants;
	/* a chunk that divides the variants exactly: no empty last chunk */
	for (size_t chunk = v - 1; chunk <= v + 1; chunk++) {
		run_chunks(chunk, VV_OUT_BIT(VV_OUT_JSON) | VV_OUT_BIT(VV_OUT_TSV), NULL, NULL, 0, &c);
		assert_int_equal(c.n, (v + chunk - 1) / chunk);
		assert_int_equal(c.sum.variants, v);
		chunks_done(&c);
	}
}

static void test_chunks_of_an_empty_input(void **state)
{
	static const char vcf[] = "##fileformat=VCFv4.2\n##contig=<ID=20>\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n";
	struct vv_interpret_opts io = {.chunk = 4};
	struct vv_interpret_chunk c;
	vv_interpret_chunks *r = NULL;

	(void)state;
	if (!setup_demo())
		skip();
	assert_int_equal(vv_interpret_chunks_new(demo.sc, demo.ref, demo.p, vcf, strlen(vcf), &io, VV_OUT_ALL,
						 NULL, &r), 0);
	vv_interpret_chunk_init(&c);
	assert_int_equal(vv_interpret_chunks_next(r, &c), 1);
	assert_true(c.last);
	assert_int_equal(c.index, 0);
	assert_true(c.out[VV_OUT_JSON - 1].len > 0);
	assert_true(c.out[VV_OUT_VCF - 1].len > 28);
	assert_int_equal(vv_interpret_chunks_next(r, &c), 0);
	vv_interpret_chunk_done(&c);
	vv_interpret_chunks_free(r);
}

/* Logits spanning far more than exp() holds in double (about 709): the
 * MLM output bias of a fixture model scaled by 4096.  The masked LLR must
 * still be finite and equal log p(alt) - log p(ref) computed here from the
 * model's own logits (a log-sum-exp shifted by anything but the row
 * maximum overflows and gives NaN). */
static void test_scorer_huge_logits(void **state)
{
	struct fx_opts fo = fx_esm();
	struct fx f;
	vv_model *m = NULL;
	vv_model_run *run = NULL;
	struct vv_score_opts o = {.window_nt = 40};
	vv_scorer *s = NULL;
	char w[41], alt[2] = {0}, ref[2] = {0};
	unsigned seed = 9;
	int32_t ids[64];
	size_t n = 0;
	float logits[16], mx = -INFINITY, mn = INFINITY;
	struct vv_score_req q;
	struct vv_score_result r;

	(void)state;
	fo.lm_bias_gain = 4096;
	fx_build(&fo, &f);
	assert_int_equal(fx_load(&f, NULL, &m), 0);
	random_window(w, 40, &seed);
	w[40] = '\0';
	ref[0] = w[20];
	alt[0] = ref[0] == 'A' ? 'C' : 'A';
	/* the reference: the window with its variant base masked */
	assert_int_equal(vv_model_tokenize(m, w, 40, ids, NULL, 64, &n), 0);
	assert_int_equal(n, 42); /* <cls> + 40 + <eos> */
	assert_int_equal(ids[21], vv_model_token_id(m, ref));
	ids[21] = vv_model_token_id(m, "<mask>");
	assert_int_equal(vv_model_run_new(m, 1, n, &run), 0);
	assert_int_equal(vv_model_forward(run, &(struct vv_model_seq){ids, n}, 1), 0);
	assert_int_equal(vv_model_mlm_logits(run, &(struct vv_model_at){0, 21}, 1, logits), 0);
	for (int i = 0; i < vv_model_get_info(m)->vocab_size; i++) {
		mx = logits[i] > mx ? logits[i] : mx;
		mn = logits[i] < mn ? logits[i] : mn;
	}
	if (mx - mn < 800.0f)
		fail_msg("logits span only %g; raise lm_bias_gain", (double)(mx - mn));
	assert_int_equal(vv_scorer_new(m, &o, &s), 0);
	q = (struct vv_score_req){w, 40, 20, ref, alt};
	assert_int_equal(vv_scorer_score(s, &q, 1, &r), 0);
	assert_null(r.reason);
	double want = (double)logits[vv_model_token_id(m, alt)] - (double)logits[vv_model_token_id(m, ref)];
	if (!isfinite(r.score) || fabs(r.score - want) > 1e-3 * (1.0 + fabs(want)))
		fail_msg("score %.9g, want %.9g", r.score, want);
	vv_scorer_free(s);
	vv_model_run_free(run);
	vv_model_free(m);
	fx_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policy_classifies_each_band),
		cmocka_unit_test(test_policy_rejects_bad_files),
		cmocka_unit_test(test_policy_every_boundary),
		cmocka_unit_test(test_policy_order_edges),
		cmocka_unit_test(test_bundled_policy_loads),
		cmocka_unit_test(test_summary_json),
		cmocka_unit_test(test_scorer_needs_mlm),
		cmocka_unit_test(test_scorer_windows),
		cmocka_unit_test(test_scorer_reasons),
		cmocka_unit_test(test_scorer_huge_logits),
		cmocka_unit_test(test_scorer_independent_of_batch),
		cmocka_unit_test(test_scorer_shares_forwards),
		cmocka_unit_test(test_scorer_indel_stride),
		cmocka_unit_test(test_chunks_equal_whole_output),
		cmocka_unit_test(test_chunks_resume_at_every_chunk),
		cmocka_unit_test(test_chunks_without_vcf_rescore_nothing),
		cmocka_unit_test(test_chunks_refuse_states_that_do_not_fit),
		cmocka_unit_test(test_chunk_counts_at_the_edges),
		cmocka_unit_test(test_chunks_of_an_empty_input),
	};
	int rc;

	if (vv_core_init() != 0)
		return 1;
	vv_vcf_init();
	rc = cmocka_run_group_tests(tests, setup_models, teardown_models);
	teardown_demo();
	return rc;
}
