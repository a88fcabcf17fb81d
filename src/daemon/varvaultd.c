/* varvaultd: the appliance daemon.  Serving mode (--config FILE), and the
 * interpreter-worker mode (`--worker`, spawned by the monitor). */
#include <stdio.h>
#include <string.h>

#include "daemon_int.h"
#include "serve.h"

static const char usage[] =
	"usage: varvaultd [--config FILE]\n"
	"       varvaultd --worker\n"
	"       varvaultd --help | --version\n"
	"\n"
	"  --config FILE  settings (default " VV_DCONF_DEFAULT "); see varvaultd.conf(5)\n"
	"  --worker       run one interpretation job for the monitor over descriptor 3\n"
	"                 (started by varvaultd itself, never by hand)\n"
	"\n"
	"Serves the appliance on its Unix socket until SIGTERM; SIGHUP reloads the\n"
	"access policy and the CRL.\n";

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "--worker")) {
		vv_log_init("varvaultd-worker", VV_LOG_WARN);
		return vv_daemon_worker_main(VV_IPC_FD);
	}
	if (argc == 2 && !strcmp(argv[1], "--version")) {
		printf("varvaultd %s\n", VV_VERSION);
		return 0;
	}
	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		fputs(usage, stdout);
		return 0;
	}
	if (argc == 1 || (argc == 3 && !strcmp(argv[1], "--config"))) {
		/* Before any thread of ours: on a CPU this OpenBLAS does not
		 * know, start again with its best kernel, which the workers
		 * then inherit (their environment keeps OPENBLAS_*). */
		vv_model_kernel_reexec(argv, NULL);
		vv_log_init("varvaultd", VV_LOG_INFO);
		return vv_daemon_serve(argc == 3 ? argv[2] : VV_DCONF_DEFAULT, "/proc/self/exe");
	}
	fputs(usage, stderr);
	return 2;
}
