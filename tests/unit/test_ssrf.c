/* The outbound address policy (webhook-svc/ssrf.c) against the IANA special-purpose address
 * registries: every refused entry is checked at its first and last address, and the addresses
 * just outside it are public. Issue 13 found 64:ff9b:1::/48, 2002::/16 (with its embedded
 * IPv4), 2001::/32, 100::/64, the three IPv4 documentation nets, 198.18.0.0/15 and port 0
 * let through. */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "ssrf.h"

static const char *classify(const char *text)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    if (strchr(text, ':') != NULL) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        in6->sin6_family = AF_INET6;
        ck_assert_msg(inet_pton(AF_INET6, text, &in6->sin6_addr) == 1, "bad test address %s", text);
    } else {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        in->sin_family = AF_INET;
        ck_assert_msg(inet_pton(AF_INET, text, &in->sin_addr) == 1, "bad test address %s", text);
    }
    const char *c = ssrf_address_class((struct sockaddr *)&ss);
    return c ? c : "public";
}

/* {first address, last address, class, an address just below or NULL, just above or NULL} */
static const char *const registry[][5] = {
    /* iana-ipv4-special-registry, entries not globally reachable */
    {"0.0.0.0", "0.255.255.255", "unspecified", NULL, "1.0.0.0"},
    {"10.0.0.0", "10.255.255.255", "private", "9.255.255.255", "11.0.0.0"},
    {"100.64.0.0", "100.127.255.255", "private", "100.63.255.255", "100.128.0.0"},
    {"127.0.0.0", "127.255.255.255", "loopback", "126.255.255.255", "128.0.0.0"},
    {"169.254.0.0", "169.254.255.255", "link-local", "169.253.255.255", "169.255.0.0"},
    {"172.16.0.0", "172.31.255.255", "private", "172.15.255.255", "172.32.0.0"},
    {"192.0.0.0", "192.0.0.255", "reserved", "191.255.255.255", "192.0.1.0"},
    {"192.0.2.0", "192.0.2.255", "documentation", "192.0.1.255", "192.0.3.0"},
    {"192.88.99.0", "192.88.99.255", "reserved", "192.88.98.255", "192.88.100.0"},
    {"192.168.0.0", "192.168.255.255", "private", "192.167.255.255", "192.169.0.0"},
    {"198.18.0.0", "198.19.255.255", "benchmarking", "198.17.255.255", "198.20.0.0"},
    {"198.51.100.0", "198.51.100.255", "documentation", "198.51.99.255", "198.51.101.0"},
    {"203.0.113.0", "203.0.113.255", "documentation", "203.0.112.255", "203.0.114.0"},
    {"224.0.0.0", "239.255.255.255", "multicast", "223.255.255.255", NULL},
    {"240.0.0.0", "255.255.255.254", "reserved", NULL, NULL},
    {"255.255.255.255", "255.255.255.255", "reserved", NULL, NULL},
    /* iana-ipv6-special-registry */
    {"::1", "::1", "loopback", NULL, NULL},
    {"::", "::", "unspecified", NULL, NULL},
    {"64:ff9b:1::", "64:ff9b:1:ffff:ffff:ffff:ffff:ffff", "reserved", "64:ff9b:0:ffff::1",
     "64:ff9b:2::1"},
    {"100::", "100::ffff:ffff:ffff:ffff", "reserved", "ff:ffff::1", "100:0:0:2::1"},
    {"100:0:0:1::", "100:0:0:1:ffff:ffff:ffff:ffff", "reserved", NULL, NULL},
    {"2001::", "2001:0:ffff:ffff:ffff:ffff:ffff:ffff", "reserved", "2000:ffff::1", NULL},
    {"2001:2::", "2001:2:0:ffff:ffff:ffff:ffff:ffff", "benchmarking", NULL, "2001:2:1::1"},
    {"2001:10::", "2001:1f:ffff:ffff:ffff:ffff:ffff:ffff", "reserved", NULL, "2001:20::1"},
    {"2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", "documentation", "2001:db7::1",
     "2001:db9::1"},
    {"3fff::", "3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff", "documentation", "3ffe:ffff::1",
     "3fff:1000::1"},
    {"5f00::", "5f00:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "reserved", "5eff::1", "5f01::1"},
    {"fc00::", "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "private", "fbff::1", "fe00::1"},
    {"fe80::", "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "link-local", NULL, NULL},
    {"fec0::", "feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "private", NULL, NULL},
    {"ff00::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "multicast", NULL, NULL},
};

START_TEST(each_registry_entry)
{
    for (size_t i = 0; i < sizeof registry / sizeof registry[0]; i++) {
        for (int end = 0; end < 2; end++)
            ck_assert_msg(strcmp(classify(registry[i][end]), registry[i][2]) == 0,
                          "%s: %s, expected %s", registry[i][end], classify(registry[i][end]),
                          registry[i][2]);
        for (int side = 3; side < 5; side++)
            if (registry[i][side] != NULL)
                ck_assert_msg(strcmp(classify(registry[i][side]), "public") == 0,
                              "%s (outside %s): %s, expected public", registry[i][side],
                              registry[i][0], classify(registry[i][side]));
    }
}
END_TEST

/* Globally reachable entries of the registries stay allowed. */
START_TEST(globally_reachable_entries_pass)
{
    static const char *const pass[] = {
        "192.31.196.1", "192.52.193.1", "192.175.48.1", "2001:1::1", "2001:3::1",
        "2001:4:112::1", "2001:20::1", "2620:4f:8000::1", "8.8.8.8", "2606:4700::1111",
        "64:ff9b::808:808", /* well-known NAT64 of 8.8.8.8 */
    };
    for (size_t i = 0; i < sizeof pass / sizeof pass[0]; i++)
        ck_assert_msg(strcmp(classify(pass[i]), "public") == 0, "%s: %s", pass[i],
                      classify(pass[i]));
}
END_TEST

/* Forms that carry an IPv4 address are judged by it. */
START_TEST(embedded_ipv4)
{
    static const char *const cases[][2] = {
        {"2002:7f00:1::1", "loopback"},        /* 6to4 of 127.0.0.1 */
        {"2002:a9fe:a9fe::", "link-local"},    /* 6to4 of 169.254.169.254 */
        {"2002:c0a8:101::1", "private"},       /* 6to4 of 192.168.1.1 */
        {"2002:c000:201::1", "documentation"}, /* 6to4 of 192.0.2.1 */
        {"2002:808:808::1", "public"},         /* 6to4 of 8.8.8.8 */
        {"::ffff:198.18.0.1", "benchmarking"},
        {"64:ff9b::c633:6401", "documentation"}, /* NAT64 of 198.51.100.1 */
        {"::10.0.0.1", "private"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        ck_assert_msg(strcmp(classify(cases[i][0]), cases[i][1]) == 0, "%s: %s, expected %s",
                      cases[i][0], classify(cases[i][0]), cases[i][1]);
}
END_TEST

START_TEST(port_zero_refused)
{
    struct ssrf_policy p;
    char err[300];
    ck_assert_int_eq(ssrf_policy_parse("", &p, err, sizeof err), 0);
    ck_assert_int_eq(ssrf_check_url(&p, "http://8.8.8.8:0/hook", err, sizeof err), -1);
    ck_assert_int_eq(ssrf_check_url(&p, "https://[2001:db8::1]/hook", err, sizeof err), -1);
    ck_assert_msg(strstr(err, "documentation") != NULL, "%s", err);
    ck_assert_int_eq(ssrf_check_url(&p, "http://[2002:7f00:1::1]:8080/", err, sizeof err), -1);
    ck_assert_msg(strstr(err, "loopback") != NULL, "%s", err);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ssrf");
    TCase *tc = tcase_create("registry");
    tcase_add_test(tc, each_registry_entry);
    tcase_add_test(tc, globally_reachable_entries_pass);
    tcase_add_test(tc, embedded_ipv4);
    tcase_add_test(tc, port_zero_refused);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
