/* contacts-svc's internal surface: the Contacts RPC service and its validation rules. */
#ifndef CONTACTS_SVC_CONTACTS_H
#define CONTACTS_SVC_CONTACTS_H

#include "contacts.pb-c.h"
#include "db.h"
#include "ids.h"
#include "migrate.h"

#define CONTACT_ID_PREFIX "cid_"
#define CONTACTS_BULK_MAX 10000
#define CONTACTS_GET_MANY_MAX 64 /* ids per GetMany */
#define CONTACTS_NAME_MAX 256      /* bytes */
#define CONTACTS_LANGUAGE_MAX 35   /* BCP 47 tags are short */
#define CONTACTS_METADATA_MAX 16384 /* bytes of compact JSON, per request */
/* Bulk upserts merge metadata into what is stored; the table's contacts_metadata_size check
 * (migration 005) bounds the result's jsonb size. */
#define CONTACTS_STORED_METADATA_MAX 32768
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

/* ---- set-based upserts (bulk.c), shared by BulkUpsert and the import workers ---- */

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
 * one of the numbers meanwhile. Fills id and exists. 0 on success, -1 on failure; then
 * contacts_rows_sqlstate() is the failing statement's SQLSTATE ("" if none). */
int contacts_rows_write(struct db *db, const char *org_id, struct contacts_row *rows, size_t n);
const char *contacts_rows_sqlstate(void);

void contacts_bulk_upsert(Od__Contacts_Service *service, const Od__BulkUpsertRequest *in,
                          Od__BulkUpsertReply_Closure closure, void *closure_data);

/* Audiences and the do-not-call list (audiences.c, dnc.c), served on the same socket. */
#include "audiences.pb-c.h"
#include "dnc.pb-c.h"

#define AUDIENCES_NAME_MAX 256          /* bytes */
#define AUDIENCES_DESCRIPTION_MAX 2000  /* bytes */
#define AUDIENCES_MEMBERS_MAX 10000     /* contact ids per add/remove call */
#define AUDIENCES_SNAPSHOT_PAGE_MAX 10000 /* ListAudienceMembers page */
#define AUDIENCES_SNAPSHOT_PAGE_BYTES (32 * 1024 * 1024) /* half of RPC_MAX_MESSAGE_BYTES */
#define DNC_BULK_MAX 50000
#define DNC_CHECK_MAX 10000
#define DNC_REASON_MAX 500              /* bytes */
#define DNC_SOURCE_MAX 64               /* bytes */

extern Od__Audiences_Service audiences_service;
extern Od__Dnc_Service dnc_service;


/* paging.c: the search of a list as a LIKE pattern (wildcards escaped); caller frees. */
char *contacts_svc_like_pattern(const char *search);
/* Checks page/limit/search and runs a list's count and page queries, which take ($1 org id,
 * $2 LIKE pattern or NULL, $3 limit, $4 offset; the count only $1 and $2). 0 with both
 * results (the caller PQclear()s them), or -1 with the call failed (results may be set). */
int contacts_list_page(struct rpc_call *call, const char *what, const char *count_sql,
                       const char *rows_sql, int page, int limit, const char *search,
                       PGresult **count, PGresult **rows);

#endif

/* Asynchronous imports (imports.c: the Imports RPC service; import_worker.c: the threads that
 * process them). */
#include "imports.pb-c.h"

#define IMPORTS_MAX 10000              /* rows per import */
#define IMPORTS_WEBHOOK_URL_MAX 2048   /* bytes */
#define IMPORTS_ERRORS_PAGE_MAX 1000   /* ListErrors page */

extern Od__Imports_Service imports_service;

/* 1 if url is an http:// or https:// URL with a host, printable ASCII, at most 2,048 bytes. */
int imports_webhook_url_valid(const char *url);
/* NULL when an import row is acceptable (the contact rules, and a name is required). */
const char *imports_validate_row(const Od__ContactInput *in);

struct db;
struct import_worker_options {
    const char *database_url; /* each thread opens its own connection */
    int threads;              /* IMPORT_WORKERS; 0 runs none (another replica does the work) */
    int chunk_rows;           /* IMPORT_CHUNK_ROWS: rows per transaction */
    int chunk_delay_ms;       /* IMPORT_CHUNK_DELAY_MS: pause after each chunk (tests only) */
    int poll_ms;              /* IMPORT_POLL_MS: look for work submitted elsewhere */
    /* Called on the worker thread after a commit that wrote an outbox event (an import
     * ended), so the relay hands it on now rather than at its next poll. May be NULL. */
    void (*on_event)(void *arg);
    void *on_event_arg;
};
struct import_workers;
struct import_workers *import_workers_start(const struct import_worker_options *options);
/* Lets each thread finish its current chunk, joins them, frees. NULL is fine. */
void import_workers_stop(struct import_workers *workers);
/* Wakes idle workers of this process (after a submit). Safe with none running. */
void import_workers_notify(void);
/* Processes one chunk of the oldest open import no other worker holds, in one transaction:
 * 2 when that chunk ended the import (its import.completed event is committed), 1 when it
 * made progress, 0 when there was nothing to do, -1 on failure (rolled back). */
int import_run_chunk(struct db *db, int chunk_rows);
