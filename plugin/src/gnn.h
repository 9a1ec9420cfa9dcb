/* gnn: node features of an operator graph, the parameter vector of encoder + head, and the
 * two-direction message-passing encoder with its hand-written backward pass, batched over
 * several graphs (concatenated into one block-diagonal node set). */
#ifndef STN_GNN_H
#define STN_GNN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dag.h"
#include "nn.h"
#include "status.h"

/* Feature layout per node: one-hot kind, log1p(target input rate)/10, log(selectivity),
 * stateful, source, sink, fraction of incoming edges per partitioning. No parallelism. */
#define STN_GNN_FEAT_KIND 0u
#define STN_GNN_FEAT_RATE ((unsigned)STN_KIND_COUNT)
#define STN_GNN_FEAT_SEL (STN_GNN_FEAT_RATE + 1u)
#define STN_GNN_FEAT_STATEFUL (STN_GNN_FEAT_RATE + 2u)
#define STN_GNN_FEAT_SOURCE (STN_GNN_FEAT_RATE + 3u)
#define STN_GNN_FEAT_SINK (STN_GNN_FEAT_RATE + 4u)
#define STN_GNN_FEAT_PART (STN_GNN_FEAT_RATE + 5u)
#define STN_GNN_FEAT_DIM (STN_GNN_FEAT_PART + (unsigned)STN_PART_COUNT)

#define STN_GNN_MAX_LAYERS 8u
#define STN_GNN_MAX_WIDTH 512u
#define STN_HEAD_OUTPUTS 3u /* raw log-capacity, raw alpha, raw sharpness */

typedef struct stn_net_config {
	uint32_t layers;   /* encoder layers, 1..STN_GNN_MAX_LAYERS */
	uint32_t width;    /* hidden width H, 1..STN_GNN_MAX_WIDTH */
	uint32_t feat_dim; /* STN_GNN_FEAT_DIM for this build */
} stn_net_config;

/* One named parameter tensor inside the flat vector. */
typedef struct stn_param_tensor {
	char name[24];
	size_t offset, rows, cols;
} stn_param_tensor;

#define STN_NET_MAX_TENSORS (4u * STN_GNN_MAX_LAYERS + 2u)

/* Encoder layers l = 0..L-1: W_self, W_in, W_out (H x d_l) and b (H); then the head:
 * W_head (3 x H) and b_head (3). */
typedef struct stn_net {
	stn_net_config cfg;
	size_t n_params;
	double *w;  /* parameters */
	double *g;  /* gradient accumulator, same layout */
	size_t n_tensors;
	stn_param_tensor tensors[STN_NET_MAX_TENSORS];
	size_t head_offset; /* offset of W_head */
} stn_net;

stn_status stn__net_config_check(const stn_net_config *cfg, stn_errbuf *eb);
/* Number of parameters of a (checked) configuration. */
size_t stn__net_param_count(const stn_net_config *cfg);
/* Allocates w and g (zeroed); then stn__net_init_random for a fresh network. */
stn_status stn__net_init(stn_net *n, const stn_net_config *cfg, stn_errbuf *eb);
void stn__net_fini(stn_net *n);
void stn__net_init_random(stn_net *n, uint64_t seed);
stn_status stn__net_copy(stn_net *dst, const stn_net *src);
void stn__net_zero_grad(stn_net *n);

/* A batch of graphs flattened into one node set. */
typedef struct stn_gnn_batch {
	size_t n_nodes, n_edges, n_graphs;
	double *x;          /* n_nodes x feat_dim */
	uint32_t *src, *dst; /* edges, global node indices */
	double *inv_in, *inv_out; /* 1/in-degree, 1/out-degree (0 if none) */
	/* Every node's incident edges in edge order (the order the encoder sums them in):
	 * node v's are inc_node/inc_is_out[inc_start[v] .. inc_start[v + 1]), the neighbour and
	 * whether v is the edge's source. */
	size_t *inc_start;
	uint32_t *inc_node;
	uint8_t *inc_is_out;
	size_t *graph_start; /* n_graphs + 1 */
	double *log_rate;   /* log of the target input rate per node (for the head) */
	size_t cap_nodes, cap_edges, cap_graphs; /* what the arrays hold */
} stn_gnn_batch;

/* Node features of one graph into x (n_ops x STN_GNN_FEAT_DIM) and log target rates into
 * log_rate (may be NULL). The graph must be valid. */
stn_status stn__gnn_features(const stn_dag *d, double *x, double *log_rate);

/* Builds a batch from graphs[0..n), reusing the arrays of a prior build where they are large
 * enough. On failure the batch is left empty. */
stn_status stn__gnn_batch_build(stn_gnn_batch *b, const stn_dag *const *graphs, size_t n,
				stn_errbuf *eb);
void stn__gnn_batch_fini(stn_gnn_batch *b);

/* Activations kept for the backward pass. A layer computes
 *   h' = relu(b + W_self h + W_in mean_in(h) + W_out mean_out(h))
 * as one product P = h [W_self; W_in; W_out]^T (the three tensors are contiguous) followed by
 * the neighbour means of P's in and out blocks: the means commute with the linear maps, and
 * one gemm of width 3H replaces three plus their aggregations of the wider inputs. */
typedef struct stn_gnn_cache {
	size_t cap_nodes;
	uint32_t layers, width, feat_dim;
	double *h[STN_GNN_MAX_LAYERS + 1]; /* h[0] = x copy pointer not owned; h[l+1] outputs */
	double *proj;                      /* P of the current layer, n_nodes x 3H */
	double *wt;                        /* the layer's [W_self;W_in;W_out] transposed */
	double *dh, *dh_next, *dproj;      /* backward scratch */
} stn_gnn_cache;

void stn__gnn_cache_fini(stn_gnn_cache *c);

/* Forward: fills the cache; the embeddings are c->h[layers] (n_nodes x width). */
stn_status stn__gnn_forward(const stn_net *n, const stn_gnn_batch *b, stn_gnn_cache *c);

/* Backward: dz (n_nodes x width) is the loss gradient w.r.t. the embeddings; accumulates into
 * n->g. dz is not modified. */
stn_status stn__gnn_backward(stn_net *n, const stn_gnn_batch *b, stn_gnn_cache *c,
			     const double *dz);

#endif
