/* policy_impl: helpers shared by the policy implementations (private to policy*.c). */
#ifndef STN_POLICY_IMPL_H
#define STN_POLICY_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dag.h"
#include "policy.h"
#include "status.h"
#include "window.h"

/* Looks up option key; *out = def when absent. Returns false if present but outside [lo, hi]
 * or not finite (eb filled). */
bool stn__policy_opt(const stn_policy_option *opts, size_t n, const char *key, double def,
		     double lo, double hi, double *out, stn_errbuf *eb);
/* STN_EINVAL naming the first option whose key is not in known (NULL-terminated). */
stn_status stn__policy_check_opts(const char *policy, const stn_policy_option *opts, size_t n,
				  const char *const *known, stn_errbuf *eb);

/* What every policy keeps about its job: a private DAG copy, its topological order and the
 * target input rate of each operator (from the source rates and selectivities). */
typedef struct stn_policy_job {
	stn_dag dag;
	uint32_t *order;
	double *target_in;
	uint32_t *cur;      /* parallelism the policy believes is configured */
	double *lambda;     /* scratch: rates propagated from observations */
	double *out;        /* scratch */
	size_t *succ_start; /* successors of v: succ[succ_start[v] .. succ_start[v+1]) */
	uint32_t *succ;
} stn_policy_job;

stn_status stn__policy_job_init(stn_policy_job *j, const stn_dag *dag, stn_errbuf *eb);
void stn__policy_job_fini(stn_policy_job *j);
/* Takes the new source rates from dag (same operators) and recomputes target_in. */
stn_status stn__policy_job_rates(stn_policy_job *j, const stn_dag *dag, stn_errbuf *eb);
/* Checks the window belongs to the job (same operator count). */
stn_status stn__policy_job_check(const stn_policy_job *j, const stn_window *w, stn_errbuf *eb);
/* Target input rate of every operator, propagated in topological order from the target source
 * rates through the observed selectivities (rate_out / rate_in; the DAG's where nothing was
 * processed), as DS2 does. Result in j->lambda. */
void stn__policy_observed_targets(stn_policy_job *j, const stn_window *w);
/* Clamps to [1, p_max of op v]. */
uint32_t stn__policy_clamp(const stn_policy_job *j, size_t v, double p);
/* Appends formatted text to the decision's reason (truncating). */
void stn__policy_reason(stn_decision *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* DS2's rule for one window: next[v] = ceil(lambda_v / r_v * (1 + scaling_factor)), r_v the
 * true processing rate per instance (records / busy time), lambda propagated in topological
 * order from the target source rates through observed selectivities (DAG selectivity where the
 * operator processed nothing). Operators with no useful time keep their parallelism. Returns
 * true when the result differs enough from cur to act (any grows, or one shrinks by > 1). */
bool stn__policy_ds2_rule(stn_policy_job *j, const stn_window *w, double scaling_factor,
			  uint32_t *next);

#endif
