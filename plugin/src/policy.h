/*
 * policy: the one interface every tuning policy implements (streamtune, ds2,
 * flink-autoscaler, conttune, dhalion, static), and the explore policy that records training
 * histories around the bottleneck boundary. A policy instance belongs to one job. It is
 * fed every closed window of that job, in order, and may answer with a decision: the new
 * parallelism of every operator, the predicted bottleneck probability of each at that
 * parallelism (or -1 where the policy has no model) and a reason a person can read.
 * The endpoint and the simulator drive policies the same way, so a policy decides the same on
 * the same windows wherever it runs.
 */
#ifndef STN_POLICY_H
#define STN_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dag.h"
#include "status.h"
#include "window.h"

#define STN_POLICY_REASON_CAP 512

typedef struct stn_decision {
	size_t n_ops;            /* = the job's operators, in DAG order */
	uint32_t *parallelism;   /* new parallelism per operator, 1..p_max */
	double *prob;            /* predicted bottleneck probability at it, or -1 */
	char reason[STN_POLICY_REASON_CAP];
} stn_decision;

stn_status stn__decision_init(stn_decision *d, size_t n_ops);
void stn__decision_fini(stn_decision *d);

/* Options by name (from REGISTER's policy_opts); unknown names are an error of the policy. */
typedef struct stn_policy_option {
	const char *key;
	double value;
} stn_policy_option;

typedef struct stn_policy stn_policy;

typedef struct stn_policy_vtable {
	const char *name;
	/* Creates the policy state for a job. dag is borrowed for the call (copy what is kept);
	 * model may be NULL (policies without a model ignore it). */
	stn_status (*create)(const stn_dag *dag, const stn_policy_option *opts, size_t n_opts,
			     const void *model, stn_policy **out, stn_errbuf *eb);
	/* Feeds one closed window (labels already set by the labeller). If *decided is set on
	 * return, out holds a decision (initialised by the caller for the job's n_ops). The
	 * policy assumes the decision is applied at the next window unless told otherwise. */
	stn_status (*on_window)(stn_policy *p, const stn_window *w, stn_decision *out,
				bool *decided, stn_errbuf *eb);
	/* The source rates changed (the new target rates are in dag's ops' source_rate). */
	stn_status (*on_rates)(stn_policy *p, const stn_dag *dag, stn_errbuf *eb);
	void (*destroy)(stn_policy *p);
	/* Optional: what the job's owner should know of how the policy will decide, e.g. that
	 * it has no model and decides as DS2 does (NULL: nothing); the endpoint logs it as a
	 * warning when the job registers. Borrowed from p. */
	const char *(*caveat)(const stn_policy *p);
	/* True for a policy that explores configurations instead of tuning (explore): it is
	 * found by name like any other, but comparisons of tuning policies (the suite) skip it. */
	bool exploring;
} stn_policy_vtable;

/* The policy implementations, by name ("streamtune", "ds2", ...); NULL if unknown. */
const stn_policy_vtable *stn__policy_find(const char *name);
/* All of them (tuning and exploring), for listings; *n set to the count. */
const stn_policy_vtable *const *stn__policy_all(size_t *n);

#endif
