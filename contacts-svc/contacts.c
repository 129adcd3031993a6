/* The Contacts RPC service: CRUD and the paged list (BulkUpsert is in bulk.c). Every
 * statement is scoped to the caller's organization; another organization's contact is
 * NOT_FOUND.
 *
 * Memory: reply strings point into the request or into PGresults cleared after the closure;
 * lists are malloc'd by the handler and freed after the closure. */
#include "contacts.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulk.h"
#include "copytext.h"
#include "db.h"
#include "ids.h"
#include "od_names.h"
#include "rpc.h"
#include "rpc_util.h"
#include "validate.h"

#define CONTACT_COLUMNS CONTACT_COLUMNS_OF("")

void contacts_from_row(const PGresult *res, int row, void *contact)
{
    Od__Contact *c = contact;
    od__contact__init(c);
    c->id = PQgetvalue(res, row, CONTACT_COL_ID);
    c->name = PQgetvalue(res, row, CONTACT_COL_NAME);
    c->phone_number = PQgetvalue(res, row, CONTACT_COL_PHONE_NUMBER);
    c->language = PQgetvalue(res, row, CONTACT_COL_LANGUAGE);
    c->metadata_json = PQgetvalue(res, row, CONTACT_COL_METADATA);
    if (PQnfields(res) > CONTACT_COL_UPDATED_AT) {
        c->created_at = PQgetvalue(res, row, CONTACT_COL_CREATED_AT);
        c->updated_at = PQgetvalue(res, row, CONTACT_COL_UPDATED_AT);
    }
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

    if (rpc_require_org(call) != 0)
        goto fail;
    if ((reason = contacts_validate_input(in)) != NULL) {
        rpc_fail(call, OD__STATUS__INVALID, "%s", reason);
        goto fail;
    }
    const char *params[] = {ids_new_ordered(ID_PREFIX_CONTACT, id, sizeof id), call->org_id,
                            rpc_nullable(in->name), in->phone_number, rpc_nullable(in->language),
                            rpc_nullable(in->metadata_json) ? in->metadata_json : "{}"};
    res = db_exec(call->db,
                  "INSERT INTO contacts.contacts (id, org_id, name, phone_number, language, metadata) "
                  "VALUES ($1, $2, $3, $4, $5, $6::jsonb) RETURNING " CONTACT_COLUMNS,
                  6, params);
    if (!db_ok(res)) {
        if (strcmp(db_sqlstate(res), "23505") == 0)
            rpc_fail(call, OD__STATUS__CONFLICT, "a contact with phoneNumber %s already exists",
                     in->phone_number);
        else
            rpc_fail_sql(call, res, "create contact");
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
    if (!db_ok(res) && strcmp(db_sqlstate(res), "23505") == 0)
        rpc_fail(call, OD__STATUS__CONFLICT, "another contact already has that phoneNumber");
    else if (rpc_one_row(call, res, what, "contact not found") == 0)
        contacts_from_row(res, 0, &contact);
    closure(call->status == OD__STATUS__OK ? &contact : NULL, call);
}

static void contacts_get(Od__Contacts_Service *service, const Od__GetContactRequest *in,
                         Od__Contact_Closure closure, void *closure_data)
{
    struct rpc_call *call = closure_data;
    const char *params[] = {call->org_id, in->id};
    PGresult *res;

    if (rpc_require_org(call) != 0) {
        closure(NULL, closure_data);
        return;
    }
    static const char sql[] =
        "SELECT " CONTACT_COLUMNS " FROM contacts.contacts WHERE org_id = $1 AND id = $2";
    res = db_exec_prepared(call->db, sql, 2, params);
    contacts_reply_one(call, res, "get contact", closure);
    PQclear(res);
}

static void contacts_get_many(Od__Contacts_Service *service, const Od__GetManyContactsRequest *in,
                              Od__GetManyContactsReply_Closure closure, void *closure_data)
{
    struct rpc_call *call = closure_data;
    Od__GetManyContactsReply reply = OD__GET_MANY_CONTACTS_REPLY__INIT;
    Od__Contact store[CONTACTS_GET_MANY_MAX], *list[CONTACTS_GET_MANY_MAX];
    struct copytext ids = {0};
    const char *array;
    PGresult *res = NULL;

    if (rpc_require_org(call) != 0)
        goto fail;
    if (in->n_ids > CONTACTS_GET_MANY_MAX) {
        rpc_fail(call, OD__STATUS__INVALID, "at most %d ids", CONTACTS_GET_MANY_MAX);
        goto fail;
    }
    /* an id that cannot be a contact's names none: simply absent from the reply */
    for (size_t i = 0; i < in->n_ids; i++)
        if (ids_valid(ID_PREFIX_CONTACT, in->ids[i]))
            copytext_array_add(&ids, in->ids[i]);
    if ((array = copytext_array_end(&ids)) == NULL) {
        rpc_fail(call, OD__STATUS__INTERNAL, "out of memory");
        goto fail;
    }
    static const char sql[] = "SELECT " CONTACT_COLUMNS " FROM contacts.contacts"
                              " WHERE org_id = $1 AND id = ANY ($2::text[])";
    const char *params[] = {call->org_id, array};
    res = db_exec_prepared(call->db, sql, 2, params);
    if (!db_ok(res)) {
        rpc_fail_sql(call, res, "get contacts");
        goto fail;
    }
    /* at most one row per distinct id asked for, so never more than CONTACTS_GET_MANY_MAX */
    for (int i = 0; i < PQntuples(res) && i < CONTACTS_GET_MANY_MAX; i++) {
        contacts_from_row(res, i, &store[i]);
        list[reply.n_contacts++] = &store[i];
    }
    reply.contacts = list;
    closure(&reply, closure_data);
    PQclear(res);
    free(ids.data);
    return;
fail:
    closure(NULL, closure_data);
    PQclear(res);
    free(ids.data);
}

static void contacts_update(Od__Contacts_Service *service, const Od__UpdateContactRequest *in,
                            Od__Contact_Closure closure, void *closure_data)
{
    struct rpc_call *call = closure_data;
    Od__ContactInput check = OD__CONTACT_INPUT__INIT;
    const char *reason;
    PGresult *res;

    if (rpc_require_org(call) != 0) {
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
                            rpc_nullable(in->name),
                            in->set_phone_number ? "t" : "f",
                            in->phone_number,
                            in->set_language ? "t" : "f",
                            rpc_nullable(in->language),
                            in->set_metadata ? "t" : "f",
                            rpc_nullable(in->metadata_json) ? in->metadata_json : "{}"};
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

    if (rpc_require_org(call) == 0)
        rpc_exec_by_id(call, "DELETE FROM contacts.contacts WHERE org_id = $1 AND id = $2", in->id,
                       "delete contact", "contact not found");
    closure(call->status == OD__STATUS__OK ? &empty : NULL, closure_data);
}

/* A list's total is counted up to this many matches (GET /v1/contacts answers
 * "totalIsEstimate": true when it reached it). */
#define CONTACTS_COUNT_BOUND 10001
#define CONTACTS_COUNT_BOUND_SQL "10001"

#define CONTACTS_LIST_WHERE                                                                    \
    " WHERE org_id = $1 AND ($2::text IS NULL OR name ILIKE $2 OR phone_number LIKE $2)"

/* Keyset cursors: opaque to clients, "ck" and the hex of the last contact id a page held
 * (lists are ordered by id, newest first). 0 with the id in out, -1 when it is not one of
 * ours. */
static int contacts_cursor_decode(const char *cursor, char *out, size_t size)
{
    size_t len = strlen(cursor), n = 0;
    if (len < 4 || len % 2 != 0 || strncmp(cursor, "ck", 2) != 0 || (len - 2) / 2 >= size)
        return -1;
    for (const char *p = cursor + 2; *p; p += 2) {
        unsigned hi, lo;
        if (sscanf(p, "%1x%1x", &hi, &lo) != 2)
            return -1;
        out[n++] = (char)(hi << 4 | lo);
    }
    out[n] = '\0';
    return ids_valid(ID_PREFIX_CONTACT, out) ? 0 : -1;
}

static void contacts_cursor_encode(const char *id, char *out, size_t size)
{
    size_t n = (size_t)snprintf(out, size, "ck");
    for (const char *p = id; *p && n + 3 <= size; p++)
        n += (size_t)snprintf(out + n, size - n, "%02x", (unsigned char)*p);
}

static void contacts_list(Od__Contacts_Service *service, const Od__ListContactsRequest *in,
                          Od__ListContactsReply_Closure closure, void *closure_data)
{
    struct rpc_call *call = closure_data;
    Od__ListContactsReply reply = OD__LIST_CONTACTS_REPLY__INIT;
    struct rpc_list list = {0};
    char after[IDS_MAX_LEN], next[2 * IDS_MAX_LEN + 4] = "";
    bool keyset = in->cursor != NULL && in->cursor[0] != '\0';
    const char *extra[] = {after};
    /* Page/limit (OFFSET) and keyset (id < the cursor's id) share the filter and the bounded
     * count; the keyset count mentions $3 (always set) only so that its type is known. */
    const struct rpc_list_query q = {
        .what = "list contacts",
        /* Bounded: counting a large organization's matches on every page cost as much as
         * the page itself; past the bound the answer is "at least" (total_is_estimate). */
        .count_sql = keyset ? "SELECT count(*) FROM (SELECT 1 FROM contacts.contacts"
                              CONTACTS_LIST_WHERE " AND $3::text IS NOT NULL LIMIT "
                              CONTACTS_COUNT_BOUND_SQL ") bounded"
                            : "SELECT count(*) FROM (SELECT 1 FROM contacts.contacts"
                              CONTACTS_LIST_WHERE " LIMIT " CONTACTS_COUNT_BOUND_SQL ") bounded",
        .rows_sql = keyset ? "SELECT " CONTACT_COLUMNS " FROM contacts.contacts"
                             CONTACTS_LIST_WHERE " AND id < $5 ORDER BY id DESC LIMIT $3::int "
                             "OFFSET $4::bigint"
                           : "SELECT " CONTACT_COLUMNS " FROM contacts.contacts"
                             CONTACTS_LIST_WHERE " ORDER BY id DESC LIMIT $3::int "
                             "OFFSET $4::bigint",
        .page = keyset ? 1 : in->page, .limit = in->limit, .max_limit = CONTACTS_LIST_LIMIT_MAX,
        .search = in->search,
        .extra = keyset ? extra : NULL,
        .nextra = keyset ? 1 : 0,
    };
    (void)service;

    if (keyset && contacts_cursor_decode(in->cursor, after, sizeof after) != 0) {
        rpc_fail(call, OD__STATUS__INVALID, "cursor is not one this list gave");
    } else if (rpc_list_map(call, &q, sizeof(Od__Contact), contacts_from_row, &list) == 0) {
        RPC_LIST_REPLY(reply, list);
        reply.total_is_estimate = reply.total >= CONTACTS_COUNT_BOUND;
        /* A full page may have a next one: its cursor is the last id shown. */
        if (list.rows.n > 0 && list.rows.n == (size_t)in->limit)
            contacts_cursor_encode(((Od__Contact *)list.rows.data[list.rows.n - 1])->id, next,
                                   sizeof next);
        reply.next_cursor = next;
    }
    closure(call->status == OD__STATUS__OK ? &reply : NULL, closure_data);
    rpc_list_free(&list);
}

Od__Contacts_Service contacts_service = OD__CONTACTS__INIT(contacts_);
