/* The HTTP front door's internal surface: what gateway/http_*.c share, and nothing outside
 * them includes. The public surface is http_server_start/http_server_stop (gateway.h).
 *
 * One file per concern:
 *   http_server.c    libmicrohttpd: start and stop, its callbacks (the request's stages),
 *                    connection accounting and the request deadline
 *   http_body.c      request bodies: buffering, the size limit, the bodies' memory cap, mmap'd
 *                    large bodies
 *   http_auth.c      authentication: the API key from the headers before any body byte, public
 *                    routes (their handler authenticates), the key lookup on a handler thread
 *   http_limits.c    rate limits (per organization, per address, key lookups per address) and
 *                    per-organization concurrency
 *   http_dispatch.c  routing, the scope rule, the handler pool, suspend/resume and the
 *                    asynchronous routes' state machine
 *   http_respond.c   building a response with the standard headers, and queueing it
 *   http_log.c       the access-log line and the sampling of refused requests
 *   http_framing.c   ambiguous framing refused from the headers (request smuggling, unknown
 *                    Transfer-Encoding, HTTP/1.1 without Host)
 * A new kind of route (the carrier's signed callbacks, a campaign area) is a table in
 * router.c; none of these files changes.
 *
 * libmicrohttpd calls http_access (http_server.c) several times per request: first with the
 * headers (we set up per-request state and authenticate, answering only if the key or the
 * declared body is refused), then once per body chunk, then once with no data, when the
 * request is handled. Answering on a later call is what keeps connections alive (see
 * shared/BASELINES.md).
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
 * flight, which end within the RPC deadline.
 *
 * Ownership: struct http_exchange is owned by libmicrohttpd's con_cls slot and freed in
 * http_completed. While the connection is suspended, the thread doing its work owns it; that
 * thread's last touch is the resume. A response built into ex->response is queued (and
 * destroyed) by http_queue on the event thread, or destroyed in http_completed. */
#ifndef GATEWAY_HTTP_INTERNAL_H
#define GATEWAY_HTTP_INTERNAL_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway.h"

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

/* Per-request state (ownership: see the top of this file). */
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

/* ---- http_respond.c ---- */
/* Builds ex's response from res, with the headers every response carries. Leaves
 * ex->response NULL when out of memory (the connection is then closed). res->text and
 * res->location pass to the response; res->body stays the caller's. Any thread. */
void http_build(struct http_exchange *ex, struct api_response *res,
                const struct rate_decision *rate, const char *org_id, const char *allow);
/* Queues ex's response and writes the access-log line. Event thread only. */
enum MHD_Result http_queue(struct MHD_Connection *conn, struct http_exchange *ex,
                           const char *method, const char *url);
/* Answers at once, on the event thread. Releases res. */
enum MHD_Result http_send(struct MHD_Connection *conn, struct http_exchange *ex,
                          const char *method, const char *url, struct api_response *res,
                          const struct rate_decision *rate, const char *org_id,
                          const char *allow);
/* Answers 503 with Connection: close (the server is stopping). Event thread only. */
enum MHD_Result http_send_stopping(struct http_exchange *ex, const char *method,
                                   const char *url);

/* ---- http_log.c ---- */
/* Writes ex's access-log line (status, time, bytes, organization), unless it is a refused
 * request over the sampling rate. Any thread. */
void http_log_access(const struct http_exchange *ex, const char *method, const char *url);

/* http_framing.c: true when the request's headers frame it ambiguously (differing
 * Content-Lengths, Content-Length with Transfer-Encoding, a Transfer-Encoding other than
 * chunked, HTTP/1.1 without Host); then it has been answered (400 or 501, connection closed)
 * and *rc is what to return to libmicrohttpd. Called with the headers, before any body. */
bool http_framing_refused(struct http_exchange *ex, const char *version, enum MHD_Result *rc);

/* ---- http_body.c ---- */
/* One chunk of body from libmicrohttpd (event thread): appended; or, past the size limit or
 * the bodies' cap, the body is dropped, the rest read and discarded, and the request marked
 * for its 413 or 503. Consumes *size. MHD_NO when out of memory (the connection is closed). */
enum MHD_Result http_body_append(struct http_server *s, struct http_exchange *ex,
                                 const char *data, size_t *size);
/* Frees ex's body and gives back what it counted. */
void http_body_release(struct http_server *s, struct http_exchange *ex);
/* The caller may send its body: reserve what it declared under the bodies' cap (503 now,
 * before reading any of it, past the cap). Event thread. */
enum MHD_Result http_admit(struct http_server *s, struct http_exchange *ex);
/* The 413 and the 503 (bodies' cap reached) answers, in res. */
void http_too_large(struct gateway *gw, struct api_response *res);
void http_over_memory(struct api_response *res);

/* ---- http_auth.c ---- */
/* The API key from "x-api-key: sk_..." or "Authorization: Bearer sk_..."; NULL without one. */
const char *http_api_key(struct MHD_Connection *conn);
/* The first call, with the headers, before any body byte: admits the caller, answers it, or
 * hands the key lookup to a handler thread (stage HTTP_AUTHENTICATING). Event thread. */
enum MHD_Result http_begin(struct http_server *s, struct http_exchange *ex);
/* On a handler thread: looks the key up for HTTP_AUTHENTICATING (ex->auth_result). */
void http_auth_lookup(struct gateway *gw, struct http_exchange *ex);
/* Back from the key lookup (HTTP_AUTH_DONE), still before the body. Event thread. */
enum MHD_Result http_auth_done(struct http_server *s, struct http_exchange *ex);
/* On a handler thread, once the request is in: who the caller is, counted against its rate
 * limit. True when it may go on; otherwise res holds the 401/429/503. rate is always filled.
 * For a public route, identity is empty with SCOPE_READ (the handler authenticates). */
bool http_auth_request(struct gateway *gw, struct http_exchange *ex, const struct route *route,
                       struct api_identity *identity, struct rate_decision *rate,
                       struct api_response *res);

/* ---- http_limits.c ---- */
/* "ip:<address>" of the connection's peer ("ip:unknown" when it cannot be told). */
void http_client_ip(struct MHD_Connection *conn, char *out, size_t size);
/* Counts the request against its key's limit, or, without a known key (identity NULL),
 * against the caller's address (which also slows key guessing). Answers 429 in res and
 * returns false when over the limit. Never blocks. */
bool http_rate_take(struct gateway *gw, struct MHD_Connection *conn,
                    const struct api_identity *identity, struct rate_decision *rate,
                    struct api_response *res);
/* A public route's request, counted per address at the enterprise tier (see http_limits.c).
 * Answers 429 in res and returns false when over the limit. */
bool http_rate_take_public(struct gateway *gw, struct MHD_Connection *conn,
                           struct rate_decision *rate, struct api_response *res);
/* A key that must be looked up in the database, counted per address before the lookup.
 * Answers 429 in res and returns false when over the limit. */
bool http_rate_take_lookup(struct gateway *gw, struct MHD_Connection *conn,
                           struct rate_decision *rate, struct api_response *res);
/* The tier's concurrency cap for the caller's organization: true, and counted, under it;
 * false with the 429 in res at it. Pair each true with http_concurrency_leave. */
bool http_concurrency_enter(struct gateway *gw, const struct api_identity *identity,
                            struct api_response *res);
void http_concurrency_leave(struct gateway *gw, const struct api_identity *identity);

/* ---- http_dispatch.c ---- */
/* Suspends the connection and queues ex for a handler thread (its stage says what for:
 * HTTP_AUTHENTICATING, or the request itself); answers 503 once the server is stopping. Event
 * thread. */
enum MHD_Result http_hand_off(struct http_server *s, struct http_exchange *ex);
/* The whole request is in: starts its route's asynchronous form when it can, else hands it to
 * a handler thread. Event thread. */
enum MHD_Result http_dispatch(struct http_server *s, struct http_exchange *ex);
/* Back on the event thread after an asynchronous route's work: builds the response (once). */
void http_finish_async(struct http_exchange *ex);
/* A handler thread's loop (pthread_create's start routine; arg is the server). */
void *http_handler_thread(void *arg);

#endif
