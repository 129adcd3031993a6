/* The Events RPC service: the intake of events from every producing service's outbox relay.
 *
 * Publish stores a batch in one statement (so in one transaction): the events, and one
 * delivery per destination (every enabled endpoint of the organization subscribed to the
 * event type, plus the event's own webhook_url). It answers OK only after that commit, so an
 * acknowledged event is durable. An id already stored for the same organization is skipped
 * (ON CONFLICT (org_id, id) DO NOTHING): a relay that re-sends a batch after losing our answer
 * creates no duplicate deliveries, and one organization's event id never swallows another's.
 * A batch spans organizations (one relay serves them all); every row carries its own. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"

#include "db.h"
#include "endpoints.h"
#include "ids.h"
#include "log.h"
#include "od_names.h"
#include "rpc.h"
#include "rpc_util.h"
#include "timefmt.h"
#include "webhook_app.h"

/* The body receivers get: the producer's payload with "event" and "timestamp" filled in when
 * the producer left them out (every payload carries both). NULL when payload is not a JSON
 * object. Caller frees. */
static char *events_body(const Od__Event *e, const char *timestamp)
{
    json_t *obj = json_loads(e->payload_json, JSON_REJECT_DUPLICATES, NULL);
    char *text = NULL;
    if (obj == NULL || !json_is_object(obj))
        goto out;
    if (json_object_get(obj, "event") == NULL)
        json_object_set_new(obj, "event", json_string(e->event_type));
    if (json_object_get(obj, "timestamp") == NULL)
        json_object_set_new(obj, "timestamp", json_string(timestamp));
    text = json_dumps(obj, JSON_COMPACT);
out:
    json_decref(obj);
    return text;
}

/* NULL when the event can be stored, else why not. */
static const char *events_invalid(const Od__Event *e)
{
    int64_t ms;
    if (e->id[0] == '\0' || strlen(e->id) > 64)
        return "id must be 1-64 characters";
    if (e->org_id[0] == '\0' || strlen(e->org_id) > 64)
        return "org_id is required";
    if (e->event_type[0] == '\0' || strlen(e->event_type) > 100)
        return "event_type is required";
    if (e->created_at[0] != '\0' && time_parse_iso(e->created_at, &ms) != 0)
        return "created_at is not an ISO 8601 time";
    if (strlen(e->webhook_url) > WEBHOOK_URL_MAX)
        return "webhook_url is too long";
    return NULL;
}

static void events_publish(Od__Events_Service *service, const Od__PublishRequest *in,
                           Od__PublishReply_Closure closure, void *closure_data)
{
    struct rpc_call *call = closure_data;
    const struct webhook_app *app = call->app;
    Od__PublishReply reply = OD__PUBLISH_REPLY__INIT;
    json_t *rows = json_array();
    char *rows_text = NULL, now[TIME_ISO_LEN];
    PGresult *res = NULL;
    long long stored = 0, deliveries = 0;

    if (in->n_events > EVENTS_PUBLISH_MAX) {
        rpc_fail(call, OD__STATUS__INVALID, "at most %d events per call", EVENTS_PUBLISH_MAX);
        goto fail;
    }
    time_format_ms(time_now_ms(), now, sizeof now);
    for (size_t i = 0; i < in->n_events && rows != NULL; i++) {
        const Od__Event *e = in->events[i];
        const char *reason = events_invalid(e), *created = e->created_at[0] ? e->created_at : now;
        char *body = reason ? NULL : events_body(e, created);
        if (body == NULL) {
            /* Never deliverable: storing it would only make the relay re-send it forever. */
            log_error(call->request_id, "dropping event %.64s (%.100s): %s", e->id,
                      e->event_type, reason ? reason : "payload is not a JSON object");
            reply.rejected++;
            continue;
        }
        json_array_append_new(rows, json_pack("{s:s, s:s, s:s, s:s%, s:s, s:s}", "id", e->id,
                                               "org_id", e->org_id, "event_type", e->event_type,
                                               "body", body, strlen(body), "webhook_url",
                                               e->webhook_url, "created_at", created));
        free(body);
    }
    if (rows == NULL || (rows_text = json_dumps(rows, JSON_COMPACT)) == NULL) {
        rpc_fail(call, OD__STATUS__INTERNAL, "out of memory");
        goto fail;
    }
    const char *params[] = {rows_text};
    res = db_exec(call->db,
                  "WITH input AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS t(id text, "
                  "  org_id text, event_type text, body text, webhook_url text, "
                  "  created_at timestamptz)), "
                  "ins AS (INSERT INTO webhook.events (id, org_id, event_type, body, webhook_url, "
                  "  created_at) SELECT id, org_id, event_type, body, nullif(webhook_url, ''), "
                  "  created_at FROM input ON CONFLICT (org_id, id) DO NOTHING "
                  "  RETURNING id, org_id, event_type, webhook_url), "
                  "dest AS (SELECT ins.id AS event_id, ins.org_id, ep.id AS endpoint_id, ep.url "
                  "  FROM ins JOIN webhook.endpoints ep ON ep.org_id = ins.org_id AND ep.enabled "
                  "  AND (ins.event_type = ANY (ep.events) OR '*' = ANY (ep.events)) "
                  "  UNION ALL SELECT id, org_id, NULL, webhook_url FROM ins "
                  "  WHERE webhook_url IS NOT NULL), "
                  "del AS (INSERT INTO webhook.deliveries (id, org_id, event_id, endpoint_id, url, "
                  "  next_attempt_at) SELECT '" ID_PREFIX_WEBHOOK_DELIVERY "' || "
                  "  replace(gen_random_uuid()::text, '-', ''), "
                  "  org_id, event_id, endpoint_id, url, now() FROM dest RETURNING 1) "
                  "SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM del)",
                  1, params);
    if (!db_ok(res)) {
        rpc_fail_sql(call, res, "publish events");
        goto fail;
    }
    enum { PUBLISHED_COL_STORED, PUBLISHED_COL_DELIVERIES };
    stored = strtoll(PQgetvalue(res, 0, PUBLISHED_COL_STORED), NULL, 10);
    deliveries = strtoll(PQgetvalue(res, 0, PUBLISHED_COL_DELIVERIES), NULL, 10);
    reply.stored = (int32_t)stored;
    reply.duplicates = (int32_t)json_array_size(rows) - reply.stored;
    if (deliveries > 0)
        webhook_app_wake_deliveries(app);
    log_debug(call->request_id, "published %lld events (%d duplicates), %lld deliveries",
              stored, reply.duplicates, deliveries);
    closure(&reply, call);
    goto out;
fail:
    closure(NULL, call);
out:
    PQclear(res);
    free(rows_text);
    json_decref(rows);
}

Od__Events_Service events_service = OD__EVENTS__INIT(events_);
