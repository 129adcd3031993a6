/* webhook-svc: configuration, start-up (migrations, RPC workers, the delivery dispatcher,
 * health port) and shutdown. */
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "config.h"
#include "db.h"
#include "health.h"
#include "log.h"
#include "migrate.h"
#include "rpc.h"
#include "service.h"
#include "webhooks.h"

/* /readyz runs on nng's HTTP threads: it gets its own connection, guarded by a mutex. */
struct readiness {
    pthread_mutex_t lock;
    struct db *db;
};

static int webhook_ready(void *arg)
{
    struct readiness *r = arg;
    int rc;
    pthread_mutex_lock(&r->lock);
    rc = db_ping(r->db);
    pthread_mutex_unlock(&r->lock);
    return rc;
}

/* Reads the settings that shape delivery; -1 (logged) on a malformed value. */
static int webhook_configure(struct webhook_app *app)
{
    char err[256];
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
    return 0;
}

int main(void)
{
    const char *database_url =
        config_string("DATABASE_URL", "postgresql://outdial_webhook@127.0.0.1:25432/outdial");
    const char *rpc_listen = config_string("RPC_LISTEN", "tcp://127.0.0.1:7104");
    const char *health_listen = config_string("HEALTH_LISTEN", "http://127.0.0.1:9104");
    int workers = (int)config_int("RPC_WORKERS", 4, 1, 256);
    struct dispatcher_options dispatch = {
        .database_url = database_url,
        .max_in_flight = (int)config_int("WEBHOOK_MAX_IN_FLIGHT", 256, 1, 10000),
        .claim_batch = (int)config_int("WEBHOOK_CLAIM_BATCH", 200, 1, 1000),
        .poll_ms = (int)config_int("WEBHOOK_POLL_MS", 500, 10, 60000),
    };
    struct readiness readiness = {PTHREAD_MUTEX_INITIALIZER, NULL};
    struct webhook_app app = {0};
    struct rpc_server *server = NULL;
    struct health *health = NULL;
    int rc = 1, sig;

    service_tune_memory();
    service_block_signals();
    log_init("webhook-svc");
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        log_error(NULL, "curl_global_init failed");
        return 1;
    }
    if (webhook_configure(&app) != 0)
        goto out;
    readiness.db = db_open(database_url, 30000);
    if (readiness.db == NULL)
        goto out;
    if (migrate_run(readiness.db, "webhook", webhook_migrations) < 0)
        goto out;
    /* The dispatcher first: Publish and Test wake it through app.dispatcher. */
    if (config_int("WEBHOOK_DELIVERY", 1, 0, 1) == 1 &&
        (app.dispatcher = dispatcher_start(&app, &dispatch)) == NULL)
        goto out;
    struct rpc_server_options options = {
        .listen_url = rpc_listen,
        .workers = workers,
        .database_url = database_url,
        .services = {&webhooks_service.base, &events_service.base, NULL},
        .app = &app,
    };
    if ((server = rpc_server_start(&options)) == NULL)
        goto out;
    if ((health = health_start(health_listen, webhook_ready, &readiness)) == NULL)
        goto out;
    log_info(NULL, "webhook-svc ready");
    sig = service_wait_for_signal();
    log_info(NULL, "webhook-svc stopping on signal %d", sig);
    rc = 0;
out:
    health_stop(health);
    rpc_server_stop(server);
    dispatcher_stop(app.dispatcher);
    db_close(readiness.db);
    curl_global_cleanup();
    return rc;
}
