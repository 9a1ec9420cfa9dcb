/* history: what is stored reads back exactly, across reopen, export and import; damaged,
 * foreign and newer files are refused with the right status. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dag.h"
#include "history.h"
#include "testutil.h"
#include "window.h"

#define N_WINDOWS 40u

static void three_op_dag(stn_dag *d, stn_op_kind middle)
{
	stn_errbuf eb = {{0}};
	stn_op_kind kinds[3] = {STN_KIND_SOURCE, middle, STN_KIND_SINK};

	stn__dag_init(d);
	for (uint32_t i = 0; i < 3; i++) {
		stn_op op;

		memset(&op, 0, sizeof(op));
		op.id = 10 + i;
		snprintf(op.name, sizeof(op.name), "op%u", i);
		op.kind = kinds[i];
		op.selectivity = 1.0;
		op.source_rate = i == 0 ? 1000.0 : 0.0;
		op.parallelism = 1 + i;
		op.p_max = 8;
		assert_int_equal(stn__dag_add_op(d, &op, &eb), STN_OK);
	}
	assert_int_equal(stn__dag_add_edge(d, 0, 1, STN_PART_HASH, &eb), STN_OK);
	assert_int_equal(stn__dag_add_edge(d, 1, 2, STN_PART_FORWARD, &eb), STN_OK);
}

/* Window i has values derived from i and the operator, so a read-back can be checked. */
static void fill_window(stn_window *w, const stn_dag *d, uint64_t i)
{
	assert_int_equal(stn__window_init(w, d, i), STN_OK);
	w->epoch = 100 + i;
	w->duration_ms = 1000;
	w->lag_ms = (double)i * 1.5;
	for (size_t o = 0; o < w->n_ops; o++) {
		stn_op_window *ow = &w->ops[o];

		ow->n_inst = (uint32_t)(o + 1);
		ow->busy_max = 0.01 * (double)((i + o) % 100);
		ow->busy_mean = ow->busy_max / 2;
		ow->rate_in = 1000.0 + (double)i + 0.25 * (double)o;
		ow->rate_out = ow->rate_in * 0.5;
		ow->backlog_max = (double)(i * o);
		ow->backlog_sum = 2.0 * ow->backlog_max;
		ow->bp_max = -1.0;
		ow->label = (int)((i + o) % 3) - 1;
	}
	w->finished = true;
}

static stn_history *open_rw(const char *path)
{
	stn_errbuf eb = {{0}};
	stn_history_opts opts = {false, false};
	stn_history *h = NULL;

	if (stn__history_open(path, &opts, &h, &eb) != STN_OK)
		fail_msg("open %s: %s", path, eb.text);
	return h;
}

/* One job with N_WINDOWS windows and two decisions, the first acknowledged. */
static void populate(stn_history *h, const char *job, int64_t *key_out)
{
	stn_errbuf eb = {{0}};
	stn_dag d;
	int64_t key = 0;
	uint32_t op[2] = {10, 11}, p[2] = {2, 3};
	double prob[2] = {0.25, 0.75};

	three_op_dag(&d, STN_KIND_MAP);
	assert_int_equal(stn__history_begin(h, &eb), STN_OK);
	assert_int_equal(stn__history_put_job(h, job, &d, "ds2", "{\"target\":0.7}", &key, &eb),
			 STN_OK);
	for (uint64_t i = 0; i < N_WINDOWS; i++) {
		stn_window w;

		fill_window(&w, &d, i);
		assert_int_equal(stn__history_put_window(h, key, &w, &eb), STN_OK);
		stn__window_fini(&w);
	}
	for (uint64_t s = 1; s <= 2; s++) {
		stn_history_decision dec = {s, 200 + s, 10 * s, 2, op, p, prob, "scale up", "ds2"};

		assert_int_equal(stn__history_put_decision(h, key, &dec, &eb), STN_OK);
	}
	assert_int_equal(stn__history_ack_decision(h, key, 1, 201, &eb), STN_OK);
	assert_int_equal(stn__history_commit(h, &eb), STN_OK);
	stn__dag_fini(&d);
	if (key_out)
		*key_out = key;
}

typedef struct window_check {
	uint64_t seen;
	uint64_t dag_hash;
	int mismatches;
} window_check;

static bool check_window(void *user, uint64_t dag_hash, const stn_window *w)
{
	window_check *c = user;
	stn_dag d;
	stn_window want;

	three_op_dag(&d, STN_KIND_MAP);
	fill_window(&want, &d, w->index);
	if (w->index != c->seen || dag_hash != c->dag_hash || w->epoch != want.epoch ||
	    w->duration_ms != want.duration_ms || w->lag_ms != want.lag_ms ||
	    w->n_ops != want.n_ops)
		c->mismatches++;
	for (size_t o = 0; o < w->n_ops && o < want.n_ops; o++) {
		const stn_op_window *a = &w->ops[o], *b = &want.ops[o];

		if (a->op_id != b->op_id || a->n_inst != b->n_inst ||
		    a->parallelism != b->parallelism || a->busy_max != b->busy_max ||
		    a->busy_mean != b->busy_mean || a->rate_in != b->rate_in ||
		    a->rate_out != b->rate_out || a->backlog_max != b->backlog_max ||
		    a->backlog_sum != b->backlog_sum || a->bp_max != b->bp_max ||
		    a->label != b->label)
			c->mismatches++;
	}
	c->seen++;
	stn__window_fini(&want);
	stn__dag_fini(&d);
	return true;
}

typedef struct decision_check {
	int n;
	int64_t applied[2];
	int bad;
} decision_check;

static bool check_decision(void *user, const stn_history_decision *d, int64_t applied)
{
	decision_check *c = user;

	if (c->n < 2)
		c->applied[c->n] = applied;
	if (d->seq != (uint64_t)c->n + 1 || d->n_ops != 2 || d->op[1] != 11 || d->p[1] != 3 ||
	    d->prob[0] != 0.25 || strcmp(d->reason, "scale up") != 0 ||
	    strcmp(d->policy, "ds2") != 0)
		c->bad++;
	c->n++;
	return true;
}

static bool first_key(void *user, const stn_history_job *j)
{
	*(int64_t *)user = j->key;
	return false;
}

static void verify(stn_history *h, int64_t key)
{
	stn_errbuf eb = {{0}};
	stn_dag d, stored;
	window_check wc = {0, 0, 0};
	decision_check dc = {0, {0, 0}, 0};

	three_op_dag(&d, STN_KIND_MAP);
	wc.dag_hash = stn__dag_hash(&d);
	assert_int_equal(stn__history_each_window(h, key, check_window, &wc, &eb), STN_OK);
	assert_int_equal(wc.seen, N_WINDOWS);
	assert_int_equal(wc.mismatches, 0);
	assert_int_equal(stn__history_each_decision(h, key, check_decision, &dc, &eb), STN_OK);
	assert_int_equal(dc.n, 2);
	assert_int_equal(dc.bad, 0);
	assert_int_equal(dc.applied[0], 201);
	assert_int_equal(dc.applied[1], -1);
	stn__dag_init(&stored);
	assert_int_equal(stn__history_job_dag(h, key, &stored, &eb), STN_OK);
	assert_int_equal(stn__dag_hash(&stored), wc.dag_hash);
	assert_string_equal(stored.ops[1].name, "op1");
	stn__dag_fini(&stored);
	stn__dag_fini(&d);
}

static void test_round_trip_and_reopen(void **state)
{
	(void)state;
	char *dir = stn_test_tmpdir();
	char *path = stn_test_path(dir, "h.sqlite");
	stn_errbuf eb = {{0}};
	stn_history *h = open_rw(path);
	int64_t key = 0;
	stn_history_counts n;

	populate(h, "job-a", &key);
	verify(h, key);
	stn__history_close(h);

	stn_history_opts ro = {true, false};
	h = NULL;
	assert_int_equal(stn__history_open(path, &ro, &h, &eb), STN_OK);
	assert_int_equal(stn__history_each_job(h, first_key, &key, &eb), STN_OK);
	verify(h, key);
	assert_int_equal(stn__history_counts(h, &n, &eb), STN_OK);
	assert_int_equal(n.jobs, 1);
	assert_int_equal(n.dag_versions, 1);
	assert_int_equal(n.dags, 1);
	assert_int_equal(n.windows, N_WINDOWS);
	assert_int_equal(n.op_windows, 3 * N_WINDOWS);
	assert_int_equal(n.decisions, 2);
	stn__history_close(h);
	stn_test_rmtree(dir);
	free(path);
	free(dir);
}

static void test_order_and_versions(void **state)
{
	(void)state;
	char *dir = stn_test_tmpdir();
	char *path = stn_test_path(dir, "h.sqlite");
	stn_errbuf eb = {{0}};
	stn_history *h = open_rw(path);
	int64_t key = 0, key2 = 0;
	stn_dag d2;
	stn_window w;
	stn_history_counts n;

	populate(h, "job-a", &key);
	/* A window index the job already has is refused, and the history is unchanged. */
	three_op_dag(&d2, STN_KIND_MAP);
	fill_window(&w, &d2, 5);
	assert_int_equal(stn__history_begin(h, &eb), STN_OK);
	assert_int_equal(stn__history_put_window(h, key, &w, &eb), STN_EORDER);
	assert_int_equal(stn__history_ack_decision(h, key, 99, 1, &eb), STN_ENOTFOUND);
	assert_int_equal(stn__history_commit(h, &eb), STN_OK);
	stn__window_fini(&w);
	stn__dag_fini(&d2);

	/* The same job with another structure is a new DAG version, same job row. */
	three_op_dag(&d2, STN_KIND_JOIN);
	assert_int_equal(stn__history_begin(h, &eb), STN_OK);
	assert_int_equal(stn__history_put_job(h, "job-a", &d2, "ds2", "{}", &key2, &eb), STN_OK);
	assert_int_equal(stn__history_commit(h, &eb), STN_OK);
	assert_int_equal(key2, key);
	assert_int_equal(stn__history_counts(h, &n, &eb), STN_OK);
	assert_int_equal(n.jobs, 1);
	assert_int_equal(n.dag_versions, 2);
	assert_int_equal(n.dags, 2);
	assert_int_equal(n.windows, N_WINDOWS);
	/* Another job of the same shape: one more DAG version, no new distinct DAG (the count
	 * `history generate` reports is the versions). */
	int64_t key3 = 0;
	assert_int_equal(stn__history_begin(h, &eb), STN_OK);
	assert_int_equal(stn__history_put_job(h, "job-b", &d2, "ds2", "{}", &key3, &eb), STN_OK);
	assert_int_equal(stn__history_commit(h, &eb), STN_OK);
	assert_int_equal(stn__history_counts(h, &n, &eb), STN_OK);
	assert_int_equal(n.jobs, 2);
	assert_int_equal(n.dag_versions, 3);
	assert_int_equal(n.dags, 2);

	stn_dag cur;

	stn__dag_init(&cur);
	assert_int_equal(stn__history_job_dag(h, key, &cur, &eb), STN_OK);
	assert_int_equal(stn__dag_hash(&cur), stn__dag_hash(&d2));
	stn__dag_fini(&cur);
	stn__dag_fini(&d2);
	stn__history_close(h);
	stn_test_rmtree(dir);
	free(path);
	free(dir);
}

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void test_refuses_foreign_and_newer(void **state)
{
	(void)state;
	char *dir = stn_test_tmpdir();
	char *junk = stn_test_path(dir, "junk.sqlite");
	char *newer = stn_test_path(dir, "newer.sqlite");
	char *missing = stn_test_path(dir, "missing.sqlite");
	stn_errbuf eb = {{0}};
	stn_history_opts rw = {false, false}, ro = {true, false};
	stn_history *h = NULL;
	char text[4096];

	memset(text, 'x', sizeof(text));
	write_file(junk, text, sizeof(text));
	assert_int_equal(stn__history_open(junk, &rw, &h, &eb), STN_ECORRUPT);
	assert_null(h);
	/* One sentence, naming the file once, with SQLite's reason whole. */
	const char *said = strstr(eb.text, " is not a StreamTune history (");
	assert_non_null(said);
	assert_null(strstr(said + 1, " is not a StreamTune history"));
	assert_non_null(strstr(eb.text, "file is not a database)"));
	assert_int_equal(strncmp(eb.text, junk, strlen(junk)), 0);

	/* A read-only open of a file that does not exist creates nothing. */
	assert_int_not_equal(stn__history_open(missing, &ro, &h, &eb), STN_OK);
	assert_null(h);
	FILE *f = fopen(missing, "rb");
	assert_null(f);

	h = open_rw(newer);
	populate(h, "job-a", NULL);
	stn__history_close(h);
	h = NULL;
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open(newer, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "UPDATE schema_version SET version = 999", NULL, NULL,
				      NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	eb.text[0] = '\0';
	assert_int_equal(stn__history_open(newer, &rw, &h, &eb), STN_ESCHEMA);
	assert_null(h);
	assert_non_null(strstr(eb.text, "999"));

	stn_test_rmtree(dir);
	free(junk);
	free(newer);
	free(missing);
	free(dir);
}

static void test_export_import_merge(void **state)
{
	(void)state;
	char *dir = stn_test_tmpdir();
	char *a_path = stn_test_path(dir, "a.sqlite");
	char *b_path = stn_test_path(dir, "b.sqlite");
	char *x_path = stn_test_path(dir, "a.stnh");
	char *bad_path = stn_test_path(dir, "bad.stnh");
	stn_errbuf eb = {{0}};
	stn_history *a = open_rw(a_path), *b = open_rw(b_path);
	uint64_t imported = 0, skipped = 0;
	stn_history_counts na, nb;
	int64_t key = 0;

	populate(a, "job-a", NULL);
	populate(b, "job-b", NULL);
	assert_int_equal(stn__history_export(a, x_path, &eb), STN_OK);

	/* Merging a's jobs into b adds them next to b's own. */
	assert_int_equal(stn__history_import(b, x_path, &imported, &skipped, &eb), STN_OK);
	assert_int_equal(imported, N_WINDOWS);
	assert_int_equal(skipped, 0);
	assert_int_equal(stn__history_counts(b, &nb, &eb), STN_OK);
	assert_int_equal(stn__history_counts(a, &na, &eb), STN_OK);
	assert_int_equal(na.windows, N_WINDOWS); /* exporting changes nothing */
	assert_int_equal(nb.jobs, 2);
	assert_int_equal(nb.windows, 2 * N_WINDOWS);
	assert_int_equal(nb.decisions, 4);
	assert_int_equal(nb.dag_versions, 2); /* one per job */
	assert_int_equal(nb.dags, 1);         /* same structure, stored once */

	/* Importing again adds nothing. */
	assert_int_equal(stn__history_import(b, x_path, &imported, &skipped, &eb), STN_OK);
	assert_int_equal(imported, 0);
	assert_int_equal(skipped, N_WINDOWS);
	stn__history_close(b);

	/* A truncated export is refused and changes nothing. */
	unsigned char *data = NULL;
	size_t len = 0;
	assert_int_equal(stn_test_read_file(x_path, &data, &len), 0);
	assert_true(len > 64);
	write_file(bad_path, data, len / 2);
	free(data);
	stn_history *c_hist = NULL;
	char *c_path = stn_test_path(dir, "c.sqlite");
	c_hist = open_rw(c_path);
	assert_int_not_equal(stn__history_import(c_hist, bad_path, &imported, &skipped, &eb),
			     STN_OK);
	assert_true(strlen(eb.text) > 0);
	/* Every refusal names the file, once: a missing one, and a record that is not one. */
	char *none_path = stn_test_path(dir, "none.stnh");
	char *odd_path = stn_test_path(dir, "odd.stnh");
	assert_int_equal(stn__history_import(c_hist, none_path, &imported, &skipped, &eb),
			 STN_ENOTFOUND);
	assert_int_equal(strncmp(eb.text, none_path, strlen(none_path)), 0);
	assert_null(strstr(eb.text + 1, none_path));
	static const char odd[] = "\x82\xa6" "format" "\xb2" "streamtune-history" "\xa7" "version"
				  "\x01\x91\xa5" "bogus";
	write_file(odd_path, odd, sizeof(odd) - 1);
	assert_int_equal(stn__history_import(c_hist, odd_path, &imported, &skipped, &eb),
			 STN_ECORRUPT);
	assert_int_equal(strncmp(eb.text, odd_path, strlen(odd_path)), 0);
	assert_non_null(strstr(eb.text, "unknown export record 'bogus'"));
	free(none_path);
	free(odd_path);
	stn_history_counts nc;
	assert_int_equal(stn__history_counts(c_hist, &nc, &eb), STN_OK);
	assert_int_equal(nc.jobs, 0);
	assert_int_equal(nc.windows, 0);
	/* The whole export into an empty history gives the same job, verified value by value. */
	assert_int_equal(stn__history_import(c_hist, x_path, &imported, &skipped, &eb), STN_OK);
	assert_int_equal(stn__history_each_job(c_hist, first_key, &key, &eb), STN_OK);
	verify(c_hist, key);
	stn__history_close(c_hist);
	stn__history_close(a);
	stn_test_rmtree(dir);
	free(a_path);
	free(b_path);
	free(c_path);
	free(x_path);
	free(bad_path);
	free(dir);
}

/* Collects the DAG hash of every window. */
typedef struct window_dags {
	uint64_t hash[2 * N_WINDOWS];
	size_t n;
} window_dags;

static bool collect_dag(void *user, uint64_t dag_hash, const stn_window *w)
{
	window_dags *c = user;

	(void)w;
	if (c->n < 2 * N_WINDOWS)
		c->hash[c->n++] = dag_hash;
	return true;
}

static void test_import_keeps_dag_versions(void **state)
{
	(void)state;
	char *dir = stn_test_tmpdir();
	char *a_path = stn_test_path(dir, "a.sqlite");
	char *b_path = stn_test_path(dir, "b.sqlite");
	char *x_path = stn_test_path(dir, "a.stnh");
	stn_errbuf eb = {{0}};
	stn_history *a = open_rw(a_path), *b = open_rw(b_path);
	uint64_t imported = 0, skipped = 0;
	int64_t key = 0;
	stn_dag d2;
	stn_window w;
	window_dags before = {{0}, 0}, after = {{0}, 0};

	/* N_WINDOWS windows under the first DAG, then a redeployment and N_WINDOWS more. */
	populate(a, "job-a", &key);
	three_op_dag(&d2, STN_KIND_JOIN);
	assert_int_equal(stn__history_begin(a, &eb), STN_OK);
	assert_int_equal(stn__history_put_job(a, "job-a", &d2, "ds2", "{}", &key, &eb), STN_OK);
	for (uint64_t i = N_WINDOWS; i < 2 * N_WINDOWS; i++) {
		fill_window(&w, &d2, i);
		assert_int_equal(stn__history_put_window(a, key, &w, &eb), STN_OK);
		stn__window_fini(&w);
	}
	assert_int_equal(stn__history_commit(a, &eb), STN_OK);
	assert_int_equal(stn__history_each_window(a, key, collect_dag, &before, &eb), STN_OK);
	assert_int_equal(before.n, 2 * N_WINDOWS);
	assert_int_not_equal(before.hash[0], before.hash[2 * N_WINDOWS - 1]);

	assert_int_equal(stn__history_export(a, x_path, &eb), STN_OK);
	assert_int_equal(stn__history_import(b, x_path, &imported, &skipped, &eb), STN_OK);
	assert_int_equal(imported, 2 * N_WINDOWS);
	assert_int_equal(stn__history_each_job(b, first_key, &key, &eb), STN_OK);
	assert_int_equal(stn__history_each_window(b, key, collect_dag, &after, &eb), STN_OK);
	/* Every window is filed under the DAG version it ran with, not the job's latest. */
	assert_int_equal(after.n, before.n);
	for (size_t i = 0; i < before.n; i++)
		assert_int_equal(after.hash[i], before.hash[i]);

	stn__dag_fini(&d2);
	stn__history_close(a);
	stn__history_close(b);
	stn_test_rmtree(dir);
	free(a_path);
	free(b_path);
	free(x_path);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_and_reopen),
		cmocka_unit_test(test_order_and_versions),
		cmocka_unit_test(test_refuses_foreign_and_newer),
		cmocka_unit_test(test_export_import_merge),
		cmocka_unit_test(test_import_keeps_dag_versions),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
