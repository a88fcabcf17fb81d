/* varvault keygen, encrypt and decrypt: Crypt4GH from the command line,
 * with the crypt4gh tool's conventions (stdin and stdout by default,
 * C4GH_PASSPHRASE). */
#include "cli.h"
#include "passphrase.h"
#include "varvault/c4gh.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* decrypt to stdout holds the whole plaintext in secure memory until the
 * stream has authenticated; this is the default bound. */
#define DEFAULT_MAX_BUFFER ((size_t)1 << 30)

static const char keygen_help[] =
	"usage: varvault keygen --sk FILE --pk FILE [--nocrypt] [-C COMMENT] [--force]\n"
	"                       [--passphrase-file FILE]\n"
	"\n"
	"Makes a Crypt4GH X25519 key pair: the secret key (c4gh-v1, mode 0600) in\n"
	"--sk and the public key in --pk, two different files (not one file under\n"
	"two names).  The secret key is protected with a passphrase (scrypt, as\n"
	"crypt4gh-keygen does) unless --nocrypt is given.\n"
	"\n"
	"  --sk FILE               where to write the secret key\n"
	"  --pk FILE               where to write the public key\n"
	"  --nocrypt               write the secret key without a passphrase\n"
	"  -C, --comment TEXT      a comment stored in the secret key file\n"
	"  -f, --force             replace existing files (if the new pair cannot be\n"
	"                          written, the old one is left as it was)\n"
	"  --passphrase-file FILE  read the passphrase from FILE (one trailing newline\n"
	"                          is dropped); otherwise $C4GH_PASSPHRASE, otherwise\n"
	"                          asked twice on the terminal\n"
	"  -h, --help              this text\n"
	"\n"
	"Exit status: 0 done, 1 failed, 2 usage error, 130 interrupted at the\n"
	"passphrase prompt.\n";

static const char encrypt_help[] =
	"usage: varvault encrypt --recipient-pk PK [--recipient-pk PK ...] [--sk FILE]\n"
	"                        [--passphrase-file FILE] [-i IN] [-o OUT]\n"
	"\n"
	"Encrypts IN (default: stdin) to every recipient in Crypt4GH format and writes\n"
	"it to OUT (default: stdout).  OUT appears only once complete.\n"
	"\n"
	"  --recipient-pk PK       a recipient's public key file (repeatable)\n"
	"  --sk FILE               the sender's secret key; without it a fresh\n"
	"                          ephemeral key writes the header\n"
	"  --passphrase-file FILE  passphrase of --sk (else $C4GH_PASSPHRASE, else\n"
	"                          asked on the terminal, when the key has one)\n"
	"  -i, --input IN          the plaintext ('-': stdin)\n"
	"  -o, --output OUT        the Crypt4GH file ('-': stdout); replaced if it exists\n"
	"  -h, --help              this text\n"
	"\n"
	"--recipient_pk is accepted too.  Exit status: 0 done, 1 failed, 2 usage error,\n"
	"130 interrupted at the passphrase prompt.\n";

static const char decrypt_help[] =
	"usage: varvault decrypt --sk FILE [--sender-pk PK] [--passphrase-file FILE]\n"
	"                        [-i IN] [-o OUT] [--max-buffer SIZE]\n"
	"\n"
	"Decrypts the Crypt4GH file IN (default: stdin) with the secret key and\n"
	"writes the plaintext to OUT (default: stdout).  Nothing is handed on from a\n"
	"file that fails: OUT appears only after every segment has authenticated\n"
	"(a failure leaves no file), and output to stdout is held in secure memory\n"
	"until then (locked when RLIMIT_MEMLOCK allows; a warning says when not).\n"
	"\n"
	"  --sk FILE               the recipient's secret key\n"
	"  --sender-pk PK          accept only header packets written by this key\n"
	"  --passphrase-file FILE  passphrase of --sk (else $C4GH_PASSPHRASE, else\n"
	"                          asked on the terminal, when the key has one)\n"
	"  -i, --input IN          the Crypt4GH file ('-': stdin)\n"
	"  -o, --output OUT        the plaintext, mode 0600 ('-': stdout); replaced\n"
	"                          if it exists; its folder's file system must have\n"
	"                          O_TMPFILE (ext4, xfs, btrfs, tmpfs)\n"
	"  --max-buffer SIZE       most plaintext held for stdout (suffix K, M, G;\n"
	"                          default 1G); larger files need -o\n"
	"  -h, --help              this text\n"
	"\n"
	"--sender_pk is accepted too.  A file cut at a segment boundary, or with whole\n"
	"segments reordered, cannot be told from a genuine one (the format has no\n"
	"length or sequence numbers); compare a checksum sent alongside.\n"
	"Exit status: 0 done, 1 failed, 2 usage error, 130 interrupted at the\n"
	"passphrase prompt.\n";

/* Reports an option getopt refused. */
static int bad_option(const char *cmd, char **argv)
{
	return vv_cli_usage_error(cmd, "unknown option or missing argument: '%s'", argv[optind - 1]);
}

/* Commands that hold keys or plaintext: libsodium up, no core dumps. */
static int secret_command_start(void)
{
	int rc;

	if ((rc = vv_core_init()) != 0 || (rc = vv_harden_process()) != 0)
		return vv_cli_fail(rc, "start");
	return 0;
}

/* Loads a secret key, asking for its passphrase only if it has one. */
static int load_seckey(const char *path, const char *passfile, vv_c4gh_seckey **out)
{
	vv_sbuf pass;
	int rc;

	rc = vv_c4gh_seckey_load(path, NULL, 0, out);
	if (rc != VV_ERR_KEY_NEEDPASS)
		return rc;
	vv_err_clear(); /* an expected answer, handled here: not the detail of a later error */
	vv_sbuf_init(&pass, VV_PASSPHRASE_BUF);
	rc = vv_cli_passphrase(passfile, path, false, &pass);
	if (rc == 0)
		rc = vv_c4gh_seckey_load(path, (const char *)pass.data, pass.len, out);
	vv_sbuf_done(&pass);
	return rc;
}

static bool is_stdio(const char *path)
{
	return !path || strcmp(path, "-") == 0;
}

static int open_input(const char *path, int *fd)
{
	*fd = 0;
	if (is_stdio(path))
		return 0;
	if ((*fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0)
		return vv_errf(VV_ERR_IO, "%s: %s", path, strerror(errno));
	return 0;
}

static int fd_sink(void *ctx, const uint8_t *p, size_t n)
{
	return vv_write_all(*(const int *)ctx, p, n);
}

/* The plaintext that decrypt holds for stdout. */
struct held {
	vv_sbuf buf;
	bool warned; /* that it is not locked in memory */
};

static int held_sink(void *ctx, const uint8_t *p, size_t n)
{
	struct held *h = ctx;
	vv_sbuf *b = &h->buf;

	if (vv_sbuf_append(b, p, n) == 0) {
		if (!h->warned && !vv_sbuf_locked(b)) {
			h->warned = true;
			vv_log(VV_LOG_WARN,
			       "the plaintext held for stdout (%zu MiB so far) is larger than the "
			       "memory-lock limit allows (RLIMIT_MEMLOCK, 'ulimit -l'): it is not "
			       "locked and may reach swap; raise the limit, or decrypt with -o",
			       (b->len + (1u << 20) - 1) >> 20);
		}
		return 0;
	}
	if (n > b->max - b->len)
		return vv_errf(VV_ERR_RANGE,
			       "the plaintext is larger than --max-buffer (%zu bytes): write it to a "
			       "file with -o", b->max);
	return vv_errf(VV_ERR_NOMEM, "holding %zu bytes of plaintext for stdout", b->len + n);
}

/* ---- keygen ----------------------------------------------------------------- */

struct keygen_opts {
	const char *sk, *pk, *comment, *passfile;
	bool nocrypt, force;
};

/* Writes both files; each appears whole or not at all, and a failure
 * leaves an earlier pair as it was.  The public key is committed first and
 * the secret key last: should undoing the first fail too, what is left is
 * a new public key next to the old secret key, never the reverse. */
static int keygen_write(const struct keygen_opts *o, const vv_sbuf *sktext, const char *pktext)
{
	struct vv_outfile skf, pkf;
	int rc;

	if ((rc = vv_outfile_open(&skf, o->sk, 0600, 0)) != 0)
		return rc;
	if ((rc = vv_outfile_open(&pkf, o->pk, 0644, 0)) != 0) {
		vv_outfile_abort(&skf, true);
		return rc;
	}
	if ((rc = vv_outfile_write(&skf, sktext->data, sktext->len)) != 0 ||
	    (rc = vv_outfile_write(&pkf, pktext, strlen(pktext))) != 0) {
		vv_outfile_abort(&skf, true);
		vv_outfile_abort(&pkf, false);
		return rc;
	}
	return vv_outfile_commit_pair(&pkf, &skf, o->force);
}

int vv_cmd_keygen(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"sk", required_argument, NULL, 's'},
		{"pk", required_argument, NULL, 'p'},
		{"nocrypt", no_argument, NULL, 'n'},
		{"comment", required_argument, NULL, 'C'},
		{"force", no_argument, NULL, 'f'},
		{"passphrase-file", required_argument, NULL, 'P'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct keygen_opts o = {0};
	vv_c4gh_seckey *key = NULL;
	vv_sbuf pass, sktext;
	uint8_t pk[VV_C4GH_KEY_LEN];
	char pktext[VV_C4GH_PUBKEY_TEXT_MAX];
	int c, rc;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "C:fh", longopts, NULL)) != -1) {
		switch (c) {
		case 's': o.sk = optarg; break;
		case 'p': o.pk = optarg; break;
		case 'n': o.nocrypt = true; break;
		case 'C': o.comment = optarg; break;
		case 'f': o.force = true; break;
		case 'P': o.passfile = optarg; break;
		case 'h': fputs(keygen_help, stdout); return VV_EXIT_OK;
		default: return bad_option("varvault keygen", argv);
		}
	}
	if (optind < argc)
		return vv_cli_usage_error("varvault keygen", "unexpected argument '%s'", argv[optind]);
	if (!o.sk || !o.pk)
		return vv_cli_usage_error("varvault keygen", "--sk and --pk are both required");
	/* Not just the same string: "a.sec" and "./a.sec", links, a linked folder. */
	if (vv_outfile_same_file(o.sk, o.pk))
		return vv_cli_usage_error("varvault keygen", "--sk and --pk name the same file");
	if ((rc = secret_command_start()) != 0)
		return rc;
	for (int i = 0; i < 2 && !o.force; i++) {
		const char *path = i ? o.pk : o.sk;
		if (access(path, F_OK) == 0)
			return vv_cli_fail(vv_errf(VV_ERR_EXISTS, "%s (--force replaces it)", path),
					   "keygen");
	}
	vv_sbuf_init(&pass, VV_PASSPHRASE_BUF);
	vv_sbuf_init(&sktext, VV_C4GH_KEYFILE_MAX);
	if (!o.nocrypt) {
		if ((rc = vv_cli_passphrase(o.passfile, "the new secret key", true, &pass)) != 0)
			goto out;
		if (pass.len == 0) {
			rc = vv_errf(VV_ERR_INVAL, "an empty passphrase; use --nocrypt for a key without one");
			goto out;
		}
	}
	if ((rc = vv_c4gh_seckey_generate(&key)) != 0 ||
	    (rc = vv_c4gh_seckey_write(key, o.nocrypt ? NULL : (const char *)pass.data, pass.len,
				       o.comment, &sktext)) != 0)
		goto out;
	vv_c4gh_seckey_pubkey(key, pk);
	if ((rc = vv_c4gh_pubkey_format(pk, pktext, sizeof pktext)) != 0)
		goto out;
	rc = keygen_write(&o, &sktext, pktext);
out:
	vv_c4gh_seckey_free(key);
	vv_sbuf_done(&pass);
	vv_sbuf_done(&sktext);
	return rc ? vv_cli_fail(rc, "keygen") : VV_EXIT_OK;
}

/* ---- encrypt ---------------------------------------------------------------- */

int vv_cmd_encrypt(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"recipient-pk", required_argument, NULL, 'r'},
		{"recipient_pk", required_argument, NULL, 'r'},
		{"sk", required_argument, NULL, 's'},
		{"passphrase-file", required_argument, NULL, 'P'},
		{"input", required_argument, NULL, 'i'},
		{"output", required_argument, NULL, 'o'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *recipient[VV_C4GH_MAX_RECIPIENTS];
	const char *sk = NULL, *passfile = NULL, *in = NULL, *outpath = NULL;
	uint8_t *pks = NULL;
	vv_c4gh_seckey *sender = NULL;
	struct vv_outfile of = {.fd = -1};
	size_t n = 0;
	int c, rc, fd = 0, out_fd = 1;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "i:o:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'r':
			if (n == VV_C4GH_MAX_RECIPIENTS)
				return vv_cli_usage_error("varvault encrypt", "more than %d recipients",
							  VV_C4GH_MAX_RECIPIENTS);
			recipient[n++] = optarg;
			break;
		case 's': sk = optarg; break;
		case 'P': passfile = optarg; break;
		case 'i': in = optarg; break;
		case 'o': outpath = optarg; break;
		case 'h': fputs(encrypt_help, stdout); return VV_EXIT_OK;
		default: return bad_option("varvault encrypt", argv);
		}
	}
	if (optind < argc)
		return vv_cli_usage_error("varvault encrypt", "unexpected argument '%s'", argv[optind]);
	if (n == 0)
		return vv_cli_usage_error("varvault encrypt", "at least one --recipient-pk is required");
	if ((rc = secret_command_start()) != 0)
		return rc;
	if ((pks = malloc(n * VV_C4GH_KEY_LEN)) == NULL) {
		rc = vv_errf(VV_ERR_NOMEM, "%zu recipient keys", n);
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if ((rc = vv_c4gh_pubkey_load(recipient[i], pks + i * VV_C4GH_KEY_LEN)) != 0)
			goto out;
	if (sk && (rc = load_seckey(sk, passfile, &sender)) != 0)
		goto out;
	if ((rc = open_input(in, &fd)) != 0)
		goto out;
	if (is_stdio(outpath)) {
		rc = vv_c4gh_encrypt_fd(fd, sender, pks, n, fd_sink, &out_fd);
	} else if ((rc = vv_outfile_open(&of, outpath, 0666, 0)) == 0) {
		rc = vv_c4gh_encrypt_fd(fd, sender, pks, n, vv_outfile_sink, &of);
		if (rc == 0)
			rc = vv_outfile_commit(&of, true);
		else
			vv_outfile_abort(&of, false);
	}
out:
	if (fd > 0)
		close(fd);
	free(pks);
	vv_c4gh_seckey_free(sender);
	return rc ? vv_cli_fail(rc, "encrypt %s", is_stdio(in) ? "stdin" : in) : VV_EXIT_OK;
}

/* ---- decrypt ---------------------------------------------------------------- */

/* Decrypts fd to stdout, holding the plaintext in secure memory until the
 * stream has authenticated; warns once if that memory cannot be locked. */
static int decrypt_to_stdout(int fd, const vv_c4gh_seckey *key, const uint8_t *writer,
			     size_t max)
{
	struct held plain = {.warned = false};
	int rc;

	vv_sbuf_init(&plain.buf, max);
	rc = vv_c4gh_decrypt_fd(fd, key, writer, held_sink, &plain);
	if (rc == 0)
		rc = vv_write_all(1, plain.buf.data, plain.buf.len);
	vv_sbuf_done(&plain.buf); /* wipes */
	return rc;
}

/* Decrypts fd into path, which appears only once the stream authenticated;
 * on failure what was written is overwritten and dropped. */
static int decrypt_to_file(int fd, const vv_c4gh_seckey *key, const uint8_t *writer,
			   const char *path)
{
	struct vv_outfile of;
	int rc;

	if ((rc = vv_outfile_open(&of, path, 0600, VV_OUTFILE_UNNAMED_ONLY)) != 0)
		return rc;
	rc = vv_c4gh_decrypt_fd(fd, key, writer, vv_outfile_sink, &of);
	if (rc == 0)
		return vv_outfile_commit(&of, true);
	vv_outfile_abort(&of, true);
	return rc;
}

int vv_cmd_decrypt(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"sk", required_argument, NULL, 's'},
		{"sender-pk", required_argument, NULL, 'w'},
		{"sender_pk", required_argument, NULL, 'w'},
		{"passphrase-file", required_argument, NULL, 'P'},
		{"input", required_argument, NULL, 'i'},
		{"output", required_argument, NULL, 'o'},
		{"max-buffer", required_argument, NULL, 'b'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *sk = NULL, *sender = NULL, *passfile = NULL, *in = NULL, *outpath = NULL;
	size_t max = DEFAULT_MAX_BUFFER;
	vv_c4gh_seckey *key = NULL;
	uint8_t writer[VV_C4GH_KEY_LEN];
	int c, rc, fd = 0;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "i:o:h", longopts, NULL)) != -1) {
		switch (c) {
		case 's': sk = optarg; break;
		case 'w': sender = optarg; break;
		case 'P': passfile = optarg; break;
		case 'i': in = optarg; break;
		case 'o': outpath = optarg; break;
		case 'b':
			if (!vv_cli_parse_size(optarg, SIZE_MAX, &max))
				return vv_cli_usage_error("varvault decrypt", "--max-buffer: not a size: '%s'",
							  optarg);
			break;
		case 'h': fputs(decrypt_help, stdout); return VV_EXIT_OK;
		default: return bad_option("varvault decrypt", argv);
		}
	}
	if (optind < argc)
		return vv_cli_usage_error("varvault decrypt", "unexpected argument '%s'", argv[optind]);
	if (!sk)
		return vv_cli_usage_error("varvault decrypt", "--sk is required");
	if ((rc = secret_command_start()) != 0)
		return rc;
	if ((sender && (rc = vv_c4gh_pubkey_load(sender, writer)) != 0) ||
	    (rc = load_seckey(sk, passfile, &key)) != 0 || (rc = open_input(in, &fd)) != 0)
		goto out;
	if (is_stdio(outpath))
		rc = decrypt_to_stdout(fd, key, sender ? writer : NULL, max);
	else
		rc = decrypt_to_file(fd, key, sender ? writer : NULL, outpath);
out:
	if (fd > 0)
		close(fd);
	vv_c4gh_seckey_free(key);
	return rc ? vv_cli_fail(rc, "decrypt %s", is_stdio(in) ? "stdin" : in) : VV_EXIT_OK;
}
