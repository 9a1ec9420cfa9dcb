/* policy_flink: the Flink Kubernetes operator's job autoscaler (flink-autoscaler module),
 * with its defaults (notes/peers.md §3): utilisation target 0.7 and boundary 0.3, catch-up
 * 30 min, restart time 5 min, scale-down interval 1 h (delayed scale-down at the largest
 * recommendation seen), scale-down max factor 0.6, vertex max parallelism 200, key-group
 * alignment (BALANCED) for hash-partitioned inputs with 128 key groups, stabilisation 5 min
 * and a 15 min metric window; busy time aggregated by MAX.
 * Source target rate: the job's declared target when known (it equals input rate + rate of
 * lag growth in steady state), else observed input + lag growth. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "policy_impl.h"

enum { F_IN, F_OUT, F_BUSY, F_LAG, F_FIELDS };
#define FLINK_RING_MAX 1024u

struct stn_policy {
	stn_policy_job job;
	/* options */
	double util_target, util_boundary, catch_up_s, restart_s, down_interval_s;
	double down_max_factor, up_max_factor, stabilization_s, metrics_window_s;
	double backlog_threshold_s;
	uint32_t vertex_max, key_groups;
	/* clock and metric window */
	double now_s, restart_at_s;
	size_t ring_cap, ring_len, ring_head;
	double *ring;      /* ring_cap x n x F_FIELDS */
	double *ring_dt;   /* window length of each slot, s */
	/* delayed scale-down per vertex */
	double *down_since; /* < 0: none pending */
	uint32_t *down_max;
	/* scratch */
	double *avg;        /* n x F_FIELDS */
	double *target, *catch_up;
	uint32_t *next;
};

static const char *const known_opts[] = {
	"utilization.target", "utilization.boundary", "catch-up.duration", "restart.time",
	"scale-down.interval", "scale-down.max-factor", "scale-up.max-factor",
	"stabilization.interval", "metrics.window", "backlog-processing.lag-threshold",
	"vertex.max-parallelism", "key-groups", NULL};

static stn_status flink_create(const stn_dag *dag, const stn_policy_option *opts, size_t n_opts,
			       const void *model, stn_policy **out, stn_errbuf *eb)
{
	(void)model;
	stn_status st = stn__policy_check_opts("flink-autoscaler", opts, n_opts, known_opts, eb);
	if (st != STN_OK)
		return st;
	stn_policy *p = stn__calloc(1, sizeof(*p));
	if (!p)
		return stn__fail(eb, STN_ENOMEM, "flink-autoscaler: out of memory");
	double vmax, kg;
	if (!stn__policy_opt(opts, n_opts, "utilization.target", 0.7, 0.01, 1.0, &p->util_target, eb) ||
	    !stn__policy_opt(opts, n_opts, "utilization.boundary", 0.3, 0.0, 1.0, &p->util_boundary, eb) ||
	    !stn__policy_opt(opts, n_opts, "catch-up.duration", 1800, 1, 1e7, &p->catch_up_s, eb) ||
	    !stn__policy_opt(opts, n_opts, "restart.time", 300, 0, 1e7, &p->restart_s, eb) ||
	    !stn__policy_opt(opts, n_opts, "scale-down.interval", 3600, 0, 1e8, &p->down_interval_s, eb) ||
	    !stn__policy_opt(opts, n_opts, "scale-down.max-factor", 0.6, 0, 1, &p->down_max_factor, eb) ||
	    !stn__policy_opt(opts, n_opts, "scale-up.max-factor", 100000, 0, 1e9, &p->up_max_factor, eb) ||
	    !stn__policy_opt(opts, n_opts, "stabilization.interval", 300, 0, 1e7, &p->stabilization_s, eb) ||
	    !stn__policy_opt(opts, n_opts, "metrics.window", 900, 0, 1e7, &p->metrics_window_s, eb) ||
	    !stn__policy_opt(opts, n_opts, "backlog-processing.lag-threshold", 300, 0, 1e8,
			     &p->backlog_threshold_s, eb) ||
	    !stn__policy_opt(opts, n_opts, "vertex.max-parallelism", 200, 1, STN_DAG_MAX_PARALLELISM, &vmax, eb) ||
	    !stn__policy_opt(opts, n_opts, "key-groups", 128, 1, 32768, &kg, eb)) {
		stn__free(p);
		return STN_EINVAL;
	}
	p->vertex_max = (uint32_t)vmax;
	p->key_groups = (uint32_t)kg;
	st = stn__policy_job_init(&p->job, dag, eb);
	if (st != STN_OK) {
		stn__free(p);
		return st;
	}
	size_t n = dag->n_ops, per;
	if (stn__mul_overflow(n, F_FIELDS, &per)) {
		st = stn__fail(eb, STN_EINVAL, "flink-autoscaler: graph too large");
		goto fail_job;
	}
	p->avg = stn__malloc_array(per, sizeof(double));
	p->target = stn__malloc_array(n, sizeof(double));
	p->catch_up = stn__malloc_array(n, sizeof(double));
	p->down_since = stn__malloc_array(n, sizeof(double));
	p->down_max = stn__calloc(n, sizeof(uint32_t));
	p->next = stn__malloc_array(n, sizeof(uint32_t));
	if (!p->avg || !p->target || !p->catch_up || !p->down_since || !p->down_max || !p->next) {
		st = stn__fail(eb, STN_ENOMEM, "flink-autoscaler: out of memory");
		goto fail_arrays;
	}
	for (size_t v = 0; v < n; v++)
		p->down_since[v] = -1.0;
	*out = p;
	return STN_OK;
fail_arrays:
	stn__free(p->avg);
	stn__free(p->target);
	stn__free(p->catch_up);
	stn__free(p->down_since);
	stn__free(p->down_max);
	stn__free(p->next);
fail_job:
	stn__policy_job_fini(&p->job);
	stn__free(p);
	return st;
}

static stn_status ring_ensure(stn_policy *p, double dt, stn_errbuf *eb)
{
	if (p->ring)
		return STN_OK;
	double want = ceil(p->metrics_window_s / dt) + 1.0;
	size_t cap = want >= FLINK_RING_MAX ? FLINK_RING_MAX : (size_t)want;
	if (cap < 2)
		cap = 2;
	size_t per = p->job.dag.n_ops * F_FIELDS, total;
	if (stn__mul_overflow(cap, per, &total))
		return stn__fail(eb, STN_EINVAL, "flink-autoscaler: metric window too large");
	p->ring = stn__malloc_array(total, sizeof(double));
	p->ring_dt = stn__malloc_array(cap, sizeof(double));
	if (!p->ring || !p->ring_dt) {
		stn__free(p->ring);
		stn__free(p->ring_dt);
		p->ring = NULL;
		p->ring_dt = NULL;
		return stn__fail(eb, STN_ENOMEM, "flink-autoscaler: out of memory");
	}
	p->ring_cap = cap;
	return STN_OK;
}

/* Time span covered by the ring, newest slots first until metrics_window_s is covered. */
static size_t window_slots(const stn_policy *p, double *span)
{
	*span = 0;
	size_t k = 0;
	while (k < p->ring_len && *span < p->metrics_window_s - 1e-9) {
		size_t slot = (p->ring_head + p->ring_cap - 1 - k) % p->ring_cap;
		*span += p->ring_dt[slot];
		k++;
	}
	return k;
}

/* Aligned parallelism for key-group count kg (BALANCED mode): the first p from target to
 * region_end with kg % p == 0 or fewer key groups per subtask than at target. */
uint32_t stn__flink_align(uint32_t kg, uint32_t target, uint32_t region_end);
uint32_t stn__flink_align(uint32_t kg, uint32_t target, uint32_t region_end)
{
	if (target == 0 || kg == 0 || target >= kg)
		return target;
	for (uint32_t q = target; q <= region_end && q <= kg; q++)
		if (kg % q == 0 || kg / q < kg / target)
			return q;
	return target;
}

static double capacity(const stn_policy *p, size_t v, double util, bool with_restart)
{
	double c = p->catch_up[v] + p->target[v] / (util > 1e-9 ? util : 1e-9);
	if (with_restart)
		c += p->target[v] * p->restart_s / p->catch_up_s;
	return c;
}

static stn_status flink_on_window(stn_policy *p, const stn_window *w, stn_decision *out,
				  bool *decided, stn_errbuf *eb)
{
	*decided = false;
	stn_status st = stn__policy_job_check(&p->job, w, eb);
	if (st != STN_OK)
		return st;
	double dt = w->duration_ms > 0 ? w->duration_ms / 1000.0 : 1.0;
	st = ring_ensure(p, dt, eb);
	if (st != STN_OK)
		return st;
	p->now_s += dt;
	if (p->now_s - p->restart_at_s <= p->stabilization_s + 1e-9)
		return STN_OK; /* no collection while the job stabilises */
	size_t n = p->job.dag.n_ops;
	double *slot = p->ring + p->ring_head * n * F_FIELDS;
	for (size_t v = 0; v < n; v++) {
		slot[v * F_FIELDS + F_IN] = w->ops[v].rate_in;
		slot[v * F_FIELDS + F_OUT] = w->ops[v].rate_out;
		slot[v * F_FIELDS + F_BUSY] = fmin(1.0, w->ops[v].busy_max);
		slot[v * F_FIELDS + F_LAG] = w->ops[v].backlog_sum;
	}
	p->ring_dt[p->ring_head] = dt;
	p->ring_head = (p->ring_head + 1) % p->ring_cap;
	if (p->ring_len < p->ring_cap)
		p->ring_len++;
	double span;
	size_t k = window_slots(p, &span);
	if (span < p->metrics_window_s - 1e-9)
		return STN_OK; /* need a full metric window */
	memset(p->avg, 0, n * F_FIELDS * sizeof(double));
	size_t newest = (p->ring_head + p->ring_cap - 1) % p->ring_cap;
	size_t oldest = (p->ring_head + p->ring_cap - k) % p->ring_cap;
	for (size_t i = 0; i < k; i++) {
		const double *s = p->ring + ((oldest + i) % p->ring_cap) * n * F_FIELDS;
		for (size_t f = 0; f < n * F_FIELDS; f++)
			p->avg[f] += s[f] / (double)k;
	}
	/* Target and catch-up rates in topological order. */
	const stn_dag *g = &p->job.dag;
	for (size_t v = 0; v < n; v++) {
		p->target[v] = 0;
		p->catch_up[v] = 0;
	}
	bool backlog_processing = false;
	for (size_t i = 0; i < n; i++) {
		uint32_t v = p->job.order[i];
		const double *a = p->avg + (size_t)v * F_FIELDS;
		if (stn__dag_in_degree(g, v) == 0) {
			double lag = p->ring[newest * n * F_FIELDS + (size_t)v * F_FIELDS + F_LAG];
			double lag0 = p->ring[oldest * n * F_FIELDS + (size_t)v * F_FIELDS + F_LAG];
			double lag_rate = k > 1 ? (lag - lag0) / (span - p->ring_dt[oldest]) : 0;
			p->target[v] = g->ops[v].source_rate > 0 ? g->ops[v].source_rate
								 : fmax(0, a[F_IN] + lag_rate);
			p->catch_up[v] = lag / p->catch_up_s;
			if (a[F_IN] > 0 && lag / a[F_IN] > p->backlog_threshold_s)
				backlog_processing = true;
		}
		double ratio = a[F_IN] > 1e-9 ? a[F_OUT] / a[F_IN] : g->ops[v].selectivity;
		for (size_t e = p->job.succ_start[v]; e < p->job.succ_start[v + 1]; e++) {
			p->target[p->job.succ[e]] += p->target[v] * ratio;
			p->catch_up[p->job.succ[e]] += p->catch_up[v] * ratio;
		}
	}
	double util_hi = p->util_target + p->util_boundary;
	double util_lo = p->util_target - p->util_boundary;
	if (backlog_processing) {
		util_hi = 1.0;
		util_lo = 0.0;
	}
	bool outside = false;
	for (size_t v = 0; v < n; v++) {
		const double *a = p->avg + v * F_FIELDS;
		if (a[F_IN] <= 0 || a[F_BUSY] <= 1e-9)
			continue; /* TPR infinite: never a reason to scale */
		double tpr = a[F_IN] / a[F_BUSY];
		if (tpr < capacity(p, v, util_hi, false) ||
		    (util_lo > 0 && tpr > capacity(p, v, util_lo, true)))
			outside = true;
	}
	if (!outside)
		return STN_OK;
	bool any_up = false, any_change = false;
	for (size_t v = 0; v < n; v++) {
		const double *a = p->avg + v * F_FIELDS;
		uint32_t cur = p->job.cur[v];
		p->next[v] = cur;
		if (a[F_IN] <= 0 || a[F_BUSY] <= 1e-9)
			continue;
		double tpr = a[F_IN] / a[F_BUSY];
		double factor = capacity(p, v, p->util_target, true) / tpr;
		factor = fmax(1.0 - p->down_max_factor, fmin(1.0 + p->up_max_factor, factor));
		double want = ceil(factor * cur - 1e-9);
		uint32_t upper = p->vertex_max > cur ? p->vertex_max : cur;
		bool hash_in = false;
		for (size_t e = 0; e < g->n_edges; e++)
			if (g->edges[e].to == v && g->edges[e].part == STN_PART_HASH)
				hash_in = true;
		if (hash_in && upper > p->key_groups)
			upper = p->key_groups;
		if (upper > g->ops[v].p_max)
			upper = g->ops[v].p_max;
		uint32_t np = want < 1 ? 1 : (want > upper ? upper : (uint32_t)want);
		if (hash_in)
			np = stn__flink_align(p->key_groups, np, np > cur ? upper : cur);
		if (np > upper)
			np = upper;
		p->next[v] = np;
		if (np > cur)
			any_up = true;
	}
	out->reason[0] = '\0';
	stn__policy_reason(out, "flink-autoscaler: utilisation target %.2f;", p->util_target);
	for (size_t v = 0; v < n; v++) {
		uint32_t cur = p->job.cur[v];
		if (any_up && p->next[v] >= cur)
			p->down_since[v] = -1.0; /* a scale-up clears pending scale-downs */
		if (p->next[v] < cur) {
			if (p->down_since[v] < 0) {
				p->down_since[v] = p->now_s;
				p->down_max[v] = p->next[v];
			} else if (p->next[v] > p->down_max[v]) {
				p->down_max[v] = p->next[v];
			}
			if (p->now_s - p->down_since[v] >= p->down_interval_s - 1e-9) {
				p->next[v] = p->down_max[v];
				p->down_since[v] = -1.0;
			} else {
				p->next[v] = cur;
			}
		} else if (p->next[v] >= cur && !any_up) {
			p->down_since[v] = -1.0;
		}
		if (p->next[v] != cur) {
			any_change = true;
			stn__policy_reason(out, " op %u %u->%u%s", g->ops[v].id, cur, p->next[v],
					   p->next[v] < cur ? " (delayed scale-down)" : "");
		}
	}
	if (!any_change)
		return STN_OK;
	for (size_t v = 0; v < n; v++) {
		out->parallelism[v] = p->next[v];
		out->prob[v] = -1.0;
		p->job.cur[v] = p->next[v];
	}
	p->restart_at_s = p->now_s;
	p->ring_len = 0;
	*decided = true;
	return STN_OK;
}

static stn_status flink_on_rates(stn_policy *p, const stn_dag *dag, stn_errbuf *eb)
{
	return stn__policy_job_rates(&p->job, dag, eb);
}

static void flink_destroy(stn_policy *p)
{
	if (!p)
		return;
	stn__free(p->ring);
	stn__free(p->ring_dt);
	stn__free(p->avg);
	stn__free(p->target);
	stn__free(p->catch_up);
	stn__free(p->down_since);
	stn__free(p->down_max);
	stn__free(p->next);
	stn__policy_job_fini(&p->job);
	stn__free(p);
}

const stn_policy_vtable stn__policy_flink = {
	.name = "flink-autoscaler",
	.create = flink_create,
	.on_window = flink_on_window,
	.on_rates = flink_on_rates,
	.destroy = flink_destroy,
};
