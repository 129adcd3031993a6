/* JSON <-> protobuf for the contacts API. Kept apart from the handlers so the fuzz target
 * (tests/fuzz/fuzz_bulk_contacts.c) exercises exactly what the gateway runs. */
#ifndef GATEWAY_CONTACTS_JSON_H
#define GATEWAY_CONTACTS_JSON_H

#include <jansson.h>
#include <stddef.h>

#include "contacts.pb-c.h"

#define CONTACTS_JSON_BULK_MAX 10000

/* Maps {"contacts": [...]} to a BulkUpsertRequest. A row of the wrong shape becomes a row
 * with invalid_reason set (the service counts it as failed); a body that is wrong as a whole
 * (no array, too many rows) returns -1 with err filled and nothing allocated.
 * On success the request's strings point into `body` (borrowed; keep it alive) except
 * metadata_json and invalid_reason, which the request owns: free with
 * contacts_json_bulk_free. */
int contacts_json_bulk_request(const json_t *body, Od__BulkUpsertRequest *out, char *err,
                               size_t err_size);
void contacts_json_bulk_free(Od__BulkUpsertRequest *req);

/* Fills one ContactInput from a JSON object; `where` prefixes field names in messages.
 * Returns 0, or -1 with reason filled (nothing left allocated). metadata_json is malloc'd
 * when set (else protobuf_c_empty_string). */
int contacts_json_input(const json_t *obj, const char *where, Od__ContactInput *in,
                        char *reason, size_t reason_size);

/* The bulk response text, {"created", "updated", "failed", "contacts": [{id, name,
 * phoneNumber}], "errors": [{index, phoneNumber, reason}]}, written directly (10,000 rows
 * through jansson cost ~20 ms). Caller frees; NULL if out of memory. */
char *contacts_json_bulk_reply(const Od__BulkUpsertReply *reply, size_t *len);

/* The contact as the API shows it. New reference. */
json_t *contacts_json_contact(const Od__Contact *c);

#endif
