/* /v1/webhooks and /v1/webhook-deliveries: JSON in, a Webhooks RPC (webhook-svc), JSON out. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "ids.h"
#include "json_util.h"
#include "od_names.h"
#include "rpc.h"
#include "webhooks.pb-c.h"

#define WEBHOOK_EVENTS_JSON_MAX 64

#define WEBHOOKS_CALL(req, ctx, stub, input) API_CALL(req, ctx, (req)->gw->webhooks, stub, input)

static json_t *webhooks_nullable(const char *s)
{
    return (s != NULL && s[0] != '\0') ? json_string(s) : json_null();
}

static json_t *webhooks_endpoint_json(const Od__WebhookEndpoint *e)
{
    json_t *events = json_array();
    for (size_t i = 0; i < e->n_events; i++)
        json_array_append_new(events, json_string(e->events[i]));
    json_t *obj = json_pack("{s:s, s:s, s:o, s:s, s:b, s:o, s:s, s:s}", "id", e->id, "url",
                            e->url, "events", events, "description", e->description, "enabled",
                            e->enabled, "disabledReason", webhooks_nullable(e->disabled_reason),
                            "createdAt", e->created_at, "updatedAt", e->updated_at);
    if (e->secret[0] != '\0')
        json_object_set_new(obj, "secret", json_string(e->secret));
    if (e->previous_secret_expires_at[0] != '\0')
        json_object_set_new(obj, "previousSecretExpiresAt",
                            json_string(e->previous_secret_expires_at));
    return obj;
}

static json_t *webhooks_delivery_json(const Od__Delivery *d)
{
    json_t *attempts = json_array();
    for (size_t i = 0; i < d->n_attempts; i++) {
        const Od__DeliveryAttempt *a = d->attempts[i];
        json_array_append_new(
            attempts, json_pack("{s:s, s:o, s:i, s:o, s:o}", "attemptedAt", a->attempted_at,
                                "statusCode", a->status_code ? json_integer(a->status_code) : json_null(),
                                "latencyMs", a->latency_ms, "error", webhooks_nullable(a->error),
                                "nextRetryAt", webhooks_nullable(a->next_retry_at)));
    }
    return json_pack("{s:s, s:s, s:s, s:o, s:s, s:s, s:i, s:o, s:s, s:o}", "id", d->id,
                     "eventId", d->event_id, "eventType", d->event_type, "endpointId",
                     webhooks_nullable(d->endpoint_id), "url", d->url, "status", d->status,
                     "attemptCount", d->attempt_count, "nextAttemptAt",
                     webhooks_nullable(d->next_attempt_at), "createdAt", d->created_at,
                     "attempts", attempts);
}

/* Reads "events" (an array of strings) into a malloc'd array of borrowed strings. 0 when
 * absent (*n = 0), 1 when read, -1 after answering 400. */
static int webhooks_events_field(json_t *body, struct api_response *res, char ***out, size_t *n)
{
    json_t *events = json_object_get(body, "events"), *item;
    size_t i;
    char msg[96];
    *out = NULL;
    *n = 0;
    if (events == NULL || json_is_null(events))
        return 0;
    if (!json_is_array(events) || json_array_size(events) > WEBHOOK_EVENTS_JSON_MAX) {
        snprintf(msg, sizeof msg, "events must be an array of at most %d event types",
                 WEBHOOK_EVENTS_JSON_MAX);
        api_error(res, 400, msg, NULL);
        return -1;
    }
    *out = calloc(json_array_size(events) + 1, sizeof **out);
    if (*out == NULL) {
        api_error(res, 500, "out of memory", NULL);
        return -1;
    }
    json_array_foreach(events, i, item) {
        if (!json_is_string(item)) {
            snprintf(msg, sizeof msg, "events[%zu] must be a string", i);
            api_error(res, 400, msg, NULL);
            free(*out);
            *out = NULL;
            return -1;
        }
        (*out)[(*n)++] = (char *)json_string_value(item);
    }
    return 1;
}

/* Answers with the endpoint a call returned, or its error. */
static void webhooks_endpoint_reply(struct api_request *req, struct api_response *res,
                                    struct rpc_ctx *ctx, unsigned ok_status)
{
    if (ctx->status != OD__STATUS__OK) {
        api_rpc_error(req, res, ctx->status, ctx->message);
    } else {
        res->status = ok_status;
        res->body = webhooks_endpoint_json((Od__WebhookEndpoint *)ctx->reply);
    }
    rpc_ctx_release(ctx);
}

static int webhooks_check_id(struct api_request *req, struct api_response *res)
{
    return api_check_id(req, res, ID_PREFIX_WEBHOOK, "webhook endpoint");
}

static void webhooks_create(struct api_request *req, struct api_response *res)
{
    Od__CreateEndpointRequest in = OD__CREATE_ENDPOINT_REQUEST__INIT;
    struct rpc_ctx ctx;
    char err[JSON_ERROR_MAX], **events = NULL, *all[] = {(char *)"*"};
    const char *url = NULL, *description = NULL;
    size_t n_events = 0;
    int got;
    json_t *body = api_parse_body(req, res);

    if (body == NULL)
        return;
    if (json_field_string(body, "", "url", 4096, &url, err, sizeof err) < 0 ||
        json_field_string(body, "", "description", 4096, &description, err, sizeof err) < 0) {
        api_error(res, 400, err, NULL);
        goto out;
    }
    if (url == NULL) {
        api_error(res, 400, "url is required", NULL);
        goto out;
    }
    if ((got = webhooks_events_field(body, res, &events, &n_events)) < 0)
        goto out;
    in.url = (char *)url;
    in.description = (char *)(description ? description : "");
    /* Events left out: every event. */
    in.events = got ? events : all;
    in.n_events = got ? n_events : 1;
    WEBHOOKS_CALL(req, ctx, od__webhooks__create_endpoint, &in);
    webhooks_endpoint_reply(req, res, &ctx, 201);
out:
    free(events);
    json_decref(body);
}

/* Paged like every list ({"data", "total", "page", "limit"}); a page holds up to 100
 * endpoints, and that is also the default, so an organization's usual handful arrives whole. */
static void webhooks_list(struct api_request *req, struct api_response *res)
{
    Od__ListEndpointsRequest in = OD__LIST_ENDPOINTS_REQUEST__INIT;
    struct rpc_ctx ctx;
    int page, limit;
    if (api_query_int(req, res, "page", 1, 1, 1000000, &page) != 0 ||
        api_query_int(req, res, "limit", 100, 1, 100, &limit) != 0)
        return;
    in.page = page;
    in.limit = limit;
    WEBHOOKS_CALL(req, ctx, od__webhooks__list_endpoints, &in);
    if (ctx.status != OD__STATUS__OK) {
        api_rpc_error(req, res, ctx.status, ctx.message);
    } else {
        Od__ListEndpointsReply *out = (Od__ListEndpointsReply *)ctx.reply;
        json_t *data = json_array();
        for (size_t i = 0; i < out->n_data; i++)
            json_array_append_new(data, webhooks_endpoint_json(out->data[i]));
        api_list_reply(res, data, out->total, page, limit);
    }
    rpc_ctx_release(&ctx);
}

static void webhooks_get(struct api_request *req, struct api_response *res)
{
    Od__EndpointIdRequest in = OD__ENDPOINT_ID_REQUEST__INIT;
    struct rpc_ctx ctx;
    if (webhooks_check_id(req, res) != 0)
        return;
    in.id = (char *)req->params[0];
    WEBHOOKS_CALL(req, ctx, od__webhooks__get_endpoint, &in);
    webhooks_endpoint_reply(req, res, &ctx, 200);
}

static void webhooks_update(struct api_request *req, struct api_response *res)
{
    Od__UpdateEndpointRequest in = OD__UPDATE_ENDPOINT_REQUEST__INIT;
    struct rpc_ctx ctx;
    char err[JSON_ERROR_MAX], **events = NULL;
    const char *url = NULL, *description = NULL;
    size_t n_events = 0;
    int enabled = 0, got;
    enum json_field_result has_enabled;
    json_t *body;

    if (webhooks_check_id(req, res) != 0 || (body = api_parse_body(req, res)) == NULL)
        return;
    if (json_field_string(body, "", "url", 4096, &url, err, sizeof err) < 0 ||
        json_field_string(body, "", "description", 4096, &description, err, sizeof err) < 0 ||
        (has_enabled = json_field_bool(body, "", "enabled", &enabled, err, sizeof err)) < 0) {
        api_error(res, 400, err, NULL);
        goto out;
    }
    if ((got = webhooks_events_field(body, res, &events, &n_events)) < 0)
        goto out;
    in.id = (char *)req->params[0];
    in.set_url = url != NULL;
    in.url = (char *)(url ? url : "");
    in.set_events = got == 1;
    in.events = events;
    in.n_events = n_events;
    in.set_description = json_object_get(body, "description") != NULL;
    in.description = (char *)(description ? description : "");
    in.set_enabled = has_enabled == JSON_FIELD_OK;
    in.enabled = enabled;
    WEBHOOKS_CALL(req, ctx, od__webhooks__update_endpoint, &in);
    webhooks_endpoint_reply(req, res, &ctx, 200);
out:
    free(events);
    json_decref(body);
}

static void webhooks_delete(struct api_request *req, struct api_response *res)
{
    Od__EndpointIdRequest in = OD__ENDPOINT_ID_REQUEST__INIT;
    struct rpc_ctx ctx;
    if (webhooks_check_id(req, res) != 0)
        return;
    in.id = (char *)req->params[0];
    WEBHOOKS_CALL(req, ctx, od__webhooks__delete_endpoint, &in);
    api_deleted(req, res, &ctx, in.id);
}

static void webhooks_rotate(struct api_request *req, struct api_response *res)
{
    Od__EndpointIdRequest in = OD__ENDPOINT_ID_REQUEST__INIT;
    struct rpc_ctx ctx;
    if (webhooks_check_id(req, res) != 0)
        return;
    in.id = (char *)req->params[0];
    WEBHOOKS_CALL(req, ctx, od__webhooks__rotate_secret, &in);
    webhooks_endpoint_reply(req, res, &ctx, 200);
}

/* Answers with the delivery a call returned (202: it is queued), or its error. */
static void webhooks_delivery_reply(struct api_request *req, struct api_response *res,
                                    struct rpc_ctx *ctx)
{
    if (ctx->status != OD__STATUS__OK) {
        api_rpc_error(req, res, ctx->status, ctx->message);
    } else {
        res->status = 202;
        res->body = webhooks_delivery_json((Od__Delivery *)ctx->reply);
    }
    rpc_ctx_release(ctx);
}

static void webhooks_test(struct api_request *req, struct api_response *res)
{
    Od__EndpointIdRequest in = OD__ENDPOINT_ID_REQUEST__INIT;
    struct rpc_ctx ctx;
    if (webhooks_check_id(req, res) != 0)
        return;
    in.id = (char *)req->params[0];
    WEBHOOKS_CALL(req, ctx, od__webhooks__test_endpoint, &in);
    webhooks_delivery_reply(req, res, &ctx);
}

static void webhooks_deliveries(struct api_request *req, struct api_response *res)
{
    Od__ListDeliveriesRequest in = OD__LIST_DELIVERIES_REQUEST__INIT;
    struct rpc_ctx ctx;
    int page, limit;
    if (webhooks_check_id(req, res) != 0 ||
        api_query_int(req, res, "page", 1, 1, 1000000, &page) != 0 ||
        api_query_int(req, res, "limit", 20, 1, 100, &limit) != 0)
        return;
    in.endpoint_id = (char *)req->params[0];
    in.page = page;
    in.limit = limit;
    WEBHOOKS_CALL(req, ctx, od__webhooks__list_deliveries, &in);
    if (ctx.status != OD__STATUS__OK) {
        api_rpc_error(req, res, ctx.status, ctx.message);
    } else {
        Od__ListDeliveriesReply *out = (Od__ListDeliveriesReply *)ctx.reply;
        json_t *data = json_array();
        for (size_t i = 0; i < out->n_data; i++)
            json_array_append_new(data, webhooks_delivery_json(out->data[i]));
        api_list_reply(res, data, out->total, page, limit);
    }
    rpc_ctx_release(&ctx);
}

static void webhooks_retry(struct api_request *req, struct api_response *res)
{
    Od__DeliveryIdRequest in = OD__DELIVERY_ID_REQUEST__INIT;
    struct rpc_ctx ctx;
    if (!ids_valid(ID_PREFIX_WEBHOOK_DELIVERY, req->params[0])) {
        api_error(res, 404, "webhook delivery not found", NULL);
        return;
    }
    in.id = (char *)req->params[0];
    WEBHOOKS_CALL(req, ctx, od__webhooks__retry_delivery, &in);
    webhooks_delivery_reply(req, res, &ctx);
}

static void webhooks_default_secret(struct api_request *req, struct api_response *res)
{
    Od__Empty in = OD__EMPTY__INIT;
    struct rpc_ctx ctx;
    /* A secret lets its holder forge deliveries: like endpoint secrets (shown by POST only),
     * it is for write keys. */
    if (req->scope != SCOPE_WRITE) {
        api_error(res, 403, "reading the signing secret needs a write key", NULL);
        return;
    }
    WEBHOOKS_CALL(req, ctx, od__webhooks__default_secret, &in);
    if (ctx.status != OD__STATUS__OK) {
        api_rpc_error(req, res, ctx.status, ctx.message);
    } else {
        res->status = 200;
        res->body = json_pack("{s:s}", "secret", ((Od__SecretReply *)ctx.reply)->secret);
    }
    rpc_ctx_release(&ctx);
}

/* Literal paths before ":id" patterns: the first match wins. */
const struct route webhooks_routes[] = {
    {"POST", "/v1/webhooks", webhooks_create, NULL},
    {"GET", "/v1/webhooks", webhooks_list, NULL},
    {"GET", "/v1/webhooks/default-secret", webhooks_default_secret, NULL},
    {"GET", "/v1/webhooks/:id", webhooks_get, NULL},
    {"PATCH", "/v1/webhooks/:id", webhooks_update, NULL},
    {"DELETE", "/v1/webhooks/:id", webhooks_delete, NULL},
    {"POST", "/v1/webhooks/:id/rotate-secret", webhooks_rotate, NULL},
    {"POST", "/v1/webhooks/:id/test", webhooks_test, NULL},
    {"GET", "/v1/webhooks/:id/deliveries", webhooks_deliveries, NULL},
    {"POST", "/v1/webhook-deliveries/:id/retry", webhooks_retry, NULL},
    {NULL, NULL, NULL, NULL},
};
