/* gateway/imports_json.c: import rows (extra keys -> metadata), the submit body, CSV and JSON
 * bodies of POST /v1/contacts/import, and the status JSON. Runs under ASan/LSan: anything the
 * *_free functions miss fails. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "body_problems.h"
#include "imports_json.h"
#include "json_util.h"

static char err[JSON_ERROR_MAX];

static json_t *load(const char *text)
{
    json_error_t jerr;
    json_t *v = json_loads(text, 0, &jerr);
    ck_assert_msg(v != NULL, "test JSON: %s", jerr.text);
    return v;
}

/* Asserts that a metadata text equals the JSON `want` (compared as JSON). */
static void assert_meta(const char *metadata, const char *want)
{
    json_t *a = load(metadata), *b = load(want);
    ck_assert_msg(json_equal(a, b), "metadata %s, want %s", metadata, want);
    json_decref(a);
    json_decref(b);
}

START_TEST(row_extra_keys_become_metadata)
{
    Od__ContactInput in;
    json_t *row = load("{\"name\":\"Priya\",\"phoneNumber\":\"+919876543210\",\"language\":"
                       "\"hi-IN\",\"city\":\"Mumbai\",\"score\":3,\"tags\":[\"a\"],\"x\":null}");
    ck_assert_int_eq(imports_json_row(row, "", 0, &in, err, sizeof err), 0);
    ck_assert_str_eq(in.name, "Priya");
    ck_assert_str_eq(in.phone_number, "+919876543210");
    ck_assert_str_eq(in.language, "hi-IN");
    assert_meta(in.metadata_json, "{\"city\":\"Mumbai\",\"score\":3,\"tags\":[\"a\"],\"x\":null}");
    ck_assert_str_eq(in.invalid_reason, "");
    imports_json_row_free(&in);
    json_decref(row);
}
END_TEST

START_TEST(row_explicit_metadata_merges_and_wins)
{
    Od__ContactInput in;
    json_t *row = load("{\"name\":\"R\",\"phoneNumber\":\"+919123456789\",\"tier\":\"std\","
                       "\"metadata\":{\"tier\":\"gold\",\"src\":\"crm\"}}");
    ck_assert_int_eq(imports_json_row(row, "", 0, &in, err, sizeof err), 0);
    assert_meta(in.metadata_json, "{\"tier\":\"gold\",\"src\":\"crm\"}");
    imports_json_row_free(&in);
    json_decref(row);
    /* No extra keys and no metadata: none given. */
    row = load("{\"name\":\"R\",\"phoneNumber\":\"+919123456789\",\"metadata\":null}");
    ck_assert_int_eq(imports_json_row(row, "", 0, &in, err, sizeof err), 0);
    ck_assert_str_eq(in.metadata_json, "");
    ck_assert_str_eq(in.language, "");
    imports_json_row_free(&in);
    json_decref(row);
}
END_TEST

START_TEST(row_wrong_shapes)
{
    Od__ContactInput in;
    json_t *row = load("{\"name\":5,\"phoneNumber\":\"+1\"}");
    ck_assert_int_eq(imports_json_row(row, "contacts[2].", 0, &in, err, sizeof err), -1);
    ck_assert_str_eq(err, "contacts[2].name must be a string");
    json_decref(row);
    row = load("{\"phoneNumber\":\"+14155550100\",\"metadata\":[1]}");
    ck_assert_int_eq(imports_json_row(row, "contacts[0].", 0, &in, err, sizeof err), -1);
    ck_assert_str_eq(err, "contacts[0].metadata must be an object");
    json_decref(row);
    row = load("[1]");
    ck_assert_int_eq(imports_json_row(row, "contacts[7].", 0, &in, err, sizeof err), -1);
    ck_assert_str_eq(err, "contacts[7] must be an object");
    json_decref(row);
}
END_TEST

START_TEST(row_aliases_only_when_asked)
{
    Od__ContactInput in;
    json_t *row = load("{\"first_name\":\"Kim\",\"last_name\":\"Ode\",\"phone_number\":"
                       "\"+14155550902\",\"plan\":\"pro\"}");
    ck_assert_int_eq(imports_json_row(row, "", 1, &in, err, sizeof err), 0);
    ck_assert_str_eq(in.name, "Kim Ode");
    ck_assert_str_eq(in.phone_number, "+14155550902");
    assert_meta(in.metadata_json, "{\"plan\":\"pro\"}");
    imports_json_row_free(&in);
    /* The imports API keeps them as metadata. */
    ck_assert_int_eq(imports_json_row(row, "", 0, &in, err, sizeof err), 0);
    ck_assert_str_eq(in.name, "");
    ck_assert_str_eq(in.phone_number, "");
    assert_meta(in.metadata_json, "{\"first_name\":\"Kim\",\"last_name\":\"Ode\",\"phone_number\":"
                                  "\"+14155550902\",\"plan\":\"pro\"}");
    imports_json_row_free(&in);
    json_decref(row);
    /* phoneNumber wins over phone_number and phone; name over first/last. */
    row = load("{\"name\":\"N\",\"first_name\":\"F\",\"phoneNumber\":\"+1\",\"phone\":\"+2\"}");
    ck_assert_int_eq(imports_json_row(row, "", 1, &in, err, sizeof err), 0);
    ck_assert_str_eq(in.name, "N");
    ck_assert_str_eq(in.phone_number, "+1");
    ck_assert_str_eq(in.metadata_json, "");
    imports_json_row_free(&in);
    json_decref(row);
}
END_TEST

START_TEST(submit_body)
{
    Od__SubmitImportRequest req;
    json_t *body = load("{\"contacts\":[{\"name\":\"A\",\"phoneNumber\":\"+14155550100\"},7],"
                        "\"audienceId\":\"aud_x\",\"webhookUrl\":\"https://h.example/x\"}");
    ck_assert_int_eq(imports_json_submit(body, &req, err, sizeof err), 0);
    ck_assert_uint_eq(req.n_contacts, 2);
    ck_assert_str_eq(req.contacts[0]->name, "A");
    ck_assert_str_eq(req.contacts[1]->invalid_reason, "contacts[1] must be an object");
    ck_assert_str_eq(req.audience_id, "aud_x");
    ck_assert_str_eq(req.webhook_url, "https://h.example/x");
    /* It packs and unpacks. */
    size_t len = od__submit_import_request__get_packed_size(&req);
    uint8_t *buf = malloc(len + 1);
    od__submit_import_request__pack(&req, buf);
    Od__SubmitImportRequest *back = od__submit_import_request__unpack(NULL, len, buf);
    ck_assert_ptr_nonnull(back);
    ck_assert_uint_eq(back->n_contacts, 2);
    ck_assert_str_eq(back->contacts[0]->phone_number, "+14155550100");
    od__submit_import_request__free_unpacked(back, NULL);
    free(buf);
    imports_json_submit_free(&req);
    imports_json_submit_free(&req); /* twice is harmless */
    json_decref(body);
}
END_TEST

static void submit_fails(const char *text, const char *want)
{
    Od__SubmitImportRequest req;
    json_t *body = load(text);
    ck_assert_int_eq(imports_json_submit(body, &req, err, sizeof err), -1);
    ck_assert_str_eq(err, want);
    ck_assert_uint_eq(req.n_contacts, 0);
    ck_assert_ptr_null(req.contacts);
    json_decref(body);
}

START_TEST(submit_refusals)
{
    submit_fails("{}", "contacts is required");
    submit_fails("{\"contacts\":{}}", "contacts must be an array");
    submit_fails("{\"contacts\":[]}", "contacts must not be empty");
    submit_fails("{\"contacts\":[{}],\"audienceId\":1}", "audienceId must be a string");
    submit_fails("{\"contacts\":[{}],\"webhookUrl\":{}}", "webhookUrl must be a string");
    json_t *big = json_pack("{s:o}", "contacts", json_array());
    for (int i = 0; i < 10001; i++)
        json_array_append_new(json_object_get(big, "contacts"), json_object());
    Od__SubmitImportRequest req;
    ck_assert_int_eq(imports_json_submit(big, &req, err, sizeof err), -1);
    ck_assert_str_eq(err, "contacts must hold at most 10000 entries (got 10001)");
    json_decref(big);
}
END_TEST

START_TEST(csv_mapping)
{
    static const char csv[] = "\xEF\xBB\xBF Phone Number ,First Name,LAST_NAME,Language,City,Empty\r\n"
                              " +14155550701 , Ann ,Lee,en-US,\"SF, CA\",\r\n"
                              ",,,,,\n"
                              "+14155550702,,,,,\n"
                              "+14155550703,Cy\n"
                              "+14155550704,\"bad\"x,,,,\n";
    Od__BulkUpsertRequest req;
    size_t *lines = NULL;
    ck_assert_int_eq(imports_csv_contacts(csv, sizeof csv - 1, &req, &lines, err, sizeof err),
                     0);
    ck_assert_uint_eq(req.n_contacts, 4); /* the blank record is skipped */
    ck_assert_str_eq(req.contacts[0]->phone_number, "+14155550701");
    ck_assert_str_eq(req.contacts[0]->name, "Ann Lee");
    ck_assert_str_eq(req.contacts[0]->language, "en-US");
    assert_meta(req.contacts[0]->metadata_json, "{\"City\":\"SF, CA\"}");
    ck_assert_str_eq(req.contacts[1]->name, "");
    ck_assert_str_eq(req.contacts[1]->metadata_json, "");
    ck_assert_str_eq(req.contacts[2]->invalid_reason, "line 5: has 2 fields, the header has 6");
    ck_assert_str_eq(req.contacts[2]->phone_number, "+14155550703");
    ck_assert_str_eq(req.contacts[3]->invalid_reason,
                     "line 6: column 2 has characters after its closing quote");
    ck_assert_uint_eq(lines[0], 2);
    ck_assert_uint_eq(lines[1], 4);
    ck_assert_uint_eq(lines[3], 6);
    free(lines);
    imports_bulk_free(&req);
}
END_TEST

static void csv_fails(const char *csv, const char *want)
{
    Od__BulkUpsertRequest req;
    size_t *lines = (size_t *)1;
    ck_assert_int_eq(imports_csv_contacts(csv, strlen(csv), &req, &lines, err, sizeof err), -1);
    ck_assert_str_eq(err, want);
    ck_assert_ptr_null(lines);
    ck_assert_uint_eq(req.n_contacts, 0);
}

START_TEST(csv_refusals)
{
    csv_fails("", "CSV body is empty");
    csv_fails("name,email\nA,a@b\n", "CSV header must have a phone, phoneNumber or phone_number column");
    csv_fails("phone,Phone_Number\n", "CSV header: columns 1 and 2 are both \"Phone_Number\"");
    csv_fails("phone,City,City\n+1,a,b\n", "CSV header: columns 2 and 3 are both \"City\"");
}
END_TEST

START_TEST(csv_refusals_more)
{
    csv_fails("phone,,x\n", "CSV header: column 2 has no name");
    csv_fails("phone\n", "contacts must not be empty: the CSV has no data rows");
    csv_fails("phone\n\"+1\n", "malformed CSV: unterminated quoted field (opened on line 2)");
    csv_fails("\"phone\n", "unterminated quoted field (opened on line 1)");
    csv_fails("ph\"one\n+1\n",
              "CSV header (line 1): column 1 has a quote inside an unquoted field");
}
END_TEST

START_TEST(json_contacts_body)
{
    Od__BulkUpsertRequest req;
    json_t *body = load("[{\"phone\":\"+14155550901\",\"name\":\"J\",\"plan\":\"pro\"}]");
    ck_assert_int_eq(imports_json_contacts(body, &req, err, sizeof err), 0);
    ck_assert_uint_eq(req.n_contacts, 1);
    ck_assert_str_eq(req.contacts[0]->phone_number, "+14155550901");
    assert_meta(req.contacts[0]->metadata_json, "{\"plan\":\"pro\"}");
    imports_bulk_free(&req);
    json_decref(body);
    body = load("{\"contacts\":[{\"phone\":\"+14155550901\"}]}");
    ck_assert_int_eq(imports_json_contacts(body, &req, err, sizeof err), 0);
    imports_bulk_free(&req);
    json_decref(body);
    body = json_string("x");
    ck_assert_int_eq(imports_json_contacts(body, &req, err, sizeof err), -1);
    ck_assert_str_eq(err, "request body must be a JSON array of contacts");
    json_decref(body);
    body = load("[]");
    ck_assert_int_eq(imports_json_contacts(body, &req, err, sizeof err), -1);
    ck_assert_str_eq(err, "contacts must not be empty");
    json_decref(body);
}
END_TEST

START_TEST(multipart_upload)
{
    static const char body[] =
        "preamble\r\n"
        "--XyZ\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n"
        "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"list.CSV\"\r\n"
        "Content-Type: application/octet-stream\r\n\r\n"
        "phone,name\r\n+14155550101,Ann\r\n"
        "\r\n--XyZ--\r\n";
    const char *file;
    size_t len;
    enum imports_file_kind kind;
    ck_assert_int_eq(imports_multipart_file("multipart/form-data; boundary=XyZ", body,
                                            sizeof body - 1, &file, &len, &kind, err,
                                            sizeof err),
                     0);
    ck_assert_int_eq(kind, IMPORTS_FILE_CSV);
    ck_assert_uint_eq(len, strlen("phone,name\r\n+14155550101,Ann\r\n"));
    ck_assert(memcmp(file, "phone,name\r\n", 12) == 0);

    static const char json[] =
        "--b\r\nContent-Disposition: form-data; name=\"upload\"; filename=\"x.bin\"\r\n"
        "Content-Type: application/json\r\n\r\n[{\"phone\":\"+1\"}]\r\n--b--";
    ck_assert_int_eq(imports_multipart_file("multipart/form-data; boundary=\"b\"", json,
                                            sizeof json - 1, &file, &len, &kind, err,
                                            sizeof err),
                     0);
    ck_assert_int_eq(kind, IMPORTS_FILE_JSON);
    ck_assert_uint_eq(len, 16);

    ck_assert_int_eq(imports_multipart_file("multipart/form-data", json, sizeof json - 1, &file,
                                            &len, &kind, err, sizeof err),
                     -1);
    ck_assert_str_eq(err, "multipart/form-data needs a boundary of 1 to 70 characters");
    static const char nofile[] =
        "--b\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhi\r\n--b--";
    ck_assert_int_eq(imports_multipart_file("multipart/form-data; boundary=b", nofile,
                                            sizeof nofile - 1, &file, &len, &kind, err,
                                            sizeof err),
                     -1);
    static const char xls[] = "--b\r\nContent-Disposition: form-data; name=\"file\"; "
                              "filename=\"a.xlsx\"\r\n\r\nPK\r\n--b--";
    ck_assert_int_eq(imports_multipart_file("multipart/form-data; boundary=b", xls,
                                            sizeof xls - 1, &file, &len, &kind, err,
                                            sizeof err),
                     -1);
    ck_assert_msg(strstr(err, "CSV") != NULL, "%s", err);
    /* Unterminated part. */
    ck_assert_int_eq(imports_multipart_file("multipart/form-data; boundary=b",
                                            "--b\r\nContent-Disposition: form-data; name=\"file\""
                                            "; filename=\"a.csv\"\r\n\r\nphone\r\n",
                                            77, &file, &len, &kind, err, sizeof err),
                     -1);
}
END_TEST

START_TEST(status_shape)
{
    Od__Import m = OD__IMPORT__INIT;
    m.id = "imp_x";
    m.status = "PROCESSING";
    m.total = 10;
    m.processed = 4;
    m.created = 3;
    m.updated = 1;
    m.created_at = "2026-03-10T10:00:00.000Z";
    json_t *j = imports_json_status(&m);
    ck_assert_uint_eq(json_object_size(j), 8);
    ck_assert(json_is_null(json_object_get(j, "completedAt")));
    ck_assert_int_eq(json_integer_value(json_object_get(j, "errorCount")), 0);
    json_decref(j);
    m.completed_at = "2026-03-10T10:05:00.000Z";
    m.webhook_url = "https://h.example/";
    j = imports_json_item(&m);
    ck_assert_str_eq(json_string_value(json_object_get(j, "completedAt")), m.completed_at);
    ck_assert_str_eq(json_string_value(json_object_get(j, "webhookUrl")), m.webhook_url);
    ck_assert(json_is_null(json_object_get(j, "audienceId")));
    ck_assert_int_eq(json_integer_value(json_object_get(j, "processed")), 4);
    json_decref(j);
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
    Od__SubmitImportRequest in;
    Od__BulkUpsertRequest bulk;
    json_error_t jerr;
    json_t *b = json_loads("{\"contacts\":[],\"webhookUrl\":7}", 0, &jerr);
    body_problems_init(&p);
    ck_assert_int_eq(imports_json_submit_problems(b, &in, &p), -1);
    assert_two_problems(&p, "contacts", "contacts must not be empty", "webhookUrl",
                        "webhookUrl must be a string");
    imports_json_submit_free(&in);
    json_decref(b);
    b = json_loads("{\"audienceId\":[],\"webhookUrl\":{}}", 0, &jerr);
    body_problems_init(&p);
    ck_assert_int_eq(imports_json_submit_problems(b, &in, &p), -1);
    ck_assert_int_eq(p.count, 3); /* contacts, audienceId, webhookUrl */
    body_problems_free(&p);
    json_decref(b);
    /* a CSV header with two problems: both listed, the first also in err */
    const char *csv = "email,email\na@example.com,b@example.com\n";
    size_t *lines = NULL;
    body_problems_init(&p);
    ck_assert_int_eq(imports_csv_contacts_problems(csv, strlen(csv), &bulk, &lines, &p, err,
                                                   sizeof err),
                     -1);
    ck_assert_ptr_null(lines);
    ck_assert_str_eq(err, "CSV header: columns 1 and 2 are both \"email\"");
    assert_two_problems(&p, "", "CSV header: columns 1 and 2 are both \"email\"", "",
                        "CSV header must have a phone, phoneNumber or phone_number column");
    /* without a collector, the first problem only (as before) */
    ck_assert_int_eq(imports_csv_contacts(csv, strlen(csv), &bulk, NULL, err, sizeof err), -1);
    ck_assert_str_eq(err, "CSV header: columns 1 and 2 are both \"email\"");
    b = json_loads("{\"contacts\":{}}", 0, &jerr);
    body_problems_init(&p);
    ck_assert_int_eq(imports_json_contacts_problems(b, &bulk, &p), -1);
    ck_assert_int_eq(p.count, 1);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(p.details, 0), "field")),
                     "contacts");
    body_problems_free(&p);
    json_decref(b);
}
END_TEST

static Suite *imports_json_suite(void)
{
    Suite *s = suite_create("imports_json");
    TCase *tc = tcase_create("rows");
    tcase_add_test(tc, row_extra_keys_become_metadata);
    tcase_add_test(tc, row_explicit_metadata_merges_and_wins);
    tcase_add_test(tc, row_wrong_shapes);
    tcase_add_test(tc, row_aliases_only_when_asked);
    tcase_add_test(tc, submit_body);
    tcase_add_test(tc, submit_refusals);
    tcase_add_test(tc, csv_mapping);
    tcase_add_test(tc, csv_refusals);
    tcase_add_test(tc, csv_refusals_more);
    tcase_add_test(tc, json_contacts_body);
    tcase_add_test(tc, multipart_upload);
    tcase_add_test(tc, status_shape);
    tcase_add_test(tc, every_problem_is_listed);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(imports_json_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
