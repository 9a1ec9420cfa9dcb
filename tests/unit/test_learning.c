/* learning: the monotone GNN model trained on simulator windows of the Nexmark-shaped and
 * random layered families learns the simulator's capacities. Trained with a fixed seed on one
 * set of jobs, on held-out jobs of the same families (other seeds) it must reach ROC AUC
 * >= 0.95 on the labels, and its closed-form minimal parallelism must be within +-1 of the
 * simulator's oracle for >= 90 % of the operators (issue 4, "Learning"). The figures reached
 * are printed, overall and per family. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "head.h"
#include "sim.h"
#include "nn.h"
#include "train.h"

/* Data sizes: a few seconds in Release, about twice that under ASan/UBSan (the matrix
 * products run in OpenBLAS, uninstrumented), so both builds use the same data. */
#define LEARN_TRAIN_JOBS 200u
#define LEARN_TEST_JOBS 60u
#define LEARN_WIDTH 16u
#define LEARN_LAYERS 2u
#define LEARN_TAU 0.5 /* P(bottleneck) = 1/2 is where capacity meets the rate */

/* Copies a simulator training set into the trainer's form (graph index = job index). */
static void to_train_set(const stn_sim_dataset *ds, stn_train_set *s)
{
	stn_errbuf eb;
	stn__train_set_init(s);
	for (size_t j = 0; j < ds->n_jobs; j++) {
		size_t gi;
		assert_int_equal(stn__train_set_add_graph(s, &ds->jobs[j].dag, &gi, &eb), STN_OK);
		assert_int_equal(gi, j);
	}
	for (size_t i = 0; i < ds->n_windows; i++) {
		const stn_sim_ds_window *w = &ds->windows[i];
		assert_int_equal(stn__train_set_add_sample(s, w->job, w->lambda, w->p, w->label, &eb),
				 STN_OK);
	}
}

typedef struct scored {
	double score;
	int label;
} scored;

static int by_score(const void *a, const void *b)
{
	double x = ((const scored *)a)->score, y = ((const scored *)b)->score;
	return x < y ? -1 : x > y ? 1 : 0;
}

/* ROC AUC by the rank-sum (Mann-Whitney) formula, tied scores sharing their mean rank.
 * Sorts v. NaN if a class is missing. */
static double roc_auc(scored *v, size_t n)
{
	double rank_sum = 0.0, n_pos = 0.0, n_neg = 0.0;
	qsort(v, n, sizeof(*v), by_score);
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j < n && v[j].score == v[i].score)
			j++;
		double mean_rank = (double)(i + 1 + j) / 2.0; /* ranks i+1..j */
		for (size_t k = i; k < j; k++) {
			if (v[k].label) {
				rank_sum += mean_rank;
				n_pos += 1.0;
			} else {
				n_neg += 1.0;
			}
		}
		i = j;
	}
	if (n_pos == 0.0 || n_neg == 0.0)
		return NAN;
	return (rank_sum - n_pos * (n_pos + 1.0) / 2.0) / (n_pos * n_neg);
}

/* Figures of one group of held-out jobs. */
typedef struct figures {
	scored *obs;
	size_t n_obs, cap_obs;
	size_t ops, within, exact, multi, multi_within;
} figures;

static void figures_add_obs(figures *f, double score, int label)
{
	assert_true(f->n_obs < f->cap_obs);
	f->obs[f->n_obs].score = score;
	f->obs[f->n_obs].label = label;
	f->n_obs++;
}

static void figures_add_op(figures *f, uint32_t pred, uint32_t oracle)
{
	bool ok = pred + 1 >= oracle && pred <= oracle + 1;
	f->ops++;
	f->within += ok;
	f->exact += pred == oracle;
	if (oracle >= 2) {
		f->multi++;
		f->multi_within += ok;
	}
}

static double figures_print(figures *f, const char *what)
{
	double auc = roc_auc(f->obs, f->n_obs);
	print_message("  %-8s ROC AUC %.4f over %zu labels; p* within +-1 of the oracle for "
		      "%.1f %% of %zu operators (exact %.1f %%; of the %zu needing >= 2 "
		      "instances: %.1f %%)\n",
		      what, auc, f->n_obs, 100.0 * (double)f->within / (double)f->ops, f->ops,
		      100.0 * (double)f->exact / (double)f->ops, f->multi,
		      f->multi ? 100.0 * (double)f->multi_within / (double)f->multi : 0.0);
	return auc;
}

/* The logit-adjusted loss that training minimises: its value is the cross-entropy at
 * u + offset, and its gradient (head parameters and embedding) matches finite differences. */
static void test_adjusted_loss_gradient(void **state)
{
	(void)state;
	stn_errbuf eb;
	stn_net n;
	stn_net_config cfg = {1, 6, STN_GNN_FEAT_DIM};
	stn_rng r;
	assert_int_equal(stn__net_init(&n, &cfg, &eb), STN_OK);
	stn__net_init_random(&n, 3);
	stn__rng_seed(&r, 9);
	size_t H = cfg.width, nh = n.n_params - n.head_offset;
	double z[6], gz[6], *g = stn__calloc(nh, sizeof(double));
	assert_non_null(g);
	for (int trial = 0; trial < 20; trial++) {
		for (size_t j = 0; j < H; j++)
			z[j] = stn__rng_uniform(&r);
		stn_head_out ho;
		stn__head_eval(&n, z, 0.0, &ho);
		double ll = ho.log_c + 2.0 * (stn__rng_uniform(&r) - 0.5) + 1.0;
		double p = (double)(1 + stn__rng_below(&r, 8)), off = 3.0 * stn__rng_normal(&r);
		int y = trial % 2;
		double wt = 0.5 + stn__rng_uniform(&r);
		memset(g, 0, nh * sizeof(double));
		memset(gz, 0, sizeof(gz));
		double loss = stn__head_loss_backward_adj(&n, z, 0.0, ll, p, y, wt, off, g, gz, NULL);
		double u = stn__head_logit(&ho, ll, p) + off;
		double expect = wt * (log1p(exp(-fabs(u))) + fmax(u, 0.0) - (double)y * u);
		assert_true(fabs(loss - expect) <= 1e-9 * (1.0 + fabs(expect)));
		/* Offset 0 is the plain loss. */
		assert_true(stn__head_loss_backward_adj(&n, z, 0.0, ll, p, y, wt, 0.0, NULL, NULL,
							NULL) ==
			    stn__head_loss_backward(&n, z, 0.0, ll, p, y, wt, NULL, NULL, NULL));
		const double h = 1e-6;
		for (size_t k = 0; k < nh + H; k++) {
			double *x = k < nh ? &n.w[n.head_offset + k] : &z[k - nh], keep = *x;
			*x = keep + h;
			double lp = stn__head_loss_backward_adj(&n, z, 0.0, ll, p, y, wt, off, NULL,
								NULL, NULL);
			*x = keep - h;
			double lm = stn__head_loss_backward_adj(&n, z, 0.0, ll, p, y, wt, off, NULL,
								NULL, NULL);
			*x = keep;
			double num = (lp - lm) / (2.0 * h), ana = k < nh ? g[k] : gz[k - nh];
			assert_true(fabs(num - ana) <= 1e-5 * (1.0 + fabs(num)));
		}
	}
	stn__free(g);
	stn__net_fini(&n);
}

static void test_learns_sim_capacities(void **state)
{
	(void)state;
	stn_errbuf eb;
	stn_sim_family fams[2] = {STN_SIM_NEXMARK, STN_SIM_RANDOM};
	stn_sim_dataset_opts o = {.families = fams,
				  .n_families = 2,
				  .n_jobs = LEARN_TRAIN_JOBS,
				  .configs_per_job = 6,
				  .windows_per_config = 4,
				  .seed = 4101};
	stn_sim_dataset train_ds, test_ds;
	assert_int_equal(stn__sim_dataset_generate(&train_ds, &o, &eb), STN_OK);
	o.n_jobs = LEARN_TEST_JOBS;
	o.seed = 4202;
	assert_int_equal(stn__sim_dataset_generate(&test_ds, &o, &eb), STN_OK);
	/* Held out means other jobs: no job seed of the test set occurs in the training set. */
	for (size_t i = 0; i < test_ds.n_jobs; i++)
		for (size_t j = 0; j < train_ds.n_jobs; j++)
			assert_true(test_ds.jobs[i].seed != train_ds.jobs[j].seed);
	print_message("  train: %zu jobs, %zu windows (labels: %zu bottleneck, %zu ok, %zu none)\n",
		      train_ds.n_jobs, train_ds.n_windows, train_ds.n_bottleneck, train_ds.n_ok,
		      train_ds.n_none);
	print_message("  held-out: %zu jobs, %zu windows (labels: %zu bottleneck, %zu ok)\n",
		      test_ds.n_jobs, test_ds.n_windows, test_ds.n_bottleneck, test_ds.n_ok);

	stn_train_set tr;
	to_train_set(&train_ds, &tr);
	stn_net net;
	stn_net_config cfg = {LEARN_LAYERS, LEARN_WIDTH, STN_GNN_FEAT_DIM};
	stn_train_opts to;
	stn_train_report rep;
	assert_int_equal(stn__net_init(&net, &cfg, &eb), STN_OK);
	stn__net_init_random(&net, 17);
	stn__train_opts_default(&to);
	to.seed = 23;
	assert_int_equal(stn__train_fit(&net, &tr, &to, &rep, &eb), STN_OK);
	print_message("  fit: %u epochs, %zu train / %zu validation windows, best validation loss "
		      "%.4f, %.1f s\n",
		      (unsigned)rep.epochs, rep.n_train, rep.n_val, rep.best_val_loss, rep.seconds);

	/* Held-out: every labelled operator-window scored by P(bottleneck) at its parallelism
	 * and rate; every operator's p* at the nominal rates against the oracle at factor 1. */
	size_t cap = test_ds.n_bottleneck + test_ds.n_ok;
	figures all = {0}, fam[2] = {{0}};
	all.obs = stn__malloc_array(cap ? cap : 1, sizeof(scored));
	fam[0].obs = stn__malloc_array(cap ? cap : 1, sizeof(scored));
	fam[1].obs = stn__malloc_array(cap ? cap : 1, sizeof(scored));
	assert_non_null(all.obs);
	assert_non_null(fam[0].obs);
	assert_non_null(fam[1].obs);
	all.cap_obs = fam[0].cap_obs = fam[1].cap_obs = cap;
	size_t max_ops = 1;
	for (size_t j = 0; j < test_ds.n_jobs; j++)
		if (test_ds.jobs[j].dag.n_ops > max_ops)
			max_ops = test_ds.jobs[j].dag.n_ops;
	double *z = stn__malloc_array(max_ops * LEARN_WIDTH, sizeof(double));
	double *rate = stn__malloc_array(max_ops, sizeof(double));
	stn_head_out *ho = stn__malloc_array(max_ops, sizeof(stn_head_out));
	assert_non_null(z);
	assert_non_null(rate);
	assert_non_null(ho);
	size_t next_window = 0; /* windows are stored job after job */
	for (size_t j = 0; j < test_ds.n_jobs; j++) {
		const stn_sim_ds_job *job = &test_ds.jobs[j];
		const stn_dag *d = &job->dag;
		figures *f = &fam[job->family == STN_SIM_RANDOM ? 1 : 0];
		assert_int_equal(stn__train_embed(&net, d, z, &eb), STN_OK);
		assert_int_equal(stn__dag_propagate_rates(d, rate, NULL), STN_OK);
		for (size_t v = 0; v < d->n_ops; v++) {
			stn__head_eval(&net, z + v * LEARN_WIDTH, 0.0, &ho[v]);
			uint32_t pred = stn__head_min_parallelism(&ho[v], log(rate[v]), LEARN_TAU,
								  d->ops[v].p_max);
			figures_add_op(&all, pred, job->oracle[v]);
			figures_add_op(f, pred, job->oracle[v]);
		}
		for (; next_window < test_ds.n_windows && test_ds.windows[next_window].job == j;
		     next_window++) {
			const stn_sim_ds_window *w = &test_ds.windows[next_window];
			for (size_t v = 0; v < d->n_ops; v++) {
				if (w->label[v] != STN_LABEL_BOTTLENECK && w->label[v] != STN_LABEL_OK)
					continue;
				double pb = stn__head_prob(&ho[v], log(w->lambda[v]), (double)w->p[v]);
				int y = w->label[v] == STN_LABEL_BOTTLENECK;
				figures_add_obs(&all, pb, y);
				figures_add_obs(f, pb, y);
			}
		}
	}
	assert_int_equal(next_window, test_ds.n_windows);
	assert_int_equal(all.n_obs, cap);
	figures_print(&fam[0], "nexmark");
	figures_print(&fam[1], "random");
	double auc = figures_print(&all, "all");
	double frac = (double)all.within / (double)all.ops;
	assert_true(auc >= 0.95);
	assert_true(frac >= 0.90);
	/* Not in the issue: most operators need a single instance, so also hold the model to
	 * the others (the +-15 % capacity factor alone caps this near 95 %). */
	assert_true(all.multi_within * 4 >= all.multi * 3);

	stn__free(z);
	stn__free(rate);
	stn__free(ho);
	stn__free(all.obs);
	stn__free(fam[0].obs);
	stn__free(fam[1].obs);
	stn__net_fini(&net);
	stn__train_set_fini(&tr);
	stn__sim_dataset_fini(&train_ds);
	stn__sim_dataset_fini(&test_ds);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_adjusted_loss_gradient),
		cmocka_unit_test(test_learns_sim_capacities),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
