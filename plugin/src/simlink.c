/* simlink: a simulated job as an endpoint client (see simlink.h). */
#include "simlink.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"

#define SEND_TIMEOUT_MS 5000
#define RECV_TIMEOUT_MS 10000

stn_status stn__simlink_samples(const stn_window *w, const stn_dag *dag, const char *job,
				stn_msg *m)
{
	size_t rows = 0, r = 0;
	double secs = w->duration_ms / 1000.0;
	stn_status rv;

	for (size_t i = 0; i < w->n_ops; i++)
		rows += dag->ops[i].parallelism;
	memset(m, 0, sizeof(*m));
	m->type = STN_MSG_SAMPLES;
	m->version = STN_PROTO_VERSION;
	snprintf(m->u.samples.job, sizeof(m->u.samples.job), "%s", job);
	m->u.samples.window = w->index + 1;
	m->u.samples.epoch = w->index + 1;
	m->u.samples.duration_ms = w->duration_ms;
	m->u.samples.want_ack = true;
	m->u.samples.lag_ms = w->lag_ms;
	rv = stn__samples_alloc(&m->u.samples, rows, false);
	if (rv != STN_OK)
		return rv;
	for (size_t i = 0; i < w->n_ops; i++) {
		const stn_op_window *o = &w->ops[i];
		uint32_t p = dag->ops[i].parallelism;
		double rest_busy = p > 1 ? fmax(0.0, (o->busy_mean * p - o->busy_max) / (p - 1)) : 0;
		double rest_bl = p > 1 ? fmax(0.0, (o->backlog_sum - o->backlog_max) / (p - 1)) : 0;

		for (uint32_t k = 0; k < p; k++, r++) {
			m->u.samples.op[r] = o->op_id;
			m->u.samples.inst[r] = k;
			m->u.samples.busy_ms[r] = (k == 0 ? o->busy_max : rest_busy) * w->duration_ms;
			m->u.samples.recs_in[r] = o->rate_in * secs / p;
			m->u.samples.recs_out[r] = o->rate_out * secs / p;
			m->u.samples.backlog[r] = k == 0 ? o->backlog_max : rest_bl;
		}
	}
	return STN_OK;
}

/* Applies a DECISION to the simulator (operators it does not name keep their parallelism)
 * and acknowledges it. */
static stn_status apply_decision(stn_simlink *l, const stn_msg_decision *d, stn_errbuf *eb)
{
	const stn_dag *dag = stn__sim_dag(l->sim);
	uint32_t *p = stn__calloc(dag->n_ops, sizeof(uint32_t));
	stn_msg ack;
	stn_status rv;

	if (p == NULL)
		return stn__fail(eb, STN_ENOMEM, "out of memory");
	if (l->on_decision != NULL)
		l->on_decision(l->user, d);
	for (size_t i = 0; i < dag->n_ops; i++) {
		p[i] = dag->ops[i].parallelism;
		for (size_t k = 0; k < d->n_ops; k++)
			if (d->op[k] == dag->ops[i].id)
				p[i] = d->p[k];
	}
	rv = stn__sim_set_parallelism(l->sim, p, eb);
	stn__free(p);
	if (rv != STN_OK)
		return rv;
	memset(&ack, 0, sizeof(ack));
	ack.type = STN_MSG_ACK;
	ack.version = STN_PROTO_VERSION;
	ack.u.ack.of = STN_ACK_DECISION;
	snprintf(ack.u.ack.job, sizeof(ack.u.ack.job), "%s", d->job);
	ack.u.ack.seq = d->seq;
	ack.u.ack.epoch = d->epoch;
	snprintf(l->last_reason, sizeof(l->last_reason), "#%llu %s", (unsigned long long)d->seq,
		 d->reason);
	l->decisions++;
	return stn__client_send(l->client, &ack, SEND_TIMEOUT_MS, eb);
}

/* Waits for the ACK of what was just sent, applying any DECISION that comes first. */
static stn_status await_ack(stn_simlink *l, stn_ack_of of, stn_errbuf *eb)
{
	for (;;) {
		stn_msg m;
		stn_status rv = stn__client_recv(l->client, &m, RECV_TIMEOUT_MS, eb);

		if (rv != STN_OK)
			return rv;
		if (m.type == STN_MSG_ERROR) {
			rv = stn__fail(eb, (stn_status)m.u.error.code, "endpoint: %s: %s",
				       m.u.error.name, m.u.error.message);
			stn__msg_free(&m);
			return rv;
		}
		if (m.type == STN_MSG_DECISION) {
			rv = apply_decision(l, &m.u.decision, eb);
			stn__msg_free(&m);
			if (rv != STN_OK)
				return rv;
			continue;
		}
		bool done = m.type == STN_MSG_ACK && m.u.ack.of == of;

		stn__msg_free(&m);
		if (done)
			return STN_OK;
	}
}

stn_status stn__simlink_register(stn_simlink *l, const char *policy,
				 const stn_policy_opt *opts, size_t n_opts, double factor,
				 stn_errbuf *eb)
{
	const stn_dag *dag = stn__sim_dag(l->sim);
	stn_msg m;
	stn_status rv;

	if (n_opts > STN_PROTO_MAX_OPTIONS)
		return stn__fail(eb, STN_EINVAL, "%zu policy options, at most %u", n_opts,
				 STN_PROTO_MAX_OPTIONS);
	memset(&m, 0, sizeof(m));
	m.type = STN_MSG_REGISTER;
	m.version = STN_PROTO_VERSION;
	snprintf(m.u.reg.job, sizeof(m.u.reg.job), "%s", l->job);
	snprintf(m.u.reg.policy, sizeof(m.u.reg.policy), "%s", policy);
	for (size_t i = 0; i < n_opts; i++)
		m.u.reg.opts[i] = opts[i];
	m.u.reg.n_opts = n_opts;
	m.u.reg.senders = 1;
	m.u.reg.window_ms = 1000;
	stn__dag_init(&m.u.reg.dag);
	rv = stn__dag_copy(&m.u.reg.dag, dag);
	if (rv != STN_OK)
		return stn__fail(eb, rv, "out of memory");
	for (size_t i = 0; i < m.u.reg.dag.n_ops; i++)
		m.u.reg.dag.ops[i].source_rate *= factor;
	rv = stn__client_send(l->client, &m, SEND_TIMEOUT_MS, eb);
	stn__msg_free(&m);
	if (rv != STN_OK)
		return rv;
	return await_ack(l, STN_ACK_REGISTER, eb);
}

stn_status stn__simlink_window(stn_simlink *l, stn_errbuf *eb)
{
	const stn_dag *dag = stn__sim_dag(l->sim);
	stn_msg m;
	stn_status rv = stn__sim_step(l->sim, eb);

	if (rv != STN_OK)
		return rv;
	rv = stn__simlink_samples(stn__sim_window(l->sim), dag, l->job, &m);
	if (rv != STN_OK)
		return stn__fail(eb, rv, "out of memory");
	rv = stn__client_send(l->client, &m, SEND_TIMEOUT_MS, eb);
	stn__msg_free(&m);
	if (rv != STN_OK)
		return rv;
	return await_ack(l, STN_ACK_SAMPLES, eb);
}
