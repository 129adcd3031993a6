/* Field rules for contacts and import rows (validate.c), applied by the service: the gateway
 * only checks JSON types. Shared by contacts.c, bulk.c, imports.c and import_worker.c. */
#ifndef CONTACTS_SVC_VALIDATE_H
#define CONTACTS_SVC_VALIDATE_H

#include "contacts.pb-c.h"

#define CONTACTS_NAME_MAX 256       /* bytes */
#define CONTACTS_LANGUAGE_MAX 35    /* BCP 47 tags are short */
/* The one metadata limit: bytes of compact JSON, for a row as sent AND for the object a bulk
 * upsert or an import would store once the row's keys are merged into the stored ones
 * (contacts_rows_refuse_oversized, bulk.c, checks that per row before the write; a row over
 * it fails alone with METADATA_MERGED_REASON). The table's CHECK (migration 005) is only a
 * backstop against writers that skip the check. */
#define CONTACTS_METADATA_MAX 16384
#define CONTACTS_METADATA_MERGED_REASON                                                        \
    "metadata would exceed 16384 bytes of JSON once merged with the stored metadata"
#define IMPORTS_WEBHOOK_URL_MAX 2048 /* bytes */

/* NULL when the row is acceptable, else the reason ("phoneNumber must be ..."). */
const char *contacts_validate_input(const Od__ContactInput *in);

/* 1 if tag looks like a BCP 47 language tag (e.g. "hi-IN", "en", "zh-Hant-TW"). */
int contacts_language_valid(const char *tag);

/* NULL when an import row is acceptable: the contact rules, the same on every route (a name
 * is optional; issue 14). */
const char *imports_validate_row(const Od__ContactInput *in);

/* 1 if url is an http:// or https:// URL with a host, printable ASCII, at most 2,048 bytes. */
int imports_webhook_url_valid(const char *url);

#endif
