/* JSON-lines logging to stderr: one object per line with ts, level, svc, rid and msg.
 * Thread-safe (one write(2) per line). */
#ifndef OD_LOG_H
#define OD_LOG_H

#include <jansson.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 };

/* Sets the service name stamped on every line and the minimum level (LOG_LEVEL env:
 * debug|info|warn|error). Call once at start-up, before threads. */
void log_init(const char *service);

/* request_id may be NULL. */
void log_msg(enum log_level level, const char *request_id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes `fields` (an object, reference stolen) with ts/level/svc added. */
void log_fields(enum log_level level, json_t *fields);

int log_enabled(enum log_level level);

#define log_debug(rid, ...) log_msg(LOG_DEBUG, rid, __VA_ARGS__)
#define log_info(rid, ...) log_msg(LOG_INFO, rid, __VA_ARGS__)
#define log_warn(rid, ...) log_msg(LOG_WARN, rid, __VA_ARGS__)
#define log_error(rid, ...) log_msg(LOG_ERROR, rid, __VA_ARGS__)

#endif
