/* Benchmark client: snapshots one audience through contacts-svc's ListAudienceMembers RPC the
 * way campaign-svc will (keyset pages in contact id order) and prints the rate.
 *
 *   list_audience RPC_URL ORG_ID AUDIENCE_ID [PAGE_SIZE]
 *
 * Output: "RESULT audience_snapshot_rpc <rows/s> rows/s" plus a comment line with the row and
 * page counts. Exits 1 if a call fails or the ids are not strictly increasing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audiences.pb-c.h"
#include "rpc.h"
#include "timefmt.h"

int main(int argc, char **argv)
{
    struct rpc_client *client;
    char after[128] = "";
    long long rows = 0, pages = 0;
    int limit = argc > 4 ? atoi(argv[4]) : 10000, rc = 1;
    int64_t started, elapsed;

    if (argc < 4) {
        fprintf(stderr, "usage: list_audience RPC_URL ORG_ID AUDIENCE_ID [PAGE_SIZE]\n");
        return 2;
    }
    if ((client = rpc_client_open(&od__audiences__descriptor, argv[1])) == NULL)
        return 1;
    for (int i = 0; i < 500 && rpc_client_connected(client) == 0; i++) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    started = time_monotonic_ms();
    for (;;) {
        Od__ListAudienceMembersRequest in = OD__LIST_AUDIENCE_MEMBERS_REQUEST__INIT;
        struct rpc_ctx ctx;
        in.audience_id = argv[3];
        in.after_contact_id = after;
        in.limit = limit;
        rpc_ctx_init(&ctx, argv[2], "bench-list-audience", 60000);
        od__audiences__list_audience_members(rpc_client_service(client), &in, NULL, &ctx);
        if (ctx.status != OD__STATUS__OK) {
            fprintf(stderr, "ListAudienceMembers: %s: %s\n", rpc_status_name(ctx.status),
                    ctx.message);
            rpc_ctx_release(&ctx);
            goto out;
        }
        Od__ListAudienceMembersReply *r = (Od__ListAudienceMembersReply *)ctx.reply;
        for (size_t i = 0; i < r->n_contacts; i++) {
            if (strcmp(r->contacts[i]->id, after) <= 0) {
                fprintf(stderr, "ids out of order at row %lld\n", rows);
                rpc_ctx_release(&ctx);
                goto out;
            }
            snprintf(after, sizeof after, "%s", r->contacts[i]->id);
            rows++;
        }
        pages++;
        int done = r->next_after_contact_id[0] == '\0';
        rpc_ctx_release(&ctx);
        if (done)
            break;
    }
    elapsed = time_monotonic_ms() - started;
    printf("# list_audience: %lld rows in %lld pages of up to %d, %lld ms\n", rows, pages, limit,
           (long long)elapsed);
    printf("RESULT audience_snapshot_rpc %lld rows/s\n",
           rows * 1000 / (elapsed > 0 ? elapsed : 1));
    rc = 0;
out:
    rpc_client_close(client);
    return rc;
}
