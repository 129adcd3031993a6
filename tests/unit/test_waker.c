/* lib/waker: a worker's wait returns on a timeout, on a wake (even one that came before the
 * wait), and on a stop, which then stays. */
#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "timefmt.h"
#include "waker.h"

START_TEST(wait_times_out)
{
    struct waker w;
    ck_assert_int_eq(waker_init(&w), 0);
    int64_t t0 = time_monotonic_ms();
    ck_assert(!waker_wait(&w, 50));
    ck_assert_int_ge(time_monotonic_ms() - t0, 45);
    waker_destroy(&w);
}
END_TEST

START_TEST(wake_before_wait_is_not_lost)
{
    struct waker w;
    ck_assert_int_eq(waker_init(&w), 0);
    waker_wake(&w);
    int64_t t0 = time_monotonic_ms();
    ck_assert(!waker_wait(&w, 10000));
    ck_assert_int_lt(time_monotonic_ms() - t0, 5000);
    /* the wake was consumed: the next wait times out */
    t0 = time_monotonic_ms();
    ck_assert(!waker_wait(&w, 30));
    ck_assert_int_ge(time_monotonic_ms() - t0, 25);
    waker_destroy(&w);
}
END_TEST

static void *stop_later(void *arg)
{
    struct timespec ts = {0, 20 * 1000000L};
    nanosleep(&ts, NULL);
    waker_stop(arg);
    return NULL;
}

START_TEST(stop_wakes_and_stays)
{
    struct waker w;
    pthread_t t;
    ck_assert_int_eq(waker_init(&w), 0);
    ck_assert(!waker_stopping(&w));
    ck_assert_int_eq(pthread_create(&t, NULL, stop_later, &w), 0);
    int64_t t0 = time_monotonic_ms();
    ck_assert(waker_wait(&w, 10000));
    ck_assert_int_lt(time_monotonic_ms() - t0, 5000);
    pthread_join(t, NULL);
    ck_assert(waker_stopping(&w));
    ck_assert(waker_wait(&w, 10000)); /* at once, every time */
    waker_destroy(&w);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("waker");
    TCase *tc = tcase_create("waker");
    tcase_add_test(tc, wait_times_out);
    tcase_add_test(tc, wake_before_wait_is_not_lost);
    tcase_add_test(tc, stop_wakes_and_stays);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
