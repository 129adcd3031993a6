/* Lead uploads (reference 003, POST /api/campaigns/{id}/leads and /v1/campaigns/:id/leads) and
 * leads as JSON. Pure functions, unit-tested in tests/unit/test_campaigns_json.c.
 *
 * Three bodies: text/csv; JSON {"leads": [{phoneNumber, name?, variables?}, ...]};
 * JSON {"csv": "..."}. CSV goes through lib/csv.h, the parser contacts imports use: a header
 * row, a phone column (phone, phoneNumber, phone_number, number; case, spaces, '_' and '-'
 * ignored), an optional name column (else first_name + last_name make the name); every column
 * but the phone and name columns is a variable named by its header (first_name included, as
 * the reference's JSON example carries it). In a JSON lead, phone_number and phone are
 * aliases, and keys other than phoneNumber, name and variables are variables too ("variables"
 * wins). A row that cannot be mapped becomes a LeadInput with invalid_reason set, so the
 * service reports it with its index among the others; a body that is wrong as a whole is -1
 * with err filled.
 *
 * Ownership: every string in a struct leads_upload is malloc'd and owned by it (or is
 * protobuf_c_empty_string); leads_upload_free releases all of it and is safe on a zeroed or
 * failed upload. */
#ifndef GATEWAY_LEADS_JSON_H
#define GATEWAY_LEADS_JSON_H

#include <jansson.h>
#include <stddef.h>

#include "campaigns.pb-c.h"
#include "campaigns_json.h"

#define LEADS_UPLOAD_MAX 10000

struct leads_upload {
    Od__UploadLeadsRequest req; /* campaign_id is left for the caller */
    Od__LeadInput *rows;
    Od__LeadInput **row_ptrs;
    size_t *lines;              /* CSV: the line each row starts on; NULL for JSON leads */
};

int leads_csv_upload(const char *data, size_t len, struct leads_upload *out, char *err,
                     size_t err_size);
/* {"leads": [...]} or {"csv": "..."} */
int leads_json_upload(const json_t *body, struct leads_upload *out, char *err,
                      size_t err_size);
void leads_upload_free(struct leads_upload *u);

/* {inserted, csvErrors: [{index, line?, phoneNumber, reason}]} */
json_t *leads_json_upload_reply(const Od__UploadLeadsReply *r, const struct leads_upload *u);
/* {id, campaignId, contactId, phoneNumber, name, variables, status, attempts, nextAttemptAt,
 * lastOutcome, disposition, callId, createdAt, updatedAt}; status in the dialect's words. */
json_t *leads_json_lead(const Od__Lead *l, enum campaigns_dialect d);

#endif
