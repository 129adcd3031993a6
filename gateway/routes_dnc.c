/* The do-not-call list: OsmTalk's /api/campaigns/dnc and the canonical /v1/dnc, the same
 * handlers under both paths. JSON in, a Dnc RPC to contacts-svc, JSON out. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "body_problems.h"
#include "dnc_json.h"
#include "gateway.h"
#include "ids.h"
#include "json_util.h"
#include "od_names.h"
#include "route_util.h"
#include "rpc.h"


#define DNC_CALL(req, ctx, stub, input) API_CALL(req, ctx, (req)->gw->dnc, stub, input)

static json_t *dnc_json(const void *entry)
{
    return dnc_json_entry(entry);
}

static void dnc_list(struct api_request *req, struct api_response *res)
{
    Od__ListDncRequest in = OD__LIST_DNC_REQUEST__INIT;
    struct rpc_ctx ctx;

    if (api_list_request(req, res, &in.page, &in.limit, &in.search) != 0)
        return;
    DNC_CALL(req, ctx, od__dnc__list, &in);
    api_reply_list(req, res, &ctx, in.page, in.limit, dnc_json);
}

/* GET /api/campaigns/dnc, OsmTalk's list: limit 1..1000 (default 200) and offset, answered
 * {data, total, limit, offset} (issue 14; reference 003's leads list does the same). The
 * service pages by at most 100 rows, so this reads the pages that cover [offset,
 * offset + limit) and slices them (as GET /api/campaigns does). */
#define DNC_SVC_PAGE 100

static void dnc_list_osmtalk(struct api_request *req, struct api_response *res)
{
    Od__ListDncRequest in = OD__LIST_DNC_REQUEST__INIT;
    struct rpc_ctx ctx;
    int limit, offset, page, skip;
    const char *search;
    json_t *data;
    int64_t total = 0;

    if (api_query_int(req, res, "limit", 200, 1, 1000, &limit) != 0 ||
        api_query_int(req, res, "offset", 0, 0, 100000000, &offset) != 0)
        return;
    search = api_query_string(req, "search");
    if (search != NULL && (strlen(search) > 100 || !csv_utf8_valid(search, strlen(search)))) {
        api_error(res, 400, "search must be at most 100 characters of UTF-8", NULL);
        return;
    }
    data = json_array();
    in.limit = DNC_SVC_PAGE;
    in.search = (char *)(search ? search : "");
    skip = offset % DNC_SVC_PAGE;
    for (page = offset / DNC_SVC_PAGE + 1;; page++) {
        in.page = page;
        DNC_CALL(req, ctx, od__dnc__list, &in);
        if (ctx.status != OD__STATUS__OK) {
            api_rpc_error(req, res, ctx.status, ctx.message);
            rpc_ctx_release(&ctx);
            json_decref(data);
            return;
        }
        Od__ListDncReply *out = (Od__ListDncReply *)ctx.reply;
        size_t got = out->n_data;
        total = out->total;
        for (size_t i = (size_t)skip; i < got && json_array_size(data) < (size_t)limit; i++)
            json_array_append_new(data, dnc_json_entry(out->data[i]));
        skip = 0;
        rpc_ctx_release(&ctx);
        if (json_array_size(data) >= (size_t)limit || got < DNC_SVC_PAGE ||
            (int64_t)page * DNC_SVC_PAGE >= total)
            break;
    }
    res->status = 200;
    res->body = json_pack("{s:o, s:I, s:i, s:i}", "data", data, "total", (json_int_t)total,
                          "limit", limit, "offset", offset);
}

static void dnc_add(struct api_request *req, struct api_response *res)
{
    Od__DncEntryInput in;
    struct rpc_ctx ctx;
    struct body_problems problems;
    json_t *body = api_parse_body(req, res);

    if (body == NULL)
        return;
    body_problems_init(&problems);
    if (dnc_json_input_problems(body, "", &in, &problems) != 0) {
        body_problems_answer(&problems, res); /* every problem, in details */
        json_decref(body);
        return;
    }
    body_problems_free(&problems);
    DNC_CALL(req, ctx, od__dnc__add, &in);
    json_decref(body);
    api_reply_object(req, res, &ctx, 201, dnc_json);
}

static void dnc_bulk(struct api_request *req, struct api_response *res)
{
    Od__BulkAddDncRequest in;
    struct rpc_ctx ctx;
    struct body_problems problems;
    json_t *body = api_parse_body(req, res);

    if (body == NULL)
        return;
    body_problems_init(&problems);
    if (dnc_json_bulk_request_problems(body, &in, &problems) != 0) {
        body_problems_answer(&problems, res); /* every problem, in details */
        json_decref(body);
        return;
    }
    body_problems_free(&problems);
    DNC_CALL(req, ctx, od__dnc__bulk_add, &in);
    dnc_json_bulk_free(&in);
    json_decref(body);
    if (ctx.status != OD__STATUS__OK) {
        api_rpc_error(req, res, ctx.status, ctx.message);
    } else {
        res->status = 200;
        res->body = dnc_json_bulk_reply((Od__BulkAddDncReply *)ctx.reply);
    }
    rpc_ctx_release(&ctx);
}

static void dnc_delete(struct api_request *req, struct api_response *res)
{
    Od__DeleteDncRequest in = OD__DELETE_DNC_REQUEST__INIT;
    struct rpc_ctx ctx;

    if (!ids_valid(ID_PREFIX_DNC, req->params[0])) {
        api_error(res, 404, "do-not-call entry not found", NULL);
        return;
    }
    in.id = (char *)req->params[0];
    DNC_CALL(req, ctx, od__dnc__delete, &in);
    api_deleted(req, res, &ctx, in.id);
}

/* Literal paths before ":id" patterns. router.c lists this table before any future
 * /api/campaigns/:id table, so "dnc" is never taken for a campaign id. */
const struct route dnc_routes[] = {
    {"GET", "/api/campaigns/dnc", dnc_list_osmtalk, NULL},
    {"POST", "/api/campaigns/dnc", dnc_add, NULL},
    {"POST", "/api/campaigns/dnc/bulk", dnc_bulk, NULL},
    {"DELETE", "/api/campaigns/dnc/:id", dnc_delete, NULL},
    {"GET", "/v1/dnc", dnc_list, NULL},
    {"POST", "/v1/dnc", dnc_add, NULL},
    {"POST", "/v1/dnc/bulk", dnc_bulk, NULL},
    {"DELETE", "/v1/dnc/:id", dnc_delete, NULL},
    {NULL, NULL, NULL, NULL},
};
