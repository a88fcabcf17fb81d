/* The evidence policy: score thresholds for PP3 / BP4 at each strength. */
#include "varvault/interpret.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Thresholds per class, in the order of enum vv_evidence from
 * PP3_SUPPORTING to BP4_STRONG; NAN where unset. */
enum { VV_NTHRESH = 6 };
static const char *const vv_thresh_keys[VV_NTHRESH] = {
	"pp3_supporting", "pp3_moderate", "pp3_strong",
	"bp4_supporting", "bp4_moderate", "bp4_strong",
};
static const char *const vv_class_names[2] = {"snv", "indel"};

struct vv_policy {
	char *name;
	char *source;
	int calibrated;
	double t[2][VV_NTHRESH];
	char sha[65];
};

void vv_policy_free(vv_policy *p)
{
	if (!p)
		return;
	free(p->name);
	free(p->source);
	free(p);
}

/* Checks pp3_strong <= pp3_moderate <= pp3_supporting < bp4_supporting <=
 * bp4_moderate <= bp4_strong over the thresholds that are set. */
static int vv_policy_check_order(const vv_conf *c, const char *cls, const double *t)
{
	/* ascending order of the keys */
	static const int order[VV_NTHRESH] = {2, 1, 0, 3, 4, 5};
	int prev = -1;

	for (int i = 0; i < VV_NTHRESH; i++) {
		int k = order[i];
		if (isnan(t[k]))
			continue;
		if (prev >= 0) {
			int strict = prev <= 2 && k >= 3;
			if (strict ? !(t[prev] < t[k]) : !(t[prev] <= t[k]))
				return vv_errf(VV_ERR_POLICY,
					       "%s:%d: [%s] %s must be %s %s",
					       vv_conf_name(c), vv_conf_line(c, cls, vv_thresh_keys[k]), cls,
					       vv_thresh_keys[k], strict ? "greater than" : "at least",
					       vv_thresh_keys[prev]);
		}
		prev = k;
	}
	return 0;
}

static int vv_policy_from_conf(const vv_conf *c, vv_policy *p)
{
	static const char *const known[] = {
		"policy.name", "policy.calibrated", "policy.calibration_source",
		"snv.pp3_supporting", "snv.pp3_moderate", "snv.pp3_strong",
		"snv.bp4_supporting", "snv.bp4_moderate", "snv.bp4_strong",
		"indel.pp3_supporting", "indel.pp3_moderate", "indel.pp3_strong",
		"indel.bp4_supporting", "indel.bp4_moderate", "indel.bp4_strong",
		NULL,
	};
	const char *name, *source;
	int rc;

	if ((rc = vv_conf_check_known(c, known)) != 0)
		return VV_ERR_POLICY;
	name = vv_conf_get(c, "policy", "name");
	if (!name || !name[0])
		return vv_errf(VV_ERR_POLICY, "%s: [policy] name is required", vv_conf_name(c));
	rc = vv_conf_bool(c, "policy", "calibrated", &p->calibrated);
	if (rc < 0)
		return VV_ERR_POLICY;
	if (rc == 0)
		return vv_errf(VV_ERR_POLICY, "%s: [policy] calibrated = yes|no is required",
			       vv_conf_name(c));
	source = vv_conf_get(c, "policy", "calibration_source");
	if (p->calibrated && (!source || !source[0] || !strcmp(source, "none")))
		return vv_errf(VV_ERR_POLICY, "%s:%d: a calibrated policy must name its calibration_source",
			       vv_conf_name(c), vv_conf_line(c, "policy", "calibrated"));
	p->name = strdup(name);
	p->source = strdup(source && source[0] ? source : "none");
	if (!p->name || !p->source)
		return VV_ERR_NOMEM;
	for (int cls = 0; cls < 2; cls++) {
		for (int k = 0; k < VV_NTHRESH; k++) {
			double v = NAN;
			if (vv_conf_double(c, vv_class_names[cls], vv_thresh_keys[k], &v) < 0)
				return VV_ERR_POLICY;
			p->t[cls][k] = v;
		}
		if ((rc = vv_policy_check_order(c, vv_class_names[cls], p->t[cls])) != 0)
			return rc;
	}
	return 0;
}

int vv_policy_parse(const char *buf, size_t len, const char *name, vv_policy **out)
{
	vv_conf *c = NULL;
	vv_policy *p = NULL;
	uint8_t digest[32];
	int rc;

	*out = NULL;
	if ((rc = vv_conf_parse(buf, len, name, &c)) != 0)
		return rc == VV_ERR_NOMEM ? rc : VV_ERR_POLICY;
	if (!(p = calloc(1, sizeof *p))) {
		rc = VV_ERR_NOMEM;
		goto out;
	}
	if ((rc = vv_policy_from_conf(c, p)) != 0)
		goto out;
	vv_sha256_oneshot(buf, len, digest);
	vv_hex(digest, 32, p->sha);
	*out = p;
	p = NULL;
out:
	vv_policy_free(p);
	vv_conf_free(c);
	return rc;
}

int vv_policy_load(const char *path, vv_policy **out)
{
	char *buf = NULL;
	size_t len = 0;
	int rc;

	*out = NULL;
	if ((rc = vv_read_file(path, 1 << 20, &buf, &len)) != 0)
		return rc;
	rc = vv_policy_parse(buf, len, path, out);
	free(buf);
	return rc;
}

enum vv_evidence vv_policy_classify(const vv_policy *p, enum vv_varclass cls, double score)
{
	const double *t = p->t[cls];

	if (isnan(score))
		return VV_EV_NONE;
	/* strongest first */
	for (int k = 2; k >= 0; k--)
		if (!isnan(t[k]) && score <= t[k])
			return (enum vv_evidence)(VV_EV_PP3_SUPPORTING + k);
	for (int k = 5; k >= 3; k--)
		if (!isnan(t[k]) && score >= t[k])
			return (enum vv_evidence)(VV_EV_PP3_SUPPORTING + k);
	return VV_EV_NONE;
}

const char *vv_evidence_name(enum vv_evidence e)
{
	static const char *const names[] = {
		"none", "PP3_Supporting", "PP3_Moderate", "PP3_Strong",
		"BP4_Supporting", "BP4_Moderate", "BP4_Strong",
	};
	if ((unsigned)e >= sizeof names / sizeof names[0])
		return "none";
	return names[e];
}

const char *vv_policy_name(const vv_policy *p)
{
	return p->name;
}

bool vv_policy_calibrated(const vv_policy *p)
{
	return p->calibrated;
}

const char *vv_policy_source(const vv_policy *p)
{
	return p->source;
}

const char *vv_policy_sha256(const vv_policy *p)
{
	return p->sha;
}
