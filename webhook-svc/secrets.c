/* The organization's default signing secret. */
#include "secrets.h"

#include <stdio.h>

#include "db.h"
#include "log.h"
#include "signing.h"

int webhook_default_secret(struct db *db, const char *org_id, char *out, size_t size)
{
    char secret[WEBHOOK_SECRET_MAX];
    const char *params[] = {org_id, webhook_secret_new(secret, sizeof secret)};
    /* Insert-or-read in one statement: concurrent first uses agree on one secret. */
    PGresult *res = db_exec(db,
                            "WITH ins AS (INSERT INTO webhook.org_secrets (org_id, secret) "
                            "VALUES ($1, $2) ON CONFLICT (org_id) DO NOTHING RETURNING secret) "
                            "SELECT secret FROM ins UNION ALL "
                            "SELECT secret FROM webhook.org_secrets WHERE org_id = $1",
                            2, params);
    int rc = -1;
    if (db_ok(res) && PQntuples(res) > 0) {
        snprintf(out, size, "%s", PQgetvalue(res, 0, 0));
        rc = 0;
    } else {
        log_error(NULL, "default secret for %s: %s", org_id, PQresultErrorMessage(res));
    }
    PQclear(res);
    return rc;
}
