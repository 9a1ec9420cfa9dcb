/* dagjson: a job DAG as JSON, for the command line (inspect ged, inspect cluster) and tests.
 *
 *   {
 *     "operators": [
 *       {"id": 1, "name": "bids", "kind": "source", "stateful": false, "selectivity": 1,
 *        "source_rate": 10000, "parallelism": 2, "p_max": 64},
 *       {"id": 2, "name": "sink", "kind": "sink"}
 *     ],
 *     "edges": [{"from": 1, "to": 2, "partitioning": "forward"}]
 *   }
 *
 * Operators: "kind" is required (a wire name of dag.h: source, map, filter, flat_map,
 * exchange, window, join, aggregate, sink, other). Optional, with defaults: "id" (position + 1),
 * "name" (""), "stateful" (true for window, join and aggregate), "selectivity" (1),
 * "source_rate" (0), "parallelism" (1), "p_max" (the larger of 64 and parallelism).
 * Edges: "from" and "to" name an operator by id (a number) or by name (a string, which must
 * then be unique); "partitioning" is optional ("forward"). Unknown members are errors, so a
 * misspelt key does not silently take a default. The result must pass stn__dag_validate.
 *
 * Input is bounded (STN_DAGJSON_MAX_BYTES, nesting depth STN_DAGJSON_MAX_DEPTH, the DAG
 * limits of dag.h); errors name the line and column, or the JSON path of the bad value. */
#ifndef STN_DAGJSON_H
#define STN_DAGJSON_H

#include <stddef.h>

#include "dag.h"
#include "status.h"

#define STN_DAGJSON_MAX_BYTES (4u * 1024u * 1024u)
#define STN_DAGJSON_MAX_DEPTH 16u

/* Parses text[0..len) into out (initialised or zero-filled; previous contents released).
 * STN_EPROTO for malformed JSON, STN_EFIELD for a wrong document shape (missing or unknown
 * member, wrong type), STN_EGRAPH / STN_EVALUE / STN_ECYCLE for a graph that is not valid,
 * STN_ETOOBIG over the limits, STN_ENOMEM. On error out is left empty. */
stn_status stn__dagjson_parse(const char *text, size_t len, stn_dag *out, stn_errbuf *eb);

/* Reads and parses a file ("-" is standard input). STN_ENOTFOUND / STN_EIO for the file. */
stn_status stn__dagjson_read(const char *path, stn_dag *out, stn_errbuf *eb);

/* Serialises d (every field, ids in edges) into a new NUL-terminated buffer (*out, caller
 * frees with stn__free; *len excludes the NUL). Parsing the result gives d back exactly
 * (doubles are printed with 17 significant digits). */
stn_status stn__dagjson_format(const stn_dag *d, char **out, size_t *len, stn_errbuf *eb);

#endif
