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
VV_EXPORT int vv_policy_calibrated(const vv_policy *p);
VV_EXPORT const char *vv_policy_source(const vv_policy *p);
/* Lowercase hex SHA-256 of the policy file's bytes (65 bytes with NUL). */
VV_EXPORT const char *vv_policy_sha256(const vv_policy *p);

#endif /* VARVAULT_INTERPRET_H */
