#include "history.h"

#include <errno.h>
#include <math.h>
#include <msgpack.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"

/* Per-operator aggregates of a window are one little-endian blob of fixed records, so one
 * window is one row: storing a 64-operator window costs one insert, not 64. */
#define OPW_BYTES 72u   /* u32 op_id, n_inst, parallelism, i32 label, 7 x f64 */
#define DEC_BYTES 16u   /* u32 op, u32 p, f64 prob */
#define MAX_IMPORT_BYTES (1u << 30)

enum {
	ST_JOB_GET, ST_JOB_INS, ST_JOB_UPD, ST_DAG_GET, ST_DAG_INS, ST_JOBDAG_INS, ST_WIN_INS,
	ST_DEC_INS, ST_DEC_ACK, ST_WIN_IMP, ST_JOBDAG_IMP, N_STMTS
};

static const char *const stmt_sql[N_STMTS] = {
	"SELECT key, dag FROM jobs WHERE job = ?1",
	"INSERT INTO jobs(job, policy, policy_opts, created_ms, dag) VALUES (?1, ?2, ?3, ?4, ?5)",
	"UPDATE jobs SET policy = ?2, policy_opts = ?3, dag = ?4 WHERE key = ?1",
	"SELECT key FROM dags WHERE hash = ?1",
	"INSERT INTO dags(hash, n_ops, n_edges, body) VALUES (?1, ?2, ?3, ?4)",
	"INSERT OR IGNORE INTO job_dags(job, dag, from_window) VALUES (?1, ?2, ?3)",
	"INSERT INTO windows(job, idx, epoch, duration_ms, lag_ms, dag, n_ops, ops) "
	"VALUES (?1, ?2, ?3, ?4, ?5, (SELECT dag FROM jobs WHERE key = ?1), ?6, ?7)",
	"INSERT INTO decisions(job, seq, epoch, window, policy, reason, n_ops, ops) "
	"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	"UPDATE decisions SET applied_epoch = ?3 WHERE job = ?1 AND seq = ?2",
	/* import: a window under the DAG version it ran with, which need not be the job's
	 * current one */
	"INSERT INTO windows(job, idx, epoch, duration_ms, lag_ms, dag, n_ops, ops) "
	"VALUES (?1, ?2, ?3, ?4, ?5, ?8, ?6, ?7)",
	"INSERT OR IGNORE INTO job_dags(job, dag, from_window) SELECT ?1, ?2, ?3 "
	"WHERE NOT EXISTS (SELECT 1 FROM windows WHERE job = ?1 AND dag = ?2 AND "
	"  idx = (SELECT MAX(idx) FROM windows WHERE job = ?1 AND idx < ?3))",
};

/* Migrations: step i brings the schema from version i to i + 1, in one transaction. */
static const char *const migrations[] = {
	"CREATE TABLE dags(key INTEGER PRIMARY KEY, hash INTEGER NOT NULL UNIQUE,"
	"  n_ops INTEGER NOT NULL, n_edges INTEGER NOT NULL, body BLOB NOT NULL);"
	"CREATE TABLE jobs(key INTEGER PRIMARY KEY, job TEXT NOT NULL UNIQUE,"
	"  policy TEXT NOT NULL, policy_opts TEXT NOT NULL, created_ms INTEGER NOT NULL,"
	"  dag INTEGER NOT NULL REFERENCES dags(key));"
	"CREATE TABLE job_dags(job INTEGER NOT NULL REFERENCES jobs(key),"
	"  dag INTEGER NOT NULL REFERENCES dags(key), from_window INTEGER NOT NULL,"
	"  PRIMARY KEY(job, dag, from_window)) WITHOUT ROWID;"
	"CREATE TABLE windows(job INTEGER NOT NULL REFERENCES jobs(key), idx INTEGER NOT NULL,"
	"  epoch INTEGER NOT NULL, duration_ms INTEGER NOT NULL, lag_ms REAL NOT NULL,"
	"  dag INTEGER NOT NULL REFERENCES dags(key), n_ops INTEGER NOT NULL, ops BLOB NOT NULL,"
	"  PRIMARY KEY(job, idx)) WITHOUT ROWID;"
	"CREATE TABLE decisions(job INTEGER NOT NULL REFERENCES jobs(key), seq INTEGER NOT NULL,"
	"  epoch INTEGER NOT NULL, window INTEGER NOT NULL, policy TEXT NOT NULL,"
	"  reason TEXT NOT NULL, n_ops INTEGER NOT NULL, ops BLOB NOT NULL,"
	"  applied_epoch INTEGER, PRIMARY KEY(job, seq)) WITHOUT ROWID;",
};
#define N_MIGRATIONS (sizeof(migrations) / sizeof(migrations[0]))

struct stn_history {
	sqlite3 *db;
	sqlite3_stmt *st[N_STMTS];
	bool read_only;
	bool in_txn;
};

static stn_status db_fail(stn_history *h, stn_errbuf *eb, const char *what)
{
	int code = sqlite3_errcode(h->db);

	if (code == SQLITE_CONSTRAINT)
		return stn__fail(eb, STN_EORDER, "%s: already stored (%s)", what, sqlite3_errmsg(h->db));
	if (code == SQLITE_CORRUPT || code == SQLITE_NOTADB)
		return stn__fail(eb, STN_ECORRUPT, "%s: %s", what, sqlite3_errmsg(h->db));
	return stn__fail(eb, STN_EDB, "%s: %s", what, sqlite3_errmsg(h->db));
}

static stn_status exec(stn_history *h, const char *sql, stn_errbuf *eb)
{
	char *err = NULL;

	if (sqlite3_exec(h->db, sql, NULL, NULL, &err) != SQLITE_OK) {
		stn_status rv = stn__fail(eb, STN_EDB, "%s", err != NULL ? err : "sqlite error");

		if (sqlite3_errcode(h->db) == SQLITE_NOTADB || sqlite3_errcode(h->db) == SQLITE_CORRUPT)
			rv = stn__fail(eb, STN_ECORRUPT, "not a valid history file: %s",
				       err != NULL ? err : "");
		sqlite3_free(err);
		return rv;
	}
	return STN_OK;
}

/* ---- little-endian packing of blobs ------------------------------------------------------ */

static void put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_f64(uint8_t *p, double d)
{
	uint64_t v;

	memcpy(&v, &d, 8);
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static double get_f64(const uint8_t *p)
{
	uint64_t v = 0;
	double d;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	memcpy(&d, &v, 8);
	return d;
}

/* DAG body: u32 n_ops, u32 n_edges; per op u32 id, u8 kind, u8 stateful, f64 selectivity,
 * f64 rate, u32 p, u32 p_max, u8 name length, name; per edge u32 from, u32 to, u8 part. */
static uint8_t *dag_pack(const stn_dag *d, size_t *len)
{
	size_t n = 8 + d->n_ops * (4 + 1 + 1 + 8 + 8 + 4 + 4 + 1 + STN_DAG_NAME_CAP) + d->n_edges * 9;
	uint8_t *b = stn__malloc(n), *p = b;

	if (b == NULL)
		return NULL;
	put_u32(p, (uint32_t)d->n_ops);
	put_u32(p + 4, (uint32_t)d->n_edges);
	p += 8;
	for (size_t i = 0; i < d->n_ops; i++) {
		const stn_op *o = &d->ops[i];
		size_t nl = strnlen(o->name, STN_DAG_NAME_CAP - 1);

		put_u32(p, o->id);
		p[4] = (uint8_t)o->kind;
		p[5] = o->stateful;
		put_f64(p + 6, o->selectivity);
		put_f64(p + 14, o->source_rate);
		put_u32(p + 22, o->parallelism);
		put_u32(p + 26, o->p_max);
		p[30] = (uint8_t)nl;
		memcpy(p + 31, o->name, nl);
		p += 31 + nl;
	}
	for (size_t i = 0; i < d->n_edges; i++) {
		put_u32(p, d->edges[i].from);
		put_u32(p + 4, d->edges[i].to);
		p[8] = (uint8_t)d->edges[i].part;
		p += 9;
	}
	*len = (size_t)(p - b);
	return b;
}

static stn_status dag_unpack(const uint8_t *b, size_t len, stn_dag *out, stn_errbuf *eb)
{
	size_t pos = 8;
	uint32_t n_ops, n_edges;
	stn_status rv = STN_OK;

	stn__dag_fini(out);
	if (len < 8)
		return stn__fail(eb, STN_ECORRUPT, "stored DAG is truncated");
	n_ops = get_u32(b);
	n_edges = get_u32(b + 4);
	if (n_ops > STN_DAG_MAX_OPS || n_edges > STN_DAG_MAX_EDGES)
		return stn__fail(eb, STN_ECORRUPT, "stored DAG is over the size limits");
	for (uint32_t i = 0; i < n_ops && rv == STN_OK; i++) {
		stn_op o;
		uint8_t nl;

		if (len - pos < 31 || (nl = b[pos + 30]) >= STN_DAG_NAME_CAP || len - pos < 31u + nl)
			return stn__fail(eb, STN_ECORRUPT, "stored DAG is truncated");
		memset(&o, 0, sizeof(o));
		o.id = get_u32(b + pos);
		o.kind = (stn_op_kind)b[pos + 4];
		o.stateful = b[pos + 5] != 0;
		o.selectivity = get_f64(b + pos + 6);
		o.source_rate = get_f64(b + pos + 14);
		o.parallelism = get_u32(b + pos + 22);
		o.p_max = get_u32(b + pos + 26);
		memcpy(o.name, b + pos + 31, nl);
		pos += 31u + nl;
		rv = stn__dag_add_op(out, &o, eb);
	}
	for (uint32_t i = 0; i < n_edges && rv == STN_OK; i++) {
		if (len - pos < 9)
			return stn__fail(eb, STN_ECORRUPT, "stored DAG is truncated");
		rv = stn__dag_add_edge(out, get_u32(b + pos), get_u32(b + pos + 4),
				       (stn_partitioning)b[pos + 8], eb);
		pos += 9;
	}
	if (rv == STN_OK)
		rv = stn__dag_validate(out, eb);
	if (rv != STN_OK)
		return stn__fail(eb, rv == STN_ENOMEM ? rv : STN_ECORRUPT, "stored DAG is invalid: %s",
				 eb->text);
	return STN_OK;
}

static void opw_pack(const stn_op_window *o, uint8_t *p)
{
	put_u32(p, o->op_id);
	put_u32(p + 4, o->n_inst);
	put_u32(p + 8, o->parallelism);
	put_u32(p + 12, (uint32_t)(int32_t)o->label);
	put_f64(p + 16, o->busy_max);
	put_f64(p + 24, o->busy_mean);
	put_f64(p + 32, o->rate_in);
	put_f64(p + 40, o->rate_out);
	put_f64(p + 48, o->backlog_max);
	put_f64(p + 56, o->backlog_sum);
	put_f64(p + 64, o->bp_max);
}

static void opw_unpack(const uint8_t *p, stn_op_window *o)
{
	o->op_id = get_u32(p);
	o->n_inst = get_u32(p + 4);
	o->parallelism = get_u32(p + 8);
	o->label = (int)(int32_t)get_u32(p + 12);
	o->busy_max = get_f64(p + 16);
	o->busy_mean = get_f64(p + 24);
	o->rate_in = get_f64(p + 32);
	o->rate_out = get_f64(p + 40);
	o->backlog_max = get_f64(p + 48);
	o->backlog_sum = get_f64(p + 56);
	o->bp_max = get_f64(p + 64);
}

/* ---- open, schema, migrations ------------------------------------------------------------ */

static stn_status schema_version(stn_history *h, int *version, stn_errbuf *eb)
{
	sqlite3_stmt *st = NULL;
	int rc;

	*version = 0;
	rc = sqlite3_prepare_v2(h->db,
				"SELECT name FROM sqlite_master WHERE type='table' AND name='schema_version'",
				-1, &st, NULL);
	if (rc != SQLITE_OK)
		return db_fail(h, eb, "reading the schema");
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc == SQLITE_DONE)
		return STN_OK; /* a new, empty file */
	if (rc != SQLITE_ROW)
		return db_fail(h, eb, "reading the schema");
	if (sqlite3_prepare_v2(h->db, "SELECT version FROM schema_version", -1, &st, NULL) != SQLITE_OK)
		return db_fail(h, eb, "reading the schema version");
	if (sqlite3_step(st) == SQLITE_ROW)
		*version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return STN_OK;
}

static stn_status migrate(stn_history *h, int from, stn_errbuf *eb)
{
	stn_status rv;
	char sql[96];

	rv = exec(h, "BEGIN IMMEDIATE", eb);
	if (rv != STN_OK)
		return rv;
	if (from == 0)
		rv = exec(h, "CREATE TABLE schema_version(version INTEGER NOT NULL);"
			     "INSERT INTO schema_version VALUES (0)", eb);
	for (size_t v = (size_t)from; v < N_MIGRATIONS && rv == STN_OK; v++)
		rv = exec(h, migrations[v], eb);
	snprintf(sql, sizeof(sql), "UPDATE schema_version SET version = %u", STN_HISTORY_SCHEMA_VERSION);
	if (rv == STN_OK)
		rv = exec(h, sql, eb);
	if (rv == STN_OK)
		return exec(h, "COMMIT", eb);
	exec(h, "ROLLBACK", NULL);
	return rv;
}

stn_status stn__history_open(const char *path, const stn_history_opts *opts,
			     stn_history **out, stn_errbuf *eb)
{
	stn_history *h;
	int flags, version = 0;
	stn_status rv;

	*out = NULL;
	h = stn__calloc(1, sizeof(*h));
	if (h == NULL)
		return stn__fail(eb, STN_ENOMEM, "out of memory");
	h->read_only = opts != NULL && opts->read_only;
	flags = h->read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
	if (sqlite3_open_v2(path, &h->db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		rv = stn__fail(eb, h->read_only && access(path, F_OK) != 0 ? STN_ENOTFOUND : STN_EIO,
			       "cannot open history %s: %s", path,
			       h->db != NULL ? sqlite3_errmsg(h->db) : "out of memory");
		goto out_close;
	}
	sqlite3_busy_timeout(h->db, 5000);
	sqlite3_extended_result_codes(h->db, 0);
	/* Reading the schema also tells a file that is not SQLite at all. */
	rv = schema_version(h, &version, eb);
	if (rv != STN_OK) {
		rv = stn__fail(eb, STN_ECORRUPT, "%s is not a StreamTune history (%s)", path, eb->text);
		goto out_close;
	}
	if (version > STN_HISTORY_SCHEMA_VERSION) {
		rv = stn__fail(eb, STN_ESCHEMA,
			       "%s has history schema version %d; this build reads up to %d", path,
			       version, STN_HISTORY_SCHEMA_VERSION);
		goto out_close;
	}
	if (!h->read_only) {
		rv = exec(h, "PRAGMA journal_mode=WAL", eb);
		if (rv == STN_OK)
			rv = exec(h, opts != NULL && opts->synchronous_full ? "PRAGMA synchronous=FULL"
									   : "PRAGMA synchronous=NORMAL",
				  eb);
		if (rv != STN_OK)
			goto out_close;
	} else if (version == 0) {
		rv = stn__fail(eb, STN_ECORRUPT, "%s holds no history", path);
		goto out_close;
	}
	{
		sqlite3_stmt *st = NULL;
		int rc = sqlite3_prepare_v2(h->db, "PRAGMA quick_check", -1, &st, NULL);
		const char *res = NULL;

		if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
			res = (const char *)sqlite3_column_text(st, 0);
		if (res == NULL || strcmp(res, "ok") != 0) {
			rv = stn__fail(eb, STN_ECORRUPT, "%s fails its integrity check: %s", path,
				       res != NULL ? res : sqlite3_errmsg(h->db));
			sqlite3_finalize(st);
			goto out_close;
		}
		sqlite3_finalize(st);
	}
	if (version < STN_HISTORY_SCHEMA_VERSION) {
		if (h->read_only) {
			rv = stn__fail(eb, STN_ESCHEMA, "%s has an old schema; open it writable once",
				       path);
			goto out_close;
		}
		rv = migrate(h, version, eb);
		if (rv != STN_OK)
			goto out_close;
	}
	exec(h, "PRAGMA foreign_keys=ON", NULL);
	for (int i = 0; i < N_STMTS; i++) {
		if (h->read_only && i != ST_JOB_GET && i != ST_DAG_GET)
			continue;
		if (sqlite3_prepare_v3(h->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &h->st[i],
				       NULL) != SQLITE_OK) {
			rv = db_fail(h, eb, "preparing statements");
			goto out_close;
		}
	}
	*out = h;
	return STN_OK;
out_close:
	stn__history_close(h);
	return rv;
}

void stn__history_close(stn_history *h)
{
	if (h == NULL)
		return;
	if (h->in_txn)
		stn__history_rollback(h);
	for (int i = 0; i < N_STMTS; i++)
		sqlite3_finalize(h->st[i]);
	sqlite3_close(h->db);
	stn__free(h);
}

stn_status stn__history_begin(stn_history *h, stn_errbuf *eb)
{
	stn_status rv;

	if (h->in_txn)
		return stn__fail(eb, STN_ESTATE, "a transaction is already open");
	rv = exec(h, "BEGIN IMMEDIATE", eb);
	h->in_txn = rv == STN_OK;
	return rv;
}

stn_status stn__history_commit(stn_history *h, stn_errbuf *eb)
{
	stn_status rv;

	if (!h->in_txn)
		return stn__fail(eb, STN_ESTATE, "no transaction is open");
	rv = exec(h, "COMMIT", eb);
	if (rv == STN_OK)
		h->in_txn = false;
	return rv;
}

stn_status stn__history_rollback(stn_history *h)
{
	if (!h->in_txn)
		return STN_OK;
	exec(h, "ROLLBACK", NULL);
	h->in_txn = false;
	return STN_OK;
}

bool stn__history_in_txn(const stn_history *h)
{
	return h->in_txn;
}

/* ---- writes -------------------------------------------------------------------------------- */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Row of a DAG version, stored once per content hash. */
static stn_status dag_key(stn_history *h, const stn_dag *d, int64_t *key, stn_errbuf *eb)
{
	sqlite3_stmt *g = h->st[ST_DAG_GET], *ins = h->st[ST_DAG_INS];
	uint64_t hash = stn__dag_hash(d);
	uint8_t *body;
	size_t len = 0;
	int rc;

	sqlite3_reset(g);
	sqlite3_bind_int64(g, 1, (int64_t)hash);
	rc = sqlite3_step(g);
	if (rc == SQLITE_ROW) {
		*key = sqlite3_column_int64(g, 0);
		sqlite3_reset(g);
		return STN_OK;
	}
	sqlite3_reset(g);
	body = dag_pack(d, &len);
	if (body == NULL)
		return stn__fail(eb, STN_ENOMEM, "out of memory");
	sqlite3_reset(ins);
	sqlite3_bind_int64(ins, 1, (int64_t)hash);
	sqlite3_bind_int64(ins, 2, (int64_t)d->n_ops);
	sqlite3_bind_int64(ins, 3, (int64_t)d->n_edges);
	sqlite3_bind_blob(ins, 4, body, (int)len, SQLITE_TRANSIENT);
	rc = sqlite3_step(ins);
	sqlite3_reset(ins);
	stn__free(body);
	if (rc != SQLITE_DONE)
		return db_fail(h, eb, "storing a DAG");
	*key = sqlite3_last_insert_rowid(h->db);
	return STN_OK;
}

static stn_status write_mode(stn_history *h, stn_errbuf *eb)
{
	if (h->read_only)
		return stn__fail(eb, STN_ESTATE, "history is open read-only");
	return STN_OK;
}

stn_status stn__history_put_job(stn_history *h, const char *job, const stn_dag *dag,
				const char *policy, const char *policy_opts_json,
				int64_t *job_key, stn_errbuf *eb)
{
	sqlite3_stmt *g = h->st[ST_JOB_GET];
	int64_t dkey = 0, key;
	stn_status rv = write_mode(h, eb);
	int rc;

	if (rv != STN_OK)
		return rv;
	rv = dag_key(h, dag, &dkey, eb);
	if (rv != STN_OK)
		return rv;
	sqlite3_reset(g);
	sqlite3_bind_text(g, 1, job, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(g);
	if (rc == SQLITE_ROW) {
		sqlite3_stmt *u = h->st[ST_JOB_UPD];

		key = sqlite3_column_int64(g, 0);
		sqlite3_reset(g);
		sqlite3_reset(u);
		sqlite3_bind_int64(u, 1, key);
		sqlite3_bind_text(u, 2, policy, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(u, 3, policy_opts_json, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(u, 4, dkey);
		rc = sqlite3_step(u);
		sqlite3_reset(u);
		if (rc != SQLITE_DONE)
			return db_fail(h, eb, "updating a job");
	} else {
		sqlite3_stmt *ins = h->st[ST_JOB_INS];

		sqlite3_reset(g);
		sqlite3_reset(ins);
		sqlite3_bind_text(ins, 1, job, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(ins, 2, policy, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(ins, 3, policy_opts_json, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(ins, 4, now_ms());
		sqlite3_bind_int64(ins, 5, dkey);
		rc = sqlite3_step(ins);
		sqlite3_reset(ins);
		if (rc != SQLITE_DONE)
			return db_fail(h, eb, "storing a job");
		key = sqlite3_last_insert_rowid(h->db);
	}
	{
		sqlite3_stmt *jd = h->st[ST_JOBDAG_INS];
		sqlite3_stmt *mx = NULL;
		int64_t from = 0;

		if (sqlite3_prepare_v2(h->db, "SELECT COALESCE(MAX(idx) + 1, 0) FROM windows WHERE job = ?1",
				       -1, &mx, NULL) == SQLITE_OK) {
			sqlite3_bind_int64(mx, 1, key);
			if (sqlite3_step(mx) == SQLITE_ROW)
				from = sqlite3_column_int64(mx, 0);
		}
		sqlite3_finalize(mx);
		sqlite3_reset(jd);
		sqlite3_bind_int64(jd, 1, key);
		sqlite3_bind_int64(jd, 2, dkey);
		sqlite3_bind_int64(jd, 3, from);
		rc = sqlite3_step(jd);
		sqlite3_reset(jd);
		if (rc != SQLITE_DONE)
			return db_fail(h, eb, "storing a DAG version");
	}
	*job_key = key;
	return STN_OK;
}

stn_status stn__history_put_window(stn_history *h, int64_t job_key, const stn_window *w,
				   stn_errbuf *eb)
{
	sqlite3_stmt *st = h->st[ST_WIN_INS];
	uint8_t stackbuf[64 * OPW_BYTES], *blob = stackbuf;
	size_t len;
	stn_status rv = write_mode(h, eb);
	int rc;

	if (rv != STN_OK)
		return rv;
	if (w->index > INT64_MAX || w->epoch > INT64_MAX)
		return stn__fail(eb, STN_EVALUE, "window index or epoch beyond 2^63");
	len = w->n_ops * OPW_BYTES;
	if (w->n_ops > 64) {
		blob = stn__malloc_array(w->n_ops, OPW_BYTES);
		if (blob == NULL)
			return stn__fail(eb, STN_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < w->n_ops; i++)
		opw_pack(&w->ops[i], blob + i * OPW_BYTES);
	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, job_key);
	sqlite3_bind_int64(st, 2, (int64_t)w->index);
	sqlite3_bind_int64(st, 3, (int64_t)w->epoch);
	sqlite3_bind_int64(st, 4, w->duration_ms);
	sqlite3_bind_double(st, 5, w->lag_ms);
	sqlite3_bind_int64(st, 6, (int64_t)w->n_ops);
	sqlite3_bind_blob(st, 7, blob, (int)len, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (blob != stackbuf)
		stn__free(blob);
	if (rc == SQLITE_CONSTRAINT)
		return stn__fail(eb, STN_EORDER, "window %llu of this job is already stored",
				 (unsigned long long)w->index);
	if (rc != SQLITE_DONE)
		return db_fail(h, eb, "storing a window");
	return STN_OK;
}

stn_status stn__history_put_decision(stn_history *h, int64_t job_key,
				     const stn_history_decision *d, stn_errbuf *eb)
{
	sqlite3_stmt *st = h->st[ST_DEC_INS];
	uint8_t *blob;
	stn_status rv = write_mode(h, eb);
	int rc;

	if (rv != STN_OK)
		return rv;
	blob = stn__malloc_array(d->n_ops > 0 ? d->n_ops : 1, DEC_BYTES);
	if (blob == NULL)
		return stn__fail(eb, STN_ENOMEM, "out of memory");
	for (size_t i = 0; i < d->n_ops; i++) {
		put_u32(blob + i * DEC_BYTES, d->op[i]);
		put_u32(blob + i * DEC_BYTES + 4, d->p[i]);
		put_f64(blob + i * DEC_BYTES + 8, d->prob[i]);
	}
	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, job_key);
	sqlite3_bind_int64(st, 2, (int64_t)d->seq);
	sqlite3_bind_int64(st, 3, (int64_t)d->epoch);
	sqlite3_bind_int64(st, 4, (int64_t)d->window);
	sqlite3_bind_text(st, 5, d->policy != NULL ? d->policy : "", -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 6, d->reason != NULL ? d->reason : "", -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 7, (int64_t)d->n_ops);
	sqlite3_bind_blob(st, 8, blob, (int)(d->n_ops * DEC_BYTES), SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	stn__free(blob);
	if (rc == SQLITE_CONSTRAINT)
		return stn__fail(eb, STN_EORDER, "decision %llu of this job is already stored",
				 (unsigned long long)d->seq);
	if (rc != SQLITE_DONE)
		return db_fail(h, eb, "storing a decision");
	return STN_OK;
}

stn_status stn__history_ack_decision(stn_history *h, int64_t job_key, uint64_t seq,
				     uint64_t epoch, stn_errbuf *eb)
{
	sqlite3_stmt *st = h->st[ST_DEC_ACK];
	stn_status rv = write_mode(h, eb);
	int rc;

	if (rv != STN_OK)
		return rv;
	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, job_key);
	sqlite3_bind_int64(st, 2, (int64_t)seq);
	sqlite3_bind_int64(st, 3, (int64_t)epoch);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return db_fail(h, eb, "acknowledging a decision");
	if (sqlite3_changes(h->db) == 0)
		return stn__fail(eb, STN_ENOTFOUND, "no decision %llu for this job",
				 (unsigned long long)seq);
	return STN_OK;
}

/* ---- reads --------------------------------------------------------------------------------- */

static stn_status count(stn_history *h, const char *sql, uint64_t *out, stn_errbuf *eb)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(h->db, sql, -1, &st, NULL);

	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_finalize(st);
		return db_fail(h, eb, "counting");
	}
	*out = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return STN_OK;
}

stn_status stn__history_counts(stn_history *h, stn_history_counts *out, stn_errbuf *eb)
{
	stn_status rv;

	memset(out, 0, sizeof(*out));
	rv = count(h, "SELECT COUNT(*) FROM jobs", &out->jobs, eb);
	if (rv == STN_OK)
		rv = count(h, "SELECT COUNT(*) FROM job_dags", &out->dag_versions, eb);
	if (rv == STN_OK)
		rv = count(h, "SELECT COUNT(*) FROM dags", &out->dags, eb);
	if (rv == STN_OK)
		rv = count(h, "SELECT COUNT(*) FROM windows", &out->windows, eb);
	if (rv == STN_OK)
		rv = count(h, "SELECT COALESCE(SUM(n_ops), 0) FROM windows", &out->op_windows, eb);
	if (rv == STN_OK)
		rv = count(h, "SELECT COUNT(*) FROM decisions", &out->decisions, eb);
	return rv;
}

stn_status stn__history_each_job(stn_history *h,
				 bool (*fn)(void *user, const stn_history_job *job),
				 void *user, stn_errbuf *eb)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(
		h->db,
		"SELECT j.key, j.job, j.policy, d.hash,"
		" (SELECT COUNT(*) FROM windows w WHERE w.job = j.key),"
		" (SELECT COUNT(*) FROM decisions c WHERE c.job = j.key)"
		" FROM jobs j JOIN dags d ON d.key = j.dag ORDER BY j.key",
		-1, &st, NULL);

	if (rc != SQLITE_OK)
		return db_fail(h, eb, "listing jobs");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		stn_history_job j;

		j.key = sqlite3_column_int64(st, 0);
		j.job = (const char *)sqlite3_column_text(st, 1);
		j.policy = (const char *)sqlite3_column_text(st, 2);
		j.dag_hash = (uint64_t)sqlite3_column_int64(st, 3);
		j.n_windows = (uint64_t)sqlite3_column_int64(st, 4);
		j.n_decisions = (uint64_t)sqlite3_column_int64(st, 5);
		if (!fn(user, &j))
			break;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_fail(h, eb, "listing jobs");
	return STN_OK;
}

static stn_status dag_by(stn_history *h, const char *sql, int64_t arg, stn_dag *out,
			 stn_errbuf *eb)
{
	sqlite3_stmt *st = NULL;
	stn_status rv;
	int rc = sqlite3_prepare_v2(h->db, sql, -1, &st, NULL);

	if (rc != SQLITE_OK)
		return db_fail(h, eb, "reading a DAG");
	sqlite3_bind_int64(st, 1, arg);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_finalize(st);
		return rc == SQLITE_DONE ? stn__fail(eb, STN_ENOTFOUND, "no such DAG")
					 : db_fail(h, eb, "reading a DAG");
	}
	rv = dag_unpack(sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0), out, eb);
	sqlite3_finalize(st);
	return rv;
}

stn_status stn__history_job_dag(stn_history *h, int64_t job_key, stn_dag *out, stn_errbuf *eb)
{
	return dag_by(h, "SELECT d.body FROM jobs j JOIN dags d ON d.key = j.dag WHERE j.key = ?1",
		      job_key, out, eb);
}

stn_status stn__history_dag_by_hash(stn_history *h, uint64_t hash, stn_dag *out,
				    stn_errbuf *eb)
{
	return dag_by(h, "SELECT body FROM dags WHERE hash = ?1", (int64_t)hash, out, eb);
}

stn_status stn__history_each_window(stn_history *h, int64_t job_key,
				    bool (*fn)(void *user, uint64_t dag_hash,
					       const stn_window *w),
				    void *user, stn_errbuf *eb)
{
	sqlite3_stmt *st = NULL;
	stn_window w;
	stn_status rv = STN_OK;
	int rc = sqlite3_prepare_v2(h->db,
				    "SELECT w.idx, w.epoch, w.duration_ms, w.lag_ms, d.hash, w.n_ops,"
				    " w.ops FROM windows w JOIN dags d ON d.key = w.dag"
				    " WHERE w.job = ?1 ORDER BY w.idx",
				    -1, &st, NULL);

	if (rc != SQLITE_OK)
		return db_fail(h, eb, "reading windows");
	memset(&w, 0, sizeof(w));
	sqlite3_bind_int64(st, 1, job_key);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t n_ops = sqlite3_column_int64(st, 5);
		const uint8_t *blob = sqlite3_column_blob(st, 6);
		size_t len = (size_t)sqlite3_column_bytes(st, 6);

		if (n_ops < 0 || n_ops > STN_DAG_MAX_OPS || len != (size_t)n_ops * OPW_BYTES) {
			rv = stn__fail(eb, STN_ECORRUPT, "a stored window is damaged");
			break;
		}
		if ((size_t)n_ops > w.n_ops) {
			stn_op_window *ops = stn__realloc_array(w.ops, (size_t)n_ops, sizeof(*ops));

			if (ops == NULL) {
				rv = stn__fail(eb, STN_ENOMEM, "out of memory");
				break;
			}
			w.ops = ops;
		}
		w.n_ops = (size_t)n_ops;
		w.index = (uint64_t)sqlite3_column_int64(st, 0);
		w.epoch = (uint64_t)sqlite3_column_int64(st, 1);
		w.duration_ms = (uint32_t)sqlite3_column_int64(st, 2);
		w.lag_ms = sqlite3_column_double(st, 3);
		w.finished = true;
		for (size_t i = 0; i < w.n_ops; i++)
			opw_unpack(blob + i * OPW_BYTES, &w.ops[i]);
		if (!fn(user, (uint64_t)sqlite3_column_int64(st, 4), &w))
			break;
	}
	if (rv == STN_OK && rc != SQLITE_ROW && rc != SQLITE_DONE)
		rv = db_fail(h, eb, "reading windows");
	sqlite3_finalize(st);
	stn__free(w.ops);
	return rv;
}

stn_status stn__history_each_decision(stn_history *h, int64_t job_key,
				      bool (*fn)(void *user, const stn_history_decision *d,
						 int64_t applied_epoch),
				      void *user, stn_errbuf *eb)
{
	sqlite3_stmt *st = NULL;
	uint32_t *op = NULL, *p = NULL;
	double *prob = NULL;
	stn_status rv = STN_OK;
	int rc = sqlite3_prepare_v2(h->db,
				    "SELECT seq, epoch, window, policy, reason, n_ops, ops,"
				    " COALESCE(applied_epoch, -1) FROM decisions WHERE job = ?1"
				    " ORDER BY seq",
				    -1, &st, NULL);

	if (rc != SQLITE_OK)
		return db_fail(h, eb, "reading decisions");
	sqlite3_bind_int64(st, 1, job_key);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		stn_history_decision d;
		int64_t n = sqlite3_column_int64(st, 5);
		const uint8_t *blob = sqlite3_column_blob(st, 6);
		size_t len = (size_t)sqlite3_column_bytes(st, 6);

		if (n < 0 || n > STN_DAG_MAX_OPS || len != (size_t)n * DEC_BYTES) {
			rv = stn__fail(eb, STN_ECORRUPT, "a stored decision is damaged");
			break;
		}
		stn__free(op);
		stn__free(p);
		stn__free(prob);
		op = stn__calloc((size_t)n + 1, sizeof(uint32_t));
		p = stn__calloc((size_t)n + 1, sizeof(uint32_t));
		prob = stn__calloc((size_t)n + 1, sizeof(double));
		if (op == NULL || p == NULL || prob == NULL) {
			rv = stn__fail(eb, STN_ENOMEM, "out of memory");
			break;
		}
		for (int64_t i = 0; i < n; i++) {
			op[i] = get_u32(blob + i * DEC_BYTES);
			p[i] = get_u32(blob + i * DEC_BYTES + 4);
			prob[i] = get_f64(blob + i * DEC_BYTES + 8);
		}
		d.seq = (uint64_t)sqlite3_column_int64(st, 0);
		d.epoch = (uint64_t)sqlite3_column_int64(st, 1);
		d.window = (uint64_t)sqlite3_column_int64(st, 2);
		d.policy = (const char *)sqlite3_column_text(st, 3);
		d.reason = (const char *)sqlite3_column_text(st, 4);
		d.n_ops = (size_t)n;
		d.op = op;
		d.p = p;
		d.prob = prob;
		if (!fn(user, &d, sqlite3_column_int64(st, 7)))
			break;
	}
	if (rv == STN_OK && rc != SQLITE_ROW && rc != SQLITE_DONE)
		rv = db_fail(h, eb, "reading decisions");
	sqlite3_finalize(st);
	stn__free(op);
	stn__free(p);
	stn__free(prob);
	return rv;
}

/* ---- export and import: a MessagePack stream --------------------------------------------
 * A header map {"format": "streamtune-history", "version": 1}, then one array per record:
 *   ["dag", hash, bin body]
 *   ["job", job, policy, policy_opts, dag hash]
 *   ["window", job, idx, epoch, duration_ms, lag_ms, dag hash, n_ops, bin ops]
 *   ["decision", job, seq, epoch, window, policy, reason, n_ops, bin ops, applied_epoch|nil]
 * Blobs have the layouts of the database (proto/HISTORY.md). */

static int file_write(void *data, const char *buf, size_t len)
{
	return fwrite(buf, 1, len, (FILE *)data) == len ? 0 : -1;
}

static void pack_str(msgpack_packer *pk, const char *s)
{
	size_t n = strlen(s);

	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, s, n);
}

static void pack_bin(msgpack_packer *pk, const void *p, size_t n)
{
	msgpack_pack_bin(pk, n);
	msgpack_pack_bin_body(pk, p, n);
}

stn_status stn__history_export(stn_history *h, const char *path, stn_errbuf *eb)
{
	char tmp[4096];
	FILE *f;
	msgpack_packer pk;
	sqlite3_stmt *st = NULL;
	stn_status rv = STN_OK;
	int rc;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return stn__fail(eb, STN_EINVAL, "path too long");
	f = fopen(tmp, "wb");
	if (f == NULL)
		return stn__fail(eb, STN_EIO, "cannot write %s: %s", tmp, strerror(errno));
	msgpack_packer_init(&pk, f, file_write);
	msgpack_pack_map(&pk, 2);
	pack_str(&pk, "format");
	pack_str(&pk, "streamtune-history");
	pack_str(&pk, "version");
	msgpack_pack_uint32(&pk, STN_HISTORY_SCHEMA_VERSION);

	rc = sqlite3_prepare_v2(h->db, "SELECT hash, body FROM dags ORDER BY key", -1, &st, NULL);
	while (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
		msgpack_pack_array(&pk, 3);
		pack_str(&pk, "dag");
		msgpack_pack_uint64(&pk, (uint64_t)sqlite3_column_int64(st, 0));
		pack_bin(&pk, sqlite3_column_blob(st, 1), (size_t)sqlite3_column_bytes(st, 1));
	}
	sqlite3_finalize(st);
	rc = sqlite3_prepare_v2(h->db,
				"SELECT j.job, j.policy, j.policy_opts, d.hash FROM jobs j"
				" JOIN dags d ON d.key = j.dag ORDER BY j.key",
				-1, &st, NULL);
	while (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
		msgpack_pack_array(&pk, 5);
		pack_str(&pk, "job");
		for (int c = 0; c < 3; c++)
			pack_str(&pk, (const char *)sqlite3_column_text(st, c));
		msgpack_pack_uint64(&pk, (uint64_t)sqlite3_column_int64(st, 3));
	}
	sqlite3_finalize(st);
	rc = sqlite3_prepare_v2(h->db,
				"SELECT j.job, w.idx, w.epoch, w.duration_ms, w.lag_ms, d.hash, w.n_ops,"
				" w.ops FROM windows w JOIN jobs j ON j.key = w.job"
				" JOIN dags d ON d.key = w.dag ORDER BY w.job, w.idx",
				-1, &st, NULL);
	while (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
		msgpack_pack_array(&pk, 9);
		pack_str(&pk, "window");
		pack_str(&pk, (const char *)sqlite3_column_text(st, 0));
		msgpack_pack_uint64(&pk, (uint64_t)sqlite3_column_int64(st, 1));
		msgpack_pack_uint64(&pk, (uint64_t)sqlite3_column_int64(st, 2));
		msgpack_pack_uint64(&pk, (uint64_t)sqlite3_column_int64(st, 3));
		msgpack_pack_double(&pk, sqlite3_column_double(st, 4));
		msgpack_pack_uint64(&pk, (uint64_t)sqlite3_column_int64(st, 5));
		msgpack_pack_uint64(&pk, (uint64_t)sqlite3_column_int64(st, 6));
		pack_bin(&pk, sqlite3_column_blob(st, 7), (size_t)sqlite3_column_bytes(st, 7));
	}
	sqlite3_finalize(st);
	rc = sqlite3_prepare_v2(h->db,
				"SELECT j.job, c.seq, c.epoch, c.window, c.policy, c.reason, c.n_ops,"
				" c.ops, c.applied_epoch FROM decisions c JOIN jobs j ON j.key = c.job"
				" ORDER BY c.job, c.seq",
				-1, &st, NULL);
	while (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
		msgpack_pack_array(&pk, 10);
		pack_str(&pk, "decision");
		pack_str(&pk, (const char *)sqlite3_column_text(st, 0));
		msgpack_pack_uint64(&pk, (uint64_t)sqlite3_column_int64(st, 1));
		msgpack_pack_uint64(&pk, (uint64_t)sqlite3_column_int64(st, 2));
		msgpack_pack_uint64(&pk, (uint64_t)sqlite3_column_int64(st, 3));
		pack_str(&pk, (const char *)sqlite3_column_text(st, 4));
		pack_str(&pk, (const char *)sqlite3_column_text(st, 5));
		msgpack_pack_uint64(&pk, (uint64_t)sqlite3_column_int64(st, 6));
		pack_bin(&pk, sqlite3_column_blob(st, 7), (size_t)sqlite3_column_bytes(st, 7));
		if (sqlite3_column_type(st, 8) == SQLITE_NULL)
			msgpack_pack_nil(&pk);
		else
			msgpack_pack_uint64(&pk, (uint64_t)sqlite3_column_int64(st, 8));
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_OK)
		rv = db_fail(h, eb, "exporting");
	if (fflush(f) != 0 || ferror(f) || fsync(fileno(f)) != 0)
		rv = rv != STN_OK ? rv : stn__fail(eb, STN_EIO, "writing %s failed", tmp);
	fclose(f);
	if (rv == STN_OK && rename(tmp, path) != 0)
		rv = stn__fail(eb, STN_EIO, "cannot rename %s: %s", tmp, strerror(errno));
	if (rv != STN_OK)
		unlink(tmp);
	return rv;
}

/* Typed access to a record's fields; a wrong shape is ECORRUPT. */
static bool obj_str(const msgpack_object *o, char *out, size_t cap)
{
	if (o->type != MSGPACK_OBJECT_STR || o->via.str.size >= cap ||
	    memchr(o->via.str.ptr, '\0', o->via.str.size) != NULL)
		return false;
	memcpy(out, o->via.str.ptr, o->via.str.size);
	out[o->via.str.size] = '\0';
	return true;
}

static bool obj_u64(const msgpack_object *o, uint64_t *v)
{
	if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return false;
	*v = o->via.u64;
	return true;
}

static bool obj_bin(const msgpack_object *o, const uint8_t **p, size_t *n)
{
	if (o->type != MSGPACK_OBJECT_BIN)
		return false;
	*p = (const uint8_t *)o->via.bin.ptr;
	*n = o->via.bin.size;
	return true;
}

typedef struct importer {
	stn_history *h;
	uint64_t imported, skipped;
	stn_errbuf *eb;
} importer;

static stn_status job_key_by_name(stn_history *h, const char *job, int64_t *key)
{
	sqlite3_stmt *g = h->st[ST_JOB_GET];
	int rc;

	sqlite3_reset(g);
	sqlite3_bind_text(g, 1, job, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(g);
	if (rc == SQLITE_ROW)
		*key = sqlite3_column_int64(g, 0);
	sqlite3_reset(g);
	return rc == SQLITE_ROW ? STN_OK : STN_ENOTFOUND;
}

static stn_status import_record(importer *im, const msgpack_object *o)
{
	const msgpack_object *a;
	char kind[16], job[256], text[2048], text2[2048];
	stn_errbuf *eb = im->eb;
	uint32_t n;

	if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size < 1)
		return stn__fail(eb, STN_ECORRUPT, "export record is not an array");
	a = o->via.array.ptr;
	n = o->via.array.size;
	if (!obj_str(&a[0], kind, sizeof(kind)))
		return stn__fail(eb, STN_ECORRUPT, "export record has no kind");
	if (strcmp(kind, "dag") == 0 && n == 3) {
		const uint8_t *body;
		size_t len;
		uint64_t hash;
		stn_dag d;
		int64_t key;
		stn_status rv;

		if (!obj_u64(&a[1], &hash) || !obj_bin(&a[2], &body, &len))
			return stn__fail(eb, STN_ECORRUPT, "bad dag record");
		stn__dag_init(&d);
		rv = dag_unpack(body, len, &d, eb);
		if (rv == STN_OK && stn__dag_hash(&d) != hash)
			rv = stn__fail(eb, STN_ECORRUPT, "dag record's hash does not match its body");
		if (rv == STN_OK)
			rv = dag_key(im->h, &d, &key, eb);
		stn__dag_fini(&d);
		return rv;
	}
	if (strcmp(kind, "job") == 0 && n == 5) {
		uint64_t hash;
		stn_dag d;
		int64_t key;
		stn_status rv;

		if (!obj_str(&a[1], job, sizeof(job)) || !obj_str(&a[2], text, sizeof(text)) ||
		    !obj_str(&a[3], text2, sizeof(text2)) || !obj_u64(&a[4], &hash))
			return stn__fail(eb, STN_ECORRUPT, "bad job record");
		stn__dag_init(&d);
		rv = stn__history_dag_by_hash(im->h, hash, &d, eb);
		if (rv == STN_ENOTFOUND)
			rv = stn__fail(eb, STN_ECORRUPT, "job %s names a DAG the file does not hold", job);
		if (rv == STN_OK)
			rv = stn__history_put_job(im->h, job, &d, text, text2, &key, eb);
		stn__dag_fini(&d);
		return rv;
	}
	if (strcmp(kind, "window") == 0 && n == 9) {
		uint64_t idx, epoch, dur, hash, n_ops;
		const uint8_t *ops;
		size_t len;
		int64_t key, dag;
		sqlite3_stmt *st = im->h->st[ST_WIN_IMP], *g = im->h->st[ST_DAG_GET];
		sqlite3_stmt *jd = im->h->st[ST_JOBDAG_IMP];
		int rc;

		if (!obj_str(&a[1], job, sizeof(job)) || !obj_u64(&a[2], &idx) ||
		    !obj_u64(&a[3], &epoch) || !obj_u64(&a[4], &dur) ||
		    (a[5].type != MSGPACK_OBJECT_FLOAT64 && a[5].type != MSGPACK_OBJECT_FLOAT32) ||
		    !obj_u64(&a[6], &hash) || !obj_u64(&a[7], &n_ops) || !obj_bin(&a[8], &ops, &len) ||
		    n_ops > STN_DAG_MAX_OPS || len != n_ops * OPW_BYTES || idx > INT64_MAX ||
		    epoch > INT64_MAX || dur > UINT32_MAX)
			return stn__fail(eb, STN_ECORRUPT, "bad window record");
		if (job_key_by_name(im->h, job, &key) != STN_OK)
			return stn__fail(eb, STN_ECORRUPT, "window of unknown job %s", job);
		sqlite3_reset(g);
		sqlite3_bind_int64(g, 1, (int64_t)hash);
		rc = sqlite3_step(g);
		dag = rc == SQLITE_ROW ? sqlite3_column_int64(g, 0) : 0;
		sqlite3_reset(g);
		if (rc != SQLITE_ROW)
			return stn__fail(eb, STN_ECORRUPT,
					 "window %llu of job %s names a DAG the file does not hold",
					 (unsigned long long)idx, job);
		sqlite3_reset(jd);
		sqlite3_bind_int64(jd, 1, key);
		sqlite3_bind_int64(jd, 2, dag);
		sqlite3_bind_int64(jd, 3, (int64_t)idx);
		rc = sqlite3_step(jd);
		sqlite3_reset(jd);
		if (rc != SQLITE_DONE)
			return db_fail(im->h, eb, "importing a job's DAG version");
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, key);
		sqlite3_bind_int64(st, 2, (int64_t)idx);
		sqlite3_bind_int64(st, 3, (int64_t)epoch);
		sqlite3_bind_int64(st, 4, (int64_t)dur);
		sqlite3_bind_double(st, 5, a[5].via.f64);
		sqlite3_bind_int64(st, 6, (int64_t)n_ops);
		sqlite3_bind_blob(st, 7, ops, (int)len, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 8, dag);
		rc = sqlite3_step(st);
		sqlite3_reset(st);
		if (rc == SQLITE_CONSTRAINT) {
			im->skipped++;
			return STN_OK;
		}
		if (rc != SQLITE_DONE)
			return db_fail(im->h, eb, "importing a window");
		im->imported++;
		return STN_OK;
	}
	if (strcmp(kind, "decision") == 0 && n == 10) {
		uint64_t seq, epoch, window, n_ops, applied = 0;
		const uint8_t *ops;
		size_t len;
		int64_t key;
		stn_history_decision d;
		uint32_t *op, *p;
		double *prob;
		stn_status rv;

		if (!obj_str(&a[1], job, sizeof(job)) || !obj_u64(&a[2], &seq) ||
		    !obj_u64(&a[3], &epoch) || !obj_u64(&a[4], &window) ||
		    !obj_str(&a[5], text, sizeof(text)) || !obj_str(&a[6], text2, sizeof(text2)) ||
		    !obj_u64(&a[7], &n_ops) || !obj_bin(&a[8], &ops, &len) ||
		    n_ops > STN_DAG_MAX_OPS || len != n_ops * DEC_BYTES ||
		    (a[9].type != MSGPACK_OBJECT_NIL && !obj_u64(&a[9], &applied)))
			return stn__fail(eb, STN_ECORRUPT, "bad decision record");
		if (job_key_by_name(im->h, job, &key) != STN_OK)
			return stn__fail(eb, STN_ECORRUPT, "decision of unknown job %s", job);
		op = stn__calloc(n_ops + 1, sizeof(uint32_t));
		p = stn__calloc(n_ops + 1, sizeof(uint32_t));
		prob = stn__calloc(n_ops + 1, sizeof(double));
		if (op == NULL || p == NULL || prob == NULL) {
			stn__free(op);
			stn__free(p);
			stn__free(prob);
			return stn__fail(eb, STN_ENOMEM, "out of memory");
		}
		for (size_t i = 0; i < n_ops; i++) {
			op[i] = get_u32(ops + i * DEC_BYTES);
			p[i] = get_u32(ops + i * DEC_BYTES + 4);
			prob[i] = get_f64(ops + i * DEC_BYTES + 8);
		}
		d.seq = seq;
		d.epoch = epoch;
		d.window = window;
		d.n_ops = n_ops;
		d.op = op;
		d.p = p;
		d.prob = prob;
		d.policy = text;
		d.reason = text2;
		rv = stn__history_put_decision(im->h, key, &d, eb);
		if (rv == STN_EORDER) {
			rv = STN_OK; /* already there */
		} else if (rv == STN_OK && a[9].type != MSGPACK_OBJECT_NIL) {
			rv = stn__history_ack_decision(im->h, key, seq, applied, eb);
		}
		stn__free(op);
		stn__free(p);
		stn__free(prob);
		return rv;
	}
	return stn__fail(eb, STN_ECORRUPT, "unknown export record '%s' with %u fields", kind, n);
}

stn_status stn__history_import(stn_history *h, const char *path, uint64_t *imported,
			       uint64_t *skipped, stn_errbuf *eb)
{
	importer im = {h, 0, 0, eb};
	msgpack_unpacker up;
	msgpack_unpacked obj;
	FILE *f;
	long size;
	stn_status rv = STN_OK;
	bool header = false;

	if (h->read_only)
		return stn__fail(eb, STN_ESTATE, "cannot import %s: the history is open read-only",
				 path);
	f = fopen(path, "rb");
	if (f == NULL)
		return stn__fail(eb, errno == ENOENT ? STN_ENOTFOUND : STN_EIO, "%s: %s", path,
				 strerror(errno));
	if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0 ||
	    (unsigned long)size > MAX_IMPORT_BYTES) {
		fclose(f);
		return stn__fail(eb, STN_ETOOBIG, "%s: unreadable or larger than %u bytes", path,
				 MAX_IMPORT_BYTES);
	}
	if (!msgpack_unpacker_init(&up, 1 << 16)) {
		fclose(f);
		return stn__fail(eb, STN_ENOMEM, "%s: out of memory", path);
	}
	msgpack_unpacked_init(&obj);
	rv = stn__history_begin(h, eb);
	if (rv != STN_OK && eb != NULL)
		stn__fail(eb, rv, "%s: %s", path, eb->text);
	while (rv == STN_OK) {
		msgpack_unpack_return ret = msgpack_unpacker_next(&up, &obj);

		if (ret == MSGPACK_UNPACK_SUCCESS) {
			if (!header) {
				const msgpack_object *o = &obj.data;
				bool ok = o->type == MSGPACK_OBJECT_MAP && o->via.map.size == 2;
				char fmt[32];
				uint64_t ver = 0;

				ok = ok && obj_str(&o->via.map.ptr[0].val, fmt, sizeof(fmt)) &&
				     strcmp(fmt, "streamtune-history") == 0 &&
				     obj_u64(&o->via.map.ptr[1].val, &ver);
				if (!ok)
					rv = stn__fail(eb, STN_ECORRUPT, "%s is not a history export", path);
				else if (ver != STN_HISTORY_SCHEMA_VERSION)
					rv = stn__fail(eb, STN_ESCHEMA, "%s: export version %llu, this build reads %d",
						       path, (unsigned long long)ver, STN_HISTORY_SCHEMA_VERSION);
				header = true;
				continue;
			}
			rv = import_record(&im, &obj.data);
			if (rv != STN_OK && eb != NULL) /* the record's fault: name its file */
				stn__fail(eb, rv, "%s: %s", path, eb->text);
			continue;
		}
		if (ret == MSGPACK_UNPACK_CONTINUE) {
			size_t got;

			if (!msgpack_unpacker_reserve_buffer(&up, 1 << 16)) {
				rv = stn__fail(eb, STN_ENOMEM, "%s: out of memory", path);
				break;
			}
			got = fread(msgpack_unpacker_buffer(&up), 1, msgpack_unpacker_buffer_capacity(&up), f);
			if (got == 0) {
				if (msgpack_unpacker_message_size(&up) > 0 || !header)
					rv = stn__fail(eb, STN_ECORRUPT, "%s is truncated", path);
				break;
			}
			msgpack_unpacker_buffer_consumed(&up, got);
			continue;
		}
		rv = stn__fail(eb, STN_ECORRUPT, "%s is not valid MessagePack", path);
	}
	if (rv == STN_OK) {
		rv = stn__history_commit(h, eb);
		if (rv != STN_OK && eb != NULL)
			stn__fail(eb, rv, "%s: %s", path, eb->text);
	} else {
		stn__history_rollback(h);
	}
	msgpack_unpacked_destroy(&obj);
	msgpack_unpacker_destroy(&up);
	fclose(f);
	if (rv == STN_OK) {
		if (imported != NULL)
			*imported = im.imported;
		if (skipped != NULL)
			*skipped = im.skipped;
	}
	return rv;
}
