/* webhook-svc's pure parts: Standard Webhooks signatures (the published test vector), the
 * retry schedule and Retry-After, and the outbound address policy. */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deliveries.h"
#include "schedule.h"
#include "signing.h"
#include "ssrf.h"

/* ---------------- signing ---------------- */

static const char vector_secret[] = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
static const char vector_id[] = "msg_p5jXN8AQM9LWM0D4loKWxJek";
static const char vector_body[] = "{\"test\": 2432232314}";
static const char vector_signature[] = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

START_TEST(sign_known_vector)
{
    char sig[WEBHOOK_SIGNATURE_MAX];
    ck_assert_int_eq(webhook_sign(vector_secret, vector_id, 1614265330, vector_body,
                                  strlen(vector_body), sig, sizeof sig), 0);
    ck_assert_str_eq(sig, vector_signature);
}
END_TEST

START_TEST(sign_changes_with_every_part)
{
    char a[WEBHOOK_SIGNATURE_MAX], b[WEBHOOK_SIGNATURE_MAX];
    webhook_sign(vector_secret, vector_id, 1614265330, vector_body, strlen(vector_body), a, sizeof a);
    webhook_sign(vector_secret, vector_id, 1614265331, vector_body, strlen(vector_body), b, sizeof b);
    ck_assert_str_ne(a, b);
    webhook_sign(vector_secret, "msg_other", 1614265330, vector_body, strlen(vector_body), b, sizeof b);
    ck_assert_str_ne(a, b);
    webhook_sign(vector_secret, vector_id, 1614265330, "{\"test\": 2432232315}",
                 strlen(vector_body), b, sizeof b);
    ck_assert_str_ne(a, b);
}
END_TEST

START_TEST(sign_rejects_bad_secret)
{
    char sig[WEBHOOK_SIGNATURE_MAX];
    ck_assert_int_eq(webhook_sign("whsec_not base64!", "m", 1, "{}", 2, sig, sizeof sig), -1);
    ck_assert_int_eq(webhook_sign("whsec_", "m", 1, "{}", 2, sig, sizeof sig), -1);
    ck_assert_int_eq(webhook_sign(vector_secret, "m", 1, "{}", 2, sig, 10), -1);
}
END_TEST

START_TEST(signature_header_carries_both_secrets)
{
    char fresh[WEBHOOK_SECRET_MAX], own[WEBHOOK_SIGNATURE_MAX];
    webhook_secret_new(fresh, sizeof fresh);
    ck_assert_int_eq(strncmp(fresh, "whsec_", 6), 0);
    ck_assert_uint_eq(strlen(fresh), 6 + 32);
    char *one = webhook_signature_header(vector_secret, NULL, vector_id, 1614265330,
                                         vector_body, strlen(vector_body));
    ck_assert_str_eq(one, vector_signature);
    char *two = webhook_signature_header(fresh, vector_secret, vector_id, 1614265330,
                                         vector_body, strlen(vector_body));
    webhook_sign(fresh, vector_id, 1614265330, vector_body, strlen(vector_body), own, sizeof own);
    char expected[2 * WEBHOOK_SIGNATURE_MAX + 2];
    snprintf(expected, sizeof expected, "%s %s", own, vector_signature);
    ck_assert_str_eq(two, expected);
    free(one);
    free(two);
}
END_TEST

/* ---------------- schedule ---------------- */

START_TEST(schedule_parses_default_and_custom)
{
    struct retry_schedule s;
    char err[256];
    ck_assert_int_eq(retry_schedule_parse(RETRY_SCHEDULE_DEFAULT, &s, err, sizeof err), 0);
    ck_assert_int_eq(s.n, 8);
    ck_assert(s.delays[0] == 0 && s.delays[1] == 5 && s.delays[2] == 300 &&
              s.delays[7] == 36000);
    ck_assert_int_eq(retry_schedule_parse(" 0, 0.5 ,1", &s, err, sizeof err), 0);
    ck_assert_int_eq(s.n, 3);
    ck_assert(s.delays[1] == 0.5);
}
END_TEST

START_TEST(schedule_rejects_junk)
{
    struct retry_schedule s;
    char err[256];
    const char *bad[] = {"", "1,,2", "1,", "a", "-1", "1;2", "5 6", "99999999", NULL};
    for (int i = 0; bad[i] != NULL; i++)
        ck_assert_msg(retry_schedule_parse(bad[i], &s, err, sizeof err) == -1,
                      "'%s' accepted", bad[i]);
}
END_TEST

START_TEST(schedule_next_jitter_and_retry_after)
{
    struct retry_schedule s;
    char err[256];
    retry_schedule_parse("0,10,100", &s, err, sizeof err);
    /* After 1 failed attempt: 10 s +-20%. */
    ck_assert(retry_schedule_next(&s, 1, 0, 0.2, 0.5) == 10);
    ck_assert(retry_schedule_next(&s, 1, 0, 0.2, 0.0) == 8);
    double hi = retry_schedule_next(&s, 1, 0, 0.2, 0.999999);
    ck_assert(hi > 11.99 && hi < 12.0);
    /* Retry-After wins when later. */
    ck_assert(retry_schedule_next(&s, 1, 60, 0.2, 0.5) == 60);
    ck_assert(retry_schedule_next(&s, 2, 60, 0, 0.5) == 100);
    /* Out of attempts. */
    ck_assert(retry_schedule_next(&s, 3, 0, 0.2, 0.5) < 0);
}
END_TEST

START_TEST(retry_after_forms)
{
    ck_assert(retry_after_parse("120", 0) == 120);
    ck_assert(retry_after_parse(" 3 ", 0) == 3);
    ck_assert(retry_after_parse("soon", 0) < 0);
    ck_assert(retry_after_parse("", 0) < 0);
    /* Wed, 21 Oct 2015 07:28:00 GMT = 1445412480 */
    ck_assert(retry_after_parse("Wed, 21 Oct 2015 07:28:00 GMT", 1445412480 - 30) == 30);
    ck_assert(retry_after_parse("Wed, 21 Oct 2015 07:28:00 GMT", 1445412480 + 30) == 0);
}
END_TEST

/* ---------------- address policy ---------------- */

static const char *classify(const char *text)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    if (strchr(text, ':') != NULL) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        in6->sin6_family = AF_INET6;
        ck_assert_int_eq(inet_pton(AF_INET6, text, &in6->sin6_addr), 1);
    } else {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        in->sin_family = AF_INET;
        ck_assert_int_eq(inet_pton(AF_INET, text, &in->sin_addr), 1);
    }
    const char *c = ssrf_address_class((struct sockaddr *)&ss);
    return c ? c : "public";
}

START_TEST(address_classes)
{
    static const char *const cases[][2] = {
        {"127.0.0.1", "loopback"},     {"127.255.1.2", "loopback"},
        {"10.1.2.3", "private"},       {"172.16.0.1", "private"},
        {"172.31.255.255", "private"}, {"172.32.0.1", "public"},
        {"192.168.1.1", "private"},    {"100.64.0.1", "private"},
        {"169.254.169.254", "link-local"}, {"0.0.0.0", "unspecified"},
        {"224.0.0.1", "multicast"},    {"239.255.255.250", "multicast"},
        {"255.255.255.255", "reserved"}, {"8.8.8.8", "public"},
        {"93.184.216.34", "public"},   {"::", "unspecified"},
        {"::1", "loopback"},           {"fe80::1", "link-local"},
        {"fc00::1", "private"},        {"fd12:3456::1", "private"},
        {"ff02::1", "multicast"},      {"::ffff:127.0.0.1", "loopback"},
        {"::ffff:10.0.0.1", "private"}, {"::ffff:8.8.8.8", "public"},
        {"64:ff9b::a9fe:a9fe", "link-local"}, {"2606:4700::1111", "public"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        ck_assert_msg(strcmp(classify(cases[i][0]), cases[i][1]) == 0, "%s: %s, expected %s",
                      cases[i][0], classify(cases[i][0]), cases[i][1]);
}
END_TEST

START_TEST(allow_list)
{
    struct ssrf_policy p;
    struct sockaddr_in in = {.sin_family = AF_INET};
    struct sockaddr_in6 in6 = {.sin6_family = AF_INET6};
    char err[256], reason[160];
    ck_assert_int_eq(ssrf_policy_parse("127.0.0.0/8, ::1/128,10.9.0.0/16", &p, err, sizeof err), 0);
    ck_assert_int_eq(p.n, 3);
    inet_pton(AF_INET, "127.0.0.1", &in.sin_addr);
    ck_assert_ptr_null(ssrf_check_address(&p, (struct sockaddr *)&in, reason, sizeof reason));
    inet_pton(AF_INET, "10.9.200.1", &in.sin_addr);
    ck_assert_ptr_null(ssrf_check_address(&p, (struct sockaddr *)&in, reason, sizeof reason));
    inet_pton(AF_INET, "10.10.0.1", &in.sin_addr);
    ck_assert_str_eq(ssrf_check_address(&p, (struct sockaddr *)&in, reason, sizeof reason),
                     "10.10.0.1 is a private address");
    inet_pton(AF_INET, "169.254.169.254", &in.sin_addr);
    ck_assert_str_eq(ssrf_check_address(&p, (struct sockaddr *)&in, reason, sizeof reason),
                     "169.254.169.254 is a link-local address");
    inet_pton(AF_INET6, "::1", &in6.sin6_addr);
    ck_assert_ptr_null(ssrf_check_address(&p, (struct sockaddr *)&in6, reason, sizeof reason));
    inet_pton(AF_INET6, "::ffff:127.0.0.5", &in6.sin6_addr); /* mapped: the IPv4 rule applies */
    ck_assert_ptr_null(ssrf_check_address(&p, (struct sockaddr *)&in6, reason, sizeof reason));
    ck_assert_int_eq(ssrf_policy_parse("", &p, err, sizeof err), 0);
    ck_assert_int_eq(p.n, 0);
    inet_pton(AF_INET, "127.0.0.1", &in.sin_addr);
    ck_assert_str_eq(ssrf_check_address(&p, (struct sockaddr *)&in, reason, sizeof reason),
                     "127.0.0.1 is a loopback address");
    ck_assert_int_eq(ssrf_policy_parse("127.0.0.0/33", &p, err, sizeof err), -1);
    ck_assert_int_eq(ssrf_policy_parse("localhost", &p, err, sizeof err), -1);
    ck_assert_int_eq(ssrf_policy_parse("10.0.0.0/", &p, err, sizeof err), -1);
}
END_TEST

START_TEST(url_checks)
{
    struct ssrf_policy none, loop;
    char err[256];
    ssrf_policy_parse("", &none, err, sizeof err);
    ssrf_policy_parse("127.0.0.0/8", &loop, err, sizeof err);
    ck_assert_int_eq(ssrf_check_url(&none, "http://127.0.0.1:8080/hook", err, sizeof err), -1);
    ck_assert_msg(strstr(err, "loopback") != NULL, "%s", err);
    ck_assert_int_eq(ssrf_check_url(&loop, "http://127.0.0.1:8080/hook", err, sizeof err), 0);
    ck_assert_int_eq(ssrf_check_url(&loop, "http://169.254.169.254/latest", err, sizeof err), -1);
    ck_assert_msg(strstr(err, "link-local") != NULL, "%s", err);
    ck_assert_int_eq(ssrf_check_url(&loop, "https://10.0.0.7/x", err, sizeof err), -1);
    ck_assert_msg(strstr(err, "private") != NULL, "%s", err);
    ck_assert_int_eq(ssrf_check_url(&loop, "http://[::1]/x", err, sizeof err), -1);
    ck_assert_int_eq(ssrf_check_url(&loop, "http://[fe80::1]/x", err, sizeof err), -1);
    ck_assert_int_eq(ssrf_check_url(&loop, "http://0.0.0.0/x", err, sizeof err), -1);
    ck_assert_int_eq(ssrf_check_url(&loop, "ftp://8.8.8.8/x", err, sizeof err), -1);
    ck_assert_int_eq(ssrf_check_url(&loop, "not a url", err, sizeof err), -1);
    /* Numeric forms getaddrinfo accepts are judged by the address they mean. */
    ck_assert_int_eq(ssrf_check_url(&none, "http://2130706433/x", err, sizeof err), -1);
    ck_assert_int_eq(ssrf_check_url(&loop, "http://8.8.8.8/x", err, sizeof err), 0);
}
END_TEST

/* Every curl option a delivery relies on is checked: this libcurl takes them all, and a
 * refused one (the SSRF guard, NOPROXY, the protocols) stops the dispatcher from starting. */
START_TEST(curl_options_checked)
{
    char why[160] = "";
    const char *guards[] = {"CURLOPT_OPENSOCKETFUNCTION", "CURLOPT_OPENSOCKETDATA",
                            "CURLOPT_NOPROXY", "CURLOPT_PROTOCOLS_STR", "CURLOPT_REDIR_PROTOCOLS_STR",
                            "CURLOPT_FOLLOWLOCATION", "CURLOPT_TIMEOUT_MS", "CURLOPT_NOSIGNAL"};
    struct dispatcher_options options = {.database_url = "postgresql://127.0.0.1:1/none",
                                         .max_in_flight = 1, .claim_batch = 1, .poll_ms = 100};

    ck_assert_msg(dispatcher_check_curl(why, sizeof why) == 0, "%s", why);
    for (size_t i = 0; i < sizeof guards / sizeof guards[0]; i++) {
        dispatcher_refuse_option_for_test(guards[i]);
        why[0] = '\0';
        ck_assert_int_eq(dispatcher_check_curl(why, sizeof why), -1);
        ck_assert_msg(strstr(why, guards[i]) != NULL, "%s: %s", guards[i], why);
        ck_assert_ptr_null(dispatcher_start(NULL, &options));
    }
    dispatcher_refuse_option_for_test(NULL);
}
END_TEST

static Suite *webhook_suite(void)
{
    Suite *s = suite_create("webhook_delivery");
    TCase *tc = tcase_create("signing");
    tcase_add_test(tc, sign_known_vector);
    tcase_add_test(tc, sign_changes_with_every_part);
    tcase_add_test(tc, sign_rejects_bad_secret);
    tcase_add_test(tc, signature_header_carries_both_secrets);
    suite_add_tcase(s, tc);
    tc = tcase_create("schedule");
    tcase_add_test(tc, schedule_parses_default_and_custom);
    tcase_add_test(tc, schedule_rejects_junk);
    tcase_add_test(tc, schedule_next_jitter_and_retry_after);
    tcase_add_test(tc, retry_after_forms);
    suite_add_tcase(s, tc);
    tc = tcase_create("address_policy");
    tcase_add_test(tc, address_classes);
    tcase_add_test(tc, allow_list);
    tcase_add_test(tc, url_checks);
    tcase_add_test(tc, curl_options_checked);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(webhook_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
