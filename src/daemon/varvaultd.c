/* varvaultd: the appliance daemon.  Serving mode (--config FILE), and the
 * interpreter-worker mode (`--worker`, spawned by the monitor). */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "daemon_int.h"
#include "memneed.h"
#include "serve.h"

static const char usage[] =
	"usage: varvaultd [--config FILE] [--allow-unlocked-memory]\n"
	"       varvaultd --check-config [--json] [--config FILE]\n"
	"       varvaultd --worker\n"
	"       varvaultd --help | --version\n"
	"\n"
	"  --config FILE  settings (default " VV_DCONF_DEFAULT "); see varvaultd.conf(5)\n"
	"  --check-config check the settings, keys, model, reference and policies, print the\n"
	"                 memory a worker must lock and whether RLIMIT_MEMLOCK allows it\n"
	"                 (the LimitMEMLOCK= to set); exit 0 when all is well, else 1\n"
	"  --json         with --check-config: one JSON object\n"
	"  --allow-unlocked-memory\n"
	"                 DEVELOPMENT ONLY: serve even when memory cannot be locked (the\n"
	"                 log, health and job log lines then say so)\n"
	"  --worker       run one interpretation job for the monitor over descriptor 3\n"
	"                 (started by varvaultd itself, never by hand)\n"
	"\n"
	"Serves the appliance on its Unix socket until SIGTERM; SIGHUP reloads the\n"
	"access policy and the CRL.\n";

int main(int argc, char **argv)
{
	const char *config = VV_DCONF_DEFAULT;
	bool check = false, json = false, allow = false;

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
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--config") && i + 1 < argc) {
			config = argv[++i];
		} else if (!strcmp(argv[i], "--check-config")) {
			check = true;
		} else if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if (!strcmp(argv[i], "--allow-unlocked-memory")) {
			allow = true;
		} else {
			fputs(usage, stderr);
			return 2;
		}
	}
	if (json && !check) {
		fputs("varvaultd: --json goes with --check-config\n", stderr);
		return 2;
	}
	if (check) {
		vv_log_init("varvaultd", VV_LOG_WARN);
		return vv_daemon_check_config(config, json);
	}
	vv_daemon_set_allow_unlocked(allow);
	/* Before any thread of ours: on a CPU this OpenBLAS does not
	 * know, start again with its best kernel, which the workers
	 * then inherit (their environment keeps OPENBLAS_*). */
	vv_model_kernel_reexec(argv, NULL);
	vv_log_init("varvaultd", VV_LOG_INFO);
	return vv_daemon_serve(config, "/proc/self/exe");
}
