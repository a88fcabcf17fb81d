/* libFuzzer target for the configuration reader and the evidence policy:
 * arbitrary bytes must give a policy or a clean error, never a crash.
 * Invariants (abort() on violation): a failed parse returns a negative code
 * and no policy; a parsed policy's thresholds (read back here through
 * vv_conf) are in order, pp3_strong <= pp3_moderate <= pp3_supporting <
 * bp4_supporting <= bp4_moderate <= bp4_strong; each set threshold is the
 * edge of its band (a score on it gets that strength or a stronger one of
 * the same class of evidence, the next score on the weaker side gets a
 * weaker one); and over every score (each number in the input, the numbers
 * next to it, and a fixed grid) the evidence rises from PP3 Strong to BP4
 * Strong and never goes back, for SNVs and indels.
 * Seeds: tests/fuzz/corpus/policy/. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "varvault/core.h"
#include "varvault/interpret.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* -3 (PP3 Strong) .. 0 (none) .. 3 (BP4 Strong) */
static int rank(enum vv_evidence e)
{
	switch (e) {
	case VV_EV_PP3_STRONG: return -3;
	case VV_EV_PP3_MODERATE: return -2;
	case VV_EV_PP3_SUPPORTING: return -1;
	case VV_EV_NONE: return 0;
	case VV_EV_BP4_SUPPORTING: return 1;
	case VV_EV_BP4_MODERATE: return 2;
	case VV_EV_BP4_STRONG: return 3;
	}
	abort();
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Scores to probe: a grid, and each number after an '=' with its
 * neighbours.  Returns how many (at most cap), sorted. */
static size_t probes(const uint8_t *data, size_t size, double *s, size_t cap)
{
	static const double grid[] = {-INFINITY, -1e300, -100.0, -6.0, -4.0, -2.5, -1.0, -0.1, 0.0,
				      0.1, 1.0, 2.5, 4.0, 6.0, 100.0, 1e300, INFINITY};
	char *text = malloc(size + 1);
	size_t n = 0;

	if (!text)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';
	for (size_t i = 0; i < sizeof grid / sizeof grid[0]; i++)
		s[n++] = grid[i];
	for (size_t i = 0; i < size && n + 3 <= cap; i++) {
		char *end;
		double v;
		if (text[i] != '=')
			continue;
		v = strtod(text + i + 1, &end);
		if (end == text + i + 1 || isnan(v))
			continue;
		s[n++] = v;
		s[n++] = nextafter(v, -INFINITY);
		s[n++] = nextafter(v, INFINITY);
	}
	free(text);
	qsort(s, n, sizeof *s, cmp_double);
	return n;
}

/* The thresholds of one class, from the configuration itself, in rising
 * order with their strengths. */
static void check_thresholds(const vv_policy *p, const vv_conf *c, int cls)
{
	static const char *const keys[6] = {"pp3_strong", "pp3_moderate", "pp3_supporting",
					    "bp4_supporting", "bp4_moderate", "bp4_strong"};
	static const int ranks[6] = {-3, -2, -1, 1, 2, 3};
	const char *sec = cls ? "indel" : "snv";
	enum vv_varclass vc = cls ? VV_CLASS_INDEL : VV_CLASS_SNV;
	double prev = -INFINITY;
	int have_prev = 0, prev_pp3 = 0;

	for (int i = 0; i < 6; i++) {
		double t;
		int r;
		if (vv_conf_double(c, sec, keys[i], &t) != 1)
			continue;
		/* in order; strictly between the last PP3 and the first BP4 */
		if (have_prev && (i >= 3 && prev_pp3 ? !(prev < t) : !(prev <= t)))
			abort();
		prev = t;
		have_prev = 1;
		prev_pp3 = i < 3;
		/* the edge of its band */
		r = rank(vv_policy_classify(p, vc, t));
		if (i < 3 ? !(r <= ranks[i]) : !(r >= ranks[i]))
			abort();
		r = rank(vv_policy_classify(p, vc, nextafter(t, i < 3 ? INFINITY : -INFINITY)));
		if (i < 3 ? !(r > ranks[i]) : !(r < ranks[i]))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	vv_policy *p = (vv_policy *)&size; /* must be set either way */
	vv_conf *c = NULL;
	double s[512];
	int rc;

	if (vv_conf_parse((const char *)data, size, "fuzz.conf", &c) == 0) {
		double d;
		int b;
		(void)vv_conf_get(c, "policy", "name");
		int rd = vv_conf_double(c, "snv", "pp3_strong", &d);
		int rb = vv_conf_bool(c, "policy", "calibrated", &b);
		(void)rd;
		(void)rb;
		vv_conf_free(c);
	}
	rc = vv_policy_parse((const char *)data, size, "fuzz.conf", &p);
	if (rc != 0) {
		if (rc > 0 || p != NULL)
			abort();
		return 0;
	}
	if (!p || strlen(vv_policy_sha256(p)) != 64 || !vv_policy_name(p)[0])
		abort();
	if (vv_conf_parse((const char *)data, size, "fuzz.conf", &c) != 0)
		abort(); /* a policy is a valid configuration */
	for (int cls = 0; cls < 2; cls++)
		check_thresholds(p, c, cls);
	vv_conf_free(c);
	size_t n = probes(data, size, s, sizeof s / sizeof s[0]);
	for (int cls = 0; cls < 2; cls++) {
		enum vv_varclass vc = cls ? VV_CLASS_INDEL : VV_CLASS_SNV;
		int prev = -3;
		for (size_t i = 0; i < n; i++) {
			int r = rank(vv_policy_classify(p, vc, s[i]));
			if (r < prev)
				abort(); /* evidence went back as the score rose */
			prev = r;
		}
		if (vv_policy_classify(p, vc, NAN) != VV_EV_NONE)
			abort();
		(void)vv_evidence_name(vv_policy_classify(p, vc, 0.0));
	}
	vv_policy_free(p);
	return 0;
}
