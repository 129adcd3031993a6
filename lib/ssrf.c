/* Outbound address policy: a webhook URL is the customer's input, so without a check it could
 * point our servers at the database, the cloud metadata service (169.254.169.254) or anything
 * else on the private network. Addresses are judged after DNS, both at registration (here) and
 * on the socket curl is about to connect (deliveries.c), so a name that later re-resolves to a
 * private address (DNS rebinding) is still refused. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ssrf.h"

/* The refused ranges are the IANA special-purpose address registries (iana-ipv4-special-registry
 * and iana-ipv6-special-registry, as of 2025), every entry whose "Globally Reachable" is False
 * or N/A, plus multicast and (IPv4) the reserved class E. Entries that are globally reachable
 * anycast services (192.31.196.0/24 AS112, 192.52.193.0/24 AMT, 192.175.48.0/24, 2001:1::1-3,
 * 2001:3::/32, 2001:4:112::/48, 2001:20::/28, 2001:30::/28, 2620:4f:8000::/48) are not webhook
 * receivers either, but they are public: they stay allowed, as the registries say. Prefixes
 * that carry an IPv4 address (::ffff:0:0/96, ::/96, 64:ff9b::/96, 2002::/16) are judged by
 * the IPv4 address they carry. tests/unit/test_ssrf.c checks each entry at both ends. */

/* One refused IPv4 range: network, prefix length, name. */
static const struct {
    uint32_t net;
    int prefix;
    const char *name;
} ssrf_v4_ranges[] = {
    {0x00000000u, 8, "unspecified"},   /* 0.0.0.0/8 "this network" (RFC 791) */
    {0x0a000000u, 8, "private"},       /* 10.0.0.0/8 (RFC 1918) */
    {0x64400000u, 10, "private"},      /* 100.64.0.0/10 shared, carrier-grade NAT (RFC 6598) */
    {0x7f000000u, 8, "loopback"},      /* 127.0.0.0/8 (RFC 1122) */
    {0xa9fe0000u, 16, "link-local"},   /* 169.254.0.0/16 (RFC 3927; cloud metadata lives here) */
    {0xac100000u, 12, "private"},      /* 172.16.0.0/12 (RFC 1918) */
    {0xc0000000u, 24, "reserved"},     /* 192.0.0.0/24 IETF protocol assignments (RFC 6890) */
    {0xc0000200u, 24, "documentation"}, /* 192.0.2.0/24 TEST-NET-1 (RFC 5737) */
    {0xc0586300u, 24, "reserved"},     /* 192.88.99.0/24 deprecated 6to4 relay anycast (RFC 7526) */
    {0xc0a80000u, 16, "private"},      /* 192.168.0.0/16 (RFC 1918) */
    {0xc6120000u, 15, "benchmarking"}, /* 198.18.0.0/15 (RFC 2544) */
    {0xc6336400u, 24, "documentation"}, /* 198.51.100.0/24 TEST-NET-2 (RFC 5737) */
    {0xcb007100u, 24, "documentation"}, /* 203.0.113.0/24 TEST-NET-3 (RFC 5737) */
    {0xe0000000u, 4, "multicast"},     /* 224.0.0.0/4 (RFC 5771) */
    {0xf0000000u, 4, "reserved"},      /* 240.0.0.0/4 (RFC 1112), 255.255.255.255/32 broadcast */
};

/* One refused IPv6 range: prefix bytes, prefix length, name. */
static const struct {
    unsigned char net[16];
    int prefix;
    const char *name;
} ssrf_v6_ranges[] = {
    {{0x00, 0x64, 0xff, 0x9b, 0x00, 0x01}, 48, "reserved"},  /* 64:ff9b:1::/48 local NAT64 (RFC 8215) */
    {{0x01, 0x00}, 64, "reserved"},                          /* 100::/64 discard-only (RFC 6666) */
    {{0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01}, 64, "reserved"}, /* 100:0:0:1::/64 dummy (RFC 9780) */
    {{0x20, 0x01, 0x00, 0x00}, 32, "reserved"},              /* 2001::/32 Teredo (RFC 4380) */
    {{0x20, 0x01, 0x00, 0x02, 0x00, 0x00}, 48, "benchmarking"}, /* 2001:2::/48 (RFC 5180) */
    {{0x20, 0x01, 0x00, 0x10}, 28, "reserved"},              /* 2001:10::/28 ORCHID (RFC 4843) */
    {{0x20, 0x01, 0x0d, 0xb8}, 32, "documentation"},         /* 2001:db8::/32 (RFC 3849) */
    {{0x3f, 0xff}, 20, "documentation"},                     /* 3fff::/20 (RFC 9637) */
    {{0x5f, 0x00}, 16, "reserved"},                          /* 5f00::/16 segment routing SIDs (RFC 9602) */
    {{0xfc}, 7, "private"},                                  /* fc00::/7 unique local (RFC 4193) */
    {{0xfe, 0x80}, 10, "link-local"},                        /* fe80::/10 (RFC 4291) */
    {{0xfe, 0xc0}, 10, "private"},                           /* fec0::/10 deprecated site-local (RFC 3879) */
    {{0xff}, 8, "multicast"},                                /* ff00::/8 (RFC 4291) */
};

static const char *ssrf_v4_class(uint32_t a)
{
    for (size_t i = 0; i < sizeof ssrf_v4_ranges / sizeof ssrf_v4_ranges[0]; i++) {
        uint32_t mask = 0xffffffffu << (32 - ssrf_v4_ranges[i].prefix);
        if ((a & mask) == ssrf_v4_ranges[i].net)
            return ssrf_v4_ranges[i].name;
    }
    return NULL;
}

static int ssrf_prefix_match(const unsigned char *a, const unsigned char *net, int bits)
{
    for (int i = 0; bits > 0; i++, bits -= 8) {
        unsigned char mask = bits >= 8 ? 0xff : (unsigned char)(0xff << (8 - bits));
        if ((a[i] & mask) != (net[i] & mask))
            return 0;
    }
    return 1;
}

static uint32_t ssrf_v4_at(const unsigned char *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

const char *ssrf_address_class(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        return ssrf_v4_class(ntohl(in->sin_addr.s_addr));
    }
    if (sa->sa_family == AF_INET6) {
        const unsigned char *b = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
        static const unsigned char zero[16], mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        static const unsigned char nat64[12] = {0x00, 0x64, 0xff, 0x9b};
        if (memcmp(b, zero, 16) == 0)
            return "unspecified";
        if (memcmp(b, zero, 15) == 0 && b[15] == 1)
            return "loopback";
        /* ::ffff:a.b.c.d, ::a.b.c.d (deprecated compatible form) and 64:ff9b::a.b.c.d carry an
         * IPv4 address: judge that one. */
        if (memcmp(b, mapped, 12) == 0 || memcmp(b, zero, 12) == 0 || memcmp(b, nat64, 12) == 0)
            return ssrf_v4_class(ssrf_v4_at(b + 12));
        /* 2002:a.b.c.d::/48, 6to4: the relay delivers to the embedded IPv4 address. */
        if (b[0] == 0x20 && b[1] == 0x02)
            return ssrf_v4_class(ssrf_v4_at(b + 2));
        for (size_t i = 0; i < sizeof ssrf_v6_ranges / sizeof ssrf_v6_ranges[0]; i++)
            if (ssrf_prefix_match(b, ssrf_v6_ranges[i].net, ssrf_v6_ranges[i].prefix))
                return ssrf_v6_ranges[i].name;
        return NULL;
    }
    return "unspecified";
}

/* The address bytes of sa (4 or 16) and its family; IPv4-mapped IPv6 becomes IPv4. */
static int ssrf_address_bytes(const struct sockaddr *sa, unsigned char out[16])
{
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (sa->sa_family == AF_INET) {
        memcpy(out, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return AF_INET;
    }
    if (sa->sa_family == AF_INET6) {
        const unsigned char *b = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
        if (memcmp(b, mapped, 12) == 0) {
            memcpy(out, b + 12, 4);
            return AF_INET;
        }
        memcpy(out, b, 16);
        return AF_INET6;
    }
    return -1;
}

static int ssrf_cidr_contains(const struct ssrf_cidr *c, int family, const unsigned char *a)
{
    int bits = c->prefix;
    if (c->family != family)
        return 0;
    for (int i = 0; bits > 0; i++, bits -= 8) {
        unsigned char mask = bits >= 8 ? 0xff : (unsigned char)(0xff << (8 - bits));
        if ((a[i] & mask) != (c->addr[i] & mask))
            return 0;
    }
    return 1;
}

int ssrf_policy_parse(const char *text, struct ssrf_policy *policy, char *err, size_t err_size)
{
    char *copy = strdup(text ? text : ""), *save = NULL, *item;
    int rc = 0;
    memset(policy, 0, sizeof *policy);
    if (copy == NULL) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    for (item = strtok_r(copy, ", ", &save); item != NULL; item = strtok_r(NULL, ", ", &save)) {
        struct ssrf_cidr c = {0};
        char *slash = strchr(item, '/'), *end;
        long prefix;
        if (policy->n == SSRF_ALLOW_MAX) {
            snprintf(err, err_size, "at most %d CIDRs", SSRF_ALLOW_MAX);
            rc = -1;
            break;
        }
        if (slash != NULL)
            *slash = '\0';
        if (inet_pton(AF_INET, item, c.addr) == 1)
            c.family = AF_INET;
        else if (inet_pton(AF_INET6, item, c.addr) == 1)
            c.family = AF_INET6;
        else {
            snprintf(err, err_size, "'%s' is not an IP address", item);
            rc = -1;
            break;
        }
        prefix = c.family == AF_INET ? 32 : 128;
        if (slash != NULL) {
            long max = prefix;
            prefix = strtol(slash + 1, &end, 10);
            if (slash[1] == '\0' || *end != '\0' || prefix < 0 || prefix > max) {
                snprintf(err, err_size, "'%s/%s' has a bad prefix length", item, slash + 1);
                rc = -1;
                break;
            }
        }
        c.prefix = (int)prefix;
        policy->allow[policy->n++] = c;
    }
    free(copy);
    return rc;
}

const char *ssrf_check_address(const struct ssrf_policy *policy, const struct sockaddr *sa,
                               char *buf, size_t size)
{
    unsigned char bytes[16];
    char text[INET6_ADDRSTRLEN];
    const char *cls = ssrf_address_class(sa);
    int family;
    if (cls == NULL)
        return NULL;
    if ((family = ssrf_address_bytes(sa, bytes)) > 0)
        for (int i = 0; i < policy->n; i++)
            if (ssrf_cidr_contains(&policy->allow[i], family, bytes))
                return NULL;
    if (family < 0 || inet_ntop(family, bytes, text, sizeof text) == NULL)
        snprintf(text, sizeof text, "?");
    snprintf(buf, size, "%s is %s %s address", text,
             (cls[0] == 'u') ? "an" : "a", cls);
    return buf;
}

static int ssrf_check_url_as(const struct ssrf_policy *policy, const char *url, char *err,
                             size_t err_size, bool unresolved_passes)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL, reason[160];
    struct addrinfo hints, *list = NULL;
    int rc = -1, gai;

    if (u == NULL) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        snprintf(err, err_size, "url must be an absolute http or https URL");
        goto out;
    }
    if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
        snprintf(err, err_size, "url must use http or https");
        goto out;
    }
    if (curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK ||
        strtol(port, NULL, 10) <= 0) {
        snprintf(err, err_size, "url has a bad port");
        goto out;
    }
    /* "[::1]" -> "::1" for getaddrinfo. */
    if (host[0] == '[') {
        size_t len = strlen(host);
        memmove(host, host + 1, len - 1);
        host[len - 2] = '\0';
    }
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if ((gai = getaddrinfo(host, port, &hints, &list)) != 0 || list == NULL) {
        snprintf(err, err_size, "url host %s does not resolve (%s)", host, gai_strerror(gai));
        if (unresolved_passes)
            rc = 0;
        goto out;
    }
    for (struct addrinfo *ai = list; ai != NULL; ai = ai->ai_next) {
        char text[INET6_ADDRSTRLEN];
        const char *cls;
        if (ssrf_check_address(policy, ai->ai_addr, reason, sizeof reason) == NULL)
            continue;
        cls = ssrf_address_class(ai->ai_addr);
        if (getnameinfo(ai->ai_addr, ai->ai_addrlen, text, sizeof text, NULL, 0,
                        NI_NUMERICHOST) != 0 || strcmp(text, host) == 0)
            snprintf(err, err_size, "url is not allowed: %s", reason);
        else
            snprintf(err, err_size, "url is not allowed: %s resolves to %s, which is %s %s address",
                     host, text, cls[0] == 'u' ? "an" : "a", cls);
        goto out;
    }
    rc = 0;
out:
    if (list != NULL)
        freeaddrinfo(list);
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return rc;
}

int ssrf_check_url(const struct ssrf_policy *policy, const char *url, char *err,
                   size_t err_size)
{
    return ssrf_check_url_as(policy, url, err, err_size, false);
}

int ssrf_check_url_at_submit(const struct ssrf_policy *policy, const char *url, char *err,
                             size_t err_size)
{
    return ssrf_check_url_as(policy, url, err, err_size, true);
}
