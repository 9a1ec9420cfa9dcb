/* Fuzz target: the metrics reader of `streamtune recommend` (CSV and JSON) on arbitrary text
 * against a fixed three-operator DAG. Whatever it accepts must be whole windows: every operator
 * once, values inside the documented ranges. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "metrics_io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void dag_of_three(stn_dag *d)
{
	static const char *const names[3] = {"src", "map", "out"};
	static const stn_op_kind kinds[3] = {STN_KIND_SOURCE, STN_KIND_MAP, STN_KIND_SINK};
	stn_errbuf eb;
	stn__dag_init(d);
	for (uint32_t i = 0; i < 3; i++) {
		stn_op op;
		memset(&op, 0, sizeof(op));
		op.id = i + 1;
		strcpy(op.name, names[i]);
		op.kind = kinds[i];
		op.selectivity = 1.0;
		op.source_rate = i == 0 ? 1000.0 : 0.0;
		op.parallelism = 1;
		op.p_max = 64;
		if (stn__dag_add_op(d, &op, &eb) != STN_OK)
			abort();
	}
	if (stn__dag_add_edge(d, 0, 1, STN_PART_HASH, &eb) != STN_OK ||
	    stn__dag_add_edge(d, 1, 2, STN_PART_FORWARD, &eb) != STN_OK)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	stn_dag d;
	dag_of_three(&d);
	/* The first byte picks the format; the rest is the file. */
	stn_metrics_format fmt = size > 0 && (data[0] & 1) ? STN_METRICS_JSON : STN_METRICS_CSV;
	const char *text = size > 0 ? (const char *)data + 1 : "";
	size_t len = size > 0 ? size - 1 : 0;
	stn_window *w = NULL;
	size_t n = 0;
	stn_errbuf eb;
	if (stn_cli_metrics_parse(text, len, fmt, &d, &w, &n, &eb) == STN_OK) {
		if (n == 0)
			abort(); /* "no windows" is an error */
		for (size_t i = 0; i < n; i++) {
			if (w[i].n_ops != d.n_ops)
				abort();
			for (size_t v = 0; v < w[i].n_ops; v++) {
				const stn_op_window *o = &w[i].ops[v];
				if (o->parallelism < 1 || o->parallelism > d.ops[v].p_max ||
				    !(o->busy_max >= 0.0 && o->busy_max <= 1.0) ||
				    !(o->rate_in >= 0.0) || !isfinite(o->rate_in))
					abort(); /* accepted a value out of range */
			}
		}
	}
	stn_cli_metrics_free(w, n);
	stn__dag_fini(&d);
	return 0;
}
