/* gen_vectors: the protocol test vectors of proto/vectors/ (proto/PROTOCOL.md §9), written
 * deterministically by the reference C codec. Shared by the stn_gen_vectors tool and the test
 * that checks the committed vectors against a fresh generation. */
#ifndef STN_GEN_VECTORS_H
#define STN_GEN_VECTORS_H

#include <stddef.h>
#include <stdio.h>

/* Writes every vector into dir/valid and dir/invalid (created if missing; files of the same
 * names are overwritten, others are left alone). Every valid vector is checked to decode and
 * re-encode byte-identical, every invalid one to fail with its documented status, before it
 * is written. Progress and faults go to log (may be NULL). Returns 0, or -1 on any fault. */
int stn_gen_vectors_write(const char *dir, FILE *log);

/* Re-indents the one-line JSON of stn__proto_to_json for reading: one top-level key per line,
 * arrays of objects or arrays one element per line, everything else as given. Returns a
 * malloc'd string (free()), NULL on allocation failure. */
char *stn_gen_pretty_json(const char *json);

/* Packs a message written in the vector notation into MessagePack: JSON-like values
 * ({...} maps with any keys, [...] arrays, "strings" with \" \\ \0 \t \n escapes, integers
 * (non-negative: smallest uint form, negative: smallest int form), numbers with '.' or 'e' as
 * float64, true, false, nil, nan, inf, -inf) plus forms for exact bytes: f32(x), f64(x),
 * u8(n) u16(n) u32(n) u64(n) i8(n) i16(n) i32(n) i64(n) (that integer encoding), str(N) (N
 * bytes 'a'), rep(N, value) (value N times, inside an array) and raw(hex bytes). Several
 * top-level values are packed one after the other. *out is malloc'd (free()). Returns 0, or
 * -1 on a notation error. */
int stn_gen_pack(const char *spec, unsigned char **out, size_t *len);

#endif
