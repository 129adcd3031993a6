/* PostgreSQL access: one connection per thread, parameterized statements only, and quiet
 * recovery after the server restarts.
 *
 * Ownership: every PGresult returned here is the caller's and must be PQclear()ed on every
 * path. A struct db is used by one thread at a time.
 *
 * Reconnection: before a statement that starts outside a transaction, db_exec drains any
 * message the server sent while the connection sat idle (a restart sends "terminating
 * connection" to every session) and re-opens a broken connection. A statement already sent is
 * never re-sent: whether it ran is unknowable, so the error goes back to the caller. */
#ifndef OD_DB_H
#define OD_DB_H

#include <libpq-fe.h>
#include <stdint.h>
#include <stdbool.h>

struct db;

/* Connects (and retries for up to wait_ms while the server is starting). NULL on failure,
 * with the reason logged. */
struct db *db_open(const char *conninfo, int wait_ms);
void db_close(struct db *db);

/* Runs sql with text parameters ($1..$n; NULL means SQL NULL). Never NULL: on a lost
 * connection the result carries PGRES_FATAL_ERROR. */
PGresult *db_exec(struct db *db, const char *sql, int nparams, const char *const *params);

/* db_exec with binary values: params[i] is lengths[i] raw bytes where binary[i] is 1 (a
 * bytea, unescaped), text otherwise; binary_result 1 returns every column in binary format
 * (a bytea column arrives as its raw bytes, PQgetlength long). */
PGresult *db_exec_bytes(struct db *db, const char *sql, int nparams,
                        const char *const *params, const int *lengths, const int *binary,
                        int binary_result);

/* db_exec for hot statements: prepared once per connection (under a generated name) and
 * executed by name afterwards, which spares PostgreSQL the parse and plan. sql must be a
 * string constant: the per-connection cache is keyed by its address. */
PGresult *db_exec_prepared(struct db *db, const char *sql, int nparams,
                           const char *const *params);

/* Runs `COPY ... FROM STDIN` (text format) and streams data to it. 0 on success, -1 (logged). */
int db_copy_in(struct db *db, const char *copy_sql, const char *data, size_t len);

/* The same COPY in steps, for data that arrives in parts (PostgreSQL ingests each part while
 * the caller prepares the next): db_copy_begin, any number of db_copy_send (whole rows or not:
 * the server sees one stream), then exactly one db_copy_end after a successful begin, also
 * after a failed send. `abort_reason` non-NULL ends the COPY with that error (the statement
 * fails; the caller rolls back). Each returns 0, or -1 (logged); db_copy_end returns 0 only
 * when the server took every row and no abort_reason was given. A row the server rejects (a
 * constraint) is usually reported by db_copy_end, not by the send. The caller keeps ownership
 * of `data`; nothing else may run on the connection between begin and end. */
int db_copy_begin(struct db *db, const char *copy_sql);
int db_copy_send(struct db *db, const char *data, size_t len);
int db_copy_end(struct db *db, const char *abort_reason);

/* db_exec for statements with no rows to read: 0 on success, -1 on failure (logged). */
int db_command(struct db *db, const char *sql, int nparams, const char *const *params);

/* 1 when a result is a success (COMMAND_OK or TUPLES_OK). */
bool db_ok(const PGresult *res);

/* SQLSTATE of a failed result ("23505" unique violation...), "" if none. */
const char *db_sqlstate(const PGresult *res);

/* 1 if the failure means the database is unreachable rather than the statement being wrong. */
bool db_is_connection_error(struct db *db, const PGresult *res);

/* The statement_timeout every connection gets at connect (DB_STATEMENT_TIMEOUT_MS). */
#define DB_STATEMENT_TIMEOUT_DEFAULT_MS 30000

/* The current call's deadline (time_monotonic_ms() scale; 0 clears it): db_commit after it
 * rolls back and fails, logged. Set and cleared around each call by the rpc server. */
void db_set_deadline(struct db *db, int64_t monotonic_ms);

/* Transactions: 0 on success. db_rollback is safe to call in any state. db_commit fails
 * (rolled back) once the deadline set by db_set_deadline has passed. */
int db_begin(struct db *db);
int db_commit(struct db *db);
void db_rollback(struct db *db);

/* Cheap liveness check ("SELECT 1"), reconnecting if needed. 0 when reachable. */
int db_ping(struct db *db);

PGconn *db_conn(struct db *db);

/* A fixed-size pool for threads that are not one-per-connection (the gateway's HTTP threads):
 * db_pool_acquire blocks until a connection is free. */
struct db_pool;
struct db_pool *db_pool_open(const char *conninfo, int size, int wait_ms);
void db_pool_close(struct db_pool *pool);
struct db *db_pool_acquire(struct db_pool *pool);
void db_pool_release(struct db_pool *pool, struct db *db);
/* A free connection, or NULL at once when every one is in use. Never blocks. */
struct db *db_pool_try_acquire(struct db_pool *pool);
/* Readiness without blocking: pings on a free connection (0 when reachable) or, when every
 * connection is busy, returns the last ping's result (0 before the first). */
int db_pool_ping(struct db_pool *pool);

#endif
