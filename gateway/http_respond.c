/* Responses: built from a route's struct api_response with the headers every response carries
 * (X-Request-Id, the rate-limit headers, Allow, Location), and queued on the event thread. */
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "http_internal.h"

static void http_add_header_long(struct MHD_Response *response, const char *name, long value)
{
    char text[32];
    snprintf(text, sizeof text, "%ld", value);
    MHD_add_response_header(response, name, text);
}

void http_build(struct http_exchange *ex, struct api_response *res,
                const struct rate_decision *rate, const char *org_id, const char *allow)
{
    char *text = NULL;
    size_t len = 0;
    struct MHD_Response *response;

    if (res->body != NULL) {
        /* jansson's text may live in the request's arena, which dies before MHD sends it:
         * MHD keeps a copy (these bodies are small; big replies come as res->text). */
        char *dumped = json_dumps(res->body, JSON_COMPACT | JSON_PRESERVE_ORDER);
        len = dumped ? strlen(dumped) : 0;
        response = MHD_create_response_from_buffer(len, dumped, MHD_RESPMEM_MUST_COPY);
        arena_json_free(dumped);
    } else {
        if (res->text != NULL) {
            text = res->text; /* ownership moves to the MHD response */
            len = res->text_len;
            res->text = NULL;
        }
        response = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
        if (response == NULL)
            free(text);
    }
    ex->response = response;
    ex->status = res->status;
    ex->bytes = len;
    snprintf(ex->org_id, sizeof ex->org_id, "%s", org_id != NULL ? org_id : "");
    if (response == NULL) {
        free(res->location);
        res->location = NULL;
        return;
    }
    if (len > 0)
        MHD_add_response_header(response, "Content-Type",
                                res->body == NULL && res->content_type != NULL
                                    ? res->content_type
                                    : "application/json");
    if (res->location != NULL) { /* a redirect; ownership ends here */
        MHD_add_response_header(response, MHD_HTTP_HEADER_LOCATION, res->location);
        free(res->location);
        res->location = NULL;
    }
    MHD_add_response_header(response, "X-Request-Id", ex->request_id);
    if (rate != NULL) {
        http_add_header_long(response, "X-RateLimit-Limit", rate->limit);
        http_add_header_long(response, "X-RateLimit-Remaining", rate->remaining);
        http_add_header_long(response, "X-RateLimit-Reset", rate->reset_epoch);
        if (!rate->allowed)
            http_add_header_long(response, "Retry-After", rate->retry_after);
    }
    if (allow != NULL && allow[0] != '\0')
        MHD_add_response_header(response, "Allow", allow);
}

enum MHD_Result http_queue(struct MHD_Connection *conn, struct http_exchange *ex,
                           const char *method, const char *url)
{
    enum MHD_Result rc;
    if (ex->response == NULL)
        return MHD_NO;
    rc = MHD_queue_response(conn, ex->status, ex->response);
    MHD_destroy_response(ex->response);
    ex->response = NULL;
    http_log_access(ex, method, url);
    return rc;
}

enum MHD_Result http_send(struct MHD_Connection *conn, struct http_exchange *ex,
                          const char *method, const char *url, struct api_response *res,
                          const struct rate_decision *rate, const char *org_id,
                          const char *allow)
{
    http_build(ex, res, rate, org_id, allow);
    json_decref(res->body);
    res->body = NULL;
    free(res->text);
    res->text = NULL;
    return http_queue(conn, ex, method, url);
}

enum MHD_Result http_send_stopping(struct http_exchange *ex, const char *method,
                                   const char *url)
{
    struct api_response res = {0, NULL, NULL, 0, NULL, NULL};
    api_error(&res, 503, "The gateway is shutting down", NULL);
    http_build(ex, &res, NULL, NULL, NULL);
    json_decref(res.body);
    if (ex->response != NULL) /* the client should not send more on this connection */
        MHD_add_response_header(ex->response, MHD_HTTP_HEADER_CONNECTION, "close");
    return http_queue(ex->conn, ex, method, url);
}
