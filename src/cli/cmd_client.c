/* varvault submit|status|list|result|cancel|delete|health: the client of
 * varvaultd, over mutual TLS 1.3 on its Unix socket. */
#include "cli.h"
#include "client.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "varvault/c4gh.h"
#include "varvault/net.h"

#define CONNECT_MS 10000
#define RESP_MAX (4u << 20)

static const char common_opts[] =
	"common options:\n"
	"  --config FILE   client settings (default: $VARVAULT_CONFIG, else\n"
	"                  ~/.config/varvault/client.conf), as varvault-admin client\n"
	"                  issue writes them: socket, ca, cert, key\n"
	"  --json          print the server's answer as JSON\n"
	"\n"
	"Exit status: 0 success, 1 failure, 2 usage error, 3 no connection or the TLS\n"
	"handshake or certificate refused, 4 denied by the access policy, 5 request\n"
	"refused (no such job, not done, bad input), 6 the job failed or was cancelled,\n"
	"7 the appliance's audit log is not consistent with the checkpoint this client\n"
	"holds (rolled back, forked or re-keyed).\n";

const char *const vv_client_common_opts = common_opts;

int vv_client_fail(struct client *c, int code, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: error: ", c->cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}

/* The exit status for a wire error code. */
static int exit_for_code(const char *code)
{
	if (!strcmp(code, "denied"))
		return EXIT_DENIED;
	if (!strcmp(code, "certificate") || !strcmp(code, "tls"))
		return EXIT_CONNECT;
	return EXIT_REFUSED;
}

static int exit_for_err(int err)
{
	return err == VV_ERR_PEER_CERT || err == VV_ERR_TLS || err == VV_ERR_CLOSED || err == VV_ERR_TIMEOUT ||
			       err == VV_ERR_BUSY || err == VV_ERR_IO
		       ? EXIT_CONNECT
		       : VV_EXIT_FAIL;
}

static int load_settings(struct client *c, const char *path)
{
	char home[4096];
	const char *p = path, *v;
	vv_conf *cf = NULL;
	static const char *const known[] = {".socket", ".ca", ".cert", ".key", NULL};
	int rc;

	if (!p)
		p = getenv("VARVAULT_CONFIG");
	if (!p || !*p) {
		const char *h = getenv("HOME");
		if (!h || snprintf(home, sizeof home, "%s/.config/varvault/client.conf", h) >= (int)sizeof home)
			return vv_errf(VV_ERR_NOTFOUND, "no client settings: give --config or VARVAULT_CONFIG");
		p = home;
	}
	if ((rc = vv_conf_load(p, &cf)) != 0)
		return vv_err_prefix(rc, "%s: ", p);
	if ((rc = vv_conf_check_known(cf, known)) != 0)
		goto out;
	for (size_t i = 0; i < 4; i++) {
		const char *k = known[i] + 1;
		char **dst = i == 0 ? &c->socket : i == 1 ? &c->ca : i == 2 ? &c->cert : &c->key;
		if (!(v = vv_conf_get(cf, "", k)) || !*v) {
			rc = vv_errf(VV_ERR_FORMAT, "%s: '%s' is not set", p, k);
			goto out;
		}
		if (!(*dst = strdup(v))) {
			rc = VV_ERR_NOMEM;
			goto out;
		}
	}
out:
	vv_conf_free(cf);
	return rc;
}

static void client_done(struct client *c)
{
	vv_net_close(c->conn);
	vv_net_client_free(c->tls);
	free(c->frame);
	free(c->socket);
	free(c->ca);
	free(c->cert);
	free(c->key);
	free(c->audit_note);
	free(c->audit_key);
}

/* Sends one request (params not consumed, may be NULL). */
static int send_req(struct client *c, enum vv_net_verb verb, json_object *params)
{
	char id[16], *out = NULL;
	size_t len;
	int rc;

	snprintf(id, sizeof id, "%u", ++c->seq);
	if ((rc = vv_net_request_build(verb, id, params, &out, &len)) == 0)
		rc = vv_net_frame_write(c->conn, out, len, IO_MS);
	free(out);
	return rc;
}

/* Reads one response.  Returns 0 with r filled (ok or not), or < 0. */
static int read_resp(struct client *c, vv_net_response *r)
{
	size_t len;
	int rc;

	if ((rc = vv_net_frame_read(c->conn, c->frame, VV_NET_FRAME_MAX, &len, IO_MS)) != 0)
		return rc;
	return vv_net_response_parse(c->frame, len, r);
}

/* Reports a failed response; returns its exit status. */
static int report(struct client *c, const vv_net_response *r)
{
	if (c->json) {
		printf("%s\n", json_object_to_json_string_ext(r->json, JSON_C_TO_STRING_PRETTY));
		return exit_for_code(r->code);
	}
	return vv_client_fail(c, exit_for_code(r->code), "server: %s%s%s", r->code, *r->message ? ": " : "",
			   r->message);
}

/* One request, one response: *r must be released by the caller on 0. */
static int call(struct client *c, enum vv_net_verb verb, json_object *params, vv_net_response *r)
{
	int rc;

	if ((rc = send_req(c, verb, params)) != 0 || (rc = read_resp(c, r)) != 0)
		return vv_client_fail(c, exit_for_err(rc), "%s: %s%s%s", vv_net_verb_name(verb), vv_strerror(rc),
				   *vv_err_detail() ? ": " : "", vv_err_detail());
	return 0;
}

/* Connects and says hello: with TLS 1.3 the server judges our certificate
 * after our handshake has completed, so only its answer to hello tells. */
static int client_open(struct client *c, const char *config)
{
	struct vv_net_client_cfg cc = {0};
	vv_net_response r;
	int rc;

	if (vv_core_init() != 0)
		return vv_client_fail(c, VV_EXIT_FAIL, "start-up");
	signal(SIGPIPE, SIG_IGN);
	if (!(c->frame = malloc(VV_NET_FRAME_MAX)))
		return vv_client_fail(c, VV_EXIT_FAIL, "out of memory");
	if ((rc = load_settings(c, config)) != 0)
		return vv_client_fail(c, VV_EXIT_FAIL, "settings: %s", vv_err_detail());
	cc.ca_file = c->ca;
	cc.cert_file = c->cert;
	cc.key_file = c->key;
	if ((rc = vv_net_client_new(&cc, &c->tls)) != 0)
		return vv_client_fail(c, VV_EXIT_FAIL, "TLS settings: %s: %s", vv_strerror(rc), vv_err_detail());
	if ((rc = vv_net_connect(c->tls, c->socket, CONNECT_MS, &c->conn)) != 0)
		return vv_client_fail(c, EXIT_CONNECT, "%s: %s%s%s", c->socket, vv_strerror(rc),
				   *vv_err_detail() ? ": " : "", vv_err_detail());
	if ((rc = call(c, VV_VERB_HELLO, NULL, &r)) != 0)
		return rc;
	rc = r.ok ? 0 : report(c, &r);
	vv_net_response_done(&r);
	/* Every client is a witness of the audit log (witness.c). */
	if (rc == 0)
		rc = vv_client_witness(c);
	return rc;
}

static void print_json(const vv_net_response *r)
{
	json_object_object_del(r->json, "v");
	json_object_object_del(r->json, "id");
	printf("%s\n", json_object_to_json_string_ext(r->json, JSON_C_TO_STRING_PRETTY));
}

static const char *jstr(json_object *o, const char *k)
{
	json_object *v;

	return json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_string)
		       ? json_object_get_string(v)
		       : "";
}

static int64_t jint(json_object *o, const char *k)
{
	json_object *v;

	return json_object_object_get_ex(o, k, &v) ? json_object_get_int64(v) : 0;
}

/* ------------------------------------------------------------------ submit */

/* Streams Crypt4GH bytes to the server as frames of up to 1 MiB. */
struct upload {
	struct client *c;
	size_t fill;
	uint64_t sent;
};

static int upload_flush(struct upload *u)
{
	int rc;

	if (u->fill == 0)
		return 0;
	rc = vv_net_frame_write(u->c->conn, u->c->frame, u->fill, IO_MS);
	u->sent += u->fill;
	u->fill = 0;
	return rc;
}

static int upload_sink(void *ctx, const uint8_t *p, size_t n)
{
	struct upload *u = ctx;
	int rc;

	while (n > 0) {
		size_t k = VV_NET_FRAME_MAX - u->fill < n ? VV_NET_FRAME_MAX - u->fill : n;
		memcpy(u->c->frame + u->fill, p, k);
		u->fill += k;
		p += k;
		n -= k;
		if (u->fill == VV_NET_FRAME_MAX && (rc = upload_flush(u)) != 0)
			return rc;
	}
	return 0;
}

/* SHA-256 of a whole file, read through secure memory (it is plaintext). */
static int hash_file(const char *path, char hex[65])
{
	uint8_t *buf = vv_secret_alloc(VV_C4GH_SEGMENT_LEN), d[32];
	vv_sha256 *h = vv_sha256_new();
	int fd = -1, rc = 0;
	ssize_t n;

	if (!buf || !h) {
		rc = vv_errf(VV_ERR_NOMEM, "hash");
		goto out;
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		rc = vv_errf(VV_ERR_IO, "%s: %s", path, strerror(errno));
		goto out;
	}
	while ((n = read(fd, buf, VV_C4GH_SEGMENT_LEN)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = vv_errf(VV_ERR_IO, "%s: %s", path, strerror(errno));
			goto out;
		}
		vv_sha256_update(h, buf, (size_t)n);
	}
	vv_sha256_final(h, d);
	h = NULL;
	vv_hex(d, 32, hex);
out:
	if (fd >= 0)
		close(fd);
	vv_sha256_free(h);
	vv_secret_free(buf);
	return rc;
}

/* Sends the file: as it is (Crypt4GH), or encrypted to pk on the fly. */
static int upload_file(struct client *c, const char *path, const uint8_t *pk, uint64_t *sent)
{
	struct upload u = {c, 0, 0};
	uint8_t *buf = NULL;
	vv_c4gh_encryptor *e = NULL;
	int fd, rc = 0;
	ssize_t n;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return vv_errf(VV_ERR_IO, "%s: %s", path, strerror(errno));
	if (!(buf = vv_secret_alloc(VV_C4GH_SEGMENT_LEN))) {
		rc = vv_errf(VV_ERR_NOMEM, "upload");
		goto out;
	}
	if (pk && (rc = vv_c4gh_encryptor_new(NULL, pk, 1, NULL, 0, &e)) != 0)
		goto out;
	while ((n = read(fd, buf, VV_C4GH_SEGMENT_LEN)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = vv_errf(VV_ERR_IO, "%s: %s", path, strerror(errno));
			goto out;
		}
		rc = e ? vv_c4gh_encryptor_update(e, buf, (size_t)n, upload_sink, &u)
		       : upload_sink(&u, buf, (size_t)n);
		if (rc != 0)
			goto out;
	}
	if ((e && (rc = vv_c4gh_encryptor_final(e, upload_sink, &u)) != 0) || (rc = upload_flush(&u)) != 0)
		goto out;
	rc = vv_net_frame_write(c->conn, "", 0, IO_MS);
	*sent = u.sent;
out:
	vv_c4gh_encryptor_free(e);
	vv_secret_free(buf);
	close(fd);
	return rc;
}

static bool is_c4gh(const char *path)
{
	char magic[8];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	bool yes = fd >= 0 && read(fd, magic, 8) == 8 && !memcmp(magic, "crypt4gh", 8);

	if (fd >= 0)
		close(fd);
	return yes;
}

static const char submit_usage[] =
	"usage: varvault submit --sample PSEUDONYM [options] FILE\n"
	"\n"
	"Sends FILE to varvaultd for interpretation and prints the job id once the\n"
	"appliance has stored it durably.  FILE is a Crypt4GH file (sent as it is), or,\n"
	"with --encrypt-to, a plain VCF or VCF.gz that is encrypted on the fly in memory\n"
	"(never written in plaintext); its SHA-256 is then sent too, so the appliance\n"
	"can prove that the plaintext arrived whole.\n"
	"\n"
	"options:\n"
	"  --sample P              the sample's pseudonym (never a patient's name)\n"
	"  --encrypt-to PUB        the appliance's public key (appliance.pub)\n"
	"  --plaintext-sha256 HEX  the plaintext's SHA-256 for a Crypt4GH FILE\n"
	"                          (without it the job is recorded as unverified)\n"
	"  --format FMT            result format: vcf (default), json or tsv\n";

static int cmd_submit(int argc, char **argv)
{
	static const struct option longs[] = {
		{"sample", required_argument, NULL, 's'},
		{"encrypt-to", required_argument, NULL, 'e'},
		{"plaintext-sha256", required_argument, NULL, 'p'},
		{"format", required_argument, NULL, 'f'},
		{"config", required_argument, NULL, 'c'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct client c = {.cmd = "varvault submit"};
	const char *sample = NULL, *pub = NULL, *sha = NULL, *format = NULL, *config = NULL, *file;
	uint8_t pk[VV_C4GH_KEY_LEN];
	char hex[65];
	json_object *params = NULL;
	vv_net_response r;
	uint64_t sent = 0;
	int ch, rc;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
		switch (ch) {
		case 's': sample = optarg; break;
		case 'e': pub = optarg; break;
		case 'p': sha = optarg; break;
		case 'f': format = optarg; break;
		case 'c': config = optarg; break;
		case 'j': c.json = true; break;
		case 'h': printf("%s\n%s", submit_usage, common_opts); return VV_EXIT_OK;
		default: return vv_cli_usage_error(c.cmd, "unknown option");
		}
	}
	if (optind != argc - 1 || !sample)
		return vv_cli_usage_error(c.cmd, "--sample and one FILE are required");
	file = argv[optind];
	if (vv_core_init() != 0)
		return vv_client_fail(&c, VV_EXIT_FAIL, "start-up");
	if (sha && (strlen(sha) != 64 || strspn(sha, "0123456789abcdef") != 64))
		return vv_cli_usage_error(c.cmd, "--plaintext-sha256: 64 lowercase hex digits");
	if (is_c4gh(file)) {
		if (pub)
			return vv_cli_usage_error(c.cmd, "%s is Crypt4GH already: drop --encrypt-to", file);
	} else {
		if (access(file, R_OK) != 0)
			return vv_client_fail(&c, VV_EXIT_FAIL, "%s: %s", file, strerror(errno));
		if (!pub)
			return vv_cli_usage_error(c.cmd, "%s is not Crypt4GH: give --encrypt-to appliance.pub "
					       "(or encrypt it first)", file);
		if (sha)
			return vv_cli_usage_error(c.cmd, "--plaintext-sha256 is computed here with --encrypt-to");
		if ((rc = vv_c4gh_pubkey_load(pub, pk)) != 0)
			return vv_cli_fail(rc, "%s", pub);
		if ((rc = hash_file(file, hex)) != 0)
			return vv_cli_fail(rc, "%s", file);
		sha = hex;
	}
	if ((rc = client_open(&c, config)) != 0)
		goto out;
	params = json_object_new_object();
	json_object_object_add(params, "sample", json_object_new_string(sample));
	if (format)
		json_object_object_add(params, "format", json_object_new_string(format));
	if (sha)
		json_object_object_add(params, "plaintext_sha256", json_object_new_string(sha));
	if ((rc = call(&c, VV_VERB_SUBMIT, params, &r)) != 0)
		goto out;
	if (!r.ok) {
		rc = report(&c, &r);
		vv_net_response_done(&r);
		goto out;
	}
	vv_net_response_done(&r);
	if ((rc = upload_file(&c, file, pub ? pk : NULL, &sent)) != 0) {
		/* The server may have answered why before closing. */
		int rc2 = read_resp(&c, &r);
		if (rc2 == 0 && !r.ok) {
			rc = report(&c, &r);
			vv_net_response_done(&r);
		} else {
			if (rc2 == 0)
				vv_net_response_done(&r);
			rc = vv_client_fail(&c, exit_for_err(rc), "upload: %s", vv_strerror(rc));
		}
		goto out;
	}
	if ((rc = read_resp(&c, &r)) != 0) {
		rc = vv_client_fail(&c, exit_for_err(rc), "upload: %s (the job was not accepted)", vv_strerror(rc));
		goto out;
	}
	if (!r.ok) {
		rc = report(&c, &r);
	} else if (c.json) {
		print_json(&r);
	} else {
		printf("%s\n", jstr(r.json, "job"));
		if (!sha)
			fprintf(stderr, "varvault submit: note: no plaintext SHA-256 sent: the job is unverified\n");
	}
	vv_net_response_done(&r);
out:
	json_object_put(params);
	client_done(&c);
	return rc;
}

/* ----------------------------------------------------- status, list, ... */

static void print_job(json_object *j)
{
	json_object *p = NULL, *e = NULL;

	json_object_object_get_ex(j, "progress", &p);
	printf("%s  %-9s  %-4s  sample %s  %lld/%lld variants%s\n", jstr(j, "job"), jstr(j, "state"),
	       jstr(j, "format"), jstr(j, "sample"), (long long)jint(p, "done"), (long long)jint(p, "total"),
	       json_object_get_boolean(json_object_object_get(j, "verified")) ? "" : "  (unverified)");
	if (json_object_object_get_ex(j, "error", &e))
		printf("  failed: %s: %s\n", jstr(e, "code"), jstr(e, "message"));
}

static void progress_bar(json_object *j)
{
	json_object *p = NULL;
	int64_t done, total;
	int w = 30, k;

	json_object_object_get_ex(j, "progress", &p);
	done = jint(p, "done");
	total = jint(p, "total");
	k = total > 0 ? (int)(w * done / total) : 0;
	fprintf(stderr, "\r%-9s [", jstr(j, "state"));
	for (int i = 0; i < w; i++)
		fputc(i < k ? '#' : ' ', stderr);
	fprintf(stderr, "] %lld/%lld", (long long)done, (long long)total);
	fflush(stderr);
}

static int job_final_exit(json_object *j)
{
	const char *st = jstr(j, "state");

	return !strcmp(st, "failed") || !strcmp(st, "cancelled") ? EXIT_JOB : VV_EXIT_OK;
}

/* The options of every verb but submit (each takes them all). */
#define SIMPLE_TAKES \
	(VV_CLIENT_OPT_WAIT | VV_CLIENT_OPT_FORMAT | VV_CLIENT_OPT_OUTPUT | VV_CLIENT_OPT_SAMPLE | VV_CLIENT_OPT_FORCE)

static int simple_args(int argc, char **argv, const char *cmd, const char *usage, struct vv_client_opts *o,
		       int want_args)
{
	return vv_client_args(argc, argv, cmd, usage, SIMPLE_TAKES, o, want_args, "one JOB id expected");
}

int vv_client_args(int argc, char **argv, const char *cmd, const char *usage, unsigned takes,
		   struct vv_client_opts *o, int want_args, const char *want_what)
{
	/* Every option of every verb, in an order that keeps each verb's
	 * abbreviations (getopt_long takes unambiguous prefixes) and its
	 * ambiguity messages as they were; a verb gets its own subset. */
	static const struct {
		struct option opt;
		unsigned need; /* 0: every verb */
	} all[] = {
		{{"config", required_argument, NULL, 'c'}, 0},
		{{"json", no_argument, NULL, 'j'}, 0},
		{{"wait", no_argument, NULL, 'w'}, VV_CLIENT_OPT_WAIT},
		{{"since", required_argument, NULL, 'S'}, VV_CLIENT_OPT_FILTERS},
		{{"until", required_argument, NULL, 'U'}, VV_CLIENT_OPT_FILTERS},
		{{"actor", required_argument, NULL, 'a'}, VV_CLIENT_OPT_FILTERS},
		{{"sample", required_argument, NULL, 's'}, VV_CLIENT_OPT_SAMPLE},
		{{"action", required_argument, NULL, 'x'}, VV_CLIENT_OPT_FILTERS},
		{{"outcome", required_argument, NULL, 'O'}, VV_CLIENT_OPT_FILTERS},
		{{"format", required_argument, NULL, 'f'}, VV_CLIENT_OPT_FORMAT},
		{{"output", required_argument, NULL, 'o'}, VV_CLIENT_OPT_OUTPUT},
		{{"force", no_argument, NULL, 'F'}, VV_CLIENT_OPT_FORCE},
		{{"help", no_argument, NULL, 'h'}, 0},
	};
	struct option longs[sizeof all / sizeof all[0] + 1];
	size_t n = 0;
	int ch;

	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
		if (!all[i].need || (takes & all[i].need))
			longs[n++] = all[i].opt;
	memset(&longs[n], 0, sizeof longs[n]);
	memset(o, 0, sizeof *o);
	optind = 1;
	/* -o is short for --output, where a verb takes it. */
	while ((ch = getopt_long(argc, argv, (takes & VV_CLIENT_OPT_OUTPUT) ? "o:h" : "h", longs, NULL)) != -1) {
		switch (ch) {
		case 'c': o->config = optarg; break;
		case 'j': o->json = true; break;
		case 'w': o->wait = true; break;
		case 'S': o->since = optarg; break;
		case 'U': o->until = optarg; break;
		case 'a': o->actor = optarg; break;
		case 's': o->sample = optarg; break;
		case 'x': o->action = optarg; break;
		case 'O': o->outcome = optarg; break;
		case 'f': o->format = optarg; break;
		case 'o': o->output = optarg; break;
		case 'F': o->force = true; break;
		case 'h': printf("%s\n%s", usage, common_opts); return VV_CLIENT_HELP_SHOWN;
		default: return vv_cli_usage_error(cmd, "unknown option");
		}
	}
	if (argc - optind != want_args)
		return vv_cli_usage_error(cmd, "%s", want_args ? want_what : "unexpected argument");
	return 0;
}

static const char status_usage[] =
	"usage: varvault status JOB [--wait]\n"
	"\n"
	"Prints the job's state and progress.  With --wait, waits until the job is\n"
	"done, failed or cancelled, with a progress bar on a terminal.\n";

static int cmd_status(int argc, char **argv)
{
	struct client c = {.cmd = "varvault status"};
	struct vv_client_opts o;
	json_object *params = NULL, *j = NULL;
	vv_net_response r;
	bool bar;
	int rc;

	if ((rc = simple_args(argc, argv, c.cmd, status_usage, &o, 1)) != 0)
		return rc == VV_CLIENT_HELP_SHOWN ? VV_EXIT_OK : rc;
	c.json = o.json;
	bar = o.wait && !o.json && isatty(2);
	if ((rc = client_open(&c, o.config)) != 0)
		goto out;
	params = json_object_new_object();
	json_object_object_add(params, "job", json_object_new_string(argv[optind]));
	for (;;) {
		if ((rc = call(&c, VV_VERB_STATUS, params, &r)) != 0)
			goto out;
		if (!r.ok) {
			if (bar)
				fputc('\n', stderr);
			rc = report(&c, &r);
			vv_net_response_done(&r);
			goto out;
		}
		json_object_object_get_ex(r.json, "job", &j);
		if (o.wait && (!strcmp(jstr(j, "state"), "queued") || !strcmp(jstr(j, "state"), "running"))) {
			struct timespec ts = {0, 300 * 1000 * 1000};
			if (bar)
				progress_bar(j);
			vv_net_response_done(&r);
			nanosleep(&ts, NULL);
			continue;
		}
		if (bar) {
			progress_bar(j);
			fputc('\n', stderr);
		}
		if (o.json)
			print_json(&r);
		else
			print_job(j);
		rc = job_final_exit(j);
		vv_net_response_done(&r);
		break;
	}
out:
	json_object_put(params);
	client_done(&c);
	return rc;
}

static const char list_usage[] = "usage: varvault list\n\nLists your jobs (an admin: every job), oldest first.\n";

static int cmd_list(int argc, char **argv)
{
	struct client c = {.cmd = "varvault list"};
	struct vv_client_opts o;
	vv_net_response r;
	json_object *a = NULL;
	int rc;

	if ((rc = simple_args(argc, argv, c.cmd, list_usage, &o, 0)) != 0)
		return rc == VV_CLIENT_HELP_SHOWN ? VV_EXIT_OK : rc;
	c.json = o.json;
	if ((rc = client_open(&c, o.config)) != 0 || (rc = call(&c, VV_VERB_LIST, NULL, &r)) != 0)
		goto out;
	if (!r.ok) {
		rc = report(&c, &r);
	} else if (o.json) {
		print_json(&r);
	} else if (json_object_object_get_ex(r.json, "jobs", &a)) {
		for (size_t i = 0; i < json_object_array_length(a); i++)
			print_job(json_object_array_get_idx(a, i));
	}
	vv_net_response_done(&r);
out:
	client_done(&c);
	return rc;
}

/* cancel JOB, delete --sample P, health: one request, print the answer. */
static int one_shot(struct client *c, enum vv_net_verb verb, json_object *params, bool json)
{
	vv_net_response r;
	int rc;

	c->json = json;
	if ((rc = call(c, verb, params, &r)) != 0)
		return rc;
	if (!r.ok) {
		rc = report(c, &r);
	} else if (json) {
		print_json(&r);
	} else if (verb == VV_VERB_CANCEL) {
		printf("%s cancelled\n", jstr(r.json, "job"));
	} else if (verb == VV_VERB_DELETE) {
		printf("sample deleted with its %lld job(s); its results can no longer be read\n",
		       (long long)jint(r.json, "jobs_deleted"));
	} else {
		printf("%s: varvaultd %s, model %s, %lld queued, %lld running, %lld workers\n",
		       jstr(r.json, "status"), jstr(r.json, "version"), jstr(r.json, "model"),
		       (long long)jint(r.json, "queued"), (long long)jint(r.json, "running"),
		       (long long)jint(r.json, "workers"));
		json_object *k = NULL;
		if (*jstr(r.json, "model_sha256"))
			printf("model %s: SHA-256 %s, self-test %s\n", jstr(r.json, "model"),
			       jstr(r.json, "model_sha256"), jstr(r.json, "selftest"));
		if (json_object_object_get_ex(r.json, "kernel", &k))
			printf("OpenBLAS kernel %s (chosen by %s; best for this CPU: %s) on %s\n",
			       jstr(k, "openblas_core"), jstr(k, "chosen_by"),
			       *jstr(k, "cpu_best_core") ? jstr(k, "cpu_best_core") : "none known", jstr(k, "cpu"));
		json_object *ml = NULL;
		if (json_object_object_get_ex(r.json, "memory_locked", &ml) && !json_object_get_boolean(ml))
			printf("WARNING: memory NOT locked (varvaultd --allow-unlocked-memory: development only)\n");
	}
	vv_net_response_done(&r);
	return rc;
}

/* Sends verb with one string parameter key = value and prints the answer:
 * the whole of cancel and delete. */
static int one_param_verb(struct client *c, const struct vv_client_opts *o, enum vv_net_verb verb,
			  const char *key, const char *value)
{
	json_object *p = json_object_new_object();
	int rc;

	json_object_object_add(p, key, json_object_new_string(value));
	c->json = o->json;
	if ((rc = client_open(c, o->config)) == 0)
		rc = one_shot(c, verb, p, o->json);
	json_object_put(p);
	client_done(c);
	return rc;
}

static const char cancel_usage[] = "usage: varvault cancel JOB\n\nStops a queued or running job.\n";
static const char delete_usage[] =
	"usage: varvault delete --sample PSEUDONYM\n"
	"\n"
	"Destroys the sample's key, jobs and results on the appliance (crypto-shredding):\n"
	"its results can never be read again.  Needs a role allowed to delete (admin).\n";
static const char health_usage[] = "usage: varvault health\n\nChecks that varvaultd answers, with its queue.\n";

static int cmd_cancel(int argc, char **argv)
{
	struct client c = {.cmd = "varvault cancel"};
	struct vv_client_opts o;
	int rc;

	if ((rc = simple_args(argc, argv, c.cmd, cancel_usage, &o, 1)) != 0)
		return rc == VV_CLIENT_HELP_SHOWN ? VV_EXIT_OK : rc;
	return one_param_verb(&c, &o, VV_VERB_CANCEL, "job", argv[optind]);
}

static int cmd_delete(int argc, char **argv)
{
	struct client c = {.cmd = "varvault delete"};
	struct vv_client_opts o;
	int rc;

	if ((rc = simple_args(argc, argv, c.cmd, delete_usage, &o, 0)) != 0)
		return rc == VV_CLIENT_HELP_SHOWN ? VV_EXIT_OK : rc;
	if (!o.sample)
		return vv_cli_usage_error(c.cmd, "--sample is required");
	return one_param_verb(&c, &o, VV_VERB_DELETE, "sample", o.sample);
}

static int cmd_health(int argc, char **argv)
{
	struct client c = {.cmd = "varvault health"};
	struct vv_client_opts o;
	int rc;

	if ((rc = simple_args(argc, argv, c.cmd, health_usage, &o, 0)) != 0)
		return rc == VV_CLIENT_HELP_SHOWN ? VV_EXIT_OK : rc;
	c.json = o.json;
	if ((rc = client_open(&c, o.config)) == 0)
		rc = one_shot(&c, VV_VERB_HEALTH, NULL, o.json);
	client_done(&c);
	return rc;
}

/* ------------------------------------------------------------------ result */

static const char result_usage[] =
	"usage: varvault result JOB [-o OUT] [--format vcf|json|tsv] [--force]\n"
	"\n"
	"Fetches a finished job's result (default: the format it was submitted for) to\n"
	"OUT (mode 0600, appearing only once complete; --force replaces a file) or to\n"
	"standard output.  The result is held in locked memory until it is complete:\n"
	"a cut stream writes nothing.\n";

static int cmd_result(int argc, char **argv)
{
	struct client c = {.cmd = "varvault result"};
	struct vv_client_opts o;
	json_object *p = NULL;
	vv_net_response r;
	vv_sbuf res;
	size_t n;
	int rc;

	vv_sbuf_init(&res, 0);
	if ((rc = simple_args(argc, argv, c.cmd, result_usage, &o, 1)) != 0)
		return rc == VV_CLIENT_HELP_SHOWN ? VV_EXIT_OK : rc;
	c.json = o.json;
	p = json_object_new_object();
	json_object_object_add(p, "job", json_object_new_string(argv[optind]));
	if (o.format)
		json_object_object_add(p, "format", json_object_new_string(o.format));
	if ((rc = client_open(&c, o.config)) != 0 || (rc = vv_client_request(&c, VV_VERB_RESULT, p, &r)) != 0)
		goto out;
	vv_net_response_done(&r);
	do {
		if ((rc = vv_net_frame_read_sbuf(c.conn, &res, &n, IO_MS)) != 0) {
			rc = vv_client_fail(&c, VV_EXIT_FAIL, "result stream cut off: %s (nothing written)",
					 vv_strerror(rc));
			goto out;
		}
	} while (n > 0);
	if (!o.output || !strcmp(o.output, "-")) {
		rc = vv_write_all(1, res.data, res.len) ? vv_cli_fail(VV_ERR_IO, "stdout") : VV_EXIT_OK;
	} else {
		struct vv_outfile out;
		if ((rc = vv_outfile_open(&out, o.output, 0600, VV_OUTFILE_UNNAMED_ONLY)) == 0) {
			if ((rc = vv_outfile_write(&out, res.data, res.len)) != 0)
				vv_outfile_abort(&out, true);
			else
				rc = vv_outfile_commit(&out, o.force);
		}
		rc = rc ? vv_cli_fail(rc, "%s", o.output) : VV_EXIT_OK;
	}
out:
	vv_sbuf_done(&res);
	json_object_put(p);
	client_done(&c);
	return rc;
}

int vv_cmd_client(int argc, char **argv)
{
	static const struct {
		const char *name;
		vv_cli_fn fn;
	} verbs[] = {
		{"submit", cmd_submit}, {"status", cmd_status}, {"list", cmd_list},     {"result", cmd_result},
		{"cancel", cmd_cancel}, {"delete", cmd_delete}, {"health", cmd_health},
	};

	for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
		if (!strcmp(argv[0], verbs[i].name))
			return verbs[i].fn(argc, argv);
	return vv_cli_usage_error(argv[0], "unknown verb");
}

/* The helpers for the other client files (client.h). */
int vv_client_open(struct client *c, const char *config)
{
	return client_open(c, config);
}

void vv_client_done(struct client *c)
{
	client_done(c);
}

int vv_client_call(struct client *c, enum vv_net_verb verb, json_object *params, vv_net_response *r)
{
	return call(c, verb, params, r);
}

int vv_client_report(struct client *c, const vv_net_response *r)
{
	return report(c, r);
}

int vv_client_request(struct client *c, enum vv_net_verb verb, json_object *params, vv_net_response *r)
{
	int rc;

	if ((rc = call(c, verb, params, r)) != 0)
		return rc;
	if (!r->ok) {
		rc = report(c, r);
		vv_net_response_done(r);
	}
	return rc;
}
