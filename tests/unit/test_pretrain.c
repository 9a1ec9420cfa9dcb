/* pretrain: generated histories hold what the generator reports; loading splits jobs into
 * episodes; fitting is deterministic across thread counts, honours the job mask and the
 * minimum cluster size, and refuses selections without data; label AUC of the assigned
 * members and of the global one on a held-out family (printed: the transfer figure). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include <cmocka.h>

#include "alloc.h"
#include "pretrain.h"
#include "testutil.h"

static char *dir;
static char path[1024];
static const stn_sim_family fams[] = {STN_SIM_Q1, STN_SIM_Q3, STN_SIM_Q5, STN_SIM_RANDOM};
static stn_histgen_report gen;

static int setup(void **state)
{
	(void)state;
	stn_histgen_opts o;
	stn_errbuf eb = {{0}};

	dir = stn_test_tmpdir();
	if (dir == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/h.sqlite", dir);
	stn__histgen_opts_default(&o);
	o.families = fams;
	o.n_families = 4;
	o.jobs = 12;
	o.windows = 100;
	o.seed = 7;
	o.version_prob = 0.5;
	if (stn__histgen_write(path, &o, NULL, NULL, &gen, &eb) != STN_OK) {
		fprintf(stderr, "histgen: %s\n", eb.text);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	stn_test_rmtree(dir);
	free(dir);
	return 0;
}

static void fast_opts(stn_pretrain_opts *o)
{
	stn__pretrain_opts_default(o);
	o->train.max_epochs = 3;
	o->train.patience = 2;
	o->min_cluster_windows = 20;
}

static void test_generated(void **state)
{
	(void)state;
	stn_errbuf eb = {{0}};
	stn_histgen_opts o;

	assert_int_equal(gen.jobs, 12);
	assert_int_equal(gen.windows, 12 * 100);
	assert_true(gen.dag_versions > gen.jobs); /* some jobs were redeployed */
	assert_true(gen.decisions > 12);
	assert_true(gen.bottleneck > 0 && gen.ok > 0);
	/* An existing path is refused and left alone. */
	stn__histgen_opts_default(&o);
	o.families = fams;
	o.n_families = 1;
	assert_int_equal(stn__histgen_write(path, &o, NULL, NULL, NULL, &eb), STN_EINVAL);
	/* Bad options. */
	o.n_families = 0;
	assert_int_equal(stn__histgen_write("/nonexistent/x.sqlite", &o, NULL, NULL, NULL, &eb),
			 STN_EINVAL);
	stn_sim_family f;
	assert_int_equal(stn__histgen_family_parse("layered", 7, &f), STN_OK);
	assert_int_equal(f, STN_SIM_RANDOM);
	assert_int_equal(stn__histgen_family_parse("q7x", 2, &f), STN_OK);
	assert_int_equal(f, STN_SIM_Q7);
	assert_int_equal(stn__histgen_family_parse("q9", 2, &f), STN_ENOTFOUND);
}

/* A source's target rate: what it emitted plus its backlog's growth, whether the engine
 * reports the emitted records as the source's input (the simulator) or, its input coming from
 * outside the job, only as its output (the Timely shim); a shrinking backlog does not make it
 * negative. */
static void test_source_rate(void **state)
{
	(void)state;
	stn_op_window sim = {.rate_in = 900.0, .rate_out = 900.0, .backlog_sum = 300.0};
	stn_op_window shim = {.rate_in = 0.0, .rate_out = 900.0, .backlog_sum = 300.0};
	stn_op_window idle = {.rate_in = 0.0, .rate_out = 0.0, .backlog_sum = 0.0};
	stn_op_window draining = {.rate_in = 0.0, .rate_out = 100.0, .backlog_sum = 0.0};

	assert_float_equal(stn__pretrain_source_rate(&sim, 100.0, 2.0), 1000.0, 1e-9);
	assert_float_equal(stn__pretrain_source_rate(&shim, 100.0, 2.0), 1000.0, 1e-9);
	assert_float_equal(stn__pretrain_source_rate(&idle, 0.0, 1.0), 0.0, 0.0);
	assert_float_equal(stn__pretrain_source_rate(&draining, 1000.0, 1.0), 100.0, 1e-9);
}

static void test_load(void **state)
{
	(void)state;
	stn_pretrain_opts o;
	stn_pretrain_data *d = NULL;
	stn_errbuf eb = {{0}};
	const char *paths[1] = {path};

	fast_opts(&o);
	assert_int_equal(stn__pretrain_load(&d, paths, 1, &o, NULL, NULL, &eb), STN_OK);
	assert_int_equal(stn__pretrain_data_jobs(d), 12);
	for (size_t j = 0; j < 12; j++) {
		const char *name = stn__pretrain_data_job_name(d, j);
		assert_non_null(name);
		assert_non_null(stn__pretrain_data_job_dag(d, j));
	}
	assert_null(stn__pretrain_data_job_name(d, 12));
	assert_string_equal(stn__pretrain_data_job_name(d, 0), "q1-00000");
	assert_string_equal(stn__pretrain_data_job_name(d, 3), "layered-00003");
	stn__pretrain_data_free(d);

	/* DAGs over max_ops. */
	o.max_ops = 3;
	assert_int_equal(stn__pretrain_load(&d, paths, 1, &o, NULL, NULL, &eb), STN_ETOOBIG);
	assert_null(d);
	assert_non_null(strstr(eb.text, "h.sqlite"));
}

static void encode(const stn_model *m, uint8_t **buf, size_t *len)
{
	stn_errbuf eb = {{0}};
	assert_int_equal(stn__model_encode(m, buf, len, &eb), STN_OK);
}

static void test_fit(void **state)
{
	(void)state;
	stn_pretrain_opts o;
	stn_pretrain_data *d = NULL;
	stn_errbuf eb = {{0}};
	const char *paths[1] = {path};
	stn_model a, b;
	stn_pretrain_report ra, rb;
	uint8_t *ea, *eb2;
	size_t la, lb;

	fast_opts(&o);
	assert_int_equal(stn__pretrain_load(&d, paths, 1, &o, NULL, NULL, &eb), STN_OK);
	o.threads = 2;
	assert_int_equal(stn__pretrain_fit(d, NULL, &o, NULL, NULL, &a, &ra, &eb), STN_OK);
	o.threads = 1;
	assert_int_equal(stn__pretrain_fit(d, NULL, &o, NULL, NULL, &b, &rb, &eb), STN_OK);
	encode(&a, &ea, &la);
	encode(&b, &eb2, &lb);
	assert_int_equal(la, lb);
	assert_memory_equal(ea, eb2, la);
	stn__free(ea);
	stn__free(eb2);
	assert_int_equal(ra.jobs, 12);
	assert_int_equal(ra.windows, 1200);
	assert_int_equal(ra.episodes, gen.dag_versions);
	assert_true(ra.unique_dags >= 4 && ra.unique_dags <= ra.episodes);
	assert_int_equal(a.n_members, ra.k + 1);
	assert_int_equal(a.data.k, ra.k);
	assert_int_equal(ra.ged_pairs, ra.unique_dags * (ra.unique_dags - 1) / 2);
	/* Members' window counts add up: every episode is in exactly one cluster. */
	uint64_t w = 0;
	for (size_t i = 1; i < a.n_members; i++)
		w += a.members[i].windows;
	assert_int_equal(w, a.members[0].windows);
	stn__model_fini(&b);

	/* Every cluster too small: all share the global parameters. */
	o.min_cluster_windows = 1u << 30;
	assert_int_equal(stn__pretrain_fit(d, NULL, &o, NULL, NULL, &b, &rb, &eb), STN_OK);
	assert_int_equal(rb.shared_members, rb.k);
	for (size_t i = 1; i < b.n_members; i++) {
		assert_true(b.members[i].shared_global);
		assert_memory_equal(b.members[i].net.w, b.members[0].net.w,
				    b.members[0].net.n_params * sizeof(double));
	}
	stn__model_fini(&b);

	/* An empty selection. */
	bool none[12] = {false};
	assert_int_equal(stn__pretrain_fit(d, none, &o, NULL, NULL, &b, &rb, &eb), STN_EINVAL);
	stn__model_fini(&a);
	stn__pretrain_data_free(d);
}

/* Transfer: q5 held out of pre-training; label AUC on its jobs with the member each job is
 * assigned to, and with the global member, next to a model trained with q5 included. */
static void test_transfer(void **state)
{
	(void)state;
	stn_pretrain_opts o;
	stn_pretrain_data *d = NULL;
	stn_errbuf eb = {{0}};
	const char *paths[1] = {path};
	bool train[12], held[12];
	stn_model m, full;
	double auc_assigned, auc_global, auc_full;
	uint64_t n1 = 0, n2 = 0;

	fast_opts(&o);
	o.train.max_epochs = 8;
	assert_int_equal(stn__pretrain_load(&d, paths, 1, &o, NULL, NULL, &eb), STN_OK);
	for (size_t j = 0; j < 12; j++) {
		held[j] = strncmp(stn__pretrain_data_job_name(d, j), "q5-", 3) == 0;
		train[j] = !held[j];
	}
	assert_int_equal(stn__pretrain_fit(d, train, &o, NULL, NULL, &m, NULL, &eb), STN_OK);
	assert_int_equal(stn__pretrain_fit(d, NULL, &o, NULL, NULL, &full, NULL, &eb), STN_OK);
	assert_int_equal(stn__pretrain_auc(&m, d, held, -1, &auc_assigned, &n1, &eb), STN_OK);
	assert_int_equal(stn__pretrain_auc(&m, d, held, 0, &auc_global, &n2, &eb), STN_OK);
	assert_int_equal(stn__pretrain_auc(&full, d, held, -1, &auc_full, NULL, &eb), STN_OK);
	assert_true(n1 > 0);
	assert_int_equal(n1, n2);
	assert_true(auc_assigned >= 0.0 && auc_assigned <= 1.0);
	assert_true(auc_global >= 0.0 && auc_global <= 1.0);
	assert_true(auc_full >= 0.0 && auc_full <= 1.0);
	printf("held-out q5: %llu observations, AUC assigned member %.3f, global %.3f, "
	       "trained with q5 %.3f\n",
	       (unsigned long long)n1, auc_assigned, auc_global, auc_full);
	assert_int_equal(stn__pretrain_auc(&m, d, held, 99, &auc_global, NULL, &eb), STN_EINVAL);
	stn__model_fini(&m);
	stn__model_fini(&full);
	stn__pretrain_data_free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_generated),
		cmocka_unit_test(test_source_rate),
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_fit),
		cmocka_unit_test(test_transfer),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
