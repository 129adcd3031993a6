/* Names shared across processes, defined once: id prefixes, status words and event types.
 * The canonical status words are those of the /v1 API; dialects map them in the gateway. */
#ifndef OD_NAMES_H
#define OD_NAMES_H

/* ---- id prefixes ---- */
#define ID_PREFIX_ORG "org_"
#define ID_PREFIX_CONTACT "cid_"
#define ID_PREFIX_AUDIENCE "aud_"
#define ID_PREFIX_IMPORT "imp_"
#define ID_PREFIX_DNC "dnc_"
#define ID_PREFIX_WEBHOOK "wh_"
#define ID_PREFIX_WEBHOOK_DELIVERY "whd_"
#define ID_PREFIX_EVENT "evt_"
#define ID_PREFIX_AGENT "agent_" /* also reached as a flow: GET /v1/flows/:id */
#define ID_PREFIX_PHONE_NUMBER "pn_"
#define ID_PREFIX_CAMPAIGN "camp_"
#define ID_PREFIX_LEAD "lead_"
#define ID_PREFIX_CALL "call_"
#define ID_PREFIX_CREDIT "cred_"

/* ---- campaign statuses ---- */
#define CAMPAIGN_DRAFT "DRAFT"
#define CAMPAIGN_SCHEDULED "SCHEDULED"
#define CAMPAIGN_IN_PROGRESS "IN_PROGRESS"
#define CAMPAIGN_PAUSED "PAUSED"
#define CAMPAIGN_COMPLETED "COMPLETED"
#define CAMPAIGN_CANCELLED "CANCELLED"
#define CAMPAIGN_FAILED "FAILED"

/* ---- lead statuses ---- */
#define LEAD_PENDING "PENDING"
#define LEAD_QUEUED "QUEUED"
#define LEAD_IN_PROGRESS "IN_PROGRESS"
#define LEAD_COMPLETED "COMPLETED"
#define LEAD_FAILED "FAILED"
#define LEAD_SKIPPED "SKIPPED"
#define LEAD_CANCELLED "CANCELLED"

/* ---- attempt outcomes (AttemptFinished.outcome, lead.last_outcome, retryOn words) ---- */
#define OUTCOME_COMPLETED "completed"
#define OUTCOME_VOICEMAIL "voicemail"
#define OUTCOME_BUSY "busy"
#define OUTCOME_NO_ANSWER "no_answer"
#define OUTCOME_FAILED "failed"
#define OUTCOME_TIMEOUT "timeout"
#define OUTCOME_CANCELED "canceled"
#define OUTCOME_DNC "dnc"
#define OUTCOME_CARRIER_ERROR "carrier_error"

/* ---- call statuses (dialer.calls.status) ---- */
#define CALL_QUEUED "QUEUED"
#define CALL_INITIATED "INITIATED"
#define CALL_RINGING "RINGING"
#define CALL_IN_PROGRESS "IN_PROGRESS"
#define CALL_COMPLETED "COMPLETED"
#define CALL_BUSY "BUSY"
#define CALL_NO_ANSWER "NO_ANSWER"
#define CALL_FAILED "FAILED"
#define CALL_CANCELED "CANCELED"
#define CALL_TIMED_OUT "TIMED_OUT"
#define CALL_VOICEMAIL "VOICEMAIL"

/* ---- event types ---- */
#define EVENT_IMPORT_COMPLETED "import.completed"
#define EVENT_CALL_STARTED "call.started"
#define EVENT_CALL_COMPLETED "call.completed"
#define EVENT_CALL_FAILED "call.failed"
#define EVENT_CAMPAIGN_STARTED "campaign.started"
#define EVENT_CAMPAIGN_PAUSED "campaign.paused"
#define EVENT_CAMPAIGN_RESUMED "campaign.resumed"
#define EVENT_CAMPAIGN_CANCELLED "campaign.cancelled"
#define EVENT_CAMPAIGN_COMPLETED "campaign.completed"
#define EVENT_CAMPAIGN_FAILED "campaign.failed"
#define EVENT_CAMPAIGN_LEAD_COMPLETED "campaign.lead_completed"
#define EVENT_CONTACT_UPDATED "contact.updated"
#define EVENT_CREDITS_LOW "credits.low"
#define EVENT_WEBHOOK_TEST "webhook.test"

#endif
