/* Method + path pattern -> handler. Patterns are literal segments and ":name" parameters;
 * the tables live beside their handlers (routes_*.c) and are listed once here. */
#include <stdio.h>
#include <string.h>

#include "gateway.h"

static const struct route *const router_tables[] = {contacts_routes, audiences_routes, dnc_routes,
                                                      imports_routes, webhooks_routes, NULL};

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
                /* The first match wins, so tables list literal paths before ":id" ones. */
                if (literal == NULL &&
                    router_match_pattern(r->pattern, path, params, param_store, store_size))
                    literal = r;
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
