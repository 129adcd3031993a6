/* HTTP/1.1 front door on libmicrohttpd: body collection with a hard limit, authentication,
 * rate limiting, routing, scope checks, the standard response headers and one access-log
 * line per request.
 *
 * libmicrohttpd calls http_access several times per request: first with the headers (we set
 * up per-request state and answer only if the declared body is already too large), then once
 * per body chunk, then once with no data, when the request is handled. Answering on a later
 * call is what keeps connections alive (see shared/BASELINES.md).
 *
 * Threads. libmicrohttpd's few event threads (HTTP_THREADS) each poll many connections; they
 * must not block, or every connection of that thread waits. When a request has been read, its
 * connection is suspended and the request goes to a handler thread (HTTP_HANDLER_THREADS),
 * which runs the route's blocking handler, builds the response and resumes the connection; the
 * event thread then queues the response (libmicrohttpd allows that only on its own thread).
 * A route with an asynchronous form (struct route_async: batched contact reads) needs no
 * handler thread: the event thread starts it, and whoever finishes it resumes the connection.
 * Why: when requests ran on the thread that polled their connection, a slow call held every
 * other connection of that thread, and a read waiting on its batch held a thread (32 threads
 * measured best: 25,000 reads/s, 5-6 context switches per read). Now: 34,000-36,500 reads/s,
 * ~4 switches per read (wrk -c64; BENCHMARKS.md).
 *
 * Shutdown: libmicrohttpd must not be stopped with a connection suspended. Once stopping, no
 * request is suspended any more (they get 503), and http_server_stop waits for those in
 * flight, which end within the RPC deadline. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "arena.h"
#include "gateway.h"
#include "idempotency.h"
#include "ids.h"
#include "log.h"
#include "timefmt.h"

#define HTTP_HANDLER_THREADS_MAX 1024
#define HTTP_DRAIN_WRITE_MS 2000 /* at shutdown, for answered requests to reach their clients */
/* Bodies larger than this get a mapping of their own, unmapped when the request ends: their
 * memory goes back to the kernel at once, while the heap (lib/service.h) keeps its peak to
 * stay warm for the common bulk call (1.3 MB for 10,000 contacts, below this). */
#define HTTP_BODY_MMAP_MIN ((size_t)4 << 20)
#define HTTP_BODY_FIRST_CAP 16384
/* What one request may take from its arena (parsed body, RPC replies): a base plus a multiple
 * of its body. A 10,000-row bulk call (1.3 MB) uses ~20 MB; past the budget allocations fail
 * and the request gets its 400/500 instead of the process growing. */
#define HTTP_ARENA_BASE ((size_t)64 << 20)
#define HTTP_ARENA_PER_BODY_BYTE 24

struct http_exchange;

/* One connection, for the request deadline (slowloris: libmicrohttpd's idle timeout restarts
 * with every byte, so a header sent a byte at a time held a connection forever). Owned by
 * libmicrohttpd's socket_context slot; linked in the server's list under conn_lock. */
struct http_conn {
    struct http_conn *prev, *next;
    MHD_socket fd;
    int64_t since_ms; /* when the request being read began (or the previous one ended) */
    bool busy;        /* the request is in: handled or answered, no deadline */
    bool cut;         /* shut down by the sweeper */
};

struct http_server {
    struct MHD_Daemon *daemon;
    struct gateway *gw;
    pthread_mutex_t lock;
    pthread_cond_t work;      /* a request was queued for the handler threads, or stopping */
    pthread_cond_t drained;   /* no connection is suspended any more */
    struct http_exchange *head, *tail; /* requests waiting for a handler thread */
    int suspended;            /* connections suspended and not yet resumed */
    int answering;            /* requests that were suspended and are not complete yet */
    bool stopping;
    int nhandlers;
    pthread_t *handlers;
    /* Request bodies held, across all connections (buffer capacity, plus what a declared
     * Content-Length has reserved): capped at body_memory_max, past which requests get 503
     * instead of a buffer. Under lock. */
    size_t body_memory;
    size_t body_memory_max;
    /* the request deadline: connections, and the thread that cuts the late ones */
    pthread_mutex_t conn_lock;
    pthread_cond_t conn_wake;
    struct http_conn *conns;
    int deadline_ms; /* 0: none */
    bool sweeper_running, sweeper_stop;
    pthread_t sweeper;
};

/* Where a request is once it has been read. */
enum http_stage {
    HTTP_READING = 0, /* headers and body still arriving */
    HTTP_AUTHENTICATING, /* suspended after the headers: a handler thread looks the key up */
    HTTP_AUTH_DONE,   /* resumed after the lookup (auth_result): admit or refuse, no body yet */
    HTTP_WORKING,     /* suspended: a handler thread or an asynchronous route has it */
    HTTP_ANSWERED,    /* resumed with `response` built: queue it */
    HTTP_ASYNC_DONE,  /* resumed after an asynchronous route's work: finish, then queue */
};

/* Per-request state, owned by libmicrohttpd's con_cls slot; freed in http_completed. While
 * the connection is suspended, the thread doing its work owns it; that thread's last touch is
 * the resume. */
struct http_exchange {
    int64_t started_ms;
    char request_id[72];
    char *body;
    size_t body_len;
    size_t body_cap;
    bool body_mapped;     /* body is an mmap'd region of body_cap bytes */
    size_t body_reserved; /* counted in the server's body_memory */
    bool too_large;
    bool over_memory;     /* the body did not fit under HTTP_MAX_BODY_MEMORY: 503 */
    /* The key, checked from the headers before any body byte is accepted: */
    bool authenticated;   /* identity holds the caller (not for public routes) */
    size_t declared;      /* Content-Length, 0 when absent (chunked) */
    int auth_result;      /* auth_lookup's, for HTTP_AUTH_DONE */
    bool was_suspended; /* counted in the server's `answering` */
    enum http_stage stage;
    struct http_server *server;
    struct MHD_Connection *conn;
    const char *url, *method; /* libmicrohttpd's, valid until the request completes */
    struct http_exchange *next; /* in the handler threads' queue */
    /* the answer, built off the event thread */
    struct MHD_Response *response;
    unsigned status;
    size_t bytes;
    char org_id[48]; /* for the access log; "" when unauthenticated */
    /* an asynchronous route in flight */
    const struct route *route;
    struct api_request req;
    struct api_async async;
    struct api_identity identity;
    struct rate_decision rate;
    char param_store[512];
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

/* Builds ex's response from res, with the headers every response carries. Leaves
 * ex->response NULL when out of memory (the connection is then closed). Any thread. */
static void http_build(struct http_exchange *ex, struct api_response *res,
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

/* Refused requests (401, 429, 413, 503) are what a flood is made of: 50,000 random keys
 * wrote 34 MB of access log (issue 13). At most HTTP_REFUSED_LOG_PER_SECOND of them are
 * logged a second; the rest are counted, and the next refused line logged says how many
 * were left out ("suppressed"). */
#define HTTP_REFUSED_LOG_PER_SECOND 20
static pthread_mutex_t http_log_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t http_log_second;
static long http_log_logged, http_log_suppressed;

static bool http_log_refused(unsigned status, long *suppressed)
{
    int64_t second = time_monotonic_ms() / 1000;
    bool log;
    *suppressed = 0;
    if (status != 401 && status != 429 && status != 413 && status != 503)
        return true;
    pthread_mutex_lock(&http_log_lock);
    if (second != http_log_second) {
        http_log_second = second;
        http_log_logged = 0;
    }
    log = http_log_logged < HTTP_REFUSED_LOG_PER_SECOND;
    if (log) {
        http_log_logged++;
        *suppressed = http_log_suppressed;
        http_log_suppressed = 0;
    } else {
        http_log_suppressed++;
    }
    pthread_mutex_unlock(&http_log_lock);
    return log;
}

/* Queues ex's response and writes the access-log line. Event thread only. */
static enum MHD_Result http_queue(struct MHD_Connection *conn, struct http_exchange *ex,
                                  const char *method, const char *url)
{
    enum MHD_Result rc;
    if (ex->response == NULL)
        return MHD_NO;
    rc = MHD_queue_response(conn, ex->status, ex->response);
    MHD_destroy_response(ex->response);
    ex->response = NULL;

    long suppressed;
    if (!http_log_refused(ex->status, &suppressed))
        return rc;
    json_t *line = json_pack("{s:s, s:s, s:s, s:i, s:I, s:I}", "rid", ex->request_id, "method",
                             method, "path", url, "status", (int)ex->status, "ms",
                             (json_int_t)(time_monotonic_ms() - ex->started_ms), "bytes",
                             (json_int_t)ex->bytes);
    if (ex->org_id[0] != '\0')
        json_object_set_new(line, "org", json_string(ex->org_id));
    if (suppressed > 0)
        json_object_set_new(line, "suppressed", json_integer(suppressed));
    json_object_set_new(line, "msg", json_string("http"));
    log_fields(ex->status >= 500 ? LOG_WARN : LOG_INFO, line);
    return rc;
}

/* Answers at once, on the event thread. Releases res. */
static enum MHD_Result http_send(struct MHD_Connection *conn, struct http_exchange *ex,
                                 const char *method, const char *url,
                                 struct api_response *res, const struct rate_decision *rate,
                                 const char *org_id, const char *allow)
{
    http_build(ex, res, rate, org_id, allow);
    json_decref(res->body);
    res->body = NULL;
    free(res->text);
    res->text = NULL;
    return http_queue(conn, ex, method, url);
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
#define HTTP_MISSING_KEY "Missing API key: send x-api-key or Authorization: Bearer"

/* Counts the request against its key's limit, or, without a known key (identity NULL),
 * against the caller's address (which also slows key guessing). Answers 429 in res and
 * returns false when over the limit. Never blocks. */
static bool http_rate_take(struct gateway *gw, struct MHD_Connection *conn,
                           const struct api_identity *identity, struct rate_decision *rate,
                           struct api_response *res)
{
    char who[64];
    if (identity != NULL) {
        /* per organization, as reference 004's tiers say: N keys do not make N tiers */
        rate_limiter_take(gw->limits, identity->org_id, identity->tier, time_now_ms(), rate);
    } else {
        http_client_ip(conn, who, sizeof who);
        rate_limiter_take(gw->limits, who, TIER_STANDARD, time_now_ms(), rate);
    }
    if (!rate->allowed)
        api_error(res, 429, "Rate limit exceeded", NULL);
    return rate->allowed;
}

static bool http_authorize(struct gateway *gw, struct MHD_Connection *conn,
                           struct api_identity *identity, struct rate_decision *rate,
                           struct api_response *res)
{
    const char *key = http_api_key(conn);
    int found = key != NULL ? auth_lookup(gw, key, identity) : 1;

    if (!http_rate_take(gw, conn, found == 0 ? identity : NULL, rate, res))
        return false;
    if (found < 0)
        api_error(res, 503, "Authentication is temporarily unavailable", NULL);
    else if (found > 0)
        api_error(res, 401, key == NULL ? HTTP_MISSING_KEY : "Invalid API key", NULL);
    return found == 0;
}

/* The bodies' memory cap (HTTP_MAX_BODY_MEMORY) is reached: come back in a moment. */
#define HTTP_OVER_MEMORY_RETRY "1"
static void http_over_memory(struct api_response *res)
{
    api_error(res, 503, "The gateway is busy with other uploads; retry shortly", NULL);
}

static void http_too_large(struct gateway *gw, struct api_response *res)
{
    char msg[96];
    snprintf(msg, sizeof msg, "Request body exceeds the limit of %zu bytes", gw->max_body_bytes);
    api_error(res, 413, msg, NULL);
}

/* Answers a request whose declared body is over the limit before reading any of it (the
 * connection is closed after the reply). This runs on an event thread, which must not wait on
 * the database: a key in the cache is authorized and counted as usual; a missing key gets 401;
 * a key not in the cache gets the 413 without being looked up, counted against the caller's
 * address (a stream of oversized requests with random keys must not become a stream of key
 * lookups). */
static enum MHD_Result http_refuse_body(struct gateway *gw, struct MHD_Connection *conn,
                                        struct http_exchange *ex, const char *url,
                                        const char *method)
{
    struct api_response res = {0, NULL, NULL, 0, NULL, NULL};
    struct api_identity identity;
    struct rate_decision rate;
    const char *key = http_api_key(conn);
    bool known = key != NULL && auth_lookup_cached(gw, key, &identity) == 0;

    if (http_rate_take(gw, conn, known ? &identity : NULL, &rate, &res)) {
        if (key == NULL)
            api_error(&res, 401, HTTP_MISSING_KEY, NULL);
        else
            http_too_large(gw, &res);
    }
    return http_send(conn, ex, method, url, &res, &rate, known ? identity.org_id : NULL, NULL);
}

/* Each thread's request arena (lib/arena.h): the request's parsed body, its jansson values
 * and the RPC replies it unpacks live there and die when the response is built. */
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

/* Enters this thread's arena; NULL (everything then simply goes to malloc) when out of
 * memory. Pair with http_arena_done. */
static struct arena *http_arena_begin(void)
{
    struct arena *a;
    pthread_once(&http_arena_once, http_arena_key_create);
    a = pthread_getspecific(http_arena_key);
    if (a == NULL && (a = arena_new()) != NULL && pthread_setspecific(http_arena_key, a) != 0) {
        arena_destroy(a);
        a = NULL;
    }
    if (a != NULL)
        arena_enter(a);
    return a;
}

static void http_arena_done(struct arena *a)
{
    if (a != NULL) {
        arena_leave();
        arena_reset(a);
    }
}

/* ---- suspending and resuming ---- */

/* Suspends the connection for work on another thread; false once the server is stopping. */
static bool http_suspend(struct http_server *s, struct http_exchange *ex)
{
    pthread_mutex_lock(&s->lock);
    if (s->stopping) {
        pthread_mutex_unlock(&s->lock);
        return false;
    }
    s->suspended++;
    if (!ex->was_suspended) /* a request may be suspended twice: key lookup, then handler */
        s->answering++;
    pthread_mutex_unlock(&s->lock);
    ex->was_suspended = true;
    if (ex->stage != HTTP_AUTHENTICATING)
        ex->stage = HTTP_WORKING;
    MHD_suspend_connection(ex->conn);
    return true;
}

/* Hands the connection back to its event thread, which calls http_access again. ex may be
 * freed as soon as the connection is resumed: nothing touches it afterwards. */
static void http_resume(struct http_exchange *ex, enum http_stage stage)
{
    struct http_server *s = ex->server;
    ex->stage = stage;
    MHD_resume_connection(ex->conn);
    pthread_mutex_lock(&s->lock);
    if (--s->suspended == 0 && s->stopping)
        pthread_cond_broadcast(&s->drained);
    pthread_mutex_unlock(&s->lock);
}

static enum MHD_Result http_send_stopping(struct http_exchange *ex, const char *method,
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

/* ---- the blocking path: a handler thread ---- */

/* Authorizes, routes and runs the handler; leaves the response in ex. */
static void http_handle(struct gateway *gw, struct http_exchange *ex)
{
    struct api_response res = {200, NULL, NULL, 0, NULL, NULL};
    struct rate_decision rate;
    struct api_identity identity;
    struct api_request req;
    char allow[64], param_store[512];
    const char *method = ex->method, *url = ex->url;
    const struct route *route;
    bool path_known, authorized, over_concurrency = false;
    struct idempotency_claim idempotency = {0};

    memset(&req, 0, sizeof req);
    route = router_find(method, url, req.params, param_store, sizeof param_store, &path_known,
                        allow, sizeof allow);
    if (route != NULL && router_route_public(route)) {
        /* The handler authenticates the caller (carrier signature, outcome token) before any
         * work, so these routes are counted per address but not held to the anonymous
         * standard tier: a carrier sends several callbacks per call from a few addresses, and
         * at 100 requests a minute a busy campaign's callbacks were refused with 429 and calls
         * finished only when the dialer's stale sweep asked the carrier. */
        char who[80];
        memset(&identity, 0, sizeof identity);
        identity.scope = SCOPE_READ;
        memcpy(who, "public:", 7);
        http_client_ip(ex->conn, who + 7, sizeof who - 7);
        rate_limiter_take(gw->limits, who, TIER_ENTERPRISE, time_now_ms(), &rate);
        authorized = rate.allowed;
        if (!authorized)
            api_error(&res, 429, "Rate limit exceeded", NULL);
    } else if (ex->authenticated) { /* looked up from the headers, before the body */
        identity = ex->identity;
        authorized = http_rate_take(gw, ex->conn, &identity, &rate, &res);
    } else {
        authorized = http_authorize(gw, ex->conn, &identity, &rate, &res);
    }
    if (!authorized)
        goto build;
    if (ex->too_large) {
        http_too_large(gw, &res);
        goto build;
    }
    if (ex->over_memory) {
        http_over_memory(&res);
        goto build;
    }
    if (route == NULL) {
        char msg[160];
        snprintf(msg, sizeof msg, "Cannot %s %.100s", method, url);
        api_error(&res, path_known ? 405 : 404, msg, NULL);
        goto build;
    }
    if (!router_route_public(route) && identity.scope != SCOPE_WRITE && strcmp(method, "GET") != 0) {
        api_error(&res, 403, "This API key has read-only scope", NULL);
        goto build;
    }
    req.gw = gw;
    req.connection = ex->conn;
    req.method = method;
    req.path = url;
    req.request_id = ex->request_id;
    req.org_id = identity.org_id;
    req.scope = identity.scope;
    req.body = ex->body ? ex->body : "";
    req.body_len = ex->body_len;
    /* The tier's Concurrent column, per organization (ratelimit.c): 429 at the cap. */
    if (!router_route_public(route) &&
        !rate_limiter_enter(gw->limits, identity.org_id, identity.tier, time_now_ms())) {
        api_error(&res, 429, "Too many concurrent requests for this organization's tier", NULL);
        over_concurrency = true;
        goto build;
    }
    /* Idempotency-Key on POST (idempotency.h): run once, or answer from the stored answer */
    if (idempotency_begin(gw, &req, &idempotency, &res)) {
        route->handler(&req, &res);
        if (res.body == NULL && res.text == NULL && res.status != 204)
            api_error(&res, 500, "handler produced no response", NULL);
        idempotency_finish(gw, &idempotency, &res);
    }
    if (!router_route_public(route))
        rate_limiter_leave(gw->limits, identity.org_id);
build:
    http_build(ex, &res, &rate, authorized ? identity.org_id : NULL,
               res.status == 405 ? allow : NULL);
    if (idempotency.replayed && ex->response != NULL)
        MHD_add_response_header(ex->response, "Idempotent-Replayed", "true");
    if ((over_concurrency || (ex->over_memory && authorized)) && ex->response != NULL)
        MHD_add_response_header(ex->response, "Retry-After", "1");
    json_decref(res.body);
    free(res.text);
}

static void *http_handler_thread(void *arg)
{
    struct http_server *s = arg;
    pthread_mutex_lock(&s->lock);
    for (;;) {
        struct http_exchange *ex = s->head;
        if (ex == NULL) {
            if (s->stopping)
                break;
            pthread_cond_wait(&s->work, &s->lock);
            continue;
        }
        if ((s->head = ex->next) == NULL)
            s->tail = NULL;
        pthread_mutex_unlock(&s->lock);

        if (ex->stage == HTTP_AUTHENTICATING) { /* a key lookup, before the body */
            ex->auth_result = auth_lookup(s->gw, http_api_key(ex->conn), &ex->identity);
            http_resume(ex, HTTP_AUTH_DONE);
            pthread_mutex_lock(&s->lock);
            continue;
        }
        struct arena *a = http_arena_begin();
        /* One request's memory is bounded in proportion to its body (issue 13). */
        if (a != NULL)
            arena_set_budget(a, HTTP_ARENA_BASE + HTTP_ARENA_PER_BODY_BYTE * ex->body_len);
        http_handle(s->gw, ex);
        http_arena_done(a);
        http_resume(ex, HTTP_ANSWERED);

        pthread_mutex_lock(&s->lock);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

static void http_enqueue(struct http_server *s, struct http_exchange *ex)
{
    ex->next = NULL;
    pthread_mutex_lock(&s->lock);
    if (s->tail != NULL)
        s->tail->next = ex;
    else
        s->head = ex;
    s->tail = ex;
    pthread_cond_signal(&s->work);
    pthread_mutex_unlock(&s->lock);
}

/* ---- the asynchronous path: no handler thread ---- */

static void http_async_done(struct api_async *async)
{
    struct http_exchange *ex =
        (struct http_exchange *)((char *)async - offsetof(struct http_exchange, async));
    http_resume(ex, HTTP_ASYNC_DONE);
}

/* True when the request can take its route's asynchronous form: the key is in the cache (no
 * lookup to wait for), and the route has one. Fills ex->identity, ex->route and the params. */
static bool http_async_eligible(struct gateway *gw, struct http_exchange *ex)
{
    const char *key = http_api_key(ex->conn);
    char allow[64];
    bool path_known;

    if (ex->too_large || key == NULL || auth_lookup_cached(gw, key, &ex->identity) != 0)
        return false;
    memset(&ex->req, 0, sizeof ex->req);
    ex->route = router_find(ex->method, ex->url, ex->req.params, ex->param_store,
                            sizeof ex->param_store, &path_known, allow, sizeof allow);
    /* asynchronous routes are reads: any scope may call them */
    return ex->route != NULL && ex->route->async != NULL && strcmp(ex->method, "GET") == 0;
}

static enum MHD_Result http_start_async(struct gateway *gw, struct http_exchange *ex)
{
    struct api_response res = {200, NULL, NULL, 0, NULL, NULL};
    struct api_request *req = &ex->req;
    struct arena *a;

    if (!http_rate_take(gw, ex->conn, &ex->identity, &ex->rate, &res))
        return http_send(ex->conn, ex, ex->method, ex->url, &res, &ex->rate,
                         ex->identity.org_id, NULL);
    if (!http_suspend(ex->server, ex))
        return http_send_stopping(ex, ex->method, ex->url);
    req->gw = gw;
    req->connection = ex->conn;
    req->method = ex->method;
    req->path = ex->url;
    req->request_id = ex->request_id;
    req->org_id = ex->identity.org_id;
    req->scope = ex->identity.scope;
    req->body = "";
    ex->async.done = http_async_done;
    ex->async.result = NULL;
    a = http_arena_begin();
    if (!ex->route->async->start(req, &res, &ex->async)) { /* answered at once */
        http_build(ex, &res, &ex->rate, ex->identity.org_id, NULL);
        json_decref(res.body);
        free(res.text);
        http_arena_done(a);
        http_resume(ex, HTTP_ANSWERED);
        return MHD_YES;
    }
    http_arena_done(a);
    return MHD_YES;
}

/* Back on the event thread after the asynchronous work: the response. */
static void http_finish_async(struct http_exchange *ex)
{
    struct api_response res = {200, NULL, NULL, 0, NULL, NULL};
    struct arena *a = http_arena_begin();
    ex->route->async->finish(&ex->req, &res, &ex->async);
    ex->stage = HTTP_ANSWERED; /* finish runs once: it frees the work's result */
    if (res.body == NULL && res.text == NULL && res.status != 204)
        api_error(&res, 500, "handler produced no response", NULL);
    http_build(ex, &res, &ex->rate, ex->identity.org_id, NULL);
    json_decref(res.body);
    free(res.text);
    http_arena_done(a);
}

/* ---- request bodies ---- */

/* Counts `more` bytes against the bodies' cap; false (nothing counted) past it. */
static bool http_body_account(struct http_server *s, struct http_exchange *ex, size_t more)
{
    bool fits;
    pthread_mutex_lock(&s->lock);
    fits = s->body_memory_max == 0 || more <= s->body_memory_max - s->body_memory;
    if (fits) {
        s->body_memory += more;
        ex->body_reserved += more;
    }
    pthread_mutex_unlock(&s->lock);
    return fits;
}

/* Frees ex's body and gives back what it counted. */
static void http_body_release(struct http_server *s, struct http_exchange *ex)
{
    if (ex->body != NULL && ex->body_mapped)
        munmap(ex->body, ex->body_cap);
    else
        free(ex->body);
    ex->body = NULL;
    ex->body_len = ex->body_cap = 0;
    ex->body_mapped = false;
    if (ex->body_reserved > 0) {
        pthread_mutex_lock(&s->lock);
        s->body_memory -= ex->body_reserved;
        pthread_mutex_unlock(&s->lock);
        ex->body_reserved = 0;
    }
}

/* Makes room for `need` bytes of body and a NUL: exactly the declared length when there is
 * one, else doubling. Small bodies live on the heap, large ones (HTTP_BODY_MMAP_MIN) in a
 * mapping of their own. 0; 1 when the bodies' cap is reached; -1 when out of memory. */
static int http_body_grow(struct http_server *s, struct http_exchange *ex, size_t need)
{
    size_t cap;
    char *grown;

    if (need + 1 <= ex->body_cap)
        return 0;
    if (ex->declared >= need) {
        cap = ex->declared + 1;
    } else {
        cap = ex->body_cap ? ex->body_cap : HTTP_BODY_FIRST_CAP;
        while (cap < need + 1)
            cap *= 2;
    }
    if (cap > ex->body_reserved && !http_body_account(s, ex, cap - ex->body_reserved))
        return 1;
    if (cap <= HTTP_BODY_MMAP_MIN) {
        if ((grown = realloc(ex->body, cap)) == NULL)
            return -1;
    } else if (ex->body_mapped) {
        if ((grown = mremap(ex->body, ex->body_cap, cap, MREMAP_MAYMOVE)) == MAP_FAILED)
            return -1;
    } else {
        grown = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (grown == MAP_FAILED)
            return -1;
        if (ex->body_len > 0)
            memcpy(grown, ex->body, ex->body_len);
        free(ex->body);
        ex->body_mapped = true;
    }
    ex->body = grown;
    ex->body_cap = cap;
    return 0;
}

/* ---- the first call: the headers, before any body byte ---- */

/* Answers a caller whose key was refused (missing, unknown, lookup failed): counted against
 * its address, like every request without a known key. */
static enum MHD_Result http_refuse_key(struct gateway *gw, struct http_exchange *ex, int found)
{
    struct api_response res = {0, NULL, NULL, 0, NULL, NULL};
    struct rate_decision rate;
    const char *key = http_api_key(ex->conn);
    if (http_rate_take(gw, ex->conn, NULL, &rate, &res)) {
        if (found < 0)
            api_error(&res, 503, "Authentication is temporarily unavailable", NULL);
        else
            api_error(&res, 401, key == NULL ? HTTP_MISSING_KEY : "Invalid API key", NULL);
    }
    return http_send(ex->conn, ex, ex->method, ex->url, &res, &rate, NULL, NULL);
}

/* The caller may send its body: reserve what it declared under the bodies' cap (503 now,
 * before reading any of it, past the cap). */
static enum MHD_Result http_admit(struct http_server *s, struct http_exchange *ex)
{
    ex->stage = HTTP_READING;
    if (ex->declared > 0 && !http_body_account(s, ex, ex->declared + 1)) {
        struct api_response res = {0, NULL, NULL, 0, NULL, NULL};
        http_over_memory(&res);
        http_build(ex, &res, NULL, ex->authenticated ? ex->identity.org_id : NULL, NULL);
        json_decref(res.body);
        if (ex->response != NULL)
            MHD_add_response_header(ex->response, "Retry-After", HTTP_OVER_MEMORY_RETRY);
        return http_queue(ex->conn, ex, ex->method, ex->url);
    }
    return MHD_YES;
}

/* Requests per address whose key is not in the cache and must be looked up in the database:
 * counted before the lookup, so a stream of random keys costs one address its lookups, not
 * the database its index scans (issue 13). The professional tier: 500 a minute, 50 a second. */
#define HTTP_LOOKUP_TIER TIER_PROFESSIONAL

/* The first call, with the headers: authenticate before any body is accepted (issue 13: a
 * body of up to 16 MiB was buffered before its key was checked). A key in the cache is
 * checked here; one that must be looked up is handed to a handler thread with the connection
 * suspended (the event thread never waits on the database) and comes back as HTTP_AUTH_DONE.
 * Public routes authenticate in their handler. */
static enum MHD_Result http_begin(struct http_server *s, struct http_exchange *ex)
{
    struct gateway *gw = s->gw;
    const char *declared = MHD_lookup_connection_value(ex->conn, MHD_HEADER_KIND,
                                                       "Content-Length");
    const char *key = http_api_key(ex->conn);
    const struct route *route;
    const char *params[ROUTE_MAX_PARAMS];
    char store[512], allow[64], who[80];
    bool path_known;
    struct rate_decision rate;

    if (declared != NULL) {
        unsigned long long n = strtoull(declared, NULL, 10);
        if (n > gw->max_body_bytes)
            return http_refuse_body(gw, ex->conn, ex, ex->url, ex->method);
        ex->declared = (size_t)n;
    }
    route = router_find(ex->method, ex->url, params, store, sizeof store, &path_known, allow,
                        sizeof allow);
    if (route != NULL && router_route_public(route))
        return http_admit(s, ex);
    if (key == NULL)
        return http_refuse_key(gw, ex, 1);
    switch (auth_lookup_peek(gw, key, &ex->identity)) {
    case 0:
        ex->authenticated = true;
        return http_admit(s, ex);
    case 1:
        return http_refuse_key(gw, ex, 1);
    default:
        break;
    }
    memcpy(who, "lookup:", 7);
    http_client_ip(ex->conn, who + 7, sizeof who - 7);
    rate_limiter_take(gw->limits, who, HTTP_LOOKUP_TIER, time_now_ms(), &rate);
    if (!rate.allowed) {
        struct api_response res = {0, NULL, NULL, 0, NULL, NULL};
        api_error(&res, 429, "Too many unknown API keys from this address", NULL);
        return http_send(ex->conn, ex, ex->method, ex->url, &res, &rate, NULL, NULL);
    }
    ex->stage = HTTP_AUTHENTICATING;
    if (!http_suspend(s, ex))
        return http_send_stopping(ex, ex->method, ex->url);
    http_enqueue(s, ex);
    return MHD_YES;
}

/* Back from the key lookup (still before the body). */
static enum MHD_Result http_auth_done(struct http_server *s, struct http_exchange *ex)
{
    if (ex->auth_result != 0)
        return http_refuse_key(s->gw, ex, ex->auth_result);
    ex->authenticated = true;
    return http_admit(s, ex);
}

/* ---- the request deadline ---- */

static struct http_conn *http_conn_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return info != NULL ? info->socket_context : NULL;
}

/* busy: the request is in (no deadline while it is handled and answered); not busy: the
 * connection waits for, or reads, its next request, which must be in within the deadline. */
static void http_conn_busy(struct http_server *s, struct MHD_Connection *conn, bool busy)
{
    struct http_conn *c = http_conn_of(conn);
    if (c == NULL)
        return;
    pthread_mutex_lock(&s->conn_lock);
    c->busy = busy;
    if (!busy)
        c->since_ms = time_monotonic_ms();
    pthread_mutex_unlock(&s->conn_lock);
}

static void http_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                        enum MHD_ConnectionNotificationCode code)
{
    struct http_server *s = cls;
    struct http_conn *c = *socket_context;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *info =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (info == NULL || (c = calloc(1, sizeof *c)) == NULL)
            return; /* untracked: only the idle timeout applies */
        c->fd = info->connect_fd;
        c->since_ms = time_monotonic_ms();
        pthread_mutex_lock(&s->conn_lock);
        c->next = s->conns;
        if (s->conns != NULL)
            s->conns->prev = c;
        s->conns = c;
        pthread_mutex_unlock(&s->conn_lock);
        *socket_context = c;
    } else if (c != NULL) { /* closed: libmicrohttpd closes the socket after this */
        pthread_mutex_lock(&s->conn_lock);
        if (c->prev != NULL)
            c->prev->next = c->next;
        else
            s->conns = c->next;
        if (c->next != NULL)
            c->next->prev = c->prev;
        pthread_mutex_unlock(&s->conn_lock);
        free(c);
        *socket_context = NULL;
    }
}

/* Once a second, shuts down the sockets of connections whose request is not in within the
 * deadline; libmicrohttpd sees the end of the stream and closes them (the socket stays
 * open until the CLOSED notification, which takes conn_lock, so the fd is still theirs). */
static void *http_sweeper(void *arg)
{
    struct http_server *s = arg;
    pthread_mutex_lock(&s->conn_lock);
    while (!s->sweeper_stop) {
        struct timespec until;
        int64_t now = time_monotonic_ms();
        int cut = 0;
        for (struct http_conn *c = s->conns; c != NULL; c = c->next) {
            if (!c->busy && !c->cut && now - c->since_ms > s->deadline_ms) {
                shutdown(c->fd, SHUT_RDWR);
                c->cut = true;
                cut++;
            }
        }
        if (cut > 0)
            log_info(NULL, "closed %d connection(s) whose request was not in within %d s", cut,
                     s->deadline_ms / 1000);
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        pthread_cond_timedwait(&s->conn_wake, &s->conn_lock, &until);
    }
    pthread_mutex_unlock(&s->conn_lock);
    return NULL;
}

/* ---- libmicrohttpd's callbacks ---- */

static enum MHD_Result http_access(void *cls, struct MHD_Connection *conn, const char *url,
                                   const char *method, const char *version,
                                   const char *upload_data, size_t *upload_data_size,
                                   void **con_cls)
{
    struct http_server *s = cls;
    struct gateway *gw = s->gw;
    struct http_exchange *ex = *con_cls;

    (void)version;
    if (ex == NULL) {
        ex = calloc(1, sizeof *ex);
        if (ex == NULL)
            return MHD_NO;
        ex->started_ms = time_monotonic_ms();
        ex->server = s;
        ex->conn = conn;
        ex->url = url;
        ex->method = method;
        http_request_id(conn, ex->request_id, sizeof ex->request_id);
        *con_cls = ex;
        return http_begin(s, ex);
    }
    switch (ex->stage) {
    case HTTP_AUTH_DONE:
        return http_auth_done(s, ex);
    case HTTP_ANSWERED:
        return http_queue(conn, ex, method, url);
    case HTTP_ASYNC_DONE:
        http_finish_async(ex);
        return http_queue(conn, ex, method, url);
    case HTTP_AUTHENTICATING: /* not called while suspended */
    case HTTP_WORKING:
        return MHD_YES;
    case HTTP_READING:
        break;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (ex->too_large || ex->over_memory)
            return MHD_YES;
        if (ex->body_len + n > gw->max_body_bytes) {
            /* A chunked body that grew past the limit: drop what we have, read and discard the
             * rest, then answer 413. */
            ex->too_large = true;
            http_body_release(s, ex);
            return MHD_YES;
        }
        switch (http_body_grow(s, ex, ex->body_len + n)) {
        case 0:
            break;
        case 1: /* past the bodies' cap: drop it, read and discard the rest, answer 503 */
            ex->over_memory = true;
            http_body_release(s, ex);
            return MHD_YES;
        default:
            return MHD_NO;
        }
        memcpy(ex->body + ex->body_len, upload_data, n);
        ex->body_len += n;
        ex->body[ex->body_len] = '\0';
        return MHD_YES;
    }
    /* The whole request is in. */
    http_conn_busy(s, conn, true);
    if (http_async_eligible(gw, ex))
        return http_start_async(gw, ex);
    if (!http_suspend(s, ex))
        return http_send_stopping(ex, method, url);
    http_enqueue(s, ex);
    return MHD_YES;
}

static void http_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                           enum MHD_RequestTerminationCode toe)
{
    struct http_server *s = cls;
    struct http_exchange *ex = *con_cls;
    (void)toe;
    http_conn_busy(s, conn, false); /* the next request's deadline starts now */
    if (ex == NULL)
        return;
    if (ex->stage == HTTP_ASYNC_DONE) /* the client left before the answer: still free it */
        http_finish_async(ex);
    if (ex->was_suspended) {
        pthread_mutex_lock(&s->lock);
        if (--s->answering == 0 && s->stopping)
            pthread_cond_broadcast(&s->drained);
        pthread_mutex_unlock(&s->lock);
    }
    if (ex->response != NULL) /* built, never queued (the client went away first) */
        MHD_destroy_response(ex->response);
    http_body_release(s, ex);
    free(ex);
    *con_cls = NULL;
}

/* Stops accepting connections, answers 503 to new requests, waits for the requests in
 * flight (each ends within the RPC deadline) and, for up to HTTP_DRAIN_WRITE_MS, for their
 * responses to be written, then stops libmicrohttpd. */
static void http_server_free(struct http_server *s)
{
    struct timespec until;
    /* Ours once quiesced, but libmicrohttpd's threads may still hold it: closed after stop. */
    MHD_socket listener = s->daemon != NULL ? MHD_quiesce_daemon(s->daemon) : MHD_INVALID_SOCKET;
    pthread_mutex_lock(&s->lock);
    s->stopping = true;
    while (s->suspended > 0) /* libmicrohttpd must not be stopped with one suspended */
        pthread_cond_wait(&s->drained, &s->lock);
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += HTTP_DRAIN_WRITE_MS / 1000;
    while (s->answering > 0 && pthread_cond_timedwait(&s->drained, &s->lock, &until) == 0)
        ;
    pthread_cond_broadcast(&s->work);
    pthread_mutex_unlock(&s->lock);
    for (int i = 0; i < s->nhandlers; i++)
        pthread_join(s->handlers[i], NULL);
    if (s->sweeper_running) {
        pthread_mutex_lock(&s->conn_lock);
        s->sweeper_stop = true;
        pthread_cond_signal(&s->conn_wake);
        pthread_mutex_unlock(&s->conn_lock);
        pthread_join(s->sweeper, NULL);
    }
    if (s->daemon != NULL)
        MHD_stop_daemon(s->daemon);
    if (listener != MHD_INVALID_SOCKET)
        close(listener);
    pthread_cond_destroy(&s->drained);
    pthread_cond_destroy(&s->work);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->conn_wake);
    pthread_mutex_destroy(&s->conn_lock);
    free(s->handlers);
    free(s);
}

struct http_server *http_server_start(struct gateway *gw, const struct http_server_options *o)
{
    struct http_server *s = calloc(1, sizeof *s);
    struct sockaddr_in addr;
    int handlers = o->handler_threads < 1                          ? 1
                   : o->handler_threads > HTTP_HANDLER_THREADS_MAX ? HTTP_HANDLER_THREADS_MAX
                                                                   : o->handler_threads;

    if (s == NULL)
        return NULL;
    s->gw = gw;
    s->body_memory_max = o->max_body_memory;
    s->deadline_ms = o->request_deadline_seconds * 1000;
    pthread_mutex_init(&s->lock, NULL);
    pthread_mutex_init(&s->conn_lock, NULL);
    pthread_cond_init(&s->conn_wake, NULL);
    pthread_cond_init(&s->work, NULL);
    pthread_cond_init(&s->drained, NULL);
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)o->port);
    if (inet_pton(AF_INET, o->bind_address, &addr.sin_addr) != 1) {
        log_error(NULL, "HTTP_BIND %s is not an IPv4 address", o->bind_address);
        http_server_free(s);
        return NULL;
    }
    if ((s->handlers = calloc((size_t)handlers, sizeof *s->handlers)) == NULL) {
        http_server_free(s);
        return NULL;
    }
    for (; s->nhandlers < handlers; s->nhandlers++)
        if (pthread_create(&s->handlers[s->nhandlers], NULL, http_handler_thread, s) != 0)
            break;
    s->daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME,
        (uint16_t)o->port, NULL, NULL, http_access, s, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&addr, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)o->event_threads,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)o->max_connections,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)o->timeout_seconds,
        MHD_OPTION_NOTIFY_COMPLETED, http_completed, s, MHD_OPTION_LISTENING_ADDRESS_REUSE, 1,
        /* issue 13: one address cannot take every connection (checked at accept, before any
         * key is looked up) */
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)o->max_connections_per_ip,
        MHD_OPTION_NOTIFY_CONNECTION, http_notify, s, MHD_OPTION_END);
    if (s->daemon != NULL && s->deadline_ms > 0)
        s->sweeper_running = pthread_create(&s->sweeper, NULL, http_sweeper, s) == 0;
    if (s->nhandlers == 0 || s->daemon == NULL) {
        log_error(NULL, "HTTP server could not listen on %s:%d", o->bind_address, o->port);
        http_server_free(s);
        return NULL;
    }
    log_info(NULL, "gateway listening on http://%s:%d with %d event and %d handler threads",
             o->bind_address, o->port, o->event_threads, s->nhandlers);
    return s;
}

void http_server_stop(struct http_server *s)
{
    if (s != NULL)
        http_server_free(s);
}
