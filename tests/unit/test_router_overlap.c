/* Every route table the router knows (router_all_tables: the keyed tables and the public ones),
 * checked for overlap.
 *
 * The precedence rule (router.c, gateway.h): a path matches a pattern with as many segments,
 * each literal segment equal and each ":name" segment non-empty. When several routes of the
 * request's method match, the most specific wins: compare the two patterns segment by segment
 * from the left; at the first segment where one is literal and the other a parameter, the
 * literal one wins. So POST /v1/contacts/bulk beats POST /v1/contacts/:id, and /a/b/:x beats
 * /a/:y/c, whatever the order of the tables.
 *
 * Two routes of one method that can match one request and have no such segment (the same
 * literals, parameters in the same places: "/v1/x/:id" and "/v1/x/:xid") would be decided by
 * table order alone. That is a true ambiguity, and this test fails on it, naming both routes.
 *
 * The test keeps its own model of the rule, and checks router_find against it: for each route
 * a request built from it (every route is reachable: nothing shadows it), and for each pair of
 * overlapping routes a request both match (the more specific one, or a route more specific
 * still, wins). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"

#define MAX_SEGMENTS 16
#define MAX_ROUTES 512

struct segment {
    const char *text;
    size_t len;
    bool param; /* ":name" */
};

struct shape {
    const struct route *route;
    int table;
    size_t n;
    struct segment seg[MAX_SEGMENTS];
};

static struct shape routes[MAX_ROUTES];
static size_t nroutes;

/* Splits "/a/:b/c" into its segments; false when it is not a pattern we can read. */
static bool split(const char *pattern, struct shape *out)
{
    const char *p = pattern;
    out->n = 0;
    if (*p != '/')
        return false;
    while (*p == '/') {
        const char *end = strchrnul(p + 1, '/');
        if (out->n == MAX_SEGMENTS)
            return false;
        out->seg[out->n].text = p + 1;
        out->seg[out->n].len = (size_t)(end - (p + 1));
        out->seg[out->n].param = p[1] == ':';
        out->n++;
        p = end;
    }
    return *p == '\0';
}

static void load_routes(void)
{
    const struct route *const *tables = router_all_tables();
    nroutes = 0;
    for (int t = 0; tables[t] != NULL; t++) {
        for (const struct route *r = tables[t]; r->method != NULL; r++) {
            ck_assert_uint_lt(nroutes, MAX_ROUTES);
            ck_assert_msg(split(r->pattern, &routes[nroutes]), "table %d: cannot read %s %s", t,
                          r->method, r->pattern);
            routes[nroutes].route = r;
            routes[nroutes].table = t;
            nroutes++;
        }
    }
    ck_assert_uint_gt(nroutes, 0);
}

/* True when some request path matches both patterns. */
static bool overlap(const struct shape *a, const struct shape *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++) {
        const struct segment *x = &a->seg[i], *y = &b->seg[i];
        if (x->param && y->param)
            continue;
        if (x->param || y->param) {
            if ((x->param ? y : x)->len == 0) /* a parameter never matches an empty segment */
                return false;
            continue;
        }
        if (x->len != y->len || memcmp(x->text, y->text, x->len) != 0)
            return false;
    }
    return true;
}

/* The rule: >0 when a is more specific than b, <0 when b is, 0 when neither (same shape). */
static int specificity(const struct shape *a, const struct shape *b)
{
    for (size_t i = 0; i < a->n && i < b->n; i++)
        if (a->seg[i].param != b->seg[i].param)
            return a->seg[i].param ? -1 : 1;
    return 0;
}

/* A request path both shapes match (one shape twice: a path made for it), parameters that
 * both take filled with a value no literal segment has. */
static void witness(const struct shape *a, const struct shape *b, char *out, size_t size)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < a->n; i++) {
        const struct segment *lit = !a->seg[i].param ? &a->seg[i]
                                    : !b->seg[i].param ? &b->seg[i]
                                                       : NULL;
        int w = lit != NULL ? snprintf(out + used, size - used, "/%.*s", (int)lit->len, lit->text)
                            : snprintf(out + used, size - used, "/zz-param-%zu", i);
        ck_assert(w > 0 && (size_t)w < size - used);
        used += (size_t)w;
    }
}

/* Whether the shape matches the path (the model, not router.c). */
static bool model_match(const struct shape *s, const char *path)
{
    struct shape p;
    if (!split(path, &p) || p.n != s->n)
        return false;
    for (size_t i = 0; i < s->n; i++) {
        if (s->seg[i].param ? p.seg[i].len == 0
                            : p.seg[i].len != s->seg[i].len ||
                                  memcmp(p.seg[i].text, s->seg[i].text, s->seg[i].len) != 0)
            return false;
    }
    return true;
}

/* The route the rule picks for method + path, from the model. */
static const struct shape *model_pick(const char *method, const char *path)
{
    const struct shape *best = NULL;
    for (size_t i = 0; i < nroutes; i++) {
        if (strcmp(routes[i].route->method, method) != 0 || !model_match(&routes[i], path))
            continue;
        if (best == NULL || specificity(&routes[i], best) > 0)
            best = &routes[i];
    }
    return best;
}

static const struct route *find(const char *method, const char *path)
{
    const char *params[ROUTE_MAX_PARAMS];
    char store[512], allow[128];
    bool known;
    const struct route *r =
        router_find(method, path, params, store, sizeof store, &known, allow, sizeof allow);
    ck_assert_msg(r == NULL || known, "%s %s: found without path_known", method, path);
    return r;
}

START_TEST(no_two_routes_match_one_request_at_the_same_specificity)
{
    int ambiguous = 0;
    load_routes();
    for (size_t i = 0; i < nroutes; i++) {
        for (size_t j = i + 1; j < nroutes; j++) {
            const struct shape *a = &routes[i], *b = &routes[j];
            if (strcmp(a->route->method, b->route->method) != 0 || !overlap(a, b) ||
                specificity(a, b) != 0)
                continue;
            fprintf(stderr,
                    "ambiguous: %s %s (table %d) and %s %s (table %d) match the same requests "
                    "with the same specificity\n",
                    a->route->method, a->route->pattern, a->table, b->route->method,
                    b->route->pattern, b->table);
            ambiguous++;
        }
    }
    ck_assert_msg(ambiguous == 0, "%d pair(s) of routes are ambiguous (see stderr)", ambiguous);
}
END_TEST

START_TEST(every_route_is_reachable)
{
    char path[1024];
    load_routes();
    for (size_t i = 0; i < nroutes; i++) {
        const struct shape *s = &routes[i];
        witness(s, s, path, sizeof path);
        const struct route *got = find(s->route->method, path);
        ck_assert_msg(got == s->route, "%s %s: %s is routed to %s %s", s->route->method,
                      s->route->pattern, path, got ? got->method : "(none)",
                      got ? got->pattern : "");
    }
}
END_TEST

START_TEST(overlapping_routes_follow_the_rule)
{
    char path[1024];
    size_t pairs = 0;
    load_routes();
    for (size_t i = 0; i < nroutes; i++) {
        for (size_t j = 0; j < nroutes; j++) {
            const struct shape *a = &routes[i], *b = &routes[j];
            if (i == j || strcmp(a->route->method, b->route->method) != 0 || !overlap(a, b))
                continue;
            witness(a, b, path, sizeof path);
            const struct shape *want = model_pick(a->route->method, path);
            const struct route *got = find(a->route->method, path);
            ck_assert_ptr_nonnull(want);
            ck_assert_msg(specificity(want, a) >= 0 && specificity(want, b) >= 0,
                          "model: %s picked below %s / %s", want->route->pattern,
                          a->route->pattern, b->route->pattern);
            ck_assert_msg(got == want->route, "%s %s (%s vs %s): router picked %s, the rule %s",
                          a->route->method, path, a->route->pattern, b->route->pattern,
                          got ? got->pattern : "(none)", want->route->pattern);
            pairs++;
        }
    }
    /* The tables do overlap today (/v1/contacts/bulk and /v1/contacts/:id, OsmTalk's
     * /api/campaigns/dnc and /api/campaigns/:id): the check above is not vacuous. */
    ck_assert_uint_gt(pairs, 0);
}
END_TEST

/* The rule, on the pairs the tables have had trouble with. */
START_TEST(literal_beats_parameter_by_example)
{
    const char *params[ROUTE_MAX_PARAMS];
    char store[512], allow[128];
    bool known;
    const struct route *r =
        router_find("POST", "/v1/contacts/bulk", params, store, sizeof store, &known, allow,
                    sizeof allow);
    ck_assert_ptr_nonnull(r);
    ck_assert_str_eq(r->pattern, "/v1/contacts/bulk");
    r = router_find("GET", "/api/campaigns/dnc", params, store, sizeof store, &known, allow,
                    sizeof allow);
    ck_assert_ptr_nonnull(r);
    ck_assert_str_eq(r->pattern, "/api/campaigns/dnc");
    r = router_find("GET", "/api/campaigns/camp_1", params, store, sizeof store, &known, allow,
                    sizeof allow);
    ck_assert_ptr_nonnull(r);
    ck_assert_str_eq(r->pattern, "/api/campaigns/:id");
    ck_assert_str_eq(params[0], "camp_1");
}
END_TEST

/* The public tables (no API key: their handlers authenticate) are among the tables routed,
 * and router_route_public tells their routes, and only theirs. */
START_TEST(public_tables_are_routed_and_known)
{
    const struct route *const publics[] = {calls_public_routes, carrier_routes, openapi_routes,
                                           NULL};
    size_t npublic = 0, flagged = 0;
    load_routes();
    for (int t = 0; publics[t] != NULL; t++) {
        for (const struct route *r = publics[t]; r->method != NULL; r++) {
            bool listed = false;
            for (size_t i = 0; i < nroutes && !listed; i++)
                listed = routes[i].route == r;
            ck_assert_msg(listed, "public %s %s is not in router_all_tables", r->method,
                          r->pattern);
            ck_assert_msg(router_route_public(r), "%s %s is not public", r->method, r->pattern);
            npublic++;
        }
    }
    for (size_t i = 0; i < nroutes; i++)
        flagged += router_route_public(routes[i].route);
    ck_assert_uint_eq(flagged, npublic);
    ck_assert_uint_gt(npublic, 0);
}
END_TEST

static Suite *router_overlap_suite(void)
{
    Suite *s = suite_create("router_overlap");
    TCase *tc = tcase_create("tables");
    tcase_add_test(tc, no_two_routes_match_one_request_at_the_same_specificity);
    tcase_add_test(tc, every_route_is_reachable);
    tcase_add_test(tc, overlapping_routes_follow_the_rule);
    tcase_add_test(tc, literal_beats_parameter_by_example);
    tcase_add_test(tc, public_tables_are_routed_and_known);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(router_overlap_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
