/* bench ingest: operator-instance rows per second ingested and durably committed by the
 * endpoint over tcp loopback (64 operators x 32 instances per window), and the QUERY round
 * trip. Clients and endpoint share this 2-core machine, so the figure includes the clients'
 * own cost. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "alloc.h"
#include "cli.h"
#include "client.h"
#include "endpoint.h"

#define BENCH_OPS 64
#define BENCH_INST 32
#define INFLIGHT 32
/* Window indices start here so every index encodes as a 4-byte uint (0xce): one encoded
 * message is reused with its index patched, keeping client CPU out of the measurement. */
#define FIRST_WINDOW (1u << 20)

typedef struct client_job {
	const char *addr;
	int n;            /* client number */
	int windows;
	double t_end;
	int failed;
	char err[STN_ERRMSG_CAP];
} client_job;

static stn_status register_chain(stn_client *c, const char *job, stn_errbuf *eb)
{
	stn_msg m, reply;
	stn_status rv;

	memset(&m, 0, sizeof(m));
	m.type = STN_MSG_REGISTER;
	m.version = STN_PROTO_VERSION;
	snprintf(m.u.reg.job, sizeof(m.u.reg.job), "%s", job);
	m.u.reg.senders = 1;
	m.u.reg.window_ms = 1000;
	snprintf(m.u.reg.policy, sizeof(m.u.reg.policy), "static");
	stn__dag_init(&m.u.reg.dag);
	for (uint32_t i = 0; i < BENCH_OPS; i++) {
		stn_op op;

		memset(&op, 0, sizeof(op));
		op.id = i;
		op.kind = i == 0 ? STN_KIND_SOURCE : (i == BENCH_OPS - 1 ? STN_KIND_SINK : STN_KIND_MAP);
		op.selectivity = 1.0;
		op.source_rate = i == 0 ? 100000.0 : 0.0;
		op.parallelism = BENCH_INST;
		op.p_max = BENCH_INST;
		rv = stn__dag_add_op(&m.u.reg.dag, &op, eb);
		if (rv == STN_OK && i > 0)
			rv = stn__dag_add_edge(&m.u.reg.dag, i - 1, i, STN_PART_HASH, eb);
		if (rv != STN_OK)
			goto out;
	}
	rv = stn__client_send(c, &m, 5000, eb);
	if (rv != STN_OK)
		goto out;
	rv = stn__client_recv(c, &reply, 10000, eb);
	if (rv == STN_OK && reply.type != STN_MSG_ACK)
		rv = stn__fail(eb, STN_EPROTO, "REGISTER answered with %s: %s",
			       stn__msg_type_name(reply.type),
			       reply.type == STN_MSG_ERROR ? reply.u.error.message : "");
	if (rv == STN_OK)
		stn__msg_free(&reply);
out:
	stn__msg_free(&m);
	return rv;
}

static stn_status encode_window(const char *job, void **buf, size_t *len, size_t *index_at,
				stn_errbuf *eb)
{
	stn_msg m;
	stn_status rv;
	static const unsigned char key[] = {0xa6, 'w', 'i', 'n', 'd', 'o', 'w', 0xce};

	memset(&m, 0, sizeof(m));
	m.type = STN_MSG_SAMPLES;
	m.version = STN_PROTO_VERSION;
	snprintf(m.u.samples.job, sizeof(m.u.samples.job), "%s", job);
	m.u.samples.window = FIRST_WINDOW;
	m.u.samples.duration_ms = 1000;
	m.u.samples.want_ack = true;
	m.u.samples.lag_ms = -1.0;
	rv = stn__samples_alloc(&m.u.samples, BENCH_OPS * BENCH_INST, false);
	if (rv != STN_OK)
		return stn__fail(eb, rv, "out of memory");
	for (size_t r = 0; r < BENCH_OPS * BENCH_INST; r++) {
		m.u.samples.op[r] = (uint32_t)(r / BENCH_INST);
		m.u.samples.inst[r] = (uint32_t)(r % BENCH_INST);
		m.u.samples.busy_ms[r] = 100.0 + (double)(r % 700);
		m.u.samples.recs_in[r] = 1000.0 + (double)r;
		m.u.samples.recs_out[r] = 990.0 + (double)r;
		m.u.samples.backlog[r] = (double)(r % 17);
	}
	rv = stn__proto_encode(&m, buf, len, eb);
	stn__msg_free(&m);
	if (rv != STN_OK)
		return rv;
	for (size_t i = 0; i + sizeof(key) + 4 <= *len; i++) {
		if (memcmp((unsigned char *)*buf + i, key, sizeof(key)) == 0) {
			*index_at = i + sizeof(key);
			return STN_OK;
		}
	}
	stn__free(*buf);
	return stn__fail(eb, STN_EPROTO, "cannot find the window index in the encoding");
}

static void patch_index(unsigned char *buf, size_t at, uint32_t index)
{
	buf[at] = (unsigned char)(index >> 24);
	buf[at + 1] = (unsigned char)(index >> 16);
	buf[at + 2] = (unsigned char)(index >> 8);
	buf[at + 3] = (unsigned char)index;
}

static void *client_main(void *arg)
{
	client_job *cj = arg;
	stn_errbuf eb = {{0}};
	stn_client *c = NULL;
	void *buf = NULL;
	size_t len = 0, at = 0;
	char job[64];
	int sent = 0, acked = 0;
	stn_status rv;

	snprintf(job, sizeof(job), "bench-%d-%d", cj->n, getpid());
	rv = stn__client_connect(cj->addr, &c, &eb);
	if (rv == STN_OK)
		rv = register_chain(c, job, &eb);
	if (rv == STN_OK)
		rv = encode_window(job, &buf, &len, &at, &eb);
	while (rv == STN_OK && acked < cj->windows) {
		stn_msg reply;

		while (sent < cj->windows && sent - acked < INFLIGHT) {
			patch_index(buf, at, FIRST_WINDOW + (uint32_t)sent);
			rv = stn__client_send_raw(c, buf, len, 5000, &eb);
			if (rv != STN_OK)
				break;
			sent++;
		}
		if (rv != STN_OK)
			break;
		rv = stn__client_recv(c, &reply, 30000, &eb);
		if (rv != STN_OK)
			break;
		if (reply.type != STN_MSG_ACK)
			rv = stn__fail(&eb, STN_EPROTO, "expected ACK, got %s: %s",
				       stn__msg_type_name(reply.type),
				       reply.type == STN_MSG_ERROR ? reply.u.error.message : "");
		stn__msg_free(&reply);
		acked++;
	}
	cj->t_end = stn_cli_now();
	if (rv != STN_OK) {
		cj->failed = 1;
		snprintf(cj->err, sizeof(cj->err), "%s", eb.text);
	}
	stn__free(buf);
	stn__client_close(c);
	return NULL;
}

static int run_clients(const stn_bench_opts *opts, const char *addr, int n_clients,
		       int windows)
{
	client_job cj[8];
	pthread_t th[8];
	double t0, t_end = 0.0, rows;
	char extra[96];

	t0 = stn_cli_now();
	for (int i = 0; i < n_clients; i++) {
		memset(&cj[i], 0, sizeof(cj[i]));
		cj[i].addr = addr;
		cj[i].n = n_clients * 10 + i;
		cj[i].windows = windows;
		pthread_create(&th[i], NULL, client_main, &cj[i]);
	}
	for (int i = 0; i < n_clients; i++) {
		pthread_join(th[i], NULL);
		if (cj[i].failed) {
			fprintf(stderr, "streamtune bench: client %d: %s\n", i, cj[i].err);
			return 1;
		}
		if (cj[i].t_end > t_end)
			t_end = cj[i].t_end;
	}
	rows = (double)n_clients * windows * BENCH_OPS * BENCH_INST;
	snprintf(extra, sizeof(extra), "\"clients\":%d,\"ops\":%d,\"instances\":%d,\"durable\":true",
		 n_clients, BENCH_OPS, BENCH_INST);
	stn_bench_emit(opts, "ingest", "rows_per_s", rows / (t_end - t0), "rows/s", extra);
	return 0;
}

static int query_rtt(const stn_bench_opts *opts, const char *addr, int n)
{
	stn_errbuf eb = {{0}};
	stn_client *c = NULL;
	double *lat = calloc((size_t)n, sizeof(double));
	int rc = 1;

	if (lat == NULL || stn__client_connect(addr, &c, &eb) != STN_OK)
		goto out;
	for (int i = -50; i < n; i++) { /* 50 warm-up round trips */
		stn_msg q, r;
		double t;

		memset(&q, 0, sizeof(q));
		q.type = STN_MSG_QUERY;
		q.version = STN_PROTO_VERSION;
		q.u.query.id = (uint64_t)(i + 100);
		t = stn_cli_now();
		if (stn__client_send(c, &q, 5000, &eb) != STN_OK ||
		    stn__client_recv(c, &r, 5000, &eb) != STN_OK)
			goto out;
		if (i >= 0)
			lat[i] = (stn_cli_now() - t) * 1e6;
		stn__msg_free(&r);
	}
	stn_bench_emit(opts, "ingest", "query_rtt_p50", stn_cli_percentile(lat, (size_t)n, 50),
		       "us", NULL);
	stn_bench_emit(opts, "ingest", "query_rtt_p99", stn_cli_percentile(lat, (size_t)n, 99),
		       "us", NULL);
	rc = 0;
out:
	if (rc != 0)
		fprintf(stderr, "streamtune bench: query: %s\n", eb.text);
	stn__client_close(c);
	free(lat);
	return rc;
}

int bench_ingest(const stn_bench_opts *opts)
{
	char dir[] = "/tmp/stn-bench-XXXXXX";
	char hist[128], cmd[160];
	stn_endpoint_config cfg;
	stn_errbuf eb = {{0}};
	stn_endpoint *ep = NULL;
	int windows = opts->quick ? 40 : 600;
	int rc;

	if (mkdtemp(dir) == NULL)
		return stn_cli_error("bench", "cannot create a temporary directory");
	snprintf(hist, sizeof(hist), "%s/history.sqlite", dir);
	memset(&cfg, 0, sizeof(cfg));
	cfg.bind = "tcp://127.0.0.1:0";
	cfg.history_path = hist;
	cfg.synchronous_full = true;
	cfg.logger = stn__logger_default();
	cfg.logger.level = STN_LOG_ERROR;
	if (stn__endpoint_start(&cfg, &ep, &eb) != STN_OK) {
		rc = stn_cli_error("bench", "%s", eb.text);
		goto out;
	}
	rc = run_clients(opts, stn__endpoint_address(ep), 1, windows);
	if (rc == 0)
		rc = run_clients(opts, stn__endpoint_address(ep), 4, windows / 2);
	if (rc == 0)
		rc = query_rtt(opts, stn__endpoint_address(ep), opts->quick ? 200 : 5000);
	stn__endpoint_stop(ep);
out:
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "streamtune bench: could not remove %s\n", dir);
	return rc;
}
