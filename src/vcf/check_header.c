/* Header checks: each ## line against the specification (warnings), the
 * #CHROM line (refusals), and the reserved INFO/FORMAT definitions. */
#include "vcf_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reserved keys (VCF 4.3 section 1.6.1 tables; 4.2 sections 1.4.2 and
 * 1.4.4 where it differs).  type 0: not checked. */
static const struct vv_reserved vv_reserved_info[] = {
	{"AA", "1", BCF_HT_STR, 0, 0},
	{"AC", "A", BCF_HT_INT, 1, 0},
	{"AD", "R", BCF_HT_INT, 1, 1},
	{"ADF", "R", BCF_HT_INT, 1, 1},
	{"ADR", "R", BCF_HT_INT, 1, 1},
	{"AF", "A", BCF_HT_REAL, 1, 0},
	{"AN", "1", BCF_HT_INT, 1, 0},
	{"BQ", "1", BCF_HT_REAL, 0, 0},
	{"CIGAR", "A", BCF_HT_STR, 0, 0},
	{"DB", "0", BCF_HT_FLAG, 0, 0},
	{"DP", "1", BCF_HT_INT, 1, 0},
	{"END", "1", BCF_HT_INT, 1, 0},
	{"H2", "0", BCF_HT_FLAG, 0, 0},
	{"H3", "0", BCF_HT_FLAG, 0, 0},
	{"MQ", "1", -1, 0, 0},
	{"MQ0", "1", BCF_HT_INT, 1, 0},
	{"NS", "1", BCF_HT_INT, 1, 0},
	{"SB", "4", BCF_HT_INT, 1, 0},
	{"SOMATIC", "0", BCF_HT_FLAG, 0, 0},
	{"VALIDATED", "0", BCF_HT_FLAG, 0, 0},
	{"1000G", "0", BCF_HT_FLAG, 0, 0},
};

static const struct vv_reserved vv_reserved_fmt[] = {
	{"AD", "R", BCF_HT_INT, 1, 1},
	{"ADF", "R", BCF_HT_INT, 1, 1},
	{"ADR", "R", BCF_HT_INT, 1, 1},
	{"DP", "1", BCF_HT_INT, 1, 0},
	{"EC", "A", BCF_HT_INT, 1, 0},
	{"FT", "1", BCF_HT_STR, 0, 0},
	{"GL", "G", BCF_HT_REAL, 0, 0},
	{"GLE", "G", BCF_HT_STR, 0, 0},
	{"GP", "G", BCF_HT_REAL, 0, 0},
	{"GQ", "1", BCF_HT_INT, 0, 0},
	{"GT", "1", BCF_HT_STR, 0, 0},
	{"HQ", "2", BCF_HT_INT, 0, 0},
	{"MQ", "1", BCF_HT_INT, 0, 0},
	{"PL", "G", BCF_HT_INT, 0, 0},
	{"PQ", "1", BCF_HT_INT, 0, 0},
	{"PS", "1", BCF_HT_INT, 0, 0},
};

const struct vv_reserved *vv_vcf_reserved_find(int is_fmt, const char *id, int vmajor, int vminor)
{
	const struct vv_reserved *t = is_fmt ? vv_reserved_fmt : vv_reserved_info;
	size_t n = is_fmt ? sizeof vv_reserved_fmt / sizeof *t : sizeof vv_reserved_info / sizeof *t;
	int v43 = vmajor > 4 || (vmajor == 4 && vminor >= 3);

	for (size_t i = 0; i < n; i++)
		if (strcmp(t[i].id, id) == 0)
			return t[i].min_v43 && !v43 ? NULL : &t[i];
	return NULL;
}

static const char *type_name(int t)
{
	switch (t) {
	case BCF_HT_INT: return "Integer";
	case BCF_HT_REAL: return "Float";
	case BCF_HT_STR: return "String";
	case BCF_HT_FLAG: return "Flag";
	default: return "?";
	}
}

/* One key=value of a structured line. */
struct kv {
	char key[64];
	const char *val;
	size_t vlen;
	int quoted;     /* "..." */
	int bracketed;  /* [...] */
};

#define VV_MAX_KV 64

/* Splits the inside of <...> into key=value pairs, *count of them.  False
 * with *why set when the syntax is broken. */
static bool split_kv(const char *p, const char *end, struct kv *kv, int *count, const char **why)
{
	int n = 0;

	*count = 0;
	if (p == end) {
		*why = "nothing inside <>";
		return false;
	}
	while (p < end) {
		const char *k = p;
		size_t kl;

		while (p < end && *p != '=' && *p != ',')
			p++;
		kl = (size_t)(p - k);
		if (p == end || *p != '=' || kl == 0) {
			*why = "an entry without key=value";
			return false;
		}
		if (n == VV_MAX_KV) {
			*why = "too many entries";
			return false;
		}
		snprintf(kv[n].key, sizeof kv[n].key, "%.*s", (int)(kl < 63 ? kl : 63), k);
		kv[n].quoted = kv[n].bracketed = 0;
		p++;
		if (p < end && *p == '"') {
			const char *v = ++p;
			while (p < end && *p != '"')
				p += *p == '\\' && p + 1 < end ? 2 : 1;
			if (p >= end) {
				*why = "a quoted value without its closing quote";
				return false;
			}
			kv[n].val = v;
			kv[n].vlen = (size_t)(p - v);
			kv[n].quoted = 1;
			p++;
			if (p < end && *p != ',') {
				*why = "a quote inside a quoted value is not escaped";
				return false;
			}
		} else if (p < end && *p == '[') {
			const char *v = p;
			while (p < end && *p != ']')
				p++;
			if (p >= end) {
				*why = "a '[' list without its ']'";
				return false;
			}
			p++;
			kv[n].val = v;
			kv[n].vlen = (size_t)(p - v);
			kv[n].bracketed = 1;
			if (p < end && *p != ',') {
				*why = "text after a ']' list";
				return false;
			}
		} else {
			const char *v = p;
			while (p < end && *p != ',')
				p++;
			kv[n].val = v;
			kv[n].vlen = (size_t)(p - v);
		}
		n++;
		if (p < end)
			p++; /* the ',' */
	}
	*count = n;
	return true;
}

static const struct kv *kv_get(const struct kv *kv, int n, const char *key, int *idx)
{
	for (int i = 0; i < n; i++)
		if (strcmp(kv[i].key, key) == 0) {
			if (idx)
				*idx = i;
			return &kv[i];
		}
	return NULL;
}

static bool kv_is(const struct kv *v, const char *s)
{
	return v && v->vlen == strlen(s) && strncmp(v->val, s, v->vlen) == 0;
}

static bool span_has(const char *p, size_t n, const char *set)
{
	for (size_t i = 0; i < n; i++)
		if (strchr(set, p[i]) || isspace((unsigned char)p[i]))
			return true;
	return false;
}

/* Number: an integer, A, R, G or '.' */
static bool number_ok(const struct kv *v)
{
	if (!v || v->vlen == 0 || v->quoted)
		return false;
	if (v->vlen == 1 && strchr("ARG.", v->val[0]))
		return true;
	for (size_t i = 0; i < v->vlen; i++)
		if (!isdigit((unsigned char)v->val[i]))
			return false;
	return true;
}

/* The relative order of the keys the specification lists first. */
static bool order_ok(const struct kv *kv, int n)
{
	static const char *const order[] = {"ID", "Number", "Type", "Description"};
	int last = -1;

	for (int i = 0; i < n; i++)
		for (int j = 0; j < 4; j++)
			if (strcmp(kv[i].key, order[j]) == 0) {
				if (j < last)
					return false;
				last = j;
			}
	return true;
}

#define HW(...) vv_vcf_warnf(r, NULL, ln, VV_VCF_W_HEADER, field, __VA_ARGS__)

static int check_info_format(vv_vcf_reader *r, const char *what, const struct kv *kv, int n, uint64_t ln,
			     const char *field)
{
	int is_fmt = what[0] == 'F';
	const struct kv *id = kv_get(kv, n, "ID", NULL), *num = kv_get(kv, n, "Number", NULL);
	const struct kv *type = kv_get(kv, n, "Type", NULL), *desc = kv_get(kv, n, "Description", NULL);
	const struct vv_reserved *res;
	char idbuf[64], key[96];
	int rc = 0, t = -1;

	if (!id)
		return HW("%s line without ID", what);
	if (strcmp(kv[0].key, "ID") != 0 && (rc = HW("ID must be the first entry")) != 0)
		return rc;
	if (!order_ok(kv, n) && (rc = HW("entries out of order (ID, Number, Type, Description)")) != 0)
		return rc;
	snprintf(idbuf, sizeof idbuf, "%.*s", (int)(id->vlen < 63 ? id->vlen : 63), id->val);
	snprintf(key, sizeof key, "DEF:%s/%s", what, idbuf);
	if (vv_vcf_nameset_has(&r->warned, key)) {
		rc = vv_vcf_warnf(r, NULL, ln, VV_VCF_W_HEADER_DROPPED, field,
				  "%s/%s is defined twice; htslib keeps the first definition", what, idbuf);
		if (rc)
			return rc;
	} else if ((rc = vv_vcf_nameset_add(&r->warned, key)) != 0) {
		return rc;
	}
	if (!vv_vcf_key_ok(id->val, id->vlen, 0) && (rc = HW("%s ID is not a valid key", what)) != 0)
		return rc;
	if (!num) {
		if ((rc = vv_vcf_warnf(r, NULL, ln, VV_VCF_W_HEADER_DROPPED, field,
				       "%s/%s has no Number; htslib assumes '.'", what, idbuf)) != 0)
			return rc;
	} else if (!number_ok(num)) {
		if ((rc = vv_vcf_warnf(r, NULL, ln, VV_VCF_W_HEADER_DROPPED, field,
				       "%s/%s has an invalid Number; htslib reads it as a fixed count", what, idbuf)) != 0)
			return rc;
	}
	if (!type) {
		if ((rc = vv_vcf_warnf(r, NULL, ln, VV_VCF_W_HEADER_DROPPED, field,
				       "%s/%s has no Type; htslib assumes String", what, idbuf)) != 0)
			return rc;
	} else {
		if (kv_is(type, "Integer")) t = BCF_HT_INT;
		else if (kv_is(type, "Float")) t = BCF_HT_REAL;
		else if (kv_is(type, "String") || kv_is(type, "Character")) t = BCF_HT_STR;
		else if (kv_is(type, "Flag") && !is_fmt) t = BCF_HT_FLAG;
		if (t < 0 && (rc = vv_vcf_warnf(r, NULL, ln, VV_VCF_W_HEADER_DROPPED, field,
						"%s/%s has an invalid Type; htslib reads it as String", what,
						idbuf)) != 0)
			return rc;
		if (t == BCF_HT_FLAG && num && !kv_is(num, "0") &&
		    (rc = vv_vcf_warnf(r, NULL, ln, VV_VCF_W_HEADER_DROPPED, field,
				       "Flag %s/%s must have Number=0; htslib forces it", what, idbuf)) != 0)
			return rc;
	}
	if (!desc)
		rc = HW("%s/%s has no Description", what, idbuf);
	else if (!desc->quoted)
		rc = HW("%s/%s Description must be in double quotes", what, idbuf);
	if (rc)
		return rc;
	res = vv_vcf_reserved_find(is_fmt, idbuf, r->vmajor, r->vminor);
	if (res && num && number_ok(num) && !kv_is(num, res->number) &&
	    (rc = vv_vcf_warnf(r, NULL, ln, VV_VCF_W_RESERVED, field,
			       "reserved %s/%s declared Number=%.*s; the specification says %s", what, idbuf,
			       (int)(num->vlen < 8 ? num->vlen : 8), num->val, res->number)) != 0)
		return rc;
	if (res && res->type >= 0 && t >= 0 && t != res->type &&
	    (rc = vv_vcf_warnf(r, NULL, ln, VV_VCF_W_RESERVED, field,
			       "reserved %s/%s declared Type=%s; the specification says %s", what, idbuf,
			       type_name(t), type_name(res->type))) != 0)
		return rc;
	return 0;
}

static bool v43(const vv_vcf_reader *r)
{
	return r->vmajor > 4 || (r->vmajor == 4 && r->vminor >= 3);
}

static int check_alt(vv_vcf_reader *r, const struct kv *kv, int n, uint64_t ln, const char *field)
{
	static const char *const types[] = {"DEL", "INS", "DUP", "INV", "CNV", "BND", "NON_REF", "*"};
	const struct kv *id = kv_get(kv, n, "ID", NULL), *num = kv_get(kv, n, "Number", NULL);
	const struct kv *type = kv_get(kv, n, "Type", NULL), *desc = kv_get(kv, n, "Description", NULL);
	size_t first;
	int known = 0, rc = 0;

	if (!id)
		return HW("ALT line without ID");
	if (strcmp(kv[0].key, "ID") != 0 && (rc = HW("ID must be the first entry")) != 0)
		return rc;
	if (!order_ok(kv, n) && (rc = HW("entries out of order (ID, Number, Type, Description)")) != 0)
		return rc;
	if (span_has(id->val, id->vlen, ",<>") && (rc = HW("ALT ID with a space, ',', '<' or '>'")) != 0)
		return rc;
	for (first = 0; first < id->vlen && id->val[first] != ':'; first++)
		;
	for (size_t i = 0; i < sizeof types / sizeof *types; i++)
		if (strlen(types[i]) == first && strncmp(id->val, types[i], first) == 0)
			known = 1;
	if (!known && (rc = HW("ALT ID does not start with DEL, INS, DUP, INV or CNV")) != 0)
		return rc;
	if (num && !number_ok(num) && (rc = HW("ALT Number is not valid")) != 0)
		return rc;
	if (type && !(kv_is(type, "Integer") || kv_is(type, "Float") || kv_is(type, "String") ||
		      kv_is(type, "Character") || kv_is(type, "Flag")) &&
	    (rc = HW("ALT Type is not valid")) != 0)
		return rc;
	if (!desc)
		return HW("ALT line without Description");
	if (!desc->quoted)
		return HW("ALT Description must be in double quotes");
	return 0;
}

static int check_contig(vv_vcf_reader *r, const struct kv *kv, int n, uint64_t ln, const char *field)
{
	const struct kv *id = kv_get(kv, n, "ID", NULL);
	int rc;

	if (!id || id->vlen == 0)
		return HW("contig line without ID");
	for (size_t i = 0; i < id->vlen; i++)
		if (!vv_vcf_contig_char(id->val[i], i == 0))
			return HW("contig ID has a character the specification does not allow");
	/* '*' is allowed by the 4.3 grammar after the first character, but
	 * the conformance suite refuses it; ':' is ambiguous in breakends */
	if (v43(r) && memchr(id->val, '*', id->vlen) &&
	    (rc = vv_vcf_warnf(r, NULL, ln, VV_VCF_W_CONTIG_NAME, field, "contig ID with '*'")) != 0)
		return rc;
	if (!v43(r) && memchr(id->val, ':', id->vlen))
		return HW("contig ID with ':' (VCF 4.2 forbids it)");
	return 0;
}

static int check_sample(vv_vcf_reader *r, const struct kv *kv, int n, uint64_t ln, const char *field)
{
	const struct kv *id = kv_get(kv, n, "ID", NULL);

	if (!id || id->vlen == 0)
		return HW("SAMPLE line without ID");
	if (span_has(id->val, id->vlen, ",<>*"))
		return HW("SAMPLE ID with a space, ',', '<', '>' or '*'");
	if (!v43(r)) {
		if (!kv_get(kv, n, "Genomes", NULL))
			return HW("VCF 4.2 SAMPLE line without Genomes");
		for (int i = 0; i < n; i++)
			if (kv[i].quoted && strcmp(kv[i].key, "Description") != 0)
				return HW("VCF 4.2 SAMPLE: only Description may be quoted");
	}
	return 0;
}

static int check_pedigree(vv_vcf_reader *r, const struct kv *kv, int n, uint64_t ln, const char *field)
{
	if (v43(r) && !kv_get(kv, n, "ID", NULL))
		return HW("PEDIGREE line without ID");
	for (int i = 0; i < n; i++)
		if (span_has(kv[i].val, kv[i].vlen, ":,"))
			return HW("PEDIGREE value with a space, ':' or ','");
	return 0;
}

static int check_meta(vv_vcf_reader *r, const struct kv *kv, int n, uint64_t ln, const char *field)
{
	const struct kv *num = kv_get(kv, n, "Number", NULL), *type = kv_get(kv, n, "Type", NULL);
	const struct kv *vals = kv_get(kv, n, "Values", NULL);
	int rc = 0;

	if (!kv_get(kv, n, "ID", NULL) || strcmp(kv[0].key, "ID") != 0)
		rc = HW("META line: ID must come first");
	else if (num && !number_ok(num))
		rc = HW("META Number is not valid");
	else if (type && !(kv_is(type, "Integer") || kv_is(type, "Float") || kv_is(type, "String") ||
			   kv_is(type, "Character") || kv_is(type, "Flag")))
		rc = HW("META Type is not valid");
	else if (vals && !vals->bracketed)
		rc = HW("META Values must be a [...] list");
	return rc;
}

/* A URL whose host is a bare number (ftp://8080:8080/) is no host. */
static bool url_host_numeric(const char *v, size_t n)
{
	const char *p = memmem(v, n, "://", 3), *end = v + n, *h;

	if (!p)
		return false;
	h = p + 3;
	for (p = h; p < end && *p != ':' && *p != '/'; p++)
		if (!isdigit((unsigned char)*p))
			return false;
	return p > h;
}

static int htslib_check(vv_vcf_reader *r, const char *line, size_t len, uint64_t ln, const char *field)
{
	char *copy;
	bcf_hrec_t *h;
	int consumed = 0;

	/* header lines are checked before the header is parsed: ask htslib
	 * about each one against an empty header */
	if (!r->scratch_hdr && !(r->scratch_hdr = bcf_hdr_init("r")))
		return VV_ERR_NOMEM;
	if (!(copy = strndup(line, len)))
		return VV_ERR_NOMEM;
	h = bcf_hdr_parse_line(r->scratch_hdr, copy, &consumed);
	free(copy);
	if (h) {
		bcf_hrec_destroy(h);
		return 0;
	}
	if (consumed < 0)
		return VV_ERR_NOMEM;
	return vv_vcf_warnf(r, NULL, ln, VV_VCF_W_HEADER_DROPPED, field, "htslib drops this header line");
}

int vv_vcf_check_header_line(vv_vcf_reader *r, const char *line, size_t len, uint64_t ln)
{
	const char *p = line + 2, *end = line + len, *eq;
	struct kv kv[VV_MAX_KV];
	char field[48];
	const char *why = NULL;
	size_t klen;
	int n, rc;

	eq = memchr(p, '=', (size_t)(end - p));
	klen = eq ? (size_t)(eq - p) : 0;
	snprintf(field, sizeof field, "##%.*s", (int)(klen < 40 ? klen : 40), p);
	if ((rc = htslib_check(r, line, len, ln, eq ? field : "header")) != 0)
		return rc;
	if (!eq || klen == 0 || span_has(p, klen, "<>\"")) {
		strcpy(field, "header");
		return HW("a ## line that is not ##key=value");
	}
	if (ln == 1 && klen == 10 && strncmp(p, "fileformat", 10) == 0) {
		int maj, min, used = 0;
		char v[32];
		snprintf(v, sizeof v, "%.*s", (int)((size_t)(end - eq - 1) < 31 ? (size_t)(end - eq - 1) : 31),
			 eq + 1);
		if (sscanf(v, "VCFv%d.%d%n", &maj, &min, &used) != 2 || v[used] != '\0')
			return HW("fileformat must be VCFv<major>.<minor>");
		/* known before the rest of the header is checked */
		r->vmajor = maj;
		r->vminor = min;
		return 0;
	}
	p = eq + 1;
	if (p == end)
		return HW("empty value");
	if (*p != '<') {
		if (url_host_numeric(p, (size_t)(end - p)))
			return HW("URL whose host is a number");
		return 0;
	}
	/* structured: <key=value,...> */
	while (end > p && isspace((unsigned char)end[-1]))
		end--;
	if (end[-1] != '>') {
		const char *gt = memchr(p, '>', (size_t)(end - p));
		if (gt && !memchr(gt, '"', (size_t)(end - gt)))
			return vv_vcf_warnf(r, NULL, ln, VV_VCF_W_HEADER_DROPPED, field,
					    "text after the closing '>' (htslib drops it)");
		return HW("structured line without its closing '>'");
	}
	if (!split_kv(p + 1, end - 1, kv, &n, &why))
		return HW("%s", why);
	if (klen == 4 && strncmp(line + 2, "INFO", 4) == 0)
		return check_info_format(r, "INFO", kv, n, ln, field);
	if (klen == 6 && strncmp(line + 2, "FORMAT", 6) == 0)
		return check_info_format(r, "FORMAT", kv, n, ln, field);
	if (klen == 6 && strncmp(line + 2, "FILTER", 6) == 0) {
		if (!kv_get(kv, n, "ID", NULL))
			return HW("FILTER line without ID");
		if (!kv_get(kv, n, "Description", NULL))
			return HW("FILTER line without Description");
		return 0;
	}
	if (klen == 3 && strncmp(line + 2, "ALT", 3) == 0)
		return check_alt(r, kv, n, ln, field);
	if (klen == 6 && strncmp(line + 2, "contig", 6) == 0)
		return check_contig(r, kv, n, ln, field);
	if (klen == 6 && strncmp(line + 2, "SAMPLE", 6) == 0)
		return check_sample(r, kv, n, ln, field);
	if (klen == 8 && strncmp(line + 2, "PEDIGREE", 8) == 0)
		return check_pedigree(r, kv, n, ln, field);
	if (klen == 4 && strncmp(line + 2, "META", 4) == 0)
		return check_meta(r, kv, n, ln, field);
	return 0;
}

int vv_vcf_check_chrom_line(vv_vcf_reader *r, const char *line, size_t len, uint64_t ln)
{
	static const char *const fixed[] = {"#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO"};
	const char *p = line, *end = line + len;
	struct vv_nameset names = {0};
	int col = 0, rc = 0;

	while (p <= end) {
		const char *t = memchr(p, '\t', (size_t)(end - p));
		size_t n = t ? (size_t)(t - p) : (size_t)(end - p);

		if (col < 8) {
			if (n != strlen(fixed[col]) || strncmp(p, fixed[col], n) != 0) {
				rc = vv_errf(VV_ERR_VCF_PARSE,
					     "line %llu, field #CHROM: column %d must be %s (tab-separated)",
					     (unsigned long long)ln, col + 1, fixed[col]);
				goto out;
			}
		} else if (col == 8) {
			if (n != 6 || strncmp(p, "FORMAT", 6) != 0) {
				rc = vv_errf(VV_ERR_VCF_PARSE, "line %llu, field #CHROM: column 9 must be FORMAT",
					     (unsigned long long)ln);
				goto out;
			}
		} else {
			char name[256];
			if (n == 0 || n >= sizeof name) {
				rc = vv_errf(VV_ERR_VCF_PARSE,
					     "line %llu, field #CHROM: sample column %d has an empty or over-long name",
					     (unsigned long long)ln, col - 8);
				goto out;
			}
			memcpy(name, p, n);
			name[n] = '\0';
			/* a linear set is quadratic; fine for the sample counts of
			 * clinical files, bounded by max_samples anyway */
			if ((uint64_t)(col - 8) > r->lim.max_samples) {
				rc = vv_errf(VV_ERR_VCF_LIMIT, "line %llu: more than %u samples",
					     (unsigned long long)ln, r->lim.max_samples);
				goto out;
			}
			if (vv_vcf_nameset_has(&names, name)) {
				rc = vv_errf(VV_ERR_VCF_PARSE, "line %llu, field #CHROM: sample column %d repeats a name",
					     (unsigned long long)ln, col - 8);
				goto out;
			}
			if ((rc = vv_vcf_nameset_add(&names, name)) != 0)
				goto out;
		}
		col++;
		if (!t)
			break;
		p = t + 1;
	}
	if (col < 8)
		rc = vv_errf(VV_ERR_VCF_PARSE, "line %llu, field #CHROM: fewer than 8 tab-separated columns",
			     (unsigned long long)ln);
	else if (col == 9)
		rc = vv_errf(VV_ERR_VCF_PARSE, "line %llu, field #CHROM: FORMAT column without sample columns",
			     (unsigned long long)ln);
out:
	vv_vcf_nameset_done(&names);
	return rc;
}
