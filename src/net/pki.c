/* The appliance's small PKI: local CA, server and client certificates, CRL, index of clients. */
#include "net_int.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define VV_PKI_INDEX_MAX (16u << 20)
#define VV_PKI_DAYS_LIMIT 36500

enum vv_pki_kind { VV_PKI_CA, VV_PKI_SERVER, VV_PKI_CLIENT };

bool vv_net_name_valid(const char *name)
{
	size_t n = 0;

	if (!name || !*name || name[0] == '.' || name[0] == '-')
		return false;
	for (; name[n]; n++) {
		unsigned char c = (unsigned char)name[n];
		if (n >= VV_NET_NAME_MAX || !(isalnum(c) || c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

static int vv_pki_path(char *out, const char *dir, const char *file)
{
	if (snprintf(out, PATH_MAX, "%s/%s", dir, file) >= PATH_MAX)
		return vv_errf(VV_ERR_RANGE, "%s: path too long", dir);
	return 0;
}

/* The owner of the CA folder: what varvault-admin writes there as root
 * goes to it (the daemon's user, who owns the state folder), so that the
 * daemon and a later admin run as that user can use it. */
static int vv_pki_dir_owner(const char *dir, struct stat *st)
{
	if (stat(dir, st) != 0)
		return vv_errf(VV_ERR_IO, "%s: %s", dir, strerror(errno));
	return 0;
}

static int vv_pki_new_key(EVP_PKEY **out)
{
	if ((*out = EVP_EC_gen("P-256")) == NULL)
		return vv_net_ossl_err(VV_ERR_PKI, "P-256 key generation");
	return 0;
}

/* Writes a private key as PEM, 0600, never replacing a file, owned as
 * vv_net_file_write says.  The PEM text lives only in OpenSSL's clearing
 * memory BIO. */
static int vv_pki_key_write(EVP_PKEY *key, const char *path, const struct stat *owner)
{
	BIO *b = BIO_new(BIO_s_secmem());
	char *p = NULL;
	long n;
	int rc;

	if (!b)
		return vv_errf(VV_ERR_NOMEM, "key buffer");
	if (PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL) != 1) {
		rc = vv_net_ossl_err(VV_ERR_PKI, "key encoding");
		goto out;
	}
	n = BIO_get_mem_data(b, &p);
	rc = vv_net_file_write(path, p, (size_t)n, 0600, false, owner);
out:
	BIO_free(b);
	return rc;
}

static int vv_pki_pem_cert(X509 *x, const char *path, bool replace, const struct stat *owner)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p = NULL;
	long n;
	int rc;

	if (!b)
		return vv_errf(VV_ERR_NOMEM, "certificate buffer");
	if (PEM_write_bio_X509(b, x) != 1) {
		rc = vv_net_ossl_err(VV_ERR_PKI, "certificate encoding");
		goto out;
	}
	n = BIO_get_mem_data(b, &p);
	rc = vv_net_file_write(path, p, (size_t)n, 0644, replace, owner);
out:
	BIO_free(b);
	return rc;
}

static int vv_pki_key_load(const char *path, EVP_PKEY **out)
{
	BIO *b;

	*out = NULL;
	if ((b = BIO_new_file(path, "r")) == NULL) {
		int saved = errno;
		ERR_clear_error();
		if (saved == ENOENT)
			return vv_errf(VV_ERR_NOTFOUND, "%s: no CA key here (a lab CA signs its own certificates)",
				       path);
		return vv_errf(VV_ERR_IO, "%s: %s", path, strerror(saved));
	}
	*out = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
	BIO_free(b);
	if (!*out)
		return vv_err_prefix(vv_net_ossl_err(VV_ERR_PKI, "private key"), "%s", path);
	return 0;
}

static int vv_pki_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
	int ok;

	if (!e)
		return vv_net_ossl_err(VV_ERR_PKI, "certificate extension");
	ok = X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	return ok ? 0 : vv_net_ossl_err(VV_ERR_PKI, "certificate extension");
}

static void vv_pki_serial_hex(const ASN1_INTEGER *ai, char out[41])
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(ai, NULL);
	char *h = bn ? BN_bn2hex(bn) : NULL;

	out[0] = '\0';
	if (h) {
		snprintf(out, 41, "%s", h);
		for (char *p = out; *p; p++)
			*p = (char)tolower((unsigned char)*p);
	}
	OPENSSL_free(h);
	BN_free(bn);
}

static int64_t vv_pki_time(const ASN1_TIME *t)
{
	struct tm tm;

	if (ASN1_TIME_to_tm(t, &tm) != 1)
		return 0;
	return (int64_t)timegm(&tm);
}

/* Builds and signs a certificate for subject_key.  issuer NULL: self-signed
 * (the CA).  days > 0: valid from five minutes ago (clock skew) for days
 * days; days < 0: expired |days| days ago (tests). */
static int vv_pki_make_cert(enum vv_pki_kind kind, EVP_PKEY *subject_key, const char *cn, X509 *issuer,
			    EVP_PKEY *issuer_key, int days, X509 **out)
{
	X509 *x = NULL;
	BIGNUM *bn = NULL;
	X509V3_CTX ctx;
	unsigned char rnd[16];
	long not_after = (long)days * 86400L, not_before = days > 0 ? -300L : not_after - 86400L;
	int rc = 0;

	*out = NULL;
	if ((x = X509_new()) == NULL) {
		rc = vv_errf(VV_ERR_NOMEM, "certificate");
		goto out;
	}
	if (RAND_bytes(rnd, sizeof rnd) != 1) {
		rc = vv_net_ossl_err(VV_ERR_INTERNAL, "random serial");
		goto out;
	}
	/* The top bit set: never zero, and always 32 hex digits in the index. */
	rnd[0] |= 0x80;
	if (X509_set_version(x, 2) != 1 || (bn = BN_bin2bn(rnd, sizeof rnd, NULL)) == NULL ||
	    !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), not_before) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), not_after) || X509_set_pubkey(x, subject_key) != 1 ||
	    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_UTF8,
				       (const unsigned char *)cn, -1, -1, 0) != 1 ||
	    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : X509_get_subject_name(x)) != 1) {
		rc = vv_net_ossl_err(VV_ERR_PKI, "certificate fields");
		goto out;
	}
	X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
	if ((rc = vv_pki_ext(x, &ctx, NID_subject_key_identifier, "hash")) != 0 ||
	    (rc = vv_pki_ext(x, &ctx, NID_authority_key_identifier, "keyid:always")) != 0)
		goto out;
	switch (kind) {
	case VV_PKI_CA:
		if ((rc = vv_pki_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE,pathlen:0")) != 0 ||
		    (rc = vv_pki_ext(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign")) != 0)
			goto out;
		break;
	case VV_PKI_SERVER:
		if ((rc = vv_pki_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE")) != 0 ||
		    (rc = vv_pki_ext(x, &ctx, NID_key_usage, "critical,digitalSignature")) != 0 ||
		    (rc = vv_pki_ext(x, &ctx, NID_ext_key_usage, "serverAuth")) != 0 ||
		    (rc = vv_pki_ext(x, &ctx, NID_subject_alt_name, "DNS:" VV_NET_SERVER_NAME)) != 0)
			goto out;
		break;
	case VV_PKI_CLIENT:
		if ((rc = vv_pki_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE")) != 0 ||
		    (rc = vv_pki_ext(x, &ctx, NID_key_usage, "critical,digitalSignature")) != 0 ||
		    (rc = vv_pki_ext(x, &ctx, NID_ext_key_usage, "clientAuth")) != 0)
			goto out;
		break;
	}
	if (X509_sign(x, issuer_key, EVP_sha256()) <= 0) {
		rc = vv_net_ossl_err(VV_ERR_PKI, "certificate signature");
		goto out;
	}
	*out = x;
	x = NULL;
out:
	BN_free(bn);
	X509_free(x);
	return rc;
}

static int vv_pki_days(int *days, int def, bool allow_negative)
{
	if (*days == 0)
		*days = def;
	else if (*days > VV_PKI_DAYS_LIMIT || *days < -VV_PKI_DAYS_LIMIT || (*days < 0 && !allow_negative))
		return vv_errf(VV_ERR_RANGE, "validity of %d days out of range", *days);
	return 0;
}

/* Holds the CA's directory lock (flock on ca_dir/.lock) while an issue or
 * revoke reads and rewrites the index, so two admins cannot lose an entry. */
static int vv_pki_lock(const char *dir, int *fd)
{
	char path[PATH_MAX];
	struct stat own, st;
	int rc;

	*fd = -1;
	if ((rc = vv_pki_path(path, dir, ".lock")) != 0)
		return rc;
	/* No symbolic link: root may chown what it opens here. */
	if ((*fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0)
		return vv_errf(VV_ERR_IO, "%s: %s", path, strerror(errno));
	if ((rc = vv_pki_dir_owner(dir, &own)) != 0)
		goto out;
	if (fstat(*fd, &st) != 0) {
		rc = vv_errf(VV_ERR_IO, "%s: %s", path, strerror(errno));
		goto out;
	}
	/* The folder owner's lock, also one an older version left to root;
	 * never a file that has another name (a hard link) somewhere else. */
	if (S_ISREG(st.st_mode) && st.st_nlink == 1 && (st.st_uid != own.st_uid || st.st_gid != own.st_gid) &&
	    (rc = vv_net_file_own(*fd, path, &own)) != 0)
		goto out;
	if (flock(*fd, LOCK_EX) != 0)
		rc = vv_errf(VV_ERR_IO, "%s: lock: %s", path, strerror(errno));
out:
	if (rc) {
		close(*fd);
		*fd = -1;
	}
	return rc;
}

static void vv_pki_unlock(int fd)
{
	if (fd >= 0)
		close(fd); /* releases the flock */
}

/* ------------------------------------------------------------ the index */

static int vv_pki_index_read(const char *dir, vv_net_cert_info **out, size_t *n)
{
	char path[PATH_MAX];
	char *buf = NULL;
	size_t len = 0, cap = 0, cnt = 0;
	json_object *root = NULL, *arr, *v;
	vv_net_cert_info *items = NULL;
	int rc;

	*out = NULL;
	*n = 0;
	if ((rc = vv_pki_path(path, dir, "clients.json")) != 0)
		return rc;
	if ((rc = vv_read_file(path, VV_PKI_INDEX_MAX, &buf, &len)) != 0) {
		if (rc == VV_ERR_IO && errno == ENOENT)
			return vv_errf(VV_ERR_NOTFOUND, "%s: no client index (is this a CA directory?)", path);
		return rc;
	}
	if (vv_json_parse(buf, len, path, &root) != 0)
		root = NULL;
	if (!root || !json_object_is_type(root, json_type_object) ||
	    !json_object_object_get_ex(root, "clients", &arr) || !json_object_is_type(arr, json_type_array)) {
		rc = vv_errf(VV_ERR_FORMAT, "%s: not a client index", path);
		goto out;
	}
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		json_object *e = json_object_array_get_idx(arr, i);
		vv_net_cert_info *it;
		const char *s;
		if ((rc = vv_array_grow((void **)&items, &cap, cnt, sizeof *items, 16)) != 0)
			goto out;
		it = &items[cnt];
		memset(it, 0, sizeof *it);
#define VV_IDX_STR(field, dst)                                                                      \
	if (!json_object_object_get_ex(e, field, &v) || !json_object_is_type(v, json_type_string) ||     \
	    (s = json_object_get_string(v), strlen(s) >= sizeof(dst))) {                                \
		rc = vv_errf(VV_ERR_FORMAT, "%s: entry %zu: field '%s'", path, i, field);                 \
		goto out;                                                                               \
	}                                                                                               \
	strcpy(dst, s);
		VV_IDX_STR("name", it->name)
		VV_IDX_STR("serial", it->serial)
		VV_IDX_STR("sha256", it->sha256)
#undef VV_IDX_STR
		if (!json_object_object_get_ex(e, "not_after", &v) || !json_object_is_type(v, json_type_int)) {
			rc = vv_errf(VV_ERR_FORMAT, "%s: entry %zu: field 'not_after'", path, i);
			goto out;
		}
		it->not_after = json_object_get_int64(v);
		if (json_object_object_get_ex(e, "revoked_at", &v) && json_object_is_type(v, json_type_int) &&
		    json_object_get_int64(v) > 0) {
			it->revoked = true;
			it->revoked_at = json_object_get_int64(v);
		}
		cnt++;
	}
	*out = items;
	*n = cnt;
	items = NULL;
out:
	free(items);
	json_object_put(root);
	free(buf);
	return rc;
}

static int vv_pki_index_write(const char *dir, const vv_net_cert_info *items, size_t n)
{
	char path[PATH_MAX];
	struct stat own;
	json_object *root = json_object_new_object(), *arr = json_object_new_array();
	const char *txt;
	int rc;

	if (!root || !arr) {
		json_object_put(arr);
		rc = vv_errf(VV_ERR_NOMEM, "client index");
		goto out;
	}
	json_object_object_add(root, "version", json_object_new_int(1));
	json_object_object_add(root, "clients", arr);
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_new_object();
		if (!e) {
			rc = vv_errf(VV_ERR_NOMEM, "client index");
			goto out;
		}
		json_object_object_add(e, "name", json_object_new_string(items[i].name));
		json_object_object_add(e, "serial", json_object_new_string(items[i].serial));
		json_object_object_add(e, "sha256", json_object_new_string(items[i].sha256));
		json_object_object_add(e, "not_after", json_object_new_int64(items[i].not_after));
		json_object_object_add(e, "revoked_at", json_object_new_int64(items[i].revoked ? items[i].revoked_at : 0));
		json_object_array_add(arr, e);
	}
	if ((rc = vv_pki_path(path, dir, "clients.json")) != 0 || (rc = vv_pki_dir_owner(dir, &own)) != 0)
		goto out;
	txt = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED);
	if (!txt) {
		rc = vv_errf(VV_ERR_NOMEM, "client index");
		goto out;
	}
	rc = vv_net_file_write(path, txt, strlen(txt), 0644, true, &own);
out:
	json_object_put(root);
	return rc;
}

int vv_net_client_list(const char *ca_dir, vv_net_cert_info **out, size_t *n)
{
	return vv_pki_index_read(ca_dir, out, n);
}

/* ------------------------------------------------------------ the CA */

static int vv_pki_ca_load(const char *dir, X509 **ca, EVP_PKEY **key)
{
	char path[PATH_MAX];
	int rc;

	*ca = NULL;
	*key = NULL;
	if ((rc = vv_pki_path(path, dir, "ca.crt")) != 0 || (rc = vv_net_cert_load(path, ca)) != 0)
		return rc;
	if ((rc = vv_pki_path(path, dir, "ca.key")) != 0 || (rc = vv_pki_key_load(path, key)) != 0)
		goto out;
	if (X509_check_private_key(*ca, *key) != 1) {
		rc = vv_net_ossl_err(VV_ERR_PKI, "CA key does not match ca.crt");
		goto out;
	}
	return 0;
out:
	X509_free(*ca);
	EVP_PKEY_free(*key);
	*ca = NULL;
	*key = NULL;
	return rc;
}

static int vv_pki_crl_make(const char *dir, X509 *ca, EVP_PKEY *key, const vv_net_cert_info *items, size_t n,
			   int days)
{
	char path[PATH_MAX];
	struct stat own;
	X509_CRL *crl = NULL;
	ASN1_TIME *now = NULL, *next = NULL;
	ASN1_INTEGER *num = NULL;
	X509V3_CTX ctx;
	X509_EXTENSION *ext = NULL;
	BIO *b = NULL;
	char *p;
	long len;
	int rc = 0;

	if ((rc = vv_pki_path(path, dir, "crl.pem")) != 0 || (rc = vv_pki_dir_owner(dir, &own)) != 0)
		return rc;
	if ((crl = X509_CRL_new()) == NULL || (now = X509_gmtime_adj(NULL, 0)) == NULL ||
	    (next = X509_gmtime_adj(NULL, (long)days * 86400L)) == NULL || (num = ASN1_INTEGER_new()) == NULL ||
	    (b = BIO_new(BIO_s_mem())) == NULL) {
		rc = vv_errf(VV_ERR_NOMEM, "CRL");
		goto out;
	}
	if (X509_CRL_set_version(crl, 1) != 1 || X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca)) != 1 ||
	    X509_CRL_set1_lastUpdate(crl, now) != 1 || X509_CRL_set1_nextUpdate(crl, next) != 1) {
		rc = vv_net_ossl_err(VV_ERR_PKI, "CRL fields");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		X509_REVOKED *r;
		BIGNUM *bn = NULL;
		ASN1_INTEGER *sn = NULL;
		ASN1_TIME *t = NULL;
		int ok;
		if (!items[i].revoked)
			continue;
		if ((r = X509_REVOKED_new()) == NULL) {
			rc = vv_errf(VV_ERR_NOMEM, "CRL entry");
			goto out;
		}
		ok = BN_hex2bn(&bn, items[i].serial) > 0 && (sn = BN_to_ASN1_INTEGER(bn, NULL)) != NULL &&
		     (t = ASN1_TIME_set(NULL, (time_t)items[i].revoked_at)) != NULL &&
		     X509_REVOKED_set_serialNumber(r, sn) == 1 && X509_REVOKED_set_revocationDate(r, t) == 1 &&
		     X509_CRL_add0_revoked(crl, r) == 1;
		BN_free(bn);
		ASN1_INTEGER_free(sn);
		ASN1_TIME_free(t);
		if (!ok) {
			X509_REVOKED_free(r);
			rc = vv_net_ossl_err(VV_ERR_PKI, "CRL entry");
			goto out;
		}
	}
	X509_CRL_sort(crl);
	/* A CRL number that grows with time: relying parties keep the newest. */
	X509V3_set_ctx(&ctx, ca, NULL, NULL, crl, 0);
	if (ASN1_INTEGER_set_int64(num, (int64_t)time(NULL)) != 1 ||
	    X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0) != 1 ||
	    (ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_authority_key_identifier, "keyid:always")) == NULL ||
	    X509_CRL_add_ext(crl, ext, -1) != 1) {
		rc = vv_net_ossl_err(VV_ERR_PKI, "CRL extensions");
		goto out;
	}
	if (X509_CRL_sign(crl, key, EVP_sha256()) <= 0 || PEM_write_bio_X509_CRL(b, crl) != 1) {
		rc = vv_net_ossl_err(VV_ERR_PKI, "CRL signature");
		goto out;
	}
	len = BIO_get_mem_data(b, &p);
	rc = vv_net_file_write(path, p, (size_t)len, 0644, true, &own);
out:
	X509_EXTENSION_free(ext);
	ASN1_INTEGER_free(num);
	ASN1_TIME_free(now);
	ASN1_TIME_free(next);
	X509_CRL_free(crl);
	BIO_free(b);
	return rc;
}

int vv_net_ca_create(const char *dir, const char *cn, int days)
{
	char kpath[PATH_MAX], cpath[PATH_MAX];
	EVP_PKEY *key = NULL;
	X509 *ca = NULL;
	struct stat st, own;
	int rc;

	if ((rc = vv_pki_days(&days, VV_NET_CA_DAYS, false)) != 0)
		return rc;
	if ((rc = vv_pki_path(kpath, dir, "ca.key")) != 0 || (rc = vv_pki_path(cpath, dir, "ca.crt")) != 0)
		return rc;
	if (lstat(kpath, &st) == 0 || lstat(cpath, &st) == 0)
		return vv_errf(VV_ERR_EXISTS, "%s: a CA already exists here", dir);
	if ((rc = vv_pki_dir_owner(dir, &own)) != 0)
		return rc;
	if ((rc = vv_pki_new_key(&key)) != 0 ||
	    (rc = vv_pki_make_cert(VV_PKI_CA, key, cn ? cn : "varvault local CA", NULL, key, days, &ca)) != 0)
		goto out;
	/* The key first: a directory with a certificate but no key is useless,
	 * one with a key but no certificate is refused by the check above. */
	if ((rc = vv_pki_key_write(key, kpath, &own)) != 0)
		goto out;
	if ((rc = vv_pki_pem_cert(ca, cpath, false, &own)) != 0 || (rc = vv_pki_index_write(dir, NULL, 0)) != 0 ||
	    (rc = vv_pki_crl_make(dir, ca, key, NULL, 0, VV_NET_CRL_DAYS)) != 0) {
		/* Leave no half-made CA that would block a retry. */
		(void)unlink(kpath);
		(void)unlink(cpath);
	}
out:
	X509_free(ca);
	EVP_PKEY_free(key);
	return rc;
}

int vv_net_server_issue(const char *ca_dir, const char *cert_path, const char *key_path, int days)
{
	EVP_PKEY *cakey = NULL, *key = NULL;
	X509 *ca = NULL, *x = NULL;
	struct stat own;
	int rc;

	/* The server's certificate and key are the daemon's, as its CA is. */
	if ((rc = vv_pki_days(&days, VV_NET_CERT_DAYS, false)) != 0)
		return rc;
	if ((rc = vv_pki_ca_load(ca_dir, &ca, &cakey)) != 0 || (rc = vv_pki_dir_owner(ca_dir, &own)) != 0 ||
	    (rc = vv_pki_new_key(&key)) != 0 ||
	    (rc = vv_pki_make_cert(VV_PKI_SERVER, key, VV_NET_SERVER_NAME, ca, cakey, days, &x)) != 0 ||
	    (rc = vv_pki_key_write(key, key_path, &own)) != 0)
		goto out;
	if ((rc = vv_pki_pem_cert(x, cert_path, false, &own)) != 0)
		(void)unlink(key_path); /* no key without its certificate */
out:
	X509_free(x);
	X509_free(ca);
	EVP_PKEY_free(key);
	EVP_PKEY_free(cakey);
	return rc;
}

/* Loads a CSR, verifies its self-signature and returns its public key if it
 * is strong enough for a client certificate. */
static int vv_pki_csr_key(const char *csr_path, EVP_PKEY **out)
{
	BIO *b = NULL;
	X509_REQ *req = NULL;
	EVP_PKEY *pk;
	int rc = 0, id, bits;

	*out = NULL;
	if ((b = BIO_new_file(csr_path, "r")) == NULL) {
		ERR_clear_error();
		return vv_errf(VV_ERR_IO, "%s: %s", csr_path, strerror(errno));
	}
	if ((req = PEM_read_bio_X509_REQ(b, NULL, NULL, NULL)) == NULL) {
		rc = vv_err_prefix(vv_net_ossl_err(VV_ERR_PKI, "not a PEM certificate request"), "%s", csr_path);
		goto out;
	}
	if ((pk = X509_REQ_get0_pubkey(req)) == NULL) {
		rc = vv_errf(VV_ERR_PKI, "%s: request without a public key", csr_path);
		goto out;
	}
	if (X509_REQ_verify(req, pk) != 1) {
		ERR_clear_error();
		rc = vv_errf(VV_ERR_PKI, "%s: the request's signature does not verify", csr_path);
		goto out;
	}
	id = EVP_PKEY_get_base_id(pk);
	bits = EVP_PKEY_get_bits(pk);
	if (!((id == EVP_PKEY_RSA && bits >= 2048) || (id == EVP_PKEY_EC && bits >= 256) ||
	      id == EVP_PKEY_ED25519 || id == EVP_PKEY_ED448)) {
		rc = vv_errf(VV_ERR_PKI, "%s: key type or size refused (RSA >= 2048, EC >= 256 bits, Ed25519, Ed448)",
			     csr_path);
		goto out;
	}
	if (EVP_PKEY_up_ref(pk) != 1) {
		rc = vv_errf(VV_ERR_INTERNAL, "key reference");
		goto out;
	}
	*out = pk;
out:
	X509_REQ_free(req);
	BIO_free(b);
	return rc;
}

int vv_net_client_issue(const char *ca_dir, const char *name, const char *csr_path, const char *cert_path,
			const char *key_path, int days, vv_net_cert_info *info)
{
	EVP_PKEY *cakey = NULL, *key = NULL;
	X509 *ca = NULL, *x = NULL;
	vv_net_cert_info *items = NULL, *it;
	size_t n = 0, cap;
	bool key_written = false;
	int rc, lock = -1;

	if (info)
		memset(info, 0, sizeof *info);
	if (!vv_net_name_valid(name))
		return vv_errf(VV_ERR_INVAL, "client name: 1 to %d of A-Z a-z 0-9 . _ -, not starting with . or -",
			       VV_NET_NAME_MAX);
	if ((csr_path && key_path) || (!csr_path && !key_path))
		return vv_errf(VV_ERR_INVAL, "client issue: give either a CSR or a key path");
	if ((rc = vv_pki_days(&days, VV_NET_CERT_DAYS, true)) != 0)
		return rc;
	if ((rc = vv_pki_lock(ca_dir, &lock)) != 0 || (rc = vv_pki_ca_load(ca_dir, &ca, &cakey)) != 0 ||
	    (rc = vv_pki_index_read(ca_dir, &items, &n)) != 0)
		goto out;
	if (csr_path)
		rc = vv_pki_csr_key(csr_path, &key);
	else
		rc = vv_pki_new_key(&key);
	if (rc != 0 || (rc = vv_pki_make_cert(VV_PKI_CLIENT, key, name, ca, cakey, days, &x)) != 0)
		goto out;
	cap = n;
	if ((rc = vv_array_grow((void **)&items, &cap, n, sizeof *items, 16)) != 0)
		goto out;
	it = &items[n];
	memset(it, 0, sizeof *it);
	snprintf(it->name, sizeof it->name, "%s", name);
	vv_pki_serial_hex(X509_get0_serialNumber(x), it->serial);
	it->not_after = vv_pki_time(X509_get0_notAfter(x));
	if ((rc = vv_net_cert_sha256(x, it->sha256)) != 0)
		goto out;
	if (key_path) {
		/* The client's files are the caller's: no owner given. */
		if ((rc = vv_pki_key_write(key, key_path, NULL)) != 0)
			goto out;
		key_written = true;
	}
	if ((rc = vv_pki_pem_cert(x, cert_path, false, NULL)) != 0)
		goto out;
	/* The index records the certificate once it exists; a failure here
	 * leaves a certificate the index does not list: remove it too. */
	if ((rc = vv_pki_index_write(ca_dir, items, n + 1)) != 0) {
		(void)unlink(cert_path);
		goto out;
	}
	key_written = false;
	if (info)
		*info = *it;
out:
	if (key_written)
		(void)unlink(key_path);
	vv_pki_unlock(lock);
	free(items);
	X509_free(x);
	X509_free(ca);
	EVP_PKEY_free(key);
	EVP_PKEY_free(cakey);
	return rc;
}

int vv_net_client_revoke(const char *ca_dir, const char *what, size_t *count)
{
	EVP_PKEY *cakey = NULL;
	X509 *ca = NULL;
	vv_net_cert_info *items = NULL;
	size_t n = 0, hits = 0;
	int64_t now = (int64_t)time(NULL);
	int rc, lock = -1;

	if (count)
		*count = 0;
	if (!what || !*what)
		return vv_errf(VV_ERR_INVAL, "revoke: no name or serial");
	if ((rc = vv_pki_lock(ca_dir, &lock)) != 0 || (rc = vv_pki_ca_load(ca_dir, &ca, &cakey)) != 0 ||
	    (rc = vv_pki_index_read(ca_dir, &items, &n)) != 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		if (items[i].revoked || (strcmp(items[i].name, what) != 0 && strcasecmp(items[i].serial, what) != 0))
			continue;
		items[i].revoked = true;
		items[i].revoked_at = now;
		hits++;
	}
	if (!hits) {
		rc = vv_errf(VV_ERR_NOTFOUND, "no unrevoked client certificate with that name or serial");
		goto out;
	}
	/* The CRL first: once it is out, the index saying "revoked" is true. */
	if ((rc = vv_pki_crl_make(ca_dir, ca, cakey, items, n, VV_NET_CRL_DAYS)) != 0 ||
	    (rc = vv_pki_index_write(ca_dir, items, n)) != 0)
		goto out;
	if (count)
		*count = hits;
out:
	vv_pki_unlock(lock);
	free(items);
	X509_free(ca);
	EVP_PKEY_free(cakey);
	return rc;
}

int vv_net_crl_write(const char *ca_dir, int days)
{
	EVP_PKEY *cakey = NULL;
	X509 *ca = NULL;
	vv_net_cert_info *items = NULL;
	size_t n = 0;
	int rc, lock = -1;

	if ((rc = vv_pki_days(&days, VV_NET_CRL_DAYS, false)) != 0)
		return rc;
	if ((rc = vv_pki_lock(ca_dir, &lock)) != 0 || (rc = vv_pki_ca_load(ca_dir, &ca, &cakey)) != 0 ||
	    (rc = vv_pki_index_read(ca_dir, &items, &n)) != 0)
		goto out;
	rc = vv_pki_crl_make(ca_dir, ca, cakey, items, n, days);
out:
	vv_pki_unlock(lock);
	free(items);
	X509_free(ca);
	EVP_PKEY_free(cakey);
	return rc;
}

int vv_net_client_check(const char *cert_path, const char *ca_path, vv_net_cert_info *info)
{
	X509_STORE *st = NULL;
	X509_STORE_CTX *vc = NULL;
	X509 *x = NULL;
	FILE *f = NULL;
	char cn[VV_NET_NAME_MAX + 2];
	int rc, n;

	memset(info, 0, sizeof *info);
	ERR_clear_error();
	if ((f = fopen(cert_path, "r")) == NULL) {
		rc = vv_errf(VV_ERR_IO, "%s: %s", cert_path, strerror(errno));
		goto out;
	}
	if ((x = PEM_read_X509(f, NULL, NULL, NULL)) == NULL) {
		rc = vv_err_prefix(vv_net_ossl_err(VV_ERR_PKI, "certificate"), "%s: ", cert_path);
		goto out;
	}
	if ((st = X509_STORE_new()) == NULL || (vc = X509_STORE_CTX_new()) == NULL) {
		rc = vv_errf(VV_ERR_NOMEM, "certificate check");
		goto out;
	}
	if (X509_STORE_load_file(st, ca_path) != 1) {
		rc = vv_err_prefix(vv_net_ossl_err(VV_ERR_PKI, "CA certificates"), "%s: ", ca_path);
		goto out;
	}
	if (X509_STORE_CTX_init(vc, st, x, NULL) != 1 ||
	    X509_STORE_CTX_set_purpose(vc, X509_PURPOSE_SSL_CLIENT) != 1) {
		rc = vv_net_ossl_err(VV_ERR_PKI, "certificate check");
		goto out;
	}
	if (X509_verify_cert(vc) != 1) {
		rc = vv_errf(VV_ERR_PEER_CERT, "%s: does not verify against %s: %s", cert_path, ca_path,
			     X509_verify_cert_error_string(X509_STORE_CTX_get_error(vc)));
		goto out;
	}
	n = X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof cn);
	if (n > 0 && n <= VV_NET_NAME_MAX && vv_net_name_valid(cn))
		memcpy(info->name, cn, (size_t)n + 1);
	vv_pki_serial_hex(X509_get0_serialNumber(x), info->serial);
	info->not_after = vv_pki_time(X509_get0_notAfter(x));
	rc = vv_net_cert_sha256(x, info->sha256);
out:
	ERR_clear_error();
	X509_STORE_CTX_free(vc);
	X509_STORE_free(st);
	X509_free(x);
	if (f)
		fclose(f);
	return rc;
}
