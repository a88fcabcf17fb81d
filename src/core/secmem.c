/* Secret memory: libsodium initialisation, growable secure buffers, wiping,
 * SHA-256, and process hardening against core dumps and ptrace. */
#include "varvault/core.h"

#include <errno.h>
#include <openssl/evp.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

int vv_core_init(void)
{
	/* sodium_init returns 1 when already initialised: also fine. */
	if (sodium_init() < 0)
		return vv_errf(VV_ERR_INTERNAL, "libsodium failed to initialise");
	return 0;
}

int vv_harden_process(void)
{
	struct rlimit zero = {0, 0};

	if (setrlimit(RLIMIT_CORE, &zero) != 0)
		return vv_errf(VV_ERR_INTERNAL, "setrlimit(RLIMIT_CORE): %s", strerror(errno));
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
		return vv_errf(VV_ERR_INTERNAL, "prctl(PR_SET_DUMPABLE): %s", strerror(errno));
	return 0;
}

void *vv_secret_alloc(size_t n)
{
	return sodium_malloc(n ? n : 1);
}

void vv_secret_free(void *p)
{
	if (p)
		sodium_free(p);
}

bool vv_secret_locked(void *p, size_t n)
{
	return p && sodium_mlock(p, n ? n : 1) == 0;
}

void vv_wipe(void *p, size_t n)
{
	if (p && n)
		sodium_memzero(p, n);
}

void vv_sbuf_init(vv_sbuf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max ? max : SIZE_MAX;
	b->locked = true;
}

int vv_sbuf_reserve(vv_sbuf *b, size_t extra)
{
	size_t need, cap;
	uint8_t *p;

	if (vv_size_add(b->len, extra, &need) || need > b->max)
		return vv_errf(VV_ERR_RANGE, "secure buffer would exceed its limit of %zu bytes", b->max);
	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 4096;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	if (cap > b->max)
		cap = b->max;
	p = sodium_malloc(cap);
	if (!p)
		return vv_errf(VV_ERR_NOMEM, "a secure buffer of %zu bytes", cap);
	if (b->len)
		memcpy(p, b->data, b->len);
	if (b->data)
		sodium_free(b->data); /* zeroes the old copy */
	b->data = p;
	b->cap = cap;
	/* sodium_malloc ignores a failed mlock; ask again to know the answer
	 * (locking pages it did lock is a no-op). */
	b->locked = sodium_mlock(p, cap) == 0;
	return 0;
}

bool vv_sbuf_locked(const vv_sbuf *b)
{
	return b->locked;
}

int vv_sbuf_append(vv_sbuf *b, const void *p, size_t n)
{
	int rc;

	if (n == 0)
		return 0;
	if ((rc = vv_sbuf_reserve(b, n)) != 0)
		return rc;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

int vv_sbuf_read_fd(vv_sbuf *b, int fd)
{
	for (;;) {
		size_t room;
		ssize_t r;
		int rc;

		if (b->len == b->max) {
			/* Full: an input of exactly max bytes is fine if nothing follows. */
			uint8_t probe[1];

			do
				r = read(fd, probe, sizeof probe);
			while (r < 0 && errno == EINTR);
			if (r < 0)
				return vv_errf(VV_ERR_IO, "read: %s", strerror(errno));
			if (r == 0)
				return 0;
			vv_wipe(probe, sizeof probe);
			return vv_errf(VV_ERR_RANGE, "input larger than %zu bytes", b->max);
		}
		room = b->cap - b->len;
		if (room == 0) {
			/* grow by what the limit allows, at most 1 MiB at a time */
			size_t want = b->max - b->len < (1u << 20) ? b->max - b->len : (1u << 20);
			if ((rc = vv_sbuf_reserve(b, want)) != 0)
				return rc;
			room = b->cap - b->len;
		}
		r = read(fd, b->data + b->len, room);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return vv_errf(VV_ERR_IO, "read: %s", strerror(errno));
		if (r == 0)
			return 0;
		b->len += (size_t)r;
	}
}

void vv_sbuf_wipe(vv_sbuf *b)
{
	if (b->data)
		sodium_memzero(b->data, b->cap);
	b->len = 0;
}

void vv_sbuf_done(vv_sbuf *b)
{
	if (!b)
		return;
	if (b->data)
		sodium_free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->locked = true;
}

struct vv_sha256 {
	crypto_hash_sha256_state st;
};

/* One shot through OpenSSL, which uses the CPU's SHA extensions where it
 * has them: a model's weights (hundreds of MB, hashed at every load) took
 * 0.5 s in libsodium's portable code here.  Should OpenSSL fail (short of
 * memory), libsodium computes the same digest. */
void vv_sha256_oneshot(const void *p, size_t n, uint8_t out[32])
{
	unsigned int ol = 0;

	if (EVP_Digest(p, n, out, &ol, EVP_sha256(), NULL) != 1 || ol != 32)
		crypto_hash_sha256(out, p, n);
}

vv_sha256 *vv_sha256_new(void)
{
	vv_sha256 *h = malloc(sizeof *h);

	if (h)
		crypto_hash_sha256_init(&h->st);
	return h;
}

void vv_sha256_update(vv_sha256 *h, const void *p, size_t n)
{
	crypto_hash_sha256_update(&h->st, p, n);
}

void vv_sha256_final(vv_sha256 *h, uint8_t out[32])
{
	crypto_hash_sha256_final(&h->st, out);
	free(h);
}

void vv_sha256_free(vv_sha256 *h)
{
	free(h);
}
