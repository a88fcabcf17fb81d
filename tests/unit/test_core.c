/* Unit tests of src/core: errors, secure buffers, hardening, helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <wchar.h>

#include <json-c/json.h>

#include "varvault/core.h"

static void test_strerror_names_every_code(void **state)
{
	(void)state;
	assert_string_equal(vv_strerror(VV_OK), "success");
	assert_string_equal(vv_strerror(VV_ERR_KEY_PASSPHRASE), "invalid key or passphrase");
	assert_string_equal(vv_strerror(12345), "unknown error");
	for (int c = -1; c > -500; c--) {
		const char *s = vv_strerror(c);
		assert_non_null(s);
	}
}

/* Every code with the number it has on the wire and in the audit log.  A
 * renumbering, or a code added to core.h and error.c but not here, fails. */
static const struct {
	int code, value;
} vv_wire[] = {
	{VV_OK, 0},
	{VV_ERR_NOMEM, -1},
	{VV_ERR_INVAL, -2},
	{VV_ERR_IO, -3},
	{VV_ERR_RANGE, -4},
	{VV_ERR_FORMAT, -5},
	{VV_ERR_UNSUPPORTED, -6},
	{VV_ERR_NOTFOUND, -7},
	{VV_ERR_EXISTS, -8},
	{VV_ERR_INTERNAL, -9},
	{VV_ERR_CANCELLED, -10},
	{VV_ERR_MLOCK, -11},
	{VV_ERR_TRUNCATED, -12},
	{VV_ERR_C4GH_MAGIC, -100},
	{VV_ERR_C4GH_VERSION, -101},
	{VV_ERR_C4GH_HEADER, -102},
	{VV_ERR_C4GH_NOKEY, -103},
	{VV_ERR_C4GH_METHOD, -104},
	{VV_ERR_C4GH_SEGMENT, -105},
	{VV_ERR_C4GH_TRUNCATED, -106},
	{VV_ERR_C4GH_EDITLIST, -107},
	{VV_ERR_C4GH_WRITER, -108},
	{VV_ERR_KEY_FORMAT, -120},
	{VV_ERR_KEY_KDF, -121},
	{VV_ERR_KEY_CIPHER, -122},
	{VV_ERR_KEY_PASSPHRASE, -123},
	{VV_ERR_KEY_NEEDPASS, -124},
	{VV_ERR_MODEL_FORMAT, -200},
	{VV_ERR_MODEL_TENSOR, -201},
	{VV_ERR_MODEL_CONFIG, -202},
	{VV_ERR_MODEL_PICKLE, -203},
	{VV_ERR_MODEL_VOCAB, -204},
	{VV_ERR_MODEL_SEQLEN, -205},
	{VV_ERR_VCF_PARSE, -300},
	{VV_ERR_VCF_FIELD, -301},
	{VV_ERR_VCF_LIMIT, -302},
	{VV_ERR_REF_MISMATCH, -303},
	{VV_ERR_REF_CONTIG, -304},
	{VV_ERR_REF_IO, -305},
	{VV_ERR_POLICY, -400},
	{VV_ERR_AUTH, -13},
	{VV_ERR_DB, -410},
	{VV_ERR_DB_VERSION, -411},
	{VV_ERR_DB_BUSY, -412},
	{VV_ERR_STATE, -413},
	{VV_ERR_DB_CORRUPT, -414},
	{VV_ERR_NOSPACE, -415},
	{VV_ERR_TLS, -430},
	{VV_ERR_PEER_CERT, -431},
	{VV_ERR_PROTO, -432},
	{VV_ERR_TIMEOUT, -433},
	{VV_ERR_DENIED, -434},
	{VV_ERR_CLOSED, -435},
	{VV_ERR_UNKNOWN_VERB, -436},
	{VV_ERR_PROTO_VERSION, -437},
	{VV_ERR_FRAME_SIZE, -438},
	{VV_ERR_PKI, -439},
	{VV_ERR_BUSY, -440},
	{VV_ERR_SCORES_FORMAT, -500},
	{VV_ERR_SCORES_MISMATCH, -501},
	{VV_ERR_SCORES_INDEX, -502},
	{VV_ERR_WORKER, -700},
	{VV_ERR_TIME_LIMIT, -701},
	{VV_ERR_CHECKSUM, -702},
	{VV_ERR_SANDBOX, -703},
	{VV_ERR_SANDBOX_KILLED, -704},
	{VV_ERR_CPU_LIMIT, -705},
	{VV_ERR_MEMLOCK_LIMIT, -710},
	{VV_ERR_PRIVS, -715},
	{VV_ERR_ROOT, -716},
	{VV_ERR_SD_SOCKET, -717},
	{VV_ERR_AUDIT, -800},
	{VV_ERR_AUDIT_KEY, -801},
	{VV_ERR_AUDIT_SIG, -802},
	{VV_ERR_AUDIT_PROOF, -803},
	{VV_ERR_AUDIT_CONSISTENCY, -804},
	{VV_ERR_AUDIT_TAMPERED, -805},
};
#define VV_NWIRE (sizeof vv_wire / sizeof vv_wire[0])

/* Runs one vv_log_fields call with stderr on a temporary file; returns
 * what it wrote (static). */
static const char *logged(enum vv_log_level level, const struct vv_log_field *f, size_t n, const char *msg)
{
	static char buf[2048];
	FILE *tmp = tmpfile();
	int saved = dup(STDERR_FILENO);
	size_t k;

	assert_non_null(tmp);
	fflush(stderr);
	assert_int_equal(dup2(fileno(tmp), STDERR_FILENO), STDERR_FILENO);
	vv_log_fields(level, f, n, "%s", msg);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	rewind(tmp);
	k = fread(buf, 1, sizeof buf - 1, tmp);
	buf[k] = '\0';
	fclose(tmp);
	return buf;
}

static const char *sink_msg;
static size_t sink_n;
static const char *sink_f1;
static void test_sink(enum vv_log_level level, const char *progname, const char *msg, const struct vv_log_field *f,
		      size_t n)
{
	(void)level;
	(void)progname;
	sink_msg = msg;
	sink_n = n;
	sink_f1 = n > 1 ? f[1].value : NULL;
}

/* Structured fields follow the message on stderr; a sink gets them as
 * fields instead, and stderr stays silent. */
static void test_log_fields(void **state)
{
	struct vv_log_field f[2] = {{"VARVAULT_EVENT", "job_done"}, {"VARVAULT_JOB", "abc"}};

	(void)state;
	vv_log_init("t", VV_LOG_INFO);
	assert_string_equal(logged(VV_LOG_INFO, f, 2, "job abc: done"),
			    "t: job abc: done [VARVAULT_EVENT=job_done VARVAULT_JOB=abc]\n");
	assert_string_equal(logged(VV_LOG_WARN, f, 1, "x"), "t: warning: x [VARVAULT_EVENT=job_done]\n");
	assert_string_equal(logged(VV_LOG_INFO, NULL, 0, "plain"), "t: plain\n");
	assert_string_equal(logged(VV_LOG_DEBUG, f, 2, "below the threshold"), "");
	vv_log_set_sink(test_sink);
	assert_string_equal(logged(VV_LOG_INFO, f, 2, "to the sink"), "");
	vv_log_set_sink(NULL);
	assert_int_equal(sink_n, 2);
	assert_string_equal(sink_f1, "abc");
	assert_non_null(sink_msg);
}

static void test_codes_keep_wire_values(void **state)
{
	size_t named = 0;

	(void)state;
	for (size_t i = 0; i < VV_NWIRE; i++) {
		assert_int_equal(vv_wire[i].code, vv_wire[i].value);
		assert_string_not_equal(vv_strerror(vv_wire[i].code), "unknown error");
		for (size_t j = 0; j < i; j++) {
			assert_int_not_equal(vv_wire[i].code, vv_wire[j].code);
			assert_string_not_equal(vv_strerror(vv_wire[i].code), vv_strerror(vv_wire[j].code));
		}
	}
	/* every code vv_strerror knows is one of the table above */
	for (int c = 1; c >= -1000; c--)
		if (strcmp(vv_strerror(c), "unknown error") != 0)
			named++;
	assert_int_equal(named, VV_NWIRE);
}

/* vv_errf and vv_err_prefix keep errno even when formatting fails with
 * EILSEQ (a wide character the C locale cannot encode). */
static void test_errf_keeps_errno(void **state)
{
	static const wchar_t wide[] = {0x100, 0};

	(void)state;
	errno = ENOSPC;
	assert_int_equal(vv_errf(VV_ERR_IO, "out.vcf: %ls", wide), VV_ERR_IO);
	assert_int_equal(errno, ENOSPC);
	errno = EACCES;
	assert_int_equal(vv_errf(VV_ERR_IO, "line %d", 3), VV_ERR_IO);
	assert_int_equal(errno, EACCES);
	errno = ENOENT;
	assert_int_equal(vv_err_prefix(VV_ERR_IO, "%ls", wide), VV_ERR_IO);
	assert_int_equal(errno, ENOENT);
	vv_err_clear();
	errno = EPERM;
	assert_int_equal(vv_err_prefix(VV_ERR_IO, "%ls", wide), VV_ERR_IO);
	assert_int_equal(errno, EPERM);
	vv_err_clear();
}

/* vv_log and vv_log_err keep errno even when writing to stderr fails
 * (stderr closed for the test: fprintf sets EBADF). */
static void test_log_keeps_errno(void **state)
{
	static const wchar_t wide[] = {0x100, 0};
	int saved = dup(STDERR_FILENO), e[4], rc[2];

	(void)state;
	assert_true(saved >= 0);
	vv_log_init("test_core", VV_LOG_DEBUG);
	/* asserts wait until stderr is back, so that a failure shows */
	assert_int_equal(close(STDERR_FILENO), 0);
	errno = ENOSPC;
	vv_log(VV_LOG_ERROR, "while stderr is closed");
	e[0] = errno;
	errno = EACCES;
	vv_log(VV_LOG_INFO, "%ls", wide);
	e[1] = errno;
	errno = EIO;
	(void)vv_errf(VV_ERR_IO, "detail");
	rc[0] = vv_log_err(VV_ERR_IO, "writing %s", "out.vcf");
	e[2] = errno;
	vv_err_clear();
	errno = ENOENT;
	rc[1] = vv_log_err(VV_ERR_IO, "reading %ls", wide);
	e[3] = errno;
	assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	close(saved);
	clearerr(stderr);
	vv_log_init("test_core", VV_LOG_INFO);
	assert_int_equal(e[0], ENOSPC);
	assert_int_equal(e[1], EACCES);
	assert_int_equal(e[2], EIO);
	assert_int_equal(e[3], ENOENT);
	assert_int_equal(rc[0], VV_ERR_IO);
	assert_int_equal(rc[1], VV_ERR_IO);
}

static void test_detail_and_prefix(void **state)
{
	(void)state;
	vv_err_clear();
	assert_string_equal(vv_err_detail(), "");
	assert_int_equal(vv_errf(VV_ERR_FORMAT, "line %d, field %s", 7, "POS"), VV_ERR_FORMAT);
	assert_string_equal(vv_err_detail(), "line 7, field POS");
	assert_int_equal(vv_err_prefix(VV_ERR_FORMAT, "in.vcf"), VV_ERR_FORMAT);
	assert_string_equal(vv_err_detail(), "in.vcf: line 7, field POS");
	vv_err_clear();
	assert_string_equal(vv_err_detail(), "");
}

static void test_sbuf_grows_and_keeps_contents(void **state)
{
	vv_sbuf b;
	uint8_t chunk[1000];

	(void)state;
	vv_sbuf_init(&b, 0);
	for (int i = 0; i < 100; i++) {
		memset(chunk, i, sizeof chunk);
		assert_int_equal(vv_sbuf_append(&b, chunk, sizeof chunk), 0);
	}
	assert_int_equal(b.len, 100000);
	assert_true(b.cap >= b.len);
	for (int i = 0; i < 100; i++)
		assert_int_equal(b.data[i * 1000 + 999], i);
	vv_sbuf_wipe(&b);
	assert_int_equal(b.len, 0);
	for (size_t i = 0; i < b.cap; i++)
		assert_int_equal(b.data[i], 0);
	vv_sbuf_done(&b);
	assert_null(b.data);
	vv_sbuf_done(NULL);
}

static void test_sbuf_limit(void **state)
{
	vv_sbuf b;
	uint8_t x[64] = {0};

	(void)state;
	vv_sbuf_init(&b, 100);
	assert_int_equal(vv_sbuf_append(&b, x, 64), 0);
	assert_int_equal(vv_sbuf_append(&b, x, 36), 0);
	assert_int_equal(vv_sbuf_append(&b, x, 1), VV_ERR_RANGE);
	assert_int_equal(b.len, 100);
	vv_sbuf_done(&b);

	/* Out of memory (sodium_malloc refuses the size): its own detail. */
	vv_sbuf_init(&b, 0);
	(void)vv_errf(VV_ERR_KEY_NEEDPASS, "an earlier, unrelated detail");
	assert_int_equal(vv_sbuf_reserve(&b, SIZE_MAX - 10), VV_ERR_NOMEM);
	assert_non_null(strstr(vv_err_detail(), "secure buffer"));
	assert_null(b.data);
	vv_sbuf_done(&b);
}

static void test_sbuf_read_fd(void **state)
{
	int fds[2];
	vv_sbuf b;
	uint8_t chunk[5000];

	(void)state;
	memset(chunk, 'x', sizeof chunk);
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(vv_write_all(fds[1], chunk, sizeof chunk), 0);
	close(fds[1]);
	vv_sbuf_init(&b, 0);
	assert_int_equal(vv_sbuf_read_fd(&b, fds[0]), 0);
	assert_int_equal(b.len, sizeof chunk);
	assert_memory_equal(b.data, chunk, sizeof chunk);
	close(fds[0]);
	vv_sbuf_done(&b);

	assert_int_equal(pipe(fds), 0);
	assert_int_equal(vv_write_all(fds[1], chunk, sizeof chunk), 0);
	close(fds[1]);
	vv_sbuf_init(&b, 4999);
	assert_int_equal(vv_sbuf_read_fd(&b, fds[0]), VV_ERR_RANGE);
	close(fds[0]);
	vv_sbuf_done(&b);

	/* Exactly max bytes, then end of file: accepted (RANGE is past max). */
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(vv_write_all(fds[1], chunk, sizeof chunk), 0);
	close(fds[1]);
	vv_sbuf_init(&b, sizeof chunk);
	assert_int_equal(vv_sbuf_read_fd(&b, fds[0]), 0);
	assert_int_equal(b.len, sizeof chunk);
	assert_memory_equal(b.data, chunk, sizeof chunk);
	close(fds[0]);
	vv_sbuf_done(&b);
}

/* Turns CAP_IPC_LOCK (which lets root lock past RLIMIT_MEMLOCK) off or back
 * on in the effective set.  Returns 0, or -1 if capabilities cannot be set. */
static int ipc_lock_effective(bool on)
{
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2];
	uint32_t bit = 1u << (CAP_IPC_LOCK % 32);

	if (syscall(SYS_capget, &h, d) != 0)
		return -1;
	if (on)
		d[CAP_IPC_LOCK / 32].effective |= d[CAP_IPC_LOCK / 32].permitted & bit;
	else
		d[CAP_IPC_LOCK / 32].effective &= ~bit;
	return syscall(SYS_capset, &h, d) == 0 ? 0 : -1;
}

static void test_sbuf_locked(void **state)
{
	struct rlimit old, small;
	vv_sbuf b, c;
	uint8_t x[100] = {1};
	int r;

	(void)state;
	vv_sbuf_init(&b, 0);
	assert_true(vv_sbuf_locked(&b)); /* nothing held */
	assert_int_equal(vv_sbuf_append(&b, x, sizeof x), 0);
	assert_true(vv_sbuf_locked(&b));
	vv_sbuf_done(&b);

	/* Past RLIMIT_MEMLOCK the buffer still works, and says it is not locked.
	 * (ASan's mlock does nothing and reports success: not testable there.) */
#ifdef __SANITIZE_ADDRESS__
	skip();
#endif
	assert_int_equal(getrlimit(RLIMIT_MEMLOCK, &old), 0);
	small = old;
	small.rlim_cur = 256 << 10;
	if (ipc_lock_effective(false) != 0 || setrlimit(RLIMIT_MEMLOCK, &small) != 0) {
		(void)ipc_lock_effective(true);
		skip();
	}
	vv_sbuf_init(&b, 0);
	r = vv_sbuf_reserve(&b, 4u << 20);
	vv_sbuf_init(&c, 0);
	if (r == 0)
		r = vv_sbuf_append(&c, x, sizeof x);
	assert_int_equal(setrlimit(RLIMIT_MEMLOCK, &old), 0);
	assert_int_equal(ipc_lock_effective(true), 0);
	assert_int_equal(r, 0);
	assert_false(vv_sbuf_locked(&b));
	memset(b.data, 7, 4u << 20);
	assert_true(vv_sbuf_locked(&c)); /* a small one still fits under the limit */
	vv_sbuf_done(&b);
	assert_true(vv_sbuf_locked(&b));
	vv_sbuf_done(&c);
}

static void test_harden_process(void **state)
{
	struct rlimit rl;

	(void)state;
	assert_int_equal(vv_harden_process(), 0);
	assert_int_equal(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 0);
	assert_int_equal(getrlimit(RLIMIT_CORE, &rl), 0);
	assert_int_equal(rl.rlim_cur, 0);
}

static void test_sha256_vectors(void **state)
{
	uint8_t d[32];
	char hex[65];
	vv_sha256 *h;

	(void)state;
	vv_sha256_oneshot("abc", 3, d);
	vv_hex(d, 32, hex);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	h = vv_sha256_new();
	assert_non_null(h);
	vv_sha256_update(h, "a", 1);
	vv_sha256_update(h, "bc", 2);
	vv_sha256_final(h, d);
	vv_hex(d, 32, hex);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	{
		/* the one shot (OpenSSL) and the streaming hash (libsodium)
		 * agree on many blocks and a tail */
		const size_t n = (1u << 20) + 3;
		uint8_t *buf = malloc(n), e[32];
		unsigned x = 1;
		assert_non_null(buf);
		for (size_t i = 0; i < n; i++, x = x * 1103515245u + 12345u)
			buf[i] = (uint8_t)(x >> 16);
		vv_sha256_oneshot(buf, n, d);
		h = vv_sha256_new();
		assert_non_null(h);
		vv_sha256_update(h, buf, 1000);
		vv_sha256_update(h, buf + 1000, n - 1000);
		vv_sha256_final(h, e);
		assert_memory_equal(d, e, 32);
		free(buf);
	}
}

static void test_size_checks(void **state)
{
	size_t r;

	(void)state;
	assert_int_equal(vv_size_mul(SIZE_MAX / 2, 2, &r), 0);
	assert_int_equal(vv_size_mul(SIZE_MAX / 2, 3, &r), VV_ERR_RANGE);
	assert_int_equal(vv_size_add(SIZE_MAX, 1, &r), VV_ERR_RANGE);
	assert_int_equal(vv_size_add(1, 2, &r), 0);
	assert_int_equal(r, 3);
}

static void test_array_grow(void **state)
{
	int *a = NULL;
	size_t cap = 0, n = 0;

	(void)state;
	for (int i = 0; i < 1000; i++) {
		assert_int_equal(vv_array_grow((void **)&a, &cap, n, sizeof *a, 4), 0);
		assert_true(cap > n);
		a[n++] = i;
	}
	assert_int_equal(cap, 1024);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(a[i], i);
	free(a);
	a = NULL;
	cap = SIZE_MAX / 2 + 1;
	(void)vv_errf(VV_ERR_KEY_NEEDPASS, "an earlier, unrelated detail");
	assert_int_equal(vv_array_grow((void **)&a, &cap, cap, sizeof *a, 4), VV_ERR_RANGE);
	assert_null(a);
	/* The failure says what it is, not what happened before. */
	assert_non_null(strstr(vv_err_detail(), "array"));
}

static void test_read_file(void **state)
{
	char path[] = "/tmp/vv_core_XXXXXX";
	int fd = mkstemp(path);
	char *buf = NULL;
	size_t n = 0;

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(vv_write_all(fd, "hello\n", 6), 0);
	close(fd);
	assert_int_equal(vv_read_file(path, 100, &buf, &n), 0);
	assert_int_equal(n, 6);
	assert_string_equal(buf, "hello\n");
	free(buf);
	assert_int_equal(vv_read_file(path, 5, &buf, &n), VV_ERR_RANGE);
	assert_null(buf);
	unlink(path);
	assert_int_equal(vv_read_file(path, 100, &buf, &n), VV_ERR_IO);
	assert_non_null(strstr(vv_err_detail(), path));
}

static void test_conf_parse(void **state)
{
	static const char text[] = "# policy\n"
				   "top = 1\n"
				   "[snv]\n"
				   "  pp3_strong = -7.5  \n"
				   "bp4_supporting =\n"
				   "[policy]\n"
				   "calibrated = no\n";
	static const char *const known[] = {".top", "snv.*", "policy.calibrated", NULL};
	static const char *const narrow[] = {".top", "snv.pp3_strong", NULL};
	vv_conf *c = NULL;
	double d = 0;
	int b = 1;

	(void)state;
	assert_int_equal(vv_conf_parse(text, sizeof text - 1, "t.conf", &c), 0);
	assert_string_equal(vv_conf_get(c, "", "top"), "1");
	assert_string_equal(vv_conf_get(c, "snv", "pp3_strong"), "-7.5");
	assert_int_equal(vv_conf_line(c, "snv", "pp3_strong"), 4);
	assert_null(vv_conf_get(c, "snv", "missing"));
	assert_int_equal(vv_conf_double(c, "snv", "pp3_strong", &d), 1);
	assert_true(d == -7.5);
	assert_int_equal(vv_conf_double(c, "snv", "bp4_supporting", &d), 0);
	assert_int_equal(vv_conf_bool(c, "policy", "calibrated", &b), 1);
	assert_int_equal(b, 0);
	assert_int_equal(vv_conf_check_known(c, known), 0);
	assert_int_equal(vv_conf_check_known(c, narrow), VV_ERR_FORMAT);
	assert_non_null(strstr(vv_err_detail(), "t.conf:5"));
	vv_conf_free(c);
}

static void test_conf_errors_name_line(void **state)
{
	static const struct {
		const char *text;
		const char *where;
	} bad[] = {
		{"a = 1\na = 2\n", "x.conf:2"},
		{"[ok]\nnovalue\n", "x.conf:2"},
		{"[bad\n", "x.conf:1"},
		{"[s]\nk = abc\n", "x.conf:2"},
		{"b@d = 1\n", "x.conf:1"},
	};
	vv_conf *c = NULL;
	double d;

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int rc = vv_conf_parse(bad[i].text, strlen(bad[i].text), "x.conf", &c);
		if (rc == 0) {
			rc = vv_conf_double(c, "s", "k", &d);
			vv_conf_free(c);
			c = NULL;
		}
		assert_int_equal(rc, VV_ERR_FORMAT);
		assert_non_null(strstr(vv_err_detail(), bad[i].where));
	}
}

static void test_key_wrap(void **state)
{
	uint8_t kek[VV_KEY_LEN], key[VV_KEY_LEN], back[VV_KEY_LEN], w[VV_KEY_WRAP_LEN], w2[VV_KEY_WRAP_LEN];
	(void)state;
	assert_int_equal(vv_core_init(), 0);
	vv_key_random(kek);
	vv_key_random(key);
	assert_int_equal(vv_key_wrap(kek, key, "alice", 5, w), 0);
	assert_int_equal(vv_key_unwrap(kek, w, "alice", 5, back), 0);
	assert_memory_equal(key, back, VV_KEY_LEN);
	/* A fresh nonce each time: the same key wraps differently. */
	assert_int_equal(vv_key_wrap(kek, key, "alice", 5, w2), 0);
	assert_memory_not_equal(w, w2, VV_KEY_WRAP_LEN);
	/* Another owner, another kek, one flipped bit: refused, output zeroed. */
	memset(back, 0xAA, sizeof back);
	assert_int_equal(vv_key_unwrap(kek, w, "alicf", 5, back), VV_ERR_AUTH);
	for (size_t i = 0; i < VV_KEY_LEN; i++)
		assert_int_equal(back[i], 0);
	kek[0] ^= 1;
	assert_int_equal(vv_key_unwrap(kek, w, "alice", 5, back), VV_ERR_AUTH);
	kek[0] ^= 1;
	for (size_t i = 0; i < VV_KEY_WRAP_LEN; i++) {
		w[i] ^= 0x10;
		assert_int_equal(vv_key_unwrap(kek, w, "alice", 5, back), VV_ERR_AUTH);
		w[i] ^= 0x10;
	}
	assert_int_equal(vv_key_unwrap(kek, w, "alice", 5, back), 0);
}

static void test_seal_chunk(void **state)
{
	uint8_t key[VV_KEY_LEN], other[VV_KEY_LEN];
	const uint8_t msg[] = "annotated chunk bytes";
	uint8_t c[sizeof msg + VV_SEAL_OVERHEAD], p[sizeof msg];
	(void)state;
	assert_int_equal(vv_core_init(), 0);
	vv_key_random(key);
	vv_key_random(other);
	assert_int_equal(vv_seal_chunk(key, "job1", 3, false, msg, sizeof msg, c), 0);
	assert_int_equal(vv_open_chunk(key, "job1", 3, false, c, sizeof c, p), 0);
	assert_memory_equal(p, msg, sizeof msg);
	/* Bound to job, index, position and key. */
	assert_int_equal(vv_open_chunk(key, "job2", 3, false, c, sizeof c, p), VV_ERR_AUTH);
	for (size_t i = 0; i < sizeof p; i++)
		assert_int_equal(p[i], 0);
	assert_int_equal(vv_open_chunk(key, "job1", 4, false, c, sizeof c, p), VV_ERR_AUTH);
	assert_int_equal(vv_open_chunk(key, "job1", 3, true, c, sizeof c, p), VV_ERR_AUTH);
	assert_int_equal(vv_open_chunk(other, "job1", 3, false, c, sizeof c, p), VV_ERR_AUTH);
	for (size_t i = 0; i < sizeof c; i++) {
		c[i] ^= 0x01;
		assert_int_equal(vv_open_chunk(key, "job1", 3, false, c, sizeof c, p), VV_ERR_AUTH);
		c[i] ^= 0x01;
	}
	assert_int_equal(vv_open_chunk(key, "job1", 3, false, c, sizeof c - 1, p), VV_ERR_AUTH);
	assert_int_equal(vv_open_chunk(key, "job1", 3, false, c, VV_SEAL_OVERHEAD - 1, p), VV_ERR_FORMAT);
	/* The last chunk: FINAL tag and flag; an empty one is fine. */
	assert_int_equal(vv_seal_chunk(key, "job1", 0, true, NULL, 0, c), 0);
	assert_int_equal(vv_open_chunk(key, "job1", 0, true, c, VV_SEAL_OVERHEAD, p), 0);
	assert_int_equal(vv_open_chunk(key, "job1", 0, false, c, VV_SEAL_OVERHEAD, p), VV_ERR_AUTH);
	assert_int_equal(vv_seal_chunk(key, "", 0, true, msg, sizeof msg, c), VV_ERR_INVAL);
}

/* One JSON parser: objects only, strict, bounded in depth; the detail names
 * the text and the byte and line where it stopped, never the content. */
static void test_json_parse(void **state)
{
	static const struct {
		const char *text;
		int rc;
		const char *detail;
	} cases[] = {
		{"{\"a\": [1, 2, {\"b\": null}]}\n", 0, NULL},
		{"  {}  \r\n\t", 0, NULL},
		{"[1, 2]", VV_ERR_FORMAT, "not a JSON object"},
		{"\"secret\"", VV_ERR_FORMAT, "not a JSON object"},
		{"{\"a\": 1}\n{}", VV_ERR_FORMAT, "at byte 9 (line 2)"},
		{"{\n\"a\":\n tru}", VV_ERR_FORMAT, "(line 3)"},
		{"{\"a\": 1", VV_ERR_FORMAT, "invalid JSON at byte"},
		{"{\"a\" 1}", VV_ERR_FORMAT, "invalid JSON at byte 5 (line 1)"},
		{"{\"a\": \"\xff\"}", VV_ERR_FORMAT, "invalid JSON"},
		{"", VV_ERR_FORMAT, "invalid JSON at byte 0"},
	};
	struct json_object *o = (struct json_object *)&o, *v;
	char deep[128], nul[] = "{\"a\": 1}\0{}";
	size_t n = 0;

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		vv_err_clear();
		int rc = vv_json_parse(cases[i].text, strlen(cases[i].text), "t.json", &o);
		if (rc != cases[i].rc || (cases[i].detail && (!strstr(vv_err_detail(), cases[i].detail) ||
							   strncmp(vv_err_detail(), "t.json: ", 8) != 0)))
			fail_msg("case %zu: rc %d, detail '%s'", i, rc, vv_err_detail());
		if (rc == 0) {
			assert_true(json_object_is_type(o, json_type_object));
			json_object_put(o);
		} else {
			assert_null(o);
			assert_null(strstr(vv_err_detail(), "secret"));
		}
	}
	assert_int_equal(vv_json_parse("{\"k\": \"v\"}", 10, "t.json", &o), 0);
	assert_true(json_object_object_get_ex(o, "k", &v));
	assert_string_equal(json_object_get_string(v), "v");
	json_object_put(o);
	/* not NUL-terminated: only len bytes are read */
	assert_int_equal(vv_json_parse("{}garbage", 2, "t.json", &o), 0);
	json_object_put(o);
	assert_int_equal(vv_json_parse(nul, sizeof nul - 1, "t.json", &o), VV_ERR_FORMAT);
	assert_non_null(strstr(vv_err_detail(), "NUL byte in JSON at byte 8"));
	/* depth: VV_JSON_MAX_DEPTH levels parse, one more does not */
	for (int d = 0; d < VV_JSON_MAX_DEPTH + 1; d++) {
		n = 0;
		deep[n++] = '{';
		for (int i = 1; i < d + 1; i++) {
			memcpy(deep + n, "\"a\":{", 5);
			n += 5;
		}
		memset(deep + n, '}', (size_t)d + 1);
		n += (size_t)d + 1;
		assert_int_equal(vv_json_parse(deep, n, "deep.json", &o),
				 d + 1 <= VV_JSON_MAX_DEPTH ? 0 : VV_ERR_FORMAT);
		json_object_put(o);
	}
	assert_int_equal(vv_json_parse("{}", VV_JSON_MAX_BYTES + 1, "big.json", &o), VV_ERR_RANGE);
	assert_null(o);
}

/* Secret memory, a SHA-256 context dropped unfinished, a configuration
 * read from a file: the public calls the programs do not use yet. */
static void test_secret_sha_conf_load(void **state)
{
	char path[] = "/tmp/vv_conf_XXXXXX";
	const char text[] = "[s]\nk = 1.5\n";
	vv_conf *c = NULL;
	vv_sha256 *h;
	uint8_t *p;
	double d = 0;
	int fd;

	(void)state;
	p = vv_secret_alloc(100);
	assert_non_null(p);
	memset(p, 0xaa, 100);
	vv_secret_free(p);
	vv_secret_free(NULL);
	h = vv_sha256_new();
	assert_non_null(h);
	vv_sha256_update(h, "abc", 3);
	vv_sha256_free(h);
	vv_sha256_free(NULL);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(vv_write_all(fd, text, sizeof text - 1), 0);
	close(fd);
	assert_int_equal(vv_conf_load(path, &c), 0);
	assert_string_equal(vv_conf_name(c), path);
	assert_int_equal(vv_conf_double(c, "s", "k", &d), 1);
	assert_true(d == 1.5);
	vv_conf_free(c);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(vv_conf_load(path, &c), VV_ERR_IO);
	assert_null(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strerror_names_every_code),
		cmocka_unit_test(test_detail_and_prefix),
		cmocka_unit_test(test_codes_keep_wire_values),
		cmocka_unit_test(test_log_fields),
		cmocka_unit_test(test_errf_keeps_errno),
		cmocka_unit_test(test_log_keeps_errno),
		cmocka_unit_test(test_sbuf_grows_and_keeps_contents),
		cmocka_unit_test(test_sbuf_limit),
		cmocka_unit_test(test_sbuf_read_fd),
		cmocka_unit_test(test_sbuf_locked),
		cmocka_unit_test(test_harden_process),
		cmocka_unit_test(test_sha256_vectors),
		cmocka_unit_test(test_size_checks),
		cmocka_unit_test(test_array_grow),
		cmocka_unit_test(test_read_file),
		cmocka_unit_test(test_conf_parse),
		cmocka_unit_test(test_conf_errors_name_line),
		cmocka_unit_test(test_key_wrap),
		cmocka_unit_test(test_seal_chunk),
		cmocka_unit_test(test_json_parse),
		cmocka_unit_test(test_secret_sha_conf_load),
	};
	if (vv_core_init() != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
