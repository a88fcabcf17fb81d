/* Private to src/daemon: the serving monitor (serve.c) and its job
 * scheduler (sched.c). */
#ifndef VARVAULT_DAEMON_SERVE_H
#define VARVAULT_DAEMON_SERVE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "config.h"
#include "varvault/c4gh.h"
#include "varvault/model.h"
#include "varvault/net.h"
#include "varvault/store.h"

typedef struct vv_sched vv_sched;
struct vv_audit;

/* The monitor's state, shared by the accept loop, the connection threads
 * and the scheduler. */
struct vv_daemon {
	struct vv_dconf cf;
	const char *self_exe;        /* the varvaultd binary, for workers */
	vv_net_server *srv;
	vv_store *store;
	uint8_t *master;             /* VV_KEY_LEN, secret memory */
	vv_c4gh_seckey *c4gh;
	pthread_mutex_t lock;        /* guards access, slots */
	pthread_cond_t idle;         /* signalled when a connection ends */
	vv_net_access *access;       /* current policy (reference-counted) */
	int *slots;                  /* cf.max_connections raw fds, -1 when free */
	unsigned nconn;
	atomic_bool stopping;
	vv_sched *sched;
	/* Checked once at start-up, for the health verb. */
	char model_sha256[65];       /* model.safetensors as loaded and self-tested */
	struct vv_model_selftest_result selftest;
	bool mem_locked;             /* the master key's memory is locked */
	struct vv_model_kernel kernel; /* this process's OpenBLAS kernel, which the
	                                * workers inherit through OPENBLAS_CORETYPE */
	/* The audit log (daudit.c), written under the store's lock. */
	struct vv_audit *audit;
	char *audit_vkey;            /* verifier key clients pin (audit.pub) */
	char policy_sha256[65];      /* of access.conf as loaded (start, reload) */
	/* What the TLS server loaded (start, a reload that succeeded), for the
	 * audit log's change records (daudit_state.c): main thread only. */
	char crl_sha256[65];         /* vv_net_crl_digest of the CRL, or "none" */
	char tls_sha256[65];         /* the server certificate's fingerprint */
};

/* Runs the daemon with the configuration at path until SIGTERM or SIGINT.
 * Returns the process exit status. */
int vv_daemon_serve(const char *config_path, const char *self_exe);

/* The scheduler: a thread that claims queued jobs and runs at most
 * cf.workers of them at once in workers. */
int vv_sched_start(struct vv_daemon *d, vv_sched **out) VV_MUST_CHECK;
/* A job was queued: look again now. */
void vv_sched_wake(vv_sched *s);
/* Stops the worker of a running job, if any (cancel, delete). */
void vv_sched_kill_job(vv_sched *s, const char *job_id);
/* A job reached a final state outside the scheduler (cancelled while
 * queued): drops its spool file. */
void vv_sched_job_ended(struct vv_daemon *d, const char *id);
/* How many jobs run now. */
unsigned vv_sched_running(vv_sched *s);
/* Stops claiming, stops running workers and hands their jobs back to the
 * queue (they resume from their stored chunks), joins, frees.  NULL-safe. */
void vv_sched_stop(vv_sched *s);

#endif
