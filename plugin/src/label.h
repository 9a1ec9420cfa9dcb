/* label: the bottleneck labeller of DESIGN §4, fed window by window. Shared by the endpoint
 * and the simulator; it reads only stn_window, the DAG and the target input rates. */
#ifndef STN_LABEL_H
#define STN_LABEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dag.h"
#include "status.h"
#include "window.h"

typedef struct stn_label_params {
	double busy_hi;             /* saturated when busy_max >= this (0.9) */
	uint32_t warmup_windows;    /* windows without labels after a reconfiguration (2) */
	uint32_t k_consecutive;     /* candidate windows in a row before a bottleneck label (2) */
	double backlog_growth_frac; /* backlog grows: delta > frac * target records/window + min */
	double backlog_growth_min;  /* records (1) */
	double queue_min_frac;      /* has a queue: backlog_sum >= frac * target records/window */
	double lag_growth_ms;       /* lag grows: delta > this (2 ms) */
	double backlog_jitter_frac; /* and over its run of rising windows: delta > this *
				     * target records/window (0.05) */
	double lag_jitter_ms;       /* the same for the lag (100 ms) */
	double full_load;           /* received its full load: rate_in >= this * target (0.95) */
	double bp_hi;               /* upstream held back by engine metric: bp_max >= this (0.5) */
} stn_label_params;

/* The defaults above. */
stn_label_params stn__label_params_default(void);

/* Per-job labeller state: previous window's backlogs, lag and parallelism, warm-up and
 * consecutive-candidate counters. Growth is judged over a whole run of windows in which the
 * backlog (or lag) rose, from where it started: a queue that wobbles around a steady size (an
 * operator near, not over, its capacity) rises in one window and falls in the next, and only a
 * sustained rise is overload. */
typedef struct stn_labeller {
	stn_label_params params;
	size_t n_ops;
	bool have_prev;
	uint32_t warm_left;
	double prev_lag_ms;
	double *prev_backlog;   /* n_ops */
	double *base_backlog;   /* n_ops: backlog before its current run of rising windows */
	uint32_t *run;          /* n_ops: windows in that run so far */
	uint8_t *grew;          /* n_ops scratch: sustained rise this window */
	double base_lag_ms;     /* the same for the job's lag */
	uint32_t lag_run;
	uint32_t *prev_par;     /* n_ops */
	uint32_t *count;        /* n_ops: consecutive candidate windows */
	uint8_t *cand;          /* n_ops scratch */
	uint8_t *starved;       /* n_ops scratch */
	uint32_t *order;        /* n_ops topological order */
} stn_labeller;

/* params may be NULL (defaults). The DAG must be valid; its operator count is fixed. */
stn_status stn__label_init(stn_labeller *l, const stn_dag *dag, const stn_label_params *params,
			   stn_errbuf *eb);
void stn__label_fini(stn_labeller *l);

/* Starts a warm-up now (a reconfiguration the windows cannot show). A change of any
 * operator's parallelism between two windows starts one by itself. */
void stn__label_reconfigured(stn_labeller *l);

/* Labels w in place (w->ops[i].label) from this window, the previous ones and the target
 * input rates target_in[n_ops] (propagated from the source rates, stn__dag_propagate_rates).
 * STN_EGRAPH if w does not match the DAG. */
stn_status stn__label_window(stn_labeller *l, const stn_dag *dag, const double *target_in,
			     stn_window *w, stn_errbuf *eb);

#endif
