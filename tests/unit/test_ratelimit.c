/* gateway/ratelimit.c: fixed minute and second windows per caller, driven by now_ms.
 * Standard: 100/min, 20/s. Professional: 500/min, 50/s. Enterprise: counted against a nominal
 * 1,000,000/min, never refused. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"

/* 2026-03-10T09:05:00.000Z: the start of a minute. */
#define T0 INT64_C(1773133500000)
#define T0_S 1773133500L

static struct rate_limiter *rl;

static void setup(void)
{
    rl = rate_limiter_new();
    ck_assert_ptr_nonnull(rl);
}

static void teardown(void)
{
    rate_limiter_free(rl);
    rl = NULL;
}

static struct rate_decision take(const char *who, enum api_tier tier, int64_t now_ms)
{
    struct rate_decision d;
    memset(&d, 0x5a, sizeof d);
    rate_limiter_take(rl, who, tier, now_ms, &d);
    return d;
}

START_TEST(first_request_allowed_with_headers)
{
    struct rate_decision d = take("key_a", TIER_STANDARD, T0 + 5250);
    ck_assert(d.allowed);
    ck_assert_int_eq(d.limit, 100);
    ck_assert_int_eq(d.remaining, 99);
    ck_assert_int_eq(d.reset_epoch, T0_S + 60);
    ck_assert_int_eq(d.retry_after, 0);
}
END_TEST

START_TEST(standard_burst_20_per_second)
{
    for (int i = 0; i < 20; i++) {
        struct rate_decision d = take("key_a", TIER_STANDARD, T0 + i * 40);
        ck_assert_msg(d.allowed, "request %d refused", i + 1);
        ck_assert_int_eq(d.remaining, 99 - i); /* counts down */
        ck_assert_int_eq(d.retry_after, 0);
    }
    struct rate_decision d = take("key_a", TIER_STANDARD, T0 + 999);
    ck_assert(!d.allowed);
    ck_assert_int_eq(d.retry_after, 1);
    ck_assert_int_eq(d.remaining, 80); /* refused requests are not counted */
    ck_assert_int_eq(d.limit, 100);
    ck_assert_int_eq(d.reset_epoch, T0_S + 60);
    d = take("key_a", TIER_STANDARD, T0 + 999);
    ck_assert(!d.allowed);
    ck_assert_int_eq(d.remaining, 80);

    /* the next second opens a fresh per-second window */
    d = take("key_a", TIER_STANDARD, T0 + 1000);
    ck_assert(d.allowed);
    ck_assert_int_eq(d.remaining, 79);
}
END_TEST

START_TEST(standard_100_per_minute)
{
    struct rate_decision d;
    for (int s = 0; s < 5; s++)
        for (int i = 0; i < 20; i++) {
            d = take("key_a", TIER_STANDARD, T0 + s * 1000 + i);
            ck_assert_msg(d.allowed, "second %d request %d refused", s, i + 1);
            ck_assert_int_eq(d.remaining, 100 - (s * 20 + i + 1));
        }
    ck_assert_int_eq(d.remaining, 0);

    d = take("key_a", TIER_STANDARD, T0 + 5000);
    ck_assert(!d.allowed);
    ck_assert_int_eq(d.retry_after, 55); /* until the minute ends */
    ck_assert_int_eq(d.remaining, 0);
    ck_assert_int_eq(d.reset_epoch, T0_S + 60);

    d = take("key_a", TIER_STANDARD, T0 + 30500);
    ck_assert(!d.allowed);
    ck_assert_int_eq(d.retry_after, 30);

    d = take("key_a", TIER_STANDARD, T0 + 59999);
    ck_assert(!d.allowed);
    ck_assert_int_eq(d.retry_after, 1);

    /* a new minute resets the count */
    d = take("key_a", TIER_STANDARD, T0 + 60000);
    ck_assert(d.allowed);
    ck_assert_int_eq(d.remaining, 99);
    ck_assert_int_eq(d.reset_epoch, T0_S + 120);
    ck_assert_int_eq(d.retry_after, 0);
}
END_TEST

START_TEST(minute_limit_wins_over_second_limit)
{
    struct rate_decision d;
    for (int s = 0; s < 5; s++)
        for (int i = 0; i < 20; i++)
            take("key_a", TIER_STANDARD, T0 + s * 1000);
    /* both windows are full in second 4: the longer wait is reported */
    d = take("key_a", TIER_STANDARD, T0 + 4999);
    ck_assert(!d.allowed);
    ck_assert_int_eq(d.retry_after, 56);
}
END_TEST

START_TEST(window_resets_mid_minute_start)
{
    /* a caller whose first request is late in a minute gets a full minute window next */
    struct rate_decision d;
    for (int i = 0; i < 20; i++)
        ck_assert(take("key_a", TIER_STANDARD, T0 + 59000 + i).allowed);
    d = take("key_a", TIER_STANDARD, T0 + 59500);
    ck_assert(!d.allowed);
    ck_assert_int_eq(d.retry_after, 1);
    d = take("key_a", TIER_STANDARD, T0 + 60000);
    ck_assert(d.allowed);
    ck_assert_int_eq(d.remaining, 99);
    ck_assert_int_eq(d.reset_epoch, T0_S + 120);
}
END_TEST

START_TEST(professional_limits)
{
    struct rate_decision d;
    for (int i = 0; i < 50; i++) {
        d = take("key_p", TIER_PROFESSIONAL, T0 + 100);
        ck_assert(d.allowed);
        ck_assert_int_eq(d.limit, 500);
        ck_assert_int_eq(d.remaining, 499 - i);
    }
    d = take("key_p", TIER_PROFESSIONAL, T0 + 100);
    ck_assert(!d.allowed);
    ck_assert_int_eq(d.retry_after, 1);
    for (int s = 1; s < 10; s++)
        for (int i = 0; i < 50; i++)
            ck_assert(take("key_p", TIER_PROFESSIONAL, T0 + s * 1000).allowed);
    d = take("key_p", TIER_PROFESSIONAL, T0 + 10000);
    ck_assert(!d.allowed);
    ck_assert_int_eq(d.remaining, 0);
    ck_assert_int_eq(d.retry_after, 50);
}
END_TEST

START_TEST(enterprise_never_refused)
{
    struct rate_decision d;
    for (int i = 0; i < 1000; i++) {
        d = take("key_e", TIER_ENTERPRISE, T0 + 1); /* all in the same millisecond */
        ck_assert_msg(d.allowed, "enterprise request %d refused", i + 1);
        ck_assert_int_eq(d.retry_after, 0);
    }
    ck_assert_int_eq(d.limit, 1000000);
    ck_assert_int_eq(d.remaining, 1000000 - 1000);
}
END_TEST

/* A bug: enterprise was refused once a gateway served it 1,000,000 requests in a minute. */
START_TEST(enterprise_unlimited_past_the_nominal_ceiling)
{
    struct rate_decision d;
    for (int i = 0; i < 1000100; i++) {
        d = take("key_e", TIER_ENTERPRISE, T0 + 1 + i / 100); /* 100 a millisecond */
        if (!d.allowed)
            ck_abort_msg("enterprise request %d refused", i + 1);
    }
    ck_assert_int_eq(d.limit, 1000000);
    ck_assert_int_eq(d.remaining, 0);
    ck_assert_int_eq(d.retry_after, 0);
}
END_TEST

START_TEST(callers_are_independent)
{
    for (int i = 0; i < 20; i++)
        ck_assert(take("key_a", TIER_STANDARD, T0).allowed);
    ck_assert(!take("key_a", TIER_STANDARD, T0).allowed);

    struct rate_decision d = take("key_b", TIER_STANDARD, T0);
    ck_assert(d.allowed);
    ck_assert_int_eq(d.remaining, 99);
    d = take("ip:203.0.113.9", TIER_STANDARD, T0);
    ck_assert(d.allowed);
    ck_assert_int_eq(d.remaining, 99);
    /* and key_a is still refused */
    ck_assert(!take("key_a", TIER_STANDARD, T0).allowed);
}
END_TEST

/* Thousands of callers share buckets; two minutes later every entry is idle and the walk
 * frees stale ones while looking callers up (ASan catches any use after free). */
START_TEST(many_callers_and_idle_eviction)
{
    char who[32];
    for (int i = 0; i < 20000; i++) {
        snprintf(who, sizeof who, "key_%d", i);
        struct rate_decision d = take(who, TIER_STANDARD, T0);
        ck_assert(d.allowed);
        ck_assert_int_eq(d.remaining, 99);
    }
    for (int i = 0; i < 20000; i++) {
        snprintf(who, sizeof who, "key_%d", i);
        struct rate_decision d = take(who, TIER_STANDARD, T0 + 180000);
        ck_assert(d.allowed);
        ck_assert_int_eq(d.remaining, 99);
        ck_assert_int_eq(d.reset_epoch, T0_S + 240);
    }
    /* a caller seen within the last minute keeps its count */
    snprintf(who, sizeof who, "key_%d", 7);
    struct rate_decision d = take(who, TIER_STANDARD, T0 + 180001);
    ck_assert_int_eq(d.remaining, 98);
}
END_TEST

/* Regression: a name longer than the table stores was looked up by its full text and never
 * found, so such a caller was never limited. */
START_TEST(overlong_who_is_still_limited)
{
    char who[200];
    memset(who, 'k', sizeof who - 1);
    who[sizeof who - 1] = '\0';
    for (int i = 0; i < 20; i++)
        ck_assert(take(who, TIER_STANDARD, T0).allowed);
    ck_assert(!take(who, TIER_STANDARD, T0).allowed);
}
END_TEST

START_TEST(long_who_is_truncated_consistently)
{
    /* 63 bytes: the longest key the table stores whole */
    char who[64];
    memset(who, 'k', sizeof who - 1);
    who[sizeof who - 1] = '\0';
    for (int i = 0; i < 20; i++)
        ck_assert(take(who, TIER_STANDARD, T0).allowed);
    ck_assert(!take(who, TIER_STANDARD, T0).allowed);
}
END_TEST

struct worker {
    int calls;
    int allowed;
};

static void *hammer(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < w->calls; i++) {
        struct rate_decision d;
        rate_limiter_take(rl, "key_shared", TIER_STANDARD, T0 + 2000, &d);
        w->allowed += d.allowed;
    }
    return NULL;
}

START_TEST(concurrent_callers_share_the_limit)
{
    pthread_t threads[4];
    struct worker workers[4];
    for (int i = 0; i < 4; i++) {
        workers[i].calls = 500;
        workers[i].allowed = 0;
        ck_assert_int_eq(pthread_create(&threads[i], NULL, hammer, &workers[i]), 0);
    }
    int total = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(threads[i], NULL);
        total += workers[i].allowed;
    }
    ck_assert_int_eq(total, 20); /* exactly one second's burst across all threads */
    struct rate_decision d = take("key_shared", TIER_STANDARD, T0 + 2000);
    ck_assert_int_eq(d.remaining, 80);
}
END_TEST

START_TEST(concurrent_column_per_tier)
{
    /* reference 004: standard 10, professional 50 in flight; enterprise unlimited */
    for (int i = 0; i < 10; i++)
        ck_assert(rate_limiter_enter(rl, "org_std", TIER_STANDARD, T0));
    ck_assert(!rate_limiter_enter(rl, "org_std", TIER_STANDARD, T0));
    ck_assert(rate_limiter_enter(rl, "org_other", TIER_STANDARD, T0)); /* independent */
    rate_limiter_leave(rl, "org_std");
    ck_assert(rate_limiter_enter(rl, "org_std", TIER_STANDARD, T0));
    for (int i = 0; i < 50; i++)
        ck_assert(rate_limiter_enter(rl, "org_pro", TIER_PROFESSIONAL, T0));
    ck_assert(!rate_limiter_enter(rl, "org_pro", TIER_PROFESSIONAL, T0));
    for (int i = 0; i < 1000; i++)
        ck_assert(rate_limiter_enter(rl, "org_ent", TIER_ENTERPRISE, T0));
    /* an entry with requests in flight survives the idle eviction of its bucket */
    struct rate_decision d = take("org_std", TIER_STANDARD, T0 + 5 * 60000);
    ck_assert(d.allowed);
    ck_assert(!rate_limiter_enter(rl, "org_std", TIER_STANDARD, T0 + 5 * 60000));
    rate_limiter_leave(rl, "org_unknown"); /* harmless */
}
END_TEST

START_TEST(free_null_is_a_no_op)
{
    rate_limiter_free(NULL);
}
END_TEST

static Suite *ratelimit_suite(void)
{
    Suite *s = suite_create("ratelimit");
    TCase *tc = tcase_create("take");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, first_request_allowed_with_headers);
    tcase_add_test(tc, concurrent_column_per_tier);
    tcase_add_test(tc, standard_burst_20_per_second);
    tcase_add_test(tc, standard_100_per_minute);
    tcase_add_test(tc, minute_limit_wins_over_second_limit);
    tcase_add_test(tc, window_resets_mid_minute_start);
    tcase_add_test(tc, professional_limits);
    tcase_add_test(tc, enterprise_never_refused);
    tcase_add_test(tc, enterprise_unlimited_past_the_nominal_ceiling);
    tcase_add_test(tc, callers_are_independent);
    tcase_add_test(tc, many_callers_and_idle_eviction);
    tcase_add_test(tc, long_who_is_truncated_consistently);
    tcase_add_test(tc, overlong_who_is_still_limited);
    tcase_add_test(tc, concurrent_callers_share_the_limit);
    tcase_add_test(tc, free_null_is_a_no_op);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(ratelimit_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
