/* The reader: input detection, the line reader, the header, the record loop
 * that validates and normalizes, and the variant accessors.  Warnings are
 * kept by warn.c, name sets by nameset.c. */
#include "vcf_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define VV_READ_CHUNK 65536
#define VV_DUP_RING 64

void vv_vcf_init(void)
{
	hts_set_log_level(HTS_LOG_OFF);
}

void vv_vcf_limits_default(vv_vcf_limits *lim)
{
	lim->max_input_bytes = 4ULL << 30;
	lim->max_text_bytes = 64ULL << 30;
	lim->max_line_bytes = 64ULL << 20;
	lim->max_header_bytes = 64ULL << 20;
	lim->max_records = 100000000ULL;
	lim->max_alts = 256;
	lim->max_samples = 100000;
	lim->max_allele_bytes = 100000;
	lim->max_warnings = 10000;
	lim->max_undeclared = 10000;
}

static void limits_fill(vv_vcf_limits *dst, const vv_vcf_limits *src)
{
	vv_vcf_limits d;

	vv_vcf_limits_default(&d);
	if (!src) {
		*dst = d;
		return;
	}
	*dst = *src;
#define VV_DEF(f) if (!dst->f) dst->f = d.f
	VV_DEF(max_input_bytes);
	VV_DEF(max_text_bytes);
	VV_DEF(max_line_bytes);
	VV_DEF(max_header_bytes);
	VV_DEF(max_records);
	VV_DEF(max_alts);
	VV_DEF(max_samples);
	VV_DEF(max_allele_bytes);
	VV_DEF(max_warnings);
	VV_DEF(max_undeclared);
#undef VV_DEF
}

/* ------------------------------------------------------------------ */
/* The reader's state, for the checks                                  */

bool vv_vcf_declared(const vv_vcf_reader *r, int hl, int id)
{
	return id >= 0 && id < r->ndeclared && (r->declared[id] & (1 << hl));
}

uint64_t vv_vcf_reader_where(const vv_vcf_reader *r)
{
	return r->kind == VV_VCF_IN_BCF ? r->nrec : r->lineno;
}

/* ------------------------------------------------------------------ */
/* Recent variants, for the duplicate warning                           */

struct vv_dupkey {
	int rid;
	int64_t pos;
	char *ref, *alt;
	uint64_t line;
};

struct vv_dupring {
	struct vv_dupkey k[VV_DUP_RING];
	size_t next;
};

static void dupkey_clear(struct vv_dupkey *k)
{
	if (k->ref) {
		vv_wipe(k->ref, strlen(k->ref));
		free(k->ref);
	}
	if (k->alt) {
		vv_wipe(k->alt, strlen(k->alt));
		free(k->alt);
	}
	memset(k, 0, sizeof *k);
}

static void dupring_free(struct vv_dupring *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < VV_DUP_RING; i++)
		dupkey_clear(&d->k[i]);
	free(d);
}

/* The reference-free parsimonious form of a biallelic change: common
 * suffix, then common prefix trimmed while both alleles keep a base.  Two
 * records that state the same change with different padding meet here
 * even without a reference. */
static void minimal_form(const char **ref, size_t *rl, const char **alt, size_t *al, int64_t *pos)
{
	while (*rl > 1 && *al > 1 && (*ref)[*rl - 1] == (*alt)[*al - 1])
		(*rl)--, (*al)--;
	while (*rl > 1 && *al > 1 && (*ref)[0] == (*alt)[0])
		(*ref)++, (*alt)++, (*rl)--, (*al)--, (*pos)++;
}

static int check_duplicate(vv_vcf_reader *r, struct vv_rec *rec, int rid, const char *ref,
			   const char *alt)
{
	size_t rl = strlen(ref), al = strlen(alt);
	int64_t pos = rec->pos;
	struct vv_dupkey *k;

	if (!vv_vcf_is_bases(ref, rl) || !vv_vcf_is_bases(alt, al))
		return 0;
	minimal_form(&ref, &rl, &alt, &al, &pos);
	for (size_t i = 0; i < VV_DUP_RING; i++) {
		k = &r->dups->k[i];
		if (k->ref && k->rid == rid && k->pos == pos && strlen(k->ref) == rl && strlen(k->alt) == al &&
		    strncasecmp(k->ref, ref, rl) == 0 && strncasecmp(k->alt, alt, al) == 0)
			return vv_vcf_warnf(r, rec, rec->line ? rec->line : rec->index, VV_VCF_W_ORDER, "POS",
					    "the same variant was already given in %s %llu",
					    rec->line ? "line" : "record", (unsigned long long)k->line);
	}
	k = &r->dups->k[r->dups->next];
	r->dups->next = (r->dups->next + 1) % VV_DUP_RING;
	dupkey_clear(k);
	k->rid = rid;
	k->pos = pos;
	k->line = rec->line ? rec->line : rec->index;
	k->ref = strndup(ref, rl);
	k->alt = strndup(alt, al);
	return k->ref && k->alt ? 0 : VV_ERR_NOMEM;
}

/* ------------------------------------------------------------------ */
/* Opening                                                              */

static void reader_free(vv_vcf_reader *r);

static int detect(vv_vcf_reader *r)
{
	htsFormat fmt;

	memset(&fmt, 0, sizeof fmt);
	if (hts_detect_format(r->hf, &fmt) < 0)
		return vv_errf(VV_ERR_IO, "input: cannot read: %s", strerror(errno));
	if (fmt.format == empty_format)
		return vv_errf(VV_ERR_VCF_PARSE, "line 1: the input is empty");
	/* only VCF and BCF: htsget JSON and crypt4gh would make htslib open
	 * URLs or load plug-ins, and nothing else is a variant file */
	if (fmt.format != vcf && fmt.format != bcf)
		return vv_errf(VV_ERR_VCF_PARSE,
			       "line 1: not a VCF or BCF file (a VCF starts with ##fileformat=VCFv4.x)");
	switch (fmt.compression) {
	case no_compression:
		r->kind = VV_VCF_IN_VCF;
		break;
	case gzip:
		r->kind = VV_VCF_IN_VCF_GZIP;
		break;
	case bgzf:
		r->kind = VV_VCF_IN_VCF_BGZF;
		break;
	default:
		return vv_errf(VV_ERR_VCF_PARSE, "line 1: unsupported compression");
	}
	if (fmt.format == bcf) {
		if (fmt.compression != bgzf && fmt.compression != no_compression)
			return vv_errf(VV_ERR_VCF_PARSE, "record 0: BCF must be BGZF-compressed or plain");
		r->kind = VV_VCF_IN_BCF;
	}
	return 0;
}

static int fill(vv_vcf_reader *r)
{
	ssize_t n = bgzf_read(r->bgzf, r->buf, VV_READ_CHUNK);

	if (n < 0)
		return vv_errf(VV_ERR_VCF_PARSE, "line %llu: the compressed data is corrupt",
			       (unsigned long long)r->lineno + 1);
	r->buf_len = (size_t)n;
	r->buf_pos = 0;
	if (n == 0)
		r->eof = 1;
	r->text_bytes += (uint64_t)n;
	if (r->text_bytes > r->lim.max_text_bytes)
		return vv_errf(VV_ERR_VCF_LIMIT, "line %llu: more than %llu bytes of decompressed text "
			       "(the limit max_text_bytes)",
			       (unsigned long long)r->lineno + 1, (unsigned long long)r->lim.max_text_bytes);
	return 0;
}

/* Reads the next line into r->line (no '\n', no trailing '\r').
 * Returns 1, 0 at the end, or an error. */
static int read_line(vv_vcf_reader *r)
{
	int any = 0, ended = 0, rc;

	r->line.l = 0;
	if (r->line.s)
		r->line.s[0] = '\0';
	for (;;) {
		char *start, *nl;
		size_t avail, take;

		if (r->buf_pos == r->buf_len) {
			if (r->eof)
				break;
			if ((rc = fill(r)) != 0)
				return rc;
			if (r->eof)
				break;
		}
		start = r->buf + r->buf_pos;
		avail = r->buf_len - r->buf_pos;
		nl = memchr(start, '\n', avail);
		take = nl ? (size_t)(nl - start) : avail;
		if (r->line.l + take > r->lim.max_line_bytes)
			return vv_errf(VV_ERR_VCF_LIMIT, "line %llu: longer than %llu bytes",
				       (unsigned long long)r->lineno + 1,
				       (unsigned long long)r->lim.max_line_bytes);
		if (kputsn(start, take, &r->line) < 0)
			return VV_ERR_NOMEM;
		any = 1;
		r->buf_pos += take + (nl ? 1 : 0);
		if (nl) {
			ended = 1;
			break;
		}
	}
	if (!ended) {
		if (!any)
			return 0;
		r->no_final_newline = 1;
	}
	r->lineno++;
	if (!r->line.s && kputsn("", 0, &r->line) < 0)
		return VV_ERR_NOMEM;
	if (r->line.l && r->line.s[r->line.l - 1] == '\r') {
		r->line.s[--r->line.l] = '\0';
		if (!r->cr_warned) {
			r->cr_warned = 1;
			if ((rc = vv_vcf_warnf(r, NULL, r->lineno, VV_VCF_W_FORMAT_END, "file",
					       "lines end in CR LF; the CR is dropped")) != 0)
				return rc;
		}
	}
	if (memchr(r->line.s, '\0', r->line.l))
		return vv_errf(VV_ERR_VCF_PARSE, "line %llu: contains a NUL byte",
			       (unsigned long long)r->lineno);
	return 1;
}

static int parse_fileformat(vv_vcf_reader *r)
{
	const char *v = NULL;
	bcf_hrec_t *h = bcf_hdr_get_hrec(r->hdr, BCF_HL_GEN, "fileformat", NULL, NULL);
	int maj = 0, min = 0, n = 0;

	if (h && h->value)
		v = h->value;
	if (!v)
		return 0;
	snprintf(r->fileformat, sizeof r->fileformat, "%s", v);
	if (sscanf(v, "VCFv%d.%d%n", &maj, &min, &n) == 2 && v[n] == '\0') {
		r->vmajor = maj;
		r->vminor = min;
	}
	return 0;
}

/* Splits header text into lines and checks each; first_line is the line
 * number of the first one. */
static int check_header_text(vv_vcf_reader *r, const char *txt, size_t len, uint64_t first_line)
{
	const char *p = txt, *end = txt + len;
	uint64_t ln = first_line;
	int rc;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);

		if (l >= 2 && p[0] == '#' && p[1] == '#') {
			if ((rc = vv_vcf_check_header_line(r, p, l, ln)) != 0)
				return rc;
		} else if (l >= 1 && p[0] == '#') {
			return vv_vcf_check_chrom_line(r, p, l, ln);
		}
		ln++;
		p = nl ? nl + 1 : end;
	}
	return 0;
}

static int header_parse(vv_vcf_reader *r, char *txt)
{
	int rc;

	if (!(r->hdr = bcf_hdr_init("r")))
		return VV_ERR_NOMEM;
	if (bcf_hdr_parse(r->hdr, txt) < 0)
		return vv_errf(VV_ERR_VCF_PARSE, "header: htslib cannot parse it (the #CHROM line?)");
	if ((rc = parse_fileformat(r)) != 0)
		return rc;
	r->ncontigs_declared = r->hdr->n[BCF_DT_CTG];
	r->ndeclared = r->hdr->n[BCF_DT_ID];
	if (r->ndeclared && !(r->declared = calloc((size_t)r->ndeclared, 1)))
		return VV_ERR_NOMEM;
	for (int i = 0; i < r->ndeclared; i++)
		for (int hl = BCF_HL_FLT; hl <= BCF_HL_FMT; hl++)
			if (bcf_hdr_idinfo_exists(r->hdr, hl, i))
				r->declared[i] |= (uint8_t)(1 << hl);
	r->nsamples = bcf_hdr_nsamples(r->hdr);
	if ((uint64_t)r->nsamples > r->lim.max_samples)
		return vv_errf(VV_ERR_VCF_LIMIT, "header: %d samples, more than the limit of %u", r->nsamples,
			       r->lim.max_samples);
	return 0;
}

static int read_vcf_header(vv_vcf_reader *r)
{
	kstring_t txt = {0, 0, NULL};
	int rc, got;

	for (;;) {
		got = read_line(r);
		if (got < 0) {
			rc = got;
			goto out;
		}
		if (got == 0) {
			rc = vv_errf(VV_ERR_VCF_PARSE, "line %llu: the input ends before the #CHROM line",
				     (unsigned long long)r->lineno + 1);
			goto out;
		}
		if (r->line.l == 0) {
			if ((rc = vv_vcf_warnf(r, NULL, r->lineno, VV_VCF_W_FORMAT_END, "header",
					       "blank line in the header; skipped")) != 0)
				goto out;
			continue;
		}
		if (r->lineno == 1 && strncmp(r->line.s, "##fileformat=", 13) != 0) {
			rc = vv_errf(VV_ERR_VCF_PARSE, "line 1, field header: the first line must be ##fileformat=");
			goto out;
		}
		if (r->line.s[0] != '#') {
			rc = vv_errf(VV_ERR_VCF_PARSE,
				     "line %llu, field header: a header line must start with '##' (or be the #CHROM line)",
				     (unsigned long long)r->lineno);
			goto out;
		}
		if (txt.l + r->line.l + 1 > r->lim.max_header_bytes) {
			rc = vv_errf(VV_ERR_VCF_LIMIT, "line %llu: the header is longer than %llu bytes",
				     (unsigned long long)r->lineno,
				     (unsigned long long)r->lim.max_header_bytes);
			goto out;
		}
		if (r->line.s[1] == '#') {
			if ((rc = vv_vcf_check_header_line(r, r->line.s, r->line.l, r->lineno)) != 0)
				goto out;
		} else if ((rc = vv_vcf_check_chrom_line(r, r->line.s, r->line.l, r->lineno)) != 0) {
			goto out;
		}
		if (kputsn(r->line.s, r->line.l, &txt) < 0 || kputc('\n', &txt) < 0) {
			rc = VV_ERR_NOMEM;
			goto out;
		}
		if (r->line.s[1] != '#')
			break;
	}
	rc = header_parse(r, txt.s);
out:
	vv_vcf_ks_wipe_free(&txt);
	return rc;
}

static int read_bcf_header(vv_vcf_reader *r)
{
	BGZF *fp = r->hts->fp.bgzf;
	uint8_t magic[5], lb[4];
	uint64_t hlen;
	char *txt = NULL;
	int rc;

	if (!fp || bgzf_read(fp, magic, 5) != 5 || memcmp(magic, "BCF\2\2", 5) != 0)
		return vv_errf(VV_ERR_VCF_PARSE, "record 0, field header: not BCF 2.2");
	if (bgzf_read(fp, lb, 4) != 4)
		return vv_errf(VV_ERR_VCF_PARSE, "record 0, field header: truncated");
	hlen = (uint64_t)lb[0] | (uint64_t)lb[1] << 8 | (uint64_t)lb[2] << 16 | (uint64_t)lb[3] << 24;
	if (hlen > r->lim.max_header_bytes)
		return vv_errf(VV_ERR_VCF_LIMIT, "record 0: the header is longer than %llu bytes",
			       (unsigned long long)r->lim.max_header_bytes);
	if (!(txt = malloc(hlen + 1)))
		return VV_ERR_NOMEM;
	if (bgzf_read(fp, txt, hlen) != (ssize_t)hlen) {
		rc = vv_errf(VV_ERR_VCF_PARSE, "record 0, field header: truncated");
		goto out;
	}
	txt[hlen] = '\0';
	r->text_bytes = hlen + 9;
	if ((rc = check_header_text(r, txt, strnlen(txt, hlen), 1)) != 0)
		goto out;
	rc = header_parse(r, txt);
out:
	free(txt);
	return rc;
}

static int open_common(vv_vcf_reader *r)
{
	int rc;

	if ((rc = detect(r)) != 0)
		return rc;
	if (r->kind == VV_VCF_IN_BCF) {
		hFILE *hf = r->hf;
		r->hf = NULL; /* hts_hopen owns it now, even on failure */
		if (!(r->hts = hts_hopen(hf, "vv-input", "r"))) {
			hclose_abruptly(hf);
			return vv_errf(VV_ERR_VCF_PARSE, "record 0: htslib cannot open the BCF stream");
		}
		return read_bcf_header(r);
	}
	r->bgzf = bgzf_hopen(r->hf, "r");
	if (!r->bgzf)
		return vv_errf(VV_ERR_VCF_PARSE, "line 1: htslib cannot open the stream");
	r->hf = NULL;
	if (r->kind == VV_VCF_IN_VCF_BGZF && bgzf_check_EOF(r->bgzf) == 0) {
		rc = vv_vcf_warnf(r, NULL, 0, VV_VCF_W_FORMAT_END, "file",
				  "the BGZF end-of-file block is missing: the file may be truncated");
		if (rc)
			return rc;
	}
	if (!(r->buf = malloc(VV_READ_CHUNK)))
		return VV_ERR_NOMEM;
	return read_vcf_header(r);
}

static vv_vcf_reader *reader_new(const vv_vcf_limits *lim, vv_ref *ref)
{
	vv_vcf_reader *r = calloc(1, sizeof *r);

	if (!r)
		return NULL;
	limits_fill(&r->lim, lim);
	r->ref = ref;
	r->last_rid = -1;
	if (!(r->dups = calloc(1, sizeof *r->dups))) {
		free(r);
		return NULL;
	}
	return r;
}

/* Opens over fd; map/maplen, when not NULL, is the memory file's mapping
 * that the reader then owns (wiped and unmapped when the input is done). */
static int open_fd_mapped(int fd, const vv_vcf_limits *lim, vv_ref *ref, void *map, size_t maplen,
			  vv_vcf_reader **out)
{
	vv_vcf_reader *r;
	int rc;

	*out = NULL;
	if (fd < 0)
		return vv_errf(VV_ERR_INVAL, "input: no file descriptor");
	if (!(r = reader_new(lim, ref))) {
		close(fd);
		if (map) {
			vv_wipe(map, maplen);
			munmap(map, maplen);
		}
		return VV_ERR_NOMEM;
	}
	r->map = map;
	r->maplen = maplen;
	/* hdopen: no path, no URL scheme, so no plug-in is ever loaded */
	if (!(r->hf = hdopen(fd, "r"))) {
		close(fd);
		reader_free(r);
		return vv_errf(VV_ERR_IO, "input: %s", strerror(errno));
	}
	if ((rc = open_common(r)) != 0) {
		reader_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

int vv_vcf_open_fd(int fd, const vv_vcf_limits *lim, vv_ref *ref, vv_vcf_reader **out)
{
	return open_fd_mapped(fd, lim, ref, NULL, 0, out);
}

int vv_vcf_open_mem(const void *buf, size_t len, const vv_vcf_limits *lim, vv_ref *ref,
		    vv_vcf_reader **out)
{
	vv_vcf_limits l;
	void *map = NULL;
	int fd;

	*out = NULL;
	limits_fill(&l, lim);
	if (!buf && len)
		return vv_errf(VV_ERR_INVAL, "input: no buffer");
	if (len > l.max_input_bytes)
		return vv_errf(VV_ERR_VCF_LIMIT, "input: %zu bytes, more than the limit of %llu", len,
			       (unsigned long long)l.max_input_bytes);
	/* an anonymous memory file: htslib reads it through hdopen(), with no
	 * name to look up, so it neither opens nor stats any path */
	fd = memfd_create("varvault-vcf", MFD_CLOEXEC);
	if (fd < 0)
		return vv_errf(VV_ERR_IO, "input: memfd_create: %s", strerror(errno));
	/* The bytes go in through a shared mapping that stays until the input
	 * is read: pages written through write(2) would belong to no mapping,
	 * so a worker's mlockall() would not hold them and they could reach
	 * swap.  Mapped, they are locked as they are touched (MCL_FUTURE), and
	 * they are wiped before the mapping goes. */
	if (len) {
		if (ftruncate(fd, (off_t)len) != 0 ||
		    (map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED) {
			int e = errno;
			close(fd);
			return vv_errf(VV_ERR_IO, "input: mapping the memory file: %s", strerror(e));
		}
		memcpy(map, buf, len);
	}
	return open_fd_mapped(fd, &l, ref, map, len, out);
}

/* The input is read to its end: its stream and memory file go (wiped), so
 * that a reader kept for its header and warnings holds no input bytes. */
static void release_input(vv_vcf_reader *r)
{
	if (r->bgzf)
		bgzf_close(r->bgzf);
	r->bgzf = NULL;
	if (r->hts)
		hts_close(r->hts);
	r->hts = NULL;
	if (r->hf)
		hclose_abruptly(r->hf);
	r->hf = NULL;
	if (r->map) {
		vv_wipe(r->map, r->maplen);
		munmap(r->map, r->maplen);
		r->map = NULL;
	}
}

static void pending_clear(vv_vcf_reader *r)
{
	for (int i = r->next_pending; i < r->npending; i++)
		vv_vcf_var_free(r->pending[i]);
	r->npending = r->next_pending = 0;
}

static void reader_free(vv_vcf_reader *r)
{
	if (!r)
		return;
	pending_clear(r);
	free(r->pending);
	dupring_free(r->dups);
	release_input(r);
	if (r->hdr)
		bcf_hdr_destroy(r->hdr);
	if (r->scratch_hdr)
		bcf_hdr_destroy(r->scratch_hdr);
	if (r->buf) {
		vv_wipe(r->buf, VV_READ_CHUNK);
		free(r->buf);
	}
	vv_vcf_ks_wipe_free(&r->line);
	vv_vcf_ks_wipe_free(&r->work);
	free(r->declared);
	vv_vcf_nameset_done(&r->done_contigs);
	vv_vcf_nameset_done(&r->warned);
	vv_vcf_wvec_done(&r->warn);
	free(r);
}

void vv_vcf_close(vv_vcf_reader *r)
{
	reader_free(r);
}

/* ------------------------------------------------------------------ */
/* Header facts                                                        */

enum vv_vcf_input vv_vcf_input_kind(const vv_vcf_reader *r)
{
	return r->kind;
}

const char *vv_vcf_fileformat(const vv_vcf_reader *r)
{
	return r->fileformat;
}

int vv_vcf_nsamples(const vv_vcf_reader *r)
{
	return r->nsamples;
}

int vv_vcf_ncontigs(const vv_vcf_reader *r)
{
	return r->ncontigs_declared;
}

const char *vv_vcf_contig_name(const vv_vcf_reader *r, int i)
{
	if (i < 0 || i >= vv_vcf_ncontigs(r))
		return NULL;
	return bcf_hdr_id2name(r->hdr, i);
}

bool vv_vcf_contig_length(const vv_vcf_reader *r, int i, int64_t *len)
{
	uint64_t n;

	*len = 0;
	if (i < 0 || i >= vv_vcf_ncontigs(r))
		return false;
	n = r->hdr->id[BCF_DT_CTG][i].val->info[0];
	if (!n || n > INT64_MAX)
		return false;
	*len = (int64_t)n;
	return true;
}

uint64_t vv_vcf_records(const vv_vcf_reader *r)
{
	return r->nrec;
}

uint64_t vv_vcf_warnings_total(const vv_vcf_reader *r)
{
	return r->wtotal;
}

size_t vv_vcf_nwarnings(const vv_vcf_reader *r)
{
	return r->warn.n;
}

const vv_vcf_warning *vv_vcf_warning_at(const vv_vcf_reader *r, size_t i)
{
	return i < r->warn.n ? &r->warn.w[i] : NULL;
}

uint64_t vv_vcf_warnings_of(const vv_vcf_reader *r, enum vv_vcf_warn kind)
{
	if ((int)kind <= 0 || (int)kind >= VV_VCF_W_NKINDS)
		return 0;
	return r->wcount[kind];
}

/* ------------------------------------------------------------------ */
/* Records                                                              */

void vv_vcf_rec_unref(struct vv_rec *rec)
{
	if (!rec || --rec->refs > 0)
		return;
	vv_vcf_bcf_wipe_destroy(rec->b);
	free(rec->contig);
	vv_vcf_wvec_done(&rec->warn);
	free(rec);
}

void vv_vcf_var_free(vv_vcf_var *v)
{
	if (!v)
		return;
	if (v->ref) {
		vv_wipe(v->ref, strlen(v->ref));
		free(v->ref);
	}
	if (v->alt) {
		vv_wipe(v->alt, strlen(v->alt));
		free(v->alt);
	}
	vv_vcf_rec_unref(v->rec);
	free(v);
}

static int order_checks(vv_vcf_reader *r, struct vv_rec *rec)
{
	int rid = rec->b->rid, rc = 0;
	uint64_t where = vv_vcf_reader_where(r);

	if (rid != r->last_rid) {
		if (vv_vcf_nameset_has(&r->done_contigs, rec->contig))
			rc = vv_vcf_warnf(r, rec, where, VV_VCF_W_ORDER, "CHROM",
					  "records of contig %s are split into separate blocks", rec->contig);
		if (!rc && r->last_rid >= 0)
			rc = vv_vcf_nameset_add(&r->done_contigs, bcf_hdr_id2name(r->hdr, r->last_rid));
		r->last_rid = rid;
	} else if (rec->pos < r->last_pos) {
		rc = vv_vcf_warnf(r, rec, where, VV_VCF_W_ORDER, "POS", "records are not sorted by position");
	}
	r->last_pos = rec->pos;
	return rc;
}

static int fail(vv_vcf_reader *r, int rc)
{
	r->fail_rc = rc;
	snprintf(r->fail_detail, sizeof r->fail_detail, "%s", vv_err_detail());
	return rc;
}

/* Reads one record: 1 with *out, 0 at the end, < 0 refused. */
static int read_record(vv_vcf_reader *r, struct vv_rec **out)
{
	struct vv_rec *rec = NULL;
	int rc;

	*out = NULL;
	if (r->kind != VV_VCF_IN_BCF) {
		for (;;) {
			rc = read_line(r);
			if (rc <= 0)
				return rc;
			if (r->line.l)
				break;
			if (!r->blank_warned) {
				r->blank_warned = 1;
				if ((rc = vv_vcf_warnf(r, NULL, r->lineno, VV_VCF_W_FORMAT_END, "file",
						       "blank line among the records; skipped")) != 0)
					return rc;
			}
		}
		if (r->line.s[0] == '#')
			return vv_errf(VV_ERR_VCF_PARSE, "line %llu: a header line after the #CHROM line",
				       (unsigned long long)r->lineno);
	}
	if (r->nrec >= r->lim.max_records)
		return vv_errf(VV_ERR_VCF_LIMIT, "%s %llu: more than %llu records (the limit max_records)",
			       r->kind == VV_VCF_IN_BCF ? "record" : "line",
			       (unsigned long long)vv_vcf_reader_where(r) + (r->kind == VV_VCF_IN_BCF),
			       (unsigned long long)r->lim.max_records);
	if (!(rec = calloc(1, sizeof *rec)) || !(rec->b = bcf_init())) {
		free(rec);
		return VV_ERR_NOMEM;
	}
	rec->refs = 1;
	r->nrec++;
	rec->index = r->nrec;
	if (r->kind == VV_VCF_IN_BCF) {
		rc = bcf_read(r->hts, r->hdr, rec->b);
		if (rc == -1) {
			r->nrec--;
			vv_vcf_rec_unref(rec);
			return 0;
		}
		if (rc < 0 || rec->b->errcode) {
			rc = vv_vcf_rec_errf(r, VV_ERR_VCF_PARSE, "record", "htslib cannot decode this BCF record");
			goto out;
		}
		r->text_bytes += rec->b->shared.l + rec->b->indiv.l;
		if (r->text_bytes > r->lim.max_text_bytes) {
			rc = vv_errf(VV_ERR_VCF_LIMIT, "record %llu: more than %llu bytes of records "
				     "(the limit max_text_bytes)",
				     (unsigned long long)r->nrec, (unsigned long long)r->lim.max_text_bytes);
			goto out;
		}
	} else {
		rec->line = r->lineno;
		if ((rc = vv_vcf_check_record_text(r, rec, r->line.s, r->line.l)) != 0)
			goto out;
		r->work.l = 0;
		if (kputsn(r->line.s, r->line.l, &r->work) < 0) {
			rc = VV_ERR_NOMEM;
			goto out;
		}
		if (vcf_parse(&r->work, r->hdr, rec->b) != 0 ||
		    (rec->b->errcode & ~(BCF_ERR_CTG_UNDEF | BCF_ERR_TAG_UNDEF))) {
			rc = vv_vcf_rec_errf(r, VV_ERR_VCF_PARSE, "record", "htslib cannot parse this line");
			goto out;
		}
	}
	if (bcf_unpack(rec->b, BCF_UN_ALL) != 0) {
		rc = vv_vcf_rec_errf(r, VV_ERR_VCF_PARSE, "record", "htslib cannot unpack this record");
		goto out;
	}
	if (rec->b->rid < 0 || rec->b->rid >= r->hdr->n[BCF_DT_CTG]) {
		rc = vv_vcf_rec_errf(r, VV_ERR_VCF_FIELD, "CHROM", "no such contig");
		goto out;
	}
	if (!(rec->contig = strdup(bcf_hdr_id2name(r->hdr, rec->b->rid)))) {
		rc = VV_ERR_NOMEM;
		goto out;
	}
	rec->pos = (int64_t)rec->b->pos + 1;
	rec->n_alts = rec->b->n_allele > 0 ? rec->b->n_allele - 1 : 0;
	if ((rc = vv_vcf_check_record_parsed(r, rec)) != 0)
		goto out;
	if ((rc = order_checks(r, rec)) != 0)
		goto out;
	*out = rec;
	rec = NULL;
	rc = 1;
out:
	vv_vcf_rec_unref(rec);
	return rc;
}

static int make_variants(vv_vcf_reader *r, struct vv_rec *rec)
{
	int n = rec->n_alts ? rec->n_alts : 1, rc;

	if (n > r->mpending) {
		struct vv_vcf_var **p = realloc(r->pending, (size_t)n * sizeof *p);
		if (!p)
			return VV_ERR_NOMEM;
		r->pending = p;
		r->mpending = n;
	}
	for (int i = 0; i < n; i++) {
		vv_vcf_var *v = calloc(1, sizeof *v);

		if (!v)
			return VV_ERR_NOMEM;
		v->rec = rec;
		rec->refs++;
		v->alt_index = rec->n_alts ? i + 1 : 0;
		r->pending[r->npending++] = v;
		if ((rc = vv_vcf_norm_variant(r, v)) != 0)
			return rc;
		if (rec->n_alts && (rc = check_duplicate(r, rec, rec->b->rid, rec->b->d.allele[0],
							 rec->b->d.allele[i + 1])) != 0)
			return rc;
	}
	return 0;
}

int vv_vcf_next(vv_vcf_reader *r, vv_vcf_var **out)
{
	struct vv_rec *rec;
	int rc;

	*out = NULL;
	if (r->fail_rc) {
		vv_errf(r->fail_rc, "%s", r->fail_detail);
		return r->fail_rc;
	}
	if (r->at_end)
		return 0;
	while (r->next_pending >= r->npending) {
		r->npending = r->next_pending = 0;
		rc = read_record(r, &rec);
		if (rc < 0)
			return fail(r, rc);
		if (rc == 0) {
			if (r->no_final_newline && r->kind != VV_VCF_IN_BCF) {
				r->no_final_newline = 0;
				if ((rc = vv_vcf_warnf(r, NULL, r->lineno, VV_VCF_W_FORMAT_END, "file",
						       "the last line has no newline")) != 0)
					return fail(r, rc);
			}
			r->at_end = 1;
			release_input(r);
			return 0;
		}
		rc = make_variants(r, rec);
		vv_vcf_rec_unref(rec);
		if (rc) {
			pending_clear(r);
			return fail(r, rc);
		}
	}
	*out = r->pending[r->next_pending++];
	return 1;
}

/* ------------------------------------------------------------------ */
/* Variant accessors                                                    */

const char *vv_vcf_var_contig(const vv_vcf_var *v)
{
	return v->rec->contig;
}

int64_t vv_vcf_var_pos(const vv_vcf_var *v)
{
	return v->pos;
}

const char *vv_vcf_var_ref(const vv_vcf_var *v)
{
	return v->ref;
}

const char *vv_vcf_var_alt(const vv_vcf_var *v)
{
	return v->alt;
}

int64_t vv_vcf_var_orig_pos(const vv_vcf_var *v)
{
	return v->rec->pos;
}

uint64_t vv_vcf_var_line(const vv_vcf_var *v)
{
	return v->rec->line;
}

uint64_t vv_vcf_var_record(const vv_vcf_var *v)
{
	return v->rec->index;
}

int vv_vcf_var_alt_index(const vv_vcf_var *v)
{
	return v->alt_index;
}

int vv_vcf_var_n_alts(const vv_vcf_var *v)
{
	return v->rec->n_alts;
}

enum vv_vcf_status vv_vcf_var_status(const vv_vcf_var *v)
{
	return v->status;
}

size_t vv_vcf_var_nwarnings(const vv_vcf_var *v)
{
	return v->rec->warn.n;
}

const vv_vcf_warning *vv_vcf_var_warning(const vv_vcf_var *v, size_t i)
{
	return i < v->rec->warn.n ? &v->rec->warn.w[i] : NULL;
}

static const char *const vv_status_names[] = {
	[VV_VCF_SNV] = "snv",
	[VV_VCF_MNV] = "mnv",
	[VV_VCF_INDEL] = "indel",
	[VV_VCF_COMPLEX] = "complex",
	[VV_VCF_KEEP_SYMBOLIC] = "symbolic",
	[VV_VCF_KEEP_BREAKEND] = "breakend",
	[VV_VCF_KEEP_STAR] = "star",
	[VV_VCF_KEEP_REF_BLOCK] = "ref_block",
	[VV_VCF_KEEP_NO_ALT] = "no_alt",
	[VV_VCF_KEEP_REF_MISMATCH] = "ref_mismatch",
	[VV_VCF_KEEP_NO_CONTIG] = "contig_not_in_reference",
	[VV_VCF_KEEP_OUTSIDE] = "outside_contig",
	[VV_VCF_KEEP_N] = "n_base",
	[VV_VCF_KEEP_ALT_IS_REF] = "alt_is_ref",
	[VV_VCF_KEEP_TOO_LONG] = "too_long",
	[VV_VCF_NO_REFERENCE] = "no_reference",
};

const char *vv_vcf_status_name(enum vv_vcf_status st)
{
	if ((int)st <= 0 || (size_t)st >= sizeof vv_status_names / sizeof vv_status_names[0] ||
	    !vv_status_names[st])
		return "unknown";
	return vv_status_names[st];
}

bool vv_vcf_status_scorable(enum vv_vcf_status st)
{
	return st == VV_VCF_SNV || st == VV_VCF_MNV || st == VV_VCF_INDEL || st == VV_VCF_COMPLEX;
}

int vv_vcf_var_window(const vv_ref *ref, const vv_vcf_var *v, size_t width, vv_ref_window *w)
{
	if (!ref || !v)
		return VV_ERR_INVAL;
	if (v->status == VV_VCF_KEEP_NO_CONTIG || v->status == VV_VCF_KEEP_OUTSIDE ||
	    v->status == VV_VCF_NO_REFERENCE)
		return vv_errf(VV_ERR_INVAL, "variant of line %llu has no place on the reference (%s)",
			       (unsigned long long)v->rec->line, vv_vcf_status_name(v->status));
	return vv_ref_window_get(ref, v->rec->contig, v->pos, strlen(v->ref), width, w);
}
