/* Logging to stderr with a program name and a level threshold, or to a
 * sink the program installs (varvaultd: the journal). */
#include "varvault/core.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *vv_progname = "varvault";
static enum vv_log_level vv_threshold = VV_LOG_INFO;
static vv_log_sink_fn vv_sink;

void vv_log_set_sink(vv_log_sink_fn sink)
{
	vv_sink = sink;
}

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
static void vv_vlog(enum vv_log_level level, const struct vv_log_field *f, size_t n, const char *fmt,
		    va_list ap)
{
	static const char *tag[] = {"error", "warning", "info", "debug"};
	char line[2048], fields[1024];
	size_t off = 0;
	int saved = errno;

	if (level > vv_threshold)
		return;
	vsnprintf(line, sizeof line, fmt, ap);
	if (vv_sink) {
		vv_sink(level, vv_progname, line, f, n);
		errno = saved;
		return;
	}
	fields[0] = '\0';
	for (size_t i = 0; i < n && off < sizeof fields; i++) {
		int k = snprintf(fields + off, sizeof fields - off, "%s%s=%s%s", i ? " " : " [", f[i].name,
				 f[i].value ? f[i].value : "", i + 1 == n ? "]" : "");
		if (k < 0)
			break;
		off += (size_t)k;
	}
	/* One fprintf per message so lines from threads do not interleave. */
	if (level == VV_LOG_INFO)
		fprintf(stderr, "%s: %s%s\n", vv_progname, line, fields);
	else
		fprintf(stderr, "%s: %s: %s%s\n", vv_progname, tag[level], line, fields);
	errno = saved;
}

void vv_log_fields(enum vv_log_level level, const struct vv_log_field *f, size_t n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vv_vlog(level, f, n, fmt, ap);
	va_end(ap);
}

void vv_log(enum vv_log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vv_vlog(level, NULL, 0, fmt, ap);
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
