/* Model loading: a Hugging Face directory or memory buffers to a vv_model,
 * binding every tensor the forward needs by its Hugging Face name. */
#include "model_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define VV_CONFIG_MAX (1u << 20)
#define VV_VOCAB_MAX (16u << 20)

/* One tensor the forward wants: name, expected shape, where to put it. */
struct vv_req {
	char name[160];
	int rank;
	size_t d0, d1;
	const float **dst;
	int required;
	const struct vv_st_tensor *t;
};

struct vv_reqs {
	struct vv_req *r;
	size_t n, cap;
};

static int req_add(struct vv_reqs *q, const char *name, int rank, size_t d0, size_t d1,
		   const float **dst, int required)
{
	struct vv_req *r;

	if (q->n == q->cap) {
		size_t cap = q->cap ? 2 * q->cap : 64;
		struct vv_req *nr = realloc(q->r, cap * sizeof *nr);
		if (!nr)
			return VV_ERR_NOMEM;
		q->r = nr;
		q->cap = cap;
	}
	r = &q->r[q->n++];
	memset(r, 0, sizeof *r);
	snprintf(r->name, sizeof r->name, "%s", name);
	r->rank = rank;
	r->d0 = d0;
	r->d1 = d1;
	r->dst = dst;
	r->required = required;
	return 0;
}

/* Looks a tensor up, also under the old BERT spellings LayerNorm.gamma/beta. */
static const struct vv_st_tensor *find_tensor(const struct vv_st *st, const char *name)
{
	const struct vv_st_tensor *t = vv_model_st_find(st, name);
	char alt[200];
	size_t n = strlen(name);

	if (t || n >= sizeof alt || !strstr(name, "LayerNorm."))
		return t;
	if (n > 7 && strcmp(name + n - 7, ".weight") == 0) {
		snprintf(alt, sizeof alt, "%.*s.gamma", (int)(n - 7), name);
		return vv_model_st_find(st, alt);
	}
	if (n > 5 && strcmp(name + n - 5, ".bias") == 0) {
		snprintf(alt, sizeof alt, "%.*s.beta", (int)(n - 5), name);
		return vv_model_st_find(st, alt);
	}
	return NULL;
}

static bool has_tensor(const struct vv_st *st, const char *name)
{
	return find_tensor(st, name) != NULL;
}

static float f16_to_f32(uint16_t h)
{
	uint32_t s = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, mant = h & 0x3ffu, u;
	float f;

	if (e == 0) {
		if (mant == 0) {
			u = s;
		} else {
			/* Subnormal: normalise the mantissa. */
			e = 113;
			while (!(mant & 0x400u)) {
				mant <<= 1;
				e--;
			}
			u = s | (e << 23) | ((mant & 0x3ffu) << 13);
		}
	} else if (e == 31) {
		u = s | 0x7f800000u | (mant << 13);
	} else {
		u = s | ((e + 112) << 23) | (mant << 13);
	}
	memcpy(&f, &u, 4);
	return f;
}

void vv_model_st_to_f32(const struct vv_st_tensor *t, float *out)
{
	const uint8_t *p = t->data;

	for (size_t i = 0; i < t->nelem; i++) {
		uint32_t u;
		uint16_t h;
		switch (t->dtype) {
		case VV_ST_F32:
			u = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 | (uint32_t)p[4 * i + 2] << 16 |
			    (uint32_t)p[4 * i + 3] << 24;
			memcpy(&out[i], &u, 4);
			break;
		case VV_ST_F16:
			h = (uint16_t)(p[2 * i] | p[2 * i + 1] << 8);
			out[i] = f16_to_f32(h);
			break;
		default: /* BF16 */
			u = (uint32_t)(p[2 * i] | p[2 * i + 1] << 8) << 16;
			memcpy(&out[i], &u, 4);
			break;
		}
	}
}

static bool in_place(const struct vv_st_tensor *t)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return t->dtype == VV_ST_F32 && ((uintptr_t)t->data % sizeof(float)) == 0;
#else
	(void)t;
	return false;
#endif
}

/* Validates every request, then points each at the mapping or converts it
 * into one owned buffer. */
static int bind_all(vv_model *m, const struct vv_st *st, struct vv_reqs *q)
{
	size_t owned = 0, off = 0;
	uint64_t params = 0;

	for (size_t i = 0; i < q->n; i++) {
		struct vv_req *r = &q->r[i];
		const struct vv_st_tensor *t = find_tensor(st, r->name);
		if (!t) {
			if (r->required)
				return vv_errf(VV_ERR_MODEL_TENSOR, "model.safetensors: tensor '%s' is missing", r->name);
			continue;
		}
		if (t->dtype != VV_ST_F32 && t->dtype != VV_ST_F16 && t->dtype != VV_ST_BF16)
			return vv_errf(VV_ERR_MODEL_TENSOR, "model.safetensors: tensor '%s' has dtype %s (F32, F16, BF16 only)",
				       r->name, vv_model_st_dtype_name(t->dtype));
		if (t->rank != r->rank || t->shape[0] != r->d0 || (r->rank == 2 && t->shape[1] != r->d1)) {
			char got[64] = "", want[64];
			for (int d = 0; d < t->rank && d < 4; d++)
				snprintf(got + strlen(got), sizeof got - strlen(got), "%s%zu", d ? "," : "", t->shape[d]);
			if (r->rank == 2)
				snprintf(want, sizeof want, "%zu,%zu", r->d0, r->d1);
			else
				snprintf(want, sizeof want, "%zu", r->d0);
			return vv_errf(VV_ERR_MODEL_TENSOR, "model.safetensors: tensor '%s' has shape [%s], config needs [%s]",
				       r->name, got, want);
		}
		r->t = t;
		params += t->nelem;
		if (!in_place(t) && vv_size_add(owned, t->nelem, &owned) != 0)
			return vv_errf(VV_ERR_RANGE, "model.safetensors: weights too large");
	}
	if (owned) {
		size_t bytes;
		if (vv_size_mul(owned, sizeof(float), &bytes) != 0)
			return vv_errf(VV_ERR_RANGE, "model.safetensors: weights too large");
		if ((m->owned = malloc(bytes)) == NULL)
			return VV_ERR_NOMEM;
		m->info.weights_owned_bytes = bytes;
	}
	for (size_t i = 0; i < q->n; i++) {
		struct vv_req *r = &q->r[i];
		if (!r->t) {
			*r->dst = NULL;
			continue;
		}
		if (in_place(r->t)) {
			*r->dst = (const float *)(const void *)r->t->data;
			m->info.weights_mapped_bytes += r->t->nbytes;
		} else {
			vv_model_st_to_f32(r->t, m->owned + off);
			*r->dst = m->owned + off;
			off += r->t->nelem;
		}
	}
	m->info.n_params = params;
	return 0;
}

/* Lists the tensors of the configured architecture under their HF names. */
static int build_requests(vv_model *m, const struct vv_st *st, struct vv_reqs *q)
{
	struct vv_model_config *c = &m->cfg;
	struct vv_weights *w = &m->w;
	const size_t d = (size_t)c->hidden, V = (size_t)c->vocab_size;
	const char *base;
	char n[160];
	int rc = 0, esm = c->arch == VV_MODEL_ARCH_ESM;
	size_t fc1_rows = (size_t)c->inter;
	const struct vv_st_tensor *fc1;

	/* Base-model prefix: "esm." / "bert." as the task classes save it, none
	 * for a bare EsmModel / BertModel. */
	base = esm ? "esm." : "bert.";
	snprintf(n, sizeof n, "%sembeddings.word_embeddings.weight", base);
	if (!has_tensor(st, n) && has_tensor(st, "embeddings.word_embeddings.weight"))
		base = "";
	/* Head, when architectures did not say. */
	if (!c->head_known) {
		if (has_tensor(st, esm ? "lm_head.dense.weight" : "cls.predictions.transform.dense.weight"))
			c->head = VV_MODEL_HEAD_MLM;
		else if (has_tensor(st, esm ? "classifier.out_proj.weight" : "classifier.weight"))
			c->head = VV_MODEL_HEAD_CLS;
		else
			c->head = VV_MODEL_HEAD_NONE;
	}
	/* NT-v2's gated feed-forward: fc1 emits 2 * intermediate_size rows. */
	snprintf(n, sizeof n, "%sencoder.layer.0.intermediate.dense.weight", base);
	fc1 = find_tensor(st, n);
	if (esm && fc1 && fc1->rank == 2 && fc1->shape[0] == 2 * (size_t)c->inter) {
		c->ffn = VV_MODEL_FFN_SWIGLU;
		fc1_rows = 2 * (size_t)c->inter;
	} else if (esm && c->gated_hint && fc1) {
		return vv_errf(VV_ERR_MODEL_TENSOR, "model.safetensors: tensor '%s' should have %zu rows for the gated feed-forward",
			       n, 2 * (size_t)c->inter);
	}
	if (!esm || c->ffn != VV_MODEL_FFN_SWIGLU)
		c->ffn_bias = 1; /* add_bias_fnn only exists in NT-v2's code */
	if ((w->layer = calloc((size_t)c->layers, sizeof *w->layer)) == NULL)
		return VV_ERR_NOMEM;

#define REQ(rank, a, b, dst, reqd, ...) do { \
		snprintf(n, sizeof n, __VA_ARGS__); \
		if ((rc = req_add(q, n, rank, a, b, dst, reqd)) != 0) return rc; \
	} while (0)

	REQ(2, V, d, &w->word, 1, "%sembeddings.word_embeddings.weight", base);
	if (c->posenc == VV_MODEL_POS_ABSOLUTE)
		REQ(2, (size_t)c->max_pos, d, &w->pos, 1, "%sembeddings.position_embeddings.weight", base);
	if (!esm) {
		if (c->type_vocab < 1)
			return vv_errf(VV_ERR_MODEL_CONFIG, "config.json: BERT needs type_vocab_size >= 1");
		REQ(2, (size_t)c->type_vocab, d, &w->type, 1, "%sembeddings.token_type_embeddings.weight", base);
		REQ(1, d, 0, &w->emb_ln_w, 1, "%sembeddings.LayerNorm.weight", base);
		REQ(1, d, 0, &w->emb_ln_b, 1, "%sembeddings.LayerNorm.bias", base);
	} else if (c->emb_ln_before) {
		REQ(1, d, 0, &w->emb_ln_w, 1, "%sembeddings.layer_norm.weight", base);
		REQ(1, d, 0, &w->emb_ln_b, 1, "%sembeddings.layer_norm.bias", base);
	}
	for (int i = 0; i < c->layers; i++) {
		struct vv_layer *L = &w->layer[i];
		const char *at = "attention.self";
		REQ(2, d, d, &L->q_w, 1, "%sencoder.layer.%d.%s.query.weight", base, i, at);
		REQ(1, d, 0, &L->q_b, 1, "%sencoder.layer.%d.%s.query.bias", base, i, at);
		REQ(2, d, d, &L->k_w, 1, "%sencoder.layer.%d.%s.key.weight", base, i, at);
		REQ(1, d, 0, &L->k_b, 1, "%sencoder.layer.%d.%s.key.bias", base, i, at);
		REQ(2, d, d, &L->v_w, 1, "%sencoder.layer.%d.%s.value.weight", base, i, at);
		REQ(1, d, 0, &L->v_b, 1, "%sencoder.layer.%d.%s.value.bias", base, i, at);
		REQ(2, d, d, &L->o_w, 1, "%sencoder.layer.%d.attention.output.dense.weight", base, i);
		REQ(1, d, 0, &L->o_b, 1, "%sencoder.layer.%d.attention.output.dense.bias", base, i);
		REQ(2, fc1_rows, d, &L->fc1_w, 1, "%sencoder.layer.%d.intermediate.dense.weight", base, i);
		REQ(2, d, (size_t)c->inter, &L->fc2_w, 1, "%sencoder.layer.%d.output.dense.weight", base, i);
		if (c->ffn_bias) {
			REQ(1, fc1_rows, 0, &L->fc1_b, 1, "%sencoder.layer.%d.intermediate.dense.bias", base, i);
			REQ(1, d, 0, &L->fc2_b, 1, "%sencoder.layer.%d.output.dense.bias", base, i);
		}
		if (esm) {
			REQ(1, d, 0, &L->ln1_w, 1, "%sencoder.layer.%d.attention.LayerNorm.weight", base, i);
			REQ(1, d, 0, &L->ln1_b, 1, "%sencoder.layer.%d.attention.LayerNorm.bias", base, i);
			REQ(1, d, 0, &L->ln2_w, 1, "%sencoder.layer.%d.LayerNorm.weight", base, i);
			REQ(1, d, 0, &L->ln2_b, 1, "%sencoder.layer.%d.LayerNorm.bias", base, i);
		} else {
			REQ(1, d, 0, &L->ln1_w, 1, "%sencoder.layer.%d.attention.output.LayerNorm.weight", base, i);
			REQ(1, d, 0, &L->ln1_b, 1, "%sencoder.layer.%d.attention.output.LayerNorm.bias", base, i);
			REQ(1, d, 0, &L->ln2_w, 1, "%sencoder.layer.%d.output.LayerNorm.weight", base, i);
			REQ(1, d, 0, &L->ln2_b, 1, "%sencoder.layer.%d.output.LayerNorm.bias", base, i);
		}
	}
	if (esm) {
		REQ(1, d, 0, &w->final_ln_w, 1, "%sencoder.emb_layer_norm_after.weight", base);
		REQ(1, d, 0, &w->final_ln_b, 1, "%sencoder.emb_layer_norm_after.bias", base);
	}
	if (c->head == VV_MODEL_HEAD_MLM) {
		const char *h = esm ? "lm_head" : "cls.predictions";
		REQ(2, d, d, &w->lm_dense_w, 1, "%s.%sdense.weight", h, esm ? "" : "transform.");
		REQ(1, d, 0, &w->lm_dense_b, 1, "%s.%sdense.bias", h, esm ? "" : "transform.");
		REQ(1, d, 0, &w->lm_ln_w, 1, "%s.%s.weight", h, esm ? "layer_norm" : "transform.LayerNorm");
		REQ(1, d, 0, &w->lm_ln_b, 1, "%s.%s.bias", h, esm ? "layer_norm" : "transform.LayerNorm");
		if (!c->tied)
			REQ(2, V, d, &w->lm_dec_w, 1, "%s.decoder.weight", h);
		if (!esm && !has_tensor(st, "cls.predictions.bias"))
			REQ(1, V, 0, &w->lm_bias, 1, "cls.predictions.decoder.bias");
		else
			REQ(1, V, 0, &w->lm_bias, 1, "%s.bias", h);
	} else if (c->head == VV_MODEL_HEAD_CLS) {
		size_t nl = (size_t)c->num_labels;
		if (esm) {
			REQ(2, d, d, &w->cls_dense_w, 1, "classifier.dense.weight");
			REQ(1, d, 0, &w->cls_dense_b, 1, "classifier.dense.bias");
			REQ(2, nl, d, &w->cls_out_w, 1, "classifier.out_proj.weight");
			REQ(1, nl, 0, &w->cls_out_b, 1, "classifier.out_proj.bias");
		} else {
			REQ(2, d, d, &w->cls_dense_w, 1, "%spooler.dense.weight", base);
			REQ(1, d, 0, &w->cls_dense_b, 1, "%spooler.dense.bias", base);
			REQ(2, nl, d, &w->cls_out_w, 1, "classifier.weight");
			REQ(1, nl, 0, &w->cls_out_b, 1, "classifier.bias");
		}
	}
#undef REQ
	return 0;
}

static void fill_info(vv_model *m, const uint8_t *weights, size_t weights_len)
{
	struct vv_model_info *I = &m->info;
	const struct vv_model_config *c = &m->cfg;
	uint8_t dig[32];

	I->name = m->name;
	I->arch = c->arch;
	I->head = c->head;
	I->posenc = c->posenc;
	I->ffn = c->ffn;
	I->pre_layernorm = c->arch == VV_MODEL_ARCH_ESM;
	I->emb_layernorm = c->arch == VV_MODEL_ARCH_BERT || c->emb_ln_before;
	I->token_dropout = c->token_dropout;
	I->tied_decoder = c->head == VV_MODEL_HEAD_MLM && c->tied;
	I->ffn_bias = c->ffn_bias;
	I->vocab_size = c->vocab_size;
	I->vocab_tokens = (int)m->vocab.n;
	I->hidden_size = c->hidden;
	I->num_layers = c->layers;
	I->num_heads = c->heads;
	I->intermediate_size = c->inter;
	I->max_positions = c->max_pos;
	I->num_labels = c->head == VV_MODEL_HEAD_CLS ? c->num_labels : 0;
	I->layer_norm_eps = c->ln_eps;
	if (c->arch == VV_MODEL_ARCH_ESM && c->posenc == VV_MODEL_POS_ABSOLUTE)
		I->max_tokens = c->max_pos - c->pad_id - 1;
	else
		I->max_tokens = c->max_pos;
	I->tokenizer = m->tok.kind;
	I->k = m->tok.k;
	I->cls_id = m->tok.cls;
	I->eos_id = m->tok.eos;
	I->pad_id = m->tok.pad;
	I->mask_id = m->tok.mask;
	I->unk_id = m->tok.unk;
	I->append_eos = m->tok.append_eos;
	I->weights_file_bytes = weights_len;
	vv_sha256_oneshot(weights, weights_len, dig);
	vv_hex(dig, 32, I->sha256);
}

/* Builds m from the sources; m->map (if any) already holds the weights. */
static int model_build(vv_model *m, const struct vv_model_source *src)
{
	struct vv_st st = {0};
	struct vv_reqs q = {0};
	int rc;

	if (!src->config || !src->weights || !src->vocab)
		return vv_errf(VV_ERR_INVAL, "model: config, weights and vocab are all needed");
	if ((rc = vv_model_config_parse(src->config, src->config_len, &m->cfg)) != 0)
		goto out;
	snprintf(m->name, sizeof m->name, "%s", m->cfg.name[0] ? m->cfg.name : src->name ? src->name : "model");
	if ((rc = vv_model_vocab_parse(src->vocab, src->vocab_len, (size_t)m->cfg.vocab_size, &m->vocab)) != 0)
		goto out;
	if ((rc = vv_model_tokenizer_init(&m->tok, &m->vocab, &m->cfg, src->tokenizer_config,
					  src->tokenizer_config_len)) != 0)
		goto out;
	if ((rc = vv_model_st_parse(src->weights, src->weights_len, &st)) != 0)
		goto out;
	if ((rc = build_requests(m, &st, &q)) != 0)
		goto out;
	if ((rc = bind_all(m, &st, &q)) != 0)
		goto out;
	if (m->cfg.tied && m->cfg.head == VV_MODEL_HEAD_MLM)
		m->w.lm_dec_w = m->w.word;
	fill_info(m, src->weights, src->weights_len);
	if (m->info.max_tokens < 1) {
		rc = vv_errf(VV_ERR_MODEL_CONFIG, "config.json: max_position_embeddings leaves no room for tokens");
		goto out;
	}
out:
	free(q.r);
	vv_model_st_done(&st);
	return rc;
}

int vv_model_load_mem(const struct vv_model_source *src, vv_model **out)
{
	vv_model *m;
	int rc;

	*out = NULL;
	if ((m = calloc(1, sizeof *m)) == NULL)
		return VV_ERR_NOMEM;
	if ((rc = model_build(m, src)) != 0) {
		vv_model_free(m);
		return rc;
	}
	*out = m;
	return 0;
}

static int path_join(char *buf, size_t n, const char *dir, const char *file)
{
	if ((size_t)snprintf(buf, n, "%s/%s", dir, file) >= n)
		return vv_errf(VV_ERR_INVAL, "%s: path too long", dir);
	return 0;
}

static bool file_exists(const char *path)
{
	struct stat sb;
	return stat(path, &sb) == 0;
}

int vv_model_load(const char *dir, vv_model **out)
{
	char path[4096], name[256];
	char *config = NULL, *vocab = NULL, *tcfg = NULL;
	size_t config_len = 0, vocab_len = 0, tcfg_len = 0;
	struct vv_model_source src = {0};
	vv_model *m = NULL;
	struct stat sb;
	int fd = -1, rc, saved;
	const char *base;

	*out = NULL;
	if ((rc = path_join(path, sizeof path, dir, "model.safetensors")) != 0)
		return rc;
	if (!file_exists(path)) {
		if ((rc = path_join(path, sizeof path, dir, "model.safetensors.index.json")) != 0)
			return rc;
		if (file_exists(path))
			return vv_errf(VV_ERR_UNSUPPORTED,
				       "%s: sharded checkpoint (model.safetensors.index.json); merge the shards into one model.safetensors",
				       dir);
		if ((rc = path_join(path, sizeof path, dir, "pytorch_model.bin")) != 0)
			return rc;
		if (file_exists(path))
			return vv_errf(VV_ERR_MODEL_PICKLE,
				       "%s: pytorch_model.bin is a pickle checkpoint and is refused; convert it offline with tools/convert_pickle_to_safetensors.py %s",
				       dir, dir);
		return vv_errf(VV_ERR_IO, "%s/model.safetensors: %s", dir, strerror(ENOENT));
	}
	if ((rc = path_join(path, sizeof path, dir, "config.json")) != 0 ||
	    (rc = vv_read_file(path, VV_CONFIG_MAX, &config, &config_len)) != 0)
		goto out;
	if ((rc = path_join(path, sizeof path, dir, "vocab.txt")) != 0 ||
	    (rc = vv_read_file(path, VV_VOCAB_MAX, &vocab, &vocab_len)) != 0)
		goto out;
	if ((rc = path_join(path, sizeof path, dir, "tokenizer_config.json")) != 0)
		goto out;
	if (file_exists(path) && (rc = vv_read_file(path, VV_CONFIG_MAX, &tcfg, &tcfg_len)) != 0)
		goto out;
	if ((m = calloc(1, sizeof *m)) == NULL) {
		rc = VV_ERR_NOMEM;
		goto out;
	}
	if ((rc = path_join(path, sizeof path, dir, "model.safetensors")) != 0)
		goto out;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &sb) != 0) {
		rc = vv_errf(VV_ERR_IO, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(sb.st_mode) || sb.st_size < 8) {
		rc = vv_errf(VV_ERR_MODEL_FORMAT, "%s: not a safetensors file", path);
		goto out;
	}
	if ((uint64_t)sb.st_size > SIZE_MAX) {
		rc = vv_errf(VV_ERR_RANGE, "%s: too large", path);
		goto out;
	}
	m->map_len = (size_t)sb.st_size;
	m->map = mmap(NULL, m->map_len, PROT_READ, MAP_PRIVATE, fd, 0);
	if (m->map == MAP_FAILED) {
		m->map = NULL;
		rc = vv_errf(VV_ERR_IO, "%s: mmap: %s", path, strerror(errno));
		goto out;
	}
	{
		/* The directory's last component names the model by default. */
		size_t n = strlen(dir);
		while (n > 1 && dir[n - 1] == '/')
			n--;
		base = dir + n;
		while (base > dir && base[-1] != '/')
			base--;
		snprintf(name, sizeof name, "%.*s", (int)(dir + n - base), base);
		src.name = name;
	}
	src.config = config;
	src.config_len = config_len;
	src.vocab = vocab;
	src.vocab_len = vocab_len;
	src.tokenizer_config = tcfg;
	src.tokenizer_config_len = tcfg_len;
	src.weights = m->map;
	src.weights_len = m->map_len;
	if ((rc = model_build(m, &src)) != 0) {
		(void)vv_err_prefix(rc, "%s", dir);
		goto out;
	}
	*out = m;
	m = NULL;
out:
	saved = errno;
	if (fd >= 0)
		close(fd);
	free(config);
	free(vocab);
	free(tcfg);
	vv_model_free(m);
	errno = saved;
	return rc;
}

void vv_model_free(vv_model *m)
{
	if (!m)
		return;
	if (m->map)
		munmap(m->map, m->map_len);
	free(m->owned);
	free(m->bf16);
	free(m->w.layer);
	vv_model_vocab_done(&m->vocab);
	vv_model_tokenizer_done(&m->tok);
	free(m);
}

const struct vv_model_info *vv_model_get_info(const vv_model *m)
{
	return &m->info;
}

const char *vv_model_arch_name(enum vv_model_arch a)
{
	switch (a) {
	case VV_MODEL_ARCH_BERT: return "bert";
	case VV_MODEL_ARCH_ESM: return "esm";
	}
	return "?";
}

const char *vv_model_head_name(enum vv_model_head h)
{
	switch (h) {
	case VV_MODEL_HEAD_NONE: return "none";
	case VV_MODEL_HEAD_MLM: return "masked-lm";
	case VV_MODEL_HEAD_CLS: return "sequence-classification";
	}
	return "?";
}

const char *vv_model_posenc_name(enum vv_model_posenc p)
{
	switch (p) {
	case VV_MODEL_POS_ABSOLUTE: return "absolute";
	case VV_MODEL_POS_ROTARY: return "rotary";
	}
	return "?";
}

const char *vv_model_ffn_name(enum vv_model_ffn f)
{
	switch (f) {
	case VV_MODEL_FFN_GELU: return "gelu";
	case VV_MODEL_FFN_GELU_TANH: return "gelu-tanh";
	case VV_MODEL_FFN_RELU: return "relu";
	case VV_MODEL_FFN_SILU: return "silu";
	case VV_MODEL_FFN_SWIGLU: return "swiglu";
	}
	return "?";
}

const char *vv_model_tok_name(enum vv_model_tok t)
{
	switch (t) {
	case VV_MODEL_TOK_CHAR: return "char";
	case VV_MODEL_TOK_KMER: return "kmer";
	case VV_MODEL_TOK_KMER_OVERLAP: return "kmer-overlap";
	}
	return "?";
}
