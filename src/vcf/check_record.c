/* Record checks: the raw text of each data line against the specification
 * (refusing faults in what varvault interprets, warning about the rest and
 * about every value htslib will change), and the parsed record (BCF). */
#include "vcf_int.h"

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* htslib 1.16 turns Integer values outside [INT32_MIN + 8, INT32_MAX]
 * into missing: the lowest eight are BCF's missing/end-of-vector codes. */
#define VV_INT_MIN ((long long)INT32_MIN + 8)
#define VV_INT_MAX ((long long)INT32_MAX)
/* htslib's limit on FORMAT keys per record */
#define VV_MAX_FMT 255

/* A slice of the line. */
struct tok {
	const char *p;
	size_t n;
};

/* The definition a value is read with. */
struct def {
	int declared;
	int type;   /* BCF_HT_* as htslib reads it */
	int vl;     /* BCF_VL_* */
	int num;    /* for BCF_VL_FIXED */
	const struct vv_reserved *res;
};

static bool next_tok(struct tok *all, struct tok *out, char sep)
{
	const char *e;

	if (!all->p)
		return false;
	e = memchr(all->p, sep, all->n);
	out->p = all->p;
	out->n = e ? (size_t)(e - all->p) : all->n;
	if (e) {
		all->n -= out->n + 1;
		all->p = e + 1;
	} else {
		all->p = NULL;
		all->n = 0;
	}
	return true;
}

static bool tok_is(const struct tok *t, const char *s)
{
	return t->n == strlen(s) && memcmp(t->p, s, t->n) == 0;
}

static size_t count_values(const struct tok *t)
{
	size_t n = 1;

	for (size_t i = 0; i < t->n; i++)
		n += t->p[i] == ',';
	return n;
}

bool vv_vcf_is_bases(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		switch (s[i]) {
		case 'A': case 'C': case 'G': case 'T': case 'N':
		case 'a': case 'c': case 'g': case 't': case 'n':
			break;
		default:
			return false;
		}
	return true;
}

static bool symbolic_id_ok(const char *p, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (isspace((unsigned char)p[i]) || p[i] == '<' || p[i] == '>' || p[i] == ',')
			return false;
	return true;
}

/* chr:pos or <contig>:pos inside a breakend */
static bool mate_ok(const char *p, size_t n)
{
	const char *colon;
	size_t i;

	if (n < 3)
		return false;
	colon = NULL;
	for (i = n; i > 0; i--)
		if (p[i - 1] == ':') {
			colon = p + i - 1;
			break;
		}
	if (!colon || colon == p || colon == p + n - 1)
		return false;
	for (const char *q = colon + 1; q < p + n; q++)
		if (!isdigit((unsigned char)*q))
			return false;
	for (const char *q = p; q < colon; q++)
		if (isspace((unsigned char)*q) || *q == '[' || *q == ']' || *q == ',')
			return false;
	if (p[0] == '<' && colon[-1] != '>')
		return false;
	return true;
}

enum vv_allele vv_vcf_allele_class(const char *a, size_t n)
{
	const char *b1, *b2;

	if (n == 0)
		return VV_AL_BAD;
	if (vv_vcf_is_bases(a, n))
		return VV_AL_BASES;
	if (n == 1 && a[0] == '*')
		return VV_AL_STAR;
	if (a[0] == '<' && a[n - 1] == '>') {
		if (!symbolic_id_ok(a + 1, n - 2))
			return VV_AL_BAD;
		if ((n == 3 && a[1] == '*') || (n == 9 && memcmp(a, "<NON_REF>", 9) == 0))
			return VV_AL_REF_BLOCK;
		return VV_AL_SYMBOLIC;
	}
	/* single breakends: .t and t. */
	if (n >= 2 && a[0] == '.' && vv_vcf_is_bases(a + 1, n - 1))
		return VV_AL_BREAKEND;
	if (n >= 2 && a[n - 1] == '.' && vv_vcf_is_bases(a, n - 1))
		return VV_AL_BREAKEND;
	/* t[p[  t]p]  ]p]t  [p[t */
	b1 = NULL;
	for (size_t i = 0; i < n; i++)
		if (a[i] == '[' || a[i] == ']') {
			b1 = a + i;
			break;
		}
	if (!b1)
		return VV_AL_BAD;
	b2 = memchr(b1 + 1, *b1, (size_t)(a + n - b1 - 1));
	if (!b2 || memchr(b2 + 1, '[', (size_t)(a + n - b2 - 1)) || memchr(b2 + 1, ']', (size_t)(a + n - b2 - 1)))
		return VV_AL_BAD;
	if (!mate_ok(b1 + 1, (size_t)(b2 - b1 - 1)))
		return VV_AL_BAD;
	if (b1 == a) /* ]p]t or [p[t */
		return b2 + 1 < a + n && vv_vcf_is_bases(b2 + 1, (size_t)(a + n - b2 - 1)) ? VV_AL_BREAKEND : VV_AL_BAD;
	/* t[p[ or t]p] */
	return b2 == a + n - 1 && vv_vcf_is_bases(a, (size_t)(b1 - a)) ? VV_AL_BREAKEND : VV_AL_BAD;
}

/* VCF Float text: decimal or exponent notation, Inf, Infinity, NaN. */
static bool float_syntax(const char *p, size_t n)
{
	size_t i = 0, digits = 0;

	if (i < n && (p[i] == '+' || p[i] == '-'))
		i++;
	if (n - i == 3 && (strncasecmp(p + i, "inf", 3) == 0 || strncasecmp(p + i, "nan", 3) == 0))
		return true;
	if (n - i == 8 && strncasecmp(p + i, "infinity", 8) == 0)
		return true;
	while (i < n && isdigit((unsigned char)p[i]))
		i++, digits++;
	if (i < n && p[i] == '.') {
		i++;
		while (i < n && isdigit((unsigned char)p[i]))
			i++, digits++;
	}
	if (!digits)
		return false;
	if (i < n && (p[i] == 'e' || p[i] == 'E')) {
		size_t d = 0;
		i++;
		if (i < n && (p[i] == '+' || p[i] == '-'))
			i++;
		while (i < n && isdigit((unsigned char)p[i]))
			i++, d++;
		if (!d)
			return false;
	}
	return i == n;
}

static bool int_syntax(const char *p, size_t n)
{
	size_t i = 0;

	if (i < n && (p[i] == '+' || p[i] == '-'))
		i++;
	if (i == n)
		return false;
	for (; i < n; i++)
		if (!isdigit((unsigned char)p[i]))
			return false;
	return true;
}

/* A leading integer htslib would take from a value that is not one. */
static bool int_prefix(const char *p, size_t n)
{
	size_t i = 0;

	if (i < n && (p[i] == '+' || p[i] == '-'))
		i++;
	return i < n && isdigit((unsigned char)p[i]);
}

static double parse_double(const char *p, size_t n)
{
	char buf[64];

	if (n >= sizeof buf)
		return HUGE_VAL;
	memcpy(buf, p, n);
	buf[n] = '\0';
	return strtod(buf, NULL);
}

/* Parses an int_syntax() value; *out saturates far beyond the int32 range. */
static void parse_ll(const char *p, size_t n, long long *out)
{
	long long v = 0;
	size_t i = 0;
	int neg = 0;

	if (i < n && (p[i] == '+' || p[i] == '-'))
		neg = p[i++] == '-';
	for (; i < n; i++)
		if (v < 100000000000000LL)
			v = v * 10 + (p[i] - '0');
	*out = neg ? -v : v;
}

bool vv_vcf_key_ok(const char *p, size_t n, int strict42)
{
	if (n == 5 && memcmp(p, "1000G", 5) == 0)
		return true;
	if (n == 0)
		return false;
	if (strict42) {
		/* VCF 4.2 FORMAT keys: alphanumeric */
		for (size_t i = 0; i < n; i++)
			if (!isalnum((unsigned char)p[i]))
				return false;
		return true;
	}
	if (!(isalpha((unsigned char)p[0]) || p[0] == '_'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!(isalnum((unsigned char)p[i]) || p[i] == '_' || p[i] == '.'))
			return false;
	return true;
}

static bool is_v43(const vv_vcf_reader *r)
{
	return r->vmajor > 4 || (r->vmajor == 4 && r->vminor >= 3);
}

bool vv_vcf_contig_char(char c, int first)
{
	if (isalnum((unsigned char)c) || strchr("!#$%&+./:;?@^_|~-", c))
		return true;
	return !first && (c == '*' || c == '=');
}

#define REFUSE(field, ...) vv_vcf_rec_errf(r, VV_ERR_VCF_FIELD, field, __VA_ARGS__)
#define WARN(kind, field, ...) vv_vcf_warnf(r, rec, vv_vcf_reader_where(r), kind, field, __VA_ARGS__)

static int check_chrom(vv_vcf_reader *r, struct vv_rec *rec, const struct tok *t)
{
	char key[300];
	const char *p = t->p;
	size_t n = t->n;
	int rc;

	if (n == 0 || tok_is(t, "."))
		return REFUSE("CHROM", "empty");
	if (n > 255)
		return REFUSE("CHROM", "longer than 255 characters");
	if (p[0] == '<') {
		if (n < 3 || p[n - 1] != '>')
			return REFUSE("CHROM", "'<' without a closing '>'");
		p++;
		n -= 2;
	}
	for (size_t i = 0; i < n; i++) {
		if (isspace((unsigned char)p[i]))
			return REFUSE("CHROM", "contains whitespace");
		if (!vv_vcf_contig_char(p[i], i == 0))
			return REFUSE("CHROM", "character %zu is not allowed in a contig name", i + 1);
	}
	snprintf(key, sizeof key, "%.*s", (int)t->n, t->p);
	if (memchr(p, ':', n)) {
		if (!is_v43(r))
			return REFUSE("CHROM", "':' in a contig name (VCF 4.2 forbids it)");
		if ((rc = vv_vcf_warn_once(r, rec, key, rec->line, VV_VCF_W_CONTIG_NAME, "CHROM",
					   "contig %s has ':' (allowed by VCF 4.3, ambiguous in breakends)", key)) != 0)
			return rc;
	} else if (is_v43(r) && memchr(p, '*', n) &&
		   (rc = vv_vcf_warn_once(r, rec, key, rec->line, VV_VCF_W_CONTIG_NAME, "CHROM",
					  "contig %s has '*'", key)) != 0) {
		return rc;
	}
	if (bcf_hdr_name2id(r->hdr, key) < 0 || bcf_hdr_name2id(r->hdr, key) >= r->ncontigs_declared) {
		char wk[320];
		snprintf(wk, sizeof wk, "CTG:%s", key);
		return vv_vcf_warn_once(r, rec, wk, rec->line, VV_VCF_W_UNDECLARED, "CHROM",
					"contig %s has no ##contig line; htslib adds one", key);
	}
	return 0;
}

static int check_pos(vv_vcf_reader *r, const struct tok *t)
{
	long long v;

	if (t->n == 0 || !int_syntax(t->p, t->n) || t->p[0] == '-' || t->p[0] == '+')
		return REFUSE("POS", "not a whole number (htslib would store 0)");
	parse_ll(t->p, t->n, &v);
	if (t->n > 12 || v > INT32_MAX - 1)
		return REFUSE("POS", "beyond 2147483646, the largest position varvault reads");
	return 0;
}

static int check_id(vv_vcf_reader *r, struct vv_rec *rec, const struct tok *t)
{
	struct tok all = *t, one, prev;

	if (tok_is(t, "."))
		return 0;
	for (size_t i = 0; i < t->n; i++)
		if (isspace((unsigned char)t->p[i]))
			return WARN(VV_VCF_W_SYNTAX, "ID", "contains whitespace");
	while (next_tok(&all, &one, ';')) {
		if (one.n == 0)
			return WARN(VV_VCF_W_SYNTAX, "ID", "an empty entry in the ';' list");
		struct tok rest = all, other;
		prev = one;
		while (next_tok(&rest, &other, ';'))
			if (other.n == prev.n && memcmp(other.p, prev.p, prev.n) == 0)
				return WARN(VV_VCF_W_SYNTAX, "ID", "the same ID twice");
	}
	return 0;
}

static int check_alleles(vv_vcf_reader *r, struct vv_rec *rec, const struct tok *ref, const struct tok *alt,
			 int *n_alts)
{
	struct tok all = *alt, one;
	int k = 0, rc;

	if (ref->n == 0)
		return REFUSE("REF", "empty");
	if (!vv_vcf_is_bases(ref->p, ref->n))
		return REFUSE("REF", "not a sequence of A, C, G, T, N");
	*n_alts = 0;
	if (tok_is(alt, "."))
		return 0;
	while (next_tok(&all, &one, ',')) {
		enum vv_allele c;
		k++;
		if ((uint32_t)k > r->lim.max_alts)
			return vv_vcf_rec_errf(r, VV_ERR_VCF_LIMIT, "ALT", "more than %u ALT alleles", r->lim.max_alts);
		if (one.n == 0)
			return REFUSE("ALT", "allele %d is empty", k);
		c = vv_vcf_allele_class(one.p, one.n);
		if (c == VV_AL_BAD)
			return REFUSE("ALT", "allele %d is neither bases, '*', a <symbolic> allele nor a breakend", k);
		if (c == VV_AL_BASES && one.n == ref->n && strncasecmp(one.p, ref->p, one.n) == 0 &&
		    (rc = WARN(VV_VCF_W_ALLELE, "ALT", "allele %d equals REF", k)) != 0)
			return rc;
		struct tok rest = all, other;
		while (next_tok(&rest, &other, ','))
			if (other.n == one.n && strncasecmp(other.p, one.p, one.n) == 0) {
				if ((rc = WARN(VV_VCF_W_ALLELE, "ALT", "allele %d is given twice", k)) != 0)
					return rc;
				break;
			}
	}
	*n_alts = k;
	return 0;
}

static int check_qual(vv_vcf_reader *r, const struct tok *t)
{
	if (tok_is(t, "."))
		return 0;
	if (!float_syntax(t->p, t->n))
		return REFUSE("QUAL", "not a number or '.' (htslib would store 0)");
	if (t->p[0] == '-' && !(t->n == 4 && strncasecmp(t->p + 1, "nan", 3) == 0))
		return REFUSE("QUAL", "negative");
	/* a number (not the words Inf or NaN) too large for a float */
	if (!isalpha((unsigned char)t->p[t->n - 1]) && !(fabs(parse_double(t->p, t->n)) <= FLT_MAX))
		return REFUSE("QUAL", "beyond the Float range (htslib would store infinity)");
	return 0;
}

static int check_filter(vv_vcf_reader *r, struct vv_rec *rec, const struct tok *t)
{
	struct tok all = *t, one;
	int n = 0, pass = 0, rc;

	if (tok_is(t, "."))
		return 0;
	while (next_tok(&all, &one, ';')) {
		n++;
		if (one.n == 0)
			return REFUSE("FILTER", "an empty entry in the ';' list");
		for (size_t i = 0; i < one.n; i++)
			if (isspace((unsigned char)one.p[i]))
				return REFUSE("FILTER", "contains whitespace");
		if (tok_is(&one, "0"))
			return REFUSE("FILTER", "'0' is reserved");
		if (tok_is(&one, "."))
			return REFUSE("FILTER", "'.' inside a list");
		pass |= tok_is(&one, "PASS");
		struct tok rest = all, other;
		while (next_tok(&rest, &other, ';'))
			if (other.n == one.n && memcmp(other.p, one.p, one.n) == 0)
				return REFUSE("FILTER", "the same filter twice");
		if (!tok_is(&one, "PASS")) {
			char name[300], key[320];
			snprintf(name, sizeof name, "%.*s", (int)(one.n < 256 ? one.n : 256), one.p);
			int id = bcf_hdr_id2int(r->hdr, BCF_DT_ID, name);
			if (!vv_vcf_declared(r, BCF_HL_FLT, id)) {
				snprintf(key, sizeof key, "FLT:%s", name);
				if ((rc = vv_vcf_warn_once(r, rec, key, rec->line, VV_VCF_W_UNDECLARED, "FILTER",
							   "FILTER %s has no header line; htslib adds one", name)) != 0)
					return rc;
			}
		}
	}
	if (pass && n > 1)
		return REFUSE("FILTER", "PASS together with failed filters");
	return 0;
}

/* The definition htslib will use for key (INFO or FORMAT). */
static void get_def(vv_vcf_reader *r, int hl, const char *key, struct def *d)
{
	int id = bcf_hdr_id2int(r->hdr, BCF_DT_ID, key);

	memset(d, 0, sizeof *d);
	d->res = vv_vcf_reserved_find(hl == BCF_HL_FMT, key, r->vmajor, r->vminor);
	if (vv_vcf_declared(r, hl, id)) {
		d->declared = 1;
		d->type = bcf_hdr_id2type(r->hdr, hl, id);
		d->vl = bcf_hdr_id2length(r->hdr, hl, id);
		d->num = bcf_hdr_id2number(r->hdr, hl, id);
	} else {
		/* htslib's dummy definition */
		d->type = BCF_HT_STR;
		d->vl = BCF_VL_FIXED;
		d->num = 1;
	}
}

static uint64_t binom_count(int n_alleles, int ploidy)
{
	/* genotypes of `ploidy` draws from n_alleles: C(n + p - 1, p) */
	uint64_t c = 1;

	for (int i = 1; i <= ploidy; i++) {
		c = c * (uint64_t)(n_alleles + i - 1) / (uint64_t)i;
		if (c > UINT32_MAX)
			return UINT32_MAX;
	}
	return c;
}

/* Expected value count for a Number, or 0 when any count is fine. */
static uint64_t expected_count(const struct def *d, int n_alts, int ploidy)
{
	switch (d->vl) {
	case BCF_VL_FIXED: return d->type == BCF_HT_FLAG ? 0 : (uint64_t)d->num;
	case BCF_VL_A: return (uint64_t)n_alts;
	case BCF_VL_R: return (uint64_t)n_alts + 1;
	case BCF_VL_G: return binom_count(n_alts + 1, ploidy > 0 ? ploidy : 2);
	default: return 0;
	}
}

/* Checks one comma list of numbers of a declared Integer/Float field and
 * the reserved rules.  field is "INFO/DP" or "FORMAT/DP". */
static int check_numbers(vv_vcf_reader *r, struct vv_rec *rec, const char *field, const struct def *d,
			 const struct tok *val, int is_fmt)
{
	struct tok all = *val, one;
	int type = d->declared ? d->type : (d->res ? d->res->type : BCF_HT_STR);

	if (type != BCF_HT_INT && type != BCF_HT_REAL)
		return 0;
	while (next_tok(&all, &one, ',')) {
		if (tok_is(&one, "."))
			continue;
		if (one.n == 0) {
			if (!d->declared)
				return WARN(VV_VCF_W_VALUE, field, "an empty value");
			return WARN(type == BCF_HT_REAL && is_fmt ? VV_VCF_W_CHANGED : VV_VCF_W_TO_MISSING, field,
				    "an empty value; htslib stores %s", type == BCF_HT_REAL && is_fmt ? "0" : "missing");
		}
		if (type == BCF_HT_INT) {
			long long v;
			if (!int_syntax(one.p, one.n)) {
				if (!d->declared)
					return WARN(VV_VCF_W_VALUE, field, "reserved as Integer, but the value is not one");
				if (is_fmt)
					return REFUSE(field, "not an Integer (htslib cannot parse it)");
				if (int_prefix(one.p, one.n))
					return WARN(VV_VCF_W_CHANGED, field,
						    "not an Integer; htslib keeps only its leading digits");
				return WARN(VV_VCF_W_TO_MISSING, field, "not an Integer; htslib stores missing");
			}
			parse_ll(one.p, one.n, &v);
			if (d->declared && (one.n > 19 || v < VV_INT_MIN || v > VV_INT_MAX))
				return WARN(VV_VCF_W_TO_MISSING, field,
					    "outside the Integer range htslib stores (-2147483640..2147483647); stored as missing");
			if (d->res && d->res->nonneg && v < 0)
				return WARN(VV_VCF_W_VALUE, field, "reserved count is negative");
		} else {
			double v;
			if (!float_syntax(one.p, one.n)) {
				if (!d->declared)
					return WARN(VV_VCF_W_VALUE, field, "reserved as Float, but the value is not a number");
				if (is_fmt)
					return REFUSE(field, "not a Float (htslib cannot parse it)");
				if (int_prefix(one.p, one.n) || (one.p[0] == '.' && one.n > 1))
					return WARN(VV_VCF_W_CHANGED, field,
						    "not a Float; htslib keeps only its leading number");
				return WARN(VV_VCF_W_TO_MISSING, field, "not a Float; htslib stores missing");
			}
			v = parse_double(one.p, one.n);
			if (d->declared && isfinite(v) && fabs(v) > FLT_MAX)
				return WARN(VV_VCF_W_CHANGED, field, "beyond the Float range; htslib stores infinity");
			if (d->res && d->res->nonneg && v < 0)
				return WARN(VV_VCF_W_VALUE, field, "reserved value is negative");
			if (d->res && strcmp(d->res->id, "AF") == 0 && v > 1)
				return WARN(VV_VCF_W_VALUE, field, "allele frequency above 1");
		}
	}
	return 0;
}

static bool cigar_ok(const struct tok *v)
{
	struct tok all = *v, one;

	while (next_tok(&all, &one, ',')) {
		size_t i = 0, ops = 0;
		if (tok_is(&one, "."))
			continue;
		while (i < one.n) {
			size_t d = 0;
			while (i < one.n && isdigit((unsigned char)one.p[i]))
				i++, d++;
			if (!d || i == one.n || !strchr("MIDNSHP=X", one.p[i]))
				return false;
			i++;
			ops++;
		}
		if (!ops)
			return false;
	}
	return true;
}

static int check_end(vv_vcf_reader *r, const struct def *d, const struct tok *val, const struct tok *pos)
{
	long long e, p;

	if (d->declared && d->type != BCF_HT_INT)
		return REFUSE("INFO/END", "declared with a Type other than Integer in the header");
	if (!val->p || val->n == 0 || !int_syntax(val->p, val->n) || val->p[0] == '-' || val->p[0] == '+')
		return REFUSE("INFO/END", "not one whole number");
	parse_ll(val->p, val->n, &e);
	parse_ll(pos->p, pos->n, &p);
	if (val->n > 12 || e > INT32_MAX - 1)
		return REFUSE("INFO/END", "beyond 2147483646");
	if (e < p)
		return REFUSE("INFO/END", "smaller than POS");
	return 0;
}

static char vl_char(int vl)
{
	return vl == BCF_VL_A ? 'A' : vl == BCF_VL_R ? 'R' : vl == BCF_VL_G ? 'G' : 'n';
}

/* The number of values of one field (one sample's, for FORMAT): a refusal
 * when the record must be split by it, a warning otherwise.  An undeclared
 * reserved key is counted by its reserved Number, warnings only (htslib
 * passes it through as a String).  ploidy 0: unknown. */
static int check_count(vv_vcf_reader *r, struct vv_rec *rec, const char *field, const struct def *d,
		       const struct tok *v, int n_alts, int ploidy, int sample)
{
	struct def e = *d;
	uint64_t want, have;
	char who[32] = "";

	if (!d->declared) {
		if (!d->res)
			return 0;
		e.vl = d->res->number[0] == 'A' ? BCF_VL_A : d->res->number[0] == 'R' ? BCF_VL_R :
		       d->res->number[0] == 'G' ? BCF_VL_G : BCF_VL_FIXED;
		e.num = atoi(d->res->number);
		e.type = d->res->type;
	}
	want = expected_count(&e, n_alts, ploidy);
	have = tok_is(v, ".") || v->n == 0 ? 0 : count_values(v);
	if (!want || !have || have == want)
		return 0;
	if (e.vl == BCF_VL_G && !ploidy && have == binom_count(n_alts + 1, 1))
		return 0; /* haploid, without a GT to say so */
	if (sample)
		snprintf(who, sizeof who, "sample %d: ", sample);
	if (d->declared && (e.vl == BCF_VL_A || e.vl == BCF_VL_R || e.vl == BCF_VL_G) && n_alts > 1)
		return REFUSE(field, "%s%llu values where Number=%c needs %llu to split the record", who,
			      (unsigned long long)have, vl_char(e.vl), (unsigned long long)want);
	return WARN(VV_VCF_W_COUNT, field, "%s%llu values where Number%s%s wants %llu", who, (unsigned long long)have,
		    d->declared ? " in the header" : "=", d->declared ? "" : d->res->number, (unsigned long long)want);
}

static int check_info(vv_vcf_reader *r, struct vv_rec *rec, const struct tok *t, const struct tok *pos,
		      int n_alts)
{
	struct tok all = *t, one;
	char key[256], field[300], wk[300];
	int rc, nent = 0;

	if (tok_is(t, "."))
		return 0;
	while (next_tok(&all, &one, ';')) {
		struct tok k = one, v = {NULL, 0};
		const char *eq = memchr(one.p, '=', one.n);
		struct def d;

		nent++;
		if (one.n == 0) {
			if ((rc = WARN(VV_VCF_W_CHANGED, "INFO", "an empty entry in the ';' list; htslib drops it")) != 0)
				return rc;
			continue;
		}
		if (eq) {
			k.n = (size_t)(eq - one.p);
			v.p = eq + 1;
			v.n = one.n - k.n - 1;
		}
		snprintf(key, sizeof key, "%.*s", (int)(k.n < 255 ? k.n : 255), k.p);
		snprintf(field, sizeof field, "INFO/%s", key);
		if (k.n == 0)
			return REFUSE("INFO", "an entry without a key");
		if (!vv_vcf_key_ok(k.p, k.n, 0) && (rc = WARN(VV_VCF_W_SYNTAX, field, "not a valid INFO key")) != 0)
			return rc;
		{
			struct tok rest = all, other;
			while (next_tok(&rest, &other, ';')) {
				const char *e2 = memchr(other.p, '=', other.n);
				size_t kl = e2 ? (size_t)(e2 - other.p) : other.n;
				if (kl == k.n && memcmp(other.p, k.p, kl) == 0) {
					if (strcmp(key, "END") == 0)
						return REFUSE(field, "given twice");
					if ((rc = WARN(VV_VCF_W_SYNTAX, field, "given twice")) != 0)
						return rc;
					break;
				}
			}
		}
		get_def(r, BCF_HL_INFO, key, &d);
		if (!d.declared) {
			snprintf(wk, sizeof wk, "INFO:%s", key);
			if ((rc = vv_vcf_warn_once(r, rec, wk, rec->line, VV_VCF_W_UNDECLARED, field,
						   "INFO/%s has no header line; htslib reads it as a String", key)) != 0)
				return rc;
		}
		if (strcmp(key, "END") == 0) {
			if ((rc = check_end(r, &d, &v, pos)) != 0)
				return rc;
			continue;
		}
		if (!eq) {
			int flag = d.declared ? d.type == BCF_HT_FLAG : (d.res && d.res->type == BCF_HT_FLAG);
			if (!flag && (d.declared || d.res) &&
			    (rc = WARN(VV_VCF_W_VALUE, field, "no value, and not a Flag")) != 0)
				return rc;
			continue;
		}
		if ((d.declared && d.type == BCF_HT_FLAG) || (!d.declared && d.res && d.res->type == BCF_HT_FLAG)) {
			if ((rc = WARN(VV_VCF_W_VALUE, field, "a Flag given a value")) != 0)
				return rc;
			continue;
		}
		if ((rc = check_numbers(r, rec, field, &d, &v, 0)) != 0)
			return rc;
		if (d.res && strcmp(d.res->id, "CIGAR") == 0 && !cigar_ok(&v) &&
		    (rc = WARN(VV_VCF_W_VALUE, field, "not a CIGAR string")) != 0)
			return rc;
		if ((rc = check_count(r, rec, field, &d, &v, n_alts, 2, 0)) != 0)
			return rc;
	}
	(void)nent;
	return 0;
}

/* One FORMAT key of the record. */
struct fkey {
	char field[264];        /* "FORMAT/" + name */
	char *name;             /* into field */
	struct def d;
	int is_gt;
	int is_char;    /* declared Type=Character (htslib reads it as String) */
};

static int check_gt(vv_vcf_reader *r, int sample, const struct tok *v, int n_alts, int *ploidy)
{
	size_t i = 0;
	int p = 0;

	if (v->n == 0)
		return REFUSE("FORMAT/GT", "sample %d: empty genotype", sample);
	if (v->n == 1 && v->p[0] == '.') {
		*ploidy = 0; /* missing, ploidy unknown */
		return 0;
	}
	for (;;) {
		if (i < v->n && v->p[i] == '.') {
			i++;
		} else {
			long long a = 0;
			size_t d = 0;
			while (i < v->n && isdigit((unsigned char)v->p[i])) {
				if (a < 1000000)
					a = a * 10 + (v->p[i] - '0');
				i++, d++;
			}
			if (!d)
				return REFUSE("FORMAT/GT", "sample %d: an allele that is neither a number nor '.'", sample);
			if (a > n_alts)
				return REFUSE("FORMAT/GT", "sample %d: allele index beyond the %d ALT allele%s", sample,
					      n_alts, n_alts == 1 ? "" : "s");
		}
		p++;
		if (i == v->n)
			break;
		if (v->p[i] != '/' && v->p[i] != '|')
			return REFUSE("FORMAT/GT", "sample %d: separator other than '/' or '|'", sample);
		i++;
		if (i == v->n)
			return REFUSE("FORMAT/GT", "sample %d: ends with a separator", sample);
	}
	*ploidy = p;
	return 0;
}

static int check_format(vv_vcf_reader *r, struct vv_rec *rec, const struct tok *fmt, const struct tok *samples,
			int n_alts)
{
	struct fkey *keys = NULL;
	struct tok all = *fmt, one, scol, sall = *samples;
	int nk = 0, rc = 0, gt_at = -1, s = 0;
	char wk[300];

	if (tok_is(fmt, "."))
		return 0;
	for (size_t i = 0; i < fmt->n; i++)
		nk += fmt->p[i] == ':';
	if (nk >= VV_MAX_FMT)
		return vv_vcf_rec_errf(r, VV_ERR_VCF_LIMIT, "FORMAT", "more than %d keys", VV_MAX_FMT);
	if (!(keys = calloc((size_t)nk + 1, sizeof *keys)))
		return VV_ERR_NOMEM;
	nk = 0;
	while (next_tok(&all, &one, ':')) {
		struct fkey *k;
		char field[300];

		if (nk == VV_MAX_FMT) {
			rc = vv_vcf_rec_errf(r, VV_ERR_VCF_LIMIT, "FORMAT", "more than %d keys", VV_MAX_FMT);
			goto out;
		}
		if (one.n == 0 || tok_is(&one, ".")) {
			rc = REFUSE("FORMAT", "key %d is empty or '.'", nk + 1);
			goto out;
		}
		k = &keys[nk];
		snprintf(k->field, sizeof k->field, "FORMAT/%.*s", (int)(one.n < 255 ? one.n : 255), one.p);
		k->name = k->field + 7;
		snprintf(field, sizeof field, "%s", k->field);
		k->is_gt = strcmp(k->name, "GT") == 0;
		for (int j = 0; j < nk; j++)
			if (strcmp(keys[j].name, k->name) == 0) {
				if (k->is_gt) {
					rc = REFUSE("FORMAT/GT", "given twice");
					goto out;
				}
				if ((rc = WARN(VV_VCF_W_SYNTAX, field, "key given twice")) != 0)
					goto out;
				break;
			}
		if (!vv_vcf_key_ok(one.p, one.n, !is_v43(r)) && (rc = WARN(VV_VCF_W_SYNTAX, field, "not a valid FORMAT key")) != 0)
			goto out;
		get_def(r, BCF_HL_FMT, k->name, &k->d);
		if (k->d.declared && k->d.type == BCF_HT_STR) {
			int id = bcf_hdr_id2int(r->hdr, BCF_DT_ID, k->name);
			bcf_hrec_t *h = bcf_hdr_id2hrec(r->hdr, BCF_DT_ID, BCF_HL_FMT, id);
			int ti = h ? bcf_hrec_find_key(h, "Type") : -1;
			k->is_char = ti >= 0 && strcmp(h->vals[ti], "Character") == 0;
		}
		if (!k->d.declared) {
			snprintf(wk, sizeof wk, "FMT:%s", k->name);
			if ((rc = vv_vcf_warn_once(r, rec, wk, rec->line, VV_VCF_W_UNDECLARED, field,
						   "FORMAT/%s has no header line; htslib reads it as a String",
						   k->name)) != 0)
				goto out;
		}
		if (k->is_gt) {
			if (nk != 0) {
				rc = REFUSE("FORMAT/GT", "GT must be the first FORMAT key");
				goto out;
			}
			if (k->d.declared && k->d.type != BCF_HT_STR) {
				rc = REFUSE("FORMAT/GT", "declared with a Type other than String in the header");
				goto out;
			}
			gt_at = nk;
		}
		nk++;
	}
	while (next_tok(&sall, &scol, '\t')) {
		struct tok vall = scol, v;
		int j = 0, ploidy = 0;

		s++;
		if (scol.n == 0) {
			rc = REFUSE("FORMAT", "sample %d: empty column", s);
			goto out;
		}
		/* GT first, so that Number=G counts know the ploidy */
		if (gt_at == 0) {
			struct tok tmp = vall;
			next_tok(&tmp, &v, ':');
			if ((rc = check_gt(r, s, &v, n_alts, &ploidy)) != 0)
				goto out;
		}
		while (next_tok(&vall, &v, ':')) {
			struct fkey *k;
			const char *field;

			if (j == nk) {
				rc = REFUSE("FORMAT", "sample %d: more values than FORMAT keys", s);
				goto out;
			}
			k = &keys[j++];
			if (k->is_gt)
				continue;
			field = k->field;
			if ((rc = check_numbers(r, rec, field, &k->d, &v, 1)) != 0)
				goto out;
			if (k->is_char) {
				struct tok ca = v, c1;
				while (next_tok(&ca, &c1, ','))
					if (c1.n > 1) {
						if ((rc = WARN(VV_VCF_W_VALUE, field,
							       "sample %d: a Character value of several characters", s)) != 0)
							goto out;
						break;
					}
			}
			if ((rc = check_count(r, rec, field, &k->d, &v, n_alts, ploidy, s)) != 0)
				goto out;
		}
	}
out:
	free(keys);
	return rc;
}

int vv_vcf_check_record_text(vv_vcf_reader *r, struct vv_rec *rec, const char *line, size_t len)
{
	static const char *const names[] = {"CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT"};
	struct tok all = {line, len}, col[9], samples = {NULL, 0};
	int ncol = 0, nsample_cols = 0, n_alts = 0, rc;

	while (ncol < 9 && next_tok(&all, &col[ncol], '\t'))
		ncol++;
	if (all.p) {
		samples = all;
		nsample_cols = 1;
		for (size_t i = 0; i < all.n; i++)
			nsample_cols += all.p[i] == '\t';
	}
	if (ncol < 8)
		return vv_vcf_rec_errf(r, VV_ERR_VCF_PARSE, names[ncol], "missing (the line has %d tab-separated columns)",
				       ncol);
	if (r->nsamples == 0 && ncol > 8)
		return vv_vcf_rec_errf(r, VV_ERR_VCF_PARSE, "FORMAT",
				       "the line has FORMAT or sample columns, the header has no samples");
	if (r->nsamples > 0 && (ncol < 9 || nsample_cols != r->nsamples))
		return vv_vcf_rec_errf(r, VV_ERR_VCF_PARSE, ncol < 9 ? "FORMAT" : "samples",
				       "%d sample columns, the header has %d", ncol < 9 ? 0 : nsample_cols, r->nsamples);
	if ((rc = check_chrom(r, rec, &col[0])) != 0 || (rc = check_pos(r, &col[1])) != 0 ||
	    (rc = check_id(r, rec, &col[2])) != 0 || (rc = check_alleles(r, rec, &col[3], &col[4], &n_alts)) != 0 ||
	    (rc = check_qual(r, &col[5])) != 0 || (rc = check_filter(r, rec, &col[6])) != 0 ||
	    (rc = check_info(r, rec, &col[7], &col[1], n_alts)) != 0)
		return rc;
	if (ncol == 9 && (rc = check_format(r, rec, &col[8], &samples, n_alts)) != 0)
		return rc;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Parsed-record checks (all of them for BCF; the rest for VCF text)    */

/* Counts into *count the values of sample s in fmt, up to the first
 * end-of-vector.  False for a stored type it cannot read. */
static bool fmt_count(const bcf_fmt_t *f, int s, int *count)
{
	const uint8_t *p = f->p + (size_t)s * (size_t)f->size;
	bool end = false;
	int n = 0;

	*count = 0;
	for (int i = 0; i < f->n && !end; i++) {
		switch (f->type) {
		case BCF_BT_INT8: {
			int8_t x = ((const int8_t *)p)[i];
			if (x == bcf_int8_missing && i == 0 && f->n == 1)
				return true; /* a lone '.': no values */
			end = x == bcf_int8_vector_end;
			break;
		}
		case BCF_BT_INT16: { int16_t x; memcpy(&x, p + 2 * i, 2); end = x == bcf_int16_vector_end; break; }
		case BCF_BT_INT32: { int32_t x; memcpy(&x, p + 4 * i, 4); end = x == bcf_int32_vector_end; break; }
		case BCF_BT_FLOAT: { uint32_t x; memcpy(&x, p + 4 * i, 4); end = x == bcf_float_vector_end; break; }
		default: return false;
		}
		if (!end)
		n++;
	}
	*count = n;
	return true;
}

static bool stored_type_ok(int htype, int btype, int n, int is_gt)
{
	int is_int = btype == BCF_BT_INT8 || btype == BCF_BT_INT16 || btype == BCF_BT_INT32;

	if (n == 0 || btype == BCF_BT_NULL)
		return true;
	if (is_gt)
		return is_int;
	switch (htype) {
	case BCF_HT_INT: return is_int;
	case BCF_HT_REAL: return btype == BCF_BT_FLOAT;
	case BCF_HT_STR: return btype == BCF_BT_CHAR;
	case BCF_HT_FLAG: return true;
	default: return false;
	}
}

static int check_bcf(vv_vcf_reader *r, struct vv_rec *rec)
{
	bcf1_t *b = rec->b;
	int rc;

	if (b->pos < -1 || b->pos >= INT32_MAX - 1)
		return REFUSE("POS", "outside 0..2147483646");
	if (b->n_allele < 1 || !vv_vcf_is_bases(b->d.allele[0], strlen(b->d.allele[0])))
		return REFUSE("REF", "not a sequence of A, C, G, T, N");
	if (b->n_allele == 2 && strcmp(b->d.allele[1], ".") == 0)
		return REFUSE("ALT", "'.' stored as an allele");
	for (int i = 1; i < b->n_allele; i++) {
		const char *a = b->d.allele[i];
		if (vv_vcf_allele_class(a, strlen(a)) == VV_AL_BAD)
			return REFUSE("ALT", "allele %d is neither bases, '*', a <symbolic> allele nor a breakend", i);
		if (strcasecmp(a, b->d.allele[0]) == 0 &&
		    (rc = WARN(VV_VCF_W_ALLELE, "ALT", "allele %d equals REF", i)) != 0)
			return rc;
	}
	if (!bcf_float_is_missing(b->qual) && (isnan(b->qual) ? 0 : b->qual < 0))
		return REFUSE("QUAL", "negative");
	/* stored types must match the header: htslib's readers exit() on a
	 * FORMAT value of an unexpected type */
	for (int i = 0; i < b->n_info; i++) {
		const bcf_info_t *in = &b->d.info[i];
		if (!stored_type_ok(bcf_hdr_id2type(r->hdr, BCF_HL_INFO, in->key), in->type, in->len, 0))
			return vv_vcf_rec_errf(r, VV_ERR_VCF_PARSE, "INFO", "%s stored with a type its header line does not allow",
					       bcf_hdr_int2id(r->hdr, BCF_DT_ID, in->key));
	}
	for (int i = 0; i < b->n_fmt; i++) {
		const bcf_fmt_t *f = &b->d.fmt[i];
		int gt = strcmp(bcf_hdr_int2id(r->hdr, BCF_DT_ID, f->id), "GT") == 0;
		if (!stored_type_ok(bcf_hdr_id2type(r->hdr, BCF_HL_FMT, f->id), f->type, f->n, gt))
			return vv_vcf_rec_errf(r, VV_ERR_VCF_PARSE, "FORMAT", "%s stored with a type its header line does not allow",
					       bcf_hdr_int2id(r->hdr, BCF_DT_ID, f->id));
	}
	for (int i = 0; i < b->n_fmt; i++) {
		bcf_fmt_t *f = &b->d.fmt[i];
		const char *key = bcf_hdr_int2id(r->hdr, BCF_DT_ID, f->id);
		if (strcmp(key, "GT") != 0)
			continue;
		if (i != 0)
			return REFUSE("FORMAT/GT", "GT must be the first FORMAT key");
		if (f->type != BCF_BT_INT8 && f->type != BCF_BT_INT16 && f->type != BCF_BT_INT32)
			return REFUSE("FORMAT/GT", "not stored as integers");
		for (int s = 0; s < b->n_sample; s++)
			for (int j = 0; j < f->n; j++) {
				int32_t v;
				const uint8_t *p = f->p + (size_t)s * (size_t)f->size;
				if (f->type == BCF_BT_INT8) {
					v = ((const int8_t *)p)[j];
					if (v == bcf_int8_vector_end)
						break;
				} else if (f->type == BCF_BT_INT16) {
					int16_t x;
					memcpy(&x, p + 2 * j, 2);
					if (x == bcf_int16_vector_end)
						break;
					v = x;
				} else {
					memcpy(&v, p + 4 * j, 4);
					if (v == bcf_int32_vector_end)
						break;
				}
				if (v < 0 || ((v >> 1) - 1) >= b->n_allele)
					return REFUSE("FORMAT/GT", "sample %d: allele index beyond the ALT alleles", s + 1);
			}
	}
	/* split records need the right number of A/R/G values */
	if (b->n_allele > 2) {
		int n_alts = b->n_allele - 1;
		for (int i = 0; i < b->n_info; i++) {
			bcf_info_t *in = &b->d.info[i];
			int vl = bcf_hdr_id2length(r->hdr, BCF_HL_INFO, in->key);
			int t = bcf_hdr_id2type(r->hdr, BCF_HL_INFO, in->key);
			struct def d = {1, t, vl, 0, NULL};
			uint64_t want = expected_count(&d, n_alts, 2);
			if (t != BCF_HT_INT && t != BCF_HT_REAL)
				continue;
			if ((vl == BCF_VL_A || vl == BCF_VL_R || vl == BCF_VL_G) && (uint64_t)in->len != want)
				return vv_vcf_rec_errf(r, VV_ERR_VCF_FIELD, "INFO", "%s: %d values, Number=A/R/G needs %llu",
						       bcf_hdr_int2id(r->hdr, BCF_DT_ID, in->key), in->len,
						       (unsigned long long)want);
		}
		for (int i = 0; i < b->n_fmt; i++) {
			bcf_fmt_t *f = &b->d.fmt[i];
			int vl = bcf_hdr_id2length(r->hdr, BCF_HL_FMT, f->id);
			int t = bcf_hdr_id2type(r->hdr, BCF_HL_FMT, f->id);
			if (t != BCF_HT_INT && t != BCF_HT_REAL)
				continue;
			if (vl != BCF_VL_A && vl != BCF_VL_R && vl != BCF_VL_G)
				continue;
			for (int s = 0; s < b->n_sample; s++) {
				int c;
				struct def d = {1, t, vl, 0, NULL};
				if (!fmt_count(f, s, &c))
					return REFUSE("FORMAT", "sample %d: a value type htslib cannot read", s + 1);
				if (c == 0 || (uint64_t)c == expected_count(&d, n_alts, 2) ||
				    (vl == BCF_VL_G && (uint64_t)c == expected_count(&d, n_alts, 1)) ||
				    (c == 1 && vl != BCF_VL_A))
					continue;
				return vv_vcf_rec_errf(r, VV_ERR_VCF_FIELD, "FORMAT", "%s, sample %d: %d values, Number=A/R/G needs more",
						       bcf_hdr_int2id(r->hdr, BCF_DT_ID, f->id), s + 1, c);
			}
		}
	}
	return 0;
}

int vv_vcf_check_record_parsed(vv_vcf_reader *r, struct vv_rec *rec)
{
	bcf1_t *b = rec->b;

	if (b->n_allele < 1)
		return REFUSE("REF", "missing");
	if ((uint32_t)(b->n_allele - 1) > r->lim.max_alts)
		return vv_vcf_rec_errf(r, VV_ERR_VCF_LIMIT, "ALT", "more than %u ALT alleles", r->lim.max_alts);
	if (b->n_sample != 0 && b->n_sample != (uint32_t)r->nsamples)
		return vv_vcf_rec_errf(r, VV_ERR_VCF_PARSE, "samples", "%u sample columns, the header has %d",
				       b->n_sample, r->nsamples);
	if (r->kind == VV_VCF_IN_BCF)
		return check_bcf(r, rec);
	return 0;
}
