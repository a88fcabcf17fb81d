/* Private to the varvault client (cmd_client.c, cmd_audit.c, witness.c):
 * one connection to varvaultd and the helpers every verb uses. */
#ifndef VARVAULT_CLI_CLIENT_H
#define VARVAULT_CLI_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include "varvault/core.h"
#include "varvault/net.h"

struct json_object;

/* Exit statuses beyond cli.h's (documented in varvault(1)). */
enum {
	EXIT_CONNECT = 3, /* no connection, or the TLS handshake or certificate was refused */
	EXIT_DENIED = 4,  /* the access policy refuses this identity or verb */
	EXIT_REFUSED = 5, /* the server refused the request (not found, bad state, bad input) */
	EXIT_JOB = 6,     /* the job failed or was cancelled */
	EXIT_WITNESS = 7, /* the audit log is not consistent with the checkpoint held here */
};

#define IO_MS 60000

struct client {
	char *socket, *ca, *cert, *key;
	vv_net_client *tls;
	vv_net_conn *conn;
	unsigned seq;
	bool json;
	const char *cmd;
	uint8_t *frame; /* VV_NET_FRAME_MAX */
	/* The checkpoint the witness check accepted on this connection. */
	char *audit_note, *audit_key;
};

/* The "common options" text of every verb's --help. */
extern const char *const vv_client_common_opts;

/* "CMD: error: ..." on stderr; returns code. */
int vv_client_fail(struct client *c, int code, const char *fmt, ...) VV_PRINTF(3, 4);
/* Loads the settings, connects, says hello and runs the witness check.
 * Returns 0 or an exit status (reported). */
int vv_client_open(struct client *c, const char *config);
void vv_client_done(struct client *c);
/* One request, one response (r released by the caller on 0); an exit
 * status (reported) on failure. */
int vv_client_call(struct client *c, enum vv_net_verb verb, struct json_object *params,
		   vv_net_response *r);
/* Reports a refused response; returns its exit status. */
int vv_client_report(struct client *c, const vv_net_response *r);
/* vv_client_call, and vv_client_report when the server refused: 0 with *r
 * an accepted answer (released by the caller), else an exit status
 * (reported; nothing to release). */
int vv_client_request(struct client *c, enum vv_net_verb verb, struct json_object *params, vv_net_response *r);

/* The options of the client's verbs (all but submit), parsed by
 * vv_client_args; an option a verb does not take stays NULL / false. */
struct vv_client_opts {
	const char *config, *format, *output, *sample;     /* --config --format -o/--output --sample */
	const char *since, *until, *actor, *action, *outcome; /* the audit filters */
	bool json, wait, force;
};
/* Which options a verb takes besides --config, --json and --help. */
enum {
	VV_CLIENT_OPT_WAIT = 1u << 0,
	VV_CLIENT_OPT_FORMAT = 1u << 1,
	VV_CLIENT_OPT_OUTPUT = 1u << 2,
	VV_CLIENT_OPT_SAMPLE = 1u << 3,
	VV_CLIENT_OPT_FORCE = 1u << 4,
	VV_CLIENT_OPT_FILTERS = 1u << 5, /* --since --until --actor --action --outcome */
};
/* What vv_client_args returns once it has printed --help: no exit status. */
#define VV_CLIENT_HELP_SHOWN 1000
/* Parses argv (from argv[1]) for the options in takes into *o; exactly
 * want_args words must remain (from argv[optind]), else a usage error that
 * says want_what (or "unexpected argument" when want_args is 0).  Returns
 * 0, VV_CLIENT_HELP_SHOWN after printing usage and the common options, or
 * a usage exit status (reported). */
int vv_client_args(int argc, char **argv, const char *cmd, const char *usage, unsigned takes,
		   struct vv_client_opts *o, int want_args, const char *want_what);

/*
 * The witness check (witness.c), run by vv_client_open on every connection:
 * asks audit.checkpoint for the latest checkpoint and a consistency proof
 * from the one this client holds for this appliance (under
 * $XDG_STATE_HOME/varvault/, else ~/.local/state/varvault/), checks its
 * signature with the key pinned at the first connection, and keeps it when
 * it is newer.  Returns 0, or EXIT_WITNESS after a loud error naming a
 * rolled-back, forked or re-keyed log.  A role not allowed the verb gets a
 * warning only.
 */
int vv_client_witness(struct client *c);

/* The commands of `varvault audit` (client_audit.c). */
int vv_cmd_client_audit(int argc, char **argv);

#endif
