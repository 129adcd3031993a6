/* lib/timefmt: ISO 8601 UTC formatting with milliseconds, parsing with offsets, clocks. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "timefmt.h"

#define T_2026_03_10_0905 INT64_C(1773133500000) /* 2026-03-10T09:05:00.000Z */

static const char *fmt(int64_t ms)
{
    static char buf[TIME_ISO_LEN];
    memset(buf, 'X', sizeof buf);
    return time_format_ms(ms, buf, sizeof buf);
}

/* Parses text, failing the test if it does not parse. */
static int64_t parse_ok(const char *text)
{
    int64_t ms = INT64_MIN;
    ck_assert_msg(time_parse_iso(text, &ms) == 0, "did not parse \"%s\"", text);
    return ms;
}

START_TEST(format_known_values)
{
    ck_assert_str_eq(fmt(0), "1970-01-01T00:00:00.000Z");
    ck_assert_str_eq(fmt(T_2026_03_10_0905), "2026-03-10T09:05:00.000Z");
    ck_assert_str_eq(fmt(INT64_C(1709210096789)), "2024-02-29T12:34:56.789Z");
    ck_assert_str_eq(fmt(INT64_C(951782400000)), "2000-02-29T00:00:00.000Z");
    ck_assert_str_eq(fmt(INT64_C(2147483648000)), "2038-01-19T03:14:08.000Z");
    ck_assert_str_eq(fmt(INT64_C(253402300799999)), "9999-12-31T23:59:59.999Z");
}
END_TEST

START_TEST(format_pads_milliseconds)
{
    ck_assert_str_eq(fmt(1), "1970-01-01T00:00:00.001Z");
    ck_assert_str_eq(fmt(5), "1970-01-01T00:00:00.005Z");
    ck_assert_str_eq(fmt(50), "1970-01-01T00:00:00.050Z");
    ck_assert_str_eq(fmt(999), "1970-01-01T00:00:00.999Z");
    ck_assert_str_eq(fmt(1000), "1970-01-01T00:00:01.000Z");
    ck_assert_str_eq(fmt(86400000 + 7), "1970-01-02T00:00:00.007Z");
    ck_assert_str_eq(fmt(T_2026_03_10_0905 + 42), "2026-03-10T09:05:00.042Z");
}
END_TEST

START_TEST(format_negative)
{
    ck_assert_str_eq(fmt(-1), "1969-12-31T23:59:59.999Z");
    ck_assert_str_eq(fmt(-999), "1969-12-31T23:59:59.001Z");
    ck_assert_str_eq(fmt(-1000), "1969-12-31T23:59:59.000Z");
    ck_assert_str_eq(fmt(-1001), "1969-12-31T23:59:58.999Z");
    ck_assert_str_eq(fmt(INT64_C(-14182940000)), "1969-07-20T20:17:40.000Z");
    ck_assert_str_eq(fmt(INT64_C(-14182939950)), "1969-07-20T20:17:40.050Z");
}
END_TEST

START_TEST(format_returns_buf_and_truncates)
{
    char buf[TIME_ISO_LEN], small[11];
    ck_assert_ptr_eq(time_format_ms(0, buf, sizeof buf), buf);
    ck_assert_uint_eq(strlen(buf), 24);
    memset(small, 'X', sizeof small);
    ck_assert_ptr_eq(time_format_ms(0, small, sizeof small), small);
    ck_assert_str_eq(small, "1970-01-01");
}
END_TEST

START_TEST(parse_utc)
{
    ck_assert_int_eq(parse_ok("2026-03-10T09:05:00.000Z"), T_2026_03_10_0905);
    ck_assert_int_eq(parse_ok("2026-03-10T09:05:00Z"), T_2026_03_10_0905);
    ck_assert_int_eq(parse_ok("2026-03-10t09:05:00z"), T_2026_03_10_0905);
    ck_assert_int_eq(parse_ok("1970-01-01T00:00:00.000Z"), 0);
    ck_assert_int_eq(parse_ok("1969-12-31T23:59:59.999Z"), -1);
    ck_assert_int_eq(parse_ok("1969-07-20T20:17:40Z"), INT64_C(-14182940000));
    ck_assert_int_eq(parse_ok("2024-02-29T12:34:56.789Z"), INT64_C(1709210096789));
    ck_assert_int_eq(parse_ok("2000-02-29T00:00:00Z"), INT64_C(951782400000));
}
END_TEST

START_TEST(parse_fractions)
{
    ck_assert_int_eq(parse_ok("2026-03-10T09:05:00.5Z"), T_2026_03_10_0905 + 500);
    ck_assert_int_eq(parse_ok("2026-03-10T09:05:00.05Z"), T_2026_03_10_0905 + 50);
    ck_assert_int_eq(parse_ok("2026-03-10T09:05:00.007Z"), T_2026_03_10_0905 + 7);
    /* digits past milliseconds are dropped, not rounded */
    ck_assert_int_eq(parse_ok("2026-03-10T09:05:00.123999Z"), T_2026_03_10_0905 + 123);
    ck_assert_int_eq(parse_ok("2026-03-10T09:05:00.999999999Z"), T_2026_03_10_0905 + 999);
}
END_TEST

START_TEST(parse_offsets)
{
    ck_assert_int_eq(parse_ok("2026-03-10T14:35:00+05:30"), T_2026_03_10_0905);
    ck_assert_int_eq(parse_ok("2026-03-10T14:35:00.250+05:30"), T_2026_03_10_0905 + 250);
    ck_assert_int_eq(parse_ok("2026-03-10T03:35:00-05:30"), T_2026_03_10_0905);
    ck_assert_int_eq(parse_ok("2026-03-10T09:05:00+00:00"), T_2026_03_10_0905);
    ck_assert_int_eq(parse_ok("2026-03-10T09:05:00-00:00"), T_2026_03_10_0905);
    /* the offset moves the date across midnight */
    ck_assert_int_eq(parse_ok("2026-03-11T00:05:00+15:00"), T_2026_03_10_0905);
    ck_assert_int_eq(parse_ok("2026-03-09T23:05:00-10:00"), T_2026_03_10_0905);
    ck_assert_int_eq(parse_ok("1970-01-01T05:30:00+05:30"), 0);
    ck_assert_int_eq(parse_ok("2026-03-10T09:05:00+23:59"),
                     T_2026_03_10_0905 - (23 * 60 + 59) * 60000);
}
END_TEST

START_TEST(parse_round_trip)
{
    static const int64_t values[] = {
        0, 1, 999, 1000, -1, -999, -1000, -1001, T_2026_03_10_0905, T_2026_03_10_0905 + 1,
        INT64_C(1709210096789), INT64_C(951782400000), INT64_C(-14182939950),
        INT64_C(2147483648000), INT64_C(4102444800000), INT64_C(253402300799999),
    };
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        char buf[TIME_ISO_LEN];
        int64_t back = INT64_MIN;
        time_format_ms(values[i], buf, sizeof buf);
        ck_assert_int_eq(time_parse_iso(buf, &back), 0);
        ck_assert_msg(back == values[i], "%s parsed as %lld, want %lld", buf, (long long)back,
                      (long long)values[i]);
    }
    /* every millisecond of a sample second, and each day boundary of a leap year */
    for (int64_t ms = T_2026_03_10_0905; ms < T_2026_03_10_0905 + 1000; ms++) {
        char buf[TIME_ISO_LEN];
        int64_t back = 0;
        time_format_ms(ms, buf, sizeof buf);
        ck_assert_int_eq(time_parse_iso(buf, &back), 0);
        ck_assert_int_eq(back, ms);
    }
    for (int64_t day = 0; day < 366; day++) {
        char buf[TIME_ISO_LEN];
        int64_t ms = INT64_C(1704067200000) + day * 86400000 - 1, back = 0; /* 2024-01-01 */
        time_format_ms(ms, buf, sizeof buf);
        ck_assert_int_eq(time_parse_iso(buf, &back), 0);
        ck_assert_int_eq(back, ms);
    }
}
END_TEST

START_TEST(parse_rejects_impossible_dates)
{
    static const char *const bad[] = {
        "2026-02-30T00:00:00Z", /* Feb 30 */
        "2023-02-29T00:00:00Z", /* not a leap year */
        "1900-02-29T00:00:00Z", /* century, not a leap year */
        "2026-04-31T00:00:00Z", "2026-06-31T00:00:00Z", "2026-09-31T00:00:00Z",
        "2026-11-31T00:00:00Z", "2026-01-32T00:00:00Z", "2026-00-10T00:00:00Z",
        "2026-13-10T00:00:00Z", "2026-03-00T00:00:00Z", "2026-03-10T24:00:00Z",
        "2026-03-10T09:60:00Z", "2026-03-10T09:05:61Z", "2026-03-10T09:05:99Z",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t ms = 0;
        ck_assert_msg(time_parse_iso(bad[i], &ms) == -1, "accepted \"%s\"", bad[i]);
    }
}
END_TEST

START_TEST(parse_accepts_leap_second)
{
    /* 23:59:60 is allowed and lands on the next day's first second */
    ck_assert_int_eq(parse_ok("2016-12-31T23:59:60Z"), INT64_C(1483228800000));
}
END_TEST

START_TEST(parse_rejects_garbage)
{
    static const char *const bad[] = {
        "",
        "garbage",
        "2026",
        "2026-03-10",
        "2026-03-10T09:05",
        "2026-03-10T09:05:00",          /* no zone */
        "2026-03-10 09:05:00Z",         /* space for T */
        "2026-03-10T09:05:00.Z",        /* dot without digits */
        "2026-03-10T09:05:00ZZ",        /* trailing junk */
        "2026-03-10T09:05:00Z ",        /* trailing space */
        "2026-03-10T09:05:00+0530",     /* offset without colon */
        "2026-03-10T09:05:00+05",       /* offset without minutes */
        "2026-03-10T09:05:00+24:00",    /* offset hour out of range */
        "2026-03-10T09:05:00+05:60",    /* offset minute out of range */
        "2026-03-10T09:05:00+05:30x",   /* trailing junk after offset */
        "26-03-10T09:05:00Z",           /* two-digit year */
        "2026-3-10T09:05:00Z",          /* one-digit month */
        "2026-03-10T9:05:00Z",          /* one-digit hour */
        "2026/03/10T09:05:00Z",
        "+2026-03-10T09:05:00Z",
        "2026-03-10T09:05:00UTC",
        "2026-03-1aT09:05:00Z",
        "\xef\xbc\x92\xef\xbc\x90\xef\xbc\x92\xef\xbc\x96-03-10T09:05:00Z", /* fullwidth */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t ms = 0;
        ck_assert_msg(time_parse_iso(bad[i], &ms) == -1, "accepted \"%s\"", bad[i]);
    }
}
END_TEST

START_TEST(clocks)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t expect = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    int64_t now = time_now_ms();
    ck_assert_int_ge(now, expect);
    ck_assert_int_lt(now - expect, 5000);

    int64_t m1 = time_monotonic_ms();
    struct timespec pause = {0, 20 * 1000000L};
    nanosleep(&pause, NULL);
    int64_t m2 = time_monotonic_ms();
    ck_assert_int_ge(m2 - m1, 19);
    ck_assert_int_lt(m2 - m1, 5000);
}
END_TEST

static Suite *timefmt_suite(void)
{
    Suite *s = suite_create("timefmt");
    TCase *tc = tcase_create("format");
    tcase_add_test(tc, format_known_values);
    tcase_add_test(tc, format_pads_milliseconds);
    tcase_add_test(tc, format_negative);
    tcase_add_test(tc, format_returns_buf_and_truncates);
    suite_add_tcase(s, tc);

    tc = tcase_create("parse");
    tcase_add_test(tc, parse_utc);
    tcase_add_test(tc, parse_fractions);
    tcase_add_test(tc, parse_offsets);
    tcase_add_test(tc, parse_round_trip);
    tcase_add_test(tc, parse_rejects_impossible_dates);
    tcase_add_test(tc, parse_accepts_leap_second);
    tcase_add_test(tc, parse_rejects_garbage);
    suite_add_tcase(s, tc);

    tc = tcase_create("clocks");
    tcase_add_test(tc, clocks);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(timefmt_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
