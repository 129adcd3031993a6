#include "outbox_relay.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "copytext.h"
#include "db.h"
#include "log.h"
#include "rpc.h"
#include "rpc_util.h"
#include "waker.h"
#include "webhooks.pb-c.h"

#define OUTBOX_RELAY_BACKOFF_MAX_MS 5000

/* What select_sql returns, in this order. */
enum outbox_column {
    OUTBOX_COL_ID,
    OUTBOX_COL_ORG_ID,
    OUTBOX_COL_EVENT_TYPE,
    OUTBOX_COL_PAYLOAD,
    OUTBOX_COL_WEBHOOK_URL,
    OUTBOX_COL_CREATED_AT,
};

struct outbox_relay {
    struct outbox_relay_options options;
    char schema[64];
    char *database_url;
    char *events_url;
    char select_sql[512];
    char delete_sql[256];
    pthread_t thread;
    struct waker waker;
    struct db *db;             /* relay thread only */
    struct rpc_client *events; /* relay thread only */
};

/* Only [a-z_][a-z0-9_]* reaches the SQL text: the schema is spliced in, not a parameter. */
static bool outbox_relay_schema_valid(const char *schema)
{
    size_t len = schema ? strlen(schema) : 0;
    if (len == 0 || len > 63 || !((schema[0] >= 'a' && schema[0] <= 'z') || schema[0] == '_'))
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((schema[i] >= 'a' && schema[i] <= 'z') || (schema[i] >= '0' && schema[i] <= '9') ||
              schema[i] == '_'))
            return false;
    return true;
}

/* One batch. Returns the number of rows relayed (0: table empty), or -1 on failure. */
static int outbox_relay_batch(struct outbox_relay *r)
{
    char limit[16];
    PGresult *res = NULL, *del = NULL;
    Od__PublishRequest req = OD__PUBLISH_REQUEST__INIT;
    Od__Event *events = NULL, **ptrs = NULL;
    struct rpc_ctx ctx;
    int n = -1, rows;

    snprintf(limit, sizeof limit, "%d", r->options.batch);
    if (db_begin(r->db) != 0)
        return -1;
    const char *params[] = {limit};
    res = db_exec(r->db, r->select_sql, 1, params);
    if (!db_ok(res)) {
        log_error(NULL, "outbox relay: reading %s.outbox failed: %s", r->schema,
                  PQresultErrorMessage(res));
        goto out;
    }
    if ((rows = PQntuples(res)) == 0) {
        n = 0;
        goto out;
    }
    events = calloc((size_t)rows, sizeof *events);
    ptrs = calloc((size_t)rows, sizeof *ptrs);
    if (events == NULL || ptrs == NULL)
        goto out;
    for (int i = 0; i < rows; i++) {
        od__event__init(&events[i]);
        events[i].id = PQgetvalue(res, i, OUTBOX_COL_ID);
        events[i].org_id = PQgetvalue(res, i, OUTBOX_COL_ORG_ID);
        events[i].event_type = PQgetvalue(res, i, OUTBOX_COL_EVENT_TYPE);
        events[i].payload_json = PQgetvalue(res, i, OUTBOX_COL_PAYLOAD);
        events[i].webhook_url = PQgetvalue(res, i, OUTBOX_COL_WEBHOOK_URL);
        events[i].created_at = PQgetvalue(res, i, OUTBOX_COL_CREATED_AT);
        ptrs[i] = &events[i];
    }
    req.n_events = (size_t)rows;
    req.events = ptrs;
    rpc_ctx_init(&ctx, "", "outbox-relay", r->options.rpc_timeout_ms);
    od__events__publish(rpc_client_service(r->events), &req, NULL, &ctx);
    if (ctx.status != OD__STATUS__OK) {
        log_warn(NULL, "outbox relay: Publish of %d events failed (%s: %s); will retry", rows,
                 rpc_status_name(ctx.status), ctx.message);
        rpc_ctx_release(&ctx);
        goto out;
    }
    rpc_ctx_release(&ctx);
    /* Stored by webhook-svc: now, and only now, the rows may go. The ids are the ones we
     * hold locked, passed back as a parameter array built by copytext's quoting builder.
     * Like the SELECT, this spans every organization: the outbox holds all of them. */
    {
        struct copytext ids = {0};
        const char *array;
        for (int i = 0; i < rows; i++)
            copytext_array_add(&ids, events[i].id);
        if ((array = copytext_array_end(&ids)) == NULL) {
            free(ids.data);
            goto out;
        }
        const char *dparams[] = {array};
        del = db_exec(r->db, r->delete_sql, 1, dparams);
        free(ids.data);
    }
    if (!db_ok(del)) {
        log_error(NULL, "outbox relay: deleting relayed rows failed: %s",
                  PQresultErrorMessage(del));
        goto out;
    }
    if (db_commit(r->db) != 0)
        goto out;
    n = rows;
out:
    if (n <= 0)
        db_rollback(r->db);
    PQclear(res);
    PQclear(del);
    free(events);
    free(ptrs);
    return n;
}

static void *outbox_relay_main(void *arg)
{
    struct outbox_relay *r = arg;
    int backoff = 0;
    for (;;) {
        int n;
        if (r->db == NULL)
            r->db = db_open(r->database_url, 0);
        n = r->db != NULL ? outbox_relay_batch(r) : -1;
        if (n < 0) {
            backoff = backoff == 0 ? 100 : backoff * 2;
            if (backoff > OUTBOX_RELAY_BACKOFF_MAX_MS)
                backoff = OUTBOX_RELAY_BACKOFF_MAX_MS;
            if (waker_wait(&r->waker, backoff))
                break;
            continue;
        }
        backoff = 0;
        if (n == r->options.batch) {
            /* More may be waiting: go again without sleeping, unless asked to stop. */
            if (waker_stopping(&r->waker))
                break;
            continue;
        }
        if (waker_wait(&r->waker, r->options.poll_ms))
            break;
    }
    return NULL;
}

static void outbox_relay_free(struct outbox_relay *r)
{
    rpc_client_close(r->events);
    db_close(r->db);
    free(r->database_url);
    free(r->events_url);
    waker_destroy(&r->waker);
    free(r);
}

struct outbox_relay *outbox_relay_start(const struct outbox_relay_options *options)
{
    struct outbox_relay *r;

    if (!outbox_relay_schema_valid(options->schema) || options->database_url == NULL ||
        options->events_url == NULL || options->events_url[0] == '\0') {
        log_error(NULL, "outbox relay: bad options");
        return NULL;
    }
    if ((r = calloc(1, sizeof *r)) == NULL)
        return NULL;
    if (waker_init(&r->waker) != 0) {
        free(r);
        return NULL;
    }
    r->options = *options;
    if (r->options.batch <= 0 || r->options.batch > 1000)
        r->options.batch = 200;
    if (r->options.poll_ms <= 0)
        r->options.poll_ms = 50;
    if (r->options.rpc_timeout_ms <= 0)
        r->options.rpc_timeout_ms = 10000;
    snprintf(r->schema, sizeof r->schema, "%s", options->schema);
    r->database_url = strdup(options->database_url);
    r->events_url = strdup(options->events_url);
    /* Every organization's events: one relay serves the whole outbox. */
    snprintf(r->select_sql, sizeof r->select_sql,
             "SELECT id, org_id, event_type, payload::text, coalesce(webhook_url, ''), "
             SQL_ISO_MS("created_at") " "
             "FROM %s.outbox ORDER BY id LIMIT $1::int FOR UPDATE SKIP LOCKED",
             r->schema);
    snprintf(r->delete_sql, sizeof r->delete_sql,
             "DELETE FROM %s.outbox WHERE id = ANY ($1::text[])", r->schema);
    if (r->database_url == NULL || r->events_url == NULL ||
        (r->events = rpc_client_open(&od__events__descriptor, r->events_url)) == NULL) {
        log_error(NULL, "outbox relay: cannot open the Events client for %s", options->events_url);
        outbox_relay_free(r);
        return NULL;
    }
    if (pthread_create(&r->thread, NULL, outbox_relay_main, r) != 0) {
        outbox_relay_free(r);
        return NULL;
    }
    log_info(NULL, "outbox relay for %s.outbox started (webhook-svc at %s)", r->schema,
             r->events_url);
    return r;
}

void outbox_relay_wake(struct outbox_relay *r)
{
    waker_wake(&r->waker);
}

void outbox_relay_stop(struct outbox_relay *r)
{
    if (r == NULL)
        return;
    waker_stop(&r->waker);
    pthread_join(r->thread, NULL);
    outbox_relay_free(r);
}
