/* varvault audit query|export|prove|report: the auditor's commands.  What
 * the appliance sends is checked here against its signed checkpoint, which
 * the witness check (witness.c) has already tied to the one this client
 * held. */
#include "cli.h"
#include "client.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "varvault/audit.h"

/* Records one audit.query page asks for. */
#define PAGE 500

static const char *js(json_object *o, const char *path)
{
	json_object *v = o;
	char buf[64];
	const char *p = path;

	/* "a.b": nested members. */
	while (v && *p) {
		size_t n = strcspn(p, ".");
		snprintf(buf, sizeof buf, "%.*s", (int)n, p);
		if (!json_object_object_get_ex(v, buf, &v))
			return "";
		p += n + (p[n] == '.');
	}
	return v && (json_object_is_type(v, json_type_string) || json_object_is_type(v, json_type_int))
		       ? json_object_get_string(v)
		       : "";
}

/* The options of the audit verbs. */
#define AUDIT_TAKES (VV_CLIENT_OPT_FILTERS | VV_CLIENT_OPT_SAMPLE | VV_CLIENT_OPT_FORMAT | VV_CLIENT_OPT_OUTPUT)

static int audit_args(int argc, char **argv, const char *cmd, const char *usage, struct vv_client_opts *o,
		      int want_args)
{
	return vv_client_args(argc, argv, cmd, usage, AUDIT_TAKES, o, want_args, "one argument expected");
}

/* Fetches every record matching o, page by page, into *out (an array). */
static int fetch_records(struct client *c, const struct vv_client_opts *o, json_object **out)
{
	json_object *all = json_object_new_array(), *p, *recs, *next;
	int64_t after = 0;
	int rc = 0;

	for (;;) {
		vv_net_response r;
		p = json_object_new_object();
#define ADD(k, v) \
	if (v)    \
		json_object_object_add(p, k, json_object_new_string(v))
		ADD("since", o->since);
		ADD("until", o->until);
		ADD("actor", o->actor);
		ADD("sample", o->sample);
		ADD("action", o->action);
		ADD("outcome", o->outcome);
#undef ADD
		json_object_object_add(p, "after", json_object_new_int64(after));
		json_object_object_add(p, "limit", json_object_new_int64(PAGE));
		rc = vv_client_request(c, VV_VERB_AUDIT_QUERY, p, &r);
		json_object_put(p);
		if (rc != 0)
			break;
		if (json_object_object_get_ex(r.json, "records", &recs) && json_object_is_type(recs, json_type_array))
			for (size_t i = 0; i < json_object_array_length(recs); i++)
				json_object_array_add(all, json_object_get(json_object_array_get_idx(recs, i)));
		if (!json_object_object_get_ex(r.json, "next", &next) || !json_object_is_type(next, json_type_int)) {
			vv_net_response_done(&r);
			break;
		}
		after = json_object_get_int64(next);
		vv_net_response_done(&r);
	}
	if (rc != 0) {
		json_object_put(all);
		return rc;
	}
	*out = all;
	return 0;
}

static const char query_usage[] =
	"usage: varvault audit query [--since T] [--until T] [--actor A] [--sample S]\n"
	"                            [--action X] [--outcome ok|denied|failed] [--json]\n"
	"\n"
	"Lists the appliance's audit records (role auditor), oldest first: a table, or\n"
	"with --json an array of records.  T: YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ (UTC) or\n"
	"seconds since the epoch; --until is exclusive.  --actor matches the subject\n"
	"(CN=NAME or NAME), the certificate fingerprint or the role.\n";

static int cmd_query(int argc, char **argv)
{
	struct client c = {.cmd = "varvault audit query"};
	struct vv_client_opts o;
	json_object *recs = NULL;
	int rc;

	if ((rc = audit_args(argc, argv, c.cmd, query_usage, &o, 0)) != 0)
		return rc == VV_CLIENT_HELP_SHOWN ? VV_EXIT_OK : rc;
	c.json = o.json;
	if ((rc = vv_client_open(&c, o.config)) != 0 || (rc = fetch_records(&c, &o, &recs)) != 0)
		goto out;
	if (o.json) {
		printf("%s\n", json_object_to_json_string_ext(recs, JSON_C_TO_STRING_PRETTY));
	} else {
		printf("%-6s %-27s %-20s %-10s %-16s %-32s %-12s %-7s %s\n", "SEQ", "TIME (UTC)", "ACTOR", "ROLE",
		       "ACTION", "JOB", "SAMPLE", "OUTCOME", "REASON");
		for (size_t i = 0; i < json_object_array_length(recs); i++) {
			json_object *e = json_object_array_get_idx(recs, i);
			printf("%-6s %-27s %-20s %-10s %-16s %-32s %-12s %-7s %s\n", js(e, "seq"), js(e, "time"),
			       js(e, "actor.subject"), js(e, "actor.role"), js(e, "action"), js(e, "object.job"),
			       js(e, "object.sample"), js(e, "outcome"), js(e, "reason"));
		}
	}
	rc = VV_EXIT_OK;
out:
	json_object_put(recs);
	vv_client_done(&c);
	return rc;
}

/* Reads 32-byte hashes from a JSON array of hex strings (malloc'd). */
static int proof_from_json(json_object *a, uint8_t **out, size_t *n)
{
	size_t k;

	*out = NULL;
	*n = 0;
	if (!a || !json_object_is_type(a, json_type_array) || (k = json_object_array_length(a)) > 128)
		return VV_ERR_FORMAT;
	if (!(*out = malloc(32 * (k ? k : 1))))
		return VV_ERR_NOMEM;
	for (size_t i = 0; i < k; i++) {
		const char *h = json_object_get_string(json_object_array_get_idx(a, i));
		if (!h || strlen(h) != 64)
			return VV_ERR_FORMAT;
		for (size_t j = 0; j < 32; j++) {
			unsigned v;
			if (sscanf(h + 2 * j, "%2x", &v) != 1)
				return VV_ERR_FORMAT;
			(*out)[32 * i + j] = (uint8_t)v;
		}
	}
	*n = k;
	return 0;
}

/* Checks a checkpoint the appliance sent with the key the witness check
 * pinned; fills size and root. */
static int check_note(struct client *c, const char *note, const char *key, uint64_t *size, uint8_t root[32])
{
	if (!c->audit_key || strcmp(key, c->audit_key) != 0)
		return vv_client_fail(c, EXIT_WITNESS, "the checkpoint is signed with a key this client did not pin");
	if (vv_audit_note_verify(key, note, NULL) != 0 || vv_audit_checkpoint_parse(note, NULL, size, root) != 0)
		return vv_client_fail(c, EXIT_WITNESS, "AUDIT CHECKPOINT FORGED: its signature does not verify");
	return 0;
}

static const char prove_usage[] =
	"usage: varvault audit prove SEQ [--json]\n"
	"\n"
	"Fetches record SEQ with its RFC 9162 inclusion proof and checks it here\n"
	"against the appliance's signed checkpoint.\n";

static int cmd_prove(int argc, char **argv)
{
	struct client c = {.cmd = "varvault audit prove"};
	struct vv_client_opts o;
	json_object *p = NULL, *v = NULL;
	vv_net_response r;
	bool have = false;
	uint8_t root[32], leaf_hash[32], *proof = NULL;
	uint64_t size = 0;
	size_t np = 0;
	char *end;
	long long seq;
	int rc;

	if ((rc = audit_args(argc, argv, c.cmd, prove_usage, &o, 1)) != 0)
		return rc == VV_CLIENT_HELP_SHOWN ? VV_EXIT_OK : rc;
	seq = strtoll(argv[optind], &end, 10);
	if (*end || seq < 0 || argv[optind][0] < '0' || argv[optind][0] > '9')
		return vv_cli_usage_error(c.cmd, "SEQ: a record number");
	c.json = o.json;
	p = json_object_new_object();
	json_object_object_add(p, "seq", json_object_new_int64(seq));
	if ((rc = vv_client_open(&c, o.config)) != 0 || (rc = vv_client_request(&c, VV_VERB_AUDIT_PROVE, p, &r)) != 0)
		goto out;
	have = true;
	if ((rc = check_note(&c, js(r.json, "checkpoint"), js(r.json, "key"), &size, root)) != 0)
		goto out;
	json_object_object_get_ex(r.json, "proof", &v);
	if (proof_from_json(v, &proof, &np) != 0) {
		rc = vv_client_fail(&c, EXIT_WITNESS, "a malformed inclusion proof");
		goto out;
	}
	{
		const char *leaf = js(r.json, "leaf");
		char want[32];
		/* The leaf must be record seq itself, not another one's bytes. */
		snprintf(want, sizeof want, "{\"seq\":%lld,", seq);
		vv_audit_merkle_leaf_hash(leaf, strlen(leaf), leaf_hash);
		if (strncmp(leaf, want, strlen(want)) != 0 ||
		    vv_audit_merkle_verify_inclusion((uint64_t)seq, size, leaf_hash, proof, np, root) != 0) {
			rc = vv_client_fail(&c, EXIT_WITNESS,
					    "AUDIT RECORD %lld IS NOT IN THE SIGNED LOG: its inclusion proof fails", seq);
			goto out;
		}
		if (o.json)
			printf("{\"seq\":%lld,\"included\":true,\"size\":%llu,\"record\":%s}\n", seq,
			       (unsigned long long)size, leaf);
		else
			printf("record %lld is in the signed log of %llu records (inclusion proof of %zu hashes "
			       "verified)\n%s\n",
			       seq, (unsigned long long)size, np, leaf);
	}
	rc = VV_EXIT_OK;
out:
	if (have)
		vv_net_response_done(&r);
	json_object_put(p);
	free(proof);
	vv_client_done(&c);
	return rc;
}

static void csv_field(FILE *f, const char *s, bool last)
{
	/* RFC 4180 quoting; a leading = + - @ is prefixed with ' so that a
	 * spreadsheet does not run it as a formula. */
	fputc('"', f);
	if (*s == '=' || *s == '+' || *s == '-' || *s == '@')
		fputc('\'', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
	fputc(last ? '\n' : ',', f);
}

static const char export_usage[] =
	"usage: varvault audit export --format csv|jsonl [-o FILE]\n"
	"\n"
	"Exports every record under the appliance's latest signed checkpoint (one is\n"
	"made when records came after the last), after checking here that the records\n"
	"hash to its root.  jsonl: a first line {\"checkpoint\",\"key\",\"size\"}, then each\n"
	"record's exact leaf bytes, one per line (varvault-admin audit verify and any\n"
	"RFC 9162 tool can check them again).  csv: '#'-prefixed checkpoint lines, a\n"
	"header row, one row per record.\n";

static int cmd_export(int argc, char **argv)
{
	struct client c = {.cmd = "varvault audit export"};
	struct vv_client_opts o;
	vv_net_response r;
	bool have = false;
	char *data = NULL, *note = NULL, *key = NULL;
	size_t len = 0, cap = 0, n;
	uint8_t root[32], got[32], (*leaves)[32] = NULL;
	uint64_t size = 0, count = 0;
	FILE *f = NULL;
	int rc;

	if ((rc = audit_args(argc, argv, c.cmd, export_usage, &o, 0)) != 0)
		return rc == VV_CLIENT_HELP_SHOWN ? VV_EXIT_OK : rc;
	if (!o.format || (strcmp(o.format, "csv") && strcmp(o.format, "jsonl")))
		return vv_cli_usage_error(c.cmd, "--format csv or jsonl");
	if ((rc = vv_client_open(&c, o.config)) != 0 || (rc = vv_client_request(&c, VV_VERB_AUDIT_EXPORT, NULL, &r)) != 0)
		goto out;
	have = true;
	note = strdup(js(r.json, "checkpoint"));
	key = strdup(js(r.json, "key"));
	if (!note || !key || (rc = check_note(&c, note, key, &size, root)) != 0) {
		rc = rc ? rc : VV_EXIT_FAIL;
		goto out;
	}
	for (;;) {
		if (cap - len < VV_NET_FRAME_MAX) {
			char *q = realloc(data, cap + VV_NET_FRAME_MAX * 4);
			if (!q) {
				rc = vv_client_fail(&c, VV_EXIT_FAIL, "out of memory");
				goto out;
			}
			data = q;
			cap += VV_NET_FRAME_MAX * 4;
		}
		if ((rc = vv_net_frame_read(c.conn, data + len, cap - len, &n, IO_MS)) != 0) {
			rc = vv_client_fail(&c, VV_EXIT_FAIL, "export stream cut off: %s (nothing written)",
					    vv_strerror(rc));
			goto out;
		}
		if (n == 0)
			break;
		len += n;
	}
	/* Every leaf, hashed here: the tree they make must be the signed one. */
	if (size > (uint64_t)SIZE_MAX / 32 || !(leaves = malloc(32 * (size ? size : 1)))) {
		rc = vv_client_fail(&c, VV_EXIT_FAIL, "out of memory");
		goto out;
	}
	for (size_t off = 0; off < len;) {
		char *nl = memchr(data + off, '\n', len - off);
		if (!nl || count >= size) {
			rc = vv_client_fail(&c, EXIT_WITNESS, "the export holds more or other records than its checkpoint");
			goto out;
		}
		vv_audit_merkle_leaf_hash(data + off, (size_t)(nl - (data + off)), leaves[count++]);
		off = (size_t)(nl - data) + 1;
	}
	vv_audit_merkle_root((const uint8_t(*)[32])leaves, count, got);
	if (count != size || memcmp(got, root, 32) != 0) {
		rc = vv_client_fail(&c, EXIT_WITNESS,
				    "AUDIT EXPORT DOES NOT MATCH ITS CHECKPOINT: %llu records hash to another root than "
				    "the signed one of %llu records",
				    (unsigned long long)count, (unsigned long long)size);
		goto out;
	}
	f = o.output && strcmp(o.output, "-") ? fopen(o.output, "w") : stdout;
	if (!f) {
		rc = vv_cli_fail(VV_ERR_IO, "%s", o.output);
		goto out;
	}
	if (!strcmp(o.format, "jsonl")) {
		json_object *h = json_object_new_object();
		json_object_object_add(h, "checkpoint", json_object_new_string(note));
		json_object_object_add(h, "key", json_object_new_string(key));
		json_object_object_add(h, "size", json_object_new_int64((int64_t)size));
		fprintf(f, "%s\n", json_object_to_json_string_ext(h, JSON_C_TO_STRING_PLAIN));
		json_object_put(h);
		fwrite(data, 1, len, f);
	} else {
		static const char *const cols[] = {"seq", "time", "event", "action", "actor.subject",
						   "actor.fingerprint", "actor.role", "peer.uid", "peer.pid",
						   "object.job", "object.sample", "object.ciphertext_sha256",
						   "object.model_sha256", "object.policy_sha256", "outcome", "reason",
						   "request_id"};
		const size_t nc = sizeof cols / sizeof cols[0];
		for (char *l = note; *l;) {
			char *e = strchr(l, '\n');
			size_t k = e ? (size_t)(e - l) : strlen(l);
			fprintf(f, "# %.*s\n", (int)k, l);
			l += k + (e != NULL);
		}
		for (size_t i = 0; i < nc; i++)
			csv_field(f, cols[i], i + 1 == nc);
		for (size_t off = 0; off < len;) {
			char *nl = memchr(data + off, '\n', len - off);
			json_object *e = NULL;
			if (vv_audit_record_to_json(data + off, (size_t)(nl - (data + off)), &e) == 0) {
				for (size_t i = 0; i < nc; i++)
					csv_field(f, js(e, cols[i]), i + 1 == nc);
				json_object_put(e);
			}
			off = (size_t)(nl - data) + 1;
		}
	}
	if (f != stdout ? fclose(f) != 0 : fflush(f) != 0) {
		f = NULL;
		rc = vv_cli_fail(VV_ERR_IO, "%s", o.output ? o.output : "stdout");
		goto out;
	}
	f = NULL;
	if (o.output && strcmp(o.output, "-"))
		fprintf(stderr, "%llu records exported to %s, checked against the signed checkpoint\n",
			(unsigned long long)size, o.output);
	rc = VV_EXIT_OK;
out:
	if (f && f != stdout)
		fclose(f);
	if (have)
		vv_net_response_done(&r);
	free(leaves);
	free(data);
	free(note);
	free(key);
	vv_client_done(&c);
	return rc;
}

/* The report renderer (audit_report.c, the audit library's helper): built
 * into varvault when its source is there. */
#if __has_include("audit_report.h")
#include "audit_report.h"
#define HAVE_REPORT 1
#endif

static const char report_usage[] =
	"usage: varvault audit report --since T [--until T] [--format text|html] [-o FILE]\n"
	"\n"
	"The compliance report of the records from T (until T, exclusive): counts per\n"
	"actor, action and outcome, activity over time, every denied and failed event,\n"
	"and the signed checkpoint the log was checked against on this connection.\n"
	"html is one self-contained file (no network, no scripts).\n";

static int cmd_report(int argc, char **argv)
{
	struct client c = {.cmd = "varvault audit report"};
	struct vv_client_opts o;
	json_object *recs = NULL;
	FILE *f = NULL;
	int rc;

	if ((rc = audit_args(argc, argv, c.cmd, report_usage, &o, 0)) != 0)
		return rc == VV_CLIENT_HELP_SHOWN ? VV_EXIT_OK : rc;
	if (!o.since)
		return vv_cli_usage_error(c.cmd, "--since is required");
	if (o.format && strcmp(o.format, "text") && strcmp(o.format, "html"))
		return vv_cli_usage_error(c.cmd, "--format text or html");
	if ((rc = vv_client_open(&c, o.config)) != 0 || (rc = fetch_records(&c, &o, &recs)) != 0)
		goto out;
	f = o.output && strcmp(o.output, "-") ? fopen(o.output, "w") : stdout;
	if (!f) {
		rc = vv_cli_fail(VV_ERR_IO, "%s", o.output);
		goto out;
	}
#ifdef HAVE_REPORT
	/* The checkpoint passed the witness check when this connection opened. */
	rc = vv_cli_audit_report(f, o.format && !strcmp(o.format, "html") ? VV_REPORT_HTML : VV_REPORT_TEXT,
				 recs, c.audit_note, c.audit_note != NULL, o.since, o.until);
	if (rc != 0) {
		rc = vv_cli_fail(rc, "report");
		goto out;
	}
#else
	rc = vv_client_fail(&c, VV_EXIT_FAIL, "this varvault was built without the report renderer (audit_report.c)");
	goto out;
#endif
	if (f != stdout ? fclose(f) != 0 : fflush(f) != 0) {
		f = NULL;
		rc = vv_cli_fail(VV_ERR_IO, "%s", o.output ? o.output : "stdout");
		goto out;
	}
	f = NULL;
	rc = VV_EXIT_OK;
out:
	if (f && f != stdout)
		fclose(f);
	json_object_put(recs);
	vv_client_done(&c);
	return rc;
}

static const char audit_usage[] =
	"usage: varvault audit query|export|prove|report [options]\n"
	"\n"
	"The auditor's view of the appliance's tamper-evident audit log:\n"
	"  query    list records (filters --since --until --actor --sample --action --outcome)\n"
	"  export   every record with the signed checkpoint that covers them (csv, jsonl)\n"
	"  prove    one record with its inclusion proof, checked here\n"
	"  report   the compliance report (text, html)\n"
	"Run `varvault audit VERB --help` for each.\n";

int vv_cmd_client_audit(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} verbs[] = {{"query", cmd_query}, {"export", cmd_export}, {"prove", cmd_prove}, {"report", cmd_report}};

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(audit_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? VV_EXIT_USAGE : VV_EXIT_OK;
	}
	/* Options may come before the verb (`varvault audit --config F query`):
	 * the verb is the first word that names one; it moves to the front. */
	for (int k = 1; k < argc; k++)
		for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
			if (!strcmp(argv[k], verbs[i].name)) {
				char *verb = argv[k];
				memmove(argv + 2, argv + 1, (size_t)(k - 1) * sizeof *argv);
				argv[1] = verb;
				return verbs[i].fn(argc - 1, argv + 1);
			}
	return vv_cli_usage_error("varvault audit", "unknown verb '%s'", argv[1]);
}
