/* model: the model file. Layout (all integers little-endian, doubles as IEEE-754 binary64
 * bit patterns in little-endian, regardless of host):
 *   header (32 bytes): magic "STNMODEL" | u32 version | u32 endian marker 0x01020304 |
 *                      u64 payload length | u32 CRC-32 (IEEE) of the payload | u32 reserved 0
 *   payload: u32 layers | u32 width | u32 feat_dim | u64 seed | u64 data_hash |
 *            str description | u32 n_members | members...
 *   member:  str name | f64 radius | u8 has_dag | [dag] | u64 n_params | f64 params[n_params]
 *   dag:     u32 n_ops | ops (u32 id, str name, u32 kind, u8 stateful, f64 selectivity,
 *            f64 source_rate, u32 parallelism, u32 p_max) | u32 n_edges | (u32 from, u32 to,
 *            u32 part)
 *   str:     u32 length | bytes (no NUL)
 * A member is one encoder+head (a cluster's, with its medoid DAG and radius, or the global
 * one without a DAG). Every count is bounded; files are written atomically. */
#ifndef STN_MODEL_H
#define STN_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dag.h"
#include "gnn.h"
#include "status.h"

#define STN_MODEL_MAGIC "STNMODEL"
#define STN_MODEL_VERSION 1u
#define STN_MODEL_ENDIAN_MARK 0x01020304u
#define STN_MODEL_HEADER_SIZE 32u
#define STN_MODEL_MAX_MEMBERS 256u
#define STN_MODEL_MAX_DESC 4096u
#define STN_MODEL_MAX_NAME 63u
#define STN_MODEL_MAX_FILE (256u * 1024u * 1024u)

typedef struct stn_model_member {
	char name[STN_MODEL_MAX_NAME + 1];
	double radius;
	bool has_dag;
	stn_dag dag;
	stn_net net;
} stn_model_member;

typedef struct stn_model {
	stn_net_config cfg;
	uint64_t seed;
	uint64_t data_hash;
	char *description; /* NUL-terminated, may be empty */
	size_t n_members;
	stn_model_member *members;
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

/* Atomic write: temporary file in the same directory, fsync, rename, fsync directory. */
stn_status stn__model_write(const stn_model *m, const char *path, stn_errbuf *eb);
stn_status stn__model_read(stn_model *m, const char *path, stn_errbuf *eb);

#endif
