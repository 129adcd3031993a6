/* The Imports RPC service: asynchronous bulk imports (POST /v1/imports/api/bulk), their
 * status, list and row errors.
 *
 * Submit stores the import and its rows in one transaction (the request as it arrived, one
 * packed protobuf, in import_payloads) and wakes the import workers (import_worker.c), which
 * validate the rows and do the upserts in chunks. Every statement is scoped to the caller's
 * organization; another organization's import is NOT_FOUND. */
#include "imports.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contacts_app.h"
#include "db.h"
#include "ids.h"
#include "import_worker.h"
#include "log.h"
#include "od_names.h"
#include "rpc.h"
#include "rpc_util.h"
#include "timefmt.h"
#include "validate.h"

/* Columns every read of an import returns, in the order of enum import_column. */
#define IMPORT_COLUMNS                                                                         \
    "id, status, total, processed, created, updated, failed, coalesce(audience_id, ''), "     \
    "coalesce(webhook_url, ''), " SQL_ISO_MS("created_at") ", "                               \
    "coalesce(" SQL_ISO_MS("completed_at") ", '')"
enum import_column {
    IMPORT_COL_ID,
    IMPORT_COL_STATUS,
    IMPORT_COL_TOTAL,
    IMPORT_COL_PROCESSED,
    IMPORT_COL_CREATED,
    IMPORT_COL_UPDATED,
    IMPORT_COL_FAILED,
    IMPORT_COL_AUDIENCE_ID,
    IMPORT_COL_WEBHOOK_URL,
    IMPORT_COL_CREATED_AT,
    IMPORT_COL_COMPLETED_AT,
};

/* Points the message's strings into the result: valid until PQclear(res). */
static void imports_from_row(const PGresult *res, int row, void *message)
{
    Od__Import *m = message;
    od__import__init(m);
    m->id = PQgetvalue(res, row, IMPORT_COL_ID);
    m->status = PQgetvalue(res, row, IMPORT_COL_STATUS);
    m->total = atoi(PQgetvalue(res, row, IMPORT_COL_TOTAL));
    m->processed = atoi(PQgetvalue(res, row, IMPORT_COL_PROCESSED));
    m->created = atoi(PQgetvalue(res, row, IMPORT_COL_CREATED));
    m->updated = atoi(PQgetvalue(res, row, IMPORT_COL_UPDATED));
    m->failed = atoi(PQgetvalue(res, row, IMPORT_COL_FAILED));
    m->error_count = m->failed; /* every failed row has exactly one listed error */
    m->audience_id = PQgetvalue(res, row, IMPORT_COL_AUDIENCE_ID);
    m->webhook_url = PQgetvalue(res, row, IMPORT_COL_WEBHOOK_URL);
    m->created_at = PQgetvalue(res, row, IMPORT_COL_CREATED_AT);
    m->completed_at = PQgetvalue(res, row, IMPORT_COL_COMPLETED_AT);
}

static void imports_submit(Od__Imports_Service *service, const Od__SubmitImportRequest *in,
                           Od__Import_Closure closure, void *closure_data)
{
    struct rpc_call *call = closure_data;
    char id[IDS_MAX_LEN], total[16];
    PGresult *res = NULL;
    Od__Import reply;
    const char *audience = rpc_nullable(in->audience_id), *webhook = rpc_nullable(in->webhook_url);
    int64_t started = time_monotonic_ms();

    if (rpc_require_org(call) != 0)
        goto fail;
    if (in->n_contacts > IMPORTS_MAX) {
        rpc_fail(call, OD__STATUS__INVALID, "contacts must hold at most %d entries",
                 IMPORTS_MAX);
        goto fail;
    }
    if (webhook != NULL && !imports_webhook_url_valid(webhook)) {
        rpc_fail(call, OD__STATUS__INVALID,
                 "webhookUrl must be an http or https URL of at most %d bytes",
                 IMPORTS_WEBHOOK_URL_MAX);
        goto fail;
    }
    if (audience != NULL && !ids_valid(ID_PREFIX_AUDIENCE, audience)) {
        rpc_fail(call, OD__STATUS__NOT_FOUND, "audience not found");
        goto fail;
    }
    ids_new_ordered(ID_PREFIX_IMPORT, id, sizeof id);
    if (db_begin(call->db) != 0) {
        rpc_fail(call, OD__STATUS__UNAVAILABLE, "database unavailable");
        goto fail;
    }
    if (audience != NULL) {
        /* KEY SHARE: the audience cannot be deleted before this import is stored. */
        const char *params[] = {call->org_id, audience};
        res = db_exec(call->db,
                      "SELECT 1 FROM contacts.audiences WHERE org_id = $1 AND id = $2 "
                      "FOR KEY SHARE",
                      2, params);
        if (!db_ok(res)) {
            rpc_fail_sql(call, res, "look up audience");
            goto rollback;
        }
        if (PQntuples(res) == 0) {
            rpc_fail(call, OD__STATUS__NOT_FOUND, "audience not found");
            goto rollback;
        }
        PQclear(res);
        res = NULL;
    }
    snprintf(total, sizeof total, "%zu", in->n_contacts);
    const char *params[] = {call->org_id, id, total, audience, webhook};
    res = db_exec(call->db,
                  "INSERT INTO contacts.imports (org_id, id, total, audience_id, webhook_url) "
                  "VALUES ($1, $2, $3::int, $4, $5) RETURNING " IMPORT_COLUMNS,
                  5, params);
    if (!db_ok(res)) {
        rpc_fail_sql(call, res, "create import");
        goto rollback;
    }
    if (in->n_contacts > 0) {
        /* the request exactly as it arrived: the workers read only its contacts */
        const char *payload_params[] = {call->org_id, id, (const char *)call->input};
        const int lengths[] = {0, 0, (int)call->input_len}, binary[] = {0, 0, 1};
        PGresult *stored = db_exec_bytes(call->db,
                                         "INSERT INTO contacts.import_payloads "
                                         "(org_id, import_id, contacts) VALUES ($1, $2, $3)",
                                         3, payload_params, lengths, binary, 0);
        if (!db_ok(stored)) {
            rpc_fail_sql(call, stored, "store the import's rows");
            PQclear(stored);
            goto rollback;
        }
        PQclear(stored);
    }
    if (db_commit(call->db) != 0) {
        rpc_fail(call, OD__STATUS__UNAVAILABLE, "database unavailable");
        goto rollback;
    }
    import_workers_wake(((const struct contacts_app *)call->app)->import_workers);
    log_info(call->request_id, "import %s submitted org=%s rows=%zu in %lld ms", id,
             call->org_id, in->n_contacts, (long long)(time_monotonic_ms() - started));
    imports_from_row(res, 0, &reply);
    closure(&reply, closure_data);
    PQclear(res);
    return;
rollback:
    db_rollback(call->db);
fail:
    closure(NULL, closure_data);
    PQclear(res);
}

static void imports_get(Od__Imports_Service *service, const Od__GetImportRequest *in,
                        Od__Import_Closure closure, void *closure_data)
{
    struct rpc_call *call = closure_data;
    Od__Import reply;
    PGresult *res = rpc_fetch_by_id(call,
                                    "SELECT " IMPORT_COLUMNS " FROM contacts.imports"
                                    " WHERE org_id = $1 AND id = $2",
                                    in->id, "get import", "import not found", imports_from_row,
                                    &reply);

    closure(res != NULL ? &reply : NULL, closure_data);
    PQclear(res);
}

/* Imports take no search: $2 is always NULL. Ids are time-ordered: newest first is id order. */
#define IMPORTS_LIST_WHERE " WHERE org_id = $1 AND $2::text IS NULL"

static void imports_list(Od__Imports_Service *service, const Od__ListImportsRequest *in,
                         Od__ListImportsReply_Closure closure, void *closure_data)
{
    struct rpc_call *call = closure_data;
    Od__ListImportsReply reply = OD__LIST_IMPORTS_REPLY__INIT;
    struct rpc_list list;
    const struct rpc_list_query q = {
        .what = "list imports",
        .count_sql = "SELECT count(*) FROM contacts.imports" IMPORTS_LIST_WHERE,
        .rows_sql = "SELECT " IMPORT_COLUMNS " FROM contacts.imports" IMPORTS_LIST_WHERE
                    " ORDER BY id DESC LIMIT $3::int OFFSET $4::bigint",
        .page = in->page, .limit = in->limit, .max_limit = IMPORTS_LIST_LIMIT_MAX,
        .search = "",
    };

    if (rpc_list_map(call, &q, sizeof(Od__Import), imports_from_row, &list) == 0)
        RPC_LIST_REPLY(reply, list);
    closure(call->status == OD__STATUS__OK ? &reply : NULL, closure_data);
    rpc_list_free(&list);
}

enum import_error_column { ERROR_COL_INDEX, ERROR_COL_PHONE_NUMBER, ERROR_COL_REASON };

static void imports_error_from_row(const PGresult *res, int row, void *message)
{
    Od__RowError *e = message;
    od__row_error__init(e);
    e->index = atoi(PQgetvalue(res, row, ERROR_COL_INDEX));
    e->phone_number = PQgetvalue(res, row, ERROR_COL_PHONE_NUMBER);
    e->reason = PQgetvalue(res, row, ERROR_COL_REASON);
}

static void imports_list_errors(Od__Imports_Service *service,
                                const Od__ListImportErrorsRequest *in,
                                Od__ListImportErrorsReply_Closure closure, void *closure_data)
{
    struct rpc_call *call = closure_data;
    Od__ListImportErrorsReply reply = OD__LIST_IMPORT_ERRORS_REPLY__INIT;
    struct rpc_rows errors = {0};
    PGresult *found = NULL, *rows = NULL;
    char limit_text[RPC_PAGE_TEXT], offset_text[RPC_PAGE_TEXT];

    if (rpc_require_org(call) != 0 ||
        rpc_page_params(call, in->page, in->limit, IMPORTS_ERRORS_PAGE_MAX, limit_text,
                        offset_text) != 0)
        goto done;
    const char *params[] = {call->org_id, in->id, limit_text, offset_text};
    /* The import's failed count is the number of its errors (committed together). */
    found = db_exec(call->db, "SELECT failed FROM contacts.imports WHERE org_id = $1 AND id = $2",
                    2, params);
    if (rpc_one_row(call, found, "get import", "import not found") != 0)
        goto done;
    rows = db_exec(call->db,
                   "SELECT idx, phone_number, reason FROM contacts.import_errors "
                   "WHERE org_id = $1 AND import_id = $2 ORDER BY idx "
                   "LIMIT $3::int OFFSET $4::bigint",
                   4, params);
    if (!db_ok(rows)) {
        rpc_fail_sql(call, rows, "list import errors");
        goto done;
    }
    if (rpc_rows_map(call, rows, sizeof(Od__RowError), imports_error_from_row, &errors) != 0)
        goto done;
    reply.total = strtoll(PQgetvalue(found, 0, 0), NULL, 10);
    reply.n_data = errors.n;
    reply.data = (Od__RowError **)errors.data;
done:
    closure(call->status == OD__STATUS__OK ? &reply : NULL, closure_data);
    PQclear(found);
    PQclear(rows);
    rpc_rows_free(&errors);
}

Od__Imports_Service imports_service = OD__IMPORTS__INIT(imports_);
