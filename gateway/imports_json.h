/* Import bodies -> protobuf, and imports -> JSON: the surface of three files,
 *   imports_json.c       JSON rows, and the replies
 *   imports_csv.c        CSV bodies (read through csv_columns.h)
 *   imports_multipart.c  multipart/form-data: the uploaded file
 * Kept apart from the handlers so unit tests and the fuzz targets (tests/fuzz/fuzz_csv.c,
 * fuzz_imports_json.c) exercise exactly what the gateway runs.
 *
 * Rows: name, phoneNumber and language map to their fields; every other key becomes a
 * metadata key, and an explicit "metadata" object is merged over them (its keys win).
 * With `aliases` (the OutboundCalls.ai dialect of POST /v1/contacts/import) phone_number and
 * phone are also the phone number, and first_name + last_name make the name when name is
 * absent; those keys never become metadata.
 *
 * Ownership: every string of a request built here is malloc'd and owned by the request (or
 * is protobuf_c_empty_string); free it with the matching *_free function, which is safe on a
 * zeroed or failed request. */
#ifndef GATEWAY_IMPORTS_JSON_H
#define GATEWAY_IMPORTS_JSON_H

#include <jansson.h>
#include <stddef.h>

#include "contacts.pb-c.h"
#include "imports.pb-c.h"

struct body_problems;

#define IMPORTS_JSON_MAX_ROWS 10000
#define IMPORTS_CSV_MAX_COLUMNS 100
/* A row's metadata, as compact JSON text, in bytes (the service applies the real rules). */
#define IMPORTS_METADATA_MAX 65536

/* ---- imports_json.c ---- */

/* One row; a row of the wrong shape returns -1 with reason filled (nothing allocated). */
int imports_json_row(const json_t *obj, const char *where, int aliases, Od__ContactInput *in,
                     char *reason, size_t reason_size);
void imports_json_row_free(Od__ContactInput *in);
/* Fills `in` with copies of the strings (NULL or "" stays empty), for the JSON and the CSV
 * readers. 0, or -1 when out of memory (in left empty). Free with imports_json_row_free. */
int imports_row_fill(Od__ContactInput *in, const char *name, const char *phone,
                     const char *language, const char *metadata);

/* {"contacts": [...], "audienceId"?, "webhookUrl"?} -> SubmitImportRequest. A bad row becomes
 * a row with invalid_reason; a bad body (-1, err filled, nothing allocated) is: no array,
 * an empty one, more than 10,000 rows, or audienceId/webhookUrl not strings. */
int imports_json_submit(const json_t *body, Od__SubmitImportRequest *out, char *err,
                        size_t err_size);
/* Frees what imports_json_submit allocated (heap). Never for a request contacts_scan_import
 * filled: that one lives in the request's arena (contacts_scan.h). */
void imports_json_submit_free(Od__SubmitImportRequest *req);

/* POST /v1/contacts/import with a JSON body: an array of rows, or {"contacts": [...]}
 * (aliases on). -1 with err filled for a bad body. */
int imports_json_contacts(const json_t *body, Od__BulkUpsertRequest *out, char *err,
                          size_t err_size);

/* The same two mappings, every problem of the body added to p (a 400's details;
 * gateway/body_problems.h); the forms above report the first. */
struct body_problems;
int imports_json_submit_problems(const json_t *body, Od__SubmitImportRequest *out,
                                 struct body_problems *p);
int imports_json_contacts_problems(const json_t *body, Od__BulkUpsertRequest *out,
                                   struct body_problems *p);

/* Frees a request built by imports_json_contacts or imports_csv_contacts. */
void imports_bulk_free(Od__BulkUpsertRequest *req);

/* GET /v1/imports/:id/status: {id, status, total, created, updated, failed, errorCount,
 * completedAt}. New reference. */
json_t *imports_json_status(const Od__Import *m);
/* An item of GET /v1/imports: the status fields plus processed, audienceId, webhookUrl,
 * createdAt. New reference. */
json_t *imports_json_item(const Od__Import *m);

/* ---- imports_csv.c ---- */
/* POST /v1/contacts/import with a CSV body (lib/csv.h): a header row, then one contact per
 * record. Header names are matched ignoring case, spaces, '_' and '-': phone / phoneNumber /
 * phone_number, name, first_name / last_name, language; every other column becomes a
 * metadata key named by its header (empty cells are left out). Fully empty records are
 * skipped. A malformed record or one whose field count differs from the header becomes a
 * row with invalid_reason ("line 7: ..."). lines (may be NULL) receives, per row, the line
 * on which it starts (malloc'd; caller frees). -1 with err filled for a bad body: no header,
 * no phone column, duplicate columns, more than IMPORTS_CSV_MAX_COLUMNS columns, no rows,
 * more than 10,000 rows (it stops reading at row 10,001), an unterminated quote. */
int imports_csv_contacts(const char *data, size_t len, Od__BulkUpsertRequest *out,
                         size_t **lines, char *err, size_t err_size);
/* The same; with problems (may be NULL), every problem of the header is added to it (a
 * 400's details: a header without a phone column that also repeats a column lists both). */
int imports_csv_contacts_problems(const char *data, size_t len, Od__BulkUpsertRequest *out,
                                  size_t **lines, struct body_problems *problems, char *err,
                                  size_t err_size);

/* ---- imports_multipart.c ---- */
/* multipart/form-data (RFC 7578): finds the uploaded file in body, the part named "file" or
 * else the first part with a filename. content_type is the request's header value (its
 * boundary parameter is read). On success 0, *file and *file_len point into body, kind is
 * IMPORTS_FILE_CSV or IMPORTS_FILE_JSON, from the part's Content-Type or else the filename's
 * extension (.csv, .json). -1 with err filled otherwise. */
enum imports_file_kind { IMPORTS_FILE_CSV = 1, IMPORTS_FILE_JSON = 2 };
int imports_multipart_file(const char *content_type, const char *body, size_t len,
                           const char **file, size_t *file_len, enum imports_file_kind *kind,
                           char *err, size_t err_size);

#endif
