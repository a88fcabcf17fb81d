/* Mutual TLS 1.3 over AF_UNIX: contexts, handshakes and exact reads/writes with deadlines. */
#include "net_int.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

struct vv_net_server {
	pthread_mutex_t mu; /* guards ctx: a reload swaps it while threads accept */
	SSL_CTX *ctx;
	char *cert, *key, *ca, *crl;
};

struct vv_net_client {
	SSL_CTX *ctx;
	char *server_name;
};

struct vv_net_conn {
	SSL *ssl; /* holds its own reference to the context it was made from */
	int fd;
	bool server; /* which side we are: errors name the other one */
	vv_net_peer peer;
};

int64_t vv_net_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t vv_deadline(int timeout_ms)
{
	return vv_net_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
}

/* Waits until fd is ready for ev or the deadline passes.  Readiness with an
 * error or hang-up also returns 0: the TLS layer then reads the reason. */
static int vv_net_wait(int fd, short ev, int64_t deadline, const char *what)
{
	struct pollfd p = {.fd = fd, .events = ev};

	for (;;) {
		int64_t left = deadline - vv_net_now_ms();
		int r;
		if (left <= 0)
			return vv_errf(VV_ERR_TIMEOUT, "%s: deadline passed", what);
		r = poll(&p, 1, left > 60000 ? 60000 : (int)left);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return vv_errf(VV_ERR_IO, "%s: poll: %s", what, strerror(errno));
	}
}

static bool vv_reason_not_tls(int reason)
{
	return reason == SSL_R_WRONG_VERSION_NUMBER || reason == SSL_R_HTTP_REQUEST ||
	       reason == SSL_R_HTTPS_PROXY_REQUEST || reason == SSL_R_PACKET_LENGTH_TOO_LONG ||
	       reason == SSL_R_UNKNOWN_PROTOCOL || reason == SSL_R_RECORD_LENGTH_MISMATCH ||
	       reason == SSL_R_UNEXPECTED_MESSAGE;
}

static bool vv_alert_is_cert(int alert)
{
	switch (alert) {
	case SSL_AD_BAD_CERTIFICATE:
	case SSL_AD_UNSUPPORTED_CERTIFICATE:
	case SSL_AD_CERTIFICATE_REVOKED:
	case SSL_AD_CERTIFICATE_EXPIRED:
	case SSL_AD_CERTIFICATE_UNKNOWN:
	case SSL_AD_UNKNOWN_CA:
	case SSL_AD_CERTIFICATE_REQUIRED:
	case SSL_AD_ACCESS_DENIED:
		return true;
	default:
		return false;
	}
}

/* An alert's name; OpenSSL 3.0 lacks the TLS 1.3 ones ("unknown"). */
static const char *vv_alert_name(int alert)
{
	switch (alert) {
	case SSL_AD_CERTIFICATE_REQUIRED:
		return "certificate required";
	case SSL_AD_MISSING_EXTENSION:
		return "missing extension";
	case SSL_AD_UNRECOGNIZED_NAME:
		return "unrecognized name";
	case SSL_AD_NO_APPLICATION_PROTOCOL:
		return "no application protocol";
	default:
		return SSL_alert_desc_string_long(alert);
	}
}

/* Translates a failed SSL_* call (ret, with OpenSSL's queue) into a vv_err
 * code with a detail naming what failed.  Called once per failure. */
static int vv_net_ssl_fail(vv_net_conn *c, int ret, const char *what)
{
	int e = SSL_get_error(c->ssl, ret), saved = errno;
	unsigned long code = ERR_peek_error();
	int reason = ERR_GET_REASON(code);
	const char *other = c->server ? "client" : "server";
	long vr;
	char buf[160];

	switch (e) {
	case SSL_ERROR_ZERO_RETURN:
		ERR_clear_error();
		return vv_errf(VV_ERR_CLOSED, "%s: the %s closed the connection", what, other);
	case SSL_ERROR_SYSCALL:
		ERR_clear_error();
		if (saved == 0 || saved == EPIPE || saved == ECONNRESET)
			return vv_errf(VV_ERR_CLOSED, "%s: the %s went away", what, other);
		return vv_errf(VV_ERR_IO, "%s: %s", what, strerror(saved));
	case SSL_ERROR_SSL:
		break;
	default:
		ERR_clear_error();
		return vv_errf(VV_ERR_TLS, "%s: TLS error %d", what, e);
	}
	vr = SSL_get_verify_result(c->ssl);
	if (vr != X509_V_OK) {
		ERR_clear_error();
		return vv_errf(VV_ERR_PEER_CERT, "%s certificate: %s", other, X509_verify_cert_error_string(vr));
	}
	if (reason == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE) {
		ERR_clear_error();
		return vv_errf(VV_ERR_PEER_CERT, "%s certificate: none offered", other);
	}
	if (reason == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
		ERR_clear_error();
		return vv_errf(VV_ERR_CLOSED, "%s: the %s went away", what, other);
	}
	if (reason == SSL_R_UNSUPPORTED_PROTOCOL || reason == SSL_R_NO_PROTOCOLS_AVAILABLE ||
	    reason == SSL_R_TLSV1_ALERT_PROTOCOL_VERSION) {
		ERR_clear_error();
		return vv_errf(VV_ERR_TLS, "%s: peer offered TLS 1.2 or older (TLS 1.3 only)", what);
	}
	if (vv_reason_not_tls(reason)) {
		ERR_clear_error();
		return vv_errf(VV_ERR_TLS, "%s: not TLS", what);
	}
	if (reason >= SSL_AD_REASON_OFFSET && reason < SSL_AD_REASON_OFFSET + 256) {
		int alert = reason - SSL_AD_REASON_OFFSET;
		ERR_clear_error();
		if (vv_alert_is_cert(alert))
			return vv_errf(VV_ERR_PEER_CERT, "the %s refused our certificate: %s", other,
				       vv_alert_name(alert));
		return vv_errf(VV_ERR_TLS, "%s: the %s sent alert: %s", what, other, vv_alert_name(alert));
	}
	vv_net_ossl_reason(buf, sizeof buf);
	return vv_errf(VV_ERR_TLS, "%s: %s", what, buf[0] ? buf : "TLS failure");
}

static char *vv_strdup_opt(const char *s, bool *oom)
{
	char *d;

	if (!s)
		return NULL;
	if ((d = strdup(s)) == NULL)
		*oom = true;
	return d;
}

/* Loads every CRL in crl_file into the context's store and turns on the
 * leaf revocation check. */
static int vv_net_load_crl(SSL_CTX *ctx, const char *crl_file)
{
	X509_STORE *st = SSL_CTX_get_cert_store(ctx);
	X509_LOOKUP *lu = X509_STORE_add_lookup(st, X509_LOOKUP_file());

	if (!lu || X509_load_crl_file(lu, crl_file, X509_FILETYPE_PEM) < 1)
		return vv_err_prefix(vv_net_ossl_err(VV_ERR_PKI, "CRL"), "%s", crl_file);
	if (X509_STORE_set_flags(st, X509_V_FLAG_CRL_CHECK) != 1)
		return vv_net_ossl_err(VV_ERR_TLS, "CRL check");
	return 0;
}

/* Settings shared by both sides: TLS 1.3 only, no tickets, no resumption. */
static int vv_net_ctx_common(SSL_CTX *ctx)
{
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1 || SSL_CTX_set_num_tickets(ctx, 0) != 1)
		return vv_net_ossl_err(VV_ERR_TLS, "TLS settings");
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	return 0;
}

static int vv_net_ctx_identity(SSL_CTX *ctx, const char *cert, const char *key)
{
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
		return vv_err_prefix(vv_net_ossl_err(VV_ERR_PKI, "certificate"), "%s", cert);
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
		return vv_err_prefix(vv_net_ossl_err(VV_ERR_PKI, "private key"), "%s", key);
	if (SSL_CTX_check_private_key(ctx) != 1)
		return vv_err_prefix(vv_net_ossl_err(VV_ERR_PKI, "key does not match the certificate"), "%s", key);
	return 0;
}

static int vv_net_server_ctx(const vv_net_server *s, SSL_CTX **out)
{
	static const unsigned char sid[] = "varvaultd";
	SSL_CTX *ctx = NULL;
	STACK_OF(X509_NAME) *names = NULL;
	int rc;

	*out = NULL;
	ERR_clear_error();
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		rc = vv_net_ossl_err(VV_ERR_TLS, "server context");
		goto out;
	}
	if ((rc = vv_net_ctx_common(ctx)) != 0 || (rc = vv_net_ctx_identity(ctx, s->cert, s->key)) != 0)
		goto out;
	if (SSL_CTX_load_verify_locations(ctx, s->ca, NULL) != 1) {
		rc = vv_err_prefix(vv_net_ossl_err(VV_ERR_PKI, "CA certificates"), "%s", s->ca);
		goto out;
	}
	/* Name the accepted CAs in the CertificateRequest, for clients with
	 * several certificates. */
	if ((names = SSL_load_client_CA_file(s->ca)) == NULL) {
		rc = vv_err_prefix(vv_net_ossl_err(VV_ERR_PKI, "CA certificates"), "%s", s->ca);
		goto out;
	}
	SSL_CTX_set_client_CA_list(ctx, names);
	if (s->crl && (rc = vv_net_load_crl(ctx, s->crl)) != 0)
		goto out;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	SSL_CTX_set_verify_depth(ctx, 4);
	if (SSL_CTX_set_session_id_context(ctx, sid, sizeof sid - 1) != 1) {
		rc = vv_net_ossl_err(VV_ERR_TLS, "session id context");
		goto out;
	}
	*out = ctx;
	ctx = NULL;
out:
	SSL_CTX_free(ctx);
	return rc;
}

int vv_net_server_new(const struct vv_net_server_cfg *cfg, vv_net_server **out)
{
	vv_net_server *s;
	bool oom = false;
	int rc;

	*out = NULL;
	if (!cfg || !cfg->cert_file || !cfg->key_file || !cfg->ca_file)
		return vv_errf(VV_ERR_INVAL, "server TLS: certificate, key and CA files are required");
	if ((s = calloc(1, sizeof *s)) == NULL)
		return vv_errf(VV_ERR_NOMEM, "server TLS");
	s->cert = vv_strdup_opt(cfg->cert_file, &oom);
	s->key = vv_strdup_opt(cfg->key_file, &oom);
	s->ca = vv_strdup_opt(cfg->ca_file, &oom);
	s->crl = vv_strdup_opt(cfg->crl_file, &oom);
	if (oom || pthread_mutex_init(&s->mu, NULL) != 0) {
		free(s->cert);
		free(s->key);
		free(s->ca);
		free(s->crl);
		free(s);
		return vv_errf(VV_ERR_NOMEM, "server TLS");
	}
	if ((rc = vv_net_server_ctx(s, &s->ctx)) != 0) {
		vv_net_server_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

int vv_net_server_reload(vv_net_server *s)
{
	SSL_CTX *ctx = NULL, *old;
	int rc;

	if ((rc = vv_net_server_ctx(s, &ctx)) != 0)
		return rc;
	pthread_mutex_lock(&s->mu);
	old = s->ctx;
	s->ctx = ctx;
	pthread_mutex_unlock(&s->mu);
	/* Connections made from the old context hold references of their own. */
	SSL_CTX_free(old);
	return 0;
}

void vv_net_server_free(vv_net_server *s)
{
	if (!s)
		return;
	SSL_CTX_free(s->ctx);
	pthread_mutex_destroy(&s->mu);
	free(s->cert);
	free(s->key);
	free(s->ca);
	free(s->crl);
	free(s);
}

int vv_net_client_new(const struct vv_net_client_cfg *cfg, vv_net_client **out)
{
	vv_net_client *c = NULL;
	int rc = 0;

	*out = NULL;
	if (!cfg || !cfg->ca_file || (!cfg->cert_file) != (!cfg->key_file))
		return vv_errf(VV_ERR_INVAL, "client TLS: a CA file, and a certificate with its key");
	if ((c = calloc(1, sizeof *c)) == NULL ||
	    (c->server_name = strdup(cfg->server_name ? cfg->server_name : VV_NET_SERVER_NAME)) == NULL) {
		rc = vv_errf(VV_ERR_NOMEM, "client TLS");
		goto out;
	}
	ERR_clear_error();
	if ((c->ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		rc = vv_net_ossl_err(VV_ERR_TLS, "client context");
		goto out;
	}
	if ((rc = vv_net_ctx_common(c->ctx)) != 0)
		goto out;
	if (cfg->cert_file && (rc = vv_net_ctx_identity(c->ctx, cfg->cert_file, cfg->key_file)) != 0)
		goto out;
	if (SSL_CTX_load_verify_locations(c->ctx, cfg->ca_file, NULL) != 1) {
		rc = vv_err_prefix(vv_net_ossl_err(VV_ERR_PKI, "CA certificates"), "%s", cfg->ca_file);
		goto out;
	}
	SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
	*out = c;
	c = NULL;
out:
	vv_net_client_free(c);
	return rc;
}

void vv_net_client_free(vv_net_client *c)
{
	if (!c)
		return;
	SSL_CTX_free(c->ctx);
	free(c->server_name);
	free(c);
}

int vv_net_listen(const char *path, int backlog, int *fd)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	int s = -1, rc = 0;

	*fd = -1;
	if (strlen(path) >= sizeof sa.sun_path)
		return vv_errf(VV_ERR_RANGE, "%s: socket path longer than %zu bytes", path, sizeof sa.sun_path - 1);
	strcpy(sa.sun_path, path);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return vv_errf(VV_ERR_EXISTS, "%s: exists and is not a socket", path);
		/* Replace it only if nothing answers there: a socket left by a
		 * daemon that died refuses connections. */
		int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		int live = probe >= 0 && (connect(probe, (struct sockaddr *)&sa, sizeof sa) == 0 || errno == EAGAIN);
		if (probe >= 0)
			close(probe);
		if (live)
			return vv_errf(VV_ERR_EXISTS, "%s: another server is listening there", path);
		if (unlink(path) != 0)
			return vv_errf(VV_ERR_IO, "%s: %s", path, strerror(errno));
	}
	if ((s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return vv_errf(VV_ERR_IO, "socket: %s", strerror(errno));
	if (bind(s, (struct sockaddr *)&sa, sizeof sa) != 0) {
		rc = vv_errf(VV_ERR_IO, "%s: bind: %s", path, strerror(errno));
		goto out;
	}
	if (chmod(path, 0660) != 0) {
		rc = vv_errf(VV_ERR_IO, "%s: chmod: %s", path, strerror(errno));
		goto out;
	}
	if (listen(s, backlog > 0 ? backlog : 64) != 0) {
		rc = vv_errf(VV_ERR_IO, "%s: listen: %s", path, strerror(errno));
		goto out;
	}
	*fd = s;
	s = -1;
out:
	if (s >= 0) {
		close(s);
		(void)unlink(path);
	}
	return rc;
}

static int vv_net_set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0)
		return vv_errf(VV_ERR_IO, "socket: fcntl: %s", strerror(errno));
	return 0;
}

/* Fills in the peer: certificate identity (from the TLS layer) and the
 * socket's credentials (from the kernel). */
static int vv_net_fill_peer(vv_net_conn *c)
{
	X509 *x = SSL_get0_peer_certificate(c->ssl);
	X509_NAME *name;
	struct ucred cred;
	socklen_t clen = sizeof cred;
	BIO *b = NULL;
	int rc = 0, idx;

	memset(&c->peer, 0, sizeof c->peer);
	if (getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == 0 && clen == sizeof cred) {
		c->peer.has_cred = true;
		c->peer.uid = cred.uid;
		c->peer.gid = cred.gid;
		c->peer.pid = cred.pid;
	}
	if (!x)
		return vv_errf(VV_ERR_PEER_CERT, "%s certificate: none offered", c->server ? "client" : "server");
	if ((rc = vv_net_cert_sha256(x, c->peer.sha256)) != 0)
		return rc;
	name = X509_get_subject_name(x);
	if ((b = BIO_new(BIO_s_mem())) == NULL)
		return vv_errf(VV_ERR_NOMEM, "peer subject");
	if (X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253) >= 0) {
		int n = BIO_read(b, c->peer.subject, sizeof c->peer.subject - 1);
		c->peer.subject[n > 0 ? n : 0] = '\0';
	}
	BIO_free(b);
	/* The CN only when there is exactly one, printable and short: it keys
	 * access.conf entries and goes into audit records. */
	idx = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
	if (idx >= 0 && X509_NAME_get_index_by_NID(name, NID_commonName, idx) < 0) {
		unsigned char *u = NULL;
		int n = ASN1_STRING_to_UTF8(&u, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx)));
		bool ok = n > 0 && n <= VV_NET_NAME_MAX;
		for (int i = 0; ok && i < n; i++)
			ok = u[i] >= 0x20 && u[i] < 0x7f;
		if (ok) {
			memcpy(c->peer.cn, u, (size_t)n);
			c->peer.cn[n] = '\0';
		}
		OPENSSL_free(u);
	}
	ERR_clear_error();
	return 0;
}

static int vv_net_handshake(vv_net_conn *c, int64_t deadline)
{
	const char *what = c->server ? "TLS handshake with client" : "TLS handshake with server";
	int rc;

	for (;;) {
		int r = c->server ? SSL_accept(c->ssl) : SSL_connect(c->ssl);
		if (r == 1)
			break;
		switch (SSL_get_error(c->ssl, r)) {
		case SSL_ERROR_WANT_READ:
			rc = vv_net_wait(c->fd, POLLIN, deadline, what);
			break;
		case SSL_ERROR_WANT_WRITE:
			rc = vv_net_wait(c->fd, POLLOUT, deadline, what);
			break;
		default:
			return vv_net_ssl_fail(c, r, what);
		}
		if (rc != 0) {
			ERR_clear_error();
			return rc;
		}
	}
	return vv_net_fill_peer(c);
}

static vv_net_conn *vv_net_conn_new(int fd, bool server)
{
	vv_net_conn *c = calloc(1, sizeof *c);

	if (c) {
		c->fd = fd;
		c->server = server;
	}
	return c;
}

/* Drops a connection that never completed its handshake: no close_notify
 * is owed.  NULL-safe. */
static void vv_net_conn_discard(vv_net_conn *c)
{
	if (!c)
		return;
	SSL_free(c->ssl);
	close(c->fd);
	free(c);
}

int vv_net_accept(vv_net_server *s, int fd, int timeout_ms, vv_net_conn **out)
{
	int64_t deadline = vv_deadline(timeout_ms);
	vv_net_conn *c = NULL;
	int rc;

	*out = NULL;
	if (fd < 0)
		return vv_errf(VV_ERR_INVAL, "accept: no socket");
	if ((rc = vv_net_set_nonblock(fd)) != 0) {
		close(fd);
		return rc;
	}
	if ((c = vv_net_conn_new(fd, true)) == NULL) {
		close(fd);
		return vv_errf(VV_ERR_NOMEM, "connection");
	}
	pthread_mutex_lock(&s->mu);
	c->ssl = SSL_new(s->ctx);
	pthread_mutex_unlock(&s->mu);
	if (!c->ssl || SSL_set_fd(c->ssl, fd) != 1) {
		rc = vv_net_ossl_err(VV_ERR_NOMEM, "TLS connection");
		goto out;
	}
	if ((rc = vv_net_handshake(c, deadline)) != 0)
		goto out;
	*out = c;
	c = NULL;
out:
	vv_net_conn_discard(c);
	return rc;
}

int vv_net_connect(vv_net_client *cl, const char *path, int timeout_ms, vv_net_conn **out)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int64_t deadline = vv_deadline(timeout_ms);
	vv_net_conn *c = NULL;
	int fd = -1, rc = 0;

	*out = NULL;
	if (strlen(path) >= sizeof sa.sun_path)
		return vv_errf(VV_ERR_RANGE, "%s: socket path longer than %zu bytes", path, sizeof sa.sun_path - 1);
	strcpy(sa.sun_path, path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0)
		return vv_errf(VV_ERR_IO, "socket: %s", strerror(errno));
	/* A non-blocking AF_UNIX connect fails with EAGAIN while the listen
	 * backlog is full: retry until the deadline. */
	while (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		int saved = errno;
		if (saved == EINTR)
			continue;
		if (saved != EAGAIN) {
			rc = vv_errf(VV_ERR_IO, "%s: connect: %s", path, strerror(saved));
			close(fd);
			errno = saved;
			return rc;
		}
		if (vv_net_now_ms() >= deadline) {
			close(fd);
			return vv_errf(VV_ERR_BUSY, "%s: the server's listen queue stayed full", path);
		}
		struct timespec ts = {0, 10 * 1000000L};
		nanosleep(&ts, NULL);
	}
	if ((c = vv_net_conn_new(fd, false)) == NULL) {
		close(fd);
		return vv_errf(VV_ERR_NOMEM, "connection");
	}
	ERR_clear_error();
	if ((c->ssl = SSL_new(cl->ctx)) == NULL || SSL_set_fd(c->ssl, fd) != 1 ||
	    SSL_set1_host(c->ssl, cl->server_name) != 1) {
		rc = vv_net_ossl_err(VV_ERR_NOMEM, "TLS connection");
		goto out;
	}
	if ((rc = vv_net_handshake(c, deadline)) != 0)
		goto out;
	*out = c;
	c = NULL;
out:
	vv_net_conn_discard(c);
	return rc;
}

int vv_net_read_until(vv_net_conn *c, void *buf, size_t n, int64_t deadline)
{
	size_t got = 0;
	int rc;

	while (got < n) {
		size_t r = 0;
		int ret = SSL_read_ex(c->ssl, (char *)buf + got, n - got, &r);
		if (ret == 1) {
			got += r;
			continue;
		}
		switch (SSL_get_error(c->ssl, ret)) {
		case SSL_ERROR_WANT_READ:
			rc = vv_net_wait(c->fd, POLLIN, deadline, "read");
			break;
		case SSL_ERROR_WANT_WRITE:
			rc = vv_net_wait(c->fd, POLLOUT, deadline, "read");
			break;
		default:
			return vv_net_ssl_fail(c, ret, "read");
		}
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* After a failed write, looks for an alert the peer sent before it went
 * away (a server refusing our certificate in TLS 1.3 closes right after
 * the handshake, so our first write can meet a closed socket while the
 * reason sits unread in our receive queue).  Returns the alert's error, or
 * 0 if there is none. */
static int vv_net_pending_alert(vv_net_conn *c)
{
	unsigned char b;
	size_t n = 0;
	int r, reason;

	ERR_clear_error();
	r = SSL_peek_ex(c->ssl, &b, 1, &n);
	if (r != 1 && SSL_get_error(c->ssl, r) == SSL_ERROR_SSL) {
		reason = ERR_GET_REASON(ERR_peek_error());
		if (reason >= SSL_AD_REASON_OFFSET && reason < SSL_AD_REASON_OFFSET + 256)
			return vv_net_ssl_fail(c, r, "write");
	}
	ERR_clear_error();
	return 0;
}

int vv_net_write_until(vv_net_conn *c, const void *buf, size_t n, int64_t deadline)
{
	size_t put = 0;
	int rc;

	while (put < n) {
		size_t w = 0;
		int ret = SSL_write_ex(c->ssl, (const char *)buf + put, n - put, &w);
		if (ret == 1) {
			put += w;
			continue;
		}
		switch (SSL_get_error(c->ssl, ret)) {
		case SSL_ERROR_WANT_READ:
			rc = vv_net_wait(c->fd, POLLIN, deadline, "write");
			break;
		case SSL_ERROR_WANT_WRITE:
			rc = vv_net_wait(c->fd, POLLOUT, deadline, "write");
			break;
		default:
			rc = vv_net_ssl_fail(c, ret, "write");
			if (rc == VV_ERR_CLOSED) {
				char detail[256];
				int alert;
				snprintf(detail, sizeof detail, "%s", vv_err_detail());
				if ((alert = vv_net_pending_alert(c)) != 0)
					return alert;
				vv_errf(rc, "%s", detail);
			}
			return rc;
		}
		if (rc != 0)
			return rc;
	}
	return 0;
}

int vv_net_read(vv_net_conn *c, void *buf, size_t n, int timeout_ms)
{
	return vv_net_read_until(c, buf, n, vv_deadline(timeout_ms));
}

int vv_net_write(vv_net_conn *c, const void *buf, size_t n, int timeout_ms)
{
	return vv_net_write_until(c, buf, n, vv_deadline(timeout_ms));
}

void vv_net_close(vv_net_conn *c)
{
	if (!c)
		return;
	if (c->ssl) {
		/* One non-blocking attempt at close_notify; the peer may be gone. */
		(void)SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
	}
	ERR_clear_error();
	if (c->fd >= 0)
		close(c->fd);
	free(c);
}

const vv_net_peer *vv_net_conn_peer(const vv_net_conn *c)
{
	return &c->peer;
}
