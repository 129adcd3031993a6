/* Set-based contact upserts (bulk.c): the BulkUpsert RPC of the Contacts service, and the
 * write path it shares with the import workers (import_worker.c). */
#ifndef CONTACTS_SVC_BULK_H
#define CONTACTS_SVC_BULK_H

#include <stddef.h>

#include "contacts.pb-c.h"
#include "ids.h"

#define CONTACTS_BULK_MAX 10000
/* Bulk upserts merge metadata into what is stored; the table's contacts_metadata_size check
 * (migration 005) bounds the result's jsonb size. */
#define CONTACTS_STORED_METADATA_MAX 32768

struct db;

/* One phone number to write. */
struct contacts_row {
    int index; /* position in the request or import */
    const Od__ContactInput *in;
    char id[IDS_MAX_LEN]; /* the contact's id: new, or the stored one once written */
    int exists;           /* set by contacts_rows_write: the organization had this number */
};

/* Sorts rows by phone number (then index), keeps the last row of each number at the front,
 * gives each a new contact id, and returns how many are left. */
size_t contacts_rows_distinct(struct contacts_row *rows, size_t n);
/* Upserts distinct rows (as contacts_rows_distinct left them) inside the caller's transaction:
 * new numbers by COPY, known ones updated (name/language kept when absent, metadata merged),
 * falling back under a savepoint to one INSERT ... ON CONFLICT if a concurrent writer added
 * one of the numbers meanwhile (lib/db_copy_merge.h). Fills id and exists. 0 on success, -1
 * on failure; then contacts_rows_sqlstate() is the failing statement's SQLSTATE ("" if none),
 * for the calling thread. */
int contacts_rows_write(struct db *db, const char *org_id, struct contacts_row *rows, size_t n);
const char *contacts_rows_sqlstate(void);

/* The BulkUpsert handler (listed in contacts_service, contacts.c). */
void contacts_bulk_upsert(Od__Contacts_Service *service, const Od__BulkUpsertRequest *in,
                          Od__BulkUpsertReply_Closure closure, void *closure_data);

#endif
