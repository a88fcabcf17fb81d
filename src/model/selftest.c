/* The model's self-test and its description as JSON: what `model check`,
 * `model import`, `model info --json` and the daemon's health verb share. */
#include "varvault/model.h"

#include <json-c/json.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static bool all_finite(const float *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isfinite(p[i]))
			return false;
	return true;
}

int vv_model_selftest(const vv_model *m, struct vv_model_selftest_result *res)
{
	static const char dna[] = "ACGTNACGTTGCAACGGTACCATGACGTAGCTAGCTTAGCCGATCGATCGGATCCAGTCAGT";
	const struct vv_model_info *I = vv_model_get_info(m);
	int32_t ids[2][sizeof dna + 2];
	struct vv_model_seq seqs[2];
	vv_model_run *r = NULL;
	float *out = NULL;
	size_t n0, n1, T;
	int rc;

	/* Two sequences of different lengths, so the batch is padded. */
	if ((rc = vv_model_tokenize(m, dna, sizeof dna - 1, ids[0], NULL, sizeof dna + 2, &n0)) != 0 ||
	    (rc = vv_model_tokenize(m, dna, 17, ids[1], NULL, sizeof dna + 2, &n1)) != 0) {
		rc = vv_err_prefix(rc, "self-test: tokenize");
		goto out;
	}
	if (n0 > (size_t)I->max_tokens)
		n0 = (size_t)I->max_tokens;
	if (n1 > (size_t)I->max_tokens)
		n1 = (size_t)I->max_tokens;
	T = n0 > n1 ? n0 : n1;
	seqs[0] = (struct vv_model_seq){ids[0], n0};
	seqs[1] = (struct vv_model_seq){ids[1], n1};
	if ((rc = vv_model_run_new(m, 2, T, &r)) != 0 || (rc = vv_model_forward(r, seqs, 2)) != 0) {
		rc = vv_err_prefix(rc, "self-test: forward");
		goto out;
	}
	for (size_t s = 0; s < 2; s++) {
		const float *h;
		size_t len;
		if ((rc = vv_model_hidden(r, s, &h, &len)) != 0)
			goto out;
		if (!all_finite(h, len * (size_t)I->hidden_size)) {
			rc = vv_errf(VV_ERR_INTERNAL, "self-test: hidden states of sequence %zu are not finite", s);
			goto out;
		}
	}
	if (I->head == VV_MODEL_HEAD_MLM) {
		struct vv_model_at at[2] = {{0, 1}, {1, (uint32_t)(n1 - 1)}};
		if ((out = malloc(2 * (size_t)I->vocab_size * sizeof *out)) == NULL) {
			rc = vv_errf(VV_ERR_NOMEM, "self-test: logits");
			goto out;
		}
		if ((rc = vv_model_mlm_logits(r, at, 2, out)) != 0)
			goto out;
		if (!all_finite(out, 2 * (size_t)I->vocab_size)) {
			rc = vv_errf(VV_ERR_INTERNAL, "self-test: masked-LM logits are not finite");
			goto out;
		}
	} else if (I->head == VV_MODEL_HEAD_CLS) {
		if ((out = malloc(2 * (size_t)I->num_labels * sizeof *out)) == NULL) {
			rc = vv_errf(VV_ERR_NOMEM, "self-test: logits");
			goto out;
		}
		if ((rc = vv_model_cls_logits(r, out)) != 0)
			goto out;
		if (!all_finite(out, 2 * (size_t)I->num_labels)) {
			rc = vv_errf(VV_ERR_INTERNAL, "self-test: classification logits are not finite");
			goto out;
		}
	}
	if (res) {
		res->tokens[0] = n0;
		res->tokens[1] = n1;
	}
out:
	free(out);
	vv_model_run_free(r);
	return rc;
}

static double mib(size_t b)
{
	return (double)b / (1024.0 * 1024.0);
}

int vv_model_info_json(const vv_model *m, size_t batch, size_t tokens, int threads, long max_rss_kib,
		       char **out)
{
	const struct vv_model_info *I = vv_model_get_info(m);
	json_object *o = json_object_new_object(), *sp = json_object_new_object(), *mem = json_object_new_object();
	const char *text;
	size_t run = vv_model_run_bytes(m, batch, tokens, threads);
	int rc = 0;

	*out = NULL;
	if (!o || !sp || !mem) {
		json_object_put(sp);
		json_object_put(mem);
		rc = vv_errf(VV_ERR_NOMEM, "model info");
		goto out;
	}
#define STR(obj, k, v) json_object_object_add(obj, k, json_object_new_string(v))
#define INT(obj, k, v) json_object_object_add(obj, k, json_object_new_int64((int64_t)(v)))
#define BOOL(obj, k, v) json_object_object_add(obj, k, json_object_new_boolean(v))
#define MIB(obj, k, v) json_object_object_add(obj, k, json_object_new_double(mib(v)))
	STR(o, "name", I->name);
	STR(o, "architecture", vv_model_arch_name(I->arch));
	STR(o, "head", vv_model_head_name(I->head));
	BOOL(o, "tied_decoder", I->tied_decoder);
	STR(o, "positions", vv_model_posenc_name(I->posenc));
	BOOL(o, "pre_layernorm", I->pre_layernorm);
	BOOL(o, "embedding_layernorm", I->emb_layernorm);
	STR(o, "feed_forward", vv_model_ffn_name(I->ffn));
	BOOL(o, "feed_forward_bias", I->ffn_bias);
	BOOL(o, "token_dropout", I->token_dropout);
	INT(o, "hidden_size", I->hidden_size);
	INT(o, "num_layers", I->num_layers);
	INT(o, "num_heads", I->num_heads);
	INT(o, "intermediate_size", I->intermediate_size);
	INT(o, "vocab_size", I->vocab_size);
	INT(o, "vocab_tokens", I->vocab_tokens);
	INT(o, "max_positions", I->max_positions);
	INT(o, "max_tokens", I->max_tokens);
	INT(o, "num_labels", I->num_labels);
	json_object_object_add(o, "layer_norm_eps", json_object_new_double((double)I->layer_norm_eps));
	STR(o, "tokenizer", vv_model_tok_name(I->tokenizer));
	INT(o, "k", I->k);
	BOOL(o, "eos_appended", I->append_eos);
	INT(sp, "cls", I->cls_id);
	INT(sp, "eos", I->eos_id);
	INT(sp, "pad", I->pad_id);
	INT(sp, "mask", I->mask_id);
	INT(sp, "unk", I->unk_id);
	json_object_object_add(o, "special_ids", sp);
	INT(o, "parameters", I->n_params);
	STR(o, "weights_sha256", I->sha256);
	STR(o, "precision", vv_model_precision_name(I->precision));
	INT(o, "weights_file_bytes", I->weights_file_bytes);
	MIB(mem, "weights_mapped_mib", I->weights_mapped_bytes);
	MIB(mem, "weights_converted_mib", I->weights_owned_bytes);
	MIB(mem, "weights_bf16_mib", I->weights_bf16_bytes);
	MIB(mem, "run_state_mib", run);
	INT(mem, "run_state_batch", batch);
	INT(mem, "run_state_tokens", tokens);
	INT(mem, "run_state_threads", threads);
	MIB(mem, "peak_estimate_mib", I->weights_mapped_bytes + I->weights_owned_bytes + I->weights_bf16_bytes + run);
	if (max_rss_kib >= 0)
		json_object_object_add(mem, "max_rss_after_load_mib", json_object_new_double((double)max_rss_kib / 1024.0));
	json_object_object_add(o, "memory", mem);
	{
		struct vv_model_kernel k;
		json_object *ko = json_object_new_object();
		vv_model_kernel_get(&k);
		STR(ko, "cpu", k.cpu_text);
		STR(ko, "openblas_core", k.in_use);
		STR(ko, "cpu_best_core", k.best);
		STR(ko, "chosen_by", vv_model_kernel_source_name(k.source));
		BOOL(ko, "chosen_by_varvault", k.source == VV_MODEL_KERNEL_VARVAULT);
		BOOL(ko, "weaker_than_cpu", k.weaker);
		json_object_object_add(o, "kernel", ko);
	}
#undef STR
#undef INT
#undef BOOL
#undef MIB
	/* The text is owned by o. */
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (!text || (*out = strdup(text)) == NULL)
		rc = vv_errf(VV_ERR_NOMEM, "model info");
out:
	json_object_put(o);
	return rc;
}
