#include "outbox.h"

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
    if (db_command(db, sql, 5, params) != 0)
        return -1;
    if (id_out != NULL && id_size > 0)
        snprintf(id_out, id_size, "%s", id);
    return 0;
}

int outbox_add(struct db *db, const char *schema, const char *event_type, const char *org_id,
               const char *destination_url, const char *payload_json)
{
    return outbox_add_id(db, schema, event_type, org_id, destination_url, payload_json, NULL, 0);
}
