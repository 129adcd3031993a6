#include "outbox.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "db.h"
#include "ids.h"
#include "log.h"

/* Only [a-z_][a-z0-9_]* reaches the SQL text: the schema is spliced in, not a parameter. */
static int outbox_schema_valid(const char *schema)
{
    size_t len = schema ? strlen(schema) : 0;
    if (len == 0 || len > 63 || !((schema[0] >= 'a' && schema[0] <= 'z') || schema[0] == '_'))
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = schema[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return 0;
    }
    return 1;
}

/* The insert of each schema's outbox, built once and kept for the life of the process, so
 * that its address can key db_exec_prepared's per-connection cache: a service adds one to
 * three events per call placed (bench (i)), and the unprepared insert was parsed and planned
 * every time. A process writes one or two schemas' outboxes; past OUTBOX_SQL_MAX, the insert
 * runs unprepared. */
#define OUTBOX_SQL_MAX 8
#define OUTBOX_SQL_LEN 256 /* as the unprepared text: a 63-character schema fits */
static struct {
    char schema[64];
    char sql[OUTBOX_SQL_LEN];
} outbox_sql[OUTBOX_SQL_MAX];
static int outbox_nsql; /* entries filled; an entry never changes once counted */
static pthread_mutex_t outbox_sql_lock = PTHREAD_MUTEX_INITIALIZER;

/* The kept insert for a valid schema, or NULL when the table is full. */
static const char *outbox_insert_sql(const char *schema)
{
    const char *sql = NULL;
    pthread_mutex_lock(&outbox_sql_lock);
    for (int i = 0; i < outbox_nsql && sql == NULL; i++)
        if (strcmp(outbox_sql[i].schema, schema) == 0)
            sql = outbox_sql[i].sql;
    if (sql == NULL && outbox_nsql < OUTBOX_SQL_MAX) {
        snprintf(outbox_sql[outbox_nsql].schema, sizeof outbox_sql[outbox_nsql].schema, "%s",
                 schema);
        snprintf(outbox_sql[outbox_nsql].sql, sizeof outbox_sql[outbox_nsql].sql,
                 "INSERT INTO %s.outbox (id, org_id, event_type, payload, webhook_url) "
                 "VALUES ($1, $2, $3, $4::jsonb, $5)",
                 schema);
        sql = outbox_sql[outbox_nsql++].sql;
    }
    pthread_mutex_unlock(&outbox_sql_lock);
    return sql;
}

int outbox_add_id(struct db *db, const char *schema, const char *event_type,
                  const char *org_id, const char *destination_url, const char *payload_json,
                  char *id_out, size_t id_size)
{
    char sql[256], id[IDS_MAX_LEN];
    if (!outbox_schema_valid(schema) || event_type == NULL || event_type[0] == '\0' ||
        org_id == NULL || payload_json == NULL) {
        log_error(NULL, "outbox_add: bad arguments (schema %s, event %s)",
                  schema ? schema : "(null)", event_type ? event_type : "(null)");
        return -1;
    }
    snprintf(sql, sizeof sql,
             "INSERT INTO %s.outbox (id, org_id, event_type, payload, webhook_url) "
             "VALUES ($1, $2, $3, $4::jsonb, $5)",
             schema);
    ids_new_ordered(OUTBOX_ID_PREFIX, id, sizeof id);
    const char *params[] = {id, org_id, event_type, payload_json,
                            (destination_url && destination_url[0]) ? destination_url : NULL};
    const char *kept = outbox_insert_sql(schema);
    if (kept != NULL) {
        PGresult *res = db_exec_prepared(db, kept, 5, params);
        bool ok = db_ok(res);
        if (!ok)
            log_error(NULL, "outbox_add %s: %s", event_type, PQresultErrorMessage(res));
        PQclear(res);
        if (!ok)
            return -1;
    } else if (db_command(db, sql, 5, params) != 0) {
        return -1;
    }
    if (id_out != NULL && id_size > 0)
        snprintf(id_out, id_size, "%s", id);
    return 0;
}

int outbox_add(struct db *db, const char *schema, const char *event_type, const char *org_id,
               const char *destination_url, const char *payload_json)
{
    return outbox_add_id(db, schema, event_type, org_id, destination_url, payload_json, NULL, 0);
}
