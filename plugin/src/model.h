/* model: the model file. Layout (all integers little-endian, doubles as IEEE-754 binary64
 * bit patterns in little-endian, regardless of host):
 *   header (32 bytes): magic "STNMODEL" | u32 version | u32 endian marker 0x01020304 |
 *                      u64 payload length | u32 CRC-32 (IEEE) of the payload | u32 reserved 0
 *   payload: u32 layers | u32 width | u32 feat_dim | u64 seed | u64 data_hash |
 *            str description | u32 n_members | members... | [version 2: sections]
 *   member:  str name | f64 radius | u8 has_dag | [dag] | u64 n_params | f64 params[n_params]
 *   dag:     u32 n_ops | ops (u32 id, str name, u32 kind, u8 stateful, f64 selectivity,
 *            f64 source_rate, u32 parallelism, u32 p_max) | u32 n_edges | (u32 from, u32 to,
 *            u32 part)
 *   str:     u32 length | bytes (no NUL)
 * A member is one encoder+head (a cluster's, with its medoid DAG and radius, or the global
 * one without a DAG). Every count is bounded; files are written atomically.
 *
 * Version 2 appends, after the members, u32 n_sections and that many sections
 * (u32 tag | u32 length | body); a reader skips tags it does not know, so sections can be
 * added without a new version. Tags:
 *   1 assignment: f64 margin
 *   2 training:   u32 max_epochs | u32 batch | u32 patience | f64 lr | f64 val_fraction |
 *                 u32 k_min | u32 k_max | f64 radius_quantile | u32 ged_exact_max_nodes |
 *                 u32 min_cluster_windows | u32 max_ops
 *   3 data:       u64 jobs | u64 dag_versions | u64 unique_dags | u64 windows |
 *                 u64 observations | u64 positives | f64 silhouette | u32 k | u32 n_histories |
 *                 (str name | u64 digest | u64 jobs | u64 windows) per history
 *   4 members:    u32 n (= n_members) | (u64 dags | u64 windows | u64 observations |
 *                 u64 positives | u32 epochs | f64 val_loss | u8 shared_global) per member
 * A model without this information (has_info false) is written as version 1, which older
 * builds read; version 1 files are read with has_info false. */
#ifndef STN_MODEL_H
#define STN_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dag.h"
#include "ged.h"
#include "gnn.h"
#include "status.h"

#define STN_MODEL_MAGIC "STNMODEL"
#define STN_MODEL_VERSION 2u   /* newest version written and read */
#define STN_MODEL_VERSION_1 1u /* no sections; still read, and written for models without info */
#define STN_MODEL_ENDIAN_MARK 0x01020304u
#define STN_MODEL_HEADER_SIZE 32u
#define STN_MODEL_MAX_MEMBERS 256u
#define STN_MODEL_MAX_DESC 4096u
#define STN_MODEL_MAX_NAME 63u
#define STN_MODEL_MAX_FILE (256u * 1024u * 1024u)
#define STN_MODEL_MAX_SECTIONS 64u
#define STN_MODEL_MAX_HISTORIES 256u
#define STN_MODEL_DEFAULT_MARGIN 1.5

typedef struct stn_model_member {
	char name[STN_MODEL_MAX_NAME + 1];
	double radius;
	bool has_dag;
	stn_dag dag;
	stn_net net;
	/* Version 2 statistics (zero in version 1 files): the cluster's distinct DAGs, its
	 * windows and labelled observations (positives = bottleneck labels), the training
	 * epochs and best validation loss; shared_global: too little data of its own, the
	 * parameters are a copy of the global member's. */
	uint64_t dags, windows, observations, positives;
	uint32_t epochs;
	double val_loss;
	bool shared_global;
} stn_model_member;

/* How a version 2 model was trained (for the record; inference does not need it). */
typedef struct stn_model_training {
	uint32_t max_epochs, batch, patience;
	double lr, val_fraction;
	uint32_t k_min, k_max;
	double radius_quantile;
	uint32_t ged_exact_max_nodes;
	uint32_t min_cluster_windows;
	uint32_t max_ops;
} stn_model_training;

/* One history a version 2 model was trained from: base name, digest of what was read. */
typedef struct stn_model_history {
	char name[STN_MODEL_MAX_NAME + 1];
	uint64_t digest;
	uint64_t jobs, windows;
} stn_model_history;

typedef struct stn_model_data {
	uint64_t jobs, dag_versions, unique_dags, windows, observations, positives;
	double silhouette;
	uint32_t k;
	size_t n_histories;
	stn_model_history *histories; /* owned by the model */
} stn_model_data;

typedef struct stn_model {
	stn_net_config cfg;
	uint64_t seed;
	uint64_t data_hash;
	char *description; /* NUL-terminated, may be empty */
	size_t n_members;
	stn_model_member *members;
	/* Format version of the file read (0 for a model built in memory). */
	uint32_t version;
	/* Version 2 information: set has_info to write it (and version 2). */
	bool has_info;
	double margin; /* assignment margin (radius times margin); version 1: the default */
	stn_model_training train;
	stn_model_data data;
} stn_model;

/* CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320), continuing from crc (0 to start). */
uint32_t stn__crc32(uint32_t crc, const void *data, size_t len);

stn_status stn__model_init(stn_model *m, const stn_net_config *cfg, uint64_t seed,
			   const char *description, stn_errbuf *eb);
void stn__model_fini(stn_model *m);
/* Appends a member holding a copy of net (same config) and of dag (may be NULL). */
stn_status stn__model_add_member(stn_model *m, const char *name, const stn_net *net,
				 const stn_dag *dag, double radius, stn_errbuf *eb);

/* Serialises into a new buffer (*out, stn__free). */
stn_status stn__model_encode(const stn_model *m, uint8_t **out, size_t *len, stn_errbuf *eb);
/* Parses a whole file image. STN_ECORRUPT (truncated, checksum, magic, endianness, bounds,
 * trailing bytes), STN_EVERSION (version), STN_EMODEL (feature layout of another build). */
stn_status stn__model_decode(stn_model *m, const uint8_t *data, size_t len, stn_errbuf *eb);

/* Copies a list of histories into m->data (replacing the previous one). */
stn_status stn__model_set_histories(stn_model *m, const stn_model_history *h, size_t n,
				    stn_errbuf *eb);

/* Index of the global member (the first without a DAG), or -1. */
long stn__model_global_member(const stn_model *m);

/* Which member serves a DAG: the cluster of the nearest medoid by normalised GED, or the
 * global member when the DAG is farther than that cluster's radius times the margin (or
 * the model has no clusters). */
typedef struct stn_model_assignment {
	long member;          /* member serving the DAG; -1 if the model has no usable member */
	long nearest;         /* member of the nearest medoid, -1 if there is none */
	double distance;      /* normalised GED to that medoid (NaN without one) */
	double radius;        /* its radius */
	double margin;        /* the margin applied */
	bool global;          /* member is the global one */
	stn_ged_result path;  /* edit path from the DAG to the nearest medoid (want_path) */
} stn_model_assignment;

/* dag borrowed for the call, valid. margin <= 0 takes the model's. ged may be NULL
 * (defaults). out is overwritten; release with stn__model_assignment_fini. Errors of
 * stn__ged_compute. */
stn_status stn__model_assign(const stn_model *m, const stn_dag *dag, double margin,
			     const stn_ged_opts *ged, bool want_path, stn_model_assignment *out,
			     stn_errbuf *eb);
void stn__model_assignment_fini(stn_model_assignment *a);

/* The default model, used by the streamtune policy when no model is given. Where it is:
 *   1. $STREAMTUNE_MODEL, a model file ("none": no default model);
 *   2. else <dir>/../plugin/models/default.stnm, where <dir> is the directory of the object
 *      holding the plugin code (libstreamtune.so, or the streamtune executable): the build
 *      directory beside the source tree's plugin/models, as `cmake -B build` makes it;
 *   3. else <dir>/../share/streamtune/models/default.stnm, where `cmake --install` puts it.
 * The file is made by scripts/gen-default-model.sh. */
#define STN_MODEL_ENV "STREAMTUNE_MODEL"
#define STN_MODEL_DEFAULT_NAME "default.stnm"

/* The path the rule above picks into buf (the first candidate that exists).
 * STN_ENOTFOUND (with why) if there is none. */
stn_status stn__model_default_path(char *buf, size_t cap, stn_errbuf *eb);

/* The default model, read once per process and kept until exit (thread-safe); NULL if there
 * is none or it cannot be read. *path (may be NULL) receives the file tried ("" if none),
 * *why (may be NULL) the reason it is not available. */
const stn_model *stn__model_default(const char **path, const char **why);

/* Atomic write: temporary file in the same directory, fsync, rename, fsync directory. */
stn_status stn__model_write(const stn_model *m, const char *path, stn_errbuf *eb);
/* Reads and decodes a model file (the errors of stn__model_decode and of reading it, each
 * message naming path). */
stn_status stn__model_read(stn_model *m, const char *path, stn_errbuf *eb);

#endif
