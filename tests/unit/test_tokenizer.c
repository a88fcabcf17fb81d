/* Unit tests of the DNA tokenizers (src/model/tokenizer.c) against the rules
 * of the published ones: ESM single letters, Nucleotide Transformer 6-mers
 * with single-nucleotide fallback, DNABERT overlapping k-mers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_fixture.h"
#include "varvault/model.h"

#define MAXV 4200

static char vocab_store[MAXV][16];
static const char *vocab_ptr[MAXV];

/* Nucleotide Transformer v2 layout: 6 specials, 6-mers over ATCG in
 * itertools.product order, then A T C G N. */
static size_t nt_vocab(int k)
{
	static const char *const sp[] = {"<unk>", "<pad>", "<mask>", "<cls>", "<eos>", "<bos>"};
	size_t n = 0;

	for (size_t i = 0; i < 6; i++)
		snprintf(vocab_store[n++], 16, "%s", sp[i]);
	for (size_t code = 0; code < (size_t)1 << (2 * k); code++) {
		for (int j = 0; j < k; j++)
			vocab_store[n][j] = "ATCG"[(code >> (2 * (k - 1 - j))) & 3];
		vocab_store[n++][k] = '\0';
	}
	for (size_t i = 0; i < 5; i++)
		snprintf(vocab_store[n++], 16, "%c", "ATCGN"[i]);
	for (size_t i = 0; i < n; i++)
		vocab_ptr[i] = vocab_store[i];
	return n;
}

/* DNABERT layout: BERT specials then the k-mers. */
static size_t dnabert_vocab(int k)
{
	static const char *const sp[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
	size_t n = 0;

	for (size_t i = 0; i < 5; i++)
		snprintf(vocab_store[n++], 16, "%s", sp[i]);
	for (size_t code = 0; code < (size_t)1 << (2 * k); code++) {
		for (int j = 0; j < k; j++)
			vocab_store[n][j] = "ACGT"[(code >> (2 * (k - 1 - j))) & 3];
		vocab_store[n++][k] = '\0';
	}
	for (size_t i = 0; i < n; i++)
		vocab_ptr[i] = vocab_store[i];
	return n;
}

static vv_model *load_with(int bert, const char *const *vocab, size_t nv, const char *tcfg, struct fx *f)
{
	struct fx_opts o = fx_esm();
	vv_model *m = NULL;
	int rc;

	o.layers = 1;
	o.bert = bert;
	o.rotary = !bert;
	o.vocab = vocab;
	o.nvocab = nv;
	fx_build(&o, f);
	rc = fx_load(f, tcfg, &m);
	if (rc)
		fprintf(stderr, "load: %s: %s\n", vv_strerror(rc), vv_err_detail());
	assert_int_equal(rc, 0);
	return m;
}

/* Tokenizes s and compares with the expected token spellings. */
static void expect_tokens(vv_model *m, const char *s, const char *const *want, size_t nwant)
{
	int32_t ids[256];
	struct vv_model_span sp[256];
	size_t n = 0;

	assert_int_equal(vv_model_tokenize(m, s, strlen(s), ids, sp, 256, &n), 0);
	if (n != nwant)
		fprintf(stderr, "'%s': %zu tokens, want %zu\n", s, n, nwant);
	assert_int_equal(n, nwant);
	for (size_t i = 0; i < n; i++) {
		const char *got = vv_model_token_str(m, ids[i]);
		if (strcmp(got, want[i]) != 0)
			fprintf(stderr, "'%s' token %zu: %s, want %s\n", s, i, got, want[i]);
		assert_string_equal(got, want[i]);
	}
}

static void test_char_tokenizer(void **state)
{
	struct fx f;
	vv_model *m = load_with(0, NULL, 0, NULL, &f);
	const struct vv_model_info *I = vv_model_get_info(m);
	int32_t ids[16];
	struct vv_model_span sp[16];
	size_t n;

	(void)state;
	assert_int_equal(I->tokenizer, VV_MODEL_TOK_CHAR);
	assert_int_equal(I->k, 1);
	/* lower case folds; N is a token; other IUPAC letters and junk are <unk> */
	expect_tokens(m, "ACgtN", (const char *const[]){"<cls>", "A", "C", "G", "T", "N", "<eos>"}, 7);
	expect_tokens(m, "aRyK-", (const char *const[]){"<cls>", "A", "<unk>", "<unk>", "<unk>", "<unk>", "<eos>"}, 7);
	expect_tokens(m, "", (const char *const[]){"<cls>", "<eos>"}, 2);
	assert_int_equal(vv_model_tokenize(m, "ACGT", 4, ids, sp, 16, &n), 0);
	assert_int_equal(sp[0].start, -1);
	assert_int_equal(sp[3].start, 2);
	assert_int_equal(sp[3].len, 1);
	assert_int_equal(vv_model_token_at(sp, n, 2), 3);
	assert_int_equal(vv_model_token_at(sp, n, 4), VV_ERR_NOTFOUND);
	/* too small a buffer: RANGE and the count needed */
	assert_int_equal(vv_model_tokenize(m, "ACGT", 4, ids, NULL, 3, &n), VV_ERR_RANGE);
	assert_int_equal(n, 6);
	assert_int_equal(vv_model_token_id(m, "<mask>"), 4);
	assert_int_equal(vv_model_token_id(m, "G"), 7);
	assert_int_equal(vv_model_token_id(m, "X"), VV_ERR_NOTFOUND);
	assert_null(vv_model_token_str(m, 10));
	vv_model_free(m);
	fx_free(&f);
}

static void test_nt_kmer_tokenizer(void **state)
{
	size_t nv = nt_vocab(6);
	struct fx f;
	vv_model *m = load_with(0, vocab_ptr, nv, NULL, &f);
	const struct vv_model_info *I = vv_model_get_info(m);
	int32_t ids[64];
	struct vv_model_span sp[64];
	size_t n;

	(void)state;
	assert_int_equal(nv, 4107);
	assert_int_equal(I->tokenizer, VV_MODEL_TOK_KMER);
	assert_int_equal(I->k, 6);
	assert_int_equal(I->cls_id, 3);
	assert_int_equal(I->pad_id, 1);
	assert_int_equal(I->mask_id, 2);
	assert_int_equal(I->append_eos, 0); /* NT adds <cls> only */
	/* v2 ids: 6-mers in ATCG product order after the 6 specials */
	assert_int_equal(vv_model_token_id(m, "AAAAAA"), 6);
	assert_int_equal(vv_model_token_id(m, "AAAAAT"), 7);
	assert_int_equal(vv_model_token_id(m, "GGGGGG"), 4101);
	assert_int_equal(vv_model_token_id(m, "N"), 4106);
	/* length not a multiple of 6: the tail goes letter by letter */
	expect_tokens(m, "ACGTACGTA", (const char *const[]){"<cls>", "ACGTAC", "G", "T", "A"}, 5);
	/* N breaks the k-mer run, which restarts after it */
	expect_tokens(m, "ACGTACNACGTACGG",
		      (const char *const[]){"<cls>", "ACGTAC", "N", "ACGTAC", "G", "G"}, 6);
	expect_tokens(m, "ACGNACGTAC", (const char *const[]){"<cls>", "A", "C", "G", "N", "ACGTAC"}, 6);
	/* lower case folds; other IUPAC letters become <unk> one per letter */
	expect_tokens(m, "acgtacRYacgtac",
		      (const char *const[]){"<cls>", "ACGTAC", "<unk>", "<unk>", "ACGTAC"}, 5);
	expect_tokens(m, "ACG", (const char *const[]){"<cls>", "A", "C", "G"}, 4);
	assert_int_equal(vv_model_tokenize(m, "ACGTACNACGTACGG", 15, ids, sp, 64, &n), 0);
	assert_int_equal(sp[1].start, 0);
	assert_int_equal(sp[1].len, 6);
	assert_int_equal(sp[2].start, 6);
	assert_int_equal(sp[3].start, 7);
	assert_int_equal(sp[3].len, 6);
	/* the token that holds base 9 is the second 6-mer */
	assert_int_equal(vv_model_token_at(sp, n, 9), 3);
	vv_model_free(m);
	fx_free(&f);
}

static void test_dnabert_overlapping(void **state)
{
	size_t nv = dnabert_vocab(3);
	struct fx f;
	vv_model *m = load_with(1, vocab_ptr, nv, NULL, &f);
	const struct vv_model_info *I = vv_model_get_info(m);
	int32_t ids[64];
	struct vv_model_span sp[64];
	size_t n;

	(void)state;
	assert_int_equal(I->tokenizer, VV_MODEL_TOK_KMER_OVERLAP);
	assert_int_equal(I->k, 3);
	assert_int_equal(I->append_eos, 1);
	expect_tokens(m, "ACGTA", (const char *const[]){"[CLS]", "ACG", "CGT", "GTA", "[SEP]"}, 5);
	/* any k-mer holding N or another IUPAC letter is [UNK] */
	expect_tokens(m, "acNgt", (const char *const[]){"[CLS]", "[UNK]", "[UNK]", "[UNK]", "[SEP]"}, 5);
	/* shorter than k: no k-mer at all */
	expect_tokens(m, "AC", (const char *const[]){"[CLS]", "[SEP]"}, 2);
	assert_int_equal(vv_model_tokenize(m, "ACGTA", 5, ids, sp, 64, &n), 0);
	assert_int_equal(sp[2].start, 1);
	assert_int_equal(sp[2].len, 3);
	assert_int_equal(vv_model_token_at(sp, n, 2), 1); /* first of the three holding it */
	vv_model_free(m);
	fx_free(&f);
}

static void test_tokenizer_config_overrides(void **state)
{
	size_t nv;
	struct fx f;
	vv_model *m;

	(void)state;
	/* eos_token null: no eos for a single-letter ESM model */
	m = load_with(0, NULL, 0, "{\"tokenizer_class\":\"EsmTokenizer\",\"eos_token\":null}", &f);
	expect_tokens(m, "AC", (const char *const[]){"<cls>", "A", "C"}, 3);
	vv_model_free(m);
	fx_free(&f);
	/* NT vocabulary with an explicit eos as an AddedToken object */
	nv = nt_vocab(6);
	m = load_with(0, vocab_ptr, nv, "{\"eos_token\":{\"content\":\"<eos>\",\"lstrip\":false}}", &f);
	expect_tokens(m, "ACGTACG", (const char *const[]){"<cls>", "ACGTAC", "G", "<eos>"}, 4);
	vv_model_free(m);
	fx_free(&f);
	/* forcing the single-letter tokenizer on a k-mer vocabulary */
	m = load_with(0, vocab_ptr, nv, "{\"varvault_tokenizer\":\"char\"}", &f);
	assert_int_equal(vv_model_get_info(m)->tokenizer, VV_MODEL_TOK_CHAR);
	expect_tokens(m, "ACN", (const char *const[]){"<cls>", "A", "C", "N", "<eos>"}, 5);
	vv_model_free(m);
	fx_free(&f);
}

static void test_vocab_errors(void **state)
{
	static const char *const no_dna[] = {"<cls>", "<pad>", "<eos>", "<unk>", "<mask>", "X", "Y"};
	static const char *const no_cls[] = {"<pad>", "<eos>", "<unk>", "<mask>", "A", "C", "G", "T"};
	struct fx_opts o = fx_esm();
	struct fx f;
	vv_model *m = NULL;

	(void)state;
	o.vocab = no_dna;
	o.nvocab = 7;
	fx_build(&o, &f);
	assert_int_equal(fx_load(&f, NULL, &m), VV_ERR_MODEL_VOCAB);
	fx_free(&f);
	o.vocab = no_cls;
	o.nvocab = 8;
	fx_build(&o, &f);
	assert_int_equal(fx_load(&f, NULL, &m), VV_ERR_MODEL_VOCAB);
	assert_int_equal(fx_load(&f, "{\"varvault_tokenizer\":\"kmer\"}", &m), VV_ERR_MODEL_VOCAB);
	assert_int_equal(fx_load(&f, "{\"eos_token\":\"<nope>\"}", &m), VV_ERR_MODEL_VOCAB);
	assert_int_equal(fx_load(&f, "{not json", &m), VV_ERR_MODEL_VOCAB);
	fx_free(&f);
	/* more vocab.txt lines than vocab_size */
	o = fx_esm();
	fx_build(&o, &f);
	{
		char *v = malloc(f.vocab_len + 8);
		memcpy(v, f.vocab, f.vocab_len);
		memcpy(v + f.vocab_len, "extra\n", 6);
		struct vv_model_source src = {f.config, f.config_len, f.st, f.st_len, v, f.vocab_len + 6, NULL, 0, NULL};
		assert_int_equal(vv_model_load_mem(&src, &m), VV_ERR_MODEL_VOCAB);
		free(v);
	}
	fx_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_char_tokenizer),
		cmocka_unit_test(test_nt_kmer_tokenizer),
		cmocka_unit_test(test_dnabert_overlapping),
		cmocka_unit_test(test_tokenizer_config_overrides),
		cmocka_unit_test(test_vocab_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
