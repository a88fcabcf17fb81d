/* What a CRL file revokes, as one hash: the audit log records a change of
 * it (the daemon's start and reload).  The file's own bytes are no good for
 * that: the daemon re-signs its CRL at every start (a fresh lastUpdate and
 * nextUpdate), so the same list would read as a new CRL each time. */
#include "net_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

/* Serial numbers as hex, sorted, so that the order in the file does not
 * count (OpenSSL keeps a CRL's entries sorted only when it made it). */
static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Adds one CRL to h: issuer (DER), the number of entries, each serial. */
static int crl_add(vv_sha256 *h, X509_CRL *crl, size_t *revoked)
{
	STACK_OF(X509_REVOKED) *rev = X509_CRL_get_REVOKED(crl);
	int n = rev ? sk_X509_REVOKED_num(rev) : 0;
	unsigned char *der = NULL;
	char **serials = NULL;
	uint8_t cnt[8];
	int len, rc = 0, i;

	if ((len = i2d_X509_NAME(X509_CRL_get_issuer(crl), &der)) <= 0)
		return vv_net_ossl_err(VV_ERR_PKI, "CRL issuer");
	vv_sha256_update(h, "issuer", 6);
	vv_sha256_update(h, der, (size_t)len);
	OPENSSL_free(der);
	for (i = 0; i < 8; i++)
		cnt[i] = (uint8_t)((uint64_t)n >> (8 * i));
	vv_sha256_update(h, cnt, sizeof cnt);
	if (n == 0)
		return 0;
	if (!(serials = calloc((size_t)n, sizeof *serials)))
		return VV_ERR_NOMEM;
	for (i = 0; i < n; i++) {
		BIGNUM *bn = ASN1_INTEGER_to_BN(X509_REVOKED_get0_serialNumber(sk_X509_REVOKED_value(rev, i)), NULL);
		char *hex = bn ? BN_bn2hex(bn) : NULL;
		BN_free(bn);
		if (!hex || !(serials[i] = strdup(hex))) {
			OPENSSL_free(hex);
			rc = hex ? VV_ERR_NOMEM : vv_net_ossl_err(VV_ERR_PKI, "CRL serial number");
			goto out;
		}
		OPENSSL_free(hex);
	}
	qsort(serials, (size_t)n, sizeof *serials, cmp_str);
	for (i = 0; i < n; i++)
		vv_sha256_update(h, serials[i], strlen(serials[i]) + 1); /* with its NUL: a separator */
	*revoked += (size_t)n;
out:
	for (i = 0; serials && i < n; i++)
		free(serials[i]);
	free(serials);
	return rc;
}

int vv_net_crl_digest(const char *crl_file, char out[65], size_t *revoked)
{
	vv_sha256 *h = NULL;
	X509_CRL *crl = NULL;
	BIO *b = NULL;
	uint8_t md[32];
	size_t nrev = 0, ncrl = 0;
	int rc = 0;

	out[0] = '\0';
	if (revoked)
		*revoked = 0;
	if ((b = BIO_new_file(crl_file, "r")) == NULL) {
		ERR_clear_error();
		return vv_errf(VV_ERR_IO, "%s: %s", crl_file, strerror(errno));
	}
	if (!(h = vv_sha256_new())) {
		rc = VV_ERR_NOMEM;
		goto out;
	}
	vv_sha256_update(h, "varvault crl digest v1", 22);
	/* Every CRL of the file, in file order (the server loads them all). */
	while ((crl = PEM_read_bio_X509_CRL(b, NULL, NULL, NULL)) != NULL) {
		rc = crl_add(h, crl, &nrev);
		X509_CRL_free(crl);
		if (rc != 0)
			goto out;
		ncrl++;
	}
	/* The loop ends on "no start line" at the end of the file; anything
	 * else is a damaged CRL. */
	{
		unsigned long e = ERR_peek_last_error();
		if (ncrl == 0 || (e && !(ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE))) {
			rc = vv_err_prefix(vv_net_ossl_err(VV_ERR_PKI, ncrl ? "CRL" : "no CRL"), "%s", crl_file);
			goto out;
		}
		ERR_clear_error();
	}
	vv_sha256_final(h, md); /* frees h */
	h = NULL;
	vv_hex(md, sizeof md, out);
	if (revoked)
		*revoked = nrev;
out:
	vv_sha256_free(h);
	BIO_free(b);
	return rc;
}
