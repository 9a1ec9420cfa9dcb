/* Every policy decides the same over a real socket as in-process on the same windows: a
 * simulated job is tuned live through the endpoint (ipc and tcp), then the windows the
 * endpoint stored are replayed into a fresh instance of the same policy, and the decisions
 * (after which window, parallelism per operator, probabilities, reason) must be identical. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "client.h"
#include "endpoint.h"
#include "history.h"
#include "log.h"
#include "model.h"
#include "policy.h"
#include "sim.h"
#include "simlink.h"
#include "testutil.h"

#define WINDOWS 150u
#define STEP_LEN 50u
#define MAX_DECISIONS 64u

/* One decision as the job received it. */
typedef struct seen_decision {
	uint64_t seq;
	uint32_t p[STN_DAG_MAX_OPS];
	double prob[STN_DAG_MAX_OPS];
	char reason[STN_PROTO_MAX_TEXT];
	size_t n_ops;
} seen_decision;

typedef struct run_log {
	seen_decision d[MAX_DECISIONS];
	size_t n;
} run_log;

static void record_decision(void *user, const stn_msg_decision *d)
{
	run_log *log = user;

	if (log->n >= MAX_DECISIONS)
		return;
	seen_decision *s = &log->d[log->n++];

	s->seq = d->seq;
	s->n_ops = d->n_ops;
	for (size_t i = 0; i < d->n_ops && i < STN_DAG_MAX_OPS; i++) {
		s->p[i] = d->p[i];
		s->prob[i] = d->prob[i];
	}
	snprintf(s->reason, sizeof(s->reason), "%s", d->reason);
}

static const double steps[] = {1.0, 1.6, 0.7};

/* The autoscaler's real defaults (a 15 min metric window, 5 min stabilisation) would not act
 * within this run; shorter ones, sent over the wire as REGISTER options, let it. */
static const stn_policy_opt flink_opts[] = {
	{"metrics.window", 10}, {"stabilization.interval", 10}, {"restart.time", 5}};

static size_t options_of(const char *policy, const stn_policy_opt **opts)
{
	if (strcmp(policy, "flink-autoscaler") == 0) {
		*opts = flink_opts;
		return sizeof(flink_opts) / sizeof(flink_opts[0]);
	}
	*opts = NULL;
	return 0;
}

/* The job of every run: a random layered DAG of 12 operators started at half its oracle parallelism, so
 * every adaptive policy has something to do from the first windows. */
static void make_job(stn_sim_job *job)
{
	stn_errbuf eb = {{0}};

	memset(job, 0, sizeof(*job));
	if (stn__sim_job_random(job, STN_SIM_RANDOM, 12, 11, &eb) != STN_OK)
		fail_msg("sim job: %s", eb.text);
	for (size_t i = 0; i < job->dag.n_ops; i++) {
		uint32_t p = job->dag.ops[i].parallelism;

		job->dag.ops[i].parallelism = p > 1 ? p / 2 : 1;
	}
}

static const stn_model *test_model(stn_model *storage, const char **path_out)
{
	static char path[1024];
	stn_errbuf eb = {{0}};

	snprintf(path, sizeof(path), "%s/plugin/models/default.stnm", stn_test_source_dir());
	*path_out = NULL;
	if (access(path, R_OK) != 0)
		return NULL;
	if (stn__model_read(storage, path, &eb) != STN_OK)
		fail_msg("shipped model %s: %s", path, eb.text);
	*path_out = path;
	return storage;
}

/* Tunes the job live through an endpoint at bind, recording what it receives. */
static void run_live(const char *bind, const char *hist, const char *model_path,
		     const char *policy, run_log *log)
{
	stn_sim_schedule sched = {STN_SCHED_STEPS, 0, 0, 0, 0, STEP_LEN, steps, 3};
	stn_endpoint_config cfg;
	stn_errbuf eb = {{0}};
	stn_endpoint *ep = NULL;
	stn_client *c = NULL;
	stn_sim *sim = NULL;
	stn_sim_job job;
	stn_simlink link;
	double factor_prev = -1;
	const stn_policy_opt *opts;
	size_t n_opts = options_of(policy, &opts);

	make_job(&job);
	memset(&cfg, 0, sizeof(cfg));
	cfg.bind = bind;
	cfg.history_path = hist;
	cfg.model_path = model_path;
	cfg.window_timeout_ms = 60000;
	cfg.logger = stn__logger_default();
	cfg.logger.level = getenv("STN_TEST_VERBOSE") ? STN_LOG_DEBUG : STN_LOG_ERROR;
	if (stn__endpoint_start(&cfg, &ep, &eb) != STN_OK)
		fail_msg("endpoint: %s", eb.text);
	assert_int_equal(stn__client_connect(stn__endpoint_address(ep), &c, &eb), STN_OK);
	assert_int_equal(stn__sim_create(&sim, &job, NULL, &sched, 5, &eb), STN_OK);
	memset(&link, 0, sizeof(link));
	link.client = c;
	link.sim = sim;
	link.job = "live";
	link.on_decision = record_decision;
	link.user = log;
	for (uint64_t t = 0; t < WINDOWS; t++) {
		double factor = stn__sim_factor(sim, t);

		if (factor != factor_prev) {
			if (stn__simlink_register(&link, policy, opts, n_opts, factor, &eb) != STN_OK)
				fail_msg("%s: register: %s", policy, eb.text);
			factor_prev = factor;
		}
		if (stn__simlink_window(&link, &eb) != STN_OK)
			fail_msg("%s: window %llu: %s", policy, (unsigned long long)t, eb.text);
	}
	assert_int_equal(link.decisions, log->n);
	stn__client_close(c);
	stn__endpoint_stop(ep);
	stn__sim_destroy(sim);
	stn__sim_job_fini(&job);
}

typedef struct replay {
	const stn_policy_vtable *pv;
	stn_policy *pol;
	stn_dag dag; /* the job as the policy knows it: rates of the episode, applied p */
	stn_sim_job job;
	const run_log *live;
	size_t n_decisions;
	uint64_t windows;
	int mismatches;
	char first_mismatch[512];
} replay;

static void mismatch(replay *r, const char *what, uint64_t window)
{
	if (r->mismatches++ == 0)
		snprintf(r->first_mismatch, sizeof(r->first_mismatch), "%s after window %llu", what,
			 (unsigned long long)window);
}

static void set_rates(replay *r, double factor)
{
	for (size_t i = 0; i < r->dag.n_ops; i++)
		r->dag.ops[i].source_rate = r->job.dag.ops[i].source_rate * factor;
}

static bool replay_window(void *user, uint64_t hash, const stn_window *w)
{
	replay *r = user;
	stn_errbuf eb = {{0}};
	stn_decision d;
	bool decided = false;
	uint64_t t = r->windows++;

	(void)hash;
	/* The live job re-registered with new rates before windows STEP_LEN and 2 STEP_LEN. */
	if (t > 0 && t % STEP_LEN == 0 && t / STEP_LEN < 3) {
		set_rates(r, steps[t / STEP_LEN]);
		if (r->pv->on_rates != NULL)
			assert_int_equal(r->pv->on_rates(r->pol, &r->dag, &eb), STN_OK);
	}
	assert_int_equal(stn__decision_init(&d, r->dag.n_ops), STN_OK);
	assert_int_equal(r->pv->on_window(r->pol, w, &d, &decided, &eb), STN_OK);
	if (decided) {
		size_t k = r->n_decisions++;

		if (k >= r->live->n) {
			mismatch(r, "decision the live job never received", t);
		} else {
			const seen_decision *s = &r->live->d[k];

			if (s->n_ops != r->dag.n_ops)
				mismatch(r, "operator count", t);
			for (size_t i = 0; i < r->dag.n_ops && i < s->n_ops; i++) {
				if (s->p[i] != d.parallelism[i])
					mismatch(r, "parallelism", t);
				if (s->prob[i] != d.prob[i])
					mismatch(r, "probability", t);
				r->dag.ops[i].parallelism = d.parallelism[i];
			}
			if (strcmp(s->reason, d.reason) != 0)
				mismatch(r, "reason", t);
		}
	}
	stn__decision_fini(&d);
	return true;
}

static bool decision_windows(void *user, const stn_history_decision *d, int64_t applied)
{
	int *unapplied = user;

	(void)d;
	*unapplied += applied < 0;
	return true;
}

static bool only_job(void *user, const stn_history_job *j)
{
	*(int64_t *)user = j->key;
	return false;
}

/* Replays the stored windows of the live run into a fresh policy. */
static void check_replay(const char *hist, const stn_model *model, const char *policy,
			 const run_log *live)
{
	stn_history_opts ro = {true, false};
	stn_history *h = NULL;
	stn_errbuf eb = {{0}};
	int64_t key = -1;
	int unapplied = 0;
	replay r;
	const stn_policy_opt *wire_opts;
	size_t n_opts = options_of(policy, &wire_opts);
	stn_policy_option opts[4];

	for (size_t i = 0; i < n_opts; i++) {
		opts[i].key = wire_opts[i].key;
		opts[i].value = wire_opts[i].value;
	}

	memset(&r, 0, sizeof(r));
	r.live = live;
	r.pv = stn__policy_find(policy);
	assert_non_null(r.pv);
	make_job(&r.job);
	stn__dag_init(&r.dag);
	assert_int_equal(stn__dag_copy(&r.dag, &r.job.dag), STN_OK);
	set_rates(&r, steps[0]);
	assert_int_equal(r.pv->create(&r.dag, opts, n_opts, model, &r.pol, &eb), STN_OK);
	assert_int_equal(stn__history_open(hist, &ro, &h, &eb), STN_OK);
	assert_int_equal(stn__history_each_job(h, only_job, &key, &eb), STN_OK);
	assert_int_equal(stn__history_each_window(h, key, replay_window, &r, &eb), STN_OK);
	assert_int_equal(stn__history_each_decision(h, key, decision_windows, &unapplied, &eb),
			 STN_OK);
	stn__history_close(h);
	printf("  %-16s %2zu decisions live, %2zu in replay over %llu windows, %d mismatches%s%s\n",
	       policy, live->n, r.n_decisions, (unsigned long long)r.windows, r.mismatches,
	       r.mismatches ? ": first " : "", r.first_mismatch);
	assert_int_equal(r.windows, WINDOWS);
	assert_int_equal(r.mismatches, 0);
	assert_int_equal(r.n_decisions, live->n);
	assert_int_equal(unapplied, 0); /* every decision the job applied was acknowledged */
	r.pv->destroy(r.pol);
	stn__dag_fini(&r.dag);
	stn__sim_job_fini(&r.job);
}

static void every_policy(const char *transport)
{
	char *dir = stn_test_tmpdir();
	stn_model storage;
	const char *model_path = NULL;
	const stn_model *model;
	size_t n = 0, adaptive_decided = 0;
	const stn_policy_vtable *const *all = stn__policy_all(&n);

	memset(&storage, 0, sizeof(storage));
	model = test_model(&storage, &model_path);
	printf("%s, %s\n", transport, model ? "shipped model" : "no model");
	for (size_t i = 0; i < n; i++) {
		char hist[1024], bind[1200];
		run_log *log = stn__calloc(1, sizeof(*log));

		assert_non_null(log);
		snprintf(hist, sizeof(hist), "%s/%s.sqlite", dir, all[i]->name);
		if (strcmp(transport, "ipc") == 0)
			snprintf(bind, sizeof(bind), "ipc://%s/%s.sock", dir, all[i]->name);
		else
			snprintf(bind, sizeof(bind), "tcp://127.0.0.1:0");
		run_live(bind, hist, model_path, all[i]->name, log);
		check_replay(hist, model, all[i]->name, log);
		if (strcmp(all[i]->name, "static") == 0)
			assert_int_equal(log->n, 0);
		else
			adaptive_decided += log->n > 0;
		stn__free(log);
	}
	/* The comparison means something only if the policies actually decided. */
	assert_int_equal(adaptive_decided, n - 1);
	if (model != NULL)
		stn__model_fini(&storage);
	stn_test_rmtree(dir);
	free(dir);
}

static void test_same_decisions_ipc(void **state)
{
	(void)state;
	every_policy("ipc");
}

static void test_same_decisions_tcp(void **state)
{
	(void)state;
	every_policy("tcp");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_decisions_ipc),
		cmocka_unit_test(test_same_decisions_tcp),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
