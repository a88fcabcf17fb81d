/* Wiping htslib's buffers before they are freed: they held genotypes. */
#include "vcf_int.h"

#include <stdlib.h>

void vv_vcf_ks_wipe_free(kstring_t *s)
{
	if (s->s) {
		vv_wipe(s->s, s->m);
		free(s->s);
	}
	s->s = NULL;
	s->l = s->m = 0;
}

void vv_vcf_bcf_wipe_destroy(bcf1_t *b)
{
	if (!b)
		return;
	if (b->shared.s)
		vv_wipe(b->shared.s, b->shared.m);
	if (b->indiv.s)
		vv_wipe(b->indiv.s, b->indiv.m);
	if (b->d.als)
		vv_wipe(b->d.als, (size_t)b->d.m_als);
	if (b->d.id)
		vv_wipe(b->d.id, (size_t)b->d.m_id);
	bcf_destroy(b);
}
