/* streamtune: command-line entry; dispatches to the subcommands in commands.def. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "streamtune/streamtune.h"

typedef struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
} command;

static const command commands[] = {
#define X(name, fn, summary) {#name, fn, summary},
#include "commands.def"
#undef X
};

static void usage(FILE *f)
{
	fprintf(f, "usage: streamtune COMMAND [OPTIONS]\n\n"
		   "Adaptive parallelism tuning for stream processors.\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\n`streamtune COMMAND --help` describes a command.\n");
}

int main(int argc, char **argv)
{
	if (argc > 0 && argv[0] != NULL && argv[0][0] != '\0')
		stn_cli_program = argv[0];
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (stn_cli_is_help(argv[1])) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("streamtune %s (ABI %u)\n", STN_VERSION_STRING, STN_ABI_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "streamtune: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
