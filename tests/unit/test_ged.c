/* ged: exact distance against brute force over all node mappings, metric properties, the
 * approximation as an upper bound, edit paths that really turn g1 into g2, the expansion
 * budget, the parallel matrix, limits and allocation failures. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "dag.h"
#include "ged.h"
#include "nn.h"

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(undefined_behavior_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

#define NMAX 16

/* ---- graphs -------------------------------------------------------------------------------- */

static void add_op(stn_dag *d, stn_op_kind kind)
{
	stn_errbuf eb = {{0}};
	stn_op op;

	memset(&op, 0, sizeof(op));
	op.id = (uint32_t)d->n_ops;
	op.kind = kind;
	op.selectivity = 1.0;
	op.parallelism = 1;
	op.p_max = 1;
	assert_int_equal(stn__dag_add_op(d, &op, &eb), STN_OK);
}

static void add_edge(stn_dag *d, uint32_t a, uint32_t b, stn_partitioning p)
{
	stn_errbuf eb = {{0}};

	assert_int_equal(stn__dag_add_edge(d, a, b, p, &eb), STN_OK);
}

/* A random DAG of n nodes over a small label alphabet (so that equal labels are common and
 * the mapping matters), edges forward in a hidden order, node indices shuffled. */
static void random_dag(stn_dag *d, uint32_t n, uint32_t kinds, uint32_t parts, double p_edge,
		       stn_rng *r)
{
	uint32_t perm[NMAX];

	stn__dag_init(d);
	for (uint32_t i = 0; i < n; i++) {
		uint32_t k = (uint32_t)stn__rng_below(r, i + 1);

		perm[i] = perm[k];
		perm[k] = i;
	}
	for (uint32_t i = 0; i < n; i++)
		add_op(d, (stn_op_kind)stn__rng_below(r, kinds));
	for (uint32_t i = 0; i < n; i++)
		for (uint32_t j = i + 1; j < n; j++)
			if (stn__rng_uniform(r) < p_edge)
				add_edge(d, perm[i], perm[j],
					 (stn_partitioning)stn__rng_below(r, parts));
}

/* A copy with node indices permuted (an isomorphic graph). */
static void permuted_copy(stn_dag *out, const stn_dag *d, stn_rng *r)
{
	uint32_t perm[NMAX], inv[NMAX];
	uint32_t n = (uint32_t)d->n_ops;

	for (uint32_t i = 0; i < n; i++) {
		uint32_t k = (uint32_t)stn__rng_below(r, i + 1);

		perm[i] = perm[k];
		perm[k] = i;
	}
	for (uint32_t i = 0; i < n; i++)
		inv[perm[i]] = i;
	stn__dag_init(out);
	for (uint32_t i = 0; i < n; i++)
		add_op(out, d->ops[inv[i]].kind);
	/* Edges in reverse order too, so nothing depends on edge order. */
	for (size_t e = d->n_edges; e-- > 0;)
		add_edge(out, perm[d->edges[e].from], perm[d->edges[e].to], d->edges[e].part);
}

/* ---- brute force --------------------------------------------------------------------------- */

typedef struct brute {
	const stn_dag *g1, *g2;
	int adj2[NMAX][NMAX]; /* part + 1, 0: none */
	uint32_t map[NMAX];   /* g2 node or NMAX (deleted) */
	int used[NMAX];
	uint64_t best;
} brute;

/* The full cost of a complete mapping, straight from the definition. */
static uint64_t brute_cost(const brute *b)
{
	const stn_dag *g1 = b->g1, *g2 = b->g2;
	int image_of_edge[NMAX][NMAX];
	uint64_t c = 0;

	memset(image_of_edge, 0, sizeof(image_of_edge));
	for (size_t i = 0; i < g1->n_ops; i++)
		c += b->map[i] == NMAX ? 1u : (g1->ops[i].kind != g2->ops[b->map[i]].kind);
	for (size_t j = 0; j < g2->n_ops; j++)
		c += !b->used[j];
	for (size_t e = 0; e < g1->n_edges; e++) {
		uint32_t x = b->map[g1->edges[e].from], y = b->map[g1->edges[e].to];

		if (x == NMAX || y == NMAX || b->adj2[x][y] == 0) {
			c += 1;
			continue;
		}
		image_of_edge[x][y] = 1;
		c += (int)g1->edges[e].part + 1 != b->adj2[x][y];
	}
	for (size_t e = 0; e < g2->n_edges; e++)
		c += !image_of_edge[g2->edges[e].from][g2->edges[e].to];
	return c;
}

static void brute_rec(brute *b, size_t i)
{
	if (i == b->g1->n_ops) {
		uint64_t c = brute_cost(b);

		if (c < b->best)
			b->best = c;
		return;
	}
	b->map[i] = NMAX;
	brute_rec(b, i + 1);
	for (size_t j = 0; j < b->g2->n_ops; j++) {
		if (b->used[j])
			continue;
		b->used[j] = 1;
		b->map[i] = (uint32_t)j;
		brute_rec(b, i + 1);
		b->used[j] = 0;
	}
}

/* Minimum over every injective partial mapping of g1's nodes into g2's. */
static uint64_t brute_ged(const stn_dag *g1, const stn_dag *g2)
{
	brute b;

	memset(&b, 0, sizeof(b));
	b.g1 = g1;
	b.g2 = g2;
	b.best = UINT64_MAX;
	for (size_t e = 0; e < g2->n_edges; e++)
		b.adj2[g2->edges[e].from][g2->edges[e].to] = (int)g2->edges[e].part + 1;
	brute_rec(&b, 0);
	return b.best;
}

/* ---- edit path check ----------------------------------------------------------------------- */

/* Applies the path to g1 and checks the outcome is exactly g2, that every element is edited
 * once, and that the op costs are right and add up to the result's cost. */
static void check_path(const stn_dag *g1, const stn_dag *g2, const stn_ged_result *r)
{
	size_t n1 = g1->n_ops, n2 = g2->n_ops;
	uint32_t *rename = calloc(n1 + 1, sizeof(uint32_t));   /* g1 node -> g2 node or NONE */
	int *node_seen = calloc(n1 + 1, sizeof(int));
	int *name_taken = calloc(n2 + 1, sizeof(int));
	int *e1_op = calloc(g1->n_edges + 1, sizeof(int));    /* 0 none, 1 sub, 2 del */
	uint32_t *e1_to = calloc(g1->n_edges + 1, sizeof(uint32_t));
	int *e2_seen = calloc(g2->n_edges + 1, sizeof(int));
	int *result_adj = calloc(n2 * n2 + 1, sizeof(int));  /* part + 1 */
	uint64_t sum = 0;

	assert_non_null(rename);
	assert_non_null(result_adj);
	for (size_t i = 0; i < n1; i++)
		rename[i] = UINT32_MAX;
	for (size_t k = 0; k < r->n_path; k++) {
		const stn_ged_op *op = &r->path[k];
		uint32_t want;

		switch (op->type) {
		case STN_GED_NODE_SUB:
			assert_true(op->a < n1 && op->b < n2);
			assert_false(node_seen[op->a]);
			assert_false(name_taken[op->b]);
			node_seen[op->a] = 1;
			name_taken[op->b] = 1;
			rename[op->a] = op->b;
			want = g1->ops[op->a].kind != g2->ops[op->b].kind;
			break;
		case STN_GED_NODE_DEL:
			assert_true(op->a < n1);
			assert_false(node_seen[op->a]);
			node_seen[op->a] = 1;
			want = 1;
			break;
		case STN_GED_NODE_INS:
			assert_true(op->b < n2);
			assert_false(name_taken[op->b]);
			name_taken[op->b] = 1;
			want = 1;
			break;
		case STN_GED_EDGE_SUB:
			assert_true(op->a < g1->n_edges && op->b < g2->n_edges);
			assert_int_equal(e1_op[op->a], 0);
			assert_false(e2_seen[op->b]);
			e1_op[op->a] = 1;
			e1_to[op->a] = op->b;
			e2_seen[op->b] = 1;
			want = g1->edges[op->a].part != g2->edges[op->b].part;
			break;
		case STN_GED_EDGE_DEL:
			assert_true(op->a < g1->n_edges);
			assert_int_equal(e1_op[op->a], 0);
			e1_op[op->a] = 2;
			want = 1;
			break;
		case STN_GED_EDGE_INS:
			assert_true(op->b < g2->n_edges);
			assert_false(e2_seen[op->b]);
			e2_seen[op->b] = 2;
			want = 1;
			break;
		default:
			fail_msg("unknown op type %d", (int)op->type);
			return;
		}
		assert_int_equal(op->cost, want);
		sum += want;
	}
	assert_int_equal(sum, r->cost);
	/* Every node of both graphs accounted for. */
	for (size_t i = 0; i < n1; i++)
		assert_true(node_seen[i]);
	for (size_t j = 0; j < n2; j++)
		assert_true(name_taken[j]);
	/* Apply: g1's edges follow their endpoints' renaming, with the new partitioning if
	 * substituted; an edge that is kept must not touch a deleted node; inserted edges join
	 * existing nodes. */
	for (size_t e = 0; e < g1->n_edges; e++) {
		uint32_t x, y;

		assert_int_not_equal(e1_op[e], 0);
		if (e1_op[e] == 2)
			continue;
		x = rename[g1->edges[e].from];
		y = rename[g1->edges[e].to];
		assert_int_not_equal(x, UINT32_MAX);
		assert_int_not_equal(y, UINT32_MAX);
		/* The substituted edge must be the g2 edge between the renamed endpoints. */
		assert_int_equal(g2->edges[e1_to[e]].from, x);
		assert_int_equal(g2->edges[e1_to[e]].to, y);
		assert_int_equal(result_adj[x * n2 + y], 0);
		result_adj[x * n2 + y] = (int)g2->edges[e1_to[e]].part + 1;
	}
	for (size_t e = 0; e < g2->n_edges; e++) {
		assert_true(e2_seen[e]);
		if (e2_seen[e] != 2)
			continue;
		assert_int_equal(result_adj[g2->edges[e].from * n2 + g2->edges[e].to], 0);
		result_adj[g2->edges[e].from * n2 + g2->edges[e].to] = (int)g2->edges[e].part + 1;
	}
	/* The result, on g2's node names, is g2: labels by construction of SUB/INS above (the
	 * label of name b is g2's), edges compared exactly. */
	{
		size_t edges = 0;

		for (size_t x = 0; x < n2 * n2; x++)
			edges += result_adj[x] != 0;
		assert_int_equal(edges, g2->n_edges);
		for (size_t e = 0; e < g2->n_edges; e++)
			assert_int_equal(result_adj[g2->edges[e].from * n2 + g2->edges[e].to],
					 (int)g2->edges[e].part + 1);
	}
	free(rename);
	free(node_seen);
	free(name_taken);
	free(e1_op);
	free(e1_to);
	free(e2_seen);
	free(result_adj);
}

static stn_ged_result ged(const stn_dag *a, const stn_dag *b, stn_ged_method m)
{
	stn_ged_opts o = stn__ged_opts_default();
	stn_ged_result r;
	stn_errbuf eb = {{0}};
	stn_status rv;

	o.method = m;
	rv = stn__ged_compute(a, b, &o, &r, &eb);
	if (rv != STN_OK)
		fail_msg("ged failed: %s", eb.text);
	return r;
}

/* ---- tests --------------------------------------------------------------------------------- */

/* Exact equals brute force on 2,000 random pairs up to 7 nodes (6 in sanitizer builds, where
 * brute force is several times slower); the approximation is never below, paths check out. */
static void test_exact_equals_brute_force(void **state)
{
	const uint32_t max_nodes = SANITIZED ? 6 : 7;
	const size_t pairs = 2000;
	stn_rng r;
	double excess = 0.0, rel_excess = 0.0;
	size_t approx_exact = 0, nonzero = 0;

	(void)state;
	stn__rng_seed(&r, 20261125);
	for (size_t t = 0; t < pairs; t++) {
		stn_dag a, b;
		uint32_t na = (uint32_t)stn__rng_below(&r, max_nodes + 1);
		uint32_t nb = (uint32_t)stn__rng_below(&r, max_nodes + 1);
		uint32_t kinds = 2 + (uint32_t)stn__rng_below(&r, 4);
		uint32_t parts = 1 + (uint32_t)stn__rng_below(&r, 3);
		double p = 0.2 + 0.5 * stn__rng_uniform(&r);
		stn_ged_result ex, ap;
		uint64_t bf;

		random_dag(&a, na, kinds, parts, p, &r);
		random_dag(&b, nb, kinds, parts, p, &r);
		bf = brute_ged(&a, &b);
		ex = ged(&a, &b, STN_GED_EXACT);
		ap = ged(&a, &b, STN_GED_APPROX);
		if (ex.cost != bf)
			fail_msg("pair %zu (%u, %u nodes): exact %llu, brute force %llu", t, na, nb,
				 (unsigned long long)ex.cost, (unsigned long long)bf);
		assert_true(ex.exact);
		assert_true(ap.cost >= ex.cost);
		assert_true(stn__ged_lower_bound(&a, &b) <= ex.cost);
		check_path(&a, &b, &ex);
		check_path(&a, &b, &ap);
		excess += (double)(ap.cost - ex.cost);
		if (ex.cost > 0) {
			rel_excess += (double)(ap.cost - ex.cost) / (double)ex.cost;
			nonzero++;
		}
		approx_exact += ap.cost == ex.cost;
		{
			size_t denom = na + nb + a.n_edges + b.n_edges;

			assert_true(ex.normalised >= 0.0 && ex.normalised <= 1.0);
			if (denom > 0)
				assert_true(ex.normalised == (double)ex.cost / (double)denom);
		}
		stn__ged_result_fini(&ex);
		stn__ged_result_fini(&ap);
		stn__dag_fini(&a);
		stn__dag_fini(&b);
	}
	printf("ged: %zu pairs up to %u nodes: exact == brute force; approximation mean excess "
	       "%.4f edits (%.2f%% relative), optimal in %.1f%% of pairs\n",
	       pairs, max_nodes, excess / (double)pairs,
	       nonzero ? 100.0 * rel_excess / (double)nonzero : 0.0,
	       100.0 * (double)approx_exact / (double)pairs);
}

/* Symmetry, identity of indiscernibles (isomorphic copies at 0, different graphs above 0) and
 * the triangle inequality of the raw exact distance. */
static void test_metric_properties(void **state)
{
	stn_rng r;
	size_t triples = SANITIZED ? 150 : 400, zero_pairs = 0;

	(void)state;
	stn__rng_seed(&r, 7);
	for (size_t t = 0; t < triples; t++) {
		stn_dag g[3], iso;
		uint64_t d[3][3];
		stn_ged_result res;

		for (int i = 0; i < 3; i++)
			random_dag(&g[i], 1 + (uint32_t)stn__rng_below(&r, 8), 3, 2, 0.35, &r);
		/* Sometimes make two of them isomorphic to exercise d = 0 between distinct
		 * objects. */
		if (t % 5 == 0) {
			stn__dag_fini(&g[1]);
			permuted_copy(&g[1], &g[0], &r);
		}
		for (int i = 0; i < 3; i++)
			for (int j = 0; j < 3; j++) {
				res = ged(&g[i], &g[j], STN_GED_EXACT);
				assert_true(res.exact);
				d[i][j] = res.cost;
				if (i == j)
					assert_int_equal(res.cost, 0);
				if (res.cost == 0) {
					/* Zero cost means every op in the path is free: an
					 * isomorphism, which check_path verifies by applying. */
					for (size_t k = 0; k < res.n_path; k++)
						assert_int_equal(res.path[k].cost, 0);
					zero_pairs += i != j;
				}
				check_path(&g[i], &g[j], &res);
				stn__ged_result_fini(&res);
			}
		for (int i = 0; i < 3; i++)
			for (int j = 0; j < 3; j++) {
				assert_int_equal(d[i][j], d[j][i]);
				for (int k = 0; k < 3; k++)
					assert_true(d[i][k] <= d[i][j] + d[j][k]);
			}
		/* Different node or edge counts can never be at distance 0. */
		if (g[0].n_ops != g[2].n_ops || g[0].n_edges != g[2].n_edges)
			assert_true(d[0][2] > 0);
		permuted_copy(&iso, &g[2], &r);
		res = ged(&g[2], &iso, STN_GED_EXACT);
		assert_int_equal(res.cost, 0);
		stn__ged_result_fini(&res);
		stn__dag_fini(&iso);
		for (int i = 0; i < 3; i++)
			stn__dag_fini(&g[i]);
	}
	assert_true(zero_pairs > 0);
}

/* A fixed example with a known answer: a chain source->map->sink (forward edges) against
 * source->filter->sink with the second edge hashed: one node relabel + one edge relabel. */
static void test_known_example(void **state)
{
	stn_dag a, b, empty;
	stn_ged_result res;

	(void)state;
	stn__dag_init(&a);
	stn__dag_init(&b);
	stn__dag_init(&empty);
	add_op(&a, STN_KIND_SOURCE);
	add_op(&a, STN_KIND_MAP);
	add_op(&a, STN_KIND_SINK);
	add_edge(&a, 0, 1, STN_PART_FORWARD);
	add_edge(&a, 1, 2, STN_PART_FORWARD);
	add_op(&b, STN_KIND_SINK);
	add_op(&b, STN_KIND_FILTER);
	add_op(&b, STN_KIND_SOURCE);
	add_edge(&b, 2, 1, STN_PART_FORWARD);
	add_edge(&b, 1, 0, STN_PART_HASH);
	res = ged(&a, &b, STN_GED_AUTO);
	assert_int_equal(res.cost, 2);
	assert_true(res.exact);
	assert_true(res.normalised == 2.0 / 10.0);
	/* The path maps source->source, map->filter, sink->sink. */
	assert_int_equal(res.path[0].type, STN_GED_NODE_SUB);
	assert_int_equal(res.path[0].b, 2);
	assert_int_equal(res.path[1].b, 1);
	assert_int_equal(res.path[1].cost, 1);
	assert_int_equal(res.path[2].b, 0);
	check_path(&a, &b, &res);
	stn__ged_result_fini(&res);
	/* Against the empty graph: delete everything; both ways. */
	res = ged(&a, &empty, STN_GED_AUTO);
	assert_int_equal(res.cost, 5);
	assert_true(res.normalised == 1.0);
	check_path(&a, &empty, &res);
	stn__ged_result_fini(&res);
	res = ged(&empty, &b, STN_GED_AUTO);
	assert_int_equal(res.cost, 5);
	check_path(&empty, &b, &res);
	stn__ged_result_fini(&res);
	res = ged(&empty, &empty, STN_GED_AUTO);
	assert_int_equal(res.cost, 0);
	assert_true(res.normalised == 0.0);
	assert_int_equal(res.n_path, 0);
	stn__ged_result_fini(&res);
	/* Direction matters: a reversed edge is a delete plus an insert. */
	stn__dag_fini(&b);
	stn__dag_init(&b);
	add_op(&b, STN_KIND_SOURCE);
	add_op(&b, STN_KIND_SOURCE);
	add_edge(&b, 0, 1, STN_PART_FORWARD);
	stn__dag_fini(&empty);
	stn__dag_init(&empty);
	add_op(&empty, STN_KIND_SOURCE);
	add_op(&empty, STN_KIND_SOURCE);
	add_edge(&empty, 1, 0, STN_PART_FORWARD);
	res = ged(&b, &empty, STN_GED_EXACT);
	assert_int_equal(res.cost, 0); /* same shape: swap the two sources */
	stn__ged_result_fini(&res);
	stn__dag_fini(&a);
	stn__dag_fini(&b);
	stn__dag_fini(&empty);
}

/* 10-12 node pairs: the exact search finishes within its default budget, is symmetric, lies
 * between the lower bound and the approximation, and its path is valid. */
static void test_exact_larger(void **state)
{
	stn_rng r;
	size_t pairs = SANITIZED ? 20 : 60, unproven = 0;

	(void)state;
	stn__rng_seed(&r, 99);
	for (size_t t = 0; t < pairs; t++) {
		stn_dag a, b;
		stn_ged_result ab, ba, ap;

		random_dag(&a, 10 + (uint32_t)stn__rng_below(&r, 3), 6, 3, 0.25, &r);
		random_dag(&b, 10 + (uint32_t)stn__rng_below(&r, 3), 6, 3, 0.25, &r);
		ab = ged(&a, &b, STN_GED_AUTO);
		ba = ged(&b, &a, STN_GED_AUTO);
		ap = ged(&a, &b, STN_GED_APPROX);
		assert_true(ab.cost <= ap.cost);
		assert_true(ab.cost >= stn__ged_lower_bound(&a, &b));
		if (ab.exact && ba.exact)
			assert_int_equal(ab.cost, ba.cost);
		else
			unproven++;
		check_path(&a, &b, &ab);
		check_path(&b, &a, &ba);
		stn__ged_result_fini(&ab);
		stn__ged_result_fini(&ba);
		stn__ged_result_fini(&ap);
		stn__dag_fini(&a);
		stn__dag_fini(&b);
	}
	printf("ged: %zu pairs of 10-12 nodes, %zu not proven within the budget\n", pairs,
	       unproven);
	assert_true(unproven * 10 <= pairs);
}

/* A tiny budget stops the search: the result is flagged inexact, still an edit path, and no
 * worse than the approximation. */
static void test_budget_fallback(void **state)
{
	stn_rng r;
	stn_dag a, b;
	stn_ged_opts o = stn__ged_opts_default();
	stn_ged_result res, ap;
	stn_errbuf eb = {{0}};
	bool stopped = false;

	(void)state;
	stn__rng_seed(&r, 5);
	for (int attempt = 0; attempt < 20 && !stopped; attempt++) {
		random_dag(&a, 12, 3, 2, 0.3, &r);
		random_dag(&b, 12, 3, 2, 0.3, &r);
		o.max_expansions = 5;
		assert_int_equal(stn__ged_compute(&a, &b, &o, &res, &eb), STN_OK);
		ap = ged(&a, &b, STN_GED_APPROX);
		assert_true(res.cost <= ap.cost);
		assert_true(res.expansions <= 5);
		check_path(&a, &b, &res);
		stopped = !res.exact;
		stn__ged_result_fini(&res);
		stn__ged_result_fini(&ap);
		stn__dag_fini(&a);
		stn__dag_fini(&b);
	}
	assert_true(stopped);
}

/* The approximation on large graphs: an upper bound above the lower bound, a valid path. */
static void test_approx_large(void **state)
{
	stn_rng r;
	stn_dag a, b;
	stn_ged_result res;

	(void)state;
	stn__rng_seed(&r, 11);
	stn__dag_init(&a);
	stn__dag_init(&b);
	/* Layered graphs of 120 and 150 nodes. */
	for (uint32_t i = 0; i < 120; i++)
		add_op(&a, (stn_op_kind)stn__rng_below(&r, STN_KIND_COUNT));
	for (uint32_t i = 0; i < 150; i++)
		add_op(&b, (stn_op_kind)stn__rng_below(&r, STN_KIND_COUNT));
	for (uint32_t i = 1; i < 120; i++)
		add_edge(&a, (uint32_t)stn__rng_below(&r, i), i,
			 (stn_partitioning)stn__rng_below(&r, STN_PART_COUNT));
	for (uint32_t i = 1; i < 150; i++)
		add_edge(&b, (uint32_t)stn__rng_below(&r, i), i,
			 (stn_partitioning)stn__rng_below(&r, STN_PART_COUNT));
	res = ged(&a, &b, STN_GED_AUTO); /* above 12 nodes: approximation */
	assert_int_equal(res.expansions, 0);
	assert_true(res.cost >= stn__ged_lower_bound(&a, &b));
	assert_true(res.cost <= 120 + 150 + 119 + 149);
	check_path(&a, &b, &res);
	stn__ged_result_fini(&res);
	/* A graph against itself: the assignment finds the identity (cost 0). */
	res = ged(&a, &a, STN_GED_APPROX);
	assert_int_equal(res.cost, 0);
	stn__ged_result_fini(&res);
	stn__dag_fini(&a);
	stn__dag_fini(&b);
}

static void count_progress(void *user, uint64_t done, uint64_t total)
{
	uint64_t *calls = user;

	assert_true(done <= total);
	(*calls)++;
}

/* The matrix: symmetric, zero diagonal, equal to pairwise calls, identical for 1 and 2
 * threads. */
static void test_matrix(void **state)
{
	enum { N = 40 };
	stn_dag dags[N];
	const stn_dag *ptr[N];
	double *n1 = calloc(N * N, sizeof(double)), *n2 = calloc(N * N, sizeof(double));
	uint64_t *r1 = calloc(N * N, sizeof(uint64_t)), *r2 = calloc(N * N, sizeof(uint64_t));
	stn_ged_matrix_stats st;
	stn_errbuf eb = {{0}};
	stn_rng r;
	uint64_t calls = 0;

	(void)state;
	assert_non_null(n1);
	assert_non_null(r2);
	stn__rng_seed(&r, 3);
	for (int i = 0; i < N; i++) {
		random_dag(&dags[i], 3 + (uint32_t)stn__rng_below(&r, 8), 4, 2, 0.3, &r);
		ptr[i] = &dags[i];
	}
	assert_int_equal(stn__ged_matrix(ptr, N, NULL, 1, n1, r1, NULL, NULL, &st, &eb), STN_OK);
	assert_int_equal(st.pairs, N * (N - 1) / 2);
	assert_int_equal(st.exact_pairs, st.pairs);
	assert_int_equal(stn__ged_matrix(ptr, N, NULL, 2, n2, r2, count_progress, &calls, NULL,
					 &eb),
			 STN_OK);
	assert_true(calls > 0 && calls <= 200);
	assert_memory_equal(n1, n2, N * N * sizeof(double));
	assert_memory_equal(r1, r2, N * N * sizeof(uint64_t));
	for (int i = 0; i < N; i++) {
		assert_true(n1[i * N + i] == 0.0);
		for (int j = i + 1; j < N; j += 7) {
			stn_ged_result res = ged(&dags[i], &dags[j], STN_GED_AUTO);

			assert_int_equal(r1[i * N + j], res.cost);
			assert_int_equal(r1[j * N + i], res.cost);
			assert_true(n1[i * N + j] == res.normalised);
			stn__ged_result_fini(&res);
		}
	}
	/* A bad graph in the middle fails the whole matrix with its pair named. */
	dags[17].edges[0].part = (stn_partitioning)99;
	assert_int_equal(stn__ged_matrix(ptr, N, NULL, 2, n2, NULL, NULL, NULL, NULL, &eb),
			 STN_EGRAPH);
	assert_non_null(strstr(eb.text, "17"));
	dags[17].edges[0].part = STN_PART_FORWARD;
	for (int i = 0; i < N; i++)
		stn__dag_fini(&dags[i]);
	free(n1);
	free(n2);
	free(r1);
	free(r2);
}

/* Bad labels, edges and sizes are errors, not crashes. */
static void test_limits_and_errors(void **state)
{
	stn_dag a, b, big;
	stn_ged_result res;
	stn_errbuf eb = {{0}};
	stn_edge bad_edge = {0, 7, STN_PART_FORWARD};
	stn_ged_opts o = stn__ged_opts_default();

	(void)state;
	stn__dag_init(&a);
	stn__dag_init(&b);
	add_op(&a, STN_KIND_SOURCE);
	add_op(&a, STN_KIND_SINK);
	add_edge(&a, 0, 1, STN_PART_HASH);
	add_op(&b, STN_KIND_SOURCE);
	assert_int_equal(stn__ged_compute(NULL, &b, NULL, &res, &eb), STN_EINVAL);
	o.method = (stn_ged_method)7;
	assert_int_equal(stn__ged_compute(&a, &b, &o, &res, &eb), STN_EINVAL);
	a.ops[1].kind = (stn_op_kind)STN_KIND_COUNT;
	assert_int_equal(stn__ged_compute(&a, &b, NULL, &res, &eb), STN_EGRAPH);
	a.ops[1].kind = STN_KIND_SINK;
	a.edges[0] = bad_edge;
	assert_int_equal(stn__ged_compute(&b, &a, NULL, &res, &eb), STN_EGRAPH);
	assert_non_null(strstr(eb.text, "second graph"));
	a.edges[0].to = 1;
	/* More operators than the limit (built by hand: add_op would refuse). */
	memset(&big, 0, sizeof(big));
	big.n_ops = STN_DAG_MAX_OPS + 1;
	big.ops = calloc(big.n_ops, sizeof(stn_op));
	assert_non_null(big.ops);
	assert_int_equal(stn__ged_compute(&big, &a, NULL, &res, &eb), STN_ETOOBIG);
	free(big.ops);
	stn__dag_fini(&a);
	stn__dag_fini(&b);
}

/* Every allocation failing in turn gives STN_ENOMEM and leaks nothing (ASan checks). */
static void test_alloc_failures(void **state)
{
	stn_rng r;
	stn_dag a, b;
	stn_status rv = STN_ENOMEM;
	stn_errbuf eb = {{0}};

	(void)state;
	stn__rng_seed(&r, 1);
	random_dag(&a, 6, 3, 2, 0.4, &r);
	random_dag(&b, 7, 3, 2, 0.4, &r);
	for (uint64_t n = 1; n < 200 && rv == STN_ENOMEM; n++) {
		stn_ged_result res;

		stn__alloc_fail_after(n);
		rv = stn__ged_compute(&a, &b, NULL, &res, &eb);
		stn__alloc_fail_after(0);
		if (rv == STN_OK) {
			check_path(&a, &b, &res);
			stn__ged_result_fini(&res);
		} else {
			assert_int_equal(rv, STN_ENOMEM);
		}
	}
	assert_int_equal(rv, STN_OK);
	stn__dag_fini(&a);
	stn__dag_fini(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_example),
		cmocka_unit_test(test_exact_equals_brute_force),
		cmocka_unit_test(test_metric_properties),
		cmocka_unit_test(test_exact_larger),
		cmocka_unit_test(test_budget_fallback),
		cmocka_unit_test(test_approx_large),
		cmocka_unit_test(test_matrix),
		cmocka_unit_test(test_limits_and_errors),
		cmocka_unit_test(test_alloc_failures),
	};

	return cmocka_run_group_tests_name("ged", tests, NULL, NULL);
}
