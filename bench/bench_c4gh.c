/* Crypt4GH decryption throughput: varvault's segment decryptor against raw
 * libsodium ChaCha20-Poly1305 (IETF) decryption of the same segments into
 * the same kind of (secure) buffer, measured in the same run, best of N,
 * in thread CPU time.
 * usage: bench_c4gh [MiB] [repeats] */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "varvault/c4gh.h"

struct buf {
	uint8_t *p;
	size_t n, cap;
};

static int buf_sink(void *ctx, const uint8_t *p, size_t n)
{
	struct buf *b = ctx;

	if (b->n + n > b->cap)
		return VV_ERR_RANGE;
	memcpy(b->p + b->n, p, n);
	b->n += n;
	return 0;
}

/* Consumes plaintext without copying it, as a pipe writer would hand it on. */
static int count_sink(void *ctx, const uint8_t *p, size_t n)
{
	(void)p;
	*(size_t *)ctx += n;
	return 0;
}

/* This thread's CPU time: on a shared machine, wall time would also count
 * whatever else ran meanwhile, and both sides here are single-threaded. */
static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void die(const char *what, int rc)
{
	fprintf(stderr, "bench_c4gh: %s: %s: %s\n", what, vv_strerror(rc), vv_err_detail());
	exit(1);
}

/* Raw libsodium: every segment decrypted into one secure segment buffer. */
static double raw_run(const uint8_t *data, size_t n, const uint8_t *key, uint8_t *pt, size_t *total)
{
	double t0 = now();
	unsigned long long m;

	*total = 0;
	for (size_t off = 0; off < n; off += VV_C4GH_SEGMENT_CT_LEN) {
		size_t len = n - off < VV_C4GH_SEGMENT_CT_LEN ? n - off : VV_C4GH_SEGMENT_CT_LEN;
		if (crypto_aead_chacha20poly1305_ietf_decrypt(pt, &m, NULL, data + off + 12, len - 12, NULL,
							      0, data + off, key) != 0) {
			fprintf(stderr, "bench_c4gh: raw decryption failed\n");
			exit(1);
		}
		*total += m;
	}
	return now() - t0;
}

static double vv_run(const vv_c4gh_header *h, const uint8_t *data, size_t n, size_t *total)
{
	vv_c4gh_decryptor *d;
	double t0 = now();
	int rc;

	*total = 0;
	if ((rc = vv_c4gh_decryptor_from_header(h, &d)) != 0 ||
	    (rc = vv_c4gh_decryptor_update(d, data, n, count_sink, total)) != 0 ||
	    (rc = vv_c4gh_decryptor_final(d, count_sink, total)) != 0)
		die("decrypt", rc);
	vv_c4gh_decryptor_free(d);
	return now() - t0;
}

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? (size_t)atoi(argv[1]) : 64, reps = argc > 2 ? (size_t)atoi(argv[2]) : 9;
	size_t n = mib << 20, total = 0;
	struct buf ct = {0};
	vv_c4gh_seckey *key;
	vv_c4gh_encryptor *e;
	vv_c4gh_header *h;
	uint8_t pk[32], *plain, *pt;
	double raw_best = 1e30, vv_best = 1e30, t;
	int rc;

	if (vv_core_init() != 0 || mib == 0 || reps == 0)
		return 1;
	plain = malloc(n);
	ct.cap = n + n / 1000 + 4096;
	ct.p = malloc(ct.cap);
	pt = sodium_malloc(VV_C4GH_SEGMENT_LEN);
	if (!plain || !ct.p || !pt)
		return 1;
	randombytes_buf(plain, n);
	if ((rc = vv_c4gh_seckey_generate(&key)) != 0)
		die("keygen", rc);
	vv_c4gh_seckey_pubkey(key, pk);
	if ((rc = vv_c4gh_encryptor_new(NULL, pk, 1, NULL, 0, &e)) != 0 ||
	    (rc = vv_c4gh_encryptor_update(e, plain, n, buf_sink, &ct)) != 0 ||
	    (rc = vv_c4gh_encryptor_final(e, buf_sink, &ct)) != 0)
		die("encrypt", rc);
	vv_c4gh_encryptor_free(e);
	if ((rc = vv_c4gh_header_parse(ct.p, ct.n, key, NULL, &h)) != 0)
		die("header", rc);
	const uint8_t *data = ct.p + vv_c4gh_header_length(h);
	size_t dn = ct.n - vv_c4gh_header_length(h);

	/* Alternate the two so that both see the same machine load. */
	for (size_t r = 0; r < reps; r++) {
		if ((t = raw_run(data, dn, vv_c4gh_header_keys(h), pt, &total)) < raw_best)
			raw_best = t;
		if (total != n)
			return 1;
		if ((t = vv_run(h, data, dn, &total)) < vv_best)
			vv_best = t;
		if (total != n)
			return 1;
	}
	printf("c4gh decrypt: %zu MiB in %zu segments, best of %zu runs (thread CPU time)\n", mib,
	       (n + VV_C4GH_SEGMENT_LEN - 1) / VV_C4GH_SEGMENT_LEN, reps);
	printf("  raw libsodium chacha20-poly1305-ietf  %8.1f MB/s\n", (double)n / raw_best / 1e6);
	printf("  varvault segment decryptor            %8.1f MB/s\n", (double)n / vv_best / 1e6);
	printf("  ratio %.3f (goal >= 0.80)%s\n", raw_best / vv_best,
	       raw_best / vv_best >= 0.8 ? "" : "  BELOW GOAL");
	vv_c4gh_header_free(h);
	vv_c4gh_seckey_free(key);
	sodium_free(pt);
	free(plain);
	free(ct.p);
	return 0;
}
