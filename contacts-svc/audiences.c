/* The Audiences RPC service: named groups of an organization's contacts.
 *
 * Every statement is scoped to the caller's organization; another organization's audience or
 * contact is NOT_FOUND. Membership changes are one set-based statement each; contact_count is
 * kept exact by the triggers of migration 002 (same transaction as the change, and also when a
 * contact is deleted and its memberships cascade away).
 *
 * Memory: reply strings point into the request or into PGresults that are cleared only after
 * the closure has run (the closure packs the reply). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audiences.h"

#include "contacts.h"
#include "copytext.h"
#include "db.h"
#include "ids.h"
#include "log.h"
#include "od_names.h"
#include "rpc.h"
#include "rpc_util.h"

/* Columns every audience read returns, in the order of enum audience_column. */
#define AUDIENCE_COLUMNS                                                                       \
    "id, name, coalesce(description, ''), contact_count, " SQL_ISO_MS("created_at") ", "       \
    SQL_ISO_MS("updated_at")
enum audience_column {
    AUDIENCE_COL_ID,
    AUDIENCE_COL_NAME,
    AUDIENCE_COL_DESCRIPTION,
    AUDIENCE_COL_CONTACT_COUNT,
    AUDIENCE_COL_CREATED_AT,
    AUDIENCE_COL_UPDATED_AT,
};

/* Points the message's strings into the result: valid until PQclear(res). */
static void audiences_from_row(const PGresult *res, int row, void *message)
{
    Od__Audience *a = message;
    od__audience__init(a);
    a->id = PQgetvalue(res, row, AUDIENCE_COL_ID);
    a->name = PQgetvalue(res, row, AUDIENCE_COL_NAME);
    a->description = PQgetvalue(res, row, AUDIENCE_COL_DESCRIPTION);
    a->contact_count = strtoll(PQgetvalue(res, row, AUDIENCE_COL_CONTACT_COUNT), NULL, 10);
    a->created_at = PQgetvalue(res, row, AUDIENCE_COL_CREATED_AT);
    a->updated_at = PQgetvalue(res, row, AUDIENCE_COL_UPDATED_AT);
}

/* NULL when the name (required when `required`) and description are acceptable. */
static const char *audiences_validate(const char *name, int check_name, const char *description,
                                      int check_description)
{
    if (check_name) {
        size_t len = strlen(name), blank = strspn(name, " \t\r\n");
        if (len == 0 || blank == len)
            return "name is required";
        if (len > AUDIENCES_NAME_MAX)
            return "name must be at most 256 bytes";
    }
    if (check_description && strlen(description) > AUDIENCES_DESCRIPTION_MAX)
        return "description must be at most 2000 bytes";
    return NULL;
}

/* Sends the single audience a statement returned, or NOT_FOUND when it returned none. */
static void audiences_reply_one(struct rpc_call *call, PGresult *res, const char *what,
                                Od__Audience_Closure closure)
{
    Od__Audience audience;
    if (rpc_one_row(call, res, what, "audience not found") != 0) {
        closure(NULL, call);
        return;
    }
    audiences_from_row(res, 0, &audience);
    closure(&audience, call);
}

/* ---------------- the audience itself ---------------- */

static void audiences_create(Od__Audiences_Service *service, const Od__CreateAudienceRequest *in,
                             Od__Audience_Closure closure, void *closure_data)
{
    struct rpc_call *call = closure_data;
    const char *reason;
    char id[IDS_MAX_LEN];
    PGresult *res;

    if (rpc_require_org(call) != 0) {
        closure(NULL, call);
        return;
    }
    if ((reason = audiences_validate(in->name, 1, in->description, 1)) != NULL) {
        rpc_fail(call, OD__STATUS__INVALID, "%s", reason);
        closure(NULL, call);
        return;
    }
    const char *params[] = {ids_new_ordered(ID_PREFIX_AUDIENCE, id, sizeof id), call->org_id,
                            in->name, rpc_nullable(in->description)};
    res = db_exec(call->db,
                  "INSERT INTO contacts.audiences (id, org_id, name, description) "
                  "VALUES ($1, $2, $3, $4) RETURNING " AUDIENCE_COLUMNS,
                  4, params);
    audiences_reply_one(call, res, "create audience", closure);
    PQclear(res);
}

static void audiences_get(Od__Audiences_Service *service, const Od__GetAudienceRequest *in,
                          Od__Audience_Closure closure, void *closure_data)
{
    struct rpc_call *call = closure_data;
    Od__Audience audience;
    PGresult *res = rpc_fetch_by_id(call,
                                    "SELECT " AUDIENCE_COLUMNS " FROM contacts.audiences"
                                    " WHERE org_id = $1 AND id = $2",
                                    in->id, "get audience", "audience not found",
                                    audiences_from_row, &audience);

    closure(res != NULL ? &audience : NULL, call);
    PQclear(res);
}

static void audiences_update(Od__Audiences_Service *service, const Od__UpdateAudienceRequest *in,
                             Od__Audience_Closure closure, void *closure_data)
{
    struct rpc_call *call = closure_data;
    const char *reason;
    PGresult *res;

    if (rpc_require_org(call) != 0) {
        closure(NULL, call);
        return;
    }
    if ((reason = audiences_validate(in->name, in->set_name, in->description,
                                     in->set_description)) != NULL) {
        rpc_fail(call, OD__STATUS__INVALID, "%s", reason);
        closure(NULL, call);
        return;
    }
    const char *params[] = {call->org_id,
                            in->id,
                            in->set_name ? "t" : "f",
                            in->name,
                            in->set_description ? "t" : "f",
                            rpc_nullable(in->description)};
    res = db_exec(call->db,
                  "UPDATE contacts.audiences SET "
                  " name = CASE WHEN $3::bool THEN $4 ELSE name END,"
                  " description = CASE WHEN $5::bool THEN $6 ELSE description END,"
                  " updated_at = now() "
                  "WHERE org_id = $1 AND id = $2 RETURNING " AUDIENCE_COLUMNS,
                  6, params);
    audiences_reply_one(call, res, "update audience", closure);
    PQclear(res);
}

static void audiences_delete(Od__Audiences_Service *service, const Od__DeleteAudienceRequest *in,
                             Od__Empty_Closure closure, void *closure_data)
{
    struct rpc_call *call = closure_data;
    Od__Empty empty = OD__EMPTY__INIT;

    /* Members go with it (ON DELETE CASCADE). */
    if (rpc_require_org(call) == 0)
        rpc_exec_by_id(call, "DELETE FROM contacts.audiences WHERE org_id = $1 AND id = $2",
                       in->id, "delete audience", "audience not found");
    closure(call->status == OD__STATUS__OK ? &empty : NULL, call);
}

#define AUDIENCES_LIST_WHERE " WHERE org_id = $1 AND ($2::text IS NULL OR name ILIKE $2)"

static void audiences_list(Od__Audiences_Service *service, const Od__ListAudiencesRequest *in,
                           Od__ListAudiencesReply_Closure closure, void *closure_data)
{
    struct rpc_call *call = closure_data;
    Od__ListAudiencesReply reply = OD__LIST_AUDIENCES_REPLY__INIT;
    struct rpc_list list;
    const struct rpc_list_query q = {
        .what = "list audiences",
        .count_sql = "SELECT count(*) FROM contacts.audiences" AUDIENCES_LIST_WHERE,
        .rows_sql = "SELECT " AUDIENCE_COLUMNS " FROM contacts.audiences" AUDIENCES_LIST_WHERE
                    " ORDER BY id DESC LIMIT $3::int OFFSET $4::bigint",
        .page = in->page, .limit = in->limit, .max_limit = AUDIENCES_LIST_LIMIT_MAX,
        .search = in->search,
    };

    if (rpc_list_map(call, &q, sizeof(Od__Audience), audiences_from_row, &list) == 0)
        RPC_LIST_REPLY(reply, list);
    closure(call->status == OD__STATUS__OK ? &reply : NULL, call);
    rpc_list_free(&list);
}

/* ---------------- membership ---------------- */

/* One distinct contact id of a request and where it first appeared. */
struct member_id {
    const char *id;
    int index;
};

static int member_id_by_text(const void *a, const void *b)
{
    const struct member_id *x = a, *y = b;
    int c = strcmp(x->id, y->id);
    return c != 0 ? c : (x->index - y->index);
}

static int member_id_by_index(const void *a, const void *b)
{
    return ((const struct member_id *)a)->index - ((const struct member_id *)b)->index;
}

static struct member_id *member_id_find(struct member_id *ids, size_t n, const char *id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(ids[mid].id, id);
        if (c == 0)
            return &ids[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* $1 org, $2 audience, $3 the distinct well-formed contact ids. Returns one row with a NULL
 * first column holding (changed, found), and one row per id that is not a contact of the
 * organization. */
static const char add_members_sql[] =
    "WITH found AS (SELECT c.id FROM contacts.contacts c"
    "               WHERE c.org_id = $1 AND c.id = ANY ($3::text[])),"
    " changed AS (INSERT INTO contacts.audience_members (org_id, audience_id, contact_id)"
    "             SELECT $1, $2, id FROM found ORDER BY id"
    "             ON CONFLICT DO NOTHING RETURNING 1) "
    "SELECT NULL::text, (SELECT count(*) FROM changed), (SELECT count(*) FROM found) "
    "UNION ALL "
    "SELECT r.id, NULL, NULL FROM unnest($3::text[]) AS r(id)"
    " WHERE NOT EXISTS (SELECT 1 FROM found f WHERE f.id = r.id)";
static const char remove_members_sql[] =
    "WITH found AS (SELECT c.id FROM contacts.contacts c"
    "               WHERE c.org_id = $1 AND c.id = ANY ($3::text[])),"
    " changed AS (DELETE FROM contacts.audience_members m"
    "             WHERE m.org_id = $1 AND m.audience_id = $2 AND m.contact_id = ANY ($3::text[])"
    "             RETURNING 1) "
    "SELECT NULL::text, (SELECT count(*) FROM changed), (SELECT count(*) FROM found) "
    "UNION ALL "
    "SELECT r.id, NULL, NULL FROM unnest($3::text[]) AS r(id)"
    " WHERE NOT EXISTS (SELECT 1 FROM found f WHERE f.id = r.id)";

enum members_column { MEMBERS_COL_MISSING_ID, MEMBERS_COL_CHANGED, MEMBERS_COL_FOUND };

struct member_change {
    int32_t changed;      /* added or removed */
    int32_t unchanged;    /* already members, or contacts that were not members */
    char **not_found;     /* in request order; strings point into the request */
    size_t n_not_found;
    int64_t contact_count;
};

/* Adds or removes members in one transaction. 0 on success, else the call has failed. */
static int audiences_change_members(struct rpc_call *call, const Od__AudienceMembersRequest *in,
                                    int add, struct member_change *out)
{
    size_t n = in->n_contact_ids, ndistinct = 0, nvalid = 0;
    struct member_id *ids = NULL, *missing = NULL;
    size_t nmissing = 0;
    struct copytext valid = {0};
    const char *array;
    PGresult *res = NULL;
    int rc = -1;

    memset(out, 0, sizeof *out);
    if (rpc_require_org(call) != 0)
        return -1;
    if (n == 0) {
        rpc_fail(call, OD__STATUS__INVALID, "contactIds must not be empty");
        return -1;
    }
    if (n > AUDIENCES_MEMBERS_MAX) {
        rpc_fail(call, OD__STATUS__INVALID, "contactIds must hold at most %d ids",
                 AUDIENCES_MEMBERS_MAX);
        return -1;
    }
    ids = calloc(n, sizeof *ids);
    missing = calloc(n, sizeof *missing);
    out->not_found = calloc(n, sizeof *out->not_found);
    if (ids == NULL || missing == NULL || out->not_found == NULL)
        goto oom;

    /* Distinct ids, each at its first position. Ids that cannot be a contact's are not found
     * without asking. */
    for (size_t i = 0; i < n; i++)
        ids[i] = (struct member_id){in->contact_ids[i], (int)i};
    qsort(ids, n, sizeof *ids, member_id_by_text);
    for (size_t i = 0; i < n; i++) {
        if (ndistinct > 0 && strcmp(ids[ndistinct - 1].id, ids[i].id) == 0)
            continue;
        ids[ndistinct++] = ids[i];
    }
    for (size_t i = 0; i < ndistinct; i++) {
        if (ids_valid(ID_PREFIX_CONTACT, ids[i].id)) {
            copytext_array_add(&valid, ids[i].id);
            nvalid++;
        } else {
            missing[nmissing++] = ids[i];
        }
    }
    if ((array = copytext_array_end(&valid)) == NULL)
        goto oom;

    if (db_begin(call->db) != 0) {
        rpc_fail(call, OD__STATUS__UNAVAILABLE, "database unavailable");
        goto out;
    }
    const char *params[] = {call->org_id, in->audience_id, array};
    /* The audience must exist; the lock keeps it from being deleted under the change. */
    res = db_exec(call->db,
                  "SELECT 1 FROM contacts.audiences WHERE org_id = $1 AND id = $2 FOR KEY SHARE",
                  2, params);
    if (!db_ok(res)) {
        rpc_fail_sql(call, res, "find audience");
        goto rollback;
    }
    if (PQntuples(res) == 0) {
        rpc_fail(call, OD__STATUS__NOT_FOUND, "audience not found");
        goto rollback;
    }
    PQclear(res);
    res = NULL;
    if (nvalid > 0) {
        res = db_exec(call->db, add ? add_members_sql : remove_members_sql, 3, params);
        if (!db_ok(res)) {
            if (strcmp(db_sqlstate(res), "23503") == 0) /* a contact deleted meanwhile */
                rpc_fail(call, OD__STATUS__CONFLICT,
                         "a contact was deleted while it was being added; try again");
            else
                rpc_fail_sql(call, res, add ? "add members" : "remove members");
            goto rollback;
        }
        for (int r = 0; r < PQntuples(res); r++) {
            if (PQgetisnull(res, r, MEMBERS_COL_MISSING_ID)) {
                long long changed = strtoll(PQgetvalue(res, r, MEMBERS_COL_CHANGED), NULL, 10);
                long long found = strtoll(PQgetvalue(res, r, MEMBERS_COL_FOUND), NULL, 10);
                out->changed = (int32_t)changed;
                out->unchanged = (int32_t)(found - changed);
                continue;
            }
            struct member_id *m =
                member_id_find(ids, ndistinct, PQgetvalue(res, r, MEMBERS_COL_MISSING_ID));
            if (m != NULL)
                missing[nmissing++] = *m;
        }
        PQclear(res);
        res = NULL;
    }
    res = db_exec(call->db,
                  "SELECT contact_count FROM contacts.audiences WHERE org_id = $1 AND id = $2",
                  2, params);
    if (!db_ok(res) || PQntuples(res) != 1) {
        rpc_fail_sql(call, res, "count members");
        goto rollback;
    }
    out->contact_count = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    if (db_commit(call->db) != 0) {
        rpc_fail(call, OD__STATUS__UNAVAILABLE, "commit failed");
        goto rollback;
    }
    qsort(missing, nmissing, sizeof *missing, member_id_by_index);
    for (size_t i = 0; i < nmissing; i++)
        out->not_found[out->n_not_found++] = (char *)missing[i].id;
    log_info(call->request_id, "%s members org=%s audience=%s ids=%zu changed=%d unchanged=%d "
             "not_found=%zu", add ? "add" : "remove", call->org_id, in->audience_id, n,
             out->changed, out->unchanged, out->n_not_found);
    rc = 0;
    goto out;
oom:
    rpc_fail(call, OD__STATUS__INTERNAL, "out of memory");
    goto out;
rollback:
    db_rollback(call->db);
out:
    PQclear(res);
    free(valid.data);
    free(ids);
    free(missing);
    if (rc != 0) {
        free(out->not_found);
        out->not_found = NULL;
        out->n_not_found = 0;
    }
    return rc;
}

static void audiences_add_members(Od__Audiences_Service *service,
                                  const Od__AudienceMembersRequest *in,
                                  Od__AddMembersReply_Closure closure, void *closure_data)
{
    struct rpc_call *call = closure_data;
    Od__AddMembersReply reply = OD__ADD_MEMBERS_REPLY__INIT;
    struct member_change change;

    if (audiences_change_members(call, in, 1, &change) != 0) {
        closure(NULL, call);
        return;
    }
    reply.added = change.changed;
    reply.already_members = change.unchanged;
    reply.not_found = change.not_found;
    reply.n_not_found = change.n_not_found;
    reply.contact_count = change.contact_count;
    closure(&reply, call);
    free(change.not_found);
}

static void audiences_remove_members(Od__Audiences_Service *service,
                                     const Od__AudienceMembersRequest *in,
                                     Od__RemoveMembersReply_Closure closure, void *closure_data)
{
    struct rpc_call *call = closure_data;
    Od__RemoveMembersReply reply = OD__REMOVE_MEMBERS_REPLY__INIT;
    struct member_change change;

    if (audiences_change_members(call, in, 0, &change) != 0) {
        closure(NULL, call);
        return;
    }
    reply.removed = change.changed;
    reply.not_members = change.unchanged;
    reply.not_found = change.not_found;
    reply.n_not_found = change.n_not_found;
    reply.contact_count = change.contact_count;
    closure(&reply, call);
    free(change.not_found);
}

/* Reads the audience's member count; NOT_FOUND (and -1) when there is no such audience. */
static int audiences_count(struct rpc_call *call, const char *audience_id, int64_t *count)
{
    const char *params[] = {call->org_id, audience_id};
    PGresult *res = db_exec(call->db,
                            "SELECT contact_count FROM contacts.audiences "
                            "WHERE org_id = $1 AND id = $2",
                            2, params);
    int rc = rpc_one_row(call, res, "find audience", "audience not found");
    if (rc == 0)
        *count = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return rc;
}

static void audiences_list_members(Od__Audiences_Service *service,
                                   const Od__ListMembersRequest *in,
                                   Od__ListContactsReply_Closure closure, void *closure_data)
{
    struct rpc_call *call = closure_data;
    Od__ListContactsReply reply = OD__LIST_CONTACTS_REPLY__INIT;
    struct rpc_rows contacts = {0};
    PGresult *rows = NULL;
    char limit_text[RPC_PAGE_TEXT], offset_text[RPC_PAGE_TEXT];

    if (rpc_require_org(call) != 0 ||
        rpc_page_params(call, in->page, in->limit, AUDIENCES_LIST_LIMIT_MAX, limit_text,
                        offset_text) != 0 ||
        audiences_count(call, in->audience_id, &reply.total) != 0)
        goto done;
    const char *params[] = {call->org_id, in->audience_id, limit_text, offset_text};
    rows = db_exec(call->db,
                   "SELECT " CONTACT_COLUMNS_OF("c.") " FROM contacts.audience_members m"
                   " JOIN contacts.contacts c ON c.org_id = m.org_id AND c.id = m.contact_id"
                   " WHERE m.org_id = $1 AND m.audience_id = $2"
                   " ORDER BY m.contact_id DESC LIMIT $3::int OFFSET $4::bigint",
                   4, params);
    if (!db_ok(rows)) {
        rpc_fail_sql(call, rows, "list members");
        goto done;
    }
    if (rpc_rows_map(call, rows, sizeof(Od__Contact), contacts_from_row, &contacts) == 0) {
        reply.n_data = contacts.n;
        reply.data = (Od__Contact **)contacts.data;
    }
done:
    closure(call->status == OD__STATUS__OK ? &reply : NULL, call);
    PQclear(rows);
    rpc_rows_free(&contacts);
}

/* Keyset pages in contact id order: campaign-svc snapshots an audience with this. Each page is
 * one range scan of the members' primary key, then a primary-key lookup per contact. */
static void audiences_list_audience_members(Od__Audiences_Service *service,
                                            const Od__ListAudienceMembersRequest *in,
                                            Od__ListAudienceMembersReply_Closure closure,
                                            void *closure_data)
{
    struct rpc_call *call = closure_data;
    Od__ListAudienceMembersReply reply = OD__LIST_AUDIENCE_MEMBERS_REPLY__INIT;
    struct rpc_rows contacts = {0};
    PGresult *rows = NULL;
    int64_t count;
    int limit = in->limit == 0 ? AUDIENCES_SNAPSHOT_PAGE_MAX : in->limit;
    char limit_text[16];

    if (rpc_require_org(call) != 0)
        goto done;
    if (limit < 1 || limit > AUDIENCES_SNAPSHOT_PAGE_MAX) {
        rpc_fail(call, OD__STATUS__INVALID, "limit must be between 1 and %d",
                 AUDIENCES_SNAPSHOT_PAGE_MAX);
        goto done;
    }
    if (audiences_count(call, in->audience_id, &count) != 0)
        goto done;
    snprintf(limit_text, sizeof limit_text, "%d", limit);
    const char *params[] = {call->org_id, in->audience_id, in->after_contact_id, limit_text};
    rows = db_exec(call->db, AUDIENCES_SNAPSHOT_PAGE_SQL, 4, params);
    if (!db_ok(rows)) {
        rpc_fail_sql(call, rows, "list audience members");
        goto done;
    }
    if (rpc_rows_map(call, rows, sizeof(Od__Contact), contacts_from_row, &contacts) != 0)
        goto done;
    reply.n_contacts = contacts.n;
    reply.contacts = (Od__Contact **)contacts.data;
    {
        /* Stop a page early when it would not fit one RPC reply (10,000 contacts with large
         * metadata can exceed RPC_MAX_MESSAGE_BYTES, and an oversized reply resets the
         * connection for every caller); the caller continues from next_after_contact_id. */
        size_t bytes = 0, keep = reply.n_contacts;
        for (size_t i = 0; i < reply.n_contacts; i++) {
            const Od__Contact *c = reply.contacts[i];
            bytes += strlen(c->id) + strlen(c->name) + strlen(c->phone_number) +
                     strlen(c->language) + strlen(c->metadata_json) + 32;
            if (bytes > AUDIENCES_SNAPSHOT_PAGE_BYTES && i > 0) {
                keep = i;
                break;
            }
        }
        if (keep < reply.n_contacts || reply.n_contacts == (size_t)limit) {
            reply.n_contacts = keep;
            reply.next_after_contact_id = reply.contacts[keep - 1]->id;
        }
    }
done:
    closure(call->status == OD__STATUS__OK ? &reply : NULL, call);
    PQclear(rows);
    rpc_rows_free(&contacts);
}

Od__Audiences_Service audiences_service = OD__AUDIENCES__INIT(audiences_);
