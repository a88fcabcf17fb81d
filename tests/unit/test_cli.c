/* Unit tests of src/cli's helpers: passphrase sources, command dispatch and
 * the size parser of options.  (Output files are core's: test_outfile.c.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../src/cli/cli.h"
#include "../../src/cli/passphrase.h"

/* ---- helpers ---- */

static char dir[64];

static int make_dir(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/vv_cli_XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static const char *in_dir(const char *name)
{
	static char path[256];

	snprintf(path, sizeof path, "%s/%s", dir, name);
	return path;
}

static void put_file(const char *path, const char *text, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(vv_write_all(fd, text, n), 0);
	close(fd);
}

/* ---- passphrases ---- */

static int passphrase_file(const char *text, size_t n, vv_sbuf *p)
{
	const char *path = in_dir("pass");

	put_file(path, text, n);
	vv_sbuf_init(p, VV_PASSPHRASE_BUF);
	return vv_cli_passphrase(path, "the key", false, p);
}

/* The longest passphrase is accepted with and without its line ending. */
static void test_passphrase_file_lengths(void **state)
{
	static const struct {
		size_t n;
		const char *end;
		int rc;
	} cases[] = {
		{VV_PASSPHRASE_MAX, "", 0},
		{VV_PASSPHRASE_MAX, "\n", 0},
		{VV_PASSPHRASE_MAX, "\r\n", 0},
		{VV_PASSPHRASE_MAX + 1, "", VV_ERR_RANGE},
		{VV_PASSPHRASE_MAX + 1, "\n", VV_ERR_RANGE},
		{VV_PASSPHRASE_MAX, "\n\n", VV_ERR_RANGE},
		{20000, "", VV_ERR_RANGE},
		{5, "\n", 0},
	};
	static char text[20004];
	vv_sbuf p;

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t e = strlen(cases[i].end);
		memset(text, 'a', cases[i].n);
		memcpy(text + cases[i].n, cases[i].end, e);
		assert_int_equal(passphrase_file(text, cases[i].n + e, &p), cases[i].rc);
		if (cases[i].rc == 0) {
			assert_int_equal(p.len, cases[i].n);
			assert_int_equal(p.data[p.len], '\0');
		} else {
			assert_int_equal(p.len, 0);
		}
		vv_sbuf_done(&p);
	}
}

/* A passphrase taken from the environment leaves it. */
static void test_passphrase_env_removed(void **state)
{
	vv_sbuf p;

	(void)state;
	assert_int_equal(setenv(VV_PASSPHRASE_ENV, "from the environment", 1), 0);
	vv_sbuf_init(&p, VV_PASSPHRASE_BUF);
	assert_int_equal(vv_cli_passphrase(NULL, "the key", false, &p), 0);
	assert_int_equal(p.len, 20);
	assert_memory_equal(p.data, "from the environment", 20);
	assert_null(getenv(VV_PASSPHRASE_ENV));
	vv_sbuf_done(&p);
}

/* ---- dispatch ---- */

static int detail_seen;

static int fake_command(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	detail_seen = vv_err_detail()[0] != '\0';
	return VV_EXIT_OK;
}

/* Each command starts without an earlier detail, which vv_cli_fail would
 * otherwise print after an error that sets none. */
static void test_dispatch_clears_detail(void **state)
{
	static const struct vv_cli_cmd cmds[] = {{"fake", fake_command, "a test command"}};
	char prog[] = "prog", name[] = "fake", *argv[] = {prog, name, NULL};

	(void)state;
	(void)vv_errf(VV_ERR_KEY_NEEDPASS, "an earlier, unrelated detail");
	detail_seen = -1;
	assert_int_equal(vv_cli_dispatch("prog", cmds, 1, 2, argv), VV_EXIT_OK);
	assert_int_equal(detail_seen, 0);
}

/* One parser for every count and size option of the commands. */
static void test_parse_size(void **state)
{
	static const char *const bad[] = {"", " 1", "-1", " -1", "+64K", "0", "1x", "64KB", "1T",
					  "99999999999999999999999"};
	size_t v = 7;

	(void)state;
	assert_true(vv_cli_parse_size("1024", SIZE_MAX, &v));
	assert_int_equal(v, 1024);
	assert_true(vv_cli_parse_size("64K", SIZE_MAX, &v));
	assert_int_equal(v, 64 << 10);
	assert_true(vv_cli_parse_size("2g", SIZE_MAX, &v));
	assert_int_equal(v, (size_t)2 << 30);
	assert_true(vv_cli_parse_size("4096", 4096, &v));
	assert_false(vv_cli_parse_size("4097", 4096, &v));
	assert_false(vv_cli_parse_size("5K", 4096, &v));
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (vv_cli_parse_size(bad[i], SIZE_MAX, &v))
			fail_msg("'%s' was accepted", bad[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_passphrase_file_lengths),
		cmocka_unit_test(test_passphrase_env_removed),
		cmocka_unit_test(test_dispatch_clears_detail),
		cmocka_unit_test(test_parse_size),
	};
	if (vv_core_init() != 0)
		return 1;
	return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
