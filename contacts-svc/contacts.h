/* The Contacts RPC service (contacts.c): create, read, update, delete, GetMany and the paged,
 * searchable list. BulkUpsert, served on the same service, is in bulk.c (bulk.h). */
#ifndef CONTACTS_SVC_CONTACTS_H
#define CONTACTS_SVC_CONTACTS_H

#include <libpq-fe.h>

#include "contacts.pb-c.h"
#include "rpc_util.h"

#define CONTACTS_GET_MANY_MAX 64   /* ids per GetMany */
#define CONTACTS_LIST_LIMIT_MAX 100 /* contacts per List page */

extern Od__Contacts_Service contacts_service;

/* The columns every read of a contact returns, in the order of enum contact_column. t is the
 * table's alias with its dot ("c.") or "". audiences.c reads members with it too. */
#define CONTACT_COLUMNS_OF(t)                                                                  \
    t "id, coalesce(" t "name, ''), " t "phone_number, coalesce(" t "language, ''), "          \
    t "metadata::text, " SQL_ISO_MS(t "created_at") ", " SQL_ISO_MS(t "updated_at")
enum contact_column {
    CONTACT_COL_ID,
    CONTACT_COL_NAME,
    CONTACT_COL_PHONE_NUMBER,
    CONTACT_COL_LANGUAGE,
    CONTACT_COL_METADATA,
    CONTACT_COL_CREATED_AT, /* a read may stop before the timestamps */
    CONTACT_COL_UPDATED_AT,
};

/* Fills an Od__Contact (rpc_row_map_fn): points the message's strings into the result (valid
 * until PQclear(res)); the timestamps are left "" when the result has no such columns. */
void contacts_from_row(const PGresult *res, int row, void *contact);

#endif
