/* varvault-admin audit keygen | verify: the audit log's keys, and the
 * offline verifier a compliance officer runs on a copy of the database. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <json-c/json.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "varvault/audit.h"

/* Exit status of verify when the log fails a check (distinct from 1, "could
 * not check", so scripts can tell tampering from a missing file). */
#define VV_EXIT_TAMPERED 3

static const char audit_usage[] =
	"usage: varvault-admin audit keygen --out DIR [--name NAME]\n"
	"       varvault-admin audit verify --db COPY.db --pubkey audit.pub [--k0 FILE]\n"
	"                                   [--checkpoint FILE ...] [--json]\n"
	"\n"
	"keygen writes three new files (mode 0600) into DIR:\n"
	"  audit.key  the appliance's Ed25519 checkpoint signing key (signed-note\n"
	"             private key); install it where varvaultd.conf's audit section says\n"
	"  audit.pub  its verifier key (NAME+hash+key); give it to every auditor\n"
	"  audit.k0   the first forward-secure MAC key: varvaultd reads it once, when the\n"
	"             log is created; then move it OFF the appliance and keep it offline\n"
	"             with the auditors: it is what lets verify check every record's MAC\n"
	"NAME (default: varvault-audit) is the key name printed in signatures.\n"
	"\n"
	"verify checks a copy of the daemon's database: recomputes the RFC 9162 Merkle\n"
	"tree over every record, checks each stored checkpoint's signature and root, the\n"
	"consistency of the log with every --checkpoint file (a checkpoint kept outside\n"
	"the appliance: a larger one means records were removed, another root at the\n"
	"same size means a forked log), and with --k0 the MAC chain; it names the first\n"
	"bad record and what is wrong with it.\n"
	"\n"
	"Exit status: 0 the log verifies, 3 the log fails a check (tampered, truncated,\n"
	"forked or signed by another key), 1 the check could not run (unreadable file,\n"
	"malformed key), 2 usage error.\n";

/* Reads a small text file (a key or a checkpoint) into a malloc'd string. */
static int read_text(const char *path, size_t max, char **out)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t n;
	int rc = 0;

	*out = NULL;
	if (!f)
		return vv_errf(VV_ERR_IO, "%s: %s", path, strerror(errno));
	if (!(buf = malloc(max + 1))) {
		fclose(f);
		return VV_ERR_NOMEM;
	}
	n = fread(buf, 1, max + 1, f);
	if (ferror(f))
		rc = vv_errf(VV_ERR_IO, "%s: %s", path, strerror(errno));
	else if (n > max)
		rc = vv_errf(VV_ERR_RANGE, "%s: larger than %zu bytes", path, max);
	else if (memchr(buf, '\0', n))
		rc = vv_errf(VV_ERR_FORMAT, "%s: contains a NUL byte", path);
	fclose(f);
	if (rc) {
		free(buf);
		return rc;
	}
	buf[n] = '\0';
	*out = buf;
	return 0;
}

/* The three files in dir, all 0600: the operator hands audit.pub out. */
static int keygen(const char *dir, const char *name)
{
	char sk[PATH_MAX], vk[PATH_MAX], k0[PATH_MAX], *vkey = NULL;
	int rc;

	if (snprintf(sk, sizeof sk, "%s/audit.key", dir) >= (int)sizeof sk ||
	    snprintf(vk, sizeof vk, "%s/audit.pub", dir) >= (int)sizeof vk ||
	    snprintf(k0, sizeof k0, "%s/audit.k0", dir) >= (int)sizeof k0)
		return vv_errf(VV_ERR_INVAL, "%s: path too long", dir);
	if ((rc = vv_cli_audit_keys_make(name, sk, vk, k0, 0600, &vkey)) != 0)
		return rc;
	printf("wrote %s/audit.key, %s/audit.pub and %s/audit.k0\nverifier key: %s\n"
	       "keep audit.k0 offline once varvaultd has created the log\n",
	       dir, dir, dir, vkey);
	free(vkey);
	return 0;
}

static void print_json(const vv_audit_verify_result *res, const char *db)
{
	json_object *o = json_object_new_object();
	char hex[65];

	sodium_bin2hex(hex, sizeof hex, res->root, sizeof res->root);
	json_object_object_add(o, "db", json_object_new_string(db));
	json_object_object_add(o, "ok", json_object_new_boolean(res->problem == VV_AUDIT_V_OK));
	json_object_object_add(o, "problem", json_object_new_string(vv_audit_problem_name(res->problem)));
	json_object_object_add(o, "bad_seq", res->bad_seq >= 0 ? json_object_new_int64(res->bad_seq) : NULL);
	json_object_object_add(o, "message", json_object_new_string(res->message));
	json_object_object_add(o, "records", json_object_new_int64((int64_t)res->records));
	json_object_object_add(o, "stored_checkpoints", json_object_new_int64((int64_t)res->checkpoints_checked));
	json_object_object_add(o, "external_checkpoints", json_object_new_int64((int64_t)res->external_checked));
	json_object_object_add(o, "macs_checked", json_object_new_boolean(res->macs_checked));
	json_object_object_add(o, "root", res->problem == VV_AUDIT_V_OK ? json_object_new_string(hex) : NULL);
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

static int verify(const char *db, const char *pub, const char *k0path, char **cpfiles, size_t ncp, bool json)
{
	vv_audit_verify_opts o = {0};
	vv_audit_verify_result res;
	char *vkey = NULL, **notes = NULL;
	uint8_t *k0 = NULL;
	char hex[65];
	int rc;

	if ((rc = read_text(pub, 4096, &vkey)))
		goto out;
	if (k0path) {
		if (!(k0 = sodium_malloc(32))) {
			rc = VV_ERR_NOMEM;
			goto out;
		}
		if ((rc = vv_audit_read_k0(k0path, k0)))
			goto out;
	}
	if (ncp && !(notes = calloc(ncp, sizeof *notes))) {
		rc = VV_ERR_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < ncp; i++)
		if ((rc = read_text(cpfiles[i], VV_AUDIT_NOTE_MAX * 4, &notes[i])))
			goto out;
	o.vkey = vkey;
	o.k0 = k0;
	o.checkpoints = (const char *const *)notes;
	o.checkpoint_names = (const char *const *)cpfiles;
	o.n_checkpoints = ncp;
	if ((rc = vv_audit_verify_file(db, &o, &res)))
		goto out;
	if (json) {
		print_json(&res, db);
	} else if (res.problem == VV_AUDIT_V_OK) {
		sodium_bin2hex(hex, sizeof hex, res.root, sizeof res.root);
		printf("audit log verifies: %llu records, %llu stored checkpoints, %llu outside checkpoints, %s\n"
		       "root %s\n",
		       (unsigned long long)res.records, (unsigned long long)res.checkpoints_checked,
		       (unsigned long long)res.external_checked,
		       res.macs_checked ? "every MAC checked from k0" : "MACs NOT checked (no --k0)", hex);
	} else {
		if (res.bad_seq >= 0)
			fprintf(stderr, "AUDIT LOG FAILS VERIFICATION (%s) at record %lld: %s\n",
				vv_audit_problem_name(res.problem), (long long)res.bad_seq, res.message);
		else
			fprintf(stderr, "AUDIT LOG FAILS VERIFICATION (%s): %s\n", vv_audit_problem_name(res.problem),
				res.message);
	}
out:
	free(vkey);
	for (size_t i = 0; notes && i < ncp; i++)
		free(notes[i]);
	free(notes);
	sodium_free(k0);
	if (rc)
		return vv_cli_fail(rc, "audit verify");
	return res.problem == VV_AUDIT_V_OK ? VV_EXIT_OK : VV_EXIT_TAMPERED;
}

int vv_cmd_admin_audit(int argc, char **argv)
{
	static const struct option longs[] = {
		{"out", required_argument, NULL, 'o'},
		{"name", required_argument, NULL, 'n'},
		{"db", required_argument, NULL, 'd'},
		{"pubkey", required_argument, NULL, 'p'},
		{"k0", required_argument, NULL, 'k'},
		{"checkpoint", required_argument, NULL, 'c'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *cmd = "varvault-admin audit", *sub, *out = NULL, *name = "varvault-audit";
	const char *db = NULL, *pub = NULL, *k0 = NULL;
	char **cps = NULL;
	size_t ncp = 0;
	bool json = false;
	int c, rc;

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(audit_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? VV_EXIT_USAGE : VV_EXIT_OK;
	}
	sub = argv[1];
	if (!(cps = calloc((size_t)argc, sizeof *cps)))
		return vv_cli_fail(VV_ERR_NOMEM, "audit");
	optind = 2;
	while ((c = getopt_long(argc, argv, "o:h", longs, NULL)) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case 'n': name = optarg; break;
		case 'd': db = optarg; break;
		case 'p': pub = optarg; break;
		case 'k': k0 = optarg; break;
		case 'c': cps[ncp++] = optarg; break;
		case 'j': json = true; break;
		case 'h': fputs(audit_usage, stdout); free(cps); return VV_EXIT_OK;
		default: free(cps); return vv_cli_usage_error(cmd, "unknown option");
		}
	}
	if (optind != argc) {
		rc = vv_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	} else if (!strcmp(sub, "keygen")) {
		if (!out)
			rc = vv_cli_usage_error(cmd, "keygen needs --out DIR");
		else if (vv_core_init() != 0)
			rc = vv_cli_fail(VV_ERR_INTERNAL, "start-up");
		else
			rc = (rc = keygen(out, name)) ? vv_cli_fail(rc, "audit keygen") : VV_EXIT_OK;
	} else if (!strcmp(sub, "verify")) {
		if (!db || !pub)
			rc = vv_cli_usage_error(cmd, "verify needs --db FILE and --pubkey FILE");
		else if (vv_core_init() != 0)
			rc = vv_cli_fail(VV_ERR_INTERNAL, "start-up");
		else
			rc = verify(db, pub, k0, cps, ncp, json);
	} else {
		rc = vv_cli_usage_error(cmd, "unknown subcommand '%s' (keygen or verify)", sub);
	}
	free(cps);
	return rc;
}
