/* The three outputs of a job: annotated VCF (through the vcf module's
 * writer), JSON (schema docs/schema/result.schema.json) and TSV.  Every one
 * records the model, reference and policy it came from, and says when the
 * policy is uncalibrated. */
#include "interpret_int.h"

#include <json-c/json.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* Scores are printed with 6 decimals, so that outputs are stable text. */
#define VV_SCORE_FMT "%.6f"

/* A name from a model's config or a policy, made safe for a quoted VCF
 * header value and a TSV comment: anything but letters, digits and
 * ._-+/:@ becomes '_' (quotes, backslashes, newlines, tabs), and it is cut
 * to fit out.  JSON output keeps the names as they are (json-c escapes). */
static const char *vv_safe_name(const char *in, char *out, size_t cap)
{
	size_t n = 0;

	for (; *in && n + 1 < cap; in++, n++) {
		unsigned char c = (unsigned char)*in;
		out[n] = (isalnum(c) || strchr("._-+/:@", c)) && c < 128 ? (char)c : '_';
	}
	out[n] = '\0';
	return out;
}

static const char *vv_calibration_note(const vv_policy *p)
{
	return vv_policy_calibrated(p) ? "calibrated" : "uncalibrated";
}

/* ---- VCF ---- */

static int vv_vcf_begin(struct vv_job *j, struct vv_out *s)
{
	static const struct {
		const char *id, *number;
		enum vv_vcf_type type;
		const char *desc;
	} fields[] = {
		{"VV_LLR", "1", VV_VCF_FLOAT,
		 "varvault score, natural-log likelihood ratio of ALT against REF; method in VV_METHOD"},
		{"VV_METHOD", "1", VV_VCF_STRING,
		 "varvault scoring method: masked_llr (SNV) or local_pll_mean (other variants)"},
		{"VV_EVIDENCE", "1", VV_VCF_STRING,
		 "ACMG/AMP computational evidence from the varvault policy: PP3_* or BP4_* or none"},
		{"VV_UNCALIBRATED", "0", VV_VCF_FLAG,
		 "The evidence policy has no calibration source: not for clinical use as is"},
		{"VV_STATUS", "1", VV_VCF_STRING, "Why varvault did not score this variant"},
	};
	char line[1024], model[128], policy[128], source[128], ref[128];
	int rc;

	vv_safe_name(vv_ref_name(j->ref), ref, sizeof ref);
	vv_safe_name(j->mi->name, model, sizeof model);
	vv_safe_name(vv_policy_name(j->p), policy, sizeof policy);
	vv_safe_name(vv_policy_source(j->p), source, sizeof source);
	if ((rc = vv_vcf_writer_new(j->r, -1, j->o->max_out, &s->w)) != 0 ||
	    (rc = vv_vcf_writer_warnings_from(s->w, j->scan)) != 0)
		return rc;
	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
		if ((rc = vv_vcf_writer_declare_info(s->w, fields[i].id, fields[i].number, fields[i].type,
						     fields[i].desc)) != 0)
			return rc;
#define VV_HDR(...)                                                        \
	do {                                                               \
		int n_ = snprintf(line, sizeof line, __VA_ARGS__);          \
		if (n_ < 0 || (size_t)n_ >= sizeof line)                    \
			return vv_errf(VV_ERR_INTERNAL, "output: header line too long"); \
		if ((rc = vv_vcf_writer_header_line(s->w, line)) != 0)      \
			return rc;                                         \
	} while (0)
	VV_HDR("##varvault_version=%s", VV_VERSION);
	VV_HDR("##varvault_model=<Name=\"%s\",SHA256=%s,Architecture=%s,Tokenizer=%s,K=%d>",
	       model, j->mi->sha256, vv_model_arch_name(j->mi->arch),
	       vv_model_tok_name(j->mi->tokenizer), j->mi->k);
	VV_HDR("##varvault_reference=<Name=\"%s\",MD5=%s>", ref, j->ref_md5);
	VV_HDR("##varvault_policy=<Name=\"%s\",SHA256=%s,Calibrated=%s,CalibrationSource=\"%s\">",
	       policy, vv_policy_sha256(j->p), vv_policy_calibrated(j->p) ? "yes" : "no", source);
	VV_HDR("##varvault_scoring=<WindowNt=%zu,SNV=%s,Other=%s,IndelFlankNt=%zu>",
	       vv_scorer_window(j->sc), vv_score_method_name(VV_SCORE_MASKED_LLR),
	       vv_score_method_name(vv_scorer_indel_method(j->sc)), vv_scorer_flank(j->sc));
	if (!vv_policy_calibrated(j->p))
		VV_HDR("##varvault_calibration=UNCALIBRATED: the evidence thresholds have no calibration "
		       "source; VV_EVIDENCE is not clinical evidence until they are calibrated");
#undef VV_HDR
	return 0;
}

static int vv_vcf_variant(struct vv_job *j, struct vv_out *s, const struct vv_item *it)
{
	vv_vcf_info info[4];
	size_t n = 0;
	float score;

	if (!isnan(it->score)) {
		score = (float)it->score;
		info[n++] = (vv_vcf_info){.id = "VV_LLR", .floats = &score, .n = 1};
		info[n++] = (vv_vcf_info){.id = "VV_METHOD", .str = vv_score_method_name(it->method)};
		info[n++] = (vv_vcf_info){.id = "VV_EVIDENCE", .str = vv_evidence_name(it->ev)};
		if (!vv_policy_calibrated(j->p) && it->ev != VV_EV_NONE)
			info[n++] = (vv_vcf_info){.id = "VV_UNCALIBRATED"};
	} else {
		info[n++] = (vv_vcf_info){.id = "VV_STATUS", .str = it->status};
	}
	return vv_vcf_writer_write(s->w, it->v, info, n);
}

/* A chunk ends at a BGZF block boundary; records the sort window holds go
 * with the next chunk. */
static int vv_vcf_cut(struct vv_job *j, struct vv_out *s)
{
	(void)j;
	return vv_vcf_writer_flush(s->w, s->buf);
}

static int vv_vcf_end(struct vv_job *j, struct vv_out *s)
{
	vv_sbuf rest;
	int rc;

	(void)j;
	/* finish hands over everything since the last cut */
	vv_sbuf_init(&rest, 0);
	if ((rc = vv_vcf_writer_finish(s->w, &rest)) == 0)
		rc = vv_sbuf_append(s->buf, rest.data, rest.len);
	vv_sbuf_done(&rest);
	return rc;
}

const struct vv_sink vv_interpret_sink_vcf = {vv_vcf_begin, vv_vcf_variant, vv_vcf_cut, vv_vcf_end,
					       vv_vcf_variant};

/* ---- JSON ---- */

/* Appends obj's text to the output and releases obj. */
static int vv_put_json(struct vv_job *j, struct vv_out *so, json_object *obj)
{
	const char *s;
	int rc;

	if (!obj)
		return VV_ERR_NOMEM;
	s = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	rc = s ? vv_interpret_put(j, so, s, strlen(s)) : VV_ERR_NOMEM;
	json_object_put(obj);
	return rc;
}

static json_object *vv_json_score(double v)
{
	char buf[64];

	snprintf(buf, sizeof buf, VV_SCORE_FMT, v);
	return json_object_new_double_s(v, buf);
}

static json_object *vv_json_provenance(struct vv_job *j)
{
	json_object *prov = json_object_new_object(), *o;

	o = json_object_new_object();
	json_object_object_add(o, "name", json_object_new_string(j->mi->name));
	json_object_object_add(o, "sha256", json_object_new_string(j->mi->sha256));
	json_object_object_add(o, "architecture", json_object_new_string(vv_model_arch_name(j->mi->arch)));
	json_object_object_add(o, "tokenizer", json_object_new_string(vv_model_tok_name(j->mi->tokenizer)));
	json_object_object_add(prov, "model", o);
	o = json_object_new_object();
	json_object_object_add(o, "name", json_object_new_string(vv_ref_name(j->ref)));
	json_object_object_add(o, "md5", json_object_new_string(j->ref_md5));
	json_object_object_add(prov, "reference", o);
	o = json_object_new_object();
	json_object_object_add(o, "name", json_object_new_string(vv_policy_name(j->p)));
	json_object_object_add(o, "sha256", json_object_new_string(vv_policy_sha256(j->p)));
	json_object_object_add(o, "calibrated", json_object_new_boolean(vv_policy_calibrated(j->p)));
	json_object_object_add(o, "calibration_source", json_object_new_string(vv_policy_source(j->p)));
	json_object_object_add(prov, "policy", o);
	o = json_object_new_object();
	json_object_object_add(o, "window_nt", json_object_new_int64((int64_t)vv_scorer_window(j->sc)));
	json_object_object_add(o, "snv_method", json_object_new_string(vv_score_method_name(VV_SCORE_MASKED_LLR)));
	json_object_object_add(o, "indel_method", json_object_new_string(vv_score_method_name(vv_scorer_indel_method(j->sc))));
	json_object_object_add(o, "indel_flank_nt", json_object_new_int64((int64_t)vv_scorer_flank(j->sc)));
	json_object_object_add(prov, "scoring", o);
	return prov;
}

static int vv_json_begin(struct vv_job *j, struct vv_out *s)
{
	int rc;

	if ((rc = vv_interpret_putf(j, s, "{\"format\":\"varvault-result/1\",\"varvault_version\":\"%s\","
				       "\"provenance\":", VV_VERSION)) != 0 ||
	    (rc = vv_put_json(j, s, vv_json_provenance(j))) != 0)
		return rc;
	return vv_interpret_putf(j, s, ",\"variants\":[\n");
}

/* "line 12, field INFO/DP: message (KIND)": places, never values. */
static json_object *vv_json_warning(const vv_vcf_warning *w)
{
	char buf[320];

	snprintf(buf, sizeof buf, "line %llu, field %s: %s (%s)", (unsigned long long)w->line, w->field,
		 w->message, vv_vcf_warn_name(w->kind));
	return json_object_new_string(buf);
}

static int vv_json_variant(struct vv_job *j, struct vv_out *s, const struct vv_item *it)
{
	const vv_vcf_var *v = it->v;
	json_object *o = json_object_new_object(), *ws;
	int rc;

	if (!o)
		return VV_ERR_NOMEM;
	json_object_object_add(o, "chrom", json_object_new_string(vv_vcf_var_contig(v)));
	json_object_object_add(o, "pos", json_object_new_int64(vv_vcf_var_pos(v)));
	json_object_object_add(o, "ref", json_object_new_string(vv_vcf_var_ref(v)));
	json_object_object_add(o, "alt", json_object_new_string(vv_vcf_var_alt(v)));
	json_object_object_add(o, "source_line", json_object_new_int64((int64_t)(vv_vcf_var_line(v) ?
				vv_vcf_var_line(v) : vv_vcf_var_record(v))));
	json_object_object_add(o, "alt_index", json_object_new_int(vv_vcf_var_alt_index(v)));
	json_object_object_add(o, "class", json_object_new_string(it->cls));
	json_object_object_add(o, "status", json_object_new_string(it->status));
	json_object_object_add(o, "method", it->method == VV_SCORE_NONE ? NULL :
			       json_object_new_string(vv_score_method_name(it->method)));
	json_object_object_add(o, "score", isnan(it->score) ? NULL : vv_json_score(it->score));
	json_object_object_add(o, "evidence", json_object_new_string(vv_evidence_name(it->ev)));
	json_object_object_add(o, "calibrated", json_object_new_boolean(vv_policy_calibrated(j->p)));
	ws = json_object_new_array();
	for (size_t i = 0; i < vv_vcf_var_nwarnings(v); i++)
		json_object_array_add(ws, vv_json_warning(vv_vcf_var_warning(v, i)));
	json_object_object_add(o, "warnings", ws);
	/* the separator follows from the count, so a resumed run needs no flag */
	if (j->written > 0 && (rc = vv_interpret_put(j, s, ",\n", 2)) != 0) {
		json_object_put(o);
		return rc;
	}
	return vv_put_json(j, s, o);
}

static int vv_no_cut(struct vv_job *j, struct vv_out *s)
{
	(void)j;
	(void)s;
	return 0;
}

static int vv_json_end(struct vv_job *j, struct vv_out *so)
{
	json_object *s = json_object_new_object(), *ws = json_object_new_array();
	size_t kept = vv_vcf_nwarnings(j->r);
	char buf[128];
	int rc;

	json_object_object_add(s, "records", json_object_new_int64((int64_t)j->sum.records));
	json_object_object_add(s, "variants", json_object_new_int64((int64_t)j->sum.variants));
	json_object_object_add(s, "scored", json_object_new_int64((int64_t)j->sum.scored));
	json_object_object_add(s, "not_scored", json_object_new_int64((int64_t)j->sum.not_scored));
	for (size_t i = 0; i < kept; i++)
		json_object_array_add(ws, vv_json_warning(vv_vcf_warning_at(j->r, i)));
	if (j->sum.warnings > kept) {
		snprintf(buf, sizeof buf, "%llu more warnings not listed",
			 (unsigned long long)(j->sum.warnings - kept));
		json_object_array_add(ws, json_object_new_string(buf));
	}
	json_object_object_add(s, "warnings", ws);
	if ((rc = vv_interpret_put(j, so, "\n],\"summary\":", 13)) != 0 || (rc = vv_put_json(j, so, s)) != 0)
		return rc;
	return vv_interpret_put(j, so, "}\n", 2);
}

const struct vv_sink vv_interpret_sink_json = {vv_json_begin, vv_json_variant, vv_no_cut, vv_json_end, NULL};

/* ---- TSV ---- */

static int vv_tsv_begin(struct vv_job *j, struct vv_out *s)
{
	char model[128], policy[128], source[128], ref[128];
	int rc;

	vv_safe_name(vv_ref_name(j->ref), ref, sizeof ref);
	vv_safe_name(j->mi->name, model, sizeof model);
	vv_safe_name(vv_policy_name(j->p), policy, sizeof policy);
	vv_safe_name(vv_policy_source(j->p), source, sizeof source);
	if ((rc = vv_interpret_putf(j, s, "# varvault %s\n# model: %s sha256=%s\n# reference: %s md5=%s\n",
				       VV_VERSION, model, j->mi->sha256, ref,
				       j->ref_md5)) != 0 ||
	    (rc = vv_interpret_putf(j, s, "# policy: %s sha256=%s %s (calibration source: %s)\n",
				       policy, vv_policy_sha256(j->p),
				       vv_calibration_note(j->p), source)) != 0 ||
	    (rc = vv_interpret_putf(j, s, "# scoring: window %zu nt, SNV %s, other %s (flank %zu nt)\n",
				       vv_scorer_window(j->sc), vv_score_method_name(VV_SCORE_MASKED_LLR),
				       vv_score_method_name(vv_scorer_indel_method(j->sc)), vv_scorer_flank(j->sc))) != 0)
		return rc;
	return vv_interpret_putf(j, s, "chrom\tpos\tref\talt\tsource_line\talt_index\tclass\tstatus\t"
				    "method\tscore\tevidence\tcalibrated\n");
}

static int vv_tsv_variant(struct vv_job *j, struct vv_out *s, const struct vv_item *it)
{
	const vv_vcf_var *v = it->v;
	char score[64] = ".";
	int rc;

	if (!isnan(it->score))
		snprintf(score, sizeof score, VV_SCORE_FMT, it->score);
	if ((rc = vv_interpret_putf(j, s, "%s\t%lld\t", vv_vcf_var_contig(v), (long long)vv_vcf_var_pos(v))) != 0 ||
	    (rc = vv_interpret_put(j, s, vv_vcf_var_ref(v), strlen(vv_vcf_var_ref(v)))) != 0 ||
	    (rc = vv_interpret_put(j, s, "\t", 1)) != 0 ||
	    (rc = vv_interpret_put(j, s, vv_vcf_var_alt(v), strlen(vv_vcf_var_alt(v)))) != 0)
		return rc;
	return vv_interpret_putf(j, s, "\t%llu\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n",
				 (unsigned long long)(vv_vcf_var_line(v) ? vv_vcf_var_line(v) : vv_vcf_var_record(v)),
				 vv_vcf_var_alt_index(v), it->cls, it->status,
				 it->method == VV_SCORE_NONE ? "." : vv_score_method_name(it->method), score,
				 vv_evidence_name(it->ev), vv_policy_calibrated(j->p) ? "yes" : "no");
}

static int vv_tsv_end(struct vv_job *j, struct vv_out *s)
{
	return vv_interpret_putf(j, s, "# %llu records, %llu variants, %llu scored, %llu not scored, %llu input warnings\n",
				 (unsigned long long)j->sum.records, (unsigned long long)j->sum.variants,
				 (unsigned long long)j->sum.scored, (unsigned long long)j->sum.not_scored,
				 (unsigned long long)j->sum.warnings);
}

const struct vv_sink vv_interpret_sink_tsv = {vv_tsv_begin, vv_tsv_variant, vv_no_cut, vv_tsv_end, NULL};
