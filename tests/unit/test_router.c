/* gateway/router.c against the real contacts route table (gateway/routes_contacts.c):
 *   POST /v1/contacts/bulk, POST /v1/contacts, GET /v1/contacts,
 *   GET|PATCH|DELETE /v1/contacts/:id */
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
    memset(m->allow, 'X', sizeof m->allow); /* router_match must reset it */
    m->path_known = true;                   /* and this */
    m->handler = router_match(method, path, m->params, m->store, sizeof m->store,
                              &m->path_known, m->allow, sizeof m->allow);
}

/* The handler the table lists for method + pattern. */
static route_handler handler_for(const char *method, const char *pattern)
{
    for (const struct route *r = contacts_routes; r->method != NULL; r++)
        if (strcmp(r->method, method) == 0 && strcmp(r->pattern, pattern) == 0)
            return r->handler;
    ck_abort_msg("no route %s %s in contacts_routes", method, pattern);
    return NULL;
}

START_TEST(table_is_as_documented)
{
    size_t n = 0;
    for (const struct route *r = contacts_routes; r->method != NULL; r++) {
        ck_assert_ptr_nonnull(r->pattern);
        ck_assert_ptr_nonnull(r->handler);
        n++;
    }
    ck_assert_uint_eq(n, 6);
    /* six distinct handlers */
    route_handler hs[] = {
        handler_for("POST", "/v1/contacts/bulk"), handler_for("POST", "/v1/contacts"),
        handler_for("GET", "/v1/contacts"),       handler_for("GET", "/v1/contacts/:id"),
        handler_for("PATCH", "/v1/contacts/:id"), handler_for("DELETE", "/v1/contacts/:id"),
    };
    for (size_t i = 0; i < 6; i++)
        for (size_t j = i + 1; j < 6; j++)
            ck_assert(hs[i] != hs[j]);
}
END_TEST

START_TEST(literal_routes)
{
    struct match m;
    match("POST", "/v1/contacts", &m);
    ck_assert(m.handler == handler_for("POST", "/v1/contacts"));
    ck_assert(m.path_known);
    ck_assert_ptr_null(m.params[0]);

    match("GET", "/v1/contacts", &m);
    ck_assert(m.handler == handler_for("GET", "/v1/contacts"));
    ck_assert(m.path_known);
    ck_assert_str_eq(m.allow, "POST"); /* other methods the path takes */
    ck_assert_ptr_null(m.params[0]);
}
END_TEST

START_TEST(bulk_literal_wins_over_id)
{
    struct match m;
    match("POST", "/v1/contacts/bulk", &m);
    ck_assert(m.handler == handler_for("POST", "/v1/contacts/bulk"));
    ck_assert(m.path_known);
    ck_assert_ptr_null(m.params[0]);
    /* "bulk" under another method is just an id */
    match("GET", "/v1/contacts/bulk", &m);
    ck_assert(m.handler == handler_for("GET", "/v1/contacts/:id"));
    ck_assert_str_eq(m.params[0], "bulk");
    match("DELETE", "/v1/contacts/bulk", &m);
    ck_assert(m.handler == handler_for("DELETE", "/v1/contacts/:id"));
    ck_assert_str_eq(m.params[0], "bulk");
}
END_TEST

START_TEST(id_routes_extract_param)
{
    static const char *const methods[] = {"GET", "PATCH", "DELETE"};
    for (size_t i = 0; i < 3; i++) {
        struct match m;
        match(methods[i], "/v1/contacts/cid_3xYz09AbCdEfGhIjKlMnOp", &m);
        ck_assert(m.handler == handler_for(methods[i], "/v1/contacts/:id"));
        ck_assert(m.path_known);
        ck_assert_str_eq(m.params[0], "cid_3xYz09AbCdEfGhIjKlMnOp");
        ck_assert_ptr_null(m.params[1]);
        /* the value is a copy in the caller's store, not a pointer into the path */
        ck_assert(m.params[0] >= m.store && m.params[0] < m.store + sizeof m.store);
    }
}
END_TEST

START_TEST(param_is_any_nonempty_segment)
{
    struct match m;
    match("GET", "/v1/contacts/x", &m);
    ck_assert(m.handler == handler_for("GET", "/v1/contacts/:id"));
    ck_assert_str_eq(m.params[0], "x");
    match("GET", "/v1/contacts/%20weird%2Fid", &m); /* not decoded by the router */
    ck_assert(m.handler == handler_for("GET", "/v1/contacts/:id"));
    ck_assert_str_eq(m.params[0], "%20weird%2Fid");
}
END_TEST

/* Regression: a parameter that did not fit the caller's store still matched, leaving
 * params[0] unset. */
START_TEST(param_store_too_small_is_no_match)
{
    const char *params[ROUTE_MAX_PARAMS] = {NULL};
    char store[4], allow[64];
    bool known = false;
    route_handler h = router_match("GET", "/v1/contacts/abcdef", params, store, sizeof store,
                                   &known, allow, sizeof allow);
    ck_assert(h == NULL);
    ck_assert_ptr_null(params[0]);
}
END_TEST

START_TEST(param_store_exact_fit)
{
    const char *params[ROUTE_MAX_PARAMS] = {NULL};
    char store[6], allow[64];
    bool known = false;
    route_handler h = router_match("GET", "/v1/contacts/abcde", params, store, sizeof store,
                                   &known, allow, sizeof allow);
    ck_assert(h == handler_for("GET", "/v1/contacts/:id"));
    ck_assert_str_eq(params[0], "abcde");
}
END_TEST

START_TEST(unknown_path_is_404)
{
    static const char *const paths[] = {
        "/v1/unknown", "/v2/contacts", "/", "", "/v1", "/v1/", "/v1/contact",
        "/v1/contactsx", "/v1/contacts/a/b", "/v1/contacts/bulk/x", "v1/contacts",
        "/V1/contacts", "//v1/contacts", "/v1//contacts", "/v1/contacts//",
        "/v1/contacts/cid_1//", "/v1/contacts/cid_1/extra/",
    };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        struct match m;
        match("GET", paths[i], &m);
        ck_assert_msg(m.handler == NULL, "GET \"%s\" matched", paths[i]);
        ck_assert_msg(!m.path_known, "GET \"%s\" is known", paths[i]);
        ck_assert_str_eq(m.allow, "");
    }
}
END_TEST

START_TEST(known_path_wrong_method_is_405_with_allow)
{
    struct match m;
    match("PUT", "/v1/contacts", &m);
    ck_assert_ptr_null(m.handler);
    ck_assert(m.path_known);
    ck_assert_str_eq(m.allow, "POST, GET");

    match("DELETE", "/v1/contacts", &m);
    ck_assert_ptr_null(m.handler);
    ck_assert(m.path_known);
    ck_assert_str_eq(m.allow, "POST, GET");

    match("POST", "/v1/contacts/cid_abc", &m);
    ck_assert_ptr_null(m.handler);
    ck_assert(m.path_known);
    ck_assert_str_eq(m.allow, "GET, PATCH, DELETE");

    /* "/v1/contacts/bulk" is both the bulk literal and an id */
    match("PUT", "/v1/contacts/bulk", &m);
    ck_assert_ptr_null(m.handler);
    ck_assert(m.path_known);
    ck_assert_str_eq(m.allow, "POST, GET, PATCH, DELETE");
}
END_TEST

START_TEST(method_is_case_sensitive)
{
    struct match m;
    match("get", "/v1/contacts", &m);
    ck_assert_ptr_null(m.handler);
    ck_assert(m.path_known);
    ck_assert_str_eq(m.allow, "POST, GET");
}
END_TEST

START_TEST(trailing_slash_is_accepted)
{
    struct match m;
    match("GET", "/v1/contacts/", &m);
    ck_assert(m.handler == handler_for("GET", "/v1/contacts"));
    ck_assert_ptr_null(m.params[0]);

    match("POST", "/v1/contacts/bulk/", &m);
    ck_assert(m.handler == handler_for("POST", "/v1/contacts/bulk"));

    match("PATCH", "/v1/contacts/cid_abc/", &m);
    ck_assert(m.handler == handler_for("PATCH", "/v1/contacts/:id"));
    ck_assert_str_eq(m.params[0], "cid_abc"); /* the slash is not part of the id */

    match("PUT", "/v1/contacts/", &m);
    ck_assert_ptr_null(m.handler);
    ck_assert(m.path_known);
    ck_assert_str_eq(m.allow, "POST, GET");
}
END_TEST

START_TEST(allow_is_truncated_safely)
{
    const char *params[ROUTE_MAX_PARAMS] = {NULL};
    char store[64], allow[5];
    bool known = false;
    memset(allow, 'X', sizeof allow);
    ck_assert_ptr_null(router_match("PUT", "/v1/contacts", params, store, sizeof store, &known,
                                    allow, sizeof allow));
    ck_assert(known);
    ck_assert_str_eq(allow, "POST");
}
END_TEST

START_TEST(long_id_within_limits)
{
    char path[300], store[256], allow[64];
    const char *params[ROUTE_MAX_PARAMS] = {NULL};
    bool known = false;
    strcpy(path, "/v1/contacts/");
    memset(path + 13, 'a', 200);
    path[213] = '\0';
    route_handler h = router_match("GET", path, params, store, sizeof store, &known, allow,
                                   sizeof allow);
    ck_assert(h == handler_for("GET", "/v1/contacts/:id"));
    ck_assert_uint_eq(strlen(params[0]), 200);
}
END_TEST

static Suite *router_suite(void)
{
    Suite *s = suite_create("router");
    TCase *tc = tcase_create("match");
    tcase_add_test(tc, table_is_as_documented);
    tcase_add_test(tc, literal_routes);
    tcase_add_test(tc, bulk_literal_wins_over_id);
    tcase_add_test(tc, id_routes_extract_param);
    tcase_add_test(tc, param_is_any_nonempty_segment);
    tcase_add_test(tc, param_store_exact_fit);
    tcase_add_test(tc, param_store_too_small_is_no_match);
    tcase_add_test(tc, unknown_path_is_404);
    tcase_add_test(tc, known_path_wrong_method_is_405_with_allow);
    tcase_add_test(tc, method_is_case_sensitive);
    tcase_add_test(tc, trailing_slash_is_accepted);
    tcase_add_test(tc, allow_is_truncated_safely);
    tcase_add_test(tc, long_id_within_limits);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(router_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
