/* Dispatch: once a request is in, its route (router.c), the scope rule, and who runs it. A
 * blocking handler runs on one of the handler threads while the connection is suspended; a
 * route's asynchronous form runs without one (started on the event thread, finished by
 * whoever completes it). Suspend and resume count what shutdown waits for (http_server.c).
 *
 * Each handler thread has a request arena (lib/arena.h): the request's parsed body, its
 * jansson values and the RPC replies it unpacks live there and die when the response is
 * built. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "http_internal.h"
#include "idempotency.h"

/* What one request may take from its arena (parsed body, RPC replies): a base plus a multiple
 * of its body. A 10,000-row bulk call (1.3 MB) uses ~20 MB; past the budget allocations fail
 * and the request gets its 400/500 instead of the process growing. */
#define HTTP_ARENA_BASE ((size_t)64 << 20)
#define HTTP_ARENA_PER_BODY_BYTE 24

/* ---- each thread's request arena ---- */

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

enum MHD_Result http_hand_off(struct http_server *s, struct http_exchange *ex)
{
    if (!http_suspend(s, ex))
        return http_send_stopping(ex, ex->method, ex->url);
    http_enqueue(s, ex);
    return MHD_YES;
}

/* ---- the blocking path: a handler thread ---- */

/* The scope rule: a read-only key may only GET; a public route's handler decides itself. */
static bool http_scope_allows(const struct route *route, const struct api_identity *identity,
                              const char *method)
{
    return router_route_public(route) || identity->scope == SCOPE_WRITE ||
           strcmp(method, "GET") == 0;
}

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
    authorized = http_auth_request(gw, ex, route, &identity, &rate, &res);
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
    if (!http_scope_allows(route, &identity, method)) {
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
    if (!router_route_public(route) && !http_concurrency_enter(gw, &identity, &res)) {
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
        http_concurrency_leave(gw, &identity);
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

void *http_handler_thread(void *arg)
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
            http_auth_lookup(s->gw, ex);
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

void http_finish_async(struct http_exchange *ex)
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

enum MHD_Result http_dispatch(struct http_server *s, struct http_exchange *ex)
{
    if (http_async_eligible(s->gw, ex))
        return http_start_async(s->gw, ex);
    return http_hand_off(s, ex);
}
