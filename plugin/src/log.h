/* log: levelled log lines to a callback or stderr. */
#ifndef STN_LOG_H
#define STN_LOG_H

#include "streamtune/streamtune.h"

typedef struct stn_logger {
	stn_log_fn fn; /* NULL: stderr */
	void *user;
	int level;     /* lines above this level are dropped */
} stn_logger;

/* A logger to stderr at INFO, for the CLI and tests. */
stn_logger stn__logger_default(void);

void stn__log(const stn_logger *lg, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Name of a level ("error", "warn", "info", "debug"). */
const char *stn__log_level_name(int level);

#define STN_LOGE(lg, ...) stn__log((lg), STN_LOG_ERROR, __VA_ARGS__)
#define STN_LOGW(lg, ...) stn__log((lg), STN_LOG_WARN, __VA_ARGS__)
#define STN_LOGI(lg, ...) stn__log((lg), STN_LOG_INFO, __VA_ARGS__)
#define STN_LOGD(lg, ...) stn__log((lg), STN_LOG_DEBUG, __VA_ARGS__)

#endif
