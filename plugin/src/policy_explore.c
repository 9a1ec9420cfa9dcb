/* policy_explore: not a tuner. It records training histories whose configurations lie around
 * the bottleneck boundary, so that StreamTune's model can be pre-trained on real executions
 * (labelled windows on both sides of each operator's minimal parallelism).
 *
 * Every `period` windows it decides a new configuration: for every operator, the DS2 estimate
 * of the closing window (stn__policy_ds2_rule, scaling factor 0) times a factor drawn uniformly
 * in [low, high], rounded, clamped to 1..p_max. Operators with p_max 1 (fixed sources) stay.
 *
 * With independent factors nearly every configuration of a job with several operators would
 * put some operator under its estimate. To keep both sides of the boundary in the data, each
 * decision first draws whether it may go under (probability `under`, default 0.5):
 *  - an "under" decision uses factors in [low, high]; if none of them lands an operator under
 *    its estimate, one operator that can go under (chosen by the RNG) gets a factor redrawn
 *    uniformly in [low, f_u) with f_u the largest factor that rounds below the estimate;
 *  - an "over" decision uses factors in [max(low, 1), high], so no operator is under.
 * So about a share `under` of the windows has some operator under its DS2 estimate (exactly
 * that share of the decisions, wherever an operator can go under at all).
 *
 * Deterministic for `seed` (the project's xoshiro256** RNG): the same windows give the same
 * decisions in the endpoint, the simulator and a replay. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "nn.h"
#include "policy_impl.h"

struct stn_policy {
	stn_policy_job job;
	stn_rng rng;
	uint32_t *est;   /* DS2 estimate per operator at the last decision */
	double *factor;  /* factor per operator at the last decision */
	uint32_t *next;  /* the configuration being decided */
	double low, high, under;
	uint32_t period;
	uint32_t seen;   /* windows since the last decision */
	uint64_t n_decisions;
	bool may_under;  /* kind of the last decision */
};

/* Largest seed that a double option still carries exactly. */
#define EXPLORE_SEED_MAX 9007199254740992.0

static bool whole(double v, const char *key, stn_errbuf *eb)
{
	if (v != floor(v)) {
		stn__fail(eb, STN_EINVAL, "explore: option %s=%g is not a whole number", key, v);
		return false;
	}
	return true;
}

static stn_status explore_create(const stn_dag *dag, const stn_policy_option *opts,
				 size_t n_opts, const void *model, stn_policy **out,
				 stn_errbuf *eb)
{
	static const char *const known[] = {"period", "low", "high", "seed", "under", NULL};
	(void)model;
	stn_status st = stn__policy_check_opts("explore", opts, n_opts, known, eb);
	if (st != STN_OK)
		return st;
	double period, low, high, seed, under;
	if (!stn__policy_opt(opts, n_opts, "period", 8.0, 1.0, 100000.0, &period, eb) ||
	    !stn__policy_opt(opts, n_opts, "low", 0.5, 0.05, 1.0, &low, eb) ||
	    !stn__policy_opt(opts, n_opts, "high", 1.6, 1.0, 20.0, &high, eb) ||
	    !stn__policy_opt(opts, n_opts, "seed", 1.0, 0.0, EXPLORE_SEED_MAX, &seed, eb) ||
	    !stn__policy_opt(opts, n_opts, "under", 0.5, 0.0, 1.0, &under, eb) ||
	    !whole(period, "period", eb) || !whole(seed, "seed", eb))
		return STN_EINVAL;
	stn_policy *p = stn__calloc(1, sizeof(*p));
	if (!p)
		return stn__fail(eb, STN_ENOMEM, "explore: out of memory");
	st = stn__policy_job_init(&p->job, dag, eb);
	if (st != STN_OK)
		goto fail_policy;
	size_t n = dag->n_ops;
	p->est = stn__malloc_array(n, sizeof(*p->est));
	p->factor = stn__malloc_array(n, sizeof(*p->factor));
	p->next = stn__malloc_array(n, sizeof(*p->next));
	if (!p->est || !p->factor || !p->next) {
		st = stn__fail(eb, STN_ENOMEM, "explore: out of memory");
		goto fail_arrays;
	}
	p->period = (uint32_t)period;
	p->low = low;
	p->high = high;
	p->under = under;
	stn__rng_seed(&p->rng, (uint64_t)seed);
	*out = p;
	return STN_OK;
fail_arrays:
	stn__free(p->est);
	stn__free(p->factor);
	stn__free(p->next);
	stn__policy_job_fini(&p->job);
fail_policy:
	stn__free(p);
	return st;
}

/* Factor in [lo, hi) from the policy's RNG (lo when the range is empty). */
static double draw(stn_policy *p, double lo, double hi)
{
	double u = stn__rng_uniform(&p->rng);
	return hi > lo ? lo + u * (hi - lo) : lo;
}

/* est * f rounded and clamped to the operator's range. */
static uint32_t scaled(const stn_policy *p, size_t v, uint32_t est, double f)
{
	return stn__policy_clamp(&p->job, v, (double)lround((double)est * f));
}

/* Draws the next configuration from the DS2 estimates in p->est (see the file comment). */
static void explore_draw(stn_policy *p)
{
	size_t n = p->job.dag.n_ops;
	/* one draw for the kind of decision, then one per operator, always in this order, so the
	 * sequence of factors depends only on the seed and the number of operators */
	bool may_under = stn__rng_uniform(&p->rng) < p->under;
	p->may_under = may_under;
	double lo = may_under ? p->low : fmax(p->low, 1.0);
	bool any_under = false;
	size_t n_can = 0;
	for (size_t v = 0; v < n; v++) {
		double f = draw(p, lo, p->high);
		p->factor[v] = f;
		if (p->job.dag.ops[v].p_max <= 1) {
			p->next[v] = p->job.cur[v]; /* fixed operator: stays */
			continue;
		}
		p->next[v] = scaled(p, v, p->est[v], f);
		if (p->next[v] < p->est[v])
			any_under = true;
		if (scaled(p, v, p->est[v], p->low) < p->est[v])
			n_can++;
	}
	if (!may_under || any_under || n_can == 0)
		return;
	/* an under decision where no factor went under: push one operator that can go under */
	uint64_t pick = stn__rng_below(&p->rng, n_can);
	for (size_t v = 0; v < n; v++) {
		if (p->job.dag.ops[v].p_max <= 1 ||
		    scaled(p, v, p->est[v], p->low) >= p->est[v] || pick-- != 0)
			continue;
		/* lround(est * f) < est exactly when est * f < est - 0.5 */
		double fu = fmin(p->high, ((double)p->est[v] - 0.5) / (double)p->est[v]);
		double f = draw(p, p->low, fu);
		p->factor[v] = f;
		p->next[v] = scaled(p, v, p->est[v], f);
		break;
	}
}

static stn_status explore_on_window(stn_policy *p, const stn_window *w, stn_decision *out,
				    bool *decided, stn_errbuf *eb)
{
	*decided = false;
	stn_status st = stn__policy_job_check(&p->job, w, eb);
	if (st != STN_OK)
		return st;
	/* the configuration the window ran at is what the policy believes is configured */
	for (size_t v = 0; v < w->n_ops; v++)
		if (w->ops[v].parallelism >= 1 && w->ops[v].parallelism <= p->job.dag.ops[v].p_max)
			p->job.cur[v] = w->ops[v].parallelism;
	if (++p->seen < p->period)
		return STN_OK;
	p->seen = 0;
	(void)stn__policy_ds2_rule(&p->job, w, 0.0, p->est);
	explore_draw(p);
	size_t n = p->job.dag.n_ops, n_under = 0;
	for (size_t v = 0; v < n; v++)
		n_under += p->next[v] < p->est[v];
	/* the summary comes first: with many operators the per-operator list is truncated */
	out->reason[0] = '\0';
	stn__policy_reason(out,
			   "explore #%llu (%s, %zu under): p = round(DS2 estimate x factor in"
			   " [%.2f, %.2f]);",
			   (unsigned long long)++p->n_decisions, p->may_under ? "under" : "over",
			   n_under, p->may_under ? p->low : fmax(p->low, 1.0), p->high);
	for (size_t v = 0; v < n; v++) {
		out->parallelism[v] = p->next[v];
		out->prob[v] = -1.0;
		if (p->job.dag.ops[v].p_max <= 1)
			continue; /* fixed: nothing to explain */
		stn__policy_reason(out, " op %u %ux%.2f->%u", p->job.dag.ops[v].id, p->est[v],
				   p->factor[v], p->next[v]);
	}
	for (size_t v = 0; v < n; v++)
		p->job.cur[v] = p->next[v];
	*decided = true;
	return STN_OK;
}

static stn_status explore_on_rates(stn_policy *p, const stn_dag *dag, stn_errbuf *eb)
{
	/* new target rates feed the next estimate; the decision period runs on unchanged */
	return stn__policy_job_rates(&p->job, dag, eb);
}

static void explore_destroy(stn_policy *p)
{
	if (!p)
		return;
	stn__free(p->est);
	stn__free(p->factor);
	stn__free(p->next);
	stn__policy_job_fini(&p->job);
	stn__free(p);
}

const stn_policy_vtable stn__policy_explore = {
	.name = "explore",
	.create = explore_create,
	.on_window = explore_on_window,
	.on_rates = explore_on_rates,
	.destroy = explore_destroy,
	.exploring = true,
};
