/* Loads the real shared object the way a host does, checks the entry symbol and table, and
 * that nothing but the entry symbol is exported. argv[1]: path of libstreamtune.so. */
#define _GNU_SOURCE /* memmem */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

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

/* The endpoint through the table alone: start on ipc, answer a hand-encoded HELLO, count it,
 * stop. The bytes are the protocol's canonical HELLO {"v":1,"t":"hello","client":"abi",
 * "versions":[1]}. */
static void test_serve_through_table(void **state)
{
	static const unsigned char hello[] = {
		0x84, 0xa1, 'v', 0x01, 0xa1, 't', 0xa5, 'h', 'e', 'l', 'l', 'o',
		0xa6, 'c', 'l', 'i', 'e', 'n', 't', 0xa3, 'a', 'b', 'i',
		0xa8, 'v', 'e', 'r', 's', 'i', 'o', 'n', 's', 0x91, 0x01,
	};
	char dir[] = "/tmp/stn-test-XXXXXX", bind[128], hist[128], addr[256], reply[4096];
	void *h = dlopen(so_path, RTLD_NOW | RTLD_LOCAL);
	const stn_api *api = ((stn_plugin_entry_fn)dlsym(h, "stn_plugin_entry"))(STN_ABI_VERSION);
	stn_config cfg = {sizeof(cfg), STN_LOG_ERROR, NULL, NULL};
	stn_serve_config scfg;
	stn_serve_stats st;
	stn_ctx *ctx = NULL;
	size_t len = 0;
	void *zctx, *sock;
	int n, timeout = 10000;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(bind, sizeof(bind), "ipc://%s/abi.sock", dir);
	snprintf(hist, sizeof(hist), "%s/h.sqlite", dir);
	memset(&scfg, 0, sizeof(scfg));
	scfg.struct_size = sizeof(scfg);
	scfg.bind = bind;
	scfg.history_path = hist;
	assert_int_equal(api->ctx_new(&cfg, &ctx), STN_OK);
	assert_int_equal(api->serve_start(ctx, &scfg), STN_OK);
	assert_int_equal(api->serve_start(ctx, &scfg), STN_ESTATE);
	assert_int_equal(api->serve_endpoint(ctx, addr, 4, &len), STN_ETOOSMALL);
	assert_int_equal(len, strlen(bind) + 1);
	assert_int_equal(api->serve_endpoint(ctx, addr, sizeof(addr), &len), STN_OK);
	assert_string_equal(addr, bind);

	zctx = zmq_ctx_new();
	sock = zmq_socket(zctx, ZMQ_DEALER);
	zmq_setsockopt(sock, ZMQ_RCVTIMEO, &timeout, sizeof(timeout));
	assert_int_equal(zmq_connect(sock, addr), 0);
	assert_int_equal(zmq_send(sock, hello, sizeof(hello), 0), (int)sizeof(hello));
	n = zmq_recv(sock, reply, sizeof(reply), 0);
	assert_true(n > 0);
	assert_non_null(memmem(reply, (size_t)n, "welcome", 7));
	zmq_close(sock);
	zmq_ctx_term(zctx);

	memset(&st, 0, sizeof(st));
	st.struct_size = sizeof(st);
	assert_int_equal(api->serve_stats(ctx, &st), STN_OK);
	assert_int_equal(st.messages, 1);
	assert_int_equal(st.errors, 0);
	assert_int_equal(api->serve_stop(ctx), STN_OK);
	api->ctx_free(ctx);
	assert_int_equal(access(hist, F_OK), 0);
	unlink(hist);
	snprintf(hist, sizeof(hist), "%s/h.sqlite-wal", dir);
	unlink(hist);
	snprintf(hist, sizeof(hist), "%s/h.sqlite-shm", dir);
	unlink(hist);
	rmdir(dir);
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
		cmocka_unit_test(test_serve_through_table),
		cmocka_unit_test(test_only_entry_exported),
	};

	so_path = argc > 1 ? argv[1] : getenv("STN_PLUGIN");
	if (so_path == NULL) {
		fprintf(stderr, "usage: test_abi_dlopen PATH-TO-libstreamtune.so\n");
		return 2;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
