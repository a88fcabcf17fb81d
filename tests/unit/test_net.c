/* Unit tests of src/net: PKI, mutual TLS over a real AF_UNIX socket, frames, protocol, access policy. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "varvault/core.h"
#include "varvault/net.h"

/* Short deadlines: the tests assert only which error a deadline gives. */
#define HS_MS 5000
#define IO_MS 5000

static struct {
	char dir[64];
	char ca[128], other[128], sock[128];
	char ca_crt[160], crl[160], srv_crt[160], srv_key[160], other_crt[160];
	vv_net_server *srv;
	int lfd;
} F;

static void path_in(char *out, size_t n, const char *a, const char *b)
{
	snprintf(out, n, "%s/%s", a, b);
}

static void client_files(const char *name, char *crt, char *key)
{
	snprintf(crt, 160, "%s/%s.crt", F.dir, name);
	snprintf(key, 160, "%s/%s.key", F.dir, name);
}

static int issue(const char *ca, const char *name, int days)
{
	char crt[160], key[160];
	client_files(name, crt, key);
	return vv_net_client_issue(ca, name, NULL, crt, key, days, NULL);
}

static int group_setup(void **state)
{
	struct vv_net_server_cfg cfg;

	(void)state;
	signal(SIGPIPE, SIG_IGN);
	if (vv_core_init() != 0)
		return -1;
	snprintf(F.dir, sizeof F.dir, "/tmp/vvnetXXXXXX");
	if (!mkdtemp(F.dir))
		return -1;
	path_in(F.ca, sizeof F.ca, F.dir, "ca");
	path_in(F.other, sizeof F.other, F.dir, "other");
	path_in(F.sock, sizeof F.sock, F.dir, "s.sock");
	path_in(F.ca_crt, sizeof F.ca_crt, F.ca, "ca.crt");
	path_in(F.crl, sizeof F.crl, F.ca, "crl.pem");
	path_in(F.srv_crt, sizeof F.srv_crt, F.dir, "server.crt");
	path_in(F.srv_key, sizeof F.srv_key, F.dir, "server.key");
	path_in(F.other_crt, sizeof F.other_crt, F.other, "ca.crt");
	if (mkdir(F.ca, 0700) != 0 || mkdir(F.other, 0700) != 0)
		return -1;
	if (vv_net_ca_create(F.ca, NULL, 0) != 0 || vv_net_ca_create(F.other, "another lab CA", 30) != 0 ||
	    vv_net_server_issue(F.ca, F.srv_crt, F.srv_key, 0) != 0 || issue(F.ca, "alice", 0) != 0 ||
	    issue(F.ca, "bob", 10) != 0 || issue(F.ca, "old", -1) != 0 || issue(F.other, "mallory", 0) != 0) {
		fprintf(stderr, "setup: %s\n", vv_err_detail());
		return -1;
	}
	cfg = (struct vv_net_server_cfg){F.srv_crt, F.srv_key, F.ca_crt, F.crl};
	if (vv_net_server_new(&cfg, &F.srv) != 0 || vv_net_listen(F.sock, 16, &F.lfd) != 0) {
		fprintf(stderr, "setup: %s\n", vv_err_detail());
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	char cmd[128];

	(void)state;
	close(F.lfd);
	vv_net_server_free(F.srv);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", F.dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* ------------------------------------------------- the server thread */

struct srv {
	pthread_t th;
	vv_net_server *server; /* F.srv unless a test sets another */
	int hs_ms, io_ms;
	int rc_accept, rc_loop;
	char detail[512], loop_detail[512];
	vv_net_peer peer;
	size_t frames;
	vv_sbuf bulk; /* binary frames after the first, up to an empty one */
};

/* Accepts one connection, then echoes every frame until the peer stops;
 * frames after the first are also collected into bulk. */
static void *srv_main(void *p)
{
	struct srv *v = p;
	vv_net_conn *c = NULL;
	uint8_t *buf = malloc(VV_NET_FRAME_MAX);
	int fd = accept4(F.lfd, NULL, NULL, SOCK_CLOEXEC);

	v->rc_accept = vv_net_accept(v->server ? v->server : F.srv, fd, v->hs_ms, &c);
	snprintf(v->detail, sizeof v->detail, "%s", vv_err_detail());
	if (v->rc_accept == 0) {
		v->peer = *vv_net_conn_peer(c);
		for (;;) {
			size_t n = 0;
			int rc;
			if (v->frames == 0)
				rc = vv_net_frame_read(c, buf, VV_NET_FRAME_MAX, &n, v->io_ms);
			else {
				size_t before = v->bulk.len;
				rc = vv_net_frame_read_sbuf(c, &v->bulk, &n, v->io_ms);
				if (rc == 0)
					memcpy(buf, v->bulk.data + before, n);
			}
			if (rc != 0) {
				v->rc_loop = rc;
				snprintf(v->loop_detail, sizeof v->loop_detail, "%s", vv_err_detail());
				break;
			}
			v->frames++;
			if (vv_net_frame_write(c, buf, n, v->io_ms) != 0)
				break;
		}
	}
	vv_net_close(c);
	free(buf);
	return NULL;
}

static void srv_start_on(struct srv *v, vv_net_server *server, int hs_ms, int io_ms)
{
	memset(v, 0, sizeof *v);
	v->server = server;
	v->hs_ms = hs_ms;
	v->io_ms = io_ms;
	vv_sbuf_init(&v->bulk, 0);
	assert_int_equal(pthread_create(&v->th, NULL, srv_main, v), 0);
}

static void srv_start(struct srv *v, int hs_ms, int io_ms)
{
	srv_start_on(v, NULL, hs_ms, io_ms);
}

static void srv_join(struct srv *v)
{
	assert_int_equal(pthread_join(v->th, NULL), 0);
}

static void srv_done(struct srv *v)
{
	vv_sbuf_done(&v->bulk);
}

static vv_net_client *client_for(const char *crt, const char *key)
{
	struct vv_net_client_cfg cfg = {F.ca_crt, crt, key, NULL};
	vv_net_client *cl = NULL;
	assert_int_equal(vv_net_client_new(&cfg, &cl), 0);
	return cl;
}

static vv_net_client *client_named(const char *name)
{
	char crt[160], key[160];
	client_files(name, crt, key);
	return client_for(crt, key);
}

/* Connects and sends one frame: returns the first error on the client's
 * side (TLS 1.3: a refused certificate shows on the first read). */
static int client_try(vv_net_client *cl)
{
	vv_net_conn *c = NULL;
	uint8_t buf[64];
	size_t n;
	int rc = vv_net_connect(cl, F.sock, HS_MS, &c);

	if (rc == 0 && (rc = vv_net_frame_write(c, "x", 1, IO_MS)) == 0)
		rc = vv_net_frame_read(c, buf, sizeof buf, &n, IO_MS);
	vv_net_close(c);
	return rc;
}

/* ------------------------------------------------------------ mTLS */

static void test_mtls_exchange_and_identity(void **state)
{
	struct srv v;
	vv_net_client *cl = client_named("alice");
	vv_net_conn *c = NULL;
	char *req = NULL, fpr[65], crt[160], key[160];
	size_t len, n;
	uint8_t buf[4096];
	vv_sbuf res;
	vv_net_request *r = NULL;
	json_object *params = json_object_new_object();
	const char *sample;

	(void)state;
	srv_start(&v, HS_MS, IO_MS);
	assert_int_equal(vv_net_connect(cl, F.sock, HS_MS, &c), 0);
	/* The server's identity, seen by the client. */
	assert_string_equal(vv_net_conn_peer(c)->cn, "varvaultd");
	/* A request frame, echoed back. */
	json_object_object_add(params, "sample", json_object_new_string("P-0001"));
	assert_int_equal(vv_net_request_build(VV_VERB_STATUS, "req-1", params, &req, &len), 0);
	assert_int_equal(vv_net_frame_write(c, req, len, IO_MS), 0);
	assert_int_equal(vv_net_frame_read(c, buf, sizeof buf, &n, IO_MS), 0);
	assert_int_equal(n, len);
	assert_memory_equal(buf, req, len);
	assert_int_equal(vv_net_request_parse(buf, n, &r, NULL), 0);
	assert_int_equal(vv_net_request_verb(r), VV_VERB_STATUS);
	assert_string_equal(vv_net_request_id(r), "req-1");
	assert_int_equal(vv_net_req_str(r, "sample", true, 64, &sample), 1);
	assert_string_equal(sample, "P-0001");
	/* A bulk stream: binary frames ended by an empty one, echoed into
	 * secure memory. */
	vv_sbuf_init(&res, 0);
	for (int i = 0; i < 3; i++) {
		memset(buf, 'a' + i, 1000);
		assert_int_equal(vv_net_frame_write(c, buf, 1000, IO_MS), 0);
		assert_int_equal(vv_net_frame_read_sbuf(c, &res, &n, IO_MS), 0);
		assert_int_equal(n, 1000);
	}
	assert_int_equal(vv_net_frame_write(c, NULL, 0, IO_MS), 0);
	assert_int_equal(vv_net_frame_read_sbuf(c, &res, &n, IO_MS), 0);
	assert_int_equal(n, 0);
	assert_int_equal(res.len, 3000);
	assert_int_equal(res.data[0], 'a');
	assert_int_equal(res.data[2999], 'c');
	vv_net_close(c);
	srv_join(&v);
	assert_int_equal(v.rc_accept, 0);
	assert_int_equal(v.rc_loop, VV_ERR_CLOSED);
	assert_int_equal(v.frames, 5);
	assert_int_equal(v.bulk.len, 3000);
	/* The client's identity, seen by the server: CN, subject, fingerprint
	 * of the leaf, and the kernel's word on the process. */
	client_files("alice", crt, key);
	assert_int_equal(vv_net_fingerprint_file(crt, fpr), 0);
	assert_string_equal(v.peer.cn, "alice");
	assert_string_equal(v.peer.subject, "CN=alice");
	assert_string_equal(v.peer.sha256, fpr);
	assert_true(v.peer.has_cred);
	assert_int_equal(v.peer.uid, getuid());
	assert_int_equal(v.peer.gid, getgid());
	assert_int_equal(v.peer.pid, getpid());
	vv_sbuf_done(&res);
	srv_done(&v);
	vv_net_request_free(r);
	json_object_put(params);
	free(req);
	vv_net_client_free(cl);
}

static void test_refuses_no_client_certificate(void **state)
{
	struct vv_net_client_cfg cfg = {F.ca_crt, NULL, NULL, NULL};
	vv_net_client *cl = NULL;
	struct srv v;

	(void)state;
	assert_int_equal(vv_net_client_new(&cfg, &cl), 0);
	srv_start(&v, HS_MS, IO_MS);
	assert_int_equal(client_try(cl), VV_ERR_PEER_CERT);
	assert_string_equal(vv_err_detail(), "the server refused our certificate: certificate required");
	srv_join(&v);
	assert_int_equal(v.rc_accept, VV_ERR_PEER_CERT);
	assert_non_null(strstr(v.detail, "client certificate: none offered"));
	srv_done(&v);
	vv_net_client_free(cl);
}

static void test_refuses_other_ca(void **state)
{
	vv_net_client *cl = client_named("mallory");
	struct srv v;

	(void)state;
	srv_start(&v, HS_MS, IO_MS);
	assert_int_equal(client_try(cl), VV_ERR_PEER_CERT);
	srv_join(&v);
	assert_int_equal(v.rc_accept, VV_ERR_PEER_CERT);
	assert_non_null(strstr(v.detail, "client certificate: unable to get local issuer certificate"));
	srv_done(&v);
	vv_net_client_free(cl);
}

static void test_refuses_expired(void **state)
{
	vv_net_client *cl = client_named("old");
	struct srv v;

	(void)state;
	srv_start(&v, HS_MS, IO_MS);
	assert_int_equal(client_try(cl), VV_ERR_PEER_CERT);
	srv_join(&v);
	assert_int_equal(v.rc_accept, VV_ERR_PEER_CERT);
	assert_non_null(strstr(v.detail, "client certificate: certificate has expired"));
	srv_done(&v);
	vv_net_client_free(cl);
}

/* Revocation takes effect on reload, and a connection opened before the
 * reload goes on working. */
static void test_revoked_after_reload_keeps_open_connections(void **state)
{
	vv_net_client *alice = client_named("alice"), *bob = client_named("bob");
	vv_net_conn *c = NULL;
	struct srv v1, v2, v3;
	uint8_t buf[16];
	size_t n, count = 0;

	(void)state;
	/* bob is fine before. */
	srv_start(&v1, HS_MS, IO_MS);
	assert_int_equal(client_try(bob), 0);
	srv_join(&v1);
	assert_int_equal(v1.rc_accept, 0);
	srv_done(&v1);
	/* alice connects and stays. */
	srv_start(&v2, HS_MS, IO_MS);
	assert_int_equal(vv_net_connect(alice, F.sock, HS_MS, &c), 0);
	assert_int_equal(vv_net_frame_write(c, "1", 1, IO_MS), 0);
	assert_int_equal(vv_net_frame_read(c, buf, sizeof buf, &n, IO_MS), 0);
	/* Revoke bob, reload. */
	assert_int_equal(vv_net_client_revoke(F.ca, "bob", &count), 0);
	assert_int_equal(count, 1);
	assert_int_equal(vv_net_client_revoke(F.ca, "bob", &count), VV_ERR_NOTFOUND);
	assert_int_equal(vv_net_server_reload(F.srv), 0);
	srv_start(&v3, HS_MS, IO_MS);
	assert_int_equal(client_try(bob), VV_ERR_PEER_CERT);
	assert_string_equal(vv_err_detail(), "the server refused our certificate: certificate revoked");
	srv_join(&v3);
	assert_int_equal(v3.rc_accept, VV_ERR_PEER_CERT);
	assert_non_null(strstr(v3.detail, "client certificate: certificate revoked"));
	srv_done(&v3);
	/* alice's connection still works. */
	assert_int_equal(vv_net_frame_write(c, "2", 1, IO_MS), 0);
	assert_int_equal(vv_net_frame_read(c, buf, sizeof buf, &n, IO_MS), 0);
	assert_int_equal(n, 1);
	assert_int_equal(buf[0], '2');
	vv_net_close(c);
	srv_join(&v2);
	assert_int_equal(v2.rc_loop, VV_ERR_CLOSED);
	srv_done(&v2);
	/* A reload that cannot read its files keeps the old context. */
	vv_net_client_free(alice);
	vv_net_client_free(bob);
}

static int raw_connect(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	strcpy(sa.sun_path, F.sock);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	return fd;
}

static void test_refuses_tls12(void **state)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl;
	char crt[160], key[160];
	struct srv v;
	int fd;

	(void)state;
	client_files("alice", crt, key);
	assert_non_null(ctx);
	assert_int_equal(SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION), 1);
	assert_int_equal(SSL_CTX_use_certificate_file(ctx, crt, SSL_FILETYPE_PEM), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM), 1);
	srv_start(&v, HS_MS, IO_MS);
	fd = raw_connect();
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	assert_true(SSL_connect(ssl) != 1);
	SSL_free(ssl);
	close(fd);
	SSL_CTX_free(ctx);
	srv_join(&v);
	assert_int_equal(v.rc_accept, VV_ERR_TLS);
	assert_non_null(strstr(v.detail, "peer offered TLS 1.2 or older"));
	srv_done(&v);
}

static void test_refuses_plain_bytes(void **state)
{
	static const char junk[] = "{\"v\":1,\"verb\":\"hello\",\"id\":\"x\"}\n plain text, not TLS\n";
	struct srv v;
	int fd;

	(void)state;
	srv_start(&v, HS_MS, IO_MS);
	fd = raw_connect();
	assert_int_equal(vv_write_all(fd, junk, sizeof junk - 1), 0);
	srv_join(&v);
	close(fd);
	assert_int_equal(v.rc_accept, VV_ERR_TLS);
	assert_non_null(strstr(v.detail, "not TLS"));
	srv_done(&v);
}

static void test_refuses_oversized_frame(void **state)
{
	vv_net_client *cl = client_named("alice");
	vv_net_conn *c = NULL;
	static const uint8_t big[4] = {0x00, 0x10, 0x00, 0x01}; /* 1 MiB + 1 */
	uint8_t *buf = malloc(VV_NET_FRAME_MAX + 1);
	struct srv v;

	(void)state;
	assert_non_null(buf);
	srv_start(&v, HS_MS, IO_MS);
	assert_int_equal(vv_net_connect(cl, F.sock, HS_MS, &c), 0);
	/* Our own writer refuses before sending. */
	assert_int_equal(vv_net_frame_write(c, buf, VV_NET_FRAME_MAX + 1, IO_MS), VV_ERR_FRAME_SIZE);
	/* A hostile one: the reader refuses on the header alone. */
	assert_int_equal(vv_net_write(c, big, sizeof big, IO_MS), 0);
	srv_join(&v);
	assert_int_equal(v.rc_accept, 0);
	assert_int_equal(v.rc_loop, VV_ERR_FRAME_SIZE);
	vv_net_close(c);
	srv_done(&v);
	free(buf);
	vv_net_client_free(cl);
}

/* A client that trickles one byte at a time: the handshake deadline and the
 * frame deadline both fire, whatever the progress. */
struct trickle {
	pthread_t th;
	vv_net_conn *c; /* NULL: raw bytes on fd */
	int fd;
	volatile int stop;
};

static void *trickle_main(void *p)
{
	struct trickle *t = p;
	/* A TLS record header, then a frame header, dribbled out. */
	static const uint8_t bytes[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, 0, 0, 0,
					0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0};
	struct timespec ts = {0, 100 * 1000000L};

	for (size_t i = 0; i < sizeof bytes && !t->stop; i++) {
		if (t->c) {
			if (vv_net_write(t->c, bytes + 4 + (i % 4), 1, IO_MS) != 0)
				break;
		} else if (write(t->fd, bytes + i, 1) != 1)
			break;
		nanosleep(&ts, NULL);
	}
	return NULL;
}

static void test_slow_peer_hits_deadlines(void **state)
{
	vv_net_client *cl = client_named("alice");
	struct trickle t = {0};
	struct srv v;

	(void)state;
	/* During the handshake. */
	srv_start(&v, 350, IO_MS);
	t.fd = raw_connect();
	assert_int_equal(pthread_create(&t.th, NULL, trickle_main, &t), 0);
	srv_join(&v);
	t.stop = 1;
	assert_int_equal(pthread_join(t.th, NULL), 0);
	close(t.fd);
	assert_int_equal(v.rc_accept, VV_ERR_TIMEOUT);
	srv_done(&v);
	/* Inside a frame. */
	memset(&t, 0, sizeof t);
	srv_start(&v, HS_MS, 350);
	assert_int_equal(vv_net_connect(cl, F.sock, HS_MS, &t.c), 0);
	assert_int_equal(pthread_create(&t.th, NULL, trickle_main, &t), 0);
	srv_join(&v);
	t.stop = 1;
	assert_int_equal(pthread_join(t.th, NULL), 0);
	vv_net_close(t.c);
	assert_int_equal(v.rc_accept, 0);
	assert_int_equal(v.rc_loop, VV_ERR_TIMEOUT);
	srv_done(&v);
	vv_net_client_free(cl);
}

static void test_client_checks_server_identity(void **state)
{
	/* A client that trusts only the other CA refuses our server. */
	struct vv_net_client_cfg cfg = {F.other_crt, NULL, NULL, NULL};
	vv_net_client *cl = NULL;
	vv_net_conn *c = NULL;
	struct srv v;

	(void)state;
	assert_int_equal(vv_net_client_new(&cfg, &cl), 0);
	srv_start(&v, HS_MS, IO_MS);
	assert_int_equal(vv_net_connect(cl, F.sock, HS_MS, &c), VV_ERR_PEER_CERT);
	assert_non_null(strstr(vv_err_detail(), "server certificate:"));
	srv_join(&v);
	assert_int_not_equal(v.rc_accept, 0);
	srv_done(&v);
	vv_net_client_free(cl);
	/* A server whose certificate carries another name. */
	cfg = (struct vv_net_client_cfg){F.ca_crt, NULL, NULL, "not-varvaultd"};
	assert_int_equal(vv_net_client_new(&cfg, &cl), 0);
	srv_start(&v, HS_MS, IO_MS);
	assert_int_equal(vv_net_connect(cl, F.sock, HS_MS, &c), VV_ERR_PEER_CERT);
	assert_non_null(strstr(vv_err_detail(), "server certificate: hostname mismatch"));
	srv_join(&v);
	srv_done(&v);
	vv_net_client_free(cl);
	/* Nothing listening. */
	cl = client_named("alice");
	assert_int_equal(vv_net_connect(cl, "/nonexistent/varvault.sock", HS_MS, &c), VV_ERR_IO);
	vv_net_client_free(cl);
}

/* A lab's own CA (certificate only, no key, no CRL) in place of ours. */
static void test_lab_ca(void **state)
{
	struct vv_net_server_cfg cfg = {F.srv_crt, F.srv_key, F.other_crt, NULL};
	vv_net_client *mallory = client_named("mallory"), *alice = client_named("alice");
	vv_net_server *lab = NULL;
	struct srv v;

	(void)state;
	assert_int_equal(vv_net_server_new(&cfg, &lab), 0);
	srv_start_on(&v, lab, HS_MS, IO_MS);
	assert_int_equal(client_try(mallory), 0);
	srv_join(&v);
	assert_int_equal(v.rc_accept, 0);
	assert_string_equal(v.peer.cn, "mallory");
	srv_done(&v);
	srv_start_on(&v, lab, HS_MS, IO_MS);
	assert_int_equal(client_try(alice), VV_ERR_PEER_CERT);
	srv_join(&v);
	assert_int_equal(v.rc_accept, VV_ERR_PEER_CERT);
	srv_done(&v);
	vv_net_server_free(lab);
	vv_net_client_free(mallory);
	vv_net_client_free(alice);
}

static void test_listen(void **state)
{
	char path[160];
	struct stat st;
	int fd = -1, fd2 = -1;

	(void)state;
	/* The fixture's socket is live. */
	assert_int_equal(vv_net_listen(F.sock, 4, &fd), VV_ERR_EXISTS);
	assert_non_null(strstr(vv_err_detail(), "another server is listening"));
	close(accept4(F.lfd, NULL, NULL, SOCK_CLOEXEC)); /* the probe's connection */
	/* A file that is not a socket stays. */
	snprintf(path, sizeof path, "%s/not-a-socket", F.dir);
	fclose(fopen(path, "w"));
	assert_int_equal(vv_net_listen(path, 4, &fd), VV_ERR_EXISTS);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	/* A stale socket is replaced; the new one is 0660. */
	snprintf(path, sizeof path, "%s/stale.sock", F.dir);
	assert_int_equal(vv_net_listen(path, 4, &fd), 0);
	close(fd);
	assert_int_equal(vv_net_listen(path, 4, &fd2), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0660);
	close(fd2);
	memset(path, 'x', sizeof path - 1);
	path[sizeof path - 1] = '\0';
	assert_int_equal(vv_net_listen(path, 4, &fd), VV_ERR_RANGE);
}

static void test_reload_failure_keeps_context(void **state)
{
	struct vv_net_server_cfg cfg = {F.srv_crt, F.srv_key, F.ca_crt, "/nonexistent/crl.pem"};
	vv_net_server *s = NULL;
	vv_net_client *alice = client_named("alice");
	char crl[160], cmd[400];
	struct srv v;

	(void)state;
	assert_int_equal(vv_net_server_new(&cfg, &s), VV_ERR_PKI);
	assert_null(s);
	cfg.key_file = F.srv_crt; /* not a key */
	cfg.crl_file = NULL;
	assert_int_equal(vv_net_server_new(&cfg, &s), VV_ERR_PKI);
	/* A reload that cannot read its CRL fails and keeps serving with the
	 * context it had. */
	snprintf(crl, sizeof crl, "%s/crl-copy.pem", F.dir);
	snprintf(cmd, sizeof cmd, "cp '%s' '%s'", F.crl, crl);
	assert_int_equal(system(cmd), 0);
	cfg = (struct vv_net_server_cfg){F.srv_crt, F.srv_key, F.ca_crt, crl};
	assert_int_equal(vv_net_server_new(&cfg, &s), 0);
	assert_int_equal(unlink(crl), 0);
	assert_int_equal(vv_net_server_reload(s), VV_ERR_PKI);
	srv_start_on(&v, s, HS_MS, IO_MS);
	assert_int_equal(client_try(alice), 0);
	srv_join(&v);
	assert_int_equal(v.rc_accept, 0);
	srv_done(&v);
	vv_net_server_free(s);
	vv_net_client_free(alice);
}

/* ------------------------------------------------------------ PKI */

static void test_pki_index_and_files(void **state)
{
	vv_net_cert_info *items = NULL, info;
	size_t n = 0;
	char crt[160], key[160], fpr[65];
	struct stat st;
	int found = 0;

	(void)state;
	assert_false(vv_net_name_valid(""));
	assert_false(vv_net_name_valid("-x"));
	assert_false(vv_net_name_valid("a b"));
	assert_false(vv_net_name_valid("a=b"));
	assert_true(vv_net_name_valid("lab-1.alice_2"));
	client_files("carol", crt, key);
	assert_int_equal(vv_net_client_issue(F.ca, "a b", NULL, crt, key, 0, NULL), VV_ERR_INVAL);
	assert_int_equal(vv_net_client_issue(F.ca, "carol", NULL, crt, key, 5, &info), 0);
	assert_string_equal(info.name, "carol");
	assert_int_equal(strlen(info.serial), 32);
	assert_int_equal(vv_net_fingerprint_file(crt, fpr), 0);
	assert_string_equal(info.sha256, fpr);
	assert_true(info.not_after > time(NULL) + 4 * 86400);
	assert_false(info.revoked);
	/* Keys are 0600; nothing is overwritten. */
	assert_int_equal(stat(key, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(vv_net_client_issue(F.ca, "carol", NULL, crt, key, 5, NULL), VV_ERR_EXISTS);
	assert_int_equal(vv_net_ca_create(F.ca, NULL, 0), VV_ERR_EXISTS);
	assert_int_equal(vv_net_server_issue(F.ca, F.srv_crt, F.srv_key, 0), VV_ERR_EXISTS);
	path_in(key, sizeof key, F.ca, "ca.key");
	assert_int_equal(stat(key, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* Revoke by serial. */
	assert_int_equal(vv_net_client_revoke(F.ca, info.serial, NULL), 0);
	assert_int_equal(vv_net_client_revoke(F.ca, "nobody", NULL), VV_ERR_NOTFOUND);
	assert_int_equal(vv_net_client_list(F.ca, &items, &n), 0);
	for (size_t i = 0; i < n; i++)
		if (!strcmp(items[i].name, "carol")) {
			found++;
			assert_true(items[i].revoked);
			assert_string_equal(items[i].serial, info.serial);
		} else if (!strcmp(items[i].name, "alice"))
			assert_false(items[i].revoked);
	assert_int_equal(found, 1);
	free(items);
	assert_int_equal(vv_net_crl_write(F.ca, 7), 0);
	/* A directory with no key (a lab CA) cannot sign. */
	assert_int_equal(vv_net_client_list("/nonexistent", &items, &n), VV_ERR_NOTFOUND);
}

/* Reads a whole small file into buf (NUL-terminated); its length. */
static size_t slurp(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "r");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, cap - 1, f);
	fclose(f);
	buf[n] = '\0';
	return n;
}

static void put(const char *path, const char *mode, const char *text)
{
	FILE *f = fopen(path, mode);

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	fclose(f);
}

/* The CRL digest the audit log records: the same list re-signed is the
 * same digest, a revocation or another CRL in the file changes it, and a
 * damaged file is refused. */
static void test_crl_digest(void **state)
{
	char ca[128], crl[160], other_crl[160], f2[160], d0[65], d1[65], d[65];
	static char a[16384], b[16384];
	size_t n = 99;

	(void)state;
	path_in(ca, sizeof ca, F.dir, "crlca");
	path_in(crl, sizeof crl, ca, "crl.pem");
	path_in(other_crl, sizeof other_crl, F.other, "crl.pem");
	path_in(f2, sizeof f2, F.dir, "two-crls.pem");
	assert_int_equal(mkdir(ca, 0700), 0);
	assert_int_equal(vv_net_ca_create(ca, "crl digest CA", 0), 0);
	assert_int_equal(issue(ca, "x", 0), 0);
	assert_int_equal(issue(ca, "y", 0), 0);
	assert_int_equal(vv_net_crl_digest(crl, d0, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(strlen(d0), 64);
	/* Re-signed for another validity: other bytes, the same digest. */
	slurp(crl, a, sizeof a);
	assert_int_equal(vv_net_crl_write(ca, 3), 0);
	slurp(crl, b, sizeof b);
	assert_string_not_equal(a, b);
	assert_int_equal(vv_net_crl_digest(crl, d, NULL), 0);
	assert_string_equal(d, d0);
	/* A revocation is a change, whatever the validity. */
	assert_int_equal(vv_net_client_revoke(ca, "x", NULL), 0);
	assert_int_equal(vv_net_crl_digest(crl, d1, &n), 0);
	assert_int_equal(n, 1);
	assert_string_not_equal(d1, d0);
	assert_int_equal(vv_net_crl_write(ca, 9), 0);
	assert_int_equal(vv_net_crl_digest(crl, d, NULL), 0);
	assert_string_equal(d, d1);
	/* A second CRL in the file (another issuer) counts. */
	assert_int_equal(vv_net_crl_write(F.other, 0), 0);
	slurp(crl, a, sizeof a);
	slurp(other_crl, b, sizeof b);
	put(f2, "w", a);
	put(f2, "a", b);
	assert_int_equal(vv_net_crl_digest(f2, d, &n), 0);
	assert_int_equal(n, 1);
	assert_string_not_equal(d, d1);
	/* Damage after a good CRL, a file with none, no file. */
	put(f2, "w", a);
	put(f2, "a", "-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n");
	assert_int_equal(vv_net_crl_digest(f2, d, NULL), VV_ERR_PKI);
	put(f2, "w", "not a CRL\n");
	assert_int_equal(vv_net_crl_digest(f2, d, NULL), VV_ERR_PKI);
	assert_int_equal(vv_net_crl_digest("/nonexistent/crl.pem", d, NULL), VV_ERR_IO);
}

static void write_csr(const char *path, EVP_PKEY *key, EVP_PKEY *signer)
{
	X509_REQ *req = X509_REQ_new();
	FILE *f = fopen(path, "w");

	assert_non_null(req);
	assert_non_null(f);
	assert_int_equal(X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req), "CN", MBSTRING_ASC,
						    (const unsigned char *)"ignored", -1, -1, 0),
			 1);
	assert_int_equal(X509_REQ_set_pubkey(req, key), 1);
	assert_true(X509_REQ_sign(req, signer, EVP_sha256()) > 0);
	assert_int_equal(PEM_write_X509_REQ(f, req), 1);
	fclose(f);
	X509_REQ_free(req);
}

static void test_pki_from_csr(void **state)
{
	EVP_PKEY *k = EVP_EC_gen("P-256"), *k2 = EVP_EC_gen("P-256");
	char csr[160], crt[160];
	X509 *x;
	FILE *f;
	char cn[64];

	(void)state;
	snprintf(csr, sizeof csr, "%s/dave.csr", F.dir);
	snprintf(crt, sizeof crt, "%s/dave.crt", F.dir);
	/* A CSR whose signature does not match its key is refused. */
	write_csr(csr, k, k2);
	assert_int_equal(vv_net_client_issue(F.ca, "dave", csr, crt, NULL, 0, NULL), VV_ERR_PKI);
	assert_non_null(strstr(vv_err_detail(), "signature does not verify"));
	assert_int_equal(access(crt, F_OK), -1);
	unlink(csr);
	write_csr(csr, k, k);
	assert_int_equal(vv_net_client_issue(F.ca, "dave", csr, crt, "x.key", 0, NULL), VV_ERR_INVAL);
	assert_int_equal(vv_net_client_issue(F.ca, "dave", csr, crt, NULL, 0, NULL), 0);
	f = fopen(crt, "r");
	assert_non_null(f);
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(x);
	/* The lab's key, our name. */
	assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(x), k), 1);
	assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof cn) > 0);
	assert_string_equal(cn, "dave");
	X509_free(x);
	EVP_PKEY_free(k);
	EVP_PKEY_free(k2);
}

/* ------------------------------------------------------ frames, protocol */

static void test_frame_decode(void **state)
{
	static const uint8_t f[] = {0, 0, 0, 3, 'a', 'b', 'c', 0, 0, 0, 0};
	static const uint8_t big[] = {0, 0x10, 0, 1};
	const uint8_t *p;
	size_t plen, used;

	(void)state;
	assert_int_equal(vv_net_frame_decode(f, 3, 0, &p, &plen, &used), 0);
	assert_int_equal(vv_net_frame_decode(f, 6, 0, &p, &plen, &used), 0);
	assert_int_equal(vv_net_frame_decode(f, sizeof f, 0, &p, &plen, &used), 1);
	assert_int_equal(plen, 3);
	assert_int_equal(used, 7);
	assert_memory_equal(p, "abc", 3);
	assert_int_equal(vv_net_frame_decode(f + 7, 4, 0, &p, &plen, &used), 1);
	assert_int_equal(plen, 0);
	assert_int_equal(vv_net_frame_decode(big, sizeof big, 0, &p, &plen, &used), VV_ERR_FRAME_SIZE);
	assert_int_equal(vv_net_frame_decode(f, sizeof f, 2, &p, &plen, &used), VV_ERR_FRAME_SIZE);
}

static int parse(const char *s, vv_net_request **r, char *id)
{
	return vv_net_request_parse(s, strlen(s), r, id);
}

static void test_request_parse(void **state)
{
	vv_net_request *r = NULL;
	char id[VV_NET_ID_MAX + 1];
	const char *s;
	int64_t i;
	bool b;

	(void)state;
	assert_int_equal(parse("{\"v\":1,\"verb\":\"audit.query\",\"id\":\"q1\",\"n\":5,\"all\":true,\"s\":\"x\"}",
			       &r, id),
			 0);
	assert_int_equal(vv_net_request_verb(r), VV_VERB_AUDIT_QUERY);
	assert_int_equal(vv_net_req_int(r, "n", true, 0, 10, &i), 1);
	assert_int_equal(i, 5);
	assert_int_equal(vv_net_req_int(r, "n", true, 6, 10, &i), VV_ERR_PROTO);
	assert_non_null(strstr(vv_err_detail(), "'n'"));
	assert_int_equal(vv_net_req_bool(r, "all", true, &b), 1);
	assert_true(b);
	assert_int_equal(vv_net_req_str(r, "s", true, 1, &s), 1);
	assert_int_equal(vv_net_req_str(r, "n", true, 10, &s), VV_ERR_PROTO);
	assert_non_null(strstr(vv_err_detail(), "field 'n' must be a string"));
	assert_int_equal(vv_net_req_str(r, "missing", false, 10, &s), 0);
	assert_int_equal(vv_net_req_str(r, "missing", true, 10, &s), VV_ERR_PROTO);
	assert_non_null(strstr(vv_err_detail(), "'missing' is required"));
	assert_int_equal(vv_net_req_bool(r, "s", false, &b), VV_ERR_PROTO);
	assert_true(json_object_is_type(vv_net_request_json(r), json_type_object));
	vv_net_request_free(r);
	r = NULL;

	/* Refusals, each with its code; the id comes back when readable. */
	assert_int_equal(parse("{\"v\":1,\"verb\":\"hello\",\"id\":\"a\"", &r, id), VV_ERR_PROTO);
	assert_int_equal(parse("not json", &r, id), VV_ERR_PROTO);
	assert_int_equal(parse("[1,2]", &r, id), VV_ERR_PROTO);
	assert_int_equal(parse("42", &r, id), VV_ERR_PROTO);
	assert_int_equal(parse("{\"v\":1,\"verb\":\"hello\",\"id\":\"a\"} x", &r, id), VV_ERR_PROTO);
	assert_int_equal(parse("{\"v\":1,\"verb\":\"hello\",\"id\":\"a\"}\n", &r, id), 0);
	vv_net_request_free(r);
	r = NULL;
	assert_int_equal(parse("{\"v\":1,\"verb\":\"hello\",\"id\":\"a\",\"x\":[[[[[[[[[[1]]]]]]]]]]}", &r, id),
			 VV_ERR_PROTO);
	assert_int_equal(parse("{\"v\":1,\"verb\":\"hello\"}", &r, id), VV_ERR_PROTO);
	assert_int_equal(parse("{\"v\":1,\"verb\":\"hello\",\"id\":\"has space\"}", &r, id), VV_ERR_PROTO);
	assert_int_equal(parse("{\"v\":1,\"verb\":\"rm -rf\",\"id\":\"r7\"}", &r, id), VV_ERR_UNKNOWN_VERB);
	assert_string_equal(id, "r7");
	assert_string_equal(vv_net_err_code(VV_ERR_UNKNOWN_VERB), "unknown_verb");
	assert_int_equal(parse("{\"v\":2,\"verb\":\"hello\",\"id\":\"r8\"}", &r, id), VV_ERR_PROTO_VERSION);
	assert_string_equal(id, "r8");
	assert_int_equal(parse("{\"v\":\"1\",\"verb\":\"hello\",\"id\":\"r9\"}", &r, id), VV_ERR_PROTO);
	assert_int_equal(parse("{\"v\":1,\"verb\":7,\"id\":\"r9\"}", &r, id), VV_ERR_PROTO);
	assert_null(r);
}

static void test_responses(void **state)
{
	json_object *data = json_object_new_object();
	vv_net_response resp;
	char *txt = NULL;
	size_t len;
	json_object *v;

	(void)state;
	json_object_object_add(data, "job", json_object_new_string("abc"));
	assert_int_equal(vv_net_response_ok("r1", data, &txt, &len), 0);
	assert_int_equal(vv_net_response_parse(txt, len, &resp), 0);
	assert_true(resp.ok);
	assert_string_equal(resp.id, "r1");
	assert_true(json_object_object_get_ex(resp.json, "job", &v));
	assert_string_equal(json_object_get_string(v), "abc");
	vv_net_response_done(&resp);
	free(txt);
	/* Data may not override the envelope. */
	json_object_object_add(data, "ok", json_object_new_boolean(0));
	assert_int_equal(vv_net_response_ok("r1", data, &txt, &len), VV_ERR_INVAL);
	json_object_put(data);

	assert_int_equal(vv_net_response_error("r2", VV_ERR_DENIED, "role auditor may not call submit", &txt, &len),
			 0);
	assert_int_equal(vv_net_response_parse(txt, len, &resp), 0);
	assert_false(resp.ok);
	assert_string_equal(resp.code, "denied");
	assert_string_equal(resp.message, "role auditor may not call submit");
	vv_net_response_done(&resp);
	free(txt);
	assert_int_equal(vv_net_response_parse("{\"v\":2,\"ok\":true}", 17, &resp), VV_ERR_PROTO_VERSION);
	assert_int_equal(vv_net_response_parse("{\"v\":1}", 7, &resp), VV_ERR_PROTO);
	/* The code table. */
	assert_string_equal(vv_net_err_code(VV_ERR_PROTO), "malformed");
	assert_string_equal(vv_net_err_code(VV_ERR_PROTO_VERSION), "bad_version");
	assert_string_equal(vv_net_err_code(VV_ERR_FRAME_SIZE), "frame_too_large");
	assert_string_equal(vv_net_err_code(VV_ERR_NOTFOUND), "not_found");
	assert_string_equal(vv_net_err_code(-999), "internal");
	for (int i = 0; i < VV_VERB_COUNT; i++) {
		enum vv_net_verb v2;
		assert_int_equal(vv_net_verb_parse(vv_net_verb_name((enum vv_net_verb)i), &v2), 0);
		assert_int_equal(v2, i);
	}
	assert_null(vv_net_verb_name(VV_VERB_COUNT));
}

/* ------------------------------------------------------------ access */

static const char policy[] = "[roles]\n"
			     "submitter = hello submit status list result cancel health\n"
			     "auditor = hello audit.query audit.verify health\n"
			     "[clients]\n"
			     "cn.alice = submitter\n"
			     "cn.eve = auditor uid 4242\n"
			     "%s = auditor\n";

static void test_access_policy(void **state)
{
	vv_net_access *a = NULL, *b;
	vv_net_peer p = {0};
	char buf[1024];
	const char *role;
	const char *src = getenv("VV_SRC");
	char path[512];

	(void)state;
	memset(p.sha256, 'a', 64);
	snprintf(buf, sizeof buf, policy, p.sha256);
	assert_int_equal(vv_net_access_parse(buf, strlen(buf), "access.conf", &a), 0);
	/* By CN. */
	strcpy(p.cn, "alice");
	memset(p.sha256, 'b', 64);
	assert_int_equal(vv_net_access_lookup(a, &p, &role), 0);
	assert_string_equal(role, "submitter");
	assert_int_equal(vv_net_access_check(a, &p, VV_VERB_SUBMIT, &role), 0);
	assert_int_equal(vv_net_access_check(a, &p, VV_VERB_AUDIT_QUERY, &role), VV_ERR_DENIED);
	assert_non_null(strstr(vv_err_detail(), "role submitter may not call audit.query"));
	/* By fingerprint, which wins over the CN. */
	memset(p.sha256, 'a', 64);
	assert_int_equal(vv_net_access_lookup(a, &p, &role), 0);
	assert_string_equal(role, "auditor");
	/* Unknown identity. */
	strcpy(p.cn, "zoe");
	memset(p.sha256, 'c', 64);
	assert_int_equal(vv_net_access_lookup(a, &p, &role), VV_ERR_DENIED);
	assert_null(role);
	/* A uid binding. */
	strcpy(p.cn, "eve");
	p.has_cred = true;
	p.uid = 4242;
	assert_int_equal(vv_net_access_lookup(a, &p, &role), 0);
	p.uid = 1000;
	assert_int_equal(vv_net_access_lookup(a, &p, &role), VV_ERR_DENIED);
	p.has_cred = false;
	p.uid = 4242;
	assert_int_equal(vv_net_access_lookup(a, &p, &role), VV_ERR_DENIED);
	assert_false(vv_net_access_allows(a, "nobody", VV_VERB_HELLO));
	assert_true(vv_net_access_allows(a, "auditor", VV_VERB_AUDIT_VERIFY));
	assert_false(vv_net_access_allows(a, "auditor", VV_VERB_RESULT));
	/* References: the last free frees. */
	b = vv_net_access_ref(a);
	vv_net_access_free(a);
	assert_true(vv_net_access_allows(b, "auditor", VV_VERB_HEALTH));
	vv_net_access_free(b);

	/* The committed default parses and gives the documented roles. */
	snprintf(path, sizeof path, "%s/policy/access.conf", src ? src : ".");
	assert_int_equal(vv_net_access_load(path, &a), 0);
	assert_true(vv_net_access_allows(a, "submitter", VV_VERB_SUBMIT));
	assert_true(vv_net_access_allows(a, "admin", VV_VERB_DELETE));
	assert_false(vv_net_access_allows(a, "auditor", VV_VERB_RESULT));
	assert_false(vv_net_access_allows(a, "submitter", VV_VERB_DELETE));
	vv_net_access_free(a);
}

static void access_refused(const char *text, const char *want)
{
	vv_net_access *a = NULL;
	assert_int_equal(vv_net_access_parse(text, strlen(text), "access.conf", &a), VV_ERR_POLICY);
	assert_null(a);
	if (!strstr(vv_err_detail(), want))
		fail_msg("detail '%s' lacks '%s'", vv_err_detail(), want);
}

static void test_access_errors(void **state)
{
	(void)state;
	access_refused("[roles]\nx = hello\n[other]\na = b\n", "access.conf:4: unknown section [other]");
	access_refused("[roles]\nx = hello launch\n", "access.conf:2: role 'x': unknown verb 'launch'");
	access_refused("[roles]\nx = hello\n[clients]\ncn.a = y\n", "access.conf:4: role 'y' is not defined");
	access_refused("[roles]\nx = hello\n[clients]\nalice = x\n", "access.conf:4: [clients] key must be");
	access_refused("[roles]\nx = hello\n[clients]\nabc123 = x\n", "access.conf:4:");
	access_refused("[roles]\nx = hello\n[clients]\ncn.a = x uid\n", "access.conf:4: expected 'role [uid N]'");
	access_refused("[roles]\nx = hello\n[clients]\ncn.a = x uid -1\n", "access.conf:4: uid must be a number");
	access_refused("[roles]\nx = hello\n[clients]\ncn.a = x gid 3\n", "access.conf:4: expected");
	access_refused("[roles]\nx = hello\n[clients]\ncn.a = x uid 3 4\n", "access.conf:4: unexpected text");
	access_refused("[roles]\nx = hello\n[clients]\ncn.a = x\ncn.a = x\n", "access.conf:5:");
	access_refused("[roles]\nx = hello\n[clients]\n"
		       "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA = x\n"
		       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa = x\n",
		       "access.conf:5: client listed twice (first on line 4)");
	access_refused("[roles]\nx = \n[clients]\ncn.a = \n", "access.conf:4: expected 'role [uid N]'");
	access_refused("[roles\n", "access.conf:1:");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mtls_exchange_and_identity),
		cmocka_unit_test(test_refuses_no_client_certificate),
		cmocka_unit_test(test_refuses_other_ca),
		cmocka_unit_test(test_refuses_expired),
		cmocka_unit_test(test_revoked_after_reload_keeps_open_connections),
		cmocka_unit_test(test_refuses_tls12),
		cmocka_unit_test(test_refuses_plain_bytes),
		cmocka_unit_test(test_refuses_oversized_frame),
		cmocka_unit_test(test_slow_peer_hits_deadlines),
		cmocka_unit_test(test_client_checks_server_identity),
		cmocka_unit_test(test_lab_ca),
		cmocka_unit_test(test_listen),
		cmocka_unit_test(test_reload_failure_keeps_context),
		cmocka_unit_test(test_pki_index_and_files),
		cmocka_unit_test(test_pki_from_csr),
		cmocka_unit_test(test_crl_digest),
		cmocka_unit_test(test_frame_decode),
		cmocka_unit_test(test_request_parse),
		cmocka_unit_test(test_responses),
		cmocka_unit_test(test_access_policy),
		cmocka_unit_test(test_access_errors),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
