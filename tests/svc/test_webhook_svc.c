/* Service-level tests of webhook-svc (and the outbox relay in contacts-svc): the real binaries
 * against a throwaway database, driven over nng with the generated stubs, delivering to a
 * receiver running in this test binary that checks every signature. */
#include <check.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ids.h"
#include "receiver.h"
#include "rpc.h"
#include "testsupport.h"
#include "webhooks.pb-c.h"

#define RPC_TIMEOUT_MS 10000

static struct ts_db *g_db;
static struct ts_proc *g_wh;
static struct rpc_client *g_webhooks, *g_events;
static char g_wh_bin[PATH_MAX], g_contacts_bin[PATH_MAX];
static char g_rpc_url[64];

#define ck_status(ctx, expected)                                                               \
    ck_assert_msg((ctx).status == (expected), "expected %s, got %s: %s",                      \
                  rpc_status_name(expected), rpc_status_name((ctx).status), (ctx).message)

/* ---------------- helpers ---------------- */

static void new_org(char *org, size_t size)
{
    ids_new("org_", org, size);
}

static void wait_connected(struct rpc_client *c)
{
    int64_t give_up = ts_now_ms() + 10000;
    while (rpc_client_connected(c) <= 0) {
        ck_assert_msg(ts_now_ms() < give_up, "RPC client not connected");
        ts_sleep_ms(10);
    }
}

static void create_endpoint(const char *org, const char *url, const char *event, char *id,
                            size_t id_size, char *secret, size_t secret_size)
{
    Od__CreateEndpointRequest req = OD__CREATE_ENDPOINT_REQUEST__INIT;
    char *events[] = {(char *)event};
    struct rpc_ctx ctx;
    req.url = (char *)url;
    req.events = events;
    req.n_events = 1;
    req.description = (char *)"test";
    rpc_ctx_init(&ctx, org, "svc-create", RPC_TIMEOUT_MS);
    od__webhooks__create_endpoint(rpc_client_service(g_webhooks), &req, NULL, &ctx);
    ck_status(ctx, OD__STATUS__OK);
    Od__WebhookEndpoint *e = (Od__WebhookEndpoint *)ctx.reply;
    ck_assert_int_eq(strncmp(e->id, "wh_", 3), 0);
    ck_assert_int_eq(strncmp(e->secret, "whsec_", 6), 0);
    ck_assert(e->enabled);
    snprintf(id, id_size, "%s", e->id);
    if (secret != NULL)
        snprintf(secret, secret_size, "%s", e->secret);
    rpc_ctx_release(&ctx);
}

/* Status of CreateEndpoint for url; its message copied into msg. */
static Od__Status create_status(const char *org, const char *url, const char *event, char *msg,
                                size_t msg_size)
{
    Od__CreateEndpointRequest req = OD__CREATE_ENDPOINT_REQUEST__INIT;
    char *events[] = {(char *)event};
    struct rpc_ctx ctx;
    Od__Status st;
    req.url = (char *)url;
    req.events = events;
    req.n_events = 1;
    req.description = (char *)"";
    rpc_ctx_init(&ctx, org, "svc-create", RPC_TIMEOUT_MS);
    od__webhooks__create_endpoint(rpc_client_service(g_webhooks), &req, NULL, &ctx);
    st = ctx.status;
    snprintf(msg, msg_size, "%s", ctx.message);
    rpc_ctx_release(&ctx);
    return st;
}

/* Publishes n events of type (ids written to ids[i] when given); returns the reply's stored
 * count and asserts OK. */
static int publish(const char *org, int n, const char *type, const char *webhook_url,
                   char (*ids)[IDS_MAX_LEN], int *duplicates)
{
    Od__PublishRequest req = OD__PUBLISH_REQUEST__INIT;
    Od__Event *events = calloc((size_t)n, sizeof *events), **ptrs = calloc((size_t)n, sizeof *ptrs);
    char (*own)[IDS_MAX_LEN] = ids ? NULL : calloc((size_t)n, IDS_MAX_LEN);
    char (*use)[IDS_MAX_LEN] = ids ? ids : own;
    struct rpc_ctx ctx;
    int stored;
    for (int i = 0; i < n; i++) {
        od__event__init(&events[i]);
        if (use[i][0] == '\0')
            ids_new_ordered("evt_", use[i], IDS_MAX_LEN);
        events[i].id = use[i];
        events[i].org_id = (char *)org;
        events[i].event_type = (char *)type;
        events[i].payload_json = (char *)"{\"importId\":\"imp_x\",\"status\":\"COMPLETED\",\"total\":2}";
        events[i].webhook_url = (char *)(webhook_url ? webhook_url : "");
        ptrs[i] = &events[i];
    }
    req.n_events = (size_t)n;
    req.events = ptrs;
    rpc_ctx_init(&ctx, "", "svc-publish", RPC_TIMEOUT_MS);
    od__events__publish(rpc_client_service(g_events), &req, NULL, &ctx);
    ck_status(ctx, OD__STATUS__OK);
    stored = ((Od__PublishReply *)ctx.reply)->stored;
    if (duplicates != NULL)
        *duplicates = ((Od__PublishReply *)ctx.reply)->duplicates;
    rpc_ctx_release(&ctx);
    free(events);
    free(ptrs);
    free(own);
    return stored;
}

/* enabled flag of an endpoint; its disabled reason into reason. */
static bool endpoint_enabled(const char *org, const char *id, char *reason, size_t size)
{
    Od__EndpointIdRequest req = OD__ENDPOINT_ID_REQUEST__INIT;
    struct rpc_ctx ctx;
    bool enabled;
    req.id = (char *)id;
    rpc_ctx_init(&ctx, org, "svc-get", RPC_TIMEOUT_MS);
    od__webhooks__get_endpoint(rpc_client_service(g_webhooks), &req, NULL, &ctx);
    ck_status(ctx, OD__STATUS__OK);
    enabled = ((Od__WebhookEndpoint *)ctx.reply)->enabled;
    if (reason != NULL)
        snprintf(reason, size, "%s", ((Od__WebhookEndpoint *)ctx.reply)->disabled_reason);
    rpc_ctx_release(&ctx);
    return enabled;
}

static long long scalar(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static long long scalar(const char *fmt, ...)
{
    char sql[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    return ts_db_scalar(g_db, sql);
}

/* Polls `SELECT count(*) ... WHERE org_id = '<org>' ...` until it gives expected. */
#define wait_scalar(fmt, org, expected, timeout_ms)                                             \
    do {                                                                                       \
        int64_t give_up_ = ts_now_ms() + (timeout_ms);                                         \
        long long v_;                                                                          \
        while ((v_ = scalar(fmt, org)) != (expected)) {                                        \
            ck_assert_msg(ts_now_ms() < give_up_, "waited %d ms for %lld, have %lld: %s",      \
                          (timeout_ms), (long long)(expected), v_, fmt);                       \
            ts_sleep_ms(50);                                                                   \
        }                                                                                      \
    } while (0)

static struct receiver *receiver_ok(void)
{
    struct receiver *r = receiver_start(0);
    ck_assert_msg(r != NULL, "receiver did not start");
    return r;
}

static void set_secret(struct receiver *r, const char *secret)
{
    const char *secrets[] = {secret, NULL};
    receiver_set_secrets(r, secrets);
}

/* ---------------- fixture ---------------- */

static void setup(void)
{
    char e_db[700], e_rpc[80], e_health[80];
    int rpc_port = ts_free_port(), health_port = ts_free_port();
    ts_binary("webhook-svc/webhook-svc", g_wh_bin, sizeof g_wh_bin);
    ts_binary("contacts-svc/contacts-svc", g_contacts_bin, sizeof g_contacts_bin);
    g_db = ts_db_create();
    snprintf(g_rpc_url, sizeof g_rpc_url, "tcp://127.0.0.1:%d", rpc_port);
    snprintf(e_db, sizeof e_db, "DATABASE_URL=%s", ts_db_url(g_db, "webhook"));
    snprintf(e_rpc, sizeof e_rpc, "RPC_LISTEN=%s", g_rpc_url);
    snprintf(e_health, sizeof e_health, "HEALTH_LISTEN=http://127.0.0.1:%d", health_port);
    /* A compressed schedule (ten attempts a second apart) and a short timeout, so a lease
     * (timeout + 5 s) runs out within the test. */
    const char *env[] = {e_db, e_rpc, e_health, "RPC_WORKERS=4",
                         "WEBHOOK_ALLOW_CIDRS=127.0.0.0/8",
                         "WEBHOOK_RETRY_SCHEDULE=0,1,1,1,1,1,1,1,1,1",
                         "WEBHOOK_TIMEOUT_MS=2000", "WEBHOOK_POLL_MS=200",
                         "RETENTION_INTERVAL_MS=200", "RETENTION_BATCH=2", NULL};
    g_wh = ts_proc_start("webhook-svc", g_wh_bin, NULL, env);
    ts_proc_wait_ready(g_wh, 30000);
    g_webhooks = rpc_client_open(&od__webhooks__descriptor, g_rpc_url);
    g_events = rpc_client_open(&od__events__descriptor, g_rpc_url);
    ck_assert_ptr_nonnull(g_webhooks);
    ck_assert_ptr_nonnull(g_events);
    wait_connected(g_webhooks);
    wait_connected(g_events);
}

static void teardown(void)
{
    rpc_client_close(g_webhooks);
    rpc_client_close(g_events);
    ts_proc_free(g_wh);
    ts_db_drop(g_db);
}

static void ensure_running(void)
{
    if (!ts_proc_running(g_wh)) {
        ts_proc_restart(g_wh);
        ts_proc_wait_ready(g_wh, 30000);
    }
    wait_connected(g_webhooks);
}

/* ---------------- endpoints ---------------- */

START_TEST(test_endpoint_validation)
{
    char org[64], msg[RPC_MESSAGE_MAX];
    new_org(org, sizeof org);
    ck_assert_int_eq(create_status(org, "http://169.254.169.254/latest/meta-data", "*", msg,
                                   sizeof msg), OD__STATUS__INVALID);
    ck_assert_msg(strstr(msg, "link-local") != NULL, "%s", msg);
    ck_assert_int_eq(create_status(org, "http://10.0.0.1/hook", "*", msg, sizeof msg),
                     OD__STATUS__INVALID);
    ck_assert_msg(strstr(msg, "private") != NULL, "%s", msg);
    ck_assert_int_eq(create_status(org, "http://[::1]:9/hook", "*", msg, sizeof msg),
                     OD__STATUS__INVALID);
    ck_assert_msg(strstr(msg, "loopback") != NULL, "%s", msg);
    ck_assert_int_eq(create_status(org, "ftp://127.0.0.1/x", "*", msg, sizeof msg),
                     OD__STATUS__INVALID);
    ck_assert_int_eq(create_status(org, "http://127.0.0.1:9/x", "no.such.event", msg, sizeof msg),
                     OD__STATUS__INVALID);
    ck_assert_msg(strstr(msg, "no.such.event") != NULL, "%s", msg);
    /* 127.0.0.0/8 is allowed by WEBHOOK_ALLOW_CIDRS. */
    ck_assert_int_eq(create_status(org, "http://127.0.0.1:9/x", "import.completed", msg,
                                   sizeof msg), OD__STATUS__OK);
}
END_TEST

START_TEST(test_endpoint_org_isolation)
{
    char org[64], other[64], id[IDS_MAX_LEN];
    struct rpc_ctx ctx;
    Od__EndpointIdRequest req = OD__ENDPOINT_ID_REQUEST__INIT;
    Od__ListEndpointsRequest empty = OD__LIST_ENDPOINTS_REQUEST__INIT;
    new_org(org, sizeof org);
    new_org(other, sizeof other);
    create_endpoint(org, "http://127.0.0.1:9/a", "*", id, sizeof id, NULL, 0);
    /* Lists are paged: a page out of range is INVALID, not clamped. */
    rpc_ctx_init(&ctx, org, "svc", RPC_TIMEOUT_MS);
    od__webhooks__list_endpoints(rpc_client_service(g_webhooks), &empty, NULL, &ctx);
    ck_status(ctx, OD__STATUS__INVALID);
    rpc_ctx_release(&ctx);
    empty.page = 1;
    empty.limit = 100;
    req.id = id;
    rpc_ctx_init(&ctx, other, "svc", RPC_TIMEOUT_MS);
    od__webhooks__get_endpoint(rpc_client_service(g_webhooks), &req, NULL, &ctx);
    ck_status(ctx, OD__STATUS__NOT_FOUND);
    rpc_ctx_release(&ctx);
    rpc_ctx_init(&ctx, other, "svc", RPC_TIMEOUT_MS);
    od__webhooks__delete_endpoint(rpc_client_service(g_webhooks), &req, NULL, &ctx);
    ck_status(ctx, OD__STATUS__NOT_FOUND);
    rpc_ctx_release(&ctx);
    rpc_ctx_init(&ctx, other, "svc", RPC_TIMEOUT_MS);
    od__webhooks__list_endpoints(rpc_client_service(g_webhooks), &empty, NULL, &ctx);
    ck_status(ctx, OD__STATUS__OK);
    ck_assert_uint_eq(((Od__ListEndpointsReply *)ctx.reply)->n_data, 0);
    rpc_ctx_release(&ctx);
    rpc_ctx_init(&ctx, org, "svc", RPC_TIMEOUT_MS);
    od__webhooks__list_endpoints(rpc_client_service(g_webhooks), &empty, NULL, &ctx);
    ck_status(ctx, OD__STATUS__OK);
    ck_assert_uint_eq(((Od__ListEndpointsReply *)ctx.reply)->n_data, 1);
    ck_assert_int_eq(((Od__ListEndpointsReply *)ctx.reply)->total, 1);
    ck_assert_uint_eq(((Od__ListEndpointsReply *)ctx.reply)->data[0]->n_events, 1);
    ck_assert_str_eq(((Od__ListEndpointsReply *)ctx.reply)->data[0]->events[0], "*");
    ck_assert_str_eq(((Od__ListEndpointsReply *)ctx.reply)->data[0]->secret, "");
    rpc_ctx_release(&ctx);
    rpc_ctx_init(&ctx, org, "svc", RPC_TIMEOUT_MS);
    od__webhooks__delete_endpoint(rpc_client_service(g_webhooks), &req, NULL, &ctx);
    ck_status(ctx, OD__STATUS__OK);
    rpc_ctx_release(&ctx);
}
END_TEST

/* ---------------- delivery ---------------- */

START_TEST(test_publish_delivers_signed)
{
    char org[64], id[IDS_MAX_LEN], secret[128], url[128];
    char ids[3][IDS_MAX_LEN] = {{0}};
    struct receiver *r = receiver_ok();
    struct received rec;
    new_org(org, sizeof org);
    receiver_url(r, "/hooks", url, sizeof url);
    create_endpoint(org, url, "import.completed", id, sizeof id, secret, sizeof secret);
    set_secret(r, secret);
    ck_assert_int_eq(publish(org, 3, "import.completed", NULL, ids, NULL), 3);
    ck_assert(publish(org, 2, "call.started", NULL, NULL, NULL) == 2); /* not subscribed */
    ck_assert_msg(receiver_wait_delivered(r, 3, 15000), "delivered %zu of 3",
                  receiver_delivered(r));
    ts_sleep_ms(500);
    ck_assert_uint_eq(receiver_count(r), 3);
    ck_assert_uint_eq(receiver_bad_signatures(r), 0);
    for (int i = 0; i < 3; i++)
        ck_assert_uint_eq(receiver_delivered_count_of(r, ids[i]), 1);
    ck_assert(receiver_get(r, 0, &rec));
    ck_assert_int_eq(rec.n_signatures, 1);
    ck_assert_str_eq(rec.path, "/hooks");
    ck_assert_msg(strstr(rec.body, "\"event\":\"import.completed\"") != NULL, "%s", rec.body);
    ck_assert_msg(strstr(rec.body, "\"timestamp\":\"") != NULL, "%s", rec.body);
    ck_assert_msg(strstr(rec.body, "\"importId\":\"imp_x\"") != NULL, "%s", rec.body);
    ck_assert(rec.timestamp > 1600000000 && llabs(rec.timestamp - ts_wall_ms() / 1000) < 60);
    receiver_received_free(&rec);
    wait_scalar("SELECT count(*) FROM webhook.deliveries WHERE org_id = '%s' AND status = 'succeeded'",
                org, 3, 5000);
    receiver_stop(r);
}
END_TEST

START_TEST(test_publish_is_idempotent)
{
    char org[64], id[IDS_MAX_LEN], secret[128], url[128];
    char ids[5][IDS_MAX_LEN] = {{0}};
    int duplicates = -1;
    struct receiver *r = receiver_ok();
    new_org(org, sizeof org);
    receiver_url(r, "/idem", url, sizeof url);
    create_endpoint(org, url, "*", id, sizeof id, secret, sizeof secret);
    set_secret(r, secret);
    ck_assert_int_eq(publish(org, 5, "import.completed", NULL, ids, &duplicates), 5);
    ck_assert_int_eq(duplicates, 0);
    /* A relay re-sending the same batch (it lost our answer) stores nothing new. */
    ck_assert_int_eq(publish(org, 5, "import.completed", NULL, ids, &duplicates), 0);
    ck_assert_int_eq(duplicates, 5);
    ck_assert(receiver_wait_delivered(r, 5, 15000));
    ts_sleep_ms(1000);
    ck_assert_uint_eq(receiver_count(r), 5);
    ck_assert_int_eq(scalar("SELECT count(*) FROM webhook.deliveries WHERE org_id = '%s'", org), 5);
    /* Event ids are scoped by organization: another organization's event with one of the
     * same ids is its own event, not a duplicate. */
    char other[64];
    new_org(other, sizeof other);
    ck_assert_int_eq(publish(other, 5, "import.completed", NULL, ids, &duplicates), 5);
    ck_assert_int_eq(duplicates, 0);
    ck_assert_int_eq(scalar("SELECT count(*) FROM webhook.events WHERE org_id = '%s'", other), 5);
    receiver_stop(r);
}
END_TEST

START_TEST(test_object_url_uses_default_secret)
{
    char org[64], url[128];
    struct rpc_ctx ctx;
    Od__Empty empty = OD__EMPTY__INIT;
    struct receiver *r = receiver_ok();
    new_org(org, sizeof org);
    receiver_url(r, "/import-done", url, sizeof url);
    ck_assert_int_eq(publish(org, 2, "import.completed", url, NULL, NULL), 2);
    ck_assert(receiver_wait_delivered(r, 2, 15000));
    rpc_ctx_init(&ctx, org, "svc", RPC_TIMEOUT_MS);
    od__webhooks__default_secret(rpc_client_service(g_webhooks), &empty, NULL, &ctx);
    ck_status(ctx, OD__STATUS__OK);
    set_secret(r, ((Od__SecretReply *)ctx.reply)->secret);
    rpc_ctx_release(&ctx);
    /* The first two arrived before the receiver knew the secret: check where they went. */
    struct received rec;
    ck_assert(receiver_get(r, 0, &rec));
    ck_assert_str_eq(rec.path, "/import-done");
    receiver_received_free(&rec);
    /* A third event, now that the receiver knows the secret. */
    receiver_clear(r);
    ck_assert_int_eq(publish(org, 1, "import.completed", url, NULL, NULL), 1);
    ck_assert(receiver_wait_delivered(r, 1, 15000));
    ck_assert_uint_eq(receiver_bad_signatures(r), 0);
    receiver_stop(r);
}
END_TEST

START_TEST(test_receiver_down_then_up)
{
    char org[64], id[IDS_MAX_LEN], secret[128], url[128];
    char ids[20][IDS_MAX_LEN] = {{0}};
    struct receiver *r = receiver_ok();
    new_org(org, sizeof org);
    receiver_url(r, "/flaky", url, sizeof url);
    create_endpoint(org, url, "*", id, sizeof id, secret, sizeof secret);
    set_secret(r, secret);
    receiver_pause(r); /* connection refused */
    ck_assert_int_eq(publish(org, 20, "import.completed", NULL, ids, NULL), 20);
    wait_scalar("SELECT count(*) FROM webhook.delivery_attempts a JOIN webhook.deliveries d "
                "ON d.id = a.delivery_id WHERE d.org_id = '%s'", org, 20, 10000);
    ts_sleep_ms(1500);
    ck_assert_int_eq(receiver_resume(r), 0);
    ck_assert_msg(receiver_wait_delivered(r, 20, 20000), "delivered %zu of 20",
                  receiver_delivered(r));
    for (int i = 0; i < 20; i++)
        ck_assert_uint_ge(receiver_delivered_count_of(r, ids[i]), 1);
    ck_assert_uint_eq(receiver_bad_signatures(r), 0);
    /* The failed attempts are in the log, with their errors and retry times. */
    ck_assert_int_ge(scalar("SELECT count(*) FROM webhook.delivery_attempts a JOIN webhook.deliveries d "
                            "ON d.id = a.delivery_id WHERE d.org_id = '%s' AND a.status_code = 0 "
                            "AND a.error <> '' AND a.next_retry_at IS NOT NULL", org), 20);
    receiver_stop(r);
}
END_TEST

START_TEST(test_retry_log_and_manual_retry)
{
    char org[64], id[IDS_MAX_LEN], secret[128], url[128], delivery[IDS_MAX_LEN] = "";
    char ids[1][IDS_MAX_LEN] = {{0}};
    struct rpc_ctx ctx;
    struct receiver *r = receiver_ok();
    new_org(org, sizeof org);
    receiver_url(r, "/log", url, sizeof url);
    create_endpoint(org, url, "*", id, sizeof id, secret, sizeof secret);
    set_secret(r, secret);
    receiver_fail_next(r, 2, 500);
    ck_assert_int_eq(publish(org, 1, "import.completed", NULL, ids, NULL), 1);
    ck_assert(receiver_wait_delivered(r, 1, 15000));
    ck_assert_uint_eq(receiver_count(r), 3);
    wait_scalar("SELECT count(*) FROM webhook.deliveries WHERE org_id = '%s' AND status = 'succeeded'",
                org, 1, 5000);

    Od__ListDeliveriesRequest lreq = OD__LIST_DELIVERIES_REQUEST__INIT;
    lreq.endpoint_id = id;
    /* A page out of range is INVALID, not clamped. */
    rpc_ctx_init(&ctx, org, "svc", RPC_TIMEOUT_MS);
    od__webhooks__list_deliveries(rpc_client_service(g_webhooks), &lreq, NULL, &ctx);
    ck_status(ctx, OD__STATUS__INVALID);
    rpc_ctx_release(&ctx);
    lreq.page = 1;
    lreq.limit = 20;
    rpc_ctx_init(&ctx, org, "svc", RPC_TIMEOUT_MS);
    od__webhooks__list_deliveries(rpc_client_service(g_webhooks), &lreq, NULL, &ctx);
    ck_status(ctx, OD__STATUS__OK);
    Od__ListDeliveriesReply *list = (Od__ListDeliveriesReply *)ctx.reply;
    ck_assert_int_eq(list->total, 1);
    ck_assert_str_eq(list->data[0]->status, "succeeded");
    ck_assert_str_eq(list->data[0]->event_id, ids[0]);
    ck_assert_int_eq(list->data[0]->attempt_count, 3);
    ck_assert_uint_eq(list->data[0]->n_attempts, 3);
    ck_assert_int_eq(list->data[0]->attempts[0]->status_code, 500);
    ck_assert_str_eq(list->data[0]->attempts[0]->error, "HTTP 500");
    ck_assert_str_ne(list->data[0]->attempts[0]->next_retry_at, "");
    ck_assert_int_eq(list->data[0]->attempts[2]->status_code, 200);
    ck_assert_str_eq(list->data[0]->attempts[2]->next_retry_at, "");
    snprintf(delivery, sizeof delivery, "%s", list->data[0]->id);
    rpc_ctx_release(&ctx);

    /* Another organization cannot see or retry it. */
    char other[64];
    new_org(other, sizeof other);
    Od__DeliveryIdRequest rreq = OD__DELIVERY_ID_REQUEST__INIT;
    rreq.id = delivery;
    rpc_ctx_init(&ctx, other, "svc", RPC_TIMEOUT_MS);
    od__webhooks__retry_delivery(rpc_client_service(g_webhooks), &rreq, NULL, &ctx);
    ck_status(ctx, OD__STATUS__NOT_FOUND);
    rpc_ctx_release(&ctx);
    rpc_ctx_init(&ctx, other, "svc", RPC_TIMEOUT_MS);
    od__webhooks__list_deliveries(rpc_client_service(g_webhooks), &lreq, NULL, &ctx);
    ck_status(ctx, OD__STATUS__NOT_FOUND);
    rpc_ctx_release(&ctx);

    /* Manual replay: the same event (same webhook-id) once more. */
    rpc_ctx_init(&ctx, org, "svc", RPC_TIMEOUT_MS);
    od__webhooks__retry_delivery(rpc_client_service(g_webhooks), &rreq, NULL, &ctx);
    ck_status(ctx, OD__STATUS__OK);
    /* Queued (it may already have gone out by the time the reply was read). */
    ck_assert_str_ne(((Od__Delivery *)ctx.reply)->status, "failed");
    rpc_ctx_release(&ctx);
    int64_t give_up = ts_now_ms() + 10000;
    while (receiver_delivered_count_of(r, ids[0]) < 2) {
        ck_assert_msg(ts_now_ms() < give_up, "retried delivery did not arrive");
        ts_sleep_ms(20);
    }
    ck_assert_uint_eq(receiver_bad_signatures(r), 0);
    receiver_stop(r);
}
END_TEST

START_TEST(test_retry_after_is_honoured)
{
    char org[64], id[IDS_MAX_LEN], secret[128], url[128];
    struct received first, second;
    struct receiver *r = receiver_ok();
    new_org(org, sizeof org);
    receiver_url(r, "/busy", url, sizeof url);
    create_endpoint(org, url, "*", id, sizeof id, secret, sizeof secret);
    set_secret(r, secret);
    receiver_set_reply(r, 503, "3", 0);
    ck_assert_int_eq(publish(org, 1, "import.completed", NULL, NULL, NULL), 1);
    int64_t give_up = ts_now_ms() + 10000;
    while (receiver_count(r) < 1) {
        ck_assert(ts_now_ms() < give_up);
        ts_sleep_ms(10);
    }
    receiver_set_reply(r, 200, NULL, 0);
    ck_assert(receiver_wait_delivered(r, 1, 15000));
    ck_assert(receiver_get(r, 0, &first));
    ck_assert(receiver_get(r, 1, &second));
    /* The schedule says ~1 s; Retry-After said 3. */
    ck_assert_msg(second.at_wall_ms - first.at_wall_ms >= 2900, "retried after %lld ms",
                  (long long)(second.at_wall_ms - first.at_wall_ms));
    ck_assert_int_eq(first.status, 503);
    receiver_received_free(&first);
    receiver_received_free(&second);
    receiver_stop(r);
}
END_TEST

START_TEST(test_410_disables_endpoint)
{
    char org[64], id[IDS_MAX_LEN], secret[128], url[128], reason[256];
    struct receiver *r = receiver_ok();
    new_org(org, sizeof org);
    receiver_url(r, "/gone", url, sizeof url);
    create_endpoint(org, url, "*", id, sizeof id, secret, sizeof secret);
    set_secret(r, secret);
    receiver_set_reply(r, 410, NULL, 0);
    ck_assert_int_eq(publish(org, 1, "import.completed", NULL, NULL, NULL), 1);
    wait_scalar("SELECT count(*) FROM webhook.endpoints WHERE org_id = '%s' AND NOT enabled",
                org, 1, 10000);
    ck_assert(!endpoint_enabled(org, id, reason, sizeof reason));
    ck_assert_msg(strstr(reason, "410") != NULL, "%s", reason);
    ck_assert_int_eq(scalar("SELECT count(*) FROM webhook.deliveries WHERE org_id = '%s' "
                            "AND status = 'failed'", org), 1);
    /* No more deliveries to it, and no retry of the 410. */
    ck_assert_int_eq(publish(org, 3, "import.completed", NULL, NULL, NULL), 3);
    ts_sleep_ms(1500);
    ck_assert_uint_eq(receiver_count(r), 1);
    ck_assert_int_eq(scalar("SELECT count(*) FROM webhook.deliveries WHERE org_id = '%s'", org), 1);
    receiver_stop(r);
}
END_TEST

START_TEST(test_failing_for_days_disables_endpoint)
{
    char org[64], id[IDS_MAX_LEN], secret[128], url[128], reason[256], sql[256];
    struct receiver *r = receiver_ok();
    new_org(org, sizeof org);
    receiver_url(r, "/down", url, sizeof url);
    create_endpoint(org, url, "*", id, sizeof id, secret, sizeof secret);
    receiver_set_reply(r, 500, NULL, 0);
    /* As if every delivery had failed since six days ago. */
    snprintf(sql, sizeof sql, "UPDATE webhook.endpoints SET failing_since = now() - interval "
                              "'6 days' WHERE id = '%s' RETURNING 1", id);
    ck_assert_int_eq(ts_db_scalar(g_db, sql), 1);
    ck_assert_int_eq(publish(org, 1, "import.completed", NULL, NULL, NULL), 1);
    wait_scalar("SELECT count(*) FROM webhook.endpoints WHERE org_id = '%s' AND NOT enabled",
                org, 1, 10000);
    ck_assert(!endpoint_enabled(org, id, reason, sizeof reason));
    ck_assert_msg(strstr(reason, "failed since") != NULL, "%s", reason);
    /* The pending retry is dropped, not sent. */
    wait_scalar("SELECT count(*) FROM webhook.deliveries WHERE org_id = '%s' AND status = 'failed'",
                org, 1, 10000);
    receiver_stop(r);
}
END_TEST

START_TEST(test_rotation_signs_with_both)
{
    char org[64], id[IDS_MAX_LEN], old_secret[128], url[128], new_secret[128];
    struct rpc_ctx ctx;
    struct received rec;
    Od__EndpointIdRequest req = OD__ENDPOINT_ID_REQUEST__INIT;
    struct receiver *r = receiver_ok();
    new_org(org, sizeof org);
    receiver_url(r, "/rotate", url, sizeof url);
    create_endpoint(org, url, "*", id, sizeof id, old_secret, sizeof old_secret);
    req.id = id;
    rpc_ctx_init(&ctx, org, "svc", RPC_TIMEOUT_MS);
    od__webhooks__rotate_secret(rpc_client_service(g_webhooks), &req, NULL, &ctx);
    ck_status(ctx, OD__STATUS__OK);
    snprintf(new_secret, sizeof new_secret, "%s", ((Od__WebhookEndpoint *)ctx.reply)->secret);
    ck_assert_str_ne(((Od__WebhookEndpoint *)ctx.reply)->previous_secret_expires_at, "");
    rpc_ctx_release(&ctx);
    ck_assert_str_ne(new_secret, old_secret);
    const char *both[] = {new_secret, old_secret, NULL};
    receiver_set_secrets(r, both);
    ck_assert_int_eq(publish(org, 1, "import.completed", NULL, NULL, NULL), 1);
    ck_assert(receiver_wait_delivered(r, 1, 15000));
    ck_assert(receiver_get(r, 0, &rec));
    ck_assert_int_eq(rec.n_signatures, 2);
    ck_assert_int_eq(rec.n_valid, 2);
    receiver_received_free(&rec);
    /* Once the 24 hours are over only the new secret signs. */
    char sql[256];
    snprintf(sql, sizeof sql, "UPDATE webhook.endpoints SET previous_secret_expires_at = now() "
                              "WHERE id = '%s' RETURNING 1", id);
    ck_assert_int_eq(ts_db_scalar(g_db, sql), 1);
    receiver_clear(r);
    set_secret(r, new_secret);
    ck_assert_int_eq(publish(org, 1, "import.completed", NULL, NULL, NULL), 1);
    ck_assert(receiver_wait_delivered(r, 1, 15000));
    ck_assert(receiver_get(r, 0, &rec));
    ck_assert_int_eq(rec.n_signatures, 1);
    ck_assert_int_eq(rec.n_valid, 1);
    receiver_received_free(&rec);
    receiver_stop(r);
}
END_TEST

START_TEST(test_killed_mid_delivery_loses_nothing)
{
    char org[64], id[IDS_MAX_LEN], secret[128], url[128];
    char ids[10][IDS_MAX_LEN] = {{0}};
    struct receiver *r = receiver_ok();
    new_org(org, sizeof org);
    receiver_url(r, "/slow", url, sizeof url);
    create_endpoint(org, url, "*", id, sizeof id, secret, sizeof secret);
    set_secret(r, secret);
    receiver_set_reply(r, 200, NULL, 1500); /* every request hangs 1.5 s */
    ck_assert_int_eq(publish(org, 10, "import.completed", NULL, ids, NULL), 10);
    ts_sleep_ms(400); /* claimed and in flight */
    ts_proc_kill(g_wh); /* SIGKILL: no lease handed back, nothing recorded */
    ck_assert_int_eq(scalar("SELECT count(*) FROM webhook.deliveries WHERE org_id = '%s' "
                            "AND status = 'pending'", org), 10);
    receiver_set_reply(r, 200, NULL, 0);
    ts_proc_restart(g_wh);
    ts_proc_wait_ready(g_wh, 30000);
    /* Due again when the lease (timeout 2 s + 5 s) ends; the restarted process sends them. */
    wait_scalar("SELECT count(*) FROM webhook.deliveries WHERE org_id = '%s' AND status = 'succeeded'",
                org, 10, 25000);
    for (int i = 0; i < 10; i++)
        ck_assert_uint_ge(receiver_delivered_count_of(r, ids[i]), 1);
    ck_assert_uint_eq(receiver_bad_signatures(r), 0);
    receiver_stop(r);
}
END_TEST

/* ---------------- the outbox relay (contacts-svc) ---------------- */

static struct ts_proc *start_contacts(const char *poll_ms)
{
    char e_db[700], e_rpc[80], e_health[80], e_wh[100], e_poll[64];
    snprintf(e_db, sizeof e_db, "DATABASE_URL=%s", ts_db_url(g_db, "contacts"));
    snprintf(e_rpc, sizeof e_rpc, "RPC_LISTEN=tcp://127.0.0.1:%d", ts_free_port());
    snprintf(e_health, sizeof e_health, "HEALTH_LISTEN=http://127.0.0.1:%d", ts_free_port());
    snprintf(e_wh, sizeof e_wh, "WEBHOOK_SVC_URL=%s", g_rpc_url);
    snprintf(e_poll, sizeof e_poll, "OUTBOX_RELAY_POLL_MS=%s", poll_ms);
    const char *env[] = {e_db, e_rpc, e_health, e_wh, e_poll, "RPC_WORKERS=2", NULL};
    struct ts_proc *p = ts_proc_start("contacts-svc", g_contacts_bin, NULL, env);
    ts_proc_wait_ready(p, 30000);
    return p;
}

/* Commits n events into contacts.outbox, as a producer's transaction would. */
static void outbox_insert(const char *org, int n, const char *webhook_url)
{
    char sql[768];
    snprintf(sql, sizeof sql,
             "WITH i AS (INSERT INTO contacts.outbox (id, org_id, event_type, payload, webhook_url) "
             "SELECT 'evt_' || md5(random()::text), '%s', 'import.completed', "
             "jsonb_build_object('event', 'import.completed', 'importId', 'imp_' || g, "
             "'status', 'COMPLETED', 'total', 1), %s%s%s FROM generate_series(1, %d) g "
             "RETURNING 1) SELECT count(*) FROM i",
             org, webhook_url ? "'" : "", webhook_url ? webhook_url : "NULL",
             webhook_url ? "'" : "", n);
    ck_assert_int_eq(ts_db_scalar(g_db, sql), n);
}

START_TEST(test_relay_delivers_and_empties_outbox)
{
    char org[64], id[IDS_MAX_LEN], secret[128], url[128];
    struct receiver *r = receiver_ok();
    struct ts_proc *contacts = start_contacts("50");
    new_org(org, sizeof org);
    receiver_url(r, "/relay", url, sizeof url);
    create_endpoint(org, url, "import.completed", id, sizeof id, secret, sizeof secret);
    set_secret(r, secret);
    outbox_insert(org, 50, NULL);
    ck_assert_msg(receiver_wait_delivered(r, 50, 20000), "delivered %zu of 50",
                  receiver_delivered(r));
    wait_scalar("SELECT count(*) FROM contacts.outbox WHERE org_id = '%s'", org, 0, 5000);
    ck_assert_uint_eq(receiver_bad_signatures(r), 0);
    ts_proc_stop_ok(contacts);
    ts_proc_free(contacts);
    receiver_stop(r);
}
END_TEST

START_TEST(test_relay_survives_kills)
{
    char org[64], id[IDS_MAX_LEN], secret[128], url[128];
    struct receiver *r = receiver_ok();
    /* A relay that looks at the table only at start-up (and after a full batch). */
    struct ts_proc *contacts = start_contacts("600000");
    new_org(org, sizeof org);
    receiver_url(r, "/kills", url, sizeof url);
    create_endpoint(org, url, "*", id, sizeof id, secret, sizeof secret);
    set_secret(r, secret);

    /* 1. The producer dies between its commit and the relay (stopped first, so its relay
     *    cannot have picked the rows up). */
    ts_proc_signal(contacts, SIGSTOP);
    outbox_insert(org, 10, NULL);
    ts_proc_kill(contacts);
    ck_assert_int_eq(scalar("SELECT count(*) FROM contacts.outbox WHERE org_id = '%s'", org), 10);
    ck_assert_uint_eq(receiver_count(r), 0);
    ts_proc_restart(contacts);
    ts_proc_wait_ready(contacts, 30000);
    ck_assert_msg(receiver_wait_delivered(r, 10, 20000), "delivered %zu of 10",
                  receiver_delivered(r));
    wait_scalar("SELECT count(*) FROM contacts.outbox WHERE org_id = '%s'", org, 0, 5000);

    /* 2. webhook-svc is down when the relay runs: the rows wait in the outbox. */
    ts_proc_kill(g_wh);
    ts_proc_stop_ok(contacts);
    outbox_insert(org, 10, NULL);
    ts_proc_restart(contacts); /* relays at start: fails, retries with backoff */
    ts_proc_wait_ready(contacts, 30000);
    ts_sleep_ms(700);
    ck_assert_int_eq(scalar("SELECT count(*) FROM contacts.outbox WHERE org_id = '%s'", org), 10);
    ts_proc_restart(g_wh);
    ts_proc_wait_ready(g_wh, 30000);
    ck_assert_msg(receiver_wait_delivered(r, 20, 20000), "delivered %zu of 20",
                  receiver_delivered(r));
    wait_scalar("SELECT count(*) FROM contacts.outbox WHERE org_id = '%s'", org, 0, 10000);
    ck_assert_uint_eq(receiver_bad_signatures(r), 0);
    ts_proc_stop_ok(contacts);
    ts_proc_free(contacts);
    receiver_stop(r);
}
END_TEST

START_TEST(test_refused_destinations_and_redirects)
{
    char org[64], id[IDS_MAX_LEN], secret[128], url[128];
    struct receiver *r = receiver_ok();
    new_org(org, sizeof org);
    /* URLs given on objects are not checked at registration: the socket check stops them
     * at delivery, after DNS (169.254/16 and ::1 are outside the allowed 127.0.0.0/8). */
    ck_assert_int_eq(publish(org, 1, "import.completed", "http://169.254.169.254/latest/meta-data",
                             NULL, NULL), 1);
    ck_assert_int_eq(publish(org, 1, "import.completed", "http://[::1]:9/x", NULL, NULL), 1);
    wait_scalar("SELECT count(DISTINCT d.id) FROM webhook.delivery_attempts a JOIN "
                "webhook.deliveries d ON d.id = a.delivery_id WHERE d.org_id = '%s' "
                "AND a.error LIKE 'destination refused:%%'", org, 2, 10000);
    ck_assert_int_eq(scalar("SELECT count(*) FROM webhook.delivery_attempts a JOIN "
                            "webhook.deliveries d ON d.id = a.delivery_id WHERE d.org_id = '%s' "
                            "AND (a.error LIKE '%%169.254.169.254 is a link-local address%%' "
                            "OR a.error LIKE '%%::1 is a loopback address%%')", org), 
                     scalar("SELECT count(*) FROM webhook.delivery_attempts a JOIN "
                            "webhook.deliveries d ON d.id = a.delivery_id WHERE d.org_id = '%s'",
                            org));
    /* Issue 13: a refused destination would be refused on every retry: each delivery fails
     * at once, after one attempt, with the reason (it used to retry on the whole schedule). */
    wait_scalar("SELECT count(*) FROM webhook.deliveries WHERE org_id = '%s' AND "
                "status = 'failed' AND attempts = 1 AND last_error LIKE 'destination refused:%%' "
                "AND next_attempt_at IS NULL", org, 2, 10000);
    ts_sleep_ms(1500); /* a retry would be due by now (the schedule is a second apart) */
    ck_assert_int_eq(scalar("SELECT count(*) FROM webhook.delivery_attempts a JOIN "
                            "webhook.deliveries d ON d.id = a.delivery_id WHERE d.org_id = '%s'",
                            org), 2);
    /* A redirect is not followed and is not a success. */
    receiver_url(r, "/moved", url, sizeof url);
    create_endpoint(org, url, "call.completed", id, sizeof id, secret, sizeof secret);
    set_secret(r, secret);
    receiver_fail_next(r, 1, 302);
    ck_assert_int_eq(publish(org, 1, "call.completed", NULL, NULL, NULL), 1);
    ck_assert(receiver_wait_delivered(r, 1, 15000));
    ck_assert_uint_eq(receiver_count(r), 2);
    wait_scalar("SELECT count(*) FROM webhook.delivery_attempts a JOIN webhook.deliveries d "
                "ON d.id = a.delivery_id WHERE d.org_id = '%s' AND a.status_code = 302 "
                "AND a.error = 'HTTP 302'", org, 1, 5000);
    receiver_stop(r);
}
END_TEST

/* Issue 13: an organization may have at most WEBHOOK_MAX_ENDPOINTS (default 50) endpoints; the
 * 51st is CONFLICT with a message that says why. Other organizations are not affected. */
START_TEST(test_endpoint_cap)
{
    char org[64], other[64], id[IDS_MAX_LEN], msg[RPC_MESSAGE_MAX];
    struct receiver *r = receiver_ok();
    char url[128];
    new_org(org, sizeof org);
    new_org(other, sizeof other);
    receiver_url(r, "/cap", url, sizeof url);
    for (int i = 0; i < 50; i++)
        create_endpoint(org, url, "call.completed", id, sizeof id, NULL, 0);
    ck_assert_int_eq(create_status(org, url, "call.completed", msg, sizeof msg),
                     OD__STATUS__CONFLICT);
    ck_assert_msg(strstr(msg, "50 webhook endpoints") != NULL, "message: %s", msg);
    ck_assert_int_eq(scalar("SELECT count(*) FROM webhook.endpoints WHERE org_id = '%s'", org),
                     50);
    create_endpoint(other, url, "call.completed", id, sizeof id, NULL, 0);
    /* a deleted endpoint frees its place */
    ck_assert_int_eq(scalar("DELETE FROM webhook.endpoints WHERE org_id = '%s' AND id = "
                            "(SELECT min(id) FROM webhook.endpoints WHERE org_id = '%s') "
                            "RETURNING 1", org, org), 1);
    create_endpoint(org, url, "call.completed", id, sizeof id, NULL, 0);
    receiver_stop(r);
}
END_TEST

/* Issue 13: one event fanned out to many endpoints on one host reaches that host at most
 * WEBHOOK_MAX_PER_HOST (default 8) requests at a time. The receiver holds each request 800 ms:
 * 12 deliveries arrive as 8, then 4 once the first ones are answered. */
START_TEST(test_per_host_concurrency)
{
    enum { ENDPOINTS = 12, HOLD_MS = 800 };
    char org[64], id[IDS_MAX_LEN], secret[128], url[128];
    struct receiver *r = receiver_ok();
    struct received first, rec;
    int early = 0;
    new_org(org, sizeof org);
    receiver_url(r, "/fan", url, sizeof url);
    for (int i = 0; i < ENDPOINTS; i++)
        create_endpoint(org, url, "campaign.completed", id, sizeof id, secret, sizeof secret);
    receiver_set_reply(r, 200, NULL, HOLD_MS);
    ck_assert_int_eq(publish(org, 1, "campaign.completed", NULL, NULL, NULL), 1);
    wait_scalar("SELECT count(*) FROM webhook.deliveries WHERE org_id = '%s' AND "
                "status = 'succeeded'", org, ENDPOINTS, 15000);
    ck_assert_uint_eq(receiver_count(r), ENDPOINTS);
    ck_assert(receiver_get(r, 0, &first));
    for (size_t i = 0; i < ENDPOINTS; i++) {
        ck_assert(receiver_get(r, i, &rec));
        if (rec.at_wall_ms - first.at_wall_ms < HOLD_MS / 2)
            early++;
        receiver_received_free(&rec);
    }
    receiver_received_free(&first);
    ck_assert_msg(early == 8, "%d requests reached the host at once, expected 8", early);
    ck_assert_int_eq(scalar("SELECT max(attempts) FROM webhook.deliveries WHERE org_id = '%s'",
                            org), 1); /* being held back costs no attempt */
    receiver_stop(r);
}
END_TEST

/* Issue 13, retention: events older than RETENTION_DAYS (30) whose deliveries are finished are
 * deleted with their deliveries and delivery log, in small batches (RETENTION_BATCH=2 here);
 * recent ones, and old ones with a delivery still pending, stay. */
START_TEST(test_retention_deletes_old_rows)
{
    char org[64], id[IDS_MAX_LEN], secret[128], url[128];
    char ids[6][IDS_MAX_LEN] = {{0}};
    struct receiver *r = receiver_ok();
    new_org(org, sizeof org);
    receiver_url(r, "/old", url, sizeof url);
    create_endpoint(org, url, "call.failed", id, sizeof id, secret, sizeof secret);
    set_secret(r, secret);
    ck_assert_int_eq(publish(org, 6, "call.failed", NULL, ids, NULL), 6);
    ck_assert(receiver_wait_delivered(r, 6, 15000));
    wait_scalar("SELECT count(*) FROM webhook.deliveries WHERE org_id = '%s' AND "
                "status = 'succeeded'", org, 6, 10000);
    /* ids[0..4] are 31 days old (ids[4] with a delivery made pending again); ids[5] is new.
     * ids[4]'s delivery is made pending before the events are aged: the other way round, the
     * retention pass (every 200 ms) could delete ids[4] in between (seen under TSan). */
    ck_assert_int_eq(scalar("WITH u AS (UPDATE webhook.deliveries SET status = 'pending', "
                            "next_attempt_at = now() + interval '1 day' WHERE org_id = '%s' "
                            "AND event_id = '%s' RETURNING 1) SELECT count(*) FROM u", org,
                            ids[4]), 1);
    ck_assert_int_eq(scalar("WITH u AS (UPDATE webhook.events SET received_at = now() - "
                            "interval '31 days' WHERE org_id = '%s' AND id IN "
                            "('%s','%s','%s','%s','%s') RETURNING 1) SELECT count(*) FROM u",
                            org, ids[0], ids[1], ids[2], ids[3], ids[4]), 5);
    wait_scalar("SELECT count(*) FROM webhook.events WHERE org_id = '%s'", org, 2, 10000);
    ck_assert_int_eq(scalar("SELECT count(*) FROM webhook.events WHERE org_id = '%s' AND "
                            "id IN ('%s', '%s')", org, ids[4], ids[5]), 2);
    ck_assert_int_eq(scalar("SELECT count(*) FROM webhook.deliveries WHERE org_id = '%s'", org),
                     2);
    ck_assert_int_eq(scalar("SELECT count(*) FROM webhook.delivery_attempts WHERE org_id = '%s'",
                            org), 2);
    /* the delivery log of a kept delivery goes once it is old */
    ck_assert_int_eq(scalar("WITH u AS (UPDATE webhook.delivery_attempts SET attempted_at = "
                            "now() - interval '31 days' WHERE org_id = '%s' RETURNING 1) "
                            "SELECT count(*) FROM u", org), 2);
    wait_scalar("SELECT count(*) FROM webhook.delivery_attempts WHERE org_id = '%s'", org, 0,
                10000);
    receiver_stop(r);
}
END_TEST

START_TEST(test_clean_shutdown)
{
    ts_proc_stop_ok(g_wh);
}
END_TEST

static Suite *webhook_suite(void)
{
    Suite *s = suite_create("webhook_svc");
    TCase *tc = tcase_create("webhook");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_add_checked_fixture(tc, ensure_running, NULL);
    tcase_set_timeout(tc, 0);
    tcase_add_test(tc, test_endpoint_validation);
    tcase_add_test(tc, test_endpoint_org_isolation);
    tcase_add_test(tc, test_publish_delivers_signed);
    tcase_add_test(tc, test_publish_is_idempotent);
    tcase_add_test(tc, test_object_url_uses_default_secret);
    tcase_add_test(tc, test_receiver_down_then_up);
    tcase_add_test(tc, test_retry_log_and_manual_retry);
    tcase_add_test(tc, test_retry_after_is_honoured);
    tcase_add_test(tc, test_410_disables_endpoint);
    tcase_add_test(tc, test_failing_for_days_disables_endpoint);
    tcase_add_test(tc, test_rotation_signs_with_both);
    tcase_add_test(tc, test_killed_mid_delivery_loses_nothing);
    tcase_add_test(tc, test_refused_destinations_and_redirects);
    tcase_add_test(tc, test_endpoint_cap);
    tcase_add_test(tc, test_per_host_concurrency);
    tcase_add_test(tc, test_retention_deletes_old_rows);
    tcase_add_test(tc, test_relay_delivers_and_empties_outbox);
    tcase_add_test(tc, test_relay_survives_kills);
    tcase_add_test(tc, test_clean_shutdown);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr;
    int failed;
    int64_t started = ts_now_ms();
    ts_init("webhook-svc");
    sr = srunner_create(webhook_suite());
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_VERBOSE);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    fprintf(stderr, "[webhook-svc] finished in %.1f s\n", (double)(ts_now_ms() - started) / 1000.0);
    return ts_finish(failed);
}
