/* gateway/audiences_json.c: audience bodies -> requests, replies -> API JSON. Runs under
 * ASan/LSan: anything the mapping leaks fails. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "body_problems.h"
#include "audiences_json.h"
#include "json_util.h"

static char err[JSON_ERROR_MAX];

static json_t *load(const char *text)
{
    json_error_t jerr;
    json_t *v = json_loads(text, 0, &jerr);
    ck_assert_msg(v != NULL, "test JSON: %s", jerr.text);
    return v;
}

static void assert_dump(json_t *v, const char *want)
{
    char *text = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
    ck_assert_str_eq(text, want);
    free(text);
    json_decref(v);
}

START_TEST(create_ok_and_defaults)
{
    Od__CreateAudienceRequest in;
    json_t *b = load("{\"name\":\"Mumbai\",\"description\":\"Premium\"}");
    ck_assert_int_eq(audiences_json_create(b, &in, err, sizeof err), 0);
    ck_assert_str_eq(in.name, "Mumbai");
    ck_assert_str_eq(in.description, "Premium");
    json_decref(b);
    b = load("{\"name\":\"Only\",\"description\":null}");
    ck_assert_int_eq(audiences_json_create(b, &in, err, sizeof err), 0);
    ck_assert_str_eq(in.description, "");
    json_decref(b);
}
END_TEST

START_TEST(create_errors_name_the_field)
{
    const char *bodies[] = {"{}", "{\"name\":null}", "{\"name\":5}",
                            "{\"name\":\"x\",\"description\":[]}"};
    const char *want[] = {"name is required", "name is required", "name must be a string",
                          "description must be a string"};
    for (int i = 0; i < 4; i++) {
        Od__CreateAudienceRequest in;
        json_t *b = load(bodies[i]);
        ck_assert_int_eq(audiences_json_create(b, &in, err, sizeof err), -1);
        ck_assert_str_eq(err, want[i]);
        json_decref(b);
    }
}
END_TEST

START_TEST(update_flags)
{
    Od__UpdateAudienceRequest in;
    json_t *b = load("{\"description\":null}");
    ck_assert_int_eq(audiences_json_update(b, &in, err, sizeof err), 0);
    ck_assert(!in.set_name);
    ck_assert(in.set_description);
    ck_assert_str_eq(in.description, "");
    json_decref(b);
    b = load("{\"name\":\"New\"}");
    ck_assert_int_eq(audiences_json_update(b, &in, err, sizeof err), 0);
    ck_assert(in.set_name);
    ck_assert(!in.set_description);
    ck_assert_str_eq(in.name, "New");
    json_decref(b);
    b = load("{\"name\":null}");
    ck_assert_int_eq(audiences_json_update(b, &in, err, sizeof err), -1);
    ck_assert_str_eq(err, "name must be a string");
    json_decref(b);
    b = load("{\"description\":7}");
    ck_assert_int_eq(audiences_json_update(b, &in, err, sizeof err), -1);
    ck_assert_str_eq(err, "description must be a string");
    json_decref(b);
}
END_TEST

START_TEST(member_ids_ok)
{
    Od__AudienceMembersRequest in;
    json_t *b = load("{\"contactIds\":[\"cid_1\",\"cid_2\",\"cid_1\"]}");
    ck_assert_int_eq(audiences_json_member_ids(b, &in, err, sizeof err), 0);
    ck_assert_uint_eq(in.n_contact_ids, 3);
    ck_assert_str_eq(in.contact_ids[0], "cid_1");
    ck_assert_str_eq(in.contact_ids[2], "cid_1");
    audiences_json_member_ids_free(&in);
    audiences_json_member_ids_free(&in); /* twice is safe */
    json_decref(b);
}
END_TEST

START_TEST(member_ids_errors)
{
    const char *bodies[] = {"{}", "{\"contactIds\":null}", "{\"contactIds\":\"cid_1\"}",
                            "{\"contactIds\":[]}", "{\"contactIds\":[\"cid_1\",2]}"};
    const char *want[] = {"contactIds is required", "contactIds is required",
                          "contactIds must be an array", "contactIds must not be empty",
                          "contactIds[1] must be a string"};
    for (int i = 0; i < 5; i++) {
        Od__AudienceMembersRequest in;
        json_t *b = load(bodies[i]);
        ck_assert_int_eq(audiences_json_member_ids(b, &in, err, sizeof err), -1);
        ck_assert_str_eq(err, want[i]);
        ck_assert_ptr_null(in.contact_ids);
        json_decref(b);
    }
    json_t *list = json_array();
    for (int i = 0; i < 10001; i++)
        json_array_append_new(list, json_string("cid_x"));
    json_t *b = json_pack("{s:o}", "contactIds", list);
    Od__AudienceMembersRequest in;
    ck_assert_int_eq(audiences_json_member_ids(b, &in, err, sizeof err), -1);
    ck_assert_str_eq(err, "contactIds must hold at most 10000 ids (got 10001)");
    json_array_remove(list, 0);
    ck_assert_int_eq(audiences_json_member_ids(b, &in, err, sizeof err), 0);
    ck_assert_uint_eq(in.n_contact_ids, 10000);
    audiences_json_member_ids_free(&in);
    json_decref(b);
}
END_TEST

START_TEST(audience_json)
{
    Od__Audience a = OD__AUDIENCE__INIT;
    a.id = (char *)"aud_1";
    a.name = (char *)"Mumbai";
    a.contact_count = 3;
    a.created_at = (char *)"2026-01-01T00:00:00.000Z";
    a.updated_at = (char *)"2026-01-02T00:00:00.000Z";
    assert_dump(audiences_json_audience(&a),
                "{\"contactCount\":3,\"createdAt\":\"2026-01-01T00:00:00.000Z\",\"description\":"
                "null,\"id\":\"aud_1\",\"name\":\"Mumbai\",\"updatedAt\":\"2026-01-02T00:00:00."
                "000Z\"}");
    a.description = (char *)"Premium";
    json_t *v = audiences_json_audience(&a);
    ck_assert_str_eq(json_string_value(json_object_get(v, "description")), "Premium");
    json_decref(v);
}
END_TEST

START_TEST(member_replies)
{
    char *missing[] = {(char *)"cid_x", (char *)"junk"};
    Od__AddMembersReply add = OD__ADD_MEMBERS_REPLY__INIT;
    add.added = 2;
    add.already_members = 1;
    add.not_found = missing;
    add.n_not_found = 2;
    add.contact_count = 7;
    assert_dump(audiences_json_add_reply(&add),
                "{\"added\":2,\"alreadyMembers\":1,\"contactCount\":7,\"notFound\":[\"cid_x\","
                "\"junk\"]}");
    Od__RemoveMembersReply rm = OD__REMOVE_MEMBERS_REPLY__INIT;
    rm.removed = 1;
    rm.not_members = 4;
    assert_dump(audiences_json_remove_reply(&rm),
                "{\"contactCount\":0,\"notFound\":[],\"notMembers\":4,\"removed\":1}");
}
END_TEST

/* Issue 14: every problem of a body is listed (field, message), the first is the message. */
static void assert_two_problems(struct body_problems *p, const char *f0, const char *m0,
                                const char *f1, const char *m1)
{
    ck_assert_int_eq(p->count, 2);
    ck_assert_uint_eq(json_array_size(p->details), 2);
    ck_assert_str_eq(p->first, m0);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(p->details, 0), "field")), f0);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(p->details, 0), "message")),
                     m0);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(p->details, 1), "field")), f1);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(p->details, 1), "message")),
                     m1);
    body_problems_free(p);
}

START_TEST(every_problem_is_listed)
{
    struct body_problems p;
    Od__CreateAudienceRequest create;
    Od__UpdateAudienceRequest update;
    Od__AudienceMembersRequest members;
    json_t *b = load("{\"description\":[]}");
    body_problems_init(&p);
    ck_assert_int_eq(audiences_json_create_problems(b, &create, &p), -1);
    assert_two_problems(&p, "name", "name is required", "description",
                        "description must be a string");
    json_decref(b);
    b = load("{\"name\":null,\"description\":7}");
    body_problems_init(&p);
    ck_assert_int_eq(audiences_json_update_problems(b, &update, &p), -1);
    assert_two_problems(&p, "name", "name must be a string", "description",
                        "description must be a string");
    json_decref(b);
    b = load("{\"contactIds\":[5,\"cid_ok\",null]}");
    body_problems_init(&p);
    ck_assert_int_eq(audiences_json_member_ids_problems(b, &members, &p), -1);
    ck_assert_ptr_null(members.contact_ids);
    assert_two_problems(&p, "contactIds[0]", "contactIds[0] must be a string", "contactIds[2]",
                        "contactIds[2] must be a string");
    json_decref(b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("audiences_json");
    TCase *tc = tcase_create("mapping");
    tcase_add_test(tc, create_ok_and_defaults);
    tcase_add_test(tc, create_errors_name_the_field);
    tcase_add_test(tc, update_flags);
    tcase_add_test(tc, member_ids_ok);
    tcase_add_test(tc, member_ids_errors);
    tcase_add_test(tc, audience_json);
    tcase_add_test(tc, member_replies);
    tcase_add_test(tc, every_problem_is_listed);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
