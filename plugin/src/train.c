/* train: datasets, full training with early stopping, and online fine-tuning. */
#include "train.h"

#include <math.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "head.h"
#include "nn.h"

void stn__train_set_init(stn_train_set *s)
{
	memset(s, 0, sizeof(*s));
}

void stn__train_set_fini(stn_train_set *s)
{
	for (size_t i = 0; i < s->n_graphs; i++)
		stn__dag_fini(&s->graphs[i]);
	for (size_t i = 0; i < s->n_samples; i++) {
		stn__free(s->samples[i].lambda);
		stn__free(s->samples[i].p);
		stn__free(s->samples[i].label);
	}
	stn__free(s->graphs);
	stn__free(s->samples);
	memset(s, 0, sizeof(*s));
}

stn_status stn__train_set_add_graph(stn_train_set *s, const stn_dag *d, size_t *index,
				    stn_errbuf *eb)
{
	stn_status st = stn__dag_validate(d, eb);
	if (st != STN_OK)
		return st;
	if (s->n_graphs == s->cap_graphs) {
		size_t cap = s->cap_graphs ? 2 * s->cap_graphs : 8;
		stn_dag *g = stn__realloc_array(s->graphs, cap, sizeof(*g));
		if (g == NULL)
			return stn__fail(eb, STN_ENOMEM, "graph list");
		s->graphs = g;
		s->cap_graphs = cap;
	}
	stn_dag *slot = &s->graphs[s->n_graphs];
	stn__dag_init(slot);
	st = stn__dag_copy(slot, d);
	if (st != STN_OK)
		return stn__fail(eb, st, "copying graph");
	*index = s->n_graphs++;
	return STN_OK;
}

stn_status stn__train_set_add_sample(stn_train_set *s, size_t graph, const double *lambda,
				     const uint32_t *p, const int8_t *label, stn_errbuf *eb)
{
	if (graph >= s->n_graphs)
		return stn__fail(eb, STN_EINVAL, "graph index %zu out of range", graph);
	size_t n = s->graphs[graph].n_ops;
	for (size_t v = 0; v < n; v++) {
		if (!(lambda[v] > 0.0) || !isfinite(lambda[v]))
			return stn__fail(eb, STN_EVALUE, "operator %zu: rate %g", v, lambda[v]);
		if (p[v] < 1 || p[v] > STN_DAG_MAX_PARALLELISM)
			return stn__fail(eb, STN_EVALUE, "operator %zu: parallelism %u", v,
					 (unsigned)p[v]);
		if (label[v] < -1 || label[v] > 1)
			return stn__fail(eb, STN_EVALUE, "operator %zu: label %d", v, label[v]);
	}
	if (s->n_samples == s->cap_samples) {
		size_t cap = s->cap_samples ? 2 * s->cap_samples : 64;
		stn_train_sample *g = stn__realloc_array(s->samples, cap, sizeof(*g));
		if (g == NULL)
			return stn__fail(eb, STN_ENOMEM, "sample list");
		s->samples = g;
		s->cap_samples = cap;
	}
	stn_train_sample *x = &s->samples[s->n_samples];
	x->graph = graph;
	x->lambda = stn__malloc_array(n ? n : 1, sizeof(double));
	x->p = stn__malloc_array(n ? n : 1, sizeof(uint32_t));
	x->label = stn__malloc_array(n ? n : 1, sizeof(int8_t));
	if (x->lambda == NULL || x->p == NULL || x->label == NULL) {
		stn__free(x->lambda);
		stn__free(x->p);
		stn__free(x->label);
		return stn__fail(eb, STN_ENOMEM, "sample");
	}
	memcpy(x->lambda, lambda, n * sizeof(double));
	memcpy(x->p, p, n * sizeof(uint32_t));
	memcpy(x->label, label, n * sizeof(int8_t));
	s->n_samples++;
	return STN_OK;
}

void stn__train_opts_default(stn_train_opts *o)
{
	o->max_epochs = 60;
	o->batch = 16;
	o->lr = 3e-3;
	o->val_fraction = 0.2;
	o->patience = 8;
	o->seed = 1;
	o->centre_capacity = true;
}

/* Forward + loss (+ backward when grad) over the samples idx; returns the weighted loss sum
 * and the number of labelled observations. */
static stn_status batch_pass(stn_net *n, const stn_train_set *s, const size_t *idx,
			     size_t n_idx, double pos_w, double neg_w, bool grad, double *loss_sum,
			     size_t *n_obs, stn_gnn_batch *b, stn_gnn_cache *c, stn_errbuf *eb)
{
	const stn_dag **gs = stn__malloc_array(n_idx ? n_idx : 1, sizeof(*gs));
	double *dz = NULL;
	stn_status st = STN_ENOMEM;

	if (gs == NULL)
		return stn__fail(eb, STN_ENOMEM, "batch");
	for (size_t i = 0; i < n_idx; i++)
		gs[i] = &s->graphs[s->samples[idx[i]].graph];
	st = stn__gnn_batch_build(b, gs, n_idx, eb);
	if (st != STN_OK)
		goto cleanup_gs;
	st = stn__gnn_forward(n, b, c);
	if (st != STN_OK) {
		stn__fail(eb, st, "encoder forward");
		goto cleanup_gs;
	}
	size_t H = n->cfg.width;
	const double *z = c->h[n->cfg.layers];
	if (grad) {
		dz = stn__calloc(b->n_nodes ? b->n_nodes * H : 1, sizeof(double));
		if (dz == NULL) {
			st = stn__fail(eb, STN_ENOMEM, "gradient buffer");
			goto cleanup_gs;
		}
	}
	double sum = 0.0;
	size_t cnt = 0;
	/* Logit adjustment for the class weights (head.h): the head stays calibrated. */
	double offset = pos_w > 0.0 && neg_w > 0.0 ? log(pos_w / neg_w) : 0.0;
	for (size_t i = 0; i < n_idx; i++) {
		const stn_train_sample *x = &s->samples[idx[i]];
		size_t base = b->graph_start[i], nv = b->graph_start[i + 1] - base;
		for (size_t v = 0; v < nv; v++) {
			if (x->label[v] < 0)
				continue;
			double wt = x->label[v] ? pos_w : neg_w;
			sum += stn__head_loss_backward_adj(
				n, z + (base + v) * H, 0.0, log(x->lambda[v]), (double)x->p[v],
				x->label[v], wt, offset, grad ? n->g + n->head_offset : NULL,
				grad ? dz + (base + v) * H : NULL, NULL);
			cnt++;
		}
	}
	if (grad && cnt > 0) {
		/* Gradients of the mean. */
		double scale = 1.0 / (double)cnt;
		for (size_t k = n->head_offset; k < n->n_params; k++)
			n->g[k] *= scale;
		for (size_t k = 0; k < b->n_nodes * H; k++)
			dz[k] *= scale;
		st = stn__gnn_backward(n, b, c, dz);
		if (st != STN_OK)
			goto cleanup_gs;
	}
	*loss_sum = sum;
	*n_obs = cnt;
	st = STN_OK;
cleanup_gs:
	stn__free(dz);
	stn__free(gs);
	return st;
}

stn_status stn__train_loss(const stn_net *n, const stn_train_set *s, const size_t *idx,
			   size_t n_idx, double pos_w, double neg_w, double *loss, stn_errbuf *eb)
{
	stn_gnn_batch b;
	stn_gnn_cache c;
	size_t *all = NULL;
	double total = 0.0;
	size_t obs = 0;
	stn_status st = STN_OK;

	memset(&b, 0, sizeof(b));
	memset(&c, 0, sizeof(c));
	if (idx == NULL) {
		all = stn__malloc_array(s->n_samples ? s->n_samples : 1, sizeof(size_t));
		if (all == NULL)
			return stn__fail(eb, STN_ENOMEM, "index");
		for (size_t i = 0; i < s->n_samples; i++)
			all[i] = i;
		idx = all;
		n_idx = s->n_samples;
	}
	for (size_t i = 0; i < n_idx; i += 32) {
		size_t m = n_idx - i < 32 ? n_idx - i : 32, k = 0;
		double l = 0.0;
		/* The network is not modified without grad. */
		st = batch_pass((stn_net *)n, s, idx + i, m, pos_w, neg_w, false, &l, &k, &b, &c,
				eb);
		if (st != STN_OK)
			break;
		total += l;
		obs += k;
	}
	*loss = obs ? total / (double)obs : 0.0;
	stn__gnn_batch_fini(&b);
	stn__gnn_cache_fini(&c);
	stn__free(all);
	return st;
}

/* Moves the head's log-capacity bias so that, over the labelled observations of idx, the
 * mean of log lambda - log c - alpha log p is zero: a fresh network then starts with its
 * capacities in the range of the data instead of e^5, far below most rates. From there every
 * observation would be a confident bottleneck, and the first steps would rather shrink the
 * sharpness towards zero (where its gradient vanishes) than learn capacities. */
static stn_status centre_capacity(stn_net *n, const stn_train_set *s, const size_t *idx,
				  size_t n_idx, stn_gnn_batch *b, stn_gnn_cache *c, stn_errbuf *eb)
{
	const stn_dag **gs = stn__malloc_array(32, sizeof(*gs));
	size_t H = n->cfg.width, cnt = 0;
	double sum = 0.0;
	stn_status st = STN_OK;

	if (gs == NULL)
		return stn__fail(eb, STN_ENOMEM, "batch");
	for (size_t i = 0; i < n_idx && st == STN_OK; i += 32) {
		size_t m = n_idx - i < 32 ? n_idx - i : 32;
		for (size_t k = 0; k < m; k++)
			gs[k] = &s->graphs[s->samples[idx[i + k]].graph];
		st = stn__gnn_batch_build(b, gs, m, eb);
		if (st != STN_OK)
			break;
		st = stn__gnn_forward(n, b, c);
		if (st != STN_OK) {
			stn__fail(eb, st, "encoder forward");
			break;
		}
		const double *z = c->h[n->cfg.layers];
		for (size_t k = 0; k < m; k++) {
			const stn_train_sample *x = &s->samples[idx[i + k]];
			size_t base = b->graph_start[k], nv = b->graph_start[k + 1] - base;
			for (size_t v = 0; v < nv; v++) {
				if (x->label[v] < 0)
					continue;
				stn_head_out ho;
				stn__head_eval(n, z + (base + v) * H, 0.0, &ho);
				sum += log(x->lambda[v]) - ho.log_c - ho.alpha * log((double)x->p[v]);
				cnt++;
			}
		}
	}
	if (st == STN_OK && cnt > 0)
		n->w[n->head_offset + STN_HEAD_OUTPUTS * H] += sum / (double)cnt;
	stn__free(gs);
	return st;
}

stn_status stn__train_fit(stn_net *n, const stn_train_set *s, const stn_train_opts *o,
			  stn_train_report *rep, stn_errbuf *eb)
{
	stn_gnn_batch b;
	stn_gnn_cache c;
	stn_adam adam;
	stn_rng rng;
	size_t *perm = NULL, n_val, n_tr;
	double *best = NULL;
	stn_status st;
	struct timespec t0, t1;

	memset(&b, 0, sizeof(b));
	memset(&c, 0, sizeof(c));
	memset(rep, 0, sizeof(*rep));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (s->n_samples < 2)
		return stn__fail(eb, STN_EINVAL, "need at least 2 windows, have %zu", s->n_samples);
	st = stn__adam_init(&adam, n->n_params, o->lr);
	if (st != STN_OK)
		return stn__fail(eb, st, "optimizer state");
	perm = stn__malloc_array(s->n_samples, sizeof(size_t));
	best = stn__malloc_array(n->n_params, sizeof(double));
	if (perm == NULL || best == NULL) {
		st = stn__fail(eb, STN_ENOMEM, "training buffers");
		goto cleanup_all;
	}
	stn__rng_seed(&rng, o->seed);
	for (size_t i = 0; i < s->n_samples; i++)
		perm[i] = i;
	for (size_t i = s->n_samples; i > 1; i--) {
		size_t j = (size_t)stn__rng_below(&rng, i), t = perm[i - 1];
		perm[i - 1] = perm[j];
		perm[j] = t;
	}
	n_val = (size_t)((double)s->n_samples * o->val_fraction);
	if (n_val < 1)
		n_val = 1;
	n_tr = s->n_samples - n_val;
	/* Class weights over the training part: each class carries half the total weight. */
	size_t npos = 0, nneg = 0;
	for (size_t i = 0; i < n_tr; i++) {
		const stn_train_sample *x = &s->samples[perm[n_val + i]];
		for (size_t v = 0; v < s->graphs[x->graph].n_ops; v++) {
			npos += x->label[v] == 1;
			nneg += x->label[v] == 0;
		}
	}
	double tot = (double)(npos + nneg);
	double pos_w = npos ? tot / (2.0 * (double)npos) : 1.0;
	double neg_w = nneg ? tot / (2.0 * (double)nneg) : 1.0;
	const size_t *val = perm, *tr = perm + n_val;
	size_t *order = perm + n_val; /* reshuffled in place each epoch */
	double best_loss = INFINITY;
	uint32_t since = 0, ep;
	size_t bs = o->batch ? o->batch : 1;
	if (o->centre_capacity) {
		st = centre_capacity(n, s, tr, n_tr, &b, &c, eb);
		if (st != STN_OK)
			goto cleanup_all;
	}
	memcpy(best, n->w, n->n_params * sizeof(double));
	for (ep = 0; ep < o->max_epochs; ep++) {
		for (size_t i = n_tr; i > 1; i--) {
			size_t j = (size_t)stn__rng_below(&rng, i), t = order[i - 1];
			order[i - 1] = order[j];
			order[j] = t;
		}
		double tl = 0.0;
		size_t tobs = 0;
		for (size_t i = 0; i < n_tr; i += bs) {
			size_t m = n_tr - i < bs ? n_tr - i : bs, k = 0;
			double l = 0.0;
			stn__net_zero_grad(n);
			st = batch_pass(n, s, tr + i, m, pos_w, neg_w, true, &l, &k, &b, &c, eb);
			if (st != STN_OK)
				goto cleanup_all;
			if (k > 0)
				stn__adam_step(&adam, n->w, n->g, NULL);
			tl += l;
			tobs += k;
		}
		double vl;
		st = stn__train_loss(n, s, val, n_val, pos_w, neg_w, &vl, eb);
		if (st != STN_OK)
			goto cleanup_all;
		rep->final_train_loss = tobs ? tl / (double)tobs : 0.0;
		if (vl < best_loss - 1e-6) {
			best_loss = vl;
			since = 0;
			memcpy(best, n->w, n->n_params * sizeof(double));
		} else if (++since >= o->patience) {
			ep++;
			break;
		}
	}
	memcpy(n->w, best, n->n_params * sizeof(double));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	rep->epochs = ep;
	rep->best_val_loss = best_loss;
	rep->n_train = n_tr;
	rep->n_val = n_val;
	rep->pos_weight = pos_w;
	rep->neg_weight = neg_w;
	rep->seconds = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
	st = STN_OK;
cleanup_all:
	stn__gnn_batch_fini(&b);
	stn__gnn_cache_fini(&c);
	stn__adam_fini(&adam);
	stn__free(perm);
	stn__free(best);
	return st;
}

stn_status stn__train_embed(const stn_net *n, const stn_dag *d, double *z, stn_errbuf *eb)
{
	stn_gnn_batch b;
	stn_gnn_cache c;
	const stn_dag *g = d;
	memset(&b, 0, sizeof(b));
	memset(&c, 0, sizeof(c));
	stn_status st = stn__gnn_batch_build(&b, &g, 1, eb);
	if (st == STN_OK) {
		st = stn__gnn_forward(n, &b, &c);
		if (st == STN_OK)
			memcpy(z, c.h[n->cfg.layers], d->n_ops * n->cfg.width * sizeof(double));
		else
			stn__fail(eb, st, "encoder forward");
	}
	stn__gnn_batch_fini(&b);
	stn__gnn_cache_fini(&c);
	return st;
}

stn_status stn__train_finetune(stn_net *n, const stn_train_set *s, const size_t *idx,
			       size_t n_idx, double *delta, uint32_t steps, double lr, double l2,
			       stn_errbuf *eb)
{
	if (n_idx == 0)
		return STN_OK;
	size_t gi = s->samples[idx[0]].graph;
	for (size_t i = 0; i < n_idx; i++)
		if (idx[i] >= s->n_samples || s->samples[idx[i]].graph != gi)
			return stn__fail(eb, STN_EINVAL, "fine-tune samples of different jobs");
	const stn_dag *d = &s->graphs[gi];
	size_t nv = d->n_ops, H = n->cfg.width, nh = n->n_params - n->head_offset, np;
	if (stn__add_overflow(nh, nv, &np))
		return stn__fail(eb, STN_ETOOBIG, "fine-tune size");
	double *z = stn__malloc_array(nv ? nv * H : 1, sizeof(double));
	double *theta = stn__malloc_array(np, sizeof(double));
	double *g = stn__malloc_array(np, sizeof(double));
	stn_adam adam;
	stn_status st;

	memset(&adam, 0, sizeof(adam));
	if (z == NULL || theta == NULL || g == NULL) {
		st = stn__fail(eb, STN_ENOMEM, "fine-tune buffers");
		goto cleanup_ft;
	}
	st = stn__train_embed(n, d, z, eb);
	if (st != STN_OK)
		goto cleanup_ft;
	st = stn__adam_init(&adam, np, lr);
	if (st != STN_OK)
		goto cleanup_ft;
	for (uint32_t it = 0; it < steps; it++) {
		memcpy(theta, n->w + n->head_offset, nh * sizeof(double));
		memcpy(theta + nh, delta, nv * sizeof(double));
		memset(g, 0, np * sizeof(double));
		size_t cnt = 0;
		for (size_t i = 0; i < n_idx; i++) {
			const stn_train_sample *x = &s->samples[idx[i]];
			for (size_t v = 0; v < nv; v++) {
				if (x->label[v] < 0)
					continue;
				stn__head_loss_backward(n, z + v * H, delta[v], log(x->lambda[v]),
							(double)x->p[v], x->label[v], 1.0, g, NULL,
							g + nh + v);
				cnt++;
			}
		}
		double scale = cnt ? 1.0 / (double)cnt : 0.0;
		for (size_t k = 0; k < np; k++)
			g[k] *= scale;
		for (size_t v = 0; v < nv; v++)
			g[nh + v] += 2.0 * l2 * delta[v];
		stn__adam_step(&adam, theta, g, NULL);
		memcpy(n->w + n->head_offset, theta, nh * sizeof(double));
		memcpy(delta, theta + nh, nv * sizeof(double));
	}
cleanup_ft:
	stn__adam_fini(&adam);
	stn__free(z);
	stn__free(theta);
	stn__free(g);
	return st;
}
