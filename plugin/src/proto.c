#include "proto.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"

/* ---- limits and small helpers ------------------------------------------------------------ */

#define MAX_DEPTH 32 /* nesting skipped inside unknown fields */

stn_proto_limits stn__proto_limits_default(void)
{
	stn_proto_limits l = {STN_PROTO_MAX_MSG_BYTES, STN_DAG_MAX_OPS, STN_DAG_MAX_EDGES,
			      STN_PROTO_MAX_ROWS};
	return l;
}

static const char *const type_names[] = {
	NULL, "hello", "welcome", "register", "samples", "decision", "ack", "query", "status", "error",
};

const char *stn__msg_type_name(stn_msg_type t)
{
	return (t >= STN_MSG_HELLO && t <= STN_MSG_ERROR) ? type_names[t] : NULL;
}

static const char *const ack_names[] = {NULL, "register", "samples", "decision"};

stn_status stn__samples_alloc(stn_msg_samples *s, size_t n, bool with_bp)
{
	s->n_rows = n;
	s->op = stn__calloc(n, sizeof(uint32_t));
	s->inst = stn__calloc(n, sizeof(uint32_t));
	s->busy_ms = stn__calloc(n, sizeof(double));
	s->recs_in = stn__calloc(n, sizeof(double));
	s->recs_out = stn__calloc(n, sizeof(double));
	s->backlog = stn__calloc(n, sizeof(double));
	s->bp_ms = with_bp ? stn__calloc(n, sizeof(double)) : NULL;
	if (s->op == NULL || s->inst == NULL || s->busy_ms == NULL || s->recs_in == NULL ||
	    s->recs_out == NULL || s->backlog == NULL || (with_bp && s->bp_ms == NULL)) {
		stn_msg m;

		m.type = STN_MSG_SAMPLES;
		m.u.samples = *s;
		stn__msg_free(&m);
		*s = m.u.samples;
		return STN_ENOMEM;
	}
	return STN_OK;
}

stn_status stn__decision_alloc(stn_msg_decision *d, size_t n)
{
	d->n_ops = n;
	d->op = stn__calloc(n, sizeof(uint32_t));
	d->p = stn__calloc(n, sizeof(uint32_t));
	d->prob = stn__calloc(n, sizeof(double));
	if (d->op == NULL || d->p == NULL || d->prob == NULL) {
		stn__free(d->op);
		stn__free(d->p);
		stn__free(d->prob);
		d->op = d->p = NULL;
		d->prob = NULL;
		d->n_ops = 0;
		return STN_ENOMEM;
	}
	return STN_OK;
}

void stn__msg_free(stn_msg *m)
{
	if (m == NULL)
		return;
	switch (m->type) {
	case STN_MSG_REGISTER:
		stn__dag_fini(&m->u.reg.dag);
		break;
	case STN_MSG_SAMPLES:
		stn__free(m->u.samples.op);
		stn__free(m->u.samples.inst);
		stn__free(m->u.samples.busy_ms);
		stn__free(m->u.samples.recs_in);
		stn__free(m->u.samples.recs_out);
		stn__free(m->u.samples.backlog);
		stn__free(m->u.samples.bp_ms);
		m->u.samples.op = m->u.samples.inst = NULL;
		m->u.samples.busy_ms = m->u.samples.recs_in = m->u.samples.recs_out = NULL;
		m->u.samples.backlog = m->u.samples.bp_ms = NULL;
		m->u.samples.n_rows = 0;
		break;
	case STN_MSG_DECISION:
		stn__free(m->u.decision.op);
		stn__free(m->u.decision.p);
		stn__free(m->u.decision.prob);
		m->u.decision.op = m->u.decision.p = NULL;
		m->u.decision.prob = NULL;
		m->u.decision.n_ops = 0;
		break;
	default:
		break;
	}
}

/* ---- reader: a bounded cursor over MessagePack with a sticky error ------------------------ */

typedef struct rd {
	const uint8_t *p;
	size_t len, pos;
	stn_status err;
	stn_errbuf *eb;
	const char *ctx; /* message type, for error texts */
} rd;

static bool rd_fail(rd *r, stn_status s, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static bool rd_fail(rd *r, stn_status s, const char *fmt, ...)
{
	char text[STN_ERRMSG_CAP];
	va_list ap;

	if (r->err != STN_OK)
		return false;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	r->err = stn__fail(r->eb, s, "%s: %s (at byte %zu)", r->ctx, text, r->pos);
	return false;
}

static bool need(rd *r, size_t n)
{
	if (r->err != STN_OK)
		return false;
	if (r->len - r->pos < n)
		return rd_fail(r, STN_EPROTO, "truncated message");
	return true;
}

static uint64_t be(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return v;
}

/* Container header: map (want_map) or array; count into *n. */
static bool rd_header(rd *r, bool want_map, uint32_t *n, const char *what)
{
	uint8_t b;

	if (!need(r, 1))
		return false;
	b = r->p[r->pos];
	if (want_map && (b & 0xf0) == 0x80) {
		*n = b & 0x0f;
		r->pos++;
		return true;
	}
	if (!want_map && (b & 0xf0) == 0x90) {
		*n = b & 0x0f;
		r->pos++;
		return true;
	}
	if (b == (want_map ? 0xde : 0xdc) && need(r, 3)) {
		*n = (uint32_t)be(r->p + r->pos + 1, 2);
		r->pos += 3;
		return true;
	}
	if (b == (want_map ? 0xdf : 0xdd) && need(r, 5)) {
		*n = (uint32_t)be(r->p + r->pos + 1, 4);
		r->pos += 5;
		return true;
	}
	return rd_fail(r, r->err == STN_OK && r->pos == 0 ? STN_EPROTO : STN_EFIELD,
		       "%s must be %s", what, want_map ? "a map" : "an array");
}

static bool rd_str(rd *r, const char **s, uint32_t *n, const char *what)
{
	uint8_t b;
	size_t hdr = 1;

	if (!need(r, 1))
		return false;
	b = r->p[r->pos];
	if ((b & 0xe0) == 0xa0) {
		*n = b & 0x1f;
	} else if (b == 0xd9 && need(r, 2)) {
		*n = r->p[r->pos + 1];
		hdr = 2;
	} else if (b == 0xda && need(r, 3)) {
		*n = (uint32_t)be(r->p + r->pos + 1, 2);
		hdr = 3;
	} else if (b == 0xdb && need(r, 5)) {
		*n = (uint32_t)be(r->p + r->pos + 1, 4);
		hdr = 5;
	} else {
		return rd_fail(r, STN_EFIELD, "%s must be a string", what);
	}
	if (!need(r, hdr + *n))
		return false;
	*s = (const char *)r->p + r->pos + hdr;
	r->pos += hdr + *n;
	return true;
}

/* Copies a string field into a fixed buffer; longer than cap-1 (or max) is ETOOBIG. */
static bool rd_str_into(rd *r, char *out, size_t cap, size_t min, const char *what)
{
	const char *s = NULL;
	uint32_t n = 0;

	if (!rd_str(r, &s, &n, what))
		return false;
	if (n + 1 > cap)
		return rd_fail(r, STN_ETOOBIG, "%s is %u bytes, limit %zu", what, n, cap - 1);
	if (n < min)
		return rd_fail(r, STN_EFIELD, "%s must not be empty", what);
	if (memchr(s, '\0', n) != NULL)
		return rd_fail(r, STN_EFIELD, "%s contains a NUL byte", what);
	memcpy(out, s, n);
	out[n] = '\0';
	return true;
}

static bool rd_uint(rd *r, uint64_t max, uint64_t *v, const char *what)
{
	uint8_t b;

	if (!need(r, 1))
		return false;
	b = r->p[r->pos];
	if (b <= 0x7f) {
		*v = b;
		r->pos++;
	} else if (b >= 0xcc && b <= 0xcf) {
		int n = 1 << (b - 0xcc);

		if (!need(r, 1 + (size_t)n))
			return false;
		*v = be(r->p + r->pos + 1, n);
		r->pos += 1 + (size_t)n;
	} else if (b >= 0xd0 && b <= 0xd3) {
		int n = 1 << (b - 0xd0);
		uint64_t raw;
		int64_t sv;

		if (!need(r, 1 + (size_t)n))
			return false;
		raw = be(r->p + r->pos + 1, n);
		if (n < 8 && (raw >> (8 * n - 1)) & 1)
			raw |= ~0ULL << (8 * n);
		memcpy(&sv, &raw, sizeof(sv));
		if (sv < 0)
			return rd_fail(r, STN_EFIELD, "%s must not be negative", what);
		*v = (uint64_t)sv;
		r->pos += 1 + (size_t)n;
	} else if (b >= 0xe0) {
		return rd_fail(r, STN_EFIELD, "%s must not be negative", what);
	} else {
		return rd_fail(r, STN_EFIELD, "%s must be an unsigned integer", what);
	}
	if (*v > max)
		return rd_fail(r, STN_ETOOBIG, "%s is %llu, limit %llu", what, (unsigned long long)*v,
			       (unsigned long long)max);
	return true;
}

static bool rd_u32(rd *r, uint32_t *v, const char *what)
{
	uint64_t u = 0;

	if (!rd_uint(r, UINT32_MAX, &u, what))
		return false;
	*v = (uint32_t)u;
	return true;
}

/* Any number; the caller decides about sign and finiteness. */
static bool rd_number(rd *r, double *v, const char *what)
{
	uint8_t b;

	if (!need(r, 1))
		return false;
	b = r->p[r->pos];
	if (b == 0xcb && need(r, 9)) {
		uint64_t bits = be(r->p + r->pos + 1, 8);

		memcpy(v, &bits, sizeof(*v));
		r->pos += 9;
		return true;
	}
	if (b == 0xca && need(r, 5)) {
		uint32_t bits = (uint32_t)be(r->p + r->pos + 1, 4);
		float f;

		memcpy(&f, &bits, sizeof(f));
		*v = f;
		r->pos += 5;
		return true;
	}
	if (b >= 0xe0) {
		*v = (double)(int8_t)b;
		r->pos++;
		return true;
	}
	if (b >= 0xd0 && b <= 0xd3) {
		int n = 1 << (b - 0xd0);
		uint64_t raw;
		int64_t sv;

		if (!need(r, 1 + (size_t)n))
			return false;
		raw = be(r->p + r->pos + 1, n);
		if (n < 8 && (raw >> (8 * n - 1)) & 1)
			raw |= ~0ULL << (8 * n);
		memcpy(&sv, &raw, sizeof(sv));
		*v = (double)sv;
		r->pos += 1 + (size_t)n;
		return true;
	}
	if (b <= 0x7f || (b >= 0xcc && b <= 0xcf)) {
		uint64_t u;

		if (!rd_uint(r, UINT64_MAX, &u, what))
			return false;
		*v = (double)u;
		return true;
	}
	return rd_fail(r, STN_EFIELD, "%s must be a number", what);
}

/* A metric: finite and >= 0. */
static bool rd_metric(rd *r, double *v, const char *what, size_t row)
{
	if (!rd_number(r, v, what))
		return false;
	if (!isfinite(*v))
		return rd_fail(r, STN_EVALUE, "%s[%zu] is not finite", what, row);
	if (*v < 0.0)
		return rd_fail(r, STN_EVALUE, "%s[%zu] is negative", what, row);
	return true;
}

static bool rd_finite(rd *r, double *v, const char *what)
{
	if (!rd_number(r, v, what))
		return false;
	if (!isfinite(*v))
		return rd_fail(r, STN_EVALUE, "%s is not finite", what);
	return true;
}

static bool rd_bool(rd *r, bool *v, const char *what)
{
	if (!need(r, 1))
		return false;
	if (r->p[r->pos] == 0xc2 || r->p[r->pos] == 0xc3) {
		*v = r->p[r->pos] == 0xc3;
		r->pos++;
		return true;
	}
	return rd_fail(r, STN_EFIELD, "%s must be a boolean", what);
}

static bool rd_skip(rd *r, int depth)
{
	uint8_t b;
	uint32_t n = 0;
	const char *s;

	if (depth > MAX_DEPTH)
		return rd_fail(r, STN_EPROTO, "nested more than %d levels", MAX_DEPTH);
	if (!need(r, 1))
		return false;
	b = r->p[r->pos];
	if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
		r->pos++;
		return true;
	}
	if ((b & 0xf0) == 0x80 || b == 0xde || b == 0xdf) {
		if (!rd_header(r, true, &n, "value"))
			return false;
		for (uint64_t i = 0; i < 2ULL * n && r->err == STN_OK; i++)
			rd_skip(r, depth + 1);
		return r->err == STN_OK;
	}
	if ((b & 0xf0) == 0x90 || b == 0xdc || b == 0xdd) {
		if (!rd_header(r, false, &n, "value"))
			return false;
		for (uint32_t i = 0; i < n && r->err == STN_OK; i++)
			rd_skip(r, depth + 1);
		return r->err == STN_OK;
	}
	if ((b & 0xe0) == 0xa0 || (b >= 0xd9 && b <= 0xdb))
		return rd_str(r, &s, &n, "value");
	{
		/* Fixed-size scalars, bin, ext. */
		size_t fixed = 0, lenbytes = 0, extra = 0;

		switch (b) {
		case 0xcc: case 0xd0: fixed = 2; break;
		case 0xcd: case 0xd1: fixed = 3; break;
		case 0xca: case 0xce: case 0xd2: fixed = 5; break;
		case 0xcb: case 0xcf: case 0xd3: fixed = 9; break;
		case 0xd4: fixed = 3; break;
		case 0xd5: fixed = 4; break;
		case 0xd6: fixed = 6; break;
		case 0xd7: fixed = 10; break;
		case 0xd8: fixed = 18; break;
		case 0xc4: lenbytes = 1; break;
		case 0xc5: lenbytes = 2; break;
		case 0xc6: lenbytes = 4; break;
		case 0xc7: lenbytes = 1; extra = 1; break;
		case 0xc8: lenbytes = 2; extra = 1; break;
		case 0xc9: lenbytes = 4; extra = 1; break;
		default:
			return rd_fail(r, STN_EPROTO, "invalid MessagePack byte 0x%02x", b);
		}
		if (fixed > 0) {
			if (!need(r, fixed))
				return false;
			r->pos += fixed;
			return true;
		}
		if (!need(r, 1 + lenbytes))
			return false;
		n = (uint32_t)be(r->p + r->pos + 1, (int)lenbytes);
		if (!need(r, 1 + lenbytes + extra + n))
			return false;
		r->pos += 1 + lenbytes + extra + n;
		return true;
	}
}

static bool key_is(const char *k, uint32_t n, const char *name)
{
	return strlen(name) == n && memcmp(k, name, n) == 0;
}

/* Tracks which fields were seen; duplicates are refused. */
typedef struct seen {
	uint64_t bits;
	size_t edges_at; /* REGISTER: where the edges array starts, read after the operators */
} seen;

static bool mark(rd *r, seen *s, int bit, const char *name)
{
	if (s->bits & (1ULL << bit))
		return rd_fail(r, STN_EFIELD, "field '%s' appears twice", name);
	s->bits |= 1ULL << bit;
	return true;
}

static bool require(rd *r, const seen *s, int bit, const char *name)
{
	if (!(s->bits & (1ULL << bit)))
		return rd_fail(r, STN_EFIELD, "missing field '%s'", name);
	return true;
}

/* ---- per-message decoders: called with the cursor on the first key of the top map -------- */

typedef bool (*field_fn)(rd *r, const char *key, uint32_t klen, stn_msg *m, seen *s,
			 const stn_proto_limits *lim);

static bool walk(rd *r, uint32_t n, stn_msg *m, seen *s, const stn_proto_limits *lim,
		 field_fn fn)
{
	for (uint32_t i = 0; i < n && r->err == STN_OK; i++) {
		const char *k = NULL;
		uint32_t kl = 0;

		if (!rd_str(r, &k, &kl, "map key"))
			return false;
		if (key_is(k, kl, "v") || key_is(k, kl, "t")) {
			rd_skip(r, 0);
			continue;
		}
		if (!fn(r, k, kl, m, s, lim))
			rd_skip(r, 0); /* unknown key: ignored */
	}
	return r->err == STN_OK;
}

/* Each field function returns true when it consumed the value of a known key. */

static bool f_hello(rd *r, const char *k, uint32_t kl, stn_msg *m, seen *s,
		    const stn_proto_limits *lim)
{
	stn_msg_hello *h = &m->u.hello;
	uint32_t n;

	(void)lim;
	if (key_is(k, kl, "client"))
		return mark(r, s, 0, "client") &&
		       (rd_str_into(r, h->client, sizeof(h->client), 0, "client"), true);
	if (key_is(k, kl, "versions")) {
		if (!mark(r, s, 1, "versions") || !rd_header(r, false, &n, "versions"))
			return true;
		if (n == 0 || n > 8)
			return rd_fail(r, STN_EFIELD, "versions must list 1..8 versions"), true;
		for (uint32_t i = 0; i < n; i++)
			rd_u32(r, &h->versions[i], "versions[]");
		h->n_versions = n;
		return true;
	}
	return false;
}

static bool f_welcome(rd *r, const char *k, uint32_t kl, stn_msg *m, seen *s,
		      const stn_proto_limits *lim)
{
	stn_msg_welcome *w = &m->u.welcome;
	static const char *const names[] = {"version", "max_msg_bytes", "max_ops", "max_edges",
					    "max_rows", "window_ms"};
	uint32_t *slots[] = {&w->version, &w->max_msg_bytes, &w->max_ops, &w->max_edges,
			     &w->max_rows, &w->window_ms};

	(void)lim;
	if (key_is(k, kl, "server"))
		return mark(r, s, 10, "server") &&
		       (rd_str_into(r, w->server, sizeof(w->server), 0, "server"), true);
	for (int i = 0; i < 6; i++)
		if (key_is(k, kl, names[i]))
			return mark(r, s, i, names[i]) && (rd_u32(r, slots[i], names[i]), true);
	return false;
}

static bool decode_op(rd *r, stn_op *op)
{
	uint32_t n;
	seen s = {0, 0};

	memset(op, 0, sizeof(*op));
	op->selectivity = 1.0;
	if (!rd_header(r, true, &n, "ops[]"))
		return false;
	for (uint32_t i = 0; i < n && r->err == STN_OK; i++) {
		const char *k = NULL, *ks = NULL;
		uint32_t kl = 0, ksl = 0;

		if (!rd_str(r, &k, &kl, "operator key"))
			return false;
		if (key_is(k, kl, "id")) {
			(void)(mark(r, &s, 0, "id") && rd_u32(r, &op->id, "op id"));
		} else if (key_is(k, kl, "name")) {
			(void)(mark(r, &s, 1, "name") && rd_str_into(r, op->name, sizeof(op->name), 0, "op name"));
		} else if (key_is(k, kl, "kind")) {
			if (mark(r, &s, 2, "kind") && rd_str(r, &ks, &ksl, "op kind") &&
			    stn__op_kind_parse(ks, ksl, &op->kind) != STN_OK)
				rd_fail(r, STN_EGRAPH, "unknown operator kind '%.*s'", (int)(ksl > 32 ? 32 : ksl), ks);
		} else if (key_is(k, kl, "stateful")) {
			(void)(mark(r, &s, 3, "stateful") && rd_bool(r, &op->stateful, "stateful"));
		} else if (key_is(k, kl, "selectivity")) {
			(void)(mark(r, &s, 4, "selectivity") && rd_finite(r, &op->selectivity, "selectivity"));
		} else if (key_is(k, kl, "rate")) {
			(void)(mark(r, &s, 5, "rate") && rd_finite(r, &op->source_rate, "rate"));
		} else if (key_is(k, kl, "p")) {
			(void)(mark(r, &s, 6, "p") && rd_u32(r, &op->parallelism, "p"));
		} else if (key_is(k, kl, "p_max")) {
			(void)(mark(r, &s, 7, "p_max") && rd_u32(r, &op->p_max, "p_max"));
		} else {
			rd_skip(r, 1);
		}
	}
	return require(r, &s, 0, "ops[].id") && require(r, &s, 2, "ops[].kind") &&
	       require(r, &s, 6, "ops[].p") && require(r, &s, 7, "ops[].p_max");
}

static bool f_register(rd *r, const char *k, uint32_t kl, stn_msg *m, seen *s,
		       const stn_proto_limits *lim)
{
	stn_msg_register *g = &m->u.reg;
	uint32_t n;

	if (key_is(k, kl, "job"))
		return mark(r, s, 0, "job") &&
		       (rd_str_into(r, g->job, sizeof(g->job), 1, "job"), true);
	if (key_is(k, kl, "id")) {
		(void)(mark(r, s, 1, "id") && rd_uint(r, UINT64_MAX, &g->id, "id"));
		return true;
	}
	if (key_is(k, kl, "senders")) {
		(void)(mark(r, s, 2, "senders") && rd_u32(r, &g->senders, "senders"));
		return true;
	}
	if (key_is(k, kl, "window_ms")) {
		(void)(mark(r, s, 3, "window_ms") && rd_u32(r, &g->window_ms, "window_ms"));
		return true;
	}
	if (key_is(k, kl, "policy"))
		return mark(r, s, 4, "policy") &&
		       (rd_str_into(r, g->policy, sizeof(g->policy), 1, "policy"), true);
	if (key_is(k, kl, "policy_opts")) {
		if (!mark(r, s, 5, "policy_opts") || !rd_header(r, true, &n, "policy_opts"))
			return true;
		if (n > STN_PROTO_MAX_OPTIONS)
			return rd_fail(r, STN_ETOOBIG, "policy_opts has %u entries, limit %u", n,
				       STN_PROTO_MAX_OPTIONS), true;
		for (uint32_t i = 0; i < n && r->err == STN_OK; i++) {
			rd_str_into(r, g->opts[i].key, sizeof(g->opts[i].key), 1, "policy_opts key");
			rd_finite(r, &g->opts[i].value, "policy_opts value");
		}
		g->n_opts = n;
		return true;
	}
	if (key_is(k, kl, "ops")) {
		if (!mark(r, s, 6, "ops") || !rd_header(r, false, &n, "ops"))
			return true;
		if (n > lim->max_ops)
			return rd_fail(r, STN_ETOOBIG, "DAG has %u operators, limit %u", n, lim->max_ops), true;
		if (g->dag.n_ops > 0)
			return rd_fail(r, STN_EFIELD, "ops given twice"), true;
		for (uint32_t i = 0; i < n && r->err == STN_OK; i++) {
			stn_errbuf tmp = {{0}};
			stn_op op;
			stn_status rv;

			if (!decode_op(r, &op))
				break;
			rv = stn__dag_add_op(&g->dag, &op, &tmp);
			if (rv != STN_OK)
				rd_fail(r, rv, "%s", tmp.text);
		}
		return true;
	}
	if (key_is(k, kl, "edges")) {
		if (!mark(r, s, 7, "edges"))
			return true;
		/* Edges name operators by id, so they are resolved after "ops": remember where. */
		s->edges_at = r->pos;
		rd_skip(r, 0);
		return true;
	}
	return false;
}

/* Reads the edges array at position at (saved by f_register) once the operators are known. */
static bool resolve_edges(rd *r, size_t at, stn_dag *d, const stn_proto_limits *lim)
{
	size_t back = r->pos;
	uint32_t n;

	r->pos = at;
	if (!rd_header(r, false, &n, "edges"))
		return false;
	if (n > lim->max_edges)
		return rd_fail(r, STN_ETOOBIG, "DAG has %u edges, limit %u", n, lim->max_edges);
	for (uint32_t i = 0; i < n && r->err == STN_OK; i++) {
		uint32_t k, from = 0, to = 0, pl;
		const char *ps;
		stn_partitioning part = STN_PART_FORWARD;
		long fi, ti;
		stn_status rv;

		if (!rd_header(r, false, &k, "edges[]"))
			break;
		if (k != 3) {
			rd_fail(r, STN_EFIELD, "an edge is [from_id, to_id, partitioning]");
			break;
		}
		rd_u32(r, &from, "edge from");
		rd_u32(r, &to, "edge to");
		if (rd_str(r, &ps, &pl, "edge partitioning") &&
		    stn__part_parse(ps, pl, &part) != STN_OK)
			rd_fail(r, STN_EGRAPH, "unknown partitioning '%.*s'", (int)(pl > 32 ? 32 : pl), ps);
		if (r->err != STN_OK)
			break;
		fi = stn__dag_find(d, from);
		ti = stn__dag_find(d, to);
		if (fi < 0 || ti < 0) {
			rd_fail(r, STN_EGRAPH, "edge %u->%u names an unknown operator", from, to);
			break;
		}
		{
			stn_errbuf tmp = {{0}};

			rv = stn__dag_add_edge(d, (uint32_t)fi, (uint32_t)ti, part, &tmp);
			if (rv != STN_OK)
				rd_fail(r, rv, "%s", tmp.text);
		}
	}
	r->pos = back;
	return r->err == STN_OK;
}

/* Columns of SAMPLES. */
enum { COL_OP, COL_INST, COL_BUSY, COL_IN, COL_OUT, COL_BACKLOG, COL_BP, N_COLS };
static const char *const col_names[N_COLS] = {"op", "inst", "busy_ms", "in", "out", "backlog",
					      "bp_ms"};

static bool read_column(rd *r, stn_msg_samples *s, int c, bool *have_rows,
			const stn_proto_limits *lim)
{
	uint32_t n;
	void *buf;

	if (!rd_header(r, false, &n, col_names[c]))
		return false;
	if (n > lim->max_rows)
		return rd_fail(r, STN_ETOOBIG, "%u rows, limit %u", n, lim->max_rows);
	if (*have_rows && n != s->n_rows)
		return rd_fail(r, STN_EFIELD, "column '%s' has %u entries, expected %zu",
			       col_names[c], n, s->n_rows);
	if (!*have_rows) {
		s->n_rows = n;
		*have_rows = true;
	}
	buf = stn__calloc(n, c <= COL_INST ? sizeof(uint32_t) : sizeof(double));
	if (buf == NULL)
		return rd_fail(r, STN_ENOMEM, "out of memory");
	switch (c) {
	case COL_OP: s->op = buf; break;
	case COL_INST: s->inst = buf; break;
	case COL_BUSY: s->busy_ms = buf; break;
	case COL_IN: s->recs_in = buf; break;
	case COL_OUT: s->recs_out = buf; break;
	case COL_BACKLOG: s->backlog = buf; break;
	default: s->bp_ms = buf; break;
	}
	for (uint32_t i = 0; i < n && r->err == STN_OK; i++) {
		if (c <= COL_INST)
			rd_u32(r, (uint32_t *)buf + i, col_names[c]);
		else
			rd_metric(r, (double *)buf + i, col_names[c], i);
	}
	return r->err == STN_OK;
}

static bool f_samples(rd *r, const char *k, uint32_t kl, stn_msg *m, seen *s,
		      const stn_proto_limits *lim)
{
	stn_msg_samples *x = &m->u.samples;

	if (key_is(k, kl, "job"))
		return mark(r, s, 0, "job") && (rd_str_into(r, x->job, sizeof(x->job), 1, "job"), true);
	if (key_is(k, kl, "window")) {
		(void)(mark(r, s, 1, "window") && rd_uint(r, UINT64_MAX, &x->window, "window"));
		return true;
	}
	if (key_is(k, kl, "epoch")) {
		(void)(mark(r, s, 2, "epoch") && rd_uint(r, UINT64_MAX, &x->epoch, "epoch"));
		return true;
	}
	if (key_is(k, kl, "duration_ms")) {
		if (mark(r, s, 3, "duration_ms") && rd_u32(r, &x->duration_ms, "duration_ms") &&
		    x->duration_ms == 0)
			rd_fail(r, STN_EVALUE, "duration_ms must be > 0");
		return true;
	}
	if (key_is(k, kl, "sender")) {
		(void)(mark(r, s, 4, "sender") && rd_u32(r, &x->sender, "sender"));
		return true;
	}
	if (key_is(k, kl, "ack")) {
		(void)(mark(r, s, 5, "ack") && rd_bool(r, &x->want_ack, "ack"));
		return true;
	}
	if (key_is(k, kl, "lag_ms")) {
		if (mark(r, s, 6, "lag_ms") && rd_finite(r, &x->lag_ms, "lag_ms") && x->lag_ms < 0)
			rd_fail(r, STN_EVALUE, "lag_ms is negative");
		return true;
	}
	for (int c = 0; c < N_COLS; c++) {
		if (key_is(k, kl, col_names[c])) {
			/* Bit 8 records that a column fixed the row count. */
			bool have_rows = (s->bits >> 8) & 1;

			if (mark(r, s, 10 + c, col_names[c]) && read_column(r, x, c, &have_rows, lim))
				s->bits |= 1ULL << 8;
			return true;
		}
	}
	return false;
}

static bool f_decision(rd *r, const char *k, uint32_t kl, stn_msg *m, seen *s,
		       const stn_proto_limits *lim)
{
	stn_msg_decision *d = &m->u.decision;
	uint32_t n;

	if (key_is(k, kl, "job"))
		return mark(r, s, 0, "job") && (rd_str_into(r, d->job, sizeof(d->job), 1, "job"), true);
	if (key_is(k, kl, "seq")) {
		(void)(mark(r, s, 1, "seq") && rd_uint(r, UINT64_MAX, &d->seq, "seq"));
		return true;
	}
	if (key_is(k, kl, "epoch")) {
		(void)(mark(r, s, 2, "epoch") && rd_uint(r, UINT64_MAX, &d->epoch, "epoch"));
		return true;
	}
	if (key_is(k, kl, "reason"))
		return mark(r, s, 6, "reason") &&
		       (rd_str_into(r, d->reason, sizeof(d->reason), 0, "reason"), true);
	if (key_is(k, kl, "policy"))
		return mark(r, s, 7, "policy") &&
		       (rd_str_into(r, d->policy, sizeof(d->policy), 0, "policy"), true);
	{
		static const char *const cols[] = {"op", "p", "prob"};

		for (int c = 0; c < 3; c++) {
			void **slot = c == 0 ? (void **)&d->op : c == 1 ? (void **)&d->p : (void **)&d->prob;

			if (!key_is(k, kl, cols[c]))
				continue;
			if (!mark(r, s, 3 + c, cols[c]) || !rd_header(r, false, &n, cols[c]))
				return true;
			if (n > lim->max_ops)
				return rd_fail(r, STN_ETOOBIG, "decision for %u operators, limit %u", n,
					       lim->max_ops), true;
			if ((s->bits >> 9) & 1 ? n != d->n_ops : false)
				return rd_fail(r, STN_EFIELD, "column '%s' has %u entries, expected %zu",
					       cols[c], n, d->n_ops), true;
			d->n_ops = n;
			s->bits |= 1ULL << 9;
			*slot = stn__calloc(n, c == 2 ? sizeof(double) : sizeof(uint32_t));
			if (*slot == NULL)
				return rd_fail(r, STN_ENOMEM, "out of memory"), true;
			for (uint32_t i = 0; i < n && r->err == STN_OK; i++) {
				if (c == 2) {
					double *pr = (double *)*slot + i;

					if (rd_finite(r, pr, "prob") && (*pr > 1.0 || (*pr < 0.0 && *pr != -1.0)))
						rd_fail(r, STN_EVALUE, "prob must be in [0, 1] or -1");
				} else {
					rd_u32(r, (uint32_t *)*slot + i, cols[c]);
				}
			}
			return true;
		}
	}
	return false;
}

static bool f_ack(rd *r, const char *k, uint32_t kl, stn_msg *m, seen *s,
		  const stn_proto_limits *lim)
{
	stn_msg_ack *a = &m->u.ack;
	const char *v;
	uint32_t vl;

	(void)lim;
	if (key_is(k, kl, "of")) {
		if (mark(r, s, 0, "of") && rd_str(r, &v, &vl, "of")) {
			for (int i = 1; i <= 3; i++)
				if (key_is(v, vl, ack_names[i]))
					a->of = (stn_ack_of)i;
			if (a->of == 0)
				rd_fail(r, STN_EFIELD, "'of' must be register, samples or decision");
		}
		return true;
	}
	if (key_is(k, kl, "job"))
		return mark(r, s, 1, "job") && (rd_str_into(r, a->job, sizeof(a->job), 1, "job"), true);
	{
		static const char *const names[] = {"id", "window", "seq", "epoch", "hash"};
		uint64_t *slots[] = {&a->id, &a->window, &a->seq, &a->epoch, &a->hash};

		for (int i = 0; i < 5; i++)
			if (key_is(k, kl, names[i])) {
				(void)(mark(r, s, 2 + i, names[i]) && rd_uint(r, UINT64_MAX, slots[i], names[i]));
				return true;
			}
	}
	return false;
}

static bool f_query(rd *r, const char *k, uint32_t kl, stn_msg *m, seen *s,
		    const stn_proto_limits *lim)
{
	(void)lim;
	if (key_is(k, kl, "id")) {
		(void)(mark(r, s, 0, "id") && rd_uint(r, UINT64_MAX, &m->u.query.id, "id"));
		return true;
	}
	if (key_is(k, kl, "job"))
		return mark(r, s, 1, "job") &&
		       (rd_str_into(r, m->u.query.job, sizeof(m->u.query.job), 0, "job"), true);
	return false;
}

static bool f_status(rd *r, const char *k, uint32_t kl, stn_msg *m, seen *s,
		     const stn_proto_limits *lim)
{
	stn_msg_status *x = &m->u.status;
	static const char *const names[] = {"id", "jobs", "windows", "decisions", "uptime_ms",
					    "last_window"};
	uint64_t *slots[] = {&x->id, &x->jobs, &x->windows, &x->decisions, &x->uptime_ms,
			     &x->last_window};

	(void)lim;
	for (int i = 0; i < 6; i++)
		if (key_is(k, kl, names[i])) {
			(void)(mark(r, s, i, names[i]) && rd_uint(r, UINT64_MAX, slots[i], names[i]));
			return true;
		}
	if (key_is(k, kl, "job"))
		return mark(r, s, 6, "job") && (rd_str_into(r, x->job, sizeof(x->job), 0, "job"), true);
	if (key_is(k, kl, "policy"))
		return mark(r, s, 7, "policy") &&
		       (rd_str_into(r, x->policy, sizeof(x->policy), 0, "policy"), true);
	return false;
}

static bool f_error(rd *r, const char *k, uint32_t kl, stn_msg *m, seen *s,
		    const stn_proto_limits *lim)
{
	stn_msg_error *e = &m->u.error;

	(void)lim;
	if (key_is(k, kl, "code")) {
		(void)(mark(r, s, 0, "code") && rd_u32(r, &e->code, "code"));
		return true;
	}
	if (key_is(k, kl, "name"))
		return mark(r, s, 1, "name") && (rd_str_into(r, e->name, sizeof(e->name), 0, "name"), true);
	if (key_is(k, kl, "message"))
		return mark(r, s, 2, "message") &&
		       (rd_str_into(r, e->message, sizeof(e->message), 0, "message"), true);
	if (key_is(k, kl, "id")) {
		(void)(mark(r, s, 3, "id") && rd_uint(r, UINT64_MAX, &e->id, "id"));
		return true;
	}
	if (key_is(k, kl, "job"))
		return mark(r, s, 4, "job") && (rd_str_into(r, e->job, sizeof(e->job), 0, "job"), true);
	return false;
}

/* Required fields per type, checked after the walk. */
static bool check_required(rd *r, stn_msg *m, const seen *s, const stn_proto_limits *lim)
{
	switch (m->type) {
	case STN_MSG_HELLO:
		return require(r, s, 1, "versions");
	case STN_MSG_WELCOME:
		for (int i = 0; i < 6; i++)
			if (!require(r, s, i, (const char *[]){"version", "max_msg_bytes", "max_ops",
							       "max_edges", "max_rows", "window_ms"}[i]))
				return false;
		return true;
	case STN_MSG_REGISTER: {
		stn_msg_register *g = &m->u.reg;
		stn_errbuf tmp = {{0}};
		stn_status rv;

		if (!require(r, s, 0, "job") || !require(r, s, 6, "ops") || !require(r, s, 7, "edges"))
			return false;
		if (!(s->bits & (1ULL << 2)))
			g->senders = 1;
		if (!(s->bits & (1ULL << 3)))
			g->window_ms = 1000;
		if (!(s->bits & (1ULL << 4)))
			snprintf(g->policy, sizeof(g->policy), "streamtune");
		if (g->senders == 0)
			return rd_fail(r, STN_EFIELD, "senders must be >= 1");
		if (!resolve_edges(r, s->edges_at, &g->dag, lim))
			return false;
		rv = stn__dag_validate(&g->dag, &tmp);
		if (rv != STN_OK)
			return rd_fail(r, rv, "%s", tmp.text);
		return true;
	}
	case STN_MSG_SAMPLES:
		if (!require(r, s, 0, "job") || !require(r, s, 1, "window") ||
		    !require(r, s, 3, "duration_ms"))
			return false;
		for (int c = 0; c < COL_BP; c++)
			if (!require(r, s, 10 + c, col_names[c]))
				return false;
		if (!(s->bits & (1ULL << 6)))
			m->u.samples.lag_ms = -1.0;
		return true;
	case STN_MSG_DECISION:
		return require(r, s, 0, "job") && require(r, s, 1, "seq") && require(r, s, 2, "epoch") &&
		       require(r, s, 3, "op") && require(r, s, 4, "p") && require(r, s, 5, "prob") &&
		       require(r, s, 6, "reason") && require(r, s, 7, "policy");
	case STN_MSG_ACK:
		if (!require(r, s, 0, "of") || !require(r, s, 1, "job"))
			return false;
		if (m->u.ack.of == STN_ACK_REGISTER)
			return require(r, s, 6, "hash");
		if (m->u.ack.of == STN_ACK_SAMPLES)
			return require(r, s, 3, "window");
		return require(r, s, 4, "seq") && require(r, s, 5, "epoch");
	case STN_MSG_QUERY:
		return true;
	case STN_MSG_STATUS:
		for (int i = 0; i < 5; i++)
			if (!require(r, s, i, (const char *[]){"id", "jobs", "windows", "decisions",
							       "uptime_ms"}[i]))
				return false;
		return true;
	case STN_MSG_ERROR:
		return require(r, s, 0, "code") && require(r, s, 2, "message");
	}
	return false;
}

stn_status stn__proto_decode(const void *data, size_t len, const stn_proto_limits *lim,
			     stn_msg *out, stn_errbuf *eb)
{
	static const field_fn fns[] = {NULL, f_hello, f_welcome, f_register, f_samples,
				       f_decision, f_ack, f_query, f_status, f_error};
	stn_proto_limits dl = stn__proto_limits_default();
	rd r = {data, len, 0, STN_OK, eb, "message"};
	uint32_t n;
	size_t body;
	seen s = {0, 0};
	bool have_v = false, have_t = false;
	uint64_t version = 0;

	memset(out, 0, sizeof(*out));
	if (lim == NULL)
		lim = &dl;
	if (len == 0)
		return stn__fail(eb, STN_EPROTO, "empty message");
	if (len > lim->max_msg_bytes)
		return stn__fail(eb, STN_ETOOBIG, "message of %zu bytes, limit %u", len,
				 lim->max_msg_bytes);
	if (!rd_header(&r, true, &n, "a message"))
		return r.err == STN_EFIELD ? stn__fail(eb, STN_EPROTO, "a message must be a MessagePack map")
					   : r.err;
	body = r.pos;
	/* First pass: the version and the type, wherever they are. */
	for (uint32_t i = 0; i < n && r.err == STN_OK; i++) {
		const char *k = NULL, *tv = NULL;
		uint32_t kl = 0, tl = 0;

		if (!rd_str(&r, &k, &kl, "map key"))
			break;
		if (key_is(k, kl, "v")) {
			have_v = rd_uint(&r, UINT64_MAX, &version, "v");
		} else if (key_is(k, kl, "t")) {
			if (rd_str(&r, &tv, &tl, "t")) {
				have_t = true;
				for (int t = STN_MSG_HELLO; t <= STN_MSG_ERROR; t++)
					if (key_is(tv, tl, type_names[t]))
						out->type = (stn_msg_type)t;
				if (out->type == 0)
					rd_fail(&r, STN_ETYPE, "unknown message type '%.*s'",
						(int)(tl > 32 ? 32 : tl), tv);
			}
		} else {
			rd_skip(&r, 0);
		}
	}
	if (r.err == STN_OK && r.pos != len)
		rd_fail(&r, STN_EPROTO, "%zu bytes after the message", len - r.pos);
	if (r.err == STN_OK && !have_v)
		rd_fail(&r, STN_EFIELD, "missing field 'v' (protocol version)");
	if (r.err == STN_OK && version != STN_PROTO_VERSION)
		rd_fail(&r, STN_EVERSION, "protocol version %llu, this side speaks %u",
			(unsigned long long)version, STN_PROTO_VERSION);
	if (r.err == STN_OK && !have_t)
		rd_fail(&r, STN_EFIELD, "missing field 't' (message type)");
	if (r.err != STN_OK) {
		out->type = 0;
		return r.err;
	}
	/* Second pass: the fields of that type. */
	out->version = STN_PROTO_VERSION;
	r.ctx = type_names[out->type];
	r.pos = body;
	if (out->type == STN_MSG_REGISTER)
		stn__dag_init(&out->u.reg.dag);
	if (walk(&r, n, out, &s, lim, fns[out->type]))
		check_required(&r, out, &s, lim);
	if (r.err != STN_OK) {
		stn__msg_free(out);
		memset(out, 0, sizeof(*out));
		return r.err;
	}
	return STN_OK;
}

/* ---- writer: canonical MessagePack into a bounded growable buffer ------------------------- */

typedef struct wr {
	uint8_t *buf;
	size_t len, cap;
	bool oom;
} wr;

static void put(wr *w, const void *p, size_t n)
{
	if (w->oom)
		return;
	if (w->len + n > w->cap) {
		size_t ncap = w->cap ? w->cap * 2 : 256;
		uint8_t *nb;

		while (ncap < w->len + n)
			ncap *= 2;
		nb = stn__realloc(w->buf, ncap);
		if (nb == NULL) {
			w->oom = true;
			return;
		}
		w->buf = nb;
		w->cap = ncap;
	}
	memcpy(w->buf + w->len, p, n);
	w->len += n;
}

static void put_be(wr *w, uint8_t tag, uint64_t v, int n)
{
	uint8_t b[9];

	b[0] = tag;
	for (int i = 0; i < n; i++)
		b[1 + i] = (uint8_t)(v >> (8 * (n - 1 - i)));
	put(w, b, 1 + (size_t)n);
}

static void w_uint(wr *w, uint64_t v)
{
	if (v <= 0x7f) {
		uint8_t b = (uint8_t)v;
		put(w, &b, 1);
	} else if (v <= 0xff) {
		put_be(w, 0xcc, v, 1);
	} else if (v <= 0xffff) {
		put_be(w, 0xcd, v, 2);
	} else if (v <= 0xffffffffULL) {
		put_be(w, 0xce, v, 4);
	} else {
		put_be(w, 0xcf, v, 8);
	}
}

static void w_double(wr *w, double d)
{
	uint64_t bits;

	memcpy(&bits, &d, sizeof(bits));
	put_be(w, 0xcb, bits, 8);
}

static void w_str(wr *w, const char *s)
{
	size_t n = strlen(s);

	if (n <= 31) {
		uint8_t b = (uint8_t)(0xa0 | n);
		put(w, &b, 1);
	} else if (n <= 0xff) {
		put_be(w, 0xd9, n, 1);
	} else if (n <= 0xffff) {
		put_be(w, 0xda, n, 2);
	} else {
		put_be(w, 0xdb, n, 4);
	}
	put(w, s, n);
}

static void w_bool(wr *w, bool v)
{
	uint8_t b = v ? 0xc3 : 0xc2;
	put(w, &b, 1);
}

static void w_header(wr *w, bool map, size_t n)
{
	if (n <= 15) {
		uint8_t b = (uint8_t)((map ? 0x80 : 0x90) | n);
		put(w, &b, 1);
	} else if (n <= 0xffff) {
		put_be(w, map ? 0xde : 0xdc, n, 2);
	} else {
		put_be(w, map ? 0xdf : 0xdd, n, 4);
	}
}

static void w_kv_uint(wr *w, const char *k, uint64_t v)
{
	w_str(w, k);
	w_uint(w, v);
}

static void w_kv_str(wr *w, const char *k, const char *v)
{
	w_str(w, k);
	w_str(w, v);
}

static void w_u32_array(wr *w, const char *k, const uint32_t *v, size_t n)
{
	w_str(w, k);
	w_header(w, false, n);
	for (size_t i = 0; i < n; i++)
		w_uint(w, v[i]);
}

static void w_double_array(wr *w, const char *k, const double *v, size_t n)
{
	w_str(w, k);
	w_header(w, false, n);
	for (size_t i = 0; i < n; i++)
		w_double(w, v[i]);
}

static bool all_finite_nonneg(const double *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isfinite(v[i]) || v[i] < 0.0)
			return false;
	return true;
}

stn_status stn__proto_encode(const stn_msg *m, void **out, size_t *out_len, stn_errbuf *eb)
{
	wr w = {NULL, 0, 0, false};
	const char *tname = stn__msg_type_name(m->type);
	size_t n_fields = 0;

	*out = NULL;
	*out_len = 0;
	if (tname == NULL)
		return stn__fail(eb, STN_EINVAL, "cannot encode message type %d", (int)m->type);
	/* Field counts of the canonical form. */
	switch (m->type) {
	case STN_MSG_HELLO: n_fields = 2; break;
	case STN_MSG_WELCOME: n_fields = 7; break;
	case STN_MSG_REGISTER: n_fields = 8; break;
	case STN_MSG_SAMPLES: {
		const stn_msg_samples *s = &m->u.samples;

		if (!all_finite_nonneg(s->busy_ms, s->n_rows) || !all_finite_nonneg(s->recs_in, s->n_rows) ||
		    !all_finite_nonneg(s->recs_out, s->n_rows) ||
		    !all_finite_nonneg(s->backlog, s->n_rows) ||
		    (s->bp_ms != NULL && !all_finite_nonneg(s->bp_ms, s->n_rows)) || s->duration_ms == 0 ||
		    !isfinite(s->lag_ms))
			return stn__fail(eb, STN_EINVAL, "samples: metrics must be finite and >= 0");
		n_fields = 12 + (s->lag_ms >= 0.0) + (s->bp_ms != NULL);
		break;
	}
	case STN_MSG_DECISION: n_fields = 8; break;
	case STN_MSG_ACK:
		if (m->u.ack.of < STN_ACK_REGISTER || m->u.ack.of > STN_ACK_DECISION)
			return stn__fail(eb, STN_EINVAL, "ack: unknown 'of'");
		n_fields = 2 + (m->u.ack.of == STN_ACK_SAMPLES ? 1 : 2);
		break;
	case STN_MSG_QUERY: n_fields = 1 + (m->u.query.job[0] != '\0'); break;
	case STN_MSG_STATUS: n_fields = 8; break;
	case STN_MSG_ERROR: n_fields = 5; break;
	}
	w_header(&w, true, 2 + n_fields);
	w_kv_uint(&w, "v", STN_PROTO_VERSION);
	w_kv_str(&w, "t", tname);
	switch (m->type) {
	case STN_MSG_HELLO:
		w_kv_str(&w, "client", m->u.hello.client);
		w_u32_array(&w, "versions", m->u.hello.versions,
			    m->u.hello.n_versions > 8 ? 8 : m->u.hello.n_versions);
		break;
	case STN_MSG_WELCOME:
		w_kv_uint(&w, "version", m->u.welcome.version);
		w_kv_str(&w, "server", m->u.welcome.server);
		w_kv_uint(&w, "max_msg_bytes", m->u.welcome.max_msg_bytes);
		w_kv_uint(&w, "max_ops", m->u.welcome.max_ops);
		w_kv_uint(&w, "max_edges", m->u.welcome.max_edges);
		w_kv_uint(&w, "max_rows", m->u.welcome.max_rows);
		w_kv_uint(&w, "window_ms", m->u.welcome.window_ms);
		break;
	case STN_MSG_REGISTER: {
		const stn_msg_register *g = &m->u.reg;

		w_kv_str(&w, "job", g->job);
		w_kv_uint(&w, "id", g->id);
		w_kv_uint(&w, "senders", g->senders);
		w_kv_uint(&w, "window_ms", g->window_ms);
		w_kv_str(&w, "policy", g->policy[0] ? g->policy : "streamtune");
		w_str(&w, "policy_opts");
		w_header(&w, true, g->n_opts);
		for (size_t i = 0; i < g->n_opts; i++) {
			w_str(&w, g->opts[i].key);
			w_double(&w, g->opts[i].value);
		}
		w_str(&w, "ops");
		w_header(&w, false, g->dag.n_ops);
		for (size_t i = 0; i < g->dag.n_ops; i++) {
			const stn_op *op = &g->dag.ops[i];

			w_header(&w, true, 8);
			w_kv_uint(&w, "id", op->id);
			w_kv_str(&w, "name", op->name);
			w_kv_str(&w, "kind", stn__op_kind_name(op->kind) ? stn__op_kind_name(op->kind) : "other");
			w_str(&w, "stateful");
			w_bool(&w, op->stateful);
			w_str(&w, "selectivity");
			w_double(&w, op->selectivity);
			w_str(&w, "rate");
			w_double(&w, op->source_rate);
			w_kv_uint(&w, "p", op->parallelism);
			w_kv_uint(&w, "p_max", op->p_max);
		}
		w_str(&w, "edges");
		w_header(&w, false, g->dag.n_edges);
		for (size_t i = 0; i < g->dag.n_edges; i++) {
			const stn_edge *e = &g->dag.edges[i];

			w_header(&w, false, 3);
			w_uint(&w, g->dag.ops[e->from].id);
			w_uint(&w, g->dag.ops[e->to].id);
			w_str(&w, stn__part_name(e->part) ? stn__part_name(e->part) : "forward");
		}
		break;
	}
	case STN_MSG_SAMPLES: {
		const stn_msg_samples *s = &m->u.samples;

		w_kv_str(&w, "job", s->job);
		w_kv_uint(&w, "window", s->window);
		w_kv_uint(&w, "epoch", s->epoch);
		w_kv_uint(&w, "duration_ms", s->duration_ms);
		w_kv_uint(&w, "sender", s->sender);
		w_str(&w, "ack");
		w_bool(&w, s->want_ack);
		if (s->lag_ms >= 0.0) {
			w_str(&w, "lag_ms");
			w_double(&w, s->lag_ms);
		}
		w_u32_array(&w, "op", s->op, s->n_rows);
		w_u32_array(&w, "inst", s->inst, s->n_rows);
		w_double_array(&w, "busy_ms", s->busy_ms, s->n_rows);
		w_double_array(&w, "in", s->recs_in, s->n_rows);
		w_double_array(&w, "out", s->recs_out, s->n_rows);
		w_double_array(&w, "backlog", s->backlog, s->n_rows);
		if (s->bp_ms != NULL)
			w_double_array(&w, "bp_ms", s->bp_ms, s->n_rows);
		break;
	}
	case STN_MSG_DECISION: {
		const stn_msg_decision *d = &m->u.decision;

		w_kv_str(&w, "job", d->job);
		w_kv_uint(&w, "seq", d->seq);
		w_kv_uint(&w, "epoch", d->epoch);
		w_u32_array(&w, "op", d->op, d->n_ops);
		w_u32_array(&w, "p", d->p, d->n_ops);
		w_double_array(&w, "prob", d->prob, d->n_ops);
		w_kv_str(&w, "reason", d->reason);
		w_kv_str(&w, "policy", d->policy);
		break;
	}
	case STN_MSG_ACK: {
		const stn_msg_ack *a = &m->u.ack;

		w_kv_str(&w, "of", ack_names[a->of]);
		w_kv_str(&w, "job", a->job);
		if (a->of == STN_ACK_REGISTER) {
			w_kv_uint(&w, "id", a->id);
			w_kv_uint(&w, "hash", a->hash);
		} else if (a->of == STN_ACK_SAMPLES) {
			w_kv_uint(&w, "window", a->window);
		} else {
			w_kv_uint(&w, "seq", a->seq);
			w_kv_uint(&w, "epoch", a->epoch);
		}
		break;
	}
	case STN_MSG_QUERY:
		w_kv_uint(&w, "id", m->u.query.id);
		if (m->u.query.job[0] != '\0')
			w_kv_str(&w, "job", m->u.query.job);
		break;
	case STN_MSG_STATUS: {
		const stn_msg_status *x = &m->u.status;

		w_kv_uint(&w, "id", x->id);
		w_kv_uint(&w, "jobs", x->jobs);
		w_kv_uint(&w, "windows", x->windows);
		w_kv_uint(&w, "decisions", x->decisions);
		w_kv_uint(&w, "uptime_ms", x->uptime_ms);
		w_kv_str(&w, "job", x->job);
		w_kv_str(&w, "policy", x->policy);
		w_kv_uint(&w, "last_window", x->last_window);
		break;
	}
	case STN_MSG_ERROR: {
		const stn_msg_error *e = &m->u.error;

		w_kv_uint(&w, "code", e->code);
		w_kv_str(&w, "name", e->name);
		w_kv_str(&w, "message", e->message);
		w_kv_uint(&w, "id", e->id);
		w_kv_str(&w, "job", e->job);
		break;
	}
	}
	if (w.oom) {
		stn__free(w.buf);
		return stn__fail(eb, STN_ENOMEM, "out of memory encoding %s", tname);
	}
	*out = w.buf;
	*out_len = w.len;
	return STN_OK;
}

/* ---- readable JSON of a message ---------------------------------------------------------- */

typedef struct jb {
	char *buf;
	size_t len, cap;
	bool oom;
} jb;

static void jput(jb *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void jput(jb *j, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (j->oom)
		return;
	for (;;) {
		va_start(ap, fmt);
		/* No arithmetic on a buffer not yet allocated: measure first. */
		n = vsnprintf(j->buf ? j->buf + j->len : NULL, j->buf ? j->cap - j->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			j->oom = true;
			return;
		}
		if ((size_t)n < j->cap - j->len) {
			j->len += (size_t)n;
			return;
		}
		{
			size_t ncap = (j->cap + (size_t)n + 1) * 2;
			char *nb = stn__realloc(j->buf, ncap);

			if (nb == NULL) {
				j->oom = true;
				return;
			}
			j->buf = nb;
			j->cap = ncap;
		}
	}
}

static void jstr(jb *j, const char *s)
{
	jput(j, "\"");
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			jput(j, "\\%c", *p);
		else if (*p < 0x20)
			jput(j, "\\u%04x", *p);
		else
			jput(j, "%c", *p);
	}
	jput(j, "\"");
}

static void jkey(jb *j, const char *k, bool *first)
{
	jput(j, "%s", *first ? "" : ", ");
	*first = false;
	jstr(j, k);
	jput(j, ": ");
}

static void jkv_u(jb *j, const char *k, uint64_t v, bool *first)
{
	jkey(j, k, first);
	jput(j, "%llu", (unsigned long long)v);
}

static void jkv_s(jb *j, const char *k, const char *v, bool *first)
{
	jkey(j, k, first);
	jstr(j, v);
}

static void jkv_d(jb *j, const char *k, double v, bool *first)
{
	jkey(j, k, first);
	jput(j, "%.17g", v);
}

static void jarr_u(jb *j, const char *k, const uint32_t *v, size_t n, bool *first)
{
	jkey(j, k, first);
	jput(j, "[");
	for (size_t i = 0; i < n; i++)
		jput(j, "%s%u", i ? ", " : "", v[i]);
	jput(j, "]");
}

static void jarr_d(jb *j, const char *k, const double *v, size_t n, bool *first)
{
	jkey(j, k, first);
	jput(j, "[");
	for (size_t i = 0; i < n; i++)
		jput(j, "%s%.17g", i ? ", " : "", v[i]);
	jput(j, "]");
}

stn_status stn__proto_to_json(const stn_msg *m, char **out)
{
	jb j = {NULL, 0, 0, false};
	bool first = true;
	const char *tname = stn__msg_type_name(m->type);

	*out = NULL;
	if (tname == NULL)
		return STN_EINVAL;
	jput(&j, "{");
	jkv_u(&j, "v", STN_PROTO_VERSION, &first);
	jkv_s(&j, "t", tname, &first);
	switch (m->type) {
	case STN_MSG_HELLO:
		jkv_s(&j, "client", m->u.hello.client, &first);
		jarr_u(&j, "versions", m->u.hello.versions, m->u.hello.n_versions, &first);
		break;
	case STN_MSG_WELCOME:
		jkv_u(&j, "version", m->u.welcome.version, &first);
		jkv_s(&j, "server", m->u.welcome.server, &first);
		jkv_u(&j, "max_msg_bytes", m->u.welcome.max_msg_bytes, &first);
		jkv_u(&j, "max_ops", m->u.welcome.max_ops, &first);
		jkv_u(&j, "max_edges", m->u.welcome.max_edges, &first);
		jkv_u(&j, "max_rows", m->u.welcome.max_rows, &first);
		jkv_u(&j, "window_ms", m->u.welcome.window_ms, &first);
		break;
	case STN_MSG_REGISTER: {
		const stn_msg_register *g = &m->u.reg;
		bool f2;

		jkv_s(&j, "job", g->job, &first);
		jkv_u(&j, "id", g->id, &first);
		jkv_u(&j, "senders", g->senders, &first);
		jkv_u(&j, "window_ms", g->window_ms, &first);
		jkv_s(&j, "policy", g->policy, &first);
		jkey(&j, "policy_opts", &first);
		jput(&j, "{");
		f2 = true;
		for (size_t i = 0; i < g->n_opts; i++)
			jkv_d(&j, g->opts[i].key, g->opts[i].value, &f2);
		jput(&j, "}");
		jkey(&j, "ops", &first);
		jput(&j, "[");
		for (size_t i = 0; i < g->dag.n_ops; i++) {
			const stn_op *op = &g->dag.ops[i];

			f2 = true;
			jput(&j, "%s{", i ? ", " : "");
			jkv_u(&j, "id", op->id, &f2);
			jkv_s(&j, "name", op->name, &f2);
			jkv_s(&j, "kind", stn__op_kind_name(op->kind), &f2);
			jkey(&j, "stateful", &f2);
			jput(&j, "%s", op->stateful ? "true" : "false");
			jkv_d(&j, "selectivity", op->selectivity, &f2);
			jkv_d(&j, "rate", op->source_rate, &f2);
			jkv_u(&j, "p", op->parallelism, &f2);
			jkv_u(&j, "p_max", op->p_max, &f2);
			jput(&j, "}");
		}
		jput(&j, "]");
		jkey(&j, "edges", &first);
		jput(&j, "[");
		for (size_t i = 0; i < g->dag.n_edges; i++) {
			const stn_edge *e = &g->dag.edges[i];

			jput(&j, "%s[%u, %u, ", i ? ", " : "", g->dag.ops[e->from].id,
			     g->dag.ops[e->to].id);
			jstr(&j, stn__part_name(e->part));
			jput(&j, "]");
		}
		jput(&j, "]");
		break;
	}
	case STN_MSG_SAMPLES: {
		const stn_msg_samples *s = &m->u.samples;

		jkv_s(&j, "job", s->job, &first);
		jkv_u(&j, "window", s->window, &first);
		jkv_u(&j, "epoch", s->epoch, &first);
		jkv_u(&j, "duration_ms", s->duration_ms, &first);
		jkv_u(&j, "sender", s->sender, &first);
		jkey(&j, "ack", &first);
		jput(&j, "%s", s->want_ack ? "true" : "false");
		if (s->lag_ms >= 0.0)
			jkv_d(&j, "lag_ms", s->lag_ms, &first);
		jarr_u(&j, "op", s->op, s->n_rows, &first);
		jarr_u(&j, "inst", s->inst, s->n_rows, &first);
		jarr_d(&j, "busy_ms", s->busy_ms, s->n_rows, &first);
		jarr_d(&j, "in", s->recs_in, s->n_rows, &first);
		jarr_d(&j, "out", s->recs_out, s->n_rows, &first);
		jarr_d(&j, "backlog", s->backlog, s->n_rows, &first);
		if (s->bp_ms != NULL)
			jarr_d(&j, "bp_ms", s->bp_ms, s->n_rows, &first);
		break;
	}
	case STN_MSG_DECISION: {
		const stn_msg_decision *d = &m->u.decision;

		jkv_s(&j, "job", d->job, &first);
		jkv_u(&j, "seq", d->seq, &first);
		jkv_u(&j, "epoch", d->epoch, &first);
		jarr_u(&j, "op", d->op, d->n_ops, &first);
		jarr_u(&j, "p", d->p, d->n_ops, &first);
		jarr_d(&j, "prob", d->prob, d->n_ops, &first);
		jkv_s(&j, "reason", d->reason, &first);
		jkv_s(&j, "policy", d->policy, &first);
		break;
	}
	case STN_MSG_ACK: {
		const stn_msg_ack *a = &m->u.ack;

		jkv_s(&j, "of", ack_names[a->of >= 1 && a->of <= 3 ? a->of : 1], &first);
		jkv_s(&j, "job", a->job, &first);
		if (a->of == STN_ACK_REGISTER) {
			jkv_u(&j, "id", a->id, &first);
			jkv_u(&j, "hash", a->hash, &first);
		} else if (a->of == STN_ACK_SAMPLES) {
			jkv_u(&j, "window", a->window, &first);
		} else {
			jkv_u(&j, "seq", a->seq, &first);
			jkv_u(&j, "epoch", a->epoch, &first);
		}
		break;
	}
	case STN_MSG_QUERY:
		jkv_u(&j, "id", m->u.query.id, &first);
		if (m->u.query.job[0] != '\0')
			jkv_s(&j, "job", m->u.query.job, &first);
		break;
	case STN_MSG_STATUS: {
		const stn_msg_status *x = &m->u.status;

		jkv_u(&j, "id", x->id, &first);
		jkv_u(&j, "jobs", x->jobs, &first);
		jkv_u(&j, "windows", x->windows, &first);
		jkv_u(&j, "decisions", x->decisions, &first);
		jkv_u(&j, "uptime_ms", x->uptime_ms, &first);
		jkv_s(&j, "job", x->job, &first);
		jkv_s(&j, "policy", x->policy, &first);
		jkv_u(&j, "last_window", x->last_window, &first);
		break;
	}
	case STN_MSG_ERROR: {
		const stn_msg_error *e = &m->u.error;

		jkv_u(&j, "code", e->code, &first);
		jkv_s(&j, "name", e->name, &first);
		jkv_s(&j, "message", e->message, &first);
		jkv_u(&j, "id", e->id, &first);
		jkv_s(&j, "job", e->job, &first);
		break;
	}
	}
	jput(&j, "}\n");
	if (j.oom) {
		stn__free(j.buf);
		return STN_ENOMEM;
	}
	*out = j.buf;
	return STN_OK;
}
