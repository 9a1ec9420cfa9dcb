/* ged: graph edit distance between two job DAGs, with the edit path that realises it.
 *
 * Node label = operator kind, edge label = partitioning; edges are directed. Unit costs:
 * inserting or deleting a node costs 1, substituting a node by one of another kind costs 1
 * (same kind: 0); inserting or deleting an edge costs 1, relabelling an edge's partitioning
 * costs 1. An edit path is a node mapping: every operator of g1 is either substituted by one of
 * g2 (each used once) or deleted, the rest of g2 is inserted, and the edge operations follow
 * from the mapping. The raw distance is the cheapest path's cost, an integer. It is a metric on
 * labelled graphs (symmetric, zero exactly for isomorphic graphs, triangle inequality).
 *
 * The normalised distance is raw / (|V1| + |V2| + |E1| + |E2|), in [0, 1] (0 when both graphs
 * are empty), so that thresholds do not depend on size. Deleting all of g1 and inserting all
 * of g2 costs exactly that denominator, so 1 means "nothing in common".
 *
 * Exact: depth-first branch and bound over node mappings (each g1 node in turn is mapped to
 * an unused g2 node or deleted), children cheapest first, started from the approximate path
 * as the incumbent. Two admissible lower bounds on the open part prune it: the label-multiset
 * bound (unmapped nodes' kinds, open edges' partitionings) and, at every expanded mapping, an
 * assignment bound (undecided g1 nodes against unused g2 nodes; node cost and the exact cost
 * of edges to decided nodes in full, edges among open nodes half at each end; the dual
 * potentials bound each child). Used when both graphs have at most exact_max_nodes operators.
 * The search counts the partial mappings it expands; when it reaches max_expansions it stops
 * and returns the best path found so far (never worse than the approximation), with
 * exact = false, so it never runs unbounded.
 *
 * Approximate: the bipartite method of Riesen and Bunke. A square cost matrix of size
 * n1 + n2 holds node substitutions (label cost plus the cheapest matching of the incident
 * in-edges and out-edges by partitioning, each edge counted half since it has two ends),
 * deletions and insertions (1 plus half the node's degree) on the diagonals of the off-diagonal
 * blocks; a Hungarian algorithm (O((n1+n2)^3)) solves the assignment. The induced mapping is
 * then improved by a deterministic local search (change one node's target, swapping with the
 * node that held it, while the exact cost drops), and the cost of the final edit path is
 * computed exactly. It is therefore an upper bound on the distance.
 *
 * Everything here is deterministic: no randomness, ties broken by index. Functions are
 * reentrant; the matrix function runs its own threads. */
#ifndef STN_GED_H
#define STN_GED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dag.h"
#include "status.h"

#define STN_GED_DEFAULT_EXACT_MAX_NODES 12u
#define STN_GED_DEFAULT_MAX_EXPANSIONS 200000u
/* The matrix function computes at most this many DAGs (n^2 doubles are the output). */
#define STN_GED_MATRIX_MAX_DAGS 20000u
#define STN_GED_MAX_THREADS 64u

typedef enum stn_ged_method {
	STN_GED_AUTO = 0, /* exact if both graphs have <= exact_max_nodes operators */
	STN_GED_EXACT,    /* exact whatever the size (still bounded by max_expansions) */
	STN_GED_APPROX    /* bipartite approximation only */
} stn_ged_method;

typedef struct stn_ged_opts {
	stn_ged_method method;
	uint32_t exact_max_nodes;   /* AUTO: largest graph searched exactly; 0 takes the default */
	uint64_t max_expansions;    /* exact search budget in partial mappings; 0: the default */
	bool want_path;             /* fill the edit path of the result */
} stn_ged_opts;

/* AUTO, defaults above, with the path. */
stn_ged_opts stn__ged_opts_default(void);

/* Edit operations. Node ops name operator indices, edge ops name edge indices (into ops[] and
 * edges[] of the graphs); UINT32_MAX where a side does not apply. */
typedef enum stn_ged_op_type {
	STN_GED_NODE_SUB = 0, /* a: g1 node, b: g2 node (cost 0 if same kind) */
	STN_GED_NODE_DEL,     /* a: g1 node */
	STN_GED_NODE_INS,     /* b: g2 node */
	STN_GED_EDGE_SUB,     /* a: g1 edge, b: g2 edge, endpoints map onto each other */
	STN_GED_EDGE_DEL,     /* a: g1 edge */
	STN_GED_EDGE_INS      /* b: g2 edge */
} stn_ged_op_type;

typedef struct stn_ged_op {
	stn_ged_op_type type;
	uint32_t a;
	uint32_t b;
	uint32_t cost; /* 0 or 1 */
} stn_ged_op;

typedef struct stn_ged_result {
	uint64_t cost;         /* raw distance (or the approximation's upper bound) */
	double normalised;     /* cost / (|V1|+|V2|+|E1|+|E2|); 0 if both graphs are empty */
	bool exact;            /* the cost is proven minimal */
	uint64_t expansions;   /* partial mappings expanded by the exact search (0 if not run) */
	/* Edit path (want_path): every node of g1 once (SUB or DEL), every node of g2 once (SUB or
	 * INS), every edge of g1 once (SUB or DEL), every edge of g2 once (SUB or INS); node ops
	 * first, in g1 then g2 order, then edge ops. Sum of op costs == cost. Caller owns, release
	 * with stn__ged_result_fini. */
	stn_ged_op *path;
	size_t n_path;
} stn_ged_result;

/* Zero-filled storage is a valid empty result; fini releases the path (safe twice). */
void stn__ged_result_fini(stn_ged_result *r);

/* Distance and edit path from g1 to g2 (both borrowed for the call; they need valid kinds,
 * partitionings and edge indices, not acyclicity). opts may be NULL (defaults). out is
 * overwritten (fini it first if it held a path). STN_ETOOBIG beyond STN_DAG_MAX_OPS operators
 * or STN_DAG_MAX_EDGES edges, STN_EGRAPH for out-of-range labels or edge endpoints,
 * STN_ENOMEM. */
stn_status stn__ged_compute(const stn_dag *g1, const stn_dag *g2, const stn_ged_opts *opts,
			    stn_ged_result *out, stn_errbuf *eb);

/* Label-multiset lower bound on the raw distance (admissible, O(|V| + |E|)). */
uint64_t stn__ged_lower_bound(const stn_dag *g1, const stn_dag *g2);

/* Name of an op type ("substitute node", ...). */
const char *stn__ged_op_name(stn_ged_op_type t);

/* Progress of the matrix computation: pairs done out of total. Called with an internal lock
 * held, from any of the worker threads, at most about 200 times per matrix. */
typedef void (*stn_ged_progress_fn)(void *user, uint64_t done, uint64_t total);

typedef struct stn_ged_matrix_stats {
	uint64_t pairs;        /* n (n - 1) / 2 */
	uint64_t exact_pairs;  /* pairs whose distance is proven exact */
	uint64_t expansions;   /* total over pairs */
} stn_ged_matrix_stats;

/* Distances between all pairs of n DAGs (dags borrowed). norm (n*n, row-major) receives the
 * normalised distances, raw (n*n, may be NULL) the raw ones; the diagonal is 0 and the matrix
 * symmetric (each pair computed once, as g[i] -> g[j] with i < j). Pairs are shared among
 * threads (1..STN_GED_MAX_THREADS; 0 means 2) but each is computed independently, so the output
 * does not depend on the thread count or schedule. opts->want_path is ignored. progress and
 * stats may be NULL. STN_ETOOBIG for more than STN_GED_MATRIX_MAX_DAGS DAGs, otherwise the
 * errors of stn__ged_compute (the first failing pair, in pair order). */
stn_status stn__ged_matrix(const stn_dag *const *dags, size_t n, const stn_ged_opts *opts,
			   unsigned threads, double *norm, uint64_t *raw,
			   stn_ged_progress_fn progress, void *progress_user,
			   stn_ged_matrix_stats *stats, stn_errbuf *eb);

#endif
