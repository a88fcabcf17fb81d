/* varvaultd.conf: the daemon's settings, and the manifest check of an
 * imported model (shared by varvaultd and varvault-admin). */
#include "config.h"

#include "varvault/net.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *vv_dconf_join(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *p = malloc(la + lb + 2);

	if (!p)
		return NULL;
	memcpy(p, a, la);
	p[la] = '/';
	memcpy(p + la + 1, b, lb + 1);
	return p;
}

/* Copies section/key into *out, or def (joined under base when base is not
 * NULL) when absent.  A present value is taken as written. */
static int conf_str(const vv_conf *cf, const char *sec, const char *key, const char *base,
		    const char *def, char **out)
{
	const char *v = vv_conf_get(cf, sec, key);

	if (v && *v)
		*out = strdup(v);
	else if (!def)
		return 0;
	else
		*out = base ? vv_dconf_join(base, def) : strdup(def);
	return *out ? 0 : vv_errf(VV_ERR_NOMEM, "configuration");
}

static int conf_required(const vv_conf *cf, const char *sec, const char *key, char **out)
{
	const char *v = vv_conf_get(cf, sec, key);

	if (!v || !*v)
		return vv_errf(VV_ERR_FORMAT, "%s: [%s] %s is required", vv_conf_name(cf), sec, key);
	return (*out = strdup(v)) ? 0 : vv_errf(VV_ERR_NOMEM, "configuration");
}

/* An unsigned count (with an optional K/M/G suffix when allow_suffix) in
 * [lo, hi]. */
static int conf_uint(const vv_conf *cf, const char *sec, const char *key, uint64_t lo, uint64_t hi,
		     bool allow_suffix, uint64_t *out)
{
	const char *v = vv_conf_get(cf, sec, key);
	unsigned long long n;
	char *end;

	if (!v || !*v)
		return 0;
	if (*v < '0' || *v > '9')
		goto out;
	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno)
		goto out;
	if (allow_suffix && *end) {
		unsigned shift = *end == 'K' ? 10 : *end == 'M' ? 20 : *end == 'G' ? 30 : 0;
		if (!shift || end[1] || n > (UINT64_MAX >> shift))
			goto out;
		n <<= shift;
		end++;
	}
	if (*end || n < lo || n > hi)
		goto out;
	*out = n;
	return 0;
out:
	return vv_errf(VV_ERR_FORMAT, "%s:%d: [%s] %s: expected a number from %llu to %llu%s",
		       vv_conf_name(cf), vv_conf_line(cf, sec, key), sec, key, (unsigned long long)lo,
		       (unsigned long long)hi, allow_suffix ? " (K, M or G suffix allowed)" : "");
}

void vv_dconf_default_origin(char *buf, size_t n)
{
	char host[256] = "localhost";

	(void)gethostname(host, sizeof host - 1);
	host[sizeof host - 1] = '\0';
	/* A signed-note origin: printable ASCII, no '+' or spaces. */
	for (char *h = host; *h; h++)
		if (*h <= ' ' || *h > '~' || *h == '+')
			*h = '-';
	snprintf(buf, n, "varvault/%.200s/audit", host);
}

int vv_dconf_load(const char *path, struct vv_dconf *c)
{
	static const char *const known[] = {
		"daemon.state_dir", "daemon.socket", "daemon.workers", "daemon.job_time_limit",
		"daemon.max_connections", "daemon.request_timeout", "daemon.handshake_timeout",
		"daemon.max_upload", "daemon.chunk", "daemon.user", "daemon.stop_grace",
		"daemon.worker_cpu_seconds", "daemon.worker_memory_max", "daemon.max_records", "daemon.max_text_bytes",
		"keys.c4gh", "keys.master", "tls.cert", "tls.key", "tls.ca_dir",
		"tls.ca", "tls.crl", "access.policy", "model.name", "model.reference",
		"model.evidence", "model.threads", "audit.signing_key", "audit.public_key", "audit.k0",
		"audit.origin", "audit.checkpoint_records", "audit.checkpoint_seconds", "model.scores", NULL,
	};
	vv_conf *cf = NULL;
	uint64_t u;
	char *mdir = NULL;
	int rc;

	memset(c, 0, sizeof *c);
	c->workers = 2;
	c->job_time_limit = 86400;
	c->max_connections = 32;
	c->request_timeout_ms = 30000;
	c->handshake_timeout_ms = 10000;
	c->max_upload = (uint64_t)4 << 30;
	c->worker_cpu_seconds = 86400;
	c->worker_memory_max = (uint64_t)32 << 30;
	c->stop_grace = 30;
	c->max_records = 100000000;
	c->max_text_bytes = (uint64_t)64 << 30;
	if ((rc = vv_conf_load(path, &cf)) != 0)
		return vv_err_prefix(rc, "%s: ", path);
	if ((rc = vv_conf_check_known(cf, known)) != 0)
		goto out;
	if (!(c->path = strdup(path))) {
		rc = vv_errf(VV_ERR_NOMEM, "configuration");
		goto out;
	}
	if ((rc = conf_required(cf, "daemon", "state_dir", &c->state_dir)) != 0 ||
	    (rc = conf_required(cf, "daemon", "socket", &c->socket)) != 0 ||
	    (rc = conf_required(cf, "access", "policy", &c->access)) != 0 ||
	    (rc = conf_required(cf, "model", "name", &c->model_name)) != 0 ||
	    (rc = conf_required(cf, "model", "reference", &c->reference)) != 0 ||
	    (rc = conf_required(cf, "model", "evidence", &c->evidence)) != 0)
		goto out;
	if ((rc = conf_str(cf, "daemon", "user", NULL, "varvault", &c->user)) != 0 ||
	    (rc = conf_str(cf, "keys", "c4gh", c->state_dir, VV_DCONF_C4GH_KEY, &c->c4gh_key)) != 0 ||
	    (rc = conf_str(cf, "keys", "master", c->state_dir, VV_DCONF_MASTER_KEY, &c->master_key)) != 0 ||
	    (rc = conf_str(cf, "tls", "cert", c->state_dir, VV_DCONF_SERVER_CRT, &c->tls_cert)) != 0 ||
	    (rc = conf_str(cf, "tls", "key", c->state_dir, VV_DCONF_SERVER_KEY, &c->tls_key)) != 0)
		goto out;
	/* ca_dir = "" (set, empty) means a lab CA: nothing signs here. */
	if (vv_conf_get(cf, "tls", "ca_dir") && !*vv_conf_get(cf, "tls", "ca_dir")) {
		c->ca_dir = NULL;
	} else if ((rc = conf_str(cf, "tls", "ca_dir", c->state_dir, VV_DCONF_CA_DIR, &c->ca_dir)) != 0) {
		goto out;
	}
	if (c->ca_dir) {
		if ((rc = conf_str(cf, "tls", "ca", c->ca_dir, "ca.crt", &c->tls_ca)) != 0 ||
		    (rc = conf_str(cf, "tls", "crl", c->ca_dir, "crl.pem", &c->tls_crl)) != 0)
			goto out;
	} else {
		if ((rc = conf_required(cf, "tls", "ca", &c->tls_ca)) != 0 ||
		    (rc = conf_str(cf, "tls", "crl", NULL, NULL, &c->tls_crl)) != 0)
			goto out;
	}
	if (!vv_net_name_valid(c->model_name)) {
		rc = vv_errf(VV_ERR_FORMAT, "%s:%d: [model] name: letters, digits, '.', '_' and '-' only",
			     path, vv_conf_line(cf, "model", "name"));
		goto out;
	}
	if (!(mdir = vv_dconf_join(c->state_dir, VV_DCONF_MODELS)) ||
	    !(c->model_dir = vv_dconf_join(mdir, c->model_name))) {
		rc = vv_errf(VV_ERR_NOMEM, "configuration");
		goto out;
	}
#define UINT_FIELD(key, lo, hi, suffix, dst, scale)                                        \
	do {                                                                               \
		u = 0;                                                                     \
		if ((rc = conf_uint(cf, "daemon", key, lo, hi, suffix, &u)) != 0)          \
			goto out;                                                          \
		if (vv_conf_get(cf, "daemon", key))                                        \
			dst = (__typeof__(dst))(u * (scale));                              \
	} while (0)
	UINT_FIELD("workers", 1, 256, false, c->workers, 1);
	UINT_FIELD("job_time_limit", 1, 30u * 86400, false, c->job_time_limit, 1);
	UINT_FIELD("max_connections", 1, 4096, false, c->max_connections, 1);
	UINT_FIELD("request_timeout", 1, 3600, false, c->request_timeout_ms, 1000);
	UINT_FIELD("handshake_timeout", 1, 600, false, c->handshake_timeout_ms, 1000);
	UINT_FIELD("max_upload", 1, UINT64_MAX, true, c->max_upload, 1);
	UINT_FIELD("chunk", 1, 1u << 20, false, c->chunk_variants, 1);
	UINT_FIELD("worker_cpu_seconds", 0, 365u * 86400, false, c->worker_cpu_seconds, 1);
	UINT_FIELD("worker_memory_max", 0, UINT64_MAX, true, c->worker_memory_max, 1);
	UINT_FIELD("stop_grace", 0, 3600, false, c->stop_grace, 1);
	UINT_FIELD("max_records", 1, UINT64_MAX, true, c->max_records, 1);
	UINT_FIELD("max_text_bytes", 1, UINT64_MAX, true, c->max_text_bytes, 1);
#undef UINT_FIELD
	if ((rc = conf_str(cf, "model", "scores", NULL, NULL, &c->scores)) != 0)
		goto out;
	u = 0;
	if ((rc = conf_uint(cf, "model", "threads", 0, 256, false, &u)) != 0)
		goto out;
	c->threads = (unsigned)u;
	if ((rc = conf_str(cf, "audit", "signing_key", c->state_dir, VV_DCONF_AUDIT_KEY, &c->audit_key)) != 0 ||
	    (rc = conf_str(cf, "audit", "public_key", c->state_dir, VV_DCONF_AUDIT_PUB, &c->audit_pub)) != 0 ||
	    (rc = conf_str(cf, "audit", "k0", c->state_dir, VV_DCONF_AUDIT_K0, &c->audit_k0)) != 0)
		goto out;
	{
		char def[300];
		vv_dconf_default_origin(def, sizeof def);
		if ((rc = conf_str(cf, "audit", "origin", NULL, def, &c->audit_origin)) != 0)
			goto out;
	}
	c->audit_every = 1000;
	c->audit_seconds = 60;
	u = 0;
	if ((rc = conf_uint(cf, "audit", "checkpoint_records", 1, 1000000, false, &u)) != 0)
		goto out;
	if (u)
		c->audit_every = (unsigned)u;
	u = 0;
	if ((rc = conf_uint(cf, "audit", "checkpoint_seconds", 1, 86400, false, &u)) != 0)
		goto out;
	if (u)
		c->audit_seconds = (unsigned)u;
out:
	free(mdir);
	vv_conf_free(cf);
	if (rc)
		vv_dconf_done(c);
	return rc;
}

void vv_dconf_done(struct vv_dconf *c)
{
	char **s[] = {&c->path, &c->state_dir, &c->socket, &c->user, &c->c4gh_key, &c->master_key, &c->tls_cert,
		      &c->tls_key, &c->ca_dir, &c->tls_ca, &c->tls_crl, &c->access, &c->model_name,
		      &c->model_dir, &c->reference, &c->evidence, &c->audit_key, &c->audit_pub, &c->audit_k0,
		      &c->audit_origin, &c->scores};

	for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
		free(*s[i]);
		*s[i] = NULL;
	}
}

int vv_dconf_sha256_file(const char *path, char hex[65])
{
	uint8_t buf[1 << 16], d[32];
	vv_sha256 *h = NULL;
	ssize_t n;
	int fd, rc = 0;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return vv_errf(errno == ENOENT ? VV_ERR_NOTFOUND : VV_ERR_IO, "%s: %s", path, strerror(errno));
	if (!(h = vv_sha256_new())) {
		rc = vv_errf(VV_ERR_NOMEM, "%s", path);
		goto out;
	}
	while ((n = read(fd, buf, sizeof buf)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = vv_errf(VV_ERR_IO, "%s: %s", path, strerror(errno));
			goto out;
		}
		vv_sha256_update(h, buf, (size_t)n);
	}
	vv_sha256_final(h, d);
	h = NULL;
	vv_hex(d, sizeof d, hex);
out:
	vv_sha256_free(h);
	close(fd);
	return rc;
}

int vv_dconf_model_verify(const char *model_dir)
{
	static const char *const needed[] = {"config.json", "model.safetensors", "vocab.txt"};
	char *mpath = NULL, *text = NULL, *save = NULL, *fpath = NULL;
	bool seen[3] = {false, false, false};
	size_t len;
	int rc, lineno = 0;

	if (!(mpath = vv_dconf_join(model_dir, VV_DCONF_MODEL_MANIFEST)))
		return vv_errf(VV_ERR_NOMEM, "model manifest");
	if ((rc = vv_read_file(mpath, 1 << 16, &text, &len)) != 0) {
		if (errno == ENOENT)
			rc = vv_errf(VV_ERR_NOTFOUND, "%s: no manifest: import the model with "
				     "varvault-admin model import", mpath);
		goto out;
	}
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char hex[65], *name;

		lineno++;
		if (strlen(line) < 67 || line[64] != ' ' || line[65] != ' ' ||
		    strspn(line, "0123456789abcdef") != 64 || strchr(line + 66, '/') ||
		    line[66] == '.' || line[66] == '\0') {
			rc = vv_errf(VV_ERR_FORMAT, "%s:%d: expected '<sha256>  <file>'", mpath, lineno);
			goto out;
		}
		name = line + 66;
		free(fpath);
		if (!(fpath = vv_dconf_join(model_dir, name))) {
			rc = vv_errf(VV_ERR_NOMEM, "model manifest");
			goto out;
		}
		if ((rc = vv_dconf_sha256_file(fpath, hex)) != 0)
			goto out;
		if (memcmp(hex, line, 64) != 0) {
			rc = vv_errf(VV_ERR_AUTH, "%s: SHA-256 differs from the one recorded at import (%s)",
				     fpath, mpath);
			goto out;
		}
		for (size_t i = 0; i < 3; i++)
			if (!strcmp(name, needed[i]))
				seen[i] = true;
	}
	for (size_t i = 0; i < 3; i++)
		if (!seen[i]) {
			rc = vv_errf(VV_ERR_FORMAT, "%s: %s is not listed", mpath, needed[i]);
			goto out;
		}
out:
	free(fpath);
	free(text);
	free(mpath);
	return rc;
}
