/* Method + path pattern -> handler. Patterns are literal segments and ":name" parameters;
 * the tables live beside their handlers (routes_*.c) and are listed once here.
 *
 * Precedence. A request matches a route when the method is equal (case-sensitive) and the
 * path has the pattern's segments: each literal segment equal, each ":name" segment any
 * non-empty segment (one trailing '/' is ignored). When several routes of the method match,
 * the most specific wins: compare the patterns segment by segment from the left; at the first
 * segment where one is literal and the other a parameter, the literal one wins. So
 * POST /v1/contacts/bulk beats POST /v1/contacts/:id, GET /api/campaigns/dnc beats
 * GET /api/campaigns/:id, and /a/b/:x beats /a/:y/c, whatever the order of the tables.
 * Two routes of one method with the same literals and parameters in the same places would
 * match the same requests at the same specificity, and only table order would decide:
 * tests/unit/test_router_overlap.c walks every table (the public ones too) and fails on such
 * a pair. */
#include <stdio.h>
#include <string.h>

#include "gateway.h"

static const struct route *const router_tables[] = {contacts_routes, audiences_routes, dnc_routes,
                                                      imports_routes, webhooks_routes,
                                                      agents_routes, phone_numbers_routes,
                                                      campaigns_routes, credits_routes,
                                                      calls_routes, calls_public_routes,
                                                      carrier_routes, openapi_routes, NULL};
/* Tables whose routes take no API key (gateway.h, router_route_public). */
static const struct route *const router_public_tables[] = {calls_public_routes, carrier_routes,
                                                             openapi_routes, NULL};

const struct route *const *router_all_tables(void)
{
    return router_tables;
}

bool router_route_public(const struct route *route)
{
    for (int t = 0; router_public_tables[t] != NULL; t++)
        for (const struct route *r = router_public_tables[t]; r->method != NULL; r++)
            if (r == route)
                return true;
    return false;
}

/* Matches path against pattern segment by segment; parameter values are copied into store. */
static bool router_match_pattern(const char *pattern, const char *path, const char **params,
                                 char *store, size_t store_size)
{
    int nparams = 0;
    size_t used = 0;
    const char *p = pattern, *s = path;

    while (*p && *s) {
        if (*p != '/' || *s != '/')
            return false;
        p++;
        s++;
        const char *pend = strchrnul(p, '/'), *send = strchrnul(s, '/');
        size_t plen = (size_t)(pend - p), slen = (size_t)(send - s);
        if (plen > 0 && p[0] == ':') {
            if (slen == 0 || nparams == ROUTE_MAX_PARAMS || used + slen + 1 > store_size)
                return false;
            memcpy(store + used, s, slen);
            store[used + slen] = '\0';
            params[nparams++] = store + used;
            used += slen + 1;
        } else if (plen != slen || memcmp(p, s, plen) != 0) {
            return false;
        }
        p = pend;
        s = send;
    }
    return *p == '\0' && (*s == '\0' || (s[0] == '/' && s[1] == '\0'));
}

/* 1 when pattern a is more specific than b (same number of segments): at the first segment
 * where one is literal and the other a parameter, the literal wins. So /api/campaigns/dnc
 * beats /api/campaigns/:id whichever table lists it first. */
static bool router_more_specific(const char *a, const char *b)
{
    while (*a == '/' && *b == '/') {
        bool pa = a[1] == ':', pb = b[1] == ':';
        if (pa != pb)
            return pb;
        a = strchrnul(a + 1, '/');
        b = strchrnul(b + 1, '/');
    }
    return false;
}

const struct route *router_find(const char *method, const char *path, const char **params,
                                char *param_store, size_t store_size, bool *path_known,
                                char *allow, size_t allow_size)
{
    const char *scratch[ROUTE_MAX_PARAMS];
    char scratch_store[512];
    const struct route *literal = NULL;

    *path_known = false;
    allow[0] = '\0';
    for (int t = 0; router_tables[t] != NULL; t++) {
        for (const struct route *r = router_tables[t]; r->method != NULL; r++) {
            if (!router_match_pattern(r->pattern, path, scratch, scratch_store,
                                      sizeof scratch_store))
                continue;
            if (strcmp(r->method, method) == 0) {
                /* The most specific match wins (a literal segment over ":id"). Among equals
                 * the first listed would, but test_router_overlap allows no equals. */
                if (literal != NULL && !router_more_specific(r->pattern, literal->pattern))
                    continue;
                const struct route *before = literal;
                for (int i = 0; i < ROUTE_MAX_PARAMS; i++)
                    params[i] = NULL;
                if (router_match_pattern(r->pattern, path, params, param_store, store_size))
                    literal = r;
                else if (before != NULL) /* keep the one that fit: its params again */
                    router_match_pattern(before->pattern, path, params, param_store,
                                         store_size);
            } else {
                size_t len = strlen(allow);
                if (strstr(allow, r->method) == NULL)
                    snprintf(allow + len, allow_size - len, "%s%s", len ? ", " : "", r->method);
            }
            *path_known = true;
        }
    }
    return literal;
}

route_handler router_match(const char *method, const char *path, const char **params,
                           char *param_store, size_t store_size, bool *path_known,
                           char *allow, size_t allow_size)
{
    const struct route *r = router_find(method, path, params, param_store, store_size,
                                        path_known, allow, allow_size);
    return r != NULL ? r->handler : NULL;
}
