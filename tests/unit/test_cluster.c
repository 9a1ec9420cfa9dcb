/* cluster: PAM on small hand-checked matrices, the silhouette and its choice of k, radii,
 * assignment with a margin, the adjusted Rand index, input errors, allocation failures, and
 * the recovery of planted clusters of DAG families from their GED matrix. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "cluster.h"
#include "dag.h"
#include "ged.h"
#include "nn.h"

/* Distance matrix of points on a line. */
static double *line_matrix(const double *x, size_t n)
{
	double *d = calloc(n * n, sizeof(double));

	assert_non_null(d);
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < n; j++)
			d[i * n + j] = fabs(x[i] - x[j]);
	return d;
}

/* ---- PAM ------------------------------------------------------------------------------- */

static void test_pam_three_groups_on_a_line(void **state)
{
	/* Groups {0,1,2}, {10,11,12}, {20,21}: the middle points are the medoids, the last
	 * group's tie goes to the lower index. */
	const double x[8] = {0, 1, 2, 10, 11, 12, 20, 21};
	double *d = line_matrix(x, 8);
	stn_clustering c;
	stn_errbuf eb;

	(void)state;
	assert_int_equal(stn__cluster_pam(d, 8, 3, NULL, &c, &eb), STN_OK);
	assert_int_equal(c.k, 3);
	assert_int_equal(c.n, 8);
	assert_int_equal(c.medoid[0], 1);
	assert_int_equal(c.medoid[1], 4);
	assert_int_equal(c.medoid[2], 6);
	const size_t want[8] = {0, 0, 0, 1, 1, 1, 2, 2};
	for (size_t i = 0; i < 8; i++)
		assert_int_equal(c.assign[i], want[i]);
	assert_int_equal(c.size[0], 3);
	assert_int_equal(c.size[1], 3);
	assert_int_equal(c.size[2], 2);
	assert_true(fabs(c.cost - 5.0) < 1e-12);
	assert_int_equal(c.k_first, 3);
	assert_int_equal(c.k_last, 3);
	assert_true(c.silhouette == c.silhouette_by_k[0]);
	stn__cluster_fini(&c);
	stn__cluster_fini(&c); /* safe twice */
	free(d);
}

static void test_pam_swap_improves_on_build(void **state)
{
	/* BUILD's first medoid is the most central item overall (index 2, x = 5); the best pair
	 * of medoids is {1, 4}: SWAP must move away from the greedy start. */
	const double x[6] = {0, 1, 5, 9, 10, 11};
	double *d = line_matrix(x, 6);
	stn_clustering c;
	stn_errbuf eb;

	(void)state;
	assert_int_equal(stn__cluster_pam(d, 6, 2, NULL, &c, &eb), STN_OK);
	/* Optimum: {0,1,5} with medoid 1 (cost 1+4) and {9,10,11} with medoid 10 (cost 2). */
	assert_true(fabs(c.cost - 7.0) < 1e-12);
	assert_int_equal(c.medoid[0], 1);
	assert_int_equal(c.medoid[1], 4);
	stn__cluster_fini(&c);
	free(d);
}

static void test_pam_k_equals_n_and_one(void **state)
{
	const double x[4] = {0, 3, 7, 8};
	double *d = line_matrix(x, 4);
	stn_clustering c;
	stn_errbuf eb;

	(void)state;
	assert_int_equal(stn__cluster_pam(d, 4, 4, NULL, &c, &eb), STN_OK);
	assert_true(c.cost == 0.0);
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(c.medoid[i], i);
		assert_int_equal(c.assign[i], i);
		assert_true(c.radius[i] == 0.0);
	}
	assert_true(c.silhouette == 0.0); /* all alone */
	stn__cluster_fini(&c);
	assert_int_equal(stn__cluster_pam(d, 4, 1, NULL, &c, &eb), STN_OK);
	/* Row sums 18, 12, 12, 14: index 1 wins the tie with 2. */
	assert_int_equal(c.medoid[0], 1);
	assert_true(fabs(c.cost - 12.0) < 1e-12);
	assert_true(c.silhouette == 0.0);
	stn__cluster_fini(&c);
	free(d);
}

/* ---- silhouette ------------------------------------------------------------------------ */

static void test_silhouette_hand_value(void **state)
{
	const double x[4] = {0, 1, 10, 11};
	double *d = line_matrix(x, 4);
	const size_t good[4] = {0, 0, 1, 1}, bad[4] = {0, 1, 0, 1};

	(void)state;
	/* Point 0: a = 1, b = 10.5; point 1: a = 1, b = 9.5; symmetric for the others. */
	double want = (9.5 / 10.5 + 8.5 / 9.5) / 2.0;
	assert_true(fabs(stn__cluster_silhouette(d, 4, good, 2) - want) < 1e-12);
	assert_true(stn__cluster_silhouette(d, 4, bad, 2) < 0.0);
	assert_true(stn__cluster_silhouette(d, 4, good, 1) == 0.0);
	free(d);
}

static void test_fit_chooses_k_by_silhouette(void **state)
{
	const double x[12] = {0, 1, 2, 30, 31, 32, 60, 61, 62, 90, 91, 92};
	double *d = line_matrix(x, 12);
	stn_cluster_opts o = stn__cluster_opts_default();
	stn_clustering c;
	stn_errbuf eb;

	(void)state;
	assert_int_equal(stn__cluster_fit(d, 12, &o, &c, &eb), STN_OK);
	assert_int_equal(c.k, 4);
	assert_int_equal(c.k_first, 2);
	assert_int_equal(c.k_last, 8);
	for (size_t k = c.k_first; k <= c.k_last; k++)
		if (k != 4)
			assert_true(c.silhouette_by_k[k - c.k_first] < c.silhouette);
	for (size_t i = 0; i < 12; i++)
		assert_int_equal(c.assign[i], i / 3);
	stn__cluster_fini(&c);
	/* k_max above n is clamped; k_min = 1 allowed. */
	o.k_min = 1;
	o.k_max = 100;
	assert_int_equal(stn__cluster_fit(d, 12, &o, &c, &eb), STN_OK);
	assert_int_equal(c.k, 4);
	assert_int_equal(c.k_first, 1);
	assert_int_equal(c.k_last, 12);
	stn__cluster_fini(&c);
	free(d);
}

static void test_fit_single_item_and_no_structure(void **state)
{
	double zero = 0.0;
	stn_clustering c;
	stn_errbuf eb;
	double d4[16];

	(void)state;
	assert_int_equal(stn__cluster_fit(&zero, 1, NULL, &c, &eb), STN_OK);
	assert_int_equal(c.k, 1);
	assert_int_equal(c.medoid[0], 0);
	stn__cluster_fini(&c);
	/* Four identical items: every split scores 0, so the smallest k of the range wins. */
	memset(d4, 0, sizeof(d4));
	assert_int_equal(stn__cluster_fit(d4, 4, NULL, &c, &eb), STN_OK);
	assert_int_equal(c.k, 2);
	assert_true(c.silhouette == 0.0);
	stn__cluster_fini(&c);
}

/* ---- radii and assignment -------------------------------------------------------------- */

static void test_radius_quantile_and_minimum(void **state)
{
	/* Medoid 0 at x = 0, members at distances 1,1,2,2,3,3,4,4,5,5. */
	const double x[11] = {0, 1, -1, 2, -2, 3, -3, 4, -4, 5, -5};
	double *d = line_matrix(x, 11);
	stn_cluster_opts o = stn__cluster_opts_default();
	stn_clustering c;
	stn_errbuf eb;
	const struct {
		double q, want;
	} cases[] = {{0.9, 5.0}, {0.5, 3.0}, {0.7, 4.0}, {1.0, 5.0}, {0.05, 1.0}};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		o.radius_quantile = cases[i].q;
		assert_int_equal(stn__cluster_pam(d, 11, 1, &o, &c, &eb), STN_OK);
		assert_int_equal(c.medoid[0], 0);
		assert_true(c.radius[0] == cases[i].want);
		stn__cluster_fini(&c);
	}
	o.radius_quantile = 0.5;
	o.min_radius = 3.5;
	assert_int_equal(stn__cluster_pam(d, 11, 1, &o, &c, &eb), STN_OK);
	assert_true(c.radius[0] == 3.5);
	stn__cluster_fini(&c);
	free(d);
}

static void test_assign_with_margin(void **state)
{
	const double x[6] = {0, 1, 2, 20, 22, 24};
	double *d = line_matrix(x, 6);
	stn_cluster_opts o = stn__cluster_opts_default();
	stn_clustering c;
	stn_errbuf eb;
	size_t nearest = 99;

	(void)state;
	o.radius_quantile = 1.0;
	assert_int_equal(stn__cluster_pam(d, 6, 2, &o, &c, &eb), STN_OK);
	assert_int_equal(c.medoid[0], 1);
	assert_int_equal(c.medoid[1], 4);
	assert_true(c.radius[0] == 1.0);
	assert_true(c.radius[1] == 2.0);
	{
		double dist[2] = {1.4, 19.0}; /* inside 1 * 1.5 */
		assert_int_equal(stn__cluster_assign(&c, dist, 1.5, &nearest), 0);
		assert_int_equal(nearest, 0);
	}
	{
		double dist[2] = {1.6, 19.0}; /* beyond 1 * 1.5: global, nearest still 0 */
		nearest = 99;
		assert_int_equal(stn__cluster_assign(&c, dist, 1.5, &nearest), -1);
		assert_int_equal(nearest, 0);
		/* A wider margin takes it in; margin <= 0 means the default 1.5. */
		assert_int_equal(stn__cluster_assign(&c, dist, 2.0, NULL), 0);
		assert_int_equal(stn__cluster_assign(&c, dist, 0.0, NULL), -1);
		assert_int_equal(stn__cluster_assign(&c, dist, NAN, NULL), -1);
	}
	{
		double dist[2] = {5.0, 2.9}; /* cluster 1 nearer and within 2 * 1.5 */
		assert_int_equal(stn__cluster_assign(&c, dist, 1.5, &nearest), 1);
		assert_int_equal(nearest, 1);
	}
	{
		double dist[2] = {0.5, 0.5}; /* tie: lower cluster */
		assert_int_equal(stn__cluster_assign(&c, dist, 1.5, &nearest), 0);
	}
	{
		double dist[2] = {NAN, 2.5}; /* unusable distances are skipped */
		assert_int_equal(stn__cluster_assign(&c, dist, 1.5, &nearest), 1);
		double none[2] = {NAN, -1.0};
		assert_int_equal(stn__cluster_assign(&c, none, 1.5, &nearest), -1);
	}
	assert_int_equal(stn__cluster_assign(&c, NULL, 1.5, &nearest), -1);
	assert_int_equal(stn__cluster_assign(NULL, x, 1.5, &nearest), -1);
	stn__cluster_fini(&c);
	{
		stn_clustering empty;
		memset(&empty, 0, sizeof(empty));
		assert_int_equal(stn__cluster_assign(&empty, x, 1.5, &nearest), -1);
	}
	free(d);
}

/* ---- adjusted Rand index --------------------------------------------------------------- */

static void test_ari_values(void **state)
{
	const size_t a[6] = {0, 0, 0, 1, 1, 1};
	const size_t same[6] = {1, 1, 1, 0, 0, 0};
	const size_t b[6] = {0, 0, 1, 1, 2, 2};
	const size_t one[6] = {0, 0, 0, 0, 0, 0};
	const size_t bad[6] = {0, 0, 0, 0, 0, 6};

	(void)state;
	assert_true(fabs(stn__cluster_ari(a, a, 6) - 1.0) < 1e-12);
	assert_true(fabs(stn__cluster_ari(a, same, 6) - 1.0) < 1e-12);
	/* Contingency [[2,1,0],[0,1,2]]: (2 - 6*3/15) / (4.5 - 1.2) = 0.8 / 3.3. */
	assert_true(fabs(stn__cluster_ari(a, b, 6) - 0.8 / 3.3) < 1e-12);
	assert_true(fabs(stn__cluster_ari(b, a, 6) - 0.8 / 3.3) < 1e-12);
	assert_true(stn__cluster_ari(a, one, 6) == 0.0);
	assert_true(stn__cluster_ari(one, one, 6) == 1.0);
	assert_true(isnan(stn__cluster_ari(a, bad, 6)));
	assert_true(stn__cluster_ari(a, b, 1) == 1.0);
}

/* ---- errors ---------------------------------------------------------------------------- */

static void test_input_errors(void **state)
{
	const double x[3] = {0, 1, 2};
	double *d = line_matrix(x, 3);
	stn_cluster_opts o = stn__cluster_opts_default();
	stn_clustering c;
	stn_errbuf eb;

	(void)state;
	assert_int_equal(stn__cluster_fit(d, 0, NULL, &c, &eb), STN_EINVAL);
	assert_int_equal(stn__cluster_fit(NULL, 3, NULL, &c, &eb), STN_EINVAL);
	assert_int_equal(stn__cluster_pam(d, 3, 0, NULL, &c, &eb), STN_EINVAL);
	assert_int_equal(stn__cluster_pam(d, 3, 4, NULL, &c, &eb), STN_EINVAL);
	assert_non_null(strstr(eb.text, "k = 4"));
	assert_int_equal(stn__cluster_fit(d, STN_CLUSTER_MAX_ITEMS + 1, NULL, &c, &eb),
			 STN_ETOOBIG);
	o.k_min = 3;
	o.k_max = 2;
	assert_int_equal(stn__cluster_fit(d, 3, &o, &c, &eb), STN_EINVAL);
	o = stn__cluster_opts_default();
	o.radius_quantile = 0.0;
	assert_int_equal(stn__cluster_fit(d, 3, &o, &c, &eb), STN_EINVAL);
	o.radius_quantile = 1.5;
	assert_int_equal(stn__cluster_fit(d, 3, &o, &c, &eb), STN_EINVAL);
	o = stn__cluster_opts_default();
	o.min_radius = -1.0;
	assert_int_equal(stn__cluster_fit(d, 3, &o, &c, &eb), STN_EINVAL);
	o.min_radius = INFINITY;
	assert_int_equal(stn__cluster_fit(d, 3, &o, &c, &eb), STN_EINVAL);
	/* Bad matrices: asymmetric, negative, NaN, non-zero diagonal. */
	d[1] = 5.0;
	assert_int_equal(stn__cluster_fit(d, 3, NULL, &c, &eb), STN_EINVAL);
	assert_non_null(strstr(eb.text, "differ"));
	d[1] = d[3] = -1.0;
	assert_int_equal(stn__cluster_fit(d, 3, NULL, &c, &eb), STN_EINVAL);
	d[1] = d[3] = NAN;
	assert_int_equal(stn__cluster_check_matrix(d, 3, &eb), STN_EINVAL);
	d[1] = d[3] = 1.0;
	assert_int_equal(stn__cluster_check_matrix(d, 3, &eb), STN_OK);
	d[4] = 0.5;
	assert_int_equal(stn__cluster_pam(d, 3, 2, NULL, &c, &eb), STN_EINVAL);
	assert_non_null(strstr(eb.text, "(1, 1)"));
	/* Failed calls leave an empty clustering. */
	assert_int_equal(c.k, 0);
	assert_null(c.medoid);
	free(d);
}

static void test_allocation_failures(void **state)
{
	const double x[9] = {0, 1, 2, 10, 11, 12, 20, 21, 22};
	double *d = line_matrix(x, 9);
	stn_clustering ref, c;
	stn_errbuf eb;
	size_t failures = 0;

	(void)state;
	assert_int_equal(stn__cluster_fit(d, 9, NULL, &ref, &eb), STN_OK);
	for (uint64_t n = 1; n < 400; n++) {
		stn__alloc_fail_after(n);
		stn_status st = stn__cluster_fit(d, 9, NULL, &c, &eb);
		stn__alloc_fail_after(0);
		if (st == STN_OK) {
			/* Success under injection means every allocation happened: same result. */
			assert_int_equal(c.k, ref.k);
			assert_true(c.silhouette == ref.silhouette);
			stn__cluster_fini(&c);
			break;
		}
		assert_int_equal(st, STN_ENOMEM);
		assert_null(c.medoid);
		failures++;
	}
	assert_true(failures > 10);
	stn__cluster_fini(&ref);
	free(d);
}

/* ---- planted clusters of DAG families -------------------------------------------------- */

#define FAMILIES 4
#define PER_FAMILY 10

static void add_op(stn_dag *d, stn_op_kind kind)
{
	stn_errbuf eb;
	stn_op op;

	memset(&op, 0, sizeof(op));
	op.id = (uint32_t)d->n_ops + 1;
	op.kind = kind;
	op.stateful = kind == STN_KIND_WINDOW || kind == STN_KIND_JOIN ||
		      kind == STN_KIND_AGGREGATE;
	op.selectivity = 1.0;
	op.source_rate = kind == STN_KIND_SOURCE ? 1000.0 : 0.0;
	op.parallelism = 1;
	op.p_max = 8;
	assert_int_equal(stn__dag_add_op(d, &op, &eb), STN_OK);
}

static void add_edge(stn_dag *d, uint32_t a, uint32_t b, stn_partitioning p)
{
	stn_errbuf eb;

	assert_int_equal(stn__dag_add_edge(d, a, b, p, &eb), STN_OK);
}

/* The skeletons of four families (kinds, edges with partitioning) of eight operators, small
 * enough for exact GED and large enough that one variation stays closer to its own family:
 *   0 pipeline: source -> 6 stateless operators -> sink, forward edges;
 *   1 join: two sources -> filters -> hash join -> aggregate -> map -> sink;
 *   2 windowed: source -> (exchange -> window -> aggregate) twice -> sink, hash edges;
 *   3 fan-out: source -> flat_map -> 3 maps by broadcast -> 3 sinks. */
typedef struct skeleton {
	size_t n_ops, n_edges;
	stn_op_kind kind[8];
	uint32_t from[8], to[8];
	stn_partitioning part[8];
} skeleton;

#define S STN_KIND_SOURCE
#define M STN_KIND_MAP
#define F STN_KIND_FILTER
#define J STN_KIND_JOIN
#define A STN_KIND_AGGREGATE
#define X STN_KIND_EXCHANGE
#define W STN_KIND_WINDOW
#define FM STN_KIND_FLAT_MAP
#define K STN_KIND_SINK
#define PF STN_PART_FORWARD
#define PH STN_PART_HASH
#define PB STN_PART_BROADCAST
static const skeleton skeletons[FAMILIES] = {
	{8, 7, {S, M, F, M, FM, M, F, K}, {0, 1, 2, 3, 4, 5, 6}, {1, 2, 3, 4, 5, 6, 7},
	 {PF, PF, PF, PF, PF, PF, PF}},
	{8, 7, {S, S, F, F, J, A, M, K}, {0, 1, 2, 3, 4, 5, 6}, {2, 3, 4, 4, 5, 6, 7},
	 {PF, PF, PH, PH, PH, PF, PF}},
	{8, 7, {S, X, W, A, X, W, A, K}, {0, 1, 2, 3, 4, 5, 6}, {1, 2, 3, 4, 5, 6, 7},
	 {PH, PH, PH, PF, PH, PH, PF}},
	{8, 7, {S, FM, M, M, M, K, K, K}, {0, 1, 1, 1, 2, 3, 4}, {1, 2, 3, 4, 5, 6, 7},
	 {PF, PB, PB, PB, PF, PF, PF}},
};
#undef S
#undef M
#undef F
#undef J
#undef A
#undef X
#undef W
#undef FM
#undef K
#undef PF
#undef PH
#undef PB

/* A family member: the skeleton with one random variation: none, one stateless operator
 * inserted on an edge, one stateless operator's kind changed (map, filter, flat_map), or
 * one edge's partitioning changed. */
static void family_dag(stn_dag *d, int fam, stn_rng *r)
{
	static const stn_op_kind stateless[3] = {STN_KIND_MAP, STN_KIND_FILTER,
						 STN_KIND_FLAT_MAP};
	const skeleton *sk = &skeletons[fam];
	uint32_t variation = (uint32_t)stn__rng_below(r, 4);
	uint32_t e_pick = (uint32_t)stn__rng_below(r, sk->n_edges);

	stn__dag_init(d);
	for (size_t v = 0; v < sk->n_ops; v++) {
		stn_op_kind k = sk->kind[v];
		if (variation == 2 && v == 1 + e_pick % (sk->n_ops - 2) &&
		    (k == STN_KIND_MAP || k == STN_KIND_FILTER || k == STN_KIND_FLAT_MAP))
			k = stateless[stn__rng_below(r, 3)];
		add_op(d, k);
	}
	for (size_t e = 0; e < sk->n_edges; e++) {
		stn_partitioning p = sk->part[e];
		if (variation == 1 && e == e_pick) {
			add_op(d, stateless[stn__rng_below(r, 3)]);
			add_edge(d, sk->from[e], (uint32_t)d->n_ops - 1, STN_PART_FORWARD);
			add_edge(d, (uint32_t)d->n_ops - 1, sk->to[e], p);
			continue;
		}
		if (variation == 3 && e == e_pick)
			p = p == STN_PART_FORWARD ? STN_PART_REBALANCE : STN_PART_FORWARD;
		add_edge(d, sk->from[e], sk->to[e], p);
	}
	assert_int_equal(stn__dag_validate(d, NULL), STN_OK);
}

static void test_planted_dag_families(void **state)
{
	enum { N = FAMILIES * PER_FAMILY };
	stn_dag dags[N];
	const stn_dag *ptr[N];
	size_t truth[N];
	double *d = calloc((size_t)N * N, sizeof(double)), *d2 = calloc((size_t)N * N,
									  sizeof(double));
	stn_ged_matrix_stats stats;
	stn_clustering c;
	stn_errbuf eb;
	stn_rng r;

	(void)state;
	assert_non_null(d);
	assert_non_null(d2);
	stn__rng_seed(&r, 20261125);
	/* Families interleaved, so that item order says nothing about the family. */
	for (size_t i = 0; i < N; i++) {
		truth[i] = i % FAMILIES;
		family_dag(&dags[i], (int)truth[i], &r);
		ptr[i] = &dags[i];
	}
	assert_int_equal(stn__ged_matrix(ptr, N, NULL, 2, d, NULL, NULL, NULL, &stats, &eb),
			 STN_OK);
	assert_int_equal(stats.exact_pairs, stats.pairs);
	assert_int_equal(stn__cluster_fit(d, N, NULL, &c, &eb), STN_OK);
	double ari = stn__cluster_ari(truth, c.assign, N);
	printf("planted DAG families: k = %zu, silhouette %.3f, adjusted Rand index %.4f\n", c.k,
	       c.silhouette, ari);
	for (size_t k = c.k_first; k <= c.k_last; k++)
		printf("  k = %zu: silhouette %.4f\n", k, c.silhouette_by_k[k - c.k_first]);
	assert_true(ari >= 0.9);
	assert_int_equal(c.k, FAMILIES);
	/* Each family's medoid is one of its own and the radii cover most of the members. */
	for (size_t m = 0; m < c.k; m++) {
		size_t fam = truth[c.medoid[m]], inside = 0;
		for (size_t i = 0; i < N; i++)
			if (truth[i] == fam)
				inside += d[c.medoid[m] * N + i] <= c.radius[m] * STN_CLUSTER_DEFAULT_MARGIN;
		assert_true(inside >= PER_FAMILY - 1);
	}
	/* Deterministic: the same matrix with one thread gives the same clustering. */
	assert_int_equal(stn__ged_matrix(ptr, N, NULL, 1, d2, NULL, NULL, NULL, NULL, &eb), STN_OK);
	assert_memory_equal(d, d2, (size_t)N * N * sizeof(double));
	{
		stn_clustering c2;
		assert_int_equal(stn__cluster_fit(d2, N, NULL, &c2, &eb), STN_OK);
		assert_int_equal(c2.k, c.k);
		assert_memory_equal(c2.medoid, c.medoid, c.k * sizeof(size_t));
		assert_memory_equal(c2.assign, c.assign, N * sizeof(size_t));
		stn__cluster_fini(&c2);
	}
	/* A new member of family 2 is assigned to family 2's cluster; a graph unlike every
	 * family (a long chain of joins) goes to the global model. */
	{
		stn_dag fresh, odd;
		double dist[STN_CLUSTER_MAX_K];
		stn_ged_result res;
		size_t nearest;

		family_dag(&fresh, 2, &r);
		for (size_t m = 0; m < c.k; m++) {
			assert_int_equal(stn__ged_compute(&fresh, &dags[c.medoid[m]], NULL, &res, &eb),
					 STN_OK);
			dist[m] = res.normalised;
			stn__ged_result_fini(&res);
		}
		long got = stn__cluster_assign(&c, dist, 0.0, &nearest);
		assert_true(got >= 0);
		assert_int_equal(truth[c.medoid[(size_t)got]], 2);

		stn__dag_init(&odd);
		for (int v = 0; v < 9; v++)
			add_op(&odd, v == 0 ? STN_KIND_SOURCE : STN_KIND_JOIN);
		for (uint32_t v = 1; v < 9; v++)
			add_edge(&odd, v - 1, v, STN_PART_BROADCAST);
		for (size_t m = 0; m < c.k; m++) {
			assert_int_equal(stn__ged_compute(&odd, &dags[c.medoid[m]], NULL, &res, &eb),
					 STN_OK);
			dist[m] = res.normalised;
			stn__ged_result_fini(&res);
		}
		assert_int_equal(stn__cluster_assign(&c, dist, 0.0, &nearest), -1);
		stn__dag_fini(&fresh);
		stn__dag_fini(&odd);
	}
	stn__cluster_fini(&c);
	for (size_t i = 0; i < N; i++)
		stn__dag_fini(&dags[i]);
	free(d);
	free(d2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pam_three_groups_on_a_line),
		cmocka_unit_test(test_pam_swap_improves_on_build),
		cmocka_unit_test(test_pam_k_equals_n_and_one),
		cmocka_unit_test(test_silhouette_hand_value),
		cmocka_unit_test(test_fit_chooses_k_by_silhouette),
		cmocka_unit_test(test_fit_single_item_and_no_structure),
		cmocka_unit_test(test_radius_quantile_and_minimum),
		cmocka_unit_test(test_assign_with_margin),
		cmocka_unit_test(test_ari_values),
		cmocka_unit_test(test_input_errors),
		cmocka_unit_test(test_allocation_failures),
		cmocka_unit_test(test_planted_dag_families),
	};
	return cmocka_run_group_tests_name("cluster", tests, NULL, NULL);
}
