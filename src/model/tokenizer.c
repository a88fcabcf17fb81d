/* vocab.txt and the DNA tokenizers: single letter, non-overlapping k-mers
 * with single-letter fallback (Nucleotide Transformer), overlapping k-mers
 * (DNABERT). */
#include "model_int.h"

#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#define VV_VOCAB_MAX_TOKEN 256

static uint64_t vv_hash(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ull;
	}
	return h;
}

bool vv_model_vocab_find(const struct vv_vocab *v, const char *s, size_t n, int32_t *id)
{
	size_t mask = v->nslot - 1, i;

	*id = VV_TOK_NONE;
	if (!v->nslot)
		return false;
	for (i = (size_t)vv_hash(s, n) & mask;; i = (i + 1) & mask) {
		int32_t slot = v->slot[i];
		if (slot < 0)
			return false;
		if (strlen(v->tok[slot]) == n && memcmp(v->tok[slot], s, n) == 0) {
			*id = slot;
			return true;
		}
	}
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int vv_model_vocab_parse(const char *txt, size_t len, size_t max_tokens, struct vv_vocab *v)
{
	size_t lines = 0, cap;
	const char *p = txt, *end = txt + len;
	int rc = 0;

	memset(v, 0, sizeof *v);
	for (size_t i = 0; i < len; i++)
		if (txt[i] == '\n')
			lines++;
	if (len && txt[len - 1] != '\n')
		lines++;
	if (lines == 0)
		return vv_errf(VV_ERR_MODEL_VOCAB, "vocab.txt: empty");
	if (lines > max_tokens)
		return vv_errf(VV_ERR_MODEL_VOCAB, "vocab.txt: %zu tokens, more than vocab_size %zu", lines,
			       max_tokens);
	if ((v->tok = calloc(lines, sizeof *v->tok)) == NULL)
		return VV_ERR_NOMEM;
	for (cap = 16; cap < 2 * lines; cap *= 2)
		;
	if ((v->slot = malloc(cap * sizeof *v->slot)) == NULL) {
		rc = VV_ERR_NOMEM;
		goto out;
	}
	v->nslot = cap;
	for (size_t i = 0; i < cap; i++)
		v->slot[i] = -1;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *a = p, *b = nl ? nl : end;
		/* Tokens are the line without surrounding whitespace, as
		 * transformers' EsmTokenizer reads them. */
		while (a < b && is_space(*a))
			a++;
		while (b > a && is_space(b[-1]))
			b--;
		if ((size_t)(b - a) > VV_VOCAB_MAX_TOKEN) {
			rc = vv_errf(VV_ERR_MODEL_VOCAB, "vocab.txt: line %zu longer than %d bytes", v->n + 1,
				     VV_VOCAB_MAX_TOKEN);
			goto out;
		}
		if (memchr(a, '\0', (size_t)(b - a))) {
			rc = vv_errf(VV_ERR_MODEL_VOCAB, "vocab.txt: NUL byte on line %zu", v->n + 1);
			goto out;
		}
		if ((v->tok[v->n] = strndup(a, (size_t)(b - a))) == NULL) {
			rc = VV_ERR_NOMEM;
			goto out;
		}
		/* A repeated spelling maps to its last line, as in transformers. */
		{
			size_t mask = cap - 1, i = (size_t)vv_hash(a, (size_t)(b - a)) & mask;
			for (;; i = (i + 1) & mask) {
				int32_t id = v->slot[i];
				if (id < 0 || strcmp(v->tok[id], v->tok[v->n]) == 0) {
					v->slot[i] = (int32_t)v->n;
					break;
				}
			}
		}
		v->n++;
		p = nl ? nl + 1 : end;
	}
out:
	if (rc)
		vv_model_vocab_done(v);
	return rc;
}

void vv_model_vocab_done(struct vv_vocab *v)
{
	if (!v)
		return;
	if (v->tok)
		for (size_t i = 0; i < v->n; i++)
			free(v->tok[i]);
	free(v->tok);
	free(v->slot);
	memset(v, 0, sizeof *v);
}

/* The base-4 code of c (A0 C1 G2 T3) into *b; false for any other letter. */
static bool base_code(unsigned char c, int *b)
{
	const char *p = c ? strchr("ACGT", c) : NULL;

	if (!p)
		return false;
	*b = (int)(p - "ACGT");
	return true;
}

/* The id of the first of names in the vocabulary, or VV_TOK_NONE. */
static int32_t first_of(const struct vv_vocab *v, const char *const *names)
{
	int32_t id;

	for (; *names; names++)
		if (vv_model_vocab_find(v, *names, strlen(*names), &id))
			return id;
	return VV_TOK_NONE;
}

/* Fills t->kmer for k if every ACGT k-mer is in the vocabulary; returns 1 if
 * so, 0 if not, < 0 on error. */
static int kmer_table(struct vv_tokenizer *t, const struct vv_vocab *v, int k)
{
	size_t n = (size_t)1 << (2 * k);
	char s[VV_MODEL_MAX_K + 1];
	int32_t *tab = malloc(n * sizeof *tab);

	if (!tab)
		return VV_ERR_NOMEM;
	for (size_t code = 0; code < n; code++) {
		for (int j = 0; j < k; j++)
			s[j] = "ACGT"[(code >> (2 * (k - 1 - j))) & 3];
		if (!vv_model_vocab_find(v, s, (size_t)k, &tab[code])) {
			free(tab);
			return 0;
		}
	}
	free(t->kmer);
	t->kmer = tab;
	t->k = k;
	return 1;
}

/* A special token named by tokenizer_config.json: a string or an AddedToken
 * object {"content": ...}.  Returns 1 and sets *id (VV_TOK_NONE for null) if the key
 * is there, 0 if absent, < 0 on error. */
static int tcfg_special(struct json_object *root, const char *key, const struct vv_vocab *v, int32_t *id)
{
	struct json_object *o, *c;
	const char *s;

	if (!root || !json_object_object_get_ex(root, key, &o))
		return 0;
	if (json_object_is_type(o, json_type_null)) {
		*id = VV_TOK_NONE;
		return 1;
	}
	if (json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, "content", &c))
		o = c;
	if (!json_object_is_type(o, json_type_string))
		return vv_errf(VV_ERR_MODEL_VOCAB, "tokenizer_config.json: '%s' is not a token", key);
	s = json_object_get_string(o);
	if (!vv_model_vocab_find(v, s, strlen(s), id))
		return vv_errf(VV_ERR_MODEL_VOCAB, "tokenizer_config.json: '%s' names a token not in vocab.txt", key);
	return 1;
}

int vv_model_tokenizer_init(struct vv_tokenizer *t, const struct vv_vocab *v,
			    const struct vv_model_config *c, const char *tcfg, size_t tcfg_len)
{
	static const char *const cls_names[] = {"<cls>", "[CLS]", NULL};
	static const char *const eos_names[] = {"<eos>", "[SEP]", "<sep>", NULL};
	static const char *const pad_names[] = {"<pad>", "[PAD]", NULL};
	static const char *const mask_names[] = {"<mask>", "[MASK]", NULL};
	static const char *const unk_names[] = {"<unk>", "[UNK]", NULL};
	struct json_object *root = NULL, *o;
	int rc = 0, bert_family = c->arch == VV_MODEL_ARCH_BERT, forced = 0, forced_k = 0, r;
	int has_singles;

	memset(t, 0, sizeof *t);
	t->kind = 0;
	if (tcfg && (rc = vv_json_parse(tcfg, tcfg_len, "tokenizer_config.json", &root)) != 0)
		return rc == VV_ERR_FORMAT || rc == VV_ERR_RANGE ? VV_ERR_MODEL_VOCAB : rc;
	if (root && json_object_object_get_ex(root, "tokenizer_class", &o) &&
	    json_object_is_type(o, json_type_string)) {
		const char *cls = json_object_get_string(o);
		if (strcmp(cls, "EsmTokenizer") == 0)
			bert_family = 0;
		else if (strstr(cls, "Bert") || strcmp(cls, "DNATokenizer") == 0)
			bert_family = 1;
	}
	if (root && json_object_object_get_ex(root, "varvault_tokenizer", &o)) {
		const char *s = json_object_is_type(o, json_type_string) ? json_object_get_string(o) : "";
		if (strcmp(s, "char") == 0 || strcmp(s, "nucleotide") == 0)
			forced = VV_MODEL_TOK_CHAR;
		else if (strcmp(s, "kmer") == 0)
			forced = VV_MODEL_TOK_KMER;
		else if (strcmp(s, "kmer_overlap") == 0)
			forced = VV_MODEL_TOK_KMER_OVERLAP;
		else {
			rc = vv_errf(VV_ERR_MODEL_VOCAB, "tokenizer_config.json: varvault_tokenizer must be char, kmer or kmer_overlap");
			goto out;
		}
		if (forced != VV_MODEL_TOK_CHAR) {
			if (!json_object_object_get_ex(root, "k", &o) || !json_object_is_type(o, json_type_int) ||
			    json_object_get_int64(o) < 2 || json_object_get_int64(o) > VV_MODEL_MAX_K) {
				rc = vv_errf(VV_ERR_MODEL_VOCAB, "tokenizer_config.json: k-mer tokenizers need 'k' in [2, %d]",
					     VV_MODEL_MAX_K);
				goto out;
			}
			forced_k = (int)json_object_get_int64(o);
		}
	}
	t->letter[0] = VV_TOK_NONE;
	for (int i = 1; i < 256; i++) {
		char s = (char)i;
		if (!vv_model_vocab_find(v, &s, 1, &t->letter[i]))
			t->letter[i] = VV_TOK_NONE;
	}
	has_singles = t->letter['A'] >= 0 && t->letter['C'] >= 0 && t->letter['G'] >= 0 && t->letter['T'] >= 0;
	if (forced) {
		t->kind = (enum vv_model_tok)forced;
		t->k = 1;
		if (forced_k) {
			if ((r = kmer_table(t, v, forced_k)) < 0) {
				rc = r;
				goto out;
			}
			if (r == 0) {
				rc = vv_errf(VV_ERR_MODEL_VOCAB, "vocab.txt: not every %d-mer of ACGT is a token", forced_k);
				goto out;
			}
		}
	} else {
		for (int k = VV_MODEL_MAX_K; k >= 2 && !t->kind; k--) {
			if ((r = kmer_table(t, v, k)) < 0) {
				rc = r;
				goto out;
			}
			if (r)
				t->kind = has_singles ? VV_MODEL_TOK_KMER : VV_MODEL_TOK_KMER_OVERLAP;
		}
		if (!t->kind && has_singles) {
			t->kind = VV_MODEL_TOK_CHAR;
			t->k = 1;
		}
	}
	if (!t->kind) {
		rc = vv_errf(VV_ERR_MODEL_VOCAB,
			     "vocab.txt: holds neither every k-mer of ACGT (k = 2..%d) nor the single letters A, C, G, T",
			     VV_MODEL_MAX_K);
		goto out;
	}
	if ((t->kind == VV_MODEL_TOK_CHAR || t->kind == VV_MODEL_TOK_KMER) && !has_singles) {
		rc = vv_errf(VV_ERR_MODEL_VOCAB, "vocab.txt: single-letter tokens A, C, G, T missing");
		goto out;
	}
	t->cls = first_of(v, cls_names);
	t->eos = first_of(v, eos_names);
	t->pad = first_of(v, pad_names);
	t->mask = first_of(v, mask_names);
	t->unk = first_of(v, unk_names);
	/* Nucleotide Transformer's tokenizer adds no eos; ESM-2's and BERT's do. */
	t->append_eos = bert_family || t->kind == VV_MODEL_TOK_CHAR;
	if ((r = tcfg_special(root, "cls_token", v, &t->cls)) < 0 ||
	    (r = tcfg_special(root, "unk_token", v, &t->unk)) < 0 ||
	    (r = tcfg_special(root, "pad_token", v, &t->pad)) < 0 ||
	    (r = tcfg_special(root, "mask_token", v, &t->mask)) < 0) {
		rc = r;
		goto out;
	}
	if ((r = tcfg_special(root, bert_family ? "sep_token" : "eos_token", v, &t->eos)) < 0) {
		rc = r;
		goto out;
	}
	if (r == 1)
		t->append_eos = t->eos >= 0;
	if (t->eos < 0)
		t->append_eos = 0;
	if (c->pad_id >= 0)
		t->pad = c->pad_id;
	if (c->mask_id >= 0)
		t->mask = c->mask_id;
	if (t->cls < 0 || t->unk < 0) {
		rc = vv_errf(VV_ERR_MODEL_VOCAB, "vocab.txt: no %s token (<cls>/[CLS], <unk>/[UNK])",
			     t->cls < 0 ? "cls" : "unk");
		goto out;
	}
out:
	json_object_put(root);
	if (rc)
		vv_model_tokenizer_done(t);
	return rc;
}

void vv_model_tokenizer_done(struct vv_tokenizer *t)
{
	if (!t)
		return;
	free(t->kmer);
	t->kmer = NULL;
}

static unsigned char upper(unsigned char c)
{
	return c >= 'a' && c <= 'z' ? (unsigned char)(c - 'a' + 'A') : c;
}

/* The base-4 code of the k letters at s into *code; false if one is not
 * A/C/G/T. */
static bool kmer_code(const unsigned char *s, int k, long *code)
{
	long c = 0;

	for (int j = 0; j < k; j++) {
		int b;
		if (!base_code(upper(s[j]), &b))
			return false;
		c = c * 4 + b;
	}
	*code = c;
	return true;
}

static int32_t letter_id(const struct vv_tokenizer *t, unsigned char c)
{
	int32_t id = t->letter[upper(c)];
	return id >= 0 ? id : t->unk;
}

int vv_model_tokenize(const vv_model *m, const char *seq, size_t len, int32_t *ids,
		      struct vv_model_span *spans, size_t cap, size_t *n)
{
	const struct vv_tokenizer *t = &m->tok;
	const unsigned char *s = (const unsigned char *)seq;
	size_t cnt = 0;
	int k = t->k;

#define EMIT(id_, start_, len_) do { \
		if (cnt < cap) { \
			ids[cnt] = (id_); \
			if (spans) { spans[cnt].start = (int32_t)(start_); spans[cnt].len = (int32_t)(len_); } \
		} \
		cnt++; \
	} while (0)

	*n = 0;
	if (len > INT32_MAX)
		return vv_errf(VV_ERR_INVAL, "tokenize: sequence longer than %d", INT32_MAX);
	if (t->cls >= 0)
		EMIT(t->cls, -1, 0);
	switch (t->kind) {
	case VV_MODEL_TOK_CHAR:
		for (size_t i = 0; i < len; i++)
			EMIT(letter_id(t, s[i]), i, 1);
		break;
	case VV_MODEL_TOK_KMER:
		/* Greedy left to right: a whole k-mer of ACGT where one starts,
		 * else one letter (N, IUPAC codes, the tail shorter than k). */
		for (size_t i = 0; i < len;) {
			long code;
			if (i + (size_t)k <= len && kmer_code(s + i, k, &code)) {
				EMIT(t->kmer[code], i, k);
				i += (size_t)k;
			} else {
				EMIT(letter_id(t, s[i]), i, 1);
				i++;
			}
		}
		break;
	case VV_MODEL_TOK_KMER_OVERLAP:
		for (size_t i = 0; i + (size_t)k <= len; i++) {
			long code;
			int32_t id = kmer_code(s + i, k, &code) ? t->kmer[code] : t->unk;
			EMIT(id, i, k);
		}
		break;
	}
	if (t->append_eos)
		EMIT(t->eos, -1, 0);
#undef EMIT
	*n = cnt;
	if (cnt > cap)
		return VV_ERR_RANGE;
	return 0;
}

int vv_model_token_id(const vv_model *m, const char *token)
{
	int32_t id;

	return vv_model_vocab_find(&m->vocab, token, strlen(token), &id) ? id : VV_ERR_NOTFOUND;
}

const char *vv_model_token_str(const vv_model *m, int32_t id)
{
	if (id < 0 || (size_t)id >= m->vocab.n)
		return NULL;
	return m->vocab.tok[id];
}

int vv_model_token_at(const struct vv_model_span *spans, size_t n, size_t pos)
{
	for (size_t i = 0; i < n && i <= INT32_MAX; i++)
		if (spans[i].start >= 0 && (size_t)spans[i].start <= pos &&
		    pos < (size_t)spans[i].start + (size_t)spans[i].len)
			return (int)i;
	return VV_ERR_NOTFOUND;
}
