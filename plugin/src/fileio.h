/* fileio: reading a whole input file (or standard input) into memory, bounded. */
#ifndef STN_FILEIO_H
#define STN_FILEIO_H

#include <stddef.h>

#include "status.h"

/* Reads all of path ("-" is standard input) into a new buffer, NUL-terminated (the NUL is
 * not counted in *len); the caller frees *buf with stn__free. STN_ENOTFOUND if the file does
 * not exist, STN_EIO if it cannot be opened or read, STN_ETOOBIG if it holds more than max
 * bytes, STN_ENOMEM; on error *buf is NULL. */
stn_status stn__file_read_all(const char *path, size_t max, char **buf, size_t *len,
			      stn_errbuf *eb);

#endif
