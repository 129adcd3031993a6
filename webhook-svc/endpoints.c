/* The Webhooks RPC service: endpoint CRUD, secret rotation, test events, the delivery log and
 * manual retry, and the organization's default secret. Every statement is scoped to the
 * caller's organization; another organization's endpoint or delivery is NOT_FOUND. */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "endpoints.h"

#include "copytext.h"
#include "db.h"
#include "ids.h"
#include "log.h"
#include "od_names.h"
#include "rpc.h"
#include "rpc_util.h"
#include "secrets.h"
#include "signing.h"
#include "ssrf.h"
#include "timefmt.h"
#include "webhook_app.h"

/* Columns every endpoint read returns, in the order of enum endpoint_column. */
#define ENDPOINT_COLUMNS                                                                       \
    "id, url, array_to_string(events, ','), description, enabled, "                            \
    "coalesce(disabled_reason, ''), " SQL_ISO_MS("created_at") ", " SQL_ISO_MS("updated_at")
enum endpoint_column {
    ENDPOINT_COL_ID,
    ENDPOINT_COL_URL,
    ENDPOINT_COL_EVENTS,
    ENDPOINT_COL_DESCRIPTION,
    ENDPOINT_COL_ENABLED,
    ENDPOINT_COL_DISABLED_REASON,
    ENDPOINT_COL_CREATED_AT,
    ENDPOINT_COL_UPDATED_AT,
    ENDPOINT_COL_PREVIOUS_SECRET_EXPIRES_AT, /* RotateSecret only */
};

/* Columns every delivery read returns (d: deliveries, e: events), in the order of enum
 * delivery_column. */
#define DELIVERY_COLUMNS                                                                       \
    "d.id, d.event_id, e.event_type, coalesce(d.endpoint_id, ''), d.url, d.status, "           \
    "d.attempts, CASE WHEN d.status = 'pending' THEN " SQL_ISO_MS("d.next_attempt_at")         \
    " ELSE '' END, " SQL_ISO_MS("d.created_at")
enum delivery_column {
    DELIVERY_COL_ID,
    DELIVERY_COL_EVENT_ID,
    DELIVERY_COL_EVENT_TYPE,
    DELIVERY_COL_ENDPOINT_ID,
    DELIVERY_COL_URL,
    DELIVERY_COL_STATUS,
    DELIVERY_COL_ATTEMPTS,
    DELIVERY_COL_NEXT_ATTEMPT_AT,
    DELIVERY_COL_CREATED_AT,
};
/* A delivery's event, in the same organization. */
#define DELIVERY_FROM                                                                          \
    " FROM webhook.deliveries d JOIN webhook.events e"                                         \
    " ON e.org_id = d.org_id AND e.id = d.event_id"

/* The types an endpoint may subscribe to: every event any service emits (lib/od_names.h). */
static const char *const webhook_event_types[] = {
    "*", EVENT_IMPORT_COMPLETED, EVENT_CALL_STARTED, EVENT_CALL_COMPLETED, EVENT_CALL_FAILED,
    EVENT_CAMPAIGN_STARTED, EVENT_CAMPAIGN_PAUSED, EVENT_CAMPAIGN_RESUMED,
    EVENT_CAMPAIGN_COMPLETED, EVENT_CAMPAIGN_CANCELLED, EVENT_CAMPAIGN_FAILED,
    EVENT_CAMPAIGN_LEAD_COMPLETED, EVENT_CONTACT_UPDATED, EVENT_CREDITS_LOW, EVENT_WEBHOOK_TEST,
    NULL};

int webhook_event_type_known(const char *type)
{
    for (int i = 0; webhook_event_types[i] != NULL; i++)
        if (strcmp(type, webhook_event_types[i]) == 0)
            return 1;
    return 0;
}

/* ---------------- endpoint rows ---------------- */

/* Points the message's strings into the result (valid until PQclear); the events array is
 * malloc'd and split in a malloc'd copy: free both with endpoint_release. */
static int endpoint_from_row(PGresult *res, int row, Od__WebhookEndpoint *e)
{
    char *list = strdup(PQgetvalue(res, row, ENDPOINT_COL_EVENTS)), *save = NULL, *item;
    size_t n = 1;
    od__webhook_endpoint__init(e);
    if (list == NULL)
        return -1;
    for (const char *p = list; *p; p++)
        n += *p == ',';
    e->events = calloc(n, sizeof *e->events);
    if (e->events == NULL) {
        free(list);
        return -1;
    }
    for (item = strtok_r(list, ",", &save); item != NULL; item = strtok_r(NULL, ",", &save))
        e->events[e->n_events++] = item;
    if (e->n_events == 0)
        free(list); /* nothing points into it */
    e->id = PQgetvalue(res, row, ENDPOINT_COL_ID);
    e->url = PQgetvalue(res, row, ENDPOINT_COL_URL);
    e->description = PQgetvalue(res, row, ENDPOINT_COL_DESCRIPTION);
    e->enabled = PQgetvalue(res, row, ENDPOINT_COL_ENABLED)[0] == 't';
    e->disabled_reason = PQgetvalue(res, row, ENDPOINT_COL_DISABLED_REASON);
    e->created_at = PQgetvalue(res, row, ENDPOINT_COL_CREATED_AT);
    e->updated_at = PQgetvalue(res, row, ENDPOINT_COL_UPDATED_AT);
    if (PQnfields(res) > ENDPOINT_COL_PREVIOUS_SECRET_EXPIRES_AT)
        e->previous_secret_expires_at =
            PQgetvalue(res, row, ENDPOINT_COL_PREVIOUS_SECRET_EXPIRES_AT);
    return 0;
}

static void endpoint_release(Od__WebhookEndpoint *e)
{
    if (e->n_events > 0)
        free(e->events[0]); /* the start of the split copy */
    free(e->events);
    e->events = NULL;
    e->n_events = 0;
}

/* Checks url/events/description as given (set_* false skips a field). On failure the call is
 * failed (INVALID) and -1 returned. events_literal receives the text[] literal of the events
 * (copytext's quoting builder; the caller frees its data). */
static int endpoint_validate(struct rpc_call *call, bool set_url, const char *url,
                             bool set_events, char *const *events, size_t n_events,
                             bool set_description, const char *description,
                             struct copytext *events_literal)
{
    const struct webhook_app *app = call->app;
    char reason[300];

    if (set_url) {
        if (url[0] == '\0') {
            rpc_fail(call, OD__STATUS__INVALID, "url is required");
            return -1;
        }
        if (strlen(url) > WEBHOOK_URL_MAX) {
            rpc_fail(call, OD__STATUS__INVALID, "url must be at most %d bytes", WEBHOOK_URL_MAX);
            return -1;
        }
        if (ssrf_check_url(&app->policy, url, reason, sizeof reason) != 0) {
            rpc_fail(call, OD__STATUS__INVALID, "%s", reason);
            return -1;
        }
    }
    if (set_events) {
        if (n_events == 0) {
            rpc_fail(call, OD__STATUS__INVALID,
                     "events must list at least one event type (or \"*\" for all)");
            return -1;
        }
        if (n_events > WEBHOOK_EVENTS_MAX) {
            rpc_fail(call, OD__STATUS__INVALID, "events must hold at most %d entries",
                     WEBHOOK_EVENTS_MAX);
            return -1;
        }
        for (size_t i = 0; i < n_events; i++) {
            if (!webhook_event_type_known(events[i])) {
                rpc_fail(call, OD__STATUS__INVALID, "events[%zu] is not a known event type: %.64s",
                         i, events[i]);
                return -1;
            }
            copytext_array_add(events_literal, events[i]);
        }
    }
    if (copytext_array_end(events_literal) == NULL) {
        rpc_fail(call, OD__STATUS__INTERNAL, "out of memory");
        return -1;
    }
    if (set_description && strlen(description) > WEBHOOK_DESCRIPTION_MAX) {
        rpc_fail(call, OD__STATUS__INVALID, "description must be at most %d bytes",
                 WEBHOOK_DESCRIPTION_MAX);
        return -1;
    }
    return 0;
}

/* Replies with the one endpoint a statement returned, NOT_FOUND when none; secret: the one
 * to show (Create, RotateSecret), NULL for none. */
static void endpoint_reply(struct rpc_call *call, PGresult *res, const char *what,
                           const char *secret, Od__WebhookEndpoint_Closure closure)
{
    Od__WebhookEndpoint e;
    if (!db_ok(res))
        rpc_fail_sql(call, res, what);
    else if (PQntuples(res) == 0)
        rpc_fail(call, OD__STATUS__NOT_FOUND, "webhook endpoint not found");
    if (call->status != OD__STATUS__OK || endpoint_from_row(res, 0, &e) != 0) {
        if (call->status == OD__STATUS__OK)
            rpc_fail(call, OD__STATUS__INTERNAL, "out of memory");
        closure(NULL, call);
        return;
    }
    if (secret != NULL)
        e.secret = (char *)secret;
    closure(&e, call);
    endpoint_release(&e);
}

static int endpoint_id_ok(struct rpc_call *call, const char *id)
{
    if (rpc_require_org(call) != 0)
        return -1;
    if (!ids_valid(ID_PREFIX_WEBHOOK, id)) {
        rpc_fail(call, OD__STATUS__NOT_FOUND, "webhook endpoint not found");
        return -1;
    }
    return 0;
}

/* ---------------- handlers ---------------- */

static void webhooks_create_endpoint(Od__Webhooks_Service *service,
                                     const Od__CreateEndpointRequest *in,
                                     Od__WebhookEndpoint_Closure closure, void *closure_data)
{
    struct rpc_call *call = closure_data;
    char id[IDS_MAX_LEN], secret[WEBHOOK_SECRET_MAX];
    struct copytext events = {0};
    PGresult *res;

    if (rpc_require_org(call) != 0 ||
        endpoint_validate(call, true, in->url, true, in->events, in->n_events, true,
                          in->description, &events) != 0) {
        closure(NULL, call);
        free(events.data);
        return;
    }
    char max_text[16];
    const struct webhook_app *app = call->app;
    snprintf(max_text, sizeof max_text, "%d", app->max_endpoints);
    const char *params[] = {call->org_id, ids_new_ordered(ID_PREFIX_WEBHOOK, id, sizeof id),
                            in->url, events.data, in->description,
                            webhook_secret_new(secret, sizeof secret), max_text};
    /* The cap (WEBHOOK_MAX_ENDPOINTS): one event fans out to every endpoint, so without it an
     * organization could turn us into a traffic amplifier. The per-organization advisory lock
     * makes count-then-insert exact under concurrent creates. */
    if (db_begin(call->db) != 0 ||
        db_command(call->db, "SELECT pg_advisory_xact_lock(hashtext('webhook.endpoints'), "
                             "hashtext($1))", 1, params) != 0) {
        db_rollback(call->db);
        rpc_fail(call, OD__STATUS__UNAVAILABLE, "database unavailable");
        closure(NULL, call);
        free(events.data);
        return;
    }
    res = db_exec(call->db,
                  "INSERT INTO webhook.endpoints (org_id, id, url, events, description, secret) "
                  "SELECT $1, $2, $3, $4::text[], $5, $6 WHERE (SELECT count(*) FROM "
                  "webhook.endpoints WHERE org_id = $1) < $7::int RETURNING " ENDPOINT_COLUMNS,
                  7, params);
    bool committed = db_ok(res) && PQntuples(res) == 1 && db_commit(call->db) == 0;
    db_rollback(call->db); /* ends the transaction on every other path; a no-op after commit */
    if (db_ok(res) && PQntuples(res) == 1 && !committed) {
        rpc_fail(call, OD__STATUS__UNAVAILABLE, "create endpoint: the commit failed");
        closure(NULL, call);
    } else if (db_ok(res) && PQntuples(res) == 0) {
        rpc_fail(call, OD__STATUS__CONFLICT,
                 "this organization already has %d webhook endpoints, the most allowed; delete "
                 "one before creating another", app->max_endpoints);
        closure(NULL, call);
    } else {
        endpoint_reply(call, res, "create endpoint", secret, closure);
    }
    PQclear(res);
    free(events.data);
}

static void webhooks_list_endpoints(Od__Webhooks_Service *service,
                                    const Od__ListEndpointsRequest *in,
                                    Od__ListEndpointsReply_Closure closure, void *closure_data)
{
    struct rpc_call *call = closure_data;
    Od__ListEndpointsReply reply = OD__LIST_ENDPOINTS_REPLY__INIT;
    Od__WebhookEndpoint *items = NULL, **ptrs = NULL;
    PGresult *count = NULL, *rows = NULL;
    int n = 0;

    /* Endpoints take no search: $2 is always NULL. */
    if (rpc_list_page(call, "list endpoints",
                      "SELECT count(*) FROM webhook.endpoints WHERE org_id = $1 AND $2::text IS NULL",
                      "SELECT " ENDPOINT_COLUMNS " FROM webhook.endpoints"
                      " WHERE org_id = $1 AND $2::text IS NULL"
                      " ORDER BY created_at DESC, id DESC LIMIT $3::int OFFSET $4::bigint",
                      in->page, in->limit, WEBHOOK_LIST_LIMIT_MAX, "", NULL, 0, &count,
                      &rows) != 0)
        goto fail;
    items = calloc((size_t)PQntuples(rows) + 1, sizeof *items);
    ptrs = calloc((size_t)PQntuples(rows) + 1, sizeof *ptrs);
    if (items == NULL || ptrs == NULL) {
        rpc_fail(call, OD__STATUS__INTERNAL, "out of memory");
        goto fail;
    }
    for (n = 0; n < PQntuples(rows); n++) {
        if (endpoint_from_row(rows, n, &items[n]) != 0) {
            rpc_fail(call, OD__STATUS__INTERNAL, "out of memory");
            goto fail;
        }
        ptrs[n] = &items[n];
    }
    reply.n_data = (size_t)n;
    reply.data = ptrs;
    reply.total = strtoll(PQgetvalue(count, 0, 0), NULL, 10);
    closure(&reply, call);
    goto out;
fail:
    closure(NULL, call);
out:
    for (int i = 0; i < n; i++)
        endpoint_release(&items[i]);
    free(items);
    free(ptrs);
    PQclear(count);
    PQclear(rows);
}

static void webhooks_get_endpoint(Od__Webhooks_Service *service, const Od__EndpointIdRequest *in,
                                  Od__WebhookEndpoint_Closure closure, void *closure_data)
{
    struct rpc_call *call = closure_data;
    PGresult *res;
    if (endpoint_id_ok(call, in->id) != 0) {
        closure(NULL, call);
        return;
    }
    const char *params[] = {call->org_id, in->id};
    res = db_exec(call->db,
                  "SELECT " ENDPOINT_COLUMNS " FROM webhook.endpoints WHERE org_id = $1 AND id = $2",
                  2, params);
    endpoint_reply(call, res, "get endpoint", NULL, closure);
    PQclear(res);
}

static void webhooks_update_endpoint(Od__Webhooks_Service *service,
                                     const Od__UpdateEndpointRequest *in,
                                     Od__WebhookEndpoint_Closure closure, void *closure_data)
{
    struct rpc_call *call = closure_data;
    struct copytext events = {0};
    PGresult *res;

    if (endpoint_id_ok(call, in->id) != 0 ||
        endpoint_validate(call, in->set_url, in->url, in->set_events, in->events, in->n_events,
                          in->set_description, in->description, &events) != 0) {
        closure(NULL, call);
        free(events.data);
        return;
    }
    const char *params[] = {call->org_id, in->id,
                            in->set_url ? "t" : "f", in->url,
                            in->set_events ? "t" : "f", events.data,
                            in->set_description ? "t" : "f", in->description,
                            in->set_enabled ? "t" : "f", in->enabled ? "t" : "f"};
    /* Enabling clears the failure history; disabling by hand records why. */
    res = db_exec(call->db,
                  "UPDATE webhook.endpoints SET "
                  "url = CASE WHEN $3::boolean THEN $4 ELSE url END, "
                  "events = CASE WHEN $5::boolean THEN $6::text[] ELSE events END, "
                  "description = CASE WHEN $7::boolean THEN $8 ELSE description END, "
                  "disabled_reason = CASE WHEN NOT $9::boolean THEN disabled_reason "
                  "  WHEN $10::boolean THEN NULL "
                  "  WHEN enabled THEN 'disabled through the API' ELSE disabled_reason END, "
                  "failing_since = CASE WHEN $9::boolean AND $10::boolean AND NOT enabled "
                  "  THEN NULL ELSE failing_since END, "
                  "enabled = CASE WHEN $9::boolean THEN $10::boolean ELSE enabled END, "
                  "updated_at = now() "
                  "WHERE org_id = $1 AND id = $2 RETURNING " ENDPOINT_COLUMNS,
                  10, params);
    endpoint_reply(call, res, "update endpoint", NULL, closure);
    PQclear(res);
    free(events.data);
}

static void webhooks_delete_endpoint(Od__Webhooks_Service *service,
                                     const Od__EndpointIdRequest *in, Od__Empty_Closure closure,
                                     void *closure_data)
{
    struct rpc_call *call = closure_data;
    Od__Empty empty = OD__EMPTY__INIT;
    PGresult *res;
    if (endpoint_id_ok(call, in->id) != 0) {
        closure(NULL, call);
        return;
    }
    const char *params[] = {call->org_id, in->id};
    /* Its deliveries (and their attempt log) go with it (ON DELETE CASCADE). */
    res = db_exec(call->db, "DELETE FROM webhook.endpoints WHERE org_id = $1 AND id = $2", 2,
                  params);
    if (!db_ok(res))
        rpc_fail_sql(call, res, "delete endpoint");
    else if (strcmp(PQcmdTuples(res), "0") == 0)
        rpc_fail(call, OD__STATUS__NOT_FOUND, "webhook endpoint not found");
    closure(call->status == OD__STATUS__OK ? &empty : NULL, call);
    PQclear(res);
}

static void webhooks_rotate_secret(Od__Webhooks_Service *service, const Od__EndpointIdRequest *in,
                                   Od__WebhookEndpoint_Closure closure, void *closure_data)
{
    struct rpc_call *call = closure_data;
    char secret[WEBHOOK_SECRET_MAX];
    PGresult *res;
    if (endpoint_id_ok(call, in->id) != 0) {
        closure(NULL, call);
        return;
    }
    const char *params[] = {call->org_id, in->id, webhook_secret_new(secret, sizeof secret)};
    /* The secret being replaced keeps signing for 24 hours (a second v1 signature), so
     * receivers can switch over without dropping a delivery. */
    res = db_exec(call->db,
                  "UPDATE webhook.endpoints SET previous_secret = secret, "
                  "previous_secret_expires_at = now() + interval '24 hours', secret = $3, "
                  "updated_at = now() WHERE org_id = $1 AND id = $2 "
                  "RETURNING " ENDPOINT_COLUMNS ", " SQL_ISO_MS("previous_secret_expires_at"),
                  3, params);
    endpoint_reply(call, res, "rotate secret", secret, closure);
    PQclear(res);
}

/* ---------------- deliveries ---------------- */

static void delivery_from_row(PGresult *res, int row, Od__Delivery *d)
{
    od__delivery__init(d);
    d->id = PQgetvalue(res, row, DELIVERY_COL_ID);
    d->event_id = PQgetvalue(res, row, DELIVERY_COL_EVENT_ID);
    d->event_type = PQgetvalue(res, row, DELIVERY_COL_EVENT_TYPE);
    d->endpoint_id = PQgetvalue(res, row, DELIVERY_COL_ENDPOINT_ID);
    d->url = PQgetvalue(res, row, DELIVERY_COL_URL);
    d->status = PQgetvalue(res, row, DELIVERY_COL_STATUS);
    d->attempt_count = atoi(PQgetvalue(res, row, DELIVERY_COL_ATTEMPTS));
    d->next_attempt_at = PQgetvalue(res, row, DELIVERY_COL_NEXT_ATTEMPT_AT);
    d->created_at = PQgetvalue(res, row, DELIVERY_COL_CREATED_AT);
}

/* Reads one delivery by id and replies with it. */
static void delivery_reply(struct rpc_call *call, const char *id, Od__Delivery_Closure closure)
{
    Od__Delivery d;
    const char *params[] = {call->org_id, id};
    PGresult *res = db_exec(call->db,
                            "SELECT " DELIVERY_COLUMNS DELIVERY_FROM
                            " WHERE d.org_id = $1 AND d.id = $2",
                            2, params);
    if (!db_ok(res))
        rpc_fail_sql(call, res, "read delivery");
    else if (PQntuples(res) == 0)
        rpc_fail(call, OD__STATUS__NOT_FOUND, "webhook delivery not found");
    if (call->status != OD__STATUS__OK) {
        closure(NULL, call);
    } else {
        delivery_from_row(res, 0, &d);
        closure(&d, call);
    }
    PQclear(res);
}

static void webhooks_test_endpoint(Od__Webhooks_Service *service, const Od__EndpointIdRequest *in,
                                   Od__Delivery_Closure closure, void *closure_data)
{
    struct rpc_call *call = closure_data;
    const struct webhook_app *app = call->app;
    char event_id[IDS_MAX_LEN], delivery_id[IDS_MAX_LEN], now[TIME_ISO_LEN];
    PGresult *res;
    json_t *body;
    char *text;

    if (endpoint_id_ok(call, in->id) != 0) {
        closure(NULL, call);
        return;
    }
    ids_new_ordered(ID_PREFIX_EVENT, event_id, sizeof event_id);
    ids_new_ordered(ID_PREFIX_WEBHOOK_DELIVERY, delivery_id, sizeof delivery_id);
    time_format_ms(time_now_ms(), now, sizeof now);
    body = json_pack("{s:s, s:s, s:{s:s, s:s}}", "event", EVENT_WEBHOOK_TEST, "timestamp", now,
                     "data", "endpointId", in->id, "message", "This is a test event from Outdial.");
    text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (text == NULL) {
        rpc_fail(call, OD__STATUS__INTERNAL, "out of memory");
        closure(NULL, call);
        return;
    }
    const char *params[] = {call->org_id, in->id, event_id, text, delivery_id,
                            EVENT_WEBHOOK_TEST};
    enum { TESTED_COL_ENDPOINTS, TESTED_COL_DELIVERIES };
    res = db_exec(call->db,
                  "WITH ep AS (SELECT id, url, enabled FROM webhook.endpoints "
                  "  WHERE org_id = $1 AND id = $2), "
                  "ev AS (INSERT INTO webhook.events (id, org_id, event_type, body, created_at) "
                  "  SELECT $3, $1, $6, $4, now() FROM ep WHERE ep.enabled "
                  "  RETURNING id), "
                  "d AS (INSERT INTO webhook.deliveries (id, org_id, event_id, endpoint_id, url, "
                  "  next_attempt_at) SELECT $5, $1, ev.id, ep.id, ep.url, now() FROM ev, ep "
                  "  RETURNING id) "
                  "SELECT (SELECT count(*) FROM ep), (SELECT count(*) FROM d)",
                  6, params);
    free(text);
    if (!db_ok(res))
        rpc_fail_sql(call, res, "test endpoint");
    else if (strcmp(PQgetvalue(res, 0, TESTED_COL_ENDPOINTS), "0") == 0)
        rpc_fail(call, OD__STATUS__NOT_FOUND, "webhook endpoint not found");
    else if (strcmp(PQgetvalue(res, 0, TESTED_COL_DELIVERIES), "0") == 0)
        rpc_fail(call, OD__STATUS__CONFLICT, "webhook endpoint is disabled");
    PQclear(res);
    if (call->status != OD__STATUS__OK) {
        closure(NULL, call);
        return;
    }
    webhook_app_wake_deliveries(app);
    delivery_reply(call, delivery_id, closure);
}

static void webhooks_list_deliveries(Od__Webhooks_Service *service,
                                     const Od__ListDeliveriesRequest *in,
                                     Od__ListDeliveriesReply_Closure closure, void *closure_data)
{
    struct rpc_call *call = closure_data;
    Od__ListDeliveriesReply reply = OD__LIST_DELIVERIES_REPLY__INIT;
    Od__Delivery *items = NULL, **ptrs = NULL;
    Od__DeliveryAttempt *attempts = NULL, **attempt_ptrs = NULL;
    PGresult *res = NULL, *count = NULL, *log = NULL;
    char limit[RPC_PAGE_TEXT], offset[RPC_PAGE_TEXT];
    struct copytext ids = {0};
    const char *id_array;
    int n;

    if (endpoint_id_ok(call, in->endpoint_id) != 0 ||
        rpc_page_params(call, in->page, in->limit, WEBHOOK_LIST_LIMIT_MAX, limit, offset) != 0)
        goto fail;
    const char *eparams[] = {call->org_id, in->endpoint_id};
    count = db_exec(call->db,
                    "SELECT (SELECT count(*) FROM webhook.endpoints WHERE org_id = $1 AND id = $2), "
                    "(SELECT count(*) FROM webhook.deliveries WHERE org_id = $1 AND endpoint_id = $2)",
                    2, eparams);
    if (!db_ok(count)) {
        rpc_fail_sql(call, count, "count deliveries");
        goto fail;
    }
    enum { COUNT_COL_ENDPOINTS, COUNT_COL_DELIVERIES };
    if (strcmp(PQgetvalue(count, 0, COUNT_COL_ENDPOINTS), "0") == 0) {
        rpc_fail(call, OD__STATUS__NOT_FOUND, "webhook endpoint not found");
        goto fail;
    }
    const char *params[] = {call->org_id, in->endpoint_id, limit, offset};
    res = db_exec(call->db,
                  "SELECT " DELIVERY_COLUMNS DELIVERY_FROM
                  " WHERE d.org_id = $1 AND d.endpoint_id = $2 "
                  "ORDER BY d.created_at DESC, d.id DESC LIMIT $3::int OFFSET $4::bigint",
                  4, params);
    if (!db_ok(res)) {
        rpc_fail_sql(call, res, "list deliveries");
        goto fail;
    }
    n = PQntuples(res);
    items = calloc((size_t)n + 1, sizeof *items);
    ptrs = calloc((size_t)n + 1, sizeof *ptrs);
    if (items == NULL || ptrs == NULL) {
        rpc_fail(call, OD__STATUS__INTERNAL, "out of memory");
        goto fail;
    }
    /* The attempt log of the page's deliveries, in one statement. */
    for (int i = 0; i < n; i++) {
        delivery_from_row(res, i, &items[i]);
        ptrs[i] = &items[i];
        copytext_array_add(&ids, items[i].id);
    }
    if ((id_array = copytext_array_end(&ids)) == NULL) {
        rpc_fail(call, OD__STATUS__INTERNAL, "out of memory");
        goto fail;
    }
    enum { ATTEMPT_COL_DELIVERY_ID, ATTEMPT_COL_ATTEMPTED_AT, ATTEMPT_COL_STATUS_CODE,
           ATTEMPT_COL_LATENCY_MS, ATTEMPT_COL_ERROR, ATTEMPT_COL_NEXT_RETRY_AT };
    const char *lparams[] = {call->org_id, id_array};
    log = db_exec(call->db,
                  "SELECT delivery_id, " SQL_ISO_MS("attempted_at") ", status_code, latency_ms, "
                  "error, coalesce(" SQL_ISO_MS("next_retry_at") ", '') "
                  "FROM webhook.delivery_attempts "
                  "WHERE org_id = $1 AND delivery_id = ANY ($2::text[]) "
                  "ORDER BY delivery_id, attempt",
                  2, lparams);
    if (!db_ok(log)) {
        rpc_fail_sql(call, log, "list delivery attempts");
        goto fail;
    }
    attempts = calloc((size_t)PQntuples(log) + 1, sizeof *attempts);
    attempt_ptrs = calloc((size_t)PQntuples(log) + 1, sizeof *attempt_ptrs);
    if (attempts == NULL || attempt_ptrs == NULL) {
        rpc_fail(call, OD__STATUS__INTERNAL, "out of memory");
        goto fail;
    }
    /* Rows are grouped by delivery: each delivery's attempts are one run of the array. */
    for (int r = 0; r < PQntuples(log); r++) {
        Od__DeliveryAttempt *a = &attempts[r];
        od__delivery_attempt__init(a);
        a->attempted_at = PQgetvalue(log, r, ATTEMPT_COL_ATTEMPTED_AT);
        a->status_code = atoi(PQgetvalue(log, r, ATTEMPT_COL_STATUS_CODE));
        a->latency_ms = atoi(PQgetvalue(log, r, ATTEMPT_COL_LATENCY_MS));
        a->error = PQgetvalue(log, r, ATTEMPT_COL_ERROR);
        a->next_retry_at = PQgetvalue(log, r, ATTEMPT_COL_NEXT_RETRY_AT);
        attempt_ptrs[r] = a;
        for (int i = 0; i < n; i++) {
            if (strcmp(items[i].id, PQgetvalue(log, r, ATTEMPT_COL_DELIVERY_ID)) == 0) {
                if (items[i].n_attempts == 0)
                    items[i].attempts = &attempt_ptrs[r];
                items[i].n_attempts++;
                break;
            }
        }
    }
    reply.n_data = (size_t)n;
    reply.data = ptrs;
    reply.total = strtoll(PQgetvalue(count, 0, COUNT_COL_DELIVERIES), NULL, 10);
    closure(&reply, call);
    goto out;
fail:
    closure(NULL, call);
out:
    free(items);
    free(ptrs);
    free(attempts);
    free(attempt_ptrs);
    free(ids.data);
    PQclear(res);
    PQclear(count);
    PQclear(log);
}

static void webhooks_retry_delivery(Od__Webhooks_Service *service, const Od__DeliveryIdRequest *in,
                                    Od__Delivery_Closure closure, void *closure_data)
{
    struct rpc_call *call = closure_data;
    const struct webhook_app *app = call->app;
    PGresult *res;

    if (rpc_require_org(call) != 0 || !ids_valid(ID_PREFIX_WEBHOOK_DELIVERY, in->id)) {
        if (call->status == OD__STATUS__OK)
            rpc_fail(call, OD__STATUS__NOT_FOUND, "webhook delivery not found");
        closure(NULL, call);
        return;
    }
    const char *params[] = {call->org_id, in->id};
    enum { RETRIED_COL_STATUS, RETRIED_COL_ENABLED, RETRIED_COL_CHANGED };
    /* One more attempt now; if it fails, the schedule continues from where it stood. */
    res = db_exec(call->db,
                  "WITH d AS (SELECT d.id, d.status, "
                  "  d.endpoint_id IS NULL OR coalesce(ep.enabled, false) AS enabled "
                  "  FROM webhook.deliveries d LEFT JOIN webhook.endpoints ep "
                  "  ON ep.org_id = d.org_id AND ep.id = d.endpoint_id "
                  "  WHERE d.org_id = $1 AND d.id = $2), "
                  "u AS (UPDATE webhook.deliveries x SET status = 'pending', "
                  "  next_attempt_at = now(), updated_at = now() FROM d "
                  "  WHERE x.org_id = $1 AND x.id = d.id AND d.status <> 'pending' AND d.enabled "
                  "  RETURNING x.id) "
                  "SELECT d.status, d.enabled, (SELECT count(*) FROM u) FROM d",
                  2, params);
    if (!db_ok(res))
        rpc_fail_sql(call, res, "retry delivery");
    else if (PQntuples(res) == 0)
        rpc_fail(call, OD__STATUS__NOT_FOUND, "webhook delivery not found");
    else if (strcmp(PQgetvalue(res, 0, RETRIED_COL_STATUS), "pending") == 0)
        rpc_fail(call, OD__STATUS__CONFLICT, "webhook delivery is already pending");
    else if (PQgetvalue(res, 0, RETRIED_COL_ENABLED)[0] != 't')
        rpc_fail(call, OD__STATUS__CONFLICT, "webhook endpoint is disabled");
    PQclear(res);
    if (call->status != OD__STATUS__OK) {
        closure(NULL, call);
        return;
    }
    webhook_app_wake_deliveries(app);
    delivery_reply(call, in->id, closure);
}

static void webhooks_default_secret(Od__Webhooks_Service *service, const Od__Empty *in,
                                    Od__SecretReply_Closure closure, void *closure_data)
{
    struct rpc_call *call = closure_data;
    Od__SecretReply reply = OD__SECRET_REPLY__INIT;
    char secret[WEBHOOK_SECRET_MAX];
    if (rpc_require_org(call) != 0) {
        closure(NULL, call);
        return;
    }
    if (webhook_default_secret(call->db, call->org_id, secret, sizeof secret) != 0) {
        rpc_fail(call, OD__STATUS__UNAVAILABLE, "could not read the default secret");
        closure(NULL, call);
        return;
    }
    reply.secret = secret;
    closure(&reply, call);
}

Od__Webhooks_Service webhooks_service = OD__WEBHOOKS__INIT(webhooks_);
