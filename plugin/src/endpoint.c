#include "endpoint.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "alloc.h"
#include "dag.h"
#include "history.h"
#include "label.h"
#include "model.h"
#include "policy.h"
#include "proto.h"
#include "window.h"

#define IDENTITY_CAP 256        /* ZeroMQ routing ids are at most 255 bytes */
#define MAX_OPEN_WINDOWS 4      /* per job; an older open window is closed incomplete */
/* Per job: decisions whose ACK can still make their parallelism current. A client may
 * acknowledge a decision only after later ones were sent (it holds once the records routed
 * before it are served, which under a backlog takes longer than the policy waits). */
#define UNACKED_DECISIONS 8
#define MAX_SENDERS 1024u       /* SAMPLES parts per window */
#define DRAIN_BATCH 512         /* messages handled between two commit checks */
#define ZMQ_HARD_LIMIT_FACTOR 4 /* zmq drops (and disconnects) above factor x the limit */

typedef struct peer_id {
	unsigned char bytes[IDENTITY_CAP];
	size_t len;
} peer_id;

/* A reply held back until the commit that makes its promise true; owns msg. */
typedef struct pending_reply {
	peer_id to;
	stn_msg msg;
} pending_reply;

typedef struct open_window {
	bool used;
	stn_window w;
	uint64_t opened_ms;
	uint32_t parts;                          /* senders heard from */
	uint8_t seen[MAX_SENDERS / 8];           /* bitset of senders */
	peer_id *waiters;                        /* parts that asked for an ACK */
	size_t n_waiters, cap_waiters;
} open_window;

typedef struct job {
	char id[STN_PROTO_MAX_JOB_ID + 1];
	int64_t key;                /* history row */
	stn_dag dag;
	char policy[STN_PROTO_MAX_OPT_KEY];
	uint32_t senders;
	uint32_t window_ms;
	peer_id controller;         /* who registered: receives DECISIONs */
	uint64_t last_closed;       /* index of the newest closed window */
	uint64_t windows, decisions;
	const stn_policy_vtable *pv;
	stn_policy *pol;
	/* The last UNACKED_DECISIONS decisions: parallelism (n_ops each) and seq per slot
	 * seq % UNACKED_DECISIONS (0: none); current once acknowledged. */
	uint32_t *decided_p;
	uint64_t decided_seq[UNACKED_DECISIONS];
	uint64_t applied;           /* the newest decision acknowledged */
	stn_labeller lab;
	open_window open[MAX_OPEN_WINDOWS];
} job;

struct stn_endpoint {
	stn_endpoint_config cfg;
	char address[512];
	char pipe_addr[64];
	stn_logger lg;
	void *zctx;
	void *router;   /* owned by the thread once it runs */
	void *pipe_main, *pipe_thread;
	pthread_t thread;
	bool thread_started;
	/* The file of an ipc:// address this endpoint bound, removed when it closes (ZeroMQ
	 * leaves it), unless another socket has taken the path since: told by device and
	 * inode. */
	char ipc_path[512];
	dev_t ipc_dev;
	ino_t ipc_ino;
	stn_history *hist;
	stn_model model;        /* shared by the jobs' policies */
	bool have_model;
	stn_proto_limits limits;
	uint64_t started_ms;

	job **jobs;
	size_t n_jobs;

	pending_reply *pending;
	size_t n_pending, cap_pending;
	uint64_t txn_opened_us;

	unsigned char *scratch; /* receive buffer of the current message */

	_Atomic uint64_t st_messages, st_errors, st_jobs, st_windows, st_rows, st_decisions,
		st_commits;
};

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- sending ---------------------------------------------------------------------------- */

static void send_msg(stn_endpoint *ep, const peer_id *to, const stn_msg *m)
{
	stn_errbuf eb = {{0}};
	void *buf = NULL;
	size_t len = 0;

	if (stn__proto_encode(m, &buf, &len, &eb) != STN_OK) {
		STN_LOGE(&ep->lg, "cannot encode %s reply: %s", stn__msg_type_name(m->type),
			 eb.text);
		return;
	}
	/* Never block the I/O thread on a slow client: a full queue drops the reply. */
	if (zmq_send(ep->router, to->bytes, to->len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
	    zmq_send(ep->router, buf, len, ZMQ_DONTWAIT) < 0)
		STN_LOGD(&ep->lg, "reply %s not delivered: %s", stn__msg_type_name(m->type),
			 zmq_strerror(errno));
	stn__free(buf);
}

/* An ERROR reply as such; send_error for one that reports a fault. */
static void send_error_reply(stn_endpoint *ep, const peer_id *to, stn_status code, uint64_t id,
			     const char *jobid, const char *text)
{
	stn_msg m;

	memset(&m, 0, sizeof(m));
	m.type = STN_MSG_ERROR;
	m.version = STN_PROTO_VERSION;
	m.u.error.code = (uint32_t)code;
	snprintf(m.u.error.name, sizeof(m.u.error.name), "%s", stn__status_name(code));
	snprintf(m.u.error.message, sizeof(m.u.error.message), "%s", text);
	m.u.error.id = id;
	if (jobid != NULL)
		snprintf(m.u.error.job, sizeof(m.u.error.job), "%s", jobid);
	send_msg(ep, to, &m);
}

/* An ERROR reply to a bad or refused request: counted and logged. */
static void send_error(stn_endpoint *ep, const peer_id *to, stn_status code, uint64_t id,
		       const char *jobid, const char *text)
{
	atomic_fetch_add(&ep->st_errors, 1);
	STN_LOGW(&ep->lg, "error %s to client%s%s: %s", stn__status_name(code),
		 jobid != NULL && jobid[0] ? " of job " : "", jobid != NULL ? jobid : "", text);
	send_error_reply(ep, to, code, id, jobid, text);
}

static stn_status queue_reply(stn_endpoint *ep, const peer_id *to, const stn_msg *m)
{
	if (ep->n_pending == ep->cap_pending) {
		size_t ncap = ep->cap_pending ? ep->cap_pending * 2 : 64;
		pending_reply *np = stn__realloc_array(ep->pending, ncap, sizeof(*np));

		if (np == NULL)
			return STN_ENOMEM;
		ep->pending = np;
		ep->cap_pending = ncap;
	}
	ep->pending[ep->n_pending].to = *to;
	ep->pending[ep->n_pending].msg = *m; /* ownership of m's arrays moves here */
	ep->n_pending++;
	return STN_OK;
}

/* ---- group commit ----------------------------------------------------------------------- */

static stn_status ensure_txn(stn_endpoint *ep, stn_errbuf *eb)
{
	stn_status rv;

	if (stn__history_in_txn(ep->hist))
		return STN_OK;
	rv = stn__history_begin(ep->hist, eb);
	if (rv == STN_OK)
		ep->txn_opened_us = now_us();
	return rv;
}

/* Commits the open transaction, then releases the replies that waited for it. If the commit
 * fails nothing was promised: the waiting clients get an ERROR instead of an ACK. */
static void commit(stn_endpoint *ep)
{
	stn_errbuf eb = {{0}};
	stn_status rv = STN_OK;

	if (stn__history_in_txn(ep->hist)) {
		rv = stn__history_commit(ep->hist, &eb);
		if (rv != STN_OK) {
			STN_LOGE(&ep->lg, "history commit failed: %s", eb.text);
			stn__history_rollback(ep->hist);
		} else {
			atomic_fetch_add(&ep->st_commits, 1);
		}
	}
	for (size_t i = 0; i < ep->n_pending; i++) {
		pending_reply *p = &ep->pending[i];

		if (rv == STN_OK)
			send_msg(ep, &p->to, &p->msg);
		else if (p->msg.type == STN_MSG_ACK)
			send_error(ep, &p->to, rv, p->msg.u.ack.id, p->msg.u.ack.job,
				   "history commit failed; data not stored");
		stn__msg_free(&p->msg);
	}
	ep->n_pending = 0;
}

/* ---- jobs and windows ------------------------------------------------------------------- */

static job *find_job(stn_endpoint *ep, const char *id)
{
	for (size_t i = 0; i < ep->n_jobs; i++)
		if (strcmp(ep->jobs[i]->id, id) == 0)
			return ep->jobs[i];
	return NULL;
}

static void job_free(job *j)
{
	if (j == NULL)
		return;
	for (int i = 0; i < MAX_OPEN_WINDOWS; i++) {
		stn__window_fini(&j->open[i].w);
		stn__free(j->open[i].waiters);
	}
	if (j->pol != NULL)
		j->pv->destroy(j->pol);
	stn__free(j->decided_p);
	stn__label_fini(&j->lab);
	stn__dag_fini(&j->dag);
	stn__free(j);
}

/* Sets the window's bottleneck labels; a window the labeller cannot read stays unlabelled.
 * Targets come from the source rates through the selectivities the window observed (out / in,
 * the registered one where nothing came in), as DS2 propagates them: the registered
 * selectivities are hints at best, and an engine may register a reduction (a pre-aggregation)
 * without one, which would leave every operator behind it short of its target for good. */
static void label_window(stn_endpoint *ep, job *j, stn_window *w)
{
	stn_errbuf eb = {{0}};
	size_t n = j->dag.n_ops;
	double *sel = stn__malloc_array(n, sizeof(double));
	double *target = stn__malloc_array(n, sizeof(double));
	stn_status rv = w->n_ops != n ? STN_EINVAL : STN_ENOMEM;

	if (sel != NULL && target != NULL && w->n_ops == n) {
		for (size_t v = 0; v < n; v++)
			sel[v] = stn__window_selectivity(&w->ops[v], j->dag.ops[v].selectivity);
		rv = stn__dag_propagate_observed(&j->dag, sel, target);
	}
	if (rv == STN_OK)
		rv = stn__label_window(&j->lab, &j->dag, target, w, &eb);
	else
		snprintf(eb.text, sizeof(eb.text), "no targets: %s", stn__strerror(rv));
	if (rv != STN_OK)
		STN_LOGW(&ep->lg, "job %s: window %llu not labelled: %s", j->id,
			 (unsigned long long)w->index, eb.text);
	stn__free(sel);
	stn__free(target);
}

/* Runs the job's policy on a stored window; a decision is stored in the same transaction and
 * sent to the job's controller after the commit. */
static void run_policy(stn_endpoint *ep, job *j, const stn_window *w)
{
	stn_errbuf eb = {{0}};
	stn_decision d;
	bool decided = false;
	stn_history_decision hd;
	stn_msg m;
	stn_status rv;

	if (j->pol == NULL || stn__decision_init(&d, j->dag.n_ops) != STN_OK)
		return;
	rv = j->pv->on_window(j->pol, w, &d, &decided, &eb);
	if (rv != STN_OK) {
		STN_LOGW(&ep->lg, "job %s: policy %s failed on window %llu: %s", j->id, j->pv->name,
			 (unsigned long long)w->index, eb.text);
		goto out;
	}
	if (!decided)
		goto out;
	memset(&m, 0, sizeof(m));
	m.type = STN_MSG_DECISION;
	m.version = STN_PROTO_VERSION;
	if (stn__decision_alloc(&m.u.decision, j->dag.n_ops) != STN_OK)
		goto out;
	snprintf(m.u.decision.job, sizeof(m.u.decision.job), "%s", j->id);
	m.u.decision.seq = j->decisions + 1;
	size_t slot = (size_t)(m.u.decision.seq % UNACKED_DECISIONS);
	/* The earliest epoch the decision may hold from: the next one after what the job has
	 * completed. The client applies it there or later and says where in its ACK. */
	m.u.decision.epoch = w->epoch + 1;
	for (size_t i = 0; i < j->dag.n_ops; i++) {
		m.u.decision.op[i] = j->dag.ops[i].id;
		m.u.decision.p[i] = d.parallelism[i];
		m.u.decision.prob[i] = d.prob[i];
		j->decided_p[slot * j->dag.n_ops + i] = d.parallelism[i];
	}
	j->decided_seq[slot] = m.u.decision.seq;
	snprintf(m.u.decision.reason, sizeof(m.u.decision.reason), "%s", d.reason);
	snprintf(m.u.decision.policy, sizeof(m.u.decision.policy), "%s", j->pv->name);
	hd.seq = m.u.decision.seq;
	hd.epoch = m.u.decision.epoch;
	hd.window = w->index;
	hd.n_ops = j->dag.n_ops;
	hd.op = m.u.decision.op;
	hd.p = m.u.decision.p;
	hd.prob = m.u.decision.prob;
	hd.reason = m.u.decision.reason;
	hd.policy = m.u.decision.policy;
	rv = stn__history_put_decision(ep->hist, j->key, &hd, &eb);
	if (rv == STN_OK)
		rv = queue_reply(ep, &j->controller, &m);
	if (rv != STN_OK) {
		STN_LOGE(&ep->lg, "job %s: decision %llu not sent: %s", j->id,
			 (unsigned long long)hd.seq, eb.text);
		stn__msg_free(&m);
		goto out;
	}
	j->decisions++;
	atomic_fetch_add(&ep->st_decisions, 1);
	STN_LOGI(&ep->lg, "job %s: decision %llu: %s", j->id, (unsigned long long)hd.seq, d.reason);
out:
	stn__decision_fini(&d);
}

/* Stores a window whose parts are all in (or whose time ran out) and frees its slot. */
static stn_status close_window(stn_endpoint *ep, job *j, open_window *ow, stn_errbuf *eb)
{
	stn_status rv;

	stn__window_finish(&ow->w);
	if (ow->parts < j->senders)
		STN_LOGW(&ep->lg, "job %s: window %llu closed with %u of %u parts", j->id,
			 (unsigned long long)ow->w.index, ow->parts, j->senders);
	label_window(ep, j, &ow->w);
	rv = ensure_txn(ep, eb);
	if (rv == STN_OK)
		rv = stn__history_put_window(ep->hist, j->key, &ow->w, eb);
	if (rv == STN_OK)
		run_policy(ep, j, &ow->w);
	if (rv == STN_OK) {
		if (ow->w.index > j->last_closed || j->windows == 0)
			j->last_closed = ow->w.index;
		j->windows++;
		atomic_fetch_add(&ep->st_windows, 1);
	}
	/* The parts' ACKs promise the whole window is durable: they leave after the commit. */
	for (size_t i = 0; i < ow->n_waiters; i++) {
		stn_msg ack;

		memset(&ack, 0, sizeof(ack));
		ack.type = STN_MSG_ACK;
		ack.version = STN_PROTO_VERSION;
		ack.u.ack.of = STN_ACK_SAMPLES;
		snprintf(ack.u.ack.job, sizeof(ack.u.ack.job), "%s", j->id);
		ack.u.ack.window = ow->w.index;
		if (rv != STN_OK)
			send_error(ep, &ow->waiters[i], rv, 0, j->id, eb->text);
		else if (queue_reply(ep, &ow->waiters[i], &ack) != STN_OK)
			send_error(ep, &ow->waiters[i], STN_ENOMEM, 0, j->id, "out of memory");
	}
	ow->n_waiters = 0;
	stn__window_fini(&ow->w);
	ow->used = false;
	return rv;
}

static void close_stale_windows(stn_endpoint *ep, uint64_t now_ms)
{
	for (size_t i = 0; i < ep->n_jobs; i++) {
		job *j = ep->jobs[i];

		for (int k = 0; k < MAX_OPEN_WINDOWS; k++) {
			open_window *ow = &j->open[k];
			stn_errbuf eb = {{0}};

			if (!ow->used || now_ms - ow->opened_ms < ep->cfg.window_timeout_ms)
				continue;
			if (close_window(ep, j, ow, &eb) != STN_OK)
				STN_LOGE(&ep->lg, "job %s: cannot store window: %s", j->id, eb.text);
		}
	}
}

/* ---- message handlers ------------------------------------------------------------------- */

static void on_hello(stn_endpoint *ep, const peer_id *from, const stn_msg_hello *h)
{
	stn_msg m;
	bool ok = false;

	for (size_t i = 0; i < h->n_versions; i++)
		ok = ok || h->versions[i] == STN_PROTO_VERSION;
	if (!ok) {
		send_error(ep, from, STN_EVERSION, 0, NULL,
			   "no common protocol version; this endpoint speaks version 1");
		return;
	}
	memset(&m, 0, sizeof(m));
	m.type = STN_MSG_WELCOME;
	m.version = STN_PROTO_VERSION;
	m.u.welcome.version = STN_PROTO_VERSION;
	snprintf(m.u.welcome.server, sizeof(m.u.welcome.server), "streamtune/%s",
		 STN_VERSION_STRING);
	m.u.welcome.max_msg_bytes = ep->limits.max_msg_bytes;
	m.u.welcome.max_ops = ep->limits.max_ops;
	m.u.welcome.max_edges = ep->limits.max_edges;
	m.u.welcome.max_rows = ep->limits.max_rows;
	m.u.welcome.window_ms = 1000;
	STN_LOGI(&ep->lg, "client '%s' connected", h->client);
	send_msg(ep, from, &m);
}

/* Policy options as a JSON object, for the history. */
static void opts_json(const stn_msg_register *r, char *out, size_t cap)
{
	size_t n = 0;

	n += (size_t)snprintf(out + n, cap - n, "{");
	for (size_t i = 0; i < r->n_opts && n < cap; i++)
		n += (size_t)snprintf(out + n, cap - n, "%s\"%s\":%.17g", i ? "," : "",
				      r->opts[i].key, r->opts[i].value);
	if (n < cap)
		snprintf(out + n, cap - n, "}");
}

static void ack_register(stn_endpoint *ep, const peer_id *from, const job *j, uint64_t id)
{
	stn_msg ack;

	memset(&ack, 0, sizeof(ack));
	ack.type = STN_MSG_ACK;
	ack.version = STN_PROTO_VERSION;
	ack.u.ack.of = STN_ACK_REGISTER;
	snprintf(ack.u.ack.job, sizeof(ack.u.ack.job), "%s", j->id);
	ack.u.ack.id = id;
	ack.u.ack.hash = stn__dag_hash(&j->dag);
	if (queue_reply(ep, from, &ack) != STN_OK)
		send_error(ep, from, STN_ENOMEM, id, j->id, "out of memory");
}

/* A REGISTER of a known job with the same structure, policy and senders only changes its
 * source rates (a new target load): the policy keeps what it learned and is told. */
static bool update_rates(stn_endpoint *ep, const peer_id *from, job *j,
			 const stn_msg_register *r, const stn_policy_vtable *pv)
{
	stn_errbuf eb = {{0}};
	stn_status rv;

	if (pv != j->pv || r->senders != j->senders || r->dag.n_ops != j->dag.n_ops ||
	    stn__dag_hash(&r->dag) != stn__dag_hash(&j->dag))
		return false;
	for (size_t i = 0; i < j->dag.n_ops; i++)
		j->dag.ops[i].source_rate = r->dag.ops[i].source_rate;
	rv = pv->on_rates != NULL ? pv->on_rates(j->pol, &j->dag, &eb) : STN_OK;
	if (rv != STN_OK) {
		send_error(ep, from, rv, r->id, r->job, eb.text[0] ? eb.text : "rate update failed");
		return true;
	}
	j->controller = *from;
	STN_LOGI(&ep->lg, "job %s: new source rates", j->id);
	ack_register(ep, from, j, r->id);
	return true;
}

static void on_register(stn_endpoint *ep, const peer_id *from, stn_msg_register *r)
{
	stn_errbuf eb = {{0}};
	char opts[STN_PROTO_MAX_OPTIONS * (STN_PROTO_MAX_OPT_KEY + 32) + 8];
	const char *policy = r->policy[0] ? r->policy : "streamtune";
	job *j = find_job(ep, r->job);
	bool fresh = j == NULL;
	int64_t key = 0;
	stn_status rv;
	const stn_policy_vtable *pv = stn__policy_find(policy);
	stn_policy_option popts[STN_PROTO_MAX_OPTIONS];
	stn_policy *pol = NULL;
	uint32_t *decided_p = NULL;
	stn_labeller lab;

	if (pv == NULL) {
		send_error(ep, from, STN_EPOLICY, r->id, r->job, "unknown policy");
		return;
	}
	if (!fresh && update_rates(ep, from, j, r, pv))
		return;
	for (size_t i = 0; i < r->n_opts; i++) {
		popts[i].key = r->opts[i].key;
		popts[i].value = r->opts[i].value;
	}
	if (r->senders == 0 || r->senders > MAX_SENDERS) {
		send_error(ep, from, STN_ETOOBIG, r->id, r->job, "senders must be 1..1024");
		return;
	}
	if (fresh && ep->n_jobs >= ep->cfg.max_jobs) {
		send_error(ep, from, STN_ETOOBIG, r->id, r->job, "endpoint serves too many jobs");
		return;
	}
	rv = pv->create(&r->dag, popts, r->n_opts, ep->have_model ? &ep->model : NULL, &pol, &eb);
	if (rv != STN_OK) {
		send_error(ep, from, STN_EPOLICY, r->id, r->job, eb.text);
		return;
	}
	memset(&lab, 0, sizeof(lab));
	decided_p = stn__calloc(r->dag.n_ops, UNACKED_DECISIONS * sizeof(uint32_t));
	if (decided_p == NULL) {
		send_error(ep, from, STN_ENOMEM, r->id, r->job, "out of memory");
		goto out_free_policy;
	}
	rv = stn__label_init(&lab, &r->dag, NULL, &eb);
	if (rv != STN_OK) {
		send_error(ep, from, rv, r->id, r->job, eb.text);
		goto out_free_policy;
	}
	opts_json(r, opts, sizeof(opts));
	rv = ensure_txn(ep, &eb);
	if (rv == STN_OK)
		rv = stn__history_put_job(ep->hist, r->job, &r->dag, policy, opts, &key, &eb);
	if (rv != STN_OK) {
		send_error(ep, from, rv, r->id, r->job, eb.text);
		goto out_free_policy;
	}
	if (fresh) {
		job **nj = stn__realloc_array(ep->jobs, ep->n_jobs + 1, sizeof(job *));

		if (nj == NULL) {
			send_error(ep, from, STN_ENOMEM, r->id, r->job, "out of memory");
			goto out_free_policy;
		}
		ep->jobs = nj;
		j = stn__calloc(1, sizeof(job));
		if (j == NULL) {
			send_error(ep, from, STN_ENOMEM, r->id, r->job, "out of memory");
			goto out_free_policy;
		}
		ep->jobs[ep->n_jobs++] = j;
		snprintf(j->id, sizeof(j->id), "%s", r->job);
		atomic_fetch_add(&ep->st_jobs, 1);
	} else {
		/* Re-registration: a new DAG version. Open windows belong to the old one. */
		for (int k = 0; k < MAX_OPEN_WINDOWS; k++)
			if (j->open[k].used && close_window(ep, j, &j->open[k], &eb) != STN_OK)
				STN_LOGE(&ep->lg, "job %s: %s", j->id, eb.text);
		stn__dag_fini(&j->dag);
		if (j->pol != NULL)
			j->pv->destroy(j->pol);
		stn__free(j->decided_p);
		stn__label_fini(&j->lab);
	}
	j->pv = pv;
	j->pol = pol;
	j->decided_p = decided_p;
	memset(j->decided_seq, 0, sizeof(j->decided_seq)); /* none of this DAG version yet */
	j->lab = lab;
	j->dag = r->dag; /* ownership moves from the message */
	stn__dag_init(&r->dag);
	j->key = key;
	snprintf(j->policy, sizeof(j->policy), "%s", policy);
	j->senders = r->senders;
	j->window_ms = r->window_ms;
	j->controller = *from;
	STN_LOGI(&ep->lg, "job %s %s: %zu operators, %zu edges, policy %s, %u senders", j->id,
		 fresh ? "registered" : "re-registered", j->dag.n_ops, j->dag.n_edges, j->policy,
		 j->senders);
	if (pv->caveat != NULL && pv->caveat(j->pol) != NULL)
		STN_LOGW(&ep->lg, "job %s: %s", j->id, pv->caveat(j->pol));

	ack_register(ep, from, j, r->id);
	return;

out_free_policy:
	if (pol != NULL)
		pv->destroy(pol);
	stn__free(decided_p);
	stn__label_fini(&lab);
}

static open_window *window_slot(stn_endpoint *ep, job *j, uint64_t index, stn_errbuf *eb,
				stn_status *rv)
{
	open_window *oldest = NULL, *free_slot = NULL;

	*rv = STN_OK;
	for (int k = 0; k < MAX_OPEN_WINDOWS; k++) {
		open_window *ow = &j->open[k];

		if (ow->used && ow->w.index == index)
			return ow;
		if (!ow->used && free_slot == NULL)
			free_slot = ow;
		if (ow->used && (oldest == NULL || ow->w.index < oldest->w.index))
			oldest = ow;
	}
	if (free_slot == NULL) {
		/* Too many windows in flight: the oldest will not complete any more. */
		stn_errbuf ceb = {{0}};

		if (close_window(ep, j, oldest, &ceb) != STN_OK)
			STN_LOGE(&ep->lg, "job %s: %s", j->id, ceb.text);
		free_slot = oldest;
	}
	*rv = stn__window_init(&free_slot->w, &j->dag, index);
	if (*rv != STN_OK) {
		stn__fail(eb, *rv, "out of memory opening window");
		return NULL;
	}
	free_slot->used = true;
	free_slot->parts = 0;
	memset(free_slot->seen, 0, sizeof(free_slot->seen));
	free_slot->opened_ms = now_us() / 1000u;
	return free_slot;
}

static void on_samples(stn_endpoint *ep, const peer_id *from, const stn_msg_samples *s)
{
	stn_errbuf eb = {{0}};
	job *j = find_job(ep, s->job);
	open_window *ow;
	stn_status rv;

	if (j == NULL) {
		send_error(ep, from, STN_EJOB, 0, s->job, "unknown job: send REGISTER first");
		return;
	}
	if (j->windows > 0 && s->window <= j->last_closed) {
		char text[160];

		snprintf(text, sizeof(text), "window %llu is already closed (latest %llu)",
			 (unsigned long long)s->window, (unsigned long long)j->last_closed);
		send_error(ep, from, STN_EORDER, 0, s->job, text);
		return;
	}
	if (s->sender >= j->senders) {
		send_error(ep, from, STN_EINVAL, 0, s->job, "sender index beyond the registered senders");
		return;
	}
	ow = window_slot(ep, j, s->window, &eb, &rv);
	if (ow == NULL) {
		send_error(ep, from, rv, 0, s->job, eb.text);
		return;
	}
	if (ow->seen[s->sender / 8] & (1u << (s->sender % 8))) {
		send_error(ep, from, STN_EORDER, 0, s->job, "repeated part of a window from one sender");
		return;
	}
	rv = stn__window_add_rows(&ow->w, &j->dag, s->duration_ms, s->n_rows, s->op, s->inst,
				  s->busy_ms, s->recs_in, s->recs_out, s->backlog, s->bp_ms, &eb);
	if (rv != STN_OK) {
		send_error(ep, from, rv, 0, s->job, eb.text);
		return;
	}
	ow->seen[s->sender / 8] |= (uint8_t)(1u << (s->sender % 8));
	ow->parts++;
	if (s->epoch > ow->w.epoch)
		ow->w.epoch = s->epoch;
	if (s->lag_ms >= 0.0 && s->lag_ms > ow->w.lag_ms)
		ow->w.lag_ms = s->lag_ms;
	atomic_fetch_add(&ep->st_rows, s->n_rows);

	if (s->want_ack) {
		if (ow->n_waiters == ow->cap_waiters) {
			size_t ncap = ow->cap_waiters ? ow->cap_waiters * 2 : 4;
			peer_id *nw = stn__realloc_array(ow->waiters, ncap, sizeof(peer_id));

			if (nw == NULL) {
				send_error(ep, from, STN_ENOMEM, 0, s->job, "out of memory");
				return;
			}
			ow->waiters = nw;
			ow->cap_waiters = ncap;
		}
		ow->waiters[ow->n_waiters++] = *from;
	}
	if (ow->parts == j->senders && close_window(ep, j, ow, &eb) != STN_OK && !s->want_ack)
		send_error(ep, from, STN_EDB, 0, s->job, eb.text);
}

static void on_ack(stn_endpoint *ep, const peer_id *from, const stn_msg_ack *a)
{
	stn_errbuf eb = {{0}};
	job *j = find_job(ep, a->job);
	stn_status rv;

	if (a->of != STN_ACK_DECISION) {
		send_error(ep, from, STN_EINVAL, a->id, a->job,
			   "clients acknowledge decisions only");
		return;
	}
	if (j == NULL) {
		send_error(ep, from, STN_EJOB, a->id, a->job, "unknown job");
		return;
	}
	rv = ensure_txn(ep, &eb);
	if (rv == STN_OK)
		rv = stn__history_ack_decision(ep->hist, j->key, a->seq, a->epoch, &eb);
	if (rv != STN_OK) {
		send_error(ep, from, rv, a->id, a->job, eb.text);
		return;
	}
	/* The job runs at the decided parallelism from now on: windows record it. (Not an
	 * older one's acknowledged late: the newer one holds already.) */
	size_t slot = (size_t)(a->seq % UNACKED_DECISIONS);
	if (a->seq > j->applied && j->decided_seq[slot] == a->seq) {
		for (size_t i = 0; i < j->dag.n_ops; i++)
			j->dag.ops[i].parallelism = j->decided_p[slot * j->dag.n_ops + i];
		j->applied = a->seq;
	}
}

static void on_query(stn_endpoint *ep, const peer_id *from, const stn_msg_query *q)
{
	stn_msg m;

	memset(&m, 0, sizeof(m));
	m.type = STN_MSG_STATUS;
	m.version = STN_PROTO_VERSION;
	m.u.status.id = q->id;
	m.u.status.jobs = ep->n_jobs;
	m.u.status.uptime_ms = now_us() / 1000u - ep->started_ms;
	if (q->job[0] != '\0') {
		job *j = find_job(ep, q->job);

		if (j == NULL) {
			/* The answer, not a fault: a job's other workers ask until its first one
			 * has registered it. */
			STN_LOGD(&ep->lg, "QUERY for job %s: not registered", q->job);
			send_error_reply(ep, from, STN_EJOB, q->id, q->job, "unknown job");
			return;
		}
		snprintf(m.u.status.job, sizeof(m.u.status.job), "%s", j->id);
		snprintf(m.u.status.policy, sizeof(m.u.status.policy), "%s", j->policy);
		m.u.status.windows = j->windows;
		m.u.status.decisions = j->decisions;
		m.u.status.last_window = j->last_closed;
	} else {
		m.u.status.windows = atomic_load(&ep->st_windows);
		m.u.status.decisions = atomic_load(&ep->st_decisions);
	}
	send_msg(ep, from, &m);
}

static void handle(stn_endpoint *ep, const peer_id *from, const void *data, size_t len)
{
	stn_errbuf eb = {{0}};
	stn_msg m;
	stn_status rv;

	atomic_fetch_add(&ep->st_messages, 1);
	rv = stn__proto_decode(data, len, &ep->limits, &m, &eb);
	if (rv != STN_OK) {
		send_error(ep, from, rv, 0, NULL, eb.text);
		return;
	}
	switch (m.type) {
	case STN_MSG_HELLO:
		on_hello(ep, from, &m.u.hello);
		break;
	case STN_MSG_REGISTER:
		on_register(ep, from, &m.u.reg);
		break;
	case STN_MSG_SAMPLES:
		on_samples(ep, from, &m.u.samples);
		break;
	case STN_MSG_ACK:
		on_ack(ep, from, &m.u.ack);
		break;
	case STN_MSG_QUERY:
		on_query(ep, from, &m.u.query);
		break;
	case STN_MSG_ERROR:
		STN_LOGW(&ep->lg, "client reports error %s: %s", m.u.error.name, m.u.error.message);
		break;
	default:
		send_error(ep, from, STN_ETYPE, 0, NULL,
			   "message type is sent by the endpoint, not to it");
		break;
	}
	stn__msg_free(&m);
}

/* ---- the I/O thread ---------------------------------------------------------------------- */

/* Reads one routed message: identity frame, optional empty delimiter (REQ clients), payload.
 * Returns 1 if a message was handled, 0 if none was waiting, -1 on a socket error. */
static int receive_one(stn_endpoint *ep)
{
	peer_id from;
	int more = 0;
	size_t more_len = sizeof(more);
	size_t frames = 0, payloads = 0, payload_len = 0;
	bool oversize = false;
	int n;

	n = zmq_recv(ep->router, from.bytes, sizeof(from.bytes), ZMQ_DONTWAIT);
	if (n < 0)
		return (errno == EAGAIN || errno == EINTR) ? 0 : -1;
	from.len = (size_t)n > sizeof(from.bytes) ? sizeof(from.bytes) : (size_t)n;
	zmq_getsockopt(ep->router, ZMQ_RCVMORE, &more, &more_len);
	while (more) {
		zmq_msg_t part;
		size_t sz;

		zmq_msg_init(&part);
		if (zmq_msg_recv(&part, ep->router, 0) < 0) {
			zmq_msg_close(&part);
			return -1;
		}
		sz = zmq_msg_size(&part);
		if (!(frames == 0 && sz == 0)) { /* a leading empty frame is a REQ delimiter */
			payloads++;
			if (payloads == 1 && sz > ep->limits.max_msg_bytes)
				oversize = true;
			else if (payloads == 1)
				memcpy(ep->scratch, zmq_msg_data(&part), sz);
			if (payloads == 1)
				payload_len = sz;
		}
		frames++;
		zmq_msg_close(&part);
		zmq_getsockopt(ep->router, ZMQ_RCVMORE, &more, &more_len);
	}
	if (payloads > 1 || oversize || payload_len == 0)
		atomic_fetch_add(&ep->st_messages, 1);
	if (payloads > 1)
		send_error(ep, &from, STN_EPROTO, 0, NULL,
			   "a message is one frame (after an optional empty delimiter)");
	else if (oversize)
		send_error(ep, &from, STN_ETOOBIG, 0, NULL,
			   "message larger than max_msg_bytes announced in WELCOME");
	else if (payload_len == 0)
		send_error(ep, &from, STN_EPROTO, 0, NULL, "empty message");
	else
		handle(ep, &from, ep->scratch, payload_len);
	return 1;
}

static void *thread_main(void *arg)
{
	stn_endpoint *ep = arg;
	bool running = true;

	while (running) {
		zmq_pollitem_t items[2] = {
			{ep->router, 0, ZMQ_POLLIN, 0},
			{ep->pipe_thread, 0, ZMQ_POLLIN, 0},
		};
		long timeout_ms = 100;
		int handled = 0;

		if (stn__history_in_txn(ep->hist) || ep->n_pending > 0)
			timeout_ms = 0;
		if (zmq_poll(items, 2, timeout_ms) < 0 && errno != EINTR) {
			STN_LOGE(&ep->lg, "poll failed: %s", zmq_strerror(errno));
			break;
		}
		if (items[1].revents & ZMQ_POLLIN) {
			char cmd[16] = {0};

			if (zmq_recv(ep->pipe_thread, cmd, sizeof(cmd) - 1, ZMQ_DONTWAIT) >= 0 &&
			    strcmp(cmd, "$TERM") == 0)
				running = false;
		}
		/* Drain what is waiting, then commit if the socket ran dry or the batch is old:
		 * group commit with a latency bound. */
		while (handled < DRAIN_BATCH) {
			int r = receive_one(ep);

			if (r <= 0)
				break;
			handled++;
		}
		if (handled < DRAIN_BATCH ||
		    now_us() - ep->txn_opened_us >= ep->cfg.commit_interval_us)
			commit(ep);
		close_stale_windows(ep, now_us() / 1000u);
	}
	/* Stop: store what is complete enough, and answer everyone who waits. */
	for (size_t i = 0; i < ep->n_jobs; i++)
		for (int k = 0; k < MAX_OPEN_WINDOWS; k++)
			if (ep->jobs[i]->open[k].used) {
				stn_errbuf eb = {{0}};

				if (close_window(ep, ep->jobs[i], &ep->jobs[i]->open[k], &eb) !=
				    STN_OK)
					STN_LOGE(&ep->lg, "%s", eb.text);
			}
	commit(ep);
	return NULL;
}

/* ---- lifecycle --------------------------------------------------------------------------- */

static void endpoint_free(stn_endpoint *ep)
{
	if (ep->router != NULL)
		zmq_close(ep->router);
	if (ep->pipe_main != NULL)
		zmq_close(ep->pipe_main);
	if (ep->pipe_thread != NULL)
		zmq_close(ep->pipe_thread);
	if (ep->zctx != NULL)
		zmq_ctx_term(ep->zctx); /* returns once every socket is closed */
	if (ep->ipc_path[0] != '\0') {
		struct stat sb;

		if (stat(ep->ipc_path, &sb) == 0 && S_ISSOCK(sb.st_mode) &&
		    sb.st_dev == ep->ipc_dev && sb.st_ino == ep->ipc_ino)
			unlink(ep->ipc_path);
	}
	stn__history_close(ep->hist);
	if (ep->have_model)
		stn__model_fini(&ep->model);
	for (size_t i = 0; i < ep->n_jobs; i++)
		job_free(ep->jobs[i]);
	stn__free(ep->jobs);
	stn__free(ep->pending);
	stn__free(ep->scratch);
	stn__free(ep);
}

stn_status stn__endpoint_start(const stn_endpoint_config *cfg, stn_endpoint **out,
			       stn_errbuf *eb)
{
	stn_history_opts hopts = {false, cfg->synchronous_full};
	stn_endpoint *ep;
	size_t addr_len;
	int linger = 0, one = 1;
	int64_t hard_limit;
	stn_status rv;

	*out = NULL;
	if (cfg->bind == NULL || cfg->history_path == NULL)
		return stn__fail(eb, STN_EINVAL, "endpoint needs a bind address and a history file");
	ep = stn__calloc(1, sizeof(*ep));
	if (ep == NULL)
		return stn__fail(eb, STN_ENOMEM, "out of memory");
	ep->cfg = *cfg;
	ep->cfg.bind = NULL;
	ep->cfg.history_path = NULL;
	if (ep->cfg.max_msg_bytes == 0 || ep->cfg.max_msg_bytes > STN_PROTO_MAX_MSG_BYTES)
		ep->cfg.max_msg_bytes = STN_PROTO_MAX_MSG_BYTES;
	if (ep->cfg.commit_interval_us == 0)
		ep->cfg.commit_interval_us = 2000;
	if (ep->cfg.window_timeout_ms == 0)
		ep->cfg.window_timeout_ms = 5000;
	if (ep->cfg.max_jobs == 0)
		ep->cfg.max_jobs = 1024;
	ep->lg = cfg->logger;
	ep->limits = stn__proto_limits_default();
	ep->limits.max_msg_bytes = ep->cfg.max_msg_bytes;
	ep->started_ms = now_us() / 1000u;
	ep->scratch = stn__malloc(ep->cfg.max_msg_bytes);
	if (ep->scratch == NULL) {
		rv = stn__fail(eb, STN_ENOMEM, "out of memory");
		goto out_free;
	}

	/* The inputs first (the model, the address), the history last: a start that fails on
	 * them leaves no new history file behind. */
	if (cfg->model_path != NULL) {
		rv = stn__model_read(&ep->model, cfg->model_path, eb);
		if (rv != STN_OK)
			goto out_free;
		ep->have_model = true;
	}

	ep->zctx = zmq_ctx_new();
	if (ep->zctx == NULL) {
		rv = stn__fail(eb, STN_EZMQ, "zmq_ctx_new: %s", zmq_strerror(errno));
		goto out_free;
	}
	ep->router = zmq_socket(ep->zctx, ZMQ_ROUTER);
	if (ep->router == NULL) {
		rv = stn__fail(eb, STN_EZMQ, "zmq_socket: %s", zmq_strerror(errno));
		goto out_free;
	}
	/* Above this size ZeroMQ itself drops the message and the peer; between the announced
	 * limit and this, the client gets an ERROR. Bounds memory per message either way. */
	hard_limit = (int64_t)ep->cfg.max_msg_bytes * ZMQ_HARD_LIMIT_FACTOR;
	zmq_setsockopt(ep->router, ZMQ_MAXMSGSIZE, &hard_limit, sizeof(hard_limit));
	zmq_setsockopt(ep->router, ZMQ_LINGER, &linger, sizeof(linger));
	zmq_setsockopt(ep->router, ZMQ_ROUTER_MANDATORY, &one, sizeof(one));
	if (zmq_bind(ep->router, cfg->bind) != 0) {
		rv = stn__fail(eb, STN_EZMQ, "cannot bind %s: %s", cfg->bind, zmq_strerror(errno));
		goto out_free;
	}
	addr_len = sizeof(ep->address);
	if (zmq_getsockopt(ep->router, ZMQ_LAST_ENDPOINT, ep->address, &addr_len) != 0)
		snprintf(ep->address, sizeof(ep->address), "%s", cfg->bind);
	if (strncmp(ep->address, "ipc://", 6) == 0 && ep->address[6] != '@') {
		/* a file system path ('@': Linux's abstract namespace, no file) */
		struct stat sb;

		if (stat(ep->address + 6, &sb) == 0 &&
		    (size_t)snprintf(ep->ipc_path, sizeof(ep->ipc_path), "%s", ep->address + 6) <
			    sizeof(ep->ipc_path)) {
			ep->ipc_dev = sb.st_dev;
			ep->ipc_ino = sb.st_ino;
		} else {
			ep->ipc_path[0] = '\0';
		}
	}

	rv = stn__history_open(cfg->history_path, &hopts, &ep->hist, eb);
	if (rv != STN_OK)
		goto out_free;

	snprintf(ep->pipe_addr, sizeof(ep->pipe_addr), "inproc://stn-endpoint-%p", (void *)ep);
	ep->pipe_thread = zmq_socket(ep->zctx, ZMQ_PAIR);
	ep->pipe_main = zmq_socket(ep->zctx, ZMQ_PAIR);
	if (ep->pipe_thread == NULL || ep->pipe_main == NULL ||
	    zmq_bind(ep->pipe_thread, ep->pipe_addr) != 0 ||
	    zmq_connect(ep->pipe_main, ep->pipe_addr) != 0) {
		rv = stn__fail(eb, STN_EZMQ, "control pipe: %s", zmq_strerror(errno));
		goto out_free;
	}
	/* pthread_create is a full memory barrier: the sockets may move to the thread. */
	if (pthread_create(&ep->thread, NULL, thread_main, ep) != 0) {
		rv = stn__fail(eb, STN_ENOMEM, "cannot start the endpoint thread");
		goto out_free;
	}
	ep->thread_started = true;
	STN_LOGI(&ep->lg, "serving on %s, history %s", ep->address, cfg->history_path);
	*out = ep;
	return STN_OK;

out_free:
	endpoint_free(ep);
	return rv;
}

void stn__endpoint_stop(stn_endpoint *ep)
{
	if (ep == NULL)
		return;
	if (ep->thread_started) {
		zmq_send(ep->pipe_main, "$TERM", 5, 0);
		pthread_join(ep->thread, NULL);
		STN_LOGI(&ep->lg, "stopped: %llu messages, %llu windows, %llu errors",
			 (unsigned long long)atomic_load(&ep->st_messages),
			 (unsigned long long)atomic_load(&ep->st_windows),
			 (unsigned long long)atomic_load(&ep->st_errors));
	}
	endpoint_free(ep);
}

const char *stn__endpoint_address(const stn_endpoint *ep)
{
	return ep->address;
}

void stn__endpoint_stats(const stn_endpoint *ep, stn_serve_stats *out)
{
	stn_endpoint *m = (stn_endpoint *)ep; /* atomics are read-only here */

	out->messages = atomic_load(&m->st_messages);
	out->errors = atomic_load(&m->st_errors);
	out->jobs = atomic_load(&m->st_jobs);
	out->windows = atomic_load(&m->st_windows);
	out->rows = atomic_load(&m->st_rows);
	out->decisions = atomic_load(&m->st_decisions);
	out->commits = atomic_load(&m->st_commits);
}
