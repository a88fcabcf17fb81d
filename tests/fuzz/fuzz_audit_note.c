/* libFuzzer target: the parsers a verifier runs on checkpoints from outside
 * the appliance (a client's file, a --checkpoint argument): C2SP signed-note
 * verification against a fixed verifier key, tlog-checkpoint body parsing,
 * and verifier-key parsing of the input itself.
 * Invariants (abort() on violation): each returns 0 or a negative code; a
 * verified note's text length is within the input and ends in '\n'; a
 * parsed checkpoint's origin is non-empty and no longer than the limit.
 * Seeds: tests/fuzz/corpus/audit_note (a signed checkpoint, the C2SP
 * example note, malformed variants). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "varvault/audit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The C2SP signed-note specification's example key. */
static const char vkey[] = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), origin[VV_AUDIT_ORIGIN_MAX + 1];
	uint8_t root[VV_AUDIT_HASH_LEN];
	uint64_t n;
	size_t tl = 0;
	int rc;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	rc = vv_audit_note_verify(vkey, s, &tl);
	if (rc > 0 || (rc == 0 && (tl == 0 || tl > strlen(s) || s[tl - 1] != '\n')))
		abort();
	rc = vv_audit_checkpoint_parse(s, origin, &n, root);
	if (rc > 0 || (rc == 0 && (origin[0] == '\0' || strlen(origin) > VV_AUDIT_ORIGIN_MAX)))
		abort();
	rc = vv_audit_note_verify(s, "o\n1\nAAAA\n\n\xe2\x80\x94 o AAAA\n", NULL);
	if (rc > 0)
		abort();
	free(s);
	return 0;
}
