/* Campaigns in two dialects over one od.Campaigns / od.Leads service (campaign-svc):
 *   /v1/campaigns/...   the canonical OliAI API (also OutboundCalls.ai's snake_case create)
 *   /api/campaigns/...  OsmTalk (lower-case statuses, agentId, maxConcurrent, PUT, /stop,
 *                       limit/offset lists)
 * Every handler takes the dialect; the mapping itself is gateway/campaigns_json.c (fields and
 * status words) and gateway/leads_json.c (lead uploads). The DNC routes under
 * /api/campaigns/dnc live in routes_dnc.c; the router prefers their literal "dnc" segment over
 * this file's ":id". */
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "body_problems.h"
#include "campaigns_json.h"
#include "gateway.h"
#include "json_util.h"
#include "leads_json.h"
#include "od_names.h"
#include "route_util.h"
#include "rpc.h"

#define CAMPAIGNS_CALL(req, ctx, stub, input) API_CALL(req, ctx, (req)->gw->campaigns, stub, input)

/* The service's page size for campaign lists (ListRequest.limit is 1..100). */
#define CAMPAIGNS_SVC_PAGE 100

static int campaigns_check_id(struct api_request *req, struct api_response *res)
{
    return api_check_id(req, res, ID_PREFIX_CAMPAIGN, "campaign");
}

/* A failed call as HTTP, its message in the dialect's status words. */
static void campaigns_rpc_error(struct api_request *req, struct api_response *res,
                                enum campaigns_dialect d, const struct rpc_ctx *ctx)
{
    char message[512];
    campaigns_dialect_message(d, ctx->message, message, sizeof message);
    api_rpc_error(req, res, ctx->status, message);
}

/* Answers with the campaign a call returned, or its error; releases ctx. */
static void campaigns_reply(struct api_request *req, struct api_response *res,
                            enum campaigns_dialect d, struct rpc_ctx *ctx, unsigned ok_status)
{
    if (ctx->status != OD__STATUS__OK) {
        campaigns_rpc_error(req, res, d, ctx);
    } else {
        res->status = ok_status;
        res->body = campaigns_json_campaign((Od__Campaign *)ctx->reply, d);
    }
    rpc_ctx_release(ctx);
}

/* ---------------- create, read, update, delete ---------------- */

static void campaigns_write(struct api_request *req, struct api_response *res,
                            enum campaigns_dialect d, enum campaigns_write w)
{
    struct campaigns_input input;
    struct body_problems problems;
    struct rpc_ctx ctx;
    json_t *body;

    if (w == CAMPAIGNS_UPDATE && campaigns_check_id(req, res) != 0)
        return;
    if ((body = api_parse_body(req, res)) == NULL)
        return;
    body_problems_init(&problems);
    if (campaigns_json_input(body, d, w, &input, &problems) != 0) {
        body_problems_answer(&problems, res);
        json_decref(body);
        return;
    }
    body_problems_free(&problems);
    if (w == CAMPAIGNS_CREATE) {
        CAMPAIGNS_CALL(req, ctx, od__campaigns__create, &input.in);
    } else {
        input.in.id = (char *)req->params[0];
        CAMPAIGNS_CALL(req, ctx, od__campaigns__update, &input.in);
    }
    json_decref(body);
    campaigns_reply(req, res, d, &ctx, w == CAMPAIGNS_CREATE ? 201 : 200);
}

static void campaigns_get(struct api_request *req, struct api_response *res,
                          enum campaigns_dialect d)
{
    Od__IdRequest in = OD__ID_REQUEST__INIT;
    struct rpc_ctx ctx;
    if (campaigns_check_id(req, res) != 0)
        return;
    in.id = (char *)req->params[0];
    CAMPAIGNS_CALL(req, ctx, od__campaigns__get, &in);
    campaigns_reply(req, res, d, &ctx, 200);
}

static void campaigns_delete(struct api_request *req, struct api_response *res,
                             enum campaigns_dialect d)
{
    Od__IdRequest in = OD__ID_REQUEST__INIT;
    struct rpc_ctx ctx;
    if (campaigns_check_id(req, res) != 0)
        return;
    in.id = (char *)req->params[0];
    CAMPAIGNS_CALL(req, ctx, od__campaigns__delete, &in);
    if (ctx.status != OD__STATUS__OK) {
        campaigns_rpc_error(req, res, d, &ctx);
        rpc_ctx_release(&ctx);
        return;
    }
    api_deleted(req, res, &ctx, in.id);
}

/* ?status= in the dialect's words -> canonical; "" when absent; NULL after answering 400. */
static const char *campaigns_status_filter(struct api_request *req, struct api_response *res,
                                          enum campaigns_dialect d, int leads)
{
    const char *word = api_query_string(req, "status");
    const char *canonical;
    char words[160], msg[256];

    if (word == NULL || word[0] == '\0')
        return "";
    canonical = leads ? campaigns_lead_status_in(d, word) : campaigns_status_in(d, word);
    if (canonical == NULL) {
        campaigns_status_words(d, leads, words, sizeof words);
        snprintf(msg, sizeof msg, "status must be one of %s", words);
        api_error(res, 400, msg, NULL);
    }
    return canonical;
}

/* GET /v1/campaigns: page, limit, status, search -> {data, total, page, limit}. */
static void campaigns_list_v1(struct api_request *req, struct api_response *res)
{
    Od__ListRequest in = OD__LIST_REQUEST__INIT;
    struct rpc_ctx ctx;
    int page, limit;
    const char *search, *status;

    if (api_list_params(req, res, &page, &limit, &search) != 0 ||
        (status = campaigns_status_filter(req, res, CAMPAIGNS_V1, 0)) == NULL)
        return;
    in.page = page;
    in.limit = limit;
    in.search = (char *)(search ? search : "");
    in.status = (char *)status;
    CAMPAIGNS_CALL(req, ctx, od__campaigns__list, &in);
    if (ctx.status != OD__STATUS__OK) {
        campaigns_rpc_error(req, res, CAMPAIGNS_V1, &ctx);
        rpc_ctx_release(&ctx);
        return;
    }
    Od__ListCampaignsReply *out = (Od__ListCampaignsReply *)ctx.reply;
    json_t *data = json_array();
    for (size_t i = 0; i < out->n_data; i++)
        json_array_append_new(data, campaigns_json_campaign(out->data[i], CAMPAIGNS_V1));
    api_list_reply(res, data, out->total, page, limit);
    rpc_ctx_release(&ctx);
}

/* GET /api/campaigns: status (OsmTalk words), search, limit 1..1000 (default 200), offset ->
 * {data, total, limit, offset}. The service pages by 100, so this reads the pages that cover
 * [offset, offset + limit) and slices them. */
static void campaigns_list_osmtalk(struct api_request *req, struct api_response *res)
{
    Od__ListRequest in = OD__LIST_REQUEST__INIT;
    struct rpc_ctx ctx;
    int limit, offset;
    const char *status, *search = api_query_string(req, "search");
    json_t *data;
    int64_t total = 0;

    if (api_query_int(req, res, "limit", 200, 1, 1000, &limit) != 0 ||
        api_query_int(req, res, "offset", 0, 0, 100000000, &offset) != 0 ||
        (status = campaigns_status_filter(req, res, CAMPAIGNS_OSMTALK, 0)) == NULL)
        return;
    if (search != NULL && strlen(search) > 100) {
        api_error(res, 400, "search must be at most 100 characters", NULL);
        return;
    }
    data = json_array();
    in.limit = CAMPAIGNS_SVC_PAGE;
    in.search = (char *)(search ? search : "");
    in.status = (char *)status;
    for (int page = offset / CAMPAIGNS_SVC_PAGE + 1;; page++) {
        in.page = page;
        CAMPAIGNS_CALL(req, ctx, od__campaigns__list, &in);
        if (ctx.status != OD__STATUS__OK) {
            campaigns_rpc_error(req, res, CAMPAIGNS_OSMTALK, &ctx);
            rpc_ctx_release(&ctx);
            json_decref(data);
            return;
        }
        Od__ListCampaignsReply *out = (Od__ListCampaignsReply *)ctx.reply;
        int64_t first = (int64_t)(page - 1) * CAMPAIGNS_SVC_PAGE;
        total = out->total;
        for (size_t i = 0; i < out->n_data && json_array_size(data) < (size_t)limit; i++)
            if (first + (int64_t)i >= offset)
                json_array_append_new(data,
                                      campaigns_json_campaign(out->data[i], CAMPAIGNS_OSMTALK));
        size_t got = out->n_data;
        rpc_ctx_release(&ctx);
        if (json_array_size(data) >= (size_t)limit || got < CAMPAIGNS_SVC_PAGE ||
            first + (int64_t)got >= total)
            break;
    }
    res->status = 200;
    res->body = json_pack("{s:o, s:I, s:i, s:i}", "data", data, "total", (json_int_t)total,
                          "limit", limit, "offset", offset);
}

/* ---------------- lifecycle ---------------- */

/* start | pause | resume | cancel. /v1 answers start with the campaign and the others with
 * {"status"} (reference 001); OsmTalk answers every action with the campaign. */
static void campaigns_act(struct api_request *req, struct api_response *res,
                          enum campaigns_dialect d, const char *action)
{
    Od__CampaignActionRequest in = OD__CAMPAIGN_ACTION_REQUEST__INIT;
    struct rpc_ctx ctx;

    if (campaigns_check_id(req, res) != 0)
        return;
    in.id = (char *)req->params[0];
    in.action = (char *)action;
    CAMPAIGNS_CALL(req, ctx, od__campaigns__act, &in);
    if (ctx.status == OD__STATUS__OK && d == CAMPAIGNS_V1 && strcmp(action, "start") != 0) {
        const Od__Campaign *c = (Od__Campaign *)ctx.reply;
        res->status = 200;
        res->body = json_pack("{s:s}", "status", campaigns_status_out(d, c->status));
        rpc_ctx_release(&ctx);
        return;
    }
    campaigns_reply(req, res, d, &ctx, 200);
}

/* ---------------- progress and report ---------------- */

enum campaigns_read { CAMPAIGNS_PROGRESS, CAMPAIGNS_REPORT };

/* GET .../:id/progress and .../:id/report: the campaign's id in, the reply in the dialect. */
static void campaigns_read(struct api_request *req, struct api_response *res,
                           enum campaigns_dialect d, enum campaigns_read what)
{
    Od__IdRequest in = OD__ID_REQUEST__INIT;
    struct rpc_ctx ctx;
    if (campaigns_check_id(req, res) != 0)
        return;
    in.id = (char *)req->params[0];
    if (what == CAMPAIGNS_PROGRESS)
        CAMPAIGNS_CALL(req, ctx, od__campaigns__get_progress, &in);
    else
        CAMPAIGNS_CALL(req, ctx, od__campaigns__get_report, &in);
    if (ctx.status != OD__STATUS__OK) {
        campaigns_rpc_error(req, res, d, &ctx);
    } else {
        res->status = 200;
        res->body = what == CAMPAIGNS_PROGRESS
                        ? campaigns_json_progress((Od__Progress *)ctx.reply, d)
                        : campaigns_json_report((Od__Report *)ctx.reply, d);
    }
    rpc_ctx_release(&ctx);
}

/* ---------------- leads ---------------- */

/* POST .../:id/leads: text/csv, {"leads": [...]} or {"csv": "..."} -> {inserted, csvErrors}. */
static void campaigns_leads_upload(struct api_request *req, struct api_response *res,
                                   enum campaigns_dialect d)
{
    const char *type =
        MHD_lookup_connection_value(req->connection, MHD_HEADER_KIND, "Content-Type");
    struct leads_upload upload;
    struct rpc_ctx ctx;
    char err[JSON_ERROR_MAX];
    int rc;

    if (campaigns_check_id(req, res) != 0)
        return;
    if (type != NULL && (api_media_type_is(type, "text/csv") ||
                         api_media_type_is(type, "application/csv"))) {
        rc = leads_csv_upload(req->body, req->body_len, &upload, err, sizeof err);
    } else if (type == NULL || api_media_type_is(type, "application/json")) {
        json_t *body = api_parse_body(req, res);
        if (body == NULL)
            return;
        rc = leads_json_upload(body, &upload, err, sizeof err);
        json_decref(body); /* the upload copied every string it keeps */
    } else {
        api_error(res, 415, "Content-Type must be text/csv or application/json", NULL);
        return;
    }
    if (rc != 0) {
        api_error(res, 400, err, NULL);
        return;
    }
    upload.req.campaign_id = (char *)req->params[0];
    API_CALL(req, ctx, req->gw->leads, od__leads__upload, &upload.req);
    if (ctx.status != OD__STATUS__OK) {
        campaigns_rpc_error(req, res, d, &ctx);
    } else {
        res->status = 200;
        res->body = leads_json_upload_reply((Od__UploadLeadsReply *)ctx.reply, &upload);
    }
    rpc_ctx_release(&ctx);
    upload.req.campaign_id = NULL;
    leads_upload_free(&upload);
}

/* GET .../:id/leads: OsmTalk takes status, limit 1..1000 (default 200) and offset and answers
 * {data, total, limit, offset}; /v1 takes page and limit (default 20, at most 100) and answers
 * {data, total, page, limit}. */
static void campaigns_leads_list(struct api_request *req, struct api_response *res,
                                 enum campaigns_dialect d)
{
    Od__ListLeadsRequest in = OD__LIST_LEADS_REQUEST__INIT;
    struct rpc_ctx ctx;
    int limit, offset = 0, page = 1;
    const char *status;

    if (campaigns_check_id(req, res) != 0)
        return;
    if (d == CAMPAIGNS_OSMTALK) {
        if (api_query_int(req, res, "limit", 200, 1, 1000, &limit) != 0 ||
            api_query_int(req, res, "offset", 0, 0, 100000000, &offset) != 0)
            return;
    } else {
        if (api_query_int(req, res, "page", 1, 1, 1000000, &page) != 0 ||
            api_query_int(req, res, "limit", 20, 1, 100, &limit) != 0)
            return;
        offset = (page - 1) * limit;
    }
    if ((status = campaigns_status_filter(req, res, d, 1)) == NULL)
        return;
    in.campaign_id = (char *)req->params[0];
    in.status = (char *)status;
    in.limit = limit;
    in.offset = offset;
    API_CALL(req, ctx, req->gw->leads, od__leads__list, &in);
    if (ctx.status != OD__STATUS__OK) {
        campaigns_rpc_error(req, res, d, &ctx);
        rpc_ctx_release(&ctx);
        return;
    }
    Od__ListLeadsReply *out = (Od__ListLeadsReply *)ctx.reply;
    json_t *data = json_array();
    for (size_t i = 0; i < out->n_data; i++)
        json_array_append_new(data, leads_json_lead(out->data[i], d));
    if (d == CAMPAIGNS_OSMTALK) {
        res->status = 200;
        res->body = json_pack("{s:o, s:I, s:i, s:i}", "data", data, "total",
                              (json_int_t)out->total, "limit", limit, "offset", offset);
    } else {
        api_list_reply(res, data, out->total, page, limit);
    }
    rpc_ctx_release(&ctx);
}

/* ---------------- the two dialects' handlers ---------------- */

#define CAMPAIGNS_HANDLER(name, body)                                                          \
    static void name(struct api_request *req, struct api_response *res) { body; }

CAMPAIGNS_HANDLER(v1_create, campaigns_write(req, res, CAMPAIGNS_V1, CAMPAIGNS_CREATE))
CAMPAIGNS_HANDLER(v1_update, campaigns_write(req, res, CAMPAIGNS_V1, CAMPAIGNS_UPDATE))
CAMPAIGNS_HANDLER(v1_get, campaigns_get(req, res, CAMPAIGNS_V1))
CAMPAIGNS_HANDLER(v1_delete, campaigns_delete(req, res, CAMPAIGNS_V1))
CAMPAIGNS_HANDLER(v1_start, campaigns_act(req, res, CAMPAIGNS_V1, "start"))
CAMPAIGNS_HANDLER(v1_pause, campaigns_act(req, res, CAMPAIGNS_V1, "pause"))
CAMPAIGNS_HANDLER(v1_resume, campaigns_act(req, res, CAMPAIGNS_V1, "resume"))
CAMPAIGNS_HANDLER(v1_cancel, campaigns_act(req, res, CAMPAIGNS_V1, "cancel"))
CAMPAIGNS_HANDLER(v1_progress, campaigns_read(req, res, CAMPAIGNS_V1, CAMPAIGNS_PROGRESS))
CAMPAIGNS_HANDLER(v1_report, campaigns_read(req, res, CAMPAIGNS_V1, CAMPAIGNS_REPORT))
CAMPAIGNS_HANDLER(v1_leads_upload, campaigns_leads_upload(req, res, CAMPAIGNS_V1))
CAMPAIGNS_HANDLER(v1_leads_list, campaigns_leads_list(req, res, CAMPAIGNS_V1))

CAMPAIGNS_HANDLER(osm_create, campaigns_write(req, res, CAMPAIGNS_OSMTALK, CAMPAIGNS_CREATE))
CAMPAIGNS_HANDLER(osm_update, campaigns_write(req, res, CAMPAIGNS_OSMTALK, CAMPAIGNS_UPDATE))
CAMPAIGNS_HANDLER(osm_get, campaigns_get(req, res, CAMPAIGNS_OSMTALK))
CAMPAIGNS_HANDLER(osm_delete, campaigns_delete(req, res, CAMPAIGNS_OSMTALK))
CAMPAIGNS_HANDLER(osm_start, campaigns_act(req, res, CAMPAIGNS_OSMTALK, "start"))
CAMPAIGNS_HANDLER(osm_pause, campaigns_act(req, res, CAMPAIGNS_OSMTALK, "pause"))
CAMPAIGNS_HANDLER(osm_resume, campaigns_act(req, res, CAMPAIGNS_OSMTALK, "resume"))
CAMPAIGNS_HANDLER(osm_stop, campaigns_act(req, res, CAMPAIGNS_OSMTALK, "cancel"))
CAMPAIGNS_HANDLER(osm_progress, campaigns_read(req, res, CAMPAIGNS_OSMTALK, CAMPAIGNS_PROGRESS))
CAMPAIGNS_HANDLER(osm_report, campaigns_read(req, res, CAMPAIGNS_OSMTALK, CAMPAIGNS_REPORT))
CAMPAIGNS_HANDLER(osm_leads_upload, campaigns_leads_upload(req, res, CAMPAIGNS_OSMTALK))
CAMPAIGNS_HANDLER(osm_leads_list, campaigns_leads_list(req, res, CAMPAIGNS_OSMTALK))

/* Literal paths before ":id" patterns; /api/campaigns/dnc (routes_dnc.c) wins over
 * /api/campaigns/:id because the router prefers a literal segment. */
const struct route campaigns_routes[] = {
    {"POST", "/v1/campaigns", v1_create, NULL},
    {"GET", "/v1/campaigns", campaigns_list_v1, NULL},
    {"GET", "/v1/campaigns/:id", v1_get, NULL},
    {"PATCH", "/v1/campaigns/:id", v1_update, NULL},
    {"DELETE", "/v1/campaigns/:id", v1_delete, NULL},
    {"POST", "/v1/campaigns/:id/start", v1_start, NULL},
    {"POST", "/v1/campaigns/:id/pause", v1_pause, NULL},
    {"POST", "/v1/campaigns/:id/resume", v1_resume, NULL},
    {"POST", "/v1/campaigns/:id/cancel", v1_cancel, NULL},
    {"GET", "/v1/campaigns/:id/progress", v1_progress, NULL},
    {"GET", "/v1/campaigns/:id/report", v1_report, NULL},
    {"POST", "/v1/campaigns/:id/leads", v1_leads_upload, NULL},
    {"GET", "/v1/campaigns/:id/leads", v1_leads_list, NULL},
    {"POST", "/api/campaigns", osm_create, NULL},
    {"GET", "/api/campaigns", campaigns_list_osmtalk, NULL},
    {"GET", "/api/campaigns/:id", osm_get, NULL},
    {"PUT", "/api/campaigns/:id", osm_update, NULL},
    {"PATCH", "/api/campaigns/:id", osm_update, NULL},
    {"DELETE", "/api/campaigns/:id", osm_delete, NULL},
    {"POST", "/api/campaigns/:id/start", osm_start, NULL},
    {"POST", "/api/campaigns/:id/pause", osm_pause, NULL},
    {"POST", "/api/campaigns/:id/resume", osm_resume, NULL},
    {"POST", "/api/campaigns/:id/stop", osm_stop, NULL},
    {"GET", "/api/campaigns/:id/progress", osm_progress, NULL},
    {"GET", "/api/campaigns/:id/report", osm_report, NULL},
    {"POST", "/api/campaigns/:id/leads", osm_leads_upload, NULL},
    {"GET", "/api/campaigns/:id/leads", osm_leads_list, NULL},
    {NULL, NULL, NULL, NULL},
};
