/*
 * varvault net: identities (a small PKI), mutual TLS 1.3 over AF_UNIX,
 * length-prefixed frames, the JSON request/response protocol and the access
 * policy.  The only module that talks to OpenSSL (STYLE rule 2; c4gh's one
 * PBKDF2 call aside): every OpenSSL failure is translated here, once, into a
 * VV_ERR_* code with a detail that names what failed ("client certificate:
 * certificate revoked", "peer offered TLS 1.2 or older", "not TLS").  No
 * detail ever carries key bytes.
 *
 * Threads: PKI functions, vv_net_server_*, vv_net_client_* and the access
 * policy may be called from any thread; a vv_net_server and a vv_net_access
 * are shared by all connection threads.  A vv_net_conn belongs to one thread
 * at a time.
 *
 * SIGPIPE: OpenSSL writes to the socket with write(2), so a peer that goes
 * away mid-write raises SIGPIPE.  Programs using this module must ignore
 * SIGPIPE (signal(SIGPIPE, SIG_IGN)); writes then fail with VV_ERR_CLOSED.
 */
#ifndef VARVAULT_NET_H
#define VARVAULT_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "varvault/core.h"

struct json_object;

/* ------------------------------------------------------------------ PKI
 * A local CA directory (the caller creates it 0700) holds:
 *   ca.key       the CA's ECDSA P-256 key (PEM, 0600)
 *   ca.crt       its self-signed certificate
 *   crl.pem      the CRL, signed by the CA (rewritten on every revocation)
 *   clients.json the index of issued client certificates (name, serial,
 *                SHA-256 fingerprint, not_after, revoked)
 * Every file is written whole or not at all (temporary file, fsync, rename,
 * directory fsync).  Keys are written 0600, PEM, unencrypted: the state
 * directory's 0700 is what protects them.  Files that hold keys are never
 * overwritten (VV_ERR_EXISTS).
 *
 * A lab's own CA can replace the local one for client verification: give
 * its certificate as ca_file to vv_net_server_new (no key needed here); the
 * functions below that sign then do not apply to its clients. */

#define VV_NET_CA_DAYS 3650       /* default CA lifetime */
#define VV_NET_CERT_DAYS 825      /* default server / client certificate lifetime */
#define VV_NET_CRL_DAYS 365       /* default CRL nextUpdate; the daemon refreshes it at start */
#define VV_NET_SERVER_NAME "varvaultd" /* CN and SAN of the appliance's certificate */
#define VV_NET_NAME_MAX 64        /* longest client name (certificate CN) */

/* One issued client certificate, as kept in clients.json. */
typedef struct vv_net_cert_info {
	char name[VV_NET_NAME_MAX + 1]; /* CN */
	char serial[41];                /* serial number, lowercase hex */
	char sha256[65];                /* SHA-256 of the DER certificate, lowercase hex */
	int64_t not_after;              /* seconds since the epoch */
	bool revoked;
	int64_t revoked_at;             /* seconds since the epoch, 0 if not revoked */
} vv_net_cert_info;

/* Whether name is a valid client name: 1..64 of [A-Za-z0-9._-], not starting
 * with '.' or '-' (it becomes a CN and a key in access.conf). */
VV_EXPORT bool vv_net_name_valid(const char *name);

/* Creates a CA in dir (which must exist): key, self-signed certificate with
 * CN cn (NULL: "varvault local CA"), valid days days (<= 0: VV_NET_CA_DAYS),
 * an empty CRL and an empty index.  VV_ERR_EXISTS if dir already holds
 * ca.key or ca.crt; VV_ERR_IO, VV_ERR_PKI. */
VV_EXPORT int vv_net_ca_create(const char *dir, const char *cn, int days) VV_MUST_CHECK;

/* Issues the appliance's server certificate (CN and DNS SAN "varvaultd",
 * extendedKeyUsage serverAuth) with a new P-256 key, signed by the CA in
 * ca_dir.  Writes cert_path and key_path (0600); refuses to overwrite
 * either (VV_ERR_EXISTS).  days <= 0: VV_NET_CERT_DAYS.  VV_ERR_NOTFOUND
 * if the CA has no key here. */
VV_EXPORT int vv_net_server_issue(const char *ca_dir, const char *cert_path, const char *key_path,
				  int days) VV_MUST_CHECK;

/* Issues a client certificate (CN = name, extendedKeyUsage clientAuth, a
 * 128-bit serial of which 127 bits are random) signed by the CA in ca_dir, and records it in the
 * index.  With csr_path, the public key comes from that PEM CSR, whose
 * signature must verify (its subject is ignored: the CN is name); key_path
 * must then be NULL.  Without, a new P-256 key is made and written to
 * key_path (0600).  cert_path gets the certificate.  Existing files are not
 * overwritten (VV_ERR_EXISTS).  days: lifetime in days; 0 means
 * VV_NET_CERT_DAYS; a negative value makes a certificate that expired
 * |days| days ago (for tests; the command line refuses it).  info, if not
 * NULL, receives the index entry.  A name may be issued again (renewal):
 * each certificate is its own entry, and revoking the name revokes all.
 * VV_ERR_INVAL (bad name), VV_ERR_PKI (CSR
 * unreadable, bad signature, weak key), VV_ERR_IO, VV_ERR_NOTFOUND. */
VV_EXPORT int vv_net_client_issue(const char *ca_dir, const char *name, const char *csr_path,
				  const char *cert_path, const char *key_path, int days,
				  vv_net_cert_info *info) VV_MUST_CHECK;

/* Revokes every unrevoked certificate whose name or serial (hex) equals
 * what, and rewrites the CRL (valid VV_NET_CRL_DAYS).  *count (may be NULL)
 * gets how many were revoked.  VV_ERR_NOTFOUND if none matched. */
VV_EXPORT int vv_net_client_revoke(const char *ca_dir, const char *what, size_t *count) VV_MUST_CHECK;

/* Rewrites ca_dir/crl.pem from the index, valid for days (<= 0:
 * VV_NET_CRL_DAYS).  An expired CRL makes every client fail (OpenSSL
 * refuses it), so the daemon calls this at start when it holds the CA. */
VV_EXPORT int vv_net_crl_write(const char *ca_dir, int days) VV_MUST_CHECK;

/* The index of issued client certificates, in issue order.  *out is
 * malloc'd (caller frees; NULL when *n is 0). */
VV_EXPORT int vv_net_client_list(const char *ca_dir, vv_net_cert_info **out, size_t *n) VV_MUST_CHECK;

/* Checks a client certificate issued elsewhere (a lab's own CA) before it is
 * bound to a role: the first certificate of the PEM file cert_path must chain
 * to the CA certificate(s) in ca_path, be valid now, and be fit for TLS
 * client authentication.  info gets its CN (empty when the CN is not a valid
 * client name), serial, fingerprint and expiry.  VV_ERR_IO, VV_ERR_PKI
 * (unreadable), VV_ERR_PEER_CERT (does not verify, naming OpenSSL's
 * reason).  Revocation is the daemon's business: a CRL may come later. */
VV_EXPORT int vv_net_client_check(const char *cert_path, const char *ca_path,
				  vv_net_cert_info *info) VV_MUST_CHECK;

/* SHA-256 fingerprint (of the DER encoding) of the first certificate in a
 * PEM file, as 64 lowercase hex digits.  VV_ERR_IO, VV_ERR_PKI. */
VV_EXPORT int vv_net_fingerprint_file(const char *cert_path, char out[65]) VV_MUST_CHECK;

/* SHA-256 of what the CRL file crl_file revokes: for each CRL in it (file
 * order), its issuer and its revoked serial numbers, sorted; not the
 * file's bytes, which change each time the same list is re-signed (the
 * daemon re-signs its CRL at every start).  out: 64 lowercase hex;
 * *revoked (may be NULL): entries over all CRLs.  For the audit log's
 * record of CRL changes.  VV_ERR_IO, VV_ERR_PKI (no or a damaged CRL). */
VV_EXPORT int vv_net_crl_digest(const char *crl_file, char out[65], size_t *revoked) VV_MUST_CHECK;

/* ------------------------------------------------------------- TLS
 * TLS 1.3 only (minimum and maximum), no session tickets, no session cache,
 * no resumption.  The server requires a client certificate that chains to
 * ca_file, and, with a CRL, is not revoked (X509_V_FLAG_CRL_CHECK on the
 * leaf).  With TLS 1.3 the client's handshake completes before the server
 * has judged the client's certificate: a client learns that it was refused
 * on its first read (VV_ERR_PEER_CERT), so it should report success only
 * after the server has answered a request. */

typedef struct vv_net_server vv_net_server;
typedef struct vv_net_client vv_net_client;
typedef struct vv_net_conn vv_net_conn;

struct vv_net_server_cfg {
	const char *cert_file; /* the appliance's certificate (PEM, may hold a chain) */
	const char *key_file;  /* its key */
	const char *ca_file;   /* CA certificate(s) that client certificates must chain to */
	const char *crl_file;  /* CRL(s) of that CA; NULL: no revocation check (a lab CA without CRL) */
};

/* Builds the server's TLS context from cfg (paths are copied and re-read by
 * vv_net_server_reload).  VV_ERR_IO, VV_ERR_PKI (unreadable or mismatched
 * files), VV_ERR_TLS, VV_ERR_NOMEM. */
VV_EXPORT int vv_net_server_new(const struct vv_net_server_cfg *cfg, vv_net_server **out) VV_MUST_CHECK;

/* Re-reads every file of the configuration (for SIGHUP: a new CRL or CA)
 * into a new context and swaps it in; connections already open keep the
 * context they started with.  On failure the old context stays in use.
 * Thread-safe against vv_net_accept. */
VV_EXPORT int vv_net_server_reload(vv_net_server *s) VV_MUST_CHECK;

/* Frees the server; connections already accepted stay valid (they hold
 * their own reference to the context).  NULL-safe. */
VV_EXPORT void vv_net_server_free(vv_net_server *s);

struct vv_net_client_cfg {
	const char *ca_file;     /* CA that the server's certificate must chain to */
	const char *cert_file;   /* client certificate; NULL: none (tests of refusals only) */
	const char *key_file;    /* its key */
	const char *server_name; /* name the server's certificate must carry; NULL: "varvaultd" */
};

VV_EXPORT int vv_net_client_new(const struct vv_net_client_cfg *cfg, vv_net_client **out) VV_MUST_CHECK;
VV_EXPORT void vv_net_client_free(vv_net_client *c);

/* Binds and listens on a Unix socket at path (mode 0660, close-on-exec).  A
 * socket already at path that nobody answers on (left by a dead daemon) is
 * replaced; a live one (the probe leaves it one connection that closes at
 * once), or anything else, is refused with VV_ERR_EXISTS.  Protect the socket's directory: the mode
 * is set after bind.  *fd gets the listening socket. */
VV_EXPORT int vv_net_listen(const char *path, int backlog, int *fd) VV_MUST_CHECK;

/* Runs the server side of a handshake on fd (an accepted AF_UNIX stream
 * socket), which must complete within timeout_ms.  Takes ownership of fd in
 * every case (closed on failure).  On success *out is a new connection
 * whose peer identity is known (vv_net_conn_peer).  Errors: VV_ERR_TIMEOUT,
 * VV_ERR_PEER_CERT ("client certificate: none offered", "...: certificate
 * revoked", "...: certificate has expired", "...: unable to get local
 * issuer certificate"), VV_ERR_TLS ("peer offered TLS 1.2 or older", "not
 * TLS", ...), VV_ERR_CLOSED, VV_ERR_IO, VV_ERR_NOMEM. */
VV_EXPORT int vv_net_accept(vv_net_server *s, int fd, int timeout_ms, vv_net_conn **out) VV_MUST_CHECK;

/* Connects to the Unix socket at path and runs the client side of the
 * handshake, all within timeout_ms; checks the server's certificate (chain
 * to ca_file, name).  Errors as vv_net_accept, and VV_ERR_IO (no socket
 * there: errno kept), VV_ERR_BUSY (the listen backlog stayed full). */
VV_EXPORT int vv_net_connect(vv_net_client *c, const char *path, int timeout_ms, vv_net_conn **out) VV_MUST_CHECK;

/* Reads exactly n bytes within timeout_ms (one deadline for the whole call,
 * so a peer trickling one byte a second still fails with VV_ERR_TIMEOUT).
 * VV_ERR_CLOSED if the peer ends the stream first (cleanly or not; a
 * clean end before the first byte is also VV_ERR_CLOSED), VV_ERR_PEER_CERT
 * if the server refused our certificate, VV_ERR_TLS, VV_ERR_IO. */
VV_EXPORT int vv_net_read(vv_net_conn *c, void *buf, size_t n, int timeout_ms) VV_MUST_CHECK;

/* Writes exactly n bytes within timeout_ms.  Errors as vv_net_read. */
VV_EXPORT int vv_net_write(vv_net_conn *c, const void *buf, size_t n, int timeout_ms) VV_MUST_CHECK;

/* Sends close_notify (best effort, without waiting), closes the socket and
 * frees the connection.  NULL-safe. */
VV_EXPORT void vv_net_close(vv_net_conn *c);

/* Who is at the other end, known once the handshake is done. */
typedef struct vv_net_peer {
	char subject[512];  /* RFC 2253 subject of the leaf certificate, controls and non-ASCII escaped */
	char cn[VV_NET_NAME_MAX + 1]; /* its CN if printable ASCII of at most 64 bytes, else "" */
	char sha256[65];    /* SHA-256 of the leaf certificate (DER), lowercase hex */
	bool has_cred;      /* uid/gid/pid below come from SO_PEERCRED */
	uid_t uid;
	gid_t gid;
	pid_t pid;
} vv_net_peer;

/* The peer of c (owned by c). */
VV_EXPORT const vv_net_peer *vv_net_conn_peer(const vv_net_conn *c);

/* --------------------------------------------------------------- frames
 * A frame is a 4-byte big-endian length and that many payload bytes, at
 * most VV_NET_FRAME_MAX.  An empty frame ends a stream of binary frames. */

#define VV_NET_FRAME_MAX (1u << 20)

/* Decodes a frame from the start of buf (pure; for parsers and fuzzing).
 * Returns 1 with *payload (points into buf), *plen and *used set; 0 if
 * buf holds no whole frame yet; VV_ERR_FRAME_SIZE if the announced length
 * exceeds max (max <= VV_NET_FRAME_MAX; 0 means VV_NET_FRAME_MAX). */
VV_EXPORT int vv_net_frame_decode(const uint8_t *buf, size_t len, size_t max, const uint8_t **payload,
				  size_t *plen, size_t *used) VV_MUST_CHECK;

/* Writes one frame of n bytes (n <= VV_NET_FRAME_MAX, else VV_ERR_FRAME_SIZE)
 * within timeout_ms. */
VV_EXPORT int vv_net_frame_write(vv_net_conn *c, const void *p, size_t n, int timeout_ms) VV_MUST_CHECK;

/* Reads one frame into buf (cap bytes) within timeout_ms; *len gets its
 * length.  A frame longer than cap (or VV_NET_FRAME_MAX) is refused with
 * VV_ERR_FRAME_SIZE before any of its payload is read: the stream is then
 * out of step and the connection must be closed. */
VV_EXPORT int vv_net_frame_read(vv_net_conn *c, void *buf, size_t cap, size_t *len, int timeout_ms) VV_MUST_CHECK;

/* Reads one frame and appends its payload to b (secure memory: for result
 * bytes); *len gets its length (0: the end of a stream).  VV_ERR_RANGE if
 * b's max would be passed. */
VV_EXPORT int vv_net_frame_read_sbuf(vv_net_conn *c, vv_sbuf *b, size_t *len, int timeout_ms) VV_MUST_CHECK;

/* -------------------------------------------------------------- protocol
 * Request:  {"v":1,"verb":"status","id":"<request id>", ...parameters}
 * Response: {"v":1,"id":"<request id>","ok":true, ...data}
 *           {"v":1,"id":"<request id>","ok":false,
 *            "error":{"code":"denied","message":"..."}} */

#define VV_NET_PROTO_VERSION 1
#define VV_NET_ID_MAX 64    /* longest request id: printable ASCII */
#define VV_NET_JSON_DEPTH 8 /* deepest nesting accepted in a request */

enum vv_net_verb {
	VV_VERB_HELLO = 0,
	VV_VERB_SUBMIT,
	VV_VERB_STATUS,
	VV_VERB_LIST,
	VV_VERB_RESULT,
	VV_VERB_CANCEL,
	VV_VERB_DELETE,
	VV_VERB_AUDIT_QUERY,
	VV_VERB_AUDIT_VERIFY,
	VV_VERB_HEALTH,
	VV_VERB_AUDIT_EXPORT,     /* the leaves under the latest checkpoint */
	VV_VERB_AUDIT_PROVE,      /* an inclusion proof for one record */
	VV_VERB_AUDIT_CHECKPOINT, /* the latest checkpoint + a consistency proof (every client, as a witness) */
	VV_VERB_COUNT
};

/* The wire name of a verb ("audit.query"), or NULL if out of range. */
VV_EXPORT const char *vv_net_verb_name(enum vv_net_verb v);
/* The verb named s; VV_ERR_UNKNOWN_VERB if none. */
VV_EXPORT int vv_net_verb_parse(const char *s, enum vv_net_verb *out) VV_MUST_CHECK;

typedef struct vv_net_request vv_net_request;

/* Parses a request frame.  Checks, in order: JSON object (depth <=
 * VV_NET_JSON_DEPTH, strict, UTF-8) else VV_ERR_PROTO; "id" a string of
 * 1..VV_NET_ID_MAX printable ASCII else VV_ERR_PROTO; "v" == 1 else
 * VV_ERR_PROTO_VERSION; "verb" a known verb else VV_ERR_UNKNOWN_VERB.  On
 * any failure *out is still NULL, but *id_out (may be NULL; VV_NET_ID_MAX+1
 * bytes) gets the request id when one was readable, so the error response
 * can carry it ("" otherwise). */
VV_EXPORT int vv_net_request_parse(const void *buf, size_t len, vv_net_request **out,
				   char *id_out) VV_MUST_CHECK;
VV_EXPORT void vv_net_request_free(vv_net_request *r);
VV_EXPORT enum vv_net_verb vv_net_request_verb(const vv_net_request *r);
VV_EXPORT const char *vv_net_request_id(const vv_net_request *r);

/* The whole request object (owned by r), for parameters that the typed
 * getters below do not cover (arrays, nested objects).  Read only. */
VV_EXPORT struct json_object *vv_net_request_json(const vv_net_request *r);

/* Parameter getters.  Each returns 1 and sets *out if the field is present
 * with the right type; 0 if absent (out untouched) and required is false;
 * VV_ERR_PROTO with a detail naming the field if absent and required, or
 * present with another type (or, for ints, outside [min, max]; for strings,
 * longer than max_len bytes or holding a NUL).  Strings are owned by r. */
VV_EXPORT int vv_net_req_str(const vv_net_request *r, const char *field, bool required, size_t max_len,
			     const char **out) VV_MUST_CHECK;
VV_EXPORT int vv_net_req_int(const vv_net_request *r, const char *field, bool required, int64_t min,
			     int64_t max, int64_t *out) VV_MUST_CHECK;
VV_EXPORT int vv_net_req_bool(const vv_net_request *r, const char *field, bool required,
			      bool *out) VV_MUST_CHECK;

/* Builds a request frame's JSON text (client side): params is a JSON object
 * whose members are added (may be NULL; not consumed).  *out is malloc'd,
 * caller frees. */
VV_EXPORT int vv_net_request_build(enum vv_net_verb verb, const char *id, struct json_object *params,
				   char **out, size_t *len) VV_MUST_CHECK;

/* Builds an ok response: data's members (a JSON object, may be NULL; not
 * consumed) are added beside v, id and ok.  *out is malloc'd text. */
VV_EXPORT int vv_net_response_ok(const char *id, struct json_object *data, char **out,
				 size_t *len) VV_MUST_CHECK;
/* Builds an error response for err with message (a detail safe to show
 * the peer: no patient data, no key bytes; NULL: vv_strerror(err)). */
VV_EXPORT int vv_net_response_error(const char *id, int err, const char *message, char **out,
				    size_t *len) VV_MUST_CHECK;

/* The stable wire code of an error ("denied", "unknown_verb", ...): one
 * table for every VV_ERR_*; codes with no entry are "internal". */
VV_EXPORT const char *vv_net_err_code(int err);

/* A parsed response (client side). */
typedef struct vv_net_response {
	bool ok;
	char id[VV_NET_ID_MAX + 1];
	char code[48];             /* wire code when !ok */
	char *message;             /* malloc'd, when !ok; "" if none */
	struct json_object *json;  /* the whole response object (owned; read data from it) */
} vv_net_response;

/* Parses a response frame; VV_ERR_PROTO if it is not one (version mismatch:
 * VV_ERR_PROTO_VERSION).  Release with vv_net_response_done. */
VV_EXPORT int vv_net_response_parse(const void *buf, size_t len, vv_net_response *out) VV_MUST_CHECK;
VV_EXPORT void vv_net_response_done(vv_net_response *r);

/* ----------------------------------------------------------- access policy
 * policy/access.conf (syntax in the committed file):
 *   [roles]    role = verb verb ...
 *   [clients]  <64 hex SHA-256 fingerprint> = role [uid N]
 *              cn.<name>                    = role [uid N]
 * A fingerprint entry wins over a CN entry.  With "uid N", the peer's
 * SO_PEERCRED uid must be N. */

typedef struct vv_net_access vv_net_access;

/* Parses a policy; name is used in messages.  VV_ERR_POLICY with
 * "name:line: ..." for unknown sections, keys, verbs, roles or bad uids. */
VV_EXPORT int vv_net_access_parse(const char *buf, size_t len, const char *name,
				  vv_net_access **out) VV_MUST_CHECK;
VV_EXPORT int vv_net_access_load(const char *path, vv_net_access **out) VV_MUST_CHECK;

/* A policy never changes once parsed; it is reference-counted so that a
 * reload can swap in a new one while connection threads still use the old:
 * the daemon, under its own lock, takes vv_net_access_ref(current) per
 * request and swaps `current` on SIGHUP; vv_net_access_free drops one
 * reference (the last frees).  Both are thread-safe.  Free is NULL-safe. */
VV_EXPORT vv_net_access *vv_net_access_ref(vv_net_access *a);
VV_EXPORT void vv_net_access_free(vv_net_access *a);

/* Maps a peer to its role: *role (owned by a) is its name.  VV_ERR_DENIED
 * with a detail if the identity is not listed ("no access entry for this
 * certificate") or its uid binding does not match the peer's uid. */
VV_EXPORT int vv_net_access_lookup(const vv_net_access *a, const vv_net_peer *peer,
				   const char **role) VV_MUST_CHECK;

/* Whether role may call verb (false for an unknown role). */
VV_EXPORT bool vv_net_access_allows(const vv_net_access *a, const char *role, enum vv_net_verb verb);

/* Lookup and verb check together: 0, or VV_ERR_DENIED naming the role and
 * verb. */
VV_EXPORT int vv_net_access_check(const vv_net_access *a, const vv_net_peer *peer, enum vv_net_verb verb,
				  const char **role) VV_MUST_CHECK;

#endif /* VARVAULT_NET_H */
