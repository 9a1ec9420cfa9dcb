/* Benchmarks of learning from history: graph edit distance (exact and approximate pair
 * latency, the parallel matrix) and pre-training from a generated history. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "cli.h"
#include "ged.h"
#include "nn.h"
#include "pretrain.h"

/* A random connected DAG of n operators: node v > 0 takes 1..2 inputs from earlier nodes;
 * kinds and partitionings drawn from small alphabets, so that distances are not trivial. */
static void random_dag(stn_dag *d, size_t n, stn_rng *r)
{
	stn_errbuf eb;
	stn__dag_init(d);
	for (size_t v = 0; v < n; v++) {
		stn_op op;
		memset(&op, 0, sizeof(op));
		op.id = (uint32_t)v + 1;
		op.kind = v == 0 ? STN_KIND_SOURCE
				 : (stn_op_kind)(1 + stn__rng_below(r, STN_KIND_COUNT - 1));
		op.selectivity = 1.0;
		op.source_rate = v == 0 ? 1000.0 : 0.0;
		op.parallelism = 1;
		op.p_max = 64;
		(void)stn__dag_add_op(d, &op, &eb);
	}
	for (size_t v = 1; v < n; v++) {
		size_t k = 1 + (stn__rng_below(r, 3) == 0);
		for (size_t j = 0; j < k; j++)
			(void)stn__dag_add_edge(d, (uint32_t)stn__rng_below(r, v), (uint32_t)v,
						(stn_partitioning)stn__rng_below(r, 2), &eb);
	}
}

/* p50/p99 of one GED computation between random DAG pairs of n operators. */
static int ged_pairs(const stn_bench_opts *opts, size_t n, stn_ged_method method,
		     size_t pairs, stn_rng *r)
{
	double *lat = stn__malloc_array(pairs, sizeof(double));
	stn_ged_opts go = stn__ged_opts_default();
	size_t exact = 0;
	char metric[64], extra[160];
	int rc = 0;

	if (lat == NULL)
		return stn_cli_error("bench ged", "out of memory");
	go.method = method;
	go.want_path = true;
	for (size_t i = 0; i < pairs; i++) {
		stn_dag a, b;
		stn_ged_result res;
		stn_errbuf eb = {{0}};
		random_dag(&a, n, r);
		random_dag(&b, n, r);
		double t0 = stn_cli_now();
		stn_status st = stn__ged_compute(&a, &b, &go, &res, &eb);
		lat[i] = stn_cli_now() - t0;
		if (st != STN_OK) {
			rc = stn_cli_error("bench ged", "%s", eb.text);
		} else {
			exact += res.exact;
			stn__ged_result_fini(&res);
		}
		stn__dag_fini(&a);
		stn__dag_fini(&b);
		if (rc != 0)
			break;
	}
	if (rc == 0) {
		const char *m = method == STN_GED_APPROX ? "approx" : "exact";
		snprintf(extra, sizeof(extra), "\"nodes\":%zu,\"pairs\":%zu,\"proven_exact\":%zu", n,
			 pairs, exact);
		snprintf(metric, sizeof(metric), "%s_%zu_p50", m, n);
		stn_bench_emit(opts, "ged", metric, 1e6 * stn_cli_percentile(lat, pairs, 50), "us",
			       extra);
		snprintf(metric, sizeof(metric), "%s_%zu_p99", m, n);
		stn_bench_emit(opts, "ged", metric, 1e6 * stn_cli_percentile(lat, pairs, 99), "us",
			       extra);
	}
	stn__free(lat);
	return rc;
}

int bench_ged(const stn_bench_opts *opts)
{
	stn_rng r;
	int rc = 0;
	bool q = opts->quick;

	stn__rng_seed(&r, opts->seed);
	static const size_t exact_n[3] = {6, 10, 12};
	static const size_t exact_pairs[3] = {200, 100, 50};
	for (int i = 0; i < 3 && rc == 0; i++)
		rc = ged_pairs(opts, exact_n[i], STN_GED_EXACT, q ? 10 : exact_pairs[i], &r);
	if (rc == 0)
		rc = ged_pairs(opts, 50, STN_GED_APPROX, q ? 5 : 100, &r);
	if (rc == 0)
		rc = ged_pairs(opts, 200, STN_GED_APPROX, q ? 2 : 20, &r);
	if (rc != 0)
		return rc;
	/* The matrix of pre-training: normalised distances between many jobs of 4..16 operators,
	 * exact up to 12, on both cores. */
	size_t n = q ? 60 : 500;
	stn_dag *dags = stn__calloc(n, sizeof(stn_dag));
	const stn_dag **ptr = stn__calloc(n, sizeof(*ptr));
	double *dist = stn__malloc_array(n * n, sizeof(double));
	if (dags == NULL || ptr == NULL || dist == NULL) {
		rc = stn_cli_error("bench ged", "out of memory");
		goto done;
	}
	for (size_t i = 0; i < n; i++) {
		random_dag(&dags[i], 4 + stn__rng_below(&r, 13), &r);
		ptr[i] = &dags[i];
	}
	stn_ged_opts go = stn__ged_opts_default();
	stn_ged_matrix_stats stats;
	stn_errbuf eb = {{0}};
	double t0 = stn_cli_now();
	stn_status st = stn__ged_matrix(ptr, n, &go, 2, dist, NULL, NULL, NULL, &stats, &eb);
	double el = stn_cli_now() - t0;
	if (st != STN_OK) {
		rc = stn_cli_error("bench ged", "matrix: %s", eb.text);
		goto done;
	}
	char extra[160];
	snprintf(extra, sizeof(extra),
		 "\"dags\":%zu,\"nodes\":\"4..16\",\"threads\":2,\"pairs\":%llu,\"exact_pairs\":%llu", n,
		 (unsigned long long)stats.pairs, (unsigned long long)stats.exact_pairs);
	stn_bench_emit(opts, "ged", "matrix_seconds", el, "s", extra);
	stn_bench_emit(opts, "ged", "matrix_pairs_per_second", (double)stats.pairs / el, "pairs/s",
		       extra);
done:
	for (size_t i = 0; dags != NULL && i < n; i++)
		stn__dag_fini(&dags[i]);
	stn__free(dags);
	stn__free(ptr);
	stn__free(dist);
	return rc;
}

/* Pre-training on a generated history of 10-operator layered jobs: 50 jobs x 200 windows =
 * 10,000 windows (quick: 1,000), default options (2 threads, reference matrix loops). */
int bench_pretrain(const stn_bench_opts *opts)
{
	char dir[] = "/tmp/stn-bench-pretrain-XXXXXX", path[128];
	stn_histgen_opts ho;
	stn_sim_family fam = STN_SIM_RANDOM;
	stn_errbuf eb = {{0}};
	stn_histgen_report hr;
	int rc = 0;

	if (mkdtemp(dir) == NULL)
		return stn_cli_error("bench pretrain", "cannot make a temporary directory");
	snprintf(path, sizeof(path), "%s/bench.sqlite", dir);
	stn__histgen_opts_default(&ho);
	ho.families = &fam;
	ho.n_families = 1;
	ho.layered_ops = 10;
	ho.jobs = opts->quick ? 5 : 50;
	ho.windows = 200;
	ho.seed = opts->seed;
	double t0 = stn_cli_now();
	if (stn__histgen_write(path, &ho, NULL, NULL, &hr, &eb) != STN_OK) {
		rc = stn_cli_error("bench pretrain", "generating: %s", eb.text);
		goto done;
	}
	double t_gen = stn_cli_now() - t0;
	stn_pretrain_opts po;
	stn_pretrain_report rep;
	stn_model m;
	const char *paths[1] = {path};
	stn__pretrain_opts_default(&po);
	po.seed = opts->seed;
	t0 = stn_cli_now();
	if (stn__pretrain_run(paths, 1, &po, NULL, NULL, &m, &rep, &eb) != STN_OK) {
		rc = stn_cli_error("bench pretrain", "%s", eb.text);
		goto done;
	}
	double t_all = stn_cli_now() - t0;
	stn__model_fini(&m);
	char extra[256];
	snprintf(extra, sizeof(extra),
		 "\"windows\":%llu,\"ops\":10,\"jobs\":%llu,\"distinct_dags\":%llu,\"k\":%zu,"
		 "\"threads\":%u,\"target_s\":60",
		 (unsigned long long)rep.windows, (unsigned long long)rep.jobs,
		 (unsigned long long)rep.unique_dags, rep.k, po.threads);
	stn_bench_emit(opts, "pretrain", "total_seconds", t_all, "s", extra);
	stn_bench_emit(opts, "pretrain", "ged_seconds", rep.seconds_ged, "s", extra);
	stn_bench_emit(opts, "pretrain", "cluster_seconds", rep.seconds_cluster, "s", extra);
	stn_bench_emit(opts, "pretrain", "train_seconds", rep.seconds_train, "s", extra);
	stn_bench_emit(opts, "pretrain", "windows_per_second", (double)rep.windows / t_all,
		       "windows/s", extra);
	stn_bench_emit(opts, "pretrain", "generate_seconds", t_gen, "s", extra);
done:
	{
		char p2[160];
		static const char *const suffix[] = {"", "-wal", "-shm"};
		for (int i = 0; i < 3; i++) {
			snprintf(p2, sizeof(p2), "%s%s", path, suffix[i]);
			unlink(p2);
		}
		rmdir(dir);
	}
	return rc;
}
