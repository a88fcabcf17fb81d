/* C2SP signed notes (Ed25519) and tlog-checkpoint bodies. */
#include "audit_int.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The signature line starts with an em dash (U+2014) and a space. */
static const char SIG_PREFIX[] = "\xe2\x80\x94 ";
#define ALG_ED25519 0x01

/* A key name: non-empty, no '+', no space or control characters (the spec
 * forbids '+' and whitespace; names are printed into the signature line). */
static bool name_ok(const char *s, size_t n)
{
	if (n == 0 || n > VV_AUDIT_ORIGIN_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= 0x20 || c == 0x7f || c == '+')
			return false;
	}
	return true;
}

/* The key hash: the first 4 bytes (big-endian) of SHA-256(name || "\n" ||
 * 0x01 || public key). */
static uint32_t key_hash(const char *name, const uint8_t pk[32])
{
	crypto_hash_sha256_state st;
	uint8_t h[32], alg = ALG_ED25519;

	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const uint8_t *)name, strlen(name));
	crypto_hash_sha256_update(&st, (const uint8_t *)"\n", 1);
	crypto_hash_sha256_update(&st, &alg, 1);
	crypto_hash_sha256_update(&st, pk, 32);
	crypto_hash_sha256_final(&st, h);
	return (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
}

/* Decodes standard base64 (with padding) of exactly n bytes. */
static int b64_dec(const char *s, size_t slen, uint8_t *out, size_t n)
{
	size_t got = 0;
	const char *end = NULL;

	if (sodium_base642bin(out, n, s, slen, NULL, &got, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    got != n || end != s + slen)
		return VV_ERR_FORMAT;
	return 0;
}

/* Splits "a+b+c" style strings: name, hex hash, base64 key. */
static int split_key(const char *s, char name[VV_AUDIT_ORIGIN_MAX + 1], uint32_t *hash, const char **b64,
		     size_t *b64len)
{
	const char *p1 = strchr(s, '+'), *p2, *end;
	char hex[9];
	char *e;
	size_t len = strlen(s);

	/* tolerate one trailing newline: key files end with one */
	while (len && (s[len - 1] == '\n' || s[len - 1] == '\r'))
		len--;
	end = s + len;
	if (!p1 || p1 >= end || !name_ok(s, (size_t)(p1 - s)))
		return vv_errf(VV_ERR_AUDIT_KEY, "note key: bad name");
	p2 = memchr(p1 + 1, '+', (size_t)(end - p1 - 1));
	if (!p2 || p2 - p1 - 1 != 8)
		return vv_errf(VV_ERR_AUDIT_KEY, "note key: the key hash is not 8 hex digits");
	memcpy(name, s, (size_t)(p1 - s));
	name[p1 - s] = '\0';
	memcpy(hex, p1 + 1, 8);
	hex[8] = '\0';
	for (int i = 0; i < 8; i++)
		if (!((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f')))
			return vv_errf(VV_ERR_AUDIT_KEY, "note key: the key hash is not 8 lowercase hex digits");
	*hash = (uint32_t)strtoul(hex, &e, 16);
	*b64 = p2 + 1;
	*b64len = (size_t)(end - p2 - 1);
	return 0;
}

int vv_audit_note_parse_vkey(const char *vkey, vv_audit_note_vkey *out)
{
	uint8_t raw[33];
	const char *b64;
	size_t b64len;
	int rc;

	if ((rc = split_key(vkey, out->name, &out->hash, &b64, &b64len)))
		return rc;
	if (b64_dec(b64, b64len, raw, sizeof raw) || raw[0] != ALG_ED25519)
		return vv_errf(VV_ERR_AUDIT_KEY, "verifier key: not an Ed25519 key in base64");
	memcpy(out->pk, raw + 1, 32);
	if (key_hash(out->name, out->pk) != out->hash)
		return vv_errf(VV_ERR_AUDIT_KEY, "verifier key: the key hash does not match the key");
	return 0;
}

static int make_vkey(const vv_audit_note_vkey *pub, char **vkey)
{
	uint8_t raw[33];
	char b64[sodium_base64_ENCODED_LEN(33, sodium_base64_VARIANT_ORIGINAL)];
	size_t n;

	raw[0] = ALG_ED25519;
	memcpy(raw + 1, pub->pk, 32);
	sodium_bin2base64(b64, sizeof b64, raw, sizeof raw, sodium_base64_VARIANT_ORIGINAL);
	n = strlen(pub->name) + 1 + 8 + 1 + strlen(b64) + 1;
	if (!(*vkey = malloc(n)))
		return VV_ERR_NOMEM;
	snprintf(*vkey, n, "%s+%08x+%s", pub->name, (unsigned)pub->hash, b64);
	return 0;
}

int vv_audit_note_parse_skey(const char *skey, vv_audit_note_vkey *pub, uint8_t sk[64], char **vkey)
{
	static const char pfx[] = "PRIVATE+KEY+";
	uint8_t *raw = NULL;
	const char *b64;
	size_t b64len;
	uint32_t hash;
	int rc;

	if (vkey)
		*vkey = NULL;
	if (strncmp(skey, pfx, sizeof pfx - 1) != 0)
		return vv_errf(VV_ERR_AUDIT_KEY, "signing key: does not start with PRIVATE+KEY+");
	if ((rc = split_key(skey + sizeof pfx - 1, pub->name, &hash, &b64, &b64len)))
		return rc;
	if (!(raw = sodium_malloc(33)))
		return VV_ERR_NOMEM;
	if (b64_dec(b64, b64len, raw, 33) || raw[0] != ALG_ED25519) {
		rc = vv_errf(VV_ERR_AUDIT_KEY, "signing key: not an Ed25519 seed in base64");
		goto out;
	}
	crypto_sign_seed_keypair(pub->pk, sk, raw + 1);
	pub->hash = key_hash(pub->name, pub->pk);
	if (pub->hash != hash) {
		rc = vv_errf(VV_ERR_AUDIT_KEY, "signing key: the key hash does not match the key");
		goto out;
	}
	if (vkey)
		rc = make_vkey(pub, vkey);
out:
	if (rc)
		sodium_memzero(sk, 64);
	sodium_free(raw);
	return rc;
}

int vv_audit_note_keygen(const char *name, char **skey, char **vkey)
{
	vv_audit_note_vkey pub;
	uint8_t *sec = NULL; /* 33 bytes of 0x01 || seed, then the 64-byte sk */
	char *b64 = NULL;
	size_t b64cap = sodium_base64_ENCODED_LEN(33, sodium_base64_VARIANT_ORIGINAL), n;
	int rc = 0;

	*skey = *vkey = NULL;
	if (!name || !name_ok(name, strlen(name)))
		return vv_errf(VV_ERR_INVAL, "note key name must be 1..%d printable characters without '+' or space",
			       VV_AUDIT_ORIGIN_MAX);
	if (vv_core_init())
		return VV_ERR_INTERNAL;
	sec = sodium_malloc(33 + 64);
	b64 = sodium_malloc(b64cap);
	if (!sec || !b64) {
		rc = VV_ERR_NOMEM;
		goto out;
	}
	sec[0] = ALG_ED25519;
	randombytes_buf(sec + 1, 32);
	crypto_sign_seed_keypair(pub.pk, sec + 33, sec + 1);
	snprintf(pub.name, sizeof pub.name, "%s", name);
	pub.hash = key_hash(name, pub.pk);
	sodium_bin2base64(b64, b64cap, sec, 33, sodium_base64_VARIANT_ORIGINAL);
	n = 12 + strlen(name) + 1 + 8 + 1 + strlen(b64) + 1;
	if (!(*skey = malloc(n))) {
		rc = VV_ERR_NOMEM;
		goto out;
	}
	snprintf(*skey, n, "PRIVATE+KEY+%s+%08x+%s", name, (unsigned)pub.hash, b64);
	if ((rc = make_vkey(&pub, vkey))) {
		sodium_memzero(*skey, n);
		free(*skey);
		*skey = NULL;
	}
out:
	sodium_free(sec);
	sodium_free(b64);
	return rc;
}

int vv_audit_note_sign_raw(const vv_audit_note_vkey *pub, const uint8_t sk[64], const char *text, char **out)
{
	uint8_t blob[4 + crypto_sign_BYTES];
	char b64[sodium_base64_ENCODED_LEN(sizeof blob, sodium_base64_VARIANT_ORIGINAL)];
	size_t tlen = strlen(text), n;

	*out = NULL;
	if (tlen == 0 || text[tlen - 1] != '\n')
		return vv_errf(VV_ERR_INVAL, "note text must end in a newline");
	blob[0] = (uint8_t)(pub->hash >> 24);
	blob[1] = (uint8_t)(pub->hash >> 16);
	blob[2] = (uint8_t)(pub->hash >> 8);
	blob[3] = (uint8_t)pub->hash;
	crypto_sign_detached(blob + 4, NULL, (const uint8_t *)text, tlen, sk);
	sodium_bin2base64(b64, sizeof b64, blob, sizeof blob, sodium_base64_VARIANT_ORIGINAL);
	n = tlen + 1 + strlen(SIG_PREFIX) + strlen(pub->name) + 1 + strlen(b64) + 2;
	if (!(*out = malloc(n)))
		return VV_ERR_NOMEM;
	snprintf(*out, n, "%s\n%s%s %s\n", text, SIG_PREFIX, pub->name, b64);
	return 0;
}

int vv_audit_note_sign(const char *skey, const char *text, char **out)
{
	vv_audit_note_vkey pub;
	uint8_t *sk;
	int rc;

	*out = NULL;
	if (vv_core_init())
		return VV_ERR_INTERNAL;
	if (!(sk = sodium_malloc(64)))
		return VV_ERR_NOMEM;
	rc = vv_audit_note_parse_skey(skey, &pub, sk, NULL);
	if (!rc)
		rc = vv_audit_note_sign_raw(&pub, sk, text, out);
	sodium_free(sk);
	return rc;
}

int vv_audit_note_verify(const char *vkey, const char *note, size_t *text_len)
{
	vv_audit_note_vkey k;
	const char *sep, *p, *end;
	size_t tlen, plen = strlen(SIG_PREFIX);
	bool seen = false;
	int rc;

	if ((rc = vv_audit_note_parse_vkey(vkey, &k)))
		return rc;
	/* the text ends at the last blank line ("\n\n"), which starts the
	 * signature block; signatures are the lines after it */
	sep = NULL;
	for (p = strstr(note, "\n\n"); p; p = strstr(p + 1, "\n\n"))
		sep = p;
	if (!sep)
		return vv_errf(VV_ERR_FORMAT, "signed note: no blank line before the signatures");
	tlen = (size_t)(sep - note) + 1;
	end = note + strlen(note);
	if (end == sep + 2 || end[-1] != '\n')
		return vv_errf(VV_ERR_FORMAT, "signed note: the signature block is empty or lacks its final newline");
	for (p = sep + 2; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p)), *sp;
		uint8_t blob[4 + crypto_sign_BYTES];
		size_t nlen;
		uint32_t h;

		if (strncmp(p, SIG_PREFIX, plen) != 0)
			return vv_errf(VV_ERR_FORMAT, "signed note: a signature line does not start with an em dash");
		sp = memchr(p + plen, ' ', (size_t)(nl - p - (ptrdiff_t)plen));
		if (!sp)
			return vv_errf(VV_ERR_FORMAT, "signed note: a signature line has no key name");
		nlen = (size_t)(sp - p - (ptrdiff_t)plen);
		/* unknown keys' signatures are skipped, as the spec requires;
		 * a 4-byte hash match with our name is ours */
		if (nlen == strlen(k.name) && memcmp(p + plen, k.name, nlen) == 0) {
			size_t got = 0;
			const char *bend = NULL;

			if (sodium_base642bin(blob, sizeof blob, sp + 1, (size_t)(nl - sp - 1), NULL, &got, &bend,
					      sodium_base64_VARIANT_ORIGINAL) != 0 ||
			    bend != nl)
				return vv_errf(VV_ERR_FORMAT, "signed note: a signature is not base64");
			h = (uint32_t)blob[0] << 24 | (uint32_t)blob[1] << 16 | (uint32_t)blob[2] << 8 | blob[3];
			if (h == k.hash) {
				seen = true;
				if (got != sizeof blob ||
				    crypto_sign_verify_detached(blob + 4, (const uint8_t *)note, tlen, k.pk) != 0)
					return vv_errf(VV_ERR_AUDIT_SIG, "signed note: the signature by %s does not verify",
						       k.name);
			}
		}
		p = nl + 1;
	}
	if (!seen)
		return vv_errf(VV_ERR_AUDIT_SIG, "signed note: no signature by %s+%08x", k.name, (unsigned)k.hash);
	if (text_len)
		*text_len = tlen;
	return 0;
}

int vv_audit_checkpoint_parse(const char *note, char *origin_out, uint64_t *size, uint8_t root[VV_AUDIT_HASH_LEN])
{
	const char *l1 = note, *l2, *l3, *e3;
	uint64_t v = 0;

	l2 = strchr(l1, '\n');
	if (!l2 || l2 == l1 || (size_t)(l2 - l1) > VV_AUDIT_ORIGIN_MAX)
		return vv_errf(VV_ERR_FORMAT, "checkpoint line 1: origin missing or too long");
	l2++;
	l3 = strchr(l2, '\n');
	if (!l3 || l3 == l2 || l3 - l2 > 20 || (l3 - l2 > 1 && *l2 == '0'))
		return vv_errf(VV_ERR_FORMAT, "checkpoint line 2: tree size missing or not canonical");
	for (const char *p = l2; p < l3; p++) {
		if (*p < '0' || *p > '9' || v > (UINT64_MAX - 9) / 10)
			return vv_errf(VV_ERR_FORMAT, "checkpoint line 2: tree size is not a decimal number");
		v = v * 10 + (uint64_t)(*p - '0');
	}
	l3++;
	e3 = strchr(l3, '\n');
	if (!e3 || b64_dec(l3, (size_t)(e3 - l3), root, VV_AUDIT_HASH_LEN))
		return vv_errf(VV_ERR_FORMAT, "checkpoint line 3: root hash is not 32 bytes of base64");
	if (origin_out) {
		memcpy(origin_out, l1, (size_t)(l2 - 1 - l1));
		origin_out[l2 - 1 - l1] = '\0';
	}
	*size = v;
	return 0;
}
