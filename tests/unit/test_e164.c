/* lib/e164: '+' then 8 to 15 digits, the first not 0, nothing else. */
#include <check.h>
#include <stdlib.h>

#include "e164.h"

START_TEST(accepts_valid_numbers)
{
    static const char *const good[] = {
        "+919876543210",   /* India mobile */
        "+14155550123",    /* US */
        "+442071838750",   /* UK */
        "+12345678",       /* 8 digits: the shortest accepted */
        "+123456789012345" /* 15 digits: the longest accepted */
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        ck_assert_msg(e164_valid(good[i]) == 1, "rejected \"%s\"", good[i]);
}
END_TEST

START_TEST(rejects_wrong_length)
{
    ck_assert_int_eq(e164_valid("+1234567"), 0);          /* 7 digits */
    ck_assert_int_eq(e164_valid("+1"), 0);
    ck_assert_int_eq(e164_valid("+1234567890123456"), 0); /* 16 digits */
    ck_assert_int_eq(e164_valid("+91987654321098765432109876543210"), 0);
}
END_TEST

START_TEST(rejects_leading_zero)
{
    ck_assert_int_eq(e164_valid("+0919876543210"), 0);
    ck_assert_int_eq(e164_valid("+09876543210"), 0);
    ck_assert_int_eq(e164_valid("+00000000"), 0);
}
END_TEST

START_TEST(rejects_separators)
{
    static const char *const bad[] = {
        "+91 9876543210", "+91-9876543210", "+91.9876.543210", "+1 (415) 555-0123",
        " +919876543210", "+919876543210 ", "+919876543210\n", "+9198765x3210",
        "+91987654321O", /* letter O */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(e164_valid(bad[i]) == 0, "accepted \"%s\"", bad[i]);
}
END_TEST

START_TEST(rejects_missing_or_extra_plus)
{
    ck_assert_int_eq(e164_valid("919876543210"), 0);
    ck_assert_int_eq(e164_valid("00919876543210"), 0);
    ck_assert_int_eq(e164_valid("++919876543210"), 0);
    ck_assert_int_eq(e164_valid("+91+9876543210"), 0);
    ck_assert_int_eq(e164_valid("+"), 0);
}
END_TEST

START_TEST(rejects_empty_null_and_non_ascii)
{
    ck_assert_int_eq(e164_valid(""), 0);
    ck_assert_int_eq(e164_valid(NULL), 0);
    /* fullwidth digits ９１９８７６５４３２１０ */
    ck_assert_int_eq(e164_valid("+\xef\xbc\x99\xef\xbc\x91\xef\xbc\x99\xef\xbc\x98\xef\xbc\x97"
                                "\xef\xbc\x96\xef\xbc\x95\xef\xbc\x94"),
                     0);
    ck_assert_int_eq(e164_valid("+\xd9\xa9\xd9\xa1\xd9\xa9\xd9\xa8\xd9\xa7\xd9\xa6\xd9\xa5\xd9\xa4"),
                     0); /* Arabic-Indic digits */
}
END_TEST

static Suite *e164_suite(void)
{
    Suite *s = suite_create("e164");
    TCase *tc = tcase_create("valid");
    tcase_add_test(tc, accepts_valid_numbers);
    tcase_add_test(tc, rejects_wrong_length);
    tcase_add_test(tc, rejects_leading_zero);
    tcase_add_test(tc, rejects_separators);
    tcase_add_test(tc, rejects_missing_or_extra_plus);
    tcase_add_test(tc, rejects_empty_null_and_non_ascii);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(e164_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
