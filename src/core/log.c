/* Logging to stderr with a program name and a level threshold. */
#include "varvault/core.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *vv_progname = "varvault";
static enum vv_log_level vv_threshold = VV_LOG_INFO;

void vv_log_init(const char *progname, enum vv_log_level level)
{
	const char *env = getenv("VARVAULT_LOG");

	if (progname) {
		const char *slash = strrchr(progname, '/');
		vv_progname = slash ? slash + 1 : progname;
	}
	vv_threshold = level;
	if (!env)
		return;
	if (!strcasecmp(env, "debug"))
		vv_threshold = VV_LOG_DEBUG;
	else if (!strcasecmp(env, "info"))
		vv_threshold = VV_LOG_INFO;
	else if (!strcasecmp(env, "warn"))
		vv_threshold = VV_LOG_WARN;
	else if (!strcasecmp(env, "error"))
		vv_threshold = VV_LOG_ERROR;
}

/* Logging keeps errno (stdio may change it), so that a caller can log and
 * then still report the errno of the failure it logged. */
static void vv_vlog(enum vv_log_level level, const char *fmt, va_list ap)
{
	static const char *tag[] = {"error", "warning", "info", "debug"};
	char line[2048];
	int saved = errno;

	if (level > vv_threshold)
		return;
	vsnprintf(line, sizeof line, fmt, ap);
	/* One fprintf per message so lines from threads do not interleave. */
	if (level == VV_LOG_INFO)
		fprintf(stderr, "%s: %s\n", vv_progname, line);
	else
		fprintf(stderr, "%s: %s: %s\n", vv_progname, tag[level], line);
	errno = saved;
}

void vv_log(enum vv_log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vv_vlog(level, fmt, ap);
	va_end(ap);
}

int vv_log_err(int err, const char *fmt, ...)
{
	char what[1024];
	const char *detail = vv_err_detail();
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	if (detail[0])
		vv_log(VV_LOG_ERROR, "%s: %s: %s", what, vv_strerror(err), detail);
	else
		vv_log(VV_LOG_ERROR, "%s: %s", what, vv_strerror(err));
	errno = saved;
	return err;
}
