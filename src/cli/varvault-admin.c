/* varvault-admin: the operator's command line (models, validation runs). */
#include "cli.h"

#include <stdio.h>
#include <string.h>

#include "varvault/model.h"

static int vv_admin_version(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("varvault-admin %s\n", VV_VERSION);
	return VV_EXIT_OK;
}

static const struct vv_cli_cmd vv_admin_cmds[] = {
	{"version", vv_admin_version, "print the version"},
	{"init", vv_cmd_admin_init, "create an appliance: state folder, keys, configuration"},
	{"client", vv_cmd_admin_client, "issue, revoke and list client certificates"},
	{"model", vv_cmd_admin_model, "inspect, check, run or import a model directory"},
	{"annotate", vv_cmd_annotate, "interpret a VCF of public data (validation runs)"},
	{"audit", vv_cmd_admin_audit, "make audit keys; verify a copy of the audit log offline"},
	{"precompute", vv_cmd_precompute, "score every possible SNV of some regions into a table"},
};

/* The commands that run the engine start again, once, with OpenBLAS's best
 * kernel for this CPU when OpenBLAS's own detection fell short. */
static void vv_admin_kernel(int argc, char **argv)
{
	if (argc >= 2 && (strcmp(argv[1], "model") == 0 || strcmp(argv[1], "annotate") == 0 ||
			       strcmp(argv[1], "precompute") == 0))
		vv_model_kernel_reexec(argv, NULL);
}

int main(int argc, char **argv)
{
	vv_admin_kernel(argc, argv);
	return vv_cli_dispatch("varvault-admin", vv_admin_cmds,
			       sizeof vv_admin_cmds / sizeof vv_admin_cmds[0], argc, argv);
}
