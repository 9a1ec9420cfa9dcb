/* simlink: drives a simulated job through an endpoint exactly as an engine would: REGISTER
 * (again on every rate change), one SAMPLES message of per-instance rows per window with an
 * ACK asked for, and every DECISION applied to the simulator and acknowledged. Used by the
 * demo and by the tests that compare a policy over a socket with the same policy in-process. */
#ifndef STN_SIMLINK_H
#define STN_SIMLINK_H

#include <stddef.h>
#include <stdint.h>

#include "client.h"
#include "proto.h"
#include "sim.h"
#include "status.h"

/* Called for every DECISION received, before it is applied (d borrowed for the call). */
typedef void (*stn_simlink_decision_fn)(void *user, const stn_msg_decision *d);

typedef struct stn_simlink {
	stn_client *client;   /* borrowed */
	stn_sim *sim;         /* borrowed; decisions change its parallelism */
	const char *job;      /* borrowed job id */
	stn_simlink_decision_fn on_decision; /* may be NULL */
	void *user;
	uint64_t decisions;   /* DECISIONs applied so far */
	char last_reason[STN_PROTO_MAX_TEXT + 32]; /* "#seq reason" of the last one */
} stn_simlink;

/* (Re-)registers the job with the simulator's DAG, its source rates scaled by factor, and
 * waits for the ACK. policy_opts may be NULL when n_opts is 0. */
stn_status stn__simlink_register(stn_simlink *l, const char *policy,
				 const stn_policy_opt *opts, size_t n_opts, double factor,
				 stn_errbuf *eb);

/* Steps the simulator one window, sends it as SAMPLES and waits until the endpoint has made
 * it durable, applying decisions that arrive meanwhile. The window is then
 * stn__sim_window(l->sim). */
stn_status stn__simlink_window(stn_simlink *l, stn_errbuf *eb);

/* Per-instance rows that aggregate back to w's figures (the hottest instance carries busy_max
 * and backlog_max, the others share the rest) as one SAMPLES message for window index
 * w->index + 1. m is overwritten; release with stn__msg_free. */
stn_status stn__simlink_samples(const stn_window *w, const stn_dag *dag, const char *job,
				stn_msg *m);

#endif
