#include "migrate.h"

#include <stdio.h>
#include <string.h>

#include "db.h"
#include "log.h"

/* schema is one of our own constants, never user input, but quote it anyway. */
static int migrate_quote_ident(struct db *db, const char *schema, char *out, size_t size)
{
    char *quoted = PQescapeIdentifier(db_conn(db), schema, strlen(schema));
    int rc = 0;
    if (quoted == NULL || strlen(quoted) >= size)
        rc = -1;
    else
        strcpy(out, quoted);
    PQfreemem(quoted);
    return rc;
}

static int migrate_apply_pending(struct db *db, const char *schema, const char *ident,
                                 const struct migration *list)
{
    char sql[512];
    const char *params[1] = {schema};
    PGresult *res;
    int applied = 0;

    /* The lock is released by COMMIT/ROLLBACK; a replica that waits here then finds the
     * migrations applied. */
    if (db_command(db, "SELECT pg_advisory_xact_lock(hashtext('outdial.migrate.' || $1))", 1,
                   params) != 0)
        return -1;
    /* CREATE SCHEMA needs CREATE on the database even when the schema exists, and a service
     * role normally has only its own pre-made schema: create it only when it is missing. */
    res = db_exec(db, "SELECT 1 FROM pg_namespace WHERE nspname = $1", 1, params);
    if (!db_ok(res)) {
        log_error(NULL, "migrate: %s", PQresultErrorMessage(res));
        PQclear(res);
        return -1;
    }
    if (PQntuples(res) == 0) {
        snprintf(sql, sizeof sql, "CREATE SCHEMA %s", ident);
        if (db_command(db, sql, 0, NULL) != 0) {
            PQclear(res);
            return -1;
        }
    }
    PQclear(res);
    snprintf(sql, sizeof sql,
             "CREATE TABLE IF NOT EXISTS %s.schema_migrations ("
             " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
             ident);
    if (db_command(db, sql, 0, NULL) != 0)
        return -1;
    snprintf(sql, sizeof sql, "SET LOCAL search_path = %s", ident);
    if (db_command(db, sql, 0, NULL) != 0)
        return -1;

    for (const struct migration *m = list; m->name != NULL; m++) {
        const char *name[1] = {m->name};
        snprintf(sql, sizeof sql, "SELECT 1 FROM %s.schema_migrations WHERE name = $1", ident);
        res = db_exec(db, sql, 1, name);
        if (!db_ok(res)) {
            log_error(NULL, "migrate: %s", PQresultErrorMessage(res));
            PQclear(res);
            return -1;
        }
        int done = PQntuples(res) > 0;
        PQclear(res);
        if (done)
            continue;
        /* PQexec (not PQexecParams) so a file may hold several statements. */
        res = PQexec(db_conn(db), m->sql);
        if (!db_ok(res)) {
            log_error(NULL, "migration %s.%s failed: %s", schema, m->name,
                      PQresultErrorMessage(res));
            PQclear(res);
            return -1;
        }
        PQclear(res);
        snprintf(sql, sizeof sql, "INSERT INTO %s.schema_migrations (name) VALUES ($1)", ident);
        if (db_command(db, sql, 1, name) != 0)
            return -1;
        log_info(NULL, "applied migration %s.%s", schema, m->name);
        applied++;
    }
    return applied;
}

int migrate_run(struct db *db, const char *schema, const struct migration *list)
{
    char ident[128];
    int applied;

    if (migrate_quote_ident(db, schema, ident, sizeof ident) != 0)
        return -1;
    if (db_begin(db) != 0)
        return -1;
    /* A migration may rewrite or index a large table: the connection's statement_timeout
     * (DB_STATEMENT_TIMEOUT_MS, for RPC work) does not apply to it. */
    if (db_command(db, "SET LOCAL statement_timeout = 0", 0, NULL) != 0) {
        db_rollback(db);
        return -1;
    }
    applied = migrate_apply_pending(db, schema, ident, list);
    if (applied < 0 || db_commit(db) != 0) {
        db_rollback(db);
        return -1;
    }
    return applied;
}
