/* Service-level tests of campaign-svc: the real binary (two replicas, for the scheduler)
 * against a throwaway database, with the real contacts-svc for audiences and the DNC list,
 * driven over nng with the generated stubs. Events are checked in campaign.outbox (the relay
 * is off). */
#include <check.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audiences.pb-c.h"
#include "campaign.h"
#include "campaigns.pb-c.h"
#include "contacts.pb-c.h"
#include "dnc.pb-c.h"
#include "rpc.h"
#include "testsupport.h"

#define T_MS 30000

static struct ts_db *g_db;
static struct ts_proc *g_contacts_proc, *g_camp_proc, *g_camp2_proc;
static struct rpc_client *g_contacts, *g_camp, *g_camp2;
static char g_contacts_url[64];

#define ck_status(ctx, expected)                                                               \
    ck_assert_msg((ctx).status == (expected), "expected %s, got %s: %s",                      \
                  rpc_status_name(expected), rpc_status_name((ctx).status), (ctx).message)

#define SVC(client, name) rpc_client_service_for(client, &od__##name##__descriptor)

#define scalar(...)                                                                            \
    ({                                                                                         \
        char sql_[1024];                                                                       \
        snprintf(sql_, sizeof sql_, __VA_ARGS__);                                              \
        ts_db_scalar(g_db, sql_);                                                              \
    })

static void wait_connected(struct rpc_client *c)
{
    int64_t give_up = ts_now_ms() + 10000;
    while (rpc_client_connected(c) <= 0) {
        ck_assert_msg(ts_now_ms() < give_up, "RPC client not connected");
        ts_sleep_ms(10);
    }
}

/* ---------------- fixture ---------------- */

static struct ts_proc *start_campaign_svc(const char *name, const char *contacts_url,
                                          const char *extra, char *rpc_url, size_t size)
{
    char bin[PATH_MAX], e_db[700], e_rpc[80], e_health[80], e_contacts[100];
    ts_binary("campaign-svc/campaign-svc", bin, sizeof bin);
    snprintf(rpc_url, size, "tcp://127.0.0.1:%d", ts_free_port());
    snprintf(e_db, sizeof e_db, "DATABASE_URL=%s", ts_db_url(g_db, "campaign"));
    snprintf(e_rpc, sizeof e_rpc, "RPC_LISTEN=%s", rpc_url);
    snprintf(e_health, sizeof e_health, "HEALTH_LISTEN=http://127.0.0.1:%d", ts_free_port());
    snprintf(e_contacts, sizeof e_contacts, "CONTACTS_SVC_URL=%s", contacts_url);
    const char *env[] = {e_db, e_rpc, e_health, e_contacts, "RPC_WORKERS=6",
                         "SCHEDULER_POLL_MS=150", "CREDITS_LOW_THRESHOLD=100",
                         "WEBHOOK_SVC_URL=", extra, NULL};
    struct ts_proc *p = ts_proc_start(name, bin, NULL, env);
    ts_proc_wait_ready(p, 30000);
    return p;
}

static void stack_setup(void)
{
    char bin[PATH_MAX], e_db[700], e_rpc[80], e_health[80], contacts_url[64], url[64];
    g_db = ts_db_create();
    ts_binary("contacts-svc/contacts-svc", bin, sizeof bin);
    snprintf(contacts_url, sizeof contacts_url, "tcp://127.0.0.1:%d", ts_free_port());
    snprintf(e_db, sizeof e_db, "DATABASE_URL=%s", ts_db_url(g_db, "contacts"));
    snprintf(e_rpc, sizeof e_rpc, "RPC_LISTEN=%s", contacts_url);
    snprintf(e_health, sizeof e_health, "HEALTH_LISTEN=http://127.0.0.1:%d", ts_free_port());
    const char *env[] = {e_db, e_rpc, e_health, "RPC_WORKERS=4", "WEBHOOK_SVC_URL=", NULL};
    g_contacts_proc = ts_proc_start("contacts-svc", bin, NULL, env);
    ts_proc_wait_ready(g_contacts_proc, 30000);
    g_contacts = rpc_client_open(NULL, contacts_url);
    snprintf(g_contacts_url, sizeof g_contacts_url, "%s", contacts_url);

    g_camp_proc = start_campaign_svc("campaign-svc", contacts_url, "SCHEDULER=1", url, sizeof url);
    g_camp = rpc_client_open(NULL, url);
    /* the second replica: its own scheduler, and credit purchases turned off */
    g_camp2_proc = start_campaign_svc("campaign-svc-2", contacts_url,
                                      "CREDITS_PURCHASE_ENABLED=0", url, sizeof url);
    g_camp2 = rpc_client_open(NULL, url);
    ck_assert(g_contacts && g_camp && g_camp2);
    SVC(g_contacts, contacts);
    SVC(g_camp, campaigns);
    SVC(g_camp2, credits);
    wait_connected(g_contacts);
    wait_connected(g_camp);
    wait_connected(g_camp2);
}

/* Claim spans every organization: each test starts with no other campaign running, so the
 * leases it sees are its own. */
static void quiet_campaigns(void)
{
    scalar("WITH c AS (UPDATE campaign.campaigns SET status = 'CANCELLED'"
           " WHERE status = 'IN_PROGRESS' RETURNING 1) SELECT count(*) FROM c");
}

static void stack_teardown(void)
{
    rpc_client_close(g_contacts);
    rpc_client_close(g_camp);
    rpc_client_close(g_camp2);
    ts_proc_free(g_camp_proc);
    ts_proc_free(g_camp2_proc);
    ts_proc_free(g_contacts_proc);
    ts_db_drop(g_db);
}

/* ---------------- helpers ---------------- */

static void ctx_init(struct rpc_ctx *ctx, const char *org) { rpc_ctx_init(ctx, org, "t", T_MS); }

static void grant(const char *org, int64_t minutes)
{
    Od__CreditAmountRequest in = OD__CREDIT_AMOUNT_REQUEST__INIT;
    struct rpc_ctx ctx;
    in.amount = minutes;
    in.reason = (char *)"grant";
    ctx_init(&ctx, org);
    od__credits__grant(SVC(g_camp, credits), &in, NULL, &ctx);
    ck_status(ctx, OD__STATUS__OK);
    rpc_ctx_release(&ctx);
}

static void create_agent(const char *org, char *id, size_t size)
{
    Od__AgentInput in = OD__AGENT_INPUT__INIT;
    struct rpc_ctx ctx;
    in.name = (char *)"Priya";
    in.runtime_url = (char *)"wss://agents.example.com/priya";
    in.first_message = (char *)"Hello {{name}}";
    ctx_init(&ctx, org);
    od__agents__create(SVC(g_camp, agents), &in, NULL, &ctx);
    ck_status(ctx, OD__STATUS__OK);
    snprintf(id, size, "%s", ((Od__Agent *)ctx.reply)->id);
    ck_assert_int_eq(((Od__Agent *)ctx.reply)->current_version, 1);
    rpc_ctx_release(&ctx);
}

static void create_phone(const char *org, const char *number, char *id, size_t size,
                         bool *is_default)
{
    Od__PhoneNumberInput in = OD__PHONE_NUMBER_INPUT__INIT;
    struct rpc_ctx ctx;
    in.phone_number = (char *)number;
    in.label = (char *)"main";
    ctx_init(&ctx, org);
    od__phone_numbers__create(SVC(g_camp, phone_numbers), &in, NULL, &ctx);
    ck_status(ctx, OD__STATUS__OK);
    snprintf(id, size, "%s", ((Od__PhoneNumber *)ctx.reply)->id);
    if (is_default)
        *is_default = ((Od__PhoneNumber *)ctx.reply)->is_default;
    rpc_ctx_release(&ctx);
}

static void do_create(struct rpc_ctx *ctx, const char *org, Od__CampaignInput *in)
{
    ctx_init(ctx, org);
    od__campaigns__create(SVC(g_camp, campaigns), in, NULL, ctx);
}

static void create_campaign(const char *org, Od__CampaignInput *in, char *id, size_t size)
{
    struct rpc_ctx ctx;
    do_create(&ctx, org, in);
    ck_status(ctx, OD__STATUS__OK);
    snprintf(id, size, "%s", ((Od__Campaign *)ctx.reply)->id);
    rpc_ctx_release(&ctx);
}

static void simple_campaign(const char *org, const char *agent, char *id, size_t size)
{
    Od__CampaignInput in = OD__CAMPAIGN_INPUT__INIT;
    in.name = (char *)"Q2 renewals";
    in.flow_id = (char *)agent;
    create_campaign(org, &in, id, size);
}

/* Act; returns the status (static buffer) or asserts the expected failure. */
static const char *act(const char *org, const char *id, const char *action, Od__Status expect)
{
    static char status[32];
    Od__CampaignActionRequest in = OD__CAMPAIGN_ACTION_REQUEST__INIT;
    struct rpc_ctx ctx;
    in.id = (char *)id;
    in.action = (char *)action;
    ctx_init(&ctx, org);
    od__campaigns__act(SVC(g_camp, campaigns), &in, NULL, &ctx);
    ck_status(ctx, expect);
    status[0] = '\0';
    if (ctx.status == OD__STATUS__OK)
        snprintf(status, sizeof status, "%s", ((Od__Campaign *)ctx.reply)->status);
    else
        snprintf(status, sizeof status, "%.31s", ctx.message);
    rpc_ctx_release(&ctx);
    return status;
}

static void upload(const char *org, const char *campaign, int n, int base, const char *vars)
{
    Od__UploadLeadsRequest in = OD__UPLOAD_LEADS_REQUEST__INIT;
    Od__LeadInput *rows = calloc((size_t)n, sizeof *rows);
    Od__LeadInput **ptrs = calloc((size_t)n, sizeof *ptrs);
    char (*phones)[24] = calloc((size_t)n, sizeof *phones);
    struct rpc_ctx ctx;
    for (int i = 0; i < n; i++) {
        od__lead_input__init(&rows[i]);
        snprintf(phones[i], sizeof phones[i], "+1415%07d", base + i);
        rows[i].phone_number = phones[i];
        rows[i].variables_json = (char *)(vars ? vars : "");
        ptrs[i] = &rows[i];
    }
    in.campaign_id = (char *)campaign;
    in.leads = ptrs;
    in.n_leads = (size_t)n;
    ctx_init(&ctx, org);
    od__leads__upload(SVC(g_camp, leads), &in, NULL, &ctx);
    free(rows);
    free(ptrs);
    free(phones);
    ck_status(ctx, OD__STATUS__OK);
    ck_assert_int_eq(((Od__UploadLeadsReply *)ctx.reply)->inserted, n);
    rpc_ctx_release(&ctx);
}

/* One Claim; the reply stays in ctx (caller releases). */
static Od__ClaimReply *claim(struct rpc_ctx *ctx, const char *worker, int capacity, int lease)
{
    Od__ClaimRequest in = OD__CLAIM_REQUEST__INIT;
    in.worker_id = (char *)worker;
    in.capacity = capacity;
    in.lease_seconds = lease;
    rpc_ctx_init(ctx, "", "claim", T_MS);
    od__dialing__claim(SVC(g_camp, dialing), &in, NULL, ctx);
    ck_status(*ctx, OD__STATUS__OK);
    return (Od__ClaimReply *)ctx->reply;
}

static void finish(struct rpc_ctx *ctx, const char *lead, int attempt, const char *outcome,
                   int duration)
{
    Od__AttemptFinishedRequest in = OD__ATTEMPT_FINISHED_REQUEST__INIT;
    in.lead_id = (char *)lead;
    in.attempt = attempt;
    in.outcome = (char *)outcome;
    in.duration_seconds = duration;
    in.disposition = (char *)(strcmp(outcome, "completed") == 0 ? "interested" : "");
    in.call_id = (char *)"call_test";
    rpc_ctx_init(ctx, "", "finish", T_MS);
    od__dialing__attempt_finished(SVC(g_camp, dialing), &in, NULL, ctx);
}

static const char *campaign_status(const char *org, const char *id)
{
    static char status[32];
    Od__IdRequest in = OD__ID_REQUEST__INIT;
    struct rpc_ctx ctx;
    in.id = (char *)id;
    ctx_init(&ctx, org);
    od__campaigns__get(SVC(g_camp, campaigns), &in, NULL, &ctx);
    ck_status(ctx, OD__STATUS__OK);
    snprintf(status, sizeof status, "%s", ((Od__Campaign *)ctx.reply)->status);
    rpc_ctx_release(&ctx);
    return status;
}

static long long outbox_events(const char *org, const char *type)
{
    return scalar("SELECT count(*) FROM campaign.outbox WHERE org_id = '%s' AND event_type = '%s'",
                  org, type);
}

/* ---------------- agents and caller IDs ---------------- */

START_TEST(test_agents_versions_and_phone_numbers)
{
    const char *org = "org_agents";
    char agent[64], pn1[64], pn2[64];
    bool def;
    struct rpc_ctx ctx;

    create_agent(org, agent, sizeof agent);
    Od__AgentInput up = OD__AGENT_INPUT__INIT;
    up.id = agent;
    up.prompt = (char *)"Be brief";
    up.set_prompt = true;
    ctx_init(&ctx, org);
    od__agents__update(SVC(g_camp, agents), &up, NULL, &ctx);
    ck_status(ctx, OD__STATUS__OK);
    ck_assert_int_eq(((Od__Agent *)ctx.reply)->current_version, 2);
    ck_assert_str_eq(((Od__Agent *)ctx.reply)->name, "Priya");
    rpc_ctx_release(&ctx);
    ck_assert_int_eq(scalar("SELECT count(*) FROM campaign.agent_versions WHERE agent_id = '%s'",
                            agent), 2);
    Od__AgentInput bad = OD__AGENT_INPUT__INIT;
    ctx_init(&ctx, org);
    od__agents__create(SVC(g_camp, agents), &bad, NULL, &ctx);
    ck_status(ctx, OD__STATUS__INVALID);
    rpc_ctx_release(&ctx);

    create_phone(org, "+14155550100", pn1, sizeof pn1, &def);
    ck_assert(def);
    create_phone(org, "+14155550101", pn2, sizeof pn2, &def);
    ck_assert(!def);
    Od__PhoneNumberInput pin = OD__PHONE_NUMBER_INPUT__INIT;
    pin.phone_number = (char *)"+1 415 555";
    ctx_init(&ctx, org);
    od__phone_numbers__create(SVC(g_camp, phone_numbers), &pin, NULL, &ctx);
    ck_status(ctx, OD__STATUS__INVALID);
    rpc_ctx_release(&ctx);
    pin.phone_number = (char *)"+14155550100";
    ctx_init(&ctx, org);
    od__phone_numbers__create(SVC(g_camp, phone_numbers), &pin, NULL, &ctx);
    ck_status(ctx, OD__STATUS__CONFLICT);
    rpc_ctx_release(&ctx);
    /* deleting the default promotes the other */
    Od__IdRequest del = OD__ID_REQUEST__INIT;
    del.id = pn1;
    ctx_init(&ctx, org);
    od__phone_numbers__delete(SVC(g_camp, phone_numbers), &del, NULL, &ctx);
    ck_status(ctx, OD__STATUS__OK);
    rpc_ctx_release(&ctx);
    ck_assert_int_eq(scalar("SELECT count(*) FROM campaign.phone_numbers WHERE id = '%s' AND is_default",
                            pn2), 1);
    Od__ListRequest lr = OD__LIST_REQUEST__INIT;
    lr.page = 1;
    lr.limit = 20;
    ctx_init(&ctx, org);
    od__agents__list(SVC(g_camp, agents), &lr, NULL, &ctx);
    ck_status(ctx, OD__STATUS__OK);
    ck_assert_int_eq(((Od__ListAgentsReply *)ctx.reply)->total, 1);
    rpc_ctx_release(&ctx);
}
END_TEST

/* ---------------- campaign configuration ---------------- */

START_TEST(test_campaign_defaults_and_validation)
{
    const char *org = "org_valid";
    char agent[64], id[64];
    struct rpc_ctx ctx;
    create_agent(org, agent, sizeof agent);

    Od__CampaignInput in = OD__CAMPAIGN_INPUT__INIT;
    in.name = (char *)"Defaults";
    in.flow_id = agent;
    do_create(&ctx, org, &in);
    ck_status(ctx, OD__STATUS__OK);
    Od__Campaign *c = (Od__Campaign *)ctx.reply;
    ck_assert_str_eq(c->status, "DRAFT");
    ck_assert_int_eq(c->calls_per_minute, 10);
    ck_assert_int_eq(c->max_concurrent_calls, 5);
    ck_assert_int_eq(c->max_retries, 3);
    ck_assert_int_eq(c->retry_delay_minutes, 5);
    ck_assert_int_eq(c->call_timeout_minutes, 5);
    snprintf(id, sizeof id, "%s", c->id);
    rpc_ctx_release(&ctx);

    static const Od__Status expect[] = {
        OD__STATUS__INVALID,   OD__STATUS__INVALID,   OD__STATUS__INVALID,
        OD__STATUS__INVALID,   OD__STATUS__INVALID,   OD__STATUS__INVALID,
        OD__STATUS__INVALID,   OD__STATUS__NOT_FOUND, OD__STATUS__NOT_FOUND,
        OD__STATUS__NOT_FOUND, OD__STATUS__NOT_FOUND, OD__STATUS__OK,
    };
    for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++) {
        Od__CampaignInput x = OD__CAMPAIGN_INPUT__INIT;
        x.name = (char *)"case";
        x.flow_id = agent;
        switch (i) {
        case 0: x.calls_per_minute = 0; x.set_calls_per_minute = true; break;
        case 1: x.calls_per_minute = 60001; break;
        case 2: x.max_concurrent_calls = 51; break;
        case 3: x.scheduled_at = (char *)"2020-01-01T00:00:00Z"; x.timezone = (char *)"UTC"; break;
        case 4: x.scheduled_at = (char *)"2099-01-01T00:00:00Z"; break; /* no timezone */
        case 5: x.timezone = (char *)"Mars/Base"; break;
        case 6: x.window_start = (char *)"09:00"; break;
        case 7: x.flow_id = (char *)"agent_nope"; break;
        case 8: x.audience_id = (char *)"aud_nope"; break;
        case 9: x.phone_number_id = (char *)"pn_nope"; break;
        case 10: x.agent_version = 7; break;
        default: x.scheduled_at = (char *)"2099-01-01T00:00:00Z"; x.timezone = (char *)"Asia/Kolkata"; break;
        }
        do_create(&ctx, org, &x);
        ck_assert_msg(ctx.status == expect[i], "case %zu: %s: %s", i,
                      rpc_status_name(ctx.status), ctx.message);
        rpc_ctx_release(&ctx);
    }
    /* update in DRAFT; list by status and search */
    Od__CampaignInput up = OD__CAMPAIGN_INPUT__INIT;
    up.id = id;
    up.calls_per_minute = 30;
    up.set_calls_per_minute = true;
    ctx_init(&ctx, org);
    od__campaigns__update(SVC(g_camp, campaigns), &up, NULL, &ctx);
    ck_status(ctx, OD__STATUS__OK);
    ck_assert_int_eq(((Od__Campaign *)ctx.reply)->calls_per_minute, 30);
    ck_assert_int_eq(((Od__Campaign *)ctx.reply)->max_retries, 3);
    rpc_ctx_release(&ctx);
    Od__ListRequest lr = OD__LIST_REQUEST__INIT;
    lr.page = 1;
    lr.limit = 10;
    lr.status = (char *)"DRAFT";
    lr.search = (char *)"defa";
    ctx_init(&ctx, org);
    od__campaigns__list(SVC(g_camp, campaigns), &lr, NULL, &ctx);
    ck_status(ctx, OD__STATUS__OK);
    ck_assert_int_eq(((Od__ListCampaignsReply *)ctx.reply)->total, 1);
    rpc_ctx_release(&ctx);
}
END_TEST

/* ---------------- lifecycle ---------------- */

/* A campaign of org in the given status (COMPLETED and FAILED are set in the table). */
static void campaign_in(const char *org, const char *agent, const char *status, char *id,
                        size_t size)
{
    if (strcmp(status, "SCHEDULED") == 0) {
        Od__CampaignInput in = OD__CAMPAIGN_INPUT__INIT;
        in.name = (char *)"later";
        in.flow_id = (char *)agent;
        in.scheduled_at = (char *)"2099-06-01T09:00:00Z";
        in.timezone = (char *)"Europe/London";
        create_campaign(org, &in, id, size);
        ck_assert_str_eq(act(org, id, "start", OD__STATUS__OK), "SCHEDULED");
        return;
    }
    simple_campaign(org, agent, id, size);
    if (strcmp(status, "DRAFT") == 0)
        return;
    upload(org, id, 1, 9000000, NULL);
    if (strcmp(status, "COMPLETED") == 0 || strcmp(status, "FAILED") == 0) {
        scalar("UPDATE campaign.campaigns SET status = '%s' WHERE id = '%s' RETURNING 1", status, id);
        return;
    }
    ck_assert_str_eq(act(org, id, "start", OD__STATUS__OK), "IN_PROGRESS");
    if (strcmp(status, "PAUSED") == 0)
        ck_assert_str_eq(act(org, id, "pause", OD__STATUS__OK), "PAUSED");
    if (strcmp(status, "CANCELLED") == 0)
        ck_assert_str_eq(act(org, id, "cancel", OD__STATUS__OK), "CANCELLED");
}

START_TEST(test_lifecycle_every_action_from_every_status)
{
    const char *org = "org_life";
    static const char *const statuses[] = {"DRAFT", "SCHEDULED", "IN_PROGRESS", "PAUSED",
                                           "COMPLETED", "CANCELLED", "FAILED"};
    static const char *const actions[] = {"start", "pause", "resume", "cancel"};
    /* expected result per [status][action]: NULL = CONFLICT */
    static const char *const to[7][4] = {
        {"IN_PROGRESS", NULL, NULL, "CANCELLED"},
        {"SCHEDULED", NULL, NULL, "CANCELLED"},
        {NULL, "PAUSED", NULL, "CANCELLED"},
        {NULL, NULL, "IN_PROGRESS", "CANCELLED"},
        {NULL, NULL, NULL, NULL},
        {NULL, NULL, NULL, NULL},
        {NULL, NULL, NULL, NULL},
    };
    char agent[64], id[64];
    grant(org, 1000);
    create_agent(org, agent, sizeof agent);
    for (int s = 0; s < 7; s++)
        for (int a = 0; a < 4; a++) {
            campaign_in(org, agent, statuses[s], id, sizeof id);
            const char *got = act(org, id, actions[a], to[s][a] ? OD__STATUS__OK : OD__STATUS__CONFLICT);
            if (to[s][a] != NULL) {
                ck_assert_msg(strcmp(got, to[s][a]) == 0, "%s from %s: %s", actions[a],
                              statuses[s], got);
            } else {
                char want[64];
                snprintf(want, sizeof want, "campaign is %s", statuses[s]);
                ck_assert_msg(strncmp(got, want, strlen(want) > 31 ? 31 : strlen(want)) == 0,
                              "%s from %s: message %s", actions[a], statuses[s], got);
            }
        }
    /* stop is cancel; an unknown action is INVALID */
    campaign_in(org, agent, "IN_PROGRESS", id, sizeof id);
    ck_assert_str_eq(act(org, id, "stop", OD__STATUS__OK), "CANCELLED");
    ck_assert_int_eq(scalar("SELECT count(*) FROM campaign.leads WHERE campaign_id = '%s'"
                            " AND status = 'CANCELLED'", id), 1);
    act(org, id, "explode", OD__STATUS__INVALID);
    /* update only in DRAFT, delete only when not live */
    campaign_in(org, agent, "PAUSED", id, sizeof id);
    Od__CampaignInput up = OD__CAMPAIGN_INPUT__INIT;
    struct rpc_ctx ctx;
    up.id = id;
    up.name = (char *)"x";
    up.set_name = true;
    ctx_init(&ctx, org);
    od__campaigns__update(SVC(g_camp, campaigns), &up, NULL, &ctx);
    ck_status(ctx, OD__STATUS__CONFLICT);
    ck_assert_ptr_nonnull(strstr(ctx.message, "PAUSED"));
    rpc_ctx_release(&ctx);
    Od__IdRequest del = OD__ID_REQUEST__INIT;
    del.id = id;
    ctx_init(&ctx, org);
    od__campaigns__delete(SVC(g_camp, campaigns), &del, NULL, &ctx);
    ck_status(ctx, OD__STATUS__CONFLICT);
    rpc_ctx_release(&ctx);
    /* the agent is in use: its delete is CONFLICT */
    Od__IdRequest adel = OD__ID_REQUEST__INIT;
    adel.id = agent;
    ctx_init(&ctx, org);
    od__agents__delete(SVC(g_camp, agents), &adel, NULL, &ctx);
    ck_status(ctx, OD__STATUS__CONFLICT);
    rpc_ctx_release(&ctx);
    act(org, id, "cancel", OD__STATUS__OK);
    ctx_init(&ctx, org);
    od__campaigns__delete(SVC(g_camp, campaigns), &del, NULL, &ctx);
    ck_status(ctx, OD__STATUS__OK);
    rpc_ctx_release(&ctx);
    /* events went to the outbox */
    ck_assert_int_ge(outbox_events(org, "campaign.started"), 1);
    ck_assert_int_ge(outbox_events(org, "campaign.paused"), 1);
    ck_assert_int_ge(outbox_events(org, "campaign.resumed"), 1);
    ck_assert_int_ge(outbox_events(org, "campaign.cancelled"), 1);
}
END_TEST

START_TEST(test_start_needs_credits)
{
    const char *org = "org_broke";
    char agent[64], id[64];
    struct rpc_ctx ctx;
    create_agent(org, agent, sizeof agent);
    simple_campaign(org, agent, id, sizeof id);
    upload(org, id, 2, 8000000, NULL);
    ck_assert_str_eq(act(org, id, "start", OD__STATUS__PAYMENT_REQUIRED), "insufficient credits");
    /* replica 2 has purchases turned off */
    Od__CreditAmountRequest in = OD__CREDIT_AMOUNT_REQUEST__INIT;
    in.amount = 50;
    ctx_init(&ctx, org);
    od__credits__purchase(SVC(g_camp2, credits), &in, NULL, &ctx);
    ck_status(ctx, OD__STATUS__PERMISSION_DENIED);
    rpc_ctx_release(&ctx);
    ctx_init(&ctx, org);
    od__credits__purchase(SVC(g_camp, credits), &in, NULL, &ctx);
    ck_status(ctx, OD__STATUS__OK);
    ck_assert_int_eq(((Od__CreditBalance *)ctx.reply)->balance, 50);
    rpc_ctx_release(&ctx);
    ck_assert_str_eq(act(org, id, "start", OD__STATUS__OK), "IN_PROGRESS");
}
END_TEST

/* ---------------- snapshot ---------------- */

/* Upserts the n contacts rows, puts them all in a new audience named name, and writes its
 * id into aud. */
static void audience_of(const char *org, Od__ContactInput **rows, size_t n, const char *name,
                        char *aud, size_t aud_size)
{
    struct rpc_ctx ctx;
    Od__BulkUpsertRequest bu = OD__BULK_UPSERT_REQUEST__INIT;
    bu.contacts = rows;
    bu.n_contacts = n;
    ctx_init(&ctx, org);
    od__contacts__bulk_upsert(SVC(g_contacts, contacts), &bu, NULL, &ctx);
    ck_status(ctx, OD__STATUS__OK);
    Od__BulkUpsertReply *br = (Od__BulkUpsertReply *)ctx.reply;
    ck_assert_int_eq((int)br->n_contacts, (int)n);
    char **ids = calloc(n, sizeof *ids);
    ck_assert_ptr_nonnull(ids);
    for (size_t i = 0; i < n; i++)
        ids[i] = strdup(br->contacts[i]->id);
    rpc_ctx_release(&ctx);

    Od__CreateAudienceRequest ca = OD__CREATE_AUDIENCE_REQUEST__INIT;
    ca.name = (char *)name;
    ctx_init(&ctx, org);
    od__audiences__create(SVC(g_contacts, audiences), &ca, NULL, &ctx);
    ck_status(ctx, OD__STATUS__OK);
    snprintf(aud, aud_size, "%s", ((Od__Audience *)ctx.reply)->id);
    rpc_ctx_release(&ctx);
    Od__AudienceMembersRequest am = OD__AUDIENCE_MEMBERS_REQUEST__INIT;
    am.audience_id = aud;
    am.contact_ids = ids;
    am.n_contact_ids = n;
    ctx_init(&ctx, org);
    od__audiences__add_members(SVC(g_contacts, audiences), &am, NULL, &ctx);
    ck_status(ctx, OD__STATUS__OK);
    rpc_ctx_release(&ctx);
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
}

START_TEST(test_snapshot_applies_dnc_and_pins)
{
    const char *org = "org_snap";
    char agent[64], pn[64], aud[64], id[64];
    struct rpc_ctx ctx;
    enum { N = 30 };
    grant(org, 1000);
    create_agent(org, agent, sizeof agent);
    create_phone(org, "+14155551234", pn, sizeof pn, NULL);

    Od__ContactInput rows[N], *ptrs[N];
    char phones[N][24];
    for (int i = 0; i < N; i++) {
        od__contact_input__init(&rows[i]);
        snprintf(phones[i], sizeof phones[i], i == 0 ? "+447700900%03d" : "+1415600%04d", i);
        rows[i].phone_number = phones[i];
        rows[i].name = (char *)"Asha";
        rows[i].metadata_json = (char *)(i == 1 ? "{\"timezone\":\"Asia/Tokyo\",\"plan\":\"gold\"}" : "{\"plan\":\"basic\"}");
        ptrs[i] = &rows[i];
    }
    audience_of(org, ptrs, N, "all", aud, sizeof aud);
    for (int i = 2; i < 5; i++) { /* three numbers on the DNC list */
        Od__DncEntryInput d = OD__DNC_ENTRY_INPUT__INIT;
        d.phone_number = phones[i];
        ctx_init(&ctx, org);
        od__dnc__add(SVC(g_contacts, dnc), &d, NULL, &ctx);
        ck_status(ctx, OD__STATUS__OK);
        rpc_ctx_release(&ctx);
    }
    Od__CampaignInput in = OD__CAMPAIGN_INPUT__INIT;
    in.name = (char *)"Snapshot";
    in.flow_id = agent;
    in.webhook_url = (char *)"https://crm.example.com/hooks";
    in.audience_id = aud;
    create_campaign(org, &in, id, sizeof id);
    ck_assert_str_eq(act(org, id, "start", OD__STATUS__OK), "IN_PROGRESS");
    ck_assert_int_eq(scalar("SELECT count(*) FROM campaign.leads WHERE campaign_id = '%s'", id), N);
    ck_assert_int_eq(scalar("SELECT count(*) FROM campaign.leads WHERE campaign_id = '%s'"
                            " AND status = 'SKIPPED' AND last_outcome = 'dnc'", id), 3);
    ck_assert_int_eq(scalar("SELECT count(*) FROM campaign.leads WHERE campaign_id = '%s'"
                            " AND contact_tz = 'Europe/London'", id), 1);
    ck_assert_int_eq(scalar("SELECT count(*) FROM campaign.leads WHERE campaign_id = '%s'"
                            " AND contact_tz = 'Asia/Tokyo' AND variables->>'plan' = 'gold'", id), 1);
    ck_assert_int_eq(scalar("SELECT count(*) FROM campaign.campaigns WHERE id = '%s'"
                            " AND agent_version = 1 AND from_number = '+14155551234'", id), 1);
    ck_assert_int_eq(scalar("SELECT count(*) FROM campaign.outbox WHERE event_type ="
                            " 'campaign.started' AND payload->'campaign'->>'id' = '%s'", id), 1);
    /* the claim hands out the pinned agent and caller ID */
    Od__ClaimReply *r = claim(&ctx, "w-snap", 1, 30);
    ck_assert_int_eq((int)r->n_leases, 1);
    ck_assert_str_eq(r->leases[0]->from_number, "+14155551234");
    ck_assert_str_eq(r->leases[0]->runtime_url, "wss://agents.example.com/priya");
    ck_assert_int_eq(r->leases[0]->attempt, 1);
    ck_assert_int_eq(r->leases[0]->call_timeout_seconds, 300);
    ck_assert_str_eq(r->leases[0]->campaign_name, "Snapshot");
    ck_assert_str_eq(r->leases[0]->webhook_url, "https://crm.example.com/hooks");
    rpc_ctx_release(&ctx);
    act(org, id, "cancel", OD__STATUS__OK);
}
END_TEST

/* ---------------- leads ---------------- */

START_TEST(test_leads_upload_errors_and_list)
{
    const char *org = "org_leads";
    char agent[64], id[64];
    struct rpc_ctx ctx;
    create_agent(org, agent, sizeof agent);
    simple_campaign(org, agent, id, sizeof id);
    Od__LeadInput rows[5];
    Od__LeadInput *ptrs[5];
    const char *phones[] = {"+14155550001", "415-555", "+14155550001", "+14155550003",
                            "+14155550004"};
    for (int i = 0; i < 5; i++) {
        od__lead_input__init(&rows[i]);
        rows[i].phone_number = (char *)phones[i];
        ptrs[i] = &rows[i];
    }
    rows[3].variables_json = (char *)"[1]";
    rows[4].invalid_reason = (char *)"phoneNumber must be a string";
    rows[0].variables_json = (char *)"{\"plan\":\"gold\"}";
    Od__UploadLeadsRequest in = OD__UPLOAD_LEADS_REQUEST__INIT;
    in.campaign_id = id;
    in.leads = ptrs;
    in.n_leads = 5;
    ctx_init(&ctx, org);
    od__leads__upload(SVC(g_camp, leads), &in, NULL, &ctx);
    ck_status(ctx, OD__STATUS__OK);
    Od__UploadLeadsReply *r = (Od__UploadLeadsReply *)ctx.reply;
    ck_assert_int_eq(r->inserted, 2); /* the duplicate number is allowed */
    ck_assert_int_eq((int)r->n_errors, 3);
    ck_assert_int_eq(r->errors[0]->index, 1);
    ck_assert_int_eq(r->errors[1]->index, 3);
    ck_assert_int_eq(r->errors[2]->index, 4);
    ck_assert_str_eq(r->errors[2]->reason, "phoneNumber must be a string");
    rpc_ctx_release(&ctx);
    /* another organization cannot upload to it */
    ctx_init(&ctx, "org_other");
    od__leads__upload(SVC(g_camp, leads), &in, NULL, &ctx);
    ck_status(ctx, OD__STATUS__NOT_FOUND);
    rpc_ctx_release(&ctx);

    Od__ListLeadsRequest lr = OD__LIST_LEADS_REQUEST__INIT;
    lr.campaign_id = id;
    lr.status = (char *)"PENDING";
    lr.limit = 1;
    ctx_init(&ctx, org);
    od__leads__list(SVC(g_camp, leads), &lr, NULL, &ctx);
    ck_status(ctx, OD__STATUS__OK);
    ck_assert_int_eq(((Od__ListLeadsReply *)ctx.reply)->total, 2);
    ck_assert_int_eq((int)((Od__ListLeadsReply *)ctx.reply)->n_data, 1);
    ck_assert_str_eq(((Od__ListLeadsReply *)ctx.reply)->data[0]->variables_json, "{\"plan\": \"gold\"}");
    rpc_ctx_release(&ctx);
    lr.limit = 1001;
    ctx_init(&ctx, org);
    od__leads__list(SVC(g_camp, leads), &lr, NULL, &ctx);
    ck_status(ctx, OD__STATUS__INVALID);
    rpc_ctx_release(&ctx);
    /* terminal campaigns take no leads */
    act(org, id, "cancel", OD__STATUS__OK);
    ctx_init(&ctx, org);
    od__leads__upload(SVC(g_camp, leads), &in, NULL, &ctx);
    ck_status(ctx, OD__STATUS__CONFLICT);
    rpc_ctx_release(&ctx);
}
END_TEST

/* ---------------- dialing ---------------- */

/* The retry policy through the RPCs, idempotency, debits, events, completion, progress and
 * the report. */
START_TEST(test_scripted_run_retry_progress_report)
{
    const char *org = "org_run";
    char agent[64], id[64], lead[8][64];
    struct rpc_ctx ctx, f;
    grant(org, 1000);
    create_agent(org, agent, sizeof agent);
    Od__CampaignInput in = OD__CAMPAIGN_INPUT__INIT;
    char *retry_on[] = {(char *)"no_answer", (char *)"busy"};
    in.name = (char *)"Scripted";
    in.flow_id = agent;
    in.max_retries = 2;
    in.set_max_retries = true;
    in.retry_delay_minutes = 0;
    in.set_retry_delay_minutes = true;
    in.calls_per_minute = 60000;
    in.max_concurrent_calls = 50;
    in.retry_on = retry_on;
    in.n_retry_on = 2;
    in.webhook_url = (char *)"https://crm.example.com/osmtalk";
    create_campaign(org, &in, id, sizeof id);
    upload(org, id, 5, 7000000, NULL);
    ck_assert_str_eq(act(org, id, "start", OD__STATUS__OK), "IN_PROGRESS");
    ts_sleep_ms(100);
    Od__ClaimReply *r = claim(&ctx, "w1", 5, 60);
    ck_assert_int_eq((int)r->n_leases, 5);
    for (int i = 0; i < 5; i++) {
        snprintf(lead[i], sizeof lead[i], "%s", r->leases[i]->lead_id);
        ck_assert_int_eq(r->leases[i]->attempt, 1);
        ck_assert(!r->leases[i]->reclaimed);
    }
    rpc_ctx_release(&ctx);
    Od__AttemptStartedRequest st = OD__ATTEMPT_STARTED_REQUEST__INIT;
    st.lead_id = lead[0];
    st.attempt = 1;
    st.worker_id = (char *)"w1";
    st.call_id = (char *)"call_1";
    st.lease_seconds = 600;
    rpc_ctx_init(&ctx, "", "t", T_MS);
    od__dialing__attempt_started(SVC(g_camp, dialing), &st, NULL, &ctx);
    ck_status(ctx, OD__STATUS__OK);
    rpc_ctx_release(&ctx);

    /* lead 0: completed after 61 s -> COMPLETED, 2 minutes; twice -> duplicate */
    finish(&f, lead[0], 1, "completed", 61);
    ck_status(f, OD__STATUS__OK);
    ck_assert_str_eq(((Od__AttemptFinishedReply *)f.reply)->lead_status, "COMPLETED");
    rpc_ctx_release(&f);
    finish(&f, lead[0], 1, "no_answer", 0);
    ck_status(f, OD__STATUS__OK);
    ck_assert(((Od__AttemptFinishedReply *)f.reply)->duplicate);
    ck_assert_str_eq(((Od__AttemptFinishedReply *)f.reply)->lead_status, "COMPLETED");
    rpc_ctx_release(&f);
    /* lead 1: voicemail is not in retryOn -> COMPLETED; lead 2: dnc -> SKIPPED;
     * lead 3: failed -> FAILED (not in retryOn) */
    finish(&f, lead[1], 1, "voicemail", 20);
    ck_assert_str_eq(((Od__AttemptFinishedReply *)f.reply)->lead_status, "COMPLETED");
    rpc_ctx_release(&f);
    finish(&f, lead[2], 1, "dnc", 0);
    ck_assert_str_eq(((Od__AttemptFinishedReply *)f.reply)->lead_status, "SKIPPED");
    rpc_ctx_release(&f);
    finish(&f, lead[3], 1, "failed", 0);
    ck_assert_str_eq(((Od__AttemptFinishedReply *)f.reply)->lead_status, "FAILED");
    rpc_ctx_release(&f);
    /* lead 4: no_answer, busy, no_answer -> retried twice, then FAILED after 3 attempts */
    const char *seq[] = {"no_answer", "busy", "no_answer"};
    for (int a = 1; a <= 3; a++) {
        if (a > 1) {
            r = claim(&ctx, "w1", 5, 60);
            ck_assert_int_eq((int)r->n_leases, 1);
            ck_assert_str_eq(r->leases[0]->lead_id, lead[4]);
            ck_assert_int_eq(r->leases[0]->attempt, a);
            rpc_ctx_release(&ctx);
        }
        finish(&f, lead[4], a, seq[a - 1], 0);
        ck_status(f, OD__STATUS__OK);
        Od__AttemptFinishedReply *fr = (Od__AttemptFinishedReply *)f.reply;
        ck_assert_str_eq(fr->lead_status, a < 3 ? "PENDING" : "FAILED");
        ck_assert(fr->retry == (a < 3));
        rpc_ctx_release(&f);
    }
    /* a stale attempt number is CONFLICT-free duplicate; an unknown lead NOT_FOUND */
    finish(&f, "lead_nope", 1, "completed", 0);
    ck_status(f, OD__STATUS__NOT_FOUND);
    rpc_ctx_release(&f);

    ck_assert_str_eq(campaign_status(org, id), "COMPLETED");
    ck_assert_int_eq(outbox_events(org, "campaign.completed"), 1);
    ck_assert_int_eq(outbox_events(org, "campaign.lead_completed"), 5);
    /* the campaign's own webhookUrl receives its events too */
    ck_assert_int_eq(scalar("SELECT count(*) FROM campaign.outbox WHERE org_id = '%s' AND"
                            " webhook_url = 'https://crm.example.com/osmtalk'", org), 7);
    ck_assert_int_eq(scalar("SELECT count(*) FROM campaign.outbox WHERE org_id = '%s' AND"
                            " event_type = 'campaign.lead_completed' AND payload->'lead'->>'id' = '%s'"
                            " AND payload->'lead'->>'disposition' = 'interested'"
                            " AND payload->'lead'->'outcome'->>'outcome' = 'completed'", org, lead[0]), 1);
    /* 61 s -> 2 minutes, 20 s -> 1 minute */
    ck_assert_int_eq(scalar("SELECT balance FROM campaign.credit_balances WHERE org_id = '%s'", org), 997);
    ck_assert_int_eq(scalar("SELECT count(*) FROM campaign.credit_ledger WHERE org_id = '%s' AND reason = 'call'", org), 2);

    Od__IdRequest idr = OD__ID_REQUEST__INIT;
    idr.id = id;
    ctx_init(&ctx, org);
    od__campaigns__get_progress(SVC(g_camp, campaigns), &idr, NULL, &ctx);
    ck_status(ctx, OD__STATUS__OK);
    Od__Progress *p = (Od__Progress *)ctx.reply;
    ck_assert_str_eq(p->status, "COMPLETED");
    ck_assert_int_eq(p->total, 5);
    ck_assert_int_eq(p->completed, 2);
    ck_assert_int_eq(p->failed, 2);
    ck_assert_int_eq(p->skipped, 1);
    ck_assert_int_eq(p->percent_complete, 100);
    rpc_ctx_release(&ctx);
    ctx_init(&ctx, org);
    od__campaigns__get_report(SVC(g_camp, campaigns), &idr, NULL, &ctx);
    ck_status(ctx, OD__STATUS__OK);
    Od__Report *rep = (Od__Report *)ctx.reply;
    ck_assert_int_eq((int)rep->n_by_status, 3);
    ck_assert_int_eq((int)rep->n_by_disposition, 1);
    ck_assert_str_eq(rep->by_disposition[0]->key, "interested");
    rpc_ctx_release(&ctx);
    Od__UsageRequest ur = OD__USAGE_REQUEST__INIT;
    ctx_init(&ctx, org);
    od__credits__usage(SVC(g_camp, credits), &ur, NULL, &ctx);
    ck_status(ctx, OD__STATUS__OK);
    ck_assert_int_eq(((Od__UsageReply *)ctx.reply)->total_minutes, 3);
    ck_assert_int_eq((int)((Od__UsageReply *)ctx.reply)->n_by_campaign, 1);
    rpc_ctx_release(&ctx);
    /* the default retry delay: 5 minutes */
    (void)in;
}
END_TEST

START_TEST(test_expired_lease_same_attempt_and_release)
{
    const char *org = "org_lease";
    char agent[64], id[64], lead[64];
    struct rpc_ctx ctx, f;
    grant(org, 1000);
    create_agent(org, agent, sizeof agent);
    Od__CampaignInput in = OD__CAMPAIGN_INPUT__INIT;
    in.name = (char *)"Leases";
    in.flow_id = agent;
    in.calls_per_minute = 60000;
    in.max_concurrent_calls = 1;
    create_campaign(org, &in, id, sizeof id);
    upload(org, id, 2, 6000000, NULL);
    act(org, id, "start", OD__STATUS__OK);
    ts_sleep_ms(50);
    Od__ClaimReply *r = claim(&ctx, "dead-worker", 5, 1);
    ck_assert_int_eq((int)r->n_leases, 1); /* the cap is 1 */
    snprintf(lead, sizeof lead, "%s", r->leases[0]->lead_id);
    rpc_ctx_release(&ctx);
    r = claim(&ctx, "w2", 5, 30);
    ck_assert_int_eq((int)r->n_leases, 0); /* the slot is held */
    rpc_ctx_release(&ctx);
    ts_sleep_ms(1300);
    r = claim(&ctx, "w2", 5, 30);
    ck_assert_int_eq((int)r->n_leases, 1);
    ck_assert_str_eq(r->leases[0]->lead_id, lead);
    ck_assert_int_eq(r->leases[0]->attempt, 1);
    ck_assert(r->leases[0]->reclaimed);
    rpc_ctx_release(&ctx);
    ck_assert_int_eq(scalar("SELECT attempts FROM campaign.leads WHERE id = '%s'", lead), 1);
    /* the dead worker's AttemptStarted is refused: the lease is w2's now */
    Od__AttemptStartedRequest st = OD__ATTEMPT_STARTED_REQUEST__INIT;
    st.lead_id = lead;
    st.attempt = 1;
    st.worker_id = (char *)"dead-worker";
    rpc_ctx_init(&ctx, "", "t", T_MS);
    od__dialing__attempt_started(SVC(g_camp, dialing), &st, NULL, &ctx);
    ck_status(ctx, OD__STATUS__CONFLICT);
    rpc_ctx_release(&ctx);
    /* AttemptsStarted answers item by item: the dead worker's refused, w2's started */
    Od__AttemptStartedRequest mine = OD__ATTEMPT_STARTED_REQUEST__INIT;
    mine.lead_id = lead;
    mine.attempt = 1;
    mine.worker_id = (char *)"w2";
    mine.call_id = (char *)"call_batch";
    mine.lease_seconds = 60;
    Od__AttemptStartedRequest *items[] = {&st, &mine};
    Od__AttemptsStartedRequest batch = OD__ATTEMPTS_STARTED_REQUEST__INIT;
    batch.items = items;
    batch.n_items = 2;
    rpc_ctx_init(&ctx, "", "t", T_MS);
    od__dialing__attempts_started(SVC(g_camp, dialing), &batch, NULL, &ctx);
    ck_status(ctx, OD__STATUS__OK);
    Od__AttemptsStartedReply *br = (Od__AttemptsStartedReply *)ctx.reply;
    ck_assert_int_eq((int)br->n_started, 2);
    ck_assert(!br->started[0]);
    ck_assert(br->started[1]);
    rpc_ctx_release(&ctx);
    ck_assert_int_eq(scalar("SELECT count(*) FROM campaign.leads WHERE id = '%s'"
                            " AND status = 'IN_PROGRESS' AND last_call_id = 'call_batch'",
                            lead),
                     1);
    /* renew, then hand back: PENDING, the same attempt on the next claim */
    Od__LeaseRef ref = OD__LEASE_REF__INIT, *refs[] = {&ref};
    ref.lead_id = lead;
    ref.attempt = 1;
    Od__LeasesRequest lr = OD__LEASES_REQUEST__INIT;
    lr.worker_id = (char *)"w2";
    lr.leases = refs;
    lr.n_leases = 1;
    lr.lease_seconds = 60;
    rpc_ctx_init(&ctx, "", "t", T_MS);
    od__dialing__renew_leases(SVC(g_camp, dialing), &lr, NULL, &ctx);
    ck_status(ctx, OD__STATUS__OK);
    ck_assert_int_eq(((Od__LeasesReply *)ctx.reply)->count, 1);
    rpc_ctx_release(&ctx);
    rpc_ctx_init(&ctx, "", "t", T_MS);
    od__dialing__release_leases(SVC(g_camp, dialing), &lr, NULL, &ctx);
    ck_status(ctx, OD__STATUS__OK);
    ck_assert_int_eq(((Od__LeasesReply *)ctx.reply)->count, 1);
    rpc_ctx_release(&ctx);
    r = claim(&ctx, "w3", 5, 30);
    ck_assert_int_eq((int)r->n_leases, 1);
    ck_assert_int_eq(r->leases[0]->attempt, r->leases[0]->reclaimed ? 1 : 1);
    char got[64];
    snprintf(got, sizeof got, "%s", r->leases[0]->lead_id);
    bool reclaimed = r->leases[0]->reclaimed;
    rpc_ctx_release(&ctx);
    if (strcmp(got, lead) == 0)
        ck_assert(reclaimed);
    finish(&f, got, 1, "completed", 0);
    ck_status(f, OD__STATUS__OK);
    rpc_ctx_release(&f);
    /* no slot stays stuck: in flight equals the leased leads, and the other lead is claimable */
    r = claim(&ctx, "w3", 5, 30);
    ck_assert_int_eq((int)r->n_leases, 1);
    rpc_ctx_release(&ctx);
    ck_assert_int_eq(scalar("SELECT count(*) FROM campaign.leads WHERE campaign_id = '%s'"
                            " AND status IN ('QUEUED', 'IN_PROGRESS')", id), 1);
    /* disposition after the fact, twice */
    Od__DispositionRequest dr = OD__DISPOSITION_REQUEST__INIT;
    dr.lead_id = got;
    dr.attempt = 1;
    dr.disposition = (char *)"callback_requested";
    for (int i = 0; i < 2; i++) {
        rpc_ctx_init(&ctx, "", "t", T_MS);
        od__dialing__record_disposition(SVC(g_camp, dialing), &dr, NULL, &ctx);
        ck_status(ctx, OD__STATUS__OK);
        rpc_ctx_release(&ctx);
    }
    ck_assert_int_eq(scalar("SELECT count(*) FROM campaign.leads WHERE id = '%s'"
                            " AND disposition = 'callback_requested'", got), 1);
    act(org, id, "cancel", OD__STATUS__OK);
}
END_TEST

/* Four claimers at once: the pace holds within 2% and the cap is never exceeded. */
struct claimer {
    int64_t stop_at, t0;
    int hold_ms;
    atomic_int *in_flight, *max_in_flight, *claimed_in_window;
    int64_t window_from, window_to;
    int errors;
};

static void *claimer_main(void *arg)
{
    struct claimer *c = arg;
    char worker[32];
    snprintf(worker, sizeof worker, "w-%p", (void *)c);
    while (ts_now_ms() < c->stop_at) {
        struct rpc_ctx ctx, f;
        Od__ClaimRequest in = OD__CLAIM_REQUEST__INIT;
        in.worker_id = worker;
        in.capacity = 5;
        in.lease_seconds = 60;
        rpc_ctx_init(&ctx, "", "claim", T_MS);
        od__dialing__claim(SVC(g_camp, dialing), &in, NULL, &ctx);
        if (ctx.status != OD__STATUS__OK) {
            c->errors++;
            rpc_ctx_release(&ctx);
            continue;
        }
        Od__ClaimReply *r = (Od__ClaimReply *)ctx.reply;
        int64_t now = ts_now_ms();
        int n = (int)r->n_leases;
        if (n > 0) {
            int v = atomic_fetch_add(c->in_flight, n) + n, m;
            while ((m = atomic_load(c->max_in_flight)) < v &&
                   !atomic_compare_exchange_weak(c->max_in_flight, &m, v))
                ;
            if (now >= c->window_from && now < c->window_to)
                atomic_fetch_add(c->claimed_in_window, n);
            if (c->hold_ms > 0)
                ts_sleep_ms(c->hold_ms);
            /* the count drops before the lead is released on the server */
            atomic_fetch_sub(c->in_flight, n);
            for (int i = 0; i < n; i++) {
                finish(&f, r->leases[i]->lead_id, r->leases[i]->attempt, "completed", 0);
                if (f.status != OD__STATUS__OK)
                    c->errors++;
                rpc_ctx_release(&f);
            }
        } else {
            ts_sleep_ms(4);
        }
        rpc_ctx_release(&ctx);
    }
    return NULL;
}

static void run_claimers(struct claimer *base, int seconds)
{
    pthread_t t[4];
    struct claimer c[4];
    base->stop_at = ts_now_ms() + seconds * 1000;
    for (int i = 0; i < 4; i++) {
        c[i] = *base;
        ck_assert_int_eq(pthread_create(&t[i], NULL, claimer_main, &c[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        base->errors += c[i].errors;
    }
}

START_TEST(test_pacing_and_cap_under_four_claimers)
{
    const char *org = "org_pace";
    char agent[64], id[64];
    atomic_int in_flight = 0, max_in_flight = 0, claimed = 0;
    grant(org, 100000);
    create_agent(org, agent, sizeof agent);

    /* the cap: 3 calls at most, each held 60 ms, no pace limit to speak of */
    Od__CampaignInput in = OD__CAMPAIGN_INPUT__INIT;
    in.name = (char *)"Cap";
    in.flow_id = agent;
    in.calls_per_minute = 60000;
    in.max_concurrent_calls = 3;
    create_campaign(org, &in, id, sizeof id);
    upload(org, id, 2000, 1000000, NULL);
    act(org, id, "start", OD__STATUS__OK);
    struct claimer cap = {.hold_ms = 60, .in_flight = &in_flight, .max_in_flight = &max_in_flight,
                          .claimed_in_window = &claimed};
    run_claimers(&cap, 3);
    ck_assert_int_eq(cap.errors, 0);
    ck_assert_int_le(atomic_load(&max_in_flight), 3);
    ck_assert_int_eq(atomic_load(&max_in_flight), 3); /* and it was reached */
    ck_assert_int_eq(scalar("SELECT count(*) FROM campaign.leads WHERE campaign_id = '%s'"
                            " AND status IN ('QUEUED', 'IN_PROGRESS')", id), 0);
    act(org, id, "cancel", OD__STATUS__OK);

    /* the pace: 3000 calls a minute (50 a second), measured over 6 s after a 1 s warm-up */
    Od__CampaignInput pin = OD__CAMPAIGN_INPUT__INIT;
    pin.name = (char *)"Pace";
    pin.flow_id = agent;
    pin.calls_per_minute = 3000;
    pin.max_concurrent_calls = 50;
    create_campaign(org, &pin, id, sizeof id);
    upload(org, id, 1000, 2000000, NULL);
    act(org, id, "start", OD__STATUS__OK);
    atomic_store(&max_in_flight, 0);
    int64_t t0 = ts_now_ms();
    struct claimer pace = {.hold_ms = 0, .in_flight = &in_flight, .max_in_flight = &max_in_flight,
                           .claimed_in_window = &claimed, .window_from = t0 + 1000,
                           .window_to = t0 + 7000};
    atomic_store(&claimed, 0);
    run_claimers(&pace, 7);
    ck_assert_int_eq(pace.errors, 0);
    int got = atomic_load(&claimed);
    fprintf(stderr, "[pace] %d leases in 6 s (expected 300)\n", got);
    ck_assert_msg(got >= 294 && got <= 306, "pace: %d leases in 6 s, expected 300 +- 2%%", got);
    act(org, id, "cancel", OD__STATUS__OK);
}
END_TEST

/* ---------------- scheduler ---------------- */

START_TEST(test_scheduled_start_fires_once_with_two_schedulers)
{
    const char *org = "org_sched", *broke = "org_sched_broke";
    char agent[64], agent2[64], id[64], id2[64], when[40];
    grant(org, 1000);
    create_agent(org, agent, sizeof agent);
    create_agent(broke, agent2, sizeof agent2);
    int64_t at = ts_wall_ms() + 1500;
    time_t secs = (time_t)(at / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when + strlen(when), sizeof when - strlen(when), ".%03dZ", (int)(at % 1000));
    Od__CampaignInput in = OD__CAMPAIGN_INPUT__INIT;
    in.name = (char *)"Morning";
    in.flow_id = agent;
    in.scheduled_at = when;
    in.timezone = (char *)"America/New_York";
    create_campaign(org, &in, id, sizeof id);
    upload(org, id, 50, 5000000, NULL);
    ck_assert_str_eq(act(org, id, "start", OD__STATUS__OK), "SCHEDULED");
    in.flow_id = agent2;
    create_campaign(broke, &in, id2, sizeof id2);
    grant(broke, 1);
    ck_assert_str_eq(act(broke, id2, "start", OD__STATUS__OK), "SCHEDULED");
    /* the credits are gone by the time it is due */
    scalar("UPDATE campaign.credit_balances SET balance = 0 WHERE org_id = '%s' RETURNING 1", broke);
    int64_t give_up = ts_now_ms() + 8000;
    while (strcmp(campaign_status(org, id), "IN_PROGRESS") != 0 ||
           strcmp(campaign_status(broke, id2), "FAILED") != 0) {
        ck_assert_msg(ts_now_ms() < give_up, "scheduled campaigns did not start/fail: %s",
                      campaign_status(org, id));
        ts_sleep_ms(100);
    }
    ts_sleep_ms(500); /* give the other replica every chance to start it again */
    ck_assert_int_eq(scalar("SELECT count(*) FROM campaign.outbox WHERE event_type ="
                            " 'campaign.started' AND payload->'campaign'->>'id' = '%s'", id), 1);
    ck_assert_int_eq(scalar("SELECT count(*) FROM campaign.leads WHERE campaign_id = '%s'", id), 50);
    ck_assert_int_eq(scalar("SELECT count(*) FROM campaign.campaigns WHERE id = '%s'"
                            " AND status_reason = 'insufficient credits'", id2), 1);
    act(org, id, "cancel", OD__STATUS__OK);
}
END_TEST

/* Deleting a campaign's caller ID fails it; credits running low then out. */
START_TEST(test_caller_id_deleted_and_credits_run_out)
{
    const char *org = "org_credits";
    char agent[64], pn[64], id[64], id2[64];
    struct rpc_ctx ctx, f;
    grant(org, 104);
    create_agent(org, agent, sizeof agent);
    create_phone(org, "+14155559999", pn, sizeof pn, NULL);
    Od__CampaignInput in = OD__CAMPAIGN_INPUT__INIT;
    in.name = (char *)"Caller";
    in.flow_id = agent;
    in.phone_number_id = pn;
    create_campaign(org, &in, id, sizeof id);
    upload(org, id, 1, 4000000, NULL);
    act(org, id, "start", OD__STATUS__OK);
    Od__IdRequest del = OD__ID_REQUEST__INIT;
    del.id = pn;
    ctx_init(&ctx, org);
    od__phone_numbers__delete(SVC(g_camp, phone_numbers), &del, NULL, &ctx);
    ck_status(ctx, OD__STATUS__OK);
    rpc_ctx_release(&ctx);
    ck_assert_str_eq(campaign_status(org, id), "FAILED");
    ck_assert_int_eq(scalar("SELECT count(*) FROM campaign.campaigns WHERE id = '%s'"
                            " AND status_reason = 'caller ID deleted'", id), 1);

    Od__CampaignInput in2 = OD__CAMPAIGN_INPUT__INIT;
    in2.name = (char *)"Spender";
    in2.flow_id = agent;
    in2.calls_per_minute = 60000;
    create_campaign(org, &in2, id2, sizeof id2);
    upload(org, id2, 4, 4100000, NULL);
    act(org, id2, "start", OD__STATUS__OK);
    ts_sleep_ms(50);
    Od__ClaimReply *r = claim(&ctx, "w-credit", 4, 60);
    ck_assert_int_eq((int)r->n_leases, 4);
    /* 104 - 5 = 99: credits.low once */
    finish(&f, r->leases[0]->lead_id, 1, "completed", 290);
    ck_status(f, OD__STATUS__OK);
    rpc_ctx_release(&f);
    ck_assert_int_eq(outbox_events(org, "credits.low"), 1);
    finish(&f, r->leases[1]->lead_id, 1, "completed", 60);
    rpc_ctx_release(&f);
    ck_assert_int_eq(outbox_events(org, "credits.low"), 1);
    /* 98 - 100 < 0: the running campaign pauses with the reason */
    finish(&f, r->leases[2]->lead_id, 1, "completed", 6000);
    ck_status(f, OD__STATUS__OK);
    rpc_ctx_release(&f);
    rpc_ctx_release(&ctx);
    ck_assert_str_eq(campaign_status(org, id2), "PAUSED");
    ck_assert_int_eq(scalar("SELECT count(*) FROM campaign.campaigns WHERE id = '%s'"
                            " AND status_reason = 'credits exhausted'", id2), 1);
    ck_assert_str_eq(act(org, id2, "resume", OD__STATUS__PAYMENT_REQUIRED), "insufficient credits");
    r = claim(&ctx, "w-credit", 4, 60);
    ck_assert_int_eq((int)r->n_leases, 0);
    rpc_ctx_release(&ctx);
}
END_TEST

/* A duration at the int32 limit is debited in full (its minutes overflowed to a negative,
 * so the call was free); a late outcome with variables and no disposition keeps the lead's
 * disposition (it was INVALID, and the dialer answered the agent 503 "retry" forever). */
START_TEST(test_huge_duration_debited_and_variables_only_disposition)
{
    const char *org = "org_huge";
    char agent[64], id[64];
    struct rpc_ctx ctx, f;
    grant(org, 100);
    create_agent(org, agent, sizeof agent);
    Od__CampaignInput in = OD__CAMPAIGN_INPUT__INIT;
    in.name = (char *)"Huge";
    in.flow_id = agent;
    in.calls_per_minute = 60000;
    create_campaign(org, &in, id, sizeof id);
    upload(org, id, 2, 4200000, NULL);
    act(org, id, "start", OD__STATUS__OK);
    ts_sleep_ms(50);
    Od__ClaimReply *r = claim(&ctx, "w-huge", 2, 60);
    ck_assert_int_eq((int)r->n_leases, 2);

    finish(&f, r->leases[0]->lead_id, 1, "completed", INT_MAX);
    ck_status(f, OD__STATUS__OK);
    rpc_ctx_release(&f);
    ck_assert_int_eq(scalar("SELECT balance FROM campaign.credit_balances WHERE org_id = '%s'",
                            org), 100 - 35791395);
    ck_assert_str_eq(campaign_status(org, id), "PAUSED");

    Od__DispositionRequest d = OD__DISPOSITION_REQUEST__INIT;
    d.lead_id = r->leases[0]->lead_id;
    d.attempt = 1;
    d.disposition = (char *)"";
    d.variables_json = (char *)"{\"callback\": \"tomorrow\"}";
    rpc_ctx_init(&f, "", "disp", T_MS);
    od__dialing__record_disposition(SVC(g_camp, dialing), &d, NULL, &f);
    ck_status(f, OD__STATUS__OK);
    rpc_ctx_release(&f);
    ck_assert_int_eq(scalar("SELECT count(*) FROM campaign.leads WHERE id = '%s'"
                            " AND disposition = 'interested'"
                            " AND variables->>'callback' = 'tomorrow'",
                            r->leases[0]->lead_id), 1);
    d.variables_json = (char *)"";
    rpc_ctx_init(&f, "", "disp", T_MS);
    od__dialing__record_disposition(SVC(g_camp, dialing), &d, NULL, &f);
    ck_status(f, OD__STATUS__INVALID);
    rpc_ctx_release(&f);
    rpc_ctx_release(&ctx);
}
END_TEST

/* Pause stops new claims at once: a Claim that read the campaign as running, then was slow
 * (a trigger makes its pacing refill sleep), must not lease the campaign's leads after the
 * pause committed. */
struct slow_claim {
    int leases;
    Od__Status status;
};

static void *slow_claim_main(void *arg)
{
    struct slow_claim *sc = arg;
    struct rpc_ctx ctx;
    Od__ClaimRequest in = OD__CLAIM_REQUEST__INIT;
    in.worker_id = (char *)"w-slow";
    in.capacity = 5;
    in.lease_seconds = 60;
    rpc_ctx_init(&ctx, "", "claim", T_MS);
    od__dialing__claim(SVC(g_camp, dialing), &in, NULL, &ctx);
    sc->status = ctx.status;
    sc->leases = ctx.status == OD__STATUS__OK ? (int)((Od__ClaimReply *)ctx.reply)->n_leases : -1;
    rpc_ctx_release(&ctx);
    return NULL;
}

START_TEST(test_pause_stops_a_claim_in_flight)
{
    const char *org = "org_pause_race";
    char agent[64], id[64];
    pthread_t t;
    struct slow_claim sc = {0};
    grant(org, 1000);
    create_agent(org, agent, sizeof agent);
    Od__CampaignInput in = OD__CAMPAIGN_INPUT__INIT;
    in.name = (char *)"Race";
    in.flow_id = agent;
    in.calls_per_minute = 60000;
    in.respect_contact_local_time = 1;
    in.set_respect_contact_local_time = 1;
    create_campaign(org, &in, id, sizeof id);
    upload(org, id, 3, 4300000, NULL);
    act(org, id, "start", OD__STATUS__OK);
    scalar("CREATE FUNCTION campaign.test_slow_refill() RETURNS trigger LANGUAGE plpgsql AS"
           " $$BEGIN PERFORM pg_sleep(1.5); RETURN NEW; END$$;"
           " CREATE TRIGGER test_slow_refill BEFORE UPDATE ON campaign.pacing FOR EACH ROW"
           " WHEN (OLD.campaign_id = '%s') EXECUTE FUNCTION campaign.test_slow_refill();"
           " SELECT 1", id);
    ts_sleep_ms(50);
    ck_assert_int_eq(pthread_create(&t, NULL, slow_claim_main, &sc), 0);
    ts_sleep_ms(500); /* the claim is asleep in its refill */
    ck_assert_str_eq(act(org, id, "pause", OD__STATUS__OK), "PAUSED");
    pthread_join(t, NULL);
    scalar("DROP TRIGGER test_slow_refill ON campaign.pacing;"
           " DROP FUNCTION campaign.test_slow_refill(); SELECT 1");
    ck_assert_int_eq(sc.status, OD__STATUS__OK);
    ck_assert_int_eq(sc.leases, 0);
    ck_assert_int_eq(scalar("SELECT count(*) FROM campaign.leads WHERE campaign_id = '%s'"
                            " AND status <> 'PENDING'", id), 0);
}
END_TEST

/* Another organization's ids are NOT_FOUND everywhere. */
START_TEST(test_other_organization_not_found)
{
    const char *org = "org_mine", *other = "org_theirs";
    char agent[64], pn[64], id[64];
    struct rpc_ctx ctx;
    create_agent(org, agent, sizeof agent);
    create_phone(org, "+14155558888", pn, sizeof pn, NULL);
    simple_campaign(org, agent, id, sizeof id);
    Od__IdRequest idr = OD__ID_REQUEST__INIT;
#define EXPECT_NF(call)                                                                        \
    do {                                                                                       \
        ctx_init(&ctx, other);                                                                 \
        call;                                                                                  \
        ck_status(ctx, OD__STATUS__NOT_FOUND);                                                 \
        rpc_ctx_release(&ctx);                                                                 \
    } while (0)
    idr.id = agent;
    EXPECT_NF(od__agents__get(SVC(g_camp, agents), &idr, NULL, &ctx));
    EXPECT_NF(od__agents__delete(SVC(g_camp, agents), &idr, NULL, &ctx));
    Od__AgentInput au = OD__AGENT_INPUT__INIT;
    au.id = agent;
    EXPECT_NF(od__agents__update(SVC(g_camp, agents), &au, NULL, &ctx));
    idr.id = pn;
    EXPECT_NF(od__phone_numbers__get(SVC(g_camp, phone_numbers), &idr, NULL, &ctx));
    EXPECT_NF(od__phone_numbers__delete(SVC(g_camp, phone_numbers), &idr, NULL, &ctx));
    idr.id = id;
    EXPECT_NF(od__campaigns__get(SVC(g_camp, campaigns), &idr, NULL, &ctx));
    EXPECT_NF(od__campaigns__delete(SVC(g_camp, campaigns), &idr, NULL, &ctx));
    EXPECT_NF(od__campaigns__get_progress(SVC(g_camp, campaigns), &idr, NULL, &ctx));
    EXPECT_NF(od__campaigns__get_report(SVC(g_camp, campaigns), &idr, NULL, &ctx));
    Od__CampaignInput cu = OD__CAMPAIGN_INPUT__INIT;
    cu.id = id;
    EXPECT_NF(od__campaigns__update(SVC(g_camp, campaigns), &cu, NULL, &ctx));
    Od__CampaignActionRequest ar = OD__CAMPAIGN_ACTION_REQUEST__INIT;
    ar.id = id;
    ar.action = (char *)"cancel";
    EXPECT_NF(od__campaigns__act(SVC(g_camp, campaigns), &ar, NULL, &ctx));
    Od__ListLeadsRequest lr = OD__LIST_LEADS_REQUEST__INIT;
    lr.campaign_id = id;
    EXPECT_NF(od__leads__list(SVC(g_camp, leads), &lr, NULL, &ctx));
    /* a campaign of the other organization cannot name this one's agent */
    Od__CampaignInput cc = OD__CAMPAIGN_INPUT__INIT;
    cc.name = (char *)"steal";
    cc.flow_id = agent;
    EXPECT_NF(od__campaigns__create(SVC(g_camp, campaigns), &cc, NULL, &ctx));
#undef EXPECT_NF
}
END_TEST

/* AttemptsFinished: one transaction, an answer per item. A finish, the same finish again
 * (duplicate), an unknown lead, a wrong attempt, a bad outcome and a lead another transaction
 * holds (UNAVAILABLE at once: a batch never waits for a lead); then the held one again. */
START_TEST(test_attempts_finished_batch)
{
    const char *org = "org_batch";
    char agent[64], id[64], a[64], b[64];
    struct rpc_ctx ctx;
    grant(org, 1000);
    create_agent(org, agent, sizeof agent);
    Od__CampaignInput in = OD__CAMPAIGN_INPUT__INIT;
    in.name = (char *)"Batch";
    in.flow_id = agent;
    in.calls_per_minute = 60000;
    in.max_concurrent_calls = 10;
    in.max_retries = 0;
    in.set_max_retries = true;
    create_campaign(org, &in, id, sizeof id);
    upload(org, id, 2, 7000000, NULL);
    act(org, id, "start", OD__STATUS__OK);
    ts_sleep_ms(50);
    Od__ClaimReply *r = claim(&ctx, "wb", 5, 60);
    ck_assert_int_eq((int)r->n_leases, 2);
    snprintf(a, sizeof a, "%s", r->leases[0]->lead_id);
    snprintf(b, sizeof b, "%s", r->leases[1]->lead_id);
    rpc_ctx_release(&ctx);

    /* b is held by another transaction for the first batch */
    PGconn *holder = ts_db_admin(g_db);
    char sql[256];
    PQclear(PQexec(holder, "BEGIN"));
    snprintf(sql, sizeof sql, "SELECT 1 FROM campaign.leads WHERE id = '%s' FOR UPDATE", b);
    PGresult *held = PQexec(holder, sql);
    ck_assert_int_eq(PQntuples(held), 1);
    PQclear(held);

    Od__AttemptFinishedRequest it[6];
    Od__AttemptFinishedRequest *items[6];
    const char *leads[] = {a, a, "lead_nobody", a, a, b};
    const int attempts[] = {1, 1, 1, 7, 1, 1};
    const char *outcomes[] = {"completed", "completed", "completed", "completed", "nonsense",
                              "busy"};
    for (int i = 0; i < 6; i++) {
        od__attempt_finished_request__init(&it[i]);
        it[i].lead_id = (char *)leads[i];
        it[i].attempt = attempts[i];
        it[i].outcome = (char *)outcomes[i];
        it[i].duration_seconds = 61;
        it[i].call_id = (char *)"call_batch";
        items[i] = &it[i];
    }
    Od__AttemptsFinishedRequest batch = OD__ATTEMPTS_FINISHED_REQUEST__INIT;
    batch.items = items;
    batch.n_items = 6;
    rpc_ctx_init(&ctx, "", "t", T_MS);
    int64_t t0 = ts_now_ms();
    od__dialing__attempts_finished(SVC(g_camp, dialing), &batch, NULL, &ctx);
    ck_status(ctx, OD__STATUS__OK);
    ck_assert_msg(ts_now_ms() - t0 < 5000, "the batch waited for the held lead");
    Od__AttemptsFinishedReply *rep = (Od__AttemptsFinishedReply *)ctx.reply;
    ck_assert_int_eq((int)rep->n_results, 6);
    const Od__Status want[] = {OD__STATUS__OK,       OD__STATUS__OK,      OD__STATUS__NOT_FOUND,
                               OD__STATUS__CONFLICT, OD__STATUS__INVALID, OD__STATUS__UNAVAILABLE};
    for (int i = 0; i < 6; i++)
        ck_assert_msg(rep->results[i]->status == want[i], "item %d: %s (%s)", i,
                      rpc_status_name(rep->results[i]->status), rep->results[i]->message);
    ck_assert_str_eq(rep->results[0]->reply->lead_status, "COMPLETED");
    ck_assert(!rep->results[0]->reply->duplicate);
    ck_assert(rep->results[1]->reply->duplicate); /* the same finish, in the same batch */
    rpc_ctx_release(&ctx);
    PQclear(PQexec(holder, "COMMIT"));
    PQfinish(holder);
    /* written once: one debit of 2 minutes, one lead_completed */
    ck_assert_int_eq(scalar("SELECT count(*) FROM campaign.credit_ledger WHERE lead_id = '%s'", a),
                     1);
    ck_assert_int_eq(scalar("SELECT -amount FROM campaign.credit_ledger WHERE lead_id = '%s'", a),
                     2);
    ck_assert_int_eq(scalar("SELECT count(*) FROM campaign.leads WHERE id = '%s'"
                            " AND status = 'IN_PROGRESS' OR id = '%s' AND status = 'QUEUED'", b, b),
                     1);

    /* b again, now free: FAILED (busy, no retries); the campaign has no open lead left */
    Od__AttemptFinishedRequest *again[] = {&it[5]};
    batch.items = again;
    batch.n_items = 1;
    rpc_ctx_init(&ctx, "", "t", T_MS);
    od__dialing__attempts_finished(SVC(g_camp, dialing), &batch, NULL, &ctx);
    ck_status(ctx, OD__STATUS__OK);
    rep = (Od__AttemptsFinishedReply *)ctx.reply;
    ck_assert_int_eq(rep->results[0]->status, OD__STATUS__OK);
    ck_assert_str_eq(rep->results[0]->reply->lead_status, "FAILED");
    rpc_ctx_release(&ctx);
    ck_assert_str_eq(campaign_status(org, id), "COMPLETED");
}
END_TEST

/* A batch reads its leads in one statement and checks each campaign's completion once,
 * after its last lead: the two leads of one campaign and one lead of another, finished in
 * one batch, complete both campaigns. */
START_TEST(test_attempts_finished_batch_completes)
{
    const char *org = "org_batch2";
    char agent[64], id1[64], id2[64];
    struct rpc_ctx ctx;
    grant(org, 1000);
    create_agent(org, agent, sizeof agent);
    Od__CampaignInput in = OD__CAMPAIGN_INPUT__INIT;
    in.name = (char *)"Batch two";
    in.flow_id = agent;
    in.calls_per_minute = 60000;
    in.max_concurrent_calls = 10;
    in.max_retries = 0;
    in.set_max_retries = true;
    create_campaign(org, &in, id1, sizeof id1);
    create_campaign(org, &in, id2, sizeof id2);
    upload(org, id1, 2, 7100000, NULL);
    upload(org, id2, 1, 7200000, NULL);
    act(org, id1, "start", OD__STATUS__OK);
    act(org, id2, "start", OD__STATUS__OK);
    ts_sleep_ms(50);
    Od__ClaimReply *r = claim(&ctx, "wb2", 10, 60);
    ck_assert_int_eq((int)r->n_leases, 3);
    Od__AttemptFinishedRequest it[3];
    Od__AttemptFinishedRequest *items[3];
    char leads[3][64];
    for (int i = 0; i < 3; i++) {
        snprintf(leads[i], sizeof leads[i], "%s", r->leases[i]->lead_id);
        od__attempt_finished_request__init(&it[i]);
        it[i].lead_id = leads[i];
        it[i].attempt = r->leases[i]->attempt;
        it[i].outcome = (char *)"completed";
        it[i].call_id = (char *)"call_batch2";
        items[i] = &it[i];
    }
    rpc_ctx_release(&ctx);
    Od__AttemptsFinishedRequest batch = OD__ATTEMPTS_FINISHED_REQUEST__INIT;
    batch.items = items;
    batch.n_items = 3;
    rpc_ctx_init(&ctx, "", "t", T_MS);
    od__dialing__attempts_finished(SVC(g_camp, dialing), &batch, NULL, &ctx);
    ck_status(ctx, OD__STATUS__OK);
    Od__AttemptsFinishedReply *rep = (Od__AttemptsFinishedReply *)ctx.reply;
    ck_assert_int_eq((int)rep->n_results, 3);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(rep->results[i]->status, OD__STATUS__OK);
        ck_assert_str_eq(rep->results[i]->reply->lead_status, "COMPLETED");
    }
    rpc_ctx_release(&ctx);
    ck_assert_str_eq(campaign_status(org, id1), "COMPLETED");
    ck_assert_str_eq(campaign_status(org, id2), "COMPLETED");
    ck_assert_int_eq(scalar("SELECT count(*) FROM campaign.leads WHERE last_call_id = "
                            "'call_batch2' AND status = 'COMPLETED' AND NOT attempt_open"),
                     3);
}
END_TEST

/* ---------------- plans ---------------- */

/* The plan of sql (an EXPLAIN) as one string, heap; asserts that it runs. */
static char *plan_text(PGconn *c, const char *sql)
{
    PGresult *res = PQexec(c, sql);
    ck_assert_msg(PQresultStatus(res) == PGRES_TUPLES_OK, "%s: %s", sql, PQresultErrorMessage(res));
    size_t len = 1;
    for (int i = 0; i < PQntuples(res); i++)
        len += strlen(PQgetvalue(res, i, 0)) + 1;
    char *text = calloc(1, len);
    ck_assert_ptr_nonnull(text);
    for (int i = 0; i < PQntuples(res); i++) {
        strcat(text, PQgetvalue(res, i, 0));
        strcat(text, "\n");
    }
    PQclear(res);
    return text;
}

static void admin_ok(PGconn *c, const char *sql)
{
    PGresult *res = PQexec(c, sql);
    ck_assert_msg(PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK,
                  "%s: %s", sql, PQresultErrorMessage(res));
    PQclear(res);
}

/* Two bugs found with bench (i), where statistics said a campaign's leads were PENDING and
 * they no longer were (a campaign near its end): the no-open-lead probe (every finish, and
 * the scheduler each second) walked every lead of the campaign on leads_campaign (since
 * migration 004 the index that carries status is leads_contact), and the
 * claim's UPDATE hashed every lead of the campaign. Both must stay on their indexes whatever
 * the statistics say; the claim is checked in its generic plan (it is a prepared statement). */
START_TEST(test_probes_and_claim_stay_on_their_indexes)
{
    PGconn *c = ts_db_admin(g_db);
    admin_ok(c, "INSERT INTO campaign.leads (org_id, campaign_id, id, phone_number)"
                " SELECT 'org_plan', 'camp_plan' || (n % 2), 'lead_plan' || lpad(n::text, 6, '0'),"
                " '+1555' || lpad(n::text, 7, '0') FROM generate_series(1, 10000) n");
    admin_ok(c, "ANALYZE campaign.leads");
    admin_ok(c, "UPDATE campaign.leads SET status = 'COMPLETED' WHERE campaign_id = 'camp_plan0'");

    char *plan = plan_text(c, "EXPLAIN SELECT " SQL_NO_OPEN_LEAD("'org_plan'", "'camp_plan0'"));
    ck_assert_msg(strstr(plan, "using leads_due") != NULL && strstr(plan, "leads_in_flight") != NULL &&
                      strstr(plan, "leads_contact") == NULL && strstr(plan, "Seq Scan on leads") == NULL,
                  "no-open-lead probe:\n%s", plan);
    free(plan);

    PGresult *prep = PQprepare(c, "take", dialing_take_sql, 8, NULL);
    ck_assert_msg(PQresultStatus(prep) == PGRES_COMMAND_OK, "%s", PQresultErrorMessage(prep));
    PQclear(prep);
    /* a prepared statement runs custom plans first, then maybe the generic one: both */
    const char *modes[] = {"force_custom_plan", "force_generic_plan"};
    for (int m = 0; m < 2; m++) {
        char set[64];
        snprintf(set, sizeof set, "SET plan_cache_mode = %s", modes[m]);
        admin_ok(c, set);
        plan = plan_text(c, "EXPLAIN EXECUTE take('org_plan', 'camp_plan1', 'w', '60', '10', '10',"
                            " '2026-01-01T00:00:00Z', '50')");
        /* the leads it updates are fetched by primary key; nothing reads the whole campaign */
        ck_assert_msg(strstr(plan, "using leads_pkey on leads l") != NULL &&
                          strstr(plan, "Seq Scan on leads") == NULL &&
                          strstr(plan, "Bitmap Heap Scan on leads") == NULL,
                      "claim (%s):\n%s", modes[m], plan);
        free(plan);
    }
    admin_ok(c, "DELETE FROM campaign.leads WHERE org_id = 'org_plan'");
    PQfinish(c);
}
END_TEST

/* Migration 004: leads_contact is the database's guarantee of one lead per contact per campaign
 * (uploaded leads, without a contact, never conflict) and the index of the campaign's lead
 * list, whose page must not be found by walking the primary key in id order. */
START_TEST(test_lead_list_and_contact_guarantee)
{
    PGconn *c = ts_db_admin(g_db);
    admin_ok(c, "INSERT INTO campaign.leads (org_id, campaign_id, id, contact_id, phone_number)"
                " VALUES ('org_uniq', 'camp_uniq', 'lead_uniq1', 'cid_uniq', '+15550000001'),"
                " ('org_uniq', 'camp_uniq', 'lead_uniq2', NULL, '+15550000002'),"
                " ('org_uniq', 'camp_uniq', 'lead_uniq3', NULL, '+15550000002'),"
                " ('org_uniq', 'camp_uniq2', 'lead_uniq4', 'cid_uniq', '+15550000001')");
    PGresult *res = PQexec(c, "INSERT INTO campaign.leads (org_id, campaign_id, id, contact_id,"
                              " phone_number) VALUES ('org_uniq', 'camp_uniq', 'lead_uniq5',"
                              " 'cid_uniq', '+15550000001')");
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    ck_assert_msg(state != NULL && strcmp(state, "23505") == 0 &&
                      strstr(PQresultErrorMessage(res), "leads_contact") != NULL,
                  "a second lead for one contact of one campaign: %s", PQresultErrorMessage(res));
    PQclear(res);

    /* 6,000 leads in a campaign, ids in the reverse order of their contacts */
    admin_ok(c, "INSERT INTO campaign.leads (org_id, campaign_id, id, contact_id, phone_number)"
                " SELECT 'org_uniq', 'camp_list', 'lead_list' || lpad((10000 - n)::text, 6, '0'),"
                " 'cid_list' || lpad(n::text, 6, '0'), '+1556' || lpad(n::text, 7, '0')"
                " FROM generate_series(1, 6000) n");
    admin_ok(c, "ANALYZE campaign.leads");
    PGresult *prep = PQprepare(c, "list", leads_list_sql, 5, NULL);
    ck_assert_msg(PQresultStatus(prep) == PGRES_COMMAND_OK, "%s", PQresultErrorMessage(prep));
    PQclear(prep);
    const char *modes[] = {"force_custom_plan", "force_generic_plan"};
    for (int m = 0; m < 2; m++) {
        char set[64];
        snprintf(set, sizeof set, "SET plan_cache_mode = %s", modes[m]);
        admin_ok(c, set);
        char *plan = plan_text(c, "EXPLAIN EXECUTE list('org_uniq', 'camp_list', NULL, '20', '100')");
        /* the ids are sorted (not read in primary key order), and the primary key is used
         * once: to fetch the page's rows */
        const char *pk = strstr(plan, "using leads_pkey");
        ck_assert_msg(strstr(plan, "Sort Key") != NULL && pk != NULL &&
                          strstr(pk + 1, "using leads_pkey") == NULL,
                      "lead list (%s):\n%s", modes[m], plan);
        free(plan);
    }
    admin_ok(c, "RESET plan_cache_mode");
    /* the page itself: ids 100..119 of the campaign in id order */
    const char *params[] = {"org_uniq", "camp_list", NULL, "20", "100"};
    res = PQexecParams(c, leads_list_sql, 5, NULL, params, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(res) == PGRES_TUPLES_OK, "%s", PQresultErrorMessage(res));
    ck_assert_int_eq(PQntuples(res), 20);
    for (int i = 0; i < 20; i++) {
        char want[32];
        snprintf(want, sizeof want, "lead_list%06d", 4000 + 100 + i);
        ck_assert_str_eq(PQgetvalue(res, i, 0), want);
    }
    PQclear(res);
    admin_ok(c, "DELETE FROM campaign.leads WHERE org_id = 'org_uniq'");
    PQfinish(c);
}
END_TEST

/* The one value a query returns, as text, into out. */
static void query_text(char *out, size_t size, const char *fmt, ...)
{
    char sql[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    PGconn *c = ts_db_admin(g_db);
    PGresult *res = PQexec(c, sql);
    ck_assert_msg(PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1, "%s: %s", sql,
                  PQresultErrorMessage(res));
    snprintf(out, size, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    PQfinish(c);
}

struct start_on {
    struct rpc_client *client;
    const char *org, *id;
    Od__Status status;
    char message[RPC_MESSAGE_MAX];
};

/* Starts a campaign through another replica (a thread, while the test holds a lock). */
static void *start_on_main(void *arg)
{
    struct start_on *s = arg;
    Od__CampaignActionRequest in = OD__CAMPAIGN_ACTION_REQUEST__INIT;
    struct rpc_ctx ctx;
    in.id = (char *)s->id;
    in.action = (char *)"start";
    ctx_init(&ctx, s->org);
    od__campaigns__act(SVC(s->client, campaigns), &in, NULL, &ctx);
    s->status = ctx.status;
    snprintf(s->message, sizeof s->message, "%s", ctx.message);
    rpc_ctx_release(&ctx);
    return NULL;
}

/* A snapshot of more than one page (the first is CAMPAIGN_SNAPSHOT_FIRST_PAGE members) streams
 * every page into one COPY, DNC applied on each page; a start whose COPY fails (here
 * leads_contact refuses a second lead for a contact) leaves nothing behind, and the same start
 * then succeeds; the COPY is not cut short by the session's statement_timeout. */
START_TEST(test_snapshot_pages_one_copy_and_rollback)
{
    const char *org = "org_snap_pages";
    enum { N = CAMPAIGN_SNAPSHOT_FIRST_PAGE + 500 };
    char agent[64], aud[64], id[64], id2[64];
    struct rpc_ctx ctx;
    grant(org, 1000);
    create_agent(org, agent, sizeof agent);

    Od__ContactInput *rows = calloc(N, sizeof *rows);
    Od__ContactInput **ptrs = calloc(N, sizeof *ptrs);
    char (*phones)[24] = calloc(N, sizeof *phones);
    ck_assert(rows != NULL && ptrs != NULL && phones != NULL);
    for (int i = 0; i < N; i++) {
        od__contact_input__init(&rows[i]);
        snprintf(phones[i], sizeof phones[i], "+1415700%04d", i);
        rows[i].phone_number = phones[i];
        ptrs[i] = &rows[i];
    }
    audience_of(org, ptrs, N, "pages", aud, sizeof aud);
    /* one DNC number among the first page's contacts and one among the second's (by contact
     * id, the snapshot's order) */
    char first_page_phone[24], second_page_phone[24], last_contact[64];
    query_text(first_page_phone, sizeof first_page_phone,
               "SELECT phone_number FROM contacts.contacts WHERE org_id = '%s'"
               " ORDER BY id LIMIT 1 OFFSET 10", org);
    query_text(second_page_phone, sizeof second_page_phone,
               "SELECT phone_number FROM contacts.contacts WHERE org_id = '%s'"
               " ORDER BY id LIMIT 1 OFFSET %d", org, N - 10);
    query_text(last_contact, sizeof last_contact,
               "SELECT id FROM contacts.contacts WHERE org_id = '%s' ORDER BY id DESC LIMIT 1",
               org);
    const char *dnc_phones[] = {first_page_phone, second_page_phone};
    for (int i = 0; i < 2; i++) {
        Od__DncEntryInput d = OD__DNC_ENTRY_INPUT__INIT;
        d.phone_number = (char *)dnc_phones[i];
        ctx_init(&ctx, org);
        od__dnc__add(SVC(g_contacts, dnc), &d, NULL, &ctx);
        ck_status(ctx, OD__STATUS__OK);
        rpc_ctx_release(&ctx);
    }

    Od__CampaignInput in = OD__CAMPAIGN_INPUT__INIT;
    in.name = (char *)"Pages";
    in.flow_id = agent;
    in.audience_id = aud;
    create_campaign(org, &in, id, sizeof id);
    ck_assert_str_eq(act(org, id, "start", OD__STATUS__OK), "IN_PROGRESS");
    ck_assert_int_eq(scalar("SELECT count(DISTINCT contact_id) FROM campaign.leads"
                            " WHERE campaign_id = '%s' AND status IN ('PENDING', 'SKIPPED')", id), N);
    ck_assert_int_eq(scalar("SELECT count(*) FROM campaign.leads WHERE campaign_id = '%s'"
                            " AND status = 'SKIPPED' AND last_outcome = 'dnc'"
                            " AND phone_number IN ('%s', '%s')", id, first_page_phone,
                            second_page_phone), 2);
    ck_assert_int_eq(scalar("SELECT count(*) FROM campaign.leads WHERE campaign_id = '%s'"
                            " AND status = 'SKIPPED'", id), 2);
    act(org, id, "cancel", OD__STATUS__OK);

    /* a lead already there for the last contact: the COPY fails at its end, the start with it */
    create_campaign(org, &in, id2, sizeof id2);
    PGconn *c = ts_db_admin(g_db);
    char sql[512];
    snprintf(sql, sizeof sql,
             "INSERT INTO campaign.leads (org_id, campaign_id, id, contact_id, phone_number)"
             " VALUES ('%s', '%s', 'lead_snap_dup', '%s', '+14157009999')", org, id2, last_contact);
    admin_ok(c, sql);
    act(org, id2, "start", OD__STATUS__UNAVAILABLE);
    ck_assert_int_eq(scalar("SELECT count(*) FROM campaign.leads WHERE campaign_id = '%s'", id2), 1);
    ck_assert_int_eq(scalar("SELECT count(*) FROM campaign.campaigns WHERE id = '%s'"
                            " AND status = 'DRAFT'", id2), 1);
    ck_assert_int_eq(scalar("SELECT count(*) FROM campaign.outbox WHERE event_type ="
                            " 'campaign.started' AND payload->'campaign'->>'id' = '%s'", id2), 0);
    admin_ok(c, "DELETE FROM campaign.leads WHERE id = 'lead_snap_dup'");
    PQfinish(c);
    ck_assert_str_eq(act(org, id2, "start", OD__STATUS__OK), "IN_PROGRESS");
    ck_assert_int_eq(scalar("SELECT count(*) FROM campaign.leads WHERE campaign_id = '%s'", id2), N);
    act(org, id2, "cancel", OD__STATUS__OK);

    /* The COPY lasts as long as the snapshot, past the session's statement_timeout: a replica
     * whose timeout is 300 ms starts a campaign while the COPY waits 1.5 s on a lead another
     * transaction is inserting for the last contact (then rolls back). */
    char url3[64], id3[64];
    struct ts_proc *camp3 = start_campaign_svc("campaign-svc-3", g_contacts_url,
                                               "DB_STATEMENT_TIMEOUT_MS=300", url3, sizeof url3);
    struct rpc_client *client3 = rpc_client_open(NULL, url3);
    ck_assert_ptr_nonnull(client3);
    wait_connected(client3);
    create_campaign(org, &in, id3, sizeof id3);
    PGconn *holder = ts_db_admin(g_db);
    admin_ok(holder, "BEGIN");
    snprintf(sql, sizeof sql,
             "INSERT INTO campaign.leads (org_id, campaign_id, id, contact_id, phone_number)"
             " VALUES ('%s', '%s', 'lead_snap_hold', '%s', '+14157009999')", org, id3, last_contact);
    admin_ok(holder, sql);
    struct start_on st = {.client = client3, .org = org, .id = id3};
    pthread_t thread;
    ck_assert_int_eq(pthread_create(&thread, NULL, start_on_main, &st), 0);
    ts_sleep_ms(1500);
    admin_ok(holder, "ROLLBACK");
    pthread_join(thread, NULL);
    PQfinish(holder);
    ck_assert_msg(st.status == OD__STATUS__OK, "start past the statement timeout: %s: %s",
                  rpc_status_name(st.status), st.message);
    ck_assert_int_eq(scalar("SELECT count(*) FROM campaign.leads WHERE campaign_id = '%s'", id3), N);
    act(org, id3, "cancel", OD__STATUS__OK);
    rpc_client_close(client3);
    ts_proc_stop_ok(camp3);
    ts_proc_free(camp3);
    free(rows);
    free(ptrs);
    free(phones);
}
END_TEST

START_TEST(test_clean_shutdown)
{
    ts_proc_stop_ok(g_camp2_proc);
    ts_proc_stop_ok(g_camp_proc);
}
END_TEST

static Suite *campaign_suite(void)
{
    Suite *s = suite_create("campaign-svc");
    TCase *tc = tcase_create("rpc");
    tcase_add_unchecked_fixture(tc, stack_setup, stack_teardown);
    tcase_add_checked_fixture(tc, quiet_campaigns, NULL);
    tcase_set_timeout(tc, 0);
    tcase_add_test(tc, test_agents_versions_and_phone_numbers);
    tcase_add_test(tc, test_campaign_defaults_and_validation);
    tcase_add_test(tc, test_lifecycle_every_action_from_every_status);
    tcase_add_test(tc, test_start_needs_credits);
    tcase_add_test(tc, test_snapshot_applies_dnc_and_pins);
    tcase_add_test(tc, test_leads_upload_errors_and_list);
    tcase_add_test(tc, test_scripted_run_retry_progress_report);
    tcase_add_test(tc, test_expired_lease_same_attempt_and_release);
    tcase_add_test(tc, test_caller_id_deleted_and_credits_run_out);
    tcase_add_test(tc, test_huge_duration_debited_and_variables_only_disposition);
    tcase_add_test(tc, test_pause_stops_a_claim_in_flight);
    tcase_add_test(tc, test_other_organization_not_found);
    tcase_add_test(tc, test_scheduled_start_fires_once_with_two_schedulers);
    tcase_add_test(tc, test_pacing_and_cap_under_four_claimers);
    tcase_add_test(tc, test_probes_and_claim_stay_on_their_indexes);
    tcase_add_test(tc, test_lead_list_and_contact_guarantee);
    tcase_add_test(tc, test_snapshot_pages_one_copy_and_rollback);
    tcase_add_test(tc, test_attempts_finished_batch);
    tcase_add_test(tc, test_attempts_finished_batch_completes);
    tcase_add_test(tc, test_clean_shutdown);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int64_t started = ts_now_ms();
    ts_init("svc-campaign");
    SRunner *sr = srunner_create(campaign_suite());
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_VERBOSE);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    fprintf(stderr, "[svc] finished in %.1f s\n", (double)(ts_now_ms() - started) / 1000.0);
    return ts_finish(failed);
}
