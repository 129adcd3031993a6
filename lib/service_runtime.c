#include "service_runtime.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "db.h"
#include "health.h"
#include "log.h"
#include "outbox_relay.h"
#include "service.h"

char service_worker_disabled_mark;

struct service_runtime {
    const struct service_def *def;
    const char *database_url;
    /* /readyz runs on nng's HTTP threads: its own connection, guarded by a mutex. */
    pthread_mutex_t ready_lock;
    struct db *ready_db;
    struct outbox_relay *relay;
    void *handles[SERVICE_MAX_WORKERS];
    int nstarted;
};

static int runtime_ready(void *arg)
{
    struct service_runtime *rt = arg;
    int rc;
    pthread_mutex_lock(&rt->ready_lock);
    rc = db_ping(rt->ready_db);
    pthread_mutex_unlock(&rt->ready_lock);
    return rc;
}

void *service_runtime_app(struct service_runtime *rt) { return rt->def->app; }
const char *service_runtime_database_url(struct service_runtime *rt) { return rt->database_url; }
const char *service_runtime_name(struct service_runtime *rt) { return rt->def->name; }

void *service_runtime_worker(struct service_runtime *rt, const char *name)
{
    for (int i = 0; i < rt->nstarted; i++)
        if (strcmp(rt->def->workers[i].name, name) == 0)
            return rt->handles[i];
    return NULL;
}

void service_runtime_wake(struct service_runtime *rt, const char *name)
{
    for (int i = 0; i < rt->nstarted; i++)
        if (strcmp(rt->def->workers[i].name, name) == 0 && rt->def->workers[i].wake != NULL &&
            rt->handles[i] != NULL)
            rt->def->workers[i].wake(rt->handles[i]);
}

void service_runtime_wake_outbox(struct service_runtime *rt)
{
    if (rt != NULL && rt->relay != NULL)
        outbox_relay_wake(rt->relay);
}

void service_runtime_wake_outbox_cb(void *rt) { service_runtime_wake_outbox(rt); }

static int runtime_start_relay(struct service_runtime *rt)
{
    struct outbox_relay_options o = {
        .database_url = rt->database_url,
        .schema = rt->def->schema,
        .events_url = config_string_or_off("WEBHOOK_SVC_URL", "tcp://127.0.0.1:7104"),
        .poll_ms = (int)config_int("OUTBOX_RELAY_POLL_MS", 50, 1, 3600000),
    };
    if (o.events_url[0] == '\0')
        return 0; /* "" turns the relay off: another replica or nobody relays */
    return (rt->relay = outbox_relay_start(&o)) == NULL ? -1 : 0;
}

int service_run(const struct service_def *def)
{
    struct service_runtime rt;
    struct rpc_server *server = NULL;
    struct health *health = NULL;
    int rc = 1, sig;

    memset(&rt, 0, sizeof rt);
    rt.def = def;
    pthread_mutex_init(&rt.ready_lock, NULL);
    service_tune_memory();
    service_block_signals(); /* before any thread exists, so all inherit the mask */
    log_init(def->name);
    rt.database_url = config_string("DATABASE_URL", def->default_database_url);

    if (def->configure != NULL && def->configure(&rt) != 0)
        goto out;
    if ((rt.ready_db = db_open(rt.database_url, 30000)) == NULL)
        goto out;
    if (migrate_run(rt.ready_db, def->schema, def->migrations) < 0)
        goto out;
    if (def->outbox && runtime_start_relay(&rt) != 0)
        goto out;
    for (int i = 0; i < SERVICE_MAX_WORKERS && def->workers[i].start != NULL; i++) {
        rt.handles[i] = def->workers[i].start(&rt);
        if (rt.handles[i] == NULL) {
            log_error(NULL, "%s: worker %s failed to start", def->name, def->workers[i].name);
            goto out;
        }
        if (rt.handles[i] == SERVICE_WORKER_DISABLED)
            rt.handles[i] = NULL; /* wake and stop skip it */
        rt.nstarted = i + 1;
    }
    struct rpc_server_options options = {
        .listen_url = config_string("RPC_LISTEN", def->default_rpc_listen),
        .workers = (int)config_int("RPC_WORKERS", def->default_rpc_workers, 1, 256),
        .database_url = rt.database_url,
        .app = def->app,
        .tenant_share = (int)config_int("RPC_TENANT_SHARE", 0, 0, 256),
        .tenant_queue = (int)config_int("RPC_TENANT_QUEUE", 0, 0, 100000),
    };
    memcpy(options.services, def->services, sizeof options.services);
    if ((server = rpc_server_start(&options)) == NULL)
        goto out;
    if ((health = health_start(config_string("HEALTH_LISTEN", def->default_health_listen),
                               runtime_ready, &rt)) == NULL)
        goto out;
    log_info(NULL, "%s ready", def->name);
    sig = service_wait_for_signal();
    log_info(NULL, "%s stopping on signal %d", def->name, sig);
    rc = 0;
out:
    health_stop(health);
    rpc_server_stop(server); /* no new calls: nothing wakes the workers any more */
    for (int i = rt.nstarted - 1; i >= 0; i--)
        if (rt.handles[i] != NULL)
            def->workers[i].stop(rt.handles[i]);
    rt.nstarted = 0;
    outbox_relay_stop(rt.relay); /* last: a stopping worker may still have woken it */
    db_close(rt.ready_db);
    if (def->cleanup != NULL)
        def->cleanup(&rt);
    pthread_mutex_destroy(&rt.ready_lock);
    return rc;
}
