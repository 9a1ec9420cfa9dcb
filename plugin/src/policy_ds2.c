/* policy_ds2: DS2 (Kalavri et al., OSDI'18). True processing rate per instance = records
 * processed / useful (busy) time; target rates propagated topologically from the source rates
 * through observed selectivities; p = ceil(lambda / r * (1 + scaling_factor)). Acts after
 * `activation` consecutive windows that call for a change (any operator grows or one shrinks
 * by more than 1) and ignores `warm_up` windows after each reconfiguration. */
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "policy_impl.h"

struct stn_policy {
	stn_policy_job job;
	uint32_t *next;
	double scaling_factor;
	uint32_t warm_up, activation;
	uint32_t warm_left, votes;
};

static stn_status ds2_create(const stn_dag *dag, const stn_policy_option *opts, size_t n_opts,
			     const void *model, stn_policy **out, stn_errbuf *eb)
{
	static const char *const known[] = {"scaling_factor", "warm_up", "activation", NULL};
	(void)model;
	stn_status st = stn__policy_check_opts("ds2", opts, n_opts, known, eb);
	if (st != STN_OK)
		return st;
	double sf, wu, act;
	if (!stn__policy_opt(opts, n_opts, "scaling_factor", 0.0, 0.0, 10.0, &sf, eb) ||
	    !stn__policy_opt(opts, n_opts, "warm_up", 1.0, 0.0, 1000.0, &wu, eb) ||
	    !stn__policy_opt(opts, n_opts, "activation", 1.0, 1.0, 1000.0, &act, eb))
		return STN_EINVAL;
	stn_policy *p = stn__calloc(1, sizeof(*p));
	if (!p)
		return stn__fail(eb, STN_ENOMEM, "ds2: out of memory");
	st = stn__policy_job_init(&p->job, dag, eb);
	if (st != STN_OK)
		goto fail_policy;
	p->next = stn__malloc_array(dag->n_ops, sizeof(*p->next));
	if (!p->next) {
		st = stn__fail(eb, STN_ENOMEM, "ds2: out of memory");
		goto fail_job;
	}
	p->scaling_factor = sf;
	p->warm_up = (uint32_t)wu;
	p->activation = (uint32_t)act;
	p->warm_left = p->warm_up;
	*out = p;
	return STN_OK;
fail_job:
	stn__policy_job_fini(&p->job);
fail_policy:
	stn__free(p);
	return st;
}

static stn_status ds2_on_window(stn_policy *p, const stn_window *w, stn_decision *out,
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
	if (!stn__policy_ds2_rule(&p->job, w, p->scaling_factor, p->next)) {
		p->votes = 0;
		return STN_OK;
	}
	if (++p->votes < p->activation)
		return STN_OK;
	p->votes = 0;
	size_t n = p->job.dag.n_ops;
	out->reason[0] = '\0';
	stn__policy_reason(out, "ds2: p = ceil(target rate / true rate per instance);");
	for (size_t v = 0; v < n; v++) {
		out->parallelism[v] = p->next[v];
		out->prob[v] = -1.0;
		if (p->next[v] != p->job.cur[v])
			stn__policy_reason(out, " op %u %u->%u (target %.0f/s)",
					   p->job.dag.ops[v].id, p->job.cur[v], p->next[v],
					   p->job.lambda[v]);
		p->job.cur[v] = p->next[v];
	}
	p->warm_left = p->warm_up;
	*decided = true;
	return STN_OK;
}

static stn_status ds2_on_rates(stn_policy *p, const stn_dag *dag, stn_errbuf *eb)
{
	p->votes = 0;
	return stn__policy_job_rates(&p->job, dag, eb);
}

static void ds2_destroy(stn_policy *p)
{
	if (!p)
		return;
	stn__free(p->next);
	stn__policy_job_fini(&p->job);
	stn__free(p);
}

const stn_policy_vtable stn__policy_ds2 = {
	.name = "ds2",
	.create = ds2_create,
	.on_window = ds2_on_window,
	.on_rates = ds2_on_rates,
	.destroy = ds2_destroy,
};
