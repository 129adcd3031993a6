/* contacts-svc: its schema, RPC services and background workers; lib/service_runtime.c does
 * the rest (database, migrations, outbox relay, RPC server, health port, signals). */
#include "audiences.h"
#include "config.h"
#include "contacts.h"
#include "contacts_app.h"
#include "dnc.h"
#include "import_worker.h"
#include "imports.h"
#include "retention.h"
#include "service_runtime.h"

static struct contacts_app contacts_app;

/* Asynchronous imports: IMPORT_CHUNK_DELAY_MS only exists to slow imports down in tests. A
 * finished import commits an event, so the workers wake the outbox relay. The handle goes
 * into the app before the RPC server starts: Submit wakes the workers through it. */
static void *contacts_imports_start(struct service_runtime *rt)
{
    struct contacts_app *app = service_runtime_app(rt);
    struct import_worker_options o = {
        .database_url = service_runtime_database_url(rt),
        .threads = (int)config_int("IMPORT_WORKERS", 2, 0, 64),
        .chunk_rows = (int)config_int("IMPORT_CHUNK_ROWS", 5000, 1, 10000),
        .chunk_delay_ms = (int)config_int("IMPORT_CHUNK_DELAY_MS", 0, 0, 60000),
        .poll_ms = (int)config_int("IMPORT_POLL_MS", 1000, 10, 600000),
        .on_event = service_runtime_wake_outbox_cb,
        .on_event_arg = rt,
    };
    return app->import_workers = import_workers_start(&o);
}

static void contacts_imports_wake(void *handle) { import_workers_wake(handle); }

static void contacts_imports_stop(void *handle)
{
    import_workers_stop(handle);
    contacts_app.import_workers = NULL; /* the RPC server is already stopped */
}

/* Retention: the stored rows of imports finished more than RETENTION_DAYS ago (their row
 * errors, and any payload or staged rows left behind) are deleted in small batches; the
 * import's own record (status and counts) stays. $1 days, $2 batch (lib/retention.h). */
static const char *const contacts_retention_sql[] = {
    "DELETE FROM contacts.import_errors e USING ("
    "  SELECT e2.org_id, e2.import_id, e2.idx FROM contacts.import_errors e2"
    "  JOIN contacts.imports i ON i.org_id = e2.org_id AND i.id = e2.import_id"
    "  WHERE i.completed_at < now() - make_interval(days => $1::int) LIMIT $2::int) old "
    "WHERE e.org_id = old.org_id AND e.import_id = old.import_id AND e.idx = old.idx",
    "DELETE FROM contacts.import_rows r USING ("
    "  SELECT r2.org_id, r2.import_id, r2.idx FROM contacts.import_rows r2"
    "  JOIN contacts.imports i ON i.org_id = r2.org_id AND i.id = r2.import_id"
    "  WHERE i.completed_at < now() - make_interval(days => $1::int) LIMIT $2::int) old "
    "WHERE r.org_id = old.org_id AND r.import_id = old.import_id AND r.idx = old.idx",
    "DELETE FROM contacts.import_payloads p USING ("
    "  SELECT p2.org_id, p2.import_id FROM contacts.import_payloads p2"
    "  JOIN contacts.imports i ON i.org_id = p2.org_id AND i.id = p2.import_id"
    "  WHERE i.completed_at < now() - make_interval(days => $1::int) LIMIT $2::int) old "
    "WHERE p.org_id = old.org_id AND p.import_id = old.import_id",
    NULL,
};

static void *contacts_retention_start(struct service_runtime *rt)
{
    struct retention_options o = {
        .name = "contacts-svc",
        .database_url = service_runtime_database_url(rt),
        .statements = contacts_retention_sql,
    };
    retention_configure(&o);
    return retention_start(&o);
}

static void contacts_retention_wake(void *handle) { retention_wake(handle); }
static void contacts_retention_stop(void *handle) { retention_stop(handle); }

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
        .workers = {{"imports", contacts_imports_start, contacts_imports_wake,
                     contacts_imports_stop},
                    {"retention", contacts_retention_start, contacts_retention_wake,
                     contacts_retention_stop}},
        .app = &contacts_app,
    };
    return service_run(&def);
}
