/* JSON <-> protobuf for campaigns, in both dialects (pure functions, unit-tested in
 * tests/unit/test_campaigns_json.c).
 *
 * Dialects: CAMPAIGNS_V1 is /v1/campaigns, the OliAI object (camelCase, upper-case statuses)
 * that also takes OutboundCalls.ai's snake_case create fields and OsmTalk's richer settings;
 * CAMPAIGNS_OSMTALK is /api/campaigns (agentId, maxConcurrent, scheduledStartAt, lower-case
 * statuses). Both map onto one od.CampaignInput; the status words of both live in one table
 * here (campaigns_status_*).
 *
 * The mapping table (docs/campaigns-api.md has it with the dialect notes):
 *   name                                          -> name
 *   flowId | agentId | agent_id                   -> flow_id
 *   agentVersion | agent_version                  -> agent_version (null: the current one)
 *   audienceId | contact_list_id | audience_id    -> audience_id
 *   phoneNumberId | phone_number_id               -> phone_number_id
 *   callsPerMinute | calls_per_minute             -> calls_per_minute
 *   maxConcurrentCalls | maxConcurrent | concurrent_calls | max_concurrent_calls
 *                                                 -> max_concurrent_calls
 *   maxRetries | max_retries                      -> max_retries
 *   retryPolicy.maxAttempts | retry_rules.max_attempts (N) -> max_retries = N - 1
 *   retryDelayMinutes | retryPolicy.backoffMinutes | retry_rules.delay_minutes
 *                                                 -> retry_delay_minutes
 *   retryPolicy.retryOn                           -> retry_on
 *   callTimeoutMinutes                            -> call_timeout_minutes
 *   scheduledAt | scheduledStartAt                -> scheduled_at
 *   timezone | schedule.timezone                  -> timezone
 *   schedule.start_date                           -> start_date
 *   schedule.windowStart/windowEnd | schedule.calling_hours.start/end -> window_start/end
 *   schedule.weekdays                             -> weekdays (ISO 1 = Monday .. 7)
 *   webhookUrl | webhook_url                      -> webhook_url
 *   respectContactLocalTime                       -> respect_contact_local_time
 * Two keys that set the same field are a problem ("maxRetries and retryPolicy.maxAttempts
 * both set ..."); a key outside the table is a problem naming it, on create and on update.
 * Every given field sets its set_* flag, on Create too, so the service can tell "absent
 * (default)" from "0".
 *
 * Ownership: strings in the input point into the borrowed body; the repeated fields point into
 * struct campaigns_input itself (no allocation). Functions returning json_t* return a new
 * reference. */
#ifndef GATEWAY_CAMPAIGNS_JSON_H
#define GATEWAY_CAMPAIGNS_JSON_H

#include <jansson.h>
#include <stddef.h>

#include "body_problems.h"
#include "campaigns.pb-c.h"

enum campaigns_dialect { CAMPAIGNS_V1 = 0, CAMPAIGNS_OSMTALK = 1 };
enum campaigns_write { CAMPAIGNS_CREATE = 0, CAMPAIGNS_UPDATE = 1 };

#define CAMPAIGNS_RETRY_ON_MAX 8

struct campaigns_input {
    Od__CampaignInput in;
    int32_t weekdays[7];
    char *retry_on[CAMPAIGNS_RETRY_ON_MAX];
};

/* ---- status words, one table ---- */
/* The dialect's word for a canonical campaign / lead status (the canonical word itself when
 * the table does not know it). */
const char *campaigns_status_out(enum campaigns_dialect d, const char *canonical);
const char *campaigns_lead_status_out(enum campaigns_dialect d, const char *canonical);
/* The canonical status for a dialect's word (either dialect's word, any case); NULL when
 * unknown. */
const char *campaigns_status_in(enum campaigns_dialect d, const char *word);
const char *campaigns_lead_status_in(enum campaigns_dialect d, const char *word);
/* "start: DRAFT, SCHEDULED" style lists for messages: the dialect's words, comma-separated. */
void campaigns_status_words(enum campaigns_dialect d, int leads, char *out, size_t size);
/* A service message with every canonical campaign status word replaced by the dialect's word
 * ("campaign is IN_PROGRESS" -> "campaign is running"). */
void campaigns_dialect_message(enum campaigns_dialect d, const char *message, char *out,
                               size_t size);

/* ---- bodies ---- */
/* Fills out from a create (POST) or update (PATCH/PUT) body. Every problem is added to p;
 * returns 0 when there were none. */
int campaigns_json_input(const json_t *body, enum campaigns_dialect d, enum campaigns_write w,
                         struct campaigns_input *out, struct body_problems *p);

/* ---- replies ---- */
/* The campaign object: reference 001's fields (null for empty scheduledAt, timezone,
 * startedAt, completedAt) plus agentVersion, phoneNumberId, schedule, retryPolicy, webhookUrl,
 * respectContactLocalTime, statusReason, updatedAt; the OsmTalk dialect names them agentId,
 * maxConcurrent, scheduledStartAt and uses its status words. */
json_t *campaigns_json_campaign(const Od__Campaign *c, enum campaigns_dialect d);
/* Exactly reference 001's progress fields. */
json_t *campaigns_json_progress(const Od__Progress *p, enum campaigns_dialect d);
/* {campaign, counts: {byStatus: {WORD: n}, byDisposition: {word: n}}} */
json_t *campaigns_json_report(const Od__Report *r, enum campaigns_dialect d);

#endif
