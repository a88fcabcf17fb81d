/* varvault: the client command line of the appliance. */
#include "cli.h"
#include "client.h"

#include <stdio.h>

static int vv_cli_version(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("varvault %s\n", VV_VERSION);
	return VV_EXIT_OK;
}

static const struct vv_cli_cmd vv_client_cmds[] = {
	{"version", vv_cli_version, "print the version"},
	{"keygen", vv_cmd_keygen, "make a Crypt4GH key pair"},
	{"encrypt", vv_cmd_encrypt, "encrypt a file to Crypt4GH recipients"},
	{"decrypt", vv_cmd_decrypt, "decrypt a Crypt4GH file"},
	{"submit", vv_cmd_client, "send a VCF to varvaultd for interpretation"},
	{"status", vv_cmd_client, "a job's state and progress (--wait: until it ends)"},
	{"list", vv_cmd_client, "your jobs"},
	{"result", vv_cmd_client, "fetch a finished job's result"},
	{"cancel", vv_cmd_client, "stop a job"},
	{"delete", vv_cmd_client, "destroy a sample's keys, jobs and results (admin)"},
	{"health", vv_cmd_client, "check that varvaultd answers"},
	{"audit", vv_cmd_client_audit, "the audit log: query, export, prove, report (auditor)"},
};

int main(int argc, char **argv)
{
	return vv_cli_dispatch("varvault", vv_client_cmds,
			       sizeof vv_client_cmds / sizeof vv_client_cmds[0], argc, argv);
}
