/* contacts-svc's process state: what main.c declares as its service_def's app, reached by
 * every RPC handler as call->app and by the workers' start functions through
 * service_runtime_app. Written only during start-up (before the RPC server starts), read by
 * every thread afterwards. */
#ifndef CONTACTS_SVC_CONTACTS_APP_H
#define CONTACTS_SVC_CONTACTS_APP_H

#include "migrate.h"

struct import_workers;

struct contacts_app {
    /* The import workers of this process (import_worker.h), set by their start; NULL when
     * none run here. Submit wakes them through it. */
    struct import_workers *import_workers;
};

/* The schema's migrations, embedded from migrations/ at build time. */
extern const struct migration contacts_migrations[];

#endif
