/* evaluate: episode accounting, one closed-loop run, and the suite. */
#include "evaluate.h"

#include <math.h>
#include <string.h>
#include <time.h>

#include "alloc.h"

void stn__eval_acc_init(stn_eval_acc *a, uint32_t w_stable)
{
	memset(a, 0, sizeof(*a));
	a->w_stable = w_stable ? w_stable : STN_EVAL_W_STABLE;
}

void stn__eval_acc_finish(stn_eval_acc *a)
{
	if (!a->open)
		return;
	a->episodes++;
	a->reconfigs_total += a->ep_reconfigs;
	if (a->ep_reconfigs > a->reconfigs_max)
		a->reconfigs_max = a->ep_reconfigs;
	if (a->converged) {
		a->converged_episodes++;
		a->time_to_stable_sum += a->converge_at;
		if (a->ratio_n)
			a->ratio_mean_sum += a->ratio_sum / (double)a->ratio_n;
	} else {
		a->time_to_stable_sum += a->ep_windows;
	}
	a->open = false;
}

void stn__eval_acc_window(stn_eval_acc *a, bool new_episode, bool reconfigured, bool bottleneck,
			  uint64_t sum_p, uint64_t oracle_sum)
{
	if (new_episode || !a->open) {
		stn__eval_acc_finish(a);
		a->open = true;
		a->ep_windows = 0;
		a->ep_reconfigs = 0;
		a->stable_run = 0;
		a->converged = false;
		a->converge_at = 0;
		a->ratio_sum = 0;
		a->ratio_n = 0;
	}
	a->ep_windows++;
	if (!a->converged) {
		if (bottleneck || reconfigured) {
			a->stable_run = 0;
			a->ratio_sum = 0;
			a->ratio_n = 0;
		} else {
			a->stable_run++;
			if (oracle_sum > 0) {
				a->ratio_sum += (double)sum_p / (double)oracle_sum;
				a->ratio_n++;
			}
			if (a->stable_run >= a->w_stable) {
				a->converged = true;
				a->converge_at = a->ep_windows - a->stable_run;
			}
		}
	} else {
		if (bottleneck)
			a->bottleneck_after++;
		if (oracle_sum > 0) {
			a->ratio_sum += (double)sum_p / (double)oracle_sum;
			a->ratio_n++;
		}
	}
	if (reconfigured)
		a->ep_reconfigs++;
}

void stn__eval_acc_result(const stn_eval_acc *a, stn_eval_result *r)
{
	memset(r, 0, sizeof(*r));
	r->episodes = a->episodes;
	r->converged_episodes = a->converged_episodes;
	r->reconfigs_total = a->reconfigs_total;
	r->reconfigs_max = a->reconfigs_max;
	r->reconfigs_mean = a->episodes ? (double)a->reconfigs_total / (double)a->episodes : 0;
	r->parallelism_over_oracle =
		a->converged_episodes ? a->ratio_mean_sum / (double)a->converged_episodes : 0;
	r->bottleneck_windows_after_convergence = a->bottleneck_after;
	r->time_to_stable_windows =
		a->episodes ? (double)a->time_to_stable_sum / (double)a->episodes : 0;
}

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

stn_status stn__eval_run(const stn_policy_vtable *vt, const stn_sim_job *job,
			 const stn_sim_schedule *sched, const stn_eval_run_opts *o,
			 stn_eval_result *r, stn_errbuf *eb)
{
	memset(r, 0, sizeof(*r));
	size_t n = job->dag.n_ops;
	stn_sim_job start;
	memset(&start, 0, sizeof(start));
	stn_dag rates;
	stn__dag_init(&rates);
	stn_sim *sim = NULL;
	stn_policy *pol = NULL;
	stn_decision dec;
	memset(&dec, 0, sizeof(dec));
	uint32_t *oracle = NULL;
	stn_status st = stn__dag_copy(&start.dag, &job->dag);
	if (st != STN_OK)
		goto cleanup;
	start.truth = job->truth; /* borrowed: sim_create copies the job */
	start.family = job->family;
	if (o->start)
		for (size_t v = 0; v < n; v++) {
			uint32_t p = o->start[v];
			start.dag.ops[v].parallelism =
				p < 1 ? 1 : (p > start.dag.ops[v].p_max ? start.dag.ops[v].p_max : p);
		}
	st = stn__sim_create(&sim, &start, o->params, sched, o->sim_seed, eb);
	if (st != STN_OK)
		goto cleanup;
	oracle = stn__malloc_array(n, sizeof(*oracle));
	if (!oracle) {
		st = stn__fail(eb, STN_ENOMEM, "evaluate: out of memory");
		goto cleanup;
	}
	st = stn__dag_copy(&rates, &start.dag);
	if (st != STN_OK)
		goto cleanup;
	double announced = stn__sim_factor(sim, 0);
	for (size_t v = 0; v < n; v++)
		rates.ops[v].source_rate = job->dag.ops[v].source_rate * announced;
	st = vt->create(&rates, o->opts, o->n_opts, o->model, &pol, eb);
	if (st != STN_OK)
		goto cleanup;
	st = stn__decision_init(&dec, n);
	if (st != STN_OK)
		goto cleanup;
	stn_eval_acc acc;
	stn__eval_acc_init(&acc, o->w_stable);
	double thr = o->episode_threshold > 0 ? o->episode_threshold : 0.05;
	for (uint64_t t = 0; t < o->windows; t++) {
		double f = stn__sim_factor(sim, t);
		bool new_ep = t == 0;
		if (t > 0 && fabs(f / announced - 1.0) > thr) {
			announced = f;
			for (size_t v = 0; v < n; v++)
				rates.ops[v].source_rate = job->dag.ops[v].source_rate * f;
			double t0 = now_seconds();
			st = vt->on_rates(pol, &rates, eb);
			r->decide_seconds += now_seconds() - t0;
			if (st != STN_OK)
				goto cleanup;
			new_ep = true;
		}
		st = stn__sim_step(sim, eb);
		if (st != STN_OK)
			goto cleanup;
		const stn_window *w = stn__sim_window(sim);
		bool bottleneck = false;
		uint64_t sum_p = 0;
		for (size_t v = 0; v < n; v++) {
			if (w->ops[v].label == STN_LABEL_BOTTLENECK)
				bottleneck = true;
			sum_p += w->ops[v].parallelism;
		}
		uint64_t osum = stn__sim_oracle(sim, f, oracle);
		bool decided = false;
		double t0 = now_seconds();
		st = vt->on_window(pol, w, &dec, &decided, eb);
		r->decide_seconds += now_seconds() - t0;
		if (st != STN_OK)
			goto cleanup;
		bool changed = false;
		if (decided) {
			const stn_dag *cur = stn__sim_dag(sim);
			bool bad = dec.n_ops != n;
			for (size_t v = 0; v < n && !bad; v++) {
				if (dec.parallelism[v] < 1 || dec.parallelism[v] > cur->ops[v].p_max)
					bad = true;
				else if (dec.parallelism[v] != cur->ops[v].parallelism)
					changed = true;
			}
			if (bad) {
				r->safety_violations++;
				changed = false;
			} else if (changed) {
				st = stn__sim_set_parallelism(sim, dec.parallelism, eb);
				if (st != STN_OK)
					goto cleanup;
			}
		}
		if (o->trace)
			o->trace(o->trace_ctx, t, w, decided ? &dec : NULL);
		stn__eval_acc_window(&acc, new_ep, changed, bottleneck, sum_p, osum);
		r->windows++;
	}
	stn__eval_acc_finish(&acc);
	double secs = r->decide_seconds;
	uint64_t viol = r->safety_violations, win = r->windows;
	stn__eval_acc_result(&acc, r);
	r->decide_seconds = secs;
	r->safety_violations = viol;
	r->windows = win;
	st = STN_OK;
cleanup:
	stn__decision_fini(&dec);
	if (pol)
		vt->destroy(pol);
	stn__free(oracle);
	stn__sim_destroy(sim);
	stn__dag_fini(&rates);
	stn__dag_fini(&start.dag);
	return st;
}

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double unit(uint64_t *s)
{
	return (double)(splitmix64(s) >> 11) * 0x1.0p-53;
}

/* Job i of the suite: alternating Nexmark-shaped and random (3..40 operators) families,
 * step / square / sine schedules, a start perturbed around the oracle. */
static stn_status suite_job(uint64_t seed, size_t i, stn_sim_job *job, stn_sim_schedule *sched,
			    double *steps, uint32_t **start, stn_errbuf *eb)
{
	uint64_t s = seed ^ (0x51ed270b27ull * (i + 1));
	stn_sim_family fam = i % 2 == 0 ? STN_SIM_NEXMARK : STN_SIM_RANDOM;
	uint32_t n_ops = fam == STN_SIM_RANDOM ? 3 + (uint32_t)(splitmix64(&s) % 38) : 0;
	stn_status st = stn__sim_job_random(job, fam, n_ops, splitmix64(&s), eb);
	if (st != STN_OK)
		return st;
	memset(sched, 0, sizeof(*sched));
	switch ((i / 2) % 3) {
	case 0:
		sched->kind = STN_SCHED_STEPS;
		steps[0] = 1.0;
		steps[1] = 1.3 + 0.5 * unit(&s);
		steps[2] = 0.6 + 0.3 * unit(&s);
		steps[3] = 1.0 + 0.4 * unit(&s);
		sched->values = steps;
		sched->n_values = 4;
		sched->step_len = 150;
		break;
	case 1:
		sched->kind = STN_SCHED_SQUARE;
		sched->level = 1.0;
		sched->high = 1.3 + 0.4 * unit(&s);
		sched->period = 300;
		break;
	default:
		sched->kind = STN_SCHED_SINE;
		sched->level = 1.0;
		sched->amp = 0.2 + 0.2 * unit(&s);
		sched->period = 600;
		break;
	}
	size_t n = job->dag.n_ops;
	*start = stn__malloc_array(n, sizeof(**start));
	if (!*start) {
		stn__sim_job_fini(job);
		return stn__fail(eb, STN_ENOMEM, "suite: out of memory");
	}
	for (size_t v = 0; v < n; v++) {
		double p = job->dag.ops[v].parallelism * (0.5 + 1.5 * unit(&s));
		uint32_t q = p < 1 ? 1 : (uint32_t)lround(p);
		(*start)[v] = q > job->dag.ops[v].p_max ? job->dag.ops[v].p_max : q;
	}
	return STN_OK;
}

/* The suite's policies: those named in o (STN_EINVAL for an unknown name), else every tuning
 * policy. use has room for 16. */
static stn_status suite_policies(const stn_suite_opts *o, const stn_policy_vtable **use,
				 size_t *n_use, stn_errbuf *eb)
{
	size_t n_all;
	const stn_policy_vtable *const *all = stn__policy_all(&n_all);
	*n_use = 0;
	if (o->policies) {
		for (size_t i = 0; i < o->n_policies && *n_use < 16; i++) {
			use[*n_use] = stn__policy_find(o->policies[i]);
			if (!use[*n_use])
				return stn__fail(eb, STN_EINVAL, "suite: unknown policy '%s'",
						 o->policies[i]);
			(*n_use)++;
		}
	} else {
		for (size_t i = 0; i < n_all && *n_use < 16; i++)
			if (!all[i]->exploring) /* the suite compares tuning policies only */
				use[(*n_use)++] = all[i];
	}
	return STN_OK;
}

/* The options policy pv runs with in the suite: those for it or for every policy and, for
 * streamtune without a model, local_prior=1. opts has room for STN_SUITE_MAX_OPTIONS + 1. */
static size_t suite_policy_opts(const stn_suite_opts *o, const stn_policy_vtable *pv,
				stn_policy_option *opts)
{
	static const stn_policy_option local_prior = {"local_prior", 1.0};
	size_t n_opts = 0;
	for (size_t j = 0; j < o->n_opts && j < STN_SUITE_MAX_OPTIONS; j++)
		if (!o->opts[j].policy || strcmp(o->opts[j].policy, pv->name) == 0)
			opts[n_opts++] = o->opts[j].opt;
	if (strcmp(pv->name, "streamtune") == 0 && !o->model)
		opts[n_opts++] = local_prior;
	return n_opts;
}

stn_status stn__eval_suite_check(const stn_suite_opts *o, stn_errbuf *eb)
{
	const stn_policy_vtable *use[16];
	size_t n_use;
	stn_status st = suite_policies(o, use, &n_use, eb);
	if (st != STN_OK)
		return st;
	for (size_t j = 0; j < o->n_opts && j < STN_SUITE_MAX_OPTIONS; j++)
		if (o->opts[j].policy && !stn__policy_find(o->opts[j].policy))
			return stn__fail(eb, STN_EINVAL, "unknown policy '%s' in option %s:%s",
					 o->opts[j].policy, o->opts[j].policy, o->opts[j].opt.key);
	/* Every policy created once on a small job with the options each run gives it: the
	 * policies' own checks of option names and values, before any run starts. */
	stn_sim_job job;
	st = stn__sim_job_random(&job, STN_SIM_Q0, 0, o->seed, eb);
	if (st != STN_OK)
		return st;
	for (size_t k = 0; k < n_use && st == STN_OK; k++) {
		stn_policy_option opts[STN_SUITE_MAX_OPTIONS + 1];
		size_t n_opts = suite_policy_opts(o, use[k], opts);
		stn_policy *pol = NULL;
		st = use[k]->create(&job.dag, n_opts ? opts : NULL, n_opts, o->model, &pol, eb);
		if (st == STN_OK)
			use[k]->destroy(pol);
	}
	stn__sim_job_fini(&job);
	return st;
}

stn_status stn__eval_suite(const stn_suite_opts *o, stn_suite_row *rows, size_t *n_rows,
			   stn_errbuf *eb)
{
	const stn_policy_vtable *use[16];
	size_t n_use = 0;
	if (suite_policies(o, use, &n_use, eb) != STN_OK)
		return STN_EINVAL;
	if (o->n_jobs == 0)
		return stn__fail(eb, STN_EINVAL, "suite: no jobs");
	double ratio_sum[16] = {0};
	uint64_t ratio_n[16] = {0};
	for (size_t k = 0; k < n_use; k++) {
		memset(&rows[k], 0, sizeof(rows[k]));
		rows[k].policy = use[k]->name;
	}
	stn_sim_params params = stn__sim_params_default();
	params.duration_ms = 10000; /* 10 s windows: the autoscaler's minutes are windows */
	for (size_t i = 0; i < o->n_jobs; i++) {
		stn_sim_job job;
		stn_sim_schedule sched;
		double steps[4];
		uint32_t *start = NULL;
		stn_status st = suite_job(o->seed, i, &job, &sched, steps, &start, eb);
		if (st != STN_OK)
			return st;
		for (size_t k = 0; k < n_use; k++) {
			stn_eval_run_opts ro = {
				.windows = o->windows,
				.w_stable = STN_EVAL_W_STABLE,
				.episode_threshold = 0.05,
				.start = start,
				.sim_seed = o->seed + i,
				.params = &params,
			};
			stn_policy_option opts[STN_SUITE_MAX_OPTIONS + 1];
			size_t n_opts = suite_policy_opts(o, use[k], opts);
			if (strcmp(use[k]->name, "streamtune") == 0)
				ro.model = o->model;
			ro.opts = n_opts ? opts : NULL;
			ro.n_opts = n_opts;
			stn_eval_result r;
			st = stn__eval_run(use[k], &job, &sched, &ro, &r, eb);
			if (st != STN_OK) {
				stn__free(start);
				stn__sim_job_fini(&job);
				return st;
			}
			stn_eval_result *t = &rows[k].total;
			t->episodes += r.episodes;
			t->converged_episodes += r.converged_episodes;
			t->reconfigs_total += r.reconfigs_total;
			if (r.reconfigs_max > t->reconfigs_max)
				t->reconfigs_max = r.reconfigs_max;
			t->bottleneck_windows_after_convergence += r.bottleneck_windows_after_convergence;
			t->time_to_stable_windows += r.time_to_stable_windows * (double)r.episodes;
			t->safety_violations += r.safety_violations;
			t->windows += r.windows;
			t->decide_seconds += r.decide_seconds;
			if (r.converged_episodes) {
				ratio_sum[k] += r.parallelism_over_oracle * (double)r.converged_episodes;
				ratio_n[k] += r.converged_episodes;
			}
		}
		stn__free(start);
		stn__sim_job_fini(&job);
	}
	for (size_t k = 0; k < n_use; k++) {
		stn_eval_result *t = &rows[k].total;
		t->reconfigs_mean = t->episodes ? (double)t->reconfigs_total / t->episodes : 0;
		t->time_to_stable_windows = t->episodes ? t->time_to_stable_windows / t->episodes : 0;
		rows[k].parallelism_over_oracle = ratio_n[k] ? ratio_sum[k] / ratio_n[k] : 0;
		t->parallelism_over_oracle = rows[k].parallelism_over_oracle;
		rows[k].converged_fraction =
			t->episodes ? (double)t->converged_episodes / t->episodes : 0;
	}
	*n_rows = n_use;
	return STN_OK;
}
