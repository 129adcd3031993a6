/* End-to-end tests of the imports API (POST /v1/imports/api/bulk, status, list, errors,
 * upload) and of POST /v1/contacts/import (CSV and JSON): contacts-svc and the gateway on a
 * throwaway database, driven over HTTP with libcurl, checked with admin SQL. */
#include <check.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testsupport.h"

static struct ts_db *g_db;
static struct ts_proc *g_contacts;
static struct ts_proc *g_gateway;
static char g_gateway_bin[PATH_MAX];
static char g_base[64];
static char g_ent_org[64], g_ent_key[160]; /* enterprise: no rate limit in the way */
static char g_std_org[64], g_std_key[160]; /* the "other organization" */

/* ---------------- helpers ---------------- */



/* One request; content_type NULL sends none (libcurl then sends its form default for
 * bodies, so JSON callers pass it). Returns the status. */
static long api_ct(struct ts_http_res *r, const char *method, const char *path, const char *key,
                   const char *body, size_t body_len, const char *content_type)
{
    char url[2048], auth[256], ct[128];
    const char *headers[3];
    size_t n = 0;
    snprintf(auth, sizeof auth, "x-api-key: %s", key);
    headers[n++] = auth;
    if (content_type != NULL) {
        snprintf(ct, sizeof ct, "Content-Type: %s", content_type);
        headers[n++] = ct;
    }
    headers[n] = NULL;
    snprintf(url, sizeof url, "%s%s", g_base, path);
    ts_http(method, url, headers, body, body_len, r);
    ck_assert_msg(r->status > 0, "%s %s: no response", method, path);
    ck_assert_msg(ts_http_header(r, "X-Request-Id") != NULL, "%s %s: no X-Request-Id", method,
                  path);
    return r->status;
}

static long api(struct ts_http_res *r, const char *method, const char *path, const char *key,
                const char *body)
{
    return api_ct(r, method, path, key, body, body ? strlen(body) : 0,
                  body ? "application/json" : NULL);
}

static void assert_error(const struct ts_http_res *r, long status)
{
    ck_assert_msg(r->status == status, "expected HTTP %ld, got %ld: %s", status, r->status,
                  r->body);
    ck_assert_msg(r->json != NULL, "error body is not JSON: %s", r->body);
    ck_assert_int_eq(json_integer_value(json_object_get(r->json, "statusCode")), status);
    ck_assert_msg(json_is_string(json_object_get(r->json, "message")), "no message: %s",
                  r->body);
    ck_assert_msg(json_is_string(json_object_get(r->json, "error")), "no error: %s", r->body);
    /* every 400 lists its problems (issue 14): details, one entry at least */
    if (status == 400)
        ck_assert_msg(json_array_size(json_object_get(r->json, "details")) >= 1,
                      "a 400 without details: %s", r->body);
}

static const char *jstr(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

static long long jint(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    ck_assert_msg(json_is_integer(v), "%s is not an integer", key);
    return json_integer_value(v);
}

static long long sqlf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static long long sqlf(const char *fmt, ...)
{
    char sql[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    return ts_db_scalar(g_db, sql);
}

/* Submits a bulk import (202) and copies its id. */
static void submit(const char *key, const char *body, int total, char *id, size_t id_size)
{
    struct ts_http_res r;
    ck_assert_msg(api(&r, "POST", "/v1/imports/api/bulk", key, body) == 202, "submit: %ld %s",
                  r.status, r.body);
    ck_assert_msg(jstr(r.json, "importId") && strncmp(jstr(r.json, "importId"), "imp_", 4) == 0,
                  "importId in %s", r.body);
    ck_assert_msg(jstr(r.json, "status") != NULL, "status in %s", r.body);
    ck_assert_int_eq(jint(r.json, "total"), total);
    ck_assert_uint_eq(json_object_size(r.json), 3);
    snprintf(id, id_size, "%s", jstr(r.json, "importId"));
    ts_http_res_free(&r);
}

/* Polls GET /v1/imports/:id/status until the import is finished; r holds the last reply. */
static void wait_done(const char *key, const char *id, struct ts_http_res *r)
{
    char path[128];
    int64_t give_up = ts_now_ms() + 30000;
    snprintf(path, sizeof path, "/v1/imports/%s/status", id);
    for (;;) {
        ck_assert_msg(api(r, "GET", path, key, NULL) == 200, "status: %ld %s", r->status,
                      r->body);
        const char *s = jstr(r->json, "status");
        ck_assert_msg(s != NULL, "no status in %s", r->body);
        if (strcmp(s, "PENDING") != 0 && strcmp(s, "PROCESSING") != 0)
            return;
        ck_assert_msg(ts_now_ms() < give_up, "import %s still %s", id, s);
        ts_http_res_free(r);
        ts_sleep_ms(50);
    }
}

/* The status reply exactly as documented. */
static void assert_status(const json_t *j, const char *id, const char *status, int total,
                          int created, int updated, int failed)
{
    static const char *const keys[] = {"id", "status", "total", "created", "updated",
                                       "failed", "errorCount", "completedAt", NULL};
    for (int i = 0; keys[i]; i++)
        ck_assert_msg(json_object_get(j, keys[i]) != NULL, "status has no %s", keys[i]);
    ck_assert_uint_eq(json_object_size(j), 8);
    ck_assert_str_eq(jstr(j, "id"), id);
    ck_assert_str_eq(jstr(j, "status"), status);
    ck_assert_int_eq(jint(j, "total"), total);
    ck_assert_int_eq(jint(j, "created"), created);
    ck_assert_int_eq(jint(j, "updated"), updated);
    ck_assert_int_eq(jint(j, "failed"), failed);
    ck_assert_int_eq(jint(j, "errorCount"), failed);
    const char *at = jstr(j, "completedAt");
    ck_assert_msg(at && strlen(at) == 24 && at[10] == 'T' && at[23] == 'Z', "completedAt %s",
                  at ? at : "null");
}

/* The contact with this phone number as GET /v1/contacts?search= shows it (new reference). */
static json_t *contact_by_phone(const char *key, const char *phone)
{
    struct ts_http_res r;
    char path[128];
    json_t *c;
    /* '+' in a query string is a space: search by the digits. */
    snprintf(path, sizeof path, "/v1/contacts?search=%s", phone + 1);
    ck_assert_int_eq(api(&r, "GET", path, key, NULL), 200);
    ck_assert_msg(json_array_size(json_object_get(r.json, "data")) == 1, "search %s: %s", phone,
                  r.body);
    c = json_incref(json_array_get(json_object_get(r.json, "data"), 0));
    ts_http_res_free(&r);
    return c;
}

/* ---------------- fixture ---------------- */

static void stack_setup(void)
{
    char contacts_bin[PATH_MAX], e_db[700], e_rpc[80], e_health[80], e_svc[80];
    char e_port[40], e_health_gw[80], e_webhook[80];
    int rpc_port = ts_free_port(), contacts_health = ts_free_port();
    int http_port = ts_free_port(), gateway_health = ts_free_port();

    ts_binary("contacts-svc/contacts-svc", contacts_bin, sizeof contacts_bin);
    ts_binary("gateway/gateway", g_gateway_bin, sizeof g_gateway_bin);
    g_db = ts_db_create();

    snprintf(e_db, sizeof e_db, "DATABASE_URL=%s", ts_db_url(g_db, "contacts"));
    snprintf(e_rpc, sizeof e_rpc, "RPC_LISTEN=tcp://127.0.0.1:%d", rpc_port);
    snprintf(e_health, sizeof e_health, "HEALTH_LISTEN=http://127.0.0.1:%d", contacts_health);
    /* The outbox relay points at a port nobody serves, so import.completed events stay in
     * the outbox where the tests look for them. */
    snprintf(e_webhook, sizeof e_webhook, "WEBHOOK_SVC_URL=tcp://127.0.0.1:%d", ts_free_port());
    const char *contacts_env[] = {e_db, e_rpc, e_health, e_webhook, "RPC_WORKERS=4",
                                  "IMPORT_POLL_MS=200", NULL};
    g_contacts = ts_proc_start("contacts-svc", contacts_bin, NULL, contacts_env);

    snprintf(e_db, sizeof e_db, "DATABASE_URL=%s", ts_db_url(g_db, "gateway"));
    snprintf(e_port, sizeof e_port, "HTTP_PORT=%d", http_port);
    snprintf(e_health_gw, sizeof e_health_gw, "HEALTH_LISTEN=http://127.0.0.1:%d",
             gateway_health);
    snprintf(e_svc, sizeof e_svc, "CONTACTS_SVC_URL=tcp://127.0.0.1:%d", rpc_port);
    const char *gateway_env[] = {e_db, "HTTP_BIND=127.0.0.1", e_port, e_health_gw, e_svc,
                                 "HTTP_THREADS=8", NULL};
    g_gateway = ts_proc_start("gateway", g_gateway_bin, NULL, gateway_env);
    snprintf(g_base, sizeof g_base, "http://127.0.0.1:%d", http_port);

    ts_proc_wait_ready(g_contacts, 30000);
    ts_proc_wait_ready(g_gateway, 30000);
    ts_org_create(g_db, "Import Org", "enterprise", g_ent_org, sizeof g_ent_org, g_ent_key,
               sizeof g_ent_key);
    ts_org_create(g_db, "Other Org", "enterprise", g_std_org, sizeof g_std_org, g_std_key,
               sizeof g_std_key);
    ts_wait_gateway_routes(g_base, g_ent_key, ts_contacts_svc_routes, 10000);
}

static void ensure_stack(void)
{
    struct ts_proc *procs[] = {g_contacts, g_gateway};
    for (int i = 0; i < 2; i++) {
        if (!ts_proc_running(procs[i])) {
            ts_proc_restart(procs[i]);
            ts_proc_wait_ready(procs[i], 30000);
        }
    }
}

static void stack_teardown(void)
{
    ts_proc_free(g_gateway);
    g_gateway = NULL;
    ts_proc_free(g_contacts);
    g_contacts = NULL;
    ts_db_drop(g_db);
    g_db = NULL;
}

/* ---------------- imports ---------------- */

START_TEST(test_reference_import_with_audience)
{
    struct ts_http_res r;
    char id[64], body[1024];
    json_t *c;

    sqlf("WITH a AS (INSERT INTO contacts.audiences (org_id, id, name) VALUES ('%s', "
         "'aud_e2eImport1', 'Import target') RETURNING 1) SELECT count(*) FROM a",
         g_ent_org);
    snprintf(body, sizeof body,
             "{\"contacts\":["
             "{\"name\":\"Priya Sharma\",\"phoneNumber\":\"+919876543210\",\"language\":\"hi-IN\","
             "\"city\":\"Mumbai\",\"tier\":\"premium\"},"
             "{\"name\":\"Ravi Kumar\",\"phoneNumber\":\"+919123456789\",\"language\":\"en-IN\","
             "\"city\":\"Delhi\",\"tier\":\"standard\",\"score\":7,"
             "\"metadata\":{\"tier\":\"gold\",\"source\":\"crm\"}}],"
             "\"audienceId\":\"aud_e2eImport1\","
             "\"webhookUrl\":\"https://your-app.com/webhooks/import-done\"}");
    submit(g_ent_key, body, 2, id, sizeof id);
    wait_done(g_ent_key, id, &r);
    assert_status(r.json, id, "COMPLETED", 2, 2, 0, 0);
    ts_http_res_free(&r);

    c = contact_by_phone(g_ent_key, "+919876543210");
    ck_assert_str_eq(jstr(c, "name"), "Priya Sharma");
    ck_assert_str_eq(jstr(c, "language"), "hi-IN");
    ck_assert_str_eq(jstr(json_object_get(c, "metadata"), "city"), "Mumbai");
    ck_assert_str_eq(jstr(json_object_get(c, "metadata"), "tier"), "premium");
    ck_assert_uint_eq(json_object_size(json_object_get(c, "metadata")), 2);
    json_decref(c);
    /* Extra keys and the explicit metadata object merge; metadata's keys win. */
    c = contact_by_phone(g_ent_key, "+919123456789");
    ck_assert_str_eq(jstr(json_object_get(c, "metadata"), "city"), "Delhi");
    ck_assert_str_eq(jstr(json_object_get(c, "metadata"), "tier"), "gold");
    ck_assert_str_eq(jstr(json_object_get(c, "metadata"), "source"), "crm");
    ck_assert_int_eq(jint(json_object_get(c, "metadata"), "score"), 7);
    json_decref(c);

    ck_assert_int_eq(sqlf("SELECT count(*) FROM contacts.audience_members m JOIN "
                          "contacts.contacts c ON c.org_id = m.org_id AND c.id = m.contact_id "
                          "WHERE m.org_id = '%s' AND m.audience_id = 'aud_e2eImport1' AND "
                          "c.phone_number IN ('+919876543210', '+919123456789')",
                          g_ent_org),
                     2);
    ck_assert_int_eq(sqlf("SELECT count(*) FROM contacts.outbox WHERE org_id = '%s' AND "
                          "event_type = 'import.completed' AND payload->>'importId' = '%s' AND "
                          "payload->>'status' = 'COMPLETED' AND webhook_url = "
                          "'https://your-app.com/webhooks/import-done'",
                          g_ent_org, id),
                     1);

    /* The list shows it, newest first, with its audience and webhook. */
    ck_assert_int_eq(api(&r, "GET", "/v1/imports?page=1&limit=5", g_ent_key, NULL), 200);
    json_t *first = json_array_get(json_object_get(r.json, "data"), 0);
    ck_assert_str_eq(jstr(first, "id"), id);
    ck_assert_str_eq(jstr(first, "audienceId"), "aud_e2eImport1");
    ck_assert_int_eq(jint(r.json, "page"), 1);
    ck_assert_int_eq(jint(r.json, "limit"), 5);
    ck_assert_int_ge(jint(r.json, "total"), 1);
    ts_http_res_free(&r);
}
END_TEST

START_TEST(test_import_with_bad_rows)
{
    struct ts_http_res r;
    char id[64], path[128];
    const char *body =
        "{\"contacts\":["
        "{\"name\":\"Good One\",\"phoneNumber\":\"+14155550301\"},"
        "{\"name\":\"Bad Phone\",\"phoneNumber\":\"415-555-0302\"},"
        "{\"phoneNumber\":\"+14155550303\"},"
        "{\"name\":5,\"phoneNumber\":\"+14155550304\"},"
        "\"not an object\","
        "{\"name\":\"Good Two\",\"phoneNumber\":\"+14155550305\",\"language\":\"en-US\"}]}";

    submit(g_ent_key, body, 6, id, sizeof id);
    wait_done(g_ent_key, id, &r);
    /* the row without a name is imported (one rule on every route; issue 14) */
    assert_status(r.json, id, "COMPLETED_WITH_ERRORS", 6, 3, 0, 3);
    ts_http_res_free(&r);
    json_t *nameless = contact_by_phone(g_ent_key, "+14155550303");
    ck_assert_msg(json_is_null(json_object_get(nameless, "name")), "name should be null");
    json_decref(nameless);

    snprintf(path, sizeof path, "/v1/imports/%s/errors", id);
    ck_assert_int_eq(api(&r, "GET", path, g_ent_key, NULL), 200);
    json_t *errors = json_object_get(r.json, "data");
    ck_assert_uint_eq(json_array_size(errors), 3);
    ck_assert_int_eq(jint(r.json, "total"), 3);
    int want_index[] = {1, 3, 4};
    const char *want_phone[] = {"415-555-0302", "", ""};
    const char *want_reason[] = {"phoneNumber must be a valid E.164 phone number",
                                 "contacts[3].name must be a string",
                                 "contacts[4] must be an object"};
    for (int i = 0; i < 3; i++) {
        json_t *e = json_array_get(errors, (size_t)i);
        ck_assert_int_eq(jint(e, "index"), want_index[i]);
        ck_assert_str_eq(jstr(e, "phoneNumber"), want_phone[i]);
        ck_assert_str_eq(jstr(e, "reason"), want_reason[i]);
    }
    ts_http_res_free(&r);
    /* Paging of the errors. */
    snprintf(path, sizeof path, "/v1/imports/%s/errors?page=2&limit=2", id);
    ck_assert_int_eq(api(&r, "GET", path, g_ent_key, NULL), 200);
    ck_assert_uint_eq(json_array_size(json_object_get(r.json, "data")), 1);
    ck_assert_int_eq(jint(json_array_get(json_object_get(r.json, "data"), 0), "index"), 4);
    ts_http_res_free(&r);
}
END_TEST

START_TEST(test_refused_imports_write_nothing)
{
    struct ts_http_res r;
    size_t cap = 10001 * 64 + 64, len = 0;
    char *body = malloc(cap);
    long long imports = sqlf("SELECT count(*) FROM contacts.imports");
    long long contacts = sqlf("SELECT count(*) FROM contacts.contacts");

    ck_assert_ptr_nonnull(body);
    len += (size_t)snprintf(body + len, cap - len, "{\"contacts\":[");
    for (int i = 0; i < 10001; i++)
        len += (size_t)snprintf(body + len, cap - len,
                                "%s{\"name\":\"N\",\"phoneNumber\":\"+1666%07d\"}",
                                i ? "," : "", i);
    snprintf(body + len, cap - len, "]}");
    api(&r, "POST", "/v1/imports/api/bulk", g_ent_key, body);
    assert_error(&r, 400);
    ck_assert_msg(strstr(r.body, "10000") != NULL, "message: %s", r.body);
    ts_http_res_free(&r);
    free(body);

    const char *bad[] = {
        "{}",
        "{\"contacts\":{}}",
        "{\"contacts\":[]}",
        "{\"contacts\":[{\"name\":\"A\",\"phoneNumber\":\"+14155550400\"}],\"webhookUrl\":5}",
        "{\"contacts\":[{\"name\":\"A\",\"phoneNumber\":\"+14155550400\"}],"
        "\"webhookUrl\":\"ftp://x.example/\"}",
        "{\"contacts\":[{\"name\":\"A\",\"phoneNumber\":\"+14155550400\"}],"
        "\"webhookUrl\":\"javascript:alert(1)\"}",
        "{\"contacts\":[{\"name\":\"A\",\"phoneNumber\":\"+14155550400\"}],\"audienceId\":[]}",
        "{\"contacts\":[",
        /* Issue 13: the address policy of webhook endpoints applies at submit */
        "{\"contacts\":[{\"name\":\"A\",\"phoneNumber\":\"+14155550400\"}],"
        "\"webhookUrl\":\"http://169.254.169.254/latest/meta-data\"}",
        "{\"contacts\":[{\"name\":\"A\",\"phoneNumber\":\"+14155550400\"}],"
        "\"webhookUrl\":\"http://127.0.0.1:5432/\"}",
        "{\"contacts\":[{\"name\":\"A\",\"phoneNumber\":\"+14155550400\"}],"
        "\"webhookUrl\":\"http://[2002:a9fe:a9fe::1]/x\"}",
        "{\"contacts\":[{\"name\":\"A\",\"phoneNumber\":\"+14155550400\"}],"
        "\"webhookUrl\":\"http://198.51.100.7/x\"}",
        "{\"contacts\":[{\"name\":\"A\",\"phoneNumber\":\"+14155550400\"}],"
        "\"webhookUrl\":\"http://93.184.216.34:0/x\"}",
        NULL};
    for (int i = 0; bad[i]; i++) {
        api(&r, "POST", "/v1/imports/api/bulk", g_ent_key, bad[i]);
        assert_error(&r, 400);
        if (strstr(bad[i], "169.254") != NULL)
            ck_assert_msg(strstr(r.body, "link-local") != NULL, "message: %s", r.body);
        ts_http_res_free(&r);
    }
    /* Two problems in one body: both listed in details, the first is the message (issue 14). */
    api(&r, "POST", "/v1/imports/api/bulk", g_ent_key,
        "{\"contacts\":\"nope\",\"audienceId\":5}");
    assert_error(&r, 400);
    {
        json_t *d = json_object_get(r.json, "details");
        ck_assert_msg(json_array_size(d) == 2, "details: %s", r.body);
        ck_assert_str_eq(jstr(r.json, "message"), "contacts must be an array");
        ck_assert_str_eq(jstr(json_array_get(d, 0), "field"), "contacts");
        ck_assert_str_eq(jstr(json_array_get(d, 1), "field"), "audienceId");
        ck_assert_str_eq(jstr(json_array_get(d, 1), "message"), "audienceId must be a string");
    }
    ts_http_res_free(&r);
    /* An unknown audience, or another organization's: 404. */
    sqlf("WITH a AS (INSERT INTO contacts.audiences (org_id, id, name) VALUES ('%s', "
         "'aud_e2eOtherOrg', 'Theirs') RETURNING 1) SELECT count(*) FROM a",
         g_std_org);
    const char *missing[] = {"aud_nope", "aud_e2eOtherOrg", "not-an-id", NULL};
    for (int i = 0; missing[i]; i++) {
        char b[256];
        snprintf(b, sizeof b,
                 "{\"contacts\":[{\"name\":\"A\",\"phoneNumber\":\"+14155550400\"}],"
                 "\"audienceId\":\"%s\"}",
                 missing[i]);
        api(&r, "POST", "/v1/imports/api/bulk", g_ent_key, b);
        assert_error(&r, 404);
        ts_http_res_free(&r);
    }
    ck_assert_int_eq(sqlf("SELECT count(*) FROM contacts.imports"), imports);
    ck_assert_int_eq(sqlf("SELECT count(*) FROM contacts.import_payloads"), 0);
    ck_assert_int_eq(sqlf("SELECT count(*) FROM contacts.contacts"), contacts);
}
END_TEST

START_TEST(test_upload_is_403)
{
    struct ts_http_res r;
    api_ct(&r, "POST", "/v1/imports/upload", g_ent_key, "name,phone\nA,+14155550500\n", 26,
           "text/csv");
    assert_error(&r, 403);
    ck_assert_msg(strstr(r.body, "API key") != NULL, "message: %s", r.body);
    ts_http_res_free(&r);
}
END_TEST

START_TEST(test_other_org_is_404)
{
    struct ts_http_res r;
    char id[64], path[160];
    const char *suffix[] = {"/status", "/errors", "", NULL};

    submit(g_ent_key, "{\"contacts\":[{\"name\":\"Mine\",\"phoneNumber\":\"+14155550600\"}]}",
           1, id, sizeof id);
    wait_done(g_ent_key, id, &r);
    ts_http_res_free(&r);
    for (int i = 0; suffix[i]; i++) {
        snprintf(path, sizeof path, "/v1/imports/%s%s", id, suffix[i]);
        api(&r, "GET", path, g_std_key, NULL);
        assert_error(&r, 404);
        ts_http_res_free(&r);
        ck_assert_int_eq(api(&r, "GET", path, g_ent_key, NULL), 200);
        ts_http_res_free(&r);
        snprintf(path, sizeof path, "/v1/imports/imp_doesNotExist%s", suffix[i]);
        api(&r, "GET", path, g_ent_key, NULL);
        assert_error(&r, 404);
        ts_http_res_free(&r);
        snprintf(path, sizeof path, "/v1/imports/cid_wrongPrefix%s", suffix[i]);
        api(&r, "GET", path, g_ent_key, NULL);
        assert_error(&r, 404);
        ts_http_res_free(&r);
    }
    ck_assert_int_eq(api(&r, "GET", "/v1/imports?limit=100", g_std_key, NULL), 200);
    json_t *data = json_object_get(r.json, "data");
    for (size_t i = 0; i < json_array_size(data); i++)
        ck_assert_str_ne(jstr(json_array_get(data, i), "id"), id);
    ts_http_res_free(&r);
}
END_TEST

/* ---------------- POST /v1/contacts/import ---------------- */

START_TEST(test_contacts_import_csv_edge_cases)
{
    struct ts_http_res r;
    json_t *c, *errors;
    /* BOM, CRLF and LF mixed, a quoted comma, doubled quotes, a newline inside a quoted
     * field, first/last name, a blank line, a ragged row, a bad number, a trailing record
     * without a line ending. */
    static const char csv[] =
        "\xEF\xBB\xBF"
        "Phone Number,first_name,last_name,language,city,note\r\n"
        "+14155550701,Ann,Lee,en-US,\"San Francisco, CA\",plain\r\n"
        "+14155550702,\"Bob \"\"Bobby\"\"\",Stone,,Austin,\"two\nlines\"\n"
        "\n"
        "+14155550703,Cy,,fr-FR,Paris\n"
        "12345,Dee,,,,\n"
        "+14155550704,Eve,Ng,,\"Zürich\",last";

    api_ct(&r, "POST", "/v1/contacts/import", g_ent_key, csv, sizeof csv - 1,
           "text/csv; charset=utf-8");
    ck_assert_msg(r.status == 200, "csv import: %ld %s", r.status, r.body);
    ck_assert_int_eq(jint(r.json, "created"), 3);
    ck_assert_int_eq(jint(r.json, "updated"), 0);
    ck_assert_int_eq(jint(r.json, "failed"), 2);
    ck_assert_uint_eq(json_array_size(json_object_get(r.json, "contacts")), 3);
    errors = json_object_get(r.json, "errors");
    ck_assert_uint_eq(json_array_size(errors), 2);
    /* Rows are numbered from 0 after the header; line is where the record starts. */
    ck_assert_int_eq(jint(json_array_get(errors, 0), "index"), 2);
    ck_assert_int_eq(jint(json_array_get(errors, 0), "line"), 6);
    ck_assert_str_eq(jstr(json_array_get(errors, 0), "phoneNumber"), "+14155550703");
    ck_assert_msg(strstr(jstr(json_array_get(errors, 0), "reason"), "5 fields") != NULL,
                  "ragged reason: %s", r.body);
    ck_assert_int_eq(jint(json_array_get(errors, 1), "index"), 3);
    ck_assert_str_eq(jstr(json_array_get(errors, 1), "phoneNumber"), "12345");
    ts_http_res_free(&r);

    c = contact_by_phone(g_ent_key, "+14155550701");
    ck_assert_str_eq(jstr(c, "name"), "Ann Lee");
    ck_assert_str_eq(jstr(c, "language"), "en-US");
    ck_assert_str_eq(jstr(json_object_get(c, "metadata"), "city"), "San Francisco, CA");
    ck_assert_str_eq(jstr(json_object_get(c, "metadata"), "note"), "plain");
    json_decref(c);
    c = contact_by_phone(g_ent_key, "+14155550702");
    ck_assert_str_eq(jstr(c, "name"), "Bob \"Bobby\" Stone");
    ck_assert_str_eq(jstr(json_object_get(c, "metadata"), "note"), "two\nlines");
    ck_assert_msg(json_is_null(json_object_get(c, "language")), "language should be null");
    json_decref(c);
    c = contact_by_phone(g_ent_key, "+14155550704");
    ck_assert_str_eq(jstr(json_object_get(c, "metadata"), "city"), "Zürich");
    ck_assert_str_eq(jstr(json_object_get(c, "metadata"), "note"), "last");
    json_decref(c);

    /* The same file again: everything is an update. */
    api_ct(&r, "POST", "/v1/contacts/import", g_ent_key, csv, sizeof csv - 1, "text/csv");
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq(jint(r.json, "created"), 0);
    ck_assert_int_eq(jint(r.json, "updated"), 3);
    ts_http_res_free(&r);
}
END_TEST

START_TEST(test_contacts_import_refusals)
{
    struct ts_http_res r;
    long long contacts = sqlf("SELECT count(*) FROM contacts.contacts");
    struct {
        const char *body;
        const char *type;
        long status;
    } cases[] = {
        {"name,phone\nA,\"+14155550801\nB,+14155550802\n", "text/csv", 400}, /* unterminated */
        {"name,email\nA,a@example.com\n", "text/csv", 400},                  /* no phone column */
        {"phone,phone_number\n+14155550801,+14155550802\n", "text/csv", 400}, /* two phones */
        {"phone,name\n", "text/csv", 400},                                    /* no rows */
        {"", "text/csv", 400},                                                /* empty */
        {"phone\n+14155550801\n", "application/xml", 415},
        {"phone\n+14155550801\n", NULL, 415},
        {"[", "application/json", 400},
        {"[]", "application/json", 400},
        {"\"text\"", "application/json", 400},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        api_ct(&r, "POST", "/v1/contacts/import", g_ent_key, cases[i].body,
               strlen(cases[i].body), cases[i].type ? cases[i].type : "");
        assert_error(&r, cases[i].status);
        ts_http_res_free(&r);
    }
    /* A CSV header with two problems lists both (issue 14). */
    {
        const char *csv = "email,email\na@example.com,b@example.com\n";
        api_ct(&r, "POST", "/v1/contacts/import", g_ent_key, csv, strlen(csv), "text/csv");
        assert_error(&r, 400);
        json_t *d = json_object_get(r.json, "details");
        ck_assert_msg(json_array_size(d) == 2, "details: %s", r.body);
        ck_assert_str_eq(jstr(json_array_get(d, 1), "message"),
                         "CSV header must have a phone, phoneNumber or phone_number column");
        ts_http_res_free(&r);
    }
    /* More than 10,000 rows: 400 and nothing written. */
    size_t cap = 10001 * 24 + 32, len = 0;
    char *csv = malloc(cap);
    ck_assert_ptr_nonnull(csv);
    len += (size_t)snprintf(csv, cap, "phone\n");
    for (int i = 0; i < 10001; i++)
        len += (size_t)snprintf(csv + len, cap - len, "+1777%07d\n", i);
    api_ct(&r, "POST", "/v1/contacts/import", g_ent_key, csv, len, "text/csv");
    assert_error(&r, 400);
    ts_http_res_free(&r);
    free(csv);
    ck_assert_int_eq(sqlf("SELECT count(*) FROM contacts.contacts"), contacts);
}
END_TEST

START_TEST(test_contacts_import_json_array)
{
    struct ts_http_res r;
    json_t *c;
    const char *body =
        "[{\"name\":\"Jay\",\"phoneNumber\":\"+14155550901\",\"plan\":\"pro\"},"
        "{\"first_name\":\"Kim\",\"last_name\":\"Ode\",\"phone_number\":\"+14155550902\","
        "\"metadata\":{\"vip\":true}},"
        "{\"name\":\"No Phone\"}]";
    ck_assert_msg(api(&r, "POST", "/v1/contacts/import", g_ent_key, body) == 200, "%ld %s",
                  r.status, r.body);
    ck_assert_int_eq(jint(r.json, "created"), 2);
    ck_assert_int_eq(jint(r.json, "failed"), 1);
    ck_assert_int_eq(jint(json_array_get(json_object_get(r.json, "errors"), 0), "index"), 2);
    ts_http_res_free(&r);
    c = contact_by_phone(g_ent_key, "+14155550902");
    ck_assert_str_eq(jstr(c, "name"), "Kim Ode");
    ck_assert(json_is_true(json_object_get(json_object_get(c, "metadata"), "vip")));
    json_decref(c);
    c = contact_by_phone(g_ent_key, "+14155550901");
    ck_assert_str_eq(jstr(json_object_get(c, "metadata"), "plan"), "pro");
    json_decref(c);
}
END_TEST

/* curl -F file=@contacts.csv: the file is found in the multipart body. */
START_TEST(test_contacts_import_multipart)
{
    struct ts_http_res r;
    json_t *c;
    static const char body[] =
        "------od\r\nContent-Disposition: form-data; name=\"list\"\r\n\r\nignored\r\n"
        "------od\r\nContent-Disposition: form-data; name=\"file\"; filename=\"contacts.csv\"\r\n"
        "Content-Type: text/csv\r\n\r\n"
        "phone,name,team\r\n+14155551001,Multi Part,blue\r\n+14155551002,\"Two, Parts\",red\r\n"
        "\r\n------od--\r\n";
    api_ct(&r, "POST", "/v1/contacts/import", g_ent_key, body, sizeof body - 1,
           "multipart/form-data; boundary=----od");
    ck_assert_msg(r.status == 200, "multipart import: %ld %s", r.status, r.body);
    ck_assert_int_eq(jint(r.json, "created"), 2);
    ck_assert_int_eq(jint(r.json, "failed"), 0);
    ts_http_res_free(&r);
    c = contact_by_phone(g_ent_key, "+14155551002");
    ck_assert_str_eq(jstr(c, "name"), "Two, Parts");
    ck_assert_str_eq(jstr(json_object_get(c, "metadata"), "team"), "red");
    json_decref(c);
    /* No file part: 400. */
    static const char none[] = "--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n1\r\n--b--\r\n";
    api_ct(&r, "POST", "/v1/contacts/import", g_ent_key, none, sizeof none - 1,
           "multipart/form-data; boundary=b");
    assert_error(&r, 400);
    ts_http_res_free(&r);
}
END_TEST

START_TEST(test_clean_shutdown)
{
    ts_proc_stop_ok(g_gateway);
    ts_proc_stop_ok(g_contacts);
}
END_TEST

static Suite *imports_suite(void)
{
    Suite *s = suite_create("imports-api");
    TCase *tc = tcase_create("http");
    tcase_add_unchecked_fixture(tc, stack_setup, stack_teardown);
    tcase_add_checked_fixture(tc, ensure_stack, NULL);
    tcase_set_timeout(tc, 0);
    tcase_add_test(tc, test_reference_import_with_audience);
    tcase_add_test(tc, test_import_with_bad_rows);
    tcase_add_test(tc, test_refused_imports_write_nothing);
    tcase_add_test(tc, test_upload_is_403);
    tcase_add_test(tc, test_other_org_is_404);
    tcase_add_test(tc, test_contacts_import_csv_edge_cases);
    tcase_add_test(tc, test_contacts_import_refusals);
    tcase_add_test(tc, test_contacts_import_json_array);
    tcase_add_test(tc, test_contacts_import_multipart);
    tcase_add_test(tc, test_clean_shutdown);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr;
    int failed;
    int64_t started = ts_now_ms();

    ts_init("e2e");
    sr = srunner_create(imports_suite());
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_VERBOSE);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    fprintf(stderr, "[e2e] finished in %.1f s\n", (double)(ts_now_ms() - started) / 1000.0);
    return ts_finish(failed);
}
