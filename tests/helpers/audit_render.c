/* Renders an audit report from files, as `varvault audit report` does from
 * the daemon's answer: audit_render text|html RECORDS.json [CHECKPOINT|-]
 * [verified|unverified] [SINCE] [UNTIL] > report */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/cli/audit_report.h"
#include "varvault/core.h"

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	if (!f || fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) || !(buf = malloc((size_t)n + 1)))
		return NULL;
	if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		fclose(f);
		return NULL;
	}
	buf[n] = '\0';
	fclose(f);
	return buf;
}

int main(int argc, char **argv)
{
	json_object *recs;
	char *cp = NULL;
	int rc;

	if (argc < 3) {
		fprintf(stderr, "usage: audit_render text|html RECORDS.json [CHECKPOINT|-] [verified] [SINCE] [UNTIL]\n");
		return 2;
	}
	if (!(recs = json_object_from_file(argv[2]))) {
		fprintf(stderr, "audit_render: %s: not JSON\n", argv[2]);
		return 1;
	}
	if (argc > 3 && strcmp(argv[3], "-") && !(cp = slurp(argv[3]))) {
		fprintf(stderr, "audit_render: %s: unreadable\n", argv[3]);
		return 1;
	}
	rc = vv_cli_audit_report(stdout, strcmp(argv[1], "html") ? VV_REPORT_TEXT : VV_REPORT_HTML, recs, cp,
				 argc > 4 && !strcmp(argv[4], "verified"), argc > 5 ? argv[5] : NULL,
				 argc > 6 ? argv[6] : NULL);
	if (rc)
		fprintf(stderr, "audit_render: %s: %s\n", vv_strerror(rc), vv_err_detail());
	json_object_put(recs);
	free(cp);
	return rc ? 1 : 0;
}
