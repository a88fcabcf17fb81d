/* Private to src/cli: output files that appear whole or not at all. */
#ifndef VARVAULT_CLI_OUTFILE_H
#define VARVAULT_CLI_OUTFILE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "varvault/core.h"

/* An output file being written: unnamed (O_TMPFILE) in the target's folder
 * until committed, or, where the file system lacks O_TMPFILE and the caller
 * allows it, under a hidden temporary name that abort removes. */
struct vv_cli_out {
	int fd;            /* -1 once closed */
	char *path;        /* the final name */
	char *tmp;         /* the temporary name of the fallback, or NULL */
	uint64_t written;  /* bytes written so far */
};

/* Flags of vv_cli_out_open. */
enum {
	/* Never under a temporary name: for plaintext, which a crash must not
	 * leave in a named file (it may not even have authenticated yet).  Where
	 * the file system lacks O_TMPFILE, open fails instead of falling back. */
	VV_CLI_OUT_UNNAMED_ONLY = 1u << 0,
};

/* Starts writing what will become path, with permissions mode (less the
 * umask), as flags say.  Returns 0, VV_ERR_IO (errno kept), VV_ERR_NOMEM, or
 * VV_ERR_UNSUPPORTED (VV_CLI_OUT_UNNAMED_ONLY on a file system without
 * O_TMPFILE); on failure out holds nothing to release. */
int vv_cli_out_open(struct vv_cli_out *out, const char *path, mode_t mode,
		    unsigned flags) VV_MUST_CHECK;

/* Appends n bytes.  Returns 0 or VV_ERR_IO. */
int vv_cli_out_write(struct vv_cli_out *out, const void *p, size_t n) VV_MUST_CHECK;

/* Flushes the file to disk and gives it its name.  With replace an existing
 * file of that name is replaced atomically; without, an existing one makes
 * it fail with VV_ERR_EXISTS.  Either way out is released; on failure no
 * file is left.  Once the file has its name, a failing close() is only
 * warned about: the data was synced.  Returns 0, VV_ERR_EXISTS or
 * VV_ERR_IO. */
int vv_cli_out_commit(struct vv_cli_out *out, bool replace) VV_MUST_CHECK;

/*
 * Commits two files that belong together (a key pair): first, then last,
 * each as vv_cli_out_commit does.  If last cannot be committed, first is
 * undone: with replace the file it replaced was kept under a hidden name
 * (a hard link) and is put back; without, the new file is removed if path
 * still names it.  So a failure leaves both names as they were (unless
 * putting back fails too, which is reported).  Refuses (VV_ERR_INVAL, first
 * undone) when last names the file first has just become, and reports it
 * when, once committed, the two paths turn out to be one directory entry
 * (a case-insensitive file system, a folder swapped meanwhile).  Both outs
 * are released.  Returns 0, VV_ERR_INVAL, or the errors of
 * vv_cli_out_commit (VV_ERR_IO also when the old first file cannot be kept).
 */
int vv_cli_out_commit_pair(struct vv_cli_out *first, struct vv_cli_out *last,
			   bool replace) VV_MUST_CHECK;

/* Whether paths a and b name the same file: the same name in the same
 * folder (resolved with realpath, so "a.sec", "./a.sec" and a path through a
 * symbolic link to the folder match), or, for files that exist, the same
 * file (st_dev, st_ino) through a symbolic or a hard link. */
bool vv_cli_same_file(const char *a, const char *b);

/* Drops the file: nothing appears under path.  With wipe, the whole file
 * (its real size, also bytes of a write that failed midway) is first
 * overwritten with zeros (best effort: a copy-on-write or flash file system
 * may keep the old blocks).  Releases out; safe to call twice. */
void vv_cli_out_abort(struct vv_cli_out *out, bool wipe);

/* A vv_c4gh_sink_fn-shaped writer: ctx is a struct vv_cli_out. */
int vv_cli_out_sink(void *ctx, const uint8_t *p, size_t n);

#endif
