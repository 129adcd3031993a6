/* End-to-end tests of dialing (issue 12, "Tests"): the whole stack on one throwaway database —
 * gateway, contacts-svc, campaign-svc, webhook-svc, two dialer-svc replicas and carrier-sim —
 * driven over HTTP like a customer, with the public API only. carrier-sim's /sim/stats and a
 * few SQL reads are used for what the API cannot show (how often a number was dialed, whether
 * every call row was reported).
 *
 * Numbers choose what carrier-sim plays by their last digit: 0-5 a person answers, 6 busy,
 * 7 no answer, 8 failed, 9 voicemail; "...00" answers and never hangs up. Every scenario has
 * its own numbers, +1555SS..., so scenarios run as separate campaigns side by side.
 *
 * Runtime: the call timeout needs a minute of real time (callTimeoutMinutes is whole minutes
 * and the stack has no test knob for it), so its campaign is started by the first test and
 * checked near the end; the other scenarios run meanwhile. Killing carrier-sim would lose that
 * call, so the carrier-down scenario runs last. */
#include <check.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "carrier.h"
#include "receiver.h"
#include "testsupport.h"

#define AUTH_TOKEN "test_auth_token_0123456789"
#define ACCOUNT_SID "ACtest0123456789abcdef0123456789ab"
#define DIALERS 2

static struct ts_db *g_db;
static struct ts_proc *g_contacts, *g_campaign, *g_webhook, *g_gateway, *g_sim,
    *g_dialers[DIALERS];
static struct receiver *g_recv;
static char g_base[64], g_sim_base[64];
static char g_org[64], g_key[160], g_agent[64];        /* the main organization */
static char g_org_b[64], g_key_b[160], g_agent_b[64];  /* the webhook scenario's */
static char g_timeout_campaign[64];

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
    return r->status;
}

/* api() that must answer `status`; returns the JSON body (a new reference, may be NULL). */
static json_t *api_ok(const char *method, const char *path, const char *key, const char *body,
                      long status)
{
    struct ts_http_res r;
    api(&r, method, path, key, body);
    ck_assert_msg(r.status == status, "%s %s: expected %ld, got %ld: %s", method, path, status,
                  r.status, r.body);
    json_t *j = json_incref(r.json);
    ts_http_res_free(&r);
    return j;
}

static json_t *api_get(const char *key, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static json_t *api_get(const char *key, const char *fmt, ...)
{
    char path[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(path, sizeof path, fmt, ap);
    va_end(ap);
    return api_ok("GET", path, key, NULL, 200);
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

static long long scalar_q(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static long long scalar_q(const char *fmt, ...)
{
    char sql[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    return ts_db_scalar(g_db, sql);
}

/* "+1555SSIIID": scenario SS, index III, last digit D (what carrier-sim plays). */
static const char *num(char *buf, int scenario, int index, int digit)
{
    snprintf(buf, 16, "+1555%02d%03d%d", scenario, index, digit);
    return buf;
}

/* ISO 8601 UTC ("2026-03-10T09:07:00.000Z") -> epoch ms; -1 when it does not parse. */
static int64_t iso_ms(const char *s)
{
    struct tm tm;
    int ms = 0;
    memset(&tm, 0, sizeof tm);
    if (s == NULL || sscanf(s, "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                            &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) < 6)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000 + ms;
}

static void create_agent(const char *key, char *id, size_t size)
{
    json_t *j = api_ok("POST", "/v1/agents", key,
                       "{\"name\":\"Renewals agent\",\"language\":\"en-US\",\"first_message\":"
                       "\"Hello from Outdial\",\"runtime_url\":\"wss://agents.example/run\","
                       "\"variables\":{\"tier\":\"gold\"}}",
                       201);
    snprintf(id, size, "%s", jstr(j, "id"));
    json_decref(j);
}

/* POST /v1/campaigns with `fields` (a JSON object's members, no braces) and the agent. */
static void create_campaign(const char *key, const char *agent, const char *name,
                            const char *fields, char *id, size_t size)
{
    char body[2048];
    snprintf(body, sizeof body, "{\"name\":\"%s\",\"flowId\":\"%s\"%s%s}", name, agent,
             fields && fields[0] ? "," : "", fields ? fields : "");
    json_t *j = api_ok("POST", "/v1/campaigns", key, body, 201);
    ck_assert_str_eq(jstr(j, "status"), "DRAFT");
    snprintf(id, size, "%s", jstr(j, "id"));
    json_decref(j);
}

/* POST /v1/campaigns/:id/leads with the numbers (n of them). */
static void upload_leads(const char *key, const char *campaign, const char *const *numbers,
                         int n)
{
    char path[160];
    json_t *leads = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(leads, json_pack("{s:s, s:s, s:{s:i}}", "phoneNumber", numbers[i],
                                               "name", "Lead", "variables", "index", i));
    json_t *body = json_pack("{s:o}", "leads", leads);
    char *text = json_dumps(body, JSON_COMPACT);
    snprintf(path, sizeof path, "/v1/campaigns/%s/leads", campaign);
    json_t *j = api_ok("POST", path, key, text, 200);
    ck_assert_int_eq(jint(j, "inserted"), n);
    json_decref(j);
    free(text);
    json_decref(body);
}

static void campaign_action(const char *key, const char *campaign, const char *action,
                            const char *expect_status)
{
    char path[160];
    snprintf(path, sizeof path, "/v1/campaigns/%s/%s", campaign, action);
    json_t *j = api_ok("POST", path, key, NULL, 200);
    ck_assert_str_eq(jstr(j, "status"), expect_status);
    json_decref(j);
}

static json_t *progress(const char *key, const char *campaign)
{
    return api_get(key, "/v1/campaigns/%s/progress", campaign);
}

static void wait_campaign(const char *key, const char *campaign, const char *status,
                          int timeout_ms)
{
    int64_t give_up = ts_now_ms() + timeout_ms;
    for (;;) {
        json_t *p = progress(key, campaign);
        bool done = strcmp(jstr(p, "status"), status) == 0;
        char seen[512];
        char *text = json_dumps(p, JSON_COMPACT);
        snprintf(seen, sizeof seen, "%s", text ? text : "");
        free(text);
        json_decref(p);
        if (done)
            return;
        ck_assert_msg(ts_now_ms() < give_up, "campaign %s not %s within %d ms: %s", campaign,
                      status, timeout_ms, seen);
        ts_sleep_ms(150);
    }
}

/* GET /api/campaigns/:id/leads (OsmTalk words, lower case). */
static json_t *leads(const char *key, const char *campaign)
{
    return api_get(key, "/api/campaigns/%s/leads?limit=1000", campaign);
}

static json_t *lead_of(json_t *list, const char *phone)
{
    json_t *data = json_object_get(list, "data"), *l;
    size_t i;
    json_array_foreach(data, i, l)
    if (strcmp(jstr(l, "phoneNumber"), phone) == 0)
        return l;
    ck_abort_msg("no lead for %s", phone);
    return NULL;
}

static int leads_with_status(json_t *list, const char *status)
{
    json_t *data = json_object_get(list, "data"), *l;
    size_t i;
    int n = 0;
    json_array_foreach(data, i, l)
    n += strcmp(jstr(l, "status"), status) == 0;
    return n;
}

/* GET /v1/campaigns/:id/calls, every page. */
static json_t *calls(const char *key, const char *campaign)
{
    json_t *all = json_array();
    for (int page = 1;; page++) {
        json_t *j = api_get(key, "/v1/campaigns/%s/calls?limit=100&page=%d", campaign, page);
        json_t *data = json_object_get(j, "data");
        json_array_extend(all, data);
        bool more = json_array_size(data) == 100;
        json_decref(j);
        if (!more)
            break;
    }
    return all;
}

static int calls_to(json_t *list, const char *phone, const char *status)
{
    json_t *c;
    size_t i;
    int n = 0;
    json_array_foreach(list, i, c)
    n += strcmp(jstr(c, "phoneNumber"), phone) == 0 &&
         (status == NULL || strcmp(jstr(c, "status"), status) == 0);
    return n;
}

static json_t *sim_stats(void)
{
    struct ts_http_res res;
    char url[128];
    snprintf(url, sizeof url, "%s/sim/stats", g_sim_base);
    ck_assert_int_eq(ts_http("GET", url, NULL, NULL, 0, &res), 0);
    ck_assert_int_eq(res.status, 200);
    json_t *j = json_incref(res.json);
    ts_http_res_free(&res);
    ck_assert_ptr_nonnull(j);
    return j;
}

/* Calls carrier-sim was asked to place to numbers starting with prefix. */
static long long sim_calls_prefix(const char *prefix)
{
    json_t *s = sim_stats(), *entry;
    const char *number;
    long long n = 0;
    json_object_foreach(json_object_get(s, "byTo"), number, entry)
    if (strncmp(number, prefix, strlen(prefix)) == 0)
        n += json_integer_value(json_object_get(entry, "calls"));
    json_decref(s);
    return n;
}

static void start_dialer(int i, int rpc_port, const char *campaign_url, const char *contacts_url,
                         const char *webhook_url)
{
    char bin[PATH_MAX], e_db[700], e_rpc[80], e_health[80], e_camp[96], e_cont[96], e_carrier[96],
        e_public[96], e_id[48], e_wh[96], name[32];
    ts_binary("dialer-svc/dialer-svc", bin, sizeof bin);
    snprintf(e_db, sizeof e_db, "DATABASE_URL=%s", ts_db_url(g_db, "dialer"));
    snprintf(e_rpc, sizeof e_rpc, "RPC_LISTEN=tcp://127.0.0.1:%d", rpc_port);
    snprintf(e_health, sizeof e_health, "HEALTH_LISTEN=http://127.0.0.1:%d", ts_free_port());
    snprintf(e_camp, sizeof e_camp, "CAMPAIGN_SVC_URL=%s", campaign_url);
    snprintf(e_cont, sizeof e_cont, "CONTACTS_SVC_URL=%s", contacts_url);
    snprintf(e_carrier, sizeof e_carrier, "CARRIER_BASE_URL=%s", g_sim_base);
    snprintf(e_public, sizeof e_public, "PUBLIC_BASE_URL=%s", g_base);
    snprintf(e_wh, sizeof e_wh, "WEBHOOK_SVC_URL=%s", webhook_url);
    snprintf(e_id, sizeof e_id, "DIALER_ID=dialer-%d", i + 1);
    snprintf(name, sizeof name, "dialer-svc-%d", i + 1);
    const char *env[] = {e_db, e_rpc, e_health, e_camp, e_cont, e_carrier, e_public, e_id, e_wh,
                         "CARRIER_ACCOUNT_SID=" ACCOUNT_SID, "CARRIER_AUTH_TOKEN=" AUTH_TOKEN,
                         "CARRIER_DEFAULT_FROM=+15550001111", "CARRIER_TIMEOUT_MS=3000",
                         "DIALER_CAPACITY=20", "DIALER_SWEEP_MS=200", "DIALER_STALE_MS=3000",
                         "DIALER_POLL_MS=50", "DIALER_GRACE_MS=2000", "OUTCOME_WAIT_MS=3000",
                         "RPC_WORKERS=4", NULL};
    g_dialers[i] = ts_proc_start(name, bin, NULL, env);
}

/* ---------------- fixture ---------------- */

static void stack_setup(void)
{
    char bin[PATH_MAX], e_db[700], e_rpc[80], e_health[80], e_svc[96], e_svc2[96], e_svc3[300],
        e_wh[96], e_port[40], e_sim[96], e_public[96];
    char contacts_url[64], campaign_url[64], webhook_url[64], dialer_urls[256] = "";
    int http_port = ts_free_port(), sim_port = ts_free_port(), dialer_rpc[DIALERS];

    g_db = ts_db_create();
    g_recv = receiver_start(0);
    ck_assert_ptr_nonnull(g_recv);
    snprintf(contacts_url, sizeof contacts_url, "tcp://127.0.0.1:%d", ts_free_port());
    snprintf(campaign_url, sizeof campaign_url, "tcp://127.0.0.1:%d", ts_free_port());
    snprintf(webhook_url, sizeof webhook_url, "tcp://127.0.0.1:%d", ts_free_port());
    snprintf(g_base, sizeof g_base, "http://127.0.0.1:%d", http_port);
    snprintf(g_sim_base, sizeof g_sim_base, "http://127.0.0.1:%d", sim_port);
    for (int i = 0; i < DIALERS; i++) {
        dialer_rpc[i] = ts_free_port();
        size_t len = strlen(dialer_urls);
        snprintf(dialer_urls + len, sizeof dialer_urls - len, "%stcp://127.0.0.1:%d",
                 i ? "," : "", dialer_rpc[i]);
    }
    snprintf(e_wh, sizeof e_wh, "WEBHOOK_SVC_URL=%s", webhook_url);

    ts_binary("webhook-svc/webhook-svc", bin, sizeof bin);
    snprintf(e_db, sizeof e_db, "DATABASE_URL=%s", ts_db_url(g_db, "webhook"));
    snprintf(e_rpc, sizeof e_rpc, "RPC_LISTEN=%s", webhook_url);
    snprintf(e_health, sizeof e_health, "HEALTH_LISTEN=http://127.0.0.1:%d", ts_free_port());
    const char *webhook_env[] = {e_db, e_rpc, e_health, "RPC_WORKERS=2",
                                 "WEBHOOK_ALLOW_CIDRS=127.0.0.0/8",
                                 "WEBHOOK_RETRY_SCHEDULE=0,1,1,1,1", NULL};
    g_webhook = ts_proc_start("webhook-svc", bin, NULL, webhook_env);

    ts_binary("contacts-svc/contacts-svc", bin, sizeof bin);
    snprintf(e_db, sizeof e_db, "DATABASE_URL=%s", ts_db_url(g_db, "contacts"));
    snprintf(e_rpc, sizeof e_rpc, "RPC_LISTEN=%s", contacts_url);
    snprintf(e_health, sizeof e_health, "HEALTH_LISTEN=http://127.0.0.1:%d", ts_free_port());
    const char *contacts_env[] = {e_db, e_rpc, e_health, e_wh, "RPC_WORKERS=4", NULL};
    g_contacts = ts_proc_start("contacts-svc", bin, NULL, contacts_env);

    ts_binary("campaign-svc/campaign-svc", bin, sizeof bin);
    snprintf(e_db, sizeof e_db, "DATABASE_URL=%s", ts_db_url(g_db, "campaign"));
    snprintf(e_rpc, sizeof e_rpc, "RPC_LISTEN=%s", campaign_url);
    snprintf(e_health, sizeof e_health, "HEALTH_LISTEN=http://127.0.0.1:%d", ts_free_port());
    snprintf(e_svc, sizeof e_svc, "CONTACTS_SVC_URL=%s", contacts_url);
    const char *campaign_env[] = {e_db, e_rpc, e_health, e_svc, e_wh, "RPC_WORKERS=6",
                                  "SCHEDULER_POLL_MS=100", NULL};
    g_campaign = ts_proc_start("campaign-svc", bin, NULL, campaign_env);

    ts_binary("gateway/gateway", bin, sizeof bin);
    snprintf(e_db, sizeof e_db, "DATABASE_URL=%s", ts_db_url(g_db, "gateway"));
    snprintf(e_port, sizeof e_port, "HTTP_PORT=%d", http_port);
    snprintf(e_health, sizeof e_health, "HEALTH_LISTEN=http://127.0.0.1:%d", ts_free_port());
    snprintf(e_svc, sizeof e_svc, "CONTACTS_SVC_URL=%s", contacts_url);
    snprintf(e_svc2, sizeof e_svc2, "CAMPAIGN_SVC_URL=%s", campaign_url);
    snprintf(e_svc3, sizeof e_svc3, "DIALER_SVC_URL=%s", dialer_urls);
    snprintf(e_public, sizeof e_public, "PUBLIC_BASE_URL=%s", g_base);
    const char *gateway_env[] = {e_db, "HTTP_BIND=127.0.0.1", e_port, e_health, e_svc, e_svc2,
                                 e_svc3, e_wh, e_public, "CARRIER_AUTH_TOKEN=" AUTH_TOKEN,
                                 "HTTP_THREADS=4", "RPC_TIMEOUT_MS=30000", NULL};
    g_gateway = ts_proc_start("gateway", bin, NULL, gateway_env);

    ts_binary("carrier-sim/carrier-sim", bin, sizeof bin);
    snprintf(e_sim, sizeof e_sim, "CARRIER_SIM_LISTEN=http://127.0.0.1:%d", sim_port);
    snprintf(e_health, sizeof e_health, "HEALTH_LISTEN=http://127.0.0.1:%d", sim_port);
    /* callbacks retried for ~16 s: longer than a gateway restart */
    const char *sim_env[] = {e_sim, e_health, "CARRIER_ACCOUNT_SID=" ACCOUNT_SID,
                             "CARRIER_AUTH_TOKEN=" AUTH_TOKEN, "CARRIER_SIM_RING_MS=50",
                             "CARRIER_SIM_TALK_MS=100", "CARRIER_SIM_CALLBACK_RETRIES=6",
                             "CARRIER_SIM_CALLBACK_BACKOFF_MS=250", NULL};
    g_sim = ts_proc_start("carrier-sim", bin, NULL, sim_env);

    ts_proc_wait_ready(g_webhook, 30000);
    ts_proc_wait_ready(g_contacts, 30000);
    ts_proc_wait_ready(g_campaign, 30000);
    for (int i = 0; i < DIALERS; i++)
        start_dialer(i, dialer_rpc[i], campaign_url, contacts_url, webhook_url);
    ts_proc_wait_ready(g_gateway, 30000);
    ts_proc_wait_ready(g_sim, 30000);
    for (int i = 0; i < DIALERS; i++)
        ts_proc_wait_ready(g_dialers[i], 30000);

    ts_org_create(g_db, "Dialing Org", "enterprise", g_org, sizeof g_org, g_key, sizeof g_key);
    ts_org_create(g_db, "Dialing Webhook Org", "enterprise", g_org_b, sizeof g_org_b, g_key_b,
                  sizeof g_key_b);
    static const char *const routes[] = {"/v1/contacts?limit=1", "/v1/dnc?limit=1",
                                         "/v1/agents", "/v1/campaigns", "/v1/calls",
                                         "/v1/webhooks", NULL};
    ts_wait_gateway_routes(g_base, g_key, routes, 15000);
    json_decref(api_ok("POST", "/v1/credits/purchase", g_key, "{\"amount\":10000}", 200));
    json_decref(api_ok("POST", "/v1/credits/purchase", g_key_b, "{\"amount\":1000}", 200));
    create_agent(g_key, g_agent, sizeof g_agent);
    create_agent(g_key_b, g_agent_b, sizeof g_agent_b);
}

static void stack_teardown(void)
{
    for (int i = 0; i < DIALERS; i++)
        ts_proc_free(g_dialers[i]);
    ts_proc_free(g_sim);
    ts_proc_free(g_gateway);
    ts_proc_free(g_campaign);
    ts_proc_free(g_contacts);
    ts_proc_free(g_webhook);
    receiver_stop(g_recv);
    ts_db_drop(g_db);
}

/* ---------------- 6. the call timeout (started first, checked later) ---------------- */

START_TEST(test_call_timeout_start)
{
    const char *numbers[] = {"+15556000100"}; /* "...00": answers and never hangs up */
    create_campaign(g_key, g_agent, "Timeout", "\"callsPerMinute\":600,\"maxRetries\":0,"
                    "\"callTimeoutMinutes\":1", g_timeout_campaign, sizeof g_timeout_campaign);
    upload_leads(g_key, g_timeout_campaign, numbers, 1);
    campaign_action(g_key, g_timeout_campaign, "start", "IN_PROGRESS");
}
END_TEST

/* ---------------- 7. callbacks with a bad signature ---------------- */

START_TEST(test_bad_signature_403)
{
    char url[160], sig[64], header[128];
    struct ts_http_res res;
    const char *body = "CallSid=CA0123&CallStatus=completed";
    long long before = ts_db_scalar(g_db, "SELECT count(*) FROM dialer.carrier_events WHERE call_id = 'call_nope' OR call_sid = 'CA0123'");
    const char *none[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
    const char *bad[] = {"Content-Type: application/x-www-form-urlencoded",
                         "X-Twilio-Signature: 0/KCTR6DLpKmkAf8muzZqo1nDgQ=", NULL};
    static const char *const paths[] = {"/v1/carrier/status", "/v1/carrier/twiml"};

    for (int p = 0; p < 2; p++) {
        snprintf(url, sizeof url, "%s%s?callId=call_nope", g_base, paths[p]);
        ck_assert_int_eq(ts_http("POST", url, none, body, strlen(body), &res), 0);
        ck_assert_msg(res.status == 403, "%s unsigned: %ld", paths[p], res.status);
        ts_http_res_free(&res);
        ck_assert_int_eq(ts_http("POST", url, bad, body, strlen(body), &res), 0);
        ck_assert_msg(res.status == 403, "%s badly signed: %ld", paths[p], res.status);
        ts_http_res_free(&res);
        /* signed for another URL (the query differs): also 403 */
        struct carrier_param params[] = {{"CallSid", "CA0123"}, {"CallStatus", "completed"}};
        char other[200];
        snprintf(other, sizeof other, "%s%s?callId=call_other", g_base, paths[p]);
        ck_assert_int_eq(carrier_signature(AUTH_TOKEN, other, params, 2, sig, sizeof sig), 0);
        snprintf(header, sizeof header, "X-Twilio-Signature: %s", sig);
        const char *wrong[] = {"Content-Type: application/x-www-form-urlencoded", header, NULL};
        ck_assert_int_eq(ts_http("POST", url, wrong, body, strlen(body), &res), 0);
        ck_assert_msg(res.status == 403, "%s signed for another URL: %ld", paths[p],
                      res.status);
        ts_http_res_free(&res);
        /* signed with another token */
        ck_assert_int_eq(carrier_signature("another_token", url, params, 2, sig, sizeof sig), 0);
        snprintf(header, sizeof header, "X-Twilio-Signature: %s", sig);
        ck_assert_int_eq(ts_http("POST", url, wrong, body, strlen(body), &res), 0);
        ck_assert_msg(res.status == 403, "%s signed with another token: %ld", paths[p],
                      res.status);
        ts_http_res_free(&res);
    }
    ck_assert_int_eq(ts_db_scalar(g_db, "SELECT count(*) FROM dialer.carrier_events WHERE call_id = 'call_nope' OR call_sid = 'CA0123'"), before);

    /* signed correctly: accepted (an unknown call is only kept for audit) */
    struct carrier_param params[] = {{"CallSid", "CA0123"}, {"CallStatus", "completed"}};
    snprintf(url, sizeof url, "%s/v1/carrier/status?callId=call_nope", g_base);
    ck_assert_int_eq(carrier_signature(AUTH_TOKEN, url, params, 2, sig, sizeof sig), 0);
    snprintf(header, sizeof header, "X-Twilio-Signature: %s", sig);
    const char *good[] = {"Content-Type: application/x-www-form-urlencoded", header, NULL};
    ck_assert_int_eq(ts_http("POST", url, good, body, strlen(body), &res), 0);
    ck_assert_msg(res.status == 204, "signed callback: %ld %s", res.status, res.body);
    ts_http_res_free(&res);
    ck_assert_int_eq(ts_db_scalar(g_db, "SELECT count(*) FROM dialer.carrier_events WHERE call_id = 'call_nope' OR call_sid = 'CA0123'"), before + 1);
}
END_TEST

/* ---------------- 1. the reference walkthrough (000 + 001) ---------------- */

START_TEST(test_walkthrough)
{
    static const char *const people[][2] = {
        {"Priya Sharma", "+919876500011"}, /* person, not_interested */
        {"Ravi Kumar", "+919876500012"},   /* person, callback_requested */
        {"Asha Patel", "+919876500013"},   /* person, interested */
        {"Vikram Rao", "+919876500016"},   /* busy: retried once, then FAILED */
        {"Meera Iyer", "+919876500019"},   /* voicemail: retried once, then COMPLETED */
    };
    enum { N = 5 };
    char ids[N][64], audience[64], campaign[64], path[256], body[1024];

    json_t *contacts = json_array();
    for (int i = 0; i < N; i++)
        json_array_append_new(contacts,
                              json_pack("{s:s, s:s, s:s, s:{s:s}}", "name", people[i][0],
                                        "phoneNumber", people[i][1], "language", "en-IN",
                                        "metadata", "city", "Mumbai"));
    json_t *bulk = json_pack("{s:o}", "contacts", contacts);
    char *text = json_dumps(bulk, JSON_COMPACT);
    json_t *j = api_ok("POST", "/v1/contacts/bulk", g_key, text, 200);
    free(text);
    json_decref(bulk);
    ck_assert_uint_eq(json_array_size(json_object_get(j, "contacts")), N);
    for (int i = 0; i < N; i++) {
        json_t *c = json_array_get(json_object_get(j, "contacts"), i);
        ck_assert_str_eq(jstr(c, "phoneNumber"), people[i][1]);
        snprintf(ids[i], sizeof ids[i], "%s", jstr(c, "id"));
    }
    json_decref(j);

    j = api_ok("POST", "/v1/audiences", g_key, "{\"name\":\"Mumbai Premium Customers\"}", 201);
    snprintf(audience, sizeof audience, "%s", jstr(j, "id"));
    json_decref(j);
    snprintf(path, sizeof path, "/v1/audiences/%s/contacts", audience);
    snprintf(body, sizeof body, "{\"contactIds\":[\"%s\",\"%s\",\"%s\",\"%s\",\"%s\"]}", ids[0],
             ids[1], ids[2], ids[3], ids[4]);
    json_decref(api_ok("POST", path, g_key, body, 200));

    /* the agent is a flow */
    char agent[64];
    create_agent(g_key, agent, sizeof agent);
    j = api_get(g_key, "/v1/flows?limit=100");
    bool found = false;
    json_t *f;
    size_t fi;
    json_array_foreach(json_object_get(j, "data"), fi, f)
    found |= strcmp(jstr(f, "id"), agent) == 0;
    ck_assert_msg(found, "GET /v1/flows does not list %s", agent);
    json_decref(j);

    snprintf(body, sizeof body,
             "{\"name\":\"Mumbai Outreach - March\",\"audienceId\":\"%s\",\"flowId\":\"%s\","
             "\"callsPerMinute\":600,\"maxConcurrentCalls\":3,\"maxRetries\":1,"
             "\"retryDelayMinutes\":0,\"callTimeoutMinutes\":2}",
             audience, agent);
    j = api_ok("POST", "/v1/campaigns", g_key, body, 201);
    snprintf(campaign, sizeof campaign, "%s", jstr(j, "id"));
    ck_assert_str_eq(jstr(j, "status"), "DRAFT");
    json_decref(j);

    snprintf(path, sizeof path, "/v1/campaigns/%s/start", campaign);
    j = api_ok("POST", path, g_key, NULL, 200);
    ck_assert_str_eq(jstr(j, "status"), "IN_PROGRESS");
    ck_assert_ptr_nonnull(jstr(j, "startedAt"));
    json_decref(j);

    /* progress while it runs, until COMPLETED */
    int64_t give_up = ts_now_ms() + 60000;
    for (;;) {
        json_t *p = progress(g_key, campaign);
        ck_assert_int_eq(jint(p, "total"), N);
        long long sum = jint(p, "pending") + jint(p, "queued") + jint(p, "inProgress") +
                        jint(p, "completed") + jint(p, "failed") + jint(p, "skipped");
        ck_assert_int_eq(sum, N);
        bool done = strcmp(jstr(p, "status"), "COMPLETED") == 0;
        if (done) {
            ck_assert_int_eq(jint(p, "completed"), 4);
            ck_assert_int_eq(jint(p, "failed"), 1);
            ck_assert_int_eq(jint(p, "percentComplete"), 100);
        }
        json_decref(p);
        if (done)
            break;
        ck_assert_msg(ts_now_ms() < give_up, "walkthrough campaign did not complete");
        ts_sleep_ms(150);
    }
    j = api_get(g_key, "/v1/campaigns/%s", campaign);
    ck_assert_str_eq(jstr(j, "status"), "COMPLETED");
    ck_assert_ptr_nonnull(jstr(j, "completedAt"));
    json_decref(j);

    /* the calls, with 001's fields: one record per attempt */
    j = api_get(g_key, "/v1/campaigns/%s/calls?limit=100", campaign);
    ck_assert_int_eq(jint(j, "total"), 7);
    ck_assert_int_eq(jint(j, "page"), 1);
    ck_assert_int_eq(jint(j, "limit"), 100);
    json_t *c, *data = json_object_get(j, "data");
    size_t ci;
    char answered[64] = "", answered_sid[64] = "";
    json_array_foreach(data, ci, c)
    {
        static const char *const keys[] = {"callSid", "contactId", "contactName", "phoneNumber",
                                           "status", "duration", "attempts", "startedAt",
                                           "completedAt"};
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
            ck_assert_msg(json_object_get(c, keys[k]) != NULL, "no %s in a call", keys[k]);
        ck_assert_msg(strncmp(jstr(c, "callSid"), "CA", 2) == 0, "callSid %s", jstr(c, "callSid"));
        int who = -1;
        for (int i = 0; i < N; i++)
            if (strcmp(jstr(c, "phoneNumber"), people[i][1]) == 0)
                who = i;
        ck_assert_int_ge(who, 0);
        ck_assert_str_eq(jstr(c, "contactId"), ids[who]);
        ck_assert_str_eq(jstr(c, "contactName"), people[who][0]);
        ck_assert_int_ge(jint(c, "attempts"), 1);
        ck_assert_int_le(jint(c, "attempts"), 2);
        ck_assert_int_ge(jint(c, "duration"), 0);
        ck_assert_msg(iso_ms(jstr(c, "startedAt")) > 0, "startedAt %s", jstr(c, "startedAt"));
        ck_assert_msg(iso_ms(jstr(c, "completedAt")) >= iso_ms(jstr(c, "startedAt")),
                      "completedAt before startedAt");
        const char *expect = who <= 2 ? "COMPLETED" : who == 3 ? "BUSY" : "VOICEMAIL";
        ck_assert_str_eq(jstr(c, "status"), expect);
        if (who == 2) {
            snprintf(answered, sizeof answered, "%s", jstr(c, "id"));
            snprintf(answered_sid, sizeof answered_sid, "%s", jstr(c, "callSid"));
        }
    }
    json_decref(j);
    ck_assert(answered[0] != '\0');

    /* one call, by id and by CallSid, with its transcript */
    j = api_get(g_key, "/v1/calls/%s", answered);
    ck_assert_str_eq(jstr(j, "callSid"), answered_sid);
    ck_assert_str_eq(jstr(j, "campaignId"), campaign);
    ck_assert_str_eq(jstr(j, "outcome"), "completed");
    ck_assert_str_eq(jstr(j, "disposition"), "interested");
    ck_assert_msg(jstr(j, "transcript") && strstr(jstr(j, "transcript"), "Agent:"),
                  "transcript: %s", jstr(j, "transcript"));
    char recording[256];
    ck_assert_ptr_nonnull(jstr(j, "recordingUrl"));
    snprintf(recording, sizeof recording, "%s", jstr(j, "recordingUrl"));
    json_decref(j);
    j = api_get(g_key, "/v1/calls/%s", answered_sid);
    ck_assert_str_eq(jstr(j, "id"), answered);
    json_decref(j);

    struct ts_http_res r;
    snprintf(path, sizeof path, "/v1/calls/%s/recording", answered);
    api(&r, "GET", path, g_key, NULL);
    ck_assert_msg(r.status == 302, "recording: %ld %s", r.status, r.body);
    ck_assert_str_eq(ts_http_header(&r, "Location"), recording);
    ts_http_res_free(&r);
    /* the recording is there at carrier-sim */
    const char *none[] = {NULL};
    ck_assert_int_eq(ts_http("GET", recording, none, NULL, 0, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ts_http_res_free(&r);

    j = api_get(g_key, "/v1/calls/%s/transcript", answered);
    ck_assert_str_eq(jstr(j, "id"), answered);
    ck_assert_ptr_nonnull(jstr(j, "transcript"));
    ck_assert_ptr_nonnull(jstr(j, "summary"));
    ck_assert_str_eq(jstr(j, "disposition"), "interested");
    json_decref(j);

    /* the report (OsmTalk) */
    j = api_get(g_key, "/api/campaigns/%s/report", campaign);
    ck_assert_str_eq(jstr(json_object_get(j, "campaign"), "id"), campaign);
    ck_assert_str_eq(jstr(json_object_get(j, "campaign"), "status"), "completed");
    json_t *by_status = json_object_get(json_object_get(j, "counts"), "byStatus");
    json_t *by_disp = json_object_get(json_object_get(j, "counts"), "byDisposition");
    ck_assert_int_eq(jint(by_status, "completed"), 4);
    ck_assert_int_eq(jint(by_status, "failed"), 1);
    ck_assert_int_eq(jint(by_disp, "interested"), 1);
    ck_assert_int_eq(jint(by_disp, "not_interested"), 1);
    ck_assert_int_eq(jint(by_disp, "callback_requested"), 1);
    /* only leads with a disposition are counted there: busy and voicemail have none */
    long long disp_total = 0;
    const char *k;
    json_t *v;
    json_object_foreach(by_disp, k, v)
    disp_total += json_integer_value(v);
    ck_assert_int_eq(disp_total, 3);
    json_decref(j);
}
END_TEST

/* ---------------- 2. retries ---------------- */

START_TEST(test_retries_by_outcome)
{
    char id[64], n[5][16];
    const char *numbers[] = {num(n[0], 20, 1, 1), num(n[1], 20, 2, 6), num(n[2], 20, 3, 7),
                             num(n[3], 20, 4, 8), num(n[4], 20, 5, 9)};
    create_campaign(g_key, g_agent, "Retries",
                    "\"callsPerMinute\":600,\"maxConcurrentCalls\":5,\"retryPolicy\":"
                    "{\"maxAttempts\":2,\"backoffMinutes\":0,\"retryOn\":[\"busy\",\"no_answer\"]}",
                    id, sizeof id);
    json_t *j = api_get(g_key, "/v1/campaigns/%s", id);
    ck_assert_int_eq(jint(j, "maxRetries"), 1);
    ck_assert_int_eq(jint(j, "retryDelayMinutes"), 0);
    json_decref(j);
    upload_leads(g_key, id, numbers, 5);
    campaign_action(g_key, id, "start", "IN_PROGRESS");
    wait_campaign(g_key, id, "COMPLETED", 60000);

    json_t *cl = calls(g_key, id), *ls = leads(g_key, id);
    /* person: once, completed */
    ck_assert_int_eq(calls_to(cl, numbers[0], NULL), 1);
    ck_assert_str_eq(jstr(lead_of(ls, numbers[0]), "status"), "completed");
    /* busy and no answer: retried once (maxAttempts 2), then failed */
    ck_assert_int_eq(calls_to(cl, numbers[1], "BUSY"), 2);
    /* retryDelayMinutes 0: the second attempt follows the first at once */
    int64_t first_end = -1, second_start = -1;
    json_t *c;
    size_t ci;
    json_array_foreach(cl, ci, c)
    if (strcmp(jstr(c, "phoneNumber"), numbers[1]) == 0) {
        if (jint(c, "attempts") == 1)
            first_end = iso_ms(jstr(c, "completedAt"));
        else if (jint(c, "attempts") == 2)
            second_start = iso_ms(jstr(c, "startedAt"));
    }
    ck_assert_msg(first_end > 0 && second_start >= first_end &&
                      second_start - first_end < 5000,
                  "busy retry: attempt 1 ended %lld, attempt 2 started %lld",
                  (long long)first_end, (long long)second_start);
    ck_assert_int_eq(calls_to(cl, numbers[2], "NO_ANSWER"), 2);
    for (int i = 1; i <= 2; i++) {
        json_t *l = lead_of(ls, numbers[i]);
        ck_assert_str_eq(jstr(l, "status"), "failed");
        ck_assert_int_eq(jint(l, "attempts"), 2);
    }
    ck_assert_str_eq(jstr(lead_of(ls, numbers[1]), "lastOutcome"), "busy");
    ck_assert_str_eq(jstr(lead_of(ls, numbers[2]), "lastOutcome"), "no_answer");
    /* failed and voicemail are not in retryOn: one attempt each */
    ck_assert_int_eq(calls_to(cl, numbers[3], "FAILED"), 1);
    ck_assert_str_eq(jstr(lead_of(ls, numbers[3]), "status"), "failed");
    ck_assert_int_eq(calls_to(cl, numbers[4], "VOICEMAIL"), 1);
    ck_assert_str_eq(jstr(lead_of(ls, numbers[4]), "status"), "completed");
    ck_assert_int_eq(json_array_size(cl), 7);
    json_decref(cl);
    json_decref(ls);
    /* carrier-sim saw exactly those calls */
    ck_assert_int_eq(sim_calls_prefix("+155520"), 7);
}
END_TEST

START_TEST(test_retry_delay_holds_back)
{
    char id[64], n[16];
    const char *numbers[] = {num(n, 21, 1, 6)}; /* busy */
    create_campaign(g_key, g_agent, "Retry later",
                    "\"callsPerMinute\":600,\"retryPolicy\":{\"maxAttempts\":2,"
                    "\"backoffMinutes\":5,\"retryOn\":[\"busy\"]}",
                    id, sizeof id);
    upload_leads(g_key, id, numbers, 1);
    campaign_action(g_key, id, "start", "IN_PROGRESS");
    /* the first attempt ends busy; the lead waits ~5 minutes */
    int64_t give_up = ts_now_ms() + 20000;
    json_t *ls, *l;
    for (;;) {
        ls = leads(g_key, id);
        l = lead_of(ls, numbers[0]);
        if (jint(l, "attempts") == 1 && strcmp(jstr(l, "status"), "pending") == 0 &&
            jstr(l, "lastOutcome") != NULL)
            break;
        json_decref(ls);
        ck_assert_msg(ts_now_ms() < give_up, "the first attempt did not end");
        ts_sleep_ms(100);
    }
    ck_assert_str_eq(jstr(l, "lastOutcome"), "busy");
    int64_t next = iso_ms(jstr(l, "nextAttemptAt")), now = ts_wall_ms();
    ck_assert_msg(next > now + 4 * 60000 && next < now + 5 * 60000 + 30000,
                  "nextAttemptAt %s is not ~5 minutes ahead", jstr(l, "nextAttemptAt"));
    json_decref(ls);
    ts_sleep_ms(3000);
    ck_assert_int_eq(sim_calls_prefix("+155521"), 1);
    json_t *cl = calls(g_key, id);
    ck_assert_int_eq(json_array_size(cl), 1);
    json_decref(cl);
    json_t *p = progress(g_key, id);
    ck_assert_str_eq(jstr(p, "status"), "IN_PROGRESS");
    ck_assert_int_eq(jint(p, "pending"), 1);
    json_decref(p);
    campaign_action(g_key, id, "cancel", "CANCELLED");
}
END_TEST

/* ---------------- 3. calling windows ---------------- */

/* "HH:MM" in Asia/Kolkata (UTC+05:30, no DST), offset minutes from now. */
static void kolkata_hhmm(int offset_min, char *buf, size_t size)
{
    int64_t m = ts_wall_ms() / 60000 + 330 + offset_min;
    int day_min = (int)(((m % 1440) + 1440) % 1440);
    snprintf(buf, size, "%02d:%02d", day_min / 60, day_min % 60);
}

START_TEST(test_closed_window_holds_calls)
{
    char closed[64], open[64], n[6][16], from[8], to[8], fields[512];
    const char *numbers_closed[] = {num(n[0], 30, 1, 1), num(n[1], 30, 2, 2), num(n[2], 30, 3, 3)};
    const char *numbers_open[] = {num(n[3], 31, 1, 1), num(n[4], 31, 2, 2), num(n[5], 31, 3, 3)};

    kolkata_hhmm(120, from, sizeof from);
    kolkata_hhmm(180, to, sizeof to);
    snprintf(fields, sizeof fields,
             "\"callsPerMinute\":600,\"timezone\":\"Asia/Kolkata\",\"schedule\":{"
             "\"windowStart\":\"%s\",\"windowEnd\":\"%s\"}",
             from, to);
    create_campaign(g_key, g_agent, "Closed window", fields, closed, sizeof closed);
    upload_leads(g_key, closed, numbers_closed, 3);
    campaign_action(g_key, closed, "start", "IN_PROGRESS");

    kolkata_hhmm(-60, from, sizeof from);
    kolkata_hhmm(60, to, sizeof to);
    snprintf(fields, sizeof fields,
             "\"callsPerMinute\":600,\"timezone\":\"Asia/Kolkata\",\"schedule\":{"
             "\"windowStart\":\"%s\",\"windowEnd\":\"%s\"}",
             from, to);
    create_campaign(g_key, g_agent, "Open window", fields, open, sizeof open);
    upload_leads(g_key, open, numbers_open, 3);
    campaign_action(g_key, open, "start", "IN_PROGRESS");

    /* the open one runs to the end ... */
    wait_campaign(g_key, open, "COMPLETED", 30000);
    json_t *p = progress(g_key, open);
    ck_assert_int_eq(jint(p, "completed"), 3);
    json_decref(p);
    ck_assert_int_eq(sim_calls_prefix("+155531"), 3);
    /* ... while the closed one holds every lead back */
    ts_sleep_ms(1500);
    ck_assert_int_eq(sim_calls_prefix("+155530"), 0);
    json_t *cl = calls(g_key, closed);
    ck_assert_int_eq(json_array_size(cl), 0);
    json_decref(cl);
    json_t *ls = leads(g_key, closed);
    ck_assert_int_eq(leads_with_status(ls, "pending"), 3);
    json_decref(ls);
    p = progress(g_key, closed);
    ck_assert_str_eq(jstr(p, "status"), "IN_PROGRESS");
    ck_assert_int_eq(jint(p, "pending"), 3);
    json_decref(p);

    /* a running campaign cannot be changed */
    struct ts_http_res r;
    char path[160];
    snprintf(path, sizeof path, "/v1/campaigns/%s", closed);
    api(&r, "PATCH", path, g_key, "{\"schedule\":null}");
    ck_assert_msg(r.status == 409, "PATCH of a running campaign: %ld %s", r.status, r.body);
    ts_http_res_free(&r);
    campaign_action(g_key, closed, "cancel", "CANCELLED");
    ls = leads(g_key, closed);
    ck_assert_int_eq(leads_with_status(ls, "cancelled"), 3);
    json_decref(ls);
}
END_TEST

/* ---------------- 4. pause, resume, cancel ---------------- */

START_TEST(test_pause_resume_cancel)
{
    enum { N = 30 };
    char id[64], n[N][16];
    const char *numbers[N];
    for (int i = 0; i < N; i++)
        numbers[i] = num(n[i], 40, i + 1, 1 + i % 5);
    /* one call a second */
    create_campaign(g_key, g_agent, "Pause me",
                    "\"callsPerMinute\":60,\"maxConcurrentCalls\":2,\"maxRetries\":0", id,
                    sizeof id);
    upload_leads(g_key, id, numbers, N);
    campaign_action(g_key, id, "start", "IN_PROGRESS");
    int64_t give_up = ts_now_ms() + 20000;
    while (sim_calls_prefix("+155540") < 3) {
        ck_assert_msg(ts_now_ms() < give_up, "no calls placed");
        ts_sleep_ms(50);
    }
    campaign_action(g_key, id, "pause", "PAUSED");
    /* a lead claimed just before the pause may still be dialed; then nothing */
    ts_sleep_ms(1000);
    long long at_pause = sim_calls_prefix("+155540");
    ts_sleep_ms(3000);
    ck_assert_int_eq(sim_calls_prefix("+155540"), at_pause);
    json_t *p = progress(g_key, id);
    ck_assert_str_eq(jstr(p, "status"), "PAUSED");
    ck_assert_int_ge(jint(p, "pending"), N - at_pause - 1);
    ck_assert_int_eq(jint(p, "inProgress") + jint(p, "queued"), 0); /* in-flight calls ended */
    json_decref(p);

    campaign_action(g_key, id, "resume", "IN_PROGRESS");
    give_up = ts_now_ms() + 10000;
    while (sim_calls_prefix("+155540") < at_pause + 2) {
        ck_assert_msg(ts_now_ms() < give_up, "no calls after resume");
        ts_sleep_ms(50);
    }
    campaign_action(g_key, id, "cancel", "CANCELLED");
    ts_sleep_ms(1000);
    long long at_cancel = sim_calls_prefix("+155540");
    ck_assert_int_lt(at_cancel, N);
    json_t *ls = leads(g_key, id);
    ck_assert_int_eq(leads_with_status(ls, "pending"), 0);
    ck_assert_int_eq(leads_with_status(ls, "queued"), 0);
    ck_assert_int_ge(leads_with_status(ls, "cancelled"), N - at_cancel);
    json_decref(ls);
    ts_sleep_ms(2000);
    ck_assert_int_eq(sim_calls_prefix("+155540"), at_cancel);
    json_t *j = api_get(g_key, "/v1/campaigns/%s", id);
    ck_assert_str_eq(jstr(j, "status"), "CANCELLED");
    json_decref(j);
    /* cancelled for good */
    struct ts_http_res r;
    char path[160];
    snprintf(path, sizeof path, "/v1/campaigns/%s/resume", id);
    api(&r, "POST", path, g_key, NULL);
    ck_assert_int_eq(r.status, 409);
    ts_http_res_free(&r);
}
END_TEST

/* ---------------- 5. DNC mid-run ---------------- */

START_TEST(test_dnc_mid_run)
{
    enum { N = 4 };
    char id[64], n[N][16], body[256];
    const char *numbers[N];
    for (int i = 0; i < N; i++)
        numbers[i] = num(n[i], 50, i + 1, 1 + i);
    create_campaign(g_key, g_agent, "DNC mid-run",
                    "\"callsPerMinute\":60,\"maxConcurrentCalls\":1,\"maxRetries\":0", id,
                    sizeof id);
    upload_leads(g_key, id, numbers, N);
    campaign_action(g_key, id, "start", "IN_PROGRESS");
    campaign_action(g_key, id, "pause", "PAUSED");
    /* the last lead is still pending: put its number on the DNC list */
    json_t *ls = leads(g_key, id);
    ck_assert_str_eq(jstr(lead_of(ls, numbers[N - 1]), "status"), "pending");
    json_decref(ls);
    snprintf(body, sizeof body,
             "{\"phoneNumber\":\"%s\",\"reason\":\"Customer asked mid-campaign\","
             "\"source\":\"manual\"}",
             numbers[N - 1]);
    json_decref(api_ok("POST", "/api/campaigns/dnc", g_key, body, 201));
    campaign_action(g_key, id, "resume", "IN_PROGRESS");
    wait_campaign(g_key, id, "COMPLETED", 30000);

    ls = leads(g_key, id);
    json_t *l = lead_of(ls, numbers[N - 1]);
    ck_assert_str_eq(jstr(l, "status"), "skipped");
    ck_assert_str_eq(jstr(l, "lastOutcome"), "dnc");
    ck_assert_int_eq(leads_with_status(ls, "completed"), N - 1);
    json_decref(ls);
    json_t *cl = calls(g_key, id);
    ck_assert_int_eq(calls_to(cl, numbers[N - 1], NULL), 0);
    ck_assert_int_eq(json_array_size(cl), N - 1);
    json_decref(cl);
    json_t *s = sim_stats();
    ck_assert_ptr_null(json_object_get(json_object_get(s, "byTo"), numbers[N - 1]));
    json_decref(s);
    json_t *p = progress(g_key, id);
    ck_assert_int_eq(jint(p, "skipped"), 1);
    json_decref(p);
}
END_TEST

/* ---------------- 8. webhook events ---------------- */

/* The first received body with this event (and campaign id in the payload), parsed. */
static json_t *find_event(const char *event, const char *campaign, struct received *out)
{
    size_t n = receiver_count(g_recv);
    for (size_t i = 0; i < n; i++) {
        struct received rec;
        if (!receiver_get(g_recv, i, &rec))
            continue;
        json_t *p = json_loads(rec.body, 0, NULL);
        const char *cid = jstr(p, "campaignId");
        if (cid == NULL)
            cid = jstr(json_object_get(p, "campaign"), "id");
        if (cid == NULL)
            cid = jstr(p, "id");
        if (p != NULL && jstr(p, "event") && strcmp(jstr(p, "event"), event) == 0 && cid &&
            strcmp(cid, campaign) == 0) {
            if (out)
                *out = rec;
            else
                receiver_received_free(&rec);
            return p;
        }
        json_decref(p);
        receiver_received_free(&rec);
    }
    return NULL;
}

START_TEST(test_webhook_events_signed)
{
    char url[160], body[512], wh[64], secret[128], id[64], n[2][16];
    const char *numbers[] = {num(n[0], 70, 1, 3), num(n[1], 70, 2, 6)}; /* person, busy */
    receiver_url(g_recv, "/outdial", url, sizeof url);
    snprintf(body, sizeof body, "{\"url\":\"%s\",\"events\":[\"*\"],\"description\":\"crm\"}",
             url);
    json_t *j = api_ok("POST", "/v1/webhooks", g_key_b, body, 201);
    snprintf(wh, sizeof wh, "%s", jstr(j, "id"));
    snprintf(secret, sizeof secret, "%s", jstr(j, "secret"));
    ck_assert_int_eq(strncmp(secret, "whsec_", 6), 0);
    json_decref(j);
    const char *secrets[] = {secret, NULL};
    receiver_set_secrets(g_recv, secrets);

    create_campaign(g_key_b, g_agent_b, "Webhooks",
                    "\"callsPerMinute\":600,\"maxRetries\":0", id, sizeof id);
    upload_leads(g_key_b, id, numbers, 2);
    campaign_action(g_key_b, id, "start", "IN_PROGRESS");
    wait_campaign(g_key_b, id, "COMPLETED", 30000);

    static const char *const events[] = {"campaign.started", "call.started", "call.completed",
                                         "call.failed", "campaign.lead_completed",
                                         "campaign.completed"};
    json_t *got[6] = {0};
    struct received recs[6];
    int64_t give_up = ts_now_ms() + 20000;
    for (;;) {
        bool all = true;
        for (int i = 0; i < 6; i++) {
            if (got[i] == NULL)
                got[i] = find_event(events[i], id, &recs[i]);
            all &= got[i] != NULL;
        }
        if (all)
            break;
        if (ts_now_ms() > give_up) {
            for (int i = 0; i < 6; i++)
                ck_assert_msg(got[i] != NULL, "%s not received (%zu requests)", events[i],
                              receiver_count(g_recv));
        }
        ts_sleep_ms(100);
    }
    ck_assert_uint_eq(receiver_bad_signatures(g_recv), 0);
    for (int i = 0; i < 6; i++) {
        ck_assert_msg(recs[i].n_signatures >= 1 && recs[i].n_valid == recs[i].n_signatures,
                      "%s: %d of %d signatures valid", events[i], recs[i].n_valid,
                      recs[i].n_signatures);
        ck_assert_msg(strncmp(recs[i].id, "evt_", 4) == 0, "webhook-id %s", recs[i].id);
        ck_assert_int_gt(recs[i].timestamp, 0);
        ck_assert_str_eq(jstr(got[i], "event"), events[i]);
        ck_assert_msg(iso_ms(jstr(got[i], "timestamp")) > 0, "%s timestamp", events[i]);
    }
    /* call.completed: the answered call, with what the agent reported */
    ck_assert_str_eq(jstr(got[2], "phoneNumber"), numbers[0]);
    ck_assert_str_eq(jstr(got[2], "outcome"), "completed");
    ck_assert_ptr_nonnull(jstr(got[2], "callSid"));
    ck_assert_ptr_nonnull(jstr(got[2], "transcript"));
    ck_assert_str_eq(jstr(got[2], "disposition"), "interested");
    ck_assert_str_eq(jstr(got[3], "phoneNumber"), numbers[1]);
    ck_assert_str_eq(jstr(got[3], "outcome"), "busy");
    /* campaign.lead_completed as in reference 003 */
    json_t *camp = json_object_get(got[4], "campaign"), *lead = json_object_get(got[4], "lead");
    ck_assert_str_eq(jstr(camp, "id"), id);
    ck_assert_str_eq(jstr(camp, "name"), "Webhooks");
    static const char *const lead_keys[] = {"id", "phoneNumber", "status", "disposition",
                                            "attempts", "callId", "outcome"};
    for (size_t k = 0; k < sizeof lead_keys / sizeof lead_keys[0]; k++)
        ck_assert_msg(json_object_get(lead, lead_keys[k]) != NULL, "lead_completed: no lead.%s",
                      lead_keys[k]);
    ck_assert_int_eq(jint(lead, "attempts"), 1);
    ck_assert(json_is_object(json_object_get(lead, "outcome")));
    ck_assert_msg(strncmp(jstr(lead, "id"), "lead_", 5) == 0, "lead id %s", jstr(lead, "id"));
    /* both leads reported */
    int lead_events = 0;
    for (size_t i = 0; i < receiver_count(g_recv); i++) {
        struct received rec;
        if (!receiver_get(g_recv, i, &rec))
            continue;
        json_t *p = json_loads(rec.body, 0, NULL);
        if (p && strcmp(jstr(p, "event"), "campaign.lead_completed") == 0 &&
            strcmp(jstr(json_object_get(p, "campaign"), "id"), id) == 0)
            lead_events++;
        json_decref(p);
        receiver_received_free(&rec);
    }
    ck_assert_int_ge(lead_events, 2);
    for (int i = 0; i < 6; i++) {
        json_decref(got[i]);
        receiver_received_free(&recs[i]);
    }
}
END_TEST

/* ---------------- 9b. the gateway restarted while callbacks arrive ---------------- */

START_TEST(test_gateway_restart)
{
    enum { N = 12 };
    char id[64], n[N][16];
    const char *numbers[N];
    for (int i = 0; i < N; i++)
        numbers[i] = num(n[i], 90, i + 1, (int[]){1, 2, 3, 6, 7, 9}[i % 6]);
    create_campaign(g_key, g_agent, "Gateway restart",
                    "\"callsPerMinute\":240,\"maxConcurrentCalls\":4,\"maxRetries\":0", id,
                    sizeof id);
    upload_leads(g_key, id, numbers, N);
    campaign_action(g_key, id, "start", "IN_PROGRESS");
    int64_t give_up = ts_now_ms() + 20000;
    while (sim_calls_prefix("+155590") < 2) {
        ck_assert_msg(ts_now_ms() < give_up, "no calls placed");
        ts_sleep_ms(20);
    }
    json_t *stats = sim_stats();
    long long retries_before = jint(stats, "callbackRetries");
    json_decref(stats);
    ts_proc_kill(g_gateway); /* callbacks for calls in flight now fail; carrier-sim retries */
    ts_sleep_ms(1500);
    ts_proc_restart(g_gateway);
    ts_proc_wait_ready(g_gateway, 30000);
    static const char *const routes[] = {"/v1/campaigns", "/v1/calls", NULL};
    ts_wait_gateway_routes(g_base, g_key, routes, 15000);
    wait_campaign(g_key, id, "COMPLETED", 60000);

    /* nothing lost: every lead ended, every attempt is a reported call record */
    json_t *ls = leads(g_key, id);
    ck_assert_int_eq(leads_with_status(ls, "completed") + leads_with_status(ls, "failed"), N);
    json_decref(ls);
    json_t *cl = calls(g_key, id), *c;
    size_t i;
    ck_assert_int_eq(json_array_size(cl), N);
    json_array_foreach(cl, i, c)
    {
        const char *st = jstr(c, "status");
        ck_assert_msg(strcmp(st, "COMPLETED") == 0 || strcmp(st, "BUSY") == 0 ||
                          strcmp(st, "NO_ANSWER") == 0 || strcmp(st, "VOICEMAIL") == 0,
                      "%s ended %s", jstr(c, "phoneNumber"), st);
        ck_assert_ptr_nonnull(jstr(c, "completedAt"));
    }
    json_decref(cl);
    ck_assert_int_eq(scalar_q("SELECT count(*) FROM dialer.calls WHERE campaign_id = '%s' AND "
                              "reported_at IS NULL", id), 0);
    ck_assert_int_eq(sim_calls_prefix("+155590"), N);
    /* callbacks did arrive while the gateway was down, and were delivered again */
    stats = sim_stats();
    ck_assert_int_gt(jint(stats, "callbackRetries"), retries_before);
    json_decref(stats);
}
END_TEST

/* ---------------- 6. the call timeout, checked ---------------- */

START_TEST(test_call_timeout_hangs_up)
{
    wait_campaign(g_key, g_timeout_campaign, "COMPLETED", 120000);
    json_t *cl = calls(g_key, g_timeout_campaign);
    ck_assert_int_eq(json_array_size(cl), 1);
    json_t *c = json_array_get(cl, 0);
    ck_assert_str_eq(jstr(c, "status"), "TIMED_OUT");
    int64_t lasted = iso_ms(jstr(c, "completedAt")) - iso_ms(jstr(c, "startedAt"));
    ck_assert_msg(lasted >= 59000 && lasted < 75000, "timed out after %lld ms",
                  (long long)lasted);
    json_t *one = api_get(g_key, "/v1/calls/%s", jstr(c, "id"));
    ck_assert_str_eq(jstr(one, "outcome"), "timeout");
    json_decref(one);
    json_decref(cl);
    json_t *ls = leads(g_key, g_timeout_campaign);
    json_t *l = json_array_get(json_object_get(ls, "data"), 0);
    ck_assert_str_eq(jstr(l, "lastOutcome"), "timeout");
    ck_assert_str_eq(jstr(l, "status"), "failed");
    json_decref(ls);
    /* the carrier was told to hang up: the call is no longer active there */
    int64_t give_up = ts_now_ms() + 5000;
    for (;;) {
        json_t *s = sim_stats();
        json_t *e = json_object_get(json_object_get(s, "byTo"), "+15556000100");
        long long active = json_integer_value(json_object_get(e, "concurrent"));
        json_decref(s);
        if (active == 0)
            break;
        ck_assert_msg(ts_now_ms() < give_up, "the timed-out call is still up at the carrier");
        ts_sleep_ms(100);
    }
}
END_TEST

/* No number was dialed more often than it has call records (no double dial for an attempt),
 * and every call record was reported to campaign-svc. */
START_TEST(test_no_double_dial)
{
    json_t *s = sim_stats(), *entry;
    const char *number;
    json_object_foreach(json_object_get(s, "byTo"), number, entry)
    {
        long long rows = scalar_q("SELECT count(*) FROM dialer.calls WHERE to_number = '%s' AND "
                                  "call_sid IS NOT NULL", number);
        ck_assert_msg(json_integer_value(json_object_get(entry, "calls")) <= rows,
                      "%s dialed %lld times for %lld call records", number,
                      (long long)json_integer_value(json_object_get(entry, "calls")), rows);
    }
    json_decref(s);
    ck_assert_int_eq(scalar_q("SELECT count(*) FROM dialer.calls WHERE completed_at IS NOT NULL "
                              "AND reported_at IS NULL AND campaign_id NOT IN (SELECT id FROM "
                              "campaign.campaigns WHERE status = 'CANCELLED')"),
                     0);
}
END_TEST

/* ---------------- 9a. the carrier down for a while ---------------- */

START_TEST(test_carrier_down)
{
    char down[64], mid[64], n[10][16];
    const char *numbers_down[] = {num(n[0], 80, 1, 1), num(n[1], 80, 2, 2), num(n[2], 80, 3, 3)};
    enum { M = 6 };
    const char *numbers_mid[M];
    for (int i = 0; i < M; i++)
        numbers_mid[i] = num(n[3 + i], 81, i + 1, 1 + i % 5);

    /* down before the start: every attempt is a carrier error; retried per policy, then
     * FAILED; the campaign completes */
    ts_proc_kill(g_sim);
    create_campaign(g_key, g_agent, "Carrier down",
                    "\"callsPerMinute\":600,\"retryPolicy\":{\"maxAttempts\":2,"
                    "\"backoffMinutes\":0}",
                    down, sizeof down);
    upload_leads(g_key, down, numbers_down, 3);
    campaign_action(g_key, down, "start", "IN_PROGRESS");
    wait_campaign(g_key, down, "COMPLETED", 60000);
    json_t *ls = leads(g_key, down);
    for (int i = 0; i < 3; i++) {
        json_t *l = lead_of(ls, numbers_down[i]);
        ck_assert_str_eq(jstr(l, "status"), "failed");
        ck_assert_int_eq(jint(l, "attempts"), 2);
        ck_assert_str_eq(jstr(l, "lastOutcome"), "carrier_error");
    }
    json_decref(ls);
    json_t *cl = calls(g_key, down), *c;
    size_t i;
    ck_assert_int_eq(json_array_size(cl), 6);
    json_array_foreach(cl, i, c)
    ck_assert_str_eq(jstr(c, "status"), "FAILED");
    json_decref(cl);

    /* down mid-run, with calls in flight: the lost calls end as carrier errors once the
     * carrier (restarted, without them) is asked; retries reach everyone */
    ts_proc_restart(g_sim);
    ts_proc_wait_ready(g_sim, 30000);
    create_campaign(g_key, g_agent, "Carrier down mid-run",
                    "\"callsPerMinute\":120,\"maxConcurrentCalls\":3,\"retryPolicy\":{"
                    "\"maxAttempts\":4,\"backoffMinutes\":0}",
                    mid, sizeof mid);
    upload_leads(g_key, mid, numbers_mid, M);
    campaign_action(g_key, mid, "start", "IN_PROGRESS");
    int64_t give_up = ts_now_ms() + 20000;
    while (sim_calls_prefix("+155581") < 2) {
        ck_assert_msg(ts_now_ms() < give_up, "no calls placed");
        ts_sleep_ms(20);
    }
    ts_proc_kill(g_sim);
    ts_sleep_ms(1000);
    ts_proc_restart(g_sim);
    ts_proc_wait_ready(g_sim, 30000);
    wait_campaign(g_key, mid, "COMPLETED", 60000);
    ls = leads(g_key, mid);
    ck_assert_int_eq(leads_with_status(ls, "completed") + leads_with_status(ls, "failed"), M);
    ck_assert_int_ge(leads_with_status(ls, "completed"), 1);
    json_t *l;
    json_array_foreach(json_object_get(ls, "data"), i, l)
    ck_assert_int_le(jint(l, "attempts"), 4);
    json_decref(ls);
    cl = calls(g_key, mid);
    int errors = 0;
    json_array_foreach(cl, i, c)
    {
        ck_assert_ptr_nonnull(jstr(c, "completedAt"));
        errors += strcmp(jstr(c, "status"), "FAILED") == 0;
    }
    ck_assert_msg(errors >= 1, "no attempt failed while the carrier was down");
    json_decref(cl);
    ck_assert_int_eq(scalar_q("SELECT count(*) FROM dialer.calls WHERE campaign_id = '%s' AND "
                              "reported_at IS NULL", mid), 0);

    /* frozen (SIGSTOP) for longer than the driver's timeout: requests hang, then time out;
     * the carrier works through them when it wakes. Nothing hangs, and no contact ends up
     * dialed without a call record that says so. */
    char frozen[64], fn[4][16];
    const char *numbers_frozen[4];
    for (int f = 0; f < 4; f++)
        numbers_frozen[f] = num(fn[f], 82, f + 1, 1 + f);
    create_campaign(g_key, g_agent, "Carrier frozen",
                    "\"callsPerMinute\":120,\"maxConcurrentCalls\":2,\"retryPolicy\":{"
                    "\"maxAttempts\":3,\"backoffMinutes\":0}",
                    frozen, sizeof frozen);
    upload_leads(g_key, frozen, numbers_frozen, 4);
    ts_proc_signal(g_sim, SIGSTOP);
    campaign_action(g_key, frozen, "start", "IN_PROGRESS");
    ts_sleep_ms(8000);
    ts_proc_signal(g_sim, SIGCONT);
    wait_campaign(g_key, frozen, "COMPLETED", 60000);
    ts_sleep_ms(2000); /* late callbacks of calls the carrier placed on waking */
    cl = calls(g_key, frozen);
    char dump[4096] = "";
    json_array_foreach(cl, i, c)
    {
        size_t len = strlen(dump);
        snprintf(dump + len, sizeof dump - len, "%s#%lld %s %s; ", jstr(c, "phoneNumber"),
                 jint(c, "attempts"), jstr(c, "status"),
                 jstr(c, "callSid") ? jstr(c, "callSid") : "-");
    }
    json_decref(cl);
    fprintf(stderr, "frozen: %s\n", dump);
    json_t *stats = sim_stats();
    for (int f = 0; f < 4; f++) {
        long long dialed = json_integer_value(json_object_get(
            json_object_get(json_object_get(stats, "byTo"), numbers_frozen[f]), "calls"));
        long long rows = scalar_q("SELECT count(*) FROM dialer.calls WHERE to_number = '%s' "
                                  "AND call_sid IS NOT NULL", numbers_frozen[f]);
        ck_assert_msg(dialed <= rows, "%s dialed %lld times, %lld call records with a CallSid: %s",
                      numbers_frozen[f], dialed, rows, dump);
        /* a person answers the first call that reaches them: one call, never a second one
         * because a create timed out while the carrier was frozen */
        ck_assert_msg(dialed == 1, "%s dialed %lld times: %s", numbers_frozen[f], dialed, dump);
    }
    json_decref(stats);
    ls = leads(g_key, frozen);
    ck_assert_int_eq(leads_with_status(ls, "completed"), 4);
    json_decref(ls);
}
END_TEST

START_TEST(test_clean_shutdown)
{
    for (int i = 0; i < DIALERS; i++)
        ts_proc_stop_ok(g_dialers[i]);
    ts_proc_stop_ok(g_gateway);
    ts_proc_stop_ok(g_sim);
    ts_proc_stop_ok(g_campaign);
    ts_proc_stop_ok(g_contacts);
    ts_proc_stop_ok(g_webhook);
}
END_TEST

/* Prints when each test starts, to keep an eye on the file's runtime. */
static int64_t g_t0;
static int g_test_no;
static void test_clock(void)
{
    fprintf(stderr, "[dialing_api] test %d starts at %.1f s\n", ++g_test_no,
            (double)(ts_now_ms() - g_t0) / 1000.0);
}

int main(void)
{
    g_t0 = ts_now_ms();
    ts_init("dialing_api");
    Suite *s = suite_create("dialing_api");
    TCase *tc = tcase_create("stack");
    tcase_add_unchecked_fixture(tc, stack_setup, stack_teardown);
    tcase_set_timeout(tc, 0);
    tcase_add_checked_fixture(tc, test_clock, NULL);
    tcase_add_test(tc, test_call_timeout_start);
    tcase_add_test(tc, test_bad_signature_403);
    tcase_add_test(tc, test_walkthrough);
    tcase_add_test(tc, test_retries_by_outcome);
    tcase_add_test(tc, test_retry_delay_holds_back);
    tcase_add_test(tc, test_closed_window_holds_calls);
    tcase_add_test(tc, test_pause_resume_cancel);
    tcase_add_test(tc, test_dnc_mid_run);
    tcase_add_test(tc, test_webhook_events_signed);
    tcase_add_test(tc, test_gateway_restart);
    tcase_add_test(tc, test_call_timeout_hangs_up);
    tcase_add_test(tc, test_no_double_dial);
    tcase_add_test(tc, test_carrier_down);
    tcase_add_test(tc, test_clean_shutdown);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_VERBOSE);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return ts_finish(failed);
}
