/* Rate limits and concurrency, on top of ratelimit.c: which bucket a request is counted in
 * (its organization, its address, its address's key lookups, a public route's address), and
 * the tier's concurrency cap per organization. The per-address connection limit is
 * libmicrohttpd's (http_server.c). None of these block. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "http_internal.h"
#include "timefmt.h"

/* Requests per address whose key is not in the cache and must be looked up in the database:
 * counted before the lookup, so a stream of random keys costs one address its lookups, not
 * the database its index scans (issue 13). The professional tier: 500 a minute, 50 a second. */
#define HTTP_LOOKUP_TIER TIER_PROFESSIONAL

void http_client_ip(struct MHD_Connection *conn, char *out, size_t size)
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

bool http_rate_take(struct gateway *gw, struct MHD_Connection *conn,
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

/* Counts the request in its address's bucket of one kind ("<kind>ip:<address>", e.g.
 * "lookup:ip:10.0.0.1"), at `tier`; answers 429 with `refused` in res when over it. */
static bool http_rate_take_bucket(struct gateway *gw, struct MHD_Connection *conn,
                                  const char *kind, enum api_tier tier,
                                  struct rate_decision *rate, struct api_response *res,
                                  const char *refused)
{
    char who[80];
    size_t len = strlen(kind);
    memcpy(who, kind, len);
    http_client_ip(conn, who + len, sizeof who - len);
    rate_limiter_take(gw->limits, who, tier, time_now_ms(), rate);
    if (!rate->allowed)
        api_error(res, 429, refused, NULL);
    return rate->allowed;
}

/* The handler of a public route authenticates the caller (carrier signature, outcome token)
 * before any work, so these routes are counted per address but not held to the anonymous
 * standard tier: a carrier sends several callbacks per call from a few addresses, and at 100
 * requests a minute a busy campaign's callbacks were refused with 429 and calls finished only
 * when the dialer's stale sweep asked the carrier. */
bool http_rate_take_public(struct gateway *gw, struct MHD_Connection *conn,
                           struct rate_decision *rate, struct api_response *res)
{
    return http_rate_take_bucket(gw, conn, "public:", TIER_ENTERPRISE, rate, res,
                                 "Rate limit exceeded");
}

bool http_rate_take_lookup(struct gateway *gw, struct MHD_Connection *conn,
                           struct rate_decision *rate, struct api_response *res)
{
    return http_rate_take_bucket(gw, conn, "lookup:", HTTP_LOOKUP_TIER, rate, res,
                                 "Too many unknown API keys from this address");
}

/* The tier's Concurrent column, per organization (ratelimit.c): 429 at the cap. */
bool http_concurrency_enter(struct gateway *gw, const struct api_identity *identity,
                            struct api_response *res)
{
    if (rate_limiter_enter(gw->limits, identity->org_id, identity->tier, time_now_ms()))
        return true;
    api_error(res, 429, "Too many concurrent requests for this organization's tier", NULL);
    return false;
}

void http_concurrency_leave(struct gateway *gw, const struct api_identity *identity)
{
    rate_limiter_leave(gw->limits, identity->org_id);
}
