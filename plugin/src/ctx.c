#include "ctx.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "endpoint.h"
#include "log.h"
#include "status.h"

#define CTX_MAGIC 0x53544e43u /* "STNC": catches use of a freed or foreign pointer */

struct stn_ctx {
	uint32_t magic;
	stn_logger lg;
	stn_errbuf err;
	stn_endpoint *ep;
};

static bool ctx_ok(const stn_ctx *ctx)
{
	return ctx != NULL && ctx->magic == CTX_MAGIC;
}

/* Records s with its text as the context's last error. */
static stn_status ctx_fail(stn_ctx *ctx, stn_status s, const char *text)
{
	snprintf(ctx->err.text, sizeof(ctx->err.text), "%s", text);
	return s;
}

stn_status stn__ctx_new(const stn_config *cfg, stn_ctx **out)
{
	stn_ctx *ctx;

	if (out == NULL)
		return STN_EMISUSE;
	*out = NULL;
	if (cfg != NULL && cfg->struct_size < offsetof(stn_config, log_user) + sizeof(void *))
		return STN_EMISUSE;
	ctx = stn__calloc(1, sizeof(*ctx));
	if (ctx == NULL)
		return STN_ENOMEM;
	ctx->magic = CTX_MAGIC;
	ctx->lg = stn__logger_default();
	if (cfg != NULL) {
		ctx->lg.fn = cfg->log_fn;
		ctx->lg.user = cfg->log_user;
		if (cfg->log_level > 0)
			ctx->lg.level = cfg->log_level;
	}
	*out = ctx;
	return STN_OK;
}

void stn__ctx_free(stn_ctx *ctx)
{
	if (!ctx_ok(ctx))
		return;
	stn__endpoint_stop(ctx->ep);
	ctx->magic = 0;
	stn__free(ctx);
}

const char *stn__ctx_errmsg(const stn_ctx *ctx)
{
	if (!ctx_ok(ctx))
		return "invalid context";
	return ctx->err.text;
}

stn_status stn__ctx_serve_start(stn_ctx *ctx, const stn_serve_config *cfg)
{
	stn_endpoint_config ecfg;
	stn_status rv;

	if (!ctx_ok(ctx))
		return STN_EMISUSE;
	if (cfg == NULL || cfg->struct_size < offsetof(stn_serve_config, synchronous_full) + sizeof(int))
		return ctx_fail(ctx, STN_EMISUSE, "serve_start: config missing or struct_size too small");
	if (ctx->ep != NULL)
		return ctx_fail(ctx, STN_ESTATE, "serve_start: the endpoint is already running");
	memset(&ecfg, 0, sizeof(ecfg));
	ecfg.bind = cfg->bind;
	ecfg.history_path = cfg->history_path;
	ecfg.max_msg_bytes = cfg->max_msg_bytes;
	ecfg.commit_interval_us = cfg->commit_interval_us;
	ecfg.window_timeout_ms = cfg->window_timeout_ms;
	ecfg.synchronous_full = cfg->synchronous_full != 0;
	ecfg.logger = ctx->lg;
	rv = stn__endpoint_start(&ecfg, &ctx->ep, &ctx->err);
	return rv;
}

stn_status stn__ctx_serve_stop(stn_ctx *ctx)
{
	if (!ctx_ok(ctx))
		return STN_EMISUSE;
	if (ctx->ep == NULL)
		return ctx_fail(ctx, STN_ESTATE, "serve_stop: the endpoint is not running");
	stn__endpoint_stop(ctx->ep);
	ctx->ep = NULL;
	return STN_OK;
}

stn_status stn__ctx_serve_endpoint(stn_ctx *ctx, char *buf, size_t cap, size_t *len)
{
	const char *addr;
	size_t need;

	if (!ctx_ok(ctx) || len == NULL || (buf == NULL && cap > 0))
		return STN_EMISUSE;
	if (ctx->ep == NULL)
		return ctx_fail(ctx, STN_ESTATE, "serve_endpoint: the endpoint is not running");
	addr = stn__endpoint_address(ctx->ep);
	need = strlen(addr) + 1;
	*len = need;
	if (cap < need)
		return ctx_fail(ctx, STN_ETOOSMALL, "serve_endpoint: buffer too small");
	memcpy(buf, addr, need);
	return STN_OK;
}

stn_status stn__ctx_serve_stats(stn_ctx *ctx, stn_serve_stats *out)
{
	stn_serve_stats st;
	size_t n;

	if (!ctx_ok(ctx) || out == NULL || out->struct_size < sizeof(uint32_t))
		return STN_EMISUSE;
	if (ctx->ep == NULL)
		return ctx_fail(ctx, STN_ESTATE, "serve_stats: the endpoint is not running");
	memset(&st, 0, sizeof(st));
	stn__endpoint_stats(ctx->ep, &st);
	n = out->struct_size < sizeof(st) ? out->struct_size : sizeof(st);
	st.struct_size = (uint32_t)n;
	memcpy(out, &st, n);
	return STN_OK;
}
