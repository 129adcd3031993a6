#include "rpc_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "rpc.h"

int rpc_require_org(struct rpc_call *call)
{
    if (call->org_id[0] == '\0') {
        rpc_fail(call, OD__STATUS__INVALID, "organization id is required");
        return -1;
    }
    return 0;
}

void rpc_fail_sql(struct rpc_call *call, PGresult *res, const char *what)
{
    if (db_is_connection_error(call->db, res))
        rpc_fail(call, OD__STATUS__UNAVAILABLE, "database unavailable");
    else
        rpc_fail(call, OD__STATUS__INTERNAL, "%s failed", what);
    log_error(call->request_id, "%s: %s", what, PQresultErrorMessage(res));
}

char *rpc_like_pattern(const char *search)
{
    size_t len = strlen(search);
    char *out = malloc(len * 2 + 3), *p = out;
    if (out == NULL)
        return NULL;
    *p++ = '%';
    for (const char *s = search; *s; s++) {
        if (*s == '%' || *s == '_' || *s == '\\')
            *p++ = '\\';
        *p++ = *s;
    }
    *p++ = '%';
    *p = '\0';
    return out;
}

#define RPC_LIST_MAX_EXTRA 8

int rpc_list_page(struct rpc_call *call, const char *what, const char *count_sql,
                  const char *rows_sql, int page, int limit, int max_limit, const char *search,
                  const char *const *extra, int nextra, PGresult **count, PGresult **rows)
{
    char limit_text[16], offset_text[24], *pattern = NULL;
    const char *params[4 + RPC_LIST_MAX_EXTRA];
    int rc = -1;

    *count = *rows = NULL;
    if (rpc_require_org(call) != 0)
        return -1;
    if (limit < 1 || limit > max_limit || page < 1 || page > RPC_PAGE_MAX) {
        rpc_fail(call, OD__STATUS__INVALID, "page must be between 1 and %d and limit between 1 and %d",
                 RPC_PAGE_MAX, max_limit);
        return -1;
    }
    if (search == NULL)
        search = "";
    if (strlen(search) > RPC_SEARCH_MAX) {
        rpc_fail(call, OD__STATUS__INVALID, "search must be at most %d bytes", RPC_SEARCH_MAX);
        return -1;
    }
    if (nextra < 0 || nextra > RPC_LIST_MAX_EXTRA) {
        rpc_fail(call, OD__STATUS__INTERNAL, "%s: too many list parameters", what);
        return -1;
    }
    if (search[0] != '\0' && (pattern = rpc_like_pattern(search)) == NULL) {
        rpc_fail(call, OD__STATUS__INTERNAL, "out of memory");
        return -1;
    }
    snprintf(limit_text, sizeof limit_text, "%d", limit);
    snprintf(offset_text, sizeof offset_text, "%lld", (long long)(page - 1) * limit);
    params[0] = call->org_id;
    params[1] = pattern;
    params[2] = limit_text;
    params[3] = offset_text;
    for (int i = 0; i < nextra; i++)
        params[4 + i] = extra[i];
    /* count_sql sees $1, $2 and the extras renumbered from $3: PostgreSQL refuses a statement
     * that is sent parameters it does not use only for untyped ones, so the count gets the
     * org, the pattern, then the extras. */
    const char *count_params[2 + RPC_LIST_MAX_EXTRA];
    count_params[0] = params[0];
    count_params[1] = params[1];
    for (int i = 0; i < nextra; i++)
        count_params[2 + i] = extra[i];
    *count = db_exec(call->db, count_sql, 2 + nextra, count_params);
    if (!db_ok(*count)) {
        rpc_fail_sql(call, *count, what);
        goto fail;
    }
    *rows = db_exec(call->db, rows_sql, 4 + nextra, params);
    if (!db_ok(*rows)) {
        rpc_fail_sql(call, *rows, what);
        goto fail;
    }
    rc = 0;
    goto out;
fail:
    PQclear(*count);
    PQclear(*rows);
    *count = *rows = NULL;
out:
    free(pattern);
    return rc;
}

int rpc_page_params(struct rpc_call *call, int page, int limit, int max_limit,
                    char limit_text[RPC_PAGE_TEXT], char offset_text[RPC_PAGE_TEXT])
{
    if (limit < 1 || limit > max_limit || page < 1 || page > RPC_PAGE_MAX) {
        rpc_fail(call, OD__STATUS__INVALID, "page must be between 1 and %d and limit between 1 and %d",
                 RPC_PAGE_MAX, max_limit);
        return -1;
    }
    snprintf(limit_text, RPC_PAGE_TEXT, "%d", limit);
    snprintf(offset_text, RPC_PAGE_TEXT, "%lld", (long long)(page - 1) * limit);
    return 0;
}

const char *rpc_nullable(const char *s)
{
    return (s != NULL && s[0] != '\0') ? s : NULL;
}
