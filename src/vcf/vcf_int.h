/* Private to src/vcf: the structures and helpers shared by the reader, the
 * validators, the normalizer, the reference and the writer. */
#ifndef VARVAULT_VCF_INT_H
#define VARVAULT_VCF_INT_H

#include <htslib/bgzf.h>
#include <htslib/faidx.h>
#include <htslib/hfile.h>
#include <htslib/hts.h>
#include <htslib/kstring.h>
#include <htslib/vcf.h>

#include "varvault/core.h"
#include "varvault/vcf.h"

/* A growable array of warnings. */
struct vv_wvec {
	vv_vcf_warning *w;
	size_t n, cap;
};

/* One input record, shared by the variants split from it. */
struct vv_rec {
	unsigned refs;
	bcf1_t *b;              /* parsed, unpacked (BCF_UN_ALL) */
	char *contig;
	uint64_t line;          /* input line (VCF text), 0 for BCF */
	uint64_t index;         /* 1-based record number */
	int64_t pos;            /* input POS, 1-based */
	int n_alts;
	struct vv_wvec warn;
};

struct vv_vcf_var {
	struct vv_rec *rec;
	int alt_index;          /* 1-based; 0 for ALT '.' */
	int64_t pos;            /* 1-based, normalized */
	char *ref, *alt;        /* normalized, upper case; wiped on free */
	enum vv_vcf_status status;
};

/* Allele classes, from the ALT text. */
enum vv_allele {
	VV_AL_BASES = 1,   /* [ACGTN]+ */
	VV_AL_STAR,        /* '*' */
	VV_AL_SYMBOLIC,    /* <ID> other than the two below */
	VV_AL_REF_BLOCK,   /* <NON_REF>, <*> */
	VV_AL_BREAKEND,
	VV_AL_BAD,
};

/* A set of names (htslib's khash of strings; keys owned). */
struct vv_nameset {
	void *h;
};

struct vv_vcf_reader {
	vv_vcf_limits lim;
	vv_ref *ref;
	enum vv_vcf_input kind;
	hFILE *hf;              /* owned by bgzf or hts once those exist */
	BGZF *bgzf;             /* VCF text */
	htsFile *hts;           /* BCF */
	void *map;              /* vv_vcf_open_mem's memory file, mapped (wiped, unmapped at the end) */
	size_t maplen;
	bcf_hdr_t *hdr;
	bcf_hdr_t *scratch_hdr; /* empty header for checking single ## lines */

	/* line reader over bgzf */
	char *buf;
	size_t buf_len, buf_pos;
	kstring_t line;         /* the current raw line, without '\n' */
	kstring_t work;         /* a copy that vcf_parse may cut up */
	uint64_t lineno;
	uint64_t text_bytes;
	int eof;
	int no_final_newline;
	int cr_warned, blank_warned;

	/* header facts */
	char fileformat[32];
	int vmajor, vminor;     /* 4, 2 for VCFv4.2; 0, 0 when unknown */
	int nsamples;
	/* what the header itself declares (htslib adds dummies later) */
	uint8_t *declared;      /* per BCF_DT_ID id: bit 1 << BCF_HL_* */
	int ndeclared;
	int ncontigs_declared;

	/* records */
	uint64_t nrec;
	struct vv_vcf_var **pending;  /* variants of the last record, not yet handed out */
	int npending, next_pending, mpending;
	struct vv_dupring *dups;      /* recent variant keys, for the duplicate warning */
	int fail_rc;            /* sticky refusal */
	int at_end;             /* vv_vcf_next() has returned 0 */
	char fail_detail[512];

	/* order checks */
	int last_rid;
	int64_t last_pos;
	struct vv_nameset done_contigs;
	struct vv_nameset warned;   /* "UNDECLARED:INFO/X" and other once-only notes */
	uint32_t nundeclared;       /* distinct undeclared names met (max_undeclared) */

	/* warnings */
	struct vv_wvec warn;
	uint64_t wtotal;
	uint64_t wcount[VV_VCF_W_NKINDS];
};

struct vv_ref {
	faidx_t *fai;
	char *path;
	const char *name;       /* points into path */
	int md5_done;
	char md5[33];
};

/* --- warnings and record errors (warn.c), name sets (nameset.c), the reader's state (reader.c) --- */

/* Records a warning for the reader (and for rec, when not NULL).  field and
 * message are printf-free text; message may be a format.  Returns 0 or
 * VV_ERR_NOMEM. */
int vv_vcf_warnf(vv_vcf_reader *r, struct vv_rec *rec, uint64_t line, enum vv_vcf_warn kind,
		 const char *field, const char *fmt, ...) VV_PRINTF(6, 7) VV_MUST_CHECK;
/* As vv_vcf_warnf, but only the first time `key` is seen in this file. */
int vv_vcf_warn_once(vv_vcf_reader *r, struct vv_rec *rec, const char *key, uint64_t line,
		     enum vv_vcf_warn kind, const char *field, const char *fmt, ...)
	VV_PRINTF(7, 8) VV_MUST_CHECK;
void vv_vcf_wvec_done(struct vv_wvec *v);

bool vv_vcf_nameset_has(const struct vv_nameset *s, const char *name);
int vv_vcf_nameset_add(struct vv_nameset *s, const char *name) VV_MUST_CHECK;
void vv_vcf_nameset_done(struct vv_nameset *s);

/* Records "line N, field F: <message>" (or "record N, ..." for BCF input)
 * for the record being read and returns err. */
int vv_vcf_rec_errf(const vv_vcf_reader *r, int err, const char *field, const char *fmt, ...)
	VV_PRINTF(4, 5);
/* The line (VCF text) or record number (BCF) of the record being read. */
uint64_t vv_vcf_reader_where(const vv_vcf_reader *r);

/* 1 when the header itself (not a dummy htslib added) defines id for hl
 * (BCF_HL_INFO, BCF_HL_FMT, BCF_HL_FLT). */
bool vv_vcf_declared(const vv_vcf_reader *r, int hl, int id);

/* --- header checks (check_header.c) --- */

/* Checks one raw header line ("##..."), recording warnings.  lineno is its
 * 1-based line.  Returns 0 or VV_ERR_NOMEM. */
int vv_vcf_check_header_line(vv_vcf_reader *r, const char *line, size_t len, uint64_t lineno)
	VV_MUST_CHECK;
/* Checks the #CHROM line; returns 0 or VV_ERR_VCF_PARSE with a detail. */
int vv_vcf_check_chrom_line(vv_vcf_reader *r, const char *line, size_t len, uint64_t lineno)
	VV_MUST_CHECK;

/* The reserved definition of an INFO (is_fmt 0) or FORMAT key, or NULL:
 * number as text ("1", "A", "G", "R", "0", "2", "4"), type BCF_HT_*,
 * and whether values are counts that cannot be negative. */
struct vv_reserved {
	const char *id;
	const char *number;
	int type;
	int nonneg;
	int min_v43;            /* defined from VCF 4.3 on */
};
const struct vv_reserved *vv_vcf_reserved_find(int is_fmt, const char *id, int vmajor, int vminor);

/* --- record checks (check_record.c) --- */

/* Checks the raw text of a data line before htslib parses it, recording
 * warnings on rec.  Returns 0, or VV_ERR_VCF_FIELD / VV_ERR_VCF_PARSE /
 * VV_ERR_VCF_LIMIT with "line N, field F: ..." recorded. */
int vv_vcf_check_record_text(vv_vcf_reader *r, struct vv_rec *rec, const char *line, size_t len)
	VV_MUST_CHECK;
/* Checks a parsed record (BCF input, and what only the parse shows). */
int vv_vcf_check_record_parsed(vv_vcf_reader *r, struct vv_rec *rec) VV_MUST_CHECK;
/* An INFO/FORMAT key: [A-Za-z_][0-9A-Za-z_.]* or 1000G; strict42: VCF 4.2
 * FORMAT keys, alphanumeric only. */
bool vv_vcf_key_ok(const char *p, size_t n, int strict42);
/* A character of a contig name in the VCF 4.3 grammar
 * [0-9A-Za-z!#$%&+./:;?@^_|~-][0-9A-Za-z!#$%&*+./:;=?@^_|~-]* */
bool vv_vcf_contig_char(char c, int first);
/* Classifies one ALT allele's text. */
enum vv_allele vv_vcf_allele_class(const char *a, size_t n);
/* Whether every byte of s[0..n) is one of ACGTN (any case). */
bool vv_vcf_is_bases(const char *s, size_t n);

/* --- normalization (norm.c) --- */

/* Fills v (alt_index and rec set) with normalized pos/ref/alt and status.
 * Returns 0, VV_ERR_REF_IO, VV_ERR_NOMEM. */
int vv_vcf_norm_variant(vv_vcf_reader *r, struct vv_vcf_var *v) VV_MUST_CHECK;

/* --- reference (ref.c) --- */

/* Raw fetch of 0-based [beg, end) into *seq (malloc'd, upper case, non-ACGT
 * as N); clipped at the contig end. */
int vv_vcf_ref_fetch0(const vv_ref *ref, const char *contig, int64_t beg, int64_t end, char **seq,
		      size_t *len) VV_MUST_CHECK;

/* --- shared helpers --- */

/* Wipes and frees a kstring. */
void vv_vcf_ks_wipe_free(kstring_t *s);
/* Wipes the buffers of a record and destroys it; NULL-safe. */
void vv_vcf_bcf_wipe_destroy(bcf1_t *b);
void vv_vcf_rec_unref(struct vv_rec *rec);

#endif
