#include "status.h"

#include <stdio.h>
#include <string.h>

const char *stn__strerror(stn_status s)
{
	switch (s) {
#define STN_STATUS_MSG(name, value, msg) \
	case STN_##name:                 \
		return msg;
		STN_STATUS_MAP(STN_STATUS_MSG)
#undef STN_STATUS_MSG
	}
	return "unknown status";
}

const char *stn__status_name(stn_status s)
{
	switch (s) {
#define STN_STATUS_NAME(name, value, msg) \
	case STN_##name:                  \
		return #name;
		STN_STATUS_MAP(STN_STATUS_NAME)
#undef STN_STATUS_NAME
	}
	return "EUNKNOWN";
}

stn_status stn__status_from_name(const char *name, stn_status *out)
{
	if (name == NULL || out == NULL)
		return STN_EINVAL;
#define STN_STATUS_LOOKUP(sname, value, msg) \
	if (strcmp(name, #sname) == 0) {     \
		*out = STN_##sname;          \
		return STN_OK;               \
	}
	STN_STATUS_MAP(STN_STATUS_LOOKUP)
#undef STN_STATUS_LOOKUP
	return STN_ENOTFOUND;
}

stn_status stn__vfail(stn_errbuf *eb, stn_status s, const char *fmt, va_list ap)
{
	char text[STN_ERRMSG_CAP];

	/* Formatted apart and then copied: eb->text may be one of the arguments (a message
	 * wrapping the one before it), and vsnprintf must not write over what it reads. */
	if (eb != NULL) {
		vsnprintf(text, sizeof(text), fmt, ap);
		memcpy(eb->text, text, strlen(text) + 1);
	}
	return s;
}

stn_status stn__fail(stn_errbuf *eb, stn_status s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	stn__vfail(eb, s, fmt, ap);
	va_end(ap);
	return s;
}
