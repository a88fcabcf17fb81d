/* Private to varvaultd and varvault-admin: varvaultd.conf, read through
 * core's vv_conf, and the layout of the state directory it points to. */
#ifndef VARVAULT_DAEMON_CONFIG_H
#define VARVAULT_DAEMON_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "varvault/core.h"

/* Where varvault-admin and varvaultd look without --config. */
#define VV_DCONF_DEFAULT "/etc/varvault/varvaultd.conf"
/* Default socket when init is given none. */
#define VV_DCONF_DEFAULT_SOCKET "/run/varvault/varvaultd.sock"

/* Files under the state directory (joined with state_dir). */
#define VV_DCONF_C4GH_KEY "keys/c4gh.sec"
#define VV_DCONF_MASTER_KEY "keys/master.key"
#define VV_DCONF_SERVER_CRT "keys/server.crt"
#define VV_DCONF_SERVER_KEY "keys/server.key"
#define VV_DCONF_CA_DIR "ca"
/* The audit log's keys (varvault-admin init / audit keygen make them):
 * the signed-note signing key, its verifier key, and k0, the first MAC key,
 * which the operator moves off the box once the log has started. */
#define VV_DCONF_AUDIT_KEY "keys/audit.key"
#define VV_DCONF_AUDIT_PUB "keys/audit.pub"
#define VV_DCONF_AUDIT_K0 "keys/audit.k0"
#define VV_DCONF_MODELS "models"
/* The manifest that model import writes beside an imported model:
 * "<sha256 hex>  <file>" lines, as sha256sum prints them. */
#define VV_DCONF_MODEL_MANIFEST "SHA256SUMS"

/* The daemon's settings, every path absolute or as written in the file;
 * every string malloc'd (vv_dconf_done frees). */
struct vv_dconf {
	char *path;            /* the file read */
	char *state_dir;       /* [daemon] state_dir (required) */
	char *socket;          /* [daemon] socket (required) */
	unsigned workers;      /* [daemon] workers: jobs at once (default 2) */
	unsigned job_time_limit; /* [daemon] job_time_limit seconds (default 86400) */
	unsigned max_connections; /* [daemon] max_connections (default 32) */
	unsigned request_timeout_ms;   /* [daemon] request_timeout seconds (default 30) */
	unsigned handshake_timeout_ms; /* [daemon] handshake_timeout seconds (default 10) */
	uint64_t max_upload;
	uint64_t worker_cpu_seconds; /* [daemon] worker_cpu_seconds: RLIMIT_CPU of a worker (default 86400; 0: none) */
	uint64_t worker_memory_max;  /* [daemon] worker_memory_max: RLIMIT_AS of a worker, K/M/G (default 32G; 0: none) */
	unsigned chunk_variants; /* [daemon] chunk: variants per result chunk (0: 1024); a
	                          * restart resumes after the last stored chunk */   /* [daemon] max_upload bytes, K/M/G suffix (default 4G) */
	char *user;            /* [daemon] user: the service user when started as root
	                        * (default varvault) */
	unsigned stop_grace;   /* [daemon] stop_grace seconds: how long SIGTERM waits for
	                        * running workers to finish their current chunk (default 30) */
	uint64_t max_records;    /* [daemon] max_records: data records of one VCF, K/M/G
	                          * suffix (default 100M); more refuses the job */
	uint64_t max_text_bytes; /* [daemon] max_text_bytes: decompressed bytes of one VCF,
	                          * K/M/G suffix (default 64G); more refuses the job */
	char *c4gh_key;        /* [keys] c4gh (default state_dir/keys/c4gh.sec) */
	char *master_key;      /* [keys] master (default state_dir/keys/master.key) */
	char *tls_cert;        /* [tls] cert (default state_dir/keys/server.crt) */
	char *tls_key;         /* [tls] key (default state_dir/keys/server.key) */
	char *ca_dir;          /* [tls] ca_dir: the local CA (default state_dir/ca; "" for none) */
	char *tls_ca;          /* [tls] ca: client CA certificate (default ca_dir/ca.crt) */
	char *tls_crl;         /* [tls] crl (default ca_dir/crl.pem; NULL with a lab CA and none set) */
	char *access;          /* [access] policy (required) */
	char *model_name;      /* [model] name (required) */
	char *model_dir;       /* state_dir/models/<name> */
	char *reference;       /* [model] reference FASTA (required) */
	char *evidence;        /* [model] evidence policy (required) */
	char *scores;          /* [model] precomputed SNV score table, or NULL */
	unsigned threads;      /* [model] threads per worker (0: one per CPU) */
	char *audit_key;       /* [audit] signing_key (default state_dir/keys/audit.key) */
	char *audit_pub;       /* [audit] public_key (default state_dir/keys/audit.pub) */
	char *audit_k0;        /* [audit] k0 (default state_dir/keys/audit.k0; read once, when the log starts) */
	char *audit_origin;    /* [audit] origin: the checkpoints' origin line (default "varvault/<host>/audit") */
	unsigned audit_every;  /* [audit] checkpoint_records (default 1000) */
	unsigned audit_seconds;/* [audit] checkpoint_seconds (default 60) */
};

/* Reads path into c (zeroed first).  VV_ERR_FORMAT naming file, line and
 * key for a bad value or an unknown key; VV_ERR_IO; VV_ERR_NOMEM. */
int vv_dconf_load(const char *path, struct vv_dconf *c) VV_MUST_CHECK;
void vv_dconf_done(struct vv_dconf *c);

/* "varvault/<host name>/audit": the audit origin when [audit] origin is not
 * set (init writes it into the file, so that a new host name later does
 * not change it: the log refuses another origin). */
void vv_dconf_default_origin(char *buf, size_t n);

/* malloc'd "a/b" (NULL when out of memory). */
char *vv_dconf_join(const char *a, const char *b);

/* Checks an imported model directory against its manifest: every file
 * listed must hash to its recorded SHA-256, and config.json,
 * model.safetensors and vocab.txt must be listed.  VV_ERR_AUTH naming the
 * file that differs; VV_ERR_NOTFOUND, VV_ERR_IO, VV_ERR_FORMAT. */
int vv_dconf_model_verify(const char *model_dir) VV_MUST_CHECK;

/* SHA-256 of a file, streamed, as lowercase hex. */
int vv_dconf_sha256_file(const char *path, char hex[65]) VV_MUST_CHECK;

#endif
