/*
 * varvault core: the one error convention, logging, secure buffers and
 * process hardening that every other module builds on.
 *
 * Error convention (STYLE.md rule 6): functions return int, 0 on success and
 * a negative VV_ERR_* on failure.  Where a failure needs more than its code
 * (which file, line, field or tensor), the failing function records a detail
 * message with vv_errf(); the caller that handles the error prints
 * vv_strerror(rc) and vv_err_detail().  Details never carry patient data or
 * key bytes (rule 13): they name places, not values.  No function returns
 * a bare -1 (it is VV_ERR_NOMEM): "absent" is a bool answer with an out
 * parameter, or a positive return documented as such (docs/architecture.md).
 */
#ifndef VARVAULT_CORE_H
#define VARVAULT_CORE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define VV_MUST_CHECK __attribute__((warn_unused_result))
#define VV_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define VV_EXPORT __attribute__((visibility("default")))
#else
#define VV_MUST_CHECK
#define VV_PRINTF(f, a)
#define VV_EXPORT
#endif

#define VV_VERSION "0.1.0"

/* Every error of every module.  Values are stable: they reach the wire
 * protocol and the audit log, so new codes are appended, never renumbered. */
enum vv_err {
	VV_OK = 0,
	/* generic */
	VV_ERR_NOMEM = -1,        /* out of memory */
	VV_ERR_INVAL = -2,        /* invalid argument (a programmer or usage error) */
	VV_ERR_IO = -3,           /* read/write failed; errno kept */
	VV_ERR_RANGE = -4,        /* a size or count beyond a configured limit */
	VV_ERR_FORMAT = -5,       /* malformed input */
	VV_ERR_UNSUPPORTED = -6,  /* well-formed but not supported */
	VV_ERR_NOTFOUND = -7,     /* a named thing does not exist */
	VV_ERR_EXISTS = -8,       /* refusing to overwrite */
	VV_ERR_INTERNAL = -9,     /* a library call failed unexpectedly */
	VV_ERR_CANCELLED = -10,   /* stopped on request */
	VV_ERR_MLOCK = -11,       /* memory could not be locked */
	VV_ERR_TRUNCATED = -12,   /* input ended early */
	VV_ERR_AUTH = -13,        /* sealed data failed authentication (tampered or wrong key) */
	/* Crypt4GH and keys */
	VV_ERR_C4GH_MAGIC = -100,       /* not a Crypt4GH file */
	VV_ERR_C4GH_VERSION = -101,     /* unsupported Crypt4GH version */
	VV_ERR_C4GH_HEADER = -102,      /* malformed header */
	VV_ERR_C4GH_NOKEY = -103,       /* no header packet decrypts with this key */
	VV_ERR_C4GH_METHOD = -104,      /* unknown encryption method or packet type */
	VV_ERR_C4GH_SEGMENT = -105,     /* a data segment failed authentication */
	VV_ERR_C4GH_TRUNCATED = -106,   /* stream ends inside a segment */
	VV_ERR_C4GH_EDITLIST = -107,    /* edit list invalid or repeated */
	VV_ERR_C4GH_WRITER = -108,      /* no packet from the required writer key */
	VV_ERR_KEY_FORMAT = -120,       /* malformed key file */
	VV_ERR_KEY_KDF = -121,          /* key protected by an unsupported KDF */
	VV_ERR_KEY_CIPHER = -122,       /* key protected by an unsupported cipher */
	VV_ERR_KEY_PASSPHRASE = -123,   /* wrong passphrase (or corrupted key) */
	VV_ERR_KEY_NEEDPASS = -124,     /* key is protected and no passphrase given */
	/* models */
	VV_ERR_MODEL_FORMAT = -200,     /* malformed safetensors / config / vocab */
	VV_ERR_MODEL_TENSOR = -201,     /* a needed tensor is missing or mis-shaped */
	VV_ERR_MODEL_CONFIG = -202,     /* config.json missing, invalid or unsupported */
	VV_ERR_MODEL_PICKLE = -203,     /* pickle checkpoint refused */
	VV_ERR_MODEL_VOCAB = -204,      /* vocabulary missing or inconsistent */
	VV_ERR_MODEL_SEQLEN = -205,     /* sequence longer than the model allows */
	/* VCF and reference */
	VV_ERR_VCF_PARSE = -300,        /* a record or header does not parse */
	VV_ERR_VCF_FIELD = -301,        /* a field violates the specification */
	VV_ERR_VCF_LIMIT = -302,        /* too many records or bytes */
	VV_ERR_REF_MISMATCH = -303,     /* REF disagrees with the reference */
	VV_ERR_REF_CONTIG = -304,       /* contig not in the reference */
	VV_ERR_REF_IO = -305,           /* reference or index unreadable */
	/* policy, store, audit, net: appended when those modules land */
	VV_ERR_POLICY = -400,           /* policy file invalid */
	/* store (src/store) */
	VV_ERR_DB = -410,               /* the database failed (SQLite) */
	VV_ERR_DB_VERSION = -411,       /* database schema newer than this program */
	VV_ERR_DB_BUSY = -412,          /* state directory or database in use */
	VV_ERR_STATE = -413,            /* job is not in a state that allows this */
	VV_ERR_DB_CORRUPT = -414,       /* database file corrupt or not a database */
	VV_ERR_NOSPACE = -415,          /* disk full */
	/* net: TLS, identities, frames and the wire protocol (-430..-459) */
	VV_ERR_TLS = -430,              /* TLS handshake or record layer failed */
	VV_ERR_PEER_CERT = -431,        /* a peer certificate is missing, untrusted, expired or revoked */
	VV_ERR_PROTO = -432,            /* the peer broke the wire protocol (frame, JSON, field) */
	VV_ERR_TIMEOUT = -433,          /* a deadline passed */
	VV_ERR_DENIED = -434,           /* the identity may not do this */
	VV_ERR_CLOSED = -435,           /* the peer closed the connection */
	VV_ERR_UNKNOWN_VERB = -436,     /* a request names no known verb */
	VV_ERR_PROTO_VERSION = -437,    /* a request carries another protocol version */
	VV_ERR_FRAME_SIZE = -438,       /* a frame larger than allowed */
	VV_ERR_PKI = -439,              /* a certificate, CSR, key or CRL could not be made or read */
	VV_ERR_BUSY = -440,             /* the server is at its connection or job limit */
	/* interpret: precomputed score tables */
	VV_ERR_SCORES_FORMAT = -500,    /* a score table or its regions BED is malformed */
	VV_ERR_SCORES_MISMATCH = -501,  /* a score table made for another model, reference or policy */
	VV_ERR_SCORES_INDEX = -502,     /* a score table's tabix index is missing or unusable */
	/* daemon: interpreter workers */
	VV_ERR_WORKER = -700,           /* a worker died, broke the protocol or could not start */
	VV_ERR_TIME_LIMIT = -701,       /* a job ran past its time limit */
	VV_ERR_CHECKSUM = -702,         /* the plaintext's SHA-256 is not the one submitted */
	VV_ERR_SANDBOX = -703,          /* the worker's sandbox could not be set up */
	VV_ERR_SANDBOX_KILLED = -704,   /* a worker made a system call its sandbox forbids (SIGSYS) */
	VV_ERR_CPU_LIMIT = -705,        /* a worker ran past its CPU time limit (SIGXCPU) */
	/* daemon: locked memory (-710..-714) */
	VV_ERR_MEMLOCK_LIMIT = -710,    /* RLIMIT_MEMLOCK (LimitMEMLOCK=) is below what must be locked */
	/* daemon: systemd and privileges (-715..-719) */
	VV_ERR_PRIVS = -715,            /* the service user could not be taken on for good */
	VV_ERR_ROOT = -716,             /* refusing to serve as root */
	VV_ERR_SD_SOCKET = -717,        /* the socket systemd passed is not a listening AF_UNIX stream */

	VV_ERR_AUDIT = -800,            /* the audit log could not be written or read */
	VV_ERR_AUDIT_KEY = -801,        /* an audit key (signing, verifier or k0) is missing or malformed */
	VV_ERR_AUDIT_SIG = -802,        /* a checkpoint signature does not verify */
	VV_ERR_AUDIT_PROOF = -803,      /* an inclusion proof does not verify */
	VV_ERR_AUDIT_CONSISTENCY = -804, /* a consistency proof fails: the log was rolled back or forked */
	VV_ERR_AUDIT_TAMPERED = -805,   /* the audit log fails verification */
};

/* Names an error code; never NULL, static storage. */
VV_EXPORT const char *vv_strerror(int err);

/* Records a detail message for the current thread and returns err, so that
 * a failing function can write `return vv_errf(VV_ERR_FORMAT, "...")`.
 * The message must name places (file, line, field), never patient data.
 * Keeps errno, so a caller may record a detail before it reads errno. */
VV_EXPORT int vv_errf(int err, const char *fmt, ...) VV_PRINTF(2, 3);

/* Prepends context ("file.vcf: ") to the current detail; returns err.
 * Keeps errno. */
VV_EXPORT int vv_err_prefix(int err, const char *fmt, ...) VV_PRINTF(2, 3);

/* The last detail recorded on this thread, or "" if none.  Valid until the
 * next vv_errf() or vv_err_clear() on this thread. */
VV_EXPORT const char *vv_err_detail(void);

/* Forgets the detail of this thread. */
VV_EXPORT void vv_err_clear(void);

/* Logging.  Messages go to stderr, or to the sink a program installs (the
 * daemon's: the journal when systemd connected its stderr to it).
 * Library code logs at DEBUG only (rule 10).  vv_log and vv_log_err keep
 * errno. */
enum vv_log_level { VV_LOG_ERROR = 0, VV_LOG_WARN, VV_LOG_INFO, VV_LOG_DEBUG };

/* Sets the program name printed before messages and the threshold.
 * VARVAULT_LOG=debug|info|warn|error in the environment overrides level. */
VV_EXPORT void vv_log_init(const char *progname, enum vv_log_level level);
VV_EXPORT void vv_log(enum vv_log_level level, const char *fmt, ...) VV_PRINTF(2, 3);
/* Logs "progname: what: <strerror>: <detail>" at ERROR; returns err. */
VV_EXPORT int vv_log_err(int err, const char *fmt, ...) VV_PRINTF(2, 3);

/* A structured field of a log record: name as the journal spells it
 * ("VARVAULT_JOB"), value as text.  Fields name places, job ids and
 * events, never patient data. */
struct vv_log_field {
	const char *name;
	const char *value;
};
/* Logs a message with n structured fields.  Without a sink the fields
 * follow the message on stderr as " [NAME=value ...]". */
VV_EXPORT void vv_log_fields(enum vv_log_level level, const struct vv_log_field *f, size_t n, const char *fmt,
			     ...) VV_PRINTF(4, 5);
/* Where messages go instead of stderr (NULL: stderr again).  Set it before
 * any thread logs; called once per message that passes the threshold. */
typedef void (*vv_log_sink_fn)(enum vv_log_level level, const char *progname, const char *msg,
			       const struct vv_log_field *f, size_t n);
VV_EXPORT void vv_log_set_sink(vv_log_sink_fn sink);

/* Initialises libsodium (idempotent, thread-safe).  Call before any other
 * vv_ function that touches secrets.  Returns 0 or VV_ERR_INTERNAL. */
VV_EXPORT int vv_core_init(void) VV_MUST_CHECK;

/* Process hardening for every binary that may hold plaintext or keys:
 * RLIMIT_CORE to 0 and PR_SET_DUMPABLE to 0 (a pipe core_pattern ignores
 * RLIMIT_CORE=0, so non-dumpable is what stops cores; see SECURITY.md).
 * Returns 0, or VV_ERR_INTERNAL with errno kept. */
VV_EXPORT int vv_harden_process(void) VV_MUST_CHECK;

/*
 * Secure buffers: sodium_malloc memory (guard pages, canary, MADV_DONTDUMP)
 * that can grow for streams.  Growing allocates a new region, copies, and
 * wipes + frees the old one, so plaintext never lands in ordinary heap
 * memory.  Each region is locked in RAM (mlock) when RLIMIT_MEMLOCK allows;
 * when it does not, the buffer still works but may reach swap, and
 * vv_sbuf_locked() says so.  Not thread-safe; one owner at a time.
 */
typedef struct vv_sbuf {
	uint8_t *data;  /* sodium_malloc'd, or NULL while empty */
	size_t len;     /* bytes in use */
	size_t cap;     /* bytes allocated */
	size_t max;     /* growth limit; 0 means no limit beyond SIZE_MAX */
	bool locked;    /* data is locked in RAM; true while there is none */
} vv_sbuf;

/* Prepares an empty buffer that may grow to max bytes (0: unlimited). */
VV_EXPORT void vv_sbuf_init(vv_sbuf *b, size_t max);
/* Ensures room for extra more bytes.  VV_ERR_RANGE past max, VV_ERR_NOMEM. */
VV_EXPORT int vv_sbuf_reserve(vv_sbuf *b, size_t extra) VV_MUST_CHECK;
/* Appends n bytes. */
VV_EXPORT int vv_sbuf_append(vv_sbuf *b, const void *p, size_t n) VV_MUST_CHECK;
/* Appends everything readable from fd until end of file (retrying on
 * EINTR); an input of exactly max bytes is accepted.  VV_ERR_RANGE past max
 * (what was read stays, for the caller to wipe), VV_ERR_IO with errno kept,
 * VV_ERR_NOMEM. */
VV_EXPORT int vv_sbuf_read_fd(vv_sbuf *b, int fd) VV_MUST_CHECK;
/* Whether the buffer's memory is locked in RAM (true while it holds none).
 * False when mlock failed, usually because the region is larger than
 * RLIMIT_MEMLOCK allows (`ulimit -l`): the contents may then be swapped. */
VV_EXPORT bool vv_sbuf_locked(const vv_sbuf *b);
/* Wipes the contents and sets len to 0, keeping the allocation. */
VV_EXPORT void vv_sbuf_wipe(vv_sbuf *b);
/* Wipes and frees; the buffer is empty and reusable afterwards.  NULL-safe. */
VV_EXPORT void vv_sbuf_done(vv_sbuf *b);

/* Secret allocation helpers: sodium_malloc / sodium_free (zeroing). */
VV_EXPORT void *vv_secret_alloc(size_t n);
VV_EXPORT void vv_secret_free(void *p);
/* Locks the n bytes at p (from vv_secret_alloc) in RAM and says whether they
 * are: sodium_malloc ignores a failed mlock, so a caller that must know asks
 * again (locking pages already locked is a no-op). */
VV_EXPORT bool vv_secret_locked(void *p, size_t n);
/* Wipes n bytes so that the compiler cannot elide it (sodium_memzero). */
VV_EXPORT void vv_wipe(void *p, size_t n);

/* Reads a whole file of at most max bytes into *out (malloc'd, NUL added
 * after the data; caller frees).  For non-secret files only (configs, keys
 * go through vv_sbuf).  VV_ERR_IO with errno, VV_ERR_RANGE if larger. */
VV_EXPORT int vv_read_file(const char *path, size_t max, char **out, size_t *len) VV_MUST_CHECK;

/* Checked size arithmetic: return 0, or VV_ERR_RANGE on overflow. */
VV_EXPORT int vv_size_mul(size_t a, size_t b, size_t *out) VV_MUST_CHECK;
VV_EXPORT int vv_size_add(size_t a, size_t b, size_t *out) VV_MUST_CHECK;

/* Makes room for one more element in a growing array *items of *cap
 * elements of elem bytes, n of them in use: doubles the capacity (first
 * `first`) when n == *cap.  Returns 0, VV_ERR_RANGE or VV_ERR_NOMEM (the
 * array is unchanged). */
VV_EXPORT int vv_array_grow(void **items, size_t *cap, size_t n, size_t elem, size_t first) VV_MUST_CHECK;

/* Writes all n bytes to fd, retrying on EINTR and short writes. */
VV_EXPORT int vv_write_all(int fd, const void *p, size_t n) VV_MUST_CHECK;

/* SHA-256, one shot (OpenSSL, with the CPU's SHA extensions) and streaming
 * (libsodium).  The streaming context is heap-allocated so that callers
 * need not see libsodium's state type. */
typedef struct vv_sha256 vv_sha256;
VV_EXPORT void vv_sha256_oneshot(const void *p, size_t n, uint8_t out[32]);
VV_EXPORT vv_sha256 *vv_sha256_new(void);
VV_EXPORT void vv_sha256_update(vv_sha256 *h, const void *p, size_t n);
/* Writes the digest and frees h. */
VV_EXPORT void vv_sha256_final(vv_sha256 *h, uint8_t out[32]);
/* Frees an unfinished context; NULL-safe. */
VV_EXPORT void vv_sha256_free(vv_sha256 *h);

/*
 * Configuration files: `# comment`, `[section]`, `key = value` lines.
 * Used for varvaultd.conf and the policy files.  Keys before any section
 * belong to section "".  A key repeated within a section is an error (a
 * policy must not silently take the last of two values).
 */
typedef struct vv_conf vv_conf;

/* Parses a buffer; name is used in messages ("evidence.conf").  On success
 * *out is a new object the caller frees with vv_conf_free.  VV_ERR_FORMAT
 * with "name:line: ..." in the detail; VV_ERR_NOMEM. */
VV_EXPORT int vv_conf_parse(const char *buf, size_t len, const char *name, vv_conf **out) VV_MUST_CHECK;
/* Reads and parses a file (at most 1 MiB). */
VV_EXPORT int vv_conf_load(const char *path, vv_conf **out) VV_MUST_CHECK;
VV_EXPORT void vv_conf_free(vv_conf *c);
/* The value of section/key, or NULL if absent.  Owned by c. */
VV_EXPORT const char *vv_conf_get(const vv_conf *c, const char *section, const char *key);
/* The line a key was set on, or 0 if absent (for messages). */
VV_EXPORT int vv_conf_line(const vv_conf *c, const char *section, const char *key);
/* The file name given at parse time. */
VV_EXPORT const char *vv_conf_name(const vv_conf *c);
/* Parses section/key as a finite double.  1 if set, 0 if absent or empty
 * (out untouched), VV_ERR_FORMAT naming file, line and key otherwise. */
VV_EXPORT int vv_conf_double(const vv_conf *c, const char *section, const char *key, double *out) VV_MUST_CHECK;
/* Parses yes/no/true/false/1/0.  1 if set, 0 if absent, VV_ERR_FORMAT. */
VV_EXPORT int vv_conf_bool(const vv_conf *c, const char *section, const char *key, int *out) VV_MUST_CHECK;
/* Fails with VV_ERR_FORMAT naming the first section/key not in the lists
 * (sections: NULL-terminated; keys: "section.key" or "section.*", NULL-
 * terminated), so that a typo in a policy is an error, not a default. */
VV_EXPORT int vv_conf_check_known(const vv_conf *c, const char *const *keys) VV_MUST_CHECK;
/* Walks every entry in file order, for sections whose keys are data (the
 * clients of access.conf): *pos starts at 0.  Returns 1 with the entry's
 * section, key, value (owned by c) and line, or 0 after the last. */
VV_EXPORT int vv_conf_next(const vv_conf *c, size_t *pos, const char **section, const char **key,
			   const char **value, int *line);

/*
 * Sealed secrets at rest (libsodium).  Two uses, both for the appliance's
 * store: per-sample data keys wrapped by the master key, and result chunks
 * encrypted with a sample's data key.
 */
#define VV_KEY_LEN 32
/* A wrapped key: 24-byte nonce, 32-byte key, 16-byte tag. */
#define VV_KEY_WRAP_LEN 72

/* Fills key with VV_KEY_LEN random bytes (randombytes_buf). */
VV_EXPORT void vv_key_random(uint8_t key[VV_KEY_LEN]);

/* Wraps key under kek with XChaCha20-Poly1305 and a random nonce; ad (which
 * may be NULL when adlen is 0) is bound to the result, so a wrapped key
 * cannot be moved to another owner (pass the sample's pseudonym).
 * Returns 0 or VV_ERR_INVAL. */
VV_EXPORT int vv_key_wrap(const uint8_t kek[VV_KEY_LEN], const uint8_t key[VV_KEY_LEN],
			  const void *ad, size_t adlen, uint8_t out[VV_KEY_WRAP_LEN]) VV_MUST_CHECK;
/* Unwraps into key (which should be secret memory).  VV_ERR_AUTH when the
 * bytes, the ad or the kek do not match; key is zeroed on failure. */
VV_EXPORT int vv_key_unwrap(const uint8_t kek[VV_KEY_LEN], const uint8_t wrapped[VV_KEY_WRAP_LEN],
			    const void *ad, size_t adlen, uint8_t key[VV_KEY_LEN]) VV_MUST_CHECK;

/*
 * Result chunks.  A result is stored as chunks 0..n-1; each is its own
 * crypto_secretstream_xchacha20poly1305 stream holding one message, whose
 * additional data binds the job id, the chunk's index and whether it is the
 * last one (the last also carries the FINAL tag).  So a chunk swapped in from
 * another job, moved to another index, or presented as last when it was not
 * fails to open.  A reader must open chunks 0, 1, ... in order and see
 * last == true on the final one: a result whose last chunk was dropped then
 * reads as truncated, not as short.
 */
/* Bytes a sealed chunk adds to its plaintext (stream header and tag). */
#define VV_SEAL_OVERHEAD 41
/* Largest chunk plaintext accepted (16 MiB). */
#define VV_SEAL_MAX_CHUNK ((size_t)16 << 20)
/* Longest job id bound into a chunk. */
#define VV_SEAL_MAX_ID 128

/* Seals n bytes of p into out (n + VV_SEAL_OVERHEAD bytes).  Returns 0, or
 * VV_ERR_INVAL (id empty or too long) / VV_ERR_RANGE (n too large). */
VV_EXPORT int vv_seal_chunk(const uint8_t key[VV_KEY_LEN], const char *job_id, uint32_t index,
			    bool last, const uint8_t *p, size_t n, uint8_t *out) VV_MUST_CHECK;
/* Opens a sealed chunk of n bytes into out (n - VV_SEAL_OVERHEAD bytes,
 * which should be secret memory).  index and last are what the caller
 * expects; VV_ERR_AUTH when the chunk was tampered with, belongs to another
 * job, index or position, or the key is wrong (out is zeroed);
 * VV_ERR_FORMAT when n is shorter than the overhead. */
VV_EXPORT int vv_open_chunk(const uint8_t key[VV_KEY_LEN], const char *job_id, uint32_t index,
			    bool last, const uint8_t *c, size_t n, uint8_t *out) VV_MUST_CHECK;

/* Monotonic clock in seconds (for timings in summaries and benchmarks). */
VV_EXPORT double vv_seconds(void);

/* Hex encoding of n bytes into out (2n+1 bytes, NUL-terminated). */
VV_EXPORT void vv_hex(const uint8_t *p, size_t n, char *out);

/*
 * Output files that appear whole or not at all: written unnamed (O_TMPFILE)
 * in the target's folder until committed, or, where the file system lacks
 * O_TMPFILE and the caller allows it, under a hidden temporary name that
 * abort removes.  Only a regular file is ever replaced: a target that is,
 * or is a symbolic link to, a device, FIFO, socket or directory is refused,
 * on open and again on commit, so that `-o /dev/full --force` run as root
 * cannot rename over a device node.
 * One owner at a time; the struct is the caller's.
 */
struct vv_outfile {
	int fd;            /* -1 once closed */
	char *path;        /* the final name */
	char *tmp;         /* the temporary name of the fallback, or NULL */
	uint64_t written;  /* bytes written so far */
};

/* Flags of vv_outfile_open. */
enum {
	/* Never under a temporary name: for plaintext, which a crash must not
	 * leave in a named file (it may not even have authenticated yet).  Where
	 * the file system lacks O_TMPFILE, open fails instead of falling back. */
	VV_OUTFILE_UNNAMED_ONLY = 1u << 0,
};

/* Starts writing what will become path, with permissions mode (less the
 * umask), as flags say.  Returns 0, VV_ERR_IO (errno kept), VV_ERR_NOMEM,
 * VV_ERR_UNSUPPORTED (VV_OUTFILE_UNNAMED_ONLY on a file system without
 * O_TMPFILE), or VV_ERR_INVAL when path names (through symbolic links)
 * something other than a regular file (a device, FIFO, socket, directory);
 * on failure out holds nothing to release. */
VV_EXPORT int vv_outfile_open(struct vv_outfile *out, const char *path, unsigned int mode,
			      unsigned flags) VV_MUST_CHECK;

/* Appends n bytes.  Returns 0 or VV_ERR_IO. */
VV_EXPORT int vv_outfile_write(struct vv_outfile *out, const void *p, size_t n) VV_MUST_CHECK;

/* Flushes the file to disk and gives it its name.  With replace an existing
 * regular file of that name is replaced atomically; without, an existing
 * one makes it fail with VV_ERR_EXISTS.  A target that has meanwhile become
 * a device, FIFO, socket or directory is refused (VV_ERR_INVAL) and left
 * alone.  Either way out is released; on failure no file is left.  Once the
 * file has its name, a failing close() is only warned about: the data was
 * synced.  Returns 0, VV_ERR_EXISTS, VV_ERR_INVAL or VV_ERR_IO. */
VV_EXPORT int vv_outfile_commit(struct vv_outfile *out, bool replace) VV_MUST_CHECK;

/*
 * Commits two files that belong together (a key pair): first, then last,
 * each as vv_outfile_commit does.  If last cannot be committed, first is
 * undone: with replace the file it replaced was kept under a hidden name
 * (a hard link) and is put back; without, the new file is removed if path
 * still names it.  So a failure leaves both names as they were (unless
 * putting back fails too, which is reported).  Refuses (VV_ERR_INVAL, first
 * undone) when last names the file first has just become, and reports it
 * when, once committed, the two paths turn out to be one directory entry
 * (a case-insensitive file system, a folder swapped meanwhile).  Both outs
 * are released.  Returns 0, VV_ERR_INVAL, or the errors of
 * vv_outfile_commit (VV_ERR_IO also when the old first file cannot be kept).
 */
VV_EXPORT int vv_outfile_commit_pair(struct vv_outfile *first, struct vv_outfile *last,
				     bool replace) VV_MUST_CHECK;

/* Whether paths a and b name the same file: the same name in the same
 * folder (resolved with realpath, so "a.sec", "./a.sec" and a path through a
 * symbolic link to the folder match), or, for files that exist, the same
 * file (st_dev, st_ino) through a symbolic or a hard link. */
VV_EXPORT bool vv_outfile_same_file(const char *a, const char *b);

/* Drops the file: nothing appears under path.  With wipe, the whole file
 * (its real size, also bytes of a write that failed midway) is first
 * overwritten with zeros (best effort: a copy-on-write or flash file system
 * may keep the old blocks).  Releases out; safe to call twice. */
VV_EXPORT void vv_outfile_abort(struct vv_outfile *out, bool wipe);

/* A vv_c4gh_sink_fn-shaped writer: ctx is a struct vv_outfile. */
VV_EXPORT int vv_outfile_sink(void *ctx, const uint8_t *p, size_t n) VV_MUST_CHECK;

/*
 * JSON: every JSON text varvault reads goes through this one parser, so
 * that json-c's tokener is used from one place with one set of bounds.
 * Parses len bytes of buf (no NUL needed; a NUL byte inside is refused) as
 * one JSON object: strict syntax, valid UTF-8, nesting at most
 * VV_JSON_MAX_DEPTH, at most VV_JSON_MAX_BYTES, nothing but white space
 * after the value.  what names the text in errors ("config.json"); the
 * detail also gives the byte offset and line where parsing stopped, never
 * the text itself.  On success *out is a new json-c object the caller
 * releases with json_object_put(); on failure *out is NULL.  Returns 0,
 * VV_ERR_FORMAT, VV_ERR_RANGE (too large) or VV_ERR_NOMEM.  Thread-safe.
 */
#define VV_JSON_MAX_DEPTH 16
#define VV_JSON_MAX_BYTES ((size_t)256 << 20)
struct json_object;
VV_EXPORT int vv_json_parse(const char *buf, size_t len, const char *what,
			    struct json_object **out) VV_MUST_CHECK;
/* The same with a tighter nesting limit (1..VV_JSON_MAX_DEPTH), for texts
 * from a peer; VV_ERR_INVAL for a limit outside that range. */
VV_EXPORT int vv_json_parse_depth(const char *buf, size_t len, const char *what, int depth,
				  struct json_object **out) VV_MUST_CHECK;

/* A key that json-c would have kept silently: it keeps the last of repeated
 * keys, so a text that repeats one means what its last copy says while
 * another reader may take the first. */
struct vv_json_dup {
	char key[128];    /* the repeated key (or the key holding a NUL), cut to fit */
	char parent[128]; /* the key of the enclosing object, "" at the top */
	bool nul;         /* the key holds a NUL character (json-c cuts it there) */
};
/* Looks for a key repeated in one object, in the top object of buf and in
 * objects nested up to levels deep (1: the top only).  buf must already
 * have parsed with vv_json_parse.  Returns 0 when every key is unique, 1
 * with *dup filled at the first repeat (or NUL-holding key), or
 * VV_ERR_INVAL / VV_ERR_NOMEM / VV_ERR_INTERNAL. */
VV_EXPORT int vv_json_unique_keys(const char *buf, size_t len, int levels,
				  struct vv_json_dup *dup) VV_MUST_CHECK;

#endif /* VARVAULT_CORE_H */
