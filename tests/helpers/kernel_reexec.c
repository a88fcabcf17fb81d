/* Test helper: the re-execution that varvault-admin makes, with OpenBLAS's
 * detection replaced by argv[1] ("-": the real one), then this process's
 * kernel as `core source cpu_best weaker`.  With argv[2] "envp", prints
 * instead the worker environment vv_model_kernel_envp() adds. */
#include <stdio.h>
#include <string.h>

#include "varvault/model.h"

extern char **environ;

int main(int argc, char **argv)
{
	struct vv_model_kernel k;
	const char *fake = argc > 1 && strcmp(argv[1], "-") != 0 ? argv[1] : NULL;

	if (argc > 2 && strcmp(argv[2], "envp") == 0) {
		char **env;
		if (vv_model_kernel_envp(environ, fake, &env) != 0)
			return 1;
		for (size_t i = 0; env[i]; i++)
			if (!strncmp(env[i], "OPENBLAS_CORETYPE=", 18) ||
			    !strncmp(env[i], VV_MODEL_KERNEL_GUARD "=", sizeof VV_MODEL_KERNEL_GUARD))
				printf("%s\n", env[i]);
		vv_model_kernel_envp_free(env);
		return 0;
	}
	vv_model_kernel_reexec(argv, fake);
	vv_model_kernel_get(&k);
	printf("%s %s %s %d\n", k.in_use, vv_model_kernel_source_name(k.source), k.best[0] ? k.best : "-",
	       (int)k.weaker);
	return 0;
}
