/* streamtune history export|import: move histories between endpoints and merge them. */
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "cli.h"
#include "history.h"

static void export_usage(FILE *f)
{
	fprintf(f, "usage: streamtune history export HISTORY --out OUT\n"
		   "       streamtune history export HISTORY OUT\n\n"
		   "Writes every job, DAG version, window and decision of the SQLite history HISTORY to\n"
		   "OUT, a MessagePack file (format in proto/HISTORY.md). OUT is written atomically.\n");
}

static void import_usage(FILE *f)
{
	fprintf(f, "usage: streamtune history import FILE... --into HISTORY\n"
		   "       streamtune history import HISTORY FILE...\n\n"
		   "Merges exported files into the SQLite history HISTORY (created if missing, and\n"
		   "not left behind if no file could be merged). Jobs are matched by id and DAGs by\n"
		   "content hash; windows already present are skipped, so importing twice changes\n"
		   "nothing. Each file is merged in one transaction: a damaged file is refused\n"
		   "whole.\n");
}

int cmd_history_export(int argc, char **argv)
{
	const char *cmd = "history export";
	stn_history_opts ro = {true, false};
	stn_history *h = NULL;
	stn_errbuf eb = {{0}};
	stn_history_counts n;
	stn_status rv;

	const char *pos[2] = {NULL, NULL}, *out = NULL;
	int n_pos = 0;

	for (int i = 1; i < argc; i++) {
		if (stn_cli_is_help(argv[i])) {
			export_usage(stdout);
			return 0;
		}
		if (strcmp(argv[i], "--out") == 0) {
			if (i + 1 >= argc)
				return stn_cli_usage_error(cmd, "--out needs a file");
			out = argv[++i];
		} else if (argv[i][0] == '-' && argv[i][1] != '\0') {
			return stn_cli_usage_error(cmd, "unknown option '%s'", argv[i]);
		} else if (n_pos < 2) {
			pos[n_pos++] = argv[i];
		} else {
			return stn_cli_usage_error(cmd, "unexpected argument '%s'", argv[i]);
		}
	}
	if (out == NULL && n_pos == 2)
		out = pos[1];
	else if (n_pos != 1)
		out = NULL;
	if (pos[0] == NULL || out == NULL) {
		export_usage(stderr);
		return stn_cli_usage_error(cmd, "expected HISTORY and --out OUT");
	}
	rv = stn__history_open(pos[0], &ro, &h, &eb);
	if (rv != STN_OK)
		return stn_cli_error(cmd, "%s", eb.text);
	rv = stn__history_counts(h, &n, &eb);
	if (rv == STN_OK)
		rv = stn__history_export(h, out, &eb);
	stn__history_close(h);
	if (rv != STN_OK)
		return stn_cli_error(cmd, "%s", eb.text);
	fprintf(stderr,
		"exported %" PRIu64 " jobs, %" PRIu64 " DAG versions (%" PRIu64 " distinct), "
		"%" PRIu64 " windows, %" PRIu64 " decisions to %s\n",
		n.jobs, n.dag_versions, n.dags, n.windows, n.decisions, out);
	return 0;
}

int cmd_history_import(int argc, char **argv)
{
	const char *cmd = "history import";
	stn_history_opts rw = {false, false};
	stn_history *h = NULL;
	stn_errbuf eb = {{0}};
	int failed = 0;

	const char *into = NULL;
	char **files = stn__calloc(argc > 0 ? (size_t)argc : 1, sizeof(char *));
	int n_files = 0;

	if (files == NULL)
		return stn_cli_error(cmd, "out of memory");
	for (int i = 1; i < argc; i++) {
		if (stn_cli_is_help(argv[i])) {
			stn__free(files);
			import_usage(stdout);
			return 0;
		}
		if (strcmp(argv[i], "--into") == 0) {
			if (i + 1 >= argc) {
				stn__free(files);
				return stn_cli_usage_error(cmd, "--into needs a history file");
			}
			into = argv[++i];
		} else if (argv[i][0] == '-' && argv[i][1] != '\0') {
			stn__free(files);
			return stn_cli_usage_error(cmd, "unknown option '%s'", argv[i]);
		} else {
			files[n_files++] = argv[i];
		}
	}
	int first = 0;
	if (into == NULL && n_files >= 2) { /* the older form: HISTORY FILE... */
		into = files[0];
		first = 1;
	}
	if (into == NULL || n_files - first < 1) {
		stn__free(files);
		import_usage(stderr);
		return stn_cli_usage_error(cmd, "expected FILE... and --into HISTORY");
	}
	/* A history this command creates is removed again if no file could be merged into it;
	 * one that existed before is left as it was. */
	bool created = access(into, F_OK) != 0;
	int merged = 0;
	if (stn__history_open(into, &rw, &h, &eb) != STN_OK) {
		stn__free(files);
		return stn_cli_error(cmd, "%s", eb.text);
	}
	for (int k = first; k < n_files; k++) {
		const char *file = files[k];
		uint64_t imported = 0, skipped = 0;

		if (stn__history_import(h, file, &imported, &skipped, &eb) != STN_OK) {
			/* eb names the file */
			stn_cli_error(cmd, "%s (nothing from it was imported)", eb.text);
			failed = 1;
			continue;
		}
		merged++;
		fprintf(stderr, "%s: %" PRIu64 " windows imported, %" PRIu64 " already present\n",
			file, imported, skipped);
	}
	stn__history_close(h);
	if (created && merged == 0)
		unlink(into);
	stn__free(files);
	return failed;
}
