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

int rpc_rows_map(struct rpc_call *call, const PGresult *res, size_t message_size,
                 rpc_row_map_fn map, struct rpc_rows *out)
{
    size_t n = (size_t)PQntuples(res);

    out->n = 0;
    out->store = calloc(n + 1, message_size);
    out->data = calloc(n + 1, sizeof *out->data);
    if (out->store == NULL || out->data == NULL) {
        rpc_rows_free(out);
        rpc_fail(call, OD__STATUS__INTERNAL, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        out->data[i] = (char *)out->store + i * message_size;
        map(res, (int)i, out->data[i]);
    }
    out->n = n;
    return 0;
}

void rpc_rows_free(struct rpc_rows *rows)
{
    free(rows->store);
    free(rows->data);
    rows->store = NULL;
    rows->data = NULL;
    rows->n = 0;
}

int rpc_list_map(struct rpc_call *call, const struct rpc_list_query *q, size_t message_size,
                 rpc_row_map_fn map, struct rpc_list *out)
{
    memset(out, 0, sizeof *out);
    if (rpc_list_page(call, q->what, q->count_sql, q->rows_sql, q->page, q->limit, q->max_limit,
                      q->search, q->extra, q->nextra, &out->count_res, &out->rows_res) != 0)
        return -1;
    out->total = strtoll(PQgetvalue(out->count_res, 0, 0), NULL, 10);
    return rpc_rows_map(call, out->rows_res, message_size, map, &out->rows);
}

void rpc_list_free(struct rpc_list *list)
{
    rpc_rows_free(&list->rows);
    PQclear(list->count_res);
    PQclear(list->rows_res);
    list->count_res = list->rows_res = NULL;
}

int rpc_one_row(struct rpc_call *call, PGresult *res, const char *what, const char *not_found)
{
    if (!db_ok(res)) {
        rpc_fail_sql(call, res, what);
        return -1;
    }
    if (PQntuples(res) == 0) {
        rpc_fail(call, OD__STATUS__NOT_FOUND, "%s", not_found);
        return -1;
    }
    return 0;
}

int rpc_exec_by_id(struct rpc_call *call, const char *sql, const char *id, const char *what,
                   const char *not_found)
{
    const char *params[] = {call->org_id, id};
    PGresult *res = db_exec(call->db, sql, 2, params);
    int rc = -1;

    if (!db_ok(res))
        rpc_fail_sql(call, res, what);
    else if (strcmp(PQcmdTuples(res), "0") == 0)
        rpc_fail(call, OD__STATUS__NOT_FOUND, "%s", not_found);
    else
        rc = 0;
    PQclear(res);
    return rc;
}

PGresult *rpc_fetch_by_id(struct rpc_call *call, const char *sql, const char *id,
                          const char *what, const char *not_found, rpc_row_map_fn map,
                          void *message)
{
    const char *params[] = {call->org_id, id};
    PGresult *res;

    if (rpc_require_org(call) != 0)
        return NULL;
    res = db_exec(call->db, sql, 2, params);
    if (rpc_one_row(call, res, what, not_found) != 0) {
        PQclear(res);
        return NULL;
    }
    map(res, 0, message);
    return res;
}
