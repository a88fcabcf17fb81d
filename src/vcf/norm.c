/* Normalization of one split ALT against the reference: REF check, then
 * right-trim with left padding (left alignment) and left-trim, the rules
 * of `bcftools norm -m-any -f REF` (1.16), then the variant's status. */
#include "vcf_int.h"

#include <stdlib.h>
#include <string.h>

/* Bases fetched at a time when a trimmed allele runs empty (bcftools'
 * default --site-win is the same 100). */
#define VV_PAD 100

static char *dup_upper(const char *s, size_t n, int upper)
{
	char *d = malloc(n + 1);

	if (!d)
		return NULL;
	for (size_t i = 0; i < n; i++)
		d[i] = upper && s[i] >= 'a' && s[i] <= 'z' ? (char)(s[i] - 'a' + 'A') : s[i];
	d[n] = '\0';
	return d;
}

static void wipe_free(char *s, size_t n)
{
	if (s) {
		vv_wipe(s, n);
		free(s);
	}
}

/* Prepends pad[0..npad) to *s (length *len, allocation *cap). */
static int prepend(char **s, size_t *len, size_t *cap, const char *pad, size_t npad)
{
	char *n = malloc(*len + npad + 1);

	if (!n)
		return VV_ERR_NOMEM;
	memcpy(n, pad, npad);
	memcpy(n + npad, *s, *len);
	n[*len + npad] = '\0';
	wipe_free(*s, *cap);
	*s = n;
	*len += npad;
	*cap = *len + 1;
	return 0;
}

/* Trims and left-aligns ref/alt (upper case, A/C/G/T/N) in place; *pos0 is
 * the 0-based position of ref[0].  Both alleles stay non-empty. */
static int align_left(const vv_ref *ref, const char *contig, int64_t *pos0, char **rs, char **as)
{
	size_t rl = strlen(*rs), al = strlen(*as), nt = 0;
	size_t rcap = rl + 1, acap = al + 1;
	int64_t p = *pos0;
	int rc;

	for (;;) {
		size_t minl = rl < al ? rl : al;

		if ((*rs)[rl - 1] != (*as)[al - 1])
			break;
		if (minl <= 1 && p == 0)
			break;
		rl--, al--;
		if (rl == 0 || al == 0) {
			int64_t npad = p >= VV_PAD ? VV_PAD : p;
			char *pad = NULL;
			size_t got = 0;

			(*rs)[rl] = (*as)[al] = '\0';
			rc = vv_vcf_ref_fetch0(ref, contig, p - npad, p, &pad, &got);
			if (rc == 0 && got != (size_t)npad)
				rc = VV_ERR_REF_IO;
			if (rc == 0 && (rc = prepend(rs, &rl, &rcap, pad, got)) == 0)
				rc = prepend(as, &al, &acap, pad, got);
			free(pad);
			if (rc)
				return rc == VV_ERR_RANGE ? VV_ERR_REF_IO : rc;
			p -= npad;
		}
	}
	while ((*rs)[nt] == (*as)[nt]) {
		size_t minl = rl - nt < al - nt ? rl - nt : al - nt;
		if (minl <= 1)
			break;
		nt++;
	}
	memmove(*rs, *rs + nt, rl - nt);
	memmove(*as, *as + nt, al - nt);
	/* no trimmed base of the call is left behind in the buffers */
	memset(*rs + (rl - nt), 0, rcap - (rl - nt));
	memset(*as + (al - nt), 0, acap - (al - nt));
	*pos0 = p + (int64_t)nt;
	return 0;
}

static enum vv_vcf_status classify(const char *r, const char *a)
{
	size_t rl = strlen(r), al = strlen(a);

	if (strchr(r, 'N') || strchr(a, 'N'))
		return VV_VCF_KEEP_N;
	if (rl == 1 && al == 1)
		return VV_VCF_SNV;
	if (rl == al)
		return VV_VCF_MNV;
	if ((rl == 1 || al == 1) && r[0] == a[0])
		return VV_VCF_INDEL;
	return VV_VCF_COMPLEX;
}

int vv_vcf_norm_variant(vv_vcf_reader *r, struct vv_vcf_var *v)
{
	bcf1_t *b = v->rec->b;
	const char *ref0 = b->d.allele[0];
	const char *alt0 = v->alt_index ? b->d.allele[v->alt_index] : ".";
	size_t rl = strlen(ref0), al = strlen(alt0);
	enum vv_allele cls = v->alt_index ? vv_vcf_allele_class(alt0, al) : VV_AL_BAD;
	const char *contig = v->rec->contig;
	char *seq = NULL;
	size_t got = 0;
	int64_t clen, pos0;
	int rc;

	v->pos = v->rec->pos;
	v->ref = dup_upper(ref0, rl, 1);
	v->alt = dup_upper(alt0, al, cls == VV_AL_BASES);
	if (!v->ref || !v->alt)
		return VV_ERR_NOMEM;
	if (!r->ref) {
		v->status = VV_VCF_NO_REFERENCE;
		return 0;
	}
	if (!vv_ref_contig_length(r->ref, contig, &clen)) {
		v->status = VV_VCF_KEEP_NO_CONTIG;
		return 0;
	}
	if (rl > r->lim.max_allele_bytes || al > r->lim.max_allele_bytes) {
		v->status = VV_VCF_KEEP_TOO_LONG;
		return 0;
	}
	if (v->pos < 1 || (uint64_t)v->pos - 1 + rl > (uint64_t)clen) {
		v->status = VV_VCF_KEEP_OUTSIDE;
		return 0;
	}
	rc = vv_vcf_ref_fetch0(r->ref, contig, v->pos - 1, v->pos - 1 + (int64_t)rl, &seq, &got);
	if (rc)
		return rc == VV_ERR_RANGE ? VV_ERR_REF_IO : rc;
	rc = got != rl || strcmp(seq, v->ref) != 0;
	free(seq);
	if (rc) {
		v->status = VV_VCF_KEEP_REF_MISMATCH;
		return 0;
	}
	if (!v->alt_index) {
		/* a reference-only record: bcftools keeps the first REF base */
		v->ref[1] = '\0';
		if (rl > 1)
			vv_wipe(v->ref + 1, rl - 1);
		v->status = VV_VCF_KEEP_NO_ALT;
		return 0;
	}
	switch (cls) {
	case VV_AL_BASES:
		break;
	case VV_AL_STAR:
		v->status = VV_VCF_KEEP_STAR;
		return 0;
	case VV_AL_REF_BLOCK:
		v->status = VV_VCF_KEEP_REF_BLOCK;
		return 0;
	case VV_AL_BREAKEND:
		v->status = VV_VCF_KEEP_BREAKEND;
		return 0;
	default:
		v->status = VV_VCF_KEEP_SYMBOLIC;
		return 0;
	}
	if (strcmp(v->ref, v->alt) == 0) {
		v->status = VV_VCF_KEEP_ALT_IS_REF;
		return 0;
	}
	pos0 = v->pos - 1;
	if ((rc = align_left(r->ref, contig, &pos0, &v->ref, &v->alt)) != 0)
		return rc;
	v->pos = pos0 + 1;
	v->status = classify(v->ref, v->alt);
	return 0;
}
