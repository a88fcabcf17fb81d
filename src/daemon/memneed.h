/* Private to src/daemon: the memory a process of the appliance must lock,
 * computed from the model, the configuration and the process itself, and
 * the checks that refuse to go on when RLIMIT_MEMLOCK does not cover it. */
#ifndef VARVAULT_DAEMON_MEMNEED_H
#define VARVAULT_DAEMON_MEMNEED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "varvault/core.h"
#include "varvault/model.h"

/* OpenBLAS's work buffer: Debian 12's x86-64 build (0.3.21) maps
 * BUFFER_SIZE = 32 << 22 bytes for each thread that calls it at once (seen
 * as 128 MiB rw-p regions in a worker's /proc/PID/maps). */
#define VV_MEMNEED_BLAS_BUFFER ((uint64_t)128 << 20)
/* The margin over the sum: an eighth of it plus 32 MiB, for glibc's
 * per-thread arenas, htslib's buffers and fragmentation. */
#define VV_MEMNEED_MARGIN_FIXED ((uint64_t)32 << 20)
#define VV_MEMNEED_MARGIN_SHIFT 3

/* What the worker holds, in bytes: the address space, not the resident
 * set, because mlockall charges every mapping (MCL_ONFAULT ones too, and
 * PROT_NONE reservations) against RLIMIT_MEMLOCK. */
struct vv_memneed {
	uint64_t process;   /* the binary, its libraries and stacks: the image of
	                     * a varvaultd before it loads anything (vv_memimage) */
	uint64_t weights;   /* mapped + converted (+ bf16) weights (engine figures) */
	uint64_t run;       /* run-state for batch x longest sequence x threads
	                     * (vv_model_run_bytes, as `model info`) */
	uint64_t blas;      /* OpenBLAS buffers, VV_MEMNEED_BLAS_BUFFER each: one per
	                     * OpenBLAS server thread, per model thread and for
	                     * the main thread */
	uint64_t input;     /* the plaintext buffer: 2 x max_input (a secure
	                     * buffer grows by copying into one twice its size) */
	uint64_t output;    /* one chunk's outputs, every format, and its sealed
	                     * copy: (VV_OUT_NFORMATS + 1) x VV_SEAL_MAX_CHUNK */
	uint64_t margin;    /* (sum >> VV_MEMNEED_MARGIN_SHIFT) + VV_MEMNEED_MARGIN_FIXED */
	uint64_t total;     /* all of the above, rounded up to a MiB */
	int threads;        /* the model threads counted */
	unsigned blas_threads; /* OpenBLAS's own server threads counted */
	size_t batch;       /* the batch counted */
	size_t tokens;      /* the longest sequence counted */
	uint64_t max_input; /* the plaintext bound counted */
};

/* The image of this process as memneed counts it. */
struct vv_memimage {
	uint64_t bytes;     /* every mapping (/proc/self/maps) but anonymous ones
	                     * of VV_MEMNEED_BLAS_BUFFER or more: OpenBLAS's server
	                     * threads map their buffers when they get to run, so
	                     * whether those exist yet is a race; blas counts them */
	unsigned threads;   /* threads of the process (/proc/self/status) */
};
/* Measures it: call at the start, before anything is loaded and before any
 * thread of ours (the other threads then are OpenBLAS's servers, started
 * by its constructor).  0 or VV_ERR_IO. */
int vv_daemon_memimage(struct vv_memimage *out) VV_MUST_CHECK;

/*
 * Computes what a worker running model m with threads (0: one per online
 * CPU, at most 64, as the scorer counts) and batch (0: the scorer's 32) for
 * plaintexts of at most max_input bytes must lock; img is the image of a
 * fresh varvaultd (vv_daemon_memimage at its start).  The one function both
 * the worker's refusal and --check-config use.  Returns 0, VV_ERR_RANGE
 * (overflow), VV_ERR_INVAL (threads or batch the engine refuses).
 */
int vv_daemon_memneed(const vv_model *m, int threads, size_t batch, uint64_t max_input,
		      const struct vv_memimage *img, struct vv_memneed *out) VV_MUST_CHECK;

/* RLIMIT_MEMLOCK and CAP_IPC_LOCK of this process. */
struct vv_memlimit {
	bool unlimited;     /* RLIM_INFINITY */
	uint64_t cur;       /* the soft limit, bytes (when not unlimited) */
	bool cap_ipc_lock;  /* effective CAP_IPC_LOCK: the limit does not apply */
};
int vv_daemon_memlimit(struct vv_memlimit *out) VV_MUST_CHECK;
/* Whether l lets this process lock need bytes. */
bool vv_daemon_memlimit_allows(const struct vv_memlimit *l, uint64_t need);

/* MiB, rounded up: the figure that LimitMEMLOCK=<n>M needs. */
uint64_t vv_daemon_mib_up(uint64_t bytes);

/* --allow-unlocked-memory: set once by main before any thread starts,
 * read by the monitor (start-up, health, jobs).  Development only. */
void vv_daemon_set_allow_unlocked(bool allow);
bool vv_daemon_allow_unlocked(void);

/*
 * The worker, after it has loaded model, reference and scorer and before
 * it reads patient data: computes the need, checks the limit and calls
 * mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT).  *locked says whether
 * memory is locked.  Returns 0, or VV_ERR_MEMLOCK_LIMIT (the limit is below
 * the need) / VV_ERR_MLOCK (mlockall failed) with a detail naming
 * LimitMEMLOCK=, the MiB needed and the current limit; with allow_unlocked
 * those are logged and it returns 0 with *locked false.
 */
int vv_daemon_worker_lock(const vv_model *m, int threads, size_t batch, uint64_t max_input,
			  const struct vv_memimage *img, bool allow_unlocked, bool *locked) VV_MUST_CHECK;

/*
 * The monitor at start-up: whether the n bytes of its secret at p (the
 * master key, vv_secret_alloc memory) are locked.  Returns 0 with *locked,
 * or VV_ERR_MEMLOCK_LIMIT naming LimitMEMLOCK= when they are not and
 * unlocked memory is not allowed.
 */
int vv_daemon_monitor_lock_check(void *p, size_t n, bool *locked) VV_MUST_CHECK;

/* varvaultd --check-config [--json]: returns the exit status (0: every
 * check passed and the memory-lock limit allows the need; 1 otherwise). */
int vv_daemon_check_config(const char *path, bool json);

#endif
