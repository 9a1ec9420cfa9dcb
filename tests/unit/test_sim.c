/* sim: determinism, oracle correctness, backpressure, schedules, families, training set. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "alloc.h"
#include "sim.h"

static stn_sim *make_sim(const stn_sim_job *job, const stn_sim_schedule *sc, uint64_t seed)
{
	stn_sim *s = NULL;
	stn_errbuf eb;
	assert_int_equal(stn__sim_create(&s, job, NULL, sc, seed, &eb), STN_OK);
	return s;
}

static void test_determinism(void **state)
{
	(void)state;
	stn_errbuf eb;
	stn_sim_job job;
	assert_int_equal(stn__sim_job_random(&job, STN_SIM_RANDOM, 20, 42, &eb), STN_OK);
	stn_sim_schedule sc = {.kind = STN_SCHED_SINE, .level = 1.0, .amp = 0.4, .period = 10};
	stn_sim *a = make_sim(&job, &sc, 9), *b = make_sim(&job, &sc, 9), *c = make_sim(&job, &sc, 10);
	bool differs = false;
	for (int t = 0; t < 30; t++) {
		assert_int_equal(stn__sim_step(a, &eb), STN_OK);
		assert_int_equal(stn__sim_step(b, &eb), STN_OK);
		assert_int_equal(stn__sim_step(c, &eb), STN_OK);
		const stn_window *wa = stn__sim_window(a), *wb = stn__sim_window(b),
				 *wc = stn__sim_window(c);
		assert_memory_equal(wa->ops, wb->ops, wa->n_ops * sizeof(stn_op_window));
		assert_memory_equal(&wa->lag_ms, &wb->lag_ms, sizeof(double));
		if (memcmp(wa->ops, wc->ops, wa->n_ops * sizeof(stn_op_window)) != 0)
			differs = true;
	}
	assert_true(differs);
	/* Same job seed, same job; different job seed, different job. */
	stn_sim_job j2, j3;
	assert_int_equal(stn__sim_job_random(&j2, STN_SIM_RANDOM, 20, 42, &eb), STN_OK);
	assert_int_equal(stn__sim_job_random(&j3, STN_SIM_RANDOM, 20, 43, &eb), STN_OK);
	assert_true(stn__dag_hash(&j2.dag) == stn__dag_hash(&job.dag));
	assert_memory_equal(j2.truth, job.truth, job.dag.n_ops * sizeof(stn_sim_truth));
	assert_true(stn__dag_hash(&j3.dag) != stn__dag_hash(&job.dag) ||
		    memcmp(j3.truth, job.truth, job.dag.n_ops * sizeof(stn_sim_truth)) != 0);
	stn__sim_job_fini(&j2);
	stn__sim_job_fini(&j3);
	stn__sim_destroy(a);
	stn__sim_destroy(b);
	stn__sim_destroy(c);
	stn__sim_job_fini(&job);
}

static void test_families(void **state)
{
	(void)state;
	stn_errbuf eb;
	static const size_t q_ops[9] = {2, 3, 4, 6, 5, 4, 5, 5, 4};
	for (int q = 0; q <= 8; q++) {
		stn_sim_job job;
		assert_int_equal(stn__sim_job_random(&job, (stn_sim_family)q, 0, 1, &eb), STN_OK);
		assert_int_equal(stn__dag_validate(&job.dag, &eb), STN_OK);
		assert_int_equal(job.dag.n_ops, q_ops[q]);
		stn__sim_job_fini(&job);
		stn_sim_family f;
		assert_int_equal(stn__sim_family_parse(stn__sim_family_name((stn_sim_family)q), &f),
				 STN_OK);
		assert_int_equal(f, q);
	}
	size_t lo = 100, hi = 0, fan_in = 0, fan_out = 0;
	for (uint64_t seed = 0; seed < 300; seed++) {
		stn_sim_job job;
		assert_int_equal(stn__sim_job_random(&job, STN_SIM_RANDOM, 0, seed, &eb), STN_OK);
		assert_int_equal(stn__dag_validate(&job.dag, &eb), STN_OK);
		size_t n = job.dag.n_ops;
		lo = n < lo ? n : lo;
		hi = n > hi ? n : hi;
		for (uint32_t v = 0; v < n; v++) {
			fan_in += stn__dag_in_degree(&job.dag, v) >= 2;
			fan_out += stn__dag_out_degree(&job.dag, v) >= 2;
			if (job.dag.ops[v].kind != STN_KIND_SINK)
				assert_true(stn__dag_out_degree(&job.dag, v) >= 1);
			if (job.dag.ops[v].kind != STN_KIND_SOURCE)
				assert_true(stn__dag_in_degree(&job.dag, v) >= 1);
		}
		stn__sim_job_fini(&job);
	}
	assert_true(lo >= 3 && lo <= 5);
	assert_true(hi >= 55 && hi <= 60);
	assert_true(fan_in > 100 && fan_out > 100);
	for (uint32_t n = 3; n <= 60; n++) {
		stn_sim_job job;
		assert_int_equal(stn__sim_job_random(&job, STN_SIM_RANDOM, n, n, &eb), STN_OK);
		assert_int_equal(job.dag.n_ops, n);
		stn__sim_job_fini(&job);
	}
	stn_sim_job job;
	assert_int_equal(stn__sim_job_random(&job, STN_SIM_RANDOM, 61, 1, &eb), STN_EINVAL);
	assert_int_equal(stn__sim_job_random(&job, STN_SIM_RANDOM, 2, 1, &eb), STN_EINVAL);
}

/* The truth is the operator's nominal capacity (a function of what a model sees) times a
 * factor within +-15 %; the same operator in another job has the same nominal capacity;
 * stateful operators cost more than stateless ones; every job keeps up with twice its
 * nominal rate within p_max. */
static void test_truth_visible(void **state)
{
	(void)state;
	stn_errbuf eb;
	double lo = 2.0, hi = 0.0;
	for (uint64_t seed = 1; seed <= 200; seed++) {
		stn_sim_job job;
		stn_sim_family fam = seed % 2 ? STN_SIM_RANDOM : STN_SIM_NEXMARK;
		assert_int_equal(stn__sim_job_random(&job, fam, 0, seed, &eb), STN_OK);
		size_t n = job.dag.n_ops;
		double tin[64];
		assert_true(n <= 64);
		assert_int_equal(stn__dag_propagate_rates(&job.dag, tin, NULL), STN_OK);
		double stateless_min = INFINITY, stateful_max = 0.0;
		for (uint32_t v = 0; v < n; v++) {
			const stn_sim_truth *t = &job.truth[v];
			const stn_op *o = &job.dag.ops[v];
			double nom = stn__sim_nominal_capacity(&job.dag, v), f = t->c / nom;
			lo = f < lo ? f : lo;
			hi = f > hi ? f : hi;
			assert_true(f >= 0.85 && f <= 1.15);
			assert_true(t->alpha >= 0.7 && t->alpha <= 1.0);
			bool hashed = false;
			for (size_t e = 0; e < job.dag.n_edges; e++)
				hashed |= job.dag.edges[e].to == v && job.dag.edges[e].part == STN_PART_HASH;
			if (!hashed)
				assert_true(t->skew == 0.0);
			assert_true(stn__sim_capacity(t, o->p_max) >= 2.0 * tin[v] * (1.0 - 1e-9));
			if (o->stateful)
				stateful_max = nom > stateful_max ? nom : stateful_max;
			else if (o->kind != STN_KIND_SOURCE && o->kind != STN_KIND_SINK)
				stateless_min = nom < stateless_min ? nom : stateless_min;
		}
		assert_true(stateful_max < stateless_min);
		stn__sim_job_fini(&job);
	}
	assert_true(lo < 0.87 && hi > 1.13); /* the factor is really drawn */
	/* Q5 in two jobs: same operators, same nominal capacities, other factors and rates. */
	stn_sim_job a, b;
	assert_int_equal(stn__sim_job_random(&a, STN_SIM_Q5, 0, 1, &eb), STN_OK);
	assert_int_equal(stn__sim_job_random(&b, STN_SIM_Q5, 0, 2, &eb), STN_OK);
	assert_int_equal(a.dag.n_ops, b.dag.n_ops);
	for (uint32_t v = 0; v < a.dag.n_ops; v++)
		assert_true(stn__sim_nominal_capacity(&a.dag, v) ==
			    stn__sim_nominal_capacity(&b.dag, v));
	assert_true(a.truth[1].c != b.truth[1].c);
	assert_true(a.dag.ops[0].source_rate != b.dag.ops[0].source_rate);
	assert_true(stn__sim_nominal_capacity(&a.dag, (uint32_t)a.dag.n_ops) == 0.0);
	stn__sim_job_fini(&a);
	stn__sim_job_fini(&b);
}

/* At the oracle nothing is a bottleneck and no queue builds; one operator at oracle-1 is
 * labelled a bottleneck within warm-up + K windows, and no other operator is. */
static void check_oracle(stn_sim_family fam, uint64_t seed)
{
	stn_errbuf eb;
	stn_sim_job job;
	assert_int_equal(stn__sim_job_random(&job, fam, 0, seed, &eb), STN_OK);
	size_t n = job.dag.n_ops;
	stn_sim *s = make_sim(&job, NULL, seed + 1);
	uint32_t orc[64], p[64];
	double tin[64];
	assert_true(n <= 64);
	stn__sim_oracle(s, 1.0, orc);
	stn__sim_targets(s, 1.0, tin);
	for (size_t v = 0; v < n; v++) {
		assert_int_equal(orc[v], job.dag.ops[v].parallelism);
		assert_true(stn__sim_capacity(&job.truth[v], orc[v]) >= tin[v]);
		if (orc[v] > 1)
			assert_true(stn__sim_capacity(&job.truth[v], orc[v] - 1) < tin[v]);
	}
	for (int t = 0; t < 12; t++) {
		assert_int_equal(stn__sim_step(s, &eb), STN_OK);
		const stn_window *w = stn__sim_window(s);
		for (size_t v = 0; v < n; v++) {
			assert_int_not_equal(w->ops[v].label, STN_LABEL_BOTTLENECK);
			assert_true(w->ops[v].backlog_sum <= 0.01 * tin[v] + 1.0);
			if (t >= 2)
				assert_int_equal(w->ops[v].label, STN_LABEL_OK);
		}
	}
	size_t victim = n;
	for (size_t v = 0; v < n; v++)
		if (orc[v] > 1) {
			victim = v;
			break;
		}
	if (victim < n) {
		memcpy(p, orc, n * sizeof(uint32_t));
		p[victim]--;
		assert_int_equal(stn__sim_set_parallelism(s, p, &eb), STN_OK);
		const stn_label_params lp = stn__label_params_default();
		bool hit = false;
		for (uint32_t t = 0; t < lp.warmup_windows + lp.k_consecutive; t++) {
			assert_int_equal(stn__sim_step(s, &eb), STN_OK);
			const stn_window *w = stn__sim_window(s);
			for (size_t v = 0; v < n; v++)
				if (v != victim)
					assert_int_not_equal(w->ops[v].label, STN_LABEL_BOTTLENECK);
			hit = w->ops[victim].label == STN_LABEL_BOTTLENECK;
		}
		assert_true(hit);
		/* And it stays one. */
		for (int t = 0; t < 10; t++) {
			assert_int_equal(stn__sim_step(s, &eb), STN_OK);
			assert_int_equal(stn__sim_window(s)->ops[victim].label, STN_LABEL_BOTTLENECK);
		}
	}
	stn__sim_destroy(s);
	stn__sim_job_fini(&job);
}

static void test_oracle(void **state)
{
	(void)state;
	for (int q = 0; q <= 8; q++)
		for (uint64_t seed = 1; seed <= 4; seed++)
			check_oracle((stn_sim_family)q, seed * 31 + (uint64_t)q);
	for (uint64_t seed = 1; seed <= 30; seed++)
		check_oracle(STN_SIM_RANDOM, seed);
}

/* A hand-built chain src -> a -> b -> sink with b at half its needed parallelism. */
static void test_backpressure(void **state)
{
	(void)state;
	stn_errbuf eb;
	stn_sim_job job;
	memset(&job, 0, sizeof(job));
	stn__dag_init(&job.dag);
	const char *names[4] = {"src", "a", "b", "sink"};
	stn_op_kind kinds[4] = {STN_KIND_SOURCE, STN_KIND_MAP, STN_KIND_AGGREGATE, STN_KIND_SINK};
	for (uint32_t i = 0; i < 4; i++) {
		stn_op o;
		memset(&o, 0, sizeof(o));
		o.id = i + 1;
		strcpy(o.name, names[i]);
		o.kind = kinds[i];
		o.selectivity = 1.0;
		o.source_rate = i == 0 ? 1000.0 : 0.0;
		o.parallelism = i == 2 ? 5 : 1;
		o.p_max = 32;
		assert_int_equal(stn__dag_add_op(&job.dag, &o, &eb), STN_OK);
	}
	for (uint32_t i = 0; i < 3; i++)
		assert_int_equal(stn__dag_add_edge(&job.dag, i, i + 1, STN_PART_FORWARD, &eb), STN_OK);
	stn_sim_truth truth[4] = {{5000, 1, 0, 64}, {3000, 1, 0, 64}, {100, 1, 0, 64},
				  {5000, 1, 0, 64}};
	job.truth = truth;
	stn_sim *s = make_sim(&job, NULL, 3);
	uint32_t orc[4];
	assert_int_equal(stn__sim_oracle(s, 1.0, orc), 13);
	assert_int_equal(orc[2], 10);
	double prev_lag = -1.0;
	for (int t = 0; t < 20; t++) {
		assert_int_equal(stn__sim_step(s, &eb), STN_OK);
		const stn_window *w = stn__sim_window(s);
		if (t >= 3) {
			assert_int_equal(w->ops[2].label, STN_LABEL_BOTTLENECK);
			assert_int_equal(w->ops[3].label, STN_LABEL_NONE); /* starved */
			assert_int_not_equal(w->ops[1].label, STN_LABEL_BOTTLENECK);
			assert_int_not_equal(w->ops[0].label, STN_LABEL_BOTTLENECK);
			assert_true(w->lag_ms > prev_lag);
			assert_true(w->ops[3].rate_in < 600.0);
		}
		if (t >= 8) /* a's buffer is full: the source is held back */
			assert_true(w->ops[0].rate_in < 600.0);
		prev_lag = w->lag_ms;
	}
	assert_true(prev_lag > 10000.0);
	/* Fixing it: after warm-up and draining no bottleneck is left. */
	uint32_t p[4] = {1, 1, 12, 1};
	assert_int_equal(stn__sim_set_parallelism(s, p, &eb), STN_OK);
	for (int t = 0; t < 60; t++)
		assert_int_equal(stn__sim_step(s, &eb), STN_OK);
	const stn_window *w = stn__sim_window(s);
	for (int v = 0; v < 4; v++)
		assert_int_equal(w->ops[v].label, STN_LABEL_OK);
	assert_true(w->ops[0].backlog_sum < 1.0);
	uint32_t bad[4] = {1, 0, 1, 1};
	assert_int_equal(stn__sim_set_parallelism(s, bad, &eb), STN_EINVAL);
	stn__sim_destroy(s);
	stn__dag_fini(&job.dag);
}

static void test_schedules(void **state)
{
	(void)state;
	stn_sim_schedule c = {.kind = STN_SCHED_CONSTANT, .level = 1.5};
	assert_true(stn__sim_schedule_factor(&c, 0) == 1.5 && stn__sim_schedule_factor(&c, 99) == 1.5);
	double v[3] = {1.0, 2.0, 0.5};
	stn_sim_schedule st = {.kind = STN_SCHED_STEPS, .values = v, .n_values = 3, .step_len = 10};
	assert_true(stn__sim_schedule_factor(&st, 9) == 1.0);
	assert_true(stn__sim_schedule_factor(&st, 10) == 2.0);
	assert_true(stn__sim_schedule_factor(&st, 25) == 0.5);
	assert_true(stn__sim_schedule_factor(&st, 1000) == 0.5);
	stn_sim_schedule sq = {.kind = STN_SCHED_SQUARE, .level = 1.0, .high = 3.0, .period = 8};
	assert_true(stn__sim_schedule_factor(&sq, 3) == 1.0 && stn__sim_schedule_factor(&sq, 4) == 3.0);
	assert_true(stn__sim_schedule_factor(&sq, 8) == 1.0);
	stn_sim_schedule sn = {.kind = STN_SCHED_SINE, .level = 1.0, .amp = 0.5, .period = 20};
	assert_true(fabs(stn__sim_schedule_factor(&sn, 5) - 1.5) < 1e-9);
	assert_true(fabs(stn__sim_schedule_factor(&sn, 15) - 0.5) < 1e-9);
	stn_sim_schedule tr = {.kind = STN_SCHED_TRACE, .values = v, .n_values = 3};
	assert_true(stn__sim_schedule_factor(&tr, 1) == 2.0 && stn__sim_schedule_factor(&tr, 7) == 0.5);
	/* The simulator's source offers factor * nominal rate. */
	stn_errbuf eb;
	stn_sim_job job;
	assert_int_equal(stn__sim_job_random(&job, STN_SIM_Q1, 0, 5, &eb), STN_OK);
	stn_sim *s = make_sim(&job, &st, 1);
	double tin[3];
	for (int t = 0; t < 12; t++)
		assert_int_equal(stn__sim_step(s, &eb), STN_OK);
	stn__sim_targets(s, stn__sim_factor(s, 11), tin);
	assert_true(fabs(tin[0] - 2.0 * job.dag.ops[0].source_rate) < 1e-6);
	uint32_t o1[3], o2[3];
	assert_true(stn__sim_oracle(s, 2.0, o2) >= stn__sim_oracle(s, 1.0, o1));
	stn__sim_destroy(s);
	stn__sim_job_fini(&job);
}

static void test_dataset(void **state)
{
	(void)state;
	stn_errbuf eb;
	stn_sim_family fams[2] = {STN_SIM_NEXMARK, STN_SIM_RANDOM};
	stn_sim_dataset_opts o = {.families = fams, .n_families = 2, .n_jobs = 30,
				  .configs_per_job = 6, .windows_per_config = 4, .seed = 11};
	stn_sim_dataset ds, ds2;
	assert_int_equal(stn__sim_dataset_generate(&ds, &o, &eb), STN_OK);
	assert_int_equal(ds.n_jobs, 30);
	assert_int_equal(ds.n_windows, 30 * 6 * 4);
	size_t labelled = ds.n_bottleneck + ds.n_ok;
	/* At least 4 % positives: capacities follow the operators' costs, so most operators of
	 * a random DAG need a single instance and cannot be under-provisioned. */
	assert_true(ds.n_bottleneck * 25 >= labelled);
	assert_true(ds.n_ok * 10 >= labelled);
	print_message("dataset: %zu windows, bottleneck %zu ok %zu none %zu\n", ds.n_windows,
		      ds.n_bottleneck, ds.n_ok, ds.n_none);
	/* Labels agree with the truth: a bottleneck lacks capacity, an OK operator has it
	 * (a few OK windows may sit within a hair of the capacity). */
	size_t ok_enough = 0;
	for (size_t i = 0; i < ds.n_windows; i++) {
		const stn_sim_ds_window *w = &ds.windows[i];
		const stn_sim_ds_job *j = &ds.jobs[w->job];
		for (size_t v = 0; v < j->dag.n_ops; v++) {
			double cap = stn__sim_capacity(&j->truth[v], w->p[v]);
			assert_true(w->p[v] >= 1 && w->p[v] <= j->dag.ops[v].p_max);
			if (w->label[v] == STN_LABEL_BOTTLENECK)
				assert_true(cap < w->lambda[v]);
			if (w->label[v] == STN_LABEL_OK)
				ok_enough += cap >= w->lambda[v];
		}
	}
	assert_true(ok_enough * 100 >= ds.n_ok * 99);
	assert_int_equal(stn__sim_dataset_generate(&ds2, &o, &eb), STN_OK);
	assert_int_equal(ds2.n_bottleneck, ds.n_bottleneck);
	size_t n = ds.jobs[ds.windows[7].job].dag.n_ops;
	assert_memory_equal(ds.windows[7].lambda, ds2.windows[7].lambda, n * sizeof(double));
	assert_memory_equal(ds.windows[7].label, ds2.windows[7].label, n);
	stn__sim_dataset_fini(&ds);
	stn__sim_dataset_fini(&ds2);
	o.n_jobs = 0;
	assert_int_equal(stn__sim_dataset_generate(&ds, &o, &eb), STN_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_determinism), cmocka_unit_test(test_families),
		cmocka_unit_test(test_truth_visible),
		cmocka_unit_test(test_oracle),      cmocka_unit_test(test_backpressure),
		cmocka_unit_test(test_schedules),   cmocka_unit_test(test_dataset),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
