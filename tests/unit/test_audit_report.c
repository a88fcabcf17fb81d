/* Unit tests of the audit report renderer (src/cli/audit_report.c): counts,
 * denied/failed listing, the checkpoint shown, escaping, self-containment. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/cli/audit_report.h"
#include "varvault/core.h"

static const char records_json[] =
	"["
	"{\"seq\":0,\"time\":\"2026-12-05T05:00:00.123456Z\",\"event\":\"system\",\"action\":\"start\",\"outcome\":\"ok\"},"
	"{\"seq\":1,\"time\":\"2026-12-05T05:01:00.000000Z\",\"event\":\"request\",\"action\":\"submit\","
	" \"actor\":{\"subject\":\"CN=alice\",\"fingerprint\":\"aa\",\"role\":\"submitter\"},\"peer\":{\"uid\":1000,\"pid\":7},"
	" \"object\":{\"job\":\"j1\",\"sample\":\"S-1\"},\"outcome\":\"ok\",\"request_id\":\"r1\"},"
	"{\"seq\":2,\"time\":\"2026-12-05T06:02:00.000000Z\",\"event\":\"request\",\"action\":\"audit.query\","
	" \"actor\":{\"subject\":\"CN=<script>alert(1)</script>\",\"role\":\"submitter\"},"
	" \"outcome\":\"denied\",\"reason\":\"role \\\"submitter\\\" may not & <b>read</b>\"},"
	"{\"seq\":3,\"time\":\"2026-12-05T07:03:00.000000Z\",\"event\":\"job\",\"action\":\"job.failed\","
	" \"object\":{\"job\":\"j1\",\"sample\":\"S-1\"},\"outcome\":\"failed\",\"reason\":\"worker\\u0007died\"},"
	"{\"seq\":4,\"event\":\"request\",\"action\":\"submit\",\"actor\":{\"subject\":\"CN=alice\",\"role\":\"submitter\"},"
	" \"outcome\":\"ok\"},"
	"17"
	"]";

static const char cp[] = "varvault.example/audit\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n"
			 "\xe2\x80\x94 varvault.example/audit AAAA\n";

static char *render(int format, const char *checkpoint, bool verified)
{
	json_object *recs = json_tokener_parse(records_json);
	char *buf = NULL;
	size_t n = 0;
	FILE *f;

	assert_non_null(recs);
	assert_non_null(f = open_memstream(&buf, &n));
	assert_int_equal(vv_cli_audit_report(f, format, recs, checkpoint, verified, "2026-12-01", NULL), 0);
	fclose(f);
	json_object_put(recs);
	return buf;
}

static void test_text(void **state)
{
	char *s = render(VV_REPORT_TEXT, cp, true);

	(void)state;
	assert_non_null(strstr(s, "Records:     6 (ok 3, denied 1, failed 1, malformed 1)"));
	assert_non_null(strstr(s, "VERIFIED"));
	assert_null(strstr(s, "NOT VERIFIED"));
	assert_non_null(strstr(s, "size 5"));
	/* per hour: the records span one day */
	assert_non_null(strstr(s, "Activity per hour"));
	assert_non_null(strstr(s, "2026-12-05T06:00"));
	/* the alice row: 2 ok */
	assert_non_null(strstr(s, "CN=alice"));
	/* denied and failed listed; the BEL shown as '?' */
	assert_non_null(strstr(s, "#2 "));
	assert_non_null(strstr(s, "#3 "));
	assert_non_null(strstr(s, "worker?died"));
	assert_null(strchr(s, '\a'));
	free(s);
	s = render(VV_REPORT_TEXT, NULL, false);
	assert_non_null(strstr(s, "NOT VERIFIED"));
	free(s);
}

static void test_html(void **state)
{
	char *s = render(VV_REPORT_HTML, cp, true);

	(void)state;
	/* self-contained: a CSP that allows nothing from elsewhere, no script,
	 * no external reference */
	assert_non_null(strstr(s, "Content-Security-Policy"));
	assert_non_null(strstr(s, "default-src 'none'"));
	assert_null(strstr(s, "<script"));
	assert_null(strstr(s, "src=\"http"));
	assert_null(strstr(s, "href="));
	/* escaped */
	assert_non_null(strstr(s, "CN=&lt;script&gt;alert(1)&lt;/script&gt;"));
	assert_non_null(strstr(s, "role &quot;submitter&quot; may not &amp; &lt;b&gt;read&lt;/b&gt;"));
	assert_null(strstr(s, "<b>read"));
	assert_null(strchr(s, '\a'));
	/* charts and counts */
	assert_non_null(strstr(s, "<svg"));
	assert_non_null(strstr(s, "<rect"));
	assert_non_null(strstr(s, "<th class=\"denied\">denied</th><td class=\"n\">1</td>"));
	assert_non_null(strstr(s, "class=\"verified\""));
	assert_non_null(strstr(s, "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="));
	free(s);
	s = render(VV_REPORT_HTML, cp, false);
	assert_non_null(strstr(s, "NOT VERIFIED"));
	free(s);
}

static void test_bad_args(void **state)
{
	json_object *o = json_object_new_object();

	(void)state;
	assert_int_equal(vv_cli_audit_report(stdout, VV_REPORT_TEXT, o, NULL, false, NULL, NULL), VV_ERR_INVAL);
	assert_int_equal(vv_cli_audit_report(stdout, 7, o, NULL, false, NULL, NULL), VV_ERR_INVAL);
	json_object_put(o);
}

static void test_empty(void **state)
{
	json_object *a = json_object_new_array();
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);

	(void)state;
	assert_int_equal(vv_cli_audit_report(f, VV_REPORT_HTML, a, NULL, false, NULL, NULL), 0);
	fclose(f);
	assert_non_null(strstr(buf, "</html>"));
	assert_non_null(strstr(buf, "None."));
	free(buf);
	json_object_put(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_html),
		cmocka_unit_test(test_bad_args),
		cmocka_unit_test(test_empty),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
