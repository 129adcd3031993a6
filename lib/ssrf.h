/* Which destination addresses outbound requests may reach (ssrf.c): the checks at
 * registration (webhook-svc's endpoints, the gateway's import webhookUrl) and on every socket
 * webhook-svc's dispatcher opens. One policy, one allow-list setting (WEBHOOK_ALLOW_CIDRS),
 * read by every process that checks. */
#ifndef OD_SSRF_H
#define OD_SSRF_H

#include <stddef.h>
#include <sys/socket.h>

#define SSRF_ALLOW_MAX 32

struct ssrf_cidr {
    int family;            /* AF_INET or AF_INET6 */
    unsigned char addr[16];
    int prefix;
};

/* The operator's allow-list (WEBHOOK_ALLOW_CIDRS): addresses in it pass even when they are in
 * a refused range. */
struct ssrf_policy {
    int n;
    struct ssrf_cidr allow[SSRF_ALLOW_MAX];
};

/* Parses "127.0.0.0/8,::1/128" ("" allows nothing extra). 0, or -1 with err filled. */
int ssrf_policy_parse(const char *text, struct ssrf_policy *policy, char *err, size_t err_size);
/* The refused range an address falls in ("loopback", "private", "link-local", "multicast",
 * "unspecified", "reserved", "documentation", "benchmarking"), or NULL for a public address.
 * The ranges are the IANA special-purpose registries' entries that are not globally reachable
 * (ssrf.c lists them). IPv6 forms that carry an IPv4 address (mapped, compatible, 64:ff9b::/96
 * NAT64, 2002::/16 6to4) are judged as that IPv4 address. */
const char *ssrf_address_class(const struct sockaddr *sa);
/* NULL when policy lets sa be reached; else a reason such as "10.1.2.3 is a private address"
 * written into buf. */
const char *ssrf_check_address(const struct ssrf_policy *policy, const struct sockaddr *sa,
                               char *buf, size_t size);
/* Checks a URL as given at registration: http or https, a host, a port other than 0, and every
 * address the host
 * resolves to allowed. 0, or -1 with the reason in err ("url resolves to 10.0.0.1, a private
 * address"). Blocks on DNS. */
int ssrf_check_url(const struct ssrf_policy *policy, const char *url, char *err,
                   size_t err_size);
/* ssrf_check_url for a URL checked again on every delivery (an import's webhookUrl, at
 * submit): a host that does not resolve now passes (the delivery's socket check judges
 * whatever it resolves to later); a refused literal address, a refused resolved one, a bad
 * scheme or port 0 do not. */
int ssrf_check_url_at_submit(const struct ssrf_policy *policy, const char *url, char *err,
                             size_t err_size);

#endif
