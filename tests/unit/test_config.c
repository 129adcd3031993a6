/* lib/config: environment values with defaults; a malformed value exits(2) at start-up. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"

#define VAR "OUTDIAL_UNIT_TEST_VALUE"

static void clear_var(void)
{
    unsetenv(VAR);
}

START_TEST(string_unset_gives_fallback)
{
    ck_assert_str_eq(config_string(VAR, "fallback"), "fallback");
    ck_assert_ptr_null(config_string(VAR, NULL));
}
END_TEST

START_TEST(string_empty_gives_fallback)
{
    setenv(VAR, "", 1);
    ck_assert_str_eq(config_string(VAR, "fallback"), "fallback");
}
END_TEST

/* Regression: WEBHOOK_SVC_URL= could not turn the outbox relay off. */
START_TEST(string_or_off_keeps_empty)
{
    ck_assert_str_eq(config_string_or_off(VAR, "fallback"), "fallback");
    setenv(VAR, "", 1);
    ck_assert_str_eq(config_string_or_off(VAR, "fallback"), "");
    setenv(VAR, "tcp://h:1", 1);
    ck_assert_str_eq(config_string_or_off(VAR, "fallback"), "tcp://h:1");
}
END_TEST

START_TEST(string_set)
{
    setenv(VAR, "postgres://db/outdial", 1);
    ck_assert_str_eq(config_string(VAR, "fallback"), "postgres://db/outdial");
    setenv(VAR, " ", 1); /* whitespace is a value */
    ck_assert_str_eq(config_string(VAR, "fallback"), " ");
}
END_TEST

START_TEST(int_unset_or_empty_gives_fallback)
{
    ck_assert_int_eq(config_int(VAR, 8080, 1, 65535), 8080);
    setenv(VAR, "", 1);
    ck_assert_int_eq(config_int(VAR, 8080, 1, 65535), 8080);
    /* the fallback is not range-checked: it is the programmer's choice */
    ck_assert_int_eq(config_int(VAR, -1, 0, 10), -1);
}
END_TEST

START_TEST(int_valid)
{
    setenv(VAR, "42", 1);
    ck_assert_int_eq(config_int(VAR, 0, 0, 100), 42);
    setenv(VAR, "-5", 1);
    ck_assert_int_eq(config_int(VAR, 0, -10, 10), -5);
    setenv(VAR, "+7", 1);
    ck_assert_int_eq(config_int(VAR, 0, 0, 10), 7);
    setenv(VAR, "007", 1);
    ck_assert_int_eq(config_int(VAR, 0, 0, 10), 7);
    setenv(VAR, "9223372036854775807", 1);
    ck_assert_int_eq(config_int(VAR, 0, 0, INT64_MAX), INT64_MAX);
    setenv(VAR, "-9223372036854775808", 1);
    ck_assert_int_eq(config_int(VAR, 0, INT64_MIN, 0), INT64_MIN);
}
END_TEST

START_TEST(int_bounds_inclusive)
{
    setenv(VAR, "1", 1);
    ck_assert_int_eq(config_int(VAR, 0, 1, 65535), 1);
    setenv(VAR, "65535", 1);
    ck_assert_int_eq(config_int(VAR, 0, 1, 65535), 65535);
}
END_TEST

/* Each of these runs in its own forked process and must exit with status 2. */
START_TEST(int_exit_not_a_number)
{
    setenv(VAR, "abc", 1);
    config_int(VAR, 5, 0, 100);
}
END_TEST

START_TEST(int_exit_trailing_junk)
{
    setenv(VAR, "12abc", 1);
    config_int(VAR, 5, 0, 100);
}
END_TEST

START_TEST(int_exit_trailing_space)
{
    setenv(VAR, "12 ", 1);
    config_int(VAR, 5, 0, 100);
}
END_TEST

START_TEST(int_exit_hex)
{
    setenv(VAR, "0x10", 1);
    config_int(VAR, 5, 0, 100);
}
END_TEST

START_TEST(int_exit_decimal)
{
    setenv(VAR, "1.5", 1);
    config_int(VAR, 5, 0, 100);
}
END_TEST

START_TEST(int_exit_above_max)
{
    setenv(VAR, "101", 1);
    config_int(VAR, 5, 0, 100);
}
END_TEST

START_TEST(int_exit_below_min)
{
    setenv(VAR, "-1", 1);
    config_int(VAR, 5, 0, 100);
}
END_TEST

START_TEST(int_exit_overflow)
{
    setenv(VAR, "9223372036854775808", 1); /* INT64_MAX + 1: ERANGE */
    config_int(VAR, 5, INT64_MIN, INT64_MAX);
}
END_TEST

START_TEST(int_exit_underflow)
{
    setenv(VAR, "-99999999999999999999999", 1);
    config_int(VAR, 5, INT64_MIN, INT64_MAX);
}
END_TEST

START_TEST(int_exit_sign_only)
{
    setenv(VAR, "-", 1);
    config_int(VAR, 5, -10, 10);
}
END_TEST

/* Runs config_int in a child with stderr captured; returns the exit status and the text. */
static int run_capturing(const char *value, int64_t min, int64_t max, char *out, size_t size)
{
    int fds[2], status = 0;
    ssize_t got;
    size_t used = 0;
    pid_t pid;

    ck_assert_int_eq(pipe(fds), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], STDERR_FILENO);
        setenv(VAR, value, 1);
        config_int(VAR, 5, min, max);
        _exit(0);
    }
    close(fds[1]);
    while (used + 1 < size && (got = read(fds[0], out + used, size - 1 - used)) > 0)
        used += (size_t)got;
    out[used] = '\0';
    close(fds[0]);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    return WEXITSTATUS(status);
}

START_TEST(int_exit_message_names_variable_and_range)
{
    char text[512];
    ck_assert_int_eq(run_capturing("abc", 0, 100, text, sizeof text), 2);
    ck_assert_str_eq(text, "config: " VAR "=abc is not an integer in [0, 100]\n");
    ck_assert_int_eq(run_capturing("70000", 1, 65535, text, sizeof text), 2);
    ck_assert_str_eq(text, "config: " VAR "=70000 is not an integer in [1, 65535]\n");
    ck_assert_int_eq(run_capturing("-3", -2, -1, text, sizeof text), 2);
    ck_assert_str_eq(text, "config: " VAR "=-3 is not an integer in [-2, -1]\n");
    ck_assert_int_eq(run_capturing("50", 0, 100, text, sizeof text), 0);
    ck_assert_str_eq(text, "");
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("string");
    tcase_add_checked_fixture(tc, clear_var, clear_var);
    tcase_add_test(tc, string_unset_gives_fallback);
    tcase_add_test(tc, string_empty_gives_fallback);
    tcase_add_test(tc, string_set);
    tcase_add_test(tc, string_or_off_keeps_empty);
    suite_add_tcase(s, tc);

    tc = tcase_create("int");
    tcase_add_checked_fixture(tc, clear_var, clear_var);
    tcase_add_test(tc, int_unset_or_empty_gives_fallback);
    tcase_add_test(tc, int_valid);
    tcase_add_test(tc, int_bounds_inclusive);
    tcase_add_test(tc, int_exit_message_names_variable_and_range);
    suite_add_tcase(s, tc);

    tc = tcase_create("int_invalid_exits");
    tcase_add_checked_fixture(tc, clear_var, clear_var);
    tcase_add_exit_test(tc, int_exit_not_a_number, 2);
    tcase_add_exit_test(tc, int_exit_trailing_junk, 2);
    tcase_add_exit_test(tc, int_exit_trailing_space, 2);
    tcase_add_exit_test(tc, int_exit_hex, 2);
    tcase_add_exit_test(tc, int_exit_decimal, 2);
    tcase_add_exit_test(tc, int_exit_above_max, 2);
    tcase_add_exit_test(tc, int_exit_below_min, 2);
    tcase_add_exit_test(tc, int_exit_overflow, 2);
    tcase_add_exit_test(tc, int_exit_underflow, 2);
    tcase_add_exit_test(tc, int_exit_sign_only, 2);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(config_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
