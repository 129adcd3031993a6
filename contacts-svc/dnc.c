/* The Dnc RPC service: the organization's do-not-call list, one entry per phone number.
 *
 * BulkAdd is set-based, in one transaction: when every row is new (no repeats, nothing stored
 * in the request's number range) they are COPYed straight into contacts.dnc_entries;
 * otherwise they are COPYed into a temporary table and moved with one INSERT ... ON CONFLICT
 * DO NOTHING, and rows it did not insert (already listed, or repeated in the request) are
 * counted as duplicates.
 *
 * Memory: reply strings point into the request or into PGresults cleared after the closure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dnc.h"

#include "copytext.h"
#include "db.h"
#include "db_copy_merge.h"
#include "e164.h"
#include "ids.h"
#include "log.h"
#include "od_names.h"
#include "rpc.h"
#include "rpc_util.h"

/* Columns every entry read returns, in the order of enum dnc_column. */
#define DNC_COLUMNS                                                                            \
    "id, phone_number, coalesce(reason, ''), coalesce(source, ''), " SQL_ISO_MS("created_at")
enum dnc_column { DNC_COL_ID, DNC_COL_PHONE_NUMBER, DNC_COL_REASON, DNC_COL_SOURCE, DNC_COL_CREATED_AT };

static void dnc_from_row(const PGresult *res, int row, void *message)
{
    Od__DncEntry *e = message;
    od__dnc_entry__init(e);
    e->id = PQgetvalue(res, row, DNC_COL_ID);
    e->phone_number = PQgetvalue(res, row, DNC_COL_PHONE_NUMBER);
    e->reason = PQgetvalue(res, row, DNC_COL_REASON);
    e->source = PQgetvalue(res, row, DNC_COL_SOURCE);
    e->created_at = PQgetvalue(res, row, DNC_COL_CREATED_AT);
}

/* NULL when the entry is acceptable, else the reason. */
static const char *dnc_validate(const Od__DncEntryInput *in)
{
    if (in->invalid_reason[0] != '\0')
        return in->invalid_reason;
    if (in->phone_number[0] == '\0')
        return "phoneNumber is required";
    if (!e164_valid(in->phone_number))
        return "phoneNumber must be a valid E.164 phone number";
    if (strlen(in->reason) > DNC_REASON_MAX)
        return "reason must be at most 500 bytes";
    if (strlen(in->source) > DNC_SOURCE_MAX)
        return "source must be at most 64 bytes";
    return NULL;
}

/* ---------------- single entries ---------------- */

static void dnc_add(Od__Dnc_Service *service, const Od__DncEntryInput *in,
                    Od__DncEntry_Closure closure, void *closure_data)
{
    struct rpc_call *call = closure_data;
    const char *reason;
    char id[IDS_MAX_LEN];
    PGresult *res = NULL;
    Od__DncEntry entry;

    if (rpc_require_org(call) != 0)
        goto fail;
    if ((reason = dnc_validate(in)) != NULL) {
        rpc_fail(call, OD__STATUS__INVALID, "%s", reason);
        goto fail;
    }
    const char *params[] = {ids_new_ordered(ID_PREFIX_DNC, id, sizeof id), call->org_id,
                            in->phone_number, rpc_nullable(in->reason),
                            in->source[0] ? in->source : "manual"};
    res = db_exec(call->db,
                  "INSERT INTO contacts.dnc_entries (id, org_id, phone_number, reason, source) "
                  "VALUES ($1, $2, $3, $4, $5) RETURNING " DNC_COLUMNS,
                  5, params);
    if (!db_ok(res)) {
        if (strcmp(db_sqlstate(res), "23505") == 0)
            rpc_fail(call, OD__STATUS__CONFLICT,
                     "phoneNumber %s is already on the do-not-call list", in->phone_number);
        else
            rpc_fail_sql(call, res, "add dnc entry");
        goto fail;
    }
    dnc_from_row(res, 0, &entry);
    closure(&entry, call);
    PQclear(res);
    return;
fail:
    closure(NULL, call);
    PQclear(res);
}

static void dnc_delete(Od__Dnc_Service *service, const Od__DeleteDncRequest *in,
                       Od__Empty_Closure closure, void *closure_data)
{
    struct rpc_call *call = closure_data;
    Od__Empty empty = OD__EMPTY__INIT;

    if (rpc_require_org(call) == 0)
        rpc_exec_by_id(call, "DELETE FROM contacts.dnc_entries WHERE org_id = $1 AND id = $2",
                       in->id, "delete dnc entry", "do-not-call entry not found");
    closure(call->status == OD__STATUS__OK ? &empty : NULL, call);
}

#define DNC_LIST_WHERE                                                                         \
    " WHERE org_id = $1 AND ($2::text IS NULL OR phone_number LIKE $2 OR reason ILIKE $2)"

static void dnc_list(Od__Dnc_Service *service, const Od__ListDncRequest *in,
                     Od__ListDncReply_Closure closure, void *closure_data)
{
    struct rpc_call *call = closure_data;
    Od__ListDncReply reply = OD__LIST_DNC_REPLY__INIT;
    struct rpc_list list;
    const struct rpc_list_query q = {
        .what = "list dnc entries",
        .count_sql = "SELECT count(*) FROM contacts.dnc_entries" DNC_LIST_WHERE,
        .rows_sql = "SELECT " DNC_COLUMNS " FROM contacts.dnc_entries" DNC_LIST_WHERE
                    " ORDER BY id DESC LIMIT $3::int OFFSET $4::bigint",
        .page = in->page, .limit = in->limit, .max_limit = DNC_LIST_LIMIT_MAX,
        .search = in->search,
    };

    if (rpc_list_map(call, &q, sizeof(Od__DncEntry), dnc_from_row, &list) == 0)
        RPC_LIST_REPLY(reply, list);
    closure(call->status == OD__STATUS__OK ? &reply : NULL, call);
    rpc_list_free(&list);
}

/* ---------------- bulk ---------------- */

static const char dnc_stage_sql[] =
    "CREATE TEMP TABLE IF NOT EXISTS dnc_stage ("
    " idx int, id text, phone text, reason text, source text) ON COMMIT DELETE ROWS";
static const char dnc_stage_copy_sql[] =
    "COPY dnc_stage (idx, id, phone, reason, source) FROM STDIN";
/* The first row of a number (in request order) is the one kept. */
static const char dnc_merge_sql[] =
    "INSERT INTO contacts.dnc_entries (org_id, id, phone_number, reason, source) "
    "SELECT $1, id, phone, reason, source FROM dnc_stage ORDER BY idx "
    "ON CONFLICT DO NOTHING";

/* One valid entry of a bulk request. */
struct dnc_row {
    int index;
    const Od__DncEntryInput *in;
    char id[IDS_MAX_LEN];
};

/* One COPY line: `first` (the organization, or the row's position for the staging table), then
 * id, phone_number, reason, source. */
static void dnc_copy_row(struct copytext *b, const char *first, const struct dnc_row *r)
{
    copytext_field(b, first, '\t');
    copytext_field(b, r->id, '\t');
    copytext_field(b, r->in->phone_number, '\t');
    copytext_field(b, rpc_nullable(r->in->reason), '\t');
    copytext_field(b, r->in->source[0] ? r->in->source : "imported", '\n');
}

static int dnc_row_by_phone(const void *a, const void *b)
{
    const struct dnc_row *x = *(const struct dnc_row *const *)a;
    const struct dnc_row *y = *(const struct dnc_row *const *)b;
    int c = strcmp(x->in->phone_number, y->in->phone_number);
    return c != 0 ? c : x->index - y->index;
}

/* The fast path, when it applies: no number repeats within the request and the organization
 * has no entry between the request's lowest and highest number (one index probe), so every
 * row is new and goes straight into dnc_entries by COPY, without the staging table and the
 * merge. Returns 1 when it wrote the rows, 0 when the merge path must run (nothing written),
 * -1 on a database error. Runs under db_copy_merge_run's savepoint: a concurrent insert of
 * one of the numbers makes the COPY fail on the unique key, the savepoint undoes it and the
 * merge path runs. */
static int dnc_bulk_copy_new(struct db *db, const char *org_id, struct dnc_row *rows, size_t n)
{
    static const char probe_sql[] =
        "SELECT EXISTS (SELECT 1 FROM contacts.dnc_entries"
        " WHERE org_id = $1 AND phone_number BETWEEN $2 AND $3)";
    struct dnc_row **sorted = malloc(n * sizeof *sorted);
    struct copytext copy = {0};
    PGresult *res = NULL;
    int rc = -1;

    if (sorted == NULL)
        return -1;
    for (size_t i = 0; i < n; i++)
        sorted[i] = &rows[i];
    qsort(sorted, n, sizeof *sorted, dnc_row_by_phone);
    for (size_t i = 1; i < n; i++)
        if (strcmp(sorted[i - 1]->in->phone_number, sorted[i]->in->phone_number) == 0) {
            rc = 0; /* repeats: the merge keeps the first of each */
            goto out;
        }
    const char *params[] = {org_id, sorted[0]->in->phone_number, sorted[n - 1]->in->phone_number};
    res = db_exec_prepared(db, probe_sql, 3, params);
    if (!db_ok(res))
        goto out;
    if (PQgetvalue(res, 0, 0)[0] == 't') {
        rc = 0;
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        dnc_copy_row(&copy, org_id, sorted[i]);
    if (!copy.failed &&
        db_copy_in(db, "COPY contacts.dnc_entries (org_id, id, phone_number, reason, source) "
                       "FROM STDIN", copy.data, copy.len) == 0)
        rc = 1;
out:
    PQclear(res);
    free(copy.data);
    free(sorted);
    return rc;
}

/* The general path: the rows go through a staging table into one INSERT ... ON CONFLICT DO
 * NOTHING, in request order, so the first row of a number wins. Returns the number inserted,
 * -1 on a database error. */
static long long dnc_bulk_merge(struct db *db, const char *request_id, const char *org_id,
                                const struct dnc_row *rows, size_t n)
{
    struct copytext copy = {0};
    const char *params[] = {org_id};
    long long inserted = -1;
    PGresult *res;

    for (size_t i = 0; i < n; i++) {
        char index[16];
        snprintf(index, sizeof index, "%d", rows[i].index);
        dnc_copy_row(&copy, index, &rows[i]);
    }
    if (copy.failed || db_command(db, dnc_stage_sql, 0, NULL) != 0 ||
        db_copy_in(db, dnc_stage_copy_sql, copy.data, copy.len) != 0) {
        free(copy.data);
        return -1;
    }
    free(copy.data);
    res = db_exec(db, dnc_merge_sql, 1, params);
    if (db_ok(res))
        inserted = strtoll(PQcmdTuples(res), NULL, 10);
    else
        log_error(request_id, "dnc bulk add: %s", PQresultErrorMessage(res));
    PQclear(res);
    return inserted;
}

/* What db_copy_merge_run hands both paths. */
struct dnc_batch {
    const char *request_id, *org_id;
    struct dnc_row *rows;
    size_t n;
    long long inserted;
};

static int dnc_bulk_fast(struct db *db, void *arg)
{
    struct dnc_batch *b = arg;
    int rc = dnc_bulk_copy_new(db, b->org_id, b->rows, b->n);
    if (rc == 1)
        b->inserted = (long long)b->n;
    return rc;
}

static int dnc_bulk_slow(struct db *db, void *arg)
{
    struct dnc_batch *b = arg;
    b->inserted = dnc_bulk_merge(db, b->request_id, b->org_id, b->rows, b->n);
    return b->inserted < 0 ? -1 : 0;
}

static void dnc_add_error(Od__BulkAddDncReply *reply, Od__RowError *store, int index,
                          const char *phone, const char *reason)
{
    Od__RowError *e = &store[reply->n_errors];
    od__row_error__init(e);
    e->index = index;
    e->phone_number = (char *)phone;
    e->reason = (char *)reason;
    reply->errors[reply->n_errors++] = e;
}

static void dnc_bulk_add(Od__Dnc_Service *service, const Od__BulkAddDncRequest *in,
                         Od__BulkAddDncReply_Closure closure, void *closure_data)
{
    struct rpc_call *call = closure_data;
    Od__BulkAddDncReply reply = OD__BULK_ADD_DNC_REPLY__INIT;
    Od__RowError *error_store = NULL;
    struct dnc_row *rows = NULL;
    size_t n = in->n_entries, nvalid = 0;
    long long inserted = 0;

    if (rpc_require_org(call) != 0)
        goto done;
    if (n > DNC_BULK_MAX) {
        rpc_fail(call, OD__STATUS__INVALID, "entries must hold at most %d entries", DNC_BULK_MAX);
        goto done;
    }
    error_store = calloc(n + 1, sizeof *error_store);
    reply.errors = calloc(n + 1, sizeof *reply.errors);
    rows = calloc(n + 1, sizeof *rows);
    if (error_store == NULL || reply.errors == NULL || rows == NULL) {
        rpc_fail(call, OD__STATUS__INTERNAL, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        const Od__DncEntryInput *e = in->entries[i];
        const char *reason = dnc_validate(e);
        if (reason != NULL) {
            dnc_add_error(&reply, error_store, (int)i, e->phone_number, reason);
            continue;
        }
        rows[nvalid].index = (int)i;
        rows[nvalid].in = e;
        ids_new_ordered(ID_PREFIX_DNC, rows[nvalid].id, sizeof rows[nvalid].id);
        nvalid++;
    }
    reply.failed = (int32_t)reply.n_errors;
    if (nvalid > 0) {
        static const struct db_copy_merge how = {"dnc_copy", dnc_bulk_fast, dnc_bulk_slow};
        struct dnc_batch batch = {call->request_id, call->org_id, rows, nvalid, 0};
        if (db_begin(call->db) != 0 || db_copy_merge_run(call->db, &how, &batch) < 0 ||
            db_commit(call->db) != 0) {
            db_rollback(call->db);
            goto failed;
        }
        inserted = batch.inserted;
    }
    reply.inserted = (int32_t)inserted;
    reply.duplicates = (int32_t)((long long)nvalid - inserted);
    log_info(call->request_id, "dnc bulk add org=%s rows=%zu inserted=%d duplicates=%d failed=%d",
             call->org_id, n, reply.inserted, reply.duplicates, reply.failed);
    goto done;
failed:
    if (PQstatus(db_conn(call->db)) != CONNECTION_OK)
        rpc_fail(call, OD__STATUS__UNAVAILABLE, "database unavailable");
    else
        rpc_fail(call, OD__STATUS__INTERNAL, "dnc bulk add failed");
done:
    closure(call->status == OD__STATUS__OK ? &reply : NULL, call);
    free(rows);
    free(error_store);
    free(reply.errors);
}

/* ---------------- checks ---------------- */

static int dnc_strcmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void dnc_check_dnc(Od__Dnc_Service *service, const Od__CheckDncRequest *in,
                          Od__CheckDncReply_Closure closure, void *closure_data)
{
    struct rpc_call *call = closure_data;
    Od__CheckDncReply reply = OD__CHECK_DNC_REPLY__INIT;
    size_t n = in->n_phone_numbers, nvalid = 0, nlisted = 0;
    struct copytext numbers = {0};
    const char *array;
    char **listed = NULL;
    unsigned char *reported = NULL;
    PGresult *res = NULL;

    if (rpc_require_org(call) != 0)
        goto done;
    if (n > DNC_CHECK_MAX) {
        rpc_fail(call, OD__STATUS__INVALID, "phoneNumbers must hold at most %d numbers",
                 DNC_CHECK_MAX);
        goto done;
    }
    /* Only valid E.164 numbers can be listed. */
    for (size_t i = 0; i < n; i++)
        if (e164_valid(in->phone_numbers[i])) {
            copytext_array_add(&numbers, in->phone_numbers[i]);
            nvalid++;
        }
    reply.listed = calloc(n + 1, sizeof *reply.listed);
    if ((array = copytext_array_end(&numbers)) == NULL || reply.listed == NULL) {
        rpc_fail(call, OD__STATUS__INTERNAL, "out of memory");
        goto done;
    }
    if (nvalid == 0)
        goto done;
    const char *params[] = {call->org_id, array};
    res = db_exec(call->db,
                  "SELECT DISTINCT phone_number FROM contacts.dnc_entries "
                  "WHERE org_id = $1 AND phone_number = ANY ($2::text[])",
                  2, params);
    if (!db_ok(res)) {
        rpc_fail_sql(call, res, "check dnc");
        goto done;
    }
    nlisted = (size_t)PQntuples(res);
    listed = calloc(nlisted + 1, sizeof *listed);
    reported = calloc(nlisted + 1, 1);
    if (listed == NULL || reported == NULL) {
        rpc_fail(call, OD__STATUS__INTERNAL, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < nlisted; i++)
        listed[i] = PQgetvalue(res, (int)i, 0);
    qsort(listed, nlisted, sizeof *listed, dnc_strcmp);
    /* In request order, each number once. */
    for (size_t i = 0; i < n && nlisted > 0; i++) {
        char *key = in->phone_numbers[i], **hit;
        hit = bsearch(&key, listed, nlisted, sizeof *listed, dnc_strcmp);
        if (hit == NULL || reported[hit - listed])
            continue;
        reported[hit - listed] = 1;
        reply.listed[reply.n_listed++] = *hit;
    }
done:
    closure(call->status == OD__STATUS__OK ? &reply : NULL, call);
    PQclear(res);
    free(numbers.data);
    free(listed);
    free(reported);
    free(reply.listed);
}

Od__Dnc_Service dnc_service = OD__DNC__INIT(dnc_);
