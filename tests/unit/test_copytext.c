/* lib/copytext: the COPY text fields and the text[] array literals. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "copytext.h"

START_TEST(array_quotes_every_element)
{
    struct copytext b = {0};
    copytext_array_add(&b, "cid_1");
    copytext_array_add(&b, "a,b}{");
    copytext_array_add(&b, "say \"hi\" \\ bye");
    copytext_array_add(&b, "");
    ck_assert_str_eq(copytext_array_end(&b),
                     "{\"cid_1\",\"a,b}{\",\"say \\\"hi\\\" \\\\ bye\",\"\"}");
    free(b.data);
}
END_TEST

START_TEST(array_empty)
{
    struct copytext b = {0};
    ck_assert_str_eq(copytext_array_end(&b), "{}");
    free(b.data);
}
END_TEST

START_TEST(fields_escape_and_null)
{
    struct copytext b = {0};
    copytext_field(&b, "a\tb\\c\nd", '\t');
    copytext_field(&b, NULL, '\t');
    copytext_int(&b, -42, '\n');
    ck_assert_uint_eq(b.len, strlen("a\\tb\\\\c\\nd\t\\N\t-42\n"));
    ck_assert_int_eq(memcmp(b.data, "a\\tb\\\\c\\nd\t\\N\t-42\n", b.len), 0);
    free(b.data);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("copytext");
    TCase *tc = tcase_create("copytext");
    tcase_add_test(tc, array_quotes_every_element);
    tcase_add_test(tc, array_empty);
    tcase_add_test(tc, fields_escape_and_null);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
