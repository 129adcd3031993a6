/* End-to-end tests of the webhooks API: gateway, contacts-svc (with its outbox relay) and
 * webhook-svc on a throwaway database, driven over HTTP, delivering to a receiver inside this
 * test binary that checks every signature. */
#include <check.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "receiver.h"
#include "testsupport.h"

static struct ts_db *g_db;
static struct ts_proc *g_contacts, *g_webhook, *g_gateway;
static struct receiver *g_recv;
static char g_gateway_bin[PATH_MAX];
static char g_base[64];
static char g_org_a[64], g_key_a[160], g_org_b[64], g_key_b[160];

/* ---------------- helpers ---------------- */



static long api(struct ts_http_res *r, const char *method, const char *path, const char *key,
                const char *body)
{
    char url[1024], auth[256];
    const char *headers[] = {auth, "Content-Type: application/json", NULL};
    snprintf(auth, sizeof auth, "x-api-key: %s", key);
    snprintf(url, sizeof url, "%s%s", g_base, path);
    ts_http(method, url, headers, body, body ? strlen(body) : 0, r);
    return r->status;
}

static const char *jstr(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

static void expect(struct ts_http_res *r, long status)
{
    ck_assert_msg(r->status == status, "expected %ld, got %ld: %s", status, r->status, r->body);
}

/* POST /v1/webhooks for the receiver's path; fills id and secret. */
static void register_endpoint(const char *key, const char *path, const char *events_json,
                              char *id, size_t id_size, char *secret, size_t secret_size)
{
    struct ts_http_res r;
    char url[128], body[512];
    receiver_url(g_recv, path, url, sizeof url);
    snprintf(body, sizeof body, "{\"url\":\"%s\",\"events\":%s,\"description\":\"e2e\"}", url,
             events_json);
    api(&r, "POST", "/v1/webhooks", key, body);
    expect(&r, 201);
    ck_assert_int_eq(strncmp(jstr(r.json, "id"), "wh_", 3), 0);
    ck_assert_int_eq(strncmp(jstr(r.json, "secret"), "whsec_", 6), 0);
    ck_assert(json_is_true(json_object_get(r.json, "enabled")));
    ck_assert_str_eq(jstr(r.json, "url"), url);
    ck_assert_ptr_nonnull(jstr(r.json, "createdAt"));
    snprintf(id, id_size, "%s", jstr(r.json, "id"));
    snprintf(secret, secret_size, "%s", jstr(r.json, "secret"));
    ts_http_res_free(&r);
}

/* ---------------- fixture ---------------- */

static void stack_setup(void)
{
    char contacts_bin[PATH_MAX], webhook_bin[PATH_MAX];
    char c_db[700], c_rpc[80], c_health[80], c_wh[80];
    char w_db[700], w_rpc[80], w_health[80];
    char g_db_env[700], g_port[40], g_health[80], g_contacts_url[80], g_wh[80];
    int contacts_rpc = ts_free_port(), webhook_rpc = ts_free_port(), http_port = ts_free_port();

    ts_binary("contacts-svc/contacts-svc", contacts_bin, sizeof contacts_bin);
    ts_binary("webhook-svc/webhook-svc", webhook_bin, sizeof webhook_bin);
    ts_binary("gateway/gateway", g_gateway_bin, sizeof g_gateway_bin);
    g_db = ts_db_create();
    g_recv = receiver_start(0);
    ck_assert_ptr_nonnull(g_recv);

    snprintf(w_db, sizeof w_db, "DATABASE_URL=%s", ts_db_url(g_db, "webhook"));
    snprintf(w_rpc, sizeof w_rpc, "RPC_LISTEN=tcp://127.0.0.1:%d", webhook_rpc);
    snprintf(w_health, sizeof w_health, "HEALTH_LISTEN=http://127.0.0.1:%d", ts_free_port());
    const char *webhook_env[] = {w_db, w_rpc, w_health, "RPC_WORKERS=2",
                                 "WEBHOOK_ALLOW_CIDRS=127.0.0.0/8",
                                 "WEBHOOK_RETRY_SCHEDULE=0,1,1,1,1", NULL};
    g_webhook = ts_proc_start("webhook-svc", webhook_bin, NULL, webhook_env);

    snprintf(c_db, sizeof c_db, "DATABASE_URL=%s", ts_db_url(g_db, "contacts"));
    snprintf(c_rpc, sizeof c_rpc, "RPC_LISTEN=tcp://127.0.0.1:%d", contacts_rpc);
    snprintf(c_health, sizeof c_health, "HEALTH_LISTEN=http://127.0.0.1:%d", ts_free_port());
    snprintf(c_wh, sizeof c_wh, "WEBHOOK_SVC_URL=tcp://127.0.0.1:%d", webhook_rpc);
    /* The relay's idle poll is a minute: an import.completed that arrives promptly proves the
     * import worker woke the relay after its commit. */
    const char *contacts_env[] = {c_db, c_rpc, c_health, c_wh, "RPC_WORKERS=2",
                                  "IMPORT_POLL_MS=100", "OUTBOX_RELAY_POLL_MS=60000", NULL};
    g_contacts = ts_proc_start("contacts-svc", contacts_bin, NULL, contacts_env);

    snprintf(g_db_env, sizeof g_db_env, "DATABASE_URL=%s", ts_db_url(g_db, "gateway"));
    snprintf(g_port, sizeof g_port, "HTTP_PORT=%d", http_port);
    snprintf(g_health, sizeof g_health, "HEALTH_LISTEN=http://127.0.0.1:%d", ts_free_port());
    snprintf(g_contacts_url, sizeof g_contacts_url, "CONTACTS_SVC_URL=tcp://127.0.0.1:%d",
             contacts_rpc);
    snprintf(g_wh, sizeof g_wh, "WEBHOOK_SVC_URL=tcp://127.0.0.1:%d", webhook_rpc);
    const char *gateway_env[] = {g_db_env, "HTTP_BIND=127.0.0.1", g_port, g_health,
                                 g_contacts_url, g_wh, "HTTP_THREADS=4",
                                 /* an import's webhookUrl is address-checked at submit */
                                 "WEBHOOK_ALLOW_CIDRS=127.0.0.0/8", NULL};
    g_gateway = ts_proc_start("gateway", g_gateway_bin, NULL, gateway_env);
    snprintf(g_base, sizeof g_base, "http://127.0.0.1:%d", http_port);

    ts_proc_wait_ready(g_webhook, 30000);
    ts_proc_wait_ready(g_contacts, 30000);
    ts_proc_wait_ready(g_gateway, 30000);
    ts_org_create(g_db, "Webhook Org A", "enterprise", g_org_a, sizeof g_org_a, g_key_a, sizeof g_key_a);
    ts_org_create(g_db, "Webhook Org B", "enterprise", g_org_b, sizeof g_org_b, g_key_b, sizeof g_key_b);
    static const char *const webhook_routes[] = {"/v1/webhooks", NULL};
    ts_wait_gateway_routes(g_base, g_key_a, ts_contacts_svc_routes, 10000);
    ts_wait_gateway_routes(g_base, g_key_a, webhook_routes, 10000);
}

static void stack_teardown(void)
{
    ts_proc_free(g_gateway);
    ts_proc_free(g_contacts);
    ts_proc_free(g_webhook);
    receiver_stop(g_recv);
    ts_db_drop(g_db);
}

/* ---------------- tests ---------------- */

START_TEST(test_endpoint_lifecycle)
{
    struct ts_http_res r;
    char id[64], secret[128], path[128];
    register_endpoint(g_key_a, "/life", "[\"import.completed\",\"call.completed\"]", id,
                      sizeof id, secret, sizeof secret);

    api(&r, "GET", "/v1/webhooks", g_key_a, NULL);
    expect(&r, 200);
    json_t *data = json_object_get(r.json, "data");
    ck_assert_uint_ge(json_array_size(data), 1);
    bool found = false;
    for (size_t i = 0; i < json_array_size(data); i++) {
        json_t *e = json_array_get(data, i);
        if (strcmp(jstr(e, "id"), id) == 0) {
            found = true;
            ck_assert_ptr_null(json_object_get(e, "secret")); /* shown only at creation */
            ck_assert_uint_eq(json_array_size(json_object_get(e, "events")), 2);
        }
    }
    ck_assert(found);
    ts_http_res_free(&r);

    snprintf(path, sizeof path, "/v1/webhooks/%s", id);
    api(&r, "PATCH", path, g_key_a, "{\"events\":[\"*\"],\"description\":\"changed\",\"enabled\":false}");
    expect(&r, 200);
    ck_assert_str_eq(jstr(r.json, "description"), "changed");
    ck_assert(json_is_false(json_object_get(r.json, "enabled")));
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(r.json, "events"), 0)), "*");
    ts_http_res_free(&r);
    api(&r, "PATCH", path, g_key_a, "{\"enabled\":true}");
    expect(&r, 200);
    ck_assert(json_is_true(json_object_get(r.json, "enabled")));
    ck_assert(json_is_null(json_object_get(r.json, "disabledReason")));
    ts_http_res_free(&r);

    snprintf(path, sizeof path, "/v1/webhooks/%s/rotate-secret", id);
    api(&r, "POST", path, g_key_a, NULL);
    expect(&r, 200);
    ck_assert_int_eq(strncmp(jstr(r.json, "secret"), "whsec_", 6), 0);
    ck_assert_str_ne(jstr(r.json, "secret"), secret);
    ck_assert_ptr_nonnull(jstr(r.json, "previousSecretExpiresAt"));
    ts_http_res_free(&r);

    snprintf(path, sizeof path, "/v1/webhooks/%s", id);
    api(&r, "DELETE", path, g_key_a, NULL);
    expect(&r, 200);
    ts_http_res_free(&r);
    api(&r, "GET", path, g_key_a, NULL);
    expect(&r, 404);
    ts_http_res_free(&r);
}
END_TEST

START_TEST(test_private_urls_are_400)
{
    struct ts_http_res r;
    static const char *const cases[][2] = {
        {"{\"url\":\"http://169.254.169.254/latest/meta-data\",\"events\":[\"*\"]}", "link-local"},
        {"{\"url\":\"http://10.0.0.5/hook\",\"events\":[\"*\"]}", "private"},
        {"{\"url\":\"http://192.168.1.10/hook\",\"events\":[\"*\"]}", "private"},
        {"{\"url\":\"http://[fe80::1]/hook\",\"events\":[\"*\"]}", "link-local"},
        {"{\"url\":\"http://0.0.0.0/hook\",\"events\":[\"*\"]}", "unspecified"},
        {"{\"url\":\"http://224.0.0.1/hook\",\"events\":[\"*\"]}", "multicast"},
        {"{\"events\":[\"*\"]}", "url"},
        {"{\"url\":\"http://127.0.0.1:9/x\",\"events\":[\"nope\"]}", "nope"},
        {"{\"url\":\"http://127.0.0.1:9/x\",\"events\":\"*\"}", "events"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        api(&r, "POST", "/v1/webhooks", g_key_a, cases[i][0]);
        ck_assert_msg(r.status == 400, "%s: %ld %s", cases[i][0], r.status, r.body);
        ck_assert_msg(strstr(jstr(r.json, "message"), cases[i][1]) != NULL,
                      "%s: message %s should name %s", cases[i][0], r.body, cases[i][1]);
        ck_assert_str_eq(jstr(r.json, "error"), "Bad Request");
        /* every 400 lists its problems (issue 14), services' included */
        ck_assert_msg(json_array_size(json_object_get(r.json, "details")) >= 1,
                      "%s: no details in %s", cases[i][0], r.body);
        ts_http_res_free(&r);
    }
    /* Two problems in one body: both listed, the first is the message (issue 14). */
    api(&r, "POST", "/v1/webhooks", g_key_a, "{\"description\":5,\"events\":[\"*\",7]}");
    ck_assert_msg(r.status == 400, "%ld %s", r.status, r.body);
    json_t *d = json_object_get(r.json, "details");
    ck_assert_msg(json_array_size(d) == 3, "details: %s", r.body);
    ck_assert_str_eq(jstr(r.json, "message"), "url is required");
    ck_assert_str_eq(jstr(json_array_get(d, 0), "field"), "url");
    ck_assert_str_eq(jstr(json_array_get(d, 1), "field"), "description");
    ck_assert_str_eq(jstr(json_array_get(d, 2), "field"), "events[1]");
    ts_http_res_free(&r);
}
END_TEST

START_TEST(test_test_event_and_delivery_log)
{
    struct ts_http_res r;
    char id[64], secret[128], path[128], delivery[80];
    receiver_clear(g_recv);
    register_endpoint(g_key_a, "/test-event", "[\"*\"]", id, sizeof id, secret, sizeof secret);
    const char *secrets[] = {secret, NULL};
    receiver_set_secrets(g_recv, secrets);
    snprintf(path, sizeof path, "/v1/webhooks/%s/test", id);
    api(&r, "POST", path, g_key_a, NULL);
    expect(&r, 202);
    ck_assert_str_eq(jstr(r.json, "eventType"), "webhook.test");
    snprintf(delivery, sizeof delivery, "%s", jstr(r.json, "id"));
    ts_http_res_free(&r);
    ck_assert(receiver_wait_delivered(g_recv, 1, 15000));
    ck_assert_uint_eq(receiver_bad_signatures(g_recv), 0);
    struct received rec;
    ck_assert(receiver_get(g_recv, 0, &rec));
    ck_assert_msg(strstr(rec.body, "\"event\":\"webhook.test\"") != NULL, "%s", rec.body);
    receiver_received_free(&rec);

    snprintf(path, sizeof path, "/v1/webhooks/%s/deliveries", id);
    int64_t give_up = ts_now_ms() + 10000;
    for (;;) {
        api(&r, "GET", path, g_key_a, NULL);
        expect(&r, 200);
        json_t *d = json_array_get(json_object_get(r.json, "data"), 0);
        if (d != NULL && strcmp(jstr(d, "status"), "succeeded") == 0) {
            ck_assert_str_eq(jstr(d, "id"), delivery);
            json_t *a = json_array_get(json_object_get(d, "attempts"), 0);
            ck_assert_int_eq(json_integer_value(json_object_get(a, "statusCode")), 200);
            ck_assert(json_is_integer(json_object_get(a, "latencyMs")));
            ck_assert_ptr_nonnull(jstr(a, "attemptedAt"));
            ck_assert(json_is_null(json_object_get(a, "nextRetryAt")));
            ck_assert_int_eq(json_integer_value(json_object_get(r.json, "total")), 1);
            ts_http_res_free(&r);
            break;
        }
        ts_http_res_free(&r);
        ck_assert_msg(ts_now_ms() < give_up, "delivery not logged as succeeded");
        ts_sleep_ms(100);
    }
    /* Manual replay. */
    snprintf(path, sizeof path, "/v1/webhook-deliveries/%s/retry", delivery);
    api(&r, "POST", path, g_key_a, NULL);
    expect(&r, 202);
    ts_http_res_free(&r);
    ck_assert(receiver_wait_delivered(g_recv, 1, 15000));
    give_up = ts_now_ms() + 10000;
    while (receiver_count(g_recv) < 2) {
        ck_assert_msg(ts_now_ms() < give_up, "replay did not arrive");
        ts_sleep_ms(20);
    }
    /* Another organization's key cannot touch it. */
    api(&r, "POST", path, g_key_b, NULL);
    expect(&r, 404);
    ts_http_res_free(&r);
}
END_TEST

START_TEST(test_org_isolation)
{
    struct ts_http_res r;
    char id[64], secret[128], path[128];
    register_endpoint(g_key_a, "/iso", "[\"*\"]", id, sizeof id, secret, sizeof secret);
    static const char *const suffixes[][2] = {
        {"GET", ""}, {"PATCH", ""}, {"DELETE", ""}, {"POST", "/rotate-secret"},
        {"POST", "/test"}, {"GET", "/deliveries"}};
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        snprintf(path, sizeof path, "/v1/webhooks/%s%s", id, suffixes[i][1]);
        api(&r, suffixes[i][0], path, g_key_b,
            strcmp(suffixes[i][0], "PATCH") == 0 ? "{\"description\":\"x\"}" : NULL);
        ck_assert_msg(r.status == 404, "%s %s as org B: %ld %s", suffixes[i][0], path, r.status,
                      r.body);
        ts_http_res_free(&r);
    }
    api(&r, "GET", "/v1/webhooks", g_key_b, NULL);
    expect(&r, 200);
    for (size_t i = 0; i < json_array_size(json_object_get(r.json, "data")); i++)
        ck_assert_str_ne(jstr(json_array_get(json_object_get(r.json, "data"), i), "id"), id);
    ts_http_res_free(&r);
    /* Still there for its owner. */
    snprintf(path, sizeof path, "/v1/webhooks/%s", id);
    api(&r, "GET", path, g_key_a, NULL);
    expect(&r, 200);
    ts_http_res_free(&r);
    api(&r, "DELETE", path, g_key_a, NULL);
    expect(&r, 200);
    ts_http_res_free(&r);
}
END_TEST

START_TEST(test_import_completed_reaches_receiver)
{
    struct ts_http_res r;
    char url[128], body[768], secret[128];
    receiver_clear(g_recv);
    api(&r, "GET", "/v1/webhooks/default-secret", g_key_b, NULL);
    expect(&r, 200);
    snprintf(secret, sizeof secret, "%s", jstr(r.json, "secret"));
    ck_assert_int_eq(strncmp(secret, "whsec_", 6), 0);
    ts_http_res_free(&r);
    api(&r, "GET", "/v1/webhooks/default-secret", g_key_b, NULL);
    ck_assert_str_eq(jstr(r.json, "secret"), secret); /* stable */
    ts_http_res_free(&r);
    const char *secrets[] = {secret, NULL};
    receiver_set_secrets(g_recv, secrets);
    /* A read-only key cannot read it. */
    char read_key[160];
    const char *args[] = {"key-create", g_org_b, "--scope", "read", NULL};
    json_t *j = ts_gateway_cli(g_db, args);
    snprintf(read_key, sizeof read_key, "%s", jstr(j, "apiKey"));
    json_decref(j);
    api(&r, "GET", "/v1/webhooks/default-secret", read_key, NULL);
    expect(&r, 403);
    ts_http_res_free(&r);

    receiver_url(g_recv, "/import-done", url, sizeof url);
    snprintf(body, sizeof body,
             "{\"contacts\":[{\"name\":\"Priya Sharma\",\"phoneNumber\":\"+919876543210\","
             "\"language\":\"hi-IN\",\"city\":\"Mumbai\"},{\"name\":\"Ravi Kumar\","
             "\"phoneNumber\":\"+919123456789\"}],\"webhookUrl\":\"%s\"}", url);
    api(&r, "POST", "/v1/imports/api/bulk", g_key_b, body);
    expect(&r, 202);
    char import_id[80];
    snprintf(import_id, sizeof import_id, "%s", jstr(r.json, "importId"));
    ts_http_res_free(&r);
    ck_assert_msg(receiver_wait_delivered(g_recv, 1, 10000),
                  "import.completed not received within 10 s (the relay was not woken)");
    ck_assert_uint_eq(receiver_bad_signatures(g_recv), 0);
    struct received rec;
    ck_assert(receiver_get(g_recv, 0, &rec));
    ck_assert_str_eq(rec.path, "/import-done");
    json_t *p = json_loads(rec.body, 0, NULL);
    ck_assert_msg(p != NULL, "%s", rec.body);
    ck_assert_str_eq(jstr(p, "event"), "import.completed");
    ck_assert_str_eq(jstr(p, "importId"), import_id);
    ck_assert_str_eq(jstr(p, "status"), "COMPLETED");
    ck_assert_int_eq(json_integer_value(json_object_get(p, "total")), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(p, "created")), 2);
    ck_assert_ptr_nonnull(jstr(p, "completedAt"));
    ck_assert_ptr_nonnull(jstr(p, "timestamp"));
    ck_assert_int_eq(strncmp(rec.id, "evt_", 4), 0);
    json_decref(p);
    receiver_received_free(&rec);
    /* The relay emptied the producer's outbox. */
    int64_t give_up = ts_now_ms() + 5000;
    while (ts_db_scalar(g_db, "SELECT count(*) FROM contacts.outbox") != 0) {
        ck_assert(ts_now_ms() < give_up);
        ts_sleep_ms(50);
    }
}
END_TEST

START_TEST(test_clean_shutdown)
{
    ts_proc_stop_ok(g_gateway);
    ts_proc_stop_ok(g_contacts);
    ts_proc_stop_ok(g_webhook);
}
END_TEST

static Suite *webhooks_suite(void)
{
    Suite *s = suite_create("webhooks_api");
    TCase *tc = tcase_create("http");
    tcase_add_unchecked_fixture(tc, stack_setup, stack_teardown);
    tcase_set_timeout(tc, 0);
    tcase_add_test(tc, test_endpoint_lifecycle);
    tcase_add_test(tc, test_private_urls_are_400);
    tcase_add_test(tc, test_test_event_and_delivery_log);
    tcase_add_test(tc, test_org_isolation);
    tcase_add_test(tc, test_import_completed_reaches_receiver);
    tcase_add_test(tc, test_clean_shutdown);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr;
    int failed;
    ts_init("webhooks-e2e");
    sr = srunner_create(webhooks_suite());
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_VERBOSE);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return ts_finish(failed);
}
