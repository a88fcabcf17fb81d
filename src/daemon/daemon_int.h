/* Private to src/daemon: the worker IPC, the interpreter worker, and the
 * runner with which the monitor runs one job in a worker. */
#ifndef VARVAULT_DAEMON_INT_H
#define VARVAULT_DAEMON_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "varvault/c4gh.h"
#include "varvault/core.h"
#include "varvault/interpret.h"

/* ---- IPC: typed, bounded messages over the worker's socketpair ----
 *
 * A message is an 8-byte header, u32 type and u32 payload length (host
 * byte order: both ends are the same binary on the same host), then the
 * payload, at most VV_IPC_MAX_PAYLOAD bytes.  Integers inside payloads are
 * little-endian.  Either side refuses an unknown type, a length over the
 * cap, or a payload that does not have its type's shape. */

/* The worker finds its end of the socketpair on this descriptor. */
#define VV_IPC_FD 3
/* Largest payload: a body piece or a sealed-chunk piece plus its prefix. */
#define VV_IPC_MAX_PAYLOAD ((1u << 20) + 64)
/* Bytes of body or sealed chunk one message carries. */
#define VV_IPC_PIECE (1u << 20)
/* Longest failure detail a FAIL carries. */
#define VV_IPC_MAX_DETAIL 512

enum vv_ipc_type {
	/* monitor -> worker, in this order */
	VV_IPC_JOB = 1,        /* JSON object: the job's parameters, no secrets
	                        * (see worker.c for the members) */
	VV_IPC_KEYS = 2,       /* secret: u32 nkeys, u32 nedits, nkeys * 32 data
	                        * key bytes, nedits u64 edit-list lengths, the
	                        * 32-byte result key */
	VV_IPC_BODY = 3,       /* Crypt4GH data segments (ciphertext), a piece */
	VV_IPC_BODY_END = 4,   /* u64: body bytes sent */
	/* worker -> monitor */
	VV_IPC_PROGRESS = 16,  /* u64 variants done, u64 variants in the input */
	VV_IPC_CHUNK_DATA = 17,/* u32 format (VV_OUT_*), then a piece of that
	                        * format's sealed chunk */
	VV_IPC_CHUNK = 18,     /* ends chunk `index`: u64 index, u32 last,
	                        * u32 formats (VV_OUT_BIT set), u64 sealed
	                        * length per format slot (3), then the encoded
	                        * vv_interpret_state after the chunk */
	VV_IPC_DONE = 19,      /* the summary (vv_daemon_summary_encode) */
	VV_IPC_FAIL = 20,      /* i32 VV_ERR_* code, u32 flags (VV_IPC_F_*),
	                        * detail text (places, never values) */
};

/* FAIL and DONE flags. */
#define VV_IPC_F_MEM_LOCKED 1u /* the worker's memory is locked (mlockall) */
#define VV_IPC_F_LANDLOCK 2u   /* the worker's Landlock layer is on (sandbox.c) */

/* Sends one message of n payload bytes from p (p may be NULL when n is 0),
 * or of a + b when two parts are given.  fd may be non-blocking: the call
 * then waits with poll until deadline (a vv_seconds() time; 0: no limit).
 * Never raises SIGPIPE.  Returns 0, VV_ERR_RANGE (payload over the cap),
 * VV_ERR_TRUNCATED (the peer closed), VV_ERR_TIME_LIMIT, VV_ERR_IO. */
int vv_daemon_ipc_send(int fd, uint32_t type, const void *p, size_t n, double deadline) VV_MUST_CHECK;
int vv_daemon_ipc_send2(int fd, uint32_t type, const void *a, size_t na, const void *b, size_t nb,
			double deadline) VV_MUST_CHECK;

/* Receives one message: *type, and its payload into buf (secure memory;
 * earlier contents wiped; buf->max should be 0 or at least the cap).
 * Returns 0, VV_ERR_TRUNCATED (the peer closed, at or inside a message),
 * VV_ERR_FORMAT (a length over the cap), VV_ERR_TIME_LIMIT, VV_ERR_IO,
 * VV_ERR_NOMEM. */
int vv_daemon_ipc_recv(int fd, uint32_t *type, vv_sbuf *buf, double deadline) VV_MUST_CHECK;

/* Little-endian fields of payloads. */
void vv_daemon_put32(uint8_t *p, uint32_t v);
void vv_daemon_put64(uint8_t *p, uint64_t v);
uint32_t vv_daemon_get32(const uint8_t *p);
uint64_t vv_daemon_get64(const uint8_t *p);

/* The summary a DONE carries: counts, timings, flags. */
#define VV_DAEMON_SUMMARY_LEN (8 * 15 + 4)
void vv_daemon_summary_encode(const struct vv_interpret_summary *s, uint64_t rescored, uint32_t flags,
			      uint8_t out[VV_DAEMON_SUMMARY_LEN]);
void vv_daemon_summary_decode(const uint8_t in[VV_DAEMON_SUMMARY_LEN], struct vv_interpret_summary *s,
			      uint64_t *rescored, uint32_t *flags);

/* The id a result chunk of format fmt is sealed under (vv_seal_chunk):
 * "<job id>/<vcf|json|tsv>", so that chunks of one format cannot stand in
 * for another's.  Returns 0, or VV_ERR_INVAL (id too long or not 1..64
 * characters of [0-9A-Za-z_-], or an unknown format). */
int vv_daemon_seal_id(const char *job_id, enum vv_out_format fmt, char *out, size_t cap) VV_MUST_CHECK;

/* Opens one sealed result chunk of format fmt (as a worker sealed it and
 * the store kept it) and appends its plaintext to out (secure memory: the
 * monitor streams it inside TLS).  Open chunks 0, 1, ... in order and
 * expect last on the final one (core.h, result chunks).  Returns 0,
 * VV_ERR_AUTH (tampered, another job, format, index or position, or the
 * wrong key: nothing is appended), VV_ERR_FORMAT, VV_ERR_INVAL, VV_ERR_RANGE,
 * VV_ERR_NOMEM. */
int vv_daemon_result_open(const uint8_t key[VV_KEY_LEN], const char *job_id, enum vv_out_format fmt,
			  uint64_t index, bool last, const uint8_t *sealed, size_t n, vv_sbuf *out) VV_MUST_CHECK;

/* ---- the worker: `varvaultd --worker` ---- */

/* Runs one job over the socketpair fd (VV_IPC_FD) and returns the process
 * exit status: 0 after DONE, 1 after FAIL, 2 when fd is not a socket. */
int vv_daemon_worker_main(int fd);

/* ---- the worker's sandbox (sandbox.c) ---- */

struct vv_sandbox_opts {
	uint64_t cpu_seconds;          /* RLIMIT_CPU (SIGXCPU at it); 0: none */
	uint64_t memory_max;           /* RLIMIT_AS bytes; 0: none (and none under ASan) */
	const char *const *ro_paths;   /* Landlock: the only paths left readable */
	size_t nro;
};

/* At the worker's start, before it opens anything: closes every
 * descriptor above VV_IPC_FD (close_range).  Returns 0 or VV_ERR_SANDBOX. */
int vv_daemon_sandbox_prepare(void) VV_MUST_CHECK;

/* After the worker opened its model, reference and policy, before it reads
 * patient data: PR_SET_NO_NEW_PRIVS, not dumpable, RLIMIT_CORE 0, the CPU
 * and address-space limits, an empty environment, Landlock (where the
 * kernel has it: *landlock_abi gets its ABI version, 0 when absent; it
 * binds the calling thread), and the seccomp allowlist on every thread
 * (default: kill the process with SIGSYS).  Irreversible.  Returns 0 or
 * VV_ERR_SANDBOX (the worker must then refuse the job). */
int vv_daemon_sandbox_enter(const struct vv_sandbox_opts *o, int *landlock_abi) VV_MUST_CHECK;

#ifdef VV_TEST_HOOKS
/* Test builds only: the hook the next worker gets, from the daemon's
 * VARVAULT_TEST_WORKER ("open,,segv": the first worker tries open(2), the
 * second runs normally, the third raises SIGSEGV; workers past the list run
 * normally).  Writes "VARVAULT_TEST_WORKER=<hook>" into buf, or "" when
 * none. */
void vv_daemon_test_hook_env(char *buf, size_t cap);
#endif

/* ---- the runner: the monitor's side of one job ---- */

/* One chunk of a job's result, as the worker sealed it: every format of
 * the job, each sealed under vv_daemon_seal_id(job, fmt) with the result
 * key, index and last.  Store the state with the chunk: it resumes the job
 * after it.  Valid during the callback only. */
struct vv_runner_chunk {
	uint64_t index;
	bool last;
	unsigned formats;                            /* VV_OUT_BIT set */
	const uint8_t *sealed[VV_OUT_NFORMATS];      /* slot format - 1; NULL when absent */
	size_t sealed_len[VV_OUT_NFORMATS];
	uint8_t state[VV_INTERPRET_STATE_LEN];
};

struct vv_runner_job {
	const char *worker;            /* the varvaultd binary (the daemon: /proc/self/exe) */
	const char *job_id;            /* 1..64 of [0-9A-Za-z_-] */
	const char *spool;             /* the submitted Crypt4GH file */
	const vv_c4gh_seckey *sk;      /* the appliance's key: opens the header here */
	const uint8_t *result_key;     /* VV_KEY_LEN bytes (secret memory): seals the result */
	const char *model_dir, *reference, *policy;
	const char *scores;            /* precomputed SNV score table, or NULL */
	unsigned formats;              /* VV_OUT_BIT set; 0: all three */
	size_t chunk;                  /* variants per chunk; 0: 1024 */
	uint64_t resume_chunk;         /* 0: from the start; k: after chunk k-1 */
	const uint8_t *resume_state;   /* with resume_chunk > 0: the state stored with chunk k-1 */
	size_t resume_state_len;
	const uint8_t *plaintext_sha256; /* 32 bytes, or NULL for an unverified submission */
	uint64_t max_input;            /* plaintext bytes; 0: 4 GiB */
	uint64_t max_out;              /* bytes per format; 0: no limit */
	uint64_t max_records;          /* VCF data records; 0: the vcf default */
	uint64_t max_text_bytes;       /* decompressed VCF bytes; 0: the vcf default */
	int threads;                   /* model threads; 0: one per CPU */
	size_t batch;                  /* 0: 32 */
	bool allow_unlocked;           /* the worker goes on when its memory cannot
	                                * be locked (--allow-unlocked-memory) */
	double time_limit;             /* seconds for the whole job; 0: none */
	uint64_t cpu_seconds;          /* the worker's RLIMIT_CPU; 0: none */
	uint64_t memory_max;           /* the worker's RLIMIT_AS; 0: none */
	const atomic_int *cancel;      /* may be NULL; non-zero stops the job */
	/* Callbacks, from the calling thread; any may be NULL.  on_chunk
	 * returning non-zero stops the job with that code (the worker is
	 * killed).  on_start gets the worker's pid. */
	int (*on_chunk)(void *ctx, const struct vv_runner_chunk *c);
	void (*on_progress)(void *ctx, uint64_t done, uint64_t total);
	void (*on_start)(void *ctx, pid_t pid);
	void *ctx;
};

struct vv_runner_result {
	int code;                      /* 0: done; else the job failed with this VV_ERR_* */
	char reason[VV_IPC_MAX_DETAIL + 128]; /* why, for the job row ("" when done) */
	struct vv_interpret_summary sum; /* with code 0 */
	uint64_t rescored;             /* variants scored again on resume */
	uint64_t chunks;               /* chunks delivered by this run */
	bool mem_locked;               /* the worker reported its memory locked */
	bool landlock;                 /* the worker reported its Landlock layer on */
	int wait_status;               /* waitpid status of the worker; -1 if none ran */
};

/*
 * Runs one job in a fresh worker: reads the spool file's Crypt4GH header
 * with job->sk (the only step that needs it), spawns `worker --worker`
 * (posix_spawn, an environment of only OPENBLAS_*, VARVAULT_LOG and the
 * sanitizers' options, the socketpair on fd 3, stdin and stdout on
 * /dev/null, nothing else open), sends the job, the data keys, the edit
 * list and the result key, streams the ciphertext body, and delivers
 * sealed chunks and progress to the callbacks.  The monitor sees no
 * plaintext.  A worker that dies, breaks the protocol, or outlives the
 * time limit is killed and reaped: this never hangs past the time limit
 * (plus a few seconds of grace at the end).  Thread-safe: distinct jobs may
 * run from distinct threads.
 * Returns res->code: 0, or the job's failure (res->reason says why, e.g.
 * "worker killed by signal 9", "time limit of 60 s exceeded", the
 * worker's own error).  Always fills res.
 */
int vv_daemon_run_job(const struct vv_runner_job *job, struct vv_runner_result *res);

#endif
