/* The paged, searchable list every list endpoint of contacts-svc serves: one count and one
 * page query, with ($1 org id, $2 the search as a LIKE pattern or NULL, $3 limit, $4 offset). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contacts.h"
#include "db.h"
#include "rpc.h"

char *contacts_svc_like_pattern(const char *search)
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

int contacts_list_page(struct rpc_call *call, const char *what, const char *count_sql,
                       const char *rows_sql, int page, int limit, const char *search,
                       PGresult **count, PGresult **rows)
{
    char limit_text[16], offset_text[24], *pattern = NULL;
    int rc = -1;

    *count = *rows = NULL;
    if (contacts_require_org(call) != 0)
        return -1;
    if (limit < 1 || limit > 100 || page < 1 || page > 1000000 ||
        strlen(search) > CONTACTS_SEARCH_MAX) {
        rpc_fail(call, OD__STATUS__INVALID, "page must be >= 1 and limit between 1 and 100");
        return -1;
    }
    if (search[0] != '\0' && (pattern = contacts_svc_like_pattern(search)) == NULL) {
        rpc_fail(call, OD__STATUS__INTERNAL, "out of memory");
        return -1;
    }
    snprintf(limit_text, sizeof limit_text, "%d", limit);
    snprintf(offset_text, sizeof offset_text, "%lld", (long long)(page - 1) * limit);
    const char *params[] = {call->org_id, pattern, limit_text, offset_text};
    *count = db_exec(call->db, count_sql, 2, params);
    if (!db_ok(*count)) {
        contacts_fail_sql(call, *count, what);
        goto out;
    }
    *rows = db_exec(call->db, rows_sql, 4, params);
    if (!db_ok(*rows)) {
        contacts_fail_sql(call, *rows, what);
        goto out;
    }
    rc = 0;
out:
    free(pattern);
    return rc;
}
