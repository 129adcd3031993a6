/* webhook-svc's internal surface: signing (signing.c), outbound address policy (ssrf.c), the
 * retry schedule (schedule.c), the RPC services (endpoints.c: Webhooks, events.c: Events) and
 * the dispatcher that delivers due deliveries (deliveries.c). */
#ifndef WEBHOOK_SVC_WEBHOOKS_H
#define WEBHOOK_SVC_WEBHOOKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "migrate.h"
#include "webhooks.pb-c.h"

#define WEBHOOK_SECRET_PREFIX "whsec_"
#define WEBHOOK_SECRET_BYTES 24           /* random bytes behind "whsec_" (base64: 32 chars) */
#define WEBHOOK_SECRET_MAX 128
#define WEBHOOK_SIGNATURE_MAX 64          /* "v1," + 44 base64 characters + NUL */
#define WEBHOOK_URL_MAX 2048
#define WEBHOOK_DESCRIPTION_MAX 500
#define WEBHOOK_EVENTS_MAX 32
#define WEBHOOK_ENDPOINT_PREFIX "wh_"
#define WEBHOOK_DELIVERY_PREFIX "whd_"

/* ---- signing.c: Standard Webhooks ---- */

/* "whsec_" + base64 of WEBHOOK_SECRET_BYTES random bytes. Returns buf. */
char *webhook_secret_new(char *buf, size_t size);
/* Writes "v1,<base64 HMAC-SHA256(key, msg_id.timestamp.body)>", key being the base64-decoded
 * part of secret after "whsec_" (a secret without the prefix is decoded whole). 0 on success,
 * -1 for a secret that is not base64 or a buffer that is too small. */
int webhook_sign(const char *secret, const char *msg_id, int64_t timestamp, const char *body,
                 size_t body_len, char *out, size_t out_size);
/* The webhook-signature header value: the signature with secret, followed (space-separated)
 * by the one with previous_secret when that is not NULL. Caller frees; NULL on failure. */
char *webhook_signature_header(const char *secret, const char *previous_secret,
                               const char *msg_id, int64_t timestamp, const char *body,
                               size_t body_len);

/* ---- ssrf.c: which destination addresses outbound requests may reach ---- */

#define SSRF_ALLOW_MAX 32

struct ssrf_cidr {
    int family;            /* AF_INET or AF_INET6 */
    unsigned char addr[16];
    int prefix;
};

/* The operator's allow-list (WEBHOOK_ALLOW_CIDRS): addresses in it pass even when they are in
 * a refused range. */
struct ssrf_policy {
    int n;
    struct ssrf_cidr allow[SSRF_ALLOW_MAX];
};

/* Parses "127.0.0.0/8,::1/128" ("" allows nothing extra). 0, or -1 with err filled. */
int ssrf_policy_parse(const char *text, struct ssrf_policy *policy, char *err, size_t err_size);
/* The refused range an address falls in ("loopback", "private", "link-local", "multicast",
 * "unspecified", "reserved"), or NULL for a public address. IPv4-mapped IPv6 addresses are
 * judged as the IPv4 address they carry. */
const char *ssrf_address_class(const struct sockaddr *sa);
/* NULL when policy lets sa be reached; else a reason such as "10.1.2.3 is a private address"
 * written into buf. */
const char *ssrf_check_address(const struct ssrf_policy *policy, const struct sockaddr *sa,
                               char *buf, size_t size);
/* Checks a URL as given at registration: http or https, a host, and every address the host
 * resolves to allowed. 0, or -1 with the reason in err ("url resolves to 10.0.0.1, a private
 * address"). Blocks on DNS. */
int ssrf_check_url(const struct ssrf_policy *policy, const char *url, char *err,
                   size_t err_size);

/* ---- schedule.c: when a failed delivery is tried again ---- */

#define RETRY_SCHEDULE_MAX 32
#define RETRY_SCHEDULE_DEFAULT "0,5,300,1800,7200,18000,36000,36000"

/* delays[i] is the wait before attempt i+1 (delays[0]: the first attempt, normally 0). */
struct retry_schedule {
    int n;
    double delays[RETRY_SCHEDULE_MAX]; /* seconds */
};

/* Parses comma-separated seconds (decimals allowed). 0, or -1 with err filled. */
int retry_schedule_parse(const char *text, struct retry_schedule *s, char *err,
                         size_t err_size);
/* Seconds to wait after `attempts_done` failed attempts, or -1 when none is left. The delay
 * gets +-jitter_fraction of itself (uniform, from unit_random in [0,1)) and is at least
 * retry_after (a receiver's Retry-After; 0 when none). */
double retry_schedule_next(const struct retry_schedule *s, int attempts_done, double retry_after,
                           double jitter_fraction, double unit_random);
/* Parses a Retry-After value (delta-seconds or an HTTP date, against now_unix). -1 if neither. */
double retry_after_parse(const char *value, int64_t now_unix);

/* ---- the service ---- */

struct dispatcher;

/* Read by every thread, written only at start-up. */
struct webhook_app {
    struct ssrf_policy policy;
    struct retry_schedule schedule;
    int timeout_ms;             /* per delivery request */
    int lease_seconds;          /* how long a claimed delivery stays reserved */
    int disable_after_seconds;  /* an endpoint failing this long is disabled */
    struct dispatcher *dispatcher; /* may be NULL (no delivery in this process) */
};

extern Od__Webhooks_Service webhooks_service;
extern Od__Events_Service events_service;
extern const struct migration webhook_migrations[];

/* 1 for a known event type (or "*"). */
int webhook_event_type_known(const char *type);

/* Shared by the handler files. */
struct rpc_call;
typedef struct pg_result PGresult;
struct db;
void webhook_fail_sql(struct rpc_call *call, PGresult *res, const char *what);
int webhook_require_org(struct rpc_call *call);
/* The organization's default secret, created on first use. 0, or -1 (logged). */
int webhook_default_secret(struct db *db, const char *org_id, char *out, size_t size);

/* ---- deliveries.c: the dispatcher thread ---- */

struct dispatcher_options {
    const char *database_url;
    int max_in_flight;   /* concurrent HTTP requests */
    int claim_batch;     /* deliveries claimed per statement */
    int poll_ms;         /* how often the table is checked when nobody wakes us */
};

/* Starts the thread (it owns its database connection and curl handles). NULL on failure. */
struct dispatcher *dispatcher_start(const struct webhook_app *app,
                                    const struct dispatcher_options *options);
/* Something became due (called after a commit, from any thread): look now. */
void dispatcher_wake(struct dispatcher *d);
/* Stops claiming, gives in-flight requests a moment, hands back the leases of the rest. */
void dispatcher_stop(struct dispatcher *d);

#endif
