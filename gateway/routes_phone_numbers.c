/* Caller IDs: /v1/phone-numbers (create, list, get, delete). JSON in, an od.PhoneNumbers RPC to
 * campaign-svc, JSON out (gateway/agents_json.c). */
#include <stdio.h>
#include <string.h>

#include "agents_json.h"
#include "body_problems.h"
#include "gateway.h"
#include "od_names.h"
#include "route_util.h"
#include "rpc.h"

#define PHONE_NUMBERS_CALL(req, ctx, stub, input)                                              \
    API_CALL(req, ctx, (req)->gw->phone_numbers, stub, input)

static json_t *phone_numbers_json(const void *number)
{
    return phone_numbers_json_number(number);
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
    api_reply_object(req, res, &ctx, 201, phone_numbers_json);
}

static void phone_numbers_get(struct api_request *req, struct api_response *res)
{
    Od__IdRequest in = OD__ID_REQUEST__INIT;
    struct rpc_ctx ctx;
    if (api_check_id(req, res, ID_PREFIX_PHONE_NUMBER, "phone number") != 0)
        return;
    in.id = (char *)req->params[0];
    PHONE_NUMBERS_CALL(req, ctx, od__phone_numbers__get, &in);
    api_reply_object(req, res, &ctx, 200, phone_numbers_json);
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

    if (api_list_request(req, res, &in.page, &in.limit, &in.search) != 0)
        return;
    PHONE_NUMBERS_CALL(req, ctx, od__phone_numbers__list, &in);
    api_reply_list(req, res, &ctx, in.page, in.limit, phone_numbers_json);
}

const struct route phone_numbers_routes[] = {
    {"POST", "/v1/phone-numbers", phone_numbers_create, NULL},
    {"GET", "/v1/phone-numbers", phone_numbers_list, NULL},
    {"GET", "/v1/phone-numbers/:id", phone_numbers_get, NULL},
    {"DELETE", "/v1/phone-numbers/:id", phone_numbers_delete, NULL},
    {NULL, NULL, NULL, NULL},
};
