/* simulate_suite: the closed-loop CLI of the evaluation protocol. */
#include "simulate_suite.h"

#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "evaluate.h"
#include "model.h"
#include "policy.h"
#include "sim.h"

#define CMD "simulate"

static int load_model(const char *path, stn_model *m, bool *have)
{
	*have = false;
	if (!path)
		return 0;
	stn_errbuf eb = {{0}};
	memset(m, 0, sizeof(*m));
	if (stn__model_read(m, path, &eb) != STN_OK)
		return stn_cli_error(CMD, "model: %s", eb.text); /* eb names the file */
	*have = true;
	return 0;
}

/* --suite [--quick] [--jobs N] [--windows N] [--seed N] [--model PATH] [--csv PATH] [--json]
 *         [--policies P1,P2] [--opt [P:]NAME=VALUE]... */
int stn_cli_simulate_suite(int argc, char **argv)
{
	uint64_t jobs = 54, windows = 600, seed = 42;
	const char *csv = NULL, *model_path = NULL;
	bool json = false, quick = false;
	stn_suite_option opts[STN_SUITE_MAX_OPTIONS];
	size_t n_opts = 0;
	const char *policies[16];
	size_t n_policies = 0;
	for (int i = 1; i < argc; i++) {
		static const char *const options[] = {"--csv",  "--model", "--jobs",  "--windows",
						      "--seed", "--opt",   "--policies", NULL};
		const char *a = argv[i], *val = NULL;
		if (strcmp(a, "--suite") == 0) {
			continue;
		} else if (strcmp(a, "--quick") == 0) {
			quick = true;
			continue;
		} else if (strcmp(a, "--json") == 0) {
			json = true;
			continue;
		}
		if (!stn_cli_option_value(CMD, options, argc, argv, &i, &val))
			return 2;
		if (strcmp(a, "--csv") == 0) {
			csv = val;
		} else if (strcmp(a, "--model") == 0) {
			model_path = val;
		} else if (strcmp(a, "--jobs") == 0) {
			if (!stn_cli_parse_u64(CMD, a, val, &jobs))
				return 2;
		} else if (strcmp(a, "--windows") == 0) {
			if (!stn_cli_parse_u64(CMD, a, val, &windows))
				return 2;
		} else if (strcmp(a, "--seed") == 0) {
			if (!stn_cli_parse_u64(CMD, a, val, &seed))
				return 2;
		} else if (strcmp(a, "--opt") == 0) {
			if (n_opts >= STN_SUITE_MAX_OPTIONS)
				return stn_cli_usage_error(CMD, "more than %u --opt",
							   STN_SUITE_MAX_OPTIONS);
			if (!stn_cli_parse_policy_opt(CMD, argv[i], &opts[n_opts].policy,
						      &opts[n_opts].opt))
				return 2;
			n_opts++;
		} else { /* --policies: comma-separated names, split in place */
			for (char *name = argv[i]; name != NULL;) {
				char *comma = strchr(name, ',');
				if (comma)
					*comma = '\0';
				if (*name == '\0' || n_policies >= 16)
					return stn_cli_usage_error(CMD, "--policies: 1..16 names");
				if (stn__policy_find(name) == NULL)
					return stn_cli_usage_error(
						CMD, "--policies: unknown policy '%s'", name);
				policies[n_policies++] = name;
				name = comma ? comma + 1 : NULL;
			}
		}
	}
	if (quick) {
		jobs = 8;
		windows = 300;
	}
	if (jobs == 0 || jobs > 10000 || windows == 0 || windows > 1000000)
		return stn_cli_usage_error(CMD, "--jobs 1..10000, --windows 1..1000000");
	stn_suite_opts so = {.n_jobs = (size_t)jobs, .windows = windows, .seed = seed,
			     .policies = n_policies ? policies : NULL, .n_policies = n_policies,
			     .opts = opts, .n_opts = n_opts};
	stn_errbuf eb = {{0}};
	/* Options a policy refuses are usage errors: found now, before the model is read and
	 * the runs start (the model takes no part in checking them). */
	stn_status st = stn__eval_suite_check(&so, &eb);
	if (st == STN_EINVAL) /* --policies were checked as they were read */
		return stn_cli_usage_error(CMD, "--opt: %s", eb.text);
	if (st != STN_OK)
		return stn_cli_error(CMD, "%s", eb.text);
	stn_model model;
	bool have_model;
	int rc = load_model(model_path, &model, &have_model);
	if (rc)
		return rc;
	so.model = have_model ? &model : NULL;
	stn_suite_row rows[16];
	size_t n_rows = 0;
	if (stn__eval_suite(&so, rows, &n_rows, &eb) != STN_OK) {
		rc = stn_cli_error(CMD, "%s", eb.text);
		goto cleanup_model;
	}
	if (csv) {
		FILE *f = fopen(csv, "w");
		if (!f) {
			rc = stn_cli_error(CMD, "cannot write %s", csv);
			goto cleanup_model;
		}
		fprintf(f, "policy,episodes,converged_fraction,reconfigs_mean,reconfigs_max,"
			   "parallelism_over_oracle,bottleneck_windows_after_convergence,"
			   "time_to_stable_windows,safety_violations,decide_us_per_window\n");
		for (size_t k = 0; k < n_rows; k++) {
			const stn_eval_result *t = &rows[k].total;
			fprintf(f, "%s,%llu,%.4f,%.4f,%llu,%.4f,%llu,%.2f,%llu,%.2f\n", rows[k].policy,
				(unsigned long long)t->episodes, rows[k].converged_fraction,
				t->reconfigs_mean, (unsigned long long)t->reconfigs_max,
				rows[k].parallelism_over_oracle,
				(unsigned long long)t->bottleneck_windows_after_convergence,
				t->time_to_stable_windows, (unsigned long long)t->safety_violations,
				t->windows ? t->decide_seconds * 1e6 / t->windows : 0);
		}
		if (fclose(f) != 0) {
			rc = stn_cli_error(CMD, "cannot write %s", csv);
			goto cleanup_model;
		}
	}
	if (json) {
		printf("{\"policies\": {");
		for (size_t k = 0; k < n_rows; k++) {
			const stn_eval_result *t = &rows[k].total;
			printf("%s\"%s\": {\"reconfigs_mean\": %.4f, \"reconfigs_max\": %llu, "
			       "\"parallelism_over_oracle\": %.4f, "
			       "\"bottleneck_windows_after_convergence\": %llu, "
			       "\"time_to_stable_windows\": %.2f, \"converged_fraction\": %.4f, "
			       "\"episodes\": %llu}",
			       k ? ", " : "", rows[k].policy, t->reconfigs_mean,
			       (unsigned long long)t->reconfigs_max, rows[k].parallelism_over_oracle,
			       (unsigned long long)t->bottleneck_windows_after_convergence,
			       t->time_to_stable_windows, rows[k].converged_fraction,
			       (unsigned long long)t->episodes);
		}
		printf("}, \"jobs\": %llu, \"seed\": %llu, \"windows\": %llu}\n",
		       (unsigned long long)jobs, (unsigned long long)seed,
		       (unsigned long long)windows);
	} else {
		printf("%-17s %8s %9s %8s %8s %9s %10s %9s\n", "policy", "episodes", "converged",
		       "reconf", "reconf", "sum p /", "bottleneck", "time to");
		printf("%-17s %8s %9s %8s %8s %9s %10s %9s\n", "", "", "", "mean", "max", "oracle",
		       "after conv", "stable");
		for (size_t k = 0; k < n_rows; k++) {
			const stn_eval_result *t = &rows[k].total;
			printf("%-17s %8llu %8.1f%% %8.2f %8llu %9.3f %10llu %9.1f\n", rows[k].policy,
			       (unsigned long long)t->episodes, 100.0 * rows[k].converged_fraction,
			       t->reconfigs_mean, (unsigned long long)t->reconfigs_max,
			       rows[k].parallelism_over_oracle,
			       (unsigned long long)t->bottleneck_windows_after_convergence,
			       t->time_to_stable_windows);
		}
		printf("%llu jobs, %llu windows each, seed %llu\n", (unsigned long long)jobs,
		       (unsigned long long)windows, (unsigned long long)seed);
	}
	rc = 0;
cleanup_model:
	if (have_model)
		stn__model_fini(&model);
	return rc;
}
