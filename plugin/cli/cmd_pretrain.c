/* streamtune pretrain: clusters the DAGs of histories and trains one model member per cluster
 * plus a global one, into one model file. */
#include <inttypes.h>
#include <string.h>

#include "alloc.h"
#include "cli.h"
#include "pretrain.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: streamtune pretrain --history FILE... --out MODEL [--seed S] [--threads N]\n"
		"                           [--k-min N] [--k-max N] [--layers N] [--width N]\n"
		"                           [--epochs N] [--patience N] [--margin X]\n"
		"                           [--max-ops N] [--min-cluster-windows N] [--blas] [--quiet]\n\n"
		"Reads SQLite histories (read-only), splits every job into episodes (windows of one DAG\n"
		"version), deduplicates the DAGs by content hash, computes their graph edit distances,\n"
		"clusters them (k-medoids, k by silhouette) and trains one encoder and head per cluster\n"
		"plus a global one. Writes one model file (version 2: members with their medoid DAG and\n"
		"radius, the training record and the histories' digests) atomically; nothing is written\n"
		"unless training succeeds. The same histories and options give a byte-identical file,\n"
		"whatever the thread count. Progress (phase, percentage, ETA) goes to stderr.\n\n"
		"  --history FILE...        histories to learn from (one or more; repeatable)\n"
		"  --out MODEL              the model file to write (required)\n"
		"  --seed S                 seed of every initialisation and split (default 1)\n"
		"  --threads N              threads for the GED matrix and training (default 2)\n"
		"  --k-min N, --k-max N     cluster count range (default 2..8)\n"
		"  --layers N, --width N    encoder layers and width (default 2, 32)\n"
		"  --epochs N               most training epochs per member (default 40)\n"
		"  --patience N             early-stopping patience in epochs (default 6)\n"
		"  --margin X               assignment margin stored in the model (default 1.5)\n"
		"  --max-ops N              largest DAG accepted (default 128)\n"
		"  --min-cluster-windows N  smaller clusters share the global member (default 40)\n"
		"  --blas                   OpenBLAS products (faster; bits depend on the CPU)\n"
		"  --quiet                  no progress lines\n");
}

/* Parses an integer option in [lo, hi]. */
static bool opt_u64(const char *opt, const char *val, uint64_t lo, uint64_t hi, uint64_t *out)
{
	return stn_cli_parse_u64_range("pretrain", opt, val, lo, hi, out);
}

int cmd_pretrain(int argc, char **argv)
{
	const char *cmd = "pretrain", *out = NULL;
	const char **hist = stn__calloc(argc > 0 ? (size_t)argc : 1, sizeof(char *));
	size_t n_hist = 0;
	bool quiet = false;
	stn_pretrain_opts o;
	uint64_t v;
	int rc = 2;

	if (hist == NULL)
		return stn_cli_error(cmd, "out of memory");
	stn__pretrain_opts_default(&o);
	for (int i = 1; i < argc; i++) {
		static const char *const options[] = {
			"--out", "--seed", "--threads", "--k-min", "--k-max", "--layers",
			"--width", "--epochs", "--patience", "--max-ops", "--min-cluster-windows",
			"--margin", NULL};
		const char *a = argv[i], *val = NULL;
		if (stn_cli_is_help(a)) {
			usage(stdout);
			rc = 0;
			goto done;
		}
		if (strcmp(a, "--history") == 0) {
			size_t before = n_hist;
			while (i + 1 < argc && (argv[i + 1][0] != '-' || argv[i + 1][1] == '\0'))
				hist[n_hist++] = argv[++i];
			if (n_hist == before) {
				stn_cli_usage_error(cmd, "--history needs at least one file");
				goto done;
			}
			continue;
		}
		if (strcmp(a, "--blas") == 0) {
			o.blas = true;
			continue;
		}
		if (strcmp(a, "--quiet") == 0) {
			quiet = true;
			continue;
		}
		if (!stn_cli_option_value(cmd, options, argc, argv, &i, &val))
			goto done;
		if (strcmp(a, "--out") == 0) {
			out = val;
		} else if (strcmp(a, "--seed") == 0) {
			if (!stn_cli_parse_u64(cmd, a, val, &o.seed))
				goto done;
		} else if (strcmp(a, "--threads") == 0) {
			if (!opt_u64(a, val, 1, 64, &v))
				goto done;
			o.threads = (unsigned)v;
		} else if (strcmp(a, "--k-min") == 0) {
			if (!opt_u64(a, val, 1, 64, &v))
				goto done;
			o.k_min = (size_t)v;
		} else if (strcmp(a, "--k-max") == 0) {
			if (!opt_u64(a, val, 1, 64, &v))
				goto done;
			o.k_max = (size_t)v;
		} else if (strcmp(a, "--layers") == 0) {
			if (!opt_u64(a, val, 1, STN_GNN_MAX_LAYERS, &v))
				goto done;
			o.net.layers = (uint32_t)v;
		} else if (strcmp(a, "--width") == 0) {
			if (!opt_u64(a, val, 1, STN_GNN_MAX_WIDTH, &v))
				goto done;
			o.net.width = (uint32_t)v;
		} else if (strcmp(a, "--epochs") == 0) {
			if (!opt_u64(a, val, 1, 100000, &v))
				goto done;
			o.train.max_epochs = (uint32_t)v;
		} else if (strcmp(a, "--patience") == 0) {
			if (!opt_u64(a, val, 1, 100000, &v))
				goto done;
			o.train.patience = (uint32_t)v;
		} else if (strcmp(a, "--max-ops") == 0) {
			if (!opt_u64(a, val, 1, STN_DAG_MAX_OPS, &v))
				goto done;
			o.max_ops = (uint32_t)v;
		} else if (strcmp(a, "--min-cluster-windows") == 0) {
			if (!opt_u64(a, val, 0, UINT32_MAX, &v))
				goto done;
			o.min_cluster_windows = (uint32_t)v;
		} else { /* --margin */
			if (!stn_cli_parse_double(cmd, a, val, &o.margin))
				goto done;
			if (!(o.margin > 0.0 && o.margin <= 100.0)) {
				stn_cli_usage_error(cmd, "--margin must be in (0, 100]");
				goto done;
			}
		}
	}
	if (n_hist == 0 || out == NULL) {
		stn_cli_usage_error(cmd, "--history FILE... and --out MODEL are required");
		goto done;
	}
	if (o.k_max < o.k_min) {
		stn_cli_usage_error(cmd, "--k-max must be at least --k-min");
		goto done;
	}
	if (n_hist > STN_PRETRAIN_MAX_HISTORIES) {
		stn_cli_usage_error(cmd, "at most %u histories", STN_PRETRAIN_MAX_HISTORIES);
		goto done;
	}
	{
		stn_cli_progress pr;
		stn_pretrain_report rep;
		stn_model m;
		stn_errbuf eb = {{0}};
		stn_cli_progress_init(&pr, cmd, quiet);
		stn_status st = stn__pretrain_run(hist, n_hist, &o, stn_cli_progress_fn, &pr, &m, &rep,
						  &eb);
		if (st != STN_OK) {
			rc = stn_cli_error(cmd, "%s (%s); nothing written", eb.text,
					   stn__status_name(st));
			goto done;
		}
		st = stn__model_write(&m, out, &eb);
		stn__model_fini(&m);
		if (st != STN_OK) {
			rc = stn_cli_error(cmd, "%s", eb.text);
			goto done;
		}
		fprintf(stderr,
			"%s: %" PRIu64 " jobs, %" PRIu64 " episodes, %" PRIu64 " distinct DAGs, %" PRIu64
			" windows, %" PRIu64 " labelled observations (%" PRIu64 " bottleneck)\n"
			"%s: GED %" PRIu64 " pairs (%" PRIu64 " exact) in %.1fs; %zu clusters, "
			"silhouette %.3f, %zu sharing the global member; training %.1fs\n",
			out, rep.jobs, rep.episodes, rep.unique_dags, rep.windows, rep.observations,
			rep.positives, out, rep.ged_pairs, rep.ged_exact_pairs, rep.seconds_ged, rep.k,
			rep.silhouette, rep.shared_members, rep.seconds_train);
		rc = 0;
	}
done:
	stn__free(hist);
	return rc;
}
