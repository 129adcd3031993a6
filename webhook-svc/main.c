/* webhook-svc: its schema, RPC services, delivery settings and the dispatcher;
 * lib/service_runtime.c does the rest. */
#include <curl/curl.h>

#include "config.h"
#include "log.h"
#include "retention.h"
#include "service_runtime.h"
#include "deliveries.h"
#include "endpoints.h"
#include "events.h"
#include "webhook_app.h"

static struct webhook_app webhook_app;

/* Reads the settings that shape delivery; -1 (logged) on a malformed value. */
static int webhook_configure(struct service_runtime *rt)
{
    struct webhook_app *app = service_runtime_app(rt);
    char err[256];
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        log_error(NULL, "curl_global_init failed");
        return -1;
    }
    if (ssrf_policy_parse(config_string("WEBHOOK_ALLOW_CIDRS", ""), &app->policy, err,
                          sizeof err) != 0) {
        log_error(NULL, "WEBHOOK_ALLOW_CIDRS: %s", err);
        return -1;
    }
    if (retry_schedule_parse(config_string("WEBHOOK_RETRY_SCHEDULE", RETRY_SCHEDULE_DEFAULT),
                             &app->schedule, err, sizeof err) != 0) {
        log_error(NULL, "WEBHOOK_RETRY_SCHEDULE: %s", err);
        return -1;
    }
    app->timeout_ms = (int)config_int("WEBHOOK_TIMEOUT_MS", 15000, 100, 120000);
    /* A claimed delivery stays reserved for the request timeout plus a margin. */
    app->lease_seconds = app->timeout_ms / 1000 + 5;
    app->disable_after_seconds =
        (int)config_int("WEBHOOK_DISABLE_AFTER_SECONDS", 5 * 86400, 1, 365 * 86400);
    app->max_endpoints = (int)config_int("WEBHOOK_MAX_ENDPOINTS", 50, 1, 100000);
    app->max_per_host = (int)config_int("WEBHOOK_MAX_PER_HOST", 8, 1, 10000);
    return 0;
}

static void webhook_cleanup(struct service_runtime *rt)
{
    (void)rt;
    curl_global_cleanup();
}

static void webhook_dispatcher_wake(void *handle) { dispatcher_wake(handle); }

/* The dispatcher starts before the RPC server: Publish, Test and Retry wake it through the
 * app's injected wake-up. */
static void *webhook_dispatcher_start(struct service_runtime *rt)
{
    struct webhook_app *app = service_runtime_app(rt);
    struct dispatcher_options o = {
        .database_url = service_runtime_database_url(rt),
        .max_in_flight = (int)config_int("WEBHOOK_MAX_IN_FLIGHT", 256, 1, 10000),
        .claim_batch = (int)config_int("WEBHOOK_CLAIM_BATCH", 200, 1, 1000),
        .poll_ms = (int)config_int("WEBHOOK_POLL_MS", 500, 10, 60000),
    };
    if (config_int("WEBHOOK_DELIVERY", 1, 0, 1) == 0)
        return SERVICE_WORKER_DISABLED; /* a replica that only takes RPCs */
    if ((app->deliveries = dispatcher_start(app, &o)) != NULL)
        app->wake_deliveries = webhook_dispatcher_wake;
    return app->deliveries;
}

static void webhook_dispatcher_stop(void *handle)
{
    dispatcher_stop(handle);
    webhook_app.deliveries = NULL; /* the RPC server is already stopped */
}

/* Retention (RETENTION_DAYS, default 30): events received longer ago whose deliveries are
 * all finished (their deliveries and delivery log go with them, ON DELETE CASCADE), then
 * finished deliveries and log entries that old whose event is still kept (another delivery
 * of it still pending). Small batches; $1 days, $2 batch (lib/retention.h). */
static const char *const webhook_retention_sql[] = {
    "DELETE FROM webhook.events e USING ("
    "  SELECT ev.org_id, ev.id FROM webhook.events ev"
    "  WHERE ev.received_at < now() - make_interval(days => $1::int)"
    "  AND NOT EXISTS (SELECT 1 FROM webhook.deliveries d WHERE d.org_id = ev.org_id"
    "    AND d.event_id = ev.id AND d.status = 'pending') LIMIT $2::int) old "
    "WHERE e.org_id = old.org_id AND e.id = old.id",
    "DELETE FROM webhook.deliveries d USING ("
    "  SELECT d2.id FROM webhook.deliveries d2 WHERE d2.status <> 'pending'"
    "  AND d2.updated_at < now() - make_interval(days => $1::int) LIMIT $2::int) old "
    "WHERE d.id = old.id",
    "DELETE FROM webhook.delivery_attempts a USING ("
    "  SELECT a2.delivery_id, a2.attempt FROM webhook.delivery_attempts a2"
    "  WHERE a2.attempted_at < now() - make_interval(days => $1::int) LIMIT $2::int) old "
    "WHERE a.delivery_id = old.delivery_id AND a.attempt = old.attempt",
    NULL,
};

static void *webhook_retention_start(struct service_runtime *rt)
{
    struct retention_options o = {
        .name = "webhook-svc",
        .database_url = service_runtime_database_url(rt),
        .statements = webhook_retention_sql,
    };
    retention_configure(&o);
    return retention_start(&o);
}

static void webhook_retention_wake(void *handle) { retention_wake(handle); }
static void webhook_retention_stop(void *handle) { retention_stop(handle); }

int main(void)
{
    static const struct service_def def = {
        .name = "webhook-svc",
        .schema = "webhook",
        .migrations = webhook_migrations,
        .default_database_url = "postgresql://outdial_webhook@127.0.0.1:25432/outdial",
        .default_rpc_listen = "tcp://127.0.0.1:7104",
        .default_health_listen = "http://127.0.0.1:9104",
        .default_rpc_workers = 4,
        .services = {&webhooks_service.base, &events_service.base, NULL},
        .workers = {{"dispatcher", webhook_dispatcher_start, webhook_dispatcher_wake,
                     webhook_dispatcher_stop},
                    {"retention", webhook_retention_start, webhook_retention_wake,
                     webhook_retention_stop}},
        .app = &webhook_app,
        .configure = webhook_configure,
        .cleanup = webhook_cleanup,
    };
    return service_run(&def);
}
