/* Helpers every service's RPC handlers share: organization scoping, SQL failure mapping, the
 * ISO-with-milliseconds timestamp expression, and the paged, searchable list query. */
#ifndef OD_RPC_UTIL_H
#define OD_RPC_UTIL_H

#include <libpq-fe.h>

struct rpc_call;

/* SQL text of a timestamptz column as ISO 8601 UTC with milliseconds ("...T09:00:00.000Z");
 * NULL stays NULL. col is an SQL expression given as a string literal. */
#define SQL_ISO_MS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

/* Longest search text a list accepts, in bytes. */
#define RPC_SEARCH_MAX 100
/* Highest page a list accepts (page * limit bounds the OFFSET PostgreSQL walks). */
#define RPC_PAGE_MAX 1000000

/* Fails the call with INVALID and returns -1 when it carries no organization. Every handler
 * of an organization-scoped method calls it first. */
int rpc_require_org(struct rpc_call *call);

/* Fails the call for a failed statement: UNAVAILABLE when the database is unreachable,
 * INTERNAL otherwise (the SQL error goes to the log, not to the caller). */
void rpc_fail_sql(struct rpc_call *call, PGresult *res, const char *what);

/* "%" + search with LIKE metacharacters escaped + "%" (malloc'd), NULL when out of memory. */
char *rpc_like_pattern(const char *search);

/* Runs a paged list as two statements: rows_sql takes ($1 org id, $2 the search as a LIKE
 * pattern or NULL, $3 limit, $4 offset, then the nextra extra parameters from $5 on);
 * count_sql takes ($1 org id, $2 pattern, then the extras from $3 on). NULL extras are SQL
 * NULL, so a filter reads "($5::text IS NULL OR status = $5)". Validates page (1..RPC_PAGE_MAX),
 * limit (1..max_limit) and the search length, answering INVALID otherwise. 0 with both results
 * (the caller PQclears them), or -1 with the call failed and nothing to clear. */
int rpc_list_page(struct rpc_call *call, const char *what, const char *count_sql,
                  const char *rows_sql, int page, int limit, int max_limit, const char *search,
                  const char *const *extra, int nextra, PGresult **count, PGresult **rows);

/* For a paged list that rpc_list_page does not fit (its total comes from elsewhere): checks
 * page (1..RPC_PAGE_MAX) and limit (1..max_limit) as rpc_list_page does, answering INVALID
 * and returning -1 otherwise, and writes the LIMIT and OFFSET parameters' text. */
#define RPC_PAGE_TEXT 24
int rpc_page_params(struct rpc_call *call, int page, int limit, int max_limit,
                    char limit_text[RPC_PAGE_TEXT], char offset_text[RPC_PAGE_TEXT]);

/* NULL for NULL or "", else s: "" in a proto3 message means "not given", which SQL spells
 * NULL. */
const char *rpc_nullable(const char *s);

#endif
