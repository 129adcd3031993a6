/* The gateway's internal surface: the request/response a route handler sees, the route
 * table, authentication and rate limiting.
 *
 * Threads (gateway/http_*.c; http_internal.h): a few libmicrohttpd event threads read
 * requests and write responses and never block. A request whose handler blocks (an RPC, a
 * database query) is handed to a pool of handler threads while its connection is suspended;
 * the event thread goes on with other connections. An asynchronous route (struct route's
 * start/finish) runs without any handler thread. Shared state (key cache, rate limits) is behind mutexes; the RPC
 * clients and the database pool are thread-safe. */
#ifndef GATEWAY_GATEWAY_H
#define GATEWAY_GATEWAY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "common.pb-c.h"

struct db_pool;
struct rpc_client;
struct auth_cache;
struct rate_limiter;
struct contact_reads;
struct rpc_ctx;
struct ssrf_policy;

struct gateway {
    struct db_pool *db;             /* the gateway's own schema: organizations, API keys */
    /* One RPC client per target process (its replicas, comma-separated in *_SVC_URL), and one
     * ProtobufCService view per proto service over it: the envelope names the service. */
    struct rpc_client *contacts_svc;
    struct rpc_client *webhook_svc;
    struct rpc_client *campaign_svc;
    struct rpc_client *dialer_svc;
    ProtobufCService *contacts;     /* od.Contacts, served by contacts-svc */
    ProtobufCService *audiences;    /* od.Audiences, served by contacts-svc */
    ProtobufCService *dnc;          /* od.Dnc, served by contacts-svc */
    ProtobufCService *imports;      /* od.Imports, served by contacts-svc */
    ProtobufCService *webhooks;     /* od.Webhooks, served by webhook-svc */
    ProtobufCService *agents;       /* od.Agents, served by campaign-svc */
    ProtobufCService *phone_numbers; /* od.PhoneNumbers, served by campaign-svc */
    ProtobufCService *campaigns;    /* od.Campaigns, served by campaign-svc */
    ProtobufCService *leads;        /* od.Leads, served by campaign-svc */
    ProtobufCService *credits;      /* od.Credits, served by campaign-svc */
    ProtobufCService *calls;        /* od.Calls, served by dialer-svc */
    ProtobufCService *carrier_events; /* od.CarrierEvents, served by dialer-svc */
    /* Carrier callbacks (/v1/carrier/...): the auth token that signs them, and the public
     * base URL the carrier was given (signatures cover the full URL). */
    const char *carrier_auth_token;
    const char *public_base_url;
    /* The outbound address policy (lib/ssrf.h, WEBHOOK_ALLOW_CIDRS as webhook-svc reads it):
     * an import's webhookUrl is checked at submit. */
    struct ssrf_policy *webhook_policy;
    struct contact_reads *contact_reads; /* GET /v1/contacts/:id, batched (contact_reads.h) */
    struct auth_cache *auth;
    struct rate_limiter *limits;
    size_t max_body_bytes;
    int rpc_timeout_ms;
};

enum api_scope { SCOPE_READ = 0, SCOPE_WRITE = 1 };
enum api_tier { TIER_STANDARD = 0, TIER_PROFESSIONAL = 1, TIER_ENTERPRISE = 2 };

#define ROUTE_MAX_PARAMS 4

/* What a handler gets. Everything here is borrowed and lives until the response is sent. */
struct api_request {
    struct gateway *gw;
    void *connection;               /* struct MHD_Connection, for query arguments */
    const char *method;
    const char *path;
    const char *request_id;
    const char *org_id;
    enum api_scope scope;
    const char *params[ROUTE_MAX_PARAMS]; /* ":id" segments, in pattern order */
    const char *body;
    size_t body_len;
};

/* What a handler fills in: a status and a JSON body (reference owned by the response), or,
 * for large responses written with json_writer, the finished text (malloc'd, owned by the
 * response; used when body is NULL). */
struct api_response {
    unsigned status;
    json_t *body;
    char *text;
    size_t text_len;
    const char *content_type; /* of text; NULL: application/json (a string constant) */
    char *location;           /* Location header (a redirect), malloc'd, owned by the response */
};

typedef void (*route_handler)(struct api_request *req, struct api_response *res);

/* The work of an asynchronous route in flight. http_dispatch.c sets `done`; the route's work
 * calls it exactly once, from any thread, after setting `result`. */
struct api_async {
    void (*done)(struct api_async *self);
    void *result; /* the route's own: finish() frees it */
};
/* start runs on an HTTP event thread and must not block. It either begins the work and returns
 * true (done() follows), or fills res and returns false (answered at once, e.g. a malformed
 * id). finish then runs on an event thread to turn async->result into res. */
typedef bool (*route_async_start)(struct api_request *req, struct api_response *res,
                                  struct api_async *async);
typedef void (*route_async_finish)(struct api_request *req, struct api_response *res,
                                   struct api_async *async);
struct route_async {
    route_async_start start;
    route_async_finish finish;
};

/* ---- errors.c ---- */
/* Sets res to {"statusCode", "message", "error"} (plus "details" when given; stolen). A 400
 * always carries details: [{field: "", message}] when none are given. */
void api_error(struct api_response *res, unsigned status, const char *message, json_t *details);
/* Maps a failed RPC to its HTTP error; INTERNAL hides the message behind the request id. */
void api_rpc_error(struct api_request *req, struct api_response *res, Od__Status status,
                   const char *message);
const char *api_status_text(unsigned status);
/* Parses the body as a JSON object, or answers 400 and returns NULL. Caller decrefs. */
json_t *api_parse_body(struct api_request *req, struct api_response *res);
/* Reads ?name= as an integer in [min, max], default when absent; -1 after answering 400. */
int api_query_int(struct api_request *req, struct api_response *res, const char *name,
                  int fallback, int min, int max, int *out);
const char *api_query_string(struct api_request *req, const char *name);
/* 0 when page and limit stay within the first API_LIST_MAX_DEPTH rows; else answers 400 and
 * returns -1 (every paged list checks it, so no OFFSET walks millions of rows). */
int api_list_depth_ok(struct api_response *res, int page, int limit);
/* The list parameters every list endpoint takes: ?page= (default 1), ?limit= (default 20,
 * at most 100; (page - 1) * limit below API_LIST_MAX_DEPTH) and ?search= (at most 100 bytes
 * of UTF-8; NULL when absent). -1 after answering 400. */
int api_list_params(struct api_request *req, struct api_response *res, int *page, int *limit,
                    const char **search);
/* Rows a page may start after: (page - 1) * limit must stay below it, else 400. */
#define API_LIST_MAX_DEPTH 10000

/* Runs a generated stub on `client` with the request's organization, request id and deadline;
 * the outcome lands in ctx (release it with rpc_ctx_release). */
#define API_CALL(req, ctx, client, stub, input)                                                \
    do {                                                                                       \
        rpc_ctx_init(&(ctx), (req)->org_id, (req)->request_id, (req)->gw->rpc_timeout_ms);    \
        stub((client), (input), NULL, &(ctx));                                                  \
    } while (0)

/* 0 when the route's :id has our shape for `prefix`; else answers 404 "<what> not found"
 * without a round trip (an id that cannot be ours) and returns -1. */
int api_check_id(struct api_request *req, struct api_response *res, const char *prefix,
                 const char *what);
/* The answer to a DELETE: {"id", "deleted": true}, or the call's error. Releases ctx. */
void api_deleted(struct api_request *req, struct api_response *res, struct rpc_ctx *ctx,
                 const char *id);
/* {"data", "total", "page", "limit"} (data stolen). */
void api_list_reply(struct api_response *res, json_t *data, int64_t total, int page, int limit);

/* ---- router.c ---- */
/* A route: method + pattern of literal segments and ":name" parameters. Precedence (router.c):
 * of the routes of the request's method whose pattern matches the path, the most specific
 * wins: at the first segment where one pattern is literal and the other a parameter, the
 * literal wins (POST /v1/contacts/bulk over POST /v1/contacts/:id), whatever the table order.
 * Two routes of one method with the same literals and parameters in the same places are
 * ambiguous and fail tests/unit/test_router_overlap.c. */
struct route {
    const char *method;
    const char *pattern; /* "/v1/contacts/:id" */
    route_handler handler; /* always set: runs on a handler thread and may block */
    /* Optional (NULL), for routes whose work waits on another thread anyway (a batched read):
     * taken instead of `handler` when the request can be started without blocking (the API
     * key is in the cache). */
    const struct route_async *async;
};
/* Finds the route for method+path, filling params. Returns it, or NULL with *path_known set
 * when the path exists under another method (405). */
const struct route *router_find(const char *method, const char *path, const char **params,
                                char *param_store, size_t store_size, bool *path_known,
                                char *allow, size_t allow_size);
/* router_find's handler (NULL when no route matched). */
/* True for a route of a public table (router.c): no API key is asked for, the handler
 * authenticates the caller itself (the carrier's X-Twilio-Signature, a call's outcome token).
 * Rate-limited per address, like callers without a key; req->org_id is "" and req->scope
 * SCOPE_READ. */
bool router_route_public(const struct route *route);
route_handler router_match(const char *method, const char *path, const char **params,
                           char *param_store, size_t store_size, bool *path_known,
                           char *allow, size_t allow_size);

/* Route tables, one per API area (routes_*.c). Each ends with a zeroed entry. */
extern const struct route contacts_routes[];
extern const struct route audiences_routes[];
extern const struct route dnc_routes[];
extern const struct route imports_routes[]; /* also POST /v1/contacts/import */
extern const struct route webhooks_routes[]; /* also /v1/webhook-deliveries */
extern const struct route agents_routes[]; /* also /v1/flows */
extern const struct route phone_numbers_routes[];
extern const struct route campaigns_routes[]; /* /v1/campaigns and OsmTalk /api/campaigns */
extern const struct route credits_routes[];
extern const struct route calls_routes[]; /* /v1/calls and GET /v1/campaigns/:id/calls */
/* Public tables (router_route_public): */
extern const struct route calls_public_routes[]; /* POST /v1/calls/:id/outcome */
extern const struct route carrier_routes[]; /* /v1/carrier/...: signed by the carrier */
extern const struct route openapi_routes[]; /* GET /v1/openapi.json */
/* Every table above, NULL-terminated (the OpenAPI coverage test walks them). */
const struct route *const *router_all_tables(void);

/* ---- routes_openapi.c ---- */
/* docs/openapi.json, embedded at build time (cmake/EmbedFileHelpers.cmake): NUL-terminated. */
extern const char openapi_json[];
extern const size_t openapi_json_len;

/* ---- auth.c ---- */
struct api_identity {
    char org_id[48];
    char key_id[48];
    enum api_scope scope;
    enum api_tier tier;
};
struct auth_cache *auth_cache_new(int ttl_seconds);
void auth_cache_free(struct auth_cache *cache);
/* 0 and identity filled for a valid key; 1 for an unknown key; -1 if the database failed. */
int auth_lookup(struct gateway *gw, const char *api_key, struct api_identity *identity);
/* Like auth_lookup, from the cache alone (never blocks): 0 and identity filled for a cached
 * valid key, 1 otherwise (unknown, or not cached: ask auth_lookup). */
int auth_lookup_cached(struct gateway *gw, const char *api_key, struct api_identity *identity);
/* From the cache alone (never blocks): 0 and identity filled for a cached valid key; 1 for a
 * key refused without a lookup (not our shape, or cached as unknown); 2 when only
 * auth_lookup can tell. */
int auth_lookup_peek(struct gateway *gw, const char *api_key, struct api_identity *identity);
/* The cache's valid and unknown entries (for tests). */
int auth_cache_counts(const struct auth_cache *cache, int *valid, int *unknown);
/* Operator commands (run against the gateway's database, outside the server). */
int auth_create_org(struct db_pool *db, const char *name, enum api_tier tier, char *org_id,
                    size_t org_size, char *api_key, size_t key_size);
int auth_create_key(struct db_pool *db, const char *org_id, enum api_scope scope, char *api_key,
                    size_t key_size);

/* ---- ratelimit.c ---- */
struct rate_decision {
    bool allowed;
    long limit;        /* requests per minute */
    long remaining;
    long reset_epoch;  /* Unix time (s) when the minute window resets */
    long retry_after;  /* seconds, when !allowed */
};
struct rate_limiter *rate_limiter_new(void);
void rate_limiter_free(struct rate_limiter *limiter);
/* Counts one request for `who` (an organization id, or "ip:..." for unauthenticated callers). */
void rate_limiter_take(struct rate_limiter *limiter, const char *who, enum api_tier tier,
                       int64_t now_ms, struct rate_decision *out);

/* The tier's Concurrent column for `who` (an organization): true, and counted, when it has
 * fewer requests in flight than its tier allows (standard 10, professional 50, enterprise
 * unlimited); false, counting nothing, at the cap (answer 429). Pair each true with
 * rate_limiter_leave. */
bool rate_limiter_enter(struct rate_limiter *limiter, const char *who, enum api_tier tier,
                        int64_t now_ms);
void rate_limiter_leave(struct rate_limiter *limiter, const char *who);

/* ---- http_server.c (the front door: http_internal.h) ---- */
struct http_server;
struct http_server_options {
    const char *bind_address;
    int port;
    int event_threads;   /* libmicrohttpd's threads: read requests, write responses */
    int handler_threads; /* run the handlers that block */
    int max_connections;
    int timeout_seconds; /* an idle connection is closed after this */
    size_t max_body_memory; /* request bodies held at once, all connections (0: no cap) */
    int max_connections_per_ip; /* 0: no limit */
    int request_deadline_seconds; /* headers and body must arrive within this (0: none) */
};
struct http_server *http_server_start(struct gateway *gw, const struct http_server_options *o);
void http_server_stop(struct http_server *server);

#endif
