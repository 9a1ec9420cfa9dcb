/* streamtune inspect history FILE [--job ID] [--windows N] [--from K]: jobs, windows and
 * decisions. */
#include <inttypes.h>
#include <string.h>

#include "cli.h"
#include "history.h"
#include "window.h"

#define CMD "inspect history"

static void usage(FILE *f)
{
	fprintf(f, "usage: streamtune inspect history FILE [--job ID] [--windows N] [--from K]\n\n"
		   "Without --job: a table of the jobs in the history. With --job: N windows of that\n"
		   "job per operator (default 5), its last ones or, with --from, those from its K-th\n"
		   "(#0 is its first), and every decision with its reason.\n");
}

typedef struct job_list {
	const char *want; /* NULL: print all */
	int64_t key;
	bool found;
} job_list;

static bool print_job(void *user, const stn_history_job *j)
{
	job_list *jl = user;

	if (jl->want == NULL) {
		printf("%-24s %-18s %016" PRIx64 " %9" PRIu64 " %9" PRIu64 "\n", j->job, j->policy,
		       j->dag_hash, j->n_windows, j->n_decisions);
	} else if (strcmp(jl->want, j->job) == 0) {
		jl->key = j->key;
		jl->found = true;
		return false;
	}
	return true;
}

/* The job's windows shown: [skip, skip + limit) in the order they were recorded. */
typedef struct window_range {
	uint64_t skip, limit;
	uint64_t seen;
} window_range;

static const char *label_text(int label)
{
	return label == STN_LABEL_BOTTLENECK ? "BOTTLENECK" : label == STN_LABEL_OK ? "ok" : "-";
}

static bool print_window(void *user, uint64_t hash, const stn_window *w)
{
	window_range *wr = user;

	(void)hash;
	uint64_t pos = wr->seen++;
	if (pos < wr->skip)
		return true;
	if (pos - wr->skip >= wr->limit)
		return false;
	printf("window %" PRIu64 " (#%" PRIu64 ", epoch %" PRIu64 ", %u ms, lag %s)\n", w->index,
	       pos, w->epoch, w->duration_ms, w->lag_ms >= 0 ? "known" : "unknown");
	printf("  %8s %4s %5s %8s %8s %12s %12s %10s  %s\n", "operator", "p", "inst", "busy_max",
	       "busy_avg", "in rec/s", "out rec/s", "backlog", "label");
	for (size_t i = 0; i < w->n_ops; i++) {
		const stn_op_window *o = &w->ops[i];

		printf("  %8u %4u %5u %8.3f %8.3f %12.1f %12.1f %10.0f  %s\n", o->op_id, o->parallelism,
		       o->n_inst, o->busy_max, o->busy_mean, o->rate_in, o->rate_out, o->backlog_sum,
		       label_text(o->label));
	}
	return true;
}

static bool print_decision(void *user, const stn_history_decision *d, int64_t applied)
{
	(void)user;
	printf("decision %" PRIu64 " after window %" PRIu64 ", from epoch %" PRIu64 " (%s) by %s\n",
	       d->seq, d->window, d->epoch, applied >= 0 ? "applied" : "not acknowledged", d->policy);
	printf("  reason: %s\n  parallelism:", d->reason);
	for (size_t i = 0; i < d->n_ops; i++)
		printf(" %u=%u", d->op[i], d->p[i]);
	printf("\n");
	return true;
}

int inspect_history(int argc, char **argv)
{
	stn_history_opts ro = {true, false};
	stn_history *h = NULL;
	stn_errbuf eb = {{0}};
	stn_history_counts c;
	job_list jl = {NULL, 0, false};
	const char *path = NULL;
	uint64_t shown = 5, from = 0;
	bool have_from = false;
	int rc = 1;

	for (int i = 1; i < argc; i++) {
		static const char *const options[] = {"--job", "--windows", "--from", NULL};
		const char *a = argv[i], *val = NULL;

		if (stn_cli_is_help(a)) {
			usage(stdout);
			return 0;
		} else if (a[0] != '-' && path == NULL) {
			path = a;
		} else if (!stn_cli_option_value(CMD, options, argc, argv, &i, &val)) {
			return 2;
		} else if (strcmp(a, "--job") == 0) {
			jl.want = val;
		} else if (strcmp(a, "--windows") == 0) {
			if (!stn_cli_parse_u64(CMD, a, val, &shown))
				return 2;
		} else { /* --from */
			if (!stn_cli_parse_u64(CMD, a, val, &from))
				return 2;
			have_from = true;
		}
	}
	if (path == NULL)
		return stn_cli_usage_error(CMD, "which history file?");
	if (stn__history_open(path, &ro, &h, &eb) != STN_OK)
		return stn_cli_error(CMD, "%s", eb.text);
	if (stn__history_counts(h, &c, &eb) != STN_OK)
		goto out;
	if (jl.want == NULL) {
		printf("%s: %" PRIu64 " jobs, %" PRIu64 " DAG versions (%" PRIu64 " distinct), "
		       "%" PRIu64 " windows (%" PRIu64 " operator rows), %" PRIu64 " decisions\n\n",
		       path, c.jobs, c.dag_versions, c.dags, c.windows, c.op_windows, c.decisions);
		printf("%-24s %-18s %-16s %9s %9s\n", "job", "policy", "dag hash", "windows",
		       "decisions");
		if (stn__history_each_job(h, print_job, &jl, &eb) != STN_OK)
			goto out;
		rc = 0;
		goto out;
	}
	if (stn__history_each_job(h, print_job, &jl, &eb) != STN_OK)
		goto out;
	if (!jl.found) {
		stn__fail(&eb, STN_EJOB, "no job '%s' in %s", jl.want, path);
		goto out;
	}
	{
		window_range count_only = {UINT64_MAX, 0, 0}, wr = {0, shown, 0};

		if (stn__history_each_window(h, jl.key, print_window, &count_only, &eb) != STN_OK)
			goto out;
		uint64_t total = count_only.seen;
		if (have_from)
			wr.skip = from;
		else
			wr.skip = total > shown ? total - shown : 0;
		uint64_t n = wr.skip < total ? total - wr.skip : 0;
		n = n < shown ? n : shown;
		if (n == 0)
			printf("job %s: %" PRIu64 " windows; none from #%" PRIu64 "\n\n", jl.want,
			       total, wr.skip);
		else if (n == 1)
			printf("job %s: %" PRIu64 " windows; #%" PRIu64 ":\n\n", jl.want, total,
			       wr.skip);
		else
			printf("job %s: %" PRIu64 " windows; #%" PRIu64 " to #%" PRIu64 ":\n\n",
			       jl.want, total, wr.skip, wr.skip + n - 1);
		if (n > 0 && stn__history_each_window(h, jl.key, print_window, &wr, &eb) != STN_OK)
			goto out;
	}
	printf("\n");
	if (stn__history_each_decision(h, jl.key, print_decision, NULL, &eb) != STN_OK)
		goto out;
	rc = 0;
out:
	if (rc != 0)
		stn_cli_error(CMD, "%s", eb.text);
	stn__history_close(h);
	return rc;
}
