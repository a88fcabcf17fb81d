/* Unit tests of src/daemon/memneed.c: the memory a worker must lock is the
 * sum of its parts, each from its source (the engine's run-state figure,
 * the weights, the input bound, the process image), the limit check honours
 * RLIMIT_MEMLOCK and CAP_IPC_LOCK, and overflow is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include <sys/resource.h>

#include "../../src/daemon/memneed.h"
#include "model_fixture.h"

static vv_model *model;

static int setup(void **state)
{
	struct fx_opts o = fx_esm();
	struct fx f;
	int rc;

	(void)state;
	fx_build(&o, &f);
	rc = fx_load(&f, NULL, &model);
	fx_free(&f);
	return rc;
}

static int teardown(void **state)
{
	(void)state;
	vv_model_free(model);
	return 0;
}

static const struct vv_memimage img = {(uint64_t)100 << 20, 3};

static void test_need_is_the_sum_of_its_parts(void **state)
{
	const struct vv_model_info *I = vv_model_get_info(model);
	struct vv_memneed n;
	uint64_t sum;

	(void)state;
	assert_int_equal(vv_daemon_memneed(model, 2, 8, (uint64_t)10 << 20, &img, &n), 0);
	assert_int_equal(n.threads, 2);
	assert_int_equal(n.batch, 8);
	assert_int_equal(n.tokens, (size_t)I->max_tokens);
	assert_int_equal(n.process, img.bytes);
	/* the engine's figures, as `model info` gives them */
	assert_int_equal(n.run, vv_model_run_bytes(model, 8, (size_t)I->max_tokens, 2));
	assert_int_equal(n.weights, I->weights_mapped_bytes + I->weights_owned_bytes + I->weights_bf16_bytes);
	assert_true(n.weights > 0);
	/* two OpenBLAS server threads (3 threads at start), two model threads, main */
	assert_int_equal(n.blas_threads, 2);
	assert_int_equal(n.blas, 5 * VV_MEMNEED_BLAS_BUFFER);
	assert_int_equal(n.input, (uint64_t)20 << 20);
	sum = n.process + n.weights + n.run + n.blas + n.input + n.output;
	assert_int_equal(n.margin, (sum >> VV_MEMNEED_MARGIN_SHIFT) + VV_MEMNEED_MARGIN_FIXED);
	sum += n.margin;
	assert_true(n.total >= sum && n.total < sum + (1u << 20));
	assert_int_equal(n.total % (1u << 20), 0);
}

static void test_need_grows_with_what_it_counts(void **state)
{
	struct vv_memneed a, b;

	(void)state;
	assert_int_equal(vv_daemon_memneed(model, 1, 8, (uint64_t)1 << 20, &img, &a), 0);
	assert_int_equal(vv_daemon_memneed(model, 1, 8, (uint64_t)65 << 20, &img, &b), 0);
	assert_true(b.total >= a.total + ((uint64_t)128 << 20));
	assert_int_equal(vv_daemon_memneed(model, 4, 8, (uint64_t)1 << 20, &img, &b), 0);
	assert_true(b.run > a.run);
	assert_int_equal(b.blas - a.blas, 3 * VV_MEMNEED_BLAS_BUFFER);
	assert_int_equal(vv_daemon_memneed(model, 1, 64, (uint64_t)1 << 20, &img, &b), 0);
	assert_true(b.run > a.run);
	/* defaults: the scorer's batch, one thread per CPU */
	assert_int_equal(vv_daemon_memneed(model, 0, 0, 0, &img, &b), 0);
	assert_int_equal(b.batch, 32);
	assert_true(b.threads >= 1 && b.threads <= 64);
}

static void test_need_refuses_overflow(void **state)
{
	struct vv_memneed n;

	(void)state;
	assert_int_equal(vv_daemon_memneed(model, 1, 8, UINT64_MAX / 2 + 1, &img, &n), VV_ERR_RANGE);
	/* input fits, the sum does not */
	assert_int_equal(vv_daemon_memneed(model, 1, 8, UINT64_MAX / 2, &img, &n), VV_ERR_RANGE);
}

static void test_image_is_measured(void **state)
{
	struct vv_memimage m;

	(void)state;
	assert_int_equal(vv_daemon_memimage(&m), 0);
	assert_true(m.bytes > ((uint64_t)1 << 20));
	assert_true(m.threads >= 1);
}

static void test_limit_check(void **state)
{
	struct vv_memlimit l = {false, (uint64_t)8 << 20, false};
	struct vv_memlimit now;
	struct rlimit rl;

	(void)state;
	assert_true(vv_daemon_memlimit_allows(&l, (uint64_t)8 << 20));
	assert_false(vv_daemon_memlimit_allows(&l, ((uint64_t)8 << 20) + 1));
	l.cap_ipc_lock = true;
	assert_true(vv_daemon_memlimit_allows(&l, UINT64_MAX));
	l.cap_ipc_lock = false;
	l.unlimited = true;
	assert_true(vv_daemon_memlimit_allows(&l, UINT64_MAX));
	/* this process's own limit, read back */
	assert_int_equal(vv_daemon_memlimit(&now), 0);
	assert_int_equal(getrlimit(RLIMIT_MEMLOCK, &rl), 0);
	assert_int_equal(now.unlimited, rl.rlim_cur == RLIM_INFINITY);
	if (!now.unlimited)
		assert_int_equal(now.cur, (uint64_t)rl.rlim_cur);
	assert_int_equal(vv_daemon_mib_up(0), 0);
	assert_int_equal(vv_daemon_mib_up(1), 1);
	assert_int_equal(vv_daemon_mib_up((uint64_t)1 << 20), 1);
	assert_int_equal(vv_daemon_mib_up(((uint64_t)1 << 20) + 1), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_need_is_the_sum_of_its_parts),
		cmocka_unit_test(test_need_grows_with_what_it_counts),
		cmocka_unit_test(test_need_refuses_overflow),
		cmocka_unit_test(test_image_is_measured),
		cmocka_unit_test(test_limit_check),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
