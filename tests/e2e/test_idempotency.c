/* End-to-end tests of Idempotency-Key (gateway/idempotency.c, issue 14): contacts-svc,
 * campaign-svc and the gateway on a throwaway database, over HTTP.
 *   - the same bulk twice with one key happens once, and the second answer is the first one;
 *   - the same key with another body is 422; keys belong to one organization;
 *   - concurrent requests with one key run once, and all get the first answer;
 *   - starting the same campaign twice with one key starts it once;
 *   - a malformed key is 400; requests without a key are untouched. */
#include <check.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "campaigns.pb-c.h"
#include "rpc.h"
#include "testsupport.h"

static struct ts_db *g_db;
static struct ts_proc *g_contacts, *g_campaign, *g_gateway;
static char g_base[64], g_campaign_url[64];
static char g_org[64], g_key[160];     /* organization A, granted credits */
static char g_org_b[64], g_key_b[160]; /* organization B */

/* ---------------- helpers ---------------- */

/* POST/GET with an optional Idempotency-Key (NULL: none). */
static long api_keyed(struct ts_http_res *r, const char *method, const char *path,
                      const char *key, const char *idem, const char *body)
{
    char url[2048], auth[256], ikey[512];
    const char *headers[] = {auth, "Content-Type: application/json", idem ? ikey : NULL, NULL};
    snprintf(auth, sizeof auth, "x-api-key: %s", key);
    snprintf(ikey, sizeof ikey, "Idempotency-Key: %s", idem ? idem : "");
    snprintf(url, sizeof url, "%s%s", g_base, path);
    ts_http(method, url, headers, body, body ? strlen(body) : 0, r);
    return r->status;
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

static bool replayed(const struct ts_http_res *r)
{
    const char *h = ts_http_header(r, "Idempotent-Replayed");
    return h != NULL && strcmp(h, "true") == 0;
}

static long long contacts_of(const char *org)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM contacts.contacts WHERE org_id = '%s'", org);
    return ts_db_scalar(g_db, sql);
}

/* Credits.Grant for org, over campaign-svc's RPC port. */
static void grant_credits(const char *org, long long minutes)
{
    struct rpc_client *client = rpc_client_open(&od__credits__descriptor, g_campaign_url);
    Od__CreditAmountRequest in = OD__CREDIT_AMOUNT_REQUEST__INIT;
    struct rpc_ctx ctx;
    int64_t deadline = ts_now_ms() + 10000;

    ck_assert_ptr_nonnull(client);
    in.amount = minutes;
    in.reason = "grant";
    for (;;) {
        rpc_ctx_init(&ctx, org, "e2e-grant", 10000);
        od__credits__grant(rpc_client_service(client), &in, NULL, &ctx);
        if (ctx.status != OD__STATUS__UNAVAILABLE || ts_now_ms() > deadline)
            break;
        rpc_ctx_release(&ctx);
        ts_sleep_ms(100);
    }
    ck_assert_msg(ctx.status == OD__STATUS__OK, "grant: %d %s", ctx.status, ctx.message);
    rpc_ctx_release(&ctx);
    rpc_client_close(client);
}

/* ---------------- fixture ---------------- */

static void stack_setup(void)
{
    char contacts_bin[PATH_MAX], campaign_bin[PATH_MAX], gateway_bin[PATH_MAX];
    char e_db[700], e_rpc[80], e_health[80], e_contacts[80], e_campaign[80], e_port[40];
    int contacts_rpc = ts_free_port(), campaign_rpc = ts_free_port(), http_port = ts_free_port();

    ts_binary("contacts-svc/contacts-svc", contacts_bin, sizeof contacts_bin);
    ts_binary("campaign-svc/campaign-svc", campaign_bin, sizeof campaign_bin);
    ts_binary("gateway/gateway", gateway_bin, sizeof gateway_bin);
    g_db = ts_db_create();

    snprintf(e_db, sizeof e_db, "DATABASE_URL=%s", ts_db_url(g_db, "contacts"));
    snprintf(e_rpc, sizeof e_rpc, "RPC_LISTEN=tcp://127.0.0.1:%d", contacts_rpc);
    snprintf(e_health, sizeof e_health, "HEALTH_LISTEN=http://127.0.0.1:%d", ts_free_port());
    const char *contacts_env[] = {e_db, e_rpc, e_health, "RPC_WORKERS=4",
                                  "WEBHOOK_SVC_URL=" /* relay off */, NULL};
    g_contacts = ts_proc_start("contacts-svc", contacts_bin, NULL, contacts_env);

    snprintf(e_db, sizeof e_db, "DATABASE_URL=%s", ts_db_url(g_db, "campaign"));
    snprintf(e_rpc, sizeof e_rpc, "RPC_LISTEN=tcp://127.0.0.1:%d", campaign_rpc);
    snprintf(e_health, sizeof e_health, "HEALTH_LISTEN=http://127.0.0.1:%d", ts_free_port());
    snprintf(e_contacts, sizeof e_contacts, "CONTACTS_SVC_URL=tcp://127.0.0.1:%d",
             contacts_rpc);
    const char *campaign_env[] = {e_db, e_rpc, e_health, e_contacts, "RPC_WORKERS=4",
                                  "WEBHOOK_SVC_URL=" /* relay off */, NULL};
    g_campaign = ts_proc_start("campaign-svc", campaign_bin, NULL, campaign_env);
    snprintf(g_campaign_url, sizeof g_campaign_url, "tcp://127.0.0.1:%d", campaign_rpc);

    snprintf(e_db, sizeof e_db, "DATABASE_URL=%s", ts_db_url(g_db, "gateway"));
    snprintf(e_port, sizeof e_port, "HTTP_PORT=%d", http_port);
    snprintf(e_health, sizeof e_health, "HEALTH_LISTEN=http://127.0.0.1:%d", ts_free_port());
    snprintf(e_campaign, sizeof e_campaign, "CAMPAIGN_SVC_URL=tcp://127.0.0.1:%d",
             campaign_rpc);
    const char *gateway_env[] = {e_db, "HTTP_BIND=127.0.0.1", e_port, e_health, e_contacts,
                                 e_campaign, "HTTP_THREADS=4", "RPC_TIMEOUT_MS=30000", NULL};
    g_gateway = ts_proc_start("gateway", gateway_bin, NULL, gateway_env);
    snprintf(g_base, sizeof g_base, "http://127.0.0.1:%d", http_port);

    ts_proc_wait_ready(g_contacts, 30000);
    ts_proc_wait_ready(g_campaign, 30000);
    ts_proc_wait_ready(g_gateway, 30000);
    ts_org_create(g_db, "Idempotency Org A", "enterprise", g_org, sizeof g_org, g_key,
                  sizeof g_key);
    ts_org_create(g_db, "Idempotency Org B", "enterprise", g_org_b, sizeof g_org_b, g_key_b,
                  sizeof g_key_b);
    static const char *const routes[] = {"/v1/contacts", "/v1/agents", "/v1/campaigns", NULL};
    ts_wait_gateway_routes(g_base, g_key, routes, 15000);
    grant_credits(g_org, 1000);
}

static void stack_teardown(void)
{
    ts_proc_free(g_gateway);
    ts_proc_free(g_campaign);
    ts_proc_free(g_contacts);
    g_gateway = g_campaign = g_contacts = NULL;
    ts_db_drop(g_db);
    g_db = NULL;
}

/* ---------------- tests ---------------- */

static const char bulk_body[] =
    "{\"contacts\":[{\"name\":\"Priya Sharma\",\"phoneNumber\":\"+919876543210\"},"
    "{\"name\":\"Ravi Kumar\",\"phoneNumber\":\"+919123456789\"}]}";

START_TEST(test_same_bulk_twice_happens_once)
{
    struct ts_http_res first, second;
    long long before = contacts_of(g_org);

    ck_assert_int_eq(api_keyed(&first, "POST", "/v1/contacts/bulk", g_key, "bulk-1", bulk_body),
                     200);
    ck_assert_int_eq(jint(first.json, "created"), 2);
    ck_assert(!replayed(&first));
    ck_assert_int_eq(contacts_of(g_org), before + 2);

    /* run again, the service would answer created 0, updated 2: the replay is the first */
    ck_assert_int_eq(api_keyed(&second, "POST", "/v1/contacts/bulk", g_key, "bulk-1", bulk_body),
                     200);
    ck_assert_msg(replayed(&second), "no Idempotent-Replayed header");
    ck_assert_str_eq(second.body, first.body);
    ck_assert_int_eq(contacts_of(g_org), before + 2);
    ck_assert_int_eq(ts_db_scalar(g_db, "SELECT count(*) FROM gateway.idempotency_keys WHERE "
                                        "key = 'bulk-1' AND status = 200"),
                     1);
    ts_http_res_free(&first);
    ts_http_res_free(&second);
}
END_TEST

START_TEST(test_same_key_other_body_is_422)
{
    struct ts_http_res r;
    const char *other = "{\"contacts\":[{\"name\":\"Meera\",\"phoneNumber\":\"+919876543211\"}]}";
    long long before;

    ck_assert_int_eq(api_keyed(&r, "POST", "/v1/contacts/bulk", g_key, "bulk-2", bulk_body), 200);
    ts_http_res_free(&r);
    before = contacts_of(g_org);
    ck_assert_int_eq(api_keyed(&r, "POST", "/v1/contacts/bulk", g_key, "bulk-2", other), 422);
    ck_assert_int_eq(jint(r.json, "statusCode"), 422);
    ck_assert_str_eq(jstr(r.json, "error"), "Unprocessable Entity");
    ck_assert_ptr_nonnull(strstr(jstr(r.json, "message"), "Idempotency-Key"));
    ts_http_res_free(&r);
    /* the same body on another path is another request too */
    ck_assert_int_eq(api_keyed(&r, "POST", "/v1/contacts", g_key, "bulk-2", bulk_body), 422);
    ts_http_res_free(&r);
    ck_assert_int_eq(contacts_of(g_org), before);
}
END_TEST

START_TEST(test_keys_belong_to_one_organization)
{
    struct ts_http_res a, b;
    const char *body_b = "{\"contacts\":[{\"name\":\"B\",\"phoneNumber\":\"+14155550199\"}]}";
    ck_assert_int_eq(api_keyed(&a, "POST", "/v1/contacts/bulk", g_key, "shared-key", bulk_body),
                     200);
    /* B's request with A's key text is B's own: it runs, with its own body */
    ck_assert_int_eq(api_keyed(&b, "POST", "/v1/contacts/bulk", g_key_b, "shared-key", body_b),
                     200);
    ck_assert(!replayed(&b));
    ck_assert_int_eq(jint(b.json, "created"), 1);
    ck_assert_int_eq(contacts_of(g_org_b), 1);
    ts_http_res_free(&a);
    ts_http_res_free(&b);
}
END_TEST

START_TEST(test_malformed_key_is_400)
{
    struct ts_http_res r;
    char key[300];
    memset(key, 'k', sizeof key - 1);
    key[sizeof key - 1] = '\0';
    ck_assert_int_eq(api_keyed(&r, "POST", "/v1/contacts/bulk", g_key, key, bulk_body), 400);
    ck_assert_ptr_nonnull(strstr(jstr(r.json, "message"), "Idempotency-Key"));
    ts_http_res_free(&r);
}
END_TEST

START_TEST(test_without_key_nothing_changes)
{
    struct ts_http_res r;
    const char *body = "{\"name\":\"No Key\",\"phoneNumber\":\"+14155550111\"}";
    ck_assert_int_eq(api_keyed(&r, "POST", "/v1/contacts", g_key, NULL, body), 201);
    ts_http_res_free(&r);
    ck_assert_int_eq(api_keyed(&r, "POST", "/v1/contacts", g_key, NULL, body), 409);
    ts_http_res_free(&r);
}
END_TEST

/* ---- concurrent requests with one key ---- */

#define CONCURRENT 8

struct concurrent_call {
    pthread_t thread;
    struct ts_http_res res;
};

static pthread_barrier_t g_barrier;

static void *concurrent_create(void *arg)
{
    struct concurrent_call *c = arg;
    pthread_barrier_wait(&g_barrier);
    api_keyed(&c->res, "POST", "/v1/contacts", g_key, "concurrent-create-1",
              "{\"name\":\"Concurrent\",\"phoneNumber\":\"+14155550122\"}");
    return NULL;
}

START_TEST(test_concurrent_requests_run_once)
{
    struct concurrent_call calls[CONCURRENT];
    int replays = 0;

    /* without the key, all but one would be 409 (the number exists) */
    pthread_barrier_init(&g_barrier, NULL, CONCURRENT);
    for (int i = 0; i < CONCURRENT; i++)
        ck_assert_int_eq(pthread_create(&calls[i].thread, NULL, concurrent_create, &calls[i]), 0);
    for (int i = 0; i < CONCURRENT; i++)
        pthread_join(calls[i].thread, NULL);
    pthread_barrier_destroy(&g_barrier);
    for (int i = 0; i < CONCURRENT; i++) {
        ck_assert_msg(calls[i].res.status == 201, "request %d: %ld %s", i, calls[i].res.status,
                      calls[i].res.body);
        ck_assert_str_eq(calls[i].res.body, calls[0].res.body);
        replays += replayed(&calls[i].res);
    }
    ck_assert_int_eq(replays, CONCURRENT - 1);
    ck_assert_int_eq(ts_db_scalar(g_db, "SELECT count(*) FROM contacts.contacts "
                                        "WHERE phone_number = '+14155550122'"),
                     1);
    for (int i = 0; i < CONCURRENT; i++)
        ts_http_res_free(&calls[i].res);
}
END_TEST

/* ---- the same campaign started twice with one key ---- */

START_TEST(test_campaign_started_once)
{
    struct ts_http_res r, first, second;
    char agent[64], campaign[64], path[160], body[512];

    ck_assert_int_eq(api_keyed(&r, "POST", "/v1/agents", g_key, NULL,
                               "{\"name\":\"Idempotent agent\",\"firstMessage\":\"Hello\"}"),
                     201);
    snprintf(agent, sizeof agent, "%s", jstr(r.json, "id"));
    ts_http_res_free(&r);
    snprintf(body, sizeof body, "{\"name\":\"Once\",\"agentId\":\"%s\",\"maxConcurrent\":2}",
             agent);
    ck_assert_msg(api_keyed(&r, "POST", "/api/campaigns", g_key, "create-once", body) == 201,
                  "create: %s", r.body);
    snprintf(campaign, sizeof campaign, "%s", jstr(r.json, "id"));
    ts_http_res_free(&r);
    /* creating again with the key gives the same campaign, not a second one */
    ck_assert_int_eq(api_keyed(&r, "POST", "/api/campaigns", g_key, "create-once", body), 201);
    ck_assert_str_eq(jstr(r.json, "id"), campaign);
    ts_http_res_free(&r);
    snprintf(path, sizeof path, "/api/campaigns/%s/leads", campaign);
    ck_assert_int_eq(api_keyed(&r, "POST", path, g_key, NULL,
                               "{\"leads\":[{\"phoneNumber\":\"+919876543210\"}]}"),
                     200);
    ts_http_res_free(&r);

    snprintf(path, sizeof path, "/v1/campaigns/%s/start", campaign);
    ck_assert_msg(api_keyed(&first, "POST", path, g_key, "start-once", NULL) == 200, "start: %s",
                  first.body);
    ck_assert_msg(api_keyed(&second, "POST", path, g_key, "start-once", NULL) == 200,
                  "second start: %ld %s", second.status, second.body);
    ck_assert(replayed(&second));
    ck_assert_str_eq(second.body, first.body);
    /* it did start, once: a start without the key now finds it running */
    ck_assert_int_eq(api_keyed(&r, "POST", path, g_key, NULL, NULL), 409);
    ts_http_res_free(&r);
    ck_assert_int_eq(ts_db_scalar(g_db, "SELECT count(*) FROM campaign.campaigns "
                                        "WHERE name = 'Once'"),
                     1);
    ts_http_res_free(&first);
    ts_http_res_free(&second);
}
END_TEST

static Suite *idempotency_suite(void)
{
    Suite *s = suite_create("idempotency");
    TCase *tc = tcase_create("http");
    tcase_add_unchecked_fixture(tc, stack_setup, stack_teardown);
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_same_bulk_twice_happens_once);
    tcase_add_test(tc, test_same_key_other_body_is_422);
    tcase_add_test(tc, test_keys_belong_to_one_organization);
    tcase_add_test(tc, test_malformed_key_is_400);
    tcase_add_test(tc, test_without_key_nothing_changes);
    tcase_add_test(tc, test_concurrent_requests_run_once);
    tcase_add_test(tc, test_campaign_started_once);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr;
    int failed;

    ts_init("e2e-idempotency");
    sr = srunner_create(idempotency_suite());
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_VERBOSE);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return ts_finish(failed);
}
