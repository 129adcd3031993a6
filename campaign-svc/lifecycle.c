/* Campaign lifecycle: start (credits check, audience snapshot into leads with DNC applied,
 * pinning the agent version and the caller ID), pause, resume, cancel, and completion.
 *
 *   action  from                                  to
 *   start   DRAFT, SCHEDULED                      IN_PROGRESS (SCHEDULED while scheduledAt is ahead)
 *   pause   IN_PROGRESS                           PAUSED
 *   resume  PAUSED                                IN_PROGRESS
 *   cancel  DRAFT, SCHEDULED, IN_PROGRESS, PAUSED CANCELLED (open leads CANCELLED)
 *
 * Every action is one transaction that locks the campaign row first; its event goes to the
 * outbox in the same transaction. The start holds the transaction while it pages through
 * contacts-svc (ListAudienceMembers, 10,000 a page; CheckDnc per page) and streams each page
 * into one COPY into leads, so a start either happens entirely or not at all. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audiences.pb-c.h"
#include "campaign.h"
#include "copytext.h"
#include "db.h"
#include "dnc.pb-c.h"
#include "ids.h"
#include "log.h"
#include "od_names.h"
#include "timefmt.h"

#define LIFECYCLE_FAIL(err, st, ...)                                                           \
    do {                                                                                       \
        (err)->status = (st);                                                                  \
        snprintf((err)->message, sizeof (err)->message, __VA_ARGS__);                          \
    } while (0)

static int lifecycle_strcmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The start's one COPY into leads, fed page by page (lifecycle_send_page). */
#define LIFECYCLE_COPY_LEADS                                                                   \
    "COPY campaign.leads (org_id, campaign_id, id, contact_id, phone_number, name, variables,"  \
    " contact_tz, status, last_outcome) FROM STDIN"

/* Sends one page of audience members into the start's COPY: DNC-listed numbers SKIPPED
 * ('dnc'). 0, or -1 (the COPY must then be ended with an error). */
static int lifecycle_send_page(struct db *db, const char *org_id, const char *campaign_id,
                               Od__Contact **contacts, size_t n, char **listed, size_t nlisted)
{
    struct copytext buf = {0};
    char id[IDS_MAX_LEN];
    int rc;

    copytext_reserve(&buf, n * 160);
    for (size_t i = 0; i < n; i++) {
        const Od__Contact *c = contacts[i];
        const char *phone = c->phone_number;
        bool dnc = nlisted > 0 &&
                   bsearch(&phone, listed, nlisted, sizeof *listed, lifecycle_strcmp) != NULL;
        copytext_field(&buf, org_id, '\t');
        copytext_field(&buf, campaign_id, '\t');
        copytext_field(&buf, ids_new_ordered(ID_PREFIX_LEAD, id, sizeof id), '\t');
        copytext_field(&buf, c->id, '\t');
        copytext_field(&buf, phone, '\t');
        copytext_field(&buf, c->name[0] ? c->name : NULL, '\t');
        copytext_field(&buf, c->metadata_json[0] ? c->metadata_json : "{}", '\t');
        copytext_field(&buf, contact_tz_for(c->metadata_json, phone), '\t');
        copytext_field(&buf, dnc ? LEAD_SKIPPED : LEAD_PENDING, '\t');
        copytext_field(&buf, dnc ? OUTCOME_DNC : NULL, '\n');
    }
    if (buf.failed) {
        free(buf.data);
        return -1;
    }
    rc = db_copy_send(db, buf.data, buf.len);
    free(buf.data);
    return rc;
}

/* The start's COPY lasts as long as the whole snapshot: it is fed page by page, each fetch
 * bounded by CONTACTS_SVC_TIMEOUT_MS, so it cannot run away by itself. The session's
 * statement_timeout (lib/db.c, 30 s) was meant for single statements: it would fail every
 * start whose snapshot takes longer (some 5 million members at the rates of bench (g)), a
 * limit the ten-thousand-row COPYs before never reached. Lifted for this transaction only
 * (set_config(..., true)); the old value goes into `old` and is put back after the COPY.
 * 0, or -1. */
static int lifecycle_lift_statement_timeout(struct db *db, char *old, size_t old_size)
{
    PGresult *res = db_exec(db,
                            "SELECT current_setting('statement_timeout'),"
                            " set_config('statement_timeout', '0', true)",
                            0, NULL);
    if (!db_ok(res) || PQntuples(res) != 1) {
        PQclear(res);
        return -1;
    }
    snprintf(old, old_size, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return 0;
}

/* The numbers of `phones` that are on the organization's DNC list, sorted (into *listed,
 * strings owned by *ctx, which the caller releases). 0, or -1 with err filled. */
static int lifecycle_check_dnc(struct campaign_app *app, const char *org_id,
                               const char *request_id, char **phones, size_t n,
                               struct rpc_ctx *ctx, char ***listed, size_t *nlisted,
                               struct campaign_err *err)
{
    Od__CheckDncRequest req = OD__CHECK_DNC_REQUEST__INIT;
    req.phone_numbers = phones;
    req.n_phone_numbers = n;
    rpc_ctx_init(ctx, org_id, request_id, app->contacts_timeout_ms);
    od__dnc__check_dnc(rpc_client_service_for(app->contacts, &od__dnc__descriptor), &req, NULL,
                       ctx);
    if (ctx->status != OD__STATUS__OK) {
        LIFECYCLE_FAIL(err, OD__STATUS__UNAVAILABLE, "DNC check failed: %.200s", ctx->message);
        return -1;
    }
    Od__CheckDncReply *reply = (Od__CheckDncReply *)ctx->reply;
    *listed = reply->listed;
    *nlisted = reply->n_listed;
    if (*nlisted > 1)
        qsort(*listed, *nlisted, sizeof **listed, lifecycle_strcmp);
    return 0;
}

/* One page of the audience with its DNC check, fetched by a helper thread while the page
 * before it is COPYed (the two RPCs to contacts-svc took ~35 ms of each 10,000-row page's
 * ~120 ms, all of it on the start's critical path). The thread is outside any arena, so the
 * replies are heap memory, released by whichever thread holds the page. */
struct snapshot_page {
    struct campaign_app *app;
    const char *org_id, *audience_id, *request_id;
    char after[IDS_MAX_LEN * 2];
    int limit;                  /* members asked for: up to CAMPAIGN_SNAPSHOT_PAGE */
    char **phones;              /* CAMPAIGN_SNAPSHOT_PAGE slots */
    struct rpc_ctx page, dnc;
    bool have_page, have_dnc;
    Od__ListAudienceMembersReply *reply;
    char **listed;
    size_t nlisted;
    int rc;                     /* 0, or -1 with err filled */
    struct campaign_err err;
};

static void snapshot_page_fetch(struct snapshot_page *p)
{
    ProtobufCService *aud = rpc_client_service_for(p->app->contacts, &od__audiences__descriptor);
    Od__ListAudienceMembersRequest req = OD__LIST_AUDIENCE_MEMBERS_REQUEST__INIT;
    req.audience_id = (char *)p->audience_id;
    req.after_contact_id = p->after;
    req.limit = p->limit;
    p->rc = -1;
    rpc_ctx_init(&p->page, p->org_id, p->request_id, p->app->contacts_timeout_ms);
    p->have_page = true;
    od__audiences__list_audience_members(aud, &req, NULL, &p->page);
    if (p->page.status != OD__STATUS__OK) {
        if (p->page.status == OD__STATUS__NOT_FOUND)
            LIFECYCLE_FAIL(&p->err, OD__STATUS__NOT_FOUND, "audience %.64s not found",
                           p->audience_id);
        else
            LIFECYCLE_FAIL(&p->err, OD__STATUS__UNAVAILABLE, "audience snapshot failed: %.200s",
                           p->page.message);
        return;
    }
    p->reply = (Od__ListAudienceMembersReply *)p->page.reply;
    size_t n = p->reply->n_contacts;
    for (size_t i = 0; i < n; i++)
        p->phones[i] = p->reply->contacts[i]->phone_number;
    if (n > 0) {
        memset(&p->dnc, 0, sizeof p->dnc);
        p->have_dnc = true;
        if (lifecycle_check_dnc(p->app, p->org_id, p->request_id, p->phones, n, &p->dnc,
                                &p->listed, &p->nlisted, &p->err) != 0)
            return;
    }
    p->rc = 0;
}

static void *snapshot_page_main(void *arg)
{
    snapshot_page_fetch(arg);
    return NULL;
}

static void snapshot_page_release(struct snapshot_page *p)
{
    if (p->have_dnc)
        rpc_ctx_release(&p->dnc);
    if (p->have_page)
        rpc_ctx_release(&p->page);
    p->have_dnc = p->have_page = false;
    p->reply = NULL;
    p->listed = NULL;
    p->nlisted = 0;
}

/* Snapshots the audience into the campaign's leads. 0, or -1 with err filled. The first page
 * is CAMPAIGN_SNAPSHOT_FIRST_PAGE members, the others CAMPAIGN_SNAPSHOT_PAGE. Page k+1 is
 * fetched (and DNC-checked) on a helper thread while page k is sent. All pages go into one
 * COPY, on this thread's connection, inside the start's transaction: PostgreSQL ingests a page
 * while the next is fetched and its rows built (ten COPYs of 10,000 rows left the server idle
 * between them while each page's text was built, and paid a statement each). */
static int lifecycle_snapshot(struct campaign_app *app, struct db *db, const char *org_id,
                              const char *campaign_id, const char *audience_id,
                              const char *request_id, struct campaign_err *err)
{
    struct snapshot_page pages[2];
    char last[IDS_MAX_LEN * 2] = ""; /* the last contact id written */
    int cur = 0, rc = -1;
    bool copying = false; /* the COPY is open: it must be ended before anything else runs */
    char timeout[64] = "";  /* the session's statement_timeout, lifted during the COPY */

    memset(pages, 0, sizeof pages);
    for (int i = 0; i < 2; i++) {
        pages[i].app = app;
        pages[i].org_id = org_id;
        pages[i].audience_id = audience_id;
        pages[i].request_id = request_id;
        pages[i].limit = CAMPAIGN_SNAPSHOT_PAGE;
        pages[i].phones = calloc(CAMPAIGN_SNAPSHOT_PAGE, sizeof *pages[i].phones);
    }
    pages[cur].limit = CAMPAIGN_SNAPSHOT_FIRST_PAGE;
    if (pages[0].phones == NULL || pages[1].phones == NULL) {
        LIFECYCLE_FAIL(err, OD__STATUS__INTERNAL, "out of memory");
        goto out;
    }
    snapshot_page_fetch(&pages[cur]);
    for (;;) {
        struct snapshot_page *p = &pages[cur], *next = &pages[1 - cur];
        pthread_t thread;
        bool threaded = false, more;
        if (p->rc != 0) {
            *err = p->err;
            snapshot_page_release(p);
            goto out;
        }
        /* One lead per contact: contact ids must rise strictly across the whole snapshot
         * (leads_contact is the database's own check of the same). */
        const char *prev = last;
        for (size_t i = 0; i < p->reply->n_contacts; i++) {
            const char *cid = p->reply->contacts[i]->id;
            if ((prev[0] != '\0' && strcmp(cid, prev) <= 0) || strlen(cid) >= sizeof last) {
                LIFECYCLE_FAIL(err, OD__STATUS__INTERNAL,
                               "audience snapshot: contact %.64s out of order", cid);
                snapshot_page_release(p);
                goto out;
            }
            prev = cid;
        }
        if (prev != last)
            memmove(last, prev, strlen(prev) + 1);
        more = p->reply->next_after_contact_id[0] != '\0';
        if (more) {
            snprintf(next->after, sizeof next->after, "%s", p->reply->next_after_contact_id);
            next->limit = CAMPAIGN_SNAPSHOT_PAGE;
            threaded = pthread_create(&thread, NULL, snapshot_page_main, next) == 0;
        }
        size_t n = p->reply->n_contacts;
        int copied = 0;
        if (n > 0 && !copying) {
            copied = lifecycle_lift_statement_timeout(db, timeout, sizeof timeout);
            if (copied == 0)
                copied = db_copy_begin(db, LIFECYCLE_COPY_LEADS);
            copying = copied == 0;
        }
        if (n > 0 && copied == 0)
            copied = lifecycle_send_page(db, org_id, campaign_id, p->reply->contacts, n,
                                         p->listed, p->nlisted);
        snapshot_page_release(p);
        if (threaded)
            pthread_join(thread, NULL);
        else if (more && copied == 0)
            snapshot_page_fetch(next); /* no thread: fetch it here */
        if (copied != 0) {
            if (more)
                snapshot_page_release(next);
            LIFECYCLE_FAIL(err, OD__STATUS__UNAVAILABLE, "writing leads failed");
            goto out;
        }
        if (!more)
            break;
        cur = 1 - cur;
    }
    if (copying) {
        copying = false;
        const char *restore[] = {timeout};
        if (db_copy_end(db, NULL) != 0 ||
            db_command(db, "SELECT set_config('statement_timeout', $1, true)", 1, restore) != 0) {
            LIFECYCLE_FAIL(err, OD__STATUS__UNAVAILABLE, "writing leads failed");
            goto out;
        }
    }
    rc = 0;
out:
    /* a failed snapshot ends its COPY with an error: the caller rolls the start back */
    if (copying)
        db_copy_end(db, "audience snapshot failed");
    free(pages[0].phones);
    free(pages[1].phones);
    return rc;
}

/* Columns of the locked campaign beyond CAMPAIGN_COLUMNS. */
#define ACT_EXTRA ", (SELECT a.current_version FROM campaign.agents a WHERE a.org_id = c.org_id"  \
                  " AND a.id = c.agent_id AND a.deleted_at IS NULL),"                         \
                  " c.scheduled_at > now()"
enum { ACT_AGENT_CURRENT = CC_COUNT, ACT_FUTURE };

/* The start of a locked campaign (inside the transaction). On success returns 0; on a
 * failure that makes the campaign FAILED (scheduler only) returns 1 with reason set; -1 with
 * err otherwise. */
static int lifecycle_start(struct campaign_app *app, struct db *db, PGresult *row,
                           const char *request_id, bool from_scheduler, char *reason,
                           size_t reason_size, struct campaign_err *err)
{
    struct campaign_msg m;
    const char *org = PQgetvalue(row, 0, CC_ORG_ID), *id = PQgetvalue(row, 0, CC_ID);
    char version[16];
    PGresult *res;

    campaign_from_row(row, 0, 0, &m);
    if (PQgetisnull(row, 0, ACT_AGENT_CURRENT)) {
        if (from_scheduler) {
            snprintf(reason, reason_size, "agent deleted");
            return 1;
        }
        LIFECYCLE_FAIL(err, OD__STATUS__NOT_FOUND, "flow %.64s not found", m.msg.flow_id);
        return -1;
    }
    snprintf(version, sizeof version, "%d",
             m.msg.agent_version > 0 ? m.msg.agent_version
                                     : atoi(PQgetvalue(row, 0, ACT_AGENT_CURRENT)));
    /* The caller ID: the campaign's own, else the organization's default, else none. */
    const char *pn[] = {org, m.msg.phone_number_id};
    res = db_exec(db,
                  "SELECT (SELECT phone_number FROM campaign.phone_numbers WHERE org_id = $1"
                  "         AND id = $2),"
                  " (SELECT phone_number FROM campaign.phone_numbers WHERE org_id = $1"
                  "         AND is_default)",
                  2, pn);
    if (!db_ok(res)) {
        PQclear(res);
        LIFECYCLE_FAIL(err, OD__STATUS__UNAVAILABLE, "database unavailable");
        return -1;
    }
    char from[64] = "";
    if (m.msg.phone_number_id[0]) {
        if (PQgetisnull(res, 0, 0)) {
            PQclear(res);
            if (from_scheduler) {
                snprintf(reason, reason_size, "caller ID deleted");
                return 1;
            }
            LIFECYCLE_FAIL(err, OD__STATUS__NOT_FOUND, "phone number %.64s not found",
                           m.msg.phone_number_id);
            return -1;
        }
        snprintf(from, sizeof from, "%s", PQgetvalue(res, 0, 0));
    } else if (!PQgetisnull(res, 0, 1)) {
        snprintf(from, sizeof from, "%s", PQgetvalue(res, 0, 1));
    }
    PQclear(res);

    if (m.msg.audience_id[0] &&
        lifecycle_snapshot(app, db, org, id, m.msg.audience_id, request_id, err) != 0) {
        if (from_scheduler && err->status == OD__STATUS__NOT_FOUND) {
            snprintf(reason, reason_size, "audience deleted");
            return 1;
        }
        return -1;
    }
    const char *params[] = {org, id, version, from[0] ? from : NULL};
    if (db_command(db,
                   "INSERT INTO campaign.pacing (org_id, campaign_id, tokens, refilled_at, in_flight)"
                   " VALUES ($1, $2, 1, clock_timestamp(), 0) ON CONFLICT (org_id, campaign_id)"
                   " DO UPDATE SET tokens = 1, refilled_at = clock_timestamp()",
                   2, params) != 0 ||
        db_command(db,
                   "UPDATE campaign.campaigns SET status = 'IN_PROGRESS', status_reason = NULL,"
                   " agent_version = $3::int, from_number = $4, started_at = now(),"
                   " updated_at = now() WHERE org_id = $1 AND id = $2",
                   4, params) != 0) {
        LIFECYCLE_FAIL(err, OD__STATUS__UNAVAILABLE, "database unavailable");
        return -1;
    }
    return 0;
}

PGresult *campaign_act(struct campaign_app *app, struct db *db, const char *org_id,
                       const char *id, const char *action, const char *request_id,
                       bool from_scheduler, struct campaign_err *err)
{
    PGresult *row = NULL, *res = NULL;
    const char *to = NULL, *event = NULL;
    char reason[128] = "";
    int64_t balance = 0;

    err->status = OD__STATUS__OK;
    err->message[0] = '\0';
    if (strcmp(action, "stop") == 0)
        action = "cancel";
    if (strcmp(action, "start") != 0 && strcmp(action, "pause") != 0 &&
        strcmp(action, "resume") != 0 && strcmp(action, "cancel") != 0) {
        LIFECYCLE_FAIL(err, OD__STATUS__INVALID, "action must be start, pause, resume or cancel");
        return NULL;
    }
    if (db_begin(db) != 0) {
        LIFECYCLE_FAIL(err, OD__STATUS__UNAVAILABLE, "database unavailable");
        return NULL;
    }
    const char *key[] = {org_id, id};
    row = db_exec(db,
                  from_scheduler
                      ? "SELECT " CAMPAIGN_COLUMNS ACT_EXTRA " FROM campaign.campaigns c"
                        " WHERE c.org_id = $1 AND c.id = $2 FOR UPDATE SKIP LOCKED"
                      : "SELECT " CAMPAIGN_COLUMNS ACT_EXTRA " FROM campaign.campaigns c"
                        " WHERE c.org_id = $1 AND c.id = $2 FOR UPDATE",
                  2, key);
    if (!db_ok(row)) {
        LIFECYCLE_FAIL(err, OD__STATUS__UNAVAILABLE, "database unavailable");
        log_error(request_id, "campaign act: %s", PQresultErrorMessage(row));
        goto fail;
    }
    if (PQntuples(row) == 0) {
        LIFECYCLE_FAIL(err, OD__STATUS__NOT_FOUND, "campaign not found");
        goto fail;
    }
    const char *status = PQgetvalue(row, 0, CC_STATUS);
    bool is = false;
#define FROM(s) (strcmp(status, s) == 0)
    if (strcmp(action, "start") == 0) {
        is = FROM(CAMPAIGN_DRAFT) || FROM(CAMPAIGN_SCHEDULED);
        to = CAMPAIGN_IN_PROGRESS;
        event = EVENT_CAMPAIGN_STARTED;
    } else if (strcmp(action, "pause") == 0) {
        is = FROM(CAMPAIGN_IN_PROGRESS);
        to = CAMPAIGN_PAUSED;
        event = EVENT_CAMPAIGN_PAUSED;
    } else if (strcmp(action, "resume") == 0) {
        is = FROM(CAMPAIGN_PAUSED);
        to = CAMPAIGN_IN_PROGRESS;
        event = EVENT_CAMPAIGN_RESUMED;
    } else {
        is = FROM(CAMPAIGN_DRAFT) || FROM(CAMPAIGN_SCHEDULED) || FROM(CAMPAIGN_IN_PROGRESS) ||
             FROM(CAMPAIGN_PAUSED);
        to = CAMPAIGN_CANCELLED;
        event = EVENT_CAMPAIGN_CANCELLED;
    }
#undef FROM
    if (!is) {
        LIFECYCLE_FAIL(err, OD__STATUS__CONFLICT, "campaign is %s; cannot %s", status, action);
        goto fail;
    }
    if (from_scheduler && strcmp(status, CAMPAIGN_SCHEDULED) != 0) {
        LIFECYCLE_FAIL(err, OD__STATUS__NOT_FOUND, "campaign is no longer scheduled");
        goto fail;
    }

    if (strcmp(action, "start") == 0 || strcmp(action, "resume") == 0) {
        if (credits_balance(db, org_id, &balance) != 0) {
            LIFECYCLE_FAIL(err, OD__STATUS__UNAVAILABLE, "database unavailable");
            goto fail;
        }
        if (balance <= 0) {
            if (!from_scheduler) {
                LIFECYCLE_FAIL(err, OD__STATUS__PAYMENT_REQUIRED, "insufficient credits");
                goto fail;
            }
            snprintf(reason, sizeof reason, "insufficient credits");
        }
    }
    if (strcmp(action, "start") == 0 && reason[0] == '\0') {
        if (PQgetvalue(row, 0, ACT_FUTURE)[0] == 't') {
            /* Not yet: SCHEDULED (again); the scheduler starts it on time. */
            res = db_exec(db,
                          "UPDATE campaign.campaigns c SET status = 'SCHEDULED',"
                          " status_reason = NULL, updated_at = now()"
                          " WHERE c.org_id = $1 AND c.id = $2 RETURNING " CAMPAIGN_COLUMNS,
                          2, key);
            if (!db_ok(res) || db_commit(db) != 0) {
                LIFECYCLE_FAIL(err, OD__STATUS__UNAVAILABLE, "database unavailable");
                goto fail;
            }
            PQclear(row);
            return res;
        }
        int rc = lifecycle_start(app, db, row, request_id, from_scheduler, reason, sizeof reason,
                                 err);
        if (rc < 0)
            goto fail;
    } else if (strcmp(action, "cancel") == 0) {
        if (db_command(db,
                       "UPDATE campaign.leads SET status = 'CANCELLED', lease_owner = NULL,"
                       " lease_expires_at = NULL, updated_at = now() WHERE org_id = $1"
                       " AND campaign_id = $2 AND status IN ('PENDING', 'QUEUED', 'IN_PROGRESS')",
                       2, key) != 0 ||
            db_command(db, "DELETE FROM campaign.pacing WHERE org_id = $1 AND campaign_id = $2",
                       2, key) != 0) {
            LIFECYCLE_FAIL(err, OD__STATUS__UNAVAILABLE, "database unavailable");
            goto fail;
        }
    }
    if (reason[0] != '\0') { /* the scheduler's start could not run: FAILED with the reason */
        to = CAMPAIGN_FAILED;
        event = EVENT_CAMPAIGN_FAILED;
    }
    const char *params[] = {org_id, id, to, reason[0] ? reason : NULL};
    res = db_exec(db,
                  "UPDATE campaign.campaigns c SET status = $3, status_reason = $4,"
                  " updated_at = now(),"
                  " completed_at = CASE WHEN $3 IN ('CANCELLED', 'FAILED') THEN now()"
                  "   ELSE completed_at END"
                  " WHERE c.org_id = $1 AND c.id = $2 RETURNING " CAMPAIGN_COLUMNS,
                  4, params);
    if (!db_ok(res) || campaign_emit_row(db, event, res, 0) != 0 || db_commit(db) != 0) {
        LIFECYCLE_FAIL(err, OD__STATUS__UNAVAILABLE, "database unavailable");
        goto fail;
    }
    PQclear(row);
    campaign_wake_outbox(app);
    return res;
fail:
    db_rollback(db);
    PQclear(row);
    PQclear(res);
    return NULL;
}

int campaign_complete_if_done(struct db *db, const char *org_id, const char *id)
{
    const char *key[] = {org_id, id};
    PGresult *res = db_exec(
        db,
        "UPDATE campaign.campaigns c SET status = 'COMPLETED', completed_at = now(),"
        " updated_at = now() WHERE c.org_id = $1 AND c.id = $2 AND c.status = 'IN_PROGRESS'"
        " AND EXISTS (SELECT 1 FROM campaign.leads l WHERE l.org_id = $1 AND l.campaign_id = $2)"
        " AND " SQL_NO_OPEN_LEAD("$1", "$2") " RETURNING " CAMPAIGN_COLUMNS,
        2, key);
    int rc;
    if (!db_ok(res))
        rc = -1;
    else if (PQntuples(res) == 0)
        rc = 0;
    else if (campaign_emit_row(db, EVENT_CAMPAIGN_COMPLETED, res, 0) != 0 ||
             db_command(db, "DELETE FROM campaign.pacing WHERE org_id = $1 AND campaign_id = $2",
                        2, key) != 0)
        rc = -1;
    else
        rc = 1;
    PQclear(res);
    return rc;
}

int campaign_complete_if_free(struct db *db, const char *org_id, const char *id)
{
    const char *key[] = {org_id, id};
    PGresult *res = db_exec_prepared(
        db,
        "SELECT " SQL_NO_OPEN_LEAD("$1", "$2") ","
        " EXISTS (SELECT 1 FROM campaign.campaigns c WHERE c.org_id = $1 AND c.id = $2"
        "   AND c.status = 'IN_PROGRESS')",
        2, key);
    if (!db_ok(res)) {
        PQclear(res);
        return -1;
    }
    bool candidate = PQgetvalue(res, 0, 0)[0] == 't' && PQgetvalue(res, 0, 1)[0] == 't';
    PQclear(res);
    if (!candidate)
        return 0;
    res = db_exec(db,
                  "SELECT 1 FROM campaign.campaigns WHERE org_id = $1 AND id = $2"
                  " FOR UPDATE SKIP LOCKED",
                  2, key);
    if (!db_ok(res)) {
        PQclear(res);
        return -1;
    }
    bool locked = PQntuples(res) == 1;
    PQclear(res);
    return locked ? campaign_complete_if_done(db, org_id, id) : 0;
}
