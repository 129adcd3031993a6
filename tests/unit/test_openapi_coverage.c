/* docs/openapi.json (as compiled into the gateway, the document GET /v1/openapi.json serves)
 * against the gateway's route tables (gateway/router.c, routes_*.c):
 *   - every route of every table is documented, with its method (":id" is "{id}");
 *   - every documented path + method is routed, to the route with that very pattern;
 *   - the public routes (no API key) are exactly the operations with their own `security`;
 *   - every POST that takes an API key documents Idempotency-Key and the 422.
 * Adding a route without documenting it fails here. */
#include <check.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"

static json_t *doc;

static void load_doc(void)
{
    json_error_t err;
    doc = json_loadb(openapi_json, openapi_json_len, 0, &err);
    ck_assert_msg(doc != NULL, "docs/openapi.json is not JSON: line %d: %s", err.line, err.text);
}

static void free_doc(void)
{
    json_decref(doc);
    doc = NULL;
}

/* "/v1/contacts/:id" -> "/v1/contacts/{id}" */
static void to_template(const char *pattern, char *out, size_t size)
{
    size_t n = 0;
    for (const char *p = pattern; *p && n + 2 < size; p++) {
        if (*p == ':' && p > pattern && p[-1] == '/') {
            out[n++] = '{';
            for (p++; *p && *p != '/' && n + 2 < size; p++)
                out[n++] = *p;
            out[n++] = '}';
            p--;
        } else {
            out[n++] = *p;
        }
    }
    out[n] = '\0';
}

/* "/v1/contacts/{id}/x" -> "/v1/contacts/p0_sample/x": a concrete path to route. */
static void to_concrete(const char *tmpl, char *out, size_t size)
{
    size_t n = 0;
    for (const char *p = tmpl; *p && n + 12 < size; p++) {
        if (*p == '{') {
            n += (size_t)snprintf(out + n, size - n, "sample_1");
            while (*p && *p != '}')
                p++;
        } else {
            out[n++] = *p;
        }
    }
    out[n] = '\0';
}

static void lower(const char *in, char *out, size_t size)
{
    size_t i;
    for (i = 0; in[i] && i + 1 < size; i++)
        out[i] = (char)tolower((unsigned char)in[i]);
    out[i] = '\0';
}

static json_t *doc_operation(const char *method, const char *tmpl)
{
    char m[16];
    lower(method, m, sizeof m);
    return json_object_get(json_object_get(json_object_get(doc, "paths"), tmpl), m);
}

START_TEST(document_is_openapi_3_1)
{
    ck_assert_str_eq(json_string_value(json_object_get(doc, "openapi")), "3.1.0");
    ck_assert(json_object_size(json_object_get(doc, "paths")) > 0);
    /* the document documents its own route */
    ck_assert_ptr_nonnull(doc_operation("GET", "/v1/openapi.json"));
}
END_TEST

START_TEST(every_route_is_documented)
{
    const struct route *const *tables = router_all_tables();
    char missing[4096] = "";
    int n = 0, nmissing = 0;
    for (int t = 0; tables[t] != NULL; t++) {
        for (const struct route *r = tables[t]; r->method != NULL; r++, n++) {
            char tmpl[256];
            to_template(r->pattern, tmpl, sizeof tmpl);
            if (doc_operation(r->method, tmpl) == NULL) {
                size_t len = strlen(missing);
                snprintf(missing + len, sizeof missing - len, "\n  %s %s", r->method, tmpl);
                nmissing++;
            }
        }
    }
    ck_assert_int_gt(n, 50);
    ck_assert_msg(nmissing == 0, "%d route(s) missing from docs/openapi.json:%s", nmissing,
                  missing);
}
END_TEST

START_TEST(every_documented_operation_is_routed)
{
    const char *tmpl, *method;
    json_t *item, *operation;
    char wrong[4096] = "";
    int n = 0, nwrong = 0;

    json_object_foreach(json_object_get(doc, "paths"), tmpl, item) {
        json_object_foreach(item, method, operation) {
            static const char *const methods[] = {"get", "post", "put", "patch", "delete", NULL};
            char upper[16], concrete[256], store[512], allow[64], got[256];
            const char *params[ROUTE_MAX_PARAMS];
            bool path_known;
            bool is_method = false;
            for (int i = 0; methods[i]; i++)
                is_method |= strcmp(method, methods[i]) == 0;
            if (!is_method) /* "parameters", "summary", ... */
                continue;
            for (size_t i = 0; i <= strlen(method); i++)
                upper[i] = (char)toupper((unsigned char)method[i]);
            to_concrete(tmpl, concrete, sizeof concrete);
            const struct route *r = router_find(upper, concrete, params, store, sizeof store,
                                                &path_known, allow, sizeof allow);
            if (r != NULL)
                to_template(r->pattern, got, sizeof got);
            if (r == NULL || strcmp(got, tmpl) != 0) {
                size_t len = strlen(wrong);
                snprintf(wrong + len, sizeof wrong - len, "\n  %s %s -> %s", upper, tmpl,
                         r != NULL ? got : "no route");
                nwrong++;
            }
            n++;
        }
    }
    ck_assert_int_gt(n, 50);
    ck_assert_msg(nwrong == 0, "%d documented operation(s) not routed as documented:%s", nwrong,
                  wrong);
}
END_TEST

/* A public route (no API key) is documented with its own `security` (empty, or the scheme
 * that really authenticates it); every other operation inherits the API key schemes. */
START_TEST(public_routes_are_documented_as_public)
{
    const struct route *const *tables = router_all_tables();
    for (int t = 0; tables[t] != NULL; t++) {
        for (const struct route *r = tables[t]; r->method != NULL; r++) {
            char tmpl[256];
            to_template(r->pattern, tmpl, sizeof tmpl);
            json_t *operation = doc_operation(r->method, tmpl);
            if (operation == NULL)
                continue; /* every_route_is_documented says so */
            bool own_security = json_object_get(operation, "security") != NULL;
            ck_assert_msg(own_security == router_route_public(r),
                          "%s %s: %s, but the document %s", r->method, tmpl,
                          router_route_public(r) ? "public (no API key)" : "takes an API key",
                          own_security ? "gives it its own security" : "inherits the API key");
        }
    }
}
END_TEST

/* Every POST that takes an API key documents Idempotency-Key and its 422. */
START_TEST(posts_document_idempotency)
{
    const char *tmpl;
    json_t *item;
    json_object_foreach(json_object_get(doc, "paths"), tmpl, item) {
        json_t *post = json_object_get(item, "post"), *p;
        size_t i;
        bool has_key = false;
        if (post == NULL || json_object_get(post, "security") != NULL)
            continue;
        json_array_foreach(json_object_get(post, "parameters"), i, p) {
            const char *ref = json_string_value(json_object_get(p, "$ref"));
            has_key |= ref != NULL && strcmp(ref, "#/components/parameters/IdempotencyKey") == 0;
        }
        ck_assert_msg(has_key, "POST %s does not document Idempotency-Key", tmpl);
        ck_assert_msg(json_object_get(json_object_get(post, "responses"), "422") != NULL,
                      "POST %s does not document the 422 of a reused Idempotency-Key", tmpl);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("openapi_coverage");
    TCase *tc = tcase_create("coverage");
    tcase_add_checked_fixture(tc, load_doc, free_doc);
    tcase_add_test(tc, document_is_openapi_3_1);
    tcase_add_test(tc, every_route_is_documented);
    tcase_add_test(tc, every_documented_operation_is_routed);
    tcase_add_test(tc, public_routes_are_documented_as_public);
    tcase_add_test(tc, posts_document_idempotency);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
