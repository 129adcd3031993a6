/* Import workers: threads that claim open imports and upsert their rows in chunks.
 *
 * Threads: each worker owns one database connection and touches nothing else but the wake-up
 * state of its struct import_workers (behind its lock), which import_workers_wake (any thread)
 * and import_workers_stop (the thread that started them) share with it. Workers in one process and in other replicas share work
 * through the database only: one chunk is one transaction that starts by locking an open
 * import with FOR UPDATE SKIP LOCKED, so two workers never hold the same import at once, and
 * a worker that dies (or a replica that is killed) loses only its uncommitted chunk.
 *
 * One chunk, in one transaction:
 *   1. lock the oldest open import nobody holds;
 *   2. take rows [processed, processed + chunk) of the import's stored rows (import_payloads,
 *      read and unpacked once per import and worker), validate them, record the bad ones in
 *      import_errors (with the rows whose merged metadata would pass the limit: they fail
 *      alone), upsert the good ones through the bulk path (contacts_rows_write: COPY
 *      of new numbers, the last row of a repeated number wins) and add the audience
 *      memberships;
 *   3. add the chunk's counts to the import and move `processed`; when it reaches `total`,
 *      set the final status, write the import.completed event to the outbox and delete the
 *      stored rows.
 * Counts therefore always describe exactly the rows that committed. */
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "import_worker.h"

#include "arena.h"
#include "bulk.h"
#include "copytext.h"
#include "db.h"
#include "imports.pb-c.h"
#include "log.h"
#include "od_names.h"
#include "outbox.h"
#include "rpc_util.h"
#include "timefmt.h"
#include "validate.h"

#define IMPORT_MAX_ATTEMPTS 5 /* consecutive failed chunks before an import is FAILED */

struct import_workers {
    struct import_worker_options options;
    pthread_t *threads;
    int started;
    pthread_mutex_t lock;
    pthread_cond_t cond;  /* CLOCK_MONOTONIC */
    unsigned long wake_seq; /* under lock: bumped by every wake */
    bool stopping;          /* under lock */
};

void import_workers_wake(struct import_workers *w)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->lock);
    w->wake_seq++;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

/* ---------------- one chunk ---------------- */

/* The rows of the import this thread worked on last, unpacked into their own arena: a
 * 10,000-row import is read and unpacked once, not once per chunk. Workers usually take the
 * same import again for its next chunk (it stays the oldest open one). */
struct payload_cache {
    char org_id[64], id[64];
    struct arena *arena;
    Od__SubmitImportRequest *rows;
};
static __thread struct payload_cache cache;

static void payload_cache_clear(void)
{
    arena_destroy(cache.arena);
    memset(&cache, 0, sizeof cache);
}

/* The import's rows, from the cache or the database; NULL on failure (error filled). */
static const Od__SubmitImportRequest *payload_rows(struct db *db, const char *org_id,
                                                  const char *id, char *error, size_t size)
{
    static const char sql[] =
        "SELECT contacts FROM contacts.import_payloads WHERE org_id = $1 AND import_id = $2";
    const char *params[] = {org_id, id};
    ProtobufCAllocator alloc;
    PGresult *res;

    if (cache.rows != NULL && strcmp(cache.org_id, org_id) == 0 && strcmp(cache.id, id) == 0)
        return cache.rows;
    payload_cache_clear();
    res = db_exec_bytes(db, sql, 2, params, NULL, NULL, 1);
    if (!db_ok(res) || PQntuples(res) != 1) {
        snprintf(error, size, "reading the import's rows: %s",
                 db_ok(res) ? "they are missing" : PQresultErrorMessage(res));
        PQclear(res);
        return NULL;
    }
    if ((cache.arena = arena_new()) != NULL)
        cache.rows = od__submit_import_request__unpack(
            arena_protobuf_allocator(cache.arena, &alloc), (size_t)PQgetlength(res, 0, 0),
            (const uint8_t *)PQgetvalue(res, 0, 0));
    PQclear(res);
    if (cache.rows == NULL) {
        snprintf(error, size, "the import's stored rows could not be read");
        payload_cache_clear();
        return NULL;
    }
    snprintf(cache.org_id, sizeof cache.org_id, "%s", org_id);
    snprintf(cache.id, sizeof cache.id, "%s", id);
    return cache.rows;
}

struct chunk_counts {
    long long created, updated, failed;
    char sqlstate[6]; /* of the statement that failed, "" if none */
};

/* Adds one import_errors row (org_id, import_id, idx, phone_number, reason) to a COPY. */
static void chunk_error(struct copytext *errors, const char *org_id, const char *id,
                        long long index, const char *phone, const char *reason)
{
    copytext_field(errors, org_id, '\t');
    copytext_field(errors, id, '\t');
    copytext_int(errors, index, '\t');
    copytext_field(errors, phone ? phone : "", '\t');
    copytext_field(errors, reason, '\n');
}

/* Validates rows [lo, hi) of the import, records the bad ones in import_errors, upserts the
 * good ones and adds them to the import's audience, all in the caller's transaction. */
static int chunk_write(struct db *db, const char *org_id, const char *id, const char *audience,
                       const Od__SubmitImportRequest *payload, long long lo, long long hi,
                       struct chunk_counts *counts, char *error, size_t size)
{
    size_t n = (size_t)(hi - lo), ngood = 0, ndistinct;
    struct contacts_row *rows = calloc(n + 1, sizeof *rows);
    struct copytext errors = {0}, members = {0};
    size_t nkept = 0;
    int rc = -1;

    if (rows == NULL) {
        snprintf(error, size, "out of memory");
        return -1;
    }
    for (long long i = lo; i < hi; i++) {
        const Od__ContactInput *in = payload->contacts[i];
        const char *reason = in->invalid_reason && in->invalid_reason[0]
                                 ? in->invalid_reason /* the gateway could not map the row */
                                 : imports_validate_row(in);
        if (reason == NULL) {
            rows[ngood++] = (struct contacts_row){.index = (int)i, .in = in};
            continue;
        }
        chunk_error(&errors, org_id, id, i, in->phone_number, reason);
        counts->failed++;
    }
    ndistinct = contacts_rows_distinct(rows, ngood);
    /* A row whose metadata would grow past the limit once merged fails alone (before the
     * write: a refused row must not cost the chunk). */
    if (ndistinct > 0 && contacts_rows_refuse_oversized(db, org_id, rows, ndistinct, &nkept) != 0) {
        snprintf(counts->sqlstate, sizeof counts->sqlstate, "%s", contacts_rows_sqlstate());
        snprintf(error, size, "checking merged metadata failed (SQLSTATE %s)",
                 counts->sqlstate[0] ? counts->sqlstate : "?");
        goto out;
    }
    for (size_t i = nkept; i < ndistinct; i++) {
        chunk_error(&errors, org_id, id, rows[i].index, rows[i].in->phone_number,
                    rows[i].reason);
        counts->failed++;
    }
    ngood -= ndistinct - nkept;
    ndistinct = nkept;
    if (errors.failed) {
        snprintf(error, size, "out of memory");
        goto out;
    }
    if (errors.len > 0 &&
        db_copy_in(db, "COPY contacts.import_errors (org_id, import_id, idx, phone_number, reason)"
                       " FROM STDIN", errors.data, errors.len) != 0) {
        snprintf(error, size, "recording row errors: %s", PQerrorMessage(db_conn(db)));
        goto out;
    }
    if (ndistinct > 0 && contacts_rows_write(db, org_id, rows, ndistinct) != 0) {
        snprintf(counts->sqlstate, sizeof counts->sqlstate, "%s", contacts_rows_sqlstate());
        snprintf(error, size, "upserting contacts failed (SQLSTATE %s)",
                 counts->sqlstate[0] ? counts->sqlstate : "?");
        goto out;
    }
    for (size_t i = 0; i < ndistinct; i++)
        if (!rows[i].exists)
            counts->created++;
    counts->updated += (long long)ngood - (long long)ndistinct; /* repeats count as updates */
    for (size_t i = 0; i < ndistinct; i++)
        if (rows[i].exists)
            counts->updated++;
    if (audience[0] != '\0' && ndistinct > 0) {
        const char *member_array;
        for (size_t i = 0; i < ndistinct; i++)
            copytext_array_add(&members, rows[i].id);
        if ((member_array = copytext_array_end(&members)) == NULL) {
            snprintf(error, size, "out of memory");
            goto out;
        }
        const char *params[] = {org_id, audience, member_array};
        PGresult *res = db_exec(db,
                                "INSERT INTO contacts.audience_members (org_id, audience_id, "
                                "contact_id) SELECT $1, $2, c FROM unnest($3::text[]) c "
                                "ORDER BY c ON CONFLICT DO NOTHING",
                                3, params);
        if (!db_ok(res)) {
            snprintf(counts->sqlstate, sizeof counts->sqlstate, "%s", db_sqlstate(res));
            snprintf(error, size, "adding contacts to the audience: %s",
                     PQresultErrorMessage(res));
            PQclear(res);
            goto out;
        }
        PQclear(res);
    }
    rc = 0;
out:
    free(rows);
    free(errors.data);
    free(members.data);
    return rc;
}

/* What advance_sql and fail_sql return about the import, in the order of enum
 * import_end_column; the last column says whether the import is over. */
#define IMPORT_END_COLUMNS                                                                     \
    "status, total, created, updated, failed, coalesce(webhook_url, ''), "                    \
    SQL_ISO_MS("completed_at")
enum import_end_column {
    END_COL_STATUS,
    END_COL_TOTAL,
    END_COL_CREATED,
    END_COL_UPDATED,
    END_COL_FAILED,
    END_COL_WEBHOOK_URL,
    END_COL_COMPLETED_AT,
    END_COL_ENDED,
};

/* Moves the import on by one chunk's counts; sets the final status when it is done.
 * $1 org, $2 id, $3 new processed, $4 created, $5 updated, $6 failed. */
static const char advance_sql[] =
    "UPDATE contacts.imports SET"
    "  processed = $3::int,"
    "  created = created + $4::int, updated = updated + $5::int, failed = failed + $6::int,"
    "  status = CASE WHEN $3::int < total THEN 'PROCESSING'"
    "                WHEN total > 0 AND failed + $6::int = total THEN 'FAILED'"
    "                WHEN failed + $6::int > 0 THEN 'COMPLETED_WITH_ERRORS'"
    "                ELSE 'COMPLETED' END,"
    "  completed_at = CASE WHEN $3::int >= total THEN now() END,"
    "  started_at = coalesce(started_at, now()), updated_at = now(),"
    "  attempts = 0, last_error = NULL "
    "WHERE org_id = $1 AND id = $2 "
    "RETURNING " IMPORT_END_COLUMNS ", processed >= total";

/* Writes import.completed for a finished import (row of advance_sql or fail_sql). */
static int import_emit_completed(struct db *db, const char *org_id, const char *id,
                                 PGresult *res)
{
    char now[TIME_ISO_LEN];
    json_t *payload;
    char *text;
    int rc = -1;

    payload = json_pack("{s:s, s:s, s:s, s:i, s:i, s:i, s:i, s:s, s:s}", "event",
                        EVENT_IMPORT_COMPLETED, "importId", id, "status",
                        PQgetvalue(res, 0, END_COL_STATUS), "total",
                        atoi(PQgetvalue(res, 0, END_COL_TOTAL)), "created",
                        atoi(PQgetvalue(res, 0, END_COL_CREATED)), "updated",
                        atoi(PQgetvalue(res, 0, END_COL_UPDATED)), "failed",
                        atoi(PQgetvalue(res, 0, END_COL_FAILED)), "completedAt",
                        PQgetvalue(res, 0, END_COL_COMPLETED_AT), "timestamp",
                        time_format_ms(time_now_ms(), now, sizeof now));
    text = payload ? json_dumps(payload, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    if (text != NULL)
        rc = outbox_add(db, "contacts", EVENT_IMPORT_COMPLETED, org_id,
                        PQgetvalue(res, 0, END_COL_WEBHOOK_URL), text);
    free(text);
    json_decref(payload);
    return rc;
}

/* After a chunk failed for a reason other than the database being away: counts the failure,
 * and after IMPORT_MAX_ATTEMPTS in a row ends the import as FAILED (with its event). */
static void import_note_failure(struct db *db, const char *org_id, const char *id,
                                const char *error)
{
    static const char fail_sql[] =
        "UPDATE contacts.imports SET attempts = attempts + 1, last_error = $3,"
        "  status = CASE WHEN attempts + 1 >= $4::int THEN 'FAILED' ELSE status END,"
        "  completed_at = CASE WHEN attempts + 1 >= $4::int THEN now() END,"
        "  updated_at = now() "
        "WHERE org_id = $1 AND id = $2 AND status IN ('PENDING', 'PROCESSING') "
        "RETURNING " IMPORT_END_COLUMNS ", status = 'FAILED'";
    char attempts[8];
    PGresult *res;
    snprintf(attempts, sizeof attempts, "%d", IMPORT_MAX_ATTEMPTS);
    const char *params[] = {org_id, id, error, attempts};
    if (db_begin(db) != 0)
        return;
    res = db_exec(db, fail_sql, 4, params);
    if (db_ok(res) && PQntuples(res) == 1) {
        if (PQgetvalue(res, 0, END_COL_ENDED)[0] == 't') {
            log_error(NULL, "import %s FAILED after %d attempts: %s", id, IMPORT_MAX_ATTEMPTS,
                      error);
            /* A FAILED import is over: its unprocessed rows would otherwise stay forever. */
            if (import_emit_completed(db, org_id, id, res) != 0 ||
                db_command(db, "DELETE FROM contacts.import_payloads "
                               "WHERE org_id = $1 AND import_id = $2", 2, params) != 0) {
                PQclear(res);
                db_rollback(db);
                return;
            }
        }
        PQclear(res);
        if (db_commit(db) != 0)
            db_rollback(db);
        return;
    }
    PQclear(res);
    db_rollback(db);
}

int import_run_chunk(struct db *db, int chunk_rows)
{
    PGresult *claim = NULL, *advanced = NULL;
    const Od__SubmitImportRequest *payload;
    struct chunk_counts counts = {0};
    char org_id[64] = "", id[64] = "", hi_text[16], error[512] = "";
    char created[16], updated[16], failed[16];
    const char *audience;
    long long lo, hi, total;
    int rc = -1;
    bool retryable = false;

    enum { CLAIM_COL_ORG_ID, CLAIM_COL_ID, CLAIM_COL_TOTAL, CLAIM_COL_PROCESSED, CLAIM_COL_AUDIENCE };

    if (db_begin(db) != 0)
        return -1;
    /* Spans every organization on purpose: the workers serve all of them, oldest first. */
    claim = db_exec(db,
                    "SELECT org_id, id, total, processed, coalesce(audience_id, '') "
                    "FROM contacts.imports WHERE status IN ('PENDING', 'PROCESSING') "
                    "ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED",
                    0, NULL);
    if (!db_ok(claim)) {
        log_error(NULL, "import claim: %s", PQresultErrorMessage(claim));
        goto out;
    }
    if (PQntuples(claim) == 0) {
        rc = db_commit(db) == 0 ? 0 : -1;
        goto out;
    }
    snprintf(org_id, sizeof org_id, "%s", PQgetvalue(claim, 0, CLAIM_COL_ORG_ID));
    snprintf(id, sizeof id, "%s", PQgetvalue(claim, 0, CLAIM_COL_ID));
    total = strtoll(PQgetvalue(claim, 0, CLAIM_COL_TOTAL), NULL, 10);
    lo = strtoll(PQgetvalue(claim, 0, CLAIM_COL_PROCESSED), NULL, 10);
    hi = lo + chunk_rows < total ? lo + chunk_rows : total;
    audience = PQgetvalue(claim, 0, CLAIM_COL_AUDIENCE);
    snprintf(hi_text, sizeof hi_text, "%lld", hi);

    if (hi <= lo) {
        /* nothing left to write (an import of no rows): only the advance below */
    } else if ((payload = payload_rows(db, org_id, id, error, sizeof error)) == NULL) {
        log_error(NULL, "import %s: %s", id, error);
        goto out;
    } else if ((long long)payload->n_contacts != total) {
        snprintf(error, sizeof error, "the import's stored rows number %zu, not %lld",
                 payload->n_contacts, total);
        goto out;
    } else if (chunk_write(db, org_id, id, audience, payload, lo, hi, &counts, error,
                    sizeof error) != 0) {
        /* Two imports racing the same numbers may deadlock; that is nobody's fault. */
        retryable = strcmp(counts.sqlstate, "40P01") == 0 || strcmp(counts.sqlstate, "40001") == 0;
        log_error(NULL, "import %s rows %lld-%lld: %s", id, lo, hi, error);
        goto out;
    }
    snprintf(created, sizeof created, "%lld", counts.created);
    snprintf(updated, sizeof updated, "%lld", counts.updated);
    snprintf(failed, sizeof failed, "%lld", counts.failed);
    const char *advance_params[] = {org_id, id, hi_text, created, updated, failed};
    advanced = db_exec(db, advance_sql, 6, advance_params);
    if (!db_ok(advanced) || PQntuples(advanced) != 1) {
        snprintf(error, sizeof error, "%s", PQresultErrorMessage(advanced));
        log_error(NULL, "import %s: advance: %s", id, error);
        goto out;
    }
    bool ended = PQgetvalue(advanced, 0, END_COL_ENDED)[0] == 't';
    if (ended &&
        (import_emit_completed(db, org_id, id, advanced) != 0 ||
         db_command(db, "DELETE FROM contacts.import_payloads "
                        "WHERE org_id = $1 AND import_id = $2", 2, advance_params) != 0)) {
        snprintf(error, sizeof error, "finishing the import failed");
        goto out;
    }
    if (db_commit(db) != 0)
        goto out;
    if (ended)
        log_info(NULL, "import %s %s org=%s total=%s created=%s updated=%s failed=%s", id,
                 PQgetvalue(advanced, 0, END_COL_STATUS), org_id,
                 PQgetvalue(advanced, 0, END_COL_TOTAL), PQgetvalue(advanced, 0, END_COL_CREATED),
                 PQgetvalue(advanced, 0, END_COL_UPDATED), PQgetvalue(advanced, 0, END_COL_FAILED));
    rc = ended ? 2 : 1; /* 2: ended, its event is written */
out:
    if (rc < 0) {
        db_rollback(db);
        if (id[0] && !retryable && error[0] && PQstatus(db_conn(db)) == CONNECTION_OK)
            import_note_failure(db, org_id, id, error);
    }
    PQclear(claim);
    PQclear(advanced);
    return rc;
}

/* ---------------- threads ---------------- */

/* Waits until woken (when `wakeable`), stopped, or ms have passed. True if stopped. */
static bool import_wait(struct import_workers *w, unsigned long seen, int ms, bool wakeable)
{
    struct timespec until;
    bool stop;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&w->lock);
    while (!w->stopping && !(wakeable && w->wake_seq != seen))
        if (pthread_cond_timedwait(&w->cond, &w->lock, &until) == ETIMEDOUT)
            break;
    stop = w->stopping;
    pthread_mutex_unlock(&w->lock);
    return stop;
}

static void *import_worker_main(void *arg)
{
    struct import_workers *w = arg;
    const struct import_worker_options *o = &w->options;
    struct db *db = NULL;
    unsigned long seen;

    for (;;) {
        pthread_mutex_lock(&w->lock);
        seen = w->wake_seq;
        bool stop = w->stopping;
        pthread_mutex_unlock(&w->lock);
        if (stop)
            break;
        if (db == NULL && (db = db_open(o->database_url, 0)) == NULL) {
            import_wait(w, seen, 1000, false);
            continue;
        }
        int rc = import_run_chunk(db, o->chunk_rows);
        if (rc == 2 && o->on_event != NULL)
            o->on_event(o->on_event_arg);
        if (rc > 0) {
            if (o->chunk_delay_ms > 0)
                import_wait(w, seen, o->chunk_delay_ms, false);
            continue;
        }
        /* Nothing to do: sleep until a submit here wakes us or the poll interval passes (an
         * import submitted to another replica). After an error: back off. */
        import_wait(w, seen, rc == 0 ? o->poll_ms : 1000, rc == 0);
    }
    payload_cache_clear();
    db_close(db);
    return NULL;
}

struct import_workers *import_workers_start(const struct import_worker_options *options)
{
    struct import_workers *w = calloc(1, sizeof *w);
    pthread_condattr_t attr;
    if (w == NULL)
        return NULL;
    w->options = *options;
    pthread_mutex_init(&w->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cond, &attr);
    pthread_condattr_destroy(&attr);
    if (options->threads > 0 &&
        (w->threads = calloc((size_t)options->threads, sizeof *w->threads)) == NULL) {
        import_workers_stop(w);
        return NULL;
    }
    for (int i = 0; i < options->threads; i++) {
        if (pthread_create(&w->threads[i], NULL, import_worker_main, w) != 0) {
            log_error(NULL, "import workers: pthread_create failed");
            import_workers_stop(w);
            return NULL;
        }
        w->started++;
    }
    log_info(NULL, "import workers: %d thread(s), %d rows per chunk", options->threads,
             options->chunk_rows);
    return w;
}

void import_workers_stop(struct import_workers *w)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->lock);
    w->stopping = true;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
    for (int i = 0; i < w->started; i++)
        pthread_join(w->threads[i], NULL);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
    free(w->threads);
    free(w);
}
