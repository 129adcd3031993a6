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
 * contacts_json_bulk_free (heap memory only: a request contacts_scan_bulk filled lives in the
 * arena and is never passed here; contacts_scan.h). */
int contacts_json_bulk_request(const json_t *body, Od__BulkUpsertRequest *out, char *err,
                               size_t err_size);
void contacts_json_bulk_free(Od__BulkUpsertRequest *req);
/* The same, a body wrong as a whole added to p (a 400's details; gateway/body_problems.h). */
struct body_problems;
int contacts_json_bulk_request_problems(const json_t *body, Od__BulkUpsertRequest *out,
                                        struct body_problems *p);

/* Fills one ContactInput from a JSON object; `where` prefixes field names in messages.
 * name, phoneNumber (aliases phone_number, phone; two of them is a problem), language, and
 * metadata: the "metadata" object with every other key of the row under it (its keys win),
 * as imports map rows.
 * Returns 0, or -1 with reason filled (nothing left allocated). metadata_json is malloc'd
 * when set (else protobuf_c_empty_string). */
int contacts_json_input(const json_t *obj, const char *where, Od__ContactInput *in,
                        char *reason, size_t reason_size);

/* The same mapping, every problem added to p (a 400's details). */
struct body_problems;
int contacts_json_input_problems(const json_t *obj, const char *where, Od__ContactInput *in,
                                 struct body_problems *p);

/* PATCH /v1/contacts/:id: name, phoneNumber (or phone_number, phone), language, metadata
 * (merged); null clears name or language. Any other key is a problem naming it (a PATCH that
 * would change nothing is never a silent 200). Strings point into body; metadata_json, when
 * set_metadata, is jansson's text (free with arena_json_free). 0, or -1 with problems. */
int contacts_json_update(const json_t *body, Od__UpdateContactRequest *in,
                         struct body_problems *p);

/* The bulk response text, {"created", "updated", "failed", "contacts": [{id, name,
 * phoneNumber}], "errors": [{index, phoneNumber, reason}]}, written directly (10,000 rows
 * through jansson cost ~20 ms). Caller frees; NULL if out of memory. */
char *contacts_json_bulk_reply(const Od__BulkUpsertReply *reply, size_t *len);

/* The contact as the API shows it. New reference. */
json_t *contacts_json_contact(const Od__Contact *c);

#endif
