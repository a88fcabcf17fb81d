/* The reference: faidx over FASTA or bgzip FASTA, fetches, windows, MD5s. */
#include "vcf_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Longest window or fetch we hand out: far beyond any model's context. */
#define VV_REF_MAX_WIDTH ((size_t)1 << 30)

/* A path whose text before the first '/' holds a ':' would reach htslib's
 * URL handlers (and load its network plug-ins); references are files. */
static bool looks_like_url(const char *path)
{
	const char *colon = strchr(path, ':');
	const char *slash = strchr(path, '/');

	return colon && (!slash || colon < slash);
}

static bool readable(const char *path, const char *suffix)
{
	char buf[4096];

	if (snprintf(buf, sizeof buf, "%s%s", path, suffix) >= (int)sizeof buf)
		return false;
	return access(buf, R_OK) == 0;
}

static bool is_gzip_file(const char *path)
{
	unsigned char m[2] = {0, 0};
	FILE *f = fopen(path, "rb");
	int ok;

	if (!f)
		return false;
	ok = fread(m, 1, 2, f) == 2 && m[0] == 0x1f && m[1] == 0x8b;
	fclose(f);
	return ok;
}

int vv_ref_open(const char *fasta, vv_ref **out)
{
	vv_ref *ref = NULL;
	const char *slash;
	int rc = 0;

	*out = NULL;
	if (!fasta || !*fasta)
		return vv_errf(VV_ERR_INVAL, "reference: no path given");
	if (looks_like_url(fasta))
		return vv_errf(VV_ERR_INVAL, "reference %s: a path with ':' before any '/' is taken for a URL; write ./%s",
			       fasta, fasta);
	if (!readable(fasta, ""))
		return vv_errf(VV_ERR_REF_IO, "reference %s: cannot read: %s", fasta, strerror(errno));
	if (!readable(fasta, ".fai"))
		return vv_errf(VV_ERR_REF_IO, "reference %s: index %s.fai missing or unreadable (samtools faidx makes it)",
			       fasta, fasta);
	if (is_gzip_file(fasta) && !readable(fasta, ".gzi"))
		return vv_errf(VV_ERR_REF_IO, "reference %s: compressed FASTA without %s.gzi (bgzip -r or samtools faidx makes it)",
			       fasta, fasta);
	ref = calloc(1, sizeof *ref);
	if (!ref || !(ref->path = strdup(fasta))) {
		rc = VV_ERR_NOMEM;
		goto out;
	}
	slash = strrchr(ref->path, '/');
	ref->name = slash ? slash + 1 : ref->path;
	/* flags 0: never build or download an index */
	ref->fai = fai_load3(fasta, NULL, NULL, 0);
	if (!ref->fai) {
		rc = vv_errf(VV_ERR_REF_IO, "reference %s: faidx could not load it with its index (plain gzip instead of bgzip?)",
			     fasta);
		goto out;
	}
	*out = ref;
	ref = NULL;
out:
	vv_ref_free(ref);
	return rc;
}

void vv_ref_free(vv_ref *ref)
{
	if (!ref)
		return;
	if (ref->fai)
		fai_destroy(ref->fai);
	free(ref->path);
	free(ref);
}

const char *vv_ref_name(const vv_ref *ref)
{
	return ref->name;
}

int vv_ref_ncontigs(const vv_ref *ref)
{
	return faidx_nseq(ref->fai);
}

const char *vv_ref_contig_name(const vv_ref *ref, int i)
{
	if (i < 0 || i >= faidx_nseq(ref->fai))
		return NULL;
	return faidx_iseq(ref->fai, i);
}

bool vv_ref_contig_length(const vv_ref *ref, const char *contig, int64_t *len)
{
	int n;

	*len = 0;
	if (!contig || !faidx_has_seq(ref->fai, contig) || (n = faidx_seq_len(ref->fai, contig)) < 0)
		return false;
	*len = n;
	return true;
}

static void to_acgtn(char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		switch (s[i]) {
		case 'A': case 'C': case 'G': case 'T': break;
		case 'a': s[i] = 'A'; break;
		case 'c': s[i] = 'C'; break;
		case 'g': s[i] = 'G'; break;
		case 't': s[i] = 'T'; break;
		default: s[i] = 'N'; break;
		}
	}
}

int vv_vcf_ref_fetch0(const vv_ref *ref, const char *contig, int64_t beg, int64_t end, char **seq,
		      size_t *len)
{
	int64_t clen;
	hts_pos_t got = 0;
	char *s;

	*seq = NULL;
	*len = 0;
	if (!vv_ref_contig_length(ref, contig, &clen))
		return VV_ERR_REF_CONTIG;
	if (beg < 0 || beg >= clen || end <= beg)
		return VV_ERR_RANGE;
	if (end > clen)
		end = clen;
	if ((uint64_t)(end - beg) > VV_REF_MAX_WIDTH)
		return VV_ERR_RANGE;
	/* faidx takes 0-based inclusive ends and clamps silently: bounds were
	 * checked above so that a clamp cannot hide a wrong position */
	s = faidx_fetch_seq64(ref->fai, contig, beg, end - 1, &got);
	if (!s || got != end - beg) {
		free(s);
		return vv_errf(VV_ERR_REF_IO, "reference %s: reading %s:%lld-%lld failed",
			       ref->name, contig, (long long)beg + 1, (long long)end);
	}
	to_acgtn(s, (size_t)got);
	*seq = s;
	*len = (size_t)got;
	return 0;
}

int vv_ref_fetch(const vv_ref *ref, const char *contig, int64_t beg, int64_t end, char **seq,
		 size_t *len)
{
	int rc;

	if (!ref || !contig || !seq || !len)
		return VV_ERR_INVAL;
	rc = vv_vcf_ref_fetch0(ref, contig, beg - 1, end, seq, len);
	if (rc == VV_ERR_REF_CONTIG)
		return vv_errf(rc, "contig %s is not in reference %s", contig, ref->name);
	if (rc == VV_ERR_RANGE)
		return vv_errf(rc, "%s:%lld-%lld is outside contig %s of reference %s", contig,
			       (long long)beg, (long long)end, contig, ref->name);
	return rc;
}

int vv_ref_set_md5(vv_ref *ref, const char *hex)
{
	size_t i;

	for (i = 0; i < 32; i++)
		if (!hex[i] || !strchr("0123456789abcdef", hex[i]))
			break;
	if (i != 32 || hex[32] != '\0')
		return vv_errf(VV_ERR_INVAL, "reference %s: an MD5 is 32 lowercase hex digits", ref->name);
	memcpy(ref->md5, hex, 33);
	ref->md5_done = 1;
	return 0;
}

int vv_ref_md5(vv_ref *ref, char hex[33])
{
	unsigned char digest[16], buf[65536];
	hts_md5_context *ctx = NULL;
	FILE *f = NULL;
	size_t n;
	int rc = 0;

	if (ref->md5_done) {
		memcpy(hex, ref->md5, 33);
		return 0;
	}
	if (!(ctx = hts_md5_init()))
		return VV_ERR_NOMEM;
	if (!(f = fopen(ref->path, "rb"))) {
		rc = vv_errf(VV_ERR_REF_IO, "reference %s: cannot read: %s", ref->name, strerror(errno));
		goto out;
	}
	while ((n = fread(buf, 1, sizeof buf, f)) > 0)
		hts_md5_update(ctx, buf, (unsigned long)n);
	if (ferror(f)) {
		rc = vv_errf(VV_ERR_REF_IO, "reference %s: read error", ref->name);
		goto out;
	}
	hts_md5_final(digest, ctx);
	hts_md5_hex(ref->md5, digest);
	ref->md5_done = 1;
	memcpy(hex, ref->md5, 33);
out:
	if (f)
		fclose(f);
	hts_md5_destroy(ctx);
	return rc;
}

int vv_ref_contig_md5(const vv_ref *ref, const char *contig, char hex[33])
{
	const int64_t chunk = 1 << 20;
	unsigned char digest[16];
	hts_md5_context *ctx;
	int64_t clen;
	int rc = 0;

	if (!vv_ref_contig_length(ref, contig, &clen))
		return vv_errf(VV_ERR_REF_CONTIG, "contig %s is not in reference %s", contig, ref->name);
	if (!(ctx = hts_md5_init()))
		return VV_ERR_NOMEM;
	for (int64_t beg = 0; beg < clen; beg += chunk) {
		hts_pos_t got = 0;
		int64_t end = beg + chunk < clen ? beg + chunk : clen;
		char *s = faidx_fetch_seq64(ref->fai, contig, beg, end - 1, &got);

		if (!s || got != end - beg) {
			free(s);
			rc = vv_errf(VV_ERR_REF_IO, "reference %s: reading %s failed", ref->name, contig);
			goto out;
		}
		/* the M5 convention: upper case, every other byte as stored */
		for (hts_pos_t i = 0; i < got; i++)
			if (s[i] >= 'a' && s[i] <= 'z')
				s[i] = (char)(s[i] - 'a' + 'A');
		hts_md5_update(ctx, s, (unsigned long)got);
		free(s);
	}
	hts_md5_final(digest, ctx);
	hts_md5_hex(hex, digest);
out:
	hts_md5_destroy(ctx);
	return rc;
}

void vv_ref_window_init(vv_ref_window *w)
{
	memset(w, 0, sizeof *w);
}

void vv_ref_window_done(vv_ref_window *w)
{
	if (!w)
		return;
	free(w->seq);
	vv_ref_window_init(w);
}

int vv_ref_window_get(const vv_ref *ref, const char *contig, int64_t pos, size_t span, size_t width,
		      vv_ref_window *w)
{
	int64_t clen, start, beg0;
	size_t got = 0, n = 0;
	char *seq = NULL, *buf;
	int rc;

	if (!ref || !contig || !w)
		return VV_ERR_INVAL;
	if (width == 0 || width > VV_REF_MAX_WIDTH || span == 0 || span > width)
		return vv_errf(VV_ERR_RANGE, "window of %zu bases cannot hold a REF of %zu", width, span);
	if (!vv_ref_contig_length(ref, contig, &clen))
		return vv_errf(VV_ERR_REF_CONTIG, "contig %s is not in reference %s", contig, ref->name);
	if (pos < 1 || (uint64_t)pos - 1 + span > (uint64_t)clen)
		return vv_errf(VV_ERR_RANGE, "%s:%lld (%zu bases) is outside the contig", contig,
			       (long long)pos, span);
	/* centre the span; an odd remainder goes to the right */
	start = pos - (int64_t)((width - span) / 2);
	/* shift inside the contig; pad only when the contig is too short */
	if (start + (int64_t)width - 1 > clen)
		start = clen - (int64_t)width + 1;
	if (start < 1)
		start = 1;
	beg0 = start - 1;
	rc = vv_vcf_ref_fetch0(ref, contig, beg0, beg0 + (int64_t)width, &seq, &got);
	if (rc == VV_ERR_RANGE || rc == VV_ERR_REF_CONTIG)
		return vv_errf(rc, "%s:%lld window out of the contig", contig, (long long)start);
	if (rc)
		return rc;
	buf = realloc(w->seq, width + 1);
	if (!buf) {
		free(seq);
		return VV_ERR_NOMEM;
	}
	memcpy(buf, seq, got);
	memset(buf + got, 'N', width - got);
	buf[width] = '\0';
	free(seq);
	for (size_t i = 0; i < width; i++)
		n += buf[i] == 'N';
	w->seq = buf;
	w->len = width;
	w->start = start;
	w->offset = (size_t)(pos - start);
	w->span = span;
	w->n_count = n;
	w->pad_right = width - got;
	return 0;
}
