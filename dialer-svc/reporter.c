/* The reporter: tells campaign-svc how calls ended (AttemptsFinished, up to REPORT_BATCH
 * attempts in one call and one transaction there) and marks them reported.
 *
 * A call's report is due when its row is finalized, its attempt started, and report_after
 * has passed. Finalizing makes it due at once and wakes this worker; a batch claims its rows
 * FOR UPDATE SKIP LOCKED and moves report_after REPORT_RETRY_S ahead, so replicas never send
 * one report together, and a report that got no acknowledgement (campaign-svc away, the
 * process killed) is sent again by any replica once that time passed. campaign-svc's
 * AttemptsFinished is idempotent per (lead, attempt). Reports used to be sent one by one from
 * the callback that ended the call: two commits per call (one in each service) on the
 * callback's path; bench (i) measured them.
 *
 * One thread with its own connection; woken by dialer_wake_reporter, else every
 * DIALER_SWEEP_MS. It stops after the dialer loop (it is listed first in main.c's workers),
 * so the finishes of the grace period are reported too, with one last drain. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "copytext.h"
#include "db.h"
#include "dialer.h"
#include "dialer_sql.h"
#include "log.h"
#include "rpc.h"
#include "service_runtime.h"
#include "waker.h"

#define REPORT_BATCH 100 /* report_claim_sql's LIMIT */
#define OD_STR_(x) #x
#define OD_STR(x) OD_STR_(x)
#define REPORT_COALESCE_MS 5 /* after a wake: let the finishes of the same moment join */

struct dialer_reporter {
    struct dialer_app *app;
    struct db *db;
    pthread_t thread;
    struct waker waker;
};

static const char report_claim_sql[] =
    "UPDATE dialer.calls SET report_after = now() + interval '" DIALER_REPORT_RETRY_TEXT "'"
    " WHERE id IN (SELECT id FROM dialer.calls WHERE reported_at IS NULL"
    "   AND finalized_at IS NOT NULL AND attempt_started AND report_after <= now()"
    "   ORDER BY report_after LIMIT " OD_STR(REPORT_BATCH) " FOR UPDATE SKIP LOCKED)"
    " RETURNING " DIALER_CALL_COLUMNS;

int dialer_report_due(struct dialer_app *app, struct db *db)
{
    Od__AttemptFinishedRequest *items = NULL, **ptrs = NULL;
    struct copytext acked = {0}, busy = {0};
    struct rpc_ctx ctx;
    bool have_ctx = false;
    int n, rc = -1;

    PGresult *rows = db_exec_prepared(db, report_claim_sql, 0, NULL);
    if (!db_ok(rows)) {
        log_warn(NULL, "reporter: %s", PQresultErrorMessage(rows));
        goto out;
    }
    n = PQntuples(rows);
    if (n == 0) {
        rc = 0;
        goto out;
    }
    items = calloc((size_t)n, sizeof *items);
    ptrs = calloc((size_t)n, sizeof *ptrs);
    if (items == NULL || ptrs == NULL)
        goto out; /* the rows are due again in DIALER_REPORT_RETRY_TEXT */
    for (int i = 0; i < n; i++) {
        Od__AttemptFinishedRequest *in = &items[i];
        od__attempt_finished_request__init(in);
        in->lead_id = (char *)dialer_col(rows, i, "lead_id");
        in->attempt = atoi(dialer_col(rows, i, "attempt"));
        in->outcome = (char *)dialer_col(rows, i, "outcome");
        in->duration_seconds = atoi(dialer_col(rows, i, "duration_seconds"));
        in->disposition = (char *)dialer_col(rows, i, "disposition");
        in->answered_by = (char *)dialer_col(rows, i, "answered_by");
        in->call_id = (char *)dialer_col(rows, i, "id");
        ptrs[i] = in;
    }
    Od__AttemptsFinishedRequest req = OD__ATTEMPTS_FINISHED_REQUEST__INIT;
    req.n_items = (size_t)n;
    req.items = ptrs;
    rpc_ctx_init(&ctx, "", NULL, app->rpc_timeout_ms);
    have_ctx = true;
    od__dialing__attempts_finished(app->dialing, &req, NULL, &ctx);
    if (ctx.status != OD__STATUS__OK) {
        log_warn(NULL, "AttemptsFinished (%d calls) failed: %s %s; will retry", n,
                 rpc_status_name(ctx.status), ctx.message);
        goto out;
    }
    const Od__AttemptsFinishedReply *reply = (const Od__AttemptsFinishedReply *)ctx.reply;
    for (size_t i = 0; i < reply->n_results && i < (size_t)n; i++) {
        const Od__AttemptFinishedResult *r = reply->results[i];
        const char *id = dialer_col(rows, (int)i, "id");
        /* NOT_FOUND: the lead is gone (its campaign deleted): nothing left to tell */
        if (r->status == OD__STATUS__OK || r->status == OD__STATUS__NOT_FOUND) {
            copytext_array_add(&acked, id);
            if (r->status == OD__STATUS__NOT_FOUND)
                log_warn(id, "AttemptFinished %s: %s", id, r->message);
        } else if (r->status == OD__STATUS__UNAVAILABLE) {
            copytext_array_add(&busy, id); /* its lead was held a moment: again soon */
        } else {
            log_warn(id, "AttemptFinished %s (%s attempt %s) refused: %s %s; will retry", id,
                     dialer_col(rows, (int)i, "lead_id"), dialer_col(rows, (int)i, "attempt"),
                     rpc_status_name(r->status), r->message);
        }
    }
    if (dialer_command_ids(db, "UPDATE dialer.calls SET reported_at = now(), updated_at = now()"
                               " WHERE id = ANY ($1::text[]) AND reported_at IS NULL",
                           &acked, NULL) != 0)
        goto out;
    if (acked.len > 0)
        dialer_wake_loop(app); /* capacity was freed */
    /* busy: due again in a second, not DIALER_REPORT_RETRY_TEXT: nothing is wrong with it */
    if (dialer_command_ids(db, "UPDATE dialer.calls SET report_after = now() + interval "
                               "'1 second' WHERE id = ANY ($1::text[]) AND reported_at IS NULL",
                           &busy, NULL) != 0)
        goto out;
    rc = n;
out:
    if (have_ctx)
        rpc_ctx_release(&ctx);
    free(acked.data);
    free(busy.data);
    free(items);
    free(ptrs);
    PQclear(rows);
    return rc;
}

/* Sends what is due, batch after batch, until a batch comes back short. */
static void reporter_drain(struct dialer_reporter *r)
{
    while (dialer_report_due(r->app, r->db) == REPORT_BATCH)
        ;
}

static void *reporter_main(void *arg)
{
    struct dialer_reporter *r = arg;
    struct timespec coalesce = {0, REPORT_COALESCE_MS * 1000000L};
    for (;;) {
        reporter_drain(r);
        if (waker_wait(&r->waker, r->app->sweep_ms))
            break;
        nanosleep(&coalesce, NULL); /* the finishes of the same moment join one batch */
    }
    reporter_drain(r); /* the last finishes, of the dialer loop's grace period */
    return NULL;
}

void *dialer_reporter_start(struct service_runtime *rt)
{
    struct dialer_reporter *r = calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    r->app = service_runtime_app(rt);
    if (waker_init(&r->waker) != 0) {
        free(r);
        return NULL;
    }
    r->db = db_open(service_runtime_database_url(rt), 30000);
    if (r->db == NULL || pthread_create(&r->thread, NULL, reporter_main, r) != 0) {
        log_error(NULL, "reporter: cannot start (database or thread)");
        db_close(r->db);
        waker_destroy(&r->waker);
        free(r);
        return NULL;
    }
    return r;
}

void dialer_reporter_wake(void *handle)
{
    struct dialer_reporter *r = handle;
    waker_wake(&r->waker);
}

void dialer_reporter_stop(void *handle)
{
    struct dialer_reporter *r = handle;
    if (r == NULL)
        return;
    waker_stop(&r->waker);
    pthread_join(r->thread, NULL);
    db_close(r->db);
    waker_destroy(&r->waker);
    free(r);
}
