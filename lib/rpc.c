#include "rpc.h"

#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>
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

/* The largest reply the server sends: the client's receive limit (RPC_MAX_MESSAGE_BYTES). A
 * larger one would be dropped by the client's socket and the caller would wait out its whole
 * deadline, so it is replaced by an INTERNAL answer. Lowered only by tests. */
static atomic_size_t rpc_reply_cap = RPC_MAX_MESSAGE_BYTES;
/* Test-only: the number of coming reply allocations to fail (as if out of memory). */
static atomic_int rpc_fail_allocs;

void rpc_server_set_reply_cap_for_test(size_t bytes)
{
    atomic_store(&rpc_reply_cap, bytes ? bytes : (size_t)RPC_MAX_MESSAGE_BYTES);
}

void rpc_server_fail_allocs_for_test(int n)
{
    atomic_store(&rpc_fail_allocs, n);
}

/* True when a test asked this allocation to fail. */
static bool rpc_alloc_fails(void)
{
    int n = atomic_load(&rpc_fail_allocs);
    while (n > 0)
        if (atomic_compare_exchange_weak(&rpc_fail_allocs, &n, n - 1))
            return true;
    return false;
}

/* The packed od.RpcReply {INTERNAL, "out of memory"}: sent when building the real reply fails.
 * Built at compile time, so answering needs no allocation beyond the message's own. */
static const uint8_t rpc_oom_reply[] = {
    0x08, OD__STATUS__INTERNAL, 0x12, 13,
    'o', 'u', 't', ' ', 'o', 'f', ' ', 'm', 'e', 'm', 'o', 'r', 'y'};

struct rpc_worker {
    struct rpc_server *server;
    pthread_t thread;
    nng_ctx ctx;
    nng_aio *aio;
    struct db *db;
    struct arena *arena; /* the current call's unpacked messages; reset after each call */
    nng_msg *spare;      /* allocated at start: the "out of memory" answer when none can be */
    bool started;
    /* True while the worker waits for a call (and only then may rpc_server_stop cancel its
     * aio: a cancelled send would lose the reply of a call that ran). */
    atomic_bool receiving;
    atomic_bool exited;
};

/* How long a worker waits before retrying nng_ctx_open after a failure. */
#define RPC_SERVER_RETRY_MS 100

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
    /* The per-organization share (rpc_server_options.tenant_share): under tenants_lock, one
     * slot per worker (a worker runs one call at a time, so nworkers slots always suffice). */
    int tenant_share;
    int tenant_queue; /* calls of one organization that may wait for its share */
    pthread_mutex_t tenants_lock;
    struct rpc_tenant *tenants;
    atomic_long shed; /* calls refused (queue full), for a sampled log line */
};

/* A call that arrived while its organization held its share: the message and the nng context
 * it must be answered on (the receiving worker took a fresh context and went on receiving, so
 * a waiting call holds no worker). Owned by its tenant's queue, then by the worker that pops
 * it, which answers on ctx and closes it. */
struct rpc_parked {
    nng_ctx ctx;
    nng_msg *msg;
    int64_t received_ms; /* time_monotonic_ms() when it arrived: its deadline counts from it */
    struct rpc_parked *next;
};

/* One organization's calls in progress (under tenants_lock). The slot is free when active is
 * 0 (then its queue is empty: a call waits only while its organization holds its share). */
struct rpc_tenant {
    char org_id[72];
    int active; /* workers running this organization's calls */
    int queued;
    struct rpc_parked *head, *tail;
};

enum rpc_admit { RPC_ADMIT_RUN, RPC_ADMIT_PARKED, RPC_ADMIT_REFUSED };

/* Decides whether w may run org_id's call in msg now. RUN: *slot is the organization's slot
 * (NULL for a call with no organization, which is not counted); the caller ends with
 * rpc_tenant_next. PARKED: msg and w's context now belong to the queue; w must open a new
 * context. REFUSED: the queue is full; answer UNAVAILABLE. */
static enum rpc_admit rpc_tenant_admit(struct rpc_worker *w, const char *org_id, nng_msg *msg,
                                       int64_t received_ms, struct rpc_tenant **slot)
{
    struct rpc_server *s = w->server;
    struct rpc_tenant *found = NULL, *free_slot = NULL;
    enum rpc_admit verdict = RPC_ADMIT_RUN;
    *slot = NULL;
    if (org_id == NULL || org_id[0] == '\0' || strlen(org_id) >= sizeof found->org_id)
        return RPC_ADMIT_RUN;
    pthread_mutex_lock(&s->tenants_lock);
    for (int i = 0; i < s->nworkers && found == NULL; i++) {
        if (s->tenants[i].active > 0 && strcmp(s->tenants[i].org_id, org_id) == 0)
            found = &s->tenants[i];
        else if (s->tenants[i].active == 0 && free_slot == NULL)
            free_slot = &s->tenants[i];
    }
    if (found == NULL && free_slot == NULL) {
        /* Cannot happen (at most nworkers - 1 slots are active while this worker admits);
         * run the call uncounted rather than refuse it. */
        pthread_mutex_unlock(&s->tenants_lock);
        return RPC_ADMIT_RUN;
    }
    if (found == NULL) {
        found = free_slot;
        snprintf(found->org_id, sizeof found->org_id, "%s", org_id);
    }
    if (found->active < s->tenant_share) {
        found->active++;
        *slot = found;
    } else if (found->queued < s->tenant_queue) {
        struct rpc_parked *p = malloc(sizeof *p);
        if (p == NULL) {
            verdict = RPC_ADMIT_REFUSED;
        } else {
            p->ctx = w->ctx;
            p->msg = msg;
            p->received_ms = received_ms;
            p->next = NULL;
            if (found->tail != NULL)
                found->tail->next = p;
            else
                found->head = p;
            found->tail = p;
            found->queued++;
            verdict = RPC_ADMIT_PARKED;
        }
    } else {
        verdict = RPC_ADMIT_REFUSED;
    }
    pthread_mutex_unlock(&s->tenants_lock);
    return verdict;
}

/* After a call of slot's organization: the next call of that organization waiting for its
 * share (the worker runs it, still counted), or NULL with the worker released. */
static struct rpc_parked *rpc_tenant_next(struct rpc_server *s, struct rpc_tenant *slot)
{
    struct rpc_parked *p;
    pthread_mutex_lock(&s->tenants_lock);
    if ((p = slot->head) != NULL) {
        slot->head = p->next;
        if (slot->head == NULL)
            slot->tail = NULL;
        slot->queued--;
    } else {
        slot->active--;
    }
    pthread_mutex_unlock(&s->tenants_lock);
    return p;
}

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
    call->reply = rpc_alloc_fails() ? NULL : malloc(call->reply_len ? call->reply_len : 1);
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
    if (call->deadline_ms != 0 && time_monotonic_ms() > call->deadline_ms) {
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
    /* A write must not commit after the caller gave up: db_commit fails past the deadline. */
    db_set_deadline(w->db, call->deadline_ms);
    service->invoke(service, (unsigned)(method - desc->methods), input, rpc_server_closure, call);
    db_set_deadline(w->db, 0);
    protobuf_c_message_free_unpacked(input, alloc);
    /* A handler that returns with a transaction open has a bug; never let it leak into the
     * next call on this connection. */
    db_rollback(w->db);
    if (!call->replied && call->status == OD__STATUS__OK)
        rpc_fail(call, OD__STATUS__INTERNAL, "%s sent no reply", req->method);
}

/* Turns a received message into the reply message, in place. A call not yet admitted (tenant
 * NULL on entry, admitted false) is first held to its organization's share: it may be parked
 * (RPC_ADMIT_PARKED: msg is no longer ours, nothing to send) or refused. *tenant is the slot to
 * end with rpc_tenant_next. */
static enum rpc_admit rpc_server_handle(struct rpc_worker *w, nng_msg **msgp, bool admitted,
                                        int64_t received_ms, struct rpc_tenant **tenant)
{
    nng_msg *msg = *msgp;
    Od__RpcRequest *req;
    Od__RpcReply reply = OD__RPC_REPLY__INIT;
    struct rpc_call call;
    ProtobufCAllocator alloc;
    int64_t started = time_monotonic_ms();
    enum rpc_admit verdict = RPC_ADMIT_RUN;

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
        /* This server's own deadline: its receive time plus the time the caller had left
         * (clocks of two hosts never compared); an old client sends only the wall clock. */
        if (req->timeout_ms > 0)
            call.deadline_ms = received_ms + req->timeout_ms;
        else if (req->deadline_unix_ms > 0)
            call.deadline_ms = received_ms + (req->deadline_unix_ms - time_now_ms());
        /* Calls that are not organization-scoped (org_id "": the dialers' Claim and
         * AttemptFinished, the relays) are the platform's own work, bounded by the number of
         * its callers, and are not held to a tenant's share. */
        if (!admitted && req->org_id[0] != '\0')
            verdict = rpc_tenant_admit(w, req->org_id, msg, received_ms, tenant);
        if (verdict == RPC_ADMIT_PARKED) {
            arena_leave();
            arena_reset(w->arena);
            return verdict;
        }
        if (verdict == RPC_ADMIT_REFUSED) {
            long n = atomic_fetch_add(&w->server->shed, 1) + 1;
            rpc_fail(&call, OD__STATUS__UNAVAILABLE,
                     "busy: this organization has too many calls waiting; retry shortly");
            if ((n & (n - 1)) == 0) /* 1, 2, 4, 8, ...: a sampled line, not one per call */
                log_warn(call.request_id, "rpc server: %ld call(s) refused so far: their "
                         "organization had %d running and %d waiting (org %s)", n,
                         w->server->tenant_share, w->server->tenant_queue, req->org_id);
        } else {
            rpc_server_dispatch(w, req, &call, &alloc);
        }
    }

    reply.status = call.status;
    reply.message = call.message;
    if (call.status == OD__STATUS__OK) {
        reply.body.data = call.reply;
        reply.body.len = call.reply_len;
    }
    if (call.status == OD__STATUS__INTERNAL ||
        (call.status == OD__STATUS__UNAVAILABLE && verdict != RPC_ADMIT_REFUSED))
        log_error(call.request_id, "%s %s: %s", call.method ? call.method : "?",
                  rpc_status_name(call.status), call.message);
    else if (log_enabled(LOG_DEBUG))
        log_debug(call.request_id, "%s %s in %lld ms", call.method ? call.method : "?",
                  rpc_status_name(call.status), (long long)(time_monotonic_ms() - started));

    size_t len = od__rpc_reply__get_packed_size(&reply);
    size_t cap = atomic_load(&rpc_reply_cap);
    if (len > cap) {
        /* The client would drop it and wait out its deadline: answer that instead. */
        log_error(call.request_id, "%s: reply too large (%zu bytes, the limit is %zu)",
                  call.method ? call.method : "?", len, cap);
        rpc_fail(&call, OD__STATUS__INTERNAL, "reply too large (%zu bytes)", len);
        reply.status = call.status;
        reply.message = call.message;
        reply.body.data = NULL;
        reply.body.len = 0;
        len = od__rpc_reply__get_packed_size(&reply);
    }
    nng_msg_clear(msg);
    if (!rpc_alloc_fails() && nng_msg_realloc(msg, len) == 0) {
        od__rpc_reply__pack(&reply, nng_msg_body(msg));
    } else if (w->spare != NULL) {
        /* Never an empty reply: answer from the spare, and try to allocate a new spare. */
        log_error(call.request_id, "%s: out of memory building a %zu-byte reply",
                  call.method ? call.method : "?", len);
        nng_msg_free(msg);
        *msgp = w->spare;
        w->spare = NULL;
        if (nng_msg_alloc(&w->spare, 0) != 0 ||
            nng_msg_append(w->spare, rpc_oom_reply, sizeof rpc_oom_reply) != 0) {
            if (w->spare != NULL)
                nng_msg_free(w->spare);
            w->spare = NULL;
        }
    } else {
        /* No spare left either: the message still holds at least the request's capacity. */
        log_error(call.request_id, "%s: out of memory building a %zu-byte reply (no spare)",
                  call.method ? call.method : "?", len);
        nng_msg_clear(msg);
        (void)nng_msg_append(msg, rpc_oom_reply, sizeof rpc_oom_reply);
    }
    free(call.reply);
    arena_leave();
    arena_reset(w->arena);
    return verdict;
}

/* Sends the reply in msg on ctx (ownership: nng's after a successful send, ours to free
 * after a failed one). */
static void rpc_server_send(struct rpc_worker *w, nng_ctx ctx, nng_msg *msg)
{
    nng_aio_set_msg(w->aio, msg);
    nng_aio_set_timeout(w->aio, NNG_DURATION_INFINITE);
    nng_ctx_send(ctx, w->aio);
    nng_aio_wait(w->aio);
    if (nng_aio_result(w->aio) != 0)
        nng_msg_free(msg);
}

static void *rpc_worker_main(void *arg)
{
    struct rpc_worker *w = arg;
    while (!atomic_load(&w->server->stopping)) {
        struct rpc_tenant *tenant = NULL;
        struct rpc_parked *next;
        nng_msg *msg;
        int rv;

        /* An idle worker waits without a timeout: rpc_server_stop cancels the receive. (It
         * polled every 100 ms before: with 8 workers a process, nng 1.5's expire threads then
         * spent ~13% of a core on an idle stack, measured with /proc task times.) */
        nng_aio_set_timeout(w->aio, NNG_DURATION_INFINITE);
        atomic_store(&w->receiving, true);
        if (atomic_load(&w->server->stopping)) {
            atomic_store(&w->receiving, false);
            break;
        }
        nng_ctx_recv(w->ctx, w->aio);
        nng_aio_wait(w->aio);
        atomic_store(&w->receiving, false);
        rv = nng_aio_result(w->aio);
        if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
            break;
        if (rv != 0)
            continue; /* NNG_ETIMEDOUT among them */
        msg = nng_aio_get_msg(w->aio);
        if (rpc_server_handle(w, &msg, false, time_monotonic_ms(), &tenant) ==
            RPC_ADMIT_PARKED) {
            /* The queue took our context with the call: go on receiving on a new one. */
            /* A failure (out of memory) must not silently lose this worker: log it and retry
             * until it works or the server stops. */
            while ((rv = nng_ctx_open(&w->ctx, w->server->sock)) != 0 &&
                   !atomic_load(&w->server->stopping)) {
                log_error(NULL, "rpc worker: nng_ctx_open: %s; retrying", nng_strerror(rv));
                nng_msleep(RPC_SERVER_RETRY_MS);
            }
            if (rv != 0)
                break;
            continue;
        }
        rpc_server_send(w, w->ctx, msg);
        /* Calls of the same organization that waited for its share run next, here. */
        while (tenant != NULL && (next = rpc_tenant_next(w->server, tenant)) != NULL) {
            rpc_server_handle(w, &next->msg, true, next->received_ms, &tenant);
            rpc_server_send(w, next->ctx, next->msg);
            nng_ctx_close(next->ctx);
            free(next);
        }
    }
    atomic_store(&w->exited, true);
    return NULL;
}

void rpc_server_stop(struct rpc_server *server)
{
    if (server == NULL)
        return;
    /* Every worker finishes the call it is in (its reply is sent); a worker waiting for a
     * call has its receive cancelled. A cancel can land just before the worker starts its
     * receive (and then does nothing), so it is repeated until the worker has returned. Only
     * then is the socket closed. */
    atomic_store(&server->stopping, true);
    for (int i = 0; i < server->nworkers; i++) {
        struct rpc_worker *w = &server->workers[i];
        if (!w->started)
            continue;
        while (!atomic_load(&w->exited)) {
            if (atomic_load(&w->receiving))
                nng_aio_cancel(w->aio);
            nng_msleep(2);
        }
        pthread_join(w->thread, NULL);
    }
    nng_close(server->sock);
    for (int i = 0; i < server->nworkers; i++) {
        struct rpc_worker *w = &server->workers[i];
        if (w->aio)
            nng_aio_free(w->aio);
        if (w->spare)
            nng_msg_free(w->spare);
        if (w->arena)
            arena_destroy(w->arena);
        db_close(w->db);
    }
    free(server->workers);
    free(server->tenants);
    pthread_mutex_destroy(&server->tenants_lock);
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
    s->tenant_share = o->tenant_share > 0 ? o->tenant_share
                      : o->workers >= 2 ? o->workers / 2 : 1;
    s->tenant_queue = o->tenant_queue > 0 ? o->tenant_queue : RPC_TENANT_QUEUE_DEFAULT;
    pthread_mutex_init(&s->tenants_lock, NULL);
    atomic_init(&s->shed, 0);
    s->workers = calloc((size_t)o->workers, sizeof *s->workers);
    s->tenants = calloc((size_t)o->workers, sizeof *s->tenants);
    if (s->workers == NULL || s->tenants == NULL || (rv = nng_rep0_open(&s->sock)) != 0) {
        free(s->workers);
        free(s->tenants);
        pthread_mutex_destroy(&s->tenants_lock);
        free(s);
        return NULL;
    }
    nng_socket_set_size(s->sock, NNG_OPT_RECVMAXSZ, RPC_MAX_MESSAGE_BYTES);
    for (int i = 0; i < o->workers; i++) {
        struct rpc_worker *w = &s->workers[i];
        w->server = s;
        atomic_init(&w->receiving, false);
        atomic_init(&w->exited, false);
        w->db = db_open(o->database_url, i == 0 ? 30000 : 5000);
        /* The worker's arena and its spare "out of memory" answer are allocated here, so a
         * failure stops the start-up (logged) rather than losing a worker thread silently. */
        if (w->db == NULL || nng_ctx_open(&w->ctx, s->sock) != 0 ||
            nng_aio_alloc(&w->aio, NULL, NULL) != 0 || (w->arena = arena_new()) == NULL ||
            nng_msg_alloc(&w->spare, 0) != 0 ||
            nng_msg_append(w->spare, rpc_oom_reply, sizeof rpc_oom_reply) != 0) {
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
        log_info(NULL, "%s listening on %s with %d workers (at most %d per organization)",
                 s->services[i]->descriptor->name, o->listen_url, o->workers, s->tenant_share);
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

struct rpc_link;

#define RPC_LINK_PIPES 4 /* one dialer per link: one pipe at a time, with room to spare */

/* A call waiting for its answer (rpc_client.waiters, under its lock). */
struct rpc_waiter {
    uint32_t id;     /* the request id in the message header (high bit set, as REQ does) */
    struct rpc_link *link; /* the replica connection the request went out on */
    nng_msg *reply;  /* set by the receiver thread */
    bool answered;
    bool pipe_lost;  /* that replica's connection closed meanwhile: the answer may never come */
    pthread_cond_t cond;
    struct rpc_waiter *prev, *next;
};

/* One replica: a raw REQ socket of its own that dials that replica's URL alone, and the
 * thread that reads its answers. One socket per replica is how the client knows which calls
 * a closed connection concerns: only those fail, while calls in flight to the other replicas
 * go on (a rolling restart of one replica no longer fails every replica's calls). */
struct rpc_link {
    struct rpc_client *client;
    nng_socket sock;
    bool sock_open;
    atomic_int connected; /* pipes up (0 or 1: one dialer) */
    /* The pipes that reached ADD_POST (under the client's lock). nng 1.5 also reports
     * REM_POST for a pipe that failed to start after ADD_PRE (a peer of the wrong protocol,
     * a handshake cut short): only these may be counted down. */
    uint32_t live_pipes[RPC_LINK_PIPES];
    int nlive;
    /* The receiver's own aio: rpc_client_close stops it (nng_aio_stop cancels the receive and
     * waits) and joins the thread BEFORE nng_close. nng 1.5.2 does not survive closing a
     * socket under a blocked nng_recvmsg: one clean-clone run hung in the join, another
     * panicked ("pthread_mutex_lock: Invalid argument") on an nng thread. */
    nng_aio *recv_aio;
    pthread_t receiver;
    bool receiver_started;
};

/* The client speaks raw REQ (nng_req0_open_raw) and matches answers to calls itself. nng's
 * cooked REQ puts a request whose pipe closed back on its send queue, whatever the resend time,
 * and hands it to another replica at once, or to the next one that connects (a restarted
 * one): a create would run twice. Cancelling such calls from the pipe-close callback left a
 * window (the callback runs on nng's reaper, after the request was re-queued), which a loaded
 * test_no_resend_after_replica_dies went through. Raw REQ never sends a message twice: a
 * request is written to one pipe or to none, so at-most-once holds by construction. A call
 * whose replica's connection closes is failed at once (UNAVAILABLE, "may or may not have
 * run") rather than left to its deadline. Calls go round-robin over the replicas that are
 * connected. */
struct rpc_client {
    atomic_int connected; /* replicas connected, over every link */
    atomic_uint next_id;
    atomic_uint next_link;
    int connect_wait_ms; /* how long a call waits for a first replica (0: fail at once) */
    pthread_mutex_t lock;
    struct rpc_waiter *waiters;
    pthread_condattr_t cond_attr; /* each waiter's condition variable: CLOCK_MONOTONIC */
    atomic_bool closing;
    int nlinks;
    struct rpc_link links[RPC_MAX_REPLICAS];
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
    struct rpc_link *l = arg;
    struct rpc_client *c = l->client;
    uint32_t id = nng_pipe_id(pipe);
    if (event == NNG_PIPE_EV_ADD_POST) {
        pthread_mutex_lock(&c->lock);
        bool counted = l->nlive < RPC_LINK_PIPES;
        if (counted)
            l->live_pipes[l->nlive++] = id;
        pthread_mutex_unlock(&c->lock);
        if (!counted) { /* cannot happen with one dialer; never count what cannot be undone */
            nng_pipe_close(pipe);
            return;
        }
        atomic_fetch_add(&l->connected, 1);
        atomic_fetch_add(&c->connected, 1);
    } else if (event == NNG_PIPE_EV_REM_POST) {
        bool was_live = false;
        pthread_mutex_lock(&c->lock);
        for (int i = 0; i < l->nlive && !was_live; i++)
            if (l->live_pipes[i] == id) {
                l->live_pipes[i] = l->live_pipes[--l->nlive];
                was_live = true;
            }
        /* a pipe that never started carried no request: nothing to count down or fail */
        if (was_live)
            for (struct rpc_waiter *w = c->waiters; w != NULL; w = w->next)
                if (w->link == l) {
                    w->pipe_lost = true;
                    pthread_cond_signal(&w->cond);
                }
        pthread_mutex_unlock(&c->lock);
        if (was_live) {
            atomic_fetch_sub(&l->connected, 1);
            atomic_fetch_sub(&c->connected, 1);
        }
    }
}

static void rpc_waiter_add(struct rpc_client *c, struct rpc_waiter *w)
{
    pthread_mutex_lock(&c->lock);
    w->prev = NULL;
    w->next = c->waiters;
    if (c->waiters != NULL)
        c->waiters->prev = w;
    c->waiters = w;
    pthread_mutex_unlock(&c->lock);
}

/* Under c->lock. After this the receiver and the pipe callback never see w. */
static void rpc_waiter_unlink(struct rpc_client *c, struct rpc_waiter *w)
{
    if (w->prev != NULL)
        w->prev->next = w->next;
    else
        c->waiters = w->next;
    if (w->next != NULL)
        w->next->prev = w->prev;
}

/* Reads every answer of one replica and hands it to the call that waits for it; an answer
 * nobody waits for (its caller gave up) is dropped. Ends when the client closes. */
static void *rpc_client_receiver(void *arg)
{
    struct rpc_link *l = arg;
    struct rpc_client *c = l->client;
    while (!atomic_load(&c->closing)) {
        nng_msg *msg = NULL;
        uint32_t id;
        nng_recv_aio(l->sock, l->recv_aio);
        nng_aio_wait(l->recv_aio);
        int rv = nng_aio_result(l->recv_aio);
        if (rv == 0)
            msg = nng_aio_get_msg(l->recv_aio);
        if (rv == NNG_ECLOSED || atomic_load(&c->closing)) {
            if (msg != NULL)
                nng_msg_free(msg);
            break;
        }
        if (rv != 0) {
            if (rv != NNG_ETIMEDOUT)
                nng_msleep(1); /* out of memory, say: do not spin */
            continue;
        }
        if (nng_msg_header_len(msg) != sizeof id || nng_msg_header_trim_u32(msg, &id) != 0) {
            nng_msg_free(msg); /* not an answer to a request of ours */
            continue;
        }
        pthread_mutex_lock(&c->lock);
        struct rpc_waiter *w = c->waiters;
        while (w != NULL && w->id != id)
            w = w->next;
        if (w != NULL && !w->answered) {
            w->reply = msg;
            w->answered = true;
            msg = NULL;
            pthread_cond_signal(&w->cond);
        }
        pthread_mutex_unlock(&c->lock);
        if (msg != NULL)
            nng_msg_free(msg);
    }
    return NULL;
}

/* The next connected replica, round-robin; NULL when none is. */
static struct rpc_link *rpc_client_pick(struct rpc_client *c)
{
    unsigned start = atomic_fetch_add(&c->next_link, 1);
    for (int i = 0; i < c->nlinks; i++) {
        struct rpc_link *l = &c->links[(start + (unsigned)i) % (unsigned)c->nlinks];
        if (atomic_load(&l->connected) > 0)
            return l;
    }
    return NULL;
}

/* Builds the envelope for one call directly in an nng message. */
static nng_msg *rpc_client_encode(const ProtobufCServiceDescriptor *service,
                                  const ProtobufCMethodDescriptor *method,
                                  const ProtobufCMessage *input, const struct rpc_ctx *ctx,
                                  int64_t give_up)
{
    int64_t left = give_up - time_monotonic_ms();
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
    /* Time remaining is what the server goes by (its own clock from when it receives the
     * call); the wall-clock deadline stays for older servers. */
    req.timeout_ms = left > 0 ? left : 1;
    req.deadline_unix_ms = time_now_ms() + req.timeout_ms;
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
    nng_aio *aio = NULL;
    nng_msg *msg;
    int64_t give_up = time_monotonic_ms() + ctx->timeout_ms;
    struct rpc_waiter w;
    int rv;

    if (atomic_load(&c->connected) <= 0) {
        /* A service calling a service may wait a little for a replica that is starting or
         * restarting (the pipe comes back within RECONNMAXT); the gateway answers 503 at once. */
        int64_t wait_until = time_monotonic_ms() +
                             (c->connect_wait_ms < ctx->timeout_ms ? c->connect_wait_ms
                                                                   : ctx->timeout_ms);
        while (atomic_load(&c->connected) <= 0 && time_monotonic_ms() < wait_until)
            nng_msleep(10);
        if (atomic_load(&c->connected) <= 0) {
            rpc_ctx_fail(ctx, OD__STATUS__UNAVAILABLE, "%s service is unavailable", name);
            return;
        }
    }
    struct rpc_link *link = rpc_client_pick(c);
    if (link == NULL) { /* the last one went away since the check above */
        rpc_ctx_fail(ctx, OD__STATUS__UNAVAILABLE, "%s service is unavailable", name);
        return;
    }
    msg = rpc_client_encode(service, method, input, ctx, give_up);
    if (msg == NULL) {
        rpc_ctx_fail(ctx, OD__STATUS__INTERNAL, "out of memory");
        return;
    }
    memset(&w, 0, sizeof w);
    w.id = (atomic_fetch_add(&c->next_id, 1) & 0x7fffffffu) | 0x80000000u;
    w.link = link;
    if (nng_msg_header_append_u32(msg, w.id) != 0 || nng_aio_alloc(&aio, NULL, NULL) != 0) {
        nng_msg_free(msg);
        rpc_ctx_fail(ctx, OD__STATUS__INTERNAL, "%s: out of memory", name);
        return;
    }
    pthread_cond_init(&w.cond, &c->cond_attr);
    rpc_waiter_add(c, &w); /* before the send: the answer can beat the send's completion */

    /* Handing the request to a connected replica takes microseconds. If it takes longer, no
     * replica is really there (one just died and nng has not told us yet): give up early
     * rather than wait out the whole deadline. The socket has no send buffer (SENDBUF 0), so
     * a request that was not taken by a pipe when this fails is never sent later. */
    nng_aio_set_timeout(aio, ctx->timeout_ms < RPC_SEND_TIMEOUT_MS ? ctx->timeout_ms
                                                                   : RPC_SEND_TIMEOUT_MS);
    nng_aio_set_msg(aio, msg);
    nng_send_aio(link->sock, aio);
    nng_aio_wait(aio);
    rv = nng_aio_result(aio);
    pthread_mutex_lock(&c->lock);
    if (rv != 0) {
        rpc_waiter_unlink(c, &w);
        pthread_mutex_unlock(&c->lock);
        nng_msg_free(msg); /* a failed send leaves the message with us */
        rpc_ctx_fail(ctx, OD__STATUS__UNAVAILABLE, "%s service is unavailable (%s)", name,
                     nng_strerror(rv));
        goto out;
    }
    struct timespec until = {(time_t)(give_up / 1000), (long)(give_up % 1000) * 1000000L};
    while (!w.answered && !w.pipe_lost &&
           pthread_cond_timedwait(&w.cond, &c->lock, &until) == 0)
        ;
    rpc_waiter_unlink(c, &w);
    pthread_mutex_unlock(&c->lock);
    if (w.answered) {
        rpc_client_decode(method, w.reply, ctx);
        nng_msg_free(w.reply);
    } else if (w.pipe_lost) {
        rpc_ctx_fail(ctx, OD__STATUS__UNAVAILABLE,
                     "%s: the replica's connection closed while the call was in flight; it "
                     "may or may not have run", name);
    } else {
        rpc_ctx_fail(ctx, OD__STATUS__UNAVAILABLE, "%s service did not answer in time", name);
    }
out:
    pthread_cond_destroy(&w.cond);
    nng_aio_free(aio);
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

/* Opens link's socket with the options the transport's guarantees rest on, starts its
 * receiver and dials url in the background. 0 or an nng error. */
static int rpc_link_open(struct rpc_client *c, struct rpc_link *l, const char *url)
{
    int rv;
    l->client = c;
    if ((rv = nng_req0_open_raw(&l->sock)) != 0)
        return rv;
    l->sock_open = true;
    /* No transport re-send (raw REQ has none) and no send buffer: a request not taken by the
     * pipe when its send gives up is dropped, never sent later. Every option is checked: a
     * refused one fails the open. */
    if ((rv = nng_socket_set_int(l->sock, NNG_OPT_SENDBUF, 0)) != 0 ||
        (rv = nng_socket_set_size(l->sock, NNG_OPT_RECVMAXSZ, RPC_MAX_MESSAGE_BYTES)) != 0 ||
        /* Find a restarted replica quickly. */
        (rv = nng_socket_set_ms(l->sock, NNG_OPT_RECONNMINT, 50)) != 0 ||
        (rv = nng_socket_set_ms(l->sock, NNG_OPT_RECONNMAXT, 500)) != 0 ||
        (rv = nng_pipe_notify(l->sock, NNG_PIPE_EV_ADD_POST, rpc_client_pipe_event, l)) != 0 ||
        (rv = nng_pipe_notify(l->sock, NNG_PIPE_EV_REM_POST, rpc_client_pipe_event, l)) != 0 ||
        (rv = nng_aio_alloc(&l->recv_aio, NULL, NULL)) != 0)
        return rv;
    /* a safety net only: a stop wakes the receiver at once */
    nng_aio_set_timeout(l->recv_aio, 1000);
    if (pthread_create(&l->receiver, NULL, rpc_client_receiver, l) != 0)
        return NNG_ENOMEM;
    l->receiver_started = true;
    /* Non-blocking: a replica that is down now is dialed again in the background. */
    return nng_dial(l->sock, url, NULL, NNG_FLAG_NONBLOCK);
}

/* Under client->closing: stops the receiver, joins it, and only then closes the socket
 * (nothing of ours is inside nng any more). */
static void rpc_link_close(struct rpc_link *l)
{
    if (l->recv_aio != NULL)
        nng_aio_stop(l->recv_aio); /* cancels the receive and waits for it */
    if (l->receiver_started)
        pthread_join(l->receiver, NULL);
    nng_aio_free(l->recv_aio);
    if (l->sock_open)
        nng_close(l->sock);
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
    pthread_mutex_init(&c->lock, NULL);
    /* the waits count deadlines on the monotonic clock: checked once here, not per call */
    pthread_condattr_init(&c->cond_attr);
    if (pthread_condattr_setclock(&c->cond_attr, CLOCK_MONOTONIC) != 0) {
        log_error(NULL, "rpc client: no CLOCK_MONOTONIC condition variables");
        rpc_client_close(c);
        return NULL;
    }
    if (descriptor != NULL) {
        c->views[0].base.descriptor = descriptor;
        c->views[0].base.invoke = rpc_client_invoke;
        c->views[0].client = c;
        c->nviews = 1;
    }
    atomic_store(&c->next_id, nng_random());
    atomic_store(&c->next_link, nng_random()); /* clients do not all start on replica 1 */

    if ((list = strdup(urls)) == NULL) {
        rpc_client_close(c);
        return NULL;
    }
    for (char *url = strtok_r(list, ", ", &save); url != NULL; url = strtok_r(NULL, ", ", &save)) {
        if (c->nlinks == RPC_MAX_REPLICAS) {
            log_error(NULL, "rpc client: more than %d replicas in %s", RPC_MAX_REPLICAS, urls);
            free(list);
            rpc_client_close(c);
            return NULL;
        }
        if ((rv = rpc_link_open(c, &c->links[c->nlinks++], url)) != 0) {
            log_error(NULL, "rpc client: %s: %s", url, nng_strerror(rv));
            free(list);
            rpc_client_close(c);
            return NULL;
        }
    }
    free(list);
    if (c->nlinks == 0) {
        log_error(NULL, "rpc client: no URL in \"%s\"", urls);
        rpc_client_close(c);
        return NULL;
    }
    return c;
}

void rpc_client_close(struct rpc_client *client)
{
    if (client == NULL)
        return;
    atomic_store(&client->closing, true);
    for (int i = 0; i < client->nlinks; i++)
        rpc_link_close(&client->links[i]);
    pthread_condattr_destroy(&client->cond_attr);
    pthread_mutex_destroy(&client->views_lock);
    pthread_mutex_destroy(&client->lock);
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

void rpc_client_set_connect_wait(struct rpc_client *client, int ms)
{
    client->connect_wait_ms = ms < 0 ? 0 : ms;
}

int rpc_client_connected(struct rpc_client *client)
{
    return atomic_load(&client->connected);
}
