/* Set-based contact upserts (bulk.c): the BulkUpsert RPC of the Contacts service, and the
 * write path it shares with the import workers (import_worker.c). */
#ifndef CONTACTS_SVC_BULK_H
#define CONTACTS_SVC_BULK_H

#include <stddef.h>

#include "contacts.pb-c.h"
#include "ids.h"

#define CONTACTS_BULK_MAX 10000
/* Bulk upserts merge metadata into what is stored: contacts_rows_refuse_oversized holds the
 * result to CONTACTS_METADATA_MAX (validate.h) per row; the table's contacts_metadata_size
 * check (migration 005, 32 KiB of jsonb) is only a backstop. */

struct db;

/* One phone number to write. */
struct contacts_row {
    int index; /* position in the request or import */
    const Od__ContactInput *in;
    char id[IDS_MAX_LEN]; /* the contact's id: new, or the stored one once written */
    int exists;           /* set by contacts_rows_write: the organization had this number */
    const char *reason;   /* set by contacts_rows_refuse_oversized: why it is not written */
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
/* Inside the caller's transaction, before contacts_rows_write: finds the distinct rows whose
 * metadata, merged into the organization's stored metadata for that number, would exceed
 * CONTACTS_METADATA_MAX (validate.h), and moves them behind the others (both parts keep
 * their order, so both stay sorted by phone), with reason set. *kept is how many rows remain
 * to write, at the front. 0 on success, -1 on a database failure. */
int contacts_rows_refuse_oversized(struct db *db, const char *org_id, struct contacts_row *rows,
                                   size_t n, size_t *kept);
int contacts_rows_write(struct db *db, const char *org_id, struct contacts_row *rows, size_t n);
const char *contacts_rows_sqlstate(void);

/* The BulkUpsert handler (listed in contacts_service, contacts.c). */
void contacts_bulk_upsert(Od__Contacts_Service *service, const Od__BulkUpsertRequest *in,
                          Od__BulkUpsertReply_Closure closure, void *closure_data);

#endif
