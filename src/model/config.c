/* config.json: recognises the architecture and reads its hyperparameters. */
#include "model_int.h"

#include <ctype.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Reads integer field key into *v when present; keeps the default when the
 * key is absent or null.  Bounds [lo, hi]. */
static int cfg_int(struct json_object *root, const char *key, int lo, int hi, int *v)
{
	struct json_object *o;
	int64_t x;

	if (!json_object_object_get_ex(root, key, &o) || json_object_is_type(o, json_type_null))
		return 0;
	if (!json_object_is_type(o, json_type_int))
		return vv_errf(VV_ERR_MODEL_CONFIG, "config.json: field '%s' is not an integer", key);
	x = json_object_get_int64(o);
	if (x < lo || x > hi)
		return vv_errf(VV_ERR_MODEL_CONFIG, "config.json: field '%s' = %lld outside [%d, %d]", key,
			       (long long)x, lo, hi);
	*v = (int)x;
	return 0;
}

static int cfg_bool(struct json_object *root, const char *key, int *v)
{
	struct json_object *o;

	if (!json_object_object_get_ex(root, key, &o) || json_object_is_type(o, json_type_null))
		return 0;
	if (!json_object_is_type(o, json_type_boolean))
		return vv_errf(VV_ERR_MODEL_CONFIG, "config.json: field '%s' is not a boolean", key);
	*v = json_object_get_boolean(o) ? 1 : 0;
	return 0;
}

/* Returns the string value of key, NULL if absent or null; *bad set when the
 * field exists with another type. */
static const char *cfg_str(struct json_object *root, const char *key, int *bad)
{
	struct json_object *o;

	if (!json_object_object_get_ex(root, key, &o) || json_object_is_type(o, json_type_null))
		return NULL;
	if (!json_object_is_type(o, json_type_string)) {
		*bad = 1;
		return NULL;
	}
	return json_object_get_string(o);
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && strcmp(s + a - b, suffix) == 0;
}

static bool contains_ci(const char *s, const char *needle)
{
	return strcasestr(s, needle) != NULL;
}

/* Architecture from model_type, architectures, auto_map or add_bias_fnn. */
static int cfg_arch(struct json_object *root, struct vv_model_config *c)
{
	struct json_object *archs = NULL, *amap = NULL, *o;
	const char *mt;
	int bad = 0;

	mt = cfg_str(root, "model_type", &bad);
	if (bad)
		return vv_errf(VV_ERR_MODEL_CONFIG, "config.json: field 'model_type' is not a string");
	if (json_object_object_get_ex(root, "architectures", &archs) &&
	    !json_object_is_type(archs, json_type_array) && !json_object_is_type(archs, json_type_null))
		return vv_errf(VV_ERR_MODEL_CONFIG, "config.json: field 'architectures' is not an array");
	if (archs && json_object_is_type(archs, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(archs); i++) {
			o = json_object_array_get_idx(archs, i);
			if (!json_object_is_type(o, json_type_string))
				return vv_errf(VV_ERR_MODEL_CONFIG, "config.json: architectures[%zu] is not a string", i);
			const char *a = json_object_get_string(o);
			if (!c->head_known) {
				if (ends_with(a, "ForMaskedLM")) {
					c->head = VV_MODEL_HEAD_MLM;
					c->head_known = 1;
				} else if (ends_with(a, "ForSequenceClassification")) {
					c->head = VV_MODEL_HEAD_CLS;
					c->head_known = 1;
				} else if (ends_with(a, "Model")) {
					c->head = VV_MODEL_HEAD_NONE;
					c->head_known = 1;
				}
			}
			if (!mt && !c->arch) {
				if (strncmp(a, "Bert", 4) == 0)
					c->arch = VV_MODEL_ARCH_BERT;
				else if (strncmp(a, "Esm", 3) == 0)
					c->arch = VV_MODEL_ARCH_ESM;
			}
		}
	}
	if (mt) {
		if (strcmp(mt, "bert") == 0)
			c->arch = VV_MODEL_ARCH_BERT;
		else if (strcmp(mt, "esm") == 0)
			c->arch = VV_MODEL_ARCH_ESM;
		else
			return vv_errf(VV_ERR_MODEL_CONFIG,
				       "config.json: model_type '%.64s' is not supported (bert, esm)", mt);
	}
	if (!c->arch && json_object_object_get_ex(root, "auto_map", &amap) &&
	    json_object_is_type(amap, json_type_object)) {
		json_object_object_foreach(amap, key, val) {
			(void)key;
			if (json_object_is_type(val, json_type_string) &&
			    contains_ci(json_object_get_string(val), "esm"))
				c->arch = VV_MODEL_ARCH_ESM;
		}
	}
	if (json_object_object_get_ex(root, "add_bias_fnn", &o)) {
		c->gated_hint = 1;
		if (!c->arch)
			c->arch = VV_MODEL_ARCH_ESM;
	}
	if (!c->arch)
		return vv_errf(VV_ERR_MODEL_CONFIG,
			       "config.json: cannot tell the architecture from model_type, architectures, auto_map or add_bias_fnn");
	return 0;
}

int vv_model_config_parse(const char *txt, size_t len, struct vv_model_config *c)
{
	struct json_object *root = NULL, *o;
	const char *s;
	int rc, bad = 0;
	int emb_ln = 0;

	memset(c, 0, sizeof *c);
	if ((rc = vv_json_parse(txt, len, "config.json", &root)) != 0)
		return rc == VV_ERR_FORMAT || rc == VV_ERR_RANGE ? VV_ERR_MODEL_CONFIG : rc;
	if ((rc = cfg_arch(root, c)) != 0)
		goto out;
	/* Hugging Face's defaults for absent fields. */
	c->hidden = 768;
	c->layers = 12;
	c->heads = 12;
	c->inter = 3072;
	c->ln_eps = 1e-12f;
	c->pad_id = -1;
	c->mask_id = -1;
	c->tied = 1;
	c->ffn_bias = 1;
	c->num_labels = 2;
	c->posenc = VV_MODEL_POS_ABSOLUTE;
	c->ffn = VV_MODEL_FFN_GELU;
	if (c->arch == VV_MODEL_ARCH_BERT) {
		c->vocab_size = 30522;
		c->max_pos = 512;
		c->type_vocab = 2;
		c->pad_id = 0;
	} else {
		c->vocab_size = 0; /* EsmConfig has no default */
		c->max_pos = 1026;
	}
	if ((rc = cfg_int(root, "vocab_size", 1, VV_MODEL_MAX_VOCAB, &c->vocab_size)) ||
	    (rc = cfg_int(root, "hidden_size", 1, VV_MODEL_MAX_HIDDEN, &c->hidden)) ||
	    (rc = cfg_int(root, "num_hidden_layers", 1, VV_MODEL_MAX_LAYERS, &c->layers)) ||
	    (rc = cfg_int(root, "num_attention_heads", 1, VV_MODEL_MAX_HIDDEN, &c->heads)) ||
	    (rc = cfg_int(root, "intermediate_size", 1, VV_MODEL_MAX_INTERMEDIATE, &c->inter)) ||
	    (rc = cfg_int(root, "max_position_embeddings", 1, VV_MODEL_MAX_POSITIONS, &c->max_pos)) ||
	    (rc = cfg_int(root, "type_vocab_size", 0, VV_MODEL_MAX_LABELS, &c->type_vocab)) ||
	    (rc = cfg_int(root, "pad_token_id", 0, VV_MODEL_MAX_VOCAB, &c->pad_id)) ||
	    (rc = cfg_int(root, "mask_token_id", 0, VV_MODEL_MAX_VOCAB, &c->mask_id)) ||
	    (rc = cfg_int(root, "num_labels", 1, VV_MODEL_MAX_LABELS, &c->num_labels)) ||
	    (rc = cfg_bool(root, "tie_word_embeddings", &c->tied)) ||
	    (rc = cfg_bool(root, "add_bias_fnn", &c->ffn_bias)) ||
	    (rc = cfg_bool(root, "token_dropout", &c->token_dropout)) ||
	    (rc = cfg_bool(root, "emb_layer_norm_before", &emb_ln)))
		goto out;
	if (!c->vocab_size) {
		rc = vv_errf(VV_ERR_MODEL_CONFIG, "config.json: field 'vocab_size' is missing");
		goto out;
	}
	c->emb_ln_before = emb_ln;
	if (json_object_object_get_ex(root, "id2label", &o) && json_object_is_type(o, json_type_object)) {
		int n = json_object_object_length(o);
		if (n < 1 || n > VV_MODEL_MAX_LABELS) {
			rc = vv_errf(VV_ERR_MODEL_CONFIG, "config.json: id2label has %d entries", n);
			goto out;
		}
		c->num_labels = n;
	}
	if (json_object_object_get_ex(root, "layer_norm_eps", &o) && !json_object_is_type(o, json_type_null)) {
		double e;
		if (!json_object_is_type(o, json_type_double) && !json_object_is_type(o, json_type_int)) {
			rc = vv_errf(VV_ERR_MODEL_CONFIG, "config.json: field 'layer_norm_eps' is not a number");
			goto out;
		}
		e = json_object_get_double(o);
		if (!(e > 0.0 && e < 1.0)) {
			rc = vv_errf(VV_ERR_MODEL_CONFIG, "config.json: field 'layer_norm_eps' outside (0, 1)");
			goto out;
		}
		c->ln_eps = (float)e;
	}
	if ((s = cfg_str(root, "position_embedding_type", &bad)) != NULL) {
		if (strcmp(s, "absolute") == 0)
			c->posenc = VV_MODEL_POS_ABSOLUTE;
		else if (strcmp(s, "rotary") == 0 && c->arch == VV_MODEL_ARCH_ESM)
			c->posenc = VV_MODEL_POS_ROTARY;
		else {
			rc = vv_errf(VV_ERR_MODEL_CONFIG,
				     "config.json: position_embedding_type '%.32s' is not supported for %s", s,
				     vv_model_arch_name(c->arch));
			goto out;
		}
	}
	/* ESM's feed-forward is GELU (erf) whatever hidden_act says (HF's
	 * EsmIntermediate); BERT follows hidden_act. */
	if ((s = cfg_str(root, "hidden_act", &bad)) != NULL && c->arch == VV_MODEL_ARCH_BERT) {
		if (strcmp(s, "gelu") == 0)
			c->ffn = VV_MODEL_FFN_GELU;
		else if (strcmp(s, "gelu_new") == 0 || strcmp(s, "gelu_pytorch_tanh") == 0)
			c->ffn = VV_MODEL_FFN_GELU_TANH;
		else if (strcmp(s, "relu") == 0)
			c->ffn = VV_MODEL_FFN_RELU;
		else if (strcmp(s, "silu") == 0 || strcmp(s, "swish") == 0)
			c->ffn = VV_MODEL_FFN_SILU;
		else {
			rc = vv_errf(VV_ERR_MODEL_CONFIG, "config.json: hidden_act '%.32s' is not supported", s);
			goto out;
		}
	}
	if (bad) {
		rc = vv_errf(VV_ERR_MODEL_CONFIG, "config.json: a string field has another type");
		goto out;
	}
	if (json_object_object_get_ex(root, "is_folding_model", &o) &&
	    json_object_is_type(o, json_type_boolean) && json_object_get_boolean(o)) {
		rc = vv_errf(VV_ERR_MODEL_CONFIG, "config.json: ESMFold (is_folding_model) is not supported");
		goto out;
	}
	if (c->hidden % c->heads != 0) {
		rc = vv_errf(VV_ERR_MODEL_CONFIG, "config.json: hidden_size %d is not a multiple of num_attention_heads %d",
			     c->hidden, c->heads);
		goto out;
	}
	c->head_dim = c->hidden / c->heads;
	if (c->posenc == VV_MODEL_POS_ROTARY && c->head_dim % 2 != 0) {
		rc = vv_errf(VV_ERR_MODEL_CONFIG, "config.json: rotary embeddings need an even head size, not %d",
			     c->head_dim);
		goto out;
	}
	if (c->arch == VV_MODEL_ARCH_ESM && c->posenc == VV_MODEL_POS_ABSOLUTE && c->pad_id < 0) {
		rc = vv_errf(VV_ERR_MODEL_CONFIG, "config.json: absolute ESM positions need 'pad_token_id'");
		goto out;
	}
	if (c->token_dropout && c->mask_id < 0) {
		rc = vv_errf(VV_ERR_MODEL_CONFIG, "config.json: token_dropout needs 'mask_token_id'");
		goto out;
	}
	if (c->pad_id >= c->vocab_size || c->mask_id >= c->vocab_size) {
		rc = vv_errf(VV_ERR_MODEL_CONFIG, "config.json: pad_token_id or mask_token_id not below vocab_size");
		goto out;
	}
	if ((s = cfg_str(root, "_name_or_path", &bad)) != NULL && *s) {
		/* Keep the last path component, printable ASCII only. */
		const char *base = strrchr(s, '/');
		base = base && base[1] ? base + 1 : s;
		snprintf(c->name, sizeof c->name, "%s", base);
		for (char *p = c->name; *p; p++)
			if (!isprint((unsigned char)*p))
				*p = '?';
	}
	rc = 0;
out:
	json_object_put(root);
	return rc;
}
