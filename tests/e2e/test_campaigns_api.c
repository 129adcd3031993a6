/* End-to-end tests of campaigns, agents (flows), caller IDs, leads and credits over HTTP, in
 * all three dialects: contacts-svc, campaign-svc and the gateway, each with its own database
 * role on a throwaway database. Credits are granted through campaign-svc's Credits.Grant RPC
 * (what `outdial credits grant` does). */
#include <check.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "campaigns.pb-c.h"
#include "rpc.h"
#include "testsupport.h"

static struct ts_db *g_db;
static struct ts_proc *g_contacts, *g_campaign, *g_gateway;
static char g_base[64], g_campaign_url[64];
static char g_org[64], g_key[160], g_read_key[160]; /* organization A, granted credits */
static char g_org_b[64], g_key_b[160];              /* organization B */
static char g_agent[64], g_phone[64];               /* A's agent and caller ID */

/* ---------------- helpers ---------------- */

static long api_typed(struct ts_http_res *r, const char *method, const char *path,
                      const char *key, const char *type, const char *body)
{
    char url[2048], auth[256], ctype[128];
    const char *headers[] = {auth, ctype, NULL};
    snprintf(auth, sizeof auth, "x-api-key: %s", key);
    snprintf(ctype, sizeof ctype, "Content-Type: %s", type);
    snprintf(url, sizeof url, "%s%s", g_base, path);
    ts_http(method, url, headers, body, body ? strlen(body) : 0, r);
    ck_assert_msg(r->status > 0, "%s %s: no response (curl error %d)", method, path,
                  r->curl_code);
    return r->status;
}

static long api(struct ts_http_res *r, const char *method, const char *path, const char *key,
                const char *body)
{
    return api_typed(r, method, path, key, "application/json", body);
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

/* Asserts status and the error shape; message_part (may be NULL) must occur in the message. */
static void assert_error(const struct ts_http_res *r, long status, const char *message_part)
{
    json_t *j = r->json;
    ck_assert_msg(r->status == status, "expected HTTP %ld, got %ld: %s", status, r->status,
                  r->body);
    ck_assert_msg(j != NULL, "error body is not JSON: %s", r->body);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "statusCode")), status);
    ck_assert_msg(json_is_string(json_object_get(j, "error")), "no error in %s", r->body);
    const char *m = jstr(j, "message");
    ck_assert_msg(m != NULL && m[0] != '\0', "no message in %s", r->body);
    if (message_part != NULL)
        ck_assert_msg(strstr(m, message_part) != NULL, "message '%s' should mention '%s'", m,
                      message_part);
}

static void expect_error(const char *method, const char *path, const char *key,
                         const char *body, long status, const char *message_part)
{
    struct ts_http_res r;
    api(&r, method, path, key, body);
    assert_error(&r, status, message_part);
    ts_http_res_free(&r);
}

/* POST that must answer `status`; copies the new object's id. */
static void create(const char *path, const char *key, const char *body, long status, char *id,
                   size_t id_size)
{
    struct ts_http_res r;
    ck_assert_msg(api(&r, "POST", path, key, body) == status, "POST %s: %ld %s", path,
                  r.status, r.body);
    if (id != NULL)
        snprintf(id, id_size, "%s", jstr(r.json, "id"));
    ts_http_res_free(&r);
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

/* An OsmTalk draft campaign of organization A with no audience. */
static void osm_campaign(const char *name, char *id, size_t id_size)
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"name\":\"%s\",\"agentId\":\"%s\",\"phoneNumberId\":\"%s\",\"maxConcurrent\":5,"
             "\"retryPolicy\":{\"maxAttempts\":3,\"backoffMinutes\":60,"
             "\"retryOn\":[\"no_answer\",\"busy\"]}}",
             name, g_agent, g_phone);
    create("/api/campaigns", g_key, body, 201, id, id_size);
}

/* POST .../leads with one row so the campaign has something to dial. */
static void upload_one_lead(const char *campaign, const char *phone)
{
    struct ts_http_res r;
    char path[128], body[160];
    snprintf(path, sizeof path, "/api/campaigns/%s/leads", campaign);
    snprintf(body, sizeof body, "{\"leads\":[{\"phoneNumber\":\"%s\"}]}", phone);
    ck_assert_msg(api(&r, "POST", path, g_key, body) == 200, "leads: %s", r.body);
    ck_assert_int_eq(jint(r.json, "inserted"), 1);
    ts_http_res_free(&r);
}

/* ---------------- fixture ---------------- */

static void stack_setup(void)
{
    char contacts_bin[PATH_MAX], campaign_bin[PATH_MAX], gateway_bin[PATH_MAX];
    char e_db[700], e_rpc[80], e_health[80], e_contacts[80], e_campaign[80];
    char e_port[40];
    int contacts_rpc = ts_free_port(), campaign_rpc = ts_free_port();
    int http_port = ts_free_port();

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
                                 e_campaign, "HTTP_THREADS=8", "RPC_TIMEOUT_MS=30000", NULL};
    g_gateway = ts_proc_start("gateway", gateway_bin, NULL, gateway_env);
    snprintf(g_base, sizeof g_base, "http://127.0.0.1:%d", http_port);

    ts_proc_wait_ready(g_contacts, 30000);
    ts_proc_wait_ready(g_campaign, 30000);
    ts_proc_wait_ready(g_gateway, 30000);

    ts_org_create(g_db, "Campaign Org A", "enterprise", g_org, sizeof g_org, g_key,
                  sizeof g_key);
    ts_org_create(g_db, "Campaign Org B", "enterprise", g_org_b, sizeof g_org_b, g_key_b,
                  sizeof g_key_b);
    ts_key_create(g_db, g_org, "read", g_read_key, sizeof g_read_key);
    static const char *const routes[] = {"/v1/contacts", "/v1/audiences", "/v1/agents",
                                         "/v1/campaigns", "/v1/credits/balance", NULL};
    ts_wait_gateway_routes(g_base, g_key, routes, 15000);
    grant_credits(g_org, 1000);

    create("/v1/agents", g_key,
           "{\"name\":\"Renewals agent\",\"language\":\"en-IN\",\"first_message\":\"Hello\","
           "\"runtime_url\":\"wss://agents.example/run\",\"variables\":{\"tier\":\"gold\"}}",
           201, g_agent, sizeof g_agent);
    create("/v1/phone-numbers", g_key, "{\"phoneNumber\":\"+14155550100\",\"label\":\"main\"}",
           201, g_phone, sizeof g_phone);
}

static void ensure_stack(void)
{
    struct ts_proc *procs[] = {g_contacts, g_campaign, g_gateway};
    for (int i = 0; i < 3; i++)
        if (!ts_proc_running(procs[i])) {
            ts_proc_restart(procs[i]);
            ts_proc_wait_ready(procs[i], 30000);
        }
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

/* ---------------- the 000 walkthrough ---------------- */

START_TEST(test_walkthrough_000)
{
    struct ts_http_res r;
    char cid[64], audience[64], campaign[64], path[160], body[512];

    ck_assert_int_eq(
        api(&r, "POST", "/v1/contacts/bulk", g_key,
            "{\"contacts\":[{\"name\":\"Priya Sharma\",\"phoneNumber\":\"+919876543210\","
            "\"language\":\"hi-IN\",\"metadata\":{\"city\":\"Mumbai\",\"tier\":\"premium\"}},"
            "{\"name\":\"Ravi Kumar\",\"phoneNumber\":\"+919123456789\",\"language\":\"en-IN\"}]}"),
        200);
    snprintf(cid, sizeof cid, "%s",
             jstr(json_array_get(json_object_get(r.json, "contacts"), 0), "id"));
    ts_http_res_free(&r);
    create("/v1/audiences", g_key, "{\"name\":\"Mumbai Premium Customers\"}", 201, audience,
           sizeof audience);
    snprintf(path, sizeof path, "/v1/audiences/%s/contacts", audience);
    snprintf(body, sizeof body, "{\"contactIds\":[\"%s\"]}", cid);
    ck_assert_int_eq(api(&r, "POST", path, g_key, body), 200);
    ts_http_res_free(&r);

    /* GET /v1/flows lists the agent */
    ck_assert_int_eq(api(&r, "GET", "/v1/flows", g_key, NULL), 200);
    ck_assert_int_ge(jint(r.json, "total"), 1);
    json_t *flow = json_array_get(json_object_get(r.json, "data"), 0);
    ck_assert_str_eq(jstr(flow, "id"), g_agent);
    ck_assert_str_eq(jstr(flow, "firstMessage"), "Hello");
    ck_assert_int_eq(jint(flow, "currentVersion"), 1);
    ts_http_res_free(&r);
    snprintf(path, sizeof path, "/v1/flows/%s", g_agent);
    ck_assert_int_eq(api(&r, "GET", path, g_key, NULL), 200);
    ck_assert_str_eq(jstr(r.json, "runtimeUrl"), "wss://agents.example/run");
    ts_http_res_free(&r);

    snprintf(body, sizeof body,
             "{\"name\":\"Mumbai Outreach - March\",\"audienceId\":\"%s\",\"flowId\":\"%s\","
             "\"callsPerMinute\":5,\"maxConcurrentCalls\":3,\"maxRetries\":2}",
             audience, g_agent);
    ck_assert_int_eq(api(&r, "POST", "/v1/campaigns", g_key, body), 201);
    ck_assert_msg(strncmp(jstr(r.json, "id"), "camp_", 5) == 0, "%s", r.body);
    ck_assert_str_eq(jstr(r.json, "status"), "DRAFT");
    ck_assert_str_eq(jstr(r.json, "name"), "Mumbai Outreach - March");
    ck_assert_str_eq(jstr(r.json, "flowId"), g_agent);
    ck_assert_str_eq(jstr(r.json, "audienceId"), audience);
    ck_assert_str_eq(jstr(r.json, "organizationId"), g_org);
    ck_assert_int_eq(jint(r.json, "callsPerMinute"), 5);
    ck_assert_int_eq(jint(r.json, "maxConcurrentCalls"), 3);
    ck_assert_int_eq(jint(r.json, "maxRetries"), 2);
    ck_assert_int_eq(jint(r.json, "retryDelayMinutes"), 5);   /* default */
    ck_assert_int_eq(jint(r.json, "callTimeoutMinutes"), 5);  /* default */
    ck_assert(json_is_null(json_object_get(r.json, "scheduledAt")));
    ck_assert(json_is_null(json_object_get(r.json, "timezone")));
    ck_assert(json_is_null(json_object_get(r.json, "startedAt")));
    ck_assert(json_is_null(json_object_get(r.json, "completedAt")));
    ck_assert_ptr_nonnull(jstr(r.json, "createdAt"));
    snprintf(campaign, sizeof campaign, "%s", jstr(r.json, "id"));
    ts_http_res_free(&r);

    /* defaults of 001 */
    snprintf(body, sizeof body, "{\"name\":\"Defaults\",\"audienceId\":\"%s\",\"flowId\":\"%s\"}",
             audience, g_agent);
    ck_assert_int_eq(api(&r, "POST", "/v1/campaigns", g_key, body), 201);
    ck_assert_int_eq(jint(r.json, "callsPerMinute"), 10);
    ck_assert_int_eq(jint(r.json, "maxConcurrentCalls"), 5);
    ck_assert_int_eq(jint(r.json, "maxRetries"), 3);
    ts_http_res_free(&r);

    snprintf(path, sizeof path, "/v1/campaigns/%s/start", campaign);
    ck_assert_msg(api(&r, "POST", path, g_key, NULL) == 200, "start: %s", r.body);
    ck_assert_str_eq(jstr(r.json, "status"), "IN_PROGRESS");
    ck_assert_str_eq(jstr(r.json, "id"), campaign);
    ck_assert_ptr_nonnull(jstr(r.json, "startedAt"));
    ts_http_res_free(&r);

    snprintf(path, sizeof path, "/v1/campaigns/%s/progress", campaign);
    ck_assert_int_eq(api(&r, "GET", path, g_key, NULL), 200);
    static const char *const keys[] = {"status",    "total",  "pending", "queued",
                                       "inProgress", "completed", "failed", "skipped",
                                       "percentComplete"};
    ck_assert_uint_eq(json_object_size(r.json), 9);
    for (size_t i = 0; i < 9; i++)
        ck_assert_msg(json_object_get(r.json, keys[i]) != NULL, "no %s in %s", keys[i], r.body);
    ck_assert_int_eq(jint(r.json, "total"), 1);
    ck_assert_str_eq(jstr(r.json, "status"), "IN_PROGRESS");
    ts_http_res_free(&r);

    /* the list filters by status and searches by name */
    ck_assert_int_eq(api(&r, "GET", "/v1/campaigns?status=IN_PROGRESS&search=mumbai", g_key,
                         NULL),
                     200);
    ck_assert_int_eq(jint(r.json, "total"), 1);
    ck_assert_int_eq(jint(r.json, "page"), 1);
    ck_assert_int_eq(jint(r.json, "limit"), 20);
    ts_http_res_free(&r);
    expect_error("GET", "/v1/campaigns?status=WALKING", g_key, NULL, 400, "status must be");

    /* cancel answers {"status"} */
    snprintf(path, sizeof path, "/v1/campaigns/%s/cancel", campaign);
    ck_assert_int_eq(api(&r, "POST", path, g_key, NULL), 200);
    ck_assert_str_eq(jstr(r.json, "status"), "CANCELLED");
    ck_assert_uint_eq(json_object_size(r.json), 1);
    ts_http_res_free(&r);
}
END_TEST

/* ---------------- credits ---------------- */

START_TEST(test_402_then_purchase_then_start)
{
    struct ts_http_res r;
    char org[64], key[160], agent[64], campaign[64], body[512], path[160];

    ts_org_create(g_db, "Broke Org", "standard", org, sizeof org, key, sizeof key);
    ck_assert_int_eq(api(&r, "GET", "/v1/credits/balance", key, NULL), 200);
    ck_assert_int_eq(jint(r.json, "balance"), 0);
    ts_http_res_free(&r);
    create("/v1/agents", key, "{\"name\":\"A\"}", 201, agent, sizeof agent);
    create("/v1/phone-numbers", key, "{\"phoneNumber\":\"+14155550199\"}", 201, NULL, 0);
    snprintf(body, sizeof body, "{\"name\":\"Broke\",\"agentId\":\"%s\"}", agent);
    create("/api/campaigns", key, body, 201, campaign, sizeof campaign);
    snprintf(path, sizeof path, "/api/campaigns/%s/leads", campaign);
    ck_assert_int_eq(api(&r, "POST", path, key, "{\"leads\":[{\"phoneNumber\":\"+14155550123\"}]}"),
                     200);
    ts_http_res_free(&r);

    snprintf(path, sizeof path, "/v1/campaigns/%s/start", campaign);
    api(&r, "POST", path, key, NULL);
    assert_error(&r, 402, NULL);
    ck_assert_str_eq(jstr(r.json, "error"), "Payment Required");
    ts_http_res_free(&r);

    expect_error("POST", "/v1/credits/purchase", key, "{\"amount\":-5}", 400, "amount");
    expect_error("POST", "/v1/credits/purchase", key, "{\"amount\":5,\"currency\":\"usd\"}",
                 400, "currency");
    ck_assert_msg(api(&r, "POST", "/v1/credits/purchase", key, "{\"amount\":100}") == 200,
                  "purchase: %s", r.body);
    ck_assert_int_eq(jint(r.json, "balance"), 100);
    ts_http_res_free(&r);

    ck_assert_msg(api(&r, "POST", path, key, NULL) == 200, "start: %s", r.body);
    ck_assert_str_eq(jstr(r.json, "status"), "IN_PROGRESS");
    ts_http_res_free(&r);

    ck_assert_int_eq(api(&r, "GET", "/v1/credits/usage", key, NULL), 200);
    ck_assert(json_is_array(json_object_get(r.json, "byDay")));
    ck_assert(json_is_array(json_object_get(r.json, "byCampaign")));
    ts_http_res_free(&r);
    expect_error("GET", "/v1/credits/usage?from=yesterday", key, NULL, 400, "from");
}
END_TEST

/* ---------------- OsmTalk leads ---------------- */

START_TEST(test_osmtalk_lead_uploads)
{
    struct ts_http_res r;
    char campaign[64], path[160];

    osm_campaign("Q2 Renewals", campaign, sizeof campaign);
    snprintf(path, sizeof path, "/api/campaigns/%s/leads", campaign);

    /* text/csv, as in 003 */
    ck_assert_int_eq(api_typed(&r, "POST", path, g_key, "text/csv",
                               "phone,first_name,company\n+919876543210,Arjun,Acme\n"
                               "+919876543211,Meera,BlueLeaf"),
                     200);
    ck_assert_int_eq(jint(r.json, "inserted"), 2);
    ck_assert_uint_eq(json_array_size(json_object_get(r.json, "csvErrors")), 0);
    ts_http_res_free(&r);

    /* a JSON leads array */
    ck_assert_int_eq(api(&r, "POST", path, g_key,
                         "{\"leads\":[{\"phoneNumber\":\"+919876543212\",\"variables\":"
                         "{\"first_name\":\"Arjun\"}},{\"phoneNumber\":\"+919876543213\","
                         "\"variables\":{\"first_name\":\"Meera\"}}]}"),
                     200);
    ck_assert_int_eq(jint(r.json, "inserted"), 2);
    ts_http_res_free(&r);

    /* CSV inside JSON */
    ck_assert_int_eq(api(&r, "POST", path, g_key,
                         "{\"csv\":\"phone,first_name\\n+919876543214,Arjun\"}"),
                     200);
    ck_assert_int_eq(jint(r.json, "inserted"), 1);
    ts_http_res_free(&r);

    /* row errors: a bad number, a short row, a JSON lead without a number */
    ck_assert_int_eq(api_typed(&r, "POST", path, g_key, "text/csv",
                               "phone,name\n+919876543215,Ok\nnot-a-number,Bad\n+9198765\"x,Q,Z\n"),
                     200);
    ck_assert_int_eq(jint(r.json, "inserted"), 1);
    json_t *errors = json_object_get(r.json, "csvErrors");
    ck_assert_uint_eq(json_array_size(errors), 2);
    for (size_t i = 0; i < 2; i++) {
        json_t *e = json_array_get(errors, i);
        long long index = jint(e, "index");
        ck_assert_msg(index == 1 || index == 2, "index %lld", index);
        ck_assert_int_eq(jint(e, "line"), index + 2); /* the header is line 1 */
        ck_assert_ptr_nonnull(jstr(e, "reason"));
    }
    ts_http_res_free(&r);
    ck_assert_int_eq(api(&r, "POST", path, g_key,
                         "{\"leads\":[{\"name\":\"nobody\"},{\"phoneNumber\":\"+919876543216\"}]}"),
                     200);
    ck_assert_int_eq(jint(r.json, "inserted"), 1);
    errors = json_object_get(r.json, "csvErrors");
    ck_assert_uint_eq(json_array_size(errors), 1);
    ck_assert_int_eq(jint(json_array_get(errors, 0), "index"), 0);
    ts_http_res_free(&r);

    /* bodies wrong as a whole */
    api_typed(&r, "POST", path, g_key, "text/csv", "name,company\nA,B\n");
    assert_error(&r, 400, "phone");
    ts_http_res_free(&r);
    api_typed(&r, "POST", path, g_key, "text/csv", "phone\n\"+9198");
    assert_error(&r, 400, NULL);
    ts_http_res_free(&r);
    expect_error("POST", path, g_key, "{\"rows\":[]}", 400, "rows");
    expect_error("POST", path, g_key, "{\"leads\":[]}", 400, "leads");
    api_typed(&r, "POST", path, g_key, "text/plain", "hello");
    assert_error(&r, 415, NULL);
    ts_http_res_free(&r);

    /* the list: limit/offset, OsmTalk words */
    snprintf(path, sizeof path, "/api/campaigns/%s/leads?limit=2&offset=1", campaign);
    ck_assert_int_eq(api(&r, "GET", path, g_key, NULL), 200);
    ck_assert_int_eq(jint(r.json, "total"), 7);
    ck_assert_int_eq(jint(r.json, "limit"), 2);
    ck_assert_int_eq(jint(r.json, "offset"), 1);
    ck_assert_uint_eq(json_array_size(json_object_get(r.json, "data")), 2);
    ck_assert_str_eq(jstr(json_array_get(json_object_get(r.json, "data"), 0), "status"),
                     "pending");
    ts_http_res_free(&r);
    snprintf(path, sizeof path, "/api/campaigns/%s/leads", campaign);
    ck_assert_int_eq(api(&r, "GET", path, g_key, NULL), 200);
    ck_assert_int_eq(jint(r.json, "limit"), 200);
    ts_http_res_free(&r);
    snprintf(path, sizeof path, "/api/campaigns/%s/leads?status=pending&limit=1000", campaign);
    ck_assert_int_eq(api(&r, "GET", path, g_key, NULL), 200);
    ck_assert_int_eq(jint(r.json, "total"), 7);
    ts_http_res_free(&r);
    snprintf(path, sizeof path, "/api/campaigns/%s/leads?limit=1001", campaign);
    expect_error("GET", path, g_key, NULL, 400, "limit");

    /* the same leads through /v1 */
    snprintf(path, sizeof path, "/v1/campaigns/%s/leads?limit=5", campaign);
    ck_assert_int_eq(api(&r, "GET", path, g_key, NULL), 200);
    ck_assert_int_eq(jint(r.json, "total"), 7);
    ck_assert_int_eq(jint(r.json, "page"), 1);
    ck_assert_str_eq(jstr(json_array_get(json_object_get(r.json, "data"), 0), "status"),
                     "PENDING");
    ts_http_res_free(&r);

    snprintf(path, sizeof path, "/api/campaigns/%s/report", campaign);
    ck_assert_int_eq(api(&r, "GET", path, g_key, NULL), 200);
    ck_assert_str_eq(jstr(json_object_get(r.json, "campaign"), "status"), "draft");
    ck_assert_int_eq(
        jint(json_object_get(json_object_get(r.json, "counts"), "byStatus"), "pending"), 7);
    ck_assert(json_is_object(json_object_get(json_object_get(r.json, "counts"), "byDisposition")));
    ts_http_res_free(&r);
}
END_TEST

/* ---------------- lifecycle in both dialects ---------------- */

START_TEST(test_lifecycle_409_and_osmtalk_words)
{
    struct ts_http_res r;
    char campaign[64], path[160];

    osm_campaign("Lifecycle", campaign, sizeof campaign);
    upload_one_lead(campaign, "+14155550111");

    ck_assert_int_eq(api(&r, "GET", "/api/campaigns?status=draft", g_key, NULL), 200);
    ck_assert_int_ge(jint(r.json, "total"), 1);
    ck_assert_int_eq(jint(r.json, "limit"), 200);
    ck_assert_int_eq(jint(r.json, "offset"), 0);
    ck_assert_str_eq(jstr(json_array_get(json_object_get(r.json, "data"), 0), "status"),
                     "draft");
    ts_http_res_free(&r);
    expect_error("GET", "/api/campaigns?limit=0", g_key, NULL, 400, "limit");
    expect_error("GET", "/api/campaigns?status=IN_FLIGHT", g_key, NULL, 400, "running");

    /* from draft: pause, resume are 409 naming the status in each dialect's words */
    snprintf(path, sizeof path, "/api/campaigns/%s/pause", campaign);
    expect_error("POST", path, g_key, NULL, 409, "draft");
    snprintf(path, sizeof path, "/v1/campaigns/%s/resume", campaign);
    expect_error("POST", path, g_key, NULL, 409, "DRAFT");

    /* PUT is partial */
    snprintf(path, sizeof path, "/api/campaigns/%s", campaign);
    ck_assert_int_eq(api(&r, "PUT", path, g_key, "{\"maxConcurrent\": 7}"), 200);
    ck_assert_int_eq(jint(r.json, "maxConcurrent"), 7);
    ck_assert_str_eq(jstr(r.json, "name"), "Lifecycle");
    ck_assert_int_eq(jint(json_object_get(r.json, "retryPolicy"), "maxAttempts"), 3);
    ts_http_res_free(&r);
    /* a key that means nothing is 400 naming it, with details */
    ck_assert_int_eq(api(&r, "PATCH", "/v1/campaigns/camp_doesnotmatter", g_key,
                         "{\"phone_number\":\"+1\",\"maxRetries\":\"x\"}"),
                     400);
    assert_error(&r, 400, "phone_number");
    ck_assert_uint_eq(json_array_size(json_object_get(r.json, "details")), 2);
    ts_http_res_free(&r);

    snprintf(path, sizeof path, "/api/campaigns/%s/start", campaign);
    ck_assert_msg(api(&r, "POST", path, g_key, NULL) == 200, "start: %s", r.body);
    ck_assert_str_eq(jstr(r.json, "status"), "running");
    ts_http_res_free(&r);
    expect_error("POST", path, g_key, NULL, 409, "running");
    snprintf(path, sizeof path, "/api/campaigns/%s", campaign);
    expect_error("PUT", path, g_key, "{\"maxConcurrent\": 3}", 409, "running");
    expect_error("DELETE", path, g_key, NULL, 409, "running");

    ck_assert_int_eq(api(&r, "GET", "/api/campaigns?status=running", g_key, NULL), 200);
    ck_assert_int_ge(jint(r.json, "total"), 1);
    ts_http_res_free(&r);

    snprintf(path, sizeof path, "/v1/campaigns/%s/pause", campaign);
    ck_assert_int_eq(api(&r, "POST", path, g_key, NULL), 200);
    ck_assert_str_eq(jstr(r.json, "status"), "PAUSED");
    ts_http_res_free(&r);
    snprintf(path, sizeof path, "/api/campaigns/%s/resume", campaign);
    ck_assert_int_eq(api(&r, "POST", path, g_key, NULL), 200);
    ck_assert_str_eq(jstr(r.json, "status"), "running");
    ts_http_res_free(&r);
    snprintf(path, sizeof path, "/api/campaigns/%s/stop", campaign);
    ck_assert_int_eq(api(&r, "POST", path, g_key, NULL), 200);
    ck_assert_str_eq(jstr(r.json, "status"), "stopped");
    ts_http_res_free(&r);
    expect_error("POST", path, g_key, NULL, 409, "stopped");
    snprintf(path, sizeof path, "/v1/campaigns/%s/start", campaign);
    expect_error("POST", path, g_key, NULL, 409, "CANCELLED");

    snprintf(path, sizeof path, "/v1/campaigns/%s", campaign);
    ck_assert_int_eq(api(&r, "GET", path, g_key, NULL), 200);
    ck_assert_str_eq(jstr(r.json, "status"), "CANCELLED");
    ts_http_res_free(&r);
    snprintf(path, sizeof path, "/api/campaigns/%s", campaign);
    ck_assert_int_eq(api(&r, "DELETE", path, g_key, NULL), 200);
    ts_http_res_free(&r);
    expect_error("GET", path, g_key, NULL, 404, "not found");
}
END_TEST

/* ---------------- OutboundCalls.ai snake_case ---------------- */

START_TEST(test_snake_case_create_004)
{
    struct ts_http_res r;
    char audience[64], body[1024];

    create("/v1/audiences", g_key, "{\"name\":\"Q1 list\"}", 201, audience, sizeof audience);
    snprintf(body, sizeof body,
             "{\"name\":\"Q1 Sales Outreach\",\"agent_id\":\"%s\",\"contact_list_id\":\"%s\","
             "\"schedule\":{\"start_date\":\"2031-03-25\",\"calling_hours\":{\"start\":\"09:00\","
             "\"end\":\"18:00\"},\"timezone\":\"Europe/London\"},"
             "\"retry_rules\":{\"max_attempts\":3,\"delay_minutes\":60},\"concurrent_calls\":20}",
             g_agent, audience);
    ck_assert_msg(api(&r, "POST", "/v1/campaigns", g_key, body) == 201, "%s", r.body);
    ck_assert_str_eq(jstr(r.json, "flowId"), g_agent);
    ck_assert_str_eq(jstr(r.json, "audienceId"), audience);
    ck_assert_int_eq(jint(r.json, "maxRetries"), 2);
    ck_assert_int_eq(jint(r.json, "retryDelayMinutes"), 60);
    ck_assert_int_eq(jint(r.json, "maxConcurrentCalls"), 20);
    ck_assert_str_eq(jstr(r.json, "timezone"), "Europe/London");
    ck_assert_str_eq(jstr(json_object_get(r.json, "schedule"), "windowStart"), "09:00");
    ck_assert_str_eq(jstr(json_object_get(r.json, "schedule"), "windowEnd"), "18:00");
    ts_http_res_free(&r);

    /* an unknown zone and an unknown flow come back from the service */
    snprintf(body, sizeof body,
             "{\"name\":\"x\",\"agent_id\":\"%s\",\"schedule\":{\"timezone\":\"Mars/Olympus\"}}",
             g_agent);
    expect_error("POST", "/v1/campaigns", g_key, body, 400, NULL);
    expect_error("POST", "/v1/campaigns", g_key,
                 "{\"name\":\"x\",\"agent_id\":\"agent_nosuchagent0000000000\"}", 404, NULL);
    /* wrong types, every one listed */
    ck_assert_int_eq(api(&r, "POST", "/v1/campaigns", g_key,
                         "{\"name\":1,\"agent_id\":2,\"concurrent_calls\":\"many\"}"),
                     400);
    ck_assert_uint_eq(json_array_size(json_object_get(r.json, "details")), 3);
    ts_http_res_free(&r);
}
END_TEST

/* ---------------- agents and caller IDs ---------------- */

START_TEST(test_agents_and_phone_numbers)
{
    struct ts_http_res r;
    char agent[64], path[160];

    create("/v1/agents", g_key, "{\"name\":\"Versioned\"}", 201, agent, sizeof agent);
    snprintf(path, sizeof path, "/v1/agents/%s", agent);
    ck_assert_int_eq(api(&r, "PATCH", path, g_key, "{\"prompt\":\"Be kind\",\"voice\":\"asha\"}"),
                     200);
    ck_assert_int_eq(jint(r.json, "currentVersion"), 2);
    ck_assert_str_eq(jstr(r.json, "prompt"), "Be kind");
    ts_http_res_free(&r);
    expect_error("PATCH", path, g_key, "{\"temperature\":0.3}", 400, "temperature");
    expect_error("POST", "/v1/agents", g_key, "{\"language\":\"en\"}", 400, "name is required");
    ck_assert_int_eq(api(&r, "DELETE", path, g_key, NULL), 200);
    ts_http_res_free(&r);
    expect_error("GET", path, g_key, NULL, 404, NULL);

    ck_assert_int_eq(api(&r, "GET", "/v1/phone-numbers", g_key, NULL), 200);
    ck_assert_int_ge(jint(r.json, "total"), 1);
    ts_http_res_free(&r);
    expect_error("POST", "/v1/phone-numbers", g_key, "{\"phoneNumber\":\"555-0100\"}", 400,
                 NULL);
}
END_TEST

/* ---------------- isolation and scope ---------------- */

static const char *const campaign_routes[][2] = {
    {"GET", "/v1/campaigns/:id"},          {"PATCH", "/v1/campaigns/:id"},
    {"DELETE", "/v1/campaigns/:id"},       {"POST", "/v1/campaigns/:id/start"},
    {"POST", "/v1/campaigns/:id/pause"},   {"POST", "/v1/campaigns/:id/resume"},
    {"POST", "/v1/campaigns/:id/cancel"},  {"GET", "/v1/campaigns/:id/progress"},
    {"GET", "/v1/campaigns/:id/report"},   {"GET", "/v1/campaigns/:id/leads"},
    {"POST", "/v1/campaigns/:id/leads"},   {"GET", "/api/campaigns/:id"},
    {"PUT", "/api/campaigns/:id"},         {"DELETE", "/api/campaigns/:id"},
    {"POST", "/api/campaigns/:id/start"},  {"POST", "/api/campaigns/:id/pause"},
    {"POST", "/api/campaigns/:id/resume"}, {"POST", "/api/campaigns/:id/stop"},
    {"GET", "/api/campaigns/:id/leads"},   {"POST", "/api/campaigns/:id/leads"},
    {"GET", "/api/campaigns/:id/report"},
};

/* pattern with its ":id" replaced by id */
static void fill_path(char *path, size_t size, const char *pattern, const char *id)
{
    const char *at = strstr(pattern, ":id");
    ck_assert_ptr_nonnull(at);
    snprintf(path, size, "%.*s%s%s", (int)(at - pattern), pattern, id, at + 3);
}

static const char *route_body(const char *method, const char *pattern)
{
    if (strstr(pattern, "/leads") != NULL)
        return "{\"leads\":[{\"phoneNumber\":\"+14155550177\"}]}";
    if (strcmp(method, "PATCH") == 0 || strcmp(method, "PUT") == 0)
        return "{\"name\":\"stolen\"}";
    return NULL;
}

START_TEST(test_other_org_ids_are_404)
{
    char campaign[64], path[192];
    osm_campaign("Private", campaign, sizeof campaign);
    for (size_t i = 0; i < sizeof campaign_routes / sizeof campaign_routes[0]; i++) {
        fill_path(path, sizeof path, campaign_routes[i][1], campaign);
        expect_error(campaign_routes[i][0], path, g_key_b,
                     route_body(campaign_routes[i][0], campaign_routes[i][1]), 404, NULL);
    }
    snprintf(path, sizeof path, "/v1/agents/%s", g_agent);
    expect_error("GET", path, g_key_b, NULL, 404, NULL);
    expect_error("PATCH", path, g_key_b, "{\"name\":\"x\"}", 404, NULL);
    expect_error("DELETE", path, g_key_b, NULL, 404, NULL);
    snprintf(path, sizeof path, "/v1/flows/%s", g_agent);
    expect_error("GET", path, g_key_b, NULL, 404, NULL);
    snprintf(path, sizeof path, "/v1/phone-numbers/%s", g_phone);
    expect_error("GET", path, g_key_b, NULL, 404, NULL);
    expect_error("DELETE", path, g_key_b, NULL, 404, NULL);
    /* B's campaign cannot use A's agent or caller ID */
    char body[256];
    snprintf(body, sizeof body, "{\"name\":\"x\",\"agentId\":\"%s\"}", g_agent);
    expect_error("POST", "/api/campaigns", g_key_b, body, 404, NULL);
    /* and the campaign is untouched */
    struct ts_http_res r;
    snprintf(path, sizeof path, "/api/campaigns/%s", campaign);
    ck_assert_int_eq(api(&r, "GET", path, g_key, NULL), 200);
    ck_assert_str_eq(jstr(r.json, "name"), "Private");
    ck_assert_str_eq(jstr(r.json, "status"), "draft");
    ts_http_res_free(&r);
}
END_TEST

START_TEST(test_read_key_403_on_every_action)
{
    char campaign[64], path[192];
    osm_campaign("Read only", campaign, sizeof campaign);
    for (size_t i = 0; i < sizeof campaign_routes / sizeof campaign_routes[0]; i++) {
        fill_path(path, sizeof path, campaign_routes[i][1], campaign);
        struct ts_http_res r;
        api(&r, campaign_routes[i][0], path, g_read_key,
            route_body(campaign_routes[i][0], campaign_routes[i][1]));
        if (strcmp(campaign_routes[i][0], "GET") == 0)
            ck_assert_msg(r.status == 200, "GET %s with a read key: %ld %s", path, r.status,
                          r.body);
        else
            assert_error(&r, 403, NULL);
        ts_http_res_free(&r);
    }
    static const char *const posts[][2] = {
        {"POST", "/v1/campaigns"},       {"POST", "/api/campaigns"},
        {"POST", "/v1/agents"},          {"POST", "/v1/phone-numbers"},
        {"POST", "/v1/credits/purchase"},
    };
    for (size_t i = 0; i < sizeof posts / sizeof posts[0]; i++)
        expect_error(posts[i][0], posts[i][1], g_read_key, "{\"name\":\"x\",\"amount\":1}", 403,
                     NULL);
    snprintf(path, sizeof path, "/v1/agents/%s", g_agent);
    expect_error("PATCH", path, g_read_key, "{\"name\":\"x\"}", 403, NULL);
    expect_error("DELETE", path, g_read_key, NULL, 403, NULL);
    struct ts_http_res r;
    ck_assert_int_eq(api(&r, "GET", "/v1/credits/balance", g_read_key, NULL), 200);
    ts_http_res_free(&r);
}
END_TEST

START_TEST(test_dnc_still_reached_under_api_campaigns)
{
    struct ts_http_res r;
    ck_assert_int_eq(api(&r, "POST", "/api/campaigns/dnc", g_key,
                         "{\"phoneNumber\":\"+919876500000\",\"reason\":\"opt-out\","
                         "\"source\":\"manual\"}"),
                     201);
    ts_http_res_free(&r);
    ck_assert_int_eq(api(&r, "GET", "/api/campaigns/dnc", g_key, NULL), 200);
    ck_assert_int_ge(jint(r.json, "total"), 1);
    ts_http_res_free(&r);
}
END_TEST

static Suite *campaigns_api_suite(void)
{
    Suite *s = suite_create("campaigns-api");
    TCase *tc = tcase_create("http");
    tcase_add_unchecked_fixture(tc, stack_setup, stack_teardown);
    tcase_add_checked_fixture(tc, ensure_stack, NULL);
    tcase_set_timeout(tc, 0);
    tcase_add_test(tc, test_walkthrough_000);
    tcase_add_test(tc, test_402_then_purchase_then_start);
    tcase_add_test(tc, test_osmtalk_lead_uploads);
    tcase_add_test(tc, test_lifecycle_409_and_osmtalk_words);
    tcase_add_test(tc, test_snake_case_create_004);
    tcase_add_test(tc, test_agents_and_phone_numbers);
    tcase_add_test(tc, test_other_org_ids_are_404);
    tcase_add_test(tc, test_read_key_403_on_every_action);
    tcase_add_test(tc, test_dnc_still_reached_under_api_campaigns);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr;
    int failed;
    int64_t started = ts_now_ms();

    ts_init("e2e-campaigns");
    sr = srunner_create(campaigns_api_suite());
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_VERBOSE);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    fprintf(stderr, "[e2e] finished in %.1f s\n", (double)(ts_now_ms() - started) / 1000.0);
    return ts_finish(failed);
}
