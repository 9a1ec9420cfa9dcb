/* train: determinism for a seed, fine-tuning of head and delta, and learning: trained on
 * windows of random layered jobs whose truth follows the head's formula (c p^alpha against
 * lambda with noise), on held-out jobs the model reaches ROC AUC >= 0.95 and its minimal
 * parallelism is within +-1 of the oracle for >= 90 % of operators. */
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
#include "model_testlib.h"
#include "train.h"

/* Windows of one job: rates put the oracle in 1..~20, parallelism random in 1..24, labels
 * from the truth with log-normal noise, some windows unlabelled. */
static void add_job(stn_train_set *s, stn_rng *r, size_t n_ops, size_t windows)
{
	stn_dag d;
	stn_errbuf eb;
	size_t gi;
	tl_random_dag(&d, n_ops, r);
	assert_int_equal(stn__train_set_add_graph(s, &d, &gi, &eb), STN_OK);
	double lam[64];
	uint32_t p[64];
	int8_t lab[64];
	for (size_t w = 0; w < windows; w++) {
		for (size_t v = 0; v < d.n_ops; v++) {
			double lc, al;
			tl_truth(&d.ops[v], &lc, &al);
			double q = exp(log(0.7) + (log(20.0) - log(0.7)) * stn__rng_uniform(r));
			lam[v] = exp(lc + al * log(q));
			p[v] = (uint32_t)(1 + stn__rng_below(r, 24));
			double cap = lc + al * log((double)p[v]) + 0.05 * stn__rng_normal(r);
			lab[v] = log(lam[v]) > cap ? 1 : 0;
			if (stn__rng_below(r, 5) == 0)
				lab[v] = -1;
		}
		assert_int_equal(stn__train_set_add_sample(s, gi, lam, p, lab, &eb), STN_OK);
	}
	stn__dag_fini(&d);
}

static double roc_auc(const double *score, const int8_t *y, size_t n)
{
	/* Mann-Whitney: fraction of (pos, neg) pairs ranked correctly, ties half. O(n^2) is
	 * fine at test sizes. */
	double good = 0.0, pairs = 0.0;
	for (size_t i = 0; i < n; i++) {
		if (y[i] != 1)
			continue;
		for (size_t j = 0; j < n; j++) {
			if (y[j] != 0)
				continue;
			pairs += 1.0;
			good += score[i] > score[j] ? 1.0 : score[i] == score[j] ? 0.5 : 0.0;
		}
	}
	return pairs > 0 ? good / pairs : 0.0;
}

static void test_deterministic(void **state)
{
	(void)state;
	stn_train_set s;
	stn_rng r;
	stn_errbuf eb;
	stn_net a, b;
	stn_train_opts o;
	stn_train_report ra, rb;
	stn_net_config cfg = {2, 8, STN_GNN_FEAT_DIM};
	stn__train_set_init(&s);
	stn__rng_seed(&r, 1);
	for (int j = 0; j < 6; j++)
		add_job(&s, &r, 4 + (size_t)j, 6);
	stn__train_opts_default(&o);
	o.max_epochs = 5;
	o.seed = 77;
	assert_int_equal(stn__net_init(&a, &cfg, &eb), STN_OK);
	assert_int_equal(stn__net_init(&b, &cfg, &eb), STN_OK);
	stn__net_init_random(&a, 3);
	stn__net_init_random(&b, 3);
	double *w0 = stn__malloc_array(a.n_params, sizeof(double));
	assert_non_null(w0);
	memcpy(w0, a.w, a.n_params * sizeof(double));
	assert_int_equal(stn__train_fit(&a, &s, &o, &ra, &eb), STN_OK);
	assert_int_equal(stn__train_fit(&b, &s, &o, &rb, &eb), STN_OK);
	assert_memory_equal(a.w, b.w, a.n_params * sizeof(double));
	assert_memory_not_equal(a.w, w0, a.n_params * sizeof(double));
	assert_true(ra.best_val_loss == rb.best_val_loss);
	/* Another seed gives another result. */
	stn__net_init_random(&b, 3);
	o.seed = 78;
	assert_int_equal(stn__train_fit(&b, &s, &o, &rb, &eb), STN_OK);
	assert_memory_not_equal(a.w, b.w, a.n_params * sizeof(double));
	stn__free(w0);
	stn__net_fini(&a);
	stn__net_fini(&b);
	stn__train_set_fini(&s);
}

static void test_rejects_bad_samples(void **state)
{
	(void)state;
	stn_train_set s;
	stn_rng r;
	stn_dag d;
	stn_errbuf eb;
	size_t gi;
	stn__train_set_init(&s);
	stn__rng_seed(&r, 2);
	tl_random_dag(&d, 3, &r);
	assert_int_equal(stn__train_set_add_graph(&s, &d, &gi, &eb), STN_OK);
	double lam[3] = {1, 1, NAN};
	uint32_t p[3] = {1, 1, 1};
	int8_t lab[3] = {0, 1, -1};
	assert_int_equal(stn__train_set_add_sample(&s, gi, lam, p, lab, &eb), STN_EVALUE);
	lam[2] = 1;
	p[1] = 0;
	assert_int_equal(stn__train_set_add_sample(&s, gi, lam, p, lab, &eb), STN_EVALUE);
	p[1] = 1;
	lab[0] = 3;
	assert_int_equal(stn__train_set_add_sample(&s, gi, lam, p, lab, &eb), STN_EVALUE);
	lab[0] = 0;
	assert_int_equal(stn__train_set_add_sample(&s, 5, lam, p, lab, &eb), STN_EINVAL);
	assert_int_equal(stn__train_set_add_sample(&s, gi, lam, p, lab, &eb), STN_OK);
	stn__dag_fini(&d);
	stn__train_set_fini(&s);
}

static void test_learns_and_finetunes(void **state)
{
	(void)state;
	stn_train_set tr, te;
	stn_rng r;
	stn_errbuf eb;
	stn_net n;
	stn_train_opts o;
	stn_train_report rep;
	stn_net_config cfg = {2, 16, STN_GNN_FEAT_DIM};

	stn__train_set_init(&tr);
	stn__train_set_init(&te);
	stn__rng_seed(&r, 31);
	for (int j = 0; j < 200; j++)
		add_job(&tr, &r, 3 + stn__rng_below(&r, 14), 20);
	for (int j = 0; j < 12; j++)
		add_job(&te, &r, 3 + stn__rng_below(&r, 14), 8);
	stn__train_opts_default(&o);
	o.lr = 3e-3;
	o.batch = 4;
	o.max_epochs = 800;
	o.patience = 80;
	o.seed = 5;
	assert_int_equal(stn__net_init(&n, &cfg, &eb), STN_OK);
	stn__net_init_random(&n, 6);
	assert_int_equal(stn__train_fit(&n, &tr, &o, &rep, &eb), STN_OK);

	/* Held-out jobs: AUC over labelled operator-windows, p* against the oracle. */
	size_t cap = te.n_samples * 20, k = 0, within = 0, total = 0;
	double *score = stn__malloc_array(cap, sizeof(double));
	int8_t *y = stn__malloc_array(cap, sizeof(int8_t));
	double z[20 * 16];
	assert_non_null(score);
	assert_non_null(y);
	for (size_t i = 0; i < te.n_samples; i++) {
		const stn_train_sample *x = &te.samples[i];
		const stn_dag *d = &te.graphs[x->graph];
		assert_int_equal(stn__train_embed(&n, d, z, &eb), STN_OK);
		for (size_t v = 0; v < d->n_ops; v++) {
			stn_head_out ho;
			double lc, al, ll = log(x->lambda[v]);
			stn__head_eval(&n, z + v * 16, 0.0, &ho);
			if (x->label[v] >= 0 && k < cap) {
				score[k] = stn__head_prob(&ho, ll, (double)x->p[v]);
				y[k++] = x->label[v];
			}
			tl_truth(&d->ops[v], &lc, &al);
			uint32_t oracle = tl_oracle(ll, lc, al, 64);
			uint32_t pred = stn__head_min_parallelism(&ho, ll, 0.5, 64);
			within += (pred + 1 >= oracle && pred <= oracle + 1);
			total++;
		}
	}
	double auc = roc_auc(score, y, k);
	double frac = (double)within / (double)total;
	printf("  trained: %u epochs, %zu train / %zu val windows, best val loss %.4f, %.2f s\n",
	       (unsigned)rep.epochs, rep.n_train, rep.n_val, rep.best_val_loss, rep.seconds);
	printf("  held-out: ROC AUC %.4f over %zu labels; p* within +-1 of oracle %.1f %% of %zu\n",
	       auc, k, 100.0 * frac, total);
	assert_true(auc >= 0.95);
	assert_true(frac >= 0.90);

	/* Fine-tuning on one job whose operators are all 30 % slower than the family: delta moves
	 * down and the job's loss drops. */
	stn_train_set job;
	size_t gi, idx[8];
	stn__train_set_init(&job);
	const stn_dag *d = &te.graphs[0];
	assert_int_equal(stn__train_set_add_graph(&job, d, &gi, &eb), STN_OK);
	for (int w = 0; w < 8; w++) {
		double lam[64];
		uint32_t p[64];
		int8_t lab[64];
		for (size_t v = 0; v < d->n_ops; v++) {
			double lc, al;
			tl_truth(&d->ops[v], &lc, &al);
			lc += log(0.7);
			p[v] = (uint32_t)(1 + stn__rng_below(&r, 12));
			lam[v] = exp(lc + al * log((double)p[v]) + 0.4 * stn__rng_normal(&r));
			lab[v] = log(lam[v]) > lc + al * log((double)p[v]) ? 1 : 0;
		}
		assert_int_equal(stn__train_set_add_sample(&job, gi, lam, p, lab, &eb), STN_OK);
		idx[w] = (size_t)w;
	}
	double before, after, delta[64] = {0}, z0[20 * 16];
	stn_net orig;
	assert_int_equal(stn__net_copy(&orig, &n), STN_OK);
	assert_int_equal(stn__train_embed(&orig, d, z0, &eb), STN_OK);
	assert_int_equal(stn__train_loss(&n, &job, NULL, 0, 1.0, 1.0, &before, &eb), STN_OK);
	assert_int_equal(stn__train_finetune(&n, &job, idx, 8, delta, 60, 0.02, 1e-3, &eb),
			 STN_OK);
	/* The encoder is untouched; the job's loss and capacities are evaluated with delta. */
	double sum = 0.0, shift = 0.0;
	size_t cnt = 0;
	assert_int_equal(stn__train_embed(&n, d, z, &eb), STN_OK);
	assert_memory_equal(z, z0, d->n_ops * 16 * sizeof(double));
	assert_memory_equal(n.w, orig.w, n.head_offset * sizeof(double));
	for (size_t i = 0; i < job.n_samples; i++)
		for (size_t v = 0; v < d->n_ops; v++) {
			const stn_train_sample *x = &job.samples[i];
			sum += stn__head_loss_backward(&n, z + v * 16, delta[v], log(x->lambda[v]),
						       (double)x->p[v], x->label[v], 1.0, NULL, NULL,
						       NULL);
			cnt++;
		}
	after = sum / (double)cnt;
	for (size_t v = 0; v < d->n_ops; v++) {
		stn_head_out hb, ha;
		stn__head_eval(&orig, z0 + v * 16, 0.0, &hb);
		stn__head_eval(&n, z + v * 16, delta[v], &ha);
		shift += (ha.log_c - hb.log_c) / (double)d->n_ops;
	}
	printf("  fine-tune: job loss %.4f -> %.4f, mean log-capacity shift %.3f (truth %.3f)\n",
	       before, after, shift, log(0.7));
	assert_true(after < 0.5 * before);
	assert_true(shift < -0.05);
	stn__net_fini(&orig);
	stn__train_set_fini(&job);
	stn__free(score);
	stn__free(y);
	stn__net_fini(&n);
	stn__train_set_fini(&tr);
	stn__train_set_fini(&te);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_deterministic),
		cmocka_unit_test(test_rejects_bad_samples),
		cmocka_unit_test(test_learns_and_finetunes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
