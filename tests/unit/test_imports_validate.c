/* contacts-svc/imports.c: the webhookUrl rule and the import row rule (the contact rules: a
 * name is optional, as on every contact-writing route; issue 14). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "validate.h"

START_TEST(webhook_urls)
{
    ck_assert(imports_webhook_url_valid("https://your-app.com/webhooks/import-done"));
    ck_assert(imports_webhook_url_valid("http://10.0.0.1:8080/x?y=1#z"));
    ck_assert(imports_webhook_url_valid("HTTPS://EXAMPLE.COM"));
    ck_assert(!imports_webhook_url_valid(""));
    ck_assert(!imports_webhook_url_valid("ftp://example.com/"));
    ck_assert(!imports_webhook_url_valid("javascript:alert(1)"));
    ck_assert(!imports_webhook_url_valid("https://"));
    ck_assert(!imports_webhook_url_valid("https:///path"));
    ck_assert(!imports_webhook_url_valid("https://exa mple.com/"));
    ck_assert(!imports_webhook_url_valid("https://example.com/\n"));
    ck_assert(!imports_webhook_url_valid("https://exämple.com/"));
    char url[2100];
    memcpy(url, "https://example.com/", 20);
    memset(url + 20, 'a', 2028);
    url[2048] = '\0';
    ck_assert(imports_webhook_url_valid(url)); /* 2,048 bytes */
    url[2048] = 'a';
    url[2049] = '\0';
    ck_assert(!imports_webhook_url_valid(url));
}
END_TEST

START_TEST(rows_need_no_name)
{
    Od__ContactInput in = OD__CONTACT_INPUT__INIT;
    in.phone_number = "+14155550100";
    /* one rule everywhere: a row without a name is imported (its name stored as NULL) */
    ck_assert_ptr_null(imports_validate_row(&in));
    ck_assert_ptr_null(contacts_validate_input(&in));
    in.name = "Ann";
    ck_assert_ptr_null(imports_validate_row(&in));
    in.phone_number = "415";
    ck_assert_str_eq(imports_validate_row(&in), "phoneNumber must be a valid E.164 phone number");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("imports_validate");
    TCase *tc = tcase_create("rules");
    tcase_add_test(tc, webhook_urls);
    tcase_add_test(tc, rows_need_no_name);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
