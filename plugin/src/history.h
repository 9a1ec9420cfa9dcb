/*
 * history: the SQLite store of executions (schema in proto/HISTORY.md): jobs, DAG versions by
 * content hash, windows with per-operator aggregates and labels, decisions with their reasons
 * and acknowledgements. WAL mode. Writes go into a transaction the caller opens and commits,
 * so the endpoint can group-commit many windows per fsync. Export/import as MessagePack for
 * merging histories from many endpoints.
 *
 * A history handle is used by one thread at a time.
 */
#ifndef STN_HISTORY_H
#define STN_HISTORY_H

#include <stdbool.h>
#include <stdint.h>

#include "dag.h"
#include "status.h"
#include "window.h"

#define STN_HISTORY_SCHEMA_VERSION 1

typedef struct stn_history stn_history;

typedef struct stn_history_opts {
	bool read_only;        /* open an existing file without writing (inspect, pretrain) */
	bool synchronous_full; /* fsync on every commit (power-loss safe); else WAL NORMAL,
				* which is safe against a process crash */
} stn_history_opts;

/* Opens or creates. A file with an unknown (newer) schema version gives STN_ESCHEMA; one that
 * is not SQLite, or fails its integrity check, STN_ECORRUPT; an older schema is migrated
 * (not in read-only mode). On success the caller owns *out (stn__history_close). */
stn_status stn__history_open(const char *path, const stn_history_opts *opts,
			     stn_history **out, stn_errbuf *eb);
void stn__history_close(stn_history *h); /* NULL-safe; rolls back an open transaction */

stn_status stn__history_begin(stn_history *h, stn_errbuf *eb);
stn_status stn__history_commit(stn_history *h, stn_errbuf *eb);
stn_status stn__history_rollback(stn_history *h);
bool stn__history_in_txn(const stn_history *h);

/* Records a job (by its text id) with its DAG (stored once per content hash) and policy.
 * Re-registering a job with another DAG starts a new DAG version for it. *job_key is the
 * row id used by the calls below. */
stn_status stn__history_put_job(stn_history *h, const char *job, const stn_dag *dag,
				const char *policy, const char *policy_opts_json,
				int64_t *job_key, stn_errbuf *eb);

/* Stores one closed window of a job (its current DAG version). A repeated window index of the
 * same job is STN_EORDER. */
stn_status stn__history_put_window(stn_history *h, int64_t job_key, const stn_window *w,
				   stn_errbuf *eb);

/* Stores a decision sent to a job. */
typedef struct stn_history_decision {
	uint64_t seq, epoch, window; /* window: the last window the policy saw */
	size_t n_ops;
	const uint32_t *op, *p;
	const double *prob;
	const char *reason, *policy;
} stn_history_decision;
stn_status stn__history_put_decision(stn_history *h, int64_t job_key,
				     const stn_history_decision *d, stn_errbuf *eb);
/* Marks decision seq of a job applied at epoch. STN_ENOTFOUND if there is no such decision. */
stn_status stn__history_ack_decision(stn_history *h, int64_t job_key, uint64_t seq,
				     uint64_t epoch, stn_errbuf *eb);

/* Summary counts. dag_versions: the DAGs each job has run with (job_dags rows; a job
 * redeployed with a changed DAG has two), the count `history generate` reports; dags: the
 * distinct DAGs among them (dags rows, by content hash: jobs of one shape share one). */
typedef struct stn_history_counts {
	uint64_t jobs, dag_versions, dags, windows, op_windows, decisions;
} stn_history_counts;
stn_status stn__history_counts(stn_history *h, stn_history_counts *out, stn_errbuf *eb);

/* Read side, for inspect, pretrain and tests. Callbacks return false to stop early. */
typedef struct stn_history_job {
	int64_t key;
	const char *job;        /* borrowed for the call */
	const char *policy;
	uint64_t dag_hash;      /* current DAG version */
	uint64_t n_windows, n_decisions;
} stn_history_job;
stn_status stn__history_each_job(stn_history *h,
				 bool (*fn)(void *user, const stn_history_job *job),
				 void *user, stn_errbuf *eb);

/* The DAG the job had at its current (latest) version, into an initialised dag. */
stn_status stn__history_job_dag(stn_history *h, int64_t job_key, stn_dag *out, stn_errbuf *eb);

/* Windows of a job in index order; the window is borrowed for the call. dag_hash names the
 * DAG version the window belongs to. */
stn_status stn__history_each_window(stn_history *h, int64_t job_key,
				    bool (*fn)(void *user, uint64_t dag_hash,
					       const stn_window *w),
				    void *user, stn_errbuf *eb);

/* Decisions of a job in seq order; d and its arrays are borrowed for the call. applied_epoch
 * is -1 if never acknowledged. */
stn_status stn__history_each_decision(stn_history *h, int64_t job_key,
				      bool (*fn)(void *user, const stn_history_decision *d,
						 int64_t applied_epoch),
				      void *user, stn_errbuf *eb);

/* Loads a DAG version by its hash. */
stn_status stn__history_dag_by_hash(stn_history *h, uint64_t hash, stn_dag *out,
				    stn_errbuf *eb);

/* Writes every job, DAG version, window and decision to a MessagePack file (format in
 * proto/HISTORY.md), atomically (temp file + rename). */
stn_status stn__history_export(stn_history *h, const char *path, stn_errbuf *eb);
/* Merges an exported file into h in one transaction: jobs are matched by id, DAGs by hash,
 * windows already present are skipped (counted in *skipped, may be NULL). Nothing is written
 * if the file is malformed. Every error message names path. */
stn_status stn__history_import(stn_history *h, const char *path, uint64_t *imported,
			       uint64_t *skipped, stn_errbuf *eb);

#endif
