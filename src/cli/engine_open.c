/* The scoring engine (model, reference, precision and scorer) that
 * varvault-admin annotate and precompute take from the same options and
 * open the same way. */
#include "cli.h"

#include <stdint.h>
#include <string.h>

#include "varvault/vcf.h"

int vv_cli_engine_option(const char *cmd, int c, const char *arg, struct vv_cli_engine_opts *o)
{
	switch (c) {
	case VV_CLI_ENGINE_MODEL:
		o->model = arg;
		return 0;
	case VV_CLI_ENGINE_REFERENCE:
		o->reference = arg;
		return 0;
	case VV_CLI_ENGINE_WINDOW:
		if (!vv_cli_parse_size(arg, SIZE_MAX, &o->score.window_nt))
			return vv_cli_usage_error(cmd, "--window: expected a positive number, got '%s'", arg);
		return 0;
	case VV_CLI_ENGINE_BATCH:
		if (!vv_cli_parse_size(arg, SIZE_MAX, &o->score.batch))
			return vv_cli_usage_error(cmd, "--batch: expected a positive number, got '%s'", arg);
		return 0;
	case VV_CLI_ENGINE_PRECISION:
		if (vv_model_precision_parse(arg, &o->precision) != 0)
			return vv_cli_usage_error(cmd, "--precision: %s", vv_err_detail());
		return 0;
	default: /* '?' from getopt_long, which has printed which */
		return vv_cli_usage_error(cmd, "unknown option");
	}
}

int vv_cli_engine_open(const struct vv_cli_engine_opts *o, struct vv_cli_engine *e, const char **what)
{
	int rc;

	memset(e, 0, sizeof *e);
	if ((rc = vv_model_load(o->model, &e->model)) != 0 ||
	    (rc = vv_model_set_precision(e->model, o->precision, NULL)) != 0) {
		*what = o->model;
		goto out;
	}
	if ((rc = vv_ref_open(o->reference, &e->ref)) != 0) {
		*what = o->reference;
		goto out;
	}
	if ((rc = vv_scorer_new(e->model, &o->score, &e->sc)) != 0) {
		*what = "scorer";
		goto out;
	}
out:
	if (rc)
		vv_cli_engine_close(e);
	return rc;
}

void vv_cli_engine_close(struct vv_cli_engine *e)
{
	/* The scorer refers to the model: it goes first. */
	vv_scorer_free(e->sc);
	vv_ref_free(e->ref);
	vv_model_free(e->model);
	memset(e, 0, sizeof *e);
}
