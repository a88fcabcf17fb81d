/* varvault-admin init: the audit log's key material (signing key, its
 * verifier key, and k0, the first key of the MAC chain). */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "varvault/audit.h"

/* Writes a new file (never replacing one) with mode, fsync'd. */
static int write_excl(const char *path, const char *text, size_t n, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
	ssize_t w;

	if (fd < 0)
		return vv_errf(errno == EEXIST ? VV_ERR_EXISTS : VV_ERR_IO, "%s: %s", path, strerror(errno));
	w = write(fd, text, n);
	if (w != (ssize_t)n || fsync(fd) != 0) {
		close(fd);
		(void)unlink(path);
		return vv_errf(VV_ERR_IO, "%s: write failed", path);
	}
	return close(fd) == 0 ? 0 : vv_errf(VV_ERR_IO, "%s: close failed", path);
}

int vv_cli_audit_keys_make(const char *name, const char *skey_path, const char *vkey_path, const char *k0_path)
{
	char *skey = NULL, *vkey = NULL, *line = NULL, hex[65];
	uint8_t k0[32];
	size_t n;
	int rc;

	/* All three or none: a log whose k0 is lost cannot have its MACs checked. */
	if (access(skey_path, F_OK) == 0 || access(vkey_path, F_OK) == 0 || access(k0_path, F_OK) == 0)
		return vv_errf(VV_ERR_EXISTS, "%s: audit keys exist already; refusing to overwrite them", skey_path);
	if ((rc = vv_audit_note_keygen(name, &skey, &vkey)) != 0)
		return rc;
	n = strlen(skey);
	if (!(line = malloc(n + 2))) {
		rc = VV_ERR_NOMEM;
		goto out;
	}
	memcpy(line, skey, n);
	line[n] = '\n';
	if ((rc = write_excl(skey_path, line, n + 1, 0600)) != 0)
		goto out;
	sodium_memzero(line, n + 1);
	randombytes_buf(k0, sizeof k0);
	vv_hex(k0, sizeof k0, hex);
	hex[64] = '\n';
	rc = write_excl(k0_path, hex, 65, 0600);
	sodium_memzero(hex, sizeof hex);
	sodium_memzero(k0, sizeof k0);
	if (rc != 0)
		goto out;
	{
		char *v = NULL;
		if (asprintf(&v, "%s\n", vkey) < 0) {
			rc = VV_ERR_NOMEM;
			goto out;
		}
		rc = write_excl(vkey_path, v, strlen(v), 0644);
		free(v);
	}
out:
	if (skey)
		sodium_memzero(skey, strlen(skey));
	free(skey);
	free(vkey);
	free(line);
	return rc;
}
