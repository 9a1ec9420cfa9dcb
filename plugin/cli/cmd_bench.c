/* streamtune bench NAME [--json] [--quick] [--seed N]: the benchmarks in benches.def. */
#include <string.h>

#include "cli.h"

typedef struct bench {
	const char *name;
	int (*fn)(const stn_bench_opts *opts);
	const char *summary;
} bench;

static const bench benches[] = {
#define X(name, fn, summary) {#name, fn, summary},
#include "benches.def"
#undef X
};
#define N_BENCHES (sizeof(benches) / sizeof(benches[0]))

static void usage(FILE *f)
{
	fprintf(f, "usage: streamtune bench NAME|all [--json] [--quick] [--seed N]\n\n"
		   "Prints one figure per line; with --json one object per line:\n"
		   "  {\"bench\": NAME, \"metric\": NAME, \"value\": NUMBER, \"unit\": TEXT, ...}\n\n"
		   "  --json     JSON lines on stdout\n"
		   "  --quick    smaller sizes (a smoke run)\n"
		   "  --seed N   random seed (default 1)\n\nbenchmarks:\n");
	for (size_t i = 0; i < N_BENCHES; i++)
		fprintf(f, "  %-10s %s\n", benches[i].name, benches[i].summary);
}

int cmd_bench(int argc, char **argv)
{
	stn_bench_opts opts = {false, false, 1};
	const char *name = NULL;

	for (int i = 1; i < argc; i++) {
		if (stn_cli_is_help(argv[i])) {
			usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "--json") == 0) {
			opts.json = true;
		} else if (strcmp(argv[i], "--quick") == 0) {
			opts.quick = true;
		} else if (strcmp(argv[i], "--seed") == 0) {
			if (!stn_cli_parse_u64("bench", "--seed", i + 1 < argc ? argv[++i] : NULL,
					       &opts.seed))
				return 2;
		} else if (argv[i][0] == '-') {
			return stn_cli_usage_error("bench", "unknown option '%s'", argv[i]);
		} else if (name == NULL) {
			name = argv[i];
		} else {
			return stn_cli_usage_error("bench", "unexpected argument '%s'", argv[i]);
		}
	}
	if (name == NULL)
		return stn_cli_usage_error("bench", "which benchmark? (NAME or all)");
	if (strcmp(name, "all") == 0) {
		int rc = 0;
		for (size_t i = 0; i < N_BENCHES; i++) {
			int r = benches[i].fn(&opts);
			if (r != 0)
				rc = r;
		}
		return rc;
	}
	for (size_t i = 0; i < N_BENCHES; i++)
		if (strcmp(name, benches[i].name) == 0)
			return benches[i].fn(&opts);
	return stn_cli_usage_error("bench", "unknown benchmark '%s'", name);
}
