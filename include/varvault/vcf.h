/*
 * varvault vcf: VCF intake from memory, strict validation, normalization
 * against a reference, reference windows, and the annotated-VCF writer.
 * This is the only module that talks to htslib (STYLE.md rule 2).
 *
 * Flow (one job):
 *
 *     vv_ref *ref;          vv_ref_open("GRCh38.fa.gz", &ref)
 *     vv_vcf_reader *r;     vv_vcf_open_mem(buf, len, &limits, ref, &r)
 *     vv_vcf_var *v;        while ((rc = vv_vcf_next(r, &v)) == 1) { ...; vv_vcf_var_free(v); }
 *     vv_ref_window w;      vv_ref_window_init(&w); vv_vcf_var_window(ref, v, 512, &w)
 *     vv_vcf_writer *w;     vv_vcf_writer_new(r, -1, max, &w); declare_info; write; finish
 *
 * Errors follow core.h: 0 / negative VV_ERR_*; iterators return 1 (item),
 * 0 (end) or < 0.  Every refusal of the input records a detail with
 * vv_errf() of the form "line 12, field REF: ..." (or "record 7" for BCF),
 * naming places, never genotype or sequence values.
 *
 * Threads: each object is used by one thread at a time.  Different readers
 * may run on different threads, but htslib logs through one process-wide
 * setting: call vv_vcf_init() once, before any thread starts.
 *
 * Patient data: the reader, its variants and the writer hold plaintext in
 * ordinary heap memory (htslib's buffers cannot live in sodium memory); the
 * buffers this module owns are wiped when freed.  The worker process locks
 * all its memory (DESIGN.md), so none of it reaches swap.
 */
#ifndef VARVAULT_VCF_H
#define VARVAULT_VCF_H

#include <stddef.h>
#include <stdint.h>

#include "varvault/core.h"

/* ------------------------------------------------------------------ */
/* Process setup                                                        */

/* Silences htslib's own stderr messages (they may quote header lines or a
 * character of a genotype) for the whole process.  Call once at start-up,
 * before threads; idempotent.  Nothing else in this module touches
 * process-wide state. */
VV_EXPORT void vv_vcf_init(void);

/* ------------------------------------------------------------------ */
/* Limits                                                               */

/* What the caller allows one input to cost.  vv_vcf_limits_default() fills
 * sane defaults; a config file will override single fields.  A value of 0
 * means "use the default". */
typedef struct vv_vcf_limits {
	uint64_t max_input_bytes;   /* bytes handed in (compressed as given); 4 GiB */
	uint64_t max_text_bytes;    /* bytes after decompression; 64 GiB */
	uint64_t max_line_bytes;    /* one header or data line; 64 MiB */
	uint64_t max_header_bytes;  /* the whole header; 64 MiB */
	uint64_t max_records;       /* data records; 100 million */
	uint32_t max_alts;          /* ALT alleles in one record; 256 */
	uint32_t max_samples;       /* sample columns; 100000 */
	uint32_t max_allele_bytes;  /* longer REF/ALT alleles are kept, not
	                             * normalized (status TOO_LONG); 100000 */
	uint32_t max_warnings;      /* warnings kept in full (all are counted); 10000 */
	uint32_t max_undeclared;    /* distinct names the header does not declare
	                             * (contigs, INFO/FORMAT keys, FILTERs): htslib adds a
	                             * header entry for each, so they cost memory; 10000 */
} vv_vcf_limits;

/* Fills lim with the defaults above. */
VV_EXPORT void vv_vcf_limits_default(vv_vcf_limits *lim);

/* ------------------------------------------------------------------ */
/* Warnings: input problems that do not refuse the file                 */

/* Kinds of warning.  Values are stable (they reach the output header). */
enum vv_vcf_warn {
	VV_VCF_W_HEADER = 1,    /* a header line violates the specification */
	VV_VCF_W_HEADER_DROPPED,/* htslib dropped or rewrote a header line */
	VV_VCF_W_RESERVED,      /* a reserved INFO/FORMAT key declared with another Type/Number */
	VV_VCF_W_UNDECLARED,    /* contig, FILTER, INFO or FORMAT key without a header line:
	                         * htslib added one (INFO/FORMAT as Type=String) */
	VV_VCF_W_TO_MISSING,    /* htslib replaced a value by missing ('.'): out of the
	                         * int32 range, BCF-reserved, or not a number */
	VV_VCF_W_CHANGED,       /* htslib stored another value than the text (a fraction in
	                         * an Integer field truncated, a float overflow, a trailing
	                         * ';' or empty entry dropped) */
	VV_VCF_W_VALUE,         /* a passed-through value violates the specification; kept */
	VV_VCF_W_COUNT,         /* a passed-through field has the wrong number of values */
	VV_VCF_W_SYNTAX,        /* ID, INFO or FORMAT key syntax, repeated keys; kept */
	VV_VCF_W_ORDER,         /* records unsorted, a contig split into blocks, a duplicate */
	VV_VCF_W_CONTIG_NAME,   /* CHROM with ':' or '*' (VCF 4.3 allows it, 4.2 does not) */
	VV_VCF_W_FORMAT_END,    /* file problems: no newline at the end, CR line ends,
	                         * blank lines */
	VV_VCF_W_ALLELE,        /* an ALT equal to REF or repeated in the record */
};
#define VV_VCF_W_NKINDS 14  /* one more than the largest kind */

/* One warning.  A plain value: the reader and each variant own arrays of
 * them.  field names the field ("POS", "INFO/DP", "FORMAT/PL", "header");
 * message says what is wrong, never the value. */
typedef struct vv_vcf_warning {
	uint64_t line;          /* 1-based input line (VCF text), record (BCF), 0: file */
	enum vv_vcf_warn kind;
	char field[48];
	char message[160];
} vv_vcf_warning;

/* Stable upper-case name of a kind ("TO_MISSING"); "UNKNOWN" otherwise. */
VV_EXPORT const char *vv_vcf_warn_name(enum vv_vcf_warn kind);

/* ------------------------------------------------------------------ */
/* Reference (FASTA + .fai, or bgzip FASTA + .fai + .gzi, via faidx)     */

typedef struct vv_ref vv_ref;

/* Opens a FASTA reference with its existing index: PATH.fai, and for a
 * bgzip-compressed FASTA also PATH.gzi.  Never creates index files.  Reads
 * the file through the returned object until vv_ref_free(); open it before
 * a sandbox forbids open(2) (later fetches only read and seek).
 * *out is the caller's, freed with vv_ref_free().  Returns 0,
 * VV_ERR_REF_IO (detail names the missing file), VV_ERR_NOMEM. */
VV_EXPORT int vv_ref_open(const char *fasta, vv_ref **out) VV_MUST_CHECK;

/* Frees the reference; NULL-safe. */
VV_EXPORT void vv_ref_free(vv_ref *ref);

/* The reference's name: the file name without its folder (static until
 * vv_ref_free). */
VV_EXPORT const char *vv_ref_name(const vv_ref *ref);

/* MD5 of the FASTA file's bytes as stored (what `md5sum FILE` prints),
 * computed with hts_md5 on the first call and kept.  hex gets 32 lowercase
 * digits and a NUL.  Returns 0 or VV_ERR_REF_IO.
 * The first call re-opens the FASTA by its path and reads all of it (a
 * human genome: seconds): a sandboxed process that may no longer open
 * files, or that is started afresh per job, should be given the digest
 * with vv_ref_set_md5() (computed once by its parent) instead. */
VV_EXPORT int vv_ref_md5(vv_ref *ref, char hex[33]) VV_MUST_CHECK;

/* Records the reference's MD5 (32 lowercase hex digits, as vv_ref_md5
 * reports it) computed elsewhere, so that vv_ref_md5 never reads the file.
 * Returns 0 or VV_ERR_INVAL. */
VV_EXPORT int vv_ref_set_md5(vv_ref *ref, const char *hex) VV_MUST_CHECK;

/* MD5 of one contig's sequence, upper-cased, without line breaks (the SAM
 * M5 / VCF ##contig md5 convention).  Returns 0, VV_ERR_REF_CONTIG,
 * VV_ERR_REF_IO, VV_ERR_NOMEM. */
VV_EXPORT int vv_ref_contig_md5(const vv_ref *ref, const char *contig, char hex[33]) VV_MUST_CHECK;

/* Number of contigs, and the name of contig i (0-based; NULL out of range). */
VV_EXPORT int vv_ref_ncontigs(const vv_ref *ref);
VV_EXPORT const char *vv_ref_contig_name(const vv_ref *ref, int i);

/* Whether the reference has contig; if so *len gets its length in bases
 * (else 0). */
VV_EXPORT bool vv_ref_contig_length(const vv_ref *ref, const char *contig, int64_t *len);

/* Fetches bases beg..end (1-based, inclusive) of contig into *seq: NUL
 * terminated, upper case, every character other than A, C, G, T turned
 * into N.  *seq is the caller's (free()).  end past the contig's end is
 * clipped (*len says how many bases came).  Returns 0, VV_ERR_REF_CONTIG,
 * VV_ERR_RANGE (beg < 1 or beg past the end), VV_ERR_REF_IO, VV_ERR_NOMEM. */
VV_EXPORT int vv_ref_fetch(const vv_ref *ref, const char *contig, int64_t beg, int64_t end,
			   char **seq, size_t *len) VV_MUST_CHECK;

/*
 * Reference windows.  Policy (docs/vcf.md): a window is always exactly
 * `width` bases.  It is centred on the variant's REF span, the extra base
 * of an odd remainder going to the right; near a contig end it is shifted
 * to stay inside the contig (so `offset` moves off-centre); only when the
 * contig is shorter than width is it padded on the right with N
 * (`pad_right`).  N runs of the reference are returned as they are, with
 * their count in `n_count`; soft-masked (lower-case) bases are upper-cased
 * and IUPAC codes become N.
 */
typedef struct vv_ref_window {
	char *seq;          /* width bases + NUL; owned, freed by vv_ref_window_done */
	size_t len;         /* == width */
	int64_t start;      /* 1-based reference position of seq[0] */
	size_t offset;      /* 0-based index in seq of the variant's first REF base */
	size_t span;        /* REF bases of the variant, seq[offset .. offset+span-1] */
	size_t n_count;     /* N bases in seq (reference N, IUPAC codes, padding) */
	size_t pad_right;   /* N bases added at the end (contig shorter than width) */
} vv_ref_window;

/* Caller-owned window: init before use, done after (NULL-safe, reusable). */
VV_EXPORT void vv_ref_window_init(vv_ref_window *w);
VV_EXPORT void vv_ref_window_done(vv_ref_window *w);

/* Fills w with the window of `width` bases around the REF span pos ..
 * pos+span-1 (1-based) of contig.  Reuses w's buffer.  Returns 0,
 * VV_ERR_REF_CONTIG, VV_ERR_RANGE (span 0 or > width, width 0 or over
 * 2^30, or the span not inside the contig), VV_ERR_REF_IO, VV_ERR_NOMEM. */
VV_EXPORT int vv_ref_window_get(const vv_ref *ref, const char *contig, int64_t pos, size_t span,
				size_t width, vv_ref_window *w) VV_MUST_CHECK;

/* ------------------------------------------------------------------ */
/* Reader                                                              */

typedef struct vv_vcf_reader vv_vcf_reader;

/* What the input was. */
enum vv_vcf_input {
	VV_VCF_IN_VCF = 1,   /* uncompressed VCF text */
	VV_VCF_IN_VCF_BGZF,  /* BGZF-compressed VCF (bgzip) */
	VV_VCF_IN_VCF_GZIP,  /* plain gzip VCF */
	VV_VCF_IN_BCF,       /* BCF 2.2 */
};

/* Opens a reader over len bytes at buf: VCF text, bgzipped or gzipped VCF,
 * or BCF, detected from the bytes.  Anything else (BAM, CRAM, htsget JSON,
 * a Crypt4GH file, an empty buffer) is refused: htslib would otherwise
 * follow htsget URLs or load plug-ins.  The bytes are copied once into an
 * anonymous memory file (memfd_create; no path, nothing on disk) that
 * htslib reads through hdopen(), so no file is opened or stat'ed and no
 * index is looked up; buf may be wiped and freed as soon as this returns.
 * The header is read and checked here.
 *   lim: NULL for the defaults.  ref: the reference for normalization, or
 *   NULL (then records are only split, as `bcftools norm -m-any` without
 *   -f, and every variant gets VV_VCF_NO_REFERENCE); it must outlive the
 *   reader and is not used by another thread meanwhile.
 * *out is the caller's, freed with vv_vcf_close().  Returns 0,
 * VV_ERR_VCF_PARSE (not a VCF/BCF, a broken header: detail names the line),
 * VV_ERR_VCF_FIELD, VV_ERR_VCF_LIMIT, VV_ERR_IO, VV_ERR_NOMEM. */
VV_EXPORT int vv_vcf_open_mem(const void *buf, size_t len, const vv_vcf_limits *lim,
			      vv_ref *ref, vv_vcf_reader **out) VV_MUST_CHECK;

/* The same over a readable file descriptor (for example the read end of a
 * pipe fed by the streaming Crypt4GH decryptor).  The reader owns fd from
 * this call on, also on failure, and closes it.  lim->max_input_bytes does
 * not apply (the compressed size is not seen); max_text_bytes does. */
VV_EXPORT int vv_vcf_open_fd(int fd, const vv_vcf_limits *lim, vv_ref *ref,
			     vv_vcf_reader **out) VV_MUST_CHECK;

/* Closes the reader; NULL-safe.  Variants already returned stay valid. */
VV_EXPORT void vv_vcf_close(vv_vcf_reader *r);

/* Header facts. */
VV_EXPORT enum vv_vcf_input vv_vcf_input_kind(const vv_vcf_reader *r);
/* "VCFv4.2" etc. from ##fileformat; "" when absent. */
VV_EXPORT const char *vv_vcf_fileformat(const vv_vcf_reader *r);
VV_EXPORT int vv_vcf_nsamples(const vv_vcf_reader *r);
/* Contigs the header declares, in header order (records may add more,
 * with a VV_VCF_W_UNDECLARED warning). */
VV_EXPORT int vv_vcf_ncontigs(const vv_vcf_reader *r);
VV_EXPORT const char *vv_vcf_contig_name(const vv_vcf_reader *r, int i);
/* Whether contig i's ##contig line gives a length; if so *len gets it
 * (else 0).  False also for i out of range. */
VV_EXPORT bool vv_vcf_contig_length(const vv_vcf_reader *r, int i, int64_t *len);

/* Records read so far. */
VV_EXPORT uint64_t vv_vcf_records(const vv_vcf_reader *r);

/* All warnings so far: total count (also those beyond max_warnings), the
 * kept ones (index < vv_vcf_nwarnings), and per-kind counts.  Pointers stay
 * valid until the next vv_vcf_next() or vv_vcf_close(). */
VV_EXPORT uint64_t vv_vcf_warnings_total(const vv_vcf_reader *r);
VV_EXPORT size_t vv_vcf_nwarnings(const vv_vcf_reader *r);
VV_EXPORT const vv_vcf_warning *vv_vcf_warning_at(const vv_vcf_reader *r, size_t i);
VV_EXPORT uint64_t vv_vcf_warnings_of(const vv_vcf_reader *r, enum vv_vcf_warn kind);

/* ------------------------------------------------------------------ */
/* Normalized variants                                                  */

typedef struct vv_vcf_var vv_vcf_var;

/* What a variant is and whether it may be scored.  The first four are
 * scorable (REF matched the reference, alleles are A/C/G/T only); every
 * other status keeps the variant in the output with its reason. */
enum vv_vcf_status {
	VV_VCF_SNV = 1,          /* one base for one base */
	VV_VCF_MNV,              /* n bases for n bases, n > 1 (differ at both ends) */
	VV_VCF_INDEL,            /* insertion or deletion after one shared base */
	VV_VCF_COMPLEX,          /* lengths differ and no base is shared (delins) */
	VV_VCF_KEEP_SYMBOLIC = 16, /* <DEL>, <DUP:TANDEM>, ... */
	VV_VCF_KEEP_BREAKEND,    /* t[p[, ]p]t, .t, t. */
	VV_VCF_KEEP_STAR,        /* '*': allele missing due to an upstream deletion */
	VV_VCF_KEEP_REF_BLOCK,   /* gVCF reference block: <NON_REF> or <*> */
	VV_VCF_KEEP_NO_ALT,      /* ALT '.': a reference-only record */
	VV_VCF_KEEP_REF_MISMATCH,/* REF differs from the reference */
	VV_VCF_KEEP_NO_CONTIG,   /* CHROM is not a contig of the reference */
	VV_VCF_KEEP_OUTSIDE,     /* POS 0, or REF runs past the contig's end */
	VV_VCF_KEEP_N,           /* REF or ALT has N (a reference N run, or N in the call) */
	VV_VCF_KEEP_ALT_IS_REF,  /* ALT equals REF */
	VV_VCF_KEEP_TOO_LONG,    /* an allele over max_allele_bytes: not normalized */
	VV_VCF_NO_REFERENCE,     /* opened without a reference: split only, REF unchecked */
};

/* Stable lower-case name ("snv", "ref_mismatch"); "unknown" otherwise. */
VV_EXPORT const char *vv_vcf_status_name(enum vv_vcf_status st);
/* Whether st is one of the four scorable statuses. */
VV_EXPORT bool vv_vcf_status_scorable(enum vv_vcf_status st);

/* Next normalized variant, one per ALT allele of each record, in input
 * order (a record with ALT '.' gives one variant, VV_VCF_KEEP_NO_ALT).
 * Each record is validated when it is read: a fault in what varvault
 * interprets (CHROM, POS, REF, ALT, QUAL, FILTER, GT, INFO/END, the counts
 * of Number=A/R/G values of a record that is split, and any value htslib
 * cannot parse) refuses the input: the call returns VV_ERR_VCF_FIELD or
 * VV_ERR_VCF_PARSE with "line N, field F: ..." and every later call
 * returns the same.  Other faults become warnings on the variants.
 * Returns 1 with *out set (the caller's; vv_vcf_var_free), 0 at the end,
 * VV_ERR_VCF_LIMIT past a limit, VV_ERR_REF_IO, VV_ERR_NOMEM. */
VV_EXPORT int vv_vcf_next(vv_vcf_reader *r, vv_vcf_var **out) VV_MUST_CHECK;

/* Frees a variant (wiping its alleles); NULL-safe. */
VV_EXPORT void vv_vcf_var_free(vv_vcf_var *v);

/* Accessors: strings live as long as the variant. */
VV_EXPORT const char *vv_vcf_var_contig(const vv_vcf_var *v);
VV_EXPORT int64_t vv_vcf_var_pos(const vv_vcf_var *v);       /* 1-based, normalized */
VV_EXPORT const char *vv_vcf_var_ref(const vv_vcf_var *v);   /* upper case; normalized */
VV_EXPORT const char *vv_vcf_var_alt(const vv_vcf_var *v);   /* upper case; normalized */
VV_EXPORT int64_t vv_vcf_var_orig_pos(const vv_vcf_var *v);  /* POS of the input record */
VV_EXPORT uint64_t vv_vcf_var_line(const vv_vcf_var *v);     /* input line; 0 for BCF */
VV_EXPORT uint64_t vv_vcf_var_record(const vv_vcf_var *v);   /* 1-based record index */
VV_EXPORT int vv_vcf_var_alt_index(const vv_vcf_var *v);     /* 1-based ALT of the record; 0: ALT '.' */
VV_EXPORT int vv_vcf_var_n_alts(const vv_vcf_var *v);        /* ALTs of the input record */
VV_EXPORT enum vv_vcf_status vv_vcf_var_status(const vv_vcf_var *v);
/* Warnings of the input record this variant came from. */
VV_EXPORT size_t vv_vcf_var_nwarnings(const vv_vcf_var *v);
VV_EXPORT const vv_vcf_warning *vv_vcf_var_warning(const vv_vcf_var *v, size_t i);

/* The reference window around the variant's (normalized) REF span; see
 * vv_ref_window_get.  VV_ERR_INVAL for a variant that has no place on the
 * reference (statuses NO_CONTIG, OUTSIDE, NO_REFERENCE). */
VV_EXPORT int vv_vcf_var_window(const vv_ref *ref, const vv_vcf_var *v, size_t width,
				vv_ref_window *w) VV_MUST_CHECK;

/* ------------------------------------------------------------------ */
/* Writer: normalized variants back to bgzipped VCF                     */

typedef struct vv_vcf_writer vv_vcf_writer;

/* Value types of INFO fields the caller adds. */
enum vv_vcf_type {
	VV_VCF_FLAG = 1,
	VV_VCF_INTEGER,
	VV_VCF_FLOAT,
	VV_VCF_STRING,
};

/* One INFO value for vv_vcf_writer_write: set the member that matches
 * the declared type.  n counts ints or floats (1 for one value); a STRING
 * is one NUL-terminated text (commas separate values of Number>1); FLAG
 * uses nothing (present when listed). */
typedef struct vv_vcf_info {
	const char *id;
	const int32_t *ints;
	const float *floats;
	const char *str;
	size_t n;
} vv_vcf_info;

/* Starts a writer of records from reader r (which must outlive it: the
 * writer shares, and adds its INFO definitions to, the reader's header).
 * fd >= 0: BGZF bytes go to fd (not closed); fd < 0: into sodium memory
 * (vv_sbuf; this call runs vv_core_init()) of at most max_out bytes (0: no
 * limit), taken with vv_vcf_writer_finish().  The output header is the
 * input's header, plus the caller's lines and INFO definitions, plus
 * varvault's own: ##varvault_normalization (method, reference name and
 * MD5), one ##varvault_input_warnings line per warning kind seen so far,
 * and INFO/VV_INPUT_WARN, which marks every record with warnings.  It is
 * written with the first record (or at finish): declare everything before,
 * and read the input to its end first for a complete warning summary.
 * Records are written one per
 * variant with normalized POS/REF/ALT, Number=A/R/G INFO and FORMAT values
 * and GT split as `bcftools norm -m-any` does, INFO/END moved with POS,
 * sample columns kept; they are re-sorted within 1000 bases, as bcftools
 * does, so left-aligned indels stay in order.  *out is the caller's
 * (vv_vcf_writer_free).  Returns 0, VV_ERR_INVAL, VV_ERR_NOMEM. */
VV_EXPORT int vv_vcf_writer_new(vv_vcf_reader *r, int fd, size_t max_out,
				vv_vcf_writer **out) VV_MUST_CHECK;

/* Adds a "##key=value" header line (provenance).  The line must start with
 * "##", have a key of letters, digits and '_', and no newline.  Returns 0,
 * VV_ERR_INVAL (bad line, or the header was already written). */
VV_EXPORT int vv_vcf_writer_header_line(vv_vcf_writer *w, const char *line) VV_MUST_CHECK;

/* Makes the header's ##varvault_input_warnings lines count the warnings of
 * scan, a reader over the same input that has been read to its end,
 * instead of those w's own reader has met before the first record is
 * written; so a streaming job reports every warning of the file.  scan
 * must outlive the header's writing.  Returns 0, VV_ERR_INVAL (header
 * already written, or scan not at its end). */
VV_EXPORT int vv_vcf_writer_warnings_from(vv_vcf_writer *w, const vv_vcf_reader *scan) VV_MUST_CHECK;

/* Declares an INFO field the caller will set: id (letters, digits, '_',
 * '.'), number ("1", "A", "." ...), type, description (no '"' or
 * newline).  An input INFO field of the same id is replaced: its header
 * line and its values are dropped.  Returns 0, VV_ERR_INVAL, VV_ERR_EXISTS
 * (declared twice), VV_ERR_NOMEM. */
VV_EXPORT int vv_vcf_writer_declare_info(vv_vcf_writer *w, const char *id, const char *number,
					 enum vv_vcf_type type, const char *description) VV_MUST_CHECK;

/* Writes variant v (from this writer's reader) with the n INFO values of
 * info set (each id declared before).  Returns 0, VV_ERR_INVAL (undeclared
 * id, wrong type), VV_ERR_IO, VV_ERR_RANGE (memory output over max_out),
 * VV_ERR_NOMEM. */
VV_EXPORT int vv_vcf_writer_write(vv_vcf_writer *w, const vv_vcf_var *v, const vv_vcf_info *info,
				  size_t n) VV_MUST_CHECK;

/* Flushes the sort buffer, writes the BGZF end-of-file block and, for
 * memory output, moves the bytes into *out (an empty vv_sbuf the caller
 * then owns; pass NULL for fd output).  The writer accepts nothing more.
 * Returns 0, VV_ERR_IO, VV_ERR_RANGE, VV_ERR_NOMEM. */
VV_EXPORT int vv_vcf_writer_finish(vv_vcf_writer *w, vv_sbuf *out) VV_MUST_CHECK;

/* Ends the output written so far at a BGZF block boundary: writes the
 * header if it is not yet written, compresses what waits for a block into
 * a (possibly short) block and, for memory output, appends every
 * compressed byte not yet taken to out (the writer's buffer is emptied;
 * for fd output pass NULL).  Records still held by the sort window stay
 * held: they belong to the output that follows.  So output taken in
 * pieces at the same records is the same bytes whenever it is taken; a
 * piece can be decompressed on its own.  Returns 0, VV_ERR_INVAL (finished
 * or failed writer), VV_ERR_IO, VV_ERR_RANGE, VV_ERR_NOMEM. */
VV_EXPORT int vv_vcf_writer_flush(vv_vcf_writer *w, vv_sbuf *out) VV_MUST_CHECK;

/* The sort window: a record written is held back while it lies on the
 * contig of the last record written and its (0-based) position is at
 * least the largest position written on that contig since the contig
 * began, minus VV_VCF_SORT_WINDOW - 1.  A caller resuming a job can so tell
 * which earlier records are still held at a given point. */
#define VV_VCF_SORT_WINDOW 1000
/* At most this many records are held by the sort window at once (a file of
 * more records within VV_VCF_SORT_WINDOW bases is refused with
 * VV_ERR_VCF_LIMIT), so that the writer's memory is bounded whatever the
 * number of records.  A record that normalization moves more than
 * VV_VCF_SORT_WINDOW - 1 bases left of records already written comes out
 * where it is, unsorted, as bcftools norm --site-win does (docs/vcf.md). */
#define VV_VCF_SORT_MAX_HELD 100000

/* Frees the writer and wipes what it buffered; NULL-safe. */
VV_EXPORT void vv_vcf_writer_free(vv_vcf_writer *w);

#endif /* VARVAULT_VCF_H */
