#include "retention.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "config.h"
#include "db.h"
#include "log.h"
#include "waker.h"

struct retention {
    struct retention_options options;
    pthread_t thread;
    bool started;
    struct waker waker;
};

void retention_configure(struct retention_options *o)
{
    o->days = (int)config_int("RETENTION_DAYS", 30, 1, 36500);
    o->interval_ms = (int)config_int("RETENTION_INTERVAL_MS", 600000, 10, 86400000);
    o->batch = (int)config_int("RETENTION_BATCH", 500, 1, 100000);
}

/* One sweep: every statement, batch after batch. */
static void retention_sweep(struct retention *r, struct db *db)
{
    char days[16], batch[16];
    snprintf(days, sizeof days, "%d", r->options.days);
    snprintf(batch, sizeof batch, "%d", r->options.batch);
    const char *params[] = {days, batch};
    for (int i = 0; r->options.statements[i] != NULL; i++) {
        long total = 0, n;
        do {
            PGresult *res = db_exec(db, r->options.statements[i], 2, params);
            if (!db_ok(res)) {
                log_error(NULL, "%s retention: %s", r->options.name, PQresultErrorMessage(res));
                PQclear(res);
                return;
            }
            n = atol(PQcmdTuples(res));
            total += n;
            PQclear(res);
        } while (n >= r->options.batch && !waker_stopping(&r->waker));
        if (total > 0)
            log_info(NULL, "%s retention: deleted %ld row(s) older than %d days (statement %d)",
                     r->options.name, total, r->options.days, i + 1);
    }
}

static void *retention_main(void *arg)
{
    struct retention *r = arg;
    struct db *db = NULL;
    do {
        if (db == NULL)
            db = db_open(r->options.database_url, 0);
        if (db != NULL)
            retention_sweep(r, db);
    } while (!waker_wait(&r->waker, r->options.interval_ms));
    db_close(db);
    return NULL;
}

struct retention *retention_start(const struct retention_options *options)
{
    struct retention *r = calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    if (waker_init(&r->waker) != 0) {
        free(r);
        return NULL;
    }
    r->options = *options;
    if (pthread_create(&r->thread, NULL, retention_main, r) != 0) {
        log_error(NULL, "%s retention: pthread_create failed", options->name);
        retention_stop(r);
        return NULL;
    }
    r->started = true;
    log_info(NULL, "%s retention: rows older than %d days, swept every %d ms in batches of %d",
             options->name, options->days, options->interval_ms, options->batch);
    return r;
}

void retention_wake(struct retention *r)
{
    if (r == NULL)
        return;
    waker_wake(&r->waker);
}

void retention_stop(struct retention *r)
{
    if (r == NULL)
        return;
    waker_stop(&r->waker);
    if (r->started)
        pthread_join(r->thread, NULL);
    waker_destroy(&r->waker);
    free(r);
}
