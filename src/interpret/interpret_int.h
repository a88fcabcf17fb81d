/* Private to src/interpret: one interpretation job and its output sinks. */
#ifndef VARVAULT_INTERPRET_INT_H
#define VARVAULT_INTERPRET_INT_H

#include "varvault/interpret.h"
#include "varvault/model.h"
#include "varvault/vcf.h"

/* The verdict on one normalized variant. */
struct vv_item {
	const vv_vcf_var *v;
	const char *cls;             /* "snv", "mnv", "indel", "complex", "other" */
	const char *status;          /* "scored", or why not: a code */
	enum vv_score_method method; /* VV_SCORE_NONE when not scored */
	double score;                /* NAN when not scored */
	enum vv_evidence ev;
};

struct vv_job;

/* An output format: begin once (after the reader is open), one call per
 * variant in input order, end once. */
struct vv_sink {
	int (*begin)(struct vv_job *j);
	int (*variant)(struct vv_job *j, const struct vv_item *it);
	int (*end)(struct vv_job *j);
};

struct vv_job {
	vv_scorer *sc;
	const struct vv_model_info *mi;
	vv_ref *ref;
	const vv_policy *p;
	const struct vv_interpret_opts *o;
	vv_vcf_reader *r;
	vv_vcf_reader *scan;        /* a first pass over the whole input */
	vv_vcf_writer *w;           /* VCF output only */
	vv_sbuf *out;
	char ref_md5[33];
	struct vv_interpret_summary sum;
	int first;                  /* no variant written yet (JSON commas) */
	const struct vv_sink *sink;
};

/* Sinks, in output.c. */
extern const struct vv_sink vv_interpret_sink_vcf, vv_interpret_sink_json, vv_interpret_sink_tsv;

/* Appends a string to the job's output, honouring max_out. */
int vv_interpret_put(struct vv_job *j, const char *s, size_t n) VV_MUST_CHECK;
int vv_interpret_putf(struct vv_job *j, const char *fmt, ...) VV_PRINTF(2, 3) VV_MUST_CHECK;

#endif
