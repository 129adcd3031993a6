/* lib/carrier_signature: X-Twilio-Signature against Twilio's published example, and the ways a
 * signature must fail. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "carrier.h"

/* Twilio's documented example (also what the npm `twilio` package's validateRequest accepts). */
#define VECTOR_TOKEN "12345"
#define VECTOR_URL "https://mycompany.com/myapp.php?foo=1&bar=2"
#define VECTOR_SIGNATURE "0/KCTR6DLpKmkAf8muzZqo1nDgQ="

static const struct carrier_param vector_params[] = {
    {"CallSid", "CA1234567890ABCDE"}, {"Caller", "+12349013030"}, {"Digits", "1234"},
    {"From", "+12349013030"},         {"To", "+18005551212"},
};
#define VECTOR_N (sizeof vector_params / sizeof vector_params[0])

START_TEST(published_vector)
{
    char sig[64];
    ck_assert_int_eq(carrier_signature(VECTOR_TOKEN, VECTOR_URL, vector_params, VECTOR_N, sig,
                                       sizeof sig),
                     0);
    ck_assert_str_eq(sig, VECTOR_SIGNATURE);
    ck_assert(carrier_signature_valid(VECTOR_TOKEN, VECTOR_URL, vector_params, VECTOR_N,
                                      VECTOR_SIGNATURE));
}
END_TEST

START_TEST(reordered_params_same_signature)
{
    const struct carrier_param shuffled[] = {
        {"To", "+18005551212"}, {"Digits", "1234"},     {"CallSid", "CA1234567890ABCDE"},
        {"From", "+12349013030"}, {"Caller", "+12349013030"},
    };
    char sig[64];
    ck_assert_int_eq(carrier_signature(VECTOR_TOKEN, VECTOR_URL, shuffled, 5, sig, sizeof sig), 0);
    ck_assert_str_eq(sig, VECTOR_SIGNATURE);
    ck_assert(carrier_signature_valid(VECTOR_TOKEN, VECTOR_URL, shuffled, 5, VECTOR_SIGNATURE));
}
END_TEST

START_TEST(bad_signatures_rejected)
{
    /* one character changed */
    ck_assert(!carrier_signature_valid(VECTOR_TOKEN, VECTOR_URL, vector_params, VECTOR_N,
                                       "1/KCTR6DLpKmkAf8muzZqo1nDgQ="));
    /* truncated, and longer */
    ck_assert(!carrier_signature_valid(VECTOR_TOKEN, VECTOR_URL, vector_params, VECTOR_N,
                                       "0/KCTR6DLpKmkAf8muzZqo1nDgQ"));
    ck_assert(!carrier_signature_valid(VECTOR_TOKEN, VECTOR_URL, vector_params, VECTOR_N,
                                       VECTOR_SIGNATURE "="));
    /* wrong token, wrong URL, a changed parameter, a missing parameter */
    ck_assert(!carrier_signature_valid("54321", VECTOR_URL, vector_params, VECTOR_N,
                                       VECTOR_SIGNATURE));
    ck_assert(!carrier_signature_valid(VECTOR_TOKEN, "https://mycompany.com/myapp.php?foo=1",
                                       vector_params, VECTOR_N, VECTOR_SIGNATURE));
    struct carrier_param changed[VECTOR_N];
    memcpy(changed, vector_params, sizeof changed);
    changed[2].value = "1235";
    ck_assert(!carrier_signature_valid(VECTOR_TOKEN, VECTOR_URL, changed, VECTOR_N,
                                       VECTOR_SIGNATURE));
    ck_assert(!carrier_signature_valid(VECTOR_TOKEN, VECTOR_URL, vector_params, VECTOR_N - 1,
                                       VECTOR_SIGNATURE));
}
END_TEST

START_TEST(empty_and_null_signature_rejected)
{
    ck_assert(!carrier_signature_valid(VECTOR_TOKEN, VECTOR_URL, vector_params, VECTOR_N, ""));
    ck_assert(!carrier_signature_valid(VECTOR_TOKEN, VECTOR_URL, vector_params, VECTOR_N, NULL));
}
END_TEST

START_TEST(no_params_signs_url_alone)
{
    char a[64], b[64];
    ck_assert_int_eq(carrier_signature(VECTOR_TOKEN, VECTOR_URL, NULL, 0, a, sizeof a), 0);
    ck_assert_int_eq(strlen(a), 28);
    ck_assert(carrier_signature_valid(VECTOR_TOKEN, VECTOR_URL, NULL, 0, a));
    /* empty token and empty URL still give a well-formed signature */
    ck_assert_int_eq(carrier_signature("", "", NULL, 0, b, sizeof b), 0);
    ck_assert_int_eq(strlen(b), 28);
    ck_assert_str_ne(a, b);
}
END_TEST

START_TEST(repeated_names_sorted_by_value)
{
    /* StatusCallbackEvent-style repeated names: order of arrival must not matter. */
    const struct carrier_param one[] = {{"E", "ringing"}, {"E", "answered"}, {"A", "1"}};
    const struct carrier_param two[] = {{"A", "1"}, {"E", "answered"}, {"E", "ringing"}};
    char a[64], b[64];
    ck_assert_int_eq(carrier_signature("t", "http://x/", one, 3, a, sizeof a), 0);
    ck_assert_int_eq(carrier_signature("t", "http://x/", two, 3, b, sizeof b), 0);
    ck_assert_str_eq(a, b);
}
END_TEST

START_TEST(output_too_small)
{
    char sig[28];
    ck_assert_int_eq(carrier_signature(VECTOR_TOKEN, VECTOR_URL, vector_params, VECTOR_N, sig,
                                       sizeof sig),
                     -1);
}
END_TEST

START_TEST(many_params)
{
    /* more than fit the sorter's stack array */
    enum { MANY = 100 };
    struct carrier_param params[MANY];
    char names[MANY][8];
    for (int i = 0; i < MANY; i++) {
        snprintf(names[i], sizeof names[i], "P%03d", MANY - 1 - i);
        params[i].name = names[i];
        params[i].value = "v";
    }
    char a[64];
    ck_assert_int_eq(carrier_signature("t", "http://x/", params, MANY, a, sizeof a), 0);
    ck_assert(carrier_signature_valid("t", "http://x/", params, MANY, a));
}
END_TEST

static Suite *carrier_signature_suite(void)
{
    Suite *s = suite_create("carrier_signature");
    TCase *tc = tcase_create("signature");
    tcase_add_test(tc, published_vector);
    tcase_add_test(tc, reordered_params_same_signature);
    tcase_add_test(tc, bad_signatures_rejected);
    tcase_add_test(tc, empty_and_null_signature_rejected);
    tcase_add_test(tc, no_params_signs_url_alone);
    tcase_add_test(tc, repeated_names_sorted_by_value);
    tcase_add_test(tc, output_too_small);
    tcase_add_test(tc, many_params);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(carrier_signature_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
