/* Clocks and ISO 8601 UTC timestamps with milliseconds ("2026-03-10T09:05:00.000Z"). */
#ifndef OD_TIMEFMT_H
#define OD_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

#define TIME_ISO_LEN 32

int64_t time_now_ms(void);        /* wall clock, Unix epoch milliseconds */
int64_t time_monotonic_ms(void);  /* for timeouts and durations */

/* Writes e.g. "2026-03-10T09:05:00.000Z"; returns buf. */
char *time_format_ms(int64_t unix_ms, char *buf, size_t size);

/* Parses "YYYY-MM-DDTHH:MM:SS[.fff](Z|+HH:MM|-HH:MM)". 0 on success, -1 if malformed. */
int time_parse_iso(const char *text, int64_t *unix_ms);

#endif
