/* Helpers shared by the learning-core tests (nn, gnn, head, train, model): random valid
 * DAGs, and a synthetic truth following the head's own formula. Header-only, static. */
#ifndef STN_MODEL_TESTLIB_H
#define STN_MODEL_TESTLIB_H

#include <math.h>
#include <string.h>

#include "dag.h"
#include "gnn.h"
#include "head.h"
#include "nn.h"

/* A random layered DAG of n operators (n >= 2): the first 1-2 are sources, every other
 * operator has 1-2 predecessors among earlier ones; operators without successors are
 * sinks by structure. */
static inline void tl_random_dag(stn_dag *d, size_t n, stn_rng *r)
{
	stn_errbuf eb;
	size_t n_src = n > 3 && stn__rng_below(r, 2) ? 2 : 1;

	stn__dag_init(d);
	for (size_t v = 0; v < n; v++) {
		stn_op op;
		memset(&op, 0, sizeof(op));
		op.id = (uint32_t)(100 + v);
		snprintf(op.name, sizeof(op.name), "op%zu", v);
		if (v < n_src) {
			op.kind = STN_KIND_SOURCE;
			op.source_rate = 1000.0 * exp(4.0 * stn__rng_uniform(r));
		} else {
			op.kind = (stn_op_kind)(1 + stn__rng_below(r, STN_KIND_COUNT - 1));
		}
		op.stateful = op.kind == STN_KIND_WINDOW || op.kind == STN_KIND_JOIN ||
			      op.kind == STN_KIND_AGGREGATE;
		op.selectivity = op.kind == STN_KIND_FILTER ? 0.5 :
				 op.kind == STN_KIND_FLAT_MAP ? 2.0 : 1.0;
		op.parallelism = 1;
		op.p_max = 64;
		(void)stn__dag_add_op(d, &op, &eb);
	}
	for (size_t v = n_src; v < n; v++) {
		size_t k = 1 + stn__rng_below(r, v >= 2 ? 2 : 1);
		for (size_t j = 0; j < k; j++) {
			uint32_t u = (uint32_t)stn__rng_below(r, v);
			(void)stn__dag_add_edge(d, u, (uint32_t)v,
						(stn_partitioning)stn__rng_below(r, STN_PART_COUNT),
						&eb); /* duplicates rejected: fine */
		}
	}
}

/* True per-instance capacity (log) and scaling exponent of an operator: a function of its
 * kind, state and selectivity only, so the encoder can learn it. */
static inline void tl_truth(const stn_op *op, double *log_c, double *alpha)
{
	static const double base[STN_KIND_COUNT] = {9.5, 9.0, 9.8, 8.2, 8.8,
						    7.5, 7.2, 7.8, 9.6, 8.5};
	static const double al[STN_KIND_COUNT] = {1.0, 0.95, 1.0, 0.9, 0.85,
						  0.7, 0.6, 0.75, 1.0, 0.8};
	unsigned k = (unsigned)op->kind < STN_KIND_COUNT ? (unsigned)op->kind : 0;
	*log_c = base[k] - (op->stateful ? 0.3 : 0.0) - 0.2 * log(op->selectivity);
	*alpha = al[k];
}

/* Oracle minimal parallelism: c p^alpha >= lambda. */
static inline uint32_t tl_oracle(double log_lambda, double log_c, double alpha, uint32_t p_max)
{
	double t = (log_lambda - log_c) / alpha;
	if (t <= 0.0)
		return 1;
	double p = ceil(exp(t) - 1e-9);
	return p > (double)p_max ? p_max : (uint32_t)p;
}

#endif

#ifndef STN_MODEL_TESTLIB_GRAD
#define STN_MODEL_TESTLIB_GRAD
/* A loss over a batch for gradient checks: every node has a label, p, log lambda and delta. */
typedef struct tl_problem {
	stn_gnn_batch b;
	stn_gnn_cache c;
	double *log_lambda, *p, *delta, *ddelta, *dz;
	int *label;
} tl_problem;

static inline double tl_loss(stn_net *n, tl_problem *pr, bool grad)
{
	size_t N = pr->b.n_nodes, H = n->cfg.width;
	double loss = 0.0;
	if (stn__gnn_forward(n, &pr->b, &pr->c) != STN_OK)
		return NAN;
	const double *z = pr->c.h[n->cfg.layers];
	if (grad) {
		stn__net_zero_grad(n);
		memset(pr->dz, 0, N * H * sizeof(double));
		memset(pr->ddelta, 0, N * sizeof(double));
	}
	for (size_t v = 0; v < N; v++)
		loss += stn__head_loss_backward(n, z + v * H, pr->delta[v], pr->log_lambda[v],
						pr->p[v], pr->label[v], v % 3 ? 1.0 : 2.5,
						grad ? n->g + n->head_offset : NULL,
						grad ? pr->dz + v * H : NULL,
						grad ? &pr->ddelta[v] : NULL);
	if (grad)
		(void)stn__gnn_backward(n, &pr->b, &pr->c, pr->dz);
	return loss;
}

static inline void tl_problem_make(tl_problem *pr, const stn_net *n, stn_dag *graphs,
				   size_t n_graphs, stn_rng *r)
{
	stn_errbuf eb;
	const stn_dag *gp[8];
	memset(pr, 0, sizeof(*pr));
	for (size_t i = 0; i < n_graphs && i < 8; i++)
		gp[i] = &graphs[i];
	(void)stn__gnn_batch_build(&pr->b, gp, n_graphs, &eb);
	size_t N = pr->b.n_nodes;
	pr->log_lambda = stn__malloc_array(N, sizeof(double));
	pr->p = stn__malloc_array(N, sizeof(double));
	pr->delta = stn__malloc_array(N, sizeof(double));
	pr->ddelta = stn__malloc_array(N, sizeof(double));
	pr->dz = stn__malloc_array(N * n->cfg.width, sizeof(double));
	pr->label = stn__malloc_array(N, sizeof(int));
	for (size_t v = 0; v < N; v++) {
		pr->log_lambda[v] = 4.0 + 2.0 * stn__rng_uniform(r);
		pr->p[v] = (double)(1 + stn__rng_below(r, 16));
		pr->delta[v] = 0.3 * stn__rng_normal(r);
		pr->label[v] = (int)stn__rng_below(r, 2);
	}
}

static inline void tl_problem_free(tl_problem *pr)
{
	stn__gnn_batch_fini(&pr->b);
	stn__gnn_cache_fini(&pr->c);
	stn__free(pr->log_lambda);
	stn__free(pr->p);
	stn__free(pr->delta);
	stn__free(pr->ddelta);
	stn__free(pr->dz);
	stn__free(pr->label);
}

/* Relative error ||analytic - numeric|| / (||analytic|| + ||numeric||) of one tensor, by
 * central differences; analytic is the gradient already in n->g (copied first). */
static inline double tl_tensor_relerr(stn_net *n, tl_problem *pr, const stn_param_tensor *t,
				      const double *analytic)
{
	double num2 = 0.0, diff2 = 0.0, an2 = 0.0, h = 1e-6;
	for (size_t i = 0; i < t->rows * t->cols; i++) {
		double *w = &n->w[t->offset + i], keep = *w;
		*w = keep + h;
		double lp = tl_loss(n, pr, false);
		*w = keep - h;
		double lm = tl_loss(n, pr, false);
		*w = keep;
		double num = (lp - lm) / (2.0 * h), a = analytic[t->offset + i];
		num2 += num * num;
		an2 += a * a;
		diff2 += (num - a) * (num - a);
	}
	return sqrt(diff2) / (sqrt(an2) + sqrt(num2) + 1e-12);
}
#endif
