/* Private to src/cli: getting a passphrase without echoing or logging it. */
#ifndef VARVAULT_CLI_PASSPHRASE_H
#define VARVAULT_CLI_PASSPHRASE_H

#include <stdbool.h>

#include "varvault/core.h"

/* The environment variable the crypt4gh tool also reads. */
#define VV_PASSPHRASE_ENV "C4GH_PASSPHRASE"
/* Longest passphrase accepted, in bytes. */
#define VV_PASSPHRASE_MAX 4096

/*
 * Puts a passphrase into out (a secure buffer, contents replaced; the bytes
 * are followed by a NUL not counted in out->len).  Sources, first found:
 * file (one trailing newline removed), $C4GH_PASSPHRASE, then a prompt
 * naming what on the controlling terminal with echo off (asked twice when
 * confirm).  Returns 0, VV_ERR_KEY_NEEDPASS (no source: no file, no
 * variable, no terminal), VV_ERR_INVAL (the two entries differ), VV_ERR_IO,
 * VV_ERR_RANGE (longer than VV_PASSPHRASE_MAX).
 */
int vv_cli_passphrase(const char *file, const char *what, bool confirm, vv_sbuf *out) VV_MUST_CHECK;

#endif
