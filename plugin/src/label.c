/* label: saturation plus evidence of overload (growing backlog, held-back upstream, growing
 * lag, engine backpressure), held for K windows; starved and held-back operators unlabelled. */
#include "label.h"

#include <math.h>
#include <string.h>

#include "alloc.h"

stn_label_params stn__label_params_default(void)
{
	stn_label_params p = {
		.busy_hi = 0.9,
		.warmup_windows = 2,
		.k_consecutive = 2,
		.backlog_growth_frac = 0.002,
		.backlog_growth_min = 1.0,
		.queue_min_frac = 0.01,
		.lag_growth_ms = 2.0,
		.backlog_jitter_frac = 0.05,
		.lag_jitter_ms = 100.0,
		.full_load = 0.95,
		.bp_hi = 0.5,
	};
	return p;
}

stn_status stn__label_init(stn_labeller *l, const stn_dag *dag, const stn_label_params *params,
			   stn_errbuf *eb)
{
	memset(l, 0, sizeof(*l));
	l->params = params ? *params : stn__label_params_default();
	if (!(l->params.busy_hi > 0.0 && l->params.busy_hi <= 1.0) || l->params.k_consecutive == 0)
		return stn__fail(eb, STN_EINVAL, "label: busy_hi must be in (0,1], K >= 1");
	size_t n = dag->n_ops;
	if (n == 0)
		return stn__fail(eb, STN_EGRAPH, "label: empty DAG");
	l->n_ops = n;
	l->prev_backlog = stn__calloc(n, sizeof(double));
	l->base_backlog = stn__calloc(n, sizeof(double));
	l->run = stn__calloc(n, sizeof(uint32_t));
	l->grew = stn__calloc(n, 1);
	l->prev_par = stn__calloc(n, sizeof(uint32_t));
	l->count = stn__calloc(n, sizeof(uint32_t));
	l->cand = stn__calloc(n, 1);
	l->starved = stn__calloc(n, 1);
	l->order = stn__calloc(n, sizeof(uint32_t));
	if (!l->prev_backlog || !l->base_backlog || !l->run || !l->grew || !l->prev_par ||
	    !l->count || !l->cand || !l->starved || !l->order) {
		stn__label_fini(l);
		return stn__fail(eb, STN_ENOMEM, "label: out of memory");
	}
	stn_status s = stn__dag_topo_order(dag, l->order);
	if (s != STN_OK) {
		stn__label_fini(l);
		return stn__fail(eb, s, "label: DAG has no topological order");
	}
	return STN_OK;
}

void stn__label_fini(stn_labeller *l)
{
	stn__free(l->prev_backlog);
	stn__free(l->base_backlog);
	stn__free(l->run);
	stn__free(l->grew);
	stn__free(l->prev_par);
	stn__free(l->count);
	stn__free(l->cand);
	stn__free(l->starved);
	stn__free(l->order);
	memset(l, 0, sizeof(*l));
}

void stn__label_reconfigured(stn_labeller *l)
{
	l->warm_left = l->params.warmup_windows;
}

static double growth_threshold(const stn_label_params *p, double target, double dur_s)
{
	return p->backlog_growth_frac * target * dur_s + p->backlog_growth_min;
}

/* Whether a figure (known: both readings valid) rose by more than step in this window and,
 * over its whole run of such windows, by more than step per window and than jitter; *base is
 * where the run started, *run its length so far. */
static bool sustained_rise(bool known, double now, double prev, double step, double jitter,
			   double *base, uint32_t *run)
{
	bool rose = known && now - prev > step;
	if (!rose || !*run)
		*base = prev;
	*run = rose ? *run + 1 : 0;
	return rose && now - *base > fmax(*run * step, jitter);
}

stn_status stn__label_window(stn_labeller *l, const stn_dag *dag, const double *target_in,
			     stn_window *w, stn_errbuf *eb)
{
	const stn_label_params *pa = &l->params;
	size_t n = l->n_ops;
	if (w->n_ops != n || dag->n_ops != n)
		return stn__fail(eb, STN_EGRAPH, "label: window has %zu operators, DAG %zu",
				 w->n_ops, dag->n_ops);
	double dur_s = w->duration_ms / 1000.0;
	if (!(dur_s > 0.0))
		dur_s = 1.0;

	if (!l->have_prev) {
		l->warm_left = l->warm_left > 1 ? l->warm_left : 1; /* no growth seen yet */
	} else {
		for (size_t i = 0; i < n; i++)
			if (w->ops[i].parallelism != l->prev_par[i]) {
				stn__label_reconfigured(l);
				break;
			}
	}
	bool warm = l->warm_left > 0;

	/* Raw candidates: saturated, with a queue, and some evidence of overload: its backlog or
	 * the job's lag rose in this window and, over the whole run of windows in which it rose,
	 * by more than the jitter of a snapshot (records wait for their time to complete, so a
	 * queue near capacity wobbles by a fraction of a second's input). */
	bool lag_known = l->have_prev && w->lag_ms >= 0.0 && l->prev_lag_ms >= 0.0;
	bool lag_grows = sustained_rise(lag_known, w->lag_ms, l->prev_lag_ms, pa->lag_growth_ms,
					pa->lag_jitter_ms, &l->base_lag_ms, &l->lag_run);
	for (size_t i = 0; i < n; i++) {
		double tgt = target_in[i] > 0.0 ? target_in[i] : 0.0;
		double jitter = pa->backlog_jitter_frac * tgt * dur_s;
		l->grew[i] = sustained_rise(l->have_prev, w->ops[i].backlog_sum, l->prev_backlog[i],
					    growth_threshold(pa, tgt, dur_s), jitter,
					    &l->base_backlog[i], &l->run[i]);
	}
	for (size_t i = 0; i < n; i++) {
		const stn_op_window *o = &w->ops[i];
		double tgt = target_in[i] > 0.0 ? target_in[i] : 0.0;
		bool saturated = o->busy_max >= pa->busy_hi;
		bool has_queue = o->backlog_sum >= pa->queue_min_frac * tgt * dur_s &&
				 o->backlog_sum > 0.0;
		/* The job's lag is blamed on it only while its own queue is not draining (a full
		 * queue stays flat). */
		bool lag_its = lag_grows && l->have_prev &&
			       o->backlog_sum >= l->prev_backlog[i] - growth_threshold(pa, tgt, dur_s);
		bool held_back = false;
		for (size_t e = 0; e < dag->n_edges; e++) {
			if (dag->edges[e].to != i)
				continue;
			uint32_t u = dag->edges[e].from;
			const stn_op_window *uo = &w->ops[u];
			if ((uo->bp_max >= 0.0 && uo->bp_max >= pa->bp_hi) || l->grew[u])
				held_back = true;
		}
		l->cand[i] = saturated && has_queue && (l->grew[i] || held_back || lag_its);
	}
	/* Starved: an upstream operator is a candidate (its output is short). */
	for (size_t k = 0; k < n; k++) {
		uint32_t v = l->order[k];
		l->starved[v] = 0;
		for (size_t e = 0; e < dag->n_edges; e++)
			if (dag->edges[e].to == v) {
				uint32_t u = dag->edges[e].from;
				if (l->cand[u] || l->starved[u])
					l->starved[v] = 1;
			}
	}
	for (size_t i = 0; i < n; i++) {
		stn_op_window *o = &w->ops[i];
		/* Held back: a direct successor is saturated with a queue too; the bottleneck is
		 * where backpressure starts, the most downstream candidate. */
		bool succ_cand = false;
		for (size_t e = 0; e < dag->n_edges; e++)
			if (dag->edges[e].from == i && l->cand[dag->edges[e].to])
				succ_cand = true;
		bool own = l->cand[i] && !succ_cand && !l->starved[i];
		if (warm) {
			l->count[i] = 0;
			o->label = STN_LABEL_NONE;
			continue;
		}
		l->count[i] = own ? l->count[i] + 1 : 0;
		if (own && l->count[i] >= pa->k_consecutive)
			o->label = STN_LABEL_BOTTLENECK;
		else if (l->cand[i] || l->starved[i])
			o->label = STN_LABEL_NONE;
		else if (o->rate_in >= pa->full_load * target_in[i])
			o->label = STN_LABEL_OK;
		else
			o->label = STN_LABEL_NONE;
	}
	for (size_t i = 0; i < n; i++) {
		l->prev_backlog[i] = w->ops[i].backlog_sum;
		l->prev_par[i] = w->ops[i].parallelism;
	}
	l->prev_lag_ms = w->lag_ms;
	l->have_prev = true;
	if (l->warm_left > 0)
		l->warm_left--;
	return STN_OK;
}
