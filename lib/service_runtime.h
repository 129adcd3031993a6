/* The service runtime: what every service process does besides its own domain code.
 *
 * A service's main.c declares a struct service_def (schema, migrations, RPC services,
 * background workers, defaults) and calls service_run(&def). The runtime then, in order:
 * tunes malloc and blocks signals, runs def->configure, opens the database (waiting for it to
 * come up), applies the migrations under their advisory lock, starts the outbox relay when the
 * service has an outbox, starts each background worker in declaration order, starts the RPC
 * server and the health port, waits for SIGINT/SIGTERM, and stops everything in reverse order.
 *
 * Background workers all have one shape (struct service_worker): start returns a handle (NULL
 * on failure, which fails start-up), wake nudges it, stop joins and frees it. There are no
 * process-wide singletons: a worker that must wake another (the import worker waking the
 * outbox relay) gets the handle through the runtime (service_runtime_wake_outbox,
 * service_runtime_worker).
 *
 * Configuration common to every service comes from the environment: DATABASE_URL, RPC_LISTEN,
 * RPC_WORKERS, HEALTH_LISTEN, WEBHOOK_SVC_URL (outbox relay target; "" turns the relay off)
 * and OUTBOX_RELAY_POLL_MS. A service's own settings are read by its configure hook and its
 * workers' start functions. */
#ifndef OD_SERVICE_RUNTIME_H
#define OD_SERVICE_RUNTIME_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>

#include "migrate.h"
#include "rpc.h"

struct service_runtime;

struct service_worker {
    const char *name;                              /* for logs and service_runtime_worker */
    void *(*start)(struct service_runtime *rt);    /* handle, or NULL (logged) to fail start-up */
    void (*wake)(void *handle);                    /* may be NULL */
    void (*stop)(void *handle);                    /* joins and frees; handle may be NULL */
};

#define SERVICE_MAX_WORKERS 8

/* What a worker's start returns when configuration turned it off in this process (say,
 * WEBHOOK_DELIVERY=0): start-up goes on, and the worker is never woken or stopped. */
extern char service_worker_disabled_mark;
#define SERVICE_WORKER_DISABLED ((void *)&service_worker_disabled_mark)

struct service_def {
    const char *name;                 /* "contacts-svc": logs */
    const char *schema;               /* "contacts": migrations, outbox */
    const struct migration *migrations;
    const char *default_database_url;
    const char *default_rpc_listen;
    const char *default_health_listen;
    int default_rpc_workers;
    bool outbox;                      /* relay <schema>.outbox to webhook-svc */
    ProtobufCService *services[RPC_MAX_SERVICES + 1]; /* NULL-terminated */
    struct service_worker workers[SERVICE_MAX_WORKERS]; /* ends at the first zeroed entry */
    void *app;                        /* the service's state: rpc_call.app, service_runtime_app */
    /* Optional hooks: configure runs before the database is opened (read settings into app;
     * -1 fails start-up); cleanup runs last, whether start-up succeeded or not. */
    int (*configure)(struct service_runtime *rt);
    void (*cleanup)(struct service_runtime *rt);
};

/* Runs the service until SIGINT/SIGTERM; returns the process exit code. */
int service_run(const struct service_def *def);

/* ---- for hooks and workers ---- */
void *service_runtime_app(struct service_runtime *rt);
const char *service_runtime_database_url(struct service_runtime *rt);
const char *service_runtime_name(struct service_runtime *rt);
/* The handle of a started worker by name, NULL when absent or not started (yet). */
void *service_runtime_worker(struct service_runtime *rt, const char *name);
/* Wakes a worker by name (nothing when absent). Thread-safe once start-up finished. */
void service_runtime_wake(struct service_runtime *rt, const char *name);
/* Wakes the outbox relay after a commit that added events (nothing when it is off). */
void service_runtime_wake_outbox(struct service_runtime *rt);
/* Callback shape for modules that take an injected wake-up: arg is the runtime. */
void service_runtime_wake_outbox_cb(void *rt);

#endif
