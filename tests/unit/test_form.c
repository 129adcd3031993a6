/* gateway/form.c: the carrier callbacks' application/x-www-form-urlencoded decoder. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "form.h"

static int parse(const char *body, struct form *f)
{
    return form_parse(body, strlen(body), f);
}

START_TEST(test_twilio_callback)
{
    struct form f;
    ck_assert_int_eq(parse("CallSid=CA123&CallStatus=in-progress&To=%2B15551230000&"
                           "AnsweredBy=machine_end_beep&Caller=+15550000000",
                           &f),
                     0);
    ck_assert_uint_eq(f.n, 5);
    ck_assert_str_eq(form_get(&f, "CallSid"), "CA123");
    ck_assert_str_eq(form_get(&f, "CallStatus"), "in-progress");
    ck_assert_str_eq(form_get(&f, "To"), "+15551230000");
    ck_assert_str_eq(form_get(&f, "Caller"), " 15550000000"); /* '+' is a space */
    ck_assert_ptr_null(form_get(&f, "From"));
    form_free(&f);
}
END_TEST

START_TEST(test_edges)
{
    struct form f;
    ck_assert_int_eq(parse("", &f), 0);
    ck_assert_uint_eq(f.n, 0);
    form_free(&f);
    ck_assert_int_eq(parse("a=1&&b&c=&=x&d=%7e%C3%A9", &f), 0);
    ck_assert_uint_eq(f.n, 5);
    ck_assert_str_eq(form_get(&f, "a"), "1");
    ck_assert_str_eq(form_get(&f, "b"), "");
    ck_assert_str_eq(form_get(&f, "c"), "");
    ck_assert_str_eq(form_get(&f, ""), "x");
    ck_assert_str_eq(form_get(&f, "d"), "~\xc3\xa9");
    form_free(&f);
    /* the first of repeated names, and order kept */
    ck_assert_int_eq(parse("k=1&k=2", &f), 0);
    ck_assert_str_eq(form_get(&f, "k"), "1");
    ck_assert_str_eq(f.params[1].value, "2");
    form_free(&f);
}
END_TEST

START_TEST(test_malformed)
{
    struct form f;
    ck_assert_int_eq(parse("a=%", &f), -1);
    ck_assert_int_eq(parse("a=%4", &f), -1);
    ck_assert_int_eq(parse("a=%G1", &f), -1);
    ck_assert_int_eq(parse("a=%00", &f), -1);
    ck_assert_int_eq(form_parse("a=b\0c", 5, &f), -1);
    /* too many pairs */
    size_t n = (FORM_MAX_PARAMS + 1) * 4;
    char *big = malloc(n + 1);
    for (size_t i = 0; i < n; i += 4)
        memcpy(big + i, "a=1&", 4);
    big[n] = '\0';
    ck_assert_int_eq(parse(big, &f), -1);
    free(big);
}
END_TEST

START_TEST(test_encode)
{
    char out[64];
    size_t len = 0;
    ck_assert_int_eq(form_encode_append(out, sizeof out, &len, "call_AB-9.~ +/&="), 0);
    ck_assert_str_eq(out, "call_AB-9.~%20%2B%2F%26%3D");
    len = 0;
    ck_assert_int_eq(form_encode_append(out, 8, &len, "0123456789"), -1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("form");
    TCase *tc = tcase_create("form");
    tcase_add_test(tc, test_twilio_callback);
    tcase_add_test(tc, test_edges);
    tcase_add_test(tc, test_malformed);
    tcase_add_test(tc, test_encode);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
