/* The Dialing RPC service: what dialer-svc drives. These calls are NOT organization-scoped
 * (the envelope's org_id is ""): a dialer serves every organization, so each query below
 * spans all organizations and says so; leads are found by their globally unique id.
 *
 * Claim, in one transaction:
 *   1. expired leases of running campaigns are re-leased to the caller with the SAME attempt
 *      (Lease.reclaimed); expired leases of campaigns that no longer run go back to PENDING
 *      with attempt_open set, so their next claim reuses the attempt too;
 *   2. running campaigns (window open now, organization has credits) are visited through
 *      their pacing rows, locked FOR UPDATE SKIP LOCKED a few at a time (up to 32 in all) so
 *      concurrent claimers spread over campaigns; each row's token bucket refills at
 *      callsPerMinute/60 per second up to a burst of max(1, callsPerMinute/60); in-flight is
 *      COUNTED (QUEUED + IN_PROGRESS leads) inside the transaction, after the row is locked,
 *      so no slot can stay stuck and no cap is overrun; count, take and the bucket's
 *      write-back are one statement per campaign;
 *   3. due PENDING leads are taken FOR UPDATE SKIP LOCKED and become QUEUED with a lease.
 *      With respectContactLocalTime, leads whose own local window is closed get their
 *      next_attempt_at moved to when it opens, so they leave the scan until then.
 *
 * An attempt number is counted once: a claim increments attempts unless attempt_open says
 * the current attempt was leased and never finished (expired on a paused campaign, or handed
 * back by ReleaseLeases). */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "campaign.h"
#include "copytext.h"
#include "db.h"
#include "log.h"
#include "od_names.h"
#include "outbox.h"
#include "rpc_util.h"
#include "timefmt.h"
#include "tz.h"

#define CLAIM_CAMPAIGNS_PER_CALL 32
/* Campaigns are locked a few at a time (up to CLAIM_CAMPAIGNS_PER_CALL in all): a claim of 10
 * is usually filled by the first one, and every pacing row locked FOR UPDATE is a row the
 * concurrent claimers skip (with 32 at a time and 40 campaigns, a third claimer found none). */
#define CLAIM_CAMPAIGNS_PER_BATCH 4
#define CLAIM_BATCHES (CLAIM_CAMPAIGNS_PER_CALL / CLAIM_CAMPAIGNS_PER_BATCH)
/* Expired leases are looked for by one claim in this interval, not by every claim: the
 * statement was one of a claim's three (bench (h): 3.1 ms a claim against 1.15 ms for the
 * raw claim), and a lease that expired waits at most this much longer. A claim that reclaims
 * a full batch leaves the next claim to look again at once. */
#define CLAIM_RECLAIM_EVERY_MS 250

/* The columns every lease row returns (aliases: u = the updated lead, k = its campaign's
 * claim row), in enum lease_col order. */
enum lease_col { LC_ID, LC_CAMPAIGN, LC_ORG, LC_ATTEMPT, LC_PHONE, LC_CONTACT, LC_NAME,
                 LC_VARIABLES, LC_EXPIRES, LC_RECLAIMED };

struct claim_campaign {     /* strings point into the campaign result */
    const char *org_id, *id, *from_number, *agent_id, *runtime_url, *first_message, *name,
        *webhook_url;
    int agent_version, call_timeout_seconds;
};

struct claim_result {
    PGresult *results[CLAIM_CAMPAIGNS_PER_CALL + CLAIM_BATCHES + 2];
    struct claim_campaign camp[CLAIM_CAMPAIGNS_PER_CALL + 2];
    int nresults;
    Od__Lease *leases;
    Od__Lease **ptrs;
    size_t n, cap;
};

static int claim_add_rows(struct claim_result *r, PGresult *res, const struct claim_campaign *c)
{
    int rows = PQntuples(res);
    r->results[r->nresults] = res;
    r->camp[r->nresults] = *c;
    const struct claim_campaign *cc = &r->camp[r->nresults];
    r->nresults++;
    for (int i = 0; i < rows && r->n < r->cap; i++) {
        Od__Lease *l = &r->leases[r->n];
        od__lease__init(l);
        l->lead_id = PQgetvalue(res, i, LC_ID);
        l->campaign_id = PQgetvalue(res, i, LC_CAMPAIGN);
        l->org_id = PQgetvalue(res, i, LC_ORG);
        l->attempt = atoi(PQgetvalue(res, i, LC_ATTEMPT));
        l->phone_number = PQgetvalue(res, i, LC_PHONE);
        l->contact_id = PQgetvalue(res, i, LC_CONTACT);
        l->contact_name = PQgetvalue(res, i, LC_NAME);
        l->variables_json = PQgetvalue(res, i, LC_VARIABLES);
        l->lease_expires_at = PQgetvalue(res, i, LC_EXPIRES);
        l->reclaimed = PQgetvalue(res, i, LC_RECLAIMED)[0] == 't';
        if (cc->id != NULL) {
            l->from_number = (char *)cc->from_number;
            l->agent_id = (char *)cc->agent_id;
            l->agent_version = cc->agent_version;
            l->runtime_url = (char *)cc->runtime_url;
            l->first_message = (char *)cc->first_message;
            l->call_timeout_seconds = cc->call_timeout_seconds;
            l->campaign_name = (char *)cc->name;
            l->webhook_url = (char *)cc->webhook_url;
        }
        r->ptrs[r->n++] = l;
    }
    return rows;
}

#define LEASE_RETURNING                                                                        \
    " RETURNING l.id, l.campaign_id, l.org_id, l.attempts, l.phone_number,"                  \
    " coalesce(l.contact_id, ''), coalesce(l.name, ''), l.variables::text, "                 \
    SQL_ISO_MS("l.lease_expires_at")

/* Step 1: expired leases. Spans every organization. Reclaimed leases come back with their
 * campaign's dialing details joined in. In the same statement (one round trip less per
 * claim), expired leases of campaigns that do not run (paused, failed) go back to PENDING with
 * their attempt kept open; the two sets are disjoint (campaign IN_PROGRESS or not). */
static const char reclaim_sql[] =
    "WITH exp AS (SELECT l.org_id, l.campaign_id, l.id FROM campaign.leads l"
    "   JOIN campaign.campaigns c ON c.org_id = l.org_id AND c.id = l.campaign_id"
    "   WHERE l.status IN ('QUEUED', 'IN_PROGRESS') AND l.lease_expires_at < now()"
    "   AND c.status = 'IN_PROGRESS'"
    "   ORDER BY l.lease_expires_at LIMIT $1::int FOR UPDATE OF l SKIP LOCKED),"
    " upd AS (UPDATE campaign.leads l SET status = 'QUEUED', lease_owner = $2,"
    "   lease_expires_at = now() + make_interval(secs => $3::int), updated_at = now()"
    "   FROM exp WHERE l.id = ANY (ARRAY(SELECT id FROM exp)) AND l.id = exp.id" /* dialing_take_sql */
    LEASE_RETURNING ", true),"
    " rel AS (UPDATE campaign.leads l SET status = 'PENDING', attempt_open = true,"
    "   lease_owner = NULL, lease_expires_at = NULL, updated_at = now() WHERE l.id IN"
    "   (SELECT l2.id FROM campaign.leads l2 JOIN campaign.campaigns c ON c.org_id = l2.org_id"
    "   AND c.id = l2.campaign_id WHERE l2.status IN ('QUEUED', 'IN_PROGRESS')"
    "   AND l2.lease_expires_at < now() AND c.status <> 'IN_PROGRESS'"
    "   LIMIT 100 FOR UPDATE OF l2 SKIP LOCKED)) "
    "SELECT u.*, coalesce(c.from_number, ''), c.agent_id, c.agent_version,"
    " coalesce(v.runtime_url, ''), coalesce(v.first_message, ''), c.call_timeout_minutes * 60,"
    " c.name, coalesce(c.webhook_url, '')"
    " FROM upd u JOIN campaign.campaigns c ON c.org_id = u.org_id AND c.id = u.campaign_id"
    " LEFT JOIN campaign.agent_versions v ON v.org_id = c.org_id AND v.agent_id = c.agent_id"
    "   AND v.version = c.agent_version";
enum { RC_FROM = LC_RECLAIMED + 1, RC_AGENT, RC_VERSION, RC_RUNTIME, RC_FIRST, RC_TIMEOUT,
       RC_NAME, RC_WEBHOOK };

/* Step 2: running campaigns with credits, least recently visited first, but for those this
 * claim visited already ($2). Spans every organization. The last two columns are the token
 * bucket refilled to now (at most the burst, max(1, callsPerMinute/60)) and that "now": they
 * are computed on the locked row (a row updated meanwhile is re-read before it is locked). */
static const char campaigns_sql[] =
    "SELECT p.org_id, p.campaign_id, c.calls_per_minute, c.max_concurrent_calls,"
    " coalesce(c.timezone, ''), coalesce(c.window_start, ''), coalesce(c.window_end, ''),"
    " array_to_string(c.weekdays, ','), c.respect_contact_local_time,"
    " coalesce(c.from_number, ''), c.agent_id, c.agent_version, coalesce(v.runtime_url, ''),"
    " coalesce(v.first_message, ''), c.call_timeout_minutes * 60, c.name,"
    " coalesce(c.webhook_url, ''),"
    " least(greatest(1, c.calls_per_minute / 60.0), p.tokens + greatest(0,"
    "   extract(epoch FROM n.now - p.refilled_at)) * c.calls_per_minute / 60.0),"
    " greatest(p.refilled_at, n.now)"
    " FROM campaign.pacing p JOIN campaign.campaigns c ON c.org_id = p.org_id"
    "   AND c.id = p.campaign_id"
    " LEFT JOIN campaign.agent_versions v ON v.org_id = c.org_id AND v.agent_id = c.agent_id"
    "   AND v.version = c.agent_version"
    " CROSS JOIN LATERAL (SELECT clock_timestamp() AS now) n"
    " WHERE c.status = 'IN_PROGRESS' AND EXISTS (SELECT 1 FROM campaign.credit_balances b"
    "   WHERE b.org_id = c.org_id AND b.balance > 0)"
    "   AND NOT (p.campaign_id = ANY ($2::text[]))"
    " ORDER BY p.refilled_at LIMIT $1::int FOR UPDATE OF p SKIP LOCKED";
enum { CS_ORG, CS_ID, CS_CPM, CS_MAXC, CS_TZ, CS_WSTART, CS_WEND, CS_WEEKDAYS, CS_RESPECT,
       CS_FROM, CS_AGENT, CS_VERSION, CS_RUNTIME, CS_FIRST, CS_TIMEOUT, CS_NAME, CS_WEBHOOK,
       CS_TOKENS, CS_REFILLED };

/* Refills the bucket (clock time: a claim that waited for the lock must not refill from its
 * own start) and counts the campaign's leases in flight. */
static const char refill_sql[] =
    "UPDATE campaign.pacing SET tokens = least($3::float8, tokens + greatest(0,"
    "   extract(epoch FROM clock_timestamp() - refilled_at)) * $4::float8),"
    " refilled_at = greatest(refilled_at, clock_timestamp()),"
    " in_flight = (SELECT count(*) FROM campaign.leads WHERE org_id = $1 AND campaign_id = $2"
    "   AND status IN ('QUEUED', 'IN_PROGRESS'))"
    " WHERE org_id = $1 AND campaign_id = $2 RETURNING tokens, in_flight";

/* The campaign ($1, $2) still runs, read again by the statement that takes its leads: the
 * campaigns_sql snapshot may be older than a pause or cancel committed since (pause stops new
 * claims at once). Not a lock: a claim that began before the pause commits may still lease. */
#define CLAIM_STILL_RUNNING                                                                    \
    "EXISTS (SELECT 1 FROM campaign.campaigns rc WHERE rc.org_id = $1 AND rc.id = $2"          \
    " AND rc.status = 'IN_PROGRESS')"

/* Step 3, in one statement with the campaign's pacing row locked: count its leases in flight
 * (this statement starts after the lock is held, so it sees every claim committed before),
 * take up to min($5 = what the caller still wants, floor($6 = tokens refilled to $7),
 * $8 = maxConcurrentCalls - in flight) due leads and lease them, and write the bucket back:
 * tokens less what was taken, refilled at $7, in_flight counted plus taken. */
const char dialing_take_sql[] =
    "WITH cnt AS (SELECT count(*)::int AS n FROM campaign.leads WHERE org_id = $1"
    "   AND campaign_id = $2 AND status IN ('QUEUED', 'IN_PROGRESS')),"
    " want AS (SELECT CASE WHEN " CLAIM_STILL_RUNNING " THEN"
    "   greatest(0, least($5::int, floor($6::float8)::int, $8::int - n)) ELSE 0 END AS n"
    "   FROM cnt),"
    " picked AS (SELECT id, attempt_open FROM campaign.leads WHERE org_id = $1"
    "   AND campaign_id = $2 AND status = 'PENDING' AND next_attempt_at <= now()"
    "   ORDER BY next_attempt_at LIMIT (SELECT n FROM want) FOR UPDATE SKIP LOCKED),"
    " upd AS (UPDATE campaign.leads l SET status = 'QUEUED',"
    "   attempts = CASE WHEN l.attempt_open THEN l.attempts ELSE l.attempts + 1 END,"
    "   attempt_open = false, lease_owner = $3,"
    "   lease_expires_at = now() + make_interval(secs => $4::int), updated_at = now()"
    /* the leads by primary key: joined on (org, campaign, id) with picked's row count
     * unknown (a LIMIT from a subquery), the planner hashed every lead of the campaign
     * (7.8 ms a claim at 5,000 leads; 0.7 ms this way) */
    "   FROM picked p WHERE l.id = ANY (ARRAY(SELECT id FROM picked)) AND l.id = p.id"
    LEASE_RETURNING ", p.attempt_open),"
    " pay AS (UPDATE campaign.pacing SET tokens = $6::float8 - (SELECT count(*) FROM upd),"
    "   refilled_at = $7::timestamptz,"
    "   in_flight = (SELECT n FROM cnt) + (SELECT count(*) FROM upd)"
    "   WHERE org_id = $1 AND campaign_id = $2)"
    " SELECT * FROM upd";
/* The pacing debit after a take by ids (respectContactLocalTime). */
static const char pacing_debit_sql[] =
    "UPDATE campaign.pacing SET tokens = tokens - $3::int,"
    " in_flight = in_flight + $3::int WHERE org_id = $1 AND campaign_id = $2";
/* The same for leads already chosen and locked by this transaction ($5 = their ids). */
static const char take_ids_sql[] =
    "WITH picked AS (SELECT id, attempt_open FROM campaign.leads WHERE org_id = $1"
    "   AND campaign_id = $2 AND id = ANY ($5::text[]) AND " CLAIM_STILL_RUNNING ")"
    " UPDATE campaign.leads l SET status = 'QUEUED',"
    " attempts = CASE WHEN l.attempt_open THEN l.attempts ELSE l.attempts + 1 END,"
    " attempt_open = false, lease_owner = $3,"
    " lease_expires_at = now() + make_interval(secs => $4::int), updated_at = now()"
    " FROM picked p WHERE l.id = ANY ($5::text[]) AND l.id = p.id" /* by key: see dialing_take_sql */
    LEASE_RETURNING ", p.attempt_open";

/* With respectContactLocalTime: choose up to want of the campaign's due leads whose own local
 * window is open; defer the others to their opening. The chosen ids go into ids (a text[]
 * literal). Returns how many were chosen, -1 on a database error. */
static int claim_pick_local(struct db *db, const char *org, const char *id,
                            const struct call_window *w, int want, int64_t now,
                            struct copytext *ids)
{
    char limit[16];
    snprintf(limit, sizeof limit, "%d", want * 4);
    const char *params[] = {org, id, limit};
    PGresult *res = db_exec(db,
                            "SELECT id, coalesce(contact_tz, '') FROM campaign.leads"
                            " WHERE org_id = $1 AND campaign_id = $2 AND status = 'PENDING'"
                            " AND next_attempt_at <= now() ORDER BY next_attempt_at"
                            " LIMIT $3::int FOR UPDATE SKIP LOCKED",
                            3, params);
    struct copytext defer_ids = {0}, defer_at = {0};
    int chosen = 0, rc = -1;
    if (!db_ok(res))
        goto out;
    for (int i = 0; i < PQntuples(res); i++) {
        const char *ztext = PQgetvalue(res, i, 1);
        const struct tz_zone *zone = ztext[0] ? tz_get(ztext) : NULL;
        if (zone == NULL || window_open(w, zone, now)) {
            if (chosen < want) {
                copytext_array_add(ids, PQgetvalue(res, i, 0));
                chosen++;
            }
            continue;
        }
        int64_t next = window_next_open(w, zone, now);
        char at[TIME_ISO_LEN];
        time_format_ms((next < 0 ? now + 86400 : next) * 1000, at, sizeof at);
        copytext_array_add(&defer_ids, PQgetvalue(res, i, 0));
        copytext_array_add(&defer_at, at);
    }
    if (defer_ids.len > 0) {
        const char *dp[] = {org, id, copytext_array_end(&defer_ids), copytext_array_end(&defer_at)};
        if (dp[2] == NULL || dp[3] == NULL ||
            db_command(db,
                       "UPDATE campaign.leads l SET next_attempt_at = d.at FROM"
                       " unnest($3::text[], $4::timestamptz[]) AS d(id, at)"
                       " WHERE l.org_id = $1 AND l.campaign_id = $2 AND l.id = d.id",
                       4, dp) != 0)
            goto out;
    }
    rc = chosen;
out:
    PQclear(res);
    free(defer_ids.data);
    free(defer_at.data);
    return rc;
}

/* Claims what one locked campaign (row ci of camps) may give: nothing while its window is
 * closed; else up to its tokens, its free concurrency and what the caller still wants.
 * 0, or -1 with the call failed. */
static int claim_campaign(struct rpc_call *call, const Od__ClaimRequest *in,
                          struct claim_result *r, PGresult *camps, int ci, int64_t now,
                          const char *lease_text)
{
    const char *org = PQgetvalue(camps, ci, CS_ORG), *id = PQgetvalue(camps, ci, CS_ID);
    int cpm = atoi(PQgetvalue(camps, ci, CS_CPM));
    const char *maxc_text = PQgetvalue(camps, ci, CS_MAXC);
    int maxc = atoi(maxc_text);
    const char *zname = PQgetvalue(camps, ci, CS_TZ);
    const struct tz_zone *zone = zname[0] ? tz_get(zname) : NULL;
    struct call_window w;
    int32_t weekdays[7];
    size_t nwd = 0;
    char err[128], want_text[16];
    PGresult *taken;

    for (const char *p = PQgetvalue(camps, ci, CS_WEEKDAYS); *p && nwd < 7;) {
        weekdays[nwd++] = (int32_t)strtol(p, (char **)&p, 10);
        if (*p == ',')
            p++;
    }
    if (window_init(&w, PQgetvalue(camps, ci, CS_WSTART), PQgetvalue(camps, ci, CS_WEND),
                    weekdays, nwd, err, sizeof err) != 0)
        return 0;
    if (!window_open(&w, zone, now))
        return 0; /* closed in the campaign's zone: nothing to refill for */
    snprintf(want_text, sizeof want_text, "%d", (int)(r->cap - r->n));
    if (PQgetvalue(camps, ci, CS_RESPECT)[0] != 't') {
        /* one statement: count in flight, take, write the bucket back */
        const char *tp[] = {org, id, in->worker_id, lease_text, want_text,
                            PQgetvalue(camps, ci, CS_TOKENS), PQgetvalue(camps, ci, CS_REFILLED),
                            maxc_text};
        taken = db_exec_prepared(call->db, dialing_take_sql, 8, tp);
    } else {
        char burst[32], rate[32];
        snprintf(burst, sizeof burst, "%.6f", cpm / 60.0 < 1 ? 1.0 : cpm / 60.0);
        snprintf(rate, sizeof rate, "%.6f", cpm / 60.0);
        const char *rp[] = {org, id, burst, rate};
        PGresult *refill = db_exec_prepared(call->db, refill_sql, 4, rp);
        if (!db_ok(refill) || PQntuples(refill) != 1) {
            rpc_fail_sql(call, refill, "claim refill");
            PQclear(refill);
            return -1;
        }
        double tokens = strtod(PQgetvalue(refill, 0, 0), NULL);
        int in_flight = atoi(PQgetvalue(refill, 0, 1));
        PQclear(refill);
        int want = (int)(r->cap - r->n);
        if ((int)floor(tokens) < want)
            want = (int)floor(tokens);
        if (maxc - in_flight < want)
            want = maxc - in_flight;
        if (want <= 0)
            return 0;
        struct copytext ids = {0};
        int chosen = claim_pick_local(call->db, org, id, &w, want, now, &ids);
        const char *arr = copytext_array_end(&ids);
        if (chosen < 0 || arr == NULL) {
            free(ids.data);
            rpc_fail(call, OD__STATUS__UNAVAILABLE, "claim leads failed");
            return -1;
        }
        const char *tp[] = {org, id, in->worker_id, lease_text, arr};
        taken = db_exec_prepared(call->db, take_ids_sql, 5, tp);
        free(ids.data);
    }
    if (!db_ok(taken)) {
        rpc_fail_sql(call, taken, "claim leads");
        PQclear(taken);
        return -1;
    }
    struct claim_campaign c = {
        .org_id = org, .id = id, .from_number = PQgetvalue(camps, ci, CS_FROM),
        .agent_id = PQgetvalue(camps, ci, CS_AGENT),
        .agent_version = atoi(PQgetvalue(camps, ci, CS_VERSION)),
        .runtime_url = PQgetvalue(camps, ci, CS_RUNTIME),
        .first_message = PQgetvalue(camps, ci, CS_FIRST),
        .call_timeout_seconds = atoi(PQgetvalue(camps, ci, CS_TIMEOUT)),
        .name = PQgetvalue(camps, ci, CS_NAME), .webhook_url = PQgetvalue(camps, ci, CS_WEBHOOK)};
    int got = claim_add_rows(r, taken, &c);
    if (got > 0 && PQgetvalue(camps, ci, CS_RESPECT)[0] == 't') {
        char got_text[16];
        snprintf(got_text, sizeof got_text, "%d", got);
        const char *up[] = {org, id, got_text};
        PGresult *res = db_exec_prepared(call->db, pacing_debit_sql, 3, up);
        bool ok = db_ok(res);
        PQclear(res);
        if (!ok) {
            rpc_fail(call, OD__STATUS__UNAVAILABLE, "claim pacing failed");
            return -1;
        }
    }
    return 0;
}

static void dialing_claim(Od__Dialing_Service *service, const Od__ClaimRequest *in,
                          Od__ClaimReply_Closure closure, void *closure_data)
{
    struct rpc_call *call = closure_data;
    Od__ClaimReply reply = OD__CLAIM_REPLY__INIT;
    struct claim_result r;
    char cap_text[16], lease_text[16];
    int lease = in->lease_seconds == 0 ? CAMPAIGN_LEASE_DEFAULT : in->lease_seconds;
    PGresult *camps_res[CLAIM_BATCHES];
    int ncamps_res = 0;
    struct copytext visited = {0};
    int64_t now = time_now_ms() / 1000;
    (void)service;

    memset(&r, 0, sizeof r);
    if (in->capacity < 1 || in->capacity > CAMPAIGN_CLAIM_MAX || lease < 1 ||
        lease > CAMPAIGN_LEASE_MAX || in->worker_id[0] == '\0' || strlen(in->worker_id) > 128) {
        rpc_fail(call, OD__STATUS__INVALID,
                 "workerId is required, capacity must be 1..%d and leaseSeconds 0..%d",
                 CAMPAIGN_CLAIM_MAX, CAMPAIGN_LEASE_MAX);
        goto done;
    }
    r.cap = (size_t)in->capacity;
    r.leases = calloc(r.cap, sizeof *r.leases);
    r.ptrs = calloc(r.cap, sizeof *r.ptrs);
    if (r.leases == NULL || r.ptrs == NULL) {
        rpc_fail(call, OD__STATUS__INTERNAL, "out of memory");
        goto done;
    }
    snprintf(cap_text, sizeof cap_text, "%d", in->capacity);
    snprintf(lease_text, sizeof lease_text, "%d", lease);
    if (db_begin(call->db) != 0) {
        rpc_fail(call, OD__STATUS__UNAVAILABLE, "database unavailable");
        goto done;
    }
    /* 1. expired leases (all organizations), by one claim per CLAIM_RECLAIM_EVERY_MS */
    struct campaign_app *app = call->app;
    int64_t mono = time_monotonic_ms(), due = atomic_load(&app->reclaim_due_ms);
    if (mono >= due && atomic_compare_exchange_strong(&app->reclaim_due_ms, &due,
                                                      mono + CLAIM_RECLAIM_EVERY_MS)) {
        const char *p[] = {cap_text, in->worker_id, lease_text};
        PGresult *res = db_exec_prepared(call->db, reclaim_sql, 3, p);
        if (!db_ok(res)) {
            rpc_fail_sql(call, res, "reclaim leases");
            PQclear(res);
            goto rollback;
        }
        /* each reclaimed row carries its own campaign's details */
        r.results[r.nresults++] = res;
        for (int i = 0; i < PQntuples(res) && r.n < r.cap; i++) {
            struct claim_campaign c = {
                .from_number = PQgetvalue(res, i, RC_FROM), .agent_id = PQgetvalue(res, i, RC_AGENT),
                .agent_version = atoi(PQgetvalue(res, i, RC_VERSION)),
                .runtime_url = PQgetvalue(res, i, RC_RUNTIME),
                .first_message = PQgetvalue(res, i, RC_FIRST),
                .call_timeout_seconds = atoi(PQgetvalue(res, i, RC_TIMEOUT)),
                .id = PQgetvalue(res, i, LC_CAMPAIGN), .org_id = PQgetvalue(res, i, LC_ORG)};
            Od__Lease *l = &r.leases[r.n];
            od__lease__init(l);
            l->lead_id = PQgetvalue(res, i, LC_ID);
            l->campaign_id = (char *)c.id;
            l->org_id = (char *)c.org_id;
            l->attempt = atoi(PQgetvalue(res, i, LC_ATTEMPT));
            l->phone_number = PQgetvalue(res, i, LC_PHONE);
            l->contact_id = PQgetvalue(res, i, LC_CONTACT);
            l->contact_name = PQgetvalue(res, i, LC_NAME);
            l->variables_json = PQgetvalue(res, i, LC_VARIABLES);
            l->lease_expires_at = PQgetvalue(res, i, LC_EXPIRES);
            l->reclaimed = true;
            l->from_number = (char *)c.from_number;
            l->agent_id = (char *)c.agent_id;
            l->agent_version = c.agent_version;
            l->runtime_url = (char *)c.runtime_url;
            l->first_message = (char *)c.first_message;
            l->call_timeout_seconds = c.call_timeout_seconds;
            l->campaign_name = PQgetvalue(res, i, RC_NAME);
            l->webhook_url = PQgetvalue(res, i, RC_WEBHOOK);
            r.ptrs[r.n++] = l;
        }
        if ((size_t)PQntuples(res) >= r.cap)
            atomic_store(&app->reclaim_due_ms, mono); /* there may be more */
    }
    if (r.n >= r.cap)
        goto commit;
    /* 2. running campaigns (all organizations), a few locked at a time */
    for (int batch = 0; batch < CLAIM_BATCHES && r.n < r.cap; batch++) {
        char limit[16];
        const char *seen = copytext_array_end(&visited);
        if (seen == NULL) {
            rpc_fail(call, OD__STATUS__INTERNAL, "out of memory");
            goto rollback;
        }
        snprintf(limit, sizeof limit, "%d", CLAIM_CAMPAIGNS_PER_BATCH);
        const char *p[] = {limit, seen};
        PGresult *camps = db_exec_prepared(call->db, campaigns_sql, 2, p);
        /* copytext_array_end closed the literal: start it again with what it held */
        visited.len = visited.len > 2 ? visited.len - 1 : 0;
        if (visited.len > 0)
            visited.data[visited.len] = '\0';
        if (!db_ok(camps)) {
            rpc_fail_sql(call, camps, "claim campaigns");
            PQclear(camps);
            goto rollback;
        }
        camps_res[ncamps_res++] = camps;
        int nrows = PQntuples(camps);
        for (int ci = 0; ci < nrows && r.n < r.cap; ci++) {
            if (claim_campaign(call, in, &r, camps, ci, now, lease_text) != 0)
                goto rollback;
        }
        for (int ci = 0; ci < nrows; ci++)
            copytext_array_add(&visited, PQgetvalue(camps, ci, CS_ID));
        if (nrows < CLAIM_CAMPAIGNS_PER_BATCH)
            break; /* no more campaigns to visit */
    }
commit:
    if (db_commit(call->db) != 0) {
        rpc_fail(call, OD__STATUS__UNAVAILABLE, "claim commit failed");
        goto rollback;
    }
    reply.leases = r.ptrs;
    reply.n_leases = r.n;
    goto done;
rollback:
    db_rollback(call->db);
done:
    closure(call->status == OD__STATUS__OK ? &reply : NULL, call);
    for (int i = 0; i < ncamps_res; i++)
        PQclear(camps_res[i]);
    free(visited.data);
    for (int i = 0; i < r.nresults; i++)
        PQclear(r.results[i]);
    free(r.leases);
    free(r.ptrs);
}

static void dialing_attempt_started(Od__Dialing_Service *service,
                                    const Od__AttemptStartedRequest *in,
                                    Od__Empty_Closure closure, void *closure_data)
{
    struct rpc_call *call = closure_data;
    Od__Empty empty = OD__EMPTY__INIT;
    char attempt[16], lease[16];
    PGresult *res = NULL;
    (void)service;

    int secs = in->lease_seconds == 0 ? CAMPAIGN_LEASE_DEFAULT : in->lease_seconds;
    if (secs < 1 || secs > CAMPAIGN_LEASE_MAX || in->attempt < 1) {
        rpc_fail(call, OD__STATUS__INVALID, "attempt must be >= 1 and leaseSeconds 0..%d",
                 CAMPAIGN_LEASE_MAX);
        goto done;
    }
    snprintf(attempt, sizeof attempt, "%d", in->attempt);
    snprintf(lease, sizeof lease, "%d", secs);
    const char *params[] = {in->lead_id, attempt, in->worker_id, in->call_id, lease};
    /* By lead id across organizations. */
    res = db_exec_prepared(call->db,
                  "WITH l0 AS (SELECT id, status, attempts, lease_owner FROM campaign.leads"
                  "   WHERE id = $1),"
                  " upd AS (UPDATE campaign.leads l SET status = 'IN_PROGRESS',"
                  "   lease_expires_at = now() + make_interval(secs => $5::int),"
                  "   last_call_id = coalesce(nullif($4, ''), last_call_id), updated_at = now()"
                  "   WHERE l.id = $1 AND l.attempts = $2::int AND l.status IN ('QUEUED', 'IN_PROGRESS')"
                  "   AND (l.lease_owner = $3 OR $3 = '') RETURNING 1)"
                  " SELECT (SELECT count(*) FROM l0), (SELECT count(*) FROM upd),"
                  " (SELECT status || ' attempt ' || attempts || ' leased by '"
                  "   || coalesce(lease_owner, 'nobody') FROM l0),"
                  " (SELECT status NOT IN ('PENDING', 'QUEUED', 'IN_PROGRESS')"
                  "   OR attempts > $2::int FROM l0)",
                  5, params);
    if (!db_ok(res))
        rpc_fail_sql(call, res, "attempt started");
    else if (strcmp(PQgetvalue(res, 0, 0), "0") == 0)
        rpc_fail(call, OD__STATUS__NOT_FOUND, "lead not found");
    else if (strcmp(PQgetvalue(res, 0, 1), "0") != 0)
        ; /* started */
    /* The attempt can never start: the lead is closed (its campaign was cancelled, say) or a
     * later attempt began. Told apart from a lease another worker holds, so that a dialer
     * recovering a dead worker's call row ends the row instead of asking again every create
     * lease for as long as it exists. */
    else if (strcmp(PQgetvalue(res, 0, 3), "t") == 0)
        rpc_fail(call, OD__STATUS__NOT_FOUND, "attempt %d is closed: lead is %s", in->attempt,
                 PQgetvalue(res, 0, 2));
    else
        rpc_fail(call, OD__STATUS__CONFLICT, "lease lost: lead is %s", PQgetvalue(res, 0, 2));
done:
    closure(call->status == OD__STATUS__OK ? &empty : NULL, call);
    PQclear(res);
}

/* AttemptStarted for several leases in one statement (by lead id across organizations), each
 * item under the same rules as AttemptStarted: its attempt must be the lead's current one, the
 * lead QUEUED or IN_PROGRESS and its lease the caller's. started[i] says whether item i was. */
static void dialing_attempts_started(Od__Dialing_Service *service,
                                     const Od__AttemptsStartedRequest *in,
                                     Od__AttemptsStartedReply_Closure closure,
                                     void *closure_data)
{
    struct rpc_call *call = closure_data;
    Od__AttemptsStartedReply reply = OD__ATTEMPTS_STARTED_REPLY__INIT;
    struct copytext ids = {0}, attempts = {0}, workers = {0}, calls = {0}, leases = {0};
    protobuf_c_boolean *started = NULL;
    PGresult *res = NULL;
    (void)service;

    if (in->n_items > CAMPAIGN_CLAIM_MAX) {
        rpc_fail(call, OD__STATUS__INVALID, "at most %d items", CAMPAIGN_CLAIM_MAX);
        goto done;
    }
    started = calloc(in->n_items + 1, sizeof *started);
    if (started == NULL) {
        rpc_fail(call, OD__STATUS__INTERNAL, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < in->n_items; i++) {
        const Od__AttemptStartedRequest *it = in->items[i];
        int secs = it->lease_seconds == 0 ? CAMPAIGN_LEASE_DEFAULT : it->lease_seconds;
        char a[16], l[16];
        if (secs < 1 || secs > CAMPAIGN_LEASE_MAX || it->attempt < 1) {
            rpc_fail(call, OD__STATUS__INVALID, "attempt must be >= 1 and leaseSeconds 0..%d",
                     CAMPAIGN_LEASE_MAX);
            goto done;
        }
        snprintf(a, sizeof a, "%d", it->attempt);
        snprintf(l, sizeof l, "%d", secs);
        copytext_array_add(&ids, it->lead_id);
        copytext_array_add(&attempts, a);
        copytext_array_add(&workers, it->worker_id);
        copytext_array_add(&calls, it->call_id);
        copytext_array_add(&leases, l);
    }
    reply.n_started = in->n_items;
    reply.started = started;
    if (in->n_items == 0)
        goto done;
    const char *params[] = {copytext_array_end(&ids), copytext_array_end(&attempts),
                            copytext_array_end(&workers), copytext_array_end(&calls),
                            copytext_array_end(&leases)};
    for (int i = 0; i < 5; i++)
        if (params[i] == NULL) {
            rpc_fail(call, OD__STATUS__INTERNAL, "out of memory");
            goto done;
        }
    res = db_exec_prepared(call->db,
                  "UPDATE campaign.leads l SET status = 'IN_PROGRESS',"
                  " lease_expires_at = now() + make_interval(secs => r.lease),"
                  " last_call_id = coalesce(nullif(r.call_id, ''), l.last_call_id),"
                  " updated_at = now()"
                  " FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::int[])"
                  "   WITH ORDINALITY AS r(id, attempt, worker, call_id, lease, n)"
                  " WHERE l.id = r.id AND l.attempts = r.attempt"
                  " AND l.status IN ('QUEUED', 'IN_PROGRESS')"
                  " AND (l.lease_owner = r.worker OR r.worker = '') RETURNING r.n",
                  5, params);
    if (!db_ok(res)) {
        rpc_fail_sql(call, res, "attempts started");
        goto done;
    }
    for (int i = 0; i < PQntuples(res); i++) {
        long n = strtol(PQgetvalue(res, i, 0), NULL, 10);
        if (n >= 1 && (size_t)n <= in->n_items)
            started[n - 1] = 1;
    }
done:
    closure(call->status == OD__STATUS__OK ? &reply : NULL, call);
    PQclear(res);
    free(started);
    free(ids.data);
    free(attempts.data);
    free(workers.data);
    free(calls.data);
    free(leases.data);
}

/* campaign.lead_completed, as in reference 003. */
static char *lead_completed_payload(const char *campaign_id, const char *campaign_name,
                                    const char *lead_id, const char *phone, const char *status,
                                    const char *disposition, int attempts, const char *call_id,
                                    const Od__AttemptFinishedRequest *in)
{
    char now[TIME_ISO_LEN];
    json_t *outcome = json_pack("{s:s, s:i}", "outcome", in->outcome, "durationSeconds",
                                (int)in->duration_seconds);
    if (outcome == NULL)
        return NULL;
    json_object_set_new(outcome, "answeredBy",
                        in->answered_by[0] ? json_string(in->answered_by) : json_null());
    json_t *lead = json_pack("{s:s, s:s, s:s, s:i, s:o}", "id", lead_id, "phoneNumber", phone,
                             "status", status, "attempts", attempts, "outcome", outcome);
    if (lead == NULL)
        return NULL;
    json_object_set_new(lead, "disposition", disposition[0] ? json_string(disposition) : json_null());
    json_object_set_new(lead, "callId", call_id[0] ? json_string(call_id) : json_null());
    json_t *root = json_pack("{s:s, s:s, s:{s:s, s:s}, s:o}", "event",
                             EVENT_CAMPAIGN_LEAD_COMPLETED, "timestamp",
                             time_format_ms(time_now_ms(), now, sizeof now), "campaign", "id",
                             campaign_id, "name", campaign_name, "lead", lead);
    if (root == NULL)
        return NULL;
    char *text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return text;
}

/* The columns of AttemptFinished's lead-and-campaign row. */
enum { AF_STATUS, AF_ATTEMPTS, AF_FINISHED, AF_PHONE, AF_DISPOSITION, AF_CALL_ID, AF_NEXT_AT,
       AF_ORG, AF_CAMPAIGN, AF_NAME, AF_CAMPAIGN_STATUS, AF_MAX_RETRIES, AF_RETRY_DELAY,
       AF_RETRY_ON, AF_WEBHOOK, AF_LEAD_ID /* finish_leads_skip_sql only */ };

/* The lead, locked, with its campaign's retry settings read (not locked). Finishes of one
 * campaign used to lock the campaign row first: that made them one at a time (a campaign's
 * calls end together), 270 finishes/s at most in bench (i), where 3.2 ms of each finish went
 * to waiting for that lock. A pause or cancel changes leads under their row locks, which this
 * lock orders against; completion is campaign_complete_if_free's. The lead is found by id
 * across organizations. The batch form skips a lead another transaction holds: a batch holds
 * many leads, and waiting for one while a cancel waits for another would deadlock. */
#define FINISH_LEAD_SQL                                                                        \
    "SELECT l.status, l.attempts, l.last_finished_attempt, l.phone_number,"                  \
    " coalesce(l.disposition, ''), coalesce(l.last_call_id, ''), "                           \
    SQL_ISO_MS("l.next_attempt_at") ","                                                      \
    " c.org_id, c.id, c.name, c.status, c.max_retries, c.retry_delay_minutes,"               \
    " array_to_string(c.retry_on, ','), coalesce(c.webhook_url, '')"                         \
    " FROM campaign.leads l"                                                                  \
    " JOIN campaign.campaigns c ON c.org_id = l.org_id AND c.id = l.campaign_id"             \
    " WHERE l.id = $1 FOR UPDATE OF l"
static const char finish_lead_sql[] = FINISH_LEAD_SQL;
static const char finish_lead_skip_sql[] = FINISH_LEAD_SQL " SKIP LOCKED";
/* The batch form's leads in one statement (the lead id last, to match them), in id order,
 * passing by the ones another transaction holds as FINISH_LEAD_SQL's batch form does. */
static const char finish_leads_skip_sql[] =
    "SELECT l.status, l.attempts, l.last_finished_attempt, l.phone_number,"
    " coalesce(l.disposition, ''), coalesce(l.last_call_id, ''), "
    SQL_ISO_MS("l.next_attempt_at") ","
    " c.org_id, c.id, c.name, c.status, c.max_retries, c.retry_delay_minutes,"
    " array_to_string(c.retry_on, ','), coalesce(c.webhook_url, ''), l.id"
    " FROM campaign.leads l"
    " JOIN campaign.campaigns c ON c.org_id = l.org_id AND c.id = l.campaign_id"
    " WHERE l.id = ANY ($1::text[]) ORDER BY l.id FOR UPDATE OF l SKIP LOCKED";

static const char finish_update_sql[] =
    "UPDATE campaign.leads SET status = $2,"
    " next_attempt_at = CASE WHEN $3::bool"
    "   THEN now() + make_interval(mins => $4::int) ELSE next_attempt_at END,"
    " last_outcome = $5, disposition = coalesce(nullif($6, ''), disposition),"
    " last_call_id = coalesce(nullif($7, ''), last_call_id),"
    " last_finished_attempt = $8::int, lease_owner = NULL, lease_expires_at = NULL,"
    " attempt_open = false, updated_at = now() WHERE id = $1"
    " RETURNING " SQL_ISO_MS("next_attempt_at") ", coalesce(disposition, ''),"
    " coalesce(last_call_id, '')";

/* What one attempt's finish decided. status OK: the reply fields (heap strings, released by
 * finish_result_clear); else message says why and nothing was written. */
struct finish_result {
    Od__Status status;
    char message[256];
    char *lead_status, *next_attempt_at;
    bool retry, duplicate;
    bool wake_outbox; /* an event or a debit was written */
    /* With defer_debit: the debit finish_one did not write (minutes > 0), for the batch to
     * write in organization order. */
    int64_t minutes;
    char org_id[72], campaign_id[72];
    /* With batch: the lead was completed, so its campaign may be (the batch checks each
     * campaign once, after its last lead; org_id and campaign_id are set). */
    bool check_complete;
};

static void finish_result_clear(struct finish_result *r)
{
    free(r->lead_status);
    free(r->next_attempt_at);
    r->lead_status = r->next_attempt_at = NULL;
}

static int finish_refuse(struct finish_result *r, Od__Status status, const char *message)
{
    r->status = status;
    snprintf(r->message, sizeof r->message, "%s", message);
    return 0;
}

/* One attempt's finish inside the caller's open transaction: the retry policy, the lead's
 * update, the debit, campaign.lead_completed and the campaign's completion. Returns 0 with r
 * filled (a refusal writes nothing), or -1 when the database failed (the caller rolls back
 * everything it wrote). batch: the batch form, which skips a lead another transaction holds
 * (FINISH_LEAD_SQL) and leaves the debit to the caller (r->minutes). */
static int finish_one(struct campaign_app *app, struct db *db,
                      const Od__AttemptFinishedRequest *in, bool batch, PGresult *prefetched,
                      int prefetched_row, struct finish_result *r)
{
    struct retry_decision d;
    PGresult *lead = NULL, *upd = NULL;
    char *payload = NULL;
    int rc = -1, lrow = 0;

    memset(r, 0, sizeof *r);
    r->status = OD__STATUS__OK;
    if (in->attempt < 1 || !retry_outcome_known(in->outcome) || in->duration_seconds < 0 ||
        strlen(in->disposition) > 256 || strlen(in->call_id) > 128)
        return finish_refuse(r, OD__STATUS__INVALID,
                             "attempt must be >= 1, durationSeconds >= 0 and outcome one of "
                             "completed, voicemail, busy, no_answer, failed, timeout, canceled, "
                             "dnc, carrier_error");
    const char *key[] = {in->lead_id};
    if (prefetched != NULL && prefetched_row >= 0) {
        lrow = prefetched_row; /* the batch's statement read and locked it */
    } else if (prefetched != NULL) {
        lead = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK); /* passed by, or not there */
    } else {
        lead = db_exec_prepared(db, batch ? finish_lead_skip_sql : finish_lead_sql, 1, key);
    }
    PGresult *row = lead != NULL ? lead : prefetched;
    if (!db_ok(row))
        goto out;
    if (PQntuples(row) == 0) {
        rc = 0;
        if (!batch) {
            finish_refuse(r, OD__STATUS__NOT_FOUND, "lead not found");
            goto out;
        }
        PGresult *exists = db_exec(db, "SELECT 1 FROM campaign.leads WHERE id = $1", 1, key);
        if (!db_ok(exists))
            rc = -1;
        else if (PQntuples(exists) == 0)
            finish_refuse(r, OD__STATUS__NOT_FOUND, "lead not found");
        else
            finish_refuse(r, OD__STATUS__UNAVAILABLE, "the lead is busy: report it again");
        PQclear(exists);
        goto out;
    }
    const char *org = PQgetvalue(row, lrow, AF_ORG);
    const char *campaign_id = PQgetvalue(row, lrow, AF_CAMPAIGN);
    const char *status = PQgetvalue(row, lrow, AF_STATUS);
    int attempts = atoi(PQgetvalue(row, lrow, AF_ATTEMPTS));
    int finished = atoi(PQgetvalue(row, lrow, AF_FINISHED));
    if (in->attempt <= finished) {
        r->duplicate = true;
        r->lead_status = strdup(status);
        r->next_attempt_at = strdup(PQgetvalue(row, lrow, AF_NEXT_AT));
        rc = r->lead_status != NULL && r->next_attempt_at != NULL ? 0 : -1;
        goto out;
    }
    if (in->attempt != attempts) {
        snprintf(r->message, sizeof r->message,
                 "attempt %d is not the lead's current attempt (%d)", in->attempt, attempts);
        r->status = OD__STATUS__CONFLICT;
        rc = 0;
        goto out;
    }
    char retry_buf[256], *retry_on[CAMPAIGN_RETRY_ON_MAX];
    size_t n_retry = 0;
    snprintf(retry_buf, sizeof retry_buf, "%s", PQgetvalue(row, lrow, AF_RETRY_ON));
    for (char *save = NULL, *w = strtok_r(retry_buf, ",", &save);
         w != NULL && n_retry < CAMPAIGN_RETRY_ON_MAX; w = strtok_r(NULL, ",", &save))
        retry_on[n_retry++] = w;
    retry_decide(in->outcome, attempts, atoi(PQgetvalue(row, lrow, AF_MAX_RETRIES)),
                 atoi(PQgetvalue(row, lrow, AF_RETRY_DELAY)), (const char *const *)retry_on,
                 n_retry,
                 &d);
    /* A lead that is no longer open (its campaign was cancelled meanwhile) keeps its status;
     * the outcome is still recorded and the call still debited. */
    bool open = strcmp(status, LEAD_PENDING) == 0 || strcmp(status, LEAD_QUEUED) == 0 ||
                strcmp(status, LEAD_IN_PROGRESS) == 0;
    const char *new_status = open ? d.lead_status : status;
    bool retry = open && d.retry;
    char attempt[16], delay[16];
    snprintf(attempt, sizeof attempt, "%d", in->attempt);
    snprintf(delay, sizeof delay, "%d", d.delay_minutes);
    const char *up[] = {in->lead_id, new_status, retry ? "t" : "f", delay, in->outcome,
                        in->disposition, in->call_id, attempt};
    upd = db_exec_prepared(db, finish_update_sql, 8, up);
    if (!db_ok(upd) || PQntuples(upd) != 1)
        goto out;
    int64_t minutes = ((int64_t)in->duration_seconds + 59) / 60; /* no int overflow */
    if (batch && minutes > 0) {
        r->minutes = minutes;
        snprintf(r->org_id, sizeof r->org_id, "%s", org);
        snprintf(r->campaign_id, sizeof r->campaign_id, "%s", campaign_id);
    } else if (credits_debit_attempt(app, db, org, campaign_id, in->lead_id, in->attempt,
                                     minutes) != 0) {
        goto out;
    }
    r->wake_outbox = minutes > 0;
    if (open && !retry) {
        payload = lead_completed_payload(campaign_id, PQgetvalue(row, lrow, AF_NAME), in->lead_id,
                                         PQgetvalue(row, lrow, AF_PHONE), new_status,
                                         PQgetvalue(upd, 0, 1), in->attempt,
                                         PQgetvalue(upd, 0, 2), in);
        if (payload == NULL ||
            outbox_add(db, "campaign", EVENT_CAMPAIGN_LEAD_COMPLETED, org,
                       PQgetvalue(row, lrow, AF_WEBHOOK), payload) != 0)
            goto out;
        r->wake_outbox = true;
        if (batch) {
            r->check_complete = true;
            snprintf(r->org_id, sizeof r->org_id, "%s", org);
            snprintf(r->campaign_id, sizeof r->campaign_id, "%s", campaign_id);
        } else if (campaign_complete_if_free(db, org, campaign_id) < 0) {
            goto out;
        }
    }
    r->lead_status = strdup(new_status);
    r->next_attempt_at = strdup(PQgetvalue(upd, 0, 0));
    r->retry = retry;
    rc = r->lead_status != NULL && r->next_attempt_at != NULL ? 0 : -1;
out:
    if (rc != 0)
        finish_result_clear(r);
    free(payload);
    PQclear(lead);
    PQclear(upd);
    return rc;
}

static void dialing_attempt_finished(Od__Dialing_Service *service,
                                     const Od__AttemptFinishedRequest *in,
                                     Od__AttemptFinishedReply_Closure closure, void *closure_data)
{
    struct rpc_call *call = closure_data;
    struct campaign_app *app = call->app;
    Od__AttemptFinishedReply reply = OD__ATTEMPT_FINISHED_REPLY__INIT;
    struct finish_result r = {.status = OD__STATUS__OK};
    (void)service;

    if (db_begin(call->db) != 0) {
        rpc_fail(call, OD__STATUS__UNAVAILABLE, "database unavailable");
        goto done;
    }
    if (finish_one(app, call->db, in, false, NULL, -1, &r) != 0) {
        db_rollback(call->db);
        rpc_fail(call, OD__STATUS__UNAVAILABLE, "attempt finished: database unavailable");
        goto done;
    }
    if (r.status != OD__STATUS__OK || r.duplicate) {
        db_rollback(call->db); /* nothing written */
        if (r.status != OD__STATUS__OK)
            rpc_fail(call, r.status, "%s", r.message);
    } else if (db_commit(call->db) != 0) {
        db_rollback(call->db);
        rpc_fail(call, OD__STATUS__UNAVAILABLE, "commit failed");
        goto done;
    } else if (r.wake_outbox) {
        campaign_wake_outbox(app);
    }
    reply.lead_status = r.lead_status;
    reply.retry = r.retry;
    reply.next_attempt_at = r.next_attempt_at;
    reply.duplicate = r.duplicate;
done:
    closure(call->status == OD__STATUS__OK ? &reply : NULL, call);
    finish_result_clear(&r);
}

static int finish_result_org_cmp(const void *a, const void *b)
{
    const struct finish_result *x = *(const struct finish_result *const *)a;
    const struct finish_result *y = *(const struct finish_result *const *)b;
    int c = strcmp(x->org_id, y->org_id);
    return c != 0 ? c : (x < y ? -1 : x > y); /* stable: items in request order */
}

/* AttemptFinished for up to CAMPAIGN_CLAIM_MAX attempts in one transaction: one commit for a
 * batch instead of one per call (bench (i): the dialer reported each call on its own, and the
 * commits were much of PostgreSQL's work). Each item follows finish_one's rules; a lead
 * another transaction holds is answered UNAVAILABLE rather than waited for. */
static void dialing_attempts_finished(Od__Dialing_Service *service,
                                      const Od__AttemptsFinishedRequest *in,
                                      Od__AttemptsFinishedReply_Closure closure,
                                      void *closure_data)
{
    struct rpc_call *call = closure_data;
    struct campaign_app *app = call->app;
    Od__AttemptsFinishedReply reply = OD__ATTEMPTS_FINISHED_REPLY__INIT;
    struct finish_result *results = NULL, **order = NULL;
    Od__AttemptFinishedResult *items = NULL, **item_ptrs = NULL;
    Od__AttemptFinishedReply *replies = NULL;
    size_t n = in->n_items;
    bool wake = false;
    struct copytext ids = {0};
    PGresult *leads = NULL;
    (void)service;

    if (n > CAMPAIGN_CLAIM_MAX) {
        rpc_fail(call, OD__STATUS__INVALID, "at most %d items", CAMPAIGN_CLAIM_MAX);
        goto done;
    }
    results = calloc(n + 1, sizeof *results);
    items = calloc(n + 1, sizeof *items);
    item_ptrs = calloc(n + 1, sizeof *item_ptrs);
    replies = calloc(n + 1, sizeof *replies);
    order = calloc(n + 1, sizeof *order);
    if (results == NULL || items == NULL || item_ptrs == NULL || replies == NULL ||
        order == NULL) {
        rpc_fail(call, OD__STATUS__INTERNAL, "out of memory");
        goto done;
    }
    if (n > 0 && db_begin(call->db) != 0) {
        rpc_fail(call, OD__STATUS__UNAVAILABLE, "database unavailable");
        goto done;
    }
    /* The leads in one statement, not one each (bench (i): four statements a lead made a
     * batch of 50 some 30 ms, while the dialer's finished calls waited for it). A lead named
     * twice is read again by its second item, after the first one's update. */
    if (n > 0) {
        for (size_t i = 0; i < n; i++)
            copytext_array_add(&ids, in->items[i]->lead_id);
        const char *key[] = {copytext_array_end(&ids)};
        if (key[0] == NULL) {
            db_rollback(call->db);
            rpc_fail(call, OD__STATUS__INTERNAL, "out of memory");
            goto done;
        }
        leads = db_exec_prepared(call->db, finish_leads_skip_sql, 1, key);
        if (!db_ok(leads)) {
            db_rollback(call->db);
            rpc_fail(call, OD__STATUS__UNAVAILABLE, "attempts finished: database unavailable");
            goto done;
        }
    }
    for (size_t i = 0; i < n; i++) {
        int lrow = -1;
        bool again = false;
        for (size_t k = 0; k < i && !again; k++)
            again = strcmp(in->items[k]->lead_id, in->items[i]->lead_id) == 0;
        for (int r = 0; r < PQntuples(leads) && lrow < 0; r++)
            if (strcmp(PQgetvalue(leads, r, AF_LEAD_ID), in->items[i]->lead_id) == 0)
                lrow = r;
        if (finish_one(app, call->db, in->items[i], true, again ? NULL : leads, lrow,
                       &results[i]) != 0) {
            db_rollback(call->db);
            rpc_fail(call, OD__STATUS__UNAVAILABLE, "attempts finished: database unavailable");
            goto done;
        }
        wake = wake || results[i].wake_outbox;
        order[i] = &results[i];
    }
    /* Each campaign that had a lead completed is checked once, after all of its leads (what
     * the check after each lead would end with). */
    for (size_t i = 0; i < n; i++) {
        bool seen = false;
        if (!results[i].check_complete)
            continue;
        for (size_t k = i + 1; k < n && !seen; k++)
            seen = results[k].check_complete &&
                   strcmp(results[k].org_id, results[i].org_id) == 0 &&
                   strcmp(results[k].campaign_id, results[i].campaign_id) == 0;
        if (!seen && campaign_complete_if_free(call->db, results[i].org_id,
                                               results[i].campaign_id) < 0) {
            db_rollback(call->db);
            rpc_fail(call, OD__STATUS__UNAVAILABLE, "attempts finished: database unavailable");
            goto done;
        }
    }
    /* The debits last, in organization order: each takes its organization's balance row until
     * the commit, and two batches that took two organizations' rows in opposite orders would
     * deadlock. */
    qsort(order, n, sizeof *order, finish_result_org_cmp);
    for (size_t i = 0; i < n; i++) {
        const struct finish_result *fr = order[i];
        const Od__AttemptFinishedRequest *it = in->items[fr - results];
        if (fr->minutes > 0 &&
            credits_debit_attempt(app, call->db, fr->org_id, fr->campaign_id, it->lead_id,
                                  it->attempt, fr->minutes) != 0) {
            db_rollback(call->db);
            rpc_fail(call, OD__STATUS__UNAVAILABLE, "attempts finished: debiting failed");
            goto done;
        }
    }
    if (n > 0 && db_commit(call->db) != 0) {
        db_rollback(call->db);
        rpc_fail(call, OD__STATUS__UNAVAILABLE, "commit failed");
        goto done;
    }
    if (wake)
        campaign_wake_outbox(app);
    for (size_t i = 0; i < n; i++) {
        od__attempt_finished_result__init(&items[i]);
        od__attempt_finished_reply__init(&replies[i]);
        items[i].status = results[i].status;
        items[i].message = results[i].message;
        if (results[i].status == OD__STATUS__OK) {
            replies[i].lead_status = results[i].lead_status;
            replies[i].next_attempt_at = results[i].next_attempt_at;
            replies[i].retry = results[i].retry;
            replies[i].duplicate = results[i].duplicate;
            items[i].reply = &replies[i];
        }
        item_ptrs[i] = &items[i];
    }
    reply.n_results = n;
    reply.results = item_ptrs;
done:
    closure(call->status == OD__STATUS__OK ? &reply : NULL, call);
    for (size_t i = 0; results != NULL && i < n; i++)
        finish_result_clear(&results[i]);
    PQclear(leads);
    free(ids.data);
    free(results);
    free(order);
    free(items);
    free(item_ptrs);
    free(replies);
}

/* ReleaseLeases and RenewLeases: the caller's leases named by (lead, attempt). */
static void dialing_leases(struct rpc_call *call, const Od__LeasesRequest *in, bool release,
                           Od__LeasesReply_Closure closure)
{
    Od__LeasesReply reply = OD__LEASES_REPLY__INIT;
    struct copytext ids = {0}, attempts = {0};
    char lease[16];
    PGresult *res = NULL;
    int secs = in->lease_seconds == 0 ? CAMPAIGN_LEASE_DEFAULT : in->lease_seconds;

    if (in->n_leases > CAMPAIGN_CLAIM_MAX || secs < 1 || secs > CAMPAIGN_LEASE_MAX ||
        in->worker_id[0] == '\0') {
        rpc_fail(call, OD__STATUS__INVALID, "workerId is required, at most %d leases",
                 CAMPAIGN_CLAIM_MAX);
        goto done;
    }
    for (size_t i = 0; i < in->n_leases; i++) {
        char a[16];
        snprintf(a, sizeof a, "%d", in->leases[i]->attempt);
        copytext_array_add(&ids, in->leases[i]->lead_id);
        copytext_array_add(&attempts, a);
    }
    snprintf(lease, sizeof lease, "%d", secs);
    const char *params[] = {copytext_array_end(&ids), copytext_array_end(&attempts),
                            in->worker_id, lease};
    if (params[0] == NULL || params[1] == NULL) {
        rpc_fail(call, OD__STATUS__INTERNAL, "out of memory");
        goto done;
    }
    /* By lead id across organizations; only the caller's own live leases change. A released
     * lead keeps its attempt (attempt_open): the next claim reuses it, flagged reclaimed. */
    res = db_exec(call->db,
                  release
                      ? "UPDATE campaign.leads l SET status = 'PENDING', attempt_open = true,"
                        " next_attempt_at = now(), lease_owner = NULL, lease_expires_at = NULL,"
                        " updated_at = now() FROM unnest($1::text[], $2::int[]) AS r(id, attempt)"
                        " WHERE l.id = r.id AND l.attempts = r.attempt AND l.lease_owner = $3"
                        " AND l.status IN ('QUEUED', 'IN_PROGRESS') AND $4::int > 0"
                      : "UPDATE campaign.leads l SET"
                        " lease_expires_at = now() + make_interval(secs => $4::int),"
                        " updated_at = now() FROM unnest($1::text[], $2::int[]) AS r(id, attempt)"
                        " WHERE l.id = r.id AND l.attempts = r.attempt AND l.lease_owner = $3"
                        " AND l.status IN ('QUEUED', 'IN_PROGRESS')",
                  4, params);
    if (!db_ok(res))
        rpc_fail_sql(call, res, release ? "release leases" : "renew leases");
    else
        reply.count = atoi(PQcmdTuples(res));
done:
    closure(call->status == OD__STATUS__OK ? &reply : NULL, call);
    PQclear(res);
    free(ids.data);
    free(attempts.data);
}

static void dialing_release_leases(Od__Dialing_Service *service, const Od__LeasesRequest *in,
                                   Od__LeasesReply_Closure closure, void *closure_data)
{
    (void)service;
    dialing_leases(closure_data, in, true, closure);
}

static void dialing_renew_leases(Od__Dialing_Service *service, const Od__LeasesRequest *in,
                                 Od__LeasesReply_Closure closure, void *closure_data)
{
    (void)service;
    dialing_leases(closure_data, in, false, closure);
}

static void dialing_record_disposition(Od__Dialing_Service *service,
                                       const Od__DispositionRequest *in,
                                       Od__Empty_Closure closure, void *closure_data)
{
    struct rpc_call *call = closure_data;
    Od__Empty empty = OD__EMPTY__INIT;
    char attempt[16];
    PGresult *res = NULL;
    (void)service;

    /* A disposition, or variables alone (an outcome without a disposition keeps the
     * lead's); the dialer forwards what the agent reported after the attempt was finished. */
    if ((in->disposition[0] == '\0' && in->variables_json[0] == '\0') ||
        strlen(in->disposition) > 256) {
        rpc_fail(call, OD__STATUS__INVALID,
                 "disposition (at most 256 bytes) or variables is required");
        goto done;
    }
    if (in->variables_json[0]) {
        json_t *v = json_loads(in->variables_json, 0, NULL);
        bool ok = json_is_object(v);
        json_decref(v);
        if (!ok) {
            rpc_fail(call, OD__STATUS__INVALID, "variables must be a JSON object");
            goto done;
        }
    }
    snprintf(attempt, sizeof attempt, "%d", in->attempt);
    const char *params[] = {in->lead_id, attempt, in->disposition,
                            in->variables_json[0] ? in->variables_json : NULL};
    /* By lead id across organizations. Only the current attempt's (or attempt 0: "the
     * latest") disposition is kept; setting the same one twice changes nothing. A late
     * report for an older attempt is accepted and ignored. */
    res = db_exec(call->db,
                  "WITH l0 AS (SELECT id FROM campaign.leads WHERE id = $1),"
                  " upd AS (UPDATE campaign.leads SET disposition = coalesce(nullif($3, ''),"
                  "   disposition),"
                  "   variables = CASE WHEN $4::jsonb IS NULL THEN variables"
                  "     ELSE variables || $4::jsonb END, updated_at = now()"
                  "   WHERE id = $1 AND ($2::int = 0 OR attempts = $2::int) RETURNING 1)"
                  " SELECT (SELECT count(*) FROM l0), (SELECT count(*) FROM upd)",
                  4, params);
    if (!db_ok(res))
        rpc_fail_sql(call, res, "record disposition");
    else if (strcmp(PQgetvalue(res, 0, 0), "0") == 0)
        rpc_fail(call, OD__STATUS__NOT_FOUND, "lead not found");
done:
    closure(call->status == OD__STATUS__OK ? &empty : NULL, call);
    PQclear(res);
}

Od__Dialing_Service campaign_dialing_service = OD__DIALING__INIT(dialing_);
