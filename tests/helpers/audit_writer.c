/* Writes an audit log with the real library, for the tamper matrix and the
 * report tests: audit_writer DB SIGNING_KEY K0 N [EVERY] [ORIGIN].  Each
 * record goes in its own transaction together with a row of a table that
 * stands for the action (so the test also shows the shared transaction).
 * Prints the latest checkpoint note on stdout. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "varvault/audit.h"

static const char *const actions[] = {"submit", "status", "result", "delete", "list", "audit.query"};
static const char *const roles[] = {"submitter", "submitter", "auditor", "admin"};

int main(int argc, char **argv)
{
	vv_audit_opts o = {0};
	vv_audit *a = NULL;
	sqlite3 *db = NULL;
	char *note = NULL;
	uint64_t size;
	long n;
	int rc = 1;

	if (argc < 5) {
		fprintf(stderr, "usage: audit_writer DB SIGNING_KEY K0 N [EVERY] [ORIGIN]\n");
		return 2;
	}
	n = strtol(argv[4], NULL, 10);
	o.origin = argc > 6 ? argv[6] : "test.varvault.invalid/audit";
	o.signing_key_path = argv[2];
	o.k0_path = argv[3];
	o.checkpoint_every = argc > 5 ? (uint32_t)strtoul(argv[5], NULL, 10) : 4;
	o.checkpoint_seconds = 3600;
	if (sqlite3_open(argv[1], &db) != SQLITE_OK ||
	    sqlite3_exec(db, "PRAGMA journal_mode=WAL; CREATE TABLE IF NOT EXISTS actions (n INTEGER)", NULL, NULL,
			 NULL) != SQLITE_OK) {
		fprintf(stderr, "audit_writer: %s: %s\n", argv[1], sqlite3_errmsg(db));
		goto out;
	}
	if (vv_audit_open(db, &o, &a) != 0) {
		fprintf(stderr, "audit_writer: open: %s\n", vv_err_detail());
		goto out;
	}
	for (long i = 0; i < n; i++) {
		vv_audit_record r;
		char job[33], req[24], sub[64], fp[65];

		vv_audit_record_init(&r);
		snprintf(job, sizeof job, "%032lx", (unsigned long)(i * 2654435761u));
		snprintf(req, sizeof req, "req-%ld", i);
		snprintf(sub, sizeof sub, "CN=client%ld,O=Lab", i % 3);
		snprintf(fp, sizeof fp, "%064lx", (unsigned long)(i % 3) + 1);
		r.event = i % 7 == 6 ? VV_AUDIT_EV_JOB : VV_AUDIT_EV_REQUEST;
		r.action = actions[i % 6];
		r.actor_subject = sub;
		r.actor_fingerprint = fp;
		r.actor_role = roles[i % 4];
		r.peer_uid = 1000 + i % 3;
		r.peer_pid = 4000 + i;
		r.job = job;
		r.sample = i % 2 ? "PSEUDO-17" : "PSEUDO-42";
		r.request_id = req;
		r.outcome = i % 5 == 4 ? VV_AUDIT_DENIED : i % 11 == 10 ? VV_AUDIT_FAILED : VV_AUDIT_OK;
		r.reason = r.outcome == VV_AUDIT_DENIED ? "role may not call this verb"
			   : r.outcome == VV_AUDIT_FAILED ? "interpreter worker failed" : NULL;
		if (sqlite3_exec(db, "BEGIN IMMEDIATE; INSERT INTO actions VALUES (1)", NULL, NULL, NULL) != SQLITE_OK ||
		    vv_audit_append(a, db, &r, NULL, NULL) != 0 ||
		    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
			fprintf(stderr, "audit_writer: append %ld: %s %s\n", i, vv_err_detail(), sqlite3_errmsg(db));
			goto out;
		}
	}
	if (vv_audit_checkpoint(a, db, NULL) != 0 || vv_audit_latest_checkpoint(db, &note, &size) != 0) {
		fprintf(stderr, "audit_writer: checkpoint: %s\n", vv_err_detail());
		goto out;
	}
	fputs(note, stdout);
	rc = 0;
out:
	free(note);
	vv_audit_free(a);
	sqlite3_close(db);
	return rc;
}
