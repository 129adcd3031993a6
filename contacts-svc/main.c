/* contacts-svc: configuration, start-up (migrations, RPC workers, health port) and shutdown. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "config.h"
#include "contacts.h"
#include "db.h"
#include "health.h"
#include "log.h"
#include "migrate.h"
#include "outbox_relay.h"
#include "rpc.h"
#include "service.h"

/* /readyz runs on nng's HTTP threads: it gets its own connection, guarded by a mutex. */
struct readiness {
    pthread_mutex_t lock;
    struct db *db;
};

static int contacts_ready(void *arg)
{
    struct readiness *r = arg;
    int rc;
    pthread_mutex_lock(&r->lock);
    rc = db_ping(r->db);
    pthread_mutex_unlock(&r->lock);
    return rc;
}

static void contacts_wake_relay(void *relay)
{
    outbox_relay_wake(relay);
}

int main(void)
{
    const char *database_url = config_string("DATABASE_URL", "postgresql://outdial_contacts@127.0.0.1:25432/outdial");
    const char *rpc_listen = config_string("RPC_LISTEN", "tcp://127.0.0.1:7101");
    const char *health_listen = config_string("HEALTH_LISTEN", "http://127.0.0.1:9101");
    int workers = (int)config_int("RPC_WORKERS", 8, 1, 256);
    struct readiness readiness = {PTHREAD_MUTEX_INITIALIZER, NULL};
    struct rpc_server *server = NULL;
    struct health *health = NULL;
    struct import_workers *imports = NULL;
    struct outbox_relay *relay = NULL;
    int rc = 1, sig;

    service_tune_memory();
    service_block_signals();
    log_init("contacts-svc");

    readiness.db = db_open(database_url, 30000);
    if (readiness.db == NULL)
        goto out;
    if (migrate_run(readiness.db, "contacts", contacts_migrations) < 0)
        goto out;
    struct rpc_server_options options = {
        .listen_url = rpc_listen,
        .workers = workers,
        .database_url = database_url,
        .services = {&contacts_service.base, &audiences_service.base, &dnc_service.base,
                     &imports_service.base, NULL},
        .app = NULL,
    };
    if ((server = rpc_server_start(&options)) == NULL)
        goto out;
    /* The outbox relay hands contacts.outbox events to webhook-svc ("" turns it off). */
    struct outbox_relay_options relay_options = {
        .database_url = database_url,
        .schema = "contacts",
        .events_url = config_string_or_off("WEBHOOK_SVC_URL", "tcp://127.0.0.1:7104"),
        .poll_ms = (int)config_int("OUTBOX_RELAY_POLL_MS", 50, 1, 3600000),
    };
    if (relay_options.events_url[0] != '\0' &&
        (relay = outbox_relay_start(&relay_options)) == NULL)
        goto out;
    /* Asynchronous imports: IMPORT_CHUNK_DELAY_MS only exists to slow imports down in tests. */
    struct import_worker_options import_options = {
        .database_url = database_url,
        .threads = (int)config_int("IMPORT_WORKERS", 2, 0, 64),
        .chunk_rows = (int)config_int("IMPORT_CHUNK_ROWS", 5000, 1, 10000),
        .chunk_delay_ms = (int)config_int("IMPORT_CHUNK_DELAY_MS", 0, 0, 60000),
        .poll_ms = (int)config_int("IMPORT_POLL_MS", 1000, 10, 600000),
        .on_event = relay != NULL ? contacts_wake_relay : NULL,
        .on_event_arg = relay,
    };
    if ((imports = import_workers_start(&import_options)) == NULL)
        goto out;
    if ((health = health_start(health_listen, contacts_ready, &readiness)) == NULL)
        goto out;
    log_info(NULL, "contacts-svc ready");
    sig = service_wait_for_signal();
    log_info(NULL, "contacts-svc stopping on signal %d", sig);
    rc = 0;
out:
    health_stop(health);
    import_workers_stop(imports); /* before the relay: a worker may still wake it */
    outbox_relay_stop(relay);
    rpc_server_stop(server);
    db_close(readiness.db);
    return rc;
}
