/* gateway/contacts_scan.c: the one-pass reader of bulk and import bodies. What it maps, and
 * that everything outside its subset falls back to the jansson path. Every accepted body is
 * also run through tests/fuzz/scan_differential.c, which aborts if the jansson path would have
 * built different rows. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "contacts_scan.h"
#include "imports_json.h"
#include "scan_differential.h"

static struct arena *arena;

static void setup(void)
{
    arena = arena_new();
    ck_assert_ptr_nonnull(arena);
    arena_enter(arena);
}

static void teardown(void)
{
    arena_leave();
    arena_destroy(arena);
}

static Od__BulkUpsertRequest bulk_ok(const char *body)
{
    Od__BulkUpsertRequest req;
    ck_assert_msg(contacts_scan_bulk(body, strlen(body), &req) == CONTACTS_SCAN_OK,
                  "fell back on %s", body);
    ck_assert_int_eq(scan_differential_bulk((const uint8_t *)body, strlen(body)), 1);
    return req;
}

static void bulk_falls_back(const char *body, size_t len)
{
    Od__BulkUpsertRequest req;
    ck_assert_msg(contacts_scan_bulk(body, len, &req) == CONTACTS_SCAN_FALLBACK,
                  "accepted %.*s", (int)len, body);
    ck_assert_ptr_null(req.contacts);
    ck_assert_uint_eq(req.n_contacts, 0);
    ck_assert_int_eq(scan_differential_bulk((const uint8_t *)body, len), 0);
}

#define FALLS_BACK(text) bulk_falls_back(text, strlen(text))

static Od__SubmitImportRequest import_ok(const char *body)
{
    Od__SubmitImportRequest req;
    ck_assert_msg(contacts_scan_import(body, strlen(body), &req) == CONTACTS_SCAN_OK,
                  "fell back on %s", body);
    ck_assert_int_eq(scan_differential_import((const uint8_t *)body, strlen(body)), 1);
    return req;
}

static void import_falls_back(const char *body)
{
    Od__SubmitImportRequest req;
    ck_assert_int_eq(contacts_scan_import(body, strlen(body), &req), CONTACTS_SCAN_FALLBACK);
    ck_assert_ptr_null(req.contacts);
    ck_assert_int_eq(scan_differential_import((const uint8_t *)body, strlen(body)), 0);
}

START_TEST(bulk_maps_the_reference_rows)
{
    Od__BulkUpsertRequest req = bulk_ok(
        " {\"contacts\": [\n"
        "  {\"name\": \"John Doe\", \"phoneNumber\": \"+14155550100\", \"language\": \"en-US\",\n"
        "   \"metadata\": { \"company\" : \"Acme Inc\", \"tags\": [1, 2.5, true, null, {}] } },\n"
        "  {\"phoneNumber\": \"+14155550101\", \"name\": null}\n"
        " ], \"other\": \"ignored\"} \n");
    ck_assert_uint_eq(req.n_contacts, 2);
    ck_assert_str_eq(req.contacts[0]->name, "John Doe");
    ck_assert_str_eq(req.contacts[0]->phone_number, "+14155550100");
    ck_assert_str_eq(req.contacts[0]->language, "en-US");
    ck_assert_str_eq(req.contacts[0]->metadata_json,
                     "{\"company\":\"Acme Inc\",\"tags\":[1,2.5,true,null,{}]}");
    ck_assert_str_eq(req.contacts[1]->name, "");
    ck_assert_str_eq(req.contacts[1]->language, "");
    ck_assert_str_eq(req.contacts[1]->metadata_json, "");
    ck_assert_str_eq(req.contacts[0]->invalid_reason, "");
    ck_assert(arena_owns(arena, req.contacts));
}
END_TEST

START_TEST(bulk_keeps_numbers_and_escapes_as_sent)
{
    /* jansson's dump turned 0.1 into 0.10000000000000001 */
    Od__BulkUpsertRequest req = bulk_ok(
        "{\"contacts\":[{\"phoneNumber\":\"+14155550100\",\"metadata\":"
        "{\"p\":0.1,\"n\":-0,\"s\":\"a \\\"q\\\" \\\\ \\/ \\n\\t\",\"u\":\"h\xc3\xa9 \xf0\x9f\x93\x9e\"}}]}");
    ck_assert_str_eq(req.contacts[0]->metadata_json,
                     "{\"p\":0.1,\"n\":-0,\"s\":\"a \\\"q\\\" \\\\ \\/ \\n\\t\","
                     "\"u\":\"h\xc3\xa9 \xf0\x9f\x93\x9e\"}");
}
END_TEST

/* Aliases (phone_number, phone) and keys that become metadata (issue 14) are the jansson
 * path's: the usual camelCase row stays here, these fall back, and both paths agree. */
START_TEST(bulk_falls_back_on_aliases_and_extra_keys)
{
    FALLS_BACK("{\"contacts\":[{\"name\":\"A\",\"phone_number\":\"+14155550100\"}]}");
    FALLS_BACK("{\"contacts\":[{\"phone\":\"+14155550100\"}]}");
    FALLS_BACK("{\"contacts\":[{\"phoneNumber\":\"+14155550100\",\"city\":\"Pune\"}]}");
    FALLS_BACK("{\"contacts\":[{\"phoneNumber\":\"+14155550100\"},"
               "{\"phoneNumber\":\"+14155550101\",\"tier\":{\"a\":1}}]}");
}
END_TEST

START_TEST(bulk_falls_back_on_malformed_json)
{
    FALLS_BACK("");
    FALLS_BACK("{");
    FALLS_BACK("[]");
    FALLS_BACK("{\"contacts\":[{\"phoneNumber\":\"+1\"}]");          /* unclosed */
    FALLS_BACK("{\"contacts\":[{\"phoneNumber\":\"+1\"},]}");        /* trailing comma */
    FALLS_BACK("{\"contacts\":[{\"phoneNumber\":\"+1\"}]} x");       /* trailing garbage */
    FALLS_BACK("\xef\xbb\xbf{\"contacts\":[{\"phoneNumber\":\"+1\"}]}"); /* BOM */
    FALLS_BACK("{\"contacts\":[{\"phoneNumber\":\"+1\",\"metadata\":{\"a\":01}}]}");
    FALLS_BACK("{\"contacts\":[{\"phoneNumber\":\"+1\",\"metadata\":{\"a\":1.}}]}");
    FALLS_BACK("{\"contacts\":[{\"phoneNumber\":\"+1\",\"metadata\":{\"a\":tru}}]}");
    FALLS_BACK("{\"contacts\":[{\"phoneNumber\":\"+1\",\"metadata\":{\"a\":nullx}}]}");
    FALLS_BACK("{\"contacts\":[{\"phoneNumber\":\"+1\",\"metadata\":{\"a\":\"\\x\"}}]}");
    FALLS_BACK("{\"contacts\":[{\"phoneNumber\":\"+1\tx\"}]}");      /* raw control character */
    static const char nul[] = "{\"contacts\":[{\"phoneNumber\":\"+1\0\"}]}";
    bulk_falls_back(nul, sizeof nul - 1); /* a raw NUL */
}
END_TEST

START_TEST(bulk_falls_back_on_invalid_utf8)
{
    FALLS_BACK("{\"contacts\":[{\"name\":\"\xc0\x80\",\"phoneNumber\":\"+1\"}]}"); /* overlong */
    FALLS_BACK("{\"contacts\":[{\"name\":\"\xed\xa0\x80\",\"phoneNumber\":\"+1\"}]}"); /* surrogate */
    FALLS_BACK("{\"contacts\":[{\"name\":\"\xf4\x90\x80\x80\",\"phoneNumber\":\"+1\"}]}");
    FALLS_BACK("{\"contacts\":[{\"name\":\"\xe2\x82\",\"phoneNumber\":\"+1\"}]}"); /* cut short */
    FALLS_BACK("{\"contacts\":[{\"name\":\"\x80\",\"phoneNumber\":\"+1\"}]}");
}
END_TEST

START_TEST(bulk_falls_back_outside_the_subset)
{
    /* the jansson path maps these (or words their error); the reader leaves them to it */
    FALLS_BACK("{\"contacts\":[{\"name\":\"A \\\"B\\\"\",\"phoneNumber\":\"+1\"}]}");
    FALLS_BACK("{\"contacts\":[{\"phoneNumber\":\"+1\",\"metadata\":{\"a\":\"\\u00e9\"}}]}");
    FALLS_BACK("{\"contacts\":[{\"phoneNumber\":\"+1\",\"metadata\":{\"a\\n\":1}}]}");
    FALLS_BACK("{\"contacts\":[{\"phoneNumber\":\"+1\",\"metadata\":{\"a\":1e3}}]}");
    FALLS_BACK("{\"contacts\":[{\"phoneNumber\":\"+1\",\"metadata\":{\"a\":1234567890123456}}]}");
    FALLS_BACK("{\"contacts\":[{\"phoneNumber\":\"+1\",\"phoneNumber\":\"+2\"}]}");
    FALLS_BACK("{\"contacts\":[{\"phoneNumber\":\"+1\",\"metadata\":{\"a\":1,\"a\":2}}]}");
    FALLS_BACK("{\"contacts\":[{\"phoneNumber\":\"+1\"}],\"contacts\":[]}");
    FALLS_BACK("{\"contacts\":[]}");
    FALLS_BACK("{\"contacts\":{}}");
    FALLS_BACK("{\"other\":1}");
    FALLS_BACK("{\"contacts\":[1]}");
    FALLS_BACK("{\"contacts\":[{\"name\":7,\"phoneNumber\":\"+1\"}]}");
    FALLS_BACK("{\"contacts\":[{\"phoneNumber\":\"+1\",\"metadata\":[1]}]}");
    FALLS_BACK("{\"contacts\":[{\"phoneNumber\":\"+1\",\"metadata\":\"{}\"}]}");
}
END_TEST

START_TEST(bulk_falls_back_near_limits)
{
    size_t n = 10001, len = 20 + n * 25;
    char *big = malloc(len + 9000), *p = big;
    p += sprintf(p, "{\"contacts\":[");
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "%s{\"phoneNumber\":\"+1\"}", i ? "," : "");
    strcpy(p, "]}");
    FALLS_BACK(big); /* 10,001 rows: the jansson path words the 400 */

    p = big + sprintf(big, "{\"contacts\":[{\"phoneNumber\":\"+1\",\"metadata\":{\"a\":\"");
    memset(p, 'x', 8200);
    strcpy(p + 8200, "\"}}]}");
    FALLS_BACK(big); /* metadata beyond 8 KiB */

    p = big + sprintf(big, "{\"contacts\":[{\"phoneNumber\":\"+1\",\"name\":\"");
    memset(p, 'x', 4001);
    strcpy(p + 4001, "\"}]}");
    FALLS_BACK(big);

    p = big + sprintf(big, "{\"contacts\":[{\"phoneNumber\":\"+1\",\"metadata\":");
    for (int i = 0; i < 20; i++)
        p += sprintf(p, "{\"a\":");
    p += sprintf(p, "1");
    for (int i = 0; i < 20; i++)
        *p++ = '}';
    strcpy(p, "}]}");
    FALLS_BACK(big); /* nesting deeper than 16 */

    p = big + sprintf(big, "{\"contacts\":[{\"phoneNumber\":\"+1\",\"metadata\":{");
    for (int i = 0; i < 65; i++)
        p += sprintf(p, "%s\"k%d\":%d", i ? "," : "", i, i);
    strcpy(p, "}}]}");
    FALLS_BACK(big); /* more than 64 keys in one object */
    free(big);
}
END_TEST

START_TEST(bulk_needs_an_arena)
{
    const char *body = "{\"contacts\":[{\"phoneNumber\":\"+14155550100\"}]}";
    Od__BulkUpsertRequest req;
    arena_leave();
    ck_assert_int_eq(contacts_scan_bulk(body, strlen(body), &req), CONTACTS_SCAN_FALLBACK);
    arena_enter(arena);
    ck_assert_int_eq(contacts_scan_bulk(NULL, 0, &req), CONTACTS_SCAN_FALLBACK);
}
END_TEST

START_TEST(import_turns_extra_keys_into_metadata)
{
    Od__SubmitImportRequest req = import_ok(
        "{\"audienceId\":\"aud_1\",\"webhookUrl\":null,\"contacts\":["
        "{\"name\":\"A\",\"phoneNumber\":\"+14155550100\",\"segment\":\"s1\",\"n\": 3,"
        " \"metadata\":{\"plan\":\"gold\", \"x\": [1 ,2]}},"
        "{\"phoneNumber\":\"+14155550101\",\"metadata\":{}},"
        "{\"phoneNumber\":\"+14155550102\",\"metadata\":{\"only\":true}},"
        "{\"phoneNumber\":\"+14155550103\",\"tier\":{\"a\":null},\"metadata\":null}]}");
    ck_assert_str_eq(req.audience_id, "aud_1");
    ck_assert_str_eq(req.webhook_url, "");
    ck_assert_uint_eq(req.n_contacts, 4);
    ck_assert_str_eq(req.contacts[0]->metadata_json,
                     "{\"segment\":\"s1\",\"n\":3,\"plan\":\"gold\",\"x\":[1,2]}");
    ck_assert_str_eq(req.contacts[1]->metadata_json, "");
    ck_assert_str_eq(req.contacts[2]->metadata_json, "{\"only\":true}");
    ck_assert_str_eq(req.contacts[3]->metadata_json, "{\"tier\":{\"a\":null}}");
    /* arena-owned (contacts_scan.h): nothing to free */
}
END_TEST

START_TEST(import_falls_back_outside_the_subset)
{
    /* a key both at the top level and in metadata: the object's value wins in the first
     * one's position, which the jansson path handles */
    import_falls_back("{\"contacts\":[{\"phoneNumber\":\"+1\",\"k\":1,\"metadata\":{\"k\":2}}]}");
    import_falls_back("{\"contacts\":[{\"phoneNumber\":\"+1\",\"metadata\":7}]}");
    import_falls_back("{\"contacts\":[{\"phoneNumber\":\"+1\"}],\"audienceId\":5}");
    import_falls_back("{\"contacts\":[{\"phoneNumber\":\"+1\"}],\"audienceId\":\"a\\\"b\"}");
    import_falls_back("{\"contacts\":[]}");
}
END_TEST

/* import_ok's own check that metadata keys named like mapped fields are fine */
START_TEST(import_metadata_may_reuse_mapped_names)
{
    Od__SubmitImportRequest req = import_ok(
        "{\"contacts\":[{\"name\":\"A\",\"phoneNumber\":\"+1\",\"metadata\":{\"name\":\"B\"}}]}");
    ck_assert_str_eq(req.contacts[0]->metadata_json, "{\"name\":\"B\"}");
}
END_TEST

static Suite *contacts_scan_suite(void)
{
    Suite *s = suite_create("contacts_scan");
    TCase *tc = tcase_create("bulk");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, bulk_maps_the_reference_rows);
    tcase_add_test(tc, bulk_keeps_numbers_and_escapes_as_sent);
    tcase_add_test(tc, bulk_falls_back_on_malformed_json);
    tcase_add_test(tc, bulk_falls_back_on_invalid_utf8);
    tcase_add_test(tc, bulk_falls_back_outside_the_subset);
    tcase_add_test(tc, bulk_falls_back_near_limits);
    tcase_add_test(tc, bulk_needs_an_arena);
    suite_add_tcase(s, tc);

    tc = tcase_create("import");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, import_turns_extra_keys_into_metadata);
    tcase_add_test(tc, bulk_falls_back_on_aliases_and_extra_keys);
    tcase_add_test(tc, import_falls_back_outside_the_subset);
    tcase_add_test(tc, import_metadata_may_reuse_mapped_names);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(contacts_scan_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
