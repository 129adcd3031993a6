/* Authentication. The API key is checked from the headers, before any body byte is accepted
 * (issue 13: a body of up to 16 MiB was buffered before its key was checked). A key in the
 * cache is checked on the event thread; one that must be looked up goes to a handler thread
 * with the connection suspended (the event thread never waits on the database) and comes back
 * as HTTP_AUTH_DONE. Public routes (router_route_public) ask for no key: their handler
 * authenticates the caller (the carrier's signature, a call's outcome token), and they are
 * counted per address (http_limits.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http_internal.h"

#define HTTP_MISSING_KEY "Missing API key: send x-api-key or Authorization: Bearer"

const char *http_api_key(struct MHD_Connection *conn)
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

/* Authenticates the caller (looking the key up, which may block) and counts the request
 * against its rate limit. Returns true when the request may go on; otherwise res holds the
 * 401/429/503. rate is always filled. */
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

bool http_auth_request(struct gateway *gw, struct http_exchange *ex, const struct route *route,
                       struct api_identity *identity, struct rate_decision *rate,
                       struct api_response *res)
{
    if (route != NULL && router_route_public(route)) { /* the handler authenticates */
        memset(identity, 0, sizeof *identity);
        identity->scope = SCOPE_READ;
        return http_rate_take_public(gw, ex->conn, rate, res);
    }
    if (ex->authenticated) { /* looked up from the headers, before the body */
        *identity = ex->identity;
        return http_rate_take(gw, ex->conn, identity, rate, res);
    }
    return http_authorize(gw, ex->conn, identity, rate, res);
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

enum MHD_Result http_begin(struct http_server *s, struct http_exchange *ex)
{
    struct gateway *gw = s->gw;
    const char *declared = MHD_lookup_connection_value(ex->conn, MHD_HEADER_KIND,
                                                       "Content-Length");
    const char *key = http_api_key(ex->conn);
    const struct route *route;
    const char *params[ROUTE_MAX_PARAMS];
    char store[512], allow[64];
    bool path_known;
    struct rate_decision rate;
    struct api_response res = {0, NULL, NULL, 0, NULL, NULL};

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
    if (!http_rate_take_lookup(gw, ex->conn, &rate, &res))
        return http_send(ex->conn, ex, ex->method, ex->url, &res, &rate, NULL, NULL);
    ex->stage = HTTP_AUTHENTICATING;
    return http_hand_off(s, ex);
}

void http_auth_lookup(struct gateway *gw, struct http_exchange *ex)
{
    ex->auth_result = auth_lookup(gw, http_api_key(ex->conn), &ex->identity);
}

enum MHD_Result http_auth_done(struct http_server *s, struct http_exchange *ex)
{
    if (ex->auth_result != 0)
        return http_refuse_key(s->gw, ex, ex->auth_result);
    ex->authenticated = true;
    return http_admit(s, ex);
}
