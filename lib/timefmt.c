#include "timefmt.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t time_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t time_monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *time_format_ms(int64_t unix_ms, char *buf, size_t size)
{
    time_t secs = (time_t)(unix_ms / 1000);
    int millis = (int)(unix_ms % 1000);
    struct tm tm;

    if (millis < 0) {
        millis += 1000;
        secs -= 1;
    }
    gmtime_r(&secs, &tm);
    snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
    return buf;
}

static int parse_digits(const char **p, int count, int *out)
{
    int value = 0;
    for (int i = 0; i < count; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return -1;
        value = value * 10 + ((*p)[i] - '0');
    }
    *p += count;
    *out = value;
    return 0;
}

static int expect(const char **p, char c)
{
    if (**p != c)
        return -1;
    (*p)++;
    return 0;
}

int time_parse_iso(const char *text, int64_t *unix_ms)
{
    static const int days_in_month[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const char *p = text;
    int year, month, day, hour, minute, second, millis = 0, offset_min = 0;
    struct tm tm;

    if (parse_digits(&p, 4, &year) || expect(&p, '-') || parse_digits(&p, 2, &month) ||
        expect(&p, '-') || parse_digits(&p, 2, &day) || (*p != 'T' && *p != 't') ||
        (p++, parse_digits(&p, 2, &hour)) || expect(&p, ':') || parse_digits(&p, 2, &minute) ||
        expect(&p, ':') || parse_digits(&p, 2, &second))
        return -1;
    if (*p == '.') {
        int scale = 100, digits = 0;
        p++;
        while (isdigit((unsigned char)*p)) {
            if (digits++ < 3) {
                millis += (*p - '0') * scale;
                scale /= 10;
            }
            p++;
        }
        if (digits == 0)
            return -1;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1, oh, om;
        p++;
        if (parse_digits(&p, 2, &oh) || expect(&p, ':') || parse_digits(&p, 2, &om) || oh > 23 ||
            om > 59)
            return -1;
        offset_min = sign * (oh * 60 + om);
    } else {
        return -1;
    }
    if (*p != '\0' || month < 1 || month > 12 || day < 1 || day > days_in_month[month - 1] ||
        hour > 23 || minute > 59 || second > 60)
        return -1;
    if (month == 2 && day == 29 && !((year % 4 == 0 && year % 100 != 0) || year % 400 == 0))
        return -1;
    memset(&tm, 0, sizeof tm);
    tm.tm_year = year - 1900;
    tm.tm_mon = month - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = minute;
    tm.tm_sec = second;
    *unix_ms = ((int64_t)timegm(&tm) - (int64_t)offset_min * 60) * 1000 + millis;
    return 0;
}
