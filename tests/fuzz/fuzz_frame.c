/* libFuzzer target for the wire protocol's parsers: the input is a byte
 * stream cut into frames (4-byte big-endian length + payload), and every
 * payload goes through the request parser (server side) and the response
 * parser (client side).  Arbitrary bytes must give a frame or a clean error,
 * a request or a clean error, never a crash; what parses must rebuild into
 * the same request.  Seeds: tests/fuzz/corpus/frame/. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "varvault/core.h"
#include "varvault/net.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_request(const uint8_t *p, size_t n)
{
	vv_net_request *r = NULL, *r2 = NULL;
	char id[VV_NET_ID_MAX + 1], *txt = NULL;
	size_t len = 0, idlen;
	const char *s;
	int64_t i;
	bool b;
	int rc = vv_net_request_parse(p, n, &r, id);

	idlen = strlen(id);
	if (idlen > VV_NET_ID_MAX)
		abort();
	if (rc != 0) {
		if (r || rc > 0 || !vv_net_err_code(rc))
			abort();
		return;
	}
	if (!r || (unsigned)vv_net_request_verb(r) >= VV_VERB_COUNT || strcmp(id, vv_net_request_id(r)) != 0 ||
	    idlen == 0)
		abort();
	for (size_t k = 0; k < idlen; k++)
		if (id[k] < 0x21 || id[k] > 0x7e)
			abort();
	/* The getters answer with a value, absent, or a protocol error. */
	if ((rc = vv_net_req_str(r, "sample", false, 64, &s)) == 1 && strlen(s) > 64)
		abort();
	if (rc < 0 && rc != VV_ERR_PROTO)
		abort();
	rc = vv_net_req_int(r, "n", false, -5, 5, &i);
	if ((rc == 1 && (i < -5 || i > 5)) || (rc < 0 && rc != VV_ERR_PROTO))
		abort();
	rc = vv_net_req_bool(r, "wait", true, &b);
	if (rc == 0 || (rc < 0 && rc != VV_ERR_PROTO))
		abort();
	/* The verb and id rebuild into a request that parses the same. */
	if (vv_net_request_build(vv_net_request_verb(r), vv_net_request_id(r), NULL, &txt, &len) != 0 ||
	    vv_net_request_parse(txt, len, &r2, NULL) != 0 || vv_net_request_verb(r2) != vv_net_request_verb(r) ||
	    strcmp(vv_net_request_id(r2), vv_net_request_id(r)) != 0)
		abort();
	free(txt);
	vv_net_request_free(r2);
	vv_net_request_free(r);
}

static void check_response(const uint8_t *p, size_t n)
{
	vv_net_response resp;
	int rc = vv_net_response_parse(p, n, &resp);

	if (rc != 0) {
		if (resp.json || resp.message)
			abort(); /* a failed parse leaves nothing behind */
		return;
	}
	if (!resp.json || (!resp.ok && (!resp.message || !resp.code[0])))
		abort();
	vv_net_response_done(&resp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t pos = 0;

	while (pos < size) {
		const uint8_t *payload = NULL;
		size_t plen = 0, used = 0;
		int rc = vv_net_frame_decode(data + pos, size - pos, 0, &payload, &plen, &used);
		if (rc < 0) {
			if (rc != VV_ERR_FRAME_SIZE)
				abort();
			break;
		}
		if (rc == 0) {
			/* Not a whole frame: what remains is one raw payload. */
			check_request(data + pos, size - pos);
			break;
		}
		if (used != plen + 4 || plen > VV_NET_FRAME_MAX || used > size - pos || payload != data + pos + 4)
			abort();
		check_request(payload, plen);
		check_response(payload, plen);
		pos += used;
	}
	return 0;
}
