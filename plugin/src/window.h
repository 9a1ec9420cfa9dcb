/* window: one job's per-operator aggregates for one window, and the aggregation of
 * per-instance rows (from one or several SAMPLES parts) into it. */
#ifndef STN_WINDOW_H
#define STN_WINDOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dag.h"
#include "status.h"

/* Bottleneck label of an operator in a window. */
typedef enum stn_label {
	STN_LABEL_NONE = -1,  /* no label: warm-up, starved, or not enough evidence */
	STN_LABEL_OK = 0,     /* received its full load and kept up */
	STN_LABEL_BOTTLENECK = 1
} stn_label;

/* Aggregates of one operator over its instances in one window. Rates are records/s. */
typedef struct stn_op_window {
	uint32_t op_id;
	uint32_t n_inst;      /* instances that reported */
	uint32_t parallelism; /* configured parallelism during the window */
	double busy_max;      /* max over instances of busy time / window length, 0..1 */
	double busy_mean;     /* mean of the same */
	double rate_in;       /* sum over instances of records received / window length */
	double rate_out;      /* sum over instances of records sent / window length */
	double backlog_max;   /* max over instances of queued records at the window's end */
	double backlog_sum;   /* sum of the same */
	double bp_max;        /* max backpressured fraction, < 0 if the engine sent none */
	int label;            /* stn_label */
} stn_op_window;

typedef struct stn_window {
	uint64_t index;       /* window number within the job */
	uint64_t epoch;       /* latest completed epoch reported */
	uint32_t duration_ms;
	double lag_ms;        /* end-to-end lag, < 0 if unknown */
	size_t n_ops;
	stn_op_window *ops;   /* one per operator of the job's DAG, in DAG order */
	bool finished;        /* stn__window_finish ran: busy_mean is a mean, not a sum */
} stn_window;

/* Storage for n operators, ids and parallelism taken from the DAG, sums zeroed. */
stn_status stn__window_init(stn_window *w, const stn_dag *dag, uint64_t index);
void stn__window_fini(stn_window *w);
stn_status stn__window_copy(stn_window *dst, const stn_window *src);

/* Adds per-instance rows (columns of equal length n). Rows for an operator id not in the
 * DAG give STN_EGRAPH; negative or non-finite values give STN_EVALUE, and nothing is added
 * on error. busy_ms and bp_ms are turned into fractions of duration_ms. bp_ms may be NULL. */
stn_status stn__window_add_rows(stn_window *w, const stn_dag *dag, uint32_t duration_ms,
				size_t n, const uint32_t *op, const uint32_t *inst,
				const double *busy_ms, const double *recs_in,
				const double *recs_out, const double *backlog,
				const double *bp_ms, stn_errbuf *eb);

/* Final pass once every part is in: mean busy from the sums. Idempotent. */
void stn__window_finish(stn_window *w);

/* The operator's selectivity as the window observed it (records out per record in), or
 * `registered` where nothing came in: what rate targets propagate through, as DS2 does. */
double stn__window_selectivity(const stn_op_window *o, double registered);

#endif
