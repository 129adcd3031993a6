/* contacts-svc's internal surface: the Contacts RPC service and its validation rules. */
#ifndef CONTACTS_SVC_CONTACTS_H
#define CONTACTS_SVC_CONTACTS_H

#include "contacts.pb-c.h"
#include "migrate.h"

#define CONTACTS_BULK_MAX 10000
#define CONTACTS_NAME_MAX 256      /* bytes */
#define CONTACTS_LANGUAGE_MAX 35   /* BCP 47 tags are short */
#define CONTACTS_METADATA_MAX 16384 /* bytes of compact JSON */
#define CONTACTS_SEARCH_MAX 100

extern Od__Contacts_Service contacts_service;
extern const struct migration contacts_migrations[];

/* NULL when the row is acceptable, else the reason ("phoneNumber must be ..."). */
const char *contacts_validate_input(const Od__ContactInput *in);

/* 1 if tag looks like a BCP 47 language tag (e.g. "hi-IN", "en", "zh-Hant-TW"). */
int contacts_language_valid(const char *tag);

/* Shared by the handler files (contacts.c, bulk.c). */
struct rpc_call;
typedef struct pg_result PGresult;
/* Fails the call for a failed statement: the database being away is UNAVAILABLE. */
void contacts_fail_sql(struct rpc_call *call, PGresult *res, const char *what);
/* Fails the call (INVALID) unless it carries an organization; -1 then. */
int contacts_require_org(struct rpc_call *call);
/* NULL for NULL or "", else s: "" in a message means "not given", which SQL spells NULL. */
const char *nullable(const char *s);

void contacts_bulk_upsert(Od__Contacts_Service *service, const Od__BulkUpsertRequest *in,
                          Od__BulkUpsertReply_Closure closure, void *closure_data);

#endif
