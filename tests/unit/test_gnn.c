/* gnn: features, batching, and the encoder's backward pass checked by central finite
 * differences for every parameter tensor (encoder and head) on random graphs. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "model_testlib.h"

#define GRAD_TOL 1e-6

static void test_features(void **state)
{
	(void)state;
	stn_rng r;
	stn_dag d;
	stn__rng_seed(&r, 3);
	tl_random_dag(&d, 12, &r);
	double x[12 * STN_GNN_FEAT_DIM], lr[12], rate[12];
	assert_int_equal(stn__gnn_features(&d, x, lr), STN_OK);
	assert_int_equal(stn__dag_propagate_rates(&d, rate, NULL), STN_OK);
	for (size_t v = 0; v < d.n_ops; v++) {
		const double *row = x + v * STN_GNN_FEAT_DIM;
		double kinds = 0.0, parts = 0.0;
		for (unsigned k = 0; k < STN_KIND_COUNT; k++)
			kinds += row[k];
		assert_true(kinds == 1.0);
		assert_true(row[STN_GNN_FEAT_KIND + (unsigned)d.ops[v].kind] == 1.0);
		assert_true(fabs(row[STN_GNN_FEAT_RATE] - log1p(rate[v]) / 10.0) < 1e-12);
		assert_true(fabs(lr[v] - log(rate[v])) < 1e-9);
		for (unsigned k = 0; k < STN_PART_COUNT; k++)
			parts += row[STN_GNN_FEAT_PART + k];
		bool src = stn__dag_in_degree(&d, (uint32_t)v) == 0;
		assert_true(row[STN_GNN_FEAT_SOURCE] == (src ? 1.0 : 0.0));
		assert_true(fabs(parts - (src ? 0.0 : 1.0)) < 1e-12);
	}
	stn__dag_fini(&d);
}

/* Encoder output does not depend on the batch the graph is in. */
static void test_batch_is_block_diagonal(void **state)
{
	(void)state;
	stn_rng r;
	stn_dag g[3];
	stn_errbuf eb;
	stn_net n;
	stn_net_config cfg = {2, 8, STN_GNN_FEAT_DIM};
	stn__rng_seed(&r, 5);
	for (int i = 0; i < 3; i++)
		tl_random_dag(&g[i], 5 + 4 * (size_t)i, &r);
	assert_int_equal(stn__net_init(&n, &cfg, &eb), STN_OK);
	stn__net_init_random(&n, 9);
	stn_gnn_batch all = {0}, one = {0};
	stn_gnn_cache ca = {0}, co = {0};
	const stn_dag *gp[3] = {&g[0], &g[1], &g[2]};
	assert_int_equal(stn__gnn_batch_build(&all, gp, 3, &eb), STN_OK);
	assert_int_equal(stn__gnn_forward(&n, &all, &ca), STN_OK);
	assert_int_equal(stn__gnn_batch_build(&one, gp + 1, 1, &eb), STN_OK);
	assert_int_equal(stn__gnn_forward(&n, &one, &co), STN_OK);
	size_t base = all.graph_start[1];
	double nz = 0.0;
	for (size_t i = 0; i < g[1].n_ops * 8; i++) {
		assert_true(fabs(ca.h[2][base * 8 + i] - co.h[2][i]) < 1e-12);
		nz += fabs(co.h[2][i]);
	}
	assert_true(nz > 0.0);
	stn__gnn_batch_fini(&all);
	stn__gnn_batch_fini(&one);
	stn__gnn_cache_fini(&ca);
	stn__gnn_cache_fini(&co);
	stn__net_fini(&n);
	for (int i = 0; i < 3; i++)
		stn__dag_fini(&g[i]);
}

/* The encoder layer by its definition, summed in the documented order: P = h W^T over k in
 * order, then per node bias + self term and its edges' mean terms in edge order. */
static void reference_forward(const stn_net *n, const stn_gnn_batch *b, double *h_out)
{
	size_t N = b->n_nodes, H = n->cfg.width, H3 = 3 * H, din = n->cfg.feat_dim;
	double *h = stn__malloc_array(N * (H > din ? H : din), sizeof(double));
	double *P = stn__malloc_array(N * H3, sizeof(double));
	assert_non_null(h);
	assert_non_null(P);
	memcpy(h, b->x, N * din * sizeof(double));
	for (uint32_t l = 0; l < n->cfg.layers; l++) {
		const double *w = n->w + n->tensors[4 * l].offset;
		const double *bias = n->w + n->tensors[4 * l + 3].offset;
		for (size_t v = 0; v < N; v++)
			for (size_t j = 0; j < H3; j++) {
				double acc = 0.0;
				for (size_t k = 0; k < din; k++)
					acc += h[v * din + k] * w[j * din + k];
				P[v * H3 + j] = acc;
			}
		for (size_t v = 0; v < N; v++)
			for (size_t j = 0; j < H; j++)
				h_out[v * H + j] = bias[j] + P[v * H3 + j];
		for (size_t e = 0; e < b->n_edges; e++) {
			uint32_t u = b->src[e], v = b->dst[e];
			for (size_t j = 0; j < H; j++) {
				h_out[v * H + j] += b->inv_in[v] * P[u * H3 + H + j];
				h_out[u * H + j] += b->inv_out[u] * P[v * H3 + 2 * H + j];
			}
		}
		for (size_t i = 0; i < N * H; i++)
			h_out[i] = h_out[i] > 0.0 ? h_out[i] : 0.0;
		memcpy(h, h_out, N * H * sizeof(double));
		din = H;
	}
	stn__free(h);
	stn__free(P);
}

/* The encoder's vectorised kernels (blocks of 32 outputs, a scalar remainder, zero inputs
 * skipped) compute exactly the bits of the layer's definition, for widths that use only the
 * blocks, blocks and remainder, and only the remainder. */
static void test_forward_equals_definition(void **state)
{
	(void)state;
	const uint32_t widths[4] = {32, 40, 5, 64};
	stn_rng r;
	stn_errbuf eb;
	stn__rng_seed(&r, 17);
	for (int wi = 0; wi < 4; wi++) {
		stn_dag g[2];
		const stn_dag *gp[2] = {&g[0], &g[1]};
		stn_net n;
		stn_net_config cfg = {wi == 1 ? 3 : 2, widths[wi], STN_GNN_FEAT_DIM};
		stn_gnn_batch b = {0};
		stn_gnn_cache c = {0};
		tl_random_dag(&g[0], 20 + 7 * (size_t)wi, &r);
		tl_random_dag(&g[1], 9, &r);
		assert_int_equal(stn__net_init(&n, &cfg, &eb), STN_OK);
		stn__net_init_random(&n, 40 + (uint64_t)wi);
		/* Non-zero biases so both signs reach the ReLU. */
		for (uint32_t l = 0; l < cfg.layers; l++)
			for (size_t j = 0; j < cfg.width; j++)
				n.w[n.tensors[4 * l + 3].offset + j] = stn__rng_uniform(&r) - 0.5;
		assert_int_equal(stn__gnn_batch_build(&b, gp, 2, &eb), STN_OK);
		assert_int_equal(stn__gnn_forward(&n, &b, &c), STN_OK);
		size_t cells = b.n_nodes * cfg.width, zeros = 0;
		double *want = stn__malloc_array(cells, sizeof(double));
		assert_non_null(want);
		reference_forward(&n, &b, want);
		assert_memory_equal(c.h[cfg.layers], want, cells * sizeof(double));
		for (size_t i = 0; i < cells; i++)
			zeros += want[i] == 0.0;
		assert_true(zeros > 0 && zeros < cells);
		stn__free(want);
		stn__gnn_batch_fini(&b);
		stn__gnn_cache_fini(&c);
		stn__net_fini(&n);
		stn__dag_fini(&g[0]);
		stn__dag_fini(&g[1]);
	}
}

static void gradcheck(uint32_t layers, uint32_t width, uint64_t seed, bool use_blas)
{
	stn_rng r;
	stn_dag g[3];
	stn_errbuf eb;
	stn_net n;
	tl_problem pr;
	stn_net_config cfg = {layers, width, STN_GNN_FEAT_DIM};

	stn__nn_set_blas(use_blas);
	stn__rng_seed(&r, seed);
	for (int i = 0; i < 3; i++)
		tl_random_dag(&g[i], 4 + stn__rng_below(&r, 9), &r);
	assert_int_equal(stn__net_init(&n, &cfg, &eb), STN_OK);
	stn__net_init_random(&n, seed + 1);
	tl_problem_make(&pr, &n, g, 3, &r);
	double *an = stn__malloc_array(n.n_params, sizeof(double));
	assert_non_null(an);
	double l0 = tl_loss(&n, &pr, true);
	assert_true(isfinite(l0));
	memcpy(an, n.g, n.n_params * sizeof(double));
	for (size_t t = 0; t < n.n_tensors; t++) {
		double e = tl_tensor_relerr(&n, &pr, &n.tensors[t], an);
		printf("  gradcheck L=%u H=%u %-12s relerr %.2e\n", (unsigned)layers,
		       (unsigned)width, n.tensors[t].name, e);
		assert_true(e < GRAD_TOL);
	}
	/* A wrong gradient is detected: perturb the largest entry of each tensor by 2 %. */
	for (size_t t = 0; t < n.n_tensors; t++) {
		const stn_param_tensor *pt = &n.tensors[t];
		size_t best = pt->offset;
		for (size_t i = pt->offset; i < pt->offset + pt->rows * pt->cols; i++)
			if (fabs(an[i]) > fabs(an[best]))
				best = i;
		if (an[best] == 0.0)
			continue;
		double keep = an[best];
		an[best] *= 1.02;
		double e = tl_tensor_relerr(&n, &pr, pt, an);
		an[best] = keep;
		assert_true(e > GRAD_TOL);
	}
	stn__free(an);
	tl_problem_free(&pr);
	stn__net_fini(&n);
	for (int i = 0; i < 3; i++)
		stn__dag_fini(&g[i]);
	stn__nn_set_blas(true);
}

static void test_gradcheck_two_layers(void **state)
{
	(void)state;
	gradcheck(2, 6, 11, true);
}

static void test_gradcheck_three_layers_reference(void **state)
{
	(void)state;
	gradcheck(3, 5, 12, false);
}

static void test_gradcheck_many_graphs(void **state)
{
	(void)state;
	for (uint64_t s = 20; s < 24; s++)
		gradcheck(2, 4, s, true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_features),
		cmocka_unit_test(test_batch_is_block_diagonal),
		cmocka_unit_test(test_forward_equals_definition),
		cmocka_unit_test(test_gradcheck_two_layers),
		cmocka_unit_test(test_gradcheck_three_layers_reference),
		cmocka_unit_test(test_gradcheck_many_graphs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
