/* Sets of names (IDs declared, keys already warned about) on htslib's
 * string hash. */
#include "vcf_int.h"

#include <htslib/khash_str2int.h>

#include <stdlib.h>
#include <string.h>

bool vv_vcf_nameset_has(const struct vv_nameset *s, const char *name)
{
	return s->h && khash_str2int_has_key(s->h, name);
}

int vv_vcf_nameset_add(struct vv_nameset *s, const char *name)
{
	char *c;

	if (!s->h && !(s->h = khash_str2int_init()))
		return VV_ERR_NOMEM;
	if (khash_str2int_has_key(s->h, name))
		return 0;
	if (!(c = strdup(name)))
		return VV_ERR_NOMEM;
	if (khash_str2int_inc(s->h, c) < 0) {
		free(c);
		return VV_ERR_NOMEM;
	}
	return 0;
}

void vv_vcf_nameset_done(struct vv_nameset *s)
{
	khash_str2int_destroy_free(s->h);
	s->h = NULL;
}
