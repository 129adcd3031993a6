/* campaign-svc: its schema, RPC services, settings and the scheduler; lib/service_runtime.c
 * does the rest (database, migrations, outbox relay, RPC server, health port, signals).
 *
 * Settings: CONTACTS_SVC_URL (contacts-svc, for audience snapshots and DNC checks),
 * CONTACTS_SVC_TIMEOUT_MS, CREDITS_LOW_THRESHOLD (minutes), CREDITS_PURCHASE_ENABLED (0/1),
 * SCHEDULER_POLL_MS, SCHEDULER (0 turns the scheduler off in this replica). */
#include "campaign.h"
#include "config.h"
#include "contacts.pb-c.h"
#include "log.h"
#include "scheduler.h"
#include "service_runtime.h"
#include "tz.h"

static struct campaign_app campaign_app;

static int campaign_configure(struct service_runtime *rt)
{
    struct campaign_app *app = service_runtime_app(rt);
    app->rt = rt;
    app->credits_low_threshold = config_int("CREDITS_LOW_THRESHOLD", 100, 0, 1000000000);
    app->purchase_enabled = config_int("CREDITS_PURCHASE_ENABLED", 1, 0, 1) == 1;
    app->contacts_timeout_ms = (int)config_int("CONTACTS_SVC_TIMEOUT_MS", 30000, 100, 600000);
    app->contacts = rpc_client_open(NULL, config_string("CONTACTS_SVC_URL", "tcp://127.0.0.1:7101"));
    if (app->contacts == NULL) {
        log_error(NULL, "cannot open the contacts-svc client");
        return -1;
    }
    rpc_client_set_connect_wait(app->contacts, 3000);
    return 0;
}

static void campaign_cleanup(struct service_runtime *rt)
{
    struct campaign_app *app = service_runtime_app(rt);
    rpc_client_close(app->contacts);
    app->contacts = NULL;
    tz_cache_clear();
}

static void *campaign_scheduler_start(struct service_runtime *rt)
{
    if (config_int("SCHEDULER", 1, 0, 1) == 0)
        return SERVICE_WORKER_DISABLED;
    return scheduler_start(service_runtime_app(rt), service_runtime_database_url(rt),
                           (int)config_int("SCHEDULER_POLL_MS", 1000, 10, 600000));
}

static void campaign_scheduler_wake(void *handle) { scheduler_wake(handle); }
static void campaign_scheduler_stop(void *handle) { scheduler_stop(handle); }

int main(void)
{
    static const struct service_def def = {
        .name = "campaign-svc",
        .schema = "campaign",
        .migrations = campaign_migrations,
        .default_database_url = "postgresql://outdial_campaign@127.0.0.1:25432/outdial",
        .default_rpc_listen = "tcp://127.0.0.1:7102",
        .default_health_listen = "http://127.0.0.1:9102",
        .default_rpc_workers = 8,
        .outbox = true,
        .services = {&campaign_agents_service.base, &campaign_phone_numbers_service.base,
                     &campaign_campaigns_service.base, &campaign_leads_service.base,
                     &campaign_dialing_service.base, &campaign_credits_service.base, NULL},
        .workers = {{"scheduler", campaign_scheduler_start, campaign_scheduler_wake,
                     campaign_scheduler_stop}},
        .app = &campaign_app,
        .configure = campaign_configure,
        .cleanup = campaign_cleanup,
    };
    return service_run(&def);
}
