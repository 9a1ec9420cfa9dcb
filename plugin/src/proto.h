/*
 * proto: the wire protocol (proto/PROTOCOL.md). Every message is one MessagePack map with
 * string keys; "v" (protocol version, uint) and "t" (type, str) are always present.
 * Decoding is strict (types, ranges, limits) but ignores unknown keys. Encoding is canonical:
 * keys in the order documented, integers in their smallest form, floats as float64, so a
 * decoded canonical message encodes back byte-identical.
 *
 * This module knows MessagePack; nothing numeric depends on it.
 */
#ifndef STN_PROTO_H
#define STN_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dag.h"
#include "status.h"

#define STN_PROTO_VERSION 1u

/* Limits. The endpoint announces its values in WELCOME; these are the hard ceilings. */
#define STN_PROTO_MAX_MSG_BYTES (16u * 1024u * 1024u)
#define STN_PROTO_MAX_ROWS 65536u       /* rows in one SAMPLES message */
#define STN_PROTO_MAX_JOB_ID 128u       /* bytes of a job id */
#define STN_PROTO_MAX_TEXT 1024u        /* bytes of reason, error message, names */
#define STN_PROTO_MAX_OPTIONS 32u       /* policy options */
#define STN_PROTO_MAX_OPT_KEY 64u

typedef enum stn_msg_type {
	STN_MSG_HELLO = 1,
	STN_MSG_WELCOME,
	STN_MSG_REGISTER,
	STN_MSG_SAMPLES,
	STN_MSG_DECISION,
	STN_MSG_ACK,
	STN_MSG_QUERY,
	STN_MSG_STATUS,
	STN_MSG_ERROR
} stn_msg_type;

/* client -> plugin: first message of a connection. */
typedef struct stn_msg_hello {
	char client[STN_PROTO_MAX_TEXT];      /* "client": free text, e.g. "timely-shim/0.1" */
	uint32_t versions[8];                 /* "versions": protocol versions spoken */
	size_t n_versions;
} stn_msg_hello;

/* plugin -> client: answer to HELLO. */
typedef struct stn_msg_welcome {
	uint32_t version;        /* "version": chosen protocol version */
	char server[STN_PROTO_MAX_TEXT]; /* "server": e.g. "streamtune/0.1.0" */
	uint32_t max_msg_bytes;  /* "max_msg_bytes" */
	uint32_t max_ops;        /* "max_ops" */
	uint32_t max_edges;      /* "max_edges" */
	uint32_t max_rows;       /* "max_rows" */
	uint32_t window_ms;      /* "window_ms": suggested window length */
} stn_msg_welcome;

/* A policy option: "policy_opts" is a map of str -> float64. */
typedef struct stn_policy_opt {
	char key[STN_PROTO_MAX_OPT_KEY];
	double value;
} stn_policy_opt;

/* client -> plugin: declares (or re-declares) a job, its DAG and policy. Answered by ACK. */
typedef struct stn_msg_register {
	char job[STN_PROTO_MAX_JOB_ID + 1]; /* "job": 1..128 bytes */
	uint64_t id;                        /* "id": request id, echoed in the answer */
	uint32_t senders;                   /* "senders": SAMPLES messages per window (workers) */
	uint32_t window_ms;                 /* "window_ms": window length used by the client */
	char policy[STN_PROTO_MAX_OPT_KEY]; /* "policy": "streamtune", "ds2", ..., "static" */
	stn_policy_opt opts[STN_PROTO_MAX_OPTIONS]; /* "policy_opts" */
	size_t n_opts;
	stn_dag dag; /* "ops": [{id,name,kind,stateful,selectivity,rate,p,p_max}], "edges":
		      * [[from_id, to_id, partitioning]]; owned, release with stn__msg_free */
} stn_msg_register;

/* client -> plugin: one window of per-instance rows, columnar. Columns are arrays of equal
 * length n_rows. Several SAMPLES (one per sender) make one window. */
typedef struct stn_msg_samples {
	char job[STN_PROTO_MAX_JOB_ID + 1]; /* "job" */
	uint64_t window;      /* "window": window index, increasing per job */
	uint64_t epoch;       /* "epoch": the job's latest completed epoch (logical time) */
	uint32_t duration_ms; /* "duration_ms": window length, > 0 */
	uint32_t sender;      /* "sender": 0..senders-1 */
	bool want_ack;        /* "ack": answer with ACK once the window is durable */
	double lag_ms;        /* "lag_ms": end-to-end lag at the sink, < 0 if unknown (absent) */
	size_t n_rows;
	uint32_t *op;         /* "op": operator id of the row */
	uint32_t *inst;       /* "inst": instance (worker) index */
	double *busy_ms;      /* "busy_ms": scheduled time in the window, ms */
	double *recs_in;      /* "in": records received in the window */
	double *recs_out;     /* "out": records sent in the window */
	double *backlog;      /* "backlog": records queued at the window's end */
	double *bp_ms;        /* "bp_ms": optional backpressured time, ms; NULL if absent */
} stn_msg_samples;

/* plugin -> client: new parallelism, effective from an epoch. */
typedef struct stn_msg_decision {
	char job[STN_PROTO_MAX_JOB_ID + 1]; /* "job" */
	uint64_t seq;        /* "seq": decision number, from 1, increasing per job */
	uint64_t epoch;      /* "epoch": the decision holds from this epoch on */
	size_t n_ops;
	uint32_t *op;        /* "op": operator ids */
	uint32_t *p;         /* "p": new parallelism */
	double *prob;        /* "prob": predicted bottleneck probability at the new p */
	char reason[STN_PROTO_MAX_TEXT]; /* "reason" */
	char policy[STN_PROTO_MAX_OPT_KEY]; /* "policy" */
} stn_msg_decision;

/* ACK, both ways. "of" says what is acknowledged. */
typedef enum stn_ack_of {
	STN_ACK_REGISTER = 1, /* plugin -> client: job registered; "hash" carries the DAG hash */
	STN_ACK_SAMPLES,      /* plugin -> client: window "window" is durable */
	STN_ACK_DECISION      /* client -> plugin: decision "seq" applied at "epoch" */
} stn_ack_of;

typedef struct stn_msg_ack {
	stn_ack_of of;                      /* "of": "register" | "samples" | "decision" */
	char job[STN_PROTO_MAX_JOB_ID + 1]; /* "job" */
	uint64_t id;                        /* "id": request id (register), else 0 */
	uint64_t window;                    /* "window" (samples) */
	uint64_t seq;                       /* "seq" (decision) */
	uint64_t epoch;                     /* "epoch" (decision) */
	uint64_t hash;                      /* "hash" (register) */
} stn_msg_ack;

/* client -> plugin: asks for status; job empty means the whole endpoint. */
typedef struct stn_msg_query {
	uint64_t id;                        /* "id" */
	char job[STN_PROTO_MAX_JOB_ID + 1]; /* "job": optional */
} stn_msg_query;

/* plugin -> client: answer to QUERY. */
typedef struct stn_msg_status {
	uint64_t id;          /* "id": echoed */
	uint64_t jobs;        /* "jobs": registered jobs */
	uint64_t windows;     /* "windows": windows stored (of the job if one was named) */
	uint64_t decisions;   /* "decisions": decisions sent (of the job if named) */
	uint64_t uptime_ms;   /* "uptime_ms" */
	char job[STN_PROTO_MAX_JOB_ID + 1]; /* "job": echoed, may be empty */
	char policy[STN_PROTO_MAX_OPT_KEY]; /* "policy": the job's policy, empty without job */
	uint64_t last_window; /* "last_window": last closed window of the job */
} stn_msg_status;

/* Either way: an error. */
typedef struct stn_msg_error {
	uint32_t code;                      /* "code": stn_status value */
	char name[32];                      /* "name": stn_status name, e.g. "EPROTO" */
	char message[STN_PROTO_MAX_TEXT];   /* "message" */
	uint64_t id;                        /* "id": request id if known, else 0 */
	char job[STN_PROTO_MAX_JOB_ID + 1]; /* "job": if known, else empty */
} stn_msg_error;

typedef struct stn_msg {
	stn_msg_type type;
	uint32_t version;
	union {
		stn_msg_hello hello;
		stn_msg_welcome welcome;
		stn_msg_register reg;
		stn_msg_samples samples;
		stn_msg_decision decision;
		stn_msg_ack ack;
		stn_msg_query query;
		stn_msg_status status;
		stn_msg_error error;
	} u;
} stn_msg;

/* Limits a decoder enforces (the endpoint's announced ones). */
typedef struct stn_proto_limits {
	uint32_t max_msg_bytes;
	uint32_t max_ops;
	uint32_t max_edges;
	uint32_t max_rows;
} stn_proto_limits;

stn_proto_limits stn__proto_limits_default(void);

/* Decodes one message. On success *out owns heap data (release with stn__msg_free).
 * On failure *out is left empty (nothing to free) and eb says what and where, e.g.
 * "samples: column 'busy' has 3 rows, expected 4". Status codes: ETOOBIG (size or a limit),
 * EPROTO (not MessagePack, trailing bytes, not a map), EVERSION, ETYPE (unknown "t"),
 * EFIELD (missing or wrongly typed field), EVALUE (NaN, infinite, negative metric),
 * ECYCLE / EGRAPH (bad DAG). Never aborts on any input. */
stn_status stn__proto_decode(const void *data, size_t len, const stn_proto_limits *lim,
			     stn_msg *out, stn_errbuf *eb);

/* Releases what a decoded or filled message owns; the struct is left empty. NULL-safe. */
void stn__msg_free(stn_msg *m);

/* Encodes canonically into a buffer allocated with stn__malloc; caller frees with stn__free.
 * Fails with EINVAL if the message breaks the protocol's own rules. */
stn_status stn__proto_encode(const stn_msg *m, void **out, size_t *out_len, stn_errbuf *eb);

/* Readable, canonical JSON of a message (the meaning of a test vector), heap string freed
 * with stn__free. Keys in encode order, floats with %.17g, strings JSON-escaped. */
stn_status stn__proto_to_json(const stn_msg *m, char **out);

/* Wire name of a type ("samples") or NULL; and the reverse. */
const char *stn__msg_type_name(stn_msg_type t);

/* Allocates the columns of a SAMPLES message for n rows (bp column only if with_bp). */
stn_status stn__samples_alloc(stn_msg_samples *s, size_t n_rows, bool with_bp);
/* Allocates the arrays of a DECISION for n operators. */
stn_status stn__decision_alloc(stn_msg_decision *d, size_t n_ops);

#endif
