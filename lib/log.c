#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "arena.h"
#include "timefmt.h"

static const char *log_service = "outdial";
static enum log_level log_min_level = LOG_INFO;
static const char *const log_level_names[] = {"debug", "info", "warn", "error"};

void log_init(const char *service)
{
    const char *level = getenv("LOG_LEVEL");
    log_service = service;
    if (level == NULL)
        return;
    for (int i = LOG_DEBUG; i <= LOG_ERROR; i++)
        if (strcasecmp(level, log_level_names[i]) == 0)
            log_min_level = (enum log_level)i;
}

int log_enabled(enum log_level level)
{
    return level >= log_min_level;
}

void log_fields(enum log_level level, json_t *fields)
{
    char ts[TIME_ISO_LEN];
    char *line;
    size_t len;

    if (!log_enabled(level) || fields == NULL) {
        json_decref(fields);
        return;
    }
    time_format_ms(time_now_ms(), ts, sizeof ts);
    json_object_set_new(fields, "ts", json_string(ts));
    json_object_set_new(fields, "level", json_string(log_level_names[level]));
    json_object_set_new(fields, "svc", json_string(log_service));
    line = json_dumps(fields, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(fields);
    if (line == NULL)
        return;
    len = strlen(line);
    line[len] = '\n'; /* json_dumps leaves the NUL; replace it so one write carries the line */
    if (write(STDERR_FILENO, line, len + 1) < 0) {
        /* Nowhere left to report a failing stderr. */
    }
    arena_json_free(line);
}

void log_msg(enum log_level level, const char *request_id, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    json_t *fields;

    if (!log_enabled(level))
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fields = json_object();
    if (request_id != NULL && request_id[0] != '\0')
        json_object_set_new(fields, "rid", json_string(request_id));
    json_object_set_new(fields, "msg", json_stringn_nocheck(msg, strlen(msg)));
    log_fields(level, fields);
}
