/* Unit tests of src/vcf: intake from memory and fd, validation errors and
 * warnings, normalization statuses, reference windows, the writer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "varvault/core.h"
#include "varvault/vcf.h"

#define DATA "tests/data/vcf/"

static const char *HDR =
	"##fileformat=VCFv4.2\n"
	"##contig=<ID=chrA,length=80>\n"
	"##contig=<ID=chrB,length=10>\n"
	"##INFO=<ID=DP,Number=1,Type=Integer,Description=\"Depth\">\n"
	"##INFO=<ID=AC,Number=A,Type=Integer,Description=\"Allele count\">\n"
	"##INFO=<ID=END,Number=1,Type=Integer,Description=\"End\">\n"
	"##INFO=<ID=XF,Number=1,Type=Float,Description=\"A float\">\n"
	"##FORMAT=<ID=GT,Number=1,Type=String,Description=\"Genotype\">\n"
	"##FORMAT=<ID=AD,Number=R,Type=Integer,Description=\"Allelic depths\">\n"
	"##FORMAT=<ID=DP,Number=1,Type=Integer,Description=\"Depth\">\n"
	"#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\n";

static char *with_header(const char *body)
{
	size_t n = strlen(HDR) + strlen(body) + 1;
	char *s = malloc(n);

	assert_non_null(s);
	snprintf(s, n, "%s%s", HDR, body);
	return s;
}

/* Reads every variant; returns the final return code of vv_vcf_next (0 or
 * the error).  *count gets the variants seen. */
static int drain(vv_vcf_reader *r, int *count)
{
	vv_vcf_var *v;
	int rc, n = 0;

	while ((rc = vv_vcf_next(r, &v)) == 1) {
		n++;
		vv_vcf_var_free(v);
	}
	if (count)
		*count = n;
	return rc;
}

/* Opens the text and reads it all: returns the first error, or 0. */
static int run_text(const char *text, vv_ref *ref, const vv_vcf_limits *lim)
{
	vv_vcf_reader *r = NULL;
	int rc;

	vv_err_clear();
	rc = vv_vcf_open_mem(text, strlen(text), lim, ref, &r);
	if (rc == 0)
		rc = drain(r, NULL);
	vv_vcf_close(r);
	return rc;
}

static vv_ref *open_ref(const char *name)
{
	vv_ref *ref = NULL;

	assert_int_equal(vv_ref_open(name, &ref), 0);
	return ref;
}

/* ------------------------------------------------------------------ */

static void test_header_facts_and_split(void **state)
{
	char *text = with_header("chrA\t3\t.\tT\tC,G\t50\tPASS\tDP=3;AC=1,2\tGT:AD\t1/2:0,4,5\n"
				 "chrB\t5\t.\tA\t.\t.\t.\t.\tGT\t0/0\n");
	vv_vcf_reader *r = NULL;
	vv_vcf_var *v;

	(void)state;
	assert_int_equal(vv_vcf_open_mem(text, strlen(text), NULL, NULL, &r), 0);
	assert_int_equal(vv_vcf_input_kind(r), VV_VCF_IN_VCF);
	assert_string_equal(vv_vcf_fileformat(r), "VCFv4.2");
	assert_int_equal(vv_vcf_nsamples(r), 1);
	assert_int_equal(vv_vcf_ncontigs(r), 2);
	assert_string_equal(vv_vcf_contig_name(r, 1), "chrB");
	{
		int64_t clen = -1;
		assert_true(vv_vcf_contig_length(r, 0, &clen));
		assert_int_equal(clen, 80);
		assert_false(vv_vcf_contig_length(r, 99, &clen));
		assert_int_equal(clen, 0);
	}
	assert_null(vv_vcf_contig_name(r, 2));

	assert_int_equal(vv_vcf_next(r, &v), 1);
	assert_string_equal(vv_vcf_var_contig(v), "chrA");
	assert_int_equal(vv_vcf_var_pos(v), 3);
	assert_string_equal(vv_vcf_var_ref(v), "T");
	assert_string_equal(vv_vcf_var_alt(v), "C");
	assert_int_equal(vv_vcf_var_alt_index(v), 1);
	assert_int_equal(vv_vcf_var_n_alts(v), 2);
	assert_int_equal(vv_vcf_var_line(v), 12);
	assert_int_equal(vv_vcf_var_record(v), 1);
	assert_int_equal(vv_vcf_var_status(v), VV_VCF_NO_REFERENCE);
	vv_vcf_var_free(v);
	assert_int_equal(vv_vcf_next(r, &v), 1);
	assert_string_equal(vv_vcf_var_alt(v), "G");
	assert_int_equal(vv_vcf_var_alt_index(v), 2);
	vv_vcf_var_free(v);
	assert_int_equal(vv_vcf_next(r, &v), 1);
	assert_string_equal(vv_vcf_var_alt(v), ".");
	assert_int_equal(vv_vcf_var_alt_index(v), 0);
	assert_int_equal(vv_vcf_var_line(v), 13);
	/* variants outlive their reader */
	vv_vcf_close(r);
	assert_string_equal(vv_vcf_var_contig(v), "chrB");
	vv_vcf_var_free(v);
	free(text);
}

/* Each malformed line: the error names its line and field. */
static void test_refusals_name_line_and_field(void **state)
{
	static const struct {
		const char *body;
		int rc;
		const char *detail;
	} cases[] = {
		{"chrA\t.\t.\tT\tC\t.\t.\t.\tGT\t0/1\n", VV_ERR_VCF_FIELD, "line 12, field POS"},
		{"chrA\t-5\t.\tT\tC\t.\t.\t.\tGT\t0/1\n", VV_ERR_VCF_FIELD, "line 12, field POS"},
		{"chrA\t3\t.\tC,A\tC\t.\t.\t.\tGT\t0/1\n", VV_ERR_VCF_FIELD, "line 12, field REF"},
		{"chrA\t3\t.\t.\tC\t.\t.\t.\tGT\t0/1\n", VV_ERR_VCF_FIELD, "line 12, field REF"},
		{"chrA\t3\t.\tTB\tC\t.\t.\t.\tGT\t0/1\n", VV_ERR_VCF_FIELD, "line 12, field REF"},
		{"chrA\t3\t.\tT\tC,,G\t.\t.\t.\tGT\t0/1\n", VV_ERR_VCF_FIELD, "line 12, field ALT: allele 2 is empty"},
		{"chrA\t3\t.\tT\tC,\t.\t.\t.\tGT\t0/1\n", VV_ERR_VCF_FIELD, "line 12, field ALT"},
		{"chrA\t3\t.\tT\tR\t.\t.\t.\tGT\t0/1\n", VV_ERR_VCF_FIELD, "line 12, field ALT"},
		{"chrA\t3\t.\tT\t<DEL\t.\t.\t.\tGT\t0/1\n", VV_ERR_VCF_FIELD, "line 12, field ALT"},
		{"chrA\t3\t.\tT\t[chrA:5[\t.\t.\t.\tGT\t0/1\n", VV_ERR_VCF_FIELD, "line 12, field ALT"},
		{"chrA\t3\t.\tT\tC\tgood\t.\t.\tGT\t0/1\n", VV_ERR_VCF_FIELD, "line 12, field QUAL"},
		{"chrA\t3\t.\tT\tC\t-1\t.\t.\tGT\t0/1\n", VV_ERR_VCF_FIELD, "line 12, field QUAL"},
		{"chrA\t3\t.\tT\tC\t.\tq10;\t.\tGT\t0/1\n", VV_ERR_VCF_FIELD, "line 12, field FILTER"},
		{"chrA\t3\t.\tT\tC\t.\tPASS;q10\t.\tGT\t0/1\n", VV_ERR_VCF_FIELD, "line 12, field FILTER"},
		{"chr A\t3\t.\tT\tC\t.\t.\t.\tGT\t0/1\n", VV_ERR_VCF_FIELD, "line 12, field CHROM"},
		{"chrA\t3\t.\tT\tC\t.\t.\t.\tGT\t0/2\n", VV_ERR_VCF_FIELD, "line 12, field FORMAT/GT: sample 1"},
		{"chrA\t3\t.\tT\tC\t.\t.\t.\tGT\t0/|1\n", VV_ERR_VCF_FIELD, "line 12, field FORMAT/GT"},
		{"chrA\t3\t.\tT\tC\t.\t.\t.\tDP:GT\t3:0/1\n", VV_ERR_VCF_FIELD, "line 12, field FORMAT/GT"},
		{"chrA\t3\t.\tT\tC\t.\t.\t.\tGT:DP\t0/1:x\n", VV_ERR_VCF_FIELD, "line 12, field FORMAT/DP"},
		{"chrA\t3\t.\tT\tC\t.\t.\tEND=2\tGT\t0/1\n", VV_ERR_VCF_FIELD, "line 12, field INFO/END"},
		{"chrA\t3\t.\tT\tC\t.\t.\tEND=abc\tGT\t0/1\n", VV_ERR_VCF_FIELD, "line 12, field INFO/END"},
		{"chrA\t3\t.\tT\tC,G\t.\t.\tAC=1\tGT\t0/1\n", VV_ERR_VCF_FIELD, "line 12, field INFO/AC"},
		{"chrA\t3\t.\tT\tC,G\t.\t.\t.\tGT:AD\t0/1:1,2\n", VV_ERR_VCF_FIELD, "line 12, field FORMAT/AD"},
		{"chrA\t3\t.\tT\tC\t.\t.\t.\n", VV_ERR_VCF_PARSE, "line 12, field FORMAT"},
		{"chrA\t3\t.\tT\tC\t.\t.\t.\tGT\t0/1\t0/1\n", VV_ERR_VCF_PARSE, "line 12, field samples"},
		{"chrA\t3\t.\tT\tC\n", VV_ERR_VCF_PARSE, "line 12, field QUAL"},
		{"chrA\t3\t.\tT\tC\t.\t.\t.\tGT\t0/1\n#late header\n", VV_ERR_VCF_PARSE, "line 13"},
		{"chrA\t3\t.\tT\tC\t.\t.\t.\tGT:GT\t0/1:0/1\n", VV_ERR_VCF_FIELD, "line 12, field FORMAT/GT"},
		/* duplicated fields that varvault interprets: refused, whatever the values */
		{"chrA\t3\t.\tTA\tT\t.\t.\tEND=4;END=4\tGT\t0/1\n", VV_ERR_VCF_FIELD, "line 12, field INFO/END: given twice"},
		{"chrA\t3\t.\tTA\tT\t.\t.\tEND=4;DP=3;END=5\tGT\t0/1\n", VV_ERR_VCF_FIELD, "line 12, field INFO/END: given twice"},
		{"chrA\t3\t.\tTA\tT\t.\t.\tDP=3;END;END=4\tGT\t0/1\n", VV_ERR_VCF_FIELD, "line 12, field INFO/END: given twice"},
		{"chrA\t3\t.\tT\tC\t.\t.\t.\tGT:DP:GT\t0/1:3:0/1\n", VV_ERR_VCF_FIELD, "line 12, field FORMAT/GT"},
		{"chrA\t3\t.\tT\tC\t.\tPASS;PASS\t.\tGT\t0/1\n", VV_ERR_VCF_FIELD, "line 12, field FILTER: the same filter twice"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *text = with_header(cases[i].body);
		int rc = run_text(text, NULL, NULL);

		if (rc != cases[i].rc || !strstr(vv_err_detail(), cases[i].detail))
			fail_msg("case %zu: rc %d (%s), detail \"%s\", wanted \"%s\"", i, rc, vv_strerror(rc),
				 vv_err_detail(), cases[i].detail);
		free(text);
	}
}

/* INFO/END at its edges: equal to POS and the largest htslib holds are
 * accepted; one less than POS and one more than that largest are not. */
static void test_end_edges(void **state)
{
	static const struct {
		const char *body;
		int rc;
	} cases[] = {
		{"chrA\t3\t.\tT\tC\t.\t.\tEND=3\tGT\t0/1\n", 0},
		{"chrA\t3\t.\tT\tC\t.\t.\tEND=2\tGT\t0/1\n", VV_ERR_VCF_FIELD},
		{"chrA\t3\t.\tT\t<DEL>\t.\t.\tEND=2147483646\tGT\t0/1\n", 0},
		{"chrA\t3\t.\tT\t<DEL>\t.\t.\tEND=2147483647\tGT\t0/1\n", VV_ERR_VCF_FIELD},
	};

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *text = with_header(cases[i].body);
		int rc = run_text(text, NULL, NULL);
		if (rc != cases[i].rc)
			fail_msg("case %zu: rc %d (%s), want %d", i, rc, vv_err_detail(), cases[i].rc);
		free(text);
	}
}

/* Messages name places, never genotype or sequence values. */
static void test_messages_carry_no_data(void **state)
{
	char *text = with_header("chrA\t3\t.\tTTGACCATTB\tC\t.\t.\t.\tGT\t0/1\n");
	char *t2 = with_header("chrA\t3\t.\tT\tC\t.\t.\t.\tGT\t0/7\n");

	(void)state;
	assert_int_equal(run_text(text, NULL, NULL), VV_ERR_VCF_FIELD);
	assert_null(strstr(vv_err_detail(), "TTGACC"));
	assert_int_equal(run_text(t2, NULL, NULL), VV_ERR_VCF_FIELD);
	assert_null(strstr(vv_err_detail(), "0/7"));
	free(text);
	free(t2);
}

static void test_header_refusals(void **state)
{
	static const struct {
		const char *text;
		const char *detail;
	} cases[] = {
		{"", "line 1: the input is empty"},
		{"hello world\n", "line 1: not a VCF"},
		{"{\"htsget\":{\"format\":\"VCF\",\"urls\":[{\"url\":\"http://127.0.0.1:1/x\"}]}}\n", "line 1: not a VCF"},
		{"crypt4gh\x01\0\0\0\x01\0\0\0", "line 1: not a VCF"},
		{"##fileformat=VCFv4.2\njunk line\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n", "line 2, field header"},
		{"##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\n", "line 2, field #CHROM"},
		{"##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tA\tA\n", "repeats a name"},
		{"##fileformat=VCFv4.2\n#CHROM POS ID REF ALT QUAL FILTER INFO\n", "line 2, field #CHROM"},
		{"##fileformat=VCFv4.2\n##INFO=<ID=X,Number=1,Type=String,Description=\"x\">\n", "line 3: the input ends before the #CHROM line"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		vv_vcf_reader *r = NULL;
		size_t len = i == 3 ? 16 : strlen(cases[i].text);
		int rc;

		vv_err_clear();
		rc = vv_vcf_open_mem(cases[i].text, len, NULL, NULL, &r);
		if (rc >= 0 || !strstr(vv_err_detail(), cases[i].detail))
			fail_msg("case %zu: rc %d, detail \"%s\", wanted \"%s\"", i, rc, vv_err_detail(), cases[i].detail);
		assert_null(r);
	}
}

/* A refusal is sticky, and the reader can still be closed. */
static void test_refusal_is_sticky(void **state)
{
	char *text = with_header("chrA\t3\t.\tT\tC\t.\t.\t.\tGT\t0/1\n"
				 "chrA\t4\t.\tT\tC\tbad\t.\t.\tGT\t0/1\n"
				 "chrA\t5\t.\tT\tC\t.\t.\t.\tGT\t0/1\n");
	vv_vcf_reader *r = NULL;
	vv_vcf_var *v;
	int n = 0;

	(void)state;
	assert_int_equal(vv_vcf_open_mem(text, strlen(text), NULL, NULL, &r), 0);
	assert_int_equal(drain(r, &n), VV_ERR_VCF_FIELD);
	assert_int_equal(n, 1);
	vv_err_clear();
	assert_int_equal(vv_vcf_next(r, &v), VV_ERR_VCF_FIELD);
	assert_null(v);
	assert_non_null(strstr(vv_err_detail(), "line 13, field QUAL"));
	vv_vcf_close(r);
	free(text);
}

static int has_warning(const vv_vcf_reader *r, enum vv_vcf_warn kind, uint64_t line, const char *field)
{
	for (size_t i = 0; i < vv_vcf_nwarnings(r); i++) {
		const vv_vcf_warning *w = vv_vcf_warning_at(r, i);
		if (w->kind == kind && w->line == line && strcmp(w->field, field) == 0)
			return 1;
	}
	return 0;
}

/* Every value htslib changes is a warning with its line and field. */
static void test_warnings_for_what_htslib_changes(void **state)
{
	char *text = with_header("chrA\t3\t.\tT\tC\t.\t.\tDP=2147483648\tGT\t0/1\n"
				 "chrA\t4\t.\tT\tC\t.\t.\tDP=-2147483645\tGT\t0/1\n"
				 "chrA\t5\t.\tT\tC\t.\t.\tDP=1.5\tGT\t0/1\n"
				 "chrA\t6\t.\tT\tC\t.\t.\tXF=abc\tGT\t0/1\n"
				 "chrA\t7\t.\tT\tC\t.\t.\tDP=3;;XF=1\tGT:DP\t0/1:99999999999\n"
				 "chrA\t8\t.\tT\tC\t.\t.\tNEW=1\tGT:AD\t0/1:1,2,3\n"
				 "chrA\t2\t.\tT\tT\t.\t.\t.\tGT\t0/1\n"
				 "chrA\t9\t.\tT\tC\t.\t.\tDP=1;DP=2\tGT:DP:DP\t0/1:1:2\n");
	vv_vcf_reader *r = NULL;
	vv_vcf_var *v;
	int n = 0;

	(void)state;
	assert_int_equal(vv_vcf_open_mem(text, strlen(text), NULL, NULL, &r), 0);
	assert_int_equal(vv_vcf_next(r, &v), 1);
	/* the variant carries its record's warnings */
	assert_int_equal(vv_vcf_var_nwarnings(v), 1);
	assert_int_equal(vv_vcf_var_warning(v, 0)->kind, VV_VCF_W_TO_MISSING);
	assert_string_equal(vv_vcf_var_warning(v, 0)->field, "INFO/DP");
	assert_null(vv_vcf_var_warning(v, 1));
	vv_vcf_var_free(v);
	assert_int_equal(drain(r, &n), 0);
	assert_int_equal(n, 7);
	assert_true(has_warning(r, VV_VCF_W_TO_MISSING, 12, "INFO/DP"));
	/* a duplicated key varvault does not interpret: a warning, not a refusal */
	assert_true(has_warning(r, VV_VCF_W_SYNTAX, 19, "INFO/DP"));
	assert_true(has_warning(r, VV_VCF_W_SYNTAX, 19, "FORMAT/DP"));
	assert_true(has_warning(r, VV_VCF_W_TO_MISSING, 13, "INFO/DP"));
	assert_true(has_warning(r, VV_VCF_W_CHANGED, 14, "INFO/DP"));
	assert_true(has_warning(r, VV_VCF_W_TO_MISSING, 15, "INFO/XF"));
	assert_true(has_warning(r, VV_VCF_W_CHANGED, 16, "INFO"));
	assert_true(has_warning(r, VV_VCF_W_TO_MISSING, 16, "FORMAT/DP"));
	assert_true(has_warning(r, VV_VCF_W_UNDECLARED, 17, "INFO/NEW"));
	assert_true(has_warning(r, VV_VCF_W_COUNT, 17, "FORMAT/AD"));
	assert_true(has_warning(r, VV_VCF_W_ALLELE, 18, "ALT"));
	assert_true(has_warning(r, VV_VCF_W_ORDER, 18, "POS"));
	assert_true(vv_vcf_warnings_of(r, VV_VCF_W_TO_MISSING) >= 4);
	assert_int_equal(vv_vcf_warnings_total(r), vv_vcf_nwarnings(r));
	assert_string_equal(vv_vcf_warn_name(VV_VCF_W_TO_MISSING), "TO_MISSING");
	vv_vcf_close(r);
	free(text);
}

static void test_limits(void **state)
{
	char *text = with_header("chrA\t3\t.\tT\tC\t.\t.\t.\tGT\t0/1\n"
				 "chrA\t4\t.\tT\tC,G,A\t.\t.\t.\tGT\t0/1\n");
	vv_vcf_limits lim;

	(void)state;
	vv_vcf_limits_default(&lim);
	lim.max_records = 1;
	assert_int_equal(run_text(text, NULL, &lim), VV_ERR_VCF_LIMIT);
	assert_non_null(strstr(vv_err_detail(), "line 13"));
	vv_vcf_limits_default(&lim);
	lim.max_alts = 2;
	assert_int_equal(run_text(text, NULL, &lim), VV_ERR_VCF_LIMIT);
	assert_non_null(strstr(vv_err_detail(), "line 13, field ALT"));
	vv_vcf_limits_default(&lim);
	lim.max_line_bytes = 40;
	assert_int_equal(run_text(text, NULL, &lim), VV_ERR_VCF_LIMIT);
	vv_vcf_limits_default(&lim);
	lim.max_input_bytes = 10;
	assert_int_equal(run_text(text, NULL, &lim), VV_ERR_VCF_LIMIT);
	vv_vcf_limits_default(&lim);
	lim.max_header_bytes = 50;
	assert_int_equal(run_text(text, NULL, &lim), VV_ERR_VCF_LIMIT);
	vv_vcf_limits_default(&lim);
	lim.max_text_bytes = 200;
	assert_int_equal(run_text(text, NULL, &lim), VV_ERR_VCF_LIMIT);
	vv_vcf_limits_default(&lim);
	lim.max_warnings = 1;
	assert_int_equal(run_text(text, NULL, &lim), 0);
	/* the limits name their key */
	vv_vcf_limits_default(&lim);
	lim.max_records = 1;
	assert_int_equal(run_text(text, NULL, &lim), VV_ERR_VCF_LIMIT);
	assert_non_null(strstr(vv_err_detail(), "max_records"));
	vv_vcf_limits_default(&lim);
	lim.max_text_bytes = 200;
	assert_int_equal(run_text(text, NULL, &lim), VV_ERR_VCF_LIMIT);
	assert_non_null(strstr(vv_err_detail(), "max_text_bytes"));
	free(text);
	/* undeclared names: each would grow htslib's header */
	text = with_header("chrA\t3\t.\tT\tC\t.\t.\tU1=1\tGT\t0/1\n"
			   "chrA\t4\t.\tT\tC\t.\t.\tU2=1\tGT\t0/1\n"
			   "chrA\t5\t.\tT\tC\t.\t.\tU1=2;U3=1\tGT\t0/1\n");
	vv_vcf_limits_default(&lim);
	lim.max_undeclared = 2;
	assert_int_equal(run_text(text, NULL, &lim), VV_ERR_VCF_LIMIT);
	assert_non_null(strstr(vv_err_detail(), "line 14, field INFO"));
	assert_non_null(strstr(vv_err_detail(), "max_undeclared"));
	lim.max_undeclared = 3;
	assert_int_equal(run_text(text, NULL, &lim), 0);
	free(text);
}

/* At its end the reader lets its input go (wiped) and keeps answering 0;
 * its header and warnings stay. */
static void test_end_releases_input(void **state)
{
	char *text = with_header("chrA\t3\t.\tT\tC\t.\t.\tU1=1\tGT\t0/1\n");
	vv_vcf_reader *r = NULL;
	vv_vcf_var *v = NULL;

	(void)state;
	assert_int_equal(vv_vcf_open_mem(text, strlen(text), NULL, NULL, &r), 0);
	assert_int_equal(vv_vcf_next(r, &v), 1);
	vv_vcf_var_free(v);
	assert_int_equal(vv_vcf_next(r, &v), 0);
	assert_null(v);
	assert_int_equal(vv_vcf_next(r, &v), 0);
	assert_int_equal(vv_vcf_records(r), 1);
	assert_int_equal(vv_vcf_warnings_of(r, VV_VCF_W_UNDECLARED), 1);
	assert_int_equal(vv_vcf_nsamples(r), 1);
	vv_vcf_close(r);
	free(text);
}

/* ------------------------------------------------------------------ */

static void test_reference_and_windows(void **state)
{
	static const char *names[] = {DATA "ref.fa", DATA "ref.fa.gz"};
	static const char *md5s[] = {"e834a65ea500932d7359b481ce9a8d6f", "c438035888a172cae7e21218ebb14fe2"};

	(void)state;
	for (int k = 0; k < 2; k++) {
		vv_ref *ref = open_ref(names[k]);
		vv_ref_window w;
		char hex[33], *seq = NULL;
		size_t len = 0;

		assert_string_equal(vv_ref_name(ref), k ? "ref.fa.gz" : "ref.fa");
		assert_int_equal(vv_ref_ncontigs(ref), 3);
		assert_string_equal(vv_ref_contig_name(ref, 2), "chrC");
		int64_t clen = -1;
		assert_true(vv_ref_contig_length(ref, "chrA", &clen));
		assert_int_equal(clen, 80);
		assert_false(vv_ref_contig_length(ref, "chrZ", &clen));
		assert_int_equal(clen, 0);
		assert_int_equal(vv_ref_md5(ref, hex), 0);
		assert_string_equal(hex, md5s[k]);
		if (k == 1) {
			/* a digest given by the caller is used as is, and checked */
			vv_ref *given = open_ref(names[k]);
			assert_int_equal(vv_ref_set_md5(given, "0123456789abcdef0123456789abcdef"), 0);
			assert_int_equal(vv_ref_md5(given, hex), 0);
			assert_string_equal(hex, "0123456789abcdef0123456789abcdef");
			assert_int_equal(vv_ref_set_md5(given, "0123456789ABCDEF0123456789abcdef"), VV_ERR_INVAL);
			assert_int_equal(vv_ref_set_md5(given, "0123"), VV_ERR_INVAL);
			vv_ref_free(given);
		}
		assert_int_equal(vv_ref_contig_md5(ref, "chrA", hex), 0);
		assert_string_equal(hex, "5b7845f6bb85756a0847c328dedd6b9a");
		assert_int_equal(vv_ref_contig_md5(ref, "chrC", hex), 0);
		assert_string_equal(hex, "2cd029e78abdf4aa5a7e1e3cb7b8d0f5");

		assert_int_equal(vv_ref_fetch(ref, "chrA", 19, 22, &seq, &len), 0);
		assert_string_equal(seq, "CACC");
		free(seq);
		assert_int_equal(vv_ref_fetch(ref, "chrB", 8, 20, &seq, &len), 0);
		assert_int_equal(len, 3);
		free(seq);
		assert_int_equal(vv_ref_fetch(ref, "chrB", 11, 12, &seq, &len), VV_ERR_RANGE);
		assert_int_equal(vv_ref_fetch(ref, "chrZ", 1, 2, &seq, &len), VV_ERR_REF_CONTIG);

		vv_ref_window_init(&w);
		/* centred, across the N run */
		assert_int_equal(vv_ref_window_get(ref, "chrA", 40, 1, 11, &w), 0);
		assert_string_equal(w.seq, "AAGTNNNNNNN");
		assert_int_equal(w.start, 35);
		assert_int_equal(w.offset, 5);
		assert_int_equal(w.n_count, 7);
		assert_int_equal(w.pad_right, 0);
		/* shifted at the contig start and end */
		assert_int_equal(vv_ref_window_get(ref, "chrA", 2, 1, 11, &w), 0);
		assert_int_equal(w.start, 1);
		assert_int_equal(w.offset, 1);
		assert_int_equal(vv_ref_window_get(ref, "chrA", 79, 2, 11, &w), 0);
		assert_int_equal(w.start, 70);
		assert_int_equal(w.offset, 9);
		assert_string_equal(w.seq + w.offset, "GA");
		/* even remainder: the extra base goes right */
		assert_int_equal(vv_ref_window_get(ref, "chrA", 30, 2, 10, &w), 0);
		assert_int_equal(w.offset, 4);
		/* padded: contig shorter than the window */
		assert_int_equal(vv_ref_window_get(ref, "chrB", 5, 1, 16, &w), 0);
		assert_string_equal(w.seq, "ACGTAACCGGNNNNNN");
		assert_int_equal(w.start, 1);
		assert_int_equal(w.offset, 4);
		assert_int_equal(w.pad_right, 6);
		assert_int_equal(w.n_count, 6);
		/* soft-masked and IUPAC bases */
		assert_int_equal(vv_ref_window_get(ref, "chrC", 1, 1, 16, &w), 0);
		assert_string_equal(w.seq, "ACGTNNACGTNNACGT");
		assert_int_equal(w.n_count, 4);
		assert_int_equal(vv_ref_window_get(ref, "chrA", 1, 12, 11, &w), VV_ERR_RANGE);
		assert_int_equal(vv_ref_window_get(ref, "chrA", 80, 2, 11, &w), VV_ERR_RANGE);
		assert_int_equal(vv_ref_window_get(ref, "chrQ", 1, 1, 11, &w), VV_ERR_REF_CONTIG);
		vv_ref_window_done(&w);
		vv_ref_window_done(&w);
		vv_ref_free(ref);
	}
}

static void test_reference_open_errors(void **state)
{
	vv_ref *ref = NULL;

	(void)state;
	assert_int_equal(vv_ref_open(DATA "missing.fa", &ref), VV_ERR_REF_IO);
	assert_null(ref);
	assert_int_equal(vv_ref_open(DATA "small.vcf", &ref), VV_ERR_REF_IO);
	assert_non_null(strstr(vv_err_detail(), ".fai"));
	assert_int_equal(vv_ref_open("http://127.0.0.1:1/ref.fa", &ref), VV_ERR_INVAL);
	assert_int_equal(vv_ref_open("", &ref), VV_ERR_INVAL);
	vv_ref_free(NULL);
}

/* One record per status, on the synthetic reference. */
static void test_normalization_statuses(void **state)
{
	static const struct {
		const char *line;
		int64_t pos;
		const char *ref, *alt;
		enum vv_vcf_status st;
	} cases[] = {
		{"chrA\t24\t.\tCC\tC", 20, "AC", "A", VV_VCF_INDEL},         /* left-aligned in the C run */
		{"chrA\t20\t.\tA\tACA", 11, "T", "TAC", VV_VCF_INDEL},       /* left-aligned in the CA repeat */
		{"chrA\t63\t.\tTT\tT", 61, "GT", "G", VV_VCF_INDEL},
		{"chrA\t61\t.\tGTT\tGAT", 62, "T", "A", VV_VCF_SNV},          /* trimmed both sides */
		{"chrA\t61\t.\tGT\tCA", 61, "GT", "CA", VV_VCF_MNV},
		{"chrA\t61\t.\tGTT\tA", 61, "GTT", "A", VV_VCF_COMPLEX},
		{"chrA\t1\t.\tc\tt", 1, "C", "T", VV_VCF_KEEP_REF_MISMATCH},
		{"chrA\t45\t.\tN\tA", 45, "N", "A", VV_VCF_KEEP_N},
		{"chrA\t61\t.\tG\tG", 61, "G", "G", VV_VCF_KEEP_ALT_IS_REF},
		{"chrA\t70\t.\tT\t*", 70, "T", "*", VV_VCF_KEEP_STAR},
		{"chrA\t70\t.\tT\t<DEL>", 70, "T", "<DEL>", VV_VCF_KEEP_SYMBOLIC},
		{"chrA\t70\t.\tT\t<NON_REF>", 70, "T", "<NON_REF>", VV_VCF_KEEP_REF_BLOCK},
		{"chrA\t70\t.\tT\t<*>", 70, "T", "<*>", VV_VCF_KEEP_REF_BLOCK},
		{"chrA\t70\t.\tT\tT[chrB:5[", 70, "T", "T[chrB:5[", VV_VCF_KEEP_BREAKEND},
		{"chrA\t70\t.\tT\t.T", 70, "T", ".T", VV_VCF_KEEP_BREAKEND},
		{"chrA\t61\t.\tGTT\t.", 61, "G", ".", VV_VCF_KEEP_NO_ALT},
		{"chrB\t10\t.\tGA\tG", 10, "GA", "G", VV_VCF_KEEP_OUTSIDE},
		{"chrB\t0\t.\tA\tG", 0, "A", "G", VV_VCF_KEEP_OUTSIDE},
		{"chrZ\t5\t.\tA\tG", 5, "A", "G", VV_VCF_KEEP_NO_CONTIG},
		/* contig starts: nothing to pad with at position 1, so a shared
		 * last base stays (bcftools 1.16 gives the same for each row) */
		{"chrA\t1\t.\tGA\tA", 1, "GA", "A", VV_VCF_COMPLEX},
		{"chrA\t1\t.\tG\tAG", 1, "G", "AG", VV_VCF_COMPLEX},
		{"chrA\t1\t.\tGAT\tGT", 1, "GA", "G", VV_VCF_INDEL},
		{"chrA\t1\t.\tG\tC", 1, "G", "C", VV_VCF_SNV},
		{"chrA\t2\t.\tAT\tT", 1, "GA", "G", VV_VCF_INDEL},         /* aligned onto position 1 */
		{"chrA\t2\t.\tA\tAGA", 1, "G", "GAG", VV_VCF_INDEL},
		/* contig ends: REF ending on the last base is inside, one past is not */
		{"chrA\t79\t.\tGA\tG", 79, "GA", "G", VV_VCF_INDEL},
		{"chrA\t80\t.\tA\tG", 80, "A", "G", VV_VCF_SNV},
		{"chrA\t80\t.\tA\tAC", 80, "A", "AC", VV_VCF_INDEL},
		{"chrA\t80\t.\tAC\tA", 80, "AC", "A", VV_VCF_KEEP_OUTSIDE},
		{"chrA\t81\t.\tA\tG", 81, "A", "G", VV_VCF_KEEP_OUTSIDE},
		{"chrB\t9\t.\tGG\tG", 8, "CG", "C", VV_VCF_INDEL},           /* aligned back from the end */
		{"chrB\t10\t.\tG\tGG", 8, "C", "CG", VV_VCF_INDEL},
	};
	vv_ref *ref = open_ref(DATA "ref.fa");

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char body[256], *text;
		vv_vcf_reader *r = NULL;
		vv_vcf_var *v = NULL;
		int rc;

		snprintf(body, sizeof body, "%s\t.\t.\t.\tGT\t0/0\n", cases[i].line);
		text = with_header(body);
		rc = vv_vcf_open_mem(text, strlen(text), NULL, ref, &r);
		if (rc == 0)
			rc = vv_vcf_next(r, &v);
		if (rc != 1)
			fail_msg("case %zu: rc %d: %s", i, rc, vv_err_detail());
		/* the input's POS is kept beside the normalized one */
		if (vv_vcf_var_orig_pos(v) != strtoll(strchr(cases[i].line, '\t') + 1, NULL, 10))
			fail_msg("case %zu: orig_pos %lld", i, (long long)vv_vcf_var_orig_pos(v));
		if (vv_vcf_var_pos(v) != cases[i].pos || strcmp(vv_vcf_var_ref(v), cases[i].ref) != 0 ||
		    strcmp(vv_vcf_var_alt(v), cases[i].alt) != 0 || vv_vcf_var_status(v) != cases[i].st)
			fail_msg("case %zu: got %lld %s>%s %s", i, (long long)vv_vcf_var_pos(v), vv_vcf_var_ref(v),
				 vv_vcf_var_alt(v), vv_vcf_status_name(vv_vcf_var_status(v)));
		assert_int_equal(vv_vcf_status_scorable(cases[i].st), cases[i].st < VV_VCF_KEEP_SYMBOLIC);
		if (vv_vcf_status_scorable(cases[i].st)) {
			vv_ref_window w;
			vv_ref_window_init(&w);
			assert_int_equal(vv_vcf_var_window(ref, v, 21, &w), 0);
			assert_memory_equal(w.seq + w.offset, cases[i].ref, strlen(cases[i].ref));
			vv_ref_window_done(&w);
		}
		vv_vcf_var_free(v);
		vv_vcf_close(r);
		free(text);
	}
	assert_string_equal(vv_vcf_status_name(VV_VCF_KEEP_REF_MISMATCH), "ref_mismatch");
	assert_string_equal(vv_vcf_status_name((enum vv_vcf_status)999), "unknown");
	vv_ref_free(ref);
}

static char *slurp(const char *path, size_t *len)
{
	char *buf = NULL;

	assert_int_equal(vv_read_file(path, 1 << 20, &buf, len), 0);
	return buf;
}

/* The same records as VCF text, BCF, bgzipped (from the writer) and
 * through a pipe give the same variants. */
static void test_formats_and_fd(void **state)
{
	size_t len = 0, blen = 0;
	char *vcf = slurp(DATA "small.vcf", &len), *bcf = slurp(DATA "small.bcf", &blen);
	vv_ref *ref = open_ref(DATA "ref.fa");
	vv_vcf_reader *r = NULL;
	vv_vcf_writer *w = NULL;
	vv_vcf_var *v;
	vv_sbuf out;
	int n = 0, fds[2];

	(void)state;
	assert_int_equal(vv_vcf_open_mem(bcf, blen, NULL, ref, &r), 0);
	assert_int_equal(vv_vcf_input_kind(r), VV_VCF_IN_BCF);
	assert_int_equal(vv_vcf_nsamples(r), 2);
	assert_int_equal(vv_vcf_next(r, &v), 1);
	assert_int_equal(vv_vcf_var_pos(v), 20);
	assert_string_equal(vv_vcf_var_ref(v), "AC");
	assert_int_equal(vv_vcf_var_line(v), 0);
	assert_int_equal(vv_vcf_var_record(v), 1);
	vv_vcf_var_free(v);
	assert_int_equal(drain(r, &n), 0);
	assert_int_equal(n, 3);
	vv_vcf_close(r);

	/* written as BGZF into secure memory, read back */
	assert_int_equal(vv_vcf_open_mem(vcf, len, NULL, ref, &r), 0);
	assert_int_equal(vv_vcf_writer_new(r, -1, 1 << 20, &w), 0);
	while (vv_vcf_next(r, &v) == 1) {
		assert_int_equal(vv_vcf_writer_write(w, v, NULL, 0), 0);
		vv_vcf_var_free(v);
	}
	assert_int_equal(vv_vcf_writer_finish(w, &out), 0);
	vv_vcf_writer_free(w);
	vv_vcf_close(r);
	assert_true(out.len > 28);
	assert_int_equal(vv_vcf_open_mem(out.data, out.len, NULL, ref, &r), 0);
	assert_int_equal(vv_vcf_input_kind(r), VV_VCF_IN_VCF_BGZF);
	/* sorted on output: the left-aligned insertion (11) comes first */
	assert_int_equal(vv_vcf_next(r, &v), 1);
	assert_int_equal(vv_vcf_var_pos(v), 11);
	assert_string_equal(vv_vcf_var_alt(v), "TAC");
	assert_int_equal(vv_vcf_var_status(v), VV_VCF_INDEL);
	vv_vcf_var_free(v);
	assert_int_equal(drain(r, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(vv_vcf_warnings_of(r, VV_VCF_W_ORDER), 0);
	vv_vcf_close(r);
	vv_sbuf_done(&out);

	/* a pipe, as the streaming decryptor feeds it */
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(vv_write_all(fds[1], vcf, len), 0);
	close(fds[1]);
	assert_int_equal(vv_vcf_open_fd(fds[0], NULL, NULL, &r), 0);
	assert_int_equal(drain(r, &n), 0);
	assert_int_equal(n, 4);
	vv_vcf_close(r);
	assert_int_equal(vv_vcf_open_fd(-1, NULL, NULL, &r), VV_ERR_INVAL);

	vv_ref_free(ref);
	free(vcf);
	free(bcf);
}

static void test_writer_api(void **state)
{
	size_t len = 0;
	char *vcf = slurp(DATA "small.vcf", &len);
	vv_vcf_reader *r = NULL;
	vv_vcf_writer *w = NULL;
	vv_vcf_var *v;
	vv_sbuf out;
	float llr = -1.5f;
	int32_t ints[2] = {1, 2};

	(void)state;
	assert_int_equal(vv_vcf_open_mem(vcf, len, NULL, NULL, &r), 0);
	assert_int_equal(vv_vcf_writer_new(r, -1, 0, &w), 0);
	assert_int_equal(vv_vcf_writer_header_line(w, "##varvault_model=demo-1"), 0);
	assert_int_equal(vv_vcf_writer_header_line(w, "no hashes"), VV_ERR_INVAL);
	assert_int_equal(vv_vcf_writer_header_line(w, "##bad key=1"), VV_ERR_INVAL);
	assert_int_equal(vv_vcf_writer_header_line(w, "##INFO=<ID=X>"), VV_ERR_INVAL);
	assert_int_equal(vv_vcf_writer_declare_info(w, "VV_LLR", "A", VV_VCF_FLOAT, "Log likelihood ratio"), 0);
	assert_int_equal(vv_vcf_writer_declare_info(w, "VV_LLR", "1", VV_VCF_FLOAT, "again"), VV_ERR_EXISTS);
	assert_int_equal(vv_vcf_writer_declare_info(w, "VV_EVIDENCE", "1", VV_VCF_STRING, "Evidence"), 0);
	assert_int_equal(vv_vcf_writer_declare_info(w, "VV_N", "2", VV_VCF_INTEGER, "Two numbers"), 0);
	assert_int_equal(vv_vcf_writer_declare_info(w, "VV_F", "0", VV_VCF_FLAG, "A flag"), 0);
	assert_int_equal(vv_vcf_writer_declare_info(w, "DP", "1", VV_VCF_INTEGER, "Replaces the input's DP"), 0);
	assert_int_equal(vv_vcf_writer_declare_info(w, "1bad", "1", VV_VCF_FLOAT, "x"), VV_ERR_INVAL);
	assert_int_equal(vv_vcf_writer_declare_info(w, "VV_Q", "1", VV_VCF_FLOAT, "a \"quote\""), VV_ERR_INVAL);
	assert_int_equal(vv_vcf_writer_declare_info(w, "VV_G", "1", VV_VCF_FLAG, "flag with a number"), VV_ERR_INVAL);
	assert_int_equal(vv_vcf_next(r, &v), 1);
	{
		vv_vcf_info info[] = {
			{.id = "VV_LLR", .floats = &llr, .n = 1},
			{.id = "VV_EVIDENCE", .str = "PP3_supporting"},
			{.id = "VV_N", .ints = ints, .n = 2},
			{.id = "VV_F"},
		};
		vv_vcf_info undeclared = {.id = "VV_NOPE", .str = "x"};
		vv_vcf_info bad_string = {.id = "VV_EVIDENCE", .str = "a;b"};
		assert_int_equal(vv_vcf_writer_write(w, v, &undeclared, 1), VV_ERR_INVAL);
		assert_int_equal(vv_vcf_writer_write(w, v, &bad_string, 1), VV_ERR_INVAL);
		assert_int_equal(vv_vcf_writer_write(w, v, info, 4), 0);
	}
	vv_vcf_var_free(v);
	assert_int_equal(vv_vcf_writer_declare_info(w, "VV_LATE", "1", VV_VCF_FLOAT, "late"), VV_ERR_INVAL);
	assert_int_equal(vv_vcf_writer_finish(w, NULL), VV_ERR_INVAL); /* memory output needs a buffer */
	assert_int_equal(vv_vcf_writer_finish(w, &out), 0);
	assert_int_equal(vv_vcf_writer_finish(w, &out), VV_ERR_INVAL);
	vv_vcf_writer_free(w);
	vv_vcf_close(r);
	/* the BGZF end-of-file block closes the output */
	assert_true(out.len > 28);
	assert_int_equal(out.data[out.len - 28], 0x1f);
	assert_int_equal(out.data[out.len - 1], 0);
	vv_sbuf_done(&out);

	/* a memory limit */
	assert_int_equal(vv_vcf_open_mem(vcf, len, NULL, NULL, &r), 0);
	assert_int_equal(vv_vcf_writer_new(r, -1, 30, &w), 0);
	assert_int_equal(vv_vcf_next(r, &v), 1);
	assert_int_equal(vv_vcf_writer_write(w, v, NULL, 0), 0);
	vv_vcf_var_free(v);
	assert_int_equal(vv_vcf_writer_finish(w, &out), VV_ERR_RANGE);
	vv_vcf_writer_free(w);
	vv_vcf_close(r);
	vv_vcf_writer_free(NULL);
	free(vcf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_facts_and_split),
		cmocka_unit_test(test_refusals_name_line_and_field),
		cmocka_unit_test(test_end_edges),
		cmocka_unit_test(test_messages_carry_no_data),
		cmocka_unit_test(test_header_refusals),
		cmocka_unit_test(test_refusal_is_sticky),
		cmocka_unit_test(test_warnings_for_what_htslib_changes),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_end_releases_input),
		cmocka_unit_test(test_reference_and_windows),
		cmocka_unit_test(test_reference_open_errors),
		cmocka_unit_test(test_normalization_statuses),
		cmocka_unit_test(test_formats_and_fd),
		cmocka_unit_test(test_writer_api),
	};

	vv_vcf_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
