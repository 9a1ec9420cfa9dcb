/* bench_tuner: streamtune's decision latency per window, including the online fit of every
 * operator's offset and exponent, for 8-, 64- and 256-operator jobs (p50 and p99). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "cli.h"
#include "dag.h"
#include "policy.h"
#include "window.h"

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double unit(uint64_t *s)
{
	return (double)(splitmix(s) >> 11) * 0x1.0p-53;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* A layered DAG of n operators: op i takes input from op (i - 1) and, every third, also from
 * op (i - 3); op 0 is the source. */
static int build_dag(stn_dag *d, size_t n, uint64_t *rng)
{
	stn_errbuf eb = {{0}};
	stn__dag_init(d);
	for (size_t i = 0; i < n; i++) {
		stn_op op;
		memset(&op, 0, sizeof(op));
		op.id = (uint32_t)i;
		op.kind = i == 0 ? STN_KIND_SOURCE : STN_KIND_MAP;
		op.selectivity = 0.8 + 0.4 * unit(rng);
		op.source_rate = i == 0 ? 10000 : 0;
		op.parallelism = 1 + (uint32_t)(splitmix(rng) % 8);
		op.p_max = 64;
		if (stn__dag_add_op(d, &op, &eb) != STN_OK)
			return -1;
		if (i > 0 && stn__dag_add_edge(d, (uint32_t)(i - 1), (uint32_t)i, STN_PART_HASH,
					       &eb) != STN_OK)
			return -1;
		if (i >= 3 && i % 3 == 0 &&
		    stn__dag_add_edge(d, (uint32_t)(i - 3), (uint32_t)i, STN_PART_FORWARD, &eb) !=
			    STN_OK)
			return -1;
	}
	return 0;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int bench_decide(const stn_bench_opts *opts)
{
	static const size_t sizes[3] = {8, 64, 256};
	size_t rounds = opts->quick ? 200 : 3000;
	uint64_t rng = opts->seed ? opts->seed : 1;
	const stn_policy_vtable *vt = stn__policy_find("streamtune");
	if (!vt)
		return 1;
	double *lat = stn__malloc_array(rounds, sizeof(double));
	if (!lat)
		return 1;
	int rc = 1;
	for (size_t k = 0; k < 3; k++) {
		size_t n = sizes[k];
		stn_dag d;
		stn_window w;
		stn_decision dec;
		stn_policy *pol = NULL;
		stn_errbuf eb = {{0}};
		memset(&w, 0, sizeof(w));
		memset(&dec, 0, sizeof(dec));
		if (build_dag(&d, n, &rng) != 0 || stn__window_init(&w, &d, 0) != STN_OK ||
		    stn__decision_init(&dec, n) != STN_OK)
			goto cleanup_size;
		stn_policy_option po[] = {{"local_prior", 1}, {"warm_up", 0},
					  {"reconfigs_per_hour", 3600}};
		if (vt->create(&d, po, 3, NULL, &pol, &eb) != STN_OK)
			goto cleanup_size;
		w.duration_ms = 1000;
		for (size_t r = 0; r < rounds; r++) {
			for (size_t v = 0; v < n; v++) {
				stn_op_window *o = &w.ops[v];
				o->busy_mean = 0.3 + 0.7 * unit(&rng);
				o->busy_max = fmin(1.0, o->busy_mean * 1.1);
				o->rate_in = 1000 + 9000 * unit(&rng);
				o->rate_out = o->rate_in;
				o->label = (splitmix(&rng) % 3 == 0) ? STN_LABEL_BOTTLENECK : STN_LABEL_OK;
				o->bp_max = -1;
			}
			bool decided = false;
			double t0 = now_s();
			stn_status st = vt->on_window(pol, &w, &dec, &decided, &eb);
			lat[r] = (now_s() - t0) * 1e6;
			if (st != STN_OK)
				goto cleanup_size;
			for (size_t v = 0; v < n && decided; v++)
				w.ops[v].parallelism = dec.parallelism[v];
		}
		qsort(lat, rounds, sizeof(double), cmp_double);
		char extra[64];
		snprintf(extra, sizeof(extra), "\"ops\":%zu,\"rounds\":%zu", n, rounds);
		stn_bench_emit(opts, "decide", "p50", lat[rounds / 2], "us", extra);
		stn_bench_emit(opts, "decide", "p99", lat[(rounds * 99) / 100], "us", extra);
		vt->destroy(pol);
		pol = NULL;
		stn__decision_fini(&dec);
		stn__window_fini(&w);
		stn__dag_fini(&d);
		continue;
cleanup_size:
		if (pol)
			vt->destroy(pol);
		stn__decision_fini(&dec);
		stn__window_fini(&w);
		stn__dag_fini(&d);
		goto cleanup;
	}
	rc = 0;
cleanup:
	stn__free(lat);
	return rc;
}
