/* Credits (OutboundCalls.ai), in minutes: GET /v1/credits/balance, GET /v1/credits/usage
 * (?from=&to=, by day and by campaign) and POST /v1/credits/purchase {amount}. An od.Credits
 * RPC to campaign-svc; a purchase the operators turned off is PERMISSION_DENIED, i.e. 403. */
#include <stdio.h>
#include <string.h>

#include "body_problems.h"
#include "campaigns.pb-c.h"
#include "gateway.h"
#include "rpc.h"

#define CREDITS_CALL(req, ctx, stub, input) API_CALL(req, ctx, (req)->gw->credits, stub, input)

/* {balance, granted, used, lowThreshold, unit} */
static json_t *credits_json_balance(const Od__CreditBalance *b)
{
    return json_pack("{s:I, s:I, s:I, s:I, s:s}", "balance", (json_int_t)b->balance, "granted",
                     (json_int_t)b->granted, "used", (json_int_t)b->used, "lowThreshold",
                     (json_int_t)b->low_threshold, "unit", "minutes");
}

static void credits_balance_reply(struct api_request *req, struct api_response *res,
                                  struct rpc_ctx *ctx)
{
    if (ctx->status != OD__STATUS__OK) {
        api_rpc_error(req, res, ctx->status, ctx->message);
    } else {
        res->status = 200;
        res->body = credits_json_balance((Od__CreditBalance *)ctx->reply);
    }
    rpc_ctx_release(ctx);
}

static void credits_balance(struct api_request *req, struct api_response *res)
{
    Od__Empty in = OD__EMPTY__INIT;
    struct rpc_ctx ctx;
    CREDITS_CALL(req, ctx, od__credits__balance, &in);
    credits_balance_reply(req, res, &ctx);
}

/* A ?from= / ?to= value: a date or an ISO time; the service parses it, this only keeps junk
 * out. 0, or -1 after answering 400. */
static int credits_time_param(struct api_request *req, struct api_response *res,
                              const char *name, const char **out)
{
    const char *v = api_query_string(req, name);
    char msg[128];
    *out = "";
    if (v == NULL || v[0] == '\0')
        return 0;
    if (strlen(v) > 40 || strspn(v, "0123456789-:.TZz+ ") != strlen(v)) {
        snprintf(msg, sizeof msg, "%s must be a date (YYYY-MM-DD) or an ISO 8601 time", name);
        api_error(res, 400, msg, NULL);
        return -1;
    }
    *out = v;
    return 0;
}

static json_t *credits_json_usage(const Od__UsageRequest *in, const Od__UsageReply *u)
{
    json_t *by_day = json_array(), *by_campaign = json_array();
    for (size_t i = 0; i < u->n_by_day; i++)
        json_array_append_new(by_day, json_pack("{s:s, s:I, s:I}", "day", u->by_day[i]->day,
                                                "minutes", (json_int_t)u->by_day[i]->minutes,
                                                "calls", (json_int_t)u->by_day[i]->calls));
    for (size_t i = 0; i < u->n_by_campaign; i++)
        json_array_append_new(by_campaign,
                              json_pack("{s:s, s:I, s:I}", "campaignId",
                                        u->by_campaign[i]->campaign_id, "minutes",
                                        (json_int_t)u->by_campaign[i]->minutes, "calls",
                                        (json_int_t)u->by_campaign[i]->calls));
    return json_pack("{s:o, s:o, s:I, s:o, s:o, s:s}", "from",
                     in->from[0] ? json_string(in->from) : json_null(), "to",
                     in->to[0] ? json_string(in->to) : json_null(), "totalMinutes",
                     (json_int_t)u->total_minutes, "byDay", by_day, "byCampaign", by_campaign,
                     "unit", "minutes");
}

static void credits_usage(struct api_request *req, struct api_response *res)
{
    Od__UsageRequest in = OD__USAGE_REQUEST__INIT;
    struct rpc_ctx ctx;
    const char *from, *to;

    if (credits_time_param(req, res, "from", &from) != 0 ||
        credits_time_param(req, res, "to", &to) != 0)
        return;
    in.from = (char *)from;
    in.to = (char *)to;
    CREDITS_CALL(req, ctx, od__credits__usage, &in);
    if (ctx.status != OD__STATUS__OK) {
        api_rpc_error(req, res, ctx.status, ctx.message);
    } else {
        res->status = 200;
        res->body = credits_json_usage(&in, (Od__UsageReply *)ctx.reply);
    }
    rpc_ctx_release(&ctx);
}

static void credits_purchase(struct api_request *req, struct api_response *res)
{
    static const char *const keys[] = {"amount", NULL};
    Od__CreditAmountRequest in = OD__CREDIT_AMOUNT_REQUEST__INIT;
    struct body_problems problems;
    struct rpc_ctx ctx;
    long long amount = 0;
    json_t *body = api_parse_body(req, res);

    if (body == NULL)
        return;
    body_problems_init(&problems);
    body_problems_unknown_keys(&problems, body, "", keys, "a purchase");
    if (body_problems_int(&problems, body, "", "amount", 1, 100000000, &amount) == 0)
        body_problems_add(&problems, "amount", "amount is required (minutes, a positive "
                                               "integer)");
    json_decref(body);
    if (problems.count > 0) {
        body_problems_answer(&problems, res);
        return;
    }
    body_problems_free(&problems);
    in.amount = amount;
    in.reason = (char *)"purchase";
    CREDITS_CALL(req, ctx, od__credits__purchase, &in);
    credits_balance_reply(req, res, &ctx);
}

const struct route credits_routes[] = {
    {"GET", "/v1/credits/balance", credits_balance, NULL},
    {"GET", "/v1/credits/usage", credits_usage, NULL},
    {"POST", "/v1/credits/purchase", credits_purchase, NULL},
    {NULL, NULL, NULL, NULL},
};
