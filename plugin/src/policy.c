/* policy: decisions, the policy registry and the helpers every policy shares. */
#include "policy.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "policy_impl.h"

extern const stn_policy_vtable stn__policy_static;
extern const stn_policy_vtable stn__policy_ds2;
extern const stn_policy_vtable stn__policy_flink;
extern const stn_policy_vtable stn__policy_dhalion;
extern const stn_policy_vtable stn__policy_conttune;
extern const stn_policy_vtable stn__policy_streamtune;
extern const stn_policy_vtable stn__policy_explore;

static const stn_policy_vtable *const all_policies[] = {
	&stn__policy_streamtune, &stn__policy_ds2,     &stn__policy_flink,
	&stn__policy_conttune,   &stn__policy_dhalion, &stn__policy_static,
	&stn__policy_explore, /* last: not a tuner (exploring), see policy.h */
};

stn_status stn__decision_init(stn_decision *d, size_t n_ops)
{
	memset(d, 0, sizeof(*d));
	if (n_ops == 0 || n_ops > STN_DAG_MAX_OPS)
		return STN_EINVAL;
	d->parallelism = stn__calloc(n_ops, sizeof(*d->parallelism));
	if (!d->parallelism)
		return STN_ENOMEM;
	d->prob = stn__malloc_array(n_ops, sizeof(*d->prob));
	if (!d->prob) {
		stn__free(d->parallelism);
		d->parallelism = NULL;
		return STN_ENOMEM;
	}
	for (size_t i = 0; i < n_ops; i++)
		d->prob[i] = -1.0;
	d->n_ops = n_ops;
	return STN_OK;
}

void stn__decision_fini(stn_decision *d)
{
	if (!d)
		return;
	stn__free(d->parallelism);
	stn__free(d->prob);
	memset(d, 0, sizeof(*d));
}

const stn_policy_vtable *stn__policy_find(const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; i < sizeof(all_policies) / sizeof(all_policies[0]); i++)
		if (strcmp(all_policies[i]->name, name) == 0)
			return all_policies[i];
	return NULL;
}

const stn_policy_vtable *const *stn__policy_all(size_t *n)
{
	*n = sizeof(all_policies) / sizeof(all_policies[0]);
	return all_policies;
}

bool stn__policy_opt(const stn_policy_option *opts, size_t n, const char *key, double def,
		     double lo, double hi, double *out, stn_errbuf *eb)
{
	*out = def;
	for (size_t i = 0; i < n; i++) {
		if (!opts[i].key || strcmp(opts[i].key, key) != 0)
			continue;
		double v = opts[i].value;
		if (!isfinite(v) || v < lo || v > hi) {
			stn__fail(eb, STN_EINVAL, "option %s=%g outside [%g, %g]", key, v, lo, hi);
			return false;
		}
		*out = v;
	}
	return true;
}

stn_status stn__policy_check_opts(const char *policy, const stn_policy_option *opts, size_t n,
				  const char *const *known, stn_errbuf *eb)
{
	for (size_t i = 0; i < n; i++) {
		bool found = false;
		for (size_t k = 0; known[k]; k++)
			if (opts[i].key && strcmp(opts[i].key, known[k]) == 0)
				found = true;
		if (!found)
			return stn__fail(eb, STN_EINVAL, "%s: unknown option '%s'", policy,
					 opts[i].key ? opts[i].key : "(null)");
	}
	return STN_OK;
}

stn_status stn__policy_job_init(stn_policy_job *j, const stn_dag *dag, stn_errbuf *eb)
{
	memset(j, 0, sizeof(*j));
	stn_status st = stn__dag_validate(dag, eb);
	if (st != STN_OK)
		return st;
	stn__dag_init(&j->dag);
	st = stn__dag_copy(&j->dag, dag);
	if (st != STN_OK)
		goto fail_dag;
	size_t n = dag->n_ops;
	j->order = stn__malloc_array(n, sizeof(*j->order));
	j->target_in = stn__malloc_array(n, sizeof(*j->target_in));
	j->cur = stn__malloc_array(n, sizeof(*j->cur));
	j->lambda = stn__malloc_array(n, sizeof(*j->lambda));
	j->out = stn__malloc_array(n, sizeof(*j->out));
	j->succ_start = stn__calloc(n + 1, sizeof(*j->succ_start));
	j->succ = stn__malloc_array(dag->n_edges ? dag->n_edges : 1, sizeof(*j->succ));
	if (!j->order || !j->target_in || !j->cur || !j->lambda || !j->out || !j->succ_start ||
	    !j->succ) {
		st = STN_ENOMEM;
		goto fail_arrays;
	}
	st = stn__dag_topo_order(&j->dag, j->order);
	if (st != STN_OK)
		goto fail_arrays;
	st = stn__dag_propagate_rates(&j->dag, j->target_in, NULL);
	if (st != STN_OK)
		goto fail_arrays;
	for (size_t v = 0; v < n; v++)
		j->cur[v] = dag->ops[v].parallelism;
	for (size_t e = 0; e < dag->n_edges; e++)
		j->succ_start[dag->edges[e].from + 1]++;
	for (size_t v = 0; v < n; v++)
		j->succ_start[v + 1] += j->succ_start[v];
	for (size_t v = 0; v < n; v++)
		j->out[v] = (double)j->succ_start[v]; /* fill cursor */
	for (size_t e = 0; e < dag->n_edges; e++) {
		uint32_t u = dag->edges[e].from;
		j->succ[(size_t)j->out[u]] = dag->edges[e].to;
		j->out[u] += 1.0;
	}
	return STN_OK;
fail_arrays:
	stn__free(j->order);
	stn__free(j->target_in);
	stn__free(j->cur);
	stn__free(j->lambda);
	stn__free(j->out);
	stn__free(j->succ_start);
	stn__free(j->succ);
fail_dag:
	stn__dag_fini(&j->dag);
	memset(j, 0, sizeof(*j));
	return stn__fail(eb, st, "policy: cannot prepare the job's graph (%s)", stn__strerror(st));
}

void stn__policy_job_fini(stn_policy_job *j)
{
	stn__free(j->order);
	stn__free(j->target_in);
	stn__free(j->cur);
	stn__free(j->lambda);
	stn__free(j->out);
	stn__free(j->succ_start);
	stn__free(j->succ);
	stn__dag_fini(&j->dag);
	memset(j, 0, sizeof(*j));
}

stn_status stn__policy_job_rates(stn_policy_job *j, const stn_dag *dag, stn_errbuf *eb)
{
	if (!dag || dag->n_ops != j->dag.n_ops)
		return stn__fail(eb, STN_EINVAL, "policy: rate update for a different graph");
	for (size_t v = 0; v < dag->n_ops; v++) {
		double r = dag->ops[v].source_rate;
		if (!isfinite(r) || r < 0)
			return stn__fail(eb, STN_EVALUE, "policy: bad source rate %g", r);
	}
	for (size_t v = 0; v < dag->n_ops; v++)
		j->dag.ops[v].source_rate = dag->ops[v].source_rate;
	stn_status st = stn__dag_propagate_rates(&j->dag, j->target_in, NULL);
	if (st != STN_OK)
		return stn__fail(eb, st, "policy: cannot propagate rates");
	return STN_OK;
}

stn_status stn__policy_job_check(const stn_policy_job *j, const stn_window *w, stn_errbuf *eb)
{
	if (!w || w->n_ops != j->dag.n_ops || !w->ops)
		return stn__fail(eb, STN_EINVAL, "policy: window has %zu operators, job has %zu",
				 w ? w->n_ops : 0, j->dag.n_ops);
	for (size_t v = 0; v < w->n_ops; v++) {
		const stn_op_window *o = &w->ops[v];
		if (!isfinite(o->busy_max) || !isfinite(o->busy_mean) || !isfinite(o->rate_in) ||
		    !isfinite(o->rate_out) || o->rate_in < 0 || o->rate_out < 0 ||
		    o->busy_mean < 0 || o->busy_max < 0 || !isfinite(o->backlog_sum))
			return stn__fail(eb, STN_EVALUE, "policy: bad metrics for operator %zu", v);
	}
	return STN_OK;
}

uint32_t stn__policy_clamp(const stn_policy_job *j, size_t v, double p)
{
	uint32_t pmax = j->dag.ops[v].p_max;
	if (!(p >= 1.0))
		return 1;
	if (p >= (double)pmax)
		return pmax;
	return (uint32_t)p;
}

void stn__policy_reason(stn_decision *d, const char *fmt, ...)
{
	size_t used = strnlen(d->reason, sizeof(d->reason));
	if (used + 1 >= sizeof(d->reason))
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(d->reason + used, sizeof(d->reason) - used, fmt, ap);
	va_end(ap);
}

void stn__policy_observed_targets(stn_policy_job *j, const stn_window *w)
{
	const stn_dag *g = &j->dag;
	size_t n = g->n_ops;
	for (size_t v = 0; v < n; v++)
		j->lambda[v] = stn__dag_in_degree(g, (uint32_t)v) == 0 ? g->ops[v].source_rate : 0.0;
	for (size_t k = 0; k < n; k++) {
		uint32_t v = j->order[k];
		const stn_op_window *o = &w->ops[v];
		double out = j->lambda[v] * stn__window_selectivity(o, g->ops[v].selectivity);
		for (size_t e = j->succ_start[v]; e < j->succ_start[v + 1]; e++)
			j->lambda[j->succ[e]] += out;
	}
}

bool stn__policy_ds2_rule(stn_policy_job *j, const stn_window *w, double scaling_factor,
			  uint32_t *next)
{
	size_t n = j->dag.n_ops;
	bool act = false;
	stn__policy_observed_targets(j, w);
	for (size_t v = 0; v < n; v++) {
		const stn_op_window *o = &w->ops[v];
		double lambda = j->lambda[v];
		uint32_t p = o->parallelism ? o->parallelism : j->cur[v];
		/* instance-seconds per second, over the instances that reported (during a rescale
		 * these are not the configured p: draining instances report too) */
		double useful = o->busy_mean * (double)(o->n_inst ? o->n_inst : p);
		double want = (double)p;
		if (useful > 1e-9 && o->rate_in > 0) {
			double r = o->rate_in / useful; /* true rate per instance */
			want = ceil(lambda / r * (1.0 + scaling_factor) - 1e-9);
		} else if (lambda <= 0) {
			want = 1;
		}
		next[v] = stn__policy_clamp(j, v, want);
		if (next[v] > j->cur[v] || next[v] + 1 < j->cur[v])
			act = true;
	}
	return act;
}
