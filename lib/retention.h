/* Retention (retention.c): a background worker that deletes rows older than a configured
 * number of days, a small batch per statement, so that delivered events, delivery logs and
 * finished imports' rows do not grow without bound and no sweep holds long locks.
 *
 * One object with a handle (start, wake, stop), declared by a service as one of its
 * struct service_worker entries. Its thread owns its database connection and touches nothing
 * else but the wake-up state (behind its lock).
 *
 * Each statement takes $1 the retention in days (integer) and $2 the batch size, deletes at
 * most $2 rows and reports how many it deleted (a plain DELETE's command tag). A sweep runs
 * each statement again while it deleted a full batch, then sleeps for the interval. */
#ifndef OD_RETENTION_H
#define OD_RETENTION_H

struct retention_options {
    const char *name;              /* for logs: "webhook-svc" */
    const char *database_url;
    int days;                      /* RETENTION_DAYS (default 30) */
    int interval_ms;               /* between sweeps: RETENTION_INTERVAL_MS (default 10 min) */
    int batch;                     /* rows per statement: RETENTION_BATCH (default 500) */
    const char *const *statements; /* NULL-terminated; borrowed, must outlive the worker */
};

/* Reads RETENTION_DAYS, RETENTION_INTERVAL_MS and RETENTION_BATCH into o's fields. */
void retention_configure(struct retention_options *o);
/* Starts the thread; NULL on failure (logged). */
struct retention *retention_start(const struct retention_options *options);
/* Sweeps now (any thread). */
void retention_wake(struct retention *r);
/* Stops and joins the thread (a batch in progress finishes), frees everything. NULL is fine. */
void retention_stop(struct retention *r);

#endif
