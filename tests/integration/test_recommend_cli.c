/* `streamtune recommend` as a user runs it: a DS2 case with a hand-computed answer (source at
 * 1000/s into a map that does 600/s per instance at p = 1 -> 2 instances), the same metrics as
 * CSV and as JSON give the same output, "no change" and --opt, the example files of
 * plugin/examples/recommend, bad inputs refused with exit 1 and a message naming the
 * problem, usage errors with exit 2, --help. */
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
static char dag[1100];
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

static char *path_in(const char *name)
{
	static char buf[8][1100];
	static int next;
	char *p = buf[next++ % 8];
	snprintf(p, sizeof(buf[0]), "%s/%s", dir, name);
	return p;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
	assert_int_equal(fclose(f), 0);
}

/* source (1000/s target) -> map -> sink, all at p = 1. */
static const char *const dag_text =
	"{\"operators\": [\n"
	" {\"id\": 1, \"name\": \"src\", \"kind\": \"source\", \"source_rate\": 1000},\n"
	" {\"id\": 2, \"name\": \"map\", \"kind\": \"map\", \"p_max\": 16},\n"
	" {\"id\": 7, \"name\": \"out\", \"kind\": \"sink\"}],\n"
	" \"edges\": [{\"from\": 1, \"to\": 2}, {\"from\": 2, \"to\": 7}]}\n";

/* Three windows: the map is saturated (busy 1.0) at 600/s with a growing backlog: DS2's true
 * rate is 600 / (1.0 * 1 instance) = 600/s, target 1000/s -> ceil(1000 / 600) = 2. The source
 * (true rate 600 / 0.3 = 2000/s) and the sink (600 / 0.2 = 3000/s) need 1. */
static const char *const csv_text =
	"window,op,parallelism,n_inst,busy_max,busy_mean,rate_in,rate_out,backlog_max,"
	"backlog_sum,duration_ms,lag_ms\n"
	"1,1,1,1,0.3,0.3,600,600,0,0,1000,0\n"
	"1,map,1,1,1,1,600,600,400,400,1000,0\n"
	"1,out,1,1,0.2,0.2,600,0,0,0,1000,0\n"
	"\n"
	"2,1,1,1,0.3,0.3,600,600,0,0,1000,5\n"
	"2,map,1,1,1,1,600,600,800,800,1000,5\n"
	"2,7,1,1,0.2,0.2,600,0,0,0,1000,5\n"
	"3,src,1,1,0.3,0.3,600,600,0,0,,\n"
	"3,\"map\",1,1,1,1,600,600,1200,1200,,\n"
	"3,out,1,1,0.2,0.2,600,0,0,0,,\n";

static const char *const json_text =
	"{\"windows\": [\n"
	" {\"window\": 1, \"duration_ms\": 1000, \"lag_ms\": 0, \"ops\": [\n"
	"  {\"op\": 1, \"parallelism\": 1, \"n_inst\": 1, \"busy_max\": 0.3, \"busy_mean\": 0.3,"
	"   \"rate_in\": 600, \"rate_out\": 600, \"backlog_max\": 0, \"backlog_sum\": 0},\n"
	"  {\"op\": \"map\", \"parallelism\": 1, \"n_inst\": 1, \"busy_max\": 1, \"busy_mean\": 1,"
	"   \"rate_in\": 600, \"rate_out\": 600, \"backlog_max\": 400, \"backlog_sum\": 400},\n"
	"  {\"op\": 7, \"parallelism\": 1, \"n_inst\": 1, \"busy_max\": 0.2, \"busy_mean\": 0.2,"
	"   \"rate_in\": 600, \"rate_out\": 0, \"backlog_max\": 0, \"backlog_sum\": 0}]},\n"
	" {\"ops\": [\n"
	"  {\"op\": \"out\", \"parallelism\": 1, \"n_inst\": 1, \"busy_max\": 0.2, \"busy_mean\": 0.2,"
	"   \"rate_in\": 600, \"rate_out\": 0, \"backlog_max\": 0, \"backlog_sum\": 0},\n"
	"  {\"op\": 2, \"parallelism\": 1, \"n_inst\": 1, \"busy_max\": 1, \"busy_mean\": 1,"
	"   \"rate_in\": 600, \"rate_out\": 600, \"backlog_max\": 800, \"backlog_sum\": 800},\n"
	"  {\"op\": \"src\", \"parallelism\": 1, \"n_inst\": 1, \"busy_max\": 0.3, \"busy_mean\": 0.3,"
	"   \"rate_in\": 600, \"rate_out\": 600, \"backlog_max\": 0, \"backlog_sum\": 0}],"
	"  \"window\": 2, \"lag_ms\": 5},\n"
	" {\"window\": 3, \"ops\": [\n"
	"  {\"op\": 1, \"parallelism\": 1, \"n_inst\": 1, \"busy_max\": 0.3, \"busy_mean\": 0.3,"
	"   \"rate_in\": 600, \"rate_out\": 600, \"backlog_max\": 0, \"backlog_sum\": 0},\n"
	"  {\"op\": 2, \"parallelism\": 1, \"n_inst\": 1, \"busy_max\": 1, \"busy_mean\": 1,"
	"   \"rate_in\": 600, \"rate_out\": 600, \"backlog_max\": 1200, \"backlog_sum\": 1200},\n"
	"  {\"op\": 7, \"parallelism\": 1, \"n_inst\": 1, \"busy_max\": 0.2, \"busy_mean\": 0.2,"
	"   \"rate_in\": 600, \"rate_out\": 0, \"backlog_max\": 0, \"backlog_sum\": 0}]}\n"
	"]}\n";

static int setup(void **state)
{
	(void)state;
	dir = stn_test_cli_dir();
	if (dir == NULL)
		return -1;
	snprintf(dag, sizeof(dag), "%s/dag.json", dir);
	FILE *f = fopen(dag, "wb");
	if (f == NULL)
		return -1;
	fputs(dag_text, f);
	return fclose(f) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	free(out_text);
	free(err_text);
	out_text = err_text = NULL;
	stn_test_rmtree(dir);
	free(dir);
	return 0;
}

/* The JSON result's entry of one operator, from "id" to "probability" inclusive. */
static void expect_op(const char *id_name, unsigned p_now, unsigned p_new)
{
	char want[256];
	snprintf(want, sizeof(want), "{\"id\": %s, \"parallelism\": %u, \"recommended\": %u, ",
		 id_name, p_now, p_new);
	if (strstr(out_text, want) == NULL) {
		fprintf(stderr, "want %s in:\n%s\nstderr:\n%s\n", want, out_text, err_text);
		fail();
	}
}

static void test_ds2_hand_computed(void **state)
{
	(void)state;
	const char *csv = path_in("m.csv");
	write_file(csv, csv_text);
	assert_int_equal(run("recommend --dag '%s' --metrics '%s' --policy ds2 --json", dag, csv),
			 0);
	assert_non_null(strstr(out_text, "{\"decided\": true, \"policy\": \"ds2\", "));
	expect_op("1, \"name\": \"src\"", 1, 1);
	expect_op("2, \"name\": \"map\"", 1, 2);
	expect_op("7, \"name\": \"out\"", 1, 1);
	/* DS2's warm-up of one window: it decides on window 2 */
	assert_non_null(strstr(out_text, "\"window\": 2,"));
	/* no model: no probabilities */
	assert_null(strstr(out_text, "\"probability\": 0"));
	assert_non_null(strstr(out_text, "op 2 1->2 (target 1000/s)"));
	/* exactly one line of strict JSON-ish output */
	assert_non_null(strchr(out_text, '\n'));
	assert_null(strchr(strchr(out_text, '\n') + 1, '\n'));

	/* the table names the same */
	assert_int_equal(run("recommend --dag '%s' --metrics '%s' --policy ds2", dag, csv), 0);
	assert_non_null(strstr(out_text, "decision of ds2 at window 2"));
	unsigned id, pn, pw;
	char name[32];
	const char *row = strstr(out_text, "\n2 ");
	assert_non_null(row);
	assert_int_equal(sscanf(row + 1, "%u %31s %u %u", &id, name, &pn, &pw), 4);
	assert_string_equal(name, "map");
	assert_int_equal(pn, 1);
	assert_int_equal(pw, 2);
	assert_non_null(strstr(out_text, "reason: ds2: "));
}

static void test_csv_json_same(void **state)
{
	(void)state;
	const char *csv = path_in("same.csv"), *json = path_in("same.json");
	const char *noext = path_in("same.metrics");
	write_file(csv, csv_text);
	write_file(json, json_text);
	write_file(noext, json_text);
	const char *policies[] = {"ds2", "streamtune", "dhalion", "flink-autoscaler", "static"};
	for (size_t i = 0; i < sizeof(policies) / sizeof(policies[0]); i++) {
		assert_int_equal(run("recommend --dag '%s' --metrics '%s' --policy %s --json", dag,
				     csv, policies[i]),
				 0);
		char *from_csv = strdup(out_text);
		assert_non_null(from_csv);
		assert_int_equal(run("recommend --dag '%s' --metrics '%s' --policy %s --json", dag,
				     json, policies[i]),
				 0);
		assert_string_equal(out_text, from_csv);
		assert_int_equal(run("recommend --dag '%s' --metrics '%s' --format json --policy %s "
				     "--json", dag, noext, policies[i]),
				 0);
		assert_string_equal(out_text, from_csv);
		free(from_csv);
	}
}

static void test_no_change_and_opts(void **state)
{
	(void)state;
	const char *one = path_in("one.csv");
	/* only the first window: DS2 is still in its warm-up window */
	write_file(one, "window,op,parallelism,n_inst,busy_max,busy_mean,rate_in,rate_out,"
			"backlog_max,backlog_sum\n"
			"1,1,1,1,0.3,0.3,600,600,0,0\n"
			"1,2,1,1,1,1,600,600,400,400\n"
			"1,7,1,1,0.2,0.2,600,0,0,0\n");
	assert_int_equal(run("recommend --dag '%s' --metrics '%s' --policy ds2 --json", dag, one),
			 0);
	assert_non_null(strstr(out_text, "{\"decided\": false, "));
	expect_op("2, \"name\": \"map\"", 1, 1);
	assert_int_equal(run("recommend --dag '%s' --metrics '%s' --policy ds2", dag, one), 0);
	assert_non_null(strstr(out_text, "no change"));
	/* without the warm-up it decides on that window; a scaling factor of 0.5 gives
	 * ceil(1000 / 600 * 1.5) = 3 */
	assert_int_equal(run("recommend --dag '%s' --metrics '%s' --policy ds2 --opt warm_up=0 "
			     "--json", dag, one),
			 0);
	expect_op("2, \"name\": \"map\"", 1, 2);
	assert_int_equal(run("recommend --dag '%s' --metrics '%s' --policy ds2 --opt warm_up=0 "
			     "--opt scaling_factor=0.5 --json", dag, one),
			 0);
	expect_op("2, \"name\": \"map\"", 1, 3);
	/* an option the policy does not know is bad input */
	assert_int_equal(run("recommend --dag '%s' --metrics '%s' --policy ds2 --opt bogus=1", dag,
			     one),
			 1);
	assert_non_null(strstr(err_text, "bogus"));
	assert_string_equal(out_text, "");
}

static void test_examples(void **state)
{
	(void)state;
	char ex_dag[1200], ex_csv[1200];
	snprintf(ex_dag, sizeof(ex_dag), "%s/plugin/examples/recommend/dag.json",
		 stn_test_source_dir());
	snprintf(ex_csv, sizeof(ex_csv), "%s/plugin/examples/recommend/metrics.csv",
		 stn_test_source_dir());
	assert_int_equal(run("recommend --dag '%s' --metrics '%s' --policy ds2 --json", ex_dag,
			     ex_csv),
			 0);
	expect_op("2, \"name\": \"map\"", 1, 2);
	/* the default policy (streamtune, with whatever default model is installed) answers */
	assert_int_equal(run("recommend --dag '%s' --metrics '%s'", ex_dag, ex_csv), 0);
	assert_non_null(strstr(out_text, "streamtune"));
	assert_non_null(strstr(out_text, "reason: "));
	/* with the repository's model given explicitly: a decision carries the model's
	 * probability for at least one operator (a number, not null) */
	char model[1200];
	snprintf(model, sizeof(model), "%s/plugin/models/default.stnm", stn_test_source_dir());
	assert_int_equal(run("recommend --dag '%s' --metrics '%s' --model '%s' --json", ex_dag,
			     ex_csv, model),
			 0);
	assert_non_null(strstr(out_text, "\"policy\": \"streamtune\""));
	if (strstr(out_text, "\"decided\": true") != NULL) {
		bool number = false;
		for (const char *q = out_text; (q = strstr(q, "\"probability\": ")) != NULL; q++)
			if (q[15] >= '0' && q[15] <= '9')
				number = true;
		assert_true(number);
	}
}

/* Writes text to a file and expects exit 1 with msg in stderr and nothing on stdout. */
static void refused(const char *name, const char *text, const char *msg)
{
	const char *p = path_in(name);
	write_file(p, text);
	int rc = run("recommend --dag '%s' --metrics '%s' --json", dag, p);
	if (rc != 1 || strstr(err_text, msg) == NULL || out_text[0] != '\0') {
		fprintf(stderr, "%s: rc %d, want 1 and '%s' in: %s", name, rc, msg, err_text);
		fail();
	}
}

#define HDR "window,op,parallelism,n_inst,busy_max,busy_mean,rate_in,rate_out,backlog_max," \
	    "backlog_sum\n"
#define OK_ROWS "1,1,1,1,0.3,0.3,600,600,0,0\n1,2,1,1,1,1,600,600,400,400\n"

static void test_bad_inputs(void **state)
{
	(void)state;
	refused("missing_col.csv",
		"window,op,parallelism,n_inst,busy_max,busy_mean,rate_in,rate_out,backlog_max\n"
		"1,1,1,1,0.3,0.3,600,600,0\n",
		"missing column 'backlog_sum'");
	refused("unknown_col.csv", "window,op,parallelism,n_inst,busy_max,busy_mean,rate_in,"
		"rate_out,backlog_max,backlog_sum,busy_maks\n", "unknown column 'busy_maks'");
	refused("unknown_op.csv", HDR OK_ROWS "1,nosuch,1,1,0.2,0.2,600,0,0,0\n",
		"line 4: unknown operator 'nosuch'");
	refused("nan.csv", HDR "1,1,1,1,nan,0.3,600,600,0,0\n", "line 2: busy_max 'nan'");
	refused("inf.csv", HDR "1,1,1,1,0.3,0.3,inf,600,0,0\n", "rate_in 'inf'");
	refused("busy.csv", HDR "1,1,1,1,1.5,0.3,600,600,0,0\n", "busy_max of operator 1 must be");
	refused("par.csv", HDR "1,2,17,1,0.3,0.3,600,600,0,0\n", "parallelism of operator 2");
	refused("neg.csv", HDR "1,2,1,1,0.3,0.3,600,600,-1,0\n", "backlog_max of operator 2");
	refused("fields.csv", HDR "1,1,1,1,0.3\n", "line 2: 5 fields, the header has 10");
	refused("missing_op.csv", HDR OK_ROWS "2,1,1,1,0.3,0.3,600,600,0,0\n",
		"window 1 has no row for operator 7 (out)");
	refused("missing_op_end.csv", HDR OK_ROWS, "window 1 has no row for operator 7 (out)");
	refused("twice.csv", HDR OK_ROWS "1,map,1,1,1,1,600,600,400,400\n",
		"operator 2 appears twice in window 1");
	refused("order.csv", HDR OK_ROWS "1,7,1,1,0.2,0.2,600,0,0,0\n" "0,1,1,1,0.3,0.3,600,600,0,0\n",
		"window 0 after window 1");
	refused("header_only.csv", HDR, "no windows");
	refused("empty.csv", "", "empty file");
	refused("blank.csv", "\n  \n", "empty file");
	refused("empty.json", "", "empty file");
	refused("spaces.json", " \n ", "empty file");
	refused("truncated.json", "{\"windows\": [{\"window\": 1, \"ops\": [{\"op\": 1, ",
		"unexpected end of input");
	refused("truncated2.json", "{\"windows\": [", "unexpected end of input");
	refused("nan.json", "{\"windows\": [{\"ops\": [{\"op\": 1, \"busy_max\": NaN}]}]}",
		"windows[0].ops[0].busy_max (line 1");
	refused("unknown_member.json", "{\"windows\": [{\"ops\": [{\"op\": 1, \"busy\": 1}]}]}",
		"unknown member 'busy'");
	refused("missing_member.json",
		"{\"windows\": [{\"ops\": [{\"op\": 1, \"parallelism\": 1, \"n_inst\": 1, "
		"\"busy_max\": 0.3, \"busy_mean\": 0.3, \"rate_in\": 600, \"rate_out\": 600, "
		"\"backlog_max\": 0}]}]}",
		"missing member 'backlog_sum'");
	refused("json_unknown_op.json", "{\"windows\": [{\"ops\": [{\"op\": 99}]}]}",
		"windows[0].ops[0].op");
	refused("json_missing_op.json", "{\"windows\": [{\"ops\": []}]}",
		"windows[0]: window 1 has no row for operator 1 (src)");
	refused("json_trailing.json", "{\"windows\": []} x", "text after the document");
	refused("json_nowindows.json", "{\"windows\": []}", "no windows");
	refused("json_array.json", "[1, 2]", "expected an object");
	refused("json_ws.json", "{\"windows\": [{\"ops\": [1,]}]}", "expected an object");

	/* oversize: one byte over the 8 MiB limit, a valid prefix then padding */
	const char *big = path_in("big.csv");
	FILE *f = fopen(big, "wb");
	assert_non_null(f);
	fputs(HDR, f);
	for (long i = (long)strlen(HDR); i < 8L * 1024 * 1024 + 1; i++)
		fputc('\n', f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(run("recommend --dag '%s' --metrics '%s'", dag, big), 1);
	assert_non_null(strstr(err_text, "larger than 8388608 bytes"));
	/* a line over the line limit */
	char *longline = malloc(6000);
	assert_non_null(longline);
	memset(longline, ' ', 5999);
	longline[5999] = '\0';
	char *text = malloc(7000);
	assert_non_null(text);
	snprintf(text, 7000, "%s%s\n", HDR, longline);
	refused("long.csv", text, "line 2: longer than 4096 bytes");
	free(text);
	free(longline);

	/* more windows than the limit (10,000) */
	const char *many = path_in("many.csv");
	f = fopen(many, "wb");
	assert_non_null(f);
	fputs(HDR, f);
	for (int w = 1; w <= 10001; w++)
		fprintf(f, "%d,1,1,1,0,0,0,0,0,0\n%d,2,1,1,0,0,0,0,0,0\n%d,7,1,1,0,0,0,0,0,0\n", w,
			w, w);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(run("recommend --dag '%s' --metrics '%s'", dag, many), 1);
	assert_non_null(strstr(err_text, "line 30002: more than 10000 windows"));
	/* more operator rows than the limit (200,000): a chain of 25 operators, 8,001 windows */
	const char *chain = path_in("chain.json"), *rows = path_in("rows.csv");
	f = fopen(chain, "wb");
	assert_non_null(f);
	fputs("{\"operators\": [{\"id\": 1, \"kind\": \"source\", \"source_rate\": 10}", f);
	for (int v = 2; v <= 25; v++)
		fprintf(f, ", {\"id\": %d, \"kind\": \"%s\"}", v, v == 25 ? "sink" : "map");
	fputs("], \"edges\": [", f);
	for (int v = 1; v < 25; v++)
		fprintf(f, "%s{\"from\": %d, \"to\": %d}", v > 1 ? ", " : "", v, v + 1);
	fputs("]}\n", f);
	assert_int_equal(fclose(f), 0);
	f = fopen(rows, "wb");
	assert_non_null(f);
	fputs(HDR, f);
	for (int w = 1; w <= 8001; w++)
		for (int v = 1; v <= 25; v++)
			fprintf(f, "%d,%d,1,1,0,0,0,0,0,0\n", w, v);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(run("recommend --dag '%s' --metrics '%s'", chain, rows), 1);
	assert_non_null(strstr(err_text, "line 200002: more than 200000 operator rows"));

	/* DAG and model files that do not exist or do not parse */
	const char *csv = path_in("ok.csv");
	write_file(csv, csv_text);
	assert_int_equal(run("recommend --dag '%s/nope.json' --metrics '%s'", dir, csv), 1);
	assert_non_null(strstr(err_text, "dag: "));
	const char *bad_dag = path_in("bad_dag.json");
	write_file(bad_dag, "{\"operators\": [{\"kind\": \"nope\"}]}");
	assert_int_equal(run("recommend --dag '%s' --metrics '%s'", bad_dag, csv), 1);
	assert_non_null(strstr(err_text, "dag: "));
	const char *bad_model = path_in("bad.stnm");
	write_file(bad_model, "not a model");
	assert_int_equal(run("recommend --dag '%s' --metrics '%s' --model '%s'", dag, csv,
			     bad_model),
			 1);
	assert_non_null(strstr(err_text, "model: "));
	assert_int_equal(run("recommend --dag '%s' --metrics '%s/nope.csv'", dag, dir), 1);
	assert_non_null(strstr(err_text, "metrics: "));
}

static void test_usage(void **state)
{
	(void)state;
	assert_int_equal(run("recommend --help"), 0);
	assert_non_null(strstr(out_text, "usage: streamtune recommend --dag DAG.json"));
	assert_non_null(strstr(out_text, "ds2"));
	assert_int_equal(run("recommend -h"), 0);
	assert_int_equal(run("--help"), 0);
	assert_non_null(strstr(out_text, "recommend"));

	const char *csv = path_in("u.csv");
	write_file(csv, csv_text);
	assert_int_equal(run("recommend"), 2);
	assert_non_null(strstr(err_text, "--dag and --metrics are required"));
	assert_int_equal(run("recommend --dag '%s'", dag), 2);
	assert_int_equal(run("recommend --dag '%s' --metrics '%s' --bogus", dag, csv), 2);
	assert_non_null(strstr(err_text, "unknown option '--bogus'"));
	assert_int_equal(run("recommend --dag '%s' --metrics '%s' --format xml", dag, csv), 2);
	assert_int_equal(run("recommend --dag '%s' --metrics '%s' --policy nope", dag, csv), 2);
	assert_non_null(strstr(err_text, "unknown policy 'nope'"));
	assert_int_equal(run("recommend --dag '%s' --metrics '%s' --opt warm_up", dag, csv), 2);
	assert_int_equal(run("recommend --dag '%s' --metrics '%s' --opt warm_up=x", dag, csv), 2);
	assert_int_equal(run("recommend --dag '%s' --metrics '%s' --opt", dag, csv), 2);
	assert_int_equal(run("recommend --dag '%s' --metrics - < '%s'", dag, csv), 2);
	assert_non_null(strstr(err_text, "needs --format"));
	/* standard input with a format works */
	assert_int_equal(run("recommend --dag '%s' --metrics - --format csv --policy ds2 --json "
			     "< '%s'", dag, csv),
			 0);
	expect_op("2, \"name\": \"map\"", 1, 2);
	/* a name without .csv or .json and no --format */
	const char *noext = path_in("metrics.txt");
	write_file(noext, csv_text);
	assert_int_equal(run("recommend --dag '%s' --metrics '%s'", dag, noext), 2);
	assert_non_null(strstr(err_text, "give --format"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ds2_hand_computed),
		cmocka_unit_test(test_csv_json_same),
		cmocka_unit_test(test_no_change_and_opts),
		cmocka_unit_test(test_examples),
		cmocka_unit_test(test_bad_inputs),
		cmocka_unit_test(test_usage),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
