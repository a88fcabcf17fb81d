/*
 * varvault audit, the reading side the daemon serves to auditors: filtered,
 * paged scans of the stored records (audit.query, audit.export).  Part of
 * the audit module (src/audit/query.c); kept in its own header so that it
 * grew beside the writer without touching the writer's contract.
 *
 * Threads: as the rest of the module, one thread per connection at a time.
 */
#ifndef VARVAULT_AUDIT_QUERY_H
#define VARVAULT_AUDIT_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include "varvault/core.h"

struct sqlite3;

/* A filter; zero / NULL members do not filter. */
typedef struct vv_audit_filter {
	int64_t since_us;     /* records at or after (UTC microseconds) */
	int64_t until_us;     /* records before; 0: no bound */
	const char *actor;    /* the actor's subject, "CN=" + this, its fingerprint, or its role */
	const char *sample;   /* the object's sample pseudonym */
	const char *action;   /* the action ("submit", "job.failed", ...) */
	const char *outcome;  /* "ok", "denied", "failed" */
	uint64_t after;       /* only seq >= after (paging) */
	uint64_t before;      /* only seq < before; 0: no bound */
} vv_audit_filter;

/* Called per record, in seq order, with the stored leaf (canonical JSON,
 * not NUL-terminated, valid during the call).  Non-zero stops the scan
 * with that value. */
typedef int (*vv_audit_scan_fn)(void *ctx, uint64_t seq, const char *leaf, size_t len);

/*
 * Calls fn for at most max records (0: no limit) matching f, in seq order.
 * *next (may be NULL) gets the seq to pass as f->after for the next page
 * when max was reached and more may follow, else UINT64_MAX.  Returns the
 * number of records passed to fn, or < 0 (fn's error, VV_ERR_DB, ...).
 */
VV_EXPORT int64_t vv_audit_scan(struct sqlite3 *db, const vv_audit_filter *f, size_t max, vv_audit_scan_fn fn,
				void *ctx, uint64_t *next) VV_MUST_CHECK;

#endif
