/* metrics_io: per-operator window aggregates from a file, for `streamtune recommend`.
 *
 * CSV: a header naming the columns (any order)
 *   window,op,parallelism,n_inst,busy_max,busy_mean,rate_in,rate_out,backlog_max,backlog_sum
 * plus the optional duration_ms and lag_ms, then one row per operator per window. `op` is an
 * operator id of the DAG or its unique name. Fields may be double-quoted ("" for a quote).
 * JSON: {"windows": [{"window": 1, "duration_ms": 1000, "lag_ms": 0,
 *                     "ops": [{"op": 1, "parallelism": 2, "n_inst": 2, ...}]}]}
 * with the same member names; "op" is an id (number) or a name (string); "window",
 * "duration_ms" and "lag_ms" are optional (position + 1, 1000 ms, unknown).
 *
 * Every window must name each operator of the DAG exactly once; window numbers increase
 * (CSV rows of one window are contiguous). Values: parallelism 1..p_max of the operator,
 * n_inst 0..65536, busy fractions 0..1, rates and backlogs finite and >= 0, duration_ms
 * 1..86400000, lag_ms finite (negative: unknown). Unknown columns or members are errors, so
 * a misspelt name does not silently fall back. Errors name the line (CSV) or the JSON path
 * and line. Sizes are bounded by the limits below. */
#ifndef STN_CLI_METRICS_IO_H
#define STN_CLI_METRICS_IO_H

#include <stddef.h>

#include "dag.h"
#include "status.h"
#include "window.h"

#define STN_METRICS_MAX_BYTES (8u * 1024u * 1024u)
#define STN_METRICS_MAX_WINDOWS 10000u
#define STN_METRICS_MAX_ROWS 200000u   /* operator rows over all windows */
#define STN_METRICS_MAX_LINE 4096u     /* CSV line length */

typedef enum stn_metrics_format {
	STN_METRICS_AUTO = 0, /* from the file name: .csv or .json */
	STN_METRICS_CSV,
	STN_METRICS_JSON
} stn_metrics_format;

/* Parses text[0..len) in the given format (not AUTO) into *out, a new array of *n_out
 * windows (free with stn_cli_metrics_free) in file order, operators in DAG order, labels
 * unset, finished. STN_EPROTO / STN_EFIELD / STN_EVALUE / STN_EGRAPH / STN_ETOOBIG /
 * STN_ENOMEM with a message in eb; nothing is returned on error. */
stn_status stn_cli_metrics_parse(const char *text, size_t len, stn_metrics_format fmt,
				 const stn_dag *dag, stn_window **out, size_t *n_out,
				 stn_errbuf *eb);

/* Reads a file ("-" is standard input; then fmt must not be AUTO) and parses it. With AUTO
 * the format comes from the extension; STN_EINVAL if it cannot be told. */
stn_status stn_cli_metrics_read(const char *path, stn_metrics_format fmt, const stn_dag *dag,
				stn_window **out, size_t *n_out, stn_errbuf *eb);

/* The format a file name implies (.csv, .json, any case), or AUTO if it implies none. */
stn_metrics_format stn_cli_metrics_guess(const char *path);

void stn_cli_metrics_free(stn_window *w, size_t n);

#endif
