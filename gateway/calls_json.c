/* JSON shapes of call records. Empty strings from the RPC are JSON null. */
#include "calls_json.h"

#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "json_util.h"

static json_t *calls_text(const char *s)
{
    return s != NULL && s[0] != '\0' ? json_string(s) : json_null();
}

json_t *calls_json_campaign_call(const Od__Call *c)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(c->id));
    json_object_set_new(o, "callSid", calls_text(c->call_sid));
    json_object_set_new(o, "contactId", calls_text(c->contact_id));
    json_object_set_new(o, "contactName", calls_text(c->contact_name));
    json_object_set_new(o, "phoneNumber", json_string(c->phone_number));
    json_object_set_new(o, "status", json_string(c->status));
    json_object_set_new(o, "duration", json_integer(c->duration_seconds));
    json_object_set_new(o, "attempts", json_integer(c->attempt));
    json_object_set_new(o, "startedAt", calls_text(c->started_at));
    json_object_set_new(o, "completedAt", calls_text(c->completed_at));
    return o;
}

json_t *calls_json_call(const Od__Call *c, bool with_transcript)
{
    json_t *o = calls_json_campaign_call(c);
    json_t *vars = c->variables_json && c->variables_json[0]
                       ? json_loads(c->variables_json, 0, NULL)
                       : NULL;
    json_object_set_new(o, "campaignId", json_string(c->campaign_id));
    json_object_set_new(o, "leadId", json_string(c->lead_id));
    json_object_set_new(o, "attempt", json_integer(c->attempt));
    json_object_set_new(o, "from", calls_text(c->from_number));
    json_object_set_new(o, "outcome", calls_text(c->outcome));
    json_object_set_new(o, "answeredBy", calls_text(c->answered_by));
    json_object_set_new(o, "disposition", calls_text(c->disposition));
    json_object_set_new(o, "summary", calls_text(c->summary));
    json_object_set_new(o, "recordingUrl", calls_text(c->recording_url));
    json_object_set_new(o, "variables", json_is_object(vars) ? json_incref(vars) : json_object());
    json_decref(vars);
    if (with_transcript)
        json_object_set_new(o, "transcript", calls_text(c->transcript));
    json_object_set_new(o, "answeredAt", calls_text(c->answered_at));
    json_object_set_new(o, "createdAt", json_string(c->created_at));
    json_object_set_new(o, "organizationId", json_string(c->organization_id));
    return o;
}

json_t *calls_json_transcript(const Od__Call *c)
{
    return json_pack("{s:s, s:o, s:o, s:o}", "id", c->id, "transcript", calls_text(c->transcript),
                     "summary", calls_text(c->summary), "disposition",
                     calls_text(c->disposition));
}

int calls_json_outcome(const json_t *body, Od__CallOutcomeRequest *in, char *err,
                       size_t err_size)
{
    const char *disposition = "", *transcript = "", *summary = "", *recording = "";
    char *vars = NULL;

    od__call_outcome_request__init(in);
    if (json_field_string(body, "", "disposition", 200, &disposition, err, err_size) ==
            JSON_FIELD_BAD ||
        json_field_string(body, "", "transcript", 1024 * 1024, &transcript, err, err_size) ==
            JSON_FIELD_BAD ||
        json_field_string(body, "", "summary", 20000, &summary, err, err_size) == JSON_FIELD_BAD ||
        json_field_string(body, "", "recordingUrl", 2048, &recording, err, err_size) ==
            JSON_FIELD_BAD ||
        json_field_object_text(body, "", "variables", 65536, &vars, err, err_size) ==
            JSON_FIELD_BAD)
        return -1;
    /* OutboundCalls.ai spelling */
    if (recording[0] == '\0' &&
        json_field_string(body, "", "recording_url", 2048, &recording, err, err_size) ==
            JSON_FIELD_BAD) {
        arena_json_free(vars);
        return -1;
    }
    in->disposition = (char *)(disposition ? disposition : "");
    in->transcript = (char *)(transcript ? transcript : "");
    in->summary = (char *)(summary ? summary : "");
    in->recording_url = (char *)(recording ? recording : "");
    in->variables_json = vars != NULL ? vars : (char *)"";
    return 0;
}

void calls_json_outcome_free(Od__CallOutcomeRequest *in)
{
    if (in->variables_json != NULL && in->variables_json[0] != '\0')
        arena_json_free(in->variables_json);
    in->variables_json = (char *)"";
}
