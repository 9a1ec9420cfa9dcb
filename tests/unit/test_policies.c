/* policies: each baseline's published rule on hand-computed cases; safety properties of every
 * policy on many random simulated jobs; streamtune's DS2 fallback without a usable model; the
 * explore policy's bounds, period, determinism and options. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "evaluate.h"
#include "head.h"
#include "model.h"
#include "policy.h"

uint32_t stn__flink_align(uint32_t kg, uint32_t target, uint32_t region_end);

/* A chain of n operators; op 0 is the source at rate. */
static void chain(stn_dag *d, size_t n, double rate, const double *sel, const uint32_t *p,
		  stn_partitioning part)
{
	stn_errbuf eb = {{0}};
	stn__dag_init(d);
	for (size_t i = 0; i < n; i++) {
		stn_op op;
		memset(&op, 0, sizeof(op));
		op.id = (uint32_t)(10 + i);
		op.kind = i == 0 ? STN_KIND_SOURCE : (i + 1 == n ? STN_KIND_SINK : STN_KIND_MAP);
		op.selectivity = sel[i];
		op.source_rate = i == 0 ? rate : 0;
		op.parallelism = p[i];
		op.p_max = 64;
		assert_int_equal(stn__dag_add_op(d, &op, &eb), STN_OK);
		if (i > 0)
			assert_int_equal(stn__dag_add_edge(d, (uint32_t)(i - 1), (uint32_t)i, part, &eb),
					 STN_OK);
	}
}

static void window_of(stn_window *w, const stn_dag *d, uint32_t dur_ms)
{
	assert_int_equal(stn__window_init(w, d, 0), STN_OK);
	w->duration_ms = dur_ms;
	w->finished = true;
	for (size_t v = 0; v < w->n_ops; v++) {
		w->ops[v].n_inst = w->ops[v].parallelism;
		w->ops[v].bp_max = -1;
		w->ops[v].label = STN_LABEL_OK;
	}
}

static void set_op(stn_window *w, size_t v, double in, double out, double busy)
{
	w->ops[v].rate_in = in;
	w->ops[v].rate_out = out;
	w->ops[v].busy_mean = busy;
	w->ops[v].busy_max = busy;
}

static void test_ds2_formula(void **state)
{
	(void)state;
	/* source 1000/s -> map (selectivity 0.5) -> sink */
	double sel[3] = {1.0, 0.5, 1.0};
	uint32_t p[3] = {1, 1, 4};
	stn_dag d;
	chain(&d, 3, 1000, sel, p, STN_PART_FORWARD);
	stn_window w;
	window_of(&w, &d, 1000);
	set_op(&w, 0, 1000, 1000, 0.5); /* r = 2000/s per instance -> ceil(1000/2000) = 1 */
	set_op(&w, 1, 600, 300, 1.0);   /* r = 600 -> ceil(1000/600) = 2 */
	set_op(&w, 2, 300, 300, 0.1);   /* r = 300/0.4 = 750; lambda = 500 -> 1 */
	stn_policy_option opt[] = {{"warm_up", 0}};
	stn_policy *pol;
	stn_errbuf eb = {{0}};
	const stn_policy_vtable *vt = stn__policy_find("ds2");
	assert_non_null(vt);
	assert_int_equal(vt->create(&d, opt, 1, NULL, &pol, &eb), STN_OK);
	stn_decision dec;
	assert_int_equal(stn__decision_init(&dec, 3), STN_OK);
	bool decided = false;
	assert_int_equal(vt->on_window(pol, &w, &dec, &decided, &eb), STN_OK);
	assert_true(decided);
	assert_int_equal(dec.parallelism[0], 1);
	assert_int_equal(dec.parallelism[1], 2);
	assert_int_equal(dec.parallelism[2], 1);
	assert_non_null(strstr(dec.reason, "ds2"));
	assert_non_null(strstr(dec.reason, "op 11 1->2"));
	/* same rates at the new configuration: nothing to change (hysteresis of one) */
	w.ops[1].parallelism = w.ops[1].n_inst = 2;
	w.ops[2].parallelism = w.ops[2].n_inst = 1;
	set_op(&w, 1, 1000, 500, 0.8);
	set_op(&w, 2, 500, 500, 0.6);
	assert_int_equal(vt->on_window(pol, &w, &dec, &decided, &eb), STN_OK);
	assert_false(decided);
	vt->destroy(pol);
	/* unknown options are rejected */
	stn_policy_option bad[] = {{"no_such_option", 1}};
	assert_int_equal(vt->create(&d, bad, 1, NULL, &pol, &eb), STN_EINVAL);
	stn__decision_fini(&dec);
	stn__window_fini(&w);
	stn__dag_fini(&d);
}

static void test_flink_alignment(void **state)
{
	(void)state;
	assert_int_equal(stn__flink_align(128, 8, 200), 8);     /* divides */
	assert_int_equal(stn__flink_align(128, 7, 200), 8);     /* 128/7 = 18 > 128/8 = 16 */
	assert_int_equal(stn__flink_align(128, 9, 200), 10);    /* BALANCED: 12 < 14 */
	assert_int_equal(stn__flink_align(120, 7, 7), 7);       /* region ends: keep target */
}

static void flink_case(double busy, double in, const stn_policy_option *opts, size_t n_opts,
		       uint32_t expect, int expect_window)
{
	double sel[2] = {1.0, 1.0};
	uint32_t p[2] = {1, 4};
	stn_dag d;
	chain(&d, 2, 1000, sel, p, STN_PART_HASH);
	stn_window w;
	window_of(&w, &d, 10000);
	set_op(&w, 0, 1000, 1000, 0.5);
	set_op(&w, 1, in, in, busy);
	stn_policy *pol;
	stn_errbuf eb = {{0}};
	const stn_policy_vtable *vt = stn__policy_find("flink-autoscaler");
	assert_int_equal(vt->create(&d, opts, n_opts, NULL, &pol, &eb), STN_OK);
	stn_decision dec;
	assert_int_equal(stn__decision_init(&dec, 2), STN_OK);
	int decided_at = -1;
	for (int i = 1; i <= 12 && decided_at < 0; i++) {
		bool decided = false;
		assert_int_equal(vt->on_window(pol, &w, &dec, &decided, &eb), STN_OK);
		if (decided)
			decided_at = i;
	}
	assert_int_equal(decided_at, expect_window);
	assert_int_equal(dec.parallelism[1], expect);
	assert_int_equal(dec.parallelism[0], 1);
	assert_non_null(strstr(dec.reason, "flink-autoscaler"));
	vt->destroy(pol);
	stn__decision_fini(&dec);
	stn__window_fini(&w);
	stn__dag_fini(&d);
}

static void test_flink_arithmetic(void **state)
{
	(void)state;
	/* capacity at 0.7 with restart = 1000/0.7 + 1000*300/1800 = 1595.2 records/s */
	stn_policy_option fast[] = {{"stabilization.interval", 0}, {"metrics.window", 10},
				    {"scale-down.interval", 0}};
	/* TPR = 800 < 1000 (utilisation 1.0): factor 1.994, ceil(4 * 1.994) = 8 (divides 128) */
	flink_case(1.0, 800, fast, 3, 8, 1);
	/* TPR = 4000 > 2666.7 (utilisation 0.4 with restart): factor 0.399 -> max-factor 0.4,
	 * ceil(1.6) = 2 */
	flink_case(0.25, 1000, fast, 3, 2, 1);
	/* the same scale-down waits for scale-down.interval (60 s = 6 windows of 10 s) */
	stn_policy_option delayed[] = {{"stabilization.interval", 0}, {"metrics.window", 10},
				       {"scale-down.interval", 60}};
	flink_case(0.25, 1000, delayed, 3, 2, 7);
	/* defaults: 5 min stabilisation + 15 min window = 120 windows of 10 s before acting */
	double sel[2] = {1.0, 1.0};
	uint32_t p[2] = {1, 4};
	stn_dag d;
	chain(&d, 2, 1000, sel, p, STN_PART_HASH);
	stn_window w;
	window_of(&w, &d, 10000);
	set_op(&w, 0, 1000, 1000, 0.5);
	set_op(&w, 1, 800, 800, 1.0);
	stn_policy *pol;
	stn_errbuf eb = {{0}};
	const stn_policy_vtable *vt = stn__policy_find("flink-autoscaler");
	assert_int_equal(vt->create(&d, NULL, 0, NULL, &pol, &eb), STN_OK);
	stn_decision dec;
	assert_int_equal(stn__decision_init(&dec, 2), STN_OK);
	int at = -1;
	for (int i = 1; i <= 200 && at < 0; i++) {
		bool decided = false;
		assert_int_equal(vt->on_window(pol, &w, &dec, &decided, &eb), STN_OK);
		if (decided)
			at = i;
	}
	assert_int_equal(at, 120);
	assert_int_equal(dec.parallelism[1], 8);
	vt->destroy(pol);
	stn__decision_fini(&dec);
	stn__window_fini(&w);
	stn__dag_fini(&d);
}

static void test_dhalion_step(void **state)
{
	(void)state;
	double sel[3] = {1.0, 1.0, 1.0};
	uint32_t p[3] = {1, 2, 3};
	stn_dag d;
	chain(&d, 3, 1000, sel, p, STN_PART_FORWARD);
	stn_window w;
	window_of(&w, &d, 1000);
	set_op(&w, 0, 500, 500, 0.5);
	set_op(&w, 1, 500, 500, 1.0);
	set_op(&w, 2, 500, 500, 1.0);
	w.ops[1].label = STN_LABEL_BOTTLENECK;
	w.ops[2].label = STN_LABEL_BOTTLENECK;
	w.ops[0].bp_max = 0.2; /* 200 ms/s held back: unused capacity 200/800 = 0.25 */
	stn_policy_option opt[] = {{"warm_up", 0}};
	stn_policy *pol;
	stn_errbuf eb = {{0}};
	const stn_policy_vtable *vt = stn__policy_find("dhalion");
	assert_int_equal(vt->create(&d, opt, 1, NULL, &pol, &eb), STN_OK);
	stn_decision dec;
	assert_int_equal(stn__decision_init(&dec, 3), STN_OK);
	bool decided = false;
	assert_int_equal(vt->on_window(pol, &w, &dec, &decided, &eb), STN_OK);
	assert_true(decided);
	assert_int_equal(dec.parallelism[1], 3); /* ceil(2 * 1.25) */
	assert_int_equal(dec.parallelism[2], 3); /* one bottleneck per step */
	vt->destroy(pol);
	/* without a backpressure metric: the fixed step (0.5 -> ceil(2 * 1.5) = 3) */
	w.ops[0].bp_max = -1;
	stn_policy_option step[] = {{"warm_up", 0}, {"step", 0.5}};
	assert_int_equal(vt->create(&d, step, 2, NULL, &pol, &eb), STN_OK);
	assert_int_equal(vt->on_window(pol, &w, &dec, &decided, &eb), STN_OK);
	assert_true(decided);
	assert_int_equal(dec.parallelism[1], 3);
	assert_non_null(strstr(dec.reason, "fixed step"));
	vt->destroy(pol);
	stn__decision_fini(&dec);
	stn__window_fini(&w);
	stn__dag_fini(&d);
}

static void test_streamtune_fallback(void **state)
{
	(void)state;
	double sel[3] = {1.0, 0.5, 1.0};
	uint32_t p[3] = {1, 1, 4};
	stn_dag d;
	chain(&d, 3, 1000, sel, p, STN_PART_FORWARD);
	stn_window w;
	window_of(&w, &d, 1000);
	set_op(&w, 0, 1000, 1000, 0.5);
	set_op(&w, 1, 600, 300, 1.0);
	set_op(&w, 2, 300, 300, 0.1);
	const stn_policy_vtable *vt = stn__policy_find("streamtune");
	stn_model bad;
	memset(&bad, 0, sizeof(bad));
	stn_model_member member;
	memset(&member, 0, sizeof(member));
	bad.members = &member;
	bad.n_members = 1; /* a member with no network */
	const void *models[2] = {NULL, &bad};
	const char *why[2] = {"no model", "corrupt model"};
	stn_policy_option opt[] = {{"warm_up", 0}};
	for (int k = 0; k < 2; k++) {
		stn_policy *pol;
		stn_errbuf eb = {{0}};
		assert_int_equal(vt->create(&d, opt, 1, models[k], &pol, &eb), STN_OK);
		stn_decision dec;
		assert_int_equal(stn__decision_init(&dec, 3), STN_OK);
		bool decided = false;
		assert_int_equal(vt->on_window(pol, &w, &dec, &decided, &eb), STN_OK);
		assert_true(decided);
		assert_non_null(strstr(dec.reason, "DS2 fallback"));
		assert_non_null(strstr(dec.reason, why[k]));
		assert_int_equal(dec.parallelism[0], 1); /* DS2's answer, as in test_ds2_formula */
		assert_int_equal(dec.parallelism[1], 2);
		assert_int_equal(dec.parallelism[2], 1);
		vt->destroy(pol);
		stn__decision_fini(&dec);
	}
	stn__window_fini(&w);
	stn__dag_fini(&d);
}

/* The streamtune policy without a model (flat prior) and without warm-up windows, looking
 * ahead on a falling input by at most fall_max (the default 0.3; 0: not at all). */
/* (At 15 % headroom, idle_busy 0.85, which the arithmetic in these tests' comments uses.) */
/* How the streamtune policy follows a falling input (options fall_max, fall_step). */
typedef struct trend_opts {
	double fall_max, fall_step;
} trend_opts;

static const trend_opts trend_defaults = {0.3, 2};

static stn_policy *streamtune_flat_prior_trend(const stn_dag *d, trend_opts t)
{
	stn_policy_option opt[] = {{"warm_up", 0},
				   {"local_prior", 1},
				   {"idle_busy", 0.85},
				   {"fall_max", t.fall_max},
				   {"fall_step", t.fall_step}};
	stn_policy *pol = NULL;
	stn_errbuf eb = {{0}};
	assert_int_equal(stn__policy_find("streamtune")->create(d, opt, 5, NULL, &pol, &eb),
			 STN_OK);
	return pol;
}

static stn_policy *streamtune_flat_prior(const stn_dag *d)
{
	return streamtune_flat_prior_trend(d, trend_defaults);
}

/* A saturated hottest instance over a low mean (a hot key: more instances cannot split it) is
 * sized on the mean load; a saturated operator whose instances are all busy is raised. */
static void streamtune_case(uint32_t par, double busy_max, double busy_mean, uint32_t *decided_p,
			    char *reason, size_t reason_len)
{
	double sel[3] = {1.0, 1.0, 1.0};
	uint32_t p[3] = {1, par, 1};
	stn_dag d;
	chain(&d, 3, 120.0, sel, p, STN_PART_HASH);
	stn_window w;
	window_of(&w, &d, 1000);
	set_op(&w, 0, 120, 120, 0.1);
	set_op(&w, 1, 120, 120, busy_mean);
	w.ops[1].busy_max = busy_max;
	w.ops[1].label = STN_LABEL_BOTTLENECK;
	set_op(&w, 2, 120, 120, 0.1);
	const stn_policy_vtable *vt = stn__policy_find("streamtune");
	stn_policy *pol = streamtune_flat_prior(&d);
	stn_errbuf eb = {{0}};
	stn_decision dec;
	assert_int_equal(stn__decision_init(&dec, 3), STN_OK);
	*decided_p = par;
	reason[0] = '\0';
	for (int i = 0; i < 5 && *decided_p == par; i++) {
		bool decided = false;
		assert_int_equal(vt->on_window(pol, &w, &dec, &decided, &eb), STN_OK);
		if (decided) {
			*decided_p = dec.parallelism[1];
			snprintf(reason, reason_len, "%s", dec.reason);
		}
	}
	vt->destroy(pol);
	stn__decision_fini(&dec);
	stn__window_fini(&w);
	stn__dag_fini(&d);
}

static void test_streamtune_key_bound(void **state)
{
	(void)state;
	uint32_t got;
	char reason[512];
	/* 16 instances, 3.2 instances of work, the hottest one saturated: its 0.8 instance of
	 * excess is a hot key. Mean load at skew_busy 0.6: ceil(3.2 / 0.6) = 6. */
	streamtune_case(16, 0.95, 0.2, &got, reason, sizeof(reason));
	assert_int_equal(got, 6);
	assert_non_null(strstr(reason, "key-bound"));
	/* 4 instances all saturated: a bottleneck that more instances relieve. */
	streamtune_case(4, 1.0, 0.97, &got, reason, sizeof(reason));
	assert_true(got > 4);
	assert_null(strstr(reason, "key-bound"));
	/* The reason gives the bound learnt (more than 4) and none for the side not known yet
	 * (it read "4<p<=0"). */
	assert_non_null(strstr(reason, ", bounds 4<p)"));
	assert_null(strstr(reason, "<=0"));
	/* Uneven but not one key's worth (0.27 of an instance): sized by the model, up. */
	streamtune_case(4, 1.0, 0.8, &got, reason, sizeof(reason));
	assert_true(got > 4);
	assert_null(strstr(reason, "key-bound"));
}

/* The chain 120/s -> 8 -> 2 -> 8 -> 1, its third operator a bottleneck with `backlog` records
 * queued, the others at a tenth of their capacity, fed the same window: the lowest settings
 * the streamtune policy gives the operators before and behind the bottleneck, and whether
 * the one behind went down with a decision made for another. */
static void bottleneck_case(double backlog, uint32_t *before, uint32_t *behind, bool *joined)
{
	double sel[5] = {1.0, 1.0, 1.0, 1.0, 1.0};
	uint32_t p[5] = {1, 8, 2, 8, 1};
	stn_dag d;
	chain(&d, 5, 120.0, sel, p, STN_PART_HASH);
	stn_window w;
	window_of(&w, &d, 1000);
	double busy[5] = {0.1, 0.1, 1.0, 0.1, 0.1};
	for (size_t v = 0; v < 5; v++)
		set_op(&w, v, 120, 120, busy[v]);
	w.ops[2].label = STN_LABEL_BOTTLENECK;
	w.ops[2].backlog_sum = w.ops[2].backlog_max = backlog;
	const stn_policy_vtable *vt = stn__policy_find("streamtune");
	stn_policy *pol = streamtune_flat_prior(&d);
	stn_errbuf eb = {{0}};
	stn_decision dec;
	assert_int_equal(stn__decision_init(&dec, 5), STN_OK);
	*before = *behind = 8;
	*joined = false;
	for (int i = 0; i < 12; i++) {
		bool decided = false;
		assert_int_equal(vt->on_window(pol, &w, &dec, &decided, &eb), STN_OK);
		if (!decided)
			continue;
		for (size_t v = 0; v < 5; v++) {
			w.ops[v].parallelism = dec.parallelism[v];
			w.ops[v].n_inst = dec.parallelism[v];
		}
		if (dec.parallelism[3] < *behind)
			*joined = strstr(dec.reason, "with the decision") != NULL;
		*before = dec.parallelism[1] < *before ? dec.parallelism[1] : *before;
		*behind = dec.parallelism[3] < *behind ? dec.parallelism[3] : *behind;
	}
	vt->destroy(pol);
	stn__decision_fini(&dec);
	stn__window_fini(&w);
	stn__dag_fini(&d);
}

/* A bottleneck's queue, once it is raised, drains into the operators behind it: they go down
 * only as far as that flood allows (100 s of input drained within drain_s, 10 s: 11 x their
 * input, for which 8 instances at a tenth of capacity are not enough), and only together with
 * a decision made for another operator; those before it are lowered. Without a queue the one
 * behind goes down with them. */
static void test_streamtune_bottleneck_floods_downstream(void **state)
{
	(void)state;
	uint32_t before, behind;
	bool joined;
	bottleneck_case(12000.0, &before, &behind, &joined);
	assert_true(before < 8);
	assert_int_equal(behind, 8);
	bottleneck_case(0.0, &before, &behind, &joined);
	assert_true(before < 8);
	assert_true(behind < 8);
	assert_true(joined);
}

/* The first decision of the chain 120/s -> 2 -> 8 -> 1 under the streamtune policy (flat
 * prior) after a warm-up of warm_up windows, its first operator a bottleneck with a queue of
 * queue_s seconds of input, the one behind it at a tenth of its capacity in window fed_from
 * and every every-th window after it, none in the others (a window operator's input comes once
 * per slide). The windows up to it, and whether it lowered the one behind. */
static bool first_decision_lowers_behind(uint32_t warm_up, uint32_t fed_from, uint32_t every,
					 double queue_s, uint32_t *windows)
{
	double sel[4] = {1.0, 1.0, 1.0, 1.0};
	uint32_t p[4] = {1, 2, 8, 1};
	stn_dag d;
	chain(&d, 4, 120.0, sel, p, STN_PART_HASH);
	stn_window w;
	window_of(&w, &d, 1000);
	stn_policy_option opt[] = {{"warm_up", warm_up}, {"local_prior", 1}, {"idle_busy", 0.85}};
	stn_policy *pol = NULL;
	stn_errbuf eb = {{0}};
	const stn_policy_vtable *vt = stn__policy_find("streamtune");
	assert_int_equal(vt->create(&d, opt, 3, NULL, &pol, &eb), STN_OK);
	stn_decision dec;
	assert_int_equal(stn__decision_init(&dec, 4), STN_OK);
	bool decided = false;
	*windows = 0;
	while (!decided && *windows < 10) {
		bool fed = *windows >= fed_from && (*windows - fed_from) % every == 0;
		double in = fed ? 120.0 * every : 0.0;
		set_op(&w, 0, 0, 120, 0.0); /* a source: no input */
		set_op(&w, 1, 120, 120, 1.0);
		set_op(&w, 2, in, in, in / 1200.0);
		set_op(&w, 3, 120, 120, 0.1);
		w.ops[1].label = STN_LABEL_BOTTLENECK;
		w.ops[1].backlog_sum = queue_s * 120.0;
		(*windows)++;
		assert_int_equal(vt->on_window(pol, &w, &dec, &decided, &eb), STN_OK);
	}
	assert_true(decided);
	assert_true(dec.parallelism[1] > 2);
	bool lowered = dec.parallelism[2] < 8;
	vt->destroy(pol);
	stn__decision_fini(&dec);
	stn__window_fini(&w);
	stn__dag_fini(&d);
	return lowered;
}

/* The first decision after the warm-up windows moves every operator at once. The sources'
 * output of the warm-up windows counts for the steadiness of the input: judged against a
 * window never seen (none before the warm-up), the input looked unsteady and the one behind
 * the bottleneck waited for a decision of its own (Nexmark Q3's join: 4 -> 3 five windows
 * after the first decision). It waits, at most two windows, for a window in which every
 * operator due load received some: one that received none cannot be lowered in it (Nexmark
 * Q5's hottest items had none in the first decision's window in two runs of three, and went
 * 4 -> 1 in a decision of its own later); not while a queue beyond a second of input waits
 * to drain. */
static void test_streamtune_first_decision(void **state)
{
	(void)state;
	static const struct {
		uint32_t warm_up, fed_from, every;
		double queue_s;
		uint32_t windows; /* up to the first decision */
		bool lowered;
	} cases[] = {
		{2, 0, 1, 0.5, 3, true},  /* input in every window: no wait */
		{5, 0, 1, 0.5, 6, true},  /* a longer warm-up */
		{2, 1, 2, 0.5, 4, true},  /* every other window, none after the warm-up: one wait */
		{2, 5, 1, 0.5, 5, false}, /* none until the fifth: two windows' wait, then without */
		{2, 1, 2, 2.0, 3, false}, /* a queue of two seconds' input: no wait */
	};
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		uint32_t windows;
		bool lowered = first_decision_lowers_behind(cases[k].warm_up, cases[k].fed_from,
							    cases[k].every, cases[k].queue_s,
							    &windows);
		assert_int_equal(windows, cases[k].windows);
		assert_int_equal(lowered, cases[k].lowered);
	}
}

/* A model whose prior capacity is e^log_c records/s for every operator, at alpha
 * 0.2 + 0.8 sigmoid(alpha_logit) and the lowest sharpness: as wrong as a model extrapolating
 * far from its training data gets. */
static void wrong_prior_model(stn_model *m, double log_c, double alpha_logit)
{
	stn_net_config cfg = {2, 4, STN_GNN_FEAT_DIM};
	stn_errbuf eb = {{0}};
	stn_net n;
	assert_int_equal(stn__model_init(m, &cfg, 1, "wrong prior", &eb), STN_OK);
	assert_int_equal(stn__net_init(&n, &cfg, &eb), STN_OK);
	double *head_bias = n.w + n.head_offset + STN_HEAD_OUTPUTS * cfg.width;
	head_bias[0] = log_c;
	head_bias[1] = alpha_logit;
	head_bias[2] = 0.0;   /* sharpness softplus(0) */
	assert_int_equal(stn__model_add_member(m, "global", &n, NULL, 0.0, &eb), STN_OK);
	stn__net_fini(&n);
}

/* Windows of an operator at 6624 records/s whose instances serve 1500 records/s each, the
 * hottest 6 % above the mean, from 8 instances: the policy lowers it once, straight to the
 * setting its busy bound allows (6: hottest at 0.78; 5 would be 0.94), however wrong the
 * model's prior. (A quadratic pull towards a prior off by e^30 biased the fitted capacity by
 * a quarter at six windows, and the bias shrank window by window: 8 -> 7 -> 6. A prior at the
 * head's clamp, e^-60, held the fitted capacity at e^0 for good: the offset was clamped, not
 * the capacity, and Nexmark Q1 sat at twice the oracle.) */
/* The job's (first operator's) source rate becomes rate; the policy is told. */
static void change_source_rate(const stn_policy_vtable *vt, stn_policy *pol, stn_dag *d,
			       double rate)
{
	stn_errbuf eb = {{0}};
	d->ops[0].source_rate = rate;
	assert_int_equal(vt->on_rates(pol, d, &eb), STN_OK);
}

/* The chain 1 -> 8 -> 1 at 6624 records/s under the streamtune policy served by a one-member
 * model whose head says log c and alpha_logit for every operator; options opt. */
typedef struct prior_run {
	stn_dag d;
	stn_window w;
	stn_model m;
	const stn_policy_vtable *vt;
	stn_policy *pol;
	stn_decision dec;
} prior_run;

static void prior_run_init(prior_run *r, double log_c, double alpha_logit,
			   const stn_policy_option *opt, size_t n_opt)
{
	double sel[3] = {1.0, 1.0, 1.0};
	uint32_t p[3] = {1, 8, 1};
	chain(&r->d, 3, 6624.0, sel, p, STN_PART_HASH);
	window_of(&r->w, &r->d, 1000);
	wrong_prior_model(&r->m, log_c, alpha_logit);
	stn_errbuf eb = {{0}};
	r->vt = stn__policy_find("streamtune");
	r->pol = NULL;
	assert_int_equal(r->vt->create(&r->d, opt, n_opt, &r->m, &r->pol, &eb), STN_OK);
	assert_int_equal(stn__decision_init(&r->dec, 3), STN_OK);
}

/* Feeds the current window; the middle operator's new parallelism, or 0 if unchanged. */
static uint32_t prior_run_step(prior_run *r)
{
	stn_errbuf eb = {{0}};
	bool decided = false;
	assert_int_equal(r->vt->on_window(r->pol, &r->w, &r->dec, &decided, &eb), STN_OK);
	return decided && r->dec.parallelism[1] != r->w.ops[1].parallelism ? r->dec.parallelism[1]
									     : 0;
}

static void prior_run_fini(prior_run *r)
{
	r->vt->destroy(r->pol);
	stn__decision_fini(&r->dec);
	stn__window_fini(&r->w);
	stn__dag_fini(&r->d);
	stn__model_fini(&r->m);
}

static void wrong_prior_case(double log_c, double alpha_logit)
{
	stn_policy_option opt[] = {{"warm_up", 0}, {"idle_busy", 0.85}};
	prior_run r;
	prior_run_init(&r, log_c, alpha_logit, opt, 2);
	set_op(&r.w, 0, 6624, 6624, 0.1);
	set_op(&r.w, 2, 6624, 6624, 0.1);
	uint32_t par = 8, decisions = 0;
	for (int i = 0; i < 30; i++) {
		double mean = 6624.0 / (par * 1500.0);
		set_op(&r.w, 1, 6624, 6624, mean);
		r.w.ops[1].busy_max = fmin(1.0, 1.06 * mean);
		r.w.ops[1].parallelism = r.w.ops[1].n_inst = par;
		uint32_t next = prior_run_step(&r);
		if (next) {
			assert_non_null(strstr(r.dec.reason, "model"));
			par = next;
			decisions++;
		}
	}
	assert_int_equal(par, 6);
	assert_int_equal(decisions, 1);
	prior_run_fini(&r);
}

static void test_streamtune_wrong_prior_one_step(void **state)
{
	(void)state;
	wrong_prior_case(-25.0, 10.0);
	wrong_prior_case(-70.0, 10.0); /* beyond the head's clamp */
	wrong_prior_case(40.0, 10.0);
	/* The right capacity at an exponent of 0.2: the busy bound still keeps the work the
	 * instances do now (4.4 instances' worth), which no exponent shrinks. */
	wrong_prior_case(log(1500.0), -10.0);
}

/* One window of the chain's middle operator at input rate `in` and parallelism par, its
 * instances serving 1500 records/s each, the hottest 6 % above the mean. */
static void served_at(stn_window *w, double in, uint32_t par)
{
	double mean = fmin(1.0, in / (par * 1500.0));
	set_op(w, 0, in, in, 0.1);
	set_op(w, 1, in, in, mean);
	set_op(w, 2, in, in, 0.1);
	w->ops[1].busy_max = fmin(1.0, 1.06 * mean);
	w->ops[1].parallelism = w->ops[1].n_inst = par;
}

/* After a step up of the rate, one move to what the measured load needs, not to the headroom
 * of a model that is unsure of the exponent: a prior exponent of 0.2 (Nexmark Q2's held-out
 * model had 0.3) fitted from the hottest instance at two settings asked for 12-14 instances
 * where 8-9 serve 10,600 records/s at 1500 each (Q2: 5 -> 12 -> 9 -> 8). Where it lands is
 * up_busy's (by default idle_busy's): the hottest instance at 8 is predicted 0.94 busy. The
 * parallelism after the step up, which must come in one move, with one busy bound set. */
static uint32_t streamtune_step_up_landing(const char *busy_option, double busy)
{
	stn_policy_option opt[] = {{"warm_up", 0}, {busy_option, busy}};
	prior_run r;
	prior_run_init(&r, log(1500.0), -10.0, opt, 2);
	uint32_t par = 8, after = 0;
	for (int i = 0; i < 40; i++) {
		if (i == 16)
			change_source_rate(r.vt, r.pol, &r.d, 10598.4);
		served_at(&r.w, i < 16 ? 6624.0 : 10598.4, par);
		r.w.ops[1].label = r.w.ops[1].busy_max >= 1.0 ? STN_LABEL_BOTTLENECK : STN_LABEL_OK;
		uint32_t next = prior_run_step(&r);
		if (next) {
			par = next;
			after += i >= 16;
		}
		if (i == 15)
			assert_true(par <= 6); /* lowered at the first rate */
	}
	assert_int_equal(after, 1);
	prior_run_fini(&r);
	return par;
}

static void test_streamtune_steps_up_to_measured_load(void **state)
{
	(void)state;
	assert_int_equal(streamtune_step_up_landing("up_busy", 0.97), 8);
	assert_int_equal(streamtune_step_up_landing("up_busy", 0.92), 9);
	assert_int_equal(streamtune_step_up_landing("idle_busy", 0.97), 8);
}

/* A three-operator chain under the streamtune policy with a flat prior, fed window by window
 * (1 s each). */
typedef struct chain_run {
	stn_dag d;
	stn_window w;
	const stn_policy_vtable *vt;
	stn_policy *pol;
	stn_decision dec;
} chain_run;

static void chain_run_init_trend(chain_run *r, double rate, const double *sel,
				 const uint32_t *p, trend_opts t)
{
	chain(&r->d, 3, rate, sel, p, STN_PART_HASH);
	window_of(&r->w, &r->d, 1000);
	r->vt = stn__policy_find("streamtune");
	r->pol = streamtune_flat_prior_trend(&r->d, t);
	assert_int_equal(stn__decision_init(&r->dec, 3), STN_OK);
}

static void chain_run_init(chain_run *r, double rate, const double *sel, const uint32_t *p)
{
	chain_run_init_trend(r, rate, sel, p, trend_defaults);
}

/* Feeds the current window; whether a decision came (in r->dec). */
static bool chain_run_step(chain_run *r)
{
	stn_errbuf eb = {{0}};
	bool decided = false;
	assert_int_equal(r->vt->on_window(r->pol, &r->w, &r->dec, &decided, &eb), STN_OK);
	return decided;
}

static void chain_run_fini(chain_run *r)
{
	r->vt->destroy(r->pol);
	stn__decision_fini(&r->dec);
	stn__window_fini(&r->w);
	stn__dag_fini(&r->d);
}

/* After a step down of the rate, the window in between (half old, half new input) does not
 * bound the scale-down: one move from 9 to 5 once the input is steady (5: hottest at 0.75;
 * 4 would be 0.94), not 9 -> 6 from the transition and 6 -> 5 after it. */
static void test_streamtune_waits_out_transition(void **state)
{
	(void)state;
	double sel[3] = {1.0, 1.0, 1.0};
	uint32_t p[3] = {1, 9, 1};
	chain_run r;
	chain_run_init(&r, 10600.0, sel, p);
	uint32_t par = 9, decisions = 0;
	for (int i = 0; i < 24; i++) {
		if (i == 8)
			change_source_rate(r.vt, r.pol, &r.d, 5300.0);
		served_at(&r.w, i < 8 ? 10600.0 : i == 8 ? 7509.0 : 5300.0, par);
		if (chain_run_step(&r) && r.dec.parallelism[1] != par) {
			par = r.dec.parallelism[1];
			decisions++;
		}
		if (i == 7)
			assert_int_equal(decisions, 0); /* 9 is right for 10600/s */
	}
	assert_int_equal(par, 5);
	assert_int_equal(decisions, 1);
	chain_run_fini(&r);
}

/* An operator whose input comes in bursts (a window operator's arrives once per slide: every
 * other window here) still scales down when the sources are steady. Gating on its own input
 * moving kept Q5's `hottest` at its initial 4 instances for a whole run. */
static void test_streamtune_scales_down_bursty_input(void **state)
{
	(void)state;
	double sel[3] = {1.0, 0.25, 1.0};
	uint32_t p[3] = {1, 2, 8};
	chain_run r;
	chain_run_init(&r, 10000.0, sel, p);
	uint32_t par = 8, lowest = 8;
	for (int i = 0; i < 20; i++) {
		double burst = i % 2 ? 5000.0 : 0.0;
		set_op(&r.w, 0, 0.0, 10000.0, 0.0);
		set_op(&r.w, 1, 10000.0, burst, 0.4);
		set_op(&r.w, 2, burst, burst, burst / (par * 1500.0));
		r.w.ops[1].parallelism = r.w.ops[1].n_inst = 2;
		r.w.ops[2].parallelism = r.w.ops[2].n_inst = par;
		if (chain_run_step(&r))
			par = r.dec.parallelism[2];
		lowest = par < lowest ? par : lowest;
	}
	/* Sized on the bursts (5000/s needs 4 at 1500/s per instance and idle_busy 0.85), never
	 * on the windows without input. */
	assert_true(par < 8);
	assert_true(lowest >= 4);
	chain_run_fini(&r);
}

/* What the middle operator of a chain did while the input fell (see falling_case). */
typedef struct falling_run {
	uint32_t decisions, last;
	uint32_t sum;          /* its parallelism summed over the windows */
	uint32_t short_windows; /* windows under what its input needed at full load */
} falling_run;

/* The chain 1 -> p0 -> 1 under the streamtune policy (flat prior, options t) while the input
 * falls linearly from `from` records/s by `drop` a window (from the sixth window on) to `to`
 * and stays there, re-registered as the harness does when it moved by 5 %; instances serve
 * 1500/s, the hottest 6 % above the mean, and a saturated one is labelled a bottleneck. */
static falling_run falling_case(trend_opts t, uint32_t p0, double from, double to, double drop)
{
	double sel[3] = {1.0, 1.0, 1.0};
	uint32_t p[3] = {1, p0, 1};
	chain_run r;
	chain_run_init_trend(&r, from, sel, p, t);
	falling_run out = {0, p0, 0, 0};
	uint32_t par = p0;
	double registered = from;
	for (int i = 0; i < 50; i++) {
		double rate = fmax(to, from - drop * (i > 5 ? i - 5 : 0));
		if (fabs(rate - registered) > 0.05 * registered) {
			change_source_rate(r.vt, r.pol, &r.d, rate);
			registered = rate;
		}
		served_at(&r.w, rate, par);
		bool saturated = r.w.ops[1].busy_max >= 1.0;
		r.w.ops[1].label = saturated ? STN_LABEL_BOTTLENECK : STN_LABEL_OK;
		out.short_windows += par * 1500.0 < 1.06 * rate;
		out.sum += par;
		if (chain_run_step(&r) && r.dec.parallelism[1] != par) {
			par = r.dec.parallelism[1];
			out.decisions++;
		}
	}
	out.last = par;
	chain_run_fini(&r);
	return out;
}

/* On a falling input (3 % of 10,600 records/s a window to 5,300) a scale-down is sized for the
 * rate at which the next decision can come, not for the rate of now, which the fall leaves
 * behind: each level is reached sooner, in no more moves, never short of capacity on the way.
 * Two instances a decision at least while it falls (fall_step) makes fewer moves. */
static void test_streamtune_anticipates_falling_input(void **state)
{
	(void)state;
	trend_opts now = {0.0, 1}, ahead = {0.3, 1}, paired = {0.3, 2};
	falling_run n = falling_case(now, 9, 10600.0, 5300.0, 318.0);
	falling_run a = falling_case(ahead, 9, 10600.0, 5300.0, 318.0);
	falling_run pr = falling_case(paired, 9, 10600.0, 5300.0, 318.0);
	print_message("falling input: sized for now %u moves to %u, %u instance-windows; ahead "
		      "%u moves to %u, %u; ahead, two instances a move %u moves to %u, %u\n",
		      n.decisions, n.last, n.sum, a.decisions, a.last, a.sum, pr.decisions,
		      pr.last, pr.sum);
	assert_int_equal(n.short_windows + a.short_windows + pr.short_windows, 0);
	assert_true(a.decisions <= n.decisions);
	assert_true(a.sum < n.sum);
	assert_true(pr.decisions < a.decisions);
	/* 5,300/s at 1500 each, 6 % hot, idle_busy 0.85: 5 instances (0.75). Two at a time, the
	 * last move (6 -> 4 at 5,512/s, sized for 13 % less) lands one lower as the fall ends:
	 * 0.94 busy, under capacity. */
	assert_int_equal(n.last, 5);
	assert_int_equal(a.last, 5);
	assert_true(pr.last == 4 || pr.last == 5);
}

/* Safety checks from the outside, per decision. */
typedef struct safety {
	const stn_dag *dag;
	size_t n;
	uint32_t *cur, *lo, *last_dir, *reversals;
	uint64_t violations_range, violations_bound, max_reversals;
	double factor;
	const stn_sim_schedule *sched;
} safety;

static void on_trace(void *ctx, uint64_t t, const stn_window *w, const stn_decision *d)
{
	safety *s = ctx;
	double f = stn__sim_schedule_factor(s->sched, t);
	if (t == 0 || fabs(f / s->factor - 1.0) > 0.05) {
		s->factor = f; /* new episode: bounds and directions restart */
		for (size_t v = 0; v < s->n; v++) {
			s->lo[v] = 0;
			s->last_dir[v] = 0;
			s->reversals[v] = 0;
		}
	}
	for (size_t v = 0; v < s->n; v++) {
		s->cur[v] = w->ops[v].parallelism;
		if (w->ops[v].label == STN_LABEL_BOTTLENECK && w->ops[v].parallelism > s->lo[v])
			s->lo[v] = w->ops[v].parallelism;
	}
	if (!d)
		return;
	for (size_t v = 0; v < s->n; v++) {
		uint32_t np = d->parallelism[v];
		if (np < 1 || np > s->dag->ops[v].p_max)
			s->violations_range++;
		if (np < s->cur[v] && np <= s->lo[v])
			s->violations_bound++;
		uint32_t dir = np > s->cur[v] ? 1 : (np < s->cur[v] ? 2 : 0);
		bool forced = dir == 1 && w->ops[v].label == STN_LABEL_BOTTLENECK;
		if (dir && s->last_dir[v] && dir != s->last_dir[v] && !forced) {
			s->reversals[v]++;
			if (s->reversals[v] > s->max_reversals)
				s->max_reversals = s->reversals[v];
		}
		if (dir)
			s->last_dir[v] = dir;
	}
}

static void test_safety_random_jobs(void **state)
{
	(void)state;
	size_t n_pol;
	const stn_policy_vtable *const *all = stn__policy_all(&n_pol);
	assert_int_equal(n_pol, 7); /* six tuning policies and explore */
	static const stn_policy_option local[] = {{"local_prior", 1.0}};
	for (uint64_t seed = 1; seed <= 12; seed++) {
		stn_errbuf eb = {{0}};
		stn_sim_job job;
		assert_int_equal(stn__sim_job_random(&job, seed % 2 ? STN_SIM_RANDOM : STN_SIM_NEXMARK,
						     seed % 2 ? (uint32_t)(3 + seed * 3) : 0, seed,
						     &eb),
				 STN_OK);
		double steps[3] = {1.0, 1.7, 0.7};
		stn_sim_schedule sched = {.kind = STN_SCHED_STEPS, .values = steps, .n_values = 3,
					  .step_len = 80};
		size_t n = job.dag.n_ops;
		uint32_t buf[4][STN_DAG_MAX_OPS];
		for (size_t k = 0; k < n_pol; k++) {
			safety s = {.dag = &job.dag, .n = n, .cur = buf[0], .lo = buf[1],
				    .last_dir = buf[2], .reversals = buf[3], .sched = &sched,
				    .factor = 1.0};
			stn_sim_params params = stn__sim_params_default();
			params.duration_ms = 10000;
			stn_eval_run_opts ro = {.windows = 240, .w_stable = 10,
						.episode_threshold = 0.05, .sim_seed = seed,
						.params = &params, .trace = on_trace, .trace_ctx = &s};
			bool st_pol = strcmp(all[k]->name, "streamtune") == 0;
			if (st_pol) {
				ro.opts = local;
				ro.n_opts = 1;
			}
			stn_eval_result r;
			assert_int_equal(stn__eval_run(all[k], &job, &sched, &ro, &r, &eb), STN_OK);
			assert_int_equal(r.safety_violations, 0);
			assert_int_equal(s.violations_range, 0);
			if (st_pol) {
				/* never at or below a parallelism labelled a bottleneck at this rate,
				 * and at most one change of direction per operator and rate that a
				 * labelled bottleneck did not force */
				assert_int_equal(s.violations_bound, 0);
				assert_true(s.max_reversals <= 1);
			}
		}
		stn__sim_job_fini(&job);
	}
}

/* explore: a chain whose DS2 estimates are known, fed the same window over and over:
 * source (p_max 1, fixed) -> a (est 8) -> b (est 4) -> c (est 1). */
static void explore_case(stn_dag *d, stn_window *w)
{
	double sel[4] = {1.0, 1.0, 1.0, 1.0};
	uint32_t p[4] = {1, 8, 4, 2};
	chain(d, 4, 1000, sel, p, STN_PART_HASH);
	d->ops[0].p_max = 1;
	window_of(w, d, 1000);
	set_op(w, 0, 1000, 1000, 0.5);
	set_op(w, 1, 1000, 1000, 1.0); /* r = 1000 / 8 = 125 -> ceil(1000 / 125) = 8 */
	set_op(w, 2, 1000, 1000, 1.0); /* r = 250 -> 4 */
	set_op(w, 3, 1000, 1000, 0.5); /* r = 1000 -> 1 */
}

static void test_explore_bounds(void **state)
{
	(void)state;
	stn_dag d;
	stn_window w;
	explore_case(&d, &w);
	const stn_policy_vtable *vt = stn__policy_find("explore");
	assert_non_null(vt);
	assert_true(vt->exploring);
	stn_policy_option opt[] = {{"period", 1}};
	stn_policy *pol;
	stn_errbuf eb = {{0}};
	assert_int_equal(vt->create(&d, opt, 1, NULL, &pol, &eb), STN_OK);
	stn_decision dec;
	assert_int_equal(stn__decision_init(&dec, 4), STN_OK);
	static const uint32_t est[4] = {1, 8, 4, 1};
	const size_t rounds = 2000;
	size_t n_under = 0, n_over_kind = 0, lo_a = 0, hi_a = 0;
	for (size_t k = 0; k < rounds; k++) {
		bool decided = false;
		assert_int_equal(vt->on_window(pol, &w, &dec, &decided, &eb), STN_OK);
		assert_true(decided); /* period 1: every window */
		assert_int_equal(strncmp(dec.reason, "explore", 7), 0);
		assert_int_equal(dec.parallelism[0], 1); /* fixed source stays */
		bool under = false;
		for (size_t v = 1; v < 4; v++) {
			/* round(est x [0.5, 1.6]), clamped to 1..p_max */
			uint32_t lo = (uint32_t)lround(est[v] * 0.5), hi = (uint32_t)lround(est[v] * 1.6);
			if (lo < 1)
				lo = 1;
			assert_true(dec.parallelism[v] >= lo && dec.parallelism[v] <= hi);
			assert_true(dec.prob[v] == -1.0);
			under |= dec.parallelism[v] < est[v];
		}
		lo_a += dec.parallelism[1] == 4;
		hi_a += dec.parallelism[1] == 13;
		n_under += under;
		/* the reason's summary counts the operators under their estimate */
		assert_non_null(strstr(dec.reason, under ? " under)" : ", 0 under)"));
		if (strstr(dec.reason, "(over,")) {
			n_over_kind++;
			assert_false(under); /* an "over" decision puts nothing under its estimate */
		} else {
			/* the other decisions always put some operator under (a and b can) */
			assert_true(under);
		}
	}
	double frac = (double)n_under / (double)rounds;
	printf("explore: %zu of %zu decisions with an operator under its DS2 estimate (%.3f)\n",
	       n_under, rounds, frac);
	assert_true(frac > 0.45 && frac < 0.55); /* about half */
	assert_int_equal(n_over_kind + n_under, rounds);
	assert_true(lo_a > 0 && hi_a > 0); /* both ends of [low, high] are reached */
	vt->destroy(pol);

	stn_policy_option exact[] = {{"period", 1}, {"under", 0}, {"low", 0.5}, {"high", 1}};
	assert_int_equal(vt->create(&d, exact, 4, NULL, &pol, &eb), STN_OK);
	for (size_t k = 0; k < 50; k++) {
		bool decided = false;
		assert_int_equal(vt->on_window(pol, &w, &dec, &decided, &eb), STN_OK);
		assert_true(decided);
		/* under = 0 and high = 1: every factor is exactly 1, the DS2 estimate itself */
		for (size_t v = 0; v < 4; v++)
			assert_int_equal(dec.parallelism[v], est[v]);
	}
	vt->destroy(pol);
	stn__decision_fini(&dec);
	stn__window_fini(&w);
	stn__dag_fini(&d);
}

/* Runs explore with opts over `n` copies of the case window; decisions go to out[k][v]
 * (0 where it did not decide), reasons to reason[k] when non-NULL. */
static void explore_run(const stn_policy_option *opts, size_t n_opts, size_t n,
			uint32_t (*out)[4], char (*reason)[STN_POLICY_REASON_CAP])
{
	stn_dag d;
	stn_window w;
	explore_case(&d, &w);
	const stn_policy_vtable *vt = stn__policy_find("explore");
	stn_policy *pol;
	stn_errbuf eb = {{0}};
	assert_int_equal(vt->create(&d, opts, n_opts, NULL, &pol, &eb), STN_OK);
	stn_decision dec;
	assert_int_equal(stn__decision_init(&dec, 4), STN_OK);
	for (size_t k = 0; k < n; k++) {
		bool decided = false;
		assert_int_equal(vt->on_window(pol, &w, &dec, &decided, &eb), STN_OK);
		for (size_t v = 0; v < 4; v++)
			out[k][v] = decided ? dec.parallelism[v] : 0;
		if (reason)
			snprintf(reason[k], STN_POLICY_REASON_CAP, "%s", decided ? dec.reason : "");
		if (k == n / 2) {
			/* a rate update does not disturb the period */
			stn_dag r;
			stn__dag_init(&r);
			assert_int_equal(stn__dag_copy(&r, &d), STN_OK);
			r.ops[0].source_rate = 1000;
			assert_int_equal(vt->on_rates(pol, &r, &eb), STN_OK);
			stn__dag_fini(&r);
		}
	}
	vt->destroy(pol);
	stn__decision_fini(&dec);
	stn__window_fini(&w);
	stn__dag_fini(&d);
}

static void test_explore_period_determinism(void **state)
{
	(void)state;
	enum { N = 160 };
	static uint32_t a[N][4], b[N][4], c[N][4], e[N][4];
	static char ra[N][STN_POLICY_REASON_CAP], rb[N][STN_POLICY_REASON_CAP];
	explore_run(NULL, 0, N, a, ra); /* defaults: period 8, seed 1 */
	explore_run(NULL, 0, N, b, rb);
	stn_policy_option s1[] = {{"seed", 1}, {"period", 8}};
	explore_run(s1, 2, N, e, NULL);
	stn_policy_option s2[] = {{"seed", 2}};
	explore_run(s2, 1, N, c, NULL);
	size_t differ = 0;
	for (size_t k = 0; k < N; k++) {
		bool decides = k % 8 == 7; /* the 8th, 16th, ... window */
		assert_int_equal(a[k][0] != 0, decides);
		assert_int_equal(c[k][0] != 0, decides);
		assert_memory_equal(a[k], b[k], sizeof(a[k])); /* same seed, same decisions */
		assert_memory_equal(a[k], e[k], sizeof(a[k])); /* defaults are seed 1, period 8 */
		assert_string_equal(ra[k], rb[k]);
		differ += memcmp(a[k], c[k], sizeof(a[k])) != 0;
	}
	assert_true(differ > 0); /* another seed explores elsewhere */
	assert_non_null(strstr(ra[7], "explore #1"));
	assert_non_null(strstr(ra[15], "explore #2"));
	stn_policy_option p3[] = {{"period", 3}};
	explore_run(p3, 1, N, c, NULL);
	for (size_t k = 0; k < N; k++)
		assert_int_equal(c[k][0] != 0, k % 3 == 2);
}

static void test_explore_options(void **state)
{
	(void)state;
	stn_dag d;
	stn_window w;
	explore_case(&d, &w);
	const stn_policy_vtable *vt = stn__policy_find("explore");
	static const struct {
		stn_policy_option opt;
		const char *text;
	} bad[] = {
		{{"period", 0}, "period"},      {{"period", 2.5}, "period=2.5"},
		{{"period", 1e9}, "period"},    {{"low", 0}, "low"},
		{{"low", 1.2}, "low"},          {{"high", 0.9}, "high"},
		{{"high", 1e6}, "high"},        {{"seed", -1}, "seed"},
		{{"seed", 0.5}, "seed=0.5"},    {{"seed", 1e300}, "seed"},
		{{"under", 1.5}, "under"},      {{"under", NAN}, "under"},
		{{"low", INFINITY}, "low"},     {{"scaling_factor", 1}, "unknown option"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		stn_errbuf eb = {{0}};
		stn_policy *pol = NULL;
		assert_int_equal(vt->create(&d, &bad[i].opt, 1, NULL, &pol, &eb), STN_EINVAL);
		assert_null(pol);
		assert_non_null(strstr(eb.text, bad[i].text));
	}
	/* a window of another graph is refused, not read */
	stn_errbuf eb = {{0}};
	stn_policy *pol;
	assert_int_equal(vt->create(&d, NULL, 0, NULL, &pol, &eb), STN_OK);
	stn_decision dec;
	assert_int_equal(stn__decision_init(&dec, 4), STN_OK);
	bool decided = true;
	w.n_ops = 3;
	assert_int_equal(vt->on_window(pol, &w, &dec, &decided, &eb), STN_EINVAL);
	assert_false(decided);
	w.n_ops = 4;
	w.ops[2].rate_in = NAN;
	assert_int_equal(vt->on_window(pol, &w, &dec, &decided, &eb), STN_EVALUE);
	vt->destroy(pol);
	stn__decision_fini(&dec);
	stn__window_fini(&w);
	stn__dag_fini(&d);
}

typedef struct explore_trace {
	const stn_dag *dag;
	uint32_t fixed_p[STN_DAG_MAX_OPS];
	bool under; /* the configuration in force puts some operator under its estimate */
	uint64_t windows, windows_under, fixed_changed, decisions;
} explore_trace;

static void on_explore(void *ctx, uint64_t t, const stn_window *w, const stn_decision *d)
{
	explore_trace *x = ctx;
	(void)t;
	for (size_t v = 0; v < w->n_ops; v++)
		if (x->dag->ops[v].p_max <= 1 && w->ops[v].parallelism != x->fixed_p[v])
			x->fixed_changed++;
	if (x->decisions > 0) { /* from the first decision on */
		x->windows++;
		x->windows_under += x->under;
	}
	if (d) {
		for (size_t v = 0; v < w->n_ops; v++)
			if (x->dag->ops[v].p_max <= 1 && d->parallelism[v] != x->fixed_p[v])
				x->fixed_changed++;
		x->under = strstr(d->reason, ", 0 under)") == NULL;
		x->decisions++;
	}
}

/* Closed loop on simulated Nexmark jobs: fixed sources never change, decisions come every
 * period, and about half the windows run with some operator under its DS2 estimate. */
static void test_explore_simulated(void **state)
{
	(void)state;
	const stn_policy_vtable *vt = stn__policy_find("explore");
	uint64_t windows = 0, under = 0;
	for (uint64_t seed = 1; seed <= 8; seed++) {
		stn_errbuf eb = {{0}};
		stn_sim_job job;
		assert_int_equal(stn__sim_job_random(&job, STN_SIM_NEXMARK, 0, seed, &eb), STN_OK);
		double steps[3] = {1.0, 1.6, 0.8};
		stn_sim_schedule sched = {.kind = STN_SCHED_STEPS, .values = steps, .n_values = 3,
					  .step_len = 100};
		/* sources fixed at one instance, as Timely sources that cannot rescale */
		size_t n_fixed = 0;
		for (size_t v = 0; v < job.dag.n_ops; v++)
			if (stn__dag_in_degree(&job.dag, (uint32_t)v) == 0) {
				job.dag.ops[v].parallelism = 1;
				job.dag.ops[v].p_max = 1;
				n_fixed++;
			}
		assert_true(n_fixed > 0);
		explore_trace x;
		memset(&x, 0, sizeof(x));
		x.dag = &job.dag;
		for (size_t v = 0; v < job.dag.n_ops; v++)
			x.fixed_p[v] = job.dag.ops[v].parallelism;
		stn_sim_params params = stn__sim_params_default();
		params.duration_ms = 10000;
		stn_policy_option opts[] = {{"seed", (double)seed}};
		stn_eval_run_opts ro = {.windows = 300, .w_stable = 10, .episode_threshold = 0.05,
					.sim_seed = seed, .params = &params, .trace = on_explore,
					.trace_ctx = &x, .opts = opts, .n_opts = 1};
		stn_eval_result r;
		assert_int_equal(stn__eval_run(vt, &job, &sched, &ro, &r, &eb), STN_OK);
		assert_int_equal(r.safety_violations, 0);
		assert_int_equal(x.fixed_changed, 0);
		assert_int_equal(x.decisions, 300 / 8);
		windows += x.windows;
		under += x.windows_under;
		stn__sim_job_fini(&job);
	}
	double frac = (double)under / (double)windows;
	printf("explore, simulated Nexmark: %llu of %llu windows under the DS2 estimate (%.3f)\n",
	       (unsigned long long)under, (unsigned long long)windows, frac);
	assert_true(frac > 0.3 && frac < 0.7);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ds2_formula),
		cmocka_unit_test(test_flink_alignment),
		cmocka_unit_test(test_flink_arithmetic),
		cmocka_unit_test(test_dhalion_step),
		cmocka_unit_test(test_streamtune_fallback),
		cmocka_unit_test(test_streamtune_key_bound),
		cmocka_unit_test(test_streamtune_bottleneck_floods_downstream),
		cmocka_unit_test(test_streamtune_wrong_prior_one_step),
		cmocka_unit_test(test_streamtune_steps_up_to_measured_load),
		cmocka_unit_test(test_streamtune_waits_out_transition),
		cmocka_unit_test(test_streamtune_first_decision),
		cmocka_unit_test(test_streamtune_scales_down_bursty_input),
		cmocka_unit_test(test_streamtune_anticipates_falling_input),
		cmocka_unit_test(test_safety_random_jobs),
		cmocka_unit_test(test_explore_bounds),
		cmocka_unit_test(test_explore_period_determinism),
		cmocka_unit_test(test_explore_options),
		cmocka_unit_test(test_explore_simulated),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
