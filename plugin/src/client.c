#include "client.h"

#include <errno.h>
#include <string.h>
#include <zmq.h>

#include "alloc.h"

struct stn_client {
	void *zctx;
	void *sock;
	stn_proto_limits limits;
};

stn_status stn__client_connect(const char *endpoint, stn_client **out, stn_errbuf *eb)
{
	stn_client *c;
	int linger = 0;

	*out = NULL;
	c = stn__calloc(1, sizeof(*c));
	if (c == NULL)
		return stn__fail(eb, STN_ENOMEM, "out of memory");
	c->limits = stn__proto_limits_default();
	c->zctx = zmq_ctx_new();
	c->sock = c->zctx != NULL ? zmq_socket(c->zctx, ZMQ_DEALER) : NULL;
	if (c->sock == NULL) {
		stn__client_close(c);
		return stn__fail(eb, STN_EZMQ, "cannot create socket: %s", zmq_strerror(errno));
	}
	zmq_setsockopt(c->sock, ZMQ_LINGER, &linger, sizeof(linger));
	if (zmq_connect(c->sock, endpoint) != 0) {
		stn__client_close(c);
		return stn__fail(eb, STN_EZMQ, "cannot connect to %s: %s", endpoint,
				 zmq_strerror(errno));
	}
	*out = c;
	return STN_OK;
}

void stn__client_close(stn_client *c)
{
	if (c == NULL)
		return;
	if (c->sock != NULL)
		zmq_close(c->sock);
	if (c->zctx != NULL)
		zmq_ctx_term(c->zctx);
	stn__free(c);
}

stn_status stn__client_send_raw(stn_client *c, const void *data, size_t len, int timeout_ms,
				stn_errbuf *eb)
{
	zmq_setsockopt(c->sock, ZMQ_SNDTIMEO, &timeout_ms, sizeof(timeout_ms));
	if (zmq_send(c->sock, data, len, 0) < 0)
		return stn__fail(eb, errno == EAGAIN ? STN_ETIMEDOUT : STN_EZMQ, "send: %s",
				 zmq_strerror(errno));
	return STN_OK;
}

stn_status stn__client_send(stn_client *c, const stn_msg *m, int timeout_ms, stn_errbuf *eb)
{
	void *buf = NULL;
	size_t len = 0;
	stn_status rv;

	rv = stn__proto_encode(m, &buf, &len, eb);
	if (rv != STN_OK)
		return rv;
	rv = stn__client_send_raw(c, buf, len, timeout_ms, eb);
	stn__free(buf);
	return rv;
}

stn_status stn__client_recv(stn_client *c, stn_msg *out, int timeout_ms, stn_errbuf *eb)
{
	zmq_msg_t msg;
	stn_status rv;

	zmq_setsockopt(c->sock, ZMQ_RCVTIMEO, &timeout_ms, sizeof(timeout_ms));
	zmq_msg_init(&msg);
	if (zmq_msg_recv(&msg, c->sock, 0) < 0) {
		zmq_msg_close(&msg);
		if (errno == EAGAIN)
			return stn__fail(eb, STN_ETIMEDOUT, "no answer within %d ms", timeout_ms);
		return stn__fail(eb, STN_EZMQ, "receive: %s", zmq_strerror(errno));
	}
	rv = stn__proto_decode(zmq_msg_data(&msg), zmq_msg_size(&msg), &c->limits, out, eb);
	zmq_msg_close(&msg);
	return rv;
}
