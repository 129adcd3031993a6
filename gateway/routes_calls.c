/* Call records: GET /v1/campaigns/:id/calls (reference 001), GET /v1/calls with filters,
 * GET /v1/calls/:id, its recording (a redirect) and transcript, and the voice agent's
 * POST /v1/calls/:id/outcome. od.Calls on dialer-svc. */
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "calls_json.h"
#include "gateway.h"
#include "ids.h"
#include "json_util.h"
#include "od_names.h"
#include "rpc.h"
#include "timefmt.h"

#define CALLS_CALL(req, ctx, stub, input) API_CALL(req, ctx, (req)->gw->calls, stub, input)

/* A call is named by our id (call_...) or the carrier's CallSid (CA...). */
static int calls_check_id(struct api_request *req, struct api_response *res)
{
    const char *id = req->params[0];
    static const char alnum[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    if (ids_valid(ID_PREFIX_CALL, id) ||
        (strncmp(id, "CA", 2) == 0 && strlen(id) <= 64 && strspn(id, alnum) == strlen(id)))
        return 0;
    api_error(res, 404, "call not found", NULL);
    return -1;
}

/* Runs Calls.List; campaign_id NULL reads ?campaignId=. full: the /v1/calls shape. */
static void calls_list_common(struct api_request *req, struct api_response *res,
                              const char *campaign_id, bool full)
{
    Od__ListCallsRequest in = OD__LIST_CALLS_REQUEST__INIT;
    struct rpc_ctx ctx;
    int page, limit;
    int64_t ms;

    if (api_query_int(req, res, "page", 1, 1, 1000000, &page) != 0 ||
        api_query_int(req, res, "limit", 20, 1, 100, &limit) != 0)
        return;
    in.page = page;
    in.limit = limit;
    if (campaign_id == NULL) {
        const char *c = api_query_string(req, "campaignId");
        const char *status = api_query_string(req, "status");
        const char *from = api_query_string(req, "from");
        const char *to = api_query_string(req, "to");
        if (c == NULL)
            c = api_query_string(req, "campaign_id");
        in.campaign_id = (char *)(c ? c : "");
        if (status != NULL && strlen(status) > 32) {
            api_error(res, 400, "status is not a call status", NULL);
            return;
        }
        if ((from != NULL && from[0] && time_parse_iso(from, &ms) != 0) ||
            (to != NULL && to[0] && time_parse_iso(to, &ms) != 0)) {
            api_error(res, 400, "from and to must be ISO 8601 times", NULL);
            return;
        }
        if (status != NULL) { /* canonical words are upper case; accept any case */
            static __thread char upper[33];
            size_t n = strlen(status);
            for (size_t i = 0; i <= n; i++)
                upper[i] = (status[i] == '-' ? '_'
                                             : (char)(status[i] >= 'a' && status[i] <= 'z'
                                                          ? status[i] - 32
                                                          : status[i]));
            status = upper;
        }
        in.status = (char *)(status ? status : "");
        in.from = (char *)(from ? from : "");
        in.to = (char *)(to ? to : "");
    } else {
        in.campaign_id = (char *)campaign_id;
    }
    CALLS_CALL(req, ctx, od__calls__list, &in);
    if (ctx.status != OD__STATUS__OK) {
        api_rpc_error(req, res, ctx.status, ctx.message);
        rpc_ctx_release(&ctx);
        return;
    }
    Od__ListCallsReply *out = (Od__ListCallsReply *)ctx.reply;
    json_t *data = json_array();
    for (size_t i = 0; i < out->n_data; i++)
        json_array_append_new(data, full ? calls_json_call(out->data[i], false)
                                         : calls_json_campaign_call(out->data[i]));
    api_list_reply(res, data, out->total, page, limit);
    rpc_ctx_release(&ctx);
}

static void calls_campaign_calls(struct api_request *req, struct api_response *res)
{
    if (api_check_id(req, res, ID_PREFIX_CAMPAIGN, "campaign") != 0)
        return;
    calls_list_common(req, res, req->params[0], false);
}

static void calls_list(struct api_request *req, struct api_response *res)
{
    calls_list_common(req, res, NULL, true);
}

/* Calls.Get; the reply stays in ctx (the caller releases it). -1 after answering. */
static int calls_get_call(struct api_request *req, struct api_response *res, struct rpc_ctx *ctx)
{
    Od__CallIdRequest in = OD__CALL_ID_REQUEST__INIT;
    if (calls_check_id(req, res) != 0)
        return -1;
    in.id = (char *)req->params[0];
    CALLS_CALL(req, *ctx, od__calls__get, &in);
    if (ctx->status != OD__STATUS__OK) {
        api_rpc_error(req, res, ctx->status, ctx->message);
        rpc_ctx_release(ctx);
        return -1;
    }
    return 0;
}

static void calls_get(struct api_request *req, struct api_response *res)
{
    struct rpc_ctx ctx;
    if (calls_get_call(req, res, &ctx) != 0)
        return;
    res->status = 200;
    res->body = calls_json_call((Od__Call *)ctx.reply, true);
    rpc_ctx_release(&ctx);
}

static void calls_transcript(struct api_request *req, struct api_response *res)
{
    struct rpc_ctx ctx;
    if (calls_get_call(req, res, &ctx) != 0)
        return;
    res->status = 200;
    res->body = calls_json_transcript((Od__Call *)ctx.reply);
    rpc_ctx_release(&ctx);
}

static void calls_recording(struct api_request *req, struct api_response *res)
{
    struct rpc_ctx ctx;
    if (calls_get_call(req, res, &ctx) != 0)
        return;
    const Od__Call *c = (Od__Call *)ctx.reply;
    if (c->recording_url[0] == '\0') {
        api_error(res, 404, "This call has no recording", NULL);
    } else if ((res->location = strdup(c->recording_url)) == NULL) {
        api_error(res, 500, "out of memory", NULL);
    } else {
        res->status = 302;
        res->body = json_pack("{s:s, s:s}", "id", c->id, "recordingUrl", c->recording_url);
    }
    rpc_ctx_release(&ctx);
}

/* "x-api-key: sk_..." or "Authorization: Bearer <key or outcome token>". */
static const char *calls_credential(struct api_request *req)
{
    const char *key = MHD_lookup_connection_value(req->connection, MHD_HEADER_KIND, "x-api-key");
    const char *auth;
    if (key != NULL && key[0] != '\0')
        return key;
    auth = MHD_lookup_connection_value(req->connection, MHD_HEADER_KIND,
                                       MHD_HTTP_HEADER_AUTHORIZATION);
    if (auth != NULL && strncasecmp(auth, "Bearer ", 7) == 0) {
        auth += 7;
        while (*auth == ' ')
            auth++;
        return auth[0] ? auth : NULL;
    }
    return NULL;
}

/* A public route: an API key of the call's organization (write scope), or the call's outcome
 * token from its TwiML, which dialer-svc checks against the hash it stored. */
static void calls_outcome(struct api_request *req, struct api_response *res)
{
    Od__CallOutcomeRequest in;
    struct api_identity identity;
    struct rpc_ctx ctx;
    char err[JSON_ERROR_MAX];
    const char *credential = calls_credential(req);
    bool by_token = false;
    json_t *body;

    if (credential == NULL) {
        api_error(res, 401, "Missing credentials: send an API key or the call's outcome token "
                  "as Authorization: Bearer", NULL);
        return;
    }
    if (strncmp(credential, "sk_", 3) == 0) {
        int found = auth_lookup(req->gw, credential, &identity);
        if (found < 0) {
            api_error(res, 503, "Authentication is temporarily unavailable", NULL);
            return;
        }
        if (found > 0) {
            api_error(res, 401, "Invalid API key", NULL);
            return;
        }
        if (identity.scope != SCOPE_WRITE) {
            api_error(res, 403, "This API key has read-only scope", NULL);
            return;
        }
        req->org_id = identity.org_id; /* lives until the handler returns */
    } else {
        by_token = true;
        req->org_id = "";
    }
    if (!ids_valid(ID_PREFIX_CALL, req->params[0])) {
        api_error(res, 404, "call not found", NULL);
        return;
    }
    if ((body = api_parse_body(req, res)) == NULL)
        return;
    if (calls_json_outcome(body, &in, err, sizeof err) != 0) {
        api_error(res, 400, err, NULL);
        json_decref(body);
        return;
    }
    in.id = (char *)req->params[0];
    in.outcome_token = (char *)(by_token ? credential : "");
    CALLS_CALL(req, ctx, od__calls__record_outcome, &in);
    calls_json_outcome_free(&in);
    json_decref(body);
    if (ctx.status == OD__STATUS__PERMISSION_DENIED && by_token) {
        api_error(res, 401, "Invalid outcome token", NULL);
    } else if (ctx.status != OD__STATUS__OK) {
        api_rpc_error(req, res, ctx.status, ctx.message);
    } else {
        res->status = 200;
        res->body = calls_json_call((Od__Call *)ctx.reply, false);
    }
    rpc_ctx_release(&ctx);
}

const struct route calls_routes[] = {
    {"GET", "/v1/campaigns/:id/calls", calls_campaign_calls, NULL},
    {"GET", "/v1/calls", calls_list, NULL},
    {"GET", "/v1/calls/:id", calls_get, NULL},
    {"GET", "/v1/calls/:id/recording", calls_recording, NULL},
    {"GET", "/v1/calls/:id/transcript", calls_transcript, NULL},
    {NULL, NULL, NULL, NULL},
};

/* Public (router.c): the handler takes an API key or the call's outcome token itself. */
const struct route calls_public_routes[] = {
    {"POST", "/v1/calls/:id/outcome", calls_outcome, NULL},
    {NULL, NULL, NULL, NULL},
};
