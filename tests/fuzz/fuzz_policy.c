/* libFuzzer target for the configuration reader and the evidence policy:
 * arbitrary bytes must give a policy or a clean error, never a crash.
 * Seeds: tests/fuzz/corpus/policy/. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "varvault/core.h"
#include "varvault/interpret.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	vv_policy *p = NULL;
	vv_conf *c = NULL;
	static const double scores[] = {-100.0, -6.0, -2.5, -0.1, 0.0, 3.0, 100.0, NAN};

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
	if (vv_policy_parse((const char *)data, size, "fuzz.conf", &p) == 0) {
		for (size_t i = 0; i < sizeof scores / sizeof scores[0]; i++) {
			(void)vv_evidence_name(vv_policy_classify(p, VV_CLASS_SNV, scores[i]));
			(void)vv_evidence_name(vv_policy_classify(p, VV_CLASS_INDEL, scores[i]));
		}
		(void)vv_policy_sha256(p);
		vv_policy_free(p);
	}
	return 0;
}
