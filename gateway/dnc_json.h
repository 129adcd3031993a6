/* JSON <-> protobuf for the do-not-call API (pure functions, unit-tested in
 * tests/unit/test_dnc_json.c).
 *
 * Ownership: strings placed in requests point into the borrowed `body` (keep it alive), except
 * invalid_reason of bulk rows, which the request owns: free with dnc_json_bulk_free. Functions
 * returning json_t* return a new reference. */
#ifndef GATEWAY_DNC_JSON_H
#define GATEWAY_DNC_JSON_H

#include <jansson.h>
#include <stddef.h>

#include "dnc.pb-c.h"

#define DNC_JSON_BULK_MAX 50000

/* One entry {phoneNumber, reason, source}; `where` prefixes field names ("entries[3]." or "").
 * 0, or -1 with reason filled. */
int dnc_json_input(const json_t *obj, const char *where, Od__DncEntryInput *in, char *reason,
                   size_t reason_size);
/* {"entries": [...]}: a row of the wrong shape becomes a row with invalid_reason set (the
 * service counts it as failed); a body wrong as a whole (no array, empty, over 50,000 rows)
 * returns -1 with err filled and nothing allocated. */
int dnc_json_bulk_request(const json_t *body, Od__BulkAddDncRequest *out, char *err,
                          size_t err_size);
void dnc_json_bulk_free(Od__BulkAddDncRequest *req);

/* The same mappings, every problem added to p (a 400's details; gateway/body_problems.h). */
struct body_problems;
int dnc_json_input_problems(const json_t *obj, const char *where, Od__DncEntryInput *in,
                            struct body_problems *p);
int dnc_json_bulk_request_problems(const json_t *body, Od__BulkAddDncRequest *out,
                                   struct body_problems *p);

/* {id, phoneNumber, reason (null when none), source, createdAt} */
json_t *dnc_json_entry(const Od__DncEntry *e);
/* {inserted, duplicates, failed, errors: [{index, phoneNumber, reason}]} */
json_t *dnc_json_bulk_reply(const Od__BulkAddDncReply *r);

#endif
