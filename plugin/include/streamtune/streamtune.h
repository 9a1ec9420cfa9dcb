/*
 * streamtune.h: the whole public ABI of libstreamtune.
 *
 * The shared object exports exactly one symbol, stn_plugin_entry(), which returns a const,
 * versioned, append-only table of function pointers. Everything not declared here is not API.
 *
 * Threading: a stn_ctx is used by one host thread at a time (it may move between threads).
 * The endpoint started by serve_start runs on one plugin-owned thread; start and stop are
 * synchronous: serve_start returns after that thread is listening, serve_stop after it joined.
 * The log callback is called from the calling thread and from the endpoint thread.
 *
 * Memory: nothing allocated by the plugin is freed by the host, and the host never frees
 * plugin memory. Outputs go into caller-provided buffers.
 */
#ifndef STREAMTUNE_H
#define STREAMTUNE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(STN_BUILDING)
#define STN_EXPORT __attribute__((visibility("default")))
#else
#define STN_EXPORT
#endif

/* Bumped on an incompatible change of this header; appending to stn_api is compatible. */
#define STN_ABI_VERSION 1u
#define STN_VERSION_STRING "0.1.0"

/*
 * Status codes: stable, positive, never reused; new ones are appended.
 * X(NAME, value, message). The same table generates the enum, stn_strerror and the names.
 */
#define STN_STATUS_MAP(X)                                                              \
	X(OK, 0, "success")                                                                \
	X(EINVAL, 1, "invalid argument")                                                   \
	X(ENOMEM, 2, "out of memory")                                                      \
	X(EMISUSE, 3, "API misuse")                                                        \
	X(ETOOSMALL, 4, "output buffer too small")                                         \
	X(EPROTO, 5, "malformed message")                                                  \
	X(ETOOBIG, 6, "message or field exceeds a limit")                                  \
	X(EVERSION, 7, "unsupported protocol or file version")                             \
	X(ETYPE, 8, "unknown message type")                                                \
	X(EFIELD, 9, "missing field or field of the wrong type")                           \
	X(EJOB, 10, "unknown job")                                                         \
	X(EORDER, 11, "window out of order or repeated")                                   \
	X(EVALUE, 12, "invalid metric value (NaN, infinite or negative)")                  \
	X(ECYCLE, 13, "operator graph has a cycle")                                        \
	X(EGRAPH, 14, "invalid operator graph")                                            \
	X(EIO, 15, "input/output error")                                                   \
	X(EDB, 16, "history database error")                                               \
	X(EZMQ, 17, "messaging error")                                                     \
	X(ECORRUPT, 18, "corrupt file")                                                    \
	X(ENOTFOUND, 19, "not found")                                                      \
	X(ESTATE, 20, "operation not valid in the current state")                          \
	X(EBUSY, 21, "resource busy")                                                      \
	X(ETIMEDOUT, 22, "timed out")                                                      \
	X(ESCHEMA, 23, "unsupported history schema version")                               \
	X(EMODEL, 24, "model does not fit the request")                                    \
	X(EPOLICY, 25, "unknown policy or invalid policy option")                          \
	X(EUNSUPPORTED, 26, "not supported")

typedef enum stn_status {
#define STN_STATUS_ENUM(name, value, msg) STN_##name = value,
	STN_STATUS_MAP(STN_STATUS_ENUM)
#undef STN_STATUS_ENUM
} stn_status;

/* Log levels, most severe first. */
typedef enum stn_log_level {
	STN_LOG_ERROR = 0,
	STN_LOG_WARN = 1,
	STN_LOG_INFO = 2,
	STN_LOG_DEBUG = 3
} stn_log_level;

/*
 * Log sink. msg is borrowed for the duration of the call, NUL-terminated, no newline.
 * Called from the host thread and from the endpoint thread, never concurrently for one ctx.
 */
typedef void (*stn_log_fn)(void *user, int level, const char *msg);

typedef struct stn_ctx stn_ctx; /* opaque */

/* Context configuration. Caller-owned, read during ctx_new only. Zero fields take defaults. */
typedef struct stn_config {
	uint32_t struct_size; /* = sizeof(stn_config); lets the struct grow */
	int log_level;        /* messages above this level are dropped; default STN_LOG_INFO */
	stn_log_fn log_fn;    /* NULL: log lines go to stderr */
	void *log_user;       /* passed to log_fn */
} stn_config;

/* Endpoint configuration. Caller-owned, read during serve_start only. */
typedef struct stn_serve_config {
	uint32_t struct_size;     /* = sizeof(stn_serve_config) */
	const char *bind;         /* ZeroMQ endpoint, e.g. "tcp://127.0.0.1:5555", "ipc:///tmp/x" */
	const char *history_path; /* SQLite file, created if missing */
	const char *model_path;   /* NULL: the default model */
	uint32_t max_msg_bytes;   /* largest accepted message; 0: 16 MiB */
	uint32_t commit_interval_us; /* group-commit latency bound; 0: 2000 */
	uint32_t window_timeout_ms;  /* a window missing parts closes after this; 0: 5000 */
	int synchronous_full;     /* 1: fsync every group commit (power-loss safe); 0: WAL NORMAL */
} stn_serve_config;

/* Counters of a running endpoint (all since serve_start). */
typedef struct stn_serve_stats {
	uint32_t struct_size;
	uint64_t messages;     /* messages received */
	uint64_t errors;       /* ERROR replies to faulty or refused requests (not the EJOB
	                          answer to a QUERY for a job not yet registered) */
	uint64_t jobs;         /* jobs registered */
	uint64_t windows;      /* windows committed to the history */
	uint64_t rows;         /* operator-instance rows ingested */
	uint64_t decisions;    /* DECISION messages sent */
	uint64_t commits;      /* group commits */
} stn_serve_stats;

/*
 * The function table. APPEND-ONLY: new entries go at the end, never above.
 * The host checks abi_version and that struct_size covers the entries it uses.
 */
typedef struct stn_api {
	uint32_t abi_version;
	uint32_t struct_size;

	/* Library version, e.g. "0.1.0". Static storage. */
	const char *(*version)(void);

	/* Message for a status code. Static storage; unknown codes give "unknown status". */
	const char *(*strerror)(stn_status s);

	/* Symbolic name of a status code ("EPROTO"). Static storage. */
	const char *(*status_name)(stn_status s);

	/* New context. cfg may be NULL (defaults). On success *out is set and the caller owns it
	 * (free with ctx_free); on failure *out is NULL and nothing needs freeing. */
	stn_status (*ctx_new)(const stn_config *cfg, stn_ctx **out);

	/* Stops the endpoint if running and frees ctx. NULL is a harmless no-op. */
	void (*ctx_free)(stn_ctx *ctx);

	/* Text of the last error on ctx. Borrowed until the next call on ctx. Never NULL. */
	const char *(*ctx_errmsg)(const stn_ctx *ctx);

	/* Opens the history, binds the socket and starts the endpoint thread. Returns once the
	 * thread listens. cfg is borrowed for the duration of the call. */
	stn_status (*serve_start)(stn_ctx *ctx, const stn_serve_config *cfg);

	/* Stops the endpoint: pending windows are committed, the thread is joined, the history
	 * closed and the socket file of an ipc:// address it bound removed. STN_ESTATE if not
	 * running. */
	stn_status (*serve_stop)(stn_ctx *ctx);

	/* Endpoint actually bound (a tcp port of 0 is resolved), NUL-terminated into buf.
	 * STN_ETOOSMALL with the needed size (including NUL) in *len if cap is too small. */
	stn_status (*serve_endpoint)(stn_ctx *ctx, char *buf, size_t cap, size_t *len);

	/* Copies the endpoint's counters into *out (out->struct_size must be set by the caller). */
	stn_status (*serve_stats)(stn_ctx *ctx, stn_serve_stats *out);

	/* new entries go here, never above */
} stn_api;

/*
 * The one exported symbol. host_abi_version is the STN_ABI_VERSION the host was built with;
 * returns NULL if the plugin cannot serve it. The table has static storage.
 */
STN_EXPORT const stn_api *stn_plugin_entry(uint32_t host_abi_version);

typedef const stn_api *(*stn_plugin_entry_fn)(uint32_t host_abi_version);

#ifdef __cplusplus
}
#endif
#endif /* STREAMTUNE_H */
