/* gateway/dnc_json.c: DNC bodies -> requests, replies -> API JSON. Runs under ASan/LSan:
 * anything dnc_json_bulk_free misses fails. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "body_problems.h"
#include "dnc_json.h"
#include "json_util.h"

static char err[JSON_ERROR_MAX];

static json_t *load(const char *text)
{
    json_error_t jerr;
    json_t *v = json_loads(text, 0, &jerr);
    ck_assert_msg(v != NULL, "test JSON: %s", jerr.text);
    return v;
}

static void assert_dump(json_t *v, const char *want)
{
    char *text = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
    ck_assert_str_eq(text, want);
    free(text);
    json_decref(v);
}

START_TEST(input_ok_and_errors)
{
    Od__DncEntryInput in;
    char reason[JSON_ERROR_MAX];
    json_t *b = load("{\"phoneNumber\":\"+919876543210\",\"reason\":\"opt-out\","
                     "\"source\":\"manual\"}");
    ck_assert_int_eq(dnc_json_input(b, "", &in, reason, sizeof reason), 0);
    ck_assert_str_eq(in.phone_number, "+919876543210");
    ck_assert_str_eq(in.reason, "opt-out");
    ck_assert_str_eq(in.source, "manual");
    json_decref(b);
    b = load("{\"phoneNumber\":\"+919876543210\"}");
    ck_assert_int_eq(dnc_json_input(b, "", &in, reason, sizeof reason), 0);
    ck_assert_str_eq(in.reason, "");
    ck_assert_str_eq(in.source, "");
    json_decref(b);
    b = load("{\"phoneNumber\":919876543210}");
    ck_assert_int_eq(dnc_json_input(b, "", &in, reason, sizeof reason), -1);
    ck_assert_str_eq(reason, "phoneNumber must be a string");
    json_decref(b);
    b = load("{\"phoneNumber\":\"+1\",\"source\":{}}");
    ck_assert_int_eq(dnc_json_input(b, "entries[2].", &in, reason, sizeof reason), -1);
    ck_assert_str_eq(reason, "entries[2].source must be a string");
    json_decref(b);
    b = load("[1]");
    ck_assert_int_eq(dnc_json_input(b, "entries[4].", &in, reason, sizeof reason), -1);
    ck_assert_str_eq(reason, "entries[4] must be an object");
    json_decref(b);
}
END_TEST

START_TEST(bulk_whole_body_errors)
{
    const char *bodies[] = {"{}", "{\"entries\":{}}", "{\"entries\":[]}"};
    const char *want[] = {"entries is required", "entries must be an array",
                          "entries must not be empty"};
    for (int i = 0; i < 3; i++) {
        Od__BulkAddDncRequest req;
        json_t *b = load(bodies[i]);
        ck_assert_int_eq(dnc_json_bulk_request(b, &req, err, sizeof err), -1);
        ck_assert_str_eq(err, want[i]);
        ck_assert_ptr_null(req.entries);
        ck_assert_uint_eq(req.n_entries, 0);
        json_decref(b);
    }
}
END_TEST

START_TEST(bulk_limit)
{
    json_t *list = json_array();
    for (int i = 0; i < 50001; i++)
        json_array_append_new(list, json_pack("{s:s}", "phoneNumber", "+14155550100"));
    json_t *b = json_pack("{s:o}", "entries", list);
    Od__BulkAddDncRequest req;
    ck_assert_int_eq(dnc_json_bulk_request(b, &req, err, sizeof err), -1);
    ck_assert_str_eq(err, "entries must hold at most 50000 entries (got 50001)");
    ck_assert_ptr_null(req.entries);
    json_array_remove(list, 0);
    ck_assert_int_eq(dnc_json_bulk_request(b, &req, err, sizeof err), 0);
    ck_assert_uint_eq(req.n_entries, 50000);
    dnc_json_bulk_free(&req);
    json_decref(b);
}
END_TEST

START_TEST(bulk_bad_rows_get_invalid_reason)
{
    Od__BulkAddDncRequest req;
    json_t *b = load("{\"entries\":[{\"phoneNumber\":\"+14155550100\",\"source\":\"imported\"},"
                     "7,{\"phoneNumber\":null},{\"phoneNumber\":[]}]}");
    ck_assert_int_eq(dnc_json_bulk_request(b, &req, err, sizeof err), 0);
    ck_assert_uint_eq(req.n_entries, 4);
    ck_assert_str_eq(req.entries[0]->phone_number, "+14155550100");
    ck_assert_str_eq(req.entries[0]->source, "imported");
    ck_assert_str_eq(req.entries[0]->invalid_reason, "");
    ck_assert_str_eq(req.entries[1]->invalid_reason, "entries[1] must be an object");
    ck_assert_str_eq(req.entries[2]->invalid_reason, ""); /* null: absent, service says why */
    ck_assert_str_eq(req.entries[3]->invalid_reason, "entries[3].phoneNumber must be a string");
    /* The mapped request survives a protobuf round trip. */
    size_t len = od__bulk_add_dnc_request__get_packed_size(&req);
    uint8_t *buf = malloc(len);
    od__bulk_add_dnc_request__pack(&req, buf);
    Od__BulkAddDncRequest *back = od__bulk_add_dnc_request__unpack(NULL, len, buf);
    ck_assert_ptr_nonnull(back);
    ck_assert_uint_eq(back->n_entries, 4);
    ck_assert_str_eq(back->entries[3]->invalid_reason, "entries[3].phoneNumber must be a string");
    od__bulk_add_dnc_request__free_unpacked(back, NULL);
    free(buf);
    dnc_json_bulk_free(&req);
    dnc_json_bulk_free(&req); /* twice is safe */
    json_decref(b);
}
END_TEST

START_TEST(entry_and_reply_json)
{
    Od__DncEntry e = OD__DNC_ENTRY__INIT;
    e.id = (char *)"dnc_1";
    e.phone_number = (char *)"+919876543210";
    e.source = (char *)"manual";
    e.created_at = (char *)"2026-01-01T00:00:00.000Z";
    assert_dump(dnc_json_entry(&e),
                "{\"createdAt\":\"2026-01-01T00:00:00.000Z\",\"id\":\"dnc_1\",\"phoneNumber\":"
                "\"+919876543210\",\"reason\":null,\"source\":\"manual\"}");
    Od__RowError err0 = OD__ROW_ERROR__INIT, *errs[] = {&err0};
    err0.index = 3;
    err0.phone_number = (char *)"123";
    err0.reason = (char *)"phoneNumber must be a valid E.164 phone number";
    Od__BulkAddDncReply r = OD__BULK_ADD_DNC_REPLY__INIT;
    r.inserted = 5;
    r.duplicates = 2;
    r.failed = 1;
    r.errors = errs;
    r.n_errors = 1;
    assert_dump(dnc_json_bulk_reply(&r),
                "{\"duplicates\":2,\"errors\":[{\"index\":3,\"phoneNumber\":\"123\",\"reason\":"
                "\"phoneNumber must be a valid E.164 phone number\"}],\"failed\":1,\"inserted\":5}");
}
END_TEST

/* Issue 14: every problem of a body is listed (field, message), the first is the message. */
static void assert_two_problems(struct body_problems *p, const char *f0, const char *m0,
                                const char *f1, const char *m1)
{
    ck_assert_int_eq(p->count, 2);
    ck_assert_uint_eq(json_array_size(p->details), 2);
    ck_assert_str_eq(p->first, m0);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(p->details, 0), "field")), f0);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(p->details, 0), "message")),
                     m0);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(p->details, 1), "field")), f1);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(p->details, 1), "message")),
                     m1);
    body_problems_free(p);
}

START_TEST(every_problem_is_listed)
{
    struct body_problems p;
    Od__DncEntryInput in;
    Od__BulkAddDncRequest bulk;
    json_t *b = load("{\"phoneNumber\":5,\"source\":[]}");
    body_problems_init(&p);
    ck_assert_int_eq(dnc_json_input_problems(b, "", &in, &p), -1);
    assert_two_problems(&p, "phoneNumber", "phoneNumber must be a string", "source",
                        "source must be a string");
    json_decref(b);
    /* a bulk row keeps its first problem as its reason */
    char reason[JSON_ERROR_MAX];
    b = load("{\"phoneNumber\":5,\"source\":[]}");
    ck_assert_int_eq(dnc_json_input(b, "entries[0].", &in, reason, sizeof reason), -1);
    ck_assert_str_eq(reason, "entries[0].phoneNumber must be a string");
    json_decref(b);
    /* a whole-body error has details too, with its field */
    b = load("{\"entries\":{}}");
    body_problems_init(&p);
    ck_assert_int_eq(dnc_json_bulk_request_problems(b, &bulk, &p), -1);
    ck_assert_int_eq(p.count, 1);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(p.details, 0), "field")),
                     "entries");
    body_problems_free(&p);
    json_decref(b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("dnc_json");
    TCase *tc = tcase_create("mapping");
    tcase_add_test(tc, input_ok_and_errors);
    tcase_add_test(tc, bulk_whole_body_errors);
    tcase_add_test(tc, bulk_limit);
    tcase_add_test(tc, bulk_bad_rows_get_invalid_reason);
    tcase_add_test(tc, entry_and_reply_json);
    tcase_add_test(tc, every_problem_is_listed);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
