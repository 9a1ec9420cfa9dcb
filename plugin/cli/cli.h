/* cli: shared pieces of the streamtune command-line tool. */
#ifndef STN_CLI_H
#define STN_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define X(name, fn, summary) int fn(int argc, char **argv);
#include "commands.def"
#include "inspects.def"
#undef X

/* Subcommands of `streamtune history` (history_io.c). */
int cmd_history_export(int argc, char **argv);
int cmd_history_import(int argc, char **argv);

/* Options common to every bench. */
typedef struct stn_bench_opts {
	bool json;       /* JSON lines on stdout (otherwise a readable line per metric) */
	bool quick;      /* smaller sizes, for tests and CI smoke runs */
	uint64_t seed;
} stn_bench_opts;

#define X(name, fn, summary) int fn(const stn_bench_opts *opts);
#include "benches.def"
#undef X

/* One benchmark figure: {"bench":..,"metric":..,"value":..,"unit":..[,extra]}; extra is
 * either NULL or a JSON fragment of further members without braces, e.g. "\"ops\":64". */
void stn_bench_emit(const stn_bench_opts *opts, const char *bench, const char *metric,
		    double value, const char *unit, const char *extra);

/* Prints "streamtune CMD: message" to stderr; returns 2 (usage) for use as exit code. */
int stn_cli_usage_error(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Prints "streamtune CMD: message" to stderr; returns 1. */
int stn_cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* True if arg is "-h" or "--help". */
bool stn_cli_is_help(const char *arg);

/* The program name as invoked (argv[0] of main), for hints that name the binary. */
extern const char *stn_cli_program;

/* For argv[*i], an option that takes a value: when it is one of names (NULL-terminated) and
 * a value follows, sets *val, moves *i onto the value and returns true. Otherwise reports one
 * usage error saying why (not an option, an unknown option, or a known one without its
 * value) and returns false. */
bool stn_cli_option_value(const char *cmd, const char *const *names, int argc, char **argv,
			  int *i, const char **val);

/* Parses an unsigned integer option value; false (and a message) if it is not one. */
bool stn_cli_parse_u64(const char *cmd, const char *opt, const char *s, uint64_t *out);
/* The same for a value that must lie in lo..hi: one message, naming the range, if it is not
 * an integer or out of range. */
bool stn_cli_parse_u64_range(const char *cmd, const char *opt, const char *s, uint64_t lo,
			     uint64_t hi, uint64_t *out);
bool stn_cli_parse_double(const char *cmd, const char *opt, const char *s, double *out);
/* Splits a policy option "[POLICY:]NAME=VALUE" in place: *policy is the prefix (NULL if none)
 * and opt->key points into arg. Reports a usage error and returns false on a bad option. */
struct stn_policy_option;
bool stn_cli_parse_policy_opt(const char *cmd, char *arg, const char **policy,
			      struct stn_policy_option *opt);

/* Percentile (0..100) of n values; sorts v in place. */
double stn_cli_percentile(double *v, size_t n, double pct);

/* Monotonic clock in seconds. */
double stn_cli_now(void);

/* Progress lines on stderr for long commands: "CMD: phase  42.0%  3.1s, eta 4s", at most one
 * a second per phase plus each phase's start and end. Use stn_cli_progress_fn as the
 * stn_progress_fn of pretrain.h with the struct as user pointer. */
typedef struct stn_cli_progress {
	const char *cmd;
	const char *phase;
	bool quiet;
	double start, phase_start, last, last_fraction;
} stn_cli_progress;
void stn_cli_progress_init(stn_cli_progress *p, const char *cmd, bool quiet);
void stn_cli_progress_fn(void *user, const char *phase, double fraction);

#endif
