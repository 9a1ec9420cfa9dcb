/* pretrain: simulator-made histories, and pre-training from histories (see pretrain.h). */
#define _GNU_SOURCE
#include "pretrain.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "cluster.h"
#include "ged.h"
#include "head.h"
#include "history.h"
#include "nn.h"

/* ---- small helpers ------------------------------------------------------------------------ */

/* splitmix64 step: derives independent seeds from one (job j, member i, ...). */
static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static uint64_t fnv_bytes(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static uint64_t fnv_u64(uint64_t h, uint64_t v)
{
	unsigned char b[8];
	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)(v >> (8 * i));
	return fnv_bytes(h, b, 8);
}

static uint64_t fnv_f64(uint64_t h, double d)
{
	uint64_t v;
	memcpy(&v, &d, 8);
	return fnv_u64(h, v);
}

#define FNV_START 0xcbf29ce484222325ull

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void progress_call(stn_progress_fn fn, void *user, const char *phase, double f)
{
	if (fn != NULL)
		fn(user, phase, f < 0.0 ? 0.0 : f > 1.0 ? 1.0 : f);
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');
	return s != NULL ? s + 1 : path;
}

/* ---- history generation ------------------------------------------------------------------- */

void stn__histgen_opts_default(stn_histgen_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->layered_ops = 10;
	o->jobs = 10;
	o->windows = 200;
	o->seed = 1;
	o->config_min = 8;
	o->config_max = 16;
	o->rate_min = 20;
	o->rate_max = 60;
	o->rate_lo = 0.6;
	o->rate_hi = 1.4;
	o->version_prob = 0.2;
}

stn_status stn__histgen_family_parse(const char *s, size_t len, stn_sim_family *out)
{
	char buf[16];
	if (s == NULL || len == 0 || len >= sizeof(buf))
		return STN_ENOTFOUND;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (strcmp(buf, "layered") == 0) {
		*out = STN_SIM_RANDOM;
		return STN_OK;
	}
	return stn__sim_family_parse(buf, out);
}

const char *stn__histgen_family_name(stn_sim_family f)
{
	return f == STN_SIM_RANDOM ? "layered" : stn__sim_family_name(f);
}

typedef struct hg_rng {
	uint64_t s;
} hg_rng;

static uint64_t hg_next(hg_rng *r)
{
	uint64_t x = r->s;
	r->s += 0x9e3779b97f4a7c15ull;
	return mix64(x);
}

static double hg_unit(hg_rng *r)
{
	return (double)(hg_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

static uint32_t hg_between(hg_rng *r, uint32_t lo, uint32_t hi)
{
	return hi <= lo ? lo : lo + (uint32_t)(hg_next(r) % (uint64_t)(hi - lo + 1));
}

static stn_status histgen_check(const stn_histgen_opts *o, stn_errbuf *eb)
{
	if (o->families == NULL || o->n_families == 0 || o->n_families > STN_HISTGEN_MAX_FAMILIES)
		return stn__fail(eb, STN_EINVAL, "1 to %u families are needed",
				 STN_HISTGEN_MAX_FAMILIES);
	for (size_t i = 0; i < o->n_families; i++)
		if ((unsigned)o->families[i] >= STN_SIM_FAMILY_COUNT)
			return stn__fail(eb, STN_EINVAL, "unknown family %d", (int)o->families[i]);
	if (o->jobs == 0 || o->jobs > STN_HISTGEN_MAX_JOBS)
		return stn__fail(eb, STN_EINVAL, "jobs must be 1..%u", STN_HISTGEN_MAX_JOBS);
	if (o->windows == 0 || o->windows > STN_HISTGEN_MAX_WINDOWS)
		return stn__fail(eb, STN_EINVAL, "windows must be 1..%u", STN_HISTGEN_MAX_WINDOWS);
	if (o->layered_ops != 0 && (o->layered_ops < 3 || o->layered_ops > 60))
		return stn__fail(eb, STN_EINVAL, "layered operators must be 3..60 (or 0: random)");
	if (o->config_min == 0 || o->config_max < o->config_min || o->rate_min == 0 ||
	    o->rate_max < o->rate_min)
		return stn__fail(eb, STN_EINVAL, "bad configuration or rate-change intervals");
	if (!(o->rate_lo > 0.0) || !(o->rate_hi >= o->rate_lo) || !isfinite(o->rate_hi) ||
	    o->rate_hi > 100.0)
		return stn__fail(eb, STN_EINVAL, "bad rate factor range");
	if (!(o->version_prob >= 0.0 && o->version_prob <= 1.0))
		return stn__fail(eb, STN_EINVAL, "version probability must be in [0, 1]");
	return STN_OK;
}

/* A random configuration around the oracle: most under-provision some operators by 1..3, the
 * rest sit at or up to 2 above it (as the simulator's datasets do). */
static void random_config(hg_rng *r, const stn_dag *d, const uint32_t *oracle, uint32_t *p)
{
	size_t n = d->n_ops;
	bool under = hg_between(r, 0, 9) < 7;
	size_t first = hg_between(r, 0, (uint32_t)n - 1);
	for (size_t v = 0; v < n; v++) {
		uint32_t q = oracle[v] + hg_between(r, 0, 2);
		if (under && (v == first || hg_between(r, 0, 99) < 35)) {
			uint32_t drop = hg_between(r, 1, 3);
			q = oracle[v] > drop ? oracle[v] - drop : 1;
		}
		if (q > d->ops[v].p_max)
			q = d->ops[v].p_max;
		p[v] = q < 1 ? 1 : q;
	}
}

typedef struct hg_state {
	stn_history *h;
	const stn_histgen_opts *o;
	stn_histgen_report rep;
	double *trace;
	uint32_t *oracle, *p, *ids;
	double *prob;
} hg_state;

/* One job: registration, windows, decisions and their acknowledgements, maybe a second DAG
 * version halfway. */
static stn_status histgen_job(hg_state *g, size_t j, stn_errbuf *eb)
{
	const stn_histgen_opts *o = g->o;
	hg_rng r = {mix64(o->seed ^ mix64((uint64_t)j + 1))};
	stn_sim_family fam = o->families[j % o->n_families];
	stn_sim_job job;
	stn_sim *sim = NULL;
	stn_status st;
	char name[64];
	int64_t key = 0;
	size_t W = o->windows;

	st = stn__sim_job_random(&job, fam, fam == STN_SIM_RANDOM ? o->layered_ops : 0,
				 hg_next(&r), eb);
	if (st != STN_OK)
		return st;
	size_t n = job.dag.n_ops;
	snprintf(name, sizeof(name), "%s-%05zu", stn__histgen_family_name(job.family), j);
	/* Rate schedule: a factor held for rate_min..rate_max windows, then a new one. */
	for (size_t t = 0; t < W;) {
		uint32_t len = hg_between(&r, o->rate_min, o->rate_max);
		double f = t == 0 ? 1.0 : o->rate_lo + (o->rate_hi - o->rate_lo) * hg_unit(&r);
		for (uint32_t k = 0; k < len && t < W; k++)
			g->trace[t++] = f;
	}
	bool second = o->version_prob > 0.0 && hg_unit(&r) < o->version_prob && W >= 4 && n > 1;
	size_t half = second ? W / 2 : W;
	uint64_t seq = 0;
	size_t next_config = hg_between(&r, o->config_min, o->config_max);
	for (size_t v = 0; v < n; v++)
		g->ids[v] = job.dag.ops[v].id;

	st = stn__history_put_job(g->h, name, &job.dag, "histgen", "{}", &key, eb);
	if (st != STN_OK)
		goto done;
	g->rep.jobs++;
	g->rep.dag_versions++;
	for (int part = 0; part < (second ? 2 : 1); part++) {
		size_t t0 = part == 0 ? 0 : half, t1 = part == 0 ? half : W;
		if (part == 1) {
			/* Redeployment: one non-source operator's selectivity changes. */
			uint32_t v = hg_between(&r, 0, (uint32_t)n - 1);
			while (job.dag.ops[v].kind == STN_KIND_SOURCE)
				v = (v + 1) % (uint32_t)n;
			job.dag.ops[v].selectivity *= 0.5 + hg_unit(&r);
			for (size_t u = 0; u < n; u++)
				job.dag.ops[u].parallelism = stn__sim_dag(sim)->ops[u].parallelism;
			stn__sim_destroy(sim);
			sim = NULL;
			st = stn__history_put_job(g->h, name, &job.dag, "histgen", "{}", &key, eb);
			if (st != STN_OK)
				goto done;
			g->rep.dag_versions++;
		}
		stn_sim_schedule sc;
		memset(&sc, 0, sizeof(sc));
		sc.kind = STN_SCHED_TRACE;
		sc.values = g->trace + t0;
		sc.n_values = t1 - t0;
		st = stn__sim_create(&sim, &job, NULL, &sc, hg_next(&r), eb);
		if (st != STN_OK)
			goto done;
		for (size_t t = t0; t < t1; t++) {
			if (t == next_config) {
				/* A decision: seq, seen up to window t-1, applied from window t. */
				stn__sim_oracle(sim, g->trace[t], g->oracle);
				random_config(&r, stn__sim_dag(sim), g->oracle, g->p);
				st = stn__sim_set_parallelism(sim, g->p, eb);
				if (st != STN_OK)
					goto done;
				stn_history_decision d = {seq, t, t ? t - 1 : 0, n, g->ids, g->p, g->prob,
							  "random configuration around the oracle",
							  "histgen"};
				st = stn__history_put_decision(g->h, key, &d, eb);
				if (st == STN_OK)
					st = stn__history_ack_decision(g->h, key, seq, t, eb);
				if (st != STN_OK)
					goto done;
				g->rep.decisions++;
				seq++;
				next_config = t + hg_between(&r, o->config_min, o->config_max);
			}
			st = stn__sim_step(sim, eb);
			if (st != STN_OK)
				goto done;
			stn_window w = *stn__sim_window(sim); /* shallow: renumbered, ops shared */
			w.index = t;
			w.epoch = t;
			st = stn__history_put_window(g->h, key, &w, eb);
			if (st != STN_OK)
				goto done;
			g->rep.windows++;
			for (size_t v = 0; v < n; v++) {
				int l = w.ops[v].label;
				g->rep.bottleneck += l == STN_LABEL_BOTTLENECK;
				g->rep.ok += l == STN_LABEL_OK;
				g->rep.none += l != STN_LABEL_BOTTLENECK && l != STN_LABEL_OK;
			}
		}
	}
done:
	stn__sim_destroy(sim);
	stn__sim_job_fini(&job);
	return st;
}

static void remove_db(const char *path)
{
	char buf[4200];
	unlink(path);
	snprintf(buf, sizeof(buf), "%s-wal", path);
	unlink(buf);
	snprintf(buf, sizeof(buf), "%s-shm", path);
	unlink(buf);
	snprintf(buf, sizeof(buf), "%s-journal", path);
	unlink(buf);
}

stn_status stn__histgen_write(const char *path, const stn_histgen_opts *o,
			      stn_progress_fn progress, void *user, stn_histgen_report *rep,
			      stn_errbuf *eb)
{
	hg_state g;
	char tmp[4096];
	stn_status st;
	size_t maxn = STN_DAG_MAX_OPS;

	memset(&g, 0, sizeof(g));
	if (rep != NULL)
		memset(rep, 0, sizeof(*rep));
	if (path == NULL || path[0] == '\0')
		return stn__fail(eb, STN_EINVAL, "no output path");
	st = histgen_check(o, eb);
	if (st != STN_OK)
		return st;
	if (access(path, F_OK) == 0)
		return stn__fail(eb, STN_EINVAL, "%s exists; history generate writes a new file",
				 path);
	if (snprintf(tmp, sizeof(tmp), "%s.tmp%ld", path, (long)getpid()) >= (int)sizeof(tmp))
		return stn__fail(eb, STN_EINVAL, "path too long");
	remove_db(tmp);
	g.o = o;
	g.trace = stn__malloc_array(o->windows, sizeof(double));
	g.oracle = stn__malloc_array(maxn, sizeof(uint32_t));
	g.p = stn__malloc_array(maxn, sizeof(uint32_t));
	g.ids = stn__malloc_array(maxn, sizeof(uint32_t));
	g.prob = stn__calloc(maxn, sizeof(double));
	if (!g.trace || !g.oracle || !g.p || !g.ids || !g.prob) {
		st = stn__fail(eb, STN_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t v = 0; v < maxn; v++)
		g.prob[v] = -1.0; /* the generator has no model probability */
	stn_history_opts ho = {false, false};
	st = stn__history_open(tmp, &ho, &g.h, eb);
	if (st != STN_OK)
		goto out;
	progress_call(progress, user, "generate", 0.0);
	for (size_t j = 0; j < o->jobs && st == STN_OK; j++) {
		st = stn__history_begin(g.h, eb);
		if (st == STN_OK)
			st = histgen_job(&g, j, eb);
		if (st == STN_OK)
			st = stn__history_commit(g.h, eb);
		else
			stn__history_rollback(g.h);
		progress_call(progress, user, "generate", (double)(j + 1) / (double)o->jobs);
	}
	stn__history_close(g.h);
	g.h = NULL;
	if (st == STN_OK && rename(tmp, path) != 0)
		st = stn__fail(eb, STN_EIO, "renaming %s to %s: %s", tmp, path, strerror(errno));
	if (st == STN_OK && rep != NULL)
		*rep = g.rep;
out:
	if (st != STN_OK)
		remove_db(tmp);
	stn__free(g.trace);
	stn__free(g.oracle);
	stn__free(g.p);
	stn__free(g.ids);
	stn__free(g.prob);
	return st;
}

/* ---- pre-training data -------------------------------------------------------------------- */

/* An episode: consecutive windows of one job at one DAG version. dag carries the median
 * reconstructed source rates; the labelled windows are kept as flat arrays. */
typedef struct pt_episode {
	size_t job;
	size_t udag;          /* index into the unique DAGs */
	stn_dag dag;
	size_t n_all;         /* windows read */
	size_t n_win, cap_win;/* windows kept (at least one label) */
	double *lambda;       /* n_win x n_ops */
	uint32_t *p;
	int8_t *label;
	uint64_t obs, pos;
} pt_episode;

typedef struct pt_job {
	char *name;
	size_t first, n_eps; /* episodes */
} pt_job;

typedef struct pt_udag {
	uint64_t hash;
	size_t episode;      /* first episode with this structure: its DAG is the unique one */
} pt_udag;

struct stn_pretrain_data {
	pt_job *jobs;
	size_t n_jobs, cap_jobs;
	pt_episode *eps;
	size_t n_eps, cap_eps;
	pt_udag *udags;
	size_t n_udags, cap_udags;
	stn_model_history *hist;
	size_t n_hist;
	uint64_t windows, values;
};

static bool grow(void **arr, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap)
		return true;
	size_t c = *cap ? *cap : 16;
	while (c < need)
		c *= 2;
	void *p = stn__realloc_array(*arr, c, size);
	if (p == NULL)
		return false;
	*arr = p;
	*cap = c;
	return true;
}

void stn__pretrain_data_free(stn_pretrain_data *d)
{
	if (d == NULL)
		return;
	for (size_t i = 0; i < d->n_jobs; i++)
		stn__free(d->jobs[i].name);
	for (size_t i = 0; i < d->n_eps; i++) {
		stn__dag_fini(&d->eps[i].dag);
		stn__free(d->eps[i].lambda);
		stn__free(d->eps[i].p);
		stn__free(d->eps[i].label);
	}
	stn__free(d->jobs);
	stn__free(d->eps);
	stn__free(d->udags);
	stn__free(d->hist);
	stn__free(d);
}

size_t stn__pretrain_data_jobs(const stn_pretrain_data *d)
{
	return d != NULL ? d->n_jobs : 0;
}

const char *stn__pretrain_data_job_name(const stn_pretrain_data *d, size_t job)
{
	return d != NULL && job < d->n_jobs ? d->jobs[job].name : NULL;
}

const stn_dag *stn__pretrain_data_job_dag(const stn_pretrain_data *d, size_t job)
{
	if (d == NULL || job >= d->n_jobs || d->jobs[job].n_eps == 0)
		return NULL;
	return &d->eps[d->jobs[job].first].dag;
}

/* What the reader of one history keeps while it walks a job's windows. */
typedef struct pt_reader {
	stn_pretrain_data *d;
	stn_history *h;
	const stn_pretrain_opts *opts;
	const char *path;
	size_t job;
	bool have_ep;
	uint64_t ep_hash;
	stn_dag scratch;         /* the episode's DAG, source rates set per window */
	double *prev_backlog;    /* per operator */
	double *rates;           /* per operator, propagated */
	double *src_series;      /* windows x sources of the episode, for the medians */
	size_t n_series, cap_series, n_src;
	uint32_t *src_idx;
	uint64_t digest;
	uint64_t windows;
	stn_status st;
	stn_errbuf *eb;
} pt_reader;

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Closes the open episode: median source rates into its DAG, unique DAG bookkeeping. */
static stn_status episode_close(pt_reader *r)
{
	if (!r->have_ep)
		return STN_OK;
	stn_pretrain_data *d = r->d;
	pt_episode *e = &d->eps[d->n_eps - 1];
	r->have_ep = false;
	if (r->n_series > 0) {
		double *col = stn__malloc_array(r->n_series, sizeof(double));
		if (col == NULL)
			return stn__fail(r->eb, STN_ENOMEM, "out of memory");
		for (size_t s = 0; s < r->n_src; s++) {
			for (size_t k = 0; k < r->n_series; k++)
				col[k] = r->src_series[k * r->n_src + s];
			qsort(col, r->n_series, sizeof(double), cmp_double);
			double med = col[r->n_series / 2];
			if (med > 0.0 && isfinite(med))
				e->dag.ops[r->src_idx[s]].source_rate = med;
		}
		stn__free(col);
	}
	uint64_t h = stn__dag_hash(&e->dag);
	size_t u;
	for (u = 0; u < d->n_udags; u++)
		if (d->udags[u].hash == h)
			break;
	if (u == d->n_udags) {
		if (!grow((void **)&d->udags, &d->cap_udags, d->n_udags + 1, sizeof(pt_udag)))
			return stn__fail(r->eb, STN_ENOMEM, "out of memory");
		d->udags[u].hash = h;
		d->udags[u].episode = d->n_eps - 1;
		d->n_udags++;
	}
	e->udag = u;
	return STN_OK;
}

static stn_status episode_open(pt_reader *r, uint64_t hash)
{
	stn_pretrain_data *d = r->d;
	stn_errbuf *eb = r->eb;
	stn_status st;

	st = stn__history_dag_by_hash(r->h, hash, &r->scratch, eb);
	if (st != STN_OK) {
		char why[STN_ERRMSG_CAP];
		snprintf(why, sizeof(why), "%s", eb->text); /* eb is also the destination */
		return stn__fail(eb, st == STN_ENOTFOUND ? STN_ECORRUPT : st,
				 "%s: job %s: DAG version %016llx: %.300s", r->path,
				 d->jobs[r->job].name, (unsigned long long)hash, why);
	}
	if (r->scratch.n_ops > r->opts->max_ops)
		return stn__fail(eb, STN_ETOOBIG,
				 "%s: job %s has a DAG of %zu operators; the limit is %u (--max-ops)",
				 r->path, d->jobs[r->job].name, r->scratch.n_ops, r->opts->max_ops);
	stn_errbuf tmp = {{0}};
	if (stn__dag_validate(&r->scratch, &tmp) != STN_OK)
		return stn__fail(eb, STN_ECORRUPT, "%s: job %s: stored DAG is not valid: %s", r->path,
				 d->jobs[r->job].name, tmp.text);
	if (!grow((void **)&d->eps, &d->cap_eps, d->n_eps + 1, sizeof(pt_episode)))
		return stn__fail(eb, STN_ENOMEM, "out of memory");
	pt_episode *e = &d->eps[d->n_eps];
	memset(e, 0, sizeof(*e));
	e->job = r->job;
	stn__dag_init(&e->dag);
	d->n_eps++;
	d->jobs[r->job].n_eps++;
	st = stn__dag_copy(&e->dag, &r->scratch);
	if (st != STN_OK)
		return stn__fail(eb, st, "out of memory");
	size_t n = r->scratch.n_ops;
	stn__free(r->prev_backlog);
	stn__free(r->rates);
	stn__free(r->src_idx);
	r->prev_backlog = stn__calloc(n ? n : 1, sizeof(double)); /* episodes start empty */
	r->rates = stn__calloc(n ? n : 1, sizeof(double));
	r->src_idx = stn__calloc(n ? n : 1, sizeof(uint32_t));
	if (!r->prev_backlog || !r->rates || !r->src_idx)
		return stn__fail(eb, STN_ENOMEM, "out of memory");
	r->n_src = 0;
	for (size_t v = 0; v < n; v++)
		if (r->scratch.ops[v].kind == STN_KIND_SOURCE)
			r->src_idx[r->n_src++] = (uint32_t)v;
	r->n_series = 0;
	r->have_ep = true;
	r->ep_hash = hash;
	return STN_OK;
}

double stn__pretrain_source_rate(const stn_op_window *o, double prev_backlog, double window_s)
{
	double emitted = 0.0;
	if (o->rate_in > 0.0)
		emitted = o->rate_in;
	else if (isfinite(o->rate_out) && o->rate_out > 0.0)
		emitted = o->rate_out;
	double t = emitted + (o->backlog_sum - prev_backlog) / window_s;
	return t > 0.0 ? t : emitted;
}

static bool read_window(void *user, uint64_t dag_hash, const stn_window *w)
{
	pt_reader *r = user;
	stn_pretrain_data *d = r->d;
	stn_errbuf *eb = r->eb;

	if (!r->have_ep || dag_hash != r->ep_hash) {
		r->st = episode_close(r);
		if (r->st == STN_OK)
			r->st = episode_open(r, dag_hash);
		if (r->st != STN_OK)
			return false;
	}
	const stn_dag *g = &r->scratch;
	size_t n = g->n_ops;
	pt_episode *e = &d->eps[d->n_eps - 1];
	double T = (w->duration_ms > 0 ? w->duration_ms : 1000u) / 1000.0;
	if (w->n_ops != n) {
		r->st = stn__fail(eb, STN_ECORRUPT,
				  "%s: job %s: window %llu has %zu operators, its DAG %zu", r->path,
				  d->jobs[r->job].name, (unsigned long long)w->index, w->n_ops, n);
		return false;
	}
	bool labelled = false;
	uint64_t h = r->digest;
	h = fnv_u64(h, w->index);
	h = fnv_u64(h, dag_hash);
	h = fnv_u64(h, w->duration_ms);
	for (size_t v = 0; v < n; v++) {
		const stn_op_window *o = &w->ops[v];
		if (o->op_id != g->ops[v].id || o->parallelism < 1 ||
		    o->parallelism > STN_DAG_MAX_PARALLELISM || !isfinite(o->rate_in) ||
		    o->rate_in < 0 || !isfinite(o->backlog_sum) || o->backlog_sum < 0 ||
		    o->label < -1 || o->label > 1) {
			r->st = stn__fail(eb, STN_ECORRUPT,
					  "%s: job %s: window %llu does not fit its DAG (operator %zu)",
					  r->path, d->jobs[r->job].name, (unsigned long long)w->index,
					  v);
			return false;
		}
		labelled = labelled || o->label != STN_LABEL_NONE;
		h = fnv_u64(h, o->op_id);
		h = fnv_u64(h, o->parallelism);
		h = fnv_u64(h, (uint64_t)(int64_t)o->label);
		h = fnv_f64(h, o->rate_in);
		h = fnv_f64(h, o->rate_out);
		h = fnv_f64(h, o->backlog_sum);
	}
	r->digest = h;
	if (++d->windows > STN_PRETRAIN_MAX_WINDOWS) {
		r->st = stn__fail(eb, STN_ETOOBIG, "more than %u windows in the histories",
				  STN_PRETRAIN_MAX_WINDOWS);
		return false;
	}
	r->windows++;
	e->n_all++;
	/* Target source rates (see stn__pretrain_source_rate). */
	if (!grow((void **)&r->src_series, &r->cap_series, (r->n_series + 1) * (r->n_src + 1),
		  sizeof(double))) {
		r->st = stn__fail(eb, STN_ENOMEM, "out of memory");
		return false;
	}
	for (size_t v = 0; v < n; v++)
		r->scratch.ops[v].source_rate = 0.0;
	for (size_t s = 0; s < r->n_src; s++) {
		uint32_t v = r->src_idx[s];
		const stn_op_window *o = &w->ops[v];
		double t = stn__pretrain_source_rate(o, r->prev_backlog[v], T);
		r->scratch.ops[v].source_rate = t;
		r->src_series[r->n_series * r->n_src + s] = t;
	}
	r->n_series++;
	for (size_t v = 0; v < n; v++)
		r->prev_backlog[v] = w->ops[v].backlog_sum;
	if (!labelled)
		return true;
	if (stn__dag_propagate_rates(&r->scratch, r->rates, NULL) != STN_OK) {
		r->st = stn__fail(eb, STN_ENOMEM, "out of memory");
		return false;
	}
	d->values += n;
	if (d->values > STN_PRETRAIN_MAX_VALUES) {
		r->st = stn__fail(eb, STN_ETOOBIG, "more than %u operator-windows in the histories",
				  STN_PRETRAIN_MAX_VALUES);
		return false;
	}
	size_t k = e->n_win;
	if (k == e->cap_win) {
		size_t c = e->cap_win ? 2 * e->cap_win : 16;
		double *l = stn__realloc_array(e->lambda, c * n, sizeof(double));
		if (l != NULL)
			e->lambda = l;
		uint32_t *p = stn__realloc_array(e->p, c * n, sizeof(uint32_t));
		if (p != NULL)
			e->p = p;
		int8_t *lb = stn__realloc_array(e->label, c * n, sizeof(int8_t));
		if (lb != NULL)
			e->label = lb;
		if (l == NULL || p == NULL || lb == NULL) {
			r->st = stn__fail(eb, STN_ENOMEM, "out of memory");
			return false;
		}
		e->cap_win = c;
	}
	for (size_t v = 0; v < n; v++) {
		double lam = r->rates[v];
		e->lambda[k * n + v] = lam > 1e-3 && isfinite(lam) ? lam : 1e-3;
		e->p[k * n + v] = w->ops[v].parallelism;
		e->label[k * n + v] = (int8_t)w->ops[v].label;
		e->obs += w->ops[v].label != STN_LABEL_NONE;
		e->pos += w->ops[v].label == STN_LABEL_BOTTLENECK;
	}
	e->n_win++;
	return true;
}

typedef struct job_list {
	int64_t *keys;
	char **names;
	size_t n, cap;
	bool oom;
} job_list;

static bool list_job(void *user, const stn_history_job *j)
{
	job_list *l = user;
	size_t c = l->cap;
	if (!grow((void **)&l->keys, &c, l->n + 1, sizeof(int64_t)) ||
	    !grow((void **)&l->names, &l->cap, l->n + 1, sizeof(char *))) {
		l->oom = true;
		return false;
	}
	l->names[l->n] = stn__strdup(j->job != NULL ? j->job : "");
	if (l->names[l->n] == NULL) {
		l->oom = true;
		return false;
	}
	l->keys[l->n++] = j->key;
	return true;
}

static stn_status load_one(stn_pretrain_data *d, const char *path, const stn_pretrain_opts *opts,
			   stn_model_history *rec, stn_errbuf *eb)
{
	stn_history_opts ro = {true, false};
	stn_history *h = NULL;
	job_list jl;
	pt_reader r;
	stn_status st;

	memset(&jl, 0, sizeof(jl));
	memset(&r, 0, sizeof(r));
	stn__dag_init(&r.scratch);
	st = stn__history_open(path, &ro, &h, eb);
	if (st != STN_OK)
		return st;
	st = stn__history_each_job(h, list_job, &jl, eb);
	if (st == STN_OK && jl.oom)
		st = stn__fail(eb, STN_ENOMEM, "out of memory");
	if (st != STN_OK)
		goto out;
	r.d = d;
	r.h = h;
	r.opts = opts;
	r.path = path;
	r.eb = eb;
	r.digest = FNV_START;
	for (size_t j = 0; j < jl.n; j++) {
		if (!grow((void **)&d->jobs, &d->cap_jobs, d->n_jobs + 1, sizeof(pt_job))) {
			st = stn__fail(eb, STN_ENOMEM, "out of memory");
			goto out;
		}
		pt_job *pj = &d->jobs[d->n_jobs];
		pj->name = jl.names[j];
		jl.names[j] = NULL;
		pj->first = d->n_eps;
		pj->n_eps = 0;
		r.job = d->n_jobs++;
		r.digest = fnv_bytes(r.digest, pj->name, strlen(pj->name) + 1);
		r.st = STN_OK;
		st = stn__history_each_window(h, jl.keys[j], read_window, &r, eb);
		if (st == STN_OK)
			st = r.st;
		if (st == STN_OK)
			st = episode_close(&r);
		if (st != STN_OK)
			goto out;
	}
	if (r.windows == 0) {
		st = stn__fail(eb, STN_ECORRUPT, "%s: the history holds no windows", path);
		goto out;
	}
	memset(rec, 0, sizeof(*rec));
	snprintf(rec->name, sizeof(rec->name), "%s", base_name(path));
	rec->digest = r.digest;
	rec->jobs = jl.n;
	rec->windows = r.windows;
out:
	if (st != STN_OK && strstr(eb->text, path) == NULL) {
		/* Name the file; a database error while reading is a damaged history. */
		char msg[STN_ERRMSG_CAP];
		snprintf(msg, sizeof(msg), "%s", eb->text);
		st = stn__fail(eb, st == STN_EDB ? STN_ECORRUPT : st, "%s: %.400s", path, msg);
	}
	for (size_t j = 0; j < jl.n; j++)
		stn__free(jl.names[j]);
	stn__free(jl.names);
	stn__free(jl.keys);
	stn__free(r.prev_backlog);
	stn__free(r.rates);
	stn__free(r.src_idx);
	stn__free(r.src_series);
	stn__dag_fini(&r.scratch);
	stn__history_close(h);
	return st;
}

static stn_status opts_check(const stn_pretrain_opts *o, stn_errbuf *eb)
{
	stn_status st = stn__net_config_check(&o->net, eb);
	if (st != STN_OK)
		return st;
	if (o->net.feat_dim != STN_GNN_FEAT_DIM)
		return stn__fail(eb, STN_EINVAL, "feature dimension %u, this build has %u",
				 o->net.feat_dim, STN_GNN_FEAT_DIM);
	if (o->k_min < 1 || o->k_max < o->k_min || o->k_max > STN_CLUSTER_MAX_K ||
	    o->k_max + 1 > STN_MODEL_MAX_MEMBERS)
		return stn__fail(eb, STN_EINVAL, "cluster range %zu..%zu is not valid", o->k_min,
				 o->k_max);
	if (!(o->radius_quantile > 0.0 && o->radius_quantile <= 1.0) || !(o->margin > 0.0) ||
	    !isfinite(o->margin))
		return stn__fail(eb, STN_EINVAL, "radius quantile or margin out of range");
	if (o->max_ops == 0 || o->max_ops > STN_DAG_MAX_OPS)
		return stn__fail(eb, STN_EINVAL, "max_ops must be 1..%u", STN_DAG_MAX_OPS);
	if (o->threads == 0 || o->threads > STN_GED_MAX_THREADS)
		return stn__fail(eb, STN_EINVAL, "threads must be 1..%u", STN_GED_MAX_THREADS);
	if (o->train.max_epochs == 0 || o->train.batch == 0 || !(o->train.lr > 0.0) ||
	    !(o->train.val_fraction > 0.0 && o->train.val_fraction < 1.0))
		return stn__fail(eb, STN_EINVAL, "bad training options");
	return STN_OK;
}

void stn__pretrain_opts_default(stn_pretrain_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->net.layers = 2;
	o->net.width = 32;
	o->net.feat_dim = STN_GNN_FEAT_DIM;
	stn__train_opts_default(&o->train);
	o->train.max_epochs = 40;
	o->train.batch = 16;
	o->train.lr = 3e-3;
	o->train.val_fraction = 0.2;
	o->train.patience = 6;
	o->train.seed = 1;
	o->seed = 1;
	o->k_min = 2;
	o->k_max = 8;
	o->radius_quantile = 0.9;
	o->margin = 1.5;
	o->ged_exact_max_nodes = 12;
	o->max_ops = STN_PRETRAIN_DEFAULT_MAX_OPS;
	o->min_cluster_windows = 40;
	o->threads = 2;
	o->blas = false;
}

stn_status stn__pretrain_load(stn_pretrain_data **out, const char *const *paths, size_t n,
			      const stn_pretrain_opts *opts, stn_progress_fn progress, void *user,
			      stn_errbuf *eb)
{
	*out = NULL;
	stn_status st = opts_check(opts, eb);
	if (st != STN_OK)
		return st;
	if (n == 0 || paths == NULL)
		return stn__fail(eb, STN_EINVAL, "no history given");
	if (n > STN_PRETRAIN_MAX_HISTORIES)
		return stn__fail(eb, STN_ETOOBIG, "more than %u histories",
				 STN_PRETRAIN_MAX_HISTORIES);
	stn_pretrain_data *d = stn__calloc(1, sizeof(*d));
	if (d == NULL)
		return stn__fail(eb, STN_ENOMEM, "out of memory");
	d->hist = stn__calloc(n, sizeof(stn_model_history));
	if (d->hist == NULL) {
		stn__pretrain_data_free(d);
		return stn__fail(eb, STN_ENOMEM, "out of memory");
	}
	progress_call(progress, user, "load", 0.0);
	for (size_t i = 0; i < n; i++) {
		st = load_one(d, paths[i], opts, &d->hist[i], eb);
		if (st != STN_OK) {
			stn__pretrain_data_free(d);
			return st;
		}
		d->n_hist = i + 1;
		progress_call(progress, user, "load", (double)(i + 1) / (double)n);
	}
	uint64_t labelled = 0;
	for (size_t i = 0; i < d->n_eps; i++)
		labelled += d->eps[i].n_win;
	if (labelled == 0) {
		stn__pretrain_data_free(d);
		return stn__fail(eb, STN_EINVAL, "the histories hold no labelled window");
	}
	*out = d;
	return STN_OK;
}

/* ---- fitting ------------------------------------------------------------------------------ */

typedef struct pt_member_job {
	stn_train_set set;
	stn_net net;
	stn_train_report rep;
	uint64_t seed;
	bool train;       /* false: shares the global parameters */
	const stn_net *warm; /* start from these parameters (the global member's); NULL: random */
	bool done;
	stn_status st;
	stn_errbuf eb;
	uint64_t windows, labelled, obs, pos, dags;
} pt_member_job;

typedef struct pt_pool {
	pthread_mutex_t mu;
	pt_member_job *m;
	size_t n, next, done;
	const stn_pretrain_opts *opts;
	stn_progress_fn progress;
	void *user;
} pt_pool;

static void train_member(pt_member_job *mj, const stn_pretrain_opts *opts)
{
	stn_train_opts to = opts->train;
	if (mj->warm != NULL)
		memcpy(mj->net.w, mj->warm->w, mj->net.n_params * sizeof(double));
	else
		stn__net_init_random(&mj->net, mj->seed);
	to.seed = mix64(mj->seed ^ 0x747261696eull);
	mj->st = stn__train_fit(&mj->net, &mj->set, &to, &mj->rep, &mj->eb);
}

static void *pool_worker(void *arg)
{
	pt_pool *p = arg;
	for (;;) {
		pthread_mutex_lock(&p->mu);
		size_t i = p->next;
		while (i < p->n && !p->m[i].train)
			i++;
		p->next = i + 1;
		pthread_mutex_unlock(&p->mu);
		if (i >= p->n)
			return NULL;
		train_member(&p->m[i], p->opts);
		pthread_mutex_lock(&p->mu);
		p->m[i].done = true;
		p->done++;
		size_t total = 0;
		for (size_t k = 0; k < p->n; k++)
			total += p->m[k].train;
		progress_call(p->progress, p->user, "train", (double)p->done / (double)total);
		pthread_mutex_unlock(&p->mu);
	}
}

typedef struct ged_prog {
	stn_progress_fn fn;
	void *user;
} ged_prog;

static void ged_progress(void *user, uint64_t done, uint64_t total)
{
	ged_prog *g = user;
	progress_call(g->fn, g->user, "ged", total ? (double)done / (double)total : 1.0);
}

/* Adds an episode's DAG and labelled windows to a training set. */
static stn_status add_episode(stn_train_set *s, const pt_episode *e, stn_errbuf *eb)
{
	size_t gi;
	stn_status st = stn__train_set_add_graph(s, &e->dag, &gi, eb);
	size_t n = e->dag.n_ops;
	for (size_t k = 0; k < e->n_win && st == STN_OK; k++)
		st = stn__train_set_add_sample(s, gi, e->lambda + k * n, e->p + k * n,
					       e->label + k * n, eb);
	return st;
}

stn_status stn__pretrain_fit(const stn_pretrain_data *d, const bool *job_mask,
			     const stn_pretrain_opts *opts, stn_progress_fn progress, void *user,
			     stn_model *out, stn_pretrain_report *rep, stn_errbuf *eb)
{
	stn_pretrain_report rp;
	stn_status st = opts_check(opts, eb);
	size_t *eps = NULL, *ulocal = NULL, *umap = NULL, n_eps = 0, n_u = 0, k = 0;
	const stn_dag **udags = NULL;
	double *dist = NULL;
	stn_clustering cl;
	pt_member_job *mj = NULL;
	size_t n_members = 0;
	bool blas_was = stn__nn_blas();
	double t0;

	memset(&rp, 0, sizeof(rp));
	memset(&cl, 0, sizeof(cl));
	memset(out, 0, sizeof(*out));
	if (st != STN_OK)
		return st;
	if (d == NULL)
		return stn__fail(eb, STN_EINVAL, "no data");
	/* Selected episodes and their distinct DAGs, in order of first appearance. */
	eps = stn__malloc_array(d->n_eps ? d->n_eps : 1, sizeof(size_t));
	ulocal = stn__malloc_array(d->n_eps ? d->n_eps : 1, sizeof(size_t));
	umap = stn__malloc_array(d->n_udags ? d->n_udags : 1, sizeof(size_t));
	udags = stn__malloc_array(d->n_udags ? d->n_udags : 1, sizeof(*udags));
	if (!eps || !ulocal || !umap || !udags) {
		st = stn__fail(eb, STN_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t u = 0; u < d->n_udags; u++)
		umap[u] = SIZE_MAX;
	uint64_t labelled = 0;
	for (size_t j = 0; j < d->n_jobs; j++) {
		if (job_mask != NULL && !job_mask[j])
			continue;
		rp.jobs++;
		for (size_t e = d->jobs[j].first; e < d->jobs[j].first + d->jobs[j].n_eps; e++) {
			const pt_episode *ep = &d->eps[e];
			rp.episodes++;
			rp.windows += ep->n_all;
			rp.observations += ep->obs;
			rp.positives += ep->pos;
			labelled += ep->n_win;
			if (umap[ep->udag] == SIZE_MAX) {
				umap[ep->udag] = n_u;
				udags[n_u++] = &d->eps[d->udags[ep->udag].episode].dag;
			}
			ulocal[n_eps] = umap[ep->udag];
			eps[n_eps++] = e;
		}
	}
	rp.unique_dags = n_u;
	if (labelled < 2) {
		st = stn__fail(eb, STN_EINVAL, "the selection has %llu labelled windows; at least 2 "
				"are needed", (unsigned long long)labelled);
		goto out;
	}
	if (n_u > STN_CLUSTER_MAX_ITEMS) {
		st = stn__fail(eb, STN_ETOOBIG, "%zu distinct DAGs; clustering takes up to %u", n_u,
			       STN_CLUSTER_MAX_ITEMS);
		goto out;
	}
	/* GED matrix. */
	size_t nn;
	if (stn__mul_overflow(n_u, n_u, &nn) || (dist = stn__calloc(nn, sizeof(double))) == NULL) {
		st = stn__fail(eb, STN_ENOMEM, "out of memory for the distance matrix");
		goto out;
	}
	t0 = now_s();
	{
		stn_ged_opts go = stn__ged_opts_default();
		stn_ged_matrix_stats gs;
		ged_prog gp = {progress, user};
		go.method = STN_GED_AUTO;
		go.exact_max_nodes = opts->ged_exact_max_nodes;
		go.want_path = false;
		progress_call(progress, user, "ged", 0.0);
		memset(&gs, 0, sizeof(gs));
		st = stn__ged_matrix(udags, n_u, &go, opts->threads, dist, NULL, ged_progress, &gp,
				     &gs, eb);
		if (st != STN_OK)
			goto out;
		progress_call(progress, user, "ged", 1.0);
		rp.ged_pairs = gs.pairs;
		rp.ged_exact_pairs = gs.exact_pairs;
	}
	rp.seconds_ged = now_s() - t0;
	/* Clusters. */
	t0 = now_s();
	progress_call(progress, user, "cluster", 0.0);
	{
		stn_cluster_opts co = stn__cluster_opts_default();
		co.k_min = opts->k_min;
		co.k_max = opts->k_max;
		co.radius_quantile = opts->radius_quantile;
		st = n_u >= 2 ? stn__cluster_fit(dist, n_u, &co, &cl, eb)
			      : stn__cluster_pam(dist, n_u, 1, &co, &cl, eb);
		if (st != STN_OK)
			goto out;
	}
	k = cl.k;
	rp.k = k;
	rp.silhouette = cl.silhouette;
	progress_call(progress, user, "cluster", 1.0);
	rp.seconds_cluster = now_s() - t0;
	/* Members: the global one, then one per cluster. */
	t0 = now_s();
	n_members = 1 + k;
	mj = stn__calloc(n_members, sizeof(*mj));
	if (mj == NULL) {
		st = stn__fail(eb, STN_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n_members; i++) {
		stn__train_set_init(&mj[i].set);
		mj[i].seed = mix64(opts->seed ^ mix64(0x6d656d62ull + i));
		st = stn__net_init(&mj[i].net, &opts->net, eb);
		if (st != STN_OK)
			goto out;
	}
	mj[0].dags = n_u;
	for (size_t c = 0; c < k; c++)
		mj[1 + c].dags = cl.size[c];
	for (size_t x = 0; x < n_eps; x++) {
		const pt_episode *ep = &d->eps[eps[x]];
		size_t members[2] = {0, 1 + cl.assign[ulocal[x]]};
		for (int t = 0; t < 2; t++) {
			pt_member_job *m = &mj[members[t]];
			m->windows += ep->n_all;
			m->labelled += ep->n_win;
			m->obs += ep->obs;
			m->pos += ep->pos;
			if (ep->n_win == 0)
				continue;
			st = add_episode(&m->set, ep, eb);
			if (st != STN_OK)
				goto out;
		}
	}
	mj[0].train = true;
	for (size_t c = 0; c < k; c++) {
		pt_member_job *m = &mj[1 + c];
		m->train = m->labelled >= opts->min_cluster_windows && m->labelled >= 2;
		if (!m->train)
			rp.shared_members++;
	}
	stn__nn_set_blas(opts->blas);
	progress_call(progress, user, "train", 0.0);
	{
		pt_pool pool;
		pthread_t th[STN_GED_MAX_THREADS];
		size_t nt = opts->threads, started = 0;
		memset(&pool, 0, sizeof(pool));
		pthread_mutex_init(&pool.mu, NULL);
		pool.m = mj;
		pool.n = n_members;
		pool.opts = opts;
		pool.progress = progress;
		pool.user = user;
		if (nt > n_members)
			nt = n_members;
		/* The global member first; every cluster member then starts from its parameters
		 * and is fine-tuned on its cluster's windows, in parallel. */
		train_member(&mj[0], opts);
		mj[0].done = true;
		pool.done = 1;
		pool.next = 1;
		{
			size_t total = 0;
			for (size_t i = 0; i < n_members; i++)
				total += mj[i].train;
			progress_call(progress, user, "train", 1.0 / (double)total);
		}
		for (size_t i = 1; i < n_members; i++)
			mj[i].warm = mj[0].st == STN_OK ? &mj[0].net : NULL;
		if (mj[0].st != STN_OK)
			pool.next = n_members; /* nothing more: the error is reported below */
		for (size_t i = 1; i < nt; i++)
			if (pthread_create(&th[i], NULL, pool_worker, &pool) == 0)
				started = i;
			else
				break;
		pool_worker(&pool);
		for (size_t i = 1; i <= started; i++)
			pthread_join(th[i], NULL);
		pthread_mutex_destroy(&pool.mu);
	}
	stn__nn_set_blas(blas_was);
	for (size_t i = 0; i < n_members; i++)
		if (mj[i].train && mj[i].st != STN_OK) {
			st = stn__fail(eb, mj[i].st, "training %s: %s",
				       i == 0 ? "the global member" : "a cluster member", mj[i].eb.text);
			goto out;
		}
	rp.seconds_train = now_s() - t0;
	/* The model. */
	{
		char desc[512];
		int len = snprintf(desc, sizeof(desc),
				   "pre-trained from %zu histor%s (%llu jobs, %llu windows); %zu clusters, "
				   "silhouette %.3f",
				   d->n_hist, d->n_hist == 1 ? "y" : "ies", (unsigned long long)rp.jobs,
				   (unsigned long long)rp.windows, k, cl.silhouette);
		(void)len;
		st = stn__model_init(out, &opts->net, opts->seed, desc, eb);
		if (st != STN_OK)
			goto out;
		for (size_t i = 0; i < n_members && st == STN_OK; i++) {
			char name[STN_MODEL_MAX_NAME + 1];
			const stn_net *net = mj[i].train ? &mj[i].net : &mj[0].net;
			if (i == 0)
				snprintf(name, sizeof(name), "global");
			else
				snprintf(name, sizeof(name), "cluster-%zu", i - 1);
			st = stn__model_add_member(out, name, net, i == 0 ? NULL : udags[cl.medoid[i - 1]],
						   i == 0 ? 0.0 : cl.radius[i - 1], eb);
			if (st != STN_OK)
				break;
			stn_model_member *mm = &out->members[i];
			mm->dags = mj[i].dags;
			mm->windows = mj[i].windows;
			mm->observations = mj[i].obs;
			mm->positives = mj[i].pos;
			mm->epochs = mj[i].train ? mj[i].rep.epochs : 0;
			mm->val_loss = mj[i].train ? mj[i].rep.best_val_loss : 0.0;
			mm->shared_global = !mj[i].train;
		}
		if (st != STN_OK)
			goto out;
		out->has_info = true;
		out->margin = opts->margin;
		out->train.max_epochs = opts->train.max_epochs;
		out->train.batch = opts->train.batch;
		out->train.patience = opts->train.patience;
		out->train.lr = opts->train.lr;
		out->train.val_fraction = opts->train.val_fraction;
		out->train.k_min = (uint32_t)opts->k_min;
		out->train.k_max = (uint32_t)opts->k_max;
		out->train.radius_quantile = opts->radius_quantile;
		out->train.ged_exact_max_nodes = opts->ged_exact_max_nodes;
		out->train.min_cluster_windows = opts->min_cluster_windows;
		out->train.max_ops = opts->max_ops;
		out->data.jobs = rp.jobs;
		out->data.dag_versions = rp.episodes;
		out->data.unique_dags = rp.unique_dags;
		out->data.windows = rp.windows;
		out->data.observations = rp.observations;
		out->data.positives = rp.positives;
		out->data.silhouette = cl.silhouette;
		out->data.k = (uint32_t)k;
		st = stn__model_set_histories(out, d->hist, d->n_hist, eb);
		if (st != STN_OK)
			goto out;
		uint64_t h = FNV_START;
		for (size_t i = 0; i < d->n_hist; i++) {
			h = fnv_bytes(h, d->hist[i].name, strlen(d->hist[i].name) + 1);
			h = fnv_u64(h, d->hist[i].digest);
		}
		for (size_t j = 0; job_mask != NULL && j < d->n_jobs; j++)
			h = fnv_u64(h, job_mask[j]);
		out->data_hash = h;
	}
	progress_call(progress, user, "train", 1.0);
out:
	stn__nn_set_blas(blas_was);
	if (st != STN_OK)
		stn__model_fini(out);
	for (size_t i = 0; mj != NULL && i < n_members; i++) {
		stn__train_set_fini(&mj[i].set);
		stn__net_fini(&mj[i].net);
	}
	stn__free(mj);
	stn__cluster_fini(&cl);
	stn__free(dist);
	stn__free(eps);
	stn__free(ulocal);
	stn__free(umap);
	stn__free(udags);
	if (rep != NULL)
		*rep = rp;
	return st;
}

stn_status stn__pretrain_run(const char *const *paths, size_t n, const stn_pretrain_opts *opts,
			     stn_progress_fn progress, void *user, stn_model *out,
			     stn_pretrain_report *rep, stn_errbuf *eb)
{
	stn_pretrain_data *d = NULL;
	memset(out, 0, sizeof(*out));
	if (rep != NULL)
		memset(rep, 0, sizeof(*rep));
	stn_status st = stn__pretrain_load(&d, paths, n, opts, progress, user, eb);
	if (st != STN_OK)
		return st;
	st = stn__pretrain_fit(d, NULL, opts, progress, user, out, rep, eb);
	stn__pretrain_data_free(d);
	return st;
}

/* ---- evaluation --------------------------------------------------------------------------- */

typedef struct scored {
	double score;
	int8_t label;
} scored;

static int cmp_scored(const void *a, const void *b)
{
	double x = ((const scored *)a)->score, y = ((const scored *)b)->score;
	return x < y ? -1 : x > y;
}

stn_status stn__pretrain_auc(const stn_model *m, const stn_pretrain_data *d,
			     const bool *job_mask, long member, double *auc, uint64_t *n_obs,
			     stn_errbuf *eb)
{
	scored *s = NULL;
	size_t n = 0, cap = 0;
	double *z = NULL;
	size_t zcap = 0;
	stn_status st = STN_OK;

	*auc = NAN;
	if (n_obs != NULL)
		*n_obs = 0;
	if (m == NULL || d == NULL || m->n_members == 0)
		return stn__fail(eb, STN_EINVAL, "no model or data");
	if (member >= (long)m->n_members)
		return stn__fail(eb, STN_EINVAL, "member %ld out of range", member);
	for (size_t j = 0; j < d->n_jobs && st == STN_OK; j++) {
		if (job_mask != NULL && !job_mask[j])
			continue;
		for (size_t e = d->jobs[j].first; e < d->jobs[j].first + d->jobs[j].n_eps; e++) {
			const pt_episode *ep = &d->eps[e];
			size_t nv = ep->dag.n_ops;
			long mem = member;
			if (ep->n_win == 0)
				continue;
			if (mem < 0) {
				stn_model_assignment a;
				st = stn__model_assign(m, &ep->dag, 0.0, NULL, false, &a, eb);
				mem = a.member;
				stn__model_assignment_fini(&a);
				if (st != STN_OK)
					break;
				if (mem < 0) {
					st = stn__fail(eb, STN_EINVAL, "the model has no usable member");
					break;
				}
			}
			const stn_net *net = &m->members[mem].net;
			size_t H = net->cfg.width;
			if (!grow((void **)&z, &zcap, nv * H, sizeof(double))) {
				st = stn__fail(eb, STN_ENOMEM, "out of memory");
				break;
			}
			st = stn__train_embed(net, &ep->dag, z, eb);
			if (st != STN_OK)
				break;
			for (size_t v = 0; v < nv; v++) {
				stn_head_out ho;
				stn__head_eval(net, z + v * H, 0.0, &ho);
				for (size_t w = 0; w < ep->n_win; w++) {
					int8_t l = ep->label[w * nv + v];
					if (l < 0)
						continue;
					if (!grow((void **)&s, &cap, n + 1, sizeof(scored))) {
						st = stn__fail(eb, STN_ENOMEM, "out of memory");
						goto out;
					}
					s[n].score = stn__head_logit(&ho, log(ep->lambda[w * nv + v]),
								     (double)ep->p[w * nv + v]);
					s[n].label = l;
					n++;
				}
			}
		}
	}
	if (st != STN_OK)
		goto out;
	/* Rank statistic (Mann-Whitney) with ties sharing their mean rank. */
	qsort(s, n, sizeof(scored), cmp_scored);
	double npos = 0, nneg = 0, rank_sum = 0;
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j < n && s[j].score == s[i].score)
			j++;
		double mean_rank = 0.5 * (double)(i + 1 + j);
		for (size_t t = i; t < j; t++)
			if (s[t].label == 1) {
				rank_sum += mean_rank;
				npos++;
			} else {
				nneg++;
			}
		i = j;
	}
	if (npos > 0 && nneg > 0)
		*auc = (rank_sum - npos * (npos + 1) / 2) / (npos * nneg);
	if (n_obs != NULL)
		*n_obs = n;
out:
	stn__free(s);
	stn__free(z);
	return st;
}
