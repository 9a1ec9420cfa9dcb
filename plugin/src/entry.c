/* entry: the one exported symbol and the function table behind it. */
#include "streamtune/streamtune.h"

#include "ctx.h"
#include "status.h"

static const char *api_version(void)
{
	return STN_VERSION_STRING;
}

static const stn_api api_v1 = {
	.abi_version = STN_ABI_VERSION,
	.struct_size = sizeof(stn_api),
	.version = api_version,
	.strerror = stn__strerror,
	.status_name = stn__status_name,
	.ctx_new = stn__ctx_new,
	.ctx_free = stn__ctx_free,
	.ctx_errmsg = stn__ctx_errmsg,
	.serve_start = stn__ctx_serve_start,
	.serve_stop = stn__ctx_serve_stop,
	.serve_endpoint = stn__ctx_serve_endpoint,
	.serve_stats = stn__ctx_serve_stats,
};

STN_EXPORT const stn_api *stn_plugin_entry(uint32_t host_abi_version)
{
	return host_abi_version == STN_ABI_VERSION ? &api_v1 : NULL;
}
