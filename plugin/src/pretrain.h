/* pretrain: the "learning from history" pipeline, and the simulator-made histories it learns
 * from.
 *
 * History generation (stn__histgen_write) runs simulated jobs of chosen families and records
 * them through history.h exactly as the endpoint would: the job and its DAG version at
 * registration, every closed window with its per-operator aggregates and labels, and every
 * decision (here: random parallelism configurations around the oracle, most of them
 * under-provisioning some operators) with its acknowledgement. Source rates change on a
 * random step schedule, which the history does not record (the endpoint does not either);
 * some jobs get a second DAG version halfway (a redeployment with one operator's selectivity
 * changed). The file is written under a temporary name and renamed when complete.
 *
 * Pre-training (stn__pretrain_load, then stn__pretrain_fit) reads histories read-only, splits
 * every job into episodes (consecutive windows of one DAG version), deduplicates the DAG
 * versions by content hash, computes the GED matrix between the distinct DAGs (threads),
 * clusters them (PAM, k by silhouette), and trains one encoder+head per cluster plus a
 * global one over all windows, into a version 2 model: the global member first (no DAG), then
 * one member per cluster with its medoid DAG and radius. The global member is trained first;
 * each cluster member starts from its parameters and is fine-tuned on the cluster's windows
 * (the clusters in parallel), which transfers better to unseen DAG families than clusters
 * trained from scratch on their smaller share of the data.
 *
 * Target input rates are not stored in a history; they are reconstructed per window: a
 * source's target rate is what it emitted plus the growth of its backlog over the window
 * (an episode starts from empty queues), propagated through the DAG's selectivities. The
 * encoder sees each episode's DAG with its median reconstructed source rates.
 *
 * Deterministic: the same histories (content, order and base names) and options give a
 * byte-identical model, whatever the thread count. Matrix products use the reference loops
 * unless opts.blas is set, so the result does not depend on the CPU's BLAS kernels. */
#ifndef STN_PRETRAIN_H
#define STN_PRETRAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gnn.h"
#include "model.h"
#include "sim.h"
#include "status.h"
#include "train.h"

/* Progress: phase name (static string), fraction done in [0, 1]. Called from one thread at
 * a time (pre-training serialises its workers' calls), at most a few hundred times a phase. */
typedef void (*stn_progress_fn)(void *user, const char *phase, double fraction);

/* ---- history generation ---------------------------------------------------------------- */

#define STN_HISTGEN_MAX_JOBS 100000u
#define STN_HISTGEN_MAX_WINDOWS 100000u /* per job */
#define STN_HISTGEN_MAX_FAMILIES 32u

typedef struct stn_histgen_opts {
	const stn_sim_family *families; /* jobs take them round-robin */
	size_t n_families;
	uint32_t layered_ops;  /* operators of layered (STN_SIM_RANDOM) jobs, 3..60; 0: random */
	size_t jobs;
	size_t windows;        /* per job */
	uint64_t seed;
	uint32_t config_min, config_max; /* windows between random configurations (8..16) */
	uint32_t rate_min, rate_max;     /* windows between source-rate changes (20..60) */
	double rate_lo, rate_hi;         /* rate factor range (0.6..1.4) */
	double version_prob;             /* chance of a second DAG version halfway (0.2) */
} stn_histgen_opts;

/* The defaults above; families NULL (the caller sets them), 10 layered operators, 10 jobs of
 * 200 windows, seed 1. */
void stn__histgen_opts_default(stn_histgen_opts *o);

/* Family names of `history generate`: "layered" (STN_SIM_RANDOM) and the simulator's names
 * ("q0".."q8", "nexmark", "random"). STN_ENOTFOUND otherwise. */
stn_status stn__histgen_family_parse(const char *s, size_t len, stn_sim_family *out);
/* "layered" for STN_SIM_RANDOM, else the simulator's name. */
const char *stn__histgen_family_name(stn_sim_family f);

typedef struct stn_histgen_report {
	uint64_t jobs, dag_versions, windows, decisions;
	uint64_t bottleneck, ok, none; /* operator labels over all windows */
} stn_histgen_report;

/* Writes a new history at path (which must not exist: STN_EINVAL). Nothing is left at path
 * on error. progress and rep may be NULL. */
stn_status stn__histgen_write(const char *path, const stn_histgen_opts *o,
			      stn_progress_fn progress, void *user, stn_histgen_report *rep,
			      stn_errbuf *eb);

/* ---- pre-training ----------------------------------------------------------------------- */

#define STN_PRETRAIN_MAX_HISTORIES 64u
#define STN_PRETRAIN_DEFAULT_MAX_OPS 128u
#define STN_PRETRAIN_MAX_WINDOWS 2000000u
#define STN_PRETRAIN_MAX_VALUES 40000000u /* operator-windows kept in memory */

typedef struct stn_pretrain_opts {
	stn_net_config net;            /* layers, width (feat_dim: this build's) */
	stn_train_opts train;          /* epochs, batch, lr, validation, patience */
	uint64_t seed;                 /* every member's initialisation and split derive from it */
	size_t k_min, k_max;           /* cluster count range (2..8) */
	double radius_quantile;        /* cluster radius quantile (0.9) */
	double margin;                 /* assignment margin stored in the model (1.5) */
	uint32_t ged_exact_max_nodes;  /* GED: exact search up to this size (12) */
	uint32_t max_ops;              /* a DAG version larger than this is an error (128) */
	uint32_t min_cluster_windows;  /* fewer labelled windows: the cluster shares the global
					* member's parameters (40) */
	unsigned threads;              /* GED matrix and member training (2) */
	bool blas;                     /* OpenBLAS products (faster; bits depend on the CPU) */
} stn_pretrain_opts;

/* 2 layers of width 32; 40 epochs, batch 16, lr 3e-3, validation 0.2, patience 6; seed 1. */
void stn__pretrain_opts_default(stn_pretrain_opts *o);

/* A source's target rate over a window of window_s seconds: what it emitted plus the growth
 * of its backlog (prev_backlog: at the end of the window before). A source emits what it
 * takes in (the simulator records that as its input); an engine may report a source's input
 * as none, its records coming from outside the job (the Timely shim does), and then its
 * output is what it emitted. Never negative. */
double stn__pretrain_source_rate(const stn_op_window *o, double prev_backlog, double window_s);

/* Windows and DAGs read from histories. Opaque. */
typedef struct stn_pretrain_data stn_pretrain_data;

/* Reads the histories (paths borrowed for the call). Errors name the file: STN_ENOTFOUND,
 * STN_ECORRUPT (not a history, empty, or windows that do not fit their DAG), STN_ESCHEMA
 * (newer schema), STN_ETOOBIG (a DAG version over opts->max_ops, too many windows),
 * STN_EINVAL (no labelled window at all). Caller owns *out (stn__pretrain_data_free). */
stn_status stn__pretrain_load(stn_pretrain_data **out, const char *const *paths, size_t n,
			      const stn_pretrain_opts *opts, stn_progress_fn progress, void *user,
			      stn_errbuf *eb);
void stn__pretrain_data_free(stn_pretrain_data *d); /* NULL-safe */

/* Jobs read, and each one's text id and DAG (its first version; borrowed until free). */
size_t stn__pretrain_data_jobs(const stn_pretrain_data *d);
const char *stn__pretrain_data_job_name(const stn_pretrain_data *d, size_t job);
const stn_dag *stn__pretrain_data_job_dag(const stn_pretrain_data *d, size_t job);

typedef struct stn_pretrain_report {
	uint64_t jobs, episodes, unique_dags, windows, observations, positives;
	uint64_t ged_pairs, ged_exact_pairs;
	size_t k;
	double silhouette;
	size_t shared_members;  /* clusters that got the global parameters */
	double seconds_ged, seconds_cluster, seconds_train;
} stn_pretrain_report;

/* Clusters and trains on the jobs selected by job_mask (NULL: all; else one bool per job)
 * into out (overwritten; release with stn__model_fini). STN_EINVAL when the selection has
 * fewer than 2 labelled windows, errors of GED, clustering and training otherwise. rep may
 * be NULL. */
stn_status stn__pretrain_fit(const stn_pretrain_data *d, const bool *job_mask,
			     const stn_pretrain_opts *opts, stn_progress_fn progress, void *user,
			     stn_model *out, stn_pretrain_report *rep, stn_errbuf *eb);

/* Load then fit. */
stn_status stn__pretrain_run(const char *const *paths, size_t n, const stn_pretrain_opts *opts,
			     stn_progress_fn progress, void *user, stn_model *out,
			     stn_pretrain_report *rep, stn_errbuf *eb);

/* Label AUC of a model on the selected jobs' labelled observations (job_mask NULL: all): the
 * probability of a bottleneck at the window's parallelism against the label. member >= 0
 * scores every job with that member; member < 0 with the member stn__model_assign picks for
 * the job's DAG. *n_obs receives the observations scored (may be NULL). NaN if one class is
 * missing. */
stn_status stn__pretrain_auc(const stn_model *m, const stn_pretrain_data *d,
			     const bool *job_mask, long member, double *auc, uint64_t *n_obs,
			     stn_errbuf *eb);

#endif
