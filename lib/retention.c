#include "retention.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "config.h"
#include "db.h"
#include "log.h"

struct retention {
    struct retention_options options;
    pthread_t thread;
    bool started;
    pthread_mutex_t lock;
    pthread_cond_t cond;    /* CLOCK_MONOTONIC */
    bool stopping, woken;   /* under lock */
};

void retention_configure(struct retention_options *o)
{
    o->days = (int)config_int("RETENTION_DAYS", 30, 1, 36500);
    o->interval_ms = (int)config_int("RETENTION_INTERVAL_MS", 600000, 10, 86400000);
    o->batch = (int)config_int("RETENTION_BATCH", 500, 1, 100000);
}

/* Waits for the interval, a wake or a stop; true when stopping. */
static bool retention_wait(struct retention *r)
{
    struct timespec until;
    bool stop;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += r->options.interval_ms / 1000;
    until.tv_nsec += (long)(r->options.interval_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&r->lock);
    while (!r->stopping && !r->woken)
        if (pthread_cond_timedwait(&r->cond, &r->lock, &until) == ETIMEDOUT)
            break;
    r->woken = false;
    stop = r->stopping;
    pthread_mutex_unlock(&r->lock);
    return stop;
}

static bool retention_stopping(struct retention *r)
{
    bool stop;
    pthread_mutex_lock(&r->lock);
    stop = r->stopping;
    pthread_mutex_unlock(&r->lock);
    return stop;
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
        } while (n >= r->options.batch && !retention_stopping(r));
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
    } while (!retention_wait(r));
    db_close(db);
    return NULL;
}

struct retention *retention_start(const struct retention_options *options)
{
    struct retention *r = calloc(1, sizeof *r);
    pthread_condattr_t attr;
    if (r == NULL)
        return NULL;
    r->options = *options;
    pthread_mutex_init(&r->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&r->cond, &attr);
    pthread_condattr_destroy(&attr);
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
    pthread_mutex_lock(&r->lock);
    r->woken = true;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->lock);
}

void retention_stop(struct retention *r)
{
    if (r == NULL)
        return;
    pthread_mutex_lock(&r->lock);
    r->stopping = true;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->lock);
    if (r->started)
        pthread_join(r->thread, NULL);
    pthread_cond_destroy(&r->cond);
    pthread_mutex_destroy(&r->lock);
    free(r);
}
