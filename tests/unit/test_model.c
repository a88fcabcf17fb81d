/* Unit tests of src/model: loader validation, dtype conversion, heads,
 * determinism across batch sizes and thread counts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "model_fixture.h"
#include "varvault/model.h"
#include "../../src/model/model_int.h"

static void expect_error(const struct fx_opts *o, int want, const char *detail_has)
{
	struct fx f;
	vv_model *m = NULL;

	fx_build(o, &f);
	vv_err_clear();
	assert_int_equal(fx_load(&f, NULL, &m), want);
	assert_null(m);
	if (detail_has && !strstr(vv_err_detail(), detail_has)) {
		fprintf(stderr, "detail '%s' lacks '%s'\n", vv_err_detail(), detail_has);
		fail();
	}
	fx_free(&f);
}

static void test_load_esm_info(void **state)
{
	struct fx_opts o = fx_esm();
	struct fx f;
	vv_model *m = NULL;
	const struct vv_model_info *I;

	(void)state;
	o.extra = 1; /* contact head, inv_freq: ignored */
	fx_build(&o, &f);
	assert_int_equal(fx_load(&f, NULL, &m), 0);
	I = vv_model_get_info(m);
	assert_string_equal(I->name, "fixture-model");
	assert_int_equal(I->arch, VV_MODEL_ARCH_ESM);
	assert_int_equal(I->head, VV_MODEL_HEAD_MLM);
	assert_int_equal(I->posenc, VV_MODEL_POS_ROTARY);
	assert_int_equal(I->ffn, VV_MODEL_FFN_GELU);
	assert_int_equal(I->hidden_size, 16);
	assert_int_equal(I->num_layers, 2);
	assert_int_equal(I->vocab_size, 10);
	assert_int_equal(I->tokenizer, VV_MODEL_TOK_CHAR);
	assert_int_equal(I->cls_id, 0);
	assert_int_equal(I->mask_id, 4);
	assert_int_equal(I->append_eos, 1);
	assert_int_equal(I->tied_decoder, 1);
	assert_int_equal(I->max_tokens, 64);
	/* word 10x16, per layer 4*(256+16) + 32*16+32 + 16*32+16 + 4*16, final LN 32,
	 * LM head 256+16+32+10 */
	assert_int_equal(I->n_params, 160 + 2 * (4 * 272 + 544 + 528 + 64) + 32 + 314);
	assert_int_equal(I->weights_owned_bytes, 0);
	assert_true(I->weights_mapped_bytes > 0);
	assert_int_equal(strlen(I->sha256), 64);
	vv_model_free(m);
	fx_free(&f);
}

static void test_missing_tensor_named(void **state)
{
	struct fx_opts o = fx_esm();

	(void)state;
	o.skip = "esm.encoder.layer.1.attention.self.key.weight";
	expect_error(&o, VV_ERR_MODEL_TENSOR, "esm.encoder.layer.1.attention.self.key.weight");
	o = fx_esm();
	o.skip = "lm_head.bias";
	expect_error(&o, VV_ERR_MODEL_TENSOR, "lm_head.bias");
	o = fx_esm();
	o.tied = 0; /* untied config needs the decoder */
	o.skip = "lm_head.decoder.weight";
	expect_error(&o, VV_ERR_MODEL_TENSOR, "lm_head.decoder.weight");
}

static void test_bad_shape_and_dtype(void **state)
{
	struct fx_opts o = fx_esm();

	(void)state;
	o.bad_shape = "esm.encoder.layer.0.output.dense.weight";
	expect_error(&o, VV_ERR_MODEL_TENSOR, "'esm.encoder.layer.0.output.dense.weight' has shape [17,32]");
	o = fx_esm();
	o.bad_dtype = "esm.embeddings.word_embeddings.weight";
	expect_error(&o, VV_ERR_MODEL_TENSOR, "dtype I32");
}

/* Loads raw safetensors bytes with a valid config and vocab. */
static int load_raw(const void *st, size_t len)
{
	struct fx_opts o = fx_esm();
	struct fx f;
	vv_model *m = NULL;
	struct vv_model_source src;
	int rc;

	fx_build(&o, &f);
	src = (struct vv_model_source){f.config, f.config_len, st, len, f.vocab, f.vocab_len, NULL, 0, NULL};
	rc = vv_model_load_mem(&src, &m);
	vv_model_free(m);
	fx_free(&f);
	return rc;
}

static size_t raw(uint8_t *buf, const char *hdr, size_t data_len)
{
	size_t n = strlen(hdr);
	for (int i = 0; i < 8; i++)
		buf[i] = (uint8_t)((uint64_t)n >> (8 * i));
	memcpy(buf + 8, hdr, n);
	memset(buf + 8 + n, 0, data_len);
	return 8 + n + data_len;
}

static void test_safetensors_header_rules(void **state)
{
	static const struct {
		const char *hdr;
		size_t data;
		int want;
		const char *detail;
	} cases[] = {
		/* not JSON, not an object, trailing garbage */
		{"{\"a\":", 0, VV_ERR_MODEL_FORMAT, "invalid JSON"},
		{"[1,2]   ", 0, VV_ERR_MODEL_FORMAT, "not a JSON object"},
		{"{}  x   ", 0, VV_ERR_MODEL_FORMAT, "at byte 4"},
		/* unknown dtype, negative dim, offsets mismatching the shape */
		{"{\"t\":{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, VV_ERR_MODEL_FORMAT, "'t': unknown dtype"},
		{"{\"t\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, VV_ERR_MODEL_FORMAT, "shape[0]"},
		{"{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4, VV_ERR_MODEL_FORMAT, "need 8"},
		/* overlapping, gapped, past the end, not covering the data */
		{"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
		 "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, VV_ERR_MODEL_FORMAT, "overlaps"},
		{"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
		 "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12, VV_ERR_MODEL_FORMAT, "gap"},
		{"{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8, VV_ERR_MODEL_FORMAT, "inside the data"},
		{"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8, VV_ERR_MODEL_FORMAT, "cover 4 of 8"},
		{"{\"a\\u001b[2J\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, VV_ERR_MODEL_FORMAT, "control"},
		/* overflowing shape product */
		{"{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}", 4,
		 VV_ERR_MODEL_FORMAT, "overflows"},
		/* a name or a key given twice: json-c would keep the last silently,
		 * so the file would mean what other readers may not take it to */
		{"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
		 "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, VV_ERR_MODEL_FORMAT,
		 "tensor 'a' is named twice"},
		{" { \"a\" : {\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[0,4]} ,\n"
		 " \"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]},"
		 "\"\\u0061\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]} }   ", 8, VV_ERR_MODEL_FORMAT,
		 "tensor 'a' is named twice"},
		{"{\"a\":{\"dtype\":\"I32\",\"shape\":[1],\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4,
		 VV_ERR_MODEL_FORMAT, "tensor 'a': key 'dtype' given twice"},
		{"{\"__metadata__\":{\"format\":\"pt\"},\"__metadata__\":{},"
		 "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, VV_ERR_MODEL_FORMAT,
		 "__metadata__ is given twice"},
		{"{\"a\\u0000b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
		 VV_ERR_MODEL_FORMAT, "NUL character"},
		/* a valid file without the model's tensors */
		{"{\"__metadata__\":{\"format\":\"pt\"},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
		 VV_ERR_MODEL_TENSOR, "esm.embeddings.word_embeddings.weight"},
	};
	uint8_t buf[1024];
	size_t n;

	(void)state;
	vv_err_clear();
	/* too short, header length past the end, absurd header length */
	assert_int_equal(load_raw(buf, 4), VV_ERR_MODEL_FORMAT);
	n = raw(buf, "{}", 0);
	buf[0] = 200;
	assert_int_equal(load_raw(buf, n), VV_ERR_MODEL_FORMAT);
	memset(buf, 0xff, 8);
	assert_int_equal(load_raw(buf, 64), VV_ERR_MODEL_FORMAT);
	assert_non_null(strstr(vv_err_detail(), "limit"));
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		n = raw(buf, cases[i].hdr, cases[i].data);
		assert_int_equal(load_raw(buf, n), cases[i].want);
		if (!strstr(vv_err_detail(), cases[i].detail)) {
			fprintf(stderr, "case %zu: detail '%s' lacks '%s'\n", i, vv_err_detail(), cases[i].detail);
			fail();
		}
	}
}

#define NSEQ 9

/* Runs NSEQ sequences of mixed lengths in batches of `batch` and returns
 * hidden states and logits at every token, concatenated (caller frees). */
/* The NSEQ test sequences, tokenized: lengths 50, 10, 51, 47, 7, 48, 44,
 * 4, 45 tokens; returns the total. */
static size_t tokenize_all(vv_model *m, int32_t ids[NSEQ][64], size_t len[NSEQ])
{
	static const char *const dna[] = {"ACGTTGCAACGGTACCATGANNACGTAGCTAGCTTAGCCGATCGAT", "GGCATTAC",
					  "ttgacNNRYacgtaccgtagctagctgatcgatgcatgcagtcgatcg"};
	size_t total = 0;

	for (int s = 0; s < NSEQ; s++) {
		size_t n = strlen(dna[s % 3]) - (size_t)(s / 3) * 3;
		assert_int_equal(vv_model_tokenize(m, dna[s % 3] + (s / 3) * 3, n, ids[s], NULL, 64, &len[s]), 0);
		total += len[s];
	}
	return total;
}

static float *run_all(vv_model *m, size_t batch, int threads, size_t *count)
{
	const struct vv_model_info *I = vv_model_get_info(m);
	int32_t ids[NSEQ][64];
	size_t len[NSEQ], total = 0, d = (size_t)I->hidden_size, V = (size_t)I->vocab_size, off = 0;
	vv_model_run *r = NULL;
	float *out;

	total = tokenize_all(m, ids, len);
	ids[0][3] = I->mask_id;
	ids[4][1] = I->mask_id;
	*count = total * (d + V);
	out = calloc(*count, sizeof *out);
	assert_int_equal(vv_model_run_new(m, batch, 64, &r), 0);
	assert_int_equal(vv_model_run_set_threads(r, threads), 0);
	for (size_t s0 = 0; s0 < NSEQ; s0 += batch) {
		struct vv_model_seq seqs[NSEQ];
		size_t nb = NSEQ - s0 < batch ? NSEQ - s0 : batch;
		for (size_t s = 0; s < nb; s++)
			seqs[s] = (struct vv_model_seq){ids[s0 + s], len[s0 + s]};
		assert_int_equal(vv_model_forward(r, seqs, nb), 0);
		for (size_t s = 0; s < nb; s++) {
			const float *h;
			size_t n;
			struct vv_model_at at[64];
			assert_int_equal(vv_model_hidden(r, s, &h, &n), 0);
			assert_int_equal(n, len[s0 + s]);
			memcpy(out + off * d, h, n * d * sizeof *h);
			for (size_t t = 0; t < n; t++)
				at[t] = (struct vv_model_at){(uint32_t)s, (uint32_t)t};
			assert_int_equal(vv_model_mlm_logits(r, at, n, out + total * d + off * V), 0);
			off += n;
		}
	}
	vv_model_run_free(r);
	return out;
}

static void test_bitwise_batch_and_threads(void **state)
{
	struct fx_opts o = fx_esm();
	struct fx f;
	vv_model *m = NULL;
	size_t n1, n3, n2t;
	float *a, *b, *c;

	(void)state;
	/* Large enough for OpenBLAS to split products between threads. */
	o.hidden = 64;
	o.heads = 4;
	o.inter = 256;
	o.token_dropout = 1;
	fx_build(&o, &f);
	assert_int_equal(fx_load(&f, NULL, &m), 0);
	/* 9 sequences in one batch span two projection chunks */
	a = run_all(m, 1, 1, &n1);
	b = run_all(m, NSEQ, 1, &n3);
	assert_int_equal(n1, n3);
	assert_memory_equal(a, b, n1 * sizeof *a);
	free(b);
	b = run_all(m, 4, 2, &n3);
	assert_memory_equal(a, b, n1 * sizeof *a);
	c = run_all(m, NSEQ, 3, &n2t);
	assert_memory_equal(a, c, n1 * sizeof *a);
	for (size_t i = 0; i < n1; i++)
		assert_true(a[i] == a[i]); /* no NaN */
	free(a);
	free(b);
	free(c);
	vv_model_free(m);
	fx_free(&f);
}

/* Logits at a few positions of each of the NSEQ sequences (first, middle,
 * last, the middle again), in batches of `batch`, through
 * vv_model_forward_mlm() (trim) or vv_model_forward() and
 * vv_model_mlm_logits(). */
static float *run_some(vv_model *m, size_t batch, int threads, bool trim, size_t *count)
{
	const struct vv_model_info *I = vv_model_get_info(m);
	int32_t ids[NSEQ][64];
	size_t len[NSEQ], V = (size_t)I->vocab_size, off = 0;
	vv_model_run *r = NULL;
	float *out;

	(void)tokenize_all(m, ids, len);
	for (int s = 0; s < NSEQ; s++)
		ids[s][len[s] / 2] = I->mask_id;
	*count = NSEQ * 4 * V;
	out = calloc(*count, sizeof *out);
	assert_int_equal(vv_model_run_new(m, batch, 64, &r), 0);
	assert_int_equal(vv_model_run_set_threads(r, threads), 0);
	for (size_t s0 = 0; s0 < NSEQ; s0 += batch) {
		struct vv_model_seq seqs[NSEQ];
		struct vv_model_at at[4 * NSEQ];
		size_t nb = NSEQ - s0 < batch ? NSEQ - s0 : batch, n = 0;
		for (size_t s = 0; s < nb; s++) {
			size_t L = len[s0 + s];
			seqs[s] = (struct vv_model_seq){ids[s0 + s], L};
			at[n++] = (struct vv_model_at){(uint32_t)s, 0};
			at[n++] = (struct vv_model_at){(uint32_t)s, (uint32_t)(L / 2)};
			at[n++] = (struct vv_model_at){(uint32_t)s, (uint32_t)(L - 1)};
			at[n++] = (struct vv_model_at){(uint32_t)s, (uint32_t)(L / 2)};
		}
		if (trim) {
			assert_int_equal(vv_model_forward_mlm(r, seqs, nb, at, n, out + off * V), 0);
		} else {
			assert_int_equal(vv_model_forward(r, seqs, nb), 0);
			assert_int_equal(vv_model_mlm_logits(r, at, n, out + off * V), 0);
		}
		off += n;
	}
	vv_model_run_free(r);
	return out;
}

/* vv_model_forward_mlm() computes the last layer on the head's rows only
 * and gives the logits of a full forward bit for bit, in fp32 and bf16,
 * whatever the batch and thread count; afterwards the run refuses what
 * needs the rows it skipped. */
static void test_forward_mlm_trimmed(void **state)
{
	struct fx_opts o = fx_esm();
	struct fx f;
	vv_model *m = NULL;
	struct vv_model_cpu cpu;
	size_t n1, n2;
	float *a, *b;

	(void)state;
	o.hidden = 64;
	o.heads = 4;
	o.inter = 256;
	o.gated = 1;
	fx_build(&o, &f);
	assert_int_equal(fx_load(&f, NULL, &m), 0);
	vv_model_cpu_detect(&cpu);
	for (int prec = 0; prec < 2; prec++) {
		if (prec == 1) {
			if (!vv_model_precision_supported(&cpu, VV_MODEL_BF16))
				break;
			assert_int_equal(vv_model_set_precision(m, VV_MODEL_BF16, NULL), 0);
		}
		a = run_some(m, NSEQ, 1, false, &n1);
		b = run_some(m, NSEQ, 1, true, &n2);
		assert_int_equal(n1, n2);
		assert_memory_equal(a, b, n1 * sizeof *a);
		free(b);
		b = run_some(m, 1, 2, true, &n2);
		assert_memory_equal(a, b, n1 * sizeof *a);
		free(b);
		b = run_some(m, 4, 3, true, &n2);
		assert_memory_equal(a, b, n1 * sizeof *a);
		free(b);
		free(a);
	}
	{
		vv_model_run *r = NULL;
		int32_t ids[8];
		size_t n;
		const float *h;
		float *lg = malloc(2 * (size_t)vv_model_get_info(m)->vocab_size * sizeof *lg);
		struct vv_model_at at[2] = {{0, 1}, {0, 2}}, bad = {0, 60}, bad_seq = {1, 0};
		assert_int_equal(vv_model_tokenize(m, "ACGTAC", 6, ids, NULL, 8, &n), 0);
		struct vv_model_seq seq = {ids, n};
		assert_int_equal(vv_model_run_new(m, 1, 8, &r), 0);
		assert_int_equal(vv_model_forward_mlm(r, &seq, 1, &bad, 1, lg), VV_ERR_INVAL);
		assert_int_equal(vv_model_forward_mlm(r, &seq, 1, &bad_seq, 1, lg), VV_ERR_INVAL);
		assert_int_equal(vv_model_forward_mlm(r, &seq, 1, at, 2, lg), 0);
		if (vv_model_kernel_row_align() < VV_MODEL_ROW_ALIGN_MAX) { /* trimmed */
			assert_int_equal(vv_model_hidden(r, 0, &h, &n), VV_ERR_INVAL);
			assert_int_equal(vv_model_mlm_logits(r, at, 2, lg), VV_ERR_INVAL);
		}
		assert_int_equal(vv_model_forward(r, &seq, 1), 0);
		assert_int_equal(vv_model_mlm_logits(r, at, 2, lg), 0);
		vv_model_run_free(r);
		free(lg);
	}
	vv_model_free(m);
	fx_free(&f);
}

/* The rotary embedding gives the bits of its definition at both widths,
 * for head sizes with and without vector tails. */
static void test_rotary_bits(void **state)
{
	static const size_t dhs[] = {2, 6, 8, 32, 40, 64, 70};
	float v[4 * 70], want[4 * 70], cs[35], sn[35];
	unsigned x = 3;

	(void)state;
	for (size_t t = 0; t < sizeof dhs / sizeof dhs[0]; t++) {
		const size_t dh = dhs[t], half = dh / 2, heads = 4;
		for (size_t i = 0; i < half; i++) {
			cs[i] = cosf(0.37f * (float)i + 0.1f);
			sn[i] = sinf(0.37f * (float)i + 0.1f);
		}
		for (int wide = 0; wide < 2; wide++) {
			x = 3 + (unsigned)t;
			for (size_t i = 0; i < heads * dh; i++, x = x * 1103515245u + 12345u)
				v[i] = want[i] = ((float)((x >> 8) & 0xffff) / 65536.0f - 0.5f) * 40.0f;
			for (size_t h = 0; h < heads; h++)
				for (size_t i = 0; i < half; i++) {
					float *w = want + h * dh, a = w[i], b = w[i + half];
					w[i] = a * cs[i] - b * sn[i];
					w[i + half] = b * cs[i] + a * sn[i];
				}
			vv_model_vec_set_wide(wide ? -1 : 0);
			vv_model_vec_rotary_row(v, heads, dh, cs, sn);
			assert_memory_equal(v, want, heads * dh * sizeof *v);
		}
	}
	vv_model_vec_set_wide(-1);
}

/* vv_model_run_flops() counts 2 m n k for every product of a forward, the
 * same on any number of threads, and keeps what threads that were stopped
 * counted. */
static void test_run_flops(void **state)
{
	struct fx_opts o = fx_esm();
	struct fx f;
	vv_model *m = NULL;
	vv_model_run *r = NULL;
	int32_t ids[64];
	size_t n;
	char dna[47];

	(void)state;
	o.hidden = 64;
	o.heads = 4;
	o.inter = 256;
	o.layers = 3;
	fx_build(&o, &f);
	assert_int_equal(fx_load(&f, NULL, &m), 0);
	for (int i = 0; i < 46; i++)
		dna[i] = "ACGT"[(i * 7) % 4];
	/* 46 bases, cls and eos: 48 tokens, a multiple of every row tile, so
	 * no padding rows are computed */
	assert_int_equal(vv_model_tokenize(m, dna, 46, ids, NULL, 64, &n), 0);
	assert_int_equal(n, VV_MODEL_ROW_ALIGN_MAX);
	const uint64_t L = n, d = 64, dh = 16, inter = 256;
	const uint64_t layer = 2 * L * d * d * 3 + 4 * (2 * L * L * dh * 2) + 2 * L * d * d + 2 * L * inter * d * 2;
	struct vv_model_seq seq = {ids, n};
	assert_int_equal(vv_model_run_new(m, 1, 64, &r), 0);
	assert_true(vv_model_run_flops(r) == 0);
	assert_int_equal(vv_model_forward(r, &seq, 1), 0);
	assert_true(vv_model_run_flops(r) == 3 * layer);
	assert_int_equal(vv_model_run_set_threads(r, 3), 0);
	assert_int_equal(vv_model_forward(r, &seq, 1), 0);
	assert_true(vv_model_run_flops(r) == 6 * layer);
	assert_int_equal(vv_model_run_set_threads(r, 1), 0);
	assert_true(vv_model_run_flops(r) == 6 * layer);
	vv_model_run_free(r);
	vv_model_free(m);
	fx_free(&f);
}

/* A bf16 run that has met more product shapes than a worker keeps oneDNN
 * primitives for still computes every product in bf16: the logits of a
 * batch are the same bits after a hundred other shapes as in a fresh run. */
static void test_bf16_many_shapes(void **state)
{
	struct fx_opts o = fx_esm();
	struct fx f;
	vv_model *m = NULL;
	struct vv_model_cpu cpu;
	int32_t ids[NSEQ][64];
	size_t len[NSEQ], V;
	struct vv_model_seq seqs[NSEQ];
	struct vv_model_at at[NSEQ];
	float *a, *b;
	vv_model_run *r = NULL;

	(void)state;
	vv_model_cpu_detect(&cpu);
	if (!vv_model_precision_supported(&cpu, VV_MODEL_BF16)) {
		print_message("this CPU has neither AVX512-BF16 nor AMX: not run\n");
		return;
	}
	o.hidden = 64;
	o.heads = 4;
	o.inter = 256;
	fx_build(&o, &f);
	assert_int_equal(fx_load(&f, NULL, &m), 0);
	assert_int_equal(vv_model_set_precision(m, VV_MODEL_BF16, NULL), 0);
	V = (size_t)vv_model_get_info(m)->vocab_size;
	(void)tokenize_all(m, ids, len);
	for (size_t s = 0; s < NSEQ; s++) {
		seqs[s] = (struct vv_model_seq){ids[s], len[s]};
		at[s] = (struct vv_model_at){(uint32_t)s, (uint32_t)(len[s] / 2)};
	}
	a = malloc(NSEQ * V * sizeof *a);
	b = malloc(NSEQ * V * sizeof *b);
	assert_int_equal(vv_model_run_new(m, NSEQ, 64, &r), 0);
	assert_int_equal(vv_model_forward(r, seqs, NSEQ), 0);
	assert_int_equal(vv_model_mlm_logits(r, at, NSEQ, a), 0);
	vv_model_run_free(r);
	assert_int_equal(vv_model_run_new(m, NSEQ, 64, &r), 0);
	/* batches of 1 to 9 sequences of 1 to 64 tokens: chunks of many row
	 * counts, each with its own primitives; none with the checked batch's
	 * last chunk, so that its shapes come after the others */
	const size_t al = vv_model_kernel_row_align();
	size_t want = 0;
	int32_t pad[64];
	for (size_t s = 0; s < NSEQ; s++)
		want += (len[s] + al - 1) / al * al;
	for (int t = 0; t < 64; t++)
		pad[t] = ids[2][t % (int)len[2]];
	for (size_t k = 1; k <= NSEQ; k++)
		for (size_t L = 1, P = 64; L <= 64; L += 3, P = P > 20 ? P - 11 : 64) {
			struct vv_model_seq some[NSEQ];
			size_t Lc = L < len[0] ? L : len[0];
			size_t rows = (Lc + al - 1) / al * al + (k - 1) * ((P + al - 1) / al * al);
			if (rows % 480 == want % 480)
				continue;
			some[0] = (struct vv_model_seq){ids[0], Lc};
			for (size_t s = 1; s < k; s++)
				some[s] = (struct vv_model_seq){pad, P};
			assert_int_equal(vv_model_forward(r, some, k), 0);
		}
	assert_int_equal(vv_model_forward(r, seqs, NSEQ), 0);
	assert_int_equal(vv_model_mlm_logits(r, at, NSEQ, b), 0);
	assert_memory_equal(a, b, NSEQ * V * sizeof *a);
	vv_model_run_free(r);
	free(a);
	free(b);
	vv_model_free(m);
	fx_free(&f);
}

/* LayerNorm's rows, however many and grouped however the engine groups
 * them, give the bits of the plain definition: each row's mean and
 * variance summed in double in column order (the order the engine's
 * bit-for-bit determinism and the score tables depend on), in place or not. */
static void test_layernorm_bits(void **state)
{
	enum { D = 99, R = 19 }; /* D: vector tails at widths 4 and 16 */
	static float src[R * D], got[R * D], want[R * D], w[D], b[D];
	unsigned x = 11;

	(void)state;
	for (int i = 0; i < R * D; i++, x = x * 1103515245u + 12345u)
		src[i] = ((float)((x >> 8) & 0xffff) / 65536.0f - 0.5f) * ldexpf(1.0f, (int)(x >> 28) - 8);
	/* a large value and its negation in each row, at places that vary:
	 * the small values added while the large one is in the sum lose bits
	 * that another order keeps, so the order shows in the float mean */
	for (int r = 0; r < R; r++) {
		float big = ldexpf(1.0f + (float)r / 32.0f, 36 + r % 7);
		src[r * D + r % 5] = big;
		src[r * D + D - 1 - r % 3] = -big;
	}
	for (int j = 0; j < D; j++) {
		w[j] = 0.5f + (float)j / D;
		b[j] = (float)(j % 7) * 0.01f - 0.03f;
	}
	for (int r = 0; r < R; r++) {
		const float *in = src + r * D;
		double mean = 0.0, var = 0.0;
		for (int j = 0; j < D; j++)
			mean += in[j];
		mean /= D;
		for (int j = 0; j < D; j++)
			var += (in[j] - mean) * (in[j] - mean);
		var /= D;
		float rstd = (float)(1.0 / sqrt(var + 1e-5)), fm = (float)mean;
		for (int j = 0; j < D; j++)
			want[r * D + j] = (in[j] - fm) * rstd * w[j] + b[j];
	}
	for (int wide = 0; wide < 2; wide++) {
		vv_model_vec_set_wide(wide ? -1 : 0);
		for (int rows = 1; rows <= R; rows++) {
			vv_model_vec_layernorm(got, src, (size_t)rows, D, w, b, 1e-5f);
			assert_memory_equal(got, want, (size_t)rows * D * sizeof *got);
			memcpy(got, src, (size_t)rows * D * sizeof *got);
			vv_model_vec_layernorm(got, got, (size_t)rows, D, w, b, 1e-5f);
			assert_memory_equal(got, want, (size_t)rows * D * sizeof *got);
		}
	}
	vv_model_vec_set_wide(-1);
}

/* The element-wise maths gives the same bits at width 16 (AVX-512) as at
 * width 4, for every row length and position, and stays close to libm. */
static void test_vecmath_widths(void **state)
{
	enum { N = 75 };
	static const enum vv_model_ffn acts[] = {VV_MODEL_FFN_SWIGLU, VV_MODEL_FFN_GELU};
	float a[2 * N], b[2 * N], src[2 * N];
	unsigned x = 7;
	double worst = 0.0;

	(void)state;
	if (!__builtin_cpu_supports("avx512f"))
		print_message("no AVX-512 here: only width 4 runs\n");
	for (int n = 1; n <= N; n++) {
		for (int i = 0; i < 2 * n; i++, x = x * 1103515245u + 12345u)
			src[i] = ((float)((x >> 8) & 0xffff) / 65536.0f - 0.5f) * (i % 7 == 0 ? 200.0f : 12.0f);
		/* softmax of one row */
		for (int wide = 0; wide < 2; wide++) {
			float *o = wide ? b : a;
			memcpy(o, src, (size_t)n * sizeof *o);
			vv_model_vec_set_wide(wide ? -1 : 0);
			vv_model_vec_softmax_rows(o, 1, n);
		}
		assert_memory_equal(a, b, (size_t)n * sizeof *a);
		{
			double mx = src[0], sum = 0.0;
			for (int i = 1; i < n; i++)
				mx = src[i] > mx ? src[i] : mx;
			for (int i = 0; i < n; i++)
				sum += exp(src[i] - mx);
			for (int i = 0; i < n; i++) {
				double e = fabs(a[i] - exp(src[i] - mx) / sum);
				worst = e > worst ? e : worst;
			}
		}
		for (size_t k = 0; k < sizeof acts / sizeof acts[0]; k++) {
			for (int wide = 0; wide < 2; wide++) {
				float *o = wide ? b : a;
				memcpy(o, src, 2 * (size_t)n * sizeof *o);
				vv_model_vec_set_wide(wide ? -1 : 0);
				vv_model_vec_activate(acts[k], o, 1, (size_t)n, 2 * (size_t)n);
			}
			assert_memory_equal(a, b, (size_t)n * sizeof *a);
			for (int i = 0; i < n; i++) {
				double v = src[i], want = acts[k] == VV_MODEL_FFN_SWIGLU
							      ? v / (1.0 + exp(-v)) * src[n + i]
							      : 0.5 * v * (1.0 + erf(v / sqrt(2.0)));
				assert_true(fabs(a[i] - want) <= 1e-5 * (1.0 + fabs(want)));
			}
		}
	}
	vv_model_vec_set_wide(-1);
	print_message("softmax: max |error| %.3g against double\n", worst);
	assert_true(worst < 1e-6);
}

/* ---- a straightforward reference forward, in double ----
 * ESM, absolute positions, no token dropout, tied MLM head, as the fixture
 * builds it; weights read back from the fixture's safetensors image. */
static const float *ref_tensor(const struct fx *f, const char *name)
{
	char key[300];
	const char *hdr = (const char *)f->st + 8, *p;
	size_t b = 0, e = 0;

	snprintf(key, sizeof key, "\"%s\":{", name);
	p = strstr(hdr, key);
	if (!p)
		fail_msg("fixture lacks %s", name);
	p = strstr(p, "\"data_offsets\":[");
	assert_non_null(p);
	assert_int_equal(sscanf(p, "\"data_offsets\":[%zu,%zu]", &b, &e), 2);
	uint64_t hl = 0;
	for (int i = 0; i < 8; i++)
		hl |= (uint64_t)f->st[i] << (8 * i);
	return (const float *)(const void *)(f->st + 8 + hl + b);
}

static const float *ref_w(const struct fx *f, const char *fmt, int l)
{
	char n[300];
	snprintf(n, sizeof n, fmt, l);
	return ref_tensor(f, n);
}

/* y[n][o] = x[n][i] . W[o][i] + b[o] */
static void ref_linear(double *y, const double *x, size_t n, size_t in, size_t out, const float *w,
		       const float *b)
{
	for (size_t r = 0; r < n; r++)
		for (size_t o = 0; o < out; o++) {
			double acc = b ? b[o] : 0.0;
			for (size_t i = 0; i < in; i++)
				acc += x[r * in + i] * w[o * in + i];
			y[r * out + o] = acc;
		}
}

static void ref_ln(double *y, const double *x, size_t n, size_t d, const float *g, const float *b)
{
	for (size_t r = 0; r < n; r++) {
		double mean = 0, var = 0;
		for (size_t j = 0; j < d; j++)
			mean += x[r * d + j];
		mean /= (double)d;
		for (size_t j = 0; j < d; j++)
			var += (x[r * d + j] - mean) * (x[r * d + j] - mean);
		var /= (double)d;
		for (size_t j = 0; j < d; j++)
			y[r * d + j] = (x[r * d + j] - mean) / sqrt(var + 1e-5) * g[j] + b[j];
	}
}

static double ref_gelu(double x)
{
	return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
}

/* Runs one sequence; fills hidden[L*d] and logits[L*V]; returns the widest
 * span (max - min) of attention scores seen in any row. */
static double ref_forward(const struct fx *f, const struct fx_opts *o, const int32_t *ids, size_t L,
			  double *hidden, double *logits)
{
	const size_t d = (size_t)o->hidden, I = (size_t)o->inter, H = (size_t)o->heads, dh = d / H;
	const size_t V = sizeof fx_char_vocab / sizeof *fx_char_vocab;
	const int pad = 1;
	const float *word = ref_tensor(f, "esm.embeddings.word_embeddings.weight");
	const float *pos = o->rotary ? NULL : ref_tensor(f, "esm.embeddings.position_embeddings.weight");
	const int mask = 4;
	double scale = 1.0;
	size_t nmask = 0;
	double *x = calloc(L * d, sizeof *x), *h = calloc(L * d, sizeof *h), *q = calloc(L * d, sizeof *q);
	double *k = calloc(L * d, sizeof *k), *v = calloc(L * d, sizeof *v), *ctx = calloc(L * d, sizeof *ctx);
	double *ff = calloc(L * I, sizeof *ff), *s = calloc(L, sizeof *s), span = 0;

	assert_true(x && h && q && k && v && ctx && ff && s);
	/* ESM token dropout: <mask> rows zeroed, the others scaled by
	 * (1 - 0.15 * 0.8) / (1 - the observed masked fraction) */
	for (size_t t = 0; t < L; t++)
		nmask += ids[t] == mask;
	if (o->token_dropout && nmask < L)
		scale = (1.0 - 0.15 * 0.8) / (1.0 - (double)nmask / (double)L);
	for (size_t t = 0; t < L; t++)
		for (size_t j = 0; j < d; j++) {
			double e = (double)word[(size_t)ids[t] * d + j];
			if (o->token_dropout)
				e = ids[t] == mask ? 0.0 : e * scale;
			x[t * d + j] = e + (pos ? pos[((size_t)pad + 1 + t) * d + j] : 0.0);
		}
	for (int l = 0; l < o->layers; l++) {
		ref_ln(h, x, L, d, ref_w(f, "esm.encoder.layer.%d.attention.LayerNorm.weight", l),
		       ref_w(f, "esm.encoder.layer.%d.attention.LayerNorm.bias", l));
		ref_linear(q, h, L, d, d, ref_w(f, "esm.encoder.layer.%d.attention.self.query.weight", l),
			   ref_w(f, "esm.encoder.layer.%d.attention.self.query.bias", l));
		ref_linear(k, h, L, d, d, ref_w(f, "esm.encoder.layer.%d.attention.self.key.weight", l),
			   ref_w(f, "esm.encoder.layer.%d.attention.self.key.bias", l));
		ref_linear(v, h, L, d, d, ref_w(f, "esm.encoder.layer.%d.attention.self.value.weight", l),
			   ref_w(f, "esm.encoder.layer.%d.attention.self.value.bias", l));
		if (o->rotary) /* rotate_half: (a, b) -> (a cos - b sin, b cos + a sin) */
			for (size_t t = 0; t < L; t++)
				for (size_t hd = 0; hd < H; hd++)
					for (size_t i = 0; i < dh / 2; i++) {
						double th = (double)t / pow(10000.0, (double)(2 * i) / (double)dh);
						for (double *qk = q; qk; qk = qk == q ? k : NULL) {
							double *a = qk + t * d + hd * dh + i, *b = a + dh / 2;
							double a0 = *a, b0 = *b;
							*a = a0 * cos(th) - b0 * sin(th);
							*b = b0 * cos(th) + a0 * sin(th);
						}
					}
		for (size_t hd = 0; hd < H; hd++)
			for (size_t i = 0; i < L; i++) {
				double mx = -INFINITY, mn = INFINITY, sum = 0;
				for (size_t t = 0; t < L; t++) {
					double a = 0;
					for (size_t c = 0; c < dh; c++)
						a += q[i * d + hd * dh + c] * k[t * d + hd * dh + c];
					s[t] = a / sqrt((double)dh);
					mx = s[t] > mx ? s[t] : mx;
					mn = s[t] < mn ? s[t] : mn;
				}
				span = mx - mn > span ? mx - mn : span;
				for (size_t t = 0; t < L; t++)
					sum += (s[t] = exp(s[t] - mx));
				for (size_t c = 0; c < dh; c++) {
					double acc = 0;
					for (size_t t = 0; t < L; t++)
						acc += s[t] / sum * v[t * d + hd * dh + c];
					ctx[i * d + hd * dh + c] = acc;
				}
			}
		ref_linear(h, ctx, L, d, d, ref_w(f, "esm.encoder.layer.%d.attention.output.dense.weight", l),
			   ref_w(f, "esm.encoder.layer.%d.attention.output.dense.bias", l));
		for (size_t j = 0; j < L * d; j++)
			x[j] += h[j];
		ref_ln(h, x, L, d, ref_w(f, "esm.encoder.layer.%d.LayerNorm.weight", l),
		       ref_w(f, "esm.encoder.layer.%d.LayerNorm.bias", l));
		ref_linear(ff, h, L, d, I, ref_w(f, "esm.encoder.layer.%d.intermediate.dense.weight", l),
			   ref_w(f, "esm.encoder.layer.%d.intermediate.dense.bias", l));
		for (size_t j = 0; j < L * I; j++)
			ff[j] = ref_gelu(ff[j]);
		ref_linear(h, ff, L, I, d, ref_w(f, "esm.encoder.layer.%d.output.dense.weight", l),
			   ref_w(f, "esm.encoder.layer.%d.output.dense.bias", l));
		for (size_t j = 0; j < L * d; j++)
			x[j] += h[j];
	}
	ref_ln(hidden, x, L, d, ref_tensor(f, "esm.encoder.emb_layer_norm_after.weight"),
	       ref_tensor(f, "esm.encoder.emb_layer_norm_after.bias"));
	ref_linear(h, hidden, L, d, d, ref_tensor(f, "lm_head.dense.weight"), ref_tensor(f, "lm_head.dense.bias"));
	for (size_t j = 0; j < L * d; j++)
		h[j] = ref_gelu(h[j]);
	ref_ln(x, h, L, d, ref_tensor(f, "lm_head.layer_norm.weight"), ref_tensor(f, "lm_head.layer_norm.bias"));
	ref_linear(logits, x, L, d, V, word, ref_tensor(f, "lm_head.bias"));
	free(x), free(h), free(q), free(k), free(v), free(ctx), free(ff), free(s);
	return span;
}

/* |got - want| <= tol * (1 + |want|) everywhere; returns the worst ratio. */
static double ref_compare(const char *what, size_t seq, const float *got, const double *want, size_t n,
			  double tol)
{
	double worst = 0;
	for (size_t i = 0; i < n; i++) {
		double e = fabs((double)got[i] - want[i]) / (1.0 + fabs(want[i]));
		if (!(e <= tol))
			fail_msg("sequence %zu, %s[%zu]: engine %.9g, reference %.9g", seq, what, i,
				 (double)got[i], want[i]);
		worst = e > worst ? e : worst;
	}
	return worst;
}

/* Numerically hostile inputs against the reference: query and key weights
 * scaled so that attention scores within a row span far more than 88 (a
 * softmax that subtracted the row minimum, or skipped the maximum, would
 * overflow exp() there), in one batch with a one-token sequence (47 rows
 * of padding after it), a long all-<pad> sequence, and a long mixed one
 * whose length leaves 47 padding rows too. */
static void test_forward_matches_reference_on_hostile_inputs(void **state)
{
	struct fx_opts o = fx_esm();
	struct fx f;
	vv_model *m = NULL;
	vv_model_run *r = NULL;
	enum { NS = 3, LMAX = 97 };
	static int32_t ids[NS][LMAX];
	const size_t len[NS] = {1, 80, LMAX};
	struct vv_model_seq seqs[NS];
	struct vv_model_at at[LMAX];
	const size_t V = sizeof fx_char_vocab / sizeof *fx_char_vocab;
	double *hid, *lg, span = 0;
	float *out;
	uint32_t rnd = 7;

	(void)state;
	o.rotary = 0;
	o.hidden = 16;
	o.heads = 2;
	o.inter = 32;
	o.max_pos = LMAX + 2;
	o.qk_gain = 4;
	fx_build(&o, &f);
	assert_int_equal(fx_load(&f, NULL, &m), 0);
	assert_int_equal(vv_model_rows(1), 48);
	assert_int_equal(vv_model_rows(LMAX), 144);
	ids[0][0] = 7;
	for (size_t t = 0; t < len[1]; t++)
		ids[1][t] = 1; /* <pad> */
	for (size_t t = 0; t < len[2]; t++) {
		rnd = rnd * 1103515245u + 12345u;
		ids[2][t] = (int32_t)(5 + (rnd >> 16) % 5); /* A C G T N */
	}
	ids[2][0] = 0;
	ids[2][LMAX - 1] = 2;
	for (int s = 0; s < NS; s++)
		seqs[s] = (struct vv_model_seq){ids[s], len[s]};
	hid = calloc(LMAX * (size_t)o.hidden, sizeof *hid);
	lg = calloc(LMAX * V, sizeof *lg);
	out = calloc(LMAX * V, sizeof *out);
	assert_true(hid && lg && out);
	assert_int_equal(vv_model_run_new(m, NS, LMAX, &r), 0);
	for (int threads = 1; threads <= 2; threads++) {
		assert_int_equal(vv_model_run_set_threads(r, threads), 0);
		assert_int_equal(vv_model_forward(r, seqs, NS), 0);
		for (size_t s = 0; s < NS; s++) {
			const float *h;
			size_t n;
			double sp = ref_forward(&f, &o, ids[s], len[s], hid, lg);
			span = sp > span ? sp : span;
			assert_int_equal(vv_model_hidden(r, s, &h, &n), 0);
			assert_int_equal(n, len[s]);
			ref_compare("hidden", s, h, hid, n * (size_t)o.hidden, 2e-3);
			for (size_t t = 0; t < n; t++)
				at[t] = (struct vv_model_at){(uint32_t)s, (uint32_t)t};
			assert_int_equal(vv_model_mlm_logits(r, at, n, out), 0);
			ref_compare("logits", s, out, lg, n * V, 2e-3);
		}
	}
	/* the test is only as hostile as its scores are wide */
	if (span < 100.0)
		fail_msg("attention scores span only %g; raise qk_gain", span);
	vv_model_run_free(r);
	free(hid);
	free(lg);
	free(out);
	vv_model_free(m);
	fx_free(&f);
}

/* The same reference with rotary positions and ESM token dropout (masked
 * tokens in every sequence, a different fraction in each), so that the
 * engine's handling of both is checked without PyTorch. */
static void test_forward_matches_reference_rotary_dropout(void **state)
{
	struct fx_opts o = fx_esm();
	struct fx f;
	vv_model *m = NULL;
	vv_model_run *r = NULL;
	enum { NS = 3, LMAX = 40 };
	static int32_t ids[NS][LMAX];
	const size_t len[NS] = {5, LMAX, 23};
	struct vv_model_seq seqs[NS];
	struct vv_model_at at[LMAX];
	const size_t V = sizeof fx_char_vocab / sizeof *fx_char_vocab;
	double *hid, *lg;
	float *out;
	uint32_t rnd = 11;

	(void)state;
	o.token_dropout = 1;
	o.qk_gain = 2;
	fx_build(&o, &f);
	assert_int_equal(fx_load(&f, NULL, &m), 0);
	for (int s = 0; s < NS; s++) {
		for (size_t t = 0; t < len[s]; t++) {
			rnd = rnd * 1103515245u + 12345u;
			ids[s][t] = (int32_t)(5 + (rnd >> 16) % 5);
		}
		for (size_t t = 1; t < len[s]; t += (size_t)(3 + s))
			ids[s][t] = 4; /* <mask> */
		seqs[s] = (struct vv_model_seq){ids[s], len[s]};
	}
	hid = calloc(LMAX * (size_t)o.hidden, sizeof *hid);
	lg = calloc(LMAX * V, sizeof *lg);
	out = calloc(LMAX * V, sizeof *out);
	assert_true(hid && lg && out);
	assert_int_equal(vv_model_run_new(m, NS, LMAX, &r), 0);
	assert_int_equal(vv_model_forward(r, seqs, NS), 0);
	for (size_t s = 0; s < NS; s++) {
		const float *h;
		size_t n;
		(void)ref_forward(&f, &o, ids[s], len[s], hid, lg);
		assert_int_equal(vv_model_hidden(r, s, &h, &n), 0);
		ref_compare("hidden", s, h, hid, n * (size_t)o.hidden, 2e-3);
		for (size_t t = 0; t < n; t++)
			at[t] = (struct vv_model_at){(uint32_t)s, (uint32_t)t};
		assert_int_equal(vv_model_mlm_logits(r, at, n, out), 0);
		ref_compare("logits", s, out, lg, n * V, 2e-3);
	}
	vv_model_run_free(r);
	free(hid);
	free(lg);
	free(out);
	vv_model_free(m);
	fx_free(&f);
}

/* The same weights stored as F32, F16 and BF16 (values exact in all three)
 * give bit-identical results; F16 and BF16 land in owned memory. */
static void test_f16_bf16_equal_f32(void **state)
{
	static const char *const dt[] = {"F32", "F16", "BF16"};
	float *res[3];
	size_t n[3];

	(void)state;
	for (int i = 0; i < 3; i++) {
		struct fx_opts o = fx_esm();
		struct fx f;
		vv_model *m = NULL;
		o.dtype = dt[i];
		o.gated = 1;
		o.tied = 0;
		fx_build(&o, &f);
		assert_int_equal(fx_load(&f, NULL, &m), 0);
		assert_int_equal(vv_model_get_info(m)->ffn, VV_MODEL_FFN_SWIGLU);
		assert_int_equal(vv_model_get_info(m)->weights_owned_bytes == 0, i == 0);
		res[i] = run_all(m, 3, 0, &n[i]);
		vv_model_free(m);
		fx_free(&f);
	}
	assert_memory_equal(res[0], res[1], n[0] * sizeof(float));
	assert_memory_equal(res[0], res[2], n[0] * sizeof(float));
	for (int i = 0; i < 3; i++)
		free(res[i]);
}

static void test_unaligned_f32_copied(void **state)
{
	struct fx_opts o = fx_esm();
	struct fx f;
	vv_model *m = NULL, *m2 = NULL;
	size_t n1, n2;
	float *a, *b;

	(void)state;
	fx_build(&o, &f);
	assert_int_equal(fx_load(&f, NULL, &m), 0);
	a = run_all(m, 2, 1, &n1);
	fx_free(&f);
	o.unaligned = 1;
	fx_build(&o, &f);
	assert_int_equal(fx_load(&f, NULL, &m2), 0);
	assert_true(vv_model_get_info(m2)->weights_owned_bytes > 0);
	b = run_all(m2, 2, 1, &n2);
	assert_memory_equal(a, b, n1 * sizeof *a);
	free(a);
	free(b);
	vv_model_free(m);
	vv_model_free(m2);
	fx_free(&f);
}

static void test_ntv2_config_without_model_type(void **state)
{
	struct fx_opts o = fx_esm();
	struct fx f;
	vv_model *m = NULL;

	(void)state;
	o.no_model_type = 1;
	o.gated = 1;
	o.tied = 0;
	fx_build(&o, &f);
	assert_int_equal(fx_load(&f, NULL, &m), 0);
	assert_int_equal(vv_model_get_info(m)->arch, VV_MODEL_ARCH_ESM);
	assert_int_equal(vv_model_get_info(m)->ffn, VV_MODEL_FFN_SWIGLU);
	assert_int_equal(vv_model_get_info(m)->ffn_bias, 0);
	vv_model_free(m);
	fx_free(&f);
}

static void test_config_errors(void **state)
{
	struct fx_opts o = fx_esm();
	struct fx f;
	vv_model *m = NULL;
	static const char *const bad[] = {
		"{\"vocab_size\":10}",                                     /* no architecture */
		"{\"model_type\":\"gpt2\",\"vocab_size\":10}",             /* unsupported */
		"{\"model_type\":\"esm\"}",                                /* no vocab_size */
		"{\"model_type\":\"esm\",\"vocab_size\":10,\"hidden_size\":15,\"num_attention_heads\":2}",
		"{\"model_type\":\"esm\",\"vocab_size\":10,\"hidden_size\":\"16\"}",
		"{\"model_type\":\"esm\",\"vocab_size\":10,\"position_embedding_type\":\"relative_key\"}",
		"{\"model_type\":\"esm\",\"vocab_size\":10,\"num_hidden_layers\":100000}",
		"{\"model_type\":\"esm\",\"vocab_size\":10,\"is_folding_model\":true}",
		"not json",
	};

	(void)state;
	fx_build(&o, &f);
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		struct vv_model_source src = {bad[i], strlen(bad[i]), f.st, f.st_len, f.vocab, f.vocab_len, NULL, 0, NULL};
		assert_int_equal(vv_model_load_mem(&src, &m), VV_ERR_MODEL_CONFIG);
		assert_null(m);
	}
	fx_free(&f);
}

static void test_heads_and_arguments(void **state)
{
	struct fx_opts o = fx_esm();
	struct fx f;
	vv_model *m = NULL;
	vv_model_run *r = NULL;
	int32_t ids[5] = {0, 5, 6, 7, 2}, bad[2] = {0, 10};
	struct vv_model_seq s1 = {ids, 5}, s2 = {bad, 2};
	struct vv_model_at at[2] = {{0, 1}, {0, 3}}, out_of_range = {0, 5};
	float all[5 * 10], some[2 * 10], cls[2 * 3];

	(void)state;
	fx_build(&o, &f);
	assert_int_equal(fx_load(&f, NULL, &m), 0);
	assert_int_equal(vv_model_run_new(m, 1, 65, &r), VV_ERR_MODEL_SEQLEN);
	assert_int_equal(vv_model_run_new(m, 0, 8, &r), VV_ERR_INVAL);
	assert_int_equal(vv_model_run_new(m, 1, 4, &r), 0);
	assert_int_equal(vv_model_mlm_logits(r, at, 2, some), VV_ERR_INVAL); /* no forward yet */
	assert_int_equal(vv_model_forward(r, &s1, 1), VV_ERR_MODEL_SEQLEN);
	vv_model_run_free(r);
	assert_int_equal(vv_model_run_new(m, 1, 8, &r), 0);
	assert_int_equal(vv_model_forward(r, &s2, 1), VV_ERR_INVAL);
	assert_int_equal(vv_model_forward(r, &s1, 2), VV_ERR_INVAL);
	assert_int_equal(vv_model_forward(r, &s1, 1), 0);
	{
		struct vv_model_at every[5];
		for (uint32_t t = 0; t < 5; t++)
			every[t] = (struct vv_model_at){0, t};
		assert_int_equal(vv_model_mlm_logits(r, every, 5, all), 0);
	}
	assert_int_equal(vv_model_mlm_logits(r, at, 2, some), 0);
	/* the head on chosen rows only gives exactly those rows */
	assert_memory_equal(some, all + 10, 10 * sizeof(float));
	assert_memory_equal(some + 10, all + 30, 10 * sizeof(float));
	assert_int_equal(vv_model_mlm_logits(r, &out_of_range, 1, some), VV_ERR_INVAL);
	assert_int_equal(vv_model_cls_logits(r, cls), VV_ERR_UNSUPPORTED);
	vv_model_run_free(r);
	vv_model_free(m);
	fx_free(&f);

	/* classification heads: ESM and BERT */
	for (int bert = 0; bert < 2; bert++) {
		o = fx_esm();
		o.head = VV_MODEL_HEAD_CLS;
		o.bert = bert;
		o.rotary = !bert;
		fx_build(&o, &f);
		assert_int_equal(fx_load(&f, NULL, &m), 0);
		assert_int_equal(vv_model_get_info(m)->num_labels, 3);
		assert_int_equal(vv_model_run_new(m, 2, 8, &r), 0);
		{
			struct vv_model_seq two[2] = {{ids, 5}, {ids, 3}};
			assert_int_equal(vv_model_forward(r, two, 2), 0);
		}
		assert_int_equal(vv_model_cls_logits(r, cls), 0);
		assert_int_equal(vv_model_mlm_logits(r, at, 1, some), VV_ERR_UNSUPPORTED);
		assert_true(memcmp(cls, cls + 3, 3 * sizeof(float)) != 0);
		vv_model_run_free(r);
		vv_model_free(m);
		fx_free(&f);
	}

	/* many more labels than vocabulary rows (a DeepSEA-style head on a
	 * 10-letter vocabulary): the head's scratch must hold 48 rows of them */
	{
		enum { NL = 200 };
		static float many[2 * NL], alone[NL];
		struct vv_model_seq two[2] = {{ids, 5}, {ids, 3}};
		o = fx_esm();
		o.head = VV_MODEL_HEAD_CLS;
		o.num_labels = NL;
		fx_build(&o, &f);
		assert_int_equal(fx_load(&f, NULL, &m), 0);
		assert_int_equal(vv_model_get_info(m)->num_labels, NL);
		assert_int_equal(vv_model_run_new(m, 2, 8, &r), 0);
		assert_int_equal(vv_model_forward(r, two, 2), 0);
		assert_int_equal(vv_model_cls_logits(r, many), 0);
		assert_int_equal(vv_model_forward(r, two + 1, 1), 0);
		assert_int_equal(vv_model_cls_logits(r, alone), 0);
		assert_memory_equal(alone, many + NL, NL * sizeof(float));
		vv_model_run_free(r);
		vv_model_free(m);
		fx_free(&f);
	}
}

static void write_file(const char *dir, const char *name, const void *p, size_t n)
{
	char path[512];
	int fd;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	close(fd);
}

static void rm_dir(const char *dir)
{
	static const char *const files[] = {"config.json", "vocab.txt", "model.safetensors", "pytorch_model.bin",
					    "model.safetensors.index.json"};
	char path[512];
	for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, files[i]);
		unlink(path);
	}
	rmdir(dir);
}

/* F16 and BF16 checkpoints written as F32 (what `model import` stores):
 * every weight then mapped in place, the recorded hash that of the written
 * file, and the logits bit-identical to the model loaded from the original;
 * an aligned F32 checkpoint is copied byte for byte. */
static void test_write_f32(void **state)
{
	static const char *const dt[] = {"F16", "BF16", "F32"};

	(void)state;
	for (int i = 0; i < 3; i++) {
		char src[] = "/tmp/vv-test-model-XXXXXX", dst[] = "/tmp/vv-test-model-XXXXXX";
		char hex[65], sp[600], dp[600], *bytes = NULL;
		struct fx_opts o = fx_esm();
		struct fx f;
		vv_model *m = NULL, *m2 = NULL;
		size_t n1, n2, len;
		uint8_t dig[32];
		char dhex[65];
		float *a, *b;

		o.dtype = dt[i];
		o.extra = 1;
		fx_build(&o, &f);
		assert_non_null(mkdtemp(src));
		assert_non_null(mkdtemp(dst));
		write_file(src, "config.json", f.config, f.config_len);
		write_file(src, "vocab.txt", f.vocab, f.vocab_len);
		write_file(src, "model.safetensors", f.st, f.st_len);
		write_file(dst, "config.json", f.config, f.config_len);
		write_file(dst, "vocab.txt", f.vocab, f.vocab_len);
		snprintf(sp, sizeof sp, "%s/model.safetensors", src);
		snprintf(dp, sizeof dp, "%s/model.safetensors", dst);
		assert_int_equal(vv_model_load(src, &m), 0);
		assert_int_equal(vv_model_get_info(m)->weights_owned_bytes > 0, i < 2);
		assert_int_equal(vv_model_write_f32(sp, dp, hex), 0);
		assert_int_equal(vv_read_file(dp, 1 << 26, &bytes, &len), 0);
		if (i == 2) { /* nothing to convert: the same bytes, the same hash */
			assert_int_equal(len, f.st_len);
			assert_memory_equal(bytes, f.st, len);
		}
		vv_sha256_oneshot(bytes, len, dig);
		vv_hex(dig, 32, dhex);
		assert_string_equal(hex, dhex);
		assert_int_equal(vv_model_load(dst, &m2), 0);
		assert_int_equal(vv_model_get_info(m2)->weights_owned_bytes, 0);
		assert_string_equal(vv_model_get_info(m2)->sha256, hex);
		assert_int_equal(vv_model_get_info(m2)->n_params, vv_model_get_info(m)->n_params);
		a = run_all(m, 3, 0, &n1);
		b = run_all(m2, 3, 0, &n2);
		assert_int_equal(n1, n2);
		assert_memory_equal(a, b, n1 * sizeof *a);
		/* an existing target is left alone; a missing source is named */
		assert_int_equal(vv_model_write_f32(sp, dp, NULL), VV_ERR_EXISTS);
		free(bytes);
		bytes = NULL;
		assert_int_equal(vv_read_file(dp, 1 << 26, &bytes, &len), 0);
		vv_sha256_oneshot(bytes, len, dig);
		vv_hex(dig, 32, dhex);
		assert_string_equal(hex, dhex);
		unlink(sp);
		vv_err_clear();
		assert_int_equal(vv_model_write_f32(sp, dp, NULL), VV_ERR_NOTFOUND);
		assert_non_null(strstr(vv_err_detail(), sp));
		free(a);
		free(b);
		free(bytes);
		vv_model_free(m);
		vv_model_free(m2);
		rm_dir(src);
		rm_dir(dst);
		fx_free(&f);
	}
}

/* The written header: __metadata__ kept, F32 first and aligned, other
 * dtypes copied as they are after them, values converted exactly. */
static void test_write_f32_header(void **state)
{
	static const char hdr[] = "{\"__metadata__\":{\"format\":\"pt\"},"
				  "\"a\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]},"
				  "\"b\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[8,12]},"
				  "\"c\":{\"dtype\":\"F16\",\"shape\":[1,1],\"data_offsets\":[12,14]}}";
	/* a = 7; b = 1.5, -2 (BF16 0x3fc0, 0xc000); c = 2^-24 (F16 subnormal 0x0001) */
	static const uint8_t data[] = {7, 0, 0, 0, 0, 0, 0, 0, 0xc0, 0x3f, 0x00, 0xc0, 0x01, 0x00};
	char dir[] = "/tmp/vv-test-model-XXXXXX", sp[600], dp[600], *bytes = NULL;
	struct json_object *root = NULL, *e, *v;
	uint8_t img[8 + sizeof hdr - 1 + sizeof data];
	uint64_t hl = 0;
	size_t len;
	float fl[3];

	(void)state;
	assert_non_null(mkdtemp(dir));
	for (int i = 0; i < 8; i++)
		img[i] = (uint8_t)((sizeof hdr - 1) >> (8 * i));
	memcpy(img + 8, hdr, sizeof hdr - 1);
	memcpy(img + 8 + sizeof hdr - 1, data, sizeof data);
	write_file(dir, "model.safetensors.index.json", img, sizeof img);
	snprintf(sp, sizeof sp, "%s/model.safetensors.index.json", dir);
	snprintf(dp, sizeof dp, "%s/model.safetensors", dir);
	assert_int_equal(vv_model_write_f32(sp, dp, NULL), 0);
	assert_int_equal(vv_read_file(dp, 1 << 20, &bytes, &len), 0);
	for (int i = 7; i >= 0; i--)
		hl = (hl << 8) | (uint8_t)bytes[i];
	assert_int_equal((8 + hl) % 8, 0);
	assert_int_equal(len, 8 + hl + 12 + 8);
	assert_int_equal(vv_json_parse(bytes + 8, (size_t)hl, "header", &root), 0);
	assert_true(json_object_object_get_ex(root, "__metadata__", &e));
	assert_true(json_object_object_get_ex(e, "format", &v));
	assert_string_equal(json_object_get_string(v), "pt");
	assert_true(json_object_object_get_ex(root, "b", &e));
	assert_true(json_object_object_get_ex(e, "dtype", &v));
	assert_string_equal(json_object_get_string(v), "F32");
	assert_true(json_object_object_get_ex(e, "data_offsets", &v));
	assert_int_equal(json_object_get_int64(json_object_array_get_idx(v, 0)), 0);
	assert_true(json_object_object_get_ex(root, "c", &e));
	assert_true(json_object_object_get_ex(e, "shape", &v));
	assert_int_equal(json_object_array_length(v), 2);
	assert_true(json_object_object_get_ex(e, "data_offsets", &v));
	assert_int_equal(json_object_get_int64(json_object_array_get_idx(v, 0)), 8);
	assert_true(json_object_object_get_ex(root, "a", &e));
	assert_true(json_object_object_get_ex(e, "dtype", &v));
	assert_string_equal(json_object_get_string(v), "I64");
	assert_true(json_object_object_get_ex(e, "data_offsets", &v));
	assert_int_equal(json_object_get_int64(json_object_array_get_idx(v, 0)), 12);
	memcpy(fl, bytes + 8 + hl, sizeof fl); /* little-endian host, as the tests run */
	assert_true(fl[0] == 1.5f && fl[1] == -2.0f && fl[2] == ldexpf(1.0f, -24));
	assert_memory_equal(bytes + 8 + hl + 12, data, 8);
	json_object_put(root);
	free(bytes);
	unlink(dp);
	/* a damaged source is refused and nothing is written */
	write_file(dir, "model.safetensors.index.json", img, sizeof img - 1);
	assert_int_equal(vv_model_write_f32(sp, dp, NULL), VV_ERR_MODEL_FORMAT);
	assert_int_equal(access(dp, F_OK), -1);
	rm_dir(dir);
}

static void test_directory_load_pickle_and_shards(void **state)
{
	char dir[] = "/tmp/vv-test-model-XXXXXX";
	struct fx_opts o = fx_esm();
	struct fx f;
	vv_model *m = NULL;
	uint8_t dig[32];
	char hex[65], path[600];

	(void)state;
	assert_non_null(mkdtemp(dir));
	fx_build(&o, &f);
	write_file(dir, "config.json", f.config, f.config_len);
	write_file(dir, "vocab.txt", f.vocab, f.vocab_len);
	write_file(dir, "pytorch_model.bin", "PK\3\4", 4);
	vv_err_clear();
	assert_int_equal(vv_model_load(dir, &m), VV_ERR_MODEL_PICKLE);
	assert_non_null(strstr(vv_err_detail(), "tools/convert_pickle_to_safetensors.py"));
	write_file(dir, "model.safetensors.index.json", "{}", 2);
	assert_int_equal(vv_model_load(dir, &m), VV_ERR_UNSUPPORTED);
	write_file(dir, "model.safetensors", f.st, f.st_len);
	assert_int_equal(vv_model_load(dir, &m), 0);
	vv_sha256_oneshot(f.st, f.st_len, dig);
	vv_hex(dig, 32, hex);
	assert_string_equal(vv_model_get_info(m)->sha256, hex);
	assert_int_equal(vv_model_get_info(m)->weights_file_bytes, f.st_len);
	vv_model_free(m);
	/* a truncated weights file is a format error naming the file */
	write_file(dir, "model.safetensors", f.st, f.st_len - 3);
	assert_int_equal(vv_model_load(dir, &m), VV_ERR_MODEL_FORMAT);
	assert_non_null(strstr(vv_err_detail(), dir));
	snprintf(path, sizeof path, "%s/vocab.txt", dir);
	unlink(path);
	write_file(dir, "model.safetensors", f.st, f.st_len);
	assert_int_equal(vv_model_load(dir, &m), VV_ERR_IO);
	rm_dir(dir);
	fx_free(&f);
}

/* The self-test runs a padded batch through each head and catches weights
 * that make the output non-finite; the info JSON carries the model's facts. */
static void test_selftest_and_info_json(void **state)
{
	struct fx_opts o = fx_esm();
	struct vv_model_selftest_result res = {{0, 0}};
	struct json_object *root = NULL, *v, *mem;
	struct fx f;
	vv_model *m = NULL;
	char *text = NULL;
	uint64_t hlen = 0;

	(void)state;
	fx_build(&o, &f);
	assert_int_equal(fx_load(&f, NULL, &m), 0);
	assert_int_equal(vv_model_selftest(m, &res), 0);
	assert_int_equal(res.tokens[0], 64); /* the 62 bases, cls and eos: cut to max_tokens */
	assert_int_equal(res.tokens[1], 19); /* 17 bases, cls, eos */
	assert_int_equal(vv_model_info_json(m, 2, 8, 1, -1, &text), 0);
	assert_int_equal(vv_json_parse(text, strlen(text), "info", &root), 0);
	assert_true(json_object_object_get_ex(root, "name", &v));
	assert_string_equal(json_object_get_string(v), "fixture-model");
	assert_true(json_object_object_get_ex(root, "parameters", &v));
	assert_int_equal(json_object_get_int64(v), (int64_t)vv_model_get_info(m)->n_params);
	assert_true(json_object_object_get_ex(root, "memory", &mem));
	assert_true(json_object_object_get_ex(mem, "run_state_batch", &v));
	assert_int_equal(json_object_get_int64(v), 2);
	assert_false(json_object_object_get_ex(mem, "max_rss_after_load_mib", &v));
	json_object_put(root);
	free(text);
	vv_model_free(m);

	/* every weight NaN: the load accepts it, the self-test does not */
	for (int i = 0; i < 8; i++)
		hlen |= (uint64_t)f.st[i] << (8 * i);
	for (size_t off = 8 + (size_t)hlen; off + 4 <= f.st_len; off += 4)
		memcpy(f.st + off, &(uint32_t){0x7fc00000u}, 4);
	assert_int_equal(fx_load(&f, NULL, &m), 0);
	vv_err_clear();
	assert_int_equal(vv_model_selftest(m, NULL), VV_ERR_INTERNAL);
	assert_non_null(strstr(vv_err_detail(), "not finite"));
	vv_model_free(m);
	fx_free(&f);

	/* a classification head */
	o = fx_esm();
	o.head = VV_MODEL_HEAD_CLS;
	fx_build(&o, &f);
	assert_int_equal(fx_load(&f, NULL, &m), 0);
	assert_int_equal(vv_model_selftest(m, NULL), 0);
	vv_model_free(m);
	fx_free(&f);
}

/* bf16 <-> float: round to nearest even, NaN kept. */
static void test_bf16_conversion(void **state)
{
	uint32_t u;
	float f;

	(void)state;
	assert_int_equal(vv_model_bf16_from_float(1.0f), 0x3f80);
	assert_true(vv_model_bf16_to_float(0x3f80) == 1.0f);
	u = 0x3f808000u; /* halfway, even below: down */
	memcpy(&f, &u, sizeof f);
	assert_int_equal(vv_model_bf16_from_float(f), 0x3f80);
	u = 0x3f818000u; /* halfway, odd below: up */
	memcpy(&f, &u, sizeof f);
	assert_int_equal(vv_model_bf16_from_float(f), 0x3f82);
	u = 0x3f808001u; /* above halfway: up */
	memcpy(&f, &u, sizeof f);
	assert_int_equal(vv_model_bf16_from_float(f), 0x3f81);
	f = vv_model_bf16_to_float(vv_model_bf16_from_float(NAN));
	assert_true(f != f);
	assert_true(vv_model_bf16_to_float(vv_model_bf16_from_float(-INFINITY)) == -INFINITY);
}

/* bf16 is refused, with a reason, on a CPU without AVX512-BF16 or AMX (the
 * CPU passed in: any machine can run this) and for classification models;
 * the model stays fp32. */
static void test_bf16_refused(void **state)
{
	struct fx_opts o = fx_esm();
	struct fx f;
	vv_model *m = NULL;
	struct vv_model_cpu avx512 = {.avx = true, .avx2 = true, .fma = true, .avx512 = true};
	struct vv_model_cpu amx = avx512;
	enum vv_model_precision p;

	(void)state;
	amx.amx_bf16 = true;
	assert_false(vv_model_precision_supported(&avx512, VV_MODEL_BF16));
	assert_true(vv_model_precision_supported(&avx512, VV_MODEL_FP32));
	assert_true(vv_model_precision_supported(&amx, VV_MODEL_BF16));
	fx_build(&o, &f);
	assert_int_equal(fx_load(&f, NULL, &m), 0);
	assert_int_equal(vv_model_set_precision(m, VV_MODEL_BF16, &avx512), VV_ERR_UNSUPPORTED);
	assert_non_null(strstr(vv_err_detail(), "AVX512-BF16 or AMX"));
	assert_int_equal(vv_model_get_info(m)->precision, VV_MODEL_FP32);
	assert_int_equal(vv_model_get_info(m)->weights_bf16_bytes, 0);
	assert_int_equal(vv_model_set_precision(m, VV_MODEL_FP32, &avx512), 0);
	vv_model_free(m);
	fx_free(&f);
	o.head = VV_MODEL_HEAD_CLS;
	fx_build(&o, &f);
	assert_int_equal(fx_load(&f, NULL, &m), 0);
	assert_int_equal(vv_model_set_precision(m, VV_MODEL_BF16, &amx), VV_ERR_UNSUPPORTED);
	assert_non_null(strstr(vv_err_detail(), "masked-LM"));
	vv_model_free(m);
	fx_free(&f);
	assert_int_equal(vv_model_precision_parse("bf16", &p), 0);
	assert_int_equal(p, VV_MODEL_BF16);
	assert_int_equal(vv_model_precision_parse("fp32", &p), 0);
	assert_int_equal(p, VV_MODEL_FP32);
	assert_int_equal(vv_model_precision_parse("fp16", &p), VV_ERR_INVAL);
	assert_string_equal(vv_model_precision_name(VV_MODEL_BF16), "bf16");
}

/* Log-softmax of each row of V logits, in double. */
static void log_softmax(const float *x, double *y, size_t rows, size_t V)
{
	for (size_t i = 0; i < rows; i++) {
		double mx = x[i * V], sum = 0.0;
		for (size_t j = 1; j < V; j++)
			mx = x[i * V + j] > mx ? x[i * V + j] : mx;
		for (size_t j = 0; j < V; j++)
			sum += exp(x[i * V + j] - mx);
		for (size_t j = 0; j < V; j++)
			y[i * V + j] = x[i * V + j] - mx - log(sum);
	}
}

/* bf16 against fp32 on the same weights, where the CPU has bf16.  The
 * tolerance (docs/model.md): log-probabilities within 0.35 at any token and
 * 0.04 on average, hidden states within 3% of their largest magnitude (the
 * fixture's random weights are larger than trained ones: 0.17, 0.020 and 1.6%
 * measured).
 * bf16 runs are deterministic: bit-identical whatever the batch and thread
 * count; back to fp32 gives fp32's bits again. */
static void test_bf16_parity(void **state)
{
	struct fx_opts o = fx_esm();
	struct fx f;
	vv_model *m = NULL;
	struct vv_model_cpu cpu;
	const struct vv_model_info *I;
	size_t n, n2, d, V, tokens;
	float *a, *b, *c;
	double *la, *lb, maxd = 0.0, sumd = 0.0, hmax = 0.0, hd = 0.0;

	(void)state;
	vv_model_cpu_detect(&cpu);
	if (!vv_model_precision_supported(&cpu, VV_MODEL_BF16)) {
		print_message("this CPU has neither AVX512-BF16 nor AMX: bf16 parity not run\n");
		skip();
	}
	o.hidden = 64;
	o.heads = 4;
	o.inter = 256;
	o.gated = 1;
	o.tied = 0;
	fx_build(&o, &f);
	assert_int_equal(fx_load(&f, NULL, &m), 0);
	I = vv_model_get_info(m);
	d = (size_t)I->hidden_size;
	V = (size_t)I->vocab_size;
	a = run_all(m, NSEQ, 1, &n);
	assert_int_equal(vv_model_set_precision(m, VV_MODEL_BF16, NULL), 0);
	assert_int_equal(I->precision, VV_MODEL_BF16);
	assert_true(I->weights_bf16_bytes > 0);
	b = run_all(m, NSEQ, 1, &n2);
	assert_int_equal(n, n2);
	tokens = n / (d + V);
	for (size_t i = 0; i < tokens * d; i++) {
		hmax = fabs(a[i]) > hmax ? fabs(a[i]) : hmax;
		hd = fabs(a[i] - b[i]) > hd ? fabs(a[i] - b[i]) : hd;
	}
	la = malloc(tokens * V * sizeof *la);
	lb = malloc(tokens * V * sizeof *lb);
	log_softmax(a + tokens * d, la, tokens, V);
	log_softmax(b + tokens * d, lb, tokens, V);
	for (size_t i = 0; i < tokens * V; i++) {
		double e = fabs(la[i] - lb[i]);
		maxd = e > maxd ? e : maxd;
		sumd += e;
	}
	print_message("bf16 vs fp32: max |dlogp| %.4f, mean %.5f; hidden max |d| %.4f of %.3f\n", maxd,
		      sumd / (double)(tokens * V), hd, hmax);
	assert_true(maxd > 0.0); /* bf16 really ran */
	assert_true(maxd <= 0.35);
	assert_true(sumd / (double)(tokens * V) <= 0.04);
	assert_true(hd <= 0.03 * hmax);
	c = run_all(m, 4, 2, &n2);
	assert_memory_equal(b, c, n * sizeof *b);
	free(c);
	c = run_all(m, 1, 3, &n2);
	assert_memory_equal(b, c, n * sizeof *b);
	free(c);
	assert_int_equal(vv_model_set_precision(m, VV_MODEL_FP32, NULL), 0);
	c = run_all(m, NSEQ, 2, &n2);
	assert_memory_equal(a, c, n * sizeof *a);
	free(a);
	free(b);
	free(c);
	free(la);
	free(lb);
	vv_model_free(m);
	fx_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_load_esm_info),
		cmocka_unit_test(test_missing_tensor_named),
		cmocka_unit_test(test_bad_shape_and_dtype),
		cmocka_unit_test(test_safetensors_header_rules),
		cmocka_unit_test(test_bitwise_batch_and_threads),
		cmocka_unit_test(test_forward_mlm_trimmed),
		cmocka_unit_test(test_vecmath_widths),
		cmocka_unit_test(test_layernorm_bits),
		cmocka_unit_test(test_rotary_bits),
		cmocka_unit_test(test_run_flops),
		cmocka_unit_test(test_bf16_many_shapes),
		cmocka_unit_test(test_forward_matches_reference_on_hostile_inputs),
		cmocka_unit_test(test_forward_matches_reference_rotary_dropout),
		cmocka_unit_test(test_f16_bf16_equal_f32),
		cmocka_unit_test(test_unaligned_f32_copied),
		cmocka_unit_test(test_ntv2_config_without_model_type),
		cmocka_unit_test(test_config_errors),
		cmocka_unit_test(test_heads_and_arguments),
		cmocka_unit_test(test_selftest_and_info_json),
		cmocka_unit_test(test_directory_load_pickle_and_shards),
		cmocka_unit_test(test_write_f32),
		cmocka_unit_test(test_write_f32_header),
		cmocka_unit_test(test_bf16_conversion),
		cmocka_unit_test(test_bf16_refused),
		cmocka_unit_test(test_bf16_parity),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
