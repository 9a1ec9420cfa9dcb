/* policy_conttune: ContTune's big-small algorithm (Lian et al.). Big phase, while any operator
 * is a bottleneck: every operator to the largest parallelism observed so far, doubling it
 * when all are already there. Small phase, once nothing is a bottleneck (and again when an
 * operator is over-provisioned or the rates change): per operator, a 1-D Gaussian process of
 * processing ability (records in / busy fraction) versus parallelism on the operator's
 * history (mean of the 5 most recent observations per parallelism), the smallest p whose GP
 * mean meets the observed input rate, applied when within `alpha` of an observed parallelism,
 * else DS2's linear suggestion (conservative exploration). One reconfiguration per phase.
 * The GP's Cholesky factorisation and solves are LAPACK's dpotrf/dpotrs (OpenBLAS). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "policy_impl.h"

/* LAPACK (Fortran ABI, 32-bit integers as in the system OpenBLAS; trailing hidden lengths). */
extern void dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info,
		    size_t uplo_len);
extern void dpotrs_(const char *uplo, const int *n, const int *nrhs, const double *a,
		    const int *lda, double *b, const int *ldb, int *info, size_t uplo_len);

#define CT_KEEP 5u      /* observations kept per (operator, parallelism) */
#define CT_POINTS 32u   /* distinct parallelisms kept per operator */

typedef struct ct_point {
	uint32_t p;
	uint32_t n, head;
	double v[CT_KEEP];
	uint64_t seen; /* window of the last observation, for eviction */
} ct_point;

typedef struct ct_hist {
	ct_point pt[CT_POINTS];
	uint32_t n;
} ct_hist;

struct stn_policy {
	stn_policy_job job;
	ct_hist *hist;
	uint32_t *next;
	double alpha, low_busy;
	uint32_t warm_up, warm_left;
	uint32_t p_big;       /* largest parallelism observed */
	bool small_pending;
	bool small_spent;     /* over-provisioning already answered since the last rate change */
	uint64_t windows;
	double kmat[CT_POINTS * CT_POINTS];
	double rhs[CT_POINTS];
};

static stn_status ct_create(const stn_dag *dag, const stn_policy_option *opts, size_t n_opts,
			    const void *model, stn_policy **out, stn_errbuf *eb)
{
	static const char *const known[] = {"alpha", "warm_up", "low_busy", NULL};
	(void)model;
	stn_status st = stn__policy_check_opts("conttune", opts, n_opts, known, eb);
	if (st != STN_OK)
		return st;
	double alpha, wu, low;
	if (!stn__policy_opt(opts, n_opts, "alpha", 3.0, 0.0, 1e6, &alpha, eb) ||
	    !stn__policy_opt(opts, n_opts, "warm_up", 2.0, 0.0, 1000.0, &wu, eb) ||
	    !stn__policy_opt(opts, n_opts, "low_busy", 0.3, 0.0, 1.0, &low, eb))
		return STN_EINVAL;
	stn_policy *p = stn__calloc(1, sizeof(*p));
	if (!p)
		return stn__fail(eb, STN_ENOMEM, "conttune: out of memory");
	st = stn__policy_job_init(&p->job, dag, eb);
	if (st != STN_OK)
		goto fail_policy;
	p->hist = stn__calloc(dag->n_ops, sizeof(*p->hist));
	p->next = stn__malloc_array(dag->n_ops, sizeof(*p->next));
	if (!p->hist || !p->next) {
		st = stn__fail(eb, STN_ENOMEM, "conttune: out of memory");
		goto fail_arrays;
	}
	p->alpha = alpha;
	p->warm_up = (uint32_t)wu;
	p->warm_left = p->warm_up;
	p->low_busy = low;
	p->small_pending = true;
	for (size_t v = 0; v < dag->n_ops; v++)
		if (dag->ops[v].parallelism > p->p_big)
			p->p_big = dag->ops[v].parallelism;
	*out = p;
	return STN_OK;
fail_arrays:
	stn__free(p->hist);
	stn__free(p->next);
	stn__policy_job_fini(&p->job);
fail_policy:
	stn__free(p);
	return st;
}

static void ct_observe(stn_policy *p, size_t v, uint32_t par, double pa)
{
	ct_hist *h = &p->hist[v];
	ct_point *pt = NULL;
	for (uint32_t i = 0; i < h->n; i++)
		if (h->pt[i].p == par)
			pt = &h->pt[i];
	if (!pt) {
		if (h->n < CT_POINTS) {
			pt = &h->pt[h->n++];
		} else {
			pt = &h->pt[0];
			for (uint32_t i = 1; i < h->n; i++)
				if (h->pt[i].seen < pt->seen)
					pt = &h->pt[i];
		}
		memset(pt, 0, sizeof(*pt));
		pt->p = par;
	}
	pt->v[pt->head] = pa;
	pt->head = (pt->head + 1) % CT_KEEP;
	if (pt->n < CT_KEEP)
		pt->n++;
	pt->seen = p->windows;
}

static double pt_mean(const ct_point *pt)
{
	double s = 0;
	for (uint32_t i = 0; i < pt->n; i++)
		s += pt->v[i];
	return pt->n ? s / pt->n : 0;
}

/* Smallest p in 1..p_max whose GP posterior mean of processing ability reaches lambda, or 0
 * if the GP cannot be fitted. *nearest: distance to the closest observed parallelism. */
static uint32_t ct_gp_acquire(stn_policy *p, size_t v, double lambda, uint32_t *nearest)
{
	const ct_hist *h = &p->hist[v];
	int m = (int)h->n;
	if (m == 0)
		return 0;
	double slope = 0, pmin = 1e300, pmax = 0, ymean = 0;
	for (int i = 0; i < m; i++) {
		double y = pt_mean(&h->pt[i]);
		slope += y / h->pt[i].p / m;
		ymean += y / m;
		pmin = fmin(pmin, h->pt[i].p);
		pmax = fmax(pmax, h->pt[i].p);
	}
	double len = fmax(2.0, 0.5 * (pmax - pmin));
	double resid_var = 0;
	for (int i = 0; i < m; i++) {
		double r = pt_mean(&h->pt[i]) - slope * h->pt[i].p;
		resid_var += r * r / m;
	}
	double sf2 = resid_var + 0.01 * ymean * ymean + 1e-12;
	double sn2 = 0.0025 * ymean * ymean + 1e-12;
	for (int i = 0; i < m; i++) {
		for (int k = 0; k < m; k++) {
			double d = ((double)h->pt[i].p - h->pt[k].p) / len;
			p->kmat[i + k * m] = sf2 * exp(-0.5 * d * d) + (i == k ? sn2 : 0);
		}
		p->rhs[i] = pt_mean(&h->pt[i]) - slope * h->pt[i].p;
	}
	int info = 0, one = 1;
	dpotrf_("L", &m, p->kmat, &m, &info, 1);
	if (info != 0)
		return 0;
	dpotrs_("L", &m, &one, p->kmat, &m, p->rhs, &m, &info, 1);
	if (info != 0)
		return 0;
	uint32_t cap = p->job.dag.ops[v].p_max;
	for (uint32_t q = 1; q <= cap; q++) {
		double mu = slope * q;
		for (int i = 0; i < m; i++) {
			double d = ((double)q - h->pt[i].p) / len;
			mu += sf2 * exp(-0.5 * d * d) * p->rhs[i];
		}
		if (mu >= lambda) {
			uint32_t best = UINT32_MAX;
			for (int i = 0; i < m; i++) {
				uint32_t dist = q > h->pt[i].p ? q - h->pt[i].p : h->pt[i].p - q;
				if (dist < best)
					best = dist;
			}
			*nearest = best;
			return q;
		}
	}
	*nearest = UINT32_MAX;
	return cap;
}

static stn_status ct_on_window(stn_policy *p, const stn_window *w, stn_decision *out,
			       bool *decided, stn_errbuf *eb)
{
	*decided = false;
	stn_status st = stn__policy_job_check(&p->job, w, eb);
	if (st != STN_OK)
		return st;
	p->windows++;
	size_t n = p->job.dag.n_ops;
	if (p->warm_left > 0) {
		p->warm_left--;
		return STN_OK;
	}
	bool bottleneck = false, over = false;
	for (size_t v = 0; v < n; v++) {
		if (w->ops[v].label == STN_LABEL_BOTTLENECK)
			bottleneck = true;
		if (w->ops[v].busy_max < p->low_busy && w->ops[v].rate_in > 0)
			over = true;
	}
	out->reason[0] = '\0';
	if (bottleneck) {
		bool all_there = true;
		for (size_t v = 0; v < n; v++) {
			uint32_t cap = p->job.dag.ops[v].p_max;
			uint32_t want = p->p_big < cap ? p->p_big : cap;
			if (p->job.cur[v] < want)
				all_there = false;
		}
		if (all_there && p->p_big < STN_DAG_MAX_PARALLELISM)
			p->p_big *= 2; /* binary lifting */
		stn__policy_reason(out, "conttune: big phase, bottleneck present; every operator to %u",
				   p->p_big);
		bool change = false;
		for (size_t v = 0; v < n; v++) {
			p->next[v] = stn__policy_clamp(&p->job, v, p->p_big);
			if (p->next[v] < p->job.cur[v])
				p->next[v] = p->job.cur[v];
			change |= p->next[v] != p->job.cur[v];
		}
		if (!change)
			return STN_OK; /* everything at p_max already */
		p->small_pending = true;
		goto apply;
	}
	/* Not backpressured: observations are valid. */
	for (size_t v = 0; v < n; v++) {
		const stn_op_window *o = &w->ops[v];
		if (o->busy_mean > 0.02 && o->rate_in > 0)
			ct_observe(p, v, o->parallelism ? o->parallelism : p->job.cur[v],
				   o->rate_in / o->busy_mean);
	}
	if (!p->small_pending && !(over && !p->small_spent))
		return STN_OK;
	if (!p->small_pending)
		p->small_spent = true;
	p->small_pending = false;
	stn__policy_reason(out, "conttune: small phase (GP per operator);");
	bool change = false;
	for (size_t v = 0; v < n; v++) {
		const stn_op_window *o = &w->ops[v];
		uint32_t cur = p->job.cur[v];
		p->next[v] = cur;
		if (o->rate_in <= 0 || o->busy_mean <= 0.02)
			continue;
		uint32_t nearest = UINT32_MAX;
		uint32_t acq = ct_gp_acquire(p, v, o->rate_in, &nearest);
		double per = o->rate_in / o->busy_mean /
			     (double)(o->n_inst ? o->n_inst : (o->parallelism ? o->parallelism : cur));
		uint32_t lin = stn__policy_clamp(&p->job, v, ceil(o->rate_in / per - 1e-9));
		bool use_gp = acq > 0 && (double)nearest <= p->alpha;
		p->next[v] = use_gp ? acq : lin;
		if (p->next[v] != cur) {
			change = true;
			stn__policy_reason(out, " op %u %u->%u (%s)", p->job.dag.ops[v].id, cur,
					   p->next[v], use_gp ? "gp" : "linear exploration");
		}
	}
	if (!change)
		return STN_OK;
apply:
	for (size_t v = 0; v < n; v++) {
		out->parallelism[v] = p->next[v];
		out->prob[v] = -1.0;
		p->job.cur[v] = p->next[v];
		if (p->next[v] > p->p_big)
			p->p_big = p->next[v];
	}
	p->warm_left = p->warm_up;
	*decided = true;
	return STN_OK;
}

static stn_status ct_on_rates(stn_policy *p, const stn_dag *dag, stn_errbuf *eb)
{
	p->small_pending = true;
	p->small_spent = false;
	return stn__policy_job_rates(&p->job, dag, eb);
}

static void ct_destroy(stn_policy *p)
{
	if (!p)
		return;
	stn__free(p->hist);
	stn__free(p->next);
	stn__policy_job_fini(&p->job);
	stn__free(p);
}

const stn_policy_vtable stn__policy_conttune = {
	.name = "conttune",
	.create = ct_create,
	.on_window = ct_on_window,
	.on_rates = ct_on_rates,
	.destroy = ct_destroy,
};
