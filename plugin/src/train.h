/* train: labelled windows, class-weighted BCE, Adam over mini-batches of whole graphs, early
 * stopping on a validation split (deterministic for a seed), and online fine-tuning of the
 * head and the per-operator offsets delta. */
#ifndef STN_TRAIN_H
#define STN_TRAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dag.h"
#include "gnn.h"
#include "status.h"

/* One window of one job: per operator the observed/target input rate lambda (records/s), the
 * parallelism p and the label (1 bottleneck, 0 not, -1 none). Arrays have the graph's n_ops. */
typedef struct stn_train_sample {
	size_t graph; /* index into the set's graphs */
	double *lambda;
	uint32_t *p;
	int8_t *label;
} stn_train_sample;

typedef struct stn_train_set {
	stn_dag *graphs;
	size_t n_graphs, cap_graphs;
	stn_train_sample *samples;
	size_t n_samples, cap_samples;
} stn_train_set;

void stn__train_set_init(stn_train_set *s);
void stn__train_set_fini(stn_train_set *s);
/* Copies a valid graph in; *index receives its index. */
stn_status stn__train_set_add_graph(stn_train_set *s, const stn_dag *d, size_t *index,
				    stn_errbuf *eb);
/* Copies one window in (lambda > 0 finite, 1 <= p, label in {-1,0,1}). */
stn_status stn__train_set_add_sample(stn_train_set *s, size_t graph, const double *lambda,
				     const uint32_t *p, const int8_t *label, stn_errbuf *eb);

typedef struct stn_train_opts {
	uint32_t max_epochs;   /* default 60 */
	uint32_t batch;        /* windows per mini-batch, default 16 */
	double lr;             /* default 3e-3 */
	double val_fraction;   /* default 0.2 */
	uint32_t patience;     /* epochs without validation improvement, default 8 */
	uint64_t seed;
	bool centre_capacity;  /* before the first epoch, move the head's log-capacity bias to
				* the data (mean log-odds 0); for a freshly initialised network.
				* default true */
} stn_train_opts;

void stn__train_opts_default(stn_train_opts *o);

typedef struct stn_train_report {
	uint32_t epochs;
	double best_val_loss, final_train_loss;
	size_t n_train, n_val; /* windows */
	double pos_weight, neg_weight;
	double seconds;
} stn_train_report;

/* Trains n (already initialised; use stn__net_init_random first) in place; keeps the
 * parameters of the best validation epoch. The loss is binary cross-entropy with class
 * weights that give each class half the total weight, with the logit adjusted by
 * log(pos_w / neg_w) (head.h), so the trained head's P(bottleneck) is not skewed towards the
 * rarer class and p* at tau = 1/2 is where the predicted capacity meets the rate. */
stn_status stn__train_fit(stn_net *n, const stn_train_set *s, const stn_train_opts *o,
			  stn_train_report *rep, stn_errbuf *eb);

/* Weighted mean loss over the given samples (all if idx NULL) with class weights pos_w and
 * neg_w and the logit adjusted by log(pos_w / neg_w), as stn__train_fit minimises it
 * (1 and 1: the plain mean cross-entropy). */
stn_status stn__train_loss(const stn_net *n, const stn_train_set *s, const size_t *idx,
			   size_t n_idx, double pos_w, double neg_w, double *loss, stn_errbuf *eb);

/* Embeddings of one graph: z (n_ops x width, caller-allocated). */
stn_status stn__train_embed(const stn_net *n, const stn_dag *d, double *z, stn_errbuf *eb);

/* Online fine-tuning for one job: `steps` Adam steps on the head parameters and delta
 * (n_ops of graph) only, over the samples idx (all of the same graph), with L2 weight l2 on
 * delta. Encoder unchanged. */
stn_status stn__train_finetune(stn_net *n, const stn_train_set *s, const size_t *idx,
			       size_t n_idx, double *delta, uint32_t steps, double lr, double l2,
			       stn_errbuf *eb);

#endif
