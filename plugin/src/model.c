/* model: encoding, decoding and atomic writing of model files; the default model. */
#define _GNU_SOURCE /* dladdr */
#include "model.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "cluster.h"
#include "fileio.h"

static uint32_t crc_table[256];
static pthread_once_t crc_table_once = PTHREAD_ONCE_INIT;

static void fill_crc_table(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1u) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
		crc_table[i] = c;
	}
}

uint32_t stn__crc32(uint32_t crc, const void *data, size_t len)
{
	const uint32_t *table = crc_table;
	(void)pthread_once(&crc_table_once, fill_crc_table);
	const uint8_t *p = data;
	crc = ~crc;
	for (size_t i = 0; i < len; i++)
		crc = table[(crc ^ p[i]) & 0xFFu] ^ (crc >> 8);
	return ~crc;
}

stn_status stn__model_init(stn_model *m, const stn_net_config *cfg, uint64_t seed,
			   const char *description, stn_errbuf *eb)
{
	memset(m, 0, sizeof(*m));
	stn_status st = stn__net_config_check(cfg, eb);
	if (st != STN_OK)
		return st;
	if (description == NULL)
		description = "";
	if (strlen(description) > STN_MODEL_MAX_DESC)
		return stn__fail(eb, STN_ETOOBIG, "description longer than %u bytes",
				 STN_MODEL_MAX_DESC);
	m->description = stn__strdup(description);
	if (m->description == NULL)
		return stn__fail(eb, STN_ENOMEM, "description");
	m->cfg = *cfg;
	m->seed = seed;
	m->margin = STN_MODEL_DEFAULT_MARGIN;
	return STN_OK;
}

void stn__model_fini(stn_model *m)
{
	for (size_t i = 0; i < m->n_members; i++) {
		stn__dag_fini(&m->members[i].dag);
		stn__net_fini(&m->members[i].net);
	}
	stn__free(m->members);
	stn__free(m->description);
	stn__free(m->data.histories);
	memset(m, 0, sizeof(*m));
}

stn_status stn__model_set_histories(stn_model *m, const stn_model_history *h, size_t n,
				    stn_errbuf *eb)
{
	stn_model_history *copy = NULL;

	if (n > STN_MODEL_MAX_HISTORIES)
		return stn__fail(eb, STN_ETOOBIG, "more than %u histories", STN_MODEL_MAX_HISTORIES);
	if (n > 0) {
		copy = stn__malloc_array(n, sizeof(*copy));
		if (copy == NULL)
			return stn__fail(eb, STN_ENOMEM, "history list");
		memcpy(copy, h, n * sizeof(*copy));
		for (size_t i = 0; i < n; i++)
			copy[i].name[STN_MODEL_MAX_NAME] = '\0';
	}
	stn__free(m->data.histories);
	m->data.histories = copy;
	m->data.n_histories = n;
	return STN_OK;
}

static stn_model_member *new_member(stn_model *m, stn_errbuf *eb)
{
	if (m->n_members >= STN_MODEL_MAX_MEMBERS) {
		stn__fail(eb, STN_ETOOBIG, "more than %u members", STN_MODEL_MAX_MEMBERS);
		return NULL;
	}
	stn_model_member *a = stn__realloc_array(m->members, m->n_members + 1, sizeof(*a));
	if (a == NULL) {
		stn__fail(eb, STN_ENOMEM, "member list");
		return NULL;
	}
	m->members = a;
	stn_model_member *x = &a[m->n_members];
	memset(x, 0, sizeof(*x));
	stn__dag_init(&x->dag);
	return x;
}

stn_status stn__model_add_member(stn_model *m, const char *name, const stn_net *net,
				 const stn_dag *dag, double radius, stn_errbuf *eb)
{
	if (memcmp(&net->cfg, &m->cfg, sizeof(m->cfg)) != 0)
		return stn__fail(eb, STN_EMODEL, "member configuration differs from the model's");
	if (name == NULL || strlen(name) > STN_MODEL_MAX_NAME)
		return stn__fail(eb, STN_EINVAL, "member name missing or too long");
	if (!isfinite(radius))
		return stn__fail(eb, STN_EVALUE, "member radius not finite");
	stn_model_member *x = new_member(m, eb);
	if (x == NULL)
		return STN_ENOMEM;
	snprintf(x->name, sizeof(x->name), "%s", name);
	x->radius = radius;
	stn_status st = stn__net_copy(&x->net, net);
	if (st != STN_OK)
		return stn__fail(eb, st, "copying parameters");
	if (dag != NULL) {
		st = stn__dag_copy(&x->dag, dag);
		if (st != STN_OK) {
			stn__net_fini(&x->net);
			return stn__fail(eb, st, "copying DAG");
		}
		x->has_dag = true;
	}
	m->n_members++;
	return STN_OK;
}

/* Growable little-endian writer. */
typedef struct wbuf {
	uint8_t *p;
	size_t len, cap;
	bool oom;
} wbuf;

static void put(wbuf *w, const void *src, size_t n)
{
	if (w->oom)
		return;
	if (w->len + n > w->cap) {
		size_t cap = w->cap ? w->cap : 256;
		while (cap < w->len + n)
			cap *= 2;
		uint8_t *q = stn__realloc(w->p, cap);
		if (q == NULL) {
			w->oom = true;
			return;
		}
		w->p = q;
		w->cap = cap;
	}
	memcpy(w->p + w->len, src, n);
	w->len += n;
}

static void put_u64(wbuf *w, uint64_t v)
{
	uint8_t b[8];
	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	put(w, b, 8);
}

static void put_u32(wbuf *w, uint32_t v)
{
	uint8_t b[4];
	for (int i = 0; i < 4; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	put(w, b, 4);
}

static void put_u8(wbuf *w, uint8_t v)
{
	put(w, &v, 1);
}

static void put_f64(wbuf *w, double d)
{
	uint64_t v;
	memcpy(&v, &d, 8);
	put_u64(w, v);
}

static void put_str(wbuf *w, const char *s)
{
	size_t n = strlen(s);
	put_u32(w, (uint32_t)n);
	put(w, s, n);
}

enum {
	SEC_ASSIGN = 1,
	SEC_TRAINING = 2,
	SEC_DATA = 3,
	SEC_MEMBERS = 4,
};

/* A section is opened with its tag and a length placeholder (at *len_at), and closed by
 * patching in the length of what was written since. */
static void begin_section(wbuf *w, uint32_t tag, size_t *len_at)
{
	put_u32(w, tag);
	*len_at = w->len;
	put_u32(w, 0);
}

static void end_section(wbuf *w, size_t len_at)
{
	if (w->oom)
		return;
	size_t body = w->len - len_at - 4;
	for (int i = 0; i < 4; i++)
		w->p[len_at + (size_t)i] = (uint8_t)((uint32_t)body >> (8 * i));
}

static void put_sections(wbuf *w, const stn_model *m)
{
	const stn_model_training *t = &m->train;
	const stn_model_data *d = &m->data;
	size_t at;

	put_u32(w, 4);
	begin_section(w, SEC_ASSIGN, &at);
	put_f64(w, m->margin);
	end_section(w, at);
	begin_section(w, SEC_TRAINING, &at);
	put_u32(w, t->max_epochs);
	put_u32(w, t->batch);
	put_u32(w, t->patience);
	put_f64(w, t->lr);
	put_f64(w, t->val_fraction);
	put_u32(w, t->k_min);
	put_u32(w, t->k_max);
	put_f64(w, t->radius_quantile);
	put_u32(w, t->ged_exact_max_nodes);
	put_u32(w, t->min_cluster_windows);
	put_u32(w, t->max_ops);
	end_section(w, at);
	begin_section(w, SEC_DATA, &at);
	put_u64(w, d->jobs);
	put_u64(w, d->dag_versions);
	put_u64(w, d->unique_dags);
	put_u64(w, d->windows);
	put_u64(w, d->observations);
	put_u64(w, d->positives);
	put_f64(w, d->silhouette);
	put_u32(w, d->k);
	put_u32(w, (uint32_t)d->n_histories);
	for (size_t i = 0; i < d->n_histories; i++) {
		put_str(w, d->histories[i].name);
		put_u64(w, d->histories[i].digest);
		put_u64(w, d->histories[i].jobs);
		put_u64(w, d->histories[i].windows);
	}
	end_section(w, at);
	begin_section(w, SEC_MEMBERS, &at);
	put_u32(w, (uint32_t)m->n_members);
	for (size_t i = 0; i < m->n_members; i++) {
		const stn_model_member *x = &m->members[i];
		put_u64(w, x->dags);
		put_u64(w, x->windows);
		put_u64(w, x->observations);
		put_u64(w, x->positives);
		put_u32(w, x->epochs);
		put_f64(w, x->val_loss);
		put_u8(w, x->shared_global ? 1 : 0);
	}
	end_section(w, at);
}

stn_status stn__model_encode(const stn_model *m, uint8_t **out, size_t *len, stn_errbuf *eb)
{
	wbuf w = {0};
	uint8_t hdr[STN_MODEL_HEADER_SIZE];

	if (m->n_members > STN_MODEL_MAX_MEMBERS || m->data.n_histories > STN_MODEL_MAX_HISTORIES)
		return stn__fail(eb, STN_ETOOBIG, "model has too many members or histories");
	if (m->has_info && (!isfinite(m->margin) || !isfinite(m->data.silhouette)))
		return stn__fail(eb, STN_EVALUE, "model margin or silhouette not finite");
	memset(hdr, 0, sizeof(hdr));
	put(&w, hdr, sizeof(hdr));
	put_u32(&w, m->cfg.layers);
	put_u32(&w, m->cfg.width);
	put_u32(&w, m->cfg.feat_dim);
	put_u64(&w, m->seed);
	put_u64(&w, m->data_hash);
	put_str(&w, m->description ? m->description : "");
	put_u32(&w, (uint32_t)m->n_members);
	for (size_t i = 0; i < m->n_members; i++) {
		const stn_model_member *x = &m->members[i];
		put_str(&w, x->name);
		put_f64(&w, x->radius);
		put_u8(&w, x->has_dag ? 1 : 0);
		if (x->has_dag) {
			put_u32(&w, (uint32_t)x->dag.n_ops);
			for (size_t v = 0; v < x->dag.n_ops; v++) {
				const stn_op *op = &x->dag.ops[v];
				put_u32(&w, op->id);
				put_str(&w, op->name);
				put_u32(&w, (uint32_t)op->kind);
				put_u8(&w, op->stateful ? 1 : 0);
				put_f64(&w, op->selectivity);
				put_f64(&w, op->source_rate);
				put_u32(&w, op->parallelism);
				put_u32(&w, op->p_max);
			}
			put_u32(&w, (uint32_t)x->dag.n_edges);
			for (size_t e = 0; e < x->dag.n_edges; e++) {
				put_u32(&w, x->dag.edges[e].from);
				put_u32(&w, x->dag.edges[e].to);
				put_u32(&w, (uint32_t)x->dag.edges[e].part);
			}
		}
		put_u64(&w, x->net.n_params);
		for (size_t k = 0; k < x->net.n_params; k++)
			put_f64(&w, x->net.w[k]);
	}
	if (m->has_info)
		put_sections(&w, m);
	if (w.oom) {
		stn__free(w.p);
		return stn__fail(eb, STN_ENOMEM, "encoding model");
	}
	uint64_t plen = w.len - STN_MODEL_HEADER_SIZE;
	uint32_t crc = stn__crc32(0, w.p + STN_MODEL_HEADER_SIZE, (size_t)plen);
	wbuf h = {.p = w.p, .len = 0, .cap = w.cap};
	put(&h, STN_MODEL_MAGIC, 8);
	put_u32(&h, m->has_info ? STN_MODEL_VERSION : STN_MODEL_VERSION_1);
	put_u32(&h, STN_MODEL_ENDIAN_MARK);
	put_u64(&h, plen);
	put_u32(&h, crc);
	put_u32(&h, 0);
	*out = w.p;
	*len = w.len;
	return STN_OK;
}

/* Bounded little-endian reader. */
typedef struct rbuf {
	const uint8_t *p;
	size_t len, pos;
	bool bad;
} rbuf;

static bool take(rbuf *r, void *dst, size_t n)
{
	if (r->bad || r->len - r->pos < n) {
		r->bad = true;
		if (dst != NULL)
			memset(dst, 0, n);
		return false;
	}
	if (dst != NULL)
		memcpy(dst, r->p + r->pos, n);
	r->pos += n;
	return true;
}

static uint64_t get_u64(rbuf *r)
{
	uint8_t b[8];
	uint64_t v = 0;
	take(r, b, 8);
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | b[i];
	return v;
}

static uint32_t get_u32(rbuf *r)
{
	uint8_t b[4];
	take(r, b, 4);
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static uint8_t get_u8(rbuf *r)
{
	uint8_t b;
	take(r, &b, 1);
	return b;
}

static double get_f64(rbuf *r)
{
	uint64_t v = get_u64(r);
	double d;
	memcpy(&d, &v, 8);
	return d;
}

/* Reads a string of at most cap-1 bytes into dst (NUL-terminated). */
static bool get_str(rbuf *r, char *dst, size_t cap)
{
	uint32_t n = get_u32(r);
	if (r->bad || n >= cap || n > r->len - r->pos) {
		r->bad = true;
		dst[0] = '\0';
		return false;
	}
	take(r, dst, n);
	dst[n] = '\0';
	if (memchr(dst, '\0', n) != NULL) {
		r->bad = true;
		return false;
	}
	return true;
}

static stn_status read_dag(rbuf *r, stn_dag *d, size_t mi, stn_errbuf *eb)
{
	uint32_t n_ops = get_u32(r);
	if (r->bad || n_ops > STN_DAG_MAX_OPS)
		return stn__fail(eb, STN_ECORRUPT, "member %zu: operator count %u out of bounds",
				 mi, (unsigned)n_ops);
	for (uint32_t v = 0; v < n_ops; v++) {
		stn_op op;
		memset(&op, 0, sizeof(op));
		op.id = get_u32(r);
		get_str(r, op.name, sizeof(op.name));
		uint32_t kind = get_u32(r);
		uint8_t stateful = get_u8(r);
		op.selectivity = get_f64(r);
		op.source_rate = get_f64(r);
		op.parallelism = get_u32(r);
		op.p_max = get_u32(r);
		if (r->bad)
			return stn__fail(eb, STN_ECORRUPT, "member %zu: truncated operator %u", mi,
					 (unsigned)v);
		if (kind >= STN_KIND_COUNT || stateful > 1 || !isfinite(op.source_rate) ||
		    op.source_rate < 0.0)
			return stn__fail(eb, STN_ECORRUPT, "member %zu: invalid operator %u", mi,
					 (unsigned)v);
		op.kind = (stn_op_kind)kind;
		op.stateful = stateful != 0;
		stn_errbuf why;
		stn_status st = stn__dag_add_op(d, &op, &why);
		if (st != STN_OK)
			return stn__fail(eb, STN_ECORRUPT, "member %zu: operator %u: %s", mi,
					 (unsigned)v, why.text);
	}
	uint32_t n_edges = get_u32(r);
	if (r->bad || n_edges > STN_DAG_MAX_EDGES)
		return stn__fail(eb, STN_ECORRUPT, "member %zu: edge count %u out of bounds", mi,
				 (unsigned)n_edges);
	for (uint32_t e = 0; e < n_edges; e++) {
		uint32_t from = get_u32(r), to = get_u32(r), part = get_u32(r);
		if (r->bad)
			return stn__fail(eb, STN_ECORRUPT, "member %zu: truncated edge", mi);
		if (part >= STN_PART_COUNT)
			return stn__fail(eb, STN_ECORRUPT, "member %zu: invalid partitioning", mi);
		stn_errbuf why;
		stn_status st = stn__dag_add_edge(d, from, to, (stn_partitioning)part, &why);
		if (st != STN_OK)
			return stn__fail(eb, STN_ECORRUPT, "member %zu: edge %u: %s", mi,
					 (unsigned)e, why.text);
	}
	stn_errbuf why;
	stn_status st = stn__dag_validate(d, &why);
	if (st != STN_OK)
		return stn__fail(eb, STN_ECORRUPT, "member %zu: invalid DAG: %s", mi, why.text);
	return STN_OK;
}

static stn_status decode_sections(stn_model *m, rbuf *r, stn_errbuf *eb);

static stn_status decode_payload(stn_model *m, rbuf *r, uint32_t version, stn_errbuf *eb)
{
	stn_net_config cfg;
	stn_status st;
	char name[STN_MODEL_MAX_NAME + 1];

	cfg.layers = get_u32(r);
	cfg.width = get_u32(r);
	cfg.feat_dim = get_u32(r);
	uint64_t seed = get_u64(r), hash = get_u64(r);
	if (r->bad)
		return stn__fail(eb, STN_ECORRUPT, "truncated configuration");
	stn_errbuf why;
	st = stn__net_config_check(&cfg, &why);
	if (st != STN_OK)
		return stn__fail(eb, st == STN_EMODEL ? st : STN_ECORRUPT, "%s", why.text);
	uint32_t dlen = get_u32(r);
	if (r->bad || dlen > STN_MODEL_MAX_DESC || dlen > r->len - r->pos)
		return stn__fail(eb, STN_ECORRUPT, "description length %u out of bounds",
				 (unsigned)dlen);
	char *desc = stn__malloc((size_t)dlen + 1);
	if (desc == NULL)
		return stn__fail(eb, STN_ENOMEM, "description");
	take(r, desc, dlen);
	desc[dlen] = '\0';
	st = stn__model_init(m, &cfg, seed, desc, eb);
	stn__free(desc);
	if (st != STN_OK)
		return st;
	m->data_hash = hash;
	uint32_t nm = get_u32(r);
	if (r->bad || nm > STN_MODEL_MAX_MEMBERS)
		return stn__fail(eb, STN_ECORRUPT, "member count %u out of bounds", (unsigned)nm);
	size_t expect = stn__net_param_count(&cfg);
	for (uint32_t i = 0; i < nm; i++) {
		if (!get_str(r, name, sizeof(name)))
			return stn__fail(eb, STN_ECORRUPT, "member %u: bad name", (unsigned)i);
		double radius = get_f64(r);
		uint8_t has_dag = get_u8(r);
		if (r->bad || !isfinite(radius) || has_dag > 1)
			return stn__fail(eb, STN_ECORRUPT, "member %u: bad header", (unsigned)i);
		stn_model_member *x = new_member(m, eb);
		if (x == NULL)
			return STN_ENOMEM;
		m->n_members++; /* owned from here, so fini releases it */
		snprintf(x->name, sizeof(x->name), "%s", name);
		x->radius = radius;
		x->has_dag = has_dag != 0;
		if (x->has_dag) {
			st = read_dag(r, &x->dag, i, eb);
			if (st != STN_OK)
				return st;
		}
		uint64_t np = get_u64(r);
		if (r->bad || np != expect)
			return stn__fail(eb, STN_ECORRUPT,
					 "member %u: %llu parameters, configuration needs %zu",
					 (unsigned)i, (unsigned long long)np, expect);
		if ((r->len - r->pos) / 8 < np)
			return stn__fail(eb, STN_ECORRUPT, "member %u: truncated parameters",
					 (unsigned)i);
		st = stn__net_init(&x->net, &cfg, eb);
		if (st != STN_OK)
			return st;
		for (size_t k = 0; k < expect; k++) {
			x->net.w[k] = get_f64(r);
			if (!isfinite(x->net.w[k]))
				return stn__fail(eb, STN_ECORRUPT,
						 "member %u: parameter %zu not finite", (unsigned)i,
						 k);
		}
	}
	if (version == STN_MODEL_VERSION_1) {
		if (r->pos != r->len)
			return stn__fail(eb, STN_ECORRUPT, "%zu trailing bytes", r->len - r->pos);
		return STN_OK;
	}
	if (r->pos == r->len)
		return stn__fail(eb, STN_EVERSION,
				 "version %u header over a payload without version %u sections",
				 (unsigned)version, (unsigned)version);
	return decode_sections(m, r, eb);
}

static stn_status section_assign(stn_model *m, rbuf *r, stn_errbuf *eb)
{
	m->margin = get_f64(r);
	if (r->bad || !(m->margin > 0.0) || !isfinite(m->margin))
		return stn__fail(eb, STN_ECORRUPT, "assignment section: bad margin");
	return STN_OK;
}

static stn_status section_training(stn_model *m, rbuf *r, stn_errbuf *eb)
{
	stn_model_training *t = &m->train;

	t->max_epochs = get_u32(r);
	t->batch = get_u32(r);
	t->patience = get_u32(r);
	t->lr = get_f64(r);
	t->val_fraction = get_f64(r);
	t->k_min = get_u32(r);
	t->k_max = get_u32(r);
	t->radius_quantile = get_f64(r);
	t->ged_exact_max_nodes = get_u32(r);
	t->min_cluster_windows = get_u32(r);
	t->max_ops = get_u32(r);
	if (r->bad || !isfinite(t->lr) || !isfinite(t->val_fraction) ||
	    !isfinite(t->radius_quantile))
		return stn__fail(eb, STN_ECORRUPT, "training section: truncated or not finite");
	return STN_OK;
}

static stn_status section_data(stn_model *m, rbuf *r, stn_errbuf *eb)
{
	stn_model_data *d = &m->data;
	stn_model_history *h;
	uint32_t n;

	d->jobs = get_u64(r);
	d->dag_versions = get_u64(r);
	d->unique_dags = get_u64(r);
	d->windows = get_u64(r);
	d->observations = get_u64(r);
	d->positives = get_u64(r);
	d->silhouette = get_f64(r);
	d->k = get_u32(r);
	n = get_u32(r);
	if (r->bad || !isfinite(d->silhouette))
		return stn__fail(eb, STN_ECORRUPT, "data section: truncated or not finite");
	if (n > STN_MODEL_MAX_HISTORIES || (size_t)n * 28u > r->len - r->pos)
		return stn__fail(eb, STN_ECORRUPT, "data section: history count %u out of bounds",
				 (unsigned)n);
	stn__free(d->histories);
	d->histories = NULL;
	d->n_histories = 0;
	if (n == 0)
		return STN_OK;
	h = stn__calloc(n, sizeof(*h));
	if (h == NULL)
		return stn__fail(eb, STN_ENOMEM, "history list");
	d->histories = h;
	d->n_histories = n;
	for (uint32_t i = 0; i < n; i++) {
		get_str(r, h[i].name, sizeof(h[i].name));
		h[i].digest = get_u64(r);
		h[i].jobs = get_u64(r);
		h[i].windows = get_u64(r);
		if (r->bad)
			return stn__fail(eb, STN_ECORRUPT, "data section: history %u truncated",
					 (unsigned)i);
	}
	return STN_OK;
}

static stn_status section_members(stn_model *m, rbuf *r, stn_errbuf *eb)
{
	uint32_t n = get_u32(r);

	if (r->bad || n != m->n_members)
		return stn__fail(eb, STN_ECORRUPT, "members section: %u entries for %zu members",
				 (unsigned)n, m->n_members);
	for (uint32_t i = 0; i < n; i++) {
		stn_model_member *x = &m->members[i];
		x->dags = get_u64(r);
		x->windows = get_u64(r);
		x->observations = get_u64(r);
		x->positives = get_u64(r);
		x->epochs = get_u32(r);
		x->val_loss = get_f64(r);
		uint8_t shared = get_u8(r);
		if (r->bad || shared > 1)
			return stn__fail(eb, STN_ECORRUPT, "members section: entry %u bad",
					 (unsigned)i);
		x->shared_global = shared != 0;
	}
	return STN_OK;
}

/* Version 2 sections; each known one must fill its length exactly, unknown ones are
 * skipped. */
static stn_status decode_sections(stn_model *m, rbuf *r, stn_errbuf *eb)
{
	uint32_t n = get_u32(r);

	if (r->bad || n > STN_MODEL_MAX_SECTIONS)
		return stn__fail(eb, STN_ECORRUPT, "section count %u out of bounds", (unsigned)n);
	for (uint32_t i = 0; i < n; i++) {
		uint32_t tag = get_u32(r), len = get_u32(r);
		stn_status st = STN_OK;

		if (r->bad || len > r->len - r->pos)
			return stn__fail(eb, STN_ECORRUPT, "section %u: length out of bounds",
					 (unsigned)i);
		rbuf body = {.p = r->p + r->pos, .len = len};
		r->pos += len;
		switch (tag) {
		case SEC_ASSIGN:
			st = section_assign(m, &body, eb);
			break;
		case SEC_TRAINING:
			st = section_training(m, &body, eb);
			break;
		case SEC_DATA:
			st = section_data(m, &body, eb);
			break;
		case SEC_MEMBERS:
			st = section_members(m, &body, eb);
			break;
		default:
			continue;
		}
		if (st != STN_OK)
			return st;
		if (body.pos != body.len)
			return stn__fail(eb, STN_ECORRUPT, "section %u (tag %u): %zu extra bytes",
					 (unsigned)i, (unsigned)tag, body.len - body.pos);
	}
	if (r->pos != r->len)
		return stn__fail(eb, STN_ECORRUPT, "%zu trailing bytes", r->len - r->pos);
	m->has_info = true;
	return STN_OK;
}

stn_status stn__model_decode(stn_model *m, const uint8_t *data, size_t len, stn_errbuf *eb)
{
	memset(m, 0, sizeof(*m));
	if (len == 0)
		return stn__fail(eb, STN_ECORRUPT, "empty model file");
	if (len < STN_MODEL_HEADER_SIZE)
		return stn__fail(eb, STN_ECORRUPT, "truncated header (%zu of %u bytes)", len,
				 STN_MODEL_HEADER_SIZE);
	if (memcmp(data, STN_MODEL_MAGIC, 8) != 0)
		return stn__fail(eb, STN_ECORRUPT, "not a StreamTune model file (bad magic)");
	rbuf r = {.p = data, .len = len, .pos = 8};
	uint32_t version = get_u32(&r);
	uint32_t mark = get_u32(&r);
	if (mark != STN_MODEL_ENDIAN_MARK)
		return stn__fail(eb, STN_ECORRUPT, "bad endianness marker 0x%08x (expected 0x%08x)",
				 (unsigned)mark, STN_MODEL_ENDIAN_MARK);
	if (version != STN_MODEL_VERSION && version != STN_MODEL_VERSION_1)
		return stn__fail(eb, STN_EVERSION, "model format version %u, this build reads %u..%u",
				 (unsigned)version, STN_MODEL_VERSION_1, STN_MODEL_VERSION);
	uint64_t plen = get_u64(&r);
	uint32_t crc = get_u32(&r);
	uint32_t reserved = get_u32(&r);
	if (reserved != 0)
		return stn__fail(eb, STN_ECORRUPT, "reserved header field not zero");
	if (plen != len - STN_MODEL_HEADER_SIZE)
		return stn__fail(eb, STN_ECORRUPT, "payload length %llu, file holds %zu (truncated?)",
				 (unsigned long long)plen, len - STN_MODEL_HEADER_SIZE);
	uint32_t actual = stn__crc32(0, data + STN_MODEL_HEADER_SIZE, (size_t)plen);
	if (actual != crc)
		return stn__fail(eb, STN_ECORRUPT, "checksum mismatch (stored %08x, computed %08x)",
				 (unsigned)crc, (unsigned)actual);
	rbuf p = {.p = data + STN_MODEL_HEADER_SIZE, .len = (size_t)plen};
	stn_status st = decode_payload(m, &p, version, eb);
	if (st == STN_OK)
		m->version = version;
	if (st != STN_OK)
		stn__model_fini(m);
	return st;
}

stn_status stn__model_write(const stn_model *m, const char *path, stn_errbuf *eb)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	char *tmp = NULL, *dircopy = NULL;
	int fd = -1;
	stn_status st = stn__model_encode(m, &buf, &len, eb);
	if (st != STN_OK)
		return st;
	size_t tl = strlen(path) + 16;
	tmp = stn__malloc(tl);
	dircopy = stn__strdup(path);
	if (tmp == NULL || dircopy == NULL) {
		st = stn__fail(eb, STN_ENOMEM, "path");
		goto cleanup_buf;
	}
	snprintf(tmp, tl, "%s.tmp.%ld", path, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		st = stn__fail(eb, STN_EIO, "%s: %s", tmp, strerror(errno));
		goto cleanup_buf;
	}
	size_t off = 0;
	while (off < len) {
		ssize_t k = write(fd, buf + off, len - off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			st = stn__fail(eb, STN_EIO, "%s: %s", tmp, strerror(errno));
			goto cleanup_tmp;
		}
		off += (size_t)k;
	}
	if (fsync(fd) != 0) {
		st = stn__fail(eb, STN_EIO, "fsync %s: %s", tmp, strerror(errno));
		goto cleanup_tmp;
	}
	if (close(fd) != 0) {
		fd = -1;
		st = stn__fail(eb, STN_EIO, "close %s: %s", tmp, strerror(errno));
		goto cleanup_tmp;
	}
	fd = -1;
	if (rename(tmp, path) != 0) {
		st = stn__fail(eb, STN_EIO, "rename to %s: %s", path, strerror(errno));
		goto cleanup_tmp;
	}
	int dfd = open(dirname(dircopy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	st = STN_OK;
	goto cleanup_buf;
cleanup_tmp:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
cleanup_buf:
	stn__free(buf);
	stn__free(tmp);
	stn__free(dircopy);
	return st;
}

stn_status stn__model_read(stn_model *m, const char *path, stn_errbuf *eb)
{
	memset(m, 0, sizeof(*m));
	char *buf;
	size_t len;
	stn_status st = stn__file_read_all(path, STN_MODEL_MAX_FILE, &buf, &len, eb);
	if (st != STN_OK)
		return st;
	st = stn__model_decode(m, (const uint8_t *)buf, len, eb);
	stn__free(buf);
	if (st != STN_OK && eb != NULL) /* name the file, as stn__file_read_all's errors do */
		stn__fail(eb, st, "%s: %s", path, eb->text);
	return st;
}

long stn__model_global_member(const stn_model *m)
{
	for (size_t i = 0; i < m->n_members; i++)
		if (!m->members[i].has_dag)
			return (long)i;
	return -1;
}

void stn__model_assignment_fini(stn_model_assignment *a)
{
	if (a == NULL)
		return;
	stn__ged_result_fini(&a->path);
	memset(a, 0, sizeof(*a));
}

stn_status stn__model_assign(const stn_model *m, const stn_dag *dag, double margin,
			     const stn_ged_opts *ged, bool want_path, stn_model_assignment *out,
			     stn_errbuf *eb)
{
	stn_ged_opts go = ged != NULL ? *ged : stn__ged_opts_default();
	stn_status st = STN_OK;

	memset(out, 0, sizeof(*out));
	out->member = stn__model_global_member(m);
	out->nearest = -1;
	out->distance = NAN;
	out->margin = margin > 0.0 && isfinite(margin) ? margin
			: m->margin > 0.0                 ? m->margin
							  : STN_MODEL_DEFAULT_MARGIN;
	out->global = out->member >= 0;
	go.want_path = false;
	for (size_t i = 0; i < m->n_members; i++) {
		stn_ged_result r;

		if (!m->members[i].has_dag)
			continue;
		st = stn__ged_compute(dag, &m->members[i].dag, &go, &r, eb);
		if (st != STN_OK)
			return st;
		/* Ties go to the earlier member, as in stn__cluster_assign. */
		if (out->nearest < 0 || r.normalised < out->distance) {
			out->nearest = (long)i;
			out->distance = r.normalised;
		}
		stn__ged_result_fini(&r);
	}
	if (out->nearest >= 0) {
		stn_clustering one;
		double radius = m->members[out->nearest].radius;

		memset(&one, 0, sizeof(one));
		one.k = 1;
		one.radius = &radius;
		out->radius = radius;
		if (stn__cluster_assign(&one, &out->distance, out->margin, NULL) == 0 ||
		    out->member < 0) {
			out->member = out->nearest;
			out->global = false;
		}
		if (want_path) {
			go.want_path = true;
			st = stn__ged_compute(dag, &m->members[out->nearest].dag, &go, &out->path, eb);
		}
	}
	return st;
}

/* ---- the default model ---------------------------------------------------------------------- */

/* Directory of the object holding this code: libstreamtune.so when loaded as the plugin, the
 * executable when linked statically (the CLI, tests). */
static bool own_dir(char *buf, size_t cap)
{
	Dl_info info;
	char path[PATH_MAX];
	ssize_t n;

	memset(&info, 0, sizeof(info));
	if (dladdr((const void *)&own_dir, &info) != 0 && info.dli_fname != NULL &&
	    strchr(info.dli_fname, '/') != NULL && realpath(info.dli_fname, path) != NULL) {
		/* path holds the object's absolute name */
	} else if ((n = readlink("/proc/self/exe", path, sizeof(path) - 1)) > 0) {
		path[n] = '\0';
	} else {
		return false;
	}
	char *slash = strrchr(path, '/');
	if (slash == NULL)
		return false;
	*slash = '\0';
	return (size_t)snprintf(buf, cap, "%s", path[0] ? path : "/") < cap;
}

stn_status stn__model_default_path(char *buf, size_t cap, stn_errbuf *eb)
{
	static const char *const rel[] = {"../plugin/models/" STN_MODEL_DEFAULT_NAME,
					  "../share/streamtune/models/" STN_MODEL_DEFAULT_NAME};
	const char *env = getenv(STN_MODEL_ENV);
	char dir[PATH_MAX];

	if (cap > 0)
		buf[0] = '\0';
	if (env != NULL && env[0] != '\0') {
		if (strcmp(env, "none") == 0)
			return stn__fail(eb, STN_ENOTFOUND, "%s=none", STN_MODEL_ENV);
		if ((size_t)snprintf(buf, cap, "%s", env) >= cap)
			return stn__fail(eb, STN_EINVAL, "%s is too long", STN_MODEL_ENV);
		return STN_OK;
	}
	if (!own_dir(dir, sizeof(dir)))
		return stn__fail(eb, STN_ENOTFOUND, "cannot tell where the plugin is installed");
	for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
		if ((size_t)snprintf(buf, cap, "%s/%s", dir, rel[i]) >= cap)
			continue;
		if (access(buf, R_OK) == 0)
			return STN_OK;
	}
	if (cap > 0)
		buf[0] = '\0';
	return stn__fail(eb, STN_ENOTFOUND, "no %s beside %s", STN_MODEL_DEFAULT_NAME, dir);
}

static struct {
	pthread_once_t once;
	stn_model model;
	bool ok;
	char path[PATH_MAX];
	stn_errbuf why;
} default_model = {PTHREAD_ONCE_INIT};

static void load_default(void)
{
	if (stn__model_default_path(default_model.path, sizeof(default_model.path),
				    &default_model.why) != STN_OK)
		return;
	default_model.ok = stn__model_read(&default_model.model, default_model.path,
					   &default_model.why) == STN_OK;
}

const stn_model *stn__model_default(const char **path, const char **why)
{
	pthread_once(&default_model.once, load_default);
	if (path != NULL)
		*path = default_model.path;
	if (why != NULL)
		*why = default_model.ok ? "" : default_model.why.text;
	return default_model.ok ? &default_model.model : NULL;
}
