/* libFuzzer target for the VCF intake: detection, header and record
 * validation, normalization against a small reference, windows and the
 * writer, on arbitrary bytes.
 * Invariants (abort() on violation): a failed open returns a negative code
 * and no reader; a refusal sticks (every later call returns it, with no
 * variant); each scorable variant is normalized as its status says (upper
 * case A/C/G/T, REF differs from ALT, one base each for an SNV, equal
 * lengths for an MNV, a shared first base and one side of one base for an
 * indel), matches the reference at its position, and sits in its window at
 * the window's offset; the writer's output is BGZF.
 * Seeds: tests/fuzz/corpus/vcf_intake/. */
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

static int acgt(const char *s)
{
	return *s && strspn(s, "ACGT") == strlen(s);
}

static void check_variant(vv_ref *ref, vv_vcf_var *v, vv_ref_window *win)
{
	enum vv_vcf_status st = vv_vcf_var_status(v);
	const char *r = vv_vcf_var_ref(v), *a = vv_vcf_var_alt(v);
	size_t rl, al;

	if (!r || !a || !vv_vcf_var_contig(v))
		abort();
	if (!vv_vcf_status_scorable(st))
		return;
	rl = strlen(r);
	al = strlen(a);
	if (!acgt(r) || !acgt(a) || strcmp(r, a) == 0 || vv_vcf_var_pos(v) < 1)
		abort();
	if ((st == VV_VCF_SNV && (rl != 1 || al != 1)) || (st == VV_VCF_MNV && (rl != al || rl < 2)) ||
	    (st == VV_VCF_INDEL && ((rl != 1 && al != 1) || rl == al || r[0] != a[0])) ||
	    (st == VV_VCF_COMPLEX && rl == al))
		abort();
	/* a window may be refused (a REF longer than 33 bases) */
	if (ref && vv_vcf_var_window(ref, v, 33, win) == 0 &&
	    (win->len != 33 || win->offset + rl > win->len || memcmp(win->seq + win->offset, r, rl) != 0))
		abort();
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
	int rc, wrc = 0, n = 0;

	vv_vcf_limits_default(&lim);
	lim.max_records = 2000;
	lim.max_text_bytes = 8u << 20;
	lim.max_line_bytes = 1u << 20;
	lim.max_header_bytes = 1u << 20;
	lim.max_samples = 64;
	lim.max_alts = 16;
	lim.max_warnings = 100;
	r = (vv_vcf_reader *)&lim; /* must be set either way */
	if ((rc = vv_vcf_open_mem(data, size, &lim, ref, &r)) != 0) {
		if (rc > 0 || r != NULL)
			abort();
		return 0;
	}
	if (vv_vcf_writer_new(r, -1, 1u << 22, &w) != 0 ||
	    vv_vcf_writer_declare_info(w, "VV_LLR", "1", VV_VCF_FLOAT, "score") != 0)
		goto out;
	vv_ref_window_init(&win);
	while ((rc = vv_vcf_next(r, &v)) == 1) {
		float llr = (float)n;
		vv_vcf_info info = {.id = "VV_LLR", .floats = &llr, .n = 1};

		check_variant(ref, v, &win);
		for (size_t i = 0; i < vv_vcf_var_nwarnings(v); i++)
			(void)vv_vcf_var_warning(v, i)->message[0];
		wrc = vv_vcf_writer_write(w, v, &info, 1);
		vv_vcf_var_free(v);
		if (wrc)
			break;
		n++;
	}
	vv_ref_window_done(&win);
	if (!wrc && rc < 0) {
		/* a refusal sticks */
		v = (vv_vcf_var *)&lim;
		if (vv_vcf_next(r, &v) != rc || v != NULL)
			abort();
	}
	if (vv_vcf_writer_finish(w, &out) == 0) {
		if (out.len < 28 || out.data[0] != 0x1f || out.data[1] != 0x8b)
			abort(); /* BGZF, ending in its EOF block at least */
		vv_sbuf_done(&out);
	}
out:
	vv_vcf_writer_free(w);
	vv_vcf_close(r);
	return 0;
}
