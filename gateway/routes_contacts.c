/* /v1/contacts: JSON in, a Contacts RPC, JSON out. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "body_problems.h"
#include "contact_reads.h"
#include "contacts_json.h"
#include "contacts_scan.h"
#include "gateway.h"
#include "ids.h"
#include "json_util.h"
#include "od_names.h"
#include "route_util.h"
#include "rpc.h"


#define CONTACTS_CALL(req, ctx, stub, input) API_CALL(req, ctx, (req)->gw->contacts, stub, input)

static void contacts_bulk(struct api_request *req, struct api_response *res)
{
    Od__BulkUpsertRequest in;
    struct rpc_ctx ctx;
    json_t *body = NULL;
    /* The one-pass reader takes the usual body; anything else (errors included) goes through
     * jansson, which words the 400s. Ownership follows the path (contacts_scan.h): the
     * reader's request lives in the request's arena, jansson's is heap we free. */
    bool scanned = contacts_scan_bulk(req->body, req->body_len, &in) == CONTACTS_SCAN_OK;

    if (!scanned) {
        if ((body = api_parse_body(req, res)) == NULL)
            return;
        struct body_problems problems;
        body_problems_init(&problems);
        if (contacts_json_bulk_request_problems(body, &in, &problems) != 0) {
            body_problems_answer(&problems, res); /* every problem, in details */
            json_decref(body);
            return;
        }
        body_problems_free(&problems);
    }
    CONTACTS_CALL(req, ctx, od__contacts__bulk_upsert, &in);
    if (!scanned)
        contacts_json_bulk_free(&in);
    json_decref(body);
    if (ctx.status != OD__STATUS__OK) {
        api_rpc_error(req, res, ctx.status, ctx.message);
        rpc_ctx_release(&ctx);
        return;
    }
    res->status = 200;
    res->text = contacts_json_bulk_reply((Od__BulkUpsertReply *)ctx.reply, &res->text_len);
    if (res->text == NULL)
        api_error(res, 500, "out of memory", NULL);
    rpc_ctx_release(&ctx);
}

static json_t *contacts_json(const void *contact)
{
    return contacts_json_contact(contact);
}

static void contacts_create(struct api_request *req, struct api_response *res)
{
    Od__ContactInput in;
    struct rpc_ctx ctx;
    struct body_problems problems;
    json_t *body = api_parse_body(req, res);

    if (body == NULL)
        return;
    body_problems_init(&problems);
    if (contacts_json_input_problems(body, "", &in, &problems) != 0) {
        body_problems_answer(&problems, res); /* every problem, in details */
        json_decref(body);
        return;
    }
    body_problems_free(&problems);
    CONTACTS_CALL(req, ctx, od__contacts__create, &in);
    if (in.metadata_json != protobuf_c_empty_string)
        arena_json_free(in.metadata_json);
    json_decref(body);
    api_reply_object(req, res, &ctx, 201, contacts_json);
}

static int contacts_check_id(struct api_request *req, struct api_response *res)
{
    return api_check_id(req, res, ID_PREFIX_CONTACT, "contact");
}

/* The answer to GET /v1/contacts/:id from a finished read; frees the read's contact. */
static void contacts_get_reply(struct api_request *req, struct api_response *res,
                               struct contact_read *read)
{
    if (read->status != OD__STATUS__OK) {
        api_rpc_error(req, res, read->status, read->message);
        return;
    }
    res->status = 200;
    res->body = contacts_json_contact(read->contact);
    free(read->contact);
    read->contact = NULL;
}

/* On a handler thread (the API key was not cached): waits for the batched read. */
static void contacts_get(struct api_request *req, struct api_response *res)
{
    struct contact_read read;
    if (contacts_check_id(req, res) != 0)
        return;
    contact_reads_get(req->gw->contact_reads, req->org_id, req->request_id, req->params[0],
                      req->gw->rpc_timeout_ms, &read);
    contacts_get_reply(req, res, &read);
}

/* On an event thread: queues the read; its answer resumes the request (contact_reads.h). */
static void contacts_get_answered(struct contact_read *read, void *arg)
{
    struct api_async *async = arg;
    async->result = read;
    async->done(async);
}

static bool contacts_get_start(struct api_request *req, struct api_response *res,
                               struct api_async *async)
{
    struct contact_read *read;
    if (contacts_check_id(req, res) != 0)
        return false;
    if ((read = calloc(1, sizeof *read)) == NULL) {
        api_error(res, 500, "out of memory", NULL);
        return false;
    }
    if (contact_reads_submit(req->gw->contact_reads, req->org_id, req->request_id,
                             req->params[0], req->gw->rpc_timeout_ms, read,
                             contacts_get_answered, async) != 0) {
        free(read);
        api_error(res, 503, "Contact reads are unavailable", NULL);
        return false;
    }
    return true;
}

static void contacts_get_finish(struct api_request *req, struct api_response *res,
                                struct api_async *async)
{
    struct contact_read *read = async->result;
    contacts_get_reply(req, res, read);
    free(read);
    async->result = NULL;
}

static const struct route_async contacts_get_async = {contacts_get_start, contacts_get_finish};

static void contacts_update(struct api_request *req, struct api_response *res)
{
    Od__UpdateContactRequest in = OD__UPDATE_CONTACT_REQUEST__INIT;
    struct body_problems problems;
    struct rpc_ctx ctx;
    json_t *body;

    if (contacts_check_id(req, res) != 0 || (body = api_parse_body(req, res)) == NULL)
        return;
    body_problems_init(&problems);
    if (contacts_json_update(body, &in, &problems) != 0) {
        body_problems_answer(&problems, res); /* every problem, in details */
        json_decref(body);
        return;
    }
    body_problems_free(&problems);
    in.id = (char *)req->params[0];
    CONTACTS_CALL(req, ctx, od__contacts__update, &in);
    if (in.set_metadata)
        arena_json_free(in.metadata_json);
    json_decref(body);
    api_reply_object(req, res, &ctx, 200, contacts_json);
}

static void contacts_delete(struct api_request *req, struct api_response *res)
{
    Od__DeleteContactRequest in = OD__DELETE_CONTACT_REQUEST__INIT;
    struct rpc_ctx ctx;
    if (contacts_check_id(req, res) != 0)
        return;
    in.id = (char *)req->params[0];
    CONTACTS_CALL(req, ctx, od__contacts__delete, &in);
    api_deleted(req, res, &ctx, in.id);
}

static void contacts_list(struct api_request *req, struct api_response *res)
{
    Od__ListContactsRequest in = OD__LIST_CONTACTS_REQUEST__INIT;
    struct rpc_ctx ctx;

    const char *cursor = api_query_string(req, "cursor");
    char next[128] = "";
    bool estimate = false;

    if (api_list_request(req, res, &in.page, &in.limit, &in.search) != 0)
        return;
    /* ?cursor= (a nextCursor from an earlier answer) pages by key: as cheap at the millionth
     * contact as at the first, where page/limit's OFFSET reads every row before the page. */
    in.cursor = (char *)(cursor != NULL ? cursor : "");
    CONTACTS_CALL(req, ctx, od__contacts__list, &in);
    if (ctx.status == OD__STATUS__OK && ctx.reply != NULL) {
        const Od__ListContactsReply *reply = (const Od__ListContactsReply *)ctx.reply;
        /* The total is counted up to a bound (contacts-svc): past it, "total" is that bound
         * and "totalIsEstimate" says there are at least that many. */
        estimate = reply->total_is_estimate;
        snprintf(next, sizeof next, "%s", reply->next_cursor);
    }
    api_reply_list(req, res, &ctx, in.page, in.limit, contacts_json);
    if (json_is_object(res->body) && res->status == 200) {
        json_object_set_new(res->body, "nextCursor", next[0] ? json_string(next) : json_null());
        if (estimate)
            json_object_set_new(res->body, "totalIsEstimate", json_true());
    }
}

/* Literal paths before ":id" patterns: the first match wins. */
const struct route contacts_routes[] = {
    {"POST", "/v1/contacts/bulk", contacts_bulk, NULL},
    {"POST", "/v1/contacts", contacts_create, NULL},
    {"GET", "/v1/contacts", contacts_list, NULL},
    {"GET", "/v1/contacts/:id", contacts_get, &contacts_get_async},
    {"PATCH", "/v1/contacts/:id", contacts_update, NULL},
    {"DELETE", "/v1/contacts/:id", contacts_delete, NULL},
    {NULL, NULL, NULL, NULL},
};
