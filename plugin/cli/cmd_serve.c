/* streamtune serve: the tuning endpoint for any engine, until SIGINT or SIGTERM. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "endpoint.h"
#include "log.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: streamtune serve --bind ENDPOINT --history FILE [OPTIONS]\n\n"
		"Runs the tuning endpoint: a ZeroMQ ROUTER socket speaking the protocol of\n"
		"proto/PROTOCOL.md. Stops cleanly on SIGINT or SIGTERM (pending windows are\n"
		"committed first).\n\n"
		"  --bind ENDPOINT       e.g. tcp://127.0.0.1:5555, tcp://*:5555, ipc:///tmp/stn.sock\n"
		"  --history FILE        SQLite history, created if missing\n"
		"  --model FILE          pre-trained model for the streamtune policy (default:\n"
		"                        the shipped default model: $STREAMTUNE_MODEL if set,\n"
		"                        'none' for no model, else plugin/models/default.stnm\n"
		"                        beside the build, else the installed\n"
		"                        share/streamtune/models/default.stnm; without any it\n"
		"                        falls back to DS2 and says so in its decisions)\n"
		"  --sync full|normal    full: fsync every group commit (survives power loss);\n"
		"                        normal: WAL without fsync per commit (survives a crash of\n"
		"                        the process, not of the machine). Default: full\n"
		"  --commit-us N         group-commit latency bound under load (default 2000)\n"
		"  --window-timeout-ms N close a window missing parts after N ms (default 5000)\n"
		"  --max-msg-bytes N     largest accepted message (default 16777216)\n"
		"  --stats-every S       log a counters line every S seconds (default 10, 0: never)\n"
		"  --log-level LEVEL     error, warn, info (default) or debug\n");
}

static int parse_level(const char *s)
{
	static const char *const names[] = {"error", "warn", "info", "debug"};

	for (int i = 0; i < 4; i++)
		if (s != NULL && strcmp(s, names[i]) == 0)
			return i;
	return -1;
}

int cmd_serve(int argc, char **argv)
{
	stn_endpoint_config cfg;
	stn_errbuf eb = {{0}};
	stn_endpoint *ep = NULL;
	uint64_t v, stats_every = 10;
	sigset_t sigs;
	stn_status rv;

	memset(&cfg, 0, sizeof(cfg));
	cfg.logger = stn__logger_default();
	cfg.synchronous_full = true;
	/* Every option but --help takes a value. */
	for (int i = 1; i < argc; i++) {
		static const char *const options[] = {
			"--bind", "--history", "--model", "--sync", "--commit-us",
			"--window-timeout-ms", "--max-msg-bytes", "--stats-every", "--log-level",
			NULL};
		const char *a = argv[i], *val = NULL;

		if (stn_cli_is_help(a)) {
			usage(stdout);
			return 0;
		}
		if (!stn_cli_option_value("serve", options, argc, argv, &i, &val))
			return 2;
		if (strcmp(a, "--bind") == 0) {
			cfg.bind = val;
		} else if (strcmp(a, "--history") == 0) {
			cfg.history_path = val;
		} else if (strcmp(a, "--model") == 0) {
			cfg.model_path = val;
		} else if (strcmp(a, "--sync") == 0) {
			if (strcmp(val, "full") != 0 && strcmp(val, "normal") != 0)
				return stn_cli_usage_error("serve", "--sync takes full or normal");
			cfg.synchronous_full = strcmp(val, "full") == 0;
		} else if (strcmp(a, "--commit-us") == 0) {
			if (!stn_cli_parse_u64_range("serve", a, val, 1, 10000000, &v))
				return 2;
			cfg.commit_interval_us = (uint32_t)v;
		} else if (strcmp(a, "--window-timeout-ms") == 0) {
			if (!stn_cli_parse_u64_range("serve", a, val, 1, 3600000, &v))
				return 2;
			cfg.window_timeout_ms = (uint32_t)v;
		} else if (strcmp(a, "--max-msg-bytes") == 0) {
			if (!stn_cli_parse_u64_range("serve", a, val, 1024, 16777216, &v))
				return 2;
			cfg.max_msg_bytes = (uint32_t)v;
		} else if (strcmp(a, "--stats-every") == 0) {
			if (!stn_cli_parse_u64("serve", a, val, &stats_every))
				return 2;
		} else { /* --log-level */
			cfg.logger.level = parse_level(val);
			if (cfg.logger.level < 0)
				return stn_cli_usage_error("serve", "--log-level takes error, warn, info or debug");
		}
	}
	if (cfg.bind == NULL)
		return stn_cli_usage_error("serve", "--bind is required");
	if (cfg.history_path == NULL)
		return stn_cli_usage_error("serve", "--history is required");

	/* Signals are taken synchronously here, never by the endpoint thread. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	rv = stn__endpoint_start(&cfg, &ep, &eb);
	if (rv != STN_OK)
		return stn_cli_error("serve", "%s (%s)", eb.text, stn__status_name(rv));
	printf("listening on %s\n", stn__endpoint_address(ep));
	fflush(stdout);
	for (;;) {
		struct timespec ts = {stats_every > 0 ? (time_t)stats_every : 3600, 0};
		int sig = sigtimedwait(&sigs, NULL, &ts);

		if (sig == SIGINT || sig == SIGTERM) {
			STN_LOGI(&cfg.logger, "signal %s: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
			break;
		}
		if (sig < 0 && errno == EAGAIN && stats_every > 0) {
			stn_serve_stats st = {sizeof(st), 0, 0, 0, 0, 0, 0, 0};

			stn__endpoint_stats(ep, &st);
			STN_LOGI(&cfg.logger,
				 "jobs %llu, messages %llu, windows %llu, rows %llu, errors %llu, "
				 "commits %llu",
				 (unsigned long long)st.jobs, (unsigned long long)st.messages,
				 (unsigned long long)st.windows, (unsigned long long)st.rows,
				 (unsigned long long)st.errors, (unsigned long long)st.commits);
		}
	}
	stn__endpoint_stop(ep);
	return 0;
}
