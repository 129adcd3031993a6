/* dialer-svc against the real stack: contacts-svc, campaign-svc, one or three dialer-svc
 * replicas, the gateway (which receives the carrier's callbacks) and carrier-sim (the carrier,
 * which also plays the voice agent), each on fresh ports against one throwaway database.
 *
 * Numbers choose what carrier-sim plays by their last digit: 0-5 a person answers, 6 busy,
 * 7 no answer, 8 failed, 9 voicemail; "00" answers and never hangs up. */
#include <check.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "campaigns.pb-c.h"
#include "carrier.h"
#include "dnc.pb-c.h"
#include "od_names.h"
#include "rpc.h"
#include "testsupport.h"

#define RPC_TIMEOUT_MS 30000
#define AUTH_TOKEN "test_auth_token_0123456789"
#define ACCOUNT_SID "ACtest0123456789abcdef0123456789ab"
#define DIALERS 3

static struct ts_db *g_db;
static struct ts_proc *g_contacts, *g_campaign, *g_gateway, *g_sim, *g_dialers[DIALERS];
static struct rpc_client *g_campaign_client, *g_contacts_client;
static char g_base[64], g_sim_base[64], g_org[64], g_key[128];
static char g_campaign_url[64], g_contacts_url[64];
static int g_dialer_rpc[DIALERS], g_dialer_health[DIALERS];

#define ck_status(ctx, expected)                                                               \
    ck_assert_msg((ctx).status == (expected), "expected %s, got %s: %s",                      \
                  rpc_status_name(expected), rpc_status_name((ctx).status), (ctx).message)

/* Dialer replica i; with failpoint, it exits at that step (lib/failpoint.h) as if killed.
 * A create lease of 4 s (over a 2 s carrier timeout) lets the crash tests see rows of a dead
 * replica recovered in seconds; the campaign-svc lease stays the default (call timeout plus
 * 120 s), so a test that completes sooner shows the recovery did not wait for it. */
static void start_dialer(int i, const char *failpoint)
{
    char bin[PATH_MAX], e_db[700], e_rpc[80], e_health[80], e_camp[96], e_cont[96], e_carrier[96],
        e_public[96], e_id[48], e_fail[96], name[32];
    ts_binary("dialer-svc/dialer-svc", bin, sizeof bin);
    snprintf(e_db, sizeof e_db, "DATABASE_URL=%s", ts_db_url(g_db, "dialer"));
    snprintf(e_rpc, sizeof e_rpc, "RPC_LISTEN=tcp://127.0.0.1:%d", g_dialer_rpc[i]);
    snprintf(e_health, sizeof e_health, "HEALTH_LISTEN=http://127.0.0.1:%d", g_dialer_health[i]);
    snprintf(e_camp, sizeof e_camp, "CAMPAIGN_SVC_URL=%s", g_campaign_url);
    snprintf(e_cont, sizeof e_cont, "CONTACTS_SVC_URL=%s", g_contacts_url);
    snprintf(e_carrier, sizeof e_carrier, "CARRIER_BASE_URL=%s", g_sim_base);
    snprintf(e_public, sizeof e_public, "PUBLIC_BASE_URL=%s", g_base);
    snprintf(e_id, sizeof e_id, "DIALER_ID=dialer-%d", i + 1);
    snprintf(name, sizeof name, "dialer-svc-%d", i + 1);
    snprintf(e_fail, sizeof e_fail, "OUTDIAL_FAILPOINT=%s", failpoint ? failpoint : "");
    const char *env[] = {e_db, e_rpc, e_health, e_camp, e_cont, e_carrier, e_public, e_id,
                         "CARRIER_ACCOUNT_SID=" ACCOUNT_SID, "CARRIER_AUTH_TOKEN=" AUTH_TOKEN,
                         "CARRIER_DEFAULT_FROM=+15550001111", "DIALER_CAPACITY=10",
                         "DIALER_SWEEP_MS=200", "DIALER_STALE_MS=5000", "DIALER_POLL_MS=50",
                         "DIALER_GRACE_MS=2000", "OUTCOME_WAIT_MS=3000", "RPC_WORKERS=4",
                         "CARRIER_TIMEOUT_MS=2000", "DIALER_CREATE_LEASE_SECONDS=4",
                         "WEBHOOK_SVC_URL=", e_fail, NULL};
    g_dialers[i] = ts_proc_start(name, bin, NULL, env);
}

static void stack_setup(void)
{
    char bin[PATH_MAX], e_db[700], e_rpc[80], e_health[80], e_svc[96], e_svc2[96], e_svc3[300],
        e_port[40], e_sim[96], e_public[96];
    int contacts_rpc = ts_free_port(), campaign_rpc = ts_free_port(), http_port = ts_free_port(),
        sim_port = ts_free_port();
    char dialer_urls[256] = "";

    g_db = ts_db_create();
    snprintf(g_contacts_url, sizeof g_contacts_url, "tcp://127.0.0.1:%d", contacts_rpc);
    snprintf(g_campaign_url, sizeof g_campaign_url, "tcp://127.0.0.1:%d", campaign_rpc);
    snprintf(g_base, sizeof g_base, "http://127.0.0.1:%d", http_port);
    snprintf(g_sim_base, sizeof g_sim_base, "http://127.0.0.1:%d", sim_port);
    for (int i = 0; i < DIALERS; i++) {
        g_dialer_rpc[i] = ts_free_port();
        g_dialer_health[i] = ts_free_port();
        size_t len = strlen(dialer_urls);
        snprintf(dialer_urls + len, sizeof dialer_urls - len, "%stcp://127.0.0.1:%d",
                 i ? "," : "", g_dialer_rpc[i]);
    }

    ts_binary("contacts-svc/contacts-svc", bin, sizeof bin);
    snprintf(e_db, sizeof e_db, "DATABASE_URL=%s", ts_db_url(g_db, "contacts"));
    snprintf(e_rpc, sizeof e_rpc, "RPC_LISTEN=%s", g_contacts_url);
    snprintf(e_health, sizeof e_health, "HEALTH_LISTEN=http://127.0.0.1:%d", ts_free_port());
    const char *contacts_env[] = {e_db, e_rpc, e_health, "RPC_WORKERS=4", "WEBHOOK_SVC_URL=",
                                  NULL};
    g_contacts = ts_proc_start("contacts-svc", bin, NULL, contacts_env);

    ts_binary("campaign-svc/campaign-svc", bin, sizeof bin);
    snprintf(e_db, sizeof e_db, "DATABASE_URL=%s", ts_db_url(g_db, "campaign"));
    snprintf(e_rpc, sizeof e_rpc, "RPC_LISTEN=%s", g_campaign_url);
    snprintf(e_health, sizeof e_health, "HEALTH_LISTEN=http://127.0.0.1:%d", ts_free_port());
    snprintf(e_svc, sizeof e_svc, "CONTACTS_SVC_URL=%s", g_contacts_url);
    const char *campaign_env[] = {e_db, e_rpc, e_health, e_svc, "RPC_WORKERS=4",
                                  "SCHEDULER_POLL_MS=100", "WEBHOOK_SVC_URL=", NULL};
    g_campaign = ts_proc_start("campaign-svc", bin, NULL, campaign_env);

    ts_binary("gateway/gateway", bin, sizeof bin);
    snprintf(e_db, sizeof e_db, "DATABASE_URL=%s", ts_db_url(g_db, "gateway"));
    snprintf(e_port, sizeof e_port, "HTTP_PORT=%d", http_port);
    snprintf(e_health, sizeof e_health, "HEALTH_LISTEN=http://127.0.0.1:%d", ts_free_port());
    snprintf(e_svc, sizeof e_svc, "CONTACTS_SVC_URL=%s", g_contacts_url);
    snprintf(e_svc2, sizeof e_svc2, "CAMPAIGN_SVC_URL=%s", g_campaign_url);
    snprintf(e_svc3, sizeof e_svc3, "DIALER_SVC_URL=%s", dialer_urls);
    snprintf(e_public, sizeof e_public, "PUBLIC_BASE_URL=%s", g_base);
    const char *gateway_env[] = {e_db, "HTTP_BIND=127.0.0.1", e_port, e_health, e_svc, e_svc2,
                                 e_svc3, e_public, "CARRIER_AUTH_TOKEN=" AUTH_TOKEN,
                                 "HTTP_THREADS=4", "RPC_TIMEOUT_MS=30000", NULL};
    g_gateway = ts_proc_start("gateway", bin, NULL, gateway_env);

    /* carrier-sim: its settings as carrier-sim/main.c reads them */
    ts_binary("carrier-sim/carrier-sim", bin, sizeof bin);
    snprintf(e_sim, sizeof e_sim, "CARRIER_SIM_LISTEN=http://127.0.0.1:%d", sim_port);
    snprintf(e_health, sizeof e_health, "HEALTH_LISTEN=http://127.0.0.1:%d", sim_port);
    const char *sim_env[] = {e_sim, e_health, "CARRIER_ACCOUNT_SID=" ACCOUNT_SID,
                             "CARRIER_AUTH_TOKEN=" AUTH_TOKEN, "CARRIER_SIM_RING_MS=200",
                             "CARRIER_SIM_TALK_MS=500", NULL};
    g_sim = ts_proc_start("carrier-sim", bin, NULL, sim_env);

    ts_proc_wait_ready(g_contacts, 30000);
    ts_proc_wait_ready(g_campaign, 30000);
    ts_proc_wait_ready(g_gateway, 30000);
    ts_proc_wait_ready(g_sim, 30000);
    ts_org_create(g_db, "Dialer Org", "enterprise", g_org, sizeof g_org, g_key, sizeof g_key);
    g_campaign_client = rpc_client_open(NULL, g_campaign_url);
    g_contacts_client = rpc_client_open(NULL, g_contacts_url);
    ck_assert_ptr_nonnull(g_campaign_client);
    ck_assert_ptr_nonnull(g_contacts_client);
}

static void stack_teardown(void)
{
    for (int i = 0; i < DIALERS; i++)
        ts_proc_free(g_dialers[i]);
    ts_proc_free(g_sim);
    ts_proc_free(g_gateway);
    ts_proc_free(g_campaign);
    ts_proc_free(g_contacts);
    rpc_client_close(g_campaign_client);
    rpc_client_close(g_contacts_client);
    ts_db_drop(g_db);
}

static ProtobufCService *svc(const ProtobufCServiceDescriptor *d)
{
    return rpc_client_service_for(g_campaign_client, d);
}

/* An agent, a campaign with uploaded leads (numbers), started. */
static void campaign_start(const char *const *numbers, int n, int max_retries,
                           int max_concurrent, int timeout_minutes, char *id, size_t id_size)
{
    struct rpc_ctx ctx;
    char agent[64];
    Od__AgentInput a = OD__AGENT_INPUT__INIT;
    a.name = "Agent";
    a.first_message = "Hello";
    a.runtime_url = "wss://agent.example/stream";
    a.variables_json = "{}";
    rpc_ctx_init(&ctx, g_org, "t-agent", RPC_TIMEOUT_MS);
    od__agents__create(svc(&od__agents__descriptor), &a, NULL, &ctx);
    ck_status(ctx, OD__STATUS__OK);
    snprintf(agent, sizeof agent, "%s", ((Od__Agent *)ctx.reply)->id);
    rpc_ctx_release(&ctx);

    Od__CreditAmountRequest g = OD__CREDIT_AMOUNT_REQUEST__INIT;
    g.amount = 100000;
    g.reason = "grant";
    rpc_ctx_init(&ctx, g_org, "t-grant", RPC_TIMEOUT_MS);
    od__credits__grant(svc(&od__credits__descriptor), &g, NULL, &ctx);
    ck_status(ctx, OD__STATUS__OK);
    rpc_ctx_release(&ctx);

    Od__CampaignInput c = OD__CAMPAIGN_INPUT__INIT;
    c.name = "Dialer test";
    c.flow_id = agent;
    c.calls_per_minute = 600;
    c.max_concurrent_calls = max_concurrent;
    c.max_retries = max_retries;
    c.retry_delay_minutes = 0;
    c.call_timeout_minutes = timeout_minutes;
    c.set_name = c.set_flow_id = c.set_calls_per_minute = c.set_max_concurrent_calls = true;
    c.set_max_retries = c.set_retry_delay_minutes = c.set_call_timeout_minutes = true;
    rpc_ctx_init(&ctx, g_org, "t-campaign", RPC_TIMEOUT_MS);
    od__campaigns__create(svc(&od__campaigns__descriptor), &c, NULL, &ctx);
    ck_status(ctx, OD__STATUS__OK);
    snprintf(id, id_size, "%s", ((Od__Campaign *)ctx.reply)->id);
    rpc_ctx_release(&ctx);

    Od__UploadLeadsRequest up = OD__UPLOAD_LEADS_REQUEST__INIT;
    Od__LeadInput *inputs = calloc((size_t)n, sizeof *inputs), **ptrs = calloc((size_t)n, sizeof *ptrs);
    for (int i = 0; i < n; i++) {
        od__lead_input__init(&inputs[i]);
        inputs[i].phone_number = (char *)numbers[i];
        inputs[i].name = "Lead";
        inputs[i].variables_json = "{\"plan\":\"gold & silver\"}";
        ptrs[i] = &inputs[i];
    }
    up.campaign_id = id;
    up.n_leads = (size_t)n;
    up.leads = ptrs;
    rpc_ctx_init(&ctx, g_org, "t-upload", RPC_TIMEOUT_MS);
    od__leads__upload(svc(&od__leads__descriptor), &up, NULL, &ctx);
    ck_status(ctx, OD__STATUS__OK);
    ck_assert_int_eq(((Od__UploadLeadsReply *)ctx.reply)->inserted, n);
    rpc_ctx_release(&ctx);
    free(inputs);
    free(ptrs);

    Od__CampaignActionRequest act = OD__CAMPAIGN_ACTION_REQUEST__INIT;
    act.id = id;
    act.action = "start";
    rpc_ctx_init(&ctx, g_org, "t-start", RPC_TIMEOUT_MS);
    od__campaigns__act(svc(&od__campaigns__descriptor), &act, NULL, &ctx);
    ck_status(ctx, OD__STATUS__OK);
    rpc_ctx_release(&ctx);
}

static void campaign_wait_completed(const char *id, int timeout_ms)
{
    int64_t give_up = ts_now_ms() + timeout_ms;
    Od__IdRequest in = OD__ID_REQUEST__INIT;
    in.id = (char *)id;
    for (;;) {
        struct rpc_ctx ctx;
        rpc_ctx_init(&ctx, g_org, "t-progress", RPC_TIMEOUT_MS);
        od__campaigns__get_progress(svc(&od__campaigns__descriptor), &in, NULL, &ctx);
        ck_status(ctx, OD__STATUS__OK);
        bool done = strcmp(((Od__Progress *)ctx.reply)->status, CAMPAIGN_COMPLETED) == 0;
        rpc_ctx_release(&ctx);
        if (done)
            return;
        ck_assert_msg(ts_now_ms() < give_up, "campaign %s not COMPLETED within %d ms", id,
                      timeout_ms);
        ts_sleep_ms(200);
    }
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

/* carrier-sim's /sim/stats: no number got more calls than attempts were made for it. */
static void check_sim_stats(int max_concurrent)
{
    struct ts_http_res res;
    char url[128];
    snprintf(url, sizeof url, "%s/sim/stats", g_sim_base);
    ck_assert_int_eq(ts_http("GET", url, NULL, NULL, 0, &res), 0);
    ck_assert_int_eq(res.status, 200);
    ck_assert_ptr_nonnull(res.json);
    json_t *by_to = json_object_get(res.json, "byTo");
    const char *number;
    json_t *entry;
    json_object_foreach(by_to, number, entry)
    {
        long long attempts = scalar_q("SELECT count(*) FROM dialer.calls WHERE to_number = '%s' "
                                      "AND call_sid IS NOT NULL", number);
        ck_assert_msg(json_integer_value(json_object_get(entry, "calls")) <= attempts,
                      "%s dialed %lld times for %lld attempts", number,
                      (long long)json_integer_value(json_object_get(entry, "calls")), attempts);
    }
    if (max_concurrent > 0)
        ck_assert_int_le(json_integer_value(json_object_get(res.json, "maxConcurrent")),
                         max_concurrent);
    ts_http_res_free(&res);
}

START_TEST(test_bad_signature_403)
{
    char url[128], sig[64], header[128];
    struct ts_http_res res;
    const char *body = "CallSid=CA0123&CallStatus=completed";
    /* a dialer applies the dialer schema's migrations: start one before counting rows */
    start_dialer(0, NULL);
    ts_proc_wait_ready(g_dialers[0], 30000);
    long long before = ts_db_scalar(g_db, "SELECT count(*) FROM dialer.carrier_events");
    const char *form[] = {"Content-Type: application/x-www-form-urlencoded", NULL};

    snprintf(url, sizeof url, "%s/v1/carrier/status?callId=call_nope", g_base);
    ck_assert_int_eq(ts_http("POST", url, form, body, strlen(body), &res), 0);
    ck_assert_int_eq(res.status, 403);
    ts_http_res_free(&res);

    const char *bad[] = {"Content-Type: application/x-www-form-urlencoded",
                         "X-Twilio-Signature: 0/KCTR6DLpKmkAf8muzZqo1nDgQ=", NULL};
    ck_assert_int_eq(ts_http("POST", url, bad, body, strlen(body), &res), 0);
    ck_assert_int_eq(res.status, 403);
    ts_http_res_free(&res);
    snprintf(url, sizeof url, "%s/v1/carrier/twiml?callId=call_nope", g_base);
    ck_assert_int_eq(ts_http("POST", url, bad, body, strlen(body), &res), 0);
    ck_assert_int_eq(res.status, 403);
    ts_http_res_free(&res);
    ck_assert_int_eq(ts_db_scalar(g_db, "SELECT count(*) FROM dialer.carrier_events"), before);

    /* signed correctly: accepted (an unknown call is only kept for audit) */
    struct carrier_param params[] = {{"CallSid", "CA0123"}, {"CallStatus", "completed"}};
    snprintf(url, sizeof url, "%s/v1/carrier/status?callId=call_nope", g_base);
    ck_assert_int_eq(carrier_signature(AUTH_TOKEN, url, params, 2, sig, sizeof sig), 0);
    snprintf(header, sizeof header, "X-Twilio-Signature: %s", sig);
    const char *good[] = {"Content-Type: application/x-www-form-urlencoded", header, NULL};
    /* the gateway dials the new dialer in the background: 503 (nothing recorded) until then */
    for (int64_t give_up = ts_now_ms() + 10000;;) {
        ck_assert_int_eq(ts_http("POST", url, good, body, strlen(body), &res), 0);
        if (res.status != 503 || ts_now_ms() > give_up)
            break;
        ts_http_res_free(&res);
        ts_sleep_ms(100);
    }
    ck_assert_msg(res.status == 204, "signed callback: %ld %s", res.status, res.body);
    ts_http_res_free(&res);
    ck_assert_int_eq(ts_db_scalar(g_db, "SELECT count(*) FROM dialer.carrier_events"), before + 1);
}
END_TEST

/* Person, busy and voicemail (each retried once), no answer, failed; a DNC-listed number is
 * skipped. */
START_TEST(test_campaign_outcomes)
{
    static const char *const numbers[] = {"+15550100001", "+15550100002", "+15550100006",
                                          "+15550100007", "+15550100009", "+15550100008",
                                          "+15550100003"};
    char id[64], url[256], auth[160];
    struct rpc_ctx ctx;
    struct ts_http_res res;

    /* the last number goes on the DNC list after upload: the dial-time check skips it */
    Od__DncEntryInput d = OD__DNC_ENTRY_INPUT__INIT;
    d.phone_number = "+15550100003";
    d.reason = "asked";
    if (g_dialers[0] == NULL || !ts_proc_running(g_dialers[0])) {
        ts_proc_free(g_dialers[0]);
        start_dialer(0, NULL);
    }
    ts_proc_wait_ready(g_dialers[0], 30000);
    rpc_ctx_init(&ctx, g_org, "t-dnc", RPC_TIMEOUT_MS);
    od__dnc__add(rpc_client_service_for(g_contacts_client, &od__dnc__descriptor), &d, NULL, &ctx);
    ck_status(ctx, OD__STATUS__OK);
    rpc_ctx_release(&ctx);

    campaign_start(numbers, 7, 1, 3, 1, id, sizeof id);
    campaign_wait_completed(id, 90000);

    ck_assert_int_eq(scalar_q("SELECT count(*) FROM dialer.calls WHERE campaign_id = '%s' AND "
                              "to_number = '+15550100003'", id), 0);
    ck_assert_int_eq(scalar_q("SELECT count(*) FROM dialer.calls WHERE campaign_id = '%s' AND "
                              "to_number = '+15550100006'", id), 2); /* busy: retried once */
    ck_assert_int_eq(scalar_q("SELECT count(*) FROM dialer.calls WHERE campaign_id = '%s' AND "
                              "to_number = '+15550100001' AND status = 'COMPLETED'", id), 1);
    ck_assert_int_eq(scalar_q("SELECT count(*) FROM dialer.calls WHERE campaign_id = '%s' AND "
                              "to_number = '+15550100009' AND status = 'VOICEMAIL'", id),
                     2); /* voicemail retries by default (retryOn), once with maxRetries 1 */
    ck_assert_int_eq(scalar_q("SELECT count(*) FROM dialer.calls WHERE campaign_id = '%s' AND "
                              "reported_at IS NULL", id), 0);
    /* the agent's outcome arrived through the outcome token */
    ck_assert_int_ge(scalar_q("SELECT count(*) FROM dialer.calls WHERE campaign_id = '%s' AND "
                              "outcome_at IS NOT NULL", id), 1);
    ck_assert_int_ge(scalar_q("SELECT count(*) FROM dialer.outbox WHERE payload->>'campaignId' "
                              "= '%s' AND event_type = 'call.completed'", id), 1);
    /* The answer comes from the TwiML fetch (CallStatus in-progress, AnsweredBy), not from an
     * "answered" callback, which the dialer no longer asks for: every answered call has its
     * answer time, its AnsweredBy and exactly one call.started; the carrier's only status
     * callbacks are the ends. */
    ck_assert_int_eq(scalar_q("SELECT count(*) FROM dialer.calls WHERE campaign_id = '%s' AND "
                              "answered_at IS NOT NULL", id), 4); /* 01, 02, 09 twice */
    ck_assert_int_eq(scalar_q("SELECT count(*) FROM dialer.calls WHERE campaign_id = '%s' AND "
                              "answered_at IS NOT NULL AND answered_by IS NULL", id), 0);
    ck_assert_int_eq(scalar_q("SELECT count(*) FROM dialer.calls WHERE campaign_id = '%s' AND "
                              "status = 'VOICEMAIL' AND answered_by = 'machine_end_beep'", id), 2);
    ck_assert_int_eq(scalar_q("SELECT count(*) FROM dialer.outbox WHERE payload->>'campaignId' "
                              "= '%s' AND event_type = 'call.started'", id), 4);
    ck_assert_int_eq(scalar_q("SELECT count(DISTINCT payload->>'callId') FROM dialer.outbox "
                              "WHERE payload->>'campaignId' = '%s' AND event_type = "
                              "'call.started' AND payload->>'status' = 'IN_PROGRESS' AND "
                              "payload->>'answeredAt' IS NOT NULL", id), 4);
    ck_assert_int_eq(scalar_q("SELECT count(*) FROM dialer.carrier_events e JOIN dialer.calls c "
                              "ON c.id = e.call_id WHERE c.campaign_id = '%s' AND e.kind = "
                              "'status' AND e.status <> 'completed' AND e.status <> 'busy' AND "
                              "e.status <> 'no-answer' AND e.status <> 'failed'", id), 0);
    ck_assert_int_eq(scalar_q("SELECT count(*) FROM dialer.carrier_events e JOIN dialer.calls c "
                              "ON c.id = e.call_id WHERE c.campaign_id = '%s' AND e.kind = "
                              "'twiml'", id), 4);
    /* every created call's row got its CallSid and lost its create lease (the record thread
     * writes these for many calls at once: dialer_record_created) */
    ck_assert_int_eq(scalar_q("SELECT count(*) FROM dialer.calls WHERE campaign_id = '%s' AND "
                              "(call_sid IS NULL OR worker_lease_until IS NOT NULL OR NOT "
                              "attempt_started OR status = 'QUEUED')", id), 0);
    /* each end finalized once, by the callback's own update: one end event per call */
    ck_assert_int_eq(scalar_q("SELECT count(*) FROM dialer.outbox WHERE payload->>'campaignId' "
                              "= '%s' AND event_type IN ('call.completed', 'call.failed')", id),
                     10);
    check_sim_stats(3);

    /* the API: reference 001's shape */
    snprintf(url, sizeof url, "%s/v1/campaigns/%s/calls?limit=100", g_base, id);
    snprintf(auth, sizeof auth, "x-api-key: %s", g_key);
    const char *h[] = {auth, NULL};
    ck_assert_int_eq(ts_http("GET", url, h, NULL, 0, &res), 0);
    ck_assert_int_eq(res.status, 200);
    /* one record per attempt: 01, 02 once; busy, no-answer, voicemail and failed retried once
     * (the default retryOn); the DNC-listed number never dialed */
    ck_assert_int_eq(json_integer_value(json_object_get(res.json, "total")), 10);
    json_t *first = json_array_get(json_object_get(res.json, "data"), 0);
    ck_assert_uint_eq(json_object_size(first), 10);
    ck_assert_ptr_nonnull(json_object_get(first, "callSid"));
    ck_assert_ptr_nonnull(json_object_get(first, "attempts"));
    ts_http_res_free(&res);

    snprintf(url, sizeof url, "%s/v1/calls?campaignId=%s&status=busy", g_base, id);
    ck_assert_int_eq(ts_http("GET", url, h, NULL, 0, &res), 0);
    ck_assert_int_eq(res.status, 200);
    ck_assert_int_eq(json_integer_value(json_object_get(res.json, "total")), 2);
    char busy_call[64];
    snprintf(busy_call, sizeof busy_call, "%s",
             json_string_value(json_object_get(
                 json_array_get(json_object_get(res.json, "data"), 0), "id")));
    ts_http_res_free(&res);

    /* A late outcome without a disposition (a summary only) for a call already reported: it
     * is stored, and there is nothing to forward to the lead (it was 503 "retry" forever) */
    const char *late = "{\"summary\": \"called back later\"}";
    const char *jh[] = {auth, "Content-Type: application/json", NULL};
    snprintf(url, sizeof url, "%s/v1/calls/%s/outcome", g_base, busy_call);
    ck_assert_int_eq(ts_http("POST", url, jh, late, strlen(late), &res), 0);
    ck_assert_msg(res.status == 200, "late outcome: %ld %s", res.status, res.body);
    ts_http_res_free(&res);
    ck_assert_int_eq(scalar_q("SELECT count(*) FROM dialer.calls WHERE id = '%s' AND "
                              "summary = 'called back later'", busy_call), 1);
    ts_proc_stop_ok(g_dialers[0]);
}
END_TEST

/* Three replicas, one killed with SIGKILL mid-campaign: it completes, every lead got its
 * attempts, no number was dialed twice for one attempt, the cap held. */
START_TEST(test_crash_three_replicas)
{
    enum { N = 30 };
    static char store[N][16];
    const char *numbers[N];
    char id[64];
    for (int i = 0; i < N; i++) {
        snprintf(store[i], sizeof store[i], "+1555020%04d", i * 10 + 1); /* persons */
        numbers[i] = store[i];
    }
    for (int i = 0; i < DIALERS; i++) {
        if (g_dialers[i] == NULL || !ts_proc_running(g_dialers[i])) {
            ts_proc_free(g_dialers[i]);
            start_dialer(i, NULL);
        }
        ts_proc_wait_ready(g_dialers[i], 30000);
    }
    campaign_start(numbers, N, 0, 5, 1, id, sizeof id);
    /* kill one while it holds calls */
    int64_t give_up = ts_now_ms() + 30000;
    while (ts_db_scalar(g_db, "SELECT count(*) FROM dialer.calls WHERE worker_id = 'dialer-2' "
                              "AND reported_at IS NULL") == 0 &&
           ts_now_ms() < give_up)
        ts_sleep_ms(20);
    ts_proc_kill(g_dialers[1]);
    campaign_wait_completed(id, 180000);
    ck_assert_int_eq(scalar_q("SELECT count(*) FROM dialer.calls WHERE campaign_id = '%s'", id), N);
    ck_assert_int_eq(scalar_q("SELECT count(DISTINCT lead_id) FROM dialer.calls WHERE "
                              "campaign_id = '%s' AND attempt = 1", id), N);
    check_sim_stats(5);
    ts_proc_stop_ok(g_dialers[0]);
    ts_proc_stop_ok(g_dialers[2]);
}
END_TEST

/* A replica killed at each step between claiming a lead and hearing from the carrier: rows
 * written, attempts not started (lib/failpoint.h: dialer.claim.rows_written); started at
 * campaign-svc but not on the rows (dialer.claim.started); before the carrier is asked
 * (dialer.dial.before_create); after the carrier placed the call, before its CallSid was
 * stored (dialer.dial.created). Another replica finishes the campaign: every lead dialed
 * exactly once and completed, well inside the dead replica's campaign-svc lease (the call
 * timeout plus 120 s), which the recovery must not wait for. */
START_TEST(test_crash_points)
{
    static const char *const points[] = {"dialer.claim.rows_written", "dialer.claim.started",
                                          "dialer.dial.before_create", "dialer.dial.created"};
    enum { N = 3 };
    for (int i = 0; i < DIALERS; i++)
        if (g_dialers[i] != NULL && ts_proc_running(g_dialers[i]))
            ts_proc_stop_ok(g_dialers[i]);
    for (size_t k = 0; k < sizeof points / sizeof points[0]; k++) {
        char store[N][16], id[64];
        const char *numbers[N];
        for (int i = 0; i < N; i++) {
            snprintf(store[i], sizeof store[i], "+155504%d%03d1", (int)k, i); /* persons */
            numbers[i] = store[i];
        }
        ts_proc_free(g_dialers[1]);
        start_dialer(1, points[k]);
        ts_proc_wait_ready(g_dialers[1], 30000);
        int64_t t0 = ts_now_ms();
        campaign_start(numbers, N, 0, N, 1, id, sizeof id);
        for (int64_t give_up = ts_now_ms() + 30000;
             ts_proc_running(g_dialers[1]) && ts_now_ms() < give_up;)
            ts_sleep_ms(20);
        ck_assert_msg(!ts_proc_running(g_dialers[1]), "%s: dialer-2 never reached it",
                      points[k]);
        /* Before the carrier was asked (all but dialer.dial.created, whose calls exist and
         * are timed by their own timeout): as if the rows had waited out their timeouts (a
         * long outage), recovered calls are still timed from when they are placed, not hung
         * up at once. Regression: the orphan sweep's take kept the dead worker's timeout_at. */
        if (strcmp(points[k], "dialer.dial.created") != 0)
            scalar_q("WITH aged AS (UPDATE dialer.calls SET timeout_at = now() WHERE campaign_id = "
                     "'%s' AND call_sid IS NULL RETURNING 1) SELECT count(*) FROM aged", id);
        ts_proc_free(g_dialers[0]);
        start_dialer(0, NULL);
        ts_proc_wait_ready(g_dialers[0], 30000);
        campaign_wait_completed(id, 60000);
        fprintf(stderr, "[dialer_svc] %s: campaign completed %lld ms after its start\n",
                points[k], (long long)(ts_now_ms() - t0));
        ck_assert_int_eq(scalar_q("SELECT count(*) FROM dialer.calls WHERE campaign_id = '%s' "
                                  "AND attempt = 1 AND outcome = 'completed' AND reported_at "
                                  "IS NOT NULL", id), N);
        ck_assert_int_eq(scalar_q("SELECT count(*) FROM dialer.calls WHERE campaign_id = '%s'",
                                  id), N);
        ck_assert_int_eq(scalar_q("SELECT count(*) FROM campaign.leads WHERE campaign_id = "
                                  "'%s' AND status = 'COMPLETED'", id), N);
        /* each number was dialed exactly once */
        struct ts_http_res res;
        char url[128];
        snprintf(url, sizeof url, "%s/sim/stats", g_sim_base);
        ck_assert_int_eq(ts_http("GET", url, NULL, NULL, 0, &res), 0);
        json_t *by_to = json_object_get(res.json, "byTo");
        for (int i = 0; i < N; i++)
            ck_assert_msg(json_integer_value(json_object_get(json_object_get(by_to, numbers[i]),
                                                             "calls")) == 1,
                          "%s: %s dialed %lld times", points[k], numbers[i],
                          (long long)json_integer_value(json_object_get(
                              json_object_get(by_to, numbers[i]), "calls")));
        ts_http_res_free(&res);
        ts_proc_stop_ok(g_dialers[0]);
    }
    ts_proc_free(g_dialers[1]);
    g_dialers[1] = NULL;
}
END_TEST

/* A worker died with call rows written but no attempt started (dialer.claim.rows_written), and
 * the campaign was cancelled before anyone recovered them. The recovering replica's
 * AttemptStarted is refused: the lead is closed. That used to be answered like a lease held by
 * another worker (CONFLICT), so the row was asked about again every create lease, forever. It
 * is now NOT_FOUND, and the row ends: canceled, reported, nothing dialed. */
START_TEST(test_orphan_of_cancelled_campaign_ends)
{
    enum { N = 2 };
    static const char *const numbers[N] = {"+15550600011", "+15550600021"};
    char id[64];
    for (int i = 0; i < DIALERS; i++)
        if (g_dialers[i] != NULL && ts_proc_running(g_dialers[i]))
            ts_proc_stop_ok(g_dialers[i]);
    ts_proc_free(g_dialers[1]);
    start_dialer(1, "dialer.claim.rows_written");
    ts_proc_wait_ready(g_dialers[1], 30000);
    campaign_start(numbers, N, 0, N, 1, id, sizeof id);
    for (int64_t give_up = ts_now_ms() + 30000;
         ts_proc_running(g_dialers[1]) && ts_now_ms() < give_up;)
        ts_sleep_ms(20);
    ck_assert_msg(!ts_proc_running(g_dialers[1]), "dialer-2 never wrote its rows");
    /* the first claim's rows (pacing may have let it take fewer than N leads) */
    long long rows = scalar_q("SELECT count(*) FROM dialer.calls WHERE campaign_id = '%s'", id);
    ck_assert_int_ge(rows, 1);
    ck_assert_int_eq(scalar_q("SELECT count(*) FROM dialer.calls WHERE campaign_id = '%s' AND "
                              "NOT attempt_started AND call_sid IS NULL", id), rows);

    struct rpc_ctx ctx;
    Od__CampaignActionRequest act = OD__CAMPAIGN_ACTION_REQUEST__INIT;
    act.id = id;
    act.action = "cancel";
    rpc_ctx_init(&ctx, g_org, "t-cancel", RPC_TIMEOUT_MS);
    od__campaigns__act(svc(&od__campaigns__descriptor), &act, NULL, &ctx);
    ck_status(ctx, OD__STATUS__OK);
    rpc_ctx_release(&ctx);

    ts_proc_free(g_dialers[0]);
    start_dialer(0, NULL);
    ts_proc_wait_ready(g_dialers[0], 30000);
    /* the 4 s create lease, then a sweep */
    int64_t t0 = ts_now_ms();
    while (scalar_q("SELECT count(*) FROM dialer.calls WHERE campaign_id = '%s' AND "
                    "reported_at IS NOT NULL", id) < rows) {
        ck_assert_msg(ts_now_ms() - t0 < 20000, "the orphaned rows of a cancelled campaign "
                      "did not end within 20 s");
        ts_sleep_ms(100);
    }
    ck_assert_int_eq(scalar_q("SELECT count(*) FROM dialer.calls WHERE campaign_id = '%s' AND "
                              "outcome = 'canceled' AND completed_at IS NOT NULL AND call_sid IS "
                              "NULL", id), rows);
    ck_assert_int_eq(scalar_q("SELECT count(*) FROM campaign.leads WHERE campaign_id = '%s' AND "
                              "status = 'CANCELLED'", id), N);
    struct ts_http_res res;
    char url[128];
    snprintf(url, sizeof url, "%s/sim/stats", g_sim_base);
    ck_assert_int_eq(ts_http("GET", url, NULL, NULL, 0, &res), 0);
    for (int i = 0; i < N; i++)
        ck_assert_msg(json_object_get(json_object_get(res.json, "byTo"), numbers[i]) == NULL ||
                          json_integer_value(json_object_get(
                              json_object_get(json_object_get(res.json, "byTo"), numbers[i]),
                              "calls")) == 0,
                      "%s was dialed", numbers[i]);
    ts_http_res_free(&res);
    fprintf(stderr, "[dialer_svc] orphans of a cancelled campaign ended %lld ms after the "
                    "recovering replica started\n", (long long)(ts_now_ms() - t0));
    ts_proc_stop_ok(g_dialers[0]);
    ts_proc_free(g_dialers[1]);
    g_dialers[1] = NULL;
}
END_TEST

/* A call that never hangs up (number ending 00) is hung up after callTimeoutMinutes. */
START_TEST(test_call_timeout)
{
    static const char *const numbers[] = {"+15550300100"};
    char id[64];
    if (g_dialers[0] == NULL || !ts_proc_running(g_dialers[0])) {
        ts_proc_free(g_dialers[0]);
        start_dialer(0, NULL);
    }
    ts_proc_wait_ready(g_dialers[0], 30000);
    campaign_start(numbers, 1, 0, 1, 1, id, sizeof id);
    campaign_wait_completed(id, 150000);
    ck_assert_int_eq(scalar_q("SELECT count(*) FROM dialer.calls WHERE campaign_id = '%s' AND "
                              "status = 'TIMED_OUT' AND outcome = 'timeout'", id), 1);
    ts_proc_stop_ok(g_dialers[0]);
}
END_TEST

/* The capacity (DIALER_CAPACITY=10 here) counts calls not finalized; finalized calls whose
 * report campaign-svc has not acknowledged count only beyond one capacity's worth, so that
 * slow reports do not hold the replica's capacity and reports never acknowledged still stop
 * its claims. Fake finalized rows whose report is not due (report_after in an hour) stand
 * for reports not acknowledged. */
static void fake_unreported_rows(int from, int n)
{
    ck_assert_int_eq(scalar_q("WITH ins AS (INSERT INTO dialer.calls (org_id, id, lead_id, "
                              "attempt, campaign_id, to_number, status, outcome, "
                              "call_timeout_seconds, attempt_started, worker_id, completed_at, "
                              "finalized_at, report_after) SELECT '%s', 'call_fakecap' || g, "
                              "'lead_fakecap' || g, 1, 'camp_fakecap', '+15550999999', "
                              "'COMPLETED', 'completed', 60, true, 'dialer-1', now(), now(), "
                              "now() + interval '1 hour' FROM generate_series(%d, %d) g "
                              "RETURNING 1) SELECT count(*) FROM ins",
                              g_org, from, from + n - 1),
                     n);
}

START_TEST(test_capacity_counts_calls_in_progress)
{
    static const char *const first[] = {"+15550400001", "+15550400002"};
    static const char *const second[] = {"+15550400003"};
    char id[64], id2[64];
    if (g_dialers[0] == NULL || !ts_proc_running(g_dialers[0])) {
        ts_proc_free(g_dialers[0]);
        start_dialer(0, NULL);
    }
    ts_proc_wait_ready(g_dialers[0], 30000);

    /* 15 reports pending: 5 beyond the allowance, 5 calls' room left */
    fake_unreported_rows(1, 15);
    campaign_start(first, 2, 0, 2, 1, id, sizeof id);
    campaign_wait_completed(id, 60000);

    /* 25 pending: 15 beyond the allowance, more than the capacity: no claim */
    fake_unreported_rows(16, 10);
    campaign_start(second, 1, 0, 1, 1, id2, sizeof id2);
    ts_sleep_ms(2000);
    ck_assert_int_eq(scalar_q("SELECT count(*) FROM dialer.calls WHERE campaign_id = '%s'", id2),
                     0);

    /* acknowledged at last (here: gone): the claims resume */
    ck_assert_int_eq(scalar_q("WITH d AS (DELETE FROM dialer.calls WHERE campaign_id = "
                              "'camp_fakecap' RETURNING 1) SELECT count(*) FROM d"),
                     25);
    campaign_wait_completed(id2, 60000);
    ck_assert_int_eq(scalar_q("SELECT count(*) FROM dialer.calls WHERE campaign_id = '%s' AND "
                              "reported_at IS NOT NULL", id2),
                     1);
    ts_proc_stop_ok(g_dialers[0]);
}
END_TEST

int main(void)
{
    ts_init("dialer_svc");
    Suite *s = suite_create("dialer_svc");
    TCase *tc = tcase_create("stack");
    tcase_add_unchecked_fixture(tc, stack_setup, stack_teardown);
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_bad_signature_403);
    tcase_add_test(tc, test_campaign_outcomes);
    tcase_add_test(tc, test_crash_three_replicas);
    tcase_add_test(tc, test_crash_points);
    tcase_add_test(tc, test_orphan_of_cancelled_campaign_ends);
    tcase_add_test(tc, test_call_timeout);
    tcase_add_test(tc, test_capacity_counts_calls_in_progress);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return ts_finish(failed);
}
