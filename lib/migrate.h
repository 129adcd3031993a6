/* Schema migrations, applied by each service at start-up.
 *
 * A service's migrations are its <svc>/migrations/NNN_name.sql files, embedded in the binary
 * at build time (cmake/EmbedMigrations.cmake). They run in one transaction, in name order,
 * under an advisory lock keyed by the schema name, so replicas that start together apply each
 * one exactly once. Applied names are recorded in <schema>.schema_migrations. */
#ifndef OD_MIGRATE_H
#define OD_MIGRATE_H

struct db;

struct migration {
    const char *name; /* file name without .sql, e.g. "001_contacts" */
    const char *sql;
};

/* list ends with a {NULL, NULL} entry. Returns the number applied, or -1 (logged). */
int migrate_run(struct db *db, const char *schema, const struct migration *list);

#endif
