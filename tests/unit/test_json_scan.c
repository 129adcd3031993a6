/* lib/json_scan.c: json_scan_is_object, the whole-text check contacts-svc runs on metadata.
 * (The reader's agreement with jansson is checked by tests/fuzz/scan_differential.c.) */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_scan.h"

static int is_object(const char *text)
{
    return json_scan_is_object(text, strlen(text));
}

START_TEST(objects_inside_the_subset)
{
    static const char *const yes[] = {
        "{}", " {} ", "{\"a\":1}", "\n{ \"a\" : [ 1, -2.5, 0, true, false, null, {}, [] ] }\t",
        "{\"s\":\"tab\\t quote\\\" slash\\/ h\xc3\xa9\"}", "{\"n\":{\"m\":{\"o\":\"deep\"}}}",
        "{\"x\":123456789012345}",
    };
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        ck_assert_msg(is_object(yes[i]), "refused %s", yes[i]);
}
END_TEST

START_TEST(everything_else)
{
    static const char *const no[] = {
        "", " ", "[]", "1", "\"s\"", "null", "{", "}", "{\"a\"}", "{\"a\":}", "{\"a\":1,}",
        "{\"a\":1}{}", "{\"a\":1} x", "{a:1}", "{'a':1}", "{\"a\":01}", "{\"a\":1.}", "{\"a\":.5}",
        "{\"a\":+1}", "{\"a\":1e5}", "{\"a\":1234567890123456}", "{\"a\":\"\\u0041\"}",
        "{\"a\":\"\\x\"}", "{\"a\":\"x\ny\"}", "{\"a\":\"\xc3\"}", "{\"a\":\"\xed\xa0\x80\"}",
        "{\"a\":1,\"a\":2}", "{\"a\":tru}", "{\"a\":nul}", "{\"a\":[1 2]}",
    };
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        ck_assert_msg(!is_object(no[i]), "accepted %s", no[i]);
    ck_assert(!json_scan_is_object(NULL, 0));
    ck_assert(!json_scan_is_object("{}x", 3));
    ck_assert(json_scan_is_object("{}x", 2)); /* only len bytes are read */
}
END_TEST

START_TEST(depth_and_width_limits)
{
    char text[4096], *p = text;
    for (int i = 0; i < JSON_SCAN_MAX_DEPTH; i++)
        p += sprintf(p, "{\"a\":");
    p += sprintf(p, "1");
    for (int i = 0; i < JSON_SCAN_MAX_DEPTH; i++)
        *p++ = '}';
    *p = '\0';
    ck_assert(is_object(text));
    memmove(text + 5, text, strlen(text) + 1); /* one level more */
    memcpy(text, "{\"a\":", 5);
    strcat(text, "}");
    ck_assert(!is_object(text));

    p = text + sprintf(text, "{");
    for (int i = 0; i < JSON_SCAN_MAX_KEYS; i++)
        p += sprintf(p, "%s\"k%d\":%d", i ? "," : "", i, i);
    strcpy(p, "}");
    ck_assert(is_object(text));
    strcpy(p, ",\"one_more\":1}");
    ck_assert(!is_object(text));
}
END_TEST

static int too_many(const char *text, size_t max)
{
    return json_scan_too_many_items(text, strlen(text), max);
}

START_TEST(item_counts_before_parsing)
{
    /* members of any array or object, at any depth; strings (and their escapes) are skipped */
    ck_assert_int_eq(too_many("[]", 1), 0);
    ck_assert_int_eq(too_many("[1,2,3]", 3), 0);
    ck_assert_int_eq(too_many("[1,2,3,4]", 3), 1);
    ck_assert_int_eq(too_many("{\"a\":[1,2],\"b\":[3,4],\"c\":1}", 3), 0);
    ck_assert_int_eq(too_many("{\"a\":1,\"b\":2,\"c\":3,\"d\":4}", 3), 1);
    ck_assert_int_eq(too_many("{\"x\":{\"y\":[{},{},{},{}]}}", 3), 1);
    ck_assert_int_eq(too_many("[\"a,b,c,d,e\", \"\\\",,,,\"]", 3), 0);
    ck_assert_int_eq(too_many("[[1,2,3],[4,5,6],[7,8,9]]", 3), 0);
    /* malformed text is left to the parser */
    ck_assert_int_eq(too_many("]]]],,,", 3), 0);
    ck_assert_int_eq(too_many("[\"unterminated,,,,", 3), 0);
    /* 10,001 elements stop at the 10,001st; 10,000 pass */
    size_t n = 10001, len = 0;
    char *text = malloc(n * 3 + 2);
    text[len++] = '[';
    for (size_t i = 0; i < n; i++)
        len += (size_t)sprintf(text + len, "%s{}", i ? "," : "");
    text[len++] = ']';
    text[len] = '\0';
    ck_assert_int_eq(json_scan_too_many_items(text, len, 10000), 1);
    ck_assert_int_eq(json_scan_too_many_items(text, len, 10001), 0);
    free(text);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("json_scan");
    TCase *tc = tcase_create("is_object");
    tcase_add_test(tc, objects_inside_the_subset);
    tcase_add_test(tc, everything_else);
    tcase_add_test(tc, depth_and_width_limits);
    tcase_add_test(tc, item_counts_before_parsing);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
