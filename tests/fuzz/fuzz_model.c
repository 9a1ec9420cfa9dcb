/* Fuzz target: the model file reader on arbitrary bytes, once as given (the checksum rejects
 * almost everything) and once with the header's CRC recomputed, so the payload parser and
 * its bounds checks are reached. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "alloc.h"
#include "model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void decode(const uint8_t *data, size_t size)
{
	stn_model m;
	stn_errbuf eb;
	if (stn__model_decode(&m, data, size, &eb) == STN_OK)
		stn__model_fini(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	decode(data, size);
	if (size < STN_MODEL_HEADER_SIZE)
		return 0;
	uint8_t *copy = stn__malloc(size);
	if (copy == NULL)
		return 0;
	memcpy(copy, data, size);
	uint32_t crc = stn__crc32(0, copy + STN_MODEL_HEADER_SIZE, size - STN_MODEL_HEADER_SIZE);
	uint64_t plen = size - STN_MODEL_HEADER_SIZE;
	for (int i = 0; i < 8; i++)
		copy[16 + i] = (uint8_t)(plen >> (8 * i));
	for (int i = 0; i < 4; i++)
		copy[24 + i] = (uint8_t)(crc >> (8 * i));
	decode(copy, size);
	stn__free(copy);
	return 0;
}
