/* metrics_io: window aggregates from CSV or JSON (see metrics_io.h). Both formats feed the
 * same builder, which checks every value and that each window names every operator once. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "fileio.h"
#include "jsonlex.h"
#include "metrics_io.h"

/* Per-operator fields, in the order of the CSV header of the brief. */
enum { F_PAR, F_NINST, F_BUSYMAX, F_BUSYMEAN, F_RIN, F_ROUT, F_BLMAX, F_BLSUM, F_COUNT };
static const char *const field_names[F_COUNT] = {
	"parallelism", "n_inst", "busy_max", "busy_mean", "rate_in", "rate_out", "backlog_max",
	"backlog_sum"};

#define MAX_NINST 65536.0
#define MAX_QTY 1e15          /* rates and backlogs: far above any real job, keeps sums finite */
#define MAX_DURATION_MS 86400000.0
#define NAME_CAP 256u         /* operator references and JSON keys */

/* ---- builder ------------------------------------------------------------------------- */

typedef struct builder {
	const stn_dag *dag;
	stn_window *w;
	size_t n, cap;
	uint8_t *seen;     /* n_ops: operator has a row in the current window */
	size_t rows;
	double number;     /* current window's number */
	bool dur_set, lag_set;
} builder;

void stn_cli_metrics_free(stn_window *w, size_t n)
{
	if (w == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		stn__window_fini(&w[i]);
	stn__free(w);
}

/* The current window must have every operator. where says where the window ended. */
static stn_status close_window(builder *b, const char *where, stn_errbuf *eb)
{
	if (b->n == 0)
		return STN_OK;
	for (size_t v = 0; v < b->dag->n_ops; v++)
		if (!b->seen[v]) {
			const stn_op *op = &b->dag->ops[v];
			return stn__fail(eb, STN_EGRAPH, "%s: window %.0f has no row for operator %u%s%s%s",
					 where, b->number, op->id, op->name[0] ? " (" : "", op->name,
					 op->name[0] ? ")" : "");
		}
	b->w[b->n - 1].finished = true;
	return STN_OK;
}

/* Starts window `number` (after closing the previous one). */
static stn_status open_window(builder *b, double number, const char *where, stn_errbuf *eb)
{
	stn_status st;

	if (!(number >= 0 && number <= 1e15 && number == floor(number)))
		return stn__fail(eb, STN_EVALUE, "%s: window must be an integer 0..1e15", where);
	if (b->n > 0 && !(number > b->number))
		return stn__fail(eb, STN_EVALUE,
				 "%s: window %.0f after window %.0f (windows must increase; the "
				 "rows of a window are contiguous)",
				 where, number, b->number);
	st = close_window(b, where, eb);
	if (st != STN_OK)
		return st;
	if (b->n >= STN_METRICS_MAX_WINDOWS)
		return stn__fail(eb, STN_ETOOBIG, "%s: more than %u windows", where,
				 STN_METRICS_MAX_WINDOWS);
	if (b->n == b->cap) {
		size_t nc = b->cap ? 2 * b->cap : 16;
		stn_window *q = stn__realloc(b->w, nc * sizeof(*q));
		if (q == NULL)
			return stn__fail(eb, STN_ENOMEM, "out of memory");
		b->w = q;
		b->cap = nc;
	}
	stn_window *w = &b->w[b->n];
	memset(w, 0, sizeof(*w));
	st = stn__window_init(w, b->dag, (uint64_t)number);
	if (st != STN_OK)
		return stn__fail(eb, st, "out of memory");
	b->n++;
	w->duration_ms = 1000;
	w->lag_ms = -1.0;
	for (size_t v = 0; v < w->n_ops; v++) {
		w->ops[v].bp_max = -1.0;
		w->ops[v].label = STN_LABEL_NONE;
	}
	memset(b->seen, 0, b->dag->n_ops);
	b->number = number;
	b->dur_set = b->lag_set = false;
	return STN_OK;
}

/* Window-level values; rows of one CSV window must agree. */
static stn_status set_duration(builder *b, double v, const char *where, stn_errbuf *eb)
{
	stn_window *w = &b->w[b->n - 1];
	if (!(v >= 1 && v <= MAX_DURATION_MS && v == floor(v)))
		return stn__fail(eb, STN_EVALUE, "%s: duration_ms must be an integer 1..%.0f", where,
				 MAX_DURATION_MS);
	if (b->dur_set && (double)w->duration_ms != v)
		return stn__fail(eb, STN_EVALUE, "%s: duration_ms %.0f differs from %u earlier in "
				 "window %.0f", where, v, w->duration_ms, b->number);
	w->duration_ms = (uint32_t)v;
	b->dur_set = true;
	return STN_OK;
}

static stn_status set_lag(builder *b, double v, const char *where, stn_errbuf *eb)
{
	stn_window *w = &b->w[b->n - 1];
	if (!isfinite(v) || fabs(v) > 1e12)
		return stn__fail(eb, STN_EVALUE, "%s: lag_ms must be a finite number", where);
	if (v < 0)
		v = -1.0; /* unknown */
	if (b->lag_set && w->lag_ms != v)
		return stn__fail(eb, STN_EVALUE, "%s: lag_ms %g differs from %g earlier in window "
				 "%.0f", where, v, w->lag_ms, b->number);
	w->lag_ms = v;
	b->lag_set = true;
	return STN_OK;
}

/* Operator index for a reference: an id (if ref is a number naming one), else a unique name. */
static stn_status find_op(const builder *b, const char *ref, bool numeric_only, size_t *idx,
			  const char *where, stn_errbuf *eb)
{
	char *end = NULL;
	errno = 0;
	unsigned long long id = strtoull(ref, &end, 10);
	if (ref[0] >= '0' && ref[0] <= '9' && *end == '\0' && errno == 0 && id <= UINT32_MAX) {
		long k = stn__dag_find(b->dag, (uint32_t)id);
		if (k >= 0) {
			*idx = (size_t)k;
			return STN_OK;
		}
	}
	if (!numeric_only && ref[0] != '\0') {
		long found = -1;
		for (size_t v = 0; v < b->dag->n_ops; v++)
			if (strcmp(b->dag->ops[v].name, ref) == 0) {
				if (found >= 0)
					return stn__fail(eb, STN_EGRAPH, "%s: operator name '%s' is not "
							 "unique in the DAG; use its id", where, ref);
				found = (long)v;
			}
		if (found >= 0) {
			*idx = (size_t)found;
			return STN_OK;
		}
	}
	char shown[NAME_CAP];
	size_t k = 0;
	for (; ref[k] != '\0' && k + 1 < sizeof(shown); k++) /* no control bytes on a terminal */
		shown[k] = (unsigned char)ref[k] < 0x20 ? '?' : ref[k];
	shown[k] = '\0';
	return stn__fail(eb, STN_EGRAPH, "%s: unknown operator '%s' (not an id or name in the DAG)",
			 where, shown);
}

/* Adds one operator row with all F_COUNT fields to the current window. */
static stn_status add_row(builder *b, size_t v, const double *f, const char *where,
			  stn_errbuf *eb)
{
	const stn_op *op = &b->dag->ops[v];
	if (b->seen[v])
		return stn__fail(eb, STN_EVALUE, "%s: operator %u appears twice in window %.0f", where,
				 op->id, b->number);
	if (b->rows >= STN_METRICS_MAX_ROWS)
		return stn__fail(eb, STN_ETOOBIG, "%s: more than %u operator rows", where,
				 STN_METRICS_MAX_ROWS);
	for (int k = 0; k < F_COUNT; k++) {
		double x = f[k];
		const char *bad = NULL;
		if (!isfinite(x))
			bad = "a finite number";
		else if (k == F_PAR && !(x >= 1 && x <= op->p_max && x == floor(x)))
			bad = "an integer 1..p_max of the operator";
		else if (k == F_NINST && !(x >= 0 && x <= MAX_NINST && x == floor(x)))
			bad = "an integer 0..65536";
		else if ((k == F_BUSYMAX || k == F_BUSYMEAN) && !(x >= 0 && x <= 1))
			bad = "a fraction 0..1";
		else if (k >= F_RIN && !(x >= 0 && x <= MAX_QTY))
			bad = "a number 0..1e15";
		if (bad != NULL)
			return stn__fail(eb, STN_EVALUE, "%s: %s of operator %u must be %s", where,
					 field_names[k], op->id, bad);
	}
	stn_op_window *o = &b->w[b->n - 1].ops[v];
	o->parallelism = (uint32_t)f[F_PAR];
	o->n_inst = (uint32_t)f[F_NINST];
	o->busy_max = f[F_BUSYMAX];
	o->busy_mean = f[F_BUSYMEAN];
	o->rate_in = f[F_RIN];
	o->rate_out = f[F_ROUT];
	o->backlog_max = f[F_BLMAX];
	o->backlog_sum = f[F_BLSUM];
	b->seen[v] = 1;
	b->rows++;
	return STN_OK;
}

static stn_status builder_init(builder *b, const stn_dag *dag, stn_errbuf *eb)
{
	memset(b, 0, sizeof(*b));
	b->dag = dag;
	b->seen = stn__calloc(dag->n_ops ? dag->n_ops : 1, 1);
	return b->seen ? STN_OK : stn__fail(eb, STN_ENOMEM, "out of memory");
}

static stn_status builder_finish(builder *b, const char *where, stn_window **out, size_t *n_out,
				 stn_errbuf *eb)
{
	if (b->n == 0)
		return stn__fail(eb, STN_EFIELD, "%s: no windows", where);
	stn_status st = close_window(b, where, eb);
	if (st != STN_OK)
		return st;
	*out = b->w;
	*n_out = b->n;
	b->w = NULL;
	b->n = 0;
	return STN_OK;
}

static void builder_fini(builder *b)
{
	stn_cli_metrics_free(b->w, b->n);
	stn__free(b->seen);
	memset(b, 0, sizeof(*b));
}

/* Parses a whole token as a number; false if it is not one (NaN and infinities included). */
static bool parse_num(const char *s, double *out)
{
	char *end = NULL;
	if (*s == '\0')
		return false;
	errno = 0;
	double x = strtod(s, &end);
	if (*end != '\0' || errno == ERANGE || !isfinite(x))
		return false;
	*out = x;
	return true;
}

/* ---- CSV ----------------------------------------------------------------------------- */

enum { C_WINDOW = F_COUNT, C_OP, C_DURATION, C_LAG, C_COUNT };
#define CSV_MAX_COLS 32

static const char *col_name(int c)
{
	static const char *const extra[] = {"window", "op", "duration_ms", "lag_ms"};
	return c < F_COUNT ? field_names[c] : extra[c - F_COUNT];
}

/* Splits one line (without its end) into fields in buf; quotes "..." with "" inside. Returns
 * the number of fields or -1 (message in eb). */
static int split_csv(const char *line, size_t len, char *buf, char **fields, size_t line_no,
		     stn_errbuf *eb)
{
	int nf = 0;
	size_t i = 0, o = 0;
	for (;;) {
		if (nf >= CSV_MAX_COLS) {
			stn__fail(eb, STN_ETOOBIG, "line %zu: more than %d columns", line_no,
				  CSV_MAX_COLS);
			return -1;
		}
		fields[nf++] = buf + o;
		if (i < len && line[i] == '"') {
			i++;
			for (;;) {
				if (i >= len) {
					stn__fail(eb, STN_EPROTO, "line %zu: unterminated quote",
						  line_no);
					return -1;
				}
				if (line[i] == '"') {
					if (i + 1 < len && line[i + 1] == '"') {
						buf[o++] = '"';
						i += 2;
						continue;
					}
					i++;
					break;
				}
				buf[o++] = line[i++];
			}
			if (i < len && line[i] != ',') {
				stn__fail(eb, STN_EPROTO, "line %zu: text after a closing quote",
					  line_no);
				return -1;
			}
		} else {
			while (i < len && line[i] != ',')
				buf[o++] = line[i++];
		}
		buf[o++] = '\0';
		if (i >= len)
			return nf;
		i++; /* the comma */
	}
}

/* Trims spaces and tabs around a field in place. */
static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
	return s;
}

static stn_status parse_csv(const char *text, size_t len, builder *b, stn_errbuf *eb)
{
	char buf[STN_METRICS_MAX_LINE + 1];
	char *fields[CSV_MAX_COLS];
	int col_of[C_COUNT]; /* column index of each known name, -1 absent */
	int ncols = 0;
	size_t pos = 0, line_no = 0;
	bool have_header = false;
	char where[64];

	for (int c = 0; c < C_COUNT; c++)
		col_of[c] = -1;
	while (pos < len) {
		size_t start = pos, end;
		const char *nl = memchr(text + pos, '\n', len - pos);
		end = nl ? (size_t)(nl - text) : len;
		pos = nl ? end + 1 : len;
		line_no++;
		size_t n = end - start;
		if (n > 0 && text[start + n - 1] == '\r')
			n--;
		if (n > STN_METRICS_MAX_LINE)
			return stn__fail(eb, STN_ETOOBIG, "line %zu: longer than %u bytes", line_no,
					 STN_METRICS_MAX_LINE);
		if (memchr(text + start, '\0', n) != NULL)
			return stn__fail(eb, STN_EPROTO, "line %zu: NUL byte", line_no);
		bool blank = true;
		for (size_t k = 0; k < n; k++)
			if (text[start + k] != ' ' && text[start + k] != '\t')
				blank = false;
		if (blank)
			continue;
		int nf = split_csv(text + start, n, buf, fields, line_no, eb);
		if (nf < 0)
			return STN_EPROTO;
		snprintf(where, sizeof(where), "line %zu", line_no);
		if (!have_header) {
			for (int k = 0; k < nf; k++) {
				char *name = trim(fields[k]);
				int c = 0;
				while (c < C_COUNT && strcmp(col_name(c), name) != 0)
					c++;
				if (c == C_COUNT)
					return stn__fail(eb, STN_EFIELD, "line %zu: unknown column '%s'",
							 line_no, name);
				if (col_of[c] >= 0)
					return stn__fail(eb, STN_EFIELD, "line %zu: column '%s' twice",
							 line_no, name);
				col_of[c] = k;
			}
			for (int c = 0; c < C_COUNT; c++)
				if (col_of[c] < 0 && c != C_DURATION && c != C_LAG)
					return stn__fail(eb, STN_EFIELD, "line %zu: missing column '%s' "
							 "(header needs window,op,%s,%s,%s,%s,%s,%s,%s,%s)",
							 line_no, col_name(c), field_names[0],
							 field_names[1], field_names[2], field_names[3],
							 field_names[4], field_names[5], field_names[6],
							 field_names[7]);
			ncols = nf;
			have_header = true;
			continue;
		}
		if (nf != ncols)
			return stn__fail(eb, STN_EFIELD, "line %zu: %d fields, the header has %d", line_no,
					 nf, ncols);
		double f[F_COUNT], number;
		char *wtxt = trim(fields[col_of[C_WINDOW]]);
		if (!parse_num(wtxt, &number))
			return stn__fail(eb, STN_EVALUE, "line %zu: window '%s' is not a number", line_no,
					 wtxt);
		stn_status st;
		if (b->n == 0 || number != b->number) {
			st = open_window(b, number, where, eb);
			if (st != STN_OK)
				return st;
		}
		for (int c = C_DURATION; c <= C_LAG; c++) {
			if (col_of[c] < 0)
				continue;
			char *t = trim(fields[col_of[c]]);
			double x;
			if (*t == '\0')
				continue; /* optional: empty keeps the default */
			if (!parse_num(t, &x))
				return stn__fail(eb, STN_EVALUE, "line %zu: %s '%s' is not a finite "
						 "number", line_no, col_name(c), t);
			st = c == C_DURATION ? set_duration(b, x, where, eb) : set_lag(b, x, where, eb);
			if (st != STN_OK)
				return st;
		}
		for (int k = 0; k < F_COUNT; k++) {
			char *t = trim(fields[col_of[k]]);
			if (!parse_num(t, &f[k]))
				return stn__fail(eb, STN_EVALUE, "line %zu: %s '%s' is not a finite "
						 "number", line_no, field_names[k], t);
		}
		size_t v;
		st = find_op(b, trim(fields[col_of[C_OP]]), false, &v, where, eb);
		if (st == STN_OK)
			st = add_row(b, v, f, where, eb);
		if (st != STN_OK)
			return st;
	}
	if (!have_header)
		return stn__fail(eb, STN_EFIELD, "empty file (no header line)");
	return STN_OK;
}

/* ---- JSON ---------------------------------------------------------------------------- */

/* A reader for exactly the metrics document over jsonlex's tokens: no tree, values are checked
 * as they come, so memory stays at the windows themselves. */
typedef struct jreader {
	stn_jlex lex;
	stn_errbuf *eb;
} jreader;

static stn_status jerr(jreader *r, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static stn_status jerr(jreader *r, const char *path, const char *fmt, ...)
{
	char msg[STN_ERRMSG_CAP];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	size_t line = r->lex.line, col = stn__jlex_col(&r->lex);
	if (path == NULL) /* syntax: where in the text */
		return stn__fail(r->eb, STN_EPROTO, "line %zu, column %zu: %s", line, col, msg);
	return stn__fail(r->eb, STN_EVALUE, "%s (line %zu, column %zu): %s", path, line, col, msg);
}

/* Next non-space character, or 0 at the end. */
static char jpeek(jreader *r)
{
	return stn__jlex_peek(&r->lex);
}

static bool jend(const jreader *r)
{
	return stn__jlex_at_end(&r->lex);
}

static stn_status jexpect(jreader *r, char c)
{
	char got = jpeek(r);
	if (jend(r))
		return jerr(r, NULL, "unexpected end of input, expected '%c'", c);
	if (got != c)
		return jerr(r, NULL, "expected '%c'", c);
	r->lex.pos++;
	return STN_OK;
}

/* A bounded buffer the lexer decodes a string into. */
typedef struct jbuf {
	char *out;
	size_t len, cap;
} jbuf;

static const char *jbuf_put(void *ctx, const char *bytes, size_t n)
{
	jbuf *b = ctx;
	if (n >= b->cap - b->len)
		return "string too long";
	memcpy(b->out + b->len, bytes, n);
	b->len += n;
	return NULL;
}

/* A string into out[cap], NUL-terminated. */
static stn_status jstring(jreader *r, char *out, size_t cap)
{
	jbuf b = {out, 0, cap};
	if (jpeek(r) != '"')
		return jend(r) ? jerr(r, NULL, "unexpected end of input, expected '\"'")
			       : jerr(r, NULL, "expected '\"'");
	const char *why = stn__jlex_string(&r->lex, jbuf_put, &b);
	if (why != NULL)
		return jerr(r, NULL, "%s", why);
	out[b.len] = '\0';
	return STN_OK;
}

/* A JSON number (strict grammar, finite). */
static stn_status jnumber(jreader *r, const char *path, double *out)
{
	char c = jpeek(r);
	if (jend(r))
		return jerr(r, NULL, "unexpected end of input, expected a number");
	if (c != '-' && (c < '0' || c > '9'))
		return jerr(r, path, "expected a number");
	const char *why = stn__jlex_number(&r->lex, out);
	return why != NULL ? jerr(r, path, "%s", why) : STN_OK;
}

/* Iterates an object's members: call with *first = true; returns with *done or a key. */
static stn_status jmember(jreader *r, bool *first, bool *done, char *key, size_t cap)
{
	stn_status st;
	char c = jpeek(r);
	*done = false;
	if (*first) {
		*first = false;
		if (c == '}') {
			r->lex.pos++;
			*done = true;
			return STN_OK;
		}
	} else {
		if (c == '}') {
			r->lex.pos++;
			*done = true;
			return STN_OK;
		}
		if (jend(r))
			return jerr(r, NULL, "unexpected end of input in an object");
		if (c != ',')
			return jerr(r, NULL, "expected ',' or '}'");
		r->lex.pos++;
	}
	if (jpeek(r) != '"')
		return jend(r) ? jerr(r, NULL, "unexpected end of input in an object")
					: jerr(r, NULL, "expected a member name");
	st = jstring(r, key, cap);
	if (st != STN_OK)
		return st;
	return jexpect(r, ':');
}

/* Same for array elements. */
static stn_status jelement(jreader *r, bool *first, bool *done)
{
	char c = jpeek(r);
	*done = false;
	if (c == ']') {
		r->lex.pos++;
		*done = true;
		return STN_OK;
	}
	if (jend(r))
		return jerr(r, NULL, "unexpected end of input in an array");
	if (!*first) {
		if (c != ',')
			return jerr(r, NULL, "expected ',' or ']'");
		r->lex.pos++;
		if (jpeek(r) == ']')
			return jerr(r, NULL, "trailing comma");
	}
	*first = false;
	return STN_OK;
}

static stn_status jop(jreader *r, builder *b, const char *wpath, size_t index)
{
	char path[160], key[NAME_CAP], mpath[160 + NAME_CAP + 2];
	double f[F_COUNT];
	bool have[F_COUNT] = {false};
	bool have_op = false, first = true, done;
	size_t v = 0;
	stn_status st;

	snprintf(path, sizeof(path), "%s.ops[%zu]", wpath, index);
	if (jpeek(r) != '{')
		return jend(r) ? jerr(r, NULL, "unexpected end of input")
					: jerr(r, path, "expected an object");
	r->lex.pos++;
	for (;;) {
		st = jmember(r, &first, &done, key, sizeof(key));
		if (st != STN_OK || done)
			break;
		snprintf(mpath, sizeof(mpath), "%s.%s", path, key);
		if (strcmp(key, "op") == 0) {
			if (have_op)
				return jerr(r, mpath, "member given twice");
			char ref[NAME_CAP];
			bool numeric = jpeek(r) != '"';
			if (numeric) {
				double id;
				st = jnumber(r, mpath, &id);
				if (st != STN_OK)
					return st;
				if (!(id >= 0 && id <= UINT32_MAX && id == floor(id)))
					return jerr(r, mpath, "operator id must be an integer");
				snprintf(ref, sizeof(ref), "%.0f", id);
			} else {
				st = jstring(r, ref, sizeof(ref));
				if (st != STN_OK)
					return st;
			}
			st = find_op(b, ref, numeric, &v, mpath, r->eb);
			if (st != STN_OK)
				return st;
			have_op = true;
			continue;
		}
		int k = 0;
		while (k < F_COUNT && strcmp(key, field_names[k]) != 0)
			k++;
		if (k == F_COUNT)
			return jerr(r, path, "unknown member '%s'", key);
		if (have[k])
			return jerr(r, mpath, "member given twice");
		st = jnumber(r, mpath, &f[k]);
		if (st != STN_OK)
			return st;
		have[k] = true;
	}
	if (st != STN_OK)
		return st;
	if (!have_op)
		return jerr(r, path, "missing member 'op'");
	for (int k = 0; k < F_COUNT; k++)
		if (!have[k])
			return jerr(r, path, "missing member '%s'", field_names[k]);
	return add_row(b, v, f, path, r->eb);
}

static stn_status jwindow(jreader *r, builder *b, size_t index)
{
	char path[64], key[NAME_CAP], mpath[64 + NAME_CAP + 2];
	bool first = true, done, have_ops = false, have_num = false;
	double number = (double)index + 1, dur = 0, lag = 0;
	bool have_dur = false, have_lag = false;
	stn_status st;
	stn_jlex ops_at = r->lex; /* where "ops" starts, once seen */

	snprintf(path, sizeof(path), "windows[%zu]", index);
	if (jpeek(r) != '{')
		return jend(r) ? jerr(r, NULL, "unexpected end of input")
					: jerr(r, path, "expected an object");
	r->lex.pos++;
	/* "ops" may come before "window": remember where it starts and read it once the
	 * window-level members are known (a second pass over the same text). */
	for (;;) {
		st = jmember(r, &first, &done, key, sizeof(key));
		if (st != STN_OK || done)
			break;
		snprintf(mpath, sizeof(mpath), "%s.%s", path, key);
		double *dst = NULL;
		bool *flag = NULL;
		if (strcmp(key, "window") == 0) {
			dst = &number;
			flag = &have_num;
		} else if (strcmp(key, "duration_ms") == 0) {
			dst = &dur;
			flag = &have_dur;
		} else if (strcmp(key, "lag_ms") == 0) {
			dst = &lag;
			flag = &have_lag;
		} else if (strcmp(key, "ops") == 0) {
			if (have_ops)
				return jerr(r, mpath, "member given twice");
			have_ops = true;
			if (jpeek(r) != '[')
				return jend(r) ? jerr(r, NULL, "unexpected end of input")
							: jerr(r, mpath, "expected an array");
			ops_at = r->lex;
			/* skip the array: brackets outside strings */
			int depth = 0;
			bool in_str = false;
			for (;;) {
				if (jend(r))
					return jerr(r, NULL, "unexpected end of input in %s", mpath);
				char c = r->lex.s[r->lex.pos++];
				if (c == '\n') {
					r->lex.line++;
					r->lex.line_start = r->lex.pos;
				}
				if (in_str) {
					if (c == '\\')
						r->lex.pos += r->lex.pos < r->lex.len ? 1 : 0;
					else if (c == '"')
						in_str = false;
				} else if (c == '"') {
					in_str = true;
				} else if (c == '[' || c == '{') {
					if (++depth > 8)
						return jerr(r, mpath, "nested too deeply");
				} else if (c == ']' || c == '}') {
					if (--depth == 0)
						break;
				}
			}
			continue;
		} else {
			return jerr(r, path, "unknown member '%s'", key);
		}
		if (*flag)
			return jerr(r, mpath, "member given twice");
		st = jnumber(r, mpath, dst);
		if (st != STN_OK)
			return st;
		*flag = true;
	}
	if (st != STN_OK)
		return st;
	if (!have_ops)
		return jerr(r, path, "missing member 'ops'");
	st = open_window(b, number, path, r->eb);
	if (st == STN_OK && have_dur)
		st = set_duration(b, dur, path, r->eb);
	if (st == STN_OK && have_lag)
		st = set_lag(b, lag, path, r->eb);
	if (st != STN_OK)
		return st;
	/* second pass: the ops array, strictly */
	stn_jlex end = r->lex;
	r->lex = ops_at;
	r->lex.pos++;
	first = true;
	for (size_t i = 0;; i++) {
		st = jelement(r, &first, &done);
		if (st != STN_OK)
			return st;
		if (done)
			break;
		st = jop(r, b, path, i);
		if (st != STN_OK)
			return st;
	}
	r->lex = end;
	return close_window(b, path, r->eb);
}

static stn_status parse_json(const char *text, size_t len, builder *b, stn_errbuf *eb)
{
	jreader r = {.eb = eb};
	stn__jlex_init(&r.lex, text, len);
	char key[NAME_CAP];
	bool first = true, done, have_windows = false;
	stn_status st;

	if (jpeek(&r) == '\0' && jend(&r))
		return stn__fail(eb, STN_EFIELD, "empty file");
	if (jpeek(&r) != '{')
		return jerr(&r, "(document)", "expected an object {\"windows\": [...]}");
	r.lex.pos++;
	for (;;) {
		st = jmember(&r, &first, &done, key, sizeof(key));
		if (st != STN_OK)
			return st;
		if (done)
			break;
		if (strcmp(key, "windows") != 0)
			return jerr(&r, "(document)", "unknown member '%s'", key);
		if (have_windows)
			return jerr(&r, "windows", "member given twice");
		have_windows = true;
		if (jpeek(&r) != '[')
			return jend(&r) ? jerr(&r, NULL, "unexpected end of input")
					      : jerr(&r, "windows", "expected an array");
		r.lex.pos++;
		bool efirst = true, edone;
		for (size_t i = 0;; i++) {
			st = jelement(&r, &efirst, &edone);
			if (st != STN_OK)
				return st;
			if (edone)
				break;
			st = jwindow(&r, b, i);
			if (st != STN_OK)
				return st;
		}
	}
	if (jpeek(&r) != '\0' || !jend(&r))
		return jerr(&r, NULL, "text after the document");
	if (!have_windows)
		return jerr(&r, "(document)", "missing member 'windows'");
	return STN_OK;
}

/* ---- entry points -------------------------------------------------------------------- */

stn_status stn_cli_metrics_parse(const char *text, size_t len, stn_metrics_format fmt,
				 const stn_dag *dag, stn_window **out, size_t *n_out,
				 stn_errbuf *eb)
{
	builder b;
	stn_status st;

	*out = NULL;
	*n_out = 0;
	if (len > STN_METRICS_MAX_BYTES)
		return stn__fail(eb, STN_ETOOBIG, "larger than %u bytes", STN_METRICS_MAX_BYTES);
	if (len == 0)
		return stn__fail(eb, STN_EFIELD, "empty file");
	st = builder_init(&b, dag, eb);
	if (st != STN_OK)
		return st;
	if (fmt == STN_METRICS_CSV)
		st = parse_csv(text, len, &b, eb);
	else if (fmt == STN_METRICS_JSON)
		st = parse_json(text, len, &b, eb);
	else
		st = stn__fail(eb, STN_EINVAL, "no format given");
	if (st == STN_OK)
		st = builder_finish(&b, "end of file", out, n_out, eb);
	builder_fini(&b);
	return st;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	if (a < b)
		return false;
	for (size_t i = 0; i < b; i++) {
		char c = s[a - b + i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != suffix[i])
			return false;
	}
	return true;
}

stn_metrics_format stn_cli_metrics_guess(const char *path)
{
	if (ends_with(path, ".csv"))
		return STN_METRICS_CSV;
	if (ends_with(path, ".json"))
		return STN_METRICS_JSON;
	return STN_METRICS_AUTO;
}

stn_status stn_cli_metrics_read(const char *path, stn_metrics_format fmt, const stn_dag *dag,
				stn_window **out, size_t *n_out, stn_errbuf *eb)
{
	char *buf = NULL;
	size_t len = 0;
	stn_status st = STN_OK;

	*out = NULL;
	*n_out = 0;
	if (fmt == STN_METRICS_AUTO)
		fmt = stn_cli_metrics_guess(path);
	if (fmt == STN_METRICS_AUTO)
		return stn__fail(eb, STN_EINVAL, "%s: cannot tell the format from the name "
				 "(.csv or .json); give --format", path);
	st = stn__file_read_all(path, STN_METRICS_MAX_BYTES, &buf, &len, eb);
	if (st != STN_OK)
		return st;
	st = stn_cli_metrics_parse(buf, len, fmt, dag, out, n_out, eb);
	if (st != STN_OK) {
		char msg[STN_ERRMSG_CAP];
		snprintf(msg, sizeof(msg), "%s", eb->text);
		stn__fail(eb, st, "%s: %s", path, msg);
	}
	stn__free(buf);
	return st;
}
