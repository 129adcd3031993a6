/* gateway/contacts_json.c: {"contacts": [...]} -> BulkUpsertRequest, one body -> ContactInput,
 * Contact -> API JSON. Runs under ASan/LSan: anything contacts_json_bulk_free misses fails. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "body_problems.h"
#include "contacts_json.h"
#include "json_util.h"

static char err[JSON_ERROR_MAX];

static json_t *load(const char *text)
{
    json_error_t jerr;
    json_t *v = json_loads(text, 0, &jerr);
    ck_assert_msg(v != NULL, "test JSON: %s", jerr.text);
    return v;
}

/* Runs the bulk mapping and asserts it failed with want; nothing must be allocated. */
static void bulk_fails(json_t *body, const char *want)
{
    Od__BulkUpsertRequest req;
    memset(err, 0, sizeof err);
    ck_assert_int_eq(contacts_json_bulk_request(body, &req, err, sizeof err), -1);
    ck_assert_str_eq(err, want);
    ck_assert_uint_eq(req.n_contacts, 0);
    ck_assert_ptr_null(req.contacts);
    json_decref(body);
}

/* A JSON array of n copies of a valid row. */
static json_t *rows(size_t n)
{
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(list, json_pack("{s:s}", "phoneNumber", "+919876543210"));
    return list;
}

static int is_empty_string(const char *s)
{
    return s != NULL && s[0] == '\0';
}

START_TEST(bulk_missing_contacts)
{
    bulk_fails(load("{}"), "contacts is required");
    bulk_fails(load("{\"contact\": []}"), "contacts is required");
    bulk_fails(json_array(), "contacts is required"); /* not even an object */
}
END_TEST

START_TEST(bulk_contacts_not_array)
{
    bulk_fails(load("{\"contacts\": null}"), "contacts must be an array");
    bulk_fails(load("{\"contacts\": {}}"), "contacts must be an array");
    bulk_fails(load("{\"contacts\": {\"phoneNumber\": \"+919876543210\"}}"),
               "contacts must be an array");
    bulk_fails(load("{\"contacts\": \"[]\"}"), "contacts must be an array");
    bulk_fails(load("{\"contacts\": 3}"), "contacts must be an array");
    bulk_fails(load("{\"contacts\": true}"), "contacts must be an array");
}
END_TEST

START_TEST(bulk_empty)
{
    bulk_fails(load("{\"contacts\": []}"), "contacts must not be empty");
}
END_TEST

START_TEST(bulk_too_many)
{
    json_t *body = json_object();
    json_object_set_new(body, "contacts", rows(CONTACTS_JSON_BULK_MAX + 1));
    bulk_fails(body, "contacts must hold at most 10000 entries (got 10001)");
}
END_TEST

START_TEST(bulk_max_rows_ok)
{
    Od__BulkUpsertRequest req;
    json_t *body = json_object();
    json_object_set_new(body, "contacts", rows(CONTACTS_JSON_BULK_MAX));
    ck_assert_int_eq(contacts_json_bulk_request(body, &req, err, sizeof err), 0);
    ck_assert_uint_eq(req.n_contacts, 10000);
    ck_assert_str_eq(req.contacts[0]->phone_number, "+919876543210");
    ck_assert_str_eq(req.contacts[9999]->phone_number, "+919876543210");
    ck_assert(is_empty_string(req.contacts[9999]->invalid_reason));
    contacts_json_bulk_free(&req);
    ck_assert_uint_eq(req.n_contacts, 0);
    ck_assert_ptr_null(req.contacts);
    json_decref(body);
}
END_TEST

START_TEST(bulk_maps_valid_rows)
{
    Od__BulkUpsertRequest req;
    json_t *body = load(
        "{\"contacts\": ["
        " {\"name\": \"John Doe\", \"phoneNumber\": \"+919876543210\", \"language\": \"hi-IN\","
        "  \"metadata\": {\"customerId\": \"12345\", \"tags\": [\"a\", \"b\"],"
        "                 \"nested\": {\"x\": 1.5, \"y\": null, \"z\": true}}},"
        " {\"phoneNumber\": \"+14155550123\"},"
        " {\"name\": null, \"phoneNumber\": \"+442071838750\", \"language\": null,"
        "  \"metadata\": null, \"extra\": [1, 2, 3]},"
        " {\"name\": \"\\u0930\\u093e\\u092e\", \"phoneNumber\": \"not a phone\","
        "  \"metadata\": {}}"
        "]}");
    ck_assert_int_eq(contacts_json_bulk_request(body, &req, err, sizeof err), 0);
    ck_assert_uint_eq(req.n_contacts, 4);

    json_t *list = json_object_get(body, "contacts");
    Od__ContactInput *r = req.contacts[0];
    ck_assert_str_eq(r->name, "John Doe");
    ck_assert_str_eq(r->phone_number, "+919876543210");
    ck_assert_str_eq(r->language, "hi-IN");
    ck_assert_str_eq(r->metadata_json, "{\"customerId\":\"12345\",\"tags\":[\"a\",\"b\"],"
                                       "\"nested\":{\"x\":1.5,\"y\":null,\"z\":true}}");
    ck_assert(is_empty_string(r->invalid_reason));
    /* strings are borrowed from the body */
    ck_assert_ptr_eq(r->name,
                     json_string_value(json_object_get(json_array_get(list, 0), "name")));
    ck_assert_ptr_eq(r->phone_number, json_string_value(json_object_get(
                                          json_array_get(list, 0), "phoneNumber")));

    r = req.contacts[1]; /* only a phone number */
    ck_assert_str_eq(r->name, "");
    ck_assert_str_eq(r->phone_number, "+14155550123");
    ck_assert_str_eq(r->language, "");
    ck_assert_ptr_eq(r->metadata_json, protobuf_c_empty_string); /* "no metadata given" */
    ck_assert(is_empty_string(r->invalid_reason));

    r = req.contacts[2]; /* nulls read as absent; another key becomes metadata (issue 14) */
    ck_assert_str_eq(r->name, "");
    ck_assert_str_eq(r->phone_number, "+442071838750");
    ck_assert_str_eq(r->language, "");
    ck_assert_str_eq(r->metadata_json, "{\"extra\":[1,2,3]}");
    ck_assert(is_empty_string(r->invalid_reason));

    r = req.contacts[3]; /* the gateway checks types only; the service judges the phone */
    ck_assert_str_eq(r->name, "\xe0\xa4\xb0\xe0\xa4\xbe\xe0\xa4\xae");
    ck_assert_str_eq(r->phone_number, "not a phone");
    ck_assert_str_eq(r->metadata_json, "{}");
    ck_assert(is_empty_string(r->invalid_reason));

    contacts_json_bulk_free(&req);
    json_decref(body);
}
END_TEST

START_TEST(bulk_bad_rows_get_invalid_reason)
{
    Od__BulkUpsertRequest req;
    json_t *body = load("{\"contacts\": ["
                        " 5,"
                        " {\"phoneNumber\": 919876543210},"
                        " {\"phoneNumber\": \"+919876543210\", \"metadata\": [1, 2]},"
                        " {\"name\": true, \"phoneNumber\": \"+919876543210\"},"
                        " {\"phoneNumber\": \"+919876543210\", \"language\": 7},"
                        " null,"
                        " \"+919876543210\","
                        " [{\"phoneNumber\": \"+919876543210\"}],"
                        " {\"phoneNumber\": \"+919876543210\", \"metadata\": \"{}\"},"
                        " {\"phoneNumber\": {\"number\": \"+919876543210\"}},"
                        " {\"name\": \"ok\", \"phoneNumber\": \"+919876543210\"},"
                        " {\"phoneNumber\": [\"+919876543210\"], \"metadata\": {\"a\": 1}}"
                        "]}");
    static const char *const want[] = {
        "contacts[0] must be an object",
        "contacts[1].phoneNumber must be a string",
        "contacts[2].metadata must be an object",
        "contacts[3].name must be a string",
        "contacts[4].language must be a string",
        "contacts[5] must be an object",
        "contacts[6] must be an object",
        "contacts[7] must be an object",
        "contacts[8].metadata must be an object",
        "contacts[9].phoneNumber must be a string",
        "",
        "contacts[11].phoneNumber must be a string",
    };
    ck_assert_int_eq(contacts_json_bulk_request(body, &req, err, sizeof err), 0);
    ck_assert_uint_eq(req.n_contacts, 12);
    for (size_t i = 0; i < 12; i++) {
        Od__ContactInput *r = req.contacts[i];
        ck_assert_str_eq(r->invalid_reason, want[i]);
        if (want[i][0] != '\0') { /* a bad row carries nothing else */
            ck_assert_str_eq(r->name, "");
            ck_assert_str_eq(r->phone_number, "");
            ck_assert_str_eq(r->language, "");
            ck_assert_str_eq(r->metadata_json, "");
        }
    }
    ck_assert_str_eq(req.contacts[10]->name, "ok");
    ck_assert_str_eq(req.contacts[10]->phone_number, "+919876543210");
    contacts_json_bulk_free(&req);
    json_decref(body);
}
END_TEST

START_TEST(bulk_field_limits)
{
    Od__BulkUpsertRequest req;
    json_t *list = json_array(), *body = json_object();
    char *name = malloc(4098), *big = malloc(70000);

    memset(name, 'n', 4097);
    name[4097] = '\0';
    json_array_append_new(list, json_pack("{s:s, s:s}", "name", name, "phoneNumber", "+12345678"));
    name[4096] = '\0'; /* exactly the limit */
    json_array_append_new(list, json_pack("{s:s, s:s}", "name", name, "phoneNumber", "+12345678"));
    /* metadata {"k":"..."} of 65,537 bytes, then of exactly 65,536 */
    memset(big, 'm', 65529);
    big[65529] = '\0';
    json_array_append_new(list, json_pack("{s:s, s:{s:s}}", "phoneNumber", "+12345678",
                                          "metadata", "k", big));
    big[65528] = '\0';
    json_array_append_new(list, json_pack("{s:s, s:{s:s}}", "phoneNumber", "+12345678",
                                          "metadata", "k", big));
    json_array_append_new(list, json_pack("{s:o}", "phoneNumber", json_stringn("+91\0" "98", 6)));
    json_object_set_new(body, "contacts", list);

    ck_assert_int_eq(contacts_json_bulk_request(body, &req, err, sizeof err), 0);
    ck_assert_uint_eq(req.n_contacts, 5);
    ck_assert_str_eq(req.contacts[0]->invalid_reason,
                     "contacts[0].name must be at most 4096 characters");
    ck_assert_str_eq(req.contacts[1]->invalid_reason, "");
    ck_assert_uint_eq(strlen(req.contacts[1]->name), 4096);
    ck_assert_str_eq(req.contacts[2]->invalid_reason,
                     "contacts[2].metadata must be at most 65536 bytes of JSON");
    ck_assert_str_eq(req.contacts[2]->metadata_json, "");
    ck_assert_str_eq(req.contacts[3]->invalid_reason, "");
    ck_assert_uint_eq(strlen(req.contacts[3]->metadata_json), 65536);
    ck_assert_str_eq(req.contacts[4]->invalid_reason,
                     "contacts[4].phoneNumber must not contain NUL characters");
    contacts_json_bulk_free(&req);
    json_decref(body);
    free(name);
    free(big);
}
END_TEST

START_TEST(bulk_free_twice_is_safe)
{
    Od__BulkUpsertRequest req;
    json_t *body = load("{\"contacts\": [{\"phoneNumber\": \"+12345678\", \"metadata\": {}}, 1]}");
    ck_assert_int_eq(contacts_json_bulk_request(body, &req, err, sizeof err), 0);
    contacts_json_bulk_free(&req);
    contacts_json_bulk_free(&req);
    ck_assert_uint_eq(req.n_contacts, 0);
    json_decref(body);
}
END_TEST

START_TEST(bulk_request_packs_and_unpacks)
{
    Od__BulkUpsertRequest req;
    json_t *body = load("{\"contacts\": ["
                        " {\"name\": \"A\", \"phoneNumber\": \"+919876543210\","
                        "  \"language\": \"en\", \"metadata\": {\"k\": [1]}},"
                        " {\"phoneNumber\": 1}"
                        "]}");
    ck_assert_int_eq(contacts_json_bulk_request(body, &req, err, sizeof err), 0);
    size_t size = od__bulk_upsert_request__get_packed_size(&req);
    uint8_t *buf = malloc(size);
    ck_assert_uint_eq(od__bulk_upsert_request__pack(&req, buf), size);
    Od__BulkUpsertRequest *back = od__bulk_upsert_request__unpack(NULL, size, buf);
    ck_assert_ptr_nonnull(back);
    ck_assert_uint_eq(back->n_contacts, 2);
    ck_assert_str_eq(back->contacts[0]->name, "A");
    ck_assert_str_eq(back->contacts[0]->phone_number, "+919876543210");
    ck_assert_str_eq(back->contacts[0]->language, "en");
    ck_assert_str_eq(back->contacts[0]->metadata_json, "{\"k\":[1]}");
    ck_assert_str_eq(back->contacts[0]->invalid_reason, "");
    ck_assert_str_eq(back->contacts[1]->invalid_reason, "contacts[1].phoneNumber must be a string");
    od__bulk_upsert_request__free_unpacked(back, NULL);
    free(buf);
    contacts_json_bulk_free(&req);
    json_decref(body);
}
END_TEST

/* ---- contacts_json_input (POST /v1/contacts) ---- */

START_TEST(input_ok)
{
    Od__ContactInput in;
    char reason[JSON_ERROR_MAX] = "";
    json_t *body = load("{\"name\": \"John\", \"phoneNumber\": \"+919876543210\","
                        " \"language\": \"hi-IN\", \"metadata\": {\"b\": 2, \"a\": 1}}");
    ck_assert_int_eq(contacts_json_input(body, "", &in, reason, sizeof reason), 0);
    ck_assert_str_eq(in.name, "John");
    ck_assert_str_eq(in.phone_number, "+919876543210");
    ck_assert_str_eq(in.language, "hi-IN");
    ck_assert_str_eq(in.metadata_json, "{\"b\":2,\"a\":1}"); /* insertion order kept */
    ck_assert_str_eq(in.invalid_reason, "");
    free(in.metadata_json);
    json_decref(body);
}
END_TEST

START_TEST(input_defaults)
{
    Od__ContactInput in;
    char reason[JSON_ERROR_MAX] = "";
    json_t *body = load("{}");
    ck_assert_int_eq(contacts_json_input(body, "", &in, reason, sizeof reason), 0);
    ck_assert_str_eq(in.name, "");
    ck_assert_str_eq(in.phone_number, "");
    ck_assert_str_eq(in.language, "");
    ck_assert_ptr_eq(in.metadata_json, protobuf_c_empty_string);
    json_decref(body);
}
END_TEST

START_TEST(input_errors_name_the_field)
{
    Od__ContactInput in;
    char reason[JSON_ERROR_MAX];
    json_t *body = load("[1]");
    ck_assert_int_eq(contacts_json_input(body, "", &in, reason, sizeof reason), -1);
    ck_assert_str_eq(reason, "request body must be an object");
    json_decref(body);

    body = load("{\"phoneNumber\": 919876543210}");
    ck_assert_int_eq(contacts_json_input(body, "", &in, reason, sizeof reason), -1);
    ck_assert_str_eq(reason, "phoneNumber must be a string");
    json_decref(body);

    /* metadata of the wrong type leaves nothing allocated (LSan) */
    body = load("{\"metadata\": [], \"name\": \"x\"}");
    ck_assert_int_eq(contacts_json_input(body, "", &in, reason, sizeof reason), -1);
    ck_assert_str_eq(reason, "metadata must be an object");
    json_decref(body);

    body = load("{\"phoneNumber\": \"+12345678\", \"language\": [\"en\"]}");
    ck_assert_int_eq(contacts_json_input(body, "contacts[42].", &in, reason, sizeof reason), -1);
    ck_assert_str_eq(reason, "contacts[42].language must be a string");
    json_decref(body);

    ck_assert_int_eq(contacts_json_input(NULL, "contacts[7].", &in, reason, sizeof reason), -1);
    ck_assert_str_eq(reason, "contacts[7] must be an object");
}
END_TEST

/* ---- the one contact input: aliases, extra keys, every problem (issue 14) ---- */

START_TEST(input_takes_snake_case_aliases)
{
    Od__ContactInput in;
    char reason[JSON_ERROR_MAX];
    json_t *body = load("{\"name\": \"Priya\", \"phone_number\": \"+919876543210\"}");
    ck_assert_int_eq(contacts_json_input(body, "", &in, reason, sizeof reason), 0);
    ck_assert_str_eq(in.phone_number, "+919876543210");
    json_decref(body);

    body = load("{\"phone\": \"+919876543211\"}");
    ck_assert_int_eq(contacts_json_input(body, "", &in, reason, sizeof reason), 0);
    ck_assert_str_eq(in.phone_number, "+919876543211");
    json_decref(body);

    body = load("{\"phoneNumber\": \"+919876543210\", \"phone_number\": \"+919876543211\"}");
    ck_assert_int_eq(contacts_json_input(body, "contacts[2].", &in, reason, sizeof reason), -1);
    ck_assert_str_eq(reason, "contacts[2].phoneNumber and contacts[2].phone_number set the same "
                             "field: give only one");
    json_decref(body);
}
END_TEST

START_TEST(input_extra_keys_become_metadata)
{
    Od__ContactInput in;
    char reason[JSON_ERROR_MAX];
    /* as imports do (reference 002): other keys first, the metadata object over them */
    json_t *body = load("{\"phoneNumber\": \"+919876543210\", \"city\": \"Mumbai\","
                        " \"tier\": \"standard\", \"metadata\": {\"tier\": \"premium\", \"x\": 1}}");
    ck_assert_int_eq(contacts_json_input(body, "", &in, reason, sizeof reason), 0);
    ck_assert_str_eq(in.metadata_json, "{\"city\":\"Mumbai\",\"tier\":\"premium\",\"x\":1}");
    free(in.metadata_json);
    json_decref(body);
}
END_TEST

START_TEST(input_lists_every_problem)
{
    Od__ContactInput in;
    struct body_problems p;
    json_t *body = load("{\"name\": 1, \"phoneNumber\": [], \"language\": {}}");
    body_problems_init(&p);
    ck_assert_int_eq(contacts_json_input_problems(body, "", &in, &p), -1);
    ck_assert_int_eq(p.count, 3);
    ck_assert_uint_eq(json_array_size(p.details), 3);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(p.details, 0), "field")),
                     "name");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(p.details, 2), "field")),
                     "language");
    ck_assert_str_eq(p.first, "name must be a string");
    body_problems_free(&p);
    json_decref(body);
}
END_TEST

START_TEST(update_maps_aliases_and_nulls)
{
    Od__UpdateContactRequest in = OD__UPDATE_CONTACT_REQUEST__INIT;
    struct body_problems p;
    json_t *body = load("{\"phone_number\": \"+14155550100\", \"name\": null}");
    body_problems_init(&p);
    ck_assert_int_eq(contacts_json_update(body, &in, &p), 0);
    ck_assert(in.set_phone_number);
    ck_assert_str_eq(in.phone_number, "+14155550100");
    ck_assert(in.set_name); /* null clears it */
    ck_assert_str_eq(in.name, "");
    ck_assert(!in.set_language);
    ck_assert(!in.set_metadata);
    body_problems_free(&p);
    json_decref(body);
}
END_TEST

START_TEST(update_refuses_keys_that_mean_nothing)
{
    Od__UpdateContactRequest in = OD__UPDATE_CONTACT_REQUEST__INIT;
    struct body_problems p;
    /* a key that means nothing is 400 naming it, never a 200 that changed nothing */
    json_t *body = load("{\"phonenumber\": \"+14155550100\", \"email\": \"a@b.c\", "
                        "\"language\": 7, \"phoneNumber\": null}");
    body_problems_init(&p);
    ck_assert_int_eq(contacts_json_update(body, &in, &p), -1);
    ck_assert_int_eq(p.count, 4);
    ck_assert_str_eq(p.first, "phonenumber is not a field of a contact update");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(p.details, 1), "field")),
                     "email");
    body_problems_free(&p);
    json_decref(body);

    body = load("{}");
    body_problems_init(&p);
    ck_assert_int_eq(contacts_json_update(body, &in, &p), -1);
    ck_assert_str_eq(p.first, "the update names no field to change");
    body_problems_free(&p);
    json_decref(body);
}
END_TEST

/* ---- contacts_json_bulk_reply ---- */

START_TEST(bulk_reply_text_parses_to_the_reply)
{
    Od__Contact c1 = OD__CONTACT__INIT, c2 = OD__CONTACT__INIT;
    Od__Contact *contacts[] = {&c1, &c2};
    Od__RowError e1 = OD__ROW_ERROR__INIT;
    Od__RowError *errors[] = {&e1};
    Od__BulkUpsertReply reply = OD__BULK_UPSERT_REPLY__INIT;
    size_t len = 0;

    c1.id = (char *)"cid_a";
    c1.name = (char *)"Priya \"P\" Sharma";
    c1.phone_number = (char *)"+919876543210";
    c2.id = (char *)"cid_b";
    c2.name = (char *)"";
    c2.phone_number = (char *)"+919123456789";
    e1.index = 2;
    e1.phone_number = (char *)"12";
    e1.reason = (char *)"phoneNumber must be a valid E.164 phone number";
    reply.created = 1;
    reply.updated = 1;
    reply.failed = 1;
    reply.n_contacts = 2;
    reply.contacts = contacts;
    reply.n_errors = 1;
    reply.errors = errors;

    char *text = contacts_json_bulk_reply(&reply, &len);
    ck_assert_ptr_nonnull(text);
    ck_assert_uint_eq(len, strlen(text));
    json_t *v = json_loads(text, 0, NULL);
    ck_assert_msg(v != NULL, "not JSON: %s", text);
    json_t *expected = json_pack(
        "{s:i, s:i, s:i, s:[{s:s, s:s, s:s}, {s:s, s:n, s:s}], s:[{s:i, s:s, s:s}]}", "created", 1,
        "updated", 1, "failed", 1, "contacts", "id", "cid_a", "name", "Priya \"P\" Sharma",
        "phoneNumber", "+919876543210", "id", "cid_b", "name", /* null */ "phoneNumber", "+919123456789",
        "errors", "index", 2, "phoneNumber", "12", "reason",
        "phoneNumber must be a valid E.164 phone number");
    ck_assert(json_equal(v, expected));
    json_decref(expected);
    json_decref(v);
    free(text);
}
END_TEST

/* ---- contacts_json_contact ---- */

static Od__Contact sample_contact(void)
{
    Od__Contact c = OD__CONTACT__INIT;
    c.id = (char *)"cid_3xYz09AbCdEfGhIjKlMnOp";
    c.name = (char *)"John Doe";
    c.phone_number = (char *)"+919876543210";
    c.language = (char *)"hi-IN";
    c.metadata_json = (char *)"{\"customerId\": \"12345\"}";
    c.created_at = (char *)"2026-03-10T09:05:00.000Z";
    c.updated_at = (char *)"2026-03-10T09:06:00.123Z";
    return c;
}

static void assert_dump(json_t *v, const char *want)
{
    ck_assert_ptr_nonnull(v);
    char *text = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
    ck_assert_str_eq(text, want);
    free(text);
    json_decref(v);
}

START_TEST(contact_all_fields)
{
    Od__Contact c = sample_contact();
    assert_dump(contacts_json_contact(&c),
                "{\"createdAt\":\"2026-03-10T09:05:00.000Z\",\"id\":\"cid_3xYz09AbCdEfGhIjKlMnOp\","
                "\"language\":\"hi-IN\",\"metadata\":{\"customerId\":\"12345\"},"
                "\"name\":\"John Doe\",\"phoneNumber\":\"+919876543210\","
                "\"updatedAt\":\"2026-03-10T09:06:00.123Z\"}");
}
END_TEST

START_TEST(contact_empty_language_is_null)
{
    Od__Contact c = sample_contact();
    c.language = (char *)"";
    json_t *v = contacts_json_contact(&c);
    ck_assert_ptr_nonnull(v);
    ck_assert(json_is_null(json_object_get(v, "language")));
    ck_assert_uint_eq(json_object_size(v), 7);
    json_decref(v);
}
END_TEST

START_TEST(contact_metadata_defaults_to_empty_object)
{
    /* "[1,2]" and "3": valid JSON that is not an object must not leak through (regression). */
    static const char *const texts[] = {"", "{}", "not json", "{\"unterminated\": ", "[1,2]",
                                        "3"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        Od__Contact c = sample_contact();
        c.metadata_json = (char *)texts[i];
        json_t *v = contacts_json_contact(&c);
        ck_assert_ptr_nonnull(v);
        json_t *m = json_object_get(v, "metadata");
        ck_assert_msg(json_is_object(m) && json_object_size(m) == 0, "metadata_json \"%s\"",
                      texts[i]);
        json_decref(v);
    }
}
END_TEST

START_TEST(contact_empty_fields)
{
    Od__Contact c = OD__CONTACT__INIT; /* every string "" */
    assert_dump(contacts_json_contact(&c),
                "{\"createdAt\":\"\",\"id\":\"\",\"language\":null,\"metadata\":{},\"name\":null,"
                "\"phoneNumber\":\"\",\"updatedAt\":\"\"}");
}
END_TEST

START_TEST(bulk_whole_body_error_has_details)
{
    struct body_problems p;
    Od__BulkUpsertRequest in;
    json_t *b = json_loads("{\"contacts\":\"all of them\"}", 0, NULL);
    body_problems_init(&p);
    ck_assert_int_eq(contacts_json_bulk_request_problems(b, &in, &p), -1);
    ck_assert_int_eq(p.count, 1);
    ck_assert_str_eq(p.first, "contacts must be an array");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(p.details, 0), "field")),
                     "contacts");
    body_problems_free(&p);
    json_decref(b);
}
END_TEST

static Suite *contacts_json_suite(void)
{
    Suite *s = suite_create("contacts_json");
    TCase *tc = tcase_create("bulk");
    tcase_add_test(tc, bulk_missing_contacts);
    tcase_add_test(tc, bulk_whole_body_error_has_details);
    tcase_add_test(tc, bulk_contacts_not_array);
    tcase_add_test(tc, bulk_empty);
    tcase_add_test(tc, bulk_too_many);
    tcase_add_test(tc, bulk_max_rows_ok);
    tcase_add_test(tc, bulk_maps_valid_rows);
    tcase_add_test(tc, bulk_bad_rows_get_invalid_reason);
    tcase_add_test(tc, bulk_field_limits);
    tcase_add_test(tc, bulk_free_twice_is_safe);
    tcase_add_test(tc, bulk_request_packs_and_unpacks);
    suite_add_tcase(s, tc);

    tc = tcase_create("input");
    tcase_add_test(tc, input_ok);
    tcase_add_test(tc, input_defaults);
    tcase_add_test(tc, input_errors_name_the_field);
    tcase_add_test(tc, input_takes_snake_case_aliases);
    tcase_add_test(tc, input_extra_keys_become_metadata);
    tcase_add_test(tc, input_lists_every_problem);
    tcase_add_test(tc, update_maps_aliases_and_nulls);
    tcase_add_test(tc, update_refuses_keys_that_mean_nothing);
    suite_add_tcase(s, tc);

    tc = tcase_create("contact");
    tcase_add_test(tc, bulk_reply_text_parses_to_the_reply);
    tcase_add_test(tc, contact_all_fields);
    tcase_add_test(tc, contact_empty_language_is_null);
    tcase_add_test(tc, contact_metadata_defaults_to_empty_object);
    tcase_add_test(tc, contact_empty_fields);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(contacts_json_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
