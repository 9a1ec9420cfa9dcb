/* status: names and messages of stn_status, and a formatted error message buffer. */
#ifndef STN_STATUS_H
#define STN_STATUS_H

#include <stdarg.h>
#include <stddef.h>

#include "streamtune/streamtune.h"

const char *stn__strerror(stn_status s);
const char *stn__status_name(stn_status s);

/* Maps a symbolic name ("EPROTO") back to its code; STN_ENOTFOUND if unknown. */
stn_status stn__status_from_name(const char *name, stn_status *out);

/* A fixed-size error text, kept by contexts and decoders. */
#define STN_ERRMSG_CAP 512
typedef struct stn_errbuf {
	char text[STN_ERRMSG_CAP];
} stn_errbuf;

/* Formats into eb (truncating) and returns s, so callers can `return stn__fail(...)`.
 * eb->text may be among the arguments: `stn__fail(eb, s, "%s: %s", path, eb->text)`. */
stn_status stn__fail(stn_errbuf *eb, stn_status s, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
stn_status stn__vfail(stn_errbuf *eb, stn_status s, const char *fmt, va_list ap);

#endif
