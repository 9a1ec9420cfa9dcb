/* dagjson: DAGs as JSON. Every simulator family round-trips exactly through format and parse;
 * defaults and references by name; malformed JSON, wrong shapes, unknown members, bad kinds,
 * cycles and oversized input are refused with their codes and leave the output empty. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alloc.h"
#include "dagjson.h"
#include "sim.h"

static void same_dag(const stn_dag *a, const stn_dag *b)
{
	assert_int_equal(a->n_ops, b->n_ops);
	assert_int_equal(a->n_edges, b->n_edges);
	for (size_t i = 0; i < a->n_ops; i++) {
		const stn_op *x = &a->ops[i], *y = &b->ops[i];
		assert_int_equal(x->id, y->id);
		assert_string_equal(x->name, y->name);
		assert_int_equal(x->kind, y->kind);
		assert_int_equal(x->stateful, y->stateful);
		assert_memory_equal(&x->selectivity, &y->selectivity, sizeof(double));
		assert_memory_equal(&x->source_rate, &y->source_rate, sizeof(double));
		assert_int_equal(x->parallelism, y->parallelism);
		assert_int_equal(x->p_max, y->p_max);
	}
	for (size_t e = 0; e < a->n_edges; e++) {
		assert_int_equal(a->edges[e].from, b->edges[e].from);
		assert_int_equal(a->edges[e].to, b->edges[e].to);
		assert_int_equal(a->edges[e].part, b->edges[e].part);
	}
	assert_true(stn__dag_hash(a) == stn__dag_hash(b));
}

static void test_round_trip(void **state)
{
	(void)state;
	for (int f = 0; f < STN_SIM_FAMILY_COUNT; f++) {
		for (uint64_t seed = 1; seed <= 8; seed++) {
			stn_sim_job job;
			stn_errbuf eb = {{0}};
			stn_dag back;
			char *text = NULL;
			size_t len = 0;

			assert_int_equal(stn__sim_job_random(&job, (stn_sim_family)f, 0, seed, &eb),
					 STN_OK);
			assert_int_equal(stn__dagjson_format(&job.dag, &text, &len, &eb), STN_OK);
			assert_int_equal(strlen(text), len);
			stn__dag_init(&back);
			assert_int_equal(stn__dagjson_parse(text, len, &back, &eb), STN_OK);
			same_dag(&job.dag, &back);
			stn__dag_fini(&back);
			stn__free(text);
			stn__sim_job_fini(&job);
		}
	}
}

static void test_defaults_and_names(void **state)
{
	(void)state;
	const char *doc = "{ \"operators\": [ {\"name\": \"in\", \"kind\": \"source\","
			  " \"source_rate\": 500},\n {\"name\": \"agg\", \"kind\": \"aggregate\"},"
			  " {\"kind\": \"sink\", \"name\": \"out\", \"parallelism\": 100} ],\n"
			  " \"edges\": [ {\"from\": \"in\", \"to\": \"agg\", \"partitioning\":"
			  " \"hash\"}, {\"from\": 2, \"to\": 3} ] }";
	stn_dag d;
	stn_errbuf eb = {{0}};

	stn__dag_init(&d);
	assert_int_equal(stn__dagjson_parse(doc, strlen(doc), &d, &eb), STN_OK);
	assert_int_equal(d.n_ops, 3);
	assert_int_equal(d.ops[0].id, 1);
	assert_int_equal(d.ops[2].id, 3);
	assert_string_equal(d.ops[1].name, "agg");
	assert_true(d.ops[1].stateful); /* aggregates are stateful by default */
	assert_false(d.ops[0].stateful);
	assert_true(d.ops[1].selectivity == 1.0);
	assert_true(d.ops[0].source_rate == 500.0);
	assert_int_equal(d.ops[0].parallelism, 1);
	assert_int_equal(d.ops[0].p_max, 64);
	assert_int_equal(d.ops[2].p_max, 100);
	assert_int_equal(d.n_edges, 2);
	assert_int_equal(d.edges[0].part, STN_PART_HASH);
	assert_int_equal(d.edges[1].part, STN_PART_FORWARD);
	assert_int_equal(d.edges[1].from, 1);
	assert_int_equal(d.edges[1].to, 2);
	stn__dag_fini(&d);
}

static void refused(const char *doc, stn_status want)
{
	stn_dag d;
	stn_errbuf eb = {{0}};

	stn__dag_init(&d);
	stn_status st = stn__dagjson_parse(doc, strlen(doc), &d, &eb);
	if (st != want)
		fail_msg("%s: got %s (%s), want %s", doc, stn__status_name(st), eb.text,
			 stn__status_name(want));
	assert_true(eb.text[0] != '\0');
	assert_int_equal(d.n_ops, 0);
	assert_int_equal(d.n_edges, 0);
	stn__dag_fini(&d);
}

static void test_refused(void **state)
{
	(void)state;
	refused("", STN_EPROTO);
	refused("{", STN_EPROTO);
	refused("{\"operators\": [}", STN_EPROTO);
	refused("{\"operators\": []} x", STN_EPROTO);
	refused("{\"operators\": [{\"kind\": \"source\\q\"}]}", STN_EPROTO);
	refused("[]", STN_EFIELD);
	refused("{}", STN_EFIELD);
	refused("{\"operators\": 3}", STN_EFIELD);
	refused("{\"operators\": [], \"edgez\": []}", STN_EFIELD);
	refused("{\"operators\": [{\"kind\": \"source\", \"colour\": 1}]}", STN_EFIELD);
	refused("{\"operators\": [{\"name\": \"x\"}]}", STN_EFIELD);
	refused("{\"operators\": [{\"kind\": \"sourc\"}]}", STN_EGRAPH);
	refused("{\"operators\": [{\"kind\": \"map\", \"selectivity\": -1}]}", STN_EVALUE);
	refused("{\"operators\": [{\"kind\": \"map\"}, {\"kind\": \"map\"}],"
		" \"edges\": [{\"from\": 1, \"to\": 2}, {\"from\": 2, \"to\": 1}]}",
		STN_ECYCLE);
	refused("{\"operators\": [{\"kind\": \"map\"}], \"edges\": [{\"from\": 1, \"to\": 9}]}",
		STN_EGRAPH);
	/* Nesting beyond the depth limit. */
	char deep[200];
	memset(deep, '[', sizeof(deep) - 1);
	deep[sizeof(deep) - 1] = '\0';
	refused(deep, STN_ETOOBIG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_defaults_and_names),
		cmocka_unit_test(test_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
