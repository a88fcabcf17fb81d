/* bench_model: throughput of the model engine on a batch of id sequences,
 * and the cblas_sgemm peak of this machine measured in the same run.
 *
 * usage: bench_model DIR IDS.txt THREADS REPEATS [hidden] [bf16]
 * IDS.txt: one sequence of space-separated token ids a line (one batch).
 * Prints key=value lines: cpu, kernel, kernel_chosen_by, sgemm_gflops,
 * engine_seconds, tokens, tokens_per_s, engine_gflops, flops.  Like
 * varvault-admin, it first re-executes itself with OpenBLAS's best kernel
 * for the CPU when OpenBLAS's detection fell short. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "varvault/model.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Best GFLOP/s of cblas_sgemm over shapes like the model's projections
 * (A[m,k] . B[n,k]^T, as nn.Linear), each run for about 0.4 s. */
static double sgemm_peak(int rows, int d, int inter)
{
	const int shapes[][3] = {{rows, 2 * inter, d}, {rows, d, inter}, {rows, d, d}, {2048, 2048, 2048}};
	double best = 0.0;

	for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
		int m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
		float *a = malloc((size_t)m * (size_t)k * sizeof *a);
		float *b = malloc((size_t)n * (size_t)k * sizeof *b);
		float *c = malloc((size_t)m * (size_t)n * sizeof *c);
		if (!a || !b || !c) {
			free(a); free(b); free(c);
			continue;
		}
		for (size_t i = 0; i < (size_t)m * (size_t)k; i++)
			a[i] = (float)((i * 7919) % 1000) / 1000.0f - 0.5f;
		for (size_t i = 0; i < (size_t)n * (size_t)k; i++)
			b[i] = (float)((i * 104729) % 1000) / 1000.0f - 0.5f;
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, a, k, b, k, 0.0f, c, n);
		for (int rep = 0; rep < 3; rep++) {
			double t0 = now(), t;
			int it = 0;
			do {
				cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, a, k, b, k, 0.0f, c, n);
				it++;
			} while ((t = now() - t0) < 0.4);
			double g = 2.0 * m * n * (double)k * it / t / 1e9;
			if (g > best)
				best = g;
		}
		free(a); free(b); free(c);
	}
	return best;
}

int main(int argc, char **argv)
{
	vv_model *m = NULL;
	vv_model_run *r = NULL;
	const struct vv_model_info *info;
	struct vv_model_seq seqs[4096];
	int32_t *ids[4096];
	size_t n = 0, T = 0, total = 0;
	char line[1 << 16];
	FILE *f;
	int threads, repeats, hidden_only, bf16 = 0, rc;
	double best = 1e30, flops = 0.0;
	float *logits = NULL;
	struct vv_model_at *at = NULL;

	if (argc < 5) {
		fprintf(stderr, "usage: bench_model DIR IDS.txt THREADS REPEATS [hidden] [bf16]\n");
		return 2;
	}
	vv_model_kernel_reexec(argv, NULL);
	{
		struct vv_model_kernel k;
		vv_model_kernel_get(&k);
		printf("cpu=%s\nkernel=%s\nkernel_chosen_by=%s\nkernel_best=%s\n", k.cpu_text, k.in_use,
		       vv_model_kernel_source_name(k.source), k.best);
	}
	threads = atoi(argv[3]);
	repeats = atoi(argv[4]);
	hidden_only = 0;
	for (int i = 5; i < argc; i++) {
		if (strcmp(argv[i], "hidden") == 0)
			hidden_only = 1;
		else if (strcmp(argv[i], "bf16") == 0)
			bf16 = 1;
	}
	if ((rc = vv_model_load(argv[1], &m)) != 0 ||
	    (bf16 && (rc = vv_model_set_precision(m, VV_MODEL_BF16, NULL)) != 0)) {
		fprintf(stderr, "load: %s: %s\n", vv_strerror(rc), vv_err_detail());
		return rc == VV_ERR_UNSUPPORTED ? 3 : 1;
	}
	printf("precision=%s\n", bf16 ? "bf16" : "fp32");
	info = vv_model_get_info(m);
	if ((f = fopen(argv[2], "r")) == NULL) {
		perror(argv[2]);
		return 1;
	}
	while (n < 4096 && fgets(line, sizeof line, f)) {
		size_t cap = 64, len = 0;
		char *p = line, *end;
		ids[n] = malloc(cap * sizeof **ids);
		for (;;) {
			long v = strtol(p, &end, 10);
			if (end == p)
				break;
			if (len == cap)
				ids[n] = realloc(ids[n], (cap *= 2) * sizeof **ids);
			ids[n][len++] = (int32_t)v;
			p = end;
		}
		seqs[n] = (struct vv_model_seq){ids[n], len};
		T = len > T ? len : T;
		total += len;
		n++;
	}
	fclose(f);
	openblas_set_num_threads(threads);
	if (!getenv("BENCH_NO_PEAK"))
		printf("sgemm_gflops=%.2f\n", sgemm_peak((int)total, info->hidden_size, info->intermediate_size));
	fflush(stdout);
	if (getenv("BENCH_PEAK_ONLY")) /* bench_e2e.sh: the peak alone */
		return 0;
	if ((rc = vv_model_run_new(m, n, T, &r)) != 0) {
		fprintf(stderr, "run: %s: %s\n", vv_strerror(rc), vv_err_detail());
		return 1;
	}
	if ((rc = vv_model_run_set_threads(r, threads)) != 0) {
		fprintf(stderr, "threads: %s\n", vv_strerror(rc));
		return 1;
	}
	if (!hidden_only && info->head == VV_MODEL_HEAD_MLM) {
		logits = malloc(total * (size_t)info->vocab_size * sizeof *logits);
		at = malloc(total * sizeof *at);
		for (size_t s = 0, k = 0; s < n; s++)
			for (size_t t = 0; t < seqs[s].len; t++)
				at[k++] = (struct vv_model_at){(uint32_t)s, (uint32_t)t};
	}
	for (int rep = 0; rep < repeats; rep++) {
		double t0 = now(), t;
		if ((rc = vv_model_forward(r, seqs, n)) != 0 ||
		    (logits && (rc = vv_model_mlm_logits(r, at, total, logits)) != 0)) {
			fprintf(stderr, "forward: %s: %s\n", vv_strerror(rc), vv_err_detail());
			return 1;
		}
		t = now() - t0;
		best = t < best ? t : best;
	}
	/* Useful FLOPs: projections, attention products, LM head if run. */
	{
		double d = info->hidden_size, inter = info->intermediate_size, V = info->vocab_size;
		double fw = info->ffn == VV_MODEL_FFN_SWIGLU ? 2 * inter : inter;
		for (size_t s = 0; s < n; s++) {
			double L = (double)seqs[s].len;
			flops += info->num_layers * (2.0 * L * (4 * d * d + d * fw + inter * d) + 4.0 * L * L * d);
			if (logits)
				flops += 2.0 * L * (d * d + d * V);
		}
	}
	printf("tokens=%zu\nsequences=%zu\nengine_seconds=%.4f\ntokens_per_s=%.1f\nflops=%.4g\nengine_gflops=%.2f\n",
	       total, n, best, (double)total / best, flops, flops / best / 1e9);
	free(logits);
	free(at);
	for (size_t s = 0; s < n; s++)
		free(ids[s]);
	vv_model_run_free(r);
	vv_model_free(m);
	return 0;
}
