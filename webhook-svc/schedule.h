/* When a failed delivery is tried again (schedule.c), and Retry-After. */
#ifndef WEBHOOK_SVC_SCHEDULE_H
#define WEBHOOK_SVC_SCHEDULE_H

#include <stdint.h>

#define RETRY_SCHEDULE_MAX 32
#define RETRY_SCHEDULE_DEFAULT "0,5,300,1800,7200,18000,36000,36000"

/* delays[i] is the wait before attempt i+1 (delays[0]: the first attempt, normally 0). */
struct retry_schedule {
    int n;
    double delays[RETRY_SCHEDULE_MAX]; /* seconds */
};

/* Parses comma-separated seconds (decimals allowed). 0, or -1 with err filled. */
int retry_schedule_parse(const char *text, struct retry_schedule *s, char *err,
                         size_t err_size);
/* Seconds to wait after `attempts_done` failed attempts, or -1 when none is left. The delay
 * gets +-jitter_fraction of itself (uniform, from unit_random in [0,1)) and is at least
 * retry_after (a receiver's Retry-After; 0 when none). */
double retry_schedule_next(const struct retry_schedule *s, int attempts_done, double retry_after,
                           double jitter_fraction, double unit_random);
/* Parses a Retry-After value (delta-seconds or an HTTP date, against now_unix). -1 if neither. */
double retry_after_parse(const char *value, int64_t now_unix);

#endif
