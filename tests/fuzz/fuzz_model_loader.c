/* libFuzzer target: the model loader (config.json, vocab.txt,
 * tokenizer_config.json and safetensors parsed from memory), then a small
 * forward and both heads on whatever loads.
 *
 * Input: three little-endian u16 lengths (config, vocab, tokenizer_config;
 * 0 = no tokenizer_config), those three texts, then the safetensors image.
 * Invariants (abort() on violation): a failed load returns a negative code
 * and no model; a loaded model's facts are consistent (vocabulary, heads,
 * token limit), its tokenizer gives ids inside the vocabulary, and after a
 * forward its heads cannot fail; the hidden states are bit-identical with
 * 1 and 2 threads (the engine's design: docs/model.md).
 * tests/fuzz/make_model_loader_seeds.py writes the seed corpus. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "varvault/model.h"

#define RUN_LIMIT (64u << 20)

static void exercise(vv_model *m)
{
	static const char dna[] = "ACGTNACGTTGCAacgtRYACGGTACCATGA";
	const struct vv_model_info *I = vv_model_get_info(m);
	int32_t ids[2][sizeof dna + 2];
	struct vv_model_seq seqs[2];
	vv_model_run *r = NULL;
	size_t n0, n1, T;
	float *out = NULL;

	if (vv_model_tokenize(m, dna, sizeof dna - 1, ids[0], NULL, sizeof dna + 2, &n0) != 0 ||
	    vv_model_tokenize(m, dna, 5, ids[1], NULL, sizeof dna + 2, &n1) != 0)
		abort(); /* the buffers are large enough for every tokenizer */
	if (n0 > (size_t)I->max_tokens)
		n0 = (size_t)I->max_tokens;
	if (n1 > (size_t)I->max_tokens)
		n1 = (size_t)I->max_tokens;
	if (n0 == 0 || n1 == 0)
		return;
	T = n0 > n1 ? n0 : n1;
	if (vv_model_run_bytes(m, 2, T, 2) > RUN_LIMIT || vv_model_run_new(m, 2, T, &r) != 0)
		return;
	seqs[0] = (struct vv_model_seq){ids[0], n0};
	seqs[1] = (struct vv_model_seq){ids[1], n1};
	for (size_t t = 0; t < n0; t++)
		if (ids[0][t] < 0 || ids[0][t] >= I->vocab_size)
			abort();
	if (vv_model_run_set_threads(r, 2) == 0 && vv_model_forward(r, seqs, 2) == 0) {
		const float *h;
		size_t len, bytes;
		float *two;
		if (vv_model_hidden(r, 0, &h, &len) != 0 || len != n0)
			abort();
		/* the same forward on one thread: the same bits */
		bytes = n0 * (size_t)I->hidden_size * sizeof *h;
		if ((two = malloc(bytes)) != NULL) {
			memcpy(two, h, bytes);
			if (vv_model_run_set_threads(r, 1) == 0) {
				if (vv_model_forward(r, seqs, 2) != 0 || vv_model_hidden(r, 0, &h, &len) != 0 ||
				    len != n0 || memcmp(two, h, bytes) != 0)
					abort();
			}
			free(two);
		}
		struct vv_model_at at[2] = {{0, 0}, {1, (uint32_t)(n1 - 1)}};
		if (vv_model_hidden(r, 1, &h, &len) != 0 || len != n1)
			abort();
		/* after a forward, the model's own head cannot fail */
		if (I->head == VV_MODEL_HEAD_MLM && (out = malloc(2 * (size_t)I->vocab_size * sizeof *out)) != NULL &&
		    vv_model_mlm_logits(r, at, 2, out) != 0)
			abort();
		if (I->head == VV_MODEL_HEAD_CLS && (out = malloc(2 * (size_t)I->num_labels * sizeof *out)) != NULL &&
		    vv_model_cls_logits(r, out) != 0)
			abort();
	}
	free(out);
	vv_model_run_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vv_model_source src = {0};
	size_t lc, lv, lt, off = 6;
	uint8_t *weights;
	vv_model *m = NULL;
	int rc;

	if (size < 6)
		return 0;
	lc = (size_t)data[0] | (size_t)data[1] << 8;
	lv = (size_t)data[2] | (size_t)data[3] << 8;
	lt = (size_t)data[4] | (size_t)data[5] << 8;
	if (lc + lv + lt > size - off)
		return 0;
	src.config = (const char *)data + off;
	src.config_len = lc;
	src.vocab = (const char *)data + off + lc;
	src.vocab_len = lv;
	if (lt) {
		src.tokenizer_config = (const char *)data + off + lc + lv;
		src.tokenizer_config_len = lt;
	}
	off += lc + lv + lt;
	/* The weights in their own allocation, aligned like a mapping. */
	if ((weights = malloc(size - off + 1)) == NULL)
		return 0;
	memcpy(weights, data + off, size - off);
	src.weights = weights;
	src.weights_len = size - off;
	src.name = "fuzz";
	m = (vv_model *)&src; /* must be set either way */
	if ((rc = vv_model_load_mem(&src, &m)) == 0) {
		const struct vv_model_info *I = vv_model_get_info(m);
		if (!I || I->vocab_size < 1 || I->hidden_size < 1 || I->num_heads < 1 ||
		    I->hidden_size % I->num_heads != 0 || I->max_tokens < 1)
			abort();
		exercise(m);
		vv_model_free(m);
	} else if (m != NULL || rc > 0) {
		abort(); /* a failed load leaves nothing behind */
	}
	free(weights);
	return 0;
}
