/* The carrier's callbacks: POST /v1/carrier/status (status callbacks) and POST
 * /v1/carrier/twiml (instructions for an answered call). Public routes: no API key, but the
 * X-Twilio-Signature of the carrier (HMAC-SHA1 keyed with the auth token over the full URL,
 * query included, then the POST parameters sorted by name). A missing or bad signature is 403
 * and nothing reaches dialer-svc. The verified form goes to od.CarrierEvents on any replica.
 *
 * The URL signed is PUBLIC_BASE_URL + the path + the query string as dialer-svc wrote it
 * (?callId=call_...); the query is rebuilt from the parsed arguments, percent-encoded, which
 * gives the same text for the URLs dialer-svc hands out. */
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "carrier.h"
#include "dialer.pb-c.h"
#include "form.h"
#include "gateway.h"
#include "ids.h"
#include "log.h"
#include "od_names.h"
#include "rpc.h"

#define CARRIER_URL_MAX 2048

struct carrier_query {
    char *url;
    size_t size, len;
    int n;
    bool overflow;
};

static bool carrier_query_char(struct carrier_query *q, char c)
{
    if (q->len + 2 > q->size)
        return false;
    q->url[q->len++] = c;
    q->url[q->len] = '\0';
    return true;
}

/* Appends "?key=value" or "&key=value", percent-encoded. */
static enum MHD_Result carrier_query_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                         const char *value)
{
    struct carrier_query *q = cls;
    bool ok;
    (void)kind;
    ok = carrier_query_char(q, q->n++ == 0 ? '?' : '&') &&
         form_encode_append(q->url, q->size, &q->len, key) == 0;
    if (ok && value != NULL)
        ok = carrier_query_char(q, '=') &&
             form_encode_append(q->url, q->size, &q->len, value) == 0;
    if (!ok) {
        q->overflow = true;
        return MHD_NO;
    }
    return MHD_YES;
}

/* Verifies the signature and decodes the form. 0, or -1 after answering (403/400). */
static int carrier_verify(struct api_request *req, struct api_response *res, struct form *form)
{
    struct gateway *gw = req->gw;
    const char *signature =
        MHD_lookup_connection_value(req->connection, MHD_HEADER_KIND, "X-Twilio-Signature");
    char url[CARRIER_URL_MAX];
    struct carrier_query q = {url, sizeof url, 0, 0, false};
    struct carrier_param *params;
    bool valid;
    int n;

    if (gw->carrier_auth_token == NULL || gw->carrier_auth_token[0] == '\0' ||
        signature == NULL || signature[0] == '\0') {
        api_error(res, 403, "Missing or invalid carrier signature", NULL);
        return -1;
    }
    n = snprintf(url, sizeof url, "%s", gw->public_base_url ? gw->public_base_url : "");
    while (n > 0 && url[n - 1] == '/')
        url[--n] = '\0';
    q.len = (size_t)n;
    if (q.len + strlen(req->path) + 1 > sizeof url) {
        api_error(res, 403, "Missing or invalid carrier signature", NULL);
        return -1;
    }
    memcpy(url + q.len, req->path, strlen(req->path) + 1);
    q.len += strlen(req->path);
    MHD_get_connection_values(req->connection, MHD_GET_ARGUMENT_KIND, carrier_query_arg, &q);
    if (q.overflow || form_parse(req->body, req->body_len, form) != 0) {
        api_error(res, 403, "Missing or invalid carrier signature", NULL);
        return -1;
    }
    params = calloc(form->n ? form->n : 1, sizeof *params);
    if (params == NULL) {
        form_free(form);
        api_error(res, 500, "out of memory", NULL);
        return -1;
    }
    for (size_t i = 0; i < form->n; i++) {
        params[i].name = form->params[i].name;
        params[i].value = form->params[i].value;
    }
    valid = carrier_signature_valid(gw->carrier_auth_token, url, params, form->n, signature);
    free(params);
    if (!valid) {
        log_warn(req->request_id, "carrier callback with a bad signature for %s", url);
        form_free(form);
        api_error(res, 403, "Missing or invalid carrier signature", NULL);
        return -1;
    }
    return 0;
}

/* The verified form as the RPC's input (strings borrowed from form). */
static int carrier_request(struct api_request *req, const struct form *form,
                           Od__CarrierCallbackRequest *in, Od__FormParam **ptrs,
                           Od__FormParam *store)
{
    const char *call_id = MHD_lookup_connection_value(req->connection, MHD_GET_ARGUMENT_KIND,
                                                      "callId");
    od__carrier_callback_request__init(in);
    for (size_t i = 0; i < form->n; i++) {
        od__form_param__init(&store[i]);
        store[i].name = (char *)form->params[i].name;
        store[i].value = (char *)form->params[i].value;
        ptrs[i] = &store[i];
    }
    in->n_params = form->n;
    in->params = ptrs;
    in->call_id = (char *)(call_id ? call_id : "");
    return 0;
}

static void carrier_handle(struct api_request *req, struct api_response *res, bool twiml)
{
    Od__CarrierCallbackRequest in;
    Od__FormParam store[FORM_MAX_PARAMS], *ptrs[FORM_MAX_PARAMS];
    struct rpc_ctx ctx;
    struct form form;

    if (carrier_verify(req, res, &form) != 0)
        return;
    carrier_request(req, &form, &in, ptrs, store);
    req->org_id = ""; /* the call row says whose call it is */
    if (twiml)
        API_CALL(req, ctx, req->gw->carrier_events, od__carrier_events__twiml, &in);
    else
        API_CALL(req, ctx, req->gw->carrier_events, od__carrier_events__status_callback, &in);
    form_free(&form);
    if (ctx.status != OD__STATUS__OK) {
        api_rpc_error(req, res, ctx.status, ctx.message);
    } else if (twiml) {
        const Od__TwimlReply *out = (Od__TwimlReply *)ctx.reply;
        res->status = 200;
        res->text = strdup(out->twiml);
        res->text_len = res->text ? strlen(res->text) : 0;
        res->content_type = "text/xml";
        if (res->text == NULL)
            api_error(res, 500, "out of memory", NULL);
    } else {
        res->status = 204;
    }
    rpc_ctx_release(&ctx);
}

static void carrier_status(struct api_request *req, struct api_response *res)
{
    carrier_handle(req, res, false);
}

static void carrier_twiml(struct api_request *req, struct api_response *res)
{
    carrier_handle(req, res, true);
}

const struct route carrier_routes[] = {
    {"POST", "/v1/carrier/status", carrier_status, NULL},
    {"POST", "/v1/carrier/twiml", carrier_twiml, NULL},
    {NULL, NULL, NULL, NULL},
};
