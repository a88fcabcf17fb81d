/* Declarations shared inside src/net (not part of the public API). */
#ifndef VARVAULT_NET_INT_H
#define VARVAULT_NET_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <openssl/x509.h>

#include "varvault/net.h"

/* Writes n bytes to path whole or not at all: a temporary file beside it
 * (mode), fsync, then rename (replace) or link (no replace: VV_ERR_EXISTS if
 * path exists), and an fsync of the directory.  With owner (may be NULL)
 * and the process running as root, the file is given owner's st_uid and
 * st_gid before it appears, so that what varvault-admin writes as root into
 * the daemon's folders stays usable by the daemon's user. */
int vv_net_file_write(const char *path, const void *p, size_t n, mode_t mode, bool replace,
		      const struct stat *owner) VV_MUST_CHECK;

/* Gives the open regular file fd owner's st_uid and st_gid when the process
 * runs as root and owner is not NULL; nothing otherwise.  path names fd in
 * the error. */
int vv_net_file_own(int fd, const char *path, const struct stat *owner) VV_MUST_CHECK;

/* The first OpenSSL error queued on this thread as text ("" if none), and
 * clears the queue.  Never key material: OpenSSL's reason strings. */
const char *vv_net_ossl_reason(char *buf, size_t cap);

/* Records err with "what: <OpenSSL reason>" and clears OpenSSL's queue. */
int vv_net_ossl_err(int err, const char *what);

/* SHA-256 of a certificate's DER encoding as lowercase hex. */
int vv_net_cert_sha256(X509 *x, char out[65]) VV_MUST_CHECK;

/* Loads the first certificate of a PEM file. */
int vv_net_cert_load(const char *path, X509 **out) VV_MUST_CHECK;

/* Monotonic clock in milliseconds, for deadlines. */
int64_t vv_net_now_ms(void);

/* vv_net_read / vv_net_write against an absolute deadline (vv_net_now_ms
 * scale), so that a frame's header and payload share one deadline. */
int vv_net_read_until(vv_net_conn *c, void *buf, size_t n, int64_t deadline) VV_MUST_CHECK;
int vv_net_write_until(vv_net_conn *c, const void *buf, size_t n, int64_t deadline) VV_MUST_CHECK;

#endif /* VARVAULT_NET_INT_H */
