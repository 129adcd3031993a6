/* /v1/audiences (OliAI "audiences", OutboundCalls.ai "contact lists"): JSON in, an Audiences
 * RPC to contacts-svc, JSON out. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audiences_json.h"
#include "body_problems.h"
#include "contacts_json.h"
#include "gateway.h"
#include "ids.h"
#include "json_util.h"
#include "od_names.h"
#include "route_util.h"
#include "rpc.h"


#define AUDIENCES_CALL(req, ctx, stub, input) API_CALL(req, ctx, (req)->gw->audiences, stub, input)

static int audiences_check_id(struct api_request *req, struct api_response *res)
{
    return api_check_id(req, res, ID_PREFIX_AUDIENCE, "audience");
}

static json_t *audiences_json(const void *audience)
{
    return audiences_json_audience(audience);
}

static json_t *audiences_contact_json(const void *contact)
{
    return contacts_json_contact(contact);
}

static void audiences_create(struct api_request *req, struct api_response *res)
{
    Od__CreateAudienceRequest in;
    struct rpc_ctx ctx;
    struct body_problems problems;
    json_t *body = api_parse_body(req, res);

    if (body == NULL)
        return;
    body_problems_init(&problems);
    if (audiences_json_create_problems(body, &in, &problems) != 0) {
        body_problems_answer(&problems, res); /* every problem, in details */
        json_decref(body);
        return;
    }
    body_problems_free(&problems);
    AUDIENCES_CALL(req, ctx, od__audiences__create, &in);
    json_decref(body);
    api_reply_object(req, res, &ctx, 201, audiences_json);
}

static void audiences_get(struct api_request *req, struct api_response *res)
{
    Od__GetAudienceRequest in = OD__GET_AUDIENCE_REQUEST__INIT;
    struct rpc_ctx ctx;
    if (audiences_check_id(req, res) != 0)
        return;
    in.id = (char *)req->params[0];
    AUDIENCES_CALL(req, ctx, od__audiences__get, &in);
    api_reply_object(req, res, &ctx, 200, audiences_json);
}

static void audiences_update(struct api_request *req, struct api_response *res)
{
    Od__UpdateAudienceRequest in;
    struct rpc_ctx ctx;
    struct body_problems problems;
    json_t *body;

    if (audiences_check_id(req, res) != 0 || (body = api_parse_body(req, res)) == NULL)
        return;
    body_problems_init(&problems);
    if (audiences_json_update_problems(body, &in, &problems) != 0) {
        body_problems_answer(&problems, res); /* every problem, in details */
        json_decref(body);
        return;
    }
    body_problems_free(&problems);
    in.id = (char *)req->params[0];
    AUDIENCES_CALL(req, ctx, od__audiences__update, &in);
    json_decref(body);
    api_reply_object(req, res, &ctx, 200, audiences_json);
}

static void audiences_delete(struct api_request *req, struct api_response *res)
{
    Od__DeleteAudienceRequest in = OD__DELETE_AUDIENCE_REQUEST__INIT;
    struct rpc_ctx ctx;
    if (audiences_check_id(req, res) != 0)
        return;
    in.id = (char *)req->params[0];
    AUDIENCES_CALL(req, ctx, od__audiences__delete, &in);
    api_deleted(req, res, &ctx, in.id);
}

static void audiences_list(struct api_request *req, struct api_response *res)
{
    Od__ListAudiencesRequest in = OD__LIST_AUDIENCES_REQUEST__INIT;
    struct rpc_ctx ctx;

    if (api_list_request(req, res, &in.page, &in.limit, &in.search) != 0)
        return;
    AUDIENCES_CALL(req, ctx, od__audiences__list, &in);
    api_reply_list(req, res, &ctx, in.page, in.limit, audiences_json);
}

/* POST (add) and DELETE (remove) /v1/audiences/:id/contacts {"contactIds": [...]}. */
static void audiences_members_change(struct api_request *req, struct api_response *res, int add)
{
    Od__AudienceMembersRequest in;
    struct rpc_ctx ctx;
    struct body_problems problems;
    json_t *body;

    if (audiences_check_id(req, res) != 0 || (body = api_parse_body(req, res)) == NULL)
        return;
    body_problems_init(&problems);
    if (audiences_json_member_ids_problems(body, &in, &problems) != 0) {
        body_problems_answer(&problems, res); /* every problem, in details */
        json_decref(body);
        return;
    }
    body_problems_free(&problems);
    in.audience_id = (char *)req->params[0];
    if (add)
        AUDIENCES_CALL(req, ctx, od__audiences__add_members, &in);
    else
        AUDIENCES_CALL(req, ctx, od__audiences__remove_members, &in);
    audiences_json_member_ids_free(&in);
    json_decref(body);
    if (ctx.status != OD__STATUS__OK) {
        api_rpc_error(req, res, ctx.status, ctx.message);
    } else {
        res->status = 200;
        res->body = add ? audiences_json_add_reply((Od__AddMembersReply *)ctx.reply)
                        : audiences_json_remove_reply((Od__RemoveMembersReply *)ctx.reply);
    }
    rpc_ctx_release(&ctx);
}

static void audiences_members_add(struct api_request *req, struct api_response *res)
{
    audiences_members_change(req, res, 1);
}

static void audiences_members_remove(struct api_request *req, struct api_response *res)
{
    audiences_members_change(req, res, 0);
}

static void audiences_members_list(struct api_request *req, struct api_response *res)
{
    Od__ListMembersRequest in = OD__LIST_MEMBERS_REQUEST__INIT;
    struct rpc_ctx ctx;
    int page, limit;

    if (audiences_check_id(req, res) != 0 ||
        api_query_int(req, res, "page", 1, 1, 1000000, &page) != 0 ||
        api_query_int(req, res, "limit", 20, 1, 100, &limit) != 0)
        return;
    in.audience_id = (char *)req->params[0];
    in.page = page;
    in.limit = limit;
    AUDIENCES_CALL(req, ctx, od__audiences__list_members, &in);
    api_reply_list(req, res, &ctx, page, limit, audiences_contact_json);
}

/* Literal paths before ":id" patterns: the first match wins. POST .../contacts/remove is the
 * same as DELETE .../contacts, for clients that cannot send a body with DELETE. */
const struct route audiences_routes[] = {
    {"POST", "/v1/audiences", audiences_create, NULL},
    {"GET", "/v1/audiences", audiences_list, NULL},
    {"GET", "/v1/audiences/:id", audiences_get, NULL},
    {"PATCH", "/v1/audiences/:id", audiences_update, NULL},
    {"DELETE", "/v1/audiences/:id", audiences_delete, NULL},
    {"POST", "/v1/audiences/:id/contacts", audiences_members_add, NULL},
    {"DELETE", "/v1/audiences/:id/contacts", audiences_members_remove, NULL},
    {"GET", "/v1/audiences/:id/contacts", audiences_members_list, NULL},
    {"POST", "/v1/audiences/:id/contacts/remove", audiences_members_remove, NULL},
    {NULL, NULL, NULL, NULL},
};
