/* Import workers (import_worker.c): threads that claim open imports and upsert their rows in
 * chunks. One object per process, with a handle: start, wake, stop. No process-wide state. */
#ifndef CONTACTS_SVC_IMPORT_WORKER_H
#define CONTACTS_SVC_IMPORT_WORKER_H

struct db;

struct import_worker_options {
    const char *database_url; /* each thread opens its own connection */
    int threads;              /* IMPORT_WORKERS; 0 runs none (another replica does the work) */
    int chunk_rows;           /* IMPORT_CHUNK_ROWS: rows per transaction */
    int chunk_delay_ms;       /* IMPORT_CHUNK_DELAY_MS: pause after each chunk (tests only) */
    int poll_ms;              /* IMPORT_POLL_MS: look for work submitted elsewhere */
    /* Called on a worker thread after a commit that wrote an outbox event (an import
     * ended), so the relay hands it on now rather than at its next poll. May be NULL. */
    void (*on_event)(void *arg);
    void *on_event_arg;
};

struct import_workers;

/* Starts options->threads threads; NULL on failure. */
struct import_workers *import_workers_start(const struct import_worker_options *options);
/* Wakes the idle workers of this handle (after a submit). Any thread; NULL is fine. */
void import_workers_wake(struct import_workers *workers);
/* Lets each thread finish its current chunk, joins them, frees. NULL is fine. */
void import_workers_stop(struct import_workers *workers);

/* Processes one chunk of the oldest open import no other worker holds, in one transaction:
 * 2 when that chunk ended the import (its import.completed event is committed), 1 when it
 * made progress, 0 when there was nothing to do, -1 on failure (rolled back). */
int import_run_chunk(struct db *db, int chunk_rows);

#endif
