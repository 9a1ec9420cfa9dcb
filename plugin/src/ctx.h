/* ctx: the opaque context behind the public API: logger, last error, the endpoint. */
#ifndef STN_CTX_H
#define STN_CTX_H

#include "streamtune/streamtune.h"

stn_status stn__ctx_new(const stn_config *cfg, stn_ctx **out);
void stn__ctx_free(stn_ctx *ctx);
const char *stn__ctx_errmsg(const stn_ctx *ctx);
stn_status stn__ctx_serve_start(stn_ctx *ctx, const stn_serve_config *cfg);
stn_status stn__ctx_serve_stop(stn_ctx *ctx);
stn_status stn__ctx_serve_endpoint(stn_ctx *ctx, char *buf, size_t cap, size_t *len);
stn_status stn__ctx_serve_stats(stn_ctx *ctx, stn_serve_stats *out);

#endif
