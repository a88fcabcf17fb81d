/* The compliance report of `varvault audit report`: counts per actor,
 * action and outcome, activity over time, every denied and failed event,
 * and the checkpoint the records were verified against; as text or as one
 * self-contained HTML file (no network, no scripts, inline SVG charts). */
#ifndef VARVAULT_CLI_AUDIT_REPORT_H
#define VARVAULT_CLI_AUDIT_REPORT_H

#include <stdbool.h>
#include <stdio.h>

#include <json-c/json.h>

enum { VV_REPORT_TEXT = 0, VV_REPORT_HTML = 1 };

/*
 * Writes the report of records (a json-c array of the objects audit.query
 * returns: seq, time, event, action, actor{subject,fingerprint,role},
 * peer{uid,pid}, object{job,sample,...}, outcome, reason, request_id; any
 * key may be absent, and a record that is not an object is counted as
 * malformed and listed) to out.  checkpoint_text is the signed checkpoint
 * note the records were checked against (NULL: none) and checkpoint_verified
 * whether the client verified it (signature and consistency); since and
 * until (NULL: open) are printed as the period.  Every string from the
 * records is escaped for the format.  Returns 0, VV_ERR_INVAL (bad
 * arguments), VV_ERR_NOMEM or VV_ERR_IO (a write failed).
 */
int vv_cli_audit_report(FILE *out, int format, json_object *records, const char *checkpoint_text,
			bool checkpoint_verified, const char *since, const char *until);

#endif
