/* head: delta gradient by finite differences; monotonicity in p and closed form equal to a
 * brute-force search for 1,000 random models (including extreme weights) on random DAGs;
 * the head over many rows equals it row by row; BLAS and reference paths agree on whole
 * predictions. */
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
#include "train.h"

static void test_delta_gradient(void **state)
{
	(void)state;
	stn_rng r;
	stn_dag g[2];
	stn_errbuf eb;
	stn_net n;
	tl_problem pr;
	stn_net_config cfg = {2, 5, STN_GNN_FEAT_DIM};
	stn__rng_seed(&r, 77);
	tl_random_dag(&g[0], 7, &r);
	tl_random_dag(&g[1], 9, &r);
	assert_int_equal(stn__net_init(&n, &cfg, &eb), STN_OK);
	stn__net_init_random(&n, 78);
	tl_problem_make(&pr, &n, g, 2, &r);
	(void)tl_loss(&n, &pr, true);
	size_t N = pr.b.n_nodes;
	double *an = stn__malloc_array(N, sizeof(double));
	assert_non_null(an);
	memcpy(an, pr.ddelta, N * sizeof(double));
	double d2 = 0.0, a2 = 0.0, n2 = 0.0, h = 1e-6;
	for (size_t v = 0; v < N; v++) {
		double keep = pr.delta[v];
		pr.delta[v] = keep + h;
		double lp = tl_loss(&n, &pr, false);
		pr.delta[v] = keep - h;
		double lm = tl_loss(&n, &pr, false);
		pr.delta[v] = keep;
		double num = (lp - lm) / (2 * h);
		d2 += (num - an[v]) * (num - an[v]);
		a2 += an[v] * an[v];
		n2 += num * num;
	}
	double e = sqrt(d2) / (sqrt(a2) + sqrt(n2));
	printf("  gradcheck delta relerr %.2e\n", e);
	assert_true(e < 1e-6);
	assert_true(a2 > 0.0);
	/* A perturbed delta gradient fails the same check. */
	an[0] *= 1.05;
	an[0] += 1e-3;
	d2 = 0.0;
	for (size_t v = 0; v < N; v++) {
		double keep = pr.delta[v];
		pr.delta[v] = keep + h;
		double lp = tl_loss(&n, &pr, false);
		pr.delta[v] = keep - h;
		double lm = tl_loss(&n, &pr, false);
		pr.delta[v] = keep;
		double num = (lp - lm) / (2 * h);
		d2 += (num - an[v]) * (num - an[v]);
	}
	assert_true(sqrt(d2) / (sqrt(a2) + sqrt(n2)) > 1e-6);
	stn__free(an);
	tl_problem_free(&pr);
	stn__net_fini(&n);
	stn__dag_fini(&g[0]);
	stn__dag_fini(&g[1]);
}

static uint32_t brute_force(const stn_head_out *o, double ll, double tau, uint32_t p_max)
{
	for (uint32_t p = 1; p <= p_max; p++)
		if (stn__head_prob(o, ll, (double)p) <= tau)
			return p;
	return p_max;
}

static void test_monotone_and_closed_form(void **state)
{
	(void)state;
	stn_rng r;
	stn_errbuf eb;
	const uint32_t p_max = 64;
	double curve[64];
	size_t checked = 0, nontrivial = 0;
	stn__rng_seed(&r, 2024);
	for (int model = 0; model < 1000; model++) {
		stn_net_config cfg = {2 + (uint32_t)(model % 2), 4 + (uint32_t)(model % 5),
				      STN_GNN_FEAT_DIM};
		stn_net n;
		stn_dag d;
		assert_int_equal(stn__net_init(&n, &cfg, &eb), STN_OK);
		/* Scales from tiny to extreme (±50 and beyond through the layers). */
		double scale = model % 4 == 0 ? 50.0 : model % 4 == 1 ? 5.0 :
			       model % 4 == 2 ? 1.0 : 1e-3;
		for (size_t k = 0; k < n.n_params; k++)
			n.w[k] = scale * (2.0 * stn__rng_uniform(&r) - 1.0);
		tl_random_dag(&d, 2 + stn__rng_below(&r, 20), &r);
		double *z = stn__malloc_array(d.n_ops * cfg.width, sizeof(double));
		double lr[64];
		double *x = stn__malloc_array(d.n_ops * STN_GNN_FEAT_DIM, sizeof(double));
		assert_non_null(z);
		assert_non_null(x);
		assert_int_equal(stn__gnn_features(&d, x, lr), STN_OK);
		assert_int_equal(stn__train_embed(&n, &d, z, &eb), STN_OK);
		for (size_t v = 0; v < d.n_ops; v++) {
			stn_head_out o;
			double delta = model % 7 == 0 ? 100.0 * stn__rng_normal(&r) : 0.0;
			stn__head_eval(&n, z + v * cfg.width, delta, &o);
			assert_true(isfinite(o.log_c) && isfinite(o.alpha) && isfinite(o.s));
			assert_true(o.alpha > 0.2 && o.alpha <= 1.0);
			assert_true(o.s > 0.0);
			/* Half the rates near the model's own boundary, so p* lands inside 1..P_max. */
			double ll = v % 2 ? lr[v] + 3.0 * stn__rng_normal(&r) :
					    o.log_c + o.alpha * 4.3 * stn__rng_uniform(&r);
			stn__head_curve(&o, ll, p_max, curve);
			for (uint32_t p = 0; p < p_max; p++) {
				assert_false(isnan(curve[p]));
				if (p > 0)
					assert_true(curve[p] <= curve[p - 1]);
				/* The curve is the probability, to rounding. */
				double exact = stn__head_prob(&o, ll, (double)(p + 1));
				assert_true(fabs(curve[p] - exact) <= 1e-12 + 1e-12 * exact);
			}
			for (int ti = 0; ti < 3; ti++) {
				double tau = ti == 0 ? 0.1 : ti == 1 ? 0.5 : 0.9;
				uint32_t cf = stn__head_min_parallelism(&o, ll, tau, p_max);
				uint32_t bf = brute_force(&o, ll, tau, p_max);
				assert_int_equal(cf, bf);
				nontrivial += cf > 1 && cf < p_max;
				checked++;
			}
		}
		stn__free(z);
		stn__free(x);
		stn__dag_fini(&d);
		stn__net_fini(&n);
	}
	printf("  closed form == brute force in %zu cases (%zu strictly inside 1..P_max)\n",
	       checked, nontrivial);
	assert_true(nontrivial > checked / 5);
}

/* Hand-computed cases of the closed form. */
static void test_closed_form_exact_cases(void **state)
{
	(void)state;
	stn_head_out o = {.log_c = log(1000.0), .alpha = 1.0, .s = 50.0};
	/* lambda = 3500, tau = 0.5: need p >= 3.5 -> 4. */
	assert_int_equal(stn__head_min_parallelism(&o, log(3500.0), 0.5, 64), 4);
	assert_int_equal(stn__head_min_parallelism(&o, log(500.0), 0.5, 64), 1);
	assert_int_equal(stn__head_min_parallelism(&o, log(1e9), 0.5, 64), 64);
	o.alpha = 0.5; /* p^0.5 >= 3.5 -> p >= 12.25 -> 13 */
	assert_int_equal(stn__head_min_parallelism(&o, log(3500.0), 0.5, 64), 13);
	assert_true(stn__head_prob(&o, log(3500.0), 13.0) < 0.5);
	assert_true(stn__head_prob(&o, log(3500.0), 12.0) > 0.5);
}

/* The head over many rows at once gives, bit for bit, what it gives row by row, for row counts
 * around its four-row blocks and for extreme weights. */
static void test_head_rows_equal_single(void **state)
{
	(void)state;
	stn_rng r;
	stn_errbuf eb;
	stn_net n;
	stn_net_config cfg = {2, 7, STN_GNN_FEAT_DIM};
	stn__rng_seed(&r, 5);
	assert_int_equal(stn__net_init(&n, &cfg, &eb), STN_OK);
	double z[11 * 7];
	stn_head_out rows[11], one;
	for (int trial = 0; trial < 200; trial++) {
		double scale = trial % 3 == 0 ? 50.0 : trial % 3 == 1 ? 1.0 : 1e-3;
		for (size_t k = 0; k < n.n_params; k++)
			n.w[k] = scale * (2.0 * stn__rng_uniform(&r) - 1.0);
		for (size_t k = 0; k < 11 * 7; k++)
			z[k] = 3.0 * stn__rng_uniform(&r);
		size_t count = 1 + (size_t)trial % 11;
		double delta = trial % 5 == 0 ? 10.0 * stn__rng_normal(&r) : 0.0;
		stn__head_eval_rows(&n, z, count, delta, rows);
		for (size_t v = 0; v < count; v++) {
			stn__head_eval(&n, z + v * 7, delta, &one);
			assert_memory_equal(&rows[v], &one, sizeof(one));
		}
	}
	stn__net_fini(&n);
}

static void test_blas_reference_predictions_agree(void **state)
{
	(void)state;
	stn_rng r;
	stn_errbuf eb;
	stn_dag d;
	stn_net n;
	stn_net_config cfg = {3, 48, STN_GNN_FEAT_DIM};
	stn__rng_seed(&r, 99);
	tl_random_dag(&d, 60, &r);
	assert_int_equal(stn__net_init(&n, &cfg, &eb), STN_OK);
	stn__net_init_random(&n, 100);
	double *z1 = stn__malloc_array(60 * 48, sizeof(double));
	double *z2 = stn__malloc_array(60 * 48, sizeof(double));
	assert_non_null(z1);
	assert_non_null(z2);
	stn__nn_set_blas(true);
	assert_int_equal(stn__train_embed(&n, &d, z1, &eb), STN_OK);
	stn__nn_set_blas(false);
	assert_int_equal(stn__train_embed(&n, &d, z2, &eb), STN_OK);
	stn__nn_set_blas(true);
	double maxd = 0.0;
	for (size_t i = 0; i < 60 * 48; i++) {
		double dd = fabs(z1[i] - z2[i]) / (1.0 + fabs(z2[i]));
		maxd = dd > maxd ? dd : maxd;
	}
	printf("  BLAS vs reference: max relative difference %.2e\n", maxd);
	assert_true(maxd < 1e-10);
	stn__free(z1);
	stn__free(z2);
	stn__net_fini(&n);
	stn__dag_fini(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_delta_gradient),
		cmocka_unit_test(test_monotone_and_closed_form),
		cmocka_unit_test(test_closed_form_exact_cases),
		cmocka_unit_test(test_head_rows_equal_single),
		cmocka_unit_test(test_blas_reference_predictions_agree),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
