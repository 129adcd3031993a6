/* lib/json_util: typed field access with messages that name the field, and body parsing. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json_util.h"

static json_t *obj;
static char err[JSON_ERROR_MAX];

/* A fixture object holding one field of every kind. */
static void setup(void)
{
    json_error_t jerr;
    obj = json_loads("{\"s\": \"hello\", \"empty\": \"\", \"n\": null, \"i\": 42, \"neg\": -7,"
                     " \"r\": 1.5, \"t\": true, \"f\": false, \"a\": [1, 2],"
                     " \"o\": {\"b\": 1, \"a\": {\"c\": [1, 2, null]}, \"u\": \"\\u00e9\"},"
                     " \"eo\": {}, \"si\": \"5\", \"st\": \"true\"}",
                     0, &jerr);
    ck_assert_msg(obj != NULL, "fixture: %s", jerr.text);
    memset(err, 0, sizeof err);
}

static void teardown(void)
{
    json_decref(obj);
}

/* ---- json_field_string ---- */

START_TEST(string_ok)
{
    const char *out = NULL;
    ck_assert_int_eq(json_field_string(obj, "", "s", 0, &out, err, sizeof err), JSON_FIELD_OK);
    ck_assert_str_eq(out, "hello");
    ck_assert_ptr_eq(out, json_string_value(json_object_get(obj, "s"))); /* borrowed */
    ck_assert_int_eq(json_field_string(obj, "", "empty", 10, &out, err, sizeof err),
                     JSON_FIELD_OK);
    ck_assert_str_eq(out, "");
    ck_assert_str_eq(err, "");
}
END_TEST

START_TEST(string_absent_and_null)
{
    const char *out = "untouched";
    ck_assert_int_eq(json_field_string(obj, "", "missing", 0, &out, err, sizeof err),
                     JSON_FIELD_ABSENT);
    ck_assert_int_eq(json_field_string(obj, "", "n", 0, &out, err, sizeof err),
                     JSON_FIELD_ABSENT);
    ck_assert_str_eq(out, "untouched");
    ck_assert_str_eq(err, "");
    /* not an object at all: nothing to find */
    ck_assert_int_eq(json_field_string(json_object_get(obj, "a"), "", "s", 0, &out, err,
                                       sizeof err),
                     JSON_FIELD_ABSENT);
    ck_assert_int_eq(json_field_string(NULL, "", "s", 0, &out, err, sizeof err),
                     JSON_FIELD_ABSENT);
    ck_assert_str_eq(out, "untouched");
}
END_TEST

START_TEST(string_wrong_type)
{
    static const char *const keys[] = {"i", "r", "t", "f", "a", "o"};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        const char *out = "untouched";
        char want[64];
        ck_assert_int_eq(json_field_string(obj, "contacts[3].", keys[k], 0, &out, err,
                                           sizeof err),
                         JSON_FIELD_BAD);
        snprintf(want, sizeof want, "contacts[3].%s must be a string", keys[k]);
        ck_assert_str_eq(err, want);
        ck_assert_str_eq(out, "untouched");
    }
}
END_TEST

START_TEST(string_too_long)
{
    const char *out = NULL;
    ck_assert_int_eq(json_field_string(obj, "", "s", 4, &out, err, sizeof err), JSON_FIELD_BAD);
    ck_assert_str_eq(err, "s must be at most 4 characters");
    ck_assert_ptr_null(out);
    ck_assert_int_eq(json_field_string(obj, "row.", "s", 5, &out, err, sizeof err),
                     JSON_FIELD_OK); /* exactly at the limit */
    ck_assert_str_eq(out, "hello");
    /* the limit counts bytes: "é" is two */
    ck_assert_int_eq(json_field_string(json_object_get(obj, "o"), "", "u", 1, &out, err,
                                       sizeof err),
                     JSON_FIELD_BAD);
    ck_assert_str_eq(err, "u must be at most 1 characters");
    ck_assert_int_eq(json_field_string(json_object_get(obj, "o"), "", "u", 2, &out, err,
                                       sizeof err),
                     JSON_FIELD_OK);
    ck_assert_str_eq(out, "\xc3\xa9");
}
END_TEST

START_TEST(string_embedded_nul)
{
    const char *out = "untouched";
    json_object_set_new(obj, "z", json_stringn("a\0b", 3));
    ck_assert_int_eq(json_field_string(obj, "contacts[0].", "z", 0, &out, err, sizeof err),
                     JSON_FIELD_BAD);
    ck_assert_str_eq(err, "contacts[0].z must not contain NUL characters");
    ck_assert_str_eq(out, "untouched");
    json_object_set_new(obj, "z0", json_stringn("\0", 1));
    ck_assert_int_eq(json_field_string(obj, "", "z0", 0, &out, err, sizeof err),
                     JSON_FIELD_BAD);
    ck_assert_str_eq(err, "z0 must not contain NUL characters");
}
END_TEST

START_TEST(string_error_truncated_to_err_size)
{
    char small[12];
    const char *out = NULL;
    memset(small, 'X', sizeof small);
    ck_assert_int_eq(json_field_string(obj, "contacts[3].", "i", 0, &out, small, sizeof small),
                     JSON_FIELD_BAD);
    ck_assert_str_eq(small, "contacts[3]");
}
END_TEST

/* ---- json_field_int ---- */

START_TEST(int_ok)
{
    json_int_t out = 0;
    ck_assert_int_eq(json_field_int(obj, "", "i", 0, 100, &out, err, sizeof err),
                     JSON_FIELD_OK);
    ck_assert_int_eq(out, 42);
    ck_assert_int_eq(json_field_int(obj, "", "i", 42, 42, &out, err, sizeof err),
                     JSON_FIELD_OK); /* bounds are inclusive */
    ck_assert_int_eq(json_field_int(obj, "", "neg", -7, 0, &out, err, sizeof err),
                     JSON_FIELD_OK);
    ck_assert_int_eq(out, -7);
    ck_assert_str_eq(err, "");
}
END_TEST

START_TEST(int_absent_and_null)
{
    json_int_t out = 1234;
    ck_assert_int_eq(json_field_int(obj, "", "missing", 0, 10, &out, err, sizeof err),
                     JSON_FIELD_ABSENT);
    ck_assert_int_eq(json_field_int(obj, "", "n", 0, 10, &out, err, sizeof err),
                     JSON_FIELD_ABSENT);
    ck_assert_int_eq(out, 1234);
    ck_assert_str_eq(err, "");
}
END_TEST

START_TEST(int_wrong_type)
{
    static const char *const keys[] = {"r", "s", "si", "t", "a", "o"};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        json_int_t out = 1234;
        char want[64];
        ck_assert_int_eq(json_field_int(obj, "q.", keys[k], 0, 100, &out, err, sizeof err),
                         JSON_FIELD_BAD);
        snprintf(want, sizeof want, "q.%s must be an integer", keys[k]);
        ck_assert_str_eq(err, want);
        ck_assert_int_eq(out, 1234);
    }
}
END_TEST

START_TEST(int_out_of_range)
{
    json_int_t out = 1234;
    ck_assert_int_eq(json_field_int(obj, "", "i", 0, 41, &out, err, sizeof err),
                     JSON_FIELD_BAD);
    ck_assert_str_eq(err, "i must be between 0 and 41");
    ck_assert_int_eq(json_field_int(obj, "x.", "i", 43, 100, &out, err, sizeof err),
                     JSON_FIELD_BAD);
    ck_assert_str_eq(err, "x.i must be between 43 and 100");
    ck_assert_int_eq(json_field_int(obj, "", "neg", 1, 1000000, &out, err, sizeof err),
                     JSON_FIELD_BAD);
    ck_assert_str_eq(err, "neg must be between 1 and 1000000");
    ck_assert_int_eq(out, 1234);
    json_object_set_new(obj, "big", json_integer(INT64_MAX));
    ck_assert_int_eq(json_field_int(obj, "", "big", -2147483648LL, 2147483647LL, &out, err,
                                    sizeof err),
                     JSON_FIELD_BAD);
    ck_assert_str_eq(err, "big must be between -2147483648 and 2147483647");
    ck_assert_int_eq(json_field_int(obj, "", "big", 0, INT64_MAX, &out, err, sizeof err),
                     JSON_FIELD_OK);
    ck_assert_int_eq(out, INT64_MAX);
}
END_TEST

/* ---- json_field_bool ---- */

START_TEST(bool_ok)
{
    int out = -1;
    ck_assert_int_eq(json_field_bool(obj, "", "t", &out, err, sizeof err), JSON_FIELD_OK);
    ck_assert_int_eq(out, 1);
    ck_assert_int_eq(json_field_bool(obj, "", "f", &out, err, sizeof err), JSON_FIELD_OK);
    ck_assert_int_eq(out, 0);
    ck_assert_str_eq(err, "");
}
END_TEST

START_TEST(bool_absent_and_null)
{
    int out = -1;
    ck_assert_int_eq(json_field_bool(obj, "", "missing", &out, err, sizeof err),
                     JSON_FIELD_ABSENT);
    ck_assert_int_eq(json_field_bool(obj, "", "n", &out, err, sizeof err), JSON_FIELD_ABSENT);
    ck_assert_int_eq(out, -1);
}
END_TEST

START_TEST(bool_wrong_type)
{
    static const char *const keys[] = {"i", "st", "s", "r", "a", "o"};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        int out = -1;
        char want[64];
        ck_assert_int_eq(json_field_bool(obj, "opts.", keys[k], &out, err, sizeof err),
                         JSON_FIELD_BAD);
        snprintf(want, sizeof want, "opts.%s must be a boolean", keys[k]);
        ck_assert_str_eq(err, want);
        ck_assert_int_eq(out, -1);
    }
}
END_TEST

/* ---- json_field_object_text ---- */

START_TEST(object_text_ok_compact_and_ordered)
{
    char *out = NULL;
    ck_assert_int_eq(json_field_object_text(obj, "", "o", 0, &out, err, sizeof err),
                     JSON_FIELD_OK);
    ck_assert_str_eq(out, "{\"b\":1,\"a\":{\"c\":[1,2,null]},\"u\":\"\xc3\xa9\"}");
    free(out);
    out = NULL;
    ck_assert_int_eq(json_field_object_text(obj, "", "eo", 0, &out, err, sizeof err),
                     JSON_FIELD_OK);
    ck_assert_str_eq(out, "{}");
    free(out);
    ck_assert_str_eq(err, "");
}
END_TEST

START_TEST(object_text_absent_and_null)
{
    char *out = NULL;
    ck_assert_int_eq(json_field_object_text(obj, "", "missing", 0, &out, err, sizeof err),
                     JSON_FIELD_ABSENT);
    ck_assert_int_eq(json_field_object_text(obj, "", "n", 0, &out, err, sizeof err),
                     JSON_FIELD_ABSENT);
    ck_assert_ptr_null(out);
}
END_TEST

START_TEST(object_text_wrong_type)
{
    static const char *const keys[] = {"a", "s", "i", "r", "t", "empty"};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        char *out = NULL, want[64];
        ck_assert_int_eq(json_field_object_text(obj, "contacts[9].", keys[k], 0, &out, err,
                                                sizeof err),
                         JSON_FIELD_BAD);
        snprintf(want, sizeof want, "contacts[9].%s must be an object", keys[k]);
        ck_assert_str_eq(err, want);
        ck_assert_ptr_null(out);
    }
}
END_TEST

START_TEST(object_text_too_long)
{
    /* {"b":1,"a":{"c":[1,2,null]},"u":"é"} is 37 bytes */
    char *out = NULL;
    ck_assert_int_eq(json_field_object_text(obj, "", "o", 36, &out, err, sizeof err),
                     JSON_FIELD_BAD);
    ck_assert_str_eq(err, "o must be at most 36 bytes of JSON");
    ck_assert_ptr_null(out); /* nothing handed out; LSan checks nothing leaked */
    ck_assert_int_eq(json_field_object_text(obj, "", "o", 37, &out, err, sizeof err),
                     JSON_FIELD_OK);
    ck_assert_uint_eq(strlen(out), 37);
    free(out);
}
END_TEST

/* ---- json_parse_object ---- */

static json_t *parse(const char *text)
{
    return json_parse_object(text, strlen(text), err, sizeof err);
}

START_TEST(parse_object_ok)
{
    json_t *v = parse("{\"a\": 1, \"b\": [true]}");
    ck_assert_ptr_nonnull(v);
    ck_assert(json_is_object(v));
    ck_assert_int_eq(json_integer_value(json_object_get(v, "a")), 1);
    json_decref(v);
    v = parse("  {}  \n");
    ck_assert_ptr_nonnull(v);
    ck_assert_uint_eq(json_object_size(v), 0);
    json_decref(v);
    ck_assert_str_eq(err, "");
}
END_TEST

START_TEST(parse_object_uses_only_len_bytes)
{
    static const char text[] = "{\"a\":1}trailing garbage";
    json_t *v = json_parse_object(text, 7, err, sizeof err);
    ck_assert_ptr_nonnull(v);
    ck_assert_int_eq(json_integer_value(json_object_get(v, "a")), 1);
    json_decref(v);
}
END_TEST

START_TEST(parse_object_empty)
{
    ck_assert_ptr_null(json_parse_object("", 0, err, sizeof err));
    ck_assert_str_eq(err, "request body must be a JSON object");
    /* NULL with length 0 is an empty body too */
    ck_assert_ptr_null(json_parse_object(NULL, 0, err, sizeof err));
    ck_assert_str_eq(err, "request body must be a JSON object");
}
END_TEST

START_TEST(parse_object_not_an_object)
{
    ck_assert_ptr_null(parse("[1, 2, 3]"));
    ck_assert_str_eq(err, "request body must be a JSON object");
    ck_assert_ptr_null(parse("[]"));
    ck_assert_str_eq(err, "request body must be a JSON object");
}
END_TEST

START_TEST(parse_object_malformed)
{
    static const char *const bad[] = {
        "{",           "}",          "{\"a\":}",      "{\"a\" 1}",     "{'a': 1}",
        "{\"a\":1,}",  "{\"a\":1}x", "{\"a\":1}{}",  "   ",           "42",
        "\"string\"",  "null",       "true",          "{\"a\":1,\"a\":2}", /* duplicate */
        "{\"a\":\"\\u0000\"}", /* NUL escapes are refused by the parser */
        "{\"a\":\"\xff\"}",    /* invalid UTF-8 */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(err, 0, sizeof err);
        ck_assert_msg(parse(bad[i]) == NULL, "accepted \"%s\"", bad[i]);
        ck_assert_msg(strncmp(err, "malformed JSON at line 1 column ", 32) == 0,
                      "\"%s\" gave \"%s\"", bad[i], err);
    }
}
END_TEST

START_TEST(parse_object_malformed_message)
{
    ck_assert_ptr_null(parse("{\"a\":1,\"a\":2}"));
    ck_assert_str_eq(err, "malformed JSON at line 1 column 10: duplicate object key near '\"a\"'");
    ck_assert_ptr_null(parse("{\n  \"a\": }"));
    ck_assert_str_eq(err, "malformed JSON at line 2 column 8: unexpected token near '}'");
}
END_TEST

START_TEST(parse_object_embedded_nul_byte)
{
    static const char text[] = {'{', '}', '\0', ' '};
    ck_assert_ptr_null(json_parse_object(text, sizeof text, err, sizeof err));
    ck_assert_int_eq(strncmp(err, "malformed JSON", 14), 0);
}
END_TEST

/* ---- json_object_from_text ---- */

START_TEST(object_from_text)
{
    json_t *v = json_object_from_text("{\"k\": \"v\"}");
    ck_assert(json_is_object(v));
    ck_assert_str_eq(json_string_value(json_object_get(v, "k")), "v");
    json_decref(v);

    static const char *const not_objects[] = {"", "[1]", "garbage", "42", "{", "null"};
    for (size_t i = 0; i < sizeof not_objects / sizeof not_objects[0]; i++) {
        v = json_object_from_text(not_objects[i]);
        ck_assert_msg(json_is_object(v) && json_object_size(v) == 0, "\"%s\"", not_objects[i]);
        json_decref(v);
    }
    v = json_object_from_text(NULL);
    ck_assert(json_is_object(v));
    ck_assert_uint_eq(json_object_size(v), 0);
    json_decref(v);
}
END_TEST

static Suite *json_util_suite(void)
{
    Suite *s = suite_create("json_util");
    TCase *tc = tcase_create("field_string");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, string_ok);
    tcase_add_test(tc, string_absent_and_null);
    tcase_add_test(tc, string_wrong_type);
    tcase_add_test(tc, string_too_long);
    tcase_add_test(tc, string_embedded_nul);
    tcase_add_test(tc, string_error_truncated_to_err_size);
    suite_add_tcase(s, tc);

    tc = tcase_create("field_int");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, int_ok);
    tcase_add_test(tc, int_absent_and_null);
    tcase_add_test(tc, int_wrong_type);
    tcase_add_test(tc, int_out_of_range);
    suite_add_tcase(s, tc);

    tc = tcase_create("field_bool");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, bool_ok);
    tcase_add_test(tc, bool_absent_and_null);
    tcase_add_test(tc, bool_wrong_type);
    suite_add_tcase(s, tc);

    tc = tcase_create("field_object_text");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, object_text_ok_compact_and_ordered);
    tcase_add_test(tc, object_text_absent_and_null);
    tcase_add_test(tc, object_text_wrong_type);
    tcase_add_test(tc, object_text_too_long);
    suite_add_tcase(s, tc);

    tc = tcase_create("parse_object");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, parse_object_ok);
    tcase_add_test(tc, parse_object_uses_only_len_bytes);
    tcase_add_test(tc, parse_object_empty);
    tcase_add_test(tc, parse_object_not_an_object);
    tcase_add_test(tc, parse_object_malformed);
    tcase_add_test(tc, parse_object_malformed_message);
    tcase_add_test(tc, parse_object_embedded_nul_byte);
    tcase_add_test(tc, object_from_text);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(json_util_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
