/* dag: construction limits, validation, order, rate propagation, hash. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "alloc.h"
#include "dag.h"

static stn_op mk(uint32_t id, stn_op_kind kind, double sel, double rate)
{
	stn_op op;

	memset(&op, 0, sizeof(op));
	op.id = id;
	op.kind = kind;
	op.selectivity = sel;
	op.source_rate = rate;
	op.parallelism = 1;
	op.p_max = 8;
	return op;
}

/* Two sources joined, then a filter of selectivity 0.5 and a sink. */
static void diamond(stn_dag *d)
{
	stn_errbuf eb = {{0}};
	stn_op ops[] = {
		mk(10, STN_KIND_SOURCE, 1.0, 1000.0), mk(11, STN_KIND_SOURCE, 2.0, 500.0),
		mk(12, STN_KIND_JOIN, 1.0, 0.0), mk(13, STN_KIND_FILTER, 0.5, 0.0),
		mk(14, STN_KIND_SINK, 1.0, 0.0),
	};

	stn__dag_init(d);
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(stn__dag_add_op(d, &ops[i], &eb), STN_OK);
	assert_int_equal(stn__dag_add_edge(d, 0, 2, STN_PART_HASH, &eb), STN_OK);
	assert_int_equal(stn__dag_add_edge(d, 1, 2, STN_PART_HASH, &eb), STN_OK);
	assert_int_equal(stn__dag_add_edge(d, 2, 3, STN_PART_FORWARD, &eb), STN_OK);
	assert_int_equal(stn__dag_add_edge(d, 3, 4, STN_PART_FORWARD, &eb), STN_OK);
}

static void test_rates_and_order(void **state)
{
	stn_errbuf eb = {{0}};
	stn_dag d;
	double in[5], out[5];
	uint32_t order[5], pos[5];

	(void)state;
	diamond(&d);
	assert_int_equal(stn__dag_validate(&d, &eb), STN_OK);
	assert_int_equal(stn__dag_topo_order(&d, order), STN_OK);
	for (uint32_t i = 0; i < 5; i++)
		pos[order[i]] = i;
	for (size_t e = 0; e < d.n_edges; e++)
		assert_true(pos[d.edges[e].from] < pos[d.edges[e].to]);
	assert_int_equal(stn__dag_propagate_rates(&d, in, out), STN_OK);
	assert_true(fabs(in[2] - (1000.0 + 1000.0)) < 1e-9); /* 1000*1 + 500*2 */
	assert_true(fabs(in[3] - 2000.0) < 1e-9);
	assert_true(fabs(in[4] - 1000.0) < 1e-9);
	assert_true(fabs(out[4] - 1000.0) < 1e-9);
	/* Observed selectivities replace the graph's: the join halves, the map passes all. */
	double observed_sel[5] = {1.0, 2.0, 0.5, 1.0, 1.0};
	assert_int_equal(stn__dag_propagate_observed(&d, observed_sel, in), STN_OK);
	assert_true(fabs(in[2] - 2000.0) < 1e-9);
	assert_true(fabs(in[3] - 1000.0) < 1e-9);
	assert_true(fabs(in[4] - 1000.0) < 1e-9);
	assert_int_equal(stn__dag_in_degree(&d, 2), 2);
	assert_int_equal(stn__dag_out_degree(&d, 2), 1);
	stn__dag_fini(&d);
}

static void test_rejects_bad_graphs(void **state)
{
	stn_errbuf eb = {{0}};
	stn_dag d;
	stn_op op = mk(1, STN_KIND_MAP, 1.0, 0.0);

	(void)state;
	diamond(&d);
	/* A cycle through the join. */
	assert_int_equal(stn__dag_add_edge(&d, 4, 2, STN_PART_HASH, &eb), STN_OK);
	assert_int_equal(stn__dag_validate(&d, &eb), STN_ECYCLE);
	assert_non_null(strstr(eb.text, "cycle"));
	stn__dag_fini(&d);

	diamond(&d);
	assert_int_equal(stn__dag_add_edge(&d, 0, 0, STN_PART_HASH, &eb), STN_ECYCLE);
	assert_int_equal(stn__dag_add_edge(&d, 0, 2, STN_PART_HASH, &eb), STN_EGRAPH);
	assert_int_equal(stn__dag_add_edge(&d, 0, 99, STN_PART_HASH, &eb), STN_EGRAPH);
	op.id = 10;
	assert_int_equal(stn__dag_add_op(&d, &op, &eb), STN_EGRAPH); /* duplicate id */
	d.ops[3].selectivity = NAN;
	assert_int_equal(stn__dag_validate(&d, &eb), STN_EVALUE);
	d.ops[3].selectivity = 0.5;
	d.ops[3].parallelism = 9; /* above p_max 8 */
	assert_int_equal(stn__dag_validate(&d, &eb), STN_EVALUE);
	stn__dag_fini(&d);

	stn__dag_init(&d);
	assert_int_equal(stn__dag_validate(&d, &eb), STN_EGRAPH); /* empty */
	for (uint32_t i = 0; i < STN_DAG_MAX_OPS; i++) {
		op.id = i;
		assert_int_equal(stn__dag_add_op(&d, &op, &eb), STN_OK);
	}
	op.id = STN_DAG_MAX_OPS;
	assert_int_equal(stn__dag_add_op(&d, &op, &eb), STN_ETOOBIG);
	stn__dag_fini(&d);
}

static void test_hash_and_copy(void **state)
{
	stn_dag a, b;

	(void)state;
	diamond(&a);
	stn__dag_init(&b);
	assert_int_equal(stn__dag_copy(&b, &a), STN_OK);
	assert_true(stn__dag_hash(&a) == stn__dag_hash(&b));
	b.ops[0].parallelism = 7; /* run-time state does not change the version */
	b.ops[0].source_rate = 5.0;
	assert_true(stn__dag_hash(&a) == stn__dag_hash(&b));
	b.edges[2].part = STN_PART_BROADCAST;
	assert_true(stn__dag_hash(&a) != stn__dag_hash(&b));
	stn__dag_fini(&a);
	stn__dag_fini(&b);
}

static void test_names(void **state)
{
	stn_op_kind k;
	stn_partitioning p;

	(void)state;
	for (int i = 0; i < STN_KIND_COUNT; i++) {
		const char *n = stn__op_kind_name((stn_op_kind)i);
		assert_int_equal(stn__op_kind_parse(n, strlen(n), &k), STN_OK);
		assert_int_equal(k, i);
	}
	for (int i = 0; i < STN_PART_COUNT; i++) {
		const char *n = stn__part_name((stn_partitioning)i);
		assert_int_equal(stn__part_parse(n, strlen(n), &p), STN_OK);
		assert_int_equal(p, i);
	}
	assert_int_equal(stn__op_kind_parse("mapx", 4, &k), STN_ENOTFOUND);
	assert_int_equal(stn__op_kind_parse("mapx", 3, &k), STN_OK);
	assert_int_equal(k, STN_KIND_MAP);
	assert_null(stn__op_kind_name(STN_KIND_COUNT));
}

static void test_alloc_failure(void **state)
{
	stn_errbuf eb = {{0}};
	stn_dag a, b;

	(void)state;
	diamond(&a);
	stn__dag_init(&b);
	stn__alloc_fail_after(1);
	assert_int_equal(stn__dag_copy(&b, &a), STN_ENOMEM);
	assert_int_equal(b.n_ops, 0);
	stn__alloc_fail_after(2);
	assert_int_equal(stn__dag_copy(&b, &a), STN_ENOMEM);
	stn__alloc_fail_after(1);
	{
		uint32_t order[5];
		assert_int_equal(stn__dag_topo_order(&a, order), STN_ENOMEM);
		assert_int_equal(stn__dag_validate(&a, &eb), STN_ENOMEM);
	}
	stn__alloc_fail_after(0);
	stn__dag_fini(&a);
	stn__dag_fini(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rates_and_order),
		cmocka_unit_test(test_rejects_bad_graphs),
		cmocka_unit_test(test_hash_and_copy),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_alloc_failure),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
