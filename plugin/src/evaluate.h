/* evaluate: the closed-loop evaluation protocol (DESIGN §8) of a policy on the simulator:
 * episodes (the start and each source-rate change), convergence (configuration unchanged for
 * W_stable windows with no bottleneck label), reconfigurations per episode, sum of
 * parallelism over the oracle's after convergence, bottleneck windows after convergence, time
 * to stable; and the suite: every policy on the same simulated jobs from the same start. */
#ifndef STN_EVALUATE_H
#define STN_EVALUATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy.h"
#include "sim.h"
#include "status.h"

#define STN_EVAL_W_STABLE 10u

/* Episode accounting, independent of the simulator (fed one window at a time). */
typedef struct stn_eval_acc {
	uint32_t w_stable;
	/* current episode */
	bool open;
	uint64_t ep_windows, ep_reconfigs, stable_run;
	bool converged;
	uint64_t converge_at;      /* windows from the episode's start to the stable run's start */
	double ratio_sum;          /* sum over post-convergence windows of sum p / oracle */
	uint64_t ratio_n;
	/* totals */
	uint64_t episodes, converged_episodes;
	uint64_t reconfigs_total, reconfigs_max;
	double ratio_mean_sum;     /* sum over converged episodes of their mean ratio */
	uint64_t bottleneck_after; /* windows with a bottleneck after convergence */
	uint64_t time_to_stable_sum; /* converged: converge_at; not: the episode length */
} stn_eval_acc;

void stn__eval_acc_init(stn_eval_acc *a, uint32_t w_stable);
/* One window. new_episode: the rates changed before it (or it is the first). reconfigured:
 * the policy changed the configuration at the end of it. bottleneck: some operator labelled
 * a bottleneck in it. sum_p, oracle_sum: configured and oracle sums during it. */
void stn__eval_acc_window(stn_eval_acc *a, bool new_episode, bool reconfigured, bool bottleneck,
			  uint64_t sum_p, uint64_t oracle_sum);
/* Closes the open episode. */
void stn__eval_acc_finish(stn_eval_acc *a);

typedef struct stn_eval_result {
	uint64_t episodes, converged_episodes, reconfigs_total, reconfigs_max;
	double reconfigs_mean;          /* per episode */
	double parallelism_over_oracle; /* mean over converged episodes; 0 if none */
	uint64_t bottleneck_windows_after_convergence;
	double time_to_stable_windows;  /* mean per episode (unconverged count in full) */
	uint64_t safety_violations;     /* decisions outside [1, p_max] or of the wrong size */
	uint64_t windows;
	double decide_seconds;          /* time spent in the policy */
} stn_eval_result;

void stn__eval_acc_result(const stn_eval_acc *a, stn_eval_result *r);

typedef struct stn_eval_run_opts {
	uint64_t windows;
	uint32_t w_stable;
	double episode_threshold; /* relative factor change that starts an episode (0.05) */
	const stn_policy_option *opts;
	size_t n_opts;
	const void *model;
	const uint32_t *start; /* start parallelism per operator, or NULL (the job's) */
	uint64_t sim_seed;
	const stn_sim_params *params; /* NULL: defaults */
	/* Optional per-window trace: called after each window with the decision (or NULL). */
	void (*trace)(void *ctx, uint64_t t, const stn_window *w, const stn_decision *d);
	void *trace_ctx;
} stn_eval_run_opts;

/* Runs policy vt on job under sched; result in r. */
stn_status stn__eval_run(const stn_policy_vtable *vt, const stn_sim_job *job,
			 const stn_sim_schedule *sched, const stn_eval_run_opts *o,
			 stn_eval_result *r, stn_errbuf *eb);

/* The suite. */
/* A policy option of a suite run: for the named policy, or every policy if policy is NULL. */
typedef struct stn_suite_option {
	const char *policy;
	stn_policy_option opt;
} stn_suite_option;

#define STN_SUITE_MAX_OPTIONS 16u

typedef struct stn_suite_opts {
	size_t n_jobs;       /* >= 1; the full suite uses 54 */
	uint64_t windows;    /* per job */
	uint64_t seed;
	const void *model;   /* streamtune's model, or NULL (then local_prior=1 is used) */
	const char *const *policies; /* NULL: all */
	size_t n_policies;
	const stn_suite_option *opts; /* up to STN_SUITE_MAX_OPTIONS */
	size_t n_opts;
} stn_suite_opts;

typedef struct stn_suite_row {
	const char *policy;
	stn_eval_result total;          /* summed counts, means over all episodes */
	double parallelism_over_oracle; /* mean over converged episodes of all jobs */
	double converged_fraction;
} stn_suite_row;

/* Checks o without running it: every policy named is known, and each accepts the options it
 * would run with (names and values, by the policy's own checks). STN_EINVAL with the reason
 * otherwise. */
stn_status stn__eval_suite_check(const stn_suite_opts *o, stn_errbuf *eb);

/* rows has room for every policy; *n_rows set. */
stn_status stn__eval_suite(const stn_suite_opts *o, stn_suite_row *rows, size_t *n_rows,
			   stn_errbuf *eb);

#endif
