/* lib/tz: TZif files read directly, POSIX footer rules, local time both ways; and
 * campaign-svc's calling windows across DST in two zones, contact zones and the retry policy. */
#include <check.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>

#include "campaign.h"
#include "od_names.h"
#include "tz.h"

static int64_t utc(int y, int mo, int d, int h, int mi)
{
    return tz_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60;
}

START_TEST(test_unknown_and_malformed_names)
{
    ck_assert_ptr_null(tz_get("Mars/Olympus_Mons"));
    ck_assert_ptr_null(tz_get("../etc/passwd"));
    ck_assert_ptr_null(tz_get("/etc/passwd"));
    ck_assert_ptr_null(tz_get(""));
    ck_assert_ptr_null(tz_get("zone.tab")); /* a file, but not TZif */
    ck_assert_ptr_nonnull(tz_get("UTC"));
    ck_assert_ptr_nonnull(tz_get("Asia/Kolkata"));
    /* cached: the same object */
    ck_assert_ptr_eq(tz_get("Asia/Kolkata"), tz_get("Asia/Kolkata"));
}
END_TEST

/* Every name the tz tree answers to (posix/ and right/ copies included), asked for once each,
 * as one organization can through campaign timezones and contacts' metadata: the cache must
 * not fill up with aliases, or every zone not loaded yet fails for everybody (a campaign's
 * window is then read in UTC and a contact's local window is ignored). */
static size_t tz_tree_root;
static size_t tz_tree_asked;

static int tz_tree_visit(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_F && strlen(path) > tz_tree_root + 1) {
        tz_get(path + tz_tree_root + 1);
        tz_tree_asked++;
    }
    return 0;
}

START_TEST(test_cache_not_filled_by_aliases)
{
    const char *dir = getenv("TZDIR");
    static const char *const zones[] = {"Europe/Paris",   "America/New_York", "Asia/Tokyo",
                                        "Australia/Sydney", "America/Los_Angeles",
                                        "Europe/Berlin",  "Africa/Lagos",     "UTC"};
    if (dir == NULL || dir[0] == '\0')
        dir = "/usr/share/zoneinfo";
    tz_cache_clear();
    tz_tree_root = strlen(dir);
    tz_tree_asked = 0;
    ck_assert_int_eq(nftw(dir, tz_tree_visit, 16, 0), 0); /* follows symbolic links */
    for (size_t i = 0; i < sizeof zones / sizeof zones[0]; i++)
        ck_assert_msg(tz_get(zones[i]) != NULL, "%s failed after %zu names were asked for",
                      zones[i], tz_tree_asked);
    ck_assert_ptr_null(tz_get("posix/Europe/Paris"));
    ck_assert_ptr_null(tz_get("right/Europe/Paris"));
    ck_assert_ptr_null(tz_get("posixrules"));
    tz_cache_clear();
}
END_TEST

START_TEST(test_offsets_new_york_dst_2026)
{
    const struct tz_zone *ny = tz_get("America/New_York");
    ck_assert_ptr_nonnull(ny);
    /* DST starts Sunday 2026-03-08 at 02:00 EST = 07:00 UTC */
    ck_assert_int_eq(tz_offset(ny, utc(2026, 3, 8, 6, 59)), -5 * 3600);
    ck_assert_int_eq(tz_offset(ny, utc(2026, 3, 8, 7, 0)), -4 * 3600);
    /* ends Sunday 2026-11-01 at 02:00 EDT = 06:00 UTC */
    ck_assert_int_eq(tz_offset(ny, utc(2026, 11, 1, 5, 59)), -4 * 3600);
    ck_assert_int_eq(tz_offset(ny, utc(2026, 11, 1, 6, 0)), -5 * 3600);
    /* far beyond the table: the POSIX footer rule (2nd Sunday of March 2090 is the 12th) */
    ck_assert_int_eq(tz_offset(ny, utc(2090, 3, 12, 6, 59)), -5 * 3600);
    ck_assert_int_eq(tz_offset(ny, utc(2090, 3, 12, 7, 0)), -4 * 3600);
    struct tz_local l;
    tz_to_local(ny, utc(2026, 3, 8, 7, 30), &l);
    ck_assert_int_eq(l.hour, 3);
    ck_assert_int_eq(l.minute, 30);
    ck_assert_int_eq(l.iso_weekday, 7);
}
END_TEST

START_TEST(test_offsets_london_and_kolkata)
{
    const struct tz_zone *ldn = tz_get("Europe/London"), *ist = tz_get("Asia/Kolkata");
    ck_assert_ptr_nonnull(ldn);
    /* BST starts Sunday 2026-03-29 at 01:00 UTC */
    ck_assert_int_eq(tz_offset(ldn, utc(2026, 3, 29, 0, 59)), 0);
    ck_assert_int_eq(tz_offset(ldn, utc(2026, 3, 29, 1, 0)), 3600);
    ck_assert_int_eq(tz_offset(ist, utc(2026, 6, 1, 0, 0)), 19800);
    struct tz_local l;
    tz_to_local(ist, utc(2026, 3, 10, 20, 0), &l); /* 01:30 next day in India */
    ck_assert_int_eq(l.day, 11);
    ck_assert_int_eq(l.hour, 1);
    ck_assert_int_eq(l.minute, 30);
    ck_assert_int_eq(l.iso_weekday, 3); /* Wednesday 2026-03-11 */
}
END_TEST

START_TEST(test_posix_rules)
{
    struct tz_zone *z = tz_from_posix("EST5EDT,M3.2.0,M11.1.0");
    ck_assert_ptr_nonnull(z);
    ck_assert_int_eq(tz_offset(z, utc(2026, 3, 8, 7, 0)), -4 * 3600);
    ck_assert_int_eq(tz_offset(z, utc(2026, 1, 1, 0, 0)), -5 * 3600);
    tz_free(z);
    /* southern hemisphere: DST across the new year */
    z = tz_from_posix("<+13>-13<+14>,M9.5.0/3,M4.1.0/4");
    ck_assert_ptr_nonnull(z);
    ck_assert_int_eq(tz_offset(z, utc(2026, 1, 15, 0, 0)), 14 * 3600);
    ck_assert_int_eq(tz_offset(z, utc(2026, 6, 15, 0, 0)), 13 * 3600);
    tz_free(z);
    z = tz_from_posix("IST-5:30");
    ck_assert_ptr_nonnull(z);
    ck_assert_int_eq(tz_offset(z, 0), 19800);
    tz_free(z);
    ck_assert_ptr_null(tz_from_posix("5"));
    ck_assert_ptr_null(tz_from_posix("EST5EDT,M13.2.0,M11.1.0"));
}
END_TEST

START_TEST(test_from_local_gap_and_overlap)
{
    const struct tz_zone *ny = tz_get("America/New_York");
    ck_assert_int_eq(tz_from_local(ny, 2026, 7, 1, 9, 0, 0), utc(2026, 7, 1, 13, 0));
    ck_assert_int_eq(tz_from_local(ny, 2026, 1, 5, 9, 0, 0), utc(2026, 1, 5, 14, 0));
    /* 02:30 does not exist on 2026-03-08: 30 minutes after the gap's start (03:30 EDT) */
    ck_assert_int_eq(tz_from_local(ny, 2026, 3, 8, 2, 30, 0), utc(2026, 3, 8, 7, 30));
    /* 01:30 happens twice on 2026-11-01: the earlier (EDT) */
    ck_assert_int_eq(tz_from_local(ny, 2026, 11, 1, 1, 30, 0), utc(2026, 11, 1, 5, 30));
}
END_TEST

/* A 09:00-17:00 weekday window: the same UTC instant is inside it before the US change and
 * outside after it, while London (which changes three weeks later) still reads the old
 * offset. */
START_TEST(test_window_across_dst_two_zones)
{
    struct call_window w;
    char err[128];
    const int32_t weekdays[] = {1, 2, 3, 4, 5};
    const struct tz_zone *ny = tz_get("America/New_York"), *ldn = tz_get("Europe/London");
    ck_assert_int_eq(window_init(&w, "09:00", "17:00", weekdays, 5, err, sizeof err), 0);

    /* New York: Friday 2026-03-06 21:30 UTC = 16:30 EST (open); Monday 2026-03-09 21:30 UTC =
     * 17:30 EDT (closed); 13:00 UTC on Monday = 09:00 EDT opens, 12:59 does not. */
    ck_assert(window_open(&w, ny, utc(2026, 3, 6, 21, 30)));
    ck_assert(!window_open(&w, ny, utc(2026, 3, 9, 21, 30)));
    ck_assert(window_open(&w, ny, utc(2026, 3, 9, 13, 0)));
    ck_assert(!window_open(&w, ny, utc(2026, 3, 9, 12, 59)));
    /* the weekend in between is closed, and the next opening after Friday's close is Monday
     * 09:00 EDT = 13:00 UTC (not 14:00 as in winter) */
    ck_assert(!window_open(&w, ny, utc(2026, 3, 7, 15, 0)));
    ck_assert_int_eq(window_next_open(&w, ny, utc(2026, 3, 6, 22, 0)), utc(2026, 3, 9, 13, 0));

    /* London: Friday 2026-03-27 16:30 UTC = 16:30 GMT (open); Monday 2026-03-30 16:30 UTC =
     * 17:30 BST (closed); Monday opens at 08:00 UTC. */
    ck_assert(window_open(&w, ldn, utc(2026, 3, 27, 16, 30)));
    ck_assert(!window_open(&w, ldn, utc(2026, 3, 30, 16, 30)));
    ck_assert_int_eq(window_next_open(&w, ldn, utc(2026, 3, 27, 17, 0)), utc(2026, 3, 30, 8, 0));
    /* between the two changes: 13:30 UTC on Monday 2026-03-16 is 09:30 in New York (open) and
     * 13:30 in London (open); 17:30 UTC is 13:30 in New York (open) and 17:30 in London
     * (closed) */
    ck_assert(window_open(&w, ny, utc(2026, 3, 16, 17, 30)));
    ck_assert(!window_open(&w, ldn, utc(2026, 3, 16, 17, 30)));
}
END_TEST

START_TEST(test_window_shapes)
{
    struct call_window w;
    char err[128];
    const int32_t bad[] = {8};
    ck_assert_int_eq(window_init(&w, "", "", NULL, 0, err, sizeof err), 0);
    ck_assert(window_open(&w, NULL, 12345));
    ck_assert_int_eq(window_next_open(&w, NULL, 12345), 12345);
    ck_assert_int_eq(window_init(&w, "09:00", "", NULL, 0, err, sizeof err), -1);
    ck_assert_int_eq(window_init(&w, "9:00", "17:00", NULL, 0, err, sizeof err), -1);
    ck_assert_int_eq(window_init(&w, "09:60", "17:00", NULL, 0, err, sizeof err), -1);
    ck_assert_int_eq(window_init(&w, "09:00", "17:00", bad, 1, err, sizeof err), -1);
    ck_assert_int_eq(window_init(&w, "09:00", "24:00", NULL, 0, err, sizeof err), 0);
    /* overnight: 22:00-06:00 UTC */
    ck_assert_int_eq(window_init(&w, "22:00", "06:00", NULL, 0, err, sizeof err), 0);
    ck_assert(window_open(&w, NULL, utc(2026, 5, 1, 23, 0)));
    ck_assert(window_open(&w, NULL, utc(2026, 5, 2, 5, 59)));
    ck_assert(!window_open(&w, NULL, utc(2026, 5, 2, 6, 0)));
    ck_assert_int_eq(window_next_open(&w, NULL, utc(2026, 5, 2, 12, 0)), utc(2026, 5, 2, 22, 0));
}
END_TEST

/* A contact's own local time: metadata wins, else a single-zone country, never +1. */
START_TEST(test_contact_local_time)
{
    ck_assert_str_eq(contact_tz_for(NULL, "+919876543210"), "Asia/Kolkata");
    ck_assert_str_eq(contact_tz_for("{}", "+447700900123"), "Europe/London");
    ck_assert_str_eq(contact_tz_for("{\"timezone\":\"Asia/Tokyo\"}", "+447700900123"),
                     "Asia/Tokyo");
    ck_assert_str_eq(contact_tz_for("{\"timezone\":\"Nowhere/Land\"}", "+33612345678"),
                     "Europe/Paris");
    ck_assert_str_eq(contact_tz_for(NULL, "+971501234567"), "Asia/Dubai");
    ck_assert_ptr_null(contact_tz_for(NULL, "+14155550100"));
    ck_assert_ptr_null(contact_tz_for("{\"timezone\":42}", "+14155550100"));

    /* 09:00-18:00 every day: at 05:00 UTC it is 10:30 in Kolkata (open) and 05:00 in London
     * (closed until 08:00 UTC, which is 09:00 BST in June). */
    struct call_window w;
    char err[64];
    ck_assert_int_eq(window_init(&w, "09:00", "18:00", NULL, 0, err, sizeof err), 0);
    int64_t t = utc(2026, 6, 10, 5, 0);
    ck_assert(window_open(&w, tz_get(contact_tz_for(NULL, "+919876543210")), t));
    ck_assert(!window_open(&w, tz_get(contact_tz_for(NULL, "+447700900123")), t));
    ck_assert_int_eq(window_next_open(&w, tz_get("Europe/London"), t), utc(2026, 6, 10, 8, 0));
}
END_TEST

/* The retry policy table. */
START_TEST(test_retry_policy_table)
{
    const char *const on[] = {"no_answer", "busy"};
    struct retry_decision d;
    static const struct {
        const char *outcome;
        int attempts;
        const char *status;
        bool retry;
    } rows[] = {
        {"completed", 1, LEAD_COMPLETED, false}, {"no_answer", 1, LEAD_PENDING, true},
        {"no_answer", 2, LEAD_PENDING, true},    {"no_answer", 3, LEAD_FAILED, false},
        {"busy", 2, LEAD_PENDING, true},         {"busy", 3, LEAD_FAILED, false},
        {"failed", 1, LEAD_FAILED, false},       {"voicemail", 1, LEAD_COMPLETED, false},
        {"dnc", 1, LEAD_SKIPPED, false},         {"timeout", 1, LEAD_FAILED, false},
        {"carrier_error", 1, LEAD_FAILED, false},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        /* max_retries 2: three attempts in all */
        retry_decide(rows[i].outcome, rows[i].attempts, 2, 60, on, 2, &d);
        ck_assert_msg(strcmp(d.lead_status, rows[i].status) == 0 && d.retry == rows[i].retry,
                      "row %zu (%s after %d): got %s", i, rows[i].outcome, rows[i].attempts,
                      d.lead_status);
        if (d.retry)
            ck_assert_int_eq(d.delay_minutes, 60);
    }
    /* voicemail listed in retryOn retries, and completes when attempts run out */
    const char *const vm[] = {"voicemail"};
    retry_decide("voicemail", 1, 1, 5, vm, 1, &d);
    ck_assert(d.retry);
    retry_decide("voicemail", 2, 1, 5, vm, 1, &d);
    ck_assert_str_eq(d.lead_status, LEAD_COMPLETED);
    /* max_retries 0: never retry */
    retry_decide("no_answer", 1, 0, 5, on, 2, &d);
    ck_assert_str_eq(d.lead_status, LEAD_FAILED);
    ck_assert(retry_outcome_known("carrier_error"));
    ck_assert(!retry_outcome_known("exploded"));
    ck_assert(!retry_on_word_valid("completed"));
    ck_assert(retry_on_word_valid("busy"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tz");
    TCase *tc = tcase_create("tz");
    tcase_add_test(tc, test_unknown_and_malformed_names);
    tcase_add_test(tc, test_cache_not_filled_by_aliases);
    tcase_add_test(tc, test_offsets_new_york_dst_2026);
    tcase_add_test(tc, test_offsets_london_and_kolkata);
    tcase_add_test(tc, test_posix_rules);
    tcase_add_test(tc, test_from_local_gap_and_overlap);
    tcase_add_test(tc, test_window_across_dst_two_zones);
    tcase_add_test(tc, test_window_shapes);
    tcase_add_test(tc, test_contact_local_time);
    tcase_add_test(tc, test_retry_policy_table);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    tz_cache_clear();
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
