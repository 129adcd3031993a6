/* gateway: configuration, start-up and shutdown, and the operator commands
 *   gateway                                  serve the HTTP API
 *   gateway org-create NAME [--tier T]       {"orgId": ..., "apiKey": ...}
 *   gateway key-create ORG_ID [--scope S]    {"apiKey": ...}
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "config.h"
#include "contact_reads.h"
#include "audiences.pb-c.h"
#include "campaigns.pb-c.h"
#include "dialer.pb-c.h"
#include "contacts.pb-c.h"
#include "dnc.pb-c.h"
#include "db.h"
#include "gateway.h"
#include "health.h"
#include "imports.pb-c.h"
#include "log.h"
#include "ssrf.h"
#include "migrate.h"
#include "rpc.h"
#include "webhooks.pb-c.h"
#include "service.h"

extern const struct migration gateway_migrations[];

static int gateway_ready(void *arg)
{
    struct gateway *gw = arg;
    return db_pool_ping(gw->db); /* never waits for a busy pool: /readyz must answer */
}

/* Opens the gateway's database and brings its schema up to date. */
static struct db_pool *gateway_open_db(int pool_size)
{
    const char *url =
        config_string("DATABASE_URL", "postgresql://outdial_gateway@127.0.0.1:25432/outdial");
    struct db_pool *pool = db_pool_open(url, pool_size, 30000);
    struct db *db;
    int rc;
    if (pool == NULL)
        return NULL;
    db = db_pool_acquire(pool);
    rc = migrate_run(db, "gateway", gateway_migrations);
    db_pool_release(pool, db);
    if (rc < 0) {
        db_pool_close(pool);
        return NULL;
    }
    return pool;
}

/* One client per service process: a new service is one line here (and its URL variable). */
static int gateway_open_clients(struct gateway *gw)
{
    gw->contacts_svc = rpc_client_open(NULL, config_string("CONTACTS_SVC_URL", "tcp://127.0.0.1:7101"));
    gw->webhook_svc = rpc_client_open(NULL, config_string("WEBHOOK_SVC_URL", "tcp://127.0.0.1:7104"));
    gw->campaign_svc = rpc_client_open(NULL, config_string("CAMPAIGN_SVC_URL", "tcp://127.0.0.1:7102"));
    gw->dialer_svc = rpc_client_open(NULL, config_string("DIALER_SVC_URL", "tcp://127.0.0.1:7103"));
    if (gw->contacts_svc == NULL || gw->webhook_svc == NULL || gw->campaign_svc == NULL ||
        gw->dialer_svc == NULL)
        return -1;
    gw->contacts = rpc_client_service_for(gw->contacts_svc, &od__contacts__descriptor);
    gw->audiences = rpc_client_service_for(gw->contacts_svc, &od__audiences__descriptor);
    gw->dnc = rpc_client_service_for(gw->contacts_svc, &od__dnc__descriptor);
    gw->imports = rpc_client_service_for(gw->contacts_svc, &od__imports__descriptor);
    gw->webhooks = rpc_client_service_for(gw->webhook_svc, &od__webhooks__descriptor);
    gw->agents = rpc_client_service_for(gw->campaign_svc, &od__agents__descriptor);
    gw->phone_numbers = rpc_client_service_for(gw->campaign_svc, &od__phone_numbers__descriptor);
    gw->campaigns = rpc_client_service_for(gw->campaign_svc, &od__campaigns__descriptor);
    gw->leads = rpc_client_service_for(gw->campaign_svc, &od__leads__descriptor);
    gw->credits = rpc_client_service_for(gw->campaign_svc, &od__credits__descriptor);
    gw->calls = rpc_client_service_for(gw->dialer_svc, &od__calls__descriptor);
    gw->carrier_events = rpc_client_service_for(gw->dialer_svc, &od__carrier_events__descriptor);
    gw->carrier_auth_token = config_string("CARRIER_AUTH_TOKEN", "");
    gw->public_base_url = config_string("PUBLIC_BASE_URL", "");
    return 0;
}

/* The address policy webhook-svc applies, for the webhookUrl of an import (checked here at
 * submit, as webhook-svc checks an endpoint's url). -1 (logged) on a malformed setting. */
static int gateway_webhook_policy(struct gateway *gw)
{
    static struct ssrf_policy policy;
    char err[256];
    if (ssrf_policy_parse(config_string("WEBHOOK_ALLOW_CIDRS", ""), &policy, err,
                          sizeof err) != 0) {
        log_error(NULL, "WEBHOOK_ALLOW_CIDRS: %s", err);
        return -1;
    }
    gw->webhook_policy = &policy;
    return 0;
}

static const char *option_value(int argc, char **argv, const char *name, const char *fallback)
{
    for (int i = 0; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return argv[i + 1];
    return fallback;
}

static int gateway_command(int argc, char **argv)
{
    char org_id[64], api_key[128];
    struct db_pool *pool;
    int rc = 1;

    if (strcmp(argv[1], "org-create") == 0 && argc >= 3) {
        const char *tier_name = option_value(argc, argv, "--tier", "standard");
        enum api_tier tier = strcmp(tier_name, "enterprise") == 0     ? TIER_ENTERPRISE
                             : strcmp(tier_name, "professional") == 0 ? TIER_PROFESSIONAL
                             : strcmp(tier_name, "standard") == 0     ? TIER_STANDARD
                                                                      : (enum api_tier)-1;
        if ((int)tier < 0 || strlen(argv[2]) == 0 || strlen(argv[2]) > 200) {
            fprintf(stderr, "org-create: NAME of 1-200 bytes and --tier standard|professional|enterprise\n");
            return 2;
        }
        if ((pool = gateway_open_db(1)) == NULL)
            return 1;
        if (auth_create_org(pool, argv[2], tier, org_id, sizeof org_id, api_key,
                            sizeof api_key) == 0) {
            printf("{\"orgId\": \"%s\", \"apiKey\": \"%s\"}\n", org_id, api_key);
            rc = 0;
        }
        db_pool_close(pool);
        return rc;
    }
    if (strcmp(argv[1], "key-create") == 0 && argc >= 3) {
        const char *scope_name = option_value(argc, argv, "--scope", "write");
        if (strcmp(scope_name, "read") != 0 && strcmp(scope_name, "write") != 0) {
            fprintf(stderr, "key-create: --scope read|write\n");
            return 2;
        }
        if ((pool = gateway_open_db(1)) == NULL)
            return 1;
        if (auth_create_key(pool, argv[2],
                            strcmp(scope_name, "write") == 0 ? SCOPE_WRITE : SCOPE_READ, api_key,
                            sizeof api_key) == 0) {
            printf("{\"apiKey\": \"%s\"}\n", api_key);
            rc = 0;
        }
        db_pool_close(pool);
        return rc;
    }
    fprintf(stderr, "usage: gateway [org-create NAME [--tier T] | key-create ORG_ID [--scope S]]\n");
    return 2;
}

int main(int argc, char **argv)
{
    struct gateway gw;
    struct http_server *http = NULL;
    struct health *health = NULL;
    struct http_server_options http_options;
    int rc = 1, sig;

    service_tune_memory();
    arena_json_install(); /* before any jansson use: request values live in arenas */
    service_block_signals();
    log_init("gateway");
    if (argc > 1)
        return gateway_command(argc, argv);

    memset(&gw, 0, sizeof gw);
    /* Event threads only read and write sockets (one per core is enough); handler threads
     * block on RPCs, so they bound how many blocking requests run at once (http_dispatch.c). */
    http_options = (struct http_server_options){
        .bind_address = config_string("HTTP_BIND", "127.0.0.1"),
        .port = (int)config_int("HTTP_PORT", 8080, 0, 65535),
        .event_threads = (int)config_int("HTTP_THREADS", 2, 1, 64),
        .handler_threads = (int)config_int("HTTP_HANDLER_THREADS", 32, 1, 1024),
        .max_connections = (int)config_int("HTTP_MAX_CONNECTIONS", 4096, 1, 1000000),
        .timeout_seconds = (int)config_int("HTTP_TIMEOUT_SECONDS", 60, 1, 3600),
        /* issue 13: bodies are buffered only under this cap (503 past it), one address gets
         * at most this many connections, and a request's headers and body must arrive within
         * the deadline however slowly they trickle (the idle timeout restarts per byte). */
        .max_body_memory = (size_t)config_int("HTTP_MAX_BODY_MEMORY", (int64_t)512 << 20, 0,
                                              (int64_t)1 << 40),
        .max_connections_per_ip = (int)config_int("HTTP_MAX_CONNECTIONS_PER_IP", 256, 0, 1000000),
        .request_deadline_seconds = (int)config_int("HTTP_REQUEST_DEADLINE_SECONDS", 30, 0, 3600),
    };
    gw.max_body_bytes = (size_t)config_int("HTTP_MAX_BODY_BYTES", 16 * 1024 * 1024, 1024,
                                           (int64_t)1 << 30);
    gw.rpc_timeout_ms = (int)config_int("RPC_TIMEOUT_MS", 10000, 10, 600000);
    if ((gw.db = gateway_open_db((int)config_int("DB_POOL_SIZE", 4, 1, 64))) == NULL)
        goto out;
    gw.auth = auth_cache_new((int)config_int("API_KEY_CACHE_SECONDS", 30, 0, 3600));
    gw.limits = rate_limiter_new();
    if (gateway_open_clients(&gw) != 0 || gateway_webhook_policy(&gw) != 0)
        goto out;
    if (gw.auth == NULL || gw.limits == NULL ||
        (gw.contact_reads = contact_reads_new(
             gw.contacts, (int)config_int("CONTACT_READ_THREADS", 4, 1, 64))) == NULL)
        goto out;
    http = http_server_start(&gw, &http_options);
    if (http == NULL)
        goto out;
    health = health_start(config_string("HEALTH_LISTEN", "http://127.0.0.1:9100"), gateway_ready,
                          &gw);
    if (health == NULL)
        goto out;
    sig = service_wait_for_signal();
    log_info(NULL, "gateway stopping on signal %d", sig);
    rc = 0;
out:
    health_stop(health);
    http_server_stop(http); /* finishes in-flight requests before the clients go away */
    contact_reads_free(gw.contact_reads);
    rpc_client_close(gw.contacts_svc);
    rpc_client_close(gw.webhook_svc);
    rpc_client_close(gw.campaign_svc);
    rpc_client_close(gw.dialer_svc);
    rate_limiter_free(gw.limits);
    auth_cache_free(gw.auth);
    db_pool_close(gw.db);
    return rc;
}
