/* Helpers every service's RPC handlers share: organization scoping, SQL failure mapping, the
 * ISO-with-milliseconds timestamp expression, and the paged, searchable list query. */
#ifndef OD_RPC_UTIL_H
#define OD_RPC_UTIL_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

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

/* ---- rows to messages ----
 * A handler answers with protobuf-c messages whose strings point into PGresults: the results
 * must outlive the closure, so the helpers below hold them, and the handler frees everything
 * once, after the closure has run. */

/* Fills the message at `message` (zeroed storage of the caller's message size) from row `row`
 * of res: init it, then point its fields at the row's values. */
typedef void (*rpc_row_map_fn)(const PGresult *res, int row, void *message);

/* Rows mapped to messages: store holds n messages of one size, data n pointers into it (with
 * a NULL after them). Both heap; rpc_rows_free frees them, and a zeroed struct. */
struct rpc_rows {
    size_t n;
    void **data;
    void *store;
};

/* Maps every row of res through map into out. 0, or -1 with the call failed INTERNAL (out of
 * memory) and out empty. */
int rpc_rows_map(struct rpc_call *call, const PGresult *res, size_t message_size,
                 rpc_row_map_fn map, struct rpc_rows *out);
void rpc_rows_free(struct rpc_rows *rows);

/* A paged list as rpc_list_page runs it: what, the two statements, the request's page, limit
 * and search, the largest limit, and the extra parameters. */
struct rpc_list_query {
    const char *what;
    const char *count_sql;
    const char *rows_sql;
    int page, limit, max_limit;
    const char *search;
    const char *const *extra;
    int nextra;
};

/* A paged list's answer: the total and the page's rows as messages, with the results they
 * point into. */
struct rpc_list {
    int64_t total;
    struct rpc_rows rows;
    PGresult *count_res, *rows_res;
};

/* Runs the list (rpc_list_page) and maps each row through map. 0, or -1 with the call failed;
 * either way rpc_list_free(out) after the closure. */
int rpc_list_map(struct rpc_call *call, const struct rpc_list_query *q, size_t message_size,
                 rpc_row_map_fn map, struct rpc_list *out);
void rpc_list_free(struct rpc_list *list);

/* Points a list reply (fields data, n_data, total) at a mapped list. */
#define RPC_LIST_REPLY(reply, list)                                                            \
    ((reply).total = (list).total, (reply).n_data = (list).rows.n,                             \
     (reply).data = (void *)(list).rows.data)

/* Checks a statement that returns one row: 0 when it succeeded with a row; otherwise fails the
 * call (rpc_fail_sql with what, or NOT_FOUND with not_found) and returns -1. */
int rpc_one_row(struct rpc_call *call, PGresult *res, const char *what, const char *not_found);

/* Reads one row by key: checks the call's organization (rpc_require_org), runs sql with ($1 the
 * organization, $2 id) and maps its row into message. The result, to PQclear after the closure
 * (message points into it), or NULL with the call failed (rpc_one_row's answers). */
PGresult *rpc_fetch_by_id(struct rpc_call *call, const char *sql, const char *id,
                          const char *what, const char *not_found, rpc_row_map_fn map,
                          void *message);

/* Runs sql with ($1 the caller's organization, $2 id), a statement that changes at most one row
 * (a DELETE by key); fails the call for a failed statement (rpc_fail_sql with what) or NOT_FOUND
 * with not_found when it changed no row. 0 or -1. */
int rpc_exec_by_id(struct rpc_call *call, const char *sql, const char *id, const char *what,
                   const char *not_found);

/* NULL for NULL or "", else s: "" in a proto3 message means "not given", which SQL spells
 * NULL. */
const char *rpc_nullable(const char *s);

#endif
