/* The compliance report renderer (text and self-contained HTML). */
#include "audit_report.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "varvault/core.h"

/* A counter row: per actor, per action, or per time bucket. */
typedef struct tally {
	char *name;
	char *extra;   /* the actor's role; NULL elsewhere */
	long n[3];     /* ok, denied, failed */
	long other;    /* another or no outcome */
} tally;

typedef struct tallies {
	tally *t;
	size_t n, cap;
} tallies;

enum { OC_OK = 0, OC_DENIED, OC_FAILED, OC_OTHER };
static const char *const oc_names[] = {"ok", "denied", "failed"};

/* A string member of o, or NULL when absent or of another type. */
static const char *str_of(json_object *o, const char *key)
{
	json_object *v;

	if (!o || !json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static json_object *obj_of(json_object *o, const char *key)
{
	json_object *v;

	if (!o || !json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_object))
		return NULL;
	return v;
}

static int outcome_of(json_object *r)
{
	const char *s = str_of(r, "outcome");

	for (int i = 0; s && i < 3; i++)
		if (!strcmp(s, oc_names[i]))
			return i;
	return OC_OTHER;
}

static tally *find(tallies *ts, const char *name, const char *extra)
{
	for (size_t i = 0; i < ts->n; i++)
		if (!strcmp(ts->t[i].name, name) &&
		    ((!extra && !ts->t[i].extra) || (extra && ts->t[i].extra && !strcmp(ts->t[i].extra, extra))))
			return &ts->t[i];
	if (ts->n == ts->cap) {
		size_t cap = ts->cap ? ts->cap * 2 : 16;
		tally *nt = realloc(ts->t, cap * sizeof *nt);

		if (!nt)
			return NULL;
		ts->t = nt;
		ts->cap = cap;
	}
	memset(&ts->t[ts->n], 0, sizeof ts->t[0]);
	if (!(ts->t[ts->n].name = strdup(name)) || (extra && !(ts->t[ts->n].extra = strdup(extra)))) {
		free(ts->t[ts->n].name);
		return NULL;
	}
	return &ts->t[ts->n++];
}

static void tallies_free(tallies *ts)
{
	for (size_t i = 0; i < ts->n; i++) {
		free(ts->t[i].name);
		free(ts->t[i].extra);
	}
	free(ts->t);
}

static long total(const tally *t)
{
	return t->n[0] + t->n[1] + t->n[2] + t->other;
}

static int cmp_total(const void *a, const void *b)
{
	long x = total(a), y = total(b);

	return x < y ? 1 : x > y ? -1 : strcmp(((const tally *)a)->name, ((const tally *)b)->name);
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(((const tally *)a)->name, ((const tally *)b)->name);
}

static void count(tally *t, int oc)
{
	if (oc == OC_OTHER)
		t->other++;
	else
		t->n[oc]++;
}

/* The time bucket of an RFC 3339 time: its day, or its hour when the whole
 * report spans two days or less. */
static void bucket_of(const char *time, bool hourly, char out[32])
{
	size_t n = hourly ? 13 : 10;

	if (!time || strlen(time) < n) {
		snprintf(out, 32, "(no time)");
		return;
	}
	memcpy(out, time, n);
	out[n] = '\0';
	if (hourly)
		strcat(out, ":00");
}

static time_t parse_day(const char *s)
{
	struct tm tm = {0};

	if (!s || sscanf(s, "%4d-%2d-%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday) != 3)
		return (time_t)-1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return timegm(&tm);
}

/* ------------------------------------------------------------------ output */

/* Writes s escaped for HTML text and attribute values; bytes below 0x20
 * (other than tab and newline) become U+FFFD so the file stays well-formed. */
static void esc(FILE *f, const char *s)
{
	if (!s) {
		fputs("\xe2\x80\x94", f);
		return;
	}
	for (; *s; s++) {
		switch (*s) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&#39;", f); break;
		default:
			if ((unsigned char)*s < 0x20 && *s != '\t' && *s != '\n')
				fputs("\xef\xbf\xbd", f);
			else
				fputc(*s, f);
		}
	}
}

/* Text output: control characters would let a record rewrite a terminal;
 * they are shown as '?'. */
static void tput(FILE *f, const char *s, int width)
{
	int n = 0;

	if (!s)
		s = "-";
	for (; *s; s++, n++)
		fputc((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s, f);
	for (; n < width; n++)
		fputc(' ', f);
}

typedef struct report {
	json_object *records;
	size_t n;
	long oc[4];
	long malformed;
	tallies actors, actions, buckets;
	const char *first, *last; /* times */
	bool hourly;
} report;

static int gather(report *r)
{
	char b[32];

	r->n = json_object_array_length(r->records);
	for (size_t i = 0; i < r->n; i++) {
		json_object *x = json_object_array_get_idx(r->records, i);
		const char *t = str_of(x, "time");

		if (!x || !json_object_is_type(x, json_type_object)) {
			r->malformed++;
			continue;
		}
		if (t && (!r->first || strcmp(t, r->first) < 0))
			r->first = t;
		if (t && (!r->last || strcmp(t, r->last) > 0))
			r->last = t;
	}
	if (r->first && r->last) {
		time_t a = parse_day(r->first), z = parse_day(r->last);

		r->hourly = a != (time_t)-1 && z != (time_t)-1 && z - a <= 86400;
	}
	for (size_t i = 0; i < r->n; i++) {
		json_object *x = json_object_array_get_idx(r->records, i), *actor;
		const char *subj, *act;
		int oc;
		tally *t;

		if (!x || !json_object_is_type(x, json_type_object))
			continue;
		oc = outcome_of(x);
		r->oc[oc]++;
		actor = obj_of(x, "actor");
		subj = str_of(actor, "subject");
		if (!subj)
			subj = str_of(actor, "fingerprint");
		if (!(t = find(&r->actors, subj ? subj : "(no actor: the appliance)", str_of(actor, "role"))))
			return VV_ERR_NOMEM;
		count(t, oc);
		act = str_of(x, "action");
		if (!(t = find(&r->actions, act ? act : "(none)", NULL)))
			return VV_ERR_NOMEM;
		count(t, oc);
		bucket_of(str_of(x, "time"), r->hourly, b);
		if (!(t = find(&r->buckets, b, NULL)))
			return VV_ERR_NOMEM;
		count(t, oc);
	}
	/* qsort's base may not be NULL, even for no elements */
	if (r->actors.n)
		qsort(r->actors.t, r->actors.n, sizeof(tally), cmp_total);
	if (r->actions.n)
		qsort(r->actions.t, r->actions.n, sizeof(tally), cmp_total);
	if (r->buckets.n)
		qsort(r->buckets.t, r->buckets.n, sizeof(tally), cmp_name);
	return 0;
}

/* The first three lines of a checkpoint note: origin, size, root. */
static void cp_lines(const char *cp, char origin[160], char size[32], char root[64])
{
	const char *p = cp;
	char *outs[3] = {origin, size, root};
	size_t caps[3] = {160, 32, 64};

	origin[0] = size[0] = root[0] = '\0';
	for (int i = 0; p && i < 3; i++) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);

		if (n >= caps[i])
			n = caps[i] - 1;
		memcpy(outs[i], p, n);
		outs[i][n] = '\0';
		p = nl ? nl + 1 : NULL;
	}
}

static void text_table(FILE *f, const char *title, const tallies *ts, bool role)
{
	fprintf(f, "\n%s\n", title);
	fprintf(f, "  %-44s %-10s %7s %7s %7s %7s\n", "", role ? "role" : "", "ok", "denied", "failed", "total");
	for (size_t i = 0; i < ts->n; i++) {
		fputs("  ", f);
		tput(f, ts->t[i].name, 44);
		fputc(' ', f);
		tput(f, role ? ts->t[i].extra : "", 10);
		fprintf(f, " %7ld %7ld %7ld %7ld\n", ts->t[i].n[0], ts->t[i].n[1], ts->t[i].n[2], total(&ts->t[i]));
	}
}

static void text_report(FILE *f, const report *r, const char *cp, bool verified, const char *since,
			const char *until)
{
	char origin[160], size[32], root[64];

	fputs("varvault audit report\n=====================\n", f);
	fputs("Period:      ", f);
	tput(f, since ? since : "(start of the log)", 0);
	fputs(" .. ", f);
	tput(f, until ? until : "(now)", 0);
	fputc('\n', f);
	if (cp) {
		cp_lines(cp, origin, size, root);
		fputs("Checkpoint:  ", f);
		tput(f, origin, 0);
		fputs(", size ", f);
		tput(f, size, 0);
		fputs(", root ", f);
		tput(f, root, 0);
		fputs(verified ? "\n             VERIFIED (signature and consistency checked by this client)\n"
			       : "\n             NOT VERIFIED: do not rely on this report\n", f);
	} else {
		fputs("Checkpoint:  none: NOT VERIFIED, do not rely on this report\n", f);
	}
	fprintf(f, "Records:     %zu (ok %ld, denied %ld, failed %ld", r->n, r->oc[0], r->oc[1], r->oc[2]);
	if (r->oc[OC_OTHER])
		fprintf(f, ", other %ld", r->oc[OC_OTHER]);
	if (r->malformed)
		fprintf(f, ", malformed %ld", r->malformed);
	fputs(")\n", f);
	text_table(f, "By actor", &r->actors, true);
	text_table(f, "By action", &r->actions, false);
	text_table(f, r->hourly ? "Activity per hour (UTC)" : "Activity per day (UTC)", &r->buckets, false);
	fputs("\nDenied and failed events\n", f);
	if (r->oc[1] + r->oc[2] == 0)
		fputs("  none\n", f);
	for (size_t i = 0; i < r->n; i++) {
		json_object *x = json_object_array_get_idx(r->records, i), *seq, *obj;
		int oc;

		if (!x || !json_object_is_type(x, json_type_object))
			continue;
		oc = outcome_of(x);
		if (oc != OC_DENIED && oc != OC_FAILED)
			continue;
		obj = obj_of(x, "object");
		fprintf(f, "  #%-8lld ", json_object_object_get_ex(x, "seq", &seq) ? (long long)json_object_get_int64(seq)
										 : -1LL);
		tput(f, str_of(x, "time"), 28);
		tput(f, oc_names[oc], 7);
		tput(f, str_of(x, "action"), 14);
		tput(f, str_of(obj_of(x, "actor"), "subject"), 0);
		fputs("  sample ", f);
		tput(f, str_of(obj, "sample"), 0);
		fputs("  job ", f);
		tput(f, str_of(obj, "job"), 0);
		fputs("  reason: ", f);
		tput(f, str_of(x, "reason"), 0);
		fputc('\n', f);
	}
}

/* ------------------------------------------------------------- HTML, SVG */

static const char css[] =
	"body{font-family:sans-serif;margin:2em;color:#222;max-width:70em}"
	"h1{font-size:1.6em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ccc}"
	"table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left}"
	"td.n{text-align:right;font-variant-numeric:tabular-nums}"
	".ok{color:#1a7f37}.denied{color:#b35900}.failed{color:#cf222e}"
	".verified{background:#dafbe1;padding:.5em}.unverified{background:#ffebe9;padding:.5em;font-weight:bold}"
	"code{font-size:.9em;word-break:break-all}";
static const char *const oc_colors[] = {"#2da44e", "#fb8f44", "#cf222e"};

/* A stacked bar chart (ok, denied, failed) of the tallies, inline SVG. */
static void svg_bars(FILE *f, const tallies *ts, const char *title, bool vertical)
{
	long max = 1;
	size_t n = ts->n;

	for (size_t i = 0; i < n; i++)
		if (total(&ts->t[i]) > max)
			max = total(&ts->t[i]);
	if (vertical) {
		/* time on x, one column per bucket */
		int bw = n > 60 ? 8 : n > 20 ? 16 : 32, h = 200, w = (int)n * (bw + 4) + 60;

		fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" role=\"img\">", w, h + 90);
		fputs("<title>", f);
		esc(f, title);
		fputs("</title>", f);
		fprintf(f, "<line x1=\"50\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#888\"/>", h + 10, w, h + 10);
		fprintf(f, "<text x=\"2\" y=\"20\" font-size=\"11\">%ld</text><text x=\"2\" y=\"%d\" font-size=\"11\">0</text>",
			max, h + 10);
		for (size_t i = 0; i < n; i++) {
			double y = h + 10;
			int x = 54 + (int)i * (bw + 4);

			for (int k = 0; k < 3; k++) {
				double bh = (double)ts->t[i].n[k] * h / (double)max;

				if (bh <= 0)
					continue;
				y -= bh;
				fprintf(f, "<rect x=\"%d\" y=\"%.1f\" width=\"%d\" height=\"%.1f\" fill=\"%s\"><title>", x, y, bw,
					bh, oc_colors[k]);
				esc(f, ts->t[i].name);
				fprintf(f, ": %ld %s</title></rect>", ts->t[i].n[k], oc_names[k]);
			}
			fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"10\" transform=\"rotate(60 %d %d)\">", x, h + 24, x,
				h + 24);
			esc(f, ts->t[i].name);
			fputs("</text>", f);
		}
		fputs("</svg>", f);
		return;
	}
	/* one horizontal bar per row (actions, actors) */
	{
		int rowh = 22, w = 640, lw = 260;

		fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" role=\"img\">", w + lw + 60,
			(int)n * rowh + 10);
		fputs("<title>", f);
		esc(f, title);
		fputs("</title>", f);
		for (size_t i = 0; i < n; i++) {
			double x = lw;
			int y = 5 + (int)i * rowh;
			char label[48];

			snprintf(label, sizeof label, "%.40s%s", ts->t[i].name, strlen(ts->t[i].name) > 40 ? "..." : "");
			fprintf(f, "<text x=\"0\" y=\"%d\" font-size=\"12\">", y + 14);
			esc(f, label);
			fputs("</text>", f);
			for (int k = 0; k < 3; k++) {
				double bw = (double)ts->t[i].n[k] * w / (double)max;

				if (bw <= 0)
					continue;
				fprintf(f, "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\"><title>", x, y, bw,
					rowh - 6, oc_colors[k]);
				esc(f, ts->t[i].name);
				fprintf(f, ": %ld %s</title></rect>", ts->t[i].n[k], oc_names[k]);
				x += bw;
			}
			fprintf(f, "<text x=\"%.1f\" y=\"%d\" font-size=\"12\">%ld</text>", x + 4, y + 14, total(&ts->t[i]));
		}
		fputs("</svg>", f);
	}
}

static void html_table(FILE *f, const tallies *ts, const char *head, bool role)
{
	fputs("<table><thead><tr><th>", f);
	esc(f, head);
	fputs("</th>", f);
	if (role)
		fputs("<th>role</th>", f);
	fputs("<th>ok</th><th>denied</th><th>failed</th><th>total</th></tr></thead><tbody>", f);
	for (size_t i = 0; i < ts->n; i++) {
		fputs("<tr><td>", f);
		esc(f, ts->t[i].name);
		fputs("</td>", f);
		if (role) {
			fputs("<td>", f);
			esc(f, ts->t[i].extra);
			fputs("</td>", f);
		}
		fprintf(f, "<td class=\"n\">%ld</td><td class=\"n\">%ld</td><td class=\"n\">%ld</td><td class=\"n\">%ld</td></tr>",
			ts->t[i].n[0], ts->t[i].n[1], ts->t[i].n[2], total(&ts->t[i]));
	}
	fputs("</tbody></table>\n", f);
}

static void td(FILE *f, const char *s)
{
	fputs("<td>", f);
	esc(f, s);
	fputs("</td>", f);
}

static void html_report(FILE *f, const report *r, const char *cp, bool verified, const char *since,
			const char *until)
{
	char origin[160], size[32], root[64], stamp[32];
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/>"
	      /* nothing may load from anywhere: no scripts, no fetches */
	      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
	      "img-src data:\"/>"
	      "<title>varvault audit report</title><style>",
	      f);
	fputs(css, f);
	fputs("</style></head>\n<body>\n<h1>varvault audit report</h1>\n<p>Period: ", f);
	esc(f, since ? since : "start of the log");
	fputs(" \xe2\x80\x93 ", f);
	esc(f, until ? until : "now");
	fputs(". Generated ", f);
	esc(f, stamp);
	fputs(" (UTC).</p>\n", f);

	fputs("<h2>Checkpoint</h2>\n", f);
	if (cp) {
		cp_lines(cp, origin, size, root);
		fprintf(f, "<p class=\"%s\">", verified ? "verified" : "unverified");
		fputs(verified ? "Verified: the checkpoint's signature and its consistency with the checkpoint this "
				 "client held before were checked."
			       : "NOT VERIFIED: do not rely on this report.",
		      f);
		fputs("</p>\n<table><tbody><tr><th>origin</th>", f);
		td(f, origin);
		fputs("</tr><tr><th>tree size</th>", f);
		td(f, size);
		fputs("</tr><tr><th>root hash</th><td><code>", f);
		esc(f, root);
		fputs("</code></td></tr></tbody></table>\n<pre>", f);
		esc(f, cp);
		fputs("</pre>\n", f);
	} else {
		fputs("<p class=\"unverified\">No checkpoint: NOT VERIFIED, do not rely on this report.</p>\n", f);
	}

	fputs("<h2>Summary</h2>\n<table><tbody>", f);
	fprintf(f, "<tr><th>records</th><td class=\"n\">%zu</td></tr>", r->n);
	for (int k = 0; k < 3; k++)
		fprintf(f, "<tr><th class=\"%s\">%s</th><td class=\"n\">%ld</td></tr>", oc_names[k], oc_names[k], r->oc[k]);
	if (r->oc[OC_OTHER])
		fprintf(f, "<tr><th>other outcome</th><td class=\"n\">%ld</td></tr>", r->oc[OC_OTHER]);
	if (r->malformed)
		fprintf(f, "<tr><th>malformed</th><td class=\"n\">%ld</td></tr>", r->malformed);
	fputs("</tbody></table>\n", f);

	fputs(r->hourly ? "<h2>Activity per hour (UTC)</h2>\n" : "<h2>Activity per day (UTC)</h2>\n", f);
	svg_bars(f, &r->buckets, "activity over time: ok, denied, failed", true);
	fputs("\n<p><span class=\"ok\">\xe2\x96\xa0 ok</span> <span class=\"denied\">\xe2\x96\xa0 denied</span> "
	      "<span class=\"failed\">\xe2\x96\xa0 failed</span></p>\n",
	      f);
	html_table(f, &r->buckets, r->hourly ? "hour" : "day", false);

	fputs("<h2>By action</h2>\n", f);
	svg_bars(f, &r->actions, "records per action", false);
	html_table(f, &r->actions, "action", false);
	fputs("<h2>By actor</h2>\n", f);
	svg_bars(f, &r->actors, "records per actor", false);
	html_table(f, &r->actors, "actor", true);

	fputs("<h2>Denied and failed events</h2>\n", f);
	if (r->oc[1] + r->oc[2] == 0) {
		fputs("<p>None.</p>\n", f);
	} else {
		fputs("<table><thead><tr><th>seq</th><th>time</th><th>outcome</th><th>action</th><th>actor</th>"
		      "<th>role</th><th>peer uid</th><th>sample</th><th>job</th><th>reason</th><th>request</th></tr>"
		      "</thead><tbody>\n",
		      f);
		for (size_t i = 0; i < r->n; i++) {
			json_object *x = json_object_array_get_idx(r->records, i), *v, *peer;
			int oc;
			char num[32];

			if (!x || !json_object_is_type(x, json_type_object))
				continue;
			oc = outcome_of(x);
			if (oc != OC_DENIED && oc != OC_FAILED)
				continue;
			fputs("<tr>", f);
			snprintf(num, sizeof num, "%lld",
				 json_object_object_get_ex(x, "seq", &v) ? (long long)json_object_get_int64(v) : -1LL);
			td(f, num);
			td(f, str_of(x, "time"));
			fprintf(f, "<td class=\"%s\">%s</td>", oc_names[oc], oc_names[oc]);
			td(f, str_of(x, "action"));
			td(f, str_of(obj_of(x, "actor"), "subject"));
			td(f, str_of(obj_of(x, "actor"), "role"));
			peer = obj_of(x, "peer");
			if (peer && json_object_object_get_ex(peer, "uid", &v) && json_object_is_type(v, json_type_int)) {
				snprintf(num, sizeof num, "%lld", (long long)json_object_get_int64(v));
				td(f, num);
			} else {
				td(f, NULL);
			}
			td(f, str_of(obj_of(x, "object"), "sample"));
			td(f, str_of(obj_of(x, "object"), "job"));
			td(f, str_of(x, "reason"));
			td(f, str_of(x, "request_id"));
			fputs("</tr>\n", f);
		}
		fputs("</tbody></table>\n", f);
	}
	fputs("<p>Records carry identities, pseudonyms, ids and hashes only: no genotypes, sequence or VCF "
	      "content.</p>\n</body></html>\n",
	      f);
}

int vv_cli_audit_report(FILE *out, int format, json_object *records, const char *checkpoint_text,
			bool checkpoint_verified, const char *since, const char *until)
{
	report r;
	int rc;

	if (!out || !records || !json_object_is_type(records, json_type_array) ||
	    (format != VV_REPORT_TEXT && format != VV_REPORT_HTML))
		return vv_errf(VV_ERR_INVAL, "audit report: records must be a JSON array, format text or html");
	memset(&r, 0, sizeof r);
	r.records = records;
	if ((rc = gather(&r)))
		goto out;
	if (format == VV_REPORT_HTML)
		html_report(out, &r, checkpoint_text, checkpoint_verified, since, until);
	else
		text_report(out, &r, checkpoint_text, checkpoint_verified, since, until);
	if (fflush(out) != 0 || ferror(out))
		rc = vv_errf(VV_ERR_IO, "audit report: write failed");
out:
	tallies_free(&r.actors);
	tallies_free(&r.actions);
	tallies_free(&r.buckets);
	return rc;
}
