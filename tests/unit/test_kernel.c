/* Unit tests of the OpenBLAS kernel choice (src/model/kernel.c): CPU
 * features to core types, the decision against a (simulated) weaker
 * detection, the operator's and the guard's precedence, workers' env. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "varvault/model.h"

static struct vv_model_cpu cpu(const char *vendor, int level)
{
	struct vv_model_cpu c;

	memset(&c, 0, sizeof c);
	strcpy(c.vendor, vendor);
	c.avx = level >= 1;
	c.avx2 = c.fma = level >= 2;
	c.avx512 = level >= 3;
	c.avx512_bf16 = level >= 4;
	c.amx_bf16 = level >= 5;
	return c;
}

static void test_best_core(void **state)
{
	struct vv_model_cpu c;

	(void)state;
	c = cpu("GenuineIntel", 0);
	assert_null(vv_model_cpu_best_core(&c));
	c = cpu("GenuineIntel", 1);
	assert_string_equal(vv_model_cpu_best_core(&c), "Sandybridge");
	c = cpu("GenuineIntel", 2);
	assert_string_equal(vv_model_cpu_best_core(&c), "Haswell");
	c = cpu("AuthenticAMD", 2);
	assert_string_equal(vv_model_cpu_best_core(&c), "Zen");
	c = cpu("GenuineIntel", 3);
	assert_string_equal(vv_model_cpu_best_core(&c), "SkylakeX");
	c = cpu("GenuineIntel", 5); /* Sapphire Rapids: 0.3.21 has no better name */
	assert_string_equal(vv_model_cpu_best_core(&c), "Cooperlake");
	c = cpu("AuthenticAMD", 4); /* Zen 4 */
	assert_string_equal(vv_model_cpu_best_core(&c), "Cooperlake");
	{
		int a = -1, b = -1;
		assert_true(vv_model_kernel_rank("cooperlake", &a));
		assert_true(vv_model_kernel_rank("Cooperlake", &b));
		assert_int_equal(a, b);
		assert_true(vv_model_kernel_rank("Prescott", &a) && vv_model_kernel_rank("Haswell", &b));
		assert_true(a < b);
		assert_true(vv_model_kernel_rank("Zen", &a));
		assert_int_equal(a, b);
		assert_false(vv_model_kernel_rank("FutureLake", &a));
		assert_false(vv_model_kernel_rank(NULL, &a));
	}
}

static void test_decide(void **state)
{
	struct vv_model_cpu spr = cpu("GenuineIntel", 5), avx2 = cpu("GenuineIntel", 2);
	char want[32];

	(void)state;
	/* The case: a Sapphire Rapids that 0.3.21 runs on Prescott's
	 * kernel, nothing set -> Cooperlake. */
	assert_true(vv_model_kernel_decide(&spr, "Prescott", NULL, NULL, want, sizeof want));
	assert_string_equal(want, "Cooperlake");
	assert_true(vv_model_kernel_decide(&spr, "Haswell", "", NULL, want, sizeof want));
	assert_string_equal(want, "Cooperlake");
	assert_true(vv_model_kernel_decide(&avx2, "Core2", NULL, NULL, want, sizeof want));
	assert_string_equal(want, "Haswell");
	/* as good already, or better than our best, or unknown: no change */
	assert_false(vv_model_kernel_decide(&spr, "Cooperlake", NULL, NULL, want, sizeof want));
	assert_string_equal(want, "");
	assert_false(vv_model_kernel_decide(&spr, "SapphireRapids", NULL, NULL, want, sizeof want));
	assert_false(vv_model_kernel_decide(&avx2, "Zen", NULL, NULL, want, sizeof want));
	assert_false(vv_model_kernel_decide(&spr, "FutureLake", NULL, NULL, want, sizeof want));
	assert_false(vv_model_kernel_decide(&spr, NULL, NULL, NULL, want, sizeof want));
	/* the operator's value is respected, even a weak one */
	assert_false(vv_model_kernel_decide(&spr, "Prescott", "Prescott", NULL, want, sizeof want));
	assert_false(vv_model_kernel_decide(&spr, "Prescott", "Haswell", NULL, want, sizeof want));
	/* our own earlier pass: never twice */
	assert_false(vv_model_kernel_decide(&spr, "Prescott", NULL, "Cooperlake", want, sizeof want));
	/* a CPU without AVX: nothing to prefer */
	struct vv_model_cpu old = cpu("GenuineIntel", 0);
	assert_false(vv_model_kernel_decide(&old, "Prescott", NULL, NULL, want, sizeof want));
	/* too small a buffer: no half name */
	assert_false(vv_model_kernel_decide(&spr, "Prescott", NULL, NULL, want, 4));
	assert_string_equal(want, "");
}

static int count(char **env, const char *prefix)
{
	int n = 0;

	for (size_t i = 0; env[i]; i++)
		n += strncmp(env[i], prefix, strlen(prefix)) == 0;
	return n;
}

static void test_envp(void **state)
{
	struct vv_model_cpu c;
	char *base[] = {"PATH=/usr/bin", "OPENBLAS_CORETYPE_X=1", NULL}, **env = NULL;
	const char *best;

	(void)state;
	vv_model_cpu_detect(&c);
	best = vv_model_cpu_best_core(&c);
	assert_int_equal(unsetenv("OPENBLAS_CORETYPE"), 0);
	assert_int_equal(unsetenv(VV_MODEL_KERNEL_GUARD), 0);
	assert_int_equal(vv_model_kernel_envp(base, "Prescott", &env), 0);
	assert_int_equal(count(env, "PATH=/usr/bin"), 1);
	assert_int_equal(count(env, "OPENBLAS_CORETYPE_X=1"), 1);
	if (best) {
		char want[64];
		snprintf(want, sizeof want, "OPENBLAS_CORETYPE=%s", best);
		assert_int_equal(count(env, want), 1);
		snprintf(want, sizeof want, "%s=%s", VV_MODEL_KERNEL_GUARD, best);
		assert_int_equal(count(env, want), 1);
	}
	vv_model_kernel_envp_free(env);
	/* operator's value in this process: copied unchanged */
	assert_int_equal(setenv("OPENBLAS_CORETYPE", "Sandybridge", 1), 0);
	char *op[] = {"OPENBLAS_CORETYPE=Sandybridge", NULL};
	assert_int_equal(vv_model_kernel_envp(op, "Prescott", &env), 0);
	assert_string_equal(env[0], "OPENBLAS_CORETYPE=Sandybridge");
	assert_null(env[1]);
	vv_model_kernel_envp_free(env);
	assert_int_equal(vv_model_kernel_envp(NULL, "Prescott", &env), 0);
	assert_null(env[0]);
	vv_model_kernel_envp_free(env);
	vv_model_kernel_envp_free(NULL);
}

/* vv_model_kernel_row_align() for the OpenBLAS kernel this process runs
 * (tests/integration/test_model_kernels.sh runs this under each kernel the
 * CPU can run): a row gives the same bits at every place congruent modulo
 * the tile, in every call of a multiple of the tile and at least
 * VV_MODEL_ROW_ALIGN_MAX rows, on the shapes of the engine's projections
 * (features 64 and up).  The rule forward.c relies on. */
static void test_row_align(void **state)
{
	static const int shapes[][2] = {{64, 64}, {64, 256}, {256, 64}, {512, 512}, {2048, 512}, {512, 1000}};
	const size_t a = vv_model_kernel_row_align();
	const int M = 480;

	(void)state;
	assert_true(a > 0 && VV_MODEL_ROW_ALIGN_MAX % a == 0);
	for (size_t sh = 0; sh < sizeof shapes / sizeof shapes[0]; sh++) {
		int K = shapes[sh][0], N = shapes[sh][1], differ = 0, tried = 0;
		float *A = malloc(sizeof(float) * (size_t)M * (size_t)K), *W = malloc(sizeof(float) * (size_t)N * (size_t)K);
		float *C = malloc(sizeof(float) * (size_t)M * (size_t)N), *ref = malloc(sizeof(float) * (size_t)N);
		float *row = malloc(sizeof(float) * (size_t)K), *save = malloc(sizeof(float) * (size_t)K);
		unsigned x = 12345;
		assert_non_null(A && W && C && ref && row && save);
		for (size_t i = 0; i < (size_t)M * (size_t)K; i++, x = x * 1103515245u + 12345u)
			A[i] = (float)((x >> 9) & 0xffff) / 65536.0f - 0.5f;
		for (size_t i = 0; i < (size_t)N * (size_t)K; i++, x = x * 1103515245u + 12345u)
			W[i] = ((float)((x >> 9) & 0xffff) / 65536.0f - 0.5f) * 0.1f;
		memcpy(row, A, sizeof(float) * (size_t)K);
		openblas_set_num_threads(1);
		for (int m = VV_MODEL_ROW_ALIGN_MAX; m <= M; m += (int)a)
			for (int p = 0; p < m; p += (int)a) {
				memcpy(save, A + (size_t)p * (size_t)K, sizeof(float) * (size_t)K);
				memcpy(A + (size_t)p * (size_t)K, row, sizeof(float) * (size_t)K);
				cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, N, K, 1.0f, A, K, W, K, 0.0f, C, N);
				if (m == VV_MODEL_ROW_ALIGN_MAX && p == 0)
					memcpy(ref, C, sizeof(float) * (size_t)N);
				else if (tried++, memcmp(ref, C + (size_t)p * (size_t)N, sizeof(float) * (size_t)N) != 0)
					differ++;
				memcpy(A + (size_t)p * (size_t)K, save, sizeof(float) * (size_t)K);
			}
		print_message("kernel %s, tile %zu, K=%d N=%d: %d of %d places differ\n", openblas_get_corename(), a, K,
			      N, differ, tried);
		assert_int_equal(differ, 0);
		free(A);
		free(W);
		free(C);
		free(ref);
		free(row);
		free(save);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_best_core),
		cmocka_unit_test(test_decide),
		cmocka_unit_test(test_envp),
		cmocka_unit_test(test_row_align),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
