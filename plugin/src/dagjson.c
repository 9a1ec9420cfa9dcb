/* dagjson: JSON text <-> stn_dag. A bounded recursive-descent parser over jsonlex's tokens
 * builds a small value tree (every node from one growing array, so releasing it is one free),
 * then the tree is walked into a DAG. The writer prints a fixed layout that the parser reads
 * back exactly. */
#include "dagjson.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "fileio.h"
#include "jsonlex.h"

/* ---- value tree ---------------------------------------------------------------------- */

typedef enum jtype { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ } jtype;

/* Arrays and objects list their children as a chain: first child, next sibling (indices
 * into the node array; 0 = none, node 0 being the root which is nobody's child). */
typedef struct jnode {
	jtype type;
	bool b;
	double num;
	size_t str_off, str_len; /* J_STR: decoded bytes in the string pool */
	size_t key_off, key_len; /* member of an object: its key */
	size_t first, next, count;
	size_t line, col;
} jnode;

typedef struct jparser {
	stn_jlex lex;
	jnode *nodes;
	size_t n_nodes, cap_nodes;
	char *pool;
	size_t pool_len, pool_cap;
	stn_errbuf *eb;
	stn_status st;
} jparser;

#define MAX_NODES 200000u

static stn_status perr(jparser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static stn_status perr(jparser *p, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	p->st = stn__fail(p->eb, STN_EPROTO, "JSON line %zu, column %zu: %s", p->lex.line,
			  stn__jlex_col(&p->lex), msg);
	return p->st;
}

/* A token the lexer refused: its reason, unless the pool ran out of memory first. */
static stn_status lex_error(jparser *p, const char *why)
{
	return p->st != STN_OK ? p->st : perr(p, "%s", why);
}

static stn_status new_node(jparser *p, jtype t, size_t *idx)
{
	if (p->n_nodes >= MAX_NODES) {
		p->st = stn__fail(p->eb, STN_ETOOBIG, "JSON has more than %u values", MAX_NODES);
		return p->st;
	}
	if (p->n_nodes == p->cap_nodes) {
		size_t cap = p->cap_nodes ? 2 * p->cap_nodes : 64;
		jnode *n = stn__realloc_array(p->nodes, cap, sizeof(*n));
		if (n == NULL) {
			p->st = stn__fail(p->eb, STN_ENOMEM, "out of memory parsing JSON");
			return p->st;
		}
		p->nodes = n;
		p->cap_nodes = cap;
	}
	*idx = p->n_nodes++;
	memset(&p->nodes[*idx], 0, sizeof(jnode));
	p->nodes[*idx].type = t;
	p->nodes[*idx].line = p->lex.line;
	p->nodes[*idx].col = stn__jlex_col(&p->lex);
	return STN_OK;
}

/* The lexer's string sink: appends to the pool. */
static const char *pool_put(void *ctx, const char *b, size_t n)
{
	jparser *p = ctx;
	if (p->pool_len + n + 1 > p->pool_cap) {
		size_t cap = p->pool_cap ? p->pool_cap : 256;
		while (cap < p->pool_len + n + 1)
			cap *= 2;
		char *q = stn__realloc(p->pool, cap);
		if (q == NULL) {
			p->st = stn__fail(p->eb, STN_ENOMEM, "out of memory parsing JSON");
			return "out of memory";
		}
		p->pool = q;
		p->pool_cap = cap;
	}
	memcpy(p->pool + p->pool_len, b, n);
	p->pool_len += n;
	return NULL;
}

/* A string at the cursor, decoded into the pool as a C string. */
static stn_status parse_string(jparser *p, size_t *off, size_t *len)
{
	size_t start = p->pool_len;
	const char *why = stn__jlex_string(&p->lex, pool_put, p);
	if (why == NULL)
		why = pool_put(p, "", 1); /* the terminating NUL */
	if (why != NULL)
		return lex_error(p, why);
	*off = start;
	*len = p->pool_len - start - 1;
	return STN_OK;
}

static stn_status parse_value(jparser *p, unsigned depth, size_t *idx);

/* Appends child c to container parent (chain order = document order). */
static void link_child(jparser *p, size_t parent, size_t *last, size_t c)
{
	if (p->nodes[parent].count == 0)
		p->nodes[parent].first = c;
	else
		p->nodes[*last].next = c;
	*last = c;
	p->nodes[parent].count++;
}

static stn_status parse_container(jparser *p, unsigned depth, bool obj, size_t *idx)
{
	size_t self, last = 0;
	char close = obj ? '}' : ']';

	if (depth >= STN_DAGJSON_MAX_DEPTH) {
		/* A limit, not a syntax error: STN_ETOOBIG as the header promises. */
		p->st = stn__fail(p->eb, STN_ETOOBIG, "JSON line %zu, column %zu: nesting deeper "
				  "than %u", p->lex.line, stn__jlex_col(&p->lex),
				  STN_DAGJSON_MAX_DEPTH);
		return p->st;
	}
	if (new_node(p, obj ? J_OBJ : J_ARR, &self) != STN_OK)
		return p->st;
	*idx = self;
	p->lex.pos++;
	if (stn__jlex_peek(&p->lex) == close) {
		p->lex.pos++;
		return STN_OK;
	}
	for (;;) {
		size_t koff = 0, klen = 0, child;

		if (obj) {
			if (stn__jlex_peek(&p->lex) != '"')
				return perr(p, "expected a member name in quotes");
			if (parse_string(p, &koff, &klen) != STN_OK)
				return p->st;
			if (stn__jlex_peek(&p->lex) != ':')
				return perr(p, "expected ':' after a member name");
			p->lex.pos++;
		}
		if (parse_value(p, depth + 1, &child) != STN_OK)
			return p->st;
		p->nodes[child].key_off = koff;
		p->nodes[child].key_len = klen;
		link_child(p, self, &last, child);
		char c = stn__jlex_peek(&p->lex);
		if (c == ',') {
			p->lex.pos++;
			continue;
		}
		if (c == close) {
			p->lex.pos++;
			return STN_OK;
		}
		return perr(p, obj ? "expected ',' or '}'" : "expected ',' or ']'");
	}
}

static stn_status parse_value(jparser *p, unsigned depth, size_t *idx)
{
	char c = stn__jlex_peek(&p->lex);
	if (stn__jlex_at_end(&p->lex))
		return perr(p, "unexpected end of input");
	if (c == '{' || c == '[')
		return parse_container(p, depth, c == '{', idx);
	if (c == '"') {
		if (new_node(p, J_STR, idx) != STN_OK)
			return p->st;
		size_t n = *idx, off, len;
		if (parse_string(p, &off, &len) != STN_OK)
			return p->st;
		p->nodes[n].str_off = off;
		p->nodes[n].str_len = len;
		return STN_OK;
	}
	if (stn__jlex_literal(&p->lex, "true")) {
		if (new_node(p, J_BOOL, idx) != STN_OK)
			return p->st;
		p->nodes[*idx].b = true;
		return STN_OK;
	}
	if (stn__jlex_literal(&p->lex, "false"))
		return new_node(p, J_BOOL, idx);
	if (stn__jlex_literal(&p->lex, "null"))
		return new_node(p, J_NULL, idx);
	if (c != '-' && !(c >= '0' && c <= '9'))
		return perr(p, "expected a value");
	if (new_node(p, J_NUM, idx) != STN_OK)
		return p->st;
	size_t n = *idx;
	const char *why = stn__jlex_number(&p->lex, &p->nodes[n].num);
	return why != NULL ? lex_error(p, why) : STN_OK;
}

/* ---- tree -> DAG --------------------------------------------------------------------- */

typedef struct walker {
	const jparser *p;
	stn_errbuf *eb;
} walker;

static const char *jstr(const walker *w, const jnode *n)
{
	return w->p->pool + n->str_off;
}

static const char *jkey(const walker *w, const jnode *n)
{
	return w->p->pool + n->key_off;
}

static const char *type_name(jtype t)
{
	static const char *const names[] = {"null", "a boolean", "a number", "a string",
					    "an array", "an object"};
	return names[t];
}

static stn_status shape(const walker *w, const jnode *n, const char *path, const char *what)
{
	return stn__fail(w->eb, STN_EFIELD, "%s (line %zu, column %zu): expected %s, found %s",
			 path, n->line, n->col, what, type_name(n->type));
}

/* A non-negative integer number that fits in uint32_t. */
static stn_status get_u32v(const walker *w, const jnode *n, const char *path, uint32_t *out)
{
	if (n->type != J_NUM)
		return shape(w, n, path, "a number");
	if (!(n->num >= 0.0) || n->num > 4294967295.0 || n->num != floor(n->num))
		return stn__fail(w->eb, STN_EVALUE, "%s (line %zu): %g is not an integer in 0..%u",
				 path, n->line, n->num, 4294967295u);
	*out = (uint32_t)n->num;
	return STN_OK;
}

static stn_status operator_of(const walker *w, const jnode *o, size_t index, stn_op *op,
			      bool *stateful_given)
{
	char path[96];
	bool have_kind = false, have_p_max = false;
	stn_status st;

	snprintf(path, sizeof(path), "operators[%zu]", index);
	if (o->type != J_OBJ)
		return shape(w, o, path, "an object");
	memset(op, 0, sizeof(*op));
	op->id = (uint32_t)index + 1;
	op->selectivity = 1.0;
	op->parallelism = 1;
	*stateful_given = false;
	for (size_t c = o->first, i = 0; i < o->count; i++, c = w->p->nodes[c].next) {
		const jnode *v = &w->p->nodes[c];
		const char *key = jkey(w, v);
		char vpath[160];

		snprintf(vpath, sizeof(vpath), "%s.%s", path, key);
		if (strcmp(key, "id") == 0) {
			st = get_u32v(w, v, vpath, &op->id);
		} else if (strcmp(key, "name") == 0) {
			if (v->type != J_STR)
				return shape(w, v, vpath, "a string");
			if (v->str_len >= STN_DAG_NAME_CAP)
				return stn__fail(w->eb, STN_ETOOBIG, "%s: longer than %u bytes", vpath,
						 STN_DAG_NAME_CAP - 1);
			memcpy(op->name, jstr(w, v), v->str_len + 1);
			st = STN_OK;
		} else if (strcmp(key, "kind") == 0) {
			if (v->type != J_STR)
				return shape(w, v, vpath, "a string");
			if (stn__op_kind_parse(jstr(w, v), v->str_len, &op->kind) != STN_OK)
				return stn__fail(w->eb, STN_EGRAPH,
						 "%s (line %zu): unknown kind '%.40s' (source, map, "
						 "filter, flat_map, exchange, window, join, aggregate, "
						 "sink, other)",
						 vpath, v->line, jstr(w, v));
			have_kind = true;
			st = STN_OK;
		} else if (strcmp(key, "stateful") == 0) {
			if (v->type != J_BOOL)
				return shape(w, v, vpath, "true or false");
			op->stateful = v->b;
			*stateful_given = true;
			st = STN_OK;
		} else if (strcmp(key, "selectivity") == 0) {
			if (v->type != J_NUM)
				return shape(w, v, vpath, "a number");
			op->selectivity = v->num;
			st = STN_OK;
		} else if (strcmp(key, "source_rate") == 0) {
			if (v->type != J_NUM)
				return shape(w, v, vpath, "a number");
			op->source_rate = v->num;
			st = STN_OK;
		} else if (strcmp(key, "parallelism") == 0) {
			st = get_u32v(w, v, vpath, &op->parallelism);
		} else if (strcmp(key, "p_max") == 0) {
			st = get_u32v(w, v, vpath, &op->p_max);
			have_p_max = true;
		} else {
			return stn__fail(w->eb, STN_EFIELD,
					 "%s (line %zu): unknown member '%.40s' (id, name, kind, "
					 "stateful, selectivity, source_rate, parallelism, p_max)",
					 path, v->line, key);
		}
		if (st != STN_OK)
			return st;
	}
	if (!have_kind)
		return stn__fail(w->eb, STN_EFIELD, "%s (line %zu): missing \"kind\"", path,
				 o->line);
	if (!*stateful_given)
		op->stateful = op->kind == STN_KIND_WINDOW || op->kind == STN_KIND_JOIN ||
			       op->kind == STN_KIND_AGGREGATE;
	if (!have_p_max)
		op->p_max = op->parallelism > 64 ? op->parallelism : 64;
	return STN_OK;
}

/* An edge endpoint: an operator id (number) or a unique operator name (string). */
static stn_status endpoint_of(const walker *w, const stn_dag *d, const jnode *v,
			      const char *path, uint32_t *index)
{
	if (v->type == J_NUM) {
		uint32_t id;
		stn_status st = get_u32v(w, v, path, &id);
		if (st != STN_OK)
			return st;
		long i = stn__dag_find(d, id);
		if (i < 0)
			return stn__fail(w->eb, STN_EGRAPH, "%s (line %zu): no operator with id %u",
					 path, v->line, id);
		*index = (uint32_t)i;
		return STN_OK;
	}
	if (v->type != J_STR)
		return shape(w, v, path, "an operator id or name");
	long found = -1;
	for (size_t i = 0; i < d->n_ops; i++) {
		if (strcmp(d->ops[i].name, jstr(w, v)) != 0)
			continue;
		if (found >= 0)
			return stn__fail(w->eb, STN_EGRAPH,
					 "%s (line %zu): operator name '%.40s' is not unique; use ids",
					 path, v->line, jstr(w, v));
		found = (long)i;
	}
	if (found < 0 || v->str_len == 0)
		return stn__fail(w->eb, STN_EGRAPH, "%s (line %zu): no operator named '%.40s'", path,
				 v->line, jstr(w, v));
	*index = (uint32_t)found;
	return STN_OK;
}

static stn_status edge_of(const walker *w, stn_dag *d, const jnode *o, size_t index)
{
	char path[96];
	const jnode *from = NULL, *to = NULL;
	stn_partitioning part = STN_PART_FORWARD;
	uint32_t a, b;
	stn_status st;

	snprintf(path, sizeof(path), "edges[%zu]", index);
	if (o->type != J_OBJ)
		return shape(w, o, path, "an object");
	for (size_t c = o->first, i = 0; i < o->count; i++, c = w->p->nodes[c].next) {
		const jnode *v = &w->p->nodes[c];
		const char *key = jkey(w, v);

		if (strcmp(key, "from") == 0) {
			from = v;
		} else if (strcmp(key, "to") == 0) {
			to = v;
		} else if (strcmp(key, "partitioning") == 0) {
			if (v->type != J_STR) {
				char ppath[112];
				snprintf(ppath, sizeof(ppath), "%s.partitioning", path);
				return shape(w, v, ppath, "a string");
			}
			if (stn__part_parse(jstr(w, v), v->str_len, &part) != STN_OK)
				return stn__fail(w->eb, STN_EGRAPH,
						 "%s.partitioning (line %zu): unknown partitioning "
						 "'%.40s' (forward, hash, broadcast, rebalance)",
						 path, v->line, jstr(w, v));
		} else {
			return stn__fail(w->eb, STN_EFIELD,
					 "%s (line %zu): unknown member '%.40s' (from, to, "
					 "partitioning)",
					 path, v->line, key);
		}
	}
	if (from == NULL || to == NULL)
		return stn__fail(w->eb, STN_EFIELD, "%s (line %zu): needs \"from\" and \"to\"", path,
				 o->line);
	char epath[112];
	snprintf(epath, sizeof(epath), "%s.from", path);
	st = endpoint_of(w, d, from, epath, &a);
	if (st != STN_OK)
		return st;
	snprintf(epath, sizeof(epath), "%s.to", path);
	st = endpoint_of(w, d, to, epath, &b);
	if (st != STN_OK)
		return st;
	stn_errbuf why;
	st = stn__dag_add_edge(d, a, b, part, &why);
	if (st != STN_OK)
		return stn__fail(w->eb, st, "%s (line %zu): %s", path, o->line, why.text);
	return STN_OK;
}

static stn_status build_dag(const walker *w, stn_dag *d)
{
	const jnode *root = &w->p->nodes[0];
	const jnode *ops = NULL, *edges = NULL;
	stn_status st;

	if (root->type != J_OBJ)
		return shape(w, root, "document", "an object with \"operators\" and \"edges\"");
	for (size_t c = root->first, i = 0; i < root->count; i++, c = w->p->nodes[c].next) {
		const jnode *v = &w->p->nodes[c];
		if (strcmp(jkey(w, v), "operators") == 0)
			ops = v;
		else if (strcmp(jkey(w, v), "edges") == 0)
			edges = v;
		else
			return stn__fail(w->eb, STN_EFIELD,
					 "document (line %zu): unknown member '%.40s' (operators, "
					 "edges)",
					 v->line, jkey(w, v));
	}
	if (ops == NULL)
		return stn__fail(w->eb, STN_EFIELD, "document: missing \"operators\"");
	if (ops->type != J_ARR)
		return shape(w, ops, "operators", "an array");
	if (ops->count > STN_DAG_MAX_OPS)
		return stn__fail(w->eb, STN_ETOOBIG, "operators: %zu, limit %u", ops->count,
				 STN_DAG_MAX_OPS);
	for (size_t c = ops->first, i = 0; i < ops->count; i++, c = w->p->nodes[c].next) {
		stn_op op;
		bool given;
		stn_errbuf why;

		st = operator_of(w, &w->p->nodes[c], i, &op, &given);
		if (st != STN_OK)
			return st;
		st = stn__dag_add_op(d, &op, &why);
		if (st != STN_OK)
			return stn__fail(w->eb, st, "operators[%zu]: %s", i, why.text);
	}
	if (edges != NULL) {
		if (edges->type != J_ARR)
			return shape(w, edges, "edges", "an array");
		if (edges->count > STN_DAG_MAX_EDGES)
			return stn__fail(w->eb, STN_ETOOBIG, "edges: %zu, limit %u", edges->count,
					 STN_DAG_MAX_EDGES);
		for (size_t c = edges->first, i = 0; i < edges->count;
		     i++, c = w->p->nodes[c].next) {
			st = edge_of(w, d, &w->p->nodes[c], i);
			if (st != STN_OK)
				return st;
		}
	}
	return stn__dag_validate(d, w->eb);
}

stn_status stn__dagjson_parse(const char *text, size_t len, stn_dag *out, stn_errbuf *eb)
{
	jparser p;
	size_t root;
	stn_status st;

	stn__dag_fini(out);
	stn__dag_init(out);
	if (len > STN_DAGJSON_MAX_BYTES)
		return stn__fail(eb, STN_ETOOBIG, "JSON of %zu bytes, limit %u", len,
				 STN_DAGJSON_MAX_BYTES);
	if (text == NULL && len > 0)
		return stn__fail(eb, STN_EINVAL, "no JSON text");
	memset(&p, 0, sizeof(p));
	stn__jlex_init(&p.lex, text, len);
	p.eb = eb;
	st = parse_value(&p, 0, &root);
	if (st == STN_OK) {
		(void)stn__jlex_peek(&p.lex);
		if (!stn__jlex_at_end(&p.lex))
			st = perr(&p, "unexpected text after the document");
	}
	if (st == STN_OK) {
		walker w = {&p, eb};
		st = build_dag(&w, out);
	}
	stn__free(p.nodes);
	stn__free(p.pool);
	if (st != STN_OK) {
		stn__dag_fini(out);
		stn__dag_init(out);
	}
	return st;
}

stn_status stn__dagjson_read(const char *path, stn_dag *out, stn_errbuf *eb)
{
	char *buf;
	size_t len;
	stn_status st = stn__file_read_all(path, STN_DAGJSON_MAX_BYTES, &buf, &len, eb);

	if (st != STN_OK)
		return st;
	st = stn__dagjson_parse(buf, len, out, eb);
	if (st != STN_OK) {
		char msg[STN_ERRMSG_CAP];
		snprintf(msg, sizeof(msg), "%s", eb != NULL ? eb->text : "");
		stn__fail(eb, st, "%s: %s", path, msg);
	}
	stn__free(buf);
	return st;
}

/* ---- writer -------------------------------------------------------------------------- */

typedef struct obuf {
	char *p;
	size_t len, cap;
	bool oom;
} obuf;

static void out_raw(obuf *o, const char *s, size_t n)
{
	if (o->oom)
		return;
	if (o->len + n + 1 > o->cap) {
		size_t cap = o->cap ? o->cap : 1024;
		while (cap < o->len + n + 1)
			cap *= 2;
		char *q = stn__realloc(o->p, cap);
		if (q == NULL) {
			o->oom = true;
			return;
		}
		o->p = q;
		o->cap = cap;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
	o->p[o->len] = '\0';
}

static void out_fmt(obuf *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void out_fmt(obuf *o, const char *fmt, ...)
{
	char b[128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(b, sizeof(b), fmt, ap);
	va_end(ap);
	if (n > 0)
		out_raw(o, b, (size_t)n < sizeof(b) ? (size_t)n : sizeof(b) - 1);
}

static void out_json_string(obuf *o, const char *s)
{
	out_raw(o, "\"", 1);
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		if (*c == '"' || *c == '\\') {
			char e[2] = {'\\', (char)*c};
			out_raw(o, e, 2);
		} else if (*c < 0x20) {
			out_fmt(o, "\\u%04x", *c);
		} else {
			out_raw(o, (const char *)c, 1);
		}
	}
	out_raw(o, "\"", 1);
}

stn_status stn__dagjson_format(const stn_dag *d, char **out, size_t *len, stn_errbuf *eb)
{
	obuf o = {0};

	*out = NULL;
	*len = 0;
	out_raw(&o, "{\n  \"operators\": [", 18);
	for (size_t i = 0; i < d->n_ops; i++) {
		const stn_op *op = &d->ops[i];
		const char *kind = stn__op_kind_name(op->kind);

		if (kind == NULL) {
			stn__free(o.p);
			return stn__fail(eb, STN_EGRAPH, "operator %u has an unknown kind", op->id);
		}
		out_fmt(&o, "%s\n    {\"id\": %u, \"name\": ", i ? "," : "", op->id);
		out_json_string(&o, op->name);
		out_fmt(&o, ", \"kind\": \"%s\", \"stateful\": %s, \"selectivity\": %.17g,", kind,
			op->stateful ? "true" : "false", op->selectivity);
		out_fmt(&o, " \"source_rate\": %.17g, \"parallelism\": %u, \"p_max\": %u}",
			op->source_rate, op->parallelism, op->p_max);
	}
	out_raw(&o, "\n  ],\n  \"edges\": [", 18);
	for (size_t e = 0; e < d->n_edges; e++) {
		const stn_edge *x = &d->edges[e];
		const char *part = stn__part_name(x->part);

		if (part == NULL || x->from >= d->n_ops || x->to >= d->n_ops) {
			stn__free(o.p);
			return stn__fail(eb, STN_EGRAPH, "edge %zu is invalid", e);
		}
		out_fmt(&o, "%s\n    {\"from\": %u, \"to\": %u, \"partitioning\": \"%s\"}",
			e ? "," : "", d->ops[x->from].id, d->ops[x->to].id, part);
	}
	out_raw(&o, "\n  ]\n}\n", 7);
	if (o.oom) {
		stn__free(o.p);
		return stn__fail(eb, STN_ENOMEM, "out of memory formatting JSON");
	}
	*out = o.p;
	*len = o.len;
	return STN_OK;
}
