/* `streamtune simulate` and `streamtune demo` as a user runs them: usage errors exit 2 with one
 * message saying what is wrong (an unknown option called one, a schedule's bad factor named,
 * the suite's unknown policies and options found before it runs, demo's unknown policy before
 * it starts); a short demo leaves its history and no socket file, and its closing hint names
 * the binary as invoked; the help texts say where the streamtune policy's model comes from. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

static char *dir;
static char *out_text, *err_text; /* of the last run */

/* Runs the CLI with a formatted argument string, stdout and stderr read back into out_text and
 * err_text; returns the exit status. */
static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	int rc = stn_test_vrun_cli(dir, &out_text, &err_text, fmt, ap);
	va_end(ap);
	assert_true(rc >= 0);
	return rc;
}

/* A usage error of cmd: exit 2, one error line, holding msg. */
static void usage_error(const char *cmd, const char *args, const char *msg)
{
	char prefix[64];
	int rc = run("%s %s", cmd, args);
	snprintf(prefix, sizeof(prefix), "streamtune %s:", cmd);
	if (rc != 2 || stn_test_count(err_text, prefix) != 1 || strstr(err_text, msg) == NULL) {
		fprintf(stderr, "%s %s: rc %d, want 2 and one error with '%s' in:\n%s", cmd, args,
			rc, msg, err_text);
		fail();
	}
}

static int setup(void **state)
{
	(void)state;
	dir = stn_test_cli_dir();
	if (dir == NULL)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	free(out_text);
	free(err_text);
	stn_test_rmtree(dir);
	free(dir);
	return 0;
}

static void test_simulate_usage(void **state)
{
	(void)state;
	usage_error("simulate", "--bogus", "unknown option '--bogus'");
	usage_error("simulate", "--family q1 --bogus 3", "unknown option '--bogus'");
	usage_error("simulate", "--family q1 --windows", "--windows needs a value");
	usage_error("simulate", "--family q1 --windows 0", "'0' is not an integer in 1..1000000");
	usage_error("simulate", "--family q1 --schedule steps:1,x", "steps: 'x' is not a number");
	usage_error("simulate", "--family q1 --schedule steps:1,2@x", "'@x' is not a length");
	usage_error("simulate", "--family q1 --schedule sine:1,-2", "sine: '-2' is not a number");
	usage_error("simulate", "--family q1 --schedule steps:", "needs 1..64 factors");
	usage_error("simulate", "--suite --bogus", "unknown option '--bogus'");
	usage_error("simulate", "--suite --csv", "--csv needs a value");
	/* The suite's policies and options are checked before it runs. */
	usage_error("simulate", "--suite --policies static,foo", "unknown policy 'foo'");
	usage_error("simulate", "--suite --opt streamtune:nosuch=1",
		    "streamtune: unknown option 'nosuch'");
	usage_error("simulate", "--suite --opt streamtune:tau=9", "tau=9");
	usage_error("simulate", "--suite --opt tau=0.2", "ds2: unknown option 'tau'");
	usage_error("simulate", "--suite --opt nosuch:tau=1", "unknown policy 'nosuch'");
	assert_string_equal(out_text, "");

	/* What is right still runs. */
	assert_int_equal(run("simulate --family q1 --windows 5 --schedule steps:1,1.5@2"), 0);
	assert_int_equal(stn_test_count(out_text, "\n"), 6); /* the header and five windows */
	assert_int_equal(run("simulate --suite --jobs 1 --windows 20 --policies static,ds2 "
			     "--opt ds2:scaling_factor=0.1 --opt dhalion:step=1"),
			 0);
	assert_non_null(strstr(out_text, "1 jobs, 20 windows each"));
}

/* The endpoint warns when a job's streamtune policy has no model and so decides as DS2 does
 * (a plugin copied away from its build directory finds no default model; only its decisions
 * said so): not when it has the shipped one. */
static void test_demo_warns_without_model(void **state)
{
	(void)state;
	char *committed = stn_test_path(stn_test_source_dir(), "plugin/models/default.stnm");
	const char *models[] = {"none", committed};
	for (size_t k = 0; k < 2; k++) {
		assert_int_equal(setenv("STREAMTUNE_MODEL", models[k], 1), 0);
		assert_int_equal(run("demo --windows 3 --delay-ms 0 --out '%s'", dir), 0);
		bool warned = strstr(err_text, "warn") && strstr(err_text, "no model") &&
			      strstr(err_text, "decides as DS2 does");
		assert_int_equal(warned, k == 0);
	}
	unsetenv("STREAMTUNE_MODEL");
	free(committed);
}

static void test_demo(void **state)
{
	(void)state;
	usage_error("demo", "--bogus", "unknown option '--bogus'");
	usage_error("demo", "--bogus 1", "unknown option '--bogus'");
	usage_error("demo", "--windows 2", "'2' is not an integer in 3..100000");
	usage_error("demo", "--windows", "--windows needs a value");
	/* An unknown policy is a usage error, found before the demo starts (no banner). */
	usage_error("demo", "--policy nope", "unknown policy 'nope'");
	assert_string_equal(out_text, "");

	char out_dir[1100], sock[1200], hist[1200], hint[1400];
	snprintf(out_dir, sizeof(out_dir), "%s/demo", dir);
	snprintf(sock, sizeof(sock), "%s/endpoint.sock", out_dir);
	snprintf(hist, sizeof(hist), "%s/history.sqlite", out_dir);
	assert_int_equal(run("demo --windows 3 --delay-ms 0 --policy ds2 --out '%s'", out_dir), 0);
	assert_int_equal(access(hist, F_OK), 0);
	/* The endpoint's ipc socket file goes with the endpoint. */
	assert_int_not_equal(access(sock, F_OK), 0);
	/* The hint names the binary as it was run, so it works from wherever that was. */
	snprintf(hint, sizeof(hint), "(inspect it: %s inspect history %s --job demo)",
		 stn_test_cli(), hist);
	assert_non_null(strstr(out_text, hint));
}

/* Without --model the streamtune policy takes the shipped default model (DS2 only when there
 * is none); the suite deliberately runs it with local_prior instead. */
static void test_help(void **state)
{
	(void)state;
	static const char *const cmds[] = {"serve", "demo", "simulate"};
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		assert_int_equal(run("%s --help", cmds[i]), 0);
		assert_non_null(strstr(out_text, "default model"));
		assert_non_null(strstr(out_text, "$STREAMTUNE_MODEL"));
	}
	assert_int_equal(run("simulate --help"), 0);
	assert_non_null(strstr(out_text, "local_prior=1"));
	assert_int_equal(run("simulate --suite --help"), 0);
	assert_non_null(strstr(out_text, "usage: streamtune simulate"));
	/* inspect ged reads JSON; what it prints is text. */
	assert_int_equal(run("inspect --help"), 0);
	assert_null(strstr(out_text, "DAGs (JSON)"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simulate_usage),
		cmocka_unit_test(test_demo),
		cmocka_unit_test(test_demo_warns_without_model),
		cmocka_unit_test(test_help),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
