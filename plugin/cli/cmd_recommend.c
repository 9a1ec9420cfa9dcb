/* streamtune recommend: one-shot parallelism recommendation from a DAG and a metrics file, for
 * scripts and engines that do not keep a connection to an endpoint. The windows are labelled
 * and fed to the policy exactly as the endpoint does (label, then on_window, in order); the
 * last decision is printed, or "no change" with the current parallelism. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "cli.h"
#include "dagjson.h"
#include "label.h"
#include "metrics_io.h"
#include "model.h"
#include "policy.h"
#include "proto.h"

#define CMD "recommend"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: streamtune recommend --dag DAG.json --metrics FILE [--format csv|json]\n"
		"                            [--policy P] [--opt NAME=VALUE]... [--model FILE]\n"
		"                            [--json]\n\n"
		"Feeds one or more windows of per-operator metrics to a tuning policy, as the\n"
		"endpoint would, and prints its last decision: per operator the current and the\n"
		"recommended parallelism and the predicted bottleneck probability, and the reason.\n"
		"Without a decision it prints \"no change\" and the current parallelism.\n\n"
		"  --dag FILE       the job's DAG as JSON (see `streamtune inspect ged --help`);\n"
		"                   source_rate of the sources is the target load\n"
		"  --metrics FILE   windows of aggregates, CSV with the header\n"
		"                     window,op,parallelism,n_inst,busy_max,busy_mean,rate_in,\n"
		"                     rate_out,backlog_max,backlog_sum[,duration_ms][,lag_ms]\n"
		"                   (one row per operator per window; op is an id or unique name)\n"
		"                   or JSON {\"windows\": [{\"window\": 1, \"duration_ms\": 1000,\n"
		"                   \"lag_ms\": 0, \"ops\": [{\"op\": 1, \"parallelism\": 2, ...}]}]}\n"
		"                   every operator in every window, windows in increasing order;\n"
		"                   busy_* 0..1, rates and backlogs >= 0; at most %u bytes,\n"
		"                   %u windows, %u operator rows\n"
		"  --format F       csv or json (default: from the extension; needed for '-')\n"
		"  --policy P       default streamtune; one of:\n                   ",
		STN_METRICS_MAX_BYTES, STN_METRICS_MAX_WINDOWS, STN_METRICS_MAX_ROWS);
	{
		size_t n = 0;
		const stn_policy_vtable *const *all = stn__policy_all(&n);

		for (size_t i = 0; i < n; i++)
			fprintf(f, "%s%s", i ? ", " : "", all[i]->name);
	}
	fprintf(f, "\n"
		   "  --opt [P:]NAME=VALUE policy option (repeatable, up to %u), e.g. scaling_factor=0.1;\n"
		   "                with P: only when the policy is P\n"
		   "  --model FILE     pre-trained model (else the policy's default: streamtune uses\n"
		   "                   the default model if installed, else DS2)\n"
		   "  --json           one JSON object: {\"decided\", \"policy\", \"reason\", \"window\"\n"
		   "                   (of the decision, else the last one),\n"
		   "                   \"operators\": [{\"id\", \"name\", \"parallelism\",\n"
		   "                   \"recommended\", \"probability\" (null without a model)}]}\n\n"
		   "Exit status: 0 success, 1 bad input (DAG, metrics, model, options), 2 usage.\n",
		STN_PROTO_MAX_OPTIONS);
}

/* JSON string literal of s. */
static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", f);
		else if (*p == '\t')
			fputs("\\t", f);
		else if (*p < 0x20)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

static void print_result(bool as_json, const stn_dag *dag, const char *policy, bool decided,
			 uint64_t window, const uint32_t *p_now, const stn_decision *dec,
			 const char *reason)
{
	size_t n = dag->n_ops;

	if (as_json) {
		printf("{\"decided\": %s, \"policy\": ", decided ? "true" : "false");
		json_str(stdout, policy);
		printf(", \"reason\": ");
		json_str(stdout, reason);
		printf(", \"window\": %llu, \"operators\": [", (unsigned long long)window);
		for (size_t v = 0; v < n; v++) {
			double pr = decided ? dec->prob[v] : -1.0;
			printf("%s{\"id\": %u, \"name\": ", v ? ", " : "", dag->ops[v].id);
			json_str(stdout, dag->ops[v].name);
			printf(", \"parallelism\": %u, \"recommended\": %u, \"probability\": ", p_now[v],
			       decided ? dec->parallelism[v] : p_now[v]);
			if (pr >= 0 && isfinite(pr))
				printf("%.6g}", pr);
			else
				printf("null}");
		}
		printf("]}\n");
		return;
	}
	if (decided)
		printf("decision of %s at window %llu\n", policy, (unsigned long long)window);
	else
		printf("no change (%s, through window %llu)\n", policy, (unsigned long long)window);
	printf("%-8s %-24s %6s %6s %8s\n", "op", "name", "p_now", "p_new", "prob");
	for (size_t v = 0; v < n; v++) {
		double pr = decided ? dec->prob[v] : -1.0;
		char prob[32];
		if (pr >= 0 && isfinite(pr))
			snprintf(prob, sizeof(prob), "%.3f", pr);
		else
			snprintf(prob, sizeof(prob), "-");
		printf("%-8u %-24s %6u %6u %8s\n", dag->ops[v].id,
		       dag->ops[v].name[0] ? dag->ops[v].name : "-", p_now[v],
		       decided ? dec->parallelism[v] : p_now[v], prob);
	}
	printf("reason: %s\n", reason);
}

int cmd_recommend(int argc, char **argv)
{
	const char *dag_path = NULL, *metrics_path = NULL, *policy = "streamtune";
	const char *model_path = NULL;
	stn_metrics_format fmt = STN_METRICS_AUTO;
	stn_policy_option opts[STN_PROTO_MAX_OPTIONS];
	const char *opt_policy[STN_PROTO_MAX_OPTIONS];
	size_t n_opts = 0;
	bool as_json = false;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (stn_cli_is_help(a)) {
			usage(stdout);
			return 0;
		}
		if (strcmp(a, "--json") == 0) {
			as_json = true;
			continue;
		}
		if (strncmp(a, "--", 2) != 0 || strchr(a, '=') != NULL)
			return stn_cli_usage_error(CMD, "unknown argument '%s' (see --help)", a);
		if (strcmp(a, "--dag") != 0 && strcmp(a, "--metrics") != 0 &&
		    strcmp(a, "--format") != 0 && strcmp(a, "--policy") != 0 &&
		    strcmp(a, "--opt") != 0 && strcmp(a, "--model") != 0)
			return stn_cli_usage_error(CMD, "unknown option '%s' (see --help)", a);
		if (i + 1 >= argc)
			return stn_cli_usage_error(CMD, "'%s' needs a value", a);
		char *val = argv[++i];
		if (strcmp(a, "--dag") == 0) {
			dag_path = val;
		} else if (strcmp(a, "--metrics") == 0) {
			metrics_path = val;
		} else if (strcmp(a, "--policy") == 0) {
			policy = val;
		} else if (strcmp(a, "--model") == 0) {
			model_path = val;
		} else if (strcmp(a, "--format") == 0) {
			if (strcmp(val, "csv") == 0)
				fmt = STN_METRICS_CSV;
			else if (strcmp(val, "json") == 0)
				fmt = STN_METRICS_JSON;
			else
				return stn_cli_usage_error(CMD, "--format must be csv or json");
		} else { /* --opt */
			if (n_opts >= STN_PROTO_MAX_OPTIONS)
				return stn_cli_usage_error(CMD, "more than %u --opt",
							   STN_PROTO_MAX_OPTIONS);
			if (!stn_cli_parse_policy_opt(CMD, val, &opt_policy[n_opts], &opts[n_opts]))
				return 2;
			n_opts++;
		}
	}
	if (dag_path == NULL || metrics_path == NULL)
		return stn_cli_usage_error(CMD, "--dag and --metrics are required");
	/* Options for another policy (P:NAME=VALUE) are not this run's. */
	size_t kept = 0;
	for (size_t k = 0; k < n_opts; k++)
		if (opt_policy[k] == NULL || strcmp(opt_policy[k], policy) == 0)
			opts[kept++] = opts[k];
	n_opts = kept;
	if (strcmp(metrics_path, "-") == 0 && fmt == STN_METRICS_AUTO)
		return stn_cli_usage_error(CMD, "--metrics - (standard input) needs --format");
	if (fmt == STN_METRICS_AUTO && stn_cli_metrics_guess(metrics_path) == STN_METRICS_AUTO)
		return stn_cli_usage_error(CMD, "cannot tell the format of '%s' from its name (.csv "
					   "or .json); give --format", metrics_path);
	if (strcmp(metrics_path, "-") == 0 && strcmp(dag_path, "-") == 0)
		return stn_cli_usage_error(CMD, "--dag and --metrics cannot both be standard input");
	const stn_policy_vtable *pv = stn__policy_find(policy);
	if (pv == NULL)
		return stn_cli_usage_error(CMD, "unknown policy '%s' (see --help)", policy);

	stn_errbuf eb = {{0}};
	stn_dag dag;
	stn_model model;
	bool have_model = false;
	stn_window *win = NULL;
	size_t n_win = 0;
	stn_policy *pol = NULL;
	stn_labeller lab;
	bool have_lab = false;
	stn_decision dec, last;
	double *target_in = NULL;
	uint32_t *p_now = NULL;
	int rc = 1;

	memset(&dec, 0, sizeof(dec));
	memset(&last, 0, sizeof(last));
	memset(&lab, 0, sizeof(lab));
	stn__dag_init(&dag);
	if (stn__dagjson_read(dag_path, &dag, &eb) != STN_OK) {
		stn_cli_error(CMD, "dag: %s", eb.text);
		goto out;
	}
	if (model_path != NULL) {
		if (stn__model_read(&model, model_path, &eb) != STN_OK) {
			stn_cli_error(CMD, "model: %s", eb.text);
			goto out;
		}
		have_model = true;
	}
	if (stn_cli_metrics_read(metrics_path, fmt, &dag, &win, &n_win, &eb) != STN_OK) {
		stn_cli_error(CMD, "metrics: %s", eb.text);
		goto out;
	}
	size_t n = dag.n_ops;
	target_in = stn__calloc(n, sizeof(double));
	p_now = stn__calloc(n, sizeof(uint32_t));
	if (target_in == NULL || p_now == NULL || stn__decision_init(&dec, n) != STN_OK ||
	    stn__decision_init(&last, n) != STN_OK ||
	    stn__dag_propagate_rates(&dag, target_in, NULL) != STN_OK) {
		stn_cli_error(CMD, "out of memory");
		goto out;
	}
	if (stn__label_init(&lab, &dag, NULL, &eb) != STN_OK) {
		stn_cli_error(CMD, "labeller: %s", eb.text);
		goto out;
	}
	have_lab = true;
	if (pv->create(&dag, n_opts ? opts : NULL, n_opts, have_model ? &model : NULL, &pol, &eb) !=
	    STN_OK) {
		stn_cli_error(CMD, "policy %s: %s", pv->name, eb.text);
		goto out;
	}
	bool decided_any = false;
	uint64_t decided_at = 0;
	for (size_t t = 0; t < n_win; t++) {
		stn_window *w = &win[t];
		bool decided = false;
		/* as the endpoint: label, then the policy on the labelled window */
		if (stn__label_window(&lab, &dag, target_in, w, &eb) != STN_OK) {
			stn_cli_error(CMD, "window %llu: labeller: %s", (unsigned long long)w->index,
				      eb.text);
			goto out;
		}
		if (pv->on_window(pol, w, &dec, &decided, &eb) != STN_OK) {
			stn_cli_error(CMD, "window %llu: policy %s: %s", (unsigned long long)w->index,
				      pv->name, eb.text);
			goto out;
		}
		if (decided) {
			memcpy(last.parallelism, dec.parallelism, n * sizeof(uint32_t));
			memcpy(last.prob, dec.prob, n * sizeof(double));
			memcpy(last.reason, dec.reason, sizeof(last.reason));
			last.reason[sizeof(last.reason) - 1] = '\0';
			decided_any = true;
			decided_at = w->index;
		}
	}
	/* the current configuration is what the last window ran with */
	for (size_t v = 0; v < n; v++)
		p_now[v] = win[n_win - 1].ops[v].parallelism;
	char reason[STN_POLICY_REASON_CAP + 96];
	if (decided_any)
		snprintf(reason, sizeof(reason), "%s", last.reason);
	else
		snprintf(reason, sizeof(reason), "no change: %s made no decision on %zu window%s",
			 pv->name, n_win, n_win == 1 ? "" : "s");
	print_result(as_json, &dag, pv->name, decided_any,
		     decided_any ? decided_at : win[n_win - 1].index, p_now, &last, reason);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		stn_cli_error(CMD, "cannot write the result: %s", strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (pol != NULL)
		pv->destroy(pol);
	if (have_lab)
		stn__label_fini(&lab);
	stn__decision_fini(&dec);
	stn__decision_fini(&last);
	stn__free(target_in);
	stn__free(p_now);
	stn_cli_metrics_free(win, n_win);
	if (have_model)
		stn__model_fini(&model);
	stn__dag_fini(&dag);
	return rc;
}
