/* libFuzzer target for the VCF intake: detection, header and record
 * validation, normalization against a small reference, windows and the
 * writer, on arbitrary bytes.  Seeds: tests/fuzz/corpus/vcf_intake/. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "varvault/core.h"
#include "varvault/vcf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static vv_ref *fuzz_ref(void)
{
	static vv_ref *ref;
	static int tried;

	if (!tried) {
		tried = 1;
		vv_vcf_init();
		/* run from the repository root, as make check and make fuzz do */
		if (vv_ref_open("tests/data/vcf/ref.fa", &ref) != 0)
			ref = NULL;
	}
	return ref;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	vv_vcf_limits lim;
	vv_vcf_reader *r = NULL;
	vv_vcf_writer *w = NULL;
	vv_vcf_var *v;
	vv_ref *ref = fuzz_ref();
	vv_ref_window win;
	vv_sbuf out;
	int rc, n = 0;

	vv_vcf_limits_default(&lim);
	lim.max_records = 2000;
	lim.max_text_bytes = 8u << 20;
	lim.max_line_bytes = 1u << 20;
	lim.max_header_bytes = 1u << 20;
	lim.max_samples = 64;
	lim.max_alts = 16;
	lim.max_warnings = 100;
	if (vv_vcf_open_mem(data, size, &lim, ref, &r) != 0)
		return 0;
	if (vv_vcf_writer_new(r, -1, 1u << 22, &w) != 0 ||
	    vv_vcf_writer_declare_info(w, "VV_LLR", "1", VV_VCF_FLOAT, "score") != 0)
		goto out;
	vv_ref_window_init(&win);
	while ((rc = vv_vcf_next(r, &v)) == 1) {
		float llr = (float)n;
		vv_vcf_info info = {.id = "VV_LLR", .floats = &llr, .n = 1};

		/* a window may be refused (a REF longer than 33 bases) */
		if (ref && vv_vcf_status_scorable(vv_vcf_var_status(v)) && vv_vcf_var_window(ref, v, 33, &win) == 0 &&
		    win.len != 33)
			abort();
		for (size_t i = 0; i < vv_vcf_var_nwarnings(v); i++)
			(void)vv_vcf_var_warning(v, i)->message[0];
		rc = vv_vcf_writer_write(w, v, &info, 1);
		vv_vcf_var_free(v);
		if (rc)
			break;
		n++;
	}
	vv_ref_window_done(&win);
	if (vv_vcf_writer_finish(w, &out) == 0)
		vv_sbuf_done(&out);
out:
	vv_vcf_writer_free(w);
	vv_vcf_close(r);
	return 0;
}
