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

int main(void)
{
    const char *database_url = config_string("DATABASE_URL", "postgresql://outdial_contacts@127.0.0.1:55432/outdial");
    const char *rpc_listen = config_string("RPC_LISTEN", "tcp://127.0.0.1:7101");
    const char *health_listen = config_string("HEALTH_LISTEN", "http://127.0.0.1:9101");
    int workers = (int)config_int("RPC_WORKERS", 8, 1, 256);
    struct readiness readiness = {PTHREAD_MUTEX_INITIALIZER, NULL};
    struct rpc_server *server = NULL;
    struct health *health = NULL;
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
        .services = {&contacts_service.base, NULL},
        .app = NULL,
    };
    if ((server = rpc_server_start(&options)) == NULL)
        goto out;
    if ((health = health_start(health_listen, contacts_ready, &readiness)) == NULL)
        goto out;
    log_info(NULL, "contacts-svc ready");
    sig = service_wait_for_signal();
    log_info(NULL, "contacts-svc stopping on signal %d", sig);
    rc = 0;
out:
    health_stop(health);
    rpc_server_stop(server);
    db_close(readiness.db);
    return rc;
}
