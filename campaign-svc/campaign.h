/* campaign-svc's internal surface: the service state, the RPC services each file implements,
 * and the helpers the files share (campaign rows, lifecycle, credits, calling windows, the
 * retry policy).
 *
 * Memory rule for every handler: reply strings point into the request or into PGresults that
 * are cleared only after the closure has run (the closure packs the reply). */
#ifndef CAMPAIGN_SVC_H
#define CAMPAIGN_SVC_H

#include <libpq-fe.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "campaigns.pb-c.h"
#include "migrate.h"
#include "rpc.h"

struct db;
struct service_runtime;
struct tz_zone;

/* ---------------- service state ---------------- */

struct campaign_app {
    struct service_runtime *rt;       /* to wake the outbox relay after a commit with events */
    struct rpc_client *contacts;      /* contacts-svc (od.Audiences, od.Dnc); thread-safe */
    int64_t credits_low_threshold;    /* CREDITS_LOW_THRESHOLD, minutes */
    bool purchase_enabled;            /* CREDITS_PURCHASE_ENABLED */
    int contacts_timeout_ms;          /* CONTACTS_SVC_TIMEOUT_MS */
    /* Claim's step 1 (expired leases) runs when time_monotonic_ms() reaches this, in one
     * claim, which moves it CLAIM_RECLAIM_EVERY_MS on (dialing.c). */
    _Atomic int64_t reclaim_due_ms;
};

extern const struct migration campaign_migrations[];
extern Od__Agents_Service campaign_agents_service;
extern Od__PhoneNumbers_Service campaign_phone_numbers_service;
extern Od__Campaigns_Service campaign_campaigns_service;
extern Od__Leads_Service campaign_leads_service;
extern Od__Dialing_Service campaign_dialing_service;
extern Od__Credits_Service campaign_credits_service;

/* Wakes the outbox relay (no-op without a runtime, as in unit tests). */
void campaign_wake_outbox(struct campaign_app *app);

/* ---------------- limits ---------------- */

#define CAMPAIGN_NAME_MAX 256
#define CAMPAIGN_URL_MAX 2048
#define CAMPAIGN_TEXT_MAX 20000          /* prompt, first message */
#define CAMPAIGN_UPLOAD_MAX 10000
#define CAMPAIGN_SNAPSHOT_PAGE 10000
/* The snapshot's first page is small: nothing is written until it arrives (a 10,000-member
 * page took ~35 ms, all of it before the COPY could begin); the pages after it are fetched
 * while the one before is written. */
#define CAMPAIGN_SNAPSHOT_FIRST_PAGE 1000
#define CAMPAIGN_LEASE_DEFAULT 60
#define CAMPAIGN_LEASE_MAX 86400
#define CAMPAIGN_CLAIM_MAX 1000

/* ---------------- campaign rows (campaigns.c) ---------------- */

/* The columns every campaign read returns, from table alias c, in enum campaign_col order. */
/* SQL, true when campaign (ORG, CAMP) has no open lead: none PENDING, none in flight. The PENDING
 * probe is ordered by next_attempt_at so that it runs on leads_due and stops at the first live
 * entry; written as a plain EXISTS, the planner took leads_campaign (status was in its INCLUDE,
 * as it is in leads_contact's since migration 004) and walked every lead of the campaign on
 * each call (measured: 1.3 ms at 5,000 leads, against 0.02 ms this way). The in-flight probe
 * runs on leads_in_flight. */
#define SQL_NO_OPEN_LEAD(ORG, CAMP)                                                            \
    "((SELECT l.next_attempt_at FROM campaign.leads l WHERE l.org_id = " ORG                  \
    "   AND l.campaign_id = " CAMP " AND l.status = 'PENDING'"                                 \
    "   ORDER BY l.next_attempt_at LIMIT 1) IS NULL"                                           \
    " AND NOT EXISTS (SELECT 1 FROM campaign.leads l WHERE l.org_id = " ORG                   \
    "   AND l.campaign_id = " CAMP " AND l.status IN ('QUEUED', 'IN_PROGRESS')))"

/* Claim's step 3 for one campaign (dialing.c); exported for the test that checks its plan. */
extern const char dialing_take_sql[];
/* A page of the lead list (leads.c); exported for the test that checks its plan. */
extern const char leads_list_sql[];

#define CAMPAIGN_ISO(col)                                                                      \
    "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
#define CAMPAIGN_COLUMNS                                                                       \
    "c.id, c.name, c.status, c.agent_id, c.agent_version, coalesce(c.audience_id, ''),"      \
    " coalesce(c.phone_number_id, ''), c.calls_per_minute, c.max_concurrent_calls,"          \
    " c.max_retries, c.retry_delay_minutes, c.call_timeout_minutes,"                         \
    " coalesce(" CAMPAIGN_ISO("c.scheduled_at") ", ''), coalesce(c.timezone, ''),"           \
    " coalesce(c.window_start, ''), coalesce(c.window_end, ''),"                             \
    " array_to_string(c.weekdays, ','), array_to_string(c.retry_on, ','),"                   \
    " coalesce(c.webhook_url, ''), c.respect_contact_local_time, coalesce(c.status_reason, ''),"\
    " c.org_id, " CAMPAIGN_ISO("c.created_at") ", " CAMPAIGN_ISO("c.updated_at") ","         \
    " coalesce(" CAMPAIGN_ISO("c.started_at") ", ''),"                                       \
    " coalesce(" CAMPAIGN_ISO("c.completed_at") ", '')"

enum campaign_col {
    CC_ID, CC_NAME, CC_STATUS, CC_AGENT_ID, CC_AGENT_VERSION, CC_AUDIENCE_ID,
    CC_PHONE_NUMBER_ID, CC_CPM, CC_MAX_CONCURRENT, CC_MAX_RETRIES, CC_RETRY_DELAY,
    CC_CALL_TIMEOUT, CC_SCHEDULED_AT, CC_TIMEZONE, CC_WINDOW_START, CC_WINDOW_END,
    CC_WEEKDAYS, CC_RETRY_ON, CC_WEBHOOK_URL, CC_RESPECT_LOCAL, CC_STATUS_REASON, CC_ORG_ID,
    CC_CREATED_AT, CC_UPDATED_AT, CC_STARTED_AT, CC_COMPLETED_AT,
    CC_COUNT
};

#define CAMPAIGN_RETRY_ON_MAX 16

/* A campaign message and the storage its arrays need. Strings point into the PGresult. */
struct campaign_msg {
    Od__Campaign msg;
    int32_t weekdays[7];
    char *retry_on[CAMPAIGN_RETRY_ON_MAX];
    char retry_buf[256];
};

/* Fills m from row `row` of res (first column at `first`, CAMPAIGN_COLUMNS order). */
void campaign_from_row(const PGresult *res, int row, int first, struct campaign_msg *m);

/* The JSON payload of a campaign.* event:
 * {"event":..,"timestamp":..,"campaign":{id,name,status,statusReason,...}}. malloc'd, NULL
 * when out of memory. */
char *campaign_event_payload(const char *event, const Od__Campaign *c);
/* Adds `event` for the campaign in row `row` of res (CAMPAIGN_COLUMNS from column 0) to the
 * outbox, also addressed to the campaign's own webhook URL. Inside an open transaction. */
int campaign_emit_row(struct db *db, const char *event, PGresult *res, int row);

/* ---------------- lifecycle (lifecycle.c) ---------------- */

struct campaign_err {
    Od__Status status;
    char message[RPC_MESSAGE_MAX];
};

/* Applies action ("start", "pause", "resume", "cancel"; "stop" = cancel) to the campaign in
 * its own transaction. On success the campaign's new row is returned (caller PQclears; the
 * columns are CAMPAIGN_COLUMNS). from_scheduler: the scheduler starting a SCHEDULED campaign
 * whose time came (no credits makes it FAILED instead of PAYMENT_REQUIRED; a campaign another
 * replica holds is skipped with NOT_FOUND). */
PGresult *campaign_act(struct campaign_app *app, struct db *db, const char *org_id,
                       const char *id, const char *action, const char *request_id,
                       bool from_scheduler, struct campaign_err *err);

/* Inside an open transaction, with the campaign row locked: when it is IN_PROGRESS, has leads
 * and none is open, marks it COMPLETED and adds campaign.completed to the outbox. 1 when it
 * completed it, 0 when not, -1 on a database error. */
int campaign_complete_if_done(struct db *db, const char *org_id, const char *id);

/* The same from a finish, which holds a lead row and not the campaign's: when no lead looks
 * open, locks the campaign row only if it is free (SKIP LOCKED), then completes it. Waiting
 * for that lock could deadlock against a cancel (campaign row, then leads); a campaign skipped
 * here, or missed because two last finishes committed together and each saw the other's lead
 * open, is completed by the scheduler's sweep (SCHEDULER_POLL_MS). 1, 0 or -1 as above. */
int campaign_complete_if_free(struct db *db, const char *org_id, const char *id);

/* Inside an open transaction: sets status (and reason) of one campaign and adds the event.
 * Used for system-driven changes (credits exhausted, caller ID deleted). 0 or -1. */
int campaign_set_status_event(struct db *db, const char *org_id, const char *id,
                              const char *status, const char *reason, const char *event);

/* ---------------- credits (credits.c) ---------------- */

/* Inside an open transaction: debits minutes for one attempt (idempotent per lead+attempt),
 * emits credits.low once when the balance falls to the threshold, and pauses the
 * organization's running campaigns when it reaches zero. 0 or -1. */
int credits_debit_attempt(struct campaign_app *app, struct db *db, const char *org_id,
                          const char *campaign_id, const char *lead_id, int attempt,
                          int64_t minutes);
/* The organization's balance (0 when it never had credits); -1 on a database error. */
int credits_balance(struct db *db, const char *org_id, int64_t *balance);

/* ---------------- calling windows (window.c) ---------------- */

struct call_window {
    int start_min;       /* minutes after local midnight; -1: no time window */
    int end_min;         /* end (exclusive); end < start crosses midnight */
    unsigned weekdays;   /* bit d set for ISO weekday d (1..7) allowed; 0 = every day */
};

/* "HH:MM" (00:00..23:59, or 24:00 for an end) into minutes; -1 when malformed. */
int window_parse_hhmm(const char *text, bool allow_24);
/* Builds a window from the campaign's settings; -1 with err filled when invalid. */
int window_init(struct call_window *w, const char *start, const char *end,
                const int32_t *weekdays, size_t n_weekdays, char *err, size_t err_size);
/* Whether instant t (Unix seconds) lies inside the window in zone (NULL = UTC). */
bool window_open(const struct call_window *w, const struct tz_zone *zone, int64_t t);
/* The first instant >= t at which the window is open in zone; -1 when it never opens (no
 * allowed weekday) within 8 days. */
int64_t window_next_open(const struct call_window *w, const struct tz_zone *zone, int64_t t);

/* The IANA zone of a number's country when that country has one zone ("+44..." ->
 * "Europe/London"); NULL otherwise (+1 and other multi-zone countries). */
const char *contact_tz_for_number(const char *e164);
/* A contact's zone: metadata "timezone" when it names a known zone, else the country's.
 * metadata_json may be NULL. Returns a pointer to a static string or into the zone cache. */
const char *contact_tz_for(const char *metadata_json, const char *phone);

/* ---------------- retry policy (retry.c) ---------------- */

struct retry_decision {
    const char *lead_status;  /* LEAD_PENDING (retry), LEAD_COMPLETED, LEAD_FAILED, LEAD_SKIPPED */
    bool retry;
    int delay_minutes;        /* when retry */
};

/* 1 when outcome is a known attempt outcome word. */
bool retry_outcome_known(const char *outcome);
/* 1 when word may appear in retryOn. */
bool retry_on_word_valid(const char *word);
/* What a finished attempt means for its lead. attempts counts the attempts made so far (this
 * one included); max_retries is the retries allowed after the first attempt. */
void retry_decide(const char *outcome, int attempts, int max_retries, int retry_delay_minutes,
                  const char *const *retry_on, size_t n_retry_on, struct retry_decision *out);

#endif
