/* Option parsing, error printing, timing and benchmark output shared by the subcommands. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "policy.h"
#include "proto.h"

const char *stn_cli_program = "streamtune";

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

bool stn_cli_option_value(const char *cmd, const char *const *names, int argc, char **argv,
			  int *i, const char **val)
{
	const char *a = argv[*i];

	if (a[0] != '-' || a[1] == '\0') {
		stn_cli_usage_error(cmd, "unexpected argument '%s'", a);
		return false;
	}
	for (size_t k = 0; names[k] != NULL; k++) {
		if (strcmp(a, names[k]) != 0)
			continue;
		if (*i + 1 >= argc) {
			stn_cli_usage_error(cmd, "%s needs a value", a);
			return false;
		}
		*val = argv[++*i];
		return true;
	}
	/* Known or not is decided by the name alone, whether or not a value follows. */
	stn_cli_usage_error(cmd, "unknown option '%s'", a);
	return false;
}

/* A decimal unsigned integer, all of s; no sign (strtoull would take "-3" as 2^64 - 3). */
static bool parse_u64(const char *s, uint64_t *out)
{
	char *end = NULL;
	unsigned long long v;

	if (s == NULL || *s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return false;
	*out = v;
	return true;
}

bool stn_cli_parse_u64(const char *cmd, const char *opt, const char *s, uint64_t *out)
{
	if (s == NULL) {
		stn_cli_usage_error(cmd, "%s needs a non-negative integer", opt);
		return false;
	}
	if (!parse_u64(s, out)) {
		stn_cli_usage_error(cmd, "%s: '%s' is not a non-negative integer", opt, s);
		return false;
	}
	return true;
}

bool stn_cli_parse_u64_range(const char *cmd, const char *opt, const char *s, uint64_t lo,
			     uint64_t hi, uint64_t *out)
{
	uint64_t v;

	if (s == NULL) {
		stn_cli_usage_error(cmd, "%s needs an integer in %llu..%llu", opt,
				    (unsigned long long)lo, (unsigned long long)hi);
		return false;
	}
	if (!parse_u64(s, &v) || v < lo || v > hi) {
		stn_cli_usage_error(cmd, "%s: '%s' is not an integer in %llu..%llu", opt, s,
				    (unsigned long long)lo, (unsigned long long)hi);
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

void stn_cli_progress_init(stn_cli_progress *p, const char *cmd, bool quiet)
{
	memset(p, 0, sizeof(*p));
	p->cmd = cmd;
	p->quiet = quiet;
	p->start = stn_cli_now();
}

void stn_cli_progress_fn(void *user, const char *phase, double fraction)
{
	stn_cli_progress *p = user;
	double now = stn_cli_now();
	bool new_phase = p->phase == NULL || strcmp(p->phase, phase) != 0;

	if (p->quiet)
		return;
	if (new_phase) {
		p->phase = phase;
		p->phase_start = now;
	} else if (fraction < 1.0 && now - p->last < 1.0) {
		return; /* at most one line a second within a phase */
	} else if (fraction >= 1.0 && p->last_fraction >= 1.0) {
		return;
	}
	p->last = now;
	p->last_fraction = fraction;
	double el = now - p->phase_start;
	if (fraction > 0.0 && fraction < 1.0 && el > 0.5)
		fprintf(stderr, "%s: %-8s %5.1f%%  %6.1fs, eta %.0fs\n", p->cmd, phase,
			100.0 * fraction, now - p->start, el * (1.0 - fraction) / fraction);
	else
		fprintf(stderr, "%s: %-8s %5.1f%%  %6.1fs\n", p->cmd, phase, 100.0 * fraction,
			now - p->start);
}

bool stn_cli_parse_policy_opt(const char *cmd, char *arg, const char **policy,
			      stn_policy_option *opt)
{
	char *eq = strchr(arg, '=');
	char *colon = strchr(arg, ':');
	*policy = NULL;
	if (colon != NULL && (eq == NULL || colon < eq)) {
		*colon = '\0';
		*policy = arg;
		arg = colon + 1;
	}
	if (eq == NULL || eq == arg || (size_t)(eq - arg) >= STN_PROTO_MAX_OPT_KEY ||
	    (*policy != NULL && **policy == '\0')) {
		stn_cli_usage_error(cmd, "--opt '%s': expected [POLICY:]NAME=VALUE (NAME up to %u bytes)",
				    arg, STN_PROTO_MAX_OPT_KEY - 1);
		return false;
	}
	*eq = '\0';
	opt->key = arg;
	return stn_cli_parse_double(cmd, "--opt", eq + 1, &opt->value);
}
