/* Loads the real shared object the way a host does, checks the entry symbol and table, and
 * that nothing but the entry symbol is exported. argv[1]: path of libstreamtune.so. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "streamtune/streamtune.h"

static const char *so_path;

static void test_entry_and_table(void **state)
{
	void *h = dlopen(so_path, RTLD_NOW | RTLD_LOCAL);
	stn_plugin_entry_fn entry;
	const stn_api *api;
	stn_ctx *ctx = NULL;
	stn_config cfg = {sizeof(cfg), STN_LOG_ERROR, NULL, NULL};

	(void)state;
	assert_non_null(h);
	entry = (stn_plugin_entry_fn)dlsym(h, "stn_plugin_entry");
	assert_non_null(entry);
	assert_null(entry(STN_ABI_VERSION + 1)); /* a host from the future is refused */
	api = entry(STN_ABI_VERSION);
	assert_non_null(api);
	assert_int_equal(api->abi_version, STN_ABI_VERSION);
	assert_true(api->struct_size >= sizeof(stn_api));
	assert_string_equal(api->version(), STN_VERSION_STRING);
	assert_string_equal(api->status_name(STN_EPROTO), "EPROTO");
	assert_string_equal(api->strerror(STN_OK), "success");
	assert_string_equal(api->strerror((stn_status)9999), "unknown status");

	assert_int_equal(api->ctx_new(&cfg, &ctx), STN_OK);
	assert_non_null(ctx);
	assert_int_equal(api->serve_stop(ctx), STN_ESTATE);
	assert_non_null(strstr(api->ctx_errmsg(ctx), "not running"));
	api->ctx_free(ctx);
	api->ctx_free(NULL); /* harmless */
	assert_int_equal(api->ctx_new(&cfg, NULL), STN_EMISUSE);
	dlclose(h);
}

/* Internal functions must not leak into the dynamic symbol table. */
static void test_only_entry_exported(void **state)
{
	char cmd[4096], line[512];
	FILE *p;
	int defined = 0, entry = 0;

	(void)state;
	snprintf(cmd, sizeof(cmd), "nm -D --defined-only '%s'", so_path);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(line, sizeof(line), p) != NULL) {
		char addr[64], type[8], name[400];

		if (sscanf(line, "%63s %7s %399s", addr, type, name) != 3)
			continue;
		if (strcmp(type, "T") != 0 && strcmp(type, "D") != 0 && strcmp(type, "B") != 0 &&
		    strcmp(type, "R") != 0)
			continue;
		defined++;
		if (strcmp(name, "stn_plugin_entry") == 0)
			entry++;
		else
			fprintf(stderr, "unexpected exported symbol: %s", line);
	}
	assert_int_equal(pclose(p), 0);
	assert_int_equal(entry, 1);
	assert_int_equal(defined, 1);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_entry_and_table),
		cmocka_unit_test(test_only_entry_exported),
	};

	so_path = argc > 1 ? argv[1] : getenv("STN_PLUGIN");
	if (so_path == NULL) {
		fprintf(stderr, "usage: test_abi_dlopen PATH-TO-libstreamtune.so\n");
		return 2;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
