/* Helpers shared by src/net: whole-or-nothing files, OpenSSL error text, fingerprints. */
#include "net_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

static int vv_net_dir_fsync(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	int fd, rc = 0;

	if (!slash)
		strcpy(dir, ".");
	else if (slash == path)
		strcpy(dir, "/");
	else {
		if ((size_t)(slash - path) >= sizeof dir)
			return vv_errf(VV_ERR_RANGE, "%s: path too long", path);
		memcpy(dir, path, (size_t)(slash - path));
		dir[slash - path] = '\0';
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return vv_errf(VV_ERR_IO, "%s: %s", dir, strerror(errno));
	if (fsync(fd) != 0)
		rc = vv_errf(VV_ERR_IO, "%s: fsync: %s", dir, strerror(errno));
	close(fd);
	return rc;
}

int vv_net_file_own(int fd, const char *path, const struct stat *owner)
{
	/* Only root can give a file away; anyone else's files are theirs. */
	if (!owner || geteuid() != 0)
		return 0;
	if (fchown(fd, owner->st_uid, owner->st_gid) != 0)
		return vv_errf(VV_ERR_IO, "%s: chown to %ld:%ld: %s", path, (long)owner->st_uid,
			       (long)owner->st_gid, strerror(errno));
	return 0;
}

int vv_net_file_write(const char *path, const void *p, size_t n, mode_t mode, bool replace,
		      const struct stat *owner)
{
	char tmp[PATH_MAX];
	int fd = -1, rc = 0, saved;
	bool made = false;

	if (snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path) >= (int)sizeof tmp)
		return vv_errf(VV_ERR_RANGE, "%s: path too long", path);
	if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0)
		return vv_errf(VV_ERR_IO, "%s: cannot create a temporary file: %s", path, strerror(errno));
	made = true;
	/* Owner before mode (a chown may clear set-id bits), both before the
	 * file has its name: nobody can swap what gets chowned. */
	if ((rc = vv_net_file_own(fd, tmp, owner)) != 0)
		goto out;
	if (fchmod(fd, mode) != 0) {
		rc = vv_errf(VV_ERR_IO, "%s: chmod: %s", tmp, strerror(errno));
		goto out;
	}
	if ((rc = vv_write_all(fd, p, n)) != 0) {
		rc = vv_errf(VV_ERR_IO, "%s: write: %s", tmp, strerror(errno));
		goto out;
	}
	if (fsync(fd) != 0) {
		rc = vv_errf(VV_ERR_IO, "%s: fsync: %s", tmp, strerror(errno));
		goto out;
	}
	if (close(fd) != 0) {
		fd = -1;
		rc = vv_errf(VV_ERR_IO, "%s: close: %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	if (replace) {
		if (rename(tmp, path) != 0) {
			rc = vv_errf(VV_ERR_IO, "%s: rename: %s", path, strerror(errno));
			goto out;
		}
		made = false;
	} else if (link(tmp, path) != 0) {
		/* link() never replaces: an existing key stays as it is. */
		saved = errno;
		rc = saved == EEXIST ? vv_errf(VV_ERR_EXISTS, "%s: already exists", path)
				     : vv_errf(VV_ERR_IO, "%s: %s", path, strerror(saved));
		goto out;
	}
	rc = vv_net_dir_fsync(path);
out:
	saved = errno;
	if (fd >= 0)
		close(fd);
	if (made)
		(void)unlink(tmp);
	errno = saved;
	return rc;
}

const char *vv_net_ossl_reason(char *buf, size_t cap)
{
	unsigned long e = ERR_get_error();
	const char *r;

	buf[0] = '\0';
	if (e) {
		r = ERR_reason_error_string(e);
		if (r)
			snprintf(buf, cap, "%s", r);
		else
			snprintf(buf, cap, "error %d", ERR_GET_REASON(e));
	}
	ERR_clear_error();
	return buf;
}

int vv_net_ossl_err(int err, const char *what)
{
	char reason[160];

	vv_net_ossl_reason(reason, sizeof reason);
	if (reason[0])
		return vv_errf(err, "%s: %s", what, reason);
	return vv_errf(err, "%s", what);
}

int vv_net_cert_sha256(X509 *x, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (X509_digest(x, EVP_sha256(), md, &mdlen) != 1 || mdlen != 32)
		return vv_net_ossl_err(VV_ERR_PKI, "certificate fingerprint");
	vv_hex(md, 32, out);
	return 0;
}

int vv_net_cert_load(const char *path, X509 **out)
{
	BIO *b = NULL;
	int rc = 0;

	*out = NULL;
	if ((b = BIO_new_file(path, "r")) == NULL) {
		ERR_clear_error();
		return vv_errf(VV_ERR_IO, "%s: %s", path, strerror(errno));
	}
	if ((*out = PEM_read_bio_X509(b, NULL, NULL, NULL)) == NULL) {
		rc = vv_net_ossl_err(VV_ERR_PKI, "certificate");
		rc = vv_err_prefix(rc, "%s", path);
	}
	BIO_free(b);
	return rc;
}

int vv_net_fingerprint_file(const char *cert_path, char out[65])
{
	X509 *x = NULL;
	int rc;

	out[0] = '\0';
	if ((rc = vv_net_cert_load(cert_path, &x)) != 0)
		return rc;
	rc = vv_net_cert_sha256(x, out);
	X509_free(x);
	return rc;
}
