/* The endpoint over real sockets: many clients and jobs, hostile input beside a well-behaved
 * job, and the history afterwards holding exactly what was sent. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <msgpack.h>

#include "alloc.h"
#include "client.h"
#include "endpoint.h"
#include "history.h"
#include "proto.h"
#include "testutil.h"

#define N_OPS 6
#define N_INST 4
#define N_WINDOWS 25

/* Deterministic metric of a row, so the expected aggregates can be recomputed. */
static double metric(int job, uint64_t window, uint32_t op, uint32_t inst, int which)
{
	return (double)((job * 131 + (int)window * 17 + (int)op * 7 + (int)inst * 3 + which * 29) %
			500) +
	       0.25 * which;
}

static void make_register(stn_msg *m, const char *job, uint32_t senders, const char *policy)
{
	stn_errbuf eb = {{0}};

	memset(m, 0, sizeof(*m));
	m->type = STN_MSG_REGISTER;
	m->version = STN_PROTO_VERSION;
	snprintf(m->u.reg.job, sizeof(m->u.reg.job), "%s", job);
	m->u.reg.senders = senders;
	m->u.reg.window_ms = 1000;
	m->u.reg.id = 7;
	snprintf(m->u.reg.policy, sizeof(m->u.reg.policy), "%s", policy);
	stn__dag_init(&m->u.reg.dag);
	for (uint32_t i = 0; i < N_OPS; i++) {
		stn_op op;

		memset(&op, 0, sizeof(op));
		op.id = 100 + i;
		snprintf(op.name, sizeof(op.name), "op%u", i);
		op.kind = i == 0 ? STN_KIND_SOURCE : (i == N_OPS - 1 ? STN_KIND_SINK : STN_KIND_MAP);
		op.selectivity = 1.0;
		op.source_rate = i == 0 ? 5000.0 : 0.0;
		op.parallelism = N_INST;
		op.p_max = 16;
		assert_int_equal(stn__dag_add_op(&m->u.reg.dag, &op, &eb), STN_OK);
		if (i > 0)
			assert_int_equal(stn__dag_add_edge(&m->u.reg.dag, i - 1, i, STN_PART_HASH, &eb),
					 STN_OK);
	}
}

static void make_samples(stn_msg *m, const char *jobname, int job, uint64_t window,
			 uint32_t sender, uint32_t senders, bool ack)
{
	size_t rows = 0;

	memset(m, 0, sizeof(*m));
	m->type = STN_MSG_SAMPLES;
	m->version = STN_PROTO_VERSION;
	snprintf(m->u.samples.job, sizeof(m->u.samples.job), "%s", jobname);
	m->u.samples.window = window;
	m->u.samples.epoch = window * 10;
	m->u.samples.duration_ms = 1000;
	m->u.samples.sender = sender;
	m->u.samples.want_ack = ack;
	m->u.samples.lag_ms = -1.0;
	assert_int_equal(stn__samples_alloc(&m->u.samples, N_OPS * N_INST / senders, false), STN_OK);
	for (uint32_t op = 0; op < N_OPS; op++) {
		for (uint32_t inst = 0; inst < N_INST; inst++) {
			if (inst % senders != sender)
				continue;
			m->u.samples.op[rows] = 100 + op;
			m->u.samples.inst[rows] = inst;
			m->u.samples.busy_ms[rows] = metric(job, window, op, inst, 0);
			m->u.samples.recs_in[rows] = metric(job, window, op, inst, 1);
			m->u.samples.recs_out[rows] = metric(job, window, op, inst, 2);
			m->u.samples.backlog[rows] = metric(job, window, op, inst, 3);
			rows++;
		}
	}
	assert_int_equal(rows, m->u.samples.n_rows);
}

static stn_endpoint *start(const char *bind, const char *hist)
{
	stn_endpoint_config cfg;
	stn_errbuf eb = {{0}};
	stn_endpoint *ep = NULL;

	memset(&cfg, 0, sizeof(cfg));
	cfg.bind = bind;
	cfg.history_path = hist;
	cfg.synchronous_full = false;
	cfg.window_timeout_ms = 60000;
	cfg.logger = stn__logger_default();
	cfg.logger.level = getenv("STN_TEST_VERBOSE") ? STN_LOG_DEBUG : STN_LOG_ERROR;
	if (stn__endpoint_start(&cfg, &ep, &eb) != STN_OK)
		fail_msg("endpoint start: %s", eb.text);
	return ep;
}

/* Receives until a message of the wanted type arrives (skipping none: anything else fails). */
static void expect(stn_client *c, stn_msg_type type, stn_msg *out)
{
	stn_errbuf eb = {{0}};
	stn_status rv = stn__client_recv(c, out, 10000, &eb);

	if (rv != STN_OK)
		fail_msg("receive: %s", eb.text);
	if (out->type != type)
		fail_msg("expected %s, got %s (%s)", stn__msg_type_name(type),
			 stn__msg_type_name(out->type),
			 out->type == STN_MSG_ERROR ? out->u.error.message : "");
}

static void send_ok(stn_client *c, const stn_msg *m)
{
	stn_errbuf eb = {{0}};

	if (stn__client_send(c, m, 5000, &eb) != STN_OK)
		fail_msg("send: %s", eb.text);
}

/* A client that registers one job with `senders` parts per window and sends every part of
 * N_WINDOWS windows itself, asking for ACKs; it checks each ACK. */
typedef struct job_run {
	const char *addr;
	int job;
	uint32_t senders;
	int acks;
} job_run;

static void *run_job(void *arg)
{
	job_run *jr = arg;
	stn_errbuf eb = {{0}};
	stn_client *c = NULL;
	char name[32];
	stn_msg m, r;

	snprintf(name, sizeof(name), "job-%d", jr->job);
	assert_int_equal(stn__client_connect(jr->addr, &c, &eb), STN_OK);
	make_register(&m, name, jr->senders, "static");
	send_ok(c, &m);
	stn__msg_free(&m);
	expect(c, STN_MSG_ACK, &r);
	assert_int_equal(r.u.ack.of, STN_ACK_REGISTER);
	assert_int_equal(r.u.ack.id, 7);
	stn__msg_free(&r);
	for (uint64_t w = 1; w <= N_WINDOWS; w++) {
		for (uint32_t s = 0; s < jr->senders; s++) {
			make_samples(&m, name, jr->job, w, s, jr->senders, true);
			send_ok(c, &m);
			stn__msg_free(&m);
		}
		for (uint32_t s = 0; s < jr->senders; s++) {
			expect(c, STN_MSG_ACK, &r);
			assert_int_equal(r.u.ack.of, STN_ACK_SAMPLES);
			assert_int_equal(r.u.ack.window, w);
			assert_string_equal(r.u.ack.job, name);
			stn__msg_free(&r);
			jr->acks++;
		}
	}
	stn__client_close(c);
	return NULL;
}

typedef struct check_ctx {
	int job;
	uint32_t senders;
	uint64_t next_window;
	int mismatches;
} check_ctx;

static bool check_window(void *user, uint64_t dag_hash, const stn_window *w)
{
	check_ctx *cc = user;

	(void)dag_hash;
	if (w->index != cc->next_window || w->n_ops != N_OPS || w->epoch != w->index * 10)
		cc->mismatches++;
	for (uint32_t op = 0; op < w->n_ops; op++) {
		double busy_max = 0, rate_in = 0, backlog_max = 0;

		for (uint32_t inst = 0; inst < N_INST; inst++) {
			busy_max = fmax(busy_max, metric(cc->job, w->index, op, inst, 0) / 1000.0);
			rate_in += metric(cc->job, w->index, op, inst, 1);
			backlog_max = fmax(backlog_max, metric(cc->job, w->index, op, inst, 3));
		}
		if (w->ops[op].op_id != 100 + op || w->ops[op].n_inst != N_INST ||
		    fabs(w->ops[op].busy_max - busy_max) > 1e-9 ||
		    fabs(w->ops[op].rate_in - rate_in) > 1e-6 ||
		    w->ops[op].backlog_max != backlog_max)
			cc->mismatches++;
	}
	cc->next_window++;
	return true;
}

typedef struct job_keys {
	int64_t key[16];
	char name[16][32];
	int n;
} job_keys;

static bool collect_job(void *user, const stn_history_job *j)
{
	job_keys *jk = user;

	if (jk->n < 16) {
		jk->key[jk->n] = j->key;
		snprintf(jk->name[jk->n], sizeof(jk->name[0]), "%s", j->job);
		jk->n++;
	}
	return true;
}

/* Every job's windows are in the history, in order, with the aggregates of what was sent. */
static void verify_history(const char *hist, int n_jobs, uint32_t senders_of_job0)
{
	stn_history_opts ro = {true, false};
	stn_history *h = NULL;
	stn_errbuf eb = {{0}};
	stn_history_counts counts;
	job_keys jk;

	memset(&jk, 0, sizeof(jk));
	if (stn__history_open(hist, &ro, &h, &eb) != STN_OK)
		fail_msg("open history: %s", eb.text);
	assert_int_equal(stn__history_counts(h, &counts, &eb), STN_OK);
	assert_int_equal(counts.jobs, (uint64_t)n_jobs);
	assert_int_equal(counts.windows, (uint64_t)n_jobs * N_WINDOWS);
	assert_int_equal(stn__history_each_job(h, collect_job, &jk, &eb), STN_OK);
	assert_int_equal(jk.n, n_jobs);
	for (int i = 0; i < jk.n; i++) {
		check_ctx cc = {0, 1, 1, 0};

		assert_int_equal(sscanf(jk.name[i], "job-%d", &cc.job), 1);
		(void)senders_of_job0;
		assert_int_equal(stn__history_each_window(h, jk.key[i], check_window, &cc, &eb),
				 STN_OK);
		assert_int_equal(cc.next_window, N_WINDOWS + 1);
		assert_int_equal(cc.mismatches, 0);
	}
	stn__history_close(h);
}

static void many_clients(const char *bind)
{
	char *dir = stn_test_tmpdir();
	char *hist = stn_test_path(dir, "h.sqlite");
	stn_endpoint *ep = start(bind, hist);
	pthread_t th[8];
	job_run jr[8];

	for (int i = 0; i < 8; i++) {
		jr[i].addr = stn__endpoint_address(ep);
		jr[i].job = i;
		jr[i].senders = (uint32_t)(1 + i % 4); /* 1, 2, 4 parts per window (N_INST = 4) */
		if (jr[i].senders == 3)
			jr[i].senders = 4;
		jr[i].acks = 0;
		pthread_create(&th[i], NULL, run_job, &jr[i]);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(jr[i].acks, N_WINDOWS * (int)jr[i].senders);
	}
	stn__endpoint_stop(ep);
	verify_history(hist, 8, 1);
	stn_test_rmtree(dir);
	free(hist);
	free(dir);
}

static void test_eight_clients_tcp(void **state)
{
	(void)state;
	many_clients("tcp://127.0.0.1:0");
}

static void test_eight_clients_ipc(void **state)
{
	char *dir = stn_test_tmpdir();
	char bind[300];

	(void)state;
	snprintf(bind, sizeof(bind), "ipc://%s/stn.sock", dir);
	many_clients(bind);
	stn_test_rmtree(dir);
	free(dir);
}

/* The socket file of an ipc:// address belongs to the endpoint that bound it: gone once it
 * stops, and after a start that failed past the bind; one that another endpoint has bound
 * since is left to it. A start that fails creates no history. */
static void test_ipc_file_removed(void **state)
{
	char *dir = stn_test_tmpdir();
	char *sock = stn_test_path(dir, "stn.sock"), *hist = stn_test_path(dir, "a.sqlite");
	char *hist2 = stn_test_path(dir, "b.sqlite"), *model = stn_test_path(dir, "none.stnm");
	char bind[1100];
	stn_endpoint_config cfg;
	stn_errbuf eb = {{0}};
	stn_endpoint *ep = NULL, *ep2 = NULL;

	(void)state;
	snprintf(bind, sizeof(bind), "ipc://%s", sock);
	ep = start(bind, hist);
	assert_int_equal(access(sock, F_OK), 0);
	stn__endpoint_stop(ep);
	assert_int_not_equal(access(sock, F_OK), 0);
	assert_int_equal(access(hist, F_OK), 0); /* the history stays */

	/* The second endpoint takes the path over (ZeroMQ unbinds nobody: it replaces the
	 * file); the first one's stop leaves the file to it. */
	ep = start(bind, hist);
	ep2 = start(bind, hist2);
	stn__endpoint_stop(ep);
	assert_int_equal(access(sock, F_OK), 0);
	stn__endpoint_stop(ep2);
	assert_int_not_equal(access(sock, F_OK), 0);
	unlink(hist2);

	/* Failed starts: a history that cannot be opened (a directory) once bound, a model
	 * that does not exist, an address that cannot be bound. */
	memset(&cfg, 0, sizeof(cfg));
	cfg.bind = bind;
	cfg.history_path = dir;
	cfg.logger = stn__logger_default();
	cfg.logger.level = STN_LOG_ERROR;
	assert_int_not_equal(stn__endpoint_start(&cfg, &ep, &eb), STN_OK);
	assert_null(ep);
	assert_int_not_equal(access(sock, F_OK), 0);
	cfg.history_path = hist2;
	cfg.model_path = model;
	assert_int_equal(stn__endpoint_start(&cfg, &ep, &eb), STN_ENOTFOUND);
	assert_int_not_equal(access(sock, F_OK), 0);
	assert_int_not_equal(access(hist2, F_OK), 0);
	cfg.model_path = NULL;
	cfg.bind = "nonsense";
	assert_int_equal(stn__endpoint_start(&cfg, &ep, &eb), STN_EZMQ);
	assert_int_not_equal(access(hist2, F_OK), 0);

	stn_test_rmtree(dir);
	free(sock);
	free(hist);
	free(hist2);
	free(model);
	free(dir);
}

/* ---- hostile input ----------------------------------------------------------------------- */

static void expect_error(stn_client *c, stn_status code, const char *what)
{
	stn_msg r;
	stn_errbuf eb = {{0}};

	if (stn__client_recv(c, &r, 10000, &eb) != STN_OK)
		fail_msg("%s: no answer: %s", what, eb.text);
	if (r.type != STN_MSG_ERROR)
		fail_msg("%s: expected ERROR, got %s", what, stn__msg_type_name(r.type));
	if (r.u.error.code != (uint32_t)code)
		fail_msg("%s: expected %s, got %s: %s", what, stn__status_name(code), r.u.error.name,
			 r.u.error.message);
	assert_true(strlen(r.u.error.message) > 0);
	stn__msg_free(&r);
}

static void send_raw(stn_client *c, const void *p, size_t n)
{
	stn_errbuf eb = {{0}};

	if (stn__client_send_raw(c, p, n, 5000, &eb) != STN_OK)
		fail_msg("send: %s", eb.text);
}

/* A map of {"v":1,"t":type} followed by n extra key/value pairs written by fn. */
typedef void (*pack_fields)(msgpack_packer *pk, void *arg);

static void send_packed(stn_client *c, const char *type, size_t extra, pack_fields fn, void *arg)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 2 + extra);
	msgpack_pack_str_with_body(&pk, "v", 1);
	msgpack_pack_uint32(&pk, 1);
	msgpack_pack_str_with_body(&pk, "t", 1);
	msgpack_pack_str_with_body(&pk, type, strlen(type));
	if (fn != NULL)
		fn(&pk, arg);
	send_raw(c, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
}

static void pack_job_wrong_type(msgpack_packer *pk, void *arg)
{
	(void)arg;
	msgpack_pack_str_with_body(pk, "job", 3);
	msgpack_pack_int(pk, 42);
}

static void pack_samples_prefix(msgpack_packer *pk, const char *job, uint64_t window)
{
	msgpack_pack_str_with_body(pk, "job", 3);
	msgpack_pack_str_with_body(pk, job, strlen(job));
	msgpack_pack_str_with_body(pk, "window", 6);
	msgpack_pack_uint64(pk, window);
	msgpack_pack_str_with_body(pk, "duration_ms", 11);
	msgpack_pack_uint32(pk, 1000);
}

static void pack_bad_metric(msgpack_packer *pk, void *arg)
{
	double bad = *(double *)arg;
	const char *cols[] = {"op", "inst", "busy_ms", "in", "out", "backlog"};

	pack_samples_prefix(pk, "hostile", 1);
	for (int i = 0; i < 6; i++) {
		msgpack_pack_str_with_body(pk, cols[i], strlen(cols[i]));
		msgpack_pack_array(pk, 1);
		if (i == 0)
			msgpack_pack_uint32(pk, 100);
		else if (i == 1)
			msgpack_pack_uint32(pk, 0);
		else if (i == 2)
			msgpack_pack_double(pk, bad);
		else
			msgpack_pack_double(pk, 1.0);
	}
}

/* An operator {"id": id, "kind": "map", "p": 1, "p_max": 4}. */
static void pack_map_op(msgpack_packer *pk, uint32_t id)
{
	msgpack_pack_map(pk, 4);
	msgpack_pack_str_with_body(pk, "id", 2);
	msgpack_pack_uint32(pk, id);
	msgpack_pack_str_with_body(pk, "kind", 4);
	msgpack_pack_str_with_body(pk, "map", 3);
	msgpack_pack_str_with_body(pk, "p", 1);
	msgpack_pack_uint32(pk, 1);
	msgpack_pack_str_with_body(pk, "p_max", 5);
	msgpack_pack_uint32(pk, 4);
}

static void pack_cycle(msgpack_packer *pk, void *arg)
{
	(void)arg;
	msgpack_pack_str_with_body(pk, "job", 3);
	msgpack_pack_str_with_body(pk, "cyclic", 6);
	msgpack_pack_str_with_body(pk, "ops", 3);
	msgpack_pack_array(pk, 2);
	for (uint32_t i = 0; i < 2; i++) {
		pack_map_op(pk, i);
	}
	msgpack_pack_str_with_body(pk, "edges", 5);
	msgpack_pack_array(pk, 2);
	for (uint32_t i = 0; i < 2; i++) {
		msgpack_pack_array(pk, 3);
		msgpack_pack_uint32(pk, i);
		msgpack_pack_uint32(pk, 1 - i);
		msgpack_pack_str_with_body(pk, "hash", 4);
	}
}

static void pack_huge_dag(msgpack_packer *pk, void *arg)
{
	(void)arg;
	msgpack_pack_str_with_body(pk, "job", 3);
	msgpack_pack_str_with_body(pk, "huge", 4);
	msgpack_pack_str_with_body(pk, "ops", 3);
	msgpack_pack_array(pk, 10000);
	for (uint32_t i = 0; i < 10000; i++) {
		pack_map_op(pk, i);
	}
	msgpack_pack_str_with_body(pk, "edges", 5);
	msgpack_pack_array(pk, 0);
}

typedef struct good_run {
	const char *addr;
	job_run jr;
} good_run;

static void test_hostile_input(void **state)
{
	char *dir = stn_test_tmpdir();
	char *hist = stn_test_path(dir, "h.sqlite");
	stn_endpoint *ep = start("tcp://127.0.0.1:0", hist);
	const char *addr = stn__endpoint_address(ep);
	stn_errbuf eb = {{0}};
	stn_client *bad = NULL;
	pthread_t good;
	job_run jr = {addr, 3, 2, 0};
	stn_msg m, r;
	unsigned char junk[4096];
	uint64_t rng = 0x9e3779b97f4a7c15ULL;
	double nan_v = NAN, inf_v = INFINITY, neg_v = -1.0;

	(void)state;
	/* A well-behaved job runs the whole time. */
	pthread_create(&good, NULL, run_job, &jr);
	assert_int_equal(stn__client_connect(addr, &bad, &eb), STN_OK);

	/* Random bytes, empty, truncated, trailing garbage. */
	for (int k = 0; k < 20; k++) {
		for (size_t i = 0; i < sizeof(junk); i++) {
			rng ^= rng << 13;
			rng ^= rng >> 7;
			rng ^= rng << 17;
			junk[i] = (unsigned char)rng;
		}
		junk[0] = 0x81; /* a map, so the decoder goes deeper than the first byte */
		send_raw(bad, junk, 64 + (size_t)k * 150);
		{
			stn_msg any;
			assert_int_equal(stn__client_recv(bad, &any, 10000, &eb), STN_OK);
			assert_int_equal(any.type, STN_MSG_ERROR);
			stn__msg_free(&any);
		}
	}
	send_raw(bad, "", 0);
	expect_error(bad, STN_EPROTO, "empty");
	make_register(&m, "hostile", 1, "static");
	{
		void *buf = NULL;
		size_t len = 0;

		assert_int_equal(stn__proto_encode(&m, &buf, &len, &eb), STN_OK);
		send_raw(bad, buf, len / 2);
		expect_error(bad, STN_EPROTO, "truncated");
		stn__free(buf);
	}
	/* Wrong types, unknown message type, unknown job, unknown policy. */
	send_packed(bad, "samples", 1, pack_job_wrong_type, NULL);
	expect_error(bad, STN_EFIELD, "wrong type");
	send_packed(bad, "teleport", 0, NULL, NULL);
	expect_error(bad, STN_ETYPE, "unknown type");
	send_packed(bad, "decision", 0, NULL, NULL);
	{
		stn_msg any;
		assert_int_equal(stn__client_recv(bad, &any, 10000, &eb), STN_OK);
		assert_int_equal(any.type, STN_MSG_ERROR);
		stn__msg_free(&any);
	}
	make_samples(&r, "nobody", 9, 1, 0, 1, false);
	send_ok(bad, &r);
	stn__msg_free(&r);
	expect_error(bad, STN_EJOB, "unknown job");
	snprintf(m.u.reg.policy, sizeof(m.u.reg.policy), "magic");
	send_ok(bad, &m);
	expect_error(bad, STN_EPOLICY, "unknown policy");
	snprintf(m.u.reg.policy, sizeof(m.u.reg.policy), "static");
	send_ok(bad, &m);
	expect(bad, STN_MSG_ACK, &r);
	stn__msg_free(&r);
	stn__msg_free(&m);

	/* NaN, infinite and negative metrics. */
	send_packed(bad, "samples", 9, pack_bad_metric, &nan_v);
	expect_error(bad, STN_EVALUE, "NaN");
	send_packed(bad, "samples", 9, pack_bad_metric, &inf_v);
	expect_error(bad, STN_EVALUE, "infinite");
	send_packed(bad, "samples", 9, pack_bad_metric, &neg_v);
	expect_error(bad, STN_EVALUE, "negative");

	/* Windows out of order and repeated. */
	make_samples(&m, "hostile", 4, 5, 0, 1, true);
	send_ok(bad, &m);
	expect(bad, STN_MSG_ACK, &r);
	stn__msg_free(&r);
	send_ok(bad, &m);
	expect_error(bad, STN_EORDER, "repeated window");
	stn__msg_free(&m);
	make_samples(&m, "hostile", 4, 3, 0, 1, true);
	send_ok(bad, &m);
	expect_error(bad, STN_EORDER, "old window");
	stn__msg_free(&m);

	/* Graphs: a cycle, 10,000 operators. */
	send_packed(bad, "register", 3, pack_cycle, NULL);
	expect_error(bad, STN_ECYCLE, "cycle");
	send_packed(bad, "register", 3, pack_huge_dag, NULL);
	expect_error(bad, STN_ETOOBIG, "10,000 operators");

	/* Oversized: beyond max_msg_bytes (16 MiB) but under ZeroMQ's hard cap. */
	{
		size_t n = 17u * 1024u * 1024u;
		unsigned char *big = calloc(1, n);

		assert_non_null(big);
		big[0] = 0x80;
		send_raw(bad, big, n);
		free(big);
		expect_error(bad, STN_ETOOBIG, "oversized");
	}

	/* A client that disconnects mid-stream: one part of a two-part window, then gone. */
	{
		stn_client *quitter = NULL;

		assert_int_equal(stn__client_connect(addr, &quitter, &eb), STN_OK);
		make_register(&m, "quitter", 2, "static");
		send_ok(quitter, &m);
		stn__msg_free(&m);
		expect(quitter, STN_MSG_ACK, &r);
		stn__msg_free(&r);
		make_samples(&m, "quitter", 5, 1, 0, 2, true);
		send_ok(quitter, &m);
		stn__msg_free(&m);
		stn__client_close(quitter);
	}

	/* Still up and serving: QUERY answers. */
	memset(&m, 0, sizeof(m));
	m.type = STN_MSG_QUERY;
	m.version = STN_PROTO_VERSION;
	m.u.query.id = 99;
	send_ok(bad, &m);
	expect(bad, STN_MSG_STATUS, &r);
	assert_int_equal(r.u.status.id, 99);
	stn__msg_free(&r);
	/* A job not registered (yet) is answered EJOB, and that answer is no fault. */
	{
		stn_serve_stats before, after;

		stn__endpoint_stats(ep, &before);
		m.u.query.id = 100;
		snprintf(m.u.query.job, sizeof(m.u.query.job), "not-yet");
		send_ok(bad, &m);
		expect(bad, STN_MSG_ERROR, &r);
		assert_int_equal(r.u.error.code, STN_EJOB);
		assert_int_equal(r.u.error.id, 100);
		assert_string_equal(r.u.error.job, "not-yet");
		stn__msg_free(&r);
		stn__endpoint_stats(ep, &after);
		assert_true(after.errors == before.errors);
		assert_true(after.messages > before.messages);
	}

	pthread_join(good, NULL);
	assert_int_equal(jr.acks, N_WINDOWS * 2);
	stn__client_close(bad);
	stn__endpoint_stop(ep);

	/* The good job lost nothing. */
	{
		stn_history_opts ro = {true, false};
		stn_history *h = NULL;
		job_keys jk;

		memset(&jk, 0, sizeof(jk));
		assert_int_equal(stn__history_open(hist, &ro, &h, &eb), STN_OK);
		assert_int_equal(stn__history_each_job(h, collect_job, &jk, &eb), STN_OK);
		for (int i = 0; i < jk.n; i++) {
			if (strcmp(jk.name[i], "job-3") == 0) {
				check_ctx cc = {3, 2, 1, 0};

				assert_int_equal(stn__history_each_window(h, jk.key[i], check_window,
									  &cc, &eb),
						 STN_OK);
				assert_int_equal(cc.next_window, N_WINDOWS + 1);
				assert_int_equal(cc.mismatches, 0);
			}
		}
		stn__history_close(h);
	}
	stn_test_rmtree(dir);
	free(hist);
	free(dir);
}

/* An endpoint on a fresh history file and one client connected to it over TCP. */
typedef struct one_client {
	char *dir, *hist;
	stn_endpoint *ep;
	stn_client *c;
} one_client;

static void one_client_open(one_client *f)
{
	stn_errbuf eb = {{0}};

	f->dir = stn_test_tmpdir();
	f->hist = stn_test_path(f->dir, "h.sqlite");
	f->ep = start("tcp://127.0.0.1:0", f->hist);
	f->c = NULL;
	assert_int_equal(stn__client_connect(stn__endpoint_address(f->ep), &f->c, &eb), STN_OK);
}

/* Disconnects and stops the endpoint: its history is complete. */
static void one_client_stop(one_client *f)
{
	stn__client_close(f->c);
	stn__endpoint_stop(f->ep);
}

static void one_client_remove(one_client *f)
{
	stn_test_rmtree(f->dir);
	free(f->hist);
	free(f->dir);
}

/* Reads back a history that holds one job: fn on each of its windows. */
static void each_window_of_the_job(const char *hist,
				   bool (*fn)(void *user, uint64_t dag_hash, const stn_window *w),
				   void *user)
{
	stn_history_opts ro = {true, false};
	stn_history *h = NULL;
	stn_errbuf eb = {{0}};
	job_keys jk;

	memset(&jk, 0, sizeof(jk));
	assert_int_equal(stn__history_open(hist, &ro, &h, &eb), STN_OK);
	assert_int_equal(stn__history_each_job(h, collect_job, &jk, &eb), STN_OK);
	assert_int_equal(jk.n, 1);
	assert_int_equal(stn__history_each_window(h, jk.key[0], fn, user, &eb), STN_OK);
	stn__history_close(h);
}

/* Labels of a job whose middle operator halves its records without saying so (registered
 * selectivity 1, like a pre-aggregation an engine does not know the effect of): the operator
 * behind it receives half the source's rate, which is all its load, so it is labelled OK,
 * not held below a target of the whole source rate forever. */
static bool collect_last_labels(void *user, uint64_t dag_hash, const stn_window *w)
{
	int *ok_windows = user;

	(void)dag_hash;
	if (w->index > 4 && w->n_ops == 3 && w->ops[2].label == STN_LABEL_OK)
		(*ok_windows)++;
	return true;
}

static void test_labels_behind_a_reduction(void **state)
{
	(void)state;
	one_client f;
	stn_errbuf eb = {{0}};
	stn_msg m, r;
	const double recs_in[3] = {0.0, 5000.0, 2500.0}, recs_out[3] = {5000.0, 2500.0, 2500.0};
	const uint64_t windows = 10;

	one_client_open(&f);
	stn_client *c = f.c;
	memset(&m, 0, sizeof(m));
	m.type = STN_MSG_REGISTER;
	m.version = STN_PROTO_VERSION;
	snprintf(m.u.reg.job, sizeof(m.u.reg.job), "reduce");
	m.u.reg.senders = 1;
	m.u.reg.window_ms = 1000;
	m.u.reg.id = 1;
	snprintf(m.u.reg.policy, sizeof(m.u.reg.policy), "static");
	stn__dag_init(&m.u.reg.dag);
	for (uint32_t i = 0; i < 3; i++) {
		stn_op op;

		memset(&op, 0, sizeof(op));
		op.id = 200 + i;
		snprintf(op.name, sizeof(op.name), "op%u", i);
		op.kind = i == 0 ? STN_KIND_SOURCE : STN_KIND_MAP;
		op.selectivity = 1.0;
		op.source_rate = i == 0 ? 5000.0 : 0.0;
		op.parallelism = 1;
		op.p_max = 16;
		assert_int_equal(stn__dag_add_op(&m.u.reg.dag, &op, &eb), STN_OK);
		if (i > 0)
			assert_int_equal(stn__dag_add_edge(&m.u.reg.dag, i - 1, i, STN_PART_HASH, &eb),
					 STN_OK);
	}
	send_ok(c, &m);
	stn__msg_free(&m);
	expect(c, STN_MSG_ACK, &r);
	stn__msg_free(&r);
	for (uint64_t w = 1; w <= windows; w++) {
		memset(&m, 0, sizeof(m));
		m.type = STN_MSG_SAMPLES;
		m.version = STN_PROTO_VERSION;
		snprintf(m.u.samples.job, sizeof(m.u.samples.job), "reduce");
		m.u.samples.window = w;
		m.u.samples.epoch = w * 10;
		m.u.samples.duration_ms = 1000;
		m.u.samples.want_ack = true;
		m.u.samples.lag_ms = 1.0;
		assert_int_equal(stn__samples_alloc(&m.u.samples, 3, false), STN_OK);
		for (uint32_t op = 0; op < 3; op++) {
			m.u.samples.op[op] = 200 + op;
			m.u.samples.inst[op] = 0;
			m.u.samples.busy_ms[op] = 500.0;
			m.u.samples.recs_in[op] = recs_in[op];
			m.u.samples.recs_out[op] = recs_out[op];
			m.u.samples.backlog[op] = 0.0;
		}
		send_ok(c, &m);
		stn__msg_free(&m);
		expect(c, STN_MSG_ACK, &r);
		stn__msg_free(&r);
	}
	one_client_stop(&f);

	int ok_windows = 0;

	each_window_of_the_job(f.hist, collect_last_labels, &ok_windows);
	assert_int_equal(ok_windows, (int)windows - 4);
	one_client_remove(&f);
}

/* A decision acknowledged only after later ones were sent (under a backlog the client's
 * operators take longer to switch than the policy waits between decisions) still becomes the
 * job's configuration: the windows after its ACK record its parallelism, a later ACK of a
 * newer decision moves them on, and a late ACK of an older one does not move them back. */
#define LATE_WINDOWS 6u

typedef struct late_log {
	uint64_t epoch[LATE_WINDOWS + 2];
	uint32_t p[LATE_WINDOWS + 2][N_OPS]; /* by decision seq */
	uint64_t n;
} late_log;

/* Sends window w of job "late" and receives until its ACK, noting the decisions. */
static void late_window(stn_client *c, uint64_t w, late_log *log)
{
	stn_msg m, r;

	make_samples(&m, "late", 1, w, 0, 1, true);
	send_ok(c, &m);
	stn__msg_free(&m);
	for (;;) {
		stn_errbuf eb = {{0}};

		if (stn__client_recv(c, &r, 10000, &eb) != STN_OK)
			fail_msg("receive: %s", eb.text);
		if (r.type == STN_MSG_DECISION) {
			assert_int_equal(r.u.decision.seq, log->n + 1);
			assert_int_equal(r.u.decision.n_ops, N_OPS);
			assert_true(log->n + 1 < LATE_WINDOWS + 2);
			log->n++;
			log->epoch[log->n] = r.u.decision.epoch;
			memcpy(log->p[log->n], r.u.decision.p, N_OPS * sizeof(uint32_t));
		}
		bool done = r.type == STN_MSG_ACK && r.u.ack.of == STN_ACK_SAMPLES;

		if (r.type != STN_MSG_DECISION && !done)
			fail_msg("unexpected %s", stn__msg_type_name(r.type));
		stn__msg_free(&r);
		if (done)
			return;
	}
}

static void ack_decision(stn_client *c, const late_log *log, uint64_t seq)
{
	stn_msg m;

	memset(&m, 0, sizeof(m));
	m.type = STN_MSG_ACK;
	m.version = STN_PROTO_VERSION;
	m.u.ack.of = STN_ACK_DECISION;
	snprintf(m.u.ack.job, sizeof(m.u.ack.job), "late");
	m.u.ack.seq = seq;
	m.u.ack.epoch = log->epoch[seq];
	send_ok(c, &m);
}

typedef struct recorded_p {
	uint32_t p[LATE_WINDOWS + 1][N_OPS]; /* by window index */
} recorded_p;

static bool collect_parallelism(void *user, uint64_t dag_hash, const stn_window *w)
{
	recorded_p *rec = user;

	(void)dag_hash;
	if (w->index >= 1 && w->index <= LATE_WINDOWS && w->n_ops == N_OPS)
		for (size_t v = 0; v < N_OPS; v++)
			rec->p[w->index][v] = w->ops[v].parallelism;
	return true;
}

static void test_late_decision_ack(void **state)
{
	(void)state;
	one_client f;
	stn_msg m, r;
	late_log log;

	memset(&log, 0, sizeof(log));
	one_client_open(&f);
	stn_client *c = f.c;
	/* explore decides on every window (period 1): a new configuration each time */
	make_register(&m, "late", 1, "explore");
	snprintf(m.u.reg.opts[0].key, sizeof(m.u.reg.opts[0].key), "period");
	m.u.reg.opts[0].value = 1.0;
	m.u.reg.n_opts = 1;
	send_ok(c, &m);
	stn__msg_free(&m);
	expect(c, STN_MSG_ACK, &r);
	stn__msg_free(&r);

	/* windows 1-3 decide 1-3; window 4 runs after the ACK of decision 1 only, window 5
	 * after that of 3, window 6 after a late one of 2 */
	for (uint64_t w = 1; w <= 3; w++)
		late_window(c, w, &log);
	assert_true(log.n >= 3);
	ack_decision(c, &log, 1);
	late_window(c, 4, &log);
	ack_decision(c, &log, 3);
	late_window(c, 5, &log);
	ack_decision(c, &log, 2);
	late_window(c, 6, &log);
	one_client_stop(&f);

	/* the case is only telling if the decisions differ from each other and the start */
	bool differ13 = false, differ23 = false, differ1start = false;
	for (size_t v = 0; v < N_OPS; v++) {
		differ13 |= log.p[1][v] != log.p[3][v];
		differ23 |= log.p[2][v] != log.p[3][v];
		differ1start |= log.p[1][v] != N_INST;
	}
	assert_true(differ13 && differ23 && differ1start);

	recorded_p rec;

	memset(&rec, 0, sizeof(rec));
	each_window_of_the_job(f.hist, collect_parallelism, &rec);
	for (size_t v = 0; v < N_OPS; v++) {
		assert_int_equal(rec.p[1][v], N_INST);
		assert_int_equal(rec.p[4][v], log.p[1][v]);
		assert_int_equal(rec.p[5][v], log.p[3][v]);
		assert_int_equal(rec.p[6][v], log.p[3][v]);
	}
	one_client_remove(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_eight_clients_tcp),
		cmocka_unit_test(test_eight_clients_ipc),
		cmocka_unit_test(test_ipc_file_removed),
		cmocka_unit_test(test_hostile_input),
		cmocka_unit_test(test_labels_behind_a_reduction),
		cmocka_unit_test(test_late_decision_ack),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
