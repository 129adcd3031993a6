/* The fast path and its safe fallback, for set-based writes inside a caller's transaction.
 *
 * A batch of new rows is cheapest to write by COPY, but COPY fails on the unique key when a
 * concurrent writer added one of the same keys between our check and the COPY. This runs
 * `fast` under a savepoint; when it fails (or declines) with the connection still up, the
 * savepoint is rolled back and `merge` (an INSERT ... ON CONFLICT, safe under any
 * concurrency) runs instead. contacts-svc's BulkUpsert, the import workers and the DNC bulk
 * add share it. */
#ifndef OD_DB_COPY_MERGE_H
#define OD_DB_COPY_MERGE_H

struct db;

struct db_copy_merge {
    const char *savepoint; /* an SQL identifier, spliced into the SAVEPOINT statements */
    /* 1 when it wrote everything, 0 when it declined (the merge must run), -1 on failure
     * (the merge runs when the connection is still up). Runs under the savepoint. */
    int (*fast)(struct db *db, void *arg);
    /* 0 on success, -1 on failure. Runs after the savepoint was rolled back (or released,
     * when fast declined): it must forget whatever fast learned. */
    int (*merge)(struct db *db, void *arg);
};

/* 1 when the fast path wrote the rows, 0 when the merge did, -1 on failure (the caller rolls
 * its transaction back; a lost connection fails at once, since a retry cannot help). */
int db_copy_merge_run(struct db *db, const struct db_copy_merge *how, void *arg);

#endif
