/* The Contacts RPC service: CRUD and the set-based bulk upsert. Every statement is scoped to
 * the caller's organization; another organization's contact is NOT_FOUND. */
#include "contacts.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "ids.h"
#include "log.h"
#include "rpc.h"

/* Columns every read returns, in this order (see contacts_from_row). */
#define CONTACT_COLUMNS                                                                        \
    "id, coalesce(name, ''), phone_number, coalesce(language, ''), metadata::text, "          \
    "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "           \
    "to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

/* Points the message's strings into the result: valid until PQclear(res). */
static void contacts_from_row(PGresult *res, int row, Od__Contact *c)
{
    od__contact__init(c);
    c->id = PQgetvalue(res, row, 0);
    c->name = PQgetvalue(res, row, 1);
    c->phone_number = PQgetvalue(res, row, 2);
    c->language = PQgetvalue(res, row, 3);
    c->metadata_json = PQgetvalue(res, row, 4);
    c->created_at = PQgetvalue(res, row, 5);
    c->updated_at = PQgetvalue(res, row, 6);
}

/* Maps a failed statement to a status: the database being away is UNAVAILABLE. */
static void contacts_fail_sql(struct rpc_call *call, PGresult *res, const char *what)
{
    if (db_is_connection_error(call->db, res))
        rpc_fail(call, OD__STATUS__UNAVAILABLE, "database unavailable");
    else
        rpc_fail(call, OD__STATUS__INTERNAL, "%s failed", what);
    log_error(call->request_id, "%s: %s", what, PQresultErrorMessage(res));
}

static int contacts_require_org(struct rpc_call *call)
{
    if (call->org_id[0] == '\0') {
        rpc_fail(call, OD__STATUS__INVALID, "organization id is required");
        return -1;
    }
    return 0;
}

static const char *nullable(const char *s)
{
    return (s != NULL && s[0] != '\0') ? s : NULL;
}

/* ---------------- bulk upsert ---------------- */

/* A valid input row, remembered by its position in the request. */
struct bulk_row {
    int index;
    const Od__ContactInput *in;
};

static int bulk_row_by_phone(const void *a, const void *b)
{
    const struct bulk_row *x = a, *y = b;
    int c = strcmp(x->in->phone_number, y->in->phone_number);
    return c != 0 ? c : (x->index - y->index);
}

/* One returned row of the upsert statement. */
struct bulk_result {
    const char *phone;
    const char *id;
    int inserted;
};

static int bulk_result_by_phone(const void *a, const void *b)
{
    return strcmp(((const struct bulk_result *)a)->phone, ((const struct bulk_result *)b)->phone);
}

/* Builds the statement's one parameter: a JSON array of the distinct rows to write. When a
 * phone number appears more than once the last row wins (ON CONFLICT cannot touch one row
 * twice in a statement). rows must be sorted by phone, then position. */
static char *bulk_encode_rows(const struct bulk_row *rows, size_t n, size_t *distinct)
{
    json_t *array = json_array();
    char id[IDS_MAX_LEN];
    char *text;

    *distinct = 0;
    for (size_t i = 0; i < n; i++) {
        const Od__ContactInput *in = rows[i].in;
        json_t *row;
        if (i + 1 < n && strcmp(in->phone_number, rows[i + 1].in->phone_number) == 0)
            continue; /* a later row has the same phone: it wins */
        row = json_object();
        json_object_set_new(row, "id", json_string(ids_new("cid_", id, sizeof id)));
        json_object_set_new(row, "phone", json_string(in->phone_number));
        json_object_set_new(row, "name", nullable(in->name) ? json_string(in->name) : json_null());
        json_object_set_new(row, "lang",
                            nullable(in->language) ? json_string(in->language) : json_null());
        json_object_set_new(row, "meta",
                            nullable(in->metadata_json) ? json_loads(in->metadata_json, 0, NULL)
                                                        : json_object());
        json_array_append_new(array, row);
        (*distinct)++;
    }
    text = json_dumps(array, JSON_COMPACT);
    json_decref(array);
    return text;
}

/* A name or language left out keeps the stored one; metadata keys are merged (new wins). */
static const char bulk_upsert_sql[] =
    "INSERT INTO contacts.contacts AS c (id, org_id, name, phone_number, language, metadata) "
    "SELECT r.id, $1, r.name, r.phone, r.lang, coalesce(r.meta, '{}'::jsonb) "
    "FROM json_to_recordset($2::json) AS r(id text, phone text, name text, lang text, meta jsonb) "
    "ON CONFLICT (org_id, phone_number) DO UPDATE SET "
    "  name = coalesce(EXCLUDED.name, c.name), "
    "  language = coalesce(EXCLUDED.language, c.language), "
    "  metadata = c.metadata || EXCLUDED.metadata, "
    "  updated_at = now() "
    "RETURNING phone_number, id, (xmax = 0) AS inserted";

static void bulk_add_error(Od__BulkUpsertReply *reply, Od__RowError *errors, int index,
                           const char *phone, const char *reason)
{
    Od__RowError *e = &errors[reply->n_errors];
    od__row_error__init(e);
    e->index = index;
    e->phone_number = (char *)phone;
    e->reason = (char *)reason;
    reply->errors[reply->n_errors++] = e;
}

static void contacts_bulk_upsert(Od__Contacts_Service *service, const Od__BulkUpsertRequest *in,
                                 Od__BulkUpsertReply_Closure closure, void *closure_data)
{
    struct rpc_call *call = closure_data;
    Od__BulkUpsertReply reply = OD__BULK_UPSERT_REPLY__INIT;
    size_t n = in->n_contacts, nvalid = 0, distinct = 0, nresults = 0;
    struct bulk_row *rows = NULL;
    struct bulk_result *results = NULL;
    Od__RowError *error_store = NULL;
    Od__Contact *contact_store = NULL;
    char *payload = NULL, *seen = NULL;
    unsigned char *row_ok = NULL;
    PGresult *res = NULL;

    if (contacts_require_org(call) != 0)
        goto done;
    if (n > CONTACTS_BULK_MAX) {
        rpc_fail(call, OD__STATUS__INVALID, "contacts must hold at most %d entries",
                 CONTACTS_BULK_MAX);
        goto done;
    }
    rows = calloc(n + 1, sizeof *rows);
    row_ok = calloc(n + 1, 1);
    error_store = calloc(n + 1, sizeof *error_store);
    contact_store = calloc(n + 1, sizeof *contact_store);
    reply.errors = calloc(n + 1, sizeof *reply.errors);
    reply.contacts = calloc(n + 1, sizeof *reply.contacts);
    if (!rows || !row_ok || !error_store || !contact_store || !reply.errors || !reply.contacts) {
        rpc_fail(call, OD__STATUS__INTERNAL, "out of memory");
        goto done;
    }

    for (size_t i = 0; i < n; i++) {
        const char *reason = contacts_validate_input(in->contacts[i]);
        if (reason != NULL)
            bulk_add_error(&reply, error_store, (int)i, in->contacts[i]->phone_number, reason);
        else {
            rows[nvalid++] = (struct bulk_row){(int)i, in->contacts[i]};
            row_ok[i] = 1;
        }
    }
    reply.failed = (int32_t)reply.n_errors;

    if (nvalid > 0) {
        char *params_buf[2];
        qsort(rows, nvalid, sizeof *rows, bulk_row_by_phone);
        payload = bulk_encode_rows(rows, nvalid, &distinct);
        params_buf[0] = (char *)call->org_id;
        params_buf[1] = payload;
        res = db_exec(call->db, bulk_upsert_sql, 2, (const char *const *)params_buf);
        if (!db_ok(res)) {
            contacts_fail_sql(call, res, "bulk upsert");
            goto done;
        }
        nresults = (size_t)PQntuples(res);
        results = calloc(nresults + 1, sizeof *results);
        if (results == NULL) {
            rpc_fail(call, OD__STATUS__INTERNAL, "out of memory");
            goto done;
        }
        for (size_t i = 0; i < nresults; i++) {
            results[i].phone = PQgetvalue(res, (int)i, 0);
            results[i].id = PQgetvalue(res, (int)i, 1);
            results[i].inserted = PQgetvalue(res, (int)i, 2)[0] == 't';
        }
        qsort(results, nresults, sizeof *results, bulk_result_by_phone);
    }

    /* Report every written row in request order, finding its result by phone. The first row
     * of a phone number counts as created or updated as the database said; repeats of it
     * count as updates. */
    seen = calloc(nresults + 1, 1);
    if (seen == NULL) {
        rpc_fail(call, OD__STATUS__INTERNAL, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        const Od__ContactInput *ci = in->contacts[i];
        struct bulk_result key = {ci->phone_number, NULL, 0}, *found;
        Od__Contact *c;
        size_t slot;
        if (!row_ok[i])
            continue;
        found = bsearch(&key, results, nresults, sizeof *results, bulk_result_by_phone);
        if (found == NULL) {
            rpc_fail(call, OD__STATUS__INTERNAL, "bulk upsert lost a row");
            goto done;
        }
        c = &contact_store[reply.n_contacts];
        od__contact__init(c);
        c->id = (char *)found->id;
        c->name = ci->name;
        c->phone_number = ci->phone_number;
        reply.contacts[reply.n_contacts++] = c;
        slot = (size_t)(found - results);
        if (!seen[slot] && found->inserted)
            reply.created++;
        else
            reply.updated++;
        seen[slot] = 1;
    }
    if (call->status == OD__STATUS__OK)
        log_info(call->request_id, "bulk upsert org=%s rows=%zu distinct=%zu created=%d "
                 "updated=%d failed=%d", call->org_id, n, distinct, reply.created,
                 reply.updated, reply.failed);

done:
    closure(call->status == OD__STATUS__OK ? &reply : NULL, closure_data);
    PQclear(res);
    free(payload);
    free(results);
    free(seen);
    free(row_ok);
    free(rows);
    free(error_store);
    free(contact_store);
    free(reply.errors);
    free(reply.contacts);
}

/* ---------------- single-contact calls ---------------- */

static void contacts_create(Od__Contacts_Service *service, const Od__ContactInput *in,
                            Od__Contact_Closure closure, void *closure_data)
{
    struct rpc_call *call = closure_data;
    const char *reason;
    char id[IDS_MAX_LEN];
    PGresult *res = NULL;
    Od__Contact contact;

    if (contacts_require_org(call) != 0)
        goto fail;
    if ((reason = contacts_validate_input(in)) != NULL) {
        rpc_fail(call, OD__STATUS__INVALID, "%s", reason);
        goto fail;
    }
    const char *params[] = {ids_new("cid_", id, sizeof id), call->org_id, nullable(in->name),
                            in->phone_number, nullable(in->language),
                            nullable(in->metadata_json) ? in->metadata_json : "{}"};
    res = db_exec(call->db,
                  "INSERT INTO contacts.contacts (id, org_id, name, phone_number, language, metadata) "
                  "VALUES ($1, $2, $3, $4, $5, $6::jsonb) RETURNING " CONTACT_COLUMNS,
                  6, params);
    if (!db_ok(res)) {
        if (strcmp(db_sqlstate(res), "23505") == 0)
            rpc_fail(call, OD__STATUS__CONFLICT, "a contact with phoneNumber %s already exists",
                     in->phone_number);
        else
            contacts_fail_sql(call, res, "create contact");
        goto fail;
    }
    contacts_from_row(res, 0, &contact);
    closure(&contact, closure_data);
    PQclear(res);
    return;
fail:
    closure(NULL, closure_data);
    PQclear(res);
}

/* Sends the single contact a statement returned, or NOT_FOUND when it returned none. */
static void contacts_reply_one(struct rpc_call *call, PGresult *res, const char *what,
                               Od__Contact_Closure closure)
{
    Od__Contact contact;
    if (!db_ok(res)) {
        if (strcmp(db_sqlstate(res), "23505") == 0)
            rpc_fail(call, OD__STATUS__CONFLICT, "another contact already has that phoneNumber");
        else
            contacts_fail_sql(call, res, what);
    } else if (PQntuples(res) == 0) {
        rpc_fail(call, OD__STATUS__NOT_FOUND, "contact not found");
    }
    if (call->status != OD__STATUS__OK) {
        closure(NULL, call);
        return;
    }
    contacts_from_row(res, 0, &contact);
    closure(&contact, call);
}

static void contacts_get(Od__Contacts_Service *service, const Od__GetContactRequest *in,
                         Od__Contact_Closure closure, void *closure_data)
{
    struct rpc_call *call = closure_data;
    const char *params[] = {call->org_id, in->id};
    PGresult *res;

    if (contacts_require_org(call) != 0) {
        closure(NULL, closure_data);
        return;
    }
    res = db_exec(call->db,
                  "SELECT " CONTACT_COLUMNS " FROM contacts.contacts WHERE org_id = $1 AND id = $2", 2,
                  params);
    contacts_reply_one(call, res, "get contact", closure);
    PQclear(res);
}

static void contacts_update(Od__Contacts_Service *service, const Od__UpdateContactRequest *in,
                            Od__Contact_Closure closure, void *closure_data)
{
    struct rpc_call *call = closure_data;
    Od__ContactInput check = OD__CONTACT_INPUT__INIT;
    const char *reason;
    PGresult *res;

    if (contacts_require_org(call) != 0) {
        closure(NULL, closure_data);
        return;
    }
    /* Validate the fields being set with the same rules as a new contact. */
    check.name = in->set_name ? in->name : (char *)"";
    check.phone_number = in->set_phone_number ? in->phone_number : (char *)"+10000000000";
    check.language = in->set_language ? in->language : (char *)"";
    check.metadata_json = in->set_metadata ? in->metadata_json : (char *)"";
    if ((reason = contacts_validate_input(&check)) != NULL) {
        rpc_fail(call, OD__STATUS__INVALID, "%s", reason);
        closure(NULL, closure_data);
        return;
    }
    const char *params[] = {call->org_id,
                            in->id,
                            in->set_name ? "t" : "f",
                            nullable(in->name),
                            in->set_phone_number ? "t" : "f",
                            in->phone_number,
                            in->set_language ? "t" : "f",
                            nullable(in->language),
                            in->set_metadata ? "t" : "f",
                            nullable(in->metadata_json) ? in->metadata_json : "{}"};
    res = db_exec(call->db,
                  "UPDATE contacts.contacts SET "
                  " name = CASE WHEN $3::bool THEN $4 ELSE name END,"
                  " phone_number = CASE WHEN $5::bool THEN $6 ELSE phone_number END,"
                  " language = CASE WHEN $7::bool THEN $8 ELSE language END,"
                  " metadata = CASE WHEN $9::bool THEN $10::jsonb ELSE metadata END,"
                  " updated_at = now() "
                  "WHERE org_id = $1 AND id = $2 RETURNING " CONTACT_COLUMNS,
                  10, params);
    contacts_reply_one(call, res, "update contact", closure);
    PQclear(res);
}

static void contacts_delete(Od__Contacts_Service *service, const Od__DeleteContactRequest *in,
                            Od__Empty_Closure closure, void *closure_data)
{
    struct rpc_call *call = closure_data;
    Od__Empty empty = OD__EMPTY__INIT;
    const char *params[] = {call->org_id, in->id};
    PGresult *res;

    if (contacts_require_org(call) != 0) {
        closure(NULL, closure_data);
        return;
    }
    res = db_exec(call->db, "DELETE FROM contacts.contacts WHERE org_id = $1 AND id = $2", 2, params);
    if (!db_ok(res))
        contacts_fail_sql(call, res, "delete contact");
    else if (strcmp(PQcmdTuples(res), "0") == 0)
        rpc_fail(call, OD__STATUS__NOT_FOUND, "contact not found");
    closure(call->status == OD__STATUS__OK ? &empty : NULL, closure_data);
    PQclear(res);
}

/* Escapes LIKE wildcards so a search for "50%" means the characters, not a pattern. */
static char *contacts_like_pattern(const char *search)
{
    size_t len = strlen(search);
    char *out = malloc(len * 2 + 3), *p = out;
    if (out == NULL)
        return NULL;
    *p++ = '%';
    for (const char *s = search; *s; s++) {
        if (*s == '%' || *s == '_' || *s == '\\')
            *p++ = '\\';
        *p++ = *s;
    }
    *p++ = '%';
    *p = '\0';
    return out;
}

static void contacts_list(Od__Contacts_Service *service, const Od__ListContactsRequest *in,
                          Od__ListContactsReply_Closure closure, void *closure_data)
{
    struct rpc_call *call = closure_data;
    Od__ListContactsReply reply = OD__LIST_CONTACTS_REPLY__INIT;
    Od__Contact *store = NULL;
    PGresult *count = NULL, *rows = NULL;
    char *pattern = NULL;
    char limit_text[16], offset_text[24];
    int limit = in->limit, page = in->page;

    if (contacts_require_org(call) != 0)
        goto done;
    if (limit < 1 || limit > 100 || page < 1 || page > 1000000 ||
        strlen(in->search) > CONTACTS_SEARCH_MAX) {
        rpc_fail(call, OD__STATUS__INVALID, "page must be >= 1 and limit between 1 and 100");
        goto done;
    }
    pattern = in->search[0] ? contacts_like_pattern(in->search) : NULL;
    snprintf(limit_text, sizeof limit_text, "%d", limit);
    snprintf(offset_text, sizeof offset_text, "%lld", (long long)(page - 1) * limit);
    const char *params[] = {call->org_id, pattern, limit_text, offset_text};
#define CONTACTS_LIST_WHERE " WHERE org_id = $1 AND ($2::text IS NULL OR name ILIKE $2 OR phone_number LIKE $2)"
    count = db_exec(call->db, "SELECT count(*) FROM contacts.contacts" CONTACTS_LIST_WHERE, 2, params);
    if (!db_ok(count)) {
        contacts_fail_sql(call, count, "count contacts");
        goto done;
    }
    rows = db_exec(call->db,
                   "SELECT " CONTACT_COLUMNS " FROM contacts.contacts" CONTACTS_LIST_WHERE
                   " ORDER BY created_at DESC, id LIMIT $3::int OFFSET $4::bigint",
                   4, params);
#undef CONTACTS_LIST_WHERE
    if (!db_ok(rows)) {
        contacts_fail_sql(call, rows, "list contacts");
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
        contacts_from_row(rows, (int)i, &store[i]);
        reply.data[i] = &store[i];
    }
done:
    closure(call->status == OD__STATUS__OK ? &reply : NULL, closure_data);
    PQclear(count);
    PQclear(rows);
    free(pattern);
    free(store);
    free(reply.data);
}

Od__Contacts_Service contacts_service = OD__CONTACTS__INIT(contacts_);
