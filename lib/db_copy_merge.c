#include "db_copy_merge.h"

#include <stdio.h>

#include "db.h"

static int db_savepoint(struct db *db, const char *verb, const char *name)
{
    char sql[128];
    snprintf(sql, sizeof sql, "%s%s", verb, name);
    return db_command(db, sql, 0, NULL);
}

int db_copy_merge_run(struct db *db, const struct db_copy_merge *how, void *arg)
{
    int fast;
    if (db_savepoint(db, "SAVEPOINT ", how->savepoint) != 0)
        return -1;
    fast = how->fast(db, arg);
    if (fast == 1)
        return db_savepoint(db, "RELEASE SAVEPOINT ", how->savepoint) == 0 ? 1 : -1;
    if (PQstatus(db_conn(db)) != CONNECTION_OK)
        return -1; /* the database is away: retrying now cannot help */
    if (db_savepoint(db, fast == 0 ? "RELEASE SAVEPOINT " : "ROLLBACK TO SAVEPOINT ",
                     how->savepoint) != 0)
        return -1;
    return how->merge(db, arg) == 0 ? 0 : -1;
}
