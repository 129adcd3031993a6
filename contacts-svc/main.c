/* contacts-svc: its schema, RPC services and background workers; lib/service_runtime.c does
 * the rest (database, migrations, outbox relay, RPC server, health port, signals). */
#include "config.h"
#include "contacts.h"
#include "service_runtime.h"

/* Asynchronous imports: IMPORT_CHUNK_DELAY_MS only exists to slow imports down in tests. A
 * finished import commits an event, so the workers wake the outbox relay. */
static void *contacts_imports_start(struct service_runtime *rt)
{
    struct import_worker_options o = {
        .database_url = service_runtime_database_url(rt),
        .threads = (int)config_int("IMPORT_WORKERS", 2, 0, 64),
        .chunk_rows = (int)config_int("IMPORT_CHUNK_ROWS", 5000, 1, 10000),
        .chunk_delay_ms = (int)config_int("IMPORT_CHUNK_DELAY_MS", 0, 0, 60000),
        .poll_ms = (int)config_int("IMPORT_POLL_MS", 1000, 10, 600000),
        .on_event = service_runtime_wake_outbox_cb,
        .on_event_arg = rt,
    };
    return import_workers_start(&o);
}

static void contacts_imports_stop(void *handle) { import_workers_stop(handle); }

int main(void)
{
    static const struct service_def def = {
        .name = "contacts-svc",
        .schema = "contacts",
        .migrations = contacts_migrations,
        .default_database_url = "postgresql://outdial_contacts@127.0.0.1:25432/outdial",
        .default_rpc_listen = "tcp://127.0.0.1:7101",
        .default_health_listen = "http://127.0.0.1:9101",
        .default_rpc_workers = 8,
        .outbox = true,
        .services = {&contacts_service.base, &audiences_service.base, &dnc_service.base,
                     &imports_service.base, NULL},
        .workers = {{"imports", contacts_imports_start, NULL, contacts_imports_stop}},
    };
    return service_run(&def);
}
