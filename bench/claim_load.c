/* Benchmark client: lead claims from THREADS concurrent callers, either through campaign-svc's
 * od.Dialing/Claim (each thread its own RPC client, as each dialer replica has) or as the raw
 * `SELECT ... FOR UPDATE SKIP LOCKED` claim statement on a lead-shaped table (each thread its
 * own PostgreSQL connection, the statement prepared).
 *
 *   claim_load rpc CAMPAIGN_RPC_URL DATABASE_URL THREADS CAPACITY TOTAL [finish]
 *   claim_load sql DATABASE_URL TABLE THREADS CAPACITY TOTAL [finish] [campaigns=N]
 *
 * With campaigns=N (sql mode), TABLE's leads belong to campaigns camp_bench_0 ..
 * camp_bench_<N-1> and each claim takes from one of them, in turn (thread i starts at i), as
 * Claim spreads over running campaigns; TABLE's due index then leads with campaign_id.
 * Each thread claims CAPACITY leads at a time until TOTAL leads have been claimed in all, or
 * until its claims come back empty 20 times in a row (10 ms apart). With "finish", every
 * claim is followed, in the same thread, by one UPDATE that marks the claimed leads COMPLETED
 * (campaign.leads in rpc mode, TABLE in sql mode): the same statement in both modes, so that
 * a campaign's maxConcurrentCalls (counted from QUEUED and IN_PROGRESS leads) frees up at once
 * without going through AttemptFinished, whose cost is not the claim's.
 *
 * Output (stdout):
 *   RESULT claim_<mode>_leads <leads/s> leads/s
 *   RESULT claim_<mode>_claims <claims/s> claims/s    (non-empty claims)
 *   # a comment line with the counts, the elapsed time and the time spent inside the claims
 * Exits 1 when a call fails. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "campaigns.pb-c.h"
#include "copytext.h"
#include "db.h"
#include "rpc.h"
#include "timefmt.h"

struct shared {
    const char *mode, *rpc_url, *db_url, *table;
    int capacity;
    long long total;
    int finish;
    int campaigns; /* sql mode: 0 = one queue */
    atomic_llong claimed;
    atomic_llong claims;
    atomic_llong claim_us; /* time inside claim calls, all threads */
    atomic_int failed;
    atomic_llong last_ms;  /* monotonic ms of the last non-empty claim */
    char claim_sql[1024], finish_sql[512];
};

struct worker {
    struct shared *s;
    int index;
    pthread_t thread;
};

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Marks ids (a text[] literal) COMPLETED. 0 or -1. */
static int finish_ids(struct shared *s, struct db *db, const char *ids)
{
    const char *p[] = {ids};
    PGresult *res = db_exec_prepared(db, s->finish_sql, 1, p);
    int rc = db_ok(res) ? 0 : -1;
    if (rc != 0)
        fprintf(stderr, "claim_load finish: %s", PQresultErrorMessage(res));
    PQclear(res);
    return rc;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct shared *s = w->s;
    struct rpc_client *client = NULL;
    struct db *db = db_open(s->db_url, 10000);
    char worker_id[64], cap[16];
    int empty = 0;
    long long turn = w->index;
    bool rpc = strcmp(s->mode, "rpc") == 0;

    snprintf(worker_id, sizeof worker_id, "bench-claim-%d", w->index);
    snprintf(cap, sizeof cap, "%d", s->capacity);
    if (db == NULL) {
        atomic_store(&s->failed, 1);
        return NULL;
    }
    if (rpc) {
        client = rpc_client_open(&od__dialing__descriptor, s->rpc_url);
        for (int i = 0; client != NULL && i < 500 && rpc_client_connected(client) == 0; i++) {
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        if (client == NULL) {
            atomic_store(&s->failed, 1);
            db_close(db);
            return NULL;
        }
    }
    while (atomic_load(&s->claimed) < s->total && !atomic_load(&s->failed)) {
        struct copytext ids = {0};
        int got = 0;
        int64_t t0 = now_us();
        if (rpc) {
            Od__ClaimRequest in = OD__CLAIM_REQUEST__INIT;
            struct rpc_ctx ctx;
            in.worker_id = worker_id;
            in.capacity = s->capacity;
            in.lease_seconds = 300;
            rpc_ctx_init(&ctx, "", "bench-claim", 30000);
            od__dialing__claim(rpc_client_service(client), &in, NULL, &ctx);
            atomic_fetch_add(&s->claim_us, now_us() - t0);
            if (ctx.status != OD__STATUS__OK) {
                fprintf(stderr, "Claim: %s: %s\n", rpc_status_name(ctx.status), ctx.message);
                rpc_ctx_release(&ctx);
                atomic_store(&s->failed, 1);
                break;
            }
            Od__ClaimReply *r = (Od__ClaimReply *)ctx.reply;
            got = (int)r->n_leases;
            for (int i = 0; i < got; i++)
                copytext_array_add(&ids, r->leases[i]->lead_id);
            rpc_ctx_release(&ctx);
        } else {
            char campaign[32];
            snprintf(campaign, sizeof campaign, "camp_bench_%d",
                     s->campaigns > 0 ? (int)(turn++ % s->campaigns) : 0);
            const char *p[] = {cap, worker_id, campaign};
            PGresult *res = db_exec_prepared(db, s->claim_sql, s->campaigns > 0 ? 3 : 2, p);
            atomic_fetch_add(&s->claim_us, now_us() - t0);
            if (!db_ok(res)) {
                fprintf(stderr, "claim: %s", PQresultErrorMessage(res));
                PQclear(res);
                atomic_store(&s->failed, 1);
                break;
            }
            got = PQntuples(res);
            for (int i = 0; i < got; i++)
                copytext_array_add(&ids, PQgetvalue(res, i, 0));
            PQclear(res);
        }
        if (got > 0) {
            empty = 0;
            atomic_fetch_add(&s->claimed, got);
            atomic_fetch_add(&s->claims, 1);
            atomic_store(&s->last_ms, now_us() / 1000);
            const char *arr = copytext_array_end(&ids);
            if (s->finish && (arr == NULL || finish_ids(s, db, arr) != 0))
                atomic_store(&s->failed, 1);
        } else if (++empty >= 20) {
            free(ids.data);
            break;
        } else {
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        free(ids.data);
    }
    if (client != NULL)
        rpc_client_close(client);
    db_close(db);
    return NULL;
}

int main(int argc, char **argv)
{
    struct shared s;
    int threads, arg;

    memset(&s, 0, sizeof s);
    if (argc >= 7 && strcmp(argv[1], "rpc") == 0) {
        s.rpc_url = argv[2];
        s.db_url = argv[3];
        arg = 4;
    } else if (argc >= 7 && strcmp(argv[1], "sql") == 0) {
        s.db_url = argv[2];
        s.table = argv[3];
        arg = 4;
    } else {
        fprintf(stderr, "usage: claim_load rpc CAMPAIGN_RPC_URL DATABASE_URL THREADS CAPACITY TOTAL [finish]\n"
                        "       claim_load sql DATABASE_URL TABLE THREADS CAPACITY TOTAL [finish]\n");
        return 2;
    }
    s.mode = argv[1];
    threads = atoi(argv[arg]);
    s.capacity = atoi(argv[arg + 1]);
    s.total = atoll(argv[arg + 2]);
    for (int i = arg + 3; i < argc; i++) {
        if (strcmp(argv[i], "finish") == 0)
            s.finish = 1;
        else if (strncmp(argv[i], "campaigns=", 10) == 0)
            s.campaigns = atoi(argv[i] + 10);
    }
    if (threads < 1 || threads > 64 || s.capacity < 1 || s.total < 1) {
        fprintf(stderr, "claim_load: THREADS 1..64, CAPACITY and TOTAL >= 1\n");
        return 2;
    }
    if (s.table != NULL) {
        /* The raw claim: the shape of campaign-svc's take statement, on one queue. */
        snprintf(s.claim_sql, sizeof s.claim_sql,
                 "WITH picked AS (SELECT id FROM %s WHERE status = 'PENDING'%s"
                 " AND next_attempt_at <= now() ORDER BY next_attempt_at LIMIT $1::int"
                 " FOR UPDATE SKIP LOCKED)"
                 " UPDATE %s l SET status = 'QUEUED', attempts = l.attempts + 1,"
                 " lease_owner = $2, lease_expires_at = now() + interval '300 seconds',"
                 " updated_at = now() FROM picked p WHERE l.id = p.id"
                 " RETURNING l.id, l.phone_number, l.attempts",
                 s.table, s.campaigns > 0 ? " AND campaign_id = $3" : "", s.table);
        snprintf(s.finish_sql, sizeof s.finish_sql,
                 "UPDATE %s SET status = 'COMPLETED', lease_owner = NULL,"
                 " lease_expires_at = NULL WHERE id = ANY ($1::text[])",
                 s.table);
    } else {
        snprintf(s.finish_sql, sizeof s.finish_sql,
                 "UPDATE campaign.leads SET status = 'COMPLETED', lease_owner = NULL,"
                 " lease_expires_at = NULL, last_finished_attempt = attempts"
                 " WHERE id = ANY ($1::text[])");
    }
    struct worker *w = calloc((size_t)threads, sizeof *w);
    if (w == NULL)
        return 1;
    int64_t started = now_us() / 1000;
    for (int i = 0; i < threads; i++) {
        w[i].s = &s;
        w[i].index = i;
        if (pthread_create(&w[i].thread, NULL, worker_main, &w[i]) != 0)
            return 1;
    }
    for (int i = 0; i < threads; i++)
        pthread_join(w[i].thread, NULL);
    free(w);
    if (atomic_load(&s.failed))
        return 1;
    long long claimed = atomic_load(&s.claimed), claims = atomic_load(&s.claims);
    long long elapsed = atomic_load(&s.last_ms) - started;
    if (elapsed < 1)
        elapsed = 1;
    printf("# claim_load %s: %d threads, capacity %d%s: %lld leads in %lld claims, %lld ms;"
           " %.2f ms per claim call on average\n",
           s.mode, threads, s.capacity, s.finish ? ", finished at once" : "", claimed, claims,
           elapsed, claims > 0 ? atomic_load(&s.claim_us) / 1000.0 / (double)claims : 0.0);
    printf("RESULT claim_%s_leads %lld leads/s\n", s.mode, claimed * 1000 / elapsed);
    printf("RESULT claim_%s_claims %lld claims/s\n", s.mode, claims * 1000 / elapsed);
    return 0;
}
