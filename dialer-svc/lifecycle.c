/* The life of a call row after it is written: carrier updates (callbacks, fetches), our own
 * ends (timeouts, carrier errors), the finish (events into the outbox) and the report to
 * campaign-svc (AttemptFinished).
 *
 * Who reports AttemptFinished: the attempt must be started (AttemptStarted sent) before it is
 * finished, but callbacks may end a call before the worker that placed it has sent
 * AttemptStarted. Both sides take the row lock: the worker sets attempt_started and then
 * finishes the call if it is already final; the callback path finalizes and reports only if
 * attempt_started is already set. Whichever commits second sees the other's change, so the
 * report is sent at least once. campaign-svc's AttemptFinished is idempotent, and the sweep
 * (worker.c) re-sends reports that were not acknowledged. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "copytext.h"
#include "db.h"
#include "dialer.h"
#include "dialer_sql.h"
#include "log.h"
#include "od_names.h"
#include "outbox.h"
#include "rpc.h"
#include "rpc_util.h"
#include "service_runtime.h"
#include "timefmt.h"

/* A column of row 0 by name ("" for NULL or a missing column). */
const char *dialer_col(PGresult *res, int row, const char *name)
{
    int c = PQfnumber(res, name);
    if (c < 0 || row >= PQntuples(res) || PQgetisnull(res, row, c))
        return "";
    return PQgetvalue(res, row, c);
}

static json_t *dialer_json_text(const char *s)
{
    return s != NULL && s[0] != '\0' ? json_string(s) : json_null();
}

json_t *dialer_call_event(PGresult *res, int row, const char *event)
{
    char now[TIME_ISO_LEN];
    json_t *o = json_object();
    json_object_set_new(o, "event", json_string(event));
    json_object_set_new(o, "timestamp", json_string(time_format_ms(time_now_ms(), now, sizeof now)));
    json_object_set_new(o, "callId", json_string(dialer_col(res, row, "id")));
    json_object_set_new(o, "callSid", dialer_json_text(dialer_col(res, row, "call_sid")));
    json_object_set_new(o, "campaignId", json_string(dialer_col(res, row, "campaign_id")));
    json_object_set_new(o, "leadId", json_string(dialer_col(res, row, "lead_id")));
    json_object_set_new(o, "contactId", dialer_json_text(dialer_col(res, row, "contact_id")));
    json_object_set_new(o, "contactName", dialer_json_text(dialer_col(res, row, "contact_name")));
    json_object_set_new(o, "phoneNumber", json_string(dialer_col(res, row, "to_number")));
    json_object_set_new(o, "from", dialer_json_text(dialer_col(res, row, "from_number")));
    json_object_set_new(o, "attempt", json_integer(atoi(dialer_col(res, row, "attempt"))));
    json_object_set_new(o, "status", json_string(dialer_col(res, row, "status")));
    json_object_set_new(o, "startedAt", dialer_json_text(dialer_col(res, row, "started_at")));
    json_object_set_new(o, "answeredAt", dialer_json_text(dialer_col(res, row, "answered_at")));
    if (strcmp(event, EVENT_CALL_STARTED) != 0) {
        json_t *vars = json_loads(dialer_col(res, row, "outcome_variables"), 0, NULL);
        json_object_set_new(o, "outcome", dialer_json_text(dialer_col(res, row, "outcome")));
        json_object_set_new(o, "answeredBy", dialer_json_text(dialer_col(res, row, "answered_by")));
        json_object_set_new(o, "duration",
                            json_integer(atoi(dialer_col(res, row, "duration_seconds"))));
        json_object_set_new(o, "completedAt",
                            dialer_json_text(dialer_col(res, row, "completed_at")));
        json_object_set_new(o, "disposition", dialer_json_text(dialer_col(res, row, "disposition")));
        json_object_set_new(o, "summary", dialer_json_text(dialer_col(res, row, "summary")));
        json_object_set_new(o, "transcript", dialer_json_text(dialer_col(res, row, "transcript")));
        json_object_set_new(o, "recordingUrl",
                            dialer_json_text(dialer_col(res, row, "recording_url")));
        json_object_set_new(o, "variables", vars != NULL ? vars : json_object());
        if (dialer_col(res, row, "error")[0] != '\0')
            json_object_set_new(o, "error", json_string(dialer_col(res, row, "error")));
    }
    return o;
}

/* Adds one event built from row 0 of res to the outbox. 0, or -1 (logged). */
static int dialer_outbox(struct db *db, PGresult *res, const char *event, json_t *payload)
{
    char *text = payload != NULL ? json_dumps(payload, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    int rc = text != NULL ? outbox_add(db, DIALER_SCHEMA, event, dialer_col(res, 0, "org_id"),
                                       NULL, text)
                          : -1;
    free(text);
    json_decref(payload);
    return rc;
}

/* call.completed (the call was answered) or call.failed (it never connected), and
 * contact.updated for a lead that is a contact. Inside the caller's transaction. */
static int dialer_outbox_finish(struct db *db, PGresult *res)
{
    bool answered = dialer_col(res, 0, "answered_at")[0] != '\0';
    const char *event = answered ? EVENT_CALL_COMPLETED : EVENT_CALL_FAILED;
    if (dialer_outbox(db, res, event, dialer_call_event(res, 0, event)) != 0)
        return -1;
    if (dialer_col(res, 0, "contact_id")[0] != '\0') {
        char now[TIME_ISO_LEN];
        json_t *o = json_pack(
            "{s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:o}", "event", EVENT_CONTACT_UPDATED,
            "timestamp", time_format_ms(time_now_ms(), now, sizeof now), "contactId",
            dialer_col(res, 0, "contact_id"), "phoneNumber", dialer_col(res, 0, "to_number"),
            "campaignId", dialer_col(res, 0, "campaign_id"), "callId", dialer_col(res, 0, "id"),
            "attempt", atoi(dialer_col(res, 0, "attempt")), "callStatus",
            dialer_col(res, 0, "status"), "outcome", dialer_col(res, 0, "outcome"),
            "disposition", dialer_json_text(dialer_col(res, 0, "disposition")));
        if (dialer_outbox(db, res, EVENT_CONTACT_UPDATED, o) != 0)
            return -1;
    }
    return 0;
}

int dialer_command_ids(struct db *db, const char *sql, struct copytext *ids, const char *arg2)
{
    if (ids->len == 0)
        return 0;
    const char *p[] = {copytext_array_end(ids), arg2};
    if (p[0] == NULL)
        return -1;
    return db_command(db, sql, arg2 != NULL ? 2 : 1, p);
}

void dialer_wake_loop(struct dialer_app *app)
{
    if (app->rt != NULL)
        service_runtime_wake(app->rt, "dialer");
}

static const char dialer_finalize_sql[] =
    "UPDATE dialer.calls SET finalized_at = now(), report_after = now(), "
    "updated_at = now() WHERE id = $1 AND finalized_at IS NULL AND "
    "completed_at IS NOT NULL AND ($2::boolean OR finish_due_at <= now()) "
    "RETURNING " DIALER_CALL_COLUMNS ", attempt_started";

/* Inside the caller's transaction: finalizes call_id when its end is due (or force), its
 * events into the outbox. Returns the finalized row (none when there was nothing to
 * finalize), NULL on a failure (logged). */
static PGresult *dialer_finalize(struct db *db, const char *request_id, const char *call_id,
                                 bool force)
{
    const char *p[] = {call_id, force ? "true" : "false"};
    PGresult *res = db_exec_prepared(db, dialer_finalize_sql, 2, p);
    if (!db_ok(res)) {
        log_error(request_id, "finalize %s: %s", call_id, PQresultErrorMessage(res));
        PQclear(res);
        return NULL;
    }
    if (PQntuples(res) == 1 && dialer_outbox_finish(db, res) != 0) {
        PQclear(res);
        return NULL;
    }
    return res;
}

/* After the commit of dialer_finalize's transaction (fin: what it returned; cleared here):
 * its events go out, and its report is the reporter's (reporter.c): a row finalized with its
 * attempt started is due at once; one finalized before the attempt was started becomes due
 * when mark_started sets attempt_started, which calls this again. Returns 0. */
static int dialer_report_finalized(struct dialer_app *app, PGresult *fin)
{
    PQclear(fin);
    if (app->rt != NULL)
        service_runtime_wake_outbox(app->rt);
    dialer_wake_reporter(app);
    dialer_wake_loop(app); /* a finalized call frees its capacity (worker.c) */
    return 0;
}

void dialer_wake_reporter(struct dialer_app *app)
{
    if (app->rt != NULL)
        service_runtime_wake(app->rt, "reporter");
}

int dialer_finish(struct dialer_app *app, struct db *db, const char *request_id,
                  const char *call_id, bool force)
{
    PGresult *fin;

    if (db_begin(db) != 0)
        return -1;
    fin = dialer_finalize(db, request_id, call_id, force);
    if (fin == NULL || db_commit(db) != 0) {
        PQclear(fin);
        db_rollback(db);
        return -1;
    }
    return dialer_report_finalized(app, fin);
}

/* Stores a raw callback (for audit). Inside the caller's transaction. */
static int dialer_store_event(struct db *db, const char *org_id, const char *call_id,
                              const struct dialer_carrier_update *u)
{
    const char *p[] = {org_id, call_id, u->call_sid && u->call_sid[0] ? u->call_sid : NULL,
                       u->status, u->params_json};
    if (u->params_json == NULL)
        return 0;
    static const char insert_sql[] =
        "INSERT INTO dialer.carrier_events (org_id, call_id, call_sid, kind, status, params) "
        "VALUES ($1, $2, $3, 'status', $4, $5::jsonb)";
    PGresult *res = db_exec_prepared(db, insert_sql, 5, p); /* one per callback: prepared */
    int rc = db_ok(res) ? 0 : -1;
    if (rc != 0)
        log_error(NULL, "carrier event: %s", PQresultErrorMessage(res));
    PQclear(res);
    return rc;
}

/* dialer_apply_update's body; begin: open the transaction here, else the caller has. */
static int dialer_apply(struct dialer_app *app, struct db *db, const char *request_id,
                        const struct dialer_carrier_update *u, bool begin)
{
    static const char by_id_sql[] =
        "SELECT id, org_id, coalesce(call_sid, '') AS call_sid, status, coalesce(runtime_url, "
        "'') AS runtime_url, outcome_at IS NOT NULL AS has_outcome FROM dialer.calls WHERE id = $1 "
        "FOR UPDATE";
    static const char by_sid_sql[] =
        "SELECT id, org_id, coalesce(call_sid, '') AS call_sid, status, coalesce(runtime_url, "
        "'') AS runtime_url, outcome_at IS NOT NULL AS has_outcome FROM dialer.calls WHERE "
        "call_sid = $1 FOR UPDATE";
    /* $5: the new status answers the call; $6: it ends it; $7: ms to wait for the outcome.
     * The raw callback ($10 org, $11 carrier status, $12 form; none when $12 is NULL: a fetch)
     * goes into carrier_events by the same statement. */
#define DIALER_EVENT_CTE(org, sid, status, params)                                             \
    "WITH ev AS (INSERT INTO dialer.carrier_events (org_id, call_id, call_sid, kind, status, "  \
    "params) SELECT " org ", $1, nullif(" sid ", ''), 'status', " status ", " params "::jsonb " \
    "WHERE " params "::jsonb IS NOT NULL) "
    static const char update_sql[] =
        DIALER_EVENT_CTE("$10", "$3", "$11", "$12")
        "UPDATE dialer.calls SET status = $2, call_sid = coalesce(call_sid, nullif($3, '')), "
        "answered_by = coalesce(nullif($4, ''), answered_by), "
        "started_at = coalesce(started_at, now()), "
        "answered_at = CASE WHEN $5::boolean THEN coalesce(answered_at, now()) ELSE answered_at END, "
        "outcome = CASE WHEN $6::boolean THEN $8 ELSE outcome END, "
        "duration_seconds = CASE WHEN NOT $6::boolean THEN duration_seconds "
        "  WHEN $9::integer >= 0 THEN $9::integer WHEN answered_at IS NOT NULL THEN "
        "  greatest(0, extract(epoch FROM now() - answered_at))::integer ELSE 0 END, "
        "completed_at = CASE WHEN $6::boolean THEN now() ELSE completed_at END, "
        "finish_due_at = CASE WHEN $6::boolean THEN now() + make_interval(secs => $7::integer / "
        "1000.0) ELSE finish_due_at END, "
        "last_event_at = now(), check_after = NULL, updated_at = now(), "
        /* $13: an end with nothing to wait for is finalized by this same statement (the
         * status was not terminal before, so the row was not finalized): what
         * dialer_finalize_sql would do, one statement less per call */
        "finalized_at = CASE WHEN $13::boolean THEN coalesce(finalized_at, now()) ELSE "
        "finalized_at END, report_after = CASE WHEN $13::boolean AND finalized_at IS NULL THEN "
        "now() ELSE report_after END "
        "WHERE id = $1 RETURNING " DIALER_CALL_COLUMNS;
    static const char touch_sql[] =
        DIALER_EVENT_CTE("$4", "$2", "$5", "$6")
        "UPDATE dialer.calls SET call_sid = coalesce(call_sid, nullif($2, '')), answered_by = "
        "coalesce(nullif($3, ''), answered_by), last_event_at = now(), check_after = NULL "
        "WHERE id = $1";
    struct dialer_status_map map;
    char call_id[64], wait_text[16], duration_text[16];
    bool known = dialer_map_status(u->status, u->answered_by, &map) == 0;
    bool ended = false;
    PGresult *res, *fin = NULL;
    int rc = -1;

    if (begin && db_begin(db) != 0)
        return -1;
    if (u->call_id != NULL && u->call_id[0] != '\0') {
        const char *p[] = {u->call_id};
        res = db_exec_prepared(db, by_id_sql, 1, p);
    } else {
        const char *p[] = {u->call_sid ? u->call_sid : ""};
        res = db_exec_prepared(db, by_sid_sql, 1, p);
    }
    if (!db_ok(res)) {
        log_error(request_id, "callback lookup: %s", PQresultErrorMessage(res));
        goto fail;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        if (dialer_store_event(db, NULL, NULL, u) != 0 || db_commit(db) != 0)
            goto fail;
        return 1;
    }
    snprintf(call_id, sizeof call_id, "%s", dialer_col(res, 0, "id"));
    const char *org_id = dialer_col(res, 0, "org_id");
    const char *stored_sid = dialer_col(res, 0, "call_sid");
    const char *current = dialer_col(res, 0, "status");
    if (u->call_sid != NULL && u->call_sid[0] != '\0' && stored_sid[0] != '\0' &&
        strcmp(stored_sid, u->call_sid) != 0) {
        /* ?callId= names a call that has another CallSid: not this call's news */
        log_warn(request_id, "callback for %s carries CallSid %s, the call has %s", call_id,
                 u->call_sid, stored_sid);
        PQclear(res);
        if (dialer_store_event(db, org_id, call_id, u) != 0 || db_commit(db) != 0)
            goto fail;
        return 0;
    }
    if (!known || dialer_status_terminal(current) || map.rank <= dialer_status_rank(current)) {
        /* an unknown word, a late or repeated callback: only the CallSid and AnsweredBy */
        char org[64];
        snprintf(org, sizeof org, "%s", org_id);
        const char *p[] = {call_id, u->call_sid ? u->call_sid : "",
                           u->answered_by ? u->answered_by : "", org, u->status,
                           u->params_json};
        PQclear(res);
        if (!known)
            log_warn(request_id, "callback for %s: unknown status '%s'", call_id,
                     u->status ? u->status : "");
        PGresult *touched = db_exec_prepared(db, touch_sql, 6, p);
        bool ok = db_ok(touched);
        if (!ok)
            log_error(request_id, "callback touch %s: %s", call_id,
                      PQresultErrorMessage(touched));
        PQclear(touched);
        if (!ok)
            goto fail;
    } else {
        bool answers = strcmp(map.status, CALL_IN_PROGRESS) == 0 ||
                       strcmp(map.status, CALL_COMPLETED) == 0 ||
                       strcmp(map.status, CALL_VOICEMAIL) == 0;
        /* An answered human call with a voice agent waits a little for the agent's report, so
         * that the lead's disposition and call.completed carry it. */
        int wait = strcmp(map.status, CALL_COMPLETED) == 0 &&
                           dialer_col(res, 0, "runtime_url")[0] != '\0' &&
                           strcmp(dialer_col(res, 0, "has_outcome"), "t") != 0
                       ? app->outcome_wait_ms
                       : 0;
        bool first_answer = strcmp(map.status, CALL_IN_PROGRESS) == 0;
        snprintf(wait_text, sizeof wait_text, "%d", wait);
        snprintf(duration_text, sizeof duration_text, "%d",
                 u->duration_seconds >= 0 ? u->duration_seconds : -1);
        /* An end with nothing to wait for is finalized in this transaction (one commit
         * less per call), by the update itself; one that waits for the agent's outcome is
         * finalized when due. */
        bool finalize_now = map.terminal && wait == 0;
        const char *p[] = {call_id,
                           map.status,
                           u->call_sid ? u->call_sid : "",
                           u->answered_by ? u->answered_by : "",
                           answers ? "true" : "false",
                           map.terminal ? "true" : "false",
                           wait_text,
                           map.outcome ? map.outcome : "",
                           duration_text,
                           org_id,
                           u->status,
                           u->params_json,
                           finalize_now ? "true" : "false"};
        PGresult *row = res; /* org_id points into it */
        res = db_exec_prepared(db, update_sql, 13, p);
        PQclear(row);
        if (!db_ok(res) || PQntuples(res) != 1) {
            log_error(request_id, "callback update %s: %s", call_id, PQresultErrorMessage(res));
            PQclear(res);
            goto fail;
        }
        if (first_answer &&
            dialer_outbox(db, res, EVENT_CALL_STARTED,
                          dialer_call_event(res, 0, EVENT_CALL_STARTED)) != 0) {
            PQclear(res);
            goto fail;
        }
        ended = map.terminal;
        if (finalize_now) {
            if (dialer_outbox_finish(db, res) != 0) {
                PQclear(res);
                goto fail;
            }
            fin = res; /* dialer_report_finalized clears it */
        } else {
            PQclear(res);
        }
    }
    if (db_commit(db) != 0)
        goto fail;
    if (fin != NULL)
        return dialer_report_finalized(app, fin);
    if (app->rt != NULL)
        service_runtime_wake_outbox(app->rt);
    if (ended)
        return dialer_finish(app, db, request_id, call_id, false) == 0 ? 0 : -1;
    return 0;

fail:
    PQclear(fin);
    db_rollback(db);
    return rc;
}

int dialer_apply_update(struct dialer_app *app, struct db *db, const char *request_id,
                        const struct dialer_carrier_update *u)
{
    return dialer_apply(app, db, request_id, u, true);
}

int dialer_apply_update_begun(struct dialer_app *app, struct db *db, const char *request_id,
                              const struct dialer_carrier_update *u)
{
    return dialer_apply(app, db, request_id, u, false);
}

int dialer_end_call(struct dialer_app *app, struct db *db, const char *request_id,
                    const char *call_id, const char *status, const char *outcome,
                    const char *error)
{
    const char *p[] = {call_id, status, outcome, error};
    if (db_command(db,
                   "UPDATE dialer.calls SET status = $2, outcome = $3, error = nullif($4, ''), "
                   "completed_at = now(), finish_due_at = now(), started_at = "
                   "coalesce(started_at, now()), duration_seconds = CASE WHEN answered_at IS "
                   "NOT NULL THEN greatest(0, extract(epoch FROM now() - answered_at))::integer "
                   "ELSE 0 END, updated_at = now() WHERE id = $1 AND completed_at IS NULL",
                   4, p) != 0)
        return -1;
    return dialer_finish(app, db, request_id, call_id, true);
}

int dialer_mark_started(struct dialer_app *app, struct db *db, const char *request_id,
                        const char *call_id, const char *call_sid, int call_timeout_seconds)
{
    char timeout_text[16];
    PGresult *res;
    int rc = 0;
    snprintf(timeout_text, sizeof timeout_text, "%d", call_timeout_seconds);
    const char *p[] = {call_id, app->dialer_id, call_sid ? call_sid : "", timeout_text};
    static const char started_sql[] =
        "UPDATE dialer.calls SET attempt_started = true, worker_id = $2, "
        "worker_lease_until = NULL, call_sid = coalesce(call_sid, nullif($3, '')), "
        "status = CASE WHEN status = 'QUEUED' AND $3 <> '' THEN 'INITIATED' ELSE "
        "status END, started_at = coalesce(started_at, now()), timeout_at = "
        "least(timeout_at, now() + make_interval(secs => $4::integer)), "
        "last_event_at = coalesce(last_event_at, now()), updated_at = now() "
        "WHERE id = $1 RETURNING completed_at IS NOT NULL AND finalized_at IS NULL AS ended, "
        "finalized_at IS NOT NULL AND reported_at IS NULL AS unreported";
    bool unreported = false;
    res = db_exec_prepared(db, started_sql, 4, p);
    if (!db_ok(res)) {
        log_error(request_id, "mark started %s: %s", call_id, PQresultErrorMessage(res));
        rc = -1;
    } else if (PQntuples(res) == 1) {
        if (strcmp(dialer_col(res, 0, "ended"), "t") == 0)
            rc = 1;
        unreported = strcmp(dialer_col(res, 0, "unreported"), "t") == 0;
    }
    PQclear(res);
    /* Callbacks ended the call before we got here. Usually they finalized it too: then
     * only its report may be waiting for the attempt_started set here, and the reporter is
     * woken instead of running a finish transaction that would change nothing (three round
     * trips). A row ended but not finalized (waiting for the agent's outcome) is finished as
     * before. */
    if (rc == 1)
        rc = dialer_finish(app, db, request_id, call_id, false);
    else if (unreported)
        dialer_wake_reporter(app);
    return rc;
}

static int dialer_created_cmp(const void *a, const void *b)
{
    return strcmp(((const struct dialer_created *)a)->call_id,
                  ((const struct dialer_created *)b)->call_id);
}

/* dialer_mark_started's update, for many rows. The ids are sorted and the rows locked in
 * that order before the update (the reporter's update takes its rows in primary-key order
 * too), so two multi-row updates never wait for each other in a cycle. */
#define DIALER_STARTED_MANY_SQL(lock)                                                          \
    "WITH r AS (SELECT * FROM unnest($1::text[], $3::text[], $4::integer[]) AS "             \
    "r(id, sid, timeout_s)), "                                                                 \
    "locked AS MATERIALIZED (SELECT c.id FROM dialer.calls c WHERE c.id = ANY "                \
    "($1::text[]) ORDER BY c.id " lock ") "                                                   \
    "UPDATE dialer.calls c SET attempt_started = true, worker_id = $2, "                       \
    "worker_lease_until = NULL, call_sid = coalesce(c.call_sid, nullif(r.sid, '')), "          \
    "status = CASE WHEN c.status = 'QUEUED' AND r.sid <> '' THEN 'INITIATED' ELSE "            \
    "c.status END, started_at = coalesce(c.started_at, now()), timeout_at = "                 \
    "least(c.timeout_at, now() + make_interval(secs => r.timeout_s)), "                        \
    "last_event_at = coalesce(c.last_event_at, now()), updated_at = now() "                    \
    "FROM r, locked WHERE c.id = r.id AND locked.id = r.id "                                   \
    "RETURNING c.id, c.completed_at IS NOT NULL AND c.finalized_at IS NULL AS ended, "         \
    "c.finalized_at IS NOT NULL AND c.reported_at IS NULL AS unreported"

int dialer_mark_started_many(struct dialer_app *app, struct db *db, struct dialer_created *calls,
                             int n, bool skip_locked)
{
    /* With instant calls a created call's callbacks arrive while its row is being written,
     * and a write that waited for them held the rows it had locked meanwhile, holding up
     * the callbacks of those calls in turn (5 ms a write, bench (i)). */
    static const char wait_sql[] = DIALER_STARTED_MANY_SQL("FOR UPDATE");
    static const char skip_sql[] = DIALER_STARTED_MANY_SQL("FOR UPDATE SKIP LOCKED");
    struct copytext ids = {0}, sids = {0}, timeouts = {0};
    bool unreported = false;
    int rc = -1;

    if (n <= 0)
        return 0;
    qsort(calls, (size_t)n, sizeof *calls, dialer_created_cmp);
    for (int i = 0; i < n; i++) {
        char timeout_text[16];
        snprintf(timeout_text, sizeof timeout_text, "%d", calls[i].call_timeout_seconds);
        copytext_array_add(&ids, calls[i].call_id);
        copytext_array_add(&sids, calls[i].call_sid);
        copytext_array_add(&timeouts, timeout_text);
    }
    const char *p[] = {copytext_array_end(&ids), app->dialer_id, copytext_array_end(&sids),
                       copytext_array_end(&timeouts)};
    if (p[0] == NULL || p[2] == NULL || p[3] == NULL) {
        log_error(NULL, "mark started (%d calls): out of memory", n);
        goto out;
    }
    PGresult *res = db_exec_prepared(db, skip_locked ? skip_sql : wait_sql, 4, p);
    if (!db_ok(res)) {
        log_error(NULL, "mark started (%d calls): %s", n, PQresultErrorMessage(res));
        PQclear(res);
        goto out;
    }
    /* the rows written leave the array; those passed by gather at its front */
    int written = PQntuples(res), left = 0;
    for (int i = 0; i < n; i++) {
        bool done = false;
        for (int r = 0; r < written && !done; r++)
            done = strcmp(PQgetvalue(res, r, 0), calls[i].call_id) == 0;
        if (!done) {
            calls[left] = calls[i];
            calls[left++].skipped = true;
        }
    }
    /* as in dialer_mark_started: an end not finalized yet is finished here, a finalized
     * one only waited for attempt_started to be reported */
    for (int i = 0; i < written; i++) {
        if (strcmp(dialer_col(res, i, "ended"), "t") == 0)
            dialer_finish(app, db, dialer_col(res, i, "id"), dialer_col(res, i, "id"), false);
        else if (strcmp(dialer_col(res, i, "unreported"), "t") == 0)
            unreported = true;
    }
    PQclear(res);
    if (unreported)
        dialer_wake_reporter(app);
    rc = skip_locked ? left : 0;
out:
    free(ids.data);
    free(sids.data);
    free(timeouts.data);
    return rc;
}
