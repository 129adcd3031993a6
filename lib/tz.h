/* Time zones from the tz database, read directly (TZif files under /usr/share/zoneinfo, or
 * $TZDIR), without ever touching the process-wide TZ: the services are multi-threaded and
 * localtime_r/tzset would race with every other thread.
 *
 * A zone is loaded once (version 2+ 64-bit data when present, else the 32-bit data) and kept
 * for the life of the process in a cache guarded by a mutex; instants after the last
 * transition of the table follow the POSIX TZ rule in the file's footer
 * ("EST5EDT,M3.2.0,M11.1.0").
 *
 * Ownership: a struct tz_zone returned by tz_get belongs to the cache and stays valid until
 * tz_cache_clear (tests and exit only); callers never free it. Every function here is
 * thread-safe. */
#ifndef OD_TZ_H
#define OD_TZ_H

#include <stdbool.h>
#include <stdint.h>

struct tz_zone;

#define TZ_NAME_MAX 64

/* The zone named name ("Europe/London", "UTC"), loaded on first use; NULL when the name is
 * malformed or not a zone of the tz database. */
const struct tz_zone *tz_get(const char *name);
/* The zone's name as given to tz_get. */
const char *tz_name(const struct tz_zone *zone);
/* Frees every cached zone (pointers from tz_get become invalid). */
void tz_cache_clear(void);

/* Parses a POSIX TZ rule string into a zone of its own (caller frees it with tz_free); for
 * tests and for zones given as rules. NULL when malformed. */
struct tz_zone *tz_from_posix(const char *rule);
void tz_free(struct tz_zone *zone);

/* Seconds east of UTC in force at the Unix instant t (seconds). */
int32_t tz_offset(const struct tz_zone *zone, int64_t t);

/* A local wall-clock time. */
struct tz_local {
    int year, month, day;     /* month 1..12, day 1..31 */
    int hour, minute, second;
    int iso_weekday;          /* 1 Monday .. 7 Sunday */
    int32_t utc_offset;       /* seconds east of UTC */
};

/* The local time at instant t (Unix seconds) in zone. */
void tz_to_local(const struct tz_zone *zone, int64_t t, struct tz_local *out);

/* The instant at which the local wall clock of zone reads year-month-day hour:minute:second.
 * In a gap (spring forward) the result is the instant the same number of seconds after the
 * gap's start; in an overlap (fall back) the earlier instant. */
int64_t tz_from_local(const struct tz_zone *zone, int year, int month, int day, int hour,
                      int minute, int second);

/* Days since 1970-01-01 of a proleptic Gregorian date, and back. */
int64_t tz_days_from_civil(int year, int month, int day);
void tz_civil_from_days(int64_t days, int *year, int *month, int *day);

#endif
