/* streamtune history export|import: move histories between endpoints and merge them. */
#include <inttypes.h>
#include <string.h>

#include "cli.h"
#include "history.h"

static void export_usage(FILE *f)
{
	fprintf(f, "usage: streamtune history export HISTORY OUT\n\n"
		   "Writes every job, DAG version, window and decision of the SQLite history HISTORY to\n"
		   "OUT, a MessagePack file (format in proto/HISTORY.md). OUT is written atomically.\n");
}

static void import_usage(FILE *f)
{
	fprintf(f, "usage: streamtune history import HISTORY FILE...\n\n"
		   "Merges exported files into the SQLite history HISTORY (created if missing). Jobs\n"
		   "are matched by id and DAGs by content hash; windows already present are skipped,\n"
		   "so importing twice changes nothing. Each file is merged in one transaction: a\n"
		   "damaged file is refused whole.\n");
}

int cmd_history_export(int argc, char **argv)
{
	const char *cmd = "history export";
	stn_history_opts ro = {true, false};
	stn_history *h = NULL;
	stn_errbuf eb = {{0}};
	stn_history_counts n;
	stn_status rv;

	if (argc >= 2 && stn_cli_is_help(argv[1])) {
		export_usage(stdout);
		return 0;
	}
	if (argc != 3) {
		export_usage(stderr);
		return stn_cli_usage_error(cmd, "expected HISTORY and OUT");
	}
	rv = stn__history_open(argv[1], &ro, &h, &eb);
	if (rv != STN_OK)
		return stn_cli_error(cmd, "%s: %s", argv[1], eb.text);
	rv = stn__history_counts(h, &n, &eb);
	if (rv == STN_OK)
		rv = stn__history_export(h, argv[2], &eb);
	stn__history_close(h);
	if (rv != STN_OK)
		return stn_cli_error(cmd, "%s", eb.text);
	fprintf(stderr,
		"exported %" PRIu64 " jobs, %" PRIu64 " DAG versions, %" PRIu64 " windows, %" PRIu64
		" decisions to %s\n",
		n.jobs, n.dags, n.windows, n.decisions, argv[2]);
	return 0;
}

int cmd_history_import(int argc, char **argv)
{
	const char *cmd = "history import";
	stn_history_opts rw = {false, false};
	stn_history *h = NULL;
	stn_errbuf eb = {{0}};
	int failed = 0;

	if (argc >= 2 && stn_cli_is_help(argv[1])) {
		import_usage(stdout);
		return 0;
	}
	if (argc < 3) {
		import_usage(stderr);
		return stn_cli_usage_error(cmd, "expected HISTORY and at least one FILE");
	}
	if (stn__history_open(argv[1], &rw, &h, &eb) != STN_OK)
		return stn_cli_error(cmd, "%s: %s", argv[1], eb.text);
	for (int i = 2; i < argc; i++) {
		uint64_t imported = 0, skipped = 0;

		if (stn__history_import(h, argv[i], &imported, &skipped, &eb) != STN_OK) {
			stn_cli_error(cmd, "%s: %s (nothing from it was imported)", argv[i], eb.text);
			failed = 1;
			continue;
		}
		fprintf(stderr, "%s: %" PRIu64 " windows imported, %" PRIu64 " already present\n",
			argv[i], imported, skipped);
	}
	stn__history_close(h);
	return failed;
}
