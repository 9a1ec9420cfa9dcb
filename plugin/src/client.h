/* client: a DEALER connection to an endpoint that sends and receives protocol messages.
 * Used by the CLI (demo, bench) and the tests; engines other than Timely can model on it. */
#ifndef STN_CLIENT_H
#define STN_CLIENT_H

#include <stddef.h>

#include "proto.h"
#include "status.h"

typedef struct stn_client stn_client;

/* Connects (ZeroMQ connects lazily; no server needs to be up yet). Caller owns *out. */
stn_status stn__client_connect(const char *endpoint, stn_client **out, stn_errbuf *eb);
void stn__client_close(stn_client *c); /* NULL-safe */

/* Encodes and sends m; blocks at most timeout_ms (-1: forever) for room in the queue. */
stn_status stn__client_send(stn_client *c, const stn_msg *m, int timeout_ms, stn_errbuf *eb);
/* Sends raw bytes as one frame (tests: malformed input). */
stn_status stn__client_send_raw(stn_client *c, const void *data, size_t len, int timeout_ms,
				stn_errbuf *eb);

/* Waits up to timeout_ms for a message and decodes it into *out (free with stn__msg_free).
 * STN_ETIMEDOUT if none came. */
stn_status stn__client_recv(stn_client *c, stn_msg *out, int timeout_ms, stn_errbuf *eb);

#endif
