/* BulkUpsert: up to 10,000 contacts, upserted by (organization, phone number), in one
 * transaction.
 *
 * Fast path: look up which phone numbers exist (one indexed query), COPY the new rows straight
 * into contacts.contacts, and update the existing ones from a COPY-filled temporary table.
 * COPY is the cheapest way into PostgreSQL; the lookup costs about a tenth of the insert.
 * If a concurrent call inserts one of the same numbers between the lookup and the COPY, the
 * COPY fails on the unique key; the transaction is rolled back and the call runs once more on
 * the merge path (one INSERT ... ON CONFLICT from the temporary table), which is safe under
 * any concurrency but about twice as slow.
 *
 * Memory: every string in the reply points into the request, the id table or a PGresult, all
 * of which outlive the closure call. */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulk.h"

#include "copytext.h"
#include "db.h"
#include "db_copy_merge.h"
#include "ids.h"
#include "log.h"
#include "od_names.h"
#include "rpc.h"
#include "rpc_util.h"
#include "timefmt.h"
#include "validate.h"

static int bulk_row_by_phone(const void *a, const void *b)
{
    const struct contacts_row *x = a, *y = b;
    int c = strcmp(x->in->phone_number, y->in->phone_number);
    return c != 0 ? c : (x->index - y->index);
}

static struct contacts_row *bulk_find(struct contacts_row *rows, size_t n, const char *phone)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(rows[mid].in->phone_number, phone);
        if (c == 0)
            return &rows[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* Rows for contacts.contacts (org_id, id, name, phone_number, language, metadata). */
static void copy_contact(struct copytext *b, const char *org_id, const struct contacts_row *r)
{
    copytext_field(b, org_id, '\t');
    copytext_field(b, r->id, '\t');
    copytext_field(b, rpc_nullable(r->in->name), '\t');
    copytext_field(b, r->in->phone_number, '\t');
    copytext_field(b, rpc_nullable(r->in->language), '\t');
    copytext_field(b, rpc_nullable(r->in->metadata_json) ? r->in->metadata_json : "{}", '\n');
}

/* Rows for contacts_stage (id, phone, name, lang, meta). */
static void copy_stage(struct copytext *b, const struct contacts_row *r)
{
    copytext_field(b, r->id, '\t');
    copytext_field(b, r->in->phone_number, '\t');
    copytext_field(b, rpc_nullable(r->in->name), '\t');
    copytext_field(b, rpc_nullable(r->in->language), '\t');
    copytext_field(b, rpc_nullable(r->in->metadata_json), '\n');
}

/* ---- statements ---- */

static const char stage_sql[] =
    "CREATE TEMP TABLE IF NOT EXISTS contacts_stage ("
    " id text, phone text, name text, lang text, meta jsonb) ON COMMIT DELETE ROWS";
static const char stage_copy_sql[] = "COPY contacts_stage (id, phone, name, lang, meta) FROM STDIN";
static const char contacts_copy_sql[] =
    "COPY contacts.contacts (org_id, id, name, phone_number, language, metadata) FROM STDIN";
static const char existing_sql[] =
    "SELECT phone_number, id FROM contacts.contacts "
    "WHERE org_id = $1 AND phone_number = ANY ($2::text[])";
/* A name or language left out keeps the stored one; metadata keys are merged (new wins). */
static const char update_sql[] =
    "UPDATE contacts.contacts c SET"
    "  name = coalesce(s.name, c.name),"
    "  language = coalesce(s.lang, c.language),"
    "  metadata = c.metadata || coalesce(s.meta, '{}'::jsonb),"
    "  updated_at = now() "
    "FROM contacts_stage s WHERE c.org_id = $1 AND c.phone_number = s.phone";
static const char merge_sql[] =
    "INSERT INTO contacts.contacts AS c (org_id, id, name, phone_number, language, metadata) "
    "SELECT $1, s.id, s.name, s.phone, s.lang, coalesce(s.meta, '{}'::jsonb) "
    "FROM contacts_stage s "
    "ON CONFLICT (org_id, phone_number) DO UPDATE SET "
    "  name = coalesce(EXCLUDED.name, c.name), "
    "  language = coalesce(EXCLUDED.language, c.language), "
    "  metadata = c.metadata || EXCLUDED.metadata, "
    "  updated_at = now() "
    "RETURNING phone_number, id, (xmax = 0) AS inserted";

/* existing_sql and merge_sql return (phone_number, id[, inserted]). */
enum bulk_id_column { BULK_COL_PHONE_NUMBER, BULK_COL_ID, BULK_COL_INSERTED };

/* Records the stored id of every number the statement returned; without an inserted column
 * (existing_sql), every returned row already existed. */
static void bulk_take_ids(struct contacts_row *rows, size_t n, PGresult *res)
{
    bool has_inserted = PQnfields(res) > BULK_COL_INSERTED;
    for (int i = 0; i < PQntuples(res); i++) {
        struct contacts_row *r = bulk_find(rows, n, PQgetvalue(res, i, BULK_COL_PHONE_NUMBER));
        if (r == NULL)
            continue;
        snprintf(r->id, sizeof r->id, "%s", PQgetvalue(res, i, BULK_COL_ID));
        r->exists = !has_inserted || PQgetvalue(res, i, BULK_COL_INSERTED)[0] != 't';
    }
}

/* SQLSTATE of this worker thread's last failed bulk statement ("" if none): lets the handler
 * tell a refused row (a CHECK constraint) from a broken database. */
static __thread char bulk_last_sqlstate[6];

static int bulk_exec(struct db *db, const char *sql, const char *org_id, const char *array,
                     PGresult **keep)
{
    const char *params[] = {org_id, array};
    PGresult *res = db_exec(db, sql, array ? 2 : 1, params);
    if (!db_ok(res)) {
        snprintf(bulk_last_sqlstate, sizeof bulk_last_sqlstate, "%s", db_sqlstate(res));
        log_error(NULL, "bulk upsert: %s", PQresultErrorMessage(res));
        PQclear(res);
        return -1;
    }
    if (keep != NULL)
        *keep = res;
    else
        PQclear(res);
    return 0;
}

/* The fast path, inside the caller's transaction. 0 on success. */
/* 1 if the organization has any contact numbered between rows' first and last number (rows
 * are sorted by phone), 0 if none, -1 on error. One index range probe: when a batch is all
 * new numbers (a first import, a new range), it spares the per-number lookup, which costs
 * ~25 ms for 10,000 numbers. */
static int bulk_any_in_range(struct db *db, const char *org_id, struct contacts_row *rows, size_t n)
{
    static const char sql[] =
        "SELECT EXISTS (SELECT 1 FROM contacts.contacts"
        " WHERE org_id = $1 AND phone_number BETWEEN $2 AND $3)";
    const char *params[] = {org_id, rows[0].in->phone_number, rows[n - 1].in->phone_number};
    PGresult *res = db_exec_prepared(db, sql, 3, params);
    int rc = -1;
    if (db_ok(res))
        rc = PQgetvalue(res, 0, 0)[0] == 't';
    else
        snprintf(bulk_last_sqlstate, sizeof bulk_last_sqlstate, "%s", db_sqlstate(res));
    PQclear(res);
    return rc;
}

/* Compact size of stored merged with update (the update's keys win), or an upper bound when
 * either side will not parse here (a number beyond jansson's range). */
static size_t bulk_merged_size(const char *stored, size_t stored_len, const char *update,
                               size_t update_len)
{
    json_t *a = json_loadb(stored, stored_len, 0, NULL);
    json_t *b = json_loadb(update, update_len, 0, NULL);
    size_t size = stored_len + update_len;
    if (json_is_object(a) && json_is_object(b) && json_object_update(a, b) == 0)
        size = json_dumpb(a, NULL, 0, JSON_COMPACT);
    json_decref(a);
    json_decref(b);
    return size;
}

int contacts_rows_refuse_oversized(struct db *db, const char *org_id, struct contacts_row *rows,
                                   size_t n, size_t *kept)
{
    static const char stored_sql[] =
        "SELECT phone_number, metadata::text FROM contacts.contacts "
        "WHERE org_id = $1 AND phone_number = ANY ($2::text[]) AND metadata <> '{}'::jsonb";
    enum { STORED_COL_PHONE_NUMBER, STORED_COL_METADATA };
    struct copytext phones = {0};
    struct contacts_row *refused = NULL;
    const char *phone_array;
    PGresult *stored = NULL;
    size_t nrefused = 0, nkept = 0, nwith = 0;
    int rc = -1, any;

    *kept = n;
    for (size_t i = 0; i < n; i++) {
        const char *meta = rows[i].in->metadata_json;
        rows[i].reason = NULL;
        if (meta != NULL && meta[0] != '\0' && strcmp(meta, "{}") != 0) {
            copytext_array_add(&phones, rows[i].in->phone_number);
            nwith++;
        }
    }
    if (nwith == 0) {
        rc = 0; /* nothing merges: each row's own size was checked by contacts_validate_input */
        goto out;
    }
    if ((any = bulk_any_in_range(db, org_id, rows, n)) <= 0) {
        rc = any; /* no stored number in the batch's range: nothing to merge with */
        goto out;
    }
    if ((phone_array = copytext_array_end(&phones)) == NULL ||
        bulk_exec(db, stored_sql, org_id, phone_array, &stored) != 0)
        goto out;
    for (int i = 0; i < PQntuples(stored); i++) {
        struct contacts_row *r =
            bulk_find(rows, n, PQgetvalue(stored, i, STORED_COL_PHONE_NUMBER));
        size_t stored_len = (size_t)PQgetlength(stored, i, STORED_COL_METADATA);
        size_t update_len;
        if (r == NULL)
            continue;
        update_len = strlen(r->in->metadata_json);
        /* The printed stored object is at least its compact size: most rows stop here. */
        if (stored_len + update_len <= CONTACTS_METADATA_MAX)
            continue;
        if (bulk_merged_size(PQgetvalue(stored, i, STORED_COL_METADATA), stored_len,
                             r->in->metadata_json, update_len) > CONTACTS_METADATA_MAX)
            r->reason = CONTACTS_METADATA_MERGED_REASON;
    }
    for (size_t i = 0; i < n; i++)
        nrefused += rows[i].reason != NULL;
    if (nrefused > 0) {
        /* Stable partition: the kept rows, then the refused ones. */
        if ((refused = malloc(nrefused * sizeof *refused)) == NULL)
            goto out;
        nrefused = 0;
        for (size_t i = 0; i < n; i++) {
            if (rows[i].reason != NULL)
                refused[nrefused++] = rows[i];
            else
                rows[nkept++] = rows[i];
        }
        memcpy(rows + nkept, refused, nrefused * sizeof *refused);
        *kept = nkept;
    }
    rc = 0;
out:
    PQclear(stored);
    free(phones.data);
    free(refused);
    return rc;
}

static int bulk_write_fast(struct db *db, const char *org_id, struct contacts_row *rows, size_t n)
{
    struct copytext phones = {0}, fresh = {0}, stale = {0};
    const char *phone_array;
    PGresult *existing = NULL;
    int rc = -1, any;

    if ((any = bulk_any_in_range(db, org_id, rows, n)) < 0)
        return -1;
    if (any == 0)
        goto partitioned; /* every row is new */
    for (size_t i = 0; i < n; i++)
        copytext_array_add(&phones, rows[i].in->phone_number);
    if ((phone_array = copytext_array_end(&phones)) == NULL ||
        bulk_exec(db, existing_sql, org_id, phone_array, &existing) != 0)
        goto out;
    bulk_take_ids(rows, n, existing);
partitioned:
    for (size_t i = 0; i < n; i++) {
        if (rows[i].exists)
            copy_stage(&stale, &rows[i]);
        else
            copy_contact(&fresh, org_id, &rows[i]);
    }
    if (fresh.failed || stale.failed)
        goto out;
    if (fresh.len > 0 && db_copy_in(db, contacts_copy_sql, fresh.data, fresh.len) != 0)
        goto out;
    if (stale.len > 0 && (db_command(db, stage_sql, 0, NULL) != 0 ||
                          db_copy_in(db, stage_copy_sql, stale.data, stale.len) != 0 ||
                          bulk_exec(db, update_sql, org_id, NULL, NULL) != 0))
        goto out;
    rc = 0;
out:
    PQclear(existing);
    free(phones.data);
    free(fresh.data);
    free(stale.data);
    return rc;
}

/* The merge path, inside the caller's transaction. 0 on success. */
static int bulk_write_merge(struct db *db, const char *org_id, struct contacts_row *rows, size_t n)
{
    struct copytext stage = {0};
    PGresult *merged = NULL;
    int rc = -1;

    for (size_t i = 0; i < n; i++) /* forget ids a rolled-back fast path learned */
        if (rows[i].exists) {
            ids_new_ordered(ID_PREFIX_CONTACT, rows[i].id, sizeof rows[i].id);
            rows[i].exists = 0;
        }
    bulk_last_sqlstate[0] = '\0';

    for (size_t i = 0; i < n; i++)
        copy_stage(&stage, &rows[i]);
    if (!stage.failed && db_command(db, stage_sql, 0, NULL) == 0 &&
        db_copy_in(db, stage_copy_sql, stage.data, stage.len) == 0 &&
        bulk_exec(db, merge_sql, org_id, NULL, &merged) == 0) {
        bulk_take_ids(rows, n, merged);
        rc = 0;
    }
    PQclear(merged);
    free(stage.data);
    return rc;
}

size_t contacts_rows_distinct(struct contacts_row *rows, size_t n)
{
    size_t ndistinct = 0;
    qsort(rows, n, sizeof *rows, bulk_row_by_phone);
    for (size_t i = 0; i < n; i++) {
        if (i + 1 < n && strcmp(rows[i].in->phone_number, rows[i + 1].in->phone_number) == 0)
            continue;
        rows[ndistinct] = rows[i];
        ids_new_ordered(ID_PREFIX_CONTACT, rows[ndistinct].id, sizeof rows[ndistinct].id);
        rows[ndistinct].exists = 0;
        ndistinct++;
    }
    return ndistinct;
}

/* What db_copy_merge_run hands both paths. */
struct bulk_batch {
    const char *org_id;
    struct contacts_row *rows;
    size_t n;
};

static int bulk_fast(struct db *db, void *arg)
{
    struct bulk_batch *b = arg;
    return bulk_write_fast(db, b->org_id, b->rows, b->n) == 0 ? 1 : -1;
}

static int bulk_merge(struct db *db, void *arg)
{
    struct bulk_batch *b = arg;
    return bulk_write_merge(db, b->org_id, b->rows, b->n);
}

int contacts_rows_write(struct db *db, const char *org_id, struct contacts_row *rows, size_t n)
{
    static const struct db_copy_merge how = {"contacts_rows_write", bulk_fast, bulk_merge};
    struct bulk_batch batch = {org_id, rows, n};
    bulk_last_sqlstate[0] = '\0';
    return db_copy_merge_run(db, &how, &batch) < 0 ? -1 : 0;
}

const char *contacts_rows_sqlstate(void)
{
    return bulk_last_sqlstate;
}

/* Writes rows (sorted by phone, distinct) in one transaction, filling id and exists; the rows
 * whose merged metadata would be too large are left out, moved behind the *kept others. */
static int bulk_write(struct rpc_call *call, struct contacts_row *rows, size_t n, size_t *kept)
{
    if (db_begin(call->db) == 0 &&
        contacts_rows_refuse_oversized(call->db, call->org_id, rows, n, kept) == 0 &&
        (*kept == 0 || contacts_rows_write(call->db, call->org_id, rows, *kept) == 0) &&
        db_commit(call->db) == 0)
        return 0;
    db_rollback(call->db);
    return -1;
}

static void bulk_add_error(Od__BulkUpsertReply *reply, Od__RowError *store, int index,
                           const char *phone, const char *reason)
{
    Od__RowError *e = &store[reply->n_errors];
    od__row_error__init(e);
    e->index = index;
    e->phone_number = (char *)phone;
    e->reason = (char *)reason;
    reply->errors[reply->n_errors++] = e;
}

void contacts_bulk_upsert(Od__Contacts_Service *service, const Od__BulkUpsertRequest *in,
                          Od__BulkUpsertReply_Closure closure, void *closure_data)
{
    struct rpc_call *call = closure_data;
    Od__BulkUpsertReply reply = OD__BULK_UPSERT_REPLY__INIT;
    size_t n = in->n_contacts, nvalid = 0, ndistinct = 0, nkept = 0;
    struct contacts_row *rows = NULL;
    const char **reasons = NULL; /* per request row: why it fails, NULL if it is written */
    unsigned char *counted = NULL;
    Od__RowError *error_store = NULL;
    Od__Contact *contact_store = NULL;
    int64_t started = time_monotonic_ms(), write_started = 0, write_ms = 0;

    if (rpc_require_org(call) != 0)
        goto done;
    if (n > CONTACTS_BULK_MAX) {
        rpc_fail(call, OD__STATUS__INVALID, "contacts must hold at most %d entries",
                 CONTACTS_BULK_MAX);
        goto done;
    }
    rows = calloc(n + 1, sizeof *rows);
    counted = calloc(n + 1, 1);
    error_store = calloc(n + 1, sizeof *error_store);
    contact_store = calloc(n + 1, sizeof *contact_store);
    reply.errors = calloc(n + 1, sizeof *reply.errors);
    reply.contacts = calloc(n + 1, sizeof *reply.contacts);
    reasons = calloc(n + 1, sizeof *reasons);
    if (!reasons || !rows || !counted || !error_store || !contact_store || !reply.errors || !reply.contacts) {
        rpc_fail(call, OD__STATUS__INTERNAL, "out of memory");
        goto done;
    }

    for (size_t i = 0; i < n; i++) {
        if ((reasons[i] = contacts_validate_input(in->contacts[i])) == NULL)
            rows[nvalid++] = (struct contacts_row){.index = (int)i, .in = in->contacts[i]};
    }

    /* Sort by phone (then position) and keep the last row of each number. */
    ndistinct = contacts_rows_distinct(rows, nvalid);
    write_started = time_monotonic_ms();
    if (ndistinct > 0 && bulk_write(call, rows, ndistinct, &nkept) != 0) {
        if (PQstatus(db_conn(call->db)) != CONNECTION_OK)
            rpc_fail(call, OD__STATUS__UNAVAILABLE, "database unavailable");
        else if (strcmp(bulk_last_sqlstate, "23514") == 0) /* the table's backstop: a race */
            rpc_fail(call, OD__STATUS__UNAVAILABLE,
                     "metadata of a contact grew past the limit during the call; nothing was "
                     "written, retry");
        else
            rpc_fail(call, OD__STATUS__INTERNAL, "bulk upsert failed");
        goto done;
    }

    write_ms = time_monotonic_ms() - write_started;
    /* Report every valid row in request order. The first row of a number counts as created
     * or updated as the database said; repeats of it count as updates. */
    for (size_t i = 0; i < n; i++) {
        const Od__ContactInput *ci = in->contacts[i];
        struct contacts_row *r;
        Od__Contact *c;
        struct contacts_row *refused;
        if (reasons[i] != NULL) {
            bulk_add_error(&reply, error_store, (int)i, ci->phone_number, reasons[i]);
            continue;
        }
        r = bulk_find(rows, nkept, ci->phone_number);
        if (r == NULL) {
            /* every row of a refused number fails, with the last row's reason */
            refused = bulk_find(rows + nkept, ndistinct - nkept, ci->phone_number);
            if (refused == NULL) {
                rpc_fail(call, OD__STATUS__INTERNAL, "bulk upsert lost a row");
                goto done;
            }
            bulk_add_error(&reply, error_store, (int)i, ci->phone_number, refused->reason);
            continue;
        }
        c = &contact_store[reply.n_contacts];
        od__contact__init(c);
        c->id = r->id;
        c->name = ci->name;
        c->phone_number = ci->phone_number;
        reply.contacts[reply.n_contacts++] = c;
        if (!counted[r - rows] && !r->exists)
            reply.created++;
        else
            reply.updated++;
        counted[r - rows] = 1;
    }
    reply.failed = (int32_t)reply.n_errors;
    log_info(call->request_id, "bulk upsert org=%s rows=%zu distinct=%zu created=%d updated=%d "
             "failed=%d in %lld ms (database %lld ms)", call->org_id, n, ndistinct, reply.created,
             reply.updated, reply.failed, (long long)(time_monotonic_ms() - started),
             (long long)write_ms);

done:
    closure(call->status == OD__STATUS__OK ? &reply : NULL, closure_data);
    free(rows);
    free(reasons);
    free(counted);
    free(error_store);
    free(contact_store);
    free(reply.errors);
    free(reply.contacts);
}
