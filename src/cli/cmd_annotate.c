/* varvault-admin annotate: interprets a VCF of public, non-patient data
 * with a model, a reference and the evidence policy (validation runs). */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "varvault/interpret.h"
#include "varvault/model.h"
#include "varvault/vcf.h"

static const char annotate_usage[] =
	"usage: varvault-admin annotate --model DIR --reference FASTA --vcf IN [options]\n"
	"\n"
	"Scores every variant of IN (VCF, bgzipped VCF or BCF; '-' for stdin) with the\n"
	"transformer model in DIR, grades each score with the evidence policy, and\n"
	"writes an annotated VCF (bgzipped), JSON or TSV.  For validation on public,\n"
	"non-patient data: patient files go through varvaultd, which decrypts them\n"
	"only in locked memory and audits every access.\n"
	"\n"
	"options:\n"
	"  --model DIR          Hugging Face model directory (config.json,\n"
	"                       model.safetensors, vocab.txt)\n"
	"  --reference FASTA    reference FASTA with .fai (bgzipped: also .gzi)\n"
	"  --vcf IN             input VCF ('-': stdin)\n"
	"  -o, --output OUT     output file (default: stdout); appears only when complete\n"
	"                       (written chunk by chunk: memory does not grow with the\n"
	"                       input; on stdout a failure leaves a partial output)\n"
	"  --format FMT         vcf (default), json or tsv\n"
	"  --policy FILE        evidence policy (default: /etc/varvault/evidence.conf,\n"
	"                       else policy/evidence.conf)\n"
	"  --window N           reference window in nucleotides (default: the model's,\n"
	"                       at most 1000)\n"
	"  --batch N            sequences per forward pass (default 32)\n"
	"  --threads N          model threads (default: one per CPU); results do not\n"
	"                       depend on it, nor on --batch\n"
	"  --precision P        fp32 (default; bit-for-bit reproducible) or bf16 (bf16\n"
	"                       weights through oneDNN, scores move slightly: see\n"
	"                       docs/model.md; CPUs with AVX512-BF16 or AMX only)\n"
	"  --indel-stride N     0 (default): indels by the local PLL, one forward per\n"
	"                       masked token; N (1 to 64): tokens N apart share a\n"
	"                       forward, fewer forwards but other scores (measured\n"
	"                       in docs/interpret.md)\n"
	"  --max-input BYTES    refuse inputs larger than this (default 4 GiB)\n"
	"  --max-text-bytes N   refuse an input whose decompressed text is larger\n"
	"                       (default 64G; K, M, G suffixes)\n"
	"  --max-records N      refuse an input of more data records (default 100M)\n"
	"  --chunk N            variants scored and written together (default 1024);\n"
	"                       the VCF's BGZF blocks end at each chunk, so the output\n"
	"                       equals varvaultd's for the same chunk size\n"
	"  --scores TABLE       precomputed SNV scores (varvault-admin precompute) looked\n"
	"                       up before the model runs; refused if made for another\n"
	"                       model, reference or policy; output is byte for byte the\n"
	"                       same with or without it\n"
	"  --summary-json FILE  also write the run's counts and timings as JSON\n"
	"                       (mode 0600, like OUT: appears only when complete)\n"
	"  --force              replace an existing output or summary file\n"
	"  -q, --quiet          no notice, progress or summary on stderr\n"
	"  -h, --help           this text\n"
	"\n"
	"Exit status: 0 success, 1 failure (the message names file, line and field),\n"
	"2 usage error.\n";

struct annotate_opts {
	const char *vcf, *output, *policy, *summary, *scores;
	enum vv_out_format format;
	struct vv_cli_engine_opts eng; /* model, reference, precision, scorer */
	size_t max_input, chunk, max_text, max_records;
	int force, quiet;
};

static int parse_size(const char *cmd, const char *opt, const char *s, size_t *out)
{
	if (!vv_cli_parse_size(s, SIZE_MAX, out))
		return vv_cli_usage_error(cmd, "%s: expected a positive number, got '%s'", opt, s);
	return 0;
}

/* Parses the options into o.  Returns 0 (run), VV_EXIT_USAGE (reported), or
 * VV_CLI_HELP_SHOWN. */
static int annotate_args(int argc, char **argv, struct annotate_opts *o)
{
	static const struct option longs[] = {
		VV_CLI_ENGINE_LONGOPTS,
		{"vcf", required_argument, NULL, 'i'},
		{"output", required_argument, NULL, 'o'},
		{"format", required_argument, NULL, 'f'},
		{"policy", required_argument, NULL, 'p'},
		{"max-input", required_argument, NULL, 'M'},
		{"max-text-bytes", required_argument, NULL, 'T'},
		{"max-records", required_argument, NULL, 'R'},
		{"chunk", required_argument, NULL, 'c'},
		{"indel-stride", required_argument, NULL, 'I'},
		{"summary-json", required_argument, NULL, 'S'},
		{"scores", required_argument, NULL, 's'},
		{"force", no_argument, NULL, 'F'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *cmd = "varvault-admin annotate";
	size_t n;
	int c, rc;

	memset(o, 0, sizeof *o);
	o->format = VV_OUT_VCF;
	o->max_input = (size_t)4 << 30;
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:qh", longs, NULL)) != -1) {
		switch (c) {
		case 'i': o->vcf = optarg; break;
		case 'o': o->output = optarg; break;
		case 'p': o->policy = optarg; break;
		case 'S': o->summary = optarg; break;
		case 's': o->scores = optarg; break;
		case 'F': o->force = 1; break;
		case 'q': o->quiet = 1; break;
		case 'f':
			if (vv_out_format_parse(optarg, &o->format) != 0)
				return vv_cli_usage_error(cmd, "--format: %s", vv_err_detail());
			break;
		case VV_CLI_ENGINE_THREADS: /* its limit worded as before */
			if ((rc = parse_size(cmd, "--threads", optarg, &n)) != 0)
				return rc;
			if (n > 256)
				return vv_cli_usage_error(cmd, "--threads: at most 256");
			o->eng.score.threads = (int)n;
			break;
		case 'M':
			if ((rc = parse_size(cmd, "--max-input", optarg, &o->max_input)) != 0)
				return rc;
			break;
		case 'T':
			if ((rc = parse_size(cmd, "--max-text-bytes", optarg, &o->max_text)) != 0)
				return rc;
			break;
		case 'R':
			if ((rc = parse_size(cmd, "--max-records", optarg, &o->max_records)) != 0)
				return rc;
			break;
		case 'c':
			if ((rc = parse_size(cmd, "--chunk", optarg, &o->chunk)) != 0)
				return rc;
			if (o->chunk == 0 || o->chunk > ((size_t)1 << 20))
				return vv_cli_usage_error(cmd, "--chunk: 1 to 1048576 variants");
			break;
		case 'I':
			if (strcmp(optarg, "0") == 0)
				o->eng.score.indel_stride = 0;
			else if ((rc = parse_size(cmd, "--indel-stride", optarg, &o->eng.score.indel_stride)) != 0)
				return rc;
			if (o->eng.score.indel_stride > VV_SCORE_MAX_STRIDE)
				return vv_cli_usage_error(cmd, "--indel-stride: 0 to %d", VV_SCORE_MAX_STRIDE);
			break;
		case 'h':
			fputs(annotate_usage, stdout);
			return VV_CLI_HELP_SHOWN;
		default: /* the engine's options, or an unknown one */
			if ((rc = vv_cli_engine_option(cmd, c, optarg, &o->eng)) != 0)
				return rc;
			break;
		}
	}
	if (optind < argc)
		return vv_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	if (!o->eng.model || !o->eng.reference || !o->vcf)
		return vv_cli_usage_error(cmd, "--model, --reference and --vcf are required");
	return 0;
}

/* The default policy: the installed one, else the source tree's. */
static const char *default_policy(void)
{
	static const char *const candidates[] = {"/etc/varvault/evidence.conf", "policy/evidence.conf"};

	for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++)
		if (access(candidates[i], R_OK) == 0)
			return candidates[i];
	return candidates[0];
}

static int read_input(const char *path, size_t max, vv_sbuf *buf)
{
	int fd = 0, rc;

	if (strcmp(path, "-") != 0 && (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return vv_errf(VV_ERR_IO, "%s: %s", path, strerror(errno));
	vv_sbuf_init(buf, max);
	rc = vv_sbuf_read_fd(buf, fd);
	if (fd != 0)
		close(fd);
	return rc;
}

/* Progress on a terminal: one line rewritten in place. */
static void show_progress(void *ctx, uint64_t done, uint64_t total)
{
	(void)ctx;
	fprintf(stderr, "\rannotate: %llu/%llu variants (%.0f%%)", (unsigned long long)done,
		(unsigned long long)total, total ? 100.0 * (double)done / (double)total : 100.0);
	fflush(stderr);
}

/* Runs the job chunk by chunk, writing each chunk's output as it comes
 * (into out, opened before the run, or stdout when out is NULL), so that
 * memory stays bounded by the chunk, not the input.  A file is committed
 * only when the run is complete: it appears whole or not at all. */
static int run_streaming(vv_scorer *sc, vv_ref *ref, const vv_policy *p, vv_sbuf *in,
			 const struct vv_interpret_opts *io, struct vv_outfile *out, bool force,
			 struct vv_interpret_summary *sum, const char **what)
{
	vv_interpret_chunks *r = NULL;
	struct vv_interpret_chunk c;
	int f = (int)io->format - 1, rc;

	vv_interpret_chunk_init(&c);
	if ((rc = vv_interpret_chunks_new(sc, ref, p, in->data, in->len, io, VV_OUT_BIT(io->format), NULL,
					  &r)) != 0)
		goto out;
	vv_sbuf_done(in); /* the readers hold their own copy */
	while ((rc = vv_interpret_chunks_next(r, &c)) == 1) {
		rc = out ? vv_outfile_write(out, c.out[f].data, c.out[f].len)
			 : vv_write_all(1, c.out[f].data, c.out[f].len);
		if (rc) {
			*what = "output";
			goto out;
		}
		if (c.last)
			break;
	}
	if (rc < 0)
		goto out;
	vv_interpret_chunks_summary(r, sum);
	if (out && (rc = vv_outfile_commit(out, force)) != 0)
		*what = "output";
out:
	vv_interpret_chunk_done(&c);
	vv_interpret_chunks_free(r);
	return rc;
}

/* The summary for scripts (counts and timings only, no patient data),
 * written as the main output is: whole or not at all, an existing file
 * replaced only with --force. */
static int write_summary_json(struct vv_outfile *out, const struct vv_interpret_summary *s, bool force)
{
	char *text = NULL;
	int rc;

	if ((rc = vv_interpret_summary_json(s, &text)) != 0 ||
	    (rc = vv_outfile_write(out, text, strlen(text))) != 0 ||
	    (rc = vv_outfile_write(out, "\n", 1)) != 0)
		vv_outfile_abort(out, false);
	else
		rc = vv_outfile_commit(out, force);
	free(text);
	return rc;
}

static void print_summary(const struct vv_interpret_summary *s)
{
	vv_log(VV_LOG_INFO,
	       "%llu records, %llu variants: %llu scored, %llu not scored; %llu input warnings; "
	       "model %.2f s of %.2f s",
	       (unsigned long long)s->records, (unsigned long long)s->variants,
	       (unsigned long long)s->scored, (unsigned long long)s->not_scored,
	       (unsigned long long)s->warnings, s->engine_seconds, s->total_seconds);
	vv_log(VV_LOG_INFO, "evidence: PP3 strong %llu, moderate %llu, supporting %llu; "
	       "BP4 supporting %llu, moderate %llu, strong %llu",
	       (unsigned long long)s->evidence[VV_EV_PP3_STRONG],
	       (unsigned long long)s->evidence[VV_EV_PP3_MODERATE],
	       (unsigned long long)s->evidence[VV_EV_PP3_SUPPORTING],
	       (unsigned long long)s->evidence[VV_EV_BP4_SUPPORTING],
	       (unsigned long long)s->evidence[VV_EV_BP4_MODERATE],
	       (unsigned long long)s->evidence[VV_EV_BP4_STRONG]);
}

int vv_cmd_annotate(int argc, char **argv)
{
	struct annotate_opts o;
	struct vv_interpret_opts io = {0};
	struct vv_interpret_summary sum;
	vv_vcf_limits lim;
	struct vv_cli_engine e = {0};
	vv_policy *policy = NULL;
	vv_score_table *table = NULL;
	vv_sbuf in;
	/* Opened before the run, so that an output that cannot be written (a
	 * device, a folder without room) fails at once, not after it. */
	struct vv_outfile out = {.fd = -1}, sumout = {.fd = -1};
	bool to_file;
	const char *what = NULL;
	int rc;

	if ((rc = annotate_args(argc, argv, &o)) != 0)
		return rc == VV_CLI_HELP_SHOWN ? VV_EXIT_OK : rc;
	if (vv_core_init() != 0 || vv_harden_process() != 0)
		return vv_cli_fail(VV_ERR_INTERNAL, "start-up");
	vv_vcf_init();
	vv_sbuf_init(&in, 0);
	if (!o.policy)
		o.policy = default_policy();
	if (!o.quiet)
		vv_log(VV_LOG_INFO, "validation mode: for public, non-patient data only "
		       "(patient VCFs go through varvaultd)");
	to_file = o.output && strcmp(o.output, "-") != 0;
	if (to_file && (rc = vv_outfile_open(&out, o.output, 0600, 0)) != 0) {
		what = o.output;
		goto out;
	}
	if (o.summary && (rc = vv_outfile_open(&sumout, o.summary, 0600, 0)) != 0) {
		what = o.summary;
		goto out;
	}
	if ((rc = vv_policy_load(o.policy, &policy)) != 0) {
		what = o.policy;
		goto out;
	}
	if ((rc = vv_cli_engine_open(&o.eng, &e, &what)) != 0)
		goto out;
	if (o.scores && (rc = vv_score_table_open(o.scores, e.sc, e.ref, &table)) != 0) {
		what = o.scores;
		goto out;
	}
	if ((rc = read_input(o.vcf, o.max_input, &in)) != 0) {
		what = o.vcf;
		goto out;
	}
	vv_vcf_limits_default(&lim);
	lim.max_input_bytes = o.max_input;
	if (o.max_text)
		lim.max_text_bytes = o.max_text;
	if (o.max_records)
		lim.max_records = o.max_records;
	io.format = o.format;
	io.chunk = o.chunk;
	io.limits = &lim;
	io.scores = table;
	if (!o.quiet && isatty(2)) {
		io.progress = show_progress;
	}
	{
		const char *stage = NULL;
		rc = run_streaming(e.sc, e.ref, policy, &in, &io, to_file ? &out : NULL, o.force, &sum, &stage);
		if (io.progress)
			fputc('\n', stderr);
		vv_sbuf_done(&in);
		if (rc != 0) {
			what = !stage ? (strcmp(o.vcf, "-") ? o.vcf : "stdin") : o.output ? o.output : "stdout";
			goto out;
		}
	}
	if (o.summary && (rc = write_summary_json(&sumout, &sum, o.force)) != 0) {
		what = o.summary;
		goto out;
	}
	if (!o.quiet) {
		print_summary(&sum);
		uint64_t fw = 0, probes = 0;
		vv_scorer_counts(e.sc, &fw, &probes);
		vv_log(VV_LOG_INFO, "model: %llu forwards for %llu masked sequences, %.1f GFLOP of matrix products",
		       (unsigned long long)fw, (unsigned long long)probes, (double)vv_scorer_flops(e.sc) / 1e9);
		if (table) {
			uint64_t lookups, hits;
			vv_score_table_counts(table, &lookups, &hits);
			vv_log(VV_LOG_INFO, "score table: %llu of %llu SNVs looked up were found",
			       (unsigned long long)hits, (unsigned long long)lookups);
		}
		if (!vv_policy_calibrated(policy))
			vv_log(VV_LOG_WARN, "policy %s is uncalibrated: evidence is marked so in the output",
			       vv_policy_name(policy));
	}
out:
	/* Released by commit, or dropped here: nothing appears after a failure. */
	vv_outfile_abort(&out, true);
	vv_outfile_abort(&sumout, false);
	vv_sbuf_done(&in);
	vv_score_table_free(table);
	vv_cli_engine_close(&e);
	vv_policy_free(policy);
	return rc ? vv_cli_fail(rc, "%s", what) : VV_EXIT_OK;
}
