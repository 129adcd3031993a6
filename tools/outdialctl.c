/* outdialctl: operator commands that go straight to a service over nng (no HTTP, no API key).
 * `./outdial credits grant` and `./outdial org create --credits` run it.
 *
 *   outdialctl credits-grant ORG_ID N [--url tcp://HOST:PORT[,...]] [--reason grant|opening]
 *   outdialctl credits-balance ORG_ID [--url tcp://HOST:PORT[,...]]
 *
 * --url defaults to $CAMPAIGN_SVC_URL, then tcp://127.0.0.1:7102 (the local stack's
 * campaign-svc). On success it prints the organization's balance as one JSON line,
 *   {"orgId": "org_...", "balance": N, "granted": N, "used": N, "lowThreshold": N}
 * and exits 0; otherwise it prints the status and message on stderr and exits 1 (2: usage).
 *
 * Credits.Grant is organization-scoped through the RPC envelope: its org_id is the
 * organization credited. A grant is not idempotent: a failure that may have reached the
 * service (a timeout) says so, and is not retried here. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "campaigns.pb-c.h"
#include "common.pb-c.h"
#include "rpc.h"

#define DEFAULT_URL "tcp://127.0.0.1:7102"
#define CONNECT_WAIT_MS 10000
#define CALL_TIMEOUT_MS 10000

static void usage(void)
{
    fprintf(stderr,
            "usage: outdialctl credits-grant ORG_ID N [--url tcp://HOST:PORT[,...]] "
            "[--reason grant|opening]\n"
            "       outdialctl credits-balance ORG_ID [--url tcp://HOST:PORT[,...]]\n"
            "--url defaults to $CAMPAIGN_SVC_URL, then " DEFAULT_URL "\n");
}

/* A positive whole number of minutes, at most 10^12 (a typo guard, not a business rule). */
static int parse_amount(const char *s, int64_t *out)
{
    char *end;
    long long v;
    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || v <= 0 || v > 1000000000000LL)
        return -1;
    *out = (int64_t)v;
    return 0;
}

/* Organization ids are printed into JSON: accept only what an id can hold. */
static int valid_org_id(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return 0;
    for (const char *p = s; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

static int wait_connected(struct rpc_client *client, const char *url)
{
    for (int waited = 0; rpc_client_connected(client) == 0; waited += 20) {
        struct timespec ts = {0, 20 * 1000 * 1000};
        if (waited >= CONNECT_WAIT_MS) {
            fprintf(stderr, "outdialctl: campaign-svc not reachable at %s after %d s\n", url,
                    CONNECT_WAIT_MS / 1000);
            return -1;
        }
        nanosleep(&ts, NULL);
    }
    return 0;
}

static void print_balance(const char *org_id, const Od__CreditBalance *b)
{
    printf("{\"orgId\": \"%s\", \"balance\": %" PRId64 ", \"granted\": %" PRId64
           ", \"used\": %" PRId64 ", \"lowThreshold\": %" PRId64 "}\n",
           org_id, b->balance, b->granted, b->used, b->low_threshold);
}

int main(int argc, char **argv)
{
    const char *cmd, *org_id, *url = NULL, *reason = "grant";
    int64_t amount = 0;
    int grant, argi, rc = 1;

    if (argc < 3) {
        usage();
        return 2;
    }
    cmd = argv[1];
    org_id = argv[2];
    if (strcmp(cmd, "credits-grant") == 0) {
        grant = 1;
        if (argc < 4 || parse_amount(argv[3], &amount) != 0) {
            fprintf(stderr, "outdialctl: N must be a whole number of minutes, 1 or more\n");
            usage();
            return 2;
        }
        argi = 4;
    } else if (strcmp(cmd, "credits-balance") == 0) {
        grant = 0;
        argi = 3;
    } else {
        usage();
        return 2;
    }
    for (; argi < argc; argi++) {
        if (strcmp(argv[argi], "--url") == 0 && argi + 1 < argc) {
            url = argv[++argi];
        } else if (grant && strcmp(argv[argi], "--reason") == 0 && argi + 1 < argc) {
            reason = argv[++argi];
            if (strcmp(reason, "grant") != 0 && strcmp(reason, "opening") != 0) {
                fprintf(stderr, "outdialctl: --reason is grant or opening\n");
                return 2;
            }
        } else {
            usage();
            return 2;
        }
    }
    if (!valid_org_id(org_id)) {
        fprintf(stderr, "outdialctl: not an organization id: %s\n", org_id);
        return 2;
    }
    if (url == NULL || *url == '\0')
        url = getenv("CAMPAIGN_SVC_URL");
    if (url == NULL || *url == '\0')
        url = DEFAULT_URL;

    struct rpc_client *client = rpc_client_open(NULL, url);
    if (client == NULL) {
        fprintf(stderr, "outdialctl: cannot open an RPC client for %s\n", url);
        return 1;
    }
    if (wait_connected(client, url) != 0) {
        rpc_client_close(client);
        return 1;
    }
    ProtobufCService *svc = rpc_client_service_for(client, &od__credits__descriptor);
    struct rpc_ctx ctx;
    rpc_ctx_init(&ctx, org_id, "cli", CALL_TIMEOUT_MS);
    if (svc == NULL) {
        fprintf(stderr, "outdialctl: cannot register od.Credits on the client\n");
    } else {
        if (grant) {
            Od__CreditAmountRequest req = OD__CREDIT_AMOUNT_REQUEST__INIT;
            req.amount = amount;
            req.reason = (char *)reason;
            od__credits__grant(svc, &req, NULL, &ctx);
        } else {
            Od__Empty req = OD__EMPTY__INIT;
            od__credits__balance(svc, &req, NULL, &ctx);
        }
        if (ctx.status == OD__STATUS__OK && ctx.reply != NULL) {
            print_balance(org_id, (const Od__CreditBalance *)ctx.reply);
            rc = 0;
        } else {
            fprintf(stderr, "outdialctl: %s %s: %s%s%s\n", grant ? "Credits.Grant" : "Credits.Balance",
                    org_id, rpc_status_name(ctx.status), ctx.message[0] ? ": " : "", ctx.message);
            if (grant && ctx.status == OD__STATUS__UNAVAILABLE)
                fprintf(stderr, "outdialctl: the grant may or may not have been applied: check "
                                "with credits-balance before trying again\n");
        }
    }
    rpc_ctx_release(&ctx);
    rpc_client_close(client);
    return rc;
}
