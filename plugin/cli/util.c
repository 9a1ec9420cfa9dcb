/* Option parsing, error printing, timing and benchmark output shared by the subcommands. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static int verror(const char *cmd, int code, const char *fmt, va_list ap)
{
	fprintf(stderr, "streamtune %s: ", cmd);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	return code;
}

int stn_cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = verror(cmd, 2, fmt, ap);
	va_end(ap);
	fprintf(stderr, "Try 'streamtune %s --help'.\n", cmd);
	return rc;
}

int stn_cli_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = verror(cmd, 1, fmt, ap);
	va_end(ap);
	return rc;
}

bool stn_cli_is_help(const char *arg)
{
	return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

bool stn_cli_parse_u64(const char *cmd, const char *opt, const char *s, uint64_t *out)
{
	char *end = NULL;
	unsigned long long v;

	if (s == NULL || *s == '\0' || *s == '-') {
		stn_cli_usage_error(cmd, "%s needs a non-negative integer", opt);
		return false;
	}
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0') {
		stn_cli_usage_error(cmd, "%s: '%s' is not a non-negative integer", opt, s);
		return false;
	}
	*out = v;
	return true;
}

bool stn_cli_parse_double(const char *cmd, const char *opt, const char *s, double *out)
{
	char *end = NULL;
	double v;

	if (s == NULL || *s == '\0') {
		stn_cli_usage_error(cmd, "%s needs a number", opt);
		return false;
	}
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || *end != '\0' || !isfinite(v)) {
		stn_cli_usage_error(cmd, "%s: '%s' is not a finite number", opt, s);
		return false;
	}
	*out = v;
	return true;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

double stn_cli_percentile(double *v, size_t n, double pct)
{
	size_t k;

	if (n == 0)
		return 0.0;
	qsort(v, n, sizeof(double), cmp_double);
	k = (size_t)ceil(pct / 100.0 * (double)n);
	if (k > 0)
		k--;
	if (k >= n)
		k = n - 1;
	return v[k];
}

double stn_cli_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void stn_bench_emit(const stn_bench_opts *opts, const char *bench, const char *metric,
		    double value, const char *unit, const char *extra)
{
	if (opts->json) {
		printf("{\"bench\":\"%s\",\"metric\":\"%s\",\"value\":%.6g,\"unit\":\"%s\"%s%s}\n",
		       bench, metric, value, unit, extra != NULL ? "," : "",
		       extra != NULL ? extra : "");
	} else {
		printf("%-10s %-28s %14.6g %-10s %s\n", bench, metric, value, unit,
		       extra != NULL ? extra : "");
	}
	fflush(stdout);
}
