/* Private to src/interpret: one interpretation job and its output sinks. */
#ifndef VARVAULT_INTERPRET_JOB_H
#define VARVAULT_INTERPRET_JOB_H

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
struct vv_out;

/* An output format: begin once (after the reader is open; on a resumed run
 * its output is discarded), one call per variant in input order, cut at
 * the end of every chunk but the last, end once at the end of the last.
 * replay (NULL for formats with no state across chunks) takes the
 * variants a resumed run re-creates for the sink's carried state; their
 * output is discarded. */
struct vv_sink {
	int (*begin)(struct vv_job *j, struct vv_out *s);
	int (*variant)(struct vv_job *j, struct vv_out *s, const struct vv_item *it);
	int (*cut)(struct vv_job *j, struct vv_out *s);
	int (*end)(struct vv_job *j, struct vv_out *s);
	int (*replay)(struct vv_job *j, struct vv_out *s, const struct vv_item *it);
};

/* One format of a job. */
struct vv_out {
	const struct vv_sink *sink;
	vv_sbuf *buf;               /* this chunk's bytes */
	uint64_t before;            /* bytes of earlier chunks */
	vv_vcf_writer *w;           /* VCF only */
};

struct vv_job {
	vv_scorer *sc;
	const struct vv_model_info *mi;
	vv_ref *ref;
	const vv_policy *p;
	const struct vv_interpret_opts *o;
	vv_vcf_reader *r;
	vv_vcf_reader *scan;        /* a first pass over the whole input */
	char ref_md5[33];
	struct vv_interpret_summary sum;
	uint64_t written;           /* variants handed to the sinks before this one */
	struct vv_out outs[VV_OUT_NFORMATS];
	unsigned formats;
};

/* Sinks, in output.c. */
extern const struct vv_sink vv_interpret_sink_vcf, vv_interpret_sink_json, vv_interpret_sink_tsv;

/* Appends a string to a format's output, honouring max_out. */
int vv_interpret_put(struct vv_job *j, struct vv_out *s, const char *str, size_t n);
int vv_interpret_putf(struct vv_job *j, struct vv_out *s, const char *fmt, ...) VV_PRINTF(3, 4);

#endif
