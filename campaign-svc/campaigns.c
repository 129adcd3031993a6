/* The Campaigns RPC service: configuration (create, get, list, update in DRAFT, delete),
 * lifecycle actions (through lifecycle.c), progress and the report.
 *
 * Create and Update share one path: the settings are assembled in C (defaults of reference
 * 001 on create, the stored row on update, then the fields the request sets), validated as a
 * whole (INVALID for shapes and bounds first, then NOT_FOUND for the flow, version, caller ID
 * and audience), and written in one statement. Every statement is scoped to the caller's
 * organization. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audiences.pb-c.h"
#include "campaign.h"
#include "copytext.h"
#include "db.h"
#include "ids.h"
#include "od_names.h"
#include "outbox.h"
#include "rpc_util.h"
#include "service_runtime.h"
#include "timefmt.h"
#include "tz.h"

/* ---------------- rows and events ---------------- */

void campaign_from_row(const PGresult *res, int row, int first, struct campaign_msg *m)
{
    Od__Campaign *c = &m->msg;
#define V(col) PQgetvalue(res, row, first + (col))
    od__campaign__init(c);
    c->id = V(CC_ID);
    c->name = V(CC_NAME);
    c->status = V(CC_STATUS);
    c->flow_id = V(CC_AGENT_ID);
    c->agent_version = atoi(V(CC_AGENT_VERSION));
    c->audience_id = V(CC_AUDIENCE_ID);
    c->phone_number_id = V(CC_PHONE_NUMBER_ID);
    c->calls_per_minute = atoi(V(CC_CPM));
    c->max_concurrent_calls = atoi(V(CC_MAX_CONCURRENT));
    c->max_retries = atoi(V(CC_MAX_RETRIES));
    c->retry_delay_minutes = atoi(V(CC_RETRY_DELAY));
    c->call_timeout_minutes = atoi(V(CC_CALL_TIMEOUT));
    c->scheduled_at = V(CC_SCHEDULED_AT);
    c->timezone = V(CC_TIMEZONE);
    c->window_start = V(CC_WINDOW_START);
    c->window_end = V(CC_WINDOW_END);
    c->webhook_url = V(CC_WEBHOOK_URL);
    c->respect_contact_local_time = V(CC_RESPECT_LOCAL)[0] == 't';
    c->status_reason = V(CC_STATUS_REASON);
    c->organization_id = V(CC_ORG_ID);
    c->created_at = V(CC_CREATED_AT);
    c->updated_at = V(CC_UPDATED_AT);
    c->started_at = V(CC_STARTED_AT);
    c->completed_at = V(CC_COMPLETED_AT);
    /* "1,2,3" and "busy,no_answer": arrays of plain integers and words */
    const char *p = V(CC_WEEKDAYS);
    c->weekdays = m->weekdays;
    c->n_weekdays = 0;
    while (*p && c->n_weekdays < 7) {
        m->weekdays[c->n_weekdays++] = (int32_t)strtol(p, (char **)&p, 10);
        if (*p == ',')
            p++;
    }
    snprintf(m->retry_buf, sizeof m->retry_buf, "%s", V(CC_RETRY_ON));
    c->retry_on = m->retry_on;
    c->n_retry_on = 0;
    for (char *save = NULL, *w = strtok_r(m->retry_buf, ",", &save);
         w != NULL && c->n_retry_on < CAMPAIGN_RETRY_ON_MAX; w = strtok_r(NULL, ",", &save))
        m->retry_on[c->n_retry_on++] = w;
#undef V
}

char *campaign_event_payload(const char *event, const Od__Campaign *c)
{
    char now[TIME_ISO_LEN];
    json_t *camp = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:i, s:i}", "id", c->id, "name", c->name, "status", c->status,
        "organizationId", c->organization_id, "flowId", c->flow_id, "callsPerMinute",
        (int)c->calls_per_minute, "maxConcurrentCalls", (int)c->max_concurrent_calls);
    if (camp == NULL)
        return NULL;
    json_object_set_new(camp, "statusReason",
                        c->status_reason[0] ? json_string(c->status_reason) : json_null());
    json_object_set_new(camp, "startedAt",
                        c->started_at[0] ? json_string(c->started_at) : json_null());
    json_object_set_new(camp, "completedAt",
                        c->completed_at[0] ? json_string(c->completed_at) : json_null());
    json_t *root = json_pack("{s:s, s:s, s:o}", "event", event, "timestamp",
                             time_format_ms(time_now_ms(), now, sizeof now), "campaign", camp);
    if (root == NULL)
        return NULL;
    char *text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return text;
}

int campaign_emit_row(struct db *db, const char *event, PGresult *res, int row)
{
    struct campaign_msg m;
    campaign_from_row(res, row, 0, &m);
    char *payload = campaign_event_payload(event, &m.msg);
    if (payload == NULL)
        return -1;
    int rc = outbox_add(db, "campaign", event, m.msg.organization_id, m.msg.webhook_url, payload);
    free(payload);
    return rc;
}

int campaign_set_status_event(struct db *db, const char *org_id, const char *id,
                              const char *status, const char *reason, const char *event)
{
    const char *params[] = {org_id, id, status, reason};
    PGresult *res = db_exec(db,
                            "UPDATE campaign.campaigns c SET status = $3, status_reason = $4,"
                            " updated_at = now(),"
                            " completed_at = CASE WHEN $3 IN ('COMPLETED', 'FAILED', 'CANCELLED')"
                            "   THEN now() ELSE completed_at END"
                            " WHERE org_id = $1 AND id = $2 RETURNING " CAMPAIGN_COLUMNS,
                            4, params);
    int rc = db_ok(res) && PQntuples(res) == 1 ? campaign_emit_row(db, event, res, 0) : -1;
    PQclear(res);
    return rc;
}

void campaign_wake_outbox(struct campaign_app *app)
{
    if (app != NULL && app->rt != NULL)
        service_runtime_wake_outbox(app->rt);
}

/* ---------------- settings ---------------- */

struct campaign_settings {
    const char *name, *flow_id, *audience_id, *phone_number_id;
    int agent_version;
    int cpm, max_concurrent, max_retries, retry_delay, call_timeout;
    int64_t scheduled_ms;   /* -1: none */
    const char *timezone, *window_start, *window_end, *webhook_url;
    int32_t weekdays[7];
    size_t n_weekdays;
    const char *retry_on[CAMPAIGN_RETRY_ON_MAX];
    size_t n_retry_on;
    bool respect_local;
};

static const char *const default_retry_on[] = {OUTCOME_NO_ANSWER, OUTCOME_BUSY, OUTCOME_FAILED,
                                               OUTCOME_VOICEMAIL, OUTCOME_TIMEOUT,
                                               OUTCOME_CARRIER_ERROR};

static void settings_defaults(struct campaign_settings *s)
{
    memset(s, 0, sizeof *s);
    s->name = s->flow_id = s->audience_id = s->phone_number_id = "";
    s->timezone = s->window_start = s->window_end = s->webhook_url = "";
    s->cpm = 10;
    s->max_concurrent = 5;
    s->max_retries = 3;
    s->retry_delay = 5;
    s->call_timeout = 5;
    s->scheduled_ms = -1;
    s->n_retry_on = sizeof default_retry_on / sizeof default_retry_on[0];
    for (size_t i = 0; i < s->n_retry_on; i++)
        s->retry_on[i] = default_retry_on[i];
}

/* The stored campaign as settings (strings point into m). */
static void settings_from_msg(struct campaign_settings *s, const Od__Campaign *c)
{
    settings_defaults(s);
    s->name = c->name;
    s->flow_id = c->flow_id;
    s->agent_version = c->agent_version;
    s->audience_id = c->audience_id;
    s->phone_number_id = c->phone_number_id;
    s->cpm = c->calls_per_minute;
    s->max_concurrent = c->max_concurrent_calls;
    s->max_retries = c->max_retries;
    s->retry_delay = c->retry_delay_minutes;
    s->call_timeout = c->call_timeout_minutes;
    if (c->scheduled_at[0] && time_parse_iso(c->scheduled_at, &s->scheduled_ms) != 0)
        s->scheduled_ms = -1;
    s->timezone = c->timezone;
    s->window_start = c->window_start;
    s->window_end = c->window_end;
    s->webhook_url = c->webhook_url;
    s->respect_local = c->respect_contact_local_time;
    s->n_weekdays = c->n_weekdays;
    memcpy(s->weekdays, c->weekdays, c->n_weekdays * sizeof *c->weekdays);
    s->n_retry_on = c->n_retry_on;
    for (size_t i = 0; i < c->n_retry_on; i++)
        s->retry_on[i] = c->retry_on[i];
}

/* Overlays the fields the input sets (on create, a field also counts as set when it is not
 * the zero value). 0, or -1 with err filled (INVALID). */
static int settings_apply(struct campaign_settings *s, const Od__CampaignInput *in, bool create,
                          char *err, size_t err_size)
{
#define SET(f) (in->set_##f || (create && in->f))
    if (create || in->set_name)
        s->name = in->name;
    if (SET(flow_id))
        s->flow_id = in->flow_id;
    if (SET(agent_version))
        s->agent_version = in->agent_version;
    if (SET(audience_id))
        s->audience_id = in->audience_id;
    if (SET(phone_number_id))
        s->phone_number_id = in->phone_number_id;
    if (SET(calls_per_minute))
        s->cpm = in->calls_per_minute;
    if (SET(max_concurrent_calls))
        s->max_concurrent = in->max_concurrent_calls;
    if (SET(max_retries))
        s->max_retries = in->max_retries;
    if (SET(retry_delay_minutes))
        s->retry_delay = in->retry_delay_minutes;
    if (SET(call_timeout_minutes))
        s->call_timeout = in->call_timeout_minutes;
    if (SET(timezone))
        s->timezone = in->timezone;
    if (in->set_window || (create && (in->window_start[0] || in->window_end[0]))) {
        s->window_start = in->window_start;
        s->window_end = in->window_end;
    }
    if (SET(webhook_url))
        s->webhook_url = in->webhook_url;
    if (SET(respect_contact_local_time))
        s->respect_local = in->respect_contact_local_time;
    if (in->set_weekdays || (create && in->n_weekdays)) {
        if (in->n_weekdays > 7) {
            snprintf(err, err_size, "weekdays must hold at most 7 days");
            return -1;
        }
        s->n_weekdays = in->n_weekdays;
        memcpy(s->weekdays, in->weekdays, in->n_weekdays * sizeof *in->weekdays);
    }
    if (in->set_retry_on || (create && in->n_retry_on)) {
        if (in->n_retry_on > CAMPAIGN_RETRY_ON_MAX) {
            snprintf(err, err_size, "retryOn holds too many outcomes");
            return -1;
        }
        s->n_retry_on = in->n_retry_on;
        for (size_t i = 0; i < in->n_retry_on; i++) {
            if (!retry_on_word_valid(in->retry_on[i])) {
                snprintf(err, err_size,
                         "retryOn[%zu] must be one of no_answer, busy, failed, voicemail, "
                         "timeout, canceled, carrier_error", i);
                return -1;
            }
            s->retry_on[i] = in->retry_on[i];
        }
    }
    if (SET(scheduled_at)) {
        if (in->scheduled_at[0] == '\0') {
            s->scheduled_ms = -1;
        } else if (time_parse_iso(in->scheduled_at, &s->scheduled_ms) != 0) {
            snprintf(err, err_size, "scheduledAt must be an ISO 8601 time");
            return -1;
        }
    }
#undef SET
    return 0;
}

/* Shapes and bounds; the zone is loaded from the tz database. start_date (OutboundCalls.ai)
 * becomes scheduled_ms at the window's start that day in the zone. */
static int settings_validate(struct campaign_settings *s, const Od__CampaignInput *in,
                             char *err, size_t err_size)
{
    size_t len = strlen(s->name);
    struct call_window w;
    const struct tz_zone *zone = NULL;

    if (len == 0 || strspn(s->name, " \t\r\n") == len) {
        snprintf(err, err_size, "name is required");
        return -1;
    }
    if (len > CAMPAIGN_NAME_MAX) {
        snprintf(err, err_size, "name must be at most 256 bytes");
        return -1;
    }
    if (s->flow_id[0] == '\0') {
        snprintf(err, err_size, "flowId is required");
        return -1;
    }
    if (s->agent_version < 0) {
        snprintf(err, err_size, "agentVersion must be a positive version");
        return -1;
    }
    if (s->cpm < 1 || s->cpm > 60000) {
        snprintf(err, err_size, "callsPerMinute must be between 1 and 60000");
        return -1;
    }
    if (s->max_concurrent < 1 || s->max_concurrent > 50) {
        snprintf(err, err_size, "maxConcurrentCalls must be between 1 and 50");
        return -1;
    }
    if (s->max_retries < 0 || s->max_retries > 10) {
        snprintf(err, err_size, "maxRetries must be between 0 and 10");
        return -1;
    }
    if (s->retry_delay < 0 || s->retry_delay > 10080) {
        snprintf(err, err_size, "retryDelayMinutes must be between 0 and 10080");
        return -1;
    }
    if (s->call_timeout < 1 || s->call_timeout > 120) {
        snprintf(err, err_size, "callTimeoutMinutes must be between 1 and 120");
        return -1;
    }
    if (s->timezone[0] != '\0' && (zone = tz_get(s->timezone)) == NULL) {
        snprintf(err, err_size, "timezone %.64s is not a known IANA time zone", s->timezone);
        return -1;
    }
    if (window_init(&w, s->window_start, s->window_end, s->weekdays, s->n_weekdays, err,
                    err_size) != 0)
        return -1;
    if (strlen(s->webhook_url) > CAMPAIGN_URL_MAX ||
        (s->webhook_url[0] && strncmp(s->webhook_url, "https://", 8) != 0 &&
         strncmp(s->webhook_url, "http://", 7) != 0)) {
        snprintf(err, err_size, "webhookUrl must be an http(s) URL");
        return -1;
    }
    if (in->set_start_date || in->start_date[0]) {
        int y, m, d;
        char extra;
        if (in->start_date[0] == '\0') {
            /* clearing start_date clears the schedule it made */
        } else if (sscanf(in->start_date, "%4d-%2d-%2d%c", &y, &m, &d, &extra) != 3 || m < 1 ||
                   m > 12 || d < 1 || d > 31) {
            snprintf(err, err_size, "start_date must be YYYY-MM-DD");
            return -1;
        } else {
            if (zone == NULL) {
                snprintf(err, err_size, "timezone is required with a start date");
                return -1;
            }
            int open = w.start_min < 0 ? 0 : w.start_min;
            s->scheduled_ms = tz_from_local(zone, y, m, d, open / 60, open % 60, 0) * 1000;
        }
    }
    if (s->scheduled_ms >= 0) {
        if (zone == NULL) {
            snprintf(err, err_size, "timezone is required when scheduledAt is set");
            return -1;
        }
        if (s->scheduled_ms <= time_now_ms()) {
            snprintf(err, err_size, "scheduledAt must be in the future");
            return -1;
        }
    }
    return 0;
}

/* The references exist in the organization: the agent (and the pinned version), the caller
 * ID, and the audience (asked of contacts-svc). 0, or -1 with the call failed. */
static int settings_check_refs(struct rpc_call *call, const struct campaign_settings *s)
{
    struct campaign_app *app = call->app;
    char version[16];
    snprintf(version, sizeof version, "%d", s->agent_version);
    const char *params[] = {call->org_id, s->flow_id, version, s->phone_number_id};
    PGresult *res = db_exec(call->db,
                            "SELECT (SELECT count(*) FROM campaign.agents WHERE org_id = $1"
                            "        AND id = $2 AND deleted_at IS NULL),"
                            " (SELECT count(*) FROM campaign.agent_versions WHERE org_id = $1"
                            "        AND agent_id = $2 AND version = $3::int),"
                            " (SELECT count(*) FROM campaign.phone_numbers WHERE org_id = $1"
                            "        AND id = $4)",
                            4, params);
    if (!db_ok(res)) {
        rpc_fail_sql(call, res, "check campaign references");
        PQclear(res);
        return -1;
    }
    bool agent = strcmp(PQgetvalue(res, 0, 0), "0") != 0;
    bool ver = strcmp(PQgetvalue(res, 0, 1), "0") != 0;
    bool phone = strcmp(PQgetvalue(res, 0, 2), "0") != 0;
    PQclear(res);
    if (!agent) {
        rpc_fail(call, OD__STATUS__NOT_FOUND, "flow %.64s not found", s->flow_id);
        return -1;
    }
    if (s->agent_version > 0 && !ver) {
        rpc_fail(call, OD__STATUS__NOT_FOUND, "agent version %d not found", s->agent_version);
        return -1;
    }
    if (s->phone_number_id[0] && !phone) {
        rpc_fail(call, OD__STATUS__NOT_FOUND, "phone number %.64s not found",
                 s->phone_number_id);
        return -1;
    }
    if (s->audience_id[0]) {
        Od__GetAudienceRequest req = OD__GET_AUDIENCE_REQUEST__INIT;
        struct rpc_ctx ctx;
        req.id = (char *)s->audience_id;
        rpc_ctx_init(&ctx, call->org_id, call->request_id, app->contacts_timeout_ms);
        od__audiences__get(rpc_client_service_for(app->contacts, &od__audiences__descriptor),
                           &req, NULL, &ctx);
        Od__Status st = ctx.status;
        rpc_ctx_release(&ctx);
        if (st == OD__STATUS__NOT_FOUND) {
            rpc_fail(call, OD__STATUS__NOT_FOUND, "audience %.64s not found", s->audience_id);
            return -1;
        }
        if (st != OD__STATUS__OK) {
            rpc_fail(call, OD__STATUS__UNAVAILABLE, "contacts service unavailable");
            return -1;
        }
    }
    return 0;
}

/* Parameters $3..$21 of the insert and the update, in this order. */
struct settings_params {
    char version[16], cpm[16], conc[16], retries[16], delay[16], timeout[16];
    char scheduled[TIME_ISO_LEN];
    struct copytext weekdays, retry_on;
    const char *p[21];
};

static int settings_params(struct settings_params *sp, const struct campaign_settings *s,
                           const char *org_id, const char *id)
{
    memset(sp, 0, sizeof *sp);
    snprintf(sp->version, sizeof sp->version, "%d", s->agent_version);
    snprintf(sp->cpm, sizeof sp->cpm, "%d", s->cpm);
    snprintf(sp->conc, sizeof sp->conc, "%d", s->max_concurrent);
    snprintf(sp->retries, sizeof sp->retries, "%d", s->max_retries);
    snprintf(sp->delay, sizeof sp->delay, "%d", s->retry_delay);
    snprintf(sp->timeout, sizeof sp->timeout, "%d", s->call_timeout);
    if (s->scheduled_ms >= 0)
        time_format_ms(s->scheduled_ms, sp->scheduled, sizeof sp->scheduled);
    for (size_t i = 0; i < s->n_weekdays; i++) {
        char d[4];
        snprintf(d, sizeof d, "%d", s->weekdays[i]);
        copytext_array_add(&sp->weekdays, d);
    }
    for (size_t i = 0; i < s->n_retry_on; i++)
        copytext_array_add(&sp->retry_on, s->retry_on[i]);
    const char *wd = copytext_array_end(&sp->weekdays), *ro = copytext_array_end(&sp->retry_on);
    if (wd == NULL || ro == NULL)
        return -1;
#define N(x) ((x)[0] ? (x) : NULL)
    const char *p[21] = {org_id, id, s->name, s->flow_id, sp->version, N(s->audience_id),
                         N(s->phone_number_id), sp->cpm, sp->conc, sp->retries, sp->delay,
                         sp->timeout, N(sp->scheduled), N(s->timezone), N(s->window_start),
                         N(s->window_end), wd, ro, N(s->webhook_url),
                         s->respect_local ? "t" : "f", NULL};
#undef N
    memcpy(sp->p, p, sizeof p);
    return 0;
}

static void settings_params_free(struct settings_params *sp)
{
    free(sp->weekdays.data);
    free(sp->retry_on.data);
}

/* rpc_row_map_fn: a struct campaign_msg (msg first, so the message's address is the
 * struct's) from CAMPAIGN_COLUMNS at column 0. */
static void campaign_map_row(const PGresult *res, int row, void *message)
{
    campaign_from_row(res, row, 0, message);
}

static void campaign_reply_row(struct rpc_call *call, PGresult *res, Od__Campaign_Closure closure)
{
    struct campaign_msg m;
    campaign_from_row(res, 0, 0, &m);
    closure(&m.msg, call);
}

/* ---------------- handlers ---------------- */

static void campaigns_create(Od__Campaigns_Service *service, const Od__CampaignInput *in,
                             Od__Campaign_Closure closure, void *closure_data)
{
    struct rpc_call *call = closure_data;
    struct campaign_settings s;
    struct settings_params sp;
    char err[256], id[IDS_MAX_LEN];
    PGresult *res = NULL;
    (void)service;

    memset(&sp, 0, sizeof sp);
    if (rpc_require_org(call) != 0)
        goto fail;
    settings_defaults(&s);
    if (settings_apply(&s, in, true, err, sizeof err) != 0 ||
        settings_validate(&s, in, err, sizeof err) != 0) {
        rpc_fail(call, OD__STATUS__INVALID, "%s", err);
        goto fail;
    }
    if (settings_check_refs(call, &s) != 0)
        goto fail;
    if (settings_params(&sp, &s, call->org_id, ids_new_ordered(ID_PREFIX_CAMPAIGN, id, sizeof id)) != 0) {
        rpc_fail(call, OD__STATUS__INTERNAL, "out of memory");
        goto fail;
    }
    res = db_exec(call->db,
                  "INSERT INTO campaign.campaigns AS c (org_id, id, name, agent_id, agent_version,"
                  " audience_id, phone_number_id, calls_per_minute, max_concurrent_calls,"
                  " max_retries, retry_delay_minutes, call_timeout_minutes, scheduled_at, timezone,"
                  " window_start, window_end, weekdays, retry_on, webhook_url,"
                  " respect_contact_local_time) VALUES ($1, $2, $3, $4, $5::int, $6, $7, $8::int,"
                  " $9::int, $10::int, $11::int, $12::int, $13::timestamptz, $14, $15, $16,"
                  " $17::int[], $18::text[], $19, $20::bool) RETURNING " CAMPAIGN_COLUMNS,
                  20, sp.p);
    if (!db_ok(res)) {
        rpc_fail_sql(call, res, "create campaign");
        goto fail;
    }
    campaign_reply_row(call, res, closure);
    PQclear(res);
    settings_params_free(&sp);
    return;
fail:
    closure(NULL, call);
    PQclear(res);
    settings_params_free(&sp);
}

static void campaigns_get(Od__Campaigns_Service *service, const Od__IdRequest *in,
                          Od__Campaign_Closure closure, void *closure_data)
{
    struct rpc_call *call = closure_data;
    struct campaign_msg m;
    PGresult *res = rpc_fetch_by_id(call,
                                    "SELECT " CAMPAIGN_COLUMNS " FROM campaign.campaigns c"
                                    " WHERE c.org_id = $1 AND c.id = $2",
                                    in->id, "get campaign", "campaign not found",
                                    campaign_map_row, &m);
    (void)service;

    closure(res != NULL ? &m.msg : NULL, call);
    PQclear(res);
}

static bool campaign_status_valid(const char *s)
{
    static const char *const all[] = {CAMPAIGN_DRAFT,     CAMPAIGN_SCHEDULED, CAMPAIGN_IN_PROGRESS,
                                      CAMPAIGN_PAUSED,    CAMPAIGN_COMPLETED, CAMPAIGN_CANCELLED,
                                      CAMPAIGN_FAILED};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (strcmp(s, all[i]) == 0)
            return true;
    return false;
}

static void campaigns_list(Od__Campaigns_Service *service, const Od__ListRequest *in,
                           Od__ListCampaignsReply_Closure closure, void *closure_data)
{
    struct rpc_call *call = closure_data;
    Od__ListCampaignsReply reply = OD__LIST_CAMPAIGNS_REPLY__INIT;
    struct rpc_list list = {0};
    const char *extra[] = {in->status[0] ? in->status : NULL};
    const struct rpc_list_query q = {
        .what = "list campaigns",
        .count_sql = "SELECT count(*) FROM campaign.campaigns c WHERE c.org_id = $1"
                     " AND ($2::text IS NULL OR c.name ILIKE $2)"
                     " AND ($3::text IS NULL OR c.status = $3)",
        .rows_sql = "SELECT " CAMPAIGN_COLUMNS " FROM campaign.campaigns c WHERE c.org_id = $1"
                    " AND ($2::text IS NULL OR c.name ILIKE $2)"
                    " AND ($5::text IS NULL OR c.status = $5)"
                    " ORDER BY c.id DESC LIMIT $3::int OFFSET $4::bigint",
        .page = in->page, .limit = in->limit, .max_limit = 100, .search = in->search,
        .extra = extra, .nextra = 1,
    };
    (void)service;

    if (in->status[0] && !campaign_status_valid(in->status))
        rpc_fail(call, OD__STATUS__INVALID,
                 "status must be one of DRAFT, SCHEDULED, IN_PROGRESS, PAUSED, COMPLETED, "
                 "CANCELLED, FAILED");
    else if (rpc_list_map(call, &q, sizeof(struct campaign_msg), campaign_map_row, &list) == 0)
        RPC_LIST_REPLY(reply, list);
    closure(call->status == OD__STATUS__OK ? &reply : NULL, call);
    rpc_list_free(&list);
}

static void campaigns_update(Od__Campaigns_Service *service, const Od__CampaignInput *in,
                             Od__Campaign_Closure closure, void *closure_data)
{
    struct rpc_call *call = closure_data;
    struct campaign_settings s;
    struct settings_params sp;
    struct campaign_msg cur;
    char err[256];
    PGresult *old = NULL, *res = NULL;
    (void)service;

    memset(&sp, 0, sizeof sp);
    if (rpc_require_org(call) != 0)
        goto fail;
    const char *key[] = {call->org_id, in->id};
    if (db_begin(call->db) != 0) {
        rpc_fail(call, OD__STATUS__UNAVAILABLE, "database unavailable");
        goto fail;
    }
    old = db_exec(call->db,
                  "SELECT " CAMPAIGN_COLUMNS " FROM campaign.campaigns c"
                  " WHERE c.org_id = $1 AND c.id = $2 FOR UPDATE",
                  2, key);
    if (!db_ok(old)) {
        rpc_fail_sql(call, old, "update campaign");
        goto rollback;
    }
    if (PQntuples(old) == 0) {
        rpc_fail(call, OD__STATUS__NOT_FOUND, "campaign not found");
        goto rollback;
    }
    campaign_from_row(old, 0, 0, &cur);
    if (strcmp(cur.msg.status, CAMPAIGN_DRAFT) != 0) {
        rpc_fail(call, OD__STATUS__CONFLICT, "campaign is %s; only a DRAFT campaign can be updated",
                 cur.msg.status);
        goto rollback;
    }
    settings_from_msg(&s, &cur.msg);
    if (settings_apply(&s, in, false, err, sizeof err) != 0 ||
        settings_validate(&s, in, err, sizeof err) != 0) {
        rpc_fail(call, OD__STATUS__INVALID, "%s", err);
        goto rollback;
    }
    if (settings_check_refs(call, &s) != 0)
        goto rollback;
    if (settings_params(&sp, &s, call->org_id, in->id) != 0) {
        rpc_fail(call, OD__STATUS__INTERNAL, "out of memory");
        goto rollback;
    }
    res = db_exec(call->db,
                  "UPDATE campaign.campaigns c SET name = $3, agent_id = $4, agent_version = $5::int,"
                  " audience_id = $6, phone_number_id = $7, calls_per_minute = $8::int,"
                  " max_concurrent_calls = $9::int, max_retries = $10::int,"
                  " retry_delay_minutes = $11::int, call_timeout_minutes = $12::int,"
                  " scheduled_at = $13::timestamptz, timezone = $14, window_start = $15,"
                  " window_end = $16, weekdays = $17::int[], retry_on = $18::text[],"
                  " webhook_url = $19, respect_contact_local_time = $20::bool, updated_at = now()"
                  " WHERE c.org_id = $1 AND c.id = $2 RETURNING " CAMPAIGN_COLUMNS,
                  20, sp.p);
    if (!db_ok(res) || db_commit(call->db) != 0) {
        rpc_fail_sql(call, res, "update campaign");
        goto rollback;
    }
    campaign_reply_row(call, res, closure);
    PQclear(old);
    PQclear(res);
    settings_params_free(&sp);
    return;
rollback:
    db_rollback(call->db);
fail:
    closure(NULL, call);
    PQclear(old);
    PQclear(res);
    settings_params_free(&sp);
}

static void campaigns_delete(Od__Campaigns_Service *service, const Od__IdRequest *in,
                             Od__Empty_Closure closure, void *closure_data)
{
    struct rpc_call *call = closure_data;
    Od__Empty empty = OD__EMPTY__INIT;
    PGresult *res = NULL;
    (void)service;

    if (rpc_require_org(call) != 0)
        goto done;
    const char *params[] = {call->org_id, in->id};
    if (db_begin(call->db) != 0) {
        rpc_fail(call, OD__STATUS__UNAVAILABLE, "database unavailable");
        goto done;
    }
    res = db_exec(call->db,
                  "SELECT status FROM campaign.campaigns WHERE org_id = $1 AND id = $2 FOR UPDATE",
                  2, params);
    if (!db_ok(res)) {
        rpc_fail_sql(call, res, "delete campaign");
        goto rollback;
    }
    if (PQntuples(res) == 0) {
        rpc_fail(call, OD__STATUS__NOT_FOUND, "campaign not found");
        goto rollback;
    }
    const char *status = PQgetvalue(res, 0, 0);
    if (strcmp(status, CAMPAIGN_SCHEDULED) == 0 || strcmp(status, CAMPAIGN_IN_PROGRESS) == 0 ||
        strcmp(status, CAMPAIGN_PAUSED) == 0) {
        rpc_fail(call, OD__STATUS__CONFLICT, "campaign is %s; cannot delete", status);
        goto rollback;
    }
    /* The credit ledger keeps its rows: it is append-only. */
    if (db_command(call->db, "DELETE FROM campaign.leads WHERE org_id = $1 AND campaign_id = $2",
                   2, params) != 0 ||
        db_command(call->db, "DELETE FROM campaign.pacing WHERE org_id = $1 AND campaign_id = $2",
                   2, params) != 0 ||
        db_command(call->db, "DELETE FROM campaign.campaigns WHERE org_id = $1 AND id = $2", 2,
                   params) != 0 ||
        db_commit(call->db) != 0) {
        rpc_fail(call, OD__STATUS__UNAVAILABLE, "delete campaign failed");
        goto rollback;
    }
    goto done;
rollback:
    db_rollback(call->db);
done:
    closure(call->status == OD__STATUS__OK ? &empty : NULL, call);
    PQclear(res);
}

static void campaigns_act(Od__Campaigns_Service *service, const Od__CampaignActionRequest *in,
                          Od__Campaign_Closure closure, void *closure_data)
{
    struct rpc_call *call = closure_data;
    struct campaign_err err = {OD__STATUS__OK, ""};
    PGresult *res;
    (void)service;

    if (rpc_require_org(call) != 0) {
        closure(NULL, call);
        return;
    }
    res = campaign_act(call->app, call->db, call->org_id, in->id, in->action, call->request_id,
                       false, &err);
    if (res == NULL) {
        rpc_fail(call, err.status, "%s", err.message);
        closure(NULL, call);
        return;
    }
    campaign_reply_row(call, res, closure);
    PQclear(res);
}

/* Lead counts of one campaign by status, with the campaign's status first. */
static const char progress_sql[] =
    "SELECT c.status,"
    " count(l.id),"
    " count(l.id) FILTER (WHERE l.status = 'PENDING'),"
    " count(l.id) FILTER (WHERE l.status = 'QUEUED'),"
    " count(l.id) FILTER (WHERE l.status = 'IN_PROGRESS'),"
    " count(l.id) FILTER (WHERE l.status = 'COMPLETED'),"
    " count(l.id) FILTER (WHERE l.status = 'FAILED'),"
    " count(l.id) FILTER (WHERE l.status = 'SKIPPED'),"
    " count(l.id) FILTER (WHERE l.status = 'CANCELLED')"
    " FROM campaign.campaigns c LEFT JOIN campaign.leads l"
    "   ON l.org_id = c.org_id AND l.campaign_id = c.id"
    " WHERE c.org_id = $1 AND c.id = $2 GROUP BY c.status";

static void campaigns_get_progress(Od__Campaigns_Service *service, const Od__IdRequest *in,
                                   Od__Progress_Closure closure, void *closure_data)
{
    struct rpc_call *call = closure_data;
    Od__Progress p = OD__PROGRESS__INIT;
    PGresult *res = NULL;
    (void)service;

    if (rpc_require_org(call) != 0)
        goto done;
    const char *params[] = {call->org_id, in->id};
    res = db_exec(call->db, progress_sql, 2, params);
    if (!db_ok(res)) {
        rpc_fail_sql(call, res, "campaign progress");
        goto done;
    }
    if (PQntuples(res) == 0) {
        rpc_fail(call, OD__STATUS__NOT_FOUND, "campaign not found");
        goto done;
    }
#define N(i) strtoll(PQgetvalue(res, 0, i), NULL, 10)
    p.status = PQgetvalue(res, 0, 0);
    p.total = N(1);
    p.pending = N(2);
    p.queued = N(3);
    p.in_progress = N(4);
    p.completed = N(5);
    p.failed = N(6);
    p.skipped = N(7);
    p.cancelled = N(8);
#undef N
    p.percent_complete =
        p.total > 0 ? (int32_t)((p.completed + p.failed + p.skipped + p.cancelled) * 100 / p.total)
                    : 0;
done:
    closure(call->status == OD__STATUS__OK ? &p : NULL, call);
    PQclear(res);
}

static void campaigns_get_report(Od__Campaigns_Service *service, const Od__IdRequest *in,
                                 Od__Report_Closure closure, void *closure_data)
{
    struct rpc_call *call = closure_data;
    Od__Report r = OD__REPORT__INIT;
    struct campaign_msg m;
    Od__CountEntry *entries = NULL, **by_status = NULL, **by_disp = NULL;
    PGresult *camp = NULL, *counts = NULL;
    (void)service;

    if (rpc_require_org(call) != 0)
        goto done;
    const char *params[] = {call->org_id, in->id};
    camp = db_exec(call->db,
                   "SELECT " CAMPAIGN_COLUMNS " FROM campaign.campaigns c"
                   " WHERE c.org_id = $1 AND c.id = $2",
                   2, params);
    if (!db_ok(camp)) {
        rpc_fail_sql(call, camp, "campaign report");
        goto done;
    }
    if (PQntuples(camp) == 0) {
        rpc_fail(call, OD__STATUS__NOT_FOUND, "campaign not found");
        goto done;
    }
    campaign_from_row(camp, 0, 0, &m);
    r.campaign = &m.msg;
    /* kind 's' rows count statuses, kind 'd' rows dispositions (leads that have one) */
    counts = db_exec(call->db,
                     "SELECT 's', status, count(*) FROM campaign.leads"
                     " WHERE org_id = $1 AND campaign_id = $2 GROUP BY status "
                     "UNION ALL "
                     "SELECT 'd', disposition, count(*) FROM campaign.leads"
                     " WHERE org_id = $1 AND campaign_id = $2 AND disposition IS NOT NULL"
                     " GROUP BY disposition ORDER BY 1, 2",
                     2, params);
    if (!db_ok(counts)) {
        rpc_fail_sql(call, counts, "campaign report");
        goto done;
    }
    int n = PQntuples(counts);
    entries = calloc((size_t)n + 1, sizeof *entries);
    by_status = calloc((size_t)n + 1, sizeof *by_status);
    by_disp = calloc((size_t)n + 1, sizeof *by_disp);
    if (entries == NULL || by_status == NULL || by_disp == NULL) {
        rpc_fail(call, OD__STATUS__INTERNAL, "out of memory");
        goto done;
    }
    for (int i = 0; i < n; i++) {
        od__count_entry__init(&entries[i]);
        entries[i].key = PQgetvalue(counts, i, 1);
        entries[i].count = strtoll(PQgetvalue(counts, i, 2), NULL, 10);
        if (PQgetvalue(counts, i, 0)[0] == 's')
            by_status[r.n_by_status++] = &entries[i];
        else
            by_disp[r.n_by_disposition++] = &entries[i];
    }
    r.by_status = by_status;
    r.by_disposition = by_disp;
done:
    closure(call->status == OD__STATUS__OK ? &r : NULL, call);
    PQclear(camp);
    PQclear(counts);
    free(entries);
    free(by_status);
    free(by_disp);
}

Od__Campaigns_Service campaign_campaigns_service = OD__CAMPAIGNS__INIT(campaigns_);
