/* Private to src/cli: the command table and helpers shared by the two
 * programs, varvault and varvault-admin. */
#ifndef VARVAULT_CLI_H
#define VARVAULT_CLI_H

#include <sys/types.h>

#include "varvault/core.h"
#include "varvault/interpret.h"
#include "varvault/model.h"

/* Exit statuses of every command; 130 (128 + SIGINT, as a shell reports a
 * process that Ctrl-C ended) when the user interrupted a prompt. */
enum { VV_EXIT_OK = 0, VV_EXIT_FAIL = 1, VV_EXIT_USAGE = 2, VV_EXIT_CANCELLED = 130 };

/* What a command's option parser returns after printing --help: neither an
 * exit status nor a VV_ERR_* (the command then exits VV_EXIT_OK). */
#define VV_CLI_HELP_SHOWN 1000

/* A command receives argv with argv[0] set to its own name ("keygen") and
 * returns an exit status.  It prints its own --help. */
typedef int (*vv_cli_fn)(int argc, char **argv);

struct vv_cli_cmd {
	const char *name;
	vv_cli_fn fn;
	const char *summary;
};

/* Runs the command named by argv[1] from the table, with no error detail
 * left from before; handles --help, --version and unknown commands.
 * Returns the exit status. */
int vv_cli_dispatch(const char *prog, const struct vv_cli_cmd *cmds, size_t ncmds,
		    int argc, char **argv);

/* Prints "prog cmd: msg" and a pointer to --help on stderr; returns
 * VV_EXIT_USAGE. */
int vv_cli_usage_error(const char *cmd, const char *fmt, ...) VV_PRINTF(2, 3);

/* Parses a positive count or size for an option: decimal digits first
 * ("-1" and " 1" are refused: strtoull would skip the space and negate),
 * with an optional K, M or G suffix (powers of 1024).  True with *out in
 * 1..max; false, *out untouched, otherwise (the caller reports the usage
 * error). */
bool vv_cli_parse_size(const char *s, size_t max, size_t *out) VV_MUST_CHECK;

/* Reports a failed library call as "what: <strerror>: <detail>" and returns
 * VV_EXIT_FAIL, or VV_EXIT_CANCELLED for VV_ERR_CANCELLED. */
int vv_cli_fail(int err, const char *fmt, ...) VV_PRINTF(2, 3);

/* The scoring engine of annotate and precompute (engine_open.c): the
 * model, its precision, the reference and a scorer, opened from the same
 * options with the same messages. */
struct vv_cli_engine_opts {
	const char *model, *reference;      /* --model DIR, --reference FASTA */
	enum vv_model_precision precision;  /* --precision */
	struct vv_score_opts score;         /* --window, --batch; the rest the command's */
};

struct vv_cli_engine {
	vv_model *model;
	struct vv_ref *ref;
	vv_scorer *sc;
};

/* getopt_long codes of the engine's options, and their entries for a
 * command's struct option table (<getopt.h>).  --threads is listed here but
 * parsed by each command, which words its limit in its own way. */
enum {
	VV_CLI_ENGINE_MODEL = 'm',
	VV_CLI_ENGINE_REFERENCE = 'r',
	VV_CLI_ENGINE_WINDOW = 'w',
	VV_CLI_ENGINE_BATCH = 'b',
	VV_CLI_ENGINE_THREADS = 't',
	VV_CLI_ENGINE_PRECISION = 'P',
};
#define VV_CLI_ENGINE_LONGOPTS                                              \
	{"model", required_argument, NULL, VV_CLI_ENGINE_MODEL},            \
	{"reference", required_argument, NULL, VV_CLI_ENGINE_REFERENCE},    \
	{"window", required_argument, NULL, VV_CLI_ENGINE_WINDOW},          \
	{"batch", required_argument, NULL, VV_CLI_ENGINE_BATCH},            \
	{"threads", required_argument, NULL, VV_CLI_ENGINE_THREADS},        \
	{"precision", required_argument, NULL, VV_CLI_ENGINE_PRECISION}

/* Takes option c, as getopt_long returned it, with argument arg into o: for
 * a command's `default:`, after its own options.  Returns 0 when c is
 * --model, --reference, --window, --batch or --precision and arg is good;
 * VV_EXIT_USAGE after reporting for cmd a bad argument, or "unknown option"
 * for any other c ('?' included). */
int vv_cli_engine_option(const char *cmd, int c, const char *arg, struct vv_cli_engine_opts *o);

/* Loads the model at o->model with o->precision, opens o->reference and
 * makes a scorer with o->score, into *e (zeroed first).  Returns 0, or a
 * negative VV_ERR_* with *what set to the file (or "scorer") that failed,
 * for vv_cli_fail, and *e closed and zeroed.  Not thread-safe. */
int vv_cli_engine_open(const struct vv_cli_engine_opts *o, struct vv_cli_engine *e,
		       const char **what) VV_MUST_CHECK;

/* Frees what vv_cli_engine_open opened (scorer, reference, model) and zeroes
 * *e; safe on a zeroed or already closed engine. */
void vv_cli_engine_close(struct vv_cli_engine *e);

/* Commands of varvault (the client). */
/* Crypt4GH (cmd_c4gh.c): keygen, encrypt, decrypt. */
int vv_cmd_keygen(int argc, char **argv);
int vv_cmd_encrypt(int argc, char **argv);
int vv_cmd_decrypt(int argc, char **argv);
/* The appliance's client verbs (cmd_client.c): submit, status, list,
 * result, cancel, delete, health; argv[0] names the verb. */
int vv_cmd_client(int argc, char **argv);
/* Commands of varvault-admin. */
int vv_cmd_model(int argc, char **argv);   /* cmd_model.c */
int vv_cmd_annotate(int argc, char **argv); /* cmd_annotate.c */
int vv_cmd_precompute(int argc, char **argv); /* cmd_precompute.c */
/* The appliance (cmd_admin.c): init, client issue|revoke|list, and model
 * with "import" added to vv_cmd_model's subcommands. */
int vv_cmd_admin_init(int argc, char **argv);
int vv_cmd_admin_client(int argc, char **argv);
int vv_cmd_admin_model(int argc, char **argv);
/* The audit log's keys (admin_audit_keys.c), for init and audit keygen: a
 * signed-note key pair named name (the signing key 0600, the verifier key
 * vkey_mode) and k0, 64 hex digits (0600), each file ending in a newline.
 * *vkey_out (may be NULL) gets the verifier key (malloc'd, no newline).
 * Refuses (VV_ERR_EXISTS) when any of the three exists. */
int vv_cli_audit_keys_make(const char *name, const char *skey_path, const char *vkey_path, const char *k0_path,
			   mode_t vkey_mode, char **vkey_out) VV_MUST_CHECK;
/* The audit log's keys and offline verifier (cmd_audit.c). */
int vv_cmd_admin_audit(int argc, char **argv);

#endif
