/* gateway/campaigns_json.c and gateway/leads_json.c: every dialect's reference examples map
 * onto the right od.CampaignInput, problems are collected and named, status words round-trip,
 * and lead uploads (CSV, JSON leads, CSV in JSON) map with their errors. */
#include <check.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "campaigns_json.h"
#include "leads_json.h"

static json_t *parse(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    ck_assert_msg(j != NULL, "bad test JSON: %s", e.text);
    return j;
}

/* Maps text; asserts that it is accepted. The body stays alive in *keep (caller decrefs). */
static void map_ok(const char *text, enum campaigns_dialect d, enum campaigns_write w,
                   struct campaigns_input *out, json_t **keep)
{
    struct body_problems p;
    body_problems_init(&p);
    *keep = parse(text);
    int rc = campaigns_json_input(*keep, d, w, out, &p);
    ck_assert_msg(rc == 0, "rejected: %s", p.first);
    ck_assert_int_eq(p.count, 0);
    body_problems_free(&p);
}

/* Maps text; asserts that it is rejected with n problems, the first mentioning `part`. */
static void map_bad(const char *text, enum campaigns_dialect d, enum campaigns_write w, int n,
                    const char *part, const char *field)
{
    struct body_problems p;
    struct campaigns_input out;
    struct api_response res = {0};
    json_t *body = parse(text);
    body_problems_init(&p);
    ck_assert_int_eq(campaigns_json_input(body, d, w, &out, &p), -1);
    ck_assert_msg(p.count == n, "%d problems, expected %d (first: %s)", p.count, n, p.first);
    ck_assert_msg(strstr(p.first, part) != NULL, "'%s' should mention '%s'", p.first, part);
    body_problems_answer(&p, &res);
    ck_assert_uint_eq(res.status, 400);
    json_t *details = json_object_get(res.body, "details");
    ck_assert_uint_eq(json_array_size(details), (size_t)n);
    if (field != NULL)
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(details, 0), "field")),
                         field);
    ck_assert_str_eq(json_string_value(json_object_get(res.body, "error")), "Bad Request");
    json_decref(res.body);
    json_decref(body);
}

/* ---------------- reference examples ---------------- */

START_TEST(oliai_000_walkthrough)
{
    struct campaigns_input c;
    json_t *keep;
    map_ok("{\"name\": \"Mumbai Outreach - March\", \"audienceId\": \"aud_abc123\","
           " \"flowId\": \"flow_xyz789\", \"callsPerMinute\": 5, \"maxConcurrentCalls\": 3,"
           " \"maxRetries\": 2}",
           CAMPAIGNS_V1, CAMPAIGNS_CREATE, &c, &keep);
    ck_assert_str_eq(c.in.name, "Mumbai Outreach - March");
    ck_assert(c.in.set_name);
    ck_assert_str_eq(c.in.flow_id, "flow_xyz789");
    ck_assert_str_eq(c.in.audience_id, "aud_abc123");
    ck_assert(c.in.set_calls_per_minute && c.in.calls_per_minute == 5);
    ck_assert(c.in.set_max_concurrent_calls && c.in.max_concurrent_calls == 3);
    ck_assert(c.in.set_max_retries && c.in.max_retries == 2);
    /* unset fields are left to the service's defaults */
    ck_assert(!c.in.set_retry_delay_minutes && !c.in.set_call_timeout_minutes);
    ck_assert(!c.in.set_scheduled_at && !c.in.set_timezone && !c.in.set_window);
    json_decref(keep);
}
END_TEST

START_TEST(oliai_001_create)
{
    struct campaigns_input c;
    json_t *keep;
    map_ok("{\"name\": \"Mumbai Outreach - March 2026\", \"flowId\": \"flow_xyz789\","
           " \"audienceId\": \"aud_abc123\", \"callsPerMinute\": 10, \"maxConcurrentCalls\": 5,"
           " \"maxRetries\": 2, \"scheduledAt\": \"2026-03-15T09:00:00Z\","
           " \"timezone\": \"Asia/Kolkata\"}",
           CAMPAIGNS_V1, CAMPAIGNS_CREATE, &c, &keep);
    ck_assert_str_eq(c.in.scheduled_at, "2026-03-15T09:00:00Z");
    ck_assert(c.in.set_scheduled_at);
    ck_assert_str_eq(c.in.timezone, "Asia/Kolkata");
    ck_assert(c.in.set_timezone);
    ck_assert_int_eq(c.in.calls_per_minute, 10);
    ck_assert_int_eq(c.in.max_retries, 2);
    json_decref(keep);
}
END_TEST

START_TEST(osmtalk_003_create)
{
    struct campaigns_input c;
    json_t *keep;
    map_ok("{\"name\": \"Q2 Renewals\", \"agentId\": \"agent_xxx\", \"phoneNumberId\": \"pn_xxx\","
           " \"agentVersion\": 7, \"maxConcurrent\": 5,"
           " \"scheduledStartAt\": \"2026-05-08T09:00:00+05:30\","
           " \"schedule\": {\"timezone\": \"Asia/Kolkata\", \"windowStart\": \"09:00\","
           "   \"windowEnd\": \"19:00\", \"weekdays\": [1,2,3,4,5]},"
           " \"retryPolicy\": {\"maxAttempts\": 3, \"backoffMinutes\": 60,"
           "   \"retryOn\": [\"no_answer\", \"busy\"]},"
           " \"webhookUrl\": \"https://your-crm/webhooks/osmtalk\"}",
           CAMPAIGNS_OSMTALK, CAMPAIGNS_CREATE, &c, &keep);
    ck_assert_str_eq(c.in.flow_id, "agent_xxx");
    ck_assert_str_eq(c.in.phone_number_id, "pn_xxx");
    ck_assert(c.in.set_agent_version && c.in.agent_version == 7);
    ck_assert(c.in.set_max_concurrent_calls && c.in.max_concurrent_calls == 5);
    ck_assert_str_eq(c.in.scheduled_at, "2026-05-08T09:00:00+05:30");
    ck_assert_str_eq(c.in.timezone, "Asia/Kolkata");
    ck_assert(c.in.set_window);
    ck_assert_str_eq(c.in.window_start, "09:00");
    ck_assert_str_eq(c.in.window_end, "19:00");
    ck_assert(c.in.set_weekdays);
    ck_assert_uint_eq(c.in.n_weekdays, 5);
    ck_assert_int_eq(c.in.weekdays[0], 1);
    ck_assert_int_eq(c.in.weekdays[4], 5);
    ck_assert(c.in.set_max_retries && c.in.max_retries == 2); /* 3 attempts = 2 retries */
    ck_assert(c.in.set_retry_delay_minutes && c.in.retry_delay_minutes == 60);
    ck_assert(c.in.set_retry_on);
    ck_assert_uint_eq(c.in.n_retry_on, 2);
    ck_assert_str_eq(c.in.retry_on[0], "no_answer");
    ck_assert_str_eq(c.in.retry_on[1], "busy");
    ck_assert_str_eq(c.in.webhook_url, "https://your-crm/webhooks/osmtalk");
    ck_assert(!c.in.set_audience_id);
    json_decref(keep);
}
END_TEST

START_TEST(outboundcalls_004_create)
{
    struct campaigns_input c;
    json_t *keep;
    map_ok("{\"name\": \"Q1 Sales Outreach\", \"agent_id\": \"agent_abc123\","
           " \"contact_list_id\": \"list_xyz789\","
           " \"schedule\": {\"start_date\": \"2026-03-25\","
           "   \"calling_hours\": {\"start\": \"09:00\", \"end\": \"18:00\"},"
           "   \"timezone\": \"Europe/London\"},"
           " \"retry_rules\": {\"max_attempts\": 3, \"delay_minutes\": 60},"
           " \"concurrent_calls\": 20}",
           CAMPAIGNS_V1, CAMPAIGNS_CREATE, &c, &keep);
    ck_assert_str_eq(c.in.flow_id, "agent_abc123");
    ck_assert_str_eq(c.in.audience_id, "list_xyz789");
    ck_assert(c.in.set_start_date);
    ck_assert_str_eq(c.in.start_date, "2026-03-25");
    ck_assert_str_eq(c.in.window_start, "09:00");
    ck_assert_str_eq(c.in.window_end, "18:00");
    ck_assert_str_eq(c.in.timezone, "Europe/London");
    ck_assert_int_eq(c.in.max_retries, 2);
    ck_assert_int_eq(c.in.retry_delay_minutes, 60);
    ck_assert_int_eq(c.in.max_concurrent_calls, 20);
    json_decref(keep);
}
END_TEST

START_TEST(flow_id_aliases)
{
    static const char *const bodies[] = {
        "{\"name\":\"a\",\"flowId\":\"agent_1\"}",
        "{\"name\":\"a\",\"agentId\":\"agent_1\"}",
        "{\"name\":\"a\",\"agent_id\":\"agent_1\"}",
    };
    for (size_t i = 0; i < 3; i++) {
        struct campaigns_input c;
        json_t *keep;
        map_ok(bodies[i], CAMPAIGNS_V1, CAMPAIGNS_CREATE, &c, &keep);
        ck_assert_str_eq(c.in.flow_id, "agent_1");
        ck_assert(c.in.set_flow_id);
        json_decref(keep);
    }
    map_bad("{\"name\":\"a\",\"flowId\":\"agent_1\",\"agent_id\":\"agent_2\"}", CAMPAIGNS_V1,
            CAMPAIGNS_CREATE, 1, "flowId and agent_id", "agent_id");
}
END_TEST

/* ---------------- problems ---------------- */

START_TEST(create_requires_name_and_flow)
{
    map_bad("{}", CAMPAIGNS_V1, CAMPAIGNS_CREATE, 2, "name is required", "name");
    map_bad("{\"name\":\"x\"}", CAMPAIGNS_OSMTALK, CAMPAIGNS_CREATE, 1, "agentId is required",
            "agentId");
}
END_TEST

START_TEST(unknown_patch_key_is_named)
{
    map_bad("{\"phone_number\": \"+15550001111\"}", CAMPAIGNS_V1, CAMPAIGNS_UPDATE, 1,
            "phone_number is not a field", "phone_number");
    map_bad("{\"maxConcurrentCalls\": 3}", CAMPAIGNS_OSMTALK, CAMPAIGNS_UPDATE, 1,
            "maxConcurrentCalls is not a field", "maxConcurrentCalls");
    map_bad("{\"schedule\": {\"windowBegin\": \"09:00\"}}", CAMPAIGNS_V1, CAMPAIGNS_UPDATE, 1,
            "schedule.windowBegin is not a field", "schedule.windowBegin");
    map_bad("{}", CAMPAIGNS_V1, CAMPAIGNS_UPDATE, 1, "names no field", NULL);
}
END_TEST

START_TEST(every_problem_is_listed)
{
    map_bad("{\"name\": 5, \"flowId\": \"agent_1\", \"callsPerMinute\": \"fast\","
            " \"maxConcurrentCalls\": 51, \"schedule\": {\"windowStart\": \"9am\","
            " \"windowEnd\": \"18:00\", \"weekdays\": [0]}, \"webhookUrl\": \"ftp://x\","
            " \"bogus\": true}",
            CAMPAIGNS_V1, CAMPAIGNS_CREATE, 7, "bogus is not a field", "bogus");
}
END_TEST

START_TEST(update_sets_only_given_fields)
{
    struct campaigns_input c;
    json_t *keep;
    map_ok("{\"maxRetries\": 0, \"scheduledAt\": null, \"timezone\": null,"
           " \"schedule\": {\"weekdays\": null}}",
           CAMPAIGNS_V1, CAMPAIGNS_UPDATE, &c, &keep);
    ck_assert(c.in.set_max_retries && c.in.max_retries == 0);
    ck_assert(c.in.set_scheduled_at);
    ck_assert_str_eq(c.in.scheduled_at, "");
    ck_assert(c.in.set_timezone);
    ck_assert(c.in.set_weekdays && c.in.n_weekdays == 0);
    ck_assert(!c.in.set_name && !c.in.set_flow_id && !c.in.set_window);
    json_decref(keep);

    map_bad("{\"name\": null}", CAMPAIGNS_V1, CAMPAIGNS_UPDATE, 1, "name cannot be null",
            "name");
    map_bad("{\"maxRetries\": 2, \"retryPolicy\": {\"maxAttempts\": 4}}", CAMPAIGNS_V1,
            CAMPAIGNS_UPDATE, 1, "maxRetries and retryPolicy.maxAttempts", NULL);
    map_bad("{\"schedule\": {\"windowStart\": \"09:00\"}}", CAMPAIGNS_OSMTALK,
            CAMPAIGNS_UPDATE, 1, "go together", NULL);
}
END_TEST

START_TEST(osmtalk_put_partial)
{
    struct campaigns_input c;
    json_t *keep;
    map_ok("{\"maxConcurrent\": 9, \"scheduledStartAt\": \"2030-01-01T09:00:00Z\"}",
           CAMPAIGNS_OSMTALK, CAMPAIGNS_UPDATE, &c, &keep);
    ck_assert(c.in.set_max_concurrent_calls && c.in.max_concurrent_calls == 9);
    ck_assert(c.in.set_scheduled_at);
    ck_assert(!c.in.set_name);
    json_decref(keep);
}
END_TEST

/* ---------------- status words ---------------- */

START_TEST(status_words_round_trip)
{
    static const char *const canonical[] = {"DRAFT",     "SCHEDULED", "IN_PROGRESS", "PAUSED",
                                            "COMPLETED", "FAILED",    "CANCELLED"};
    static const char *const osmtalk[] = {"draft",     "scheduled", "running", "paused",
                                          "completed", "failed",    "stopped"};
    for (size_t i = 0; i < 7; i++) {
        ck_assert_str_eq(campaigns_status_out(CAMPAIGNS_OSMTALK, canonical[i]), osmtalk[i]);
        ck_assert_str_eq(campaigns_status_out(CAMPAIGNS_V1, canonical[i]), canonical[i]);
        ck_assert_str_eq(campaigns_status_in(CAMPAIGNS_OSMTALK, osmtalk[i]), canonical[i]);
        ck_assert_str_eq(campaigns_status_in(CAMPAIGNS_V1, canonical[i]), canonical[i]);
    }
    ck_assert_str_eq(campaigns_status_in(CAMPAIGNS_V1, "in_progress"), "IN_PROGRESS");
    ck_assert_ptr_null(campaigns_status_in(CAMPAIGNS_OSMTALK, "walking"));
    ck_assert_str_eq(campaigns_lead_status_out(CAMPAIGNS_OSMTALK, "SKIPPED"), "skipped");
    ck_assert_str_eq(campaigns_lead_status_in(CAMPAIGNS_OSMTALK, "pending"), "PENDING");

    char msg[128];
    campaigns_dialect_message(CAMPAIGNS_OSMTALK,
                              "cannot pause a campaign in status CANCELLED (from IN_PROGRESS)",
                              msg, sizeof msg);
    ck_assert_str_eq(msg, "cannot pause a campaign in status stopped (from running)");
    campaigns_dialect_message(CAMPAIGNS_V1, "status DRAFT", msg, sizeof msg);
    ck_assert_str_eq(msg, "status DRAFT");
    campaigns_dialect_message(CAMPAIGNS_OSMTALK, "NOT_FOUND DRAFTS", msg, sizeof msg);
    ck_assert_str_eq(msg, "NOT_FOUND DRAFTS");
}
END_TEST

/* ---------------- replies ---------------- */

START_TEST(campaign_object_as_in_001)
{
    Od__Campaign c = OD__CAMPAIGN__INIT;
    c.id = "camp_def456";
    c.name = "Mumbai Outreach - March 2026";
    c.status = "IN_PROGRESS";
    c.flow_id = "flow_xyz789";
    c.audience_id = "aud_abc123";
    c.calls_per_minute = 10;
    c.max_concurrent_calls = 5;
    c.max_retries = 3;
    c.retry_delay_minutes = 5;
    c.call_timeout_minutes = 5;
    c.organization_id = "org_1";
    c.created_at = "2026-03-10T09:00:00.000Z";
    c.updated_at = "2026-03-10T09:05:00.000Z";
    c.started_at = "2026-03-10T09:05:00.000Z";
    json_t *o = campaigns_json_campaign(&c, CAMPAIGNS_V1);
    static const char *const keys[] = {"id", "name", "status", "flowId", "audienceId",
                                       "callsPerMinute", "maxConcurrentCalls", "maxRetries",
                                       "retryDelayMinutes", "callTimeoutMinutes", "scheduledAt",
                                       "timezone", "organizationId", "createdAt", "startedAt",
                                       "completedAt"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        ck_assert_msg(json_object_get(o, keys[i]) != NULL, "no %s", keys[i]);
    ck_assert(json_is_null(json_object_get(o, "scheduledAt")));
    ck_assert(json_is_null(json_object_get(o, "timezone")));
    ck_assert(json_is_null(json_object_get(o, "completedAt")));
    ck_assert_str_eq(json_string_value(json_object_get(o, "status")), "IN_PROGRESS");
    ck_assert_str_eq(json_string_value(json_object_get(o, "organizationId")), "org_1");
    ck_assert_int_eq(json_integer_value(json_object_get(
                         json_object_get(o, "retryPolicy"), "maxAttempts")),
                     4);
    json_decref(o);

    o = campaigns_json_campaign(&c, CAMPAIGNS_OSMTALK);
    ck_assert_str_eq(json_string_value(json_object_get(o, "status")), "running");
    ck_assert_str_eq(json_string_value(json_object_get(o, "agentId")), "flow_xyz789");
    ck_assert_int_eq(json_integer_value(json_object_get(o, "maxConcurrent")), 5);
    ck_assert(json_is_null(json_object_get(o, "scheduledStartAt")));
    json_decref(o);
}
END_TEST

START_TEST(progress_has_exactly_001_fields)
{
    Od__Progress p = OD__PROGRESS__INIT;
    p.status = "IN_PROGRESS";
    p.total = 250;
    p.pending = 180;
    p.queued = 5;
    p.in_progress = 5;
    p.completed = 55;
    p.failed = 5;
    p.cancelled = 1;
    p.percent_complete = 24;
    json_t *o = campaigns_json_progress(&p, CAMPAIGNS_V1);
    json_t *want = parse("{\"status\": \"IN_PROGRESS\", \"total\": 250, \"pending\": 180,"
                         " \"queued\": 5, \"inProgress\": 5, \"completed\": 55, \"failed\": 5,"
                         " \"skipped\": 0, \"percentComplete\": 24}");
    ck_assert_msg(json_equal(o, want), "progress differs");
    json_decref(o);
    json_decref(want);
}
END_TEST

START_TEST(report_counts)
{
    Od__Campaign c = OD__CAMPAIGN__INIT;
    Od__CountEntry s1 = OD__COUNT_ENTRY__INIT, s2 = OD__COUNT_ENTRY__INIT,
                   d1 = OD__COUNT_ENTRY__INIT;
    Od__CountEntry *by_status[] = {&s1, &s2}, *by_disposition[] = {&d1};
    Od__Report r = OD__REPORT__INIT;
    c.id = "camp_1";
    c.status = "CANCELLED";
    s1.key = "COMPLETED";
    s1.count = 3;
    s2.key = "CANCELLED";
    s2.count = 2;
    d1.key = "interested";
    d1.count = 1;
    r.campaign = &c;
    r.by_status = by_status;
    r.n_by_status = 2;
    r.by_disposition = by_disposition;
    r.n_by_disposition = 1;
    json_t *o = campaigns_json_report(&r, CAMPAIGNS_OSMTALK);
    json_t *counts = json_object_get(o, "counts");
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(counts, "byStatus"),
                                                        "completed")),
                     3);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(counts, "byStatus"),
                                                        "cancelled")),
                     2);
    ck_assert_int_eq(json_integer_value(json_object_get(
                         json_object_get(counts, "byDisposition"), "interested")),
                     1);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(o, "campaign"), "status")),
                     "stopped");
    json_decref(o);
}
END_TEST

/* ---------------- leads ---------------- */

START_TEST(leads_csv_003_example)
{
    static const char csv[] = "phone,first_name,company\n+919876543210,Arjun,Acme\n"
                              "+919876543211,Meera,BlueLeaf";
    struct leads_upload u;
    char err[256];
    ck_assert_int_eq(leads_csv_upload(csv, strlen(csv), &u, err, sizeof err), 0);
    ck_assert_uint_eq(u.req.n_leads, 2);
    ck_assert_str_eq(u.req.leads[0]->phone_number, "+919876543210");
    ck_assert_str_eq(u.req.leads[0]->name, "Arjun");
    json_t *vars = parse(u.req.leads[0]->variables_json);
    ck_assert_str_eq(json_string_value(json_object_get(vars, "first_name")), "Arjun");
    ck_assert_str_eq(json_string_value(json_object_get(vars, "company")), "Acme");
    ck_assert_ptr_null(json_object_get(vars, "phone"));
    json_decref(vars);
    ck_assert_str_eq(u.req.leads[1]->invalid_reason, "");
    ck_assert_uint_eq(u.lines[1], 3);
    leads_upload_free(&u);
}
END_TEST

START_TEST(leads_csv_errors)
{
    struct leads_upload u;
    char err[256];
    static const char no_phone[] = "name,company\nA,B\n";
    ck_assert_int_eq(leads_csv_upload(no_phone, strlen(no_phone), &u, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "phone") != NULL, "%s", err);
    static const char unterminated[] = "phone,name\n+15550001111,\"open\n";
    ck_assert_int_eq(leads_csv_upload(unterminated, strlen(unterminated), &u, err, sizeof err),
                     -1);
    static const char header_only[] = "phone,name\n";
    ck_assert_int_eq(leads_csv_upload(header_only, strlen(header_only), &u, err, sizeof err),
                     -1);
    static const char bad_row[] = "phone,name\n+15550001111,A\n+15550001112,B,extra\n";
    ck_assert_int_eq(leads_csv_upload(bad_row, strlen(bad_row), &u, err, sizeof err), 0);
    ck_assert_uint_eq(u.req.n_leads, 2);
    ck_assert_str_eq(u.req.leads[0]->invalid_reason, "");
    ck_assert_msg(strstr(u.req.leads[1]->invalid_reason, "line 3") != NULL, "%s",
                  u.req.leads[1]->invalid_reason);
    ck_assert_str_eq(u.req.leads[1]->phone_number, "+15550001112");
    leads_upload_free(&u);
}
END_TEST

START_TEST(leads_json_formats)
{
    struct leads_upload u;
    char err[256];
    json_t *body = parse("{\"leads\": [{\"phoneNumber\": \"+919876543210\", \"variables\":"
                         " {\"first_name\": \"Arjun\"}}, {\"phoneNumber\": \"+919876543211\","
                         " \"variables\": {\"first_name\": \"Meera\"}}, {\"name\": \"x\"},"
                         " {\"phone_number\": \"+15550001111\", \"plan\": \"gold\"}, 7]}");
    ck_assert_int_eq(leads_json_upload(body, &u, err, sizeof err), 0);
    json_decref(body); /* the upload owns copies */
    ck_assert_uint_eq(u.req.n_leads, 5);
    ck_assert_str_eq(u.req.leads[0]->phone_number, "+919876543210");
    ck_assert_str_eq(u.req.leads[0]->variables_json, "{\"first_name\":\"Arjun\"}");
    ck_assert_str_eq(u.req.leads[1]->invalid_reason, "");
    ck_assert_str_eq(u.req.leads[2]->invalid_reason, "leads[2].phoneNumber is required");
    ck_assert_str_eq(u.req.leads[3]->phone_number, "+15550001111");
    ck_assert_str_eq(u.req.leads[3]->variables_json, "{\"plan\":\"gold\"}");
    ck_assert_str_eq(u.req.leads[4]->invalid_reason, "leads[4] must be an object");
    ck_assert_ptr_null(u.lines);
    leads_upload_free(&u);

    body = parse("{\"csv\": \"phone,first_name\\n+919876543210,Arjun\"}");
    ck_assert_int_eq(leads_json_upload(body, &u, err, sizeof err), 0);
    json_decref(body);
    ck_assert_uint_eq(u.req.n_leads, 1);
    ck_assert_str_eq(u.req.leads[0]->name, "Arjun");
    leads_upload_free(&u);

    static const char *const bad[] = {"{}", "{\"leads\": []}", "{\"leads\": {}}",
                                      "{\"csv\": 5}", "{\"leads\": [], \"csv\": \"\"}",
                                      "{\"rows\": []}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        body = parse(bad[i]);
        ck_assert_msg(leads_json_upload(body, &u, err, sizeof err) == -1, "%s accepted",
                      bad[i]);
        json_decref(body);
    }
}
END_TEST

static Suite *campaigns_json_suite(void)
{
    Suite *s = suite_create("campaigns_json");
    TCase *tc = tcase_create("mapping");
    tcase_add_test(tc, oliai_000_walkthrough);
    tcase_add_test(tc, oliai_001_create);
    tcase_add_test(tc, osmtalk_003_create);
    tcase_add_test(tc, outboundcalls_004_create);
    tcase_add_test(tc, flow_id_aliases);
    tcase_add_test(tc, create_requires_name_and_flow);
    tcase_add_test(tc, unknown_patch_key_is_named);
    tcase_add_test(tc, every_problem_is_listed);
    tcase_add_test(tc, update_sets_only_given_fields);
    tcase_add_test(tc, osmtalk_put_partial);
    tcase_add_test(tc, status_words_round_trip);
    tcase_add_test(tc, campaign_object_as_in_001);
    tcase_add_test(tc, progress_has_exactly_001_fields);
    tcase_add_test(tc, report_counts);
    tcase_add_test(tc, leads_csv_003_example);
    tcase_add_test(tc, leads_csv_errors);
    tcase_add_test(tc, leads_json_formats);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(campaigns_json_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
