/* Test driver of src/vcf for the integration tests: prints normalized
 * variants, validation outcomes, reference windows, or writes the
 * annotated VCF.  Not installed. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "varvault/core.h"
#include "varvault/vcf.h"

static int usage(void)
{
	fprintf(stderr,
		"usage: vcf_tool norm [-r REF.fa] FILE        CHROM POS REF ALT status line alt-index\n"
		"       vcf_tool validate FILE...             FILE <TAB> ACCEPT|REFUSE <TAB> kinds <TAB> detail\n"
		"       vcf_tool write [-r REF.fa] FILE OUT   annotated bgzipped VCF (OUT '-' = stdout)\n"
		"       vcf_tool window -r REF.fa CONTIG POS SPAN WIDTH\n");
	return 2;
}

static int load(const char *path, char **buf, size_t *len)
{
	int rc = vv_read_file(path, (size_t)1 << 31, buf, len);

	if (rc)
		fprintf(stderr, "vcf_tool: %s: %s: %s\n", path, vv_strerror(rc), vv_err_detail());
	return rc;
}

static int open_vcf(const char *path, vv_ref *ref, vv_vcf_reader **r)
{
	char *buf = NULL;
	size_t len = 0;
	int rc;

	if ((rc = load(path, &buf, &len)) != 0)
		return rc;
	rc = vv_vcf_open_mem(buf, len, NULL, ref, r);
	vv_wipe(buf, len);
	free(buf);
	return rc;
}

static int cmd_norm(const char *refpath, const char *path)
{
	vv_ref *ref = NULL;
	vv_vcf_reader *r = NULL;
	vv_vcf_var *v;
	int rc;

	if (refpath && (rc = vv_ref_open(refpath, &ref)) != 0)
		goto out;
	if ((rc = open_vcf(path, ref, &r)) != 0)
		goto out;
	while ((rc = vv_vcf_next(r, &v)) == 1) {
		printf("%s\t%lld\t%s\t%s\t%s\t%llu\t%d\n", vv_vcf_var_contig(v), (long long)vv_vcf_var_pos(v),
		       vv_vcf_var_ref(v), vv_vcf_var_alt(v), vv_vcf_status_name(vv_vcf_var_status(v)),
		       (unsigned long long)vv_vcf_var_line(v), vv_vcf_var_alt_index(v));
		vv_vcf_var_free(v);
	}
out:
	if (rc < 0)
		fprintf(stderr, "vcf_tool: %s: %s: %s\n", path, vv_strerror(rc), vv_err_detail());
	vv_vcf_close(r);
	vv_ref_free(ref);
	return rc < 0;
}

static int cmd_validate(int n, char **files)
{
	for (int i = 0; i < n; i++) {
		vv_vcf_reader *r = NULL;
		vv_vcf_var *v;
		int rc;
		char kinds[512] = "";
		const char *name = strrchr(files[i], '/');

		name = name ? name + 1 : files[i];
		vv_err_clear();
		rc = open_vcf(files[i], NULL, &r);
		if (rc == 0)
			while ((rc = vv_vcf_next(r, &v)) == 1)
				vv_vcf_var_free(v);
		if (r)
			for (int k = 1; k < VV_VCF_W_NKINDS; k++)
				if (vv_vcf_warnings_of(r, k)) {
					size_t l = strlen(kinds);
					snprintf(kinds + l, sizeof kinds - l, "%s%s", l ? "," : "", vv_vcf_warn_name(k));
				}
		if (rc < 0) {
			printf("%s\tREFUSE\t%s\t%s\n", name, kinds[0] ? kinds : "-", vv_err_detail());
		} else {
			printf("%s\tACCEPT\t%s\t", name, kinds[0] ? kinds : "-");
			for (size_t k = 0; k < vv_vcf_nwarnings(r) && k < (getenv("VV_ALLW") ? 1000 : 3); k++) {
				const vv_vcf_warning *w = vv_vcf_warning_at(r, k);
				printf("%sline %llu, %s: %s", k ? "; " : "", (unsigned long long)w->line, w->field, w->message);
			}
			printf("\n");
		}
		vv_vcf_close(r);
	}
	return 0;
}

static int cmd_write(const char *refpath, const char *path, const char *outpath)
{
	vv_ref *ref = NULL;
	vv_vcf_reader *r = NULL;
	vv_vcf_writer *w = NULL;
	vv_vcf_var *v, **vars = NULL;
	size_t nvars = 0;
	int fd = -1, rc;

	if (refpath && (rc = vv_ref_open(refpath, &ref)) != 0)
		goto out;
	if ((rc = open_vcf(path, ref, &r)) != 0)
		goto out;
	fd = strcmp(outpath, "-") == 0 ? 1 : open(outpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0) {
		perror(outpath);
		rc = VV_ERR_IO;
		goto out;
	}
	if ((rc = vv_vcf_writer_new(r, fd, 0, &w)) != 0 ||
	    (rc = vv_vcf_writer_header_line(w, "##varvault_test=vcf_tool")) != 0 ||
	    (rc = vv_vcf_writer_declare_info(w, "VV_STATUS", "1", VV_VCF_STRING, "Normalization status")) != 0)
		goto out;
	/* read everything first, as the scorer does, so that the header
	 * summarises every input warning */
	while ((rc = vv_vcf_next(r, &v)) == 1) {
		vv_vcf_var **p = realloc(vars, (nvars + 1) * sizeof *p);
		if (!p) {
			vv_vcf_var_free(v);
			rc = VV_ERR_NOMEM;
			goto out;
		}
		vars = p;
		vars[nvars++] = v;
	}
	for (size_t i = 0; rc == 0 && i < nvars; i++) {
		vv_vcf_info info = {.id = "VV_STATUS", .str = vv_vcf_status_name(vv_vcf_var_status(vars[i]))};
		rc = vv_vcf_writer_write(w, vars[i], &info, 1);
	}
	if (rc == 0)
		rc = vv_vcf_writer_finish(w, NULL);
out:
	if (rc < 0)
		fprintf(stderr, "vcf_tool: %s: %s: %s\n", path, vv_strerror(rc), vv_err_detail());
	vv_vcf_writer_free(w);
	for (size_t i = 0; i < nvars; i++)
		vv_vcf_var_free(vars[i]);
	free(vars);
	if (fd > 1)
		close(fd);
	vv_vcf_close(r);
	vv_ref_free(ref);
	return rc < 0;
}

static int cmd_window(const char *refpath, char **a)
{
	vv_ref *ref = NULL;
	vv_ref_window win;
	int rc;

	vv_ref_window_init(&win);
	if ((rc = vv_ref_open(refpath, &ref)) == 0 &&
	    (rc = vv_ref_window_get(ref, a[0], atoll(a[1]), (size_t)atoll(a[2]), (size_t)atoll(a[3]), &win)) == 0)
		printf("%s\t%lld\t%zu\t%zu\t%zu\n", win.seq, (long long)win.start, win.offset, win.n_count,
		       win.pad_right);
	if (rc)
		fprintf(stderr, "vcf_tool: %s: %s\n", vv_strerror(rc), vv_err_detail());
	vv_ref_window_done(&win);
	vv_ref_free(ref);
	return rc != 0;
}

int main(int argc, char **argv)
{
	const char *ref = NULL;
	int i = 2;

	vv_vcf_init();
	if (argc < 3)
		return usage();
	if (i + 1 < argc && strcmp(argv[i], "-r") == 0) {
		ref = argv[i + 1];
		i += 2;
	}
	if (strcmp(argv[1], "norm") == 0 && i + 1 == argc)
		return cmd_norm(ref, argv[i]);
	if (strcmp(argv[1], "validate") == 0 && i < argc)
		return cmd_validate(argc - i, argv + i);
	if (strcmp(argv[1], "write") == 0 && i + 2 == argc)
		return cmd_write(ref, argv[i], argv[i + 1]);
	if (strcmp(argv[1], "window") == 0 && ref && i + 4 == argc)
		return cmd_window(ref, argv + i);
	return usage();
}
