/* Test fixture shared by test_interpret.c and test_daemon.c: where the
 * bundled demo inputs live (the one place that knows), and a small model
 * from model_fixture.h written out as a model directory. */
#ifndef VV_TEST_DEMO_FIXTURE_H
#define VV_TEST_DEMO_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "model_fixture.h"

/* Folders, under the source tree ($VV_SRC, else "."), that may hold the
 * demo VCF and reference: the first that has the file wins. */
static const char *const demo_dirs[] = {"demo"};

/* Writes the path of demo file name ("sample.vcf", "reference.fa.gz")
 * into buf; returns buf, or NULL when no folder has it. */
static inline const char *demo_path(const char *name, char *buf, size_t cap)
{
	const char *src = getenv("VV_SRC");

	for (size_t i = 0; i < sizeof demo_dirs / sizeof demo_dirs[0]; i++) {
		snprintf(buf, cap, "%s/%s/%s", src ? src : ".", demo_dirs[i], name);
		if (access(buf, R_OK) == 0)
			return buf;
	}
	return NULL;
}

static inline int demo_write_file(const char *dir, const char *name, const void *p, size_t n)
{
	char path[8192];
	FILE *f;
	int ok;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	if (!(f = fopen(path, "wb")))
		return -1;
	ok = fwrite(p, 1, n, f) == n;
	return fclose(f) == 0 && ok ? 0 : -1;
}

/* The small masked-LM the tests score with (ESM, char vocabulary, a window
 * of about 60 bases): fast, deterministic. */
static struct fx_opts demo_model_opts(void)
{
	struct fx_opts o = fx_esm();
	o.max_pos = 80;
	return o;
}

/* Writes that model as a Hugging Face folder dir (which exists). */
static inline int demo_write_model(const char *dir)
{
	struct fx_opts o = demo_model_opts();
	struct fx f;
	int rc;

	fx_build(&o, &f);
	rc = demo_write_file(dir, "config.json", f.config, f.config_len) ||
	     demo_write_file(dir, "model.safetensors", f.st, f.st_len) ||
	     demo_write_file(dir, "vocab.txt", f.vocab, f.vocab_len) ? -1 : 0;
	fx_free(&f);
	return rc;
}

#endif
