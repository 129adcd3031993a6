/* lib/json_writer.c: the text must parse back (jansson) to exactly what was written. */
#include <check.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "json_writer.h"

START_TEST(writes_objects_and_numbers)
{
    struct json_writer w = {0};
    size_t len = 0;
    json_writer_raw(&w, "{\"n\":");
    json_writer_int(&w, -9007199254740991LL);
    json_writer_raw(&w, ",\"s\":");
    json_writer_string(&w, "Priya Sharma");
    json_writer_raw(&w, "}");
    char *text = json_writer_finish(&w, &len);
    ck_assert_str_eq(text, "{\"n\":-9007199254740991,\"s\":\"Priya Sharma\"}");
    ck_assert_uint_eq(len, strlen(text));
    ck_assert_ptr_null(w.data); /* ownership moved to the caller */
    free(text);
}
END_TEST

START_TEST(escapes_round_trip)
{
    /* Quotes, backslashes, every control character, and multi-byte UTF-8 left as is. */
    char value[64];
    size_t n = 0;
    for (int c = 1; c < 0x20; c++)
        value[n++] = (char)c;
    strcpy(value + n, "\"\\/ é 中");
    struct json_writer w = {0};
    json_writer_raw(&w, "[");
    json_writer_string(&w, value);
    json_writer_raw(&w, "]");
    char *text = json_writer_finish(&w, NULL);
    json_error_t err;
    json_t *parsed = json_loads(text, 0, &err);
    ck_assert_msg(parsed != NULL, "writer produced invalid JSON: %s (%s)", text, err.text);
    ck_assert_str_eq(json_string_value(json_array_get(parsed, 0)), value);
    ck_assert_ptr_nonnull(strstr(text, "\\u0001"));
    ck_assert_ptr_nonnull(strstr(text, "\\n"));
    json_decref(parsed);
    free(text);
}
END_TEST

START_TEST(empty_writer_finishes_empty)
{
    struct json_writer w = {0};
    size_t len = 99;
    char *text = json_writer_finish(&w, &len);
    ck_assert_str_eq(text, "");
    ck_assert_uint_eq(len, 0);
    free(text);
}
END_TEST

START_TEST(large_output_grows)
{
    struct json_writer w = {0};
    json_writer_raw(&w, "[");
    for (int i = 0; i < 100000; i++) {
        if (i)
            json_writer_raw(&w, ",");
        json_writer_string(&w, "cid_0VbvznBJLlzQRbAnaWEQat");
    }
    json_writer_raw(&w, "]");
    size_t len;
    char *text = json_writer_finish(&w, &len);
    json_t *parsed = json_loadb(text, len, 0, NULL);
    ck_assert_ptr_nonnull(parsed);
    ck_assert_uint_eq(json_array_size(parsed), 100000);
    json_decref(parsed);
    free(text);
}
END_TEST

static Suite *json_writer_suite(void)
{
    Suite *s = suite_create("json_writer");
    TCase *tc = tcase_create("writer");
    tcase_add_test(tc, writes_objects_and_numbers);
    tcase_add_test(tc, escapes_round_trip);
    tcase_add_test(tc, empty_writer_finishes_empty);
    tcase_add_test(tc, large_output_grows);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(json_writer_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
