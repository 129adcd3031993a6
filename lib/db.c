#include "db.h"

#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "log.h"
#include "timefmt.h"

#define DB_MAX_PREPARED 32

struct db {
    PGconn *conn;
    /* Statements prepared on this connection (see db_exec_prepared); forgotten on reconnect. */
    const char *prepared[DB_MAX_PREPARED];
    int nprepared;
    int64_t deadline_ms; /* db_set_deadline: monotonic ms after which db_commit fails; 0 none */
};

static void db_ignore_notice(void *arg, const char *message);

/* Every session's statement_timeout (DB_STATEMENT_TIMEOUT_MS, default 30 s): a runaway
 * statement is bounded, set once per connection rather than once per call. */
static void db_session_setup(struct db *db)
{
    char sql[80];
    long ms = (long)config_int("DB_STATEMENT_TIMEOUT_MS", DB_STATEMENT_TIMEOUT_DEFAULT_MS, 0,
                                24L * 3600 * 1000);
    PQsetNoticeProcessor(db->conn, db_ignore_notice, NULL);
    if (ms <= 0)
        return;
    snprintf(sql, sizeof sql, "SET statement_timeout = %ld", ms);
    PGresult *res = PQexec(db->conn, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        log_warn(NULL, "database: %s: %s", sql, PQresultErrorMessage(res));
    PQclear(res);
}

void db_set_deadline(struct db *db, int64_t monotonic_ms)
{
    db->deadline_ms = monotonic_ms;
}

/* Notices ("relation already exists, skipping") are not errors; keep them out of the logs. */
static void db_ignore_notice(void *arg, const char *message)
{
}

static void db_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

struct db *db_open(const char *conninfo, int wait_ms)
{
    int64_t give_up = time_monotonic_ms() + wait_ms;
    struct db *db = calloc(1, sizeof *db);

    if (db == NULL)
        return NULL;
    for (;;) {
        db->conn = PQconnectdb(conninfo);
        if (PQstatus(db->conn) == CONNECTION_OK)
            break;
        if (time_monotonic_ms() >= give_up) {
            log_error(NULL, "database connection failed: %s", PQerrorMessage(db->conn));
            PQfinish(db->conn);
            free(db);
            return NULL;
        }
        PQfinish(db->conn);
        db->conn = NULL;
        db_sleep_ms(200);
    }
    db_session_setup(db);
    return db;
}

void db_close(struct db *db)
{
    if (db == NULL)
        return;
    PQfinish(db->conn);
    free(db);
}

PGconn *db_conn(struct db *db)
{
    return db->conn;
}

/* Outside a transaction, notice a connection the server has dropped and re-open it before
 * sending anything. Inside one, a reset would silently lose the transaction, so don't. */
static void db_revive(struct db *db)
{
    PGTransactionStatusType tx = PQtransactionStatus(db->conn);
    if (tx == PQTRANS_INTRANS || tx == PQTRANS_INERROR || tx == PQTRANS_ACTIVE)
        return;
    /* A restart leaves two things on an idle socket: the "terminating connection" message
     * and then end-of-file. One PQconsumeInput reads only the first and still reports
     * CONNECTION_OK, so keep reading while the socket has something (bounded: notices could
     * keep arriving). */
    for (int reads = 0; reads < 4 && PQstatus(db->conn) == CONNECTION_OK; reads++) {
        struct pollfd pfd = {PQsocket(db->conn), POLLIN, 0};
        if (poll(&pfd, 1, 0) <= 0)
            return; /* nothing pending: the connection is as good as we can tell */
        if (PQconsumeInput(db->conn) == 0)
            break;
    }
    if (PQstatus(db->conn) == CONNECTION_OK)
        return;
    log_warn(NULL, "database connection lost, reconnecting");
    PQreset(db->conn);
    db->nprepared = 0; /* a new session has no prepared statements */
    if (PQstatus(db->conn) == CONNECTION_OK)
        db_session_setup(db);
}

PGresult *db_exec(struct db *db, const char *sql, int nparams, const char *const *params)
{
    PGresult *res;
    db_revive(db);
    res = PQexecParams(db->conn, sql, nparams, NULL, params, NULL, NULL, 0);
    if (res == NULL) /* out of memory or no connection: make it an ordinary error result */
        res = PQmakeEmptyPGresult(db->conn, PGRES_FATAL_ERROR);
    return res;
}

PGresult *db_exec_bytes(struct db *db, const char *sql, int nparams,
                        const char *const *params, const int *lengths, const int *binary,
                        int binary_result)
{
    PGresult *res;
    db_revive(db);
    res = PQexecParams(db->conn, sql, nparams, NULL, params, lengths, binary, binary_result);
    if (res == NULL)
        res = PQmakeEmptyPGresult(db->conn, PGRES_FATAL_ERROR);
    return res;
}

PGresult *db_exec_prepared(struct db *db, const char *sql, int nparams,
                           const char *const *params)
{
    char name[16];
    int slot = -1;
    PGresult *res;

    db_revive(db);
    for (int i = 0; i < db->nprepared; i++)
        if (db->prepared[i] == sql)
            slot = i;
    if (slot < 0) {
        if (db->nprepared == DB_MAX_PREPARED)
            return db_exec(db, sql, nparams, params);
        snprintf(name, sizeof name, "od_%d", db->nprepared);
        res = PQprepare(db->conn, name, sql, nparams, NULL);
        if (res == NULL)
            return PQmakeEmptyPGresult(db->conn, PGRES_FATAL_ERROR);
        if (!db_ok(res))
            return res;
        PQclear(res);
        slot = db->nprepared;
        db->prepared[db->nprepared++] = sql;
    }
    snprintf(name, sizeof name, "od_%d", slot);
    res = PQexecPrepared(db->conn, name, nparams, params, NULL, NULL, 0);
    if (res == NULL)
        res = PQmakeEmptyPGresult(db->conn, PGRES_FATAL_ERROR);
    return res;
}

bool db_ok(const PGresult *res)
{
    ExecStatusType st = PQresultStatus(res);
    return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

const char *db_sqlstate(const PGresult *res)
{
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    return state ? state : "";
}

bool db_is_connection_error(struct db *db, const PGresult *res)
{
    const char *state = db_sqlstate(res);
    /* Class 08: connection exception; 57P01..03: admin shutdown, crash, cannot connect now. */
    return PQstatus(db->conn) != CONNECTION_OK || state[0] == '\0' ||
           strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0;
}

int db_command(struct db *db, const char *sql, int nparams, const char *const *params)
{
    PGresult *res = db_exec(db, sql, nparams, params);
    int rc = 0;
    if (!db_ok(res)) {
        log_error(NULL, "sql failed: %s", PQresultErrorMessage(res));
        rc = -1;
    }
    PQclear(res);
    return rc;
}

int db_copy_begin(struct db *db, const char *copy_sql)
{
    PGresult *res;

    db_revive(db);
    res = PQexec(db->conn, copy_sql);
    if (PQresultStatus(res) != PGRES_COPY_IN) {
        log_error(NULL, "copy failed to start: %s", PQerrorMessage(db->conn));
        PQclear(res);
        return -1;
    }
    PQclear(res);
    return 0;
}

int db_copy_send(struct db *db, const char *data, size_t len)
{
    const size_t chunk = 1 << 20;

    for (size_t off = 0; off < len; off += chunk) {
        size_t n = len - off < chunk ? len - off : chunk;
        if (PQputCopyData(db->conn, data + off, (int)n) != 1) {
            log_error(NULL, "copy data failed: %s", PQerrorMessage(db->conn));
            return -1;
        }
    }
    return 0;
}

int db_copy_end(struct db *db, const char *abort_reason)
{
    PGresult *res;
    int rc = abort_reason == NULL ? 0 : -1;

    if (PQputCopyEnd(db->conn, abort_reason) != 1)
        rc = -1;
    while ((res = PQgetResult(db->conn)) != NULL) {
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            if (abort_reason == NULL)
                log_error(NULL, "copy failed: %s", PQresultErrorMessage(res));
            rc = -1;
        }
        PQclear(res);
    }
    return rc;
}

int db_copy_in(struct db *db, const char *copy_sql, const char *data, size_t len)
{
    if (db_copy_begin(db, copy_sql) != 0)
        return -1;
    int sent = db_copy_send(db, data, len);
    int ended = db_copy_end(db, sent == 0 ? NULL : "client failed to send data");
    return sent == 0 ? ended : -1;
}

int db_begin(struct db *db)
{
    return db_command(db, "BEGIN", 0, NULL);
}

int db_commit(struct db *db)
{
    /* The caller gave up (its deadline passed): its write must not land after it was told
     * UNAVAILABLE. */
    if (db->deadline_ms > 0 && time_monotonic_ms() > db->deadline_ms) {
        log_error(NULL, "database: commit refused, the call's deadline passed %lld ms ago; "
                  "rolled back", (long long)(time_monotonic_ms() - db->deadline_ms));
        db_rollback(db);
        return -1;
    }
    return db_command(db, "COMMIT", 0, NULL);
}

void db_rollback(struct db *db)
{
    if (PQstatus(db->conn) != CONNECTION_OK)
        return;
    if (PQtransactionStatus(db->conn) == PQTRANS_IDLE)
        return;
    PQclear(PQexec(db->conn, "ROLLBACK"));
}

int db_ping(struct db *db)
{
    PGresult *res = db_exec(db, "SELECT 1", 0, NULL);
    int rc = db_ok(res) ? 0 : -1;
    PQclear(res);
    return rc;
}

struct db_pool {
    pthread_mutex_t lock;
    pthread_cond_t available;
    int size;
    int free_count;
    struct db **free_list;
    int last_ping; /* db_pool_ping's last result, reported while every connection is busy */
};

struct db_pool *db_pool_open(const char *conninfo, int size, int wait_ms)
{
    struct db_pool *pool = calloc(1, sizeof *pool);
    if (pool == NULL)
        return NULL;
    pool->free_list = calloc((size_t)size, sizeof *pool->free_list);
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->available, NULL);
    pool->size = size;
    if (pool->free_list == NULL) {
        db_pool_close(pool);
        return NULL;
    }
    for (int i = 0; i < size; i++) {
        struct db *db = db_open(conninfo, i == 0 ? wait_ms : 0);
        if (db == NULL) {
            db_pool_close(pool);
            return NULL;
        }
        pool->free_list[pool->free_count++] = db;
    }
    return pool;
}

/* Only call when every connection has been released. */
void db_pool_close(struct db_pool *pool)
{
    if (pool == NULL)
        return;
    for (int i = 0; i < pool->free_count; i++)
        db_close(pool->free_list[i]);
    free(pool->free_list);
    pthread_cond_destroy(&pool->available);
    pthread_mutex_destroy(&pool->lock);
    free(pool);
}

struct db *db_pool_acquire(struct db_pool *pool)
{
    struct db *db;
    pthread_mutex_lock(&pool->lock);
    while (pool->free_count == 0)
        pthread_cond_wait(&pool->available, &pool->lock);
    db = pool->free_list[--pool->free_count];
    pthread_mutex_unlock(&pool->lock);
    return db;
}

struct db *db_pool_try_acquire(struct db_pool *pool)
{
    struct db *db = NULL;
    pthread_mutex_lock(&pool->lock);
    if (pool->free_count > 0)
        db = pool->free_list[--pool->free_count];
    pthread_mutex_unlock(&pool->lock);
    return db;
}

int db_pool_ping(struct db_pool *pool)
{
    struct db *db = db_pool_try_acquire(pool);
    int rc;
    if (db == NULL) {
        pthread_mutex_lock(&pool->lock);
        rc = pool->last_ping;
        pthread_mutex_unlock(&pool->lock);
        return rc;
    }
    rc = db_ping(db);
    db_pool_release(pool, db);
    pthread_mutex_lock(&pool->lock);
    pool->last_ping = rc;
    pthread_mutex_unlock(&pool->lock);
    return rc;
}

void db_pool_release(struct db_pool *pool, struct db *db)
{
    db_rollback(db); /* never hand the next user a connection stuck in a transaction */
    pthread_mutex_lock(&pool->lock);
    pool->free_list[pool->free_count++] = db;
    pthread_cond_signal(&pool->available);
    pthread_mutex_unlock(&pool->lock);
}
