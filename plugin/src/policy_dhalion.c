/* policy_dhalion: Dhalion's scale-up resolver (Floratou et al., VLDB'17; Heron
 * ScaleUpResolver): one bottleneck per step, the most upstream labelled one. With a
 * backpressure metric bp (ms per second the bottleneck held its inputs back, capped at 999),
 * unused capacity = min(4, bp / (1000 - bp)) and p' = ceil(p * (1 + unused capacity)); without
 * one, a fixed step (option `step`, default 1: doubling). Waits `warm_up` windows after each
 * change. Dhalion does not scale down. */
#include <math.h>
#include <stdio.h>

#include "alloc.h"
#include "policy_impl.h"

struct stn_policy {
	stn_policy_job job;
	double step;
	uint32_t warm_up, warm_left;
};

static stn_status dhalion_create(const stn_dag *dag, const stn_policy_option *opts,
				 size_t n_opts, const void *model, stn_policy **out,
				 stn_errbuf *eb)
{
	static const char *const known[] = {"step", "warm_up", NULL};
	(void)model;
	stn_status st = stn__policy_check_opts("dhalion", opts, n_opts, known, eb);
	if (st != STN_OK)
		return st;
	double step, wu;
	if (!stn__policy_opt(opts, n_opts, "step", 1.0, 0.01, 4.0, &step, eb) ||
	    !stn__policy_opt(opts, n_opts, "warm_up", 2.0, 0.0, 1000.0, &wu, eb))
		return STN_EINVAL;
	stn_policy *p = stn__calloc(1, sizeof(*p));
	if (!p)
		return stn__fail(eb, STN_ENOMEM, "dhalion: out of memory");
	st = stn__policy_job_init(&p->job, dag, eb);
	if (st != STN_OK) {
		stn__free(p);
		return st;
	}
	p->step = step;
	p->warm_up = (uint32_t)wu;
	p->warm_left = p->warm_up;
	*out = p;
	return STN_OK;
}

/* Backpressure the bottleneck v caused: the largest bp fraction among its direct inputs. */
static double caused_bp(const stn_policy_job *j, const stn_window *w, uint32_t v)
{
	double bp = -1.0;
	const stn_dag *g = &j->dag;
	for (size_t e = 0; e < g->n_edges; e++)
		if (g->edges[e].to == v && w->ops[g->edges[e].from].bp_max >= 0 &&
		    w->ops[g->edges[e].from].bp_max > bp)
			bp = w->ops[g->edges[e].from].bp_max;
	return bp;
}

static stn_status dhalion_on_window(stn_policy *p, const stn_window *w, stn_decision *out,
				    bool *decided, stn_errbuf *eb)
{
	*decided = false;
	stn_status st = stn__policy_job_check(&p->job, w, eb);
	if (st != STN_OK)
		return st;
	if (p->warm_left > 0) {
		p->warm_left--;
		return STN_OK;
	}
	size_t n = p->job.dag.n_ops;
	long pick = -1;
	for (size_t k = 0; k < n && pick < 0; k++) {
		uint32_t v = p->job.order[k];
		if (w->ops[v].label == STN_LABEL_BOTTLENECK && p->job.cur[v] < p->job.dag.ops[v].p_max)
			pick = v;
	}
	if (pick < 0)
		return STN_OK;
	uint32_t v = (uint32_t)pick;
	double bp = caused_bp(&p->job, w, v);
	double unused = p->step;
	if (bp >= 0) {
		double ms = fmin(999.0, bp * 1000.0);
		unused = fmin(4.0, ms / (1000.0 - ms));
	}
	double want = ceil((double)p->job.cur[v] * (1.0 + unused) - 1e-9);
	uint32_t np = stn__policy_clamp(&p->job, v, want);
	if (np <= p->job.cur[v])
		np = stn__policy_clamp(&p->job, v, (double)p->job.cur[v] + 1.0);
	out->reason[0] = '\0';
	for (size_t u = 0; u < n; u++) {
		out->parallelism[u] = p->job.cur[u];
		out->prob[u] = -1.0;
	}
	out->parallelism[v] = np;
	stn__policy_reason(out, "dhalion: op %u is the first bottleneck; %u->%u (%s %.2f)",
			   p->job.dag.ops[v].id, p->job.cur[v], np,
			   bp >= 0 ? "unused capacity from backpressure" : "fixed step", unused);
	p->job.cur[v] = np;
	p->warm_left = p->warm_up;
	*decided = true;
	return STN_OK;
}

static stn_status dhalion_on_rates(stn_policy *p, const stn_dag *dag, stn_errbuf *eb)
{
	return stn__policy_job_rates(&p->job, dag, eb);
}

static void dhalion_destroy(stn_policy *p)
{
	if (!p)
		return;
	stn__policy_job_fini(&p->job);
	stn__free(p);
}

const stn_policy_vtable stn__policy_dhalion = {
	.name = "dhalion",
	.create = dhalion_create,
	.on_window = dhalion_on_window,
	.on_rates = dhalion_on_rates,
	.destroy = dhalion_destroy,
};
