/* The Agents (flows) and PhoneNumbers (caller IDs) RPC services.
 *
 * Agents are versioned: create writes version 1 to agent_versions, every update bumps
 * current_version and writes the new version there, so a campaign pinned to a version dials
 * with exactly what it said. Delete is soft (pinned versions stay readable) and CONFLICT while
 * a SCHEDULED, IN_PROGRESS or PAUSED campaign uses the agent.
 *
 * Caller IDs: the first number of an organization is its default; deleting a number that a
 * scheduled, running or paused campaign names makes that campaign FAILED ("caller ID
 * deleted"), in the same transaction. Every statement is scoped to the caller's organization. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "campaign.h"
#include "db.h"
#include "e164.h"
#include "ids.h"
#include "json_util.h"
#include "od_names.h"
#include "rpc_util.h"

/* ---------------- agents ---------------- */

#define AGENT_COLUMNS                                                                          \
    "id, name, coalesce(language, ''), coalesce(voice, ''), coalesce(first_message, ''),"    \
    " coalesce(prompt, ''), variables::text, coalesce(runtime_url, ''), current_version, "   \
    SQL_ISO_MS("created_at") ", " SQL_ISO_MS("updated_at")
enum agent_col { AC_ID, AC_NAME, AC_LANGUAGE, AC_VOICE, AC_FIRST, AC_PROMPT, AC_VARIABLES,
                 AC_RUNTIME_URL, AC_VERSION, AC_CREATED, AC_UPDATED };

static void agent_from_row(const PGresult *res, int row, void *message)
{
    Od__Agent *a = message;
    od__agent__init(a);
    a->id = PQgetvalue(res, row, AC_ID);
    a->name = PQgetvalue(res, row, AC_NAME);
    a->language = PQgetvalue(res, row, AC_LANGUAGE);
    a->voice = PQgetvalue(res, row, AC_VOICE);
    a->first_message = PQgetvalue(res, row, AC_FIRST);
    a->prompt = PQgetvalue(res, row, AC_PROMPT);
    a->variables_json = PQgetvalue(res, row, AC_VARIABLES);
    a->runtime_url = PQgetvalue(res, row, AC_RUNTIME_URL);
    a->current_version = atoi(PQgetvalue(res, row, AC_VERSION));
    a->created_at = PQgetvalue(res, row, AC_CREATED);
    a->updated_at = PQgetvalue(res, row, AC_UPDATED);
}

/* NULL when the fields that are being set are acceptable. */
static const char *agent_validate(const Od__AgentInput *in, bool create)
{
    if (create || in->set_name) {
        size_t len = strlen(in->name);
        if (len == 0 || strspn(in->name, " \t\r\n") == len)
            return "name is required";
        if (len > CAMPAIGN_NAME_MAX)
            return "name must be at most 256 bytes";
    }
    if ((create || in->set_language) && strlen(in->language) > 32)
        return "language must be at most 32 bytes";
    if ((create || in->set_voice) && strlen(in->voice) > 256)
        return "voice must be at most 256 bytes";
    if ((create || in->set_first_message) && strlen(in->first_message) > CAMPAIGN_TEXT_MAX)
        return "firstMessage is too long";
    if ((create || in->set_prompt) && strlen(in->prompt) > CAMPAIGN_TEXT_MAX)
        return "prompt is too long";
    if ((create || in->set_runtime_url) && in->runtime_url[0] != '\0' &&
        (strlen(in->runtime_url) > CAMPAIGN_URL_MAX ||
         (strncmp(in->runtime_url, "https://", 8) != 0 &&
          strncmp(in->runtime_url, "http://", 7) != 0 &&
          strncmp(in->runtime_url, "wss://", 6) != 0 && strncmp(in->runtime_url, "ws://", 5) != 0)))
        return "runtimeUrl must be an http(s) or ws(s) URL";
    if ((create || in->set_variables) && in->variables_json[0] != '\0') {
        char err[JSON_ERROR_MAX];
        json_t *v = json_parse_object(in->variables_json, strlen(in->variables_json), err,
                                      sizeof err);
        if (v == NULL)
            return "variables must be a JSON object";
        json_decref(v);
    }
    return NULL;
}

static void agent_reply_one(struct rpc_call *call, PGresult *res, const char *what,
                            Od__Agent_Closure closure)
{
    Od__Agent agent;
    if (rpc_one_row(call, res, what, "agent not found") == 0)
        agent_from_row(res, 0, &agent);
    closure(call->status == OD__STATUS__OK ? &agent : NULL, call);
}

/* Writes the agent's current row as version `version` (inside the caller's transaction). */
static const char agent_version_sql[] =
    "INSERT INTO campaign.agent_versions (org_id, agent_id, version, name, language, voice,"
    " first_message, prompt, variables, runtime_url)"
    " SELECT org_id, id, current_version, name, language, voice, first_message, prompt,"
    " variables, runtime_url FROM campaign.agents WHERE org_id = $1 AND id = $2";

static void agents_create(Od__Agents_Service *service, const Od__AgentInput *in,
                          Od__Agent_Closure closure, void *closure_data)
{
    struct rpc_call *call = closure_data;
    const char *reason;
    char id[IDS_MAX_LEN];
    PGresult *res = NULL;
    (void)service;

    if (rpc_require_org(call) != 0)
        goto out;
    if ((reason = agent_validate(in, true)) != NULL) {
        rpc_fail(call, OD__STATUS__INVALID, "%s", reason);
        goto out;
    }
    ids_new_ordered(ID_PREFIX_AGENT, id, sizeof id);
    const char *params[] = {call->org_id,
                            id,
                            in->name,
                            rpc_nullable(in->language),
                            rpc_nullable(in->voice),
                            rpc_nullable(in->first_message),
                            rpc_nullable(in->prompt),
                            in->variables_json[0] ? in->variables_json : "{}",
                            rpc_nullable(in->runtime_url)};
    if (db_begin(call->db) != 0) {
        rpc_fail(call, OD__STATUS__UNAVAILABLE, "database unavailable");
        goto out;
    }
    res = db_exec(call->db,
                  "INSERT INTO campaign.agents (org_id, id, name, language, voice, first_message,"
                  " prompt, variables, runtime_url) VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb,"
                  " $9) RETURNING " AGENT_COLUMNS,
                  9, params);
    if (!db_ok(res)) {
        db_rollback(call->db);
        rpc_fail_sql(call, res, "create agent");
        goto out;
    }
    if (db_command(call->db, agent_version_sql, 2, params) != 0 || db_commit(call->db) != 0) {
        db_rollback(call->db);
        rpc_fail(call, OD__STATUS__UNAVAILABLE, "create agent failed");
        goto out;
    }
    agent_reply_one(call, res, "create agent", closure);
    PQclear(res);
    return;
out:
    closure(NULL, call);
    PQclear(res);
}

static void agents_get(Od__Agents_Service *service, const Od__IdRequest *in,
                       Od__Agent_Closure closure, void *closure_data)
{
    struct rpc_call *call = closure_data;
    Od__Agent agent;
    PGresult *res = rpc_fetch_by_id(call,
                                    "SELECT " AGENT_COLUMNS " FROM campaign.agents"
                                    " WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL",
                                    in->id, "get agent", "agent not found", agent_from_row,
                                    &agent);
    (void)service;

    closure(res != NULL ? &agent : NULL, call);
    PQclear(res);
}

#define AGENTS_WHERE                                                                           \
    " WHERE org_id = $1 AND deleted_at IS NULL AND ($2::text IS NULL OR name ILIKE $2)"

static void agents_list(Od__Agents_Service *service, const Od__ListRequest *in,
                        Od__ListAgentsReply_Closure closure, void *closure_data)
{
    struct rpc_call *call = closure_data;
    Od__ListAgentsReply reply = OD__LIST_AGENTS_REPLY__INIT;
    struct rpc_list list;
    const struct rpc_list_query q = {
        .what = "list agents",
        .count_sql = "SELECT count(*) FROM campaign.agents" AGENTS_WHERE,
        .rows_sql = "SELECT " AGENT_COLUMNS " FROM campaign.agents" AGENTS_WHERE
                    " ORDER BY id DESC LIMIT $3::int OFFSET $4::bigint",
        .page = in->page, .limit = in->limit, .max_limit = 100, .search = in->search,
    };
    (void)service;

    if (rpc_list_map(call, &q, sizeof(Od__Agent), agent_from_row, &list) == 0)
        RPC_LIST_REPLY(reply, list);
    closure(call->status == OD__STATUS__OK ? &reply : NULL, call);
    rpc_list_free(&list);
}

static void agents_update(Od__Agents_Service *service, const Od__AgentInput *in,
                          Od__Agent_Closure closure, void *closure_data)
{
    struct rpc_call *call = closure_data;
    const char *reason;
    PGresult *res = NULL;
    (void)service;

    if (rpc_require_org(call) != 0)
        goto fail;
    if ((reason = agent_validate(in, false)) != NULL) {
        rpc_fail(call, OD__STATUS__INVALID, "%s", reason);
        goto fail;
    }
    const char *params[] = {
        call->org_id,
        in->id,
        in->set_name ? "t" : "f",          in->name,
        in->set_language ? "t" : "f",      rpc_nullable(in->language),
        in->set_voice ? "t" : "f",         rpc_nullable(in->voice),
        in->set_first_message ? "t" : "f", rpc_nullable(in->first_message),
        in->set_prompt ? "t" : "f",        rpc_nullable(in->prompt),
        in->set_variables ? "t" : "f",     in->variables_json[0] ? in->variables_json : "{}",
        in->set_runtime_url ? "t" : "f",   rpc_nullable(in->runtime_url),
    };
    if (db_begin(call->db) != 0) {
        rpc_fail(call, OD__STATUS__UNAVAILABLE, "database unavailable");
        goto fail;
    }
    res = db_exec(call->db,
                  "UPDATE campaign.agents SET"
                  " name = CASE WHEN $3::bool THEN $4 ELSE name END,"
                  " language = CASE WHEN $5::bool THEN $6 ELSE language END,"
                  " voice = CASE WHEN $7::bool THEN $8 ELSE voice END,"
                  " first_message = CASE WHEN $9::bool THEN $10 ELSE first_message END,"
                  " prompt = CASE WHEN $11::bool THEN $12 ELSE prompt END,"
                  " variables = CASE WHEN $13::bool THEN $14::jsonb ELSE variables END,"
                  " runtime_url = CASE WHEN $15::bool THEN $16 ELSE runtime_url END,"
                  " current_version = current_version + 1, updated_at = now()"
                  " WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL RETURNING " AGENT_COLUMNS,
                  16, params);
    if (!db_ok(res)) {
        db_rollback(call->db);
        rpc_fail_sql(call, res, "update agent");
        goto fail;
    }
    if (PQntuples(res) == 0) {
        db_rollback(call->db);
        rpc_fail(call, OD__STATUS__NOT_FOUND, "agent not found");
        goto fail;
    }
    if (db_command(call->db, agent_version_sql, 2, params) != 0 || db_commit(call->db) != 0) {
        db_rollback(call->db);
        rpc_fail(call, OD__STATUS__UNAVAILABLE, "update agent failed");
        goto fail;
    }
    agent_reply_one(call, res, "update agent", closure);
    PQclear(res);
    return;
fail:
    closure(NULL, call);
    PQclear(res);
}

static void agents_delete(Od__Agents_Service *service, const Od__IdRequest *in,
                          Od__Empty_Closure closure, void *closure_data)
{
    struct rpc_call *call = closure_data;
    Od__Empty empty = OD__EMPTY__INIT;
    PGresult *res = NULL;
    (void)service;

    if (rpc_require_org(call) != 0)
        goto done;
    const char *params[] = {call->org_id, in->id};
    /* One statement: the agent is deleted only when no live campaign uses it; the campaign
     * check and the delete see the same snapshot, and the agent row lock orders it against a
     * concurrent start (which locks the agent's row with FOR KEY SHARE). */
    res = db_exec(call->db,
                  "WITH a AS (SELECT id FROM campaign.agents WHERE org_id = $1 AND id = $2"
                  "           AND deleted_at IS NULL FOR UPDATE),"
                  " busy AS (SELECT c.id, c.status FROM campaign.campaigns c"
                  "          WHERE c.org_id = $1 AND c.agent_id = $2"
                  "          AND c.status IN ('SCHEDULED', 'IN_PROGRESS', 'PAUSED') LIMIT 1),"
                  " del AS (UPDATE campaign.agents SET deleted_at = now(), updated_at = now()"
                  "         WHERE org_id = $1 AND id IN (SELECT id FROM a)"
                  "         AND NOT EXISTS (SELECT 1 FROM busy) RETURNING 1) "
                  "SELECT (SELECT count(*) FROM a), (SELECT id || ' is ' || status FROM busy),"
                  " (SELECT count(*) FROM del)",
                  2, params);
    if (!db_ok(res)) {
        rpc_fail_sql(call, res, "delete agent");
    } else if (strcmp(PQgetvalue(res, 0, 0), "0") == 0) {
        rpc_fail(call, OD__STATUS__NOT_FOUND, "agent not found");
    } else if (!PQgetisnull(res, 0, 1)) {
        rpc_fail(call, OD__STATUS__CONFLICT, "agent is in use by campaign %s",
                 PQgetvalue(res, 0, 1));
    }
done:
    closure(call->status == OD__STATUS__OK ? &empty : NULL, call);
    PQclear(res);
}

Od__Agents_Service campaign_agents_service = OD__AGENTS__INIT(agents_);

/* ---------------- caller IDs ---------------- */

#define PHONE_COLUMNS "id, phone_number, label, is_default, " SQL_ISO_MS("created_at")
enum phone_col { PC_ID, PC_NUMBER, PC_LABEL, PC_DEFAULT, PC_CREATED };

static void phone_from_row(const PGresult *res, int row, void *message)
{
    Od__PhoneNumber *p = message;
    od__phone_number__init(p);
    p->id = PQgetvalue(res, row, PC_ID);
    p->phone_number = PQgetvalue(res, row, PC_NUMBER);
    p->label = PQgetvalue(res, row, PC_LABEL);
    p->is_default = PQgetvalue(res, row, PC_DEFAULT)[0] == 't';
    p->created_at = PQgetvalue(res, row, PC_CREATED);
}

static void phone_numbers_create(Od__PhoneNumbers_Service *service,
                                 const Od__PhoneNumberInput *in,
                                 Od__PhoneNumber_Closure closure, void *closure_data)
{
    struct rpc_call *call = closure_data;
    Od__PhoneNumber pn;
    char id[IDS_MAX_LEN];
    PGresult *res = NULL;
    (void)service;

    if (rpc_require_org(call) != 0)
        goto fail;
    if (!e164_valid(in->phone_number)) {
        rpc_fail(call, OD__STATUS__INVALID, "phoneNumber must be E.164 (+ and 8 to 15 digits)");
        goto fail;
    }
    if (strlen(in->label) > CAMPAIGN_NAME_MAX) {
        rpc_fail(call, OD__STATUS__INVALID, "label must be at most 256 bytes");
        goto fail;
    }
    const char *params[] = {call->org_id, ids_new_ordered(ID_PREFIX_PHONE_NUMBER, id, sizeof id),
                            in->phone_number, in->label, in->is_default ? "t" : "f"};
    if (db_begin(call->db) != 0) {
        rpc_fail(call, OD__STATUS__UNAVAILABLE, "database unavailable");
        goto fail;
    }
    /* The organization's numbers are serialized by a transaction-scoped advisory lock, so two
     * first numbers created at once cannot both become the default. */
    if (db_command(call->db, "SELECT pg_advisory_xact_lock(hashtext('campaign.pn:' || $1))", 1,
                   params) != 0)
        goto sql_fail;
    if (in->is_default &&
        db_command(call->db,
                   "UPDATE campaign.phone_numbers SET is_default = false"
                   " WHERE org_id = $1 AND is_default",
                   1, params) != 0)
        goto sql_fail;
    res = db_exec(call->db,
                  "INSERT INTO campaign.phone_numbers (org_id, id, phone_number, label, is_default)"
                  " VALUES ($1, $2, $3, $4, $5::bool OR NOT EXISTS (SELECT 1 FROM"
                  " campaign.phone_numbers WHERE org_id = $1 AND is_default))"
                  " RETURNING " PHONE_COLUMNS,
                  5, params);
    if (!db_ok(res)) {
        db_rollback(call->db);
        if (strcmp(db_sqlstate(res), "23505") == 0)
            rpc_fail(call, OD__STATUS__CONFLICT, "phone number %s already exists",
                     in->phone_number);
        else
            rpc_fail_sql(call, res, "create phone number");
        goto fail;
    }
    if (db_commit(call->db) != 0)
        goto sql_fail;
    phone_from_row(res, 0, &pn);
    closure(&pn, call);
    PQclear(res);
    return;
sql_fail:
    db_rollback(call->db);
    rpc_fail(call, OD__STATUS__UNAVAILABLE, "create phone number failed");
fail:
    closure(NULL, call);
    PQclear(res);
}

static void phone_numbers_get(Od__PhoneNumbers_Service *service, const Od__IdRequest *in,
                              Od__PhoneNumber_Closure closure, void *closure_data)
{
    struct rpc_call *call = closure_data;
    Od__PhoneNumber pn;
    PGresult *res = rpc_fetch_by_id(call,
                                    "SELECT " PHONE_COLUMNS " FROM campaign.phone_numbers"
                                    " WHERE org_id = $1 AND id = $2",
                                    in->id, "get phone number", "phone number not found",
                                    phone_from_row, &pn);
    (void)service;

    closure(res != NULL ? &pn : NULL, call);
    PQclear(res);
}

#define PN_WHERE                                                                               \
    " WHERE org_id = $1 AND ($2::text IS NULL OR label ILIKE $2 OR phone_number LIKE $2)"

static void phone_numbers_list(Od__PhoneNumbers_Service *service, const Od__ListRequest *in,
                               Od__ListPhoneNumbersReply_Closure closure, void *closure_data)
{
    struct rpc_call *call = closure_data;
    Od__ListPhoneNumbersReply reply = OD__LIST_PHONE_NUMBERS_REPLY__INIT;
    struct rpc_list list;
    const struct rpc_list_query q = {
        .what = "list phone numbers",
        .count_sql = "SELECT count(*) FROM campaign.phone_numbers" PN_WHERE,
        .rows_sql = "SELECT " PHONE_COLUMNS " FROM campaign.phone_numbers" PN_WHERE
                    " ORDER BY id DESC LIMIT $3::int OFFSET $4::bigint",
        .page = in->page, .limit = in->limit, .max_limit = 100, .search = in->search,
    };
    (void)service;

    if (rpc_list_map(call, &q, sizeof(Od__PhoneNumber), phone_from_row, &list) == 0)
        RPC_LIST_REPLY(reply, list);
    closure(call->status == OD__STATUS__OK ? &reply : NULL, call);
    rpc_list_free(&list);
}

static void phone_numbers_delete(Od__PhoneNumbers_Service *service, const Od__IdRequest *in,
                                 Od__Empty_Closure closure, void *closure_data)
{
    struct rpc_call *call = closure_data;
    Od__Empty empty = OD__EMPTY__INIT;
    PGresult *res = NULL, *users = NULL;
    struct campaign_app *app = call->app;
    int failed = 0;
    (void)service;

    if (rpc_require_org(call) != 0)
        goto done;
    const char *params[] = {call->org_id, in->id};
    if (db_begin(call->db) != 0) {
        rpc_fail(call, OD__STATUS__UNAVAILABLE, "database unavailable");
        goto done;
    }
    if (db_command(call->db, "SELECT pg_advisory_xact_lock(hashtext('campaign.pn:' || $1))", 1,
                   params) != 0)
        goto sql_fail;
    res = db_exec(call->db,
                  "DELETE FROM campaign.phone_numbers WHERE org_id = $1 AND id = $2"
                  " RETURNING is_default",
                  2, params);
    if (!db_ok(res))
        goto sql_fail;
    if (PQntuples(res) == 0) {
        db_rollback(call->db);
        rpc_fail(call, OD__STATUS__NOT_FOUND, "phone number not found");
        goto done;
    }
    /* The oldest remaining number becomes the default when the default goes. */
    if (PQgetvalue(res, 0, 0)[0] == 't' &&
        db_command(call->db,
                   "UPDATE campaign.phone_numbers SET is_default = true WHERE org_id = $1 AND id ="
                   " (SELECT id FROM campaign.phone_numbers WHERE org_id = $1 ORDER BY id LIMIT 1)",
                   1, params) != 0)
        goto sql_fail;
    /* Campaigns that would dial from it can no longer run. */
    users = db_exec(call->db,
                    "SELECT id FROM campaign.campaigns WHERE org_id = $1 AND phone_number_id = $2"
                    " AND status IN ('SCHEDULED', 'IN_PROGRESS', 'PAUSED') ORDER BY id FOR UPDATE",
                    2, params);
    if (!db_ok(users))
        goto sql_fail;
    for (int i = 0; i < PQntuples(users); i++) {
        if (campaign_set_status_event(call->db, call->org_id, PQgetvalue(users, i, 0),
                                      CAMPAIGN_FAILED, "caller ID deleted",
                                      EVENT_CAMPAIGN_FAILED) != 0)
            goto sql_fail;
        failed++;
    }
    if (db_commit(call->db) != 0)
        goto sql_fail;
    if (failed > 0)
        campaign_wake_outbox(app);
    goto done;
sql_fail:
    db_rollback(call->db);
    rpc_fail(call, OD__STATUS__UNAVAILABLE, "delete phone number failed");
done:
    closure(call->status == OD__STATUS__OK ? &empty : NULL, call);
    PQclear(res);
    PQclear(users);
}

Od__PhoneNumbers_Service campaign_phone_numbers_service = OD__PHONE_NUMBERS__INIT(phone_numbers_);
