/* Every varvault client is a witness of the appliance's audit log: it keeps
 * the last checkpoint it saw and, on each connection, checks that the log
 * it talks to now extends it (RFC 9162 consistency proof). */
#include "cli.h"
#include "client.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "varvault/audit.h"

/* Largest witness file: a key line and a checkpoint note. */
#define HELD_MAX 4096
#define HEAD "varvault witness 1\n"

/* The folder and file for this appliance: the socket and the CA this
 * client trusts name it (two appliances never share a file). */
static int held_path(const struct client *c, char *dir, size_t dn, char *file, size_t fn)
{
	const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	uint8_t h[32], buf[8192];
	char hex[65];
	vv_sha256 *s = vv_sha256_new();
	ssize_t n;
	int fd;

	if (!s)
		return VV_ERR_NOMEM;
	if (xdg && xdg[0] == '/')
		snprintf(dir, dn, "%s/varvault", xdg);
	else if (home && *home)
		snprintf(dir, dn, "%s/.local/state/varvault", home);
	else {
		vv_sha256_free(s);
		return vv_errf(VV_ERR_NOTFOUND, "neither XDG_STATE_HOME nor HOME is set");
	}
	vv_sha256_update(s, c->socket, strlen(c->socket) + 1);
	if ((fd = open(c->ca, O_RDONLY | O_CLOEXEC)) >= 0) {
		while ((n = read(fd, buf, sizeof buf)) > 0)
			vv_sha256_update(s, buf, (size_t)n);
		close(fd);
	}
	vv_sha256_final(s, h); /* frees s */
	vv_hex(h, 8, hex);
	if (snprintf(file, fn, "%s/%s.checkpoint", dir, hex) >= (int)fn)
		return vv_errf(VV_ERR_RANGE, "state path too long");
	return 0;
}

/* mkdir -p with mode 0700 for what it makes. */
static int make_dirs(char *dir)
{
	for (char *p = dir + 1;; p++) {
		if (*p == '/' || !*p) {
			char c = *p;
			*p = '\0';
			if (mkdir(dir, 0700) != 0 && errno != EEXIST)
				return vv_errf(VV_ERR_IO, "%s: %s", dir, strerror(errno));
			*p = c;
			if (!c)
				return 0;
		}
	}
}

/* Reads the held key and note: 1 found, 0 none, < 0 error. */
static int held_read(const char *file, char **key, char **note)
{
	char buf[HELD_MAX + 1], *nl;
	ssize_t n;
	int fd = open(file, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return errno == ENOENT ? 0 : vv_errf(VV_ERR_IO, "%s: %s", file, strerror(errno));
	n = read(fd, buf, HELD_MAX);
	close(fd);
	if (n < 0)
		return vv_errf(VV_ERR_IO, "%s: read failed", file);
	buf[n] = '\0';
	if (strncmp(buf, HEAD "key ", strlen(HEAD "key ")) != 0 || !(nl = strchr(buf + strlen(HEAD), '\n')))
		return vv_errf(VV_ERR_FORMAT, "%s: not a witness file", file);
	*nl = '\0';
	*key = strdup(buf + strlen(HEAD "key "));
	*note = strdup(nl + 1);
	return *key && *note ? 1 : VV_ERR_NOMEM;
}

/* Replaces the held checkpoint: a temporary file, fsync, rename. */
static int held_write(char *dir, const char *file, const char *key, const char *note)
{
	char tmp[4300];
	FILE *f;
	int fd, rc;

	if ((rc = make_dirs(dir)) != 0)
		return rc;
	if (snprintf(tmp, sizeof tmp, "%s.%ld.tmp", file, (long)getpid()) >= (int)sizeof tmp)
		return vv_errf(VV_ERR_RANGE, "state path too long");
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0 || !(f = fdopen(fd, "w"))) {
		if (fd >= 0)
			close(fd);
		return vv_errf(VV_ERR_IO, "%s: %s", tmp, strerror(errno));
	}
	fprintf(f, HEAD "key %s\n%s", key, note);
	if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
		fclose(f);
		(void)unlink(tmp);
		return vv_errf(VV_ERR_IO, "%s: write failed", tmp);
	}
	fclose(f);
	if (rename(tmp, file) != 0) {
		(void)unlink(tmp);
		return vv_errf(VV_ERR_IO, "%s: %s", file, strerror(errno));
	}
	return 0;
}

/* 64 hex digits into 32 bytes. */
static bool unhex(const char *s, uint8_t *out)
{
	if (!s || strlen(s) != 64)
		return false;
	for (size_t i = 0; i < 32; i++) {
		unsigned v;
		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return false;
		out[i] = (uint8_t)v;
	}
	return true;
}

int vv_client_witness(struct client *c)
{
	char dir[4096], file[4200], *hkey = NULL, *hnote = NULL, horigin[VV_AUDIT_ORIGIN_MAX + 1],
		origin[VV_AUDIT_ORIGIN_MAX + 1];
	uint8_t hroot[32], root[32], *proof = NULL;
	uint64_t hsize = 0, size = 0;
	json_object *p = NULL, *pa = NULL, *v;
	const char *note, *key;
	vv_net_response r;
	bool have_r = false, held = false;
	size_t np = 0;
	int rc;

	if ((rc = held_path(c, dir, sizeof dir, file, sizeof file)) != 0)
		return vv_client_fail(c, VV_EXIT_FAIL, "audit witness: %s", vv_err_detail());
	if ((rc = held_read(file, &hkey, &hnote)) < 0) {
		rc = vv_client_fail(c, EXIT_WITNESS, "audit witness: %s", vv_err_detail());
		goto out;
	}
	held = rc == 1;
	if (held && vv_audit_checkpoint_parse(hnote, horigin, &hsize, hroot) != 0) {
		rc = vv_client_fail(c, EXIT_WITNESS, "audit witness: %s: the held checkpoint does not parse", file);
		goto out;
	}
	p = json_object_new_object();
	if (held)
		json_object_object_add(p, "from", json_object_new_int64((int64_t)hsize));
	if ((rc = vv_client_call(c, VV_VERB_AUDIT_CHECKPOINT, p, &r)) != 0)
		goto out;
	have_r = true;
	if (!r.ok) {
		/* A policy that keeps the verb from this role: the check cannot
		 * run, and the user should know. */
		if (!strcmp(r.code, "denied")) {
			fprintf(stderr, "%s: warning: the appliance does not show this identity its audit checkpoint; "
					"the audit log was not witnessed\n", c->cmd);
			rc = 0;
		} else {
			rc = vv_client_report(c, &r);
		}
		goto out;
	}
	if (!json_object_object_get_ex(r.json, "checkpoint", &v) || !(note = json_object_get_string(v)) ||
	    !json_object_object_get_ex(r.json, "key", &v) || !(key = json_object_get_string(v))) {
		rc = vv_client_fail(c, EXIT_WITNESS, "audit witness: the appliance sent no checkpoint");
		goto out;
	}
	if (held && strcmp(key, hkey) != 0) {
		rc = vv_client_fail(c, EXIT_WITNESS,
				    "AUDIT LOG RE-KEYED: the appliance signs its audit checkpoints with another key "
				    "than the one this client pinned (%s); the log may have been replaced", file);
		goto out;
	}
	if (vv_audit_note_verify(key, note, NULL) != 0 || vv_audit_checkpoint_parse(note, origin, &size, root) != 0) {
		rc = vv_client_fail(c, EXIT_WITNESS, "AUDIT CHECKPOINT FORGED: its signature does not verify: %s",
				    vv_err_detail());
		goto out;
	}
	if (held && strcmp(origin, horigin) != 0) {
		rc = vv_client_fail(c, EXIT_WITNESS, "AUDIT LOG REPLACED: origin '%s', but this client holds '%s'",
				    origin, horigin);
		goto out;
	}
	if (held && size < hsize) {
		rc = vv_client_fail(c, EXIT_WITNESS,
				    "AUDIT LOG ROLLED BACK: the appliance's log has %llu records, but this client saw a "
				    "signed checkpoint of %llu (%s): a database restored from an older backup, or records "
				    "dropped",
				    (unsigned long long)size, (unsigned long long)hsize, file);
		goto out;
	}
	if (held && size == hsize && memcmp(root, hroot, 32) != 0) {
		rc = vv_client_fail(c, EXIT_WITNESS,
				    "AUDIT LOG FORKED: the checkpoint of %llu records has another root hash than the one "
				    "this client holds (%s): the log was rewritten",
				    (unsigned long long)size, file);
		goto out;
	}
	if (held && size > hsize) {
		size_t n;
		if (!json_object_object_get_ex(r.json, "proof", &pa) || !json_object_is_type(pa, json_type_array) ||
		    (n = json_object_array_length(pa)) > 128 || !(proof = malloc(32 * (n ? n : 1)))) {
			rc = vv_client_fail(c, EXIT_WITNESS, "audit witness: no consistency proof in the answer");
			goto out;
		}
		for (np = 0; np < n; np++)
			if (!unhex(json_object_get_string(json_object_array_get_idx(pa, np)), proof + 32 * np)) {
				rc = vv_client_fail(c, EXIT_WITNESS, "audit witness: a malformed proof hash");
				goto out;
			}
		if (vv_audit_merkle_verify_consistency(hsize, size, hroot, root, proof, np) != 0) {
			rc = vv_client_fail(c, EXIT_WITNESS,
					    "AUDIT LOG FORKED: the log of %llu records does not extend the checkpoint of "
					    "%llu records this client holds (%s): records were changed, removed or "
					    "reordered",
					    (unsigned long long)size, (unsigned long long)hsize, file);
			goto out;
		}
	}
	if ((!held || size > hsize) && (rc = held_write(dir, file, key, note)) != 0) {
		rc = vv_client_fail(c, VV_EXIT_FAIL, "audit witness: %s", vv_err_detail());
		goto out;
	}
	if (!(c->audit_note = strdup(note)) || !(c->audit_key = strdup(key))) {
		rc = vv_client_fail(c, VV_EXIT_FAIL, "out of memory");
		goto out;
	}
	rc = 0;
out:
	if (have_r)
		vv_net_response_done(&r);
	json_object_put(p);
	free(proof);
	free(hkey);
	free(hnote);
	return rc;
}
