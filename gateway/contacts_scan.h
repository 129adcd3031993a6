/* A one-pass reader for the two bodies that carry up to 10,000 contacts, POST
 * /v1/contacts/bulk and POST /v1/imports/api/bulk: JSON text straight to protobuf rows in the
 * request's arena, without a jansson tree.
 *
 * Why: on a 10,000-row call jansson was two thirds of the gateway's CPU (~16 ms of ~25 ms:
 * ~100,000 nodes, a hash table per row, then every metadata object dumped back to text).
 *
 * It reads a strict subset of JSON and maps it to exactly the rows the jansson path
 * (contacts_json_bulk_request, imports_json_submit) would produce. Anything outside the subset
 * is CONTACTS_SCAN_FALLBACK, and the caller takes the jansson path, which also words every
 * error. Outside the subset: malformed JSON; escapes in keys and in the fields mapped to
 * strings; \u escapes anywhere; numbers with an exponent or more than 15 digits; nesting deeper
 * than 16; objects with more than 64 keys; an empty or over-long contacts array; a row that is
 * not an object or has a field of the wrong type; strings and metadata near their size limits;
 * and, in an import row, a key given both at the top level and inside "metadata".
 *
 * Metadata is the row's own JSON text without insignificant whitespace (jansson's dump printed
 * 0.1 as 0.10000000000000001; this keeps what the customer sent). tests/fuzz/fuzz_bulk_contacts.c
 * and fuzz_imports_json.c check that the two paths agree on every body. */
#ifndef GATEWAY_CONTACTS_SCAN_H
#define GATEWAY_CONTACTS_SCAN_H

#include <stddef.h>

#include "contacts.pb-c.h"
#include "imports.pb-c.h"

enum contacts_scan_result {
    CONTACTS_SCAN_OK = 0,
    CONTACTS_SCAN_FALLBACK = 1, /* outside the subset (or no arena, or out of memory) */
};

/* Ownership, decided by the caller through the path it takes: a request these readers fill
 * (CONTACTS_SCAN_OK) is allocated from the calling thread's current arena (lib/arena.h;
 * FALLBACK without one) and dies with it: the caller frees nothing (never
 * contacts_json_bulk_free or imports_json_submit_free, which free heap memory). A request the
 * jansson mappers fill (contacts_json_bulk_request, imports_json_submit) is heap memory the
 * caller frees with those functions.
 *
 * {"contacts": [...]} -> out. `out` is zeroed on FALLBACK. */
enum contacts_scan_result contacts_scan_bulk(const char *body, size_t len,
                                             Od__BulkUpsertRequest *out);

/* {"contacts": [...], "audienceId"?, "webhookUrl"?} -> out, the same way (arena-owned). */
enum contacts_scan_result contacts_scan_import(const char *body, size_t len,
                                               Od__SubmitImportRequest *out);

#endif
