/* Crypt4GH key files: armored X25519 public keys and c4gh-v1 private keys. */
#include "c4gh_int.h"
#include "kdf.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define KEY_MAGIC "c4gh-v1"
#define KEY_MAGIC_LEN 7
#define OPENSSH_MAGIC "openssh-key-v1"  /* followed by a NUL in the file */
#define KEY_CIPHER "chacha20_poly1305"
#define KEY_SALT_LEN 16
#define KEY_BLOB_LEN (C4GH_NONCE_LEN + VV_C4GH_KEY_LEN + C4GH_MAC_LEN)
#define KEY_STRING_MAX 65535u  /* a uint16 length prefix */

#define PUB_BEGIN "-----BEGIN CRYPT4GH PUBLIC KEY-----\n"
#define PUB_END "\n-----END CRYPT4GH PUBLIC KEY-----\n"
#define SEC_BEGIN "-----BEGIN CRYPT4GH PRIVATE KEY-----\n"
#define SEC_END "\n-----END CRYPT4GH PRIVATE KEY-----\n"

/* What the user can do about a key varvault cannot open. */
#define REPROTECT_HINT                                                                  \
	"re-protect the key with scrypt (the crypt4gh-keygen default) or "              \
	"pbkdf2_hmac_sha256, or export it unprotected; or make a new key with "         \
	"'varvault keygen' (or crypt4gh-keygen) and re-encrypt the files to its public key"

/* ---- secret key objects ---------------------------------------------------- */

static vv_c4gh_seckey *seckey_alloc(void)
{
	return sodium_malloc(sizeof(vv_c4gh_seckey));
}

void vv_c4gh_seckey_free(vv_c4gh_seckey *k)
{
	if (k)
		sodium_free(k); /* zeroes */
}

/* Derives k->pk from k->sk; fails only for a degenerate secret. */
static int seckey_finish(vv_c4gh_seckey *k)
{
	if (crypto_scalarmult_base(k->pk, k->sk) != 0)
		return vv_errf(VV_ERR_KEY_FORMAT, "secret key gives no usable public key");
	return 0;
}

int vv_c4gh_seckey_generate(vv_c4gh_seckey **out)
{
	vv_c4gh_seckey *k = seckey_alloc();

	*out = NULL;
	if (!k)
		return vv_errf(VV_ERR_NOMEM, "a new secret key");
	if (crypto_box_keypair(k->pk, k->sk) != 0) {
		vv_c4gh_seckey_free(k);
		return vv_errf(VV_ERR_INTERNAL, "key generation failed");
	}
	*out = k;
	return 0;
}

int vv_c4gh_seckey_from_raw(const uint8_t sk[VV_C4GH_KEY_LEN], vv_c4gh_seckey **out)
{
	vv_c4gh_seckey *k = seckey_alloc();
	int rc;

	*out = NULL;
	if (!k)
		return vv_errf(VV_ERR_NOMEM, "a secret key");
	memcpy(k->sk, sk, VV_C4GH_KEY_LEN);
	if ((rc = seckey_finish(k)) != 0) {
		vv_c4gh_seckey_free(k);
		return rc;
	}
	*out = k;
	return 0;
}

void vv_c4gh_seckey_pubkey(const vv_c4gh_seckey *k, uint8_t pk[VV_C4GH_KEY_LEN])
{
	memcpy(pk, k->pk, VV_C4GH_KEY_LEN);
}

/* ---- armor ----------------------------------------------------------------- */

struct armor {
	const char *label;  /* between "-----BEGIN " and the closing "-----" */
	size_t label_len;
	const char *body;   /* the base64 between the BEGIN and END lines */
	size_t body_len;
};

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

static bool has_prefix(const char *p, size_t n, const char *prefix)
{
	size_t m = strlen(prefix);
	return n >= m && memcmp(p, prefix, m) == 0;
}

static bool label_has(const struct armor *a, const char *word)
{
	return memmem(a->label, a->label_len, word, strlen(word)) != NULL;
}

/* Finds the first non-blank line (it must be "-----BEGIN LABEL-----") and
 * the last one (it must start with "-----END "), as the reference loader. */
static int armor_split(const char *text, size_t len, struct armor *a)
{
	size_t i = 0, start, end, j, last_end;

	while (i < len && is_blank(text[i]))
		i++;
	start = i;
	while (i < len && text[i] != '\n')
		i++;
	end = i;
	while (end > start && is_blank(text[end - 1]))
		end--;
	if (!has_prefix(text + start, end - start, "-----BEGIN ") || end - start < 16 ||
	    memcmp(text + end - 5, "-----", 5) != 0)
		return vv_errf(VV_ERR_KEY_FORMAT, "no '-----BEGIN ...-----' line");
	a->label = text + start + 11;
	a->label_len = end - start - 16;

	j = len;
	while (j > i && is_blank(text[j - 1]))
		j--;
	last_end = j;
	while (j > i && text[j - 1] != '\n')
		j--;
	if (!has_prefix(text + j, last_end - j, "-----END "))
		return vv_errf(VV_ERR_KEY_FORMAT, "no '-----END ...-----' line");
	a->body = text + i;
	a->body_len = j - i;
	return 0;
}

/* Decodes the armored body into bin (its contents replaced). */
static int armor_decode(const struct armor *a, vv_sbuf *bin)
{
	size_t cap = a->body_len / 4 * 3 + 3, got = 0;
	const char *end = NULL;
	int rc;

	vv_sbuf_wipe(bin);
	if ((rc = vv_sbuf_reserve(bin, cap)) != 0)
		return rc;
	if (sodium_base642bin(bin->data, cap, a->body, a->body_len, " \t\r\n\v\f", &got, &end,
			      sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    end != a->body + a->body_len)
		return vv_errf(VV_ERR_KEY_FORMAT, "the base64 between the armor lines does not decode");
	bin->len = got;
	return 0;
}

/* ---- reading key files ------------------------------------------------------ */

/* Reads a whole key file into buf, a secure buffer (the text of an
 * unprotected key is the key). */
static int load_text(const char *path, vv_sbuf *buf)
{
	int fd, rc = 0, saved;
	size_t got;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		saved = errno;
		rc = vv_errf(VV_ERR_IO, "%s", strerror(saved));
		errno = saved;
		return rc;
	}
	if ((rc = vv_sbuf_reserve(buf, VV_C4GH_KEYFILE_MAX)) != 0)
		goto out;
	/* Read one byte past the limit to tell "exactly at" from "over". */
	if ((rc = vv_c4gh_read_full(fd, buf->data, VV_C4GH_KEYFILE_MAX, &got)) != 0)
		goto out;
	buf->len = got;
	if (got == VV_C4GH_KEYFILE_MAX) {
		uint8_t extra;
		size_t more;
		if ((rc = vv_c4gh_read_full(fd, &extra, 1, &more)) != 0)
			goto out;
		if (more) {
			rc = vv_errf(VV_ERR_RANGE, "larger than %d bytes", VV_C4GH_KEYFILE_MAX);
			goto out;
		}
	}
out:
	saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

/* ---- c4gh-v1 private keys ---------------------------------------------------- */

/* A cursor over the decoded key: uint16 BE length-prefixed strings. */
struct cursor {
	const uint8_t *p;
	size_t n;
};

static int get_string(struct cursor *c, const char *field, const uint8_t **s, size_t *n)
{
	size_t len;

	if (c->n < 2)
		return vv_errf(VV_ERR_KEY_FORMAT, "%s: missing", field);
	len = (size_t)c->p[0] << 8 | c->p[1];
	if (c->n - 2 < len)
		return vv_errf(VV_ERR_KEY_FORMAT, "%s: length %zu runs past the end", field, len);
	*s = c->p + 2;
	*n = len;
	c->p += 2 + len;
	c->n -= 2 + len;
	return 0;
}

static bool name_is(const uint8_t *s, size_t n, const char *name)
{
	return n == strlen(name) && memcmp(s, name, n) == 0;
}

/* The fields of a decoded c4gh-v1 private key, pointing into it. */
struct seckey_fields {
	enum c4gh_kdf kdf;
	uint32_t rounds;
	const uint8_t *salt, *blob;
	size_t saltlen, bloblen;
};

/* Parses and checks every field; no passphrase is needed yet. */
static int seckey_fields_parse(const vv_sbuf *bin, struct seckey_fields *f)
{
	struct cursor c = {bin->data, bin->len};
	const uint8_t *kdf, *opts = NULL, *cipher, *comment;
	size_t kdflen, optslen = 0, cipherlen, commentlen;
	char name[48];
	int rc;

	if (bin->len >= sizeof OPENSSH_MAGIC && memcmp(bin->data, OPENSSH_MAGIC, sizeof OPENSSH_MAGIC) == 0)
		return vv_errf(VV_ERR_UNSUPPORTED, "an OpenSSH private key is not supported: %s",
			       REPROTECT_HINT);
	if (bin->len < KEY_MAGIC_LEN || memcmp(bin->data, KEY_MAGIC, KEY_MAGIC_LEN) != 0)
		return vv_errf(VV_ERR_KEY_FORMAT, "not a c4gh-v1 private key (bad magic)");
	c.p += KEY_MAGIC_LEN;
	c.n -= KEY_MAGIC_LEN;
	if ((rc = get_string(&c, "kdf name", &kdf, &kdflen)) != 0)
		return rc;
	if (!name_is(kdf, kdflen, "none") && (rc = get_string(&c, "kdf options", &opts, &optslen)) != 0)
		return rc;
	if ((rc = get_string(&c, "cipher name", &cipher, &cipherlen)) != 0 ||
	    (rc = get_string(&c, "key blob", &f->blob, &f->bloblen)) != 0)
		return rc;
	/* An optional comment, ignored; nothing may follow it. */
	if (c.n && (rc = get_string(&c, "comment", &comment, &commentlen)) != 0)
		return rc;
	if (c.n)
		return vv_errf(VV_ERR_KEY_FORMAT, "%zu stray bytes after the comment", c.n);

	vv_c4gh_safe_name(kdf, kdflen, name, sizeof name);
	if (name_is(kdf, kdflen, "none")) {
		f->kdf = C4GH_KDF_NONE;
	} else if (name_is(kdf, kdflen, "scrypt")) {
		f->kdf = C4GH_KDF_SCRYPT;
	} else if (name_is(kdf, kdflen, "pbkdf2_hmac_sha256")) {
		f->kdf = C4GH_KDF_PBKDF2_SHA256;
	} else if (name_is(kdf, kdflen, "bcrypt")) {
		return vv_errf(VV_ERR_KEY_KDF,
			       "kdf 'bcrypt' (OpenSSH bcrypt_pbkdf) is not supported, as no "
			       "maintained C library in Debian provides it: %s", REPROTECT_HINT);
	} else {
		return vv_errf(VV_ERR_KEY_KDF,
			       "kdf '%s' is not supported (none, scrypt, pbkdf2_hmac_sha256 are): %s",
			       name, REPROTECT_HINT);
	}

	vv_c4gh_safe_name(cipher, cipherlen, name, sizeof name);
	if (f->kdf == C4GH_KDF_NONE) {
		if (!name_is(cipher, cipherlen, "none"))
			return vv_errf(VV_ERR_KEY_FORMAT, "kdf 'none' with cipher '%s'", name);
		if (f->bloblen != VV_C4GH_KEY_LEN)
			return vv_errf(VV_ERR_KEY_FORMAT, "key blob of %zu bytes (32 expected)", f->bloblen);
		return 0;
	}
	if (!name_is(cipher, cipherlen, KEY_CIPHER))
		return vv_errf(VV_ERR_KEY_CIPHER, "cipher '%s' is not supported (%s is): %s", name,
			       KEY_CIPHER, REPROTECT_HINT);
	if (optslen < 4)
		return vv_errf(VV_ERR_KEY_FORMAT, "kdf options of %zu bytes (rounds and salt expected)",
			       optslen);
	f->rounds = (uint32_t)opts[0] << 24 | (uint32_t)opts[1] << 16 | (uint32_t)opts[2] << 8 | opts[3];
	f->salt = opts + 4;
	f->saltlen = optslen - 4;
	if (f->kdf == C4GH_KDF_PBKDF2_SHA256 && (f->rounds == 0 || f->rounds > C4GH_PBKDF2_MAX_ROUNDS))
		return vv_errf(VV_ERR_KEY_FORMAT, "pbkdf2 rounds %u outside 1..%u", f->rounds,
			       C4GH_PBKDF2_MAX_ROUNDS);
	if (f->bloblen != KEY_BLOB_LEN)
		return vv_errf(VV_ERR_KEY_FORMAT, "encrypted key blob of %zu bytes (%d expected)",
			       f->bloblen, KEY_BLOB_LEN);
	return 0;
}

/* Opens the key blob into k->sk. */
static int seckey_unlock(const struct seckey_fields *f, const char *pass, size_t passlen,
			 vv_c4gh_seckey *k)
{
	uint8_t *kek;
	unsigned long long n = 0;
	int rc;

	if (f->kdf == C4GH_KDF_NONE) {
		memcpy(k->sk, f->blob, VV_C4GH_KEY_LEN);
		return 0;
	}
	if (!pass)
		return vv_errf(VV_ERR_KEY_NEEDPASS, "the key is protected with a passphrase");
	if ((kek = sodium_malloc(VV_C4GH_KEY_LEN)) == NULL)
		return vv_errf(VV_ERR_NOMEM, "the key-encryption key");
	rc = vv_c4gh_kdf_derive(f->kdf, f->rounds, f->salt, f->saltlen, pass, passlen, kek);
	if (rc == 0 &&
	    (crypto_aead_chacha20poly1305_ietf_decrypt(k->sk, &n, NULL, f->blob + C4GH_NONCE_LEN,
						       f->bloblen - C4GH_NONCE_LEN, NULL, 0, f->blob,
						       kek) != 0 ||
	     n != VV_C4GH_KEY_LEN))
		rc = vv_errf(VV_ERR_KEY_PASSPHRASE, "the passphrase does not open the key");
	sodium_free(kek);
	return rc;
}

int vv_c4gh_seckey_parse(const char *text, size_t len, const char *pass, size_t passlen,
			 vv_c4gh_seckey **out)
{
	struct armor a;
	struct seckey_fields f;
	vv_sbuf bin;
	vv_c4gh_seckey *k = NULL;
	int rc;

	*out = NULL;
	vv_sbuf_init(&bin, VV_C4GH_KEYFILE_MAX);
	if (len > VV_C4GH_KEYFILE_MAX) {
		rc = vv_errf(VV_ERR_RANGE, "private key: larger than %d bytes", VV_C4GH_KEYFILE_MAX);
		goto out;
	}
	if ((rc = armor_split(text, len, &a)) != 0)
		goto out;
	if (a.label_len == strlen("OPENSSH PRIVATE KEY") && label_has(&a, "OPENSSH PRIVATE KEY")) {
		rc = vv_errf(VV_ERR_UNSUPPORTED, "an OpenSSH private key is not supported: %s",
			     REPROTECT_HINT);
		goto out;
	}
	if (label_has(&a, "PUBLIC")) {
		rc = vv_errf(VV_ERR_KEY_FORMAT, "this is a public key");
		goto out;
	}
	if ((rc = armor_decode(&a, &bin)) != 0 || (rc = seckey_fields_parse(&bin, &f)) != 0)
		goto out;
	if ((k = seckey_alloc()) == NULL) {
		rc = vv_errf(VV_ERR_NOMEM, "a secret key");
		goto out;
	}
	if ((rc = seckey_unlock(&f, pass, passlen, k)) != 0 || (rc = seckey_finish(k)) != 0)
		goto out;
	*out = k;
	k = NULL;
out:
	vv_c4gh_seckey_free(k);
	vv_sbuf_done(&bin);
	if (rc && rc != VV_ERR_NOMEM)
		vv_err_prefix(rc, "private key");
	return rc;
}

int vv_c4gh_seckey_load(const char *path, const char *pass, size_t passlen, vv_c4gh_seckey **out)
{
	vv_sbuf text;
	int rc;

	*out = NULL;
	vv_sbuf_init(&text, VV_C4GH_KEYFILE_MAX);
	rc = load_text(path, &text);
	if (rc == 0)
		rc = vv_c4gh_seckey_parse((const char *)text.data, text.len, pass, passlen, out);
	vv_sbuf_done(&text);
	if (rc && rc != VV_ERR_NOMEM)
		vv_err_prefix(rc, "%s", path);
	return rc;
}

static int put_string(vv_sbuf *b, const void *s, size_t n)
{
	uint8_t len[2] = {(uint8_t)(n >> 8), (uint8_t)n};
	int rc;

	if (n > KEY_STRING_MAX)
		return vv_errf(VV_ERR_RANGE, "key file string of %zu bytes (at most %u)", n, KEY_STRING_MAX);
	if ((rc = vv_sbuf_append(b, len, 2)) != 0)
		return rc;
	return vv_sbuf_append(b, s, n);
}

/* Appends bin as one line of base64. */
static int put_base64(vv_sbuf *out, const vv_sbuf *bin)
{
	size_t enclen = sodium_base64_ENCODED_LEN(bin->len, sodium_base64_VARIANT_ORIGINAL);
	int rc;

	if ((rc = vv_sbuf_reserve(out, enclen)) != 0)
		return rc;
	sodium_bin2base64((char *)out->data + out->len, enclen, bin->data, bin->len,
			  sodium_base64_VARIANT_ORIGINAL);
	out->len += enclen - 1; /* not the NUL */
	return 0;
}

/* Appends the c4gh-v1 fields protected with scrypt. */
static int put_protected(vv_sbuf *bin, const vv_c4gh_seckey *k, const char *pass, size_t passlen)
{
	uint8_t opts[4 + KEY_SALT_LEN] = {0}, blob[KEY_BLOB_LEN];
	uint8_t *kek;
	int rc;

	/* rounds stays 0: scrypt's cost is fixed by the format, as in the reference */
	randombytes_buf(opts + 4, KEY_SALT_LEN);
	randombytes_buf(blob, C4GH_NONCE_LEN);
	if ((kek = sodium_malloc(VV_C4GH_KEY_LEN)) == NULL)
		return vv_errf(VV_ERR_NOMEM, "the key-encryption key");
	rc = vv_c4gh_kdf_derive(C4GH_KDF_SCRYPT, 0, opts + 4, KEY_SALT_LEN, pass, passlen, kek);
	if (rc == 0)
		crypto_aead_chacha20poly1305_ietf_encrypt(blob + C4GH_NONCE_LEN, NULL, k->sk,
							  VV_C4GH_KEY_LEN, NULL, 0, NULL, blob, kek);
	sodium_free(kek);
	if (rc == 0 && (rc = put_string(bin, "scrypt", 6)) == 0 &&
	    (rc = put_string(bin, opts, sizeof opts)) == 0 &&
	    (rc = put_string(bin, KEY_CIPHER, strlen(KEY_CIPHER))) == 0)
		rc = put_string(bin, blob, sizeof blob);
	return rc;
}

int vv_c4gh_seckey_write(const vv_c4gh_seckey *k, const char *pass, size_t passlen,
			 const char *comment, vv_sbuf *out)
{
	vv_sbuf bin;
	int rc;

	vv_sbuf_init(&bin, VV_C4GH_KEYFILE_MAX);
	vv_sbuf_wipe(out);
	rc = vv_sbuf_append(&bin, KEY_MAGIC, KEY_MAGIC_LEN);
	if (rc == 0 && pass)
		rc = put_protected(&bin, k, pass, passlen);
	else if (rc == 0 && (rc = put_string(&bin, "none", 4)) == 0 &&
		 (rc = put_string(&bin, "none", 4)) == 0)
		rc = put_string(&bin, k->sk, VV_C4GH_KEY_LEN);
	if (rc == 0 && comment)
		rc = put_string(&bin, comment, strlen(comment));
	if (rc == 0 && (rc = vv_sbuf_append(out, SEC_BEGIN, strlen(SEC_BEGIN))) == 0 &&
	    (rc = put_base64(out, &bin)) == 0)
		rc = vv_sbuf_append(out, SEC_END, strlen(SEC_END));
	vv_sbuf_done(&bin);
	if (rc)
		vv_sbuf_wipe(out);
	return rc;
}

/* ---- public keys ------------------------------------------------------------ */

int vv_c4gh_pubkey_parse(const char *text, size_t len, uint8_t pk[VV_C4GH_KEY_LEN])
{
	struct armor a;
	uint8_t bin[VV_C4GH_KEY_LEN + 3];
	size_t got = 0, i = 0;
	const char *end = NULL;
	int rc;

	memset(pk, 0, VV_C4GH_KEY_LEN);
	while (i < len && is_blank(text[i]))
		i++;
	if (has_prefix(text + i, len - i, "ssh-"))
		return vv_errf(VV_ERR_UNSUPPORTED,
			       "public key: OpenSSH public keys are not supported; give a Crypt4GH "
			       "public key (made by 'varvault keygen' or crypt4gh-keygen)");
	if ((rc = armor_split(text, len, &a)) != 0)
		return vv_err_prefix(rc, "public key");
	if (!label_has(&a, "CRYPT4GH"))
		return vv_errf(VV_ERR_KEY_FORMAT, "public key: the armor does not say CRYPT4GH");
	if (label_has(&a, "PRIVATE"))
		return vv_errf(VV_ERR_KEY_FORMAT, "public key: this is a private key");
	if (sodium_base642bin(bin, sizeof bin, a.body, a.body_len, " \t\r\n\v\f", &got, &end,
			      sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    end != a.body + a.body_len || got != VV_C4GH_KEY_LEN)
		return vv_errf(VV_ERR_KEY_FORMAT, "public key: not 32 bytes of base64");
	memcpy(pk, bin, VV_C4GH_KEY_LEN);
	return 0;
}

int vv_c4gh_pubkey_load(const char *path, uint8_t pk[VV_C4GH_KEY_LEN])
{
	vv_sbuf text;
	int rc;

	memset(pk, 0, VV_C4GH_KEY_LEN);
	vv_sbuf_init(&text, VV_C4GH_KEYFILE_MAX);
	rc = load_text(path, &text);
	if (rc == 0)
		rc = vv_c4gh_pubkey_parse((const char *)text.data, text.len, pk);
	vv_sbuf_done(&text);
	if (rc && rc != VV_ERR_NOMEM)
		vv_err_prefix(rc, "%s", path);
	return rc;
}

int vv_c4gh_pubkey_format(const uint8_t pk[VV_C4GH_KEY_LEN], char *out, size_t outsize)
{
	char b64[sodium_base64_ENCODED_LEN(VV_C4GH_KEY_LEN, sodium_base64_VARIANT_ORIGINAL)];
	int n;

	sodium_bin2base64(b64, sizeof b64, pk, VV_C4GH_KEY_LEN, sodium_base64_VARIANT_ORIGINAL);
	n = snprintf(out, outsize, "%s%s%s", PUB_BEGIN, b64, PUB_END);
	if (n < 0 || (size_t)n >= outsize)
		return vv_errf(VV_ERR_RANGE, "public key text needs %d bytes", n + 1);
	return 0;
}
