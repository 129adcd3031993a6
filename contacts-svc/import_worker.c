/* Import workers: threads that claim open imports and upsert their rows in chunks.
 *
 * Threads: each worker owns one database connection and touches nothing else but the wake-up
 * state below (behind wake_lock). Workers in one process and in other replicas share work
 * through the database only: one chunk is one transaction that starts by locking an open
 * import with FOR UPDATE SKIP LOCKED, so two workers never hold the same import at once, and
 * a worker that dies (or a replica that is killed) loses only its uncommitted chunk.
 *
 * One chunk, in one transaction:
 *   1. lock the oldest open import nobody holds;
 *   2. take rows [processed, processed + chunk) of the import's stored rows (import_payloads,
 *      read and unpacked once per import and worker), validate them, record the bad ones in
 *      import_errors, upsert the good ones through the bulk path (contacts_rows_write: COPY
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

#include "arena.h"
#include "contacts.h"
#include "copytext.h"
#include "db.h"
#include "log.h"
#include "outbox.h"
#include "timefmt.h"

#define IMPORT_MAX_ATTEMPTS 5 /* consecutive failed chunks before an import is FAILED */

static pthread_mutex_t wake_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake_cond = PTHREAD_COND_INITIALIZER;
static unsigned long wake_seq; /* bumped by every notify */
static bool wake_stop;

struct import_workers {
    struct import_worker_options options;
    pthread_t *threads;
    int started;
};

void import_workers_notify(void)
{
    pthread_mutex_lock(&wake_lock);
    wake_seq++;
    pthread_cond_broadcast(&wake_cond);
    pthread_mutex_unlock(&wake_lock);
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

/* Validates rows [lo, hi) of the import, records the bad ones in import_errors, upserts the
 * good ones and adds them to the import's audience, all in the caller's transaction. */
static int chunk_write(struct db *db, const char *org_id, const char *id, const char *audience,
                       const Od__SubmitImportRequest *payload, long long lo, long long hi,
                       struct chunk_counts *counts, char *error, size_t size)
{
    size_t n = (size_t)(hi - lo), ngood = 0, ndistinct;
    struct contacts_row *rows = calloc(n + 1, sizeof *rows);
    struct copytext errors = {0}, members = {0};
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
        copytext_field(&errors, org_id, '\t');
        copytext_field(&errors, id, '\t');
        copytext_int(&errors, i, '\t');
        copytext_field(&errors, in->phone_number ? in->phone_number : "", '\t');
        copytext_field(&errors, reason, '\n');
        counts->failed++;
    }
    ndistinct = contacts_rows_distinct(rows, ngood);
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

#define ISO_UTC(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

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
    "RETURNING status, total, created, updated, failed, coalesce(webhook_url, ''), "
    ISO_UTC("completed_at") ", processed >= total";

/* Writes import.completed for a finished import (row of advance_sql or fail_sql). */
static int import_emit_completed(struct db *db, const char *org_id, const char *id,
                                 PGresult *res)
{
    char now[TIME_ISO_LEN];
    json_t *payload;
    char *text;
    int rc = -1;

    payload = json_pack("{s:s, s:s, s:s, s:i, s:i, s:i, s:i, s:s, s:s}", "event",
                        "import.completed", "importId", id, "status", PQgetvalue(res, 0, 0),
                        "total", atoi(PQgetvalue(res, 0, 1)), "created",
                        atoi(PQgetvalue(res, 0, 2)), "updated", atoi(PQgetvalue(res, 0, 3)),
                        "failed", atoi(PQgetvalue(res, 0, 4)), "completedAt",
                        PQgetvalue(res, 0, 6), "timestamp",
                        time_format_ms(time_now_ms(), now, sizeof now));
    text = payload ? json_dumps(payload, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    if (text != NULL)
        rc = outbox_add(db, "contacts", "import.completed", org_id,
                        PQgetvalue(res, 0, 5), text);
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
        "RETURNING status, total, created, updated, failed, coalesce(webhook_url, ''), "
        ISO_UTC("completed_at") ", status = 'FAILED'";
    char attempts[8];
    PGresult *res;
    snprintf(attempts, sizeof attempts, "%d", IMPORT_MAX_ATTEMPTS);
    const char *params[] = {org_id, id, error, attempts};
    if (db_begin(db) != 0)
        return;
    res = db_exec(db, fail_sql, 4, params);
    if (db_ok(res) && PQntuples(res) == 1) {
        if (PQgetvalue(res, 0, 7)[0] == 't') {
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

    if (db_begin(db) != 0)
        return -1;
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
    snprintf(org_id, sizeof org_id, "%s", PQgetvalue(claim, 0, 0));
    snprintf(id, sizeof id, "%s", PQgetvalue(claim, 0, 1));
    total = strtoll(PQgetvalue(claim, 0, 2), NULL, 10);
    lo = strtoll(PQgetvalue(claim, 0, 3), NULL, 10);
    hi = lo + chunk_rows < total ? lo + chunk_rows : total;
    audience = PQgetvalue(claim, 0, 4);
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
    if (PQgetvalue(advanced, 0, 7)[0] == 't' &&
        (import_emit_completed(db, org_id, id, advanced) != 0 ||
         db_command(db, "DELETE FROM contacts.import_payloads "
                        "WHERE org_id = $1 AND import_id = $2", 2, advance_params) != 0)) {
        snprintf(error, sizeof error, "finishing the import failed");
        goto out;
    }
    if (db_commit(db) != 0)
        goto out;
    if (PQgetvalue(advanced, 0, 7)[0] == 't')
        log_info(NULL, "import %s %s org=%s total=%s created=%s updated=%s failed=%s", id,
                 PQgetvalue(advanced, 0, 0), org_id, PQgetvalue(advanced, 0, 1),
                 PQgetvalue(advanced, 0, 2), PQgetvalue(advanced, 0, 3),
                 PQgetvalue(advanced, 0, 4));
    rc = PQgetvalue(advanced, 0, 7)[0] == 't' ? 2 : 1; /* 2: ended, its event is written */
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

/* Waits until notified (when `notify` is set), stopped, or ms have passed. True if stopped. */
static bool import_wait(unsigned long seen, int ms, bool notify)
{
    struct timespec until;
    bool stop;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&wake_lock);
    while (!wake_stop && !(notify && wake_seq != seen))
        if (pthread_cond_timedwait(&wake_cond, &wake_lock, &until) == ETIMEDOUT)
            break;
    stop = wake_stop;
    pthread_mutex_unlock(&wake_lock);
    return stop;
}

static void *import_worker_main(void *arg)
{
    const struct import_worker_options *o = arg;
    struct db *db = NULL;
    unsigned long seen;

    for (;;) {
        pthread_mutex_lock(&wake_lock);
        seen = wake_seq;
        bool stop = wake_stop;
        pthread_mutex_unlock(&wake_lock);
        if (stop)
            break;
        if (db == NULL && (db = db_open(o->database_url, 0)) == NULL) {
            import_wait(seen, 1000, false);
            continue;
        }
        int rc = import_run_chunk(db, o->chunk_rows);
        if (rc == 2 && o->on_event != NULL)
            o->on_event(o->on_event_arg);
        if (rc > 0) {
            if (o->chunk_delay_ms > 0)
                import_wait(seen, o->chunk_delay_ms, false);
            continue;
        }
        /* Nothing to do: sleep until a submit here wakes us or the poll interval passes (an
         * import submitted to another replica). After an error: back off. */
        import_wait(seen, rc == 0 ? o->poll_ms : 1000, rc == 0);
    }
    payload_cache_clear();
    db_close(db);
    return NULL;
}

struct import_workers *import_workers_start(const struct import_worker_options *options)
{
    struct import_workers *w = calloc(1, sizeof *w);
    if (w == NULL)
        return NULL;
    w->options = *options;
    pthread_mutex_lock(&wake_lock);
    wake_stop = false;
    pthread_mutex_unlock(&wake_lock);
    if (options->threads > 0 &&
        (w->threads = calloc((size_t)options->threads, sizeof *w->threads)) == NULL) {
        free(w);
        return NULL;
    }
    for (int i = 0; i < options->threads; i++) {
        if (pthread_create(&w->threads[i], NULL, import_worker_main, &w->options) != 0) {
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
    pthread_mutex_lock(&wake_lock);
    wake_stop = true;
    pthread_cond_broadcast(&wake_cond);
    pthread_mutex_unlock(&wake_lock);
    for (int i = 0; i < w->started; i++)
        pthread_join(w->threads[i], NULL);
    free(w->threads);
    free(w);
}
