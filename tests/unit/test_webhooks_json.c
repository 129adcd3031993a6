/* gateway/webhooks_json.c: webhook endpoint bodies -> requests, every problem of a body listed
 * (issue 14). Runs under ASan/LSan: anything the mapping leaks fails. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "body_problems.h"
#include "webhooks_json.h"

static json_t *load(const char *text)
{
    json_error_t jerr;
    json_t *v = json_loads(text, 0, &jerr);
    ck_assert_msg(v != NULL, "test JSON: %s", jerr.text);
    return v;
}

static const char *detail(const struct body_problems *p, size_t i, const char *key)
{
    return json_string_value(json_object_get(json_array_get(p->details, i), key));
}

START_TEST(create_ok_and_default_events)
{
    struct body_problems p;
    Od__CreateEndpointRequest in;
    json_t *b = load("{\"url\":\"https://example.com/h\"}");
    body_problems_init(&p);
    ck_assert_int_eq(webhooks_json_create(b, &in, &p), 0);
    ck_assert_str_eq(in.url, "https://example.com/h");
    ck_assert_str_eq(in.description, "");
    ck_assert_uint_eq(in.n_events, 1);
    ck_assert_str_eq(in.events[0], "*");
    webhooks_json_events_free(in.events);
    json_decref(b);
    b = load("{\"url\":\"https://example.com/h\",\"events\":[\"call.completed\",\"import.done\"]}");
    ck_assert_int_eq(webhooks_json_create(b, &in, &p), 0);
    ck_assert_uint_eq(in.n_events, 2);
    ck_assert_str_eq(in.events[1], "import.done");
    webhooks_json_events_free(in.events);
    ck_assert_int_eq(p.count, 0);
    body_problems_free(&p);
    json_decref(b);
}
END_TEST

START_TEST(create_lists_every_problem)
{
    struct body_problems p;
    Od__CreateEndpointRequest in;
    json_t *b = load("{\"description\":5,\"events\":[\"call.completed\",7]}");
    body_problems_init(&p);
    ck_assert_int_eq(webhooks_json_create(b, &in, &p), -1);
    ck_assert_int_eq(p.count, 3);
    ck_assert_str_eq(p.first, "url is required");
    ck_assert_str_eq(detail(&p, 0, "field"), "url");
    ck_assert_str_eq(detail(&p, 1, "field"), "description");
    ck_assert_str_eq(detail(&p, 1, "message"), "description must be a string");
    ck_assert_str_eq(detail(&p, 2, "field"), "events[1]");
    ck_assert_str_eq(detail(&p, 2, "message"), "events[1] must be a string");
    body_problems_free(&p);
    json_decref(b);
}
END_TEST

START_TEST(update_flags_and_problems)
{
    struct body_problems p;
    Od__UpdateEndpointRequest in;
    json_t *b = load("{\"enabled\":false,\"description\":null}");
    body_problems_init(&p);
    ck_assert_int_eq(webhooks_json_update(b, &in, &p), 0);
    ck_assert(in.set_enabled);
    ck_assert(!in.enabled);
    ck_assert(in.set_description);
    ck_assert(!in.set_url);
    ck_assert(!in.set_events);
    webhooks_json_events_free(in.events);
    json_decref(b);
    b = load("{\"url\":1,\"enabled\":\"yes\"}");
    ck_assert_int_eq(webhooks_json_update(b, &in, &p), -1);
    ck_assert_int_eq(p.count, 2);
    ck_assert_str_eq(p.first, "url must be a string");
    ck_assert_str_eq(detail(&p, 0, "field"), "url");
    ck_assert_str_eq(detail(&p, 1, "field"), "enabled");
    ck_assert_str_eq(detail(&p, 1, "message"), "enabled must be a boolean");
    body_problems_free(&p);
    json_decref(b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("webhooks_json");
    TCase *tc = tcase_create("mapping");
    tcase_add_test(tc, create_ok_and_default_events);
    tcase_add_test(tc, create_lists_every_problem);
    tcase_add_test(tc, update_flags_and_problems);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
