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
