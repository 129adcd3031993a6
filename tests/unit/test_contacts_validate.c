/* contacts-svc/validate.c: the field rules the service applies to every ContactInput. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "validate.h"

#define E164_REASON "phoneNumber must be a valid E.164 phone number"
#define LANGUAGE_REASON "language must be a BCP 47 language tag such as hi-IN"
#define METADATA_REASON "metadata must be an object"

static Od__ContactInput input(const char *phone)
{
    Od__ContactInput in = OD__CONTACT_INPUT__INIT;
    in.phone_number = (char *)phone;
    return in;
}

/* A string of n copies of unit (NUL-terminated); caller frees. */
static char *repeat(const char *unit, size_t n)
{
    size_t len = strlen(unit);
    char *s = malloc(len * n + 1);
    ck_assert_ptr_nonnull(s);
    for (size_t i = 0; i < n; i++)
        memcpy(s + i * len, unit, len);
    s[len * n] = '\0';
    return s;
}

START_TEST(valid_minimal_and_full)
{
    Od__ContactInput in = input("+919876543210");
    ck_assert_ptr_null(contacts_validate_input(&in));
    in.name = (char *)"John Doe";
    in.language = (char *)"hi-IN";
    in.metadata_json = (char *)"{\"customerId\":\"12345\",\"n\":{\"a\":[1,2]}}";
    ck_assert_ptr_null(contacts_validate_input(&in));
}
END_TEST

START_TEST(phone_required)
{
    Od__ContactInput in = input("");
    ck_assert_str_eq(contacts_validate_input(&in), "phoneNumber is required");
    in.name = (char *)"Only A Name";
    ck_assert_str_eq(contacts_validate_input(&in), "phoneNumber is required");
}
END_TEST

START_TEST(phone_must_be_e164)
{
    static const char *const bad[] = {
        "9876543210",   "+91 9876543210", "+91-9876543210", "+1234567", "+1234567890123456",
        "+0919876543210", "+", "not a phone", "+91987654321a", "00919876543210",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        Od__ContactInput in = input(bad[i]);
        const char *reason = contacts_validate_input(&in);
        ck_assert_msg(reason != NULL, "accepted \"%s\"", bad[i]);
        ck_assert_str_eq(reason, E164_REASON);
    }
    Od__ContactInput in = input("+12345678");
    ck_assert_ptr_null(contacts_validate_input(&in));
    in = input("+123456789012345");
    ck_assert_ptr_null(contacts_validate_input(&in));
}
END_TEST

START_TEST(name_length_in_bytes)
{
    Od__ContactInput in = input("+919876543210");
    char *name = repeat("a", 256);
    in.name = name;
    ck_assert_ptr_null(contacts_validate_input(&in));
    free(name);

    name = repeat("a", 257);
    in.name = name;
    ck_assert_str_eq(contacts_validate_input(&in), "name must be at most 256 bytes");
    free(name);

    name = repeat("\xc3\xa9", 128); /* 128 characters, 256 bytes */
    in.name = name;
    ck_assert_ptr_null(contacts_validate_input(&in));
    free(name);

    name = repeat("\xc3\xa9", 129); /* 129 characters, 258 bytes */
    in.name = name;
    ck_assert_str_eq(contacts_validate_input(&in), "name must be at most 256 bytes");
    free(name);
}
END_TEST

START_TEST(language_tags_valid)
{
    static const char *const good[] = {
        "hi-IN", "en", "zh-Hant-TW", "en-US", "es-419", "sr-Latn-RS", "fil", "HI-in",
        "abcdefgh", /* registered languages may use up to 8 letters */
        "de-CH-1996", "en-a-bbb",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        ck_assert_msg(contacts_language_valid(good[i]) == 1, "rejected \"%s\"", good[i]);
        Od__ContactInput in = input("+919876543210");
        in.language = (char *)good[i];
        ck_assert_ptr_null(contacts_validate_input(&in));
    }
}
END_TEST

START_TEST(language_tags_invalid)
{
    static const char *const bad[] = {
        "h", "hi_IN", "-IN", "toolonglanguage", "", "en-", "hi--IN", "-", "1n", "e1",
        "en-abcdefghi", /* subtag over 8 */ "hi IN", "hi.IN", "en-US!", "\xe0\xa4\xb9\xe0\xa4\xbf",
        "en-\xc3\xa9",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(contacts_language_valid(bad[i]) == 0, "accepted \"%s\"", bad[i]);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (bad[i][0] == '\0')
            continue; /* "" means "not given" to contacts_validate_input */
        Od__ContactInput in = input("+919876543210");
        in.language = (char *)bad[i];
        ck_assert_str_eq(contacts_validate_input(&in), LANGUAGE_REASON);
    }
}
END_TEST

START_TEST(language_tag_total_length)
{
    /* 35 bytes is the limit */
    ck_assert_int_eq(contacts_language_valid("ab-12345678-12345678-12345678-12345"), 1);
    ck_assert_int_eq(contacts_language_valid("ab-12345678-12345678-12345678-123456"), 0);
}
END_TEST

START_TEST(language_empty_means_not_given)
{
    Od__ContactInput in = input("+919876543210");
    in.language = (char *)"";
    ck_assert_ptr_null(contacts_validate_input(&in));
}
END_TEST

START_TEST(metadata_must_be_object)
{
    static const char *const bad[] = {
        "[1, 2]", "\"string\"", "42", "null", "true", "not json", "{", "{\"a\":}", "{}}",
        "{\"a\":1} {\"b\":2}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        Od__ContactInput in = input("+919876543210");
        in.metadata_json = (char *)bad[i];
        const char *reason = contacts_validate_input(&in);
        ck_assert_msg(reason != NULL, "accepted metadata %s", bad[i]);
        ck_assert_str_eq(reason, METADATA_REASON);
    }
    Od__ContactInput in = input("+919876543210");
    in.metadata_json = (char *)"{}";
    ck_assert_ptr_null(contacts_validate_input(&in));
}
END_TEST

/* Objects outside lib/json_scan's subset are still objects: jansson judges them. */
START_TEST(metadata_outside_the_fast_reader_is_still_accepted)
{
    static const char *const good[] = {
        " { \"a\" : 1 } ", "{\"e\":\"\\u00e9\"}", "{\"big\":1e300}", "{\"a\":1,\"a\":2}",
        "{\"n\":12345678901234567}", "{\"k\\n\":true}",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        Od__ContactInput in = input("+919876543210");
        in.metadata_json = (char *)good[i];
        ck_assert_msg(contacts_validate_input(&in) == NULL, "refused metadata %s", good[i]);
    }
}
END_TEST

START_TEST(metadata_size_limit)
{
    /* {"k":"mmm..."}: 8 bytes of framing */
    char *meta = malloc(CONTACTS_METADATA_MAX + 2);
    ck_assert_ptr_nonnull(meta);
    memcpy(meta, "{\"k\":\"", 6);
    memset(meta + 6, 'm', CONTACTS_METADATA_MAX - 8);
    memcpy(meta + CONTACTS_METADATA_MAX - 2, "\"}", 3);
    ck_assert_uint_eq(strlen(meta), CONTACTS_METADATA_MAX);

    Od__ContactInput in = input("+919876543210");
    in.metadata_json = meta;
    ck_assert_ptr_null(contacts_validate_input(&in));

    memset(meta + 6, 'm', CONTACTS_METADATA_MAX - 7);
    memcpy(meta + CONTACTS_METADATA_MAX - 1, "\"}", 3);
    ck_assert_uint_eq(strlen(meta), CONTACTS_METADATA_MAX + 1);
    ck_assert_str_eq(contacts_validate_input(&in), "metadata must be at most 16384 bytes of JSON");
    free(meta);
}
END_TEST

START_TEST(invalid_reason_passes_through)
{
    Od__ContactInput in = input("+919876543210");
    in.invalid_reason = (char *)"contacts[3].phoneNumber must be a string";
    const char *reason = contacts_validate_input(&in);
    ck_assert_ptr_eq(reason, in.invalid_reason); /* the same text, not a copy */

    in = input(""); /* it wins over every other rule */
    in.invalid_reason = (char *)"contacts[0] must be an object";
    in.language = (char *)"h";
    ck_assert_str_eq(contacts_validate_input(&in), "contacts[0] must be an object");
}
END_TEST

START_TEST(rules_apply_in_order)
{
    char *name = repeat("n", 300);
    Od__ContactInput in = input("12345");
    in.name = name;
    in.language = (char *)"h";
    in.metadata_json = (char *)"[]";
    ck_assert_str_eq(contacts_validate_input(&in), E164_REASON);
    in.phone_number = (char *)"+919876543210";
    ck_assert_str_eq(contacts_validate_input(&in), "name must be at most 256 bytes");
    in.name = (char *)"ok";
    ck_assert_str_eq(contacts_validate_input(&in), LANGUAGE_REASON);
    in.language = (char *)"en";
    ck_assert_str_eq(contacts_validate_input(&in), METADATA_REASON);
    in.metadata_json = (char *)"{}";
    ck_assert_ptr_null(contacts_validate_input(&in));
    free(name);
}
END_TEST

static Suite *contacts_validate_suite(void)
{
    Suite *s = suite_create("contacts_validate");
    TCase *tc = tcase_create("input");
    tcase_add_test(tc, valid_minimal_and_full);
    tcase_add_test(tc, phone_required);
    tcase_add_test(tc, phone_must_be_e164);
    tcase_add_test(tc, name_length_in_bytes);
    tcase_add_test(tc, metadata_must_be_object);
    tcase_add_test(tc, metadata_outside_the_fast_reader_is_still_accepted);
    tcase_add_test(tc, metadata_size_limit);
    tcase_add_test(tc, invalid_reason_passes_through);
    tcase_add_test(tc, rules_apply_in_order);
    suite_add_tcase(s, tc);

    tc = tcase_create("language");
    tcase_add_test(tc, language_tags_valid);
    tcase_add_test(tc, language_tags_invalid);
    tcase_add_test(tc, language_tag_total_length);
    tcase_add_test(tc, language_empty_means_not_given);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(contacts_validate_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
