/* streamtune simulate: run a policy in closed loop on a simulated job (sim.h) and print its
 * windows as CSV; --suite runs every policy on the same set of jobs (simulate_suite.c). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "cli.h"
#include "model.h"
#include "policy.h"
#include "sim.h"
#include "simulate_suite.h"

#define CMD "simulate"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: streamtune simulate --family F [--schedule S] [--seed N] [--windows N]\n"
		"                           [--policy P] [--model FILE] [--ops N] [--csv FILE]\n"
		"       streamtune simulate --suite [--quick] [--jobs N] [--windows N] [--seed N]\n"
		"                           [--model FILE] [--csv FILE] [--json]\n"
		"                           [--policies P1,P2,..] [--opt [P:]NAME=VALUE]...\n\n"
		"Simulates a job of family F with known capacities and prints one CSV row per\n"
		"window: window, rate factor, total source rate, lag, and per operator its\n"
		"parallelism, busy_max, rate_in, backlog, label and oracle parallelism.\n\n"
		"  --family F    q0..q8 (Nexmark query graphs), nexmark (one of them), random\n"
		"  --schedule S  rate factor over the nominal source rates (default constant:1):\n"
		"                constant:F | steps:F1,F2,..[@LEN] (LEN windows each, default 20)\n"
		"                square:LO,HI[@PERIOD] (default 40) | sine:MEAN,AMP[@PERIOD]\n"
		"                (default 60) | trace:FILE (factors separated by space/comma/newline)\n"
		"  --seed N      job and noise seed (default 1)\n"
		"  --windows N   windows to run, 1..1000000 (default 100)\n"
		"  --policy P    tuning policy run in closed loop (default static): ");
	{
		size_t n = 0;
		const stn_policy_vtable *const *all = stn__policy_all(&n);

		for (size_t i = 0; i < n; i++)
			fprintf(f, "%s%s", i ? ", " : "", all[i]->name);
	}
	fprintf(f, "\n"
		   "  --model FILE  pre-trained model for the streamtune policy; without it, the\n"
		   "                shipped default model: $STREAMTUNE_MODEL if set ('none': no\n"
		   "                model), else plugin/models/default.stnm beside the build, else\n"
		   "                the installed share/streamtune/models/default.stnm; DS2 if\n"
		   "                there is none. --suite without --model does not load the\n"
		   "                default model: it runs streamtune with the option\n"
		   "                local_prior=1 (a flat prior fitted to each job's own windows)\n"
		   "  --ops N       operators of a random DAG, 3..60 (default: drawn from the seed)\n"
		   "  --csv FILE    write the CSV there instead of standard output\n"
		   "  --suite       every policy on the same simulated jobs: a table, and with --json\n"
		   "                the per-policy figures as JSON on stdout (see DESIGN §8)\n"
		   "  --policies L  suite: only these policies (comma-separated)\n"
		   "  --opt [P:]NAME=VALUE  suite: a policy option (repeatable, up to 16); with\n"
		   "                P: only for policy P, e.g. --opt streamtune:tau=0.2\n");
}

/* Parses the factors "a,b,c" of a schedule of kind `kind` into v (room for cap): their
 * count (cap + 1 if there are more), or -1 after a usage error naming the first one that is
 * not a number >= 0. Spaces, tabs, newlines and commas separate factors. */
static int parse_list(const char *kind, const char *s, double *v, size_t cap)
{
	static const char sep[] = ", \t\r\n";
	size_t n = 0;
	for (s += strspn(s, sep); *s; s += strspn(s, sep)) {
		size_t len = strcspn(s, sep);
		char *end;
		errno = 0;
		double x = strtod(s, &end);
		if (end != s + len || errno != 0 || !isfinite(x) || x < 0) {
			stn_cli_usage_error(CMD, "--schedule %s: '%.*s' is not a number >= 0", kind,
					    (int)len, s);
			return -1;
		}
		if (n == cap)
			return (int)cap + 1;
		v[n++] = x;
		s = end;
	}
	return (int)n;
}

/* Splits "body@N" into body and N (default dflt); false after a usage error if N is not a
 * length of 1..1000000 windows. */
static bool split_period(const char *kind, char *body, uint32_t dflt, uint32_t *out)
{
	char *at = strchr(body, '@');
	*out = dflt;
	if (!at)
		return true;
	*at = '\0';
	char *end;
	errno = 0;
	unsigned long n = strtoul(at + 1, &end, 10);
	if (*end != '\0' || end == at + 1 || at[1] < '0' || at[1] > '9' || errno != 0 || n == 0 ||
	    n > 1000000) {
		stn_cli_usage_error(CMD,
				    "--schedule %s: '@%s' is not a length of 1..1000000 windows",
				    kind, at + 1);
		return false;
	}
	*out = (uint32_t)n;
	return true;
}

static int parse_schedule(const char *arg, stn_sim_schedule *sc, double **values)
{
	char buf[4096];
	memset(sc, 0, sizeof(*sc));
	*values = NULL;
	if (strlen(arg) >= sizeof(buf))
		return stn_cli_usage_error(CMD, "--schedule too long");
	strcpy(buf, arg);
	char *colon = strchr(buf, ':');
	char *body = colon ? colon + 1 : buf + strlen(buf);
	if (colon)
		*colon = '\0';
	double v[64];
	int n = 0;
	if (strcmp(buf, "constant") == 0) {
		sc->kind = STN_SCHED_CONSTANT;
		sc->level = 1.0;
		if (*body && (n = parse_list(buf, body, v, 1)) < 0)
			return 2;
		if (*body && n != 1)
			return stn_cli_usage_error(CMD, "constant:F needs one factor >= 0");
		if (n)
			sc->level = v[0];
		return 0;
	}
	if (strcmp(buf, "steps") == 0) {
		sc->kind = STN_SCHED_STEPS;
		if (!split_period(buf, body, 20, &sc->step_len) ||
		    (n = parse_list(buf, body, v, 64)) < 0)
			return 2;
		if (n < 1 || n > 64)
			return stn_cli_usage_error(CMD, "steps:F1,F2,..[@LEN] needs 1..64 factors");
	} else if (strcmp(buf, "square") == 0 || strcmp(buf, "sine") == 0) {
		bool sq = buf[1] == 'q';
		sc->kind = sq ? STN_SCHED_SQUARE : STN_SCHED_SINE;
		if (!split_period(buf, body, sq ? 40 : 60, &sc->period) ||
		    (n = parse_list(buf, body, v, 2)) < 0)
			return 2;
		if (n != 2)
			return stn_cli_usage_error(CMD, "%s needs two factors, e.g. %s", buf,
						   sq ? "square:0.5,1.5@40" : "sine:1,0.4@60");
		sc->level = v[0];
		if (sq)
			sc->high = v[1];
		else
			sc->amp = v[1];
		return 0;
	} else if (strcmp(buf, "trace") == 0) {
		sc->kind = STN_SCHED_TRACE;
		FILE *f = fopen(body, "r");
		if (!f)
			return stn_cli_error(CMD, "cannot open trace '%s': %s", body, strerror(errno));
		double *tv = stn__malloc_array(STN_SIM_SCHED_MAX_VALUES, sizeof(double));
		size_t tn = 0;
		int bad = 0;
		if (!tv) {
			fclose(f);
			return stn_cli_error(CMD, "out of memory");
		}
		for (;;) {
			double x;
			int r = fscanf(f, " %lf ,", &x);
			if (r == EOF)
				break;
			if (r != 1 || !isfinite(x) || x < 0 || tn >= STN_SIM_SCHED_MAX_VALUES) {
				bad = 1;
				break;
			}
			tv[tn++] = x;
		}
		fclose(f);
		if (bad || tn == 0) {
			stn__free(tv);
			return stn_cli_usage_error(CMD,
						   "trace '%s': need 1..%u factors >= 0, separated "
						   "by spaces, commas or newlines",
						   body, STN_SIM_SCHED_MAX_VALUES);
		}
		*values = tv;
		sc->values = tv;
		sc->n_values = tn;
		return 0;
	} else {
		return stn_cli_usage_error(CMD, "unknown schedule '%s' (constant, steps, square, sine, "
					   "trace)", buf);
	}
	double *cv = stn__malloc_array((size_t)n, sizeof(double));
	if (!cv)
		return stn_cli_error(CMD, "out of memory");
	memcpy(cv, v, (size_t)n * sizeof(double));
	*values = cv;
	sc->values = cv;
	sc->n_values = (size_t)n;
	return 0;
}

static void csv_header(FILE *out, const stn_dag *d)
{
	fprintf(out, "window,factor,source_rate,lag_ms");
	for (size_t v = 0; v < d->n_ops; v++) {
		const char *nm = d->ops[v].name[0] ? d->ops[v].name : "op";
		static const char *const cols[] = {"p", "busy_max", "rate_in", "backlog", "label",
						   "oracle_p"};
		for (size_t c = 0; c < 6; c++)
			fprintf(out, ",%zu_%s_%s", v, nm, cols[c]);
	}
	fputc('\n', out);
}

static const char *label_name(int l)
{
	return l == STN_LABEL_BOTTLENECK ? "bottleneck" : l == STN_LABEL_OK ? "ok" : "none";
}

int cmd_simulate(int argc, char **argv)
{
	const char *family = NULL, *schedule = "constant:1", *policy = "static", *csv = NULL;
	const char *model_path = NULL;
	uint64_t seed = 1, windows = 100, ops = 0;
	/* --help anywhere, with --suite too (the suite's parser has none of its own). */
	for (int i = 1; i < argc; i++) {
		if (stn_cli_is_help(argv[i])) {
			usage(stdout);
			return 0;
		}
	}
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--suite") == 0)
			return stn_cli_simulate_suite(argc, argv);
	for (int i = 1; i < argc; i++) {
		static const char *const options[] = {"--family", "--schedule", "--policy",
						      "--csv",    "--model",    "--seed",
						      "--windows", "--ops",      NULL};
		const char *a = argv[i], *val = NULL;
		if (!stn_cli_option_value(CMD, options, argc, argv, &i, &val))
			return 2;
		if (strcmp(a, "--family") == 0) {
			family = val;
		} else if (strcmp(a, "--schedule") == 0) {
			schedule = val;
		} else if (strcmp(a, "--policy") == 0) {
			policy = val;
		} else if (strcmp(a, "--csv") == 0) {
			csv = val;
		} else if (strcmp(a, "--model") == 0) {
			model_path = val;
		} else if (strcmp(a, "--seed") == 0) {
			if (!stn_cli_parse_u64(CMD, a, val, &seed))
				return 2;
		} else if (strcmp(a, "--windows") == 0) {
			if (!stn_cli_parse_u64_range(CMD, a, val, 1, 1000000, &windows))
				return 2;
		} else { /* --ops */
			if (!stn_cli_parse_u64_range(CMD, a, val, 3, 60, &ops))
				return 2;
		}
	}
	if (!family)
		return stn_cli_usage_error(CMD, "--family is required (q0..q8, nexmark, random)");
	stn_sim_family fam;
	if (stn__sim_family_parse(family, &fam) != STN_OK)
		return stn_cli_usage_error(CMD, "unknown family '%s' (q0..q8, nexmark, random)",
					   family);
	if (ops && fam != STN_SIM_RANDOM)
		return stn_cli_usage_error(CMD, "--ops applies to --family random only");
	const stn_policy_vtable *pv = stn__policy_find(policy);
	if (!pv)
		return stn_cli_usage_error(CMD, "unknown policy '%s' (see --help)", policy);

	stn_sim_schedule sc;
	double *values = NULL;
	int rc = parse_schedule(schedule, &sc, &values);
	if (rc != 0)
		return rc;
	stn_errbuf eb;
	stn_sim_job job;
	stn_sim *sim = NULL;
	FILE *out = stdout;
	uint32_t *orc = NULL;
	stn_model model;
	bool have_model = false;
	stn_policy *pol = NULL;
	stn_decision dec;
	stn_dag rated;
	double factor_prev = 1.0;
	rc = 1;
	memset(&dec, 0, sizeof(dec));
	stn__dag_init(&rated);
	if (model_path != NULL) {
		if (stn__model_read(&model, model_path, &eb) != STN_OK) {
			stn__free(values);
			return stn_cli_error(CMD, "model: %s", eb.text);
		}
		have_model = true;
	}
	if (stn__sim_job_random(&job, fam, (uint32_t)ops, seed, &eb) != STN_OK) {
		stn__free(values);
		if (have_model)
			stn__model_fini(&model);
		return stn_cli_error(CMD, "%s", eb.text);
	}
	if (stn__sim_create(&sim, &job, NULL, &sc, seed ^ 0x9e3779b97f4a7c15ull, &eb) != STN_OK) {
		stn_cli_error(CMD, "%s", eb.text);
		goto cleanup_job;
	}
	size_t n = job.dag.n_ops;
	orc = stn__calloc(n, sizeof(uint32_t));
	if (!orc || stn__decision_init(&dec, n) != STN_OK || stn__dag_copy(&rated, &job.dag) != STN_OK) {
		stn_cli_error(CMD, "out of memory");
		goto cleanup_sim;
	}
	if (pv->create(&job.dag, NULL, 0, have_model ? &model : NULL, &pol, &eb) != STN_OK) {
		stn_cli_error(CMD, "policy %s: %s", pv->name, eb.text);
		goto cleanup_sim;
	}
	if (csv) {
		out = fopen(csv, "w");
		if (!out) {
			stn_cli_error(CMD, "cannot write '%s': %s", csv, strerror(errno));
			goto cleanup_sim;
		}
	}
	const stn_dag *d = stn__sim_dag(sim);
	csv_header(out, d);
	for (uint64_t t = 0; t < windows; t++) {
		double f = stn__sim_factor(sim, t);
		if (stn__sim_step(sim, &eb) != STN_OK) {
			stn_cli_error(CMD, "window %llu: %s", (unsigned long long)t, eb.text);
			goto cleanup_out;
		}
		stn__sim_oracle(sim, f, orc);
		const stn_window *w = stn__sim_window(sim);
		double src = 0.0;
		for (size_t v = 0; v < n; v++)
			if (d->ops[v].kind == STN_KIND_SOURCE)
				src += d->ops[v].source_rate * f;
		fprintf(out, "%llu,%.4f,%.2f,%.2f", (unsigned long long)t, f, src, w->lag_ms);
		for (size_t v = 0; v < n; v++) {
			const stn_op_window *o = &w->ops[v];
			fprintf(out, ",%u,%.4f,%.2f,%.1f,%s,%u", o->parallelism, o->busy_max,
				o->rate_in, o->backlog_sum, label_name(o->label), orc[v]);
		}
		fputc('\n', out);
		if (f != factor_prev && pv->on_rates != NULL) {
			/* The new target load, as an engine would re-declare it. */
			for (size_t v = 0; v < n; v++)
				rated.ops[v].source_rate = job.dag.ops[v].source_rate * f;
			if (pv->on_rates(pol, &rated, &eb) != STN_OK) {
				stn_cli_error(CMD, "policy %s: %s", pv->name, eb.text);
				goto cleanup_out;
			}
			factor_prev = f;
		}
		bool decided = false;
		if (pv->on_window(pol, w, &dec, &decided, &eb) != STN_OK ||
		    (decided && stn__sim_set_parallelism(sim, dec.parallelism, &eb) != STN_OK)) {
			stn_cli_error(CMD, "policy %s, window %llu: %s", pv->name,
				      (unsigned long long)t, eb.text);
			goto cleanup_out;
		}
		if (decided)
			fprintf(stderr, "window %llu: %s\n", (unsigned long long)t, dec.reason);
	}
	rc = 0;
cleanup_out:
	if (out != stdout && fclose(out) != 0 && rc == 0)
		rc = stn_cli_error(CMD, "cannot write '%s'", csv);
	if (out == stdout)
		fflush(stdout);
cleanup_sim:
	if (pol != NULL)
		pv->destroy(pol);
	stn__decision_fini(&dec);
	stn__dag_fini(&rated);
	stn__free(orc);
	stn__sim_destroy(sim);
cleanup_job:
	stn__sim_job_fini(&job);
	if (have_model)
		stn__model_fini(&model);
	stn__free(values);
	return rc;
}
