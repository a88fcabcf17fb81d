/* The audit log's key material (signing key, its verifier key, and k0, the
 * first key of the MAC chain), for varvault-admin init and audit keygen. */
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

int vv_cli_audit_keys_make(const char *name, const char *skey_path, const char *vkey_path, const char *k0_path,
			   mode_t vkey_mode, char **vkey_out)
{
	char *skey = NULL, *vkey = NULL, *line = NULL, *hex = NULL, *pub = NULL;
	uint8_t *k0 = NULL;
	size_t n = 0;
	int rc;

	if (vkey_out)
		*vkey_out = NULL;
	/* All three or none: a log whose k0 is lost cannot have its MACs checked. */
	if (access(skey_path, F_OK) == 0 || access(vkey_path, F_OK) == 0 || access(k0_path, F_OK) == 0)
		return vv_errf(VV_ERR_EXISTS, "%s: audit keys exist already; refusing to overwrite them", skey_path);
	if ((rc = vv_audit_note_keygen(name, &skey, &vkey)) != 0)
		return rc;
	n = strlen(skey);
	/* The signing key and k0 only ever in secret memory. */
	k0 = sodium_malloc(32);
	hex = sodium_malloc(65);
	line = sodium_malloc(n + 1);
	if (!k0 || !hex || !line || asprintf(&pub, "%s\n", vkey) < 0) {
		pub = NULL;
		rc = VV_ERR_NOMEM;
		goto out;
	}
	memcpy(line, skey, n);
	line[n] = '\n';
	randombytes_buf(k0, 32);
	vv_hex(k0, 32, hex);
	hex[64] = '\n';
	if ((rc = write_excl(skey_path, line, n + 1, 0600)) != 0 || (rc = write_excl(k0_path, hex, 65, 0600)) != 0)
		goto out;
	if ((rc = write_excl(vkey_path, pub, strlen(pub), vkey_mode)) == 0 && vkey_out) {
		*vkey_out = vkey;
		vkey = NULL;
	}
out:
	if (skey)
		sodium_memzero(skey, n);
	free(skey);
	free(vkey);
	free(pub);
	sodium_free(line);
	sodium_free(hex);
	sodium_free(k0);
	return rc;
}
