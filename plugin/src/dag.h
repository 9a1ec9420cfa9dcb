/* dag: a job's operator graph: kinds, edges with partitioning, topological order, rates, hash. */
#ifndef STN_DAG_H
#define STN_DAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

/* Limits, checked on every graph built from outside. */
#define STN_DAG_MAX_OPS 1024u
#define STN_DAG_MAX_EDGES 4096u
#define STN_DAG_NAME_CAP 64u   /* operator name, including NUL */
#define STN_DAG_MAX_PARALLELISM 4096u

/* Operator kinds: the node labels of GED and the one-hot input of the encoder.
 * X(NAME, wire name). Append only: the index is stored in model files. */
#define STN_OP_KIND_MAP(X)      \
	X(SOURCE, "source")     \
	X(MAP, "map")           \
	X(FILTER, "filter")     \
	X(FLAT_MAP, "flat_map") \
	X(EXCHANGE, "exchange") \
	X(WINDOW, "window")     \
	X(JOIN, "join")         \
	X(AGGREGATE, "aggregate") \
	X(SINK, "sink")         \
	X(OTHER, "other")

typedef enum stn_op_kind {
#define STN_OP_KIND_ENUM(name, wire) STN_KIND_##name,
	STN_OP_KIND_MAP(STN_OP_KIND_ENUM)
#undef STN_OP_KIND_ENUM
	STN_KIND_COUNT
} stn_op_kind;

/* Edge partitioning: the edge labels of GED. Append only. */
#define STN_PART_MAP(X)            \
	X(FORWARD, "forward")      \
	X(HASH, "hash")            \
	X(BROADCAST, "broadcast")  \
	X(REBALANCE, "rebalance")

typedef enum stn_partitioning {
#define STN_PART_ENUM(name, wire) STN_PART_##name,
	STN_PART_MAP(STN_PART_ENUM)
#undef STN_PART_ENUM
	STN_PART_COUNT
} stn_partitioning;

typedef struct stn_op {
	uint32_t id;                    /* the engine's operator id, unique in the job */
	char name[STN_DAG_NAME_CAP];    /* human-readable, may be empty */
	stn_op_kind kind;
	bool stateful;
	double selectivity;             /* records out per record in; > 0 */
	double source_rate;             /* sources: target records/s; others: 0 */
	uint32_t parallelism;           /* current, 1..p_max */
	uint32_t p_max;                 /* largest allowed, >= 1 */
} stn_op;

typedef struct stn_edge {
	uint32_t from; /* index into ops, not id */
	uint32_t to;
	stn_partitioning part;
} stn_edge;

typedef struct stn_dag {
	stn_op *ops;
	size_t n_ops, cap_ops;
	stn_edge *edges;
	size_t n_edges, cap_edges;
} stn_dag;

/* Zero-filled storage is a valid empty graph; fini releases it (safe on a half-built one). */
void stn__dag_init(stn_dag *d);
void stn__dag_fini(stn_dag *d);

/* Deep copy into dst (initialised or zero-filled; previous contents released). */
stn_status stn__dag_copy(stn_dag *dst, const stn_dag *src);

/* Appends an operator (copied). Rejects duplicate ids and more than STN_DAG_MAX_OPS. */
stn_status stn__dag_add_op(stn_dag *d, const stn_op *op, stn_errbuf *eb);

/* Appends an edge between operator indices. Rejects bad indices, self loops, duplicates. */
stn_status stn__dag_add_edge(stn_dag *d, uint32_t from, uint32_t to, stn_partitioning part,
			     stn_errbuf *eb);

/* Index of the operator with this id, or -1. */
long stn__dag_find(const stn_dag *d, uint32_t id);

/* Checks limits, values (selectivity > 0 and finite, 1 <= p <= p_max), and acyclicity
 * (STN_ECYCLE). A graph passing this is safe for every other module. */
stn_status stn__dag_validate(const stn_dag *d, stn_errbuf *eb);

/* Topological order of operator indices into order[n_ops] (caller-provided).
 * STN_ECYCLE if there is a cycle. Ties broken by index, so the order is deterministic. */
stn_status stn__dag_topo_order(const stn_dag *d, uint32_t *order);

/* Target input rate of every operator (records/s) from the source rates and selectivities:
 * rate_in[v] = sum over edges u->v of rate_out[u], rate_out[v] = selectivity * rate_in[v];
 * sources take source_rate as input. out_in and out_out have n_ops entries (out_out may be
 * NULL). Graph must be valid. */
stn_status stn__dag_propagate_rates(const stn_dag *d, double *out_in, double *out_out);

/* The same with a selectivity per operator in place of the graph's, such as the ones a window
 * observed (out / in): the targets of operators behind a reduction the graph does not know. */
stn_status stn__dag_propagate_observed(const stn_dag *d, const double *selectivity,
				       double *out_in);

/* Content hash of the structure: ids, names, kinds, stateful flags, selectivities, edges and
 * partitioning in the order given; not rates, parallelism or p_max, which change at run time.
 * Identifies a DAG version in the history. FNV-1a 64. */
uint64_t stn__dag_hash(const stn_dag *d);

/* Names for kinds and partitionings; NULL for out-of-range values. */
const char *stn__op_kind_name(stn_op_kind k);
const char *stn__part_name(stn_partitioning p);
/* Parses a wire name; STN_ENOTFOUND if unknown. */
stn_status stn__op_kind_parse(const char *s, size_t len, stn_op_kind *out);
stn_status stn__part_parse(const char *s, size_t len, stn_partitioning *out);

/* Number of incoming / outgoing edges of operator index v. */
size_t stn__dag_in_degree(const stn_dag *d, uint32_t v);
size_t stn__dag_out_degree(const stn_dag *d, uint32_t v);

#endif
