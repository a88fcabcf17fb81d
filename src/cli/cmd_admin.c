/* varvault-admin init, client issue|revoke|list and model import: the
 * appliance's keys, identities and models. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <json-c/json.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../daemon/config.h"
#include "varvault/c4gh.h"
#include "varvault/model.h"
#include "varvault/net.h"

/* ------------------------------------------------------------- file helpers */

/* Writes a new file (never replacing one: VV_ERR_EXISTS), fsync'd. */
static int write_new(const char *path, const void *p, size_t n, mode_t mode)
{
	int fd, rc;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return vv_errf(errno == EEXIST ? VV_ERR_EXISTS : VV_ERR_IO, "%s: %s", path,
			       errno == EEXIST ? "exists; refusing to overwrite it" : strerror(errno));
	if ((rc = vv_write_all(fd, p, n)) != 0 || fsync(fd) != 0) {
		rc = vv_errf(VV_ERR_IO, "%s: %s", path, strerror(errno));
		close(fd);
		(void)unlink(path);
		return rc;
	}
	if (close(fd) != 0) {
		(void)unlink(path);
		return vv_errf(VV_ERR_IO, "%s: %s", path, strerror(errno));
	}
	return 0;
}

static int fsync_dir_of(const char *path)
{
	char *copy = strdup(path);
	int fd, rc = 0;

	if (!copy)
		return vv_errf(VV_ERR_NOMEM, "%s", path);
	if ((fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 || fsync(fd) != 0)
		rc = vv_errf(VV_ERR_IO, "%s: folder: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	free(copy);
	return rc;
}

/* Replaces path with new contents: temporary file, fsync, rename. */
static int replace_file(const char *path, const void *p, size_t n, mode_t mode)
{
	char tmp[PATH_MAX];
	int rc;

	if (snprintf(tmp, sizeof tmp, "%s.new-%ld", path, (long)getpid()) >= (int)sizeof tmp)
		return vv_errf(VV_ERR_RANGE, "%s: path too long", path);
	(void)unlink(tmp);
	if ((rc = write_new(tmp, p, n, mode)) != 0)
		return rc;
	if (rename(tmp, path) != 0) {
		rc = vv_errf(VV_ERR_IO, "%s: %s", path, strerror(errno));
		(void)unlink(tmp);
		return rc;
	}
	return fsync_dir_of(path);
}

/* Makes a folder with mode; an existing folder is fine when may_exist. */
static int make_dir(const char *path, mode_t mode, bool may_exist)
{
	struct stat st;

	if (mkdir(path, mode) == 0)
		return 0;
	if (errno == EEXIST && may_exist && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return 0;
	return vv_errf(errno == EEXIST ? VV_ERR_EXISTS : VV_ERR_IO, "%s: %s", path,
		       errno == EEXIST ? "exists" : strerror(errno));
}

/* Copies src to a new file dst (0600) and records its SHA-256 in hex. */
static int copy_file(const char *src, const char *dst, char hex[65])
{
	uint8_t buf[1 << 16], d[32];
	vv_sha256 *h = NULL;
	int in = -1, out = -1, rc = 0;
	ssize_t n;

	if ((in = open(src, O_RDONLY | O_CLOEXEC)) < 0) {
		rc = vv_errf(errno == ENOENT ? VV_ERR_NOTFOUND : VV_ERR_IO, "%s: %s", src, strerror(errno));
		goto out;
	}
	if ((out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0) {
		rc = vv_errf(VV_ERR_IO, "%s: %s", dst, strerror(errno));
		goto out;
	}
	if (!(h = vv_sha256_new())) {
		rc = vv_errf(VV_ERR_NOMEM, "%s", src);
		goto out;
	}
	while ((n = read(in, buf, sizeof buf)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = vv_errf(VV_ERR_IO, "%s: %s", src, strerror(errno));
			goto out;
		}
		vv_sha256_update(h, buf, (size_t)n);
		if ((rc = vv_write_all(out, buf, (size_t)n)) != 0) {
			rc = vv_errf(VV_ERR_IO, "%s: %s", dst, strerror(errno));
			goto out;
		}
	}
	if (fsync(out) != 0) {
		rc = vv_errf(VV_ERR_IO, "%s: %s", dst, strerror(errno));
		goto out;
	}
	vv_sha256_final(h, d);
	h = NULL;
	vv_hex(d, sizeof d, hex);
out:
	vv_sha256_free(h);
	if (in >= 0)
		close(in);
	if (out >= 0 && close(out) != 0 && rc == 0)
		rc = vv_errf(VV_ERR_IO, "%s: %s", dst, strerror(errno));
	return rc;
}

/* The first readable path of a NULL-terminated list, or NULL. */
static const char *first_readable(const char *const *paths)
{
	for (; *paths; paths++)
		if (access(*paths, R_OK) == 0)
			return *paths;
	return NULL;
}

/* realpath, with an error naming the path. */
static int abs_path(const char *p, char out[PATH_MAX])
{
	if (!realpath(p, out))
		return vv_errf(errno == ENOENT ? VV_ERR_NOTFOUND : VV_ERR_IO, "%s: %s", p, strerror(errno));
	return 0;
}

/* ------------------------------------------------------------- model import */

static const char *const model_files[] = {"config.json", "model.safetensors", "vocab.txt"};

/* Copies the model in src into state_dir/models/name: the three files into
 * a hidden folder, checked by loading it, the manifest written, then the
 * folder renamed into place.  F16/BF16 weights are written as F32 (the
 * workers map F32 in place; others would be converted at every load), and
 * the copy must pass the model self-test. */
static int model_import(const char *state_dir, const char *src, const char *name)
{
	char *models = NULL, *dest = NULL, *tmp = NULL, *path = NULL, *msrc = NULL;
	char hex[3][65], manifest[3 * 160];
	vv_model *m = NULL;
	size_t mlen = 0;
	int rc;

	if (!vv_net_name_valid(name))
		return vv_errf(VV_ERR_INVAL, "model name '%s': use letters, digits, '.', '_' and '-'", name);
	if (!(models = vv_dconf_join(state_dir, VV_DCONF_MODELS)) || !(dest = vv_dconf_join(models, name)) ||
	    asprintf(&tmp, "%s/.import-%s-%ld", models, name, (long)getpid()) < 0) {
		tmp = NULL;
		rc = vv_errf(VV_ERR_NOMEM, "model import");
		goto out;
	}
	if ((rc = make_dir(models, 0700, true)) != 0)
		goto out;
	if (access(dest, F_OK) == 0) {
		rc = vv_errf(VV_ERR_EXISTS, "%s: a model of that name is already imported", dest);
		goto out;
	}
	if ((rc = make_dir(tmp, 0700, false)) != 0)
		goto out;
	for (size_t i = 0; i < 3; i++) {
		free(path);
		free(msrc);
		path = vv_dconf_join(tmp, model_files[i]);
		msrc = vv_dconf_join(src, model_files[i]);
		if (!path || !msrc) {
			rc = vv_errf(VV_ERR_NOMEM, "model import");
			goto out;
		}
		/* The weights are written as F32, which the workers map in
		 * place; the other files are copied as they are. */
		rc = strcmp(model_files[i], "model.safetensors") == 0 ? vv_model_write_f32(msrc, path, hex[i])
								    : copy_file(msrc, path, hex[i]);
		if (rc != 0)
			goto out;
		mlen += (size_t)snprintf(manifest + mlen, sizeof manifest - mlen, "%s  %s\n", hex[i],
					 model_files[i]);
	}
	if ((rc = vv_model_load(tmp, &m)) != 0) {
		(void)vv_err_prefix(rc, "%s", src);
		goto out;
	}
	if (vv_model_get_info(m)->weights_owned_bytes > 0) {
		rc = vv_errf(VV_ERR_INTERNAL, "%s: the F32 copy of model.safetensors still needs converting at load",
			     src);
		goto out;
	}
	/* A model that loads may still compute garbage (NaN or infinite
	 * weights): the same self-test as `model check`, on the copy. */
	if ((rc = vv_model_selftest(m, NULL)) != 0) {
		/* Non-finite outputs are the weights' fault, not varvault's. */
		if (rc == VV_ERR_INTERNAL)
			rc = VV_ERR_MODEL_FORMAT;
		(void)vv_err_prefix(rc, "%s: refused", src);
		goto out;
	}
	free(path);
	if (!(path = vv_dconf_join(tmp, VV_DCONF_MODEL_MANIFEST))) {
		rc = vv_errf(VV_ERR_NOMEM, "model import");
		goto out;
	}
	if ((rc = write_new(path, manifest, mlen, 0600)) != 0 || (rc = fsync_dir_of(path)) != 0)
		goto out;
	if (rename(tmp, dest) != 0) {
		rc = vv_errf(VV_ERR_IO, "%s: %s", dest, strerror(errno));
		goto out;
	}
	rc = fsync_dir_of(dest);
	if (rc == 0)
		printf("imported model %s (model.safetensors SHA-256 %s)\n", name, hex[1]);
out:
	vv_model_free(m);
	if (rc != 0 && tmp) {
		/* Leave no half import behind. */
		for (size_t i = 0; i < 3; i++) {
			char *p = vv_dconf_join(tmp, model_files[i]);
			if (p)
				(void)unlink(p);
			free(p);
		}
		char *p = vv_dconf_join(tmp, VV_DCONF_MODEL_MANIFEST);
		if (p)
			(void)unlink(p);
		free(p);
		(void)rmdir(tmp);
	}
	free(msrc);
	free(path);
	free(tmp);
	free(dest);
	free(models);
	return rc;
}

/* The model name of a source folder: its last component. */
static int model_name_of(const char *src, char *name, size_t n)
{
	char real[PATH_MAX];
	const char *b;
	int rc;

	if ((rc = abs_path(src, real)) != 0)
		return rc;
	b = strrchr(real, '/');
	b = b ? b + 1 : real;
	if (snprintf(name, n, "%s", b) >= (int)n || !vv_net_name_valid(name))
		return vv_errf(VV_ERR_INVAL, "%s: folder name not usable as a model name; give --name", src);
	return 0;
}

/* Sets [model] name = value in the configuration text at path. */
static int conf_set_model_name(const char *path, const char *name)
{
	char *text = NULL, *out = NULL, *line, *save = NULL;
	size_t len, olen = 0, cap;
	bool in_model = false, done = false;
	int rc;

	if ((rc = vv_read_file(path, 1 << 20, &text, &len)) != 0)
		return vv_err_prefix(rc, "%s: ", path);
	cap = len + strlen(name) + 64;
	if (!(out = malloc(cap))) {
		rc = vv_errf(VV_ERR_NOMEM, "%s", path);
		goto out;
	}
	/* strtok_r drops empty lines: keep them by splitting by hand. */
	(void)save;
	for (char *p = text; *p; p = line) {
		char *nl = strchr(p, '\n');
		size_t ll = nl ? (size_t)(nl - p) : strlen(p);
		const char *s = p;

		line = nl ? nl + 1 : p + ll;
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == '[')
			in_model = !strncmp(s, "[model]", 7);
		if (in_model && !done && !strncmp(s, "name", 4) && (s[4] == ' ' || s[4] == '=')) {
			olen += (size_t)snprintf(out + olen, cap - olen, "name = %s\n", name);
			done = true;
			continue;
		}
		memcpy(out + olen, p, ll);
		olen += ll;
		out[olen++] = '\n';
	}
	if (!done) {
		rc = vv_errf(VV_ERR_FORMAT, "%s: no [model] name line to change", path);
		goto out;
	}
	rc = replace_file(path, out, olen, 0644);
out:
	free(out);
	free(text);
	return rc;
}

static const char model_import_usage[] =
	"usage: varvault-admin model import SRC_DIR [--name NAME] [--default] [--config FILE]\n"
	"\n"
	"Copies the model in SRC_DIR (config.json, model.safetensors, vocab.txt) into the\n"
	"state directory as STATE_DIR/models/NAME (NAME: the folder's name), F16 and BF16\n"
	"weights converted to F32, checks that the copy loads and passes the self-test\n"
	"(a forward whose outputs are all finite), and records the SHA-256 of each file in\n"
	"SHA256SUMS; varvaultd serves only imported models and checks those hashes when it\n"
	"starts.  With --default, varvaultd.conf is changed to use it (restart varvaultd).\n"
	"\n"
	"Exit status: 0 imported, 1 failure, 2 usage error.\n";

static int cmd_model_import(int argc, char **argv)
{
	static const struct option longs[] = {
		{"name", required_argument, NULL, 'n'},
		{"default", no_argument, NULL, 'd'},
		{"config", required_argument, NULL, 'c'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *cmd = "varvault-admin model import", *cfg = VV_DCONF_DEFAULT, *name = NULL;
	struct vv_dconf dc;
	char namebuf[VV_NET_NAME_MAX + 1];
	bool make_default = false;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
		switch (c) {
		case 'n': name = optarg; break;
		case 'd': make_default = true; break;
		case 'c': cfg = optarg; break;
		case 'h': fputs(model_import_usage, stdout); return VV_EXIT_OK;
		default: return vv_cli_usage_error(cmd, "unknown option");
		}
	}
	if (optind != argc - 1)
		return vv_cli_usage_error(cmd, "one model folder expected");
	if (vv_core_init() != 0)
		return vv_cli_fail(VV_ERR_INTERNAL, "start-up");
	if (!name) {
		if ((rc = model_name_of(argv[optind], namebuf, sizeof namebuf)) != 0)
			return vv_cli_fail(rc, "model import");
		name = namebuf;
	}
	if ((rc = vv_dconf_load(cfg, &dc)) != 0)
		return vv_cli_fail(rc, "configuration");
	rc = model_import(dc.state_dir, argv[optind], name);
	if (rc == 0 && make_default && (rc = conf_set_model_name(cfg, name)) == 0)
		printf("%s now uses model %s: restart varvaultd\n", cfg, name);
	vv_dconf_done(&dc);
	return rc ? vv_cli_fail(rc, "model import") : VV_EXIT_OK;
}

int vv_cmd_admin_model(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "import")) {
		argv[1] = argv[0];
		return cmd_model_import(argc - 1, argv + 1);
	}
	return vv_cmd_model(argc, argv);
}

/* ---------------------------------------------------------------------- init */

/* The access policy that init installs when the config folder has none. */
static const char access_template[] =
	"# varvault access policy: who may call which verb of varvaultd.\n"
	"# varvault-admin client issue adds one [clients] entry per certificate\n"
	"# (its SHA-256 fingerprint); varvaultd reads this file again on SIGHUP.\n"
	"# Syntax: see the access.conf shipped in policy/ (and varvaultd.conf(5)).\n"
	"\n"
	"[roles]\n"
	"submitter = hello submit status list result cancel health audit.checkpoint\n"
	"auditor = hello audit.query audit.export audit.prove audit.checkpoint health\n"
	"admin = hello status list cancel delete health audit.checkpoint\n"
	"\n"
	"[clients]\n";

static const char init_usage[] =
	"usage: varvault-admin init --state-dir DIR --config-dir DIR [options]\n"
	"\n"
	"Creates an appliance: the state folder DIR (0700) with its keys (Crypt4GH\n"
	"X25519 key, master key, a local CA and the TLS server certificate), imports the\n"
	"model, and writes varvaultd.conf, access.conf (if absent) and appliance.pub, the\n"
	"public key that labs encrypt to, into the config folder.  Existing keys or an\n"
	"existing varvaultd.conf are never overwritten.\n"
	"\n"
	"options:\n"
	"  --socket PATH        Unix socket of varvaultd (default " VV_DCONF_DEFAULT_SOCKET ")\n"
	"  --model DIR          model to import (default: the bundled demo model)\n"
	"  --reference FASTA    reference FASTA (default: the bundled demo reference)\n"
	"  --evidence FILE      evidence policy (default /etc/varvault/evidence.conf,\n"
	"                       else policy/evidence.conf)\n"
	"  --workers N          jobs run at once (default 2)\n"
	"\n"
	"Exit status: 0 created, 1 failure (nothing is overwritten), 2 usage error.\n";

struct init_opts {
	const char *state, *confdir, *socket, *model, *reference, *evidence;
	unsigned workers;
};

/* Writes keys/c4gh.sec (unprotected: the state folder's 0700 protects it,
 * and the daemon starts unattended) and the public key to pub_path. */
static int init_c4gh(const char *keyp, const char *pub_path)
{
	vv_c4gh_seckey *k = NULL;
	uint8_t pk[VV_C4GH_KEY_LEN];
	char pubtext[VV_C4GH_PUBKEY_TEXT_MAX];
	vv_sbuf text;
	int rc;

	vv_sbuf_init(&text, 0);
	if ((rc = vv_c4gh_seckey_generate(&k)) != 0 ||
	    (rc = vv_c4gh_seckey_write(k, NULL, 0, "varvault appliance", &text)) != 0)
		goto out;
	if ((rc = write_new(keyp, text.data, text.len, 0600)) != 0)
		goto out;
	vv_c4gh_seckey_pubkey(k, pk);
	if ((rc = vv_c4gh_pubkey_format(pk, pubtext, sizeof pubtext)) != 0)
		goto out;
	rc = write_new(pub_path, pubtext, strlen(pubtext), 0644);
out:
	vv_sbuf_done(&text);
	vv_c4gh_seckey_free(k);
	return rc;
}

static int init_master(const char *path)
{
	uint8_t *key = vv_secret_alloc(VV_KEY_LEN);
	int rc;

	if (!key)
		return vv_errf(VV_ERR_NOMEM, "master key");
	vv_key_random(key);
	rc = write_new(path, key, VV_KEY_LEN, 0600);
	vv_secret_free(key);
	return rc;
}

static int init_run(const struct init_opts *o)
{
	char state[PATH_MAX], confdir[PATH_MAX], model[PATH_MAX], ref[PATH_MAX], ev[PATH_MAX];
	char sock[PATH_MAX], mname[VV_NET_NAME_MAX + 1];
	char *keys = NULL, *p = NULL, *conf_path = NULL, *pub = NULL, *acc = NULL, *ca = NULL, *text = NULL;
	char origin[300];
	static const char *const models[] = {"/usr/share/varvault/models/demo-dna-mlm", "models/demo-dna-mlm",
					     NULL};
	static const char *const refs[] = {"/usr/share/varvault/demo/reference.fa.gz", "demo/reference.fa.gz",
					   "demo/reference.fa.gz", NULL};
	static const char *const evs[] = {"/etc/varvault/evidence.conf", "policy/evidence.conf", NULL};
	const char *msrc = o->model ? o->model : first_readable(models);
	const char *rsrc = o->reference ? o->reference : first_readable(refs);
	const char *esrc = o->evidence ? o->evidence : first_readable(evs);
	bool made_keys = false;
	int rc;

	if (!msrc || !rsrc || !esrc)
		return vv_errf(VV_ERR_NOTFOUND, "no bundled %s found: give %s",
			       !msrc ? "model" : !rsrc ? "reference" : "evidence policy",
			       !msrc ? "--model" : !rsrc ? "--reference" : "--evidence");
	if ((rc = abs_path(msrc, model)) != 0 || (rc = abs_path(rsrc, ref)) != 0 ||
	    (rc = abs_path(esrc, ev)) != 0 || (rc = model_name_of(model, mname, sizeof mname)) != 0)
		return rc;
	if ((rc = make_dir(o->state, 0700, true)) != 0 || (rc = make_dir(o->confdir, 0755, true)) != 0 ||
	    (rc = abs_path(o->state, state)) != 0 || (rc = abs_path(o->confdir, confdir)) != 0)
		return rc;
	if (chmod(state, 0700) != 0)
		return vv_errf(VV_ERR_IO, "%s: %s", state, strerror(errno));
	if (o->socket && o->socket[0] != '/') {
		/* A relative socket path would change with the daemon's folder. */
		char cwd[PATH_MAX];
		if (!getcwd(cwd, sizeof cwd) ||
		    snprintf(sock, sizeof sock, "%s/%s", cwd, o->socket) >= (int)sizeof sock)
			return vv_errf(VV_ERR_RANGE, "--socket: path too long");
	} else {
		snprintf(sock, sizeof sock, "%s", o->socket ? o->socket : VV_DCONF_DEFAULT_SOCKET);
	}
	if (!(keys = vv_dconf_join(state, "keys")) || !(conf_path = vv_dconf_join(confdir, "varvaultd.conf")) ||
	    !(pub = vv_dconf_join(confdir, "appliance.pub")) || !(acc = vv_dconf_join(confdir, "access.conf")) ||
	    !(ca = vv_dconf_join(state, VV_DCONF_CA_DIR))) {
		rc = vv_errf(VV_ERR_NOMEM, "init");
		goto out;
	}
	/* Refuse before making anything when either side is there already. */
	if (access(conf_path, F_OK) == 0 || access(pub, F_OK) == 0) {
		rc = vv_errf(VV_ERR_EXISTS, "%s: an appliance configuration is already there; "
			     "refusing to overwrite it", confdir);
		goto out;
	}
	if (mkdir(keys, 0700) != 0) {
		rc = vv_errf(errno == EEXIST ? VV_ERR_EXISTS : VV_ERR_IO, "%s: %s", keys,
			     errno == EEXIST ? "keys exist already; refusing to overwrite them"
					     : strerror(errno));
		goto out;
	}
	made_keys = true;
#define KEYPATH(rel) (free(p), p = vv_dconf_join(state, rel))
	rc = VV_ERR_NOMEM; /* what a failed KEYPATH means */
	if (!KEYPATH(VV_DCONF_C4GH_KEY) || (rc = init_c4gh(p, pub)) != 0)
		goto out;
	rc = VV_ERR_NOMEM;
	if (!KEYPATH(VV_DCONF_MASTER_KEY) || (rc = init_master(p)) != 0)
		goto out;
	if ((rc = make_dir(ca, 0700, false)) != 0 || (rc = vv_net_ca_create(ca, NULL, 0)) != 0)
		goto out;
	{
		char *crt = vv_dconf_join(state, VV_DCONF_SERVER_CRT), *key = vv_dconf_join(state, VV_DCONF_SERVER_KEY);
		rc = crt && key ? vv_net_server_issue(ca, crt, key, 0) : vv_errf(VV_ERR_NOMEM, "init");
		free(crt);
		free(key);
		if (rc)
			goto out;
	}
#undef KEYPATH
	{
		/* The audit log's keys; the daemon starts the log with k0. */
		char *sk = vv_dconf_join(state, VV_DCONF_AUDIT_KEY), *vk = vv_dconf_join(state, VV_DCONF_AUDIT_PUB),
		     *k0 = vv_dconf_join(state, VV_DCONF_AUDIT_K0);
		rc = sk && vk && k0 ? vv_cli_audit_keys_make("varvault-audit", sk, vk, k0, 0644, NULL) : vv_errf(VV_ERR_NOMEM, "init");
		free(sk);
		free(vk);
		free(k0);
		if (rc)
			goto out;
	}
	if ((rc = model_import(state, model, mname)) != 0)
		goto out;
	if (access(acc, F_OK) != 0 && (rc = write_new(acc, access_template, sizeof access_template - 1, 0644)) != 0)
		goto out;
	vv_dconf_default_origin(origin, sizeof origin);
	if (asprintf(&text,
		     "# varvaultd.conf: written by varvault-admin init; see varvaultd.conf(5).\n"
		     "\n"
		     "[daemon]\n"
		     "state_dir = %s\n"
		     "socket = %s\n"
		     "workers = %u\n"
		     "job_time_limit = 86400\n"
		     "max_connections = 32\n"
		     "request_timeout = 30\n"
		     "handshake_timeout = 10\n"
		     "max_upload = 4G\n"
		     "max_records = 100M\n"
		     "max_text_bytes = 64G\n"
		     "\n"
		     "[tls]\n"
		     "# The local CA in state_dir/ca signs clients (varvault-admin client issue).\n"
		     "# For a lab's own CA: ca_dir = (empty), ca = its certificate, crl = its CRL.\n"
		     "ca_dir = %s\n"
		     "\n"
		     "[access]\n"
		     "policy = %s\n"
		     "\n"
		     "[audit]\n"
		     "# Checkpoints: every checkpoint_records records or checkpoint_seconds\n"
		     "# seconds; the keys default to state_dir/keys/audit.{key,pub,k0}.\n"
		     "checkpoint_records = 1000\n"
		     "checkpoint_seconds = 60\n"
		     "# The checkpoints' origin line: this log's name, for good.\n"
		     "origin = %s\n"
		     "\n"
		     "[model]\n"
		     "name = %s\n"
		     "reference = %s\n"
		     "evidence = %s\n",
		     state, sock, o->workers ? o->workers : 2, ca, acc, origin, mname, ref, ev) < 0) {
		text = NULL;
		rc = vv_errf(VV_ERR_NOMEM, "init");
		goto out;
	}
	if ((rc = write_new(conf_path, text, strlen(text), 0644)) != 0)
		goto out;
	printf("appliance created in %s\nconfiguration: %s\nlabs encrypt to: %s\n", state, conf_path, pub);
	rc = 0;
out:
	/* The keys made so far stay (never delete keys); appliance.pub goes,
	 * so that a second init is refused for the keys, not the config. */
	if (rc != 0 && made_keys)
		(void)unlink(pub);
	free(text);
	free(ca);
	free(acc);
	free(pub);
	free(conf_path);
	free(p);
	free(keys);
	return rc;
}

static int cmd_init(int argc, char **argv)
{
	static const struct option longs[] = {
		{"state-dir", required_argument, NULL, 's'},
		{"config-dir", required_argument, NULL, 'C'},
		{"socket", required_argument, NULL, 'S'},
		{"model", required_argument, NULL, 'm'},
		{"reference", required_argument, NULL, 'r'},
		{"evidence", required_argument, NULL, 'e'},
		{"workers", required_argument, NULL, 'w'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *cmd = "varvault-admin init";
	struct init_opts o = {0};
	size_t n;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
		switch (c) {
		case 's': o.state = optarg; break;
		case 'C': o.confdir = optarg; break;
		case 'S': o.socket = optarg; break;
		case 'm': o.model = optarg; break;
		case 'r': o.reference = optarg; break;
		case 'e': o.evidence = optarg; break;
		case 'w':
			if (!vv_cli_parse_size(optarg, 256, &n))
				return vv_cli_usage_error(cmd, "--workers: 1 to 256");
			o.workers = (unsigned)n;
			break;
		case 'h': fputs(init_usage, stdout); return VV_EXIT_OK;
		default: return vv_cli_usage_error(cmd, "unknown option");
		}
	}
	if (optind != argc)
		return vv_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	if (!o.state || !o.confdir)
		return vv_cli_usage_error(cmd, "--state-dir and --config-dir are required");
	if (vv_core_init() != 0)
		return vv_cli_fail(VV_ERR_INTERNAL, "start-up");
	umask(022);
	rc = init_run(&o);
	return rc ? vv_cli_fail(rc, "init") : VV_EXIT_OK;
}

/* -------------------------------------------------------------------- client */

static const char client_usage[] =
	"usage: varvault-admin client issue --name NAME --role ROLE -o DIR [--days N]\n"
	"                                   [--csr FILE] [--uid N] [--config FILE]\n"
	"       varvault-admin client revoke NAME|SERIAL [--config FILE]\n"
	"       varvault-admin client list [--json] [--config FILE]\n"
	"       varvault-admin client add --cert FILE --role ROLE [--uid N] [--config FILE]\n"
	"\n"
	"issue   signs a client certificate with the appliance's local CA (from the lab's\n"
	"        own CSR, or with a new key written to DIR/client.key), writes DIR/ca.crt,\n"
	"        DIR/client.crt and DIR/client.conf (socket, CA, certificate and key paths:\n"
	"        give it to varvault --config), and binds the certificate's SHA-256\n"
	"        fingerprint to ROLE in the access policy (with --uid, to that local user\n"
	"        too).  varvaultd reads the policy again on SIGHUP.\n"
	"revoke  revokes every certificate of NAME (or the one SERIAL) and rewrites the\n"
	"        CRL; varvaultd reads it again on SIGHUP.\n"
	"list    the certificates issued, with fingerprint, expiry and revocation.\n"
	"add     binds a client certificate issued by a lab's own CA (tls ca of\n"
	"        varvaultd.conf) to ROLE by its SHA-256 fingerprint, once it verifies\n"
	"        against that CA; the lab's CRL (tls crl) revokes it.  SIGHUP applies it.\n"
	"\n"
	"Exit status: 0 success, 1 failure, 2 usage error.\n";

/* Adds "<fingerprint> = role [uid N]" under [clients] of the access policy,
 * checked by parsing the result first (an unknown role is refused).  how
 * ("issued", "added") goes in the comment above the entry. */
static int access_bind(const char *path, const vv_net_cert_info *ci, const char *role, long uid,
		       const char *how)
{
	char *text = NULL, *out = NULL, day[16];
	size_t len = 0;
	vv_net_access *a = NULL;
	time_t now = time(NULL);
	struct tm tm;
	int rc, n;

	if ((rc = vv_read_file(path, 1 << 20, &text, &len)) != 0)
		return vv_err_prefix(rc, "%s: ", path);
	gmtime_r(&now, &tm);
	strftime(day, sizeof day, "%Y-%m-%d", &tm);
	n = uid >= 0 ? asprintf(&out, "%s%s\n[clients]\n# %s, %s %s, serial %s\n%s = %s uid %ld\n", text,
				len && text[len - 1] != '\n' ? "\n" : "", ci->name, how, day, ci->serial,
				ci->sha256, role, uid)
		     : asprintf(&out, "%s%s\n[clients]\n# %s, %s %s, serial %s\n%s = %s\n", text,
				len && text[len - 1] != '\n' ? "\n" : "", ci->name, how, day, ci->serial,
				ci->sha256, role);
	if (n < 0) {
		out = NULL;
		rc = vv_errf(VV_ERR_NOMEM, "%s", path);
		goto out;
	}
	if ((rc = vv_net_access_parse(out, (size_t)n, path, &a)) != 0)
		goto out;
	if (!vv_net_access_allows(a, role, VV_VERB_HELLO)) {
		rc = vv_errf(VV_ERR_INVAL, "%s: role '%s' is not defined there (or lacks hello)", path, role);
		goto out;
	}
	rc = replace_file(path, out, (size_t)n, 0644);
out:
	vv_net_access_free(a);
	free(out);
	free(text);
	return rc;
}

/* Gives path, which this run just made as root (a regular file or folder
 * with no other name, still root's), to owner.  O_NOFOLLOW and the link
 * count: the folder's owner cannot point the chown at another file. */
static int give_to(const char *path, const struct stat *owner)
{
	struct stat st;
	int fd, rc = 0;

	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)) < 0)
		return vv_errf(VV_ERR_IO, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) != 0)
		rc = vv_errf(VV_ERR_IO, "%s: %s", path, strerror(errno));
	else if (st.st_uid == 0 && (S_ISDIR(st.st_mode) || (S_ISREG(st.st_mode) && st.st_nlink == 1)) &&
		 fchown(fd, owner->st_uid, owner->st_gid) != 0)
		rc = vv_errf(VV_ERR_IO, "%s: chown to %ld:%ld: %s", path, (long)owner->st_uid, (long)owner->st_gid,
			     strerror(errno));
	close(fd);
	return rc;
}

/* Whether the client folder adir lies in the daemon's state folder: when
 * root writes it there, its files become the state folder's owner's (set
 * in *owner), as the CA's are; anywhere else they stay root's until the
 * operator hands them on. */
static bool in_state_dir(const struct vv_dconf *dc, const char *adir, struct stat *owner)
{
	char state[PATH_MAX];
	size_t n;

	if (geteuid() != 0 || !realpath(dc->state_dir, state) || stat(state, owner) != 0)
		return false;
	n = strlen(state);
	return strncmp(adir, state, n) == 0 && (adir[n] == '/' || adir[n] == '\0');
}

static int client_issue(const struct vv_dconf *dc, const char *name, const char *role, const char *dir,
			int days, const char *csr, long uid)
{
	char adir[PATH_MAX];
	char *crt = NULL, *key = NULL, *cacopy = NULL, *conf = NULL, *catext = NULL, *text = NULL;
	vv_net_cert_info ci;
	struct stat owner;
	size_t calen;
	int rc;

	/* The role first: a refused issue must leave no certificate behind. */
	{
		vv_net_access *a = NULL;
		bool known = false;
		if ((rc = vv_net_access_load(dc->access, &a)) != 0)
			return rc;
		for (int v = 0; v < VV_VERB_COUNT; v++)
			known = known || vv_net_access_allows(a, role, (enum vv_net_verb)v);
		vv_net_access_free(a);
		if (!known)
			return vv_errf(VV_ERR_INVAL, "%s: role '%s' is not defined there", dc->access, role);
	}
	if ((rc = make_dir(dir, 0700, true)) != 0 || (rc = abs_path(dir, adir)) != 0)
		return rc;
	if (!(crt = vv_dconf_join(adir, "client.crt")) || !(key = vv_dconf_join(adir, "client.key")) ||
	    !(cacopy = vv_dconf_join(adir, "ca.crt")) || !(conf = vv_dconf_join(adir, "client.conf"))) {
		rc = vv_errf(VV_ERR_NOMEM, "client issue");
		goto out;
	}
	if (access(conf, F_OK) == 0 || access(cacopy, F_OK) == 0) {
		rc = vv_errf(VV_ERR_EXISTS, "%s: holds a client already; refusing to overwrite it", adir);
		goto out;
	}
	/* The client checks the server's certificate against the local CA. */
	free(text);
	if (!(text = vv_dconf_join(dc->ca_dir, "ca.crt"))) {
		rc = vv_errf(VV_ERR_NOMEM, "client issue");
		goto out;
	}
	if ((rc = vv_read_file(text, 1 << 20, &catext, &calen)) != 0)
		goto out;
	free(text);
	text = NULL;
	if ((rc = vv_net_client_issue(dc->ca_dir, name, csr, crt, csr ? NULL : key, days, &ci)) != 0)
		goto out;
	if ((rc = write_new(cacopy, catext, calen, 0644)) != 0)
		goto out;
	if (asprintf(&text,
		     "# varvault client settings for %s (role %s), by varvault-admin client issue.\n"
		     "# Use: varvault --config %s, VARVAULT_CONFIG, or ~/.config/varvault/client.conf.\n"
		     "socket = %s\n"
		     "ca = %s\n"
		     "cert = %s\n"
		     "%skey = %s\n",
		     name, role, conf, dc->socket, cacopy, crt, csr ? "# the key of your CSR:\n# " : "",
		     csr ? "PATH" : key) < 0) {
		text = NULL;
		rc = vv_errf(VV_ERR_NOMEM, "client issue");
		goto out;
	}
	if ((rc = write_new(conf, text, strlen(text), 0600)) != 0)
		goto out;
	if ((rc = access_bind(dc->access, &ci, role, uid, "issued")) != 0)
		goto out;
	if (in_state_dir(dc, adir, &owner) &&
	    ((rc = give_to(adir, &owner)) != 0 ||
	     (rc = give_to(crt, &owner)) != 0 || (!csr && (rc = give_to(key, &owner)) != 0) ||
	     (rc = give_to(cacopy, &owner)) != 0 || (rc = give_to(conf, &owner)) != 0))
		goto out;
	printf("issued %s (role %s), SHA-256 %s, serial %s\nclient settings: %s\n"
	       "bound in %s: reload varvaultd (SIGHUP) to apply\n",
	       ci.name, role, ci.sha256, ci.serial, conf, dc->access);
out:
	free(text);
	free(catext);
	free(conf);
	free(cacopy);
	free(key);
	free(crt);
	return rc;
}

/* client add: a certificate from elsewhere, bound once it verifies against
 * the configured CA (a binding that could never connect helps nobody). */
static int client_add(const struct vv_dconf *dc, const char *cert, const char *role, long uid)
{
	vv_net_cert_info ci;
	int rc;

	if ((rc = vv_net_client_check(cert, dc->tls_ca, &ci)) != 0)
		return rc;
	if (!ci.name[0])
		snprintf(ci.name, sizeof ci.name, "(CN not a client name)");
	if ((rc = access_bind(dc->access, &ci, role, uid, "added")) != 0)
		return rc;
	printf("bound %s (role %s), SHA-256 %s, serial %s\nin %s: reload varvaultd (SIGHUP) to apply\n",
	       ci.name, role, ci.sha256, ci.serial, dc->access);
	return 0;
}

static int client_list(const struct vv_dconf *dc, bool json)
{
	vv_net_cert_info *v = NULL;
	size_t n = 0;
	int rc;

	if ((rc = vv_net_client_list(dc->ca_dir, &v, &n)) != 0)
		return rc;
	if (json) {
		json_object *a = json_object_new_array();
		for (size_t i = 0; a && i < n; i++) {
			json_object *o = json_object_new_object();
			json_object_object_add(o, "name", json_object_new_string(v[i].name));
			json_object_object_add(o, "serial", json_object_new_string(v[i].serial));
			json_object_object_add(o, "sha256", json_object_new_string(v[i].sha256));
			json_object_object_add(o, "not_after", json_object_new_int64(v[i].not_after));
			json_object_object_add(o, "revoked", json_object_new_boolean(v[i].revoked));
			json_object_array_add(a, o);
		}
		printf("%s\n", json_object_to_json_string_ext(a, JSON_C_TO_STRING_PRETTY));
		json_object_put(a);
	} else {
		for (size_t i = 0; i < n; i++) {
			char until[32];
			time_t t = (time_t)v[i].not_after;
			struct tm tm;
			gmtime_r(&t, &tm);
			strftime(until, sizeof until, "%Y-%m-%d", &tm);
			printf("%-20s %s until %s%s\n", v[i].name, v[i].sha256, until,
			       v[i].revoked ? " REVOKED" : "");
		}
	}
	free(v);
	return 0;
}

static int cmd_client(int argc, char **argv)
{
	static const struct option longs[] = {
		{"name", required_argument, NULL, 'n'},
		{"role", required_argument, NULL, 'r'},
		{"output", required_argument, NULL, 'o'},
		{"days", required_argument, NULL, 'd'},
		{"csr", required_argument, NULL, 'C'},
		{"uid", required_argument, NULL, 'u'},
		{"cert", required_argument, NULL, 'k'},
		{"json", no_argument, NULL, 'j'},
		{"config", required_argument, NULL, 'c'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *cmd = "varvault-admin client", *sub, *cfg = VV_DCONF_DEFAULT;
	const char *name = NULL, *role = NULL, *dir = NULL, *csr = NULL, *cert = NULL;
	struct vv_dconf dc;
	size_t n;
	long uid = -1;
	int days = 0, c, rc;
	bool json = false;

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(client_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? VV_EXIT_USAGE : VV_EXIT_OK;
	}
	sub = argv[1];
	optind = 2;
	while ((c = getopt_long(argc, argv, "o:h", longs, NULL)) != -1) {
		switch (c) {
		case 'n': name = optarg; break;
		case 'r': role = optarg; break;
		case 'o': dir = optarg; break;
		case 'C': csr = optarg; break;
		case 'k': cert = optarg; break;
		case 'c': cfg = optarg; break;
		case 'j': json = true; break;
		case 'd':
			if (!vv_cli_parse_size(optarg, 36500, &n))
				return vv_cli_usage_error(cmd, "--days: 1 to 36500");
			days = (int)n;
			break;
		case 'u':
			if (!vv_cli_parse_size(optarg, 0x7fffffff, &n) && strcmp(optarg, "0") != 0)
				return vv_cli_usage_error(cmd, "--uid: a user id");
			uid = strcmp(optarg, "0") ? (long)n : 0;
			break;
		case 'h': fputs(client_usage, stdout); return VV_EXIT_OK;
		default: return vv_cli_usage_error(cmd, "unknown option");
		}
	}
	if (strcmp(sub, "issue") && strcmp(sub, "revoke") && strcmp(sub, "list") && strcmp(sub, "add"))
		return vv_cli_usage_error(cmd, "unknown subcommand '%s'", sub);
	if (!strcmp(sub, "issue") && (!name || !role || !dir || optind != argc))
		return vv_cli_usage_error(cmd, "issue needs --name, --role and -o DIR");
	if (!strcmp(sub, "issue") && !vv_net_name_valid(name))
		return vv_cli_usage_error(cmd, "--name: 1 to 64 of A-Z a-z 0-9 . _ - (not starting with . or -)");
	if (!strcmp(sub, "revoke") && optind != argc - 1)
		return vv_cli_usage_error(cmd, "revoke wants one NAME or SERIAL");
	if (!strcmp(sub, "list") && optind != argc)
		return vv_cli_usage_error(cmd, "list takes no argument");
	if (!strcmp(sub, "add") && (!cert || !role || optind != argc))
		return vv_cli_usage_error(cmd, "add needs --cert FILE and --role ROLE");
	if (vv_core_init() != 0)
		return vv_cli_fail(VV_ERR_INTERNAL, "start-up");
	if ((rc = vv_dconf_load(cfg, &dc)) != 0)
		return vv_cli_fail(rc, "configuration");
	if (!strcmp(sub, "add")) {
		rc = client_add(&dc, cert, role, uid);
	} else if (!dc.ca_dir) {
		rc = vv_errf(VV_ERR_UNSUPPORTED, "%s: a lab CA is configured (tls ca_dir empty): "
			     "its own tools issue and revoke clients (client add binds them)", cfg);
	} else if (!strcmp(sub, "issue")) {
		rc = client_issue(&dc, name, role, dir, days, csr, uid);
	} else if (!strcmp(sub, "revoke")) {
		size_t count = 0;
		if ((rc = vv_net_client_revoke(dc.ca_dir, argv[optind], &count)) == 0)
			printf("revoked %zu certificate%s; reload varvaultd (SIGHUP) to apply the CRL\n", count,
			       count == 1 ? "" : "s");
	} else {
		rc = client_list(&dc, json);
	}
	vv_dconf_done(&dc);
	return rc ? vv_cli_fail(rc, "client %s", sub) : VV_EXIT_OK;
}

int vv_cmd_admin_init(int argc, char **argv)
{
	return cmd_init(argc, argv);
}

int vv_cmd_admin_client(int argc, char **argv)
{
	return cmd_client(argc, argv);
}
