/* Unit tests of the store's per-thread transaction hook (how the daemon
 * writes an audit record in the transaction of the action it records): a
 * failing hook fails and rolls back the action; a hook that succeeds
 * commits with it and learns a submission's job; an armed hook never fires
 * on another thread; vv_store_tx_run rolls back what its function wrote
 * when it fails. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "varvault/core.h"
#include "varvault/store.h"

static char dir[64];
static uint8_t master[VV_KEY_LEN];

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/vv-hook-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	vv_key_random(master);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* What the hooks saw and did. */
struct seen {
	int calls;
	int fail;           /* the hook's return */
	char op[64];
	char job[VV_STORE_ID_LEN + 1];
	bool ct;
};

/* Writes a row of its own inside the caller's transaction, like an audit
 * append, then returns s->fail. */
static int hook(void *ctx, struct sqlite3 *db, const struct vv_store_tx_info *info)
{
	struct seen *s = ctx;

	s->calls++;
	snprintf(s->op, sizeof s->op, "%s", info->op ? info->op : "");
	if (info->job_id)
		snprintf(s->job, sizeof s->job, "%s", info->job_id);
	s->ct = info->ct_sha256 != NULL;
	if (sqlite3_exec(db, "CREATE TABLE IF NOT EXISTS t_log (n INTEGER); INSERT INTO t_log VALUES (1)", NULL,
			 NULL, NULL) != SQLITE_OK)
		return VV_ERR_DB;
	return s->fail;
}

static int count_fn(void *ctx, struct sqlite3 *db, const struct vv_store_tx_info *info)
{
	sqlite3_stmt *st = NULL;
	int *n = ctx;

	(void)info;
	*n = 0;
	if (sqlite3_prepare_v2(db, "SELECT count(*) FROM t_log", -1, &st, NULL) != SQLITE_OK)
		return 0; /* no table: nothing was written */
	if (sqlite3_step(st) == SQLITE_ROW)
		*n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return 0;
}

static int logged(vv_store *s)
{
	int n = -1;

	assert_int_equal(vv_store_db_run(s, count_fn, &n), 0);
	return n;
}

static void test_failing_hook_fails_the_action(void **state)
{
	vv_store *s = NULL;
	uint8_t key[VV_KEY_LEN];
	struct seen seen = {.fail = VV_ERR_IO};

	(void)state;
	assert_int_equal(vv_store_open(dir, &s), 0);
	vv_store_hook_arm(s, hook, &seen);
	assert_int_equal(vv_store_sample_key(s, master, "S1", true, key), VV_ERR_IO);
	assert_false(vv_store_hook_disarm(s));
	assert_int_equal(seen.calls, 1);
	/* The action is gone with the record. */
	assert_int_equal(vv_store_sample_exists(s, "S1"), 0);
	assert_int_equal(logged(s), 0);
	/* Disarmed: the next action commits, and the hook does not run. */
	assert_int_equal(vv_store_sample_key(s, master, "S1", true, key), 0);
	assert_int_equal(seen.calls, 1);
	assert_int_equal(vv_store_sample_exists(s, "S1"), 1);
	vv_store_close(s);
}

static void test_hook_commits_with_the_submission(void **state)
{
	vv_store *s = NULL;
	vv_store_upload *u = NULL;
	uint8_t key[VV_KEY_LEN];
	char id[VV_STORE_ID_LEN + 1];
	struct seen seen = {0};
	vv_store_submit sub = {"S1", "cn:alice", "vcf", NULL};

	(void)state;
	assert_int_equal(vv_store_open(dir, &s), 0);
	assert_int_equal(vv_store_sample_key(s, master, "S1", true, key), 0);
	assert_int_equal(vv_store_upload_begin(s, 0, &u), 0);
	assert_int_equal(vv_store_upload_write(u, "crypt4gh", 8), 0);
	vv_store_hook_arm(s, hook, &seen);
	assert_int_equal(vv_store_upload_commit(u, &sub, id), 0);
	assert_true(vv_store_hook_disarm(s));
	assert_int_equal(seen.calls, 1);
	assert_string_equal(seen.op, "submit");
	assert_string_equal(seen.job, id);
	assert_true(seen.ct);
	assert_int_equal(logged(s), 1);
	vv_store_close(s);
}

struct other {
	vv_store *s;
	int rc;
};

static void *other_thread(void *p)
{
	struct other *o = p;
	uint8_t key[VV_KEY_LEN];

	o->rc = vv_store_sample_key(o->s, master, "S2", true, key);
	return NULL;
}

static void test_hook_is_per_thread(void **state)
{
	vv_store *s = NULL;
	struct seen seen = {.fail = VV_ERR_IO};
	struct other o;
	pthread_t t;

	(void)state;
	assert_int_equal(vv_store_open(dir, &s), 0);
	o.s = s;
	vv_store_hook_arm(s, hook, &seen);
	assert_int_equal(pthread_create(&t, NULL, other_thread, &o), 0);
	pthread_join(t, NULL);
	/* Another thread's commit neither ran nor consumed this thread's hook. */
	assert_int_equal(o.rc, 0);
	assert_int_equal(seen.calls, 0);
	assert_false(vv_store_hook_disarm(s));
	assert_int_equal(vv_store_sample_exists(s, "S2"), 1);
	vv_store_close(s);
}

static void test_tx_run_rolls_back(void **state)
{
	vv_store *s = NULL;
	struct seen seen = {.fail = VV_ERR_NOSPACE};

	(void)state;
	assert_int_equal(vv_store_open(dir, &s), 0);
	assert_int_equal(vv_store_tx_run(s, hook, &seen), VV_ERR_NOSPACE);
	assert_int_equal(logged(s), 0);
	seen.fail = 0;
	assert_int_equal(vv_store_tx_run(s, hook, &seen), 0);
	assert_int_equal(logged(s), 1);
	vv_store_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_failing_hook_fails_the_action, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hook_commits_with_the_submission, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hook_is_per_thread, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_run_rolls_back, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
