#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

stn_logger stn__logger_default(void)
{
	stn_logger lg = {NULL, NULL, STN_LOG_INFO};
	return lg;
}

const char *stn__log_level_name(int level)
{
	switch (level) {
	case STN_LOG_ERROR:
		return "error";
	case STN_LOG_WARN:
		return "warn";
	case STN_LOG_INFO:
		return "info";
	default:
		return "debug";
	}
}

void stn__log(const stn_logger *lg, int level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (lg == NULL || level > lg->level)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (lg->fn != NULL) {
		lg->fn(lg->user, level, line);
		return;
	}
	{
		struct timespec ts;
		struct tm tm;
		char stamp[32];

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
		fprintf(stderr, "%s.%03ldZ %-5s streamtune: %s\n", stamp, ts.tv_nsec / 1000000L,
			stn__log_level_name(level), line);
	}
}
