#include "dag.h"

#include <math.h>
#include <string.h>

#include "alloc.h"

void stn__dag_init(stn_dag *d)
{
	memset(d, 0, sizeof(*d));
}

void stn__dag_fini(stn_dag *d)
{
	if (d == NULL)
		return;
	stn__free(d->ops);
	stn__free(d->edges);
	memset(d, 0, sizeof(*d));
}

stn_status stn__dag_copy(stn_dag *dst, const stn_dag *src)
{
	stn_dag tmp;

	stn__dag_init(&tmp);
	if (src->n_ops > 0) {
		tmp.ops = stn__malloc_array(src->n_ops, sizeof(stn_op));
		if (tmp.ops == NULL)
			return STN_ENOMEM;
		memcpy(tmp.ops, src->ops, src->n_ops * sizeof(stn_op));
		tmp.n_ops = tmp.cap_ops = src->n_ops;
	}
	if (src->n_edges > 0) {
		tmp.edges = stn__malloc_array(src->n_edges, sizeof(stn_edge));
		if (tmp.edges == NULL) {
			stn__dag_fini(&tmp);
			return STN_ENOMEM;
		}
		memcpy(tmp.edges, src->edges, src->n_edges * sizeof(stn_edge));
		tmp.n_edges = tmp.cap_edges = src->n_edges;
	}
	stn__dag_fini(dst);
	*dst = tmp;
	return STN_OK;
}

long stn__dag_find(const stn_dag *d, uint32_t id)
{
	for (size_t i = 0; i < d->n_ops; i++)
		if (d->ops[i].id == id)
			return (long)i;
	return -1;
}

static stn_status grow(void **p, size_t *cap, size_t need, size_t elem)
{
	size_t ncap;
	void *np;

	if (need <= *cap)
		return STN_OK;
	ncap = *cap < 8 ? 8 : *cap * 2;
	while (ncap < need)
		ncap *= 2;
	np = stn__realloc_array(*p, ncap, elem);
	if (np == NULL)
		return STN_ENOMEM;
	*p = np;
	*cap = ncap;
	return STN_OK;
}

stn_status stn__dag_add_op(stn_dag *d, const stn_op *op, stn_errbuf *eb)
{
	void *p = d->ops;
	stn_status rv;

	if (d->n_ops >= STN_DAG_MAX_OPS)
		return stn__fail(eb, STN_ETOOBIG, "graph has more than %u operators", STN_DAG_MAX_OPS);
	if (stn__dag_find(d, op->id) >= 0)
		return stn__fail(eb, STN_EGRAPH, "duplicate operator id %u", op->id);
	rv = grow(&p, &d->cap_ops, d->n_ops + 1, sizeof(stn_op));
	if (rv != STN_OK)
		return stn__fail(eb, rv, "out of memory adding operator");
	d->ops = p;
	d->ops[d->n_ops] = *op;
	d->ops[d->n_ops].name[STN_DAG_NAME_CAP - 1] = '\0';
	d->n_ops++;
	return STN_OK;
}

stn_status stn__dag_add_edge(stn_dag *d, uint32_t from, uint32_t to, stn_partitioning part,
			     stn_errbuf *eb)
{
	void *p = d->edges;
	stn_status rv;

	if (d->n_edges >= STN_DAG_MAX_EDGES)
		return stn__fail(eb, STN_ETOOBIG, "graph has more than %u edges", STN_DAG_MAX_EDGES);
	if (from >= d->n_ops || to >= d->n_ops)
		return stn__fail(eb, STN_EGRAPH, "edge %u->%u names a missing operator", from, to);
	if (from == to)
		return stn__fail(eb, STN_ECYCLE, "edge %u->%u is a self loop", d->ops[from].id,
				 d->ops[to].id);
	if ((unsigned)part >= STN_PART_COUNT)
		return stn__fail(eb, STN_EGRAPH, "edge has unknown partitioning %d", (int)part);
	for (size_t i = 0; i < d->n_edges; i++)
		if (d->edges[i].from == from && d->edges[i].to == to)
			return stn__fail(eb, STN_EGRAPH, "duplicate edge %u->%u", d->ops[from].id,
					 d->ops[to].id);
	rv = grow(&p, &d->cap_edges, d->n_edges + 1, sizeof(stn_edge));
	if (rv != STN_OK)
		return stn__fail(eb, rv, "out of memory adding edge");
	d->edges = p;
	d->edges[d->n_edges].from = from;
	d->edges[d->n_edges].to = to;
	d->edges[d->n_edges].part = part;
	d->n_edges++;
	return STN_OK;
}

size_t stn__dag_in_degree(const stn_dag *d, uint32_t v)
{
	size_t n = 0;

	for (size_t i = 0; i < d->n_edges; i++)
		n += d->edges[i].to == v;
	return n;
}

size_t stn__dag_out_degree(const stn_dag *d, uint32_t v)
{
	size_t n = 0;

	for (size_t i = 0; i < d->n_edges; i++)
		n += d->edges[i].from == v;
	return n;
}

/* Edges grouped by one endpoint, in edge-index order within a group (a stable counting sort),
 * so that sums over a group add in the same order as a scan over all edges would. */
typedef struct edge_groups {
	uint32_t *start; /* n_ops + 1 */
	uint32_t *edge;  /* n_edges edge indices */
} edge_groups;

static void edge_groups_fini(edge_groups *g)
{
	stn__free(g->start);
	stn__free(g->edge);
}

static stn_status edge_groups_build(const stn_dag *d, bool by_target, edge_groups *g)
{
	g->start = stn__calloc(d->n_ops + 1, sizeof(uint32_t));
	g->edge = stn__malloc_array(d->n_edges ? d->n_edges : 1, sizeof(uint32_t));
	if (g->start == NULL || g->edge == NULL) {
		edge_groups_fini(g);
		return STN_ENOMEM;
	}
	for (size_t i = 0; i < d->n_edges; i++)
		g->start[(by_target ? d->edges[i].to : d->edges[i].from) + 1]++;
	for (size_t v = 0; v < d->n_ops; v++)
		g->start[v + 1] += g->start[v];
	for (size_t i = 0; i < d->n_edges; i++) {
		uint32_t v = by_target ? d->edges[i].to : d->edges[i].from;
		g->edge[g->start[v]++] = (uint32_t)i;
	}
	/* The fill advanced every start to the next group's start; shift back. */
	for (size_t v = d->n_ops; v > 0; v--)
		g->start[v] = g->start[v - 1];
	g->start[0] = 0;
	return STN_OK;
}

static void heap_push(uint32_t *heap, size_t *n, uint32_t v)
{
	size_t i = (*n)++;
	while (i > 0 && heap[(i - 1) / 2] > v) {
		heap[i] = heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	heap[i] = v;
}

static uint32_t heap_pop(uint32_t *heap, size_t *n)
{
	uint32_t top = heap[0], last = heap[--*n];
	size_t i = 0;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= *n)
			break;
		if (c + 1 < *n && heap[c + 1] < heap[c])
			c++;
		if (heap[c] >= last)
			break;
		heap[i] = heap[c];
		i = c;
	}
	if (*n > 0)
		heap[i] = last;
	return top;
}

stn_status stn__dag_topo_order(const stn_dag *d, uint32_t *order)
{
	size_t done = 0, ready_n = 0;
	edge_groups out = {NULL, NULL};

	if (d->n_ops == 0)
		return STN_OK;
	uint32_t *indeg = stn__calloc(d->n_ops, sizeof(uint32_t));
	uint32_t *ready = stn__malloc_array(d->n_ops, sizeof(uint32_t));
	if (indeg == NULL || ready == NULL || edge_groups_build(d, false, &out) != STN_OK) {
		stn__free(indeg);
		stn__free(ready);
		return STN_ENOMEM;
	}
	for (size_t i = 0; i < d->n_edges; i++)
		indeg[d->edges[i].to]++;
	/* Kahn's algorithm taking the smallest ready index each step: deterministic. */
	for (uint32_t v = 0; v < d->n_ops; v++)
		if (indeg[v] == 0)
			heap_push(ready, &ready_n, v);
	while (ready_n > 0) {
		uint32_t v = heap_pop(ready, &ready_n);
		order[done++] = v;
		for (uint32_t k = out.start[v]; k < out.start[v + 1]; k++) {
			uint32_t w = d->edges[out.edge[k]].to;
			if (--indeg[w] == 0)
				heap_push(ready, &ready_n, w);
		}
	}
	stn__free(indeg);
	stn__free(ready);
	edge_groups_fini(&out);
	return done == d->n_ops ? STN_OK : STN_ECYCLE;
}

stn_status stn__dag_validate(const stn_dag *d, stn_errbuf *eb)
{
	uint32_t *order;
	stn_status rv;

	if (d->n_ops == 0)
		return stn__fail(eb, STN_EGRAPH, "graph has no operators");
	if (d->n_ops > STN_DAG_MAX_OPS)
		return stn__fail(eb, STN_ETOOBIG, "graph has %zu operators, limit %u", d->n_ops,
				 STN_DAG_MAX_OPS);
	for (size_t i = 0; i < d->n_ops; i++) {
		const stn_op *op = &d->ops[i];

		if ((unsigned)op->kind >= STN_KIND_COUNT)
			return stn__fail(eb, STN_EGRAPH, "operator %u has an unknown kind", op->id);
		if (!isfinite(op->selectivity) || op->selectivity <= 0.0)
			return stn__fail(eb, STN_EVALUE, "operator %u: selectivity must be > 0",
					 op->id);
		if (!isfinite(op->source_rate) || op->source_rate < 0.0)
			return stn__fail(eb, STN_EVALUE, "operator %u: source rate must be >= 0",
					 op->id);
		if (op->p_max < 1 || op->p_max > STN_DAG_MAX_PARALLELISM)
			return stn__fail(eb, STN_EVALUE, "operator %u: p_max %u outside 1..%u", op->id,
					 op->p_max, STN_DAG_MAX_PARALLELISM);
		if (op->parallelism < 1 || op->parallelism > op->p_max)
			return stn__fail(eb, STN_EVALUE, "operator %u: parallelism %u outside 1..%u",
					 op->id, op->parallelism, op->p_max);
	}
	order = stn__malloc_array(d->n_ops, sizeof(uint32_t));
	if (order == NULL)
		return stn__fail(eb, STN_ENOMEM, "out of memory validating graph");
	rv = stn__dag_topo_order(d, order);
	stn__free(order);
	if (rv == STN_ECYCLE)
		return stn__fail(eb, STN_ECYCLE, "operator graph has a cycle");
	if (rv != STN_OK)
		return stn__fail(eb, rv, "cannot order graph");
	return STN_OK;
}

static stn_status propagate(const stn_dag *d, const double *selectivity, double *out_in,
			    double *out_out);

stn_status stn__dag_propagate_rates(const stn_dag *d, double *out_in, double *out_out)
{
	return propagate(d, NULL, out_in, out_out);
}

stn_status stn__dag_propagate_observed(const stn_dag *d, const double *selectivity,
				       double *out_in)
{
	return propagate(d, selectivity, out_in, NULL);
}

static stn_status propagate(const stn_dag *d, const double *selectivity, double *out_in,
			    double *out_out)
{
	uint32_t *order;
	double *rout;
	stn_status rv;

	edge_groups in_edges = {NULL, NULL};

	order = stn__malloc_array(d->n_ops, sizeof(uint32_t));
	rout = stn__calloc(d->n_ops, sizeof(double));
	if (order == NULL || rout == NULL || edge_groups_build(d, true, &in_edges) != STN_OK) {
		rv = STN_ENOMEM;
		goto out;
	}
	rv = stn__dag_topo_order(d, order);
	if (rv != STN_OK)
		goto out;
	for (size_t k = 0; k < d->n_ops; k++) {
		uint32_t v = order[k];
		double in = d->ops[v].source_rate;

		for (uint32_t j = in_edges.start[v]; j < in_edges.start[v + 1]; j++)
			in += rout[d->edges[in_edges.edge[j]].from];
		out_in[v] = in;
		rout[v] = in * (selectivity ? selectivity[v] : d->ops[v].selectivity);
	}
	if (out_out != NULL)
		memcpy(out_out, rout, d->n_ops * sizeof(double));
out:
	stn__free(order);
	stn__free(rout);
	edge_groups_fini(&in_edges);
	return rv;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static uint64_t fnv_u64(uint64_t h, uint64_t v)
{
	unsigned char le[8];

	for (int i = 0; i < 8; i++)
		le[i] = (unsigned char)(v >> (8 * i));
	return fnv(h, le, 8);
}

uint64_t stn__dag_hash(const stn_dag *d)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	h = fnv_u64(h, d->n_ops);
	for (size_t i = 0; i < d->n_ops; i++) {
		const stn_op *op = &d->ops[i];
		uint64_t bits;

		h = fnv_u64(h, op->id);
		h = fnv(h, op->name, strnlen(op->name, STN_DAG_NAME_CAP));
		h = fnv_u64(h, (uint64_t)op->kind);
		h = fnv_u64(h, op->stateful);
		memcpy(&bits, &op->selectivity, sizeof(bits));
		h = fnv_u64(h, bits);
	}
	h = fnv_u64(h, d->n_edges);
	for (size_t i = 0; i < d->n_edges; i++) {
		h = fnv_u64(h, d->edges[i].from);
		h = fnv_u64(h, d->edges[i].to);
		h = fnv_u64(h, (uint64_t)d->edges[i].part);
	}
	return h;
}

static const char *const kind_names[] = {
#define STN_OP_KIND_STR(name, wire) wire,
	STN_OP_KIND_MAP(STN_OP_KIND_STR)
#undef STN_OP_KIND_STR
};

static const char *const part_names[] = {
#define STN_PART_STR(name, wire) wire,
	STN_PART_MAP(STN_PART_STR)
#undef STN_PART_STR
};

const char *stn__op_kind_name(stn_op_kind k)
{
	return (unsigned)k < STN_KIND_COUNT ? kind_names[k] : NULL;
}

const char *stn__part_name(stn_partitioning p)
{
	return (unsigned)p < STN_PART_COUNT ? part_names[p] : NULL;
}

static bool name_eq(const char *name, const char *s, size_t len)
{
	return strlen(name) == len && memcmp(name, s, len) == 0;
}

stn_status stn__op_kind_parse(const char *s, size_t len, stn_op_kind *out)
{
	for (unsigned k = 0; k < STN_KIND_COUNT; k++) {
		if (name_eq(kind_names[k], s, len)) {
			*out = (stn_op_kind)k;
			return STN_OK;
		}
	}
	return STN_ENOTFOUND;
}

stn_status stn__part_parse(const char *s, size_t len, stn_partitioning *out)
{
	for (unsigned p = 0; p < STN_PART_COUNT; p++) {
		if (name_eq(part_names[p], s, len)) {
			*out = (stn_partitioning)p;
			return STN_OK;
		}
	}
	return STN_ENOTFOUND;
}
