/* Unit tests of src/interpret: the evidence policy. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "varvault/interpret.h"

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policy_classifies_each_band),
		cmocka_unit_test(test_policy_rejects_bad_files),
		cmocka_unit_test(test_bundled_policy_loads),
	};
	if (vv_core_init() != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
