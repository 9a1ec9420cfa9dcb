/* `streamtune history generate` and `streamtune pretrain` as a user runs them: a generated
 * history trains a model; two runs (2 threads, then 1) write byte-identical files; corrupt,
 * empty, missing and newer-schema histories and DAGs over the size limit are refused with an
 * error and nothing at --out; usage errors exit 2 with one message (an unknown option called
 * one). history export/import and inspect: a file refused is named once, an import that
 * merged nothing leaves no new history, inspect counts the DAG versions generate reports. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "model.h"
#include "testutil.h"

static char *dir;
static char hist[1024];

static char *err_text; /* of the last run */

/* Runs the CLI with a formatted argument string; returns its exit status. Its standard error
 * is kept for last_errors. */
static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	int rc = stn_test_vrun_cli(dir, NULL, &err_text, fmt, ap);
	va_end(ap);
	assert_true(rc >= 0);
	return rc;
}

/* Standard error of the last run. */
static const char *last_errors(void)
{
	return err_text;
}

static char *path_in(const char *name)
{
	static char buf[8][1100];
	static int next;
	char *p = buf[next++ % 8];
	snprintf(p, sizeof(buf[0]), "%s/%s", dir, name);
	return p;
}

static int setup(void **state)
{
	(void)state;
	dir = stn_test_cli_dir();
	if (dir == NULL)
		return -1;
	snprintf(hist, sizeof(hist), "%s/gen.sqlite", dir);
	/* Every family, short jobs: enough labelled windows and distinct DAGs to cluster. */
	return run("history generate --out '%s' --jobs 14 --windows 120 --seed 7", hist) == 0 ? 0
											       : -1;
}

static int teardown(void **state)
{
	(void)state;
	free(err_text);
	stn_test_rmtree(dir);
	free(dir);
	return 0;
}

static void same_file(const char *a, const char *b)
{
	unsigned char *x = NULL, *y = NULL;
	size_t nx = 0, ny = 0;

	assert_int_equal(stn_test_read_file(a, &x, &nx), 0);
	assert_int_equal(stn_test_read_file(b, &y, &ny), 0);
	assert_int_equal(nx, ny);
	assert_memory_equal(x, y, nx);
	free(x);
	free(y);
}

static const char *fast = "--epochs 4 --patience 2 --quiet";

static void test_deterministic(void **state)
{
	(void)state;
	char *m1 = path_in("m1.stnm"), *m2 = path_in("m2.stnm"), *m3 = path_in("m3.stnm");

	assert_int_equal(run("pretrain --history '%s' --out '%s' --threads 2 %s", hist, m1, fast), 0);
	assert_int_equal(run("pretrain --history '%s' --out '%s' --threads 2 %s", hist, m2, fast), 0);
	assert_int_equal(run("pretrain --history '%s' --out '%s' --threads 1 %s", hist, m3, fast), 0);
	same_file(m1, m2);
	same_file(m1, m3);

	/* The model is a version 2 file: the global member first, then clusters with medoids. */
	stn_model m;
	stn_errbuf eb = {{0}};
	assert_int_equal(stn__model_read(&m, m1, &eb), STN_OK);
	assert_true(m.has_info);
	assert_true(m.n_members >= 2);
	assert_false(m.members[0].has_dag);
	for (size_t i = 1; i < m.n_members; i++) {
		assert_true(m.members[i].has_dag);
		assert_true(m.members[i].radius >= 0.0);
	}
	assert_int_equal(m.data.k, m.n_members - 1);
	assert_int_equal(m.data.jobs, 14);
	assert_int_equal(m.data.n_histories, 1);
	assert_string_equal(m.data.histories[0].name, "gen.sqlite");
	assert_true(m.data.observations > 0 && m.data.positives > 0);
	stn__model_fini(&m);

	/* Another seed gives another model. */
	char *m4 = path_in("m4.stnm");
	unsigned char *x = NULL, *y = NULL;
	size_t nx = 0, ny = 0;
	assert_int_equal(run("pretrain --history '%s' --out '%s' --seed 2 %s", hist, m4, fast), 0);
	assert_int_equal(stn_test_read_file(m1, &x, &nx), 0);
	assert_int_equal(stn_test_read_file(m4, &y, &ny), 0);
	assert_true(nx != ny || memcmp(x, y, nx) != 0);
	free(x);
	free(y);
}

/* A refused input: exit 1 and nothing at out. */
static void refused(const char *history, const char *extra)
{
	char *out = path_in("refused.stnm");

	unlink(out);
	assert_int_equal(run("pretrain --history '%s' --out '%s' %s %s", history, out, fast, extra),
			 1);
	assert_int_not_equal(access(out, F_OK), 0);
}

static void write_bytes(const char *path, const char *data, size_t n)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, n, f), n);
	fclose(f);
}

static void test_bad_histories(void **state)
{
	(void)state;
	char *junk = path_in("junk.sqlite"), *empty = path_in("empty.sqlite");
	char *newer = path_in("newer.sqlite"), *nojobs = path_in("nojobs.sqlite");
	char junkdata[4096];

	for (size_t i = 0; i < sizeof(junkdata); i++)
		junkdata[i] = (char)(i * 131 + 7);
	write_bytes(junk, junkdata, sizeof(junkdata));
	write_bytes(empty, "", 0);
	refused(junk, "");
	refused(empty, "");
	refused(path_in("missing.sqlite"), "");

	/* A history of a newer schema version. */
	char cmd[3000];
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", hist, newer);
	assert_int_equal(system(cmd), 0);
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open(newer, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "UPDATE schema_version SET version = 99", NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	refused(newer, "");

	/* A window that does not fit its DAG (one operator's aggregates left). */
	char *misfit = path_in("misfit.sqlite");
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", hist, misfit);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(sqlite3_open(misfit, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
				      "UPDATE windows SET n_ops = 1, ops = substr(ops, 1, 72)"
				      " WHERE idx = 5",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	refused(misfit, "");

	/* A valid history with no windows at all. */
	assert_int_equal(sqlite3_open(nojobs, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
				      "CREATE TABLE schema_version(version INTEGER NOT NULL);"
				      "INSERT INTO schema_version VALUES (1);"
				      "CREATE TABLE dags(key INTEGER PRIMARY KEY, hash INTEGER NOT NULL"
				      " UNIQUE, n_ops INTEGER NOT NULL, n_edges INTEGER NOT NULL,"
				      " body BLOB NOT NULL);"
				      "CREATE TABLE jobs(key INTEGER PRIMARY KEY, job TEXT NOT NULL"
				      " UNIQUE, policy TEXT NOT NULL, policy_opts TEXT NOT NULL,"
				      " created_ms INTEGER NOT NULL, dag INTEGER NOT NULL);"
				      "CREATE TABLE windows(job INTEGER NOT NULL, idx INTEGER NOT NULL,"
				      " epoch INTEGER NOT NULL, duration_ms INTEGER NOT NULL, lag_ms REAL"
				      " NOT NULL, dag INTEGER NOT NULL, n_ops INTEGER NOT NULL, ops BLOB"
				      " NOT NULL, PRIMARY KEY(job, idx)) WITHOUT ROWID;",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	refused(nojobs, "");

	/* DAGs over the size limit; and one bad history among good ones spoils the run. */
	refused(hist, "--max-ops 2");
	char both[2200];
	snprintf(both, sizeof(both), "%s' '%s", hist, junk);
	refused(both, "");

	/* An existing model is left as it was when a run fails. */
	char *keep = path_in("keep.stnm");
	assert_int_equal(run("pretrain --history '%s' --out '%s' %s", hist, keep, fast), 0);
	unsigned char *before = NULL, *after = NULL;
	size_t nb = 0, na = 0;
	assert_int_equal(stn_test_read_file(keep, &before, &nb), 0);
	assert_int_equal(run("pretrain --history '%s' --out '%s' %s", junk, keep, fast), 1);
	assert_int_equal(stn_test_read_file(keep, &after, &na), 0);
	assert_int_equal(nb, na);
	assert_memory_equal(before, after, nb);
	free(before);
	free(after);
}

static void test_usage(void **state)
{
	(void)state;
	assert_int_equal(run("pretrain --help >/dev/null"), 0);
	assert_int_equal(run("history --help >/dev/null"), 0);
	assert_int_equal(run("history generate --help >/dev/null"), 0);
	assert_int_equal(run("history export --help >/dev/null"), 0);
	assert_int_equal(run("history import --help >/dev/null"), 0);
	assert_int_equal(run("pretrain"), 2);
	assert_int_equal(run("pretrain --out x.stnm"), 2);
	assert_int_equal(run("pretrain --history '%s'", hist), 2);
	assert_int_equal(run("pretrain --history '%s' --out '%s' --threads 0", hist,
			     path_in("t0.stnm")),
			 2);
	/* An unknown option is called one, with or without a value after it. */
	assert_int_equal(run("pretrain --history '%s' --out '%s' --bogus", hist,
			     path_in("b.stnm")),
			 2);
	assert_non_null(strstr(last_errors(), "unknown option '--bogus'"));
	assert_int_equal(run("pretrain --history '%s' --out '%s' --bogus 1", hist,
			     path_in("b.stnm")),
			 2);
	assert_non_null(strstr(last_errors(), "unknown option '--bogus'"));
	assert_int_equal(run("pretrain --history '%s' --out", hist), 2);
	assert_non_null(strstr(last_errors(), "--out needs a value"));
	assert_int_equal(run("pretrain --history '%s' --out '%s' --threads x", hist,
			     path_in("b.stnm")),
			 2);
	assert_int_equal(stn_test_count(last_errors(), "streamtune pretrain:"), 1);
	assert_int_equal(run("history"), 2);
	assert_int_equal(run("history frobnicate"), 2);
	assert_int_equal(run("history generate"), 2);
	assert_int_equal(run("history generate --out '%s' --families q1,q99", path_in("f.sqlite")),
			 2);
	assert_int_equal(run("history generate --out '%s' --jobs 0", path_in("f.sqlite")), 2);
	assert_int_equal(stn_test_count(last_errors(), "streamtune history generate:"), 1);
	assert_int_equal(run("history generate --out '%s' --bogus", path_in("f.sqlite")), 2);
	assert_non_null(strstr(last_errors(), "unknown option '--bogus'"));
	assert_int_not_equal(access(path_in("f.sqlite"), F_OK), 0);
	/* An existing file is not overwritten. */
	assert_int_equal(run("history generate --out '%s' --jobs 1", hist), 1);
	assert_int_equal(run("history export '%s'", hist), 2);
	assert_int_equal(run("history import --into '%s'", path_in("i.sqlite")), 2);
	assert_int_equal(run("history import '%s' --into", path_in("x.mp")), 2);
	assert_non_null(strstr(last_errors(), "--into needs a history file"));
	assert_int_equal(run("history import --bogus '%s' --into '%s'", path_in("x.mp"),
			     path_in("i.sqlite")),
			 2);
	assert_non_null(strstr(last_errors(), "unknown option '--bogus'"));
}

/* A generated history exported and imported elsewhere trains, and generation is
 * deterministic: the same seed gives the same windows. */
static void test_generate_export_import(void **state)
{
	(void)state;
	char *g1 = path_in("g1.sqlite"), *g2 = path_in("g2.sqlite");
	char *mp = path_in("g1.mp"), *mp2 = path_in("g2.mp"), *merged = path_in("merged.sqlite");

	assert_int_equal(run("history generate --out '%s' --families q5,random --jobs 3 "
			     "--windows 40 --seed 3",
			     g1),
			 0);
	assert_int_equal(run("history generate --out '%s' --families q5,random --jobs 3 "
			     "--windows 40 --seed 3",
			     g2),
			 0);
	assert_int_equal(run("history export '%s' --out '%s'", g1, mp), 0);
	assert_int_equal(run("history export '%s' --out '%s'", g2, mp2), 0);
	same_file(mp, mp2);
	assert_int_equal(run("history import '%s' --into '%s'", mp, merged), 0);
	assert_int_equal(run("pretrain --history '%s' --out '%s' %s", merged,
			     path_in("merged.stnm"), fast),
			 0);

	/* A file that cannot be imported is named once, and a history made for it is not
	 * left behind; one that existed is kept. */
	char *missing = path_in("missing.mp"), *fresh = path_in("fresh.sqlite");
	assert_int_equal(run("history import '%s' --into '%s'", missing, fresh), 1);
	assert_int_equal(stn_test_count(last_errors(), missing), 1);
	assert_non_null(strstr(last_errors(), "No such file"));
	assert_int_not_equal(access(fresh, F_OK), 0);
	/* a history, not an export */
	assert_int_equal(run("history import '%s' --into '%s'", hist, fresh), 1);
	assert_int_equal(stn_test_count(last_errors(), hist), 1);
	assert_int_not_equal(access(fresh, F_OK), 0);
	assert_int_equal(run("history import '%s' --into '%s'", missing, merged), 1);
	assert_int_equal(access(merged, F_OK), 0);

	/* A file that is no history: one sentence, naming it once. */
	assert_int_equal(run("history export '%s' --out '%s'", mp, path_in("x.mp")), 1);
	assert_int_equal(stn_test_count(last_errors(), "is not a StreamTune history"), 1);
	assert_non_null(strstr(last_errors(), "(reading the schema: file is not a database)"));
	assert_int_not_equal(access(path_in("x.mp"), F_OK), 0);
}

/* Output of a CLI run (stdout), into a heap string. */
static char *output_of(const char *args)
{
	char cmd[3000];
	snprintf(cmd, sizeof(cmd), "'%s' %s 2>/dev/null", stn_test_cli(), args);
	FILE *f = popen(cmd, "r");
	assert_non_null(f);
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap);
	assert_non_null(buf);
	size_t k;
	while ((k = fread(buf + n, 1, cap - 1 - n, f)) > 0)
		n += k;
	buf[n] = '\0';
	pclose(f);
	return buf;
}

/* inspect ged on two JSON DAGs, inspect model with clusters and --dag. */
static void test_inspect(void **state)
{
	(void)state;
	const char *a = "{\"operators\": [{\"name\": \"bids\", \"kind\": \"source\"},"
			"{\"name\": \"hop\", \"kind\": \"window\"},"
			"{\"name\": \"max\", \"kind\": \"aggregate\"},"
			"{\"name\": \"sink\", \"kind\": \"sink\"}],"
			"\"edges\": [{\"from\": \"bids\", \"to\": \"hop\", \"partitioning\": \"hash\"},"
			"{\"from\": \"hop\", \"to\": \"max\", \"partitioning\": \"hash\"},"
			"{\"from\": \"max\", \"to\": \"sink\"}]}";
	const char *b = "{\"operators\": [{\"kind\": \"source\"}, {\"kind\": \"map\"},"
			"{\"kind\": \"sink\"}], \"edges\": [{\"from\": 1, \"to\": 2},"
			"{\"from\": 2, \"to\": 3}]}";
	char *pa = path_in("a.json"), *pb = path_in("b.json"), *bad = path_in("bad.json");
	char args[3000];
	write_bytes(pa, a, strlen(a));
	write_bytes(pb, b, strlen(b));
	write_bytes(bad, "{\"operators\": [{\"kind\": \"sourc\"}]}", 35);

	/* Delete the window, relabel aggregate -> map, three edge edits: 5 of 12. */
	snprintf(args, sizeof(args), "inspect ged '%s' '%s'", pa, pb);
	char *out = output_of(args);
	assert_non_null(strstr(out, "GED 5 (exact), normalised 0.4167"));
	assert_non_null(strstr(out, "delete node"));
	free(out);
	assert_int_equal(run("inspect ged '%s' '%s'", pa, bad), 1);
	assert_int_equal(run("inspect ged '%s'", pa), 2);

	char *m = path_in("inspect.stnm");
	assert_int_equal(run("pretrain --history '%s' --out '%s' %s", hist, m, fast), 0);
	snprintf(args, sizeof(args), "inspect model '%s' --dag '%s'", m, pa);
	out = output_of(args);
	assert_non_null(strstr(out, "[0] global: global member"));
	assert_non_null(strstr(out, "[1] cluster-0: cluster of"));
	assert_non_null(strstr(out, "medoid DAG"));
	assert_non_null(strstr(out, "nearest medoid"));
	assert_non_null(strstr(out, "served by"));
	free(out);
	assert_int_equal(run("inspect model '%s' --dag '%s' >/dev/null", m, bad), 1);
	/* A model that cannot be read is named once. */
	char *none = path_in("none.stnm");
	assert_int_equal(run("inspect model '%s'", none), 1);
	assert_int_equal(stn_test_count(last_errors(), none), 1);
	assert_non_null(strstr(last_errors(), "No such file or directory (ENOTFOUND)"));
	assert_int_equal(run("inspect model '%s'", pa), 1);
	assert_int_equal(stn_test_count(last_errors(), pa), 1);
}

/* Output of `inspect history FILE ARGS`. */
static char *inspect_history_of(const char *file, const char *args)
{
	char cmd[3000];
	snprintf(cmd, sizeof(cmd), "inspect history '%s' %s", file, args);
	return output_of(cmd);
}

/* inspect history: the job table, a job's last windows or those from its K-th, and the
 * refusals (unknown job, missing file, bad numbers). */
static void test_inspect_history(void **state)
{
	(void)state;
	char *h = path_in("inspect.sqlite");
	assert_int_equal(run("history generate --out '%s' --families random --jobs 2 --windows 12 "
			     "--seed 3",
			     h),
			 0);
	char *out = inspect_history_of(h, "");
	assert_non_null(strstr(out, "2 jobs"));
	assert_non_null(strstr(out, "24 windows"));
	assert_int_equal(stn_test_count(out, "layered-0000"), 2);
	free(out);

	/* Two jobs of one shape: generate and inspect count the same DAG versions, and inspect
	 * says how many of them are distinct. */
	char *q5 = path_in("q5.sqlite");
	assert_int_equal(run("history generate --out '%s' --families q5 --jobs 2 --windows 12 "
			     "--seed 3",
			     q5),
			 0);
	const char *said = strstr(last_errors(), " jobs, ");
	assert_non_null(said);
	unsigned long gen_versions = 0;
	assert_int_equal(sscanf(said, " jobs, %lu DAG versions", &gen_versions), 1);
	out = inspect_history_of(q5, "");
	said = strstr(out, ": 2 jobs, ");
	assert_non_null(said);
	unsigned long versions = 0, distinct = 0;
	assert_int_equal(sscanf(said, ": 2 jobs, %lu DAG versions (%lu distinct)", &versions,
				&distinct),
			 2);
	assert_int_equal(versions, gen_versions);
	assert_true(distinct < versions); /* the two jobs' first versions are one DAG */
	free(out);

	/* A file that is no history: one sentence, naming it once. */
	char *txt = path_in("some.txt");
	write_bytes(txt, "hello\n", 6);
	assert_int_equal(run("inspect history '%s'", txt), 1);
	assert_int_equal(stn_test_count(last_errors(), txt), 1);
	assert_non_null(strstr(last_errors(), "is not a StreamTune history (reading the schema: "
					       "file is not a database)"));

	/* A job's windows: the last ones by default, else from the K-th; how many, the header,
	 * a position shown and one not. */
	static const struct {
		const char *args, *header;
		size_t windows;
		const char *shown, *not_shown;
	} views[] = {
		{"--windows 3", "12 windows; #9 to #11:", 3, "(#9, ", "(#8, "},
		{"--from 0 --windows 2", "12 windows; #0 to #1:", 2, "(#0, ", "(#2, "},
		{"--from 11", "12 windows; #11:", 1, "(#11, ", "(#10, "},
		{"--from 12", "12 windows; none from #12", 0, "12 windows", "(#11, "},
	};
	for (size_t k = 0; k < sizeof(views) / sizeof(views[0]); k++) {
		char args[200];
		snprintf(args, sizeof(args), "--job layered-00001 %s", views[k].args);
		out = inspect_history_of(h, args);
		assert_non_null(strstr(out, views[k].header));
		assert_int_equal(stn_test_count(out, "\nwindow "), views[k].windows);
		assert_non_null(strstr(out, views[k].shown));
		assert_null(strstr(out, views[k].not_shown));
		assert_non_null(strstr(out, "\ndecision "));
		free(out);
	}

	assert_int_equal(run("inspect history '%s' --job nope", h), 1);
	assert_int_equal(run("inspect history '%s'", path_in("missing.sqlite")), 1);
	assert_int_equal(run("inspect history '%s' --job layered-00001 --from -1", h), 2);
	assert_int_equal(run("inspect history '%s' --windows x", h), 2);
	assert_int_equal(run("inspect history '%s' --bogus", h), 2);
	assert_non_null(strstr(last_errors(), "unknown option '--bogus'"));
	assert_int_equal(run("inspect history '%s' --job", h), 2);
	assert_non_null(strstr(last_errors(), "--job needs a value"));
	assert_int_equal(run("inspect history"), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_deterministic),
		cmocka_unit_test(test_bad_histories),
		cmocka_unit_test(test_usage),
		cmocka_unit_test(test_generate_export_import),
		cmocka_unit_test(test_inspect),
		cmocka_unit_test(test_inspect_history),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
