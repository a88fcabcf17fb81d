/* Declarations shared inside src/store: the handle and the SQLite helpers. */
#ifndef VV_STORE_INT_H
#define VV_STORE_INT_H

#include <pthread.h>
#include <sqlite3.h>

#include "varvault/store.h"

struct vv_store {
	pthread_mutex_t mu;  /* guards db: one connection, any thread */
	sqlite3 *db;
	int dirfd;           /* the state directory */
	int spoolfd;         /* state_dir/spool */
	int lockfd;          /* state_dir/store.lock, flock'd exclusively */
	char *dir;           /* state directory path (for spool paths) */
	bool tmpfile;        /* O_TMPFILE + linkat through /proc/self/fd usable */
	vv_store_commit_hook hook;  /* the audit log's, or NULL */
	void *hook_ctx;
	bool in_with_db;     /* inside vv_store_with_db: no hook */
};

/* Translates a SQLite result code into a vv_err, with op (the operation,
 * never data) and SQLite's message in the detail. */
int vv_store_sql_err(sqlite3 *db, int rc, const char *op);
/* Runs SQL without results. */
int vv_store_exec(vv_store *s, const char *sql, const char *op) VV_MUST_CHECK;
/* Prepares one statement. */
int vv_store_prep(vv_store *s, const char *sql, sqlite3_stmt **st, const char *op) VV_MUST_CHECK;
/* BEGIN IMMEDIATE (the write lock up front, so no upgrade deadlock), COMMIT,
 * and a ROLLBACK that is harmless outside a transaction. */
int vv_store_begin(vv_store *s, const char *op) VV_MUST_CHECK;
int vv_store_commit(vv_store *s, const char *op) VV_MUST_CHECK;
void vv_store_rollback(vv_store *s);
void vv_store_lock(vv_store *s);
void vv_store_unlock(vv_store *s);
/* Tells an armed hook which job the transaction being committed makes
 * (the id and ciphertext hash stay valid until the commit). */
void vv_store_tx_note(const char *job_id, const uint8_t *ct_sha256);
/* Seconds since the epoch. */
int64_t vv_store_now(void);
/* "<id>.c4gh" into name (VV_STORE_ID_LEN + 6 bytes). */
void vv_store_spool_name(const char *id, char name[VV_STORE_ID_LEN + 6]);
/* Whether s is a spool file name "<id>.c4gh"; copies the id. */
bool vv_store_spool_id(const char *name, char id[VV_STORE_ID_LEN + 1]);
/* fsync of the spool folder, after a link or an unlink. */
int vv_store_sync_spool(vv_store *s) VV_MUST_CHECK;
/* Fails a job (state checked by the caller) inside the mutex. */
int vv_store_fail_locked(vv_store *s, const char *id, int code, const char *msg) VV_MUST_CHECK;

#endif
