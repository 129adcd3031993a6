/* The Imports RPC service: asynchronous bulk imports (POST /v1/imports/api/bulk), their
 * status, list and row errors.
 *
 * Submit stores the import and its rows in one transaction (the request as it arrived, one
 * packed protobuf, in import_payloads) and wakes the import workers (import_worker.c), which
 * validate the rows and do the upserts in chunks. Every statement is scoped to the caller's
 * organization; another organization's import is NOT_FOUND. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "contacts.h"
#include "db.h"
#include "ids.h"
#include "log.h"
#include "rpc.h"
#include "timefmt.h"

/* Columns every read of an import returns, in this order (see imports_from_row). */
#define IMPORT_COLUMNS                                                                         \
    "id, status, total, processed, created, updated, failed, coalesce(audience_id, ''), "     \
    "coalesce(webhook_url, ''), "                                                              \
    "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "            \
    "coalesce(to_char(completed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), '')"

/* Points the message's strings into the result: valid until PQclear(res). */
static void imports_from_row(PGresult *res, int row, Od__Import *m)
{
    od__import__init(m);
    m->id = PQgetvalue(res, row, 0);
    m->status = PQgetvalue(res, row, 1);
    m->total = atoi(PQgetvalue(res, row, 2));
    m->processed = atoi(PQgetvalue(res, row, 3));
    m->created = atoi(PQgetvalue(res, row, 4));
    m->updated = atoi(PQgetvalue(res, row, 5));
    m->failed = atoi(PQgetvalue(res, row, 6));
    m->error_count = m->failed; /* every failed row has exactly one listed error */
    m->audience_id = PQgetvalue(res, row, 7);
    m->webhook_url = PQgetvalue(res, row, 8);
    m->created_at = PQgetvalue(res, row, 9);
    m->completed_at = PQgetvalue(res, row, 10);
}

int imports_webhook_url_valid(const char *url)
{
    size_t len = strlen(url), scheme;
    const char *host;
    if (len > IMPORTS_WEBHOOK_URL_MAX)
        return 0;
    if (strncasecmp(url, "https://", 8) == 0)
        scheme = 8;
    else if (strncasecmp(url, "http://", 7) == 0)
        scheme = 7;
    else
        return 0;
    host = url + scheme;
    /* A host must follow, and the URL must be printable ASCII without spaces (RFC 3986; an
     * internationalized URL arrives percent-encoded or punycoded). */
    if (*host == '\0' || *host == '/' || *host == '?' || *host == '#' || *host == ':')
        return 0;
    for (const char *p = url; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
            return 0;
    return 1;
}

const char *imports_validate_row(const Od__ContactInput *in)
{
    const char *reason = contacts_validate_input(in);
    if (reason != NULL)
        return reason;
    if (in->name[0] == '\0')
        return "name is required";
    return NULL;
}

static void imports_submit(Od__Imports_Service *service, const Od__SubmitImportRequest *in,
                           Od__Import_Closure closure, void *closure_data)
{
    struct rpc_call *call = closure_data;
    char id[IDS_MAX_LEN], total[16];
    PGresult *res = NULL;
    Od__Import reply;
    const char *audience = nullable(in->audience_id), *webhook = nullable(in->webhook_url);
    int64_t started = time_monotonic_ms();

    if (contacts_require_org(call) != 0)
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
    if (audience != NULL && !ids_valid("aud_", audience)) {
        rpc_fail(call, OD__STATUS__NOT_FOUND, "audience not found");
        goto fail;
    }
    ids_new_ordered("imp_", id, sizeof id);
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
            contacts_fail_sql(call, res, "look up audience");
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
        contacts_fail_sql(call, res, "create import");
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
            contacts_fail_sql(call, stored, "store the import's rows");
            PQclear(stored);
            goto rollback;
        }
        PQclear(stored);
    }
    if (db_commit(call->db) != 0) {
        rpc_fail(call, OD__STATUS__UNAVAILABLE, "database unavailable");
        goto rollback;
    }
    import_workers_notify();
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
    const char *params[] = {call->org_id, in->id};
    PGresult *res = NULL;
    Od__Import reply;

    if (contacts_require_org(call) != 0)
        goto fail;
    res = db_exec(call->db,
                  "SELECT " IMPORT_COLUMNS " FROM contacts.imports WHERE org_id = $1 AND id = $2",
                  2, params);
    if (!db_ok(res)) {
        contacts_fail_sql(call, res, "get import");
        goto fail;
    }
    if (PQntuples(res) == 0) {
        rpc_fail(call, OD__STATUS__NOT_FOUND, "import not found");
        goto fail;
    }
    imports_from_row(res, 0, &reply);
    closure(&reply, closure_data);
    PQclear(res);
    return;
fail:
    closure(NULL, closure_data);
    PQclear(res);
}

static void imports_list(Od__Imports_Service *service, const Od__ListImportsRequest *in,
                         Od__ListImportsReply_Closure closure, void *closure_data)
{
    struct rpc_call *call = closure_data;
    Od__ListImportsReply reply = OD__LIST_IMPORTS_REPLY__INIT;
    Od__Import *store = NULL;
    PGresult *count = NULL, *rows = NULL;
    char limit_text[16], offset_text[24];

    if (contacts_require_org(call) != 0)
        goto done;
    if (in->limit < 1 || in->limit > 100 || in->page < 1 || in->page > 1000000) {
        rpc_fail(call, OD__STATUS__INVALID, "page must be >= 1 and limit between 1 and 100");
        goto done;
    }
    snprintf(limit_text, sizeof limit_text, "%d", in->limit);
    snprintf(offset_text, sizeof offset_text, "%lld", (long long)(in->page - 1) * in->limit);
    const char *params[] = {call->org_id, limit_text, offset_text};
    count = db_exec(call->db, "SELECT count(*) FROM contacts.imports WHERE org_id = $1", 1,
                    params);
    if (!db_ok(count)) {
        contacts_fail_sql(call, count, "count imports");
        goto done;
    }
    /* Ids are time-ordered: newest first is id order. */
    rows = db_exec(call->db,
                   "SELECT " IMPORT_COLUMNS " FROM contacts.imports WHERE org_id = $1 "
                   "ORDER BY id DESC LIMIT $2::int OFFSET $3::bigint",
                   3, params);
    if (!db_ok(rows)) {
        contacts_fail_sql(call, rows, "list imports");
        goto done;
    }
    reply.total = strtoll(PQgetvalue(count, 0, 0), NULL, 10);
    reply.n_data = (size_t)PQntuples(rows);
    store = calloc(reply.n_data + 1, sizeof *store);
    reply.data = calloc(reply.n_data + 1, sizeof *reply.data);
    if (store == NULL || reply.data == NULL) {
        rpc_fail(call, OD__STATUS__INTERNAL, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < reply.n_data; i++) {
        imports_from_row(rows, (int)i, &store[i]);
        reply.data[i] = &store[i];
    }
done:
    closure(call->status == OD__STATUS__OK ? &reply : NULL, closure_data);
    PQclear(count);
    PQclear(rows);
    free(store);
    free(reply.data);
}

static void imports_list_errors(Od__Imports_Service *service,
                                const Od__ListImportErrorsRequest *in,
                                Od__ListImportErrorsReply_Closure closure, void *closure_data)
{
    struct rpc_call *call = closure_data;
    Od__ListImportErrorsReply reply = OD__LIST_IMPORT_ERRORS_REPLY__INIT;
    Od__RowError *store = NULL;
    PGresult *found = NULL, *rows = NULL;
    char limit_text[16], offset_text[24];

    if (contacts_require_org(call) != 0)
        goto done;
    if (in->limit < 1 || in->limit > IMPORTS_ERRORS_PAGE_MAX || in->page < 1 ||
        in->page > 1000000) {
        rpc_fail(call, OD__STATUS__INVALID, "page must be >= 1 and limit between 1 and %d",
                 IMPORTS_ERRORS_PAGE_MAX);
        goto done;
    }
    snprintf(limit_text, sizeof limit_text, "%d", in->limit);
    snprintf(offset_text, sizeof offset_text, "%lld", (long long)(in->page - 1) * in->limit);
    const char *params[] = {call->org_id, in->id, limit_text, offset_text};
    /* The import's failed count is the number of its errors (committed together). */
    found = db_exec(call->db, "SELECT failed FROM contacts.imports WHERE org_id = $1 AND id = $2",
                    2, params);
    if (!db_ok(found)) {
        contacts_fail_sql(call, found, "get import");
        goto done;
    }
    if (PQntuples(found) == 0) {
        rpc_fail(call, OD__STATUS__NOT_FOUND, "import not found");
        goto done;
    }
    rows = db_exec(call->db,
                   "SELECT idx, phone_number, reason FROM contacts.import_errors "
                   "WHERE org_id = $1 AND import_id = $2 ORDER BY idx "
                   "LIMIT $3::int OFFSET $4::bigint",
                   4, params);
    if (!db_ok(rows)) {
        contacts_fail_sql(call, rows, "list import errors");
        goto done;
    }
    reply.total = strtoll(PQgetvalue(found, 0, 0), NULL, 10);
    reply.n_data = (size_t)PQntuples(rows);
    store = calloc(reply.n_data + 1, sizeof *store);
    reply.data = calloc(reply.n_data + 1, sizeof *reply.data);
    if (store == NULL || reply.data == NULL) {
        rpc_fail(call, OD__STATUS__INTERNAL, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < reply.n_data; i++) {
        od__row_error__init(&store[i]);
        store[i].index = atoi(PQgetvalue(rows, (int)i, 0));
        store[i].phone_number = PQgetvalue(rows, (int)i, 1);
        store[i].reason = PQgetvalue(rows, (int)i, 2);
        reply.data[i] = &store[i];
    }
done:
    closure(call->status == OD__STATUS__OK ? &reply : NULL, closure_data);
    PQclear(found);
    PQclear(rows);
    free(store);
    free(reply.data);
}

Od__Imports_Service imports_service = OD__IMPORTS__INIT(imports_);
