#include "rpc.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "db.h"
#include "log.h"
#include "timefmt.h"

const char *rpc_status_name(Od__Status status)
{
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(&od__status__descriptor,
                                                                       (int)status);
    return v ? v->name : "UNKNOWN";
}

void rpc_fail(struct rpc_call *call, Od__Status status, const char *fmt, ...)
{
    va_list ap;
    call->status = status;
    va_start(ap, fmt);
    vsnprintf(call->message, sizeof call->message, fmt, ap);
    va_end(ap);
}

/* ======================= server ======================= */

struct rpc_worker {
    struct rpc_server *server;
    pthread_t thread;
    nng_ctx ctx;
    nng_aio *aio;
    struct db *db;
    struct arena *arena; /* the current call's unpacked messages; reset after each call */
    bool started;
};

/* How long an idle server worker waits for a call before it looks at `stopping` again. */
#define RPC_SERVER_POLL_MS 100

struct rpc_server {
    nng_socket sock;
    /* Set by rpc_server_stop; each worker reads it between calls. The socket is closed only
     * after every worker has returned: closing it under a worker that is about to send its
     * reply made nng 1.5 panic ("pthread_mutex_lock: Invalid argument" in nng_ctx_send). */
    atomic_bool stopping;
    ProtobufCService *services[RPC_MAX_SERVICES + 1]; /* NULL-terminated */
    void *app;
    int nworkers;
    struct rpc_worker *workers;
};

/* The closure every handler calls: packs the output while it is still alive. */
static void rpc_server_closure(const ProtobufCMessage *output, void *closure_data)
{
    struct rpc_call *call = closure_data;
    if (call->replied)
        return;
    call->replied = true;
    if (output == NULL || call->status != OD__STATUS__OK)
        return;
    call->reply_len = protobuf_c_message_get_packed_size(output);
    call->reply = malloc(call->reply_len ? call->reply_len : 1);
    if (call->reply == NULL) {
        rpc_fail(call, OD__STATUS__INTERNAL, "out of memory");
        return;
    }
    protobuf_c_message_pack(output, call->reply);
}

/* Runs one request; fills `call` with the outcome. */
static void rpc_server_dispatch(struct rpc_worker *w, const Od__RpcRequest *req,
                                struct rpc_call *call, ProtobufCAllocator *alloc)
{
    ProtobufCService *service = NULL;
    const ProtobufCServiceDescriptor *desc;
    const ProtobufCMethodDescriptor *method;
    ProtobufCMessage *input;

    for (int i = 0; w->server->services[i] != NULL; i++)
        if (strcmp(req->service, w->server->services[i]->descriptor->name) == 0)
            service = w->server->services[i];
    if (service == NULL) {
        rpc_fail(call, OD__STATUS__INVALID, "this server does not serve %s", req->service);
        return;
    }
    desc = service->descriptor;
    method = protobuf_c_service_descriptor_get_method_by_name(desc, req->method);
    if (method == NULL) {
        rpc_fail(call, OD__STATUS__INVALID, "unknown method %s.%s", desc->name, req->method);
        return;
    }
    if (req->deadline_unix_ms > 0 && time_now_ms() > req->deadline_unix_ms) {
        rpc_fail(call, OD__STATUS__UNAVAILABLE, "deadline passed before the call started");
        return;
    }
    call->input = req->body.data;
    call->input_len = req->body.len;
    input = protobuf_c_message_unpack(method->input, alloc, req->body.len, req->body.data);
    if (input == NULL) {
        rpc_fail(call, OD__STATUS__INVALID, "malformed %s request", req->method);
        return;
    }
    service->invoke(service, (unsigned)(method - desc->methods), input, rpc_server_closure, call);
    protobuf_c_message_free_unpacked(input, alloc);
    /* A handler that returns with a transaction open has a bug; never let it leak into the
     * next call on this connection. */
    db_rollback(w->db);
    if (!call->replied && call->status == OD__STATUS__OK)
        rpc_fail(call, OD__STATUS__INTERNAL, "%s sent no reply", req->method);
}

/* Turns a received message into the reply message, in place. */
static void rpc_server_handle(struct rpc_worker *w, nng_msg *msg)
{
    Od__RpcRequest *req;
    Od__RpcReply reply = OD__RPC_REPLY__INIT;
    struct rpc_call call;
    ProtobufCAllocator alloc;
    int64_t started = time_monotonic_ms();

    /* The envelope and the input are unpacked into the worker's arena: a 10,000-row request is
     * ~50,000 allocations, which malloc would serialize across workers (lib/arena.h). */
    arena_protobuf_allocator(w->arena, &alloc);
    arena_enter(w->arena);
    memset(&call, 0, sizeof call);
    call.db = w->db;
    call.app = w->server->app;
    call.status = OD__STATUS__OK;
    req = od__rpc_request__unpack(&alloc, nng_msg_len(msg), nng_msg_body(msg));
    if (req == NULL) {
        rpc_fail(&call, OD__STATUS__INVALID, "malformed RPC envelope");
    } else {
        call.service_name = req->service;
        call.method = req->method;
        call.org_id = req->org_id;
        call.request_id = req->request_id;
        call.deadline_unix_ms = req->deadline_unix_ms;
        rpc_server_dispatch(w, req, &call, &alloc);
    }

    reply.status = call.status;
    reply.message = call.message;
    if (call.status == OD__STATUS__OK) {
        reply.body.data = call.reply;
        reply.body.len = call.reply_len;
    }
    if (call.status == OD__STATUS__INTERNAL || call.status == OD__STATUS__UNAVAILABLE)
        log_error(call.request_id, "%s %s: %s", call.method ? call.method : "?",
                  rpc_status_name(call.status), call.message);
    else if (log_enabled(LOG_DEBUG))
        log_debug(call.request_id, "%s %s in %lld ms", call.method ? call.method : "?",
                  rpc_status_name(call.status), (long long)(time_monotonic_ms() - started));

    nng_msg_clear(msg);
    size_t len = od__rpc_reply__get_packed_size(&reply);
    if (nng_msg_realloc(msg, len) == 0)
        od__rpc_reply__pack(&reply, nng_msg_body(msg));
    free(call.reply);
    arena_leave();
    arena_reset(w->arena);
}

static void *rpc_worker_main(void *arg)
{
    struct rpc_worker *w = arg;
    if ((w->arena = arena_new()) == NULL) {
        log_error(NULL, "rpc worker: out of memory");
        return NULL;
    }
    while (!atomic_load(&w->server->stopping)) {
        nng_msg *msg;
        int rv;

        /* Receives time out now and then, so that a stop is seen within RPC_SERVER_POLL_MS
         * without closing the socket under us. */
        nng_aio_set_timeout(w->aio, RPC_SERVER_POLL_MS);
        nng_ctx_recv(w->ctx, w->aio);
        nng_aio_wait(w->aio);
        rv = nng_aio_result(w->aio);
        if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
            break;
        if (rv != 0)
            continue; /* NNG_ETIMEDOUT among them */
        msg = nng_aio_get_msg(w->aio);
        rpc_server_handle(w, msg);
        nng_aio_set_msg(w->aio, msg);
        nng_aio_set_timeout(w->aio, NNG_DURATION_INFINITE);
        nng_ctx_send(w->ctx, w->aio);
        nng_aio_wait(w->aio);
        /* On failure the message is still ours (nng_ctx_send ownership rule). */
        if (nng_aio_result(w->aio) != 0)
            nng_msg_free(msg);
    }
    arena_destroy(w->arena);
    return NULL;
}

void rpc_server_stop(struct rpc_server *server)
{
    if (server == NULL)
        return;
    /* Every worker finishes the call it is in (its reply is sent) and returns at its next
     * receive timeout; only then is the socket closed. */
    atomic_store(&server->stopping, true);
    for (int i = 0; i < server->nworkers; i++) {
        struct rpc_worker *w = &server->workers[i];
        if (w->started)
            pthread_join(w->thread, NULL);
    }
    nng_close(server->sock);
    for (int i = 0; i < server->nworkers; i++) {
        struct rpc_worker *w = &server->workers[i];
        if (w->aio)
            nng_aio_free(w->aio);
        db_close(w->db);
    }
    free(server->workers);
    free(server);
}

struct rpc_server *rpc_server_start(const struct rpc_server_options *o)
{
    struct rpc_server *s = calloc(1, sizeof *s);
    int rv;

    if (s == NULL)
        return NULL;
    atomic_init(&s->stopping, false);
    for (int i = 0; i < RPC_MAX_SERVICES && o->services[i] != NULL; i++)
        s->services[i] = o->services[i];
    s->app = o->app;
    s->nworkers = o->workers;
    s->workers = calloc((size_t)o->workers, sizeof *s->workers);
    if (s->workers == NULL || (rv = nng_rep0_open(&s->sock)) != 0) {
        free(s->workers);
        free(s);
        return NULL;
    }
    nng_socket_set_size(s->sock, NNG_OPT_RECVMAXSZ, RPC_MAX_MESSAGE_BYTES);
    for (int i = 0; i < o->workers; i++) {
        struct rpc_worker *w = &s->workers[i];
        w->server = s;
        w->db = db_open(o->database_url, i == 0 ? 30000 : 5000);
        if (w->db == NULL || nng_ctx_open(&w->ctx, s->sock) != 0 ||
            nng_aio_alloc(&w->aio, NULL, NULL) != 0) {
            log_error(NULL, "rpc server: worker %d could not start", i);
            rpc_server_stop(s);
            return NULL;
        }
    }
    if ((rv = nng_listen(s->sock, o->listen_url, NULL, 0)) != 0) {
        log_error(NULL, "rpc server: listen on %s: %s", o->listen_url, nng_strerror(rv));
        rpc_server_stop(s);
        return NULL;
    }
    for (int i = 0; i < o->workers; i++) {
        struct rpc_worker *w = &s->workers[i];
        if (pthread_create(&w->thread, NULL, rpc_worker_main, w) != 0) {
            rpc_server_stop(s);
            return NULL;
        }
        w->started = true;
    }
    for (int i = 0; s->services[i] != NULL; i++)
        log_info(NULL, "%s listening on %s with %d workers", s->services[i]->descriptor->name,
                 o->listen_url, o->workers);
    return s;
}

/* ======================= client ======================= */

#define RPC_SEND_TIMEOUT_MS 1000

/* A ProtobufCService for one proto service, sharing its process's socket: the envelope names
 * the service, so one socket serves every service of the target process. */
struct rpc_view {
    ProtobufCService base; /* first, so invoke can find the view */
    struct rpc_client *client;
};

struct rpc_client {
    nng_socket sock;
    atomic_int connected;
    pthread_mutex_t views_lock;
    int nviews;
    struct rpc_view views[RPC_MAX_SERVICES];
};

void rpc_ctx_init(struct rpc_ctx *ctx, const char *org_id, const char *request_id,
                  int timeout_ms)
{
    memset(ctx, 0, sizeof *ctx);
    ctx->org_id = org_id ? org_id : "";
    ctx->request_id = request_id ? request_id : "";
    ctx->timeout_ms = timeout_ms;
    ctx->status = OD__STATUS__INTERNAL;
}

void rpc_ctx_release(struct rpc_ctx *ctx)
{
    if (ctx->reply != NULL)
        protobuf_c_message_free_unpacked(ctx->reply,
                                         ctx->reply_allocator.alloc ? &ctx->reply_allocator : NULL);
    ctx->reply = NULL;
}

static void rpc_ctx_fail(struct rpc_ctx *ctx, Od__Status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void rpc_ctx_fail(struct rpc_ctx *ctx, Od__Status status, const char *fmt, ...)
{
    va_list ap;
    ctx->status = status;
    va_start(ap, fmt);
    vsnprintf(ctx->message, sizeof ctx->message, fmt, ap);
    va_end(ap);
}

static void rpc_client_pipe_event(nng_pipe pipe, nng_pipe_ev event, void *arg)
{
    struct rpc_client *c = arg;
    if (event == NNG_PIPE_EV_ADD_POST)
        atomic_fetch_add(&c->connected, 1);
    else if (event == NNG_PIPE_EV_REM_POST)
        atomic_fetch_sub(&c->connected, 1);
}

/* Builds the envelope for one call directly in an nng message. */
static nng_msg *rpc_client_encode(const ProtobufCServiceDescriptor *service,
                                  const ProtobufCMethodDescriptor *method,
                                  const ProtobufCMessage *input, const struct rpc_ctx *ctx)
{
    Od__RpcRequest req = OD__RPC_REQUEST__INIT;
    nng_msg *msg = NULL;
    size_t body_len = protobuf_c_message_get_packed_size(input);
    uint8_t *body = malloc(body_len ? body_len : 1);

    if (body == NULL)
        return NULL;
    protobuf_c_message_pack(input, body);
    req.service = (char *)service->name;
    req.method = (char *)method->name;
    req.org_id = (char *)ctx->org_id;
    req.request_id = (char *)ctx->request_id;
    req.deadline_unix_ms = time_now_ms() + ctx->timeout_ms;
    req.body.data = body;
    req.body.len = body_len;
    if (nng_msg_alloc(&msg, od__rpc_request__get_packed_size(&req)) == 0)
        od__rpc_request__pack(&req, nng_msg_body(msg));
    free(body);
    return msg;
}

static void rpc_client_decode(const ProtobufCMethodDescriptor *method, nng_msg *msg,
                              struct rpc_ctx *ctx)
{
    /* Inside an arena (lib/arena.h) the reply is unpacked into it: the caller releases the
     * reply before leaving the arena, as every gateway handler does. */
    ProtobufCAllocator *alloc = NULL;
    Od__RpcReply *reply;
    if (arena_current() != NULL)
        alloc = arena_protobuf_allocator(arena_current(), &ctx->reply_allocator);
    reply = od__rpc_reply__unpack(alloc, nng_msg_len(msg), nng_msg_body(msg));
    if (reply == NULL) {
        rpc_ctx_fail(ctx, OD__STATUS__INTERNAL, "malformed reply to %s", method->name);
        return;
    }
    if (reply->status != OD__STATUS__OK) {
        rpc_ctx_fail(ctx, reply->status, "%s", reply->message);
    } else {
        ctx->reply = protobuf_c_message_unpack(method->output, alloc, reply->body.len,
                                               reply->body.data);
        if (ctx->reply == NULL)
            rpc_ctx_fail(ctx, OD__STATUS__INTERNAL, "malformed %s reply", method->name);
        else
            ctx->status = OD__STATUS__OK;
    }
    od__rpc_reply__free_unpacked(reply, alloc);
}

/* One round trip; the outcome lands in ctx. */
static void rpc_client_round_trip(struct rpc_client *c, const ProtobufCServiceDescriptor *service,
                                  const ProtobufCMethodDescriptor *method,
                                  const ProtobufCMessage *input, struct rpc_ctx *ctx)
{
    const char *name = service->short_name;
    nng_ctx nctx;
    nng_aio *aio = NULL;
    nng_msg *msg;
    int64_t give_up = time_monotonic_ms() + ctx->timeout_ms;
    int rv;

    if (atomic_load(&c->connected) <= 0) {
        rpc_ctx_fail(ctx, OD__STATUS__UNAVAILABLE, "%s service is unavailable", name);
        return;
    }
    msg = rpc_client_encode(service, method, input, ctx);
    if (msg == NULL) {
        rpc_ctx_fail(ctx, OD__STATUS__INTERNAL, "out of memory");
        return;
    }
    if ((rv = nng_ctx_open(&nctx, c->sock)) != 0) {
        nng_msg_free(msg);
        rpc_ctx_fail(ctx, OD__STATUS__UNAVAILABLE, "%s: %s", name, nng_strerror(rv));
        return;
    }
    if ((rv = nng_aio_alloc(&aio, NULL, NULL)) != 0) {
        nng_msg_free(msg);
        nng_ctx_close(nctx);
        rpc_ctx_fail(ctx, OD__STATUS__INTERNAL, "%s: %s", name, nng_strerror(rv));
        return;
    }
    /* Handing the request to a connected replica takes microseconds. If it takes longer, no
     * replica is really there (one just died and nng has not told us yet): give up early
     * rather than wait out the whole deadline. */
    nng_aio_set_timeout(aio, ctx->timeout_ms < RPC_SEND_TIMEOUT_MS ? ctx->timeout_ms
                                                                   : RPC_SEND_TIMEOUT_MS);
    nng_aio_set_msg(aio, msg);
    nng_ctx_send(nctx, aio);
    nng_aio_wait(aio);
    if ((rv = nng_aio_result(aio)) != 0) {
        nng_msg_free(msg); /* a failed send leaves the message with us */
        rpc_ctx_fail(ctx, OD__STATUS__UNAVAILABLE, "%s service is unavailable (%s)", name,
                     nng_strerror(rv));
        goto out;
    }
    int64_t left = give_up - time_monotonic_ms();
    nng_aio_set_timeout(aio, left > 0 ? (nng_duration)left : 1);
    nng_ctx_recv(nctx, aio);
    nng_aio_wait(aio);
    if ((rv = nng_aio_result(aio)) != 0) {
        rpc_ctx_fail(ctx, OD__STATUS__UNAVAILABLE, "%s service did not answer in time (%s)",
                     name, nng_strerror(rv));
        goto out;
    }
    msg = nng_aio_get_msg(aio);
    rpc_client_decode(method, msg, ctx);
    nng_msg_free(msg);
out:
    nng_aio_free(aio);
    nng_ctx_close(nctx);
}

static void rpc_client_invoke(ProtobufCService *service, unsigned method_index,
                              const ProtobufCMessage *input, ProtobufCClosure closure,
                              void *closure_data)
{
    struct rpc_client *c = ((struct rpc_view *)service)->client;
    struct rpc_ctx *ctx = closure_data;
    const ProtobufCMethodDescriptor *method = &service->descriptor->methods[method_index];

    rpc_ctx_release(ctx);
    rpc_client_round_trip(c, service->descriptor, method, input, ctx);
    if (closure != NULL)
        closure(ctx->reply, closure_data);
}

struct rpc_client *rpc_client_open(const ProtobufCServiceDescriptor *descriptor,
                                   const char *urls)
{
    struct rpc_client *c = calloc(1, sizeof *c);
    char *list, *save = NULL;
    int rv;

    if (c == NULL)
        return NULL;
    pthread_mutex_init(&c->views_lock, NULL);
    if (descriptor != NULL) {
        c->views[0].base.descriptor = descriptor;
        c->views[0].base.invoke = rpc_client_invoke;
        c->views[0].client = c;
        c->nviews = 1;
    }
    if ((rv = nng_req0_open(&c->sock)) != 0) {
        pthread_mutex_destroy(&c->views_lock);
        free(c);
        return NULL;
    }
    /* No transport re-send: a state-changing call must not run twice behind our back. Every
     * option the transport's guarantees rest on is checked: a refused one fails the open. */
    if ((rv = nng_socket_set_ms(c->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE)) != 0 ||
        (rv = nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ, RPC_MAX_MESSAGE_BYTES)) != 0 ||
        /* Find a restarted replica quickly. */
        (rv = nng_socket_set_ms(c->sock, NNG_OPT_RECONNMINT, 50)) != 0 ||
        (rv = nng_socket_set_ms(c->sock, NNG_OPT_RECONNMAXT, 500)) != 0 ||
        (rv = nng_pipe_notify(c->sock, NNG_PIPE_EV_ADD_POST, rpc_client_pipe_event, c)) != 0 ||
        (rv = nng_pipe_notify(c->sock, NNG_PIPE_EV_REM_POST, rpc_client_pipe_event, c)) != 0) {
        log_error(NULL, "rpc client: socket option refused: %s", nng_strerror(rv));
        rpc_client_close(c);
        return NULL;
    }

    if ((list = strdup(urls)) == NULL) {
        rpc_client_close(c);
        return NULL;
    }
    for (char *url = strtok_r(list, ", ", &save); url != NULL; url = strtok_r(NULL, ", ", &save)) {
        /* Non-blocking: a replica that is down now is dialed again in the background. */
        if ((rv = nng_dial(c->sock, url, NULL, NNG_FLAG_NONBLOCK)) != 0) {
            log_error(NULL, "rpc client: dial %s: %s", url, nng_strerror(rv));
            free(list);
            rpc_client_close(c);
            return NULL;
        }
    }
    free(list);
    return c;
}

void rpc_client_close(struct rpc_client *client)
{
    if (client == NULL)
        return;
    nng_close(client->sock);
    pthread_mutex_destroy(&client->views_lock);
    free(client);
}

ProtobufCService *rpc_client_service(struct rpc_client *client)
{
    return &client->views[0].base;
}

ProtobufCService *rpc_client_service_for(struct rpc_client *client,
                                         const ProtobufCServiceDescriptor *descriptor)
{
    ProtobufCService *found = NULL;
    pthread_mutex_lock(&client->views_lock);
    for (int i = 0; i < client->nviews && found == NULL; i++)
        if (client->views[i].base.descriptor == descriptor)
            found = &client->views[i].base;
    if (found == NULL && client->nviews < RPC_MAX_SERVICES) {
        struct rpc_view *v = &client->views[client->nviews];
        v->base.descriptor = descriptor;
        v->base.invoke = rpc_client_invoke;
        v->client = client;
        found = &v->base;
        client->nviews++;
    }
    pthread_mutex_unlock(&client->views_lock);
    if (found == NULL)
        log_error(NULL, "rpc client: more than %d services on one client", RPC_MAX_SERVICES);
    return found;
}

int rpc_client_connected(struct rpc_client *client)
{
    return atomic_load(&client->connected);
}
