/* Test fixture shared by test_model.c and test_tokenizer.c: builds small
 * Hugging Face model images (config.json, model.safetensors, vocab.txt) in
 * memory, with deterministic pseudo-random weights, and optional damage. */
#ifndef VV_TEST_MODEL_FIXTURE_H
#define VV_TEST_MODEL_FIXTURE_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "varvault/model.h"

struct fx_opts {
	int bert;              /* 1: BERT; 0: ESM */
	int head;              /* enum vv_model_head */
	int rotary, gated, token_dropout, emb_ln, tied;
	int hidden, layers, heads, inter, max_pos, num_labels;
	const char *const *vocab;  /* NULL: the single-nucleotide vocabulary */
	size_t nvocab;
	const char *dtype;     /* "F32" (default), "F16", "BF16" */
	const char *skip;      /* omit this tensor */
	const char *bad_shape; /* give this tensor one extra row */
	const char *bad_dtype; /* store this tensor as I32 */
	int extra;             /* add tensors the forward ignores */
	int no_model_type;     /* NT-v2 style config without model_type */
	int unaligned;         /* pad the header to an odd length */
	int qk_gain;           /* 0/1: none; k: query and key weights times k
				* (large attention logits) */
	int lm_bias_gain;      /* 0/1: none; k: the MLM output bias times k
				* (logits spanning far more than exp() holds) */
};

struct fx {
	char *config;
	size_t config_len;
	uint8_t *st;
	size_t st_len;
	char *vocab;
	size_t vocab_len;
};

static const char *const fx_char_vocab[] = {"<cls>", "<pad>", "<eos>", "<unk>", "<mask>",
					    "A", "C", "G", "T", "N"};

/* Growing byte strings. */
struct fx_buf {
	char *p;
	size_t n, cap;
};

static void fx_put(struct fx_buf *b, const void *p, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		b->cap = (b->n + n + 1) * 2;
		b->p = realloc(b->p, b->cap);
		if (!b->p)
			abort();
	}
	memcpy(b->p + b->n, p, n);
	b->n += n;
	b->p[b->n] = '\0';
}

static void fx_printf(struct fx_buf *b, const char *fmt, ...) VV_PRINTF(2, 3);
static void fx_printf(struct fx_buf *b, const char *fmt, ...)
{
	char tmp[4096];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	fx_put(b, tmp, (size_t)n);
}

struct fx_state {
	const struct fx_opts *o;
	struct fx_buf hdr, data;
	uint32_t seed;
};

/* Values k/256 with |k| <= 128: exact in F32, F16 and BF16 alike. */
static float fx_rand(struct fx_state *s)
{
	s->seed = s->seed * 1664525u + 1013904223u;
	return (float)((int)((s->seed >> 8) % 257) - 128) / 256.0f;
}

static uint16_t fx_f16(float f)
{
	uint32_t u, e;

	memcpy(&u, &f, 4);
	if ((u & 0x7fffffffu) == 0)
		return (uint16_t)(u >> 16);
	e = (u >> 23) & 0xff;
	if (e <= 103) /* the one subnormal the fixture uses: 2^-24 */
		return (uint16_t)((u >> 16 & 0x8000u) | 1u);
	return (uint16_t)((u >> 16 & 0x8000u) | ((e - 112) << 10) | ((u >> 13) & 0x3ffu));
}

/* kind: 'w' matrix, 'q' query/key matrix, 'b' bias, 'L' the MLM output bias,
 * 'g' LayerNorm gain, 'e' embedding */
static void fx_tensor(struct fx_state *s, const char *name, size_t d0, size_t d1, char kind)
{
	const struct fx_opts *o = s->o;
	const char *dtype = o->dtype ? o->dtype : "F32";
	size_t n, esize, begin;
	int rank = d1 ? 2 : 1;

	if (o->skip && strcmp(name, o->skip) == 0)
		return;
	if (o->bad_shape && strcmp(name, o->bad_shape) == 0)
		d0++;
	if (o->bad_dtype && strcmp(name, o->bad_dtype) == 0)
		dtype = "I32";
	n = d0 * (d1 ? d1 : 1);
	esize = strcmp(dtype, "F32") == 0 || strcmp(dtype, "I32") == 0 ? 4 : 2;
	begin = s->data.n;
	for (size_t i = 0; i < n; i++) {
		float v = fx_rand(s);
		float gain = kind == 'L' && o->lm_bias_gain > 1 ? (float)o->lm_bias_gain : 1.0f;
		uint32_t u;
		uint16_t h;
		if (kind == 'g')
			v = 1.0f + (float)(int)(v * 128.0f) / 128.0f;
		else if ((kind == 'b' || kind == 'L') && i == 1)
			v = 5.9604645e-8f; /* 2^-24: an F16 subnormal */
		else if ((kind == 'b' || kind == 'L') && i == 2)
			v = -0.0f;
		else if (kind == 'e')
			v *= 4.0f;
		else if (kind == 'q' && o->qk_gain > 1)
			v *= (float)o->qk_gain;
		v *= gain;
		memcpy(&u, &v, 4);
		if (esize == 4) {
			uint8_t b[4] = {(uint8_t)u, (uint8_t)(u >> 8), (uint8_t)(u >> 16), (uint8_t)(u >> 24)};
			fx_put(&s->data, b, 4);
		} else {
			h = strcmp(dtype, "F16") == 0 ? fx_f16(v) : (uint16_t)(u >> 16);
			uint8_t b[2] = {(uint8_t)h, (uint8_t)(h >> 8)};
			fx_put(&s->data, b, 2);
		}
	}
	fx_printf(&s->hdr, "%s\"%s\":{\"dtype\":\"%s\",\"shape\":[%zu", s->hdr.n > 1 ? "," : "", name, dtype, d0);
	if (rank == 2)
		fx_printf(&s->hdr, ",%zu", d1);
	fx_printf(&s->hdr, "],\"data_offsets\":[%zu,%zu]}", begin, s->data.n);
}

static void fx_build(const struct fx_opts *o, struct fx *f)
{
	struct fx_state s = {o, {0}, {0}, 12345u};
	struct fx_buf cfg = {0}, voc = {0};
	const char *const *vocab = o->vocab ? o->vocab : fx_char_vocab;
	size_t nv = o->vocab ? o->nvocab : sizeof fx_char_vocab / sizeof *fx_char_vocab;
	size_t d = (size_t)o->hidden, I = (size_t)o->inter, V = nv, P = (size_t)o->max_pos;
	const char *base = o->bert ? "bert." : "esm.";
	char n[256];
	int pad = 1, mask = 4;

	for (size_t i = 0; i < nv; i++) {
		if (!strcmp(vocab[i], "<pad>") || !strcmp(vocab[i], "[PAD]"))
			pad = (int)i;
		if (!strcmp(vocab[i], "<mask>") || !strcmp(vocab[i], "[MASK]"))
			mask = (int)i;
		fx_printf(&voc, "%s\n", vocab[i]);
	}
	fx_put(&s.hdr, "{", 1);
#define T(kind, a, b, ...) do { snprintf(n, sizeof n, __VA_ARGS__); fx_tensor(&s, n, a, b, kind); } while (0)
	T('e', V, d, "%sembeddings.word_embeddings.weight", base);
	if (!o->rotary)
		T('e', P, d, "%sembeddings.position_embeddings.weight", base);
	if (o->bert) {
		T('e', 2, d, "bert.embeddings.token_type_embeddings.weight");
		T('g', d, 0, "bert.embeddings.LayerNorm.weight");
		T('b', d, 0, "bert.embeddings.LayerNorm.bias");
	} else if (o->emb_ln) {
		T('g', d, 0, "esm.embeddings.layer_norm.weight");
		T('b', d, 0, "esm.embeddings.layer_norm.bias");
	}
	for (int l = 0; l < o->layers; l++) {
		static const char *const qkv[] = {"query", "key", "value"};
		for (int j = 0; j < 3; j++) {
			T(j < 2 ? 'q' : 'w', d, d, "%sencoder.layer.%d.attention.self.%s.weight", base, l, qkv[j]);
			T('b', d, 0, "%sencoder.layer.%d.attention.self.%s.bias", base, l, qkv[j]);
		}
		T('w', d, d, "%sencoder.layer.%d.attention.output.dense.weight", base, l);
		T('b', d, 0, "%sencoder.layer.%d.attention.output.dense.bias", base, l);
		T('w', o->gated ? 2 * I : I, d, "%sencoder.layer.%d.intermediate.dense.weight", base, l);
		T('w', d, I, "%sencoder.layer.%d.output.dense.weight", base, l);
		if (!o->gated) {
			T('b', I, 0, "%sencoder.layer.%d.intermediate.dense.bias", base, l);
			T('b', d, 0, "%sencoder.layer.%d.output.dense.bias", base, l);
		}
		if (o->bert) {
			T('g', d, 0, "bert.encoder.layer.%d.attention.output.LayerNorm.weight", l);
			T('b', d, 0, "bert.encoder.layer.%d.attention.output.LayerNorm.bias", l);
			T('g', d, 0, "bert.encoder.layer.%d.output.LayerNorm.weight", l);
			T('b', d, 0, "bert.encoder.layer.%d.output.LayerNorm.bias", l);
		} else {
			T('g', d, 0, "esm.encoder.layer.%d.attention.LayerNorm.weight", l);
			T('b', d, 0, "esm.encoder.layer.%d.attention.LayerNorm.bias", l);
			T('g', d, 0, "esm.encoder.layer.%d.LayerNorm.weight", l);
			T('b', d, 0, "esm.encoder.layer.%d.LayerNorm.bias", l);
			if (o->extra && o->rotary)
				T('w', d / (size_t)o->heads / 2, 0, "esm.encoder.layer.%d.attention.self.rotary_embeddings.inv_freq", l);
		}
	}
	if (!o->bert) {
		T('g', d, 0, "esm.encoder.emb_layer_norm_after.weight");
		T('b', d, 0, "esm.encoder.emb_layer_norm_after.bias");
	}
	if (o->head == VV_MODEL_HEAD_MLM) {
		const char *h = o->bert ? "cls.predictions.transform." : "lm_head.";
		T('w', d, d, "%sdense.weight", h);
		T('b', d, 0, "%sdense.bias", h);
		T('g', d, 0, "%s%s.weight", h, o->bert ? "LayerNorm" : "layer_norm");
		T('b', d, 0, "%s%s.bias", h, o->bert ? "LayerNorm" : "layer_norm");
		if (!o->tied)
			T('w', V, d, "%s.decoder.weight", o->bert ? "cls.predictions" : "lm_head");
		T('L', V, 0, "%s.bias", o->bert ? "cls.predictions" : "lm_head");
	} else if (o->head == VV_MODEL_HEAD_CLS) {
		size_t nl = (size_t)o->num_labels;
		if (o->bert) {
			T('w', d, d, "bert.pooler.dense.weight");
			T('b', d, 0, "bert.pooler.dense.bias");
			T('w', nl, d, "classifier.weight");
			T('b', nl, 0, "classifier.bias");
		} else {
			T('w', d, d, "classifier.dense.weight");
			T('b', d, 0, "classifier.dense.bias");
			T('w', nl, d, "classifier.out_proj.weight");
			T('b', nl, 0, "classifier.out_proj.bias");
		}
	}
	if (o->extra) {
		T('w', 1, 4, "esm.contact_head.regression.weight");
		T('b', 1, 0, "esm.contact_head.regression.bias");
	}
#undef T
	fx_put(&s.hdr, "}", 1);
	while ((s.hdr.n + (o->unaligned ? 1 : 0)) % 8)
		fx_put(&s.hdr, " ", 1);
	{
		uint64_t hl = s.hdr.n;
		f->st_len = 8 + s.hdr.n + s.data.n;
		f->st = malloc(f->st_len + 1);
		for (int i = 0; i < 8; i++)
			f->st[i] = (uint8_t)(hl >> (8 * i));
		memcpy(f->st + 8, s.hdr.p, s.hdr.n);
		if (s.data.n)
			memcpy(f->st + 8 + s.hdr.n, s.data.p, s.data.n);
	}
	fx_printf(&cfg, "{");
	if (o->bert)
		fx_printf(&cfg, "\"model_type\":\"bert\",\"architectures\":[\"%s\"],\"type_vocab_size\":2,",
			  o->head == VV_MODEL_HEAD_MLM ? "BertForMaskedLM" :
			  o->head == VV_MODEL_HEAD_CLS ? "BertForSequenceClassification" : "BertModel");
	else if (o->no_model_type)
		fx_printf(&cfg, "\"architectures\":[\"EsmForMaskedLM\"],\"auto_map\":{\"AutoModelForMaskedLM\":"
			  "\"modeling_esm.EsmForMaskedLM\"},\"add_bias_fnn\":false,");
	else
		fx_printf(&cfg, "\"model_type\":\"esm\",\"architectures\":[\"%s\"],",
			  o->head == VV_MODEL_HEAD_MLM ? "EsmForMaskedLM" :
			  o->head == VV_MODEL_HEAD_CLS ? "EsmForSequenceClassification" : "EsmModel");
	if (!o->bert && o->gated && !o->no_model_type)
		fx_printf(&cfg, "\"add_bias_fnn\":false,");
	fx_printf(&cfg, "\"vocab_size\":%zu,\"hidden_size\":%d,\"num_hidden_layers\":%d,\"num_attention_heads\":%d,"
		  "\"intermediate_size\":%d,\"max_position_embeddings\":%d,\"layer_norm_eps\":1e-05,"
		  "\"pad_token_id\":%d,\"mask_token_id\":%d,\"position_embedding_type\":\"%s\","
		  "\"token_dropout\":%s,\"emb_layer_norm_before\":%s,\"tie_word_embeddings\":%s",
		  V, o->hidden, o->layers, o->heads, o->inter, o->max_pos, pad, mask,
		  o->rotary ? "rotary" : "absolute", o->token_dropout ? "true" : "false",
		  o->emb_ln ? "true" : "false", o->tied ? "true" : "false");
	if (o->head == VV_MODEL_HEAD_CLS)
		fx_printf(&cfg, ",\"num_labels\":%d", o->num_labels);
	fx_printf(&cfg, ",\"_name_or_path\":\"org/fixture-model\"}");
	f->config = cfg.p;
	f->config_len = cfg.n;
	f->vocab = voc.p;
	f->vocab_len = voc.n;
	free(s.hdr.p);
	free(s.data.p);
}

static void fx_free(struct fx *f)
{
	free(f->config);
	free(f->st);
	free(f->vocab);
	memset(f, 0, sizeof *f);
}

static int fx_load(const struct fx *f, const char *tokenizer_config, vv_model **m)
{
	struct vv_model_source src = {f->config, f->config_len, f->st, f->st_len, f->vocab, f->vocab_len,
				      tokenizer_config, tokenizer_config ? strlen(tokenizer_config) : 0, "fx"};
	return vv_model_load_mem(&src, m);
}

/* A small ESM (rotary, pre-LN, MLM, char vocabulary). */
static struct fx_opts fx_esm(void)
{
	struct fx_opts o = {0};
	o.head = VV_MODEL_HEAD_MLM;
	o.rotary = 1;
	o.tied = 1;
	o.hidden = 16;
	o.layers = 2;
	o.heads = 2;
	o.inter = 32;
	o.max_pos = 64;
	o.num_labels = 3;
	return o;
}

#endif
