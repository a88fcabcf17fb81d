/* Private to src/daemon: the monitor's audit trail (daudit.c) over the
 * audit module, written through the store's connection so that a record
 * shares the transaction of the action it records. */
#ifndef VARVAULT_DAEMON_DAUDIT_H
#define VARVAULT_DAEMON_DAUDIT_H

#include <stdbool.h>
#include <stdint.h>

#include "varvault/audit.h"
#include "varvault/store.h"

struct vv_daemon;
struct json_object;

/* One record being written: the caller fills r (strings it points to must
 * outlive the write); a hook fills in the job and ciphertext hash that the
 * store's transaction creates (a submission). */
struct vv_daudit_rec {
	struct vv_daemon *d;
	vv_audit_record r;
	char job[VV_STORE_ID_LEN + 1];
	char ct[65];
	char policy[65];    /* the policy's hash when the record was begun (a reload may change it) */
	bool checkpointed;  /* the append made a checkpoint: sent to the journal */
	uint64_t seq;
};

/* Opens the audit log on the store's connection with the keys and
 * settings of cf ([audit], [keys] audit_*): d->audit.  Reads the verifier
 * key (audit.pub) for clients.  Returns 0 or an error naming the file. */
int vv_daudit_open(struct vv_daemon *d) VV_MUST_CHECK;
void vv_daudit_close(struct vv_daemon *d);

/* A record with the daemon's constant parts: event, action, the model's
 * and the policy's hashes; actor "varvaultd" for job and system events. */
void vv_daudit_init(struct vv_daudit_rec *x, struct vv_daemon *d, const char *event, const char *action);

/* Writes x in its own transaction (events with no other write: reads,
 * denials, start, stop, reload).  Logs a checkpoint it made. */
int vv_daudit_write(struct vv_daudit_rec *x) VV_MUST_CHECK;

/* Arms x for the calling thread's next store transaction (the action);
 * disarm after the store call: true when x was written and committed with
 * it.  A checkpoint made by it is logged then. */
void vv_daudit_arm(struct vv_daudit_rec *x);
bool vv_daudit_disarm(struct vv_daudit_rec *x);

/* Sends the latest checkpoint to the journal (after a write that made one). */
void vv_daudit_log_checkpoint(struct vv_daemon *d);

/* daudit_state.c: the system records and the changes they bring.
 * vv_daudit_files_load reads what the TLS server loaded from files (the
 * certificate's fingerprint, what the CRL revokes) into d->tls_sha256 and
 * d->crl_sha256: call it at start and after a reload that succeeded.
 * vv_daudit_system writes the record of action (start, reload, stop; err:
 * failed with that error) and, in the same transaction, one record per
 * change of model, policy, CRL or keys since what the log last said (see
 * daudit_state.c for the reasons' format).  Logs each change. */
int vv_daudit_files_load(struct vv_daemon *d) VV_MUST_CHECK;
int vv_daudit_system(struct vv_daemon *d, const char *action, int err) VV_MUST_CHECK;

/* Writes a checkpoint if records came since the last (the timer). */
void vv_daudit_tick(struct vv_daemon *d);

/* The verbs' data, each under the store's lock (none writes a record:
 * the caller's request record does).  Each returns 0 with *out a new
 * object for the answer, or an error to answer. */
/* audit.query: since, until (RFC 3339 or seconds), actor, sample, action,
 * outcome, after (seq), limit -> {"records":[...],"next":seq|null} */
int vv_daudit_query(struct vv_daemon *d, struct json_object *params, struct json_object **out) VV_MUST_CHECK;
/* audit.checkpoint: from (a size the client holds, optional) ->
 * {"checkpoint":note,"size":N,"key":vkey,"from":M,"proof":[hex...]} */
int vv_daudit_checkpoint(struct vv_daemon *d, int64_t from, struct json_object **out) VV_MUST_CHECK;
/* audit.prove: seq -> {"seq","leaf","size","checkpoint","key","proof":[hex]} */
int vv_daudit_prove(struct vv_daemon *d, uint64_t seq, struct json_object **out) VV_MUST_CHECK;
/* audit.export: a checkpoint of every record now (made if the latest
 * does not cover them), then leaves [0, size) in pieces through emit
 * (each piece some whole lines "leaf\n"); emit's error stops it.  emit
 * is first called with (NULL, 0) once *head (the checkpoint, size and key;
 * the callee takes it) is ready, to answer before the leaves. */
int vv_daudit_export(struct vv_daemon *d, struct json_object **head,
		     int (*emit)(void *ctx, const char *p, size_t n), void *ctx) VV_MUST_CHECK;

#endif
