/* /v1/imports (OliAI asynchronous imports) and POST /v1/contacts/import (OutboundCalls.ai
 * file import: CSV or a JSON array, answered synchronously through Contacts.BulkUpsert). */
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "body_problems.h"
#include "gateway.h"
#include "ids.h"
#include "contacts_scan.h"
#include "imports_json.h"
#include "json_scan.h"
#include "json_util.h"
#include "od_names.h"
#include "route_util.h"
#include "rpc.h"
#include "ssrf.h"



/* An import's webhookUrl is held to the same address policy as a webhook endpoint's url
 * (lib/ssrf.h, with the allow-list webhook-svc uses): 400 with the reason. A host that does not
 * resolve now passes: webhook-svc checks the address again on every delivery. 0 when the URL
 * is absent or allowed; else answers and returns -1. */
static int imports_check_webhook_url(struct api_request *req, struct api_response *res,
                                     const char *url)
{
    char reason[300], message[320];
    if (url == NULL || url[0] == '\0' || req->gw->webhook_policy == NULL)
        return 0;
    if (ssrf_check_url_at_submit(req->gw->webhook_policy, url, reason, sizeof reason) == 0)
        return 0;
    snprintf(message, sizeof message, "webhookUrl: %s", reason);
    api_error(res, 400, message,
              json_pack("[{s:s, s:s}]", "field", "webhookUrl", "message", message));
    return -1;
}

static void imports_submit(struct api_request *req, struct api_response *res)
{
    Od__SubmitImportRequest in;
    struct rpc_ctx ctx;

    /* As contacts_bulk: the one-pass reader first (its request lives in the request's arena),
     * jansson for the rest and for the 400s (heap, freed here). */
    bool scanned = contacts_scan_import(req->body, req->body_len, &in) == CONTACTS_SCAN_OK;

    if (!scanned) {
        json_t *body = api_parse_body(req, res);
        if (body == NULL)
            return;
        struct body_problems problems;
        body_problems_init(&problems);
        if (imports_json_submit_problems(body, &in, &problems) != 0) {
            body_problems_answer(&problems, res); /* every problem, in details */
            json_decref(body);
            return;
        }
        body_problems_free(&problems);
        json_decref(body);
    }
    if (imports_check_webhook_url(req, res, in.webhook_url) != 0) {
        if (!scanned)
            imports_json_submit_free(&in);
        return;
    }
    API_CALL(req, ctx, req->gw->imports, od__imports__submit, &in);
    if (!scanned)
        imports_json_submit_free(&in);
    if (ctx.status != OD__STATUS__OK) {
        api_rpc_error(req, res, ctx.status, ctx.message);
    } else {
        Od__Import *m = (Od__Import *)ctx.reply;
        res->status = 202; /* accepted: processed in the background */
        res->body = json_pack("{s:s, s:s, s:i}", "importId", m->id, "status", m->status,
                              "total", m->total);
    }
    rpc_ctx_release(&ctx);
}

static void imports_upload(struct api_request *req, struct api_response *res)
{
    api_error(res, 403,
              "File upload is not available with API key authentication; use the Contacts UI, "
              "or POST /v1/imports/api/bulk with a JSON body",
              NULL);
}

static int imports_check_id(struct api_request *req, struct api_response *res)
{
    return api_check_id(req, res, ID_PREFIX_IMPORT, "import");
}

static void imports_get_as(struct api_request *req, struct api_response *res,
                           json_t *(*shape)(const Od__Import *))
{
    Od__GetImportRequest in = OD__GET_IMPORT_REQUEST__INIT;
    struct rpc_ctx ctx;
    if (imports_check_id(req, res) != 0)
        return;
    in.id = (char *)req->params[0];
    API_CALL(req, ctx, req->gw->imports, od__imports__get, &in);
    if (ctx.status != OD__STATUS__OK) {
        api_rpc_error(req, res, ctx.status, ctx.message);
    } else {
        res->status = 200;
        res->body = shape((Od__Import *)ctx.reply);
    }
    rpc_ctx_release(&ctx);
}

static void imports_status(struct api_request *req, struct api_response *res)
{
    imports_get_as(req, res, imports_json_status);
}

static void imports_get(struct api_request *req, struct api_response *res)
{
    imports_get_as(req, res, imports_json_item);
}

static void imports_list(struct api_request *req, struct api_response *res)
{
    Od__ListImportsRequest in = OD__LIST_IMPORTS_REQUEST__INIT;
    struct rpc_ctx ctx;
    int page, limit;

    if (api_query_int(req, res, "page", 1, 1, 1000000, &page) != 0 ||
        api_query_int(req, res, "limit", 20, 1, 100, &limit) != 0 ||
        api_list_depth_ok(res, page, limit) != 0)
        return;
    in.page = page;
    in.limit = limit;
    API_CALL(req, ctx, req->gw->imports, od__imports__list, &in);
    if (ctx.status != OD__STATUS__OK) {
        api_rpc_error(req, res, ctx.status, ctx.message);
        rpc_ctx_release(&ctx);
        return;
    }
    Od__ListImportsReply *out = (Od__ListImportsReply *)ctx.reply;
    json_t *data = json_array();
    for (size_t i = 0; i < out->n_data; i++)
        json_array_append_new(data, imports_json_item(out->data[i]));
    api_list_reply(res, data, out->total, page, limit);
    rpc_ctx_release(&ctx);
}

static void imports_errors(struct api_request *req, struct api_response *res)
{
    Od__ListImportErrorsRequest in = OD__LIST_IMPORT_ERRORS_REQUEST__INIT;
    struct rpc_ctx ctx;
    int page, limit;

    if (imports_check_id(req, res) != 0)
        return;
    if (api_query_int(req, res, "page", 1, 1, 1000000, &page) != 0 ||
        api_query_int(req, res, "limit", 100, 1, 1000, &limit) != 0)
        return;
    in.id = (char *)req->params[0];
    in.page = page;
    in.limit = limit;
    API_CALL(req, ctx, req->gw->imports, od__imports__list_errors, &in);
    if (ctx.status != OD__STATUS__OK) {
        api_rpc_error(req, res, ctx.status, ctx.message);
        rpc_ctx_release(&ctx);
        return;
    }
    Od__ListImportErrorsReply *out = (Od__ListImportErrorsReply *)ctx.reply;
    json_t *data = json_array();
    for (size_t i = 0; i < out->n_data; i++)
        json_array_append_new(data, json_pack("{s:i, s:s, s:s}", "index", out->data[i]->index,
                                              "phoneNumber", out->data[i]->phone_number,
                                              "reason", out->data[i]->reason));
    res->status = 200;
    res->body = json_pack("{s:s, s:o, s:I, s:i, s:i}", "importId", in.id, "data", data, "total",
                          (json_int_t)out->total, "page", page, "limit", limit);
    rpc_ctx_release(&ctx);
}

/* ---------------- POST /v1/contacts/import ---------------- */

static void contacts_import(struct api_request *req, struct api_response *res)
{
    const char *type =
        MHD_lookup_connection_value(req->connection, MHD_HEADER_KIND, "Content-Type");
    Od__BulkUpsertRequest in;
    struct rpc_ctx ctx;
    char err[JSON_ERROR_MAX];
    size_t *lines = NULL, nrows, len = req->body_len;
    const char *data = req->body;
    enum imports_file_kind kind = 0;
    int rc;

    if (type != NULL && (api_media_type_is(type, "text/csv") ||
                         api_media_type_is(type, "application/csv")))
        kind = IMPORTS_FILE_CSV;
    else if (type != NULL && api_media_type_is(type, "application/json"))
        kind = IMPORTS_FILE_JSON;
    else if (type != NULL && api_media_type_is(type, "multipart/form-data") &&
             imports_multipart_file(type, req->body, req->body_len, &data, &len, &kind, err,
                                    sizeof err) != 0) {
        api_error(res, 400, err, NULL);
        return;
    }
    if (kind == IMPORTS_FILE_CSV) {
        struct body_problems problems;
        body_problems_init(&problems);
        rc = imports_csv_contacts_problems(data, len, &in, &lines, &problems, err, sizeof err);
        if (rc != 0 && problems.count > 0) {
            body_problems_answer(&problems, res); /* every problem of the header, in details */
            return;
        }
        body_problems_free(&problems);
    } else if (kind == IMPORTS_FILE_JSON) {
        json_error_t jerr;
        json_t *body;
        /* Stop at row 10,001 before building any of the tree (issue 13: a 15 MiB
         * "[{},{},...]" was 5.5 million nodes and +860 MiB before the row check). */
        if (json_scan_too_many_items(data, len, IMPORTS_JSON_MAX_ROWS)) {
            snprintf(err, sizeof err, "contacts must hold at most %d entries (and no object "
                     "more than %d keys)", IMPORTS_JSON_MAX_ROWS, IMPORTS_JSON_MAX_ROWS);
            api_error(res, 400, err, NULL);
            return;
        }
        body = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
        if (body == NULL) {
            snprintf(err, sizeof err, "malformed JSON at line %d column %d: %s", jerr.line,
                     jerr.column, jerr.text);
            api_error(res, 400, err, NULL);
            return;
        }
        struct body_problems problems;
        body_problems_init(&problems);
        rc = imports_json_contacts_problems(body, &in, &problems);
        json_decref(body);
        if (rc != 0) {
            body_problems_answer(&problems, res); /* every problem, in details */
            return;
        }
        body_problems_free(&problems);
    } else {
        api_error(res, 415,
                  "Content-Type must be text/csv, application/json or multipart/form-data with "
                  "a CSV or JSON file",
                  NULL);
        return;
    }
    if (rc != 0) {
        api_error(res, 400, err, NULL);
        free(lines);
        return;
    }
    nrows = in.n_contacts;
    API_CALL(req, ctx, req->gw->contacts, od__contacts__bulk_upsert, &in);
    imports_bulk_free(&in);
    if (ctx.status != OD__STATUS__OK) {
        api_rpc_error(req, res, ctx.status, ctx.message);
        rpc_ctx_release(&ctx);
        free(lines);
        return;
    }
    Od__BulkUpsertReply *out = (Od__BulkUpsertReply *)ctx.reply;
    json_t *contacts = json_array(), *errors = json_array();
    for (size_t i = 0; i < out->n_contacts; i++)
        json_array_append_new(contacts, json_pack("{s:s, s:s, s:s}", "id", out->contacts[i]->id,
                                                  "name", out->contacts[i]->name, "phoneNumber",
                                                  out->contacts[i]->phone_number));
    for (size_t i = 0; i < out->n_errors; i++) {
        const Od__RowError *e = out->errors[i];
        json_t *item = json_pack("{s:i, s:s, s:s}", "index", e->index, "phoneNumber",
                                 e->phone_number, "reason", e->reason);
        if (lines != NULL && e->index >= 0 && (size_t)e->index < nrows)
            json_object_set_new(item, "line", json_integer((json_int_t)lines[e->index]));
        json_array_append_new(errors, item);
    }
    res->status = 200;
    res->body = json_pack("{s:i, s:i, s:i, s:o, s:o}", "created", out->created, "updated",
                          out->updated, "failed", out->failed, "contacts", contacts, "errors",
                          errors);
    rpc_ctx_release(&ctx);
    free(lines);
}

/* Literal paths before ":id" patterns: the first match wins. */
const struct route imports_routes[] = {
    {"POST", "/v1/imports/api/bulk", imports_submit, NULL},
    {"POST", "/v1/imports/upload", imports_upload, NULL},
    {"GET", "/v1/imports", imports_list, NULL},
    {"GET", "/v1/imports/:id/status", imports_status, NULL},
    {"GET", "/v1/imports/:id/errors", imports_errors, NULL},
    {"GET", "/v1/imports/:id", imports_get, NULL},
    {"POST", "/v1/contacts/import", contacts_import, NULL},
    {NULL, NULL, NULL, NULL},
};
