/* dialer-svc/rules.c: carrier statuses onto ours, and the TwiML of an answered call. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "dialer.h"
#include "od_names.h"

START_TEST(test_status_map)
{
    static const struct {
        const char *word, *answered_by, *status, *outcome;
        bool terminal;
    } cases[] = {
        {"queued", NULL, CALL_INITIATED, NULL, false},
        {"initiated", NULL, CALL_INITIATED, NULL, false},
        {"ringing", NULL, CALL_RINGING, NULL, false},
        {"in-progress", "human", CALL_IN_PROGRESS, NULL, false},
        {"completed", "human", CALL_COMPLETED, OUTCOME_COMPLETED, true},
        {"completed", NULL, CALL_COMPLETED, OUTCOME_COMPLETED, true},
        {"completed", "machine_end_beep", CALL_VOICEMAIL, OUTCOME_VOICEMAIL, true},
        {"completed", "machine_start", CALL_VOICEMAIL, OUTCOME_VOICEMAIL, true},
        {"completed", "fax", CALL_VOICEMAIL, OUTCOME_VOICEMAIL, true},
        {"completed", "unknown", CALL_COMPLETED, OUTCOME_COMPLETED, true},
        {"busy", NULL, CALL_BUSY, OUTCOME_BUSY, true},
        {"no-answer", NULL, CALL_NO_ANSWER, OUTCOME_NO_ANSWER, true},
        {"failed", NULL, CALL_FAILED, OUTCOME_FAILED, true},
        {"canceled", NULL, CALL_CANCELED, OUTCOME_CANCELED, true},
    };
    struct dialer_status_map m;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ck_assert_int_eq(dialer_map_status(cases[i].word, cases[i].answered_by, &m), 0);
        ck_assert_str_eq(m.status, cases[i].status);
        ck_assert(m.terminal == cases[i].terminal);
        if (cases[i].outcome)
            ck_assert_str_eq(m.outcome, cases[i].outcome);
        else
            ck_assert_ptr_null(m.outcome);
        ck_assert_int_eq(m.rank, dialer_status_rank(m.status));
        ck_assert(dialer_status_terminal(m.status) == m.terminal);
    }
    ck_assert_int_eq(dialer_map_status("bogus", NULL, &m), -1);
    ck_assert_int_eq(dialer_map_status(NULL, NULL, &m), -1);
    ck_assert_int_eq(dialer_status_rank(CALL_QUEUED), 0);
    ck_assert_int_eq(dialer_status_rank(CALL_TIMED_OUT), 9);
    ck_assert_int_eq(dialer_status_rank("nope"), -1);
    ck_assert(dialer_status_rank(CALL_RINGING) < dialer_status_rank(CALL_IN_PROGRESS));
}
END_TEST

START_TEST(test_xml_escape)
{
    char buf[64];
    size_t len = 0;
    ck_assert_int_eq(dialer_xml_append(buf, sizeof buf, &len, "a<b>&\"c'\x01", true), 0);
    ck_assert_str_eq(buf, "a&lt;b&gt;&amp;&quot;c&apos;");
    len = 0;
    ck_assert_int_eq(dialer_xml_append(buf, 8, &len, "<<<<<", true), -1);
}
END_TEST

START_TEST(test_twiml_stream)
{
    struct dialer_twiml_input in = {
        .call_id = "call_abc",
        .runtime_url = "wss://agent.example/stream?a=1&b=2",
        .first_message = "hi",
        .outcome_url = "http://gw/v1/calls/call_abc/outcome",
        .outcome_token = "otk_x",
        .variables_json = "{\"name\":\"Priya <\\\"P\\\">\",\"n\":3,\"callId\":\"spoof\",\"z\":null}",
    };
    char *x = dialer_twiml(&in);
    ck_assert_ptr_nonnull(x);
    ck_assert_str_eq(
        x, "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Connect>"
           "<Stream url=\"wss://agent.example/stream?a=1&amp;b=2\">"
           "<Parameter name=\"callId\" value=\"call_abc\"/>"
           "<Parameter name=\"outcomeUrl\" value=\"http://gw/v1/calls/call_abc/outcome\"/>"
           "<Parameter name=\"outcomeToken\" value=\"otk_x\"/>"
           "<Parameter name=\"name\" value=\"Priya &lt;&quot;P&quot;&gt;\"/>"
           "<Parameter name=\"n\" value=\"3\"/>"
           "</Stream></Connect></Response>");
    free(x);
}
END_TEST

START_TEST(test_twiml_fallback_and_growth)
{
    struct dialer_twiml_input in = {.call_id = "call_abc", .runtime_url = "",
                                    .first_message = "Hello & welcome"};
    char *x = dialer_twiml(&in);
    ck_assert_str_eq(x, "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Say>Hello &amp; "
                        "welcome</Say><Hangup/></Response>");
    free(x);
    in.first_message = NULL;
    x = dialer_twiml(&in);
    ck_assert_ptr_nonnull(strstr(x, "<Say>Hello."));
    free(x);
    /* variables far larger than the first buffer */
    size_t n = 20000;
    char *vars = malloc(n + 32);
    strcpy(vars, "{\"big\":\"");
    memset(vars + 8, '&', n);
    strcpy(vars + 8 + n, "\"}");
    in.runtime_url = "wss://x";
    in.outcome_url = "u";
    in.outcome_token = "t";
    in.variables_json = vars;
    x = dialer_twiml(&in);
    ck_assert_ptr_nonnull(x);
    ck_assert_uint_gt(strlen(x), n * 5);
    ck_assert_ptr_nonnull(strstr(x, "</Response>"));
    free(x);
    free(vars);
}
END_TEST

START_TEST(test_token_hash)
{
    char h[65];
    dialer_token_hash("abc", h);
    ck_assert_str_eq(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("dialer_rules");
    TCase *tc = tcase_create("rules");
    tcase_add_test(tc, test_status_map);
    tcase_add_test(tc, test_xml_escape);
    tcase_add_test(tc, test_twiml_stream);
    tcase_add_test(tc, test_twiml_fallback_and_growth);
    tcase_add_test(tc, test_token_hash);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
