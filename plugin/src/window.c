#include "window.h"

#include <math.h>
#include <string.h>

#include "alloc.h"

stn_status stn__window_init(stn_window *w, const stn_dag *dag, uint64_t index)
{
	memset(w, 0, sizeof(*w));
	w->index = index;
	w->lag_ms = -1.0;
	w->ops = stn__calloc(dag->n_ops, sizeof(stn_op_window));
	if (w->ops == NULL)
		return STN_ENOMEM;
	w->n_ops = dag->n_ops;
	for (size_t i = 0; i < dag->n_ops; i++) {
		w->ops[i].op_id = dag->ops[i].id;
		w->ops[i].parallelism = dag->ops[i].parallelism;
		w->ops[i].bp_max = -1.0;
		w->ops[i].label = STN_LABEL_NONE;
	}
	return STN_OK;
}

void stn__window_fini(stn_window *w)
{
	if (w == NULL)
		return;
	stn__free(w->ops);
	memset(w, 0, sizeof(*w));
}

stn_status stn__window_copy(stn_window *dst, const stn_window *src)
{
	stn_op_window *ops = stn__malloc_array(src->n_ops, sizeof(stn_op_window));

	if (ops == NULL)
		return STN_ENOMEM;
	memcpy(ops, src->ops, src->n_ops * sizeof(stn_op_window));
	*dst = *src;
	dst->ops = ops;
	return STN_OK;
}

static bool bad_metric(double v)
{
	return !isfinite(v) || v < 0.0;
}

/* Row index of an operator id. DAGs are small (<= STN_DAG_MAX_OPS) and rows of one operator
 * come together, so the previous hit is tried first. */
static long find_op(const stn_window *w, uint32_t id, long hint)
{
	if (hint >= 0 && (size_t)hint < w->n_ops && w->ops[hint].op_id == id)
		return hint;
	for (size_t i = 0; i < w->n_ops; i++)
		if (w->ops[i].op_id == id)
			return (long)i;
	return -1;
}

stn_status stn__window_add_rows(stn_window *w, const stn_dag *dag, uint32_t duration_ms,
				size_t n, const uint32_t *op, const uint32_t *inst,
				const double *busy_ms, const double *recs_in,
				const double *recs_out, const double *backlog,
				const double *bp_ms, stn_errbuf *eb)
{
	double secs;
	long hint = -1;

	(void)dag;
	(void)inst;
	if (duration_ms == 0)
		return stn__fail(eb, STN_EVALUE, "window duration must be > 0 ms");
	/* Validate everything first so a bad row adds nothing. */
	for (size_t r = 0; r < n; r++) {
		hint = find_op(w, op[r], hint);
		if (hint < 0)
			return stn__fail(eb, STN_EGRAPH, "row %zu: operator %u is not in the job's DAG",
					 r, op[r]);
		if (bad_metric(busy_ms[r]) || bad_metric(recs_in[r]) || bad_metric(recs_out[r]) ||
		    bad_metric(backlog[r]) || (bp_ms != NULL && bad_metric(bp_ms[r])))
			return stn__fail(eb, STN_EVALUE,
					 "row %zu (operator %u): metrics must be finite and >= 0", r,
					 op[r]);
	}
	secs = duration_ms / 1000.0;
	w->duration_ms = duration_ms;
	for (size_t r = 0; r < n; r++) {
		stn_op_window *o;
		double busy;

		hint = find_op(w, op[r], hint);
		o = &w->ops[hint];
		/* Busy time can exceed the window by scheduling jitter; a fraction above 1 means
		 * saturated, nothing more. */
		busy = fmin(busy_ms[r] / (double)duration_ms, 1.0);
		o->n_inst++;
		o->busy_max = fmax(o->busy_max, busy);
		o->busy_mean += busy; /* sum until stn__window_finish */
		o->rate_in += recs_in[r] / secs;
		o->rate_out += recs_out[r] / secs;
		o->backlog_max = fmax(o->backlog_max, backlog[r]);
		o->backlog_sum += backlog[r];
		if (bp_ms != NULL)
			o->bp_max = fmax(o->bp_max, fmin(bp_ms[r] / (double)duration_ms, 1.0));
	}
	return STN_OK;
}

void stn__window_finish(stn_window *w)
{
	if (w->finished)
		return;
	for (size_t i = 0; i < w->n_ops; i++)
		if (w->ops[i].n_inst > 0)
			w->ops[i].busy_mean /= w->ops[i].n_inst;
	w->finished = true;
}

double stn__window_selectivity(const stn_op_window *o, double registered)
{
	if (o->rate_in > 1e-9 && isfinite(o->rate_out) && o->rate_out >= 0)
		return o->rate_out / o->rate_in;
	return registered;
}
