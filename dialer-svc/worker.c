/* The dialer loop: claim due leads from campaign-svc, write each attempt's call row, ask the
 * carrier, report AttemptStarted; and the sweeps that end what callbacks did not (timeouts,
 * lost callbacks, finishes that are due).
 *
 * Threads, each with its own database connection; the dial and sweep threads each own a
 * struct carrier (one curl handle: lib/carrier.h):
 *   claim  - counts the calls this replica follows, claims up to the free capacity, re-checks
 *            the DNC list for the batch (one CheckDnc per organization), writes the call rows
 *            keyed (lead_id, attempt) in one statement, starts the attempts (AttemptsStarted)
 *            and queues them;
 *   dial   - DIALER_THREADS of them: take a job from the queue and place its call, or
 *            reconcile with the carrier when its row already existed (the attempt of a dead
 *            worker, reclaimed);
 *   record - writes the CallSids of the calls the dial threads created, many in one
 *            statement (dialer_record_created);
 *   sweep  - every DIALER_SWEEP_MS: hang up calls past timeout_at, fetch calls with no
 *            callback for DIALER_STALE_MS, finalize finishes that are due, recover rows whose
 *            worker died before the carrier was asked. The sweeps look at every replica's
 *            calls (claims with FOR UPDATE SKIP LOCKED or a conditional take keep replicas out
 *            of each other's way). Reports to campaign-svc are reporter.c's (its own worker).
 * The queue, counters and flags of struct dialer_loop are guarded by its lock.
 *
 * Capacity: the calls this replica follows are its call rows not finalized yet (worker_id =
 * DIALER_ID), plus its finalized rows not reported yet beyond one capacity's worth
 * (dialer_capacity_used), plus the queued reclaimed jobs whose row is another's. The stop
 * waits for every row not reported yet (dialer_following).
 *
 * Stop (SIGTERM): claiming stops at once; leases still queued were never placed and go back
 * to campaign-svc (ReleaseLeases); the dial threads finish the lease they hold; then the loop
 * follows its calls for up to DIALER_GRACE_MS (the sweeps keep running) and exits. Calls still
 * in flight are finished by callbacks on any replica and by the other replicas' sweeps. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "copytext.h"
#include "db.h"
#include "dialer.h"
#include "dialer_sql.h"
#include "failpoint.h"
#include "ids.h"
#include "log.h"
#include "od_names.h"
#include "rpc.h"
#include "service_runtime.h"
#include "timefmt.h"
#include "waker.h"

#define DIALER_CLAIM_MAX 100       /* leases per Claim */
#define DIALER_CLAIM_LEASE_S 60    /* a claimed lease, until AttemptStarted extends it */
#define DIALER_SWEEP_BATCH 50
#define DIALER_LIST_MAX 20

struct dial_job {
    struct dial_job *next;
    char *lead_id, *campaign_id, *org_id, *to, *from, *contact_id, *contact_name, *agent_id,
        *runtime_url, *first_message, *variables_json;
    int attempt;
    int timeout_s;
    /* A fresh lease's call row id, chosen at claim time so that AttemptsStarted can name it
     * for the whole claim at once; started: campaign-svc acknowledged that (the per-call
     * AttemptStarted is then not sent for this call id). */
    char call_id[IDS_MAX_LEN];
    bool started;
    int64_t claim_expires_ms; /* when the claim's lease (DIALER_CLAIM_LEASE_S) ran out */
    /* own_row: the claim wrote this attempt's call row (id call_id) with a create lease until
     * row_lease_ms (monotonic); else a row existed (a reclaimed attempt): it is reconciled. */
    bool own_row;
    int64_t row_lease_ms;
    /* Whose campaign-svc lease AttemptStarted and RenewLeases name: NULL for ours; a dead
     * replica's for an orphaned row the sweep recovers (dialer_sweep_orphans). */
    const char *lease_owner;
};

struct dialer_thread;

struct dialer_loop {
    struct dialer_app *app;
    struct waker claim_waker; /* the claim thread: capacity freed, or no more claims */
    struct waker sweep_waker; /* the sweep thread: stop */
    pthread_mutex_t lock;
    pthread_cond_t work_cond; /* the dial threads: a job was queued, or quitting */
    struct dial_job *head, *tail;
    int queued;    /* jobs in the queue */
    int working;   /* jobs a dial thread holds */
    int rowless;   /* of those, the ones whose call row is not ours (yet): not in following */
    bool quit;     /* dial threads exit once their job is done */
    /* Calls the carrier created whose rows do not say so yet (dialer_record_created): the
     * record thread writes all that gathered in one statement, so that the dial threads go
     * on dialing instead of each waiting for its row. */
    struct dialer_created *created;
    int ncreated, created_cap;
    struct waker record_waker; /* the record thread: calls were added, or stop */
    pthread_t record_thread;
    bool record_started;
    struct db *record_db; /* the record thread's */
    pthread_t claim_thread, sweep_thread;
    pthread_t *dial_threads;
    int ndial;                    /* dial threads running */
    struct dialer_thread *threads; /* [0] the sweep's, [1..] the dial threads' */
    int nthreads;
    bool claim_started, sweep_started;
};

static void dial_job_free(struct dial_job *j)
{
    if (j == NULL)
        return;
    free(j->lead_id);
    free(j->campaign_id);
    free(j->org_id);
    free(j->to);
    free(j->from);
    free(j->contact_id);
    free(j->contact_name);
    free(j->agent_id);
    free(j->runtime_url);
    free(j->first_message);
    free(j->variables_json);
    free(j);
}

static struct dial_job *dial_job_new(const Od__Lease *l)
{
    struct dial_job *j = calloc(1, sizeof *j);
    if (j == NULL)
        return NULL;
    j->lead_id = strdup(l->lead_id);
    j->campaign_id = strdup(l->campaign_id);
    j->org_id = strdup(l->org_id);
    j->to = strdup(l->phone_number);
    j->from = strdup(l->from_number);
    j->contact_id = strdup(l->contact_id);
    j->contact_name = strdup(l->contact_name);
    j->agent_id = strdup(l->agent_id);
    j->runtime_url = strdup(l->runtime_url);
    j->first_message = strdup(l->first_message);
    j->variables_json = strdup(l->variables_json[0] ? l->variables_json : "{}");
    j->attempt = l->attempt;
    j->timeout_s = l->call_timeout_seconds > 0 ? l->call_timeout_seconds : 300;
    if (!j->lead_id || !j->campaign_id || !j->org_id || !j->to || !j->from || !j->contact_id ||
        !j->contact_name || !j->agent_id || !j->runtime_url || !j->first_message ||
        !j->variables_json) {
        dial_job_free(j);
        return NULL;
    }
    return j;
}

static const char *nz(const char *s)
{
    return s != NULL && s[0] != '\0' ? s : NULL;
}

/* ---------------- campaign-svc calls ---------------- */

/* AttemptStarted for call_id, in the name of j's lease owner; *status says how campaign-svc
 * answered. 0 when it started the attempt. */
static int dialer_attempt_started_as(struct dialer_app *app, const struct dial_job *j,
                                     const char *call_id, Od__Status *status)
{
    Od__AttemptStartedRequest in = OD__ATTEMPT_STARTED_REQUEST__INIT;
    struct rpc_ctx ctx;
    int rc = 0;
    in.lead_id = j->lead_id;
    in.attempt = j->attempt;
    in.worker_id = (char *)(j->lease_owner != NULL ? j->lease_owner : app->dialer_id);
    in.call_id = (char *)call_id;
    in.lease_seconds = j->timeout_s + app->lease_margin_s;
    rpc_ctx_init(&ctx, "", call_id, app->rpc_timeout_ms);
    od__dialing__attempt_started(app->dialing, &in, NULL, &ctx);
    if (ctx.status != OD__STATUS__OK) {
        /* The call is placed either way: its end is still reported (AttemptFinished is
         * idempotent), and a lost lease is re-claimed and reconciled with this row. */
        log_warn(call_id, "AttemptStarted %s attempt %d: %s %s", j->lead_id, j->attempt,
                 rpc_status_name(ctx.status), ctx.message);
        rc = -1;
    }
    *status = ctx.status;
    rpc_ctx_release(&ctx);
    return rc;
}

static int dialer_attempt_started(struct dialer_app *app, const struct dial_job *j,
                                  const char *call_id)
{
    Od__Status status;
    if (j->started && strcmp(j->call_id, call_id) == 0)
        return 0; /* sent with its claim's AttemptsStarted */
    return dialer_attempt_started_as(app, j, call_id, &status);
}

/* AttemptsStarted for the leases of one claim whose call rows it wrote, before any is
 * dialed: one RPC instead of one per call. Then the rows of the started ones say so in one
 * statement (attempt_started: a callback that ends such a call reports it at once, even if
 * this replica dies before it hears from the carrier). A lease that campaign-svc did not
 * start, or a failed RPC, leaves the per-call AttemptStarted to do it as before. */
static void dialer_attempts_started(struct dialer_app *app, struct db *db, struct dial_job **jobs,
                                    int n)
{
    Od__AttemptsStartedRequest in = OD__ATTEMPTS_STARTED_REQUEST__INIT;
    Od__AttemptStartedRequest *items, **ptrs;
    struct dial_job **batch;
    struct copytext started_ids = {0};
    struct rpc_ctx ctx;
    size_t k = 0;

    items = calloc((size_t)n, sizeof *items);
    ptrs = calloc((size_t)n, sizeof *ptrs);
    batch = calloc((size_t)n, sizeof *batch);
    if (items == NULL || ptrs == NULL || batch == NULL)
        goto out;
    for (int i = 0; i < n; i++) {
        struct dial_job *j = jobs[i];
        if (j == NULL || !j->own_row)
            continue; /* an existing row is reconciled, with its own id */
        od__attempt_started_request__init(&items[k]);
        items[k].lead_id = j->lead_id;
        items[k].attempt = j->attempt;
        items[k].worker_id = app->dialer_id;
        items[k].call_id = j->call_id;
        items[k].lease_seconds = j->timeout_s + app->lease_margin_s;
        ptrs[k] = &items[k];
        batch[k++] = j;
    }
    if (k == 0)
        goto out;
    in.n_items = k;
    in.items = ptrs;
    rpc_ctx_init(&ctx, "", "dialer-started", app->rpc_timeout_ms);
    od__dialing__attempts_started(app->dialing, &in, NULL, &ctx);
    if (ctx.status == OD__STATUS__OK) {
        Od__AttemptsStartedReply *out = (Od__AttemptsStartedReply *)ctx.reply;
        for (size_t i = 0; i < k && i < out->n_started; i++)
            if ((batch[i]->started = out->started[i]))
                copytext_array_add(&started_ids, batch[i]->call_id);
    } else {
        log_warn(NULL, "AttemptsStarted (%zu): %s %s; each call sends AttemptStarted", k,
                 rpc_status_name(ctx.status), ctx.message);
    }
    rpc_ctx_release(&ctx);
    failpoint("dialer.claim.started"); /* started at campaign-svc, the rows do not say so */
    /* on failure the rows learn it from mark_started, after the carrier answers */
    dialer_command_ids(db, "UPDATE dialer.calls SET attempt_started = true WHERE id = ANY "
                           "($1::text[])", &started_ids, NULL);
out:
    free(started_ids.data);
    free(items);
    free(ptrs);
    free(batch);
}

/* Writes the call rows of a claim's leases (one statement), each with a fresh id and a
 * create lease, before campaign-svc is told the attempts started: from then on every attempt
 * this replica holds has a row, so a replica killed at any later moment leaves rows that the
 * others' sweeps recover (dialer_sweep_orphans) instead of leases that only expire. A lease
 * whose (lead, attempt) row exists already (reclaimed from a dead or slow worker) keeps
 * own_row false and is reconciled with that row. 0, or -1 when nothing was written. */
static int dialer_insert_rows(struct dialer_app *app, struct db *db, struct dial_job **jobs,
                              int n)
{
    static const char insert_sql[] =
        "INSERT INTO dialer.calls (org_id, id, lead_id, attempt, campaign_id, agent_id, "
        "contact_id, contact_name, to_number, from_number, variables, runtime_url, first_message, "
        "worker_id, worker_lease_until, call_timeout_seconds, timeout_at) "
        "SELECT r.org_id, r.id, r.lead_id, r.attempt, r.campaign_id, nullif(r.agent_id, ''), "
        "nullif(r.contact_id, ''), nullif(r.contact_name, ''), r.to_number, "
        "nullif(r.from_number, ''), coalesce(nullif(r.variables, '')::jsonb, '{}'), "
        "nullif(r.runtime_url, ''), nullif(r.first_message, ''), $14, now() + make_interval(secs "
        "=> $15::integer), r.timeout_s, now() + make_interval(secs => r.timeout_s + 30) "
        "FROM unnest($1::text[], $2::text[], $3::text[], $4::integer[], $5::text[], $6::text[], "
        "$7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], "
        "$16::integer[]) AS r(org_id, id, lead_id, attempt, campaign_id, agent_id, contact_id, "
        "contact_name, to_number, from_number, variables, runtime_url, first_message, timeout_s) "
        "ON CONFLICT (lead_id, attempt) DO NOTHING RETURNING id";
    enum { COLS = 14 };
    struct copytext col[COLS];
    char lease_s[16];
    int rc = -1, rows = 0;

    memset(col, 0, sizeof col);
    for (int i = 0; i < n; i++) {
        struct dial_job *j = jobs[i];
        char attempt[16], timeout_s[16];
        if (j == NULL)
            continue;
        ids_new_ordered(ID_PREFIX_CALL, j->call_id, sizeof j->call_id);
        snprintf(attempt, sizeof attempt, "%d", j->attempt);
        snprintf(timeout_s, sizeof timeout_s, "%d", j->timeout_s);
        const char *v[COLS] = {j->org_id,        j->call_id,      j->lead_id,      attempt,
                               j->campaign_id,   j->agent_id,     j->contact_id,   j->contact_name,
                               j->to,            j->from,         j->variables_json, j->runtime_url,
                               j->first_message, timeout_s};
        for (int c = 0; c < COLS; c++)
            copytext_array_add(&col[c], v[c]);
        rows++;
    }
    if (rows == 0)
        return 0;
    snprintf(lease_s, sizeof lease_s, "%d", app->create_lease_s);
    const char *p[16];
    for (int c = 0; c < 13; c++)
        p[c] = copytext_array_end(&col[c]);
    p[13] = app->dialer_id;
    p[14] = lease_s;
    p[15] = copytext_array_end(&col[13]);
    for (int c = 0; c < 16; c++)
        if (p[c] == NULL)
            goto out;
    int64_t lease_until = time_monotonic_ms() + (int64_t)app->create_lease_s * 1000;
    PGresult *res = db_exec_prepared(db, insert_sql, 16, p);
    if (!db_ok(res)) {
        log_warn(NULL, "call rows (%d): %s", rows, PQresultErrorMessage(res));
        PQclear(res);
        goto out;
    }
    for (int r = 0; r < PQntuples(res); r++)
        for (int i = 0; i < n; i++)
            if (jobs[i] != NULL && strcmp(jobs[i]->call_id, PQgetvalue(res, r, 0)) == 0) {
                jobs[i]->own_row = true;
                jobs[i]->row_lease_ms = lease_until;
                break;
            }
    PQclear(res);
    rc = 0;
out:
    for (int c = 0; c < COLS; c++)
        free(col[c].data);
    return rc;
}

/* Deletes the rows of leases that are handed back never dialed (their create lease still
 * ours, no call asked for), so that the next claim of the attempt writes a fresh one. */
static void dialer_delete_unplaced(struct dialer_app *app, struct db *db, struct dial_job **jobs,
                                   int n)
{
    struct copytext ids = {0};
    for (int i = 0; i < n; i++)
        if (jobs[i] != NULL && jobs[i]->own_row)
            copytext_array_add(&ids, jobs[i]->call_id);
    dialer_command_ids(db, "DELETE FROM dialer.calls WHERE id = ANY ($1::text[]) AND worker_id = "
                           "$2 AND call_sid IS NULL AND completed_at IS NULL", &ids, app->dialer_id);
    free(ids.data);
}

/* A lease started with its claim (AttemptsStarted) covers the whole call. When the attempt
 * is left open for the lease to expire (a create that got no answer, a row not written), it
 * is cut back to when the claim's own lease ran out, as it was before the batch: the next
 * claim reconciles as soon as it did. If this fails, the longer lease only delays that. */
static void dialer_shorten_lease(struct dialer_app *app, const struct dial_job *j)
{
    Od__LeaseRef ref = OD__LEASE_REF__INIT, *refs[] = {&ref};
    Od__LeasesRequest in = OD__LEASES_REQUEST__INIT;
    struct rpc_ctx ctx;
    int64_t left = (j->claim_expires_ms - time_now_ms()) / 1000;
    if (!j->started)
        return;
    ref.lead_id = j->lead_id;
    ref.attempt = j->attempt;
    in.worker_id = (char *)(j->lease_owner != NULL ? j->lease_owner : app->dialer_id);
    in.leases = refs;
    in.n_leases = 1;
    in.lease_seconds = left < 1 ? 1 : (int32_t)left;
    rpc_ctx_init(&ctx, "", j->call_id, app->rpc_timeout_ms);
    od__dialing__renew_leases(app->dialing, &in, NULL, &ctx);
    if (ctx.status != OD__STATUS__OK)
        log_warn(j->call_id, "shortening the lease of %s attempt %d: %s %s", j->lead_id,
                 j->attempt, rpc_status_name(ctx.status), ctx.message);
    rpc_ctx_release(&ctx);
}

static void dialer_release(struct dialer_app *app, struct dial_job **jobs, int n)
{
    Od__LeasesRequest in = OD__LEASES_REQUEST__INIT;
    Od__LeaseRef *refs, **ptrs;
    struct rpc_ctx ctx;
    if (n == 0)
        return;
    refs = calloc((size_t)n, sizeof *refs);
    ptrs = calloc((size_t)n, sizeof *ptrs);
    if (refs == NULL || ptrs == NULL) {
        free(refs);
        free(ptrs);
        return; /* the leases expire instead */
    }
    for (int i = 0; i < n; i++) {
        od__lease_ref__init(&refs[i]);
        refs[i].lead_id = jobs[i]->lead_id;
        refs[i].attempt = jobs[i]->attempt;
        ptrs[i] = &refs[i];
    }
    in.worker_id = app->dialer_id;
    in.n_leases = (size_t)n;
    in.leases = ptrs;
    rpc_ctx_init(&ctx, "", "dialer-release", app->rpc_timeout_ms);
    od__dialing__release_leases(app->dialing, &in, NULL, &ctx);
    if (ctx.status != OD__STATUS__OK)
        log_warn(NULL, "ReleaseLeases (%d): %s %s; they expire instead", n,
                 rpc_status_name(ctx.status), ctx.message);
    else
        log_info(NULL, "released %d leases never dialed", n);
    rpc_ctx_release(&ctx);
    free(refs);
    free(ptrs);
}

static void dialer_finish_dnc(struct dialer_app *app, const struct dial_job *j)
{
    Od__AttemptFinishedRequest in = OD__ATTEMPT_FINISHED_REQUEST__INIT;
    struct rpc_ctx ctx;
    in.lead_id = j->lead_id;
    in.attempt = j->attempt;
    in.outcome = (char *)OUTCOME_DNC;
    rpc_ctx_init(&ctx, "", j->lead_id, app->rpc_timeout_ms);
    od__dialing__attempt_finished(app->dialing, &in, NULL, &ctx);
    if (ctx.status != OD__STATUS__OK) /* the lease expires; the next claim checks again */
        log_warn(NULL, "AttemptFinished dnc %s: %s %s", j->lead_id, rpc_status_name(ctx.status),
                 ctx.message);
    else
        log_info(NULL, "lead %s skipped: %s is on the do-not-call list", j->lead_id, j->to);
    rpc_ctx_release(&ctx);
}

/* Re-checks the batch against the DNC list, one CheckDnc per organization. Listed jobs are
 * finished as "dnc" and freed (set to NULL). -1 when contacts-svc could not answer: then the
 * caller dials nothing (a number may have been added since the campaign started). */
static int dialer_dnc_filter(struct dialer_app *app, struct dial_job **jobs, int n)
{
    for (int i = 0; i < n; i++) {
        if (jobs[i] == NULL)
            continue;
        const char *org = jobs[i]->org_id;
        bool seen = false;
        for (int k = 0; k < i && !seen; k++)
            seen = jobs[k] != NULL && strcmp(jobs[k]->org_id, org) == 0;
        if (seen)
            continue;
        char **numbers = calloc((size_t)n, sizeof *numbers);
        Od__CheckDncRequest in = OD__CHECK_DNC_REQUEST__INIT;
        struct rpc_ctx ctx;
        if (numbers == NULL)
            return -1;
        for (int k = i; k < n; k++)
            if (jobs[k] != NULL && strcmp(jobs[k]->org_id, org) == 0)
                numbers[in.n_phone_numbers++] = jobs[k]->to;
        in.phone_numbers = numbers;
        rpc_ctx_init(&ctx, org, "dialer-dnc", app->rpc_timeout_ms);
        od__dnc__check_dnc(app->dnc, &in, NULL, &ctx);
        free(numbers);
        if (ctx.status != OD__STATUS__OK) {
            log_warn(NULL, "CheckDnc: %s %s", rpc_status_name(ctx.status), ctx.message);
            rpc_ctx_release(&ctx);
            return -1;
        }
        Od__CheckDncReply *out = (Od__CheckDncReply *)ctx.reply;
        for (size_t l = 0; l < out->n_listed; l++)
            for (int k = i; k < n; k++)
                if (jobs[k] != NULL && strcmp(jobs[k]->org_id, org) == 0 &&
                    strcmp(jobs[k]->to, out->listed[l]) == 0) {
                    dialer_finish_dnc(app, jobs[k]);
                    dial_job_free(jobs[k]);
                    jobs[k] = NULL;
                }
        rpc_ctx_release(&ctx);
    }
    return 0;
}

/* ---------------- the claim thread ---------------- */

/* Calls this replica follows: its rows not reported yet. -1 on a database failure. */
static int dialer_following(struct dialer_app *app, struct db *db)
{
    const char *p[] = {app->dialer_id};
    PGresult *res = db_exec(db,
                            "SELECT count(*) FROM dialer.calls WHERE worker_id = $1 AND "
                            "reported_at IS NULL",
                            1, p);
    int n = db_ok(res) ? atoi(PQgetvalue(res, 0, 0)) : -1;
    PQclear(res);
    return n;
}

/* Calls that fill this replica's capacity: its calls not finalized yet (at the carrier, or
 * ended and waiting for the agent's outcome), and its finalized calls whose report to
 * campaign-svc is pending only beyond one capacity's worth of them. A finalized call is over;
 * counting it until campaign-svc acknowledged its report (reporter.c, a batch every few tens
 * of ms under load) held about half the capacity of a replica dialing instant calls (bench
 * (i), sampled). The allowance still stops the claims when reports are not acknowledged.
 * -1 on a database failure. */
static int dialer_capacity_used(struct dialer_app *app, struct db *db)
{
    char cap[16];
    snprintf(cap, sizeof cap, "%d", app->capacity);
    const char *p[] = {app->dialer_id, cap};
    PGresult *res = db_exec(db,
                            "SELECT count(*) FILTER (WHERE finalized_at IS NULL) + greatest(0, "
                            "count(*) FILTER (WHERE finalized_at IS NOT NULL) - $2::integer) "
                            "FROM dialer.calls WHERE worker_id = $1 AND reported_at IS NULL",
                            2, p);
    int n = db_ok(res) ? atoi(PQgetvalue(res, 0, 0)) : -1;
    PQclear(res);
    return n;
}

/* Claims up to `want` leases and queues what survives the DNC check, each with its call row
 * written and its attempt started. Returns how many leases came back (-1 on failure). */
static int dialer_claim_batch(struct dialer_loop *loop, struct db *db, int want)
{
    struct dialer_app *app = loop->app;
    Od__ClaimRequest in = OD__CLAIM_REQUEST__INIT;
    struct rpc_ctx ctx;
    struct dial_job **jobs;
    int n;

    in.worker_id = app->dialer_id;
    in.capacity = want;
    in.lease_seconds = DIALER_CLAIM_LEASE_S;
    int64_t expires_ms = time_now_ms() + DIALER_CLAIM_LEASE_S * 1000;
    rpc_ctx_init(&ctx, "", "dialer-claim", app->rpc_timeout_ms);
    od__dialing__claim(app->dialing, &in, NULL, &ctx);
    if (ctx.status != OD__STATUS__OK) {
        log_warn(NULL, "Claim: %s %s", rpc_status_name(ctx.status), ctx.message);
        rpc_ctx_release(&ctx);
        return -1;
    }
    Od__ClaimReply *out = (Od__ClaimReply *)ctx.reply;
    n = (int)out->n_leases;
    if (n == 0) {
        rpc_ctx_release(&ctx);
        return 0;
    }
    jobs = calloc((size_t)n, sizeof *jobs);
    for (int i = 0; jobs != NULL && i < n; i++)
        if ((jobs[i] = dial_job_new(out->leases[i])) != NULL)
            jobs[i]->claim_expires_ms = expires_ms;
    rpc_ctx_release(&ctx);
    if (jobs == NULL)
        return -1; /* the leases expire and are claimed again */
    if (dialer_dnc_filter(app, jobs, n) != 0) {
        int kept = 0;
        for (int i = 0; i < n; i++)
            if (jobs[i] != NULL)
                jobs[kept++] = jobs[i];
        dialer_release(app, jobs, kept);
        for (int i = 0; i < kept; i++)
            dial_job_free(jobs[i]);
        free(jobs);
        return -1;
    }
    if (dialer_insert_rows(app, db, jobs, n) != 0) {
        int kept = 0;
        for (int i = 0; i < n; i++)
            if (jobs[i] != NULL)
                jobs[kept++] = jobs[i];
        dialer_release(app, jobs, kept); /* nothing was written: hand them all back */
        for (int i = 0; i < kept; i++)
            dial_job_free(jobs[i]);
        free(jobs);
        return -1;
    }
    failpoint("dialer.claim.rows_written"); /* rows, attempts not started */
    dialer_attempts_started(app, db, jobs, n);
    pthread_mutex_lock(&loop->lock);
    for (int i = 0; i < n; i++) {
        if (jobs[i] == NULL)
            continue;
        if (!jobs[i]->own_row)
            loop->rowless++;
        if (loop->tail != NULL)
            loop->tail->next = jobs[i];
        else
            loop->head = jobs[i];
        loop->tail = jobs[i];
        loop->queued++;
    }
    pthread_cond_broadcast(&loop->work_cond);
    pthread_mutex_unlock(&loop->lock);
    free(jobs);
    return n;
}

static void *dialer_claim_main(void *arg)
{
    struct dialer_loop *loop = arg;
    struct dialer_app *app = loop->app;
    struct db *db = db_open(service_runtime_database_url(app->rt), 30000);

    while (db != NULL && !waker_stopping(&loop->claim_waker)) {
        int following, local, free_slots, got = 0;
        pthread_mutex_lock(&loop->lock);
        local = loop->rowless; /* the others' rows are counted by dialer_capacity_used */
        pthread_mutex_unlock(&loop->lock);
        following = dialer_capacity_used(app, db);
        free_slots = following < 0 ? 0 : app->capacity - following - local;
        if (free_slots > 0) {
            int want = free_slots < DIALER_CLAIM_MAX ? free_slots : DIALER_CLAIM_MAX;
            got = dialer_claim_batch(loop, db, want);
            if (got == want)
                continue; /* more may be due at once */
        }
        if (waker_wait(&loop->claim_waker, got < 0 ? 1000 : app->poll_ms))
            break;
    }
    db_close(db);
    return NULL;
}

/* ---------------- the dial threads ---------------- */

struct dialer_thread {
    struct dialer_loop *loop;
    struct db *db;
    struct carrier *carrier;
};

static void dialer_callback_url(struct dialer_app *app, const char *path, const char *call_id,
                                char *out, size_t size)
{
    snprintf(out, size, "%s%s?callId=%s", app->public_base_url, path, call_id);
}

/* Epoch seconds of an RFC 2822 time ("Thu, 30 Jul 2015 20:00:00 +0000"), -1 if unreadable. */
static long long dialer_rfc2822(const char *text)
{
    struct tm tm;
    const char *end;
    memset(&tm, 0, sizeof tm);
    end = strptime(text, "%a, %d %b %Y %H:%M:%S %z", &tm);
    if (end == NULL)
        return -1;
    return (long long)timegm(&tm) - tm.tm_gmtoff;
}

/* The carrier knows the call: store its CallSid, apply its status, start the attempt. */
static void dialer_adopt(struct dialer_thread *t, const struct dial_job *j, const char *call_id,
                         const struct carrier_call *cc)
{
    struct dialer_app *app = t->loop->app;
    struct dialer_carrier_update u = {.call_id = call_id,
                                      .call_sid = cc->sid,
                                      .status = cc->status,
                                      .answered_by = cc->answered_by,
                                      .duration_seconds = cc->duration_seconds};
    dialer_attempt_started(app, j, call_id);
    dialer_mark_started(app, t->db, call_id, call_id, cc->sid, j->timeout_s);
    if (dialer_apply_update(app, t->db, call_id, &u) < 0)
        log_warn(call_id, "adopting %s: status not applied; the sweep fetches it again", cc->sid);
}

/* Looks for the call among the carrier's calls to j->to since the row was written: a CallSid
 * that no call row holds, started no earlier than the row (with 2 minutes for clock skew).
 * 1 and *found when there is one, 0 when there is none, -1 when the carrier did not answer. */
static int dialer_find_at_carrier(struct dialer_thread *t, const struct dial_job *j,
                                  const char *created_day, long long created_epoch,
                                  struct carrier_call *found)
{
    struct carrier_call calls[DIALER_LIST_MAX];
    char err[256];
    int n = 0;
    if (carrier_list_calls_to(t->carrier, j->to, created_day, calls, DIALER_LIST_MAX, &n, err,
                              sizeof err) != CARRIER_OK) {
        log_warn(j->lead_id, "listing calls to %s: %s", j->to, err);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        long long started = dialer_rfc2822(calls[i].start_time);
        const char *p[] = {calls[i].sid};
        PGresult *res;
        bool known;
        if (started >= 0 && started < created_epoch - 120)
            continue;
        res = db_exec(t->db, "SELECT 1 FROM dialer.calls WHERE call_sid = $1", 1, p);
        if (!db_ok(res)) {
            PQclear(res);
            return -1;
        }
        known = PQntuples(res) > 0;
        PQclear(res);
        if (!known) {
            *found = calls[i];
            return 1;
        }
    }
    return 0;
}

/* Appends to loop->created (the caller holds loop->lock). 0, or -1 when out of memory. */
static int dialer_created_push(struct dialer_loop *loop, const struct dialer_created *c)
{
    if (loop->ncreated == loop->created_cap) {
        int cap = loop->created_cap ? loop->created_cap * 2 : 16;
        struct dialer_created *grown = realloc(loop->created, (size_t)cap * sizeof *grown);
        if (grown == NULL)
            return -1;
        loop->created = grown;
        loop->created_cap = cap;
    }
    loop->created[loop->ncreated++] = *c;
    return 0;
}

/* The carrier created j's call (its attempt started with the claim): the row learns the
 * CallSid and that the create is over (dialer_mark_started), together with the other calls
 * created meanwhile, by the record thread (dialer_record_main); the dial thread returns to
 * dialing at once. Until its write, a row is as if this replica had been killed right after
 * the create (failpoint dialer.dial.created): the callbacks may already finish it, and a row
 * the write never reaches (the statement failed) is adopted from the carrier once its create
 * lease runs out. */
static void dialer_record_created(struct dialer_thread *t, const struct dial_job *j,
                                  const char *call_sid)
{
    struct dialer_loop *loop = t->loop;
    struct dialer_created c = {.call_timeout_seconds = j->timeout_s};
    int rc;

    snprintf(c.call_id, sizeof c.call_id, "%s", j->call_id);
    snprintf(c.call_sid, sizeof c.call_sid, "%s", call_sid);
    pthread_mutex_lock(&loop->lock);
    rc = loop->record_started ? dialer_created_push(loop, &c) : -1;
    pthread_mutex_unlock(&loop->lock);
    if (rc == 0)
        waker_wake(&loop->record_waker);
    else /* out of memory, or no record thread: the row is written here */
        dialer_mark_started(loop->app, t->db, j->call_id, j->call_id, call_sid, j->timeout_s);
}

/* The record thread: writes the rows of created calls in one statement (dialer_mark_started_
 * many), again while more gathered. A write passes by the rows that are locked (their
 * callbacks are being recorded: a write that waited for them held its other rows meanwhile,
 * stalling those calls' callbacks in turn) and takes them with the next write; a write of
 * only such rows waits for them. On stop (after the dial threads are joined) it writes what
 * is left and exits. */
static void *dialer_record_main(void *arg)
{
    struct dialer_loop *loop = arg;
    bool stopping = false;

    for (;;) {
        pthread_mutex_lock(&loop->lock);
        struct dialer_created *batch = loop->created;
        int n = loop->ncreated, left;
        bool fresh = false;
        loop->created = NULL;
        loop->ncreated = loop->created_cap = 0;
        pthread_mutex_unlock(&loop->lock);
        if (n == 0) {
            free(batch);
            if (stopping)
                break;
            stopping = waker_wait(&loop->record_waker, 1000);
            continue;
        }
        for (int i = 0; i < n && !fresh; i++)
            fresh = !batch[i].skipped;
        left = dialer_mark_started_many(loop->app, loop->record_db, batch, n, fresh);
        pthread_mutex_lock(&loop->lock);
        int pushed = 0;
        while (pushed < left && dialer_created_push(loop, &batch[pushed]) == 0)
            pushed++;
        pthread_mutex_unlock(&loop->lock);
        if (pushed < left) /* out of memory: written now, waiting */
            dialer_mark_started_many(loop->app, loop->record_db, batch + pushed, left - pushed,
                                     false);
        free(batch);
    }
    return NULL;
}

/* Asks the carrier for the call of row call_id (owned by this worker), then starts the
 * attempt. */
static void dialer_place(struct dialer_thread *t, const struct dial_job *j, const char *call_id)
{
    struct dialer_app *app = t->loop->app;
    char twiml_url[DIALER_URL_MAX + 96], status_url[DIALER_URL_MAX + 96], err[256];
    struct carrier_call cc;
    struct carrier_call_request req = {
        .to = j->to,
        .from = nz(j->from),
        .twiml_url = twiml_url,
        .status_callback = status_url,
        .ring_timeout_seconds = 0,
        .machine_detection = true,
        /* initiated and ringing changed only the row's status (INITIATED is set when the
         * create is answered, a ringing phone is not news): two callbacks, each a request,
         * a transaction and an event row, less per call. Nor "answered": the TwiML fetch
         * carries the answer (CallStatus, AnsweredBy) and records it (callbacks.c), one
         * callback less per answered call. */
        .completed_only = true,
    };
    int rc;

    dialer_callback_url(app, "/v1/carrier/twiml", call_id, twiml_url, sizeof twiml_url);
    dialer_callback_url(app, "/v1/carrier/status", call_id, status_url, sizeof status_url);
    memset(&cc, 0, sizeof cc);
    rc = carrier_create_call(t->carrier, &req, &cc, err, sizeof err);
    if (rc == CARRIER_OK)
        failpoint("dialer.dial.created"); /* a call at the carrier, the row not told */
    if (rc == CARRIER_OK) {
        if (j->started && j->lease_owner == NULL && strcmp(j->call_id, call_id) == 0) {
            dialer_record_created(t, j, cc.sid); /* a fresh row of this claim's */
            return;
        }
        dialer_attempt_started(app, j, call_id);
        dialer_mark_started(app, t->db, call_id, call_id, cc.sid, j->timeout_s);
        return;
    }
    log_warn(call_id, "placing the call to %s: %s", j->to, err);
    bool maybe_placed = rc == CARRIER_TRANSIENT && carrier_last_unanswered(t->carrier);
    if (rc == CARRIER_TRANSIENT) {
        /* The carrier may have taken the call and lost the answer: it is never re-sent, but
         * looked for (a callback with ?callId= may also have stored its CallSid already). */
        const char *p[] = {call_id};
        PGresult *res = db_exec(t->db,
                                "SELECT coalesce(call_sid, '') AS call_sid, to_char(created_at "
                                "AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, extract(epoch FROM "
                                "created_at)::bigint AS epoch FROM dialer.calls WHERE id = $1",
                                1, p);
        if (db_ok(res) && PQntuples(res) == 1) {
            bool has_sid = dialer_col(res, 0, "call_sid")[0] != '\0';
            int found = has_sid ? 1
                                : dialer_find_at_carrier(t, j, dialer_col(res, 0, "day"),
                                                         atoll(dialer_col(res, 0, "epoch")), &cc);
            if (found == 1) {
                if (has_sid) {
                    dialer_attempt_started(app, j, call_id);
                    dialer_mark_started(app, t->db, call_id, call_id, "", j->timeout_s);
                } else {
                    dialer_adopt(t, j, call_id, &cc);
                }
                PQclear(res);
                return;
            }
            if (maybe_placed) {
                /* The create got no answer and the carrier does not show the call (yet) or
                 * cannot be asked: it may still be placing it. Ending the attempt here would
                 * let the retry policy dial the contact again beside that call. Leave the
                 * attempt open instead: its lease expires, the next claim reuses the attempt
                 * and reconciles with this row, when a late create has long been placed. */
                log_warn(call_id, "the carrier may have placed the call to %s: reconciling "
                         "when the lease expires", j->to);
                PQclear(res);
                dialer_shorten_lease(app, j);
                return;
            }
        }
        PQclear(res);
    }
    /* Not placed: the attempt ends as a carrier error (the campaign's retry policy decides). */
    dialer_attempt_started(app, j, call_id);
    dialer_mark_started(app, t->db, call_id, call_id, "", j->timeout_s);
    dialer_end_call(app, t->db, call_id, call_id, CALL_FAILED,
                    rc == CARRIER_REJECTED ? OUTCOME_FAILED : OUTCOME_CARRIER_ERROR, err);
}

/* Takes call_id, a row with no CallSid whose create lease ran out (its worker died, or left
 * it after a create that got no answer), for this worker: a create lease of its own, a
 * timeout counted from now (the call is placed now), attempt_started when j's attempt is.
 * The one statement both recoveries take a row with (the reclaim's reconcile and the orphan
 * sweep), so that only one replica ever has it. True when this worker does. */
static bool dialer_take_row(struct dialer_thread *t, const struct dial_job *j,
                            const char *call_id)
{
    static const char take_sql[] =
        "UPDATE dialer.calls SET worker_id = $2, worker_lease_until = now() + make_interval(secs "
        "=> $3::integer), timeout_at = now() + make_interval(secs => $4::integer + 30), "
        "attempt_started = attempt_started OR $5::boolean, check_after = NULL, "
        "updated_at = now() WHERE id = $1 AND call_sid IS NULL AND completed_at IS NULL AND "
        "(worker_lease_until IS NULL OR worker_lease_until <= now()) RETURNING id";
    struct dialer_app *app = t->loop->app;
    char lease_s[16], timeout_s[16];
    snprintf(lease_s, sizeof lease_s, "%d", app->create_lease_s);
    snprintf(timeout_s, sizeof timeout_s, "%d", j->timeout_s);
    const char *p[] = {call_id, app->dialer_id, lease_s, timeout_s, j->started ? "true" : "false"};
    PGresult *res = db_exec(t->db, take_sql, 5, p);
    bool taken = db_ok(res) && PQntuples(res) == 1;
    PQclear(res);
    return taken;
}

/* A row with no CallSid that this worker has just taken (its create lease is ours): adopt the
 * carrier's call when there is one (a create whose answer was lost), else place it. When the
 * carrier cannot be asked, nothing is done: the create lease runs out and the row is taken
 * again. */
static void dialer_recover(struct dialer_thread *t, const struct dial_job *j, const char *call_id,
                           const char *created_day, long long created_epoch)
{
    struct carrier_call cc;
    memset(&cc, 0, sizeof cc);
    int found = dialer_find_at_carrier(t, j, created_day, created_epoch, &cc);
    if (found < 0)
        return;
    if (found == 1) {
        dialer_adopt(t, j, call_id, &cc);
        return;
    }
    log_info(call_id, "no call at the carrier for %s attempt %d: dialing", j->lead_id, j->attempt);
    dialer_place(t, j, call_id);
}

/* The row (lead_id, attempt) existed: the attempt was started before, by a worker that died
 * or lost its lease. Never dial blindly: adopt the carrier's call when there is one. */
static void dialer_reconcile(struct dialer_thread *t, const struct dial_job *j)
{
    static const char row_sql[] =
        "SELECT id, coalesce(call_sid, '') AS call_sid, completed_at IS NOT NULL AS ended, "
        "coalesce(worker_lease_until > now(), false) AS creating, "
        "extract(epoch FROM worker_lease_until - now())::integer AS creating_s, "
        "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, "
        "extract(epoch FROM created_at)::bigint AS epoch FROM dialer.calls "
        "WHERE lead_id = $1 AND attempt = $2";
    struct dialer_app *app = t->loop->app;
    char attempt[16], call_id[64], err[256];
    struct carrier_call cc;

    snprintf(attempt, sizeof attempt, "%d", j->attempt);
    for (int round = 0; round < 10; round++) {
        const char *p[] = {j->lead_id, attempt};
        PGresult *res = db_exec(t->db, row_sql, 2, p);
        if (!db_ok(res) || PQntuples(res) != 1) {
            log_warn(j->lead_id, "reconcile: %s", PQresultErrorMessage(res));
            PQclear(res);
            return; /* the lease expires and is claimed again */
        }
        snprintf(call_id, sizeof call_id, "%s", dialer_col(res, 0, "id"));
        const char *sid = dialer_col(res, 0, "call_sid");
        log_info(call_id, "reconciling %s attempt %d (CallSid '%s')", j->lead_id, j->attempt, sid);
        if (strcmp(dialer_col(res, 0, "ended"), "t") == 0) {
            PQclear(res);
            dialer_attempt_started(app, j, call_id);
            dialer_mark_started(app, t->db, call_id, call_id, "", j->timeout_s);
            dialer_finish(app, t->db, call_id, call_id, false);
            return;
        }
        if (sid[0] != '\0') {
            int rc;
            memset(&cc, 0, sizeof cc);
            rc = carrier_fetch_call(t->carrier, sid, &cc, err, sizeof err);
            PQclear(res);
            if (rc == CARRIER_OK) {
                dialer_adopt(t, j, call_id, &cc);
            } else {
                dialer_attempt_started(app, j, call_id);
                dialer_mark_started(app, t->db, call_id, call_id, "", j->timeout_s);
                if (rc == CARRIER_NOT_FOUND)
                    dialer_end_call(app, t->db, call_id, call_id, CALL_FAILED,
                                    OUTCOME_CARRIER_ERROR, "the carrier does not know the call");
                /* else: the lost-callback sweep fetches it later */
            }
            return;
        }
        if (strcmp(dialer_col(res, 0, "creating"), "t") == 0) {
            /* another worker may be creating this very call: wait for its row lease */
            int wait_s = atoi(dialer_col(res, 0, "creating_s"));
            PQclear(res);
            for (int waited = 0; waited <= wait_s * 10; waited++) {
                pthread_mutex_lock(&t->loop->lock);
                bool quit = t->loop->quit;
                pthread_mutex_unlock(&t->loop->lock);
                if (quit)
                    return;
                struct timespec ts = {0, 100 * 1000000L};
                nanosleep(&ts, NULL);
            }
            continue;
        }
        char day[16];
        long long epoch = atoll(dialer_col(res, 0, "epoch"));
        snprintf(day, sizeof day, "%s", dialer_col(res, 0, "day"));
        PQclear(res);
        if (dialer_take_row(t, j, call_id)) {
            dialer_recover(t, j, call_id, day, epoch);
            return;
        }
    }
}

/* Places the call of a row this claim wrote. Its create lease is renewed first when little
 * of it is left (the job waited in the queue): a row whose lease ran out may have been taken
 * by another replica's sweep, and is then reconciled like a reclaimed one. */
static void dialer_dial(struct dialer_thread *t, const struct dial_job *j)
{
    struct dialer_app *app = t->loop->app;
    if (!j->own_row) {
        dialer_reconcile(t, j);
        return;
    }
    if (time_monotonic_ms() > j->row_lease_ms - (int64_t)app->create_lease_s * 500) {
        char lease_s[16];
        snprintf(lease_s, sizeof lease_s, "%d", app->create_lease_s);
        const char *p[] = {j->call_id, app->dialer_id, lease_s};
        PGresult *res = db_exec(t->db,
                                "UPDATE dialer.calls SET worker_lease_until = now() + "
                                "make_interval(secs => $3::integer) WHERE id = $1 AND worker_id "
                                "= $2 AND call_sid IS NULL AND completed_at IS NULL AND "
                                "worker_lease_until > now() RETURNING id",
                                3, p);
        bool renewed = db_ok(res) && PQntuples(res) == 1;
        PQclear(res);
        if (!renewed) {
            dialer_reconcile(t, j);
            return;
        }
    }
    failpoint("dialer.dial.before_create"); /* a started row, no call asked for */
    dialer_place(t, j, j->call_id);
}

static void *dialer_dial_main(void *arg)
{
    struct dialer_thread *t = arg;
    struct dialer_loop *loop = t->loop;

    pthread_mutex_lock(&loop->lock);
    for (;;) {
        struct dial_job *j = loop->head;
        if (loop->quit)
            break;
        if (j == NULL) {
            pthread_cond_wait(&loop->work_cond, &loop->lock);
            continue;
        }
        if ((loop->head = j->next) == NULL)
            loop->tail = NULL;
        loop->queued--;
        loop->working++;
        pthread_mutex_unlock(&loop->lock);

        dialer_dial(t, j);
        bool rowless = !j->own_row;
        dial_job_free(j);

        pthread_mutex_lock(&loop->lock);
        loop->working--;
        if (rowless)
            loop->rowless--;
        waker_wake(&loop->claim_waker);
    }
    pthread_mutex_unlock(&loop->lock);
    return NULL;
}

/* ---------------- the sweep thread ---------------- */

/* Runs a claim statement returning (id, call_sid) rows; NULL on failure (logged). */
static PGresult *dialer_sweep_claim(struct db *db, const char *sql, int nparams,
                                    const char *const *params)
{
    PGresult *res = db_exec(db, sql, nparams, params);
    if (!db_ok(res)) {
        log_warn(NULL, "sweep: %s", PQresultErrorMessage(res));
        PQclear(res);
        return NULL;
    }
    return res;
}

/* Rows with no call whose create lease ran out, on any replica: their worker was killed (or
 * lost its connection) between writing the row and hearing from the carrier, or left the row
 * for later after a create that got no answer. The attempt's campaign-svc lease is still the
 * dead worker's, and may run for the whole call timeout and margin: rather than wait for it,
 * this replica starts the attempt on that worker's behalf if its row does not say so yet,
 * takes the row (a new create lease) and recovers it as a reclaimed attempt would be: the
 * carrier's call is adopted if it has one, else the call is placed. A lease campaign-svc
 * gives another worker (which reconciles the row itself) is looked at again after a create
 * lease; an attempt that can never start (NOT_FOUND: the lead is gone, closed - its campaign
 * was cancelled - or past this attempt) ends the row: no call was placed for it, since the
 * create comes only after the attempt started. */
static void dialer_sweep_orphans(struct dialer_thread *t)
{
    static const char orphans_sql[] =
        "SELECT id, lead_id, attempt, org_id, campaign_id, to_number, "
        "coalesce(from_number, '') AS from_number, call_timeout_seconds, attempt_started, "
        "worker_id, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, "
        "extract(epoch FROM created_at)::bigint AS epoch FROM dialer.calls "
        "WHERE reported_at IS NULL AND completed_at IS NULL AND call_sid IS NULL AND "
        "worker_lease_until <= now() AND (check_after IS NULL OR check_after <= now()) "
        "ORDER BY worker_lease_until LIMIT 10";
    struct dialer_app *app = t->loop->app;
    char lease_s[16];
    PGresult *rows = dialer_sweep_claim(t->db, orphans_sql, 0, NULL);
    if (rows == NULL)
        return;
    snprintf(lease_s, sizeof lease_s, "%d", app->create_lease_s);
    for (int i = 0; i < PQntuples(rows); i++) {
        const char *id = dialer_col(rows, i, "id");
        struct dial_job j;
        memset(&j, 0, sizeof j);
        j.lead_id = (char *)dialer_col(rows, i, "lead_id");
        j.campaign_id = (char *)dialer_col(rows, i, "campaign_id");
        j.org_id = (char *)dialer_col(rows, i, "org_id");
        j.to = (char *)dialer_col(rows, i, "to_number");
        j.from = (char *)dialer_col(rows, i, "from_number");
        j.attempt = atoi(dialer_col(rows, i, "attempt"));
        j.timeout_s = atoi(dialer_col(rows, i, "call_timeout_seconds"));
        if (j.timeout_s <= 0)
            j.timeout_s = 300;
        snprintf(j.call_id, sizeof j.call_id, "%s", id);
        j.started = strcmp(dialer_col(rows, i, "attempt_started"), "t") == 0;
        j.lease_owner = dialer_col(rows, i, "worker_id");
        j.claim_expires_ms = time_now_ms() + DIALER_CLAIM_LEASE_S * 1000;
        log_info(id, "call row of %s attempt %d has no call and %s's create lease ran out: "
                 "recovering it", j.lead_id, j.attempt, j.lease_owner);
        if (!j.started) {
            Od__Status status = OD__STATUS__OK;
            if (dialer_attempt_started_as(app, &j, id, &status) != 0) {
                const char *p[] = {id, lease_s};
                struct carrier_call cc;
                int found = -1;
                memset(&cc, 0, sizeof cc);
                /* NOT_FOUND: the attempt can never start. No call should exist (the create
                 * comes after the start), but an attempt campaign-svc started whose row never
                 * said so (that write failed and the worker dialed on) may have one: the row
                 * ends only when the carrier has no call for it. */
                if (status == OD__STATUS__NOT_FOUND)
                    found = dialer_find_at_carrier(t, &j, dialer_col(rows, i, "day"),
                                                   atoll(dialer_col(rows, i, "epoch")), &cc);
                if (found == 0) {
                    /* the report is recorded on the closed lead (or answered NOT_FOUND for a
                     * lead that is gone) and the row is done */
                    db_command(t->db, "UPDATE dialer.calls SET attempt_started = true WHERE "
                                      "id = $1", 1, p);
                    dialer_end_call(app, t->db, id, id, CALL_CANCELED, OUTCOME_CANCELED,
                                    "the attempt is closed");
                } else if (found == 1) {
                    j.started = true; /* its end is reported, and kept by the closed lead */
                    if (dialer_take_row(t, &j, id))
                        dialer_adopt(t, &j, id, &cc);
                } else {
                    db_command(t->db, "UPDATE dialer.calls SET check_after = now() + "
                                      "make_interval(secs => $2::integer) WHERE id = $1", 2, p);
                }
                continue;
            }
            j.started = true;
        }
        if (dialer_take_row(t, &j, id))
            dialer_recover(t, &j, id, dialer_col(rows, i, "day"),
                           atoll(dialer_col(rows, i, "epoch")));
    }
    PQclear(rows);
}

static void dialer_sweep_once(struct dialer_thread *t)
{
    struct dialer_app *app = t->loop->app;
    struct db *db = t->db;
    struct carrier *carrier = t->carrier;
    static const char timeouts_sql[] =
        "UPDATE dialer.calls SET timeout_at = now() + interval '30 seconds' WHERE id IN (SELECT "
        "id FROM dialer.calls WHERE reported_at IS NULL AND completed_at IS NULL AND call_sid IS "
        "NOT NULL AND timeout_at < now() ORDER BY timeout_at LIMIT 50 FOR UPDATE SKIP LOCKED) "
        "RETURNING id, call_sid";
    static const char stale_sql[] =
        "UPDATE dialer.calls SET check_after = now() + make_interval(secs => $1::integer / "
        "1000.0) WHERE id IN (SELECT id FROM dialer.calls WHERE reported_at IS NULL AND "
        "completed_at IS NULL AND call_sid IS NOT NULL AND coalesce(last_event_at, created_at) < "
        "now() - make_interval(secs => $1::integer / 1000.0) AND (check_after IS NULL OR "
        "check_after < now()) LIMIT 50 FOR UPDATE SKIP LOCKED) RETURNING id, call_sid";
    static const char due_sql[] =
        "SELECT id FROM dialer.calls WHERE reported_at IS NULL AND finalized_at IS NULL AND "
        "completed_at IS NOT NULL AND finish_due_at <= now() LIMIT 100";
    char err[256], stale_ms[16];
    PGresult *res;

    /* calls past their timeout: record TIMED_OUT first (so the carrier's "completed" after the
     * hang-up changes nothing), then hang up */
    if ((res = dialer_sweep_claim(db, timeouts_sql, 0, NULL)) != NULL) {
        for (int i = 0; i < PQntuples(res); i++) {
            const char *id = dialer_col(res, i, "id"), *sid = dialer_col(res, i, "call_sid");
            log_info(id, "call %s passed its timeout: hanging up", sid);
            dialer_end_call(app, db, id, id, CALL_TIMED_OUT, OUTCOME_TIMEOUT, "call timeout");
            int rc = carrier_hangup(carrier, sid, err, sizeof err);
            if (rc != CARRIER_OK && rc != CARRIER_NOT_FOUND)
                log_warn(id, "hanging up %s: %s", sid, err);
        }
        PQclear(res);
    }
    /* calls with no callback for a while: ask the carrier */
    snprintf(stale_ms, sizeof stale_ms, "%d", app->stale_ms);
    const char *sp[] = {stale_ms};
    if ((res = dialer_sweep_claim(db, stale_sql, 1, sp)) != NULL) {
        for (int i = 0; i < PQntuples(res); i++) {
            const char *id = dialer_col(res, i, "id"), *sid = dialer_col(res, i, "call_sid");
            struct carrier_call cc;
            memset(&cc, 0, sizeof cc);
            int rc = carrier_fetch_call(carrier, sid, &cc, err, sizeof err);
            if (rc == CARRIER_OK) {
                struct dialer_carrier_update u = {.call_id = id,
                                                  .call_sid = cc.sid,
                                                  .status = cc.status,
                                                  .answered_by = cc.answered_by,
                                                  .duration_seconds = cc.duration_seconds};
                dialer_apply_update(app, db, id, &u);
            } else if (rc == CARRIER_NOT_FOUND) {
                dialer_end_call(app, db, id, id, CALL_FAILED, OUTCOME_CARRIER_ERROR,
                                "the carrier does not know the call");
            } else {
                log_warn(id, "fetching %s: %s", sid, err);
            }
        }
        PQclear(res);
    }
    /* finishes whose wait for the agent's outcome is over */
    if ((res = dialer_sweep_claim(db, due_sql, 0, NULL)) != NULL) {
        for (int i = 0; i < PQntuples(res); i++)
            dialer_finish(app, db, dialer_col(res, i, "id"), dialer_col(res, i, "id"), false);
        PQclear(res);
    }
    /* rows whose worker died before the carrier was asked */
    dialer_sweep_orphans(t);
    /* (reports campaign-svc did not acknowledge are the reporter's: reporter.c) */
}

static void *dialer_sweep_main(void *arg)
{
    struct dialer_thread *t = arg;
    do
        dialer_sweep_once(t);
    while (!waker_wait(&t->loop->sweep_waker, t->loop->app->sweep_ms));
    return NULL;
}

/* ---------------- start, wake, stop ---------------- */

static int dialer_thread_open(struct dialer_loop *loop, struct dialer_thread *t)
{
    t->loop = loop;
    t->db = db_open(service_runtime_database_url(loop->app->rt), 30000);
    t->carrier = carrier_open(&loop->app->carrier);
    return t->db != NULL && t->carrier != NULL ? 0 : -1;
}

static void dialer_thread_close(struct dialer_thread *t)
{
    if (t->carrier != NULL)
        carrier_close(t->carrier);
    if (t->db != NULL)
        db_close(t->db);
}

static void dialer_loop_free(struct dialer_loop *loop)
{
    free(loop->created); /* empty: the record thread wrote it before it exited */
    db_close(loop->record_db);
    for (int i = 0; i < loop->nthreads; i++)
        dialer_thread_close(&loop->threads[i]);
    free(loop->threads);
    free(loop->dial_threads);
    while (loop->head != NULL) {
        struct dial_job *j = loop->head;
        loop->head = j->next;
        dial_job_free(j);
    }
    pthread_cond_destroy(&loop->work_cond);
    pthread_mutex_destroy(&loop->lock);
    waker_destroy(&loop->claim_waker);
    waker_destroy(&loop->sweep_waker);
    waker_destroy(&loop->record_waker);
    free(loop);
}

/* Joins the threads that were started (in the order that lets each finish its work). */
static void dialer_loop_join(struct dialer_loop *loop, bool release_queue);

void *dialer_loop_start(struct service_runtime *rt)
{
    struct dialer_app *app = service_runtime_app(rt);
    struct dialer_loop *loop = calloc(1, sizeof *loop);
    if (loop == NULL)
        return NULL;
    if (waker_init(&loop->claim_waker) != 0) {
        free(loop);
        return NULL;
    }
    if (waker_init(&loop->sweep_waker) != 0) {
        waker_destroy(&loop->claim_waker);
        free(loop);
        return NULL;
    }
    if (waker_init(&loop->record_waker) != 0) {
        waker_destroy(&loop->claim_waker);
        waker_destroy(&loop->sweep_waker);
        free(loop);
        return NULL;
    }
    loop->app = app;
    pthread_mutex_init(&loop->lock, NULL);
    pthread_cond_init(&loop->work_cond, NULL);
    loop->nthreads = app->dial_threads + 1;
    loop->threads = calloc((size_t)loop->nthreads, sizeof *loop->threads);
    loop->dial_threads = calloc((size_t)app->dial_threads, sizeof *loop->dial_threads);
    if (loop->threads == NULL || loop->dial_threads == NULL) {
        dialer_loop_free(loop);
        return NULL;
    }
    for (int i = 0; i < loop->nthreads; i++)
        if (dialer_thread_open(loop, &loop->threads[i]) != 0) {
            log_error(NULL, "dialer loop: database or carrier driver unavailable");
            dialer_loop_free(loop);
            return NULL;
        }
    loop->record_db = db_open(service_runtime_database_url(app->rt), 30000);
    if (loop->record_db == NULL) {
        log_error(NULL, "dialer loop: database unavailable");
        dialer_loop_free(loop);
        return NULL;
    }
    if (pthread_create(&loop->sweep_thread, NULL, dialer_sweep_main, &loop->threads[0]) != 0)
        goto fail;
    loop->sweep_started = true;
    if (pthread_create(&loop->record_thread, NULL, dialer_record_main, loop) != 0)
        goto fail;
    pthread_mutex_lock(&loop->lock);
    loop->record_started = true;
    pthread_mutex_unlock(&loop->lock);
    for (; loop->ndial < app->dial_threads; loop->ndial++)
        if (pthread_create(&loop->dial_threads[loop->ndial], NULL, dialer_dial_main,
                           &loop->threads[loop->ndial + 1]) != 0)
            goto fail;
    if (pthread_create(&loop->claim_thread, NULL, dialer_claim_main, loop) != 0)
        goto fail;
    loop->claim_started = true;
    log_info(NULL, "dialer %s: capacity %d, %d dial threads, carrier %s, callbacks to %s",
             app->dialer_id, app->capacity, app->dial_threads, app->carrier.base_url,
             app->public_base_url);
    return loop;
fail:
    log_error(NULL, "dialer loop: cannot start its threads");
    dialer_loop_join(loop, true);
    if (loop->sweep_started) {
        waker_stop(&loop->sweep_waker);
        pthread_join(loop->sweep_thread, NULL);
    }
    dialer_loop_free(loop);
    return NULL;
}

void dialer_loop_wake(void *handle)
{
    struct dialer_loop *loop = handle;
    waker_wake(&loop->claim_waker);
}

static void dialer_loop_join(struct dialer_loop *loop, bool release_queue)
{
    struct dial_job **jobs = NULL;
    int n = 0;

    /* 1. no more claims */
    waker_stop(&loop->claim_waker);
    if (loop->claim_started)
        pthread_join(loop->claim_thread, NULL);
    loop->claim_started = false;

    /* 2. the queued leases were never dialed: hand them back at once */
    pthread_mutex_lock(&loop->lock);
    if (loop->queued > 0 && (jobs = calloc((size_t)loop->queued, sizeof *jobs)) != NULL)
        for (struct dial_job *j = loop->head; j != NULL; j = j->next)
            jobs[n++] = j;
    if (jobs != NULL) {
        loop->head = loop->tail = NULL;
        loop->queued = 0;
    }
    loop->quit = true;
    pthread_cond_broadcast(&loop->work_cond);
    pthread_mutex_unlock(&loop->lock);
    if (release_queue && n > 0) {
        /* their rows first: a lease handed back must not leave a row that says it is ours */
        struct db *db = db_open(service_runtime_database_url(loop->app->rt), 5000);
        if (db != NULL)
            dialer_delete_unplaced(loop->app, db, jobs, n);
        db_close(db);
        dialer_release(loop->app, jobs, n);
    }
    for (int i = 0; i < n; i++)
        dial_job_free(jobs[i]);
    free(jobs);

    /* 3. the dial threads finish the lease they hold */
    for (int i = 0; i < loop->ndial; i++)
        pthread_join(loop->dial_threads[i], NULL);
    loop->ndial = 0;

    /* 4. the record thread writes the rows of the calls they created */
    if (loop->record_started) {
        waker_stop(&loop->record_waker);
        pthread_join(loop->record_thread, NULL);
        pthread_mutex_lock(&loop->lock);
        loop->record_started = false;
        pthread_mutex_unlock(&loop->lock);
    }
}

void dialer_loop_stop(void *handle)
{
    struct dialer_loop *loop = handle;
    struct dialer_app *app;
    int64_t give_up;
    if (loop == NULL)
        return;
    app = loop->app;
    dialer_loop_join(loop, true);

    /* 5. follow the calls in flight for the grace period (the sweeps keep running; this
     * thread counts on a connection of its own: the sweep's belongs to the sweep) */
    struct db *db = db_open(service_runtime_database_url(app->rt), 5000);
    give_up = time_monotonic_ms() + app->grace_ms;
    while (db != NULL && loop->sweep_started && time_monotonic_ms() < give_up) {
        if (dialer_following(app, db) == 0)
            break;
        struct timespec ts = {0, 200 * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (db != NULL) {
        int left = dialer_following(app, db);
        if (left > 0)
            log_info(NULL, "dialer %s stops with %d calls in flight: callbacks on any replica "
                     "finish them", app->dialer_id, left);
        db_close(db);
    }
    if (loop->sweep_started) {
        waker_stop(&loop->sweep_waker);
        pthread_join(loop->sweep_thread, NULL);
        loop->sweep_started = false;
    }
    dialer_loop_free(loop);
}
