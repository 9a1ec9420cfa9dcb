/* window: aggregation of per-instance rows across parts; bad rows add nothing. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "dag.h"
#include "window.h"

static void chain(stn_dag *d)
{
	stn_errbuf eb = {{0}};

	stn__dag_init(d);
	for (uint32_t i = 0; i < 2; i++) {
		stn_op op;

		memset(&op, 0, sizeof(op));
		op.id = 5 + i;
		op.kind = i == 0 ? STN_KIND_SOURCE : STN_KIND_SINK;
		op.selectivity = 1.0;
		op.parallelism = 2;
		op.p_max = 4;
		assert_int_equal(stn__dag_add_op(d, &op, &eb), STN_OK);
	}
	assert_int_equal(stn__dag_add_edge(d, 0, 1, STN_PART_HASH, &eb), STN_OK);
}

static void test_two_parts(void **state)
{
	stn_errbuf eb = {{0}};
	stn_dag d;
	stn_window w;
	/* Part 1: instance 0 of both operators; part 2: instance 1. Window of 500 ms. */
	uint32_t op1[] = {5, 6}, inst1[] = {0, 0}, op2[] = {6, 5}, inst2[] = {1, 1};
	double busy1[] = {100, 400}, in1[] = {50, 60}, out1[] = {50, 0}, bl1[] = {3, 7};
	double busy2[] = {600, 300}, in2[] = {10, 40}, out2[] = {0, 40}, bl2[] = {1, 2};

	(void)state;
	chain(&d);
	assert_int_equal(stn__window_init(&w, &d, 9), STN_OK);
	assert_int_equal(w.ops[0].parallelism, 2);
	assert_int_equal(stn__window_add_rows(&w, &d, 500, 2, op1, inst1, busy1, in1, out1, bl1,
					      NULL, &eb),
			 STN_OK);
	assert_int_equal(stn__window_add_rows(&w, &d, 500, 2, op2, inst2, busy2, in2, out2, bl2,
					      NULL, &eb),
			 STN_OK);
	stn__window_finish(&w);
	stn__window_finish(&w); /* idempotent */
	/* Operator 5: instance 0 busy 100/500, instance 1 busy 300/500. */
	assert_true(fabs(w.ops[0].busy_max - 0.6) < 1e-12);
	assert_true(fabs(w.ops[0].busy_mean - 0.4) < 1e-12);
	assert_true(fabs(w.ops[0].rate_in - (50 + 40) / 0.5) < 1e-9);
	assert_true(fabs(w.ops[0].rate_out - (50 + 40) / 0.5) < 1e-9);
	assert_true(w.ops[0].backlog_max == 3 && w.ops[0].backlog_sum == 5);
	/* Operator 6: busy 400 and 600 of 500 ms: capped at a fraction of 1. */
	assert_true(fabs(w.ops[1].busy_max - 1.0) < 1e-12);
	assert_true(fabs(w.ops[1].busy_mean - 0.9) < 1e-12);
	assert_int_equal(w.ops[1].n_inst, 2);
	assert_true(w.ops[1].bp_max < 0); /* no backpressure metric sent */
	stn__window_fini(&w);
	stn__dag_fini(&d);
}

static void test_bad_rows_add_nothing(void **state)
{
	stn_errbuf eb = {{0}};
	stn_dag d;
	stn_window w;
	uint32_t op[] = {5, 99}, inst[] = {0, 0};
	double busy[] = {1, 1}, in[] = {1, 1}, out[] = {1, 1}, bl[] = {1, 1};
	double neg[] = {1, -1}, nan_v[] = {NAN, 1};

	(void)state;
	chain(&d);
	assert_int_equal(stn__window_init(&w, &d, 1), STN_OK);
	assert_int_equal(stn__window_add_rows(&w, &d, 1000, 2, op, inst, busy, in, out, bl, NULL, &eb),
			 STN_EGRAPH);
	assert_non_null(strstr(eb.text, "99"));
	op[1] = 6;
	assert_int_equal(stn__window_add_rows(&w, &d, 1000, 2, op, inst, busy, neg, out, bl, NULL, &eb),
			 STN_EVALUE);
	assert_int_equal(stn__window_add_rows(&w, &d, 1000, 2, op, inst, nan_v, in, out, bl, NULL, &eb),
			 STN_EVALUE);
	assert_int_equal(stn__window_add_rows(&w, &d, 0, 2, op, inst, busy, in, out, bl, NULL, &eb),
			 STN_EVALUE);
	assert_int_equal(w.ops[0].n_inst, 0);
	assert_true(w.ops[0].rate_in == 0.0);
	stn__window_fini(&w);
	stn__dag_fini(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_two_parts),
		cmocka_unit_test(test_bad_rows_add_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
