/* HTTP/1.1 front door on libmicrohttpd: body collection with a hard limit, authentication,
 * rate limiting, routing, scope checks, the standard response headers and one access-log
 * line per request.
 *
 * libmicrohttpd calls http_access several times per request: first with the headers (we set
 * up per-request state and answer only if the declared body is already too large), then once
 * per body chunk, then once with no data, when the request is handled. Answering on a later
 * call is what keeps connections alive (see shared/BASELINES.md). */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arena.h"
#include "gateway.h"
#include "ids.h"
#include "log.h"
#include "timefmt.h"

struct http_server {
    struct MHD_Daemon *daemon;
    struct gateway *gw;
};

/* Per-request state, owned by libmicrohttpd's con_cls slot; freed in http_completed. */
struct http_exchange {
    int64_t started_ms;
    char request_id[72];
    char *body;
    size_t body_len;
    size_t body_cap;
    bool too_large;
};

/* Accepts a caller's X-Request-Id only if it is short and plain, so it is safe in logs. */
static void http_request_id(struct MHD_Connection *conn, char *out, size_t size)
{
    const char *given = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id");
    size_t len = given ? strlen(given) : 0;
    bool plain = len > 0 && len <= 64;
    for (size_t i = 0; plain && i < len; i++) {
        char c = given[i];
        plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '-' || c == '_' || c == '.';
    }
    if (plain)
        snprintf(out, size, "%s", given);
    else
        ids_new("req_", out, size);
}

static void http_client_ip(struct MHD_Connection *conn, char *out, size_t size)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(out, size, "ip:unknown");
    if (info == NULL || info->client_addr == NULL)
        return;
    if (info->client_addr->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)info->client_addr)->sin_addr, out + 3,
                  (socklen_t)(size - 3));
    else if (info->client_addr->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)info->client_addr)->sin6_addr,
                  out + 3, (socklen_t)(size - 3));
}

static void http_add_header_long(struct MHD_Response *response, const char *name, long value)
{
    char text[32];
    snprintf(text, sizeof text, "%ld", value);
    MHD_add_response_header(response, name, text);
}

/* Sends res with the headers every response carries, and logs the request. */
static enum MHD_Result http_send(struct MHD_Connection *conn, struct http_exchange *ex,
                                 const char *method, const char *url,
                                 struct api_response *res, const struct rate_decision *rate,
                                 const char *org_id, const char *allow)
{
    char *text = NULL;
    size_t len = 0;
    struct MHD_Response *response;
    enum MHD_Result rc;

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
    if (response == NULL)
        return MHD_NO;
    if (len > 0)
        MHD_add_response_header(response, "Content-Type", "application/json");
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
    rc = MHD_queue_response(conn, res->status, response);
    MHD_destroy_response(response);

    json_t *line = json_pack("{s:s, s:s, s:s, s:i, s:I, s:I}", "rid", ex->request_id, "method",
                             method, "path", url, "status", (int)res->status, "ms",
                             (json_int_t)(time_monotonic_ms() - ex->started_ms), "bytes",
                             (json_int_t)len);
    if (org_id != NULL)
        json_object_set_new(line, "org", json_string(org_id));
    json_object_set_new(line, "msg", json_string("http"));
    log_fields(res->status >= 500 ? LOG_WARN : LOG_INFO, line);
    return rc;
}

/* The API key from "x-api-key: sk_..." or "Authorization: Bearer sk_...". */
static const char *http_api_key(struct MHD_Connection *conn)
{
    const char *key = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "x-api-key");
    const char *auth;
    if (key != NULL && key[0] != '\0')
        return key;
    auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (auth != NULL && strncasecmp(auth, "Bearer ", 7) == 0) {
        auth += 7;
        while (*auth == ' ')
            auth++;
        return auth;
    }
    return NULL;
}

/* Authenticates the caller and counts the request against its rate limit. Returns true when
 * the request may go on; otherwise res holds the 401/429/503. rate is always filled. */
static bool http_authorize(struct gateway *gw, struct MHD_Connection *conn,
                           struct api_identity *identity, struct rate_decision *rate,
                           struct api_response *res)
{
    const char *key = http_api_key(conn);
    char who[64];
    int found = key != NULL ? auth_lookup(gw, key, identity) : 1;

    if (found != 0) {
        /* Callers without a valid key are limited per address, which also slows guessing. */
        http_client_ip(conn, who, sizeof who);
        rate_limiter_take(gw->limits, who, TIER_STANDARD, time_now_ms(), rate);
        if (!rate->allowed)
            api_error(res, 429, "Rate limit exceeded", NULL);
        else if (found < 0)
            api_error(res, 503, "Authentication is temporarily unavailable", NULL);
        else if (key == NULL)
            api_error(res, 401, "Missing API key: send x-api-key or Authorization: Bearer", NULL);
        else
            api_error(res, 401, "Invalid API key", NULL);
        return false;
    }
    rate_limiter_take(gw->limits, identity->key_id, identity->tier, time_now_ms(), rate);
    if (!rate->allowed) {
        api_error(res, 429, "Rate limit exceeded", NULL);
        return false;
    }
    return true;
}

static void http_too_large(struct gateway *gw, struct api_response *res)
{
    char msg[96];
    snprintf(msg, sizeof msg, "Request body exceeds the limit of %zu bytes", gw->max_body_bytes);
    api_error(res, 413, msg, NULL);
}

/* Answers a request whose declared body is over the limit before reading any of it (the
 * connection is closed after the reply). Authentication still comes first. */
static enum MHD_Result http_refuse_body(struct gateway *gw, struct MHD_Connection *conn,
                                        struct http_exchange *ex, const char *url,
                                        const char *method)
{
    struct api_response res = {0, NULL, NULL, 0};
    struct api_identity identity;
    struct rate_decision rate;
    bool ok = http_authorize(gw, conn, &identity, &rate, &res);
    enum MHD_Result rc;
    if (ok)
        http_too_large(gw, &res);
    rc = http_send(conn, ex, method, url, &res, &rate, ok ? identity.org_id : NULL, NULL);
    json_decref(res.body);
    return rc;
}

/* Each HTTP thread's request arena (lib/arena.h): the request's parsed body, its jansson
 * values and the RPC replies it unpacks live there and die when the response is queued. */
static pthread_key_t http_arena_key;
static pthread_once_t http_arena_once = PTHREAD_ONCE_INIT;

static void http_arena_free(void *a)
{
    arena_destroy(a);
}

static void http_arena_key_create(void)
{
    pthread_key_create(&http_arena_key, http_arena_free);
}

static struct arena *http_thread_arena(void)
{
    struct arena *a;
    pthread_once(&http_arena_once, http_arena_key_create);
    a = pthread_getspecific(http_arena_key);
    if (a == NULL && (a = arena_new()) != NULL && pthread_setspecific(http_arena_key, a) != 0) {
        arena_destroy(a);
        a = NULL;
    }
    return a;
}

static enum MHD_Result http_handle_in_arena(struct gateway *gw, struct MHD_Connection *conn,
                                            struct http_exchange *ex, const char *url,
                                            const char *method);

static enum MHD_Result http_handle(struct gateway *gw, struct MHD_Connection *conn,
                                   struct http_exchange *ex, const char *url, const char *method)
{
    struct arena *a = http_thread_arena();
    enum MHD_Result rc;
    if (a != NULL)
        arena_enter(a); /* without one (out of memory), everything simply goes to malloc */
    rc = http_handle_in_arena(gw, conn, ex, url, method);
    if (a != NULL) {
        arena_leave();
        arena_reset(a);
    }
    return rc;
}

static enum MHD_Result http_handle_in_arena(struct gateway *gw, struct MHD_Connection *conn,
                                            struct http_exchange *ex, const char *url,
                                            const char *method)
{
    struct api_response res = {200, NULL, NULL, 0};
    struct rate_decision rate;
    struct api_identity identity;
    struct api_request req;
    char allow[64], param_store[512];
    route_handler handler;
    bool path_known, authorized;
    enum MHD_Result rc;

    memset(&req, 0, sizeof req);
    authorized = http_authorize(gw, conn, &identity, &rate, &res);
    if (!authorized)
        goto send;
    if (ex->too_large) {
        http_too_large(gw, &res);
        goto send;
    }
    handler = router_match(method, url, req.params, param_store, sizeof param_store, &path_known,
                           allow, sizeof allow);
    if (handler == NULL) {
        char msg[160];
        snprintf(msg, sizeof msg, "Cannot %s %.100s", method, url);
        api_error(&res, path_known ? 405 : 404, msg, NULL);
        goto send;
    }
    if (identity.scope != SCOPE_WRITE && strcmp(method, "GET") != 0) {
        api_error(&res, 403, "This API key has read-only scope", NULL);
        goto send;
    }
    req.gw = gw;
    req.connection = conn;
    req.method = method;
    req.path = url;
    req.request_id = ex->request_id;
    req.org_id = identity.org_id;
    req.scope = identity.scope;
    req.body = ex->body ? ex->body : "";
    req.body_len = ex->body_len;
    handler(&req, &res);
    if (res.body == NULL && res.text == NULL && res.status != 204)
        api_error(&res, 500, "handler produced no response", NULL);
send:
    rc = http_send(conn, ex, method, url, &res, &rate, authorized ? identity.org_id : NULL,
                   res.status == 405 ? allow : NULL);
    json_decref(res.body);
    free(res.text);
    return rc;
}

static enum MHD_Result http_access(void *cls, struct MHD_Connection *conn, const char *url,
                                   const char *method, const char *version,
                                   const char *upload_data, size_t *upload_data_size,
                                   void **con_cls)
{
    struct gateway *gw = cls;
    struct http_exchange *ex = *con_cls;

    if (ex == NULL) {
        const char *declared;
        ex = calloc(1, sizeof *ex);
        if (ex == NULL)
            return MHD_NO;
        ex->started_ms = time_monotonic_ms();
        http_request_id(conn, ex->request_id, sizeof ex->request_id);
        *con_cls = ex;
        declared = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        if (declared != NULL && strtoull(declared, NULL, 10) > gw->max_body_bytes)
            return http_refuse_body(gw, conn, ex, url, method);
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (ex->too_large)
            return MHD_YES;
        if (ex->body_len + n > gw->max_body_bytes) {
            /* A chunked body that grew past the limit: drop what we have, read and discard the
             * rest, then answer 413. */
            ex->too_large = true;
            free(ex->body);
            ex->body = NULL;
            ex->body_len = ex->body_cap = 0;
            return MHD_YES;
        }
        if (ex->body_len + n + 1 > ex->body_cap) {
            size_t cap = ex->body_cap ? ex->body_cap : 16384;
            while (cap < ex->body_len + n + 1)
                cap *= 2;
            char *grown = realloc(ex->body, cap);
            if (grown == NULL)
                return MHD_NO;
            ex->body = grown;
            ex->body_cap = cap;
        }
        memcpy(ex->body + ex->body_len, upload_data, n);
        ex->body_len += n;
        ex->body[ex->body_len] = '\0';
        return MHD_YES;
    }
    return http_handle(gw, conn, ex, url, method);
}

static void http_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                           enum MHD_RequestTerminationCode toe)
{
    struct http_exchange *ex = *con_cls;
    if (ex == NULL)
        return;
    free(ex->body);
    free(ex);
    *con_cls = NULL;
}

struct http_server *http_server_start(struct gateway *gw, const char *bind_address, int port,
                                      int threads, int max_connections, int timeout_seconds)
{
    struct http_server *s = calloc(1, sizeof *s);
    struct sockaddr_in addr;

    if (s == NULL)
        return NULL;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, bind_address, &addr.sin_addr) != 1) {
        log_error(NULL, "HTTP_BIND %s is not an IPv4 address", bind_address);
        free(s);
        return NULL;
    }
    s->gw = gw;
    s->daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, (uint16_t)port, NULL, NULL,
        http_access, gw, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)threads, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)max_connections, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)timeout_seconds,
        MHD_OPTION_NOTIFY_COMPLETED, http_completed, gw, MHD_OPTION_LISTENING_ADDRESS_REUSE, 1,
        MHD_OPTION_END);
    if (s->daemon == NULL) {
        log_error(NULL, "HTTP server could not listen on %s:%d", bind_address, port);
        free(s);
        return NULL;
    }
    log_info(NULL, "gateway listening on http://%s:%d with %d threads", bind_address, port,
             threads);
    return s;
}

void http_server_stop(struct http_server *s)
{
    if (s == NULL)
        return;
    MHD_stop_daemon(s->daemon);
    free(s);
}
