/* ged: graph edit distance (exact branch and bound, bipartite approximation) and the matrix of
 * all pairwise distances.
 *
 * Both methods produce a node mapping: map[i] is the g2 node that g1 node i becomes, or DEL.
 * One function (path_from_mapping) turns any mapping into its exact cost and edit path, so the
 * two methods can only differ in which mapping they find, and every reported cost is the cost
 * of a real edit path. Costs are integers throughout; the approximation's matrix is scaled by 2
 * so that half edge costs stay integral. */
#include "ged.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

#define NONE UINT32_MAX
#define DEL (UINT32_MAX - 1u)
#define KINDS ((uint32_t)STN_KIND_COUNT)
#define PARTS ((uint32_t)STN_PART_COUNT)

/* A graph prepared for distance computations: labels and a dense adjacency of edge index + 1
 * (0: no edge), and per-node counts of in- and out-edges by partitioning. */
typedef struct gview {
	uint32_t n, m;
	uint8_t *kind;     /* n */
	uint8_t *part;     /* m */
	uint32_t *from;    /* m */
	uint32_t *to;      /* m */
	uint32_t *adj;     /* n * n */
	uint32_t *in_cnt;  /* n * PARTS */
	uint32_t *out_cnt; /* n * PARTS */
	uint32_t *inc_off; /* n + 1: node i's incident edges are inc[inc_off[i] .. inc_off[i+1]) */
	uint32_t *inc;     /* 2 m edge indices */
} gview;

static void view_fini(gview *g)
{
	stn__free(g->kind);
	stn__free(g->part);
	stn__free(g->from);
	stn__free(g->to);
	stn__free(g->adj);
	stn__free(g->in_cnt);
	stn__free(g->out_cnt);
	stn__free(g->inc_off);
	stn__free(g->inc);
	memset(g, 0, sizeof(*g));
}

static stn_status view_build(gview *g, const stn_dag *d, const char *which, stn_errbuf *eb)
{
	size_t nn;

	memset(g, 0, sizeof(*g));
	if (d->n_ops > STN_DAG_MAX_OPS)
		return stn__fail(eb, STN_ETOOBIG, "ged: %s has %zu operators, limit %u", which,
				 d->n_ops, STN_DAG_MAX_OPS);
	if (d->n_edges > STN_DAG_MAX_EDGES)
		return stn__fail(eb, STN_ETOOBIG, "ged: %s has %zu edges, limit %u", which,
				 d->n_edges, STN_DAG_MAX_EDGES);
	if ((d->n_ops > 0 && d->ops == NULL) || (d->n_edges > 0 && d->edges == NULL))
		return stn__fail(eb, STN_EINVAL, "ged: %s has counts but no storage", which);
	g->n = (uint32_t)d->n_ops;
	g->m = (uint32_t)d->n_edges;
	nn = (size_t)g->n * g->n; /* <= 2^20: cannot overflow */
	/* +1: zero-size allocations may return NULL, which would read as failure. */
	g->kind = stn__malloc(g->n + 1u);
	g->part = stn__malloc(g->m + 1u);
	g->from = stn__malloc_array(g->m + 1u, sizeof(uint32_t));
	g->to = stn__malloc_array(g->m + 1u, sizeof(uint32_t));
	g->adj = stn__calloc(nn + 1u, sizeof(uint32_t));
	g->in_cnt = stn__calloc((size_t)g->n * PARTS + 1u, sizeof(uint32_t));
	g->out_cnt = stn__calloc((size_t)g->n * PARTS + 1u, sizeof(uint32_t));
	g->inc_off = stn__calloc((size_t)g->n + 2u, sizeof(uint32_t));
	g->inc = stn__malloc_array(2 * (size_t)g->m + 1u, sizeof(uint32_t));
	if (g->kind == NULL || g->part == NULL || g->from == NULL || g->to == NULL ||
	    g->adj == NULL || g->in_cnt == NULL || g->out_cnt == NULL || g->inc_off == NULL ||
	    g->inc == NULL) {
		view_fini(g);
		return stn__fail(eb, STN_ENOMEM, "ged: out of memory preparing %s", which);
	}
	for (uint32_t i = 0; i < g->n; i++) {
		if ((unsigned)d->ops[i].kind >= KINDS) {
			view_fini(g);
			return stn__fail(eb, STN_EGRAPH, "ged: %s operator %u has an unknown kind",
					 which, i);
		}
		g->kind[i] = (uint8_t)d->ops[i].kind;
	}
	for (uint32_t e = 0; e < g->m; e++) {
		const stn_edge *ed = &d->edges[e];

		if (ed->from >= g->n || ed->to >= g->n || ed->from == ed->to ||
		    (unsigned)ed->part >= PARTS) {
			view_fini(g);
			return stn__fail(eb, STN_EGRAPH,
					 "ged: %s edge %u has a bad endpoint or partitioning", which,
					 e);
		}
		if (g->adj[(size_t)ed->from * g->n + ed->to] != 0) {
			view_fini(g);
			return stn__fail(eb, STN_EGRAPH, "ged: %s has a duplicate edge %u->%u",
					 which, ed->from, ed->to);
		}
		g->adj[(size_t)ed->from * g->n + ed->to] = e + 1u;
		g->from[e] = ed->from;
		g->to[e] = ed->to;
		g->part[e] = (uint8_t)ed->part;
		g->out_cnt[(size_t)ed->from * PARTS + ed->part]++;
		g->in_cnt[(size_t)ed->to * PARTS + ed->part]++;
		g->inc_off[ed->from + 2u]++;
		g->inc_off[ed->to + 2u]++;
	}
	/* Counting sort of edge ends by node: offsets shifted by one while filling. */
	for (uint32_t i = 2; i <= g->n + 1u; i++)
		g->inc_off[i] += g->inc_off[i - 1];
	for (uint32_t e = 0; e < g->m; e++) {
		g->inc[g->inc_off[g->from[e] + 1u]++] = e;
		g->inc[g->inc_off[g->to[e] + 1u]++] = e;
	}
	return STN_OK;
}

static uint32_t min_u32(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

static uint32_t max_u32(uint32_t a, uint32_t b)
{
	return a > b ? a : b;
}

/* Cheapest unit-cost matching of two label multisets given as counts: equal labels match
 * free, the rest are relabelled (1) or inserted/deleted (1). */
static uint32_t multiset_cost(const uint32_t *a, const uint32_t *b, uint32_t labels)
{
	uint32_t na = 0, nb = 0, common = 0;

	for (uint32_t l = 0; l < labels; l++) {
		na += a[l];
		nb += b[l];
		common += min_u32(a[l], b[l]);
	}
	return max_u32(na, nb) - common;
}

static uint64_t view_lower_bound(const gview *g1, const gview *g2)
{
	uint32_t k1[KINDS] = {0}, k2[KINDS] = {0}, p1[PARTS] = {0}, p2[PARTS] = {0};

	for (uint32_t i = 0; i < g1->n; i++)
		k1[g1->kind[i]]++;
	for (uint32_t i = 0; i < g2->n; i++)
		k2[g2->kind[i]]++;
	for (uint32_t e = 0; e < g1->m; e++)
		p1[g1->part[e]]++;
	for (uint32_t e = 0; e < g2->m; e++)
		p2[g2->part[e]]++;
	return (uint64_t)multiset_cost(k1, k2, KINDS) + multiset_cost(p1, p2, PARTS);
}

/* Cost of one ordered node pair's edge under a mapping: e1/e2 are adjacency entries. */
static uint32_t edge_pair_cost(const gview *g1, uint32_t e1, const gview *g2, uint32_t e2)
{
	if (e1 == 0 && e2 == 0)
		return 0;
	if (e1 == 0 || e2 == 0)
		return 1;
	return g1->part[e1 - 1] != g2->part[e2 - 1];
}

/* Exact cost of the edit path induced by map (g1 index -> g2 index or DEL), and the path
 * itself if path != NULL (room for n1 + n2 + m1 + m2 ops). scratch has n2 + m2 entries. */
static uint64_t path_from_mapping(const gview *g1, const gview *g2, const uint32_t *map,
				  uint32_t *scratch, stn_ged_op *path, size_t *n_path)
{
	uint32_t *inv = scratch;          /* g2 node -> g1 node or NONE */
	uint32_t *matched = scratch + g2->n; /* g2 edge used by a substitution */
	uint64_t cost = 0;
	size_t k = 0;

	for (uint32_t j = 0; j < g2->n; j++)
		inv[j] = NONE;
	for (uint32_t e = 0; e < g2->m; e++)
		matched[e] = 0;
	for (uint32_t i = 0; i < g1->n; i++) {
		stn_ged_op op = {STN_GED_NODE_DEL, i, NONE, 1};

		if (map[i] != DEL) {
			inv[map[i]] = i;
			op.type = STN_GED_NODE_SUB;
			op.b = map[i];
			op.cost = g1->kind[i] != g2->kind[map[i]];
		}
		cost += op.cost;
		if (path != NULL)
			path[k++] = op;
	}
	for (uint32_t j = 0; j < g2->n; j++) {
		if (inv[j] != NONE)
			continue;
		cost += 1;
		if (path != NULL)
			path[k++] = (stn_ged_op){STN_GED_NODE_INS, NONE, j, 1};
	}
	for (uint32_t e = 0; e < g1->m; e++) {
		uint32_t a = map[g1->from[e]], b = map[g1->to[e]], e2 = 0;
		stn_ged_op op = {STN_GED_EDGE_DEL, e, NONE, 1};

		if (a != DEL && b != DEL)
			e2 = g2->adj[(size_t)a * g2->n + b];
		if (e2 != 0) {
			matched[e2 - 1] = 1;
			op.type = STN_GED_EDGE_SUB;
			op.b = e2 - 1;
			op.cost = g1->part[e] != g2->part[e2 - 1];
		}
		cost += op.cost;
		if (path != NULL)
			path[k++] = op;
	}
	for (uint32_t e = 0; e < g2->m; e++) {
		if (matched[e])
			continue;
		cost += 1;
		if (path != NULL)
			path[k++] = (stn_ged_op){STN_GED_EDGE_INS, NONE, e, 1};
	}
	if (n_path != NULL)
		*n_path = k;
	return cost;
}

/* ---- Hungarian algorithm --------------------------------------------------------------- */

/* Minimum-cost perfect assignment on an n x n matrix (row-major): row_to_col[r] receives the
 * column of row r. Shortest augmenting paths with potentials, O(n^3). work holds
 * 5 (n + 1) int64 entries, visited n + 1 bytes. Deterministic: the first minimum wins every
 * scan. */
static void hungarian(const int32_t *cost, uint32_t n, uint32_t *row_to_col, int64_t *work,
		      uint8_t *visited)
{
	const int64_t inf = INT64_MAX / 4;
	int64_t *u = work, *v = work + (n + 1), *minv = work + 2 * (n + 1);
	int64_t *p = work + 3 * (n + 1), *way = work + 4 * (n + 1);

	for (uint32_t j = 0; j <= n; j++) {
		u[j] = 0;
		v[j] = 0;
		p[j] = 0;
		way[j] = 0;
	}
	/* Row i enters; columns 1..n, column 0 is the virtual start of the augmenting path. */
	for (uint32_t i = 1; i <= n; i++) {
		uint32_t j0 = 0;

		p[0] = i;
		for (uint32_t j = 0; j <= n; j++) {
			minv[j] = inf;
			visited[j] = 0;
		}
		for (;;) {
			uint32_t i0 = (uint32_t)p[j0], j1 = 0;
			int64_t delta = inf;
			const int32_t *row = cost + (size_t)(i0 - 1) * n;

			visited[j0] = 1;
			for (uint32_t j = 1; j <= n; j++) {
				int64_t cur;

				if (visited[j])
					continue;
				cur = (int64_t)row[j - 1] - u[i0] - v[j];
				if (cur < minv[j]) {
					minv[j] = cur;
					way[j] = j0;
				}
				if (minv[j] < delta) {
					delta = minv[j];
					j1 = j;
				}
			}
			for (uint32_t j = 0; j <= n; j++) {
				if (visited[j]) {
					u[p[j]] += delta;
					v[j] -= delta;
				} else {
					minv[j] -= delta;
				}
			}
			j0 = j1;
			if (p[j0] == 0)
				break;
		}
		do {
			uint32_t j1 = (uint32_t)way[j0];

			p[j0] = p[j1];
			j0 = j1;
		} while (j0 != 0);
	}
	for (uint32_t j = 1; j <= n; j++)
		row_to_col[p[j] - 1] = j - 1;
}

/* ---- Bipartite approximation -------------------------------------------------------------- */

/* Forbidden cells: more than any complete assignment of finite cells can cost (at most
 * 2048 rows of at most 2 + 2 * 4096 each). */
#define FORBIDDEN (INT32_C(1) << 30)

/* Riesen-Bunke mapping of g1 onto g2 (map: n1 entries). Costs are doubled so that each edge's
 * half share at either end is an integer. */
static stn_status approx_mapping(const gview *g1, const gview *g2, uint32_t *map,
				 stn_errbuf *eb)
{
	uint32_t n1 = g1->n, n2 = g2->n, n = n1 + n2;
	int32_t *cost = NULL;
	int64_t *work = NULL;
	uint8_t *visited = NULL;
	uint32_t *row_to_col = NULL;
	stn_status rv = STN_OK;

	if (n1 == 0)
		return STN_OK;
	if (n2 == 0) {
		for (uint32_t i = 0; i < n1; i++)
			map[i] = DEL;
		return STN_OK;
	}
	cost = stn__malloc_array((size_t)n * n, sizeof(int32_t));
	work = stn__malloc_array(5 * ((size_t)n + 1), sizeof(int64_t));
	visited = stn__malloc((size_t)n + 1);
	row_to_col = stn__malloc_array(n, sizeof(uint32_t));
	if (cost == NULL || work == NULL || visited == NULL || row_to_col == NULL) {
		rv = stn__fail(eb, STN_ENOMEM, "ged: out of memory for the assignment matrix");
		goto out_free;
	}
	for (uint32_t i = 0; i < n; i++) {
		int32_t *row = cost + (size_t)i * n;

		for (uint32_t j = 0; j < n; j++) {
			int32_t c;

			if (i < n1 && j < n2) {
				c = 2 * (g1->kind[i] != g2->kind[j]);
				c += (int32_t)multiset_cost(g1->in_cnt + (size_t)i * PARTS,
							    g2->in_cnt + (size_t)j * PARTS, PARTS);
				c += (int32_t)multiset_cost(g1->out_cnt + (size_t)i * PARTS,
							    g2->out_cnt + (size_t)j * PARTS, PARTS);
			} else if (i < n1) { /* deletion of g1 node i */
				c = FORBIDDEN;
				if (j - n2 == i) {
					c = 2;
					for (uint32_t p = 0; p < PARTS; p++)
						c += (int32_t)(g1->in_cnt[(size_t)i * PARTS + p] +
							       g1->out_cnt[(size_t)i * PARTS + p]);
				}
			} else if (j < n2) { /* insertion of g2 node j */
				c = FORBIDDEN;
				if (i - n1 == j) {
					c = 2;
					for (uint32_t p = 0; p < PARTS; p++)
						c += (int32_t)(g2->in_cnt[(size_t)j * PARTS + p] +
							       g2->out_cnt[(size_t)j * PARTS + p]);
				}
			} else {
				c = 0;
			}
			row[j] = c;
		}
	}
	hungarian(cost, n, row_to_col, work, visited);
	for (uint32_t i = 0; i < n1; i++)
		map[i] = row_to_col[i] < n2 ? row_to_col[i] : DEL;
out_free:
	stn__free(cost);
	stn__free(work);
	stn__free(visited);
	stn__free(row_to_col);
	return rv;
}

/* ---- Local search on a mapping -------------------------------------------------------------- */

/* Cost of everything a change of the targets of g1 nodes S can affect: their node terms, the
 * g1 edges touching them, and the insertion terms of g2 nodes T (their old and new targets)
 * and of the unmatched g2 edges touching T. Elements shared by two members are counted once. */
static uint64_t local_cost(const gview *g1, const gview *g2, const uint32_t *map,
			   const uint32_t *inv, const uint32_t *set1, uint32_t n_set1,
			   const uint32_t *set2, uint32_t n_set2)
{
	uint64_t c = 0;

	for (uint32_t si = 0; si < n_set1; si++) {
		uint32_t i = set1[si];

		c += map[i] == DEL ? 1u : (uint32_t)(g1->kind[i] != g2->kind[map[i]]);
		for (uint32_t k = g1->inc_off[i]; k < g1->inc_off[i + 1]; k++) {
			uint32_t e = g1->inc[k], other = g1->from[e] == i ? g1->to[e] : g1->from[e];
			uint32_t a = map[g1->from[e]], b = map[g1->to[e]], e2;

			if (si == 1 && other == set1[0])
				continue;
			if (a == DEL || b == DEL) {
				c += 1;
				continue;
			}
			e2 = g2->adj[(size_t)a * g2->n + b];
			c += e2 == 0 ? 1u : (uint32_t)(g1->part[e] != g2->part[e2 - 1]);
		}
	}
	for (uint32_t ti = 0; ti < n_set2; ti++) {
		uint32_t x = set2[ti];

		c += inv[x] == NONE;
		for (uint32_t k = g2->inc_off[x]; k < g2->inc_off[x + 1]; k++) {
			uint32_t e = g2->inc[k], other = g2->from[e] == x ? g2->to[e] : g2->from[e];
			uint32_t p = inv[g2->from[e]], q = inv[g2->to[e]];

			if (ti == 1 && other == set2[0])
				continue;
			c += p == NONE || q == NONE || g1->adj[(size_t)p * g1->n + q] == 0;
		}
	}
	return c;
}

/* Changes map[i] to target t (a g2 node or DEL), swapping with the g1 node that had t. */
static void move_target(uint32_t *map, uint32_t *inv, uint32_t i, uint32_t t)
{
	uint32_t old = map[i], k = t == DEL ? NONE : inv[t];

	map[i] = t;
	if (t != DEL)
		inv[t] = i;
	if (k != NONE) {
		map[k] = old;
		if (old != DEL)
			inv[old] = k;
	} else if (old != DEL) {
		inv[old] = NONE;
	}
}

/* Improves a mapping by repeatedly applying, for each g1 node in turn, the best change of its
 * target (another g2 node, swapping with that node's preimage, or deletion) while it lowers
 * the cost. Deterministic; each pass lowers the integer cost, so it ends. inv: n2 entries. */
static void refine_mapping(const gview *g1, const gview *g2, uint32_t *map, uint32_t *inv,
			   uint32_t max_passes)
{
	for (uint32_t j = 0; j < g2->n; j++)
		inv[j] = NONE;
	for (uint32_t i = 0; i < g1->n; i++)
		if (map[i] != DEL)
			inv[map[i]] = i;
	for (uint32_t pass = 0; pass < max_passes; pass++) {
		bool improved = false;

		for (uint32_t i = 0; i < g1->n; i++) {
			uint32_t best_t = NONE;
			int64_t best_delta = 0;

			for (uint32_t ti = 0; ti <= g2->n; ti++) {
				uint32_t t = ti < g2->n ? ti : DEL, old = map[i];
				uint32_t k = t == DEL ? NONE : inv[t];
				uint32_t set1[2], set2[2], n1 = 0, n2 = 0;
				int64_t before, after;

				if (t == old)
					continue;
				set1[n1++] = i;
				if (k != NONE)
					set1[n1++] = k;
				if (old != DEL)
					set2[n2++] = old;
				if (t != DEL)
					set2[n2++] = t;
				before = (int64_t)local_cost(g1, g2, map, inv, set1, n1, set2, n2);
				move_target(map, inv, i, t);
				after = (int64_t)local_cost(g1, g2, map, inv, set1, n1, set2, n2);
				map[i] = old;
				if (k != NONE)
					map[k] = t;
				if (t != DEL)
					inv[t] = k;
				if (old != DEL)
					inv[old] = i;
				if (after - before < best_delta) {
					best_delta = after - before;
					best_t = t;
				}
			}
			if (best_t != NONE) {
				move_target(map, inv, i, best_t);
				improved = true;
			}
		}
		if (!improved)
			break;
	}
}

/* ---- Exact branch and bound --------------------------------------------------------------- */

typedef struct cand {
	uint64_t f;  /* cost so far + this step + lower bound of the rest */
	uint32_t v;  /* g2 node or DEL */
	uint32_t c;  /* this step's cost */
} cand;

typedef struct search {
	const gview *g1, *g2;
	uint32_t *order;    /* g1 nodes in the order they are decided */
	uint32_t *map;      /* g1 node -> g2 node, DEL, or NONE (undecided) */
	uint32_t *best_map;
	uint8_t *used2;     /* g2 node is the image of a decided node */
	uint32_t n_used;
	/* Labels of what is still open: undecided g1 nodes, unused g2 nodes, and edges with an
	 * open end on either side. The lower bound is the multiset bound on these. */
	uint32_t cnt1[KINDS], cnt2[KINDS];
	uint32_t ecnt1[PARTS], ecnt2[PARTS];
	uint64_t best;
	uint64_t expansions, budget;
	bool aborted;
	cand *cands;        /* n2 + 1 per depth */
	/* Assignment bound of the open part, recomputed at every expansion (one workspace: it is
	 * consumed before the recursion). */
	int32_t *lsap;      /* (n1 + n2)^2 */
	int64_t *lsap_work; /* 5 (n1 + n2 + 1) */
	uint8_t *lsap_visited;
	uint32_t *lsap_assign;
	uint32_t *free2;    /* unused g2 nodes, ascending */
	uint32_t *open_cnt1; /* n1 * 2 * PARTS: in/out edges to undecided g1 nodes */
	uint32_t *open_cnt2; /* n2 * 2 * PARTS: in/out edges to unused g2 nodes */
} search;

/* Decision order: start with the best-connected node, then always the node with most edges
 * into the decided set (ties: degree, then index), so that edge costs show up early. */
static void search_order(const gview *g, uint32_t *order, uint32_t *links, uint8_t *chosen)
{
	uint32_t n = g->n;

	for (uint32_t i = 0; i < n; i++) {
		links[i] = 0;
		chosen[i] = 0;
	}
	for (uint32_t t = 0; t < n; t++) {
		uint32_t pick = NONE, pick_deg = 0;

		for (uint32_t i = 0; i < n; i++) {
			uint32_t deg = 0;

			if (chosen[i])
				continue;
			for (uint32_t p = 0; p < PARTS; p++)
				deg += g->in_cnt[(size_t)i * PARTS + p] +
				       g->out_cnt[(size_t)i * PARTS + p];
			if (pick == NONE || links[i] > links[pick] ||
			    (links[i] == links[pick] && deg > pick_deg)) {
				pick = i;
				pick_deg = deg;
			}
		}
		chosen[pick] = 1;
		order[t] = pick;
		for (uint32_t i = 0; i < n; i++)
			if (g->adj[(size_t)pick * n + i] != 0 || g->adj[(size_t)i * n + pick] != 0)
				links[i]++;
	}
}

static int cand_cmp(const void *a, const void *b)
{
	const cand *x = a, *y = b;

	if (x->f != y->f)
		return x->f < y->f ? -1 : 1;
	/* DEL (largest value) after every real node at equal bound. */
	return x->v < y->v ? -1 : x->v > y->v;
}

static void sort_cands(cand *c, size_t n)
{
	if (n > 16) {
		qsort(c, n, sizeof(*c), cand_cmp);
		return;
	}
	for (size_t i = 1; i < n; i++) {
		cand t = c[i];
		size_t j = i;

		while (j > 0 && cand_cmp(&c[j - 1], &t) > 0) {
			c[j] = c[j - 1];
			j--;
		}
		c[j] = t;
	}
}

/* Adjusts ecnt2 for the g2 edges between v and the images of the decided nodes (delta -1 when
 * v becomes used, +1 when it is released). */
static void account_g2_edges(search *s, uint32_t depth, uint32_t v, int delta)
{
	const gview *g2 = s->g2;

	for (uint32_t t = 0; t < depth; t++) {
		uint32_t x = s->map[s->order[t]], a, b;

		if (x == DEL)
			continue;
		a = g2->adj[(size_t)v * g2->n + x];
		b = g2->adj[(size_t)x * g2->n + v];
		if (a != 0)
			s->ecnt2[g2->part[a - 1]] += (uint32_t)delta;
		if (b != 0)
			s->ecnt2[g2->part[b - 1]] += (uint32_t)delta;
	}
}

/* Exact cost of the edges between undecided g1 node u (mapped to v, or deleted if v == DEL)
 * and the decided nodes, including the g2 edges between v and the used nodes. */
static uint32_t decided_edge_cost(const search *s, uint32_t depth, uint32_t u, uint32_t v)
{
	const gview *g1 = s->g1, *g2 = s->g2;
	uint32_t n1 = g1->n, n2 = g2->n, c = 0;

	for (uint32_t t = 0; t < depth; t++) {
		uint32_t w = s->order[t], x = s->map[w];
		uint32_t a1 = g1->adj[(size_t)u * n1 + w], b1 = g1->adj[(size_t)w * n1 + u];

		if (v == DEL || x == DEL) {
			c += (a1 != 0) + (b1 != 0);
			continue;
		}
		c += edge_pair_cost(g1, a1, g2, g2->adj[(size_t)v * n2 + x]) +
		     edge_pair_cost(g1, b1, g2, g2->adj[(size_t)x * n2 + v]);
	}
	return c;
}

/* Lower bound of the open part by an assignment of undecided g1 nodes (rows, order[depth..])
 * to unused g2 nodes (columns, free2[]), deletions and insertions, with costs doubled: the
 * node cost and the exact cost of the edges to decided nodes count in full, the edges among
 * open nodes half at each end (the cheapest matching of a node's open in- and out-edges by
 * partitioning). Every completion's cost splits this way, so the optimum (halved) is a lower
 * bound, and the dual potentials bound each row/column choice. Returns the doubled optimum;
 * the potentials stay in lsap_work. */
static uint64_t lsap_bound(search *s, uint32_t depth, uint32_t r2)
{
	const gview *g1 = s->g1, *g2 = s->g2;
	uint32_t n1 = g1->n, n2 = g2->n, r1 = n1 - depth, n = r1 + r2;
	uint64_t opt = 0;

	/* Open edge counts of every open node, by direction and partitioning. */
	for (uint32_t ri = 0; ri < r1; ri++) {
		uint32_t u = s->order[depth + ri];
		uint32_t *cnt = s->open_cnt1 + (size_t)u * 2 * PARTS;

		memset(cnt, 0, 2 * PARTS * sizeof(uint32_t));
		for (uint32_t rk = 0; rk < r1; rk++) {
			uint32_t w = s->order[depth + rk], a;

			a = g1->adj[(size_t)w * n1 + u];
			if (a != 0)
				cnt[g1->part[a - 1]]++;
			a = g1->adj[(size_t)u * n1 + w];
			if (a != 0)
				cnt[PARTS + g1->part[a - 1]]++;
		}
	}
	for (uint32_t cj = 0; cj < r2; cj++) {
		uint32_t v = s->free2[cj];
		uint32_t *cnt = s->open_cnt2 + (size_t)v * 2 * PARTS;

		memset(cnt, 0, 2 * PARTS * sizeof(uint32_t));
		for (uint32_t ck = 0; ck < r2; ck++) {
			uint32_t x = s->free2[ck], a;

			a = g2->adj[(size_t)x * n2 + v];
			if (a != 0)
				cnt[g2->part[a - 1]]++;
			a = g2->adj[(size_t)v * n2 + x];
			if (a != 0)
				cnt[PARTS + g2->part[a - 1]]++;
		}
	}
	for (uint32_t i = 0; i < n; i++) {
		int32_t *row = s->lsap + (size_t)i * n;

		for (uint32_t j = 0; j < n; j++)
			row[j] = i < r1 || j < r2 ? FORBIDDEN : 0;
	}
	for (uint32_t ri = 0; ri < r1; ri++) {
		uint32_t u = s->order[depth + ri];
		const uint32_t *cu = s->open_cnt1 + (size_t)u * 2 * PARTS;
		int32_t *row = s->lsap + (size_t)ri * n;
		uint32_t open = 0;

		for (uint32_t p = 0; p < 2 * PARTS; p++)
			open += cu[p];
		row[r2 + ri] = (int32_t)(2 + 2 * decided_edge_cost(s, depth, u, DEL) + open);
		for (uint32_t cj = 0; cj < r2; cj++) {
			uint32_t v = s->free2[cj];
			const uint32_t *cv = s->open_cnt2 + (size_t)v * 2 * PARTS;

			row[cj] = (int32_t)(2 * (g1->kind[u] != g2->kind[v]) +
					    2 * decided_edge_cost(s, depth, u, v) +
					    multiset_cost(cu, cv, PARTS) +
					    multiset_cost(cu + PARTS, cv + PARTS, PARTS));
		}
	}
	for (uint32_t cj = 0; cj < r2; cj++) {
		uint32_t v = s->free2[cj], open = 0, to_used = 0;
		const uint32_t *cv = s->open_cnt2 + (size_t)v * 2 * PARTS;

		for (uint32_t p = 0; p < 2 * PARTS; p++)
			open += cv[p];
		for (uint32_t t = 0; t < depth; t++) {
			uint32_t x = s->map[s->order[t]];

			if (x == DEL)
				continue;
			to_used += (g2->adj[(size_t)v * n2 + x] != 0) +
				   (g2->adj[(size_t)x * n2 + v] != 0);
		}
		s->lsap[(size_t)(r1 + cj) * n + cj] = (int32_t)(2 + 2 * to_used + open);
	}
	hungarian(s->lsap, n, s->lsap_assign, s->lsap_work, s->lsap_visited);
	for (uint32_t i = 0; i < n; i++)
		opt += (uint64_t)s->lsap[(size_t)i * n + s->lsap_assign[i]];
	return opt;
}

/* Reduced cost of cell (i, j) of the last lsap_bound matrix of size n: how much any
 * assignment using that cell costs above the optimum, at least. */
static uint64_t lsap_reduced(const search *s, uint32_t n, uint32_t i, uint32_t j)
{
	const int64_t *pu = s->lsap_work, *pv = s->lsap_work + (n + 1);
	int64_t red = (int64_t)s->lsap[(size_t)i * n + j] - pu[i + 1] - pv[j + 1];

	return red > 0 ? (uint64_t)red : 0;
}

/* Decides order[depth] given the decisions before it; g is their cost. */
static void search_expand(search *s, uint32_t depth, uint64_t g)
{
	const gview *g1 = s->g1, *g2 = s->g2;
	uint32_t n1 = g1->n, n2 = g2->n;
	uint32_t u = s->order[depth], ku = g1->kind[u];
	uint32_t r1, r2, node_common = 0, f1 = 0, f2 = 0;
	cand *cands = s->cands + (size_t)depth * (n2 + 1u);
	size_t nc = 0;

	uint64_t opt2;
	uint32_t n_lsap, r2_free = 0;

	s->expansions++;
	if (s->expansions > s->budget) {
		s->aborted = true;
		return;
	}
	for (uint32_t j = 0; j < n2; j++)
		if (!s->used2[j])
			s->free2[r2_free++] = j;
	n_lsap = (n1 - depth) + r2_free;
	opt2 = lsap_bound(s, depth, r2_free);
	if (g + (opt2 + 1) / 2 >= s->best)
		return;
	/* u is decided now: its g1 edges to decided nodes stop being open. */
	for (uint32_t t = 0; t < depth; t++) {
		uint32_t w = s->order[t];
		uint32_t a = g1->adj[(size_t)u * n1 + w], b = g1->adj[(size_t)w * n1 + u];

		if (a != 0)
			s->ecnt1[g1->part[a - 1]]--;
		if (b != 0)
			s->ecnt1[g1->part[b - 1]]--;
	}
	s->cnt1[ku]--;
	r1 = n1 - depth - 1u;
	r2 = n2 - s->n_used;
	for (uint32_t k = 0; k < KINDS; k++)
		node_common += min_u32(s->cnt1[k], s->cnt2[k]);
	for (uint32_t p = 0; p < PARTS; p++) {
		f1 += s->ecnt1[p];
		f2 += s->ecnt2[p];
	}
	for (uint32_t vi = 0; vi <= n2; vi++) {
		uint32_t v = vi < n2 ? vi : DEL;
		uint32_t c, removed[PARTS] = {0}, removed_all = 0, edge_common = 0, common, rest2;
		uint64_t f;

		if (v != DEL && s->used2[v])
			continue;
		c = v == DEL ? 1u : (uint32_t)(ku != g2->kind[v]);
		for (uint32_t t = 0; t < depth; t++) {
			uint32_t w = s->order[t], x = s->map[w];
			uint32_t a1 = g1->adj[(size_t)u * n1 + w], b1 = g1->adj[(size_t)w * n1 + u];
			uint32_t a2, b2;

			if (v == DEL || x == DEL) {
				c += (a1 != 0) + (b1 != 0);
				continue;
			}
			a2 = g2->adj[(size_t)v * n2 + x];
			b2 = g2->adj[(size_t)x * n2 + v];
			c += edge_pair_cost(g1, a1, g2, a2) + edge_pair_cost(g1, b1, g2, b2);
			if (a2 != 0) {
				removed[g2->part[a2 - 1]]++;
				removed_all++;
			}
			if (b2 != 0) {
				removed[g2->part[b2 - 1]]++;
				removed_all++;
			}
		}
		common = node_common;
		rest2 = r2;
		if (v != DEL) {
			uint32_t kv = g2->kind[v];

			if (s->cnt2[kv] <= s->cnt1[kv])
				common--;
			rest2--;
		}
		for (uint32_t p = 0; p < PARTS; p++)
			edge_common += min_u32(s->ecnt1[p], s->ecnt2[p] - removed[p]);
		f = g + c + (max_u32(r1, rest2) - common) +
		    (max_u32(f1, f2 - removed_all) - edge_common);
		{
			/* Row 0 is u; its column is v's place in free2 or u's deletion. */
			uint32_t col = r2_free;
			uint64_t f_lsap;

			if (v != DEL)
				for (col = 0; s->free2[col] != v; col++)
					;
			f_lsap = g + (opt2 + lsap_reduced(s, n_lsap, 0, col) + 1) / 2;
			if (f_lsap > f)
				f = f_lsap;
		}
		if (f < s->best)
			cands[nc++] = (cand){f, v, c};
	}
	sort_cands(cands, nc);
	for (size_t ci = 0; ci < nc && !s->aborted; ci++) {
		uint32_t v = cands[ci].v;

		if (cands[ci].f >= s->best)
			break;
		s->map[u] = v;
		if (v != DEL) {
			s->used2[v] = 1;
			s->n_used++;
			s->cnt2[g2->kind[v]]--;
			account_g2_edges(s, depth, v, -1);
		}
		if (depth + 1u == n1) {
			/* Every g1 node decided: the bound is the exact cost of inserting the rest. */
			s->best = cands[ci].f;
			memcpy(s->best_map, s->map, (size_t)n1 * sizeof(uint32_t));
		} else {
			search_expand(s, depth + 1u, g + cands[ci].c);
		}
		if (v != DEL) {
			account_g2_edges(s, depth, v, +1);
			s->cnt2[g2->kind[v]]++;
			s->n_used--;
			s->used2[v] = 0;
		}
		s->map[u] = NONE;
	}
	s->cnt1[ku]++;
	for (uint32_t t = 0; t < depth; t++) {
		uint32_t w = s->order[t];
		uint32_t a = g1->adj[(size_t)u * n1 + w], b = g1->adj[(size_t)w * n1 + u];

		if (a != 0)
			s->ecnt1[g1->part[a - 1]]++;
		if (b != 0)
			s->ecnt1[g1->part[b - 1]]++;
	}
}

/* Improves map (cost *cost, an upper bound) to an optimal mapping unless the budget runs out;
 * returns whether optimality was proven. */
static stn_status exact_search(const gview *g1, const gview *g2, uint32_t *map, uint64_t *cost,
			       uint64_t budget, uint64_t *expansions, bool *proven,
			       stn_errbuf *eb)
{
	search s;
	uint32_t *links = NULL;
	uint8_t *chosen = NULL;
	stn_status rv = STN_OK;
	size_t n_cands;

	memset(&s, 0, sizeof(s));
	*proven = false;
	*expansions = 0;
	s.g1 = g1;
	s.g2 = g2;
	s.best = *cost;
	s.budget = budget;
	n_cands = (size_t)g1->n * ((size_t)g2->n + 1u); /* <= 1024 * 1025 */
	s.order = stn__malloc_array(g1->n, sizeof(uint32_t));
	s.map = stn__malloc_array(g1->n, sizeof(uint32_t));
	s.best_map = stn__malloc_array(g1->n, sizeof(uint32_t));
	s.used2 = stn__calloc((size_t)g2->n + 1u, 1);
	s.cands = stn__malloc_array(n_cands, sizeof(cand));
	{
		size_t nl = (size_t)g1->n + g2->n;

		s.lsap = stn__malloc_array(nl * nl, sizeof(int32_t));
		s.lsap_work = stn__malloc_array(5 * (nl + 1), sizeof(int64_t));
		s.lsap_visited = stn__malloc(nl + 1);
		s.lsap_assign = stn__malloc_array(nl, sizeof(uint32_t));
		s.free2 = stn__malloc_array((size_t)g2->n + 1u, sizeof(uint32_t));
		s.open_cnt1 = stn__malloc_array((size_t)g1->n * 2 * PARTS, sizeof(uint32_t));
		s.open_cnt2 = stn__malloc_array((size_t)g2->n * 2 * PARTS + 1u, sizeof(uint32_t));
	}
	links = stn__malloc_array(g1->n, sizeof(uint32_t));
	chosen = stn__malloc(g1->n);
	if (s.order == NULL || s.map == NULL || s.best_map == NULL || s.used2 == NULL ||
	    s.cands == NULL || links == NULL || chosen == NULL || s.lsap == NULL ||
	    s.lsap_work == NULL || s.lsap_visited == NULL || s.lsap_assign == NULL ||
	    s.free2 == NULL || s.open_cnt1 == NULL || s.open_cnt2 == NULL) {
		rv = stn__fail(eb, STN_ENOMEM, "ged: out of memory for the exact search");
		goto out_free;
	}
	search_order(g1, s.order, links, chosen);
	for (uint32_t i = 0; i < g1->n; i++) {
		s.map[i] = NONE;
		s.best_map[i] = map[i];
		s.cnt1[g1->kind[i]]++;
	}
	for (uint32_t j = 0; j < g2->n; j++)
		s.cnt2[g2->kind[j]]++;
	for (uint32_t e = 0; e < g1->m; e++)
		s.ecnt1[g1->part[e]]++;
	for (uint32_t e = 0; e < g2->m; e++)
		s.ecnt2[g2->part[e]]++;
	search_expand(&s, 0, 0);
	memcpy(map, s.best_map, (size_t)g1->n * sizeof(uint32_t));
	*cost = s.best;
	*expansions = s.expansions > budget ? budget : s.expansions;
	*proven = !s.aborted;
out_free:
	stn__free(s.order);
	stn__free(s.map);
	stn__free(s.best_map);
	stn__free(s.used2);
	stn__free(s.cands);
	stn__free(s.lsap);
	stn__free(s.lsap_work);
	stn__free(s.lsap_visited);
	stn__free(s.lsap_assign);
	stn__free(s.free2);
	stn__free(s.open_cnt1);
	stn__free(s.open_cnt2);
	stn__free(links);
	stn__free(chosen);
	return rv;
}

/* ---- Public entry points ------------------------------------------------------------------ */

stn_ged_opts stn__ged_opts_default(void)
{
	stn_ged_opts o;

	memset(&o, 0, sizeof(o));
	o.method = STN_GED_AUTO;
	o.exact_max_nodes = STN_GED_DEFAULT_EXACT_MAX_NODES;
	o.max_expansions = STN_GED_DEFAULT_MAX_EXPANSIONS;
	o.want_path = true;
	return o;
}

void stn__ged_result_fini(stn_ged_result *r)
{
	if (r == NULL)
		return;
	stn__free(r->path);
	r->path = NULL;
	r->n_path = 0;
}

const char *stn__ged_op_name(stn_ged_op_type t)
{
	switch (t) {
	case STN_GED_NODE_SUB:
		return "substitute node";
	case STN_GED_NODE_DEL:
		return "delete node";
	case STN_GED_NODE_INS:
		return "insert node";
	case STN_GED_EDGE_SUB:
		return "substitute edge";
	case STN_GED_EDGE_DEL:
		return "delete edge";
	case STN_GED_EDGE_INS:
		return "insert edge";
	}
	return "unknown";
}

/* Local search passes after the assignment (each lowers the cost by at least 1). */
#define REFINE_MAX_PASSES 64u

/* The distance between two prepared graphs. */
static stn_status ged_views(const gview *g1, const gview *g2, const stn_ged_opts *o,
			    stn_ged_result *out, stn_errbuf *eb)
{
	uint32_t *map = NULL, *scratch = NULL;
	uint64_t cost, lb, denom;
	bool run_exact;
	stn_status rv;

	memset(out, 0, sizeof(*out));
	map = stn__malloc_array((size_t)g1->n + 1u, sizeof(uint32_t));
	scratch = stn__malloc_array((size_t)g2->n + g2->m + 1u, sizeof(uint32_t));
	if (map == NULL || scratch == NULL) {
		rv = stn__fail(eb, STN_ENOMEM, "ged: out of memory");
		goto out_free;
	}
	rv = approx_mapping(g1, g2, map, eb);
	if (rv != STN_OK)
		goto out_free;
	refine_mapping(g1, g2, map, scratch, REFINE_MAX_PASSES);
	cost = path_from_mapping(g1, g2, map, scratch, NULL, NULL);
	lb = view_lower_bound(g1, g2);
	out->exact = cost == lb;
	run_exact = o->method == STN_GED_EXACT ||
		    (o->method == STN_GED_AUTO && g1->n <= o->exact_max_nodes &&
		     g2->n <= o->exact_max_nodes);
	if (run_exact && !out->exact && g1->n > 0) {
		rv = exact_search(g1, g2, map, &cost, o->max_expansions, &out->expansions,
				  &out->exact, eb);
		if (rv != STN_OK)
			goto out_free;
	}
	if (o->want_path) {
		size_t n_ops = (size_t)g1->n + g2->n + g1->m + g2->m;

		out->path = stn__malloc_array(n_ops + 1u, sizeof(stn_ged_op));
		if (out->path == NULL) {
			rv = stn__fail(eb, STN_ENOMEM, "ged: out of memory for the edit path");
			goto out_free;
		}
	}
	out->cost = path_from_mapping(g1, g2, map, scratch, out->path, &out->n_path);
	if (out->cost != cost) {
		/* The search's running cost and the path's must agree; a mismatch is a bug. */
		rv = stn__fail(eb, STN_ESTATE, "ged: internal cost mismatch (%llu != %llu)",
			       (unsigned long long)out->cost, (unsigned long long)cost);
		goto out_free;
	}
	denom = (uint64_t)g1->n + g2->n + g1->m + g2->m;
	out->normalised = denom == 0 ? 0.0 : (double)out->cost / (double)denom;
out_free:
	if (rv != STN_OK)
		stn__ged_result_fini(out);
	stn__free(map);
	stn__free(scratch);
	return rv;
}

static void resolve_opts(const stn_ged_opts *in, stn_ged_opts *o)
{
	*o = in != NULL ? *in : stn__ged_opts_default();
	if (o->exact_max_nodes == 0)
		o->exact_max_nodes = STN_GED_DEFAULT_EXACT_MAX_NODES;
	if (o->max_expansions == 0)
		o->max_expansions = STN_GED_DEFAULT_MAX_EXPANSIONS;
}

stn_status stn__ged_compute(const stn_dag *g1, const stn_dag *g2, const stn_ged_opts *opts,
			    stn_ged_result *out, stn_errbuf *eb)
{
	gview v1, v2;
	stn_ged_opts o;
	stn_status rv;

	memset(out, 0, sizeof(*out));
	if (g1 == NULL || g2 == NULL)
		return stn__fail(eb, STN_EINVAL, "ged: NULL graph");
	if (opts != NULL && (unsigned)opts->method > (unsigned)STN_GED_APPROX)
		return stn__fail(eb, STN_EINVAL, "ged: unknown method");
	resolve_opts(opts, &o);
	rv = view_build(&v1, g1, "first graph", eb);
	if (rv != STN_OK)
		return rv;
	rv = view_build(&v2, g2, "second graph", eb);
	if (rv != STN_OK)
		goto out_fini_v1;
	rv = ged_views(&v1, &v2, &o, out, eb);
	view_fini(&v2);
out_fini_v1:
	view_fini(&v1);
	return rv;
}

uint64_t stn__ged_lower_bound(const stn_dag *g1, const stn_dag *g2)
{
	uint32_t k1[KINDS] = {0}, k2[KINDS] = {0}, p1[PARTS] = {0}, p2[PARTS] = {0};

	for (size_t i = 0; i < g1->n_ops; i++)
		if ((unsigned)g1->ops[i].kind < KINDS)
			k1[g1->ops[i].kind]++;
	for (size_t i = 0; i < g2->n_ops; i++)
		if ((unsigned)g2->ops[i].kind < KINDS)
			k2[g2->ops[i].kind]++;
	for (size_t e = 0; e < g1->n_edges; e++)
		if ((unsigned)g1->edges[e].part < PARTS)
			p1[g1->edges[e].part]++;
	for (size_t e = 0; e < g2->n_edges; e++)
		if ((unsigned)g2->edges[e].part < PARTS)
			p2[g2->edges[e].part]++;
	return (uint64_t)multiset_cost(k1, k2, KINDS) + multiset_cost(p1, p2, PARTS);
}

/* ---- Distance matrix ---------------------------------------------------------------------- */

/* Prepared views of every DAG are kept when their adjacency matrices fit in this many cells;
 * otherwise each pair prepares its own. */
#define MATRIX_VIEW_CELLS (16u * 1024u * 1024u)
#define MATRIX_CHUNK 8u

typedef struct matrix_job {
	const stn_dag *const *dags;
	const gview *views;      /* n entries or NULL */
	size_t n;
	stn_ged_opts opts;
	double *norm;
	uint64_t *raw;
	const uint64_t *row_start; /* n + 1: index of the first pair (i, i+1) of row i */
	uint64_t total;
	pthread_mutex_t lock;    /* guards everything below */
	uint64_t next;           /* next unclaimed pair */
	uint64_t done;
	uint64_t reported;       /* progress steps reported */
	bool failed;
	uint64_t fail_pair;
	stn_status fail_rv;
	stn_errbuf fail_eb;
	stn_ged_progress_fn progress;
	void *progress_user;
	stn_ged_matrix_stats stats;
} matrix_job;

/* Row of pair p: the last row whose first pair is <= p. */
static size_t pair_row(const matrix_job *j, uint64_t p)
{
	size_t lo = 0, hi = j->n - 1; /* row n-1 has no pairs; p < total keeps us below it */

	while (lo + 1 < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (j->row_start[mid] <= p)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

static stn_status matrix_pair(matrix_job *j, size_t a, size_t b, stn_ged_result *r,
			      stn_errbuf *eb)
{
	gview va, vb;
	stn_status rv;

	if (j->views != NULL)
		return ged_views(&j->views[a], &j->views[b], &j->opts, r, eb);
	rv = view_build(&va, j->dags[a], "a graph", eb);
	if (rv != STN_OK)
		return rv;
	rv = view_build(&vb, j->dags[b], "a graph", eb);
	if (rv == STN_OK) {
		rv = ged_views(&va, &vb, &j->opts, r, eb);
		view_fini(&vb);
	}
	view_fini(&va);
	return rv;
}

static void *matrix_worker(void *arg)
{
	matrix_job *j = arg;

	for (;;) {
		uint64_t p0, p1, exact = 0, expansions = 0;
		size_t a, b;

		pthread_mutex_lock(&j->lock);
		if (j->failed || j->next >= j->total) {
			pthread_mutex_unlock(&j->lock);
			break;
		}
		p0 = j->next;
		p1 = p0 + MATRIX_CHUNK < j->total ? p0 + MATRIX_CHUNK : j->total;
		j->next = p1;
		pthread_mutex_unlock(&j->lock);

		a = pair_row(j, p0);
		b = a + 1u + (size_t)(p0 - j->row_start[a]);
		for (uint64_t p = p0; p < p1; p++) {
			stn_ged_result r;
			stn_errbuf eb = {{0}};
			stn_status rv;

			if (b >= j->n) {
				a++;
				b = a + 1u;
			}
			rv = matrix_pair(j, a, b, &r, &eb);
			if (rv != STN_OK) {
				pthread_mutex_lock(&j->lock);
				if (!j->failed || p < j->fail_pair) {
					j->failed = true;
					j->fail_pair = p;
					j->fail_rv = rv;
					snprintf(j->fail_eb.text, sizeof(j->fail_eb.text),
						 "pair (%zu, %zu): %.400s", a, b, eb.text);
				}
				pthread_mutex_unlock(&j->lock);
				break;
			}
			j->norm[a * j->n + b] = r.normalised;
			j->norm[b * j->n + a] = r.normalised;
			if (j->raw != NULL) {
				j->raw[a * j->n + b] = r.cost;
				j->raw[b * j->n + a] = r.cost;
			}
			exact += r.exact;
			expansions += r.expansions;
			stn__ged_result_fini(&r);
			b++;
		}
		pthread_mutex_lock(&j->lock);
		j->done += p1 - p0;
		j->stats.exact_pairs += exact;
		j->stats.expansions += expansions;
		if (j->progress != NULL && !j->failed) {
			uint64_t step = j->done * 200u / j->total;

			if (step > j->reported) {
				j->reported = step;
				j->progress(j->progress_user, j->done, j->total);
			}
		}
		pthread_mutex_unlock(&j->lock);
	}
	return NULL;
}

stn_status stn__ged_matrix(const stn_dag *const *dags, size_t n, const stn_ged_opts *opts,
			   unsigned threads, double *norm, uint64_t *raw,
			   stn_ged_progress_fn progress, void *progress_user,
			   stn_ged_matrix_stats *stats, stn_errbuf *eb)
{
	matrix_job j;
	gview *views = NULL;
	uint64_t *row_start = NULL, cells = 0;
	pthread_t tids[STN_GED_MAX_THREADS];
	unsigned started = 0;
	size_t n_views = 0;
	stn_status rv = STN_OK;

	if (stats != NULL)
		memset(stats, 0, sizeof(*stats));
	if ((n > 0 && (dags == NULL || norm == NULL)) ||
	    (opts != NULL && (unsigned)opts->method > (unsigned)STN_GED_APPROX))
		return stn__fail(eb, STN_EINVAL, "ged matrix: bad arguments");
	if (n > STN_GED_MATRIX_MAX_DAGS)
		return stn__fail(eb, STN_ETOOBIG, "ged matrix: %zu graphs, limit %u", n,
				 STN_GED_MATRIX_MAX_DAGS);
	if (threads == 0)
		threads = 2;
	if (threads > STN_GED_MAX_THREADS)
		threads = STN_GED_MAX_THREADS;
	for (size_t i = 0; i < n; i++) {
		if (dags[i] == NULL)
			return stn__fail(eb, STN_EINVAL, "ged matrix: graph %zu is NULL", i);
		norm[i * n + i] = 0.0;
		if (raw != NULL)
			raw[i * n + i] = 0;
		cells += (uint64_t)dags[i]->n_ops * dags[i]->n_ops;
	}
	memset(&j, 0, sizeof(j));
	j.total = (uint64_t)n * (n > 0 ? n - 1 : 0) / 2;
	if (stats != NULL)
		stats->pairs = j.total;
	if (j.total == 0)
		return STN_OK;
	row_start = stn__malloc_array(n + 1, sizeof(uint64_t));
	if (row_start == NULL)
		return stn__fail(eb, STN_ENOMEM, "ged matrix: out of memory");
	row_start[0] = 0;
	for (size_t i = 0; i < n; i++)
		row_start[i + 1] = row_start[i] + (n - 1 - i);
	if (cells <= MATRIX_VIEW_CELLS) {
		views = stn__calloc(n, sizeof(gview));
		if (views == NULL) {
			rv = stn__fail(eb, STN_ENOMEM, "ged matrix: out of memory");
			goto out_free;
		}
		for (; n_views < n; n_views++) {
			stn_errbuf veb = {{0}};

			rv = view_build(&views[n_views], dags[n_views], "a graph", &veb);
			if (rv != STN_OK) {
				stn__fail(eb, rv, "graph %zu: %.480s", n_views, veb.text);
				goto out_free;
			}
		}
	}
	j.dags = dags;
	j.views = views;
	j.n = n;
	resolve_opts(opts, &j.opts);
	j.opts.want_path = false;
	j.norm = norm;
	j.raw = raw;
	j.row_start = row_start;
	j.progress = progress;
	j.progress_user = progress_user;
	if (pthread_mutex_init(&j.lock, NULL) != 0) {
		rv = stn__fail(eb, STN_ENOMEM, "ged matrix: cannot create a lock");
		goto out_free;
	}
	for (unsigned t = 1; t < threads; t++) {
		if (pthread_create(&tids[t], NULL, matrix_worker, &j) != 0)
			break; /* fewer helpers: the calling thread still finishes the work */
		started++;
	}
	matrix_worker(&j);
	for (unsigned t = 0; t < started; t++)
		pthread_join(tids[t + 1], NULL);
	pthread_mutex_destroy(&j.lock);
	if (j.failed) {
		rv = stn__fail(eb, j.fail_rv, "ged matrix: %.480s", j.fail_eb.text);
		goto out_free;
	}
	if (stats != NULL) {
		stats->exact_pairs = j.stats.exact_pairs;
		stats->expansions = j.stats.expansions;
	}
out_free:
	for (size_t i = 0; i < n_views; i++)
		view_fini(&views[i]);
	stn__free(views);
	stn__free(row_start);
	return rv;
}
