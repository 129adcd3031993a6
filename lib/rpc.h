/* gRPC-style RPC over nng REQ/REP with protobuf-c.
 *
 * Services are declared in proto/NAME.proto; protoc-c generates a service descriptor, typed
 * client stubs (od__contacts__get(...)) and a service struct of handler pointers. The
 * descriptor is the only method table: the server finds a method by name in it and calls the
 * handler through ProtobufCService.invoke; the client is a ProtobufCService whose invoke does
 * the round trip.
 *
 * Wire: every request is an od.RpcRequest envelope (service, method, org id, request id,
 * time remaining (timeout_ms: the server's deadline counts from its receipt) and wall-clock
 * deadline, packed input); every reply an od.RpcReply (status, message, packed output).
 *
 * Server threads: `workers` threads, each owning one nng_ctx and one database connection, each
 * looping receive -> handle -> send. A handler may block on PostgreSQL; it blocks only its own
 * thread, never nng's callback threads. One organization's calls hold at most tenant_share
 * workers (rpc_server_options): a call past that is parked with its nng_ctx in its
 * organization's queue (the worker opens a fresh ctx and goes on receiving), and the next
 * worker to finish one of that organization's calls runs it and replies on the parked ctx.
 *
 * Client: one raw REQ socket per target process, dialed to every replica's URL; nng spreads
 * requests over the connected replicas and a receiver thread matches answers to calls. Raw REQ
 * never re-sends a request (cooked REQ re-queues one whose connection closed, to another
 * replica), so a state-changing call runs at most once unless the caller retries it. With no
 * replica connected a call fails at once with UNAVAILABLE; a call whose replica's connection
 * closes, or that outlives its timeout, fails with UNAVAILABLE. */
#ifndef OD_RPC_H
#define OD_RPC_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.pb-c.h"

struct db;

#define RPC_MESSAGE_MAX 512
#define RPC_MAX_MESSAGE_BYTES (64 * 1024 * 1024)

/* ---- server ---- */

/* One call as a handler sees it: it arrives as the generated handler's closure_data. */
struct rpc_call {
    const char *service_name;
    const char *method;
    const char *org_id;     /* never NULL; "" only for calls that are not organization-scoped */
    const char *request_id; /* never NULL */
    int64_t deadline_unix_ms;
    /* this server's deadline for the call, on time_monotonic_ms()'s scale (receive time plus
     * the caller's time remaining); 0 when the caller sent none. The worker's database refuses
     * to commit after it (db_set_deadline). */
    int64_t deadline_ms;
    /* the input message as it arrived, packed (a handler that stores the request as it is
     * need not pack it again); valid until the handler returns */
    const uint8_t *input;
    size_t input_len;
    struct db *db;          /* this worker thread's own connection */
    void *app;              /* the service state given to rpc_server_start */
    /* Outcome, set through the closure (success) or rpc_fail (anything else). */
    Od__Status status;
    char message[RPC_MESSAGE_MAX];
    uint8_t *reply;
    size_t reply_len;
    bool replied;
};

/* Marks the call failed; the handler then calls its closure with NULL. */
void rpc_fail(struct rpc_call *call, Od__Status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define RPC_MAX_SERVICES 8

struct rpc_server_options {
    const char *listen_url;   /* e.g. tcp://0.0.0.0:7101 */
    int workers;              /* threads, each with its own nng_ctx and database connection */
    const char *database_url; /* each worker opens its own connection to it */
    /* The services this process serves on the one socket, NULL-terminated; a request is routed
     * by the service name in its envelope (e.g. contacts-svc serves od.Contacts and more). */
    ProtobufCService *services[RPC_MAX_SERVICES + 1];
    void *app;
    /* The most workers one organization's calls may hold at once (RPC_TENANT_SHARE); 0 means
     * half of them (at least 1), so one tenant's slow calls (deep lists) cannot take every
     * worker from the others. A call over its organization's share waits in that
     * organization's queue without holding a worker (its nng context is set aside) and runs
     * when one of the organization's calls ends; past tenant_queue waiting calls
     * (RPC_TENANT_QUEUE, 0: RPC_TENANT_QUEUE_DEFAULT) it is answered UNAVAILABLE at once
     * ("busy: ..."). A call that waited past its deadline is answered UNAVAILABLE without
     * running. Calls with no organization are not counted. */
    int tenant_share;
    int tenant_queue;
};
#define RPC_TENANT_QUEUE_DEFAULT 64

struct rpc_server;
/* NULL on failure (logged). Workers are running when it returns. */
struct rpc_server *rpc_server_start(const struct rpc_server_options *options);
/* Stops receiving, lets each worker finish its current call, joins them, frees everything. */
void rpc_server_stop(struct rpc_server *server);
/* Test-only: the reply-size cap (0: RPC_MAX_MESSAGE_BYTES, the client's receive limit). A reply
 * over the cap is answered INTERNAL "reply too large (N bytes)", logged. */
void rpc_server_set_reply_cap_for_test(size_t bytes);
/* Test-only: the next n reply allocations fail, as if out of memory (INTERNAL answers). */
void rpc_server_fail_allocs_for_test(int n);

/* ---- client ---- */

/* Per-call state a caller passes as the stub's closure_data. */
struct rpc_ctx {
    const char *org_id;
    const char *request_id;
    int timeout_ms;
    /* results */
    Od__Status status;
    char message[RPC_MESSAGE_MAX];
    ProtobufCMessage *reply; /* owned by the ctx; freed by rpc_ctx_release */
    /* the calling thread's arena allocator when the reply was unpacked into it (lib/arena.h);
     * .alloc is NULL otherwise */
    ProtobufCAllocator reply_allocator;
};

void rpc_ctx_init(struct rpc_ctx *ctx, const char *org_id, const char *request_id,
                  int timeout_ms);
void rpc_ctx_release(struct rpc_ctx *ctx);

struct rpc_client;
#define RPC_MAX_REPLICAS 32 /* URLs one client dials */
/* urls: one or more nng URLs separated by commas, one per replica (at most RPC_MAX_REPLICAS),
 * each dialed on a socket of its own; calls go round-robin over the connected ones, and a
 * replica's lost connection fails only the calls in flight to it. NULL on failure.
 * descriptor may be NULL for a client of a process that serves several proto services: then
 * reach each with rpc_client_service_for. One client per target process is the rule. */
struct rpc_client *rpc_client_open(const ProtobufCServiceDescriptor *descriptor,
                                   const char *urls);
void rpc_client_close(struct rpc_client *client);
/* The ProtobufCService to hand to generated stubs. Pass closure NULL and read ctx->reply:
 *   struct rpc_ctx ctx; rpc_ctx_init(&ctx, org, rid, 5000);
 *   od__contacts__get(rpc_client_service(c), &req, NULL, &ctx);
 *   if (ctx.status == OD__STATUS__OK) use((Od__Contact *)ctx.reply);
 *   rpc_ctx_release(&ctx);
 * Thread-safe: any number of threads may call through one client at once. */
ProtobufCService *rpc_client_service(struct rpc_client *client);
/* The ProtobufCService for `descriptor` over this client's socket (the first call for a
 * descriptor registers it; at most RPC_MAX_SERVICES per client). Thread-safe. */
ProtobufCService *rpc_client_service_for(struct rpc_client *client,
                                         const ProtobufCServiceDescriptor *descriptor);
/* With no replica connected, a call fails at once with UNAVAILABLE (the gateway's fast 503)
 * unless this is set: then it first waits up to ms (within its own timeout) for a replica to
 * connect. Services calling services set it, so a cold start or a restart of the callee is a
 * short wait, not a failed campaign start. Set it before the client is shared. */
void rpc_client_set_connect_wait(struct rpc_client *client, int ms);
/* Number of replicas currently connected. */
int rpc_client_connected(struct rpc_client *client);

const char *rpc_status_name(Od__Status status);

#endif
