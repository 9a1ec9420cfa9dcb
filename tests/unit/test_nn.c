/* nn: BLAS and reference products agree; PRNG determinism; activations; Adam. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "alloc.h"
#include "nn.h"

static void test_gemm_blas_matches_reference(void **state)
{
	(void)state;
	stn_rng r;
	stn__rng_seed(&r, 7);
	for (int trial = 0; trial < 40; trial++) {
		size_t m = 1 + stn__rng_below(&r, 40), n = 1 + stn__rng_below(&r, 40),
		       k = 1 + stn__rng_below(&r, 70);
		bool ta = stn__rng_below(&r, 2), tb = stn__rng_below(&r, 2);
		double *a = stn__malloc_array(m * k, sizeof(double));
		double *b = stn__malloc_array(k * n, sizeof(double));
		double *c1 = stn__malloc_array(m * n, sizeof(double));
		double *c2 = stn__malloc_array(m * n, sizeof(double));
		assert_non_null(a);
		assert_non_null(b);
		assert_non_null(c1);
		assert_non_null(c2);
		for (size_t i = 0; i < m * k; i++)
			a[i] = stn__rng_normal(&r);
		for (size_t i = 0; i < k * n; i++)
			b[i] = stn__rng_normal(&r);
		for (size_t i = 0; i < m * n; i++)
			c1[i] = c2[i] = stn__rng_normal(&r);
		size_t lda = ta ? m : k, ldb = tb ? k : n;
		stn__nn_set_blas(true);
		stn__nn_gemm(ta, tb, m, n, k, 0.7, a, lda, b, ldb, 0.3, c1, n);
		stn__nn_set_blas(false);
		stn__nn_gemm(ta, tb, m, n, k, 0.7, a, lda, b, ldb, 0.3, c2, n);
		stn__nn_set_blas(true);
		for (size_t i = 0; i < m * n; i++)
			assert_true(fabs(c1[i] - c2[i]) <= 1e-10 * (1.0 + fabs(c2[i])));
		stn__free(a);
		stn__free(b);
		stn__free(c1);
		stn__free(c2);
	}
}

static void test_rng_deterministic(void **state)
{
	(void)state;
	stn_rng a, b, c;
	stn__rng_seed(&a, 42);
	stn__rng_seed(&b, 42);
	stn__rng_seed(&c, 43);
	int differ = 0;
	double sum = 0.0;
	for (int i = 0; i < 10000; i++) {
		uint64_t x = stn__rng_next(&a);
		assert_true(x == stn__rng_next(&b));
		differ += x != stn__rng_next(&c);
		double u = stn__rng_uniform(&a);
		(void)stn__rng_uniform(&b);
		assert_true(u >= 0.0 && u < 1.0);
		sum += u;
	}
	assert_true(differ > 9990);
	assert_true(fabs(sum / 10000.0 - 0.5) < 0.02);
}

static void test_activations(void **state)
{
	(void)state;
	assert_true(fabs(stn__nn_sigmoid(0.0) - 0.5) < 1e-15);
	assert_true(stn__nn_sigmoid(-1000.0) >= 0.0 && stn__nn_sigmoid(-1000.0) < 1e-300);
	assert_true(stn__nn_sigmoid(1000.0) == 1.0);
	assert_true(fabs(stn__nn_softplus(0.0) - log(2.0)) < 1e-15);
	assert_true(fabs(stn__nn_softplus(1000.0) - 1000.0) < 1e-9);
	assert_true(stn__nn_softplus(-1000.0) >= 0.0);
	assert_true(fabs(stn__nn_logit(stn__nn_sigmoid(1.5)) - 1.5) < 1e-12);
}

static void test_adam_minimises_quadratic(void **state)
{
	(void)state;
	stn_adam a;
	double w[3] = {5.0, -3.0, 1.0}, g[3];
	uint8_t mask[3] = {1, 1, 0};
	assert_int_equal(stn__adam_init(&a, 3, 0.05), STN_OK);
	for (int it = 0; it < 2000; it++) {
		for (int i = 0; i < 3; i++)
			g[i] = 2.0 * (w[i] - (double)i);
		stn__adam_step(&a, w, g, mask);
	}
	assert_true(fabs(w[0]) < 1e-2);
	assert_true(fabs(w[1] - 1.0) < 1e-2);
	assert_true(w[2] == 1.0); /* masked */
	stn__adam_fini(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gemm_blas_matches_reference),
		cmocka_unit_test(test_rng_deterministic),
		cmocka_unit_test(test_activations),
		cmocka_unit_test(test_adam_minimises_quadratic),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
