/* streamtune history generate|export|import: simulator-made histories, and moving histories
 * between endpoints. */
#include <inttypes.h>
#include <string.h>

#include "cli.h"
#include "pretrain.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: streamtune history generate|export|import ...\n\n"
		   "  generate  write a history from the simulator (pre-training data)\n"
		   "  export    write a history as a MessagePack file\n"
		   "  import    merge exported files into a history\n\n"
		   "`streamtune history SUBCOMMAND --help` for its arguments.\n");
}

static void generate_usage(FILE *f)
{
	fprintf(f,
		"usage: streamtune history generate --out FILE [--families LIST] [--jobs N]\n"
		"                                   [--windows N] [--seed S] [--layered-ops N]\n\n"
		"Runs simulated jobs and records them in a new SQLite history FILE exactly as the\n"
		"endpoint would: each job with its DAG, every window with its per-operator aggregates\n"
		"and labels, and every decision (random configurations around the oracle, most of them\n"
		"under-provisioning some operators) with its acknowledgement. Source rates change on a\n"
		"random step schedule; some jobs are redeployed halfway with one selectivity changed\n"
		"(a second DAG version). Deterministic for a seed. FILE must not exist; it appears only\n"
		"when complete.\n\n"
		"  --out FILE         the new history (required)\n"
		"  --families LIST    comma-separated: q0..q8 (Nexmark query graphs), nexmark (one of\n"
		"                     them per job), random or layered (random layered DAGs), all\n"
		"                     (q0..q8 and random); jobs take them in turn (default: all)\n"
		"  --jobs N           simulated jobs (default 10)\n"
		"  --windows N        windows per job (default 200)\n"
		"  --seed S           random seed (default 1)\n"
		"  --layered-ops N    operators of random DAGs, 3..60, 0 = random size (default 10)\n");
}

/* Parses a comma-separated family list into fams (capacity STN_HISTGEN_MAX_FAMILIES). */
static bool parse_families(const char *s, stn_sim_family *fams, size_t *n)
{
	*n = 0;
	while (*s != '\0') {
		const char *e = strchr(s, ',');
		size_t len = e != NULL ? (size_t)(e - s) : strlen(s);
		if (len == 3 && strncmp(s, "all", 3) == 0) {
			for (int q = STN_SIM_Q0; q <= STN_SIM_Q8 + 1; q++) {
				if (*n >= STN_HISTGEN_MAX_FAMILIES) {
					stn_cli_usage_error("history generate", "too many families");
					return false;
				}
				fams[(*n)++] = q <= STN_SIM_Q8 ? (stn_sim_family)q : STN_SIM_RANDOM;
			}
		} else {
			stn_sim_family f;
			if (*n >= STN_HISTGEN_MAX_FAMILIES ||
			    stn__histgen_family_parse(s, len, &f) != STN_OK) {
				stn_cli_usage_error("history generate", "unknown family '%.*s'",
						    (int)len, s);
				return false;
			}
			fams[(*n)++] = f;
		}
		s += len;
		if (*s == ',')
			s++;
	}
	if (*n == 0)
		stn_cli_usage_error("history generate", "--families: a comma-separated list is needed");
	return *n > 0;
}

static int cmd_generate(int argc, char **argv)
{
	const char *cmd = "history generate", *out = NULL, *families = "all";
	stn_histgen_opts o;
	stn_sim_family fams[STN_HISTGEN_MAX_FAMILIES];
	uint64_t v;

	stn__histgen_opts_default(&o);
	for (int i = 1; i < argc; i++) {
		static const char *const options[] = {"--out",     "--families", "--jobs",
						      "--windows", "--seed",     "--layered-ops",
						      NULL};
		const char *a = argv[i], *val = NULL;
		if (stn_cli_is_help(a)) {
			generate_usage(stdout);
			return 0;
		}
		if (!stn_cli_option_value(cmd, options, argc, argv, &i, &val))
			return 2;
		if (strcmp(a, "--out") == 0) {
			out = val;
		} else if (strcmp(a, "--families") == 0) {
			families = val;
		} else if (strcmp(a, "--jobs") == 0) {
			if (!stn_cli_parse_u64_range(cmd, a, val, 1, STN_HISTGEN_MAX_JOBS, &v))
				return 2;
			o.jobs = (size_t)v;
		} else if (strcmp(a, "--windows") == 0) {
			if (!stn_cli_parse_u64_range(cmd, a, val, 1, STN_HISTGEN_MAX_WINDOWS, &v))
				return 2;
			o.windows = (size_t)v;
		} else if (strcmp(a, "--seed") == 0) {
			if (!stn_cli_parse_u64(cmd, a, val, &o.seed))
				return 2;
		} else { /* --layered-ops */
			if (!stn_cli_parse_u64(cmd, a, val, &v))
				return 2;
			if (v != 0 && (v < 3 || v > 60))
				return stn_cli_usage_error(cmd, "--layered-ops must be 3..60 or 0");
			o.layered_ops = (uint32_t)v;
		}
	}
	if (out == NULL)
		return stn_cli_usage_error(cmd, "--out FILE is required");
	if (!parse_families(families, fams, &o.n_families))
		return 2; /* parse_families said why */
	o.families = fams;
	stn_cli_progress pr;
	stn_histgen_report rep;
	stn_errbuf eb = {{0}};
	stn_cli_progress_init(&pr, cmd, false);
	stn_status st = stn__histgen_write(out, &o, stn_cli_progress_fn, &pr, &rep, &eb);
	if (st != STN_OK)
		return stn_cli_error(cmd, "%s", eb.text);
	fprintf(stderr,
		"%s: %" PRIu64 " jobs, %" PRIu64 " DAG versions, %" PRIu64 " windows, %" PRIu64
		" decisions; labels %" PRIu64 " bottleneck, %" PRIu64 " ok, %" PRIu64 " none\n",
		out, rep.jobs, rep.dag_versions, rep.windows, rep.decisions, rep.bottleneck, rep.ok,
		rep.none);
	return 0;
}

int cmd_history(int argc, char **argv)
{
	if (argc < 2)
		return stn_cli_usage_error("history", "generate, export or import?");
	if (stn_cli_is_help(argv[1])) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "generate") == 0)
		return cmd_generate(argc - 1, argv + 1);
	if (strcmp(argv[1], "export") == 0)
		return cmd_history_export(argc - 1, argv + 1);
	if (strcmp(argv[1], "import") == 0)
		return cmd_history_import(argc - 1, argv + 1);
	return stn_cli_usage_error("history", "unknown subcommand '%s'", argv[1]);
}
