/* End-to-end tests of the dialects' rough edges (issue 14): contacts-svc and the gateway on a
 * throwaway database, over HTTP.
 *   - OutboundCalls.ai's snake_case on contact writes (POST and PATCH);
 *   - a PATCH key that means nothing is 400 naming it, with details listing every problem;
 *   - keys outside the contact fields become metadata on every contact write;
 *   - a name that isn't there is null, never "";
 *   - OsmTalk's DNC list takes limit (1-1000) and offset; /v1 keeps page/limit;
 *   - an unknown route and an unknown object are both 404, with different messages;
 *   - GET /v1/openapi.json is served without a key. */
#include <check.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testsupport.h"

static struct ts_db *g_db;
static struct ts_proc *g_contacts, *g_gateway;
static char g_base[64];
static char g_org[64], g_key[160];

static long api(struct ts_http_res *r, const char *method, const char *path, const char *body)
{
    char url[2048], auth[256];
    const char *headers[] = {auth, "Content-Type: application/json", NULL};
    snprintf(auth, sizeof auth, "x-api-key: %s", g_key);
    snprintf(url, sizeof url, "%s%s", g_base, path);
    ts_http(method, url, headers, body, body ? strlen(body) : 0, r);
    ck_assert_msg(r->status > 0, "%s %s: no response", method, path);
    return r->status;
}

static const char *jstr(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

static void stack_setup(void)
{
    char contacts_bin[PATH_MAX], gateway_bin[PATH_MAX];
    char e_db[700], e_rpc[80], e_health[80], e_contacts[80], e_port[40];
    int contacts_rpc = ts_free_port(), http_port = ts_free_port();

    ts_binary("contacts-svc/contacts-svc", contacts_bin, sizeof contacts_bin);
    ts_binary("gateway/gateway", gateway_bin, sizeof gateway_bin);
    g_db = ts_db_create();
    snprintf(e_db, sizeof e_db, "DATABASE_URL=%s", ts_db_url(g_db, "contacts"));
    snprintf(e_rpc, sizeof e_rpc, "RPC_LISTEN=tcp://127.0.0.1:%d", contacts_rpc);
    snprintf(e_health, sizeof e_health, "HEALTH_LISTEN=http://127.0.0.1:%d", ts_free_port());
    const char *contacts_env[] = {e_db, e_rpc, e_health, "RPC_WORKERS=2",
                                  "WEBHOOK_SVC_URL=" /* relay off */, NULL};
    g_contacts = ts_proc_start("contacts-svc", contacts_bin, NULL, contacts_env);

    snprintf(e_db, sizeof e_db, "DATABASE_URL=%s", ts_db_url(g_db, "gateway"));
    snprintf(e_port, sizeof e_port, "HTTP_PORT=%d", http_port);
    snprintf(e_health, sizeof e_health, "HEALTH_LISTEN=http://127.0.0.1:%d", ts_free_port());
    snprintf(e_contacts, sizeof e_contacts, "CONTACTS_SVC_URL=tcp://127.0.0.1:%d", contacts_rpc);
    const char *gateway_env[] = {e_db, "HTTP_BIND=127.0.0.1", e_port, e_health, e_contacts,
                                 "HTTP_THREADS=2", NULL};
    g_gateway = ts_proc_start("gateway", gateway_bin, NULL, gateway_env);
    snprintf(g_base, sizeof g_base, "http://127.0.0.1:%d", http_port);
    ts_proc_wait_ready(g_contacts, 30000);
    ts_proc_wait_ready(g_gateway, 30000);
    ts_org_create(g_db, "Dialects Org", "enterprise", g_org, sizeof g_org, g_key, sizeof g_key);
    ts_wait_gateway_routes(g_base, g_key, ts_contacts_svc_routes, 15000);
}

static void stack_teardown(void)
{
    ts_proc_free(g_gateway);
    ts_proc_free(g_contacts);
    g_gateway = g_contacts = NULL;
    ts_db_drop(g_db);
    g_db = NULL;
}

START_TEST(test_snake_case_contact_writes)
{
    struct ts_http_res r;
    char path[128];

    /* it was 400 "phoneNumber is required" */
    ck_assert_int_eq(api(&r, "POST", "/v1/contacts",
                         "{\"name\":\"Asha\",\"phone_number\":\"+14155550300\",\"city\":\"Pune\"}"),
                     201);
    ck_assert_str_eq(jstr(r.json, "phoneNumber"), "+14155550300");
    ck_assert_str_eq(jstr(json_object_get(r.json, "metadata"), "city"), "Pune");
    snprintf(path, sizeof path, "/v1/contacts/%s", jstr(r.json, "id"));
    ts_http_res_free(&r);

    /* it was 200 and changed nothing */
    ck_assert_int_eq(api(&r, "PATCH", path, "{\"phone_number\":\"+14155550301\"}"), 200);
    ck_assert_str_eq(jstr(r.json, "phoneNumber"), "+14155550301");
    ts_http_res_free(&r);

    /* a key that means nothing is 400 naming it; details lists every problem */
    ck_assert_int_eq(api(&r, "PATCH", path, "{\"phonenumber\":\"+1\",\"name\":5}"), 400);
    ck_assert_str_eq(jstr(r.json, "message"), "phonenumber is not a field of a contact update");
    ck_assert_uint_eq(json_array_size(json_object_get(r.json, "details")), 2);
    ck_assert_str_eq(jstr(json_array_get(json_object_get(r.json, "details"), 1), "field"),
                     "name");
    ts_http_res_free(&r);

    /* bulk rows in snake_case, with extra keys as metadata (the jansson path) */
    ck_assert_int_eq(api(&r, "POST", "/v1/contacts/bulk",
                         "{\"contacts\":[{\"name\":\"Bo\",\"phone\":\"+14155550302\",\"tier\":\"gold\"}]}"),
                     200);
    ck_assert_int_eq(json_integer_value(json_object_get(r.json, "created")), 1);
    ts_http_res_free(&r);
}
END_TEST

START_TEST(test_missing_name_is_null)
{
    struct ts_http_res r;
    char path[128];
    ck_assert_int_eq(api(&r, "POST", "/v1/contacts", "{\"phoneNumber\":\"+14155550310\"}"), 201);
    ck_assert(json_is_null(json_object_get(r.json, "name")));
    snprintf(path, sizeof path, "/v1/contacts/%s", jstr(r.json, "id"));
    ts_http_res_free(&r);
    ck_assert_int_eq(api(&r, "PATCH", path, "{\"name\":\"Named\"}"), 200);
    ck_assert_str_eq(jstr(r.json, "name"), "Named");
    ts_http_res_free(&r);
    ck_assert_int_eq(api(&r, "PATCH", path, "{\"name\":null}"), 200);
    ck_assert(json_is_null(json_object_get(r.json, "name")));
    ts_http_res_free(&r);
}
END_TEST

START_TEST(test_osmtalk_dnc_list_limit_offset)
{
    struct ts_http_res r;
    char body[8192];
    size_t len = (size_t)snprintf(body, sizeof body, "{\"entries\":[");
    for (int i = 0; i < 150; i++)
        len += (size_t)snprintf(body + len, sizeof body - len, "%s{\"phoneNumber\":\"+1415555%04d\"}",
                                i ? "," : "", i);
    snprintf(body + len, sizeof body - len, "]}");
    ck_assert_int_eq(api(&r, "POST", "/api/campaigns/dnc/bulk", body), 200);
    ts_http_res_free(&r);

    /* it was 400 (max 100) */
    ck_assert_int_eq(api(&r, "GET", "/api/campaigns/dnc?limit=1000", NULL), 200);
    ck_assert_uint_eq(json_array_size(json_object_get(r.json, "data")), 150);
    ck_assert_int_eq(json_integer_value(json_object_get(r.json, "total")), 150);
    ck_assert_int_eq(json_integer_value(json_object_get(r.json, "limit")), 1000);
    json_t *all = json_incref(json_object_get(r.json, "data"));
    ts_http_res_free(&r);

    /* offset is honoured (it returned page 1 again), across the service's 100-row pages */
    ck_assert_int_eq(api(&r, "GET", "/api/campaigns/dnc?limit=30&offset=90", NULL), 200);
    ck_assert_uint_eq(json_array_size(json_object_get(r.json, "data")), 30);
    ck_assert_int_eq(json_integer_value(json_object_get(r.json, "offset")), 90);
    for (size_t i = 0; i < 30; i++)
        ck_assert_str_eq(jstr(json_array_get(json_object_get(r.json, "data"), i), "id"),
                         jstr(json_array_get(all, 90 + i), "id"));
    ts_http_res_free(&r);
    json_decref(all);

    ck_assert_int_eq(api(&r, "GET", "/api/campaigns/dnc", NULL), 200); /* default 200 */
    ck_assert_int_eq(json_integer_value(json_object_get(r.json, "limit")), 200);
    ts_http_res_free(&r);
    ck_assert_int_eq(api(&r, "GET", "/api/campaigns/dnc?limit=1001", NULL), 400);
    ts_http_res_free(&r);
    /* /v1 keeps page and limit */
    ck_assert_int_eq(api(&r, "GET", "/v1/dnc?limit=500", NULL), 400);
    ts_http_res_free(&r);
    ck_assert_int_eq(api(&r, "GET", "/v1/dnc?page=2&limit=100", NULL), 200);
    ck_assert_int_eq(json_integer_value(json_object_get(r.json, "page")), 2);
    ck_assert_uint_eq(json_array_size(json_object_get(r.json, "data")), 50);
    ts_http_res_free(&r);
}
END_TEST

START_TEST(test_unknown_route_and_unknown_object)
{
    struct ts_http_res r;
    ck_assert_int_eq(api(&r, "GET", "/v1/nothing", NULL), 404);
    ck_assert_str_eq(jstr(r.json, "message"), "Cannot GET /v1/nothing");
    ts_http_res_free(&r);
    ck_assert_int_eq(api(&r, "GET", "/v1/contacts/cid_0000000000000000000000", NULL), 404);
    ck_assert_str_eq(jstr(r.json, "message"), "contact not found");
    ts_http_res_free(&r);
}
END_TEST

START_TEST(test_openapi_document_is_public)
{
    struct ts_http_res r;
    char url[128];
    snprintf(url, sizeof url, "%s/v1/openapi.json", g_base);
    ck_assert_int_eq(ts_http("GET", url, NULL, NULL, 0, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(r.json);
    ck_assert_str_eq(jstr(r.json, "openapi"), "3.1.0");
    ck_assert_ptr_nonnull(json_object_get(json_object_get(r.json, "paths"), "/api/campaigns/dnc"));
    ts_http_res_free(&r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("dialects");
    TCase *tc = tcase_create("http");
    SRunner *sr;
    int failed;

    ts_init("e2e-dialects");
    tcase_add_unchecked_fixture(tc, stack_setup, stack_teardown);
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_snake_case_contact_writes);
    tcase_add_test(tc, test_missing_name_is_null);
    tcase_add_test(tc, test_osmtalk_dnc_list_limit_offset);
    tcase_add_test(tc, test_unknown_route_and_unknown_object);
    tcase_add_test(tc, test_openapi_document_is_public);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_VERBOSE);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return ts_finish(failed);
}
