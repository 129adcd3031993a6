/* Credits in minutes, from an append-only ledger (grants, purchases and the opening balance
 * positive; call debits negative). credit_balances keeps the sum per organization for the hot
 * path, updated in the same transaction as each ledger row.
 *
 * credits.low is emitted once when a debit takes the balance to the threshold or below
 * (low_notified remembers it until a top-up lifts the balance above the threshold again);
 * when the balance reaches zero, the organization's running campaigns pause with the reason
 * "credits exhausted". */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "campaign.h"
#include "db.h"
#include "ids.h"
#include "od_names.h"
#include "outbox.h"
#include "rpc_util.h"
#include "timefmt.h"

int credits_balance(struct db *db, const char *org_id, int64_t *balance)
{
    const char *params[] = {org_id};
    PGresult *res = db_exec(db, "SELECT balance FROM campaign.credit_balances WHERE org_id = $1",
                            1, params);
    if (!db_ok(res)) {
        PQclear(res);
        return -1;
    }
    *balance = PQntuples(res) > 0 ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
    PQclear(res);
    return 0;
}

static int credits_low_event(struct db *db, const char *org_id, int64_t balance,
                             int64_t threshold)
{
    char now[TIME_ISO_LEN];
    json_t *root = json_pack("{s:s, s:s, s:s, s:I, s:I}", "event", EVENT_CREDITS_LOW, "timestamp",
                             time_format_ms(time_now_ms(), now, sizeof now), "organizationId",
                             org_id, "balance", (json_int_t)balance, "threshold",
                             (json_int_t)threshold);
    char *text = root != NULL ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    int rc = text != NULL ? outbox_add(db, "campaign", EVENT_CREDITS_LOW, org_id, NULL, text) : -1;
    free(text);
    return rc;
}

int credits_debit_attempt(struct campaign_app *app, struct db *db, const char *org_id,
                          const char *campaign_id, const char *lead_id, int attempt,
                          int64_t minutes)
{
    char id[IDS_MAX_LEN], amount[24], att[16], threshold[24];
    PGresult *res;
    int rc = -1;

    if (minutes <= 0)
        return 0;
    snprintf(amount, sizeof amount, "%lld", -(long long)minutes);
    snprintf(att, sizeof att, "%d", attempt);
    snprintf(threshold, sizeof threshold, "%lld", (long long)app->credits_low_threshold);
    const char *params[] = {org_id, ids_new_ordered(ID_PREFIX_CREDIT, id, sizeof id), amount,
                            campaign_id, lead_id, att, threshold};
    /* The ledger row is unique per (lead, attempt): a second debit of an attempt adds nothing
     * and leaves the balance alone. low_now is true when this debit crossed the threshold
     * and no credits.low went out since the last top-up. */
    res = db_exec(db,
                  "WITH l AS (INSERT INTO campaign.credit_ledger (org_id, id, amount, reason,"
                  "   campaign_id, lead_id, attempt) VALUES ($1, $2, $3::bigint, 'call', $4, $5,"
                  "   $6::int) ON CONFLICT DO NOTHING RETURNING amount),"
                  " b AS (INSERT INTO campaign.credit_balances AS cb (org_id, balance, used)"
                  "   SELECT $1, amount, -amount FROM l ON CONFLICT (org_id) DO UPDATE SET"
                  "   balance = cb.balance + excluded.balance, used = cb.used + excluded.used,"
                  "   low_notified = cb.low_notified OR cb.balance + excluded.balance <= $7::bigint"
                  "   RETURNING balance, low_notified,"
                  "   (SELECT low_notified FROM campaign.credit_balances WHERE org_id = $1) AS was)"
                  " SELECT balance, low_notified AND NOT coalesce(was, false) FROM b",
                  7, params);
    if (!db_ok(res))
        goto out;
    if (PQntuples(res) == 0) {
        rc = 0;
        goto out;
    }
    int64_t balance = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    bool low_now = PQgetvalue(res, 0, 1)[0] == 't';
    if (low_now && credits_low_event(db, org_id, balance, app->credits_low_threshold) != 0)
        goto out;
    if (balance <= 0) {
        /* Every running campaign of the organization pauses. A campaign whose row another
         * transaction holds is skipped here: its own next AttemptFinished pauses it, and
         * Claim hands out nothing for an organization without credits meanwhile. */
        PGresult *running = db_exec(db,
                                    "SELECT id FROM campaign.campaigns WHERE org_id = $1"
                                    " AND status = 'IN_PROGRESS' ORDER BY id"
                                    " FOR UPDATE SKIP LOCKED",
                                    1, params);
        if (!db_ok(running)) {
            PQclear(running);
            goto out;
        }
        for (int i = 0; i < PQntuples(running); i++)
            if (campaign_set_status_event(db, org_id, PQgetvalue(running, i, 0), CAMPAIGN_PAUSED,
                                          "credits exhausted", EVENT_CAMPAIGN_PAUSED) != 0) {
                PQclear(running);
                goto out;
            }
        PQclear(running);
    }
    rc = 0;
out:
    PQclear(res);
    return rc;
}

/* ---------------- RPCs ---------------- */

static void credits_reply_balance(struct rpc_call *call, Od__CreditBalance_Closure closure)
{
    struct campaign_app *app = call->app;
    Od__CreditBalance b = OD__CREDIT_BALANCE__INIT;
    const char *params[] = {call->org_id};
    PGresult *res = db_exec(call->db,
                            "SELECT balance, granted, used FROM campaign.credit_balances"
                            " WHERE org_id = $1",
                            1, params);
    if (!db_ok(res)) {
        rpc_fail_sql(call, res, "credit balance");
    } else if (PQntuples(res) > 0) {
        b.balance = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        b.granted = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
        b.used = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
    }
    b.low_threshold = app->credits_low_threshold;
    closure(call->status == OD__STATUS__OK ? &b : NULL, call);
    PQclear(res);
}

static void credits_rpc_balance(Od__Credits_Service *service, const Od__Empty *in,
                                Od__CreditBalance_Closure closure, void *closure_data)
{
    struct rpc_call *call = closure_data;
    (void)service;
    (void)in;
    if (rpc_require_org(call) != 0) {
        closure(NULL, call);
        return;
    }
    credits_reply_balance(call, closure);
}

/* Appends a positive entry and replies with the new balance. */
static void credits_add(struct rpc_call *call, const Od__CreditAmountRequest *in,
                        const char *default_reason, Od__CreditBalance_Closure closure)
{
    struct campaign_app *app = call->app;
    char id[IDS_MAX_LEN], amount[24], threshold[24];
    const char *reason = in->reason[0] ? in->reason : default_reason;

    if (rpc_require_org(call) != 0)
        goto fail;
    if (in->amount <= 0 || in->amount > 1000000000) {
        rpc_fail(call, OD__STATUS__INVALID, "amount must be between 1 and 1000000000 minutes");
        goto fail;
    }
    if (strcmp(reason, "purchase") != 0 && strcmp(reason, "grant") != 0 &&
        strcmp(reason, "opening") != 0) {
        rpc_fail(call, OD__STATUS__INVALID, "reason must be purchase, grant or opening");
        goto fail;
    }
    snprintf(amount, sizeof amount, "%lld", (long long)in->amount);
    snprintf(threshold, sizeof threshold, "%lld", (long long)app->credits_low_threshold);
    const char *params[] = {call->org_id, ids_new_ordered(ID_PREFIX_CREDIT, id, sizeof id),
                            amount, reason};
    const char *bparams[] = {call->org_id, amount, threshold};
    if (db_begin(call->db) != 0 ||
        db_command(call->db,
                   "INSERT INTO campaign.credit_ledger (org_id, id, amount, reason)"
                   " VALUES ($1, $2, $3::bigint, $4)",
                   4, params) != 0 ||
        db_command(call->db,
                   "INSERT INTO campaign.credit_balances AS cb (org_id, balance, granted,"
                   " low_notified) VALUES ($1, $2::bigint, $2::bigint, false)"
                   " ON CONFLICT (org_id) DO UPDATE SET balance = cb.balance + $2::bigint,"
                   " granted = cb.granted + $2::bigint,"
                   " low_notified = cb.low_notified AND cb.balance + $2::bigint <= $3::bigint",
                   3, bparams) != 0 ||
        db_commit(call->db) != 0) {
        db_rollback(call->db);
        rpc_fail(call, OD__STATUS__UNAVAILABLE, "adding credits failed");
        goto fail;
    }
    credits_reply_balance(call, closure);
    return;
fail:
    closure(NULL, call);
}

static void credits_rpc_purchase(Od__Credits_Service *service, const Od__CreditAmountRequest *in,
                             Od__CreditBalance_Closure closure, void *closure_data)
{
    struct rpc_call *call = closure_data;
    struct campaign_app *app = call->app;
    (void)service;
    if (!app->purchase_enabled) {
        rpc_fail(call, OD__STATUS__PERMISSION_DENIED, "credit purchases are turned off");
        closure(NULL, call);
        return;
    }
    Od__CreditAmountRequest req = *in;
    req.reason = (char *)"purchase";
    credits_add(call, &req, "purchase", closure);
}

static void credits_rpc_grant(Od__Credits_Service *service, const Od__CreditAmountRequest *in,
                          Od__CreditBalance_Closure closure, void *closure_data)
{
    (void)service;
    credits_add(closure_data, in, "grant", closure);
}

static void credits_rpc_usage(Od__Credits_Service *service, const Od__UsageRequest *in,
                          Od__UsageReply_Closure closure, void *closure_data)
{
    struct rpc_call *call = closure_data;
    Od__UsageReply reply = OD__USAGE_REPLY__INIT;
    Od__UsageEntry *store = NULL, **by_day = NULL, **by_campaign = NULL;
    int64_t from_ms, to_ms;
    char from[TIME_ISO_LEN], to[TIME_ISO_LEN], buf[64];
    PGresult *res = NULL;
    (void)service;

    if (rpc_require_org(call) != 0)
        goto done;
    to_ms = time_now_ms();
    from_ms = to_ms - 30LL * 86400 * 1000;
    /* "YYYY-MM-DD" or a full ISO time */
    for (int i = 0; i < 2; i++) {
        const char *text = i == 0 ? in->from : in->to;
        int64_t *out = i == 0 ? &from_ms : &to_ms;
        if (text[0] == '\0')
            continue;
        if (strlen(text) == 10) {
            snprintf(buf, sizeof buf, "%sT00:00:00Z", text);
            text = buf;
        }
        if (time_parse_iso(text, out) != 0) {
            rpc_fail(call, OD__STATUS__INVALID, "%s must be an ISO 8601 date or time",
                     i == 0 ? "from" : "to");
            goto done;
        }
        if (i == 1 && strlen(in->to) == 10)
            *out += 86400 * 1000; /* a "to" date includes that whole day */
    }
    const char *params[] = {call->org_id, time_format_ms(from_ms, from, sizeof from),
                            time_format_ms(to_ms, to, sizeof to)};
    /* kind 'd' rows are days, 'c' rows campaigns */
    res = db_exec(call->db,
                  "SELECT 'd', to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'),"
                  " -sum(amount), count(*) FROM campaign.credit_ledger WHERE org_id = $1"
                  " AND reason = 'call' AND created_at >= $2::timestamptz AND created_at < $3::timestamptz"
                  " GROUP BY 2 "
                  "UNION ALL "
                  "SELECT 'c', campaign_id, -sum(amount), count(*) FROM campaign.credit_ledger"
                  " WHERE org_id = $1 AND reason = 'call' AND created_at >= $2::timestamptz"
                  " AND created_at < $3::timestamptz GROUP BY 2 ORDER BY 1 DESC, 2",
                  3, params);
    if (!db_ok(res)) {
        rpc_fail_sql(call, res, "credit usage");
        goto done;
    }
    int n = PQntuples(res);
    store = calloc((size_t)n + 1, sizeof *store);
    by_day = calloc((size_t)n + 1, sizeof *by_day);
    by_campaign = calloc((size_t)n + 1, sizeof *by_campaign);
    if (store == NULL || by_day == NULL || by_campaign == NULL) {
        rpc_fail(call, OD__STATUS__INTERNAL, "out of memory");
        goto done;
    }
    for (int i = 0; i < n; i++) {
        od__usage_entry__init(&store[i]);
        store[i].minutes = strtoll(PQgetvalue(res, i, 2), NULL, 10);
        store[i].calls = strtoll(PQgetvalue(res, i, 3), NULL, 10);
        if (PQgetvalue(res, i, 0)[0] == 'd') {
            store[i].day = PQgetvalue(res, i, 1);
            by_day[reply.n_by_day++] = &store[i];
            reply.total_minutes += store[i].minutes;
        } else {
            store[i].campaign_id = PQgetvalue(res, i, 1);
            by_campaign[reply.n_by_campaign++] = &store[i];
        }
    }
    reply.by_day = by_day;
    reply.by_campaign = by_campaign;
done:
    closure(call->status == OD__STATUS__OK ? &reply : NULL, call);
    PQclear(res);
    free(store);
    free(by_day);
    free(by_campaign);
}

Od__Credits_Service campaign_credits_service = OD__CREDITS__INIT(credits_rpc_);
