/*
 * varvault store: the appliance's durable state (SQLite in WAL mode plus a
 * spool folder of submitted Crypt4GH files).  The only module that talks to
 * SQLite for jobs and results; SQLite's errors are translated here, once.
 *
 * Layout under the state directory (made 0700; files 0600):
 *   varvault.db (+ -wal, -shm)   samples, jobs, result chunks
 *   spool/<job-id>.c4gh          the ciphertext of each job as it arrived
 *   store.lock                   held (flock) while a vv_store is open
 *
 * Durability: every commit is synchronous=FULL in WAL mode.  A submission is
 * on disk (file fsync'd, linked, folder fsync'd) before its job row is
 * committed, and the job id is returned only after that commit: an id the
 * caller has seen always names a job whose spool file is intact.  A crash at
 * any earlier point leaves nothing once the store is opened again.
 *
 * Threads: a vv_store holds one SQLite connection behind one mutex; every
 * vv_store_* function taking a vv_store may be called from any thread at
 * once.  Only one vv_store may be open on a state directory at a time (in
 * any process): vv_store_open takes an exclusive lock and refuses a second
 * with VV_ERR_DB_BUSY, so two daemons can never both "recover" the same jobs.
 * An upload (vv_store_upload) belongs to one thread at a time.
 *
 * Errors: 0 or a negative VV_ERR_*, with a detail naming the operation (and
 * the job id, which is opaque); never sample data or key bytes.  SQLite's
 * codes become VV_ERR_DB_BUSY (locked), VV_ERR_NOSPACE (disk full),
 * VV_ERR_DB_CORRUPT, VV_ERR_IO, VV_ERR_NOMEM or VV_ERR_DB.
 */
#ifndef VARVAULT_STORE_H
#define VARVAULT_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "varvault/core.h"

/* A job id: 32 lowercase hex characters (16 random bytes). */
#define VV_STORE_ID_LEN 32
/* Longest sample pseudonym (bytes). */
#define VV_STORE_PSEUDONYM_MAX 64
/* Longest submitter identity (a certificate subject or fingerprint). */
#define VV_STORE_SUBMITTER_MAX 256
/* Longest format token ("vcf", "json", ...). */
#define VV_STORE_FORMAT_MAX 16
/* Longest failure message kept for a job (longer ones are cut). */
#define VV_STORE_MSG_MAX 255
/* Upload size limit when the caller passes 0 (16 GiB). */
#define VV_STORE_DEFAULT_MAX_UPLOAD ((uint64_t)16 << 30)
/* Largest sealed chunk accepted by vv_store_chunk_put. */
#define VV_STORE_MAX_CHUNK (VV_SEAL_MAX_CHUNK + VV_SEAL_OVERHEAD)
/* Schema version this code writes (PRAGMA user_version). */
#define VV_STORE_SCHEMA_VERSION 2

typedef struct vv_store vv_store;
typedef struct vv_store_upload vv_store_upload;

/* Whether id is a well-formed job id (exactly 32 of [0-9a-f]).  Every
 * function taking a job id checks it (VV_ERR_INVAL); ids reach file names. */
VV_EXPORT bool vv_store_id_valid(const char *id);
/* Whether p is a usable sample pseudonym: 1..VV_STORE_PSEUDONYM_MAX bytes of
 * printable ASCII without space, '/' or '\\', not starting with '.'. */
VV_EXPORT bool vv_store_pseudonym_valid(const char *p);

/*
 * Opens (creating if needed) the store in state_dir and brings its schema up
 * to VV_STORE_SCHEMA_VERSION with the ordered migrations.  Then recovers:
 * spool files without a job row (uploads cut off, deletions interrupted)
 * are removed; jobs left 'running' go back to 'queued' (they resume from
 * chunks_done); a queued job whose spool file is gone is failed.
 * On success *out is a new handle; close it with vv_store_close.
 * VV_ERR_DB_BUSY: another vv_store has the directory open.  VV_ERR_DB_VERSION:
 * the database was written by newer code (it is left untouched).
 * VV_ERR_INVAL: state_dir is not a directory we own.  VV_ERR_IO, VV_ERR_DB...
 */
VV_EXPORT int vv_store_open(const char *state_dir, vv_store **out) VV_MUST_CHECK;
/* Closes the connection (checkpointing the WAL) and releases the lock.
 * NULL-safe.  No other thread may be using s, and no upload may be open. */
VV_EXPORT void vv_store_close(vv_store *s);

/*
 * The audit log shares the store's database so that an action and its audit
 * record commit or roll back together (src/audit takes the sqlite3 *).
 */
struct sqlite3;
/* Called by every store write inside its transaction, just before COMMIT,
 * with op naming the write ("submit", "claim", "delete sample", ...).  A
 * non-zero return (a VV_ERR_*) rolls the whole write back and becomes the
 * write's result: if the audit record cannot be written, the action fails.
 * The hook runs under the store's lock on the writing thread; it may use db
 * directly but must not call vv_store_* on the same store. */
typedef int (*vv_store_commit_hook)(struct sqlite3 *db, void *ctx, const char *op);
/* Installs (or with fn NULL removes) the hook.  Call while no other thread
 * uses s (after open, before serving). */
VV_EXPORT void vv_store_set_commit_hook(vv_store *s, vv_store_commit_hook fn, void *ctx);
/* Runs fn(db, ctx) under the store's lock.  With tx, inside BEGIN IMMEDIATE
 * .. COMMIT (fn's error rolls back; the commit hook is NOT called: fn does
 * its own auditing); without, in autocommit mode (fn opens its own
 * transactions, e.g. vv_audit_open).  Returns fn's result or a store
 * error. */
VV_EXPORT int vv_store_with_db(vv_store *s, bool tx, int (*fn)(struct sqlite3 *db, void *ctx), void *ctx,
			       const char *op) VV_MUST_CHECK;

/*
 * Submissions.  begin -> write* -> commit | abort.  The ciphertext goes to an
 * unnamed file in spool/ (O_TMPFILE; a hidden ".up-*" file where the file
 * system lacks it) while its SHA-256 is computed, so a crash mid-upload
 * leaves nothing behind.  The store must outlive its uploads.
 */
typedef struct vv_store_submit {
	const char *sample;              /* pseudonym; the sample must exist (vv_store_sample_key with create) */
	const char *submitter;           /* identity of the client; 1..VV_STORE_SUBMITTER_MAX bytes, no control chars */
	const char *format;              /* token chosen by the daemon: 1..VV_STORE_FORMAT_MAX of [a-z0-9_-] */
	const uint8_t *plaintext_sha256; /* 32 bytes the client declared, or NULL: the job is unverified */
} vv_store_submit;

/* Starts an upload of at most max_bytes (0: VV_STORE_DEFAULT_MAX_UPLOAD).
 * *out is owned by the caller until commit or abort. */
VV_EXPORT int vv_store_upload_begin(vv_store *s, uint64_t max_bytes, vv_store_upload **out) VV_MUST_CHECK;
/* Appends n bytes.  VV_ERR_RANGE past the limit (the upload can then only be
 * aborted), VV_ERR_IO / VV_ERR_NOSPACE from the disk. */
VV_EXPORT int vv_store_upload_write(vv_store_upload *u, const void *p, size_t n) VV_MUST_CHECK;
/* Makes the upload a queued job: fsyncs the file, links it as
 * spool/<id>.c4gh, fsyncs the folder, then inserts the job row in one
 * transaction.  Only then is the new id written to id_out (33 bytes with the
 * NUL) and 0 returned: tell the client "accepted" after this.  Always
 * consumes u; on failure nothing is left.  VV_ERR_NOTFOUND: no such sample;
 * VV_ERR_INVAL: a field of sub is malformed; VV_ERR_RANGE: the upload went
 * past its limit; VV_ERR_TRUNCATED: nothing was uploaded. */
VV_EXPORT int vv_store_upload_commit(vv_store_upload *u, const vv_store_submit *sub,
				     char id_out[VV_STORE_ID_LEN + 1]) VV_MUST_CHECK;
/* Discards an upload, leaving nothing on disk.  NULL-safe. */
VV_EXPORT void vv_store_upload_abort(vv_store_upload *u);
/* Bytes written so far. */
VV_EXPORT uint64_t vv_store_upload_bytes(const vv_store_upload *u);

/*
 * Samples and their result keys (crypto-shredding).  A sample's 32-byte
 * result key is stored only wrapped by the master key (vv_key_wrap with the
 * pseudonym as additional data), so a wrapped key moved to another sample
 * does not open.
 */
/* Copies the sample's result key into key_out (which should be secret
 * memory; the caller wipes it).  With create, a missing sample is created
 * with a fresh random key.  VV_ERR_NOTFOUND (no sample, !create),
 * VV_ERR_AUTH (wrong master key or a tampered row; key_out zeroed),
 * VV_ERR_INVAL (pseudonym invalid). */
VV_EXPORT int vv_store_sample_key(vv_store *s, const uint8_t master_key[VV_KEY_LEN], const char *pseudonym,
				  bool create, uint8_t key_out[VV_KEY_LEN]) VV_MUST_CHECK;
/* Whether the sample exists: 1 yes, 0 no, < 0 error. */
VV_EXPORT int vv_store_sample_exists(vv_store *s, const char *pseudonym) VV_MUST_CHECK;
/* Destroys a sample: in one transaction its wrapped key, its job rows and
 * their result chunks (secure_delete overwrites them), then checkpoints and
 * truncates the WAL so that no old copy of the key remains in either file,
 * then removes the jobs' spool files.  Jobs in any state go, running ones
 * too: the caller stops their workers (their later calls fail with
 * VV_ERR_NOTFOUND).  *jobs_deleted (may be NULL) gets the number of jobs.
 * VV_ERR_NOTFOUND when there is no such sample.  An error after the
 * deletion committed (the checkpoint, a file removal) still leaves the
 * sample deleted; the next checkpoint or open finishes the cleanup. */
VV_EXPORT int vv_store_delete_sample(vv_store *s, const char *pseudonym, size_t *jobs_deleted) VV_MUST_CHECK;

/*
 * Jobs.  States and the transitions allowed (others: VV_ERR_STATE):
 *   queued  -> running (claim) | cancelled | failed
 *   running -> done | failed | cancelled | queued (requeue; and at open)
 *   done, failed, cancelled: final.
 */
enum vv_store_state {
	VV_STORE_QUEUED = 0,
	VV_STORE_RUNNING,
	VV_STORE_DONE,
	VV_STORE_FAILED,
	VV_STORE_CANCELLED,
};
/* "queued", "running", ...; never NULL. */
VV_EXPORT const char *vv_store_state_name(enum vv_store_state st);

/* A job as stored; a plain value the caller owns (no pointers). */
typedef struct vv_store_job {
	char id[VV_STORE_ID_LEN + 1];
	char sample[VV_STORE_PSEUDONYM_MAX + 1];
	char submitter[VV_STORE_SUBMITTER_MAX + 1];
	char format[VV_STORE_FORMAT_MAX + 1];
	enum vv_store_state state;
	int64_t created_at, updated_at;  /* seconds since the epoch, UTC */
	uint8_t ct_sha256[32];           /* of the spool file */
	uint64_t ct_bytes;               /* size of the spool file */
	bool verified;                   /* plaintext_sha256 was declared */
	uint8_t plaintext_sha256[32];    /* zero when !verified */
	uint64_t progress_done, progress_total;
	uint32_t chunks_done;            /* result chunks 0..chunks_done-1 are stored */
	bool result_complete;            /* the chunk marked last is stored */
	uint32_t attempts;               /* times claimed */
	int error_code;                  /* vv_err of a failed job, else 0 */
	char error_msg[VV_STORE_MSG_MAX + 1];
} vv_store_job;

/* Reads one job.  VV_ERR_NOTFOUND, VV_ERR_INVAL (malformed id). */
VV_EXPORT int vv_store_job_get(vv_store *s, const char *id, vv_store_job *out) VV_MUST_CHECK;
/* Lists jobs, oldest first, of one submitter (or all when submitter is
 * NULL), at most max of them (0: no limit).  *jobs is malloc'd (caller
 * frees; NULL when *n is 0). */
VV_EXPORT int vv_store_job_list(vv_store *s, const char *submitter, size_t max, vv_store_job **jobs,
				size_t *n) VV_MUST_CHECK;
/* Counts jobs in a state (for the scheduler and health). */
VV_EXPORT int vv_store_job_count(vv_store *s, enum vv_store_state st, size_t *n) VV_MUST_CHECK;
/* Claims the oldest queued job: atomically sets it running and counts the
 * attempt.  Returns 1 with *out filled, 0 when none is queued, or < 0.
 * A claimed job whose result_complete is already true (the daemon stopped
 * between its last chunk and vv_store_job_finish) needs only finishing. */
VV_EXPORT int vv_store_job_claim(vv_store *s, vv_store_job *out) VV_MUST_CHECK;
/* Records progress of a running job (done <= total when total > 0).  Each
 * call is a durable commit (an fsync): call it every second or so, not per
 * variant. */
VV_EXPORT int vv_store_job_progress(vv_store *s, const char *id, uint64_t done, uint64_t total) VV_MUST_CHECK;
/* running -> done.  VV_ERR_TRUNCATED unless the last chunk is stored. */
VV_EXPORT int vv_store_job_finish(vv_store *s, const char *id) VV_MUST_CHECK;
/* queued|running -> failed, keeping code (a negative vv_err) and msg (cut
 * to VV_STORE_MSG_MAX; it must carry no patient data). */
VV_EXPORT int vv_store_job_fail(vv_store *s, const char *id, int code, const char *msg) VV_MUST_CHECK;
/* queued|running -> cancelled (the caller stops a running worker). */
VV_EXPORT int vv_store_job_cancel(vv_store *s, const char *id) VV_MUST_CHECK;
/* running -> queued: hand a job back (daemon shutdown); it resumes from
 * chunks_done when claimed again. */
VV_EXPORT int vv_store_job_requeue(vv_store *s, const char *id) VV_MUST_CHECK;
/* Writes "<state_dir>/spool/<id>.c4gh" into buf.  VV_ERR_RANGE if n is too
 * small; the file exists only for jobs that exist. */
VV_EXPORT int vv_store_job_spool_path(vv_store *s, const char *id, char *buf, size_t n) VV_MUST_CHECK;
/* Opens a job's spool file read-only (O_CLOEXEC) into *fd (caller closes),
 * checking that its size is ct_bytes (VV_ERR_TRUNCATED otherwise; the
 * content's hash is ct_sha256 for callers that check it).  VV_ERR_NOTFOUND
 * when the job or its file is gone. */
VV_EXPORT int vv_store_job_open_spool(vv_store *s, const char *id, int *fd) VV_MUST_CHECK;

/* Removes the spool file of a job in a final state (done, failed,
 * cancelled): its ciphertext is no longer needed once the result is stored
 * or the job has ended.  The job row stays.  Idempotent.  VV_ERR_STATE for a
 * queued or running job. */
VV_EXPORT int vv_store_job_remove_spool(vv_store *s, const char *id) VV_MUST_CHECK;

/*
 * Result chunks: sealed bytes from vv_seal_chunk(sample key, job id, index,
 * last).  Chunks are stored in order: index must be chunks_done (the next
 * one), and the job running.  An index already stored is accepted again only
 * with the same bytes and last flag (a retried put), else VV_ERR_EXISTS; a
 * gap is VV_ERR_INVAL; after the last chunk nothing more is accepted.
 * chunks_done and result_complete advance in the same transaction.
 */
VV_EXPORT int vv_store_chunk_put(vv_store *s, const char *id, uint32_t index, bool last, const uint8_t *sealed,
				 size_t n) VV_MUST_CHECK;
/* Reads sealed chunk index: *blob is malloc'd (caller frees), *n its size,
 * *last the stored flag (untrusted until opened).  VV_ERR_NOTFOUND. */
VV_EXPORT int vv_store_chunk_get(vv_store *s, const char *id, uint32_t index, uint8_t **blob, size_t *n,
				 bool *last) VV_MUST_CHECK;
/* Number of chunks stored for a job. */
VV_EXPORT int vv_store_chunk_count(vv_store *s, const char *id, uint32_t *n) VV_MUST_CHECK;
/* Opens chunk index with the sample's key and appends its plaintext to out
 * (a secure buffer); *last says whether it was sealed as the final chunk.
 * The chunk's own position is authenticated: VV_ERR_AUTH for a chunk that
 * was tampered with, moved, taken from another job, or the wrong key.
 * For streaming a result to a client chunk by chunk (wipe out between). */
VV_EXPORT int vv_store_result_open_chunk(vv_store *s, const char *id, const uint8_t key[VV_KEY_LEN],
					 uint32_t index, vv_sbuf *out, bool *last) VV_MUST_CHECK;
/* Opens a whole result, chunks 0.. in order, into out; the final one must
 * have been sealed as last: VV_ERR_TRUNCATED otherwise (a result whose tail
 * was dropped).  On failure out is wiped.  VV_ERR_AUTH as above. */
VV_EXPORT int vv_store_result_read(vv_store *s, const char *id, const uint8_t key[VV_KEY_LEN],
				   vv_sbuf *out) VV_MUST_CHECK;

/*
 * Transaction hooks: how the daemon writes its audit record in the same
 * transaction as the action it records, without a second connection.
 * A hook gets the store's connection inside an open write transaction
 * (hooks are for the audit module, the other module that talks to SQLite)
 * and what the store knows of the transaction (info: the operation, and
 * for a submission the new job's id and ciphertext SHA-256).  A hook
 * returning non-zero rolls the transaction back: the action fails with
 * that error.
 */
struct sqlite3;
struct vv_store_tx_info {
	const char *op;            /* the store operation ("submit", "delete sample", ...) */
	const char *job_id;        /* the job a submission creates, else NULL */
	const uint8_t *ct_sha256;  /* its ciphertext's SHA-256 (32 bytes), else NULL */
};
typedef int (*vv_store_tx_hook)(void *ctx, struct sqlite3 *db, const struct vv_store_tx_info *info);
/* Arms fn for the calling thread: the next write transaction this thread
 * commits on s runs fn inside it, just before COMMIT (once).  Arm just
 * before the store call of the action; a store call that writes nothing
 * (or fails before its commit) leaves it unfired. */
VV_EXPORT void vv_store_hook_arm(vv_store *s, vv_store_tx_hook fn, void *ctx);
/* Disarms the calling thread's hook; true when it ran in a transaction
 * that committed. */
VV_EXPORT bool vv_store_hook_disarm(vv_store *s);
/* Runs fn in its own write transaction (BEGIN IMMEDIATE .. COMMIT, rolled
 * back when fn fails) under the store's lock: for events with no other
 * write.  Returns fn's error or a VV_ERR_DB*. */
VV_EXPORT int vv_store_tx_run(vv_store *s, vv_store_tx_hook fn, void *ctx) VV_MUST_CHECK;
/* Runs fn under the store's lock outside any transaction (reads; fn may
 * open and end its own). */
VV_EXPORT int vv_store_db_run(vv_store *s, vv_store_tx_hook fn, void *ctx) VV_MUST_CHECK;

#endif /* VARVAULT_STORE_H */
