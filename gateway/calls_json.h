/* Call records as JSON: the campaign's call list of reference 001 and the /v1/calls shapes. */
#ifndef GATEWAY_CALLS_JSON_H
#define GATEWAY_CALLS_JSON_H

#include <jansson.h>
#include <stdbool.h>

#include "dialer.pb-c.h"

/* GET /v1/campaigns/:id/calls: exactly id, callSid, contactId, contactName, phoneNumber,
 * status, duration, attempts, startedAt, completedAt (reference 001). New reference. */
json_t *calls_json_campaign_call(const Od__Call *c);
/* GET /v1/calls and /v1/calls/:id (with_transcript: the transcript too). New reference. */
json_t *calls_json_call(const Od__Call *c, bool with_transcript);
/* GET /v1/calls/:id/transcript: {id, transcript, summary, disposition}. New reference. */
json_t *calls_json_transcript(const Od__Call *c);

/* POST /v1/calls/:id/outcome body: disposition, transcript, summary, recordingUrl (strings)
 * and variables (an object). Fills in (its strings point into body, variables_json is
 * malloc'd: free it with calls_json_outcome_free). -1 with err filled when malformed. */
int calls_json_outcome(const json_t *body, Od__CallOutcomeRequest *in, char *err,
                       size_t err_size);
void calls_json_outcome_free(Od__CallOutcomeRequest *in);

#endif
