/* varvault-admin model: info, check, tokenize and logits on a model directory. */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "varvault/model.h"

/* Bounds on what `model tokenize` / `model logits` read from stdin. */
#define MODEL_MAX_LINE (16u << 20)
#define MODEL_MAX_LINES 1000000u
#define MODEL_MAX_OUT ((size_t)8 << 30)

static const char model_usage[] =
	"usage: varvault-admin model COMMAND DIR [OPTIONS]\n"
	"\n"
	"DIR is a Hugging Face model directory: config.json, model.safetensors, vocab.txt.\n"
	"\n"
	"  info DIR [--batch B] [--tokens T] [--threads N] [--json]\n"
	"      architecture, sizes, parameter count, SHA-256 of the weights, memory\n"
	"      (run-state for B sequences of T tokens and N threads; defaults 1, the\n"
	"      model's maximum and 1); --json prints one JSON object for scripts\n"
	"  check DIR\n"
	"      validate the model and run one forward on a synthetic batch\n"
	"  tokenize DIR\n"
	"      one DNA sequence a line on stdin; token ids out, one line each\n"
	"  logits DIR [--ids] [--hidden] [--batch B] [--threads N] -o OUT.npy\n"
	"      one sequence (or with --ids, space-separated token ids) a line on stdin;\n"
	"      writes float32 .npy: [lines, tokens, vocab] (masked-LM head),\n"
	"      [lines, labels] (classification head) or [lines, tokens, hidden] (--hidden).\n"
	"      Shorter lines are padded; padded positions are zeros.\n"
	"\n"
	"Every command takes --precision fp32 (default: OpenBLAS, bit-for-bit) or bf16\n"
	"(bf16 weights through oneDNN; CPUs with AVX512-BF16 or AMX only).\n";

/* --precision: fp32 (default) or bf16, for every command that loads. */
static enum vv_model_precision model_precision = VV_MODEL_FP32;

/* Loads dir and sets the precision the command asked for. */
static int model_load(const char *dir, vv_model **m)
{
	int rc = vv_model_load(dir, m);

	if (rc == 0 && (rc = vv_model_set_precision(*m, model_precision, NULL)) != 0) {
		vv_model_free(*m);
		*m = NULL;
	}
	return rc;
}

struct line {
	int32_t *ids;
	size_t n;
};

static void lines_free(struct line *l, size_t n)
{
	for (size_t i = 0; l && i < n; i++)
		free(l[i].ids);
	free(l);
}

/* Token ids of one line of space-separated integers. */
static int parse_ids(const char *s, int32_t vocab, struct line *out, size_t lineno)
{
	size_t cap = 16;
	char *end;

	out->n = 0;
	if ((out->ids = malloc(cap * sizeof *out->ids)) == NULL)
		return vv_errf(VV_ERR_NOMEM, "token ids");
	for (;;) {
		long v;
		while (*s == ' ' || *s == '\t')
			s++;
		if (!*s)
			break;
		errno = 0;
		v = strtol(s, &end, 10);
		if (end == s || errno || v < 0 || v >= vocab)
			return vv_errf(VV_ERR_INVAL, "stdin line %zu: token %zu is not an id below %d", lineno,
				       out->n + 1, vocab);
		s = end;
		if (out->n == cap) {
			int32_t *n2 = realloc(out->ids, 2 * cap * sizeof *n2);
			if (!n2)
				return vv_errf(VV_ERR_NOMEM, "%zu token ids", 2 * cap);
			out->ids = n2;
			cap *= 2;
		}
		out->ids[out->n++] = (int32_t)v;
	}
	if (out->n == 0)
		return vv_errf(VV_ERR_INVAL, "stdin line %zu: no token ids", lineno);
	return 0;
}

static int tokenize_line(const vv_model *m, const char *s, size_t len, struct line *out)
{
	size_t need = 0;
	int rc;

	out->n = 0;
	out->ids = NULL;
	if ((rc = vv_model_tokenize(m, s, len, NULL, NULL, 0, &need)) != 0 && rc != VV_ERR_RANGE)
		return rc;
	vv_err_clear(); /* RANGE only measured the size */
	if ((out->ids = malloc((need ? need : 1) * sizeof *out->ids)) == NULL)
		return vv_errf(VV_ERR_NOMEM, "%zu token ids", need);
	return vv_model_tokenize(m, s, len, out->ids, NULL, need, &out->n);
}

/* Reads stdin: one sequence (or id list) a line. */
static int read_lines(const vv_model *m, int as_ids, struct line **out, size_t *nout)
{
	char *buf = NULL;
	size_t cap = 0, n = 0, lcap = 0;
	struct line *l = NULL;
	ssize_t got;
	int rc = 0;

	*out = NULL;
	*nout = 0;
	while ((got = getline(&buf, &cap, stdin)) >= 0) {
		size_t len = (size_t)got;
		if (len > MODEL_MAX_LINE) {
			rc = vv_errf(VV_ERR_RANGE, "stdin line %zu: longer than %u bytes", n + 1, MODEL_MAX_LINE);
			goto out;
		}
		while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
			buf[--len] = '\0';
		if (n == MODEL_MAX_LINES) {
			rc = vv_errf(VV_ERR_RANGE, "stdin: more than %u lines", MODEL_MAX_LINES);
			goto out;
		}
		if (n == lcap) {
			size_t nc = lcap ? 2 * lcap : 64;
			struct line *nl = realloc(l, nc * sizeof *nl);
			if (!nl) {
				rc = vv_errf(VV_ERR_NOMEM, "%zu input lines", nc);
				goto out;
			}
			l = nl;
			lcap = nc;
		}
		l[n].ids = NULL;
		l[n].n = 0;
		n++;
		rc = as_ids ? parse_ids(buf, vv_model_get_info(m)->vocab_size, &l[n - 1], n)
			    : tokenize_line(m, buf, len, &l[n - 1]);
		if (rc)
			goto out;
	}
	if (ferror(stdin))
		rc = vv_errf(VV_ERR_IO, "stdin: %s", strerror(errno));
out:
	free(buf);
	if (rc) {
		lines_free(l, n);
		return rc;
	}
	*out = l;
	*nout = n;
	return 0;
}

/* Writes a float32 C-order .npy (format version 1.0). */
static int write_npy(const char *path, const float *data, const size_t *shape, int rank)
{
	char hdr[256], dims[160] = "";
	size_t count = 1, hl;
	FILE *f;
	int rc = 0;

	for (int i = 0; i < rank; i++) {
		snprintf(dims + strlen(dims), sizeof dims - strlen(dims), "%zu,%s", shape[i],
			 rank > 1 && i < rank - 1 ? " " : "");
		count *= shape[i];
	}
	if (rank > 1) /* (a, b) has no trailing comma; (a,) does */
		dims[strlen(dims) - 1] = '\0';
	hl = (size_t)snprintf(hdr + 10, sizeof hdr - 10, "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }",
			      dims);
	/* Pad with spaces so that magic + header ends with '\n' on a 64-byte boundary. */
	while ((10 + hl + 1) % 64)
		hdr[10 + hl++] = ' ';
	hdr[10 + hl++] = '\n';
	memcpy(hdr, "\x93NUMPY\x01\x00", 8);
	hdr[8] = (char)(hl & 0xff);
	hdr[9] = (char)(hl >> 8);
	if ((f = fopen(path, "wb")) == NULL)
		return vv_errf(VV_ERR_IO, "%s: %s", path, strerror(errno));
	if (fwrite(hdr, 1, 10 + hl, f) != 10 + hl || (count && fwrite(data, sizeof(float), count, f) != count))
		rc = vv_errf(VV_ERR_IO, "%s: %s", path, strerror(errno));
	if (fclose(f) != 0 && !rc)
		rc = vv_errf(VV_ERR_IO, "%s: %s", path, strerror(errno));
	return rc;
}

static int parse_size(const char *cmd, const char *opt, const char *s, size_t max, size_t *v)
{
	if (!vv_cli_parse_size(s, max, v))
		return vv_cli_usage_error(cmd, "%s wants a number from 1 to %zu", opt, max);
	return 0;
}

static double mib(size_t b)
{
	return (double)b / (1024.0 * 1024.0);
}

static int model_info(const char *dir, size_t batch, size_t tokens, int threads, int as_json)
{
	vv_model *m = NULL;
	const struct vv_model_info *I;
	struct rusage ru;
	size_t run;
	int rc;

	if ((rc = model_load(dir, &m)) != 0)
		return vv_cli_fail(rc, "cannot load model");
	I = vv_model_get_info(m);
	if (!tokens || tokens > (size_t)I->max_tokens)
		tokens = (size_t)I->max_tokens;
	run = vv_model_run_bytes(m, batch, tokens, threads);
	if (as_json) {
		char *text = NULL;
		rc = vv_model_info_json(m, batch, tokens, threads,
					getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : -1, &text);
		vv_model_free(m);
		if (rc)
			return vv_cli_fail(rc, "model info");
		rc = printf("%s\n", text) < 0 ? vv_cli_fail(vv_errf(VV_ERR_IO, "writing the JSON"), "stdout")
					      : VV_EXIT_OK;
		free(text);
		return rc;
	}
	printf("name: %s\n", I->name);
	printf("architecture: %s\n", vv_model_arch_name(I->arch));
	printf("head: %s%s\n", vv_model_head_name(I->head),
	       I->head == VV_MODEL_HEAD_MLM ? (I->tied_decoder ? " (decoder tied to word embeddings)" : " (own decoder)") : "");
	printf("positions: %s\n", vv_model_posenc_name(I->posenc));
	printf("layernorm: %s%s\n", I->pre_layernorm ? "pre-LN with final LayerNorm" : "post-LN",
	       I->emb_layernorm ? ", after embeddings" : "");
	printf("feed_forward: %s%s\n", vv_model_ffn_name(I->ffn), I->ffn_bias ? "" : " (no biases)");
	printf("token_dropout: %s\n", I->token_dropout ? "yes" : "no");
	printf("hidden_size: %d\nnum_layers: %d\nnum_heads: %d\nintermediate_size: %d\n", I->hidden_size,
	       I->num_layers, I->num_heads, I->intermediate_size);
	printf("vocab_size: %d (%d in vocab.txt)\n", I->vocab_size, I->vocab_tokens);
	printf("max_positions: %d\nmax_tokens: %d\n", I->max_positions, I->max_tokens);
	if (I->head == VV_MODEL_HEAD_CLS)
		printf("num_labels: %d\n", I->num_labels);
	printf("layer_norm_eps: %g\n", (double)I->layer_norm_eps);
	printf("tokenizer: %s k=%d%s\n", vv_model_tok_name(I->tokenizer), I->k,
	       I->append_eos ? ", eos appended" : "");
	printf("special_ids: cls=%d eos=%d pad=%d mask=%d unk=%d\n", I->cls_id, I->eos_id, I->pad_id,
	       I->mask_id, I->unk_id);
	printf("parameters: %llu\n", (unsigned long long)I->n_params);
	printf("weights_sha256: %s\n", I->sha256);
	printf("weights_file_bytes: %zu\n", I->weights_file_bytes);
	printf("memory_weights_mapped_mib: %.1f\n", mib(I->weights_mapped_bytes));
	printf("memory_weights_converted_mib: %.1f\n", mib(I->weights_owned_bytes));
	printf("memory_run_state_mib: %.1f (batch %zu x %zu tokens, %d thread%s)\n", mib(run), batch, tokens,
	       threads, threads == 1 ? "" : "s");
	if (I->weights_bf16_bytes)
		printf("memory_weights_bf16_mib: %.1f\n", mib(I->weights_bf16_bytes));
	printf("memory_peak_estimate_mib: %.1f\n",
	       mib(I->weights_mapped_bytes + I->weights_owned_bytes + I->weights_bf16_bytes + run));
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		printf("memory_max_rss_after_load_mib: %.1f\n", (double)ru.ru_maxrss / 1024.0);
	{
		struct vv_model_kernel k;
		vv_model_kernel_get(&k);
		printf("precision: %s\n", vv_model_precision_name(I->precision));
		printf("cpu: %s\n", k.cpu_text);
		printf("kernel: OpenBLAS %s, chosen by %s%s%s%s\n", k.in_use, vv_model_kernel_source_name(k.source),
		       k.weaker ? "; weaker than this CPU's " : "", k.weaker ? k.best : "",
		       k.weaker && k.source == VV_MODEL_KERNEL_OPERATOR ? " (OPENBLAS_CORETYPE left as set)" : "");
	}
	vv_model_free(m);
	return VV_EXIT_OK;
}

static int model_check(const char *dir)
{
	struct vv_model_selftest_result res;
	const struct vv_model_info *I;
	vv_model *m = NULL;
	int rc;

	if ((rc = model_load(dir, &m)) != 0)
		return vv_cli_fail(rc, "cannot load model");
	if ((rc = vv_model_selftest(m, &res)) != 0) {
		vv_model_free(m);
		return vv_cli_fail(rc, "self-test");
	}
	I = vv_model_get_info(m);
	printf("ok: %s (%s, %s head, %d layers, %llu parameters) ran a batch of 2 sequences (%zu and %zu tokens)\n",
	       I->name, vv_model_arch_name(I->arch), vv_model_head_name(I->head), I->num_layers,
	       (unsigned long long)I->n_params, res.tokens[0], res.tokens[1]);
	vv_model_free(m);
	return VV_EXIT_OK;
}

static int model_tokenize(const char *dir)
{
	vv_model *m = NULL;
	struct line *l = NULL;
	size_t n = 0;
	int rc;

	if ((rc = model_load(dir, &m)) != 0)
		return vv_cli_fail(rc, "cannot load model");
	if ((rc = read_lines(m, 0, &l, &n)) != 0) {
		vv_model_free(m);
		return vv_cli_fail(rc, "tokenize");
	}
	for (size_t i = 0; i < n; i++) {
		for (size_t t = 0; t < l[i].n; t++)
			printf("%s%d", t ? " " : "", l[i].ids[t]);
		putchar('\n');
	}
	lines_free(l, n);
	vv_model_free(m);
	return fflush(stdout) == 0 ? VV_EXIT_OK : VV_EXIT_FAIL;
}

static int model_logits(const char *dir, int as_ids, int hidden, size_t batch, int threads, const char *outpath)
{
	vv_model *m = NULL;
	vv_model_run *r = NULL;
	const struct vv_model_info *I;
	struct line *l = NULL;
	struct vv_model_seq *seqs = NULL;
	struct vv_model_at *at = NULL;
	float *out = NULL;
	size_t n = 0, T = 0, width, per_line, total, shape[3];
	int rc, rank, status = VV_EXIT_FAIL;

	if ((rc = model_load(dir, &m)) != 0)
		return vv_cli_fail(rc, "cannot load model");
	I = vv_model_get_info(m);
	if (!hidden && I->head == VV_MODEL_HEAD_NONE) {
		vv_err_clear(); /* these errors have no detail: none from before */
		vv_cli_fail(VV_ERR_UNSUPPORTED, "the model has no head; use --hidden");
		goto out;
	}
	if ((rc = read_lines(m, as_ids, &l, &n)) != 0) {
		vv_cli_fail(rc, "reading stdin");
		goto out;
	}
	if (n == 0) {
		vv_err_clear();
		vv_cli_fail(VV_ERR_INVAL, "no input lines");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (l[i].n > (size_t)I->max_tokens) {
			vv_err_clear();
			vv_cli_fail(VV_ERR_MODEL_SEQLEN, "line %zu: %zu tokens, the model allows %d", i + 1, l[i].n,
				    I->max_tokens);
			goto out;
		}
		T = l[i].n > T ? l[i].n : T;
	}
	if (batch > n)
		batch = n;
	if (hidden)
		width = (size_t)I->hidden_size;
	else if (I->head == VV_MODEL_HEAD_MLM)
		width = (size_t)I->vocab_size;
	else
		width = (size_t)I->num_labels;
	per_line = (hidden || I->head == VV_MODEL_HEAD_MLM) ? T * width : width;
	if (vv_size_mul(n, per_line, &total) || total > MODEL_MAX_OUT / sizeof(float)) {
		vv_err_clear();
		vv_cli_fail(VV_ERR_RANGE, "output of %zu lines would exceed %zu GiB", n, MODEL_MAX_OUT >> 30);
		goto out;
	}
	if ((out = calloc(total ? total : 1, sizeof *out)) == NULL ||
	    (seqs = calloc(batch, sizeof *seqs)) == NULL || (at = calloc(T, sizeof *at)) == NULL) {
		vv_err_clear();
		vv_cli_fail(VV_ERR_NOMEM, "allocating the output");
		goto out;
	}
	if ((rc = vv_model_run_new(m, batch, T, &r)) != 0) {
		vv_cli_fail(rc, "allocating the run-state");
		goto out;
	}
	if ((rc = vv_model_run_set_threads(r, threads)) != 0) {
		vv_cli_fail(rc, "threads");
		goto out;
	}
	for (size_t b0 = 0; b0 < n; b0 += batch) {
		size_t nb = n - b0 < batch ? n - b0 : batch;
		for (size_t s = 0; s < nb; s++)
			seqs[s] = (struct vv_model_seq){l[b0 + s].ids, l[b0 + s].n};
		if ((rc = vv_model_forward(r, seqs, nb)) != 0) {
			vv_cli_fail(rc, "forward");
			goto out;
		}
		if (!hidden && I->head == VV_MODEL_HEAD_CLS) {
			rc = vv_model_cls_logits(r, out + b0 * width);
		} else {
			for (size_t s = 0; s < nb && !rc; s++) {
				float *dst = out + (b0 + s) * per_line;
				if (hidden) {
					const float *h;
					size_t len;
					if ((rc = vv_model_hidden(r, s, &h, &len)) == 0)
						memcpy(dst, h, len * width * sizeof *h);
				} else {
					for (size_t t = 0; t < seqs[s].len; t++)
						at[t] = (struct vv_model_at){(uint32_t)s, (uint32_t)t};
					rc = vv_model_mlm_logits(r, at, seqs[s].len, dst);
				}
			}
		}
		if (rc) {
			vv_cli_fail(rc, "head");
			goto out;
		}
	}
	shape[0] = n;
	if (hidden || I->head == VV_MODEL_HEAD_MLM) {
		shape[1] = T;
		shape[2] = width;
		rank = 3;
	} else {
		shape[1] = width;
		rank = 2;
	}
	if ((rc = write_npy(outpath, out, shape, rank)) != 0) {
		vv_cli_fail(rc, "writing %s", outpath);
		goto out;
	}
	status = VV_EXIT_OK;
out:
	free(out);
	free(seqs);
	free(at);
	lines_free(l, n);
	vv_model_run_free(r);
	vv_model_free(m);
	return status;
}

int vv_cmd_model(int argc, char **argv)
{
	static const struct option opts[] = {
		{"ids", no_argument, NULL, 'i'},
		{"hidden", no_argument, NULL, 'H'},
		{"batch", required_argument, NULL, 'b'},
		{"tokens", required_argument, NULL, 't'},
		{"threads", required_argument, NULL, 'j'},
		{"output", required_argument, NULL, 'o'},
		{"json", no_argument, NULL, 'J'},
		{"precision", required_argument, NULL, 'P'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *cmd = "varvault-admin model", *sub, *dir, *outpath = NULL;
	size_t batch = 0, tokens = 0, threads = 0;
	int as_ids = 0, hidden = 0, as_json = 0, c;

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(model_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? VV_EXIT_USAGE : VV_EXIT_OK;
	}
	sub = argv[1];
	optind = 2;
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'i': as_ids = 1; break;
		case 'H': hidden = 1; break;
		case 'J': as_json = 1; break;
		case 'b': if (parse_size(cmd, "--batch", optarg, 4096, &batch)) return VV_EXIT_USAGE; break;
		case 't': if (parse_size(cmd, "--tokens", optarg, 1u << 20, &tokens)) return VV_EXIT_USAGE; break;
		case 'j': if (parse_size(cmd, "--threads", optarg, 1024, &threads)) return VV_EXIT_USAGE; break;
		case 'o': outpath = optarg; break;
		case 'P':
			if (vv_model_precision_parse(optarg, &model_precision) != 0)
				return vv_cli_usage_error(cmd, "--precision: %s", vv_err_detail());
			break;
		case 'h': fputs(model_usage, stdout); return VV_EXIT_OK;
		default: return vv_cli_usage_error(cmd, "unknown option");
		}
	}
	if (optind != argc - 1)
		return vv_cli_usage_error(cmd, "%s wants one model directory", sub);
	dir = argv[optind];
	if (!strcmp(sub, "info"))
		return model_info(dir, batch ? batch : 1, tokens, threads ? (int)threads : 1, as_json);
	if (!strcmp(sub, "check"))
		return model_check(dir);
	if (!strcmp(sub, "tokenize"))
		return model_tokenize(dir);
	if (!strcmp(sub, "logits")) {
		if (!outpath)
			return vv_cli_usage_error(cmd, "logits needs -o OUT.npy");
		return model_logits(dir, as_ids, hidden, batch ? batch : 8, (int)threads, outpath);
	}
	return vv_cli_usage_error(cmd, "unknown model command '%s'", sub);
}
