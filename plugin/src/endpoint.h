/*
 * endpoint: the ZeroMQ ROUTER that serves many jobs and clients on one plugin-owned thread.
 * It decodes and validates messages (proto), aggregates each job's windows across senders
 * (window), stores them with group commit (history) and answers. Replies that promise
 * durability (ACK of register and samples) leave only after the commit that holds them.
 * Start and stop are synchronous (CZMQ zactor contract).
 */
#ifndef STN_ENDPOINT_H
#define STN_ENDPOINT_H

#include <stdbool.h>
#include <stdint.h>

#include "log.h"
#include "status.h"
#include "streamtune/streamtune.h"

typedef struct stn_endpoint stn_endpoint;

typedef struct stn_endpoint_config {
	const char *bind;            /* ZeroMQ endpoint; borrowed for the call */
	const char *history_path;    /* borrowed for the call */
	const char *model_path;      /* NULL: the streamtune policy takes the default model
				      * (stn__model_default), DS2 if there is none */
	uint32_t max_msg_bytes;      /* announced limit; 0: 16 MiB */
	uint32_t commit_interval_us; /* group-commit latency bound under load; 0: 2000 */
	uint32_t window_timeout_ms;  /* an incomplete window closes after this; 0: 5000 */
	uint32_t max_jobs;           /* 0: 1024 */
	bool synchronous_full;       /* fsync every commit */
	stn_logger logger;           /* copied */
} stn_endpoint_config;

/* Reads the model, binds, opens the history and starts the thread; returns once it serves.
 * On success the caller owns *out and must release it with stn__endpoint_stop. A failed start
 * creates no history file and leaves no ipc:// socket file. */
stn_status stn__endpoint_start(const stn_endpoint_config *cfg, stn_endpoint **out,
			       stn_errbuf *eb);

/* Commits what is pending, stops and joins the thread, closes everything, removes the file
 * of an ipc:// address it bound, frees ep. NULL-safe. */
void stn__endpoint_stop(stn_endpoint *ep);

/* The address actually bound (tcp port 0 resolved). Borrowed while ep lives. */
const char *stn__endpoint_address(const stn_endpoint *ep);

/* Counters, safe to read from any thread while the endpoint runs. */
void stn__endpoint_stats(const stn_endpoint *ep, stn_serve_stats *out);

#endif
