/* streamtune inspect WHAT ...: the inspectors in inspects.def. */
#include <string.h>

#include "cli.h"

typedef struct inspector {
	const char *what;
	int (*fn)(int argc, char **argv);
	const char *summary;
} inspector;

static const inspector inspectors[] = {
#define X(what, fn, summary) {#what, fn, summary},
#include "inspects.def"
#undef X
};

static void usage(FILE *f)
{
	fprintf(f, "usage: streamtune inspect WHAT [ARGS]\n\n");
	for (size_t i = 0; i < sizeof(inspectors) / sizeof(inspectors[0]); i++)
		fprintf(f, "  %-10s %s\n", inspectors[i].what, inspectors[i].summary);
	fprintf(f, "\n`streamtune inspect WHAT --help` for its arguments.\n");
}

int cmd_inspect(int argc, char **argv)
{
	if (argc < 2)
		return stn_cli_usage_error("inspect", "what to inspect?");
	if (stn_cli_is_help(argv[1])) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(inspectors) / sizeof(inspectors[0]); i++)
		if (strcmp(argv[1], inspectors[i].what) == 0)
			return inspectors[i].fn(argc - 1, argv + 1);
	return stn_cli_usage_error("inspect", "cannot inspect '%s'", argv[1]);
}
