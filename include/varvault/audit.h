/*
 * varvault audit: a tamper-evident, append-only log of who did what to which
 * sample, kept in the daemon's SQLite database next to the data it describes.
 *
 * Integrity has three layers, each checked by vv_audit_verify (and by
 * `varvault-admin audit verify`, which trusts nothing on the appliance):
 *   1. Each record's canonical bytes (vv_audit_record_canon: JSON with a fixed
 *      key order, no spaces) are a leaf of an RFC 9162 Merkle tree (SHA-256,
 *      0x00 leaf and 0x01 node prefixes).  The right frontier of the tree
 *      (one hash per set bit of the size) is kept, so an append costs
 *      O(log n) hashes.
 *   2. Each record carries a forward-secure MAC: HMAC-SHA-256 of its leaf
 *      hash (SHA-256(0x00 || leaf), which covers every byte) under key_i,
 *      where key_0 (k0) is made by `varvault-admin audit keygen` and kept
 *      offline by the operator, and key_{i+1} = SHA-256("varvault audit key
 *      evolve" || key_i); the old key is wiped as soon as the next exists.  A
 *      thief who reads the current key cannot re-MAC older records.
 *   3. Every N records or T seconds a checkpoint in the C2SP tlog-checkpoint
 *      signed-note format (origin, size, base64 root hash, Ed25519 signature
 *      line) is signed with the appliance's audit key and stored.  Copies of
 *      checkpoints held outside the box (clients, the journal, the
 *      compliance officer) detect a rollback, truncation or fork.
 *
 * Tables (created by vv_audit_open if absent; triggers make the first two
 * refuse UPDATE and DELETE):
 *   audit_records(seq, time_us, leaf, mac)     seq = leaf index, from 0
 *   audit_checkpoints(size, time_us, root, note)
 *   audit_nodes(level, idx, hash)              perfect subtrees >= 256 leaves
 *   audit_state(one row: size, frontier, current MAC key, last checkpoint)
 * The state row changes with every append; it is the only mutable table.
 * Because every append reads and writes the state inside the caller's
 * transaction, a rollback of the action rolls the audit state back with it:
 * nothing is cached between calls except the signing key.
 *
 * Records never hold genotypes, sequence or VCF content: the fields below are
 * identities, opaque ids, hashes and short reasons.  Callers must not put
 * sample data in `reason`.
 *
 * Threads: a vv_audit may be used by one thread at a time (it holds the
 * MAC key buffer while an append runs); the daemon serialises appends
 * through the store's connection lock.  The verifier and the proof functions are reentrant.
 *
 * Errors: 0 or a negative VV_ERR_* (VV_ERR_AUDIT_* for audit-specific ones),
 * with a detail naming the table, seq or file; never key bytes.
 */
#ifndef VARVAULT_AUDIT_H
#define VARVAULT_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "varvault/core.h"

struct sqlite3;
struct json_object;

#define VV_AUDIT_HASH_LEN 32
/* Longest origin line of a checkpoint (bytes). */
#define VV_AUDIT_ORIGIN_MAX 128
/* Longest text field of a record (subject, reason, ...), in bytes; longer
 * input is refused with VV_ERR_INVAL so that nothing is silently cut. */
#define VV_AUDIT_FIELD_MAX 512
/* Longest checkpoint note (bytes). */
#define VV_AUDIT_NOTE_MAX 1024

/* Event kinds. */
#define VV_AUDIT_EV_REQUEST "request"
#define VV_AUDIT_EV_JOB "job"
#define VV_AUDIT_EV_SYSTEM "system"

enum vv_audit_outcome { VV_AUDIT_OK = 0, VV_AUDIT_DENIED, VV_AUDIT_FAILED };

/*
 * One record as the caller describes it.  Every pointer may be NULL (the key
 * is then absent from the record), except event and action.  Strings are
 * UTF-8 without control characters, at most VV_AUDIT_FIELD_MAX bytes.
 */
typedef struct vv_audit_record {
	int64_t time_us;          /* UTC microseconds since the epoch; 0: now */
	const char *event;        /* VV_AUDIT_EV_* (required) */
	const char *action;       /* verb or job event: "submit", "job.decrypted", "start" (required) */
	const char *actor_subject;      /* certificate subject */
	const char *actor_fingerprint;  /* SHA-256 of the certificate, 64 lowercase hex */
	const char *actor_role;         /* "submitter", "auditor", "admin", ... */
	int64_t peer_uid;         /* < 0: absent (TCP peers have none) */
	int64_t peer_pid;         /* < 0: absent */
	const char *job;          /* job id */
	const char *sample;       /* sample pseudonym (never a name) */
	const char *ciphertext_sha256;  /* 64 hex */
	const char *model_sha256;       /* 64 hex */
	const char *policy_sha256;      /* 64 hex */
	enum vv_audit_outcome outcome;
	const char *reason;       /* why denied/failed (an error name), or NULL */
	const char *request_id;
} vv_audit_record;

/* A record with every pointer NULL, peer uid/pid absent, outcome OK. */
VV_EXPORT void vv_audit_record_init(vv_audit_record *r);
/* "ok", "denied", "failed" (static), or NULL when o is out of range. */
VV_EXPORT const char *vv_audit_outcome_name(enum vv_audit_outcome o);

/*
 * The canonical encoding of a record with its seq: a JSON object with keys
 * in this fixed order, absent keys omitted, no whitespace:
 *   seq, time (RFC 3339 UTC with 6 fraction digits), event, action,
 *   actor{subject,fingerprint,role}, peer{uid,pid},
 *   object{job,sample,ciphertext_sha256,model_sha256,policy_sha256},
 *   outcome, reason, request_id
 * (actor/peer/object are omitted when all their keys are absent).  These
 * bytes are the Merkle leaf and what the MAC covers.  *out is malloc'd and
 * NUL-terminated; *len excludes the NUL.  VV_ERR_INVAL for a bad field.
 */
VV_EXPORT int vv_audit_record_canon(const vv_audit_record *r, uint64_t seq, char **out, size_t *len) VV_MUST_CHECK;

/*
 * Parses a stored leaf (canonical JSON) into a json-c object of the shape
 * the daemon's audit.query returns (the same keys as the leaf).  *out is a
 * new reference (json_object_put).  VV_ERR_FORMAT if leaf is not a JSON
 * object.  Daemon and report renderer share this so they agree.
 */
VV_EXPORT int vv_audit_record_to_json(const char *leaf, size_t len, struct json_object **out) VV_MUST_CHECK;

/* ---- The writer ---- */

typedef struct vv_audit vv_audit;

typedef struct vv_audit_opts {
	/* The checkpoint origin line (e.g. "varvault.example/lab1/audit"):
	 * printable ASCII without '+' or spaces at the ends, unique per log. */
	const char *origin;
	/* File written by `varvault-admin audit keygen`: the signed-note private
	 * key ("PRIVATE+KEY+<name>+<hash>+<base64>").  Read into secret memory. */
	const char *signing_key_path;
	/* k0 file (64 hex characters), read only when the log is new (no state
	 * row yet).  The operator then removes it from the appliance and keeps it
	 * offline: it is what lets the verifier check every MAC.  May be NULL
	 * once the log exists. */
	const char *k0_path;
	/* A checkpoint every this many records (0: 1000) ... */
	uint32_t checkpoint_every;
	/* ... or when an append comes this many seconds after the last one
	 * (0: 300).  A timer in the caller should call vv_audit_checkpoint too,
	 * so a quiet log is still checkpointed. */
	uint32_t checkpoint_seconds;
} vv_audit_opts;

/*
 * Creates the audit tables and triggers if absent (in its own transaction;
 * call outside any) and loads the signing key.  If the log has no state row
 * yet, reads k0 from o->k0_path (VV_ERR_AUDIT_KEY if missing) and starts the
 * log at size 0.  A log whose stored checkpoints name another origin or key
 * is refused (VV_ERR_AUDIT_KEY).  *out: free with vv_audit_free.
 */
VV_EXPORT int vv_audit_open(struct sqlite3 *db, const vv_audit_opts *o, vv_audit **out) VV_MUST_CHECK;
/* Wipes the signing key and frees.  NULL-safe. */
VV_EXPORT void vv_audit_free(vv_audit *a);

/*
 * Appends one record.  MUST be called inside a write transaction the caller
 * opened on db (BEGIN IMMEDIATE), the one of the action it records: if this
 * fails, the caller rolls back and the action fails; if the caller rolls
 * back later, the record and the key evolution vanish with it.
 * Assigns the next seq (*seq_out, may be NULL), writes the record and MAC,
 * updates the frontier and evolves the key, and writes a checkpoint when
 * one is due (*checkpointed, may be NULL, says so: the caller then sends
 * vv_audit_latest_checkpoint to the journal after its COMMIT).
 */
VV_EXPORT int vv_audit_append(vv_audit *a, struct sqlite3 *db, const vv_audit_record *r, uint64_t *seq_out,
			      bool *checkpointed) VV_MUST_CHECK;
/* vv_audit_append in its own BEGIN IMMEDIATE .. COMMIT, for events that
 * have no other database write (denied requests, start, stop). */
VV_EXPORT int vv_audit_append_tx(vv_audit *a, struct sqlite3 *db, const vv_audit_record *r, uint64_t *seq_out,
				 bool *checkpointed) VV_MUST_CHECK;
/* Writes a checkpoint of the current size unless one of that size is
 * stored already (checkpoints are keyed by size: a quiet log keeps its last
 * one).  Call it from a timer every checkpoint_seconds and at stop.  In its
 * own transaction when db is in autocommit mode, else in the caller's.
 * *made (may be NULL): whether one was written (send it to the journal). */
VV_EXPORT int vv_audit_checkpoint(vv_audit *a, struct sqlite3 *db, bool *made) VV_MUST_CHECK;

/* ---- Reading (daemon side: query, export, proofs) ---- */

/* The number of records (the tree size). */
VV_EXPORT int vv_audit_size(struct sqlite3 *db, uint64_t *size) VV_MUST_CHECK;
/* The most recent stored checkpoint note (malloc'd, NUL-terminated) and its
 * size.  VV_ERR_NOTFOUND when none is stored yet. */
VV_EXPORT int vv_audit_latest_checkpoint(struct sqlite3 *db, char **note, uint64_t *size) VV_MUST_CHECK;
/* The stored checkpoint of exactly this size.  VV_ERR_NOTFOUND if none. */
VV_EXPORT int vv_audit_checkpoint_at(struct sqlite3 *db, uint64_t size, char **note) VV_MUST_CHECK;
/* Copies the leaf of seq (malloc'd, NUL-terminated).  VV_ERR_NOTFOUND. */
VV_EXPORT int vv_audit_leaf(struct sqlite3 *db, uint64_t seq, char **leaf, size_t *len) VV_MUST_CHECK;
/*
 * Proofs over the first `size` records of the stored log (size <= the
 * log's size, else VV_ERR_NOTFOUND).  *proof is malloc'd, *n hashes of 32
 * bytes.  Perfect subtrees of 256 or more leaves come from audit_nodes (a
 * cache written by each append, in its transaction); smaller ranges are
 * hashed from their leaves: O(log^2 n) lookups and a few hundred leaf
 * hashes per proof.  The client checks every proof against signed roots, so
 * a damaged cache makes proofs fail loudly, never pass wrongly.
 */
VV_EXPORT int vv_audit_inclusion_proof(struct sqlite3 *db, uint64_t seq, uint64_t size, uint8_t **proof,
				       size_t *n) VV_MUST_CHECK;
VV_EXPORT int vv_audit_consistency_proof(struct sqlite3 *db, uint64_t old_size, uint64_t size, uint8_t **proof,
					 size_t *n) VV_MUST_CHECK;

/* ---- Merkle tree primitives (RFC 9162 section 2.1) ---- */

/* SHA-256(0x00 || data). */
VV_EXPORT void vv_audit_merkle_leaf_hash(const void *data, size_t len, uint8_t out[VV_AUDIT_HASH_LEN]);
/* SHA-256(0x01 || left || right). */
VV_EXPORT void vv_audit_merkle_node_hash(const uint8_t left[VV_AUDIT_HASH_LEN], const uint8_t right[VV_AUDIT_HASH_LEN],
				   uint8_t out[VV_AUDIT_HASH_LEN]);
/* MTH over n leaf hashes (n == 0: SHA-256 of the empty string). */
VV_EXPORT void vv_audit_merkle_root(const uint8_t (*leaves)[VV_AUDIT_HASH_LEN], size_t n, uint8_t out[VV_AUDIT_HASH_LEN]);
/* Inclusion proof of leaf index for a tree of n leaf hashes: *proof gets a
 * malloc'd array of *plen hashes.  VV_ERR_INVAL if index >= n. */
VV_EXPORT int vv_audit_merkle_inclusion_proof(const uint8_t (*leaves)[VV_AUDIT_HASH_LEN], size_t n, size_t index,
					uint8_t **proof, size_t *plen) VV_MUST_CHECK;
/* Consistency proof from size m to size n (0 < m <= n).  VV_ERR_INVAL. */
VV_EXPORT int vv_audit_merkle_consistency_proof(const uint8_t (*leaves)[VV_AUDIT_HASH_LEN], size_t n, size_t m,
					  uint8_t **proof, size_t *plen) VV_MUST_CHECK;
/* RFC 9162 2.1.3.2: 0 if the proof shows leaf_hash at index in the tree of
 * size with this root; VV_ERR_AUDIT_PROOF otherwise. */
VV_EXPORT int vv_audit_merkle_verify_inclusion(uint64_t index, uint64_t size, const uint8_t leaf_hash[VV_AUDIT_HASH_LEN],
					 const uint8_t *proof, size_t plen,
					 const uint8_t root[VV_AUDIT_HASH_LEN]) VV_MUST_CHECK;
/* RFC 9162 2.1.4.2: 0 if the proof shows the tree (size1, root1) is a prefix
 * of (size2, root2); VV_ERR_AUDIT_CONSISTENCY otherwise. */
VV_EXPORT int vv_audit_merkle_verify_consistency(uint64_t size1, uint64_t size2, const uint8_t root1[VV_AUDIT_HASH_LEN],
					   const uint8_t root2[VV_AUDIT_HASH_LEN], const uint8_t *proof,
					   size_t plen) VV_MUST_CHECK;

/* ---- Signed notes (c2sp.org/signed-note) and checkpoints (c2sp.org/tlog-checkpoint) ---- */

/*
 * Makes an Ed25519 key pair for signed notes named name.  *skey and *vkey
 * are malloc'd strings: "PRIVATE+KEY+<name>+<hash8>+<base64(0x01||seed)>"
 * (the caller wipes it with sodium_memzero before free) and
 * "<name>+<hash8>+<base64(0x01||pubkey)>".
 */
VV_EXPORT int vv_audit_note_keygen(const char *name, char **skey, char **vkey) VV_MUST_CHECK;
/* Signs text (which must end in '\n') with a private key string: *out is
 * text, a blank line and the signature line "— <name> <base64(hash4||sig)>".
 * The key is decoded into secret memory and wiped. */
VV_EXPORT int vv_audit_note_sign(const char *skey, const char *text, char **out) VV_MUST_CHECK;
/* Verifies a signed note against a verifier key string.  0 if a signature
 * line for this key verifies; *text_len (may be NULL) gets the length of
 * the signed text (through its final '\n').  VV_ERR_AUDIT_SIG if a line for
 * this key is present but bad, or none is present; VV_ERR_FORMAT when the
 * note or key is malformed. */
VV_EXPORT int vv_audit_note_verify(const char *vkey, const char *note, size_t *text_len) VV_MUST_CHECK;
/* Parses the body of a checkpoint note: origin line, size, root hash.
 * origin_out holds VV_AUDIT_ORIGIN_MAX + 1 bytes (may be NULL).  Extension
 * lines are allowed and ignored.  VV_ERR_FORMAT with the line named. */
VV_EXPORT int vv_audit_checkpoint_parse(const char *note, char *origin_out, uint64_t *size,
				  uint8_t root[VV_AUDIT_HASH_LEN]) VV_MUST_CHECK;

/* ---- Offline verification ---- */

/* What the verifier found wrong (VV_AUDIT_V_OK when nothing). */
enum vv_audit_problem {
	VV_AUDIT_V_OK = 0,
	VV_AUDIT_V_SCHEMA,       /* tables or triggers missing / altered */
	VV_AUDIT_V_SEQ,          /* seq gap, duplicate or out of order (deleted / swapped record) */
	VV_AUDIT_V_RECORD,       /* a leaf is not canonical, or its seq/time disagrees with its row */
	VV_AUDIT_V_MAC,          /* a record's MAC does not verify under the evolved key */
	VV_AUDIT_V_CHECKPOINT_SIG,   /* a stored checkpoint's signature is bad or by another key */
	VV_AUDIT_V_CHECKPOINT_ROOT,  /* a stored checkpoint's root is not the recomputed one */
	VV_AUDIT_V_EXTERNAL_SIG,     /* a given checkpoint does not verify with the public key */
	VV_AUDIT_V_TRUNCATED,    /* a given checkpoint is larger than the log (records dropped) */
	VV_AUDIT_V_FORK,         /* a given checkpoint's root differs from the log's at its size */
	VV_AUDIT_V_STATE,        /* the state row (size or frontier) disagrees with the records */
};

/* Short stable name of a problem ("mac", "fork", ...) for --json. */
VV_EXPORT const char *vv_audit_problem_name(enum vv_audit_problem p);

typedef struct vv_audit_verify_opts {
	const char *vkey;            /* verifier key string (audit.pub contents); required */
	const uint8_t *k0;           /* 32 bytes, or NULL: MACs are not checked */
	const char *const *checkpoints;  /* notes held outside the box */
	size_t n_checkpoints;
	const char *const *checkpoint_names;  /* names for messages (file names), may be NULL */
} vv_audit_verify_opts;

typedef struct vv_audit_verify_result {
	enum vv_audit_problem problem;   /* the first problem found */
	int64_t bad_seq;                 /* the first bad record, or -1 */
	uint64_t records;                /* records read */
	uint64_t checkpoints_checked;    /* stored checkpoints verified */
	uint64_t external_checked;       /* given checkpoints verified */
	bool macs_checked;
	uint8_t root[VV_AUDIT_HASH_LEN]; /* the recomputed root of the whole log */
	char message[512];               /* what is wrong, naming seq / checkpoint */
} vv_audit_verify_result;

/*
 * Reads every table of the audit log on db (a copy; opened read-only by the
 * caller), recomputes the tree, checks each stored checkpoint's signature
 * and root, each given checkpoint's signature and consistency with the log,
 * and the MAC chain from k0.  Returns 0 when the checks could run, whatever
 * they found (res->problem says); < 0 only when they could not (I/O, memory,
 * malformed key).  Records are checked in seq order and the first problem
 * found is reported; checkpoint problems are reported after the first bad
 * record they cover, so res names the earliest damage.
 */
VV_EXPORT int vv_audit_verify(struct sqlite3 *db, const vv_audit_verify_opts *o,
			      vv_audit_verify_result *res) VV_MUST_CHECK;
/* vv_audit_verify on the database file at path, opened read-only (a copy
 * taken off the appliance; with its -wal file if it has one).  VV_ERR_IO /
 * VV_ERR_DB_CORRUPT when it cannot be opened or is not a database. */
VV_EXPORT int vv_audit_verify_file(const char *path, const vv_audit_verify_opts *o,
				   vv_audit_verify_result *res) VV_MUST_CHECK;
/* Reads a k0 file (64 hex characters and an optional newline) into k0,
 * which should be secret memory.  VV_ERR_AUDIT_KEY naming the file. */
VV_EXPORT int vv_audit_read_k0(const char *path, uint8_t k0[32]) VV_MUST_CHECK;

#endif
