/* gen_vectors: writes proto/vectors/ (proto/PROTOCOL.md §9). Valid vectors are messages built
 * as structs and encoded by the reference codec; invalid ones are written in a small notation
 * (stn_gen_pack) so each shows exactly the fault it carries. Everything is deterministic: the
 * only randomness is a splitmix64 stream with a fixed seed. */
#include "gen_vectors.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "alloc.h"
#include "dag.h"
#include "proto.h"
#include "status.h"

/* ---- a growable byte buffer -------------------------------------------------------------- */

typedef struct buf {
	unsigned char *p;
	size_t len, cap;
	bool oom;
} buf;

static void put(buf *b, const void *data, size_t n)
{
	if (b->oom || n == 0)
		return;
	if (b->len + n > b->cap) {
		size_t ncap = b->cap ? b->cap : 256;
		unsigned char *np;

		while (ncap < b->len + n)
			ncap *= 2;
		np = realloc(b->p, ncap);
		if (np == NULL) {
			b->oom = true;
			return;
		}
		b->p = np;
		b->cap = ncap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
}

static void put_tag_be(buf *b, unsigned char tag, uint64_t v, int n)
{
	unsigned char t[9];

	t[0] = tag;
	for (int i = 0; i < n; i++)
		t[1 + i] = (unsigned char)(v >> (8 * (n - 1 - i)));
	put(b, t, 1 + (size_t)n);
}

/* ---- the vector notation ----------------------------------------------------------------- */

typedef struct parser {
	const char *s;
	bool bad;
} parser;

static void skip_ws(parser *ps)
{
	while (*ps->s == ' ' || *ps->s == '\n' || *ps->s == '\t')
		ps->s++;
}

static bool expect(parser *ps, char c)
{
	skip_ws(ps);
	if (*ps->s != c) {
		ps->bad = true;
		return false;
	}
	ps->s++;
	return true;
}

static void pack_uint(buf *b, uint64_t v)
{
	if (v <= 0x7f) {
		unsigned char c = (unsigned char)v;
		put(b, &c, 1);
	} else if (v <= 0xff) {
		put_tag_be(b, 0xcc, v, 1);
	} else if (v <= 0xffff) {
		put_tag_be(b, 0xcd, v, 2);
	} else if (v <= 0xffffffffULL) {
		put_tag_be(b, 0xce, v, 4);
	} else {
		put_tag_be(b, 0xcf, v, 8);
	}
}

static void pack_int(buf *b, int64_t v)
{
	if (v >= 0) {
		pack_uint(b, (uint64_t)v);
	} else if (v >= -32) {
		unsigned char c = (unsigned char)(int8_t)v;
		put(b, &c, 1);
	} else if (v >= INT8_MIN) {
		put_tag_be(b, 0xd0, (uint64_t)v, 1);
	} else if (v >= INT16_MIN) {
		put_tag_be(b, 0xd1, (uint64_t)v, 2);
	} else if (v >= INT32_MIN) {
		put_tag_be(b, 0xd2, (uint64_t)v, 4);
	} else {
		put_tag_be(b, 0xd3, (uint64_t)v, 8);
	}
}

static void pack_f64(buf *b, double d)
{
	uint64_t bits;

	memcpy(&bits, &d, sizeof(bits));
	put_tag_be(b, 0xcb, bits, 8);
}

static void pack_f32(buf *b, float f)
{
	uint32_t bits;

	memcpy(&bits, &f, sizeof(bits));
	put_tag_be(b, 0xca, bits, 4);
}

static void pack_header(buf *b, unsigned char fix, unsigned char t16, unsigned char t32, size_t n)
{
	if (n <= 15) {
		unsigned char c = (unsigned char)(fix | n);
		put(b, &c, 1);
	} else if (n <= 0xffff) {
		put_tag_be(b, t16, n, 2);
	} else {
		put_tag_be(b, t32, n, 4);
	}
}

static void pack_str(buf *b, const char *s, size_t n)
{
	if (n <= 31) {
		unsigned char c = (unsigned char)(0xa0 | n);
		put(b, &c, 1);
	} else if (n <= 0xff) {
		put_tag_be(b, 0xd9, n, 1);
	} else if (n <= 0xffff) {
		put_tag_be(b, 0xda, n, 2);
	} else {
		put_tag_be(b, 0xdb, n, 4);
	}
	put(b, s, n);
}

/* A number in the notation: integer (signed) or float. */
static bool parse_number(parser *ps, bool *is_float, int64_t *i, uint64_t *u, double *d)
{
	const char *start = ps->s;
	char *end = NULL;

	*is_float = false;
	if (strncmp(ps->s, "-inf", 4) == 0) {
		ps->s += 4;
		*is_float = true;
		*d = -INFINITY;
		return true;
	}
	for (const char *q = start; *q != '\0' && strchr("0123456789-+.eE", *q) != NULL; q++)
		if (*q == '.' || *q == 'e' || *q == 'E')
			*is_float = true;
	errno = 0;
	if (*is_float) {
		*d = strtod(start, &end);
	} else if (*start == '-') {
		*i = strtoll(start, &end, 10);
		*u = 0;
	} else {
		*u = strtoull(start, &end, 10);
		*i = 0;
	}
	if (end == start || errno != 0) {
		ps->bad = true;
		return false;
	}
	ps->s = end;
	return true;
}

static size_t parse_value(parser *ps, buf *out);

/* Parses "(number)" of a form; the integer value through u (non-negative) or i. */
static bool form_number(parser *ps, bool *is_float, int64_t *i, uint64_t *u, double *d)
{
	bool ok;

	if (!expect(ps, '('))
		return false;
	skip_ws(ps);
	ok = parse_number(ps, is_float, i, u, d);
	return ok && expect(ps, ')');
}

static size_t parse_form(parser *ps, buf *out, const char *name, size_t nlen)
{
	bool is_float = false;
	int64_t i = 0;
	uint64_t u = 0;
	double d = 0;

#define IS(lit) (nlen == sizeof(lit) - 1 && memcmp(name, lit, nlen) == 0)
	if (IS("true") || IS("false")) {
		unsigned char c = IS("true") ? 0xc3 : 0xc2;
		put(out, &c, 1);
		return 1;
	}
	if (IS("nil")) {
		unsigned char c = 0xc0;
		put(out, &c, 1);
		return 1;
	}
	if (IS("nan")) {
		pack_f64(out, NAN);
		return 1;
	}
	if (IS("inf")) {
		pack_f64(out, INFINITY);
		return 1;
	}
	if (IS("raw")) {
		if (!expect(ps, '('))
			return 0;
		for (;;) {
			char *end = NULL;
			unsigned long v;

			skip_ws(ps);
			if (*ps->s == ')')
				break;
			v = strtoul(ps->s, &end, 16);
			if (end == ps->s || v > 0xff) {
				ps->bad = true;
				return 0;
			}
			{
				unsigned char c = (unsigned char)v;
				put(out, &c, 1);
			}
			ps->s = end;
		}
		ps->s++;
		return 1;
	}
	if (IS("str")) {
		char *fill;

		if (!form_number(ps, &is_float, &i, &u, &d) || is_float) {
			ps->bad = true;
			return 0;
		}
		fill = malloc(u > 0 ? u : 1);
		if (fill == NULL) {
			out->oom = true;
			return 0;
		}
		memset(fill, 'a', u);
		pack_str(out, fill, u);
		free(fill);
		return 1;
	}
	if (IS("rep")) {
		buf one = {NULL, 0, 0, false};
		size_t n, count;

		if (!expect(ps, '('))
			return 0;
		skip_ws(ps);
		if (!parse_number(ps, &is_float, &i, &u, &d) || is_float || !expect(ps, ',')) {
			ps->bad = true;
			return 0;
		}
		count = parse_value(ps, &one);
		for (n = 0; n < u; n++)
			put(out, one.p, one.len);
		out->oom = out->oom || one.oom;
		free(one.p);
		expect(ps, ')');
		return count * (size_t)u;
	}
	if (!form_number(ps, &is_float, &i, &u, &d))
		return 0;
	if (IS("f64") || IS("f32")) {
		double v = is_float ? d : i != 0 ? (double)i : (double)u;

		if (IS("f64"))
			pack_f64(out, v);
		else
			pack_f32(out, (float)v);
		return 1;
	}
	{
		static const char *const widths[] = {"u8", "u16", "u32", "u64", "i8", "i16", "i32", "i64"};

		for (int w = 0; w < 8; w++) {
			if (strlen(widths[w]) == nlen && memcmp(widths[w], name, nlen) == 0 && !is_float) {
				int bytes = 1 << (w % 4);
				uint64_t raw = i != 0 ? (uint64_t)i : u;

				put_tag_be(out, (unsigned char)((w < 4 ? 0xcc : 0xd0) + w % 4), raw, bytes);
				return 1;
			}
		}
	}
#undef IS
	ps->bad = true;
	return 0;
}

static size_t parse_string(parser *ps, buf *out)
{
	char quote = *ps->s++;
	buf text = {NULL, 0, 0, false};

	while (*ps->s != '\0' && *ps->s != quote) {
		char c = *ps->s++;

		if (c == '\\') {
			char e = *ps->s++;

			c = e == '0' ? '\0' : e == 't' ? '\t' : e == 'n' ? '\n' : e;
			if (e == '\0') {
				ps->bad = true;
				break;
			}
		}
		put(&text, &c, 1);
	}
	if (*ps->s != quote)
		ps->bad = true;
	else
		ps->s++;
	pack_str(out, text.p != NULL ? (const char *)text.p : "", text.len);
	out->oom = out->oom || text.oom;
	free(text.p);
	return 1;
}

/* Packs one value (or, for rep, several) into out; returns how many values it wrote. */
static size_t parse_value(parser *ps, buf *out)
{
	skip_ws(ps);
	if (ps->bad)
		return 0;
	if (*ps->s == '{' || *ps->s == '[') {
		bool map = *ps->s == '{';
		char close = map ? '}' : ']';
		buf body = {NULL, 0, 0, false};
		size_t n = 0;

		ps->s++;
		skip_ws(ps);
		while (!ps->bad && *ps->s != close) {
			size_t k = parse_value(ps, &body);

			if (map) {
				if (k != 1 || !expect(ps, ':') || parse_value(ps, &body) != 1)
					ps->bad = true;
				n++;
			} else {
				n += k;
			}
			skip_ws(ps);
			if (*ps->s == ',')
				ps->s++;
			else if (*ps->s != close)
				ps->bad = true;
			skip_ws(ps);
		}
		if (!ps->bad)
			ps->s++;
		if (map)
			pack_header(out, 0x80, 0xde, 0xdf, n);
		else
			pack_header(out, 0x90, 0xdc, 0xdd, n);
		put(out, body.p, body.len);
		out->oom = out->oom || body.oom;
		free(body.p);
		return 1;
	}
	if (*ps->s == '"' || *ps->s == '\'')
		return parse_string(ps, out);
	if ((*ps->s >= '0' && *ps->s <= '9') || *ps->s == '-') {
		bool is_float;
		int64_t i = 0;
		uint64_t u = 0;
		double d = 0;

		if (!parse_number(ps, &is_float, &i, &u, &d))
			return 0;
		if (is_float)
			pack_f64(out, d);
		else if (i < 0)
			pack_int(out, i);
		else
			pack_uint(out, u);
		return 1;
	}
	{
		const char *name = ps->s;
		size_t nlen = 0;

		while ((name[nlen] >= 'a' && name[nlen] <= 'z') || (name[nlen] >= '0' && name[nlen] <= '9'))
			nlen++;
		if (nlen == 0) {
			ps->bad = true;
			return 0;
		}
		ps->s += nlen;
		return parse_form(ps, out, name, nlen);
	}
}

int stn_gen_pack(const char *spec, unsigned char **out, size_t *len)
{
	parser ps = {spec, false};
	buf b = {NULL, 0, 0, false};

	*out = NULL;
	*len = 0;
	skip_ws(&ps);
	while (*ps.s != '\0' && !ps.bad) {
		parse_value(&ps, &b);
		skip_ws(&ps);
	}
	if (ps.bad || b.oom) {
		free(b.p);
		return -1;
	}
	*out = b.p != NULL ? b.p : malloc(1);
	*len = b.len;
	return *out != NULL ? 0 : -1;
}

/* ---- readable JSON ------------------------------------------------------------------------ */

char *stn_gen_pretty_json(const char *json)
{
	buf b = {NULL, 0, 0, false};
	int depth = 0;
	bool in_str = false, split_array = false;
	const char *s = json;

	while (*s != '\0') {
		char c = *s++;

		if (in_str) {
			put(&b, &c, 1);
			if (c == '\\' && *s != '\0') {
				put(&b, s, 1);
				s++;
			} else if (c == '"') {
				in_str = false;
			}
			continue;
		}
		switch (c) {
		case '"':
			in_str = true;
			put(&b, &c, 1);
			break;
		case '{':
		case '[':
			depth++;
			put(&b, &c, 1);
			if (depth == 1) {
				put(&b, "\n  ", 3);
			} else if (depth == 2 && c == '[' && (*s == '{' || *s == '[')) {
				split_array = true;
				put(&b, "\n    ", 5);
			}
			break;
		case '}':
		case ']':
			if (depth == 2 && c == ']' && split_array) {
				split_array = false;
				put(&b, "\n  ]", 4);
			} else if (depth == 1) {
				put(&b, "\n}", 2);
			} else {
				put(&b, &c, 1);
			}
			depth--;
			break;
		case ',':
			if (depth == 1 || (depth == 2 && split_array)) {
				put(&b, depth == 1 ? ",\n  " : ",\n    ", depth == 1 ? 4 : 6);
				if (*s == ' ')
					s++;
			} else {
				put(&b, &c, 1);
			}
			break;
		case '\n':
			break;
		default:
			put(&b, &c, 1);
			break;
		}
	}
	put(&b, "\n", 2); /* with the terminating NUL */
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	return (char *)b.p;
}

/* ---- files --------------------------------------------------------------------------------- */

static int write_file(const char *dir, const char *sub, const char *name, const char *ext,
		      const void *data, size_t len, FILE *log)
{
	char path[4096];
	FILE *f;
	bool ok;

	if (snprintf(path, sizeof(path), "%s/%s/%s.%s", dir, sub, name, ext) >= (int)sizeof(path))
		return -1;
	f = fopen(path, "wb");
	if (f == NULL) {
		if (log != NULL)
			fprintf(log, "gen_vectors: cannot write %s: %s\n", path, strerror(errno));
		return -1;
	}
	ok = fwrite(data, 1, len, f) == len;
	ok = fclose(f) == 0 && ok;
	return ok ? 0 : -1;
}

static int make_dir(const char *dir, const char *sub)
{
	char path[4096];

	if (snprintf(path, sizeof(path), "%s%s%s", dir, sub[0] ? "/" : "", sub) >= (int)sizeof(path))
		return -1;
	if (mkdir(path, 0755) != 0 && errno != EEXIST)
		return -1;
	return 0;
}

/* ---- valid vectors: messages built as structs ---------------------------------------------- */

static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void set_str(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src);
}

typedef struct op_spec {
	uint32_t id;
	const char *name;
	stn_op_kind kind;
	bool stateful;
	double selectivity, rate;
	uint32_t p, p_max;
} op_spec;

typedef struct edge_spec {
	uint32_t from, to; /* ids */
	stn_partitioning part;
} edge_spec;

static bool build_dag(stn_dag *d, const op_spec *ops, size_t n_ops, const edge_spec *edges,
		      size_t n_edges)
{
	stn_errbuf eb = {{0}};

	stn__dag_init(d);
	for (size_t i = 0; i < n_ops; i++) {
		stn_op op;

		memset(&op, 0, sizeof(op));
		op.id = ops[i].id;
		set_str(op.name, sizeof(op.name), ops[i].name);
		op.kind = ops[i].kind;
		op.stateful = ops[i].stateful;
		op.selectivity = ops[i].selectivity;
		op.source_rate = ops[i].rate;
		op.parallelism = ops[i].p;
		op.p_max = ops[i].p_max;
		if (stn__dag_add_op(d, &op, &eb) != STN_OK)
			return false;
	}
	for (size_t i = 0; i < n_edges; i++) {
		long from = stn__dag_find(d, edges[i].from), to = stn__dag_find(d, edges[i].to);

		if (from < 0 || to < 0 ||
		    stn__dag_add_edge(d, (uint32_t)from, (uint32_t)to, edges[i].part, &eb) != STN_OK)
			return false;
	}
	return stn__dag_validate(d, &eb) == STN_OK;
}

static const op_spec wc_ops[] = {
	{1, "lines", STN_KIND_SOURCE, false, 1.0, 100000.0, 2, 8},
	{2, "split", STN_KIND_FLAT_MAP, false, 8.0, 0.0, 4, 16},
	{3, "count", STN_KIND_AGGREGATE, true, 0.125, 0.0, 4, 16},
	{4, "sink", STN_KIND_SINK, false, 1.0, 0.0, 1, 1},
};
static const edge_spec wc_edges[] = {
	{1, 2, STN_PART_FORWARD}, {2, 3, STN_PART_HASH}, {3, 4, STN_PART_FORWARD}};

static const op_spec q5_ops[] = {
	{1, "bids", STN_KIND_SOURCE, false, 1.0, 1000000.0, 4, 32},
	{2, "project", STN_KIND_MAP, false, 1.0, 0.0, 4, 32},
	{3, "hop_window", STN_KIND_WINDOW, true, 0.25, 0.0, 8, 32},
	{4, "count_per_auction", STN_KIND_AGGREGATE, true, 0.5, 0.0, 6, 32},
	{5, "max_join", STN_KIND_JOIN, true, 0.0625, 0.0, 4, 32},
	{6, "sink", STN_KIND_SINK, false, 1.0, 0.0, 1, 1},
};
static const edge_spec q5_edges[] = {
	{1, 2, STN_PART_FORWARD}, {2, 3, STN_PART_HASH},      {3, 4, STN_PART_HASH},
	{4, 5, STN_PART_BROADCAST}, {3, 5, STN_PART_REBALANCE}, {5, 6, STN_PART_FORWARD},
};

static bool v_hello(stn_msg *m)
{
	m->type = STN_MSG_HELLO;
	set_str(m->u.hello.client, sizeof(m->u.hello.client), "timely-shim/0.1.0");
	m->u.hello.versions[0] = 1;
	m->u.hello.n_versions = 1;
	return true;
}

static bool v_hello_versions(stn_msg *m)
{
	m->type = STN_MSG_HELLO;
	m->u.hello.versions[0] = 3;
	m->u.hello.versions[1] = 2;
	m->u.hello.versions[2] = 1;
	m->u.hello.n_versions = 3;
	return true;
}

static bool v_welcome(stn_msg *m)
{
	m->type = STN_MSG_WELCOME;
	m->u.welcome.version = 1;
	set_str(m->u.welcome.server, sizeof(m->u.welcome.server), "streamtune/0.1.0");
	m->u.welcome.max_msg_bytes = STN_PROTO_MAX_MSG_BYTES;
	m->u.welcome.max_ops = STN_DAG_MAX_OPS;
	m->u.welcome.max_edges = STN_DAG_MAX_EDGES;
	m->u.welcome.max_rows = STN_PROTO_MAX_ROWS;
	m->u.welcome.window_ms = 1000;
	return true;
}

static bool v_register_minimal(stn_msg *m)
{
	static const op_spec ops[] = {
		{0, "", STN_KIND_SOURCE, false, 1.0, 0.0, 1, 1},
		{1, "", STN_KIND_SINK, false, 1.0, 0.0, 1, 1},
	};
	static const edge_spec edges[] = {{0, 1, STN_PART_FORWARD}};

	m->type = STN_MSG_REGISTER;
	set_str(m->u.reg.job, sizeof(m->u.reg.job), "wc");
	m->u.reg.senders = 1;
	m->u.reg.window_ms = 1000;
	set_str(m->u.reg.policy, sizeof(m->u.reg.policy), "streamtune");
	return build_dag(&m->u.reg.dag, ops, 2, edges, 1);
}

static bool v_register_opts(stn_msg *m)
{
	static const char *const keys[] = {"tau", "warm_up", "max_rounds", "reconfigs_per_hour"};
	static const double vals[] = {0.1, 3.0, 4.0, 20.0};

	m->type = STN_MSG_REGISTER;
	set_str(m->u.reg.job, sizeof(m->u.reg.job), "wordcount");
	m->u.reg.id = 42;
	m->u.reg.senders = 4;
	m->u.reg.window_ms = 1000;
	set_str(m->u.reg.policy, sizeof(m->u.reg.policy), "streamtune");
	for (size_t i = 0; i < 4; i++) {
		set_str(m->u.reg.opts[i].key, sizeof(m->u.reg.opts[i].key), keys[i]);
		m->u.reg.opts[i].value = vals[i];
	}
	m->u.reg.n_opts = 4;
	return build_dag(&m->u.reg.dag, wc_ops, 4, wc_edges, 3);
}

static bool v_register_q5(stn_msg *m)
{
	m->type = STN_MSG_REGISTER;
	set_str(m->u.reg.job, sizeof(m->u.reg.job), "nexmark-q5");
	m->u.reg.id = 7;
	m->u.reg.senders = 8;
	m->u.reg.window_ms = 500;
	set_str(m->u.reg.policy, sizeof(m->u.reg.policy), "ds2");
	set_str(m->u.reg.opts[0].key, sizeof(m->u.reg.opts[0].key), "scaling_factor");
	m->u.reg.opts[0].value = 1.25;
	set_str(m->u.reg.opts[1].key, sizeof(m->u.reg.opts[1].key), "warm_up");
	m->u.reg.opts[1].value = 2.0;
	m->u.reg.n_opts = 2;
	return build_dag(&m->u.reg.dag, q5_ops, 6, q5_edges, 6);
}

/* Every kind, wide ids, names that need escaping in JSON and a str8 name, every
 * partitioning, the largest p_max and request id. */
static bool v_register_all_kinds(stn_msg *m)
{
	static const op_spec ops[] = {
		{0, "src \"quoted\" \\ back", STN_KIND_SOURCE, false, 1.0, 2500.5, 1, 4096},
		{127, "tab\there", STN_KIND_MAP, false, 1.0, 0.0, 4096, 4096},
		{128, "gr\xc3\xb6\xc3\x9f" "e", STN_KIND_FILTER, false, 0.3, 0.0, 3, 64},
		{255, "explode", STN_KIND_FLAT_MAP, false, 12.0, 0.0, 2, 64},
		{256, "exchange", STN_KIND_EXCHANGE, false, 1.0, 0.0, 2, 64},
		{65535, "tumbling_window_of_five_seconds", STN_KIND_WINDOW, true, 0.01, 0.0, 2, 64},
		{65536, "a_name_of_thirty_two_bytes_long_", STN_KIND_JOIN, true, 1.0, 0.0, 2, 64},
		{4294967294u, "", STN_KIND_AGGREGATE, true, 1e-3, 0.0, 1, 1},
		{4294967295u,
		 "a_name_of_the_largest_size_sixty_three_bytes_which_is_the_limit",
		 STN_KIND_OTHER, false, 1.0, 0.0, 1, 2},
		{9, "sink", STN_KIND_SINK, false, 1.0, 0.0, 1, 1},
	};
	static const edge_spec edges[] = {
		{0, 127, STN_PART_FORWARD},
		{127, 128, STN_PART_REBALANCE},
		{128, 255, STN_PART_FORWARD},
		{255, 256, STN_PART_HASH},
		{256, 65535, STN_PART_HASH},
		{65535, 65536, STN_PART_HASH},
		{0, 65536, STN_PART_BROADCAST},
		{65536, 4294967294u, STN_PART_HASH},
		{4294967294u, 4294967295u, STN_PART_FORWARD},
		{4294967295u, 9, STN_PART_FORWARD},
	};

	m->type = STN_MSG_REGISTER;
	set_str(m->u.reg.job, sizeof(m->u.reg.job), "every-kind");
	m->u.reg.id = UINT64_MAX;
	m->u.reg.senders = 1024;
	m->u.reg.window_ms = 60000;
	set_str(m->u.reg.policy, sizeof(m->u.reg.policy), "flink-autoscaler");
	return build_dag(&m->u.reg.dag, ops, 10, edges, 10);
}

static bool samples_start(stn_msg *m, const char *job, uint64_t window, uint64_t epoch,
			  size_t n, bool with_bp)
{
	m->type = STN_MSG_SAMPLES;
	set_str(m->u.samples.job, sizeof(m->u.samples.job), job);
	m->u.samples.window = window;
	m->u.samples.epoch = epoch;
	m->u.samples.duration_ms = 1000;
	m->u.samples.lag_ms = -1.0;
	return stn__samples_alloc(&m->u.samples, n, with_bp) == STN_OK;
}

static bool v_samples_one_row(stn_msg *m)
{
	stn_msg_samples *s = &m->u.samples;

	if (!samples_start(m, "wc", 0, 0, 1, false))
		return false;
	s->op[0] = 0;
	s->inst[0] = 0;
	s->busy_ms[0] = 250.0;
	s->recs_in[0] = 1000.0;
	s->recs_out[0] = 1000.0;
	s->backlog[0] = 0.0;
	return true;
}

static bool v_samples_ack_lag_bp(stn_msg *m)
{
	static const double busy[] = {812.5, 990.0, 430.25, 12.0};
	static const double in[] = {25000, 25000, 200000, 20000};
	static const double out[] = {25000, 200000, 20000, 0};
	static const double backlog[] = {0, 1500, 40, 0};
	static const double bp[] = {0, 120.5, 0, 0};
	stn_msg_samples *s = &m->u.samples;

	if (!samples_start(m, "wordcount", 7, 1234567890123ULL, 4, true))
		return false;
	s->sender = 3;
	s->want_ack = true;
	s->lag_ms = 12.5;
	for (size_t i = 0; i < 4; i++) {
		s->op[i] = (uint32_t)i + 1;
		s->inst[i] = 3;
		s->busy_ms[i] = busy[i];
		s->recs_in[i] = in[i];
		s->recs_out[i] = out[i];
		s->backlog[i] = backlog[i];
		s->bp_ms[i] = bp[i];
	}
	return true;
}

static bool v_samples_empty(stn_msg *m)
{
	if (!samples_start(m, "wc", 1, 0, 0, false))
		return false;
	m->u.samples.sender = 0;
	return true;
}

/* A whole window of a 64-operator, 32-instance job in one message: 2048 rows. */
static bool v_samples_full_window(stn_msg *m)
{
	stn_msg_samples *s = &m->u.samples;
	uint64_t rng = 0x53545245414d54ULL; /* fixed seed: the vectors never change by chance */

	if (!samples_start(m, "nexmark-64x32", 100, 99, 64 * 32, false))
		return false;
	s->want_ack = true;
	s->lag_ms = 250.0;
	for (size_t i = 0; i < 64 * 32; i++) {
		uint64_t r = splitmix64(&rng);

		s->op[i] = (uint32_t)(i / 32);
		s->inst[i] = (uint32_t)(i % 32);
		s->busy_ms[i] = (double)(r % 1000);
		s->recs_in[i] = (double)((r >> 12) % 5000);
		s->recs_out[i] = (double)((r >> 12) % 5000 / ((r >> 40) % 4 + 1));
		s->backlog[i] = (double)((r >> 50) % 10);
	}
	return true;
}

static bool v_decision(stn_msg *m)
{
	static const uint32_t p[] = {8, 8, 12, 6, 4, 1};
	static const double prob[] = {0.0, 0.125, 0.5, 0.25, 1.0, -1.0};
	stn_msg_decision *d = &m->u.decision;

	m->type = STN_MSG_DECISION;
	if (stn__decision_alloc(d, 6) != STN_OK)
		return false;
	set_str(d->job, sizeof(d->job), "nexmark-q5");
	d->seq = 3;
	d->epoch = 1042;
	for (size_t i = 0; i < 6; i++) {
		d->op[i] = (uint32_t)i + 1;
		d->p[i] = p[i];
		d->prob[i] = prob[i];
	}
	set_str(d->reason, sizeof(d->reason), "hop_window 97% busy at p=8: scaled to 12");
	set_str(d->policy, sizeof(d->policy), "ds2");
	return true;
}

/* 64 operators (16-bit array headers), a reason over 255 bytes (str16) and probabilities
 * that print with 17 digits. */
static bool v_decision_64_ops(stn_msg *m)
{
	stn_msg_decision *d = &m->u.decision;
	size_t n = 0;

	m->type = STN_MSG_DECISION;
	if (stn__decision_alloc(d, 64) != STN_OK)
		return false;
	set_str(d->job, sizeof(d->job), "nexmark-64x32");
	d->seq = 1;
	d->epoch = 0;
	for (size_t i = 0; i < 64; i++) {
		d->op[i] = (uint32_t)i;
		d->p[i] = (uint32_t)(i % 32) + 1;
		d->prob[i] = (double)(i % 10) / 10.0;
	}
	for (size_t i = 0; i < 8; i++)
		n += (size_t)snprintf(d->reason + n, sizeof(d->reason) - n,
				      "op %zu: busy 0.9%zu over 3 windows, scaled up; ", i, i);
	set_str(d->policy, sizeof(d->policy), "streamtune");
	return n > 255;
}

static bool v_ack_register(stn_msg *m)
{
	stn_dag d;
	bool ok = build_dag(&d, q5_ops, 6, q5_edges, 6);

	m->type = STN_MSG_ACK;
	m->u.ack.of = STN_ACK_REGISTER;
	set_str(m->u.ack.job, sizeof(m->u.ack.job), "nexmark-q5");
	m->u.ack.id = 7;
	m->u.ack.hash = ok ? stn__dag_hash(&d) : 0;
	stn__dag_fini(&d);
	return ok;
}

static bool v_ack_samples(stn_msg *m)
{
	m->type = STN_MSG_ACK;
	m->u.ack.of = STN_ACK_SAMPLES;
	set_str(m->u.ack.job, sizeof(m->u.ack.job), "wordcount");
	m->u.ack.window = 7;
	return true;
}

static bool v_ack_decision(stn_msg *m)
{
	m->type = STN_MSG_ACK;
	m->u.ack.of = STN_ACK_DECISION;
	set_str(m->u.ack.job, sizeof(m->u.ack.job), "nexmark-q5");
	m->u.ack.seq = 3;
	m->u.ack.epoch = 1050;
	return true;
}

static bool v_query_endpoint(stn_msg *m)
{
	m->type = STN_MSG_QUERY;
	m->u.query.id = 9;
	return true;
}

static bool v_query_job(stn_msg *m)
{
	m->type = STN_MSG_QUERY;
	m->u.query.id = 10;
	set_str(m->u.query.job, sizeof(m->u.query.job), "nexmark-q5");
	return true;
}

static bool v_status_endpoint(stn_msg *m)
{
	m->type = STN_MSG_STATUS;
	m->u.status.id = 9;
	m->u.status.jobs = 3;
	m->u.status.windows = 1234;
	m->u.status.decisions = 17;
	m->u.status.uptime_ms = 3600000;
	return true;
}

static bool v_status_job(stn_msg *m)
{
	m->type = STN_MSG_STATUS;
	m->u.status.id = 10;
	m->u.status.jobs = 3;
	m->u.status.windows = 812;
	m->u.status.decisions = 5;
	m->u.status.uptime_ms = 3600123;
	set_str(m->u.status.job, sizeof(m->u.status.job), "nexmark-q5");
	set_str(m->u.status.policy, sizeof(m->u.status.policy), "ds2");
	m->u.status.last_window = 811;
	return true;
}

static bool v_error(stn_msg *m)
{
	m->type = STN_MSG_ERROR;
	m->u.error.code = STN_EFIELD;
	set_str(m->u.error.name, sizeof(m->u.error.name), stn__status_name(STN_EFIELD));
	set_str(m->u.error.message, sizeof(m->u.error.message),
		"samples: missing field 'backlog' (at byte 57)");
	set_str(m->u.error.job, sizeof(m->u.error.job), "wordcount");
	return true;
}

static bool v_error_register(stn_msg *m)
{
	m->type = STN_MSG_ERROR;
	m->u.error.code = STN_EPOLICY;
	set_str(m->u.error.name, sizeof(m->u.error.name), stn__status_name(STN_EPOLICY));
	set_str(m->u.error.message, sizeof(m->u.error.message), "unknown policy");
	m->u.error.id = 42;
	set_str(m->u.error.job, sizeof(m->u.error.job), "nexmark-q5");
	return true;
}

typedef struct valid_vector {
	const char *name;
	bool (*build)(stn_msg *m);
} valid_vector;

static const valid_vector valid_vectors[] = {
	{"hello", v_hello},
	{"hello-several-versions", v_hello_versions},
	{"welcome", v_welcome},
	{"register-minimal", v_register_minimal},
	{"register-policy-opts", v_register_opts},
	{"register-nexmark-q5-ds2", v_register_q5},
	{"register-every-kind", v_register_all_kinds},
	{"samples-one-row", v_samples_one_row},
	{"samples-ack-lag-bp", v_samples_ack_lag_bp},
	{"samples-no-rows", v_samples_empty},
	{"samples-window-64x32", v_samples_full_window},
	{"decision", v_decision},
	{"decision-64-ops", v_decision_64_ops},
	{"ack-register", v_ack_register},
	{"ack-samples", v_ack_samples},
	{"ack-decision", v_ack_decision},
	{"query-endpoint", v_query_endpoint},
	{"query-job", v_query_job},
	{"status-endpoint", v_status_endpoint},
	{"status-job", v_status_job},
	{"error", v_error},
	{"error-register", v_error_register},
};

static int gen_valid(const char *dir, size_t index, const valid_vector *v, FILE *log)
{
	char name[128];
	stn_msg m, back;
	stn_errbuf eb = {{0}};
	void *bytes = NULL, *again = NULL;
	size_t len = 0, len2 = 0;
	char *json = NULL, *pretty = NULL;
	int rv = -1;

	snprintf(name, sizeof(name), "%02zu-%s", index, v->name);
	memset(&m, 0, sizeof(m));
	memset(&back, 0, sizeof(back));
	m.version = STN_PROTO_VERSION;
	if (!v->build(&m)) {
		if (log != NULL)
			fprintf(log, "gen_vectors: %s: cannot build the message\n", name);
		goto out;
	}
	if (stn__proto_encode(&m, &bytes, &len, &eb) != STN_OK ||
	    stn__proto_decode(bytes, len, NULL, &back, &eb) != STN_OK ||
	    stn__proto_encode(&back, &again, &len2, &eb) != STN_OK) {
		if (log != NULL)
			fprintf(log, "gen_vectors: %s: %s\n", name, eb.text);
		goto out;
	}
	if (len != len2 || memcmp(bytes, again, len) != 0) {
		if (log != NULL)
			fprintf(log, "gen_vectors: %s: does not re-encode byte-identical\n", name);
		goto out;
	}
	if (stn__proto_to_json(&back, &json) != STN_OK || (pretty = stn_gen_pretty_json(json)) == NULL)
		goto out;
	if (write_file(dir, "valid", name, "msgpack", bytes, len, log) != 0 ||
	    write_file(dir, "valid", name, "json", pretty, strlen(pretty), log) != 0)
		goto out;
	rv = 0;
out:
	stn__msg_free(&m);
	stn__msg_free(&back);
	stn__free(bytes);
	stn__free(again);
	stn__free(json);
	free(pretty);
	return rv;
}

/* ---- invalid vectors: the notation, the status the decoder must give, and why ------------- */

#define SAMPLES_HEAD "'v':1,'t':'samples','job':'wc','window':1,'duration_ms':1000"
#define SAMPLES_COLS                                                                        \
	"'op':[0,1],'inst':[0,0],'busy_ms':[250.0,100.0],'in':[1000.0,10.0],"               \
	"'out':[1000.0,10.0],'backlog':[0.0,2.0]"
#define SAMPLES_OK "{" SAMPLES_HEAD "," SAMPLES_COLS "}"
#define REG_HEAD "'v':1,'t':'register','job':'wc'"
#define REG_OPS                                                                             \
	"'ops':[{'id':0,'kind':'source','rate':100.0,'p':1,'p_max':4},"                      \
	"{'id':1,'kind':'sink','p':1,'p_max':1}]"
#define REG_EDGES "'edges':[[0,1,'forward']]"
#define REG_WITH_OPS(ops) "{" REG_HEAD ",'ops':[" ops "]," REG_EDGES "}"
#define REG_WITH_EDGES(ops, edges) "{" REG_HEAD ",'ops':[" ops "],'edges':[" edges "]}"
#define OP3                                                                                 \
	"{'id':0,'kind':'source','p':1,'p_max':1},{'id':1,'kind':'map','p':1,'p_max':1},"  \
	"{'id':2,'kind':'sink','p':1,'p_max':1}"
#define DEC_HEAD "'v':1,'t':'decision','job':'wc','seq':1,'epoch':5,'reason':'','policy':'ds2'"

typedef struct invalid_vector {
	const char *name;
	stn_status expect;
	const char *why;
	const char *spec; /* NULL: built by code (see build_invalid_spec) */
	size_t cut;       /* bytes removed from the end */
} invalid_vector;

static const invalid_vector invalid_vectors[] = {
	{"empty", STN_EPROTO, "A message of zero bytes.", "", 0},
	{"not-a-map", STN_EPROTO, "The top-level value is an array, not a map.", "['v',1,'t','query']", 0},
	{"nil-message", STN_EPROTO, "The top-level value is nil.", "nil", 0},
	{"truncated", STN_EPROTO, "A SAMPLES message with its last 5 bytes cut off, inside a float64.",
	 SAMPLES_OK, 5},
	{"trailing-bytes", STN_EPROTO, "A complete QUERY followed by one more byte.",
	 "{'v':1,'t':'query','id':1} raw(00)", 0},
	{"reserved-byte-c1", STN_EPROTO,
	 "An unknown key's value is the reserved MessagePack byte 0xc1; unknown values must still be "
	 "well-formed.",
	 "{'v':1,'t':'query','x':raw(c1)}", 0},
	{"nested-too-deep", STN_EPROTO, "An unknown key's value nests 40 arrays; the limit is 32 levels.",
	 NULL, 0},
	{"map-claims-more-entries", STN_EPROTO,
	 "The map header claims 4 entries but the message ends after 2.",
	 "raw(84) 'v' 1 't' 'query'", 0},
	{"str32-claims-4gib", STN_EPROTO,
	 "A str32 header claims 4 GiB but 1 byte follows: a claimed length beyond the message.",
	 "{'v':1,'t':'hello','client':raw(db ff ff ff ff 61),'versions':[1]}", 0},
	{"array32-claims-4g-items", STN_EPROTO,
	 "An unknown key holds an array32 header claiming 4294967295 items, then one item.",
	 "{'v':1,'t':'query','x':raw(dd ff ff ff ff 00)}", 0},
	{"missing-v", STN_EFIELD, "No protocol version key 'v'.", "{'t':'query','id':1}", 0},
	{"missing-t", STN_EFIELD, "No message type key 't'.", "{'v':1,'id':1}", 0},
	{"wrong-version", STN_EVERSION, "Protocol version 2; this side speaks 1.",
	 "{'v':2,'t':'query','id':1}", 0},
	{"v-negative", STN_EFIELD, "'v' is -1: a version is an unsigned integer.",
	 "{'v':-1,'t':'query'}", 0},
	{"v-float", STN_EFIELD, "'v' is the float 1.0: a version is an unsigned integer.",
	 "{'v':1.0,'t':'query'}", 0},
	{"unknown-type", STN_ETYPE, "'t' names no message type ('samplez').",
	 "{'v':1,'t':'samplez','job':'wc'}", 0},
	{"t-not-a-string", STN_EFIELD, "'t' is an integer, not a string.", "{'v':1,'t':4}", 0},
	{"key-not-a-string", STN_EFIELD, "A top-level key is the integer 1; keys are strings.",
	 "{'v':1,'t':'query',1:2}", 0},
	{"hello-without-versions", STN_EFIELD, "HELLO without its required 'versions'.",
	 "{'v':1,'t':'hello','client':'x'}", 0},
	{"hello-no-version-listed", STN_EFIELD, "HELLO 'versions' is empty; it lists 1..8 versions.",
	 "{'v':1,'t':'hello','versions':[]}", 0},
	{"hello-nine-versions", STN_EFIELD, "HELLO 'versions' lists 9 versions; at most 8.",
	 "{'v':1,'t':'hello','versions':[rep(9,1)]}", 0},
	{"hello-version-over-u32", STN_ETOOBIG, "A version of 2^32 does not fit its u32.",
	 "{'v':1,'t':'hello','versions':[4294967296]}", 0},
	{"hello-client-too-long", STN_ETOOBIG, "HELLO 'client' is 1024 bytes; the limit is 1023.",
	 "{'v':1,'t':'hello','client':str(1024),'versions':[1]}", 0},
	{"welcome-missing-max-rows", STN_EFIELD, "WELCOME without its required 'max_rows'.",
	 "{'v':1,'t':'welcome','version':1,'max_msg_bytes':1000,'max_ops':10,'max_edges':10,"
	 "'window_ms':1000}",
	 0},
	{"register-missing-ops", STN_EFIELD, "REGISTER without 'ops'.",
	 "{" REG_HEAD "," REG_EDGES "}", 0},
	{"register-missing-edges", STN_EFIELD, "REGISTER without 'edges'.",
	 "{" REG_HEAD "," REG_OPS "}", 0},
	{"register-empty-job", STN_EFIELD, "The job id is empty; it has 1..128 bytes.",
	 "{'v':1,'t':'register','job':''," REG_OPS "," REG_EDGES "}", 0},
	{"register-job-too-long", STN_ETOOBIG, "The job id is 129 bytes; the limit is 128.",
	 "{'v':1,'t':'register','job':str(129)," REG_OPS "," REG_EDGES "}", 0},
	{"register-job-with-nul", STN_EFIELD, "The job id contains a NUL byte.",
	 "{'v':1,'t':'register','job':'w\\0c'," REG_OPS "," REG_EDGES "}", 0},
	{"register-duplicate-key", STN_EFIELD, "The key 'job' appears twice.",
	 "{" REG_HEAD ",'job':'wc2'," REG_OPS "," REG_EDGES "}", 0},
	{"register-senders-zero", STN_EFIELD, "'senders' is 0; a job has at least one sender.",
	 "{" REG_HEAD ",'senders':0," REG_OPS "," REG_EDGES "}", 0},
	{"register-cycle", STN_ECYCLE, "The edges 0->1->2->0 form a cycle.",
	 REG_WITH_EDGES(OP3, "[0,1,'forward'],[1,2,'hash'],[2,0,'forward']"), 0},
	{"register-self-loop", STN_ECYCLE, "The edge 1->1 is a self loop.",
	 REG_WITH_EDGES(OP3, "[0,1,'forward'],[1,1,'forward'],[1,2,'forward']"), 0},
	{"register-edge-to-unknown-op", STN_EGRAPH, "An edge names operator 7, which is not in 'ops'.",
	 REG_WITH_EDGES(OP3, "[0,1,'forward'],[1,7,'forward']"), 0},
	{"register-duplicate-edge", STN_EGRAPH, "The edge 0->1 is given twice.",
	 REG_WITH_EDGES(OP3, "[0,1,'forward'],[0,1,'hash'],[1,2,'forward']"), 0},
	{"register-duplicate-op-id", STN_EGRAPH, "Two operators have id 0.",
	 REG_WITH_OPS("{'id':0,'kind':'source','p':1,'p_max':1},{'id':0,'kind':'sink','p':1,'p_max':1}"),
	 0},
	{"register-unknown-kind", STN_EGRAPH, "Operator kind 'shuffle' is not a known kind.",
	 REG_WITH_OPS("{'id':0,'kind':'source','p':1,'p_max':1},{'id':1,'kind':'shuffle','p':1,'p_max':1}"),
	 0},
	{"register-kind-not-a-string", STN_EFIELD, "Operator kind is the integer 1, not a string.",
	 REG_WITH_OPS("{'id':0,'kind':'source','p':1,'p_max':1},{'id':1,'kind':1,'p':1,'p_max':1}"), 0},
	{"register-unknown-partitioning", STN_EGRAPH, "Edge partitioning 'random' is not known.",
	 REG_WITH_EDGES(OP3, "[0,1,'forward'],[1,2,'random']"), 0},
	{"register-no-operators", STN_EGRAPH, "'ops' and 'edges' are empty: a DAG has an operator.",
	 "{" REG_HEAD ",'ops':[],'edges':[]}", 0},
	{"register-too-many-ops", STN_ETOOBIG,
	 "'ops' has 1025 entries (nil: the count is refused before any is read); the limit is 1024.",
	 "{" REG_HEAD ",'ops':[rep(1025,nil)]," REG_EDGES "}", 0},
	{"register-too-many-edges", STN_ETOOBIG,
	 "'edges' has 4097 entries (nil: the count is refused before any is read); the limit is 4096.",
	 "{" REG_HEAD "," REG_OPS ",'edges':[rep(4097,nil)]}", 0},
	{"register-op-not-a-map", STN_EFIELD, "An operator is an integer, not a map.",
	 REG_WITH_OPS("{'id':0,'kind':'source','p':1,'p_max':1},1"), 0},
	{"register-op-missing-p-max", STN_EFIELD, "An operator without its required 'p_max'.",
	 REG_WITH_OPS("{'id':0,'kind':'source','p':1,'p_max':1},{'id':1,'kind':'sink','p':1}"), 0},
	{"register-op-name-too-long", STN_ETOOBIG, "An operator name is 64 bytes; the limit is 63.",
	 REG_WITH_OPS("{'id':0,'kind':'source','p':1,'p_max':1},"
		      "{'id':1,'name':str(64),'kind':'sink','p':1,'p_max':1}"),
	 0},
	{"register-p-above-p-max", STN_EVALUE, "An operator has p 5 above its p_max 4.",
	 REG_WITH_OPS("{'id':0,'kind':'source','p':5,'p_max':4},{'id':1,'kind':'sink','p':1,'p_max':1}"),
	 0},
	{"register-p-zero", STN_EVALUE, "An operator has p 0; parallelism is at least 1.",
	 REG_WITH_OPS("{'id':0,'kind':'source','p':0,'p_max':4},{'id':1,'kind':'sink','p':1,'p_max':1}"),
	 0},
	{"register-p-max-over-4096", STN_EVALUE, "An operator has p_max 4097; the limit is 4096.",
	 REG_WITH_OPS("{'id':0,'kind':'source','p':1,'p_max':4097},{'id':1,'kind':'sink','p':1,'p_max':1}"),
	 0},
	{"register-selectivity-zero", STN_EVALUE, "An operator has selectivity 0; it must be > 0.",
	 REG_WITH_OPS("{'id':0,'kind':'source','selectivity':0.0,'p':1,'p_max':1},"
		      "{'id':1,'kind':'sink','p':1,'p_max':1}"),
	 0},
	{"register-selectivity-nan", STN_EVALUE, "An operator has selectivity NaN.",
	 REG_WITH_OPS("{'id':0,'kind':'source','selectivity':nan,'p':1,'p_max':1},"
		      "{'id':1,'kind':'sink','p':1,'p_max':1}"),
	 0},
	{"register-rate-negative", STN_EVALUE, "A source has rate -10; rates are >= 0.",
	 REG_WITH_OPS("{'id':0,'kind':'source','rate':-10.0,'p':1,'p_max':1},"
		      "{'id':1,'kind':'sink','p':1,'p_max':1}"),
	 0},
	{"register-edge-not-a-triple", STN_EFIELD, "An edge has 2 items; it is [from, to, partitioning].",
	 REG_WITH_EDGES(OP3, "[0,1,'forward'],[1,2]"), 0},
	{"register-too-many-policy-opts", STN_ETOOBIG, "'policy_opts' has 33 entries; the limit is 32.",
	 NULL, 0},
	{"register-policy-opt-nan", STN_EVALUE, "A policy option value is NaN.",
	 "{" REG_HEAD ",'policy_opts':{'tau':nan}," REG_OPS "," REG_EDGES "}", 0},
	{"register-policy-opt-empty-key", STN_EFIELD, "A policy option key is empty.",
	 "{" REG_HEAD ",'policy_opts':{'':1.0}," REG_OPS "," REG_EDGES "}", 0},
	{"register-policy-opt-string", STN_EFIELD, "A policy option value is a string, not a number.",
	 "{" REG_HEAD ",'policy_opts':{'tau':'0.1'}," REG_OPS "," REG_EDGES "}", 0},
	{"register-empty-policy", STN_EFIELD, "'policy' is empty; omit it for the default.",
	 "{" REG_HEAD ",'policy':''," REG_OPS "," REG_EDGES "}", 0},
	{"samples-missing-backlog", STN_EFIELD, "SAMPLES without the required 'backlog' column.",
	 "{" SAMPLES_HEAD ",'op':[0],'inst':[0],'busy_ms':[1.0],'in':[1.0],'out':[1.0]}", 0},
	{"samples-missing-window", STN_EFIELD, "SAMPLES without the required 'window'.",
	 "{'v':1,'t':'samples','job':'wc','duration_ms':1000," SAMPLES_COLS "}", 0},
	{"samples-column-length-mismatch", STN_EFIELD, "'busy_ms' has 3 entries, the other columns 2.",
	 "{" SAMPLES_HEAD ",'op':[0,1],'inst':[0,0],'busy_ms':[1.0,2.0,3.0],'in':[1.0,1.0],"
	 "'out':[1.0,1.0],'backlog':[0.0,0.0]}",
	 0},
	{"samples-busy-nan", STN_EVALUE, "busy_ms[1] is NaN.",
	 "{" SAMPLES_HEAD ",'op':[0,1],'inst':[0,0],'busy_ms':[1.0,nan],'in':[1.0,1.0],"
	 "'out':[1.0,1.0],'backlog':[0.0,0.0]}",
	 0},
	{"samples-in-negative", STN_EVALUE, "in[0] is -1.5; metrics are >= 0.",
	 "{" SAMPLES_HEAD ",'op':[0,1],'inst':[0,0],'busy_ms':[1.0,1.0],'in':[-1.5,1.0],"
	 "'out':[1.0,1.0],'backlog':[0.0,0.0]}",
	 0},
	{"samples-out-negative-int", STN_EVALUE, "out[1] is the integer -3; metrics are >= 0.",
	 "{" SAMPLES_HEAD ",'op':[0,1],'inst':[0,0],'busy_ms':[1.0,1.0],'in':[1.0,1.0],"
	 "'out':[1.0,-3],'backlog':[0.0,0.0]}",
	 0},
	{"samples-backlog-infinite", STN_EVALUE, "backlog[0] is +infinity.",
	 "{" SAMPLES_HEAD ",'op':[0,1],'inst':[0,0],'busy_ms':[1.0,1.0],'in':[1.0,1.0],"
	 "'out':[1.0,1.0],'backlog':[inf,0.0]}",
	 0},
	{"samples-bp-negative", STN_EVALUE, "The optional bp_ms column holds -0.5.",
	 "{" SAMPLES_HEAD "," SAMPLES_COLS ",'bp_ms':[0.0,-0.5]}", 0},
	{"samples-duration-zero", STN_EVALUE, "'duration_ms' is 0; a window lasts > 0 ms.",
	 "{'v':1,'t':'samples','job':'wc','window':1,'duration_ms':0," SAMPLES_COLS "}", 0},
	{"samples-lag-negative", STN_EVALUE, "'lag_ms' is -1; omit it when unknown.",
	 "{" SAMPLES_HEAD ",'lag_ms':-1.0," SAMPLES_COLS "}", 0},
	{"samples-lag-nan", STN_EVALUE, "'lag_ms' is NaN.",
	 "{" SAMPLES_HEAD ",'lag_ms':nan," SAMPLES_COLS "}", 0},
	{"samples-busy-string", STN_EFIELD, "busy_ms[0] is a string, not a number.",
	 "{" SAMPLES_HEAD ",'op':[0,1],'inst':[0,0],'busy_ms':['1',1.0],'in':[1.0,1.0],"
	 "'out':[1.0,1.0],'backlog':[0.0,0.0]}",
	 0},
	{"samples-column-not-array", STN_EFIELD, "'busy_ms' is a number, not an array.",
	 "{" SAMPLES_HEAD ",'op':[0],'inst':[0],'busy_ms':1.0,'in':[1.0],'out':[1.0],'backlog':[0.0]}",
	 0},
	{"samples-op-negative", STN_EFIELD, "op[0] is -1; operator ids are unsigned.",
	 "{" SAMPLES_HEAD ",'op':[-1,1],'inst':[0,0],'busy_ms':[1.0,1.0],'in':[1.0,1.0],"
	 "'out':[1.0,1.0],'backlog':[0.0,0.0]}",
	 0},
	{"samples-op-over-u32", STN_ETOOBIG, "op[0] is 2^32; operator ids are u32.",
	 "{" SAMPLES_HEAD ",'op':[4294967296,1],'inst':[0,0],'busy_ms':[1.0,1.0],'in':[1.0,1.0],"
	 "'out':[1.0,1.0],'backlog':[0.0,0.0]}",
	 0},
	{"samples-inst-float", STN_EFIELD, "inst[0] is the float 0.0; instances are unsigned integers.",
	 "{" SAMPLES_HEAD ",'op':[0,1],'inst':[0.0,0],'busy_ms':[1.0,1.0],'in':[1.0,1.0],"
	 "'out':[1.0,1.0],'backlog':[0.0,0.0]}",
	 0},
	{"samples-ack-not-bool", STN_EFIELD, "'ack' is the integer 1, not a boolean.",
	 "{" SAMPLES_HEAD ",'ack':1," SAMPLES_COLS "}", 0},
	{"samples-duplicate-column", STN_EFIELD, "The column 'op' appears twice.",
	 "{" SAMPLES_HEAD "," SAMPLES_COLS ",'op':[0,1]}", 0},
	{"samples-job-too-long", STN_ETOOBIG, "The job id is 129 bytes; the limit is 128.",
	 "{'v':1,'t':'samples','job':str(129),'window':1,'duration_ms':1000," SAMPLES_COLS "}", 0},
	{"decision-prob-above-one", STN_EVALUE, "prob[0] is 1.5; probabilities are in [0, 1] or -1.",
	 "{" DEC_HEAD ",'op':[0],'p':[2],'prob':[1.5]}", 0},
	{"decision-prob-negative", STN_EVALUE, "prob[0] is -0.5; only -1 marks an unknown one.",
	 "{" DEC_HEAD ",'op':[0],'p':[2],'prob':[-0.5]}", 0},
	{"decision-column-mismatch", STN_EFIELD, "'p' has 1 entry, 'op' 2.",
	 "{" DEC_HEAD ",'op':[0,1],'p':[2],'prob':[0.5,0.5]}", 0},
	{"decision-too-many-ops", STN_ETOOBIG, "'op' has 1025 entries; the limit is 1024 operators.",
	 "{" DEC_HEAD ",'op':[rep(1025,0)],'p':[2],'prob':[0.5]}", 0},
	{"decision-missing-reason", STN_EFIELD, "DECISION without the required 'reason'.",
	 "{'v':1,'t':'decision','job':'wc','seq':1,'epoch':5,'policy':'ds2','op':[0],'p':[2],"
	 "'prob':[0.5]}",
	 0},
	{"ack-unknown-of", STN_EFIELD, "'of' is 'window'; it is register, samples or decision.",
	 "{'v':1,'t':'ack','of':'window','job':'wc','window':3}", 0},
	{"ack-register-without-hash", STN_EFIELD, "ACK of a REGISTER without 'hash'.",
	 "{'v':1,'t':'ack','of':'register','job':'wc','id':3}", 0},
	{"ack-samples-without-window", STN_EFIELD, "ACK of SAMPLES without 'window'.",
	 "{'v':1,'t':'ack','of':'samples','job':'wc'}", 0},
	{"ack-decision-without-epoch", STN_EFIELD, "ACK of a DECISION without 'epoch'.",
	 "{'v':1,'t':'ack','of':'decision','job':'wc','seq':1}", 0},
	{"query-job-too-long", STN_ETOOBIG, "QUERY 'job' is 129 bytes; the limit is 128.",
	 "{'v':1,'t':'query','id':1,'job':str(129)}", 0},
	{"status-missing-uptime", STN_EFIELD, "STATUS without the required 'uptime_ms'.",
	 "{'v':1,'t':'status','id':1,'jobs':1,'windows':1,'decisions':0}", 0},
	{"error-missing-message", STN_EFIELD, "ERROR without the required 'message'.",
	 "{'v':1,'t':'error','code':5,'name':'EPROTO'}", 0},
	{"error-name-too-long", STN_ETOOBIG, "ERROR 'name' is 32 bytes; the limit is 31.",
	 "{'v':1,'t':'error','code':5,'name':str(32),'message':'x'}", 0},
};

/* The specs too long or repetitive to write out. Returns a malloc'd string. */
static char *build_invalid_spec(const char *name)
{
	size_t cap = 4096, n = 0;
	char *s = malloc(cap);

	if (s == NULL)
		return NULL;
	if (strcmp(name, "nested-too-deep") == 0) {
		n += (size_t)snprintf(s + n, cap - n, "{'v':1,'t':'query','x':");
		for (int i = 0; i < 40; i++)
			s[n++] = '[';
		for (int i = 0; i < 40; i++)
			s[n++] = ']';
		snprintf(s + n, cap - n, "}");
	} else if (strcmp(name, "register-too-many-policy-opts") == 0) {
		n += (size_t)snprintf(s + n, cap - n, "{" REG_HEAD ",'policy_opts':{");
		for (int i = 0; i < 33; i++)
			n += (size_t)snprintf(s + n, cap - n, "%s'o%d':1.0", i ? "," : "", i);
		snprintf(s + n, cap - n, "}," REG_OPS "," REG_EDGES "}");
	} else {
		s[0] = '\0';
	}
	return s;
}

static int gen_invalid(const char *dir, size_t index, const invalid_vector *v, FILE *log)
{
	char name[128], *spec_heap = NULL, *txt = NULL;
	const char *spec = v->spec;
	unsigned char *bytes = NULL;
	size_t len = 0;
	stn_msg m;
	stn_errbuf eb = {{0}};
	stn_status got;
	int rv = -1;
	size_t txt_cap;

	snprintf(name, sizeof(name), "%02zu-%s", index, v->name);
	if (spec == NULL) {
		spec_heap = build_invalid_spec(v->name);
		spec = spec_heap;
	}
	if (spec == NULL || stn_gen_pack(spec, &bytes, &len) != 0 || v->cut > len) {
		if (log != NULL)
			fprintf(log, "gen_vectors: %s: bad notation\n", name);
		goto out;
	}
	len -= v->cut;
	got = stn__proto_decode(bytes, len, NULL, &m, &eb);
	if (got == STN_OK)
		stn__msg_free(&m);
	if (got != v->expect) {
		if (log != NULL)
			fprintf(log, "gen_vectors: %s: expected %s, the decoder gives %s (%s)\n", name,
				stn__status_name(v->expect), stn__status_name(got),
				got == STN_OK ? "accepted" : eb.text);
		goto out;
	}
	txt_cap = strlen(v->why) + strlen(eb.text) + strlen(spec) + 128;
	txt = malloc(txt_cap);
	if (txt == NULL)
		goto out;
	snprintf(txt, txt_cap, "%s\n%s\ndecoder: %s\nbytes: %s%s\n", stn__status_name(v->expect),
		 v->why, eb.text, spec[0] != '\0' ? spec : "(none)",
		 v->cut > 0 ? " (last bytes cut, see above)" : "");
	if (write_file(dir, "invalid", name, "msgpack", bytes, len, log) != 0 ||
	    write_file(dir, "invalid", name, "txt", txt, strlen(txt), log) != 0)
		goto out;
	rv = 0;
out:
	free(spec_heap);
	free(bytes);
	free(txt);
	return rv;
}

int stn_gen_vectors_write(const char *dir, FILE *log)
{
	size_t n_valid = sizeof(valid_vectors) / sizeof(valid_vectors[0]);
	size_t n_invalid = sizeof(invalid_vectors) / sizeof(invalid_vectors[0]);
	int rv = 0;

	if (make_dir(dir, "") != 0 || make_dir(dir, "valid") != 0 || make_dir(dir, "invalid") != 0) {
		if (log != NULL)
			fprintf(log, "gen_vectors: cannot create %s/valid and %s/invalid\n", dir, dir);
		return -1;
	}
	for (size_t i = 0; i < n_valid; i++)
		if (gen_valid(dir, i + 1, &valid_vectors[i], log) != 0)
			rv = -1;
	for (size_t i = 0; i < n_invalid; i++)
		if (gen_invalid(dir, i + 1, &invalid_vectors[i], log) != 0)
			rv = -1;
	if (rv == 0 && log != NULL)
		fprintf(log, "gen_vectors: %zu valid and %zu invalid vectors in %s\n", n_valid,
			n_invalid, dir);
	return rv;
}

#ifndef STN_GEN_VECTORS_NO_MAIN
int main(int argc, char **argv)
{
	if (argc > 2 || (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0))) {
		fprintf(argc > 2 ? stderr : stdout,
			"usage: stn_gen_vectors [DIR]\n\n"
			"Writes the protocol test vectors into DIR/valid and DIR/invalid (default\n"
			"proto/vectors). See proto/PROTOCOL.md section 9.\n");
		return argc > 2 ? 2 : 0;
	}
	return stn_gen_vectors_write(argc == 2 ? argv[1] : "proto/vectors", stderr) == 0 ? 0 : 1;
}
#endif
