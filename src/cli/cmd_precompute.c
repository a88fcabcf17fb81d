/* varvault-admin precompute: the score of every possible SNV in a set of
 * regions, as a table that annotate and varvaultd look up before the model
 * runs (docs/interpret.md, "Precomputed scores"). */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "varvault/interpret.h"
#include "varvault/model.h"
#include "varvault/vcf.h"

static const char precompute_usage[] =
	"usage: varvault-admin precompute --model DIR --reference FASTA --regions BED -o FILE\n"
	"                                 [--chunk I/N] [options]\n"
	"       varvault-admin precompute --merge -o FILE PART1 PART2 ...\n"
	"\n"
	"Writes the score of every possible SNV in the regions of BED (chrom, start,\n"
	"end; 0-based, half-open) to FILE: bgzipped, tabix-indexed (FILE.tbi), with\n"
	"the model's SHA-256, the reference's MD5 and the scoring policy's hash in\n"
	"its header.  annotate --scores FILE and varvaultd (scores = in [model]) look\n"
	"SNVs up in it and refuse a table made for another model, reference or\n"
	"policy.  The three alleles of a position share one forward.\n"
	"\n"
	"options:\n"
	"  --model DIR          Hugging Face model directory\n"
	"  --reference FASTA    reference FASTA with .fai (bgzipped: also .gzi)\n"
	"  --regions BED        regions to cover\n"
	"  -o, --output FILE    the table (must not exist unless --force)\n"
	"  --chunk I/N          only chunk I of N (equal numbers of positions, in\n"
	"                       reference order); --merge the N parts in order to get\n"
	"                       the one-piece table, byte for byte\n"
	"  --merge              concatenate the tables given as arguments, in order\n"
	"  --window N           reference window in nucleotides (as annotate's)\n"
	"  --batch N            sequences per forward pass (default 32)\n"
	"  --threads N          model threads (default: one per CPU)\n"
	"  --precision P        fp32 (default) or bf16 (a table for bf16 runs only)\n"
	"  --force              replace an existing FILE\n"
	"  -q, --quiet          no progress or summary on stderr\n"
	"  -h, --help           this text\n"
	"\n"
	"Exit status: 0 success, 1 failure, 2 usage error.\n";

struct pre_opts {
	const char *regions, *output;
	struct vv_cli_engine_opts eng; /* model, reference, precision, scorer */
	unsigned chunk, nchunks;
	int merge, force, quiet;
};

static void pre_progress(void *ctx, uint64_t done, uint64_t total)
{
	(void)ctx;
	fprintf(stderr, "\rprecompute: %llu/%llu positions (%.0f%%)", (unsigned long long)done,
		(unsigned long long)total, total ? 100.0 * (double)done / (double)total : 100.0);
	fflush(stderr);
}

/* "I/N" with 1 <= I <= N: true with *i and *n set. */
static bool parse_chunk(const char *s, unsigned *i, unsigned *n)
{
	char *e1, *e2;
	unsigned long a, b;

	if (s[0] < '0' || s[0] > '9')
		return false;
	a = strtoul(s, &e1, 10);
	if (*e1 != '/' || e1[1] < '0' || e1[1] > '9')
		return false;
	b = strtoul(e1 + 1, &e2, 10);
	if (*e2 || a < 1 || b < 1 || a > b || b > 1000000)
		return false;
	*i = (unsigned)a;
	*n = (unsigned)b;
	return true;
}

static int pre_args(int argc, char **argv, struct pre_opts *o)
{
	static const struct option longs[] = {
		VV_CLI_ENGINE_LONGOPTS,
		{"regions", required_argument, NULL, 'R'},
		{"output", required_argument, NULL, 'o'},
		{"chunk", required_argument, NULL, 'c'},
		{"merge", no_argument, NULL, 'M'},
		{"force", no_argument, NULL, 'F'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *cmd = "varvault-admin precompute";
	size_t n;
	int c, rc;

	memset(o, 0, sizeof *o);
	o->chunk = o->nchunks = 1;
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:qh", longs, NULL)) != -1) {
		switch (c) {
		case 'R': o->regions = optarg; break;
		case 'o': o->output = optarg; break;
		case 'M': o->merge = 1; break;
		case 'F': o->force = 1; break;
		case 'q': o->quiet = 1; break;
		case 'c':
			if (!parse_chunk(optarg, &o->chunk, &o->nchunks))
				return vv_cli_usage_error(cmd, "--chunk: expected I/N with 1 <= I <= N, got '%s'", optarg);
			break;
		case VV_CLI_ENGINE_THREADS: /* its limit worded as before */
			if (!vv_cli_parse_size(optarg, 256, &n))
				return vv_cli_usage_error(cmd, "--threads: 1 to 256, got '%s'", optarg);
			o->eng.score.threads = (int)n;
			break;
		case 'h':
			fputs(precompute_usage, stdout);
			return VV_CLI_HELP_SHOWN;
		default: /* the engine's options, or an unknown one */
			if ((rc = vv_cli_engine_option(cmd, c, optarg, &o->eng)) != 0)
				return rc;
			break;
		}
	}
	if (!o->output)
		return vv_cli_usage_error(cmd, "-o FILE is required");
	if (o->merge) {
		if (optind >= argc)
			return vv_cli_usage_error(cmd, "--merge needs the tables to merge");
		return 0;
	}
	if (optind < argc)
		return vv_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	if (!o->eng.model || !o->eng.reference || !o->regions)
		return vv_cli_usage_error(cmd, "--model, --reference and --regions are required");
	return 0;
}

int vv_cmd_precompute(int argc, char **argv)
{
	struct pre_opts o;
	struct vv_precompute_opts po = {0};
	struct vv_precompute_stats st;
	struct vv_cli_engine e = {0};
	const char *what = NULL;
	int rc;

	if ((rc = pre_args(argc, argv, &o)) != 0)
		return rc == VV_CLI_HELP_SHOWN ? VV_EXIT_OK : rc;
	if (vv_core_init() != 0)
		return vv_cli_fail(VV_ERR_INTERNAL, "start-up");
	vv_vcf_init();
	if (o.merge) {
		what = o.output;
		rc = vv_score_table_merge((const char *const *)argv + optind, (size_t)(argc - optind), o.output,
					  o.force);
		goto out;
	}
	if ((rc = vv_cli_engine_open(&o.eng, &e, &what)) != 0)
		goto out;
	po.regions = o.regions;
	po.out = o.output;
	po.chunk = o.chunk;
	po.nchunks = o.nchunks;
	po.force = o.force;
	if (!o.quiet && isatty(2))
		po.progress = pre_progress;
	rc = vv_score_precompute(e.sc, e.ref, &po, &st);
	if (po.progress)
		fputc('\n', stderr);
	if (rc) {
		what = o.output;
		goto out;
	}
	if (!o.quiet)
		vv_log(VV_LOG_INFO,
		       "chunk %u/%u: %llu positions, %llu SNVs, %llu scored, %llu forwards "
		       "(%.2f SNVs a forward), %.2f s (%.1f SNVs/s)",
		       o.chunk, o.nchunks, (unsigned long long)st.positions, (unsigned long long)st.snvs,
		       (unsigned long long)st.scored, (unsigned long long)st.forwards,
		       st.forwards ? (double)st.snvs / (double)st.forwards : 0.0, st.seconds,
		       st.seconds > 0 ? (double)st.scored / st.seconds : 0.0);
out:
	vv_cli_engine_close(&e);
	return rc ? vv_cli_fail(rc, "%s", what) : VV_EXIT_OK;
}
