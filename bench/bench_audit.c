/* The audit log's speed: appends per second, each in its own transaction as
 * the daemon makes them (WAL, synchronous=FULL, like the store), against
 * plain INSERTs of the same bytes in the same run; and the offline verify
 * of an N-record log (default 1,000,000; goal under 10 s) against a bare
 * read of the same table.
 * usage: bench_audit [records_to_verify] [appends] */
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "varvault/audit.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* This thread's CPU time: on a shared machine wall time also counts
 * whatever else ran meanwhile; the verifier is single-threaded. */
static double cpu(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, sqlite3 *db)
{
	fprintf(stderr, "bench_audit: %s: %s %s\n", what, vv_err_detail(), db ? sqlite3_errmsg(db) : "");
	exit(1);
}

static void record(vv_audit_record *r, long i, char *job)
{
	vv_audit_record_init(r);
	snprintf(job, 33, "%032lx", (unsigned long)i * 2654435761u);
	r->event = VV_AUDIT_EV_REQUEST;
	r->action = i % 3 ? "status" : "submit";
	r->actor_subject = "CN=client-17,O=Example Lab";
	r->actor_fingerprint = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
	r->actor_role = "submitter";
	r->peer_uid = 1000;
	r->peer_pid = 4242;
	r->job = job;
	r->sample = "PSEUDO-000042";
	r->ciphertext_sha256 = "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae";
	r->request_id = "0123456789abcdef";
}

static sqlite3 *open_db(const char *path)
{
	sqlite3 *db;

	if (sqlite3_open(path, &db) != SQLITE_OK ||
	    sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL", NULL, NULL, NULL) != SQLITE_OK)
		die("open", db);
	return db;
}

int main(int argc, char **argv)
{
	long nverify = argc > 1 ? atol(argv[1]) : 1000000, nappend = argc > 2 ? atol(argv[2]) : 2000;
	char dir[] = "/tmp/vv-bench-audit-XXXXXX", p[256], kp[256], k0p[256], job[33];
	char *sk, *vk, *leaf;
	size_t len;
	FILE *f;
	sqlite3 *db;
	vv_audit *a;
	vv_audit_opts o = {0};
	vv_audit_record r;
	vv_audit_verify_opts vo = {0};
	vv_audit_verify_result res;
	uint8_t k0[32];
	double t0, c0, t_audit, t_plain, t_build, t_verify, c_verify, t_read, c_read;

	if (vv_core_init() || !mkdtemp(dir) || vv_audit_note_keygen("bench.varvault.invalid/audit", &sk, &vk))
		die("setup", NULL);
	snprintf(kp, sizeof kp, "%s/audit.key", dir);
	snprintf(k0p, sizeof k0p, "%s/k0", dir);
	if (!(f = fopen(kp, "w")))
		die("key file", NULL);
	fputs(sk, f);
	fclose(f);
	randombytes_buf(k0, 32);
	if (!(f = fopen(k0p, "w")))
		die("k0 file", NULL);
	for (int i = 0; i < 32; i++)
		fprintf(f, "%02x", k0[i]);
	fclose(f);
	if (chmod(kp, 0600) || chmod(k0p, 0600))
		die("chmod", NULL);
	o.origin = "bench.varvault.invalid/audit";
	o.signing_key_path = kp;
	o.k0_path = k0p;
	o.checkpoint_every = 1000;
	o.checkpoint_seconds = 3600;

	/* 1. appends, one transaction each (the daemon's case) */
	snprintf(p, sizeof p, "%s/append.db", dir);
	db = open_db(p);
	if (vv_audit_open(db, &o, &a))
		die("audit open", db);
	if (sqlite3_exec(db, "CREATE TABLE plain (leaf TEXT)", NULL, NULL, NULL) != SQLITE_OK)
		die("plain table", db);
	t0 = now();
	for (long i = 0; i < nappend; i++) {
		record(&r, i, job);
		if (vv_audit_append_tx(a, db, &r, NULL, NULL))
			die("append", db);
	}
	t_audit = now() - t0;
	record(&r, 0, job);
	if (vv_audit_record_canon(&r, 0, &leaf, &len))
		die("canon", NULL);
	t0 = now();
	for (long i = 0; i < nappend; i++) {
		sqlite3_stmt *st;

		if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK ||
		    sqlite3_prepare_v2(db, "INSERT INTO plain VALUES (?1)", -1, &st, NULL) != SQLITE_OK)
			die("plain", db);
		sqlite3_bind_text(st, 1, leaf, (int)len, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE)
			die("plain insert", db);
		sqlite3_finalize(st);
		if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
			die("plain commit", db);
	}
	t_plain = now() - t0;
	free(leaf);
	vv_audit_free(a);
	sqlite3_close(db);
	printf("audit append, one transaction each (WAL, synchronous=FULL): %.0f/s; plain INSERT of the same bytes: "
	       "%.0f/s (audit costs %.2fx)\n",
	       nappend / t_audit, nappend / t_plain, t_audit / t_plain);

	/* 2. a large log, built in batches, then verified */
	snprintf(p, sizeof p, "%s/big.db", dir);
	db = open_db(p);
	if (sqlite3_exec(db, "PRAGMA synchronous=OFF", NULL, NULL, NULL) != SQLITE_OK || vv_audit_open(db, &o, &a))
		die("big open", db);
	t0 = now();
	for (long i = 0; i < nverify;) {
		if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
			die("begin", db);
		for (long j = 0; j < 10000 && i < nverify; j++, i++) {
			record(&r, i, job);
			if (vv_audit_append(a, db, &r, NULL, NULL))
				die("append", db);
		}
		if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
			die("commit", db);
	}
	t_build = now() - t0;
	if (vv_audit_checkpoint(a, db, NULL))
		die("checkpoint", db);
	vv_audit_free(a);
	if (sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL) != SQLITE_OK)
		die("wal", db);
	sqlite3_close(db);
	printf("built %ld records in batches of 10000: %.1f s (%.0f appends/s inside large transactions)\n", nverify,
	       t_build, nverify / t_build);

	vo.vkey = vk;
	vo.k0 = k0;
	t0 = now();
	c0 = cpu();
	if (vv_audit_verify_file(p, &vo, &res))
		die("verify", NULL);
	c_verify = cpu() - c0;
	t_verify = now() - t0;
	if (res.problem != VV_AUDIT_V_OK || res.records != (uint64_t)nverify) {
		fprintf(stderr, "bench_audit: the log does not verify: %s\n", res.message);
		return 1;
	}
	/* the floor: reading the same rows and nothing else */
	if (sqlite3_open_v2(p, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		die("reopen", db);
	t0 = now();
	c0 = cpu();
	{
		sqlite3_stmt *st;
		size_t bytes = 0;

		if (sqlite3_prepare_v2(db, "SELECT seq, time_us, leaf, mac FROM audit_records ORDER BY seq", -1, &st,
				       NULL) != SQLITE_OK)
			die("read", db);
		while (sqlite3_step(st) == SQLITE_ROW)
			bytes += (size_t)sqlite3_column_bytes(st, 2);
		sqlite3_finalize(st);
		if (!bytes)
			die("read nothing", db);
	}
	t_read = now() - t0;
	c_read = cpu() - c0;
	sqlite3_close(db);
	printf("verify of %ld records (tree, MAC chain from k0, %llu checkpoints): %.2f s CPU, %.2f s wall "
	       "(goal < 10 s: %s); bare read of the rows: %.2f s CPU, %.2f s wall\n",
	       nverify, (unsigned long long)res.checkpoints_checked, c_verify, t_verify,
	       c_verify < 10 ? "met" : "MISSED", c_read, t_read);
	/* proofs the daemon serves: every client asks for a consistency proof
	 * on each connection */
	if (sqlite3_open_v2(p, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		die("reopen", db);
	{
		uint8_t *proof;
		size_t plen;
		double ti, tc;

		t0 = now();
		for (int k = 0; k < 100; k++) {
			if (vv_audit_inclusion_proof(db, (uint64_t)(nverify / 100 * k + 7) % (uint64_t)nverify,
						     (uint64_t)nverify, &proof, &plen))
				die("inclusion proof", db);
			free(proof);
		}
		ti = (now() - t0) / 100;
		t0 = now();
		for (int k = 1; k <= 100; k++) {
			if (vv_audit_consistency_proof(db, (uint64_t)(nverify / 101 * k + 3), (uint64_t)nverify, &proof,
						       &plen))
				die("consistency proof", db);
			free(proof);
		}
		tc = (now() - t0) / 100;
		printf("proofs over %ld records: inclusion %.2f ms, consistency %.2f ms (wall, mean of 100)\n", nverify,
		       ti * 1e3, tc * 1e3);
	}
	sqlite3_close(db);
	free(sk);
	free(vk);
	snprintf(p, sizeof p, "rm -rf '%s'", dir);
	if (system(p) != 0)
		return 1;
	return c_verify < 10 ? 0 : 1;
}
