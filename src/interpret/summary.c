/* The summary of a job (counts and timings, no patient data) as JSON. */
#include "varvault/interpret.h"

#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

int vv_interpret_summary_json(const struct vv_interpret_summary *s, char **out)
{
	json_object *o = json_object_new_object(), *ev = json_object_new_object();
	const char *text;
	int rc = 0;

	*out = NULL;
	if (!o || !ev) {
		json_object_put(ev);
		rc = vv_errf(VV_ERR_NOMEM, "the summary");
		goto out;
	}
	json_object_object_add(o, "records", json_object_new_int64((int64_t)s->records));
	json_object_object_add(o, "variants", json_object_new_int64((int64_t)s->variants));
	json_object_object_add(o, "scored", json_object_new_int64((int64_t)s->scored));
	json_object_object_add(o, "not_scored", json_object_new_int64((int64_t)s->not_scored));
	json_object_object_add(o, "input_warnings", json_object_new_int64((int64_t)s->warnings));
	json_object_object_add(o, "engine_seconds", json_object_new_double(s->engine_seconds));
	json_object_object_add(o, "total_seconds", json_object_new_double(s->total_seconds));
	for (int e = VV_EV_NONE; e <= VV_EV_BP4_STRONG; e++)
		json_object_object_add(ev, vv_evidence_name((enum vv_evidence)e),
				       json_object_new_int64((int64_t)s->evidence[e]));
	json_object_object_add(o, "evidence", ev);
	/* The text is owned by o. */
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY);
	if (!text || (*out = strdup(text)) == NULL)
		rc = vv_errf(VV_ERR_NOMEM, "the summary");
out:
	json_object_put(o);
	return rc;
}
