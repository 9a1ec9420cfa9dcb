/* sim: a deterministic discrete-time simulator of a streaming job with known truth
 * (capacities, scaling, skew, warm-up), producing the endpoint's per-window aggregates and
 * labels, and the oracle minimal parallelism. Also builds random jobs and training sets. */
#ifndef STN_SIM_H
#define STN_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dag.h"
#include "label.h"
#include "status.h"
#include "window.h"

/* Job families. Q0..Q8 follow the Nexmark query graphs (notes/peers.md §6.3). */
typedef enum stn_sim_family {
	STN_SIM_Q0, STN_SIM_Q1, STN_SIM_Q2, STN_SIM_Q3, STN_SIM_Q4,
	STN_SIM_Q5, STN_SIM_Q6, STN_SIM_Q7, STN_SIM_Q8,
	STN_SIM_NEXMARK, /* one of Q0..Q8 chosen by the seed */
	STN_SIM_RANDOM,  /* random layered DAG, 3..60 operators */
	STN_SIM_FAMILY_COUNT
} stn_sim_family;

/* "q0".."q8", "nexmark", "random"; STN_ENOTFOUND otherwise. */
stn_status stn__sim_family_parse(const char *s, stn_sim_family *out);
const char *stn__sim_family_name(stn_sim_family f);

/* True per-operator behaviour. Total capacity at parallelism p, with q = min(p, p_sat):
 * c * q^alpha / (q * h(q)), h(q) = share of the hottest of q instances = 1 / sum_k k^-skew.
 *
 * stn__sim_job_random draws it as a function of what a model can see of the operator, plus
 * modest noise, so that it can be learnt from past jobs (the cost table and its reasons are
 * in sim.c):
 *   c     = 1e6 / cost_us(kind, selectivity, stateful, incoming partitioning) * U(0.85, 1.15)
 *   alpha = alpha(kind) - 0.05 if stateful, +- 0.03, within 0.7..1
 *   skew  = skew(kind) * fraction of hash-partitioned inputs * U(0.8, 1.2)
 *   p_sat = 24..32 for stateful operators, unbounded for stateless ones. */
typedef struct stn_sim_truth {
	double c;       /* records/s of one instance */
	double alpha;   /* parallel scaling exponent, 0.7..1 */
	double skew;    /* Zipf-like key skew over instances, 0 = uniform */
	uint32_t p_sat; /* no gain beyond this parallelism */
} stn_sim_truth;

/* A job: DAG (source_rate = nominal rates, parallelism = start, p_max) and its truth. */
typedef struct stn_sim_job {
	stn_dag dag;
	stn_sim_truth *truth; /* dag.n_ops */
	stn_sim_family family;
} stn_sim_job;

/* The visible part of an operator's true capacity: records/s of one instance of operator
 * index v at the nominal cost of its kind, selectivity, state and incoming partitioning
 * (c divided by its per-operator factor). 0 if v is out of range. */
double stn__sim_nominal_capacity(const stn_dag *d, uint32_t v);

/* Builds a random job of a family. n_ops: for STN_SIM_RANDOM the operator count (3..60),
 * 0 = chosen by the seed; ignored otherwise. Source rates are scaled so the most loaded
 * operator needs about 2..12 instances and every operator keeps up with twice the nominal
 * rate within p_max. Start parallelism = the oracle at rate factor 1. */
stn_status stn__sim_job_random(stn_sim_job *job, stn_sim_family fam, uint32_t n_ops,
			       uint64_t seed, stn_errbuf *eb);
void stn__sim_job_fini(stn_sim_job *job);

/* Rate schedules give a factor applied to every source's nominal rate, per window. */
typedef enum stn_sim_sched_kind {
	STN_SCHED_CONSTANT, /* level */
	STN_SCHED_STEPS,    /* values[i] for step_len windows each, then the last one */
	STN_SCHED_SQUARE,   /* level for period/2 windows, then high for period/2 */
	STN_SCHED_SINE,     /* level + amp * sin(2 pi t / period) */
	STN_SCHED_TRACE     /* values[t], then the last one */
} stn_sim_sched_kind;

#define STN_SIM_SCHED_MAX_VALUES 100000u

typedef struct stn_sim_schedule {
	stn_sim_sched_kind kind;
	double level, high, amp;
	uint32_t period, step_len;
	const double *values; /* copied by stn__sim_create */
	size_t n_values;
} stn_sim_schedule;

/* Factor of window t (>= 0). */
double stn__sim_schedule_factor(const stn_sim_schedule *s, uint64_t t);

typedef struct stn_sim_params {
	uint32_t duration_ms;   /* window length (1000) */
	double noise_busy;      /* relative sd of busy (0.02) */
	double noise_rate;      /* relative sd of rates (0.01) */
	uint32_t warmup_windows;/* windows of reduced capacity after a change (1) */
	double warmup_factor;   /* capacity multiplier during them (0.6) */
	double buffer_s;        /* input buffer of a non-source operator, seconds of target (2) */
	stn_label_params label;
} stn_sim_params;

stn_sim_params stn__sim_params_default(void);

typedef struct stn_sim stn_sim;

/* params and sched may be NULL (defaults; constant factor 1). The job is copied. */
stn_status stn__sim_create(stn_sim **out, const stn_sim_job *job, const stn_sim_params *params,
			   const stn_sim_schedule *sched, uint64_t seed, stn_errbuf *eb);
void stn__sim_destroy(stn_sim *s);

/* Runs one window; its aggregates (labelled) are in stn__sim_window until the next step. */
stn_status stn__sim_step(stn_sim *s, stn_errbuf *eb);
const stn_window *stn__sim_window(const stn_sim *s);

/* A decision: new parallelism for every operator (p[n_ops], each 1..p_max). Operators whose
 * parallelism changes go through a warm-up. */
stn_status stn__sim_set_parallelism(stn_sim *s, const uint32_t *p, stn_errbuf *eb);

const stn_dag *stn__sim_dag(const stn_sim *s);     /* current parallelism in ops[].parallelism */
const stn_sim_truth *stn__sim_truth(const stn_sim *s);
uint64_t stn__sim_windows_done(const stn_sim *s);
/* Rate factor of the next window to run (stn__sim_window's one after a step: pass t-1). */
double stn__sim_factor(const stn_sim *s, uint64_t window);

/* True total capacity (records/s) of a truth at parallelism p (no warm-up). */
double stn__sim_capacity(const stn_sim_truth *t, uint32_t p);
/* Target input rates at a rate factor (out[n_ops]). */
stn_status stn__sim_targets(const stn_sim *s, double factor, double *out);
/* Oracle: for every operator the smallest p in 1..p_max whose true capacity keeps up with
 * its true input rate at the factor (p_max if none does). out[n_ops]. Returns the sum. */
uint64_t stn__sim_oracle(const stn_sim *s, double factor, uint32_t *out);
/* Same for a job without a simulator. */
uint64_t stn__sim_job_oracle(const stn_sim_job *job, double factor, uint32_t *out);

/* A labelled training set: plain arrays, independent of the model's types. */
typedef struct stn_sim_ds_job {
	stn_dag dag;            /* structure, nominal rates, p_max */
	stn_sim_family family;
	uint64_t seed;
	uint32_t *oracle;       /* n_ops, at factor 1 */
	stn_sim_truth *truth;   /* n_ops, the true capacities (for evaluation) */
} stn_sim_ds_job;

typedef struct stn_sim_ds_window {
	size_t job;             /* index into jobs */
	double *lambda;         /* n_ops target input rates (records/s) */
	uint32_t *p;            /* n_ops parallelism */
	int8_t *label;          /* n_ops stn_label */
} stn_sim_ds_window;

typedef struct stn_sim_dataset {
	stn_sim_ds_job *jobs;
	size_t n_jobs;
	stn_sim_ds_window *windows;
	size_t n_windows;
	size_t n_bottleneck, n_ok, n_none; /* label counts over all operators and windows */
} stn_sim_dataset;

/* Per job: configs_per_job configurations, each run from a fresh simulator for 2 warm-up
 * windows plus windows_per_config kept windows at a constant rate factor drawn log-uniform
 * in 0.8..1.4. Every operator starts 0..2 above its oracle; 7 in 10 configurations then
 * under-provision one operator that needs more than one instance, and each other such
 * operator with probability 0.2, by 1..3 instances. */
typedef struct stn_sim_dataset_opts {
	const stn_sim_family *families; /* chosen round-robin */
	size_t n_families;
	size_t n_jobs;
	size_t configs_per_job;  /* random configurations around the oracle (6) */
	size_t windows_per_config; /* labelled windows kept per configuration (4) */
	uint64_t seed;
} stn_sim_dataset_opts;

stn_status stn__sim_dataset_generate(stn_sim_dataset *ds, const stn_sim_dataset_opts *o,
				     stn_errbuf *eb);
void stn__sim_dataset_fini(stn_sim_dataset *ds);

#endif
