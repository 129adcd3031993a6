/* webhook-svc's process state: what main.c declares as its service_def's app, reached by the
 * RPC handlers as call->app and by the dispatcher. Written only at start-up (configure, then
 * the dispatcher's start, both before the RPC server starts), read by every thread after. */
#ifndef WEBHOOK_SVC_WEBHOOK_APP_H
#define WEBHOOK_SVC_WEBHOOK_APP_H

#include <stddef.h>

#include "migrate.h"
#include "schedule.h"
#include "ssrf.h"

struct webhook_app {
    struct ssrf_policy policy;
    struct retry_schedule schedule;
    int timeout_ms;             /* per delivery request */
    int lease_seconds;          /* how long a claimed delivery stays reserved */
    int disable_after_seconds;  /* an endpoint failing this long is disabled */
    int max_endpoints;          /* per organization (WEBHOOK_MAX_ENDPOINTS) */
    int max_per_host;           /* concurrent requests to one destination host */
    /* The delivery wake-up, injected by main.c (the dispatcher's handle and its wake); both
     * NULL when this process delivers nothing. Called after a commit made a delivery due. */
    void *deliveries;
    void (*wake_deliveries)(void *deliveries);
};

/* Something became due (after a commit, from any thread): the dispatcher looks now. */
static inline void webhook_app_wake_deliveries(const struct webhook_app *app)
{
    if (app->wake_deliveries != NULL && app->deliveries != NULL)
        app->wake_deliveries(app->deliveries);
}

/* The schema's migrations, embedded from migrations/ at build time. */
extern const struct migration webhook_migrations[];

#endif
