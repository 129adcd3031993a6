/* Agents: OutboundCalls.ai's /v1/agents (create, list, get, update, delete) and the same
 * objects read as OliAI flows (/v1/flows, /v1/flows/:id). JSON in, an od.Agents RPC to
 * campaign-svc, JSON out (gateway/agents_json.c). */
#include <stdio.h>
#include <string.h>

#include "agents_json.h"
#include "body_problems.h"
#include "gateway.h"
#include "od_names.h"
#include "route_util.h"
#include "rpc.h"

#define AGENTS_CALL(req, ctx, stub, input) API_CALL(req, ctx, (req)->gw->agents, stub, input)

static int agents_check_id(struct api_request *req, struct api_response *res, const char *what)
{
    return api_check_id(req, res, ID_PREFIX_AGENT, what);
}

static json_t *agents_json(const void *agent)
{
    return agents_json_agent(agent);
}

static void agents_write(struct api_request *req, struct api_response *res, int update)
{
    Od__AgentInput in;
    struct body_problems problems;
    struct rpc_ctx ctx;
    json_t *body;

    if (update && agents_check_id(req, res, "agent") != 0)
        return;
    if ((body = api_parse_body(req, res)) == NULL)
        return;
    body_problems_init(&problems);
    if (agents_json_input(body, update, &in, &problems) != 0) {
        body_problems_answer(&problems, res);
        json_decref(body);
        return;
    }
    body_problems_free(&problems);
    if (update) {
        in.id = (char *)req->params[0];
        AGENTS_CALL(req, ctx, od__agents__update, &in);
    } else {
        AGENTS_CALL(req, ctx, od__agents__create, &in);
    }
    in.id = (char *)protobuf_c_empty_string;
    agents_json_input_free(&in);
    json_decref(body);
    api_reply_object(req, res, &ctx, update ? 200 : 201, agents_json);
}

static void agents_create(struct api_request *req, struct api_response *res)
{
    agents_write(req, res, 0);
}

static void agents_update(struct api_request *req, struct api_response *res)
{
    agents_write(req, res, 1);
}

static void agents_get_as(struct api_request *req, struct api_response *res, const char *what)
{
    Od__IdRequest in = OD__ID_REQUEST__INIT;
    struct rpc_ctx ctx;
    if (agents_check_id(req, res, what) != 0)
        return;
    in.id = (char *)req->params[0];
    AGENTS_CALL(req, ctx, od__agents__get, &in);
    api_reply_object(req, res, &ctx, 200, agents_json);
}

static void agents_get(struct api_request *req, struct api_response *res)
{
    agents_get_as(req, res, "agent");
}

static void flows_get(struct api_request *req, struct api_response *res)
{
    agents_get_as(req, res, "flow");
}

static void agents_delete(struct api_request *req, struct api_response *res)
{
    Od__IdRequest in = OD__ID_REQUEST__INIT;
    struct rpc_ctx ctx;
    if (agents_check_id(req, res, "agent") != 0)
        return;
    in.id = (char *)req->params[0];
    AGENTS_CALL(req, ctx, od__agents__delete, &in);
    api_deleted(req, res, &ctx, in.id);
}

/* GET /v1/agents and GET /v1/flows: page, limit, search -> {data, total, page, limit}. */
static void agents_list(struct api_request *req, struct api_response *res)
{
    Od__ListRequest in = OD__LIST_REQUEST__INIT;
    struct rpc_ctx ctx;

    if (api_list_request(req, res, &in.page, &in.limit, &in.search) != 0)
        return;
    AGENTS_CALL(req, ctx, od__agents__list, &in);
    api_reply_list(req, res, &ctx, in.page, in.limit, agents_json);
}

const struct route agents_routes[] = {
    {"POST", "/v1/agents", agents_create, NULL},
    {"GET", "/v1/agents", agents_list, NULL},
    {"GET", "/v1/agents/:id", agents_get, NULL},
    {"PATCH", "/v1/agents/:id", agents_update, NULL},
    {"DELETE", "/v1/agents/:id", agents_delete, NULL},
    {"GET", "/v1/flows", agents_list, NULL},
    {"GET", "/v1/flows/:id", flows_get, NULL},
    {NULL, NULL, NULL, NULL},
};
