/* /v1/webhooks and /v1/webhook-deliveries: JSON in, a Webhooks RPC (webhook-svc), JSON out. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "body_problems.h"
#include "gateway.h"
#include "ids.h"
#include "json_util.h"
#include "od_names.h"
#include "rpc.h"
#include "webhooks.pb-c.h"
#include "webhooks_json.h"

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
    Od__CreateEndpointRequest in;
    struct body_problems problems;
    struct rpc_ctx ctx;
    json_t *body = api_parse_body(req, res);

    if (body == NULL)
        return;
    body_problems_init(&problems);
    if (webhooks_json_create(body, &in, &problems) != 0) {
        body_problems_answer(&problems, res); /* every problem, in details */
        json_decref(body);
        return;
    }
    body_problems_free(&problems);
    WEBHOOKS_CALL(req, ctx, od__webhooks__create_endpoint, &in);
    webhooks_endpoint_reply(req, res, &ctx, 201);
    webhooks_json_events_free(in.events);
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
    Od__UpdateEndpointRequest in;
    struct body_problems problems;
    struct rpc_ctx ctx;
    json_t *body;

    if (webhooks_check_id(req, res) != 0 || (body = api_parse_body(req, res)) == NULL)
        return;
    body_problems_init(&problems);
    if (webhooks_json_update(body, &in, &problems) != 0) {
        body_problems_answer(&problems, res); /* every problem, in details */
        json_decref(body);
        return;
    }
    body_problems_free(&problems);
    in.id = (char *)req->params[0];
    WEBHOOKS_CALL(req, ctx, od__webhooks__update_endpoint, &in);
    webhooks_endpoint_reply(req, res, &ctx, 200);
    webhooks_json_events_free(in.events);
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
