/* sim: fluid discrete-time model of a job: per window each operator takes what its bounded
 * input buffer and its true capacity allow, backpressure flows upstream to the sources, which
 * fall behind (lag). Measurements get noise; the shared labeller labels them. */
#include "sim.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"

#define SIM_P_MAX 32u
#define SIM_INF 1e300

/* ---- PRNG: splitmix64 ---- */

typedef struct rng {
	uint64_t s;
} rng;

static uint64_t rng_next(rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double rng_unit(rng *r)
{
	return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

static double rng_range(rng *r, double lo, double hi)
{
	return lo + (hi - lo) * rng_unit(r);
}

static uint32_t rng_below(rng *r, uint32_t n)
{
	return n ? (uint32_t)(rng_next(r) % n) : 0;
}

static double rng_normal(rng *r)
{
	double u1 = rng_unit(r), u2 = rng_unit(r);
	if (u1 < 1e-300)
		u1 = 1e-300;
	return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* ---- families ---- */

static const char *const family_names[STN_SIM_FAMILY_COUNT] = {
	"q0", "q1", "q2", "q3", "q4", "q5", "q6", "q7", "q8", "nexmark", "random"};

stn_status stn__sim_family_parse(const char *s, stn_sim_family *out)
{
	for (int i = 0; i < STN_SIM_FAMILY_COUNT; i++)
		if (s && strcmp(s, family_names[i]) == 0) {
			*out = (stn_sim_family)i;
			return STN_OK;
		}
	return STN_ENOTFOUND;
}

const char *stn__sim_family_name(stn_sim_family f)
{
	return (unsigned)f < STN_SIM_FAMILY_COUNT ? family_names[f] : NULL;
}

/* ---- truth ---- */

double stn__sim_capacity(const stn_sim_truth *t, uint32_t p)
{
	uint32_t q = p < t->p_sat ? p : t->p_sat;
	if (q < 1)
		q = 1;
	double h = 0.0;
	for (uint32_t k = 1; k <= q; k++)
		h += pow((double)k, -t->skew);
	/* q^alpha / q per instance efficiency, times 1/hottest share = h */
	return t->c * pow((double)q, t->alpha - 1.0) * h;
}

static double hottest_share(const stn_sim_truth *t, uint32_t p)
{
	uint32_t q = p < t->p_sat ? p : t->p_sat;
	if (q < 1)
		q = 1;
	double h = 0.0;
	for (uint32_t k = 1; k <= q; k++)
		h += pow((double)k, -t->skew);
	return 1.0 / h;
}

/* Target input rates: sources take source_rate * factor, others the sum of their inputs. */
static stn_status propagate(const stn_dag *d, const uint32_t *order, double factor,
			    double *tin)
{
	for (size_t k = 0; k < d->n_ops; k++) {
		uint32_t v = order[k];
		double in = d->ops[v].kind == STN_KIND_SOURCE ? d->ops[v].source_rate * factor : 0.0;
		for (size_t e = 0; e < d->n_edges; e++)
			if (d->edges[e].to == v) {
				uint32_t u = d->edges[e].from;
				in += tin[u] * d->ops[u].selectivity;
			}
		tin[v] = in;
	}
	return STN_OK;
}

static uint32_t oracle_one(const stn_sim_truth *t, double lambda, uint32_t p_max)
{
	for (uint32_t p = 1; p <= p_max; p++)
		if (stn__sim_capacity(t, p) >= lambda * (1.0 - 1e-12))
			return p;
	return p_max;
}

static uint64_t job_oracle(const stn_dag *d, const stn_sim_truth *truth, double factor,
			   uint32_t *out, stn_status *st)
{
	uint64_t sum = 0;
	uint32_t *order = stn__calloc(d->n_ops ? d->n_ops : 1, sizeof(uint32_t));
	double *tin = stn__calloc(d->n_ops ? d->n_ops : 1, sizeof(double));
	*st = STN_ENOMEM;
	if (!order || !tin)
		goto cleanup_bufs;
	*st = stn__dag_topo_order(d, order);
	if (*st != STN_OK)
		goto cleanup_bufs;
	propagate(d, order, factor, tin);
	for (size_t v = 0; v < d->n_ops; v++) {
		out[v] = oracle_one(&truth[v], tin[v], d->ops[v].p_max);
		sum += out[v];
	}
cleanup_bufs:
	stn__free(order);
	stn__free(tin);
	return sum;
}

uint64_t stn__sim_job_oracle(const stn_sim_job *job, double factor, uint32_t *out)
{
	stn_status st;
	return job_oracle(&job->dag, job->truth, factor, out, &st);
}

/* ---- job builders ---- */

static stn_status add_op(stn_dag *d, const char *name, stn_op_kind kind, bool stateful,
			 double sel, double src_rate, stn_errbuf *eb)
{
	stn_op o;
	memset(&o, 0, sizeof(o));
	o.id = (uint32_t)d->n_ops + 1;
	snprintf(o.name, sizeof(o.name), "%s", name);
	o.kind = kind;
	o.stateful = stateful;
	o.selectivity = sel;
	o.source_rate = src_rate;
	o.parallelism = 1;
	o.p_max = SIM_P_MAX;
	return stn__dag_add_op(d, &o, eb);
}

#define ADD(name, kind, st, sel, rate)                                                  \
	do {                                                                            \
		s = add_op(d, name, STN_KIND_##kind, st, sel, rate, eb);                \
		if (s != STN_OK)                                                        \
			return s;                                                       \
	} while (0)
#define EDGE(a, b, part)                                                                \
	do {                                                                            \
		s = stn__dag_add_edge(d, a, b, STN_PART_##part, eb);                    \
		if (s != STN_OK)                                                        \
			return s;                                                       \
	} while (0)

/* Nexmark event mix person:auction:bid = 1:3:46. */
static stn_status build_nexmark(stn_dag *d, int q, double R, stn_errbuf *eb)
{
	stn_status s;
	double bid = R * 46.0 / 50.0, auc = R * 3.0 / 50.0, per = R / 50.0;
	switch (q) {
	case 0: /* pass-through */
		ADD("bids", SOURCE, false, 1.0, bid);
		ADD("sink", SINK, false, 1.0, 0);
		EDGE(0, 1, FORWARD);
		break;
	case 1: /* currency conversion */
		ADD("bids", SOURCE, false, 1.0, bid);
		ADD("convert", MAP, false, 1.0, 0);
		ADD("sink", SINK, false, 1.0, 0);
		EDGE(0, 1, FORWARD);
		EDGE(1, 2, FORWARD);
		break;
	case 2: /* selection + projection */
		ADD("bids", SOURCE, false, 1.0, bid);
		ADD("auction_mod_123", FILTER, false, 1.0 / 123.0, 0);
		ADD("project", MAP, false, 1.0, 0);
		ADD("sink", SINK, false, 1.0, 0);
		EDGE(0, 1, FORWARD);
		EDGE(1, 2, FORWARD);
		EDGE(2, 3, FORWARD);
		break;
	case 3: /* local item suggestion: filtered auctions join filtered persons */
		ADD("auctions", SOURCE, false, 1.0, auc);
		ADD("persons", SOURCE, false, 1.0, per);
		ADD("category_10", FILTER, false, 0.1, 0);
		ADD("state_or_id_ca", FILTER, false, 0.3, 0);
		ADD("join_seller", JOIN, true, 0.5, 0);
		ADD("sink", SINK, false, 1.0, 0);
		EDGE(0, 2, FORWARD);
		EDGE(1, 3, FORWARD);
		EDGE(2, 4, HASH);
		EDGE(3, 4, HASH);
		EDGE(4, 5, FORWARD);
		break;
	case 4: /* average winning price per category */
		ADD("auctions", SOURCE, false, 1.0, auc);
		ADD("bids", SOURCE, false, 1.0, bid);
		ADD("auction_close", JOIN, true, 0.06, 0);
		ADD("avg_category", AGGREGATE, true, 1.0, 0);
		ADD("sink", SINK, false, 1.0, 0);
		EDGE(0, 2, HASH);
		EDGE(1, 2, HASH);
		EDGE(2, 3, HASH);
		EDGE(3, 4, FORWARD);
		break;
	case 5: /* hot items: sliding count per auction, max per window */
		ADD("bids", SOURCE, false, 1.0, bid);
		ADD("hop_count", WINDOW, true, 0.2, 0);
		ADD("max_per_window", AGGREGATE, true, 0.05, 0);
		ADD("sink", SINK, false, 1.0, 0);
		EDGE(0, 1, HASH);
		EDGE(1, 2, HASH);
		EDGE(2, 3, FORWARD);
		break;
	case 6: /* average selling price by seller */
		ADD("auctions", SOURCE, false, 1.0, auc);
		ADD("bids", SOURCE, false, 1.0, bid);
		ADD("auction_close", JOIN, true, 0.06, 0);
		ADD("avg_last10_seller", AGGREGATE, true, 1.0, 0);
		ADD("sink", SINK, false, 1.0, 0);
		EDGE(0, 2, HASH);
		EDGE(1, 2, HASH);
		EDGE(2, 3, HASH);
		EDGE(3, 4, FORWARD);
		break;
	case 7: /* highest bid: pre-reduce, all-reduce, join back to bids */
		ADD("bids", SOURCE, false, 1.0, bid);
		ADD("pre_reduce_max", AGGREGATE, true, 0.01, 0);
		ADD("all_reduce_max", AGGREGATE, true, 0.1, 0);
		ADD("join_price", JOIN, true, 0.01, 0);
		ADD("sink", SINK, false, 1.0, 0);
		EDGE(0, 1, FORWARD);
		EDGE(1, 2, HASH);
		EDGE(2, 3, BROADCAST);
		EDGE(0, 3, HASH);
		EDGE(3, 4, FORWARD);
		break;
	default: /* 8: new users: windowed join persons x auctions */
		ADD("persons", SOURCE, false, 1.0, per);
		ADD("auctions", SOURCE, false, 1.0, auc);
		ADD("window_join", JOIN, true, 0.1, 0);
		ADD("sink", SINK, false, 1.0, 0);
		EDGE(0, 2, HASH);
		EDGE(1, 2, HASH);
		EDGE(2, 3, FORWARD);
		break;
	}
	return STN_OK;
}

/* Layered DAG: sources, up to 6 middle layers, sinks; fan-in up to 3, fan-out where drawn. */
static stn_status build_random(stn_dag *d, uint32_t n, double R, rng *r, stn_errbuf *eb)
{
	stn_status s;
	uint32_t n_src = 1 + rng_below(r, n >= 8 ? 3 : 1);
	uint32_t n_sink = 1 + (n >= 6 ? rng_below(r, 2) : 0);
	uint32_t m = n - n_src - n_sink;
	uint32_t L = m ? 1 + rng_below(r, m < 6 ? m : 6) : 0;
	uint32_t layer[64];
	char name[32];
	for (uint32_t i = 0; i < n_src; i++) {
		snprintf(name, sizeof(name), "src%u", i);
		ADD(name, SOURCE, false, 1.0, R * rng_range(r, 0.2, 1.0));
		layer[d->n_ops - 1] = 0;
	}
	for (uint32_t i = 0; i < m; i++)
		layer[n_src + i] = 1 + (uint32_t)((uint64_t)i * L / m);
	for (uint32_t i = 0; i < n_sink; i++)
		layer[n_src + m + i] = L + 1;
	/* Edges first (kinds depend on fan-in), ops added after with the same indices. */
	uint32_t from[256], to[256], ne = 0;
	for (uint32_t v = n_src; v < n; v++) {
		uint32_t lo = 0, hi = 0; /* ops of the previous layer: [lo, hi) */
		for (uint32_t u = 0; u < v; u++)
			if (layer[u] + 1 == layer[v]) {
				if (hi == 0)
					lo = u;
				hi = u + 1;
			}
		if (hi == 0) /* previous layer empty cannot happen; fall back to any earlier op */
			hi = v;
		uint32_t k = 1 + (rng_below(r, 3) == 0) + (rng_below(r, 6) == 0);
		for (uint32_t j = 0; j < k && ne < 256; j++) {
			uint32_t u = j == 0 ? lo + rng_below(r, hi - lo) : rng_below(r, v);
			if (layer[u] >= layer[v])
				continue;
			bool dup = false;
			for (uint32_t x = 0; x < ne; x++)
				if (from[x] == u && to[x] == v)
					dup = true;
			if (!dup) {
				from[ne] = u;
				to[ne] = v;
				ne++;
			}
		}
	}
	for (uint32_t u = 0; u < n_src + m; u++) {
		bool out = false;
		for (uint32_t x = 0; x < ne; x++)
			out = out || from[x] == u;
		if (out || ne >= 256)
			continue;
		uint32_t cnt = 0, pick;
		for (uint32_t v = 0; v < n; v++)
			cnt += layer[v] == layer[u] + 1;
		pick = rng_below(r, cnt);
		for (uint32_t v = 0; v < n; v++)
			if (layer[v] == layer[u] + 1 && pick-- == 0) {
				from[ne] = u;
				to[ne] = v;
				ne++;
				break;
			}
	}
	for (uint32_t v = n_src; v < n; v++) {
		uint32_t fan_in = 0;
		for (uint32_t x = 0; x < ne; x++)
			fan_in += to[x] == v;
		if (v >= n_src + m) {
			snprintf(name, sizeof(name), "sink%u", v - n_src - m);
			ADD(name, SINK, false, 1.0, 0);
			continue;
		}
		snprintf(name, sizeof(name), "op%u", v);
		uint32_t pick = rng_below(r, fan_in >= 2 ? 3 : 5);
		if (fan_in >= 2) {
			if (pick < 2)
				ADD(name, JOIN, true, rng_range(r, 0.2, 1.0), 0);
			else
				ADD(name, MAP, false, 1.0, 0);
		} else if (pick == 0) {
			ADD(name, MAP, false, 1.0, 0);
		} else if (pick == 1) {
			ADD(name, FILTER, false, rng_range(r, 0.2, 0.9), 0);
		} else if (pick == 2) {
			ADD(name, FLAT_MAP, false, rng_range(r, 1.0, 2.5), 0);
		} else if (pick == 3) {
			ADD(name, WINDOW, true, rng_range(r, 0.05, 0.5), 0);
		} else {
			ADD(name, AGGREGATE, true, rng_range(r, 0.1, 1.0), 0);
		}
	}
	for (uint32_t x = 0; x < ne; x++) {
		stn_partitioning part = d->ops[to[x]].stateful ? STN_PART_HASH
				       : rng_below(r, 2)          ? STN_PART_FORWARD
								  : STN_PART_REBALANCE;
		s = stn__dag_add_edge(d, from[x], to[x], part, eb);
		if (s != STN_OK)
			return s;
	}
	return STN_OK;
}

/* ---- the true capacity of an operator ----
 *
 * The truth is a function of what the model sees of an operator (its kind, stateful flag,
 * selectivity and the partitioning of its incoming edges), times a modest per-operator factor
 * drawn from the job's seed: the same operator in two jobs costs about the same, as it would on
 * a real engine, so capacities learnt from past jobs transfer to new ones, and the residual
 * factor stands for what no DAG shows (record sizes, UDF details, hardware).
 *
 * Cost of one record on one instance, in microseconds:
 *   cost = base[kind] + emit[kind] * selectivity          (work per input, per output record)
 *        + 30 if stateful                                 (state read and update)
 *        + 6 * hash + 10 * broadcast + 3 * rebalance      (fractions of incoming edges:
 *                                                          deserialisation and routing)
 *   c = 1e6 / cost * U(0.85, 1.15)                        records/s of one instance
 * Scaling exponent: alpha = alpha[kind] - 0.05 if stateful (coordination), + U(-0.03, 0.03),
 * within 0.7..1. Key skew: only behind hash edges, skew[kind] * hash fraction * U(0.8, 1.2).
 * Saturation: stateful operators stop gaining at 24..32 instances (state partitions);
 * stateless ones never within the parallelism limit.
 *
 * Rates are the job's load, not part of the truth: the family fixes their shape, then the
 * sources are scaled so the most loaded operator needs 2..12 instances at its nominal
 * capacity (log-uniform), and scaled down further if any operator could not keep up with
 * twice the nominal rate within p_max. So the oracle spreads over 1..~16 and every job
 * stays feasible under the rate steps the tests and the demo apply. */
typedef struct kind_cost {
	double base_us, emit_us; /* per input record, per output record */
	double alpha;            /* scaling exponent */
	double skew;             /* key skew behind a fully hash-partitioned input */
} kind_cost;

static const kind_cost kind_costs[STN_KIND_COUNT] = {
	/*                      base  emit  alpha  skew */
	[STN_KIND_SOURCE] = {15.0, 10.0, 0.95, 0.0},   /* deserialise, emit */
	[STN_KIND_MAP] = {22.0, 10.0, 0.95, 0.05},
	[STN_KIND_FILTER] = {12.0, 10.0, 0.95, 0.05},  /* cheap predicate */
	[STN_KIND_FLAT_MAP] = {18.0, 12.0, 0.9, 0.05}, /* pays per output record */
	[STN_KIND_EXCHANGE] = {8.0, 10.0, 0.95, 0.1},
	[STN_KIND_WINDOW] = {50.0, 40.0, 0.9, 0.2},    /* buffer, fire, evict */
	[STN_KIND_JOIN] = {90.0, 50.0, 0.85, 0.15},    /* insert and probe state */
	[STN_KIND_AGGREGATE] = {35.0, 30.0, 0.9, 0.25},/* hot groups skew most */
	[STN_KIND_SINK] = {25.0, 0.0, 0.95, 0.0},      /* serialise, write */
	[STN_KIND_OTHER] = {40.0, 15.0, 0.9, 0.1},
};

#define SIM_STATE_US 30.0
#define SIM_NOISE_C 0.15
#define SIM_NEED_MIN 2.0
#define SIM_NEED_MAX 12.0
#define SIM_HEADROOM 2.0

static const kind_cost *cost_of_kind(stn_op_kind k)
{
	return &kind_costs[(unsigned)k < STN_KIND_COUNT ? k : STN_KIND_OTHER];
}

/* Fractions of the incoming edges of v per partitioning (all 0 for a source). */
static void in_fractions(const stn_dag *d, uint32_t v, double frac[STN_PART_COUNT])
{
	double in = 0.0;
	for (unsigned p = 0; p < STN_PART_COUNT; p++)
		frac[p] = 0.0;
	for (size_t e = 0; e < d->n_edges; e++)
		if (d->edges[e].to == v && (unsigned)d->edges[e].part < STN_PART_COUNT) {
			frac[d->edges[e].part] += 1.0;
			in += 1.0;
		}
	for (unsigned p = 0; p < STN_PART_COUNT; p++)
		frac[p] = in > 0.0 ? frac[p] / in : 0.0;
}

/* Cost of one record on one instance (microseconds), without the per-operator factor. */
static double nominal_cost_us(const stn_dag *d, uint32_t v)
{
	if (v >= d->n_ops)
		return 0.0;
	const stn_op *o = &d->ops[v];
	const kind_cost *k = cost_of_kind(o->kind);
	double frac[STN_PART_COUNT];
	in_fractions(d, v, frac);
	return k->base_us + k->emit_us * o->selectivity + (o->stateful ? SIM_STATE_US : 0.0) +
	       6.0 * frac[STN_PART_HASH] + 10.0 * frac[STN_PART_BROADCAST] +
	       3.0 * frac[STN_PART_REBALANCE];
}

double stn__sim_nominal_capacity(const stn_dag *d, uint32_t v)
{
	double cost = nominal_cost_us(d, v);
	return cost > 0.0 ? 1e6 / cost : 0.0;
}

static void truth_of(const stn_dag *d, uint32_t v, rng *r, stn_sim_truth *t)
{
	const stn_op *o = &d->ops[v];
	const kind_cost *k = cost_of_kind(o->kind);
	double frac[STN_PART_COUNT];
	in_fractions(d, v, frac);
	t->c = stn__sim_nominal_capacity(d, v) * rng_range(r, 1.0 - SIM_NOISE_C, 1.0 + SIM_NOISE_C);
	double a = k->alpha - (o->stateful ? 0.05 : 0.0) + rng_range(r, -0.03, 0.03);
	t->alpha = a < 0.7 ? 0.7 : a > 1.0 ? 1.0 : a;
	t->skew = k->skew * frac[STN_PART_HASH] * rng_range(r, 0.8, 1.2);
	t->p_sat = o->stateful ? 24 + rng_below(r, 9) : STN_DAG_MAX_PARALLELISM;
}

stn_status stn__sim_job_random(stn_sim_job *job, stn_sim_family fam, uint32_t n_ops,
			       uint64_t seed, stn_errbuf *eb)
{
	stn_status s;
	rng r = {seed ^ 0x5354554e45ull};
	memset(job, 0, sizeof(*job));
	stn__dag_init(&job->dag);
	if ((unsigned)fam >= STN_SIM_FAMILY_COUNT)
		return stn__fail(eb, STN_EINVAL, "sim: unknown family %d", (int)fam);
	if (fam == STN_SIM_NEXMARK)
		fam = (stn_sim_family)(STN_SIM_Q0 + rng_below(&r, 9));
	job->family = fam;
	double R = pow(10.0, rng_range(&r, 3.5, 5.0));
	if (fam == STN_SIM_RANDOM) {
		if (n_ops != 0 && (n_ops < 3 || n_ops > 60))
			return stn__fail(eb, STN_EINVAL, "sim: random DAGs have 3..60 operators, not %u",
					 n_ops);
		uint32_t n = n_ops ? n_ops : 3 + rng_below(&r, 58);
		s = build_random(&job->dag, n, R, &r, eb);
	} else {
		s = build_nexmark(&job->dag, (int)fam, R, eb);
	}
	if (s != STN_OK)
		goto fail_job;
	s = stn__dag_validate(&job->dag, eb);
	if (s != STN_OK)
		goto fail_job;
	size_t n = job->dag.n_ops;
	job->truth = stn__calloc(n, sizeof(stn_sim_truth));
	uint32_t *order = stn__calloc(n, sizeof(uint32_t));
	double *tin = stn__calloc(n, sizeof(double));
	if (!job->truth || !order || !tin) {
		stn__free(order);
		stn__free(tin);
		s = stn__fail(eb, STN_ENOMEM, "sim: out of memory");
		goto fail_job;
	}
	stn__dag_topo_order(&job->dag, order);
	propagate(&job->dag, order, 1.0, tin);
	/* Load: scale the sources so the most loaded operator needs about `need` instances at
	 * its nominal capacity (before its own factor and scaling losses). Without this the
	 * rates of one family span decades more than the parallelism can follow, and most jobs
	 * would be either trivial or beyond p_max. */
	double need = exp(rng_range(&r, log(SIM_NEED_MIN), log(SIM_NEED_MAX))), top = 0.0;
	for (size_t v = 0; v < n; v++) {
		double load = tin[v] * nominal_cost_us(&job->dag, (uint32_t)v) * 1e-6;
		top = load > top ? load : top;
	}
	if (top > 0.0) {
		for (size_t v = 0; v < n; v++)
			job->dag.ops[v].source_rate *= need / top;
		propagate(&job->dag, order, 1.0, tin);
	}
	/* Headroom: at SIM_HEADROOM times the nominal rate every operator can still keep up
	 * within p_max (saturation and skew can make the most loaded one fall short). */
	double worst = 0.0;
	for (size_t v = 0; v < n; v++) {
		truth_of(&job->dag, (uint32_t)v, &r, &job->truth[v]);
		double c_max = stn__sim_capacity(&job->truth[v], job->dag.ops[v].p_max);
		double ratio = SIM_HEADROOM * tin[v] / c_max;
		worst = ratio > worst ? ratio : worst;
	}
	if (worst > 1.0) {
		for (size_t v = 0; v < n; v++)
			job->dag.ops[v].source_rate /= worst;
		propagate(&job->dag, order, 1.0, tin);
	}
	for (size_t v = 0; v < n; v++) {
		stn_op *o = &job->dag.ops[v];
		o->parallelism = oracle_one(&job->truth[v], tin[v], o->p_max);
	}
	stn__free(order);
	stn__free(tin);
	return STN_OK;
fail_job:
	stn__sim_job_fini(job);
	return s;
}

void stn__sim_job_fini(stn_sim_job *job)
{
	stn__dag_fini(&job->dag);
	stn__free(job->truth);
	job->truth = NULL;
}

/* ---- schedules ---- */

double stn__sim_schedule_factor(const stn_sim_schedule *s, uint64_t t)
{
	if (!s)
		return 1.0;
	switch (s->kind) {
	case STN_SCHED_STEPS:
		if (s->n_values == 0)
			return s->level;
		{
			uint64_t i = s->step_len ? t / s->step_len : 0;
			return s->values[i < s->n_values ? i : s->n_values - 1];
		}
	case STN_SCHED_SQUARE: {
		uint32_t per = s->period >= 2 ? s->period : 2;
		return (t % per) < per / 2 ? s->level : s->high;
	}
	case STN_SCHED_SINE: {
		uint32_t per = s->period ? s->period : 1;
		double f = s->level + s->amp * sin(6.283185307179586 * (double)(t % per) / per);
		return f > 0.0 ? f : 0.0;
	}
	case STN_SCHED_TRACE:
		if (s->n_values == 0)
			return s->level;
		return s->values[t < s->n_values ? t : s->n_values - 1];
	default:
		return s->level;
	}
}

/* ---- simulator ---- */

struct stn_sim {
	stn_sim_job job;
	stn_sim_params params;
	stn_sim_schedule sched;
	double *sched_values;
	stn_labeller lab;
	rng r;
	uint64_t t;
	size_t n;
	uint32_t *order;
	double *queue, *tin, *cap, *cap_eff, *accept, *processed, *lagpath;
	uint32_t *warm_left;
	stn_window w;
};

stn_sim_params stn__sim_params_default(void)
{
	stn_sim_params p = {
		.duration_ms = 1000,
		.noise_busy = 0.02,
		.noise_rate = 0.01,
		.warmup_windows = 1,
		.warmup_factor = 0.6,
		.buffer_s = 2.0,
		.label = stn__label_params_default(),
	};
	return p;
}

void stn__sim_destroy(stn_sim *s)
{
	if (!s)
		return;
	stn__sim_job_fini(&s->job);
	stn__free(s->sched_values);
	stn__label_fini(&s->lab);
	stn__free(s->order);
	stn__free(s->queue);
	stn__free(s->tin);
	stn__free(s->cap);
	stn__free(s->cap_eff);
	stn__free(s->accept);
	stn__free(s->processed);
	stn__free(s->lagpath);
	stn__free(s->warm_left);
	stn__window_fini(&s->w);
	stn__free(s);
}

stn_status stn__sim_create(stn_sim **out, const stn_sim_job *job, const stn_sim_params *params,
			   const stn_sim_schedule *sched, uint64_t seed, stn_errbuf *eb)
{
	stn_status st;
	*out = NULL;
	st = stn__dag_validate(&job->dag, eb);
	if (st != STN_OK)
		return st;
	stn_sim *s = stn__calloc(1, sizeof(*s));
	if (!s)
		return stn__fail(eb, STN_ENOMEM, "sim: out of memory");
	s->params = params ? *params : stn__sim_params_default();
	if (s->params.duration_ms == 0 || !(s->params.warmup_factor > 0.0) ||
	    !(s->params.buffer_s > 0.0) || s->params.noise_busy < 0 || s->params.noise_rate < 0) {
		st = stn__fail(eb, STN_EINVAL, "sim: bad parameters");
		goto fail_sim;
	}
	if (sched) {
		s->sched = *sched;
		if (sched->n_values > STN_SIM_SCHED_MAX_VALUES) {
			st = stn__fail(eb, STN_ETOOBIG, "sim: schedule has more than %u values",
				       STN_SIM_SCHED_MAX_VALUES);
			goto fail_sim;
		}
		if (sched->n_values) {
			s->sched_values = stn__malloc_array(sched->n_values, sizeof(double));
			if (!s->sched_values) {
				st = stn__fail(eb, STN_ENOMEM, "sim: out of memory");
				goto fail_sim;
			}
			for (size_t i = 0; i < sched->n_values; i++) {
				if (!isfinite(sched->values[i]) || sched->values[i] < 0) {
					st = stn__fail(eb, STN_EVALUE, "sim: schedule value %zu bad", i);
					goto fail_sim;
				}
				s->sched_values[i] = sched->values[i];
			}
		}
		s->sched.values = s->sched_values;
	} else {
		s->sched.kind = STN_SCHED_CONSTANT;
		s->sched.level = 1.0;
	}
	st = stn__dag_copy(&s->job.dag, &job->dag);
	if (st != STN_OK) {
		st = stn__fail(eb, st, "sim: cannot copy the DAG");
		goto fail_sim;
	}
	size_t n = job->dag.n_ops;
	s->n = n;
	s->job.family = job->family;
	s->job.truth = stn__malloc_array(n, sizeof(stn_sim_truth));
	s->order = stn__calloc(n, sizeof(uint32_t));
	s->queue = stn__calloc(n, sizeof(double));
	s->tin = stn__calloc(n, sizeof(double));
	s->cap = stn__calloc(n, sizeof(double));
	s->cap_eff = stn__calloc(n, sizeof(double));
	s->accept = stn__calloc(n, sizeof(double));
	s->processed = stn__calloc(n, sizeof(double));
	s->lagpath = stn__calloc(n, sizeof(double));
	s->warm_left = stn__calloc(n, sizeof(uint32_t));
	if (!s->job.truth || !s->order || !s->queue || !s->tin || !s->cap || !s->cap_eff ||
	    !s->accept || !s->processed || !s->lagpath || !s->warm_left) {
		st = stn__fail(eb, STN_ENOMEM, "sim: out of memory");
		goto fail_sim;
	}
	for (size_t v = 0; v < n; v++) {
		const stn_sim_truth *t = &job->truth[v];
		if (!(t->c > 0.0) || !isfinite(t->c) || !(t->alpha > 0.0) || t->alpha > 1.0 ||
		    t->skew < 0.0 || t->p_sat < 1) {
			st = stn__fail(eb, STN_EVALUE, "sim: bad truth for operator %zu", v);
			goto fail_sim;
		}
		s->job.truth[v] = *t;
	}
	stn__dag_topo_order(&s->job.dag, s->order);
	st = stn__label_init(&s->lab, &s->job.dag, &s->params.label, eb);
	if (st != STN_OK)
		goto fail_sim;
	st = stn__window_init(&s->w, &s->job.dag, 0);
	if (st != STN_OK) {
		st = stn__fail(eb, st, "sim: cannot allocate the window");
		goto fail_sim;
	}
	s->r.s = seed;
	*out = s;
	return STN_OK;
fail_sim:
	stn__sim_destroy(s);
	return st;
}

const stn_window *stn__sim_window(const stn_sim *s)
{
	return &s->w;
}
const stn_dag *stn__sim_dag(const stn_sim *s)
{
	return &s->job.dag;
}
const stn_sim_truth *stn__sim_truth(const stn_sim *s)
{
	return s->job.truth;
}
uint64_t stn__sim_windows_done(const stn_sim *s)
{
	return s->t;
}
double stn__sim_factor(const stn_sim *s, uint64_t window)
{
	return stn__sim_schedule_factor(&s->sched, window);
}

stn_status stn__sim_targets(const stn_sim *s, double factor, double *out)
{
	return propagate(&s->job.dag, s->order, factor, out);
}

uint64_t stn__sim_oracle(const stn_sim *s, double factor, uint32_t *out)
{
	stn_status st;
	return job_oracle(&s->job.dag, s->job.truth, factor, out, &st);
}

stn_status stn__sim_set_parallelism(stn_sim *s, const uint32_t *p, stn_errbuf *eb)
{
	for (size_t v = 0; v < s->n; v++)
		if (p[v] < 1 || p[v] > s->job.dag.ops[v].p_max)
			return stn__fail(eb, STN_EINVAL, "sim: parallelism %u of operator %zu not in 1..%u",
					 p[v], v, s->job.dag.ops[v].p_max);
	for (size_t v = 0; v < s->n; v++)
		if (p[v] != s->job.dag.ops[v].parallelism) {
			s->job.dag.ops[v].parallelism = p[v];
			s->warm_left[v] = s->params.warmup_windows;
		}
	return STN_OK;
}

static double noisy(rng *r, double x, double sd)
{
	double y = x * (1.0 + sd * rng_normal(r));
	return y > 0.0 ? y : 0.0;
}

stn_status stn__sim_step(stn_sim *s, stn_errbuf *eb)
{
	const stn_dag *d = &s->job.dag;
	size_t n = s->n;
	double T = s->params.duration_ms / 1000.0;
	double f = stn__sim_schedule_factor(&s->sched, s->t);
	propagate(d, s->order, f, s->tin);
	for (size_t v = 0; v < n; v++) {
		double c = stn__sim_capacity(&s->job.truth[v], d->ops[v].parallelism) * T;
		if (s->warm_left[v] > 0)
			c *= s->params.warmup_factor;
		s->cap[v] = c;
	}
	/* Backward: how much each operator may take this window (bounded buffers). */
	for (size_t k = n; k-- > 0;) {
		uint32_t v = s->order[k];
		double out_limit = SIM_INF;
		double out_target = s->tin[v] * d->ops[v].selectivity;
		for (size_t e = 0; e < d->n_edges; e++) {
			if (d->edges[e].from != v)
				continue;
			uint32_t w = d->edges[e].to;
			double share = s->tin[w] > 0.0 ? out_target / s->tin[w] : 1.0;
			if (share > 1.0)
				share = 1.0;
			double lim = s->accept[w] * share;
			if (lim < out_limit)
				out_limit = lim;
		}
		double ce = s->cap[v];
		if (out_limit < SIM_INF && out_limit / d->ops[v].selectivity < ce)
			ce = out_limit / d->ops[v].selectivity;
		s->cap_eff[v] = ce;
		if (d->ops[v].kind == STN_KIND_SOURCE) {
			s->accept[v] = SIM_INF;
		} else {
			double buf = s->params.buffer_s * s->tin[v] * T;
			if (buf < 10.0)
				buf = 10.0;
			double room = buf - s->queue[v];
			s->accept[v] = (room > 0.0 ? room : 0.0) + ce;
		}
	}
	/* Forward: arrivals, processing, queues. */
	for (size_t k = 0; k < n; k++) {
		uint32_t v = s->order[k];
		double arr = d->ops[v].kind == STN_KIND_SOURCE ? s->tin[v] * T : 0.0;
		for (size_t e = 0; e < d->n_edges; e++)
			if (d->edges[e].to == v) {
				uint32_t u = d->edges[e].from;
				arr += s->processed[u] * d->ops[u].selectivity;
			}
		double avail = s->queue[v] + arr;
		double p = avail < s->cap_eff[v] ? avail : s->cap_eff[v];
		s->processed[v] = p;
		s->queue[v] = avail - p > 0.0 ? avail - p : 0.0;
	}
	/* Measurements. */
	double lag = 0.0;
	for (size_t k = 0; k < n; k++) {
		uint32_t v = s->order[k];
		const stn_sim_truth *t = &s->job.truth[v];
		uint32_t par = d->ops[v].parallelism;
		stn_op_window *o = &s->w.ops[v];
		double h = hottest_share(t, par);
		double busy = s->cap[v] > 0.0 ? s->processed[v] / s->cap[v] : 0.0;
		double bmax = noisy(&s->r, busy, s->params.noise_busy);
		double bmean = noisy(&s->r, busy / ((double)par * h), s->params.noise_busy);
		o->op_id = d->ops[v].id;
		o->n_inst = par;
		o->parallelism = par;
		o->busy_max = bmax > 1.0 ? 1.0 : bmax;
		o->busy_mean = bmean > o->busy_max ? o->busy_max : bmean;
		o->rate_in = noisy(&s->r, s->processed[v] / T, s->params.noise_rate);
		o->rate_out =
			noisy(&s->r, s->processed[v] * d->ops[v].selectivity / T, s->params.noise_rate);
		o->backlog_sum = s->queue[v];
		o->backlog_max = s->queue[v] * h;
		o->bp_max = -1.0;
		o->label = STN_LABEL_NONE;
		/* Lag: longest path of queue waiting times plus a small per-hop latency. */
		double rate = d->ops[v].kind == STN_KIND_SOURCE ? s->tin[v]
							       : stn__sim_capacity(t, par);
		double wait = rate > 1e-9 ? s->queue[v] / rate : 0.0;
		double up = 0.0;
		for (size_t e = 0; e < d->n_edges; e++)
			if (d->edges[e].to == v && s->lagpath[d->edges[e].from] > up)
				up = s->lagpath[d->edges[e].from];
		s->lagpath[v] = up + wait + 0.001;
		if (s->lagpath[v] > lag)
			lag = s->lagpath[v];
	}
	s->w.index = s->t;
	s->w.epoch = s->t;
	s->w.duration_ms = s->params.duration_ms;
	s->w.lag_ms = lag * 1000.0;
	s->w.finished = true;
	stn_status st = stn__label_window(&s->lab, d, s->tin, &s->w, eb);
	if (st != STN_OK)
		return st;
	for (size_t v = 0; v < n; v++)
		if (s->warm_left[v] > 0)
			s->warm_left[v]--;
	s->t++;
	return STN_OK;
}

/* ---- training set ---- */

void stn__sim_dataset_fini(stn_sim_dataset *ds)
{
	for (size_t j = 0; j < ds->n_jobs; j++) {
		stn__dag_fini(&ds->jobs[j].dag);
		stn__free(ds->jobs[j].oracle);
		stn__free(ds->jobs[j].truth);
	}
	for (size_t i = 0; i < ds->n_windows; i++) {
		stn__free(ds->windows[i].lambda);
		stn__free(ds->windows[i].p);
		stn__free(ds->windows[i].label);
	}
	stn__free(ds->jobs);
	stn__free(ds->windows);
	memset(ds, 0, sizeof(*ds));
}

static stn_status dataset_job(stn_sim_dataset *ds, const stn_sim_dataset_opts *o, size_t j,
			      rng *r, stn_errbuf *eb)
{
	stn_status st;
	stn_sim_job job;
	stn_sim_ds_job *dj = &ds->jobs[j];
	uint64_t seed = rng_next(r);
	stn_sim_family fam = o->families[j % o->n_families];
	st = stn__sim_job_random(&job, fam, 0, seed, eb);
	if (st != STN_OK)
		return st;
	size_t n = job.dag.n_ops;
	uint32_t *p = NULL;
	ds->n_jobs = j + 1;
	dj->family = job.family;
	dj->seed = seed;
	dj->oracle = stn__calloc(n, sizeof(uint32_t));
	dj->truth = stn__malloc_array(n, sizeof(stn_sim_truth));
	p = stn__calloc(n, sizeof(uint32_t));
	if (!dj->oracle || !dj->truth || !p) {
		st = stn__fail(eb, STN_ENOMEM, "sim: out of memory");
		goto cleanup_job;
	}
	st = stn__dag_copy(&dj->dag, &job.dag);
	if (st != STN_OK)
		goto cleanup_job;
	memcpy(dj->truth, job.truth, n * sizeof(stn_sim_truth));
	stn__sim_job_oracle(&job, 1.0, dj->oracle);
	size_t warm = 2;
	for (size_t c = 0; c < o->configs_per_job; c++) {
		/* Every operator starts 0..2 above its oracle. Most configurations then
		 * under-provision one operator that needs more than one instance and about a fifth
		 * of the others (by 1..3): few enough that the operators downstream of them are not
		 * all starved (unlabelled). Operators at one instance cannot go lower; the rate
		 * factor (0.8..1.4) is what pushes some of them over their capacity. */
		bool under = rng_below(r, 10) < 7;
		uint32_t n_multi = 0;
		for (size_t v = 0; v < n; v++) {
			p[v] = dj->oracle[v] + rng_below(r, 3);
			n_multi += dj->oracle[v] > 1;
		}
		if (under && n_multi > 0) {
			uint32_t first = rng_below(r, n_multi), k = 0;
			for (size_t v = 0; v < n; v++) {
				if (dj->oracle[v] < 2)
					continue;
				bool pick = k++ == first || rng_below(r, 100) < 20;
				if (!pick)
					continue;
				uint32_t drop = 1 + rng_below(r, 3);
				p[v] = dj->oracle[v] > drop ? dj->oracle[v] - drop : 1;
			}
		}
		for (size_t v = 0; v < n; v++) {
			if (p[v] > job.dag.ops[v].p_max)
				p[v] = job.dag.ops[v].p_max;
			job.dag.ops[v].parallelism = p[v];
		}
		stn_sim_schedule sc = {.kind = STN_SCHED_CONSTANT, .level = exp(rng_range(r, log(0.8), log(1.4)))};
		stn_sim *sim = NULL;
		st = stn__sim_create(&sim, &job, NULL, &sc, rng_next(r), eb);
		if (st != STN_OK)
			goto cleanup_job;
		for (size_t t = 0; t < warm + o->windows_per_config; t++) {
			st = stn__sim_step(sim, eb);
			if (st != STN_OK)
				break;
			if (t < warm)
				continue;
			stn_sim_ds_window *dw = &ds->windows[ds->n_windows];
			dw->job = j;
			dw->lambda = stn__malloc_array(n, sizeof(double));
			dw->p = stn__malloc_array(n, sizeof(uint32_t));
			dw->label = stn__malloc_array(n, sizeof(int8_t));
			ds->n_windows++;
			if (!dw->lambda || !dw->p || !dw->label) {
				st = stn__fail(eb, STN_ENOMEM, "sim: out of memory");
				break;
			}
			stn__sim_targets(sim, sc.level, dw->lambda);
			const stn_window *w = stn__sim_window(sim);
			for (size_t v = 0; v < n; v++) {
				dw->p[v] = w->ops[v].parallelism;
				dw->label[v] = (int8_t)w->ops[v].label;
				if (w->ops[v].label == STN_LABEL_BOTTLENECK)
					ds->n_bottleneck++;
				else if (w->ops[v].label == STN_LABEL_OK)
					ds->n_ok++;
				else
					ds->n_none++;
			}
		}
		stn__sim_destroy(sim);
		if (st != STN_OK)
			goto cleanup_job;
	}
cleanup_job:
	stn__free(p);
	stn__sim_job_fini(&job);
	return st;
}

stn_status stn__sim_dataset_generate(stn_sim_dataset *ds, const stn_sim_dataset_opts *o,
				     stn_errbuf *eb)
{
	memset(ds, 0, sizeof(*ds));
	if (!o->families || o->n_families == 0 || o->n_jobs == 0 || o->n_jobs > 100000 ||
	    o->configs_per_job == 0 || o->configs_per_job > 1000 || o->windows_per_config == 0 ||
	    o->windows_per_config > 1000)
		return stn__fail(eb, STN_EINVAL, "sim: bad dataset options");
	size_t per_job = o->configs_per_job * o->windows_per_config, total;
	if (stn__mul_overflow(per_job, o->n_jobs, &total))
		return stn__fail(eb, STN_ETOOBIG, "sim: dataset too large");
	ds->jobs = stn__calloc(o->n_jobs, sizeof(stn_sim_ds_job));
	ds->windows = stn__calloc(total, sizeof(stn_sim_ds_window));
	if (!ds->jobs || !ds->windows) {
		stn__sim_dataset_fini(ds);
		return stn__fail(eb, STN_ENOMEM, "sim: out of memory");
	}
	rng r = {o->seed};
	for (size_t j = 0; j < o->n_jobs; j++) {
		stn_status st = dataset_job(ds, o, j, &r, eb);
		if (st != STN_OK) {
			stn__sim_dataset_fini(ds);
			return st;
		}
	}
	return STN_OK;
}
