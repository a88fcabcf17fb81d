/* Which OpenBLAS kernel the engine runs: the CPU's features against the core
 * type OpenBLAS detected, and the OPENBLAS_CORETYPE that fixes a weak guess. */
#include "model_int.h"

#include <cblas.h>
#include <cpuid.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* OpenBLAS's x86-64 core types ranked by the sgemm they bring.  Debian's
 * 0.3.21 (DYNAMIC_ARCH) accepts the names varvault may choose, Sandybridge
 * to Cooperlake, for OPENBLAS_CORETYPE (case-insensitive); an unknown name,
 * such as SapphireRapids, which 0.3.21 lacks, silently means "detect".
 * Later releases' names are listed so that varvault never replaces a
 * stronger choice than its own; a name not listed here is left alone. */
static const struct {
	const char *name;
	int rank;
} vv_cores[] = {
	{"Prescott", 0}, {"Core2", 0}, {"Penryn", 0}, {"Dunnington", 0}, {"Nehalem", 0},
	{"Atom", 0}, {"Opteron", 0}, {"Barcelona", 0}, {"Bobcat", 0}, {"Bulldozer", 0},
	{"Piledriver", 0}, {"Steamroller", 0}, {"Excavator", 0}, {"Katmai", 0},
	{"Coppermine", 0}, {"Northwood", 0}, {"Banias", 0}, {"Athlon", 0},
	{"Sandybridge", 1}, /* AVX */
	{"Haswell", 2},     /* AVX2 + FMA */
	{"Zen", 2},         /* AVX2 + FMA on AMD: Haswell's kernels */
	{"SkylakeX", 3},    /* AVX-512 F/CD/BW/DQ/VL */
	{"Cooperlake", 4},  /* AVX-512 + AVX512-BF16 (same sgemm as SkylakeX) */
	{"SapphireRapids", 5}, /* OpenBLAS 0.3.22 and later */
};

bool vv_model_kernel_rank(const char *core, int *rank)
{
	for (size_t i = 0; core && i < sizeof vv_cores / sizeof vv_cores[0]; i++)
		if (!strcasecmp(core, vv_cores[i].name)) {
			*rank = vv_cores[i].rank;
			return true;
		}
	return false;
}

/* Whether core a is known and b is known and ranks above it. */
static bool vv_kernel_above(const char *b, const char *a)
{
	int ra, rb;

	return vv_model_kernel_rank(a, &ra) && vv_model_kernel_rank(b, &rb) && rb > ra;
}

void vv_model_cpu_detect(struct vv_model_cpu *c)
{
	unsigned a = 0, b = 0, cx = 0, d = 0, vendor[3] = {0};

	memset(c, 0, sizeof *c);
	__builtin_cpu_init();
	if (__get_cpuid(0, &a, &vendor[0], &vendor[2], &vendor[1]))
		memcpy(c->vendor, vendor, sizeof vendor);
	/* These tests include the OS's consent (XSAVE state for YMM/ZMM). */
	c->avx = __builtin_cpu_supports("avx") != 0;
	c->avx2 = __builtin_cpu_supports("avx2") != 0;
	c->fma = __builtin_cpu_supports("fma") != 0;
	c->avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
		    __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
		    __builtin_cpu_supports("avx512vl");
	/* Leaf 7: AVX512-BF16 in subleaf 1 EAX bit 5; AMX-BF16 and AMX-TILE
	 * in subleaf 0 EDX bits 22 and 24 (not every compiler we build with
	 * names them for __builtin_cpu_supports). */
	if (c->avx512 && __get_cpuid_count(7, 1, &a, &b, &cx, &d))
		c->avx512_bf16 = (a >> 5) & 1;
	if (c->avx512 && __get_cpuid_count(7, 0, &a, &b, &cx, &d))
		c->amx_bf16 = ((d >> 22) & 1) && ((d >> 24) & 1);
}

const char *vv_model_cpu_best_core(const struct vv_model_cpu *c)
{
	if (c->avx512 && c->avx512_bf16)
		return "Cooperlake";
	if (c->avx512)
		return "SkylakeX";
	if (c->avx2 && c->fma)
		return strcmp(c->vendor, "AuthenticAMD") == 0 ? "Zen" : "Haswell";
	if (c->avx)
		return "Sandybridge";
	return NULL;
}

bool vv_model_kernel_decide(const struct vv_model_cpu *c, const char *detected, const char *env_core,
			    const char *env_guard, char *want, size_t cap)
{
	const char *best = vv_model_cpu_best_core(c);

	if (cap)
		want[0] = '\0';
	/* The operator's value, or ours from an earlier pass: never again. */
	if ((env_core && *env_core) || (env_guard && *env_guard))
		return false;
	/* A core type we do not know may be newer than our table: leave it. */
	if (!best || !vv_kernel_above(best, detected))
		return false;
	if ((size_t)snprintf(want, cap, "%s", best) >= cap) {
		if (cap)
			want[0] = '\0';
		return false;
	}
	return true;
}

bool vv_model_kernel_want(const char *detected, char *want, size_t cap)
{
	struct vv_model_cpu c;

	vv_model_cpu_detect(&c);
	return vv_model_kernel_decide(&c, detected ? detected : openblas_get_corename(), getenv("OPENBLAS_CORETYPE"),
				      getenv(VV_MODEL_KERNEL_GUARD), want, cap);
}

void vv_model_kernel_reexec(char *const argv[], const char *detected)
{
	char want[32];

	if (!vv_model_kernel_want(detected, want, sizeof want))
		return;
	if (setenv("OPENBLAS_CORETYPE", want, 1) == 0 && setenv(VV_MODEL_KERNEL_GUARD, want, 1) == 0)
		execv("/proc/self/exe", argv);
	/* No /proc (or no memory): run on with OpenBLAS's choice, which
	 * vv_model_kernel_get() reports as weaker than the CPU's. */
	(void)unsetenv("OPENBLAS_CORETYPE");
	(void)unsetenv(VV_MODEL_KERNEL_GUARD);
}

/* "NAME=value" into a new string. */
static char *env_entry(const char *name, const char *value)
{
	size_t n = strlen(name) + strlen(value) + 2;
	char *s = malloc(n);

	if (s)
		snprintf(s, n, "%s=%s", name, value);
	return s;
}

static bool env_is(const char *entry, const char *name)
{
	size_t n = strlen(name);

	return strncmp(entry, name, n) == 0 && entry[n] == '=';
}

int vv_model_kernel_envp(char *const *envp, const char *detected, char ***out)
{
	char want[32], **env = NULL;
	size_t n = 0, k = 0;
	int rc = VV_ERR_NOMEM;

	*out = NULL;
	while (envp && envp[n])
		n++;
	if ((env = calloc(n + 3, sizeof *env)) == NULL)
		goto out;
	for (size_t i = 0; i < n; i++) {
		if ((env[k] = strdup(envp[i])) == NULL)
			goto out;
		k++;
	}
	/* The decision reads this process's environment; envp is what the
	 * worker gets, normally the same. */
	if (vv_model_kernel_want(detected, want, sizeof want)) {
		size_t j = 0;
		for (size_t i = 0; i < k; i++) {
			if (env_is(env[i], "OPENBLAS_CORETYPE") || env_is(env[i], VV_MODEL_KERNEL_GUARD))
				free(env[i]);
			else
				env[j++] = env[i];
		}
		k = j;
		env[k] = NULL;
		if ((env[k] = env_entry("OPENBLAS_CORETYPE", want)) == NULL)
			goto out;
		k++;
		if ((env[k] = env_entry(VV_MODEL_KERNEL_GUARD, want)) == NULL)
			goto out;
		k++;
	}
	env[k] = NULL;
	*out = env;
	env = NULL;
	rc = 0;
out:
	vv_model_kernel_envp_free(env);
	return rc;
}

void vv_model_kernel_envp_free(char **env)
{
	for (size_t i = 0; env && env[i]; i++)
		free(env[i]);
	free(env);
}

void vv_model_kernel_get(struct vv_model_kernel *k)
{
	const char *core = openblas_get_corename(), *best, *env = getenv("OPENBLAS_CORETYPE"),
		   *guard = getenv(VV_MODEL_KERNEL_GUARD);
	struct vv_model_cpu *c = &k->cpu;
	int len;

	memset(k, 0, sizeof *k);
	vv_model_cpu_detect(c);
	best = vv_model_cpu_best_core(c);
	snprintf(k->in_use, sizeof k->in_use, "%s", core ? core : "unknown");
	snprintf(k->best, sizeof k->best, "%s", best ? best : "");
	if (env && *env)
		k->source = guard && !strcasecmp(env, guard) ? VV_MODEL_KERNEL_VARVAULT : VV_MODEL_KERNEL_OPERATOR;
	else
		k->source = VV_MODEL_KERNEL_DETECTED;
	k->weaker = best && vv_kernel_above(best, core);
	len = snprintf(k->cpu_text, sizeof k->cpu_text, "%s", c->vendor[0] ? c->vendor : "unknown");
#define FEAT(f, s)                                                                                           \
	if (f && len >= 0 && (size_t)len < sizeof k->cpu_text)                                               \
	len += snprintf(k->cpu_text + len, sizeof k->cpu_text - (size_t)len, " %s", s)
	FEAT(c->avx, "avx");
	FEAT(c->avx2, "avx2");
	FEAT(c->fma, "fma");
	FEAT(c->avx512, "avx512");
	FEAT(c->avx512_bf16, "avx512_bf16");
	FEAT(c->amx_bf16, "amx_bf16");
#undef FEAT
}

const char *vv_model_kernel_source_name(enum vv_model_kernel_source s)
{
	switch (s) {
	case VV_MODEL_KERNEL_VARVAULT:
		return "varvault";
	case VV_MODEL_KERNEL_OPERATOR:
		return "operator";
	default:
		return "openblas";
	}
}

/* The row tile of each OpenBLAS sgemm we have measured, for a product
 * C = A . W^T whose rows are the run's tokens: within a call whose row count
 * is a multiple of it, a row's result depends on the row alone, wherever it
 * sits.  Debian's 0.3.21: the SkylakeX/Cooperlake kernel gives every row
 * the same bits at any place; Haswell/Zen round rows 6-11 of each 12
 * differently from rows 0-5.  tests/unit/test_kernel.c checks the kernel in
 * use, and tests/integration/test_model_kernels.sh runs it under each
 * kernel the CPU can run.  A kernel not listed keeps the 48 that suits
 * both. */
size_t vv_model_kernel_row_align(void)
{
	static const struct {
		const char *name;
		size_t align;
	} tiles[] = {{"Cooperlake", 16}, {"SkylakeX", 16}, {"Haswell", 24}, {"Zen", 24}};
	const char *core = openblas_get_corename();

	for (size_t i = 0; core && i < sizeof tiles / sizeof tiles[0]; i++)
		if (!strcasecmp(core, tiles[i].name))
			return tiles[i].align;
	return VV_MODEL_ROW_ALIGN_MAX;
}
