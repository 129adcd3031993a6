/* Caller IDs: /v1/phone-numbers (create, list, get, delete). JSON in, an od.PhoneNumbers RPC to
 * campaign-svc, JSON out (gateway/agents_json.c). */
#include <stdio.h>
#include <string.h>

#include "agents_json.h"
#include "body_problems.h"
#include "gateway.h"
#include "od_names.h"
#include "rpc.h"

#define PHONE_NUMBERS_CALL(req, ctx, stub, input)                                              \
    API_CALL(req, ctx, (req)->gw->phone_numbers, stub, input)

static void phone_numbers_reply(struct api_request *req, struct api_response *res,
                                struct rpc_ctx *ctx, unsigned ok_status)
{
    if (ctx->status != OD__STATUS__OK) {
        api_rpc_error(req, res, ctx->status, ctx->message);
    } else {
        res->status = ok_status;
        res->body = phone_numbers_json_number((Od__PhoneNumber *)ctx->reply);
    }
    rpc_ctx_release(ctx);
}

static void phone_numbers_create(struct api_request *req, struct api_response *res)
{
    Od__PhoneNumberInput in;
    struct body_problems problems;
    struct rpc_ctx ctx;
    json_t *body = api_parse_body(req, res);

    if (body == NULL)
        return;
    body_problems_init(&problems);
    if (phone_numbers_json_input(body, &in, &problems) != 0) {
        body_problems_answer(&problems, res);
        json_decref(body);
        return;
    }
    body_problems_free(&problems);
    PHONE_NUMBERS_CALL(req, ctx, od__phone_numbers__create, &in);
    json_decref(body);
    phone_numbers_reply(req, res, &ctx, 201);
}

static void phone_numbers_get(struct api_request *req, struct api_response *res)
{
    Od__IdRequest in = OD__ID_REQUEST__INIT;
    struct rpc_ctx ctx;
    if (api_check_id(req, res, ID_PREFIX_PHONE_NUMBER, "phone number") != 0)
        return;
    in.id = (char *)req->params[0];
    PHONE_NUMBERS_CALL(req, ctx, od__phone_numbers__get, &in);
    phone_numbers_reply(req, res, &ctx, 200);
}

static void phone_numbers_delete(struct api_request *req, struct api_response *res)
{
    Od__IdRequest in = OD__ID_REQUEST__INIT;
    struct rpc_ctx ctx;
    if (api_check_id(req, res, ID_PREFIX_PHONE_NUMBER, "phone number") != 0)
        return;
    in.id = (char *)req->params[0];
    PHONE_NUMBERS_CALL(req, ctx, od__phone_numbers__delete, &in);
    api_deleted(req, res, &ctx, in.id);
}

static void phone_numbers_list(struct api_request *req, struct api_response *res)
{
    Od__ListRequest in = OD__LIST_REQUEST__INIT;
    struct rpc_ctx ctx;
    int page, limit;
    const char *search;

    if (api_list_params(req, res, &page, &limit, &search) != 0)
        return;
    in.page = page;
    in.limit = limit;
    in.search = (char *)(search ? search : "");
    PHONE_NUMBERS_CALL(req, ctx, od__phone_numbers__list, &in);
    if (ctx.status != OD__STATUS__OK) {
        api_rpc_error(req, res, ctx.status, ctx.message);
        rpc_ctx_release(&ctx);
        return;
    }
    Od__ListPhoneNumbersReply *out = (Od__ListPhoneNumbersReply *)ctx.reply;
    json_t *data = json_array();
    for (size_t i = 0; i < out->n_data; i++)
        json_array_append_new(data, phone_numbers_json_number(out->data[i]));
    api_list_reply(res, data, out->total, page, limit);
    rpc_ctx_release(&ctx);
}

const struct route phone_numbers_routes[] = {
    {"POST", "/v1/phone-numbers", phone_numbers_create, NULL},
    {"GET", "/v1/phone-numbers", phone_numbers_list, NULL},
    {"GET", "/v1/phone-numbers/:id", phone_numbers_get, NULL},
    {"DELETE", "/v1/phone-numbers/:id", phone_numbers_delete, NULL},
    {NULL, NULL, NULL, NULL},
};
