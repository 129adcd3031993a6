/* The scheduler: one thread per process that, every SCHEDULER_POLL_MS,
 *   - starts SCHEDULED campaigns whose scheduledAt has passed (the same start as Act, with the
 *     snapshot; no credits or a missing caller ID/agent/audience makes the campaign FAILED
 *     with the reason),
 *   - completes IN_PROGRESS campaigns that have leads and no open lead left,
 *   - fails SCHEDULED, IN_PROGRESS or PAUSED campaigns whose agent was deleted.
 * Safe with several replicas: every change locks the campaign row FOR UPDATE SKIP LOCKED and
 * checks its status again inside the transaction, so a campaign is handled by one replica.
 * These queries span every organization (the scheduler serves them all). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "campaign.h"
#include "db.h"
#include "log.h"
#include "od_names.h"
#include "scheduler.h"
#include "waker.h"

struct scheduler {
    struct campaign_app *app;
    struct db *db;
    int poll_ms;
    pthread_t thread;
    struct waker waker;
};

/* Scheduled campaigns due now, across organizations. */
static void scheduler_start_due(struct scheduler *s)
{
    PGresult *due = db_exec(s->db,
                            "SELECT org_id, id FROM campaign.campaigns WHERE status = 'SCHEDULED'"
                            " AND scheduled_at <= now() ORDER BY scheduled_at LIMIT 20",
                            0, NULL);
    if (!db_ok(due)) {
        PQclear(due);
        return;
    }
    for (int i = 0; i < PQntuples(due); i++) {
        struct campaign_err err;
        PGresult *res = campaign_act(s->app, s->db, PQgetvalue(due, i, 0), PQgetvalue(due, i, 1),
                                     "start", "scheduler", true, &err);
        if (res == NULL && err.status != OD__STATUS__NOT_FOUND)
            log_error("scheduler", "starting campaign %s: %s", PQgetvalue(due, i, 1),
                      err.message);
        PQclear(res);
    }
    PQclear(due);
}

/* Running campaigns with no open lead, and campaigns whose agent is gone; across
 * organizations. */
static void scheduler_finish(struct scheduler *s)
{
    PGresult *rows = db_exec(
        s->db,
        "SELECT c.org_id, c.id, 'done' FROM campaign.campaigns c WHERE c.status = 'IN_PROGRESS'"
        " AND EXISTS (SELECT 1 FROM campaign.leads l WHERE l.org_id = c.org_id"
        "   AND l.campaign_id = c.id)"
        " AND " SQL_NO_OPEN_LEAD("c.org_id", "c.id")
        " UNION ALL "
        "SELECT c.org_id, c.id, 'agent' FROM campaign.campaigns c"
        " JOIN campaign.agents a ON a.org_id = c.org_id AND a.id = c.agent_id"
        " WHERE c.status IN ('SCHEDULED', 'IN_PROGRESS', 'PAUSED') AND a.deleted_at IS NOT NULL"
        " LIMIT 100",
        0, NULL);
    if (!db_ok(rows)) {
        PQclear(rows);
        return;
    }
    for (int i = 0; i < PQntuples(rows); i++) {
        const char *key[] = {PQgetvalue(rows, i, 0), PQgetvalue(rows, i, 1)};
        bool agent = strcmp(PQgetvalue(rows, i, 2), "agent") == 0;
        if (db_begin(s->db) != 0)
            continue;
        PGresult *locked = db_exec(s->db,
                                   "SELECT status FROM campaign.campaigns WHERE org_id = $1"
                                   " AND id = $2 FOR UPDATE SKIP LOCKED",
                                   2, key);
        int rc = -1;
        if (db_ok(locked) && PQntuples(locked) == 1) {
            const char *st = PQgetvalue(locked, 0, 0);
            if (!agent)
                rc = campaign_complete_if_done(s->db, key[0], key[1]);
            else if (strcmp(st, CAMPAIGN_SCHEDULED) == 0 || strcmp(st, CAMPAIGN_IN_PROGRESS) == 0 ||
                     strcmp(st, CAMPAIGN_PAUSED) == 0)
                rc = campaign_set_status_event(s->db, key[0], key[1], CAMPAIGN_FAILED,
                                               "agent deleted", EVENT_CAMPAIGN_FAILED) == 0 ? 1 : -1;
        }
        PQclear(locked);
        if (rc > 0 && db_commit(s->db) == 0)
            campaign_wake_outbox(s->app);
        else
            db_rollback(s->db);
    }
    PQclear(rows);
}

static void *scheduler_main(void *arg)
{
    struct scheduler *s = arg;
    do {
        scheduler_start_due(s);
        scheduler_finish(s);
    } while (!waker_wait(&s->waker, s->poll_ms));
    return NULL;
}

struct scheduler *scheduler_start(struct campaign_app *app, const char *database_url, int poll_ms)
{
    struct scheduler *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->app = app;
    s->poll_ms = poll_ms;
    if (waker_init(&s->waker) != 0) {
        free(s);
        return NULL;
    }
    if ((s->db = db_open(database_url, 30000)) == NULL) {
        waker_destroy(&s->waker);
        free(s);
        return NULL;
    }
    if (pthread_create(&s->thread, NULL, scheduler_main, s) != 0) {
        waker_destroy(&s->waker);
        db_close(s->db);
        free(s);
        return NULL;
    }
    return s;
}

void scheduler_wake(struct scheduler *s)
{
    if (s == NULL)
        return;
    waker_wake(&s->waker);
}

void scheduler_stop(struct scheduler *s)
{
    if (s == NULL)
        return;
    waker_stop(&s->waker);
    pthread_join(s->thread, NULL);
    waker_destroy(&s->waker);
    db_close(s->db);
    free(s);
}
