/* The Webhooks RPC service: endpoint CRUD, secret rotation, test events, the delivery log and
 * manual retry, and the organization's default secret. Every statement is scoped to the
 * caller's organization; another organization's endpoint or delivery is NOT_FOUND. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "od_names.h"
#include "ids.h"
#include "log.h"
#include "rpc.h"
#include "timefmt.h"
#include "webhooks.h"

#define ISO(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

/* Columns every endpoint read returns, in this order (see endpoint_from_row). */
#define ENDPOINT_COLUMNS                                                                       \
    "id, url, array_to_string(events, ','), description, enabled, "                            \
    "coalesce(disabled_reason, ''), " ISO("created_at") ", " ISO("updated_at")

/* Columns every delivery read returns (d: deliveries, e: events). */
#define DELIVERY_COLUMNS                                                                       \
    "d.id, d.event_id, e.event_type, coalesce(d.endpoint_id, ''), d.url, d.status, "           \
    "d.attempts, CASE WHEN d.status = 'pending' THEN " ISO("d.next_attempt_at") " ELSE '' END, " \
    ISO("d.created_at")

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

void webhook_fail_sql(struct rpc_call *call, PGresult *res, const char *what)
{
    if (db_is_connection_error(call->db, res))
        rpc_fail(call, OD__STATUS__UNAVAILABLE, "database unavailable");
    else
        rpc_fail(call, OD__STATUS__INTERNAL, "%s failed", what);
    log_error(call->request_id, "%s: %s", what, PQresultErrorMessage(res));
}

int webhook_require_org(struct rpc_call *call)
{
    if (call->org_id[0] == '\0') {
        rpc_fail(call, OD__STATUS__INVALID, "organization id is required");
        return -1;
    }
    return 0;
}

int webhook_default_secret(struct db *db, const char *org_id, char *out, size_t size)
{
    char secret[WEBHOOK_SECRET_MAX];
    const char *params[] = {org_id, webhook_secret_new(secret, sizeof secret)};
    /* Insert-or-read in one statement: concurrent first uses agree on one secret. */
    PGresult *res = db_exec(db,
                            "WITH ins AS (INSERT INTO webhook.org_secrets (org_id, secret) "
                            "VALUES ($1, $2) ON CONFLICT (org_id) DO NOTHING RETURNING secret) "
                            "SELECT secret FROM ins UNION ALL "
                            "SELECT secret FROM webhook.org_secrets WHERE org_id = $1",
                            2, params);
    int rc = -1;
    if (db_ok(res) && PQntuples(res) > 0) {
        snprintf(out, size, "%s", PQgetvalue(res, 0, 0));
        rc = 0;
    } else {
        log_error(NULL, "default secret for %s: %s", org_id, PQresultErrorMessage(res));
    }
    PQclear(res);
    return rc;
}

/* ---------------- endpoint rows ---------------- */

/* Points the message's strings into the result (valid until PQclear); the events array is
 * malloc'd and split in a malloc'd copy: free both with endpoint_release. */
static int endpoint_from_row(PGresult *res, int row, Od__WebhookEndpoint *e)
{
    char *list = strdup(PQgetvalue(res, row, 2)), *save = NULL, *item;
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
    e->id = PQgetvalue(res, row, 0);
    e->url = PQgetvalue(res, row, 1);
    e->description = PQgetvalue(res, row, 3);
    e->enabled = PQgetvalue(res, row, 4)[0] == 't';
    e->disabled_reason = PQgetvalue(res, row, 5);
    e->created_at = PQgetvalue(res, row, 6);
    e->updated_at = PQgetvalue(res, row, 7);
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
 * failed (INVALID) and -1 returned. events_literal receives '{a,b}' for SQL. */
static int endpoint_validate(struct rpc_call *call, bool set_url, const char *url,
                             bool set_events, char *const *events, size_t n_events,
                             bool set_description, const char *description,
                             char *events_literal, size_t literal_size)
{
    const struct webhook_app *app = call->app;
    char reason[300];
    size_t used = 0;

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
        used = (size_t)snprintf(events_literal, literal_size, "{");
        for (size_t i = 0; i < n_events; i++) {
            /* Known types are [a-z._*] only, so the array literal needs no quoting. */
            if (!webhook_event_type_known(events[i])) {
                rpc_fail(call, OD__STATUS__INVALID, "events[%zu] is not a known event type: %.64s",
                         i, events[i]);
                return -1;
            }
            used += (size_t)snprintf(events_literal + used, literal_size - used, "%s%s",
                                     i ? "," : "", events[i]);
            if (used >= literal_size) {
                rpc_fail(call, OD__STATUS__INVALID, "events list too long");
                return -1;
            }
        }
        snprintf(events_literal + used, literal_size - used, "}");
    }
    if (set_description && strlen(description) > WEBHOOK_DESCRIPTION_MAX) {
        rpc_fail(call, OD__STATUS__INVALID, "description must be at most %d bytes",
                 WEBHOOK_DESCRIPTION_MAX);
        return -1;
    }
    return 0;
}

/* Replies with the one endpoint a statement returned, NOT_FOUND when none. extra: the
 * secret to show (Create, RotateSecret) and the column holding previous_secret_expires_at
 * (-1 for none). */
static void endpoint_reply(struct rpc_call *call, PGresult *res, const char *what,
                           const char *secret, int expires_column,
                           Od__WebhookEndpoint_Closure closure)
{
    Od__WebhookEndpoint e;
    if (!db_ok(res))
        webhook_fail_sql(call, res, what);
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
    if (expires_column >= 0)
        e.previous_secret_expires_at = PQgetvalue(res, 0, expires_column);
    closure(&e, call);
    endpoint_release(&e);
}

static int endpoint_id_ok(struct rpc_call *call, const char *id)
{
    if (webhook_require_org(call) != 0)
        return -1;
    if (!ids_valid(WEBHOOK_ENDPOINT_PREFIX, id)) {
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
    char id[IDS_MAX_LEN], secret[WEBHOOK_SECRET_MAX], events[2048];
    PGresult *res;

    if (webhook_require_org(call) != 0 ||
        endpoint_validate(call, true, in->url, true, in->events, in->n_events, true,
                          in->description, events, sizeof events) != 0) {
        closure(NULL, call);
        return;
    }
    const char *params[] = {call->org_id, ids_new_ordered(WEBHOOK_ENDPOINT_PREFIX, id, sizeof id),
                            in->url, events, in->description,
                            webhook_secret_new(secret, sizeof secret)};
    res = db_exec(call->db,
                  "INSERT INTO webhook.endpoints (org_id, id, url, events, description, secret) "
                  "VALUES ($1, $2, $3, $4::text[], $5, $6) RETURNING " ENDPOINT_COLUMNS,
                  6, params);
    endpoint_reply(call, res, "create endpoint", secret, -1, closure);
    PQclear(res);
}

static void webhooks_list_endpoints(Od__Webhooks_Service *service, const Od__Empty *in,
                                    Od__ListEndpointsReply_Closure closure, void *closure_data)
{
    struct rpc_call *call = closure_data;
    Od__ListEndpointsReply reply = OD__LIST_ENDPOINTS_REPLY__INIT;
    Od__WebhookEndpoint *items = NULL, **ptrs = NULL;
    PGresult *res = NULL;
    int n = 0;

    if (webhook_require_org(call) != 0)
        goto fail;
    const char *params[] = {call->org_id};
    res = db_exec(call->db,
                  "SELECT " ENDPOINT_COLUMNS " FROM webhook.endpoints WHERE org_id = $1 "
                  "ORDER BY created_at DESC, id DESC LIMIT 1000",
                  1, params);
    if (!db_ok(res)) {
        webhook_fail_sql(call, res, "list endpoints");
        goto fail;
    }
    items = calloc((size_t)PQntuples(res) + 1, sizeof *items);
    ptrs = calloc((size_t)PQntuples(res) + 1, sizeof *ptrs);
    if (items == NULL || ptrs == NULL) {
        rpc_fail(call, OD__STATUS__INTERNAL, "out of memory");
        goto fail;
    }
    for (n = 0; n < PQntuples(res); n++) {
        if (endpoint_from_row(res, n, &items[n]) != 0) {
            rpc_fail(call, OD__STATUS__INTERNAL, "out of memory");
            goto fail;
        }
        ptrs[n] = &items[n];
    }
    reply.n_data = (size_t)n;
    reply.data = ptrs;
    closure(&reply, call);
    goto out;
fail:
    closure(NULL, call);
out:
    for (int i = 0; i < n; i++)
        endpoint_release(&items[i]);
    free(items);
    free(ptrs);
    PQclear(res);
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
    endpoint_reply(call, res, "get endpoint", NULL, -1, closure);
    PQclear(res);
}

static void webhooks_update_endpoint(Od__Webhooks_Service *service,
                                     const Od__UpdateEndpointRequest *in,
                                     Od__WebhookEndpoint_Closure closure, void *closure_data)
{
    struct rpc_call *call = closure_data;
    char events[2048] = "{}";
    PGresult *res;

    if (endpoint_id_ok(call, in->id) != 0 ||
        endpoint_validate(call, in->set_url, in->url, in->set_events, in->events, in->n_events,
                          in->set_description, in->description, events, sizeof events) != 0) {
        closure(NULL, call);
        return;
    }
    const char *params[] = {call->org_id, in->id,
                            in->set_url ? "t" : "f", in->url,
                            in->set_events ? "t" : "f", events,
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
    endpoint_reply(call, res, "update endpoint", NULL, -1, closure);
    PQclear(res);
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
        webhook_fail_sql(call, res, "delete endpoint");
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
                  "RETURNING " ENDPOINT_COLUMNS ", " ISO("previous_secret_expires_at"),
                  3, params);
    endpoint_reply(call, res, "rotate secret", secret, 8, closure);
    PQclear(res);
}

/* ---------------- deliveries ---------------- */

static void delivery_from_row(PGresult *res, int row, Od__Delivery *d)
{
    od__delivery__init(d);
    d->id = PQgetvalue(res, row, 0);
    d->event_id = PQgetvalue(res, row, 1);
    d->event_type = PQgetvalue(res, row, 2);
    d->endpoint_id = PQgetvalue(res, row, 3);
    d->url = PQgetvalue(res, row, 4);
    d->status = PQgetvalue(res, row, 5);
    d->attempt_count = atoi(PQgetvalue(res, row, 6));
    d->next_attempt_at = PQgetvalue(res, row, 7);
    d->created_at = PQgetvalue(res, row, 8);
}

/* Reads one delivery by id and replies with it. */
static void delivery_reply(struct rpc_call *call, const char *id, Od__Delivery_Closure closure)
{
    Od__Delivery d;
    const char *params[] = {call->org_id, id};
    PGresult *res = db_exec(call->db,
                            "SELECT " DELIVERY_COLUMNS " FROM webhook.deliveries d "
                            "JOIN webhook.events e ON e.id = d.event_id "
                            "WHERE d.org_id = $1 AND d.id = $2",
                            2, params);
    if (!db_ok(res))
        webhook_fail_sql(call, res, "read delivery");
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
    ids_new_ordered("evt_", event_id, sizeof event_id);
    ids_new_ordered(WEBHOOK_DELIVERY_PREFIX, delivery_id, sizeof delivery_id);
    time_format_ms(time_now_ms(), now, sizeof now);
    body = json_pack("{s:s, s:s, s:{s:s, s:s}}", "event", "webhook.test", "timestamp", now,
                     "data", "endpointId", in->id, "message", "This is a test event from Outdial.");
    text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (text == NULL) {
        rpc_fail(call, OD__STATUS__INTERNAL, "out of memory");
        closure(NULL, call);
        return;
    }
    const char *params[] = {call->org_id, in->id, event_id, text, delivery_id};
    res = db_exec(call->db,
                  "WITH ep AS (SELECT id, url, enabled FROM webhook.endpoints "
                  "  WHERE org_id = $1 AND id = $2), "
                  "ev AS (INSERT INTO webhook.events (id, org_id, event_type, body, created_at) "
                  "  SELECT $3, $1, 'webhook.test', $4, now() FROM ep WHERE ep.enabled "
                  "  RETURNING id), "
                  "d AS (INSERT INTO webhook.deliveries (id, org_id, event_id, endpoint_id, url, "
                  "  next_attempt_at) SELECT $5, $1, ev.id, ep.id, ep.url, now() FROM ev, ep "
                  "  RETURNING id) "
                  "SELECT (SELECT count(*) FROM ep), (SELECT count(*) FROM d)",
                  5, params);
    free(text);
    if (!db_ok(res))
        webhook_fail_sql(call, res, "test endpoint");
    else if (strcmp(PQgetvalue(res, 0, 0), "0") == 0)
        rpc_fail(call, OD__STATUS__NOT_FOUND, "webhook endpoint not found");
    else if (strcmp(PQgetvalue(res, 0, 1), "0") == 0)
        rpc_fail(call, OD__STATUS__CONFLICT, "webhook endpoint is disabled");
    PQclear(res);
    if (call->status != OD__STATUS__OK) {
        closure(NULL, call);
        return;
    }
    if (app->dispatcher != NULL)
        dispatcher_wake(app->dispatcher);
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
    char limit[16], offset[32];
    char *ids = NULL;
    size_t ids_len = 0;
    int n, page = in->page > 0 ? in->page : 1, per = in->limit > 0 && in->limit <= 100 ? in->limit : 20;

    if (endpoint_id_ok(call, in->endpoint_id) != 0)
        goto fail;
    const char *eparams[] = {call->org_id, in->endpoint_id};
    count = db_exec(call->db,
                    "SELECT (SELECT count(*) FROM webhook.endpoints WHERE org_id = $1 AND id = $2), "
                    "(SELECT count(*) FROM webhook.deliveries WHERE org_id = $1 AND endpoint_id = $2)",
                    2, eparams);
    if (!db_ok(count)) {
        webhook_fail_sql(call, count, "count deliveries");
        goto fail;
    }
    if (strcmp(PQgetvalue(count, 0, 0), "0") == 0) {
        rpc_fail(call, OD__STATUS__NOT_FOUND, "webhook endpoint not found");
        goto fail;
    }
    snprintf(limit, sizeof limit, "%d", per);
    snprintf(offset, sizeof offset, "%lld", (long long)(page - 1) * per);
    const char *params[] = {call->org_id, in->endpoint_id, limit, offset};
    res = db_exec(call->db,
                  "SELECT " DELIVERY_COLUMNS " FROM webhook.deliveries d "
                  "JOIN webhook.events e ON e.id = d.event_id "
                  "WHERE d.org_id = $1 AND d.endpoint_id = $2 "
                  "ORDER BY d.created_at DESC, d.id DESC LIMIT $3::int OFFSET $4::bigint",
                  4, params);
    if (!db_ok(res)) {
        webhook_fail_sql(call, res, "list deliveries");
        goto fail;
    }
    n = PQntuples(res);
    items = calloc((size_t)n + 1, sizeof *items);
    ptrs = calloc((size_t)n + 1, sizeof *ptrs);
    ids = malloc((size_t)n * (IDS_MAX_LEN + 1) + 3);
    if (items == NULL || ptrs == NULL || ids == NULL) {
        rpc_fail(call, OD__STATUS__INTERNAL, "out of memory");
        goto fail;
    }
    /* The attempt log of the page's deliveries, in one statement; ids are [A-Za-z0-9_-]. */
    ids[ids_len++] = '{';
    for (int i = 0; i < n; i++) {
        delivery_from_row(res, i, &items[i]);
        ptrs[i] = &items[i];
        ids_len += (size_t)sprintf(ids + ids_len, "%s%s", i ? "," : "", items[i].id);
    }
    ids[ids_len++] = '}';
    ids[ids_len] = '\0';
    const char *lparams[] = {ids};
    log = db_exec(call->db,
                  "SELECT delivery_id, " ISO("attempted_at") ", status_code, latency_ms, error, "
                  "coalesce(" ISO("next_retry_at") ", '') FROM webhook.delivery_attempts "
                  "WHERE delivery_id = ANY ($1::text[]) ORDER BY delivery_id, attempt",
                  1, lparams);
    if (!db_ok(log)) {
        webhook_fail_sql(call, log, "list delivery attempts");
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
        a->attempted_at = PQgetvalue(log, r, 1);
        a->status_code = atoi(PQgetvalue(log, r, 2));
        a->latency_ms = atoi(PQgetvalue(log, r, 3));
        a->error = PQgetvalue(log, r, 4);
        a->next_retry_at = PQgetvalue(log, r, 5);
        attempt_ptrs[r] = a;
        for (int i = 0; i < n; i++) {
            if (strcmp(items[i].id, PQgetvalue(log, r, 0)) == 0) {
                if (items[i].n_attempts == 0)
                    items[i].attempts = &attempt_ptrs[r];
                items[i].n_attempts++;
                break;
            }
        }
    }
    reply.n_data = (size_t)n;
    reply.data = ptrs;
    reply.total = strtoll(PQgetvalue(count, 0, 1), NULL, 10);
    closure(&reply, call);
    goto out;
fail:
    closure(NULL, call);
out:
    free(items);
    free(ptrs);
    free(attempts);
    free(attempt_ptrs);
    free(ids);
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

    if (webhook_require_org(call) != 0 || !ids_valid(WEBHOOK_DELIVERY_PREFIX, in->id)) {
        if (call->status == OD__STATUS__OK)
            rpc_fail(call, OD__STATUS__NOT_FOUND, "webhook delivery not found");
        closure(NULL, call);
        return;
    }
    const char *params[] = {call->org_id, in->id};
    /* One more attempt now; if it fails, the schedule continues from where it stood. */
    res = db_exec(call->db,
                  "WITH d AS (SELECT d.id, d.status, "
                  "  d.endpoint_id IS NULL OR coalesce(ep.enabled, false) AS enabled "
                  "  FROM webhook.deliveries d LEFT JOIN webhook.endpoints ep "
                  "  ON ep.org_id = d.org_id AND ep.id = d.endpoint_id "
                  "  WHERE d.org_id = $1 AND d.id = $2), "
                  "u AS (UPDATE webhook.deliveries x SET status = 'pending', "
                  "  next_attempt_at = now(), updated_at = now() FROM d "
                  "  WHERE x.id = d.id AND d.status <> 'pending' AND d.enabled RETURNING x.id) "
                  "SELECT d.status, d.enabled, (SELECT count(*) FROM u) FROM d",
                  2, params);
    if (!db_ok(res))
        webhook_fail_sql(call, res, "retry delivery");
    else if (PQntuples(res) == 0)
        rpc_fail(call, OD__STATUS__NOT_FOUND, "webhook delivery not found");
    else if (strcmp(PQgetvalue(res, 0, 0), "pending") == 0)
        rpc_fail(call, OD__STATUS__CONFLICT, "webhook delivery is already pending");
    else if (PQgetvalue(res, 0, 1)[0] != 't')
        rpc_fail(call, OD__STATUS__CONFLICT, "webhook endpoint is disabled");
    PQclear(res);
    if (call->status != OD__STATUS__OK) {
        closure(NULL, call);
        return;
    }
    if (app->dispatcher != NULL)
        dispatcher_wake(app->dispatcher);
    delivery_reply(call, in->id, closure);
}

static void webhooks_default_secret(Od__Webhooks_Service *service, const Od__Empty *in,
                                    Od__SecretReply_Closure closure, void *closure_data)
{
    struct rpc_call *call = closure_data;
    Od__SecretReply reply = OD__SECRET_REPLY__INIT;
    char secret[WEBHOOK_SECRET_MAX];
    if (webhook_require_org(call) != 0) {
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
