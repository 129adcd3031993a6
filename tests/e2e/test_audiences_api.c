/* End-to-end tests of the audiences and do-not-call APIs: contacts-svc and the gateway, each
 * with its own database role on a throwaway database, driven over HTTP with libcurl. */
#include <check.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testsupport.h"

static struct ts_db *g_db;
static struct ts_proc *g_contacts;
static struct ts_proc *g_gateway;
static char g_gateway_bin[PATH_MAX];
static char g_base[64];
static char g_org[64], g_key[160], g_read_key[160]; /* enterprise organization A */
static char g_org_b[64], g_key_b[160];              /* enterprise organization B */

/* ---------------- helpers ---------------- */




static long api(struct ts_http_res *r, const char *method, const char *path, const char *key,
                const char *body)
{
    char url[2048], auth[256];
    const char *headers[] = {auth, "Content-Type: application/json", NULL};
    snprintf(auth, sizeof auth, "x-api-key: %s", key);
    snprintf(url, sizeof url, "%s%s", g_base, path);
    ts_http(method, url, headers, body, body ? strlen(body) : 0, r);
    ck_assert_msg(r->status > 0, "%s %s: no response (curl error %d)", method, path,
                  r->curl_code);
    ck_assert_msg(ts_http_header(r, "X-Request-Id") != NULL, "%s %s: no X-Request-Id", method,
                  path);
    return r->status;
}

static const char *jstr(const json_t *obj, const char *key);

/* Asserts status and the error shape; message_part (may be NULL) must occur in the message. */
static void assert_error(const struct ts_http_res *r, long status, const char *message_part)
{
    json_t *j = r->json;
    ck_assert_msg(r->status == status, "expected HTTP %ld, got %ld: %s", status, r->status,
                  r->body);
    ck_assert_msg(j != NULL, "error body is not JSON: %s", r->body);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "statusCode")), status);
    ck_assert_msg(json_is_string(json_object_get(j, "error")), "no error in %s", r->body);
    const char *m = json_string_value(json_object_get(j, "message"));
    ck_assert_msg(m != NULL && m[0] != '\0', "no message in %s", r->body);
    if (message_part != NULL)
        ck_assert_msg(strstr(m, message_part) != NULL, "message '%s' should mention '%s'", m,
                      message_part);
    /* every 400 lists its problems, the first being the message (issue 14) */
    if (status == 400) {
        const json_t *d = json_object_get(j, "details");
        ck_assert_msg(json_array_size(d) >= 1, "a 400 without details: %s", r->body);
        ck_assert_str_eq(jstr(json_array_get(d, 0), "message"), m);
        ck_assert_msg(json_is_string(json_object_get(json_array_get(d, 0), "field")),
                      "details[0] has no field: %s", r->body);
    }
}

/* One request that must fail with status (and mention message_part). */
static void expect_error(const char *method, const char *path, const char *key,
                         const char *body, long status, const char *message_part)
{
    struct ts_http_res r;
    api(&r, method, path, key, body);
    assert_error(&r, status, message_part);
    ts_http_res_free(&r);
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

static long long db_count(const char *sql)
{
    return ts_db_scalar(g_db, sql);
}

static long long count_for(const char *table, const char *org)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM contacts.%s WHERE org_id = '%s'", table,
             org);
    return db_count(sql);
}

static void create_contact(const char *key, const char *name, const char *phone, char *id,
                           size_t id_size)
{
    struct ts_http_res r;
    char body[256];
    snprintf(body, sizeof body, "{\"name\":\"%s\",\"phoneNumber\":\"%s\"}", name, phone);
    ck_assert_msg(api(&r, "POST", "/v1/contacts", key, body) == 201, "contact: %s", r.body);
    snprintf(id, id_size, "%s", jstr(r.json, "id"));
    ts_http_res_free(&r);
}

static void create_audience(const char *key, const char *name, char *id, size_t id_size)
{
    struct ts_http_res r;
    char body[256];
    snprintf(body, sizeof body, "{\"name\":\"%s\"}", name);
    ck_assert_msg(api(&r, "POST", "/v1/audiences", key, body) == 201, "audience: %s", r.body);
    snprintf(id, id_size, "%s", jstr(r.json, "id"));
    ts_http_res_free(&r);
}

static long long contact_count(const char *key, const char *audience)
{
    struct ts_http_res r;
    char path[128];
    long long n;
    snprintf(path, sizeof path, "/v1/audiences/%s", audience);
    ck_assert_msg(api(&r, "GET", path, key, NULL) == 200, "get audience: %s", r.body);
    n = jint(r.json, "contactCount");
    ts_http_res_free(&r);
    return n;
}

/* {"entries":[...]} with n rows +1<area><7 digits>; every `dup_every`th row repeats the one
 * before it (0: none). Caller frees. */
static char *dnc_bulk_body(size_t n, int area, size_t dup_every)
{
    size_t cap = n * 64 + 32, len = 0;
    char *b = malloc(cap);
    ck_assert_ptr_nonnull(b);
    len += (size_t)sprintf(b + len, "{\"entries\":[");
    for (size_t i = 0; i < n; i++) {
        size_t k = (dup_every && i > 0 && i % dup_every == 0) ? i - 1 : i;
        len += (size_t)sprintf(b + len, "%s{\"phoneNumber\":\"+1%03d%07zu\",\"source\":\"imported\"}",
                               i ? "," : "", area, k);
    }
    len += (size_t)sprintf(b + len, "]}");
    return b;
}

/* ---------------- fixture ---------------- */

static void stack_setup(void)
{
    char contacts_bin[PATH_MAX], e_db[700], e_rpc[80], e_health[80], e_svc[80];
    char e_port[40], e_health_gw[80];
    int rpc_port = ts_free_port(), contacts_health = ts_free_port();
    int http_port = ts_free_port(), gateway_health = ts_free_port();

    ts_binary("contacts-svc/contacts-svc", contacts_bin, sizeof contacts_bin);
    ts_binary("gateway/gateway", g_gateway_bin, sizeof g_gateway_bin);
    g_db = ts_db_create();

    snprintf(e_db, sizeof e_db, "DATABASE_URL=%s", ts_db_url(g_db, "contacts"));
    snprintf(e_rpc, sizeof e_rpc, "RPC_LISTEN=tcp://127.0.0.1:%d", rpc_port);
    snprintf(e_health, sizeof e_health, "HEALTH_LISTEN=http://127.0.0.1:%d", contacts_health);
    const char *contacts_env[] = {e_db, e_rpc, e_health, "RPC_WORKERS=4",
                         "WEBHOOK_SVC_URL=" /* relay off: never reach a dev stack */, NULL};
    g_contacts = ts_proc_start("contacts-svc", contacts_bin, NULL, contacts_env);

    snprintf(e_db, sizeof e_db, "DATABASE_URL=%s", ts_db_url(g_db, "gateway"));
    snprintf(e_port, sizeof e_port, "HTTP_PORT=%d", http_port);
    snprintf(e_health_gw, sizeof e_health_gw, "HEALTH_LISTEN=http://127.0.0.1:%d",
             gateway_health);
    snprintf(e_svc, sizeof e_svc, "CONTACTS_SVC_URL=tcp://127.0.0.1:%d", rpc_port);
    const char *gateway_env[] = {e_db, "HTTP_BIND=127.0.0.1", e_port, e_health_gw, e_svc,
                                 "HTTP_THREADS=8", "RPC_TIMEOUT_MS=30000", NULL};
    g_gateway = ts_proc_start("gateway", g_gateway_bin, NULL, gateway_env);
    snprintf(g_base, sizeof g_base, "http://127.0.0.1:%d", http_port);

    ts_proc_wait_ready(g_contacts, 30000);
    ts_proc_wait_ready(g_gateway, 30000);

    ts_org_create(g_db, "Audience Org A", "enterprise", g_org, sizeof g_org, g_key, sizeof g_key);
    ts_org_create(g_db, "Audience Org B", "enterprise", g_org_b, sizeof g_org_b, g_key_b, sizeof g_key_b);
    ts_wait_gateway_routes(g_base, g_key, ts_contacts_svc_routes, 10000);
    ts_key_create(g_db, g_org, "read", g_read_key, sizeof g_read_key);
}

static void ensure_stack(void)
{
    struct ts_proc *procs[] = {g_contacts, g_gateway};
    for (int i = 0; i < 2; i++)
        if (!ts_proc_running(procs[i])) {
            ts_proc_restart(procs[i]);
            ts_proc_wait_ready(procs[i], 30000);
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

/* ---------------- audiences ---------------- */

/* The reference walkthrough (000): contacts, an audience, a member. */
START_TEST(test_reference_walkthrough)
{
    struct ts_http_res r;
    char audience[64], cid[64], path[160], body[256];

    ck_assert_int_eq(
        api(&r, "POST", "/v1/contacts/bulk", g_key,
            "{\"contacts\":[{\"name\":\"Priya Sharma\",\"phoneNumber\":\"+919876543210\","
            "\"language\":\"hi-IN\",\"metadata\":{\"city\":\"Mumbai\",\"tier\":\"premium\"}},"
            "{\"name\":\"Ravi Kumar\",\"phoneNumber\":\"+919123456789\",\"language\":\"en-IN\"}]}"),
        200);
    snprintf(cid, sizeof cid, "%s", jstr(json_array_get(json_object_get(r.json, "contacts"), 0), "id"));
    ts_http_res_free(&r);

    ck_assert_int_eq(api(&r, "POST", "/v1/audiences", g_key,
                         "{\"name\":\"Mumbai Premium Customers\","
                         "\"description\":\"Hindi-speaking premium tier in Mumbai\"}"),
                     201);
    ck_assert_msg(strncmp(jstr(r.json, "id"), "aud_", 4) == 0, "id in %s", r.body);
    ck_assert_str_eq(jstr(r.json, "name"), "Mumbai Premium Customers");
    ck_assert_str_eq(jstr(r.json, "description"), "Hindi-speaking premium tier in Mumbai");
    ck_assert_int_eq(jint(r.json, "contactCount"), 0);
    ck_assert_msg(jstr(r.json, "createdAt") != NULL && jstr(r.json, "updatedAt") != NULL,
                  "timestamps: %s", r.body);
    snprintf(audience, sizeof audience, "%s", jstr(r.json, "id"));
    ts_http_res_free(&r);

    snprintf(path, sizeof path, "/v1/audiences/%s/contacts", audience);
    snprintf(body, sizeof body, "{\"contactIds\":[\"%s\"]}", cid);
    ck_assert_int_eq(api(&r, "POST", path, g_key, body), 200);
    ck_assert_int_eq(jint(r.json, "added"), 1);
    ck_assert_int_eq(jint(r.json, "alreadyMembers"), 0);
    ck_assert_uint_eq(json_array_size(json_object_get(r.json, "notFound")), 0);
    ck_assert_int_eq(jint(r.json, "contactCount"), 1);
    ts_http_res_free(&r);
    ck_assert_int_eq(contact_count(g_key, audience), 1);

    /* Idempotent. */
    ck_assert_int_eq(api(&r, "POST", path, g_key, body), 200);
    ck_assert_int_eq(jint(r.json, "added"), 0);
    ck_assert_int_eq(jint(r.json, "alreadyMembers"), 1);
    ts_http_res_free(&r);

    /* Members are contact objects. */
    ck_assert_int_eq(api(&r, "GET", path, g_key, NULL), 200);
    ck_assert_int_eq(jint(r.json, "total"), 1);
    ck_assert_int_eq(jint(r.json, "page"), 1);
    ck_assert_int_eq(jint(r.json, "limit"), 20);
    json_t *m = json_array_get(json_object_get(r.json, "data"), 0);
    ck_assert_str_eq(jstr(m, "id"), cid);
    ck_assert_str_eq(jstr(m, "phoneNumber"), "+919876543210");
    ck_assert_str_eq(jstr(json_object_get(m, "metadata"), "city"), "Mumbai");
    ts_http_res_free(&r);

    /* Deleting the contact updates the count. */
    snprintf(path, sizeof path, "/v1/contacts/%s", cid);
    ck_assert_int_eq(api(&r, "DELETE", path, g_key, NULL), 200);
    ts_http_res_free(&r);
    ck_assert_int_eq(contact_count(g_key, audience), 0);
}
END_TEST

START_TEST(test_members_remove_and_not_found)
{
    struct ts_http_res r;
    char audience[64], c1[64], c2[64], path[160], body[512];

    create_audience(g_key, "Removals", audience, sizeof audience);
    create_contact(g_key, "One", "+14155556001", c1, sizeof c1);
    create_contact(g_key, "Two", "+14155556002", c2, sizeof c2);
    snprintf(path, sizeof path, "/v1/audiences/%s/contacts", audience);
    snprintf(body, sizeof body, "{\"contactIds\":[\"%s\",\"cid_unknown\",\"%s\",\"bogus\"]}", c1,
             c2);
    ck_assert_int_eq(api(&r, "POST", path, g_key, body), 200);
    ck_assert_int_eq(jint(r.json, "added"), 2);
    json_t *nf = json_object_get(r.json, "notFound");
    ck_assert_uint_eq(json_array_size(nf), 2);
    ck_assert_str_eq(json_string_value(json_array_get(nf, 0)), "cid_unknown");
    ck_assert_str_eq(json_string_value(json_array_get(nf, 1)), "bogus");
    ts_http_res_free(&r);

    snprintf(body, sizeof body, "{\"contactIds\":[\"%s\",\"cid_unknown\"]}", c1);
    ck_assert_int_eq(api(&r, "DELETE", path, g_key, body), 200);
    ck_assert_int_eq(jint(r.json, "removed"), 1);
    ck_assert_int_eq(jint(r.json, "notMembers"), 0);
    ck_assert_uint_eq(json_array_size(json_object_get(r.json, "notFound")), 1);
    ck_assert_int_eq(jint(r.json, "contactCount"), 1);
    ts_http_res_free(&r);
    /* The POST alias for clients that cannot send a DELETE body. */
    snprintf(path, sizeof path, "/v1/audiences/%s/contacts/remove", audience);
    ck_assert_int_eq(api(&r, "POST", path, g_key, body), 200);
    ck_assert_int_eq(jint(r.json, "removed"), 0);
    ck_assert_int_eq(jint(r.json, "notMembers"), 1);
    ts_http_res_free(&r);
    ck_assert_int_eq(contact_count(g_key, audience), 1);
}
END_TEST

START_TEST(test_list_search_paging)
{
    struct ts_http_res r;
    char org[64], key[160], id[64];
    const char *names[] = {"Mumbai Premium", "Delhi Leads", "Pune 50% Off"};

    ts_org_create(g_db, "Audience List Org", "enterprise", org, sizeof org, key, sizeof key);
    for (int i = 0; i < 3; i++)
        create_audience(key, names[i], id, sizeof id);
    ck_assert_int_eq(api(&r, "GET", "/v1/audiences?limit=2", key, NULL), 200);
    ck_assert_int_eq(jint(r.json, "total"), 3);
    ck_assert_int_eq(jint(r.json, "page"), 1);
    ck_assert_int_eq(jint(r.json, "limit"), 2);
    ck_assert_uint_eq(json_array_size(json_object_get(r.json, "data")), 2);
    /* Newest first. */
    ck_assert_str_eq(jstr(json_array_get(json_object_get(r.json, "data"), 0), "name"),
                     "Pune 50% Off");
    ts_http_res_free(&r);
    ck_assert_int_eq(api(&r, "GET", "/v1/audiences?limit=2&page=2", key, NULL), 200);
    ck_assert_uint_eq(json_array_size(json_object_get(r.json, "data")), 1);
    ck_assert_str_eq(jstr(json_array_get(json_object_get(r.json, "data"), 0), "name"),
                     "Mumbai Premium");
    ts_http_res_free(&r);
    ck_assert_int_eq(api(&r, "GET", "/v1/audiences", key, NULL), 200);
    ck_assert_int_eq(jint(r.json, "limit"), 20);
    ts_http_res_free(&r);
    ck_assert_int_eq(api(&r, "GET", "/v1/audiences?search=mumbai", key, NULL), 200);
    ck_assert_int_eq(jint(r.json, "total"), 1);
    ts_http_res_free(&r);
    ck_assert_int_eq(api(&r, "GET", "/v1/audiences?search=50%25", key, NULL), 200);
    ck_assert_int_eq(jint(r.json, "total"), 1);
    ts_http_res_free(&r);
    expect_error("GET", "/v1/audiences?limit=101", key, NULL, 400, "limit");
    expect_error("GET", "/v1/audiences?page=0", key, NULL, 400, "page");
    expect_error("GET", "/v1/audiences?limit=abc", key, NULL, 400, "limit");

    /* PATCH and DELETE. */
    char path[128];
    snprintf(path, sizeof path, "/v1/audiences/%s", id);
    ck_assert_int_eq(api(&r, "PATCH", path, key, "{\"name\":\"Pune\",\"description\":\"d\"}"),
                     200);
    ck_assert_str_eq(jstr(r.json, "name"), "Pune");
    ck_assert_str_eq(jstr(r.json, "description"), "d");
    ts_http_res_free(&r);
    ck_assert_int_eq(api(&r, "PATCH", path, key, "{\"description\":null}"), 200);
    ck_assert_str_eq(jstr(r.json, "name"), "Pune");
    ck_assert(json_is_null(json_object_get(r.json, "description")));
    ts_http_res_free(&r);
    ck_assert_int_eq(api(&r, "DELETE", path, key, NULL), 200);
    ck_assert(json_is_true(json_object_get(r.json, "deleted")));
    ts_http_res_free(&r);
    expect_error("GET", path, key, NULL, 404, "audience not found");
    ck_assert_int_eq(count_for("audiences", org), 2);
}
END_TEST

START_TEST(test_audience_bad_input_writes_nothing)
{
    char audience[64], path[128], org[64], key[160];
    long long before;

    ts_org_create(g_db, "Audience Bad Input Org", "enterprise", org, sizeof org, key, sizeof key);
    create_audience(key, "Target", audience, sizeof audience);
    before = count_for("audiences", org);
    expect_error("POST", "/v1/audiences", key, "{}", 400, "name is required");
    expect_error("POST", "/v1/audiences", key, "{\"name\":5}", 400, "name must be a string");
    expect_error("POST", "/v1/audiences", key, "{\"name\":\"\"}", 400, "name");
    expect_error("POST", "/v1/audiences", key, "{\"name\":\"x\",\"description\":3}", 400,
                 "description must be a string");
    expect_error("POST", "/v1/audiences", key, "{\"name\":", 400, NULL);
    expect_error("POST", "/v1/audiences", key, "[]", 400, NULL);
    ck_assert_int_eq(count_for("audiences", org), before);

    snprintf(path, sizeof path, "/v1/audiences/%s", audience);
    expect_error("PATCH", path, key, "{\"name\":null}", 400, "name must be a string");
    expect_error("PATCH", path, key, "{\"name\":\"\"}", 400, "name");
    ck_assert_int_eq(db_count("SELECT count(*) FROM contacts.audiences WHERE name = 'Target'"),
                     1);

    snprintf(path, sizeof path, "/v1/audiences/%s/contacts", audience);
    expect_error("POST", path, key, "{}", 400, "contactIds is required");
    expect_error("POST", path, key, "{\"contactIds\":\"cid_1\"}", 400,
                 "contactIds must be an array");
    expect_error("POST", path, key, "{\"contactIds\":[]}", 400, "contactIds must not be empty");
    expect_error("POST", path, key, "{\"contactIds\":[\"cid_1\",7]}", 400,
                 "contactIds[1] must be a string");
    expect_error("DELETE", path, key, "{\"contactIds\":[null]}", 400,
                 "contactIds[0] must be a string");
    /* 10,001 ids of a real contact: refused whole. */
    char cid[64];
    create_contact(key, "Real", "+14155556101", cid, sizeof cid);
    size_t cap = 10001 * 40 + 32, len = 0;
    char *body = malloc(cap);
    ck_assert_ptr_nonnull(body);
    len += (size_t)sprintf(body, "{\"contactIds\":[");
    for (int i = 0; i < 10001; i++)
        len += (size_t)sprintf(body + len, "%s\"%s\"", i ? "," : "", cid);
    sprintf(body + len, "]}");
    expect_error("POST", path, key, body, 400, "at most 10000");
    free(body);
    ck_assert_int_eq(count_for("audience_members", org), 0);
    ck_assert_int_eq(contact_count(key, audience), 0);
    expect_error("GET", "/v1/audiences/aud_nope/contacts?limit=0", key, NULL, 400, "limit");
}
END_TEST

/* ---------------- do-not-call ---------------- */

/* Issue 14: a body with two problems lists both in details, on every route family here. */
static void expect_two_problems(const char *method, const char *path, const char *key,
                                const char *body, const char *f0, const char *f1)
{
    struct ts_http_res r;
    api(&r, method, path, key, body);
    assert_error(&r, 400, NULL);
    const json_t *d = json_object_get(r.json, "details");
    ck_assert_msg(json_array_size(d) == 2, "%s %s: details %s", method, path, r.body);
    ck_assert_str_eq(jstr(json_array_get(d, 0), "field"), f0);
    ck_assert_str_eq(jstr(json_array_get(d, 1), "field"), f1);
    ts_http_res_free(&r);
}

START_TEST(test_every_problem_in_details)
{
    char audience[64], path[128], org[64], key[160];

    ts_org_create(g_db, "Details Org", "enterprise", org, sizeof org, key, sizeof key);
    create_audience(key, "Details", audience, sizeof audience);
    expect_two_problems("POST", "/v1/audiences", key, "{\"description\":3}", "name",
                        "description");
    snprintf(path, sizeof path, "/v1/audiences/%s", audience);
    expect_two_problems("PATCH", path, key, "{\"name\":null,\"description\":[]}", "name",
                        "description");
    snprintf(path, sizeof path, "/v1/audiences/%s/contacts", audience);
    expect_two_problems("POST", path, key, "{\"contactIds\":[1,\"cid_x\",{}]}",
                        "contactIds[0]", "contactIds[2]");
    expect_two_problems("POST", "/v1/dnc", key, "{\"phoneNumber\":5,\"reason\":[]}",
                        "phoneNumber", "reason");
    expect_two_problems("POST", "/v1/contacts", key, "{\"name\":5,\"phoneNumber\":[]}", "name",
                        "phoneNumber");
    /* whole-body errors of the bulk routes: one problem, with its field */
    struct ts_http_res r;
    api(&r, "POST", "/v1/dnc/bulk", key, "{\"entries\":{}}");
    assert_error(&r, 400, "entries must be an array");
    ck_assert_str_eq(jstr(json_array_get(json_object_get(r.json, "details"), 0), "field"),
                     "entries");
    ts_http_res_free(&r);
    api(&r, "POST", "/v1/contacts/bulk", key, "{\"contacts\":7}");
    assert_error(&r, 400, "contacts must be an array");
    ck_assert_str_eq(jstr(json_array_get(json_object_get(r.json, "details"), 0), "field"),
                     "contacts");
    ts_http_res_free(&r);
    /* a 400 from a service (RPC INVALID) carries details too: the body as a whole */
    api(&r, "POST", "/v1/audiences", key, "{\"name\":\"\"}");
    assert_error(&r, 400, "name");
    ck_assert_str_eq(jstr(json_array_get(json_object_get(r.json, "details"), 0), "field"), "");
    ts_http_res_free(&r);
}
END_TEST

START_TEST(test_dnc_both_path_families)
{
    struct ts_http_res r;
    char org[64], key[160], id[64], path[128];

    ts_org_create(g_db, "DNC Org", "enterprise", org, sizeof org, key, sizeof key);
    ck_assert_int_eq(api(&r, "POST", "/api/campaigns/dnc", key,
                         "{\"phoneNumber\":\"+919876543210\",\"reason\":\"Customer email "
                         "opt-out\",\"source\":\"manual\"}"),
                     201);
    ck_assert_msg(strncmp(jstr(r.json, "id"), "dnc_", 4) == 0, "id in %s", r.body);
    ck_assert_str_eq(jstr(r.json, "phoneNumber"), "+919876543210");
    ck_assert_str_eq(jstr(r.json, "reason"), "Customer email opt-out");
    ck_assert_str_eq(jstr(r.json, "source"), "manual");
    ck_assert_msg(jstr(r.json, "createdAt") != NULL, "createdAt: %s", r.body);
    snprintf(id, sizeof id, "%s", jstr(r.json, "id"));
    ts_http_res_free(&r);

    /* The same list under /v1/dnc. */
    ck_assert_int_eq(api(&r, "GET", "/v1/dnc", key, NULL), 200);
    ck_assert_int_eq(jint(r.json, "total"), 1);
    ck_assert_str_eq(jstr(json_array_get(json_object_get(r.json, "data"), 0), "id"), id);
    ts_http_res_free(&r);
    ck_assert_int_eq(api(&r, "POST", "/v1/dnc", key, "{\"phoneNumber\":\"+919876543211\"}"), 201);
    ck_assert(json_is_null(json_object_get(r.json, "reason")));
    ck_assert_str_eq(jstr(r.json, "source"), "manual");
    ts_http_res_free(&r);
    ck_assert_int_eq(api(&r, "GET", "/api/campaigns/dnc?search=opt-out", key, NULL), 200);
    ck_assert_int_eq(jint(r.json, "total"), 1);
    ts_http_res_free(&r);
    ck_assert_int_eq(api(&r, "GET", "/api/campaigns/dnc?search=%2B91987654321&limit=1", key,
                         NULL),
                     200);
    ck_assert_int_eq(jint(r.json, "total"), 2);
    ck_assert_uint_eq(json_array_size(json_object_get(r.json, "data")), 1);
    ts_http_res_free(&r);

    /* Conflicts and bad input write nothing. */
    expect_error("POST", "/api/campaigns/dnc", key, "{\"phoneNumber\":\"+919876543210\"}", 409,
                 "already");
    expect_error("POST", "/v1/dnc", key, "{\"phoneNumber\":\"+91 98765 43210\"}", 400, "E.164");
    expect_error("POST", "/v1/dnc", key, "{}", 400, "phoneNumber is required");
    expect_error("POST", "/v1/dnc", key, "{\"phoneNumber\":919876543210}", 400,
                 "phoneNumber must be a string");
    expect_error("POST", "/v1/dnc", key, "{\"phoneNumber\":\"+14155550100\",\"reason\":[]}", 400,
                 "reason must be a string");
    expect_error("GET", "/v1/dnc?limit=500", key, NULL, 400, "limit");
    ck_assert_int_eq(count_for("dnc_entries", org), 2);

    /* Delete under one family; the other then says 404. */
    snprintf(path, sizeof path, "/v1/dnc/%s", id);
    ck_assert_int_eq(api(&r, "DELETE", path, key, NULL), 200);
    ck_assert(json_is_true(json_object_get(r.json, "deleted")));
    ts_http_res_free(&r);
    snprintf(path, sizeof path, "/api/campaigns/dnc/%s", id);
    expect_error("DELETE", path, key, NULL, 404, "not found");
    ck_assert_int_eq(count_for("dnc_entries", org), 1);
}
END_TEST

START_TEST(test_dnc_bulk_duplicates_and_invalid_rows)
{
    struct ts_http_res r;
    char org[64], key[160];

    ts_org_create(g_db, "DNC Bulk Org", "enterprise", org, sizeof org, key, sizeof key);
    ck_assert_int_eq(api(&r, "POST", "/api/campaigns/dnc", key,
                         "{\"phoneNumber\":\"+14155557000\"}"),
                     201);
    ts_http_res_free(&r);
    /* The reference body, plus a repeat, an existing number and bad rows. */
    ck_assert_int_eq(
        api(&r, "POST", "/api/campaigns/dnc/bulk", key,
            "{\"entries\":["
            "{\"phoneNumber\":\"+919876543210\",\"source\":\"imported\"},"
            "{\"phoneNumber\":\"+919876543211\",\"source\":\"imported\"},"
            "{\"phoneNumber\":\"+919876543210\",\"source\":\"imported\"},"
            "{\"phoneNumber\":\"+14155557000\"},"
            "{\"phoneNumber\":\"12345\"},"
            "{\"phoneNumber\":5},"
            "\"text\"]}"),
        200);
    ck_assert_int_eq(jint(r.json, "inserted"), 2);
    ck_assert_int_eq(jint(r.json, "duplicates"), 2);
    ck_assert_int_eq(jint(r.json, "failed"), 3);
    json_t *errors = json_object_get(r.json, "errors");
    ck_assert_uint_eq(json_array_size(errors), 3);
    ck_assert_int_eq(jint(json_array_get(errors, 0), "index"), 4);
    ck_assert_str_eq(jstr(json_array_get(errors, 0), "phoneNumber"), "12345");
    ck_assert_msg(strstr(jstr(json_array_get(errors, 0), "reason"), "E.164") != NULL, "%s",
                  r.body);
    ck_assert_int_eq(jint(json_array_get(errors, 1), "index"), 5);
    ck_assert_str_eq(jstr(json_array_get(errors, 1), "reason"),
                     "entries[5].phoneNumber must be a string");
    ck_assert_int_eq(jint(json_array_get(errors, 2), "index"), 6);
    ts_http_res_free(&r);
    ck_assert_int_eq(count_for("dnc_entries", org), 3);

    /* The same call again through /v1: everything is a duplicate now. */
    ck_assert_int_eq(api(&r, "POST", "/v1/dnc/bulk", key,
                         "{\"entries\":[{\"phoneNumber\":\"+919876543210\"},"
                         "{\"phoneNumber\":\"+919876543211\"}]}"),
                     200);
    ck_assert_int_eq(jint(r.json, "inserted"), 0);
    ck_assert_int_eq(jint(r.json, "duplicates"), 2);
    ts_http_res_free(&r);

    expect_error("POST", "/v1/dnc/bulk", key, "{}", 400, "entries is required");
    expect_error("POST", "/v1/dnc/bulk", key, "{\"entries\":{}}", 400, "entries must be an array");
    expect_error("POST", "/api/campaigns/dnc/bulk", key, "{\"entries\":[]}", 400,
                 "entries must not be empty");
    expect_error("POST", "/api/campaigns/dnc/bulk", key, "{\"entries\":[", 400, NULL);
    ck_assert_int_eq(count_for("dnc_entries", org), 3);
}
END_TEST

START_TEST(test_dnc_bulk_limit)
{
    struct ts_http_res r;
    char org[64], key[160];
    char *body;

    ts_org_create(g_db, "DNC Limit Org", "enterprise", org, sizeof org, key, sizeof key);
    body = dnc_bulk_body(50001, 650, 0);
    expect_error("POST", "/api/campaigns/dnc/bulk", key, body, 400, "at most 50000");
    free(body);
    ck_assert_int_eq(count_for("dnc_entries", org), 0);

    /* 50,000 in one call; rows 10, 20, ... 49990 repeat their neighbour (4,999 repeats). */
    body = dnc_bulk_body(50000, 651, 10);
    int64_t started = ts_now_ms();
    ck_assert_int_eq(api(&r, "POST", "/v1/dnc/bulk", key, body), 200);
    fprintf(stderr, "[e2e] 50,000 DNC entries in one call: %lld ms\n",
            (long long)(ts_now_ms() - started));
    ck_assert_int_eq(jint(r.json, "inserted"), 45001);
    ck_assert_int_eq(jint(r.json, "duplicates"), 4999);
    ck_assert_int_eq(jint(r.json, "failed"), 0);
    ts_http_res_free(&r);
    free(body);
    ck_assert_int_eq(count_for("dnc_entries", org), 45001);
}
END_TEST

/* ---------------- organizations and scopes ---------------- */

START_TEST(test_other_org_ids_are_404)
{
    struct ts_http_res r;
    char audience[64], cid[64], dnc_id[64], own[64], path[192], body[256];

    create_audience(g_key, "Private", audience, sizeof audience);
    create_contact(g_key, "Private Contact", "+14155558001", cid, sizeof cid);
    snprintf(body, sizeof body, "{\"contactIds\":[\"%s\"]}", cid);
    snprintf(path, sizeof path, "/v1/audiences/%s/contacts", audience);
    ck_assert_int_eq(api(&r, "POST", path, g_key, body), 200);
    ts_http_res_free(&r);
    ck_assert_int_eq(api(&r, "POST", "/v1/dnc", g_key, "{\"phoneNumber\":\"+14155558001\"}"), 201);
    snprintf(dnc_id, sizeof dnc_id, "%s", jstr(r.json, "id"));
    ts_http_res_free(&r);

    /* B, with A's ids, and with malformed ids: 404 everywhere. */
    const char *ids[] = {audience, "aud_", "not-an-id", "aud_x%27%3B"};
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "/v1/audiences/%s", ids[i]);
        expect_error("GET", path, g_key_b, NULL, 404, NULL);
        expect_error("PATCH", path, g_key_b, "{\"name\":\"Mine\"}", 404, NULL);
        expect_error("DELETE", path, g_key_b, NULL, 404, NULL);
        snprintf(path, sizeof path, "/v1/audiences/%s/contacts", ids[i]);
        expect_error("GET", path, g_key_b, NULL, 404, NULL);
        expect_error("POST", path, g_key_b, body, 404, NULL);
        expect_error("DELETE", path, g_key_b, body, 404, NULL);
        snprintf(path, sizeof path, "/v1/audiences/%s/contacts/remove", ids[i]);
        expect_error("POST", path, g_key_b, body, 404, NULL);
    }
    const char *dnc_ids[] = {dnc_id, "dnc_", "bulk", "cid_abc"};
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "/v1/dnc/%s", dnc_ids[i]);
        expect_error("DELETE", path, g_key_b, NULL, 404, NULL);
        snprintf(path, sizeof path, "/api/campaigns/dnc/%s", dnc_ids[i]);
        expect_error("DELETE", path, g_key_b, NULL, 404, NULL);
    }
    /* A's contact in B's own audience: reported, not added. */
    create_audience(g_key_b, "B's", own, sizeof own);
    snprintf(path, sizeof path, "/v1/audiences/%s/contacts", own);
    ck_assert_int_eq(api(&r, "POST", path, g_key_b, body), 200);
    ck_assert_int_eq(jint(r.json, "added"), 0);
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(r.json, "notFound"), 0)),
                     cid);
    ts_http_res_free(&r);
    /* B's lists do not show A's rows. */
    ck_assert_int_eq(api(&r, "GET", "/v1/audiences?search=Private", g_key_b, NULL), 200);
    ck_assert_int_eq(jint(r.json, "total"), 0);
    ts_http_res_free(&r);
    ck_assert_int_eq(api(&r, "GET", "/api/campaigns/dnc?search=14155558001", g_key_b, NULL), 200);
    ck_assert_int_eq(jint(r.json, "total"), 0);
    ts_http_res_free(&r);

    /* Nothing of A's changed. */
    snprintf(path, sizeof path, "/v1/audiences/%s", audience);
    ck_assert_int_eq(api(&r, "GET", path, g_key, NULL), 200);
    ck_assert_str_eq(jstr(r.json, "name"), "Private");
    ck_assert_int_eq(jint(r.json, "contactCount"), 1);
    ts_http_res_free(&r);
    ck_assert_int_eq(count_for("audience_members", g_org_b), 0);
    snprintf(path, sizeof path, "SELECT count(*) FROM contacts.dnc_entries WHERE id = '%s'",
             dnc_id);
    ck_assert_int_eq(db_count(path), 1);
}
END_TEST

START_TEST(test_read_only_key_gets_403)
{
    struct ts_http_res r;
    char audience[64], dnc_id[64], path[192];
    long long audiences, members, dnc;

    create_audience(g_key, "Read Only Target", audience, sizeof audience);
    ck_assert_int_eq(api(&r, "POST", "/v1/dnc", g_key, "{\"phoneNumber\":\"+14155559001\"}"), 201);
    snprintf(dnc_id, sizeof dnc_id, "%s", jstr(r.json, "id"));
    ts_http_res_free(&r);
    audiences = count_for("audiences", g_org);
    members = count_for("audience_members", g_org);
    dnc = count_for("dnc_entries", g_org);

    /* Reads work. */
    ck_assert_int_eq(api(&r, "GET", "/v1/audiences", g_read_key, NULL), 200);
    ts_http_res_free(&r);
    ck_assert_int_eq(api(&r, "GET", "/api/campaigns/dnc", g_read_key, NULL), 200);
    ts_http_res_free(&r);
    snprintf(path, sizeof path, "/v1/audiences/%s/contacts", audience);
    ck_assert_int_eq(api(&r, "GET", path, g_read_key, NULL), 200);
    ts_http_res_free(&r);

    /* Writes do not. */
    expect_error("POST", "/v1/audiences", g_read_key, "{\"name\":\"Nope\"}", 403, NULL);
    snprintf(path, sizeof path, "/v1/audiences/%s", audience);
    expect_error("PATCH", path, g_read_key, "{\"name\":\"Nope\"}", 403, NULL);
    expect_error("DELETE", path, g_read_key, NULL, 403, NULL);
    snprintf(path, sizeof path, "/v1/audiences/%s/contacts", audience);
    expect_error("POST", path, g_read_key, "{\"contactIds\":[\"cid_x\"]}", 403, NULL);
    expect_error("DELETE", path, g_read_key, "{\"contactIds\":[\"cid_x\"]}", 403, NULL);
    const char *prefixes[] = {"/v1/dnc", "/api/campaigns/dnc"};
    for (int i = 0; i < 2; i++) {
        expect_error("POST", prefixes[i], g_read_key, "{\"phoneNumber\":\"+14155559002\"}", 403,
                     NULL);
        snprintf(path, sizeof path, "%s/bulk", prefixes[i]);
        expect_error("POST", path, g_read_key, "{\"entries\":[{\"phoneNumber\":\"+14155559003\"}]}",
                     403, NULL);
        snprintf(path, sizeof path, "%s/%s", prefixes[i], dnc_id);
        expect_error("DELETE", path, g_read_key, NULL, 403, NULL);
    }
    ck_assert_int_eq(count_for("audiences", g_org), audiences);
    ck_assert_int_eq(count_for("audience_members", g_org), members);
    ck_assert_int_eq(count_for("dnc_entries", g_org), dnc);
}
END_TEST

START_TEST(test_clean_shutdown)
{
    ts_proc_stop_ok(g_gateway);
    ts_proc_stop_ok(g_contacts);
}
END_TEST

static Suite *audiences_api_suite(void)
{
    Suite *s = suite_create("audiences-api");
    TCase *tc = tcase_create("http");
    tcase_add_unchecked_fixture(tc, stack_setup, stack_teardown);
    tcase_add_checked_fixture(tc, ensure_stack, NULL);
    tcase_set_timeout(tc, 0);
    tcase_add_test(tc, test_reference_walkthrough);
    tcase_add_test(tc, test_members_remove_and_not_found);
    tcase_add_test(tc, test_list_search_paging);
    tcase_add_test(tc, test_audience_bad_input_writes_nothing);
    tcase_add_test(tc, test_every_problem_in_details);
    tcase_add_test(tc, test_dnc_both_path_families);
    tcase_add_test(tc, test_dnc_bulk_duplicates_and_invalid_rows);
    tcase_add_test(tc, test_dnc_bulk_limit);
    tcase_add_test(tc, test_other_org_ids_are_404);
    tcase_add_test(tc, test_read_only_key_gets_403);
    tcase_add_test(tc, test_clean_shutdown);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr;
    int failed;
    int64_t started = ts_now_ms();

    ts_init("e2e-audiences");
    sr = srunner_create(audiences_api_suite());
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_VERBOSE);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    fprintf(stderr, "[e2e] finished in %.1f s\n", (double)(ts_now_ms() - started) / 1000.0);
    return ts_finish(failed);
}
