/* gateway/agents_json.c: agent writes (camelCase and snake_case aliases, unknown keys named,
 * every problem listed) and caller-ID writes. */
#include <check.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "agents_json.h"

static json_t *parse(const char *text)
{
    json_t *j = json_loads(text, 0, NULL);
    ck_assert_ptr_nonnull(j);
    return j;
}

START_TEST(create_with_aliases)
{
    struct body_problems p;
    Od__AgentInput in;
    json_t *body = parse("{\"name\": \"Renewals\", \"language\": \"en-IN\", \"voice\": \"asha\","
                         " \"first_message\": \"Hi {{first_name}}\", \"prompt\": \"Be brief\","
                         " \"variables\": {\"tier\": \"gold\"},"
                         " \"runtime_url\": \"wss://agents.example/run\"}");
    body_problems_init(&p);
    ck_assert_int_eq(agents_json_input(body, 0, &in, &p), 0);
    ck_assert_str_eq(in.name, "Renewals");
    ck_assert_str_eq(in.first_message, "Hi {{first_name}}");
    ck_assert(in.set_first_message);
    ck_assert_str_eq(in.runtime_url, "wss://agents.example/run");
    ck_assert_str_eq(in.variables_json, "{\"tier\":\"gold\"}");
    ck_assert(in.set_variables);
    agents_json_input_free(&in);
    body_problems_free(&p);
    json_decref(body);
}
END_TEST

START_TEST(update_problems)
{
    struct body_problems p;
    Od__AgentInput in;
    json_t *body = parse("{\"name\": null, \"firstMessage\": 3, \"first_message\": \"x\","
                         " \"variables\": [], \"colour\": \"red\"}");
    body_problems_init(&p);
    ck_assert_int_eq(agents_json_input(body, 1, &in, &p), -1);
    ck_assert_int_eq(p.count, 4); /* colour, name null, firstMessage type, variables */
    ck_assert_msg(strstr(p.first, "colour is not a field") != NULL, "%s", p.first);
    body_problems_free(&p);
    json_decref(body);

    body = parse("{\"prompt\": null, \"variables\": null}");
    body_problems_init(&p);
    ck_assert_int_eq(agents_json_input(body, 1, &in, &p), 0);
    ck_assert(in.set_prompt);
    ck_assert_str_eq(in.prompt, "");
    ck_assert(in.set_variables);
    ck_assert_str_eq(in.variables_json, "{}");
    agents_json_input_free(&in);
    body_problems_free(&p);
    json_decref(body);
}
END_TEST

START_TEST(phone_numbers)
{
    struct body_problems p;
    Od__PhoneNumberInput in;
    json_t *body = parse("{\"phone_number\": \"+15550001111\", \"label\": \"main\","
                         " \"is_default\": true}");
    body_problems_init(&p);
    ck_assert_int_eq(phone_numbers_json_input(body, &in, &p), 0);
    ck_assert_str_eq(in.phone_number, "+15550001111");
    ck_assert(in.is_default);
    body_problems_free(&p);
    json_decref(body);

    body = parse("{\"label\": 5}");
    body_problems_init(&p);
    ck_assert_int_eq(phone_numbers_json_input(body, &in, &p), -1);
    ck_assert_int_eq(p.count, 2);
    body_problems_free(&p);
    json_decref(body);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("agents_json");
    TCase *tc = tcase_create("mapping");
    tcase_add_test(tc, create_with_aliases);
    tcase_add_test(tc, update_problems);
    tcase_add_test(tc, phone_numbers);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
