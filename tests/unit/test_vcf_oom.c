/* The VCF reader and writer under failing allocations: the Makefile links
 * this program with --wrap for malloc, calloc and realloc, so that the Nth
 * allocation made by varvault's own code (htslib's inline kstring helpers
 * included; allocations inside libhts.so are not reached) can be made to
 * fail.  Whatever fails, the run
 * either reports VV_ERR_NOMEM or writes exactly what a run without failures
 * writes: running out of memory must never change the output (issue 7: the
 * writer's field picker once read "out of memory" as "field absent"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "varvault/core.h"
#include "varvault/vcf.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);

/* Allocations counted while armed; the one numbered fail_at fails. */
static int armed;
static unsigned long counted, fail_at;

static int vv_oom_now(void)
{
	return armed && ++counted == fail_at;
}

void *__wrap_malloc(size_t n)
{
	return vv_oom_now() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
	return vv_oom_now() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
	return vv_oom_now() ? NULL : __real_realloc(p, n);
}

/* Multi-allelic records whose Number=A/R String fields the writer splits
 * value by value (the allocations of that split are among those that fail). */
static const char VCF[] =
	"##fileformat=VCFv4.2\n"
	"##contig=<ID=chrA,length=80>\n"
	"##INFO=<ID=AC,Number=A,Type=Integer,Description=\"Allele count\">\n"
	"##INFO=<ID=XS,Number=A,Type=String,Description=\"Per-ALT text\">\n"
	"##INFO=<ID=XR,Number=R,Type=String,Description=\"Per-allele text\">\n"
	"##FORMAT=<ID=GT,Number=1,Type=String,Description=\"Genotype\">\n"
	"##FORMAT=<ID=AD,Number=R,Type=Integer,Description=\"Allelic depths\">\n"
	"##FORMAT=<ID=FS,Number=R,Type=String,Description=\"Per-allele text\">\n"
	"#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\tS2\n"
	"chrA\t10\t.\tA\tC,G\t.\tPASS\tAC=1,2;XS=sc,sg;XR=ra,rc,rg\tGT:AD:FS\t1/2:3,4,5:fa,fc,fg\t0/1:6,7,8:ga,gc,gg\n"
	"chrA\t20\t.\tT\tA,C,G\t.\tPASS\tXS=sa,sc,sg;XR=r0,r1,r2,r3\tGT:FS\t0/3:x0,x1,x2,x3\t2/1:ya,yb,yc,yd\n"
	"chrA\t30\t.\tG\tT\t.\tPASS\tXS=one\tGT:FS\t0/1:h0,h1\t1/1:.\n";

/* Reads VCF and writes every variant to memory.  Returns the first error,
 * or 0 with *out the output. */
static int vv_pipeline(vv_sbuf *out)
{
	vv_vcf_reader *r = NULL;
	vv_vcf_writer *w = NULL;
	vv_vcf_var *v;
	int rc;

	vv_sbuf_init(out, 0);
	if ((rc = vv_vcf_open_mem(VCF, sizeof VCF - 1, NULL, NULL, &r)) != 0)
		goto out;
	if ((rc = vv_vcf_writer_new(r, -1, 1 << 20, &w)) != 0)
		goto out;
	while ((rc = vv_vcf_next(r, &v)) == 1) {
		rc = vv_vcf_writer_write(w, v, NULL, 0);
		vv_vcf_var_free(v);
		if (rc)
			goto out;
	}
	if (rc == 0)
		rc = vv_vcf_writer_finish(w, out);
out:
	vv_vcf_writer_free(w);
	vv_vcf_close(r);
	return rc;
}

static void test_allocation_failures_never_change_the_output(void **state)
{
	vv_sbuf want, got;
	unsigned long k, failed = 0;
	int rc;

	(void)state;
	rc = vv_pipeline(&want);
	if (rc)
		fprintf(stderr, "%s\n", vv_err_detail());
	assert_int_equal(rc, 0);
	assert_true(want.len > 28);
	for (k = 1;; k++) {
		counted = 0;
		fail_at = k;
		armed = 1;
		rc = vv_pipeline(&got);
		armed = 0;
		if (counted < k) { /* nothing failed: every allocation was made */
			assert_int_equal(rc, 0);
			break;
		}
		if (rc == 0) {
			if (got.len != want.len || memcmp(got.data, want.data, want.len) != 0) {
				fprintf(stderr, "allocation %lu failed and the run succeeded with other output\n", k);
				fail();
			}
		} else {
			if (rc != VV_ERR_NOMEM)
				fprintf(stderr, "allocation %lu failed: %s (%s)\n", k, vv_strerror(rc), vv_err_detail());
			assert_int_equal(rc, VV_ERR_NOMEM);
			failed++;
		}
		vv_sbuf_done(&got);
	}
	vv_sbuf_done(&got);
	vv_sbuf_done(&want);
	/* the sweep did reach the library's allocations */
	assert_true(failed > 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_allocation_failures_never_change_the_output),
	};
	if (vv_core_init() != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
