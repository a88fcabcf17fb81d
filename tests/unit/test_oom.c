/* varvault under failing allocations: the Makefile links this program with
 * --wrap for malloc, calloc and realloc, so that the Nth allocation made by
 * varvault's own code (htslib's inline kstring helpers included; those
 * inside libhts.so or libjson-c.so are not reached) can be made to fail.
 * Whatever fails, a run either reports VV_ERR_NOMEM or gives exactly what a
 * run without failures gives: running out of memory must never change a
 * result (issue 7: the VCF writer's field picker once read "out of memory"
 * as "field absent" and wrote the field whole). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "varvault/core.h"
#include "varvault/c4gh.h"
#include "varvault/interpret.h"
#include "varvault/vcf.h"
#include "model_fixture.h"

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

/* A result of one run, compared byte for byte with the first. */
struct vv_result {
	uint8_t *p;
	size_t n;
};

/* Runs fn with the 1st, 2nd, ... allocation failing until a run makes all
 * its allocations; each must fail with VV_ERR_NOMEM or give want's bytes.
 * Returns how many runs failed. */
static unsigned long vv_sweep(const char *what, int (*fn)(struct vv_result *), const struct vv_result *want)
{
	unsigned long failed = 0;

	for (unsigned long k = 1;; k++) {
		struct vv_result got = {NULL, 0};
		int rc;

		counted = 0;
		fail_at = k;
		armed = 1;
		rc = fn(&got);
		armed = 0;
		if (rc == 0 && (got.n != want->n || memcmp(got.p, want->p, want->n) != 0)) {
			fprintf(stderr, "%s: allocation %lu failed and the run succeeded with another result\n", what, k);
			fail();
		}
		if (rc != 0 && rc != VV_ERR_NOMEM) {
			fprintf(stderr, "%s: allocation %lu failed: %s (%s)\n", what, k, vv_strerror(rc), vv_err_detail());
			fail();
		}
		free(got.p);
		if (counted < k) { /* nothing failed: every allocation was made */
			assert_int_equal(rc, 0);
			return failed;
		}
		failed += rc != 0;
	}
}

static int vv_vcf_case(struct vv_result *res)
{
	vv_sbuf out;
	int rc = vv_pipeline(&out);

	if (rc == 0) {
		res->p = __real_malloc(out.len);
		assert_non_null(res->p);
		memcpy(res->p, out.data, out.len);
		res->n = out.len;
	}
	vv_sbuf_done(&out);
	return rc;
}

static void test_vcf_allocation_failures(void **state)
{
	struct vv_result want = {NULL, 0};
	int rc;

	(void)state;
	rc = vv_vcf_case(&want);
	if (rc)
		fprintf(stderr, "%s\n", vv_err_detail());
	assert_int_equal(rc, 0);
	assert_true(want.n > 28);
	/* the sweep did reach the library's allocations */
	assert_true(vv_sweep("vcf", vv_vcf_case, &want) > 10);
	free(want.p);
}

/* A k-mer (Nucleotide Transformer style) vocabulary: specials, every 2-mer
 * of ACGT, then single letters; and a tokenizer_config naming the specials
 * in both its forms. */
static char fx_kmer_store[32][8];
static const char *fx_kmer[32];
static const char TCFG[] = "{\"eos_token\":{\"content\":\"<eos>\",\"lstrip\":false},\"pad_token\":\"<pad>\","
			   "\"unk_token\":\"<unk>\",\"mask_token\":\"<mask>\",\"cls_token\":\"<cls>\"}";
static struct fx vv_fx_char, vv_fx_kmer;

/* What a loaded model is: its tokenizer and special ids, and the tokens of
 * a sequence with N and lower case. */
static int vv_model_case(const struct fx *f, const char *tcfg, struct vv_result *res)
{
	static const char dna[] = "ACGTNacgtRACGTTA";
	vv_model *m = NULL;
	int32_t ids[64];
	struct vv_model_span spans[64];
	size_t n = 0;
	int rc;

	if ((rc = fx_load(f, tcfg, &m)) != 0)
		return rc;
	if ((rc = vv_model_tokenize(m, dna, sizeof dna - 1, ids, spans, 64, &n)) == 0) {
		const struct vv_model_info *I = vv_model_get_info(m);
		int32_t head[9] = {I->tokenizer, I->k, I->cls_id, I->eos_id, I->pad_id, I->mask_id, I->unk_id,
				   I->append_eos, I->vocab_tokens};
		res->n = sizeof head + n * (sizeof *ids + sizeof *spans) + sizeof I->sha256;
		res->p = __real_malloc(res->n);
		assert_non_null(res->p);
		memcpy(res->p, head, sizeof head);
		memcpy(res->p + sizeof head, ids, n * sizeof *ids);
		memcpy(res->p + sizeof head + n * sizeof *ids, spans, n * sizeof *spans);
		memcpy(res->p + res->n - sizeof I->sha256, I->sha256, sizeof I->sha256);
	}
	vv_model_free(m);
	return rc;
}

static int vv_model_char_case(struct vv_result *res)
{
	return vv_model_case(&vv_fx_char, NULL, res);
}

static int vv_model_kmer_case(struct vv_result *res)
{
	return vv_model_case(&vv_fx_kmer, TCFG, res);
}

static void test_model_allocation_failures(void **state)
{
	static const char *const sp[] = {"<unk>", "<pad>", "<mask>", "<cls>", "<eos>"};
	struct fx_opts o = fx_esm();
	struct vv_result want = {NULL, 0};
	size_t nv = 0;

	(void)state;
	fx_build(&o, &vv_fx_char);
	for (size_t i = 0; i < 5; i++)
		snprintf(fx_kmer_store[nv++], 8, "%s", sp[i]);
	for (int c = 0; c < 16; c++)
		snprintf(fx_kmer_store[nv++], 8, "%c%c", "ATCG"[c >> 2], "ATCG"[c & 3]);
	for (int i = 0; i < 5; i++)
		snprintf(fx_kmer_store[nv++], 8, "%c", "ATCGN"[i]);
	for (size_t i = 0; i < nv; i++)
		fx_kmer[i] = fx_kmer_store[i];
	o.vocab = fx_kmer;
	o.nvocab = nv;
	fx_build(&o, &vv_fx_kmer);

	assert_int_equal(vv_model_char_case(&want), 0);
	assert_true(vv_sweep("model (char)", vv_model_char_case, &want) > 3);
	free(want.p);
	{
		int rc = vv_model_kmer_case(&want);
		if (rc)
			fprintf(stderr, "%s\n", vv_err_detail());
		assert_int_equal(rc, 0);
	}
	assert_int_equal(((int32_t *)want.p)[0], VV_MODEL_TOK_KMER);
	assert_true(vv_sweep("model (k-mer)", vv_model_kmer_case, &want) > 3);
	free(want.p);
	fx_free(&vv_fx_char);
	fx_free(&vv_fx_kmer);
}

/* The bundled policy: its name, source, digest and the evidence it gives
 * along a sweep of scores of both classes. */
static char *vv_policy_text;
static size_t vv_policy_len;

static int vv_policy_case(struct vv_result *res)
{
	vv_policy *p = NULL;
	char buf[4096];
	int rc, n = 0;

	if ((rc = vv_policy_parse(vv_policy_text, vv_policy_len, "evidence.conf", &p)) != 0)
		return rc;
	n = snprintf(buf, sizeof buf, "%s|%d|%s|%s|", vv_policy_name(p), vv_policy_calibrated(p),
		     vv_policy_source(p), vv_policy_sha256(p));
	for (int cls = 0; cls < 2; cls++)
		for (double x = -20; x <= 20 && n < (int)sizeof buf - 2; x += 0.25)
			buf[n++] = (char)('a' + vv_policy_classify(p, (enum vv_varclass)cls, x));
	vv_policy_free(p);
	res->p = __real_malloc((size_t)n);
	assert_non_null(res->p);
	memcpy(res->p, buf, (size_t)n);
	res->n = (size_t)n;
	return 0;
}

static void test_policy_allocation_failures(void **state)
{
	struct vv_result want = {NULL, 0};

	(void)state;
	assert_int_equal(vv_read_file("policy/evidence.conf", 1 << 20, &vv_policy_text, &vv_policy_len), 0);
	assert_int_equal(vv_policy_case(&want), 0);
	assert_true(vv_sweep("policy", vv_policy_case, &want) > 3);
	free(want.p);
	free(vv_policy_text);
}

/* Crypt4GH: a stream with an edit list, decrypted; and a plaintext
 * encrypted (then decrypted with every allocation made, since each
 * encryption draws a fresh data key). */
#define VV_PT_LEN (65536 * 2 + 1000)
static vv_c4gh_seckey *vv_key;
static uint8_t vv_pk[VV_C4GH_KEY_LEN], *vv_pt;
static vv_sbuf vv_ct;

static int vv_sink(void *ctx, const uint8_t *p, size_t n)
{
	return vv_sbuf_append(ctx, p, n);
}

static int vv_encrypt(const uint64_t *edits, size_t nedits, vv_sbuf *ct)
{
	vv_c4gh_encryptor *e = NULL;
	int rc;

	vv_sbuf_init(ct, 0);
	if ((rc = vv_c4gh_encryptor_new(vv_key, vv_pk, 1, edits, nedits, &e)) == 0 &&
	    (rc = vv_c4gh_encryptor_update(e, vv_pt, VV_PT_LEN, vv_sink, ct)) == 0)
		rc = vv_c4gh_encryptor_final(e, vv_sink, ct);
	vv_c4gh_encryptor_free(e);
	return rc;
}

static int vv_decrypt(const vv_sbuf *ct, struct vv_result *res)
{
	vv_sbuf out;
	int rc;

	vv_sbuf_init(&out, 0);
	if ((rc = vv_c4gh_decrypt_mem(ct->data, ct->len, vv_key, vv_pk, &out)) == 0) {
		res->p = __real_malloc(out.len ? out.len : 1);
		assert_non_null(res->p);
		memcpy(res->p, out.data, out.len);
		res->n = out.len;
	}
	vv_sbuf_done(&out);
	return rc;
}

static int vv_c4gh_decrypt_case(struct vv_result *res)
{
	return vv_decrypt(&vv_ct, res);
}

static int vv_c4gh_encrypt_case(struct vv_result *res)
{
	vv_sbuf ct;
	int rc = vv_encrypt(NULL, 0, &ct);

	if (rc == 0) {
		int was = armed;
		armed = 0;
		assert_int_equal(vv_decrypt(&ct, res), 0);
		armed = was;
	}
	vv_sbuf_done(&ct);
	return rc;
}

static void test_c4gh_allocation_failures(void **state)
{
	static const uint64_t edits[] = {100, 70000, 5000, 1000000};
	struct vv_result want = {NULL, 0};

	(void)state;
	assert_int_equal(vv_c4gh_seckey_generate(&vv_key), 0);
	vv_c4gh_seckey_pubkey(vv_key, vv_pk);
	vv_pt = __real_malloc(VV_PT_LEN);
	assert_non_null(vv_pt);
	for (size_t i = 0; i < VV_PT_LEN; i++)
		vv_pt[i] = (uint8_t)(i * 131 + (i >> 9));
	assert_int_equal(vv_encrypt(edits, 4, &vv_ct), 0);
	assert_int_equal(vv_c4gh_decrypt_case(&want), 0);
	assert_int_equal(want.n, 70000 + (VV_PT_LEN - 70100 - 5000));
	assert_true(vv_sweep("c4gh decrypt", vv_c4gh_decrypt_case, &want) > 0);
	free(want.p);
	want = (struct vv_result){vv_pt, VV_PT_LEN};
	assert_true(vv_sweep("c4gh encrypt", vv_c4gh_encrypt_case, &want) > 0);
	vv_sbuf_done(&vv_ct);
	free(vv_pt);
	vv_c4gh_seckey_free(vv_key);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vcf_allocation_failures),
		cmocka_unit_test(test_model_allocation_failures),
		cmocka_unit_test(test_policy_allocation_failures),
		cmocka_unit_test(test_c4gh_allocation_failures),
	};
	if (vv_core_init() != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
