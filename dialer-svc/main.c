/* dialer-svc: its settings, schema, RPC services and the dialer loop; lib/service_runtime.c
 * does the rest (database, migrations, outbox relay, RPC server, health port, signals). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "config.h"
#include "dialer.h"
#include "log.h"
#include "rpc.h"
#include "service_runtime.h"

static struct dialer_app dialer_app;

/* Reads the settings and opens the clients of campaign-svc and contacts-svc. */
static int dialer_configure(struct service_runtime *rt)
{
    struct dialer_app *app = service_runtime_app(rt);
    const char *id = config_string("DIALER_ID", "");
    const char *base = config_string("PUBLIC_BASE_URL", "http://127.0.0.1:8080");
    size_t len;

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        log_error(NULL, "curl_global_init failed");
        return -1;
    }
    app->rt = rt;
    if (id[0] != '\0') {
        snprintf(app->dialer_id, sizeof app->dialer_id, "%s", id);
    } else {
        char host[64] = "dialer";
        gethostname(host, sizeof host - 1);
        snprintf(app->dialer_id, sizeof app->dialer_id, "%s-%ld", host, (long)getpid());
    }
    snprintf(app->public_base_url, sizeof app->public_base_url, "%s", base);
    len = strlen(app->public_base_url);
    while (len > 0 && app->public_base_url[len - 1] == '/')
        app->public_base_url[--len] = '\0';
    app->carrier.base_url = config_string("CARRIER_BASE_URL", "http://127.0.0.1:7190");
    app->carrier.account_sid = config_string("CARRIER_ACCOUNT_SID", "");
    app->carrier.auth_token = config_string("CARRIER_AUTH_TOKEN", "");
    app->carrier.default_from = config_string("CARRIER_DEFAULT_FROM", "");
    app->carrier.timeout_ms = (int)config_int("CARRIER_TIMEOUT_MS", 5000, 100, 120000);
    app->capacity = (int)config_int("DIALER_CAPACITY", 50, 1, 100000);
    app->dial_threads = (int)config_int("DIALER_THREADS", 4, 1, 64);
    app->grace_ms = (int)config_int("DIALER_GRACE_MS", 10000, 0, 3600000);
    app->outcome_wait_ms = (int)config_int("OUTCOME_WAIT_MS", 3000, 0, 600000);
    app->sweep_ms = (int)config_int("DIALER_SWEEP_MS", 1000, 10, 600000);
    app->stale_ms = (int)config_int("DIALER_STALE_MS", 30000, 100, 3600000);
    app->poll_ms = (int)config_int("DIALER_POLL_MS", 200, 5, 600000);
    app->lease_margin_s = (int)config_int("DIALER_LEASE_MARGIN_SECONDS", 120, 10, 86400);
    /* A row's create lease keeps other replicas from placing its call while this one may
     * still be asking the carrier: it must outlast the carrier request. */
    app->create_lease_s = (int)config_int("DIALER_CREATE_LEASE_SECONDS", 30, 2, 3600);
    if (app->create_lease_s < app->carrier.timeout_ms / 1000 + 2) {
        app->create_lease_s = app->carrier.timeout_ms / 1000 + 2;
        log_warn(NULL, "DIALER_CREATE_LEASE_SECONDS raised to %d: it must outlast "
                 "CARRIER_TIMEOUT_MS", app->create_lease_s);
    }
    app->rpc_timeout_ms = (int)config_int("DIALER_RPC_TIMEOUT_MS", 10000, 100, 600000);
    app->campaign_client =
        rpc_client_open(NULL, config_string("CAMPAIGN_SVC_URL", "tcp://127.0.0.1:7102"));
    app->contacts_client =
        rpc_client_open(NULL, config_string("CONTACTS_SVC_URL", "tcp://127.0.0.1:7101"));
    if (app->campaign_client == NULL || app->contacts_client == NULL) {
        log_error(NULL, "cannot open the RPC clients of campaign-svc and contacts-svc");
        return -1;
    }
    rpc_client_set_connect_wait(app->campaign_client, 3000);
    rpc_client_set_connect_wait(app->contacts_client, 3000);
    app->dialing = rpc_client_service_for(app->campaign_client, &od__dialing__descriptor);
    app->dnc = rpc_client_service_for(app->contacts_client, &od__dnc__descriptor);
    return app->dialing != NULL && app->dnc != NULL ? 0 : -1;
}

static void dialer_cleanup(struct service_runtime *rt)
{
    struct dialer_app *app = service_runtime_app(rt);
    if (app->campaign_client != NULL)
        rpc_client_close(app->campaign_client);
    if (app->contacts_client != NULL)
        rpc_client_close(app->contacts_client);
    app->campaign_client = app->contacts_client = NULL;
    curl_global_cleanup();
}

int main(void)
{
    static const struct service_def def = {
        .name = "dialer-svc",
        .schema = DIALER_SCHEMA,
        .migrations = dialer_migrations,
        .default_database_url = "postgresql://outdial_dialer@127.0.0.1:25432/outdial",
        .default_rpc_listen = "tcp://127.0.0.1:7103",
        .default_health_listen = "http://127.0.0.1:9103",
        .default_rpc_workers = 8,
        .outbox = true,
        .services = {&dialer_calls_service.base, &dialer_carrier_events_service.base, NULL},
        /* the reporter first: workers stop in reverse order, and it must outlive the dialer
         * loop's grace period to report the calls that end in it */
        .workers = {{"reporter", dialer_reporter_start, dialer_reporter_wake, dialer_reporter_stop},
                    {"dialer", dialer_loop_start, dialer_loop_wake, dialer_loop_stop}},
        .app = &dialer_app,
        .configure = dialer_configure,
        .cleanup = dialer_cleanup,
    };
    return service_run(&def);
}
