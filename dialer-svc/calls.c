/* od.Calls: the call records of an organization (List, Get) and the voice agent's outcome
 * report (RecordOutcome). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "dialer.h"
#include "dialer_sql.h"
#include "ids.h"
#include "log.h"
#include "od_names.h"
#include "rpc.h"
#include "rpc_util.h"
#include "timefmt.h"

#define CALLS_DISPOSITION_MAX 200
#define CALLS_SUMMARY_MAX 20000
#define CALLS_TRANSCRIPT_MAX (1024 * 1024)
#define CALLS_URL_MAX 2048
#define CALLS_VARIABLES_MAX 65536

/* Points the message's strings into the result: valid until PQclear(res). */
static void calls_from_row(PGresult *res, int row, Od__Call *c, bool with_transcript)
{
    od__call__init(c);
    c->id = (char *)dialer_col(res, row, "id");
    c->call_sid = (char *)dialer_col(res, row, "call_sid");
    c->campaign_id = (char *)dialer_col(res, row, "campaign_id");
    c->lead_id = (char *)dialer_col(res, row, "lead_id");
    c->attempt = atoi(dialer_col(res, row, "attempt"));
    c->contact_id = (char *)dialer_col(res, row, "contact_id");
    c->contact_name = (char *)dialer_col(res, row, "contact_name");
    c->phone_number = (char *)dialer_col(res, row, "to_number");
    c->from_number = (char *)dialer_col(res, row, "from_number");
    c->status = (char *)dialer_col(res, row, "status");
    c->answered_by = (char *)dialer_col(res, row, "answered_by");
    c->duration_seconds = atoi(dialer_col(res, row, "duration_seconds"));
    c->disposition = (char *)dialer_col(res, row, "disposition");
    c->summary = (char *)dialer_col(res, row, "summary");
    c->transcript = with_transcript ? (char *)dialer_col(res, row, "transcript") : (char *)"";
    c->recording_url = (char *)dialer_col(res, row, "recording_url");
    c->started_at = (char *)dialer_col(res, row, "started_at");
    c->answered_at = (char *)dialer_col(res, row, "answered_at");
    c->completed_at = (char *)dialer_col(res, row, "completed_at");
    c->created_at = (char *)dialer_col(res, row, "created_at");
    c->organization_id = (char *)dialer_col(res, row, "org_id");
    c->outcome = (char *)dialer_col(res, row, "outcome");
    c->variables_json = (char *)dialer_col(res, row, "outcome_variables");
}

static const char *calls_nullable(const char *s)
{
    return s != NULL && s[0] != '\0' ? s : NULL;
}

static void calls_list(Od__Calls_Service *service, const Od__ListCallsRequest *in,
                       Od__ListCallsReply_Closure closure, void *closure_data)
{
    static const char filters[] =
        " WHERE org_id = $1 AND ($2::text IS NULL OR contact_name ILIKE $2 OR to_number LIKE $2)"
        " AND ($%d::text IS NULL OR campaign_id = $%d) AND ($%d::text IS NULL OR status = $%d)"
        " AND ($%d::timestamptz IS NULL OR created_at >= $%d::timestamptz)"
        " AND ($%d::timestamptz IS NULL OR created_at < $%d::timestamptz)";
    struct rpc_call *call = closure_data;
    Od__ListCallsReply reply = OD__LIST_CALLS_REPLY__INIT;
    char count_sql[1024], rows_sql[2048], where[512];
    PGresult *count = NULL, *rows = NULL;
    int64_t ms;

    (void)service;
    if (rpc_require_org(call) != 0)
        goto fail;
    if (in->campaign_id[0] != '\0' && !ids_valid(ID_PREFIX_CAMPAIGN, in->campaign_id)) {
        /* a campaign id that cannot exist has no calls */
        reply.total = 0;
        closure(&reply, call);
        return;
    }
    if (in->status[0] != '\0' && dialer_status_rank(in->status) < 0) {
        rpc_fail(call, OD__STATUS__INVALID, "status must be one of QUEUED, INITIATED, RINGING, "
                 "IN_PROGRESS, COMPLETED, BUSY, NO_ANSWER, FAILED, CANCELED, TIMED_OUT, VOICEMAIL");
        goto fail;
    }
    if ((in->from[0] != '\0' && time_parse_iso(in->from, &ms) != 0) ||
        (in->to[0] != '\0' && time_parse_iso(in->to, &ms) != 0)) {
        rpc_fail(call, OD__STATUS__INVALID, "from and to must be ISO 8601 times");
        goto fail;
    }
    const char *extra[] = {calls_nullable(in->campaign_id), calls_nullable(in->status),
                           calls_nullable(in->from), calls_nullable(in->to)};
    snprintf(where, sizeof where, filters, 3, 3, 4, 4, 5, 5, 6, 6);
    snprintf(count_sql, sizeof count_sql, "SELECT count(*) FROM dialer.calls%s", where);
    snprintf(where, sizeof where, filters, 5, 5, 6, 6, 7, 7, 8, 8);
    snprintf(rows_sql, sizeof rows_sql,
             "SELECT " DIALER_CALL_COLUMNS " FROM dialer.calls%s ORDER BY created_at DESC, id "
             "DESC LIMIT $3 OFFSET $4",
             where);
    if (rpc_list_page(call, "list calls", count_sql, rows_sql, in->page, in->limit, 100, NULL,
                      extra, 4, &count, &rows) != 0)
        goto fail;
    int n = PQntuples(rows);
    Od__Call *store = calloc((size_t)(n > 0 ? n : 1), sizeof *store);
    Od__Call **ptrs = calloc((size_t)(n > 0 ? n : 1), sizeof *ptrs);
    if (store == NULL || ptrs == NULL) {
        free(store);
        free(ptrs);
        PQclear(count);
        PQclear(rows);
        rpc_fail(call, OD__STATUS__INTERNAL, "out of memory");
        goto fail;
    }
    for (int i = 0; i < n; i++) {
        calls_from_row(rows, i, &store[i], false);
        ptrs[i] = &store[i];
    }
    reply.n_data = (size_t)n;
    reply.data = ptrs;
    reply.total = strtoll(PQgetvalue(count, 0, 0), NULL, 10);
    closure(&reply, call);
    free(store);
    free(ptrs);
    PQclear(count);
    PQclear(rows);
    return;
fail:
    closure(NULL, call);
}

/* The call by id (call_...) or CallSid, in the caller's organization; NULL after failing the
 * call. */
static PGresult *calls_read(struct rpc_call *call, const char *id)
{
    const char *p[] = {call->org_id, id};
    PGresult *res;
    if (!ids_valid(ID_PREFIX_CALL, id) && !(strncmp(id, "CA", 2) == 0 && strlen(id) <= 64)) {
        rpc_fail(call, OD__STATUS__NOT_FOUND, "call not found");
        return NULL;
    }
    res = db_exec(call->db,
                  "SELECT " DIALER_CALL_COLUMNS " FROM dialer.calls WHERE org_id = $1 AND "
                  "(id = $2 OR call_sid = $2)",
                  2, p);
    if (!db_ok(res)) {
        rpc_fail_sql(call, res, "get call");
        PQclear(res);
        return NULL;
    }
    if (PQntuples(res) == 0) {
        rpc_fail(call, OD__STATUS__NOT_FOUND, "call not found");
        PQclear(res);
        return NULL;
    }
    return res;
}

static void calls_get(Od__Calls_Service *service, const Od__CallIdRequest *in,
                      Od__Call_Closure closure, void *closure_data)
{
    struct rpc_call *call = closure_data;
    Od__Call c;
    PGresult *res;

    (void)service;
    if (rpc_require_org(call) != 0 || (res = calls_read(call, in->id)) == NULL) {
        closure(NULL, call);
        return;
    }
    calls_from_row(res, 0, &c, true);
    closure(&c, call);
    PQclear(res);
}

static const char *calls_validate_outcome(const Od__CallOutcomeRequest *in)
{
    json_t *vars;
    if (strlen(in->disposition) > CALLS_DISPOSITION_MAX)
        return "disposition must be at most 200 characters";
    if (strlen(in->summary) > CALLS_SUMMARY_MAX)
        return "summary must be at most 20000 characters";
    if (strlen(in->transcript) > CALLS_TRANSCRIPT_MAX)
        return "transcript must be at most 1 MiB";
    if (strlen(in->recording_url) > CALLS_URL_MAX ||
        (in->recording_url[0] != '\0' && strncmp(in->recording_url, "https://", 8) != 0 &&
         strncmp(in->recording_url, "http://", 7) != 0))
        return "recordingUrl must be an http(s) URL of at most 2048 characters";
    if (in->variables_json[0] != '\0') {
        if (strlen(in->variables_json) > CALLS_VARIABLES_MAX)
            return "variables must be at most 64 KiB";
        vars = json_loads(in->variables_json, 0, NULL);
        bool object = json_is_object(vars);
        json_decref(vars);
        if (!object)
            return "variables must be a JSON object";
    }
    return NULL;
}

/* RecordDisposition: the outcome arrived after the attempt was reported. */
static int calls_forward_disposition(struct dialer_app *app, struct rpc_call *call,
                                     PGresult *res, const Od__CallOutcomeRequest *in)
{
    Od__DispositionRequest d = OD__DISPOSITION_REQUEST__INIT;
    struct rpc_ctx ctx;
    int rc = 0;
    d.lead_id = (char *)dialer_col(res, 0, "lead_id");
    d.attempt = atoi(dialer_col(res, 0, "attempt"));
    d.disposition = (char *)dialer_col(res, 0, "disposition");
    d.summary = (char *)dialer_col(res, 0, "summary");
    d.call_id = (char *)dialer_col(res, 0, "id");
    d.variables_json = in->variables_json;
    if (d.disposition[0] == '\0' && d.variables_json[0] == '\0')
        return 0; /* only a transcript, summary or recording: nothing the lead keeps */
    rpc_ctx_init(&ctx, "", call->request_id, app->rpc_timeout_ms);
    od__dialing__record_disposition(app->dialing, &d, NULL, &ctx);
    if (ctx.status != OD__STATUS__OK && ctx.status != OD__STATUS__NOT_FOUND) {
        log_warn(call->request_id, "RecordDisposition %s: %s %s", d.call_id,
                 rpc_status_name(ctx.status), ctx.message);
        rc = -1;
    }
    rpc_ctx_release(&ctx);
    return rc;
}

static void calls_record_outcome(Od__Calls_Service *service, const Od__CallOutcomeRequest *in,
                                 Od__Call_Closure closure, void *closure_data)
{
    /* The row is found by organization (API key) or by the token's hash (the agent runtime,
     * whose request carries no organization: a cross-organization lookup by id that only the
     * holder of the call's token passes). */
    static const char update_sql[] =
        "UPDATE dialer.calls SET disposition = coalesce(nullif($3, ''), disposition), "
        "transcript = coalesce(nullif($4, ''), transcript), summary = coalesce(nullif($5, ''), "
        "summary), recording_url = coalesce(nullif($6, ''), recording_url), outcome_variables = "
        "coalesce(nullif($7, '')::jsonb, outcome_variables), outcome_at = now(), updated_at = "
        "now() WHERE id = $1 AND (($2 <> '' AND org_id = $2) OR ($2 = '' AND "
        "outcome_token_hash = $8)) RETURNING id, completed_at IS NOT NULL AS ended, "
        "finalized_at IS NOT NULL AS finalized";
    struct rpc_call *call = closure_data;
    struct dialer_app *app = call->app;
    const char *reason;
    char hash[65] = "", id[64];
    bool ended, finalized;
    PGresult *res;
    Od__Call c;

    (void)service;
    if (!ids_valid(ID_PREFIX_CALL, in->id)) {
        rpc_fail(call, OD__STATUS__NOT_FOUND, "call not found");
        goto fail;
    }
    if (call->org_id[0] == '\0') {
        if (in->outcome_token[0] == '\0') {
            rpc_fail(call, OD__STATUS__PERMISSION_DENIED, "an outcome token or API key is required");
            goto fail;
        }
        dialer_token_hash(in->outcome_token, hash);
    }
    if ((reason = calls_validate_outcome(in)) != NULL) {
        rpc_fail(call, OD__STATUS__INVALID, "%s", reason);
        goto fail;
    }
    snprintf(id, sizeof id, "%s", in->id);
    const char *p[] = {id,           call->org_id,      in->disposition,    in->transcript,
                       in->summary,  in->recording_url, in->variables_json, hash};
    res = db_exec(call->db, update_sql, 8, p);
    if (!db_ok(res)) {
        rpc_fail_sql(call, res, "record outcome");
        PQclear(res);
        goto fail;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        if (call->org_id[0] == '\0')
            rpc_fail(call, OD__STATUS__PERMISSION_DENIED, "invalid outcome token");
        else
            rpc_fail(call, OD__STATUS__NOT_FOUND, "call not found");
        goto fail;
    }
    ended = strcmp(dialer_col(res, 0, "ended"), "t") == 0;
    finalized = strcmp(dialer_col(res, 0, "finalized"), "t") == 0;
    PQclear(res);
    if (ended && !finalized) /* it was waiting for this report: finish it now */
        dialer_finish(app, call->db, call->request_id, id, true);

    const char *q[] = {id};
    res = db_exec(call->db, "SELECT " DIALER_CALL_COLUMNS " FROM dialer.calls WHERE id = $1", 1,
                  q);
    if (!db_ok(res) || PQntuples(res) != 1) {
        rpc_fail_sql(call, res, "record outcome");
        PQclear(res);
        goto fail;
    }
    if (finalized && calls_forward_disposition(app, call, res, in) != 0) {
        PQclear(res);
        rpc_fail(call, OD__STATUS__UNAVAILABLE, "outcome stored, campaign not updated: retry");
        goto fail;
    }
    calls_from_row(res, 0, &c, true);
    closure(&c, call);
    PQclear(res);
    return;
fail:
    closure(NULL, call);
}

Od__Calls_Service dialer_calls_service = OD__CALLS__INIT(calls_);
