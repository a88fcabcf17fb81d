/* Command dispatch and error reporting shared by varvault and varvault-admin. */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void vv_cli_list(FILE *f, const char *prog, const struct vv_cli_cmd *cmds, size_t n)
{
	fprintf(f, "usage: %s COMMAND [OPTIONS]\n\ncommands:\n", prog);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "  %-12s %s\n", cmds[i].name, cmds[i].summary);
	fprintf(f, "\n'%s COMMAND --help' describes a command; '%s --version' prints the version.\n",
		prog, prog);
}

int vv_cli_dispatch(const char *prog, const struct vv_cli_cmd *cmds, size_t ncmds,
		    int argc, char **argv)
{
	vv_log_init(prog, VV_LOG_INFO);
	if (argc < 2) {
		vv_cli_list(stderr, prog, cmds, ncmds);
		return VV_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		vv_cli_list(stdout, prog, cmds, ncmds);
		return VV_EXIT_OK;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("%s %s\n", prog, VV_VERSION);
		return VV_EXIT_OK;
	}
	for (size_t i = 0; i < ncmds; i++) {
		if (strcmp(argv[1], cmds[i].name) == 0) {
			char name[128];
			snprintf(name, sizeof name, "%s %s", prog, cmds[i].name);
			vv_log_init(name, VV_LOG_INFO);
			/* An error that sets no detail must not print an older one. */
			vv_err_clear();
			return cmds[i].fn(argc - 1, argv + 1);
		}
	}
	fprintf(stderr, "%s: unknown command '%s'\n\n", prog, argv[1]);
	vv_cli_list(stderr, prog, cmds, ncmds);
	return VV_EXIT_USAGE;
}

int vv_cli_usage_error(const char *cmd, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	vv_log(VV_LOG_ERROR, "%s", msg);
	fprintf(stderr, "Try '%s --help'.\n", cmd);
	return VV_EXIT_USAGE;
}

int vv_cli_fail(int err, const char *fmt, ...)
{
	char what[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	(void)vv_log_err(err, "%s", what);
	return err == VV_ERR_CANCELLED ? VV_EXIT_CANCELLED : VV_EXIT_FAIL;
}

bool vv_cli_parse_size(const char *s, size_t max, size_t *out)
{
	unsigned long long v, mul = 1;
	char *end;

	if (!isdigit((unsigned char)s[0]))
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return false;
	switch (*end) {
	case 'K': case 'k': mul = 1ull << 10; end++; break;
	case 'M': case 'm': mul = 1ull << 20; end++; break;
	case 'G': case 'g': mul = 1ull << 30; end++; break;
	default: break;
	}
	if (*end || v == 0 || v > max / mul)
		return false;
	*out = (size_t)(v * mul);
	return true;
}
