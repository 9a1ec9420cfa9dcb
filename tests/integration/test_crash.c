/* Crash safety and clean stop of the real `streamtune serve` process: SIGKILL during heavy
 * ingest, restart on the same history, every ACKed window intact; SIGTERM exits cleanly.
 * Its refusals: one error per bad argument, and no history left by a start that failed. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client.h"
#include "history.h"
#include "proto.h"
#include "testutil.h"

#define N_OPS 64
#define N_INST 8
#define MAX_WINDOWS 100000

static pid_t spawn_serve(const char *bind, const char *hist, const char *sync)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		execl(stn_test_cli(), "streamtune", "serve", "--bind", bind, "--history", hist,
		      "--sync", sync, "--log-level", "error", "--stats-every", "0", (char *)NULL);
		_exit(127);
	}
	return pid;
}

static void make_register(stn_msg *m, const char *job)
{
	stn_errbuf eb = {{0}};

	memset(m, 0, sizeof(*m));
	m->type = STN_MSG_REGISTER;
	m->version = STN_PROTO_VERSION;
	snprintf(m->u.reg.job, sizeof(m->u.reg.job), "%s", job);
	m->u.reg.senders = 1;
	m->u.reg.window_ms = 1000;
	snprintf(m->u.reg.policy, sizeof(m->u.reg.policy), "static");
	stn__dag_init(&m->u.reg.dag);
	for (uint32_t i = 0; i < N_OPS; i++) {
		stn_op op;

		memset(&op, 0, sizeof(op));
		op.id = i;
		op.kind = i == 0 ? STN_KIND_SOURCE : STN_KIND_MAP;
		op.selectivity = 1.0;
		op.parallelism = N_INST;
		op.p_max = N_INST;
		assert_int_equal(stn__dag_add_op(&m->u.reg.dag, &op, &eb), STN_OK);
		if (i > 0)
			assert_int_equal(stn__dag_add_edge(&m->u.reg.dag, i - 1, i, STN_PART_FORWARD, &eb),
					 STN_OK);
	}
}

static void make_samples(stn_msg *m, uint64_t window)
{
	size_t r = 0;

	memset(m, 0, sizeof(*m));
	m->type = STN_MSG_SAMPLES;
	m->version = STN_PROTO_VERSION;
	snprintf(m->u.samples.job, sizeof(m->u.samples.job), "crashy");
	m->u.samples.window = window;
	m->u.samples.duration_ms = 1000;
	m->u.samples.want_ack = true;
	m->u.samples.lag_ms = -1.0;
	assert_int_equal(stn__samples_alloc(&m->u.samples, N_OPS * N_INST, false), STN_OK);
	for (uint32_t op = 0; op < N_OPS; op++)
		for (uint32_t inst = 0; inst < N_INST; inst++, r++) {
			m->u.samples.op[r] = op;
			m->u.samples.inst[r] = inst;
			m->u.samples.busy_ms[r] = (double)((window + op + inst) % 1000);
			m->u.samples.recs_in[r] = (double)(window * 3 + op);
			m->u.samples.recs_out[r] = (double)(window * 3 + op);
			m->u.samples.backlog[r] = (double)inst;
		}
}

/* Registers (again) and waits for the endpoint to answer; it may still be starting. */
static void register_job(stn_client *c)
{
	stn_errbuf eb = {{0}};
	stn_msg m, r;

	make_register(&m, "crashy");
	for (int attempt = 0; attempt < 100; attempt++) {
		assert_int_equal(stn__client_send(c, &m, 5000, &eb), STN_OK);
		if (stn__client_recv(c, &r, 200, &eb) == STN_OK) {
			assert_int_equal(r.type, STN_MSG_ACK);
			stn__msg_free(&r);
			/* Drain duplicate answers of earlier attempts. */
			while (stn__client_recv(c, &r, 100, &eb) == STN_OK)
				stn__msg_free(&r);
			stn__msg_free(&m);
			return;
		}
	}
	fail_msg("endpoint did not answer REGISTER");
}

typedef struct verify {
	const unsigned char *acked;
	uint64_t found_acked, found, bad;
} verify;

static bool check(void *user, uint64_t hash, const stn_window *w)
{
	verify *v = user;

	(void)hash;
	v->found++;
	if (w->index < MAX_WINDOWS && v->acked[w->index])
		v->found_acked++;
	for (size_t i = 0; i < w->n_ops; i++)
		if (w->ops[i].rate_in != (double)(w->index * 3 + i) * N_INST ||
		    w->ops[i].n_inst != N_INST)
			v->bad++;
	return true;
}

static bool first_job(void *user, const stn_history_job *j)
{
	*(int64_t *)user = j->key;
	return false;
}

static void test_kill9_during_ingest(void **state)
{
	char *dir = stn_test_tmpdir();
	char *hist = stn_test_path(dir, "h.sqlite");
	char bind[300];
	unsigned char *acked = calloc(MAX_WINDOWS, 1);
	uint64_t n_acked = 0, next = 1, killed_after = 0;
	stn_errbuf eb = {{0}};
	stn_client *c = NULL;
	pid_t pid;
	int status;

	(void)state;
	assert_non_null(stn_test_cli());
	snprintf(bind, sizeof(bind), "ipc://%s/serve.sock", dir);
	pid = spawn_serve(bind, hist, "normal");
	assert_int_equal(stn__client_connect(bind, &c, &eb), STN_OK);
	register_job(c);

	/* Heavy ingest, pipelined; the kill lands while windows are in flight. */
	for (uint64_t replies = 0;; replies++) {
		stn_msg m, r;

		/* Up to 32 windows in flight until the kill; afterwards only what is in the
		 * pipe is read. */
		while (killed_after == 0 && next < MAX_WINDOWS && next - 1 - replies < 32) {
			make_samples(&m, next);
			assert_int_equal(stn__client_send(c, &m, 5000, &eb), STN_OK);
			stn__msg_free(&m);
			next++;
		}
		if (stn__client_recv(c, &r, killed_after ? 500 : 10000, &eb) != STN_OK)
			break; /* after the kill: the endpoint is gone */
		if (r.type == STN_MSG_ACK && r.u.ack.of == STN_ACK_SAMPLES &&
		    r.u.ack.window < MAX_WINDOWS) {
			acked[r.u.ack.window] = 1;
			n_acked++;
		}
		stn__msg_free(&r);
		if (n_acked == 300 && killed_after == 0) {
			kill(pid, SIGKILL);
			killed_after = n_acked;
		}
	}
	waitpid(pid, &status, 0);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	assert_true(n_acked >= 300);
	stn__client_close(c);

	/* Restart on the same file: it opens (integrity checked) and keeps serving. */
	pid = spawn_serve(bind, hist, "normal");
	assert_int_equal(stn__client_connect(bind, &c, &eb), STN_OK);
	register_job(c);
	{
		stn_msg m, r;

		make_samples(&m, next + 10);
		assert_int_equal(stn__client_send(c, &m, 5000, &eb), STN_OK);
		stn__msg_free(&m);
		assert_int_equal(stn__client_recv(c, &r, 10000, &eb), STN_OK);
		assert_int_equal(r.type, STN_MSG_ACK);
		acked[next + 10] = 1;
		n_acked++;
		stn__msg_free(&r);
	}
	stn__client_close(c);
	kill(pid, SIGTERM);
	waitpid(pid, &status, 0);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);

	/* Every ACKed window is there, intact. */
	{
		stn_history_opts ro = {true, false};
		stn_history *h = NULL;
		int64_t key = -1;
		verify v = {acked, 0, 0, 0};

		if (stn__history_open(hist, &ro, &h, &eb) != STN_OK)
			fail_msg("history after crash: %s", eb.text);
		assert_int_equal(stn__history_each_job(h, first_job, &key, &eb), STN_OK);
		assert_int_equal(stn__history_each_window(h, key, check, &v, &eb), STN_OK);
		printf("acked %llu windows, found %llu (of them acked %llu), damaged %llu\n",
		       (unsigned long long)n_acked, (unsigned long long)v.found,
		       (unsigned long long)v.found_acked, (unsigned long long)v.bad);
		assert_int_equal(v.found_acked, n_acked);
		assert_int_equal(v.bad, 0);
		stn__history_close(h);
	}
	free(acked);
	stn_test_rmtree(dir);
	free(hist);
	free(dir);
}

/* Runs `streamtune serve ARGS` with stderr into err (a file); returns the exit status and the
 * number of error lines, which text must be in. */
static int serve_refused(const char *err, const char *args, const char *text, int *lines)
{
	char cmd[3000], line[1024];
	int st;

	snprintf(cmd, sizeof(cmd), "'%s' serve %s >/dev/null 2>'%s'", stn_test_cli(), args, err);
	st = system(cmd);
	assert_true(WIFEXITED(st));
	FILE *f = fopen(err, "r");
	assert_non_null(f);
	bool found = false;
	*lines = 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "streamtune serve: ", 18) == 0)
			(*lines)++;
		found = found || strstr(line, text) != NULL;
	}
	fclose(f);
	if (!found)
		fail_msg("serve %s: no '%s' in its errors", args, text);
	return WEXITSTATUS(st);
}

static void test_serve_usage_errors(void **state)
{
	char cmd[1024];
	char *dir = stn_test_tmpdir(), *err = stn_test_path(dir, "err.txt");
	char *hist = stn_test_path(dir, "h.sqlite"), args[2200];
	int lines = 0;

	(void)state;
	snprintf(cmd, sizeof(cmd), "'%s' serve --bind tcp://127.0.0.1:0 2>/dev/null", stn_test_cli());
	assert_int_equal(WEXITSTATUS(system(cmd)), 2); /* --history missing */
	snprintf(cmd, sizeof(cmd), "'%s' serve --help >/dev/null", stn_test_cli());
	assert_int_equal(WEXITSTATUS(system(cmd)), 0);

	/* One error per bad value, naming its range; an unknown option is called one. */
	static const struct {
		const char *args, *text;
	} bad[] = {
		{"--commit-us abc", "--commit-us: 'abc' is not an integer in 1..10000000"},
		{"--window-timeout-ms -3", "'-3' is not an integer in 1..3600000"},
		{"--max-msg-bytes -3", "'-3' is not an integer in 1024..16777216"},
		{"--max-msg-bytes 10", "'10' is not an integer in 1024..16777216"},
		{"--bogus", "unknown option '--bogus'"},
		{"--bogus 1", "unknown option '--bogus'"},
		{"--bind", "--bind needs a value"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(serve_refused(err, bad[i].args, bad[i].text, &lines), 2);
		assert_int_equal(lines, 1);
	}

	/* A failed start (an address that cannot be bound, a missing model) leaves no history. */
	snprintf(args, sizeof(args), "--bind bogus://x --history '%s'", hist);
	assert_int_equal(serve_refused(err, args, "cannot bind bogus://x", &lines), 1);
	assert_int_not_equal(access(hist, F_OK), 0);
	snprintf(args, sizeof(args),
		 "--bind tcp://127.0.0.1:0 --history '%s' --model '%s/none.stnm'", hist, dir);
	assert_int_equal(serve_refused(err, args, "none.stnm: No such file", &lines), 1);
	assert_int_not_equal(access(hist, F_OK), 0);

	stn_test_rmtree(dir);
	free(hist);
	free(err);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kill9_during_ingest),
		cmocka_unit_test(test_serve_usage_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
