/* varvaultd: the appliance daemon.  For now its interpreter-worker mode
 * (`--worker`, spawned by the monitor) and --help / --version. */
#include <stdio.h>
#include <string.h>

#include "daemon_int.h"

static const char usage[] =
	"usage: varvaultd --worker\n"
	"       varvaultd --help | --version\n"
	"\n"
	"  --worker    run one interpretation job for the monitor over descriptor 3\n"
	"              (started by varvaultd itself, never by hand)\n";

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
	fputs(usage, stderr);
	return 2;
}
