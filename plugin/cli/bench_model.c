/* Benchmarks of the learning core: prediction latency (every operator's probability curve and
 * minimal parallelism) and training throughput. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "cli.h"
#include "head.h"
#include "train.h"

/* A layered random DAG of n operators (same shape as the tests use). */
static void layered_dag(stn_dag *d, size_t n, stn_rng *r)
{
	stn_errbuf eb;
	stn__dag_init(d);
	for (size_t v = 0; v < n; v++) {
		stn_op op;
		memset(&op, 0, sizeof(op));
		op.id = (uint32_t)v;
		op.kind = v < 2 ? STN_KIND_SOURCE
				: (stn_op_kind)(1 + stn__rng_below(r, STN_KIND_COUNT - 1));
		op.source_rate = v < 2 ? 10000.0 : 0.0;
		op.selectivity = 1.0;
		op.parallelism = 1;
		op.p_max = 64;
		(void)stn__dag_add_op(d, &op, &eb);
	}
	for (size_t v = 2; v < n; v++)
		for (int k = 0; k < 2; k++)
			(void)stn__dag_add_edge(d, (uint32_t)stn__rng_below(r, v), (uint32_t)v,
						STN_PART_HASH, &eb);
}

static void truth(const stn_op *op, double *lc, double *al)
{
	*lc = 7.0 + 0.3 * (double)op->kind;
	*al = 0.6 + 0.04 * (double)op->kind;
}

int bench_predict(const stn_bench_opts *opts)
{
	const size_t sizes[3] = {8, 64, 256};
	stn_net_config cfg = {2, 32, STN_GNN_FEAT_DIM};
	stn_errbuf eb;
	stn_net n;
	stn_rng r;
	stn_gnn_batch batch;
	stn_gnn_cache cache;
	int rc = 0;
	memset(&batch, 0, sizeof(batch));
	memset(&cache, 0, sizeof(cache));
	stn__nn_blas_threads(1);
	if (stn__net_init(&n, &cfg, &eb) != STN_OK)
		return stn_cli_error("bench predict", "%s", eb.text);
	stn__net_init_random(&n, opts->seed);
	stn__rng_seed(&r, opts->seed);
	size_t iters = opts->quick ? 200 : 3000;
	for (int si = 0; si < 3; si++) {
		size_t ops = sizes[si];
		stn_dag d;
		layered_dag(&d, ops, &r);
		double *curve = stn__malloc_array(ops * 64, sizeof(double));
		double *lat = stn__malloc_array(iters, sizeof(double));
		uint32_t *pstar = stn__malloc_array(ops, sizeof(uint32_t));
		double *lr = stn__malloc_array(ops, sizeof(double));
		double *x = stn__malloc_array(ops * STN_GNN_FEAT_DIM, sizeof(double));
		stn_head_out *heads = stn__malloc_array(ops, sizeof(stn_head_out));
		if (curve == NULL || lat == NULL || pstar == NULL || lr == NULL ||
		    x == NULL || heads == NULL || stn__gnn_features(&d, x, lr) != STN_OK) {
			rc = stn_cli_error("bench predict", "setup failed");
			goto next_size;
		}
		double sink = 0.0;
		const stn_dag *dp = &d;
		/* The first rounds fault pages in and warm the caches; they are run, not timed. */
		size_t warm_up = iters / 10;
		for (size_t it = 0; it < warm_up + iters; it++) {
			/* A serving loop keeps its encoder cache between rounds. */
			double t0 = stn_cli_now();
			if (stn__gnn_batch_build(&batch, &dp, 1, &eb) != STN_OK ||
			    stn__gnn_forward(&n, &batch, &cache) != STN_OK) {
				rc = stn_cli_error("bench predict", "encoder failed");
				goto next_size;
			}
			stn__head_eval_rows(&n, cache.h[cfg.layers], ops, 0.0, heads);
			for (size_t v = 0; v < ops; v++) {
				stn__head_curve(&heads[v], lr[v], 64, curve + v * 64);
				pstar[v] = stn__head_min_parallelism(&heads[v], lr[v], 0.5, 64);
			}
			if (it >= warm_up)
				lat[it - warm_up] = (stn_cli_now() - t0) * 1e6;
			sink += curve[0] + pstar[ops - 1];
		}
		char extra[96];
		snprintf(extra, sizeof(extra),
			 "\"ops\":%zu,\"p_max\":64,\"width\":32,\"layers\":2,\"blas_threads\":1",
			 ops);
		stn_bench_emit(opts, "predict", "p50_latency", stn_cli_percentile(lat, iters, 50),
			       "us", extra);
		stn_bench_emit(opts, "predict", "p99_latency", stn_cli_percentile(lat, iters, 99),
			       "us", extra);
		if (!(sink == sink))
			rc = 1;
next_size:
		stn__free(curve);
		stn__free(lat);
		stn__free(pstar);
		stn__free(lr);
		stn__free(x);
		stn__free(heads);
		stn__dag_fini(&d);
	}
	stn__gnn_batch_fini(&batch);
	stn__gnn_cache_fini(&cache);
	stn__net_fini(&n);
	return rc;
}

int bench_train(const stn_bench_opts *opts)
{
	stn_net_config cfg = {2, 32, STN_GNN_FEAT_DIM};
	stn_errbuf eb;
	stn_net n;
	stn_rng r;
	stn_train_set s;
	stn_train_opts o;
	stn_train_report rep;
	size_t jobs = opts->quick ? 20 : 200, windows = opts->quick ? 10 : 20;
	int rc = 0;

	stn__train_set_init(&s);
	stn__rng_seed(&r, opts->seed);
	for (size_t j = 0; j < jobs; j++) {
		stn_dag d;
		size_t gi, nops = 3 + stn__rng_below(&r, 30);
		layered_dag(&d, nops, &r);
		if (stn__train_set_add_graph(&s, &d, &gi, &eb) != STN_OK) {
			stn__dag_fini(&d);
			rc = stn_cli_error("bench train", "%s", eb.text);
			goto done;
		}
		double lam[64];
		uint32_t p[64];
		int8_t lab[64];
		for (size_t w = 0; w < windows; w++) {
			for (size_t v = 0; v < nops; v++) {
				double lc, al;
				truth(&d.ops[v], &lc, &al);
				lam[v] = exp(lc + al * 3.0 * stn__rng_uniform(&r));
				p[v] = (uint32_t)(1 + stn__rng_below(&r, 24));
				lab[v] = log(lam[v]) > lc + al * log((double)p[v]) ? 1 : 0;
			}
			if (stn__train_set_add_sample(&s, gi, lam, p, lab, &eb) != STN_OK) {
				rc = stn_cli_error("bench train", "%s", eb.text);
				stn__dag_fini(&d);
				goto done;
			}
		}
		stn__dag_fini(&d);
	}
	stn__train_opts_default(&o);
	o.max_epochs = opts->quick ? 3 : 10;
	o.patience = 1000;
	o.seed = opts->seed;
	if (stn__net_init(&n, &cfg, &eb) != STN_OK) {
		rc = stn_cli_error("bench train", "%s", eb.text);
		goto done;
	}
	stn__net_init_random(&n, opts->seed);
	stn__nn_blas_threads(1);
	if (stn__train_fit(&n, &s, &o, &rep, &eb) != STN_OK) {
		rc = stn_cli_error("bench train", "%s", eb.text);
	} else {
		char extra[96];
		/* Windows processed: each epoch trains on n_train and evaluates n_val. */
		double w = (double)rep.epochs * (double)rep.n_train;
		snprintf(extra, sizeof(extra), "\"width\":32,\"layers\":2,\"epochs\":%u",
			 (unsigned)rep.epochs);
		stn_bench_emit(opts, "train", "throughput", w / rep.seconds, "windows/s", extra);
	}
	stn__net_fini(&n);
done:
	stn__train_set_fini(&s);
	return rc;
}
