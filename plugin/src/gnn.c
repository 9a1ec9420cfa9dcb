/* gnn: features, parameter layout and the message-passing encoder (forward and backward). */
#include "gnn.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "lanes.h"

stn_status stn__net_config_check(const stn_net_config *cfg, stn_errbuf *eb)
{
	if (cfg->layers < 1 || cfg->layers > STN_GNN_MAX_LAYERS)
		return stn__fail(eb, STN_EINVAL, "encoder layers %u outside 1..%u",
				 (unsigned)cfg->layers, STN_GNN_MAX_LAYERS);
	if (cfg->width < 1 || cfg->width > STN_GNN_MAX_WIDTH)
		return stn__fail(eb, STN_EINVAL, "encoder width %u outside 1..%u",
				 (unsigned)cfg->width, STN_GNN_MAX_WIDTH);
	if (cfg->feat_dim != STN_GNN_FEAT_DIM)
		return stn__fail(eb, STN_EMODEL, "feature dimension %u, this build uses %u",
				 (unsigned)cfg->feat_dim, STN_GNN_FEAT_DIM);
	return STN_OK;
}

static void layout(stn_net *n)
{
	size_t off = 0, in = n->cfg.feat_dim, h = n->cfg.width, t = 0;
	static const char *const part[3] = {"self", "in", "out"};

	for (uint32_t l = 0; l < n->cfg.layers; l++) {
		for (int k = 0; k < 3; k++) {
			stn_param_tensor *pt = &n->tensors[t++];
			snprintf(pt->name, sizeof(pt->name), "enc%u.w_%s", (unsigned)l, part[k]);
			pt->offset = off;
			pt->rows = h;
			pt->cols = in;
			off += h * in;
		}
		stn_param_tensor *pb = &n->tensors[t++];
		snprintf(pb->name, sizeof(pb->name), "enc%u.b", (unsigned)l);
		pb->offset = off;
		pb->rows = h;
		pb->cols = 1;
		off += h;
		in = h;
	}
	n->head_offset = off;
	stn_param_tensor *hw = &n->tensors[t++];
	snprintf(hw->name, sizeof(hw->name), "head.w");
	hw->offset = off;
	hw->rows = STN_HEAD_OUTPUTS;
	hw->cols = h;
	off += STN_HEAD_OUTPUTS * h;
	stn_param_tensor *hb = &n->tensors[t++];
	snprintf(hb->name, sizeof(hb->name), "head.b");
	hb->offset = off;
	hb->rows = STN_HEAD_OUTPUTS;
	hb->cols = 1;
	off += STN_HEAD_OUTPUTS;
	n->n_tensors = t;
	n->n_params = off;
}

size_t stn__net_param_count(const stn_net_config *cfg)
{
	stn_net tmp;
	memset(&tmp, 0, sizeof(tmp));
	tmp.cfg = *cfg;
	layout(&tmp);
	return tmp.n_params;
}

stn_status stn__net_init(stn_net *n, const stn_net_config *cfg, stn_errbuf *eb)
{
	memset(n, 0, sizeof(*n));
	stn_status st = stn__net_config_check(cfg, eb);
	if (st != STN_OK)
		return st;
	n->cfg = *cfg;
	layout(n);
	n->w = stn__calloc(n->n_params, sizeof(double));
	n->g = stn__calloc(n->n_params, sizeof(double));
	if (n->w == NULL || n->g == NULL) {
		stn__net_fini(n);
		return stn__fail(eb, STN_ENOMEM, "network of %zu parameters", n->n_params);
	}
	return STN_OK;
}

void stn__net_fini(stn_net *n)
{
	stn__free(n->w);
	stn__free(n->g);
	n->w = NULL;
	n->g = NULL;
}

void stn__net_init_random(stn_net *n, uint64_t seed)
{
	stn_rng r;
	stn__rng_seed(&r, seed);
	memset(n->w, 0, n->n_params * sizeof(double));
	for (size_t t = 0; t < n->n_tensors; t++) {
		const stn_param_tensor *pt = &n->tensors[t];
		if (pt->cols > 1 || strstr(pt->name, ".w") != NULL)
			stn__nn_init_glorot(n->w + pt->offset, pt->rows, pt->cols, &r);
	}
	/* Head bias: start near capacity e^5 per instance, alpha ~ 0.8, sharpness ~ 2. */
	double *hb = n->w + n->head_offset + STN_HEAD_OUTPUTS * n->cfg.width;
	hb[0] = 5.0;
	hb[1] = 1.0;
	hb[2] = 2.0;
}

stn_status stn__net_copy(stn_net *dst, const stn_net *src)
{
	stn_errbuf eb;
	stn_status st = stn__net_init(dst, &src->cfg, &eb);
	if (st != STN_OK)
		return st;
	memcpy(dst->w, src->w, src->n_params * sizeof(double));
	return STN_OK;
}

void stn__net_zero_grad(stn_net *n)
{
	memset(n->g, 0, n->n_params * sizeof(double));
}

stn_status stn__gnn_features(const stn_dag *d, double *x, double *log_rate)
{
	size_t n = d->n_ops;
	double *rate = stn__malloc_array(n ? n : 1, sizeof(double));
	double *in_cnt = stn__calloc(n ? n : 1, sizeof(double));
	double *out_cnt = stn__calloc(n ? n : 1, sizeof(double));
	stn_status st = STN_ENOMEM;

	if (rate == NULL || in_cnt == NULL || out_cnt == NULL)
		goto cleanup_bufs;
	st = stn__dag_propagate_rates(d, rate, NULL);
	if (st != STN_OK)
		goto cleanup_bufs;
	memset(x, 0, n * STN_GNN_FEAT_DIM * sizeof(double));
	for (size_t e = 0; e < d->n_edges; e++) {
		in_cnt[d->edges[e].to] += 1.0;
		out_cnt[d->edges[e].from] += 1.0;
	}
	for (size_t v = 0; v < n; v++) {
		const stn_op *op = &d->ops[v];
		double *row = x + v * STN_GNN_FEAT_DIM;
		double r = rate[v] > 0.0 ? rate[v] : 0.0;
		if ((unsigned)op->kind < STN_KIND_COUNT)
			row[STN_GNN_FEAT_KIND + (unsigned)op->kind] = 1.0;
		row[STN_GNN_FEAT_RATE] = log1p(r) / 10.0;
		row[STN_GNN_FEAT_SEL] = log(op->selectivity);
		row[STN_GNN_FEAT_STATEFUL] = op->stateful ? 1.0 : 0.0;
		row[STN_GNN_FEAT_SOURCE] = in_cnt[v] == 0.0 ? 1.0 : 0.0;
		row[STN_GNN_FEAT_SINK] = out_cnt[v] == 0.0 ? 1.0 : 0.0;
		if (log_rate != NULL)
			log_rate[v] = log(r > 1e-9 ? r : 1e-9);
	}
	for (size_t e = 0; e < d->n_edges; e++) {
		const stn_edge *ed = &d->edges[e];
		if ((unsigned)ed->part < STN_PART_COUNT)
			x[ed->to * STN_GNN_FEAT_DIM + STN_GNN_FEAT_PART + (unsigned)ed->part] +=
				1.0 / in_cnt[ed->to];
	}
	st = STN_OK;
cleanup_bufs:
	stn__free(rate);
	stn__free(in_cnt);
	stn__free(out_cnt);
	return st;
}

void stn__gnn_batch_fini(stn_gnn_batch *b)
{
	stn__free(b->x);
	stn__free(b->src);
	stn__free(b->dst);
	stn__free(b->inv_in);
	stn__free(b->inv_out);
	stn__free(b->inc_start);
	stn__free(b->inc_node);
	stn__free(b->inc_is_out);
	stn__free(b->graph_start);
	stn__free(b->log_rate);
	memset(b, 0, sizeof(*b));
}

/* Grows the batch's arrays to hold nodes, edges and graphs; a serving loop that rebuilds the
 * batch of the same graph allocates nothing. */
static stn_status batch_reserve(stn_gnn_batch *b, size_t nodes, size_t edges, size_t graphs)
{
	if (b->x != NULL && nodes <= b->cap_nodes && edges <= b->cap_edges &&
	    graphs <= b->cap_graphs)
		return STN_OK;
	stn__gnn_batch_fini(b);
	size_t nn = nodes ? nodes : 1, ne = edges ? edges : 1;
	b->x = stn__malloc_array(nn * STN_GNN_FEAT_DIM, sizeof(double));
	b->src = stn__malloc_array(ne, sizeof(uint32_t));
	b->dst = stn__malloc_array(ne, sizeof(uint32_t));
	b->inv_in = stn__malloc_array(nn, sizeof(double));
	b->inv_out = stn__malloc_array(nn, sizeof(double));
	b->inc_start = stn__malloc_array(nn + 1, sizeof(size_t));
	b->inc_node = stn__malloc_array(2 * ne, sizeof(uint32_t));
	b->inc_is_out = stn__malloc_array(2 * ne, sizeof(uint8_t));
	b->graph_start = stn__malloc_array(graphs + 1, sizeof(size_t));
	b->log_rate = stn__malloc_array(nn, sizeof(double));
	if (b->x == NULL || b->src == NULL || b->dst == NULL || b->inv_in == NULL ||
	    b->inv_out == NULL || b->inc_start == NULL || b->inc_node == NULL ||
	    b->inc_is_out == NULL || b->graph_start == NULL || b->log_rate == NULL) {
		stn__gnn_batch_fini(b);
		return STN_ENOMEM;
	}
	b->cap_nodes = nn;
	b->cap_edges = ne;
	b->cap_graphs = graphs;
	return STN_OK;
}

/* The incidence lists from the edges, in edge order; inc_start is already set. */
static void incidence_fill(stn_gnn_batch *b, size_t nodes, size_t edges)
{
	size_t *next = b->inc_start + 1; /* fill position per node, shifted by one */
	for (size_t v = nodes; v-- > 0;)
		next[v] = b->inc_start[v];
	for (size_t e = 0; e < edges; e++) {
		uint32_t u = b->src[e], v = b->dst[e];
		b->inc_node[next[v]] = u;
		b->inc_is_out[next[v]++] = 0;
		b->inc_node[next[u]] = v;
		b->inc_is_out[next[u]++] = 1;
	}
}

stn_status stn__gnn_batch_build(stn_gnn_batch *b, const stn_dag *const *graphs, size_t n,
				stn_errbuf *eb)
{
	size_t nodes = 0, edges = 0, xs;
	stn_status st;

	for (size_t i = 0; i < n; i++) {
		if (stn__add_overflow(nodes, graphs[i]->n_ops, &nodes) ||
		    stn__add_overflow(edges, graphs[i]->n_edges, &edges))
			return stn__fail(eb, STN_ETOOBIG, "batch too large");
	}
	if (nodes > UINT32_MAX || stn__mul_overflow(nodes, STN_GNN_FEAT_DIM, &xs) ||
	    edges > SIZE_MAX / (2 * sizeof(uint32_t)) ||
	    n >= SIZE_MAX / sizeof(size_t))
		return stn__fail(eb, STN_ETOOBIG, "batch of %zu nodes too large", nodes);
	if (batch_reserve(b, nodes, edges, n) != STN_OK)
		return stn__fail(eb, STN_ENOMEM, "batch of %zu nodes", nodes);
	memset(b->inv_in, 0, (nodes ? nodes : 1) * sizeof(double));
	memset(b->inv_out, 0, (nodes ? nodes : 1) * sizeof(double));
	size_t base = 0, e = 0;
	for (size_t i = 0; i < n; i++) {
		const stn_dag *d = graphs[i];
		b->graph_start[i] = base;
		st = stn__gnn_features(d, b->x + base * STN_GNN_FEAT_DIM, b->log_rate + base);
		if (st != STN_OK) {
			stn__fail(eb, st, "features of graph %zu", i);
			goto undo_batch;
		}
		for (size_t k = 0; k < d->n_edges; k++, e++) {
			b->src[e] = (uint32_t)(base + d->edges[k].from);
			b->dst[e] = (uint32_t)(base + d->edges[k].to);
			b->inv_in[b->dst[e]] += 1.0;
			b->inv_out[b->src[e]] += 1.0;
		}
		base += d->n_ops;
	}
	b->graph_start[n] = base;
	/* Degrees are still counts here: they size the incidence lists. */
	b->inc_start[0] = 0;
	for (size_t v = 0; v < nodes; v++)
		b->inc_start[v + 1] = b->inc_start[v] + (size_t)b->inv_in[v] + (size_t)b->inv_out[v];
	for (size_t v = 0; v < nodes; v++) {
		b->inv_in[v] = b->inv_in[v] > 0.0 ? 1.0 / b->inv_in[v] : 0.0;
		b->inv_out[v] = b->inv_out[v] > 0.0 ? 1.0 / b->inv_out[v] : 0.0;
	}
	incidence_fill(b, nodes, edges);
	b->n_nodes = nodes;
	b->n_edges = edges;
	b->n_graphs = n;
	return STN_OK;
undo_batch:
	stn__gnn_batch_fini(b);
	return st;
}

void stn__gnn_cache_fini(stn_gnn_cache *c)
{
	for (unsigned l = 0; l < STN_GNN_MAX_LAYERS; l++)
		stn__free(c->h[l + 1]);
	stn__free(c->proj);
	stn__free(c->wt);
	stn__free(c->dh);
	stn__free(c->dh_next);
	stn__free(c->dproj);
	memset(c, 0, sizeof(*c));
}

static stn_status cache_reserve(stn_gnn_cache *c, const stn_net *n, size_t nodes)
{
	if (c->cap_nodes >= nodes && c->layers == n->cfg.layers && c->width == n->cfg.width &&
	    c->feat_dim == n->cfg.feat_dim && c->dh != NULL)
		return STN_OK;
	stn__gnn_cache_fini(c);
	size_t nn = nodes ? nodes : 1, dmax = n->cfg.width > n->cfg.feat_dim ? n->cfg.width
									      : n->cfg.feat_dim;
	size_t big, hsz, psz;
	if (stn__mul_overflow(nn, dmax, &big) || stn__mul_overflow(nn, n->cfg.width, &hsz) ||
	    stn__mul_overflow(hsz, 3, &psz))
		return STN_ETOOBIG;
	for (uint32_t l = 0; l < n->cfg.layers; l++) {
		c->h[l + 1] = stn__malloc_array(hsz, sizeof(double));
		if (c->h[l + 1] == NULL)
			goto undo_cache;
	}
	c->proj = stn__malloc_array(psz, sizeof(double));
	c->wt = stn__malloc_array(dmax * 3 * n->cfg.width, sizeof(double));
	c->dh = stn__malloc_array(big, sizeof(double));
	c->dh_next = stn__malloc_array(big, sizeof(double));
	c->dproj = stn__malloc_array(psz, sizeof(double));
	if (c->proj == NULL || c->wt == NULL || c->dh == NULL || c->dh_next == NULL ||
	    c->dproj == NULL)
		goto undo_cache;
	c->cap_nodes = nn;
	c->layers = n->cfg.layers;
	c->width = n->cfg.width;
	c->feat_dim = n->cfg.feat_dim;
	return STN_OK;
undo_cache:
	stn__gnn_cache_fini(c);
	return STN_ENOMEM;
}

/* P = x W^T (N x H3) from wt = W^T (din x H3), each entry summed over k in order from 0 as the
 * reference product sums it. Terms whose x is zero are left out: for finite weights that changes
 * no bit, and it is most of them (the features' one-hot kind and partitioning and flags, the
 * hidden layers' ReLU zeros). */
__attribute__((target_clones("avx512f", "avx2", "default"))) static void
project_rows(const double *x, size_t N, size_t din, const double *wt, size_t H3, double *P)
{
	uint32_t nz_k[STN_GNN_MAX_WIDTH > STN_GNN_FEAT_DIM ? STN_GNN_MAX_WIDTH : STN_GNN_FEAT_DIM];
	double nz_x[sizeof(nz_k) / sizeof(nz_k[0])];
	for (size_t v = 0; v < N; v++) {
		size_t nz = 0;
		for (size_t k = 0; k < din; k++)
			if (x[v * din + k] != 0.0) {
				nz_k[nz] = (uint32_t)k;
				nz_x[nz++] = x[v * din + k];
			}
		double *row = P + v * H3;
		size_t j0 = 0;
		for (; j0 + LANE_BLOCK <= H3; j0 += LANE_BLOCK) {
			lane_block acc;
			lane_zero(&acc);
			for (size_t t = 0; t < nz; t++)
				lane_axpy(&acc, nz_x[t], wt + nz_k[t] * H3 + j0);
			lane_store(&acc, row + j0);
		}
		for (; j0 < H3; j0++) {
			double acc = 0.0;
			for (size_t t = 0; t < nz; t++)
				acc += nz_x[t] * wt[nz_k[t] * H3 + j0];
			row[j0] = acc;
		}
	}
}

/* out = relu(bias + P_self + mean_in(P_in) + mean_out(P_out)) for one layer, from the
 * projection P (n_nodes x 3H: self, in, out blocks). Each node sums its incident edges' terms in
 * edge order into registers. NaN and -0 become +0. */
__attribute__((target_clones("avx512f", "avx2", "default"))) static void
combine_projections(const stn_gnn_batch *b, const double *P, const double *bias, size_t H,
		    double *out)
{
	size_t H3 = 3 * H;
	for (size_t v = 0; v < b->n_nodes; v++) {
		size_t first = b->inc_start[v], end = b->inc_start[v + 1];
		double s_in = b->inv_in[v], s_out = b->inv_out[v];
		const double *self = P + v * H3;
		double *o = out + v * H;
		size_t j0 = 0;
		for (; j0 + LANE_BLOCK <= H; j0 += LANE_BLOCK) {
			lane_block acc, term;
			lane_load(&acc, bias + j0);
			lane_load(&term, self + j0);
			for (int i = 0; i < 4; i++)
				acc.r[i] += term.r[i];
			for (size_t t = first; t < end; t++) {
				bool is_out = b->inc_is_out[t];
				lane_axpy(&acc, is_out ? s_out : s_in,
					  P + (size_t)b->inc_node[t] * H3 + (is_out ? 2 * H : H) + j0);
			}
			lane_relu(&acc);
			lane_store(&acc, o + j0);
		}
		for (; j0 < H; j0++) {
			double acc = bias[j0] + self[j0];
			for (size_t t = first; t < end; t++) {
				bool is_out = b->inc_is_out[t];
				acc += (is_out ? s_out : s_in) *
				       P[(size_t)b->inc_node[t] * H3 + (is_out ? 2 * H : H) + j0];
			}
			o[j0] = acc > 0.0 ? acc : 0.0;
		}
	}
}

stn_status stn__gnn_forward(const stn_net *n, const stn_gnn_batch *b, stn_gnn_cache *c)
{
	stn_status st = cache_reserve(c, n, b->n_nodes);
	if (st != STN_OK)
		return st;
	size_t N = b->n_nodes, H = n->cfg.width, H3 = 3 * H, din = n->cfg.feat_dim;
	const double *hin = b->x;
	double *P = c->proj;
	for (uint32_t l = 0; l < n->cfg.layers; l++) {
		const stn_param_tensor *ts = &n->tensors[4 * l];
		const double *w = n->w + ts[0].offset, *bias = n->w + ts[3].offset;
		double *out = c->h[l + 1];
		for (size_t j = 0; j < H3; j++)
			for (size_t k = 0; k < din; k++)
				c->wt[k * H3 + j] = w[j * din + k];
		project_rows(hin, N, din, c->wt, H3, P);
		combine_projections(b, P, bias, H, out);
		hin = out;
		din = H;
	}
	return STN_OK;
}

stn_status stn__gnn_backward(stn_net *n, const stn_gnn_batch *b, stn_gnn_cache *c,
			     const double *dz)
{
	size_t N = b->n_nodes, H = n->cfg.width, H3 = 3 * H;
	double *dh = c->dh, *dP = c->dproj;
	memcpy(dh, dz, N * H * sizeof(double));
	for (uint32_t li = n->cfg.layers; li-- > 0;) {
		const stn_param_tensor *ts = &n->tensors[4 * li];
		size_t din = li == 0 ? n->cfg.feat_dim : H;
		const double *hin = li == 0 ? b->x : c->h[li];
		const double *out = c->h[li + 1];
		double *gw = n->g + ts[0].offset, *gb = n->g + ts[3].offset;
		/* dP: the self block is the pre-activation gradient; the in and out blocks gather
		 * it back along the edges the forward pass scattered P over. */
		memset(dP, 0, N * H3 * sizeof(double));
		for (size_t v = 0; v < N; v++)
			for (size_t j = 0; j < H; j++) {
				double g = out[v * H + j] > 0.0 ? dh[v * H + j] : 0.0;
				dP[v * H3 + j] = g;
				gb[j] += g;
			}
		for (size_t e = 0; e < b->n_edges; e++) {
			uint32_t u = b->src[e], v = b->dst[e];
			double si = b->inv_in[v], so = b->inv_out[u];
			const double *gv = dP + v * H3, *gu = dP + u * H3;
			double *din_u = dP + u * H3 + H, *dout_v = dP + v * H3 + 2 * H;
			for (size_t j = 0; j < H; j++) {
				din_u[j] += si * gv[j];
				dout_v[j] += so * gu[j];
			}
		}
		stn__nn_gemm(true, false, H3, din, N, 1.0, dP, H3, hin, din, 1.0, gw, din);
		if (li == 0)
			break;
		const double *w = n->w + ts[0].offset;
		stn__nn_gemm(false, false, N, din, H3, 1.0, dP, H3, w, din, 0.0, c->dh_next, din);
		memcpy(dh, c->dh_next, N * din * sizeof(double));
	}
	return STN_OK;
}
