/* Framing: requests libmicrohttpd 0.9.75 accepts whose body boundaries are ambiguous, refused
 * from the headers, before any body byte is read, with the connection closed after the answer
 * (what follows on it cannot be trusted to start a request):
 *   - two Content-Length values that differ (headers or a comma list): a proxy that reads the
 *     other one would see a different request boundary (request smuggling): 400;
 *   - Transfer-Encoding together with Content-Length (RFC 9112 6.1: a sender must not; a
 *     recipient may reject): 400;
 *   - a Transfer-Encoding other than "chunked" (gzip, ...): its length is unknowable, and
 *     libmicrohttpd waited for the idle timeout: 501;
 *   - HTTP/1.1 without Host (RFC 9112 3.2: 400).
 * libmicrohttpd's own refusals (a malformed Content-Length, headers past its memory limit)
 * answer before any callback of ours runs; our build of it makes their bodies the API's JSON
 * error (third_party/libmicrohttpd/README.md). */
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http_internal.h"

struct framing_scan {
    int content_lengths;         /* values seen, across headers and comma lists */
    unsigned long long first;
    bool differ, malformed;
    int transfer_encodings;
    bool only_chunked;
    int hosts;
};

static enum MHD_Result framing_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    struct framing_scan *f = cls;
    (void)kind;
    if (strcasecmp(key, "Content-Length") == 0) {
        const char *p = value;
        for (;;) {
            char *end;
            while (*p == ' ' || *p == '\t')
                p++;
            if (*p < '0' || *p > '9') {
                f->malformed = true;
                break;
            }
            unsigned long long n = strtoull(p, &end, 10);
            if (f->content_lengths++ == 0)
                f->first = n;
            else if (n != f->first)
                f->differ = true;
            p = end;
            while (*p == ' ' || *p == '\t')
                p++;
            if (*p == '\0')
                break;
            if (*p++ != ',') {
                f->malformed = true;
                break;
            }
        }
    } else if (strcasecmp(key, "Transfer-Encoding") == 0) {
        f->transfer_encodings++;
        if (strcasecmp(value, "chunked") != 0)
            f->only_chunked = false;
    } else if (strcasecmp(key, "Host") == 0) {
        f->hosts++;
    }
    return MHD_YES;
}

/* Answers status with message and closes the connection after it. */
static enum MHD_Result framing_refuse(struct http_exchange *ex, unsigned status,
                                      const char *message)
{
    struct api_response res = {0, NULL, NULL, 0, NULL, NULL};
    api_error(&res, status, message, NULL);
    http_build(ex, &res, NULL, NULL, NULL);
    json_decref(res.body);
    if (ex->response != NULL)
        MHD_add_response_header(ex->response, MHD_HTTP_HEADER_CONNECTION, "close");
    return http_queue(ex->conn, ex, ex->method, ex->url);
}

bool http_framing_refused(struct http_exchange *ex, const char *version, enum MHD_Result *rc)
{
    struct framing_scan f = {.only_chunked = true};
    MHD_get_connection_values(ex->conn, MHD_HEADER_KIND, framing_header, &f);
    if (f.differ || f.malformed)
        *rc = framing_refuse(ex, 400, "Content-Length must be given once, as one number");
    else if (f.transfer_encodings > 0 && f.content_lengths > 0)
        *rc = framing_refuse(ex, 400,
                             "Content-Length and Transfer-Encoding must not be sent together");
    else if (f.transfer_encodings > 1 || !f.only_chunked)
        *rc = framing_refuse(ex, 501, "Transfer-Encoding other than chunked is not supported");
    else if (f.hosts == 0 && version != NULL && strcmp(version, MHD_HTTP_VERSION_1_1) == 0)
        *rc = framing_refuse(ex, 400, "HTTP/1.1 requests must carry a Host header");
    else if (f.hosts > 1)
        *rc = framing_refuse(ex, 400, "Host must be given once");
    else
        return false;
    return true;
}
