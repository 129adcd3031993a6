/* gateway/router.c with every table: OsmTalk's /api/campaigns/:id and the DNC routes under
 * /api/campaigns/dnc share a prefix; the literal "dnc" must win over ":id" whatever the table
 * order, and a campaign id must still reach the campaign handlers. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"

struct match {
    route_handler handler;
    const char *params[ROUTE_MAX_PARAMS];
    char store[256];
    bool path_known;
    char allow[128];
};

static void match(const char *method, const char *path, struct match *m)
{
    memset(m, 0, sizeof *m);
    m->handler = router_match(method, path, m->params, m->store, sizeof m->store,
                              &m->path_known, m->allow, sizeof m->allow);
}

static route_handler handler_in(const struct route *table, const char *method,
                                const char *pattern)
{
    for (const struct route *r = table; r->method != NULL; r++)
        if (strcmp(r->method, method) == 0 && strcmp(r->pattern, pattern) == 0)
            return r->handler;
    ck_abort_msg("no route %s %s", method, pattern);
    return NULL;
}

START_TEST(dnc_literal_wins_over_campaign_id)
{
    struct match m;
    match("GET", "/api/campaigns/dnc", &m);
    ck_assert(m.handler == handler_in(dnc_routes, "GET", "/api/campaigns/dnc"));
    ck_assert_ptr_null(m.params[0]);
    match("POST", "/api/campaigns/dnc", &m);
    ck_assert(m.handler == handler_in(dnc_routes, "POST", "/api/campaigns/dnc"));
    match("POST", "/api/campaigns/dnc/bulk", &m);
    ck_assert(m.handler == handler_in(dnc_routes, "POST", "/api/campaigns/dnc/bulk"));
    match("DELETE", "/api/campaigns/dnc/dnc_abc", &m);
    ck_assert(m.handler == handler_in(dnc_routes, "DELETE", "/api/campaigns/dnc/:id"));
    ck_assert_str_eq(m.params[0], "dnc_abc");
}
END_TEST

START_TEST(campaign_ids_reach_campaigns)
{
    struct match m;
    match("GET", "/api/campaigns/camp_x", &m);
    ck_assert(m.handler == handler_in(campaigns_routes, "GET", "/api/campaigns/:id"));
    ck_assert_str_eq(m.params[0], "camp_x");
    match("PUT", "/api/campaigns/camp_x", &m);
    ck_assert(m.handler == handler_in(campaigns_routes, "PUT", "/api/campaigns/:id"));
    match("POST", "/api/campaigns/camp_x/stop", &m);
    ck_assert(m.handler == handler_in(campaigns_routes, "POST", "/api/campaigns/:id/stop"));
    ck_assert_str_eq(m.params[0], "camp_x");
    match("POST", "/api/campaigns/camp_x/leads", &m);
    ck_assert(m.handler == handler_in(campaigns_routes, "POST", "/api/campaigns/:id/leads"));
    match("GET", "/api/campaigns", &m);
    ck_assert(m.handler == handler_in(campaigns_routes, "GET", "/api/campaigns"));
    match("GET", "/v1/campaigns/camp_x/progress", &m);
    ck_assert(m.handler == handler_in(campaigns_routes, "GET", "/v1/campaigns/:id/progress"));
    match("GET", "/v1/flows/agent_1", &m);
    ck_assert(m.handler == handler_in(agents_routes, "GET", "/v1/flows/:id"));
    match("POST", "/v1/credits/purchase", &m);
    ck_assert(m.handler == handler_in(credits_routes, "POST", "/v1/credits/purchase"));
    /* a campaign called "bulk" is an id under another method only */
    match("GET", "/api/campaigns/dnc/bulk", &m);
    ck_assert_ptr_null(m.handler);
    ck_assert(m.path_known);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("router_campaigns");
    TCase *tc = tcase_create("routes");
    tcase_add_test(tc, dnc_literal_wins_over_campaign_id);
    tcase_add_test(tc, campaign_ids_reach_campaigns);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
