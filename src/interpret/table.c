/* Precomputed SNV scores (docs/interpret.md, "Precomputed scores"): the
 * score of every possible SNV in a set of regions, written as a bgzipped,
 * tabix-indexed table bound to one model, reference and scoring policy, and
 * looked up before the model runs.  A score depends only on those three,
 * never on the patient, so a table is public data. */
#include "varvault/interpret.h"
#include "varvault/model.h"
#include "varvault/vcf.h"

#include <errno.h>
#include <htslib/bgzf.h>
#include <htslib/kstring.h>
#include <htslib/tbx.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define VV_TABLE_MAGIC "##varvault_scores=1"
/* Positions scored together: each is one forward for its three alleles. */
enum { VV_PRE_POSITIONS = 256 };

int vv_scorer_policy(const vv_scorer *s, char *buf, size_t cap)
{
	const struct vv_model_info *I = vv_model_get_info(vv_scorer_model(s));
	int n;

	/* Everything besides the weights and the reference that a score
	 * depends on: the method and window rule (a window of window_nt bases
	 * centred on the variant, shifted inside the contig, none with N), the
	 * tokenizer and the precision.  Bump v1 when any rule changes. */
	n = snprintf(buf, cap,
		     "v1;snv=masked_llr;window_nt=%zu;window=centred,shifted_inside_contig,no_n;"
		     "tokenizer=%d;k=%d;vocab=%d;mask=%d;cls=%d;eos=%d;precision=%s",
		     vv_scorer_window(s), (int)I->tokenizer, I->k, I->vocab_size, (int)I->mask_id,
		     (int)I->cls_id, I->append_eos ? (int)I->eos_id : -1,
		     vv_model_precision_name(I->precision));
	if (n < 0 || (size_t)n >= cap)
		return vv_errf(VV_ERR_INTERNAL, "scoring policy longer than %zu bytes", cap);
	return 0;
}

/* The header lines every table of this scorer and reference carries. */
static int vv_table_header(const vv_scorer *s, vv_ref *ref, kstring_t *ks)
{
	const struct vv_model_info *I = vv_model_get_info(vv_scorer_model(s));
	char pol[512], md5[33], ph[65];
	uint8_t d[32];
	int rc;

	if ((rc = vv_scorer_policy(s, pol, sizeof pol)) != 0 || (rc = vv_ref_md5(ref, md5)) != 0)
		return rc;
	vv_sha256_oneshot(pol, strlen(pol), d);
	vv_hex(d, 32, ph);
	ks->l = 0;
	if (ksprintf(ks,
		     VV_TABLE_MAGIC "\n##model=%s\n##model_sha256=%s\n##reference=%s\n##reference_md5=%s\n"
		     "##score_policy=%s\n##score_policy_sha256=%s\n",
		     I->name, I->sha256, vv_ref_name(ref), md5, pol, ph) < 0)
		return VV_ERR_NOMEM;
	return 0;
}

/* ---- regions ---- */

struct vv_region {
	int contig;       /* index in the reference */
	int64_t beg, end; /* 0-based, half-open */
};

static int vv_region_cmp(const void *a, const void *b)
{
	const struct vv_region *x = a, *y = b;

	if (x->contig != y->contig)
		return x->contig < y->contig ? -1 : 1;
	return x->beg < y->beg ? -1 : x->beg > y->beg;
}

/* Reads a BED file (chrom, start, end; 0-based half-open; '#', track and
 * browser lines skipped), sorted into reference order, overlaps merged. */
static int vv_read_bed(const char *path, vv_ref *ref, struct vv_region **out, size_t *nout)
{
	FILE *f = fopen(path, "r");
	struct vv_region *r = NULL;
	size_t n = 0, cap = 0, m = 0;
	char *line = NULL;
	size_t lcap = 0;
	uint64_t lineno = 0;
	int rc = 0;

	*out = NULL;
	*nout = 0;
	if (!f)
		return vv_errf(VV_ERR_IO, "%s: %s", path, strerror(errno));
	while (getline(&line, &lcap, f) >= 0) {
		char *chrom, *a, *b, *e1, *e2, *save = NULL;
		long long beg, end;
		int64_t clen;
		int ci = -1;

		lineno++;
		line[strcspn(line, "\r\n")] = '\0';
		if (!line[0] || line[0] == '#' || !strncmp(line, "track", 5) || !strncmp(line, "browser", 7))
			continue;
		chrom = strtok_r(line, "\t ", &save);
		a = strtok_r(NULL, "\t ", &save);
		b = strtok_r(NULL, "\t ", &save);
		if (!chrom || !a || !b) {
			rc = vv_errf(VV_ERR_SCORES_FORMAT, "%s:%llu: expected chrom, start and end", path,
				     (unsigned long long)lineno);
			goto out;
		}
		errno = 0;
		beg = strtoll(a, &e1, 10);
		end = strtoll(b, &e2, 10);
		if (errno || *e1 || *e2 || a[0] == '-' || b[0] == '-' || end <= beg) {
			rc = vv_errf(VV_ERR_SCORES_FORMAT, "%s:%llu: start '%s' and end '%s' are not 0 <= start < end",
				     path, (unsigned long long)lineno, a, b);
			goto out;
		}
		for (int i = 0; i < vv_ref_ncontigs(ref); i++)
			if (!strcmp(vv_ref_contig_name(ref, i), chrom))
				ci = i;
		if (ci < 0 || !vv_ref_contig_length(ref, chrom, &clen)) {
			rc = vv_errf(VV_ERR_REF_CONTIG, "%s:%llu: contig %s is not in reference %s", path,
				     (unsigned long long)lineno, chrom, vv_ref_name(ref));
			goto out;
		}
		if (end > clen) {
			rc = vv_errf(VV_ERR_SCORES_FORMAT, "%s:%llu: end %lld is past the end of %s (%lld)", path,
				     (unsigned long long)lineno, end, chrom, (long long)clen);
			goto out;
		}
		if ((rc = vv_array_grow((void **)&r, &cap, n, sizeof *r, 64)) != 0)
			goto out;
		r[n++] = (struct vv_region){ci, beg, end};
	}
	if (ferror(f)) {
		rc = vv_errf(VV_ERR_IO, "%s: read failed", path);
		goto out;
	}
	if (!n) {
		rc = vv_errf(VV_ERR_SCORES_FORMAT, "%s: no regions", path);
		goto out;
	}
	qsort(r, n, sizeof *r, vv_region_cmp);
	for (size_t i = 1; i < n; i++) {
		if (r[i].contig == r[m].contig && r[i].beg <= r[m].end) {
			if (r[i].end > r[m].end)
				r[m].end = r[i].end;
		} else {
			r[++m] = r[i];
		}
	}
	*nout = m + 1;
	*out = r;
	r = NULL;
out:
	free(r);
	free(line);
	fclose(f);
	return rc;
}

/* ---- precompute ---- */

static const char vv_bases[] = "ACGT";

/* Scores positions [p0, p1) of the flattened regions and writes their
 * lines.  One request per allele; the scorer runs one forward per
 * position for all three (same window, same masked token). */
static int vv_pre_block(vv_scorer *sc, vv_ref *ref, const struct vv_region *rg, size_t nrg, size_t *ri,
			int64_t *rpos, uint64_t count, BGZF *out, struct vv_precompute_stats *st,
			vv_ref_window *wins, struct vv_score_req *reqs, struct vv_score_result *res,
			int64_t *pos_of, int *contig_of, kstring_t *ks)
{
	size_t width = vv_scorer_window(sc), nreq = 0;
	static const char refs[4][2] = {"A", "C", "G", "T"};
	static const char alts[4][2] = {"A", "C", "G", "T"};
	uint64_t k = 0;
	int rc;

	for (; k < count && *ri < nrg; k++) {
		const struct vv_region *r = &rg[*ri];
		const char *contig = vv_ref_contig_name(ref, r->contig);
		int64_t pos = *rpos + 1; /* 1-based */
		vv_ref_window *w = &wins[k];
		const char *b;

		if (++*rpos >= r->end) {
			(*ri)++;
			if (*ri < nrg)
				*rpos = rg[*ri].beg;
		}
		st->positions++;
		if ((rc = vv_ref_window_get(ref, contig, pos, 1, width, w)) != 0) {
			if (rc == VV_ERR_RANGE) /* a contig shorter than the window: not scored */
				continue;
			return rc;
		}
		if (w->n_count > 0 || !(b = strchr(vv_bases, w->seq[w->offset])) || !*b)
			continue;
		for (int a = 0; a < 4; a++) {
			if (vv_bases[a] == *b)
				continue;
			reqs[nreq] = (struct vv_score_req){w->seq, w->len, w->offset, refs[b - vv_bases], alts[a]};
			pos_of[nreq] = pos;
			contig_of[nreq] = r->contig;
			nreq++;
		}
	}
	st->snvs += nreq;
	if ((rc = vv_scorer_score(sc, reqs, nreq, res)) != 0)
		return rc;
	ks->l = 0;
	for (size_t i = 0; i < nreq; i++) {
		if (res[i].reason || res[i].method != VV_SCORE_MASKED_LLR)
			continue;
		/* %.17g: strtod gives back the same double, so a looked-up score
		 * prints and grades exactly as the computed one */
		if (ksprintf(ks, "%s\t%lld\t%s\t%s\t%.17g\n", vv_ref_contig_name(ref, contig_of[i]),
			     (long long)pos_of[i], reqs[i].ref, reqs[i].alt, res[i].score) < 0)
			return VV_ERR_NOMEM;
		st->scored++;
	}
	if (ks->l && bgzf_write(out, ks->s, ks->l) != (ssize_t)ks->l)
		return vv_errf(VV_ERR_IO, "writing the table failed");
	return 0;
}

static const tbx_conf_t vv_tbx_conf = {TBX_GENERIC, 1, 2, 2, '#', 0};

/* Indexes a finished table (path.tbi). */
static int vv_table_index(const char *path)
{
	if (tbx_index_build(path, 0, &vv_tbx_conf) != 0)
		return vv_errf(VV_ERR_SCORES_INDEX, "%s: tabix index could not be built", path);
	return 0;
}

/* htslib reads "scheme:..." names through its hFILE plug-ins (libcurl, S3,
 * GCS), which must never load into a process that holds patient data: a
 * table is a local file, named without ':'. */
static int vv_table_path_ok(const char *path)
{
	if (!path || !*path || strchr(path, ':'))
		return vv_errf(VV_ERR_INVAL, "score table '%s': a local file name without ':' is needed "
			       "(htslib would read it as a URL)", path ? path : "");
	return 0;
}

/* Opens path.tmp for writing, refusing an existing path. */
static int vv_table_create(const char *path, bool force, char **tmp, BGZF **fp)
{
	size_t n = strlen(path) + 32;
	int rc;

	*fp = NULL;
	if ((rc = vv_table_path_ok(path)) != 0)
		return rc;
	if (!force && access(path, F_OK) == 0)
		return vv_errf(VV_ERR_EXISTS, "%s exists (use --force to replace it)", path);
	if (!(*tmp = malloc(n)))
		return VV_ERR_NOMEM;
	snprintf(*tmp, n, "%s.tmp.%ld", path, (long)getpid());
	if (!(*fp = bgzf_open(*tmp, "w")))
		return vv_errf(VV_ERR_IO, "%s: %s", *tmp, strerror(errno));
	return 0;
}

/* Closes, indexes and renames table and index into place: a table whose
 * lines the index refuses (out of order) never appears. */
static int vv_table_finish(const char *path, char *tmp, BGZF *fp)
{
	char *tbi = NULL, *tmptbi = NULL;
	int rc = 0;

	if (bgzf_close(fp) != 0) {
		rc = vv_errf(VV_ERR_IO, "%s: write failed", tmp);
		goto out;
	}
	if (!(tbi = malloc(strlen(path) + 5)) || !(tmptbi = malloc(strlen(tmp) + 5))) {
		rc = VV_ERR_NOMEM;
		goto out;
	}
	sprintf(tbi, "%s.tbi", path);
	sprintf(tmptbi, "%s.tbi", tmp);
	if ((rc = vv_table_index(tmp)) != 0) {
		rc = vv_errf(rc, "%s: tabix index could not be built (lines out of order?)", path);
		goto out;
	}
	if (rename(tmptbi, tbi) != 0 || rename(tmp, path) != 0) {
		rc = vv_errf(VV_ERR_IO, "%s: %s", path, strerror(errno));
		goto out;
	}
out:
	if (rc) {
		(void)unlink(tmp);
		if (tmptbi)
			(void)unlink(tmptbi);
	}
	free(tbi);
	free(tmptbi);
	return rc;
}

int vv_score_precompute(vv_scorer *sc, vv_ref *ref, const struct vv_precompute_opts *o,
		  struct vv_precompute_stats *st)
{
	struct vv_region *rg = NULL;
	size_t nrg = 0, ri = 0;
	uint64_t total = 0, first, last, done = 0;
	vv_ref_window wins[VV_PRE_POSITIONS];
	struct vv_score_req *reqs = NULL;
	struct vv_score_result *res = NULL;
	int64_t *pos_of = NULL, rpos;
	int *contig_of = NULL;
	kstring_t ks = {0, 0, NULL};
	char *tmp = NULL;
	BGZF *fp = NULL;
	double t0 = vv_seconds();
	uint64_t f0;
	int rc;

	memset(st, 0, sizeof *st);
	vv_scorer_counts(sc, &f0, NULL);
	for (size_t i = 0; i < VV_PRE_POSITIONS; i++)
		vv_ref_window_init(&wins[i]);
	if (o->nchunks == 0 || o->chunk < 1 || o->chunk > o->nchunks) {
		rc = vv_errf(VV_ERR_INVAL, "chunk %u of %u: expected 1 <= I <= N", o->chunk, o->nchunks);
		goto out;
	}
	if ((rc = vv_read_bed(o->regions, ref, &rg, &nrg)) != 0)
		goto out;
	for (size_t i = 0; i < nrg; i++)
		total += (uint64_t)(rg[i].end - rg[i].beg);
	/* chunk I of N: positions [total*(I-1)/N, total*I/N) of the regions in
	 * reference order, so that the chunks' lines, concatenated in order,
	 * are the one-piece table's */
	first = (uint64_t)((unsigned __int128)total * (o->chunk - 1) / o->nchunks);
	last = (uint64_t)((unsigned __int128)total * o->chunk / o->nchunks);
	rpos = rg[0].beg;
	for (uint64_t skip = first; skip > 0 && ri < nrg;) {
		uint64_t left = (uint64_t)(rg[ri].end - rpos);
		if (skip < left) {
			rpos += (int64_t)skip;
			skip = 0;
		} else {
			skip -= left;
			if (++ri < nrg)
				rpos = rg[ri].beg;
		}
	}
	reqs = calloc(3 * VV_PRE_POSITIONS, sizeof *reqs);
	res = calloc(3 * VV_PRE_POSITIONS, sizeof *res);
	pos_of = calloc(3 * VV_PRE_POSITIONS, sizeof *pos_of);
	contig_of = calloc(3 * VV_PRE_POSITIONS, sizeof *contig_of);
	if (!reqs || !res || !pos_of || !contig_of) {
		rc = VV_ERR_NOMEM;
		goto out;
	}
	if ((rc = vv_table_header(sc, ref, &ks)) != 0 ||
	    (ksprintf(&ks, "#CHROM\tPOS\tREF\tALT\tSCORE\n") < 0 && (rc = VV_ERR_NOMEM)) ||
	    (rc = vv_table_create(o->out, o->force, &tmp, &fp)) != 0)
		goto out;
	if (bgzf_write(fp, ks.s, ks.l) != (ssize_t)ks.l) {
		rc = vv_errf(VV_ERR_IO, "%s: write failed", tmp);
		goto out;
	}
	while (done < last - first) {
		uint64_t count = last - first - done;
		if (count > VV_PRE_POSITIONS)
			count = VV_PRE_POSITIONS;
		if ((rc = vv_pre_block(sc, ref, rg, nrg, &ri, &rpos, count, fp, st, wins, reqs, res, pos_of,
				       contig_of, &ks)) != 0)
			goto out;
		done += count;
		if (o->progress)
			o->progress(o->progress_ctx, done, last - first);
	}
	rc = vv_table_finish(o->out, tmp, fp);
	fp = NULL;
	vv_scorer_counts(sc, &st->forwards, NULL);
	st->forwards -= f0;
	st->seconds = vv_seconds() - t0;
out:
	if (fp) {
		bgzf_close(fp);
		(void)unlink(tmp);
	}
	for (size_t i = 0; i < VV_PRE_POSITIONS; i++)
		vv_ref_window_done(&wins[i]);
	free(tmp);
	free(ks.s);
	free(rg);
	free(reqs);
	free(res);
	free(pos_of);
	free(contig_of);
	return rc;
}

/* ---- reading ---- */

struct vv_score_table {
	char *path;
	BGZF *fp;
	tbx_t *tbx;
	kstring_t line;
	char *header;      /* the '##' lines */
	uint64_t hits, lookups;
};

void vv_score_table_free(vv_score_table *t)
{
	if (!t)
		return;
	if (t->fp)
		bgzf_close(t->fp);
	if (t->tbx)
		tbx_destroy(t->tbx);
	free(t->line.s);
	free(t->header);
	free(t->path);
	free(t);
}

/* The value of header line "##key=" in hdr, copied into out. */
static bool vv_header_value(const char *hdr, const char *key, char *out, size_t cap)
{
	size_t kl = strlen(key);

	for (const char *p = hdr; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (!strncmp(p, "##", 2) && !strncmp(p + 2, key, kl) && p[2 + kl] == '=') {
			const char *v = p + 3 + kl;
			size_t n = strcspn(v, "\n");
			if (n >= cap)
				return false;
			memcpy(out, v, n);
			out[n] = '\0';
			return true;
		}
	}
	return false;
}

/* Reads the '##' header and the column line of an open table. */
static int vv_read_header(const char *path, BGZF *fp, char **hdr)
{
	kstring_t ks = {0, 0, NULL}, h = {0, 0, NULL};
	int rc = 0;

	*hdr = NULL;
	for (;;) {
		if (bgzf_getline(fp, '\n', &ks) < 0) {
			rc = vv_errf(VV_ERR_SCORES_FORMAT, "%s: ends inside its header", path);
			goto out;
		}
		if (!h.l && strcmp(ks.s, VV_TABLE_MAGIC) != 0) {
			rc = vv_errf(VV_ERR_SCORES_FORMAT, "%s: not a varvault score table (first line is not %s)",
				     path, VV_TABLE_MAGIC);
			goto out;
		}
		if (!strncmp(ks.s, "##", 2)) {
			if (kputs(ks.s, &h) < 0 || kputc('\n', &h) < 0) {
				rc = VV_ERR_NOMEM;
				goto out;
			}
			continue;
		}
		if (strcmp(ks.s, "#CHROM\tPOS\tREF\tALT\tSCORE") != 0)
			rc = vv_errf(VV_ERR_SCORES_FORMAT, "%s: header has no '#CHROM POS REF ALT SCORE' line", path);
		break;
	}
out:
	free(ks.s);
	if (rc)
		free(h.s);
	else
		*hdr = h.s;
	return rc;
}

int vv_score_table_open(const char *path, const vv_scorer *sc, vv_ref *ref, vv_score_table **out)
{
	static const char *const keys[] = {"model_sha256", "reference_md5", "score_policy_sha256"};
	static const char *const what[] = {"model", "reference", "scoring policy"};
	vv_score_table *t = NULL;
	kstring_t want = {0, 0, NULL};
	int rc;

	*out = NULL;
	if ((rc = vv_table_path_ok(path)) != 0)
		return rc;
	if (!(t = calloc(1, sizeof *t)) || !(t->path = strdup(path))) {
		rc = VV_ERR_NOMEM;
		goto out;
	}
	if (!(t->fp = bgzf_open(path, "r"))) {
		rc = vv_errf(VV_ERR_IO, "%s: %s", path, strerror(errno));
		goto out;
	}
	if ((rc = vv_read_header(path, t->fp, &t->header)) != 0)
		goto out;
	if ((rc = vv_table_header(sc, ref, &want)) != 0)
		goto out;
	/* refuse a table made for another model, reference or policy: its
	 * scores would not be the ones this run computes */
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		char have[128], need[128];
		if (!vv_header_value(t->header, keys[i], have, sizeof have)) {
			rc = vv_errf(VV_ERR_SCORES_FORMAT, "%s: header has no ##%s", path, keys[i]);
			goto out;
		}
		if (!vv_header_value(want.s, keys[i], need, sizeof need)) {
			rc = VV_ERR_INTERNAL;
			goto out;
		}
		if (strcmp(have, need) != 0) {
			char pol[512] = "";
			if (i == 2)
				(void)vv_header_value(t->header, "score_policy", pol, sizeof pol);
			rc = vv_errf(VV_ERR_SCORES_MISMATCH,
				     "%s was made for another %s (%s %s, this run's %s)%s%s", path, what[i],
				     keys[i], have, need, pol[0] ? "; table policy: " : "", pol);
			goto out;
		}
	}
	if (!(t->tbx = tbx_index_load(path))) {
		rc = vv_errf(VV_ERR_SCORES_INDEX, "%s: no tabix index (%s.tbi)", path, path);
		goto out;
	}
	*out = t;
	t = NULL;
	rc = 0;
out:
	free(want.s);
	vv_score_table_free(t);
	return rc;
}

int vv_score_table_get(vv_score_table *t, const char *contig, int64_t pos, const char *ref,
		       const char *alt, double *score)
{
	hts_itr_t *itr;
	int tid, found = 0, r;

	t->lookups++;
	if ((tid = tbx_name2id(t->tbx, contig)) < 0)
		return 0;
	if (!(itr = tbx_itr_queryi(t->tbx, tid, pos - 1, pos)))
		return vv_errf(VV_ERR_SCORES_INDEX, "%s: index query %s:%lld failed", t->path, contig,
			       (long long)pos);
	while ((r = hts_itr_next(t->fp, itr, &t->line, t->tbx)) >= 0) {
		char *f[5], *save = NULL, *end;
		int nf = 0;

		for (char *p = strtok_r(t->line.s, "\t", &save); p && nf < 5; p = strtok_r(NULL, "\t", &save))
			f[nf++] = p;
		if (nf != 5 || strtoll(f[1], &end, 10) != pos || *end) {
			if (nf == 5)
				continue; /* another position of the same bin */
			found = vv_errf(VV_ERR_SCORES_FORMAT, "%s: a line at %s:%lld has not 5 fields", t->path,
					contig, (long long)pos);
			break;
		}
		if (strcmp(f[2], ref) != 0 || strcmp(f[3], alt) != 0)
			continue;
		errno = 0;
		*score = strtod(f[4], &end);
		if (errno || *end || !isfinite(*score)) {
			found = vv_errf(VV_ERR_SCORES_FORMAT, "%s: %s:%lld %s>%s: SCORE '%s' is not a number",
					t->path, contig, (long long)pos, ref, alt, f[4]);
			break;
		}
		found = 1;
		t->hits++;
		break;
	}
	if (r < -1 && !found)
		found = vv_errf(VV_ERR_SCORES_FORMAT, "%s: unreadable at %s:%lld", t->path, contig,
				(long long)pos);
	hts_itr_destroy(itr);
	return found;
}

void vv_score_table_counts(const vv_score_table *t, uint64_t *lookups, uint64_t *hits)
{
	if (lookups)
		*lookups = t->lookups;
	if (hits)
		*hits = t->hits;
}

/* ---- merge ---- */

int vv_score_table_merge(const char *const *parts, size_t n, const char *out, bool force)
{
	kstring_t ks = {0, 0, NULL};
	char *hdr0 = NULL, *tmp = NULL;
	BGZF *fp = NULL;
	int rc = 0;

	if (!n)
		return vv_errf(VV_ERR_INVAL, "merge: no tables");
	if ((rc = vv_table_create(out, force, &tmp, &fp)) != 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		BGZF *in = NULL;
		char *hdr = NULL;
		int r;

		if ((rc = vv_table_path_ok(parts[i])) != 0)
			goto out;
		if (!(in = bgzf_open(parts[i], "r"))) {
			rc = vv_errf(VV_ERR_IO, "%s: %s", parts[i], strerror(errno));
			goto out;
		}
		if ((rc = vv_read_header(parts[i], in, &hdr)) != 0) {
			bgzf_close(in);
			goto out;
		}
		if (i == 0) {
			hdr0 = hdr;
			if (bgzf_write(fp, hdr, strlen(hdr)) < 0 ||
			    bgzf_write(fp, "#CHROM\tPOS\tREF\tALT\tSCORE\n", 25) < 0)
				rc = vv_errf(VV_ERR_IO, "%s: write failed", tmp);
		} else {
			if (strcmp(hdr, hdr0) != 0)
				rc = vv_errf(VV_ERR_SCORES_MISMATCH,
					     "%s: header differs from %s's (another model, reference or policy)",
					     parts[i], parts[0]);
			free(hdr);
		}
		while (!rc && (r = bgzf_getline(in, '\n', &ks)) >= 0) {
			if (kputc('\n', &ks) < 0)
				rc = VV_ERR_NOMEM;
			else if (bgzf_write(fp, ks.s, ks.l) != (ssize_t)ks.l)
				rc = vv_errf(VV_ERR_IO, "%s: write failed", tmp);
		}
		if (!rc && r < -1)
			rc = vv_errf(VV_ERR_SCORES_FORMAT, "%s: unreadable", parts[i]);
		bgzf_close(in);
		if (rc)
			goto out;
	}
	rc = vv_table_finish(out, tmp, fp);
	fp = NULL;
out:
	if (fp) {
		bgzf_close(fp);
		(void)unlink(tmp);
	}
	free(tmp);
	free(hdr0);
	free(ks.s);
	return rc;
}
