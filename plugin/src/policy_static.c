/* policy_static: keeps the initial parallelism; never decides. The reference point. */
#include <string.h>

#include "alloc.h"
#include "policy_impl.h"

struct stn_policy {
	size_t n_ops;
};

static stn_status static_create(const stn_dag *dag, const stn_policy_option *opts, size_t n_opts,
				const void *model, stn_policy **out, stn_errbuf *eb)
{
	static const char *const known[] = {NULL};
	(void)model;
	stn_status st = stn__policy_check_opts("static", opts, n_opts, known, eb);
	if (st != STN_OK)
		return st;
	stn_policy *p = stn__calloc(1, sizeof(*p));
	if (!p)
		return stn__fail(eb, STN_ENOMEM, "static: out of memory");
	p->n_ops = dag->n_ops;
	*out = p;
	return STN_OK;
}

static stn_status static_on_window(stn_policy *p, const stn_window *w, stn_decision *out,
				   bool *decided, stn_errbuf *eb)
{
	(void)out;
	*decided = false;
	if (!w || w->n_ops != p->n_ops)
		return stn__fail(eb, STN_EINVAL, "static: window for a different graph");
	return STN_OK;
}

static stn_status static_on_rates(stn_policy *p, const stn_dag *dag, stn_errbuf *eb)
{
	(void)p;
	(void)dag;
	(void)eb;
	return STN_OK;
}

static void static_destroy(stn_policy *p)
{
	stn__free(p);
}

const stn_policy_vtable stn__policy_static = {
	.name = "static",
	.create = static_create,
	.on_window = static_on_window,
	.on_rates = static_on_rates,
	.destroy = static_destroy,
};
