/* The Leads RPC service: leads uploaded straight to a campaign, and the leads list.
 *
 * Upload: at most 10,000 rows; each bad row (mapping error from the gateway, a number that is
 * not E.164, a name too long, variables that are not a JSON object) fails alone with its index
 * and reason, and the good rows go in with one COPY. Duplicate numbers are ALLOWED for uploaded
 * leads (OsmTalk campaigns are often re-fed the same list to call again; an audience snapshot
 * stays one lead per contact). Numbers on the organization's DNC list become SKIPPED ('dnc').
 * Allowed while the campaign is DRAFT, SCHEDULED, IN_PROGRESS or PAUSED; CONFLICT otherwise. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "campaign.h"
#include "copytext.h"
#include "db.h"
#include "dnc.pb-c.h"
#include "e164.h"
#include "ids.h"
#include "od_names.h"
#include "rpc_util.h"

static int leads_strcmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void leads_upload(Od__Leads_Service *service, const Od__UploadLeadsRequest *in,
                         Od__UploadLeadsReply_Closure closure, void *closure_data)
{
    struct rpc_call *call = closure_data;
    struct campaign_app *app = call->app;
    Od__UploadLeadsReply reply = OD__UPLOAD_LEADS_REPLY__INIT;
    Od__LeadError *errors = NULL, **error_ptrs = NULL;
    char **good_phones = NULL;
    int *good = NULL;
    size_t ngood = 0;
    struct copytext buf = {0};
    struct rpc_ctx dnc;
    bool dnc_used = false;
    PGresult *res = NULL;
    (void)service;

    if (rpc_require_org(call) != 0)
        goto done;
    if (in->n_leads > CAMPAIGN_UPLOAD_MAX) {
        rpc_fail(call, OD__STATUS__INVALID, "at most %d leads per upload", CAMPAIGN_UPLOAD_MAX);
        goto done;
    }
    errors = calloc(in->n_leads + 1, sizeof *errors);
    error_ptrs = calloc(in->n_leads + 1, sizeof *error_ptrs);
    good = calloc(in->n_leads + 1, sizeof *good);
    good_phones = calloc(in->n_leads + 1, sizeof *good_phones);
    if (errors == NULL || error_ptrs == NULL || good == NULL || good_phones == NULL) {
        rpc_fail(call, OD__STATUS__INTERNAL, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < in->n_leads; i++) {
        const Od__LeadInput *l = in->leads[i];
        const char *reason = NULL;
        if (l->invalid_reason[0])
            reason = l->invalid_reason;
        else if (!e164_valid(l->phone_number))
            reason = "phoneNumber must be E.164 (+ and 8 to 15 digits)";
        else if (strlen(l->name) > CAMPAIGN_NAME_MAX)
            reason = "name must be at most 256 bytes";
        else if (l->variables_json[0]) {
            json_t *v = json_loads(l->variables_json, 0, NULL);
            if (!json_is_object(v))
                reason = "variables must be a JSON object";
            json_decref(v);
        }
        if (reason != NULL) {
            Od__LeadError *e = &errors[reply.n_errors];
            od__lead_error__init(e);
            e->index = (int32_t)i;
            e->phone_number = l->phone_number;
            e->reason = (char *)reason;
            error_ptrs[reply.n_errors++] = e;
            continue;
        }
        good_phones[ngood] = l->phone_number;
        good[ngood++] = (int)i;
    }
    reply.errors = error_ptrs;

    const char *key[] = {call->org_id, in->campaign_id};
    if (db_begin(call->db) != 0) {
        rpc_fail(call, OD__STATUS__UNAVAILABLE, "database unavailable");
        goto done;
    }
    /* The share lock keeps the campaign from reaching a terminal state under the upload. */
    res = db_exec(call->db,
                  "SELECT status FROM campaign.campaigns WHERE org_id = $1 AND id = $2 FOR SHARE",
                  2, key);
    if (!db_ok(res)) {
        rpc_fail_sql(call, res, "upload leads");
        goto rollback;
    }
    if (PQntuples(res) == 0) {
        rpc_fail(call, OD__STATUS__NOT_FOUND, "campaign not found");
        goto rollback;
    }
    const char *status = PQgetvalue(res, 0, 0);
    if (strcmp(status, CAMPAIGN_COMPLETED) == 0 || strcmp(status, CAMPAIGN_CANCELLED) == 0 ||
        strcmp(status, CAMPAIGN_FAILED) == 0) {
        rpc_fail(call, OD__STATUS__CONFLICT, "campaign is %s; cannot upload leads", status);
        goto rollback;
    }
    if (ngood == 0) {
        db_rollback(call->db);
        goto done;
    }
    /* The DNC list, asked once for the whole upload. */
    Od__CheckDncRequest req = OD__CHECK_DNC_REQUEST__INIT;
    req.phone_numbers = good_phones;
    req.n_phone_numbers = ngood;
    rpc_ctx_init(&dnc, call->org_id, call->request_id, app->contacts_timeout_ms);
    dnc_used = true;
    od__dnc__check_dnc(rpc_client_service_for(app->contacts, &od__dnc__descriptor), &req, NULL,
                       &dnc);
    if (dnc.status != OD__STATUS__OK) {
        rpc_fail(call, OD__STATUS__UNAVAILABLE, "DNC check failed: %.200s", dnc.message);
        goto rollback;
    }
    Od__CheckDncReply *listed = (Od__CheckDncReply *)dnc.reply;
    if (listed->n_listed > 1)
        qsort(listed->listed, listed->n_listed, sizeof *listed->listed, leads_strcmp);
    for (size_t g = 0; g < ngood; g++) {
        const Od__LeadInput *l = in->leads[good[g]];
        const char *phone = l->phone_number;
        char id[IDS_MAX_LEN];
        bool skip = listed->n_listed > 0 &&
                    bsearch(&phone, listed->listed, listed->n_listed, sizeof *listed->listed,
                            leads_strcmp) != NULL;
        const char *vars = l->variables_json[0] ? l->variables_json : "{}";
        copytext_field(&buf, call->org_id, '\t');
        copytext_field(&buf, in->campaign_id, '\t');
        copytext_field(&buf, ids_new_ordered(ID_PREFIX_LEAD, id, sizeof id), '\t');
        copytext_field(&buf, phone, '\t');
        copytext_field(&buf, l->name[0] ? l->name : NULL, '\t');
        copytext_field(&buf, vars, '\t');
        copytext_field(&buf, contact_tz_for(vars, phone), '\t');
        copytext_field(&buf, skip ? LEAD_SKIPPED : LEAD_PENDING, '\t');
        copytext_field(&buf, skip ? OUTCOME_DNC : NULL, '\n');
    }
    if (buf.failed) {
        rpc_fail(call, OD__STATUS__INTERNAL, "out of memory");
        goto rollback;
    }
    if (db_copy_in(call->db,
                   "COPY campaign.leads (org_id, campaign_id, id, phone_number, name, variables,"
                   " contact_tz, status, last_outcome) FROM STDIN",
                   buf.data, buf.len) != 0 ||
        db_commit(call->db) != 0) {
        rpc_fail(call, OD__STATUS__UNAVAILABLE, "writing leads failed");
        goto rollback;
    }
    reply.inserted = (int32_t)ngood;
    goto done;
rollback:
    db_rollback(call->db);
done:
    closure(call->status == OD__STATUS__OK ? &reply : NULL, call);
    if (dnc_used)
        rpc_ctx_release(&dnc);
    PQclear(res);
    free(buf.data);
    free(errors);
    free(error_ptrs);
    free(good);
    free(good_phones);
}

#define LEAD_COLUMNS                                                                           \
    "id, campaign_id, coalesce(contact_id, ''), phone_number, coalesce(name, ''),"           \
    " variables::text, status, attempts, " SQL_ISO_MS("next_attempt_at") ","                 \
    " coalesce(last_outcome, ''), coalesce(disposition, ''), coalesce(last_call_id, ''), "   \
    SQL_ISO_MS("created_at") ", " SQL_ISO_MS("updated_at")
enum lead_column { LC_ID, LC_CAMPAIGN_ID, LC_CONTACT_ID, LC_PHONE_NUMBER, LC_NAME, LC_VARIABLES,
                   LC_STATUS, LC_ATTEMPTS, LC_NEXT_ATTEMPT_AT, LC_LAST_OUTCOME, LC_DISPOSITION,
                   LC_LAST_CALL_ID, LC_CREATED_AT, LC_UPDATED_AT };

/* A page of a campaign's leads ($1 org, $2 campaign, $3 status or NULL, $4 limit, $5 offset)
 * in id order: the page's ids first, read from leads_contact (which carries id and status
 * since migration 004, so it can answer alone) and sorted, then the rows by primary key. The sort key is
 * written `id || ''` so that the planner cannot walk the primary key in id order instead,
 * filtering on the campaign: where a campaign's leads are a fair share of the table by the
 * statistics but all sit late in id order (a new campaign), that walk reads every older lead
 * first. test_lead_list_and_contact_guarantee checks the plan. */
const char leads_list_sql[] =
    "SELECT " LEAD_COLUMNS " FROM campaign.leads WHERE id = ANY (ARRAY("
    "  SELECT id FROM campaign.leads WHERE org_id = $1 AND campaign_id = $2"
    "  AND ($3::text IS NULL OR status = $3)"
    "  ORDER BY id || '' LIMIT $4::int OFFSET $5::int))"
    " AND org_id = $1 ORDER BY id";

static void lead_from_row(const PGresult *res, int row, void *message)
{
    Od__Lead *l = message;
    od__lead__init(l);
    l->id = PQgetvalue(res, row, LC_ID);
    l->campaign_id = PQgetvalue(res, row, LC_CAMPAIGN_ID);
    l->contact_id = PQgetvalue(res, row, LC_CONTACT_ID);
    l->phone_number = PQgetvalue(res, row, LC_PHONE_NUMBER);
    l->name = PQgetvalue(res, row, LC_NAME);
    l->variables_json = PQgetvalue(res, row, LC_VARIABLES);
    l->status = PQgetvalue(res, row, LC_STATUS);
    l->attempts = atoi(PQgetvalue(res, row, LC_ATTEMPTS));
    l->next_attempt_at = PQgetvalue(res, row, LC_NEXT_ATTEMPT_AT);
    l->last_outcome = PQgetvalue(res, row, LC_LAST_OUTCOME);
    l->disposition = PQgetvalue(res, row, LC_DISPOSITION);
    l->last_call_id = PQgetvalue(res, row, LC_LAST_CALL_ID);
    l->created_at = PQgetvalue(res, row, LC_CREATED_AT);
    l->updated_at = PQgetvalue(res, row, LC_UPDATED_AT);
}

static bool lead_status_valid(const char *s)
{
    static const char *const all[] = {LEAD_PENDING,   LEAD_QUEUED,  LEAD_IN_PROGRESS,
                                      LEAD_COMPLETED, LEAD_FAILED,  LEAD_SKIPPED,
                                      LEAD_CANCELLED};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (strcmp(s, all[i]) == 0)
            return true;
    return false;
}

static void leads_list(Od__Leads_Service *service, const Od__ListLeadsRequest *in,
                       Od__ListLeadsReply_Closure closure, void *closure_data)
{
    struct rpc_call *call = closure_data;
    Od__ListLeadsReply reply = OD__LIST_LEADS_REPLY__INIT;
    struct rpc_rows leads = {0};
    PGresult *count = NULL, *rows = NULL;
    char limit[16], offset[16];
    (void)service;

    if (rpc_require_org(call) != 0)
        goto done;
    int lim = in->limit == 0 ? 200 : in->limit;
    if (lim < 1 || lim > 1000 || in->offset < 0) {
        rpc_fail(call, OD__STATUS__INVALID, "limit must be between 1 and 1000 and offset >= 0");
        goto done;
    }
    if (in->status[0] && !lead_status_valid(in->status)) {
        rpc_fail(call, OD__STATUS__INVALID,
                 "status must be one of PENDING, QUEUED, IN_PROGRESS, COMPLETED, FAILED, "
                 "SKIPPED, CANCELLED");
        goto done;
    }
    snprintf(limit, sizeof limit, "%d", lim);
    snprintf(offset, sizeof offset, "%d", in->offset);
    const char *params[] = {call->org_id, in->campaign_id, in->status[0] ? in->status : NULL,
                            limit, offset};
    /* The campaign's existence comes with the count (NULL when there is no such campaign). */
    count = db_exec(call->db,
                    "SELECT (SELECT count(*) FROM campaign.leads WHERE org_id = $1"
                    "   AND campaign_id = $2 AND ($3::text IS NULL OR status = $3))"
                    " FROM campaign.campaigns WHERE org_id = $1 AND id = $2",
                    3, params);
    if (rpc_one_row(call, count, "list leads", "campaign not found") != 0)
        goto done;
    rows = db_exec(call->db, leads_list_sql, 5, params);
    if (!db_ok(rows)) {
        rpc_fail_sql(call, rows, "list leads");
        goto done;
    }
    if (rpc_rows_map(call, rows, sizeof(Od__Lead), lead_from_row, &leads) != 0)
        goto done;
    reply.total = strtoll(PQgetvalue(count, 0, 0), NULL, 10);
    reply.n_data = leads.n;
    reply.data = (Od__Lead **)leads.data;
done:
    closure(call->status == OD__STATUS__OK ? &reply : NULL, call);
    PQclear(count);
    PQclear(rows);
    rpc_rows_free(&leads);
}

Od__Leads_Service campaign_leads_service = OD__LEADS__INIT(leads_);
