/* libFuzzer target: the wire decoder on arbitrary bytes. Whatever decodes must encode, and
 * its encoding must decode to a message that encodes to the same bytes (the canonical form is
 * a fixed point), and must have a JSON view. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	stn_proto_limits lim = stn__proto_limits_default();
	stn_errbuf eb;
	stn_msg m, m2;
	void *b1 = NULL, *b2 = NULL;
	size_t l1 = 0, l2 = 0;
	char *json = NULL;

	if (stn__proto_decode(data, size, &lim, &m, &eb) != STN_OK)
		return 0;
	if (stn__proto_encode(&m, &b1, &l1, &eb) != STN_OK)
		abort(); /* a valid message must encode */
	if (stn__proto_decode(b1, l1, &lim, &m2, &eb) != STN_OK)
		abort(); /* and its encoding must decode */
	if (stn__proto_encode(&m2, &b2, &l2, &eb) != STN_OK || l1 != l2 || memcmp(b1, b2, l1) != 0)
		abort(); /* to the same canonical bytes */
	if (stn__proto_to_json(&m2, &json) != STN_OK)
		abort();
	stn__free(json);
	stn__free(b1);
	stn__free(b2);
	stn__msg_free(&m);
	stn__msg_free(&m2);
	return 0;
}
