/* Fuzz target: the DAG JSON reader (inspect ged, inspect model --dag) on arbitrary text.
 * Whatever it accepts must be a valid DAG that formats and parses back to the same DAG. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "dagjson.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	stn_dag d, back;
	stn_errbuf eb;
	char *text = NULL;
	size_t len = 0;

	stn__dag_init(&d);
	stn__dag_init(&back);
	if (stn__dagjson_parse((const char *)data, size, &d, &eb) != STN_OK)
		return 0;
	if (stn__dag_validate(&d, &eb) != STN_OK)
		abort(); /* accepted an invalid DAG */
	if (stn__dagjson_format(&d, &text, &len, &eb) == STN_OK) {
		if (stn__dagjson_parse(text, len, &back, &eb) != STN_OK ||
		    stn__dag_hash(&back) != stn__dag_hash(&d) || back.n_ops != d.n_ops)
			abort(); /* the writer's output does not read back */
		stn__free(text);
	}
	stn__dag_fini(&back);
	stn__dag_fini(&d);
	return 0;
}
