/* The retry schedule (WEBHOOK_RETRY_SCHEDULE) and Retry-After parsing. */
#include <ctype.h>
#include <curl/curl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schedule.h"

int retry_schedule_parse(const char *text, struct retry_schedule *s, char *err,
                         size_t err_size)
{
    const char *p = text ? text : "";
    memset(s, 0, sizeof *s);
    while (*p != '\0') {
        char *end;
        double v;
        while (*p == ' ')
            p++;
        v = strtod(p, &end);
        if (end == p || !isfinite(v) || v < 0 || v > 30.0 * 86400) {
            snprintf(err, err_size, "retry schedule: '%s' is not a number of seconds (0..2592000)", p);
            return -1;
        }
        if (s->n == RETRY_SCHEDULE_MAX) {
            snprintf(err, err_size, "retry schedule: at most %d entries", RETRY_SCHEDULE_MAX);
            return -1;
        }
        s->delays[s->n++] = v;
        p = end;
        while (*p == ' ')
            p++;
        if (*p == ',') {
            p++;
            if (*p == '\0') {
                snprintf(err, err_size, "retry schedule: trailing comma");
                return -1;
            }
        } else if (*p != '\0') {
            snprintf(err, err_size, "retry schedule: unexpected '%s'", p);
            return -1;
        }
    }
    if (s->n == 0) {
        snprintf(err, err_size, "retry schedule: empty");
        return -1;
    }
    return 0;
}

double retry_schedule_next(const struct retry_schedule *s, int attempts_done, double retry_after,
                           double jitter_fraction, double unit_random)
{
    double delay;
    if (attempts_done < 0 || attempts_done >= s->n)
        return -1;
    delay = s->delays[attempts_done];
    delay += delay * jitter_fraction * (2.0 * unit_random - 1.0);
    if (delay < retry_after)
        delay = retry_after;
    return delay < 0 ? 0 : delay;
}

double retry_after_parse(const char *value, int64_t now_unix)
{
    char *end;
    double v;
    time_t when;
    while (value != NULL && isspace((unsigned char)*value))
        value++;
    if (value == NULL || *value == '\0')
        return -1;
    if (isdigit((unsigned char)*value)) {
        v = strtod(value, &end);
        while (isspace((unsigned char)*end))
            end++;
        return (*end == '\0' && isfinite(v)) ? v : -1;
    }
    when = curl_getdate(value, NULL);
    if (when == (time_t)-1)
        return -1;
    return when > now_unix ? (double)(when - now_unix) : 0;
}
