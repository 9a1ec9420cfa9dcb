/* streamtune demo: a simulated job tuned live through the real endpoint. The job's windows
 * go over a real ZeroMQ socket as per-instance SAMPLES; the endpoint aggregates, labels,
 * stores and runs the policy; its DECISIONs are applied to the simulated job and ACKed.
 * Shows progress per window and writes a CSV of every window and a JSON summary. */
#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "cli.h"
#include "client.h"
#include "endpoint.h"
#include "policy.h"
#include "sim.h"
#include "simlink.h"

typedef struct demo_opts {
	const char *policy;
	const char *out_dir;
	const char *model_path;
	stn_sim_family family;
	uint64_t seed;
	uint64_t windows;
	uint64_t delay_ms;
} demo_opts;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: streamtune demo [OPTIONS]\n\n"
		"Tunes a simulated Nexmark-shaped job live: the job talks to a real endpoint over\n"
		"ZeroMQ, the endpoint stores every window in a SQLite history and sends the\n"
		"policy's decisions, which the job applies. The source rate steps up by 60 %%, then\n"
		"down to 80 %% of the start.\n\n"
		"  --policy P      streamtune (default), ds2, flink-autoscaler, conttune, dhalion, static\n"
		"  --family F      q0..q8, nexmark or random (default q5)\n"
		"  --windows N     windows to run (default 90)\n"
		"  --seed N        seed of the job and its noise (default 7)\n"
		"  --delay-ms N    pause between windows, to watch (default 30)\n"
		"  --model FILE    pre-trained model for the streamtune policy (default: the\n"
		"                  shipped default model: $STREAMTUNE_MODEL if set, 'none' for\n"
		"                  no model, else plugin/models/default.stnm beside the build,\n"
		"                  else the installed share/streamtune/models/; without any, DS2)\n"
		"  --out DIR       where history.sqlite, windows.csv and summary.json go\n"
		"                  (default runs/demo)\n");
}

static int mkdir_p(const char *path)
{
	char tmp[512];

	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(tmp, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

static int run_demo(const demo_opts *o)
{
	/* Rate factor per window: start, +60 %, then 80 % of the start. */
	static const double steps[] = {1.0, 1.6, 0.8};
	stn_sim_schedule sched = {STN_SCHED_STEPS, 0, 0, 0, 0, 30, steps, 3};
	char hist[600], csv_path[600], json_path[600], bind[600];
	stn_endpoint_config ecfg;
	stn_errbuf eb = {{0}};
	stn_endpoint *ep = NULL;
	stn_client *c = NULL;
	stn_simlink link;
	stn_sim_job job;
	stn_sim *sim = NULL;
	FILE *csv = NULL, *js = NULL;
	uint32_t *oracle = NULL;
	uint64_t bottleneck_windows = 0, sum_p_end = 0, oracle_end = 0;
	double factor_prev = -1.0;
	bool tty = isatty(STDOUT_FILENO);
	int rc = 1;

	sched.step_len = (uint32_t)(o->windows / 3 > 0 ? o->windows / 3 : 1);
	memset(&job, 0, sizeof(job));
	if (mkdir_p(o->out_dir) != 0)
		return stn_cli_error("demo", "cannot create %s: %s", o->out_dir, strerror(errno));
	snprintf(hist, sizeof(hist), "%s/history.sqlite", o->out_dir);
	snprintf(csv_path, sizeof(csv_path), "%s/windows.csv", o->out_dir);
	snprintf(json_path, sizeof(json_path), "%s/summary.json", o->out_dir);
	snprintf(bind, sizeof(bind), "ipc://%s/endpoint.sock", o->out_dir);
	unlink(hist); /* a demo starts from an empty history */

	if (stn__sim_job_random(&job, o->family, 0, o->seed, &eb) != STN_OK ||
	    stn__sim_create(&sim, &job, NULL, &sched, o->seed, &eb) != STN_OK) {
		rc = stn_cli_error("demo", "simulator: %s", eb.text);
		goto out;
	}
	memset(&ecfg, 0, sizeof(ecfg));
	ecfg.bind = bind;
	ecfg.history_path = hist;
	ecfg.model_path = o->model_path;
	ecfg.synchronous_full = false;
	ecfg.logger = stn__logger_default();
	ecfg.logger.level = STN_LOG_WARN;
	if (stn__endpoint_start(&ecfg, &ep, &eb) != STN_OK) {
		rc = stn_cli_error("demo", "endpoint: %s", eb.text);
		goto out;
	}
	if (stn__client_connect(stn__endpoint_address(ep), &c, &eb) != STN_OK) {
		rc = stn_cli_error("demo", "%s", eb.text);
		goto out;
	}
	memset(&link, 0, sizeof(link));
	link.client = c;
	link.sim = sim;
	link.job = "demo";
	oracle = stn__calloc(job.dag.n_ops, sizeof(uint32_t));
	csv = fopen(csv_path, "w");
	if (oracle == NULL || csv == NULL) {
		rc = stn_cli_error("demo", "cannot write %s", csv_path);
		goto out;
	}
	fprintf(csv, "window,rate_factor,sum_p,oracle_sum_p,bottlenecks,lag_ms,decisions\n");
	printf("StreamTune demo: %s-shaped job, %zu operators, policy %s, endpoint %s\n",
	       stn__sim_family_name(o->family), job.dag.n_ops, o->policy, stn__endpoint_address(ep));

	for (uint64_t t = 0; t < o->windows; t++) {
		const stn_window *w;
		double factor = stn__sim_factor(sim, t);
		uint64_t sum_p = 0, osum, n_bneck = 0;

		if (factor != factor_prev) {
			/* The new target load, told to the endpoint as a REGISTER with new rates. */
			if (stn__simlink_register(&link, o->policy, NULL, 0, factor, &eb) != STN_OK) {
				rc = stn_cli_error("demo", "register: %s", eb.text);
				goto out;
			}
			if (factor_prev >= 0)
				printf("-- source rate now %.0f %% of the start\n", factor * 100);
			factor_prev = factor;
		}
		if (stn__simlink_window(&link, &eb) != STN_OK) {
			rc = stn_cli_error("demo", "window %llu: %s", (unsigned long long)t, eb.text);
			goto out;
		}
		w = stn__sim_window(sim);
		for (size_t i = 0; i < w->n_ops; i++) {
			sum_p += w->ops[i].parallelism;
			n_bneck += w->ops[i].label == STN_LABEL_BOTTLENECK;
		}
		osum = stn__sim_oracle(sim, factor, oracle);
		bottleneck_windows += n_bneck > 0;
		fprintf(csv, "%llu,%.3f,%llu,%llu,%llu,%.1f,%llu\n", (unsigned long long)t, factor,
			(unsigned long long)sum_p, (unsigned long long)osum,
			(unsigned long long)n_bneck, w->lag_ms, (unsigned long long)link.decisions);
		printf("%swindow %3llu/%llu  rate %3.0f%%  sum p %3llu (oracle %3llu)  "
		       "bottlenecks %llu  lag %7.0f ms  decisions %llu%s",
		       tty ? "\r" : "", (unsigned long long)t + 1, (unsigned long long)o->windows,
		       factor * 100, (unsigned long long)sum_p, (unsigned long long)osum,
		       (unsigned long long)n_bneck, w->lag_ms, (unsigned long long)link.decisions,
		       tty ? "   " : "\n");
		fflush(stdout);
		sum_p_end = sum_p;
		oracle_end = osum;
		if (o->delay_ms > 0)
			usleep((useconds_t)(o->delay_ms * 1000));
	}
	if (tty)
		printf("\n");
	js = fopen(json_path, "w");
	if (js == NULL) {
		rc = stn_cli_error("demo", "cannot write %s", json_path);
		goto out;
	}
	fprintf(js,
		"{\"policy\":\"%s\",\"family\":\"%s\",\"operators\":%zu,\"windows\":%llu,"
		"\"decisions\":%llu,\"windows_with_bottleneck\":%llu,\"final_sum_p\":%llu,"
		"\"final_oracle_sum_p\":%llu,\"seed\":%llu}\n",
		o->policy, stn__sim_family_name(o->family), job.dag.n_ops,
		(unsigned long long)o->windows, (unsigned long long)link.decisions,
		(unsigned long long)bottleneck_windows, (unsigned long long)sum_p_end,
		(unsigned long long)oracle_end, (unsigned long long)o->seed);
	printf("\nsummary: %llu decisions, %llu of %llu windows with a bottleneck, final sum of "
	       "parallelism %llu (oracle %llu)\nlast decision: %s\n",
	       (unsigned long long)link.decisions, (unsigned long long)bottleneck_windows,
	       (unsigned long long)o->windows, (unsigned long long)sum_p_end,
	       (unsigned long long)oracle_end,
	       link.decisions > 0 ? link.last_reason : "none");
	/* The binary as it was invoked, so the hint runs from where the demo was started. */
	printf("wrote %s, %s, %s\n(inspect it: %s inspect history %s --job demo)\n", hist, csv_path,
	       json_path, stn_cli_program, hist);
	rc = 0;
out:
	if (csv != NULL)
		fclose(csv);
	if (js != NULL)
		fclose(js);
	stn__client_close(c);
	stn__endpoint_stop(ep);
	stn__sim_destroy(sim);
	stn__sim_job_fini(&job);
	stn__free(oracle);
	return rc;
}

int cmd_demo(int argc, char **argv)
{
	demo_opts o = {"streamtune", "runs/demo", NULL, STN_SIM_Q5, 7, 90, 30};

	for (int i = 1; i < argc; i++) {
		static const char *const options[] = {"--policy", "--model",   "--out",
						      "--family", "--seed",    "--windows",
						      "--delay-ms", NULL};
		const char *a = argv[i], *val = NULL;

		if (stn_cli_is_help(a)) {
			usage(stdout);
			return 0;
		}
		if (!stn_cli_option_value("demo", options, argc, argv, &i, &val))
			return 2;
		if (strcmp(a, "--policy") == 0) {
			/* Checked here, not when the endpoint refuses the job's REGISTER. */
			if (stn__policy_find(val) == NULL)
				return stn_cli_usage_error("demo", "unknown policy '%s'", val);
			o.policy = val;
		} else if (strcmp(a, "--model") == 0) {
			o.model_path = val;
		} else if (strcmp(a, "--out") == 0) {
			o.out_dir = val;
		} else if (strcmp(a, "--family") == 0) {
			if (stn__sim_family_parse(val, &o.family) != STN_OK)
				return stn_cli_usage_error("demo", "unknown family '%s'", val);
		} else if (strcmp(a, "--seed") == 0) {
			if (!stn_cli_parse_u64("demo", a, val, &o.seed))
				return 2;
		} else if (strcmp(a, "--windows") == 0) {
			if (!stn_cli_parse_u64_range("demo", a, val, 3, 100000, &o.windows))
				return 2;
		} else { /* --delay-ms */
			if (!stn_cli_parse_u64_range("demo", a, val, 0, 10000, &o.delay_ms))
				return 2;
		}
	}
	return run_demo(&o);
}
