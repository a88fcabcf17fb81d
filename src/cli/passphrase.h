/* Private to src/cli: getting a passphrase without echoing or logging it. */
#ifndef VARVAULT_CLI_PASSPHRASE_H
#define VARVAULT_CLI_PASSPHRASE_H

#include <stdbool.h>

#include "varvault/core.h"

/* The environment variable the crypt4gh tool also reads. */
#define VV_PASSPHRASE_ENV "C4GH_PASSPHRASE"
/* Longest passphrase accepted, in bytes. */
#define VV_PASSPHRASE_MAX 4096
/* The max to give the secure buffer that receives one: the longest
 * passphrase, a CRLF read with it, and a NUL. */
#define VV_PASSPHRASE_BUF (VV_PASSPHRASE_MAX + 3)

/*
 * Puts a passphrase into out (a secure buffer of max VV_PASSPHRASE_BUF,
 * contents replaced; the bytes are followed by a NUL not counted in
 * out->len).  Sources, first found: file (one trailing newline removed),
 * $C4GH_PASSPHRASE (removed from the environment once read), then a prompt
 * naming what on the controlling terminal with echo off (asked twice when
 * confirm).  While the prompt waits, Ctrl-C (SIGINT) ends it: the terminal
 * is restored and VV_ERR_CANCELLED returned.  SIGTERM, SIGHUP and SIGQUIT
 * end it too and are raised again once the terminal is restored; SIGTSTP
 * waits until then.  Returns 0,
 * VV_ERR_KEY_NEEDPASS (no source: no file, no variable, no terminal),
 * VV_ERR_INVAL (the two entries differ), VV_ERR_IO, VV_ERR_RANGE (longer
 * than VV_PASSPHRASE_MAX), VV_ERR_CANCELLED; on failure out is wiped.
 * Not thread-safe (signal dispositions and the environment).
 */
int vv_cli_passphrase(const char *file, const char *what, bool confirm, vv_sbuf *out) VV_MUST_CHECK;

#endif
